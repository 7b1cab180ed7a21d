"""Review of issue 11, item 7 (careless user / availability): a ticket lists several
addresses (LAN, public, IPv6). Whoever answers at *one* of them with another TLS
certificate (a stale LAN address now used by someone else, any TLS server on that port,
an attacker on the joiner's network) must not stop the join: that address is simply
not the host, and must get no Noise message; the host at another listed address, with
the ticket's certificate, still gets the joiner in."""

from __future__ import annotations

from dataclasses import replace

from severus_cli.core.trust.ticket import Endpoint, decode_ticket, encode_ticket
from tests.e2e.lab import Lab, free_port
from tests.e2e.test_e2e_hop_binding import _TICKET, Impostor


def test_another_certificate_at_one_ticket_address_does_not_stop_the_join(lab: Lab) -> None:
    ana = lab.host("ana")
    found = _TICKET.search(ana.text)
    assert found, ana.text
    real = decode_ticket(found.group(1))
    impostor = Impostor(lab.config("impostor"), free_port())
    try:
        port = impostor._listener.getsockname()[1]
        endpoints = (Endpoint("tcp", "127.0.0.1", port), Endpoint("tcp", "127.0.0.1", ana.port))
        ticket = encode_ticket(replace(real, endpoints=endpoints, relay=None))
        result = lab.send(ticket, b"made it\n", nick="bob")
        assert result.returncode == 0, result.stderr.decode()
        ana.expect(r"bob: made it")
        assert bytes(impostor.received) == b"", "a Noise message reached the impostor"
    finally:
        impostor.close()
