"""Strict request validation.

Litestar decodes the JSON body and then calls ``model_validate`` in Python mode, where Pydantic's strict mode
would also refuse an ISO date string or an enum value. We validate in *JSON* mode instead: strict
(``"12"`` is not an amount, ``false`` is not a price) yet dates and enums arrive as JSON strings, as they must.
Write models forbid unknown fields.
"""

from __future__ import annotations

from typing import Any, cast

import msgspec
from litestar._signature.types import ExtendedMsgSpecValidationError
from litestar.plugins.pydantic import PydanticInitPlugin
from litestar.plugins.pydantic.utils import is_pydantic_model_class
from pydantic import BaseModel, ValidationError


def _decode_strict_json(model_type: type[BaseModel], value: Any) -> BaseModel:
    try:
        return model_type.model_validate_json(msgspec.json.encode(value), strict=True)
    except ValidationError as exc:
        raise ExtendedMsgSpecValidationError(
            errors=cast("list[dict[str, Any]]", exc.errors(include_input=False, include_url=False))
        ) from exc


class StrictPydanticPlugin(PydanticInitPlugin):
    @classmethod
    def decoders(cls, validate_strict: bool = False) -> list[Any]:
        return [(is_pydantic_model_class, _decode_strict_json)]
