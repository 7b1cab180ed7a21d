"""A send that made way for its own chat: stdin is read once across its sessions, and
what was given back goes out first (runtime/send_again.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from severus_cli.runtime.send_again import Lines


def test_lines_given_back_come_before_a_read_still_in_progress() -> None:
    async def main() -> list[str]:
        gate = asyncio.Event()

        async def source() -> AsyncIterator[str]:
            yield "a"
            await gate.wait()
            yield "c"

        lines = Lines(source())
        got: list[str] = []
        step = lines.step()
        got.append(await step)
        lines.took(step)
        pending = lines.step()
        await asyncio.sleep(0)  # the session ends here, with the read in progress
        assert not pending.done()
        lines.again(["b1", "b2"])  # not acknowledged before it ended
        for _ in range(3):
            step = lines.step()
            gate.set()
            got.append(await step)
            lines.took(step)
        step = lines.step()
        try:
            await step
        except StopAsyncIteration:
            got.append("end")
        lines.close()
        return got

    assert asyncio.run(main()) == ["a", "b1", "b2", "c", "end"]
