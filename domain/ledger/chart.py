"""The default chart of accounts of an operator's ledger (reference/billing.md §2.6).

Accounts are created per (tenant, currency) on first use. Services name accounts by key
(``"consumer_receivable"``); the numeric code is what accountants see in exports.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class AccountType(enum.StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    INCOME = "income"
    EXPENSE = "expense"

    @property
    def debit_normal(self) -> bool:
        return self in (AccountType.ASSET, AccountType.EXPENSE)


@dataclass(frozen=True, slots=True)
class AccountSpec:
    code: str
    key: str
    name: str
    type: AccountType
    contra: bool = False  # a contra account's normal side is the opposite of its type's

    @property
    def debit_normal(self) -> bool:
        return self.type.debit_normal != self.contra


A, L, INC, E = AccountType.ASSET, AccountType.LIABILITY, AccountType.INCOME, AccountType.EXPENSE

CHART: tuple[AccountSpec, ...] = (
    AccountSpec("1110", "bank", "普通預金 (collection account)", A),
    AccountSpec("1115", "payouts_in_transit", "振込中 (payouts in transit)", A),
    AccountSpec("1120", "agent_collections_in_transit", "収納代行未収金 (agent collections in transit)", A),
    AccountSpec("1210", "consumer_receivable", "後払い債権 (consumer receivable)", A),
    AccountSpec("1215", "late_fee_receivable", "遅延損害金・手数料未収 (late fee receivable)", A),
    AccountSpec("1220", "merchant_receivable", "加盟店未収金 (merchant receivable)", A),
    AccountSpec("1290", "allowance_for_doubtful", "貸倒引当金 (allowance for doubtful accounts)", A, contra=True),
    AccountSpec("2110", "merchant_payable", "加盟店未払金 (merchant payable)", L),
    AccountSpec("2115", "unguaranteed_payable", "加盟店未払金・無保証 (merchant payable, out of guarantee)", L),
    AccountSpec("2120", "consumer_overpayments", "預り金・過入金 (consumer overpayments)", L),
    AccountSpec("2130", "suspense", "仮受金 (suspense)", L),
    AccountSpec("2140", "output_consumption_tax", "仮受消費税 (output consumption tax)", L),
    AccountSpec("4110", "merchant_fee_revenue", "加盟店手数料収益 (merchant fee revenue)", INC),
    AccountSpec("4120", "late_damage_income", "遅延損害金収入 (late damage income)", INC),
    AccountSpec("4130", "reissue_fee_income", "再発行手数料等 (reissue and other consumer fees)", INC),
    AccountSpec("4140", "consumer_fee_income", "請求手数料収入 (consumer fee income)", INC),
    AccountSpec("4150", "misc_income", "雑収入 (small overpayments and unclaimed receipts)", INC),
    AccountSpec("4190", "recoveries", "償却債権取立益 (recoveries)", INC),
    AccountSpec("5110", "bad_debt_expense", "貸倒損失 (bad-debt expense)", E),
    AccountSpec("5120", "fees_paid", "支払手数料 (bank and agent fees)", E),
)

BY_KEY: dict[str, AccountSpec] = {spec.key: spec for spec in CHART}
