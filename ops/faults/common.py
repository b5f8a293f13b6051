"""What every fault scenario shares: its stack, bounded waits with progress, seeding, the worker's open
transactions (to kill it mid-job), log reading, and the closing checks (``bnpl check`` plus SQL of our own)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # ops/: the shared harness

from stack import _LIVE, ROOT, Proc, Stack, log  # noqa: E402

__all__ = ["ROOT", "Context", "Proc", "Stack", "log"]

# Ports of the fault stacks: not the load test's (8311/8312, 5441, 6391), so both can run on this machine at once.
API_PORTS = (8321, 8322)
PG_PORT = 5451
REDIS_PORT = 6401

# Recovery in seconds rather than minutes (docs: reference A2, Dramatiq requeues a dead worker's messages only
# after its heartbeat timeout, and then only on a 0.1 % maintenance roll): the relay sends again what a worker took
# and did not complete after 20 s (the jobs here take well under that per message, except the reconciliation
# chunks of unidentified payments, whose early re-delivery waits on the inbox claim and then does nothing).
RECOVERY_ENV = {
    "BNPL_OUTBOX_REDELIVER_AFTER_SECONDS": "20",
    "BNPL_BROKER_HEARTBEAT_TIMEOUT_MS": "5000",
    "BNPL_LOG_LEVEL": "INFO",
}


@dataclass
class Context:
    """A scenario's run: its stack, the failures found so far, and the figures for the report."""

    name: str
    stack: Stack
    failures: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def fail(self, message: str) -> None:
        log(f"  FAILURE: {message}")
        self.failures.append(message)

    def expect(self, condition: bool, message: str) -> bool:
        if not condition:
            self.fail(message)
        return condition

    def expect_equal(self, what: str, actual: Any, expected: Any) -> bool:
        return self.expect(actual == expected, f"{what}: {actual!r}, expected {expected!r}")


def make_stack(name: str, *, env: dict[str, str] | None = None, local_webhooks: bool = False) -> Stack:
    """The production layout on a private PostgreSQL and Redis (which a scenario may stop).

    ``local_webhooks``: ``BNPL_ENV=test``, the only setting that lets a merchant register ``http://127.0.0.1``
    (production refuses non-public and non-https URLs); nothing else in the product reads ``BNPL_ENV`` except the
    log format, kept JSON here.
    """
    for port in (*API_PORTS, PG_PORT, REDIS_PORT):
        if _listening(port):
            raise RuntimeError(
                f"port {port} is in use: another fault scenario is running (or a stack was left behind; "
                f"its processes are in var/ops/faults-*)"
            )
    extra = {**RECOVERY_ENV, **(env or {})}
    if local_webhooks:
        extra |= {"BNPL_ENV": "test", "BNPL_LOG_JSON": "true"}
    return FaultStack(
        f"faults-{name}",
        private=True,
        api_ports=API_PORTS,
        pg_port=PG_PORT,
        redis_port=REDIS_PORT,
        worker_processes=1,
        worker_threads=4,
        env=extra,
    )


TEMPLATE = ROOT / "var" / "ops" / "faults-template"
TEMPLATE_MAX_AGE = 6 * 3600  # the demo's orders are dated when it ran: a day-old template tells another story


def _template_key() -> str:
    """What the prepared database depends on: the migrations and the demo."""
    digest = hashlib.sha256()
    for path in [*sorted((ROOT / "alembic" / "versions").glob("*.py")), ROOT / "app" / "cli" / "demo.py"]:
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


