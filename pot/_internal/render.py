"""Text rendering for the CLI: tables and reports for people (``--json`` output bypasses this)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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


def report(path: str, result: VerificationReport, failed: str | None = None, *, unchecked: bool = False,
           details: Mapping[str, Sequence[str]] | None = None) -> str:
    """The verifier's report for people; its last line is the verdict: VERIFIED, FAILED, or NOT CHECKED when every
    check passed but one that needs the network could not run (``unchecked``). ``details``: lines shown under a
    check, by its name (one per file of ``--model-dir``)."""
    lines = [f"proof {safe(path)}: model {safe(result.model_id)}, {result.disclosure} disclosure, "
             f"{result.record_count} record(s) of a log of {result.log_size}"]
    width = max((len(c.name) for c in result.checks), default=0)
    for check in result.checks:
        mark = "ok  " if check.passed else "FAIL"
        lines.append(f"  {mark} {check.name.ljust(width)}  {safe(check.detail)}")
        lines += [f"       {safe(line)}" for line in (details or {}).get(check.name, ())]
    if result.heads:
        lines.append(f"  when the records existed ({len(result.heads)} tree head(s)):")
        lines += _head_spans(result)
    for note in result.notes:
        lines.append(f"  note: {safe(note)}")
    if failed and unchecked:
        lines.append(f"NOT CHECKED: {safe(failed)} (the offline checks passed; the chain receipts could not all be "
                     "checked against the chain)")
    else:
        lines.append(f"FAILED: {safe(failed)}" if failed else "VERIFIED")
    return "\n".join(lines)


_HEAD_WORDS = {
    "chain": "existed by {chain_time}, checked on the chain ({chain_detail})",
    "chain-unchecked": "a chain receipt (block time {claimed_time}) NOT checked against a chain: the signer's word "
                       "until pot verify --rpc URL checks it",
    "tsa": "existed by {tsa_time}, by a TSA token checked against a pinned certificate ({tsa_detail})",
    "tsa-unchecked": "a TSA token (time {tsa_claimed_time}) NOT checked against a pinned TSA certificate: the signer's "
                     "word until pot verify --tsa-cert PEM checks it",
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
        tsa_detail = (head.tsa_detail or "").removeprefix("covered by a later head: ")
        words = _HEAD_WORDS[head.strength].format(chain_time=head.chain_time, chain_detail=detail,
                                                  claimed_time=head.claimed_time, tsa_time=head.tsa_time,
                                                  tsa_detail=tsa_detail, tsa_claimed_time=head.tsa_claimed_time)
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


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'pot-provenance[plot]'") from None


def plot_format(path: Path) -> str:
    """The image format for ``path`` (its extension; png without one), or a UsageError naming those there are.

    Checked before anything is read or written, so a name matplotlib cannot write costs nothing.
    """
    _require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    supported = FigureCanvasAgg.get_supported_filetypes()
    fmt = path.suffix[1:].lower() or "png"
    if fmt not in supported:
        raise UsageError(f"--plot {path}: cannot plot to a .{fmt} file; use one of "
                         f"{', '.join('.' + name for name in sorted(supported))}")
    return fmt


PLOT_DPI = 110
PANEL_INCHES = (9.0, 2.6)  # width, height of one panel: room on the right for a legend of run ids

LOG_SPAN = 100.0
"""Positive values whose largest is more than this many times their smallest are plotted on a log axis whatever
the metric is called: two decades, so that an accuracy climbing from chance (0.05 to 0.95 is 19x) stays linear
while a learning-rate schedule or a gradient norm spanning decades becomes readable."""

_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}  # how the format writes them

_SeriesKey = tuple[str | None, int | None]  # (run_id, rank): steps restart per run, and each rank counts its own


def uses_log_scale(metric: str, values: Sequence[float]) -> bool:
    """Whether a panel's y axis is logarithmic: every value is positive, and the metric is a loss (its name
    contains "loss", any case) or its values span more than :data:`LOG_SPAN`. Otherwise linear: a log axis cannot
    show zero or a negative number."""
    if not values or min(values) <= 0:
        return False
    return "loss" in metric.lower() or max(values) > LOG_SPAN * min(values)


def _plot_value(value: Any) -> float | None:
    """A metric value as a float (non-finite ones included, to be counted and left out), or None for what is no
    number at all: booleans, text, nested objects, and the null of a step that lacks the metric."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return float(value)
        except OverflowError:  # an integer beyond any double: cannot be drawn, so counted with the infinities
            return math.inf
    if isinstance(value, str):
        return _NON_FINITE.get(value)
    return None


