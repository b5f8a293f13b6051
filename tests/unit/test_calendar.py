"""Japanese bank business days: weekends, national holidays (with substitute and citizens' holidays), 12/31–1/3."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.kit.calendar import add_business_days, is_bank_business_day, next_business_day, previous_business_day


def d(iso: str) -> dt.date:
    return dt.date.fromisoformat(iso)


# Every day of 2026 on which banks are closed although it is a weekday (the calendar the tests are frozen to).
CLOSED_WEEKDAYS_2026 = [
    "2026-01-01",  # 元日 (Thu)
    "2026-01-02",  # year-end closure (Fri)
    "2026-01-12",  # 成人の日
    "2026-02-11",  # 建国記念の日
    "2026-02-23",  # 天皇誕生日
    "2026-03-20",  # 春分の日
    "2026-04-29",  # 昭和の日
    "2026-05-04",  # みどりの日
    "2026-05-05",  # こどもの日
    "2026-05-06",  # 振替休日 for 憲法記念日 (Sunday 5/3)
    "2026-07-20",  # 海の日
    "2026-08-11",  # 山の日
    "2026-09-21",  # 敬老の日
    "2026-09-22",  # 国民の休日 (between two holidays)
    "2026-09-23",  # 秋分の日
    "2026-10-12",  # スポーツの日
    "2026-11-03",  # 文化の日
    "2026-11-23",  # 勤労感謝の日
    "2026-12-31",  # year-end closure (Thu)
]


class TestIsBankBusinessDay:
    def test_2026_weekday_closures_are_exactly_the_holidays_and_year_end(self):
        day, closed = d("2026-01-01"), []
        while day.year == 2026:
            if day.weekday() < 5 and not is_bank_business_day(day):
                closed.append(day.isoformat())
            day += dt.timedelta(days=1)
        assert closed == CLOSED_WEEKDAYS_2026

    @pytest.mark.parametrize("iso", ["2026-11-21", "2026-11-22"], ids=["saturday", "sunday"])
    def test_weekends_are_closed(self, iso):
        assert not is_bank_business_day(d(iso))

    @pytest.mark.parametrize(
        "iso",
        ["2027-01-11", "2026-11-23", "2027-03-22", "2026-05-06", "2026-09-22"],
        ids=["seijin-no-hi", "kinro-kansha", "substitute-2027", "substitute-2026", "kokumin-no-kyujitsu"],
    )
    def test_national_holidays_are_closed(self, iso):
        assert not is_bank_business_day(d(iso))

    @pytest.mark.parametrize("iso", ["2026-12-31", "2027-01-01", "2027-01-02", "2027-01-03"])
    def test_year_end_closure(self, iso):
        assert not is_bank_business_day(d(iso))

    @pytest.mark.parametrize("iso", ["2026-12-30", "2027-01-04", "2026-11-24", "2027-01-12"])
    def test_ordinary_weekdays_are_open(self, iso):
        assert is_bank_business_day(d(iso))

    @pytest.mark.parametrize("value", [dt.datetime(2026, 11, 24, 10, 0), "2026-11-24", None])
    def test_rejects_non_dates(self, value):
        with pytest.raises(TypeError, match="datetime.date"):
            is_bank_business_day(value)


class TestNextBusinessDay:
    @pytest.mark.parametrize(
        ("iso", "expected"),
        [
            ("2026-11-24", "2026-11-24"),  # already open
            ("2026-11-21", "2026-11-24"),  # Sat → Sun → Mon 勤労感謝の日 → Tue
            ("2027-01-09", "2027-01-12"),  # Sat → Sun → Mon 成人の日 → Tue
            ("2026-12-31", "2027-01-04"),  # year-end closure → Monday 1/4
            ("2025-12-31", "2026-01-05"),  # 1/4/2026 is a Sunday → Monday 1/5
            ("2026-05-02", "2026-05-07"),  # Golden Week incl. the 5/6 substitute holiday
            ("2026-09-19", "2026-09-24"),  # Silver Week: 敬老の日, 国民の休日, 秋分の日
            ("2027-03-20", "2027-03-23"),  # Sat, Sun 春分の日, Mon 振替休日
        ],
    )
    def test_first_open_day_on_or_after(self, iso, expected):
        assert next_business_day(d(iso)) == d(expected)


class TestPreviousBusinessDay:
    @pytest.mark.parametrize(
        ("iso", "expected"),
        [
            ("2026-11-24", "2026-11-24"),
            ("2026-11-23", "2026-11-20"),  # Mon holiday → Sun → Sat → Fri
            ("2027-01-03", "2026-12-30"),  # back over the year-end closure
            ("2026-05-06", "2026-05-01"),
        ],
    )
    def test_last_open_day_on_or_before(self, iso, expected):
        assert previous_business_day(d(iso)) == d(expected)


class TestAddBusinessDays:
    @pytest.mark.parametrize(
        ("iso", "n", "expected"),
        [
            ("2026-11-20", 1, "2026-11-24"),  # Fri + 1 skips the weekend and 勤労感謝の日
            ("2026-11-21", 1, "2026-11-24"),  # Sat + 1: the start day is never counted
            ("2026-12-30", 1, "2027-01-04"),
            ("2026-12-30", 2, "2027-01-05"),
            ("2026-11-24", 5, "2026-12-01"),
            ("2026-11-24", -1, "2026-11-20"),
            ("2027-01-04", -1, "2026-12-30"),
            ("2026-11-22", -1, "2026-11-20"),  # Sun − 1 → Fri
            ("2026-11-24", 0, "2026-11-24"),
            ("2026-11-21", 0, "2026-11-24"),  # 0 rolls forward to a business day
        ],
    )
    def test_counts_business_days_only(self, iso, n, expected):
        assert add_business_days(d(iso), n) == d(expected)

    @pytest.mark.parametrize("n", [1.0, True, "1"])
    def test_rejects_non_int_offsets(self, n):
        with pytest.raises(TypeError, match="must be an int"):
            add_business_days(d("2026-11-24"), n)

    @given(
        day=st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2035, 12, 31)),
        n=st.integers(min_value=1, max_value=40),
    )
    def test_forward_and_back_return_to_the_business_day(self, day, n):
        start = next_business_day(day)
        forward = add_business_days(start, n)
        assert is_bank_business_day(forward)
        assert forward > start
        assert add_business_days(forward, -n) == start
