"""Use cases of the fraud engine: screen, review, outcomes, lists, external data, policies, negative database.

Services flush, never commit. Identifiers are stored and matched only as keyed hashes (``fraud.hashing``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from billing.metering import SCREENING, record_usage
from domain.kit import audit, clock
from domain.kit.dialect import insert_ignore, insert_ignore_returning
from domain.kit.errors import FieldIssue
from domain.kit.ids import new_id
from domain.kit.pagination import Page, PageRequest
from domain.kit.tenancy import Principal, Role
from fraud import engine
from fraud.errors import (
    ExternalAddressNotFound,
    InvalidIdentifier,
    InvalidImport,
    InvalidPolicy,
    ListEntryNotFound,
    NotInReview,
    OutcomeAlreadyReported,
    ScreeningNotFound,
)
from fraud.external import CATEGORIES, shipped_categories
from fraud.hashing import identifier_hash, mask
from fraud.models import ExternalAddress, ListEntry, NegativeEntry, NegativeReport, PolicyVersion, Screening
from fraud.normalize import (
    build_identity,
    canonical_ip,
    normalize_address,
    normalize_email,
    normalize_name,
    normalize_phone,
)
from fraud.policy import Policy, default_policy
from fraud.repository import FraudRepository
from fraud.signals import evaluate_signals
from fraud.types import Decision, ExternalHits, Identity, IdKind, ListHits, OrderSnapshot, Verdict

LISTS = ("allow", "block")
OUTCOMES = ("fraud", "chargeback", "good")
# Identifier kinds registered in the shared negative database when fraud is confirmed. Names alone are too common
# to be evidence; IPs are shared and reassigned.
NEGATIVE_KINDS = (IdKind.ADDRESS, IdKind.PHONE, IdKind.EMAIL, IdKind.DEVICE)


# -- screening -------------------------------------------------------------------------------------------------


# Parsed policies by (tenant, version): a version never changes, and parsing (plus the engine's per-policy caches)
# should not be paid on every screening.
_POLICY_CACHE: dict[tuple[str, int], Policy] = {}
_POLICY_CACHE_MAX = 10_000


async def active_policy(session: AsyncSession, tenant_id: str) -> Policy:
    """The tenant's latest policy version, or the shipped default (whose version number no tenant version uses:
    a tenant's first own policy is the default's version + 1)."""
    latest = await latest_policy_version(session, tenant_id)
    if latest is None:
        return default_policy()
    cache_key = (tenant_id, latest.version)
    policy = _POLICY_CACHE.get(cache_key)
    if policy is None:
        if len(_POLICY_CACHE) >= _POLICY_CACHE_MAX:
            _POLICY_CACHE.clear()
        policy = _POLICY_CACHE[cache_key] = Policy.model_validate({**latest.body, "version": latest.version})
    return policy


async def policy_at_version(session: AsyncSession, tenant_id: str, version: int | None) -> Policy:
    """The tenant's policy of a known version (``None``: the shipped default), from the cache when it can: for a
    caller that already read the latest version number together with its other data (checkout)."""
    if version is None:
        return default_policy()
    policy = _POLICY_CACHE.get((tenant_id, version))
    if policy is not None:
        return policy
    return await active_policy(session, tenant_id)


async def screen(
    session: AsyncSession, principal: Principal, *, order_ref: str, snapshot: OrderSnapshot, secret: str
) -> Screening:
    """Screen one order: normalise, read history and hits, decide, store the screening, bill one usage event."""
    screening, _identity = await screen_order(session, principal, order_ref=order_ref, snapshot=snapshot, secret=secret)
    return screening


async def screen_order(
    session: AsyncSession,
    principal: Principal,
    *,
    order_ref: str,
    snapshot: OrderSnapshot,
    secret: str,
    bill: bool = True,
    forced: Verdict | None = None,
    policy: Policy | None = None,
) -> tuple[Screening, Identity]:
    """:func:`screen`, also answering the normalised identity (checkout resolves the consumer from it).

    ``bill=False`` records no usage event (a sandbox merchant's screenings are free). ``forced`` overrides the
    verdict (test mode's documented buyer data); the engine's score and reasons are kept for the record.
    ``policy``: the tenant's active policy, when the caller has it already (``policy_at_version``).
    """
    tenant_id = principal.require_tenant()
    assert principal.merchant_id is not None
    now = clock.utc_now()
    identity = build_identity(snapshot)
    hashes = {kind: identifier_hash(secret, kind, key) for kind, key in identity.keys().items()}
    repo = FraudRepository.from_session(session)
    if policy is None:
        policy = await active_policy(session, tenant_id)
    history = await repo.history(tenant_id, hashes, now)
    address_key = identity.delivery_address.key or None
    listed, external = await repo.hits(tenant_id, hashes, address_key)
    if address_key:
        external |= shipped_categories(address_key)
    lists = ListHits(
        allow=frozenset(IdKind(k) for source, k in listed if source == "allow"),
        block=frozenset(IdKind(k) for source, k in listed if source == "block"),
        negative=frozenset(IdKind(k) for source, k in listed if source == "negative"),
    )
    external_hits = ExternalHits(categories=frozenset(external))
    signals = evaluate_signals(snapshot, identity, history, lists, external_hits, policy)
    decision = engine.decide(signals, policy)
    if forced is not None:
        decision = Decision(verdict=forced, score=decision.score, reasons=decision.reasons)
    in_review = decision.verdict is Verdict.REVIEW
    screening = Screening(
        tenant_id=tenant_id,
        id=new_id("scr"),
        merchant_id=principal.merchant_id,
        order_ref=order_ref,
        amount=snapshot.amount,
        currency=snapshot.currency,
        verdict=decision.verdict.value,
        score=decision.score,
        reasons=list(decision.reasons),
        policy_version=policy.version,
        features={
            "signals": _jsonable(signals),
            "history": {f"{k.value}:{w.value}": n for (k, w), n in history.counts.items()}
            | {
                "names_at_address": history.names_at_address,
                "addresses_for_phone": history.addresses_for_phone,
                "identities_for_device": history.identities_for_device,
                "identities_for_ip": history.identities_for_ip,
                "prior_orders": history.prior_orders,
                "address_known_for_buyer": history.address_known_for_buyer,
            },
            "lists": {"allow": sorted(lists.allow), "block": sorted(lists.block), "negative": sorted(lists.negative)},
            "external": sorted(external),
        },
        status="in_review" if in_review else "decided",
        review_deadline=now + dt.timedelta(hours=policy.review_hours) if in_review else None,
        reviewed_by=None,
        review_note=None,
        reviewed_at=None,
        outcome=None,
        outcome_at=None,
        created_at=now,
    )
    if forced is not None:
        screening.features["test_mode_forced"] = forced.value
    await repo.insert_screening(screening, hashes)
    if bill:
        await record_usage(session, tenant_id, SCREENING, screening.id, occurred_at=now)
    return screening, identity


def _jsonable(signals: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if isinstance(v, (bool, int, float, str)) or v is None else str(v)) for k, v in signals.items()}


async def get_screening(
    session: AsyncSession, principal: Principal, screening_id: str, *, for_update: bool = False
) -> Screening:
    screening = await FraudRepository.from_session(session).get(principal, screening_id, for_update=for_update)
    if screening is None:
        raise ScreeningNotFound(f"no screening {screening_id}")
    return screening


async def list_screenings(
    session: AsyncSession,
    principal: Principal,
    page: PageRequest,
    *,
    status: str | None = None,
    verdict: str | None = None,
) -> Page[Screening]:
    return await FraudRepository.from_session(session).list_screenings(principal, page, status=status, verdict=verdict)


# -- review queue ----------------------------------------------------------------------------------------------


async def decide_review(
    session: AsyncSession, principal: Principal, screening_id: str, *, approve: bool, note: str
) -> Screening:
    """An analyst resolves a REVIEW: approve, or reject (confirmed fraud: its identifiers join the negative DB)."""
    screening = await get_screening(session, principal, screening_id, for_update=True)
    if screening.status != "in_review":
        raise NotInReview(f"screening {screening_id} is {screening.status}, not in review")
    now = clock.utc_now()
    screening.status = "approved" if approve else "rejected"
    screening.reviewed_by, screening.review_note, screening.reviewed_at = principal.api_key_id, note, now
    audit.record(
        session,
        tenant_id=screening.tenant_id,
        actor=principal,
        action="screening.approved" if approve else "screening.rejected",
        resource_type="screening",
        resource_id=screening.id,
        data={"note_length": len(note)},
    )
    if not approve:
        await _register_screening_negative(session, principal, screening, "review_rejected")
    await session.flush()
    return screening


async def withdraw_review(session: AsyncSession, principal: Principal | str, tenant_id: str, screening_id: str) -> None:
    """The order under review was cancelled or changed by the merchant: the REVIEW leaves the queue as
    ``withdrawn``."""
    await _close_review(session, principal, tenant_id, screening_id, "withdrawn")


async def expire_review(session: AsyncSession, tenant_id: str, screening_id: str) -> None:
    """One screening's review expires (its order's deadline passed), if it is still in review."""
    await _close_review(session, "system", tenant_id, screening_id, "expired")


async def _close_review(
    session: AsyncSession, actor: Principal | str, tenant_id: str, screening_id: str, status: str
) -> None:
    screening = await FraudRepository.from_session(session).get_for_tenant(tenant_id, screening_id, for_update=True)
    if screening is None or screening.status != "in_review":
        return
    screening.status = status
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action=f"screening.{status}",
        resource_type="screening",
        resource_id=screening.id,
    )
    await session.flush()


async def expire_reviews(session: AsyncSession, now: dt.datetime) -> list[Screening]:
    """REVIEW screenings past their deadline become ``expired`` (the merchant treats them as declined).
    Answers the expired screenings, so that checkout can decline their orders in the same transaction."""
    expired = await FraudRepository.from_session(session).due_reviews(now)
    for screening in expired:
        screening.status = "expired"
        audit.record(
            session,
            tenant_id=screening.tenant_id,
            actor="system",
            action="screening.expired",
            resource_type="screening",
            resource_id=screening.id,
        )
    await session.flush()
    return expired


# -- outcomes and the shared negative database -----------------------------------------------------------------


async def report_outcome(
    session: AsyncSession, principal: Principal, screening_id: str, *, outcome: str, note: str = ""
) -> Screening:
    """The merchant reports what became of a screened order. Fraud and chargebacks feed the negative database."""
    screening = await get_screening(session, principal, screening_id, for_update=True)
    if screening.outcome is not None:
        if screening.outcome == outcome:
            return screening  # the same report twice changes nothing
        raise OutcomeAlreadyReported(f"screening {screening_id} already has outcome {screening.outcome}")
    screening.outcome, screening.outcome_at = outcome, clock.utc_now()
    audit.record(
        session,
        tenant_id=screening.tenant_id,
        actor=principal,
        action=f"screening.outcome.{outcome}",
        resource_type="screening",
        resource_id=screening.id,
        data={"note_length": len(note)},
    )
    if outcome in ("fraud", "chargeback"):
        await _register_screening_negative(session, principal, screening, outcome)
    await session.flush()
    return screening


async def register_non_payment(session: AsyncSession, tenant_id: str, screening_id: str) -> bool:
    """A fraud-flagged order went unpaid to the final demand: its identifiers join the negative database (reason
    ``non_payment``), so the next order with them is screened with that knowledge. Flagged: the engine's verdict
    was REVIEW or NG (a person let it through) or the merchant reported it as fraud; an ordinary late payer is not
    fraud and is not reported. Returns whether the screening was reported. Idempotent."""
    screening = await session.get(Screening, (tenant_id, screening_id))
    if screening is None or (screening.verdict == Verdict.OK.value and screening.outcome != "fraud"):
        return False
    system = Principal(api_key_id="system", role=Role.OPERATOR_ADMIN, tenant_id=tenant_id)
    await _register_screening_negative(session, system, screening, "non_payment")
    return True


async def _register_screening_negative(
    session: AsyncSession, principal: Principal, screening: Screening, reason: str
) -> None:
    if screening.features.get("test_mode_forced"):
        return  # a sandbox order's data is test data: it never enters the shared negative database
    hashes = await FraudRepository.from_session(session).identifier_hashes(screening.tenant_id, screening.id)
    for kind in NEGATIVE_KINDS:
        if kind.value in hashes:
            await _register_negative_hash(
                session, principal, screening.tenant_id, kind, hashes[kind.value], reason, screening.id
            )


async def _register_negative_hash(
    session: AsyncSession,
    principal: Principal,
    tenant_id: str,
    kind: IdKind,
    key_hash: str,
    reason: str,
    screening_id: str | None,
) -> None:
    now = clock.utc_now()
    await session.execute(
        insert_ignore(session, NegativeEntry, kind=kind.value, key_hash=key_hash, first_reported_at=now)
    )
    await session.execute(
        insert_ignore(
            session,
            NegativeReport,
            tenant_id=tenant_id,
            id=new_id("neg"),
            kind=kind.value,
            key_hash=key_hash,
            reason=reason,
            screening_id=screening_id,
            created_by=principal.api_key_id,
            created_at=now,
        )
    )


async def register_negative(
    session: AsyncSession, principal: Principal, *, kind: IdKind, value: str, secret: str
) -> str:
    """An operator registers an identifier it confirmed as fraud. Returns the masked identifier."""
    tenant_id = principal.require_tenant()
    key = canonical_key(kind, value)
    await _register_negative_hash(
        session, principal, tenant_id, kind, identifier_hash(secret, kind, key), "manual", None
    )
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=principal,
        action="negative.registered",
        resource_type="identifier",
        resource_id=kind.value,
        data={"masked": mask(kind, key)},
    )
    await session.flush()
    return mask(kind, key)


# -- lists -----------------------------------------------------------------------------------------------------


def canonical_key(kind: IdKind, value: str) -> str:
    """The matching key of a raw identifier, as screenings compute it; unusable values are rejected."""
    key: str | None
    if kind is IdKind.ADDRESS:
        normalized = normalize_address(value)
        key = normalized.key if normalized.parsed else None
    elif kind is IdKind.PHONE:
        phone = normalize_phone(value)
        key = phone.e164 if phone is not None else None
    elif kind is IdKind.EMAIL:
        email = normalize_email(value)
        key = email.key if email is not None else None
    elif kind is IdKind.NAME:
        key = normalize_name(value).key or None
    elif kind is IdKind.IP:
        key = canonical_ip(value.strip())  # as screenings store it: ::ffff:1.2.3.4 → 1.2.3.4, IPv6 compressed
        if key is None:
            raise InvalidIdentifier("not an IP address", issues=[FieldIssue("#/value", "not an IP address", "invalid")])
    else:
        key = value.strip() or None
    if not key:
        raise InvalidIdentifier(
            f"not a usable {kind.value}: {mask(kind, value.strip())!r}",
            issues=[FieldIssue("#/value", f"not a usable {kind.value}", "invalid")],
        )
    return key


async def add_list_entry(
    session: AsyncSession, principal: Principal, *, list_name: str, kind: IdKind, value: str, note: str, secret: str
) -> ListEntry:
    tenant_id = principal.require_tenant()
    key = canonical_key(kind, value)
    key_hash = identifier_hash(secret, kind, key)
    await session.execute(
        insert_ignore(
            session,
            ListEntry,
            tenant_id=tenant_id,
            id=new_id("lst"),
            list=list_name,
            kind=kind.value,
            key_hash=key_hash,
            masked=mask(kind, key),
            note=note,
            created_by=principal.api_key_id,
            created_at=clock.utc_now(),
        )
    )
    entry = await FraudRepository.from_session(session).list_entry_by_hash(tenant_id, list_name, kind.value, key_hash)
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=principal,
        action=f"list.{list_name}.added",
        resource_type="list_entry",
        resource_id=entry.id,
    )
    await session.flush()
    return entry


async def remove_list_entry(session: AsyncSession, principal: Principal, entry_id: str) -> ListEntry:
    entry = await FraudRepository.from_session(session).get_list_entry(principal, entry_id)
    if entry is None:
        raise ListEntryNotFound(f"no list entry {entry_id}")
    await session.delete(entry)
    audit.record(
        session,
        tenant_id=entry.tenant_id,
        actor=principal,
        action=f"list.{entry.list}.removed",
        resource_type="list_entry",
        resource_id=entry.id,
    )
    await session.flush()
    return entry


async def list_entries(
    session: AsyncSession, principal: Principal, page: PageRequest, list_name: str | None = None
) -> Page[ListEntry]:
    return await FraudRepository.from_session(session).list_entries(principal, page, list_name)


@dataclass(frozen=True, slots=True)
class ImportResult:
    added: int
    unchanged: int


async def import_list(session: AsyncSession, principal: Principal, text: str, *, secret: str) -> ImportResult:
    """Bulk import ``list,kind,value[,note]`` lines (CSV, optional header). All or nothing: a bad line rejects
    the whole file, naming every bad line."""
    rows: list[tuple[str, IdKind, str, str]] = []  # (list, kind, canonical key, note)
    issues: list[FieldIssue] = []
    for number, record in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not record or all(not c.strip() for c in record) or record[0].strip().startswith("#"):
            continue
        if number == 1 and [c.strip().lower() for c in record[:3]] == ["list", "kind", "value"]:
            continue
        if len(record) not in (3, 4):
            issues.append(FieldIssue(f"line:{number}", "expected list,kind,value[,note]", "columns"))
            continue
        list_name, kind_text, value = (c.strip() for c in record[:3])
        note = record[3].strip() if len(record) == 4 else ""
        if list_name not in LISTS:
            issues.append(FieldIssue(f"line:{number}", f"list must be allow or block, got {list_name!r}", "list"))
            continue
        try:
            kind = IdKind(kind_text)
        except ValueError:
            issues.append(FieldIssue(f"line:{number}", f"unknown kind {kind_text!r}", "kind"))
            continue
        try:
            key = canonical_key(kind, value)
        except InvalidIdentifier:
            issues.append(FieldIssue(f"line:{number}", f"not a usable {kind.value}", "value"))
            continue
        rows.append((list_name, kind, key, note))
    if issues:
        raise InvalidImport(f"{len(issues)} bad line(s); nothing was imported", issues=issues)
    if not rows:
        raise InvalidImport("the file has no entries", issues=[FieldIssue("line:1", "no entries", "empty")])
    added = 0
    tenant_id = principal.require_tenant()
    for list_name, kind, key, note in rows:
        inserted = await insert_ignore_returning(
            session,
            ListEntry,
            "id",
            tenant_id=tenant_id,
            id=new_id("lst"),
            list=list_name,
            kind=kind.value,
            key_hash=identifier_hash(secret, kind, key),
            masked=mask(kind, key),
            note=note,
            created_by=principal.api_key_id,
            created_at=clock.utc_now(),
        )
        added += inserted is not None
    audit.record(
        session,
        tenant_id=principal.require_tenant(),
        actor=principal,
        action="list.imported",
        resource_type="list",
        resource_id="bulk",
        data={"added": added, "lines": len(rows)},
    )
    await session.flush()
    return ImportResult(added=added, unchanged=len(rows) - added)


# -- external address data -------------------------------------------------------------------------------------


async def add_external_address(
    session: AsyncSession, principal: Principal, *, category: str, address: str, label: str
) -> ExternalAddress:
    tenant_id = principal.require_tenant()
    if category not in CATEGORIES:
        raise InvalidIdentifier(
            f"unknown category {category!r}",
            issues=[FieldIssue("#/category", f"one of {', '.join(CATEGORIES)}", "enum")],
        )
    key = canonical_key(IdKind.ADDRESS, address)
    await session.execute(
        insert_ignore(
            session,
            ExternalAddress,
            tenant_id=tenant_id,
            id=new_id("ext"),
            category=category,
            address_key=key,
            label=label,
            created_at=clock.utc_now(),
        )
    )
    entry = await FraudRepository.from_session(session).external_by_key(tenant_id, category, key)
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=principal,
        action="external_address.added",
        resource_type="external_address",
        resource_id=entry.id,
    )
    await session.flush()
    return entry


async def list_external_addresses(
    session: AsyncSession, principal: Principal, page: PageRequest
) -> Page[ExternalAddress]:
    return await FraudRepository.from_session(session).list_external(principal, page)


async def remove_external_address(session: AsyncSession, principal: Principal, entry_id: str) -> ExternalAddress:
    entry = await FraudRepository.from_session(session).get_external(principal, entry_id)
    if entry is None:
        raise ExternalAddressNotFound(f"no external address {entry_id}")
    await session.delete(entry)
    await session.flush()
    return entry


# -- policies --------------------------------------------------------------------------------------------------


async def update_policy(session: AsyncSession, principal: Principal, body: dict[str, Any], note: str) -> PolicyVersion:
    """Validate and store a new policy version; an invalid policy is rejected and the old one stays active."""
    tenant_id = principal.require_tenant()
    latest = await FraudRepository.from_session(session).latest_policy(tenant_id)
    version = max(latest.version if latest is not None else 0, default_policy().version) + 1
    try:
        policy = Policy.model_validate({**body, "version": version})
    except ValidationError as exc:
        issues = [FieldIssue("#/" + "/".join(str(p) for p in e["loc"]), e["msg"], e["type"]) for e in exc.errors()]
        raise InvalidPolicy("The policy is invalid; the current policy stays active.", issues=issues) from exc
    stored = PolicyVersion(
        tenant_id=tenant_id,
        version=version,
        body=policy.model_dump(mode="json", exclude={"version"}),
        note=note,
        created_by=principal.api_key_id,
        created_at=clock.utc_now(),
    )
    session.add(stored)
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=principal,
        action="policy.updated",
        resource_type="policy",
        resource_id=str(version),
    )
    await session.flush()
    return stored


async def latest_policy_version(session: AsyncSession, tenant_id: str) -> PolicyVersion | None:
    """The tenant's stored policy in force, or ``None`` while the shipped default applies."""
    return await FraudRepository.from_session(session).latest_policy(tenant_id)


async def policy_versions(session: AsyncSession, principal: Principal) -> list[PolicyVersion]:
    return await FraudRepository.from_session(session).policy_versions(principal)
