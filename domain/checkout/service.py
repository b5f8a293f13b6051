"""Use cases of checkout: authorize (screening + credit in one call), change, cancel, capture (= shipment report),
release, refund, arrival, expiry, review resolution, and the operator's credit policy.

Every use case runs in the caller's transaction, locks the order row first (then consumers, then invoices: the
fixed order every path takes), validates the transition, writes an audit event, posts the ledger entries the
money movement needs and emits the merchant's webhook. Services flush, never commit.

Ledger (``reference/billing.md`` §2.6):

* capture: Dr consumer_receivable / Cr merchant_payable (the sale); the consumer fee when it becomes owed:
  Dr consumer_receivable / Cr consumer_fee_income + output_consumption_tax.
* refund: Dr merchant_payable (the merchant gets less) / Cr consumer_receivable for the unpaid part, Cr
  consumer_overpayments for what the consumer had already paid (owed back). A fully refunded unpaid invoice
  waives its fee (the fee entry mirrored).
* guarantee lapse (claw-back): Dr merchant_payable / Cr unguaranteed_payable: the merchant is paid only if and
  when the consumer pays.
* cancel, release and expiry before capture move no money: only the credit reservation.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from domain.checkout import carriers, credit
from domain.checkout.errors import (
    IllegalTransition,
    InvalidOrder,
    InvalidPolicy,
    MerchantOrderIdTaken,
    OrderNotFound,
)
from domain.checkout.models import Capture, CreditPolicyVersion, Order, Refund
from domain.checkout.policy import DEFAULT_POLICY, CreditPolicy
from domain.checkout.repository import CheckoutRepository
from domain.checkout.schemas import (
    Buyer,
    CaptureRequest,
    Item,
    LineQuantity,
    OrderChange,
    OrderRequest,
    RefundRequest,
    render_capture,
    render_order,
    render_refund,
)
from domain.invoicing import allocation
from domain.invoicing import service as invoicing
from domain.invoicing.models import Invoice
from domain.kit import audit, clock
from domain.kit.dialect import advisory_xact_lock
from domain.kit.errors import FieldIssue
from domain.kit.ids import new_id
from domain.kit.kana import match_key
from domain.kit.money import Money
from domain.kit.pagination import Page, PageRequest
from domain.kit.tenancy import Principal
from domain.ledger import Line, post_entry
from domain.ledger import credit as cr
from domain.ledger import debit as dr
from domain.webhooks import emit
from fraud import service as fraud
from fraud.policy import Policy as FraudPolicy
from fraud.types import OrderSnapshot, Verdict

# The coarse decline reasons a merchant sees (the operator sees ``decline_detail``).
SCREENING, CREDIT, REVIEW = "screening", "credit", "review"
# Test mode (sandbox merchants): the buyer email's local part (before "+" or "@") forces the outcome.
TEST_MODE_TRIGGERS = {"ok": Verdict.OK, "review": Verdict.REVIEW, "ng": Verdict.NG}
TEST_MODE_CREDIT_NG = "credit-ng"


# -- credit policy ---------------------------------------------------------------------------------------------

_POLICY_CACHE: dict[tuple[str, int], CreditPolicy] = {}


async def active_policy(session: AsyncSession, tenant_id: str) -> CreditPolicy:
    """The tenant's latest credit policy, or the shipped default (version 0)."""
    latest = await CheckoutRepository.from_session(session).latest_policy(tenant_id)
    if latest is None:
        return DEFAULT_POLICY
    key = (tenant_id, latest.version)
    policy = _POLICY_CACHE.get(key)
    if policy is None:
        if len(_POLICY_CACHE) > 10_000:
            _POLICY_CACHE.clear()
        policy = _POLICY_CACHE[key] = CreditPolicy.model_validate({**latest.body, "version": latest.version})
    return policy


async def _policy_at_version(session: AsyncSession, tenant_id: str, version: int | None) -> CreditPolicy:
    """The credit policy of a known version (``None``: the shipped default), cached per (tenant, version)."""
    if version is None:
        return DEFAULT_POLICY
    policy = _POLICY_CACHE.get((tenant_id, version))
    if policy is None:
        stored = await CheckoutRepository.from_session(session).policy_version(tenant_id, version)
        if stored is None:
            return await active_policy(session, tenant_id)
        policy = _POLICY_CACHE[(tenant_id, version)] = CreditPolicy.model_validate(
            {**stored.body, "version": stored.version}
        )
    return policy


async def set_policy(session: AsyncSession, principal: Principal, body: dict[str, Any], note: str = "") -> CreditPolicy:
    """Store a new version of the tenant's credit policy (the whole document; omitted fields take defaults)."""
    tenant_id = principal.require_tenant()
    try:
        policy = CreditPolicy.model_validate({k: v for k, v in body.items() if k != "version"})
    except ValidationError as exc:
        issues = [
            FieldIssue("#/" + "/".join(str(p) for p in e["loc"]) if e["loc"] else "#", e["msg"], e["type"])
            for e in exc.errors()
        ]
        raise InvalidPolicy("the credit policy is invalid", issues=issues) from None
    # Two concurrent PUTs must not both take version n + 1: serialise them per tenant.
    await advisory_xact_lock(session, "credit_policy", tenant_id)
    latest = await CheckoutRepository.from_session(session).latest_policy(tenant_id)
    version = (latest.version if latest else DEFAULT_POLICY.version) + 1
    stored = policy.model_dump(exclude={"version"})
    session.add(
        CreditPolicyVersion(
            tenant_id=tenant_id,
            version=version,
            body=stored,
            created_by=principal.api_key_id,
            note=note,
            created_at=clock.utc_now(),
        )
    )
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=principal,
        action="credit_policy.changed",
        resource_type="credit_policy",
        resource_id=str(version),
        data={"note_length": len(note)},
    )
    await session.flush()
    return policy.model_copy(update={"version": version})


