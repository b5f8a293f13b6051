"""Request/response base models and shared parameters."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, Generic, Literal, Self, TypeVar

from litestar.params import QueryParameter
from pydantic import BaseModel, ConfigDict, Field

from domain.kit.errors import FieldIssue, InvalidInput
from domain.kit.pagination import MAX_LIMIT, Page, PageRequest

T = TypeVar("T")


class WriteModel(BaseModel):
    """Every request body: strict types, unknown fields rejected."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class ReadModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ListOf(ReadModel, Generic[T]):
    object: Literal["list"] = "list"
    data: list[T]
    has_more: bool = Field(description="More items exist after the last one: pass its id as starting_after.")

    @classmethod
    def of(cls, page: Page[Any], render: Callable[[Any], T]) -> Self:
        return cls(data=[render(item) for item in page.items], has_more=page.has_more)


# The patterns of a string path or query parameter: an id (ord_…, mch_…) is printable ASCII, other text anything
# but a NUL. Either way a NUL, which PostgreSQL refuses in text, is a 422 naming the parameter, never a query.
ID_PATTERN = r"^[\x21-\x7e]+$"
TEXT_PATTERN = r"^[^\x00]*$"

Limit = Annotated[
    int,
    QueryParameter(title="Page size", description=f"Items per page, 1-{MAX_LIMIT}.", ge=1, le=MAX_LIMIT),
]
StartingAfter = Annotated[
    str | None,
    QueryParameter(
        title="Cursor",
        description="Return items after this id (the last id of the previous page).",
        max_length=64,
        pattern=ID_PATTERN,
    ),
]
# Strings parsed by ``page_request``: the query decoder would take a number ("8") for seconds since the epoch.
CreatedGte = Annotated[
    str | None,
    QueryParameter(
        title="Created at or after", description="RFC 3339 timestamp.", schema_extra={"format": "date-time"}
    ),
]
CreatedLt = Annotated[
    str | None,
    QueryParameter(title="Created before", description="RFC 3339 timestamp.", schema_extra={"format": "date-time"}),
]


def page_request(
    limit: int, starting_after: str | None, created_gte: str | None, created_lt: str | None
) -> PageRequest:
    issues: list[FieldIssue] = []
    gte = _timestamp("created_gte", created_gte, issues)
    lt = _timestamp("created_lt", created_lt, issues)
    if issues:
        raise InvalidInput("Invalid timestamp.", code="validation_error", issues=issues)
    return PageRequest(limit=limit, starting_after=starting_after, created_gte=gte, created_lt=lt)


def _timestamp(name: str, value: str | None, issues: list[FieldIssue]) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        issues.append(FieldIssue(f"query:{name}", "expected an RFC 3339 timestamp", "invalid"))
        return None
    if parsed.tzinfo is None:
        issues.append(
            FieldIssue(f"query:{name}", "the timestamp needs a UTC offset (e.g. 2026-11-25T00:00:00+09:00)", "naive")
        )
        return None
    try:
        return parsed.astimezone(dt.UTC)  # as the database compares it; 0001-01-01T00:00+09:00 is before year 1
    except OverflowError:
        issues.append(FieldIssue(f"query:{name}", "out of range", "out_of_range"))
        return None


# Not blank, and no control characters (a NUL would reach PostgreSQL, which refuses it in text).
Name = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        pattern=r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$",
        examples=["Demo Shop"],
    ),
]
