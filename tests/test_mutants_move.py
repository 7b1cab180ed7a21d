"""HostCore moves (PROTOCOL.md 4.8) at their edges: which rooms count against the new
address, who may not move, and what the moved session still does afterwards."""

from __future__ import annotations

from severus_cli.core.wire import packets as p
from tests.test_host_core import Host, closes, fatal, key_for, packets_for
from tests.test_host_move import CANNOT_MOVE, MOVING, arrive, chat_in_r, seal

HOME, AWAY = "198.51.100.7", "203.0.113.9"


def register(
    host: Host, conn: int, nick: str, source: str = "", rooms: tuple[str, ...] = ()
) -> None:
    """``nick`` (the key of ``conn``) says hello on ``conn`` from ``source``."""
    arrive(host, conn, key_for(conn), source)
    welcome = packets_for(host.receive(conn, p.Hello(nick, "t", rooms)))[conn][0]
    assert isinstance(welcome, p.Welcome)


def move(host: Host, conn: int, nick: str, key: bytes, source: str = "") -> list[p.Packet]:
    """``key`` moves ``nick``'s session onto the new connection ``conn``: what it got."""
    arrive(host, conn, key, source)
    actions = host.receive(conn, p.Hello(nick, "t", (), MOVING))
    assert conn not in closes(actions)
    return packets_for(actions)[conn]


def test_a_move_within_one_address_brings_no_new_rooms() -> None:
    host = Host(max_rooms_per_ip=1)
    register(host, 2, "bob", HOME, ("mine",))  # the address holds its one room
    assert move(host, 5, "bob", key_for(2), HOME) == [p.Moved()]
    assert host.core.members("mine") == ("bob",)


def test_a_move_fills_the_new_address_up_to_its_limit() -> None:
    host = Host(max_rooms_per_ip=2)
    register(host, 3, "cat", AWAY, ("cats",))
    register(host, 2, "bob", HOME, ("mine",))
    assert move(host, 5, "bob", key_for(2), AWAY) == [p.Moved()]  # 1 + 1 of 2


def test_only_rooms_the_mover_is_alone_in_count() -> None:
    """A room shared with others stays however full the new address is."""
    host = Host(max_rooms_per_ip=1)
    register(host, 1, "ana", "", ("r",))
    register(host, 3, "cat", AWAY, ("cats",))  # the new address is full
    register(host, 2, "bob", HOME, ("r",))
    assert move(host, 5, "bob", key_for(2), AWAY) == [p.Moved()]
    assert host.core.members("r") == ("ana", "bob")


def test_with_no_room_cap_any_address_takes_a_move() -> None:
    host = Host(max_rooms_per_ip=0)
    register(host, 2, "bob", HOME, ("mine", "also"))
    assert move(host, 5, "bob", key_for(2)) == [p.Moved()]  # onto no address at all
    assert move(host, 6, "bob", key_for(2), AWAY) == [p.Moved()]


def test_a_move_onto_a_connection_with_no_address_is_not_counted() -> None:
    host = Host(max_rooms_per_ip=1)
    register(host, 2, "bob", "", ("one", "two"))  # no address: no room cap either
    assert move(host, 5, "bob", key_for(2)) == [p.Moved()]


def test_a_send_that_holds_the_nick_alone_does_not_move() -> None:
    host = Host()
    host.join(1, "ana")
    arrive(host, 2, key_for(2))
    welcome = packets_for(host.receive(2, p.Hello("bob", "t", (), (*p.CAPS, p.SEND_ONLY))))
    assert isinstance(welcome[2][0], p.Welcome)
    arrive(host, 3, key_for(2))
    fatal(host.receive(3, p.Hello("bob", "t", (), MOVING)), 3, CANNOT_MOVE)
    assert host.core.nick_of(2) == "bob"


def test_the_moved_session_keeps_the_capabilities_of_its_new_hello() -> None:
    """A client that understands renames hears them as such after its move, not as a
    leave and a join."""
    host = chat_in_r()
    move(host, 3, "bob", key_for(2))
    host.core.closed(2, host.now, "moved")
    heard = packets_for(host.receive(1, p.Nick(4, "anna")))
    assert heard[3] == [p.Renamed("ana", "anna")]


def test_sends_beside_a_moved_session_still_speak_in_its_rooms() -> None:
    host = Host()
    for conn, nick in ((1, "ana"), (2, "bob")):  # both hear sends apart (4.7)
        arrive(host, conn, key_for(conn))
        host.receive(conn, p.Hello(nick, "t", ("r",), p.CAPS))
    arrive(host, 4, key_for(2))
    host.receive(4, p.Hello("bob", "t", (), (*p.CAPS, p.SEND_ONLY)))
    move(host, 3, "bob", key_for(2))
    host.core.closed(2, host.now, "moved")
    got = seal(host, 4, "r", b"from a send")
    sealed = got[1][0]
    assert isinstance(sealed, p.Sealed) and sealed.sender == "bob" and sealed.via == 1
    assert got[4] == [p.Ok(7)]
