"""Tickets: round trips, damage detection, and a decoder that never raises oddly."""

from __future__ import annotations

import base64
import contextlib
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from severus_cli.core.trust.ticket import (
    MAX_TICKET,
    PREFIX,
    VERSION,
    Endpoint,
    Entry,
    Ticket,
    TicketError,
    decode_ticket,
    encode_ticket,
    looks_like_ticket,
)

KEY = bytes(range(32))
CERT = bytes(range(32, 64))
HEADER = 1 + 32 + 32  # version, identity key, certificate hash
CHECK = 4  # the first bytes of SHA-256 over the rest


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


def seal(payload: bytes) -> str:
    """A ticket for any payload, with a valid check: the decoder must stand on its own."""
    record = payload + hashlib.sha256(payload).digest()[:CHECK]
    return PREFIX + base64.b32encode(record).decode().rstrip("=").lower()


def test_host_names_and_host_ports_are_not_taken_for_tickets() -> None:
    """``severus connect`` reads its target as a ticket or as HOST[:PORT]; a host whose
    name starts with "sev" must still be connected to as a host."""
    assert not looks_like_ticket("sev" + "x" * 60 + ".example.org:3000")  # any port: a host
    assert not looks_like_ticket("sev" + "x" * 37)  # 40 characters: a host name


def test_endpoints_print_as_connectable_addresses() -> None:
    """What the user sees (and may paste back) for a ticket's addresses: IPv6 needs
    brackets, or its colons would run into the port."""
    assert str(Endpoint("quic", "2001:db8::7", 3000)) == "[2001:db8::7]:3000"
    assert str(Endpoint("tcp", "192.168.1.20", 4000)) == "192.168.1.20:4000"


def test_key_and_certificate_hash_must_each_be_32_bytes() -> None:
    """A ticket with a short key or certificate hash would pin the wrong identity."""
    for key, cert in [(KEY[:31], CERT), (KEY, CERT[:31]), (KEY + b"x", CERT), (KEY, b"")]:
        with pytest.raises(ValueError):
            encode_ticket(Ticket(key, cert))


def test_an_entry_holds_at_most_255_bytes() -> None:
    """An entry's length is one byte: 255 bytes must round-trip, 256 must be refused
    rather than written with a wrapped length that corrupts the rest of the ticket."""
    longest = Ticket(KEY, CERT, secret=b"s" * 255, relay="r" * 255)
    assert decode_ticket(encode_ticket(longest)) == longest
    for too_long in (Ticket(KEY, CERT, secret=b"s" * 256), Ticket(KEY, CERT, relay="r" * 256)):
        with pytest.raises(ValueError, match="too long"):
            encode_ticket(too_long)


@pytest.mark.parametrize("size", range(1, HEADER))
def test_a_checked_record_shorter_than_key_and_certificate_is_refused(size: int) -> None:
    """A record whose check is right but which stops inside the key or the certificate
    hash must not yield a ticket with a short hash to pin."""
    with pytest.raises(TicketError, match="too short"):
        decode_ticket(seal(bytes([VERSION]) + bytes(size - 1)))


@pytest.mark.parametrize("tail", [b"\x63", b"\x63\x05ab", bytes([Entry.SECRET, 1])])
def test_an_entry_cut_short_is_malformed(tail: bytes) -> None:
    """A lone type byte, or a length that runs past the end: a clear TicketError, never
    an IndexError or a shorter value than the entry announced."""
    with pytest.raises(TicketError, match="malformed"):
        decode_ticket(seal(bytes([VERSION]) + KEY + CERT + tail))


def test_longest_accepted_ticket_is_exactly_max_ticket_characters() -> None:
    """MAX_TICKET bounds the work before any check; a ticket of exactly that length is
    valid, one more character is refused unread, and line breaks do not count."""
    filler = b"".join(bytes([99, 255]) + bytes(255) for _ in range(4)) + bytes([99, 179])
    payload = bytes([VERSION]) + KEY + CERT + filler + bytes(179)
    text = seal(payload)
    assert len(text) == MAX_TICKET
    assert len(decode_ticket(text).extra) == 5
    assert len(decode_ticket("\n".join([text[:1000], text[1000:]])).extra) == 5
    with pytest.raises(TicketError, match="too long"):
        decode_ticket(text + "a")


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


def test_a_long_host_name_that_starts_like_a_ticket_is_a_host_name() -> None:
    assert not looks_like_ticket("severus-chat-server-number-one.example.org")
    assert not looks_like_ticket("sev" + "a" * 60 + ".example")
    assert looks_like_ticket("sev" + "a" * 60)
