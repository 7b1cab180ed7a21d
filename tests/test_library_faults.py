"""asyncio's report of a known Python 3.11 TLS-shutdown fault stays off the screen;
every other fault still reaches asyncio's own handler."""

from __future__ import annotations

import asyncio
from typing import Any

from severus_cli.commands.common import _quiet_known_library_faults


class Loop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        super().__init__()
        self.reported: list[dict[str, Any]] = []

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        self.reported.append(context)


def test_the_tls_abort_fault_is_not_printed_but_others_are() -> None:
    loop = Loop()
    try:
        abort = TypeError("SSLProtocol._abort() takes 1 positional argument but 2 were given")
        _quiet_known_library_faults(loop, {"message": "Task exception", "exception": abort})
        assert loop.reported == []
        other = TypeError("something else")
        _quiet_known_library_faults(loop, {"message": "Task exception", "exception": other})
        _quiet_known_library_faults(loop, {"message": "no exception at all"})
        assert [c.get("exception") for c in loop.reported] == [other, None]
    finally:
        loop.close()
