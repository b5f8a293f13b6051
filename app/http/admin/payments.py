"""Admin API: payments received, payment files, the manual queue, and dunning holds on invoices."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, get, patch, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import require_roles
from app.http.responses import LIST, READ, WRITE
from app.http.schemas.common import (
    ID_PATTERN,
    TEXT_PATTERN,
    CreatedGte,
    CreatedLt,
    Limit,
    ListOf,
    StartingAfter,
    page_request,
)
from app.http.schemas.orders import InvoiceOut
from app.http.schemas.payments import (
    InvoiceHoldIn,
    MatchIn,
    PairIn,
    PaymentFileOut,
    PaymentIn,
    PaymentOut,
    PaymentStatus,
    ResolveIn,
)
from app.idempotency import Idempotency
from app.uow import Database
from domain.collections import service
from domain.collections.formats import IncomingPayment
from domain.kit.tenancy import Principal, Role

PaymentId = Annotated[str, Parameter(title="Payment id", description="A payment's id (pay_…).", pattern=ID_PATTERN)]
FileId = Annotated[
    str, Parameter(title="Payment file id", description="A payment file's id (pf_…).", pattern=ID_PATTERN)
]
InvoiceId = Annotated[str, Parameter(title="Invoice id", description="An invoice's id (inv_…).", pattern=ID_PATTERN)]
StatusQ = Annotated[PaymentStatus | None, QueryParameter(title="Status", description="Only payments in this status.")]
FileQ = Annotated[
    str | None,
    QueryParameter(title="File", description="Only this file's payments.", max_length=40, pattern=ID_PATTERN),
]
InvoiceQ = Annotated[
    str | None,
    QueryParameter(
        title="Invoice", description="Only payments applied to this invoice.", max_length=40, pattern=ID_PATTERN
    ),
]
HeldQ = Annotated[
    bool,
    QueryParameter(title="Manual queue", description="Only payments holding money (suspense, owed back)."),
]
FilenameQ = Annotated[
    str,
    QueryParameter(
        title="File name",
        description="The file's name, for people reading the list.",
        max_length=200,
        pattern=TEXT_PATTERN,
    ),
]

ROLES = (Role.OPERATOR_ADMIN, Role.OPERATOR_FINANCE)


class PaymentController(Controller):
    path = "/payments"
    tags = ["admin", "collections"]
    guards = [require_roles(*ROLES)]

    @post(
        operation_id="RecordPayment",
        summary="Record one payment notification (payment agent or bank API push) and reconcile it now",
        responses=WRITE,
        status_code=201,
    )
    async def record(
        self,
        data: JSONBody[PaymentIn],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
    ) -> Response[PaymentOut]:
        """The same ``external_id`` again answers the payment as recorded (a different amount or key for a used
        ``external_id`` is a 409): a notification pushed twice is applied once."""

        async def op(session: AsyncSession) -> PaymentOut:
            incoming = IncomingPayment(line_no=0, **data.model_dump())
            payment, _ = await service.record_payment(session, principal, incoming)
            return PaymentOut.of(payment)

        return await idempotency.run(op, status_code=201)

    @get(operation_id="ListPayments", summary="Payments, newest first", responses=LIST)
    async def list_payments(
        self,
        db: NamedDependency[Database],
        principal: NamedDependency[Principal],
        status: StatusQ = None,
        file_id: FileQ = None,
        invoice_id: InvoiceQ = None,
        held: HeldQ = False,
        limit: Limit = 20,
        starting_after: StartingAfter = None,
        created_gte: CreatedGte = None,
        created_lt: CreatedLt = None,
    ) -> ListOf[PaymentOut]:
        page_req = page_request(limit, starting_after, created_gte, created_lt)
        async with db.read() as session:
            page = await service.list_payments(
                session, principal, page_req, status=status, file_id=file_id, invoice_id=invoice_id, held=held
            )
        return ListOf[PaymentOut].of(page, PaymentOut.of)

    @get("/{payment_id:str}", operation_id="GetPayment", summary="A payment and how it was reconciled", responses=READ)
    async def get_payment(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal], payment_id: PaymentId
    ) -> PaymentOut:
        async with db.read() as session:
            return PaymentOut.of(await service.get_payment(session, principal, payment_id))

    @post(
        "/{payment_id:str}/match",
        operation_id="MatchPayment",
        summary="Apply a payment held in suspense to an invoice (manual queue)",
        responses=WRITE,
        status_code=200,
    )
    async def match(
        self,
        data: JSONBody[MatchIn],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        payment_id: PaymentId,
    ) -> Response[PaymentOut]:
        async def op(session: AsyncSession) -> PaymentOut:
            return PaymentOut.of(
                await service.match_manually(session, principal, payment_id, data.invoice_id, data.note)
            )

        return await idempotency.run(op)

    @post(
        "/{payment_id:str}/pair",
        operation_id="PairReversal",
        summary="Pair a bank reversal that matched nothing with the payment it reverses (manual queue)",
        responses=WRITE,
        status_code=200,
    )
    async def pair(
        self,
        data: JSONBody[PairIn],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        payment_id: PaymentId,
    ) -> Response[PaymentOut]:
        """``payment_id`` in the path is the reversal; the body names the payment it reverses (same amount and
        channel). The payment is undone and the suspense the reversal left comes back to zero."""

        async def op(session: AsyncSession) -> PaymentOut:
            return PaymentOut.of(
                await service.pair_reversal(session, principal, payment_id, data.payment_id, data.note)
            )

        return await idempotency.run(op)

    @post(
        "/{payment_id:str}/refund",
        operation_id="RefundPayment",
        summary="Pay a held amount (suspense or overpayment) back to the payer",
        responses=WRITE,
        status_code=200,
    )
    async def refund(
        self,
        data: JSONBody[ResolveIn],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        payment_id: PaymentId,
    ) -> Response[PaymentOut]:
        async def op(session: AsyncSession) -> PaymentOut:
            return PaymentOut.of(await service.refund(session, principal, payment_id, data.note))

        return await idempotency.run(op)

    @post(
        "/{payment_id:str}/write-off",
        operation_id="WritePaymentToIncome",
        summary="Take a held amount to income (雑収入)",
        responses=WRITE,
        status_code=200,
    )
    async def write_off(
        self,
        data: JSONBody[ResolveIn],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        payment_id: PaymentId,
    ) -> Response[PaymentOut]:
        async def op(session: AsyncSession) -> PaymentOut:
            return PaymentOut.of(await service.write_to_income(session, principal, payment_id, data.note))

        return await idempotency.run(op)


class PaymentFileController(Controller):
    path = "/payment-files"
    tags = ["admin", "collections"]
    guards = [require_roles(*ROLES)]

    @post(
        operation_id="ImportPaymentFile",
        summary="Import a Zengin 振込入金通知 / 入出金取引明細 file or a convenience-store CSV; all or nothing",
        responses=WRITE,
        status_code=202,
        request_max_body_size=service.MAX_FILE_BYTES,
        opt={"content_types": ("application/octet-stream", "text/csv", "text/plain")},
    )
    async def import_file(
        self,
        request: Request[object, object, object],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        filename: FilenameQ = "",
    ) -> Response[PaymentFileOut]:
        """Send the file's bytes as the body. The format is detected (docs/payment-files.md). A malformed file is
        rejected whole with a 422 whose errors[] name each bad line; nothing is imported. The same bytes again
        answer the first import. Reconciliation runs in the background: poll the file until ``reconciled``."""
        body = await request.body()

        async def op(session: AsyncSession) -> PaymentFileOut:
            record, _ = await service.import_file(session, principal, body, filename)
            return PaymentFileOut.of(record)

        return await idempotency.run(op, status_code=202)

    @get(operation_id="ListPaymentFiles", summary="Imported payment files, newest first", responses=LIST)
    async def list_files(
        self,
        db: NamedDependency[Database],
        principal: NamedDependency[Principal],
        limit: Limit = 20,
        starting_after: StartingAfter = None,
        created_gte: CreatedGte = None,
        created_lt: CreatedLt = None,
    ) -> ListOf[PaymentFileOut]:
        page_req = page_request(limit, starting_after, created_gte, created_lt)
        async with db.read() as session:
            page = await service.list_files(session, principal, page_req)
        return ListOf[PaymentFileOut].of(page, PaymentFileOut.of)

    @get("/{file_id:str}", operation_id="GetPaymentFile", summary="A payment file and its outcome", responses=READ)
    async def get_file(
        self, db: NamedDependency[Database], principal: NamedDependency[Principal], file_id: FileId
    ) -> PaymentFileOut:
        async with db.read() as session:
            return PaymentFileOut.of(await service.get_file(session, principal, file_id))


class InvoiceHoldController(Controller):
    path = "/invoices"
    tags = ["admin", "collections"]
    guards = [require_roles(Role.OPERATOR_ADMIN)]

    @patch(
        "/{invoice_id:str}/hold",
        operation_id="SetInvoiceHold",
        summary="Hold or resume dunning of an invoice (dispute, promise to pay)",
        responses=WRITE,
        status_code=200,
    )
    async def set_hold(
        self,
        data: JSONBody[InvoiceHoldIn],
        principal: NamedDependency[Principal],
        idempotency: NamedDependency[Idempotency],
        invoice_id: InvoiceId,
    ) -> Response[InvoiceOut]:
        async def op(session: AsyncSession) -> InvoiceOut:
            invoice = await service.set_hold(
                session,
                principal,
                invoice_id,
                dispute_hold=data.dispute_hold,
                promise_to_pay_date=data.promise_to_pay_date,
                clear_promise=data.clear_promise,
            )
            return InvoiceOut.of(invoice)

        return await idempotency.run(op)
