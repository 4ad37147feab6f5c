"""Runs, lineage, promotion gates and causal order: recorded into the signed log, re-derived by the verifier."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from pot import ProvenanceConfig, ProvenanceProof, ProvenanceRecorder, verify_proof
from pot.errors import UsageError, VerificationError
from pot.lineage.events import LineageError, parent_dataset, parent_model, parent_run
from pot.lineage.gates import Gate, evaluate
from pot.lineage.registry import export_config, get_run, lineage, list_runs, load_run_config, run_stats
from pot.log.records import EventRecord

from .conftest import digest

Make = Callable[..., ProvenanceRecorder]


def train(recorder: ProvenanceRecorder, model_id: str, epochs: int = 3, accuracy: float = 0.95) -> None:
    for epoch in range(epochs):
        recorder.record_training_checkpoint(model_hash=digest(epoch), metrics={"loss": 1 / (epoch + 1)},
                                            epoch=epoch, model_id=model_id)
    recorder.record_validation(model_hash=digest(epochs - 1), validator_id="holdout",
                               validation_result={"accuracy": accuracy, "f1": accuracy - 0.05}, model_id=model_id)


@pytest.fixture
def git_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    for command in (["init", "-q"], ["config", "user.email", "t@example.org"], ["config", "user.name", "t"]):
        subprocess.run(["git", *command], cwd=repo, check=True)
    (repo / "train.py").write_text("print('train')\n")
    subprocess.run(["git", "add", "."], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "first"], cwd=repo, check=True)
    monkeypatch.chdir(repo)
    return repo


def test_a_run_records_its_config_environment_and_commit(make_recorder: Make, git_repo: Path) -> None:
    recorder = make_recorder()
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=git_repo, capture_output=True, text=True,
                            check=True).stdout.strip()
    with recorder.start_run("m", kind="train", config={"lr": 0.1, "epochs": 3}) as run:
        train(recorder, "m")
    [listed] = list_runs(recorder.store)
    assert listed["run_id"] == run.run_id and listed["status"] == "completed"
    assert listed["git_commit"] == commit and listed["git_dirty"] is False
    records = list(recorder.store.records("m"))
    assert all(r.run_id == run.run_id for r in records)
    started = records[0]
    assert isinstance(started, EventRecord) and started.event == "RunStarted"
    assert "pytest" in started.data["environment"]["packages"]
    assert started.data["config"] == {"lr": 0.1, "epochs": 3}
    report = verify_proof(recorder.generate_proof_of_training("m"), trusted_key=recorder.public_key)
    assert any(c.name == "lineage" and "1 run(s)" in c.detail for c in report.checks)


def test_a_failed_run_is_recorded_with_its_error(make_recorder: Make) -> None:
    recorder = make_recorder()
    def failing_run() -> None:
        with recorder.start_run("m", config={}):
            train(recorder, "m", epochs=1)
            raise RuntimeError("loss went to NaN")

    with pytest.raises(RuntimeError):
        failing_run()
    [run] = list_runs(recorder.store)
    assert run["status"] == "failed" and run["error"] == "RuntimeError: loss went to NaN"
    assert list_runs(recorder.store, status="completed") == []
    verify_proof(recorder.generate_proof_of_training("m"), trusted_key=recorder.public_key)


def test_export_config_and_rerun_points_at_the_original(make_recorder: Make, tmp_path: Path) -> None:
    recorder = make_recorder()
    with recorder.start_run("m", config={"lr": 0.1, "seed": 7}) as first:
        train(recorder, "m")
    path = tmp_path / "config.json"
    path.write_text(json.dumps(export_config(recorder.store, first.run_id)))
    exported = load_run_config(path)
    with recorder.start_run("m-rerun", config=exported["config"], rerun_of=exported["run_id"]) as second:
        train(recorder, "m-rerun")
    rerun = get_run(recorder.store, second.run_id)
    assert rerun["rerun_of"] == first.run_id and rerun["config_hash"] == exported["config_hash"]
    assert run_stats(recorder.store)["by_status"] == {"completed": 2}


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "is not valid JSON"),
    ('{"format": "something else"}', "is not a pot run config"),
    ('{"format": "pot.run-config.v1", "config": {"lr": 1}, "config_hash": "00"}', "does not match its config_hash"),
])
def test_a_bad_config_file_is_one_clear_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "c.json"
    path.write_text(content)
    with pytest.raises(UsageError, match=message):
        load_run_config(path)


def test_fine_tuned_lineage_and_the_parent_proof(make_recorder: Make) -> None:
    recorder = make_recorder()
    with recorder.start_run("base", config={"lr": 0.1}, parents=[parent_dataset("digits", digest="d" * 64)]) as a:
        train(recorder, "base")
    base_proof = recorder.generate_proof_of_training("base")
    with recorder.start_run("tuned", config={"lr": 0.01}, parents=[parent_model(base_proof)]) as b:
        train(recorder, "tuned")
    graph = lineage(recorder.store, "tuned")
    ancestors = dict(graph.ancestors("tuned"))
    assert ancestors == {b.run_id: 1, "base": 2, a.run_id: 3, "digits": 4}
    assert graph.depth("tuned") == 4
    assert dict(graph.descendants("digits"))["tuned"] == 4

    tuned_proof = recorder.generate_proof_of_training("tuned")
    report = verify_proof(tuned_proof, trusted_key=recorder.public_key, parents=[base_proof])
    assert [c.detail for c in report.checks if c.name == "parents"] == [
        "1 parent proof(s) verified and holding the referenced heads"]
    unsupplied = verify_proof(tuned_proof, trusted_key=recorder.public_key)
    assert any("not supplied" in note for note in unsupplied.notes)

    tampered = base_proof.to_json()
    tampered["records"][1]["metrics"]["loss"] = 0.001
    with pytest.raises(VerificationError, match="parent proof of 'base' does not verify") as info:
        verify_proof(tuned_proof, trusted_key=recorder.public_key,
                     parents=[ProvenanceProof.from_json(json.dumps(tampered))])
    assert info.value.check == "parents"


def test_a_cycle_is_refused_and_nothing_is_stored(make_recorder: Make) -> None:
    recorder = make_recorder()
    with recorder.start_run("m", config={}):
        train(recorder, "m")
    proof = recorder.generate_proof_of_training("m")
    size = recorder.store.size("m")
    with pytest.raises(UsageError, match="would close the cycle"):
        recorder.start_run("m", config={}, parents=[parent_model(proof)])  # a model fine-tuned from itself
    assert recorder.store.size("m") == size and len(list_runs(recorder.store)) == 1
    recorder.record_training_checkpoint(model_hash="h", metrics={}, epoch=0, model_id="m")  # nothing is stuck
    verify_proof(recorder.generate_proof_of_training("m"), trusted_key=recorder.public_key)


def test_promotion_passes_or_is_refused_and_the_verifier_rederives_it(make_recorder: Make) -> None:
    recorder = make_recorder()
    train(recorder, "m", accuracy=0.93)
    promoted, event = recorder.promote("m", "staging", {"thresholds": {"accuracy": {">=": 0.9}}})
    assert promoted and event.event == "ModelPromoted"
    refused, event = recorder.promote("m", "production", {"thresholds": {"accuracy": {">=": 0.99}}})
    assert not refused and event.event == "PromotionRefused"
    assert "reasons" not in event.data["decision"]  # free text is for people, not part of what is recomputed
    assert any("accuracy" in reason for reason in evaluate(Gate.from_json(event.data["gate"]),
                                                           event.data["inputs"][0]["metrics"]).reasons)
    weighted, _ = recorder.promote("m", "canary", {"weights": {"accuracy": 0.5, "f1": 0.5}, "min_score": 0.9})
    assert weighted  # (0.93 + 0.88) / 2 = 0.905
    report = verify_proof(recorder.generate_proof_of_training("m"), trusted_key=recorder.public_key)
    assert any("3 promotion decision(s) re-derived" in c.detail for c in report.checks)


def test_a_refused_gate_recorded_as_passed_fails_verification(make_recorder: Make) -> None:
    """The signer itself forges a promotion (bypassing promote()): the verifier re-evaluates the gate."""
    recorder = make_recorder()
    train(recorder, "m", accuracy=0.5)
    _, refused = recorder.promote("m", "production", {"thresholds": {"accuracy": {">=": 0.9}}})
    recorder.record(EventRecord, "m", event="ModelPromoted", run_id=None, data=refused.data)
    with pytest.raises(LineageError, match="a gate that failed is recorded as ModelPromoted"):
        verify_proof(_unverified(recorder, "m"))
    with pytest.raises(LineageError):
        recorder.generate_proof_of_training("m")  # the recorder's own check refuses to hand it out


def _unverified(recorder: ProvenanceRecorder, model_id: str) -> ProvenanceProof:
    """The proof as the recorder builds it, without its own auto-verification (which would refuse it first)."""
    recorder.config.auto_verify = False
    try:
        return recorder.generate_proof_of_training(model_id)
    finally:
        recorder.config.auto_verify = True


def test_rollback_goes_only_to_a_promoted_model(make_recorder: Make) -> None:
    recorder = make_recorder()
    train(recorder, "m")
    recorder.promote("m", "production", {"thresholds": {"accuracy": {">=": 0.9}}})
    size = recorder.store.size("m")
    with pytest.raises(UsageError, match="was never promoted to 'production' for 'm'; nothing recorded"):
        recorder.rollback("m", "production", "not-a-promoted-hash", "bad canary")
    assert recorder.store.size("m") == size
    event = recorder.rollback("m", "production", digest(2), "latency regression")
    assert event.data["to_model_hash"] == digest(2)
    verify_proof(recorder.generate_proof_of_training("m"), trusted_key=recorder.public_key)
    recorder.record(EventRecord, "m", event="ModelRolledBack", run_id=None,
                    data={"stage": "staging", "to_model_hash": digest(0), "from_model_hash": None, "reason": "x"})
    with pytest.raises(LineageError, match="never promoted to stage 'staging'"):
        verify_proof(_unverified(recorder, "m"))


def test_records_of_several_nodes_keep_a_causal_order(store_dir: Path) -> None:
    a = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store_dir), node_id="trainer"))
    b = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store_dir), node_id="evaluator"))
    for epoch in range(4):
        a.record_training_checkpoint(model_hash=digest(epoch), metrics={}, epoch=epoch, model_id="m")
        b.record_validation(model_hash=digest(epoch), validator_id="eval", validation_result={"acc": 0.9},
                            model_id="m")
    proof = a.generate_proof_of_training("m")
    stamps = [(r.node_id, r.lamport) for r in proof.records]
    assert [lamport for _, lamport in stamps] == list(range(1, 9))  # each append saw the one before
    assert {node for node, _ in stamps} == {"trainer", "evaluator"}
    verify_proof(proof, trusted_key=a.public_key)
    a.close()
    b.close()


def test_a_lamport_stamp_that_goes_back_fails_verification(make_recorder: Make) -> None:
    recorder = make_recorder(node_id="n1")
    train(recorder, "m", epochs=2)
    # The signer appends a record whose stamp does not follow its node's previous one.
    recorder.store.append("m", lambda seq, _last: EventRecord.create(
        model_id="m", seq=seq, timestamp="2026-11-22T12:00:00.000000Z", event="ModelRolledBack", node_id="n1",
        lamport=1, data={"stage": "s", "to_model_hash": "h", "from_model_hash": None, "reason": "why"}))
    with pytest.raises(LineageError, match="node 'n1' lamport 1 does not increase"):
        verify_proof(_unverified(recorder, "m"))


def test_unknown_ids_are_one_clear_line(make_recorder: Make) -> None:
    recorder = make_recorder()
    with pytest.raises(UsageError, match="unknown run id 'run-nope'; the store has no runs yet"):
        get_run(recorder.store, "run-nope")
    with pytest.raises(UsageError, match="unknown lineage id 'nothing'"):
        lineage(recorder.store, "nothing")
    train(recorder, "m")
    with pytest.raises(UsageError, match="no validation of 'm' by 'other'"):
        recorder.promote("m", "s", {"thresholds": {"accuracy": {">=": 0.5}}}, validator_id="other")


def test_metrics_and_a_parent_run(make_recorder: Make) -> None:
    recorder = make_recorder()
    with recorder.start_run("m", config={}) as first:
        train(recorder, "m")
        first.log_metric("test_accuracy", 0.91, step=30)
    with recorder.start_run("m2", kind="evaluate", config={}, parents=[parent_run(first.run_id, "evaluates")]) as run:
        run.log_metric("robustness", 0.7)
    [metric] = [r for r in recorder.store.records("m") if isinstance(r, EventRecord) and r.event == "MetricLogged"]
    assert metric.data == {"name": "test_accuracy", "value": 0.91, "step": 30}
    assert dict(lineage(recorder.store, run.run_id).ancestors(run.run_id)) == {first.run_id: 1}
    for model_id in ("m", "m2"):
        verify_proof(recorder.generate_proof_of_training(model_id), trusted_key=recorder.public_key)


def test_a_parent_that_contradicts_the_graph_is_refused(make_recorder: Make) -> None:
    recorder = make_recorder()
    with recorder.start_run("a", config={}, parents=[parent_dataset("digits", digest="a" * 64)]):
        train(recorder, "a")
    with pytest.raises(UsageError, match="parent 'digits' is a dataset with digest a+ here, not a dataset with"):
        recorder.start_run("b", config={}, parents=[parent_dataset("digits", digest="b" * 64)])
    assert recorder.store.size("b") == 0 and len(list_runs(recorder.store)) == 1
