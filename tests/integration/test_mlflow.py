"""The MLflow integration against the real mlflow package and a local sqlite tracking store (no server): a tracked
run's parameters, metric steps and model are in pot's log, its proof is an artifact of the MLflow run with the
pot.* tags, and registry aliases and stages move only through a passed pot gate."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

mlflow = pytest.importorskip("mlflow")
np = pytest.importorskip("numpy")

from mlflow import MlflowClient  # noqa: E402

from pot import ProvenanceConfig, ProvenanceProof, ProvenanceRecorder, UsageError, verify_proof  # noqa: E402
from pot.cli import main  # noqa: E402
from pot.integrations import mlflow as pot_mlflow  # noqa: E402
from pot.lineage.events import ARTIFACT_SAVED, MODEL_PROMOTED, PROMOTION_REFUSED, RUN_COMPLETED, RUN_STARTED  # noqa: E402
from pot.log.records import EventRecord, StepsRecord  # noqa: E402

GATE = {"thresholds": {"accuracy": {">=": 0.9}}}


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One sqlite tracking store for the module: MLflow creates its tables (a few seconds) once, and each test
    uses its own experiment and registered model names."""
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        yield uri
    finally:
        mlflow.set_tracking_uri(before)


@pytest.fixture
def client(tracking: str, tmp_path: Path, request: pytest.FixtureRequest) -> MlflowClient:
    """A client of the module's store, with a new experiment whose artifacts go under the test's own directory
    (with a sqlite store, MLflow would otherwise put them in ./mlruns of the working directory)."""
    client = MlflowClient(tracking)
    name = f"{request.node.name}-{uuid.uuid4().hex[:8]}"
    client.create_experiment(name, artifact_location=(tmp_path / "artifacts").as_uri())
    mlflow.set_experiment(name)
    return client


def recorder_at(path: Path, **config: Any) -> ProvenanceRecorder:
    return ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(path), **config))


def save_model(directory: Path, weights: Any) -> Path:
    directory.mkdir(parents=True)
    np.save(directory / "weights.npy", weights)
    (directory / "MODEL.txt").write_text("a linear digits classifier, weights.npy holds its 64x10 matrix\n")
    return directory


