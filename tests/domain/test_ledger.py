"""The double-entry ledger: posting, reversing, balances, and the invariants in Python and in PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter, defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import create_engine, create_sessionmaker
from app.settings import get_settings
from app.uow import Database
from domain.kit import clock
from domain.kit.errors import UnbalancedEntry
from domain.kit.ids import new_id
from domain.kit.money import Money
from domain.kit.tenancy import Principal, Role
from domain.ledger.chart import BY_KEY, CHART
from domain.ledger.errors import EntryAlreadyReversed, EntryNotFound, UnknownAccount
from domain.ledger.models import JournalEntry, LedgerAccount, Posting
from domain.ledger.repository import AccountBalance, LedgerRepository
from domain.ledger.service import Direction, Line, account_balances, credit, debit, post_entry, reverse_entry
from domain.tenancy.service import CLI_ACTOR, create_operator
from tests.fixtures.factories import Tenant, create_tenant
from tests.fixtures.ledger import assert_ledger_balances

DAY = dt.date(2026, 12, 1)


def jpy(amount: int) -> Money:
    return Money(amount, "JPY")


def usd(amount: int) -> Money:
    return Money(amount, "USD")


async def count(session: AsyncSession, model: type, tenant_id: str) -> int:
    return await session.scalar(select(func.count()).select_from(model).where(model.tenant_id == tenant_id))


async def counts(session: AsyncSession, tenant_id: str) -> tuple[int, int, int]:
    """(journal entries, postings, accounts) of the tenant."""
    return (
        await count(session, JournalEntry, tenant_id),
        await count(session, Posting, tenant_id),
        await count(session, LedgerAccount, tenant_id),
    )


async def balances_by_key(
    session: AsyncSession, principal: Principal, currency: str | None = None
) -> dict[tuple[str, str], AccountBalance]:
    return {(b.account.key, b.account.currency): b for b in await account_balances(session, principal, currency)}


async def check_ledger(db: Database, *tenants: Tenant | str) -> None:
    async with db.sessionmaker() as s:
        for tenant in tenants:
            await assert_ledger_balances(s, tenant if isinstance(tenant, str) else tenant.id)


CAPTURE = [
    debit("consumer_receivable", jpy(10_000)),
    credit("merchant_payable", jpy(9_700)),
    credit("merchant_fee_revenue", jpy(300)),
]


async def post(db: Database, tenant_id: str, lines: list[Line], **kw) -> object:
    kw.setdefault("kind", "order.captured")
    async with db.transaction() as s:
        return await post_entry(s, tenant_id, lines=lines, **kw)


# ---------------------------------------------------------------------------------------------------------------
# post_entry
# ---------------------------------------------------------------------------------------------------------------


class TestPostEntry:
    async def test_balanced_entry_posts(self, db, tenant_a):
        posted = await post(db, tenant_a.id, CAPTURE, effective_date=DAY, source_ref="order:1:capture", memo="order 1")

        assert posted.created is True
        entry = posted.entry
        assert entry.tenant_id == tenant_a.id
        assert entry.id.startswith("jnl_")
        assert (entry.kind, entry.effective_date, entry.source_ref, entry.memo, entry.reverses_id) == (
            "order.captured",
            DAY,
            "order:1:capture",
            "order 1",
            None,
        )
        assert [(p.direction, p.amount, p.currency) for p in posted.postings] == [
            ("debit", 10_000, "JPY"),
            ("credit", 9_700, "JPY"),
            ("credit", 300, "JPY"),
        ]
        assert {p.entry_id for p in posted.postings} == {entry.id}

        # What was written is what was returned.
        async with db.sessionmaker() as s:
            repo = LedgerRepository(s)
            stored = await repo.get_entry(tenant_a.admin, entry.id)
            assert stored is not None and stored.kind == "order.captured"
            rows = await repo.postings_of(tenant_a.id, entry.id)
            assert sorted((p.id, p.account_id, p.direction, p.amount) for p in rows) == sorted(
                (p.id, p.account_id, p.direction, p.amount) for p in posted.postings
            )
            accounts = {a.id: a.key for a in (await s.scalars(select(LedgerAccount))).all()}
            assert Counter(accounts[p.account_id] for p in rows) == Counter(
                ["consumer_receivable", "merchant_payable", "merchant_fee_revenue"]
            )
            assert await assert_ledger_balances(s, tenant_a.id) == {"JPY": (10_000, 10_000)}

    async def test_effective_date_defaults_to_the_jst_business_date(self, db, tenant_a, monkeypatch):
        # 2026-11-30 16:30 UTC is already 2026-12-01 01:30 in Tokyo.
        monkeypatch.setattr(clock, "utc_now", lambda: dt.datetime(2026, 11, 30, 16, 30, tzinfo=dt.UTC))
        posted = await post(db, tenant_a.id, CAPTURE)
        assert posted.entry.effective_date == dt.date(2026, 12, 1)
        await check_ledger(db, tenant_a)

    async def test_accounts_are_created_from_the_chart_on_first_use(self, db, tenant_a):
        async with db.sessionmaker() as s:
            assert await count(s, LedgerAccount, tenant_a.id) == 0

        first = await post(db, tenant_a.id, [debit("bank", jpy(500)), credit("suspense", jpy(500))])

        async with db.sessionmaker() as s:
            accounts = {
                a.key: a
                for a in (await s.scalars(select(LedgerAccount).where(LedgerAccount.tenant_id == tenant_a.id))).all()
            }
        assert set(accounts) == {"bank", "suspense"}
        for key, account in accounts.items():
            spec = BY_KEY[key]
            assert (account.code, account.name, account.type, account.debit_normal, account.currency) == (
                spec.code,
                spec.name,
                spec.type.value,
                spec.debit_normal,
                "JPY",
            )
        assert {p.account_id for p in first.postings} == {a.id for a in accounts.values()}

        # Later entries reuse the accounts and create only the missing ones.
        second = await post(db, tenant_a.id, [debit("bank", jpy(200)), credit("recoveries", jpy(200))])
        async with db.sessionmaker() as s:
            keys = (await s.scalars(select(LedgerAccount.key).where(LedgerAccount.tenant_id == tenant_a.id))).all()
            assert sorted(keys) == ["bank", "recoveries", "suspense"]
        bank_ids = {p.account_id for p in [*first.postings, *second.postings] if p.direction == "debit"}
        assert bank_ids == {accounts["bank"].id}
        await check_ledger(db, tenant_a)

    async def test_accounts_are_per_tenant(self, db, tenant_a, tenant_b):
        a = await post(db, tenant_a.id, [debit("bank", jpy(1)), credit("suspense", jpy(1))])
        b = await post(db, tenant_b.id, [debit("bank", jpy(1)), credit("suspense", jpy(1))])
        assert not {p.account_id for p in a.postings} & {p.account_id for p in b.postings}
        await check_ledger(db, tenant_a, tenant_b)

    async def test_balances_derive_from_postings_with_the_normal_side(self, db, tenant_a, tenant_b):
        await post(db, tenant_a.id, CAPTURE)
        await post(db, tenant_a.id, [debit("merchant_payable", jpy(9_700)), credit("bank", jpy(9_700))])
        await post(db, tenant_a.id, [debit("bank", jpy(4_000)), credit("consumer_receivable", jpy(4_000))])
        await post(db, tenant_a.id, [debit("bad_debt_expense", jpy(600)), credit("allowance_for_doubtful", jpy(600))])
        await post(db, tenant_a.id, [debit("bank", usd(1_250)), credit("suspense", usd(1_250))])

        async with db.sessionmaker() as s:
            got = {k: (b.debits, b.credits, b.balance) for k, b in (await balances_by_key(s, tenant_a.admin)).items()}
            assert got == {
                # asset: debit-normal
                ("consumer_receivable", "JPY"): (10_000, 4_000, 6_000),
                ("bank", "JPY"): (4_000, 9_700, -5_700),  # overdrawn: a negative normal balance
                # liability and income: credit-normal
                ("merchant_payable", "JPY"): (9_700, 9_700, 0),
                ("merchant_fee_revenue", "JPY"): (0, 300, 300),
                # expense: debit-normal; contra asset: credit-normal
                ("bad_debt_expense", "JPY"): (600, 0, 600),
                ("allowance_for_doubtful", "JPY"): (0, 600, 600),
                ("bank", "USD"): (1_250, 0, 1_250),
                ("suspense", "USD"): (0, 1_250, 1_250),
            }
            balances = await account_balances(s, tenant_a.admin)
            assert [(b.account.currency, b.account.code) for b in balances] == sorted(
                (b.account.currency, b.account.code) for b in balances
            )
            assert sum(b.debits - b.credits for b in balances) == 0

            jpy_only = await LedgerRepository(s).balances(tenant_a.admin, "JPY")
            assert {b.account.currency for b in jpy_only} == {"JPY"}
            assert len(jpy_only) == 6

            # Another tenant sees none of it.
            assert await account_balances(s, tenant_b.admin) == []
            await assert_ledger_balances(s, tenant_a.id)

    async def test_an_account_without_postings_has_a_zero_balance(self, db, tenant_a):
        async with db.transaction() as s:
            await LedgerRepository(s).accounts_by_key(tenant_a.id, {"recoveries"}, "JPY")
        async with db.sessionmaker() as s:
            [only] = await account_balances(s, tenant_a.admin)
            assert (only.account.key, only.debits, only.credits, only.balance) == ("recoveries", 0, 0, 0)
            await assert_ledger_balances(s, tenant_a.id)

    @pytest.mark.parametrize(
        ("lines", "error", "message"),
        [
            pytest.param(
                [debit("bank", jpy(1_000)), credit("suspense", jpy(999))],
                UnbalancedEntry,
                "does not balance",
                id="unbalanced",
            ),
            pytest.param([debit("bank", jpy(1_000))], UnbalancedEntry, "at least two postings", id="single-line"),
            pytest.param([], UnbalancedEntry, "at least two postings", id="no-lines"),
            pytest.param(
                [debit("bank", jpy(0)), credit("suspense", jpy(0))], UnbalancedEntry, "positive", id="zero-amount"
            ),
            pytest.param(
                [debit("bank", jpy(-500)), credit("suspense", jpy(-500))],
                UnbalancedEntry,
                "positive",
                id="negative-amount",
            ),
            pytest.param(
                [debit("bank", jpy(500)), credit("suspense", jpy(600)), debit("bank", jpy(-100))],
                UnbalancedEntry,
                "positive",
                id="negative-line-that-would-balance",
            ),
            pytest.param(
                [debit("bank", jpy(1_000)), credit("suspense", usd(1_000))],
                UnbalancedEntry,
                "does not balance",
                id="balances-only-across-currencies",
            ),
            pytest.param(
                [debit("petty_cash", jpy(100)), credit("bank", jpy(100))],
                UnknownAccount,
                "petty_cash",
                id="unknown-account",
            ),
        ],
    )
    async def test_invalid_entries_raise_before_anything_is_written(self, db, tenant_a, lines, error, message):
        async with db.sessionmaker() as s:
            with pytest.raises(error, match=message):
                await post_entry(s, tenant_a.id, kind="bad", lines=lines, source_ref="bad:1")
            # Same session, same transaction: nothing was flushed, nothing is pending.
            assert not s.new
            assert await counts(s, tenant_a.id) == (0, 0, 0)

        # The failed attempt left no trace, not even its source_ref.
        posted = await post(db, tenant_a.id, CAPTURE, source_ref="bad:1")
        assert posted.created is True
        await check_ledger(db, tenant_a)

    async def test_the_same_source_ref_posts_once(self, db, tenant_a, tenant_b):
        first = await post(db, tenant_a.id, CAPTURE, source_ref="order:7:capture")
        # A retried job, even with different lines, gets the first entry back and posts nothing.
        again = await post(
            db,
            tenant_a.id,
            [debit("bank", jpy(1)), credit("suspense", jpy(1))],
            source_ref="order:7:capture",
            kind="order.captured.retry",
        )

        assert again.created is False
        assert again.entry.id == first.entry.id
        assert again.entry.kind == "order.captured"
        assert sorted(p.id for p in again.postings) == sorted(p.id for p in first.postings)
        async with db.sessionmaker() as s:
            assert await counts(s, tenant_a.id) == (1, 3, 3)
            assert await LedgerRepository(s).totals_by_currency(tenant_a.id) == {"JPY": (10_000, 10_000)}

        # source_ref is unique per tenant, not globally.
        other = await post(db, tenant_b.id, CAPTURE, source_ref="order:7:capture")
        assert other.created is True and other.entry.id != first.entry.id
        await check_ledger(db, tenant_a, tenant_b)

    async def test_without_source_ref_every_call_posts(self, db, tenant_a):
        await post(db, tenant_a.id, CAPTURE)
        await post(db, tenant_a.id, CAPTURE)
        async with db.sessionmaker() as s:
            assert await count(s, JournalEntry, tenant_a.id) == 2
            assert await assert_ledger_balances(s, tenant_a.id) == {"JPY": (20_000, 20_000)}

    async def test_multi_currency_entry_balances_per_currency(self, db, tenant_a):
        posted = await post(
            db,
            tenant_a.id,
            [
                debit("bank", jpy(15_000)),
                credit("merchant_payable", jpy(15_000)),
                debit("bank", usd(10_000)),
                credit("merchant_payable", usd(9_900)),
                credit("fees_paid", usd(100)),
            ],
        )

        by_currency = defaultdict(set)
        for p in posted.postings:
            by_currency[p.currency].add(p.account_id)
        # One account per (key, currency): JPY bank and USD bank are different accounts.
        assert not by_currency["JPY"] & by_currency["USD"]
        async with db.sessionmaker() as s:
            assert await count(s, LedgerAccount, tenant_a.id) == 5
            balances = await balances_by_key(s, tenant_a.admin)
            assert balances[("bank", "JPY")].balance == 15_000
            assert balances[("bank", "USD")].balance == 10_000
            assert balances[("fees_paid", "USD")].balance == -100  # an expense credited
            assert await assert_ledger_balances(s, tenant_a.id) == {
                "JPY": (15_000, 15_000),
                "USD": (10_000, 10_000),
            }

    async def test_one_unbalanced_currency_rejects_the_whole_entry(self, db, tenant_a):
        lines = [
            debit("bank", jpy(100)),
            credit("suspense", jpy(100)),
            debit("bank", usd(5)),
            credit("suspense", usd(4)),
        ]
        async with db.sessionmaker() as s:
            with pytest.raises(UnbalancedEntry, match="USD"):
                await post_entry(s, tenant_a.id, kind="fx", lines=lines)
            assert await counts(s, tenant_a.id) == (0, 0, 0)
        await check_ledger(db, tenant_a)


# ---------------------------------------------------------------------------------------------------------------
# reverse_entry
# ---------------------------------------------------------------------------------------------------------------


class TestReverseEntry:
    async def test_posts_the_mirror_entry(self, db, tenant_a):
        original = await post(db, tenant_a.id, CAPTURE, source_ref="order:1:capture")
        async with db.transaction() as s:
            reversal = await reverse_entry(
                s, tenant_a.admin, original.entry.id, reason="captured twice", effective_date=DAY
            )

        assert reversal.created is True
        entry = reversal.entry
        assert entry.id != original.entry.id
        assert (entry.kind, entry.memo, entry.reverses_id, entry.source_ref, entry.effective_date) == (
            "order.captured.reversal",
            "captured twice",
            original.entry.id,
            f"reversal:{original.entry.id}",
            DAY,
        )
        mirrored = Counter(
            (p.account_id, p.currency, Direction(p.direction).opposite().value, p.amount) for p in original.postings
        )
        assert Counter((p.account_id, p.currency, p.direction, p.amount) for p in reversal.postings) == mirrored

        async with db.sessionmaker() as s:
            balances = await account_balances(s, tenant_a.admin)
            assert len(balances) == 3
            for b in balances:
                assert b.balance == 0
                assert b.debits == b.credits > 0
            assert await LedgerRepository(s).reversal_of(tenant_a.id, original.entry.id) is not None
            assert await assert_ledger_balances(s, tenant_a.id) == {"JPY": (20_000, 20_000)}

    async def test_reverses_a_multi_currency_entry(self, db, tenant_a):
        original = await post(
            db,
            tenant_a.id,
            [debit("bank", jpy(700)), credit("suspense", jpy(700)), debit("bank", usd(5)), credit("suspense", usd(5))],
        )
        async with db.transaction() as s:
            await reverse_entry(s, tenant_a.admin, original.entry.id, reason="wrong")
        async with db.sessionmaker() as s:
            assert all(b.balance == 0 for b in await account_balances(s, tenant_a.admin))
            assert await assert_ledger_balances(s, tenant_a.id) == {"JPY": (1_400, 1_400), "USD": (10, 10)}

    async def test_reversing_twice_raises(self, db, tenant_a):
        original = await post(db, tenant_a.id, CAPTURE)
        async with db.transaction() as s:
            await reverse_entry(s, tenant_a.admin, original.entry.id, reason="first")

        async with db.sessionmaker() as s:
            with pytest.raises(EntryAlreadyReversed):
                await reverse_entry(s, tenant_a.admin, original.entry.id, reason="second")
            assert await count(s, JournalEntry, tenant_a.id) == 2
            assert all(b.balance == 0 for b in await account_balances(s, tenant_a.admin))
            await assert_ledger_balances(s, tenant_a.id)

    async def test_another_tenant_cannot_find_the_entry(self, db, tenant_a, tenant_b):
        original = await post(db, tenant_a.id, CAPTURE)

        async with db.sessionmaker() as s:
            with pytest.raises(EntryNotFound):
                await reverse_entry(s, tenant_b.admin, original.entry.id, reason="not mine")
            assert await counts(s, tenant_b.id) == (0, 0, 0)
            assert await count(s, JournalEntry, tenant_a.id) == 1
            assert await LedgerRepository(s).reversal_of(tenant_a.id, original.entry.id) is None

        # Its owner still can.
        async with db.transaction() as s:
            await reverse_entry(s, tenant_a.admin, original.entry.id, reason="mine")
        await check_ledger(db, tenant_a, tenant_b)

    async def test_an_unknown_entry_is_not_found(self, db, tenant_a):
        async with db.sessionmaker() as s:
            with pytest.raises(EntryNotFound):
                await reverse_entry(s, tenant_a.admin, new_id("jnl"), reason="typo")
            await assert_ledger_balances(s, tenant_a.id)


# ---------------------------------------------------------------------------------------------------------------
# Property: any sequence of balanced entries (and reversals) leaves the ledger balanced
# ---------------------------------------------------------------------------------------------------------------

KEYS = [spec.key for spec in CHART]


@st.composite
def balanced_lines(draw: st.DrawFn) -> list[Line]:
    debits = draw(
        st.lists(st.tuples(st.sampled_from(KEYS), st.integers(min_value=1, max_value=10**9)), min_size=1, max_size=4)
    )
    total = sum(amount for _, amount in debits)
    n_credits = draw(st.integers(min_value=1, max_value=min(4, total)))
    cuts = sorted(
        draw(
            st.lists(
                st.integers(min_value=1, max_value=total - 1),
                min_size=n_credits - 1,
                max_size=n_credits - 1,
                unique=True,
            )
        )
        if n_credits > 1
        else []
    )
    credits = [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]
    lines = [debit(key, jpy(amount)) for key, amount in debits]
    lines += [credit(draw(st.sampled_from(KEYS)), jpy(amount)) for amount in credits]
    return draw(st.permutations(lines))


async def _post_random_entries(entries: list[tuple[list[Line], bool]]) -> None:
    """Runs on its own event loop and engine; everything happens in one transaction that is rolled back."""
    engine = create_engine(get_settings())
    try:
        async with engine.connect() as conn:
            outer = await conn.begin()
            try:
                db = Database(create_sessionmaker(conn, join_transaction_mode="create_savepoint"))
                async with db.transaction() as s:
                    operator = await create_operator(s, name="Property BNPL")
                principal = Principal(api_key_id=CLI_ACTOR, role=Role.OPERATOR_ADMIN, tenant_id=operator.id)

                expected: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # key → [debits, credits]

                def book(lines: list[Line], flip: bool) -> None:
                    for ln in lines:
                        direction = ln.direction.opposite() if flip else ln.direction
                        expected[ln.account][0 if direction is Direction.DEBIT else 1] += ln.money.amount

                for i, (lines, reverse) in enumerate(entries):
                    async with db.transaction() as s:
                        posted = await post_entry(s, operator.id, kind="property", lines=lines, source_ref=f"p:{i}")
                    assert posted.created
                    book(lines, flip=False)
                    if reverse:
                        async with db.transaction() as s:
                            await reverse_entry(s, principal, posted.entry.id, reason="property")
                        book(lines, flip=True)

                async with db.sessionmaker() as s:
                    repo = LedgerRepository(s)
                    grand = sum(d for d, _ in expected.values())
                    assert grand == sum(c for _, c in expected.values())
                    assert await repo.totals_by_currency(operator.id) == {"JPY": (grand, grand)}
                    assert await repo.unbalanced_entries(operator.id) == []

                    balances = await account_balances(s, principal)
                    assert sum(b.debits - b.credits for b in balances) == 0
                    assert {b.account.key: [b.debits, b.credits] for b in balances} == dict(expected)
                    for b in balances:
                        net = b.debits - b.credits
                        assert b.balance == (net if BY_KEY[b.account.key].debit_normal else -net)
                    await assert_ledger_balances(s, operator.id)
            finally:
                await outer.rollback()
    finally:
        await engine.dispose()


class TestLedgerProperty:
    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(entries=st.lists(st.tuples(balanced_lines(), st.booleans()), min_size=1, max_size=8))
    def test_random_balanced_entries_keep_the_ledger_balanced(self, migrated_database, entries):
        # Hypothesis cannot drive an async test: run the scenario on a loop of its own (not the session loop,
        # which is not running between tests) and leave the global event loop untouched.
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(_post_random_entries(entries))
        finally:
            loop.close()


# ---------------------------------------------------------------------------------------------------------------
# PostgreSQL: the database enforces the invariants even for writes that bypass the Python check
# ---------------------------------------------------------------------------------------------------------------


def raw_entry(tenant_id: str, entry_id: str) -> dict:
    return {
        "tenant_id": tenant_id,
        "id": entry_id,
        "kind": "raw",
        "memo": "",
        "effective_date": DAY,
        "source_ref": None,
        "reverses_id": None,
        "posted_at": clock.utc_now(),
    }


def raw_posting(tenant_id: str, entry_id: str, account_id: str, direction: str, amount: int, currency="JPY") -> dict:
    return {
        "tenant_id": tenant_id,
        "id": new_id("pst"),
        "entry_id": entry_id,
        "account_id": account_id,
        "currency": currency,
        "direction": direction,
        "amount": amount,
    }


async def jpy_accounts(db: Database, tenant_id: str, *keys: str) -> dict[str, str]:
    """Create the tenant's JPY accounts through the product (a balanced entry), return key → account id."""
    await post(db, tenant_id, [debit(keys[0], jpy(1_000)), credit(keys[1], jpy(1_000))], kind="setup")
    async with db.sessionmaker() as s:
        return {
            key: acc.id for key, acc in (await LedgerRepository(s).accounts_by_key(tenant_id, set(keys), "JPY")).items()
        }


