"""Admin API: the review queue, screenings, lists, external address data, policy, negative database."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import require_roles
from app.http.responses import LIST, READ, WRITE
from app.http.schemas.common import ID_PATTERN, CreatedGte, CreatedLt, Limit, ListOf, StartingAfter, page_request
from app.http.schemas.fraud import (
    ExternalAddressIn,
    ExternalAddressOut,
    ImportResultOut,
    ListEntryIn,
    ListEntryOut,
    NegativeIn,
    NegativeOut,
    PolicyIn,
    PolicyOut,
    ReviewDecisionIn,
    ScreeningOut,
)
from app.idempotency import Idempotency
from app.settings import Settings
from app.uow import Database
from domain.checkout import service as checkout
from domain.kit.tenancy import Principal, Role
from fraud import service
from fraud.policy import default_policy
from fraud.types import IdKind

ScreeningId = Annotated[
    str, Parameter(title="Screening id", description="A screening's id (scr_…).", pattern=ID_PATTERN)
]
ListEntryId = Annotated[
    str, Parameter(title="List entry id", description="A list entry's id (lst_…).", pattern=ID_PATTERN)
]
ExternalId = Annotated[
    str,
    Parameter(title="External address id", description="An external address entry's id (ext_…).", pattern=ID_PATTERN),
]
Status = Annotated[
    Literal["decided", "in_review", "approved", "rejected", "expired", "withdrawn"] | None,
    QueryParameter(title="Status", description="Only screenings in this status (in_review: the review queue)."),
]
VerdictQ = Annotated[
    Literal["OK", "REVIEW", "NG"] | None,
    QueryParameter(title="Verdict", description="Only screenings with this engine verdict."),
]
ListName = Annotated[
    Literal["allow", "block"] | None,
    QueryParameter(title="List", description="Only entries of this list.", name="list"),
]


class ScreeningAdminController(Controller):
    path = "/screenings"
    tags = ["admin"]
    guards = [require_roles(Role.OPERATOR_ADMIN)]

    @get(
        operation_id="ListScreenings",
        summary="Screenings, newest first; status=in_review is the review queue",
        responses=LIST,
    )
    async def list_screenings(
        self,
        db: NamedDependency[Database],
        principal: NamedDependency[Principal],
        status: Status = None,
        verdict: VerdictQ = None,
        limit: Limit = 20,
        starting_after: StartingAfter = None,
        created_gte: CreatedGte = None,
        created_lt: CreatedLt = None,
    ) -> ListOf[ScreeningOut]:
        page_req = page_request(limit, starting_after, created_gte, created_lt)
        async with db.read() as session:
            page = await service.list_screenings(session, principal, page_req, status=status, verdict=verdict)
        return ListOf[ScreeningOut].of(page, ScreeningOut.of)

    @get(
        "/{screening_id:str}",
        operation_id="GetScreeningDetail",
        summary="A screening with its full reasons",
        responses=READ,
    )
    async def get_screening(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal], screening_id: ScreeningId
    ) -> ScreeningOut:
        async with db.read() as session:
            return ScreeningOut.of(await service.get_screening(session, principal, screening_id))

    @post(
        "/{screening_id:str}/approve",
        operation_id="ApproveScreening",
        summary="Approve a REVIEW screening",
        responses=WRITE,
        status_code=200,
    )
    async def approve(
        self,
        data: JSONBody[ReviewDecisionIn],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        screening_id: ScreeningId,
    ) -> Response[ScreeningOut]:
        async def op(session: AsyncSession) -> ScreeningOut:
            screening = await service.decide_review(session, principal, screening_id, approve=True, note=data.note)
            await checkout.after_screening_review(session, principal, screening_id, approve=True)
            return ScreeningOut.of(screening)

        return await idempotency.run(op)

    @post(
        "/{screening_id:str}/reject",
        operation_id="RejectScreening",
        summary="Reject a REVIEW screening as fraud (its identifiers join the shared negative database)",
        responses=WRITE,
        status_code=200,
    )
    async def reject(
        self,
        data: JSONBody[ReviewDecisionIn],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        screening_id: ScreeningId,
    ) -> Response[ScreeningOut]:
        async def op(session: AsyncSession) -> ScreeningOut:
            screening = await service.decide_review(session, principal, screening_id, approve=False, note=data.note)
            await checkout.after_screening_review(session, principal, screening_id, approve=False)
            return ScreeningOut.of(screening)

        return await idempotency.run(op)


class FraudListController(Controller):
    path = "/fraud/lists"
    tags = ["admin"]
    guards = [require_roles(Role.OPERATOR_ADMIN)]

    @get(operation_id="ListFraudListEntries", summary="Allow- and block-list entries, newest first", responses=LIST)
    async def list_entries(
        self,
        db: NamedDependency[Database],
        principal: NamedDependency[Principal],
        list_name: ListName = None,
        limit: Limit = 20,
        starting_after: StartingAfter = None,
        created_gte: CreatedGte = None,
        created_lt: CreatedLt = None,
    ) -> ListOf[ListEntryOut]:
        page_req = page_request(limit, starting_after, created_gte, created_lt)
        async with db.read() as session:
            page = await service.list_entries(session, principal, page_req, list_name)
        return ListOf[ListEntryOut].of(page, ListEntryOut.of)

    @post(
        operation_id="CreateFraudListEntry",
        summary="Add an identifier to the allow or block list",
        responses=WRITE,
        status_code=201,
    )
    async def add_entry(
        self,
        data: JSONBody[ListEntryIn],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        settings: NamedDependency[Settings],
    ) -> Response[ListEntryOut]:
        async def op(session: AsyncSession) -> ListEntryOut:
            entry = await service.add_list_entry(
                session,
                principal,
                list_name=data.list,
                kind=IdKind(data.kind),
                value=data.value,
                note=data.note,
                secret=settings.secret_key,
            )
            return ListEntryOut.of(entry)

        return await idempotency.run(op, status_code=201)

    @post(
        "/import",
        operation_id="ImportFraudListEntries",
        status_code=200,
        responses=WRITE,
        summary="Bulk import list entries from CSV (list,kind,value[,note]); all or nothing",
        opt={"content_types": ("text/csv", "text/plain")},
    )
    async def import_entries(
        self,
        request: Request[object, object, object],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        settings: NamedDependency[Settings],
    ) -> Response[ImportResultOut]:
        """Send the CSV as the body with Content-Type text/csv (UTF-8). A bad line rejects the whole file and the
        problem's errors[] name each bad line (pointer line:N)."""
        text = (await request.body()).decode("utf-8-sig", errors="strict")

        async def op(session: AsyncSession) -> ImportResultOut:
            result = await service.import_list(session, principal, text, secret=settings.secret_key)
            return ImportResultOut(added=result.added, unchanged=result.unchanged)

        return await idempotency.run(op)

    @delete(
        "/{list_entry_id:str}",
        operation_id="DeleteFraudListEntry",
        summary="Remove a list entry",
        responses=READ,
        status_code=200,
    )
    async def remove_entry(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal], list_entry_id: ListEntryId
    ) -> ListEntryOut:
        async with db.transaction() as session:
            return ListEntryOut.of(await service.remove_list_entry(session, principal, list_entry_id))


