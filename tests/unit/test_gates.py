"""Promotion gates: strict parsing, deterministic decisions a verifier can recompute."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pot.errors import FormatError, UsageError
from pot.lineage.gates import DECISION_FORMAT, Gate, GateCheck, Threshold, decision_matches, evaluate
from pot.log.canonical import canonical_json, sha256_hex

THRESHOLDS = {"thresholds": {"accuracy": {">=": 0.9}, "loss": {"<=": 0.2}}}
WEIGHTED = {"weights": {"accuracy": 0.7, "f1": 0.3}, "min_score": 0.85}
BOTH = {**THRESHOLDS, **WEIGHTED}


# --- parsing -----------------------------------------------------------------------------------------------------


def test_the_three_shapes_parse_and_round_trip() -> None:
    for document in (THRESHOLDS, WEIGHTED, BOTH):
        gate = Gate.from_json(document)
        assert gate.canonical() == document
        assert Gate.from_json(json.dumps(document)) == gate == Gate.from_json(json.dumps(document).encode())
        assert Gate.from_json(gate.canonical()) == gate
    gate = Gate.from_json(BOTH)
    assert gate.thresholds == (Threshold("accuracy", ">=", 0.9), Threshold("loss", "<=", 0.2))
    assert gate.weights == (("accuracy", 0.7), ("f1", 0.3)) and gate.min_score == 0.85
    assert gate.metrics() == ["accuracy", "f1", "loss"]


def test_several_operators_on_one_metric_make_a_range() -> None:
    gate = Gate.from_json({"thresholds": {"accuracy": {"<": 1, ">=": 0.5}}})
    assert [(t.op, t.value) for t in gate.thresholds] == [("<", 1.0), (">=", 0.5)]
    assert evaluate(gate, {"accuracy": 0.7}).passed
    assert not evaluate(gate, {"accuracy": 1.0}).passed


def test_digest_is_sha256_of_canonical_json_and_ignores_spelling() -> None:
    gate = Gate.from_json(BOTH)
    assert gate.digest() == sha256_hex(canonical_json(BOTH))
    # Known answer: the canonical bytes are fixed by RFC 8785, so this digest may never change.
    assert canonical_json(gate.canonical()) == (
        b'{"min_score":0.85,"thresholds":{"accuracy":{">=":0.9},"loss":{"<=":0.2}},'
        b'"weights":{"accuracy":0.7,"f1":0.3}}')
    assert gate.digest() == sha256_hex(canonical_json(json.loads(canonical_json(gate.canonical()))))
    respelled = '{ "weights": {"f1": 0.30, "accuracy": 7e-1}, "min_score": 0.850,\n' \
                '  "thresholds": {"loss": {"<=": 0.2}, "accuracy": {">=": 0.9}} }'
    assert Gate.from_json(respelled).digest() == gate.digest()
    assert Gate.from_json({"thresholds": {"a": {">=": 1}}}).digest() == \
        Gate.from_json({"thresholds": {"a": {">=": 1.0}}}).digest()
    assert Gate.from_json({"thresholds": {"a": {">=": 1}}}).digest() != \
        Gate.from_json({"thresholds": {"a": {">": 1}}}).digest()


@pytest.mark.parametrize(("document", "message"), [
    ({}, "gate is empty: give thresholds, weights with min_score, or both"),
    ([], "a gate must be a JSON object, got list"),
    ({"thresholds": {}}, "thresholds must be a non-empty object"),
    ({"thresholds": []}, "thresholds must be a non-empty object"),
    ({"threshold": {"a": {">=": 1}}}, "gate has unknown key.*: threshold"),
    ({"thresholds": {"a": {">=": 1}}, "name": "x"}, "gate has unknown key.*: name"),
    ({"thresholds": {"a": {}}}, "thresholds.a must be a non-empty object of operator -> number"),
    ({"thresholds": {"a": 0.9}}, "thresholds.a must be a non-empty object of operator -> number"),
    ({"thresholds": {"a": {"=>": 0.9}}}, "thresholds.a: unknown operator '=>'; use one of >=, >, <=, <, =="),
    ({"thresholds": {"a": {">=": "0.9"}}}, r"thresholds.a.>= must be a number, got str"),
    ({"thresholds": {"a": {">=": True}}}, r"thresholds.a.>= must be a number, got bool"),
    ({"thresholds": {"a": {">=": None}}}, r"thresholds.a.>= must be a number, got NoneType"),
    ({"thresholds": {"a": {">=": math.nan}}}, r"thresholds.a.>= must be finite, got nan"),
    ({"thresholds": {"a": {">=": 10**400}}}, r"thresholds.a.>= is too large"),
    ({"thresholds": {"": {">=": 1}}}, "threshold metric name must be a non-empty string"),
    ({"weights": {"a": 1}}, "weights need a min_score"),
    ({"min_score": 0.5}, "min_score needs weights"),
    ({"thresholds": {"a": {">=": 1}}, "min_score": 0.5}, "min_score needs weights"),
    ({"weights": {}, "min_score": 0.5}, "weights must be a non-empty object"),
    ({"weights": {"a": -0.1, "b": 1}, "min_score": 0.5}, "weights.a must be >= 0, got -0.1"),
    ({"weights": {"a": 0, "b": 0.0}, "min_score": 0.5}, "weights must not all be zero"),
    ({"weights": {"a": "1"}, "min_score": 0.5}, "weights.a must be a number, got str"),
    ({"weights": {"a": 1}, "min_score": "high"}, "min_score must be a number, got str"),
    ({"weights": {"a": 1}, "min_score": math.inf}, "min_score must be finite"),
])
def test_malformed_gates_are_refused_in_one_line(document: Any, message: str) -> None:
    with pytest.raises(FormatError, match=message) as caught:
        Gate.from_json(document)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("text", "message"), [
    ('{"thresholds": {"a": {">=": 1}}} x', r"gate has trailing data after the JSON document \(line 1, column 34\)"),
    ('{"thresholds": {"a": {">=": NaN}}}', "gate contains NaN, which is not JSON"),
    ('{"thresholds": {"a": {">=": 1}}, "thresholds": {"b": {">=": 1}}}', "gate has a duplicate key 'thresholds'"),
    ('{"thresholds": {"a": {">=": 1, ">=": 2}}}', "gate has a duplicate key '>='"),
    ("", r"gate is not valid JSON: Expecting value \(line 1, column 1\)"),
    (b"\xff", "gate is not UTF-8"),
    ("[" * 100_000, "gate is nested too deeply"),
    (" " * (1 << 20) + "{}", "gate is 1048578 bytes, over the 1048576-byte limit"),
])
def test_malformed_gate_text_is_refused(text: str | bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        Gate.from_json(text)


def test_the_constructor_checks_the_same_rules() -> None:
    with pytest.raises(FormatError, match="gate is empty"):
        Gate()
    with pytest.raises(FormatError, match="thresholds name the same metric and operator twice"):
        Gate((Threshold("a", ">=", 1), Threshold("a", ">=", 2)))
    with pytest.raises(FormatError, match="weights name the same metric twice"):
        Gate(weights=(("a", 1.0), ("a", 2.0)), min_score=0.5)
    assert Gate((Threshold("b", "<", 1), Threshold("a", ">", 0))).thresholds[0].metric == "a"


# --- decisions ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("metrics", "passed"), [
    ({"accuracy": 0.95, "loss": 0.1}, True),
    ({"accuracy": 0.9, "loss": 0.2}, True),  # both bounds inclusive
    ({"accuracy": 0.8999999, "loss": 0.1}, False),
    ({"accuracy": 0.95, "loss": 0.2000001}, False),
    ({"accuracy": 1, "loss": 0}, True),  # integers are numbers
    ({"accuracy": np.float32(0.95), "loss": np.float64(0.1)}, True),
    ({"accuracy": 0.95, "loss": 0.1, "unrelated": "text"}, True),  # metrics the gate does not read are ignored
    ({"accuracy": 0.95}, False),
    ({}, False),
    ({"accuracy": math.nan, "loss": 0.1}, False),
    ({"accuracy": "NaN", "loss": 0.1}, False),
    ({"accuracy": math.inf, "loss": 0.1}, False),  # not finite: refused even though inf >= 0.9
    ({"accuracy": 0.95, "loss": "-Infinity"}, False),
    ({"accuracy": 0.95, "loss": None}, False),  # null counts as missing
])
def test_threshold_table(metrics: dict[str, Any], passed: bool) -> None:
    decision = evaluate(Gate.from_json(THRESHOLDS), metrics)
    assert decision.passed is passed
    assert bool(decision.reasons) is not passed
    assert decision.score is None


@pytest.mark.parametrize(("op", "value", "passed"), [
    (">=", 0.5, True), (">=", 0.49, False), (">", 0.5, False), (">", 0.51, True), ("<=", 0.5, True),
    ("<=", 0.51, False), ("<", 0.5, False), ("<", 0.49, True), ("==", 0.5, True), ("==", 0.5000001, False),
])
def test_each_operator(op: str, value: float, passed: bool) -> None:
    gate = Gate.from_json({"thresholds": {"m": {op: 0.5}}})
    decision = evaluate(gate, {"m": value})
    assert decision.passed is passed
    assert decision.checks == (GateCheck("m", op, 0.5, value, passed),)


def test_a_missing_metric_fails_and_is_named() -> None:
    decision = evaluate(Gate.from_json(BOTH), {"accuracy": 0.99})
    assert not decision.passed and decision.missing == ("f1", "loss")
    assert decision.checks[1] == GateCheck("loss", "<=", 0.2, None, False)
    assert decision.score is None
    assert decision.reasons == ("loss is missing", "composite score cannot be computed: f1 is missing")


def test_reasons_say_what_failed() -> None:
    decision = evaluate(Gate.from_json(BOTH), {"accuracy": 0.5, "loss": math.nan, "f1": 0.5})
    assert decision.reasons == (
        "accuracy 0.5 is not >= 0.9",
        "loss is not a finite number (NaN)",
        "composite score 0.5 is below min_score 0.85",
    )
    assert decision.score == 0.5
    # Scores are shown in full: the rational mean of 0.8 and 0.5 (as doubles) rounds just above 0.71.
    assert evaluate(Gate.from_json(WEIGHTED), {"accuracy": 0.8, "f1": 0.5}).reasons == (
        "composite score 0.7100000000000001 is below min_score 0.85",)


@pytest.mark.parametrize(("weights", "min_score", "metrics", "score", "passed"), [
    ({"accuracy": 0.7, "f1": 0.3}, 0.85, {"accuracy": 0.9, "f1": 0.8}, 0.87, True),
    ({"accuracy": 0.7, "f1": 0.3}, 0.85, {"accuracy": 0.9, "f1": 0.6}, 0.81, False),
    # Equal values have that value as their mean, exactly: naive float sums give 0.7999999999999999 here.
    ({"a": 0.7, "b": 0.3}, 0.8, {"a": 0.8, "b": 0.8}, 0.8, True),
    ({"a": 0.1, "b": 0.2}, 0.85, {"a": 0.85, "b": 0.85}, 0.85, True),
    ({"a": 0.3, "b": 0.3}, 0.9, {"a": 0.9, "b": 0.9}, 0.9, True),
    # Weights need not sum to 1; a zero weight does not move the score but its metric is still required.
    ({"a": 2, "b": 6}, 0.5, {"a": 1.0, "b": 0.4}, 0.55, True),
    ({"a": 1, "b": 0}, 0.5, {"a": 0.6, "b": -100}, 0.6, True),
    ({"a": 1, "b": 0}, 0.5, {"a": 0.6}, None, False),
    ({"a": 1}, 0.5, {"a": 0.5}, 0.5, True),
    ({"a": 1}, 0.5, {"a": 0.4999999999999999}, 0.4999999999999999, False),
    ({"a": 1}, -1, {"a": -1}, -1.0, True),  # scores are not confined to [0, 1]
    ({"a": 1, "b": 1}, 0.5, {"a": math.inf, "b": 0}, None, False),
    ({"a": 1, "b": 1}, 0.5, {"a": "NaN", "b": 1}, None, False),
])
def test_weighted_composite(weights: dict[str, float], min_score: float, metrics: dict[str, Any],
                            score: float | None, passed: bool) -> None:
    decision = evaluate(Gate.from_json({"weights": weights, "min_score": min_score}), metrics)
    assert decision.passed is passed
    if score is None:
        assert decision.score is None
    else:
        assert decision.score == pytest.approx(score, abs=1e-15)
    assert decision.checks == ()


@given(st.dictionaries(st.sampled_from("abcdef"), st.floats(0, 10, allow_nan=False), min_size=1),
       st.floats(-1, 1, allow_nan=False))
def test_the_composite_ignores_weight_order_and_a_constant_scores_itself(weights: dict[str, float],
                                                                        value: float) -> None:
    if sum(weights.values()) <= 0:
        return
    forward = Gate.from_json({"weights": weights, "min_score": 0})
    backward = Gate.from_json({"weights": dict(reversed(weights.items())), "min_score": 0})
    assert forward == backward
    metrics = dict.fromkeys(weights, value)
    assert evaluate(forward, metrics).score == value


@pytest.mark.parametrize(("metrics", "message"), [
    ({"accuracy": "high", "loss": 0.1}, "metrics.accuracy must be a number, got str"),
    ({"accuracy": True, "loss": 0.1}, "metrics.accuracy must be a number, got bool"),
    ({"accuracy": [0.9], "loss": 0.1}, "metrics.accuracy must be a number, got list"),
    ({"accuracy": object(), "loss": 0.1}, "metrics.accuracy: object cannot be recorded as JSON"),
    ([("accuracy", 0.9)], "metrics must be an object of name -> number, got list"),
])
def test_metrics_that_are_not_numbers_are_refused(metrics: Any, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        evaluate(Gate.from_json(THRESHOLDS), metrics)


def test_evaluate_needs_a_parsed_gate() -> None:
    with pytest.raises(UsageError, match="evaluate needs a Gate, got dict; parse it with Gate.from_json"):
        evaluate(THRESHOLDS, {})  # type: ignore[arg-type]


# --- recorded decisions ------------------------------------------------------------------------------------------


def test_decision_json_and_recomputation() -> None:
    gate = Gate.from_json(BOTH)
    metrics = {"accuracy": 0.95, "loss": math.nan, "f1": 0.9}
    decision = evaluate(gate, metrics)
    document = decision.to_json()
    assert document == {
        "format": DECISION_FORMAT, "gate": gate.digest(), "passed": False, "score": pytest.approx(0.935),
        "checks": [{"metric": "accuracy", "op": ">=", "threshold": 0.9, "value": 0.95, "passed": True},
                   {"metric": "loss", "op": "<=", "threshold": 0.2, "value": "NaN", "passed": False}],
        "missing": []}
    # Why it failed is for people (decision.reasons), never part of what is recorded and compared.
    assert decision.reasons == ("loss is not a finite number (NaN)",)
    canonical_json(document)  # carries no NaN floats: it can be recorded
    text = json.dumps(document, indent=2)
    # A verifier reads the metrics back from the log, where NaN is the string "NaN".
    recorded_metrics = json.loads(canonical_json({"accuracy": 0.95, "loss": "NaN", "f1": 0.9}))
    assert decision_matches(gate, recorded_metrics, text)
    assert decision_matches(gate, metrics, document)
    assert decision_matches(gate, metrics, text.encode())


@pytest.mark.parametrize("tamper", [
    lambda d: d.update(passed=True),
    lambda d: d.update(score=0.99),
    lambda d: d.update(reasons=[]),  # free text a verifier would have to copy byte for byte: not in the format
    lambda d: d["checks"][1].update(passed=True),
    lambda d: d.update(gate="0" * 64),
    lambda d: d.update(extra=1),
    lambda d: d.pop("missing"),
])
def test_a_tampered_decision_does_not_match(tamper: Any) -> None:
    gate = Gate.from_json(BOTH)
    metrics = {"accuracy": 0.95, "loss": math.nan, "f1": 0.9}
    document = evaluate(gate, metrics).to_json()
    tamper(document)
    assert not decision_matches(gate, metrics, document)


def test_a_decision_for_other_metrics_or_another_gate_does_not_match() -> None:
    gate = Gate.from_json(THRESHOLDS)
    document = evaluate(gate, {"accuracy": 0.95, "loss": 0.1}).to_json()
    assert not decision_matches(gate, {"accuracy": 0.96, "loss": 0.1}, document)
    stricter = Gate.from_json({"thresholds": {"accuracy": {">=": 0.91}, "loss": {"<=": 0.2}}})
    assert not decision_matches(stricter, {"accuracy": 0.95, "loss": 0.1}, document)


@pytest.mark.parametrize(("recorded", "message"), [
    ("{", "recorded decision is not valid JSON"),
    ("[]", "a recorded decision must be a JSON object, got list"),
    ('{"passed": NaN}', "recorded decision contains NaN"),
])
def test_a_recorded_decision_that_is_not_json_is_an_error_not_false(recorded: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        decision_matches(Gate.from_json(THRESHOLDS), {}, recorded)
