"""The screening policy: which rules count and how much, the verdict thresholds, forced verdicts, signal thresholds.

A policy is data (JSON), validated strictly: an unknown field, an unknown reason code, a string where a number
belongs or thresholds out of order are rejected with a ``pydantic.ValidationError`` that names the culprit.
The shipped default is ``fraud/data/default_policy.json`` (``default_policy()``); the format and the verdict
precedence are documented in ``docs/fraud.md``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib import resources
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fraud.reasons import REASONS
from fraud.types import COUNT_CAP


class _Strict(BaseModel):
    """Strict (no coercion: "12" is not a weight), closed (unknown fields rejected) and immutable."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Any:
        """A validated copy. (pydantic's own copy skips validation and would carry stale cached views.)"""
        fields = {name: getattr(self, name) for name in type(self).model_fields}
        return type(self).model_validate({**fields, **(update or {})})


Weight = Annotated[int, Field(ge=0, le=1000)]
# A count threshold above COUNT_CAP could never be reached: history counts stop at the cap.
CountThreshold = Annotated[int, Field(ge=1, le=COUNT_CAP)]
Amount = Annotated[int, Field(ge=1)]


class RuleConfig(_Strict):
    enabled: bool = True
    weight: Weight


class Params(_Strict):
    """Thresholds of the signals. A count rule fires when the count is **at least** its threshold.

    Counts are of *earlier* screenings (the order being screened is not counted), so ``velocity_address_1h = 2``
    fires on the third order to one address within an hour. Amounts are in minor units (yen).
    """

    velocity_address_1h: CountThreshold = 2
    velocity_phone_24h: CountThreshold = 3
    velocity_email_24h: CountThreshold = 3
    velocity_device_24h: CountThreshold = 5
    velocity_ip_1h: CountThreshold = 10
    many_names_at_address: CountThreshold = 3  # distinct other names at the delivery address, 7 d
    many_addresses_for_phone: CountThreshold = 3  # distinct other delivery addresses with the phone, 7 d
    device_shared_across_identities: CountThreshold = 3  # distinct other buyer names on the device, 7 d
    ip_shared_across_identities: CountThreshold = 5  # distinct other buyer names from the IP, 24 h
    first_order_high_amount: Amount = 30_000  # a buyer's first order at or above this
    high_amount: Amount = 50_000  # any order at or above this
    # Lists, not tuples: strict mode accepts only a list from a Python dict (a stored policy body), and the model
    # is frozen anyway. The signals read the cached frozensets below.
    domestic_ip_countries: list[str] = Field(default_factory=lambda: ["JP"])  # known ip_country outside → overseas_ip
    japanese_languages: list[str] = Field(default_factory=lambda: ["ja"])  # primary subtags fitting a JP address
    japanese_timezones: list[str] = Field(default_factory=lambda: ["Asia/Tokyo", "Japan"])  # IANA, any case
    japanese_utc_offsets: list[int] = Field(default_factory=lambda: [540])  # minutes east of UTC ("540")

    @field_validator("domestic_ip_countries")
    @classmethod
    def _countries(cls, value: list[str]) -> list[str]:
        for country in value:
            if len(country) != 2 or not country.isascii() or not country.isupper():
                raise ValueError(f"{country!r} is not an ISO 3166-1 alpha-2 code (two upper-case letters)")
        return value

    @functools.cached_property
    def domestic_ip_set(self) -> frozenset[str]:
        return frozenset(self.domestic_ip_countries)

    @functools.cached_property
    def language_set(self) -> frozenset[str]:
        return frozenset(lang.lower() for lang in self.japanese_languages)

    @functools.cached_property
    def timezone_set(self) -> frozenset[str]:
        """Accepted timezone texts, lower-cased: the IANA names and the offsets as text."""
        return frozenset(
            [tz.lower() for tz in self.japanese_timezones]
            + [str(o) for o in self.japanese_utc_offsets]
            + [f"+{o}" for o in self.japanese_utc_offsets if o >= 0]
        )

    # Memos of the signals (header text → mismatch verdict under these params). Internal, bounded by the caller.
    @functools.cached_property
    def language_memo(self) -> dict[str, bool]:
        return {}

    @functools.cached_property
    def timezone_memo(self) -> dict[str, bool]:
        return {}