class ExternalAddressController(Controller):
    path = "/fraud/external-addresses"
    tags = ["admin"]
    guards = [require_roles(Role.OPERATOR_ADMIN)]

    @get(
        operation_id="ListExternalAddresses",
        summary="The operator's additions to the external address data",
        responses=LIST,
    )
    async def list_external(
        self,
        db: NamedDependency[Database],
        principal: NamedDependency[Principal],
        limit: Limit = 20,
        starting_after: StartingAfter = None,
        created_gte: CreatedGte = None,
        created_lt: CreatedLt = None,
    ) -> ListOf[ExternalAddressOut]:
        page_req = page_request(limit, starting_after, created_gte, created_lt)
        async with db.read() as session:
            page = await service.list_external_addresses(session, principal, page_req)
        return ListOf[ExternalAddressOut].of(page, ExternalAddressOut.of)

    @post(
        operation_id="CreateExternalAddress",
        summary="Add a hotel, weekly mansion, vacant, PO box or forwarding address",
        responses=WRITE,
        status_code=201,
    )
    async def add_external(
        self,
        data: JSONBody[ExternalAddressIn],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
    ) -> Response[ExternalAddressOut]:
        async def op(session: AsyncSession) -> ExternalAddressOut:
            entry = await service.add_external_address(
                session, principal, category=data.category, address=data.address, label=data.label
            )
            return ExternalAddressOut.of(entry)

        return await idempotency.run(op, status_code=201)

    @delete(
        "/{external_id:str}",
        operation_id="DeleteExternalAddress",
        summary="Remove an external address entry",
        responses=READ,
        status_code=200,
    )
    async def remove_external(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal], external_id: ExternalId
    ) -> ExternalAddressOut:
        async with db.transaction() as session:
            return ExternalAddressOut.of(await service.remove_external_address(session, principal, external_id))