async def insert_raw(session: AsyncSession, entry: dict, postings: list[dict]) -> None:
    """Core inserts: the before_flush listener only sees ORM objects, so nothing in Python checks these."""
    await session.execute(insert(JournalEntry.__table__).values(**entry))
    for posting in postings:
        await session.execute(insert(Posting.__table__).values(**posting))


@pytest.mark.postgres_only
class TestDatabaseInvariants:
    async def commit_raw(self, committed_db: Database, entry: dict, postings: list[dict]) -> None:
        """Insert a raw entry and its postings, check they are in, then COMMIT."""
        async with committed_db.sessionmaker() as s:
            await insert_raw(s, entry, postings)
            # The rows are in: the check is deferred to COMMIT.
            assert await s.scalar(select(func.count()).where(Posting.entry_id == entry["id"])) == len(postings)
            await s.commit()

    async def assert_not_committed(self, committed_db: Database, tenant_id: str, entry_id: str) -> None:
        async with committed_db.sessionmaker() as s:
            assert await s.scalar(select(func.count()).where(JournalEntry.id == entry_id)) == 0
            assert await s.scalar(select(func.count()).where(Posting.entry_id == entry_id)) == 0
            assert await count(s, JournalEntry, tenant_id) <= 1  # at most the set-up entry
            await assert_ledger_balances(s, tenant_id)

    async def test_a_balanced_raw_entry_commits(self, committed_db):
        tenant = await create_tenant(committed_db)
        acc = await jpy_accounts(committed_db, tenant.id, "bank", "suspense")
        e = new_id("jnl")

        await self.commit_raw(
            committed_db,
            raw_entry(tenant.id, e),
            [
                raw_posting(tenant.id, e, acc["bank"], "debit", 300),
                raw_posting(tenant.id, e, acc["suspense"], "credit", 300),
            ],
        )

        async with committed_db.sessionmaker() as s:
            assert len(await LedgerRepository(s).postings_of(tenant.id, e)) == 2
            assert await assert_ledger_balances(s, tenant.id) == {"JPY": (1_300, 1_300)}

    async def test_unbalanced_raw_postings_fail_at_commit(self, committed_db):
        tenant = await create_tenant(committed_db)
        acc = await jpy_accounts(committed_db, tenant.id, "bank", "suspense")
        e = new_id("jnl")

        with pytest.raises(IntegrityError, match="does not balance in JPY: net 1"):
            await self.commit_raw(
                committed_db,
                raw_entry(tenant.id, e),
                [
                    raw_posting(tenant.id, e, acc["bank"], "debit", 1_000),
                    raw_posting(tenant.id, e, acc["suspense"], "credit", 999),
                ],
            )
        await self.assert_not_committed(committed_db, tenant.id, e)

    async def test_postings_that_balance_only_across_currencies_fail_at_commit(self, committed_db):
        tenant = await create_tenant(committed_db)
        acc = await jpy_accounts(committed_db, tenant.id, "bank", "suspense")
        async with committed_db.transaction() as s:
            usd_bank = (await LedgerRepository(s).accounts_by_key(tenant.id, {"bank"}, "USD"))["bank"].id
        e = new_id("jnl")

        with pytest.raises(IntegrityError, match="does not balance"):
            await self.commit_raw(
                committed_db,
                raw_entry(tenant.id, e),
                [
                    raw_posting(tenant.id, e, usd_bank, "debit", 500, currency="USD"),
                    raw_posting(tenant.id, e, acc["suspense"], "credit", 500),
                ],
            )
        await self.assert_not_committed(committed_db, tenant.id, e)

    async def test_an_entry_with_one_posting_fails_at_commit(self, committed_db):
        tenant = await create_tenant(committed_db)
        acc = await jpy_accounts(committed_db, tenant.id, "bank", "suspense")
        e = new_id("jnl")

        with pytest.raises(IntegrityError, match="fewer than two postings|does not balance"):
            await self.commit_raw(
                committed_db, raw_entry(tenant.id, e), [raw_posting(tenant.id, e, acc["bank"], "debit", 1_000)]
            )
        await self.assert_not_committed(committed_db, tenant.id, e)

    async def test_an_entry_without_postings_fails_at_commit(self, committed_db):
        # No postings, so nothing for the balance trigger: this is the ">= 2 postings" trigger alone.
        tenant = await create_tenant(committed_db)
        e = new_id("jnl")

        with pytest.raises(IntegrityError, match="fewer than two postings"):
            await self.commit_raw(committed_db, raw_entry(tenant.id, e), [])
        await self.assert_not_committed(committed_db, tenant.id, e)

    @pytest.mark.parametrize(
        "statement",
        [
            pytest.param(
                lambda pid, eid: update(Posting.__table__).where(Posting.id == pid).values(amount=1),
                id="update-posting",
            ),
            pytest.param(lambda pid, eid: delete(Posting.__table__).where(Posting.id == pid), id="delete-posting"),
            pytest.param(
                lambda pid, eid: update(JournalEntry.__table__).where(JournalEntry.id == eid).values(memo="edited"),
                id="update-entry",
            ),
            pytest.param(
                lambda pid, eid: delete(JournalEntry.__table__).where(JournalEntry.id == eid), id="delete-entry"
            ),
        ],
    )
    async def test_postings_and_entries_are_append_only(self, db, tenant_a, statement):
        posted = await post(db, tenant_a.id, CAPTURE)
        target = posted.postings[0]

        async with db.sessionmaker() as s:
            with pytest.raises(IntegrityError, match="is append-only"):
                await s.execute(statement(target.id, posted.entry.id))
            await s.rollback()

        async with db.sessionmaker() as s:
            rows = await LedgerRepository(s).postings_of(tenant_a.id, posted.entry.id)
            assert sorted((p.id, p.amount) for p in rows) == sorted((p.id, p.amount) for p in posted.postings)
            assert (await s.get(JournalEntry, (tenant_a.id, posted.entry.id))).memo == ""
            await assert_ledger_balances(s, tenant_a.id)


