"""The collections policy and the pure dunning arithmetic, on the 2026–2027 Japanese bank calendar."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.collections.ladder import (
    DEFAULT_COLLECTIONS_POLICY,
    DEFAULT_LADDER,
    MAX_REBILLS,
    CollectionsPolicy,
    Holds,
    LadderStep,
    RebillCharges,
    charge_cap,
    current_stage,
    damages_due,
    days_past_due,
    dunning_stopped,
    is_overdue,
    last_payment_day,
    late_fee_tax,
    next_step,
    preliminary_hold_until,
    rebill_charges,
    step_date,
    steps_due,
)


def d(iso: str) -> dt.date:
    return dt.date.fromisoformat(iso)


def step(offset: int, action: str = "overdue_notice", channel: str = "email") -> LadderStep:
    return LadderStep(offset_days=offset, action=action, channel=channel)


def policy(**overrides) -> CollectionsPolicy:
    return CollectionsPolicy(**overrides)


# The default ladder for a chain due Monday 2026-11-09, by hand from the calendar:
# D+14 = 11/23 勤労感謝の日 → Tue 11/24; D+60 = Fri 2027-01-08; D+90 = Sun 2027-02-07 → Mon 2/8.
BASE_DUE = d("2026-11-09")
DEFAULT_DATES = [
    d("2026-11-06"),  # D-3 reminder (Fri)
    d("2026-11-10"),  # D+1 overdue notice
    d("2026-11-16"),  # D+7 overdue notice (Mon)
    d("2026-11-24"),  # D+14 re-bill 1, moved off the holiday
    d("2026-12-07"),  # D+28 re-bill 2
    d("2026-12-21"),  # D+42 re-bill 3
    d("2027-01-08"),  # D+60 final demand
    d("2027-02-08"),  # D+90 collection, moved off Sunday
    d("2027-03-09"),  # D+120 charge-off
]


class TestCollectionsPolicy:
    def test_defaults(self):
        p = DEFAULT_COLLECTIONS_POLICY
        assert [(s.offset_days, s.action, s.channel) for s in p.ladder] == [
            (-3, "reminder", "email"),
            (1, "overdue_notice", "email"),
            (7, "overdue_notice", "email"),
            (14, "rebill", "paper"),
            (28, "rebill", "paper"),
            (42, "rebill", "paper"),
            (60, "final_demand", "paper"),
            (90, "collection", "none"),
            (120, "charge_off", "none"),
        ]
        assert (p.rebill_due_days, p.late_fee, p.late_fee_tax_rate_percent, p.max_late_fees) == (10, 297, 10, 3)
        assert (p.damages_rate_basis_points_per_year, p.cap_basis_points_per_year) == (0, 1460)
        assert (p.small_overpayment_max, p.waive_charges_when_original_paid, p.preliminary_payment_hold_days) == (
            100,
            True,
            10,
        )

    def test_round_trips_through_json(self):
        # The policy is stored as JSON and re-validated from a dict, where the ladder is a list.
        body = DEFAULT_COLLECTIONS_POLICY.model_dump(mode="json")
        assert isinstance(body["ladder"], list)
        assert CollectionsPolicy.model_validate(body) == DEFAULT_COLLECTIONS_POLICY
        assert CollectionsPolicy.model_validate_json(DEFAULT_COLLECTIONS_POLICY.model_dump_json()).ladder == (
            DEFAULT_LADDER
        )

    def test_custom_ladder_from_a_dict(self):
        p = CollectionsPolicy.model_validate(
            {
                "ladder": [
                    {"offset_days": 0, "action": "reminder", "channel": "sms"},
                    {"offset_days": 10, "action": "rebill", "channel": "email"},
                    {"offset_days": 180, "action": "charge_off", "channel": "none"},
                ],
                "damages_rate_basis_points_per_year": 1460,
            }
        )
        assert [s.action for s in p.ladder] == ["reminder", "rebill", "charge_off"]

    def test_an_empty_ladder_disables_dunning(self):
        assert steps_due(policy(ladder=()), BASE_DUE, d("2030-01-01")) == []

    def test_is_strict_and_frozen(self):
        with pytest.raises(ValidationError, match="valid integer"):
            CollectionsPolicy.model_validate({"late_fee": "297"})
        with pytest.raises(ValidationError, match="valid integer"):
            CollectionsPolicy.model_validate({"ladder": [{"offset_days": 1.0, "action": "rebill", "channel": "paper"}]})
        with pytest.raises(ValidationError, match="Extra inputs"):
            CollectionsPolicy.model_validate({"late_fees": 297})
        with pytest.raises(ValidationError, match="frozen"):
            DEFAULT_COLLECTIONS_POLICY.late_fee = 0

    @pytest.mark.parametrize(
        ("ladder", "message"),
        [
            ([step(7), step(7)], r"strictly increase: step 1 \(D\+7 overdue_notice\) comes after step 0"),
            ([step(14), step(7)], "strictly increase"),
            (
                [step(90, "collection", "none"), step(100, "collection", "none")],
                "at most one collection",
            ),
            (
                [step(120, "charge_off", "none"), step(130, "charge_off", "none")],
                "at most one charge_off",
            ),
            (
                [step(90, "charge_off", "none"), step(120, "collection", "none")],
                "charge_off must come after collection",
            ),
            (
                [step(10 + 7 * i, "rebill", "paper") for i in range(MAX_REBILLS + 1)],
                f"10 rebill steps; at most {MAX_REBILLS}",
            ),
            (
                [step(90, "collection", "none"), step(100, "rebill", "paper")],
                r"step 1 \(D\+100 rebill\) comes after the collection step; letters stop",
            ),
            (
                [step(90, "charge_off", "none"), step(100, "final_demand", "paper")],
                "comes after the charge_off step",
            ),
        ],
        ids=[
            "equal-offsets",
            "decreasing",
            "two-collections",
            "two-charge-offs",
            "charge-off-before-collection",
            "too-many-rebills",
            "rebill-after-collection",
            "letter-after-charge-off",
        ],
    )
    def test_rejects_incoherent_ladders(self, ladder, message):
        with pytest.raises(ValidationError, match=message):
            policy(ladder=tuple(ladder))

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"offset_days": 1, "action": "reminder", "channel": "email"}, "on or before the due date"),
            ({"offset_days": 0, "action": "rebill", "channel": "paper"}, "offset_days must be at least 1"),
            ({"offset_days": -1, "action": "overdue_notice", "channel": "email"}, "at least 1"),
            ({"offset_days": 14, "action": "rebill", "channel": "none"}, "channel cannot be 'none'"),
            ({"offset_days": -31, "action": "reminder", "channel": "email"}, "greater than or equal to -30"),
            ({"offset_days": 3651, "action": "charge_off", "channel": "none"}, "less than or equal to 3650"),
            ({"offset_days": 5, "action": "phone_call", "channel": "email"}, "action"),
            ({"offset_days": 5, "action": "overdue_notice", "channel": "fax"}, "channel"),
        ],
    )
    def test_rejects_incoherent_steps(self, fields, message):
        with pytest.raises(ValidationError, match=message):
            LadderStep.model_validate(fields)

    def test_collection_and_charge_off_may_notify(self):
        assert step(90, "collection", "paper").channel == "paper"

    @pytest.mark.parametrize(
        ("overrides", "message"),
        [
            ({"damages_rate_basis_points_per_year": 1500}, "cannot exceed cap_basis_points_per_year"),
            ({"max_late_fees": MAX_REBILLS + 1}, "less than or equal to 9"),
            ({"late_fee": -1}, "greater than or equal to 0"),
            ({"rebill_due_days": 0}, "greater than or equal to 1"),
            ({"cap_basis_points_per_year": 10_001}, "less than or equal to 10000"),
        ],
    )
    def test_rejects_out_of_range_values(self, overrides, message):
        with pytest.raises(ValidationError, match=message):
            policy(**overrides)


class TestStepDate:
    def test_default_ladder_dates(self):
        assert [step_date(BASE_DUE, s) for s in DEFAULT_LADDER] == DEFAULT_DATES

    @pytest.mark.parametrize(
        ("base_due", "offset", "expected"),
        [
            ("2026-11-13", 1, "2026-11-16"),  # Sat → Mon
            ("2026-11-13", 2, "2026-11-16"),  # Sun → Mon
            ("2026-11-13", 7, "2026-11-20"),  # a weekday stays
            ("2026-12-28", 14, "2027-01-12"),  # 2027-01-11 成人の日 → Tue
            ("2026-11-09", 14, "2026-11-24"),  # 2026-11-23 勤労感謝の日 → Tue
            ("2026-12-28", 3, "2027-01-04"),  # 12/31 → 1/4
            ("2026-12-29", 3, "2027-01-04"),  # 1/1 → 1/4
            ("2025-12-17", 14, "2026-01-05"),  # 2025-12-31 → 1/4 is a Sunday → Mon 1/5
            ("2027-03-08", 14, "2027-03-23"),  # 2027-03-22 振替休日 (春分の日 on Sunday) → Tue
            ("2026-04-22", 14, "2026-05-07"),  # 2026-05-06 振替休日 ends Golden Week → Thu
        ],
    )
    def test_moves_to_the_next_bank_business_day(self, base_due, offset, expected):
        assert step_date(d(base_due), step(offset)) == d(expected)

    @pytest.mark.parametrize(
        ("base_due", "expected"),
        [
            ("2026-11-09", "2026-11-06"),  # Mon due → Fri
            ("2026-11-25", "2026-11-24"),  # Sun 11/22 → Mon 11/23 holiday → Tue 11/24
            ("2027-01-05", "2027-01-04"),  # Sat 1/2 → 1/4
        ],
    )
    def test_negative_offset_reminder(self, base_due, expected):
        assert step_date(d(base_due), step(-3, "reminder")) == d(expected)

    def test_an_overdue_step_waits_for_the_holiday_grace_to_end(self):
        # Due 12/31 (closed): the consumer may pay until Mon 2027-01-04, so the D+1 notice is on Tue 1/5, not 1/4.
        assert step_date(d("2026-12-31"), step(1)) == d("2027-01-05")
        assert step_date(d("2026-12-31"), step(4)) == d("2027-01-05")
        assert step_date(d("2026-12-31"), step(6)) == d("2027-01-06")
        # Due Sat 11/21: payable until Tue 11/24 (Mon is 勤労感謝の日); D+1 and D+2 land on Wed 11/25.
        assert step_date(d("2026-11-21"), step(1)) == d("2026-11-25")
        assert step_date(d("2026-11-21"), step(2)) == d("2026-11-25")
        # The reminder is not an overdue step: due Sat 1/2, D-0 reminder on the last payment day.
        assert step_date(d("2027-01-02"), step(0, "reminder")) == d("2027-01-04")


class TestIsOverdue:
    @pytest.mark.parametrize(
        ("base_due", "as_of", "expected"),
        [
            ("2026-11-09", "2026-11-09", False),
            ("2026-11-09", "2026-11-10", True),
            ("2026-11-21", "2026-11-23", False),  # due Sat; Mon is a holiday
            ("2026-11-21", "2026-11-24", False),  # Tue: the next business day, still on time
            ("2026-11-21", "2026-11-25", True),
            ("2026-12-31", "2027-01-04", False),
            ("2026-12-31", "2027-01-05", True),
            ("2025-12-31", "2026-01-05", False),
            ("2025-12-31", "2026-01-06", True),
            ("2026-11-09", "2026-11-01", False),
        ],
    )
    def test_only_after_the_last_payment_day(self, base_due, as_of, expected):
        assert is_overdue(d(base_due), d(as_of)) is expected

    def test_last_payment_day(self):
        assert last_payment_day(d("2026-11-09")) == d("2026-11-09")
        assert last_payment_day(d("2026-12-31")) == d("2027-01-04")


class TestDaysPastDue:
    @pytest.mark.parametrize(
        ("base_due", "as_of", "expected"),
        [
            ("2026-11-09", "2026-11-01", 0),
            ("2026-11-09", "2026-11-09", 0),
            ("2026-11-09", "2026-11-10", 1),
            ("2026-11-09", "2026-11-23", 14),
            ("2026-11-21", "2026-11-24", 0),  # paid within the holiday grace: not late
            ("2026-11-21", "2026-11-25", 4),  # late: counted from the due date itself
        ],
    )
    def test_counts_from_the_due_date_once_overdue(self, base_due, as_of, expected):
        assert days_past_due(d(base_due), d(as_of)) == expected


class TestStepsDue:
    @pytest.mark.parametrize("i", range(len(DEFAULT_LADDER)))
    def test_before_at_and_after_each_step(self, i):
        on = DEFAULT_DATES[i]
        before = steps_due(DEFAULT_COLLECTIONS_POLICY, BASE_DUE, on - dt.timedelta(days=1))
        at = steps_due(DEFAULT_COLLECTIONS_POLICY, BASE_DUE, on)
        after = steps_due(DEFAULT_COLLECTIONS_POLICY, BASE_DUE, on + dt.timedelta(days=1))
        assert [index for index, _ in before] == list(range(i))
        assert [index for index, _ in at] == list(range(i + 1))
        assert [index for index, _ in after] == list(range(i + 1))
        assert at[-1] == (i, DEFAULT_LADDER[i])

    def test_none_before_the_reminder(self):
        assert steps_due(DEFAULT_COLLECTIONS_POLICY, BASE_DUE, d("2026-11-05")) == []

    def test_all_long_after(self):
        assert len(steps_due(DEFAULT_COLLECTIONS_POLICY, BASE_DUE, d("2030-01-01"))) == len(DEFAULT_LADDER)

    def test_steps_sharing_a_date_are_reached_together_in_order(self):
        # Due Wed 2026-12-23: D+8 = 12/31, D+9 = 1/1, D+10 = 1/2 all act on Mon 2027-01-04.
        p = policy(ladder=(step(8), step(9), step(10, "rebill", "paper"), step(12)))
        base = d("2026-12-23")
        assert steps_due(p, base, d("2026-12-31")) == []
        assert [i for i, _ in steps_due(p, base, d("2027-01-04"))] == [0, 1, 2, 3]


class TestNextStep:
    def test_the_first_step_not_reached(self):
        assert next_step(DEFAULT_COLLECTIONS_POLICY, BASE_DUE, d("2026-11-16")) == (
            3,
            DEFAULT_LADDER[3],
            d("2026-11-24"),
        )

    def test_none_when_the_ladder_is_done(self):
        assert next_step(DEFAULT_COLLECTIONS_POLICY, BASE_DUE, d("2027-03-09")) is None


class TestDunningStopped:
    AS_OF = d("2026-11-30")

    def test_no_holds(self):
        assert dunning_stopped(Holds(), self.AS_OF) is None

    @pytest.mark.parametrize(
        ("holds", "reason"),
        [
            (Holds(paid=True), "paid"),
            (Holds(cancelled=True), "cancelled"),
            (Holds(dispute_hold=True), "dispute"),
            (Holds(payment_pending_until=d("2026-12-05")), "payment_pending"),
            (Holds(payment_pending_until=d("2026-11-30")), "payment_pending"),
            (Holds(promise_to_pay_date=d("2026-12-05")), "promise_to_pay"),
            (Holds(promise_to_pay_date=d("2026-11-30")), "promise_to_pay"),  # due today: still waiting
            (Holds(paid=True, dispute_hold=True, promise_to_pay_date=d("2026-12-05")), "paid"),
            (Holds(dispute_hold=True, payment_pending_until=d("2026-12-05")), "dispute"),
        ],
    )
    def test_reason(self, holds, reason):
        assert dunning_stopped(holds, self.AS_OF) == reason

    @pytest.mark.parametrize(
        "holds",
        [Holds(promise_to_pay_date=d("2026-11-29")), Holds(payment_pending_until=d("2026-11-29"))],
        ids=["broken-promise", "lapsed-preliminary"],
    )
    def test_past_holds_no_longer_stop(self, holds):
        assert dunning_stopped(holds, self.AS_OF) is None

    def test_preliminary_hold_until(self):
        assert preliminary_hold_until(DEFAULT_COLLECTIONS_POLICY, d("2026-11-20")) == d("2026-11-30")
        assert preliminary_hold_until(policy(preliminary_payment_hold_days=0), d("2026-11-20")) == d("2026-11-20")


class TestCurrentStage:
    def test_last_reached_step(self):
        assert current_stage(DEFAULT_COLLECTIONS_POLICY, BASE_DUE, d("2026-12-08"), holds=Holds()) == (
            4,
            DEFAULT_LADDER[4],
        )

    def test_none_before_the_first_step(self):
        assert current_stage(DEFAULT_COLLECTIONS_POLICY, BASE_DUE, d("2026-11-05"), holds=Holds()) is None

    def test_none_while_a_hold_stops_dunning(self):
        holds = Holds(promise_to_pay_date=d("2026-12-10"))
        assert current_stage(DEFAULT_COLLECTIONS_POLICY, BASE_DUE, d("2026-12-08"), holds=holds) is None

    def test_resumes_where_the_calendar_is_when_a_promise_is_broken(self):
        holds = Holds(promise_to_pay_date=d("2026-12-10"))
        stage = current_stage(DEFAULT_COLLECTIONS_POLICY, BASE_DUE, d("2026-12-21"), holds=holds)
        assert stage == (5, DEFAULT_LADDER[5])


class TestChargeCap:
    @pytest.mark.parametrize(
        ("principal", "days", "expected"),
        [
            (10_000, 14, 56),  # 10000×1460×14 / 3,650,000 = 56.0
            (55_000, 14, 308),  # 308.0
            (55_000, 28, 616),
            (55_000, 42, 924),
            (55_000, 365, 8_030),  # a full year: 14.6 %
            (9_999, 1, 3),  # 3.9995… rounded down
            (55_000, 0, 0),
            (55_000, -3, 0),  # not yet due
            (0, 30, 0),
        ],
    )
    def test_floor_per_day_on_365(self, principal, days, expected):
        assert charge_cap(principal, days, 1460) == expected

    def test_rejects_negative_principal_and_non_int(self):
        with pytest.raises(ValueError, match="principal_overdue cannot be negative"):
            charge_cap(-1, 14, 1460)
        with pytest.raises(TypeError, match="must be an int"):
            charge_cap(10_000.0, 14, 1460)


class TestDamagesDue:
    def test_rate_per_day(self):
        assert damages_due(55_000, 14, 1460) == 308
        assert damages_due(55_000, 14, 300) == 63  # 3 %/yr: 63.29…
        assert damages_due(55_000, 14, 0) == 0


class TestRebillCharges:
    def charges(self, p=DEFAULT_COLLECTIONS_POLICY, *, principal, days, fees=0, count=0, damages=0):
        return rebill_charges(
            p,
            principal_overdue=principal,
            days_overdue=days,
            late_fees_so_far=fees,
            fees_count=count,
            damages_so_far=damages,
        )

    def test_fee_capped_on_a_small_principal(self):
        # ¥10,000 at D+14: cap 56, so the ¥297 fee becomes ¥56.
        assert self.charges(principal=10_000, days=14) == RebillCharges(late_fee=56, damages=0)

    def test_three_full_fees_on_55000(self):
        assert self.charges(principal=55_000, days=14) == (297, 0)  # cap 308
        assert self.charges(principal=55_000, days=28, fees=297, count=1) == (297, 0)  # 594 ≤ 616
        assert self.charges(principal=55_000, days=42, fees=594, count=2) == (297, 0)  # 891 ≤ 924

    def test_never_more_than_max_late_fees(self):
        assert self.charges(principal=1_000_000, days=56, fees=891, count=3) == (0, 0)
        assert self.charges(policy(max_late_fees=1), principal=55_000, days=28, fees=297, count=1) == (0, 0)

    def test_remaining_room_only(self):
        # ¥30,000 at D+28: cap 336; 297 already billed → 39 left.
        assert self.charges(principal=30_000, days=28, fees=297, count=1) == (39, 0)

    def test_damages_eat_the_cap_first(self):
        full_rate = policy(damages_rate_basis_points_per_year=1460)
        assert self.charges(full_rate, principal=55_000, days=14) == (0, 308)
        # Later re-bills bill only the damages accrued since: 616 − 308.
        assert self.charges(full_rate, principal=55_000, days=28, damages=308) == (0, 308)

    def test_damages_then_fee_within_the_cap(self):
        # 3 %/yr: damages 63 at D+14, leaving 245 of the 308 cap for the fee.
        assert self.charges(policy(damages_rate_basis_points_per_year=300), principal=55_000, days=14) == (245, 63)

    def test_nothing_when_over_the_cap_already(self):
        # Principal reduced by a partial payment after fees were billed: the room is negative, not a refund.
        assert self.charges(principal=5_000, days=14, fees=297, count=1) == (0, 0)

    def test_free_re_bills(self):
        assert self.charges(policy(late_fee=0), principal=55_000, days=14) == (0, 0)

    def test_rejects_negative_history(self):
        with pytest.raises(ValueError, match="late_fees_so_far cannot be negative"):
            self.charges(principal=55_000, days=14, fees=-1)

    @given(
        principal=st.integers(min_value=0, max_value=1_000_000),
        days=st.integers(min_value=-30, max_value=3650),
        rate=st.integers(min_value=0, max_value=1460),
        fees=st.integers(min_value=0, max_value=5_000),
        count=st.integers(min_value=0, max_value=5),
        damages=st.integers(min_value=0, max_value=5_000),
    )
    def test_never_negative_and_never_above_the_cap(self, principal, days, rate, fees, count, damages):
        p = policy(damages_rate_basis_points_per_year=rate)
        fee, new_damages = self.charges(p, principal=principal, days=days, fees=fees, count=count, damages=damages)
        assert fee >= 0 and new_damages >= 0
        assert fee <= (p.late_fee if count < p.max_late_fees else 0)
        cap = charge_cap(principal, days, p.cap_basis_points_per_year)
        if fees + damages <= cap:
            assert fees + damages + fee + new_damages <= cap
        else:
            assert fee == new_damages == 0


class TestLateFeeTax:
    @pytest.mark.parametrize(
        ("fee", "rate", "expected"),
        [(297, 10, 27), (56, 10, 5), (297, 8, 22), (0, 10, 0), (297, 0, 0), (110, 10, 10)],
    )
    def test_tax_included_rounded_down(self, fee, rate, expected):
        assert late_fee_tax(fee, rate) == expected
