"""The decision: fired signals + a policy → OK / REVIEW / NG with a score and reasons. Pure and deterministic.

``screen`` is the whole in-memory screening (signals + decision). The caller normalises the order
(``fraud.normalize.build_identity``), fetches history and list hits, and persists the decision; to keep the
signal details (counts, amounts) for the decision record, call ``evaluate_signals`` and ``decide`` separately.
"""

from __future__ import annotations

from collections.abc import Mapping

from fraud.policy import Policy
from fraud.reasons import REASONS
from fraud.signals import Detail, evaluate_signals
from fraud.types import Decision, ExternalHits, History, Identity, ListHits, OrderSnapshot, Verdict

# Memo bound: distinct combinations of fired codes seen under one policy (in practice a few thousand).
_MEMO_MAX = 65_536


def decide(signals: Mapping[str, Detail], policy: Policy) -> Decision:
    """The verdict for these fired signals under ``policy``.

    * Only enabled rules count; a code without a rule, or whose rule is disabled, has no effect at all.
    * score = sum of the weights of the enabled fired rules.
    * Verdict: a fired ``force_ng`` code → NG; else a fired ``force_ok`` code, unless a ``force_ok_unless`` code
      fired too → OK; else score ≥ ``ng_threshold`` → NG, score ≥ ``review_threshold`` → REVIEW, else OK.
    * reasons: the enabled fired codes, by weight descending, then by code (stable across runs).

    Raises ``KeyError`` for a code that is not in the catalogue (a programming error, not a policy choice).

    The decision depends only on *which* codes fired (thresholds were applied by the signals; details are for the
    record), and a policy is immutable, so decisions are memoised per policy by the fired codes: building a frozen
    ``Decision`` and sorting its reasons cost more than the whole lookup.
    """
    memo = policy.decision_memo
    key = tuple(signals)
    decision = memo.get(key)
    if decision is None:
        decision = _decide(signals, policy)
        if len(memo) >= _MEMO_MAX:
            memo.clear()
        memo[key] = decision
    return decision


def _decide(signals: Mapping[str, Detail], policy: Policy) -> Decision:
    weights = policy.weights
    fired: list[tuple[int, str]] = []
    score = 0
    for code in signals:
        weight = weights.get(code)
        if weight is None:
            if code not in REASONS:
                raise KeyError(f"unknown reason code {code!r}")
            continue
        score += weight
        fired.append((-weight, code))
    fired.sort()
    reasons = tuple(code for _, code in fired)

    if fired:
        codes = signals.keys()
        if not policy.force_ng_set.isdisjoint(codes):
            return Decision(Verdict.NG, score, reasons)
        if not policy.force_ok_set.isdisjoint(codes) and policy.force_ok_unless_set.isdisjoint(codes):
            return Decision(Verdict.OK, score, reasons)
    if score >= policy.ng_threshold:
        verdict = Verdict.NG
    elif score >= policy.review_threshold:
        verdict = Verdict.REVIEW
    else:
        verdict = Verdict.OK
    return Decision(verdict, score, reasons)


def screen(
    snapshot: OrderSnapshot,
    identity: Identity,
    history: History,
    lists: ListHits,
    external: ExternalHits,
    policy: Policy,
) -> Decision:
    """Evaluate every signal of the order and decide under ``policy``."""
    return decide(evaluate_signals(snapshot, identity, history, lists, external, policy), policy)
