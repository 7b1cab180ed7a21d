"""Ask the home router to forward the host's port: the asyncio side of core.portmap.

``PortMapper.start`` asks, within about two seconds, so starting a host never waits
long: PCP first (falling back to NAT-PMP when the router answers in that older
protocol), with UPnP-IGD discovery running alongside and used when neither answers or
both refuse. The lease is short and renewed halfway; ``close`` deletes the mapping, so
a host that stops leaves no open port behind, and one that is killed leaves it only
until the lease runs out. Imported only by ``severus host``, and by ``join`` when it
punches (``runtime.join_map``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable

from severus_cli.core.nat.portmap import (
    DEFAULT_LEASE,
    Mapped,
    PortmapError,
    Refused,
    behind_another_nat,
    moved,
    natpmp,
    pcp,
    renew_after,
    upnp,
)
from severus_cli.net.portmap_io import (
    Datagrams,
    ask_udp,
    default_gateway,
    http,
    local_address_towards,
)

METHODS = ("PCP", "NAT-PMP", "UPnP")
BUDGET = 2.0  # seconds start() may take, all protocols together
NO_EXTERNAL = "the router has no public address of its own (is it behind another NAT?)"
SSDP_WAIT = 1.0  # for each answer to the discovery search


class PortMapper:
    """One mapping of ``port`` (``"tcp"`` or ``"udp"``) on the default gateway.

    ``notes`` collects why there is no mapping, one line each, for people to read
    (``describe`` shows the mapping itself). ``log`` receives later news: a renewal that
    failed; ``on_move`` a renewal that came back with another external address or port
    (the router's own address changed, or it rebooted and gave another port).
    """

    def __init__(
        self,
        protocol: str,
        port: int,
        log: Callable[[str], None],
        *,
        gateway: str | None = None,
        lease: int = DEFAULT_LEASE,
        methods: tuple[str, ...] = METHODS,
        pmp_port: int = natpmp.PORT,
    ) -> None:
        self.protocol = protocol
        self.methods = methods  # tests pick one; people get all three
        self.pmp_port = pmp_port
        self.port = port
        self.lease = lease
        self.log = log
        self.gateway = gateway
        self.notes: list[str] = []
        self.mapped: Mapped | None = None
        self.on_move: Callable[[Mapped], None] = self._log_move
        self._nonce = os.urandom(pcp.NONCE_SIZE)
        self._client = ""
        self._igd: tuple[upnp.Url, str] | None = None
        self._renewer: asyncio.Task[None] | None = None

    async def start(self, budget: float = BUDGET) -> Mapped | None:
        """Ask for the mapping; the mapping, or None with the reason in ``notes``."""
        self.gateway = self.gateway or default_gateway()
        if self.gateway is None:
            self.notes.append("port mapping: no default gateway, so no router to ask")
            return None
        try:
            self._client = local_address_towards(self.gateway)
        except OSError as error:
            self.notes.append(f"port mapping: cannot reach the router: {error.strerror}")
            return None
        refusals: list[Refused] = []
        try:
            async with asyncio.timeout(budget):
                mapped = await self._first_mapping(refusals)
        except TimeoutError:
            mapped = None
        if mapped is None:
            if refusals:
                why = "; ".join(f"{r.protocol} refused: {r.reason}" for r in refusals)
                self.notes.append(
                    f"port mapping: the router said no ({why}); "
                    "friends outside this network need --relay"
                )
            else:
                self.notes.append(
                    f"port mapping: no answer from the router ({self.gateway}) to PCP, "
                    "NAT-PMP or UPnP; friends outside this network need --relay"
                )
            return None
        if behind_another_nat(mapped.external):
            self.notes.append(
                f"port mapping: the router's own external address is {mapped.external}, "
                "itself behind another NAT (carrier-grade NAT, or a second router): "
                "nobody outside can reach the mapping. Use --relay HOST:PORT."
            )
            self.mapped = mapped
            await self.close()
            return None
        self.mapped = mapped
        self._renewer = asyncio.create_task(self._renew_forever())
        return mapped

    def describe(self) -> list[str]:
        """Lines for the host's list of addresses: the mapping, or why there is none."""
        if self.mapped is None:
            return list(self.notes)
        mapped = self.mapped
        lease = f"lease {mapped.lifetime} s, renewed" if mapped.lifetime else "permanent"
        return [f"  {mapped.external}:{mapped.port}  via the router, {mapped.protocol} ({lease})"]

    async def _first_mapping(self, refusals: list[Refused]) -> Mapped | None:
        igd = asyncio.create_task(self._discover_igd())
        try:
            result = await self._map_pmp() if "PCP" in self.methods else None
            if result is None and self.methods == ("NAT-PMP",):
                result = await self._map_natpmp(self.lease)
            if isinstance(result, Mapped):
                return result
            if result is not None:
                refusals.append(result)
            if "UPnP" not in self.methods:
                return None
            try:
                self._igd = await igd
            except (OSError, PortmapError, TimeoutError):
                return None
            if self._igd is None:
                return None
            upnp_result = await self._map_upnp()
            if isinstance(upnp_result, Refused):
                refusals.append(upnp_result)
                return None
            return upnp_result
        finally:
            igd.cancel()

    async def _map_pmp(self, lifetime: int | None = None) -> Mapped | Refused | None:
        """PCP, or NAT-PMP when the router only speaks that."""
        assert self.gateway is not None
        lease = self.lease if lifetime is None else lifetime
        request = pcp.map_request(self._nonce, self.protocol, self._client, self.port, lease,
                                  self.port)  # fmt: skip

        def accept(data: bytes) -> pcp.PcpReply | None:
            reply = pcp.decode(data)
            if reply.result == 0 and (
                reply.nonce != self._nonce or reply.internal_port != self.port
                or reply.protocol != self.protocol
            ):  # fmt: skip
                return None  # not the answer to our request
            return reply

        try:
            got = await ask_udp(self.gateway, self.pmp_port, request, accept)
        except pcp.SpeaksNatPmp:
            return await self._map_natpmp(lease) if "NAT-PMP" in self.methods else None
        except OSError:
            return None
        if not isinstance(got, pcp.PcpReply):
            return None
        if got.result != 0:
            return Refused("PCP", pcp.result_words(got.result))
        return Mapped("PCP", got.external, got.port, got.lifetime)

    async def _map_natpmp(self, lease: int) -> Mapped | Refused | None:
        assert self.gateway is not None
        ask = natpmp.external_request()
        address = await ask_udp(self.gateway, self.pmp_port, ask, _natpmp_reply(0))
        if not isinstance(address, natpmp.NatPmpReply):
            return None
        if address.result != 0:
            return Refused("NAT-PMP", natpmp.result_words(address.result))
        wanted = natpmp.map_request(self.protocol, self.port, self.port if lease else 0, lease)
        op = 1 if self.protocol == "udp" else 2
        got = await ask_udp(self.gateway, self.pmp_port, wanted, _natpmp_reply(op, self.port))
        if not isinstance(got, natpmp.NatPmpReply):
            return None
        if got.result != 0:
            return Refused("NAT-PMP", natpmp.result_words(got.result))
        return Mapped("NAT-PMP", address.external or "", got.port, got.lifetime)

    async def _discover_igd(self) -> tuple[upnp.Url, str] | None:
        """The router's WAN connection control URL, from SSDP (to the multicast group and
        to the gateway itself, since some routers only answer one) and the description."""
        assert self.gateway is not None
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            Datagrams, local_addr=(self._client, 0)
        )
        try:
            for target in (upnp.SSDP_GROUP, self.gateway):
                with contextlib.suppress(OSError):
                    transport.sendto(upnp.search_request(), (target, upnp.SSDP_PORT))
            while True:  # routers answer within milliseconds; MX 1 bounds the wait
                got = await asyncio.wait_for(protocol.queue.get(), SSDP_WAIT)
                if isinstance(got, OSError):
                    continue
                with contextlib.suppress(PortmapError):
                    location = upnp.search_location(*got)
                    break
        finally:
            transport.close()
        description = await http(location, upnp.http_request("GET", location))
        if description.status != 200:
            raise PortmapError(f"description: HTTP {description.status}")
        return upnp.control_url(description.body, location)

    async def _soap(self, action: str, arguments: dict[str, str]) -> upnp.HttpReply:
        assert self._igd is not None
        url, service = self._igd
        body = upnp.soap_body(service, action, arguments)
        return await http(url, upnp.http_request("POST", url, body, f"{service}#{action}"))

    async def _map_upnp(self) -> Mapped | Refused | None:
        try:
            answer = await self._soap("GetExternalIPAddress", {})
            if not upnp.soap_result(answer, "NewExternalIPAddress"):
                return Refused("UPnP", NO_EXTERNAL)
            external = upnp.external_address(answer)
            lease = self.lease
            args = upnp.add_mapping_args(self.port, self.protocol, self._client, lease)
            try:
                upnp.soap_result(await self._soap("AddPortMapping", args))
            except upnp.SoapFault as fault:
                if fault.code != 725:  # only permanent leases: ask for one, delete at exit
                    raise
                lease = 0
                args["NewLeaseDuration"] = "0"
                upnp.soap_result(await self._soap("AddPortMapping", args))
        except upnp.SoapFault as fault:
            return Refused("UPnP", str(fault))
        except (OSError, PortmapError, TimeoutError):
            return None
        return Mapped("UPnP", external, self.port, lease)

    def _log_move(self, mapped: Mapped) -> None:
        self.log(f"port mapping moved to {mapped.external}:{mapped.port}")

    async def _renew_forever(self) -> None:
        failures = 0
        while self.mapped is not None:
            delay = renew_after(self.mapped.lifetime) if not failures else 10.0
            if self.mapped.lifetime == 0 and not failures:
                return  # a permanent UPnP lease needs no renewal
            await asyncio.sleep(delay)
            again = await self.renew_once()
            if isinstance(again, Mapped):
                failures = 0
                continue
            failures += 1
            reason = again.reason if isinstance(again, Refused) else "no answer"
            if failures == 3:
                self.log(f"port mapping: renewal failed ({reason}); still trying")

    async def renew_once(self) -> Mapped | Refused | None:
        """Renew the lease now. A grant on another external address or port goes to
        ``on_move``, once; the router's answer is returned."""
        assert self.mapped is not None
        again = await self._renew()
        if isinstance(again, Mapped) and self.mapped is not None:
            before, self.mapped = self.mapped, again
            if moved(before, again):
                self.on_move(again)
        return again

    async def _renew(self) -> Mapped | Refused | None:
        assert self.mapped is not None
        try:
            async with asyncio.timeout(BUDGET):
                if self.mapped.protocol == "UPnP":
                    return await self._map_upnp()
                if self.mapped.protocol == "NAT-PMP":
                    return await self._map_natpmp(self.lease)
                return await self._map_pmp()
        except TimeoutError:
            return None

    async def close(self) -> None:
        """Delete the mapping (bounded: a router gone silent cannot hold up exit)."""
        if self._renewer is not None:
            self._renewer.cancel()
        mapped, self.mapped = self.mapped, None
        if mapped is None:
            return
        with contextlib.suppress(OSError, PortmapError, TimeoutError):
            async with asyncio.timeout(1.0):
                if mapped.protocol == "UPnP":
                    args = upnp.delete_mapping_args(self.port, self.protocol)
                    upnp.soap_result(await self._soap("DeletePortMapping", args))
                elif mapped.protocol == "PCP":
                    await self._map_pmp(lifetime=0)
                else:
                    await self._map_natpmp(0)


def _natpmp_reply(op: int, port: int = 0) -> Callable[[bytes], natpmp.NatPmpReply | None]:
    def accept(data: bytes) -> natpmp.NatPmpReply | None:
        reply = natpmp.decode(data)
        if reply.op != op or (port and reply.result == 0 and reply.internal_port != port):
            return None
        return reply

    return accept


async def run_mapped(
    protocol: str,
    port: int,
    enabled: bool,
    session: Callable[[PortMapper | None], Awaitable[None]],
) -> None:
    """Run ``session`` with ``port`` mapped on the router (``enabled``), asking while the
    session starts listening, and delete the mapping however the session ends: /quit,
    Ctrl-C, an error, or SIGTERM, which is otherwise fatal at once in a chat. After the
    cleanup SIGTERM is raised again, so the exit status is what it always was."""
    if not enabled:
        await session(None)
        return
    mapper = PortMapper(protocol, port, lambda text: None)
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    terminated: list[bool] = []

    def on_term() -> None:
        terminated.append(True)
        if task is not None:
            task.cancel()

    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, on_term)
    try:
        await mapper.start()
        await session(mapper)
    except asyncio.CancelledError:
        if not terminated:
            raise
    finally:
        await mapper.close()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGTERM)
    if terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
