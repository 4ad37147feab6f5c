"""``enabled=False`` switches pot off everywhere: every public method of the recorder and of a run is a no-op or
returns an honest empty value (None, [], False), touches no file, and never raises "recording is disabled".

A training script written against pot must run unchanged with pot switched off (the seed's default)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pot import ProvenanceConfig, ProvenanceRecorder, UsageError
from pot.core.provenance_integration import ProvenanceContext, integrate_with_training_loop
from pot.lineage.events import parent_dataset
from pot.log.records import EventRecord
from pot.recorder import Run

GATE = {"thresholds": {"accuracy": {">=": 0.9}}}

# Every public name of the two classes, and how the test below calls it.
RECORDER_API = {"anchor_pending", "active_run", "close", "flush", "generate_proof_of_training", "join_run", "key",
                "left_in_spool", "local_anchor_failures", "promote", "public_key", "record", "record_step",
                "record_training_checkpoint", "record_validation", "remote", "rollback", "server_record_id",
                "start_run", "store", "verify_training_provenance", "wait_for_anchors"}
RUN_API = {"complete", "fail", "log_artifact", "log_metric"}


@pytest.fixture
def recorder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ProvenanceRecorder:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POT_HOME", raising=False)
    return ProvenanceRecorder(ProvenanceConfig(enabled=False, store_dir=str(tmp_path / "store")))


def test_the_lists_name_every_public_method() -> None:
    assert {n for n in dir(ProvenanceRecorder) if not n.startswith("_")} == RECORDER_API
    assert {n for n in dir(Run) if not n.startswith("_")} == RUN_API


def test_every_recorder_method_is_a_no_op(recorder: ProvenanceRecorder, tmp_path: Path) -> None:
    weights = "ab" * 32
    assert recorder.record_training_checkpoint(model_hash=weights, metrics={"loss": 0.1}, epoch=0,
                                               model_id="m") is None
    assert recorder.record_validation(model_hash=weights, validator_id="v", validation_result={"accuracy": 0.95},
                                      model_id="m") is None
    assert recorder.record_step(1, {"loss": 0.1}, "m") is None
    assert recorder.record(EventRecord, "m", event="MetricLogged", run_id=None, data={}) is None
    assert recorder.promote("m", "production", GATE) == (False, None)  # nothing was promoted
    assert recorder.rollback("m", "production", weights, "bad model") is None
    assert recorder.active_run("m") is None
    assert recorder.join_run("m", "run-1") is None
    assert recorder.active_run("m") is None  # joined nothing: no run is recording
    assert recorder.remote is None
    assert recorder.server_record_id("some-handle") is None
    assert recorder.left_in_spool == 0
    assert recorder.flush() == []
    assert recorder.flush("m") == []
    assert recorder.wait_for_anchors(1.0) is True  # nothing is outstanding
    assert recorder.anchor_pending() == []
    assert recorder.local_anchor_failures == {}
    assert recorder.generate_proof_of_training("m") is None  # no proof of nothing
    assert recorder.verify_training_provenance(None) is False  # nothing was verified
    # What a disabled recorder has not got, it says it has not got (a UsageError that names the setting):
    for name in ("store", "key", "public_key"):
        with pytest.raises(UsageError, match="enabled is False"):
            getattr(recorder, name)
    with recorder as same:
        assert same is recorder
    recorder.close()
    recorder.close()
    assert not (tmp_path / "store").exists() and not (tmp_path / ".pot").exists()


def test_every_run_method_is_a_no_op(recorder: ProvenanceRecorder, tmp_path: Path) -> None:
    artifact = tmp_path / "weights.bin"
    artifact.write_bytes(os.urandom(64))
    with recorder.start_run("m", config={"lr": 0.1}, parents=[parent_dataset("digits", "cd" * 32)]) as run:
        assert recorder.active_run("m") is None  # no run is recording
        assert run.log_metric("test_accuracy", 0.9) is None
        assert run.log_artifact(artifact) is None  # not hashed: pot is off
    run.complete()
    run.fail("boom")
    with pytest.raises(RuntimeError), recorder.start_run("m") as failing:
        raise RuntimeError("training crashed")
    failing.fail("again")
    assert not (tmp_path / "store").exists() and not (tmp_path / ".pot").exists()


def test_the_seed_patterns_run_with_pot_off(recorder: ProvenanceRecorder) -> None:
    @integrate_with_training_loop(recorder, model_id="m")
    def train_epoch(epoch: int) -> dict[str, object]:
        return {"epoch": epoch, "model_hash": "ab" * 32, "metrics": {"loss": 0.1}}

    with ProvenanceContext(recorder, "m") as context:
        assert train_epoch(0)["epoch"] == 0
    assert context.proof is None
    proof = recorder.generate_proof_of_training("m")
    assert recorder.verify_training_provenance(proof) is False
