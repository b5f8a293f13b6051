"""The decision: score, thresholds, forced verdicts and their precedence, reasons order, determinism."""

from __future__ import annotations

import random
from typing import Any

import pytest

from fraud.engine import decide, screen
from fraud.policy import Policy, RuleConfig, default_policy
from fraud.signals import evaluate_signals
from fraud.types import Decision, IdKind, Verdict, Window
from tests.fraud import screening_builders as b

POLICY = default_policy()


def run(policy: Policy = POLICY, **parts: Any) -> Decision:
    return screen(
        parts.get("snapshot", b.snapshot()),
        parts.get("identity", b.identity()),
        parts.get("history", b.history()),
        parts.get("lists", b.lists()),
        parts.get("external", b.external()),
        policy,
    )


def with_rules(policy: Policy = POLICY, **rules: RuleConfig) -> Policy:
    return policy.model_copy(update={"rules": {**policy.rules, **rules}})


FOREIGN_DEVICE = b.snapshot(accept_language="zh-CN,zh;q=0.9", timezone="Asia/Shanghai")  # language + timezone: 35


def test_a_clean_order_is_ok_with_score_zero():
    assert run() == Decision(Verdict.OK, 0, ())


def test_a_velocity_ring_is_ng():
    ring = b.history(
        {(IdKind.ADDRESS, Window.HOUR): 6, (IdKind.DEVICE, Window.DAY): 8},
        names_at_address=5,
        identities_for_device=4,
        prior_orders=0,
    )
    decision = run(history=ring)
    assert decision.verdict is Verdict.NG
    assert decision.score == 30 + 30 + 40 + 30
    assert decision.reasons == (
        "many_names_at_address",
        "device_shared_across_identities",
        "velocity_address_1h",
        "velocity_device_24h",
    )


def test_a_small_ring_is_review():
    small = b.history({(IdKind.ADDRESS, Window.HOUR): 2}, names_at_address=3)
    decision = run(history=small)
    assert decision == Decision(Verdict.REVIEW, 70, ("many_names_at_address", "velocity_address_1h"))


def test_foreign_impersonation_is_review():
    decision = run(snapshot=FOREIGN_DEVICE, identity=b.identity(ip_country="CN"))
    assert decision == Decision(Verdict.REVIEW, 70, ("overseas_ip", "timezone_mismatch", "language_mismatch"))


def test_block_list_is_ng_even_with_the_allow_list():
    decision = run(lists=b.lists(allow={IdKind.EMAIL}, block={IdKind.PHONE}))
    assert decision.verdict is Verdict.NG
    assert decision.reasons == ("block_list_phone", "allow_list")


def test_negative_hit_is_ng():
    decision = run(lists=b.lists(negative={IdKind.PHONE}))
    assert decision == Decision(Verdict.NG, 100, ("negative_db_hit_phone",))
    assert run(lists=b.lists(negative={IdKind.EMAIL}, allow={IdKind.EMAIL})).verdict is Verdict.NG


def test_a_weak_negative_hit_suspends_the_allow_list_and_the_score_decides():
    # negative address (a whole building: room excluded from the key) is not forced, but it beats the allow list
    decision = run(lists=b.lists(negative={IdKind.ADDRESS}, allow={IdKind.PHONE}))
    assert decision == Decision(Verdict.REVIEW, 60, ("negative_db_hit_address", "allow_list"))
    assert run(lists=b.lists(negative={IdKind.NAME}, allow={IdKind.PHONE})).verdict is Verdict.OK  # 15 < 50


def test_allow_list_is_ok_despite_moderate_signals():
    parts = {"snapshot": FOREIGN_DEVICE, "identity": b.identity(ip_country="CN"), "external": b.external("hotel")}
    assert run(**parts).verdict is Verdict.NG  # 70 + 35
    decision = run(**parts, lists=b.lists(allow={IdKind.PHONE}))
    assert decision.verdict is Verdict.OK
    assert decision.score == 105  # the score is still reported: operators see what the allow list overrode
    assert decision.reasons[-1] == "allow_list"


def test_a_disabled_rule_does_not_count():
    parts = {"snapshot": FOREIGN_DEVICE, "identity": b.identity(ip_country="CN")}
    policy = with_rules(overseas_ip=RuleConfig(enabled=False, weight=35))
    assert run(policy, **parts) == Decision(Verdict.OK, 35, ("timezone_mismatch", "language_mismatch"))


