"""Turn client events into screen lines (Rich ``Text``); ``--json`` lines come from
:mod:`~severus_cli.ui.json_mode`.

Conventions follow ssh-chat and irssi so fingers and eyes already know them:
``ana: hi`` for others, ``[bob] hi`` for yourself, ``** ana waves``, ``[PM from
ana] hi``, `` * bob joined.`` and ``-> `` for system lines. Every string that a
peer could have chosen goes through ``sanitize`` and lands in a ``Text`` object,
so neither terminal escapes nor Rich markup in it can take effect.
"""

from __future__ import annotations

import functools
import math
import re
import time
import zlib
from collections.abc import Callable, Iterable
from typing import assert_never

from rich.cells import cell_len
from rich.text import Text

from severus_cli.core.client.events import (
    LOBBY,
    ChatMessage,
    DirectMessage,
    Disconnected,
    HostStats,
    Joined,
    Left,
    Membership,
    Notice,
    PingResult,
    Renamed,
    RoomChanged,
    RoomList,
    UiEvent,
    UserList,
    Welcome,
    WhoisInfo,
)
from severus_cli.ui.console import make_console as make_console
from severus_cli.ui.console import no_color_requested as no_color_requested
from severus_cli.ui.json_mode import json_dumps as json_dumps
from severus_cli.ui.json_mode import json_line as json_line
from severus_cli.ui.json_mode import to_json as to_json
from severus_cli.ui.sanitize import literal_text, nick_safe, nick_text

# Theme-relative ANSI colours: they follow the user's terminal palette, so they stay
# readable on dark and light backgrounds. Black, white and greys are left out.
NICK_PALETTE: tuple[str, ...] = (
    "red",
    "green",
    "yellow",
    "blue",
    "magenta",
    "cyan",
    "bright_red",
    "bright_green",
    "bright_yellow",
    "bright_blue",
    "bright_magenta",
    "bright_cyan",
)

DM_STYLE = "magenta"
NOTICE_STYLES = {"info": "", "warn": "yellow", "error": "bold red"}
MAX_INDENT = 32  # continuation lines of a multi-line message align, up to here

Stamp = Callable[[float], str]


def hhmm(ts: float) -> str:
    """Local wall-clock "HH:MM" for ``ts``; a nonsense time must not crash the screen."""
    try:
        return time.strftime("%H:%M", time.localtime(ts))
    except (OverflowError, ValueError, OSError):
        return "--:--"


def nick_color(nick: str) -> str:
    """The palette colour for ``nick``: the same in every process (CRC-32, not ``hash()``)."""
    digest = zlib.crc32(nick.casefold().encode("utf-8", "surrogatepass"))
    return NICK_PALETTE[digest % len(NICK_PALETTE)]


def is_lobby(room: str) -> bool:
    return room.removeprefix("#").casefold() == LOBBY


def room_label(room: str) -> str:
    """``#rust`` for rooms, ``lobby`` for the lobby; sanitized."""
    if is_lobby(room):
        return LOBBY
    return "#" + nick_safe(room.removeprefix("#"))


def mentions(text: str, nick: str) -> bool:
    """True when ``nick`` appears in ``text`` as a word (case-insensitively)."""
    return bool(nick) and _mention_re(nick).search(text) is not None


def is_alert(event: UiEvent, own_nick: str) -> bool:
    """Whether ``event`` deserves a bell: a DM to us or someone saying our nick."""
    if isinstance(event, DirectMessage):
        return not event.own
    if isinstance(event, ChatMessage):
        return not event.own and mentions(event.text, own_nick)
    return False


def human_duration(seconds: float) -> str:
    """Two most significant units, the way people say it: "42s", "5m 3s", "2h", "3d 4h"."""
    if not math.isfinite(seconds) or seconds < 1:
        return "0s"
    left = int(seconds)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, left = divmod(left, size)
        if amount or parts:
            parts.append(f"{amount}{unit}")
        if len(parts) == 2:
            break
    if len(parts) == 2 and parts[1].startswith("0"):
        parts.pop()
    return " ".join(parts)


def human_rate(bytes_per_s: float) -> str:
    """IEC units per second: "512 B/s", "1.2 KiB/s", "3.4 MiB/s"."""
    if not math.isfinite(bytes_per_s) or bytes_per_s < 0:
        bytes_per_s = 0.0
    if bytes_per_s < 1024:
        return f"{bytes_per_s:.0f} B/s"
    value = bytes_per_s
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}/s"


def _sorted_nicks(nicks: Iterable[str]) -> list[str]:
    return sorted(nicks, key=lambda n: (n.casefold(), n))


