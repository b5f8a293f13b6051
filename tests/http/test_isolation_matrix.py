"""Tenant isolation matrix, generated from the served OpenAPI (rows T1 and T2 of reliability_perf.md).

**Objects.** Every operation with a path parameter is called on tenant A's object with every key that does not
own it: tenant B's keys of each role, a second merchant of tenant A and tenant B's merchant, every role the route
is not meant for (tenant A's own keys included) and the platform's keys. A key of a role the route admits must get
404, any other key 403: never a 2xx, a 5xx, or a 422 (each body is valid, so the lookup and not validation decides).
The routes' roles are read from their guards. After each writing operation every table holds the same rows as
before (the callers' own idempotency records aside).

**Lists, searches and exports.** Each is called by tenant B's keys and by the second merchant, plain and with every
filter set to tenant A's ids, before and after tenant A's objects exist: the answer must not change, and must not
name any of A's ids. Both tenants hold objects with the same references (merchant order ids, payment references).

**The matrix cannot go stale.** Meta tests fail when an id-taking operation has no resource in
``tests/fixtures/resources.py``, a body operation no body here, an operation no role guard, or a route with a path
parameter is missing from the OpenAPI; and the owners' keys must read every object the matrix probes.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from litestar import Litestar
from litestar.routes import HTTPRoute
from sqlalchemy import select

from app.auth import RoleGuard
from app.uow import Database
from domain.kit import clock
from domain.kit.tenancy import Role
from domain.models import metadata
from domain.tenancy import service as tenancy
from tests.checkout.helpers import yamato
from tests.fixtures.factories import Tenant, bearer, create_key
from tests.fixtures.resources import seed_api_resources

PATH_PARAM = re.compile(r"{(\w+)}")
LITESTAR_PARAM = re.compile(r"{(\w+):\w+}")
PUBLIC = frozenset({"/health", "/ready"})
# Each caller's own record of its request, scoped to the caller's key: not a change to the owner's data.
CALLER_RECORDS = frozenset({"idempotency_keys"})

Ids = Mapping[str, str]  # path parameter name -> the id of one of the owner's objects
Body = Mapping[str, Any] | Callable[[Ids], Mapping[str, Any]]
# A valid body for every operation with a path parameter that takes one: each would change the object if the lookup
# let it through, so the snapshot shows any leak.
BODIES: dict[str, Body] = {
    "AddPlanVersion": {"monthly_fee": 1},
    "CancelSubscription": {},
    "ChangeSubscriptionPlan": lambda ids: {"plan_id": ids["plan_id"]},
    "IssueCreditNote": {"reason": "x", "lines": [{"description": "x", "amount": 10}]},
    "RecordInvoicePayment": {"amount": 100, "paid_on": "2026-12-01", "reference": "x"},
    "UpdateMerchant": {"name": "Hijacked", "status": "suspended"},
    "ApproveScreening": {"note": "x"},
    "RejectScreening": {"note": "x"},
    "ApproveOrder": {"note": "x"},
    "RejectOrder": {"note": "x"},
    "MatchPayment": lambda ids: {"invoice_id": ids["invoice_id"]},
    "PairReversal": lambda ids: {"payment_id": ids["payment_id"]},
    "RefundPayment": {"note": "x"},
    "WritePaymentToIncome": {"note": "x"},
    "SetInvoiceHold": {"dispute_hold": True},
    "PutMerchantContract": {
        "fee_rate_bp": 990,
        "cycle": "monthly",
        "bank_code": "0009",
        "branch_code": "999",
        "account_type": "1",
        "account_number": "7654321",
        "holder_kana": "ﾊｲｼﾞﾔﾂｸ",
    },
    "ReportScreeningOutcome": {"outcome": "fraud"},
    "CancelOrder": {"reason": "x"},
    "CaptureOrder": {"carrier": "yamato", "tracking_number": yamato(7)},
    "UpdateOrder": {
        "amount": 1000,
        "items": [{"ref": "SKU-1", "name": "緑茶", "unit_price": 1000, "quantity": 1, "tax_rate": 8}],
    },
    "RefundOrder": {"amount": 100},
    "UpdateWebhookEndpoint": {"url": "https://attacker.example/hooks"},
    "ReplayWebhookEvent": {},
}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # the OpenAPI template, /v1/orders/{order_id}
    operation_id: str
    params: tuple[str, ...]
    query: tuple[str, ...]
    has_body: bool
    roles: frozenset[Role] | None  # None: no role guard

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.operation_id})"

    def url(self, values: Mapping[str, str]) -> str:
        return PATH_PARAM.sub(lambda m: values[m.group(1)], self.path)

    def body(self, ids: Ids) -> Mapping[str, Any] | None:
        if not self.has_body:
            return None
        body = BODIES[self.operation_id]
        return body(ids) if callable(body) else body


def _roles_by_route(app: Litestar) -> dict[tuple[str, str], frozenset[Role] | None]:
    """The roles each route admits: the intersection of its role guards (router, controller and handler)."""
    out: dict[tuple[str, str], frozenset[Role] | None] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        path = LITESTAR_PARAM.sub(r"{\1}", route.path)
        for handler in route.route_handlers:
            sets = [guard.roles for guard in handler.resolve_guards() if isinstance(guard, RoleGuard)]
            roles = frozenset.intersection(*sets) if sets else None
            for method in handler.http_methods:
                out[(method, path)] = roles
    return out


_SCHEMA: dict[str, Any] = {}  # the served document, rendered once per process (it takes a second or two)


async def operations(client: Any) -> list[Operation]:
    """Every operation of the OpenAPI the app serves, with the roles its route admits."""
    if not _SCHEMA:
        r = await client.get("/schema/openapi.json")
        assert r.status_code == 200, r.text
        _SCHEMA.update(r.json())
    schema = _SCHEMA
    roles = _roles_by_route(client.app)
    ops = []
    for path, item in schema["paths"].items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            params = op.get("parameters", [])
            ops.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    operation_id=op["operationId"],
                    params=tuple(p["name"] for p in params if p["in"] == "path"),
                    query=tuple(p["name"] for p in params if p["in"] == "query"),
                    has_body="requestBody" in op,
                    roles=roles.get((method.upper(), path)),
                )
            )
    return ops


# -- callers --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    label: str
    role: Role
    tenant: str | None  # "A" (the owner's tenant), "B", or None for the platform
    merchant: int | None  # 1: the merchant owning A's merchant objects; 2: another merchant of A
    secret: str

    def owns(self, op: Operation) -> bool:
        """The caller may reach tenant A's object through ``op``."""
        assert op.roles is not None
        if self.role not in op.roles:
            return False
        return self.tenant is None or (self.tenant == "A" and self.merchant in (None, 1))

    def expected(self, op: Operation) -> int:
        assert op.roles is not None
        return 404 if self.role in op.roles else 403


