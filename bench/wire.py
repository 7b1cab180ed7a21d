"""The few protocol details the load generators rely on, kept in one place.

Room messages changed shape once (``say``/``msg`` carrying text became ``seal``/
``sealed`` carrying the sender's end-to-end ciphertext), and so did how a
:class:`ClientCore` is made. Messages are always made by the client core's own ``say``,
so they are whatever the installed version sends; this module only recognises them on
arrival and builds the core the way the installed version does.
"""

from __future__ import annotations

import importlib
import time
from typing import Any, cast

from severus_cli.core.client.core import ClientCore
from severus_cli.core.trust.identity import Identity
from severus_cli.core.wire import packets as p

ROOM_MESSAGES = frozenset({"msg", "sealed"})  # what room members receive
ACK = p.Ok
REFUSAL = p.Error


def new_core(identity: Identity, nick: str) -> ClientCore:
    """A client core for ``nick``, made the way the installed version makes them."""
    try:
        factory: Any = importlib.import_module("severus_cli.runtime.participant_factory")
    except ImportError:
        factory = None
    if factory is not None and hasattr(factory, "new_core"):
        core: ClientCore = factory.new_core(identity, nick, None, ())
        return core
    made: ClientCore = cast(Any, ClientCore)(nick, time.time())
    return made


def is_room_message(packet: p.Packet) -> bool:
    """True for a room message delivered to a member (either protocol generation)."""
    return packet.TYPE in ROOM_MESSAGES
