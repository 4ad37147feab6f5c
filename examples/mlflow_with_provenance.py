#!/usr/bin/env python3
"""Train a small PyTorch network with MLflow tracking and pot provenance: the proof is an artifact of the MLflow run.

The data is scikit-learn's bundled handwritten digits (no download), as in training_with_provenance.py. The
training logs to MLflow as any MLflow script does (parameters, a loss per step, accuracy per epoch, the model's
files); ``pot.integrations.mlflow.track`` records that run into pot, and when it ends attaches the signed proof to
the run as ``pot/<model>.proof.json`` with ``pot.*`` tags. The model is then registered and promoted to the alias
"champion" through a pot gate on its held-out accuracy: the alias moves only because the gate passed, and the
proof attached again holds that decision. Finally the proof is downloaded back from MLflow and verified.

    python examples/mlflow_with_provenance.py [--epochs N] [--out DIR]

Everything goes under --out (default examples/out/mlflow/): the MLflow tracking store (sqlite, mlflow.db), the
runs' artifacts, and pot's store. No MLflow server is started; ``mlflow ui --backend-store-uri
sqlite:///examples/out/mlflow/mlflow.db`` (from the full ``mlflow`` package) shows the run and its artifacts.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import numpy as np
import torch
from mlflow import MlflowClient
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from pot import ProvenanceConfig, ProvenanceProof, ProvenanceRecorder, VerificationError, verify_proof
from pot._internal.render import report as render_report
from pot.integrations import mlflow as pot_mlflow

HERE = Path(__file__).resolve().parent
GATE = {"thresholds": {"accuracy": {">=": 0.9}}}


def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).float().mean())


def shown(path: Path) -> str:
    """``path`` relative to the working directory when it is inside it (as a person would type it)."""
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(HERE / "out" / "mlflow"), help="tracking store, artifacts, pot store")
    args = parser.parse_args()
    # MLflow's notes on creating its tables and its download progress bars are not this example's output.
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    torch.set_num_threads(min(2, torch.get_num_threads()))

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(f"sqlite:///{out / 'mlflow.db'}")
    client = MlflowClient()
    if client.get_experiment_by_name("digits") is None:  # artifacts under --out, not ./mlruns
        client.create_experiment("digits", artifact_location=(out / "artifacts").as_uri())
    mlflow.set_experiment("digits")

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    x_train, x_val, y_train, y_val = (torch.from_numpy(a) for a in train_test_split(
        x, digits.target.astype(np.int64), test_size=0.2, random_state=args.seed, stratify=digits.target))
    model_id = "digits-mlp/" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")

    with ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(out / "pot"), batch_size=5)) as recorder:
        with mlflow.start_run() as run, pot_mlflow.track(recorder, model_id) as tracked:
            print(f"MLflow run {run.info.run_id}: training {model_id} on {len(x_train)} digits")
            mlflow.log_params({"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                               "seed": args.seed, "model": "mlp 64-128-10"})
            torch.manual_seed(args.seed)
            model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
            optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
            step = 0
            for epoch in range(args.epochs):
                model.train()
                order = torch.randperm(len(x_train))
                for start in range(0, len(order), args.batch_size):
                    batch = order[start:start + args.batch_size]
                    optimizer.zero_grad()
                    loss = torch.nn.functional.cross_entropy(model(x_train[batch]), y_train[batch])
                    loss.backward()
                    optimizer.step()
                    step += 1
                    mlflow.log_metric("loss", loss.item(), step=step)
                train_accuracy = accuracy(model, x_train, y_train)
                mlflow.log_metric("train_accuracy", train_accuracy, step=step)
                tracked.sync()  # this epoch's values into pot now, so they are signed as training goes
                print(f"  epoch {epoch:2d}  loss {loss.item():.4f}  train accuracy {train_accuracy:.3f}")
            with tempfile.TemporaryDirectory() as scratch:
                model_dir = Path(scratch) / "model"
                model_dir.mkdir()
                torch.save(model.state_dict(), model_dir / "weights.pt")
                mlflow.log_artifacts(str(model_dir), "model")
            # The model as MLflow keeps it: its pot model hash is the digest of these files.
            digest = tracked.record_model(f"runs:/{run.info.run_id}/model", epoch=args.epochs - 1, step=step)
            assert digest is not None  # recording is on
            held_out = accuracy(model, x_val, y_val)
            mlflow.log_metric("val_accuracy", held_out, step=step)
            recorder.record_validation(model_hash=digest, validator_id="digits-holdout-20pct",
                                       validation_result={"accuracy": held_out, "samples": len(x_val)},
                                       model_id=model_id)
            print(f"validation accuracy {held_out:.3f} on {len(x_val)} held-out digits")
        # Leaving the block ended the pot run and attached the proof and tags to the MLflow run.

        if not client.search_registered_models(filter_string="name = 'digits-mlp'"):
            client.create_registered_model("digits-mlp")
        version = client.create_model_version("digits-mlp", source=f"{run.info.artifact_uri}/model",
                                              run_id=run.info.run_id)
        promoted, _ = pot_mlflow.promote_alias(client, recorder, model_id, "digits-mlp", "champion", version.version,
                                               GATE)
        alias = client.get_registered_model("digits-mlp").aliases.get("champion")
        print(f"registered digits-mlp version {version.version}; promotion to alias champion (gate: accuracy >= "
              f"0.9): {'promoted' if promoted else 'refused'}; champion is version {alias or '(none)'}")
        pot_mlflow.attach_proof(client, run.info.run_id, recorder, model_id, pot_run_id=tracked.pot_run_id)

    # What anyone with access to the MLflow run sees: the proof among its artifacts, and the tags.
    print(f"\nMLflow run {run.info.run_id} in the tracking store {shown(out / 'mlflow.db')}:")
    for item in client.list_artifacts(run.info.run_id, "pot"):
        print(f"  artifact {item.path} ({item.file_size:,} bytes)")
    for key, value in sorted(client.get_run(run.info.run_id).data.tags.items()):
        if key.startswith("pot."):
            print(f"  tag      {key} = {value}")

    # The auditor downloads the proof from the run and verifies it against the signer's pinned key (the tag says
    # which key signed; the key itself must come from the signer, not from the run).
    artifact = client.get_run(run.info.run_id).data.tags["pot.proof"]
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path=artifact,
                                                        dst_path=scratch))
        proof = ProvenanceProof.load(path)
        try:
            report = verify_proof(proof, trusted_key=recorder.public_key)
        except VerificationError as exc:
            print(render_report(artifact, exc.report, f"{exc.check}: {exc}") if exc.report else exc)
            return 1
    print()
    print(render_report(f"{artifact} (downloaded from MLflow run {run.info.run_id})", report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
