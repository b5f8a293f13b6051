"""The operator's journal as an export: one canonical stream of entries, rendered as presets (``docs/exports.md``).

The journal of one tenant for a JST ``effective_date`` range is read with one streamed SELECT (a server-side
cursor on PostgreSQL, ``yield_per`` rows at a time): journal entries, their postings and the posting's account,
ordered by effective date, entry id, then within an entry debits before credits, by account code and posting id.
(Posting ids are ULIDs, random within a millisecond, so they do not keep the order an entry's lines were given;
the export orders an entry's postings by side and account code so that the same journal always gives the same
file.) :func:`stream_entries` groups the rows back into entries, one entry in memory at a time, and a preset
turns each entry into rows:

* ``generic``: one row per posting, for people (Japanese header, UTF-8 with BOM) or machines (``header=key``);
* ``yayoi``: 弥生会計 仕訳日記帳 import, 25 columns, no header, CP932;
* ``mf``: マネーフォワード クラウド会計 仕訳帳 import, 27 columns A–AA with its header row, CP932 by default;
* ``freee``: freee 会計 仕訳インポート (振替伝票), 9 columns with a header row, CP932 by default.

Every preset keeps debits equal to credits per 伝票 (an entry is one 伝票; its debit and credit postings are paired
row by row). The tool presets carry JPY postings only (the tools book yen); other currencies are in ``generic``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any, Literal

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.kit.errors import FieldIssue, InvalidInput, PermissionDenied
from domain.kit.repository import Repository
from domain.kit.tabular import Column, Encoding, check_period
from domain.kit.tenancy import Principal, Role, readable_statement
from domain.ledger.models import JournalEntry, LedgerAccount, Posting

__all__ = [
    "PRESETS",
    "ExportEntry",
    "ExportPosting",
    "JournalExportRepository",
    "JournalPreset",
    "PresetName",
    "TaxMapping",
    "default_tax_mapping",
    "journal_rows",
    "preset_of",
    "stream_entries",
    "tool_account_name",
]

PresetName = Literal["generic", "yayoi", "mf", "freee"]
HeaderMode = Literal["ja", "key", "none"]
YIELD_PER = 1000  # rows fetched per round trip from the server-side cursor


# -- the canonical journal --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExportPosting:
    id: str
    account_code: str
    account_key: str
    account_name: str  # as stored: "普通預金 (collection account)"
    direction: str  # debit | credit
    amount: int
    currency: str


@dataclass(frozen=True, slots=True)
class ExportEntry:
    id: str
    effective_date: dt.date
    kind: str
    memo: str
    source_ref: str | None
    reverses_id: str | None
    postings: tuple[ExportPosting, ...]

    @property
    def debits(self) -> list[ExportPosting]:
        return [p for p in self.postings if p.direction == "debit"]

    @property
    def credits(self) -> list[ExportPosting]:
        return [p for p in self.postings if p.direction == "credit"]

    @property
    def summary(self) -> str:
        """摘要: the entry's kind and memo."""
        return f"{self.kind} {self.memo}".strip()


class JournalExportRepository(Repository):
    """The export's SQL: one streamed SELECT over the caller's tenant."""

    def statement(
        self, principal: Principal, start: dt.date, end: dt.date, *, currency: str | None = None
    ) -> Select[Any]:
        stmt = (
            readable_statement(JournalEntry, principal)
            .with_only_columns(
                JournalEntry.id,
                JournalEntry.effective_date,
                JournalEntry.kind,
                JournalEntry.memo,
                JournalEntry.source_ref,
                JournalEntry.reverses_id,
                Posting.id,
                LedgerAccount.code,
                LedgerAccount.key,
                LedgerAccount.name,
                Posting.direction,
                Posting.amount,
                Posting.currency,
                maintain_column_froms=False,
            )
            .select_from(JournalEntry)
            .join(Posting, (Posting.tenant_id == JournalEntry.tenant_id) & (Posting.entry_id == JournalEntry.id))
            .join(
                LedgerAccount,
                (LedgerAccount.tenant_id == Posting.tenant_id) & (LedgerAccount.id == Posting.account_id),
            )
            .where(JournalEntry.effective_date >= start, JournalEntry.effective_date <= end)
            .order_by(
                JournalEntry.effective_date,
                JournalEntry.id,
                Posting.direction.desc(),  # 'debit' > 'credit': debits first
                LedgerAccount.code,
                Posting.id,
            )
        )
        if currency is not None:
            stmt = stmt.where(Posting.currency == currency)
        return stmt

    async def stream(
        self,
        principal: Principal,
        start: dt.date,
        end: dt.date,
        *,
        currency: str | None = None,
        yield_per: int = YIELD_PER,
    ) -> AsyncIterator[Any]:
        result = await self.session.stream(
            self.statement(principal, start, end, currency=currency).execution_options(yield_per=yield_per)
        )
        try:
            async for partition in result.partitions():  # a fetch at a time: stepping row by row costs 2-3x
                for row in partition:
                    yield row
        finally:
            await result.close()


