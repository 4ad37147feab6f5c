"""Real proofs to start fuzzing from: written by pot's own recorder into a temporary store, and the v1 corpus.

The recorded proof holds every record kind a proof can carry (checkpoints with metrics, a NaN among them, and a
checkpoint file; validations; step blocks with epochs; a run with its config, a dataset parent and a parent
model's proof reference; a metric, an artifact, a merged Lamport stamp, a run completion; a gated promotion, a
refused one and a rollback), several tree heads with consistency proofs, local chain receipts and one ``ethereum``
receipt. It is signed by the known-answer vector key (tests/assets/vectors/v1.json), so a forged variant of it
can be signed with the same key where an attack needs a valid signature.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pot import ProvenanceConfig, ProvenanceRecorder
from pot.anchors.base import AnchorReceipt
from pot.lineage.events import parent_dataset, parent_model
from pot.log.keys import SigningKey
from pot.log.records import EventRecord, format_timestamp

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "tests" / "assets"
VECTORS = json.loads((ASSETS / "vectors" / "v1.json").read_text(encoding="utf-8"))
V1_CORPUS = sorted((ASSETS / "proofs" / "v1").glob("*.proof.json"))


def vector_key() -> SigningKey:
    """The key of the known-answer vectors: its seed is published, so it signs test data and nothing else."""
    return SigningKey.from_seed(bytes.fromhex(VECTORS["key"]["seed"]))


class StepClock:
    """One millisecond per reading: distinct, ordered timestamps, the same on every run."""

    def __init__(self, start: datetime = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


@dataclass(frozen=True)
class Proofs:
    """Proof documents as the bytes ``pot proof`` writes, by name."""

    texts: dict[str, bytes]

    def names(self) -> list[str]:
        return sorted(self.texts)

    def documents(self) -> dict[str, Any]:
        return {name: json.loads(text) for name, text in self.texts.items()}

    def __repr__(self) -> str:  # hypothesis prints its arguments when a test fails; the names are enough
        return f"Proofs({', '.join(self.names())})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # what hypothesis's printer calls
        printer.text(repr(self))


# A registry address and a submitter as anvil's first deployment gives them, EIP-55 checksummed. The receipt that
# carries them is signed by the recorder's key; offline, the verifier checks its shape and that it names its head.
# Whether a chain holds it is the online check's business (pot verify --rpc), which the fuzz suite does not run.
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
SUBMITTER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def record_every_kind(workdir: Path) -> Proofs:
    """Record a parent model and a model with every record kind; return their full and partial proofs."""
    key = vector_key()
    clock = StepClock()
    # Heads are signed where this function flushes, never by a background batch whose timing varies: the same
    # structure every run, so the derandomized fuzz tests draw the same mutations (only the random salts and the
    # ids they change differ).
    config = ProvenanceConfig(enabled=True, store_dir=str(workdir / "store"), batch_size=1_000_000, step_block=4)
    artifact = workdir / "weights.bin"
    artifact.write_bytes(b"weights of epoch 2")
    with ProvenanceRecorder(config, key=key, clock=clock) as recorder:
        for epoch in range(2):
            recorder.record_training_checkpoint(model_hash=f"{epoch:064x}", metrics={"loss": 0.5}, epoch=epoch,
                                                model_id="base")
        base = recorder.generate_proof_of_training("base")

        with recorder.start_run("m", config={"lr": 0.1, "layers": [64, 10], "name": "mlp"}, capture=False,
                                run_id="run-fuzz-1",
                                parents=[parent_model(base), parent_dataset("digits", digest="d" * 64)]) as run:
            for epoch in range(3):
                for step in range(3):
                    recorder.record_step(epoch * 3 + step, {"loss": 1.0 / (epoch * 3 + step + 1), "lr": 0.1},
                                         "m", epoch=epoch)
                recorder.record_training_checkpoint(
                    model_hash=f"{epoch + 16:064x}", epoch=epoch, model_id="m", step=epoch * 3 + 2,
                    metrics={"loss": 1.0 / (epoch + 1), "acc": 0.5 + epoch / 10, "grad_norm": float("nan")},
                    checkpoint_path=artifact if epoch == 2 else None)
                recorder.record_validation(model_hash=f"{epoch + 16:064x}", validator_id="holdout",
                                           validation_result={"accuracy": 0.8 + epoch / 20, "f1": 0.7, "n": 360,
                                                              "notes": ["a", 1, None, True]},
                                           model_id="m", confidence_score=0.9, challenge_hash="c" * 64)
                if epoch != 1:
                    recorder.flush("m")
            run.log_metric("test_accuracy", 0.88, step=9)
            run.log_artifact(artifact)
            # an event recorded on receiving another node's stamp
            recorder.record(EventRecord, "m", event="MetricLogged", run_id="run-fuzz-1",
                            data={"name": "eval_loss", "value": 0.25, "step": None,
                                  "merged_from": {"node_id": "evaluator", "lamport": 1}})
        recorder.promote("m", "staging", {"thresholds": {"accuracy": {">=": 0.85}},
                                          "weights": {"accuracy": 0.7, "f1": 0.3}, "min_score": 0.5})
        recorder.promote("m", "production", {"thresholds": {"accuracy": {">=": 0.99}}})
        recorder.flush("m")
        recorder.rollback("m", "staging", f"{18:064x}", "canary errors")
        recorder.flush("m")
        head = recorder.store.latest_head("m")
        assert head is not None
        details = {"chain_id": 31337, "contract": CONTRACT, "tx_hash": "0x" + "ab" * 32, "block_number": 12,
                   "block_hash": "0x" + "cd" * 32, "block_time": 1795348800, "log_index": 0,
                   "submitter": SUBMITTER, "meta_hash": "0x" + head.head.head_hash}
        recorder.store.add_receipt("m", AnchorReceipt.issue("ethereum", head.head, details,
                                                            format_timestamp(clock()), key))
        full = recorder.generate_proof_of_training("m")
        partial_ids = [r.record_id for r in full.records if r.KIND in ("validation", "event")][:3]
        partial = recorder.generate_proof_of_training("m", disclose=partial_ids)
    texts = {"recorded-full": full.dumps(indent=1).encode(), "recorded-partial": partial.dumps(indent=1).encode(),
             "recorded-parent": base.dumps(indent=1).encode()}
    for path in V1_CORPUS:
        texts[f"v1-{path.name.removesuffix('.proof.json')}"] = path.read_bytes()
    return Proofs(texts)
