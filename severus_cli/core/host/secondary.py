"""Send-only connections under a nick already held by the same key (PROTOCOL.md 4.7).

A mixin of :class:`~severus_cli.core.host.core.HostCore`. ``severus send --nick bob`` while
bob's own chat is connected used to replace that chat ("you connected again from
elsewhere"), and everyone saw bob leave, come back and leave. Now a connection whose
hello says it only sends (``sendonly`` in its caps), with the key that holds the nick,
becomes a *secondary* of the holder instead: it is in nobody's roster and its coming
and going is not announced, yet what it sends is stamped with the holder's nick. Since
its key is the roster's key for that nick, receivers verify it as usual.

The one thing receivers must tell apart is the pairwise session (PROTOCOL.md 6.3): the
secondary runs its own, with its own Noise state, so whatever it sends carries ``via``
(1..MAX_VIA) and answers to it are addressed with the same ``via``. Only clients that
list ``via`` in their caps can keep the two apart: the others get nothing from a
secondary (they could not read it), and nothing about it.

A secondary posts only where its holder is (the lobby, and the holder's rooms), since
receivers keep a sender's keys only for rooms where the roster has that sender; it
hears every change of membership there, so it hands its keys to newcomers and rotates
them as a member would. It ends with its holder (a leave, a kick, a rename): past
that, the roster no longer vouches for the nick. A send-only holder's end, though,
is as unseen as its start: the first of its secondaries takes its place.

A chat that arrives while only sends hold its nick takes the nick, as any reconnect of
the key does; the sends are told ``nick_yielded`` rather than ``replaced``, so they
connect again, beside the chat now, and send what had not been acknowledged. The chat
is put in the sends' rooms, so they can go on posting there. So are the sends beside a
chat that reconnects (the same key again): a flaky link does not end a log follower.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import TYPE_CHECKING

from severus_cli.core.host.actions import (
    Action,
    Broadcast,
    Close,
    Log,
    Participant,
    Room,
    Send,
)
from severus_cli.core.wire import packets as p
from severus_cli.core.wire.packets import LOBBY, encode
from severus_cli.errors import RemoteProtocolError

VIA = "via"  # the capability: understands ``via`` and ``quiet`` (hello caps)
YIELDED = "nick_yielded"  # to sends whose nick a chat of their key took: come back beside it


class HostSecondary:
    _peers: dict[int, Participant]
    _rooms: dict[str, Room]
    _nicks: dict[str, int]
    _secondaries: int  # how many are connected: the common path skips them all at zero

    if TYPE_CHECKING:  # given by HostCore

        def _fatal(self, conn: int, code: str, message: str) -> list[Action]: ...

        def _reply_error(
            self, conn: int, request: int, code: str, message: str
        ) -> list[Action]: ...

        def _welcome(self, peer: Participant, rejoined: tuple[str, ...]) -> list[Action]: ...

        def closed(self, conn: int, now: float, reason: str = "") -> list[Action]: ...

    def _hearing(self, room: Room, but: int = 0) -> tuple[int, ...]:
        """Who hears of a change in ``room``: its members (``but`` one) and their
        secondaries, which must hand keys to newcomers and rotate them like members."""
        conns = tuple(c for c in room.members if c != but)
        if not self._secondaries:
            return conns
        extra = tuple(s for c in conns for s in self._peers[c].secondaries.values())
        return conns + extra

    def _attach(self, peer: Participant, holder: Participant, hello: p.Hello) -> list[Action]:
        """``peer`` (send-only, ``holder``'s key) becomes one of ``holder``'s secondaries."""
        taken = {holder.via, *holder.secondaries}
        via = next((v for v in range(1, p.MAX_VIA + 1) if v not in taken), 0)
        if not via:
            message = f"{p.MAX_VIA} sends run under the nick {holder.nick} already"
            return self._fatal(peer.conn, "nick_taken", message)
        peer.nick, peer.caps, peer.send_only = holder.nick, hello.caps, True
        peer.via, peer.holder = via, holder.conn
        holder.secondaries[via] = peer.conn
        self._secondaries += 1
        wanted = {room.casefold() for room in hello.rooms}
        rejoined = tuple(self._rooms[k].name for k in holder.rooms if k != LOBBY and k in wanted)
        return [*self._welcome(peer, rejoined), Log(f"{peer.nick} sends (via {via})")]

    def _detach(self, peer: Participant) -> list[Action]:
        """A secondary ended: the members that know of secondaries forget its sessions
        and keys (a ``left`` with its ``via``, which leaves the roster as it is)."""
        self._secondaries -= 1
        holder = self._peers.get(peer.holder)
        if holder is None:  # it ended with its holder, whose leave said it all
            return []
        holder.secondaries.pop(peer.via, None)
        lobby = self._rooms[LOBBY]
        knowing = tuple(c for c in lobby.members if c != holder.conn and self._knows(c))
        left = p.Left(peer.nick, LOBBY, len(lobby.members), "", quiet=True, via=peer.via)
        return [Broadcast(knowing, encode(left)), Log(f"{peer.nick} sent (via {peer.via})")]

    def _promote(self, holder: Participant) -> list[Action]:
        """A send-only holder ended while sends run beside it: the first of them holds
        the nick now, unseen. The roster does not change (same nick, same key), and it
        keeps its ``via``, so the others' sessions with it go on; what they address to
        the old holder (``via`` 0) is dropped."""
        via = min(holder.secondaries)
        heir = self._peers[holder.secondaries.pop(via)]
        heir.holder, heir.secondaries, heir.rooms = 0, holder.secondaries, holder.rooms
        for conn in heir.secondaries.values():
            self._peers[conn].holder = heir.conn
        self._secondaries -= 1
        self._nicks[heir.nick.casefold()] = heir.conn
        for key in heir.rooms:
            room = self._rooms[key]
            room.members = {heir.conn if c == holder.conn else c: None for c in room.members}
        return [Log(f"{heir.nick} sends on (via {via})")]

    def _drop_secondaries(self, holder: Participant, why: str) -> list[Action]:
        """Close ``holder``'s secondaries: the roster no longer vouches for them."""
        actions: list[Action] = []
        for conn in list(holder.secondaries.values()):
            actions += self._fatal(conn, "replaced", why)
        return actions

    def _take_over(
        self, old: Participant, hello: p.Hello, now: float
    ) -> tuple[list[Action], p.Hello]:
        """A full ``hello`` of ``old``'s key for its nick: the new connection takes over at
        once (a reconnect whose old link has not timed out yet), and ``old`` is closed.
        The sends beside it, or that held the nick alone (``old`` is send-only), make
        way (:meth:`_make_way`): the key still vouches for them, so they come back
        beside the newcomer, which is put in the rooms of sends that held the nick
        alone (the returned hello)."""
        if old.send_only:
            kept = tuple(self._rooms[k].name for k in old.rooms if k != LOBBY)
            sends = [*old.secondaries.values(), old.conn]  # its secondaries first
            return self._make_way(old, now, sends), replace(hello, rooms=(*kept, *hello.rooms))
        actions = self._make_way(old, now, list(old.secondaries.values()))
        actions += self.closed(old.conn, now, "reconnected")
        actions += self._fatal(old.conn, "replaced", "you connected again from elsewhere")
        return actions, hello

    def _make_way(self, old: Participant, now: float, sends: list[int]) -> list[Action]:
        """The ``sends`` under ``old``'s nick leave it, as unseen as ever, and are told
        ``nick_yielded``: they connect again, beside the chat, and send again what was
        not answered. Their connections stay open, ignored, until they close them: a
        close with their messages still unread would reset the connection, and could
        lose the answers and the ``nick_yielded`` written before it."""
        why = f"your chat took the nick {old.nick}: send beside it"
        error = encode(p.Error(None, YIELDED, why, fatal=True))
        actions: list[Action] = []
        for conn in sends:
            actions += self.closed(conn, now, "made way for its chat")
            stub = Participant(conn, old.key, accepted_at=now, last_seen=now, yielded=True)
            self._peers[conn] = stub  # unregistered: closed if still there at the timeout
            actions.append(Send(conn, error))
        return actions

    def _after_yield(self, peer: Participant, payload: bytes) -> list[Action]:
        """What a send that made way still sent: dropped, unanswered (so it is sent
        again); its goodbye closes the connection, all read."""
        with contextlib.suppress(RemoteProtocolError):
            if isinstance(p.decode_from_client(payload), p.Bye):
                return [Close(peer.conn, "made way for its chat")]
        return []

    def _knows(self, conn: int) -> bool:
        peer = self._peers.get(conn)
        return peer is not None and VIA in peer.caps

    def _join_secondary(self, peer: Participant, join: p.Join) -> list[Action]:
        """A secondary is in the rooms its holder is in, and no other."""
        room = self._rooms.get(join.room.casefold())
        if room is None or peer.holder not in room.members:
            message = f"{peer.nick} is not in {join.room}: join it in that chat first"
            return self._reply_error(peer.conn, join.id, "not_member", message)
        users = tuple(self._peers[c].nick for c in room.members)
        return [Send(peer.conn, encode(p.Users(join.id, room.name, users)))]

    def _route(self, sender: Participant, target: int, relay: p.Relay) -> list[Action]:
        """Deliver a relay, already charged, to ``target`` (the holder of ``relay.to``)
        or the secondary ``relay.via`` names. One that has gone, or a receiver that
        cannot tell a secondary from its holder, gets nothing: the blob is dropped."""
        ok = Send(sender.conn, encode(p.Ok(relay.id)))
        holder = self._peers[target]
        if relay.via != holder.via:  # (a holder has a via of its own once promoted)
            found = holder.secondaries.get(relay.via) if relay.via else None
            if found is None:
                return [ok]  # it ended meanwhile (its peers were told), or was promoted
            target = found
        if sender.via and not self._knows(target):
            return [ok]
        relayed = p.Relayed(sender.nick, relay.kind, relay.data, sender.via)
        return [Send(target, encode(relayed)), ok]
