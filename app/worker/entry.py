"""The module Dramatiq worker processes import (``bnpl worker``): build the broker, declare the actors."""

from app.logging import configure_logging
from app.settings import get_settings
from app.worker.broker import build_broker

_settings = get_settings()
configure_logging(json=_settings.json_logs, level=_settings.log_level)
broker = build_broker(_settings)
