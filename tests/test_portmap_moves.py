"""Against a fake router on loopback: a renewal that comes back on another external
address reprints the host's ticket once and /ticket shows the new one; a joiner's
punching mapping is advertised only when it is on the address STUN saw, and deleted."""

from __future__ import annotations

import asyncio
import struct

from severus_cli.core.client.events import Notice, UiEvent
from severus_cli.core.nat.portmap import Mapped, moved
from severus_cli.core.trust.ticket import Endpoint, Ticket, decode_ticket
from severus_cli.runtime.controller import ChatController
from severus_cli.runtime.join_map import PunchMapping
from severus_cli.runtime.ticket_notes import HostTicket, ticket_notices
from tests.test_portmap_loopback import pcp_answer, with_router

LAN = Endpoint("quic", "10.0.1.2", 4000)


def test_only_another_address_or_port_is_a_move() -> None:
    old = Mapped("PCP", "192.0.3.10", 4000, 300)
    assert not moved(old, Mapped("PCP", "192.0.3.10", 4000, 120))  # a new lease only
    assert moved(old, Mapped("PCP", "192.0.3.99", 4000, 300))
    assert moved(old, Mapped("PCP", "192.0.3.10", 4001, 300))


def test_a_moved_mapping_reaches_on_move_once() -> None:
    async def run() -> None:
        external = ["192.0.3.10"]
        mapper, _ = await with_router(lambda data: pcp_answer(external[0])(data))
        moves: list[Mapped] = []
        mapper.on_move = moves.append
        assert await mapper.start() is not None
        assert isinstance(await mapper.renew_once(), Mapped) and moves == []
        external[0] = "192.0.3.99"
        await mapper.renew_once()
        await mapper.renew_once()  # the same again: no second notice
        assert [(m.external, m.port) for m in moves] == [("192.0.3.99", 4000)]
        assert mapper.mapped is not None and mapper.mapped.external == "192.0.3.99"
        await mapper.close()

    asyncio.run(run())


def test_the_hosts_ticket_follows_the_mapping() -> None:
    first = Endpoint("quic", "192.0.3.10", 4000)
    current = HostTicket(Ticket(bytes(32), bytes(32), (first, LAN)), "quic", ("192.0.3.10", 4000))
    printed = current()
    notice = current.moved("192.0.3.99", 4000)
    assert current() != printed and current() in notice  # the new ticket, whole, in one line
    endpoints = decode_ticket(current()).endpoints
    assert endpoints == (Endpoint("quic", "192.0.3.99", 4000), LAN)  # the old one is gone
    shown = ticket_notices(current, hosting=True, now=0.0)
    assert isinstance(shown[-1], Notice) and shown[-1].text == current()


class Screen:
    def __init__(self) -> None:
        self.events: list[UiEvent] = []

    def show_event(self, event: UiEvent) -> None:
        self.events.append(event)

    def clear(self) -> None:
        pass


def test_slash_ticket_in_the_hosts_chat_shows_the_current_ticket() -> None:
    current = HostTicket(Ticket(bytes(32), bytes(32), (LAN,)), "quic", None)
    screen = Screen()
    controller = ChatController(screen, stats=lambda now: None, ticket=current)  # type: ignore[arg-type,return-value]
    current.moved("192.0.3.99", 4000)
    assert controller.handle("/ticket")
    texts = [e.text for e in screen.events if isinstance(e, Notice)]
    assert texts[-1] == current() and "192.0.3.99" in str(decode_ticket(current()).endpoints[0])


def test_a_joiner_advertises_its_mapping_only_on_the_address_stun_saw() -> None:
    async def run() -> None:
        mapper, router = await with_router(pcp_answer("192.0.3.20"))
        mapping = PunchMapping(4000, mapper)
        await mapping._task
        assert mapping.endpoint(("192.0.3.20", 4000)) == ("192.0.3.20", 4000)
        assert mapping.endpoint(("192.0.3.20", 5555)) == ("192.0.3.20", 4000)  # ports moved
        # Seen on another address: a NAT beyond the router, where the mapping cannot help.
        assert mapping.endpoint(("198.51.100.7", 5555)) == ("198.51.100.7", 5555)
        mapping.close()
        for _ in range(100):
            if struct.unpack_from("!I", router.requests[-1], 4)[0] == 0:
                break
            await asyncio.sleep(0.01)
        assert struct.unpack_from("!I", router.requests[-1], 4)[0] == 0  # deleted

    asyncio.run(run())


def test_a_joiner_whose_router_is_silent_advertises_what_stun_saw() -> None:
    async def run() -> None:
        mapper, _ = await with_router(lambda data: [])
        mapping = PunchMapping(4000, mapper)
        assert mapping.endpoint(("192.0.3.20", 4000)) == ("192.0.3.20", 4000)  # no waiting
        mapping.close()

    asyncio.run(run())
