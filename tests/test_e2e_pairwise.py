"""Pairwise Noise_XX sessions between participants, relayed in memory (no host, no network)."""

from __future__ import annotations

import hashlib
from collections import deque

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from noise.connection import Keypair, NoiseConnection

from severus_cli.core.e2e import pairwise
from severus_cli.core.e2e.pairwise import HANDSHAKE, MAX_QUEUED, NOISE_NAME, Outgoing, Pairwise
from severus_cli.errors import RemoteProtocolError


def keypair(name: str) -> tuple[bytes, bytes]:
    private = X25519PrivateKey.from_private_bytes(hashlib.sha256(name.encode()).digest())
    return private.private_bytes_raw(), private.public_key().public_bytes_raw()


ANA, BOB, MALLORY = keypair("ana"), keypair("bob"), keypair("mallory")


class Wire:
    """Delivers blobs between Pairwise instances in order, as the host would relay them."""

    def __init__(self, *names: str) -> None:
        self.keys = {name: keypair(name)[1] for name in names}
        self.names = {key: name for name, key in self.keys.items()}
        self.sides = {name: Pairwise(*keypair(name)) for name in names}
        self.queue: deque[tuple[str, Outgoing]] = deque()
        self.heard: dict[str, list[bytes]] = {name: [] for name in names}
        self.log: list[tuple[str, str, str, bytes]] = []  # (from, to, kind, data)

    def send(self, sender: str, to: str, payload: bytes, kind: str = "dm") -> None:
        self.queue.extend(
            (sender, o) for o in self.sides[sender].send(self.keys[to], kind, payload)
        )

    def step(self) -> None:
        sender, out = self.queue.popleft()
        receiver = self.names[out.peer]
        self.log.append((sender, receiver, out.kind, bytes(out.data)))
        payloads, replies = self.sides[receiver].receive(self.keys[sender], out.kind, out.data)
        self.heard[receiver] += payloads
        self.queue.extend((receiver, o) for o in replies)

    def run(self) -> None:
        while self.queue:
            self.step()

    def steps(self) -> list[tuple[str, int]]:
        """Who sent which handshake step, in order."""
        return [(s, d[0]) for s, _, k, d in self.log if k == HANDSHAKE]


def code_of(call: object, *args: object) -> str:
    with pytest.raises(RemoteProtocolError) as caught:
        call(*args)  # type: ignore[operator]
    return caught.value.code


def opened(*names: str) -> Wire:
    wire = Wire(*names)
    wire.send(names[0], names[1], b"hello")
    wire.run()
    assert wire.heard[names[1]] == [b"hello"]
    return wire


# --- the handshake -------------------------------------------------------------------------


def test_handshake_through_a_relay_then_both_directions() -> None:
    wire = Wire("ana", "bob")
    wire.send("ana", "bob", b"hi bob")
    assert [(o.kind, o.data[0]) for _, o in wire.queue] == [(HANDSHAKE, 1)]
    wire.run()
    assert wire.steps() == [("ana", 1), ("bob", 2), ("ana", 3)]
    assert wire.heard == {"ana": [], "bob": [b"hi bob"]}
    assert wire.sides["ana"].is_open(wire.keys["bob"])
    assert wire.sides["bob"].is_open(wire.keys["ana"])
    wire.send("bob", "ana", b"hi ana", kind="key")
    wire.send("ana", "bob", b"again")
    assert [o.kind for _, o in wire.queue] == ["key", "dm"]  # no new handshake
    wire.run()
    assert wire.heard == {"ana": [b"hi ana"], "bob": [b"hi bob", b"again"]}


