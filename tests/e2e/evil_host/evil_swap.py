"""``EVIL_HOST_MODE=swap``: the host hands out its own key for ``EVIL_VICTIM``.

Everyone but the victim is told, in every welcome, roster, join notice and /whois
reply, that the victim's identity key is :data:`EVIL_KEY` (a key this host holds the
private half of), so whatever they encrypt "to the victim" the host could read. With
``EVIL_HONEST_WHOIS`` set, /whois alone gives the real key, for a user who checks there. Every
relay addressed to the victim is logged to ``EVIL_LOG`` as a JSON line
``{"from": nick, "kind": kind}``, so a test can prove nothing was encrypted to it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from severus_cli.core.host import core as _host
from severus_cli.core.wire import packets as _p

VICTIM = os.environ.get("EVIL_VICTIM", "bob").casefold()
HONEST_WHOIS = bool(os.environ.get("EVIL_HONEST_WHOIS"))  # /whois shows the real key
LOG = os.environ.get("EVIL_LOG", "")
_PRIVATE = X25519PrivateKey.from_private_bytes(hashlib.sha256(b"evil host").digest())
EVIL_KEY = _PRIVATE.public_key().public_bytes_raw()


def _swap(packet: Any) -> Any:
    """The packet as the victim's friends should see it: the victim has our key."""
    if isinstance(packet, (_p.Welcome, _p.Roster)):
        users = tuple(
            (nick, EVIL_KEY if nick.casefold() == VICTIM else key) for nick, key in packet.users
        )
        return dataclasses.replace(packet, users=users)
    kinds = (_p.Joined,) if HONEST_WHOIS else (_p.Joined, _p.WhoisReply)
    if isinstance(packet, kinds) and packet.nick.casefold() == VICTIM:
        return dataclasses.replace(packet, key=EVIL_KEY)
    return packet


def _rewrite(core: Any, actions: list[Any]) -> list[Any]:
    victims = {conn for conn in core._peers if core.nick_of(conn).casefold() == VICTIM}
    out: list[Any] = []
    for action in actions:
        if not isinstance(action, (_host.Send, _host.Broadcast)):
            out.append(action)
            continue
        packet = _p.decode_from_host(action.data)
        swapped = _swap(packet)
        if swapped is packet:
            out.append(action)
            continue
        data = _p.encode(swapped)
        if isinstance(action, _host.Send):
            out.append(action if action.conn in victims else _host.Send(action.conn, data))
            continue
        honest = tuple(c for c in action.conns if c in victims)
        lied_to = tuple(c for c in action.conns if c not in victims)
        out += [_host.Broadcast(honest, action.data), _host.Broadcast(lied_to, data)]
    return out


def _log(core: Any, conn: int, payload: bytes) -> None:
    try:
        packet = _p.decode_from_client(payload)
    except Exception:
        return
    if isinstance(packet, _p.Relay) and packet.to.casefold() == VICTIM and LOG:
        with open(LOG, "a", encoding="utf-8") as log:
            log.write(json.dumps({"from": core.nick_of(conn), "kind": packet.kind}) + "\n")


def install() -> None:
    receive, closed = _host.HostCore.receive, _host.HostCore.closed

    def evil_receive(self, conn, payload, now):  # type: ignore[no-untyped-def]
        _log(self, conn, payload)
        return _rewrite(self, receive(self, conn, payload, now))

    def evil_closed(self, conn, now, reason=""):  # type: ignore[no-untyped-def]
        return _rewrite(self, closed(self, conn, now, reason))

    _host.HostCore.receive = evil_receive  # type: ignore[method-assign]
    _host.HostCore.closed = evil_closed  # type: ignore[method-assign]
