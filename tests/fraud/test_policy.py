"""The policy format: the shipped default is valid and complete; bad policies are rejected with clear messages."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from fraud.policy import Params, Policy, RuleConfig, default_policy
from fraud.reasons import REASONS, Family, MerchantCategory, describe, merchant_category

ROOT = Path(__file__).resolve().parents[2]


def body(**changes: Any) -> dict[str, Any]:
    """The default policy as a JSON-able dict, with top-level changes."""
    return {**default_policy().model_dump(mode="json"), **changes}


def rejected(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        Policy.from_json(json.dumps(data))
    return str(info.value)


def test_the_default_policy_is_valid_and_covers_every_reason():
    policy = default_policy()
    assert set(policy.rules) == set(REASONS)
    assert 0 < policy.review_threshold < policy.ng_threshold
    assert policy.review_hours == 24
    assert policy.params == Params()  # the JSON states the model's defaults, not other numbers
    assert "allow_list" in policy.force_ok
    assert all(code.startswith(("block_list_", "negative_db_hit_")) for code in policy.force_ng)


def test_the_default_policy_is_parsed_once():
    assert default_policy() is default_policy()


def test_the_default_follows_o_plux_precedence():
    policy = default_policy()
    every_list_hit = {c for c in REASONS if c.startswith(("block_list_", "negative_db_hit_"))}
    assert set(policy.force_ok_unless) == every_list_hit
    assert {f"block_list_{k}" for k in ("address", "name", "phone", "email", "device", "ip")} <= set(policy.force_ng)


def test_unknown_rule_code_is_rejected_by_name():
    rules = {**body()["rules"], "velocity_adress_1h": {"weight": 10}}
    message = rejected(body(rules=rules))
    assert "velocity_adress_1h" in message
    assert "unknown reason code" in message


def test_unknown_forced_code_is_rejected_by_name():
    assert "'allowlist'" in rejected(body(force_ok=["allowlist"]))
    assert "'blocklist_phone'" in rejected(body(force_ng=["blocklist_phone"]))


def test_a_forced_code_needs_a_rule():
    rules = {k: v for k, v in body()["rules"].items() if k != "allow_list"}
    assert "force_ok code 'allow_list' has no entry in rules" in rejected(body(rules=rules))


def test_a_code_cannot_be_forced_both_ways():
    assert "both in force_ng and force_ok" in rejected(body(force_ok=["allow_list", "block_list_ip"]))


@pytest.mark.parametrize(("review", "ng"), [(100, 50), (50, 50), (0, 100), (-10, 100)])
def test_thresholds_out_of_order_are_rejected(review, ng):
    message = rejected(body(review_threshold=review, ng_threshold=ng))
    assert "0 < review_threshold < ng_threshold" in message
    assert f"review_threshold={review}" in message


@pytest.mark.parametrize(
    "data",
    [
        body(threshold=10),
        body(rules={**body()["rules"], "overseas_ip": {"weight": 35, "wieght": 1}}),
        body(params={**body()["params"], "velocity_adress_1h": 3}),
    ],
)
def test_unknown_fields_are_rejected(data):
    assert "Extra inputs are not permitted" in rejected(data)


@pytest.mark.parametrize("weight", ["12", 12.0, True, None])
def test_weights_are_strict_integers(weight):
    rules = {**body()["rules"], "overseas_ip": {"weight": weight}}
    message = rejected(body(rules=rules))
    assert "rules.overseas_ip.weight" in message


@pytest.mark.parametrize("weight", [-1, 1001])
def test_weights_are_in_range(weight):
    message = rejected(body(rules={**body()["rules"], "overseas_ip": {"weight": weight}}))
    assert "rules.overseas_ip.weight" in message


def test_strict_for_python_input_too():
    with pytest.raises(ValidationError):
        RuleConfig.model_validate({"weight": "12"})
    with pytest.raises(ValidationError):
        Policy.model_validate(body(review_threshold="50"))


@pytest.mark.parametrize(
    "params",
    [
        {"velocity_address_1h": 0},
        {"velocity_ip_1h": 51},  # above COUNT_CAP: could never fire
        {"high_amount": 0},
        {"domestic_ip_countries": ["jp"]},
        {"japanese_utc_offsets": ["540"]},
    ],
)
def test_bad_params_are_rejected(params):
    rejected(body(params={**body()["params"], **params}))


def test_round_trip_json_and_stored_dict():
    policy = default_policy()
    assert Policy.from_json(policy.to_json()) == policy
    assert Policy.from_json(policy.to_json().encode()) == policy
    # a stored policy body is a Python dict of JSON types: strict mode must still accept it
    assert Policy.model_validate(json.loads(policy.to_json())) == policy
    assert Policy.model_validate(policy.model_dump(mode="json")) == policy


def test_minimal_policy_uses_defaults():
    policy = Policy.from_json(
        b'{"version": 3, "rules": {"overseas_ip": {"weight": 40}}, "review_threshold": 30, "ng_threshold": 60}'
    )
    assert policy.review_hours == 24
    assert policy.params == Params()
    assert policy.force_ng == [] and policy.force_ok == []
    assert policy.rules["overseas_ip"].enabled is True


def test_policies_are_immutable_and_copies_are_validated():
    policy = default_policy()
    with pytest.raises(ValidationError):
        policy.review_threshold = 1  # type: ignore[misc]
    with pytest.raises(ValidationError):
        policy.model_copy(update={"ng_threshold": 10})
    cheaper = policy.model_copy(update={"rules": {**policy.rules, "overseas_ip": RuleConfig(weight=1)}})
    assert cheaper.weights["overseas_ip"] == 1
    assert policy.weights["overseas_ip"] == 35


def test_disabled_rules_leave_the_compiled_views():
    rules = {**default_policy().rules, "allow_list": RuleConfig(enabled=False, weight=0)}
    policy = default_policy().model_copy(update={"rules": rules})
    assert "allow_list" not in policy.weights
    assert "allow_list" not in policy.force_ok_set


# -- the catalogue and its documentation -------------------------------------------------------------------------


def test_every_reason_has_texts_a_family_and_a_coarse_category():
    for code, reason in REASONS.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", code)
        assert reason.code == code
        assert isinstance(reason.family, Family) and isinstance(reason.category, MerchantCategory)
        assert reason.en.endswith(".") and reason.ja.endswith("。")
        assert reason.text == reason.en
        assert reason.merchant_code == reason.category.value and reason.merchant_text


def test_lists_never_reach_a_merchant_in_detail():
    for code, reason in REASONS.items():
        if reason.family is Family.LISTS:
            assert reason.category is MerchantCategory.OVERALL, code


def test_describe_and_merchant_category():
    assert describe("overseas_ip").family is Family.DEVICE
    with pytest.raises(KeyError, match="no_such_code"):
        describe("no_such_code")
    assert merchant_category(("negative_db_hit_phone", "overseas_ip")) is MerchantCategory.OVERALL
    assert merchant_category(()) is None


def test_docs_table_matches_the_catalogue_and_default_weights():
    text = (ROOT / "docs" / "fraud.md").read_text(encoding="utf-8")
    rows = dict(
        (m["code"], (m["family"], int(m["weight"])))
        for m in re.finditer(r"^\| `(?P<code>[a-z0-9_]+)` \| (?P<family>\w+) \| .+? \| (?P<weight>\d+)", text, re.M)
    )
    policy = default_policy()
    assert rows == {code: (r.family.value, policy.rules[code].weight) for code, r in REASONS.items()}
