"""One training run recorded the way a training loop records it: a run with its configuration, steps, a checkpoint
per epoch, a logged metric, an artifact, a validation, then promotions (and a rollback) of the model.

Used in this process (:func:`record_run`) or as a separate one, so that a run can be recorded from another working
directory (another git commit) or with other packages installed (another environment):

    python -m tests.support.training_run SPEC_JSON        # prints {"run_id": ..., "model_hashes": [...]}

The spec is a JSON object: ``store``, ``model_id``, ``config``, ``epochs`` (one metrics object per epoch), and
optionally ``steps_per_epoch``, ``logged`` (name -> value), ``artifact`` (a file path), ``checkpoint_file`` (a file
saved with the last epoch's checkpoint), ``validation``
(``{"validator", "result", "confidence"}``), ``promotions`` (``[{"stage", "gate"}]``), ``rollback``
(``{"stage", "reason"}``: back to the model hash first promoted to that stage), ``parents`` and ``kind``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any

from pot import ProvenanceConfig, ProvenanceRecorder


def weights(model_id: str, epoch: int) -> str:
    """A weights digest standing for the model's state after ``epoch``: distinct per model and epoch."""
    return hashlib.sha256(f"{model_id}/{epoch}".encode()).hexdigest()


def record_run(spec: dict[str, Any]) -> dict[str, Any]:
    model_id = spec["model_id"]
    hashes = [weights(model_id, epoch) for epoch in range(len(spec["epochs"]))]
    with ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=spec["store"], batch_size=7)) as recorder:
        with recorder.start_run(model_id, kind=spec.get("kind", "train"), config=spec["config"],
                                parents=spec.get("parents", [])) as run:
            step = 0
            for epoch, metrics in enumerate(spec["epochs"]):
                for _ in range(spec.get("steps_per_epoch", 2)):
                    step += 1
                    recorder.record_step(step, {"loss": metrics.get("loss", 0.0) + 1 / step}, model_id, epoch=epoch)
                last = epoch == len(spec["epochs"]) - 1
                recorder.record_training_checkpoint(model_hash=hashes[epoch], metrics=metrics, epoch=epoch,
                                                    model_id=model_id, step=step,
                                                    checkpoint_path=spec.get("checkpoint_file") if last else None)
            for name, value in spec.get("logged", {}).items():
                run.log_metric(name, value)
            if spec.get("artifact"):
                run.log_artifact(spec["artifact"])
            validation = spec.get("validation")
            if validation:
                recorder.record_validation(model_hash=hashes[-1], validator_id=validation["validator"],
                                           validation_result=validation["result"], model_id=model_id,
                                           confidence_score=validation.get("confidence"))
        promoted: dict[str, str] = {}
        for promotion in spec.get("promotions", []):
            ok, event = recorder.promote(model_id, promotion["stage"], promotion["gate"])
            if ok:
                promoted.setdefault(promotion["stage"], event.data["model_hash"])
        rollback = spec.get("rollback")
        if rollback:
            recorder.rollback(model_id, rollback["stage"], promoted[rollback["stage"]], rollback["reason"])
    return {"run_id": run.run_id, "model_hashes": hashes}


if __name__ == "__main__":
    print(json.dumps(record_run(json.loads(sys.argv[1]))))
