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


Limit = Annotated[
    int,
    QueryParameter(title="Page size", description=f"Items per page, 1-{MAX_LIMIT}.", ge=1, le=MAX_LIMIT),
]
StartingAfter = Annotated[
    str | None,
    QueryParameter(
        title="Cursor", description="Return items after this id (the last id of the previous page).", max_length=64
    ),
]
CreatedGte = Annotated[
    dt.datetime | None,
    QueryParameter(title="Created at or after", description="RFC 3339 timestamp."),
]
CreatedLt = Annotated[
    dt.datetime | None,
    QueryParameter(title="Created before", description="RFC 3339 timestamp."),
]


def page_request(
    limit: int, starting_after: str | None, created_gte: dt.datetime | None, created_lt: dt.datetime | None
) -> PageRequest:
    issues = [
        FieldIssue(f"query:{name}", "the timestamp needs a UTC offset (e.g. 2026-11-25T00:00:00+09:00)", "naive")
        for name, value in (("created_gte", created_gte), ("created_lt", created_lt))
        if value is not None and value.tzinfo is None
    ]
    if issues:
        raise InvalidInput("Timestamps need a UTC offset.", code="validation_error", issues=issues)
    return PageRequest(limit=limit, starting_after=starting_after, created_gte=created_gte, created_lt=created_lt)


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
