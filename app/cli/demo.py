"""``bnpl demo``: a demo operator, two merchants, their keys (printed once) and orders in every state.

The orders are made the way an integration makes them: through the checkout services (``domain.checkout.service``)
with a merchant principal, and the operator's actions (arrival confirmation, review approval) with an admin
principal. Nothing is written behind the services' backs, so every order has its screening, consumer, invoices,
audit trail and ledger entries, and the ledger balances.

* **Demo Shop** is a live merchant with realistic buyers: what a week of business looks like (authorized, changed,
  cancelled, declined on credit, shipped in one or several parcels, released, refunded, arrival confirmed).
* **Demo Shop (test mode)** is a sandbox merchant: the documented buyer emails force the outcomes (``review@…``,
  ``ng@…``, ``credit-ng@…``), which a live merchant only gets from real fraud signals.

Two stories need time to pass: an authorization that expired (60 days) and a shipment whose arrival was never
confirmed (30 days). The demo runs each of them on the product's clock moved back (``_clock_moved_back``), then
runs the real jobs, ``expire_authorizations`` and ``lapse_guarantees``, at the real time. The jobs only touch what
is due now, so they do exactly what the scheduler would do, to any tenant. freezegun is a test dependency; the
shift here is one assignment of ``domain.kit.clock.utc_now``, the only clock of the product.

Idempotent: the operator (and the platform, admin and finance keys) is created once; each merchant is found by
name or created (its key printed once); a merchant's orders are made only while it has none. Everything runs in
one transaction.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import anyio
import click
from sqlalchemy.ext.asyncio import AsyncSession

from app.cli._common import load_settings, open_db, secho_secret
from domain.checkout import service as checkout
from domain.checkout.models import Order
from domain.checkout.schemas import (
    Buyer,
    CaptureRequest,
    Device,
    Item,
    LineQuantity,
    OrderChange,
    OrderRequest,
    RefundRequest,
)
from domain.collections import dunning
from domain.collections import service as collections
from domain.collections.formats import IncomingPayment
from domain.kit import clock
from domain.kit.pagination import PageRequest
from domain.kit.tenancy import Principal, Role
from domain.tenancy import service
from domain.tenancy.models import Merchant
from domain.tenancy.repository import OperatorRepository
from domain.tenancy.service import CLI_ACTOR, IssuedKey

DEMO_OPERATOR = "Demo BNPL"
DEMO_MERCHANT = "Demo Shop"
SANDBOX_MERCHANT = "Demo Shop (test mode)"
CONSUMER_FEE = 330  # 請求手数料 ¥300 + 10 % tax, a common figure (DOMAIN §4)
STATUSES = ("authorized", "in_review", "partially_captured", "captured", "declined", "cancelled", "expired")
GUARANTEES = ("pending", "guaranteed", "unguaranteed")


@click.command(
    help="Create the demo operator, merchants, keys and orders in every state if they do not exist (keys are "
    "printed once), then print the orders by status."
)
def demo() -> None:
    settings = load_settings()

    async def main() -> None:
        async with open_db(settings) as db, db.transaction() as session:
            operator = await OperatorRepository.from_session(session).find_by_name(DEMO_OPERATOR)
            issued: list[tuple[str, IssuedKey]] = []
            pepper = settings.secret_key
            if operator is None:
                operator = await service.create_operator(session, name=DEMO_OPERATOR)
                for label, role, name, tenant_id in (
                    ("platform key:", Role.PLATFORM, "demo platform", None),
                    ("platform finance key:", Role.PLATFORM_FINANCE, "demo platform finance", None),
                    ("operator admin key:", Role.OPERATOR_ADMIN, "demo admin", operator.id),
                    ("operator finance key:", Role.OPERATOR_FINANCE, "demo finance", operator.id),
                ):
                    key = await service.issue_key(
                        session, issuer=CLI_ACTOR, role=role, name=name, pepper=pepper, tenant_id=tenant_id
                    )
                    issued.append((label, key))
                click.echo(f"Demo operator {operator.id} ({DEMO_OPERATOR}).")
            else:
                click.echo(f"Demo operator {operator.id} ({DEMO_OPERATOR}) exists; its keys were printed when it was")
                click.echo("created. Issue more with: bnpl keys create --role … --operator opr_…")
            admin = Principal(api_key_id=CLI_ACTOR, role=Role.OPERATOR_ADMIN, tenant_id=operator.id)
            shops: list[tuple[Merchant, bool]] = []
            for name, label, test_mode in (
                (DEMO_MERCHANT, "merchant key:", False),
                (SANDBOX_MERCHANT, "sandbox merchant key:", True),
            ):
                merchant = await _find_merchant(session, admin, name)
                if merchant is None:
                    merchant = await service.create_merchant(
                        session, admin, name=name, consumer_fee=CONSUMER_FEE, test_mode=test_mode
                    )
                    key = await service.issue_key(
                        session,
                        issuer=CLI_ACTOR,
                        role=Role.MERCHANT,
                        name=f"demo checkout{' (test mode)' if test_mode else ''}",
                        pepper=pepper,
                        tenant_id=operator.id,
                        merchant_id=merchant.id,
                    )
                    issued.append((label, key))
                    click.echo(f"Demo merchant {merchant.id} ({name}).")
                shops.append((merchant, await _has_orders(session, admin, merchant.id)))
            live, sandbox = (_Shop(session, admin, m, pepper) for m, _ in shops)
            seeded = False
            if not shops[0][1]:
                await _seed_live(live)
                seeded = True
            if not shops[1][1]:
                await _seed_sandbox(sandbox)
                seeded = True
            summary = [(m.name, await _census(session, admin, m.id)) for m, _ in shops]
            plan_line = await _seed_billing(session, operator.id)
        if issued:
            click.echo("Keys (shown once, store them now):")
            for label, key in issued:
                secho_secret(label, key.secret)
        if seeded:
            click.echo("Orders made through the checkout services. DEMO-1011 and DEMO-1012 were made on a clock moved")
            click.echo(
                "back 61 and 40 days; the expire-authorizations and lapse-guarantees jobs then ran at the real time."
            )
        if plan_line:
            click.echo(plan_line)
        _print_summary(summary)
        click.echo("Try: curl -H 'Authorization: Bearer <merchant key>' http://127.0.0.1:8000/v1/orders")
        click.echo("How orders work: docs/checkout.md")

    anyio.run(main)


# -- the stories ---------------------------------------------------------------------------------------------------


def _table(text: str) -> list[Buyer]:
    """Buyers from ``name|kana|email|phone|postal code|address`` lines."""
    buyers = []
    for line in text.strip().splitlines():
        name, kana, email, phone, postal_code, address = line.split("|")
        buyers.append(Buyer(name, address, kana, email, phone, postal_code))
    return buyers


# Products of a Japanese gift shop: (ref, name, unit price tax included, tax rate %). Food is at the reduced 8 %.
TEA = ("TEA-GIFT", "緑茶ギフトセット", 5400, 8)
TOWEL = ("TOWEL-3", "今治タオル 3枚組", 3960, 10)
KETTLE = ("KETTLE", "南部鉄器 急須", 12100, 10)
MUG = ("MUG-ARITA", "有田焼 マグカップ", 2750, 10)
HONEY = ("HONEY", "国産はちみつ 500g", 1980, 8)
PENCASE = ("PENCASE", "栃木レザー ペンケース", 6600, 10)
EARPHONES = ("EARPHONES", "ワイヤレスイヤホン", 39800, 10)
SHIPPING = ("SHIP", "送料", 880, 10)

# Realistic, distinct buyers (each is a new consumer: 名寄せ finds no shared phone, email or name + address):
# name | kana | email | phone | postal code | address.
BUYERS = _table("""
佐藤 花子|サトウ ハナコ|hanako.sato@example.jp|090-3141-5926|150-0001|東京都渋谷区神宮前5丁目10番1号
鈴木 一郎|スズキ イチロウ|ichiro.suzuki@example.jp|080-2718-2818|530-0001|大阪府大阪市北区梅田1丁目2番3号
高橋 美咲|タカハシ ミサキ|misaki.takahashi@example.jp|070-1618-0339|460-0008|愛知県名古屋市中区栄3丁目4番5号
田中 健太|タナカ ケンタ|kenta.tanaka@example.jp|090-1414-2135|812-0011|福岡県福岡市博多区博多駅前2丁目1番1号
伊藤 さくら|イトウ サクラ|sakura.ito@example.jp|080-1732-0508|060-0001|北海道札幌市中央区北1条西2丁目1番地
渡辺 翔|ワタナベ ショウ|sho.watanabe@example.jp|090-2236-0679|980-0811|宮城県仙台市青葉区一番町4丁目1番1号
山本 陽子|ヤマモト ヨウコ|yoko.yamamoto@example.jp|080-2645-7513|650-0021|兵庫県神戸市中央区三宮町1丁目5番1号
中村 大輔|ナカムラ ダイスケ|daisuke.nakamura@example.jp|090-3316-6247|730-0011|広島県広島市中区基町10番5号
小林 結衣|コバヤシ ユイ|yui.kobayashi@example.jp|080-4142-1356|220-0012|神奈川県横浜市西区みなとみらい3丁目6番1号
加藤 拓也|カトウ タクヤ|takuya.kato@example.jp|070-5772-1566|330-0063|埼玉県さいたま市浦和区高砂3丁目15番1号
吉田 真由美|ヨシダ マユミ|mayumi.yoshida@example.jp|090-6931-4718|260-0013|千葉県千葉市中央区中央4丁目5番1号
山口 直樹|ヤマグチ ナオキ|naoki.yamaguchi@example.jp|080-5309-8642|420-0852|静岡県静岡市葵区紺屋町17番地1
""")

# Sandbox buyers: the email's local part (before "+" or "@") is what test mode reads. 名寄せ ignores a "+tag", so
# review+approve@example.jp would be the same consumer as review@example.jp: another domain keeps them apart.
TEST_BUYERS = _table("""
試験 一郎|シケン イチロウ|ok@example.jp|090-7000-0001|100-0001|東京都千代田区千代田1丁目1番1号
試験 二郎|シケン ジロウ|review@example.jp|090-7000-0002|100-0005|東京都千代田区丸の内1丁目9番1号
試験 三郎|シケン サブロウ|ng@example.jp|090-7000-0003|104-0061|東京都中央区銀座4丁目6番16号
試験 四郎|シケン シロウ|credit-ng@example.jp|090-7000-0004|160-0022|東京都新宿区新宿3丁目38番1号
試験 五郎|シケン ゴロウ|review+approve@example.net|090-7000-0005|171-0022|東京都豊島区南池袋1丁目28番1号
""")


def _seven_dr(body: int) -> str:
    """A 12-digit Yamato / Sagawa / Japan Post number: 11 digits and their mod-7 check digit, grouped 4-4-4."""
    digits = f"{body:011d}{body % 7}"
    return f"{digits[:4]}-{digits[4:8]}-{digits[8:]}"


async def _seed_live(shop: _Shop) -> None:
    # Made on a clock moved back: an authorization never shipped (expired after 60 days), and a parcel shipped
    # 35 days ago whose arrival nobody confirmed (out of the guarantee after 30 days).
    with _clock_moved_back(dt.timedelta(days=61)):
        await shop.order("DEMO-1011", 10, [(KETTLE, 1), (SHIPPING, 1)], expect="authorized")
    with _clock_moved_back(dt.timedelta(days=40)):
        lapsed = await shop.order("DEMO-1012", 11, [(TEA, 2), (SHIPPING, 1)], expect="authorized")
    with _clock_moved_back(dt.timedelta(days=35)):
        await shop.capture(lapsed, "yamato", _seven_dr(40_512_345_678))
    now = clock.utc_now()
    await checkout.expire_authorizations(shop.session, now)
    await checkout.lapse_guarantees(shop.session, now)

    # Waiting for shipment.
    await shop.order("DEMO-1001", 0, [(TEA, 1), (HONEY, 2), (SHIPPING, 1)], expect="authorized")
    # The buyer dropped a mug before shipment: a pure decrease applies at once, without re-screening.
    changed = await shop.order("DEMO-1002", 1, [(MUG, 2), (TOWEL, 1), (SHIPPING, 1)], expect="authorized")
    await checkout.change(
        shop.session,
        shop.merchant,
        changed.id,
        OrderChange(amount=MUG[2] + TOWEL[2] + SHIPPING[2], items=_items([(MUG, 1), (TOWEL, 1), (SHIPPING, 1)])),
        secret=shop.secret,
    )
    # Cancelled by the merchant before shipment (out of stock): the credit reservation is released.
    cancelled = await shop.order("DEMO-1003", 2, [(PENCASE, 1), (SHIPPING, 1)], expect="authorized")
    await checkout.cancel(shop.session, shop.merchant, cancelled.id, reason="out of stock")
    # A first order above the first-order maximum (¥30,000): declined on credit.
    await shop.order("DEMO-1004", 3, [(EARPHONES, 1)], expect="declined")
    # Two lines; the towels shipped, the kettle is back-ordered.
    partial = await shop.order("DEMO-1005", 4, [(TOWEL, 1), (KETTLE, 1), (SHIPPING, 1)], expect="authorized")
    await shop.capture(partial, "sagawa", _seven_dr(30_112_233_445), lines=[("TOWEL-3", 1), ("SHIP", 1)])
    # 別送 (separate): two parcels, one invoice each.
    two_parcels = await shop.order("DEMO-1006", 5, [(KETTLE, 1), (MUG, 2), (SHIPPING, 1)], expect="authorized")
    await shop.capture(two_parcels, "yamato", _seven_dr(41_000_000_001), lines=[("KETTLE", 1), ("SHIP", 1)])
    await shop.capture(two_parcels, "japanpost", _seven_dr(50_123_456_789), lines=[("MUG-ARITA", 2)])
    # 同梱 (enclosed): the invoice was issued at authorization, for the merchant to print into the parcel.
    enclosed = await shop.order(
        "DEMO-1007", 6, [(TEA, 1), (TOWEL, 1), (SHIPPING, 1)], delivery="enclosed", expect="authorized"
    )
    await shop.capture(enclosed, "yamato", _seven_dr(41_000_000_002))
    # Part shipped, the rest will not ship: released, so the order is fully captured at the lower amount.
    released = await shop.order("DEMO-1008", 7, [(PENCASE, 1), (HONEY, 3), (SHIPPING, 1)], expect="authorized")
    await shop.capture(released, "seino", "1234567890", lines=[("PENCASE", 1), ("SHIP", 1)])
    await checkout.release(shop.session, shop.merchant, released.id)
    # Shipped, then one of the two mugs came back broken: a partial refund by line (the invoice is re-issued).
    refunded = await shop.order("DEMO-1009", 8, [(MUG, 2), (TEA, 1), (SHIPPING, 1)], expect="authorized")
    await shop.capture(refunded, "yamato", _seven_dr(41_000_000_003))
    await checkout.refund(
        shop.session,
        shop.merchant,
        refunded.id,
        RefundRequest(items=[LineQuantity("MUG-ARITA", 1)], reason="arrived broken"),
    )
    # Shipped, and the operator confirmed arrival: the payment guarantee holds.
    arrived = await shop.order("DEMO-1010", 9, [(KETTLE, 1), (TEA, 1), (SHIPPING, 1)], expect="authorized")
    await shop.capture(arrived, "fukuyama", "5012345678")
    await checkout.confirm_arrival(shop.session, shop.admin, arrived.id)

    # Collections. The arrived order's invoice was paid by bank transfer to its own virtual account (matched and
    # applied at once); the first parcel of the two-parcel order was paid in part; and a transfer nobody can place
    # waits in suspense, in the manual queue. Then the day's dunning: the parcel shipped 35 days ago without arrival
    # is past due (its invoice was due 21 days ago), so the sweep re-bills it with the capped fee.
    finance = Principal(api_key_id=CLI_ACTOR, role=Role.OPERATOR_FINANCE, tenant_id=shop.admin.tenant_id)
    today = clock.jst_today()
    [paid] = await checkout.invoices_of(shop.session, shop.merchant, arrived.id)
    first_parcel = (await checkout.invoices_of(shop.session, shop.merchant, two_parcels.id))[0]
    for external_id, amount, account, payer in (
        ("demo-bank-0001", paid.balance, paid.virtual_account, "ｻｻｷ ﾕｳｺ"),
        ("demo-bank-0002", first_parcel.balance // 2, first_parcel.virtual_account, "ｽｽﾞｷ ｹﾝ"),
        ("demo-bank-0003", 4_980, None, "ﾀﾅｶ ｼﾞﾛｳ"),
    ):
        incoming = IncomingPayment(
            line_no=0,
            external_id=external_id,
            kind="payment",
            channel="bank_transfer",
            amount=amount,
            value_date=today,
            payer_name=payer,
            payer_code="",
            edi="",
            account=account,
            payment_number=None,
            reverses_external_id=None,
        )
        await collections.record_payment(shop.session, finance, incoming)
    await dunning.run_dunning(shop.session, shop.admin.tenant_id, today)


async def _seed_sandbox(shop: _Shop) -> None:
    await shop.order("TEST-0001", 0, [(TEA, 1), (SHIPPING, 1)], test=True, expect="authorized")
    await shop.order("TEST-0002", 1, [(TOWEL, 1), (SHIPPING, 1)], test=True, expect="in_review")
    await shop.order("TEST-0003", 2, [(MUG, 1), (SHIPPING, 1)], test=True, expect="declined")
    await shop.order("TEST-0004", 3, [(HONEY, 1), (SHIPPING, 1)], test=True, expect="declined")
    # An analyst approves an order in review: it becomes authorized.
    approved = await shop.order("TEST-0005", 4, [(PENCASE, 1), (SHIPPING, 1)], test=True, expect="in_review")
    await checkout.resolve_review(shop.session, shop.admin, approved.id, approve=True, note="demo: buyer verified")


# -- helpers -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Shop:
    session: AsyncSession
    admin: Principal
    merchant_row: Merchant
    secret: str

    @property
    def merchant(self) -> Principal:
        return Principal(
            api_key_id=CLI_ACTOR,
            role=Role.MERCHANT,
            tenant_id=self.merchant_row.tenant_id,
            merchant_id=self.merchant_row.id,
        )

    async def order(
        self,
        merchant_order_id: str,
        buyer: int,
        lines: list[tuple[tuple[str, str, int, int], int]],
        *,
        expect: str,
        delivery: str = "separate",
        test: bool = False,
    ) -> Order:
        items = _items(lines)
        request = OrderRequest(
            merchant_order_id=merchant_order_id,
            amount=sum(i.amount for i in items),
            currency="JPY",
            items=items,
            buyer=(TEST_BUYERS if test else BUYERS)[buyer],
            device=Device(
                # TEST-NET-3 (RFC 5737): documentation addresses, one per buyer; no country, so no overseas signal.
                ip=f"203.0.113.{buyer + (100 if test else 10)}",
                user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
                accept_language="ja-JP,ja;q=0.9",
                timezone="Asia/Tokyo",
                device_id=f"demo-device-{merchant_order_id.lower()}",
            ),
            invoice_delivery=delivery,
            ordered_at=clock.utc_now(),
        )
        order = await checkout.authorize(self.session, self.merchant, request, secret=self.secret)
        if order.status != expect:
            # The story depends on it (a declined order cannot ship): stop rather than tell a different story.
            raise click.ClickException(
                f"demo order {merchant_order_id} came back {order.status} ({order.decline_detail}), not {expect}: "
                "was the demo operator's fraud or credit policy changed?"
            )
        return order

    async def capture(
        self, order: Order, carrier: str, tracking_number: str, *, lines: list[tuple[str, int]] | None = None
    ) -> None:
        request = CaptureRequest(
            carrier=carrier,
            tracking_number=tracking_number,
            items=[LineQuantity(ref, quantity) for ref, quantity in lines or []],
        )
        await checkout.capture(self.session, self.merchant, order.id, request)


def _items(lines: list[tuple[tuple[str, str, int, int], int]]) -> list[Item]:
    return [Item(ref, name, price, quantity, rate) for (ref, name, price, rate), quantity in lines]


@contextlib.contextmanager
def _clock_moved_back(delta: dt.timedelta) -> Iterator[None]:
    """Run the block as if it happened ``delta`` ago: every timestamp, id, deadline and business date of the
    product comes from ``clock.utc_now``. The command runs one task at a time, so nothing else sees the shift."""
    real = clock.utc_now
    clock.utc_now = lambda: real() - delta  # type: ignore[assignment]
    try:
        yield
    finally:
        clock.utc_now = real  # type: ignore[assignment]


async def _find_merchant(session: AsyncSession, admin: Principal, name: str) -> Merchant | None:
    page = PageRequest(limit=100)
    while True:
        result = await service.list_merchants(session, admin, page)
        match = next((m for m in result.items if m.name == name), None)
        if match is not None or not result.has_more:
            return match
        page = PageRequest(limit=100, starting_after=result.items[-1].id)


async def _has_orders(session: AsyncSession, admin: Principal, merchant_id: str) -> bool:
    page = await checkout.list_orders(session, admin, PageRequest(limit=1), merchant_id=merchant_id)
    return bool(page.items)


@dataclass(frozen=True, slots=True)
class _Census:
    statuses: Counter[str]
    guarantees: Counter[str]
    refunded: int  # captured orders with a refund
    released: int  # shipped orders whose remainder was released


async def _census(session: AsyncSession, admin: Principal, merchant_id: str) -> _Census:
    statuses: Counter[str] = Counter()
    guarantees: Counter[str] = Counter()
    refunded = released = 0
    page = PageRequest(limit=100)
    while True:
        result = await checkout.list_orders(session, admin, page, merchant_id=merchant_id)
        for order in result.items:
            statuses[order.status] += 1
            guarantees[order.guarantee] += 1
            refunded += order.refunded_amount > 0
            released += order.released_amount > 0 and order.captured_amount > 0
        if not result.has_more:
            return _Census(statuses, guarantees, refunded, released)
        page = PageRequest(limit=100, starting_after=result.items[-1].id)


def _print_summary(summary: list[tuple[str, _Census]]) -> None:
    click.echo("Orders by status:")
    for name, census in summary:
        counts = " · ".join(f"{s} {census.statuses[s]}" for s in STATUSES if census.statuses[s])
        click.echo(f"  {name:<22} {counts or 'none'}")
        shipped = []
        if guarantees := [f"{g} {census.guarantees[g]}" for g in GUARANTEES if census.guarantees[g]]:
            shipped.append("guarantee " + " · ".join(guarantees))
        if census.refunded:
            shipped.append(f"refunded {census.refunded}")
        if census.released:
            shipped.append(f"remainder released {census.released}")
        if shipped:
            click.echo(f"  {'':<22} shipped: {'; '.join(shipped)}")


async def _seed_billing(session: AsyncSession, operator_id: str) -> str | None:
    """Platform billing for the demo: the example catalog, a demo issuer, and the demo operator on the standard
    plan from today (docs/billing.md). Nothing is changed if the operator has a subscription already."""
    from billing import service as billing
    from billing.repository import BillingRepository

    repo = BillingRepository.from_session(session)
    if await repo.issuer() is None:
        await billing.put_issuer(
            session,
            CLI_ACTOR,
            legal_name="デモ・プラットフォーム株式会社",
            registration_number="T7123456789012",
            address="東京都港区赤坂4-3-2",
            bank_account="デモ銀行 本店 普通 1234567",
        )
    await billing.seed_catalog(session)
    if await repo.tenant_subscriptions(operator_id):
        return None
    standard = await repo.plan_by_code("standard")
    assert standard is not None
    sub = await billing.subscribe(session, CLI_ACTOR, tenant_id=operator_id, plan_id=standard.id)
    return (
        f"Platform billing: {operator_id} subscribed to the standard plan from {sub.start_date} "
        "(¥4,000/month incl. 1,000 screenings); see docs/billing.md."
    )
