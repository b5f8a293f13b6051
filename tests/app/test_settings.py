"""Settings: safe development defaults; production refuses unsafe ones."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.settings import DEV_SECRET, Settings

PROD_OK = {
    "env": "production",
    "secret_key": "x" * 48,
    "database_url": "postgresql+psycopg://bnpl@db/bnpl",
    "redis_url": "redis://redis:6379/0",
}


def test_defaults_are_embedded_and_development(monkeypatch):
    for name in ("BNPL_ENV", "BNPL_DATABASE_URL", "BNPL_REDIS_URL", "BNPL_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    s = Settings(_env_file=None)
    assert s.is_sqlite and s.embedded and s.secret_key == DEV_SECRET
    assert not s.json_logs


def test_production_with_safe_settings_starts():
    s = Settings(_env_file=None, **PROD_OK)
    assert s.json_logs and not s.embedded


@pytest.mark.parametrize(
    "override,message",
    [
        ({"secret_key": DEV_SECRET}, "BNPL_SECRET_KEY"),
        ({"secret_key": "short"}, "BNPL_SECRET_KEY"),
        ({"database_url": "sqlite+aiosqlite:///./var/x.db"}, "PostgreSQL"),
        ({"redis_url": None}, "BNPL_REDIS_URL"),
    ],
)
def test_production_refuses_unsafe_settings(override, message):
    with pytest.raises(ValidationError, match=message):
        Settings(_env_file=None, **{**PROD_OK, **override})


def test_environment_variables_use_the_bnpl_prefix(monkeypatch):
    monkeypatch.setenv("BNPL_PORT", "9001")
    assert Settings(_env_file=None).port == 9001


def test_cli_reports_invalid_settings_clearly(monkeypatch):
    from click.testing import CliRunner

    from app.cli import cli
    from app.settings import get_settings

    monkeypatch.setenv("BNPL_ENV", "production")
    monkeypatch.setenv("BNPL_SECRET_KEY", DEV_SECRET)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["operators", "list"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert result.exit_code != 0
    assert "BNPL_SECRET_KEY" in result.output
