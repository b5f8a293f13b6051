"""Merchant contracts: the settlement terms and the bank account a merchant is paid to (one per merchant).

A contract is replaced whole (``PUT``): the admin sends every term, and what changed is audited. The bank
account is checked before it is stored, because a payout file is only as good as it: the bank and branch codes
must exist in the banks' master data, and the holder name must be what Zengin files carry (half-width kana, no
small kana, no ``ｰ``, never kanji), refused with the form that would pass rather than converted (the name must
match the bank's records).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.kit import audit, clock
from domain.kit.errors import FieldIssue, InvalidInput, NotFound
from domain.kit.ids import new_id
from domain.kit.repository import Repository
from domain.kit.tenancy import Principal, readable_statement
from domain.settlement.bank import BankBranch, InvalidZenginName, bank_branch, zengin_name
from domain.settlement.models import MerchantContract
from domain.tenancy.errors import MerchantNotFound
from domain.tenancy.repository import MerchantRepository

HOLDER_MAX_BYTES = 30  # 受取人名 in a 総合振込 data record (reference/zengin_layouts.md §1)
# Terms whose values may go to the audit trail as they are. The holder name may be a person's name (a sole
# proprietor): only the fact that it changed is recorded; the account number is recorded masked.
_PLAIN_FIELDS = (
    "fee_rate_bp",
    "invoice_fee_separate",
    "invoice_fee_enclosed",
    "monthly_fee",
    "transfer_fee",
    "cycle",
    "minimum_payout",
    "advance_on",
    "bank_code",
    "branch_code",
    "account_type",
)


class ContractNotFound(NotFound):
    code = "contract_not_found"


class InvalidBankAccount(InvalidInput):
    code = "invalid_bank_account"


@dataclass(frozen=True, slots=True)
class ContractTerms:
    """Everything a contract says, as the admin sends it (the HTTP schema has checked types and ranges)."""

    fee_rate_bp: int
    cycle: str
    bank_code: str
    branch_code: str
    account_type: str
    account_number: str
    holder_kana: str
    invoice_fee_separate: int = 0
    invoice_fee_enclosed: int = 0
    monthly_fee: int = 0
    transfer_fee: int = 0
    minimum_payout: int = 0
    advance_on: str = "arrival"


class ContractRepository(Repository):
    async def get(self, principal: Principal, merchant_id: str) -> MerchantContract | None:
        stmt = readable_statement(MerchantContract, principal).where(MerchantContract.merchant_id == merchant_id)
        return (await self.session.scalars(stmt)).one_or_none()

    async def of_merchant(self, tenant_id: str, merchant_id: str) -> MerchantContract | None:
        """For the settlement engine, which runs as the system (no caller's principal)."""
        stmt = select(MerchantContract).where(
            MerchantContract.tenant_id == tenant_id, MerchantContract.merchant_id == merchant_id
        )
        return (await self.session.scalars(stmt)).one_or_none()


def validate_account(terms: ContractTerms) -> BankBranch:
    """The bank and branch of ``terms``, or :class:`InvalidBankAccount` naming every field that is wrong."""
    issues: list[FieldIssue] = []
    branch: BankBranch | None = None
    try:
        branch = bank_branch(terms.bank_code, terms.branch_code)
    except LookupError as exc:
        # bank_branch checks the bank first: a message about the branch means the bank exists.
        field = "branch_code" if str(exc).startswith("branch code") else "bank_code"
        issues.append(FieldIssue(f"#/{field}", str(exc), f"unknown_{field.removesuffix('_code')}"))
    try:
        zengin_name(terms.holder_kana, max_bytes=HOLDER_MAX_BYTES, what="holder_kana")
    except InvalidZenginName as exc:
        issues.append(FieldIssue("#/holder_kana", str(exc), "zengin_name"))
    if issues:
        raise InvalidBankAccount("The bank account cannot be paid by a Zengin transfer; see errors[].", issues=issues)
    assert branch is not None
    return branch


async def get_contract(session: AsyncSession, principal: Principal, merchant_id: str) -> MerchantContract:
    """The merchant's contract. Raises ``MerchantNotFound`` (also for another tenant's merchant) or
    ``ContractNotFound`` when the merchant has none yet."""
    if await MerchantRepository.from_session(session).get(principal, merchant_id) is None:
        raise MerchantNotFound(f"no merchant {merchant_id}")
    contract = await ContractRepository.from_session(session).get(principal, merchant_id)
    if contract is None:
        raise ContractNotFound(f"merchant {merchant_id} has no contract yet")
    return contract


async def put_contract(
    session: AsyncSession, principal: Principal, merchant_id: str, terms: ContractTerms
) -> MerchantContract:
    """Create the merchant's contract or replace all its terms, and audit what changed.

    The merchant row is locked first, so two replacements of one merchant's contract (or two first ones) queue
    instead of racing to insert. Sending the terms already in force changes nothing (no audit, same
    ``updated_at``). Raises ``MerchantNotFound`` or :class:`InvalidBankAccount`.
    """
    merchant = await MerchantRepository.from_session(session).get(principal, merchant_id, for_update=True)
    if merchant is None:
        raise MerchantNotFound(f"no merchant {merchant_id}")
    validate_account(terms)
    values = dataclasses.asdict(terms)
    contract = await ContractRepository.from_session(session).get(principal, merchant_id)
    now = clock.utc_now()
    if contract is None:
        contract = MerchantContract(
            tenant_id=merchant.tenant_id,
            id=new_id("ctr"),
            merchant_id=merchant.id,
            updated_at=now,
            updated_by=principal.api_key_id,
            **values,
        )
        session.add(contract)
        action, changed = "merchant_contract.created", sorted(values)
        data = {"fields": changed, "terms": _audited(values)}
    else:
        before = {name: getattr(contract, name) for name in values}
        changed = sorted(name for name in values if before[name] != values[name])
        if not changed:
            return contract
        for name in changed:
            setattr(contract, name, values[name])
        contract.updated_at, contract.updated_by = now, principal.api_key_id
        action = "merchant_contract.updated"
        old, new = _audited(before), _audited(values)
        data = {"fields": changed, "changes": {k: {"from": old[k], "to": new[k]} for k in changed if k in new}}
    audit.record(
        session,
        tenant_id=merchant.tenant_id,
        actor=principal,
        action=action,
        resource_type="merchant_contract",
        resource_id=contract.id,
        data={"merchant_id": merchant.id, **data},
    )
    await session.flush()
    return contract


async def contract_of(session: AsyncSession, tenant_id: str, merchant_id: str) -> MerchantContract | None:
    """The contract in force for the merchant, or ``None`` (the settlement engine skips such merchants)."""
    return await ContractRepository.from_session(session).of_merchant(tenant_id, merchant_id)


def bank_names(contract: MerchantContract) -> BankBranch | None:
    """The bank's and branch's Zengin names for a stored contract; ``None`` if a code has left the master data
    since it was stored (banks merge and close branches): the contract needs new codes before its next payout."""
    try:
        return bank_branch(contract.bank_code, contract.branch_code)
    except LookupError:
        return None


def mask_account(number: str) -> str:
    """``1234567`` → ``****567``: enough to tell accounts apart in the audit trail, not enough to pay one."""
    return "*" * max(len(number) - 3, 0) + number[-3:]


def _audited(values: dict[str, Any]) -> dict[str, Any]:
    out = {name: values[name] for name in _PLAIN_FIELDS}
    out["account_number"] = mask_account(values["account_number"])
    return out
