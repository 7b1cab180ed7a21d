"""The slash commands: their names, aliases and usage, and the /help built from them.

One table serves the parser (:mod:`severus_cli.ui.input`), the help text and tab
completion, so a command cannot be known to one and missing from another.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass


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
    Command("stats", (), "", "host: users, rooms, traffic; joiner: paths taken and when"),
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

BY_NAME: dict[str, Command] = {name: cmd for cmd in COMMANDS for name in (cmd.name, *cmd.aliases)}

COMMAND_NAMES: tuple[str, ...] = tuple(sorted(BY_NAME))
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
    cmd = BY_NAME.get(topic.removeprefix("/").casefold())
    if cmd is None:
        return (unknown_message(topic.removeprefix("/")),)
    return tuple(line.strip() for line in _help_lines(cmd))


def unknown_message(name: str) -> str:
    name = name[:32]
    close = difflib.get_close_matches(name.casefold(), COMMAND_NAMES, n=1, cutoff=0.6)
    hint = f" Did you mean /{close[0]}?" if close else ""
    return f"Unknown command /{name}.{hint} Type /help for the list, //TEXT to say /TEXT."
