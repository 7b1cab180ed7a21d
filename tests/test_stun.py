"""STUN encoder/decoder: RFC 5769 test vectors, round trips, and hostile input."""

from __future__ import annotations

import contextlib
import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from severus_cli.core.nat.stun import (
    BINDING_INDICATION,
    BINDING_REQUEST,
    BINDING_SUCCESS,
    MAGIC_COOKIE,
    StunError,
    answer_binding,
    binding_indication,
    binding_request,
    binding_success,
    decode,
    looks_like_stun,
)

# RFC 5769 section 2.2 and 2.3: a server's responses, with SOFTWARE, MESSAGE-INTEGRITY
# (which a client without credentials skips) and FINGERPRINT (which it checks).
RFC5769_IPV4 = bytes.fromhex(
    "0101003c2112a442b7e7a701bc34d686fa87dfae"
    "8022000b7465737420766563746f7220"
    "002000080001a147e112a643"
    "000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7"
    "80280004c07d4c96"
)
RFC5769_IPV6 = bytes.fromhex(
    "010100482112a442b7e7a701bc34d686fa87dfae"
    "8022000b7465737420766563746f7220"
    "002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d9"
    "00080014a382954e4be67bf11784c97c8292c275bfe3ed41"
    "80280004c8fb0b4c"
)
TXID = bytes.fromhex("b7e7a701bc34d686fa87dfae")

ipv4 = st.builds(lambda n: str(ipaddress.IPv4Address(n)), st.integers(0, 2**32 - 1))
ipv6 = st.builds(lambda n: str(ipaddress.IPv6Address(n)), st.integers(0, 2**128 - 1))
addresses = st.tuples(ipv4 | ipv6, st.integers(1, 65535))
txids = st.binary(min_size=12, max_size=12)


def test_rfc5769_ipv4_response() -> None:
    message = decode(RFC5769_IPV4)
    assert message.kind == BINDING_SUCCESS
    assert message.txid == TXID
    assert message.mapped == ("192.0.2.1", 32853)


def test_rfc5769_ipv6_response() -> None:
    message = decode(RFC5769_IPV6)
    assert message.mapped == ("2001:db8:1234:5678:11:2233:4455:6677", 32853)


def test_a_wrong_fingerprint_is_refused() -> None:
    damaged = bytearray(RFC5769_IPV4)
    damaged[-1] ^= 1
    with pytest.raises(StunError, match="FINGERPRINT"):
        decode(bytes(damaged))


def test_plain_mapped_address_is_a_fallback() -> None:
    # A pre-RFC 5389 style answer: MAPPED-ADDRESS only, no FINGERPRINT.
    body = bytes.fromhex("0001000800011f90c0000201")  # 192.0.2.1:8080
    header = (
        BINDING_SUCCESS.to_bytes(2, "big")
        + len(body).to_bytes(2, "big")
        + MAGIC_COOKIE.to_bytes(4, "big")
        + TXID
    )
    assert decode(header + body).mapped == ("192.0.2.1", 8080)


@given(txids, addresses)
def test_success_round_trip(txid: bytes, address: tuple[str, int]) -> None:
    message = decode(binding_success(txid, address))
    assert (message.kind, message.txid, message.mapped) == (BINDING_SUCCESS, txid, address)


@given(txids)
def test_request_and_indication(txid: bytes) -> None:
    for encode, kind in (
        (binding_request, BINDING_REQUEST),
        (binding_indication, BINDING_INDICATION),
    ):
        data = encode(txid)
        assert looks_like_stun(data)
        message = decode(data)
        assert (message.kind, message.txid, message.mapped) == (kind, txid, None)


@given(txids, addresses, st.data())
def test_a_flipped_bit_never_yields_a_wrong_address(
    txid: bytes, address: tuple[str, int], data: st.DataObject
) -> None:
    """CRC-32 catches every single-bit error in what it covers. A flip it cannot see
    (in the FINGERPRINT attribute's own header, which can turn it into an unknown
    attribute or padding) leaves the address intact: a corrupted answer is refused or
    right, never wrong."""
    message = bytearray(binding_success(txid, address))
    bit = data.draw(st.integers(0, len(message) * 8 - 1))
    message[bit // 8] ^= 1 << (bit % 8)
    try:
        decoded = decode(bytes(message))
    except StunError:
        return
    assert (decoded.txid, decoded.mapped) == (txid, address)


@given(st.binary(max_size=200))
def test_garbage_raises_only_stun_error(data: bytes) -> None:
    with contextlib.suppress(StunError):
        decode(data)


@given(txids, st.lists(st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=40)), max_size=6))
def test_any_well_framed_attribute_soup_is_handled(
    txid: bytes, attributes: list[tuple[int, bytes]]
) -> None:
    body = b"".join(
        kind.to_bytes(2, "big") + len(value).to_bytes(2, "big") + value + bytes(-len(value) % 4)
        for kind, value in attributes
    )
    data = bytes.fromhex("0101") + len(body).to_bytes(2, "big") + MAGIC_COOKIE.to_bytes(4, "big")
    try:
        message = decode(data + txid + body)
    except StunError:
        return
    assert message.txid == txid


@given(st.binary(min_size=1, max_size=60))
def test_quic_packets_are_never_taken_for_stun(tail: bytes) -> None:
    """QUIC always sets the fixed bit (0x40) in its first byte (RFC 9000, RFC 7983)."""
    first = tail[0] | 0x40
    packet = bytes([first]) + tail[1:] + MAGIC_COOKIE.to_bytes(4, "big") * 5
    assert not looks_like_stun(packet)


def test_a_server_answers_requests_only() -> None:
    source = ("203.0.113.10", 4000)
    answer = answer_binding(binding_request(TXID), source)
    assert answer is not None
    assert decode(answer).mapped == source
    assert answer_binding(binding_indication(TXID), source) is None
    assert answer_binding(RFC5769_IPV4, source) is None
    assert answer_binding(b"\x00" * 40, source) is None


def test_a_transaction_id_must_be_twelve_bytes() -> None:
    with pytest.raises(ValueError):
        binding_request(b"short")