class FaultStack(Stack):
    """A :class:`Stack` whose prepared cluster (initdb, migrations, ``bnpl demo``) is copied from a template made
    by the first scenario, instead of being built again for each one (half a minute each on this machine).

    Every scenario still starts from a fresh, identical database: the template is the cluster exactly as
    ``Stack.prepare`` left it, stopped cleanly, keys and secret included. It is rebuilt when the migrations or the
    demo change, or after six hours. One database name for every fault stack, so the copy needs no renaming.
    """

    def __init__(self, name: str, **kw: Any) -> None:
        super().__init__(name, **kw)
        assert self.pg is not None and self.redis is not None, "fault stacks are private"
        self.db_name = "bnpl_ops_faults"
        self.dsn = f"{self.pg.url}/{self.db_name}"
        # In place: the processes were given this very dict.
        self.env["BNPL_DATABASE_URL"] = "postgresql+psycopg://" + self.dsn.split("://", 1)[1]

    def prepare(self) -> None:
        assert self.pg is not None and self.redis is not None
        meta_path = TEMPLATE / "meta.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        if meta.get("key") != _template_key() or time.time() - meta.get("created", 0) > TEMPLATE_MAX_AGE:
            super().prepare()
            self._save_template()
            return
        if self.base.exists():
            for path in self.base.glob("*.log"):
                path.unlink()
        self.base.mkdir(parents=True, exist_ok=True)
        if self.pg.datadir.exists():
            self.pg.stop(mode="immediate")
            shutil.rmtree(self.pg.datadir)
        shutil.copytree(TEMPLATE / "pg", self.pg.datadir, symlinks=True)
        self.pg.log_path.touch()
        if os.geteuid() == 0:
            subprocess.run(
                ["chown", "-R", "postgres:postgres", str(self.pg.datadir), str(self.pg.log_path)], check=True
            )
            shutil.chown(self.base, "postgres")
        _LIVE.append(self.pg)
        self.pg.start()
        self.redis.start()
        _LIVE.append(self.redis)
        self.env["BNPL_SECRET_KEY"] = meta["secret"]  # the keys' hashes and every HMAC depend on it
        self.keys.update(meta["keys"])
        self.ids.update(meta["ids"])
        log(f"database {self.db_name} copied from the template of {time.ctime(meta['created'])}")

    def _save_template(self) -> None:
        assert self.pg is not None
        self.pg.stop("fast")
        shutil.rmtree(TEMPLATE, ignore_errors=True)
        TEMPLATE.mkdir(parents=True)
        shutil.copytree(self.pg.datadir, TEMPLATE / "pg", symlinks=True)
        for leftover in ("postmaster.pid", "postmaster.opts"):
            (TEMPLATE / "pg" / leftover).unlink(missing_ok=True)
        meta = {
            "key": _template_key(),
            "created": time.time(),
            "secret": self.env["BNPL_SECRET_KEY"],
            "keys": self.keys,
            "ids": self.ids,
        }
        (TEMPLATE / "meta.json").write_text(json.dumps(meta))
        self.pg.start()
        log(f"template saved in {TEMPLATE.relative_to(ROOT)} for the next scenarios")


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


# -- waiting ---------------------------------------------------------------------------------------------------------


def wait_until(
    what: str,
    predicate: Callable[[], Any],
    *,
    timeout: float,
    every: float = 1.0,
    progress: Callable[[], str] | None = None,
    progress_every: float = 10.0,
) -> tuple[bool, float]:
    """Poll ``predicate`` until it is truthy or ``timeout`` passes, printing progress; ``(ok, seconds waited)``.

    Database errors while polling (PostgreSQL restarting) count as "not yet".
    """
    start = time.monotonic()
    last = start
    while True:
        try:
            if predicate():
                waited = time.monotonic() - start
                log(f"  {what}: after {waited:.1f} s")
                return True, waited
        except Exception as exc:  # noqa: BLE001 - a service being down is "not yet"
            if time.monotonic() - last >= progress_every:
                log(f"  … {what}: {type(exc).__name__}")
        now = time.monotonic()
        if now - start >= timeout:
            log(f"  {what}: NOT within {timeout:.0f} s" + (f" ({progress()})" if progress else ""))
            return False, now - start
        if progress is not None and now - last >= progress_every:
            with contextlib.suppress(Exception):
                log(f"  … waiting for {what}: {progress()} ({now - start:.0f} s)")
            last = now
        time.sleep(every)


# -- seeding through the product's services ------------------------------------------------------------------------


