"""What ``/verify NICK`` shows: the safety code to read out, or why there is none.

Kept apart from the participant core so the wording can grow without that module.
"""

from __future__ import annotations

from severus_cli.core.client import events as ev
from severus_cli.core.e2e.verify import safety_code
from severus_cli.core.trust.identity_format import fingerprint


def verify_notes(
    own_nick: str, own_key: bytes, peer: str, peer_key: bytes, now: float
) -> list[ev.UiEvent]:
    """The safety code shared with ``peer``, and how to compare it.

    Asked about ourselves there is nothing to compare (a code with our own key proves
    nothing), so say that it is us and show our key for others to check instead.
    """
    if peer_key == own_key and peer.casefold() == own_nick.casefold():
        return [
            ev.Notice(
                now,
                f"{peer} is you: there is no code to compare with yourself. Your key is "
                f"{fingerprint(own_key)}; /verify NICK gives the code to compare with NICK.",
            )
        ]
    return [
        ev.Notice(now, f"Safety code with {peer}: {safety_code(own_key, peer_key)}"),
        ev.Notice(
            now,
            f"{peer} should see the same digits with /verify {own_nick}; "
            f"compare them by voice or in person. {peer}'s key: "
            f"{fingerprint(peer_key)}",
        ),
    ]
