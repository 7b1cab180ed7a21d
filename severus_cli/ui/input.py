"""What a typed line means: plain text to say, or an IRC-style slash command.

Parsing is pure so it can be tested on any string and reused by every front end;
it never raises. Command names are case-insensitive and accept the aliases irssi
and ssh-chat users already type.
"""

from __future__ import annotations

from dataclasses import dataclass

from severus_cli.core.host.moderation import looks_like_duration, parse_duration
from severus_cli.errors import UsageError
from severus_cli.ui.help import BY_NAME, Command, unknown_message
from severus_cli.ui.help import help_lines as help_lines
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
    cmd = BY_NAME.get(name.casefold())
    refused = pasted_command(name, cmd.name if cmd else None) if "\n" in line.strip() else None
    if cmd is None:
        return UnknownCommand(name, refused or unknown_message(name))
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
