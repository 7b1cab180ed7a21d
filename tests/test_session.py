"""The Noise_XX hop session, driven by two in-memory peers (no sockets)."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from noise.connection import Keypair, NoiseConnection

from severus_cli.core.wire.framing import FrameDecoder, encode_frame
from severus_cli.core.wire.session import (
    MAX_PLAINTEXT,
    NOISE_NAME,
    PROTOCOL_VERSION,
    HandshakeComplete,
    HopSession,
    Payload,
    PeerIdentity,
    Role,
    SessionEvent,
    make_prologue,
)
from severus_cli.errors import LocalProtocolError, RemoteProtocolError

INITIATOR_KEY = bytes(range(1, 33))
RESPONDER_KEY = bytes(range(101, 133))
CERT_HASH = hashlib.sha256(b"the host's certificate").digest()


def public_key(private: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()


class SessionPair:
    """Two HopSessions wired back to back; ``pump`` shuttles queued bytes between them."""

    def __init__(
        self,
        initiator_cert: bytes = CERT_HASH,
        responder_cert: bytes = CERT_HASH,
        max_frame: int = 65535,
    ) -> None:
        self.initiator = HopSession(Role.INITIATOR, INITIATOR_KEY, initiator_cert, max_frame)
        self.responder = HopSession(Role.RESPONDER, RESPONDER_KEY, responder_cert, max_frame)
        self.events: dict[Role, list[SessionEvent]] = {Role.INITIATOR: [], Role.RESPONDER: []}

    def peer_of(self, session: HopSession) -> HopSession:
        return self.responder if session is self.initiator else self.initiator

    def pump(self, one_byte: bool = False) -> None:
        """Deliver everything queued, both ways, until nothing moves."""
        moved = True
        while moved:
            moved = False
            for sender in (self.initiator, self.responder):
                data = sender.data_to_send()
                if not data:
                    continue
                moved = True
                receiver = self.peer_of(sender)
                chunks = [data[i : i + 1] for i in range(len(data))] if one_byte else [data]
                for chunk in chunks:
                    self.events[receiver.role] += receiver.receive_data(chunk)

    def handshake(self, one_byte: bool = False) -> None:
        self.pump(one_byte)
        assert self.events[Role.INITIATOR] == [PeerIdentity(public_key(RESPONDER_KEY))]
        self.initiator.proceed()
        self.pump(one_byte)
        assert self.events[Role.RESPONDER] == [HandshakeComplete(public_key(INITIATOR_KEY))]
        self.events[Role.INITIATOR].clear()
        self.events[Role.RESPONDER].clear()


def established_pair() -> SessionPair:
    pair = SessionPair()
    pair.handshake()
    return pair


# --- the handshake ---------------------------------------------------------------------


def test_prologue_binds_version_certificate_and_channel() -> None:
    assert PROTOCOL_VERSION == 3
    binding = b"\x07" * 48
    expected = b"severus/3\x00" + CERT_HASH + hashlib.sha256(binding).digest()
    assert make_prologue(CERT_HASH, binding) == expected
    assert len(make_prologue(CERT_HASH, binding)) == 74
    assert make_prologue(CERT_HASH, b"") == b"severus/3\x00" + CERT_HASH + hashlib.sha256().digest()


def test_another_tls_connection_breaks_the_handshake() -> None:
    """Someone holding the host's TLS key can run two TLS connections with the same
    certificate, one to each side, and pass the Noise messages between them: the two
    connections' channel bindings differ, so the handshake fails before any identity
    is shown."""
    initiator = HopSession(Role.INITIATOR, INITIATOR_KEY, CERT_HASH, binding=b"A" * 48)
    responder = HopSession(Role.RESPONDER, RESPONDER_KEY, CERT_HASH, binding=b"B" * 48)
    responder.receive_data(initiator.data_to_send())
    with pytest.raises(RemoteProtocolError) as caught:
        initiator.receive_data(responder.data_to_send())
    assert caught.value.code == "bad_handshake"
    assert initiator.peer_key is None


def test_the_same_tls_connection_completes_the_handshake() -> None:
    initiator = HopSession(Role.INITIATOR, INITIATOR_KEY, CERT_HASH, binding=b"A" * 48)
    responder = HopSession(Role.RESPONDER, RESPONDER_KEY, CERT_HASH, binding=b"A" * 48)
    responder.receive_data(initiator.data_to_send())
    assert isinstance(initiator.receive_data(responder.data_to_send())[0], PeerIdentity)
    initiator.proceed()
    assert isinstance(responder.receive_data(initiator.data_to_send())[0], HandshakeComplete)


def test_full_handshake_then_traffic_both_ways() -> None:
    pair = SessionPair()
    assert not pair.initiator.established and not pair.responder.established
    pair.handshake()
    assert pair.initiator.established and pair.responder.established
    pair.initiator.send(b"hello host")
    pair.responder.send(b"hello client")
    pair.responder.send(b"second")
    pair.pump()
    assert pair.events[Role.RESPONDER] == [Payload(b"hello host")]
    assert pair.events[Role.INITIATOR] == [Payload(b"hello client"), Payload(b"second")]


def test_remote_static_keys_are_the_real_public_keys() -> None:
    pair = SessionPair()
    pair.handshake()
    assert pair.initiator.peer_key == public_key(RESPONDER_KEY)
    assert pair.responder.peer_key == public_key(INITIATOR_KEY)
    assert pair.initiator.peer_key != pair.responder.peer_key


def test_initiator_pauses_at_peer_identity_and_reveals_nothing_more() -> None:
    pair = SessionPair()
    pair.pump()
    assert pair.events[Role.INITIATOR] == [PeerIdentity(public_key(RESPONDER_KEY))]
    assert pair.events[Role.RESPONDER] == []
    # Nothing queued: the initiator's static key is only sent by proceed().
    assert pair.initiator.data_to_send() == b""
    assert pair.responder.peer_key is None
    assert not pair.initiator.established
    with pytest.raises(LocalProtocolError):
        pair.initiator.send(b"too early")
    with pytest.raises(LocalProtocolError):
        pair.responder.send(b"too early")
    assert pair.initiator.data_to_send() == b""
    pair.initiator.proceed()
    assert pair.initiator.established
    assert pair.initiator.data_to_send() != b""


def test_proceed_only_once_and_only_after_peer_identity() -> None:
    pair = SessionPair()
    with pytest.raises(LocalProtocolError):
        pair.initiator.proceed()
    with pytest.raises(LocalProtocolError):
        pair.responder.proceed()
    pair.handshake()
    with pytest.raises(LocalProtocolError):
        pair.initiator.proceed()


def test_handshake_and_traffic_fed_one_byte_at_a_time() -> None:
    pair = SessionPair()
    pair.handshake(one_byte=True)
    messages = [b"a", b"", b"x" * 1000, bytes(range(256))]
    for message in messages:
        pair.initiator.send(message)
        pair.responder.send(message[::-1])
    pair.pump(one_byte=True)
    assert pair.events[Role.RESPONDER] == [Payload(m) for m in messages]
    assert pair.events[Role.INITIATOR] == [Payload(m[::-1]) for m in messages]


def test_final_handshake_message_and_first_packet_in_one_chunk() -> None:
    pair = SessionPair()
    pair.pump()
    pair.initiator.proceed()
    pair.initiator.send(b"right away")
    events = pair.responder.receive_data(pair.initiator.data_to_send())
    assert events == [HandshakeComplete(public_key(INITIATOR_KEY)), Payload(b"right away")]


def test_seal_returns_a_frame_without_queueing_it() -> None:
    pair = established_pair()
    frame = pair.initiator.seal(b"sealed")
    assert pair.initiator.data_to_send() == b""
    assert pair.responder.receive_data(frame) == [Payload(b"sealed")]


def test_data_to_send_empties_the_queue() -> None:
    pair = established_pair()
    pair.initiator.send(b"once")
    assert pair.initiator.data_to_send() != b""
    assert pair.initiator.data_to_send() == b""


def test_bad_key_or_hash_lengths_refused() -> None:
    with pytest.raises(ValueError):
        HopSession(Role.INITIATOR, b"short", CERT_HASH)
    with pytest.raises(ValueError):
        HopSession(Role.RESPONDER, RESPONDER_KEY, b"\x00" * 31)


# --- a hostile or broken peer ----------------------------------------------------------


def test_prologue_mismatch_tls_interceptor_breaks_the_handshake() -> None:
    pair = SessionPair(responder_cert=hashlib.sha256(b"the interceptor's cert").digest())
    with pytest.raises(RemoteProtocolError) as caught:
        pair.pump()
    assert caught.value.code == "bad_handshake"
    assert pair.events[Role.INITIATOR] == []  # no identity was ever shown
    assert not pair.initiator.established and not pair.responder.established
    with pytest.raises(LocalProtocolError):
        pair.initiator.proceed()


def foreign_initiator(name: bytes = NOISE_NAME, prologue: bytes | None = None) -> NoiseConnection:
    noise = NoiseConnection.from_name(name)
    noise.set_as_initiator()
    noise.set_keypair_from_private_bytes(Keypair.STATIC, INITIATOR_KEY)
    noise.set_prologue(make_prologue(CERT_HASH) if prologue is None else prologue)
    noise.start_handshake()
    return noise


def run_foreign_initiator(noise: NoiseConnection, first_payload: bytes = b"") -> HopSession:
    """Drive our responder with a raw noiseprotocol initiator; raise where it fails."""
    responder = HopSession(Role.RESPONDER, RESPONDER_KEY, CERT_HASH)
    assert responder.receive_data(encode_frame(noise.write_message(first_payload))) == []
    (second,) = FrameDecoder().feed(responder.data_to_send())
    noise.read_message(second)
    responder.receive_data(encode_frame(noise.write_message(b"")))
    return responder


def test_raw_noise_initiator_with_the_right_settings_interoperates() -> None:
    responder = run_foreign_initiator(foreign_initiator())
    assert responder.established
    assert responder.peer_key == public_key(INITIATOR_KEY)


def foreign_responder(name: bytes = NOISE_NAME, prologue: bytes | None = None) -> NoiseConnection:
    noise = NoiseConnection.from_name(name)
    noise.set_as_responder()
    noise.set_keypair_from_private_bytes(Keypair.STATIC, RESPONDER_KEY)
    noise.set_prologue(make_prologue(CERT_HASH) if prologue is None else prologue)
    noise.start_handshake()
    return noise


def meet_foreign_responder(noise: NoiseConnection) -> HopSession:
    """Drive our initiator against a raw noiseprotocol responder."""
    initiator = HopSession(Role.INITIATOR, INITIATOR_KEY, CERT_HASH)
    (first,) = FrameDecoder().feed(initiator.data_to_send())
    assert noise.read_message(first) == b""
    initiator.receive_data(encode_frame(noise.write_message(b"")))
    return initiator


def test_raw_noise_responder_with_the_right_settings_interoperates() -> None:
    noise = foreign_responder()
    initiator = meet_foreign_responder(noise)
    assert initiator.peer_key == public_key(RESPONDER_KEY)
    initiator.proceed()
    (third,) = FrameDecoder().feed(initiator.data_to_send())
    noise.read_message(third)
    assert noise.handshake_finished
    # After the handshake, frames carry packets as they are (TLS protects them).
    assert FrameDecoder().feed(initiator.seal(b"hi")) == [b"hi"]


def test_other_protocol_version_in_the_prologue_fails() -> None:
    noise = foreign_responder(prologue=b"severus/1\x00" + CERT_HASH)
    with pytest.raises(RemoteProtocolError) as caught:
        meet_foreign_responder(noise)
    assert caught.value.code == "bad_handshake"


def test_other_cipher_suite_fails_at_our_initiator() -> None:
    with pytest.raises(RemoteProtocolError) as caught:
        meet_foreign_responder(foreign_responder(name=b"Noise_XX_25519_AESGCM_SHA256"))
    assert caught.value.code == "bad_handshake"


@pytest.mark.parametrize("size", [0, 48, 64, 200])
def test_garbage_third_message_refused(size: int) -> None:
    pair = SessionPair()
    pair.responder.receive_data(pair.initiator.data_to_send())
    pair.responder.data_to_send()
    with pytest.raises(RemoteProtocolError) as caught:
        pair.responder.receive_data(encode_frame(b"\x00" * size))
    assert caught.value.code == "bad_handshake"
    assert pair.responder.peer_key is None


def test_handshake_payload_must_be_empty() -> None:
    with pytest.raises(RemoteProtocolError) as caught:
        run_foreign_initiator(foreign_initiator(), first_payload=b"surprise")
    assert caught.value.code == "bad_handshake"


@pytest.mark.parametrize("size", [0, 1, 31, 33, 100, 1000])
def test_garbage_first_message_refused(size: int) -> None:
    responder = HopSession(Role.RESPONDER, RESPONDER_KEY, CERT_HASH)
    with pytest.raises(RemoteProtocolError) as caught:
        responder.receive_data(encode_frame(b"\x42" * size))
    assert caught.value.code == "bad_handshake"
    assert responder.data_to_send() == b""
    with pytest.raises(RemoteProtocolError):
        responder.receive_data(encode_frame(b"\x00" * 32))


@pytest.mark.parametrize("size", [0, 32, 48, 96, 200])
def test_garbage_second_message_refused(size: int) -> None:
    initiator = HopSession(Role.INITIATOR, INITIATOR_KEY, CERT_HASH)
    initiator.data_to_send()
    with pytest.raises(RemoteProtocolError) as caught:
        initiator.receive_data(encode_frame(b"\x17" * size))
    assert caught.value.code == "bad_handshake"
    assert initiator.peer_key is None


def test_plaintext_protocol_bytes_never_produce_events() -> None:
    responder = HopSession(Role.RESPONDER, RESPONDER_KEY, CERT_HASH, max_frame=4096)
    with pytest.raises(RemoteProtocolError) as caught:
        responder.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # "GE" = 18245 bytes
    assert caught.value.code == "too_large"


def test_message_during_the_pause_is_refused() -> None:
    pair = SessionPair()
    pair.pump()
    with pytest.raises(RemoteProtocolError) as caught:
        pair.initiator.receive_data(encode_frame(b"\x00" * 48))
    assert caught.value.code == "bad_handshake"
    with pytest.raises(LocalProtocolError):
        pair.initiator.proceed()


def flip(message: bytes, position: int, bit: int) -> bytes:
    """Flip one bit of a frame's body (never its length prefix)."""
    body = bytearray(message[2:])
    body[position % len(body)] ^= 1 << bit
    return message[:2] + bytes(body)


