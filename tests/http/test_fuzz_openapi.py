"""The served OpenAPI schema, fuzzed: every operation, with a key of each role it accepts, answers as documented.

Schemathesis loads ``/schema/openapi.json`` from the app (``from_asgi``) and makes one test per operation. Each
generated request is sent once per role whose key the operation's guards accept (an operation without a key in
its ``security`` is sent without one), and every answer must pass:

* ``not_a_server_error``: no 5xx;
* ``status_code_conformance``, ``content_type_conformance``, ``response_schema_conformance``: the status, the
  media type and the body are the documented ones;
* ``negative_data_rejection``: a request that breaks the schema (a wrong type, an unknown field, a value out of its
  bounds or pattern) is refused with a 4xx.

Phases: the schema's own examples, the coverage phase (each bound, type, pattern and required field, one at a time;
unexpected methods) and ``MAX_EXAMPLES`` random cases per operation. The run is derandomized with a fixed seed, so a
failure comes back on the next run, with the curl command that reproduces it.

Data: one tenant with a resource of every kind is committed once per module (and truncated after it); each test
runs in its own rolled-back transaction, so nothing a request writes reaches another test. Positive cases name
those resources (a path parameter, query parameter or body field called ``order_id`` gets the order's id…), so
the success answers are checked too, not only 404s; negative cases keep their generated values.

Not run, and why:
* ``positive_data_acceptance``: rules JSON Schema cannot state are 422s by design (an order's amount equals the sum
  of its lines; a registration number's check digit; strict integers refuse ``12.0``, which JSON Schema counts as
  an integer).
* ``ignored_auth``: authentication is tested in ``test_auth.py``; here every request carries a valid key, and the
  failed-authentication limit per client address would turn probes with bad keys into 429s across tests.
* The stateful phase: the schema declares no links, and each operation is its own test in its own transaction.
No operation is left out.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from litestar.routes import HTTPRoute
from schemathesis import GenerationMode
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.asgi import create_app
from app.auth import RoleGuard
from app.core import ApplicationCore
from app.db import create_sessionmaker
from app.settings import get_settings
from app.uow import Database
from domain.kit.tenancy import Role
from tests.fixtures.database import truncate_all
from tests.fixtures.factories import bearer
from tests.fixtures.resources import ApiResources, seed_api_resources

# The budget: random cases per operation, on top of the schema's examples and the coverage phase's. A run makes
# about 6,700 cases (5,500 of them coverage cases), 8,800 requests with the roles: about a minute per tier with
# ``-n 2`` on a 2-core machine.
MAX_EXAMPLES = 10
SEED = 20261125

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "generation": {
            "mode": "all",  # positive and negative cases
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",  # no example database: the same cases on every machine
            "with-security-parameters": False,  # each role's key is sent by the test
        },
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": False},
        },
        "checks": {
            "enabled": False,
            "not_a_server_error": {"enabled": True},
            "status_code_conformance": {"enabled": True},
            "content_type_conformance": {"enabled": True},
            "response_schema_conformance": {"enabled": True},
            "negative_data_rejection": {"enabled": True},
        },
        "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
        # The reproducing curl shows the key: its prefix (sk_mch_, sk_admin_…) names the role that was refused. The
        # keys are the test's own and die with its database.
        "output": {"sanitization": {"enabled": False}},
    }
)

# One app for the module: building one costs about a second. Its own database is never used: ``served`` points it
# at each test's transaction. Rate limits are off: every test of a worker sends with the same keys.
_UNBOUND = Database(async_sessionmaker())
APP = create_app(get_settings().model_copy(update={"rate_limit_per_minute": 0}), db=_UNBOUND, run_background=False)
schema = schemathesis.openapi.from_asgi("/schema/openapi.json", APP, config=CONFIG)

_PATH_PARAMETER = re.compile(r"{(\w+):\w+}")
# The ids of the module's resources, by parameter name, while they exist (read by the ``map_case`` hook).
SEEDED: dict[str, str] = {}


def _roles_by_operation() -> dict[tuple[str, str], frozenset[Role]]:
    """(method, OpenAPI path) -> the roles every guard of its handler lets through."""
    roles = {}
    for route in APP.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            allowed = frozenset(Role)
            for guard in handler.resolve_guards():
                if isinstance(guard, RoleGuard):
                    allowed &= guard.roles
            for method in handler.http_methods:
                roles[(method, _PATH_PARAMETER.sub(r"{\1}", route.path))] = allowed
    return roles


ROLES = _roles_by_operation()


@schema.hook
def map_case(context: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
    """A positive case names the seeded resources wherever a parameter or top-level body field is called like one."""
    if not SEEDED or case.meta is None or case.meta.generation.mode is not GenerationMode.POSITIVE:
        return case
    for values in (case.path_parameters, case.query, case.body):
        if isinstance(values, dict):
            for name in values.keys() & SEEDED.keys():
                values[name] = SEEDED[name]
    return case


@pytest.fixture(scope="module")
async def resources(engine) -> AsyncIterator[ApiResources]:
    try:
        seeded = await seed_api_resources(Database(create_sessionmaker(engine), engine))
        SEEDED.update(seeded.ids)
        yield seeded
    finally:
        SEEDED.clear()
        await truncate_all(engine)


@pytest.fixture
def served(db: Database, resources: ApiResources) -> Iterator[ApiResources]:
    """The module's app on this test's transaction. Schemathesis starts the app's lifespan at a test's first request
    and ends it with the test; the lifespan publishes ``ApplicationCore.db`` as ``app.state.db``: both are set."""
    core = APP.plugins.get(ApplicationCore)
    core.db = APP.state.db = db
    try:
        yield resources
    finally:
        core.db = APP.state.db = _UNBOUND


def test_every_operation_is_fuzzed_with_a_key():
    """Each operation of the schema is public (``security: []``) or accepts a key of at least one role."""
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.definition.raw.get("security") != []:
            assert ROLES[(operation.method.upper(), operation.path)], operation.label


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # one transaction per operation, by design
def test_operation(case: schemathesis.Case, served: ApiResources) -> None:
    operation = case.operation
    if operation.definition.raw.get("security") == []:
        case.call_and_validate()
        return
    for role in sorted(ROLES[(operation.method.upper(), operation.path)]):
        case.call_and_validate(headers=bearer(served.keys[role]))


class TestNulCharacters:
    """PostgreSQL refuses a NUL in text, so none reaches a query: a NUL anywhere in a request is a 422 naming where."""

    async def test_in_a_body_field_at_any_depth(self, client, tenant_a):
        order = {
            "merchant_order_id": "NUL-1",
            "amount": 1000,
            "currency": "JPY",
            "items": [{"ref": "SKU-1", "name": "緑茶", "unit_price": 1000, "quantity": 1, "tax_rate": 8}],
            "buyer": {"name": "山田\x00太郎", "address": "東京都港区赤坂4-3-2", "email": "taro@example.jp"},
        }
        r = await client.post("/v1/orders", headers=bearer(tenant_a.merchant_key), json=order)
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["pointer"] == "#/buyer/name"

    async def test_in_an_id_in_the_path(self, client, tenant_a):
        r = await client.get("/v1/orders/ord_%00", headers=bearer(tenant_a.merchant_key))
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["pointer"] == "path:order_id"

    @pytest.mark.parametrize("query", ["merchant_order_id=a%00", "merchant_id=mch_%00"])
    async def test_in_a_filter(self, client, tenant_a, query):
        r = await client.get(f"/admin/v1/orders?{query}", headers=bearer(tenant_a.admin_key))
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["pointer"] == f"query:{query.split('=')[0]}"
