"""What the framework callbacks (Lightning, Hugging Face) share: their settings, the model id, the run they record
into, and how it ends."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pot.config import ProvenanceConfig
from pot.errors import FormatError
from pot.integrations.torch import model_fn_for
from pot.log.canonical import to_json_value
from pot.log.proof import ProvenanceProof
from pot.log.records import RECORD_FIELD_DEPTH
from pot.recorder import ProvenanceRecorder, Run


class CallbackCore:
    """Settings, the run and the end of a run for a framework callback. Without a recorder, one on the default
    store (``POT_HOME`` or ./.pot) is made, and closed when training ends.

    A training run is recorded as a pot run (``RunStarted`` ... ``RunCompleted``), so that ``pot runs list`` shows
    it, unless the recorder is already recording a run into the model (the caller's own ``start_run``): then the
    records join that run and the caller ends it. ``run_config`` is recorded with the framework's own settings;
    ``parents`` as the run's parents (:func:`pot.lineage.events.parent_model`, ``parent_dataset``).
    """

    def __init__(self, recorder: ProvenanceRecorder | None, model_id: str | None, *, record_steps: bool,
                 validator_id: str, proof_path: str | Path | None, run_config: Mapping[str, Any] | None = None,
                 parents: Sequence[Mapping[str, Any]] = ()) -> None:
        self._owns_recorder = recorder is None
        self.recorder = recorder if recorder is not None else ProvenanceRecorder(ProvenanceConfig(enabled=True))
        self.model_id = model_id
        self.record_steps = record_steps
        self.validator_id = validator_id
        self.proof_path = Path(proof_path) if proof_path is not None else None
        self.proof: ProvenanceProof | None = None
        self.run_config = dict(run_config or {})
        self.parents = list(parents)
        self.run: Run | None = None  # the run this callback started (None when it joined its caller's)

    @property
    def enabled(self) -> bool:
        """False when the recorder is switched off: the hooks then do nothing at all, not even hash weights."""
        return self.recorder.config.enabled

    def _model_id(self, model: Any) -> str:
        if self.model_id is None:
            self.model_id = type(model).__name__
        return self.model_id

    def _fingerprint_fn(self, model: Any) -> Any:
        return model_fn_for(model, self.recorder.config)

    def _start_run(self, model_id: str, framework_config: Mapping[str, Any]) -> None:
        if self.run is not None or self.recorder.active_run(model_id) is not None:
            return
        self.run = self.recorder.start_run(model_id, config={**framework_config, **self.run_config},
                                           parents=self.parents)

    def _end_run(self, error: str | None = None) -> None:
        run, self.run = self.run, None
        if run is None:
            return
        if error is None:
            run.complete()
        else:
            run.fail(error)

    def _finish(self, model_id: str) -> None:
        """End the run, sign what is recorded, write the proof if asked, and close a recorder this callback made."""
        self._end_run()
        self.recorder.flush(model_id)
        if self.proof_path is not None:
            proof = self.recorder.generate_proof_of_training(model_id)
            if proof is not None:
                proof.save(self.proof_path)
            self.proof = proof
        if self._owns_recorder:
            self.recorder.close()

    def _fail(self, error: BaseException) -> None:
        """Training raised: the run ends as failed (what was recorded stays, signed), and a recorder this callback
        made is closed."""
        self._end_run(f"{type(error).__name__}: {error}")
        if self._owns_recorder:
            self.recorder.close()
        elif self.model_id is not None:
            self.recorder.flush(self.model_id)


def recordable_settings(values: Mapping[str, Any], level: int = 1) -> dict[str, Any]:
    """Framework settings as a run's configuration can record them: JSON values as they are, anything else (a
    module, a callable, a class) as its type's name, so odd hyperparameters never stop a training run.
    ``level``: how deep under the run's ``config`` these values sit."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        try:
            out[str(name)] = to_json_value(value, path=f"config.{name}", depth=RECORD_FIELD_DEPTH + 2 + level)
        except (FormatError, RecursionError):
            out[str(name)] = f"<{type(value).__name__}>"
    return out


def epoch_index(progress: float | None) -> int:
    """The 0-based epoch a fractional epoch counter (Hugging Face's ``state.epoch``: 2.5 is halfway through the
    third epoch, 3.0 the end of the third) points into."""
    if progress is None or progress <= 0:
        return 0
    return max(math.ceil(progress) - 1, 0)
