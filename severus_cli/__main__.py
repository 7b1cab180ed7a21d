"""Entry point: run the Typer app and turn every SeverusError into a message + exit code."""

from __future__ import annotations


def main() -> None:
    from severus_cli.app import app

    app(prog_name="severus")


if __name__ == "__main__":
    main()
