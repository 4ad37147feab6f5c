"""Segments: the stretches of training between two recorded checkpoints that a replay re-executes.

Framework-free: this reads a verified proof and says, per segment, where it starts and ends (checkpoints with
their weight, optimizer and RNG digests and checkpoint files) and which steps it holds, with each step's epoch and
batch digest. Everything here comes from records the proof's signature and Merkle root bind; nothing from the
checkpoint files, which the replay checks against these digests before it trusts them.

A checkpoint starts or ends a segment when it was **recorded for replay**: it has a ``step``, a checkpoint file
(``file_sha256``, ``file_name``), an ``optimizer_hash`` and an ``rng_hash``. Consecutive such checkpoints of one run
bound a segment; its steps are the steps recorded after the first checkpoint's ``step`` up to the second's.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pot.errors import UsageError
from pot.lineage.events import RUN_STARTED
from pot.log.proof import ProvenanceProof
from pot.log.records import EventRecord, StepsRecord, TrainingCheckpoint

__all__ = ["Checkpoint", "ReplayPlan", "Segment", "StepRecord", "replay_plan"]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A checkpoint recorded for replay, as the log has it."""

    record_id: str
    seq: int
    epoch: int
    step: int
    timestamp: str
    model_hash: str
    optimizer_hash: str
    rng_hash: str
    file_sha256: str
    file_name: str


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One recorded training step: its number, epoch and batch digest (None when none was recorded)."""

    step: int
    epoch: int | None
    batch: str | None


@dataclass(frozen=True, slots=True)
class Segment:
    """The training between two consecutive checkpoints recorded for replay."""

    index: int  # 1-based, in log order
    start: Checkpoint
    end: Checkpoint
    steps: tuple[StepRecord, ...]  # recorded steps with start.step < step <= end.step, in log order

    @property
    def name(self) -> str:
        """How reports name the segment: by the epochs it trains and its steps."""
        epochs = sorted({s.epoch for s in self.steps if s.epoch is not None})
        span = (f"epoch {epochs[0]}" if len(epochs) == 1 else f"epochs {epochs[0]}-{epochs[-1]}") if epochs else \
            f"checkpoint {self.index}"
        return f"{span} (steps {self.start.step + 1}-{self.end.step})"

    @property
    def recorded_seconds(self) -> float:
        """The signer's clock between the two checkpoints: how long the segment took in training (its word)."""
        from pot.log.records import parse_timestamp

        return (parse_timestamp(self.end.timestamp) - parse_timestamp(self.start.timestamp)).total_seconds()


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    """What a proof offers a replay: its run's configuration and its segments."""

    model_id: str
    run_id: str
    config: Mapping[str, Any]
    proof_sha256: str
    segments: tuple[Segment, ...]
    merkle_root: str  # the proof's, for an attestation to name it (with proof_sha256)
    signer_key_id: str


def _replayable(record: TrainingCheckpoint) -> Checkpoint | None:
    if None in (record.step, record.file_sha256, record.file_name, record.optimizer_hash, record.rng_hash):
        return None
    return Checkpoint(record.checkpoint_id, record.seq, record.epoch, int(record.step or 0), record.timestamp,
                      record.model_hash, str(record.optimizer_hash), str(record.rng_hash), str(record.file_sha256),
                      str(record.file_name))


def replay_plan(proof: ProvenanceProof, proof_bytes: bytes, *, run_id: str | None = None) -> ReplayPlan:
    """The segments of a proof's run (the only run with checkpoints recorded for replay, or ``run_id``).

    The proof must have been verified already (:func:`pot.verify_proof`); this only reads it. ``proof_bytes`` are
    the file's bytes, whose SHA-256 names the proof in a replay attestation. Raises :class:`UsageError` when the
    proof is partial (a replay needs every step) or holds no two checkpoints recorded for replay.
    """
    if proof.disclosure != "full":
        raise UsageError("a replay needs a full proof: a partial proof may leave out steps")
    starts: dict[str, Mapping[str, Any]] = {}
    checkpoints: dict[str, list[Checkpoint]] = {}
    steps: dict[str, list[StepRecord]] = {}
    for record in proof.records:
        run = record.run_id
        if run is None:
            continue
        if isinstance(record, EventRecord) and record.event == RUN_STARTED:
            starts[run] = record.data["config"]
        elif isinstance(record, TrainingCheckpoint):
            checkpoint = _replayable(record)
            if checkpoint is not None:
                checkpoints.setdefault(run, []).append(checkpoint)
        elif isinstance(record, StepsRecord):
            epochs: Sequence[int | None] = record.epochs if record.epochs is not None else [None] * len(record.steps)
            batches: Sequence[str | None] = record.batches if record.batches is not None else \
                [None] * len(record.steps)
            steps.setdefault(run, []).extend(StepRecord(s, e, b) for s, e, b in zip(record.steps, epochs, batches,
                                                                                    strict=True))
    runs = [run for run, found in checkpoints.items() if len(found) >= 2]
    if run_id is not None:
        if run_id not in runs:
            raise UsageError(f"run {run_id!r} has no two checkpoints recorded for replay in this proof")
        runs = [run_id]
    if not runs:
        raise UsageError("this proof has no two checkpoints recorded for replay (a step, a checkpoint file, an "
                         "optimizer_hash and an rng_hash each): nothing to replay")
    if len(runs) > 1:
        raise UsageError(f"this proof holds {len(runs)} runs recorded for replay; choose one ({', '.join(runs)})")
    run = runs[0]
    found = checkpoints[run]
    run_steps = steps.get(run, [])
    segments: list[Segment] = []
    for start, end in itertools.pairwise(found):
        if end.step <= start.step:
            continue  # the same state recorded twice (the final weights after the last epoch's checkpoint)
        inside = tuple(s for s in run_steps if start.step < s.step <= end.step)
        segments.append(Segment(len(segments) + 1, start, end, inside))
    if not segments:
        raise UsageError("this proof's checkpoints recorded for replay enclose no training steps")
    return ReplayPlan(proof.model_id, run, dict(starts.get(run, {})), hashlib.sha256(proof_bytes).hexdigest(),
                      tuple(segments), proof.merkle_root, proof.signer_key_id or proof.signer.key_id)
