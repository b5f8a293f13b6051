"""The credit decision: which consumer an order belongs to (名寄せ) and whether their exposure may grow.

Identity: an order's consumer keys are keyed hashes of its normalised phone, email, and name + billing address
(the fraud engine's normalisers, so 赤坂4丁目3番地2号 and 赤坂4-3-2 are one key). Any key already known points to
its consumer; keys seen for the first time are claimed for that consumer. When the keys of one order point to
several consumers, they are one person: the younger consumers are merged into the oldest.

Concurrency (PostgreSQL): keys are claimed in a fixed order with ``INSERT … ON CONFLICT DO NOTHING``, so two
first orders of one new person serialise on the first shared key, and the loser finds the winner's consumer and
merges. The limit itself is one conditional ``UPDATE`` (``outstanding + amount <= limit``): no lock is held
between the check and the write, and no retry loop is needed. Lock order: the consumers involved (all at once, in
id order), then the keys; an attempt that finds it needs a consumer it has not locked rolls back to its savepoint
and locks it first (``resolve_consumer``). Proven by ``tests/checkout/test_concurrency.py``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from domain.checkout.policy import CreditPolicy
from domain.checkout.repository import CheckoutRepository
from domain.kit.ids import new_id
from fraud.hashing import identifier_hash
from fraud.types import Identity

PHONE, EMAIL, NAME_ADDRESS = "phone", "email", "name_address"


@dataclass(frozen=True, slots=True)
class CreditResult:
    consumer_id: str | None
    declined: str | None  # None: reserved; else consumer_limit | first_order_max | overdue | no_identity


def consumer_keys(identity: Identity, secret: str, *, sandbox: bool = False) -> list[tuple[str, str]]:
    """The order's consumer keys as (kind, keyed hash), in the fixed order they are claimed in.

    A sandbox (test-mode) merchant's buyers hash into their own namespace: test orders never share a consumer,
    or its credit, with real buyers of the operator."""
    ns = "sandbox.consumer" if sandbox else "consumer"
    keys: list[tuple[str, str]] = []
    if identity.phone is not None and identity.phone.e164:
        keys.append((PHONE, identifier_hash(secret, f"{ns}.phone", identity.phone.e164)))
    if identity.email is not None and identity.email.key:
        keys.append((EMAIL, identifier_hash(secret, f"{ns}.email", identity.email.key)))
    if identity.name.key and identity.billing_address.key:
        key = f"{identity.name.key}|{identity.billing_address.key}"
        keys.append((NAME_ADDRESS, identifier_hash(secret, f"{ns}.name_address", key)))
    return sorted(keys)


async def resolve_consumer(
    repo: CheckoutRepository, tenant_id: str, keys: list[tuple[str, str]], currency: str, now: dt.datetime
) -> str:
    """The consumer these keys belong to, creating or merging consumers as needed (see the module docstring).

    Lock order: consumers (all at once, in id order), then keys. Nothing here waits for a consumer while holding
    a key it claimed or a consumer out of id order: when a claim is lost to a consumer not yet locked, or a locked
    consumer turns out merged into one not locked, the attempt is rolled back to its savepoint (which gives back
    its claims and locks) and retried with the larger set locked first. A change of an order (which holds the
    order's consumer when it claims keys) and a new order bringing the same new identifier queue on the consumer.
    """
    known = await repo.consumers_of_keys(tenant_id, keys)
    ids = set(known.values())
    missing = [key for key in keys if key not in known]
    if not missing and len(ids) == 1:
        return ids.pop()  # a known person with nothing new: no claim, no merge (reserve follows merges)
    fresh = None
    if not ids:
        fresh = new_id("con")
        await repo.insert_consumer(tenant_id, fresh, currency, now)
    for _ in range(_ATTEMPTS):
        attempt = await repo.savepoint()
        locked = await repo.lock_consumers(tenant_id, ids) if ids else []  # with survivors and their merged
        held = {c.id for c in locked}
        unlocked = {c.merged_into for c in locked if c.merged_into is not None} - held
        live = {c.id for c in locked if c.merged_into is None} | ({fresh} if fresh else set())
        survivor = min(live) if live else None
        if not unlocked and missing and survivor is not None:
            if await repo.claim_keys(tenant_id, missing, survivor) < len(missing):
                # A concurrent order claimed a key first: its consumer is this person too.
                owners = set((await repo.consumers_of_keys(tenant_id, keys)).values())
                unlocked = owners - held - {fresh}
        if unlocked or survivor is None:
            await attempt.rollback()
            ids |= unlocked
            continue
        await attempt.commit()
        others = [c for c in locked if c.merged_into is None and c.id != survivor]
        if others or (fresh is not None and fresh != survivor):
            await repo.merge_consumers(
                tenant_id,
                survivor,
                [c.id for c in others] + ([fresh] if fresh is not None and fresh != survivor else []),
                moved=sum(c.outstanding for c in others),
                overdue=sum(c.overdue_count for c in others),
                orders=sum(c.orders_count for c in others),
            )
        return survivor
    raise RuntimeError(f"consumers {sorted(ids)}: merges did not settle")


_ATTEMPTS = 10


async def reserve(
    repo: CheckoutRepository,
    tenant_id: str,
    consumer_id: str,
    amount: int,
    policy: CreditPolicy,
    *,
    new_order: bool = True,
) -> CreditResult:
    """Grow the consumer's exposure by ``amount`` if the policy allows it, else say why not. ``new_order`` counts
    the order towards the consumer's orders (a re-screened change of an existing order does not)."""
    if not new_order and amount > policy.first_order_max:
        # The changed order was counted when it was first reserved: with no other order that passed credit it is
        # still the consumer's first order, and a change must not lift it past the first-order maximum (the
        # conditional UPDATE only sees ``orders_count > 0``). ``orders_count`` only grows, so a stale read here
        # can only err towards this decline.
        state = await repo.consumer_state(tenant_id, consumer_id)
        for _ in range(5):
            if state is None or state.merged_into is None:
                break
            consumer_id = state.merged_into
            state = await repo.consumer_state(tenant_id, consumer_id)
        if state is not None and state.orders_count <= 1:
            return CreditResult(consumer_id, "first_order_max")
    for _ in range(5):  # follows merges that happen concurrently (each hop is one merge; five is plenty)
        if await repo.reserve(
            tenant_id,
            consumer_id,
            amount,
            limit=policy.consumer_limit,
            first_max=policy.first_order_max,
            block_overdue=policy.decline_if_overdue,
            new_order=new_order,
        ):
            return CreditResult(consumer_id, None)
        state = await repo.consumer_state(tenant_id, consumer_id)
        assert state is not None
        if state.merged_into is not None:
            consumer_id = state.merged_into
            continue
        if policy.decline_if_overdue and state.overdue_count > 0:
            return CreditResult(consumer_id, "overdue")
        if state.orders_count == 0 and amount > policy.first_order_max:
            return CreditResult(consumer_id, "first_order_max")
        return CreditResult(consumer_id, "consumer_limit")
    raise RuntimeError(f"consumer {consumer_id}: merge chain did not settle")


async def hold(repo: CheckoutRepository, tenant_id: str, consumer_id: str) -> None:
    """Take the consumer's row lock (following merges) until the transaction ends, changing nothing: for a path
    that changes the exposure only after taking a later lock (the invoice counter), to keep the lock order
    order → consumers → invoices."""
    await adjust(repo, tenant_id, consumer_id, 0)


async def adjust(repo: CheckoutRepository, tenant_id: str, consumer_id: str, delta: int) -> None:
    """Change a consumer's exposure by ``delta`` (negative releases), following merges."""
    for _ in range(5):
        if await repo.adjust(tenant_id, consumer_id, delta):
            return
        state = await repo.consumer_state(tenant_id, consumer_id)
        assert state is not None and state.merged_into is not None
        consumer_id = state.merged_into
    raise RuntimeError(f"consumer {consumer_id}: merge chain did not settle")
