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

from severus_cli.core.trust.identity_format import digest_fingerprint, fingerprint
from severus_cli.core.trust.ticket import Endpoint, Ticket, encode_ticket
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


def _write_pins(tmp_path: Path, hosts: dict[str, dict[str, dict[str, str]]]) -> None:
    import json

    document = {"version": 1, "hosts": hosts}
    (tmp_path / "known_peers.json").write_text(json.dumps(document))


def test_pins_filed_by_address_are_folded_into_the_key_that_address_is_pinned_to(
    tmp_path: Path,
) -> None:
    import json

    from severus_cli.core.trust import known_hosts
    from severus_cli.core.trust.known_peers import KnownPeers, accept_peer

    host_fp, bob, carol, evil = (fingerprint(bytes([n]) * 32) for n in (1, 2, 3, 4))
    known_hosts.pin(tmp_path, "127.0.0.1:3000", host_fp, None, "2026-01-01T00:00:00Z")
    seen = {"first_seen": "2026-01-01T00:00:00Z", "last_seen": "2026-01-01T00:00:00Z"}
    _write_pins(
        tmp_path,
        {
            "127.0.0.1:3000": {"bob": {"key": evil, **seen}, "carol": {"key": carol, **seen}},
            f"key {host_fp}": {"bob": {"key": bob, **seen}},
            "10.0.0.9:3000": {"dan": {"key": evil, **seen}},  # another host: left alone
        },
    )
    peers = KnownPeers(tmp_path, f"key {host_fp}")
    assert peers.pinned("carol") == carol  # a pin made by address counts by key
    assert peers.pinned("bob") == bob  # the key's pin wins, never silently replaced
    peers.save()
    stored = json.loads((tmp_path / "known_peers.json").read_text())["hosts"]
    assert set(stored) == {f"key {host_fp}", "10.0.0.9:3000"}
    assert stored[f"key {host_fp}"]["bob"]["offered"] == evil  # a conflict, warned about
    # accept-peer by address names the same pins as by key.
    from severus_cli.commands.trust_cmds import peer_host_label

    assert peer_host_label("127.0.0.1:3000", tmp_path) == f"key {host_fp}"
    assert peer_host_label("10.0.0.9:3000", tmp_path) == "10.0.0.9:3000"
    assert accept_peer(tmp_path, f"key {host_fp}", "bob", None) == (bob, evil)