async def policy_versions(session: AsyncSession, principal: Principal) -> list[CreditPolicyVersion]:
    return await CheckoutRepository.from_session(session).policy_versions(principal)


# -- authorize -------------------------------------------------------------------------------------------------


async def authorize(session: AsyncSession, principal: Principal, request: OrderRequest, *, secret: str) -> Order:
    """Screen the order and decide on credit in one call: the order is ``authorized``, ``in_review`` or
    ``declined`` (declines are answers, not errors). Raises ``InvalidOrder`` when the numbers do not add up and
    ``MerchantOrderIdTaken`` when an active order already has the merchant's order id."""
    tenant_id = principal.require_tenant()
    merchant_id = principal.merchant_id
    assert merchant_id is not None
    _check_items(request.items, request.amount)
    repo = CheckoutRepository.from_session(session)
    terms, credit_version, fraud_version = await repo.authorize_context(tenant_id, merchant_id)
    policy = await _policy_at_version(session, tenant_id, credit_version)
    fraud_policy = await fraud.policy_at_version(session, tenant_id, fraud_version)
    now = clock.utc_now()

    forced, credit_ng = _test_mode_outcome(request.buyer) if terms.test_mode else (None, False)
    order = Order(
        tenant_id=tenant_id,
        id=new_id("ord"),
        merchant_id=merchant_id,
        merchant_order_id=request.merchant_order_id,
        status="declined",
        currency=request.currency,
        amount=request.amount,
        captured_amount=0,
        released_amount=0,
        refunded_amount=0,
        exposure=0,
        items=[_item_dict(i) for i in request.items],
        buyer=_compact(asdict(request.buyer)),
        shipping=_compact(asdict(request.shipping)) if request.shipping else None,
        device=_compact(asdict(request.device)) if request.device else None,
        invoice_delivery=request.invoice_delivery,
        ordered_at=request.ordered_at,
        consumer_id=None,
        screening_id=None,
        credit_policy_version=policy.version,
        decline_reason=None,
        decline_detail=None,
        review_deadline=None,
        authorized_at=None,
        expires_at=None,
        guarantee="none",
        guarantee_deadline=None,
        arrival_confirmed_at=None,
        test_mode=terms.test_mode,
        created_at=now,
        updated_at=now,
    )
    await _decide(
        session,
        repo,
        principal,
        order,
        policy,
        secret,
        forced=forced,
        credit_ng=credit_ng,
        now=now,
        fraud_policy=fraud_policy,
    )
    if not await repo.insert_order(order):
        raise MerchantOrderIdTaken(
            f"an active order already has merchant_order_id {request.merchant_order_id!r}",
            issues=[FieldIssue("#/merchant_order_id", "already used by an active order", "taken")],
        )
    if order.status == "authorized" and order.invoice_delivery == "enclosed":
        await _issue_enclosed_invoice(session, order, policy, terms.consumer_fee, principal)
    _audit(session, principal, order, f"order.{order.status}", {"amount": order.amount})
    await _emit_order(session, order, f"order.{order.status}")
    return order


async def _decide(
    session: AsyncSession,
    repo: CheckoutRepository,
    principal: Principal,
    order: Order,
    policy: CreditPolicy,
    secret: str,
    *,
    forced: Verdict | None,
    credit_ng: bool,
    now: dt.datetime,
    new_order: bool = True,
    fraud_policy: FraudPolicy | None = None,
) -> None:
    """Screen ``order`` as it now stands and decide: sets status, screening, consumer, exposure, deadlines."""
    screening, identity = await fraud.screen_order(
        session,
        principal,
        order_ref=order.merchant_order_id,
        snapshot=_snapshot(order),
        secret=secret,
        bill=not order.test_mode,
        forced=forced,
        policy=fraud_policy,
    )
    order.screening_id = screening.id
    order.review_deadline = None
    if screening.verdict == Verdict.NG.value:
        _decline(order, SCREENING, "screening_ng")
        return
    if order.amount > policy.order_max:
        _decline(order, CREDIT, "order_max")
        return
    keys = credit.consumer_keys(identity, secret, sandbox=order.test_mode)
    if not keys:
        _decline(order, CREDIT, "no_identity")
        return
    consumer_id = await credit.resolve_consumer(repo, order.tenant_id, keys, order.currency, now)
    order.consumer_id = consumer_id
    if credit_ng:
        _decline(order, CREDIT, "test_mode")
        return
    result = await credit.reserve(repo, order.tenant_id, consumer_id, order.amount, policy, new_order=new_order)
    order.consumer_id = result.consumer_id
    if result.declined is not None:
        _decline(order, CREDIT, result.declined)
        return
    order.exposure = order.amount
    if screening.verdict == Verdict.REVIEW.value:
        order.status = "in_review"
        order.review_deadline = screening.review_deadline
    else:
        _authorized(order, policy, now)


def _decline(order: Order, reason: str, detail: str) -> None:
    order.status, order.decline_reason, order.decline_detail = "declined", reason, detail
    order.exposure = 0


def _authorized(order: Order, policy: CreditPolicy, now: dt.datetime) -> None:
    """Authorized now. A re-authorization (a change re-screened, then approved) keeps its expiry unless that
    has passed meanwhile: an approval never hands back an authorization that cannot be captured."""
    order.status = "authorized"
    order.decline_reason = order.decline_detail = None
    order.authorized_at = order.authorized_at or now
    if order.expires_at is None or order.expires_at <= now:
        order.expires_at = now + dt.timedelta(days=policy.authorization_days)


