"""OpenAPI: the schema at /schema/openapi.json, interactive docs at /docs (→ /schema/swagger)."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import (
    Components,
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Schema,
    SecurityScheme,
    Tag,
)

DESCRIPTION = """\
A multi-tenant 後払い (BNPL) platform with an embedded fraud engine.

* **checkout** (`/v1`, merchant keys `sk_mch_…`): what an EC merchant integrates.
* **admin** (`/admin/v1`, operator admin keys `sk_admin_…`): what a BNPL operator runs its business with.
* **billing** (finance keys `sk_fin_…`): exports and the ledger.
* **platform** (`/platform/v1`, platform keys `sk_plat_…`): operators (tenants).

Authenticate with `Authorization: Bearer <key>`. Amounts are integers in minor units with an ISO 4217 currency.
Every error is RFC 9457 problem details with a stable `code`. Creating and money-moving POSTs accept an
`Idempotency-Key` header.
"""


def openapi_config(version: str) -> OpenAPIConfig:
    return OpenAPIConfig(
        title="BNPL platform API",
        version=version,
        description=DESCRIPTION,
        path="/schema",
        render_plugins=[JsonRenderPlugin(), SwaggerRenderPlugin(path="/swagger"), ScalarRenderPlugin()],
        use_handler_docstrings=True,
        create_examples=False,
        components=Components(
            security_schemes={
                "ApiKey": SecurityScheme(type="http", scheme="bearer", description="An API key: sk_<role>_…"),
            }
        ),
        security=[{"ApiKey": []}],
        tags=[
            Tag(name="checkout", description="Merchant API"),
            Tag(name="admin", description="Operator admin API"),
            Tag(name="billing", description="Finance: ledger and exports"),
            Tag(name="platform", description="Platform API: tenants"),
            Tag(name="ops", description="Health, readiness, metrics"),
        ],
    )


# Litestar documents one media type per response (the handler's) and leaves an operation's ``security`` out when it
# is empty; these operation classes (a handler's ``operation_class``) say the rest.


@dataclass
class PublicOperation(Operation):
    """An operation that needs no API key (``security: []`` overrides the document's default)."""

    def __post_init__(self) -> None:
        self.security = []


def also_served_as(*media_types: str) -> type[Operation]:
    """An operation whose success response may also be a file in one of ``media_types`` (``?format=``)."""

    @dataclass
    class FileAlternatives(Operation):
        def __post_init__(self) -> None:
            for status, response in (self.responses or {}).items():
                if status.startswith("2") and isinstance(response, OpenAPIResponse):
                    file = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
                    response.content = {
                        **(response.content or {}),
                        **{media_type: OpenAPIMediaType(schema=file) for media_type in media_types},
                    }

    return FileAlternatives
