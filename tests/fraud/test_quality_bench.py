"""The quality benchmark (ops/bench/fraud_quality.py): its generator, its in-memory history, its JSONL format, and
that the default policy beats the amount-only baseline. No database."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import sys
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from fraud.normalize import build_identity, key_without_prefecture, normalize_address
from fraud.policy import default_policy
from fraud.types import COUNT_CAP, IdKind, Window

_PATH = Path(__file__).resolve().parents[2] / "ops" / "bench" / "fraud_quality.py"
_spec = importlib.util.spec_from_file_location("fraud_quality", _PATH)
assert _spec is not None and _spec.loader is not None
fq = importlib.util.module_from_spec(_spec)
sys.modules["fraud_quality"] = fq  # dataclasses look their module up by name
_spec.loader.exec_module(fq)

T0 = dt.datetime(2026, 11, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))
SMALL = 3_000  # orders in the stream the quality assertions run on (about 1 s to generate and screen)


@pytest.fixture(scope="module")
def small_records() -> list[dict[str, Any]]:
    return fq.SyntheticStream(42, SMALL).records()


@pytest.fixture(scope="module")
def small_results(small_records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    orders = [fq.parse_record(r) for r in small_records]
    return {name: t.summary() for name, t in fq.screen_stream(orders, {"default": default_policy()}).items()}


def at(minutes: float = 0, *, days: float = 0) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes, days=days)


def keys(**parts: str) -> dict[IdKind, str]:
    return {IdKind(kind): value for kind, value in parts.items()}


# -- the generator ---------------------------------------------------------------------------------------------


def test_the_generator_is_deterministic_for_a_seed() -> None:
    first = fq.SyntheticStream(7, 500).records()
    assert fq.SyntheticStream(7, 500).records() == first
    assert fq.SyntheticStream(8, 500).records() != first


def test_the_stream_is_mostly_good_in_time_order_with_every_pattern(small_records: list[dict[str, Any]]) -> None:
    assert len(small_records) == SMALL
    times = [dt.datetime.fromisoformat(r["time"]) for r in small_records]
    assert times == sorted(times)
    assert (times[-1] - times[0]) < dt.timedelta(days=31)
    fraud = [r for r in small_records if r["label"] == "fraud"]
    assert len(fraud) / SMALL <= 0.10
    assert {r["pattern"] for r in fraud} == set(fq.FRAUD_SHARES)
    good_patterns = {r["pattern"] for r in small_records if r["label"] == "good"}
    assert {"office", "hotel", "expat", "gift", "household", "carrier_nat", "regular"} <= good_patterns
    assert len({r["order"]["order_id"] for r in small_records}) == SMALL


def test_every_spelling_of_a_place_has_one_key() -> None:
    """The stream's premise: the ways it writes an address (丁目/番地/hyphens/full width/kanji/の, buildings,
    postal codes) are one place to 名寄せ (a missing prefecture aside, which the normaliser keeps apart on purpose)."""
    stream = fq.SyntheticStream(3, 200)
    places = [stream._place() for _ in range(60)] + [p for ps in stream._external.values() for p in ps]
    for place in places:
        seen = set()
        for _ in range(30):
            postal, text = stream._write_address(place, ring=True, no_prefecture=0.2)
            address = normalize_address(text, postal)
            assert address.parsed, text
            seen.add(key_without_prefecture(address))
        assert len(seen) == 1, (place, seen)


# -- the in-memory history: what FraudRepository.history answers ------------------------------------------------


def test_three_orders_at_one_address_within_an_hour_count_two_for_the_third() -> None:
    history = fq.MemoryHistory()
    spellings = ["東京都港区赤坂4丁目3番地2号", "東京都港区赤坂４－３－２", "東京都港区赤坂四丁目三番二号 501号室"]
    results = []
    for i, address in enumerate(spellings):
        order = fq.parse_record(
            {
                "time": at(20 * i).isoformat(),
                "label": "fraud",
                "order": {
                    "order_id": f"o{i}",
                    "amount": 5000,
                    "currency": "JPY",
                    "buyer": {"name": f"名前 {i}", "name_kana": f"ナマエ {'イロハ'[i]}", "address": address},
                },
            }
        )
        k = build_identity(order.snapshot).keys()
        results.append(history.history(k, order.time))
        history.record(k, order.time)
    assert [h.count(IdKind.ADDRESS, Window.HOUR) for h in results] == [0, 1, 2]
    assert [h.names_at_address for h in results] == [0, 1, 2]
    assert results[0].counts == {}  # no earlier screening: the repository returns no row for the kind


def test_windows_are_inclusive_and_a_kind_without_rows_in_seven_days_is_absent() -> None:
    history = fq.MemoryHistory()
    history.record(keys(address="A", ip="1.1.1.1"), at(days=-8))
    history.record(keys(address="A"), at(days=-7))  # exactly 7 d: within (created_at >= now - 7 d)
    history.record(keys(address="A"), at(-60 * 24))  # exactly 24 h
    history.record(keys(address="A"), at(-61))
    history.record(keys(address="A"), at(-60))  # exactly 1 h
    h = history.history(keys(address="A", ip="1.1.1.1"), at())
    assert h.count(IdKind.ADDRESS, Window.HOUR) == 1
    assert h.count(IdKind.ADDRESS, Window.DAY) == 3
    assert h.count(IdKind.ADDRESS, Window.WEEK) == 4
    assert not any(kind is IdKind.IP for kind, _ in h.counts)  # the IP's only screening is 8 days old


def test_counts_and_links_are_capped_at_the_latest_count_cap_screenings() -> None:
    history = fq.MemoryHistory()
    for i in range(COUNT_CAP + 10):
        history.record(keys(address="A", name=f"N{i}", phone=f"+8190{i:08d}"), at(i / 10))
    h = history.history(keys(address="A", name="N0"), at(10))
    assert h.count(IdKind.ADDRESS, Window.HOUR) == COUNT_CAP
    assert h.count(IdKind.ADDRESS, Window.WEEK) == COUNT_CAP
    # Distinct other names among the latest COUNT_CAP screenings: N10..N59 (N0, the order's own, is not among them).
    assert h.names_at_address == COUNT_CAP
    h = history.history(keys(address="A", name="N59"), at(10))
    assert h.names_at_address == COUNT_CAP - 1  # its own name is not counted


def test_links_count_distinct_other_names_and_addresses_in_their_windows() -> None:
    history = fq.MemoryHistory()
    history.record(keys(device="d", ip="ip", name="X", phone="+1", address="A1"), at(days=-3))
    history.record(keys(device="d", ip="ip", name="Y", phone="+1", address="A2"), at(-120))
    history.record(keys(device="d", ip="ip", name="Y", phone="+1", address="A2"), at(-90))
    history.record(keys(device="d", ip="ip", name="Z", phone="+1", address="A3"), at(-30))
    history.record(keys(device="d", ip="ip", phone="+1"), at(-20))  # no name, no address: adds nothing
    h = history.history(keys(device="d", ip="ip", name="Z", phone="+1", address="A1"), at())
    assert h.identities_for_device == 2  # X and Y in 7 d, not Z (its own)
    assert h.identities_for_ip == 1  # only Y within 24 h (X is 3 days old), not Z
    assert h.addresses_for_phone == 2  # A2, A3 (A1 is its own)
    h = history.history(keys(device="d"), at())  # an order without a name counts every name
    assert h.identities_for_device == 3


def test_prior_orders_and_known_address_use_phone_or_email_at_any_time() -> None:
    history = fq.MemoryHistory()
    history.record(keys(phone="+1", address="HOME"), at(days=-100))
    history.record(keys(email="e@x", address="GIFT"), at(days=-50))
    history.record(keys(phone="+1", email="e@x", address="HOME"), at(days=-1))  # one screening, both keys
    history.record(keys(phone="+2", address="ELSEWHERE"), at(days=-1))
    h = history.history(keys(phone="+1", email="e@x", address="GIFT"), at())
    assert h.prior_orders == 3
    assert h.address_known_for_buyer
    assert not history.history(keys(phone="+1", address="ELSEWHERE"), at()).address_known_for_buyer
    assert not history.history(keys(address="HOME"), at()).address_known_for_buyer  # no phone or e-mail
    assert history.history(keys(email="other@x"), at()).prior_orders == 0


def test_screenings_must_be_recorded_in_time_order() -> None:
    history = fq.MemoryHistory()
    history.record(keys(address="A"), at(10))
    history.record(keys(address="A"), at(10))  # the same instant is fine
    with pytest.raises(ValueError, match="time order"):
        history.record(keys(address="A"), at(5))


def test_confirmed_fraud_joins_the_negative_database_after_the_feedback_delay() -> None:
    def order(day: float, label: str, name: str) -> Any:
        return fq.parse_record(
            {
                "time": at(days=day).isoformat(),
                "label": label,
                "order": {
                    "order_id": name,
                    "amount": 3000,
                    "currency": "JPY",
                    "buyer": {"name": name, "phone": "090-1234-5678", "address": f"東京都港区赤坂{int(day) + 1}-1-1"},
                },
            }
        )

    orders = [order(0, "fraud", "甲"), order(6, "good", "乙"), order(8, "good", "丙")]
    tally = fq.screen_stream(orders, {"default": default_policy()})["default"]
    assert tally.scores.verdicts["NG"] == 1  # the order on day 8: negative_db_hit_phone forces NG
    assert tally.false_positive_reasons["negative_db_hit_phone"] == 1
    off = fq.screen_stream(orders, {"default": default_policy()}, feedback=None)["default"]
    assert off.scores.verdicts["NG"] == 0


# -- the JSONL format ------------------------------------------------------------------------------------------


def test_a_written_sample_reads_back_to_identical_metrics(
    tmp_path: Path, small_records: list[dict[str, Any]], small_results: dict[str, dict[str, Any]]
) -> None:
    path = tmp_path / "sample.jsonl"
    assert fq.write_jsonl(path, small_records) == SMALL
    read = fq.read_jsonl(path)
    assert read == [fq.parse_record(r) for r in small_records]
    again = {name: t.summary() for name, t in fq.screen_stream(read, {"default": default_policy()}).items()}
    assert again == small_results


def test_the_command_line_writes_reads_and_compares_a_candidate(tmp_path: Path, capsys: Any) -> None:
    sample, candidate = tmp_path / "s.jsonl", tmp_path / "strict.json"
    body = json.loads(files("fraud").joinpath("data/default_policy.json").read_text(encoding="utf-8"))
    body["review_threshold"] = 30
    candidate.write_text(json.dumps(body), encoding="utf-8")
    assert fq.main(["--orders", "300", "--seed", "5", "--write-sample", str(sample), "--json"]) == 0
    written = json.loads(capsys.readouterr().out)
    assert fq.main(["--input", str(sample), "--policy", str(candidate), "--json"]) == 0
    read = json.loads(capsys.readouterr().out)
    assert read["results"]["default"] == written["results"]["default"]
    assert read["results"]["baseline"] == written["results"]["baseline"]
    assert read["results"]["strict"]["flagged_rate"] >= read["results"]["default"]["flagged_rate"]
    assert fq.main(["--orders", "300"]) == 0
    assert "recall per fraud pattern" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"time": "2026-11-01T10:00:00", "label": "good", "order": {}}', "no UTC offset"),
        ('{"time": "yesterday", "label": "good", "order": {}}', "ISO 8601"),
        ('{"time": "2026-11-01T10:00:00+09:00", "label": "bad", "order": {}}', "label must be"),
        ('{"time": "2026-11-01T10:00:00+09:00", "order": {}}', "missing 'label'"),
        ('{"time": "2026-11-01T10:00:00+09:00", "label": "good", "order": {}, "extra": 1}', "unknown field"),
        ('{"time": "2026-11-01T10:00:00+09:00", "label": "good", "order": {"order_id": "x"}}', "order/amount"),
        ("[1, 2]", "expected a JSON object"),
        ("{not json", "not JSON"),
    ],
)
def test_a_bad_line_is_rejected_with_its_line_number(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("\n" + line + "\n", encoding="utf-8")
    with pytest.raises(fq.InputError, match=message) as info:
        fq.read_jsonl(path)
    assert f"{path}:2" in str(info.value)


def test_unlabelled_orders_are_screened_but_not_scored() -> None:
    order = {
        "order_id": "u",
        "amount": 40_000,
        "currency": "JPY",
        "buyer": {"name": "山田 太郎", "address": "東京都港区赤坂4-3-2"},
        "shipping": None,
        "device": None,
    }
    orders = [fq.parse_record({"time": at().isoformat(), "label": None, "order": order})]
    summary = fq.screen_stream(orders, {"default": default_policy()})["baseline"].summary()
    assert summary["screenings"] == 1 and summary["labelled"] == 0 and summary["review_rate"] == 1.0


# -- quality ---------------------------------------------------------------------------------------------------


def test_the_default_policy_beats_the_amount_baseline(small_results: dict[str, dict[str, Any]]) -> None:
    """Measured over seeds 1, 2, 3, 7, 11, 42 and 99 at 3,000 orders: recall 0.76–0.82 against the baseline's
    0.43–0.53 (+0.24 to +0.33; +0.32 for seed 42), review rate from 1.4 points lower to 1.0 point higher than the
    baseline's (0.6 lower for seed 42), good orders flagged within 0.7 points of the baseline's, precision 0.73–0.77
    against 0.58–0.66. The margins leave room for generator or engine changes that do not change that picture."""
    base, default = small_results["baseline"], small_results["default"]
    assert default["recall"] >= base["recall"] + 0.2
    assert default["review_rate"] <= base["review_rate"] + 0.01
    assert default["good_flagged_rate"] <= base["good_flagged_rate"] + 0.01
    assert default["precision"] >= base["precision"]
    # What the engine is built to see. Per pattern there are only 20–50 orders at this size, so the floors sit well
    # under the lowest of the seven seeds (forwarding 1.0, foreign 0.87, ring 0.77, bot 0.63).
    patterns = default["fraud_patterns"]
    floors = {"forwarding": 0.85, "foreign": 0.7, "ring": 0.6, "bot": 0.5}
    for pattern, floor in floors.items():
        assert patterns[pattern]["flagged_rate"] >= floor, pattern
