"""The ``bnpl`` command line.

A plain click group rather than Litestar's CLI: ``bnpl --help`` then works without building the app (or even
valid production settings), and every command is ours. Commands are sync click functions that run an inner
async function with ``anyio.run``.
"""

from __future__ import annotations

import click

from app.cli.billing import billing
from app.cli.check import check
from app.cli.db import db
from app.cli.demo import demo
from app.cli.exports import exports
from app.cli.fraud import fraud
from app.cli.jobs import jobs
from app.cli.ledger import ledger
from app.cli.payments import payments
from app.cli.processes import scheduler, serve, worker
from app.cli.settlement import settlement
from app.cli.tenancy import keys, merchants, operators


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="bnpl")
def cli() -> None:
    """BNPL platform: the API server, background workers, and operations commands.

    Configuration comes from BNPL_* environment variables (see README). With none set, everything runs
    embedded: SQLite under ./var/ and background work in-process.
    """


for command in (
    serve,
    worker,
    scheduler,
    db,
    demo,
    operators,
    merchants,
    keys,
    jobs,
    ledger,
    fraud,
    payments,
    settlement,
    exports,
    billing,
    check,
):
    cli.add_command(command)
