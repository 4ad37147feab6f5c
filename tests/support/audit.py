"""A store as an auditor receives one: two real runs recorded by the recorder, and proofs written from it.

Run a trains ``digits-a`` (3 epochs, steps, a logged metric, an artifact also saved with the last checkpoint
(``weights``), a validation, a promotion that passes, two that are refused, one on a composite score, and a
rollback); run b trains ``digits-b`` with another configuration for 4 epochs. ``full`` is a's full proof,
``partial`` discloses only its validation. How many tree heads the logs have depends on the background signer's
pace: tests must not count them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pot import ProvenanceConfig, ProvenanceRecorder
from pot.cli import main
from pot.log.records import ValidationRecord
from tests.support.training_run import record_run

CONFIG_A: dict[str, Any] = {"lr": 0.1, "optimizer": {"name": "sgd", "momentum": 0.9}, "layers": [64, 32],
                            "dropout": 0.1}
CONFIG_B: dict[str, Any] = {"lr": 0.01, "optimizer": {"name": "adam", "betas": [0.9, 0.999]}, "layers": [64, 32],
                            "batch_size": 32, "schedule": {"warmup.steps": 100}}
EPOCHS_A = [{"loss": 0.9, "accuracy": 0.61}, {"loss": 0.5, "accuracy": 0.84}, {"loss": 0.25, "accuracy": 0.93}]
EPOCHS_B = [{"loss": 0.8, "accuracy": 0.66}, {"loss": 0.4, "accuracy": 0.87}, {"loss": 0.2, "accuracy": 0.94},
            {"loss": 0.15, "accuracy": 0.95}]
GATES = [("staging", {"thresholds": {"accuracy": {">=": 0.9}}}),
         ("production", {"thresholds": {"accuracy": {">=": 0.99}, "f1": {">=": 0.8}}}),
         ("canary", {"weights": {"accuracy": 0.7, "f1": 0.3}, "min_score": 0.95})]


@dataclass(frozen=True)
class Audited:
    store: Path
    full: Path
    partial: Path
    weights: Path
    public_key: str
    run_a: str
    run_b: str
    model_hashes_a: list[str]


def spec(store: Path, model_id: str, config: dict[str, Any], epochs: list[dict[str, Any]], **more: Any
         ) -> dict[str, Any]:
    return {"store": str(store), "model_id": model_id, "config": config, "epochs": epochs, **more}


def make_audit_store(root: Path) -> Audited:
    store = root / "store"
    artifact = root / "weights.bin"
    artifact.write_bytes(b"\x00" * 1000)
    a = record_run(spec(store, "digits-a", CONFIG_A, EPOCHS_A, logged={"test_loss": 0.31}, artifact=str(artifact),
                        checkpoint_file=str(artifact),
                        validation={"validator": "holdout", "result": {"accuracy": 0.93, "f1": 0.9, "split": "20%"},
                                    "confidence": 0.9},
                        promotions=[{"stage": stage, "gate": gate} for stage, gate in GATES],
                        rollback={"stage": "staging", "reason": "canary errors"}))
    b = record_run(spec(store, "digits-b", CONFIG_B, EPOCHS_B,
                        validation={"validator": "holdout", "result": {"accuracy": 0.95, "f1": 0.93}}))
    with ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store))) as recorder:
        proof = recorder.generate_proof_of_training("digits-a")
        proof.save(root / "a.proof.json")
        validation = next(r for r in proof.records if isinstance(r, ValidationRecord))
        recorder.generate_proof_of_training("digits-a", disclose=[validation.record_id]).save(root / "partial.json")
        public_key = recorder.public_key.hex
    return Audited(store, root / "a.proof.json", root / "partial.json", artifact, public_key, a["run_id"], b["run_id"],
                   a["model_hashes"])


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``pot ARGV`` in this process: its exit code, stdout and stderr (never a traceback)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err
