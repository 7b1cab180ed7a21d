"""The keyring: sender keys handed out over pairwise sessions, held messages, rotation."""

from __future__ import annotations

import dataclasses
import hashlib
from collections import deque

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from severus_cli.core.e2e import wire
from severus_cli.core.e2e.keyring import (
    KEEP_EPOCHS,
    MAX_PENDING,
    PENDING_TTL,
    Heard,
    Keyring,
    Relay,
)
from severus_cli.core.e2e.pending import MAX_PENDING_PER_SENDER
from severus_cli.core.e2e.sender_keys import OwnSenderKey
from severus_cli.core.e2e.wire import ChatBody
from severus_cli.errors import RemoteProtocolError

T0 = 1000.0


def keypair(name: str) -> tuple[bytes, bytes]:
    private = X25519PrivateKey.from_private_bytes(hashlib.sha256(name.encode()).digest())
    return private.private_bytes_raw(), private.public_key().public_bytes_raw()


class Crowd:
    """Keyrings of several participants and an honest in-memory host between them."""

    def __init__(self, *names: str) -> None:
        self.now = T0
        self.keys = {name: keypair(name)[1] for name in names}
        self.rings = {name: Keyring(*keypair(name), name) for name in names}
        for ring in self.rings.values():
            for name, key in self.keys.items():
                ring.peer_joined(name, key)
        self.heard: dict[str, list[Heard]] = {name: [] for name in names}
        self.kinds: list[tuple[str, str, str]] = []  # (from, to, kind) of every relay

    def relay(self, sender: str, relays: list[Relay]) -> None:
        """Deliver blobs (and the answers they provoke) until nothing is left."""
        queue = deque((sender, r) for r in relays)
        while queue:
            source, blob = queue.popleft()
            self.kinds.append((source, blob.nick, blob.kind))
            heard, replies = self.rings[blob.nick].relayed(
                source, self.keys[source], blob.kind, blob.data, self.now
            )
            self.heard[blob.nick] += heard
            queue.extend((blob.nick, r) for r in replies)

    def seal(self, sender: str, room: str, members: list[str], text: str) -> bytes:
        """``sender`` seals a message for ``members``; the key hand-outs are delivered."""
        relays, data = self.rings[sender].seal(
            room, [(m, self.keys[m]) for m in members], ChatBody(text)
        )
        self.relay(sender, relays)
        return data

    def deliver(self, sender: str, room: str, data: bytes, to: str, ts: float = 5.0) -> None:
        heard = self.rings[to].sealed(sender, self.keys[sender], room, data, ts, self.now)
        if heard is not None:
            self.heard[to].append(heard)

    def texts(self, name: str) -> list[str]:
        heard, self.heard[name] = self.heard[name], []
        return [h.body.text for h in heard]


def said(nick: str, room: str, text: str, ts: float = 5.0) -> Heard:
    return Heard(nick, room, ChatBody(text), ts)


# --- handing out keys ----------------------------------------------------------------------


def test_gifts_go_out_before_the_first_message_and_only_once_per_epoch() -> None:
    crowd = Crowd("ana", "bob", "carol")
    members = ["ana", "bob", "carol"]
    relays, data = crowd.rings["ana"].seal(
        "rust", [(m, crowd.keys[m]) for m in members], ChatBody("one")
    )
    # No session yet: a handshake to each other member (never to ourselves), key queued.
    assert [(r.nick, r.kind) for r in relays] == [("bob", "hs"), ("carol", "hs")]
    assert crowd.rings["ana"].queued == 2
    crowd.relay("ana", relays)
    assert ("ana", "bob", "key") in crowd.kinds and ("ana", "carol", "key") in crowd.kinds
    assert crowd.rings["ana"].queued == 0
    for member in ("bob", "carol"):
        crowd.deliver("ana", "rust", data, member)
        assert crowd.heard[member] == [said("ana", "rust", "one")]
    crowd.kinds.clear()
    relays, data = crowd.rings["ana"].seal(
        "rust", [(m, crowd.keys[m]) for m in members], ChatBody("two")
    )
    assert relays == []  # same epoch, everyone has it
    crowd.deliver("ana", "rust", data, "bob")
    assert crowd.texts("bob") == ["one", "two"]


