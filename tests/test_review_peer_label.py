"""Review of issue 11, item 1: known_peers is "per host", but one host has two names.

A join by ticket files its pins under the host's key (``key SHA256:...``); a join by
address under ``HOST:PORT``. The same host, joined once by ticket and once by address,
therefore has two separate sets of pins: bob pinned in the ticket sessions is a *first
sighting* in the address session, and a hostile host substitutes its own key there with
no warning at all. Once the handshake has authenticated the host's key (it is pinned in
known_hosts), both kinds of session must consult the same pins.
"""

from __future__ import annotations

from pathlib import Path

from severus_cli.core.identity_format import digest_fingerprint, fingerprint
from severus_cli.core.ticket import Endpoint, Ticket, encode_ticket
from severus_cli.net.trust_gate import check_host
from severus_cli.runtime.connect import resolve_target

KEY = bytes(range(32))
CERT = bytes(range(32, 64))


def test_a_host_joined_by_ticket_and_by_address_has_one_set_of_peer_pins(
    tmp_path: Path,
) -> None:
    ticket = encode_ticket(Ticket(KEY, CERT, (Endpoint("tcp", "127.0.0.1", 3000),)))
    _, by_ticket = resolve_target(ticket, None, tmp_path, False, None)
    _, by_address = resolve_target("127.0.0.1:3000", None, tmp_path, True, None)
    for policy in (by_ticket, by_address):  # both connect and authenticate the same key
        check_host(policy, fingerprint(KEY), digest_fingerprint(CERT))
    assert by_ticket.label == by_address.label
