"""Stop early, with the fix, when PostgreSQL or Redis is not reachable (tests never silently skip)."""

from __future__ import annotations

import os
import socket
import sys
from urllib.parse import urlsplit

SERVICES = {
    "PostgreSQL": (
        os.environ.get("BNPL_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    ),
    "Redis": (
        os.environ.get("BNPL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
        'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no',
    ),
}


def reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout=2):
            return True
    except OSError:
        return False


def main() -> int:
    down = [(name, url, fix) for name, (url, fix) in SERVICES.items() if not reachable(url)]
    for name, url, fix in down:
        print(f"{name} is not reachable at {url}. Start it with:\n    {fix}", file=sys.stderr)
    return 1 if down else 0


if __name__ == "__main__":
    raise SystemExit(main())
