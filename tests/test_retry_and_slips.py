"""Pure pieces of the quiet-screen and everyday-slip fixes: the plain reason a retry
line gives, the paste rule, trust list's aligned columns, and what an address to join
cannot be (a URL, a ticket cut short)."""

from __future__ import annotations

import pytest

from severus_cli.commands.trust_cmds import aligned
from severus_cli.core.trust.ticket import (
    Endpoint,
    Ticket,
    TicketError,
    decode_ticket,
    encode_ticket,
)
from severus_cli.errors import HostUnreachable, UsageError
from severus_cli.runtime.retry_notes import plain_reason, retry_line, retry_status
from severus_cli.runtime.target_checks import (
    SHORTEST_TICKET,
    refuse_cut_short_ticket,
    refuse_url,
)
from severus_cli.ui import input as cmd
from severus_cli.ui.paste import TEXT_COMMANDS, pasted_command


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("cannot reach 127.0.0.1:3000: Connect call failed ('127.0.0.1', 3000)",
         "connection refused"),
        ("nothing listens on TCP port 3000 at 127.0.0.1; if the host runs in QUIC mode, "
         "add --mode quic (or join with its ticket)", "connection refused"),
        ("no address answered: 10.0.0.2:3000 did not answer within 5 s; "
         "cannot reach 127.0.0.1:3000: [Errno 111] Connection refused", "connection refused"),
        ("127.0.0.1:3000 did not answer within 5 s", "no answer"),
        ("cannot resolve chat.invalid: Name or service not known", "name not found"),
        ("cannot reach 10.9.9.9:3000: No route to host", "no route to host"),
        ("TLS with 127.0.0.1:3340 failed: WRONG_VERSION_NUMBER", "TLS failed"),
        ("127.0.0.1:3340 closed the connection", "connection closed"),
        ("something new and strange", "something new and strange"),
    ],
)  # fmt: skip
def test_plain_reason_says_the_cause_in_a_few_words(message: str, reason: str) -> None:
    assert plain_reason(HostUnreachable(message)) == reason


def test_an_unknown_cause_is_kept_short() -> None:
    assert len(plain_reason("x" * 500)) <= 60


def test_the_retry_line_is_one_plain_line() -> None:
    line = retry_line("connection refused", 3.8)
    assert line == "host unreachable (connection refused); retrying in 4 s (/quit to stop)"


def test_the_status_line_counts_down_to_the_next_attempt() -> None:
    now = [100.0]
    first = retry_status(None, 103.0, clock=lambda: now[0])
    assert first() == "reconnecting in 3 s (/quit to stop)"
    now[0] = 102.6
    assert first() == "reconnecting in 1 s (/quit to stop)"  # never "in 0 s"
    now[0] = 103.0
    assert first() == "reconnecting now (/quit to stop)"
    later = retry_status("connection refused", 110.0, clock=lambda: now[0])
    assert later() == retry_line("connection refused", 7)
    now[0] = 111.0
    assert later() == "host unreachable (connection refused); trying again now (/quit to stop)"


@pytest.mark.parametrize("first", ["/join rust", "/leave", "/users", "/quit bye", "/kick bob"])
def test_a_multi_line_paste_starting_with_a_one_line_command_is_refused_whole(
    first: str,
) -> None:
    intent = cmd.parse_line(first + "\nsome pasted text\nmore")
    assert isinstance(intent, cmd.BadCommand)
    assert "nothing was sent" in intent.message and "//" in intent.message
    assert "Usage:" not in intent.message


def test_a_multi_line_paste_starting_with_no_command_says_how_to_send_it() -> None:
    intent = cmd.parse_line("/etc/hosts is wrong\nsee below")
    assert isinstance(intent, cmd.UnknownCommand)
    assert "nothing was sent" in intent.message and "start the paste with //" in intent.message


def test_text_commands_take_a_multi_line_paste_as_one_message() -> None:
    assert cmd.parse_line("/msg bob one\ntwo") == cmd.Direct("bob", "one\ntwo")
    assert cmd.parse_line("/me one\ntwo") == cmd.Say("one\ntwo", action=True)
    assert cmd.parse_line("//join\ntwo") == cmd.Say("/join\ntwo")
    assert cmd.parse_line("/join rust\n") == cmd.JoinRoom("rust")  # a trailing newline only
    assert all(pasted_command(name, name) is None for name in TEXT_COMMANDS)


def test_aligned_columns_never_cut_or_wrap() -> None:
    long_fp = "SHA256:" + "A" * 43
    lines = aligned([("Host", "Key"), ("h.example.org:3000", long_fp), ("x:1", "-")])
    assert lines[1] == f"h.example.org:3000  {long_fp}"
    assert lines[0].index("Key") == lines[1].index("SHA256") == lines[2].index("-")


@pytest.mark.parametrize("url", ["https://chat.example.org", "http://1.2.3.4:3000/", "ssh://h"])
def test_a_url_is_refused_with_what_to_give(url: str) -> None:
    with pytest.raises(UsageError, match=r"is a URL.*HOST\[:PORT\].*ticket"):
        refuse_url(url)


@pytest.mark.parametrize("address", ["chat.example.org", "10.0.0.2:3000", "[::1]:3000", "sevbox"])
def test_addresses_are_not_urls(address: str) -> None:
    refuse_url(address)


def test_the_shortest_ticket_is_longer_than_the_cut_short_limit() -> None:
    shortest = encode_ticket(Ticket(bytes(32), bytes(32), ()))
    assert len(shortest) == SHORTEST_TICKET
    assert len(encode_ticket(Ticket(bytes(32), bytes(32), (Endpoint("tcp", "1.2.3.4", 3000),))))


@pytest.mark.parametrize("cut", [5, 12, 40, SHORTEST_TICKET - 1])
def test_a_ticket_cut_short_is_named_so(cut: int) -> None:
    ticket = encode_ticket(Ticket(bytes(range(32)), bytes(32), ()))
    with pytest.raises(TicketError, match="cut short"):
        if cut > 40:
            decode_ticket(ticket[:cut])
        else:
            refuse_cut_short_ticket(ticket[:cut])


def test_a_host_name_that_resolves_is_not_taken_for_a_ticket() -> None:
    refuse_cut_short_ticket("localhost")  # not "sev..." at all
    refuse_cut_short_ticket("sev.example.org:3000")  # a dot: a host name


def test_a_sev_name_that_resolves_is_joined_as_a_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """A name like "sevenhills" on a LAN is a machine: only a name that does not resolve is taken
    for a ticket cut short."""
    import socket

    def resolves(host: str, port: object) -> list[object]:
        return [] if host == "sevenhills" else _fail(host)

    def _fail(host: str) -> list[object]:
        raise OSError(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", resolves)
    refuse_cut_short_ticket("sevenhills")
    with pytest.raises(TicketError, match="cut short"):
        refuse_cut_short_ticket("sevenhilla")
