"""Packets from the host become events for the screen (PROTOCOL.md 4).

Each packet type has its handler, ``_on_<type>``; :meth:`HostPackets.receive` decodes
one payload and dispatches it. Room messages and private ones are opened through the
keyring, so a host that forges or replays them is caught here.
"""

from __future__ import annotations

from severus_cli.core.client import events as ev
from severus_cli.core.client import via as client_via
from severus_cli.core.client.rename import on_renamed, refused
from severus_cli.core.client.state import ClientState
from severus_cli.core.trust.identity_format import fingerprint
from severus_cli.core.trust.peer_trust import dropped_notice, whois_mismatch
from severus_cli.core.wire import packets as p
from severus_cli.core.wire.packets import LOBBY
from severus_cli.errors import RemoteProtocolError


class HostPackets(ClientState):
    """The participant's answers to what the host sends."""

    def receive(self, payload: bytes, now: float) -> list[ev.UiEvent]:
        """Handle one packet from the host; raises RemoteProtocolError on junk."""
        self._last_heard = now
        packet = p.decode_from_host(payload)
        handler = getattr(self, "_on_" + packet.TYPE)
        events: list[ev.UiEvent] = []
        if packet.TYPE != "roster":  # the lobby's pages are over: compare it with before
            events += self.membership.settle(self.roster, self.nick, now)
        events += handler(packet, now)
        return events + self._release_unsettled(now)

    def _on_welcome(self, packet: p.Welcome, now: float) -> list[ev.UiEvent]:
        if self.registered:
            raise RemoteProtocolError("a second welcome", "bad_packet")
        self.registered = True
        self.nick = packet.nick
        self.host_nick = packet.host
        self.roster.reset(packet.users)
        self.rooms = {r.casefold(): r for r in packet.rooms}
        self.limits = packet.limits
        self.host_caps = packet.caps
        self.requests.new_limits(packet.limits, now)
        wanted = self._wanted_rooms[-1].casefold() if self._wanted_rooms else LOBBY
        self.current_room = self.rooms.get(wanted, LOBBY)
        nicks = tuple(nick for nick, _ in packet.users)
        out: list[ev.UiEvent] = [ev.Welcome(now, packet.nick, packet.host, nicks)]
        for nick, key in packet.users:
            out += self._meet(nick, key, now)
        out += self.membership.welcome(len(packet.users), packet.rooms, self.roster, self.nick, now)
        for room in packet.rooms:  # learn who is in the rooms we were put back in
            self.requests.ask(
                p.Names(self.requests.new_id(), room), "rejoin", now, room, quiet=True
            )
        if packet.motd:
            out.append(ev.Notice(now, packet.motd))
        if self.current_room != LOBBY:  # put back in a room: say where plain lines go
            out.append(ev.RoomChanged(now, self.current_room, ()))
        return out

    def _on_roster(self, packet: p.Roster, now: float) -> list[ev.UiEvent]:
        out: list[ev.UiEvent] = []
        for nick, key in packet.users:
            out += self._meet(nick, key, now)
        added = tuple(nick for nick, _ in packet.users)
        return out + self.membership.page(added, self.roster, self.nick, now)

    def _on_ok(self, packet: p.Ok, now: float) -> list[ev.UiEvent]:
        self.requests.answered(packet.id)
        return []

    def _on_err(self, packet: p.Error, now: float) -> list[ev.UiEvent]:
        if packet.fatal:
            self.rejected = packet
            return [ev.Disconnected(now, packet.msg or packet.code)]
        if not self.registered and packet.code == "rate_limited":
            self.hello_refused = packet  # too many joins from our address: not final
            return []
        request = self.requests.answered(packet.id)
        if request is not None:
            self.failures.append(packet)
            if request.kind == "join":
                return [ev.Notice(now, f"cannot join {request.subject}: {packet.msg}", "error")]
            if request.kind == "nick":
                why = ev.Notice(now, f"cannot be {request.subject}: {packet.msg}", "error")
                return [why, *refused(self, now)]
        return [ev.Notice(now, packet.msg or packet.code, "error")]

    def _on_sealed(self, packet: p.Sealed, now: float) -> list[ev.UiEvent]:
        if packet.sender.casefold() == self.nick.casefold():
            error = RemoteProtocolError("the host claims it came from us", "e2e_forged")
            return [self._forged(packet.sender, error, now)]
        key = self.roster.key_of(packet.sender)
        if key is None:
            return [ev.Notice(now, f"a room message from unknown {packet.sender} dropped", "warn")]
        if self.peers.blocked(packet.sender, key):
            return [ev.Notice(now, dropped_notice(packet.sender), "warn")]
        try:
            sender = client_via.alias(packet.sender, packet.via)
            heard = self.keyring.sealed(sender, key, packet.room, packet.data, packet.ts, now)
        except RemoteProtocolError as error:
            return [self._forged(packet.sender, error, now)]
        return self._heard([heard] if heard else [], now)

    def _on_relayed(self, packet: p.Relayed, now: float) -> list[ev.UiEvent]:
        key = self.roster.key_of(packet.sender)
        if key is None:
            return [
                ev.Notice(now, f"a private message from unknown {packet.sender} dropped", "warn")
            ]
        try:
            sender = client_via.alias(packet.sender, packet.via)
            heard, replies = self.keyring.relayed(sender, key, packet.kind, packet.data, now)
        except RemoteProtocolError as error:
            return [self._forged(packet.sender, error, now)]
        self._relay(replies, now)
        if heard and self.peers.blocked(packet.sender, key):
            return [ev.Notice(now, dropped_notice(packet.sender), "warn")]
        return self._heard(heard, now)

    def _on_joined(self, packet: p.Joined, now: float) -> list[ev.UiEvent]:
        if self.roster.full(packet.nick, packet.room):  # made up, surely: not shown
            return self._roster_full(now)
        out: list[ev.UiEvent] = []
        was_there = self.roster.present(packet.room, packet.nick)
        if packet.room == LOBBY:
            out += self._meet(packet.nick, packet.key, now)
        if self.roster.joined_room(packet.room, packet.nick):
            self.keyring.membership_changed(packet.room)  # the newcomer reads only what follows
        self.roster.arrived(packet.room, packet.nick, packet.quiet, was_there)  # quiet: no keys
        return [ev.Joined(now, packet.nick, packet.room, packet.count, packet.quiet), *out]

    def _on_left(self, packet: p.Left, now: float) -> list[ev.UiEvent]:
        if packet.via:  # one send-only connection of the nick ended; the nick stays (4.7)
            key = self.roster.key_of(packet.nick)
            if key is not None:
                self.keyring.peer_left(key, client_via.alias(packet.nick, packet.via))
            return []
        if packet.room == LOBBY:
            key, rooms = self.roster.remove(packet.nick)
            if key is not None:
                for name in [packet.nick, *client_via.aliases(packet.nick)]:
                    self.keyring.peer_left(key, name)
            for room in [LOBBY, *rooms]:
                self.keyring.membership_changed(room)  # they must not read what follows
        elif self.roster.left_room(packet.room, packet.nick):
            self.keyring.membership_changed(packet.room)
        return [ev.Left(now, packet.nick, packet.room, packet.count, packet.reason, packet.quiet)]

    def _on_users(self, packet: p.Users, now: float) -> list[ev.UiEvent]:
        request = self.requests.answered(packet.id)
        kind = request.kind if request else ""
        if kind in ("join", "rejoin"):
            self.rooms[packet.room.casefold()] = packet.room
            self.roster.enter(packet.room, packet.users)
            if kind == "rejoin":  # the host put us (back) in it: show who is there
                return [self.membership.diff(packet.room, packet.users, self.nick, now)]
            self.current_room = packet.room
            return [ev.RoomChanged(now, packet.room, packet.users)]
        return [ev.UserList(now, packet.room, packet.users)]

    def _on_roomlist(self, packet: p.RoomList, now: float) -> list[ev.UiEvent]:
        self.requests.answered(packet.id)
        return [ev.RoomList(now, packet.rooms)]

    def _on_whoisreply(self, packet: p.WhoisReply, now: float) -> list[ev.UiEvent]:
        self.requests.answered(packet.id)
        key = self.roster.key_of(packet.nick) or packet.key  # the key we encrypt to
        info = ev.WhoisInfo(now, packet.nick, fingerprint(key), packet.rooms, packet.since)
        if key == packet.key:
            return [info]
        return [info, ev.Notice(now, whois_mismatch(packet.nick, key, packet.key), "warn")]

    def _on_pong(self, packet: p.Pong, now: float) -> list[ev.UiEvent]:
        request = self.requests.answered(packet.id)
        if request is None or request.kind != "ping":
            return []
        self.rtt_ms = (now - request.sent_at) * 1000.0
        return [] if request.quiet else [ev.PingResult(now, self.rtt_ms)]

    def _on_renamed(self, packet: p.Renamed, now: float) -> list[ev.UiEvent]:
        return on_renamed(self, packet, now)

    def _on_bye(self, packet: p.Bye, now: float) -> list[ev.UiEvent]:
        return [ev.Disconnected(now, packet.reason or "the host closed the session")]

    def _on_moved(self, packet: p.Moved, now: float) -> list[ev.UiEvent]:
        # The driver takes the ``moved`` of a move it asked for (net/link_move.py).
        raise RemoteProtocolError("moved, but no move was asked for", "bad_packet")