def test_with_open_sessions_the_gift_itself_goes_first() -> None:
    crowd = Crowd("ana", "bob")
    crowd.seal("ana", "lobby", ["bob"], "open the session")
    crowd.rings["ana"].membership_changed("lobby")
    relays, data = crowd.rings["ana"].seal("lobby", [("bob", crowd.keys["bob"])], ChatBody("x"))
    assert [(r.nick, r.kind) for r in relays] == [("bob", "key")]
    crowd.relay("ana", relays)
    crowd.deliver("ana", "lobby", data, "bob")
    assert crowd.texts("bob") == ["x"]


def test_messages_are_held_until_their_key_arrives_then_shown() -> None:
    crowd = Crowd("ana", "bob")
    relays, data = crowd.rings["ana"].seal("rust", [("bob", crowd.keys["bob"])], ChatBody("hi"))
    more = crowd.rings["ana"].seal("rust", [("bob", crowd.keys["bob"])], ChatBody("again"))[1]
    # The host relays the room messages before the handshake completes.
    crowd.deliver("ana", "rust", data, "bob", ts=7.0)
    crowd.deliver("ana", "rust", more, "bob", ts=8.0)
    assert crowd.heard["bob"] == []
    crowd.relay("ana", relays)
    assert crowd.heard["bob"] == [said("ana", "rust", "hi", 7.0), said("ana", "rust", "again", 8.0)]
    assert crowd.rings["bob"].expire(T0 + 3600) == []  # nothing left waiting


def test_held_messages_that_never_become_readable_are_reported() -> None:
    crowd = Crowd("ana", "bob")
    _, data = crowd.rings["ana"].seal("rust", [("bob", crowd.keys["bob"])], ChatBody("lost"))
    crowd.deliver("ana", "rust", data, "bob")
    crowd.now += 1
    crowd.deliver("ana", "rust", data, "bob")
    assert crowd.rings["bob"].expire(T0 + PENDING_TTL - 0.01) == []
    assert crowd.rings["bob"].expire(T0 + PENDING_TTL) == ["ana"]
    assert crowd.rings["bob"].expire(T0 + PENDING_TTL + 0.5) == []
    assert crowd.rings["bob"].expire(T0 + 1 + PENDING_TTL) == ["ana"]
    assert crowd.rings["bob"].expire(T0 + 3600) == []


