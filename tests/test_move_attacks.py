"""A move (PROTOCOL.md 4.8) against a host that does not play its part, and a user who
quits in the middle of one: the client neither hangs nor loses what was said.

Real TLS + Noise links to an in-process host, as in test_link_move.py; the hostile
hosts are that host with one step of the move left out.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from severus_cli.core.client.events import Disconnected, Left, UiEvent, Welcome
from severus_cli.core.host.actions import Action, Close, Participant, Send
from severus_cli.core.host.core import HostConfig, HostCore
from severus_cli.core.trust.identity import Identity, tls_paths
from severus_cli.core.trust.identity_format import digest_fingerprint, fingerprint
from severus_cli.core.trust.ticket import Endpoint
from severus_cli.core.wire import packets as p
from severus_cli.errors import ConnectionLost
from severus_cli.net.client_link import ClientLink
from severus_cli.net.host_loop import HostLoop
from severus_cli.net.link_move import ANSWER_WAIT, MOVED, OLD_WAIT, MoveRefused, move_session
from severus_cli.net.participant import RemoteParticipant
from severus_cli.net.tcp import serve_tcp
from severus_cli.net.tls import server_context
from severus_cli.net.trust_gate import HostPolicy
from severus_cli.runtime.connect import open_link
from severus_cli.runtime.participant_factory import new_core
from tests.event_loops import LOOPS, run_on
from tests.test_link_move import Chat as Person
from tests.test_link_move import eventually, make

pytestmark = [pytest.mark.timeout(90), pytest.mark.parametrize("loop", LOOPS)]
Dial = Callable[[Identity], Awaitable[ClientLink]]


class NeverOnOld(HostCore):
    """Takes a move, says ``moved`` on the new link, but never on the old one, which it
    leaves open: broken or hostile."""

    def _move(self, peer: Participant, holder: Participant | None, hello: p.Hello, now: float
              ) -> list[Action]:  # fmt: skip
        actions = super()._move(peer, holder, hello, now)
        return [a for a in actions if not isinstance(a, Send | Close) or a.conn == peer.conn]


class NeverAnswers(HostCore):
    """Answers the ping on the old link, then never answers the moving hello."""

    def _move(self, peer: Participant, holder: Participant | None, hello: p.Hello, now: float
              ) -> list[Action]:  # fmt: skip
        return []


class Chat(Person):
    session: asyncio.Task[Disconnected] | None = None  # its receive loop, once running


@asynccontextmanager
async def hosted(tmp: Path, core: HostCore) -> AsyncIterator[tuple[Chat, Chat, Identity, Dial]]:
    """ana and bob chatting on ``core``; also bob's identity and a way to dial again."""
    host_id = make(tmp / "host")
    cert, key = tls_paths(tmp / "host")
    host = HostLoop(core, host_id.static_private, host_id.cert_hash, log=lambda _: None)
    server = await serve_tcp(host, server_context(cert, key), "127.0.0.1", 0)
    endpoint = Endpoint("tcp", "127.0.0.1", server.sockets[0].getsockname()[1])
    policy = HostPolicy(tmp / "join", "ticket", expected=fingerprint(host_id.static_public))
    policy.remember, policy.cert = False, digest_fingerprint(host_id.cert_hash)

    async def dial(identity: Identity) -> ClientLink:
        return await open_link(identity, endpoint, policy, 20)

    chats: list[Chat] = []
    try:
        for nick in ("ana", "bob"):
            identity = make(tmp / nick)
            chats.append(Chat(identity, nick, await dial(identity)))
            await chats[-1].driver.register()
        for chat in chats:
            chat.session = asyncio.create_task(chat.driver.run())
        yield chats[0], chats[1], identity, dial
    finally:
        for chat in chats:
            if chat.session is not None:
                await stop(chat.session)
        server.close()


