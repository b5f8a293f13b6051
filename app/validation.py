"""Strict request validation, and an OpenAPI that says so.

Litestar decodes the JSON body and then calls ``model_validate`` in Python mode, where Pydantic's strict mode
would also refuse an ISO date string or an enum value. We validate in *JSON* mode instead: strict
(``"12"`` is not an amount, ``false`` is not a price) yet dates and enums arrive as JSON strings, as they must.
Write models forbid unknown fields; their schemas say ``additionalProperties: false``. No string of a body may hold a
NUL: PostgreSQL refuses it in text, and no field of ours is binary.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import msgspec
from litestar._signature.types import ExtendedMsgSpecValidationError
from litestar.openapi.spec import Schema
from litestar.plugins.pydantic import PydanticInitPlugin, PydanticSchemaPlugin
from litestar.plugins.pydantic.utils import is_pydantic_model_class
from pydantic import BaseModel, ValidationError

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.typing import FieldDefinition


def _decode_strict_json(model_type: type[BaseModel], value: Any) -> BaseModel:
    nul = _nul_location(value, ())
    if nul is not None:
        raise ExtendedMsgSpecValidationError(
            errors=[{"type": "string_nul", "loc": nul, "msg": "Text may not contain a NUL character"}]
        )
    try:
        return model_type.model_validate_json(msgspec.json.encode(value), strict=True)
    except ValidationError as exc:
        raise ExtendedMsgSpecValidationError(
            errors=cast("list[dict[str, Any]]", exc.errors(include_input=False, include_url=False))
        ) from exc


def _nul_location(value: Any, loc: tuple[str | int, ...]) -> tuple[str | int, ...] | None:
    """The location of the first string (a value or a key) that holds a NUL, if any."""
    if isinstance(value, str):
        return loc if "\x00" in value else None
    items: Any = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(key, str) and "\x00" in key:
            return (*loc, key)
        found = _nul_location(item, (*loc, key))
        if found is not None:
            return found
    return None


class StrictPydanticPlugin(PydanticInitPlugin):
    @classmethod
    def decoders(cls, validate_strict: bool = False) -> list[Any]:
        return [(is_pydantic_model_class, _decode_strict_json)]


class StrictPydanticSchemaPlugin(PydanticSchemaPlugin):
    """Model schemas that state what the decoder enforces: ``additionalProperties: false`` for a model that forbids
    unknown fields, and the ``pattern`` of a ``Field(pattern=…)`` (Litestar reads one only from
    ``StringConstraints``)."""

    @classmethod
    def for_pydantic_model(cls, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        schema = super().for_pydantic_model(field_definition, schema_creator)
        model = field_definition.annotation
        if model.model_config.get("extra") == "forbid":
            schema.additional_properties = False
        properties = schema.properties or {}
        for name, info in model.model_fields.items():
            pattern = next((m.pattern for m in info.metadata if isinstance(getattr(m, "pattern", None), str)), None)
            prop = properties.get(info.alias or name)
            if pattern is not None and isinstance(prop, Schema) and prop.pattern is None:
                prop.pattern = pattern
        return schema