def seed(stack: Stack, *args: str, timeout: float = 900) -> dict[str, Any]:
    """``ops/faults/seed.py ARGS`` with the stack's environment; its JSON result."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(HERE / "seed.py"), *args],
        env={**stack.env, "BNPL_LOG_LEVEL": "WARNING"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("SEED_RESULT ")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"seed.py {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    out = json.loads(lines[-1].removeprefix("SEED_RESULT "))
    log(f"  seeded {args[0]} in {time.monotonic() - started:.0f} s: {out}")
    return out


def enqueue(stack: Stack, actor: str, payload: dict[str, Any], tenant: str | None = None) -> str:
    """Stage one outbox message, as the scheduler stages a due slot; the relay hands it to the worker."""
    args = ["enqueue", actor, json.dumps(payload)] + (["--tenant", tenant] if tenant else [])
    return str(seed(stack, *args, timeout=120)["message_id"])


def clone_database(stack: Stack, suffix: str) -> dict[str, str]:
    """A copy of the stack's database as it is now (``pg_dump`` | ``pg_restore``: a consistent snapshot while the
    processes keep running), beside it on the same cluster: a reference to run the same job on undisturbed.
    Returns the environment that points ``bnpl`` at the copy."""
    assert stack.pg is not None, "a private stack"
    name = f"{stack.db_name}_{suffix}"
    admin = stack.dsn.rsplit("/", 1)[0] + "/postgres"
    with contextlib.closing(__import__("psycopg").connect(admin, autocommit=True)) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    dump = subprocess.Popen([str(stack.pg.bindir / "pg_dump"), "-Fc", stack.dsn], stdout=subprocess.PIPE)
    restore = subprocess.run(
        [str(stack.pg.bindir / "pg_restore"), "--no-owner", "-d", stack.dsn.rsplit("/", 1)[0] + f"/{name}"],
        stdin=dump.stdout,
        capture_output=True,
        text=True,
    )
    dump.wait()
    if dump.returncode != 0 or restore.returncode != 0:
        raise RuntimeError(f"cloning the database failed: {restore.stderr[-2000:]}")
    url = stack.env["BNPL_DATABASE_URL"].rsplit("/", 1)[0] + f"/{name}"
    return {**stack.env, "BNPL_DATABASE_URL": url, "BNPL_LOG_LEVEL": "WARNING"}


# -- the worker's open transactions --------------------------------------------------------------------------------


def _socket_inodes(pids: list[int]) -> set[str]:
    inodes = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    return inodes


def _local_ports(inodes: set[str]) -> list[int]:
    ports = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 9 and fields[9] in inodes:
                    ports.append(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def backends_of(stack: Stack, proc: Proc) -> list[dict[str, Any]]:
    """PostgreSQL backends whose client is one of ``proc``'s processes: their state, their transaction's age, and
    the tables their transaction has touched (its relation locks)."""
    ports = _local_ports(_socket_inodes(proc.pids()))
    if not ports:
        return []
    with stack.sql() as conn:
        rows = conn.execute(
            "SELECT a.pid, a.state, extract(epoch FROM now() - a.xact_start)::float, left(a.query, 200), "
            "array(SELECT c.relname::text FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE l.pid = a.pid AND c.relkind = 'r') "
            "FROM pg_stat_activity a WHERE a.datname = %s AND a.client_port = ANY(%s)",
            (stack.db_name, ports),
        ).fetchall()
    return [{"pid": r[0], "state": r[1], "xact_seconds": r[2], "query": r[3], "tables": r[4]} for r in rows]


def open_transactions(
    stack: Stack, proc: Proc, min_seconds: float = 0.0, tables: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """``proc``'s transactions open for ``min_seconds`` or more (that touched one of ``tables``, if given)."""
    return [
        b
        for b in backends_of(stack, proc)
        if b["xact_seconds"] is not None
        and b["xact_seconds"] >= min_seconds
        and b["state"] != "idle"
        and (not tables or set(tables) & set(b["tables"]))
    ]


