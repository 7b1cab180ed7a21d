"""What a typed line means: plain text to say, or an IRC-style slash command.

Parsing is pure so it can be tested on any string and reused by every front end;
it never raises. Command names are case-insensitive and accept the aliases irssi
and ssh-chat users already type.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from severus_cli.core.host.moderation import looks_like_duration, parse_duration
from severus_cli.errors import UsageError
from severus_cli.ui.paste import pasted_command


@dataclass(frozen=True, slots=True)
class Say:
    """Send ``text`` to the current room (``action``: ``/me``)."""

    text: str
    action: bool = False


@dataclass(frozen=True, slots=True)
class Direct:
    """Send a private message to ``nick``."""

    nick: str
    text: str
    action: bool = False


@dataclass(frozen=True, slots=True)
class ListUsers:
    pass


@dataclass(frozen=True, slots=True)
class ListRooms:
    pass


@dataclass(frozen=True, slots=True)
class JoinRoom:
    """Switch to ``room`` (given without the leading '#')."""

    room: str


@dataclass(frozen=True, slots=True)
class LeaveRoom:
    pass


@dataclass(frozen=True, slots=True)
class Whois:
    nick: str


@dataclass(frozen=True, slots=True)
class Rename:
    """Be called ``nick`` from now on (``/nick``)."""

    nick: str


@dataclass(frozen=True, slots=True)
class Verify:
    """Show the safety code shared with ``nick``."""

    nick: str


@dataclass(frozen=True, slots=True)
class Accept:
    """Trust ``nick``'s changed key (after comparing the /verify code)."""

    nick: str


@dataclass(frozen=True, slots=True)
class Ping:
    pass


@dataclass(frozen=True, slots=True)
class Stats:
    pass


@dataclass(frozen=True, slots=True)
class Kick:
    """Host only: disconnect ``nick`` (they may come back)."""

    nick: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Ban:
    """Host only: refuse the key of ``target`` (a nick or a fingerprint) for
    ``seconds`` (None: until the host stops)."""

    target: str
    seconds: float | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ListBans:
    pass


@dataclass(frozen=True, slots=True)
class Unban:
    target: str


@dataclass(frozen=True, slots=True)
class Help:
    """Show help; ``topic`` is a command name without '/', or ""."""

    topic: str = ""


@dataclass(frozen=True, slots=True)
class Clear:
    pass