def train_digits(epochs: int, tracked: pot_mlflow.MlflowTracker | None) -> tuple[Any, float]:
    """Softmax regression on scikit-learn's bundled digits, logged to MLflow per step and per epoch."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, y = digits.data / 16.0, digits.target
    x_train, y_train, x_val, y_val = x[:1400], y[:1400], x[1400:], y[1400:]
    rng = np.random.default_rng(0)
    weights = np.zeros((64, 10))
    step = 0
    for epoch in range(epochs):
        order = rng.permutation(len(x_train))
        for start in range(0, len(order), 200):
            batch = order[start:start + 200]
            logits = x_train[batch] @ weights
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            loss = float(-np.log(p[np.arange(len(batch)), y_train[batch]]).mean())
            p[np.arange(len(batch)), y_train[batch]] -= 1
            weights -= 0.5 * x_train[batch].T @ p / len(batch)
            step += 1
            mlflow.log_metric("loss", loss, step=step)
        train_accuracy = float(((x_train @ weights).argmax(axis=1) == y_train).mean())
        mlflow.log_metrics({"train_accuracy": train_accuracy, "epoch": epoch}, step=step)
        if tracked is not None:
            tracked.sync()
    return weights, float(((x_val @ weights).argmax(axis=1) == y_val).mean())


def events(proof: ProvenanceProof, name: str) -> list[EventRecord]:
    return [r for r in proof.records if isinstance(r, EventRecord) and r.event == name]


def pot(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out + err


def test_a_tracked_run_is_in_the_log_and_its_proof_is_an_artifact_of_the_run(
        tmp_path: Path, client: MlflowClient, capsys: pytest.CaptureFixture[str]) -> None:
    recorder = recorder_at(tmp_path / "store")
    with mlflow.start_run() as run, pot_mlflow.track(recorder, "digits-linear") as tracked:
        mlflow.log_params({"lr": 0.5, "batch_size": 200, "epochs": 3})
        weights, accuracy = train_digits(3, tracked)
        mlflow.log_param("note", "logged after the pot run started")
        model_dir = save_model(tmp_path / "model", weights)
        mlflow.log_artifacts(str(model_dir), "model")
        digest = tracked.record_model(f"runs:/{run.info.run_id}/model", epoch=2, step=21)
        recorder.record_validation(model_hash=digest, validator_id="holdout",
                                   validation_result={"accuracy": accuracy}, model_id="digits-linear")
    run_id = run.info.run_id
    assert accuracy > 0.85  # it really learned

    # The proof is an artifact of the MLflow run, and verifies against the recorder's key.
    listed = {f.path: f.file_size for f in client.list_artifacts(run_id, "pot")}
    assert set(listed) == {"pot/digits-linear.proof.json", "pot/mlflow-params.json"}
    downloaded = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="pot",
                                                          dst_path=str(tmp_path / "dl")))
    proof = ProvenanceProof.load(downloaded / "digits-linear.proof.json")
    verify_proof(proof, trusted_key=recorder.public_key)
    assert tracked.proof is not None and proof.merkle_root == tracked.proof.merkle_root

    # The run's tags, read back from the tracking store, name the log, the signer and the artifact.
    tags = client.get_run(run_id).data.tags
    [started] = events(proof, RUN_STARTED)
    assert tags["pot.model_id"] == "digits-linear" and tags["pot.proof"] == "pot/digits-linear.proof.json"
    assert tags["pot.log_root"] == proof.merkle_root == proof.latest_head.root_hash  # type: ignore[union-attr]
    assert tags["pot.log_size"] == str(len(proof.records))
    assert tags["pot.key_id"] == recorder.key.key_id and tags["pot.public_key"] == recorder.public_key.hex
    assert tags["pot.run_id"] == started.run_id and tags["pot.final_model_hash"] == digest
    assert "pot.anchor_tx" not in tags  # anchored on the local chain only: no transaction to name

    # Parameters logged before the first sync are the pot run's configuration; all of them, the late one too, are
    # in mlflow-params.json, whose digest the log holds.
    config = started.data["config"]
    assert config["params"] == {"lr": "0.5", "batch_size": "200", "epochs": "3"}
    assert config["framework"] == "mlflow" and config["mlflow_run_id"] == run_id
    params_file = (downloaded / "mlflow-params.json").read_bytes()
    assert json.loads(params_file) == {**config["params"], "note": "logged after the pot run started"}
    [saved] = events(proof, ARTIFACT_SAVED)
    assert saved.data["name"] == "mlflow-params.json"
    assert saved.data["sha256"] == hashlib.sha256(params_file).hexdigest()
    assert [e.data["status"] for e in events(proof, RUN_COMPLETED)] == ["completed"]

    # Every metric value MLflow holds is a pot step, at its step, in step order.
    logged: dict[tuple[int, str], float] = {}
    for key in ("loss", "train_accuracy", "epoch"):
        for metric in client.get_metric_history(run_id, key):
            logged[(metric.step, key)] = metric.value
    recorded: dict[tuple[int, str], float] = {}
    order: list[int] = []
    for record in proof.records:
        if isinstance(record, StepsRecord):
            order.extend(record.steps)
            for key, values in record.metrics.items():
                recorded.update({(step, key): v for step, v in zip(record.steps, values, strict=True)
                                 if v is not None})
    assert recorded == logged and order == list(range(1, 22)) and len(logged) == 21 + 2 * 3

    # The model is a checkpoint with the digest of its files, and the auditor recognises the logged directory.
    [checkpoint] = proof.training_chain
    assert (checkpoint.model_hash, checkpoint.file_sha256, checkpoint.epoch, checkpoint.step) == (digest, digest, 2, 21)
    assert checkpoint.metrics["train_accuracy"] == logged[(21, "train_accuracy")]
    code, out = pot(capsys, "verify", str(downloaded / "digits-linear.proof.json"), "--trusted-key",
                    recorder.public_key.hex, "--checkpoint", str(model_dir))
    assert code == 0 and "ok   checkpoint" in out and "VERIFIED" in out, out
    recorder.close()


def test_promotions_move_aliases_and_stages_only_through_a_passed_gate(
        tmp_path: Path, client: MlflowClient, capsys: pytest.CaptureFixture[str]) -> None:
    recorder = recorder_at(tmp_path / "store")
    name = f"digits-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    versions = []
    for accuracy in (0.93, 0.71):  # a good model, then a worse one
        with mlflow.start_run() as run, pot_mlflow.track(recorder, "digits-linear") as tracked:
            model_dir = save_model(tmp_path / run.info.run_id, np.full((4, 4), accuracy))
            mlflow.log_artifacts(str(model_dir), "model")
            digest = tracked.record_model(model_dir, epoch=0)
            recorder.record_validation(model_hash=digest, validator_id="holdout",
                                       validation_result={"accuracy": accuracy}, model_id="digits-linear")
        version = client.create_model_version(name, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
        # The version's files as the registry serves them have the digest the run recorded.
        assert pot_mlflow.model_version_digest(client, name, version.version) == digest
        versions.append((version.version, digest))
    (good, good_hash), (worse, worse_hash) = versions

    # The newest validation is of the worse version: promoting the good one on it is refused outright.
    with pytest.raises(UsageError, match=f"not of '{name}' version {good}"):
        pot_mlflow.promote_alias(client, recorder, "digits-linear", name, "champion", good, GATE)
    with pytest.raises(Exception, match="not found|does not exist|RESOURCE_DOES_NOT_EXIST"):
        client.get_model_version_by_alias(name, "champion")

    # The worse version fails the gate: PromotionRefused is recorded and the alias is not set.
    promoted, event = pot_mlflow.promote_alias(client, recorder, "digits-linear", name, "champion", worse, GATE)
    assert not promoted and event is not None and event.event == PROMOTION_REFUSED
    assert event.data["model_hash"] == worse_hash
    with pytest.raises(Exception, match="not found|does not exist|RESOURCE_DOES_NOT_EXIST"):
        client.get_model_version_by_alias(name, "champion")

    # Validated again (newest), the good version passes and the alias moves to it.
    recorder.record_validation(model_hash=good_hash, validator_id="holdout", validation_result={"accuracy": 0.93},
                               model_id="digits-linear")
    promoted, event = pot_mlflow.promote_alias(client, recorder, "digits-linear", name, "champion", good, GATE)
    assert promoted and event is not None and event.event == MODEL_PROMOTED and event.data["stage"] == "champion"
    assert client.get_model_version_by_alias(name, "champion").version == good
    assert client.get_model_version(name, good).tags["pot.model_hash"] == good_hash

    # MLflow's (deprecated) stages go the same way.
    promoted, _ = pot_mlflow.promote_stage(client, recorder, "digits-linear", name, good, "Production", GATE)
    assert promoted and client.get_model_version(name, good).current_stage == "Production"

    # A rollback needs an earlier promotion to that alias: the worse version never had one.
    with pytest.raises(UsageError, match="was never promoted"):
        pot_mlflow.rollback_alias(client, recorder, "digits-linear", name, "champion", worse, "try")
    assert client.get_model_version_by_alias(name, "champion").version == good

    # The decisions are in the proof, re-derived by the verifier; attach_proof puts that proof on the run.
    proof, artifact = pot_mlflow.attach_proof(client, run.info.run_id, recorder, "digits-linear")
    assert proof is not None and artifact == "pot/digits-linear.proof.json"
    verify_proof(proof, trusted_key=recorder.public_key)
    decisions = [(e.event, e.data["stage"], e.data["model_hash"]) for e in proof.records
                 if isinstance(e, EventRecord) and e.event in (MODEL_PROMOTED, PROMOTION_REFUSED)]
    assert decisions == [(PROMOTION_REFUSED, "champion", worse_hash), (MODEL_PROMOTED, "champion", good_hash),
                         (MODEL_PROMOTED, "Production", good_hash)]
    assert client.get_run(run.info.run_id).data.tags["pot.log_root"] == proof.merkle_root
    recorder.close()


def test_steps_split_by_a_sync_stay_whole_and_repeated_values_are_kept(
        tmp_path: Path, client: MlflowClient, caplog: pytest.LogCaptureFixture) -> None:
    recorder = recorder_at(tmp_path / "store")
    with mlflow.start_run() as run, pot_mlflow.track(recorder, "m") as tracked:
        mlflow.log_metric("loss", 1.0, step=5)
        assert tracked.sync() == 0  # step 5 is the newest: held until a later step or the end
        mlflow.log_metric("accuracy", 0.5, step=5)
        mlflow.log_metric("loss", 0.5, step=6)
        assert tracked.sync() == 1  # step 5, whole
        mlflow.log_metric("test_accuracy", 0.8)  # no step: MLflow stores it at step 0
        mlflow.log_metric("test_accuracy", 0.9)  # again: a second value at step 0
        mlflow.log_metric("odd", 1.0, step=-3)   # a step pot cannot record
    proof = tracked.proof
    assert proof is not None
    calls = [(step, {k: v[i] for k, v in r.metrics.items() if v[i] is not None})
             for r in proof.records if isinstance(r, StepsRecord) for i, step in enumerate(r.steps)]
    assert calls == [(5, {"loss": 1.0, "accuracy": 0.5}), (0, {"test_accuracy": 0.8}),
                     (0, {"test_accuracy": 0.9}), (6, {"loss": 0.5})]
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "left out" in r.getMessage()]
    assert len(said) == 1 and "odd at step -3" in said[0] and run.info.run_id in said[0]
    recorder.close()


def test_a_block_that_raises_ends_the_pot_run_failed_and_still_attaches_the_proof(
        tmp_path: Path, client: MlflowClient) -> None:
    recorder = recorder_at(tmp_path / "store")
    def diverge() -> None:
        with mlflow.start_run() as run, pot_mlflow.track(recorder, "m") as tracked:
            mlflow.log_param("lr", "10")
            mlflow.log_metric("loss", 1.0, step=1)
            seen.extend([run, tracked])
            raise RuntimeError("loss diverged")

    seen: list[Any] = []
    with pytest.raises(RuntimeError, match="diverged"):
        diverge()
    run, tracked = seen
    assert client.get_run(run.info.run_id).info.status == "FAILED"  # MLflow's own verdict
    proof = tracked.proof
    assert proof is not None
    [completed] = events(proof, RUN_COMPLETED)
    assert completed.data == {"status": "failed", "error": "RuntimeError: loss diverged"}
    assert client.get_run(run.info.run_id).data.tags["pot.log_root"] == proof.merkle_root
    recorder.close()


def test_a_run_inside_the_callers_pot_run_joins_it(tmp_path: Path, client: MlflowClient) -> None:
    recorder = recorder_at(tmp_path / "store")
    with recorder.start_run("m", config={"mine": True}) as own, mlflow.start_run() as run:
        with pot_mlflow.track(recorder, "m") as tracked:
            mlflow.log_param("lr", "0.1")
            mlflow.log_metric("loss", 1.0, step=1)
        assert recorder.active_run("m") == own.run_id  # not ended by the tracker
    proof = recorder.generate_proof_of_training("m")
    assert proof is not None and len(events(proof, RUN_STARTED)) == 1
    [saved] = events(proof, ARTIFACT_SAVED)  # the parameters could not join the caller's configuration
    assert saved.run_id == own.run_id and tracked.pot_run_id == own.run_id
    files = {f.path for f in client.list_artifacts(run.info.run_id, "pot")}
    assert files == {"pot/m.proof.json", "pot/mlflow-params.json"}
    recorder.close()


def test_a_disabled_recorder_records_attaches_and_promotes_nothing(tmp_path: Path, client: MlflowClient) -> None:
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=False, store_dir=str(tmp_path / "store")))
    name = f"digits-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    with mlflow.start_run() as run, pot_mlflow.track(recorder, "m") as tracked:
        mlflow.log_metric("loss", 1.0, step=1)
        assert tracked.sync() == 0
        assert tracked.record_model("runs:/does-not-exist/model", epoch=0) is None  # not even downloaded
        model_dir = save_model(tmp_path / "model", np.zeros(3))
        mlflow.log_artifacts(str(model_dir), "model")
    version = client.create_model_version(name, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    assert pot_mlflow.promote_alias(client, recorder, "m", name, "champion", version.version, GATE) == (False, None)
    assert tracked.proof is None and not (tmp_path / "store").exists()
    assert client.list_artifacts(run.info.run_id, "pot") == []
    assert not any(k.startswith("pot.") for k in client.get_run(run.info.run_id).data.tags)
    with pytest.raises(Exception, match="not found|does not exist|RESOURCE_DOES_NOT_EXIST"):
        client.get_model_version_by_alias(name, "champion")


def test_bad_input_gets_one_clear_error(tmp_path: Path, client: MlflowClient) -> None:
    recorder = recorder_at(tmp_path / "store")
    with pytest.raises(UsageError, match="no active MLflow run"):
        pot_mlflow.track(recorder, "m")
    with pytest.raises(UsageError, match="cannot read MLflow run 'nope'"):
        pot_mlflow.track(recorder, "m", run_id="nope").sync()
    with mlflow.start_run(), pot_mlflow.track(recorder, "m") as tracked, \
            pytest.raises(UsageError, match="no such model file or directory"):
        tracked.record_model(tmp_path / "missing", epoch=0)
    with pytest.raises(UsageError, match="no model version"):
        pot_mlflow.model_version_digest(client, "no-such-model", 1)
    recorder.close()


@pytest.mark.chain
def test_a_chain_anchored_log_names_its_newest_transaction(tmp_path: Path, client: MlflowClient,
                                                           deployed_registry: Any) -> None:
    from web3 import Web3

    from pot.anchors.ethereum import EthereumAnchor

    anchor = EthereumAnchor(deployed_registry.settings(account=3), receipt_timeout=10.0, request_timeout=2.0)
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp_path / "store")),
                                  chain_anchors=[anchor])
    with mlflow.start_run() as run, pot_mlflow.track(recorder, "m") as tracked:
        mlflow.log_param("lr", "0.1")
        for step in range(1, 4):
            mlflow.log_metric("loss", 1 / step, step=step)
    proof = tracked.proof
    assert proof is not None and proof.blockchain_transactions
    tx = client.get_run(run.info.run_id).data.tags["pot.anchor_tx"]
    assert tx == proof.blockchain_transactions[-1]
    # ... a real transaction to the registry, mined, whose receipt covers the log's newest head.
    receipt = Web3(Web3.HTTPProvider(deployed_registry.anvil.url)).eth.get_transaction_receipt(tx)
    assert receipt["status"] == 1 and receipt["to"].lower() == deployed_registry.address.lower()
    covered = [r for r in proof.anchors if r.details.get("tx_hash") == tx]
    assert covered and covered[-1].root_hash == proof.merkle_root
    recorder.close()


def test_the_example_shows_the_proof_as_an_artifact_of_its_mlflow_run(tmp_path: Path) -> None:
    """The README's MLflow example, run as a user runs it: the proof is an artifact of the run in the tracking store
    it made, the tags name it, and the proof downloaded from there verifies against the store's key."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, str(root / "examples" / "mlflow_with_provenance.py"), "--out", str(out)],
                            capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("\nVERIFIED") and "Traceback" not in result.stderr
    assert "promotion to alias champion (gate: accuracy >= 0.9): promoted; champion is version 1" in result.stdout
    assert not (tmp_path / "mlruns").exists()  # everything went under --out

    store = MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    [run] = store.search_runs([store.get_experiment_by_name("digits").experiment_id])
    tags = run.data.tags
    [artifact] = store.list_artifacts(run.info.run_id, "pot")
    assert artifact.path == tags["pot.proof"] and f"artifact {artifact.path} ({artifact.file_size:,} bytes)" in \
        result.stdout
    proof = ProvenanceProof.load(Path(run.info.artifact_uri.removeprefix("file://")) / artifact.path)
    key = (out / "pot" / "signing-key.pub").read_text().strip()  # pinned from the signer's store, not the tag
    verify_proof(proof, trusted_key=key)
    assert tags["pot.public_key"] == key
    assert tags["pot.log_root"] == proof.merkle_root and tags["pot.model_id"] == proof.model_id
    assert [e.data["stage"] for e in events(proof, MODEL_PROMOTED)] == ["champion"]
    assert store.get_model_version_by_alias("digits-mlp", "champion").tags["pot.model_hash"] == \
        proof.final_model_hash
