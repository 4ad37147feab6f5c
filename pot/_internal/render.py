"""Text rendering for the CLI: tables and reports for people (``--json`` output bypasses this)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pot.records import Record, TrainingCheckpoint, ValidationRecord
from pot.verify import VerificationReport


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _compact(value: Any, limit: int = 60) -> str:
    text = ", ".join(f"{k}={_number(v)}" for k, v in value.items()) if isinstance(value, dict) else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def history(model_id: str, records: Sequence[Record]) -> str:
    rows = []
    for record in records:
        if isinstance(record, TrainingCheckpoint):
            what, detail = f"checkpoint epoch {record.epoch}", _compact(record.metrics)
        elif isinstance(record, ValidationRecord):
            what, detail = f"validation by {record.validator_id}", _compact(record.validation_result)
        else:
            what, detail = record.KIND, ""
        rows.append((record.seq, record.timestamp, what, detail, record.record_id[:16]))
    title = f"history of {model_id}: {len(records)} record(s)"
    return title + "\n" + table(("seq", "timestamp", "record", "values", "id"), rows)


def report(path: str, result: VerificationReport, failed: str | None = None) -> str:
    lines = [f"proof {path}: model {result.model_id}, {result.disclosure} disclosure, "
             f"{result.record_count} record(s) of a log of {result.log_size}"]
    width = max((len(c.name) for c in result.checks), default=0)
    for check in result.checks:
        mark = "ok  " if check.passed else "FAIL"
        lines.append(f"  {mark} {check.name.ljust(width)}  {check.detail}")
    strengths: dict[str, int] = {}
    for head in result.heads:
        strengths[head.strength] = strengths.get(head.strength, 0) + 1
    if result.heads:
        words = {"chain": "anchored on a chain", "local": "anchored on the local chain only", "none": "not anchored"}
        parts = ", ".join(f"{n} {words[s]}" for s, n in sorted(strengths.items()))
        lines.append(f"  tree heads: {len(result.heads)} ({parts})")
        spans = []
        previous = 0
        for head in result.heads:
            if head.chain_time:
                spans.append(f"    records {previous}..{head.tree_size - 1} existed by {head.chain_time} "
                             f"({head.chain_detail})")
            previous = head.tree_size
        if len(spans) > 8:
            spans = [*spans[:4], f"    ... {len(spans) - 8} more heads ...", *spans[-4:]]
        lines += spans
    for note in result.notes:
        lines.append(f"  note: {note}")
    lines.append(f"FAILED: {failed}" if failed else "VERIFIED")
    return "\n".join(lines)
