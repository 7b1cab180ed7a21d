"""Telling a ticket from a host name at the edges: the length bound and a port."""

from __future__ import annotations

from severus_cli.core.trust.ticket import looks_like_ticket


def test_past_forty_characters_a_prefixed_word_is_read_as_a_ticket() -> None:
    assert not looks_like_ticket("sev" + "x" * 37)  # 40: a host name
    assert looks_like_ticket("sev" + "x" * 38)  # 41: parsed (and refused) as a ticket


def test_a_long_single_label_host_with_a_port_is_an_address() -> None:
    assert not looks_like_ticket("sev" + "x" * 60 + ":3000")
    assert not looks_like_ticket("sev" + "x" * 60 + ":")