# ---------------------------------------------------------------------------------------------------------------
# Both tiers: the composite foreign key ties a posting's currency to its account's
# ---------------------------------------------------------------------------------------------------------------


class TestPostingCurrency:
    # Listed with the PostgreSQL checks in the brief, but SQLite enforces foreign keys too (PRAGMA foreign_keys=ON),
    # so this runs on both tiers.
    @pytest.mark.parametrize("via", ["core", "orm"])
    async def test_a_posting_in_another_currency_than_its_account_fails(self, db, tenant_a, via):
        acc = await jpy_accounts(db, tenant_a.id, "bank", "suspense")
        entry_id = new_id("jnl")
        postings = [
            raw_posting(tenant_a.id, entry_id, acc["bank"], "debit", 50, currency="USD"),
            raw_posting(tenant_a.id, entry_id, acc["suspense"], "credit", 50, currency="USD"),
        ]

        async with db.sessionmaker() as s:
            # Balanced per currency, so the Python check lets it through; the database does not.
            with pytest.raises(IntegrityError, match="fk_ledger_postings_tenant_id_account_id_currency|FOREIGN KEY"):
                if via == "core":
                    await insert_raw(s, raw_entry(tenant_a.id, entry_id), postings)
                else:
                    s.add(JournalEntry(**raw_entry(tenant_a.id, entry_id)))
                    s.add_all(Posting(**p) for p in postings)
                    await s.flush()
            await s.rollback()

        async with db.sessionmaker() as s:
            assert await count(s, JournalEntry, tenant_a.id) == 1
            assert await assert_ledger_balances(s, tenant_a.id) == {"JPY": (1_000, 1_000)}

    async def test_the_same_postings_in_the_accounts_currency_are_accepted(self, db, tenant_a):
        acc = await jpy_accounts(db, tenant_a.id, "bank", "suspense")
        entry_id = new_id("jnl")
        async with db.transaction() as s:
            s.add(JournalEntry(**raw_entry(tenant_a.id, entry_id)))
            s.add(Posting(**raw_posting(tenant_a.id, entry_id, acc["bank"], "debit", 50)))
            s.add(Posting(**raw_posting(tenant_a.id, entry_id, acc["suspense"], "credit", 50)))
        async with db.sessionmaker() as s:
            assert await assert_ledger_balances(s, tenant_a.id) == {"JPY": (1_050, 1_050)}


