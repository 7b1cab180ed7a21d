"""Tickets: round trips, damage detection, and a decoder that never raises oddly."""

from __future__ import annotations

import base64
import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from severus_cli.core.ticket import (
    PREFIX,
    Endpoint,
    Ticket,
    TicketError,
    decode_ticket,
    encode_ticket,
    looks_like_ticket,
)

KEY = bytes(range(32))
CERT = bytes(range(32, 64))


def sample() -> Ticket:
    return Ticket(
        KEY,
        CERT,
        (
            Endpoint("quic", "192.168.1.20", 3000),
            Endpoint("quic", "2001:db8::7", 3000),
            Endpoint("tcp", "127.0.0.1", 4000),
        ),
        relay="relay.example.org:3340",
        secret=b"s3cret",
    )


def test_round_trip_keeps_everything() -> None:
    ticket = sample()
    text = encode_ticket(ticket)
    assert text.startswith(PREFIX)
    assert text == text.lower()
    assert "=" not in text
    assert decode_ticket(text) == ticket


def test_nothing_a_shell_would_mangle() -> None:
    text = encode_ticket(sample())
    assert set(text) <= set("abcdefghijklmnopqrstuvwxyz234567")


def test_copy_paste_whitespace_and_case_are_tolerated() -> None:
    text = encode_ticket(sample())
    mangled = "  " + text[:40].upper() + "\n" + text[40:] + "\n"
    assert decode_ticket(mangled) == sample()


def test_every_single_character_change_is_caught() -> None:
    text = encode_ticket(sample())
    body = text[len(PREFIX) :]
    for index in range(0, len(body), 7):
        replacement = "a" if body[index] != "a" else "b"
        damaged = PREFIX + body[:index] + replacement + body[index + 1 :]
        with pytest.raises(TicketError):
            decode_ticket(damaged)


@pytest.mark.parametrize("cut", [1, 5, 20, 60, 110])
def test_truncation_is_caught(cut: int) -> None:
    text = encode_ticket(sample())
    with pytest.raises(TicketError):
        decode_ticket(text[:-cut])


@pytest.mark.parametrize(
    "text",
    ["", "sev", "xyz" + "a" * 120, "sev!!!!", "sev" + "1" * 100, "sev" + "a" * 5000],
)
def test_garbage_gives_a_clear_error(text: str) -> None:
    with pytest.raises(TicketError) as caught:
        decode_ticket(text)
    assert caught.value.exit_code == 2
    assert caught.value.message


def test_other_version_is_refused_clearly() -> None:
    import hashlib

    record = bytearray([2]) + KEY + CERT
    record += hashlib.sha256(record).digest()[:4]
    text = PREFIX + base64.b32encode(bytes(record)).decode().rstrip("=").lower()
    with pytest.raises(TicketError, match="version 2"):
        decode_ticket(text)


def test_unknown_entries_are_skipped_for_forward_compatibility() -> None:
    import hashlib

    record = bytearray([1]) + KEY + CERT + bytes([99, 3]) + b"abc"
    record += hashlib.sha256(record).digest()[:4]
    text = PREFIX + base64.b32encode(bytes(record)).decode().rstrip("=").lower()
    ticket = decode_ticket(text)
    assert ticket.endpoints == ()
    assert ticket.extra == ((99, b"abc"),)


def test_looks_like_ticket_tells_tickets_from_addresses() -> None:
    assert looks_like_ticket(encode_ticket(sample()))
    assert not looks_like_ticket("127.0.0.1:3000")
    assert not looks_like_ticket("severus.example.org:3000")
    assert not looks_like_ticket("sevhost")


endpoints = st.builds(
    Endpoint,
    st.sampled_from(["quic", "tcp"]),
    st.one_of(
        st.ip_addresses(v=4).map(str),
        st.ip_addresses(v=6).map(str),
    ),
    st.integers(1, 65535),
)
tickets = st.builds(
    Ticket,
    st.binary(min_size=32, max_size=32),
    st.binary(min_size=32, max_size=32),
    st.lists(endpoints, max_size=8).map(tuple),
    st.one_of(st.none(), st.text(max_size=60).filter(lambda t: len(t.encode()) < 250)),
    st.one_of(st.none(), st.binary(max_size=64)),
)


@settings(max_examples=300, deadline=None)
@given(tickets)
def test_any_ticket_round_trips(ticket: Ticket) -> None:
    assert decode_ticket(encode_ticket(ticket)) == ticket


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300))
def test_decoder_only_ever_raises_ticket_error(text: str) -> None:
    with contextlib.suppress(TicketError):
        decode_ticket(text)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_decoder_on_any_record_with_a_valid_checksum(record: bytes) -> None:
    import hashlib

    whole = record + hashlib.sha256(record).digest()[:4]
    text = PREFIX + base64.b32encode(whole).decode().rstrip("=").lower()
    with contextlib.suppress(TicketError):
        decode_ticket(text)
