"""A paste of several lines that starts with a slash command.

A multi-line paste is one message, and so is the text of ``/msg``, ``/reply`` and
``/me`` when it runs over several lines. Any other command takes one line, so such a
paste is refused whole, with the reason: running the command and saying the rest
would send that text where the person did not look (after ``/join``, before the join
is done, it would still go to the room they are leaving).
"""

from __future__ import annotations

# Commands whose last argument is free text, which may be a multi-line message.
TEXT_COMMANDS = frozenset({"msg", "reply", "me"})


def pasted_command(typed: str, command: str | None) -> str | None:
    """Why a multi-line paste starting with ``/typed`` (``command``: the command it
    names, None for no command) is not sent; None when it can be."""
    if command in TEXT_COMMANDS:
        return None
    if command is None:
        problem, run = f"/{typed[:32]}, which is no command", " To send"
    else:
        problem = f"/{command}, which takes one line"
        run = f" Run /{command} on its own line first, then paste the rest; or to send"
    return (
        f"That paste has several lines and starts with {problem}: nothing was sent."
        f"{run} all of it as text, start the paste with //."
    )