@dataclass
class KeyRing:
    callers: list[Caller]
    sibling_merchant_id: str

    def of(self, label: str) -> Caller:
        return next(c for c in self.callers if c.label == label)


async def key_ring(db: Database, a: Tenant, b: Tenant) -> KeyRing:
    async with db.transaction() as s:
        sibling = await tenancy.create_merchant(s, a.admin, name="Sibling shop")
    callers = [
        Caller("A.operator_admin", Role.OPERATOR_ADMIN, "A", None, a.admin_key),
        Caller("A.operator_finance", Role.OPERATOR_FINANCE, "A", None, a.finance_key),
        Caller("A.merchant", Role.MERCHANT, "A", 1, a.merchant_key),
        Caller("A.merchant2", Role.MERCHANT, "A", 2, await create_key(db, Role.MERCHANT, a.id, sibling.id)),
        Caller("B.operator_admin", Role.OPERATOR_ADMIN, "B", None, b.admin_key),
        Caller("B.operator_finance", Role.OPERATOR_FINANCE, "B", None, b.finance_key),
        Caller("B.merchant", Role.MERCHANT, "B", 1, b.merchant_key),
        Caller("platform", Role.PLATFORM, None, None, await create_key(db, Role.PLATFORM)),
        Caller("platform_finance", Role.PLATFORM_FINANCE, None, None, await create_key(db, Role.PLATFORM_FINANCE)),
    ]
    return KeyRing(callers, sibling.id)


def headers(caller: Caller, method: str) -> dict[str, str]:
    extra = {"Idempotency-Key": uuid.uuid4().hex} if method != "GET" else {}
    return bearer(caller.secret) | extra


# -- database snapshot ----------------------------------------------------------------------------------------


async def snapshot(db: Database) -> dict[str, list[str]]:
    """Every row of every table (the callers' own records aside)."""
    out = {}
    async with db.sessionmaker() as s:
        for table in metadata.sorted_tables:
            if table.name not in CALLER_RECORDS:
                out[table.name] = sorted(repr(tuple(row)) for row in (await s.execute(select(table))).all())
    return out


def changed_tables(before: Mapping[str, list[str]], after: Mapping[str, list[str]]) -> list[str]:
    return [name for name in before if before[name] != after[name]]


