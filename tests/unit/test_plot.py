"""`pot history --plot`: what a person reads off the image, checked through matplotlib's own objects.

The records come from a real recorder and store; the figure is the one ``plot_metrics`` saves, built by
``metrics_figure`` so its lines, ticks, labels and scales can be read before it becomes pixels.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from pot import ProvenanceRecorder
from pot.cli import main
from pot.errors import UsageError
from pot.log.records import Record

from .conftest import digest

matplotlib = pytest.importorskip("matplotlib")
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from pot._internal.render import metrics_figure, plot_metrics  # noqa: E402

MODEL = "digits-mlp"


def weights(run_id: str, epoch: int) -> str:
    return hashlib.sha256(f"{run_id}/{epoch}".encode()).hexdigest()


def step_loss(step: int) -> float:
    return 2.5 * 0.85 ** step  # falls over three decades in 40 steps: flat on a linear axis


def record_run(recorder: ProvenanceRecorder, tmp_path: Path, run_id: str, *, epochs: int, steps_per_epoch: int,
               with_files: bool, bad_steps: dict[int, float] | None = None, validate_at: int | None = None) -> None:
    """One run of MODEL: every step's loss, a checkpoint per epoch (with a saved file when ``with_files``), and a
    held-out validation of the checkpoint of epoch ``validate_at``."""
    with recorder.start_run(MODEL, run_id=run_id, capture=False):
        step = 0
        for epoch in range(epochs):
            for _ in range(steps_per_epoch):
                step += 1
                value = (bad_steps or {}).get(step, step_loss(step))
                recorder.record_step(step, {"loss": value}, MODEL, epoch=epoch)
            metrics = {"loss": step_loss(step), "train_accuracy": 0.5 + 0.1 * epoch}
            path = None
            if with_files:
                path = tmp_path / f"{run_id}-epoch{epoch}.pt"
                path.write_bytes(f"weights of {run_id} at epoch {epoch}".encode())
            recorder.record_training_checkpoint(model_hash=weights(run_id, epoch), metrics=metrics,
                                                epoch=epoch, model_id=MODEL, checkpoint_path=path, step=step)
            if epoch == validate_at:
                recorder.record_validation(
                    model_hash=weights(run_id, epoch), validator_id="holdout", model_id=MODEL,
                    validation_result={"accuracy": 0.9, "loss": 0.3, "samples": 360, "passed": True,
                                       "per_class": {"0": 1.0}, "note": "ok"})


@pytest.fixture
def records(recorder: ProvenanceRecorder, tmp_path: Path) -> list[Record]:
    """Two runs of one model. run-a: 4 epochs of 10 steps, plain checkpoints, validated at epoch 2. run-b (a
    restart: its steps count from 1 again): 3 epochs of 10 steps, every checkpoint recorded with checkpoint_path=,
    NaN and infinities among its step losses, validated at epoch 1."""
    record_run(recorder, tmp_path, "run-a", epochs=4, steps_per_epoch=10, with_files=False, validate_at=2)
    record_run(recorder, tmp_path, "run-b", epochs=3, steps_per_epoch=10, with_files=True, validate_at=1,
               bad_steps={4: math.nan, 5: math.inf, 6: -math.inf})
    recorder.flush()
    return list(recorder.store.records(MODEL))


def panels(figure: Figure) -> dict[str, Axes]:
    """Axes by the title a person reads, without any note after it."""
    return {(axis.get_title(loc="left") or axis.get_title()).split(" (")[0]: axis for axis in figure.axes}


def lines(axis: Axes) -> dict[str, Line2D]:
    """Lines by their legend label; the dotted marks of when validations happened are left to the test that
    looks for them."""
    return {str(line.get_label()): line for line in axis.get_lines()
            if not str(line.get_label()).startswith("_") and line.get_gid() != "validation"}


def xy(line: Line2D) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in zip(line.get_xdata(), line.get_ydata(), strict=True)]  # type: ignore


def drawn(figure: Figure) -> Figure:
    figure.canvas.draw()  # ticks and layout as they will be saved
    return figure


def test_checkpoints_recorded_with_a_file_are_on_the_epoch_axis(recorder: ProvenanceRecorder, tmp_path: Path) -> None:
    record_run(recorder, tmp_path, "run-b", epochs=3, steps_per_epoch=2, with_files=True)
    recorder.flush()
    records = list(recorder.store.records(MODEL))
    assert all(r.file_sha256 for r in records if r.KIND == "checkpoint")  # type: ignore[attr-defined]
    epoch_loss = panels(metrics_figure(MODEL, records))["loss by epoch"]
    assert xy(lines(epoch_loss)["run-b"]) == [(e, step_loss(2 * (e + 1))) for e in range(3)]


def test_one_line_per_run_each_from_its_own_first_step(records: list[Record]) -> None:
    figure = metrics_figure(MODEL, records)
    step_loss_panel = panels(figure)["loss by step"]
    by_run = lines(step_loss_panel)
    assert set(by_run) == {"run-a", "run-b"}
    assert [x for x, _ in xy(by_run["run-a"])] == list(range(1, 41))
    assert xy(by_run["run-b"])[:3] == [(s, step_loss(s)) for s in (1, 2, 3)]  # starts again at step 1
    epoch_panel = panels(figure)["train_accuracy by epoch"]
    for run, epochs in (("run-a", 4), ("run-b", 3)):
        points = xy(lines(epoch_panel)[run])
        assert [x for x, _ in points] == list(range(epochs))
        assert [y for _, y in points] == pytest.approx([0.5 + 0.1 * e for e in range(epochs)])
    # a run keeps one colour in every panel, so a reader can follow it from steps to epochs
    assert by_run["run-a"].get_color() == lines(epoch_panel)["run-a"].get_color()
    assert by_run["run-a"].get_color() != by_run["run-b"].get_color()
    legend = step_loss_panel.get_legend()
    assert legend is not None and [text.get_text() for text in legend.get_texts()] == ["run-a", "run-b"]


def test_non_finite_values_are_left_out_and_said_so(records: list[Record], tmp_path: Path) -> None:
    figure = metrics_figure(MODEL, records)
    step_loss_panel = panels(figure)["loss by step"]
    run_b = xy(lines(step_loss_panel)["run-b"])
    assert [x for x, _ in run_b] == [s for s in range(1, 31) if s not in (4, 5, 6)]
    assert all(math.isfinite(y) for _, y in run_b)
    assert step_loss_panel.get_title(loc="left") == "loss by step (3 NaN or infinite values left out)"
    plot_metrics(MODEL, records, tmp_path / "out.png")
    assert (tmp_path / "out.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_validations_are_marked_where_they_fall_with_their_numeric_results(records: list[Record]) -> None:
    figure = metrics_figure(MODEL, records)
    found = panels(figure)
    # "loss" is both a checkpoint metric and a validation result: the holdout's loss sits among the runs' losses
    marks = lines(found["loss by epoch"])
    assert xy(marks["validation by holdout (run-a)"]) == [(2, 0.3)]
    assert xy(marks["validation by holdout (run-b)"]) == [(1, 0.3)]
    assert marks["validation by holdout (run-a)"].get_linestyle() == "None"  # points, not a line
    assert marks["validation by holdout (run-a)"].get_markerfacecolor() == marks["run-a"].get_color()
    # results no checkpoint records get a panel of their own; booleans, text and nested objects are not numbers
    assert xy(lines(found["accuracy by epoch"])["validation by holdout (run-a)"]) == [(2, 0.9)]
    assert xy(lines(found["samples by epoch"])["validation by holdout (run-b)"]) == [(1, 360)]
    assert not {"passed by epoch", "per_class by epoch", "note by epoch"} & set(found)
    # each mark carries its value in words
    assert sorted(t.get_text() for t in found["accuracy by epoch"].texts) == ["0.9", "0.9"]
    # and every epoch panel shows when the validations happened
    for title in ("loss by epoch", "train_accuracy by epoch"):
        assert sorted(x for line in found[title].get_lines() if line.get_gid() == "validation"
                      for x, _ in xy(line)[:1]) == [1, 2]


def test_a_validation_before_any_checkpoint_is_named_in_a_note(recorder: ProvenanceRecorder) -> None:
    recorder.record_validation(model_hash=digest(1), validator_id="baseline", model_id=MODEL,
                               validation_result={"accuracy": 0.1})
    recorder.record_training_checkpoint(model_hash=digest(2), metrics={"loss": 1.0}, epoch=0, model_id=MODEL)
    recorder.flush()
    figure = metrics_figure(MODEL, list(recorder.store.records(MODEL)))
    assert "accuracy by epoch" not in panels(figure)
    assert figure.get_supxlabel() == ("not on the epoch axis (no checkpoint of the same weights or of its run "
                                      "before it): validation by baseline: accuracy 0.1")


def test_axes_are_labelled_and_epoch_ticks_are_whole(records: list[Record]) -> None:
    figure = drawn(metrics_figure(MODEL, records))
    found = panels(figure)
    assert list(found) == ["accuracy by epoch", "loss by epoch", "samples by epoch", "train_accuracy by epoch",
                           "loss by step"]
    for title, axis in found.items():
        metric, _, unit = title.partition(" by ")
        assert (axis.get_xlabel(), axis.get_ylabel()) == (unit, metric)
        if unit == "epoch":
            ticks = [t for t in axis.get_xticks() if axis.get_xlim()[0] <= t <= axis.get_xlim()[1]]
            assert ticks and all(float(t).is_integer() for t in ticks), (title, ticks)
    assert figure.get_suptitle() == f"{MODEL}: 2 runs, 7 checkpoints, 2 validations"


def test_a_single_epoch_gets_one_whole_tick(recorder: ProvenanceRecorder) -> None:
    recorder.record_training_checkpoint(model_hash=digest(2), metrics={"acc": 0.5}, epoch=0, model_id=MODEL)
    recorder.flush()
    axis = panels(drawn(metrics_figure(MODEL, list(recorder.store.records(MODEL)))))["acc by epoch"]
    low, high = axis.get_xlim()
    assert [t for t in axis.get_xticks() if low <= t <= high] == [0]


def test_losses_and_values_spanning_decades_are_on_a_log_axis(recorder: ProvenanceRecorder,
                                                               records: list[Record]) -> None:
    found = panels(metrics_figure(MODEL, records))
    assert found["loss by step"].get_yscale() == "log"
    assert found["loss by epoch"].get_yscale() == "log"
    assert found["train_accuracy by epoch"].get_yscale() == "linear"
    assert found["accuracy by epoch"].get_yscale() == "linear"

    values: dict[str, Callable[[int], float]] = {
        "lr": lambda e: 1e-5 * 10 ** e,                # positive, three decades: log although not a loss
        "val_loss": lambda e: 0.5 - 0.1 * e,           # a loss with no more than a decade: still log
        "nll_loss": lambda e: 0.2 - 0.1 * e,           # a loss that reaches 0 and below: log cannot show it
        "accuracy": lambda e: 0.05 + 0.3 * e,          # 0.05 to 0.95: under two decades, stays linear
        "grad_norm": lambda e: [-1.0, 50.0, 5.0, 1.0][e],  # spans decades but not all positive
    }
    for epoch in range(4):
        recorder.record_training_checkpoint(model_hash=digest(epoch), epoch=epoch, model_id="m",
                                            metrics={name: f(epoch) for name, f in values.items()})
    recorder.flush()
    found = panels(metrics_figure("m", list(recorder.store.records("m"))))
    assert {name: found[f"{name} by epoch"].get_yscale() for name in values} == {
        "lr": "log", "val_loss": "log", "nll_loss": "linear", "accuracy": "linear", "grad_norm": "linear"}


def test_names_are_shown_as_written_not_as_mathtext(recorder: ProvenanceRecorder, tmp_path: Path) -> None:
    """A metric called ``$\\bogus$`` is not TeX to parse: matplotlib would fail to draw it."""
    name = "$\\bogus$ cost"
    recorder.record_training_checkpoint(model_hash=digest(1), metrics={name: 1.0}, epoch=0, model_id="m$")
    recorder.flush()
    figure = drawn(metrics_figure("m$", list(recorder.store.records("m$"))))
    (axis,) = figure.axes
    assert axis.get_ylabel() == "\\$\\bogus\\$ cost"  # matplotlib draws \$ as a plain dollar sign
    plot_metrics("m$", list(recorder.store.records("m$")), tmp_path / "odd.png")


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_written_png_is_the_figure(records: list[Record], tmp_path: Path) -> None:
    target = tmp_path / "metrics.png"
    plot_metrics(MODEL, records, target)
    width, height = png_size(target)
    figure = metrics_figure(MODEL, records)
    expected = [round(inches * 110) for inches in figure.get_size_inches()]
    assert [width, height] == expected and height > width  # five panels, one under another
    image = matplotlib.image.imread(target)
    assert image.shape[:2] == (height, width) and image.std() > 0.05  # not blank


def test_history_plot_command(records: list[Record], store_dir: Path, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--store", str(store_dir), "history", "--model-id", MODEL, "--plot", str(tmp_path / "h.png")])
    out, err = capsys.readouterr()
    assert code == 0 and err == "" and out.rstrip().endswith(f"plotted to {tmp_path / 'h.png'}")
    assert png_size(tmp_path / "h.png")[0] > 0


def test_nothing_numeric_is_one_usage_error(recorder: ProvenanceRecorder) -> None:
    with recorder.start_run("m", run_id="run-x", capture=False):
        pass
    recorder.flush()
    with pytest.raises(UsageError, match=r"^'m' has no numeric metrics to plot$"):
        metrics_figure("m", list(recorder.store.records("m")))


