"""A participant that seals the largest room messages as fast as the host lets it.

Run in the host's namespace: ``python -m tests.netns.flooder PORT SECONDS``. It
registers as ``mallory``, prints ``ready``, then for SECONDS sends 65,000-byte ``seal``
packets to the lobby a quarter faster than the byte allowance refills (after spending
its whole burst at once), so the host is always the one holding it back; it reads every
answer, so its own backlog never grows. At the end it prints
``done ok=N refused=N fatal=N bytes=N`` (bytes the host accepted to relay).
"""

from __future__ import annotations

import sys
import time

from severus_cli.core.host.core import HostConfig
from severus_cli.core.wire import packets
from tests.e2e.attack import RawPeer

SIZE = packets.MAX_DATA
OVERDRIVE = 1.25  # how much faster than the allowance it tries


def main(port: int, seconds: float) -> None:
    peer = RawPeer(port)
    peer.hello("mallory")
    limit = HostConfig().byte_limit
    assert limit is not None
    burst, rate = limit
    tally = {"ok": 0, "refused": 0, "fatal": 0}
    print("ready", flush=True)
    start = time.monotonic()
    request = 0
    payload = b"\xa5" * SIZE

    def read(until: float) -> bool:
        while (left := until - time.monotonic()) > 0:
            peer.sock.settimeout(left)
            try:
                data = peer.sock.recv(1 << 20)
            except TimeoutError:
                return True
            if not data:
                return False
            for packet in peer.decode(data):
                if isinstance(packet, packets.Ok):
                    tally["ok"] += 1
                elif isinstance(packet, packets.Error):
                    tally["fatal" if packet.fatal else "refused"] += 1
        return True

    open_ = True
    while open_ and (elapsed := time.monotonic() - start) < seconds:
        allowed = burst + elapsed * rate * OVERDRIVE
        while request * SIZE < allowed:
            request += 1
            peer.send(packets.encode(packets.Seal(request, "lobby", payload)))
        open_ = read(start + (request * SIZE - burst) / (rate * OVERDRIVE))
    read(time.monotonic() + 2)  # the last answers
    peer.close()
    print(
        f"done ok={tally['ok']} refused={tally['refused']} fatal={tally['fatal']} "
        f"bytes={tally['ok'] * SIZE}",
        flush=True,
    )


if __name__ == "__main__":
    main(int(sys.argv[1]), float(sys.argv[2]))
