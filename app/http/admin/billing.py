"""Admin API: the operator's own invoices from the platform (our fees: monthly plan plus screenings beyond it)."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency

from app.auth import require_roles
from app.http.platform.billing import CreditNoteId, InvoiceId, MonthQ, StatusQ, parse_month
from app.http.responses import LIST, READ
from app.http.schemas.billing import CreditNoteOut, PlatformInvoiceOut
from app.http.schemas.common import CreatedGte, CreatedLt, Limit, ListOf, StartingAfter, page_request
from app.uow import Database
from billing import service
from domain.kit.tenancy import Principal, Role


class OperatorBillingController(Controller):
    path = "/billing"
    tags = ["admin", "billing"]
    guards = [require_roles(Role.OPERATOR_ADMIN, Role.OPERATOR_FINANCE)]

    @get("/invoices", operation_id="ListOwnPlatformInvoices", summary="The platform's invoices to you", responses=LIST)
    async def list_invoices(
        self,
        db: NamedDependency[Database],
        principal: NamedDependency[Principal],
        status: StatusQ = None,
        month: MonthQ = None,
        limit: Limit = 20,
        starting_after: StartingAfter = None,
        created_gte: CreatedGte = None,
        created_lt: CreatedLt = None,
    ) -> ListOf[PlatformInvoiceOut]:
        async with db.read() as session:
            page, views = await service.list_invoices(
                session,
                principal,
                page_request(limit, starting_after, created_gte, created_lt),
                status=status,
                service_month=parse_month(month) if month else None,
            )
        by_id = {v.invoice.id: v for v in views}
        return ListOf[PlatformInvoiceOut].of(page, lambda i: PlatformInvoiceOut.of(by_id[i.id], with_lines=False))

    @get(
        "/invoices/{billing_invoice_id:str}",
        operation_id="GetOwnPlatformInvoice",
        summary="One of the platform's invoices to you, with lines and tax per rate",
        responses=READ,
    )
    async def get_invoice(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal], billing_invoice_id: InvoiceId
    ) -> PlatformInvoiceOut:
        async with db.read() as session:
            return PlatformInvoiceOut.of(await service.invoice_view(session, principal, billing_invoice_id))

    @get(
        "/credit-notes/{credit_note_id:str}",
        operation_id="GetOwnCreditNote",
        summary="A credit note (適格返還請求書) the platform issued to you",
        responses=READ,
    )
    async def get_credit_note(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal], credit_note_id: CreditNoteId
    ) -> CreditNoteOut:
        async with db.read() as session:
            return CreditNoteOut.of(await service.get_credit_note(session, principal, credit_note_id))
