"""Settlement statements as an export (加盟店精算書一覧), and the operator's 税区分 for the journal export.

One row per statement whose cut-off (締日, ``period_end``, JST) is in the range: the statement is the cycle's, and
the cut-off is the date its fees are booked on (the ledger entry's effective date), so a range of cut-offs lines up
with the journal export of the same range. Read with one streamed SELECT (statements, their merchant's name, and
the number of sales lines counted by the database), ordered by cut-off and statement number. ``docs/exports.md``
lists the columns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.checkout.service import active_policy
from domain.kit.repository import Repository
from domain.kit.tabular import Column, check_period
from domain.kit.tenancy import Principal, readable_statement
from domain.ledger.export import TaxMapping, default_tax_mapping
from domain.settlement.models import Settlement, SettlementLine
from domain.tenancy.models import Merchant

__all__ = [
    "SETTLEMENT_COLUMNS",
    "STATUS_LABELS",
    "SettlementExportRepository",
    "journal_tax_mapping",
    "settlement_rows",
]

YIELD_PER = 1000

STATUS_LABELS = {
    "calculated": "計算済",
    "approved": "承認済",
    "file_generated": "振込データ作成済",
    "paid": "支払済",
    "returned": "組戻し",
    "carried_over": "繰越",
}

SETTLEMENT_COLUMNS = (
    Column("number", "精算書番号", "int"),
    Column("settlement_id", "精算書ID"),
    Column("merchant_id", "加盟店ID"),
    Column("merchant_name", "加盟店名"),
    Column("cycle", "精算サイクル"),
    Column("period_start", "対象期間開始", "date"),
    Column("period_end", "締日", "date"),
    Column("sale_count", "取引件数", "int"),
    Column("sales", "売上総額", "int"),
    Column("refunds", "返品・取消", "int"),
    Column("clawbacks", "保証外取戻し", "int"),
    Column("unguaranteed_paid", "保証外入金", "int"),
    Column("rate_fee", "決済手数料", "int"),
    Column("invoice_count", "請求書件数", "int"),
    Column("invoice_fees", "請求書発行手数料", "int"),
    Column("monthly_fee", "月額固定費", "int"),
    Column("fees", "手数料合計", "int"),
    Column("fee_tax", "消費税", "int"),
    Column("transfer_fee", "振込手数料", "int"),
    Column("carry_in", "前回繰越", "int"),
    Column("net", "差引額", "int"),
    Column("payout", "振込額", "int"),
    Column("carry_out", "次回繰越", "int"),
    Column("pay_date", "振込予定日", "date"),
    Column("status", "ステータス"),
    Column("status_label", "ステータス名"),
    Column("approved_at", "承認日時", "datetime"),
    Column("paid_at", "支払確認日時", "datetime"),
    Column("bank_code", "銀行コード"),
    Column("branch_code", "支店コード"),
    Column("account_type", "口座種別"),
    Column("account_number", "口座番号"),
)


class SettlementExportRepository(Repository):
    def statement(self, principal: Principal, start: dt.date, end: dt.date) -> Select[Any]:
        sale_count = (
            select(func.count())
            .where(
                SettlementLine.tenant_id == Settlement.tenant_id,
                SettlementLine.settlement_id == Settlement.id,
                SettlementLine.kind == "sale",
            )
            .correlate(Settlement)
            .scalar_subquery()
        )
        return (
            readable_statement(Settlement, principal)
            .with_only_columns(
                Settlement.number,
                Settlement.id,
                Settlement.merchant_id,
                Merchant.name,
                Settlement.cycle,
                Settlement.period_start,
                Settlement.period_end,
                sale_count,
                Settlement.sales,
                Settlement.refunds,
                Settlement.clawbacks,
                Settlement.unguaranteed_paid,
                Settlement.rate_fee,
                Settlement.invoice_count,
                Settlement.invoice_fees,
                Settlement.monthly_fee,
                Settlement.fee_tax,
                Settlement.transfer_fee,
                Settlement.carry_in,
                Settlement.net,
                Settlement.payout,
                Settlement.carry_out,
                Settlement.pay_date,
                Settlement.status,
                Settlement.approved_at,
                Settlement.paid_at,
                Settlement.terms,
                maintain_column_froms=False,
            )
            .select_from(Settlement)
            .outerjoin(Merchant, (Merchant.tenant_id == Settlement.tenant_id) & (Merchant.id == Settlement.merchant_id))
            .where(Settlement.period_end >= start, Settlement.period_end <= end)
            .order_by(Settlement.period_end, Settlement.number)
        )

    async def stream(
        self, principal: Principal, start: dt.date, end: dt.date, *, yield_per: int = YIELD_PER
    ) -> AsyncIterator[Any]:
        result = await self.session.stream(self.statement(principal, start, end).execution_options(yield_per=yield_per))
        try:
            async for partition in result.partitions():  # a fetch at a time: stepping row by row costs 2-3x
                for row in partition:
                    yield row
        finally:
            await result.close()


async def settlement_rows(
    session: AsyncSession, principal: Principal, start: dt.date, end: dt.date, *, yield_per: int = YIELD_PER
) -> AsyncIterator[tuple[Any, ...]]:
    """One row per statement (values in the order of :data:`SETTLEMENT_COLUMNS`) whose cut-off is in
    ``[start, end]``; a merchant key sees its own statements only.

    Raises:
        InvalidInput: The range ends before it starts or is longer than 366 days.
    """
    check_period(start, end)
    repo = SettlementExportRepository.from_session(session)
    async for row in repo.stream(principal, start, end, yield_per=yield_per):
        (
            number,
            settlement_id,
            merchant_id,
            merchant_name,
            cycle,
            period_start,
            period_end,
            sale_count,
            sales,
            refunds,
            clawbacks,
            unguaranteed_paid,
            rate_fee,
            invoice_count,
            invoice_fees,
            monthly_fee,
            fee_tax,
            transfer_fee,
            carry_in,
            net,
            payout,
            carry_out,
            pay_date,
            status,
            approved_at,
            paid_at,
            terms,
        ) = row
        terms = terms or {}
        yield (
            number,
            settlement_id,
            merchant_id,
            merchant_name,
            cycle,
            period_start,
            period_end,
            int(sale_count),
            sales,
            refunds,
            clawbacks,
            unguaranteed_paid,
            rate_fee,
            invoice_count,
            invoice_fees,
            monthly_fee,
            rate_fee + invoice_fees + monthly_fee,
            fee_tax,
            transfer_fee,
            carry_in,
            net,
            payout,
            carry_out,
            pay_date,
            status,
            STATUS_LABELS.get(status, status),
            approved_at,
            paid_at,
            terms.get("bank_code"),
            terms.get("branch_code"),
            terms.get("account_type"),
            terms.get("account_number"),
        )


async def journal_tax_mapping(session: AsyncSession, tenant_id: str) -> TaxMapping:
    """The journal export's default 税区分 for the operator's settlement tax model and rate (its active policy)."""
    settlement = (await active_policy(session, tenant_id)).settlement
    return default_tax_mapping(settlement.fee_tax_model, settlement.tax_rate_percent)
