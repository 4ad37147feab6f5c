#!/usr/bin/env python3
"""Train a small PyTorch network on real data with provenance, then prove and verify its training.

The data is scikit-learn's bundled handwritten digits (1,797 8x8 images, shipped inside scikit-learn: no
download). Every training step's loss is recorded, every epoch is recorded as a training checkpoint (weight
digest, metrics, behavioural fingerprint), the final weights are saved and their file digest recorded, a held-out
validation is recorded, and the proof of training is written and verified offline against the signer's pinned
public key.

    python examples/training_with_provenance.py [--epochs N] [--store DIR] [--out DIR] [--config FILE]

The training is one run in pot's registry: its configuration, environment and git commit, and the dataset it read
(by digest) are recorded with it; ``pot runs export-config RUN --out FILE`` then ``--config FILE`` here runs it
again as a new run that points at the original. At the end the model is promoted to "staging" if its held-out
accuracy passes a gate.

By default everything goes under examples/out/: the store (records, signing key, local chain), the model
checkpoint and the proof. Run it again and a new run (a new model id) is added to the same store.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from pot import ProvenanceConfig, ProvenanceProof, ProvenanceRecorder, UsageError, VerificationError, verify_proof
from pot._internal.files import check_output, output_file
from pot._internal.render import report as render_report
from pot.hashing import hash_buffers
from pot.integrations.torch import model_hash
from pot.lineage.events import parent_dataset
from pot.lineage.registry import load_run_config
from pot.replay.torch import Batch, save_checkpoint

HERE = Path(__file__).resolve().parent


@dataclass
class Data:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor


def load_data(seed: int) -> Data:
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)  # pixel intensities 0..16 -> 0..1
    y = digits.target.astype(np.int64)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)
    return Data(*(torch.from_numpy(a) for a in (x_train, y_train, x_val, y_val)))


def dataset_digest(data: Data) -> str:
    """The pot.model-hash.v1 digest of the arrays the run trains and validates on: the dataset's identity."""
    arrays = {"x_train": data.x_train, "y_train": data.y_train, "x_val": data.x_val, "y_val": data.y_val}
    return hash_buffers((name, str(a.dtype).removeprefix("torch."), tuple(a.shape), a.numpy())
                        for name, a in arrays.items()).digest


def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).float().mean())


class DigitsProgram:
    """The training itself: model, optimizer, the order of the batches and one step. Training runs it, and so does
    `pot replay` (through :func:`replay_program`), so a replay executes exactly this code."""

    def __init__(self, config: dict[str, Any], data: Data | None = None) -> None:
        torch.set_num_threads(config.get("threads", 1))  # the same reduction order as training: bit-exact replay
        torch.manual_seed(config["seed"])
        self.data = data if data is not None else load_data(config["seed"])
        self.batch_size = config["batch_size"]
        self.model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Dropout(0.1),
                                         torch.nn.Linear(128, 10))
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config["lr"])
        self.loss_fn = torch.nn.CrossEntropyLoss()

    def batches(self, epoch: int) -> Iterator[Batch]:
        """The epoch's batches: a shuffle drawn from torch's global generator (restored from a checkpoint in a
        replay), then consecutive slices of it. No DataLoader: no worker processes, nothing else draws from it."""
        self.model.train()
        order = torch.randperm(len(self.data.x_train))
        for start in range(0, len(order), self.batch_size):
            indices = order[start:start + self.batch_size]
            yield Batch(indices, x=self.data.x_train[indices], y=self.data.y_train[indices])

    def step(self, batch: Batch) -> float:
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model(batch.tensors["x"]), batch.tensors["y"])
        loss.backward()
        self.optimizer.step()
        return float(loss.item())


def replay_program(config: dict[str, Any]) -> DigitsProgram:
    """The entry point `pot replay --entry` calls with the run's recorded configuration."""
    return DigitsProgram(config)


