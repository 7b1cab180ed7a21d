"""``--json``: each client event as one line of compact JSON, for bots and scripts.

The field names are the events' own, so a new field shows up without a change here;
only the event's name is mapped (``EVENT_NAMES``).
"""

from __future__ import annotations

import json
import math
from dataclasses import fields
from typing import Any

from severus_cli.core.client.events import (
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

EVENT_NAMES: dict[type[Any], str] = {
    ChatMessage: "message",
    DirectMessage: "dm",
    Joined: "join",
    Left: "leave",
    Notice: "notice",
    Welcome: "welcome",
    RoomChanged: "room",
    UserList: "users",
    RoomList: "rooms",
    WhoisInfo: "whois",
    PingResult: "pong",
    HostStats: "stats",
    Membership: "membership",
    Renamed: "nick",
    Disconnected: "disconnected",
}


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # NaN/Infinity are not JSON
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def to_json(event: UiEvent) -> dict[str, Any]:
    """A JSON-ready dict: ``{"event": name, "ts": ..., <fields>}`` with text kept exactly.

    Room lists become ``[{"name": ..., "count": ...}]`` so bots need not guess the order.
    """
    out: dict[str, Any] = {"event": EVENT_NAMES[type(event)]}
    for field in fields(event):
        value = getattr(event, field.name)
        if isinstance(event, RoomList) and field.name == "rooms":
            out["rooms"] = [{"name": name, "count": count} for name, count in value]
        else:
            out[field.name] = _jsonable(value)
    return out


def json_line(event: UiEvent) -> str:
    """One line of JSON for ``event``."""
    return json_dumps(to_json(event))


def json_dumps(obj: dict[str, Any]) -> str:
    """Compact, pure-ASCII JSON.

    ASCII because a JSON stream often ends up on a terminal (``| tee``, logs): with
    every non-ASCII character escaped, no bidi or C1 control can take effect there,
    and lone surrogates cannot make the write fail. Parsers get the exact text back.
    """
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
