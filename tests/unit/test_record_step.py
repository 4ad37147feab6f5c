"""record_step refuses a bad value at the call that passes it, and never loses the steps accepted before it."""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import pytest

from pot import FormatError, ProvenanceRecorder, UsageError, verify_proof
from pot.log.records import StepsRecord

from ..support.readonly import read_only


def logged_steps(recorder: ProvenanceRecorder, model_id: str = "m") -> list[tuple[int, dict[str, Any]]]:
    """Every step in the log, with its metrics, in order."""
    out = []
    for record in recorder.store.records(model_id):
        assert isinstance(record, StepsRecord)
        for i, step in enumerate(record.steps):
            out.append((step, {name: values[i] for name, values in record.metrics.items() if values[i] is not None}))
    return out


class Opaque:
    """Something training code might pass by mistake: no number, no ``item()``."""


BAD_VALUES: dict[str, tuple[Any, str]] = {
    "a string": ("low", "metrics.loss must be a number or None, got the string 'low'"),
    "an object": (Opaque(), "metrics.loss: Opaque cannot be recorded as JSON"),
    "a dict": ({"a": 1.0}, "metrics.loss must be a number or None, got dict"),
    "a list": ([1.0, 2.0], "metrics.loss must be a number or None, got list"),
    "a bool": (True, "metrics.loss must be a number or None, got bool"),
    "a fraction": (Fraction(1, 3), "metrics.loss: Fraction cannot be recorded as JSON"),
    "an integer too large for JSON": (2**60, "outside the range JSON carries exactly"),
}


@pytest.mark.parametrize("bad", list(BAD_VALUES))
def test_a_bad_value_refuses_that_call_only_and_keeps_the_steps_before_it(
        make_recorder: Callable[..., ProvenanceRecorder], bad: str) -> None:
    value, message = BAD_VALUES[bad]
    recorder = make_recorder(step_block=1000)
    for step in range(1, 11):
        recorder.record_step(step, {"loss": 1.0 / step}, "m", epoch=0)
    with pytest.raises(FormatError) as caught:
        recorder.record_step(11, {"loss": value}, "m", epoch=0)
    assert str(caught.value).startswith("step 11 of 'm': ") and message in str(caught.value)
    assert "\n" not in str(caught.value)
    for step in range(12, 15):  # training goes on
        recorder.record_step(step, {"loss": 1.0 / step}, "m", epoch=0)
    recorder.flush()
    assert [step for step, _ in logged_steps(recorder)] == [*range(1, 11), *range(12, 15)]
    verify_proof(recorder.generate_proof_of_training("m"), trusted_key=recorder.public_key)


def test_a_bad_value_in_a_full_block_loses_nothing(make_recorder: Callable[..., ProvenanceRecorder]) -> None:
    """The call that would have filled the block is the one refused: the block is written without it, later."""
    recorder = make_recorder(step_block=5)
    for step in range(1, 5):
        recorder.record_step(step, {"loss": 0.5}, "m")
    with pytest.raises(FormatError, match="^step 5 of 'm'"):
        recorder.record_step(5, {"loss": "oops"}, "m")
    recorder.record_step(5, {"loss": 0.5}, "m")  # the same step, right this time: the block fills and is written
    assert [step for step, _ in logged_steps(recorder)] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda r: r.record_step(-1, {"loss": 1.0}, "m"), FormatError, "^step -1 of 'm': a step must be in 0..2"),
    (lambda r: r.record_step(2**53, {"loss": 1.0}, "m"), FormatError, "a step must be in 0..2"),
    (lambda r: r.record_step("7", {"loss": 1.0}, "m"), UsageError, "step must be an integer, got str"),
    (lambda r: r.record_step(7, {"loss": 1.0}, ""), FormatError, "model_id must be a non-empty string"),
    (lambda r: r.record_step(7, {"loss": 1.0}, "m", epoch=-2), FormatError, "^step 7 of 'm': epoch must be >= 0"),
    (lambda r: r.record_step(7, {"loss": 1.0}, "m", epoch=1.5), FormatError, "epoch must be an integer, got float"),
    (lambda r: r.record_step(7, [("loss", 1.0)], "m"), FormatError, "metrics must be a mapping of names to numbers"),
    (lambda r: r.record_step(7, {3: 1.0}, "m"), FormatError, "metric names must be strings, got int 3"),
])
def test_bad_arguments_are_refused_at_the_call(make_recorder: Callable[..., ProvenanceRecorder], call: Any,
                                               error: type[Exception], message: str) -> None:
    recorder = make_recorder()
    recorder.record_step(1, {"loss": 1.0}, "m")
    with pytest.raises(error, match=message):
        call(recorder)
    recorder.flush()
    assert logged_steps(recorder) == [(1, {"loss": 1.0})]


def test_what_record_step_accepts(make_recorder: Callable[..., ProvenanceRecorder]) -> None:
    recorder = make_recorder()
    np = pytest.importorskip("numpy")
    torch = pytest.importorskip("torch")
    accepted = [{"loss": 0.5}, {"loss": 3}, {"loss": None, "acc": 0.9}, {"loss": math.nan},
                {"loss": -math.inf}, {"loss": np.float32(0.25)}, {"loss": np.int64(4)}, {"loss": torch.tensor(0.125)},
                {"loss": "Infinity"}, {}]
    for step, metrics in enumerate(accepted, 1):
        recorder.record_step(step, metrics, "m")
    with pytest.raises(FormatError, match="^step 99 of 'm': metrics.loss: Tensor is not a scalar"):
        recorder.record_step(99, {"loss": torch.ones(3)}, "m")
    recorder.flush()
    assert logged_steps(recorder) == [(1, {"loss": 0.5}), (2, {"loss": 3}), (3, {"acc": 0.9}), (4, {"loss": "NaN"}),
                                      (5, {"loss": "-Infinity"}), (6, {"loss": 0.25}), (7, {"loss": 4}),
                                      (8, {"loss": 0.125}), (9, {"loss": "Infinity"}), (10, {})]


def test_the_callers_dict_is_copied(make_recorder: Callable[..., ProvenanceRecorder]) -> None:
    recorder = make_recorder()
    metrics = {"loss": 1.0}
    recorder.record_step(1, metrics, "m")
    metrics["loss"] = 2.0  # a loop that reuses one dict
    recorder.record_step(2, metrics, "m")
    recorder.flush()
    assert logged_steps(recorder) == [(1, {"loss": 1.0}), (2, {"loss": 2.0})]


def test_steps_the_store_refuses_to_write_stay_buffered_for_the_next_flush(
        make_recorder: Callable[..., ProvenanceRecorder]) -> None:
    """A real refusal: the store made read-only (immutable, which root obeys too) while steps are buffered."""
    recorder = make_recorder(step_block=1000)
    recorder.record_step(1, {"loss": 1.0}, "m")
    recorder.flush()
    for step in range(2, 6):
        recorder.record_step(step, {"loss": 1.0 / step}, "m")
    recorder.store.close()  # a fresh connection sees the store read-only
    with read_only(recorder.store.root), pytest.raises(Exception, match="read-only|readonly|disk I/O"):
        recorder.flush()
    recorder.store.close()
    recorder.flush()
    assert [step for step, _ in logged_steps(recorder)] == [1, 2, 3, 4, 5]