def _test_mode_outcome(buyer: Buyer) -> tuple[Verdict | None, bool]:
    """In test mode the buyer email's local part forces the outcome; anything else is OK."""
    local = (buyer.email or "").split("@", 1)[0].split("+", 1)[0].lower()
    if local == TEST_MODE_CREDIT_NG:
        return Verdict.OK, True
    return TEST_MODE_TRIGGERS.get(local, Verdict.OK), False


# -- reads -----------------------------------------------------------------------------------------------------


async def get_order(session: AsyncSession, principal: Principal, order_id: str, *, lock: bool = False) -> Order:
    order = await CheckoutRepository.from_session(session).get(principal, order_id, for_update=lock)
    if order is None:
        raise OrderNotFound(f"no order {order_id}")
    return order


async def get_by_merchant_order_id(session: AsyncSession, principal: Principal, merchant_order_id: str) -> Order:
    order = await CheckoutRepository.from_session(session).by_merchant_order_id(principal, merchant_order_id)
    if order is None:
        raise OrderNotFound(f"no order with merchant_order_id {merchant_order_id!r}")
    return order


async def list_orders(
    session: AsyncSession,
    principal: Principal,
    page: PageRequest,
    *,
    status: str | None = None,
    merchant_id: str | None = None,
    merchant_order_id: str | None = None,
) -> Page[Order]:
    return await CheckoutRepository.from_session(session).list(
        principal, page, status=status, merchant_id=merchant_id, merchant_order_id=merchant_order_id
    )


async def captures_of(session: AsyncSession, order: Order) -> list[Capture]:
    return await CheckoutRepository.from_session(session).captures_of(order.tenant_id, order.id)


async def refunds_of(session: AsyncSession, order: Order) -> list[Refund]:
    return await CheckoutRepository.from_session(session).refunds_of(order.tenant_id, order.id)


async def invoices_of(session: AsyncSession, principal: Principal, order_id: str) -> list[Invoice]:
    await get_order(session, principal, order_id)
    return await invoicing.invoices_of_order(session, principal, order_id)


async def print_data(
    session: AsyncSession, principal: Principal, order_id: str
) -> tuple[Order, Invoice, str, str | None]:
    """What a merchant prints into the parcel (同梱): the order, its open invoice, the merchant's name and the
    convenience-store barcode data."""
    order = await get_order(session, principal, order_id)
    if order.invoice_delivery != "enclosed":
        raise IllegalTransition(
            "this order's invoice is mailed by the operator (別送): there is nothing to print",
            code="print_data_not_available",
        )
    invoices = [i for i in await invoicing.invoices_of_order(session, principal, order_id) if i.status != "voided"]
    if not invoices:
        raise IllegalTransition(f"order {order_id} has no open invoice (status {order.status})", code="no_open_invoice")
    name = await CheckoutRepository.from_session(session).merchant_name(order.tenant_id, order.merchant_id)
    policy = await active_policy(session, order.tenant_id)
    return order, invoices[-1], name, invoicing.barcode_data(invoices[-1], policy)


# -- change, cancel --------------------------------------------------------------------------------------------


async def change(
    session: AsyncSession, principal: Principal, order_id: str, change: OrderChange, *, secret: str
) -> Order:
    """Change an order before capture. A pure decrease (lower amount, fewer or the same items, same buyer and
    address) applies at once and releases the difference; anything else re-screens and re-decides the order as
    a whole (it may come back authorized, in review or declined)."""
    repo = CheckoutRepository.from_session(session)
    order = await _locked(session, principal, order_id)
    if order.status not in ("authorized", "in_review"):
        raise _illegal(order, "change")
    old_amount, old_items = order.amount, list(order.items)
    new_amount = change.amount if change.amount is not None else order.amount
    if (change.amount is None) != (change.items is None):
        field = "items" if change.items is None else "amount"
        raise InvalidOrder(
            "amount and items change together", issues=[FieldIssue(f"#/{field}", "required with the other", "missing")]
        )
    if change.items is not None:
        _check_items(change.items, new_amount)
        order.items = [_item_dict(i) for i in change.items]
    order.amount = new_amount
    address_changed = False
    if change.buyer is not None:
        new_buyer = _compact(asdict(change.buyer))
        address_changed |= new_buyer != order.buyer
        order.buyer = new_buyer
    if change.shipping is not None or change.clear_shipping:
        new_shipping = _compact(asdict(change.shipping)) if change.shipping else None
        address_changed |= new_shipping != order.shipping
        order.shipping = new_shipping
    now = clock.utc_now()
    order.updated_at = now
    policy = await active_policy(session, order.tenant_id)
    pure_decrease = (
        order.status == "authorized"
        and not address_changed
        and new_amount <= old_amount
        and _items_within(order.items, old_items)
    )
    if pure_decrease:
        delta = new_amount - old_amount
        if delta and order.consumer_id:
            await credit.adjust(repo, order.tenant_id, order.consumer_id, delta)
            order.exposure += delta
    else:
        if order.consumer_id and order.exposure:
            await credit.adjust(repo, order.tenant_id, order.consumer_id, -order.exposure)
            order.exposure = 0
        previous_screening = order.screening_id
        if order.status == "in_review" and previous_screening:
            await fraud.withdraw_review(session, principal, order.tenant_id, previous_screening)
        forced, credit_ng = _test_mode_outcome(_buyer(order.buyer)) if order.test_mode else (None, False)
        await _decide(
            session,
            repo,
            principal,
            order,
            policy,
            secret,
            forced=forced,
            credit_ng=credit_ng,
            now=now,
            new_order=False,
        )
    await _sync_enclosed_invoice(session, order, policy, principal)
    _audit(
        session,
        principal,
        order,
        "order.updated",
        {
            "old_amount": old_amount,
            "amount": order.amount,
            "rescreened": not pure_decrease,
            "status": order.status,
        },
    )
    await _emit_order(session, order, "order.updated" if order.status != "declined" else "order.declined")
    return order