@dataclass(frozen=True, slots=True)
class Quit:
    """Leave; the others see ``reason``."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class ShowTicket:
    """Print the ticket again: it scrolled away, and friends keep asking for it."""


@dataclass(frozen=True, slots=True)
class UnknownCommand:
    """``/command`` is not one we know; ``message`` says what to do instead."""

    command: str
    message: str


@dataclass(frozen=True, slots=True)
class BadCommand:
    """A known command used wrongly; ``message`` carries its usage."""

    command: str
    message: str


Intent = (
    Say
    | Direct
    | ListUsers
    | ListRooms
    | JoinRoom
    | LeaveRoom
    | Whois
    | Rename
    | Verify
    | Accept
    | Ping
    | Stats
    | Kick
    | Ban
    | ListBans
    | Unban
    | Help
    | Clear
    | Quit
    | ShowTicket
    | UnknownCommand
    | BadCommand
)


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    aliases: tuple[str, ...]
    args: str
    summary: str

    @property
    def usage(self) -> str:
        return f"/{self.name} {self.args}".rstrip()


COMMANDS: tuple[Command, ...] = (
    Command("msg", ("query", "m"), "NICK TEXT", "private message (/msg NICK /me TEXT: action)"),
    Command("reply", ("r",), "TEXT", "answer the last private message"),
    Command("me", (), "TEXT", "an action, shown as: ** you TEXT"),
    Command("join", (), "ROOM", "talk in ROOM, creating it if needed (/join #rust)"),
    Command("leave", ("part",), "", "leave this room, back to the lobby"),
    Command("users", ("names", "who"), "", "who is in this room"),
    Command("rooms", ("list",), "", "all rooms and how many are in each"),
    Command("whois", (), "NICK", "fingerprint, rooms and connection time of NICK"),
    Command("nick", (), "NEW", "be called NEW from now on (your key stays yours)"),
    Command("verify", (), "NICK", "safety code to compare with NICK out of band"),
    Command("accept", (), "NICK", "trust NICK's changed key (only after /verify NICK)"),
    Command("ping", (), "", "round-trip time to the host"),
    Command("ticket", (), "", "the host's ticket again, to pass on to friends"),
    Command("stats", (), "", "host only: clients, rooms, traffic, uptime (joiner: path)"),
    Command("kick", (), "NICK [REASON]", "host only: disconnect NICK (they may come back)"),
    Command(
        "ban",
        (),
        "NICK|KEY [TIME] [REASON]",
        "host only: refuse NICK's key (or SHA256:...) for TIME (10m, 2h, 1d; default: "
        "until the host stops)",
    ),
    Command("bans", (), "", "host only: the bans in force"),
    Command("unban", (), "NICK|KEY", "host only: lift a ban"),
    Command("clear", (), "", "clear the screen"),
    Command("help", (), "[COMMAND]", "this list, or help for one command"),
    Command("quit", ("exit", "q"), "[REASON]", "leave; the others see REASON (Ctrl-D too)"),
)

_BY_NAME: dict[str, Command] = {name: cmd for cmd in COMMANDS for name in (cmd.name, *cmd.aliases)}

COMMAND_NAMES: tuple[str, ...] = tuple(sorted(_BY_NAME))
"""Every name and alias, without '/', for completion."""


# Summaries start in one column; a usage too long for it gets a line of its own, so the
# column stays narrow enough for an 80-column terminal.
_USAGE_WIDTH = 20


def _help_lines(cmd: Command) -> tuple[str, ...]:
    also = f" (also {', '.join('/' + a for a in cmd.aliases)})" if cmd.aliases else ""
    if len(cmd.usage) > _USAGE_WIDTH:
        return (f"  {cmd.usage}", f"  {'':<{_USAGE_WIDTH}} {cmd.summary}{also}")
    return (f"  {cmd.usage:<{_USAGE_WIDTH}} {cmd.summary}{also}",)


HELP_TEXT: tuple[str, ...] = (
    "Commands:",
    *(line for cmd in COMMANDS for line in _help_lines(cmd)),
    f"  {'//TEXT':<{_USAGE_WIDTH}} say a line that starts with /",
    "Plain lines are said in the current room. Tab completes commands and nicks.",
)


def help_lines(topic: str = "") -> tuple[str, ...]:
    """``HELP_TEXT``, or the help for one command (with or without its '/')."""
    if not topic:
        return HELP_TEXT
    cmd = _BY_NAME.get(topic.removeprefix("/").casefold())
    if cmd is None:
        return (_unknown_message(topic.removeprefix("/")),)
    return tuple(line.strip() for line in _help_lines(cmd))


def _unknown_message(name: str) -> str:
    name = name[:32]
    close = difflib.get_close_matches(name.casefold(), COMMAND_NAMES, n=1, cutoff=0.6)
    hint = f" Did you mean /{close[0]}?" if close else ""
    return f"Unknown command /{name}.{hint} Type /help for the list, //TEXT to say /TEXT."


def _bad(cmd: Command, problem: str) -> BadCommand:
    return BadCommand(cmd.name, f"{problem} Usage: {cmd.usage}")


def _nick_arg(word: str) -> str:
    """People type ``@ana`` from other chats; nicks never contain '@'."""
    return word.removeprefix("@")


def parse_line(line: str, *, reply_to: str | None = None) -> Intent | None:
    """The intent of a typed ``line``; ``None`` for a blank line (nothing to do).

    ``reply_to`` is the peer of the last private message, for ``/reply``.
    """
    line = line.rstrip("\r\n")
    if not line.strip():
        return None
    if not line.startswith("/"):
        return Say(line)
    if line.startswith("//"):
        return Say(line[1:])
    name, _, rest = _split_word(line[1:])
    if not name:
        return UnknownCommand("", "Type a command after /, or // to say a line starting with /.")
    cmd = _BY_NAME.get(name.casefold())
    refused = pasted_command(name, cmd.name if cmd else None) if "\n" in line.strip() else None
    if cmd is None:
        return UnknownCommand(name, refused or _unknown_message(name))
    if refused:
        return BadCommand(cmd.name, refused)
    return _parse_command(cmd, rest, reply_to)


def _split_word(text: str) -> tuple[str, str, str]:
    """(first word, separator, rest) splitting at any whitespace, pasted newlines too."""
    for i, ch in enumerate(text):
        if ch.isspace():
            return text[:i], ch, text[i:].lstrip()
    return text, "", ""


def _parse_command(cmd: Command, rest: str, reply_to: str | None) -> Intent:
    words = rest.split()
    match cmd.name:
        case "msg":
            if len(words) < 2:
                return _bad(cmd, "Whom to, and what?" if not words else "Say what?")
            nick = _nick_arg(words[0])
            text = _split_word(rest)[2]
            if text.startswith("/me ") and text[4:].strip():
                return Direct(nick, text[4:], action=True)
            return Direct(nick, text)
        case "reply":
            if reply_to is None:
                return BadCommand(cmd.name, "No private message to reply to yet.")
            if not rest.strip():
                return _bad(cmd, "Say what?")
            return Direct(reply_to, rest)
        case "me":
            return Say(rest, action=True) if rest.strip() else _bad(cmd, "Do what?")
        case "join":
            if not words:
                return _bad(cmd, "Which room?")
            if len(words) > 1:
                return _bad(cmd, "Room names have no spaces.")
            if not words[0].removeprefix("#"):
                return _bad(cmd, f"{words[0]!r} names no room: type a name after the #.")
            return JoinRoom(words[0].removeprefix("#"))
        case "quit":
            return Quit(rest.strip())
        case "whois":
            if len(words) != 1 or not _nick_arg(words[0]):
                return _bad(cmd, "Whose details?")
            return Whois(_nick_arg(words[0]))
        case "nick":
            if len(words) != 1 or not _nick_arg(words[0]):
                return _bad(cmd, "Which new nick? Nicks have no spaces.")
            return Rename(_nick_arg(words[0]))
        case "verify":
            if len(words) != 1 or not _nick_arg(words[0]):
                return _bad(cmd, "Verify whom?")
            return Verify(_nick_arg(words[0]))
        case "accept":
            if len(words) != 1 or not _nick_arg(words[0]):
                return _bad(cmd, "Accept whose key?")
            return Accept(_nick_arg(words[0]))
        case "help":
            return Help(words[0].removeprefix("/").casefold() if words else "")
        case "kick":
            if not words:
                return _bad(cmd, "Kick whom?")
            return Kick(_nick_arg(words[0]), _split_word(rest)[2])
        case "ban":
            return _ban(cmd, rest)
        case "unban":
            if len(words) != 1:
                return _bad(cmd, "Unban whom?")
            return Unban(_nick_arg(words[0]))
        case _:
            return _NO_ARGS[cmd.name]


def _ban(cmd: Command, rest: str) -> Intent:
    target, _, after = _split_word(rest)
    if not target:
        return _bad(cmd, "Ban whom?")
    seconds: float | None = None
    first, _, reason = _split_word(after)
    if first and looks_like_duration(first):
        try:
            seconds = parse_duration(first)
        except UsageError as error:  # a typo must not ban for ever: nothing is done
            return _bad(cmd, f"{error.message}; nobody was banned.")
    else:
        reason = after
    return Ban(_nick_arg(target), seconds, reason)


_NO_ARGS: dict[str, Intent] = {
    "leave": LeaveRoom(),
    "users": ListUsers(),
    "rooms": ListRooms(),
    "ping": Ping(),
    "stats": Stats(),
    "bans": ListBans(),
    "clear": Clear(),
    "ticket": ShowTicket(),
}


class ChatCompleter(Completer):
    """Tab completion: command names after '/', nicks elsewhere, rooms after /join.

    A nick completed as the first word gets ": " after it, as in irssi, so the
    line reads as addressed to that person.
    """

    def __init__(
        self,
        nicks: Callable[[], Iterable[str]],
        rooms: Callable[[], Iterable[str]] | None = None,
    ) -> None:
        self._nicks = nicks
        self._rooms = rooms

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterator[Completion]:
        before = document.text_before_cursor
        word = before.split(" ")[-1]
        first = " " not in before
        if first and word.startswith("/") and not word.startswith("//"):
            for name in _matches(word[1:], COMMAND_NAMES):
                yield Completion("/" + name + " ", -len(word), display="/" + name)
            return
        command = before.split(" ", 1)[0].casefold() if not first else ""
        if command == "/join" and self._rooms is not None:
            names = (r.removeprefix("#") for r in self._rooms())
            for room in _matches(word.removeprefix("#"), names):
                yield Completion("#" + room, -len(word))
            return
        suffix = ": " if first else ""
        for nick in _matches(word.removeprefix("@"), self._nicks()):
            yield Completion(nick + suffix, -len(word), display=nick)


def _matches(prefix: str, candidates: Iterable[str]) -> list[str]:
    """Case-insensitive prefix matches, sorted, without duplicates."""
    folded = prefix.casefold()
    found = {c for c in candidates if c.casefold().startswith(folded)}
    return sorted(found, key=lambda c: (c.casefold(), c))
