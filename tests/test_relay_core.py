"""The relay's decisions, without sockets: registration, punching, splicing, caps."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from severus_cli.core.nat.relay import (
    Close,
    Note,
    Pacer,
    RelayAction,
    RelayConfig,
    RelayCore,
    Role,
    SendTo,
    Splice,
)
from severus_cli.core.nat.relay_packets import (
    Accept,
    Dial,
    Open,
    Peer,
    PunchRequest,
    PunchTo,
    Register,
    Registered,
    RelayError,
    RelayPing,
    RelayPong,
    Spliced,
    decode_from_relay,
)
from severus_cli.core.trust.identity_format import fingerprint
from severus_cli.core.wire.packets import Packet, encode

HOST = bytes(range(32))
JOINER = bytes(range(1, 33))
OTHER = bytes(range(2, 34))
HOST_UDP = ("203.0.113.10", 4000)
JOINER_UDP = ("203.0.113.20", 5555)


def make(**options: object) -> RelayCore:
    tokens = (i.to_bytes(16, "big") for i in itertools.count(1))
    return RelayCore(RelayConfig(**options), token=lambda: next(tokens))  # type: ignore[arg-type]


def connect(core: RelayCore, conn: int, key: bytes, ip: str = JOINER_UDP[0]) -> None:
    assert core.open(conn, ip, 0.0) == []
    assert core.authenticated(conn, key, 0.0) == []


def sent(actions: list[RelayAction], conn: int) -> list[Packet]:
    return [decode_from_relay(a.data) for a in actions if isinstance(a, SendTo) and a.conn == conn]


def closed(actions: list[RelayAction]) -> set[int]:
    return {a.conn for a in actions if isinstance(a, Close)}


def send(core: RelayCore, conn: int, packet: Packet, now: float = 1.0) -> list[RelayAction]:
    return core.receive(conn, encode(packet), now)


def registered_host(core: RelayCore, conn: int = 1, udp: tuple[str, int] | None = HOST_UDP) -> None:
    connect(core, conn, HOST, "203.0.113.10")
    assert sent(send(core, conn, Register(udp)), conn) == [Registered(udp)]


def test_a_host_registers_its_own_key_and_is_logged() -> None:
    core = make()
    connect(core, 1, HOST)
    actions = send(core, 1, Register(HOST_UDP))
    assert sent(actions, 1) == [Registered(HOST_UDP)]
    assert core.hosts == {HOST: 1}
    notes = [a.text for a in actions if isinstance(a, Note)]
    assert notes and fingerprint(HOST)[:19] in notes[0] and "203.0.113.10:4000" in notes[0]


def test_punch_tells_both_sides_the_other_endpoint() -> None:
    core = make()
    registered_host(core)
    connect(core, 2, JOINER)
    actions = send(core, 2, PunchRequest(HOST, JOINER_UDP))
    assert sent(actions, 1) == [PunchTo(JOINER, JOINER_UDP)]
    assert sent(actions, 2) == [Peer(HOST_UDP)]
    assert closed(actions) == set()


def test_punch_to_a_host_without_udp_gets_no_endpoint_and_leaves_the_host_alone() -> None:
    core = make()
    registered_host(core, udp=None)
    connect(core, 2, JOINER)
    actions = send(core, 2, PunchRequest(HOST, JOINER_UDP))
    assert sent(actions, 2) == [Peer(None)]
    assert sent(actions, 1) == []


def test_an_unknown_host_is_a_clear_fatal_error() -> None:
    core = make()
    connect(core, 2, JOINER)
    for packet in (PunchRequest(HOST, JOINER_UDP), Dial(HOST)):
        core2 = make()
        connect(core2, 2, JOINER)
        actions = send(core2, 2, packet)
        (error,) = sent(actions, 2)
        assert isinstance(error, RelayError) and error.code == "no_such_host" and error.fatal
        assert closed(actions) == {2}


def test_dial_then_accept_splices_the_pair() -> None:
    core = make()
    registered_host(core)
    connect(core, 2, JOINER)
    actions = send(core, 2, Dial(HOST))
    (opening,) = sent(actions, 1)
    assert isinstance(opening, Open) and opening.key == JOINER
    connect(core, 3, HOST, "203.0.113.10")  # the host's data connection
    actions = send(core, 3, Accept(opening.token))
    assert sent(actions, 2) == [Spliced()]
    assert sent(actions, 3) == [Spliced()]
    splices = [a for a in actions if isinstance(a, Splice)]
    assert splices == [Splice(2, 3)]
    # the Spliced packets go out before the splice switches both to raw bytes
    kinds = [type(a) for a in actions]
    assert kinds.index(Splice) > max(i for i, k in enumerate(kinds) if k is SendTo)
    assert core.relayed_pairs == 1
    # once spliced, the core ignores packets: bytes belong to the pipe
    assert core.receive(2, encode(RelayPing(1)), 2.0) == []
    # one end closing closes the other
    assert closed(core.closed(3, 5.0)) == {2}


def test_accept_needs_the_right_token_from_the_host_key() -> None:
    core = make()
    registered_host(core)
    connect(core, 2, JOINER)
    (opening,) = sent(send(core, 2, Dial(HOST)), 1)
    assert isinstance(opening, Open)
    connect(core, 3, OTHER)  # someone else who learned the token cannot take the pipe
    actions = send(core, 3, Accept(opening.token))
    assert [p.code for p in sent(actions, 3) if isinstance(p, RelayError)] == ["bad_token"]
    connect(core, 4, HOST)
    actions = send(core, 4, Accept(b"\xff" * 16))
    assert [p.code for p in sent(actions, 4) if isinstance(p, RelayError)] == ["bad_token"]
    connect(core, 5, HOST)
    assert sent(send(core, 5, Accept(opening.token)), 2) == [Spliced()]


def test_an_unanswered_dial_times_out() -> None:
    core = make(dial_timeout=5.0)
    registered_host(core)
    connect(core, 2, JOINER)
    send(core, 2, Dial(HOST), now=1.0)
    core.receive(1, encode(RelayPing(1)), 5.5)
    assert core.tick(5.5) == []
    actions = core.tick(6.5)
    assert [p.code for p in sent(actions, 2) if isinstance(p, RelayError)] == ["timeout"]
    assert closed(actions) == {2}
    assert core.pending == {}


def test_a_dialing_joiner_must_wait() -> None:
    core = make()
    registered_host(core)
    connect(core, 2, JOINER)
    send(core, 2, Dial(HOST))
    assert sent(send(core, 2, RelayPing(3)), 2) == [RelayPong(3)]  # pings are always fine
    actions = send(core, 2, PunchRequest(HOST, JOINER_UDP))
    assert [p.code for p in sent(actions, 2) if isinstance(p, RelayError)] == ["bad_state"]
    core.closed(2, 2.0)
    assert core.pending == {}


def test_when_the_host_goes_its_waiting_joiners_are_told() -> None:
    core = make()
    registered_host(core)
    connect(core, 2, JOINER)
    send(core, 2, Dial(HOST))
    actions = core.closed(1, 2.0)
    assert [p.code for p in sent(actions, 2) if isinstance(p, RelayError)] == ["host_gone"]
    assert core.hosts == {}


def test_roles_do_not_mix() -> None:
    core = make()
    registered_host(core)
    for packet in (PunchRequest(OTHER, JOINER_UDP), Dial(OTHER)):
        actions = send(core, 1, packet)
        assert [p.code for p in sent(actions, 1) if isinstance(p, RelayError)] == ["bad_state"]
        registered_host(core := make())
    connect(core, 2, JOINER)
    send(core, 2, PunchRequest(HOST, JOINER_UDP))
    actions = send(core, 2, Register(None))
    assert [p.code for p in sent(actions, 2) if isinstance(p, RelayError)] == ["bad_state"]


def test_a_new_registration_replaces_the_old_one() -> None:
    core = make()
    registered_host(core, 1)
    connect(core, 2, HOST)
    actions = send(core, 2, Register(("203.0.113.10", 4001)))
    assert [p.code for p in sent(actions, 1) if isinstance(p, RelayError)] == ["replaced"]
    assert closed(actions) == {1}
    assert core.closed(1, 2.0) == []  # the old connection closing keeps the new entry
    assert core.hosts == {HOST: 2}


def test_the_allow_list_admits_only_listed_hosts() -> None:
    core = make(allow=frozenset({fingerprint(HOST)}))
    registered_host(core)
    connect(core, 2, OTHER)
    actions = send(core, 2, Register(None))
    assert [p.code for p in sent(actions, 2) if isinstance(p, RelayError)] == ["not_allowed"]
    assert core.hosts == {HOST: 1}


def test_per_address_cap_and_total_cap() -> None:
    core = make(max_per_ip=2, max_conns=3)
    assert core.open(1, "a", 0.0) == []
    assert core.open(2, "a", 0.0) == []
    refused = core.open(3, "a", 0.0)
    assert closed(refused) == {3} and 3 not in core.conns
    assert core.closed(3, 0.0) == []  # the adapter reports the refused one closing: no harm
    assert core.open(4, "b", 0.0) == []
    assert closed(core.open(5, "c", 0.0)) == {5}  # full
    core.closed(1, 1.0)
    assert core.open(6, "a", 1.0) == []


def test_refusals_of_a_flood_are_logged_sparingly() -> None:
    core = make(max_per_ip=1)
    core.open(0, "a", 0.0)
    notes = [a for i in range(1, 101) for a in core.open(i, "a", 0.0) if isinstance(a, Note)]
    assert len(notes) == 7  # 1, 2, 4, 8, 16, 32, 64


def test_handshake_and_idle_timeouts() -> None:
    core = make(handshake_timeout=10.0, idle_timeout=60.0)
    core.open(1, "a", 0.0)  # never authenticates
    registered_host(core, 2)
    assert core.tick(9.0) == []
    assert closed(core.tick(10.5)) == {1}
    core.closed(1, 10.5)  # as the adapter reports once the socket is gone
    send(core, 2, RelayPing(1), now=50.0)
    assert closed(core.tick(100.0)) == set()
    assert closed(core.tick(111.0)) == {2}


def test_bad_packets_close_only_that_connection() -> None:
    core = make()
    registered_host(core)
    connect(core, 2, JOINER)
    for junk in (b"\xc1", b"\x80", encode(Registered(None))):
        actions = core.receive(2, junk, 1.0)
        assert closed(actions) == {2}
        errors = [p for p in sent(actions, 2) if isinstance(p, RelayError)]
        assert errors and errors[0].code in ("bad_packet", "unknown_packet")
    assert core.hosts == {HOST: 1}


def test_punch_requests_are_rate_limited() -> None:
    core = make(punch_burst=2.0, punch_rate=1.0)
    registered_host(core)
    connect(core, 2, JOINER)
    answers = [sent(send(core, 2, PunchRequest(HOST, JOINER_UDP), 1.0), 2)[0] for _ in range(3)]
    assert isinstance(answers[0], Peer) and isinstance(answers[1], Peer)
    assert isinstance(answers[2], RelayError) and answers[2].code == "rate_limited"
    assert not answers[2].fatal
    assert isinstance(sent(send(core, 2, PunchRequest(HOST, JOINER_UDP), 2.5), 2)[0], Peer)


def test_too_many_joiners_waiting_on_one_host() -> None:
    core = make(max_pending=2)
    registered_host(core)
    for conn in (2, 3, 4):
        connect(core, conn, JOINER)
    send(core, 2, Dial(HOST))
    send(core, 3, Dial(HOST))
    actions = send(core, 4, Dial(HOST))
    assert [p.code for p in sent(actions, 4) if isinstance(p, RelayError)] == ["busy"]


def test_stun_answers_are_rate_limited_per_address() -> None:
    core = make()
    answered = sum(core.stun_allowed("a", 0.0) for _ in range(100))
    assert answered == 20
    assert core.stun_allowed("b", 0.0)
    assert core.stun_allowed("a", 1.0)


def test_pacer_caps_bandwidth() -> None:
    pacer = Pacer(1000.0, 0.0)
    assert pacer.charge(1000, 0.0) == 0.0  # one second of burst
    assert pacer.charge(500, 0.0) == 0.5
    assert pacer.charge(0, 1.5) == 0.0
    assert Pacer(0.0, 0.0).charge(10**9, 0.0) == 0.0  # no cap


ops = st.lists(
    st.tuples(
        st.sampled_from(
            ["open", "auth", "reg", "punch", "dial", "accept", "close", "tick", "junk"]
        ),
        st.integers(1, 6),
        st.sampled_from([HOST, JOINER, OTHER]),
    ),
    max_size=60,
)


@settings(max_examples=300)
@given(ops)
def test_any_sequence_of_events_keeps_the_books_straight(
    steps: list[tuple[str, int, bytes]],
) -> None:
    """Whatever peers do, in any order: counts match, registrations and pending dials
    point at live connections in the right role, and pairs are symmetric."""
    core = make(max_per_ip=4, max_conns=5)
    tokens: list[bytes] = [b"\x00" * 16]
    now = 0.0
    for op, conn, key in steps:
        now += 1.0
        if op == "open" and conn not in core.conns:
            actions = core.open(conn, f"ip{conn % 2}", now)
        elif op == "auth":
            actions = core.authenticated(conn, key, now)
        elif op == "reg":
            actions = core.receive(conn, encode(Register(HOST_UDP)), now)
        elif op == "punch":
            actions = core.receive(conn, encode(PunchRequest(key, JOINER_UDP)), now)
        elif op == "dial":
            actions = core.receive(conn, encode(Dial(key)), now)
        elif op == "accept":
            actions = core.receive(conn, encode(Accept(tokens[-1])), now)
        elif op == "close":
            actions = core.closed(conn, now)
        elif op == "tick":
            actions = core.tick(now + 30.0)
        else:
            actions = core.receive(conn, b"\x93\x01\x02", now)
        for action in actions:
            if isinstance(action, SendTo):
                packet = decode_from_relay(action.data)
                if isinstance(packet, Open):
                    tokens.append(packet.token)
        for gone in closed(actions):  # the adapter closes, then reports the loss
            core.closed(gone, now)
        _check_books(core)


def _check_books(core: RelayCore) -> None:
    per_ip: dict[str, int] = {}
    for state in core.conns.values():
        per_ip[state.ip] = per_ip.get(state.ip, 0) + 1
    assert per_ip == core._per_ip
    assert len(core.conns) <= core.config.max_conns
    for key, conn in core.hosts.items():
        assert core.conns[conn].role is Role.HOST and core.conns[conn].key == key
    for token, dial in core.pending.items():
        joiner = core.conns[dial.joiner]
        assert joiner.role is Role.DIALING and joiner.token == token
    for conn, state in core.conns.items():
        if state.role is Role.SPLICED:
            assert state.partner is not None and core.conns[state.partner].partner == conn
