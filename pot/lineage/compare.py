"""Two runs side by side (``pot runs compare A B``): what differs in their configuration, environment and code, and
their metrics per epoch and at the end.

Everything is read from the runs' own records in the store (their ``RunStarted`` event and the checkpoints,
validations, steps and logged metrics carrying their run id), so the two runs may belong to different models.
:func:`compare_runs` returns plain JSON (the ``--json`` output, docs/schemas/runs-compare.schema.json); the text is
pot._internal.render's.

Nested keys are named by dotted paths (``optimizer.lr``); a key that holds a dot or a bracket, or is empty, is
written as a JSON string in brackets (``layers["0.weight"]``) so that no two keys share a path. Lists are compared
as whole values. Values are compared by their canonical JSON (RFC 8785), so ``1`` and ``1.0`` are the same value
and ``1`` and ``true`` are not.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pot.lineage.events import METRIC_LOGGED, numeric_results
from pot.lineage.registry import get_run, run_records, run_started_data
from pot.log.canonical import canonical_json
from pot.log.records import (
    EventRecord,
    Record,
    StepsRecord,
    TrainingCheckpoint,
    ValidationRecord,
    parse_timestamp,
)

_PLAIN_KEY = re.compile(r"[^.\[\]]+")


def key_path(parent: str, key: str) -> str:
    """``parent.key``, or ``parent["key"]`` when the key itself holds a dot or a bracket or is empty."""
    if _PLAIN_KEY.fullmatch(key):
        return f"{parent}.{key}" if parent else key
    return f"{parent}[{json.dumps(key, ensure_ascii=False)}]"


def flatten(value: Mapping[str, Any], parent: str = "") -> dict[str, Any]:
    """Every leaf of a nested object by its path. An empty object is a leaf, so adding one is seen as a change."""
    out: dict[str, Any] = {}
    for key, item in value.items():
        path = key_path(parent, str(key))
        if isinstance(item, Mapping) and item:
            out.update(flatten(item, path))
        else:
            out[path] = item
    return out


def same_value(a: Any, b: Any) -> bool:
    return canonical_json(a) == canonical_json(b)


def diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Keys only in ``b`` (added), only in ``a`` (removed), in both with other values (changed), and how many are the
    same (``unchanged``); each list sorted by key."""
    added = [{"key": k, "b": b[k]} for k in sorted(b.keys() - a.keys())]
    removed = [{"key": k, "a": a[k]} for k in sorted(a.keys() - b.keys())]
    both = sorted(a.keys() & b.keys())
    changed = [{"key": k, "a": a[k], "b": b[k]} for k in both if not same_value(a[k], b[k])]
    return {"added": added, "removed": removed, "changed": changed, "unchanged": len(both) - len(changed)}


