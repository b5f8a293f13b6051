"""structlog for everything: JSON lines in production, readable text in development.

Context (request id, tenant id, actor, message id) is bound in contextvars by the HTTP and worker middleware.
:func:`scrub_personal_data` removes personal data by key before anything is rendered, and tracebacks are rendered
by :func:`format_exception_safely`, which leaves out what an exception may quote of the data it failed on.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
import traceback
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy.exc import StatementError

# Keys whose values are personal data or secrets. Matched case-insensitively, anywhere in the event.
PERSONAL_KEYS = frozenset(
    {
        "name",
        "name_kana",
        "kana",
        "buyer",
        "consumer",
        "address",
        "postal_code",
        "zip",
        "phone",
        "tel",
        "email",
        "mail",
        "ip",
        "ip_address",
        "user_agent",
        "birthday",
        "authorization",
        "api_key",
        "secret",
        "password",
        "token",
        "card",
        "device_id",
        "cookie",
    }
)
REDACTED = "[redacted]"


def _scrub(value: Any, depth: int = 0) -> Any:
    if depth > 6:
        return value
    if isinstance(value, Mapping):
        return {k: (REDACTED if str(k).lower() in PERSONAL_KEYS else _scrub(v, depth + 1)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v, depth + 1) for v in value]
    return value


def scrub_personal_data(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: replace the values of personal-data keys with ``[redacted]``."""
    return {k: (REDACTED if k.lower() in PERSONAL_KEYS else _scrub(v)) for k, v in event_dict.items()}


try:  # the PostgreSQL driver; SQLite-only installs may lack it
    from psycopg import Error as _PsycopgError
except ImportError:  # pragma: no cover
    _PsycopgError = sqlite3.Error  # type: ignore[misc,assignment]

_DRIVER_ERRORS: tuple[type[BaseException], ...] = (_PsycopgError, sqlite3.Error)
_WITHHELD = "message withheld: it may quote the data"

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def _driver_error(exc: BaseException) -> str:
    parts = [type(exc).__name__]
    if sqlstate := getattr(exc, "sqlstate", None):
        parts.append(f"sqlstate={sqlstate}")
    diag = getattr(exc, "diag", None)
    for field in ("table_name", "column_name", "constraint_name"):
        if value := getattr(diag, field, None):
            parts.append(f"{field.removesuffix('_name')}={value}")
    return " ".join(parts)


def safe_exception_message(exc: BaseException) -> str | None:
    """What may be logged of ``exc``'s message, when its own text may carry personal data (``None``: all of it).

    * Database errors: PostgreSQL's DETAIL quotes the failing row ("Failing row contains (…)", "Key (email)=(…)")
      and SQLAlchemy appends the bound parameters. Kept: the driver error's class, SQLSTATE, table, column and
      constraint, and the SQL text (parameterised: no values).
    * Pydantic validation errors print each input value. Kept: the location and message of each error.
    """
    if isinstance(exc, StatementError):
        orig = exc.orig if exc.orig is not None else exc
        return f"({_driver_error(orig)}) [SQL: {exc.statement}] ({_WITHHELD})"
    if isinstance(exc, _DRIVER_ERRORS):
        return f"{_driver_error(exc)} ({_WITHHELD})"
    if isinstance(exc, ValidationError):
        issues = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False, include_url=False)
        )
        return f"{exc.error_count()} validation errors for {exc.title}: {issues}"
    return None


def format_exception_safely(exc_info: ExcInfo) -> str:
    """The traceback as Python prints it (the whole chain), with :func:`safe_exception_message` applied to each
    exception of the chain. No local variables: a frame's locals hold request bodies."""
    formatted = traceback.TracebackException(*exc_info)
    _withhold(formatted, exc_info[1], set())
    return "".join(formatted.format())


def _withhold(formatted: traceback.TracebackException, exc: BaseException | None, seen: set[int]) -> None:
    if exc is None or id(exc) in seen:
        return
    seen.add(id(exc))
    if (safe := safe_exception_message(exc)) is not None:
        formatted._str = safe  # the message line; Python's own attribute (3.11-3.13)
    if formatted.__cause__ is not None:
        _withhold(formatted.__cause__, exc.__cause__, seen)
    if formatted.__context__ is not None:
        _withhold(formatted.__context__, exc.__context__, seen)
    for inner_formatted, inner in zip(formatted.exceptions or [], getattr(exc, "exceptions", ()), strict=False):
        _withhold(inner_formatted, inner, seen)


def _plain_exception(sio: Any, exc_info: ExcInfo) -> None:
    sio.write("\n" + format_exception_safely(exc_info))


def configure_logging(*, json: bool, level: str = "INFO") -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        scrub_personal_data,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        # Not the rich traceback: it shows each frame's locals (request bodies, buyers) and raw exception text.
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty(), exception_formatter=_plain_exception)
    )
    structlog.configure(
        # filter_by_level first: a filtered-out event (the access log at WARNING) costs nothing further.
        processors=[structlog.stdlib.filter_by_level, *shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *([structlog.processors.ExceptionRenderer(format_exception_safely)] if json else []),
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Our access log replaces uvicorn's; SQL is never logged (it would carry personal data): aiosqlite logs every
    # statement with its parameters at DEBUG.
    for name in ("uvicorn.access", "sqlalchemy.engine", "aiosqlite"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "dramatiq"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)  # type: ignore[no-any-return]
