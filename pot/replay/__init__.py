"""Replay verification: show that recorded checkpoints follow from the recorded training (docs/REPLAY.md).

A training loop recorded for replay writes, per step, a digest of its batch (``record_step(..., batch=...)``) and,
at each checkpoint, the checkpoint file with its weights, optimizer and RNG digests. A verifier then re-executes
segments between checkpoints with the training script's own step function and compares the end weights with the
recorded digest. The framework-free parts are here; PyTorch's are in :mod:`pot.replay.torch`.

Example::

    from pot.replay import load_plan
    from pot.replay.torch import replay_segments

    plan = load_plan("model.proof.json", trusted_key=key)            # verified first
    report = replay_segments(plan, "checkpoints/", my_script.replay_program, count=3)   # raises ReplayError
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pot.replay.attestation import MEDIA_TYPE as ATTESTATION_MEDIA_TYPE
from pot.replay.attestation import attest_replay, verify_attestation
from pot.replay.digests import STATE_HASH_FORMAT, batch_digest_of, state_digest_of
from pot.replay.segments import Checkpoint, ReplayPlan, Segment, StepRecord, replay_plan

if TYPE_CHECKING:
    from datetime import datetime

    from pot.log.keys import PublicKey

__all__ = ["ATTESTATION_MEDIA_TYPE", "STATE_HASH_FORMAT", "Checkpoint", "ReplayPlan", "Segment", "StepRecord",
           "attest_replay", "batch_digest_of", "load_plan", "replay_plan", "state_digest_of", "verify_attestation"]


def load_plan(path: str | Path, *, trusted_key: PublicKey | None = None, now: datetime | None = None,
              run_id: str | None = None) -> ReplayPlan:
    """Read a proof file, verify it (raising :class:`pot.errors.VerificationError` if it fails) and return the
    segments a replay can re-execute. A replay of a proof that does not verify would check nothing."""
    from pot.log.proof import ProvenanceProof
    from pot.log.verify import verify_proof

    data = Path(path).read_bytes()
    proof = ProvenanceProof.from_json(data)
    verify_proof(proof, trusted_key=trusted_key, now=now)
    return replay_plan(proof, data, run_id=run_id)