@settings(max_examples=120, deadline=None)
@given(
    which=st.integers(min_value=0, max_value=2),
    position=st.integers(min_value=0, max_value=10_000),
    bit=st.integers(min_value=0, max_value=7),
)
def test_any_flipped_handshake_bit_stops_the_handshake(which: int, position: int, bit: int) -> None:
    initiator = HopSession(Role.INITIATOR, INITIATOR_KEY, CERT_HASH)
    responder = HopSession(Role.RESPONDER, RESPONDER_KEY, CERT_HASH)

    def maybe_flip(index: int, message: bytes) -> bytes:
        return flip(message, position, bit) if index == which else message

    with pytest.raises(RemoteProtocolError) as caught:
        responder.receive_data(maybe_flip(0, initiator.data_to_send()))
        initiator.receive_data(maybe_flip(1, responder.data_to_send()))
        initiator.proceed()
        responder.receive_data(maybe_flip(2, initiator.data_to_send()))
    assert caught.value.code == "bad_handshake"
    assert not responder.established


# --- packets after the handshake, sizes ----------------------------------------------
# Once open, a frame carries one packet as it is: the TLS channel the handshake was
# bound to protects it against tampering, replay and reordering, and what the host
# forwards is end-to-end ciphertext already. So a packet's frame is the same bytes on
# every session, which is what lets the host frame a broadcast once.