def _nick(nick: str, *, own_nick: str = "", extra: str = "") -> Text:
    """A nick in its colour; our own nick in bold instead."""
    if own_nick and nick == own_nick:
        return nick_text(nick, style=f"bold {extra}".strip())
    return nick_text(nick, style=f"{nick_color(nick)} {extra}".strip())


def _nick_list(nicks: Iterable[str], own_nick: str) -> Text:
    return Text(", ").join(_nick(n, own_nick=own_nick) for n in _sorted_nicks(nicks))


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _body(text: str, prefix: Text, style: str = "") -> Text:
    """Message text; continuation lines of a multi-line message align under the first."""
    body = literal_text(text.rstrip("\r\n"), style=style, multiline=True)
    if "\n" not in body.plain:
        return body
    indent = " " * min(cell_len(prefix.plain), MAX_INDENT)
    lines = body.split("\n", allow_blank=True)
    return Text("\n" + indent, style=style).join(lines)


def _system(prefix: str, *parts: Text | str, style: str = "") -> Text:
    return Text.assemble(prefix, *parts, style=style)


def unseen(event: UiEvent) -> bool:
    """A send-only connection coming or going (PROTOCOL.md 4.7): a ``severus send``
    shows only its lines on the screen (JSON output still reports it, marked quiet)."""
    return isinstance(event, Joined | Left) and event.quiet


def render(
    event: UiEvent,
    *,
    own_nick: str,
    current_room: str = LOBBY,
    timestamp: Stamp = hhmm,
) -> Text:
    """One screen line (possibly several for multi-line messages) for ``event``.

    ``timestamp`` formats ``event.ts``; return "" from it to drop the stamp. Lines
    from ``current_room`` get a brighter room prefix than those of other rooms.
    """
    stamp = timestamp(event.ts)
    head = Text.styled(stamp + " ", "dim") if stamp else Text()
    return head + _render_body(event, own_nick, current_room, head)


def _render_body(event: UiEvent, own_nick: str, current_room: str, head: Text) -> Text:
    match event:
        case ChatMessage():
            return _chat(event, own_nick, current_room, head)
        case DirectMessage():
            return _direct(event, own_nick, head)
        case Joined(nick=nick, room=room, count=count):
            if is_lobby(room):
                return _system(" * ", _nick(nick), f" joined. (Connected: {count})", style="dim")
            return _system(
                " * ", _nick(nick), f" joined {room_label(room)} ({count} here)", style="dim"
            )
        case Left(nick=nick, room=room, count=count, reason=reason):
            why = literal_text(reason)
            if is_lobby(room):
                tail = Text.assemble(" (", why, ")") if reason else f" (Connected: {count})"
                return _system(" * ", _nick(nick), " left.", tail, style="dim")
            inner = Text.assemble(why, "; ") if reason else Text()
            return _system(
                " * ",
                _nick(nick),
                f" left {room_label(room)} (",
                inner,
                f"{count} here)",
                style="dim",
            )
        case Notice(text=text, level=level):
            style = NOTICE_STYLES.get(level, "")
            arrow = Text.styled("-> ", style or "bold")
            return Text.assemble(arrow, _body(text, head + arrow), style=style)
        case Welcome(nick=nick, host=host, users=users):
            parts: list[Text | str] = ["Welcome, ", _nick(nick, own_nick=own_nick), "!"]
            if host:
                parts += [" Host: ", _nick(host, own_nick=own_nick), "."]
            parts += [f" {len(users)} in lobby: ", _nick_list(users, own_nick)]
            parts.append(". Type /help for commands.")
            return _system("-> ", *parts)
        case RoomChanged(room=room, members=members):
            where = "the lobby" if is_lobby(room) else room_label(room)
            if not members:  # a switch back to a room we are already in: no fresh list
                return _system("-> ", f"Now talking in {where}.")
            here = f" ({len(members)} here: "
            return _system(
                "-> ", f"Now talking in {where}", here, _nick_list(members, own_nick), ")"
            )
        case UserList(room=room, users=users):
            if not users:
                return _system("-> ", f"Nobody in {room_label(room)}.")
            return _system(
                "-> ", f"{len(users)} in {room_label(room)}: ", _nick_list(users, own_nick)
            )
        case RoomList(rooms=rooms):
            ordered = sorted(rooms, key=lambda r: (not is_lobby(r[0]), r[0].casefold()))
            listed = Text(", ").join(
                Text(
                    f"{room_label(name)} ({count})",
                    style="bold" if room_label(name) == room_label(current_room) else "",
                )
                for name, count in ordered
            )
            return _system("-> ", f"{_count(len(rooms), 'room')}: ", listed)
        case WhoisInfo(nick=nick, fingerprint=fp, rooms=rooms, connected_for=secs):
            where = ", ".join(room_label(r) for r in rooms) or "no rooms"
            return _system(
                "-> ",
                _nick(nick, own_nick=own_nick),
                ": fingerprint ",
                literal_text(fp),
                f", in {where}, connected for {human_duration(secs)}",
            )
        case PingResult(rtt_ms=rtt):
            shown = f"{rtt:.2f} ms" if math.isfinite(rtt) else "no answer"
            return _system("-> ", f"pong: {shown}")
        case HostStats():
            return _system(
                "-> ",
                f"host: {_count(event.clients, 'client')}, {_count(event.rooms, 'room')}, "
                f"in {human_rate(event.bytes_in_per_s)}, out {human_rate(event.bytes_out_per_s)}, "
                f"up {human_duration(event.uptime)}",
            )
        case Membership():
            return _membership(event, own_nick)
        case Renamed(old=old, new=new, own=own):
            if own:
                return _system("-> ", "You are now ", _nick(new, own_nick=own_nick), ".")
            return _system(" * ", _nick(old), " is now ", _nick(new), ".", style="dim")
        case Disconnected(reason=reason):
            why = Text.assemble(": ", literal_text(reason)) if reason else Text(".")
            return _system("-> ", "Disconnected", why, style="bold red")
        case _:
            assert_never(event)