def test_payloads_are_queued_until_the_session_opens() -> None:
    wire = Wire("ana", "bob")
    for i in range(3):
        wire.send("ana", "bob", b"m%d" % i)
    assert len(wire.queue) == 1  # one handshake message, no payload yet
    assert wire.sides["ana"].queued == 3
    assert not wire.sides["ana"].is_open(wire.keys["bob"])
    wire.step()  # bob answers with step 2...
    wire.send("bob", "ana", b"early reply")  # ...and has something to say before step 3
    assert wire.sides["bob"].queued == 1
    assert [o.kind for _, o in wire.queue] == [HANDSHAKE]  # still just the handshake
    wire.run()
    assert wire.heard == {"ana": [b"early reply"], "bob": [b"m0", b"m1", b"m2"]}
    assert wire.sides["ana"].queued == wire.sides["bob"].queued == 0
    # The kinds travel in the clear (the host needs them for its rate limits); the payloads don't.
    assert all(b"m0" not in data and b"early" not in data for *_, data in wire.log)


@pytest.mark.parametrize("first", ["ana", "bob"])
def test_simultaneous_open_the_smaller_key_stays_initiator(first: str) -> None:
    wire = Wire("ana", "bob")
    wire.send("ana", "bob", b"from ana")
    wire.send("bob", "ana", b"from bob")
    if first == "bob":
        wire.queue.rotate()
    wire.run()
    assert wire.heard == {"ana": [b"from bob"], "bob": [b"from ana"]}
    small, large = sorted(("ana", "bob"), key=lambda n: wire.keys[n])
    steps = wire.steps()
    assert sorted(steps[:2]) == [("ana", 1), ("bob", 1)]  # both started
    assert steps[2:] == [(large, 2), (small, 3)]  # the larger key gave way
    for side, peer in (("ana", "bob"), ("bob", "ana")):
        assert wire.sides[side].is_open(wire.keys[peer])
        assert wire.sides[side].queued == 0
    wire.send("ana", "bob", b"after")
    wire.send("bob", "ana", b"after too")
    wire.run()
    assert wire.heard == {"ana": [b"from bob", b"after too"], "bob": [b"from ana", b"after"]}


def test_the_prologue_binds_both_keys_in_either_order() -> None:
    a, b = ANA[1], BOB[1]
    assert pairwise._prologue(a, b) == pairwise._prologue(b, a)
    assert pairwise._prologue(a, b) == b"severus-e2e/1\x00" + min(a, b) + max(a, b)
    assert pairwise._prologue(a, MALLORY[1]) != pairwise._prologue(a, b)


# --- tampering, replay, reordering -----------------------------------------------------------


@pytest.mark.parametrize("where", [0, 8, -1])
def test_tampered_ciphertext_is_rejected_and_the_session_dropped(where: int) -> None:
    wire = opened("ana", "bob")
    (out,) = wire.sides["ana"].send(wire.keys["bob"], "dm", b"secret")
    bob = wire.sides["bob"]
    for i in (where,):
        forged = bytearray(out.data)
        forged[i] ^= 0x01
        assert code_of(bob.receive, wire.keys["ana"], "dm", bytes(forged)) == "e2e_forged"
        assert not bob.is_open(wire.keys["ana"])
        # Without a session nothing more is accepted until a new handshake.
        assert code_of(bob.receive, wire.keys["ana"], "dm", out.data) == "e2e_nosession"


def test_a_dropped_session_is_rebuilt_by_the_next_send() -> None:
    wire = opened("ana", "bob")
    (out,) = wire.sides["ana"].send(wire.keys["bob"], "dm", b"x")
    code_of(wire.sides["bob"].receive, wire.keys["ana"], "dm", out.data[:-1])
    wire.send("bob", "ana", b"are you there?")  # bob starts over; ana's session was open
    wire.run()
    assert wire.heard["ana"] == [b"are you there?"]
    wire.send("ana", "bob", b"yes")
    wire.run()
    assert wire.heard["bob"][-1] == b"yes"


def test_replayed_ciphertext_is_rejected() -> None:
    wire = opened("ana", "bob")
    (out,) = wire.sides["ana"].send(wire.keys["bob"], "dm", b"pay 10")
    assert wire.sides["bob"].receive(wire.keys["ana"], "dm", out.data) == ([b"pay 10"], [])
    assert code_of(wire.sides["bob"].receive, wire.keys["ana"], "dm", out.data) == "e2e_forged"


