"""What the framework callbacks (Lightning, Hugging Face) share: their settings, the model id, and how a run ends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pot.config import ProvenanceConfig
from pot.integrations.torch import model_fn_for
from pot.log.proof import ProvenanceProof
from pot.recorder import ProvenanceRecorder


class CallbackCore:
    """Settings and the end of a run for a framework callback. Without a recorder, one on the default store
    (``POT_HOME`` or ./.pot) is made, and closed when training ends."""

    def __init__(self, recorder: ProvenanceRecorder | None, model_id: str | None, *, record_steps: bool,
                 validator_id: str, proof_path: str | Path | None) -> None:
        self._owns_recorder = recorder is None
        self.recorder = recorder if recorder is not None else ProvenanceRecorder(ProvenanceConfig(enabled=True))
        self.model_id = model_id
        self.record_steps = record_steps
        self.validator_id = validator_id
        self.proof_path = Path(proof_path) if proof_path is not None else None
        self.proof: ProvenanceProof | None = None

    def _model_id(self, model: Any) -> str:
        if self.model_id is None:
            self.model_id = type(model).__name__
        return self.model_id

    def _fingerprint_fn(self, model: Any) -> Any:
        return model_fn_for(model, self.recorder.config)

    def _finish(self, model_id: str) -> None:
        """Sign what is recorded, write the proof if asked, and close a recorder this callback made."""
        self.recorder.flush(model_id)
        if self.proof_path is not None:
            proof = self.recorder.generate_proof_of_training(model_id)
            proof.save(self.proof_path)
            self.proof = proof
        if self._owns_recorder:
            self.recorder.close()