def test_a_packet_frame_is_the_same_bytes_on_every_session() -> None:
    one, two = established_pair(), established_pair()
    frame = one.responder.seal(b"to everyone")
    assert frame == two.responder.seal(b"to everyone") == encode_frame(b"to everyone")
    assert two.initiator.receive_data(frame) == [Payload(b"to everyone")]


@settings(max_examples=100, deadline=None)
@given(
    packets=st.lists(st.binary(min_size=0, max_size=300), max_size=20),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=10),
)
def test_packets_arrive_whole_and_in_order_however_the_bytes_are_cut(
    packets: list[bytes], cuts: list[int]
) -> None:
    pair = established_pair()
    for packet in packets:
        pair.initiator.send(packet)
    data = pair.initiator.data_to_send()
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    events: list[SessionEvent] = []
    for start, stop in itertools.pairwise(bounds):
        events += pair.responder.receive_data(data[start:stop])
    assert events == [Payload(packet) for packet in packets]


def test_truncated_frame_waits_for_the_rest() -> None:
    pair = established_pair()
    frame = pair.initiator.seal(b"patience")
    assert pair.responder.receive_data(frame[:1]) == []
    assert pair.responder.receive_data(frame[1:-1]) == []
    assert pair.responder.established
    assert pair.responder.receive_data(frame[-1:]) == [Payload(b"patience")]