def train(data: Data, *, epochs: int, batch_size: int, lr: float, seed: int, recorder: ProvenanceRecorder | None,
          model_id: str, threads: int | None = None, checkpoints: Path | None = None, store: str | None = None,
          record_steps: bool = True, record_epochs: bool = True, quiet: bool = False) -> torch.nn.Module:
    """The training loop, with pot's calls where a user would put them (``recorder`` None: no recording).

    ``checkpoints``: record for replay. Each step's batch digest goes into the log with its loss, and the state
    before the first step and after each epoch (weights, optimizer, RNGs) is saved there and recorded."""
    config = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
              "threads": torch.get_num_threads() if threads is None else threads}
    program = DigitsProgram(config, data)
    model, optimizer = program.model, program.optimizer
    step = 0

    def replay_checkpoint(name: str) -> dict[str, Any]:
        assert checkpoints is not None
        # on the training thread: for a model this small that costs less than save_checkpoint_async's copy and
        # background thread (benchmarks/bench_replay.py measures both)
        return save_checkpoint(checkpoints / name, model, optimizer, stores=[store] if store else ()).record_fields()

    if recorder is not None and checkpoints is not None:  # where the first segment starts
        recorder.record_training_checkpoint(metrics={}, epoch=0, model_id=model_id, step=0,
                                            **replay_checkpoint("init.pt"))
    for epoch in range(epochs):
        total = 0.0
        for batch in program.batches(epoch):
            value = program.step(batch)
            step += 1
            total += value * len(batch.indices)
            if recorder is not None and record_steps:
                recorder.record_step(step, {"loss": value}, model_id, epoch=epoch,
                                     batch=batch.digest() if checkpoints is not None else None)
        metrics = {"loss": total / len(data.x_train), "train_accuracy": accuracy(model, data.x_train, data.y_train)}
        if recorder is not None and record_epochs:
            saved = replay_checkpoint(f"epoch-{epoch:03d}.pt") if checkpoints is not None else \
                {"model_hash": model_hash(model)}
            recorder.record_training_checkpoint(metrics=metrics, epoch=epoch, model_id=model_id,
                                                model_fn=lambda x: model(x), step=step, **saved)
        if not quiet:
            print(f"  epoch {epoch:2d}  loss {metrics['loss']:.4f}  train accuracy {metrics['train_accuracy']:.3f}")
    return model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--store", default=str(HERE / "out" / "store"), help="pot store directory")
    parser.add_argument("--out", default=str(HERE / "out"), help="where the checkpoint and proof go")
    parser.add_argument("--config", metavar="FILE", help="rerun: a config written by `pot runs export-config`")
    parser.add_argument("--no-replay", action="store_true",
                        help="do not record for replay (no batch digests, no checkpoint per epoch)")
    parser.add_argument("--blockchain", action="store_true",
                        help="anchor on a chain too (RPC_URL, PRIVATE_KEY and CONTRACT_ADDRESS or `pot contract "
                             "deploy` on this store; see the README)")
    args = parser.parse_args()

    config = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
              "threads": min(2, torch.get_num_threads()),
              "model": "mlp 64-128-10, dropout 0.1", "dataset": "sklearn digits, 80/20 stratified split"}
    rerun_of = None
    if args.config:
        exported = load_run_config(args.config)
        config, rerun_of = exported["config"], exported["run_id"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint, proof_path = out / "digits-mlp.pt", out / "digits-mlp.proof.json"
    checkpoints = out / "checkpoints"  # one file per epoch, what `pot replay` starts each segment from
    try:  # before training, not after it: pot never writes an output file inside its store
        for path in (checkpoint, proof_path):
            check_output(path, stores=[args.store])
    except UsageError as exc:
        parser.error(str(exc))
    model_id = "digits-mlp/" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    if not args.no_replay:
        if checkpoints.is_dir():  # the previous run's files: this run's replay must not find them
            for old in checkpoints.glob("*.pt"):
                old.unlink()
        checkpoints.mkdir(exist_ok=True)
    data = load_data(config["seed"])

    started = time.perf_counter()
    with ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=args.store, batch_size=5,
                                             blockchain_enabled=args.blockchain)) as recorder:
        dataset = parent_dataset("sklearn-digits", digest=dataset_digest(data))
        with recorder.start_run(model_id, kind="train", config=config, parents=[dataset], rerun_of=rerun_of) as run:
            print(f"run {run.run_id}: training {model_id} on {len(data.x_train)} digits, validating on "
                  f"{len(data.x_val)}; store {args.store}" + (f"; a rerun of {rerun_of}" if rerun_of else ""))
            model = train(data, epochs=config["epochs"], batch_size=config["batch_size"], lr=config["lr"],
                          seed=config["seed"], threads=config.get("threads"), recorder=recorder, model_id=model_id,
                          store=args.store, checkpoints=None if args.no_replay else checkpoints)
            with output_file(checkpoint, stores=[args.store]) as handle:  # whole or not at all
                torch.save(model.state_dict(), handle)
            recorder.record_training_checkpoint(
                model_hash=model_hash(model), metrics={"train_accuracy": accuracy(model, data.x_train, data.y_train)},
                epoch=config["epochs"] - 1, model_id=model_id, model_fn=lambda x: model(x),
                checkpoint_path=checkpoint)
            run.log_artifact(checkpoint)
            val_accuracy = accuracy(model, data.x_val, data.y_val)
            recorder.record_validation(model_hash=model_hash(model), validator_id="digits-holdout-20pct",
                                       validation_result={"accuracy": val_accuracy, "samples": len(data.x_val)},
                                       model_id=model_id)
            print(f"validation accuracy {val_accuracy:.3f} on {len(data.x_val)} held-out digits")
        promoted, _ = recorder.promote(model_id, "staging", {"thresholds": {"accuracy": {">=": 0.9}}})
        print(f"promotion to staging (gate: accuracy >= 0.9): {'promoted' if promoted else 'REFUSED'}")
        proof = recorder.generate_proof_of_training(model_id)
        trusted_key = recorder.public_key
        # Through a server (POT_SERVER_URL) the run is in the server's store, not args.store: say where to look.
        # (the server as pot names it in messages: scheme, host, port and path, never a credential in the URL)
        where = f"--store {args.store}" if recorder.remote is None else \
            f"--server {recorder.remote.shown}{urlsplit(recorder.remote.url).path.rstrip('/')}"
    trained = time.perf_counter() - started

    proof.save(proof_path)
    print(f"wrote {proof_path} ({proof_path.stat().st_size:,} bytes) after {trained:.1f} s of training and "
          "recording\n")

    # What a stranger does with the proof file and the signer's public key: verify it offline.
    try:
        result = verify_proof(ProvenanceProof.load(proof_path), trusted_key=trusted_key)
    except VerificationError as exc:
        print(render_report(str(proof_path), exc.report, f"{exc.check}: {exc}") if exc.report else exc)
        return 1
    print(render_report(str(proof_path), result))
    beside = Path(sys.executable).parent / "pot"  # the pot of this environment, by name when it is on PATH
    found = shutil.which("pot")
    pot = "pot" if found and beside.exists() and Path(found).samefile(beside) else \
        str(beside) if beside.exists() else "python -m pot"
    online = ' --rpc "$RPC_URL"' if args.blockchain else ""  # the URL itself may carry an API key: not printed
    print(f"\nverify it yourself: {pot} verify {proof_path} --trusted-key {trusted_key.hex}{online}")
    print(f"see the run:        {pot} {where} runs show {run.run_id}")
    if not args.no_replay:
        entry = f"{os.path.relpath(__file__)}:replay_program"  # as the script was named, symlinks kept
        print(f"replay 3 epochs:    {pot} replay {proof_path} --checkpoints {checkpoints} --segments 3 "
              f"--entry {entry} --trusted-key {trusted_key.hex}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