def _plot_text(value: Any) -> str:
    """Text from a record as matplotlib should draw it: control and invisible characters shown as escapes, as
    everywhere pot shows a record's text (:func:`safe`), and ``$`` escaped, since matplotlib reads text between two
    dollar signs as TeX (``$\\bogus$`` would fail to draw, and a name is never a formula)."""
    return safe(value).replace("$", r"\$")


@dataclass(slots=True)
class _Panel:
    metric: str
    unit: str  # "epoch" or "step": the x axis
    lines: dict[_SeriesKey, list[tuple[float, float]]] = field(default_factory=dict)
    marks: dict[tuple[str, _SeriesKey], list[tuple[float, float]]] = field(default_factory=dict)  # validations
    left_out: int = 0  # NaN and infinities

    def add(self, points: list[tuple[float, float]], x: float, value: float) -> None:
        if math.isfinite(value):
            points.append((x, value))
        else:
            self.left_out += 1


def _validation_epochs(records: Sequence[Record]) -> dict[int, int]:
    """Where each validation (by its index in ``records``) falls on the epoch axis. A validation names the weights
    it checked, not an epoch, so: the epoch of a checkpoint of the same weights (the last recorded before it, else
    the first after it, for loops that validate before they save); else the epoch of the last checkpoint its run
    recorded before it. A validation with neither is left out of the dict."""
    by_hash_before: dict[str, int] = {}
    by_run_before: dict[str | None, int] = {}
    first_by_hash: dict[str, int] = {}
    for record in records:
        if isinstance(record, TrainingCheckpoint):
            first_by_hash.setdefault(record.model_hash, record.epoch)
    placed: dict[int, int] = {}
    for index, record in enumerate(records):
        if isinstance(record, TrainingCheckpoint):
            by_hash_before[record.model_hash] = by_run_before[record.run_id] = record.epoch
        elif isinstance(record, ValidationRecord):
            epoch = by_hash_before.get(record.model_hash, first_by_hash.get(record.model_hash,
                                                                            by_run_before.get(record.run_id)))
            if epoch is not None:
                placed[index] = epoch
    return placed


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def metrics_figure(model_id: str, records: Sequence[Record]) -> Any:
    """A matplotlib ``Figure`` of a model's metrics, one panel per metric, for a report.

    - Checkpoint metrics over epochs (every checkpoint, however it was recorded), step metrics over steps.
    - One line per run, labelled with its run id and in one colour across panels; records without a run make a
      line called "no run", and a run recorded by several ranks a line per rank.
    - Validations: a dotted vertical line at each validation's epoch on every epoch panel, and each numeric result
      as a star, with its value, on the panel of the metric of that name (a panel of its own if no checkpoint
      records it). Where a validation falls: see :func:`_validation_epochs`; one that falls nowhere is named in a
      note under the panels.
    - Axes labelled (epoch or step; the metric), whole-number ticks, a log y axis where :func:`uses_log_scale`
      says so. NaN and infinite values are left out and counted in the panel's title.

    Headless: a bare Figure on the Agg canvas (no pyplot, no global state, no GUI backend). Raises
    :class:`UsageError` when nothing numeric was recorded or matplotlib is missing.
    """
    _require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    epoch_panels: dict[str, _Panel] = {}
    step_panels: dict[str, _Panel] = {}
    keys: list[_SeriesKey] = []  # in the order they first appear: the order of colours and legends
    for record in records:
        key = (record.run_id, record.rank)
        if isinstance(record, TrainingCheckpoint):
            for name, raw in record.metrics.items():
                if (value := _plot_value(raw)) is not None:
                    panel = epoch_panels.setdefault(name, _Panel(name, "epoch"))
                    panel.add(panel.lines.setdefault(key, []), record.epoch, value)
        elif isinstance(record, StepsRecord):
            for name, series in record.metrics.items():
                for step, raw in zip(record.steps, series, strict=True):
                    if (value := _plot_value(raw)) is not None:
                        panel = step_panels.setdefault(name, _Panel(name, "step"))
                        panel.add(panel.lines.setdefault(key, []), step, value)
        else:
            continue
        if key not in keys:
            keys.append(key)

    placed = _validation_epochs(records)
    unplaced: list[str] = []
    validations = 0
    for index, record in enumerate(records):
        if not isinstance(record, ValidationRecord):
            continue
        validations += 1
        numeric = {name: value for name, raw in record.validation_result.items()
                   if (value := _plot_value(raw)) is not None}
        if index not in placed:
            results = ", ".join(f"{name} {value:.4g}" for name, value in numeric.items())
            unplaced.append(f"validation by {record.validator_id}" + (f": {results}" if results else ""))
            continue
        for name, value in numeric.items():
            panel = epoch_panels.setdefault(name, _Panel(name, "epoch"))
            panel.add(panel.marks.setdefault((record.validator_id, (record.run_id, record.rank)), []),
                      placed[index], value)
    validation_epochs = sorted(set(placed.values()))

    panels = [epoch_panels[name] for name in sorted(epoch_panels)] + [step_panels[name] for name in sorted(step_panels)]
    if not panels:
        raise UsageError(f"{model_id!r} has no numeric metrics to plot")

    palette = [f"C{i % 10}" for i in range(len(keys))]  # matplotlib's default cycle, fixed per run across panels
    colour = dict(zip(keys, palette, strict=True))
    run_colour = {run_id: colour[(run_id, rank)] for run_id, rank in reversed(keys)}  # a run's first line
    ranks: dict[str | None, set[int | None]] = {}
    for run_id, rank in keys:
        ranks.setdefault(run_id, set()).add(rank)

    def label(key: _SeriesKey) -> str:
        run_id, rank = key
        text = run_id if run_id is not None else "no run"
        return _plot_text(text + (f" rank {rank}" if len(ranks.get(run_id, ())) > 1 else ""))

    width, height = PANEL_INCHES
    figure = Figure(figsize=(width, height * len(panels) + 0.6), dpi=PLOT_DPI, layout="constrained")
    FigureCanvasAgg(figure)  # attaches itself: the figure can be drawn and saved without pyplot
    first_epoch_axis = None
    for axis, panel in zip(figure.subplots(len(panels), 1, squeeze=False)[:, 0], panels, strict=True):
        if panel.unit == "epoch":  # one epoch axis for all: a validation's star lines up with the runs' points
            if first_epoch_axis is None:
                first_epoch_axis = axis
            else:
                axis.sharex(first_epoch_axis)
        values: list[float] = []
        for key, points in panel.lines.items():
            xs, ys = [x for x, _ in points], [y for _, y in points]
            values += ys
            axis.plot(xs, ys, color=colour[key], label=label(key), linewidth=1.3,
                      marker="." if len(points) < 60 else None)
        if panel.unit == "epoch":
            for number, epoch in enumerate(validation_epochs):
                axis.axvline(epoch, color="0.55", linestyle=":", linewidth=1.0, zorder=0, gid="validation",
                             label="validation" if number == 0 else "_nolegend_")
        for (validator, key), points in panel.marks.items():
            xs, ys = [x for x, _ in points], [y for _, y in points]
            values += ys
            run_id = key[0]
            axis.plot(xs, ys, linestyle="None", marker="*", markersize=13, markeredgecolor="black",
                      markerfacecolor=colour.get(key, run_colour.get(run_id, "black")), zorder=3,
                      label=_plot_text(f"validation by {validator}" + (f" ({run_id})" if run_id is not None else "")))
            for x, y in points:
                axis.annotate(f"{y:.4g}", (x, y), xytext=(7, 5), textcoords="offset points", fontsize=8)
            axis.margins(y=0.15)  # room for the value written beside a star at the top or bottom
        if not values:
            axis.text(0.5, 0.5, "no finite values", transform=axis.transAxes, ha="center", va="center", color="0.4")
        metric = _plot_text(panel.metric)
        note = f" ({_plural(panel.left_out, 'NaN or infinite value')} left out)" if panel.left_out else ""
        axis.set_title(f"{metric} by {panel.unit}{note}", fontsize=10, loc="left")
        axis.set_xlabel(panel.unit)
        axis.set_ylabel(metric)
        axis.set_yscale("log" if uses_log_scale(panel.metric, values) else "linear")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # whole epochs and steps, even one
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    runs = len({record.run_id for record in records if record.run_id is not None})
    checkpoints = sum(isinstance(record, TrainingCheckpoint) for record in records)
    counts = ([_plural(runs, "run")] if runs else []) + [_plural(checkpoints, "checkpoint"),
                                                         _plural(validations, "validation")]
    figure.suptitle(f"{_plot_text(model_id)}: {', '.join(counts)}", fontsize=11)
    if unplaced:
        figure.supxlabel(_plot_text("not on the epoch axis (no checkpoint of the same weights or of its run before "
                                    "it): " + "; ".join(unplaced)), fontsize=8, wrap=True)
    return figure


def plot_metrics(model_id: str, records: Sequence[Record], path: Path, *, stores: Sequence[Path] = (),
                 key_files: Sequence[Path] = ()) -> None:
    """:func:`metrics_figure`, written as an image in the format of ``path``'s extension (png without one).

    The file is written whole or not at all, never inside a store or over a key (see pot._internal.files).
    """
    fmt = plot_format(path)
    figure = metrics_figure(model_id, records)
    with files.output_file(path, stores=stores, key_files=key_files) as handle:
        figure.savefig(handle, format=fmt, dpi=PLOT_DPI)


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
