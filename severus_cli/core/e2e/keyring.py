"""One participant's end-to-end state: who has which key, our sender keys, theirs.

Sans-IO glue between :mod:`pairwise` (private sessions) and :mod:`sender_keys` (room
messages). The client core tells it who joined and left; it answers with blobs to relay
and with what was said, and raises RemoteProtocolError (``e2e_*``) for anything forged.

Another member is not trusted with our resources: the keys it hands us are kept only
for rooms we share with it and within bounds (:mod:`peer_keys`), its held messages
within its own quota (:mod:`pending`), and the handshakes it starts are answered at a
small rate, so it cannot make us spend CPU or our own host-side budget on replies.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from severus_cli.core.e2e import wire
from severus_cli.core.e2e.pairwise import HANDSHAKE, Outgoing, Pairwise
from severus_cli.core.e2e.peer_keys import KEEP_EPOCHS, PeerKeys
from severus_cli.core.e2e.pending import MAX_PENDING, PENDING_TTL, Held, Pending
from severus_cli.core.e2e.sender_keys import OwnSenderKey, PeerSenderKey
from severus_cli.core.limits.ratelimit import TokenBucket
from severus_cli.errors import RemoteProtocolError

__all__ = ["KEEP_EPOCHS", "MAX_PENDING", "PENDING_TTL", "Heard", "Keyring", "Relay"]

HELLO_BURST = 4.0  # handshakes (step 01) one peer may start at once ...
HELLO_RATE = 0.2  # ... then one every 5 s; beyond that they are ignored, unanswered
HELLO_WARN_EVERY = 60.0  # seconds between two warnings about the same peer
EVICTED_REPORT_EVERY = 5.0  # seconds between two reports of dropped held messages

SharesRoom = Callable[[str, str], bool]
"""(nick, room) -> whether the roster has both that nick and us in the room."""


@dataclass(frozen=True, slots=True)
class Relay:
    """A blob to relay to ``nick``."""

    nick: str
    kind: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Heard:
    """Something decrypted and verified: ``room`` is None for a private message.
    ``lost`` counts the sender's room messages skipped just before this one (the host
    dropped them): the user is told, since nothing else would show the gap."""

    nick: str
    room: str | None
    body: wire.ChatBody
    ts: float
    lost: int = 0


class Keyring:
    def __init__(
        self,
        static_private: bytes,
        own_key: bytes,
        own_nick: str = "",
        *,
        shares_room: SharesRoom | None = None,
    ) -> None:
        """``shares_room`` decides which rooms a member's keys are accepted for; the
        client core always gives one (None accepts any room: for a keyring on its own)."""
        self.own_key = own_key
        self._pairwise = Pairwise(static_private, own_key, own_nick.casefold())
        self._names: dict[str, str] = {}  # casefolded nick -> nick, for addressing relays
        self._own: dict[str, OwnSenderKey] = {}  # casefolded room -> our key
        self._theirs = PeerKeys()
        self._pending = Held()
        self._forged: list[str] = []  # nicks whose held messages turned out forged
        self._shares_room = shares_room
        self._hellos: dict[tuple[bytes, str], TokenBucket] = {}  # step 01 allowance per peer
        self._hello_warned: dict[tuple[bytes, str], float] = {}
        self._notices: list[str] = []
        self._evicted_reported = float("-inf")

    # --- who is who ----------------------------------------------------------------

    def peer_joined(self, nick: str, key: bytes) -> None:
        self._names[nick.casefold()] = nick

    def peer_left(self, key: bytes, nick: str = "") -> None:
        """Forget everything about a participant who disconnected (every nick of that key
        when ``nick`` is not given)."""
        tags = [nick.casefold()] if nick else [t for t in self._names]
        for tag in tags:
            self._pairwise.forget(key, tag)
            self._hellos.pop((key, tag), None)
            self._hello_warned.pop((key, tag), None)
        self._theirs.forget_sender(key, tags[0] if nick else None)
        for own in self._own.values():
            own.shared_with -= {(key, tag) for tag in tags}

    def renamed_self(self, nick: str) -> None:
        """We are now ``nick``: the others forgot the sessions and sender keys of our old
        nick, so we open new sessions and hand out new keys; keys they gave us stay."""
        self._pairwise.renamed(nick.casefold())
        self._own.clear()

    def membership_changed(self, room: str) -> None:
        """Someone joined or left ``room``: our next message there starts a new epoch."""
        self._own.pop(room.casefold(), None)

    def left_room(self, room: str) -> None:
        folded = room.casefold()
        self._own.pop(folded, None)
        self._theirs.forget_room(folded)

    @property
    def queued(self) -> int:
        """Private payloads waiting for a session to open."""
        return self._pairwise.queued

    @property
    def their_keys(self) -> int:
        """Sender keys others handed us that we keep (bounded, see :mod:`peer_keys`)."""
        return len(self._theirs)

    @property
    def held(self) -> int:
        """Room messages waiting for their sender's key (bounded, see :mod:`pending`)."""
        return len(self._pending)

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
        if kind == HANDSHAKE and data[:1] == b"\x01" and not self._hello_allowed(key, tag, now):
            return [], []  # unanswered, and before any Diffie-Hellman is done
        payloads, replies = self._pairwise.receive(key, kind, data, tag)
        heard: list[Heard] = []
        for payload in payloads:
            item = wire.decode_pairwise(payload)
            if isinstance(item, wire.ChatBody):
                heard.append(Heard(nick, None, item, now))
            elif self._shares_room is None or self._shares_room(nick, item.room):
                self._theirs.store(key, tag, item)
                heard += self._retry_pending(key, tag, item)
            # else: a key for a room we do not share with the sender; dropped unstored
        return heard, self._relays(replies)

    def _hello_allowed(self, key: bytes, tag: str, now: float) -> bool:
        """A peer may start a handshake (step 01) a few times, then once every 5 s: each
        costs us Diffie-Hellman and an answer charged to our own rate limit at the host."""
        bucket = self._hellos.get((key, tag))
        if bucket is None:
            bucket = self._hellos[key, tag] = TokenBucket(HELLO_BURST, HELLO_RATE, now)
        if bucket.take(now):
            return True
        if now - self._hello_warned.get((key, tag), float("-inf")) >= HELLO_WARN_EVERY:
            self._hello_warned[key, tag] = now
            self._notices.append(
                f"{self._names.get(tag, tag)} starts private handshakes too often; "
                "the extra ones are ignored"
            )
        return False

    def sealed(
        self, nick: str, key: bytes, room: str, data: bytes, ts: float, now: float
    ) -> Heard | None:
        """A room message; None while its key has not arrived yet (it is kept a while)."""
        envelope = wire.decode_sealed(data)
        slot = (key, nick.casefold(), room.casefold())
        sender_key = self._theirs.get(slot, envelope.epoch)
        if sender_key is None:
            if any(other.signed(envelope) for other in self._theirs.others(slot, envelope.epoch)):
                # Signed by another member's key: the host relabelled who sent it. (The
                # epoch id alone proves nothing: any member can hand out a copy of it.)
                raise RemoteProtocolError("the message was sealed by someone else", "e2e_forged")
            self._pending.add(Pending(now, key, nick, room, envelope, ts))
            return None
        return self._open(sender_key, nick, room, envelope, ts)

    @staticmethod
    def _open(key: PeerSenderKey, nick: str, room: str, envelope: wire.Sealed, ts: float) -> Heard:
        lost = envelope.counter - key.next_counter  # valid once open() has accepted it
        body = wire.decode_body(key.open(envelope))
        return Heard(nick, room, body, ts, max(0, lost))

    def _retry_pending(self, sender: bytes, tag: str, gift: wire.SenderKeyGift) -> list[Heard]:
        """Held messages of the epoch just handed to us: open those labelled with its
        sender; report as forged those labelled otherwise but signed by its sender."""
        room = gift.room.casefold()
        key = self._theirs.get((sender, tag, room), gift.epoch)
        if key is None:
            return []
        heard: list[Heard] = []
        for item in self._pending.take(
            lambda i: i.sealed.epoch == gift.epoch and i.room.casefold() == room
        ):
            if item.sender != (sender, tag):
                if key.signed(item.sealed):
                    self._forged.append(item.nick)  # sealed by this sender, labelled another
                else:
                    self._pending.add(item)  # a copy of someone else's epoch id: keep waiting
                continue
            try:
                heard.append(self._open(key, item.nick, item.room, item.sealed, item.ts))
            except RemoteProtocolError:
                self._forged.append(item.nick)
        return heard

    def take_forged(self) -> list[str]:
        forged, self._forged = self._forged, []
        return forged

    def take_notices(self, now: float) -> list[str]:
        """Warnings for the user: handshake floods, and (at most every few seconds, so a
        flood does not flood the screen too) held messages dropped for want of room."""
        notices, self._notices = self._notices, []
        evicted = self._pending.evicted
        if evicted and now - self._evicted_reported >= EVICTED_REPORT_EVERY:
            self._evicted_reported = now
            notices += [
                f"{count} held room message{'s' if count > 1 else ''} from {nick} dropped: "
                "too many were waiting for their keys"
                for nick, count in evicted.items()
            ]
            evicted.clear()
        return notices

    def expire(self, now: float) -> list[str]:
        """Nicks whose held messages never became readable (to warn about)."""
        return self._pending.expire(now)

    def tick(self, now: float) -> list[str]:
        """Every warning due now: held messages that expired (one line per sender), and
        :meth:`take_notices`."""
        lost = Counter(self.expire(now))
        return [
            f"a message from {nick} could not be decrypted: its key never arrived"
            if count == 1
            else f"{count} messages from {nick} could not be decrypted: their key never arrived"
            for nick, count in lost.items()
        ] + self.take_notices(now)


def lost_notice(heard: Heard) -> str:
    """``3 messages from bob in #rust were lost``: the counter skipped ahead."""
    where = (
        "the lobby" if heard.room is None or heard.room.casefold() == "lobby" else f"#{heard.room}"
    )
    many = heard.lost > 1
    return (
        f"{heard.lost} message{'s' if many else ''} from {heard.nick} in {where} "
        f"{'were' if many else 'was'} lost (the host did not deliver them)"
    )