async def cancel(session: AsyncSession, principal: Principal, order_id: str, *, reason: str = "") -> Order:
    """Cancel an order before any shipment: the credit reservation is released, an enclosed invoice voided."""
    order = await _locked(session, principal, order_id)
    if order.status not in ("authorized", "in_review"):
        raise _illegal(order, "cancel")
    if order.status == "in_review" and order.screening_id:
        await fraud.withdraw_review(session, principal, order.tenant_id, order.screening_id)
    await _release_exposure(session, order, order.exposure)
    order.status = "cancelled"
    order.updated_at = clock.utc_now()
    for invoice in await invoicing.open_invoices_of_order(session, order.tenant_id, order.id):
        await invoicing.void(invoice, "order_cancelled", session, principal)
        await _emit_invoice(session, order, invoice, "invoice.voided")
    _audit(session, principal, order, "order.cancelled", {"reason_length": len(reason)})
    await _emit_order(session, order, "order.cancelled")
    return order


# -- capture, release ------------------------------------------------------------------------------------------


async def capture(
    session: AsyncSession, principal: Principal, order_id: str, request: CaptureRequest
) -> tuple[Order, Capture]:
    """Report a shipment (出荷報告): fixes the sale of the shipped amount, books it, issues the invoice (別送)
    or books the enclosed invoice's fee at the first shipment (同梱). The tracking number is checked against
    the carrier's format and check digit."""
    carrier, tracking_number = _tracking(request)
    order = await _locked(session, principal, order_id)
    if order.status not in ("authorized", "partially_captured"):
        raise _illegal(order, "capture")
    now = clock.utc_now()
    if order.expires_at is not None and order.expires_at <= now:
        # Past its expiry the authorization is gone, even before the hourly job has marked it.
        raise IllegalTransition(
            f"the authorization of order {order.id} expired at {order.expires_at.isoformat()}",
            code="authorization_expired",
            extra={"status": order.status},
        )
    remaining = order.amount - order.captured_amount - order.released_amount
    amount, lines = _lines_amount(order, request.items, request.amount, remaining, "captured_quantity", "capture")
    if amount <= 0:
        raise InvalidOrder(
            "a capture must ship something of value (these lines are free)",
            code="amount_not_positive",
            issues=[FieldIssue("#/items", "the lines total 0", "not_positive")],
        )
    if amount > remaining:
        raise InvalidOrder(
            f"capture of {amount} exceeds the {remaining} still uncaptured",
            code="amount_exceeds_uncaptured",
            issues=[FieldIssue("#/amount", f"at most {remaining}", "too_large")],
        )
    policy = await active_policy(session, order.tenant_id)
    _count_lines(order, lines, "captured_quantity")
    record = Capture(
        tenant_id=order.tenant_id,
        id=new_id("cap"),
        order_id=order.id,
        amount=amount,
        items=[{"ref": ref, "quantity": qty} for ref, qty in lines],
        carrier=carrier,
        tracking_number=tracking_number,
        shipped_at=request.shipped_at or now,
        created_by=principal.api_key_id,
        created_at=now,
    )
    session.add(record)
    order.captured_amount += amount
    order.status = "captured" if order.captured_amount + order.released_amount == order.amount else "partially_captured"
    if order.guarantee == "none":
        order.guarantee = "pending"
        order.guarantee_deadline = now + dt.timedelta(days=policy.arrival_days)
    order.updated_at = now
    money = Money(amount, order.currency)
    await _book(
        session,
        order,
        kind="order.captured",
        lines=[dr("consumer_receivable", money), cr(_payable_account(order), money)],
        source_ref=f"capture:{record.id}",
        memo=order.merchant_order_id,
    )
    fee = await _merchant_fee(session, order)
    if order.invoice_delivery == "separate":
        invoice = await invoicing.issue(
            session,
            tenant_id=order.tenant_id,
            order_id=order.id,
            merchant_id=order.merchant_id,
            consumer_id=order.consumer_id,
            delivery="separate",
            currency=order.currency,
            principal=amount,
            fee=fee,
            policy=policy,
            capture_id=record.id,
            actor=principal,
            payer_kana=_payer_kana(order),
        )
        await _recognize_fee(session, order, invoice)
        await _emit_invoice(session, order, invoice, "invoice.issued")
    else:
        for invoice in await invoicing.open_invoices_of_order(session, order.tenant_id, order.id):
            if not invoice.fee_recognized:
                # The first shipment: the enclosed slip's 14 days run from now (the merchant prints it when it
                # packs the parcel), not from the authorization, which may be weeks earlier.
                invoicing.date_from(invoice, policy)
            await _recognize_fee(session, order, invoice)
    _audit(session, principal, order, "order.captured", {"capture_id": record.id, "amount": amount})
    await session.flush()
    await _emit_order(session, order, "order.captured", capture=render_capture(record))
    return order, record


async def release(session: AsyncSession, principal: Principal, order_id: str) -> Order:
    """Give up the uncaptured remainder of a partially captured order (the rest will not ship)."""
    order = await _locked(session, principal, order_id)
    if order.status != "partially_captured":
        raise _illegal(order, "release")
    await _release_remainder(session, order, principal)
    _audit(session, principal, order, "order.released", {"released": order.released_amount})
    await _emit_order(session, order, "order.released")
    return order


async def _release_remainder(session: AsyncSession, order: Order, actor: Principal | str) -> int:
    remainder = order.amount - order.captured_amount - order.released_amount
    order.released_amount += remainder
    await _release_exposure(session, order, min(remainder, order.exposure))
    order.status = "captured" if order.captured_amount else "expired"
    order.updated_at = clock.utc_now()
    await _sync_enclosed_invoice(session, order, await active_policy(session, order.tenant_id), actor)
    return remainder


