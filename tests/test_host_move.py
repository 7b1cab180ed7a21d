"""HostCore: a session moves onto another connection of the same key (PROTOCOL.md 4.8)."""

from __future__ import annotations

from severus_cli.core.host.core import Close
from severus_cli.core.wire import packets as p
from tests.test_host_core import Host, closes, fatal, key_for, packets_for, touched

MOVING = (*p.CAPS, p.MOVING)
CANNOT_MOVE = "cannot_move"


def arrive(host: Host, conn: int, key: bytes, source: str = "") -> None:
    """A new connection that proved ``key``."""
    host.core.accept(conn, host.now, source)
    assert host.core.authenticated(conn, key, host.now) == []


def seal(host: Host, conn: int, room: str, text: bytes) -> dict[int, list[p.Packet]]:
    return packets_for(host.receive(conn, p.Seal(7, room, text)))


def chat_in_r() -> Host:
    """ana (1) and bob (2), both in the lobby and in room r."""
    host = Host()
    host.join(1, "ana", ("r",))
    host.join(2, "bob", ("r",))
    return host


def test_the_same_key_moves_its_session_and_nobody_else_hears_of_it() -> None:
    host = chat_in_r()
    before = seal(host, 1, "r", b"before")
    assert [type(x) for x in before[2]] == [p.Sealed]  # still to the old connection
    arrive(host, 3, key_for(2))
    actions = host.receive(3, p.Hello("bob", "test", (), MOVING))
    got = packets_for(actions)
    assert got == {2: [p.Moved()], 3: [p.Moved()]}  # nothing for ana: no leave, no join
    assert [a.conn for a in actions if isinstance(a, Close)] == [2]
    assert host.core.closed(2, host.now, "moved") == []  # its close is not a leave
    after = seal(host, 1, "r", b"after")
    assert 2 not in after and [type(x) for x in after[3]] == [p.Sealed]
    from_bob = seal(host, 3, "r", b"from the new path")
    sealed = from_bob[1][0]
    assert isinstance(sealed, p.Sealed) and sealed.sender == "bob"
    assert host.core.members("r") == ("ana", "bob")  # same order, same nick
    assert host.core.participant_count == 2
    assert host.core.nick_of(3) == "bob" and host.core.nick_of(2) == ""


def test_the_old_connection_hears_moved_last() -> None:
    """Whatever the host sent the old connection before the move comes before its
    ``moved``; everything after goes to the new one: nothing is lost or sent twice."""
    host = chat_in_r()
    arrive(host, 3, key_for(2))
    actions = host.receive(1, p.Seal(1, "r", b"one"))
    actions += host.receive(3, p.Hello("bob", "test", (), MOVING))
    actions += host.receive(1, p.Seal(2, "r", b"two"))
    got = packets_for(actions)
    old = [x.data if isinstance(x, p.Sealed) else x for x in got[2]]
    new = [x.data if isinstance(x, p.Sealed) else x for x in got[3]]
    assert old == [b"one", p.Moved()] and new == [p.Moved(), b"two"]


def test_another_key_cannot_move_someone_elses_session() -> None:
    host = chat_in_r()
    arrive(host, 3, key_for(9))
    fatal(host.receive(3, p.Hello("bob", "test", (), MOVING)), 3, "nick_taken")
    assert host.core.nick_of(2) == "bob"
    assert [type(x) for x in seal(host, 1, "r", b"still")[2]] == [p.Sealed]


def test_a_move_with_no_session_to_move_is_refused() -> None:
    host = Host()
    host.join(1, "ana")
    arrive(host, 3, key_for(2))
    actions = host.receive(3, p.Hello("bob", "test", (), MOVING))
    fatal(actions, 3, CANNOT_MOVE)
    assert host.core.participant_count == 1


def test_send_only_connections_do_not_move() -> None:
    host = chat_in_r()
    arrive(host, 3, key_for(2))
    fatal(host.receive(3, p.Hello("bob", "t", (), (*MOVING, p.SEND_ONLY))), 3, CANNOT_MOVE)
    assert host.core.nick_of(2) == "bob"


def test_a_move_spends_a_registration_token_of_its_new_address() -> None:
    host = Host(registration_burst=1, registration_per_second=0.001)
    host.join(1, "ana")
    host.join(2, "bob")
    arrive(host, 3, key_for(9), source="198.51.100.7")
    host.receive(3, p.Hello("eve", "t"))  # spends the address's only token
    arrive(host, 4, key_for(2), source="198.51.100.7")
    actions = host.receive(4, p.Hello("bob", "t", (), MOVING))
    refused = packets_for(actions)[4][0]
    assert isinstance(refused, p.Error) and refused.code == "rate_limited"
    assert not refused.fatal and closes(actions) == set()
    assert host.core.nick_of(2) == "bob"


