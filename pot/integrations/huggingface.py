"""Hugging Face Transformers: a ``TrainerCallback`` that records a ``Trainer`` run with no other code.

    from pot.integrations.huggingface import ProvenanceTrainerCallback

    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=test,
                      callbacks=[ProvenanceTrainerCallback(model_id="bert-digits")])
    trainer.train()

It records the training as a run (``pot runs list`` shows it, with the training arguments that shape the result as
its configuration), each logged training step (loss, learning rate, gradient norm) with ``record_step``, a
checkpoint at the end of each epoch (the weights' digest and the epoch's last logged values), every evaluation as a
validation, each checkpoint directory the Trainer saves (its ``pot.file-set.v1`` digest, so
``pot verify --checkpoint DIR`` recognises it), and the final model when training ends (with
``load_best_model_at_end``, as the best checkpoint's epoch and step). With ``proof_path`` it also writes the proof
there. Only the main process records (``state.is_world_process_zero``).

Epochs are recorded as 0-based indexes, as the Trainer counts them while training: a checkpoint saved halfway
through the third epoch (``state.epoch`` 2.5) is epoch 2, one saved at its end (3.0) is epoch 2 too. A Trainer has
no hook for a training that raises: such a run stays "running" in ``pot runs list``, its records kept.

With ``record_replay=True`` it also writes a replay checkpoint file (weights, optimizer state, random generators;
:func:`pot.replay.torch.save_checkpoint`) when training begins and at the end of each epoch, into ``replay_dir``
(default: ``pot-replay`` under the output directory), and records each with its optimizer and RNG digests
(docs/REPLAY.md); a resumed training gets no file for its start, as the Trainer restores the generators after
``on_train_begin``. It records no batch digests: a ``TrainerCallback`` never sees a step's inputs, and the Trainer's
dataset items do not carry their index, so such a run is not replayable from what this callback records (a replay
refuses its segments: their steps are not all in the log, or have no batch digest); the checkpoints' digests still
bind the optimizer and generator states in the log.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from pot.errors import UsageError
from pot.integrations._common import CallbackCore, epoch_index, recordable_settings
from pot.integrations.torch import model_hash, scalar_metrics
from pot.recorder import ProvenanceRecorder

log = logging.getLogger("pot")

# Trainer log keys that describe the run rather than a step's training.
_SUMMARY_KEYS = ("train_runtime", "train_samples_per_second", "train_steps_per_second", "total_flos", "train_loss")
# The TrainingArguments that shape the trained weights, recorded as the run's configuration. Not all of them: the
# rest are paths, hub settings and logging choices, which a proof shown to strangers has no need to carry.
_TRAINING_SETTINGS = ("num_train_epochs", "max_steps", "per_device_train_batch_size", "gradient_accumulation_steps",
                      "learning_rate", "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon", "max_grad_norm",
                      "lr_scheduler_type", "warmup_ratio", "warmup_steps", "optim", "seed", "data_seed", "fp16",
                      "bf16", "label_smoothing_factor", "load_best_model_at_end", "metric_for_best_model")


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
        run_config: Mapping[str, Any] | None = None,
        parents: Sequence[Mapping[str, Any]] = (),
        record_replay: bool = False,
        replay_dir: str | Path | None = None,
    ) -> None:
        CallbackCore.__init__(self, recorder, model_id, record_steps=record_steps, validator_id=validator_id,
                              proof_path=proof_path, run_config=run_config, parents=parents)
        self.record_replay = record_replay
        self.replay_dir = Path(replay_dir) if replay_dir is not None else None
        self._last_logs: dict[str, float] = {}
        # checkpoint directory -> (epoch, step, metrics) of the weights saved there
        self._saved: dict[str, tuple[int, int, dict[str, float]]] = {}

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if not (self.enabled and state.is_world_process_zero) or model is None:
            return
        settings = {name: getattr(args, name) for name in _TRAINING_SETTINGS if hasattr(args, name)}
        settings = {name: getattr(value, "value", value) for name, value in settings.items()}  # enums: their value
        self._start_run(self._model_id(model), recordable_settings({"framework": "transformers", **settings},
                                                                   level=0))
        if self.record_replay and int(state.global_step) == 0:
            # the optimizer exists by now; the first epoch's iterator does not yet
            self._replay_checkpoint(args, state, model, kwargs.get("optimizer"), "init.pt", metrics={})
        elif self.record_replay:
            # A resumed training: the Trainer restores the generators from its checkpoint only when the epoch
            # starts, after this hook, so a file written here would not hold the state training goes on from.
            log.warning("record_replay: training resumes at step %d; no replay checkpoint is recorded for its start "
                        "(the Trainer restores the random generators after on_train_begin), the first is at the "
                        "end of this epoch", int(state.global_step))

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, model: Any = None,
               **kwargs: Any) -> None:
        if not (self.enabled and state.is_world_process_zero) or not logs or "loss" not in logs or model is None:
            return
        values = scalar_metrics({k: v for k, v in logs.items() if k not in _SUMMARY_KEYS and k != "epoch"})
        self._last_logs = values
        if self.record_steps:
            self.recorder.record_step(int(state.global_step), values, self._model_id(model),
                                      epoch=epoch_index(state.epoch))

    def on_epoch_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if not (self.enabled and state.is_world_process_zero) or model is None:
            return
        if self.record_replay:
            epoch = epoch_index(state.epoch)
            self._replay_checkpoint(args, state, model, kwargs.get("optimizer"), f"epoch-{epoch:03d}.pt",
                                    metrics=self._last_logs)
            return
        self.recorder.record_training_checkpoint(
            model_hash=model_hash(model), metrics=self._last_logs, epoch=epoch_index(state.epoch),
            model_id=self._model_id(model), model_fn=self._fingerprint_fn(model), step=int(state.global_step))

    def _replay_checkpoint(self, args: Any, state: Any, model: Any, optimizer: Any, name: str, *,
                           metrics: Mapping[str, float]) -> None:
        """Write a replay checkpoint file (weights, optimizer, random generators) and record it with its digests."""
        import torch

        from pot.replay.torch import save_checkpoint

        if not isinstance(optimizer, torch.optim.Optimizer):
            raise UsageError("record_replay needs the Trainer's torch optimizer, and the callback was given none")
        directory = self.replay_dir if self.replay_dir is not None else Path(args.output_dir) / "pot-replay"
        directory.mkdir(parents=True, exist_ok=True)
        saved = save_checkpoint(directory / name, model, optimizer, stores=[self.recorder.config.resolve_store()])
        self.recorder.record_training_checkpoint(
            metrics=metrics, epoch=epoch_index(state.epoch), model_id=self._model_id(model),
            model_fn=self._fingerprint_fn(model) if name != "init.pt" else None, step=int(state.global_step),
            **saved.record_fields())

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict[str, Any] | None = None,
                    model: Any = None, **kwargs: Any) -> None:
        if not (self.enabled and state.is_world_process_zero) or model is None or not metrics:
            return
        results: dict[str, Any] = dict(scalar_metrics(metrics))
        results["global_step"] = int(state.global_step)
        self.recorder.record_validation(model_hash=model_hash(model), validator_id=self.validator_id,
                                        validation_result=results, model_id=self._model_id(model))

    def on_save(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if not (self.enabled and state.is_world_process_zero) or model is None:
            return
        directory = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        if os.path.isdir(directory):
            epoch, step = epoch_index(state.epoch), int(state.global_step)
            self._saved[os.path.abspath(directory)] = (epoch, step, self._last_logs)
            self.recorder.record_training_checkpoint(
                model_hash=model_hash(model), metrics=self._last_logs, epoch=epoch, model_id=self._model_id(model),
                step=step, checkpoint_path=directory)

    def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if not (self.enabled and state.is_world_process_zero) or model is None:
            return
        model_id = self._model_id(model)
        epoch, step, metrics = epoch_index(state.epoch), int(state.global_step), self._last_logs
        best = state.best_model_checkpoint
        if getattr(args, "load_best_model_at_end", False) and best:
            # The Trainer has loaded the best checkpoint's weights back: they are that checkpoint's epoch and step.
            found = self._saved.get(os.path.abspath(best)) or _saved_state(best)
            if found is not None:
                epoch, step, metrics = found
        self.recorder.record_training_checkpoint(
            model_hash=model_hash(model), metrics=metrics, epoch=epoch, model_id=model_id,
            model_fn=self._fingerprint_fn(model), step=step)
        self._finish(model_id)


def _saved_state(directory: str) -> tuple[int, int, dict[str, float]] | None:
    """(epoch, step, no metrics) of a checkpoint directory another process saved (a resumed training's best), from
    the ``trainer_state.json`` the Trainer writes into it; None when that cannot be read."""
    try:
        state = json.loads((Path(directory) / "trainer_state.json").read_text(encoding="utf-8"))
        return epoch_index(float(state["epoch"])), int(state["global_step"]), {}
    except (OSError, ValueError, KeyError, TypeError):
        return None
