"""Everyday chat details: room labels on every line from elsewhere, /quit REASON,
/ticket, /verify on oneself, /join and /help wording, /stats agreeing with /rooms."""

from __future__ import annotations

import re
import time
from typing import Any

from severus_cli.core.client import events as ev
from severus_cli.core.host.core import HostConfig, HostCore
from severus_cli.core.wire import packets as p
from severus_cli.runtime.controller import ChatController
from severus_cli.runtime.ticket_notes import ticket_notices
from severus_cli.ui import input as cmd
from severus_cli.ui.render import render
from tests.test_client_core import T0, Network, feed, new_client, registered, sent, welcome_for


def text_of(event: ev.UiEvent) -> str:
    assert isinstance(event, ev.Notice)
    return event.text


def plain(event: ev.UiEvent, room: str) -> str:
    return render(event, own_nick="bob", current_room=room, timestamp=lambda _: "").plain


# --- item 10: every line from a room that is not the current one is labelled ---------


def test_lobby_lines_are_labelled_outside_the_lobby() -> None:
    said = ev.ChatMessage(T0, "ana", "lobby", "hi")
    assert plain(said, "lobby") == "ana: hi"
    assert plain(said, "dev") == "#lobby ana: hi"
    assert plain(ev.ChatMessage(T0, "ana", "lobby", "waves", action=True), "dev") == (
        "#lobby ** ana waves"
    )
    assert plain(ev.ChatMessage(T0, "bob", "lobby", "me", own=True), "dev") == "#lobby [bob] me"
    assert plain(ev.ChatMessage(T0, "ana", "dev", "hi"), "lobby") == "#dev ana: hi"
    assert plain(ev.ChatMessage(T0, "ana", "dev", "hi"), "go") == "#dev ana: hi"


def test_a_multiline_lobby_line_elsewhere_aligns_under_its_label() -> None:
    line = plain(ev.ChatMessage(T0, "ana", "lobby", "one\ntwo"), "dev")
    assert line == "#lobby ana: one\n" + " " * len("#lobby ana: ") + "two"


def test_a_welcome_back_into_a_room_says_where_plain_lines_go() -> None:
    """After a reconnect the screen starts in the lobby; the core says it is not."""
    client = new_client("ana", rooms=("dev",))
    events = feed(client, welcome_for("ana", ("ana", "bob"), ("dev",)))
    assert ev.RoomChanged(T0, "dev", ()) in events
    assert not [
        e
        for e in feed(new_client("bob"), welcome_for("bob", ("bob",)))
        if isinstance(e, ev.RoomChanged)
    ]


# --- item 12: /quit REASON -------------------------------------------------------------


def test_quit_reason_is_parsed() -> None:
    assert cmd.parse_line("/quit") == cmd.Quit("")
    assert cmd.parse_line("/quit  gone for lunch ") == cmd.Quit("gone for lunch")
    assert cmd.parse_line("/exit bye") == cmd.Quit("bye")


def test_the_others_hear_the_quit_reason() -> None:
    net = Network()
    net.connect("ana")
    bob = net.connect("bob")
    net.seen("ana")
    bob.quit_reason = "gone for lunch"
    bob.quit()
    bob.quit("a second goodbye is never sent")
    net.flush()
    assert ev.Left(T0, "bob", "lobby", 1, "quit: gone for lunch") in net.seen("ana")
    assert plain(ev.Left(T0, "bob", "lobby", 1, "quit: gone for lunch"), "lobby") == (
        " * bob left. (quit: gone for lunch)"
    )


def test_the_longest_quit_reason_still_reaches_the_others() -> None:
    net = Network()
    net.connect("ana")
    bob = net.connect("bob")
    net.seen("ana")
    bob.quit("é" * 1000)
    net.flush()  # the others decode the left packet: no protocol error for anyone
    left = [e for e in net.seen("ana") if isinstance(e, ev.Left)]
    assert left and left[0].reason.startswith("quit: éé") and len(left[0].reason) <= 300


def test_the_host_cuts_any_reason_to_what_a_left_packet_carries() -> None:
    host = HostCore(HostConfig(), T0)
    for conn, (nick, key) in enumerate((("ana", b"a" * 32), ("bob", b"b" * 32)), start=1):
        host.accept(conn, T0)
        host.authenticated(conn, key, T0)
        host.receive(conn, p.encode(p.Hello(nick, "t", ())), T0)
    actions = host.receive(2, p.encode(p.Bye("x" * p.MAX_SHORT)), T0)
    reason = actions[0].reason  # type: ignore[union-attr]
    for action in host.closed(2, T0, reason):
        data = getattr(action, "data", None)
        if data is not None:
            assert isinstance(p.decode_from_host(data), p.Left)


