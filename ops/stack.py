"""The production process layout on this machine, for the load test (``ops/load/``) and the fault scenarios
(``ops/faults/``).

    from stack import Stack                      # ops/ is on sys.path for the scripts beside it
    with Stack("faults", private=True) as stack:  # builds the database, starts every process
        stack.api[0].url, stack.keys["merchant"], stack.worker.kill(), stack.redis.stop(), stack.check()

What a stack is:

* **PostgreSQL**: a fresh database ``bnpl_ops_<name>`` on the machine's cluster (127.0.0.1:5432), or, with
  ``private=True``, on a private cluster of its own (``initdb`` under ``var/ops/<name>/pg``, port 5441, run as the
  ``postgres`` user) so that a scenario may restart it without disturbing anything else on the machine;
* **Redis**: the machine's (127.0.0.1:6379, a broker namespace of the stack's own), or with ``private=True`` a
  private ``redis-server`` on port 6391 (no persistence, as the machine's), which a scenario may stop;
* the migrations and ``bnpl demo`` (an operator, merchants, orders in every state, and every role's key);
* **two API processes** (``bnpl serve``, one uvicorn process each, on ``api_ports``), **a worker** (``bnpl worker``,
  Dramatiq's supervisor and its worker processes) and **the scheduler** (``bnpl scheduler``, with the outbox
  relay), all with ``BNPL_ENV=production``; each in a process group of its own, so that a kill reaches its
  children; their JSON logs in ``var/ops/<name>/<process>.log``.

Everything listens on 127.0.0.1 only. Every process (and private service) is stopped on every exit path:
the context manager, ``atexit`` and SIGINT/SIGTERM.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
BNPL = [sys.executable, "-m", "app"]
SHARED_PG = "postgresql://postgres@127.0.0.1:5432"
SHARED_REDIS = "redis://127.0.0.1:6379/0"
PRIVATE_PG_PORT = 5441
PRIVATE_REDIS_PORT = 6391
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

_LIVE: list[Any] = []  # everything to stop on exit, newest last


def _stop_everything() -> None:
    while _LIVE:
        with contextlib.suppress(Exception):
            _LIVE.pop().stop()


def _on_signal(signum: int, _frame: Any) -> None:
    _stop_everything()
    sys.exit(128 + signum)


atexit.register(_stop_everything)
for _sig in (signal.SIGINT, signal.SIGTERM):
    signal.signal(_sig, _on_signal)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- processes ---------------------------------------------------------------------------------------------------


def group_pids(pgid: int) -> list[int]:
    """Every live process of a process group (read from /proc)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":  # field 5 (pgrp) and 3 (state) of proc(5)
            pids.append(int(entry))
    return pids


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    return total


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / CLK_TCK