def test_reordered_ciphertext_is_rejected() -> None:
    wire = opened("ana", "bob")
    wire.sides["ana"].send(wire.keys["bob"], "dm", b"one")  # lost, or held back
    (second,) = wire.sides["ana"].send(wire.keys["bob"], "dm", b"two")
    assert code_of(wire.sides["bob"].receive, wire.keys["ana"], "dm", second.data) == "e2e_forged"


def test_a_message_from_one_peer_does_not_open_as_another() -> None:
    """The host cannot re-label ana's ciphertext as carol's."""
    wire = Wire("ana", "bob", "carol")
    wire.send("ana", "bob", b"x")
    wire.send("carol", "bob", b"y")
    wire.run()
    (out,) = wire.sides["ana"].send(wire.keys["bob"], "dm", b"from ana")
    assert code_of(wire.sides["bob"].receive, wire.keys["carol"], "dm", out.data) == "e2e_forged"


@pytest.mark.parametrize("step", [1, 2], ids=["message 2", "message 3"])
def test_tampered_handshake_messages_fail(step: int) -> None:
    wire = Wire("ana", "bob")
    wire.send("ana", "bob", b"x")
    for _ in range(step):
        wire.step()
    sender, out = wire.queue.popleft()
    receiver = wire.names[out.peer]
    forged = bytearray(out.data)
    forged[-1] ^= 0x80
    with pytest.raises(RemoteProtocolError) as caught:
        wire.sides[receiver].receive(wire.keys[sender], out.kind, bytes(forged))
    assert caught.value.code == "e2e_forged"
    assert not wire.sides[receiver].is_open(wire.keys[sender])


def test_a_changed_first_message_breaks_the_handshake() -> None:
    """Message 1 is a bare ephemeral key: a changed one shows when ana reads the answer."""
    wire = Wire("ana", "bob")
    wire.send("ana", "bob", b"x")
    _, out = wire.queue.popleft()
    forged = bytearray(out.data)
    forged[5] ^= 0x01
    _, replies = wire.sides["bob"].receive(wire.keys["ana"], HANDSHAKE, bytes(forged))
    (reply,) = replies
    with pytest.raises(RemoteProtocolError) as caught:
        wire.sides["ana"].receive(wire.keys["bob"], reply.kind, reply.data)
    assert caught.value.code == "e2e_forged"
    assert wire.heard["bob"] == []


# --- a host that swaps keys --------------------------------------------------------------------


def noise_as(static: tuple[bytes, bytes], prologue: bytes, initiator: bool) -> NoiseConnection:
    """A hand-made Noise endpoint, as a host's accomplice would run it."""
    noise = NoiseConnection.from_name(NOISE_NAME)
    noise.set_as_initiator() if initiator else noise.set_as_responder()
    noise.set_keypair_from_private_bytes(Keypair.STATIC, static[0])
    noise.set_prologue(prologue)
    noise.start_handshake()
    return noise


def test_host_gives_a_different_key_for_bob_to_one_side() -> None:
    """ana was told bob's key is mallory's; bob was told ana's true key: no session."""
    ana, bob = Pairwise(*ANA), Pairwise(*BOB)
    (hello,) = ana.send(MALLORY[1], "dm", b"for bob only")
    _, (reply,) = bob.receive(ANA[1], hello.kind, hello.data)
    with pytest.raises(RemoteProtocolError) as caught:
        ana.receive(MALLORY[1], reply.kind, reply.data)
    assert caught.value.code == "e2e_forged"
    assert not ana.is_open(MALLORY[1])


def test_an_impostor_answering_for_bob_is_caught_by_the_initiator() -> None:
    """mallory answers ana's handshake for bob, with the right prologue but her own key."""
    ana = Pairwise(*ANA)
    (hello,) = ana.send(BOB[1], "dm", b"for bob only")
    mallory = noise_as(MALLORY, pairwise._prologue(ANA[1], BOB[1]), initiator=False)
    mallory.read_message(hello.data[1:])
    answer = b"\x02" + bytes(mallory.write_message(b""))
    with pytest.raises(RemoteProtocolError) as caught:
        ana.receive(BOB[1], HANDSHAKE, answer)
    assert caught.value.code == "e2e_forged"
    assert "not the key" in caught.value.message
    assert ana.queued == 0  # the payload never left, and never will for that session


