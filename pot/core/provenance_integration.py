"""The seed toolkit's import path: ``from pot.core.provenance_integration import ProvenanceRecorder, ...``.

Everything here is pot's real implementation under the names the seed's users already know; the seed's
"signature" (an unkeyed hash) is a real Ed25519 signature here, and its Merkle proofs are RFC 9162 proofs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pot.config import ProvenanceConfig
from pot.errors import UsageError
from pot.log.proof import ProvenanceProof
from pot.log.records import TrainingCheckpoint, ValidationRecord
from pot.recorder import ProvenanceRecorder

F = TypeVar("F", bound=Callable[..., Any])


def integrate_with_training_loop(recorder: ProvenanceRecorder, model_fn: Callable[[Any], Any] | None = None,
                                 model_id: str = "model") -> Callable[[F], F]:
    """Decorate a function that trains one epoch and returns ``{"epoch", "model_hash", "metrics"}``.

    Each call's result is recorded as a training checkpoint of ``model_id`` (with a behavioural fingerprint
    from ``model_fn`` when fingerprinting is on) and returned unchanged.
    """
    def decorate(train_epoch: F) -> F:
        @functools.wraps(train_epoch)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            result = train_epoch(*args, **kwargs)
            if recorder.config.enabled:
                if not isinstance(result, Mapping) or not {"epoch", "model_hash"} <= set(result):
                    raise UsageError(f"{train_epoch.__name__} must return a dict with 'epoch', 'model_hash' "
                                     "and 'metrics' for provenance recording")
                recorder.record_training_checkpoint(
                    model_hash=result["model_hash"], metrics=result.get("metrics") or {}, epoch=result["epoch"],
                    model_id=model_id, model_fn=model_fn)
            return result
        return wrapper  # type: ignore[return-value]
    return decorate


class ProvenanceContext:
    """The seed's context-manager pattern: on a clean exit, flush and generate the proof into ``.proof``."""

    def __init__(self, recorder: ProvenanceRecorder, model_id: str) -> None:
        self.recorder = recorder
        self.model_id = model_id
        self.proof: ProvenanceProof | None = None

    def __enter__(self) -> ProvenanceContext:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None and self.recorder.config.enabled:
            self.proof = self.recorder.generate_proof_of_training(self.model_id)


__all__ = [
    "ProvenanceConfig",
    "ProvenanceContext",
    "ProvenanceProof",
    "ProvenanceRecorder",
    "TrainingCheckpoint",
    "ValidationRecord",
    "integrate_with_training_loop",
]