# -- refund ----------------------------------------------------------------------------------------------------


async def refund(
    session: AsyncSession, principal: Principal, order_id: str, request: RefundRequest
) -> tuple[Order, Refund]:
    """Refund after capture, in full or in part, by amount or by lines. The unpaid part of the order's open
    invoices is reduced first (voided and re-issued with the lower amount); what the consumer had already paid
    beyond that is owed back to them. The merchant's payable shrinks by the whole refund (offset in its next
    settlement if it was already paid)."""
    order = await _locked(session, principal, order_id)
    if order.captured_amount == 0 or order.status not in ("captured", "partially_captured"):
        raise _illegal(order, "refund")
    refundable = order.captured_amount - order.refunded_amount
    amount, lines = _lines_amount(order, request.items, request.amount, refundable, "refunded_quantity", "refund")
    if amount <= 0 or amount > refundable:
        raise InvalidOrder(
            f"refund of {amount} exceeds the {refundable} captured and not yet refunded",
            code="amount_exceeds_refundable",
            issues=[FieldIssue("#/amount", f"at most {refundable}", "too_large")],
        )
    now = clock.utc_now()
    policy = await active_policy(session, order.tenant_id)
    _count_lines(order, lines, "refunded_quantity")
    if order.exposure and order.consumer_id:
        # The exposure is released below, after the invoice counter was taken for the successors: lock the consumer
        # first (order → consumers → invoices), or a concurrent authorization, change or release of the same
        # consumer (consumer, then counter) deadlocks with this refund.
        await credit.hold(CheckoutRepository.from_session(session), order.tenant_id, order.consumer_id)
    remaining = amount
    reduced = 0
    waived: list[Invoice] = []
    successors: list[tuple[Invoice, Invoice | None]] = []
    for invoice in await invoicing.open_invoices_of_order(session, order.tenant_id, order.id):
        if remaining == 0:
            break
        unpaid_principal = invoice.principal - invoice.paid_principal
        cut = min(remaining, unpaid_principal)
        if cut <= 0:
            continue
        remaining -= cut
        reduced += cut
        await invoicing.void(invoice, "refund", session, principal)
        new_principal = invoice.principal - cut
        successor = None
        if new_principal > 0 or invoice.paid_amount > 0:
            successor = await invoicing.issue(
                session,
                tenant_id=order.tenant_id,
                order_id=order.id,
                merchant_id=order.merchant_id,
                consumer_id=order.consumer_id,
                delivery=invoice.delivery,
                currency=invoice.currency,
                principal=new_principal,
                fee=invoice.fee,
                policy=policy,
                capture_id=invoice.capture_id,
                supersedes=invoice,
                actor=principal,
            )
        elif invoice.fee_recognized and invoice.fee:
            waived.append(invoice)
        successors.append((invoice, successor))
    refund_due = remaining
    record = Refund(
        tenant_id=order.tenant_id,
        id=new_id("rfd"),
        order_id=order.id,
        amount=amount,
        items=[{"ref": ref, "quantity": qty} for ref, qty in lines],
        reason=request.reason,
        invoice_reduction=reduced,
        consumer_refund_due=refund_due,
        created_by=principal.api_key_id,
        created_at=now,
    )
    session.add(record)
    order.refunded_amount += amount
    order.updated_at = now
    await _release_exposure(session, order, min(reduced, order.exposure))
    money = Money(amount, order.currency)
    if order.guarantee == "unguaranteed":
        # The merchant was to be paid only what the consumer pays: the unpaid part comes off that promise, the part
        # the consumer had paid (already passed to the merchant) off what the merchant is paid (settlement).
        record.unguaranteed = True
        lines_ = [dr("unguaranteed_payable", Money(reduced, order.currency))] if reduced else []
        if refund_due:
            lines_.append(dr("merchant_payable", Money(refund_due, order.currency)))
    else:
        lines_ = [dr("merchant_payable", money)]
    if reduced:
        lines_.append(cr("consumer_receivable", Money(reduced, order.currency)))
    if refund_due:
        lines_.append(cr("consumer_overpayments", Money(refund_due, order.currency)))
    await _book(
        session,
        order,
        kind="order.refunded",
        lines=lines_,
        source_ref=f"refund:{record.id}",
        memo=order.merchant_order_id,
    )
    for invoice in waived:
        await _waive_fee(session, order, invoice)
    _audit(session, principal, order, "order.refunded", {"refund_id": record.id, "amount": amount})
    await session.flush()
    for old, new in successors:
        await _emit_invoice(session, order, old, "invoice.voided")
        if new is not None:
            await _emit_invoice(session, order, new, "invoice.issued")
    await _emit_order(session, order, "order.refunded", refund=render_refund(record))
    return order, record


# -- arrival and the guarantee ---------------------------------------------------------------------------------


async def confirm_arrival(session: AsyncSession, principal: Principal, order_id: str) -> Order:
    """The operator confirms arrival (着荷確認): the payment guarantee holds. Confirming twice changes nothing."""
    order = await _locked(session, principal, order_id)
    if order.guarantee == "guaranteed":
        return order
    if order.guarantee != "pending":
        code = "guarantee_lapsed" if order.guarantee == "unguaranteed" else "arrival_not_allowed"
        raise IllegalTransition(
            f"order {order.id} cannot take an arrival confirmation (status {order.status}, guarantee "
            f"{order.guarantee})",
            code=code,
        )
    now = clock.utc_now()
    order.guarantee, order.arrival_confirmed_at, order.updated_at = "guaranteed", now, now
    _audit(session, principal, order, "order.arrival_confirmed", {})
    await _emit_order(session, order, "order.arrival_confirmed")
    return order


