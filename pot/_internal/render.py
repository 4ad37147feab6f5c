"""Text rendering for the CLI: tables and reports for people (``--json`` output bypasses this)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pot._internal import files
from pot.errors import UsageError
from pot.log.records import EventRecord, Record, StepsRecord, TrainingCheckpoint, ValidationRecord
from pot.log.verify import VerificationReport


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _compact(value: Any, limit: int = 60) -> str:
    text = (", ".join(f"{safe(k)}={safe(_number(v))}" for k, v in value.items()) if isinstance(value, dict)
            else json.dumps(value))
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
        elif isinstance(record, StepsRecord):
            first, last = record.steps[0], record.steps[-1]
            what = f"steps {first}..{last}" if first != last else f"step {first}"
            detail = ", ".join(f"{name} {_number(values[-1])}" for name, values in record.metrics.items()
                               if values and values[-1] is not None)
        elif isinstance(record, EventRecord):
            what, detail = record.event, _event_detail(record)
        else:
            what, detail = record.KIND, ""
        rows.append((record.seq, record.timestamp, what, detail, record.record_id[:16]))
    title = f"history of {model_id}: {len(records)} record(s)"
    return title + "\n" + table(("seq", "timestamp", "record", "values", "id"), rows)


def report(path: str, result: VerificationReport, failed: str | None = None) -> str:
    lines = [f"proof {safe(path)}: model {safe(result.model_id)}, {result.disclosure} disclosure, "
             f"{result.record_count} record(s) of a log of {result.log_size}"]
    width = max((len(c.name) for c in result.checks), default=0)
    for check in result.checks:
        mark = "ok  " if check.passed else "FAIL"
        lines.append(f"  {mark} {check.name.ljust(width)}  {safe(check.detail)}")
    if result.heads:
        lines.append(f"  when the records existed ({len(result.heads)} tree head(s)):")
        lines += _head_spans(result)
    for note in result.notes:
        lines.append(f"  note: {safe(note)}")
    lines.append(f"FAILED: {safe(failed)}" if failed else "VERIFIED")
    return "\n".join(lines)


_HEAD_WORDS = {
    "chain": "existed by {chain_time}, checked on the chain ({chain_detail})",
    "chain-unchecked": "a chain receipt (block time {claimed_time}) NOT checked against a chain: the signer's word "
                       "until pot verify --rpc URL checks it",
    "local": "anchored on the local chain only: the signer's word",
    "none": "not anchored yet: the signer's word",
}


def _head_spans(result: VerificationReport) -> list[str]:
    """One line per run of consecutive heads that stand on the same ground (records a..b, heads i-j)."""
    spans: list[tuple[int, int, int, int, str]] = []  # first record, last record, first head, last head, words
    previous = 0
    for number, head in enumerate(result.heads, 1):
        # a head covered by a later head's anchor shares that anchor's line
        detail = (head.chain_detail or "").removeprefix("covered by a later head: ")
        words = _HEAD_WORDS[head.strength].format(chain_time=head.chain_time, chain_detail=detail,
                                                  claimed_time=head.claimed_time)
        if spans and spans[-1][4] == words:
            first, _, first_head, _, _ = spans[-1]
            spans[-1] = (first, head.tree_size - 1, first_head, number, words)
        else:
            spans.append((previous, head.tree_size - 1, number, number, words))
        previous = head.tree_size
    lines = [f"    records {a}..{b} ({f'head {i}' if i == j else f'heads {i}-{j}'}): {words}"
             for a, b, i, j, words in spans]
    if len(lines) > 8:
        lines = [*lines[:4], f"    ... {len(lines) - 8} more ...", *lines[-4:]]
    return lines


_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")


def safe(text: Any) -> str:
    """Text from a proof or a store, made safe to print on a terminal: control, direction and zero-width
    characters are shown as escapes (a metric name holding an escape sequence must not recolour or rewrite the
    screen, nor a bidirectional override reorder what a person reads)."""
    return _UNSAFE.sub(_escape, str(text))


def safe_lines(text: str) -> str:
    """:func:`safe` for a whole rendered page: its own line breaks stay; every other control is escaped."""
    return _UNSAFE_BUT_NEWLINE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\u{code:04x}" if code > 0xFF else f"\\x{code:02x}"


_UNSAFE_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e"
                                 "\u2060-\u206f\ufeff]")


def _event_detail(record: EventRecord) -> str:
    data = record.data
    if record.event == "RunStarted":
        return f"run {record.run_id} ({data.get('kind')}), {len(data.get('parents', []))} parent(s)"
    if record.event == "RunCompleted":
        return f"run {record.run_id} {data.get('status')}" + (f": {data['error']}" if data.get("error") else "")
    if record.event in ("ModelPromoted", "PromotionRefused"):
        return f"stage {data.get('stage')}: {'; '.join(_reasons(data)) or 'passed'}"
    if record.event == "ModelRolledBack":
        return f"stage {data.get('stage')} back to {str(data.get('to_model_hash'))[:16]}: {data.get('reason')}"
    return _compact(data)


def _duration(run: dict[str, Any]) -> str:
    if not run.get("ended"):
        return ""
    from pot.log.records import parse_timestamp

    seconds = (parse_timestamp(run["ended"]) - parse_timestamp(run["started"])).total_seconds()
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def runs_table(runs: Sequence[dict[str, Any]]) -> str:
    if not runs:
        return "no runs"
    rows = [(r["run_id"], r["kind"], r["status"], r["model_id"], r["started"][:19] + "Z", _duration(r),
             (r["git_commit"] or "")[:10] + ("+dirty" if r["git_dirty"] else ""), r["user"] or "") for r in runs]
    return table(("run", "kind", "status", "model", "started", "took", "commit", "user"), rows)


def run_details(run: dict[str, Any], started: dict[str, Any], records: Sequence[Record]) -> str:
    env = started.get("environment", {})
    python = env.get("python", {})
    platform = env.get("platform", {})
    torch = env.get("torch") or {}
    git = started.get("git", {})
    lines = [f"run {run['run_id']} ({run['kind']}) of model {run['model_id']}: {run['status']}"
             + (f" ({run['error']})" if run.get("error") else ""),
             f"  started {run['started']}" + (f", ended {run['ended']} after {_duration(run)}" if run["ended"] else ""),
             f"  by {started.get('user') or '?'}; git {git.get('commit') or 'none'}"
             + (" (uncommitted changes)" if git.get("dirty") else "") + (f" on {git['branch']}" if git.get("branch")
                                                                          else ""),
             f"  Python {python.get('version', '?')} on {platform.get('system', '?')} {platform.get('machine', '')}, "
             f"{len(env.get('packages', {}))} packages" + (f", torch {torch.get('version')}" if torch.get("version")
                                                          else "") + (f" (CUDA {torch['cuda']})" if torch.get("cuda")
                                                                      else ""),
             f"  config ({started.get('config_hash', '')[:16]}...): {_compact(started.get('config', {}), 200)}"]
    if started.get("rerun_of"):
        lines.append(f"  a rerun of {started['rerun_of']}")
    for parent in started.get("parents", []):
        lines.append(f"  parent: {parent['relation']} {parent['kind']} {parent['id']}"
                     + (f" (digest {str(parent['digest'])[:16]}...)" if parent.get("digest") else ""))
    lines.append(history(run["model_id"], records))
    return "\n".join(lines)


def run_stats(stats: dict[str, Any]) -> str:
    lines = [f"{stats['runs']} run(s)" + (f", from {stats['first_started']} to {stats['last_started']}"
                                          if stats["runs"] else "")]
    for title, key in (("by status", "by_status"), ("by kind", "by_kind")):
        if stats[key]:
            lines.append(f"  {title}: " + ", ".join(f"{k} {v}" for k, v in sorted(stats[key].items())))
    for kind, mean in sorted(stats["mean_seconds_by_kind"].items()):
        lines.append(f"  mean duration of {kind} runs: {mean:.1f} s")
    return "\n".join(lines)


def lineage(graph: Any, node_id: str) -> str:
    node = graph.node(node_id)
    lines = [f"{node.kind} {node_id}" + (f" ({node.label})" if node.label else "") + f", depth {graph.depth(node_id)}"]
    for title, items in (("ancestors", graph.ancestors(node_id)), ("descendants", graph.descendants(node_id))):
        lines.append(f"  {title}: {len(items)}")
        for other, distance in items[:50]:
            found = graph.node(other)
            lines.append(f"    {'  ' * (distance - 1)}{found.kind} {other}" + (f" ({found.label})" if found.label
                                                                                  else ""))
        if len(items) > 50:
            lines.append(f"    ... {len(items) - 50} more (--json for all)")
    return "\n".join(lines)


def _reasons(data: dict[str, Any]) -> tuple[str, ...]:
    """Why a gate failed, in words: derived again from the recorded gate and inputs (a recorded decision holds
    only values a verifier recomputes, never free text)."""
    from pot.lineage.events import combined_metrics
    from pot.lineage.gates import Gate, evaluate

    return evaluate(Gate.from_json(data["gate"]), combined_metrics(data["inputs"])).reasons


def promotion(event: EventRecord) -> str:
    data = event.data
    decision = data["decision"]
    head = "PROMOTED" if event.event == "ModelPromoted" else "REFUSED"
    lines = [f"{head}: {event.model_id} ({str(data['model_hash'])[:16]}...) to stage {data['stage']}"]
    for check in decision.get("checks", []):
        lines.append(f"  {'ok  ' if check['passed'] else 'FAIL'} {check['metric']} {check['op']} {check['threshold']}"
                     f" (was {check['value']})")
    if decision.get("score") is not None:
        lines.append(f"  composite score {decision['score']}")
    lines += [f"  {reason}" for reason in _reasons(data)]
    lines.append(f"  recorded as {event.event} (event {event.event_id[:16]}...)")
    return "\n".join(lines)


def checks(title: str, rows: Sequence[tuple[str, bool, str]], verdict: str) -> str:
    width = max((len(name) for name, _, _ in rows), default=0)
    lines = [title] + [f"  {'ok  ' if passed else 'FAIL'} {name.ljust(width)}  {detail}"
                       for name, passed, detail in rows]
    return "\n".join([*lines, verdict])


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'pot-provenance[plot]'") from None
    return plt


def plot_format(path: Path) -> str:
    """The image format for ``path`` (its extension; png without one), or a UsageError naming those there are.

    Checked before anything is read or written, so a name matplotlib cannot write costs nothing.
    """
    _pyplot()
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    supported = FigureCanvasAgg.get_supported_filetypes()
    fmt = path.suffix[1:].lower() or "png"
    if fmt not in supported:
        raise UsageError(f"--plot {path}: cannot plot to a .{fmt} file; use one of "
                         f"{', '.join('.' + name for name in sorted(supported))}")
    return fmt


def plot_metrics(model_id: str, records: Sequence[Record], path: Path, *, stores: Sequence[Path] = (),
                 key_files: Sequence[Path] = ()) -> None:
    """Checkpoint metrics over epochs and step metrics over steps, as an image (matplotlib, headless).

    The file is written whole or not at all, never inside a store or over a key (see pot._internal.files).
    """
    fmt = plot_format(path)
    plt = _pyplot()
    epochs: dict[str, list[tuple[int, float]]] = {}
    for record in records:
        if isinstance(record, TrainingCheckpoint) and record.file_sha256 is None:
            for name, value in record.metrics.items():
                if isinstance(value, int | float):
                    epochs.setdefault(name, []).append((record.epoch, float(value)))
    steps: dict[str, list[tuple[int, float]]] = {}
    for record in records:
        if isinstance(record, StepsRecord):
            for name, values in record.metrics.items():
                steps.setdefault(name, []).extend((s, float(v)) for s, v in zip(record.steps, values, strict=True)
                                                  if isinstance(v, int | float))
    panels = [(f"{name} by epoch", points) for name, points in sorted(epochs.items())] + \
             [(f"{name} by step", points) for name, points in sorted(steps.items())]
    if not panels:
        raise UsageError(f"{model_id!r} has no numeric metrics to plot")
    figure, axes = plt.subplots(len(panels), 1, figsize=(7, 2.4 * len(panels)), squeeze=False)
    try:
        for axis, (title, points) in zip(axes[:, 0], panels, strict=True):
            xs, ys = zip(*points, strict=True)
            axis.plot(xs, ys, marker="." if len(points) < 60 else None)
            axis.set_title(title, fontsize=9)
            axis.grid(alpha=0.3)
        figure.suptitle(model_id, fontsize=10)
        figure.tight_layout()
        with files.output_file(path, stores=stores, key_files=key_files) as handle:
            figure.savefig(handle, format=fmt, dpi=110)
    finally:
        plt.close(figure)


def head_lines(result: VerificationReport) -> list[str]:
    """The verifier's per-head lines (when the records existed, on whose word), as ``pot verify`` prints them, for
    other pages that must say no more than the verifier did (``pot show``)."""
    return _head_spans(result)


def cell(item: Any) -> str:
    """One value from a proof or a store for a table cell, escaped: a float to 6 significant digits, a string as it
    is, true/false/null as JSON writes them, anything else as compact JSON."""
    if isinstance(item, float):
        return f"{item:.6g}"
    if isinstance(item, bool) or item is None:
        return json.dumps(item)
    if isinstance(item, int | str):
        return safe(item)
    return safe(json.dumps(item, ensure_ascii=False, separators=(",", ":")))


LONG_TABLE_ROWS = 40  # a page for a person stays a page: a longer table keeps its first and last rows


def long_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], indent: str = "  ") -> list[str]:
    """:func:`table` as indented lines, cut to its first and last rows when it is long (``--json`` has them all)."""
    half = LONG_TABLE_ROWS // 2
    shown = rows if len(rows) <= LONG_TABLE_ROWS else [*rows[:half], *rows[-half:]]
    lines = [indent + line for line in table(headers, shown).splitlines()]
    if len(rows) > LONG_TABLE_ROWS:
        lines.insert(2 + half, f"{indent}... {len(rows) - LONG_TABLE_ROWS} more (--json for all)")
    return lines


_ABSENT = "(absent)"


def _diff_rows(changes: dict[str, Any], prefix: str = "") -> list[tuple[str, str, str]]:
    rows = [(prefix + safe(c["key"]), cell(c["a"]), cell(c["b"])) for c in changes["changed"]]
    rows += [(prefix + safe(c["key"]), _ABSENT, cell(c["b"])) for c in changes["added"]]
    rows += [(prefix + safe(c["key"]), cell(c["a"]), _ABSENT) for c in changes["removed"]]
    return sorted(rows)


def _diff_counts(changes: dict[str, Any]) -> str:
    return (f"{len(changes['changed'])} changed, {len(changes['added'])} added, {len(changes['removed'])} removed, "
            f"{changes['unchanged']} unchanged")


def _git_words(git: dict[str, Any] | None) -> str:
    if not git or not git.get("commit"):
        return "no commit recorded"
    dirty = {True: " with uncommitted changes", False: " (clean)"}.get(git["dirty"], "") if "dirty" in git else ""
    return f"{safe(git['commit'])[:12]}{dirty}" + (f" on {safe(git['branch'])}" if git.get("branch") else "")


def run_comparison(data: dict[str, Any]) -> str:
    """``pot runs compare A B`` for people (the data is pot.lineage.compare.compare_runs's)."""
    a, b = data["a"], data["b"]

    def took(run: dict[str, Any]) -> str:
        seconds = run["seconds"]
        if seconds is None:
            return "-"
        return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"

    rows = [("model", safe(a["model_id"]), safe(b["model_id"])),
            ("kind", safe(a["kind"]), safe(b["kind"])),
            ("status", safe(a["status"]) + (f" ({safe(a['error'])})" if a["error"] else ""),
             safe(b["status"]) + (f" ({safe(b['error'])})" if b["error"] else "")),
            ("started", a["started"], b["started"]), ("took", took(a), took(b)),
            ("user", cell(a["user"]), cell(b["user"])), ("git", _git_words(a["git"]), _git_words(b["git"])),
            ("records", f"{a['checkpoints']} checkpoint(s), {a['validations']} validation(s)",
             f"{b['checkpoints']} checkpoint(s), {b['validations']} validation(s)")]
    lines = [f"runs {safe(a['run_id'])} (a) and {safe(b['run_id'])} (b)",
             *("  " + line for line in table(("", "a", "b"), rows).splitlines())]

    config = data["config"]
    lines += ["", "configuration: " + ("the same (one config hash)" if config["identical"] else _diff_counts(config))]
    if _diff_rows(config):
        lines += ["  " + line for line in table(("key", "a", "b"), _diff_rows(config)).splitlines()]

    env = data["environment"]
    packages = env["packages"]
    words = "the same (one environment hash)" if env["identical"] else _diff_counts(env)
    if packages is not None and not env["identical"]:
        words += f"; packages: {_diff_counts(packages)}"
    lines += ["", "environment: " + words]
    env_rows = _diff_rows(env) + (_diff_rows(packages, "package ") if packages is not None else [])
    if env_rows:
        lines += ["  " + line for line in table(("key", "a", "b"), env_rows).splitlines()]

    git = data["git"]
    if git["same_commit"]:
        lines += ["", f"git: the same commit {safe(a['git']['commit'])}"]
    else:
        lines += ["", "git: different commits" if a["git"] and b["git"] and a["git"].get("commit")
                  and b["git"].get("commit") else "git: a commit is not recorded"]
    if _diff_rows(git):
        lines += ["  " + line for line in table(("key", "a", "b"), _diff_rows(git)).splitlines()]

    metrics = data["metrics"]
    if metrics["epochs"]:
        headers = ["epoch", *(f"{safe(n)} {side}" for n in metrics["names"] for side in ("a", "b"))]
        epoch_rows = [[e["epoch"], *(cell(e[side][n]) if n in e[side] else "" for n in metrics["names"]
                                     for side in ("a", "b"))] for e in metrics["epochs"]]
        lines += ["", "metrics by epoch (checkpoints):", *long_table(headers, epoch_rows)]
    else:
        lines += ["", "metrics by epoch: neither run recorded a checkpoint"]

    if data["final"]:
        final_rows = [(r["source"] + (f" {safe(r['validator'])}" if r["validator"] else ""), safe(r["metric"]),
                       cell(r["a"]) if "a" in r else _ABSENT, cell(r["b"]) if "b" in r else _ABSENT,
                       "" if r["difference"] is None else f"{r['difference']:+.6g}") for r in data["final"]]
        lines += ["", "final values (the last recorded of each):",
                  *("  " + line for line in table(("source", "metric", "a", "b", "b - a"), final_rows).splitlines())]
    return "\n".join(lines)
