"""One participant's end-to-end state: who has which key, our sender keys, theirs.

Sans-IO glue between :mod:`pairwise` (private sessions) and :mod:`sender_keys` (room
messages). The client core tells it who joined and left; it answers with blobs to relay
and with what was said, and raises RemoteProtocolError (``e2e_*``) for anything forged.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from severus_cli.core.e2e import wire
from severus_cli.core.e2e.pairwise import Outgoing, Pairwise
from severus_cli.core.e2e.sender_keys import OwnSenderKey, PeerSenderKey
from severus_cli.errors import RemoteProtocolError

KEEP_EPOCHS = 4  # old epochs kept per sender and room, for messages sent across a rekey
MAX_PENDING = 256  # room messages held until their key arrives
PENDING_TTL = 10.0  # seconds; then the message is reported as unreadable


@dataclass(frozen=True, slots=True)
class Relay:
    """A blob to relay to ``nick``."""

    nick: str
    kind: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Heard:
    """Something decrypted and verified: ``room`` is None for a private message."""

    nick: str
    room: str | None
    body: wire.ChatBody
    ts: float


@dataclass(frozen=True, slots=True)
class _Pending:
    received: float
    nick: str
    room: str
    sealed: wire.Sealed
    ts: float


class Keyring:
    def __init__(self, static_private: bytes, own_key: bytes, own_nick: str = "") -> None:
        self.own_key = own_key
        self._pairwise = Pairwise(static_private, own_key, own_nick.casefold())
        self._names: dict[str, str] = {}  # casefolded nick -> nick, for addressing relays
        self._own: dict[str, OwnSenderKey] = {}  # casefolded room -> our key
        # (sender key, casefolded sender nick, casefolded room) -> epoch id -> key
        self._theirs: dict[tuple[bytes, str, str], dict[bytes, PeerSenderKey]] = {}
        self._pending: deque[_Pending] = deque()
        self._forged: list[str] = []  # nicks whose held messages turned out forged

    # --- who is who ----------------------------------------------------------------

    def peer_joined(self, nick: str, key: bytes) -> None:
        self._names[nick.casefold()] = nick

    def peer_left(self, key: bytes, nick: str = "") -> None:
        """Forget everything about a participant who disconnected (every nick of that key
        when ``nick`` is not given)."""
        tags = [nick.casefold()] if nick else [t for t in self._names]
        for tag in tags:
            self._pairwise.forget(key, tag)
        for slot in [s for s in self._theirs if s[0] == key and (not nick or s[1] == tags[0])]:
            del self._theirs[slot]
        for own in self._own.values():
            own.shared_with -= {(key, tag) for tag in tags}

    def membership_changed(self, room: str) -> None:
        """Someone joined or left ``room``: our next message there starts a new epoch."""
        self._own.pop(room.casefold(), None)

    def left_room(self, room: str) -> None:
        folded = room.casefold()
        self._own.pop(folded, None)
        for slot in [slot for slot in self._theirs if slot[2] == folded]:
            del self._theirs[slot]

    @property
    def queued(self) -> int:
        """Private payloads waiting for a session to open."""
        return self._pairwise.queued

    # --- sending -------------------------------------------------------------------

    def seal(
        self, room: str, members: list[tuple[str, bytes]], body: wire.ChatBody
    ) -> tuple[list[Relay], bytes]:
        """Encrypt a room message once; hand our key to members who lack it first."""
        folded = room.casefold()
        own = self._own.get(folded)
        if own is None:
            own = self._own[folded] = OwnSenderKey(room)
        relays: list[Relay] = []
        gift = wire.encode_gift(own.distribution())
        own_tag = self._pairwise.own_tag
        for nick, key in members:
            tag = nick.casefold()
            if (key, tag) != (self.own_key, own_tag) and (key, tag) not in own.shared_with:
                self._names[tag] = nick
                relays += self._relays(self._pairwise.send(key, "key", gift, tag))
                own.shared_with.add((key, tag))
        return relays, own.seal(self.own_key, wire.encode_body(body))

    def direct(self, nick: str, key: bytes, body: wire.ChatBody) -> list[Relay]:
        tag = nick.casefold()
        self._names[tag] = nick
        return self._relays(self._pairwise.send(key, "dm", wire.encode_direct(body), tag))

    def _relays(self, outgoing: list[Outgoing]) -> list[Relay]:
        return [Relay(self._names.get(o.tag, o.tag), o.kind, o.data) for o in outgoing]

    # --- receiving -----------------------------------------------------------------

    def relayed(
        self, nick: str, key: bytes, kind: str, data: bytes, now: float
    ) -> tuple[list[Heard], list[Relay]]:
        """A blob from ``nick`` (whose roster key is ``key``)."""
        tag = nick.casefold()
        self._names[tag] = nick
        payloads, replies = self._pairwise.receive(key, kind, data, tag)
        heard: list[Heard] = []
        for payload in payloads:
            item = wire.decode_pairwise(payload)
            if isinstance(item, wire.ChatBody):
                heard.append(Heard(nick, None, item, now))
            else:
                self._store_gift(key, tag, item)
                heard += self._retry_pending(key, tag)
        return heard, self._relays(replies)

    def _store_gift(self, sender: bytes, tag: str, gift: wire.SenderKeyGift) -> None:
        epochs = self._theirs.setdefault((sender, tag, gift.room.casefold()), {})
        epochs[gift.epoch] = PeerSenderKey.from_gift(sender, gift)
        while len(epochs) > KEEP_EPOCHS:
            del epochs[next(iter(epochs))]

    def sealed(
        self, nick: str, key: bytes, room: str, data: bytes, ts: float, now: float
    ) -> Heard | None:
        """A room message; None while its key has not arrived yet (it is kept a while)."""
        envelope = wire.decode_sealed(data)
        slot = (key, nick.casefold(), room.casefold())
        sender_key = self._theirs.get(slot, {}).get(envelope.epoch)
        if sender_key is None and any(
            envelope.epoch in epochs for other, epochs in self._theirs.items() if other != slot
        ):
            # Sealed with someone else's key: the host relabelled who sent it.
            raise RemoteProtocolError("the message was sealed by someone else", "e2e_forged")
        if sender_key is None:
            if len(self._pending) >= MAX_PENDING:
                self._pending.popleft()
            self._pending.append(_Pending(now, nick, room, envelope, ts))
            return None
        body = wire.decode_body(sender_key.open(envelope))
        return Heard(nick, room, body, ts)

    def _retry_pending(self, sender: bytes, tag: str) -> list[Heard]:
        heard: list[Heard] = []
        waiting = list(self._pending)
        self._pending.clear()
        for item in waiting:
            slot = self._theirs.get((sender, tag, item.room.casefold()), {})
            key = slot.get(item.sealed.epoch)
            if key is not None and item.nick.casefold() != tag:
                self._forged.append(item.nick)  # sealed by this sender, labelled another
                continue
            if key is None:
                self._pending.append(item)
                continue
            try:
                heard.append(
                    Heard(item.nick, item.room, wire.decode_body(key.open(item.sealed)), item.ts)
                )
            except RemoteProtocolError:
                self._forged.append(item.nick)
        return heard

    def take_forged(self) -> list[str]:
        forged, self._forged = self._forged, []
        return forged

    def expire(self, now: float) -> list[str]:
        """Nicks whose held messages never became readable (to warn about)."""
        lost: list[str] = []
        while self._pending and now - self._pending[0].received >= PENDING_TTL:
            lost.append(self._pending.popleft().nick)
        return lost