# ---------------------------------------------------------------------------------------------------------------
# The Python guard (before_flush): the only check SQLite gets
# ---------------------------------------------------------------------------------------------------------------


class TestPythonGuard:
    async def loaded_postings(self, s: AsyncSession, entry_id: str) -> list[Posting]:
        return list((await s.scalars(select(Posting).where(Posting.entry_id == entry_id))).all())

    async def assert_untouched(self, db: Database, tenant: Tenant, posted) -> None:
        async with db.sessionmaker() as s:
            rows = await LedgerRepository(s).postings_of(tenant.id, posted.entry.id)
            assert sorted((p.id, p.direction, p.amount) for p in rows) == sorted(
                (p.id, p.direction, p.amount) for p in posted.postings
            )
            await assert_ledger_balances(s, tenant.id)

    async def test_modifying_a_posting_amount_raises(self, db, tenant_a):
        posted = await post(db, tenant_a.id, CAPTURE)
        async with db.sessionmaker() as s:
            [first, *_] = await self.loaded_postings(s, posted.entry.id)
            first.amount += 1
            with pytest.raises(UnbalancedEntry, match="immutable"):
                await s.flush()
            await s.rollback()
        await self.assert_untouched(db, tenant_a, posted)

    async def test_modifying_both_sides_equally_still_raises(self, db, tenant_a):
        # Still balanced afterwards: it is immutability, not the balance, that forbids it.
        posted = await post(db, tenant_a.id, [debit("bank", jpy(100)), credit("suspense", jpy(100))])
        async with db.sessionmaker() as s:
            for p in await self.loaded_postings(s, posted.entry.id):
                p.amount = 200
            with pytest.raises(UnbalancedEntry, match="immutable"):
                await s.commit()
        await self.assert_untouched(db, tenant_a, posted)

    async def test_modifying_an_entry_raises(self, db, tenant_a):
        posted = await post(db, tenant_a.id, CAPTURE)
        async with db.sessionmaker() as s:
            entry = await s.get(JournalEntry, (tenant_a.id, posted.entry.id))
            entry.memo = "rewritten history"
            with pytest.raises(UnbalancedEntry, match="immutable"):
                await s.flush()
            await s.rollback()
        await self.assert_untouched(db, tenant_a, posted)

    async def test_deleting_a_posting_raises(self, db, tenant_a):
        posted = await post(db, tenant_a.id, CAPTURE)
        async with db.sessionmaker() as s:
            [first, *_] = await self.loaded_postings(s, posted.entry.id)
            await s.delete(first)
            with pytest.raises(UnbalancedEntry, match="never deleted"):
                await s.flush()
            await s.rollback()
        await self.assert_untouched(db, tenant_a, posted)

    async def test_adding_postings_to_an_existing_entry_raises(self, db, tenant_a):
        posted = await post(db, tenant_a.id, [debit("bank", jpy(100)), credit("suspense", jpy(100))])
        bank, suspense = (next(p.account_id for p in posted.postings if p.direction == d) for d in ("debit", "credit"))
        async with db.sessionmaker() as s:
            s.add(Posting(**raw_posting(tenant_a.id, posted.entry.id, bank, "debit", 5)))
            s.add(Posting(**raw_posting(tenant_a.id, posted.entry.id, suspense, "credit", 5)))
            with pytest.raises(UnbalancedEntry, match="existing entry"):
                await s.flush()
            await s.rollback()
        await self.assert_untouched(db, tenant_a, posted)

    @pytest.mark.parametrize(
        ("amounts", "message"),
        [
            ([("debit", 100), ("credit", 90)], "does not balance"),
            ([("debit", 100)], "at least two postings"),
            ([], "at least two postings"),
            ([("debit", 0), ("credit", 0)], "positive"),
        ],
        ids=["unbalanced", "one-posting", "no-postings", "zero"],
    )
    async def test_a_new_orm_entry_is_checked_at_flush(self, db, tenant_a, amounts, message):
        acc = await jpy_accounts(db, tenant_a.id, "bank", "suspense")
        entry_id = new_id("jnl")
        async with db.sessionmaker() as s:
            s.add(JournalEntry(**raw_entry(tenant_a.id, entry_id)))
            for direction, amount in amounts:
                account = acc["bank"] if direction == "debit" else acc["suspense"]
                s.add(Posting(**raw_posting(tenant_a.id, entry_id, account, direction, amount)))
            with pytest.raises(UnbalancedEntry, match=message):
                await s.flush()
            await s.rollback()
        async with db.sessionmaker() as s:
            assert await count(s, JournalEntry, tenant_a.id) == 1
            await assert_ledger_balances(s, tenant_a.id)


