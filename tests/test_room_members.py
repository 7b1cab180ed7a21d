"""A room's members stay in join order through any joins and leaves, and the dict that
holds them is rebuilt once leaves have left more holes than members: every relayed
message copies the members out, so a lobby that once held many must not keep costing
per message what it cost then (core/host/actions.py, ``Room.remove``)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from severus_cli.core.host.actions import Room


@given(st.lists(st.tuples(st.booleans(), st.integers(1, 40)), max_size=300))
def test_members_keep_join_order_and_the_holes_stay_bounded(steps: list[tuple[bool, int]]) -> None:
    room = Room("lobby")
    expected: list[int] = []
    for join, conn in steps:
        if join and conn not in room.members:
            room.members[conn] = None
            expected.append(conn)
        elif not join and conn in room.members:
            room.remove(conn)
            expected.remove(conn)
        assert list(room.members) == expected
        assert room.holes <= len(room.members) + 8


def test_a_lobby_emptied_of_a_crowd_is_rebuilt() -> None:
    room = Room("lobby")
    for conn in range(1, 1001):
        room.members[conn] = None
    before = room.members
    for conn in range(1, 999):
        room.remove(conn)
    assert list(room.members) == [999, 1000]
    assert room.members is not before  # a new dict, without the thousand holes
    assert room.holes <= 10