async def lapse_guarantees(session: AsyncSession, now: dt.datetime, limit: int = 500) -> int:
    """Orders whose arrival was not confirmed in time fall out of the guarantee: the merchant's advance is clawed
    back (moved to the unguaranteed payable, paid only once the consumer pays)."""
    repo = CheckoutRepository.from_session(session)
    count = 0
    for tenant_id, order_id in await repo.due_guarantee_lapses(now, limit):
        order = await repo.lock_by_id(tenant_id, order_id, skip_locked=True)  # held by a request: next run
        if order is None or order.guarantee != "pending" or order.guarantee_deadline is None:
            continue
        if order.guarantee_deadline > now:
            continue
        order.guarantee, order.updated_at = "unguaranteed", now
        clawed = order.captured_amount - order.refunded_amount
        if clawed:
            money = Money(clawed, order.currency)
            await _book(
                session,
                order,
                kind="order.guarantee_lapsed",
                lines=[dr("merchant_payable", money), cr("unguaranteed_payable", money)],
                source_ref=f"clawback:{order.id}",
                memo=order.merchant_order_id,
            )
        _audit(session, "system", order, "order.guarantee_lapsed", {"clawed_back": clawed})
        await _emit_order(session, order, "order.guarantee_lapsed")
        count += 1
    await session.flush()
    return count


async def expire_authorizations(session: AsyncSession, now: dt.datetime, limit: int = 500) -> int:
    """Authorizations not captured in time expire (a partially captured order keeps what shipped)."""
    repo = CheckoutRepository.from_session(session)
    count = 0
    for tenant_id, order_id in await repo.due_expiries(now, limit):
        order = await repo.lock_by_id(tenant_id, order_id, skip_locked=True)  # held by a request: next run
        if order is None or order.status not in ("authorized", "partially_captured"):
            continue
        if order.expires_at is None or order.expires_at > now:
            continue
        await _release_remainder(session, order, "system")
        event = "order.expired" if order.status == "expired" else "order.released"
        _audit(session, "system", order, event, {"released": order.released_amount})
        await _emit_order(session, order, event)
        count += 1
    await session.flush()
    return count


# -- review resolution -----------------------------------------------------------------------------------------


async def resolve_review(
    session: AsyncSession, principal: Principal, order_id: str, *, approve: bool, note: str
) -> Order:
    """An analyst approves or rejects an order in review (the screening's review is resolved with it)."""
    order = await _locked(session, principal, order_id)
    if order.status != "in_review" or order.screening_id is None:
        raise _illegal(order, "review")
    await fraud.decide_review(session, principal, order.screening_id, approve=approve, note=note)
    await _apply_review(session, principal, order, approve)
    return order


async def after_screening_review(session: AsyncSession, principal: Principal, screening_id: str, approve: bool) -> None:
    """A review resolved from the fraud queue (``/admin/v1/screenings/{id}/approve|reject``) moves its order."""
    order = await CheckoutRepository.from_session(session).by_screening(
        principal.require_tenant(), screening_id, lock=True
    )
    if order is not None and order.status == "in_review":
        await _apply_review(session, principal, order, approve)


async def decline_expired_reviews(session: AsyncSession, now: dt.datetime, limit: int = 500) -> int:
    """Orders still in review past their deadline are declined, and their screening's review expires.

    Order first, then its screening (the lock order of every request path). An order a request holds right now
    is skipped (``SKIP LOCKED``): that request moves it, or the next run takes it."""
    repo = CheckoutRepository.from_session(session)
    count = 0
    for tenant_id, order_id in await repo.due_reviews(now, limit):
        order = await repo.lock_by_id(tenant_id, order_id, skip_locked=True)
        if order is None or order.status != "in_review" or order.review_deadline is None:
            continue
        if order.review_deadline > now:
            continue
        if order.screening_id is not None:
            await fraud.expire_review(session, tenant_id, order.screening_id)
        await _release_exposure(session, order, order.exposure)
        _decline(order, REVIEW, "review_expired")
        order.updated_at = clock.utc_now()
        _audit(session, "system", order, "order.declined", {"detail": "review_expired"})
        await _emit_order(session, order, "order.declined")
        count += 1
    await session.flush()
    return count


async def _apply_review(session: AsyncSession, principal: Principal, order: Order, approve: bool) -> None:
    now = clock.utc_now()
    order.updated_at = now
    if approve:
        policy = await active_policy(session, order.tenant_id)
        _authorized(order, policy, now)
        order.review_deadline = None
        if order.invoice_delivery == "enclosed":
            fee = await _merchant_fee(session, order)
            await _issue_enclosed_invoice(session, order, policy, fee, principal)
        _audit(session, principal, order, "order.review_approved", {})
        await _emit_order(session, order, "order.review_approved")
    else:
        await _release_exposure(session, order, order.exposure)
        _decline(order, REVIEW, "review_rejected")
        order.review_deadline = None
        _audit(session, principal, order, "order.declined", {"detail": "review_rejected"})
        await _emit_order(session, order, "order.declined")


# -- helpers ---------------------------------------------------------------------------------------------------


async def _locked(session: AsyncSession, principal: Principal, order_id: str) -> Order:
    return await get_order(session, principal, order_id, lock=True)


def _illegal(order: Order, action: str) -> IllegalTransition:
    return IllegalTransition(
        f"cannot {action} order {order.id} in status {order.status}",
        code=f"{action}_not_allowed",
        extra={"status": order.status},
    )