def test_at_most_max_pending_messages_are_held() -> None:
    senders = [f"p{i}" for i in range(MAX_PENDING // MAX_PENDING_PER_SENDER + 2)]
    crowd = Crowd("bob", *senders)
    for sender in senders:
        own = OwnSenderKey("rust")
        for i in range(MAX_PENDING_PER_SENDER):
            crowd.deliver(sender, "rust", own.seal(crowd.keys[sender], b"x"), "bob", float(i))
    assert len(crowd.rings["bob"].expire(T0 + PENDING_TTL)) == MAX_PENDING


def test_a_held_message_that_turns_out_forged_is_reported() -> None:
    """carol holds ana's chain key: she can encrypt as ana but not sign as ana."""
    crowd = Crowd("ana", "bob", "carol")
    crowd.seal("ana", "rust", ["carol"], "carol gets the key")
    # bob has no key yet; carol sends, through a host that labels it as ana's, a
    # forgery for the next counter.
    own = crowd.rings["ana"]._own["rust"]
    stolen = dataclasses.replace(own, signer=OwnSenderKey("rust").signer, shared_with=set())
    forged = stolen.seal(crowd.keys["ana"], wire.encode_body(ChatBody("ana: I owe carol 100")))
    crowd.deliver("ana", "rust", forged, "bob")
    crowd.seal("ana", "rust", ["bob", "carol"], "real")  # bob gets the key: counter 1
    assert crowd.texts("bob") == []
    assert crowd.rings["bob"].take_forged() == ["ana"]
    assert crowd.rings["bob"].take_forged() == []
    # Once the key is there, a forgery is refused at once.
    forged = stolen.seal(crowd.keys["ana"], wire.encode_body(ChatBody("and 200")))
    with pytest.raises(RemoteProtocolError) as caught:
        crowd.deliver("ana", "rust", forged, "bob")
    assert caught.value.code == "e2e_forged"


def test_held_messages_wait_for_their_own_senders_key() -> None:
    crowd = Crowd("ana", "bob", "carol")
    _, from_carol = crowd.rings["carol"].seal("rust", [("bob", crowd.keys["bob"])], ChatBody("c"))
    crowd.deliver("carol", "rust", from_carol, "bob")
    crowd.seal("ana", "rust", ["bob"], "a")  # ana's key arrives: carol's message still waits
    assert crowd.heard["bob"] == []
    assert crowd.rings["bob"].expire(T0 + PENDING_TTL) == ["carol"]


def test_private_messages() -> None:
    crowd = Crowd("ana", "bob")
    crowd.relay("ana", crowd.rings["ana"].direct("bob", crowd.keys["bob"], ChatBody("psst", True)))
    assert crowd.heard["bob"] == [Heard("ana", None, ChatBody("psst", True), T0)]
    crowd.relay("bob", crowd.rings["bob"].direct("ana", crowd.keys["ana"], ChatBody("hm")))
    assert crowd.texts("ana") == ["hm"]


def test_a_relabelled_private_message_is_refused() -> None:
    crowd = Crowd("ana", "bob", "carol")
    crowd.relay("ana", crowd.rings["ana"].direct("bob", crowd.keys["bob"], ChatBody("1")))
    crowd.relay("carol", crowd.rings["carol"].direct("bob", crowd.keys["bob"], ChatBody("2")))
    (blob,) = crowd.rings["ana"].direct("bob", crowd.keys["bob"], ChatBody("from ana"))
    with pytest.raises(RemoteProtocolError) as caught:
        crowd.rings["bob"].relayed("carol", crowd.keys["carol"], blob.kind, blob.data, T0)
    assert caught.value.code == "e2e_forged"


# --- rotation --------------------------------------------------------------------------------


def epoch_of(data: bytes) -> bytes:
    return wire.decode_sealed(data).epoch


def test_a_member_who_left_cannot_open_what_is_sealed_after() -> None:
    crowd = Crowd("ana", "bob", "carol")
    first = crowd.seal("ana", "rust", ["bob", "carol"], "all of us")
    for member in ("bob", "carol"):
        crowd.deliver("ana", "rust", first, member)
        assert crowd.texts(member) == ["all of us"]
    crowd.rings["ana"].membership_changed("rust")  # carol left
    crowd.kinds.clear()
    second = crowd.seal("ana", "rust", ["ana", "bob"], "just us")
    assert epoch_of(second) != epoch_of(first)
    assert [k for k in crowd.kinds if k[2] == "key"] == [("ana", "bob", "key")]
    crowd.deliver("ana", "rust", second, "bob")
    assert crowd.texts("bob") == ["just us"]
    # A host that still relays to carol gains nothing: she holds only the old epoch.
    crowd.deliver("ana", "rust", second, "carol")
    assert crowd.heard["carol"] == []
    assert crowd.rings["carol"].expire(T0 + PENDING_TTL) == ["ana"]


def test_a_newcomer_cannot_open_what_was_sealed_before_they_joined() -> None:
    crowd = Crowd("ana", "bob", "dave")
    before = crowd.seal("ana", "rust", ["bob"], "before dave")
    crowd.rings["ana"].membership_changed("rust")  # dave joined
    after = crowd.seal("ana", "rust", ["bob", "dave"], "with dave")
    assert epoch_of(after) != epoch_of(before)
    for data in (before, after):
        crowd.deliver("ana", "rust", data, "bob")
        crowd.deliver("ana", "rust", data, "dave")
    assert crowd.texts("bob") == ["before dave", "with dave"]
    assert crowd.texts("dave") == ["with dave"]
    assert crowd.rings["dave"].expire(T0 + PENDING_TTL) == ["ana"]  # "before" never opens


def test_messages_across_a_rekey_still_open() -> None:
    """A message sealed just before a rotation arrives after the new key: both open."""
    crowd = Crowd("ana", "bob")
    old = crowd.seal("ana", "rust", ["bob"], "old")
    crowd.rings["ana"].membership_changed("rust")
    new = crowd.seal("ana", "rust", ["bob"], "new")
    crowd.deliver("ana", "rust", new, "bob")
    crowd.deliver("ana", "rust", old, "bob")
    assert crowd.texts("bob") == ["new", "old"]


def test_old_epochs_are_forgotten_after_keep_epochs() -> None:
    crowd = Crowd("ana", "bob")
    sealed = []
    for i in range(KEEP_EPOCHS + 1):
        sealed.append(crowd.seal("ana", "rust", ["bob"], f"epoch {i}"))
        crowd.rings["ana"].membership_changed("rust")
    crowd.deliver("ana", "rust", sealed[0], "bob")
    assert crowd.heard["bob"] == []  # its key was dropped
    for data in sealed[1:]:
        crowd.deliver("ana", "rust", data, "bob")
    assert crowd.texts("bob") == [f"epoch {i}" for i in range(1, KEEP_EPOCHS + 1)]


def test_peer_left_forgets_their_keys_and_session() -> None:
    crowd = Crowd("ana", "bob")
    first = crowd.seal("ana", "rust", ["bob"], "x")
    crowd.rings["bob"].peer_left(crowd.keys["ana"])
    crowd.deliver("ana", "rust", first, "bob")
    assert crowd.heard["bob"] == []  # the key went with her
    # She comes back: a new session and a new key.
    crowd.rings["bob"].peer_joined("ana", crowd.keys["ana"])
    crowd.rings["ana"].peer_left(crowd.keys["bob"])
    crowd.rings["ana"].membership_changed("rust")
    again = crowd.seal("ana", "rust", ["bob"], "back")
    crowd.deliver("ana", "rust", again, "bob")
    assert crowd.texts("bob") == ["back"]


def test_leaving_a_room_drops_its_keys() -> None:
    crowd = Crowd("ana", "bob")
    crowd.seal("bob", "rust", ["ana"], "key for ana")
    first = crowd.seal("bob", "rust", ["ana"], "one")
    second = crowd.seal("bob", "rust", ["ana"], "two")
    crowd.deliver("bob", "rust", first, "ana")
    assert crowd.texts("ana") == ["one"]
    crowd.rings["ana"].left_room("RUST")
    crowd.deliver("bob", "rust", second, "ana")
    assert crowd.heard["ana"] == []
    own_epoch = epoch_of(crowd.seal("ana", "rust", ["bob"], "a"))
    crowd.rings["ana"].left_room("rust")
    assert epoch_of(crowd.seal("ana", "rust", ["bob"], "b")) != own_epoch


# --- hostile input ---------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_room_data_only_raises_protocol_errors(data: bytes) -> None:
    ring = Keyring(*keypair("bob"))
    try:
        assert ring.sealed("ana", keypair("ana")[1], "lobby", data, 1.0, T0) is None
    except RemoteProtocolError as error:
        assert error.code.startswith("e2e_")


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["hs", "key", "dm", "zz"]), st.binary(max_size=300))
def test_arbitrary_relayed_data_only_raises_protocol_errors(kind: str, data: bytes) -> None:
    ring = Keyring(*keypair("bob"))
    try:
        heard, _ = ring.relayed("ana", keypair("ana")[1], kind, data, T0)
    except RemoteProtocolError as error:
        assert error.code.startswith("e2e_")
    else:
        assert heard == []