def test_a_move_respects_the_rooms_an_address_may_hold() -> None:
    host = Host(max_rooms_per_ip=1)
    host.join(1, "ana")
    host.join(2, "bob", ("mine",))  # (no source: not counted)
    arrive(host, 3, key_for(5), source="198.51.100.7")
    host.receive(3, p.Hello("cat", "t", ("cats",)))  # the address holds 1 room now
    arrive(host, 4, key_for(2), source="198.51.100.7")
    fatal(host.receive(4, p.Hello("bob", "t", (), MOVING)), 4, CANNOT_MOVE)
    assert host.core.nick_of(2) == "bob"


def test_send_only_connections_follow_their_holder() -> None:
    host = chat_in_r()
    arrive(host, 4, key_for(2))
    welcome = packets_for(host.receive(4, p.Hello("bob", "t", (), (*p.CAPS, p.SEND_ONLY))))
    assert isinstance(welcome[4][0], p.Welcome)
    arrive(host, 3, key_for(2))
    host.receive(3, p.Hello("bob", "test", (), MOVING))
    host.core.closed(2, host.now, "moved")
    relayed = packets_for(host.receive(1, p.Relay(9, "bob", "hs", b"x", via=1)))
    assert isinstance(relayed[4][0], p.Relayed)
    actions = host.core.closed(3, host.now, "gone")  # the holder ends: so do its sends
    assert 4 in closes(actions)


def test_the_host_announces_moves() -> None:
    host = Host()  # the capability is in every welcome (4.6)
    welcome = packets_for(host.join(1, "ana"))[1][0]
    assert isinstance(welcome, p.Welcome) and "move" in welcome.caps


def test_two_moves_of_one_key_at_once_leave_one_session_and_no_trace() -> None:
    """Two new connections of bob's race to take his session: the later one ends up
    with it, each one it passed through gets ``moved`` and is closed, ana hears nothing."""
    host = chat_in_r()
    arrive(host, 3, key_for(2))
    arrive(host, 4, key_for(2))
    actions = host.receive(3, p.Hello("bob", "t", (), MOVING))
    actions += host.receive(4, p.Hello("bob", "t", (), MOVING))
    got = packets_for(actions)
    assert 1 not in got and got[3] == [p.Moved(), p.Moved()] and got[4] == [p.Moved()]
    assert closes(actions) == {2, 3}
    assert host.core.closed(2, host.now, "moved") == host.core.closed(3, host.now, "moved") == []
    assert host.core.nick_of(4) == "bob" and host.core.participant_count == 2
    assert host.core.members("r") == ("ana", "bob")
    assert [type(x) for x in seal(host, 1, "r", b"to the last one")[4]] == [p.Sealed]


def test_the_old_connection_is_deaf_once_moved() -> None:
    """Whatever a client (or someone who kept its old connection) sends there after the
    move reaches nobody: the connection is only closed."""
    host = chat_in_r()
    arrive(host, 3, key_for(2))
    host.receive(3, p.Hello("bob", "t", (), MOVING))
    for late in (p.Seal(8, "r", b"late"), p.Join(9, "s"), p.Bye("x"), p.Ping(10)):
        actions = host.receive(2, late)
        assert touched(actions) == {2} and closes(actions) == {2}
        assert packets_for(actions) == {}
    assert host.core.nick_of(3) == "bob" and host.core.members("r") == ("ana", "bob")


def test_moving_back_and_forth_is_bounded_by_the_registration_tokens_and_unseen() -> None:
    host = Host(registration_burst=3, registration_per_second=0.001)
    host.join(1, "ana")
    host.join(2, "bob")
    conn, moved, heard = 2, 0, []
    for new in range(3, 23):  # a churn of moves from one address
        arrive(host, new, key_for(2), source="198.51.100.7")
        got = packets_for(host.receive(new, p.Hello("bob", "t", (), MOVING)))
        heard += got.get(1, [])
        if got[new] == [p.Moved()]:
            host.core.closed(conn, host.now, "moved")
            conn, moved = new, moved + 1
    assert moved == 3 and heard == []  # the address's tokens, then "slow down"; ana: nothing
    assert host.core.nick_of(conn) == "bob" and host.core.participant_count == 2