def _tracking(request: CaptureRequest) -> tuple[str, str]:
    try:
        return request.carrier, carriers.validate_tracking_number(request.carrier, request.tracking_number)
    except carriers.UnknownCarrier as exc:
        raise InvalidOrder(
            str(exc), code="unknown_carrier", issues=[FieldIssue("#/carrier", str(exc), "unknown")]
        ) from None
    except carriers.InvalidTrackingNumber as exc:
        raise InvalidOrder(
            str(exc), code="invalid_tracking_number", issues=[FieldIssue("#/tracking_number", str(exc), "invalid")]
        ) from None


def _check_items(items: list[Item], amount: int) -> None:
    refs = [i.ref for i in items]
    duplicates = sorted({r for r in refs if refs.count(r) > 1})
    if duplicates:
        raise InvalidOrder(
            f"item refs must be unique: {', '.join(duplicates)}",
            issues=[FieldIssue(f"#/items/{refs.index(duplicates[0])}/ref", "duplicate ref", "duplicate")],
        )
    total = sum(i.amount for i in items)
    if total != amount:
        raise InvalidOrder(
            f"amount {amount} is not the sum of the items ({total})",
            code="amount_mismatch",
            issues=[FieldIssue("#/amount", f"must equal the sum of unit_price × quantity ({total})", "mismatch")],
        )


def _items_within(new: list[dict[str, Any]], old: list[dict[str, Any]]) -> bool:
    """Every new line existed before with at least its quantity and the same price (a pure decrease)."""
    before = {i["ref"]: i for i in old}
    return all(
        i["ref"] in before
        and i["quantity"] <= before[i["ref"]]["quantity"]
        and i["unit_price"] == before[i["ref"]]["unit_price"]
        for i in new
    )


def _lines_amount(
    order: Order, lines: list[LineQuantity], amount: int | None, default: int, counter: str, action: str
) -> tuple[int, list[tuple[str, int]]]:
    """The amount of a capture or refund, from its lines when given (then ``amount``, if also given, must match)."""
    if not lines:
        return (amount if amount is not None else default), []
    items = {i["ref"]: i for i in order.items}
    out: list[tuple[str, int]] = []
    total = 0
    seen: set[str] = set()
    for n, line in enumerate(lines):
        item = items.get(line.ref)
        if item is None or line.ref in seen:
            problem = "no such item in the order" if item is None else "listed twice"
            raise InvalidOrder(f"item {line.ref!r}: {problem}", issues=[FieldIssue(f"#/items/{n}/ref", problem)])
        seen.add(line.ref)
        # A refund may take back what shipped by line; where shipments were reported by amount, any line counts.
        ceiling = (
            item["quantity"] if counter == "captured_quantity" else (item["captured_quantity"] or item["quantity"])
        )
        left = ceiling - item[counter]
        if line.quantity > left:
            raise InvalidOrder(
                f"item {line.ref!r}: {action} of {line.quantity} exceeds the {left} left",
                code="quantity_exceeds_remaining",
                issues=[FieldIssue(f"#/items/{n}/quantity", f"at most {left}", "too_large")],
            )
        out.append((line.ref, line.quantity))
        total += item["unit_price"] * line.quantity
    if amount is not None and amount != total:
        raise InvalidOrder(
            f"amount {amount} is not the sum of the lines ({total})",
            code="amount_mismatch",
            issues=[FieldIssue("#/amount", f"must equal the lines' total ({total}) or be omitted", "mismatch")],
        )
    return total, out


def _count_lines(order: Order, lines: list[tuple[str, int]], counter: str) -> None:
    if not lines:
        return
    by_ref = dict(lines)
    order.items = [
        {**i, counter: i[counter] + by_ref[i["ref"]]} if i["ref"] in by_ref else dict(i) for i in order.items
    ]


def _item_dict(item: Item) -> dict[str, Any]:
    return {
        "ref": item.ref,
        "name": item.name,
        "unit_price": item.unit_price,
        "quantity": item.quantity,
        "tax_rate": item.tax_rate,
        "captured_quantity": 0,
        "refunded_quantity": 0,
    }