def fake_id(value: str) -> str:
    """An id of the same shape that names nothing."""
    prefix, sep, rest = value.rpartition("_")
    return f"{prefix}{sep}{'0' * len(rest)}" if sep else f"{value}-NONE"


# -- meta tests -----------------------------------------------------------------------------------------------


class TestTheMatrixCoversEveryOperation:
    async def test_every_path_parameter_has_a_resource_and_every_body_operation_a_body(self, client, db):
        ids = (await seed_api_resources(db)).ids
        missing = []
        for op in await operations(client):
            if unknown := set(op.params) - set(ids):
                missing.append(f"{op}: make a resource for {sorted(unknown)} in tests/fixtures/resources.py")
            if op.params and op.has_body and op.operation_id not in BODIES:
                missing.append(f"{op}: add a valid body to BODIES")
        assert not missing, "\n".join(missing)

    async def test_every_operation_admits_named_roles(self, client):
        unguarded = [str(op) for op in await operations(client) if op.path not in PUBLIC and not op.roles]
        assert not unguarded, f"no role guard (app.auth.require_roles): {unguarded}"

    async def test_no_route_with_a_path_parameter_is_left_out_of_the_openapi(self, client):
        documented = {(op.method, op.path) for op in await operations(client)}
        hidden = [
            (method, path)
            for method, path in _roles_by_route(client.app)
            if "{" in path
            and not path.startswith("/schema/")  # the OpenAPI document's own routes
            and method not in ("HEAD", "OPTIONS")
            and (method, path) not in documented
        ]
        assert not hidden, f"routes the matrix cannot see: {hidden}"

    async def test_every_body_belongs_to_an_operation(self, client):
        ids = {op.operation_id for op in await operations(client) if op.params and op.has_body}
        assert set(BODIES) <= ids, f"bodies of operations that are gone: {set(BODIES) - ids}"


# -- the object matrix ----------------------------------------------------------------------------------------


async def test_no_key_reaches_another_owners_object(client, db, tenant_b):
    seeded = await seed_api_resources(db)
    ids = seeded.ids
    ring = await key_ring(db, seeded.tenant, tenant_b)
    ops = [op for op in await operations(client) if op.params]
    assert all(set(op.params) <= set(ids) for op in ops), "see test_every_path_parameter_has_a_resource…"
    failures: list[str] = []
    calls = 0

    # The objects are real: each owner reaches every one of them (a 409 is an answer about the object's state).
    for op in ops:
        if op.method == "GET":
            owner = next(c for c in ring.callers if c.owns(op))
            r = await client.get(op.url(ids), headers=headers(owner, "GET"))
            calls += 1
            if r.status_code not in (200, 409):
                failures.append(f"{op} by its owner {owner.label}: {r.status_code} {r.text[:200]}")
    assert not failures, "the matrix would probe objects that are not there:\n" + "\n".join(failures)

    before = await snapshot(db)
    for op in ops:
        body = op.body(ids)
        # The body is valid: the owner on an id that names nothing gets 404, not 422.
        owner = next(c for c in ring.callers if c.owns(op))
        missing = op.url({p: fake_id(ids[p]) for p in op.params})
        r = await client.request(op.method, missing, headers=headers(owner, op.method), json=body)
        calls += 1
        if r.status_code != 404:
            failures.append(f"{op} by {owner.label} on a missing id: {r.status_code} {r.text[:200]}")
        for caller in ring.callers:
            if caller.owns(op):
                continue
            r = await client.request(op.method, op.url(ids), headers=headers(caller, op.method), json=body)
            calls += 1
            if r.status_code != (expected := caller.expected(op)):
                failures.append(f"{op} by {caller.label}: {r.status_code} (expected {expected}) {r.text[:200]}")
        if op.method != "GET":
            after = await snapshot(db)
            if changed := changed_tables(before, after):
                failures.append(f"{op}: the refused calls changed {changed}")
            before = after
    assert not failures, f"{len(failures)} failures in {calls} calls:\n" + "\n".join(failures)
    print(f"isolation matrix: {len(ops)} operations x {len(ring.callers)} keys, {calls} calls")


# -- lists, searches and exports ------------------------------------------------------------------------------

