"""What a participant knows of the host, and the plumbing that both the user's actions
(:mod:`severus_cli.core.client.core`) and the host's packets
(:mod:`severus_cli.core.client.inbound`) go through: pacing, relays, meeting a
participant, and turning what the keyring heard into events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from severus_cli.core.client import events as ev
from severus_cli.core.client import via as client_via
from severus_cli.core.client.membership import MembershipLog, Snapshot, shares_room, snapshot
from severus_cli.core.client.rename import Later, RenameState
from severus_cli.core.client.requests import Requests
from severus_cli.core.client.roster import MAX_ROSTER, Roster
from severus_cli.core.client.text_limits import SEAL_OVERHEAD
from severus_cli.core.e2e.keyring import Heard, Keyring, Relay, lost_notice
from severus_cli.core.trust.peer_trust import PeerGuard
from severus_cli.core.wire import packets as p
from severus_cli.core.wire.packets import LOBBY
from severus_cli.errors import RemoteProtocolError

CLIENT_NAME = "severus/0.1"
# UTF-8 bytes of text in one message: it must fit, sealed, in one packet.
MAX_TEXT_BYTES = p.MAX_DATA - SEAL_OVERHEAD  # less if the host announces a lower max_data
COUNTED = frozenset({"seal", "dm", "key"})  # requests that carry what the user said

PeerChecker = Callable[[str, bytes], str | None]
"""Told of every (nick, identity key) seen; returns a warning to show, or None."""


class ClientState:
    """One participant's view of a host: the state, and the steps shared by both ways in."""

    def __init__(
        self,
        nick: str,
        now: float,
        rooms: tuple[str, ...] = (),
        *,
        static_private: bytes,
        static_public: bytes,
        peer_checker: PeerChecker | None = None,
        peer_guard: PeerGuard | None = None,
        ping_interval: float = 5.0,
        dead_after: float = 20.0,
        before: Snapshot | None = None,
        send_only: bool = False,
    ) -> None:
        """``before``: who was in our rooms in the previous session (after a reconnect),
        shown against who is there now. ``send_only``: we only send (``severus send``), so
        we may run beside our own chat under its nick, unseen (PROTOCOL.md 4.7)."""
        self.nick = nick
        self.key = static_public
        self.host_nick = ""
        self.current_room = LOBBY
        self.rooms: dict[str, str] = {}  # casefolded -> display name, lobby excluded
        self.roster = Roster()
        self._roster_warned = False  # past MAX_ROSTER already said this session
        self.keyring = Keyring(
            static_private,
            static_public,
            nick,
            shares_room=lambda who, room: shares_room(
                self.roster, self.rooms, client_via.nick_of(who), room
            ),
        )
        self.membership = MembershipLog(before)
        self.registered = False
        self.rejected: p.Error | None = None  # the fatal error that ended the session
        self.failures: list[p.Error] = []  # errors for requests we made
        self.rtt_ms: float | None = None
        self.limits = p.RateLimits()
        self.ping_interval = ping_interval
        self.dead_after = dead_after
        self.peers = peer_guard or PeerGuard(None, "")  # whose keys we may encrypt to
        self.peers.own_nick, self.peers.own_key = (lambda: self.nick), static_public
        self.check_peer = peer_checker or self.peers.check
        self._wanted_rooms = rooms
        self.requests = Requests(self.limits, now)
        caps = (*p.CAPS, p.SEND_ONLY) if send_only else p.CAPS
        self._hello = p.Hello(nick, CLIENT_NAME, rooms, caps)
        self.requests.send(self._hello)
        self.hello_refused: p.Error | None = None  # "slow down" to our hello: say it again
        self.host_caps: tuple[str, ...] = ()  # what the host accepts (its welcome's caps)
        self.renaming = RenameState()  # our /nick awaiting the host
        self._unsettled: list[Later] = []  # said before the roster was known
        self._told_pacing = False
        self.quit_reason = ""  # from /quit REASON, sent when the session is closed
        self._said_bye = False
        self._last_heard = now
        self._last_ping = now

    # --- plumbing ----------------------------------------------------------------

    def packets_to_send(self) -> list[bytes]:
        return self.requests.take()

    @property
    def last_id(self) -> int:
        """Id of the newest request, so callers can match its answer."""
        return self.requests.last_id

    @property
    def unacknowledged(self) -> int:
        """Messages (and the keys to read them) not yet confirmed by the host."""
        return self.requests.count(COUNTED) + self.keyring.queued + len(self._unsettled)

    @property
    def settling(self) -> bool:
        """Still learning who is in the rooms we were put back in (after a welcome)."""
        return self.requests.count(frozenset({"rejoin"})) > 0

    @property
    def roster_known(self) -> bool:
        """Welcomed, and the rooms it put us back in are listed: who gets our keys is known."""
        return self.registered and not self.settling

    def hold_until_known(self, action: Later) -> list[ev.UiEvent]:
        """Keep ``action`` (something said) until :attr:`roster_known`. Before the welcome
        (a reconnect hands the new session typed lines at once) or while the rooms are
        being listed, it would be sealed with no key for those members: unreadable."""
        self._unsettled.append(action)
        return []

    def _release_unsettled(self, now: float) -> list[ev.UiEvent]:
        """What :meth:`hold_until_known` kept, in order, once the roster is known."""
        if not self._unsettled or not self.roster_known:
            return []
        held, self._unsettled = self._unsettled, []
        return [event for action in held for event in action(now)]

    def snapshot(self) -> dict[str, tuple[str, ...]]:
        """Who is in our rooms now, for the session after a reconnect to compare with."""
        return snapshot(self.roster, self.rooms)

    @property
    def queued(self) -> int:
        """Messages held back to respect the host's rate limit."""
        return self.requests.queued

    def _release(self, now: float) -> None:
        self.requests.release(now)
        if not self.requests.queued:
            self._told_pacing = False

    def _held_back(self, now: float) -> list[ev.UiEvent]:
        """Say once, when messages start waiting for the host's rate limit, why they are
        slow to arrive (the host would refuse them if we sent them at once)."""
        if not self.requests.queued or self._told_pacing:
            return []
        self._told_pacing = True
        return [
            ev.Notice(
                now,
                f"sending slowly: the host allows {self.limits.rate:g} messages a second "
                f"after a burst of {self.limits.burst:g}; {self.requests.queued} waiting",
                "warn",
            )
        ]

    def _relay(self, relays: list[Relay], now: float) -> None:
        """Send blobs for other participants; private messages are paced like room ones."""
        for relay in relays:
            to, via = client_via.split(relay.nick)  # a send-only connection's (4.7)
            packet = p.Relay(self.requests.new_id(), to, relay.kind, relay.data, via)
            self.requests.ask(
                packet, relay.kind, now, relay.nick, quiet=True, paced=relay.kind == "dm"
            )

    def _meet(self, nick: str, key: bytes, now: float) -> list[ev.UiEvent]:
        """A participant (re)appeared: remember their key and check it."""
        if key == self.key and nick.casefold() == self.nick.casefold():
            return []
        if self.roster.full(nick):
            return self._roster_full(now)
        self.roster.add(nick, key)
        self.keyring.peer_joined(nick, key)
        warning = self.check_peer(nick, key)
        return [ev.Notice(now, warning, "warn")] if warning else []

    def _roster_full(self, now: float) -> list[ev.UiEvent]:
        """A newcomer past ``MAX_ROSTER``: refused (no key of ours goes to it), said once
        a session, since only a hostile host announces that many."""
        if self._roster_warned:
            return []
        self._roster_warned = True
        text = (
            f"the host announced more than {MAX_ROSTER:,} participants; the rest are "
            "ignored and get nothing from you (no host has that many: it may be hostile)"
        )
        return [ev.Notice(now, text, "warn")]

    def _forged(self, nick: str, error: RemoteProtocolError, now: float) -> ev.Notice:
        return ev.Notice(
            now,
            f"a message claiming to be from {nick} failed end-to-end "
            f"verification and was dropped ({error.message})",
            "warn",
        )

    def _heard(self, heard: list[Heard], now: float) -> list[ev.UiEvent]:
        events: list[ev.UiEvent] = []
        for h in heard:
            nick = client_via.nick_of(h.nick)  # a send-only connection's lines: its nick's
            if h.lost:  # the counter skipped: say so, or the gap goes unseen
                events.append(ev.Notice(now, lost_notice(replace(h, nick=nick)), "warn"))
            events.append(
                ev.DirectMessage(h.ts, nick, h.body.text, h.body.action)
                if h.room is None
                else ev.ChatMessage(h.ts, nick, h.room, h.body.text, h.body.action)
            )
        events += [
            self._forged(client_via.nick_of(nick), RemoteProtocolError("bad signature"), now)
            for nick in self.keyring.take_forged()
        ]
        events += [ev.Notice(now, text, "warn") for text in self.keyring.take_notices(now)]
        return events