def _compact(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def _buyer(data: dict[str, Any]) -> Buyer:
    return Buyer(**data)


def _snapshot(order: Order) -> OrderSnapshot:
    buyer, shipping, device = order.buyer, order.shipping or {}, order.device or {}
    return OrderSnapshot(
        amount=order.amount,
        currency=order.currency,
        buyer_name=buyer["name"],
        buyer_name_kana=buyer.get("name_kana"),
        email=buyer.get("email"),
        phone=buyer.get("phone"),
        billing_postal_code=buyer.get("postal_code"),
        billing_address=buyer["address"],
        shipping_name=shipping.get("name"),
        shipping_postal_code=shipping.get("postal_code"),
        shipping_address=shipping.get("address"),
        ip=device.get("ip"),
        user_agent=device.get("user_agent"),
        accept_language=device.get("accept_language"),
        timezone=device.get("timezone"),
        device_id=device.get("device_id"),
        ordered_at=order.ordered_at,
    )


def _payable_account(order: Order) -> str:
    return "unguaranteed_payable" if order.guarantee == "unguaranteed" else "merchant_payable"


async def _release_exposure(session: AsyncSession, order: Order, amount: int) -> None:
    if amount <= 0 or order.consumer_id is None:
        return
    await credit.adjust(CheckoutRepository.from_session(session), order.tenant_id, order.consumer_id, -amount)
    order.exposure -= amount


async def _merchant_fee(session: AsyncSession, order: Order) -> int:
    return (
        await CheckoutRepository.from_session(session).merchant_terms(order.tenant_id, order.merchant_id)
    ).consumer_fee


async def _issue_enclosed_invoice(
    session: AsyncSession, order: Order, policy: CreditPolicy, fee: int, actor: Principal | str
) -> Invoice:
    invoice = await invoicing.issue(
        session,
        tenant_id=order.tenant_id,
        order_id=order.id,
        merchant_id=order.merchant_id,
        consumer_id=order.consumer_id,
        delivery="enclosed",
        currency=order.currency,
        principal=order.amount - order.released_amount - order.refunded_amount,
        fee=fee,
        policy=policy,
        actor=actor,
        payer_kana=_payer_kana(order),
    )
    await _emit_invoice(session, order, invoice, "invoice.issued")
    return invoice


def _payer_kana(order: Order) -> str | None:
    """The buyer's name as a bank transfer carries it, to match transfers without a key (docs/collections.md)."""
    return match_key(order.buyer.get("name_kana"))


async def _sync_enclosed_invoice(
    session: AsyncSession, order: Order, policy: CreditPolicy, actor: Principal | str
) -> None:
    """An enclosed (同梱) invoice follows the order: re-issued when the amount changes, voided when the order
    is no longer going to ship, issued when a change authorizes an order that had none."""
    if order.invoice_delivery != "enclosed":
        return
    due = order.amount - order.released_amount - order.refunded_amount
    open_invoices = await invoicing.open_invoices_of_order(session, order.tenant_id, order.id)
    live = order.status in ("authorized", "partially_captured", "captured")
    for invoice in open_invoices:
        if live and invoice.principal == due:
            return
        await invoicing.void(invoice, "order_changed" if live else f"order_{order.status}", session, actor)
        await _emit_invoice(session, order, invoice, "invoice.voided")
        # What the consumer already paid beyond the new amount (goods + fee) is owed back to them.
        owed = (due + invoice.fee) if live else (invoice.fee if invoice.fee_recognized else 0)
        excess = invoice.paid_amount - owed
        if excess > 0:
            money = Money(excess, order.currency)
            await _book(
                session,
                order,
                kind="invoice.overpaid",
                lines=[dr("consumer_receivable", money), cr("consumer_overpayments", money)],
                source_ref=f"overpaid:{invoice.id}",
                memo=order.merchant_order_id,
            )
            allocation.take_back(invoice, excess)  # the successor carries only what applies to it
        if live and (due > 0 or invoice.paid_amount > 0):
            successor = await invoicing.issue(
                session,
                tenant_id=order.tenant_id,
                order_id=order.id,
                merchant_id=order.merchant_id,
                consumer_id=order.consumer_id,
                delivery="enclosed",
                currency=order.currency,
                principal=due,
                fee=invoice.fee,
                policy=policy,
                supersedes=invoice,
                actor=actor,
            )
            await _emit_invoice(session, order, successor, "invoice.issued")
        elif invoice.fee_recognized and invoice.fee and invoice.paid_amount == 0:
            # Nothing is left to bill (what shipped was refunded, the rest released): like a fully refunded
            # unpaid invoice, its booked fee is waived, else the receivable keeps a fee no open invoice bills.
            await _waive_fee(session, order, invoice)
        return
    if live and order.status == "authorized" and due > 0:
        await _issue_enclosed_invoice(session, order, policy, await _merchant_fee(session, order), actor)


async def _recognize_fee(session: AsyncSession, order: Order, invoice: Invoice) -> None:
    """Book the invoice's consumer fee as income once it is owed (at the invoice's first shipment)."""
    if invoice.fee and not invoice.fee_recognized:
        await _book(
            session,
            order,
            kind="invoice.fee",
            lines=_fee_lines(order, invoice),
            source_ref=f"fee:{invoice.id}",
            memo=order.merchant_order_id,
        )
    invoice.fee_recognized = True


async def _waive_fee(session: AsyncSession, order: Order, invoice: Invoice) -> None:
    """A fully refunded, unpaid invoice does not charge its fee: the fee entry is mirrored."""
    mirrored = [Line(ln.account, ln.direction.opposite(), ln.money) for ln in _fee_lines(order, invoice)]
    await _book(
        session,
        order,
        kind="invoice.fee_waived",
        lines=mirrored,
        source_ref=f"fee_waived:{invoice.id}",
        memo=order.merchant_order_id,
    )


def _fee_lines(order: Order, invoice: Invoice) -> list[Line]:
    """The consumer fee owed: Dr consumer_receivable / Cr consumer_fee_income (net) + output_consumption_tax."""
    net, tax = invoice.fee - invoice.fee_tax, invoice.fee_tax
    lines = [dr("consumer_receivable", Money(invoice.fee, order.currency))]
    if net:
        lines.append(cr("consumer_fee_income", Money(net, order.currency)))
    if tax:
        lines.append(cr("output_consumption_tax", Money(tax, order.currency)))
    return lines


async def _book(session: AsyncSession, order: Order, **entry: Any) -> None:
    """Post the order's journal entry, except for a sandbox (test-mode) merchant's orders: no money moves."""
    if not order.test_mode:
        await post_entry(session, order.tenant_id, **entry)


def _audit(session: AsyncSession, actor: Principal | str, order: Order, action: str, data: dict[str, Any]) -> None:
    audit.record(
        session,
        tenant_id=order.tenant_id,
        actor=actor,
        action=action,
        resource_type="order",
        resource_id=order.id,
        data={**data, "status": order.status},
    )


async def _emit_order(session: AsyncSession, order: Order, event: str, **extra: Any) -> None:
    def data() -> dict[str, Any]:
        return {**render_order(order), **extra}

    await emit(session, tenant_id=order.tenant_id, merchant_id=order.merchant_id, type=event, data=data)


async def _emit_invoice(session: AsyncSession, order: Order, invoice: Invoice, event: str) -> None:
    data = {**invoicing.render_invoice(invoice), "merchant_order_id": order.merchant_order_id}
    await emit(session, tenant_id=order.tenant_id, merchant_id=order.merchant_id, type=event, data=data)
