"""PyTorch Lightning: a callback that records a training run with no other code.

    from pot.integrations.lightning import ProvenanceCallback

    trainer = lightning.Trainer(max_epochs=10, callbacks=[ProvenanceCallback(model_id="digits-mlp")])
    trainer.fit(model, train_loader, val_loader)

It records the ``fit`` as a run (``pot runs list`` shows it, with the module's hyperparameters and the trainer's
limits as its configuration), every training step's loss (``record_step``), a checkpoint at the end of each
training epoch (the weights' digest, the epoch's logged metrics, a behavioural fingerprint when the input shape can
be told), a validation whenever Lightning validates, and at the end of ``fit`` each checkpoint file Lightning's
``ModelCheckpoint`` kept (best, best k, last), with the epoch, step and weights digest read from the file itself,
and the final model. With ``proof_path`` it also writes the proof there. Only the global rank 0 records: in
distributed training every rank holds the same weights.

Works with ``lightning`` (``lightning.pytorch``) or the older ``pytorch_lightning`` package.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lightning.pytorch import Callback
    from lightning.pytorch.callbacks import ModelCheckpoint
else:
    try:
        from lightning.pytorch import Callback
        from lightning.pytorch.callbacks import ModelCheckpoint
    except ImportError:  # the standalone package
        from pytorch_lightning import Callback
        from pytorch_lightning.callbacks import ModelCheckpoint

from pot.integrations._common import CallbackCore, recordable_settings
from pot.integrations.torch import model_hash, scalar_metrics
from pot.recorder import ProvenanceRecorder

log = logging.getLogger("pot")


class ProvenanceCallback(CallbackCore, Callback):
    """Records a Lightning ``fit`` into a pot store (see the module docstring)."""

    def __init__(
        self,
        recorder: ProvenanceRecorder | None = None,
        model_id: str | None = None,
        *,
        record_steps: bool = True,
        validator_id: str = "lightning-validation",
        proof_path: str | Path | None = None,
        run_config: Mapping[str, Any] | None = None,
        parents: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        Callback.__init__(self)
        CallbackCore.__init__(self, recorder, model_id, record_steps=record_steps, validator_id=validator_id,
                              proof_path=proof_path, run_config=run_config, parents=parents)
        # The last epoch that trained, as its 0-based index. After fit, trainer.current_epoch counts the epochs
        # completed (5 after max_epochs=5), one past the index Lightning names its files by ("epoch=4").
        self._epoch: int | None = None
        self._epoch_metrics: dict[int, dict[str, float]] = {}  # what each epoch's checkpoint record carried

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        if not (self.enabled and trainer.is_global_zero):
            return
        settings: dict[str, Any] = {"framework": "lightning"}
        for name in ("max_epochs", "max_steps", "accumulate_grad_batches", "gradient_clip_val", "precision"):
            value = getattr(trainer, name, None)  # older Lightning releases lack some
            settings[name] = value if value is None or isinstance(value, int | float) else str(value)
        settings["hyperparameters"] = recordable_settings(dict(getattr(pl_module, "hparams", {}) or {}))
        self._start_run(self._model_id(pl_module), recordable_settings(settings, level=0))

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if not (self.enabled and trainer.is_global_zero):
            return
        self._epoch = int(trainer.current_epoch)
        if not self.record_steps:
            return
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        metrics = scalar_metrics({"loss": loss}) if loss is not None else {}
        self.recorder.record_step(int(trainer.global_step), metrics, self._model_id(pl_module),
                                  epoch=int(trainer.current_epoch))

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if not (self.enabled and trainer.is_global_zero):
            return
        epoch = self._epoch = int(trainer.current_epoch)  # the hook runs before Lightning counts the epoch done
        metrics = scalar_metrics({k: v for k, v in trainer.callback_metrics.items() if not k.startswith("val")})
        self._epoch_metrics[epoch] = metrics
        self.recorder.record_training_checkpoint(
            model_hash=model_hash(pl_module), metrics=metrics, epoch=epoch,
            model_id=self._model_id(pl_module), model_fn=self._fingerprint_fn(pl_module),
            step=int(trainer.global_step))

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.sanity_checking or not (self.enabled and trainer.is_global_zero):
            return
        results = scalar_metrics({k: v for k, v in trainer.callback_metrics.items() if k.startswith("val")})
        results["epoch"] = int(trainer.current_epoch)
        self.recorder.record_validation(model_hash=model_hash(pl_module), validator_id=self.validator_id,
                                        validation_result=results, model_id=self._model_id(pl_module))

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        if not (self.enabled and trainer.is_global_zero):
            return
        model_id = self._model_id(pl_module)
        digest = model_hash(pl_module)
        epoch = self._epoch if self._epoch is not None else max(int(trainer.current_epoch) - 1, 0)
        metrics = scalar_metrics(dict(trainer.callback_metrics))
        saved, unreadable = [], {}
        for path in _kept_files(trainer):
            state = _saved_state(path)
            if isinstance(state, str):
                unreadable[path] = state
            else:
                saved.append((state, path))
        if unreadable:
            # Left out rather than recorded with an epoch or weights they may not hold; said once for the fit.
            log.warning("%d checkpoint file(s) are not recorded, as their epoch and weights could not be read from "
                        "them: %s", len(unreadable), "; ".join(f"{path} ({why})" for path, why in unreadable.items()))
        final_is_saved = False
        for (file_epoch, file_step, file_digest), path in sorted(saved):  # in training order: the final one last
            final = file_digest == digest
            final_is_saved |= final
            # A file of earlier weights (the best epoch's) gets that epoch's metrics and no fingerprint: the
            # fingerprint hook runs the model as it is now.
            self.recorder.record_training_checkpoint(
                model_hash=file_digest, metrics=metrics if final else self._epoch_metrics.get(file_epoch, {}),
                epoch=file_epoch, model_id=model_id, model_fn=self._fingerprint_fn(pl_module) if final else None,
                step=file_step, checkpoint_path=path)
        if not final_is_saved:  # no file holds the final weights: the final model alone
            self.recorder.record_training_checkpoint(
                model_hash=digest, metrics=metrics, epoch=epoch, model_id=model_id,
                model_fn=self._fingerprint_fn(pl_module), step=int(trainer.global_step))
        self._finish(model_id)

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        if not (self.enabled and trainer.is_global_zero):
            return
        self._fail(exception)


def _kept_files(trainer: Any) -> list[str]:
    """The checkpoint files the trainer's ModelCheckpoint callbacks kept (best, best k, last) that exist."""
    files: set[str] = set()
    for callback in trainer.callbacks:
        if isinstance(callback, ModelCheckpoint):
            files.update(str(p) for p in (callback.best_model_path, callback.last_model_path,
                                          *callback.best_k_models) if p)
    return sorted(path for path in files if Path(path).is_file())


def _saved_state(path: str) -> tuple[int, int, str] | str:
    """(epoch, global step, weights digest) of a checkpoint file as Lightning wrote it, read from the file: the best
    file is often an earlier epoch's, so neither the trainer's counters nor the model say what it holds. Loaded
    with ``weights_only`` (no code runs) and memory-mapped (no second copy of the weights). For a file that cannot
    be read so, why not (it is then not recorded rather than recorded as something it may not be)."""
    import pickle

    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
        return int(checkpoint["epoch"]), int(checkpoint["global_step"]), model_hash(checkpoint["state_dict"])
    except pickle.UnpicklingError:
        return ("it holds pickled objects that a weights-only load refuses, a class among the hyperparameters, say, "
                "and loading it fully would run its code")
    except Exception as exc:  # a checkpoint I/O plugin's own format, a file cut short, ...: never stop the fit
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return f"{type(exc).__name__}: {first[:200]}"