async def stream_entries(
    session: AsyncSession,
    principal: Principal,
    start: dt.date,
    end: dt.date,
    *,
    currency: str | None = None,
    yield_per: int = YIELD_PER,
) -> AsyncIterator[ExportEntry]:
    """The tenant's journal entries with ``start <= effective_date <= end`` (JST dates), in export order, with
    their postings (only those in ``currency`` if given), one entry in memory at a time.

    Raises:
        PermissionDenied: A merchant key (the journal is the operator's).
        InvalidInput: The range ends before it starts or is longer than 366 days.
    """
    if principal.role is Role.MERCHANT:
        raise PermissionDenied("The journal is the operator's: use an operator admin or finance key.")
    check_period(start, end)
    repo = JournalExportRepository.from_session(session)
    head: tuple[Any, ...] | None = None
    postings: list[ExportPosting] = []
    async for row in repo.stream(principal, start, end, currency=currency, yield_per=yield_per):
        entry_id, effective_date, kind, memo, source_ref, reverses_id, *posting = row
        if head is not None and head[0] != entry_id:
            yield ExportEntry(*head, postings=tuple(postings))
            postings = []
        head = (entry_id, effective_date, kind, memo or "", source_ref, reverses_id)
        posting_id, code, key, name, direction, amount, posting_currency = posting
        postings.append(ExportPosting(posting_id, code, key, name, direction, int(amount), posting_currency))
    if head is not None:
        yield ExportEntry(*head, postings=tuple(postings))


# -- names and tax categories for the accounting tools ----------------------------------------------------------


def tool_account_name(name: str) -> str:
    """The Japanese part of a chart name: ``"普通預金 (collection account)"`` → ``"普通預金"``."""
    return name.split(" (", 1)[0].strip()


TAXABLE_SALES = "課税売上{rate}%"
NON_TAXABLE_SALES = "非課税売上"
OUT_OF_SCOPE = "対象外"


@dataclass(frozen=True, slots=True)
class TaxMapping:
    """税区分 per account key, ``default`` for the others. Per-tenant mapping tables are not built (yet)."""

    by_account: Mapping[str, str] = field(default_factory=dict)
    default: str = OUT_OF_SCOPE

    def category(self, account_key: str) -> str:
        return self.by_account.get(account_key, self.default)


def default_tax_mapping(fee_tax_model: str = "receivable_assignment", tax_rate_percent: int = 10) -> TaxMapping:
    """The default 税区分 (``docs/exports.md``): 対象外 everywhere except the merchant fee revenue (4110), taxable
    sales at the policy's rate under ``payment_agency`` (決済代行: every fee is a taxable service) and non-taxable
    sales under ``receivable_assignment`` (債権譲渡: the rate fee, the bulk of 4110, is not taxable; the per-invoice
    and monthly fees in the same account are, and the settlement export has the split). The output tax line
    (2140 仮受消費税) stays 対象外: the tax is already its own line, and the tool must not compute it again."""
    fee = TAXABLE_SALES.format(rate=tax_rate_percent) if fee_tax_model == "payment_agency" else NON_TAXABLE_SALES
    return TaxMapping(by_account={"merchant_fee_revenue": fee, "output_consumption_tax": OUT_OF_SCOPE})


DEFAULT_TAX_MAPPING = default_tax_mapping()


# -- presets ------------------------------------------------------------------------------------------------------

Render = Callable[[AsyncIterable[ExportEntry], TaxMapping], AsyncIterator[tuple[Any, ...]]]


@dataclass(frozen=True, slots=True)
class JournalPreset:
    name: PresetName
    title: str
    columns: tuple[Column, ...]
    encodings: tuple[Encoding, ...]  # accepted; the first is the default
    headers: tuple[HeaderMode, ...]  # accepted; the first is the default
    guard_formulas: bool  # files for people are guarded; import files for the tools are not (it would alter data)
    currency: str | None  # only postings in this currency (the tools book yen)
    render: Render

    @property
    def encoding(self) -> Encoding:
        return self.encodings[0]

    @property
    def header(self) -> HeaderMode:
        return self.headers[0]