TODAY = dt.datetime.now(clock.JST).date()  # the business day is JST (the entries are dated by it)
DATE_RANGES = [  # at most 366 days each: this year's objects, and last year's platform invoice
    {"from": (TODAY - dt.timedelta(days=365)).isoformat(), "to": TODAY.isoformat()},
    {"from": f"{TODAY.year - 1}-01-01", "to": f"{TODAY.year - 1}-12-31"},
]
REPORTS = ["invoices", "invoice-lines", "usage", "credit-notes"]  # the billing reports an operator may export
# What tenant A's own keys find through the lists (a payout file has no list; plans and subscriptions are the
# platform's; merchant order ids are the same in both tenants).
LISTED = {
    "billing_invoice_id",
    "credit_note_id",
    "endpoint_id",
    "entry_id",
    "event_id",
    "external_id",
    "file_id",
    "invoice_id",
    "key_id",
    "list_entry_id",
    "merchant_id",
    "operator_id",
    "order_id",
    "payment_id",
    "screening_id",
    "settlement_id",
}
VOLATILE = re.compile(
    rb"req_[0-9a-f]{16}"  # request ids
    rb"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?"  # generation timestamps
)


def query_variants(op: Operation, filters: Ids) -> Iterator[dict[str, str]]:
    """Plain, and with every filter that names an object (``merchant_id``, ``file_id``…) set from ``filters``."""
    base: list[dict[str, str]] = [{}]
    if {"from", "to"} <= set(op.query):
        base = DATE_RANGES
    if "report" in op.query:
        base = [b | {"report": report} for b in base for report in REPORTS]
    named = {name: filters[name] for name in op.query if name in filters}
    for query in base:
        yield query
        if named:
            yield query | named


def list_operations(ops: list[Operation]) -> list[Operation]:
    return [op for op in ops if op.method == "GET" and not op.params and op.path not in PUBLIC]


Seen = dict[tuple[str, str, str], tuple[int, bytes]]


async def observe(client: Any, callers: list[Caller], ops: list[Operation], filters: Ids) -> Seen:
    """What each of ``callers`` that does not own tenant A's objects sees of every list, in every variant."""
    seen: Seen = {}
    for op in ops:
        for caller in callers:
            if caller.tenant is None or caller.owns(op):
                continue
            for query in query_variants(op, filters):
                r = await client.get(op.path, params=query, headers=headers(caller, "GET"))
                seen[(str(op), caller.label, repr(sorted(query.items())))] = (r.status_code, r.content)
    return seen


async def test_lists_show_no_row_of_another_owner(client, db):
    theirs = await seed_api_resources(db)  # B: the same references as A (merchant order ids, payment refs)
    b_callers = [
        Caller("B.operator_admin", Role.OPERATOR_ADMIN, "B", None, theirs.tenant.admin_key),
        Caller("B.operator_finance", Role.OPERATOR_FINANCE, "B", None, theirs.tenant.finance_key),
        Caller("B.merchant", Role.MERCHANT, "B", 1, theirs.tenant.merchant_key),
    ]
    ops = list_operations(await operations(client))
    before = await observe(client, b_callers, ops, {})  # before tenant A exists
    seeded = await seed_api_resources(db)
    mine = seeded.ids
    ring = await key_ring(db, seeded.tenant, theirs.tenant)
    after = await observe(client, b_callers, ops, {})
    filtered = await observe(client, ring.callers, ops, mine)  # B's keys, A's second merchant, A's other roles

    canaries = {value for name, value in mine.items() if value != theirs.ids.get(name)}
    canaries.add(ring.sibling_merchant_id)
    failures = []
    for key, (status, content) in {**after, **filtered}.items():
        op = next(o for o in ops if str(o) == key[0])
        caller = ring.of(key[1])
        expected = 200 if caller.role in (op.roles or ()) else 403
        if status != expected:
            failures.append(f"{key}: {status} (expected {expected}) {content[:200]!r}")
            continue
        # Tenant A's second merchant may see its own merchant and operator; nothing else of A.
        own = {ring.sibling_merchant_id, mine["operator_id"]} if caller.tenant == "A" else set()
        if leaked := sorted(c for c in canaries - own if c.encode() in content):
            failures.append(f"{key}: shows tenant A's {leaked}")
    for key, (status, content) in after.items():
        if (status, VOLATILE.sub(b"~", content)) != (before[key][0], VOLATILE.sub(b"~", before[key][1])):
            failures.append(f"{key}: changed when tenant A's objects were made: {content[:300]!r}")
    assert not failures, "\n".join(failures)

    # Not vacuous: the owners' own keys do find A's objects through the same lists.
    found: set[str] = set()
    for op in ops:
        for caller in (c for c in ring.callers if c.tenant == "A" and c.owns(op)):
            for query in query_variants(op, mine):
                content = (await client.get(op.path, params=query, headers=headers(caller, "GET"))).content
                found |= {name for name, value in mine.items() if value in canaries and value.encode() in content}
    assert found >= LISTED, f"the owners do not find {LISTED - found} in any list: the check above proves nothing"
    print(f"lists: {len(ops)} operations, {len(before) + len(after) + len(filtered)} calls by non-owners")