async def stop(task: asyncio.Task[Disconnected]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def config() -> HostConfig:
    return HostConfig(rate_burst=1000, rate_per_second=1000)


async def old_link_never_says_moved(tmp: Path) -> None:
    async with hosted(tmp, NeverOnOld(config(), time.time())) as (ana, bob, bob_id, dial):
        second = await dial(bob_id)
        await move_session(bob.driver, second)  # the host took it...
        bob.say("said after the move")  # ... and this waits for the old link's end
        started = time.monotonic()
        await eventually(lambda: "said after the move" in ana.heard("bob"), OLD_WAIT + 10)
        assert time.monotonic() - started >= OLD_WAIT - 1  # (not at once: it was waited for)
        assert bob.driver.link is second and bob.driver.move is None
        ana.say("and the new link carries the rest")
        await eventually(lambda: "and the new link carries the rest" in bob.heard("ana"))
        assert not [e for e in bob.seen if isinstance(e, Disconnected)]


def test_a_host_that_never_says_moved_on_the_old_link_holds_nothing_for_long(
    loop: str, tmp_path: Path
) -> None:
    run_on(loop, old_link_never_says_moved(tmp_path))


async def quit_mid_move(tmp: Path) -> None:
    async with hosted(tmp, NeverOnOld(config(), time.time())) as (ana, bob, bob_id, dial):
        bob.say("first words")  # (so ana holds bob's key: the last need no handshake)
        await eventually(lambda: "first words" in ana.heard("bob"))
        await move_session(bob.driver, await dial(bob_id))  # the host has it on the new link
        bob.say("last words")
        await stop(bob.session)  # /quit, as join_runner does it: the session task first
        await bob.driver.close("off to bed")
        await eventually(lambda: "last words" in ana.heard("bob"))
        await eventually(lambda: any(isinstance(e, Left) and e.nick == "bob" for e in ana.seen))
        (left,) = [e for e in ana.seen if isinstance(e, Left)]
        assert left.reason == "quit: off to bed"  # a goodbye, not a lost connection


def test_quit_during_a_move_says_the_last_lines_and_goodbye_where_the_session_is(
    loop: str, tmp_path: Path
) -> None:
    run_on(loop, quit_mid_move(tmp_path))


async def move_never_answered(tmp: Path) -> None:
    async with hosted(tmp, NeverAnswers(config(), time.time())) as (ana, bob, bob_id, dial):
        second = await dial(bob_id)
        moving = asyncio.create_task(move_session(bob.driver, second))
        await eventually(lambda: bob.driver.holding or moving.done())
        bob.say("said while the host sat on the move")
        with pytest.raises(MoveRefused, match="no answer in time"):
            await moving  # bounded: the session stays where it was
        assert not bob.driver.holding and bob.driver.link is not second
        await eventually(lambda: "said while the host sat on the move" in ana.heard("bob"))
        bob.say("and after")
        await eventually(lambda: "and after" in ana.heard("bob"))
        assert ana.heard("bob") == ["said while the host sat on the move", "and after"]
        assert not [e for e in bob.seen if isinstance(e, Disconnected)]


def test_a_move_the_host_never_answers_gives_up_in_time_and_loses_nothing(
    loop: str, tmp_path: Path
) -> None:
    run_on(loop, move_never_answered(tmp_path))


class OneBatch:
    """A link that delivers one batch, then ends."""

    path = "direct"

    def __init__(self, batch: list[bytes]) -> None:
        self.batch: list[bytes] | None = batch

    async def receive(self) -> list[bytes]:
        batch, self.batch = self.batch, None
        if batch is None:
            raise ConnectionLost("gone")
        return batch

    def send(self, payloads: list[bytes]) -> None:
        pass

    async def close(self) -> None:
        pass


async def stray_moved(tmp: Path) -> None:
    seen: list[UiEvent] = []
    welcome = p.encode(p.Welcome("bob", "ana", (("bob", bytes(32)),)))
    link: object = OneBatch([welcome, MOVED])  # a host's ``moved`` nobody asked for
    driver = RemoteParticipant(new_core(make(tmp / "bob"), "bob", None), link, seen.extend)  # type: ignore[arg-type]
    ended = await driver.run()
    assert "protocol error" in ended.reason and "no move was asked for" in ended.reason
    assert [type(e) for e in seen][:1] == [Welcome]  # what came before it is not lost


def test_a_stray_moved_ends_the_session_but_loses_nothing_before_it(
    loop: str, tmp_path: Path
) -> None:
    run_on(loop, stray_moved(tmp_path))


async def quit_as_the_move_starts(tmp: Path) -> None:
    async with hosted(tmp, HostCore(config(), time.time())) as (ana, bob, bob_id, dial):
        bob.say("first words")
        await eventually(lambda: "first words" in ana.heard("bob"))
        moving = asyncio.create_task(move_session(bob.driver, await dial(bob_id)))
        while bob.driver.move is None:  # the moving hello is out (no answer read yet)
            await asyncio.sleep(0)
        moving.cancel()  # Ctrl-C: join_runner stops the path search first...
        with pytest.raises(asyncio.CancelledError):
            await moving
        bob.say("said on the way out")
        await stop(bob.session)  # ... then the session, then says goodbye
        await bob.driver.close("bye")
        await eventually(lambda: any(isinstance(e, Left) and e.nick == "bob" for e in ana.seen))
        await eventually(lambda: "said on the way out" in ana.heard("bob"))
        (left,) = [e for e in ana.seen if isinstance(e, Left)]
        assert left.reason == "quit: bye"


def test_ctrl_c_just_after_the_moving_hello_loses_no_line_and_says_goodbye(
    loop: str, tmp_path: Path
) -> None:
    run_on(loop, quit_as_the_move_starts(tmp_path))


class NoPong(HostCore):
    """Never answers a ping: a move never gets past its first step."""

    def _dispatch(self, peer: Participant, packet: p.Packet, now: float) -> list[Action]:
        return [] if isinstance(packet, p.Ping) else super()._dispatch(peer, packet, now)


async def pong_never_comes(tmp: Path) -> None:
    async with hosted(tmp, NoPong(config(), time.time())) as (ana, bob, bob_id, dial):
        second = await dial(bob_id)
        moving = asyncio.create_task(move_session(bob.driver, second))
        await eventually(lambda: bob.driver.holding or moving.done())
        bob.say("said while no pong came")
        with pytest.raises(MoveRefused):
            await moving
        await eventually(lambda: "said while no pong came" in ana.heard("bob"))
        assert bob.driver.link is not second and bob.driver.move is None


def test_a_host_that_never_answers_the_ping_holds_nothing_for_long(
    loop: str, tmp_path: Path
) -> None:
    run_on(loop, pong_never_comes(tmp_path))


def test_the_documented_waits_are_the_code_s(loop: str) -> None:
    text = " ".join((Path(__file__).parent.parent / "PROTOCOL.md").read_text().split())
    assert (
        f"waits at most {ANSWER_WAIT:g} s for the `pong`, {ANSWER_WAIT:g} s for the answer" in text
    )
    assert f"{OLD_WAIT:g} s after the new connection's `moved` for the old one's" in text