def test_oversized_frame_refused_and_session_dead() -> None:
    pair = SessionPair(max_frame=1000)
    pair.handshake()
    with pytest.raises(RemoteProtocolError) as caught:
        pair.responder.receive_data(b"\x03\xe9")  # announces 1001 bytes
    assert caught.value.code == "too_large"
    with pytest.raises(RemoteProtocolError):
        pair.responder.receive_data(pair.initiator.seal(b"ok"))


def test_largest_plaintext_round_trips() -> None:
    pair = established_pair()
    payload = b"\x5a" * MAX_PLAINTEXT
    pair.initiator.send(payload)
    data = pair.initiator.data_to_send()
    assert len(data) == 2 + 65535
    assert pair.responder.receive_data(data) == [Payload(payload)]


def test_plaintext_over_the_limit_refused_locally() -> None:
    pair = established_pair()
    with pytest.raises(LocalProtocolError):
        pair.initiator.send(b"\x00" * (MAX_PLAINTEXT + 1))
    with pytest.raises(LocalProtocolError):
        pair.initiator.seal(b"\x00" * (MAX_PLAINTEXT + 1))
    assert pair.initiator.data_to_send() == b""
    # The session is still usable: nothing was consumed.
    pair.initiator.send(b"fine")
    pair.pump()
    assert pair.events[Role.RESPONDER] == [Payload(b"fine")]