def test_a_disabled_forced_rule_does_not_force():
    policy = with_rules(block_list_ip=RuleConfig(enabled=False, weight=100))
    assert run(policy, lists=b.lists(block={IdKind.IP})) == Decision(Verdict.OK, 0, ())
    policy = with_rules(allow_list=RuleConfig(enabled=False, weight=0))
    parts = {"snapshot": FOREIGN_DEVICE, "identity": b.identity(ip_country="CN"), "lists": b.lists(allow={IdKind.IP})}
    assert run(policy, **parts).verdict is Verdict.REVIEW


def test_a_code_without_a_rule_has_no_effect():
    policy = Policy.from_json(
        b'{"version": 1, "rules": {"overseas_ip": {"weight": 60}}, "review_threshold": 50, "ng_threshold": 100}'
    )
    assert decide({"overseas_ip": True, "bot_user_agent": True}, policy) == Decision(
        Verdict.REVIEW, 60, ("overseas_ip",)
    )


def test_unknown_codes_are_a_programming_error():
    with pytest.raises(KeyError, match="no_such_signal"):
        decide({"no_such_signal": True}, POLICY)


@pytest.mark.parametrize(
    ("score", "verdict"), [(49, Verdict.OK), (50, Verdict.REVIEW), (99, Verdict.REVIEW), (100, Verdict.NG)]
)
def test_thresholds_are_inclusive(score, verdict):
    policy = with_rules(overseas_ip=RuleConfig(weight=score))
    assert decide({"overseas_ip": True}, policy).verdict is verdict


def test_reasons_by_weight_then_code():
    signals = {
        "missing_user_agent": True,
        "high_amount": 60_000,
        "phone_ip_phone": True,
        "overseas_ip": True,
        "language_mismatch": True,
        "shipping_name_differs": True,
    }
    decision = decide(signals, POLICY)
    assert decision.reasons == (
        "overseas_ip",  # 35
        "language_mismatch",  # 15, ties by code
        "phone_ip_phone",  # 15
        "high_amount",  # 10
        "missing_user_agent",  # 10
        "shipping_name_differs",  # 10
    )
    assert decision.score == 95


def test_deterministic_and_independent_of_signal_order():
    signals = evaluate_signals(
        FOREIGN_DEVICE,
        b.identity(ip_country="CN", phone=None),
        b.history(names_at_address=9),
        b.lists(negative={IdKind.IP}),
        b.external("po_box", "hotel"),
        POLICY,
    )
    first = decide(signals, POLICY)
    items = list(signals.items())
    rng = random.Random(7)
    for _ in range(20):
        rng.shuffle(items)
        assert decide(dict(items), POLICY) == first
    assert (
        screen(
            FOREIGN_DEVICE,
            b.identity(ip_country="CN", phone=None),
            b.history(names_at_address=9),
            b.lists(negative={IdKind.IP}),
            b.external("hotel", "po_box"),
            POLICY,
        )
        == first
    )


def test_screen_is_evaluate_then_decide():
    parts = (
        b.snapshot(amount=40_000),
        b.identity(shipping_address=b.address(b.ELSEWHERE)),
        b.history(),
        b.lists(),
        b.external("weekly_mansion"),
    )
    assert screen(*parts, POLICY) == decide(evaluate_signals(*parts, POLICY), POLICY)
    assert screen(*parts, POLICY) == Decision(
        Verdict.REVIEW, 80, ("address_weekly_mansion", "first_order_high_amount", "shipping_differs_new_address")
    )


def test_stored_signals_replay_through_decide():
    # a decision record keeps the signals as JSON; a backtest replays them under another policy
    import json

    signals = evaluate_signals(
        FOREIGN_DEVICE, b.identity(ip_country="CN"), b.history(), b.lists(), b.external(), POLICY
    )
    stored = json.loads(json.dumps(signals))
    assert decide(stored, POLICY) == decide(signals, POLICY)
    stricter = POLICY.model_copy(update={"review_threshold": 20, "ng_threshold": 60})
    assert decide(stored, stricter).verdict is Verdict.NG