def _pairs(entry: ExportEntry) -> list[tuple[ExportPosting | None, ExportPosting | None]]:
    """The entry's debits and credits side by side, row by row (a side without a posting on a row is None)."""
    return list(zip_longest(entry.debits, entry.credits))


def _slash(day: dt.date) -> str:
    return day.strftime("%Y/%m/%d")


GENERIC_COLUMNS = (
    Column("entry_id", "仕訳ID"),
    Column("effective_date", "計上日", "date"),
    Column("kind", "取引種別"),
    Column("memo", "メモ"),
    Column("source_ref", "発生元"),
    Column("reverses_id", "取消元仕訳ID"),
    Column("account_code", "勘定科目コード"),
    Column("account_key", "勘定科目キー"),
    Column("account_name", "勘定科目"),
    Column("debit", "借方金額", "int"),
    Column("credit", "貸方金額", "int"),
    Column("currency", "通貨"),
)


async def _generic(entries: AsyncIterable[ExportEntry], tax: TaxMapping) -> AsyncIterator[tuple[Any, ...]]:
    async for e in entries:
        for p in e.postings:
            debit = p.amount if p.direction == "debit" else None
            credit = p.amount if p.direction == "credit" else None
            yield (
                e.id,
                e.effective_date,
                e.kind,
                e.memo,
                e.source_ref,
                e.reverses_id,
                p.account_code,
                p.account_key,
                tool_account_name(p.account_name),
                debit,
                credit,
                p.currency,
            )


def _side_columns(side: str, ja: str) -> tuple[Column, ...]:
    return (
        Column(f"{side}_account", f"{ja}勘定科目"),
        Column(f"{side}_sub_account", f"{ja}補助科目"),
        Column(f"{side}_department", f"{ja}部門"),
        Column(f"{side}_tax_category", f"{ja}税区分"),
        Column(f"{side}_amount", f"{ja}金額", "int"),
        Column(f"{side}_tax_amount", f"{ja}税金額", "int"),
    )


YAYOI_COLUMNS = (
    Column("flag", "識別フラグ", "int"),
    Column("slip_no", "伝票No.", "int"),
    Column("closing", "決算"),
    Column("date", "取引日付"),
    *_side_columns("debit", "借方"),
    *_side_columns("credit", "貸方"),
    Column("description", "摘要"),
    Column("number", "番号"),
    Column("due_date", "期日"),
    Column("type", "タイプ", "int"),
    Column("origin", "生成元"),
    Column("journal_memo", "仕訳メモ"),
    Column("sticky_note_1", "付箋1"),
    Column("sticky_note_2", "付箋2"),
    Column("adjustment", "調整"),
)
YAYOI_SINGLE, YAYOI_FIRST, YAYOI_MIDDLE, YAYOI_LAST = 2000, 2110, 2100, 2101


def _yayoi_side(p: ExportPosting | None, tax: TaxMapping) -> tuple[Any, ...]:
    if p is None:
        return ("", "", "", "", 0, None)
    return (tool_account_name(p.account_name), "", "", tax.category(p.account_key), p.amount, None)


async def _yayoi(entries: AsyncIterable[ExportEntry], tax: TaxMapping) -> AsyncIterator[tuple[Any, ...]]:
    slip = 0
    async for e in entries:
        slip += 1
        pairs = _pairs(e)
        last = len(pairs) - 1
        for i, (d, c) in enumerate(pairs):
            if last == 0:
                flag = YAYOI_SINGLE
            else:
                flag = YAYOI_FIRST if i == 0 else YAYOI_LAST if i == last else YAYOI_MIDDLE
            yield (
                flag,
                slip,
                "",
                _slash(e.effective_date),
                *_yayoi_side(d, tax),
                *_yayoi_side(c, tax),
                e.summary,
                "",
                "",
                0,  # タイプ: 0 仕訳データ
                "",
                e.id,  # 仕訳メモ: our entry id, to trace a line back
                "",
                "",
                "no",  # 調整: not a period-end adjustment
            )


