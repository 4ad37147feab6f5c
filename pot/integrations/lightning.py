"""PyTorch Lightning: a callback that records a training run with no other code.

    from pot.integrations.lightning import ProvenanceCallback

    trainer = lightning.Trainer(max_epochs=10, callbacks=[ProvenanceCallback(model_id="digits-mlp")])
    trainer.fit(model, train_loader, val_loader)

It records every training step's loss (``record_step``), a checkpoint at the end of each training epoch (the
weights' digest, the epoch's logged metrics, a behavioural fingerprint when the input shape can be told), a
validation whenever Lightning validates, and the final model at the end of ``fit`` with the digest of each
checkpoint file Lightning's ``ModelCheckpoint`` saved. With ``proof_path`` it also writes the proof there.
Only the global rank 0 records: in distributed training every rank holds the same weights.

Works with ``lightning`` (``lightning.pytorch``) or the older ``pytorch_lightning`` package.
"""

from __future__ import annotations

import logging
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

from pot.integrations._common import CallbackCore
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
    ) -> None:
        Callback.__init__(self)
        CallbackCore.__init__(self, recorder, model_id, record_steps=record_steps, validator_id=validator_id,
                              proof_path=proof_path)

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if not (self.record_steps and trainer.is_global_zero):
            return
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        metrics = scalar_metrics({"loss": loss}) if loss is not None else {}
        self.recorder.record_step(int(trainer.global_step), metrics, self._model_id(pl_module),
                                  epoch=int(trainer.current_epoch))

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.is_global_zero:
            return
        metrics = scalar_metrics({k: v for k, v in trainer.callback_metrics.items() if not k.startswith("val")})
        self.recorder.record_training_checkpoint(
            model_hash=model_hash(pl_module), metrics=metrics, epoch=int(trainer.current_epoch),
            model_id=self._model_id(pl_module), model_fn=self._fingerprint_fn(pl_module),
            step=int(trainer.global_step))

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        results = scalar_metrics({k: v for k, v in trainer.callback_metrics.items() if k.startswith("val")})
        results["epoch"] = int(trainer.current_epoch)
        self.recorder.record_validation(model_hash=model_hash(pl_module), validator_id=self.validator_id,
                                        validation_result=results, model_id=self._model_id(pl_module))

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.is_global_zero:
            return
        model_id = self._model_id(pl_module)
        digest = model_hash(pl_module)
        metrics = scalar_metrics(dict(trainer.callback_metrics))
        files: list[str | None] = []
        for callback in trainer.callbacks:
            if isinstance(callback, ModelCheckpoint):
                files += [p for p in {callback.best_model_path, callback.last_model_path} if p and Path(p).exists()]
        for path in sorted(files, key=str) or [None]:  # no saved file: the final model alone
            self.recorder.record_training_checkpoint(
                model_hash=digest, metrics=metrics, epoch=int(trainer.current_epoch), model_id=model_id,
                model_fn=self._fingerprint_fn(pl_module), step=int(trainer.global_step), checkpoint_path=path)
        self._finish(model_id)
