"""PortMapper against a fake router on loopback: what people are told when a router
maps, refuses, speaks only NAT-PMP, answers garbage, reports a carrier-grade NAT
address, or says nothing. Only PCP and NAT-PMP: UPnP discovery would multicast."""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Callable
from typing import cast

import pytest

from severus_cli.core.nat.portmap import Mapped, natpmp, pcp
from severus_cli.net.portmap_io import default_gateway
from severus_cli.runtime.portmap import PortMapper

Answer = Callable[[bytes], list[bytes]]


class FakeRouter(asyncio.DatagramProtocol):
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.requests.append(data)
        assert self.transport is not None
        for reply in self.answer(data):
            self.transport.sendto(reply, addr)


def pcp_answer(external: str = "192.0.3.10", result: int = 0) -> Answer:
    def answer(data: bytes) -> list[bytes]:
        if data[0] != 2:
            return []
        lifetime = struct.unpack_from("!I", data, 4)[0]
        header = struct.pack("!BBxBII12x", 2, 0x81, result, lifetime, 5)
        body = data[24:60]
        packed = bytes(10) + b"\xff\xff" + bytes(int(x) for x in external.split("."))
        return [b"\x00garbage", header + body[:20] + packed]

    return answer


def natpmp_only(data: bytes) -> list[bytes]:
    if data[0] != 0:
        return [bytes.fromhex("0081000100000000")]  # "unsupported version", in NAT-PMP
    if data[1] == 0:
        return [bytes.fromhex("008000000000aaaa") + bytes([192, 0, 3, 10])]
    internal, _, lifetime = struct.unpack_from("!HHI", data, 4)
    return [struct.pack("!BBHIHHI", 0, 128 + data[1], 0, 9, internal, internal, lifetime)]


async def with_router(answer: Answer, protocol: str = "udp") -> tuple[PortMapper, FakeRouter]:
    loop = asyncio.get_running_loop()
    transport, router = await loop.create_datagram_endpoint(
        lambda: FakeRouter(answer), local_addr=("127.0.0.1", 0)
    )
    port = transport.get_extra_info("sockname")[1]
    mapper = PortMapper(protocol, 4000, lambda _: None, gateway="127.0.0.1",
                        methods=("PCP", "NAT-PMP"), pmp_port=port)  # fmt: skip
    return mapper, router


def test_pcp_mapping_is_described_and_deleted() -> None:
    async def run() -> None:
        mapper, router = await with_router(pcp_answer())
        mapped = await mapper.start()
        assert mapped is not None and (mapped.protocol, mapped.external) == ("PCP", "192.0.3.10")
        assert "192.0.3.10:4000  via the router, PCP" in mapper.describe()[0]
        await mapper.close()
        assert struct.unpack_from("!I", router.requests[-1], 4)[0] == 0  # lifetime 0: delete

    asyncio.run(run())


def test_a_natpmp_only_router_is_asked_in_natpmp() -> None:
    async def run() -> None:
        mapper, router = await with_router(natpmp_only, "tcp")
        mapped = await mapper.start()
        assert mapped is not None and (mapped.protocol, mapped.port) == ("NAT-PMP", 4000)
        await mapper.close()
        assert router.requests[-1][1] == 2 and router.requests[-1][-4:] == bytes(4)

    asyncio.run(run())


@pytest.mark.parametrize("external", ["100.64.12.1", "192.168.1.254"])
def test_a_router_behind_another_nat_is_said_plainly(external: str) -> None:
    async def run() -> None:
        mapper, router = await with_router(pcp_answer(external))
        assert await mapper.start() is None
        (note,) = mapper.describe()
        assert external in note and "behind another NAT" in note and "--relay" in note
        assert struct.unpack_from("!I", router.requests[-1], 4)[0] == 0  # deleted again

    asyncio.run(run())


def test_a_refusal_names_the_protocol_and_the_reason() -> None:
    async def run() -> None:
        mapper, _ = await with_router(pcp_answer(result=2))
        assert await mapper.start() is None
        assert "PCP refused: not authorized" in mapper.describe()[0]

    asyncio.run(run())


def test_a_silent_router_costs_little_and_is_said_in_one_line() -> None:
    async def run() -> None:
        mapper, _ = await with_router(lambda data: [])
        started = time.monotonic()
        assert await mapper.start() is None
        assert time.monotonic() - started < 2.5
        (note,) = mapper.describe()
        assert "no answer from the router" in note

    asyncio.run(run())


def test_default_gateway_reads_the_route_table(tmp_path: object) -> None:
    from pathlib import Path

    table = Path(str(tmp_path)) / "route"
    table.write_text(
        "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n"
        "eth0\t0001000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\n"
        "eth0\t00000000\t0101000A\t0003\t0\t0\t0\t00000000\n"
    )
    assert default_gateway(table) == "10.0.1.1"
    table.write_text("garbage\n\x00\x01 00000000 zz 3\n")
    assert default_gateway(table) is None
    assert default_gateway(table.with_name("missing")) is None
    assert natpmp.PORT == pcp.PORT == 5351


def test_a_renewal_learns_a_moved_address() -> None:
    async def run() -> None:
        external = ["192.0.3.10"]
        mapper, _ = await with_router(lambda data: pcp_answer(external[0])(data))
        assert await mapper.start() is not None
        external[0] = "192.0.3.99"
        renewed = await mapper._renew()
        assert isinstance(renewed, Mapped) and renewed.external == "192.0.3.99"
        await mapper.close()

    asyncio.run(run())