@dataclass
class Proc:
    """One long-running command in a process group of its own, logging to a file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    health_url: str | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> Proc:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        out = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        out.close()
        _LIVE.append(self)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def pids(self) -> list[int]:
        """The leader and its children (a uvicorn server, or Dramatiq's supervisor and its workers)."""
        return group_pids(self.pid) if self.proc is not None else []

    def children(self) -> list[int]:
        return [pid for pid in self.pids() if pid != self.pid]

    def rss(self) -> int:
        return rss_bytes(self.pids())

    def cpu(self) -> float:
        return cpu_seconds(self.pids())

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive:
                raise RuntimeError(f"{self.name} exited with {self.proc and self.proc.returncode}:\n{self.tail()}")
            if self.health_url is None:
                return
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.health_url, timeout=1).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not become ready in {timeout} s:\n{self.tail()}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the whole group (a container runtime's kill), and reap the leader on SIGKILL."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)
        if sig == signal.SIGKILL:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM (a graceful shutdown), SIGKILL after ``timeout``."""
        if self in _LIVE:
            _LIVE.remove(self)
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.kill(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill(signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)  # children that outlived the leader

    def restart(self, timeout: float = 60) -> None:
        self.stop()
        self.start().wait_ready(timeout)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


# -- private services ----------------------------------------------------------------------------------------------


class PrivatePostgres:
    """A PostgreSQL cluster of the stack's own (so that a scenario may restart or kill it)."""

    def __init__(self, base: Path, port: int = PRIVATE_PG_PORT) -> None:
        self.datadir = base / "pg"
        self.port = port
        bindir = Path(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip())
        if not (bindir / "initdb").exists():  # Debian's pg_config may name the client's bin directory
            bindir = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
        self.bindir = bindir
        self.log_path = base / "postgresql.log"

    def _as_postgres(self, *argv: str) -> subprocess.CompletedProcess[str]:
        cmd = [*argv]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            cmd = ["runuser", "-u", "postgres", "--", *argv]
        return subprocess.run(cmd, capture_output=True, text=True, check=True)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}"

    def init(self) -> None:
        if self.datadir.exists():
            self.stop(mode="immediate")
            shutil.rmtree(self.datadir)
        self.datadir.mkdir(parents=True)
        self.log_path.touch()
        if os.geteuid() == 0:
            shutil.chown(self.datadir, "postgres", "postgres")
            shutil.chown(self.log_path, "postgres", "postgres")
            shutil.chown(self.datadir.parent, "postgres")  # pg_ctl writes its log beside the data directory
        self._as_postgres(
            str(self.bindir / "initdb"),
            "-D",
            str(self.datadir),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        conf = self.datadir / "postgresql.conf"
        with conf.open("a") as f:
            f.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
                "max_connections = 200\nshared_buffers = 256MB\n"
            )
        _LIVE.append(self)

    def start(self) -> None:
        self._as_postgres(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.log_path), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """``fast`` (a clean restart: sessions are terminated) or ``immediate`` (a crash: recovery on start)."""
        if (self.datadir / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self._as_postgres(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop")

    def restart(self, mode: str = "fast", down_seconds: float = 0) -> None:
        self.stop(mode)
        time.sleep(down_seconds)
        self.start()


class PrivateRedis:
    """A redis-server of the stack's own, without persistence, as the machine's."""

    def __init__(self, base: Path, port: int = PRIVATE_REDIS_PORT) -> None:
        self.port = port
        self.proc = Proc(
            "redis",
            ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
            dict(os.environ),
            base / "redis.log",
        )

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("the private redis-server did not start")

    def stop(self) -> None:
        self.proc.stop()


# -- the stack -----------------------------------------------------------------------------------------------------


class Stack:
    KEY_LABELS = {
        "platform": "platform key",
        "platform_finance": "platform finance key",
        "admin": "operator admin key",
        "finance": "operator finance key",
        "merchant": "merchant key",
        "sandbox_merchant": "sandbox merchant key",
    }

    def __init__(
        self,
        name: str,
        *,
        private: bool = False,
        api_ports: tuple[int, ...] = (8311, 8312),
        worker_processes: int = 1,
        worker_threads: int = 4,
        env: dict[str, str] | None = None,
        pg_port: int = PRIVATE_PG_PORT,
        redis_port: int = PRIVATE_REDIS_PORT,
    ) -> None:
        self.name = name
        self.base = ROOT / "var" / "ops" / name
        self.db_name = f"bnpl_ops_{name}"
        self.private = private
        # Ports of the private services: two private stacks (ops/load and ops/faults) may run at once.
        self.pg = PrivatePostgres(self.base, pg_port) if private else None
        self.redis = PrivateRedis(self.base, redis_port) if private else None
        pg_url = self.pg.url if self.pg else SHARED_PG
        self.dsn = f"{pg_url}/{self.db_name}"
        self.env = {
            **os.environ,
            "BNPL_ENV": "production",
            "BNPL_DATABASE_URL": "postgresql+psycopg://" + self.dsn.split("://", 1)[1],
            "BNPL_REDIS_URL": self.redis.url if self.redis else SHARED_REDIS,
            "BNPL_BROKER_NAMESPACE": f"bnpl-ops-{name}",
            "BNPL_SECRET_KEY": secrets.token_urlsafe(32),
            "BNPL_LOG_LEVEL": "INFO",
            "BNPL_NOTIFICATION_FILE_DIR": str(self.base / "notifications"),
            **(env or {}),
        }
        self.keys: dict[str, str] = {}
        self.ids: dict[str, str] = {}
        self.api = [
            Proc(
                f"api{i + 1}",
                [*BNPL, "serve", "--port", str(port)],
                self.env,
                self.base / f"api{i + 1}.log",
                health_url=f"http://127.0.0.1:{port}/health",
            )
            for i, port in enumerate(api_ports)
        ]
        self.api_ports = api_ports
        self.worker = Proc(
            "worker",
            [*BNPL, "worker", "-p", str(worker_processes), "-t", str(worker_threads)],
            self.env,
            self.base / "worker.log",
        )
        self.scheduler = Proc("scheduler", [*BNPL, "scheduler", "--tick", "5"], self.env, self.base / "scheduler.log")

    # lifecycle

    def __enter__(self) -> Stack:
        self.prepare()
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def processes(self) -> list[Proc]:
        return [*self.api, self.worker, self.scheduler]

    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.api_ports]

    def prepare(self) -> None:
        """Services up, a fresh database migrated and seeded with the demo, every role's key in ``keys``."""
        if self.base.exists():
            for path in self.base.glob("*.log"):
                path.unlink()
        self.base.mkdir(parents=True, exist_ok=True)
        if self.pg:
            log(f"initdb {self.pg.datadir} (port {self.pg.port})")
            self.pg.init()
            self.pg.start()
        if self.redis:
            self.redis.start()
            _LIVE.append(self.redis)
        else:
            import redis

            client = redis.Redis.from_url(SHARED_REDIS)
            stale = list(client.scan_iter(f"{self.env['BNPL_BROKER_NAMESPACE']}*"))
            if stale:
                client.delete(*stale)
        admin = self.dsn.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.db_name}"')
        self.bnpl("db", "upgrade")
        out = self.bnpl("demo").stdout
        for key, label in self.KEY_LABELS.items():
            match = re.search(rf"^\s+{label}:\s+(\S+)$", out, re.M)
            if match is None:
                raise RuntimeError(f"bnpl demo printed no {label}:\n{out}")
            self.keys[key] = match.group(1)
        for kind in ("operator", "merchant"):
            match = re.search(rf"Demo {kind} ((?:opr|mch)_\w+)", out)
            if match:
                self.ids[kind] = match.group(1)
        log(f"database {self.db_name} migrated and seeded (operator {self.ids.get('operator')})")

    def start(self) -> None:
        # A port already taken (another stack, a forgotten server) would let the health checks below pass against
        # someone else's API while ours failed to bind: refuse instead.
        busy = [port for port in self.api_ports if port_in_use(port)]
        if busy:
            raise RuntimeError(f"port(s) {busy} on 127.0.0.1 already in use: stop that server or pass other api_ports")
        for proc in self.processes:
            proc.start()
        for proc in self.processes:
            proc.wait_ready(90)
        log(f"stack {self.name} up: API {', '.join(self.urls())}, worker, scheduler")

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()
        if self.redis:
            self.redis.stop()
        if self.pg:
            self.pg.stop("fast")

    # operations

    def bnpl(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """``bnpl ARGS`` against the stack's database and broker."""
        return subprocess.run(
            [*BNPL, *args], env=self.env, cwd=ROOT, capture_output=True, text=True, check=check, timeout=timeout
        )

    def check(self) -> tuple[bool, str]:
        """``bnpl check``: every invariant; ``(clean, its output)``."""
        result = self.bnpl("check", check=False)
        return result.returncode == 0, (result.stdout + result.stderr).strip()

    @contextlib.contextmanager
    def sql(self) -> Iterator[psycopg.Connection[Any]]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            yield conn

    def scalar(self, query: str, *params: Any) -> Any:
        with self.sql() as conn:
            row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
            return None if row is None else row[0]

    def outbox_backlog(self) -> int:
        """Messages not yet relayed, or relayed and not yet processed (neither failed)."""
        return int(
            self.scalar(
                "SELECT count(*) FROM outbox_messages o WHERE o.failed_at IS NULL AND (o.relayed_at IS NULL OR "
                "NOT EXISTS (SELECT 1 FROM processed_messages p WHERE p.message_id = o.id))"
            )
        )

    def wait_outbox_drained(self, timeout: float = 120) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.outbox_backlog() == 0:
                return True
            time.sleep(0.5)
        return False

    def memory(self) -> dict[str, int]:
        """RSS per process (bytes), children included."""
        return {proc.name: proc.rss() for proc in self.processes}


def verdict(name: str, failures: list[str], details: dict[str, Any] | None = None) -> int:
    """Print a scenario's verdict (and its details as JSON); the exit status for ``sys.exit``."""
    if details:
        print(json.dumps(details, indent=2, ensure_ascii=False, default=str))
    if failures:
        print(f"FAIL {name}")
        for failure in failures:
            print(f"  - {failure}")
        return 1
    print(f"PASS {name}")
    return 0