MF_COLUMNS = (
    Column("transaction_no", "取引No", "int"),
    Column("date", "取引日"),
    Column("debit_account", "借方勘定科目"),
    Column("debit_sub_account", "借方補助科目"),
    Column("debit_department", "借方部門"),
    Column("debit_partner", "借方取引先"),
    Column("debit_tax_category", "借方税区分"),
    Column("debit_invoice", "借方インボイス"),
    Column("debit_amount", "借方金額(円)", "int"),
    Column("debit_tax_amount", "借方税額", "int"),
    Column("credit_account", "貸方勘定科目"),
    Column("credit_sub_account", "貸方補助科目"),
    Column("credit_department", "貸方部門"),
    Column("credit_partner", "貸方取引先"),
    Column("credit_tax_category", "貸方税区分"),
    Column("credit_invoice", "貸方インボイス"),
    Column("credit_amount", "貸方金額(円)", "int"),
    Column("credit_tax_amount", "貸方税額", "int"),
    Column("description", "摘要"),
    Column("journal_memo", "仕訳メモ"),
    Column("tag", "タグ"),
    Column("mf_journal_type", "MF仕訳タイプ"),
    Column("closing_adjustment", "決算整理仕訳"),
    Column("created_at", "作成日時"),
    Column("created_by", "作成者"),
    Column("updated_at", "最終更新日時"),
    Column("updated_by", "最終更新者"),
)


def _mf_side(p: ExportPosting | None, tax: TaxMapping) -> tuple[Any, ...]:
    if p is None:
        return (None,) * 8
    return (tool_account_name(p.account_name), None, None, None, tax.category(p.account_key), None, p.amount, None)


async def _mf(entries: AsyncIterable[ExportEntry], tax: TaxMapping) -> AsyncIterator[tuple[Any, ...]]:
    number = 0
    async for e in entries:
        number += 1
        for d, c in _pairs(e):
            yield (
                number,
                _slash(e.effective_date),
                *_mf_side(d, tax),
                *_mf_side(c, tax),
                e.summary,
                e.id,
                *(None,) * 7,
            )


FREEE_COLUMNS = (
    Column("slip_no", "伝票番号", "int"),
    Column("date", "日付"),
    Column("debit_account", "借方勘定科目"),
    Column("debit_amount", "借方金額", "int"),
    Column("debit_tax_category", "借方税区分"),
    Column("credit_account", "貸方勘定科目"),
    Column("credit_amount", "貸方金額", "int"),
    Column("credit_tax_category", "貸方税区分"),
    Column("description", "摘要"),
)


def _freee_side(p: ExportPosting | None, tax: TaxMapping) -> tuple[Any, ...]:
    if p is None:
        return (None, None, None)
    return (tool_account_name(p.account_name), p.amount, tax.category(p.account_key))


async def _freee(entries: AsyncIterable[ExportEntry], tax: TaxMapping) -> AsyncIterator[tuple[Any, ...]]:
    number = 0
    async for e in entries:
        number += 1
        for d, c in _pairs(e):
            yield (number, _slash(e.effective_date), *_freee_side(d, tax), *_freee_side(c, tax), e.summary)


PRESETS: Mapping[str, JournalPreset] = {
    p.name: p
    for p in (
        JournalPreset(
            "generic", "仕訳帳 (汎用)", GENERIC_COLUMNS, ("utf-8-bom", "utf-8", "cp932"), ("ja", "key"), True, None,
            _generic,
        ),
        JournalPreset("yayoi", "弥生会計 仕訳日記帳", YAYOI_COLUMNS, ("cp932",), ("none",), False, "JPY", _yayoi),
        JournalPreset(
            "mf", "マネーフォワード クラウド会計 仕訳帳", MF_COLUMNS, ("cp932", "utf-8"), ("ja",), False, "JPY", _mf
        ),
        JournalPreset(
            "freee", "freee会計 仕訳インポート (振替伝票)", FREEE_COLUMNS, ("cp932", "utf-8"), ("ja",), False, "JPY",
            _freee,
        ),
    )
}  # fmt: skip


def preset_of(name: str, *, pointer: str = "query:preset") -> JournalPreset:
    """The preset called ``name``.

    Raises:
        InvalidInput: ``validation_error`` naming ``pointer`` for an unknown name.
    """
    preset = PRESETS.get(name)
    if preset is None:
        raise InvalidInput(
            f"Unknown journal preset {name!r}.",
            code="validation_error",
            issues=[FieldIssue(pointer, f"expected one of {', '.join(PRESETS)}", "enum")],
        )
    return preset


def journal_rows(
    preset: JournalPreset | str, entries: AsyncIterable[ExportEntry], tax: TaxMapping = DEFAULT_TAX_MAPPING
) -> AsyncIterator[tuple[Any, ...]]:
    """The preset's rows (one value per column of ``preset.columns``) for ``entries`` (from :func:`stream_entries`
    with ``currency=preset.currency``)."""
    spec = preset_of(preset) if isinstance(preset, str) else preset
    return spec.render(entries, tax)