def _room_prefix(room: str, current_room: str) -> Text:
    """The room a line belongs to. Lines from a room other than the current one always
    carry it, the lobby too (``#lobby``, which ``/join`` also takes), so an answer typed
    here is never mistaken for one to the room the line came from."""
    current = room_label(room) == room_label(current_room)
    if is_lobby(room):
        return Text() if current else Text.styled("#" + LOBBY + " ", "dim cyan")
    return Text.styled(room_label(room) + " ", "cyan" if current else "dim cyan")


def _chat(event: ChatMessage, own_nick: str, current_room: str, head: Text) -> Text:
    prefix = _room_prefix(event.room, current_room)
    if event.own:
        who = nick_text(event.sender, style="bold")
        lead = Text.assemble("** ", who, " ") if event.action else Text.assemble("[", who, "] ")
        prefix += Text.assemble(lead, style="bold")
        return prefix + _body(event.text, head + prefix, style="bold")
    mentioned = mentions(event.text, own_nick)
    who = _nick(event.sender, extra="bold reverse" if mentioned else "")
    prefix += Text.assemble("** ", who, " ") if event.action else Text.assemble(who, ": ")
    body = _body(event.text, head + prefix)
    if mentioned:
        body.highlight_regex(_mention_re(own_nick), "bold")
    return prefix + body


def _membership(event: Membership, own_nick: str) -> Text:
    """``#rust after reconnect: +eve (new), -dan (3 here)``: every nick the host added
    without a join we saw, so nobody receives our keys unseen."""
    new = {n.casefold() for n in event.newcomers}
    changes: list[Text] = [
        Text.assemble("+", _nick(n), " (new)" if n.casefold() in new else "")
        for n in _sorted_nicks(event.added)
    ]
    changes += [Text.assemble("-", _nick(n)) for n in _sorted_nicks(event.removed)]
    where = room_label(event.room) + (" after reconnect" if event.after_reconnect else "")
    listed = Text(", ").join(changes) if changes else Text("no change")
    here = f" ({len(event.members)} here)"
    return _system("-> ", where, ": ", listed, here, style="" if not changes else "yellow")


def _direct(event: DirectMessage, own_nick: str, head: Text) -> Text:
    peer = nick_text(event.peer)
    prefix = Text.assemble("[PM to " if event.own else "[PM from ", peer, "] ")
    if event.action:
        actor = nick_text(own_nick) if event.own else peer
        prefix += Text.assemble("** ", actor, " ")
    style = f"bold {DM_STYLE}" if event.own else DM_STYLE
    prefix.stylize(style)
    return prefix + _body(event.text, head + prefix, style=style)


@functools.lru_cache(maxsize=64)
def _mention_re(nick: str) -> re.Pattern[str]:
    # Nicks are made of [\w.-]; a trailing "." still counts ("thanks, bob.").
    return re.compile(rf"(?<![\w.-]){re.escape(nick)}(?![\w-]|\.\w)", re.IGNORECASE)
