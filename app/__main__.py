"""``bnpl``: the command line (``python -m app`` works too)."""

from __future__ import annotations


def run_cli() -> None:
    from app.cli import cli

    cli(prog_name="bnpl")


if __name__ == "__main__":
    run_cli()