class FraudPolicyController(Controller):
    path = "/fraud/policy"
    tags = ["admin"]
    guards = [require_roles(Role.OPERATOR_ADMIN)]

    @get(operation_id="GetFraudPolicy", summary="The active screening policy", responses=READ)
    async def get_policy(self, db: NamedDependency[Database], principal: NamedDependency[Principal]) -> PolicyOut:
        async with db.read() as session:
            latest = await service.latest_policy_version(session, principal.require_tenant())
        if latest is not None:
            return PolicyOut.of(latest)
        policy = default_policy()
        return PolicyOut(
            version=policy.version,
            policy=policy.model_dump(mode="json", exclude={"version"}),
            note="shipped default",
            created_at=None,
        )

    @put(
        operation_id="UpdateFraudPolicy",
        summary="Replace the policy (a new version; invalid ones are rejected)",
        responses=WRITE,
        status_code=200,
    )
    async def update_policy(
        self, data: JSONBody[PolicyIn], principal: NamedDependency[Principal], idempotency: NamedDependency[Idempotency]
    ) -> Response[PolicyOut]:
        async def op(session: AsyncSession) -> PolicyOut:
            return PolicyOut.of(await service.update_policy(session, principal, data.policy, data.note))

        return await idempotency.run(op)

    @get(
        "/versions",
        operation_id="ListFraudPolicyVersions",
        summary="Every version of the policy, newest first",
        responses=LIST,
    )
    async def versions(self, db: NamedDependency[Database], principal: NamedDependency[Principal]) -> list[PolicyOut]:
        async with db.read() as session:
            return [PolicyOut.of(v) for v in await service.policy_versions(session, principal)]


class NegativeController(Controller):
    path = "/fraud/negative-entries"
    tags = ["admin"]
    guards = [require_roles(Role.OPERATOR_ADMIN)]

    @post(
        operation_id="RegisterNegativeEntry",
        summary="Register a confirmed-fraud identifier in the shared negative database",
        responses=WRITE,
        status_code=201,
    )
    async def register(
        self,
        data: JSONBody[NegativeIn],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        settings: NamedDependency[Settings],
    ) -> Response[NegativeOut]:
        """Every tenant's screenings will match it; no tenant can see it or learn who registered it."""

        async def op(session: AsyncSession) -> NegativeOut:
            masked = await service.register_negative(
                session, principal, kind=IdKind(data.kind), value=data.value, secret=settings.secret_key
            )
            return NegativeOut(kind=data.kind, masked=masked)

        return await idempotency.run(op, status_code=201)
