"""The initiator's side of a failed handshake: the reason it gives, and that it stays
failed (the responder's side is held in test_session.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from severus_cli.core.wire.framing import FrameDecoder, encode_frame
from severus_cli.core.wire.session import HopSession, Role
from severus_cli.errors import RemoteProtocolError
from tests.test_session import CERT_HASH, INITIATOR_KEY, foreign_responder


def second_message(payload: bytes) -> tuple[HopSession, bytes]:
    """Our initiator, and a raw responder's answer to it carrying ``payload``."""
    initiator = HopSession(Role.INITIATOR, INITIATOR_KEY, CERT_HASH)
    noise = foreign_responder()
    (first,) = FrameDecoder().feed(initiator.data_to_send())
    noise.read_message(first)
    return initiator, encode_frame(noise.write_message(payload))


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(lambda: second_message(b"surprise"), id="a payload"),
        pytest.param(lambda: (second_message(b"")[0], encode_frame(b"\x17" * 96)), id="garbage"),
    ],
)
def test_a_bad_second_message_fails_the_initiator_for_good(
    answer: Callable[[], tuple[HopSession, bytes]],
) -> None:
    initiator, data = answer()
    with pytest.raises(RemoteProtocolError) as caught:
        initiator.receive_data(data)
    assert caught.value.code == "bad_handshake"
    assert initiator.peer_key is None and not initiator.established
    for more in (b"", b"\x00", data):  # even no whole frame: refused, not waited for
        with pytest.raises(RemoteProtocolError):
            initiator.receive_data(more)