def test_an_impostor_opening_a_session_as_ana_is_caught_by_the_responder() -> None:
    bob = Pairwise(*BOB)
    mallory = noise_as(MALLORY, pairwise._prologue(ANA[1], BOB[1]), initiator=True)
    _, (answer,) = bob.receive(ANA[1], HANDSHAKE, b"\x01" + bytes(mallory.write_message(b"")))
    mallory.read_message(answer.data[1:])
    final = b"\x03" + bytes(mallory.write_message(b""))
    with pytest.raises(RemoteProtocolError) as caught:
        bob.receive(ANA[1], HANDSHAKE, final)
    assert caught.value.code == "e2e_forged"
    assert not bob.is_open(ANA[1])


# --- malformed handshakes, forget, limits ----------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00" + bytes(32), b"\x04" + bytes(32), b"\x02" + bytes(96), b"\x03" + bytes(64)],
)
def test_unexpected_handshake_messages(data: bytes) -> None:
    bob = Pairwise(*BOB)
    assert code_of(bob.receive, ANA[1], HANDSHAKE, data) == "e2e_bad"


def test_a_step_out_of_turn_is_refused() -> None:
    wire = Wire("ana", "bob")
    wire.send("ana", "bob", b"x")
    # ana is waiting for step 2: a step 3 (or another step 1 sent to herself) is wrong.
    assert code_of(wire.sides["ana"].receive, wire.keys["bob"], HANDSHAKE, b"\x03" + bytes(64)) == (
        "e2e_bad"
    )


def test_handshake_payloads_must_be_empty() -> None:
    bob = Pairwise(*BOB)
    mallory = noise_as(ANA, pairwise._prologue(ANA[1], BOB[1]), initiator=True)
    data = b"\x01" + bytes(mallory.write_message(b"smuggled"))
    assert code_of(bob.receive, ANA[1], HANDSHAKE, data) == "e2e_bad"


def test_a_private_message_without_a_session() -> None:
    bob = Pairwise(*BOB)
    assert code_of(bob.receive, ANA[1], "dm", b"\x00" * 40) == "e2e_nosession"
    wire = Wire("ana", "bob")
    wire.send("ana", "bob", b"x")
    wire.step()  # bob has answered but not heard step 3
    assert code_of(wire.sides["bob"].receive, wire.keys["ana"], "dm", b"\x00" * 40) == (
        "e2e_nosession"
    )


def test_forget_ends_the_session_and_a_new_one_starts() -> None:
    wire = opened("ana", "bob")
    ana, bob = wire.sides["ana"], wire.sides["bob"]
    bob.forget(wire.keys["ana"])
    assert not bob.is_open(wire.keys["ana"])
    (out,) = ana.send(wire.keys["bob"], "dm", b"old session")
    assert code_of(bob.receive, wire.keys["ana"], out.kind, out.data) == "e2e_nosession"
    # ana came back (a new connection): bob starts afresh and ana, who still had a
    # session open, answers the new handshake.
    wire.send("bob", "ana", b"welcome back")
    assert wire.queue[0][1].data[0] == 1
    wire.run()
    assert wire.heard["ana"] == [b"welcome back"]
    wire.send("ana", "bob", b"thanks")
    wire.run()
    assert wire.heard["bob"][-1] == b"thanks"


def test_forget_drops_queued_payloads() -> None:
    ana = Pairwise(*ANA)
    ana.send(BOB[1], "dm", b"x")
    ana.send(BOB[1], "key", b"y")
    assert ana.queued == 2
    ana.forget(BOB[1])
    assert ana.queued == 0
    ana.forget(BOB[1])  # twice is harmless
    (hello,) = ana.send(BOB[1], "dm", b"z")
    assert hello.kind == HANDSHAKE and hello.data[0] == 1


