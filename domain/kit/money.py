"""Money: an integer amount in minor units with its ISO 4217 currency. Never a float.

``Decimal`` appears only for rate math, always with an explicit rounding mode (see :func:`apply_rate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Literal

# Exponent (number of minor-unit digits) of every currency the product accepts. JPY is the home currency.
CURRENCY_EXPONENTS: dict[str, int] = {"JPY": 0, "USD": 2, "EUR": 2}

Rounding = Literal["ROUND_DOWN", "ROUND_HALF_UP", "ROUND_HALF_EVEN", "ROUND_UP"]


class CurrencyMismatch(ValueError):
    """Arithmetic between two currencies."""


@dataclass(frozen=True, slots=True, order=True)
class Money:
    """An amount in minor units (JPY: yen; USD: cents) and its currency."""

    amount: int
    currency: str

    def __post_init__(self) -> None:
        # bool is an int subclass: a JSON ``false`` must never become ¥0.
        if type(self.amount) is not int:
            raise TypeError(f"Money amount must be an int in minor units, got {type(self.amount).__name__}")
        if self.currency not in CURRENCY_EXPONENTS:
            raise ValueError(f"unsupported currency {self.currency!r}")

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"{self.currency} vs {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    @property
    def exponent(self) -> int:
        return CURRENCY_EXPONENTS[self.currency]

    def __str__(self) -> str:
        exp = self.exponent
        if exp == 0:
            return f"{self.amount:,} {self.currency}"
        sign = "-" if self.amount < 0 else ""
        whole, frac = divmod(abs(self.amount), 10**exp)
        return f"{sign}{whole:,}.{frac:0{exp}d} {self.currency}"


def apply_rate(amount: Money, rate: Decimal, rounding: Rounding = "ROUND_DOWN") -> Money:
    """``amount × rate`` rounded to a whole minor unit (default: round down, the Japanese tax convention)."""
    if not isinstance(rate, Decimal):
        raise TypeError("rate must be a Decimal")
    value = (Decimal(amount.amount) * rate).quantize(Decimal(1), rounding=rounding)
    return Money(int(value), amount.currency)


def allocate(total: Money, weights: list[int]) -> list[Money]:
    """Split ``total`` in proportion to ``weights`` so that the parts sum exactly to the total, each part within
    one minor unit of its exact share (largest remainder: the units left after truncating go to the parts whose
    exact share lost the most, the earliest first on a tie; a part whose share is exact never gets one)."""
    if not weights or any(w < 0 for w in weights) or sum(weights) == 0:
        raise ValueError("weights must be non-negative and not all zero")
    whole = sum(weights)
    size = abs(total.amount)
    # Exact integer arithmetic: Decimal division rounds at the context precision (28 digits), which once rounded
    # large quotients up and gave a part more than one unit extra.
    parts = [size * w // whole for w in weights]
    left = size - sum(parts)
    by_loss = sorted(range(len(weights)), key=lambda i: (-(size * weights[i] % whole), i))
    for i in by_loss[:left]:
        parts[i] += 1
    sign = 1 if total.amount >= 0 else -1
    return [Money(sign * p, total.currency) for p in parts]


__all__ = ["CURRENCY_EXPONENTS", "CurrencyMismatch", "Money", "ROUND_DOWN", "allocate", "apply_rate"]