def kill_worker_mid_transaction(
    ctx: Context,
    *,
    ready: Callable[[], bool],
    what: str,
    min_seconds: float = 0.05,
    tables: tuple[str, ...] = (),
    timeout: float = 180,
    every: float = 0.02,
) -> dict[str, Any] | None:
    """SIGKILL the worker (its whole process group) while it holds a transaction open for at least ``min_seconds``
    (and touched one of ``tables``, if given: the job's own tables, not another job's) and ``ready()`` says the job
    is far enough along; the transaction seen, or ``None`` if it never happened."""
    stack = ctx.stack
    deadline = time.monotonic() + timeout
    next_ready_check = 0.0
    is_ready = False
    last_note = time.monotonic()
    while time.monotonic() < deadline:
        now = time.monotonic()
        if not is_ready and now >= next_ready_check:
            is_ready = bool(ready())
            next_ready_check = now + 0.5
        if is_ready:
            busy = open_transactions(stack, stack.worker, min_seconds, tables)
            if busy:
                stack.worker.kill()  # SIGKILL to the supervisor and its worker processes
                seen = max(busy, key=lambda b: b["xact_seconds"])
                log(
                    f"  SIGKILL worker during {what}: transaction open {seen['xact_seconds']:.2f} s "
                    f"({seen['state']}: {seen['query'][:90]!r}; tables {', '.join(sorted(seen['tables']))})"
                )
                return seen
        elif now - last_note > 10:
            log(f"  … waiting for {what} to start")
            last_note = now
        time.sleep(every)
    ctx.fail(f"the worker never held a transaction open during {what} within {timeout:.0f} s: nothing was killed")
    return None


def restart_worker(stack: Stack) -> float:
    """Start the worker again (it was killed); the seconds it took to be up."""
    started = time.monotonic()
    stack.worker.start().wait_ready(60)
    return time.monotonic() - started


# -- logs --------------------------------------------------------------------------------------------------------------


def log_events(stack: Stack, process: str, event: str | None = None) -> list[dict[str, Any]]:
    """The JSON log lines of ``var/ops/<stack>/<process>.log`` (every run of the process), optionally one event."""
    path = stack.base / f"{process}.log"
    out = []
    with contextlib.suppress(OSError), path.open(errors="replace") as f:
        for line in f:
            if not line.startswith("{"):
                continue
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if event is None or item.get("event") == event:
                out.append(item)
    return out


def grep_logs(
    stack: Stack, pattern: str, processes: tuple[str, ...] = ("api1", "api2", "worker", "scheduler")
) -> list[str]:
    regex = re.compile(pattern)
    lines = []
    for name in processes:
        with contextlib.suppress(OSError), (stack.base / f"{name}.log").open(errors="replace") as f:
            lines += [f"{name}: {line.rstrip()}" for line in f if regex.search(line)]
    return lines


def error_lines(stack: Stack) -> dict[str, int]:
    """How many error-level lines (and tracebacks) each process logged: evidence for a report."""
    counts: Counter[str] = Counter()
    for name in ("api1", "api2", "worker", "scheduler"):
        with contextlib.suppress(OSError), (stack.base / f"{name}.log").open(errors="replace") as f:
            for line in f:
                if '"level": "error"' in line or '"level": "critical"' in line or line.startswith("Traceback"):
                    counts[name] += 1
    return dict(counts)


def redelivery_evidence(stack: Stack) -> dict[str, Any]:
    """What the logs say about messages sent again and executed twice: the relay's redeliveries, the inbox's
    duplicates ignored, and jobs that failed with an exception (Dramatiq retries them)."""
    relays = [e for p in ("api1", "api2", "scheduler") for e in log_events(stack, p, "outbox_redelivered")]
    failed = [
        e
        for e in log_events(stack, "worker")
        if e.get("level") == "error" and str(e.get("event", "")).startswith("Failed to process message")
    ]
    return {
        "relay_redelivered": sum(int(e.get("sent", 0)) for e in relays),
        "first_redelivery_at": min((e["timestamp"] for e in relays), default=None),
        "duplicates_ignored": len(log_events(stack, "worker", "job_duplicate_ignored")),
        "jobs_failed_with_exception": [
            (e["timestamp"], e["event"][:90], str(e.get("exception", "")).strip().splitlines()[-1][:160])
            for e in failed
        ],
    }


# -- closing checks ----------------------------------------------------------------------------------------------------