def environment_diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`diff` of two captured environments (pot.lineage.environment), with the installed packages apart: one
    entry per package added, removed or at another version, instead of hundreds of ``packages.*`` paths."""
    packages_a, packages_b = a.get("packages"), b.get("packages")
    apart = isinstance(packages_a, Mapping) and isinstance(packages_b, Mapping)
    rest_a = {k: v for k, v in a.items() if not (apart and k == "packages")}
    rest_b = {k: v for k, v in b.items() if not (apart and k == "packages")}
    out = diff(flatten(rest_a), flatten(rest_b))
    # An environment is free-form (a run started with capture=False records {}): packages are compared apart only
    # when both runs recorded them as the name -> version object pot captures.
    out["packages"] = diff(packages_a, packages_b) if apart else None  # type: ignore[arg-type]
    return out


def _run_summary(run: Mapping[str, Any], started: Mapping[str, Any], records: Sequence[Record]) -> dict[str, Any]:
    seconds = None
    if run["ended"]:
        seconds = round((parse_timestamp(run["ended"]) - parse_timestamp(run["started"])).total_seconds(), 6)
    git = started.get("git")
    return {"run_id": run["run_id"], "model_id": run["model_id"], "kind": run["kind"], "status": run["status"],
            "error": run["error"], "started": run["started"], "ended": run["ended"], "seconds": seconds,
            "user": started.get("user"), "config_hash": started.get("config_hash"),
            "environment_hash": started.get("environment_hash"),
            "git": dict(git) if isinstance(git, Mapping) else None,
            "checkpoints": sum(isinstance(r, TrainingCheckpoint) for r in records),
            "validations": sum(isinstance(r, ValidationRecord) for r in records)}


def epoch_metrics(records: Sequence[Record]) -> dict[int, dict[str, Any]]:
    """Epoch -> the metrics its checkpoints recorded (a later checkpoint of the same epoch overriding a name)."""
    out: dict[int, dict[str, Any]] = {}
    for record in records:
        if isinstance(record, TrainingCheckpoint):
            out.setdefault(record.epoch, {}).update(record.metrics)
    return out


def final_values(records: Sequence[Record]) -> dict[tuple[str, str | None, str], Any]:
    """(source, validator, metric) -> the last value recorded: by a checkpoint, a validation (numeric results, per
    validator), a logged metric, or a training step."""
    out: dict[tuple[str, str | None, str], Any] = {}
    for record in records:
        if isinstance(record, TrainingCheckpoint):
            for name, value in record.metrics.items():
                out["checkpoint", None, name] = value
        elif isinstance(record, ValidationRecord):
            for name, value in numeric_results(record.validation_result).items():
                out["validation", record.validator_id, name] = value
        elif isinstance(record, EventRecord) and record.event == METRIC_LOGGED:
            out["logged", None, str(record.data.get("name"))] = record.data.get("value")
        elif isinstance(record, StepsRecord):
            for name, values in record.metrics.items():
                last = next((v for v in reversed(values) if v is not None), None)
                if last is not None:
                    out["step", None, name] = last
    return out


_SOURCE_ORDER = {"checkpoint": 0, "step": 1, "logged": 2, "validation": 3}


def difference(a: Any, b: Any) -> float | None:
    """``b - a`` when both are finite numbers (the strings standing for NaN and the infinities are not)."""
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b))
    if not numbers:
        return None
    result = float(b) - float(a)
    return result if math.isfinite(result) else None


def _object(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def compare_runs(store: Any, run_a: str, run_b: str) -> dict[str, Any]:
    """Compare two runs of ``store`` (by run id): summaries, configuration, environment and git differences, metrics
    per epoch and final values. Unknown run ids raise :class:`pot.errors.UsageError`."""
    runs = [get_run(store, run_a), get_run(store, run_b)]
    started = [run_started_data(store, run) for run in runs]
    records = [run_records(store, run) for run in runs]
    configs = [_object(s.get("config")) for s in started]
    environments = [_object(s.get("environment")) for s in started]
    gits = [_object(s.get("git")) for s in started]

    epochs = [epoch_metrics(r) for r in records]
    names = sorted({name for side in epochs for metrics in side.values() for name in metrics})
    by_epoch = [{"epoch": epoch, "a": epochs[0].get(epoch, {}), "b": epochs[1].get(epoch, {})}
                for epoch in sorted(epochs[0].keys() | epochs[1].keys())]

    finals = [final_values(r) for r in records]
    final = []
    for source, validator, metric in sorted(finals[0].keys() | finals[1].keys(),
                                            key=lambda k: (_SOURCE_ORDER[k[0]], k[1] or "", k[2])):
        row: dict[str, Any] = {"source": source, "validator": validator, "metric": metric}
        key = (source, validator, metric)
        if key in finals[0]:
            row["a"] = finals[0][key]
        if key in finals[1]:
            row["b"] = finals[1][key]
        row["difference"] = difference(row.get("a"), row.get("b"))
        final.append(row)

    commits = [g.get("commit") for g in gits]
    return {
        "a": _run_summary(runs[0], started[0], records[0]),
        "b": _run_summary(runs[1], started[1], records[1]),
        "config": {"identical": started[0].get("config_hash") == started[1].get("config_hash"),
                   **diff(flatten(configs[0]), flatten(configs[1]))},
        "environment": {"identical": started[0].get("environment_hash") == started[1].get("environment_hash"),
                        **environment_diff(environments[0], environments[1])},
        "git": {"same_commit": commits[0] is not None and commits[0] == commits[1],
                **diff(flatten(gits[0]), flatten(gits[1]))},
        "metrics": {"names": names, "epochs": by_epoch},
        "final": final,
    }
