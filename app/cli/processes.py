"""The long-running processes: ``serve``, ``worker``, ``scheduler``."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import click

from app.cli._common import load_settings, open_db
from app.settings import Settings


def uvicorn_limits(settings: Settings) -> dict[str, Any]:
    """uvicorn's options against slow and greedy clients (``bnpl serve``; the tests' servers use them too).

    * ``timeout_keep_alive``: an idle keep-alive connection is closed after ``BNPL_KEEP_ALIVE_TIMEOUT_SECONDS``
      (behind a proxy that pools upstream connections, keep it above the proxy's upstream idle timeout).
    * ``limit_concurrency``: beyond ``BNPL_MAX_CONCURRENCY`` connections plus requests in flight the process
      answers 503 at once (plain text, uvicorn's own) instead of running out of file descriptors, which would
      also starve the database pool.
    * ``timeout_graceful_shutdown``: on SIGTERM, requests in flight get ``BNPL_GRACEFUL_SHUTDOWN_SECONDS``;
      a stalled client cannot hold a deploy forever.
    * The app itself answers 408 when a request body has not fully arrived ``BNPL_REQUEST_BODY_TIMEOUT_SECONDS``
      after the headers (``app/middleware.py``), and 413 above ``BNPL_MAX_BODY_BYTES``.

    What uvicorn (0.54, httptools parser) cannot do, and the reverse proxy in front of it must:

    * **No header-read timeout.** A connection that sends nothing, or sends its headers a byte at a time
      (slowloris), stays open indefinitely: ``timeout_keep_alive`` only starts after a first response. Each such
      connection costs a file descriptor and counts toward ``limit_concurrency``, so enough of them make the
      process answer 503 to everyone. nginx: ``client_header_timeout``.
    * **No header size limit with httptools** (measured: 2 MB of headers were buffered without complaint; h11
      stops at 16 KB but parses more slowly). nginx: ``large_client_header_buffers``.
    * **No per-address connection or request limits, and no limits shared between processes** (the app's rate
      limits are per process). nginx: ``limit_conn``, ``limit_req``.
    """
    return {
        "timeout_keep_alive": settings.keep_alive_timeout_seconds,
        "limit_concurrency": settings.max_concurrency or None,
        "timeout_graceful_shutdown": settings.graceful_shutdown_seconds,
    }


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
        proxy_headers=True,  # the client address (rate limits of failed keys) from the proxy's X-Forwarded-For
        **uvicorn_limits(settings),
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
