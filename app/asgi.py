"""The ASGI application factory (``LITESTAR_APP=app.asgi:create_app``)."""

from __future__ import annotations

from litestar import Litestar

from app.core import ApplicationCore
from app.middleware import request_context_middleware
from app.settings import Settings, get_settings
from app.uow import Database
from app.validation import StrictPydanticPlugin, StrictPydanticSchemaPlugin


def create_app(
    settings: Settings | None = None, *, db: Database | None = None, run_background: bool = True
) -> Litestar:
    """Build the app. Tests pass their own ``db`` and ``run_background=False`` and drain the relay themselves."""
    # The strict decoder must be among the plugins Litestar is given: a plugin added later would come after
    # Litestar's default (lax) Pydantic decoder, which would then win.
    app = Litestar(
        plugins=[
            StrictPydanticPlugin(),
            StrictPydanticSchemaPlugin(),
            ApplicationCore(settings or get_settings(), db=db, run_background=run_background),
        ]
    )
    # Outermost: request ids and the access log cover 404s, 405s and errors raised by any middleware.
    app.asgi_handler = request_context_middleware(app.asgi_handler)
    return app
