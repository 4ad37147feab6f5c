"""Promotion gates: the metric thresholds a model must meet before it is promoted, decided reproducibly.

A gate is JSON. Per-metric thresholds, a weighted composite score, or both (then both must pass)::

    {"thresholds": {"accuracy": {">=": 0.9}, "loss": {"<=": 0.2}}}
    {"weights": {"accuracy": 0.7, "f1": 0.3}, "min_score": 0.85}

    gate = Gate.from_json(text)
    decision = evaluate(gate, {"accuracy": 0.93, "loss": 0.1})
    record ModelPromoted if decision.passed else PromotionRefused, with data
        {"gate": gate.canonical(), "metrics": metrics, "decision": decision.to_json()}
    decision_matches(gate, metrics, recorded_decision)   # a verifier recomputes it

A decision is a pure function of the gate and the metrics, so a verifier holding the recorded gate, metrics and
decision can recompute it and compare (:func:`decision_matches`). Frozen by the decision format
(``pot.gate-decision.v1``): checks in (metric, operator) order; a missing metric or a non-finite value (NaN,
infinities) fails its check, never passes silently; the composite score is ``sum(w * value) / sum(w)`` computed
exactly on the rationals the floats stand for and rounded once to the nearest double, so it does not depend on
summation order or platform, and it passes when that double is ``>= min_score``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from pot._internal import strictjson
from pot.errors import FormatError, UsageError
from pot.log.canonical import HexDigest, canonical_json, sha256_hex, to_json_value
from pot.log.records import check_name

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq,
}
DECISION_FORMAT = "pot.gate-decision.v1"
MAX_GATE_BYTES = 1 << 20

_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _number(value: Any, where: str) -> float:
    """A finite JSON number as a float, or a one-line FormatError naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FormatError(f"{where} must be a number, got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:
        raise FormatError(f"{where} is too large") from None
    if not math.isfinite(number):
        raise FormatError(f"{where} must be finite, got {value}")
    return number


def _metric_name(value: Any, where: str) -> str:
    return check_name(value, where)


@dataclass(frozen=True, slots=True)
class Threshold:
    """``metric op value``, e.g. ``accuracy >= 0.9``."""

    metric: str
    op: str
    value: float

    def __post_init__(self) -> None:
        _metric_name(self.metric, "threshold metric name")
        if self.op not in OPERATORS:
            raise FormatError(f"thresholds.{self.metric}: unknown operator {self.op!r}; use one of "
                              f"{', '.join(OPERATORS)}")
        object.__setattr__(self, "value", _number(self.value, f"thresholds.{self.metric}.{self.op}"))


@dataclass(frozen=True, slots=True)
class Gate:
    """A promotion gate. Build it with :meth:`from_json`; the constructor checks the same rules.

    ``thresholds`` are sorted by (metric, operator), ``weights`` by metric; ``min_score`` is set exactly when
    ``weights`` are.
    """

    thresholds: tuple[Threshold, ...] = ()
    weights: tuple[tuple[str, float], ...] = ()
    min_score: float | None = None

    def __post_init__(self) -> None:
        thresholds = tuple(sorted(self.thresholds, key=lambda t: (t.metric, t.op)))
        for t in thresholds:
            if not isinstance(t, Threshold):
                raise FormatError(f"thresholds must be Threshold objects, got {type(t).__name__}")
        pairs = [(t.metric, t.op) for t in thresholds]
        if len(set(pairs)) != len(pairs):
            raise FormatError("thresholds name the same metric and operator twice")
        weights = tuple(sorted((_metric_name(m, "weight metric name"), _number(w, f"weights.{m}"))
                               for m, w in self.weights))
        for metric, weight in weights:
            if weight < 0:
                raise FormatError(f"weights.{metric} must be >= 0, got {weight}")
        if len({m for m, _ in weights}) != len(weights):
            raise FormatError("weights name the same metric twice")
        if weights and sum(w for _, w in weights) <= 0:
            raise FormatError("weights must not all be zero")
        if weights and self.min_score is None:
            raise FormatError("weights need a min_score")
        if self.min_score is not None and not weights:
            raise FormatError("min_score needs weights")
        if not thresholds and not weights:
            raise FormatError("gate is empty: give thresholds, weights with min_score, or both")
        object.__setattr__(self, "thresholds", thresholds)
        object.__setattr__(self, "weights", weights)
        if self.min_score is not None:
            object.__setattr__(self, "min_score", _number(self.min_score, "min_score"))

    @classmethod
    def from_json(cls, value: str | bytes | Mapping[str, Any]) -> Gate:
        """Parse a gate from JSON text or an already-parsed object; anything off the format is a FormatError."""
        document = _load(value, "gate") if isinstance(value, str | bytes) else value
        if not isinstance(document, Mapping):
            raise FormatError(f"a gate must be a JSON object, got {type(document).__name__}")
        unknown = set(document) - {"thresholds", "weights", "min_score"}
        if unknown:
            raise FormatError(f"gate has unknown key(s): {', '.join(sorted(map(str, unknown)))}")
        thresholds: list[Threshold] = []
        if "thresholds" in document:
            table = document["thresholds"]
            if not isinstance(table, Mapping) or not table:
                raise FormatError("thresholds must be a non-empty object of metric -> {operator: number}")
            for metric, bounds in table.items():
                _metric_name(metric, "threshold metric name")
                if not isinstance(bounds, Mapping) or not bounds:
                    raise FormatError(f"thresholds.{metric} must be a non-empty object of operator -> number")
                thresholds.extend(Threshold(metric, op, value) for op, value in bounds.items())
        weights: list[tuple[str, float]] = []
        if "weights" in document:
            table = document["weights"]
            if not isinstance(table, Mapping) or not table:
                raise FormatError("weights must be a non-empty object of metric -> number")
            weights = list(table.items())
        return cls(tuple(thresholds), tuple(weights), document.get("min_score"))

    def canonical(self) -> dict[str, Any]:
        """The gate as a JSON object in one normal form: what :meth:`digest` hashes and what a log records."""
        out: dict[str, Any] = {}
        if self.thresholds:
            table: dict[str, dict[str, float]] = {}
            for t in self.thresholds:
                table.setdefault(t.metric, {})[t.op] = t.value
            out["thresholds"] = table
        if self.weights:
            out["weights"] = dict(self.weights)
            out["min_score"] = self.min_score
        return out

    def digest(self) -> HexDigest:
        """SHA-256 (hex) of the canonical JSON (RFC 8785) of :meth:`canonical`."""
        return sha256_hex(canonical_json(self.canonical()))

    def metrics(self) -> list[str]:
        """Every metric the gate reads, sorted."""
        return sorted({t.metric for t in self.thresholds} | {m for m, _ in self.weights})


@dataclass(frozen=True, slots=True)
class GateCheck:
    """One threshold applied: ``value`` is None when the metric was missing."""

    metric: str
    op: str
    threshold: float
    value: float | None
    passed: bool

    def to_json(self) -> dict[str, Any]:
        return {"metric": self.metric, "op": self.op, "threshold": self.threshold,
                "value": to_json_value(self.value), "passed": self.passed}


@dataclass(frozen=True, slots=True)
class GateDecision:
    """The outcome of :func:`evaluate`: whether the gate passed, and why not.

    ``score`` is the composite score (None without weights, or when a weighted metric is missing or not finite);
    ``missing`` lists metrics the gate reads that were absent; ``reasons`` says, one line each, why it failed, for
    people: it is not part of the recorded decision, whose every value a verifier recomputes and compares.
    """

    passed: bool
    score: float | None
    checks: tuple[GateCheck, ...]
    missing: tuple[str, ...]
    reasons: tuple[str, ...]
    gate_digest: HexDigest

    def to_json(self) -> dict[str, Any]:
        return {"format": DECISION_FORMAT, "gate": self.gate_digest, "passed": self.passed, "score": self.score,
                "checks": [c.to_json() for c in self.checks], "missing": list(self.missing)}


def _metric_value(metrics: Mapping[str, Any], name: str) -> float | None:
    """The metric as a float (the strings that stand for non-finite floats included), None when absent."""
    if name not in metrics:
        return None
    value = to_json_value(metrics[name], path=f"metrics.{name}")
    if value is None:
        return None
    if isinstance(value, str) and value in _NON_FINITE:
        return _NON_FINITE[value]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FormatError(f"metrics.{name} must be a number, got {type(value).__name__}")
    return float(value)


def _show(value: float) -> str:
    text = to_json_value(value)
    return text if isinstance(text, str) else repr(value)


def evaluate(gate: Gate, metrics: Mapping[str, Any]) -> GateDecision:
    """Apply ``gate`` to ``metrics`` (numbers; numpy and torch scalars and the strings ``"NaN"``, ``"Infinity"``,
    ``"-Infinity"`` a log records for non-finite floats are accepted). Metrics the gate does not read are ignored.
    """
    if not isinstance(gate, Gate):
        raise UsageError(f"evaluate needs a Gate, got {type(gate).__name__}; parse it with Gate.from_json")
    if not isinstance(metrics, Mapping):
        raise FormatError(f"metrics must be an object of name -> number, got {type(metrics).__name__}")
    values = {name: _metric_value(metrics, name) for name in gate.metrics()}
    missing = tuple(name for name, value in values.items() if value is None)
    checks: list[GateCheck] = []
    reasons: list[str] = []
    for t in gate.thresholds:
        value = values[t.metric]
        if value is None:
            reasons.append(f"{t.metric} is missing")
            passed = False
        elif not math.isfinite(value):
            reasons.append(f"{t.metric} is not a finite number ({_show(value)})")
            passed = False
        else:
            passed = OPERATORS[t.op](value, t.value)
            if not passed:
                reasons.append(f"{t.metric} {_show(value)} is not {t.op} {_show(t.value)}")
        checks.append(GateCheck(t.metric, t.op, t.value, value, passed))
    score: float | None = None
    score_passed = True
    if gate.weights:
        finite = {m: v for m, v in values.items() if v is not None and math.isfinite(v)}
        problems = [f"{m} is missing" if values[m] is None else f"{m} is not finite"
                    for m, _ in gate.weights if m not in finite]
        if problems:
            score_passed = False
            reasons.append(f"composite score cannot be computed: {', '.join(problems)}")
        else:
            numerator = sum((Fraction(w) * Fraction(finite[m]) for m, w in gate.weights), Fraction(0))
            score = float(numerator / sum((Fraction(w) for _, w in gate.weights), Fraction(0)))
            assert gate.min_score is not None  # set exactly when weights are
            score_passed = score >= gate.min_score
            if not score_passed:
                reasons.append(f"composite score {_show(score)} is below min_score {_show(gate.min_score)}")
    passed = all(c.passed for c in checks) and score_passed and not missing
    return GateDecision(passed, score, tuple(checks), missing, tuple(reasons), gate.digest())


def decision_matches(gate: Gate, metrics: Mapping[str, Any], recorded_decision_json: str | bytes | Mapping[str, Any]
                     ) -> bool:
    """Whether a recorded decision is exactly what :func:`evaluate` gives for this gate and these metrics.

    Compares canonical JSON, so key order and ``1`` versus ``1.0`` do not matter and nothing else does. A recorded
    decision that is not JSON at all is a :class:`FormatError`, not a False.
    """
    recorded = (_load(recorded_decision_json, "recorded decision")
                if isinstance(recorded_decision_json, str | bytes) else recorded_decision_json)
    if not isinstance(recorded, Mapping):
        raise FormatError(f"a recorded decision must be a JSON object, got {type(recorded).__name__}")
    expected = canonical_json(evaluate(gate, metrics).to_json())
    return canonical_json(to_json_value(recorded, path="decision")) == expected


def _load(text: str | bytes, what: str) -> Any:
    return strictjson.loads(text, what, max_bytes=MAX_GATE_BYTES)


__all__ = [
    "DECISION_FORMAT",
    "OPERATORS",
    "Gate",
    "GateCheck",
    "GateDecision",
    "Threshold",
    "decision_matches",
    "evaluate",
]
