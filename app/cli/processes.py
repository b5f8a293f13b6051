"""The long-running processes: ``serve``, ``worker``, ``scheduler``."""

from __future__ import annotations

import asyncio

import anyio
import click

from app.cli._common import load_settings, open_db


@click.command(help="Serve the HTTP API (and, in embedded mode, run background work and the scheduler in-process).")
@click.option("--host", default=None, help="Bind address (default BNPL_HOST, 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default BNPL_PORT, 8000).")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=int,
    help="Uvicorn worker processes (PostgreSQL only; SQLite allows one).",
)
def serve(host: str | None, port: int | None, workers: int) -> None:
    import uvicorn

    settings = load_settings()
    if workers > 1 and settings.is_sqlite:
        raise click.ClickException("SQLite runs with one worker; use PostgreSQL for --workers > 1")
    host = host or settings.host
    port = port or settings.port
    click.echo(f"Serving on http://{host}:{port}  (docs: http://{host}:{port}/docs)")
    uvicorn.run(
        "app.asgi:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=True,
    )


@click.command(help="Run Dramatiq workers that consume background jobs from Redis (production mode).")
@click.option("--processes", "-p", default=2, show_default=True, type=int, help="Worker processes.")
@click.option("--threads", "-t", default=4, show_default=True, type=int, help="Threads per process.")
def worker(processes: int, threads: int) -> None:
    settings = load_settings()
    if settings.embedded:
        raise click.ClickException(
            "bnpl worker needs BNPL_REDIS_URL. In embedded mode `bnpl serve` runs background work in-process."
        )
    from dramatiq.cli import main as dramatiq_main
    from dramatiq.cli import make_argument_parser

    # Dramatiq's own supervisor: forks the processes, restarts crashed ones, handles signals.
    args = make_argument_parser().parse_args(
        ["app.worker.entry", "--processes", str(processes), "--threads", str(threads)]
    )
    raise SystemExit(dramatiq_main(args))


@click.command(help="Run the job scheduler (one active at a time, by lease) and an outbox relay.")
@click.option("--tick", default=15.0, show_default=True, type=float, help="Seconds between schedule checks.")
def scheduler(tick: float) -> None:
    settings = load_settings()

    async def main() -> None:
        from app.core import build_relay
        from app.worker.scheduler import run_scheduler

        async with open_db(settings) as db:
            relay = build_relay(settings, db)
            db.on_outbox_commit = relay.kick
            click.echo("Scheduler running (Ctrl-C to stop)")
            await asyncio.gather(
                run_scheduler(db, lease_seconds=settings.scheduler_lease_seconds, tick_seconds=tick),
                relay.run_forever(),
            )

    try:
        anyio.run(main)
    except KeyboardInterrupt:
        pass
