"""All configuration, from ``BNPL_*`` environment variables (or a ``.env`` file).

With no settings at all the product runs embedded: SQLite under ``./var/`` and an in-process task runner.
Production (``BNPL_ENV=production``) refuses to start with the development secret.
"""

from __future__ import annotations

import enum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-insecure-secret-change-me"  # noqa: S105 - the documented development default


class Env(enum.StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BNPL_", env_file=".env", extra="ignore")

    env: Env = Env.DEVELOPMENT

    # -- database ------------------------------------------------------------------------------------------
    database_url: str = Field(
        default="sqlite+aiosqlite:///./var/bnpl.db",
        description="postgresql+psycopg://user@host/db in production; SQLite is the embedded default.",
    )
    database_pool_size: int = 10
    database_max_overflow: int = 0
    database_statement_timeout_ms: int = 15_000

    # -- broker --------------------------------------------------------------------------------------------
    redis_url: str | None = Field(
        default=None, description="redis://host:6379/0. Unset: background work runs in-process (embedded)."
    )
    broker_namespace: str = "bnpl"

    # -- security ------------------------------------------------------------------------------------------
    secret_key: str = Field(default=DEV_SECRET, description="Pepper of API-key hashes and other HMACs.")

    # -- HTTP API ------------------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 1_048_576
    rate_limit_per_minute: int = Field(default=6_000, description="Per API key and process; 0 disables.")
    auth_failures_per_minute: int = Field(
        default=60,
        ge=0,
        description="Requests with an unknown or revoked key per client address and process before that address "
        "gets 429 for keys it has not used successfully; 0 disables.",
    )
    request_body_timeout_seconds: float = Field(
        default=10.0,
        ge=0,
        description="The whole request body must arrive this long after the headers (408); 0 disables.",
    )
    keep_alive_timeout_seconds: int = Field(
        default=5, ge=1, description="uvicorn: close an idle keep-alive connection after this long."
    )
    max_concurrency: int = Field(
        default=512,
        ge=0,
        description="uvicorn: connections plus requests in flight per process before it answers 503 at once; "
        "below the file-descriptor limit, so the database pool can always open its sockets. 0: no limit.",
    )
    graceful_shutdown_seconds: int = Field(
        default=30, ge=1, description="uvicorn: on SIGTERM, wait this long for requests in flight, then close."
    )
    idempotency_stale_after_seconds: int = 60

    # -- background work -----------------------------------------------------------------------------------
    relay_interval_seconds: float = 1.0
    relay_batch_size: int = 100
    job_max_attempts: int = 20
    outbox_redeliver_after_seconds: int = Field(
        default=600,
        ge=10,
        description="Send a relayed message again if no worker has completed it after this long (the broker lost "
        "it); longer than any job runs.",
    )
    broker_heartbeat_timeout_ms: int = Field(
        default=60_000, ge=1_000, description="Dramatiq: a worker silent this long is dead; its messages requeue."
    )
    scheduler_lease_seconds: int = 30

    # -- notifications (dunning letters) -----------------------------------------------------------------------
    notification_sender: str = Field(
        default="log", description="log (default: logs template and id only) | file | smtp", pattern="^(log|file|smtp)$"
    )
    notification_file_dir: str = Field(default="./var/notifications", description="Where the file sender writes.")
    notification_smtp_host: str = "127.0.0.1"
    notification_smtp_port: int = 25
    notification_smtp_from: str = "billing@example.invalid"
    notification_smtp_starttls: bool = False

    # -- logging -------------------------------------------------------------------------------------------
    log_level: str = "INFO"
    log_json: bool | None = Field(default=None, description="Default: JSON in production, text otherwise.")

    @model_validator(mode="after")
    def _production_is_safe(self) -> Settings:
        if self.env is Env.PRODUCTION:
            if self.secret_key == DEV_SECRET or len(self.secret_key) < 32:
                raise ValueError(
                    "BNPL_ENV=production needs BNPL_SECRET_KEY set to a random secret of 32+ characters "
                    "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')"
                )
            if self.is_sqlite:
                raise ValueError("BNPL_ENV=production needs BNPL_DATABASE_URL pointing at PostgreSQL")
            if self.redis_url is None:
                raise ValueError("BNPL_ENV=production needs BNPL_REDIS_URL (the Dramatiq broker)")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def embedded(self) -> bool:
        """No broker: the outbox relay runs actors in this process."""
        return self.redis_url is None

    @property
    def json_logs(self) -> bool:
        return self.log_json if self.log_json is not None else self.env is Env.PRODUCTION

    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite:
            return None
        path = self.database_url.split(":///", 1)[-1]
        return None if path in ("", ":memory:") else Path(path)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
