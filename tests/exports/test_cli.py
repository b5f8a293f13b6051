"""``bnpl exports`` from a shell: the same files as the API, to a file or standard output, with progress."""

from __future__ import annotations

import asyncio
import importlib
import io

import openpyxl
from click.testing import CliRunner

from app.cli import cli
from tests.exports.conftest import add_statements, golden, post_fixed_journal
from tests.fixtures.factories import create_tenant

cli_exports = importlib.import_module("app.cli.exports")  # the module (``app.cli.exports`` is the group)
NOVEMBER = ["--from", "2026-11-01", "--to", "2026-11-30"]


async def invoke(*args: str):
    return await asyncio.to_thread(CliRunner().invoke, cli, list(args))


async def test_journal_presets_to_a_file_and_to_standard_output(committed_db, tmp_path):
    tenant = await create_tenant(committed_db, "Alpha BNPL")
    journal = await post_fixed_journal(committed_db, tenant)

    out = tmp_path / "shiwake.csv"
    result = await invoke(
        "exports", "journal", "--operator", tenant.id, *NOVEMBER, "--preset", "yayoi", "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    assert journal.normalise(out.read_bytes()) == golden("journal_yayoi_cp932.csv")
    assert list(tmp_path.iterdir()) == [out]  # written as .part, renamed once complete
    assert f"弥生会計 仕訳日記帳: 3 rows → {out}" in result.stderr

    result = await invoke(
        "exports", "journal", "--operator", tenant.id, *NOVEMBER, "--header", "key", "--encoding", "utf-8", "--out", "-"
    )
    assert result.exit_code == 0, result.output
    assert journal.normalise(result.stdout_bytes) == golden("journal_generic_key_utf-8.csv")
    assert "5 rows → standard output" in result.stderr


async def test_settlements_as_xlsx_with_a_progress_line(committed_db, tmp_path, monkeypatch):
    tenant = await create_tenant(committed_db, "Alpha BNPL")
    await add_statements(committed_db, tenant)
    monkeypatch.setattr(cli_exports, "PROGRESS_EVERY", 1)
    out = tmp_path / "seisan.xlsx"
    result = await invoke(
        "exports", "settlements", "--operator", tenant.id, *NOVEMBER, "--format", "xlsx", "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    assert "1 rows…" in result.stderr and "2 rows…" in result.stderr
    book = openpyxl.load_workbook(io.BytesIO(out.read_bytes()))
    rows = list(book["精算書"].iter_rows(values_only=True))
    assert [row[:2] for row in rows[1:]] == [(1, "stl_golden_1"), (2, "stl_golden_2")]
    assert dict(list(book["条件"].iter_rows(values_only=True))[1:])["オペレーター"] == f"Alpha BNPL ({tenant.id})"


async def test_bad_arguments_and_unknown_operators_are_refused(committed_db, tmp_path):
    tenant = await create_tenant(committed_db)
    out = tmp_path / "x.csv"
    backwards = await invoke(
        "exports", "journal", "--operator", tenant.id, "--from", "2026-11-30", "--to", "2026-11-01", "--out", str(out)
    )
    assert backwards.exit_code == 2 and "--to: must be on or after --from" in backwards.output
    too_long = await invoke(
        "exports",
        "settlements",
        "--operator",
        tenant.id,
        "--from",
        "2025-01-01",
        "--to",
        "2026-01-02",
        "--out",
        str(out),
    )
    assert too_long.exit_code == 2 and "at most 366 days" in too_long.output
    wrong = await invoke(
        "exports",
        "journal",
        "--operator",
        tenant.id,
        *NOVEMBER,
        "--preset",
        "yayoi",
        "--encoding",
        "utf-8",
        "--out",
        str(out),
    )
    assert wrong.exit_code == 2 and "--encoding: expected one of cp932" in wrong.output
    unknown = await invoke("exports", "journal", "--operator", "opr_nobody", *NOVEMBER, "--out", str(out))
    assert unknown.exit_code == 1 and "opr_nobody" in unknown.output
    assert not out.exists() and list(tmp_path.iterdir()) == []


async def test_help_names_the_presets_and_encodings():
    result = await invoke("exports", "journal", "--help")
    assert result.exit_code == 0
    for word in ("yayoi", "mf", "freee", "generic", "cp932", "utf-8-bom", "--out"):
        assert word in result.output
