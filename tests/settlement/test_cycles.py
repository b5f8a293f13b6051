"""Cut-offs and pay dates of each cycle over a frozen calendar: weekends, national holidays and 12/31–1/3 move a
pay date to the previous bank business day."""

from __future__ import annotations

import datetime as dt

import pytest

from domain.settlement import cycles

D = dt.date


@pytest.mark.parametrize(
    ("cycle", "cutoff", "pay"),
    [
        ("weekly", D(2026, 11, 27), D(2026, 12, 4)),  # Friday → the next Friday
        ("weekly", D(2026, 12, 25), D(2026, 12, 30)),  # next Friday is 1/1: back over 12/31 to Wednesday 12/30
        ("weekly", D(2027, 1, 8), D(2027, 1, 15)),
        ("twice_monthly", D(2026, 11, 15), D(2026, 11, 30)),  # the 15th → the month's end
        ("twice_monthly", D(2026, 11, 30), D(2026, 12, 15)),  # the month's end → the next 15th
        ("twice_monthly", D(2026, 12, 15), D(2026, 12, 30)),  # 12/31 is a bank holiday
        ("twice_monthly", D(2027, 1, 31), D(2027, 2, 15)),
        ("monthly", D(2026, 11, 30), D(2026, 12, 30)),
        ("monthly", D(2027, 1, 31), D(2027, 2, 26)),  # 2/28 is a Sunday
        ("monthly", D(2027, 3, 31), D(2027, 4, 30)),  # 4/29 昭和の日 is before; 4/30 is a Friday
    ],
)
def test_pay_dates(cycle, cutoff, pay):
    assert cycles.is_cutoff(cycle, cutoff)
    assert cycles.pay_date(cycle, cutoff) == pay


def test_cutoffs_and_periods():
    assert cycles.cutoffs("weekly", D(2026, 11, 21), D(2026, 12, 11)) == [
        D(2026, 11, 27),
        D(2026, 12, 4),
        D(2026, 12, 11),
    ]
    assert cycles.cutoffs("twice_monthly", D(2026, 12, 15), D(2027, 1, 20)) == [D(2026, 12, 31), D(2027, 1, 15)]
    assert cycles.cutoffs("monthly", D(2027, 1, 31), D(2027, 3, 30)) == [D(2027, 2, 28)]
    assert cycles.previous_cutoff("twice_monthly", D(2027, 3, 15)) == D(2027, 2, 28)
    assert cycles.previous_cutoff("monthly", D(2028, 3, 31)) == D(2028, 2, 29)
    with pytest.raises(ValueError, match="unknown cycle"):
        cycles.pay_date("daily", D(2026, 11, 27))