# ---------------------------------------------------------------------------------------------------------------
# LedgerRepository: the ledger's own health checks
# ---------------------------------------------------------------------------------------------------------------


class TestLedgerRepositoryChecks:
    async def test_a_sound_ledger(self, db, tenant_a, tenant_b):
        await post(db, tenant_a.id, CAPTURE)
        await post(db, tenant_a.id, [debit("bank", usd(2_500)), credit("suspense", usd(2_500))])
        await post(db, tenant_b.id, [debit("bank", jpy(42)), credit("suspense", jpy(42))])

        async with db.sessionmaker() as s:
            repo = LedgerRepository(s)
            assert await repo.totals_by_currency(tenant_a.id) == {"JPY": (10_000, 10_000), "USD": (2_500, 2_500)}
            assert await repo.totals_by_currency(tenant_b.id) == {"JPY": (42, 42)}
            assert await repo.unbalanced_entries(tenant_a.id) == []
            assert await repo.unbalanced_entries(tenant_b.id) == []
            assert await repo.unbalanced_entries() == []
            everything = await repo.totals_by_currency()
            assert everything["JPY"][0] == everything["JPY"][1] >= 10_042
            assert everything["USD"][0] == everything["USD"][1] >= 2_500
            await assert_ledger_balances(s, tenant_a.id)
            await assert_ledger_balances(s, tenant_b.id)

    async def test_an_empty_ledger(self, db, tenant_a):
        async with db.sessionmaker() as s:
            repo = LedgerRepository(s)
            assert await repo.totals_by_currency(tenant_a.id) == {}
            assert await repo.unbalanced_entries(tenant_a.id) == []
            assert await assert_ledger_balances(s, tenant_a.id) == {}

    async def test_the_checks_catch_an_unbalanced_entry(self, db, tenant_a, tenant_b):
        # Core inserts skip the Python guard; never committed (PostgreSQL's deferred triggers would reject it),
        # this shows what the checks report if anything ever got through.
        acc = await jpy_accounts(db, tenant_a.id, "bank", "suspense")
        await post(db, tenant_b.id, CAPTURE)
        entry_id = new_id("jnl")
        async with db.sessionmaker() as s:
            await insert_raw(
                s,
                raw_entry(tenant_a.id, entry_id),
                [
                    raw_posting(tenant_a.id, entry_id, acc["bank"], "debit", 500),
                    raw_posting(tenant_a.id, entry_id, acc["suspense"], "credit", 400),
                ],
            )
            repo = LedgerRepository(s)
            assert await repo.unbalanced_entries(tenant_a.id) == [(entry_id, "JPY", 100)]
            assert await repo.unbalanced_entries() == [(entry_id, "JPY", 100)]
            assert await repo.unbalanced_entries(tenant_b.id) == []
            assert await repo.totals_by_currency(tenant_a.id) == {"JPY": (1_500, 1_400)}
            with pytest.raises(AssertionError, match="does not balance"):
                await assert_ledger_balances(s, tenant_a.id)
            await assert_ledger_balances(s, tenant_b.id)
            await s.rollback()
        await check_ledger(db, tenant_a, tenant_b)

    async def test_the_helper_catches_an_entry_without_postings(self, db, tenant_a):
        await post(db, tenant_a.id, CAPTURE)
        entry_id = new_id("jnl")
        async with db.sessionmaker() as s:
            await insert_raw(s, raw_entry(tenant_a.id, entry_id), [])
            # Totals and per-entry sums cannot see an empty entry; the helper's posting count does.
            assert await LedgerRepository(s).unbalanced_entries(tenant_a.id) == []
            with pytest.raises(AssertionError, match="fewer than two postings"):
                await assert_ledger_balances(s, tenant_a.id)
            await s.rollback()
        await check_ledger(db, tenant_a)