class Policy(_Strict):
    """A versioned rule set. See ``docs/fraud.md`` for the format and precedence.

    Verdict: any fired ``force_ng`` code → NG; else any fired ``force_ok`` code, unless a ``force_ok_unless`` code
    also fired → OK; else score ≥ ``ng_threshold`` → NG, score ≥ ``review_threshold`` → REVIEW, else OK.
    A rule that is absent from ``rules`` or disabled has no effect at all (no score, no forcing, no reason).
    """

    version: int  # the shipped default is 0; a tenant's stored versions count up from 1
    rules: dict[str, RuleConfig]
    review_threshold: int
    ng_threshold: int
    force_ng: list[str] = Field(default_factory=list)
    force_ok: list[str] = Field(default_factory=list)
    # An allow-list hit passes unless one of these fired too (O-PLUX: a negative or block hit beats the allow list);
    # the verdict then falls through to the score.
    force_ok_unless: list[str] = Field(default_factory=list)
    review_hours: int = Field(default=24, ge=1, le=24 * 14)
    params: Params = Field(default_factory=Params)

    @field_validator("rules")
    @classmethod
    def _known_rules(cls, value: dict[str, RuleConfig]) -> dict[str, RuleConfig]:
        unknown = sorted(code for code in value if code not in REASONS)
        if unknown:
            raise ValueError(f"unknown reason code(s) in rules: {', '.join(map(repr, unknown))}")
        return value

    @field_validator("force_ng", "force_ok", "force_ok_unless")
    @classmethod
    def _known_forced(cls, value: list[str]) -> list[str]:
        unknown = [code for code in value if code not in REASONS]
        if unknown:
            raise ValueError(f"unknown reason code(s): {', '.join(map(repr, unknown))}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        if not 0 < self.review_threshold < self.ng_threshold:
            raise ValueError(
                f"thresholds must satisfy 0 < review_threshold < ng_threshold "
                f"(got review_threshold={self.review_threshold}, ng_threshold={self.ng_threshold})"
            )
        for name in ("force_ng", "force_ok", "force_ok_unless"):
            for code in getattr(self, name):
                if code not in self.rules:
                    raise ValueError(f"{name} code {code!r} has no entry in rules (a rule must exist to force)")
        both = sorted(set(self.force_ng) & set(self.force_ok))
        if both:
            raise ValueError(f"code(s) both in force_ng and force_ok: {', '.join(map(repr, both))}")
        return self

    # Compiled views for the engine: plain dicts and frozensets (cached_property: computed once, read at
    # instance-dict speed; pydantic private attributes cost microseconds per read).
    @functools.cached_property
    def weights(self) -> dict[str, int]:
        """Weight of every enabled rule."""
        return {code: rule.weight for code, rule in self.rules.items() if rule.enabled}

    @functools.cached_property
    def force_ng_set(self) -> frozenset[str]:
        return frozenset(code for code in self.force_ng if self.rules[code].enabled)

    @functools.cached_property
    def force_ok_set(self) -> frozenset[str]:
        return frozenset(code for code in self.force_ok if self.rules[code].enabled)

    @functools.cached_property
    def force_ok_unless_set(self) -> frozenset[str]:
        return frozenset(code for code in self.force_ok_unless if self.rules[code].enabled)

    @functools.cached_property
    def decision_memo(self) -> dict[tuple[str, ...], Any]:
        """``fraud.engine.decide``'s memo: fired codes (in signal order) → Decision. Internal."""
        return {}

    @classmethod
    def from_json(cls, data: bytes | str) -> Policy:
        return cls.model_validate_json(data)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


@functools.cache
def default_policy() -> Policy:
    """The shipped default policy (``fraud/data/default_policy.json``), parsed once."""
    return Policy.from_json(resources.files("fraud").joinpath("data/default_policy.json").read_bytes())