def test_a_peer_that_never_answers_stalls_after_max_queued() -> None:
    ana = Pairwise(*ANA)
    for i in range(MAX_QUEUED):
        ana.send(BOB[1], "dm", b"%d" % i)
    assert code_of(ana.send, BOB[1], "dm", b"one too many") == "e2e_stalled"


def test_payload_size_limit() -> None:
    wire = opened("ana", "bob")
    (out,) = wire.sides["ana"].send(wire.keys["bob"], "dm", b"x" * pairwise.MAX_PAYLOAD)
    assert len(out.data) == pairwise.MAX_PAYLOAD + 16
    with pytest.raises(ValueError):
        wire.sides["ana"].send(wire.keys["bob"], "dm", b"x" * (pairwise.MAX_PAYLOAD + 1))


# --- anything a peer (or the host) sends -----------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([HANDSHAKE, "dm", "key", "x"]), st.binary(max_size=200))
def test_arbitrary_blobs_on_a_fresh_side_only_raise_protocol_errors(kind: str, data: bytes) -> None:
    bob = Pairwise(*BOB)
    try:
        payloads, replies = bob.receive(ANA[1], kind, data)
    except RemoteProtocolError as error:
        assert error.code.startswith("e2e_")
    else:
        assert payloads == []  # nothing decrypts without a session
        assert all(r.kind == HANDSHAKE and r.data[0] == 2 for r in replies)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([HANDSHAKE, "dm"]), st.binary(max_size=120)), max_size=4))
def test_arbitrary_blobs_into_an_open_session(blobs: list[tuple[str, bytes]]) -> None:
    wire = opened("ana", "bob")
    for kind, data in blobs:
        try:
            payloads, _ = wire.sides["bob"].receive(wire.keys["ana"], kind, data)
        except RemoteProtocolError as error:
            assert error.code.startswith("e2e_")
        else:
            assert payloads == []


def test_a_low_order_ephemeral_key_is_refused_as_forged() -> None:
    """A first message whose ephemeral key is all zeros makes our answer's Diffie-Hellman
    come out zero: refused as a forged handshake, and no session is left behind."""
    bob = Pairwise(*BOB)
    assert code_of(bob.receive, ANA[1], HANDSHAKE, b"\x01" + bytes(32)) == "e2e_forged"
    assert bob.queued == 0 and not bob.is_open(ANA[1])


def test_sessions_answered_under_a_nick_deliver_under_that_nick() -> None:
    """The side that gives way in a simultaneous open answers as responder: its channel
    keeps the nick it is for, so what it had queued goes out addressed to that nick."""
    (win_name, win), (lose_name, lose) = sorted((("ana", ANA), ("bob", BOB)), key=lambda n: n[1][1])
    winner, loser = Pairwise(*win, win_name), Pairwise(*lose, lose_name)
    loser.send(win[1], "key", b"early", win_name)  # its own hello is lost on the way
    (hello,) = winner.send(lose[1], "dm", b"hi", lose_name)
    _, (answer,) = loser.receive(win[1], HANDSHAKE, hello.data, win_name)
    assert (answer.kind, answer.data[0], answer.tag) == (HANDSHAKE, 2, win_name)
    _, (final, first) = winner.receive(lose[1], HANDSHAKE, answer.data, lose_name)
    assert (final.tag, first.tag) == (lose_name, lose_name)
    _, queued = loser.receive(win[1], HANDSHAKE, final.data, win_name)
    assert [(o.kind, o.tag) for o in queued] == [("key", win_name)]
    assert winner.receive(lose[1], "key", queued[0].data, lose_name)[0] == [b"early"]


def test_with_one_identity_on_both_sides_the_nicks_decide_who_yields() -> None:
    """Two nicks of one identity (a chat and a ``send``) starting at once: the keys are
    equal, so the nicks decide, and a participant without a nick of its own sorts first,
    keeps its hello and ignores the other's."""
    plain, cron = Pairwise(*ANA), Pairwise(*ANA, "0cron")
    plain.send(ANA[1], "dm", b"x", "0cron")
    (hello,) = cron.send(ANA[1], "dm", b"y", "")
    assert plain.receive(ANA[1], HANDSHAKE, hello.data, "0cron") == ([], [])