def test_one_identity_under_two_nicks_is_two_participants() -> None:
    """A chat and a `severus send` from the same config dir share a key but not sessions."""
    crowd = Crowd("ana", "bob")
    crowd.keys["cron"] = crowd.keys["ana"]  # cron runs with ana's identity
    crowd.rings["cron"] = Keyring(*keypair("ana"), "cron")
    crowd.heard["cron"] = []
    for ring in crowd.rings.values():
        ring.peer_joined("cron", crowd.keys["ana"])
    everyone = ["ana", "bob", "cron"]
    data = crowd.seal("ana", "lobby", everyone, "from ana")
    crowd.deliver("ana", "lobby", data, "bob")
    crowd.deliver("ana", "lobby", data, "cron")
    data = crowd.seal("cron", "lobby", everyone, "from cron")
    crowd.deliver("cron", "lobby", data, "bob")
    crowd.deliver("cron", "lobby", data, "ana")
    assert crowd.texts("bob") == ["from ana", "from cron"]
    assert crowd.texts("cron") == ["from ana"]
    assert crowd.texts("ana") == ["from cron"]
    # A private message to one of the two reaches that one only, and bob's session with
    # the other is untouched.
    crowd.relay("bob", crowd.rings["bob"].direct("cron", crowd.keys["cron"], ChatBody("hi cron")))
    crowd.relay("bob", crowd.rings["bob"].direct("ana", crowd.keys["ana"], ChatBody("hi ana")))
    assert crowd.texts("cron") == ["hi cron"]
    assert crowd.texts("ana") == ["hi ana"]


