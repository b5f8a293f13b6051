"""``bnpl exports``: finance exports to a file (the same rows as the export endpoints, ``docs/exports.md``)."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
import click

from app.cli._common import load_settings, open_db
from domain.kit.tabular import ENCODINGS, FORMATS, Column, FileFormat

PROGRESS_EVERY = 100_000  # rows between two progress lines on standard error

_DATE = click.DateTime(["%Y-%m-%d"])
_options_common = [
    click.option("--operator", "operator_id", required=True, help="The operator (opr_…)."),
    click.option("--from", "date_from", type=_DATE, required=True, help="First day included (YYYY-MM-DD, JST)."),
    click.option(
        "--to", "date_to", type=_DATE, required=True, help="Last day included (YYYY-MM-DD, JST); at most 366 days."
    ),
    click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv", show_default=True, help="csv or xlsx."),
    click.option(
        "--encoding",
        type=click.Choice(ENCODINGS),
        default=None,
        help="CSV only: utf-8-bom (for people), utf-8, or cp932 (characters CP932 lacks become 〓). "
        "Default: utf-8-bom for generic and settlements, cp932 for yayoi, mf and freee.",
    ),
    click.option(
        "--header",
        type=click.Choice(["ja", "key"]),
        default=None,
        help="CSV only, generic and settlements: Japanese headers (ja, default) or stable English keys (key).",
    ),
    click.option(
        "--out",
        "out",
        required=True,
        type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
        help="The file to write, or - for standard output. A file is written as FILE.part and renamed when complete.",
    ),
]


def _common(f: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_options_common):
        f = option(f)
    return f


@click.group(help="Finance exports (CSV UTF-8 with BOM, UTF-8 or CP932, XLSX) written to a file or standard output.")
def exports() -> None:
    pass


@exports.command(
    "journal",
    help="The operator's journal entries with an effective date (JST) in [--from, --to]. Presets: generic (one "
    "row per posting), yayoi (弥生会計 仕訳日記帳, 25 columns, no header, CP932), mf (マネーフォワード "
    "クラウド会計 仕訳帳, 27 columns), freee (freee会計 仕訳インポート, 振替伝票). Example: bnpl exports journal "
    "--operator opr_… --from 2026-11-01 --to 2026-11-30 --preset yayoi --out shiwake.csv",
)
@click.option(
    "--preset",
    type=click.Choice(["generic", "yayoi", "mf", "freee"]),
    default="generic",
    show_default=True,
    help="The layout.",
)
@_common
def journal(
    operator_id: str,
    date_from: dt.datetime,
    date_to: dt.datetime,
    preset: str,
    fmt: str,
    encoding: str | None,
    header: str | None,
    out: Path,
) -> None:
    from domain.ledger import export as journal_export
    from domain.settlement.export import journal_tax_mapping

    spec = journal_export.preset_of(preset, pointer="--preset")
    start, end = date_from.date(), date_to.date()
    file = _check(start, end, fmt, encoding, header, encodings=spec.encodings, headers=spec.headers)

    async def setup(session: Any, principal: Any) -> Callable[[Any], AsyncIterable[Sequence[Any]]]:
        tax = await journal_tax_mapping(session, principal.tenant_id)

        def rows(s: Any) -> AsyncIterable[Sequence[Any]]:
            entries = journal_export.stream_entries(s, principal, start, end, currency=spec.currency)
            return journal_export.journal_rows(spec, entries, tax)

        return rows

    _run(
        operator_id,
        setup,
        spec.columns,
        file,
        out,
        guard_formulas=spec.guard_formulas,
        sheet="仕訳帳",
        title=spec.title,
        period=(start, end),
    )


@exports.command(
    "settlements",
    help="The merchant settlement statements whose cut-off (締日) is in [--from, --to]: one row per statement with "
    "sales, refunds, fees, tax, transfer fee, carry-over, payout, pay date and status. Example: bnpl exports "
    "settlements --operator opr_… --from 2026-11-01 --to 2026-11-30 --out seisan.csv",
)
@_common
def settlements(
    operator_id: str,
    date_from: dt.datetime,
    date_to: dt.datetime,
    fmt: str,
    encoding: str | None,
    header: str | None,
    out: Path,
) -> None:
    from domain.settlement.export import SETTLEMENT_COLUMNS, settlement_rows

    start, end = date_from.date(), date_to.date()
    file = _check(start, end, fmt, encoding, header)

    async def setup(session: Any, principal: Any) -> Callable[[Any], AsyncIterable[Sequence[Any]]]:
        return lambda s: settlement_rows(s, principal, start, end)

    _run(
        operator_id,
        setup,
        SETTLEMENT_COLUMNS,
        file,
        out,
        guard_formulas=True,
        sheet="精算書",
        title="加盟店精算書一覧",
        period=(start, end),
    )


@exports.command(
    "billing",
    help="A report of the platform's billing of operators: invoices (請求書一覧, by issue date), invoice-lines "
    "(請求明細), usage (利用明細, one row per event, by the JST date it occurred), credit-notes (適格返還請求書一覧), "
    "revenue (売上計上表, by issue month), ar-aging (売掛金年齢表, as of --to) or kpis (the months of the range). "
    "Example: bnpl exports billing usage --from 2026-11-01 --to 2026-11-30 --out riyou.csv",
)
@click.argument(
    "report", type=click.Choice(["invoices", "invoice-lines", "usage", "credit-notes", "revenue", "ar-aging", "kpis"])
)
@click.option("--operator", "operator_id", default=None, help="Only this operator's rows (opr_…). Default: every one.")
@click.option("--from", "date_from", type=_DATE, required=True, help="First day included (YYYY-MM-DD, JST).")
@click.option(
    "--to", "date_to", type=_DATE, required=True, help="Last day included (YYYY-MM-DD, JST); at most 366 days."
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv", show_default=True, help="csv or xlsx.")
@click.option(
    "--encoding", type=click.Choice(ENCODINGS), default=None, help="CSV only: utf-8-bom (default), utf-8 or cp932."
)
@click.option("--header", type=click.Choice(["ja", "key"]), default=None, help="CSV only: ja (default) or key.")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="The file to write, or - for standard output.",
)
def billing(
    report: str,
    operator_id: str | None,
    date_from: dt.datetime,
    date_to: dt.datetime,
    fmt: str,
    encoding: str | None,
    header: str | None,
    out: Path,
) -> None:
    from billing import exports as billing_exports

    spec = billing_exports.REPORTS[report]
    start, end = date_from.date(), date_to.date()
    file = _check(start, end, fmt, encoding, header)

    async def setup(session: Any, principal: Any) -> Callable[[Any], AsyncIterable[Sequence[Any]]]:
        return lambda s: billing_exports.rows_of(spec, s, principal, start, end, operator_id)

    def copied(session: Any, principal: Any) -> AsyncIterator[bytes] | None:
        from domain.kit.dialect import is_postgres

        if spec is not billing_exports.USAGE or file.fmt != "csv" or not is_postgres(session):
            return None
        return billing_exports.usage_csv_copy(
            session, principal, start, end, operator_id, encoding=file.encoding, header=file.header
        )

    _run(
        operator_id,
        setup,
        spec.columns,
        file,
        out,
        guard_formulas=True,
        sheet=spec.title[:31],
        title=spec.title,
        period=(start, end),
        platform=True,
        raw_chunks=copied,
    )


def _check(
    start: dt.date, end: dt.date, fmt: str, encoding: str | None, header: str | None, **allowed: Any
) -> FileFormat:
    from domain.kit.errors import DomainError
    from domain.kit.tabular import check_period, file_format

    try:
        check_period(start, end, pointers=("--from", "--to"))
        return file_format(fmt, encoding, header, prefix="--", **allowed)
    except DomainError as exc:
        raise click.UsageError(_message(exc)) from None


def _message(exc: Any) -> str:
    issues = "; ".join(f"{i.pointer}: {i.detail}" for i in exc.issues)
    return f"{exc.detail} ({issues})" if issues else exc.detail


def _run(
    operator_id: str | None,
    setup: Callable[[Any, Any], Any],
    columns: Sequence[Column],
    file: FileFormat,
    out: Path,
    *,
    guard_formulas: bool,
    sheet: str,
    title: str,
    period: tuple[dt.date, dt.date],
    platform: bool = False,
    raw_chunks: Callable[[Any, Any], AsyncIterator[bytes] | None] | None = None,
) -> None:
    from sqlalchemy import text

    from domain.kit import clock
    from domain.kit.dialect import is_postgres
    from domain.kit.errors import DomainError
    from domain.kit.tabular import file_chunks
    from domain.kit.tenancy import Principal, Role
    from domain.tenancy.service import CLI_ACTOR, get_operator

    settings = load_settings()
    if platform:  # the platform's own books: every operator, or the one named
        principal = Principal(api_key_id=CLI_ACTOR, role=Role.PLATFORM)
    else:
        principal = Principal(api_key_id=CLI_ACTOR, role=Role.OPERATOR_FINANCE, tenant_id=operator_id)
    to_stdout = str(out) == "-"
    part = out.with_name(out.name + ".part")
    counted = {"rows": 0, "bytes": 0}

    async def counting(rows: AsyncIterable[Sequence[Any]]) -> AsyncIterator[Sequence[Any]]:
        async for row in rows:
            counted["rows"] += 1
            if counted["rows"] % PROGRESS_EVERY == 0:
                click.echo(f"{counted['rows']:,} rows…", err=True)
            yield row

    async def counting_lines(chunks: AsyncIterator[bytes], *, header: bool) -> AsyncIterator[bytes]:
        """Rows of a file written by the database (one line each), for the progress lines and the summary."""
        counted["rows"] = -1 if header else 0
        async for chunk in chunks:
            before = counted["rows"]
            counted["rows"] += chunk.count(b"\n")
            if counted["rows"] // PROGRESS_EVERY > max(before, 0) // PROGRESS_EVERY:
                click.echo(f"{counted['rows']:,} rows…", err=True)
            yield chunk

    async def main() -> None:
        async with open_db(settings) as db:
            try:
                async with db.read() as session:
                    who = (await get_operator(session, operator_id)).name if operator_id else "全オペレーター"
                    rows_of = await setup(session, principal)
            except DomainError as exc:
                raise click.ClickException(_message(exc)) from None
            generated = clock.utc_now().astimezone(clock.JST).strftime("%Y-%m-%d %H:%M:%S")
            conditions = [
                ("帳票", title),
                ("オペレーター", f"{who} ({operator_id or '-'})"),
                ("期間", f"{period[0].isoformat()} 〜 {period[1].isoformat()}"),
                ("作成日時 (JST)", generated),
            ]
            stdout = sys.stdout.buffer if to_stdout else None
            target = None if to_stdout else await anyio.open_file(part, "wb")
            try:
                async with db.transaction() as session:
                    if is_postgres(session):  # a large export outlasts the statement timeout of the API's sessions
                        await session.execute(text("SET LOCAL statement_timeout = '600s'"))
                    chunks = raw_chunks(session, principal) if raw_chunks is not None else None
                    if chunks is not None:
                        chunks = counting_lines(chunks, header=file.header != "none")
                    else:
                        chunks = file_chunks(
                            columns,
                            counting(rows_of(session)),
                            file,
                            guard_formulas=guard_formulas,
                            sheet=sheet,
                            conditions=conditions,
                        )
                    async for chunk in chunks:
                        counted["bytes"] += len(chunk)
                        if stdout is not None:
                            stdout.write(chunk)
                        else:
                            assert target is not None
                            await target.write(chunk)
                if stdout is not None:
                    stdout.flush()
            except BaseException:
                if target is not None:
                    await target.aclose()
                    await anyio.Path(part).unlink(missing_ok=True)
                raise
            if target is not None:
                await target.aclose()
                await anyio.Path(part).rename(out)

    anyio.run(main)
    where = "standard output" if to_stdout else str(out)
    click.echo(f"{title}: {counted['rows']:,} rows → {where} ({counted['bytes']:,} bytes)", err=True)
