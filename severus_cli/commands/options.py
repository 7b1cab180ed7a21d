"""The option types the ``severus`` commands share, apart from app.py so that file
stays about the commands themselves. Only typer here: importing it must stay cheap."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

CONFIG_DIR_ENV = "SEVERUS_CONFIG_DIR"
ConfigDir = Annotated[
    Path | None,
    typer.Option(
        "--config-dir",
        envvar=CONFIG_DIR_ENV,
        help="Where keys and known_hosts live (default: the platform's config dir).",
        show_default=False,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


class Mode(enum.StrEnum):
    direct = "direct"
    quic = "quic"


Target = Annotated[
    str | None,
    typer.Argument(
        help="HOST[:PORT], a ticket, or - to read a ticket from stdin (default: $SEVERUS_TICKET).",
        show_default=False,
    ),
]
ModeOption = Annotated[
    Mode | None,
    typer.Option("--mode", help="Force a transport (default: direct, or what the ticket says)."),
]
Nick = Annotated[
    str | None,
    typer.Option("--nick", "-n", help="Your nick: 1-32 of letters, digits, _ . -"),
]
AcceptNew = Annotated[
    bool,
    typer.Option("--accept-new", help="Trust and pin a host seen for the first time."),
]
Secret = Annotated[
    bool,
    typer.Option(
        "--secret",
        help="Use a join secret, from $SEVERUS_SECRET (never the command line); a host "
        "without it makes one up.",
    ),
]
SecretFile = Annotated[
    str | None,
    typer.Option(
        "--secret-file",
        help="Read the join secret from the first line of FILE (- for stdin).",
        metavar="FILE",
        show_default=False,
    ),
]
ExpectedFingerprint = Annotated[
    str | None,
    typer.Option(
        "--fingerprint",
        help="The host's identity fingerprint (SHA256:...), verified out of band.",
    ),
]


RelayAddress = Annotated[
    str | None,
    typer.Option(
        "--relay",
        help="Register with this `severus relay` (HOST[:PORT], default port 3340): "
        "reachable from behind NAT, and named in the ticket.",
        metavar="HOST:PORT",
        show_default=False,
    ),
]
Stun = Annotated[
    str | None,
    typer.Option(
        "--stun",
        help="Find our public UDP endpoint with this STUN server instead of the relay.",
        metavar="HOST:PORT",
        show_default=False,
    ),
]
