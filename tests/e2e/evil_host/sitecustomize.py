"""Turns a real severus host into a hostile one, for tests only.

Loaded by Python at start-up when this folder is on PYTHONPATH; does nothing unless
EVIL_HOST_MODE is set. It patches the host's routing of end-to-end encrypted room
messages the way someone who controls a host could:
- ``tamper``: flip one byte of every sealed message;
- ``replay``: deliver every sealed message twice;
- ``forge``: claim every sealed message comes from another participant (``EVIL_AS``);
- ``leak``: deliver room messages to everyone in the lobby, members or not;
- ``swap``: hand out the host's own key for one participant (``evil_swap.py``);
- ``ghost``: let one participant into rooms unseen (``evil_ghost.py``);
- ``mute``: ignore the requests whose types ``EVIL_MUTE`` lists (``names,seal``);
- ``crowd``: announce made-up participants without end (``evil_crowd.py``).
"""

from __future__ import annotations

import os

MODE = os.environ.get("EVIL_HOST_MODE", "")
if MODE:  # the patches replace methods, which the compiled core's classes do not allow
    os.environ.pop("SEVERUS_COMPILED", None)

if MODE == "swap":
    import evil_swap

    evil_swap.install()
elif MODE == "ghost":
    import evil_ghost

    evil_ghost.install()
elif MODE == "crowd":
    import evil_crowd

    evil_crowd.install()
elif MODE == "mute":
    from severus_cli.core.host import core as _host
    from severus_cli.core.wire import packets as _p

    _receive = _host.HostCore.receive
    _MUTED = set(os.environ.get("EVIL_MUTE", "").split(","))

    def _muted(self, conn, payload, now):  # type: ignore[no-untyped-def]
        try:
            kind = _p.decode_from_client(payload).TYPE
        except Exception:
            kind = ""
        return [] if kind in _MUTED else _receive(self, conn, payload, now)

    _host.HostCore.receive = _muted  # type: ignore[method-assign]
elif MODE:
    from severus_cli.core.host import core as _host
    from severus_cli.core.wire import packets as _p

    _original = _host.HostCore._seal

    def _evil_seal(self, peer, seal, now):  # type: ignore[no-untyped-def]
        actions = _original(self, peer, seal, now)
        out = []
        for action in actions:
            if not isinstance(action, _host.Broadcast):
                out.append(action)
                continue
            packet = _p.decode_from_host(action.data)
            assert isinstance(packet, _p.Sealed)
            if MODE == "tamper":
                data = bytearray(packet.data)
                data[len(data) // 2] ^= 0x01
                forged = _p.Sealed(packet.sender, packet.room, bytes(data), packet.ts)
                out.append(_host.Broadcast(action.conns, _p.encode(forged)))
            elif MODE == "replay":
                out += [action, action]
            elif MODE == "forge":
                forged = _p.Sealed(os.environ["EVIL_AS"], packet.room, packet.data, packet.ts)
                out.append(_host.Broadcast(action.conns, _p.encode(forged)))
            elif MODE == "leak":
                lobby = self._rooms[_p.LOBBY]
                everyone = tuple(c for c in lobby.members if c != peer.conn)
                out.append(_host.Broadcast(everyone, action.data))
        return out

    _host.HostCore._seal = _evil_seal  # type: ignore[method-assign]
