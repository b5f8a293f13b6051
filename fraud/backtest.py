"""Replay stored screenings against a candidate policy.

A screening stores the signals that fired (with their details) and the verdict the policy of the day gave. The
backtest re-decides those signals under the candidate's rule switches, weights, force lists and verdict
thresholds. Signal *parameters* (e.g. the velocity thresholds) are not replayed: they decide whether a signal
fires, and the raw personal data behind them is not kept; measure parameter changes with
``ops/bench/fraud_quality.py --input``, which screens a full labelled stream.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from fraud import engine
from fraud.policy import Policy

FLAGGED = ("REVIEW", "NG")


def label_of(status: str, outcome: str | None) -> bool | None:
    """True: fraud (confirmed, charged back, or rejected in review); False: good; None: unknown."""
    if outcome in ("fraud", "chargeback") or status == "rejected":
        return True
    if outcome == "good" or status == "approved":
        return False
    return None


@dataclass
class Scores:
    verdicts: Counter[str] = field(default_factory=Counter)
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, verdict: str, label: bool | None) -> None:
        self.verdicts[verdict] += 1
        if label is None:
            return
        flagged = verdict in FLAGGED
        if flagged and label:
            self.tp += 1
        elif flagged:
            self.fp += 1
        elif label:
            self.fn += 1
        else:
            self.tn += 1

    def summary(self) -> dict[str, Any]:
        total = sum(self.verdicts.values()) or 1
        return {
            "screenings": sum(self.verdicts.values()),
            "precision": round(self.tp / (self.tp + self.fp), 4) if self.tp + self.fp else None,
            "recall": round(self.tp / (self.tp + self.fn), 4) if self.tp + self.fn else None,
            "review_rate": round(self.verdicts["REVIEW"] / total, 4),
            "ng_rate": round(self.verdicts["NG"] / total, 4),
            "labelled": self.tp + self.fp + self.fn + self.tn,
        }


@dataclass
class BacktestReport:
    current: Scores = field(default_factory=Scores)
    candidate: Scores = field(default_factory=Scores)
    changes: Counter[tuple[str, str]] = field(default_factory=Counter)


def backtest(rows: list[tuple[dict[str, Any], str, str, str | None]], candidate: Policy) -> BacktestReport:
    """``rows``: (features, stored verdict, status, outcome) per screening, oldest first."""
    report = BacktestReport()
    for features, verdict, status, outcome in rows:
        label = label_of(status, outcome)
        new = engine.decide(features.get("signals", {}), candidate).verdict.value
        report.current.add(verdict, label)
        report.candidate.add(new, label)
        if new != verdict:
            report.changes[(verdict, new)] += 1
    return report
