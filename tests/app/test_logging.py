"""Logs: JSON lines in production, personal data never written."""

from __future__ import annotations

import json
import logging

from app.logging import REDACTED, configure_logging, get_logger, scrub_personal_data


def test_scrubs_personal_data_at_any_depth():
    event = scrub_personal_data(
        None,
        "info",
        {
            "event": "order",
            "email": "a@example.jp",
            "amount": 1200,
            "buyer": {"name": "山田太郎"},
            "items": [{"address": "東京都港区", "sku": "A1"}],
            "Authorization": "Bearer sk_mch_x",
        },
    )
    assert event["email"] == event["buyer"] == event["Authorization"] == REDACTED
    assert event["items"][0] == {"address": REDACTED, "sku": "A1"}
    assert event["amount"] == 1200


def test_json_logs_are_one_object_per_line_without_pii(capsys):
    configure_logging(json=True, level="INFO")
    try:
        get_logger("t").info("checkout", phone="090-1234-5678", order_id="ord_1")
        line = capsys.readouterr().err.strip().splitlines()[-1]
        record = json.loads(line)
        assert record["event"] == "checkout" and record["order_id"] == "ord_1" and record["level"] == "info"
        assert record["phone"] == REDACTED and "090-1234-5678" not in line
    finally:
        configure_logging(json=False, level="WARNING")


def test_level_filter_drops_events_below_the_level(capsys):
    configure_logging(json=True, level="WARNING")
    get_logger("t").info("quiet")
    get_logger("t").warning("loud")
    err = capsys.readouterr().err
    assert "loud" in err and "quiet" not in err
    logging.getLogger().setLevel(logging.WARNING)