def test_failed_session_keeps_refusing() -> None:
    responder = HopSession(Role.RESPONDER, RESPONDER_KEY, CERT_HASH)
    with pytest.raises(RemoteProtocolError):
        responder.receive_data(encode_frame(b"x"))
    for data in (b"", b"\x00", encode_frame(b"\x00" * 32)):
        with pytest.raises(RemoteProtocolError):
            responder.receive_data(data)


def test_receive_packets_is_receive_data_without_events_once_open() -> None:
    pair = SessionPair(max_frame=1000)
    with pytest.raises(LocalProtocolError):
        pair.responder.receive_packets(b"")  # only for an established session
    pair.handshake()
    pair.initiator.send(b"one")
    pair.initiator.send(b"two")
    data = pair.initiator.data_to_send()
    assert pair.responder.receive_packets(data[:3]) == []
    assert pair.responder.receive_packets(data[3:]) == [b"one", b"two"]
    with pytest.raises(RemoteProtocolError) as caught:
        pair.responder.receive_packets(b"\x03\xe9")  # announces 1001 bytes
    assert caught.value.code == "too_large"
    with pytest.raises(RemoteProtocolError):  # the session stays failed
        pair.responder.receive_data(pair.initiator.seal(b"ok"))


# --- every failure is final -------------------------------------------------------------

Failure = tuple[HopSession, Callable[[], object]]


def _oversized_frame() -> Failure:
    pair = SessionPair(max_frame=1000)
    pair.handshake()
    return pair.responder, lambda: pair.responder.receive_data(b"\x03\xe9")


def _oversized_frame_to_receive_packets() -> Failure:
    pair = SessionPair(max_frame=1000)
    pair.handshake()
    return pair.responder, lambda: pair.responder.receive_packets(b"\x03\xe9")


def _a_message_during_the_pause() -> Failure:
    pair = SessionPair()
    pair.pump()
    return pair.initiator, lambda: pair.initiator.receive_data(encode_frame(b"\x00" * 48))


def _a_handshake_payload() -> Failure:
    responder = HopSession(Role.RESPONDER, RESPONDER_KEY, CERT_HASH)
    first = encode_frame(foreign_initiator().write_message(b"surprise"))
    return responder, lambda: responder.receive_data(first)


def _a_low_order_ephemeral_key() -> Failure:
    responder = HopSession(Role.RESPONDER, RESPONDER_KEY, CERT_HASH)
    # An all-zero ephemeral key: our reply's Diffie-Hellman with it comes out all zeros.
    return responder, lambda: responder.receive_data(encode_frame(bytes(32)))


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        (_oversized_frame, "too_large"),
        (_oversized_frame_to_receive_packets, "too_large"),
        (_a_message_during_the_pause, "bad_handshake"),
        (_a_handshake_payload, "bad_handshake"),
        (_a_low_order_ephemeral_key, "bad_handshake"),
    ],
)
def test_every_failure_leaves_the_session_failed(setup: Callable[[], Failure], code: str) -> None:
    """Whatever failed, the session refuses all further input, even none at all, so a
    caller that goes on feeding it bytes cannot revive it."""
    session, fail = setup()
    with pytest.raises(RemoteProtocolError) as caught:
        fail()
    assert caught.value.code == code
    assert not session.established
    assert session.data_to_send() == b""  # nothing answers a failed handshake
    with pytest.raises(RemoteProtocolError):
        session.receive_data(b"")


def test_a_session_is_not_sendable_before_its_handshake() -> None:
    session = HopSession(Role.RESPONDER, RESPONDER_KEY, CERT_HASH)
    assert session.can_send is False
    assert session.established is False
