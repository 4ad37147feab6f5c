"""Hugging Face Transformers: a ``TrainerCallback`` that records a ``Trainer`` run with no other code.

    from pot.integrations.huggingface import ProvenanceTrainerCallback

    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=test,
                      callbacks=[ProvenanceTrainerCallback(model_id="bert-digits")])
    trainer.train()

It records each logged training step (loss, learning rate, gradient norm) with ``record_step``, a checkpoint at
the end of each epoch (the weights' digest and the epoch's last logged values), every evaluation as a
validation, each checkpoint directory the Trainer saves (its ``pot.file-set.v1`` digest, so
``pot verify --checkpoint DIR`` recognises it), and the final model when training ends. With ``proof_path`` it
also writes the proof there. Only the main process records (``state.is_world_process_zero``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from pot.integrations._common import CallbackCore
from pot.integrations.torch import model_hash, scalar_metrics
from pot.recorder import ProvenanceRecorder

# Trainer log keys that describe the run rather than a step's training.
_SUMMARY_KEYS = ("train_runtime", "train_samples_per_second", "train_steps_per_second", "total_flos", "train_loss")


class ProvenanceTrainerCallback(CallbackCore, TrainerCallback):
    """Records a Transformers ``Trainer`` run into a pot store (see the module docstring)."""

    def __init__(
        self,
        recorder: ProvenanceRecorder | None = None,
        model_id: str | None = None,
        *,
        record_steps: bool = True,
        validator_id: str = "hf-evaluation",
        proof_path: str | Path | None = None,
    ) -> None:
        CallbackCore.__init__(self, recorder, model_id, record_steps=record_steps, validator_id=validator_id,
                              proof_path=proof_path)
        self._last_logs: dict[str, float] = {}

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, model: Any = None,
               **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs or "loss" not in logs or model is None:
            return
        values = scalar_metrics({k: v for k, v in logs.items() if k not in _SUMMARY_KEYS and k != "epoch"})
        self._last_logs = values
        if self.record_steps:
            self.recorder.record_step(int(state.global_step), values, self._model_id(model),
                                      epoch=int(state.epoch or 0))

    def on_epoch_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or model is None:
            return
        self.recorder.record_training_checkpoint(
            model_hash=model_hash(model), metrics=self._last_logs, epoch=max(round(state.epoch or 0) - 1, 0),
            model_id=self._model_id(model), model_fn=self._fingerprint_fn(model), step=int(state.global_step))

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict[str, Any] | None = None,
                    model: Any = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or model is None or not metrics:
            return
        results: dict[str, Any] = dict(scalar_metrics(metrics))
        results["global_step"] = int(state.global_step)
        self.recorder.record_validation(model_hash=model_hash(model), validator_id=self.validator_id,
                                        validation_result=results, model_id=self._model_id(model))

    def on_save(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or model is None:
            return
        directory = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        if os.path.isdir(directory):
            self.recorder.record_training_checkpoint(
                model_hash=model_hash(model), metrics=self._last_logs, epoch=max(round(state.epoch or 0) - 1, 0),
                model_id=self._model_id(model), step=int(state.global_step), checkpoint_path=directory)

    def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or model is None:
            return
        model_id = self._model_id(model)
        self.recorder.record_training_checkpoint(
            model_hash=model_hash(model), metrics=self._last_logs, epoch=max(round(state.epoch or 0) - 1, 0),
            model_id=model_id, model_fn=self._fingerprint_fn(model), step=int(state.global_step))
        self._finish(model_id)
