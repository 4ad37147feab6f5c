"""pot: blockchain-anchored proof of training.

A recorder sits in a training loop and appends training checkpoints and validation results to a per-model
Merkle log (RFC 9162). It signs the log's tree heads with Ed25519 and anchors their roots to a local chain file
or, when configured, to a contract on Ethereum or Polygon. Anyone holding the proof file can verify all of it
offline::

    from pot import ProvenanceConfig, ProvenanceRecorder, verify_proof

    with ProvenanceRecorder(ProvenanceConfig(enabled=True)) as recorder:
        for epoch in range(3):
            recorder.record_training_checkpoint(model_hash=weights_digest, metrics={"loss": loss},
                                                epoch=epoch, model_id="my_model")
        recorder.record_validation(model_hash=weights_digest, validator_id="holdout",
                                   validation_result={"accuracy": 0.97}, model_id="my_model")
        proof = recorder.generate_proof_of_training("my_model")
    proof.save("my_model.proof.json")

    report = verify_proof(ProvenanceProof.load("my_model.proof.json"), trusted_key=recorder.public_key)

The seed toolkit's import path, ``pot.core.provenance_integration``, offers the same classes.
"""

from __future__ import annotations

__version__ = "0.1.0"

from pot.config import ChainSettings, ProvenanceConfig
from pot.errors import (
    AnchorError,
    AnchorUnavailable,
    FormatError,
    KeyringError,
    PotError,
    StoreError,
    UsageError,
    VerificationError,
)
from pot.log.heads import SignedTreeHead, TreeHead
from pot.log.keys import PublicKey, SigningKey
from pot.log.proof import MEDIA_TYPE, ProvenanceProof
from pot.log.records import TrainingCheckpoint, ValidationRecord
from pot.log.store import Store
from pot.log.verify import VerificationReport, verify_proof
from pot.recorder import ProvenanceRecorder

__all__ = [
    "MEDIA_TYPE",
    "AnchorError",
    "AnchorUnavailable",
    "ChainSettings",
    "FormatError",
    "KeyringError",
    "PotError",
    "ProvenanceConfig",
    "ProvenanceProof",
    "ProvenanceRecorder",
    "PublicKey",
    "SignedTreeHead",
    "SigningKey",
    "Store",
    "StoreError",
    "TrainingCheckpoint",
    "TreeHead",
    "UsageError",
    "ValidationRecord",
    "VerificationError",
    "VerificationReport",
    "__version__",
    "verify_proof",
]