# --- item 13: /ticket ------------------------------------------------------------------


class Screen:
    def __init__(self) -> None:
        self.events: list[ev.UiEvent] = []

    def show_event(self, event: ev.UiEvent) -> None:
        self.events.append(event)

    def clear(self) -> None:
        pass

    @property
    def texts(self) -> list[str]:
        return [e.text for e in self.events if isinstance(e, ev.Notice)]


class FakeParticipant:
    def __init__(self) -> None:
        self.core = registered("bob")
        self.done: list[Any] = []

    def perform(self, action: Any) -> None:
        self.done.append(action)


def controller(ticket: str | None, hosting: bool) -> tuple[ChatController, Screen]:
    screen = Screen()
    stats = (lambda now: ev.HostStats(now, 1, 1, 0, 0, 0)) if hosting else None
    chat = ChatController(screen, stats, clock=time.time, ticket=ticket)
    chat.participant = FakeParticipant()
    return chat, screen


def test_ticket_is_shown_again_on_a_line_of_its_own() -> None:
    for hosting in (True, False):
        chat, screen = controller("sevabc", hosting)
        assert chat.handle("/ticket")
        assert screen.texts[-1] == "sevabc"
        assert "severus join TICKET --nick NAME" in screen.texts[0]
    assert "This host's" in text_of(ticket_notices("sevabc", True, T0)[0])


def test_ticket_for_a_joiner_by_address_says_where_to_get_one() -> None:
    chat, screen = controller(None, hosting=False)
    chat.handle("/ticket")
    assert "joined by address" in screen.texts[-1] and "/ticket" in screen.texts[-1]


def test_ticket_works_while_reconnecting() -> None:
    chat, screen = controller("sevabc", hosting=False)
    chat.participant = None
    assert chat.handle("/ticket")
    assert screen.texts[-1] == "sevabc"


def test_quit_leaves_its_reason_for_the_goodbye() -> None:
    chat, _screen = controller(None, hosting=False)
    participant = chat.participant
    assert participant is not None
    assert not chat.handle("/quit back tomorrow")
    participant.core.quit()
    assert sent(participant.core) == [p.Bye("back tomorrow")]


# --- item 17: wording ------------------------------------------------------------------


def test_ticket_is_not_mistaken_for_kick() -> None:
    assert cmd.parse_line("/ticket") == cmd.ShowTicket()
    assert cmd.parse_line("/TICKET") == cmd.ShowTicket()


def test_verify_on_oneself_says_it_is_you() -> None:
    client = registered("ana")
    notes = client.verify("ANA", T0)
    assert len(notes) == 1
    text = text_of(notes[0])
    assert "ana is you" in text and "SHA256:" in text and "Safety code" not in text
    assert "Safety code with bob" in text_of(client.verify("bob", T0)[0])


def test_join_names_the_actual_problem() -> None:
    def message(line: str) -> str:
        result = cmd.parse_line(line)
        assert isinstance(result, cmd.BadCommand)
        return result.message

    assert "names no room" in message("/join #") and "spaces" not in message("/join #")
    assert "Which room?" in message("/join")
    assert "no spaces" in message("/join a b")
    assert cmd.parse_line("/join #dev") == cmd.JoinRoom("dev")


def test_help_summaries_share_one_column() -> None:
    columns = set()
    for line in cmd.help_lines():
        lead = re.match(r"  (/\S+(?: \S+)*)?\s+", line)  # usage (if any), then padding
        if lead is None:  # a heading or the closing sentence
            continue
        if lead.end() == len(line):  # a usage too long for the column: summary follows
            assert line.strip().startswith("/")
            continue
        columns.add(lead.end())
    assert len(columns) == 1, columns


def test_one_command_help_keeps_a_long_usage_and_its_summary() -> None:
    ban = cmd.help_lines("ban")
    assert ban[0].startswith("/ban NICK|KEY") and "host only" in ban[-1]
    assert cmd.help_lines("join") == (cmd.help_lines("join")[0],)


def test_stats_count_the_lobby_like_rooms_does() -> None:
    net = Network()
    net.connect("ana")
    net.do("ana", "join", "dev")
    net.do("ana", "list_rooms")
    listed = next(e for e in net.seen("ana") if isinstance(e, ev.RoomList))
    assert len(listed.rooms) == 2 == net.host.room_count + 1
