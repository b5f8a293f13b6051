"""``bnpl fraud normalize`` and ``bnpl fraud backtest``."""

from __future__ import annotations

import asyncio
import json

from click.testing import CliRunner

from app.cli import cli
from fraud.backtest import backtest, label_of
from fraud.policy import default_policy
from tests.fixtures.factories import bearer, create_tenant


def test_normalize_keeps_the_line_count_and_blank_lines():
    lines = "東京都港区赤坂4丁目3番地2号\n\n東京都港区赤坂４－３－２\nどこか\n"
    result = CliRunner().invoke(cli, ["fraud", "normalize", "--kind", "address"], input=lines)
    assert result.exit_code == 0, result.output
    out = result.output.split("\n")[:-1]
    assert len(out) == 4
    assert out[0] == out[2] != "" and out[1] == "" and out[3] == ""


def test_normalize_phones_and_emails():
    phones = CliRunner().invoke(cli, ["fraud", "normalize", "--kind", "phone"], input="090-1234-5678\n12\n")
    assert phones.output.split("\n")[:2] == ["+819012345678", ""]
    emails = CliRunner().invoke(cli, ["fraud", "normalize", "--kind", "email"], input="Taro.Y+shop@GMail.com\n")
    assert emails.output.split("\n")[0] == "taroy@gmail.com"


def test_backtest_compares_a_stricter_policy():
    policy = default_policy()
    rows = [
        ({"signals": {"email_disposable": True}}, "OK", "decided", "fraud"),
        ({"signals": {}}, "OK", "decided", "good"),
        ({"signals": {"overseas_ip": True, "timezone_mismatch": True}}, "REVIEW", "rejected", None),
    ]
    strict = policy.model_copy(update={"review_threshold": 30, "ng_threshold": 50})
    report = backtest(rows, strict)
    assert report.current.summary()["recall"] == 0.5
    assert report.candidate.summary()["recall"] == 1.0
    assert report.changes[("OK", "REVIEW")] == 1 and report.changes[("REVIEW", "NG")] == 1
    assert label_of("approved", None) is False and label_of("decided", None) is None


async def test_backtest_command_reads_stored_screenings(committed_db, committed_client, tmp_path):
    tenant = await create_tenant(committed_db, "Backtest BNPL")
    for i, email in enumerate(["a@example.jp", "b@mailinator.com"]):
        await committed_client.post(
            "/v1/screenings",
            headers=bearer(tenant.merchant_key),
            json={
                "order_id": f"BT-{i}",
                "amount": 3000,
                "currency": "JPY",
                "buyer": {
                    "name": "山田太郎",
                    "email": email,
                    "phone": "090-1234-5678",
                    "address": "東京都港区赤坂4-3-2",
                },
            },
        )
    policy = default_policy().model_dump(mode="json")
    policy["review_threshold"], policy["ng_threshold"] = 10, 20
    path = tmp_path / "candidate.json"
    path.write_text(json.dumps(policy))
    result = await asyncio.to_thread(
        CliRunner().invoke, cli, ["fraud", "backtest", "--policy", str(path), "--operator", tenant.id, "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    assert report["current"]["screenings"] == report["candidate"]["screenings"] == 2
    assert report["candidate"]["ng_rate"] > report["current"]["ng_rate"]


def test_backtest_rejects_an_invalid_policy(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"rules": {"nope": {"weight": 1}}, "review_threshold": 1, "ng_threshold": 2}))
    result = CliRunner().invoke(cli, ["fraud", "backtest", "--policy", str(path)])
    assert result.exit_code != 0 and "nope" in result.output