def test_one_of_two_nicks_of_an_identity_leaving_forgets_that_nick_only() -> None:
    """``peer_left(key, nick)`` ends what belongs to that nick (its session, its keys, our
    key hand-out to it) and leaves the other nick of the same identity untouched;
    ``peer_left(key)`` ends both."""
    crowd = Crowd("ana", "bob")
    crowd.keys["cron"] = crowd.keys["ana"]
    crowd.rings["cron"] = Keyring(*keypair("ana"), "cron")
    crowd.heard["cron"] = []
    for ring in crowd.rings.values():
        ring.peer_joined("cron", crowd.keys["ana"])
    everyone = ["ana", "bob", "cron"]
    crowd.seal("bob", "lobby", everyone, "hello")
    from_ana = [crowd.seal("ana", "lobby", everyone, f"ana {i}") for i in range(2)]
    from_cron = [crowd.seal("cron", "lobby", everyone, f"cron {i}") for i in range(2)]
    crowd.deliver("ana", "lobby", from_ana[0], "bob")
    crowd.deliver("cron", "lobby", from_cron[0], "bob")
    assert crowd.texts("bob") == ["ana 0", "cron 0"]

    bob = crowd.rings["bob"]
    bob.peer_left(crowd.keys["ana"], "cron")
    crowd.deliver("ana", "lobby", from_ana[1], "bob")
    crowd.deliver("cron", "lobby", from_cron[1], "bob")
    assert crowd.texts("bob") == ["ana 1"]  # cron's key went with cron
    # Bob's own key goes to cron again (a new session), not to ana, who still has it.
    crowd.kinds.clear()
    crowd.seal("bob", "lobby", everyone, "again")
    sent = [(to, kind) for source, to, kind in crowd.kinds if source == "bob"]
    assert sent[0] == ("cron", "hs")  # a new session: the old one went with cron
    assert {to for to, _ in sent} == {"cron"}

    bob.peer_left(crowd.keys["ana"])  # every nick of that key
    later = crowd.seal("ana", "lobby", ["ana", "cron"], "after")  # bob is not given it
    crowd.deliver("ana", "lobby", later, "bob")
    assert crowd.texts("bob") == []  # ana's key went too
    crowd.kinds.clear()
    crowd.seal("bob", "lobby", everyone, "once more")
    sent = [(to, kind) for source, to, kind in crowd.kinds if source == "bob"]
    assert {to for to, _ in sent} == {"ana", "cron"}
    assert next(kind for to, kind in sent if to == "ana") == "hs"  # ana's session ended too


def test_a_keyring_without_an_own_nick_hands_its_key_to_every_nick_of_its_identity() -> None:
    """With no nick of its own (a keyring used alone), no member entry is taken for us:
    another nick of our own identity is a participant like any other."""
    private, public = keypair("ana")
    ring = Keyring(private, public)
    relays, _ = ring.seal("lobby", [("XXXX", public)], ChatBody("hi"))
    assert [(r.nick, r.kind) for r in relays] == [("XXXX", "hs")]