def outbox_state(stack: Stack) -> dict[str, int]:
    """Pending (not relayed), in flight (relayed, not completed), dead (failed) and completed messages."""
    with stack.sql() as conn:
        has_completed = conn.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_name = 'outbox_messages' AND column_name = "
            "'completed_at'"
        ).fetchone()
        done = (
            "o.completed_at IS NOT NULL"
            if has_completed
            else "EXISTS (SELECT 1 FROM processed_messages p WHERE p.message_id = o.id)"
        )
        row = conn.execute(
            f"SELECT count(*) FILTER (WHERE o.failed_at IS NULL AND o.relayed_at IS NULL), "  # noqa: S608
            f"count(*) FILTER (WHERE o.failed_at IS NULL AND o.relayed_at IS NOT NULL AND NOT ({done})), "
            f"count(*) FILTER (WHERE o.failed_at IS NOT NULL), count(*) FILTER (WHERE {done}) "
            "FROM outbox_messages o"
        ).fetchone()
    assert row is not None
    return {"pending": row[0], "in_flight": row[1], "dead": row[2], "completed": row[3]}


def wait_outbox_drained(ctx: Context, timeout: float = 120) -> float | None:
    """Wait until no outbox message is pending or in flight; the seconds it took, or ``None`` (a failure)."""
    state: dict[str, int] = {}

    def drained() -> bool:
        nonlocal state
        state = outbox_state(ctx.stack)
        return state["pending"] == 0 and state["in_flight"] == 0

    ok, waited = wait_until("outbox drained", drained, timeout=timeout, progress=lambda: str(state))
    if not ok:
        ctx.fail(f"the outbox did not drain within {timeout:.0f} s: {state}")
        return None
    return waited


def dead_messages(stack: Stack) -> list[tuple[str, str, str]]:
    with stack.sql() as conn:
        return [
            (r[0], r[1], (r[2] or "")[:200])
            for r in conn.execute(
                "SELECT id, actor, last_error FROM outbox_messages WHERE failed_at IS NOT NULL ORDER BY created_at"
            ).fetchall()
        ]


def ledger_unbalanced(stack: Stack) -> int:
    """Journal entries whose debits and credits differ (our own check, beside ``bnpl check``)."""
    return int(
        stack.scalar(
            "SELECT count(*) FROM (SELECT entry_id FROM ledger_postings GROUP BY tenant_id, entry_id, currency "
            "HAVING sum(CASE WHEN direction = 'debit' THEN amount ELSE -amount END) <> 0) x"
        )
    )


def finish(ctx: Context, *, drain_timeout: float = 120, dead_allowed: int = 0) -> None:
    """The closing checks every scenario runs: the outbox drains, no message is dead, the ledger balances, the
    processes are alive, and ``bnpl check`` passes."""
    stack = ctx.stack
    log("closing checks")
    ctx.details["outbox_drain_seconds"] = wait_outbox_drained(ctx, drain_timeout)
    dead = dead_messages(stack)
    ctx.details["outbox"] = outbox_state(stack)
    if len(dead) > dead_allowed:
        ctx.fail(f"{len(dead)} dead outbox message(s): {dead[:5]}")
    ctx.expect_equal("unbalanced journal entries", ledger_unbalanced(stack), 0)
    for proc in stack.processes:
        ctx.expect(proc.alive, f"{proc.name} is not running at the end (exit {proc.proc and proc.proc.returncode})")
    clean, output = stack.check()
    tail = "\n".join(output.splitlines()[-40:])
    ctx.details["bnpl_check"] = "clean" if clean else tail
    if clean:
        log("  bnpl check: clean")
    else:
        log(f"  bnpl check:\n{tail}")
        ctx.fail(
            "bnpl check is not clean" + (" (the command does not exist yet)" if "No such command" in output else "")
        )
    errors = error_lines(stack)
    if errors:
        ctx.details["error_log_lines"] = errors


@contextlib.contextmanager
def step(title: str) -> Iterator[None]:
    started = time.monotonic()
    log(title)
    yield
    log(f"  ({title.split(':')[0]}: {time.monotonic() - started:.1f} s)")
