"""Recording for replay: batch digests on steps records, optimizer and RNG digests on checkpoints (no torch)."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import pytest

from pot import ProvenanceConfig, ProvenanceRecorder
from pot.errors import FormatError, UsageError
from pot.log.records import StepsRecord, TrainingCheckpoint
from pot.replay.digests import batch_digest_of, state_digest_of

from ..unit.conftest import StepClock, digest


def _recorder(tmp_path: Path) -> ProvenanceRecorder:
    return ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp_path / "store"), step_block=100),
                              clock=StepClock())


def test_batch_digests_go_into_the_steps_record_one_per_step(tmp_path: Path) -> None:
    with _recorder(tmp_path) as recorder:
        for step in range(1, 4):
            recorder.record_step(step, {"loss": 1.0 / step}, "m", epoch=0, batch=digest(step))
        recorder.record_training_checkpoint(model_hash=digest(9), metrics={}, epoch=0, model_id="m", step=3,
                                            optimizer_hash=digest(10), rng_hash=digest(11))
        records = recorder.generate_proof_of_training("m").records
    steps = [r for r in records if isinstance(r, StepsRecord)]
    assert [s.batches for s in steps] == [[digest(1), digest(2), digest(3)]]
    [checkpoint] = [r for r in records if isinstance(r, TrainingCheckpoint)]
    assert (checkpoint.optimizer_hash, checkpoint.rng_hash) == (digest(10), digest(11))


def test_steps_with_and_without_batch_digests_go_into_separate_records(tmp_path: Path) -> None:
    with _recorder(tmp_path) as recorder:
        recorder.record_step(1, {"loss": 1.0}, "m", batch=digest(1))
        recorder.record_step(2, {"loss": 1.0}, "m")
        recorder.record_step(3, {"loss": 1.0}, "m", batch=digest(3))
        recorder.flush()
        records = recorder.generate_proof_of_training("m").records
    assert [(r.steps, r.batches) for r in records if isinstance(r, StepsRecord)] == [
        ([1], [digest(1)]), ([2], None), ([3], [digest(3)])]


@pytest.mark.parametrize("bad", ["AB" * 32, "ab" * 31, 5, "g" * 64])
def test_a_batch_digest_that_is_not_64_hex_is_refused_naming_the_step(tmp_path: Path, bad: object) -> None:
    with _recorder(tmp_path) as recorder:
        with pytest.raises(FormatError, match="step 7 of 'm'.*batch"):
            recorder.record_step(7, {"loss": 1.0}, "m", batch=bad)  # type: ignore[arg-type]
        recorder.record_step(8, {"loss": 1.0}, "m", batch=digest(8))  # the refusal cost nothing else


def test_a_steps_record_needs_one_batch_digest_per_step() -> None:
    body = {"type": "steps", "model_id": "m", "seq": 0, "timestamp": "2026-11-22T12:00:00.000000Z",
            "steps": [1, 2], "metrics": {"loss": [1.0, 0.5]}, "batches": [digest(1)]}
    with pytest.raises(FormatError, match="batches has 1 digests for 2 steps"):
        StepsRecord.from_body(body)
    with pytest.raises(FormatError, match="may not be null"):
        StepsRecord.from_body({**body, "batches": None})
    assert StepsRecord.from_body({**body, "batches": [digest(1), digest(2)]}).batches == [digest(1), digest(2)]


def test_the_batch_digest_is_the_model_hash_of_indices_and_content() -> None:
    """docs/REPLAY.md §2, recomputed here from the definition with hashlib alone."""
    indices = ("indices", "int64", [2], struct.pack("<2q", 5, 1))
    x = ("x", "float32", [2, 1], struct.pack("<2f", 0.5, -2.0))

    def entry(name: str, dtype: str, shape: list[int], data: bytes) -> str:
        return (f'{{"dtype":"{dtype}","name":"{name}","sha256":"{hashlib.sha256(data).hexdigest()}",'
                f'"shape":[{",".join(map(str, shape))}]}}')

    manifest = f'{{"format":"pot.model-hash.v1","tensors":[{entry(*indices)},{entry(*x)}]}}'
    assert batch_digest_of(indices, [x]) == hashlib.sha256(manifest.encode()).hexdigest()
    swapped = ("indices", "int64", [2], struct.pack("<2q", 1, 5))
    assert batch_digest_of(swapped, [x]) != batch_digest_of(indices, [x])  # the order of the samples counts
    with pytest.raises(UsageError, match="int64 vector"):
        batch_digest_of(("indices", "int32", [2], b"\0" * 8), [x])
    with pytest.raises(UsageError, match="may not be named 'indices'"):
        batch_digest_of(indices, [indices])


def test_the_state_digest_binds_every_tensor_and_value() -> None:
    tensors = [("state/0/exp_avg", "float32", [1], struct.pack("<f", 0.25))]
    values = {"param_groups/0/lr": 0.001, "param_groups/0/amsgrad": False}
    base = state_digest_of(tensors, values)
    assert state_digest_of(tensors, {**values, "param_groups/0/lr": 0.01}) != base
    assert state_digest_of([("state/0/exp_avg", "float32", [1], struct.pack("<f", 0.5))], values) != base
    assert state_digest_of(tensors, {"param_groups/0/lr": 0.001}) != base
    with pytest.raises(UsageError, match="not finite"):
        state_digest_of(tensors, {"x": float("nan")})
    with pytest.raises(UsageError, match="both a tensor and a value"):
        state_digest_of(tensors, {"state/0/exp_avg": 1})


@pytest.mark.parametrize("items", [
    [("indices", "int64", [3], struct.pack("<3q", 2, 0, 1)), ("x", "float32", [3, 1], struct.pack("<3f", 1, 2, 3))],
    [("b", "uint8", [0], b""), ("a", "bool", [], b"\x01")],
    [("é", "float32", [1], struct.pack("<f", 1.0))],  # not plain ASCII: the general path
    [("w", "bfloat16", [2], b"\x80\x3f\x00\x40")],
])
def test_the_small_tensor_path_gives_hash_buffers_digest(items: list[tuple[str, str, list[int], bytes]]) -> None:
    from pot.hashing import hash_buffers
    from pot.replay.digests import model_digest_of

    assert model_digest_of(items) == hash_buffers(items).digest


@pytest.mark.parametrize(("items", "message"), [
    ([("x", "float32", [2], b"\0" * 4)], "4 bytes of data"),
    ([("x", "float32", [1], b"\0" * 4), ("x", "float32", [1], b"\0" * 4)], "duplicate tensor name"),
    ([("x", "float31", [1], b"\0" * 4)], "float31"),
])
def test_the_small_tensor_path_refuses_what_hash_buffers_refuses(items: list[tuple[str, str, list[int], bytes]],
                                                                message: str) -> None:
    from pot.replay.digests import model_digest_of

    with pytest.raises(UsageError, match=message):
        model_digest_of(items)


# --- records whose digests are still being computed (save_checkpoint_async) ---------------------------------------


def _kinds(recorder: ProvenanceRecorder) -> list[tuple[str, object]]:
    return [(r.KIND, r.steps if isinstance(r, StepsRecord) else r.step) for r in recorder.store.records("m")
            if isinstance(r, StepsRecord | TrainingCheckpoint)]


def test_a_deferred_checkpoint_keeps_its_place_in_the_log_and_is_appended_once_its_digests_are_known(
        tmp_path: Path) -> None:
    from concurrent.futures import Future

    pending: dict[str, Future[str]] = {name: Future() for name in ("model_hash", "optimizer_hash", "rng_hash")}
    with _recorder(tmp_path) as recorder:
        for step in (1, 2):
            recorder.record_step(step, {"loss": 1.0}, "m", epoch=0, batch=digest(step))
        assert recorder.record_training_checkpoint(metrics={"loss": 1.0}, epoch=0, model_id="m", step=2,
                                                   **pending) is None  # its id is not known yet
        recorder.record_step(3, {"loss": 1.0}, "m", epoch=1, batch=digest(3))
        assert _kinds(recorder) == []  # nothing could be written yet: the checkpoint comes first
        for index, future in enumerate(pending.values()):
            future.set_result(digest(20 + index))
        recorder.record_step(4, {"loss": 1.0}, "m", epoch=1, batch=digest(4))
        # the first step after the digests are known appends the checkpoint and the steps before it, no more
        assert _kinds(recorder) == [("steps", [1, 2]), ("checkpoint", 2)]
        recorder.record_validation(model_hash=digest(20), validator_id="v", validation_result={"ok": True},
                                   model_id="m")
        proof = recorder.generate_proof_of_training("m")
    assert _kinds(recorder) == [("steps", [1, 2]), ("checkpoint", 2), ("steps", [3, 4])]
    [checkpoint] = proof.training_chain
    assert (checkpoint.model_hash, checkpoint.optimizer_hash, checkpoint.rng_hash) == \
        (digest(20), digest(21), digest(22))


def test_a_deferred_checkpoint_is_checked_at_the_call_and_a_failed_one_costs_nothing_else(tmp_path: Path) -> None:
    from concurrent.futures import Future

    with _recorder(tmp_path) as recorder:
        with pytest.raises(FormatError, match="metrics"):  # bad input refuses this call, not a later one
            recorder.record_training_checkpoint(metrics={"loss": "high"}, epoch=0, model_id="m",
                                                model_hash=Future())
        with pytest.raises(UsageError, match="checkpoint_path"):
            recorder.record_training_checkpoint(metrics={}, epoch=0, model_id="m", model_hash=digest(1),
                                                checkpoint_sha256=digest(2))
        failing: Future[str] = Future()
        recorder.record_step(1, {"loss": 1.0}, "m")
        recorder.record_training_checkpoint(metrics={}, epoch=0, model_id="m", step=1, model_hash=failing)
        recorder.record_step(2, {"loss": 1.0}, "m")
        failing.set_exception(UsageError("cannot write checkpoint x.pt: No space left on device"))
        with pytest.raises(UsageError, match="No space left"):
            recorder.flush()
        recorder.flush()  # what came after the failed checkpoint is still there, and written now
        assert _kinds(recorder) == [("steps", [1]), ("steps", [2])]
