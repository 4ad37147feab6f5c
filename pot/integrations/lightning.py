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

Recording for replay (docs/REPLAY.md) is opt-in, with ``record_replay=True``. The training data must then say which
samples each batch holds: wrap the training dataset in :class:`IndexedDataset`, whose items are ``(index, sample)``,
so that the default collate gives batches ``[indices, samples]`` and the module's step unpacks them
(``indices, (x, y) = batch``). The callback then records, per step, the batch digest of the indices and the
samples' tensors, and writes a replay checkpoint file (weights, optimizer state, the learning-rate scheduler's
state if there is one, random generators; :func:`pot.replay.torch.save_checkpoint_async`, off the training thread)
before the first step and at the end of each epoch, recorded with its optimizer and RNG digests. A loader whose
dataset is not an IndexedDataset stops the fit before its first step: a batch digest without the sample indices
would not be one, and guessing them from the sampler would be a claim the callback cannot check. ::

    train = DataLoader(IndexedDataset(TensorDataset(x, y)), batch_size=100, shuffle=True)
    callback = ProvenanceCallback(model_id="digits-mlp", record_replay=True, replay_dir="checkpoints")

Works with ``lightning`` (``lightning.pytorch``) or the older ``pytorch_lightning`` package.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

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

from pot.errors import UsageError
from pot.integrations._common import CallbackCore, recordable_settings
from pot.integrations.torch import model_hash, scalar_metrics
from pot.log.canonical import HexDigest
from pot.recorder import ProvenanceRecorder

log = logging.getLogger("pot")

T = TypeVar("T")


class IndexedDataset(Generic[T]):
    """A map-style dataset whose items are ``(index, sample)``: the sample at ``index`` of ``dataset`` and that
    index, so that a batch carries the positions of its samples in the dataset (what a batch digest binds).

    With the default collate a batch is ``[indices, samples]``: ``indices`` an int64 vector in batch order,
    ``samples`` the collated samples (for a ``TensorDataset(x, y)``, ``[x, y]``).
    """

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[int, T]:
        return int(index), self.dataset[index]


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
        record_replay: bool = False,
        replay_dir: str | Path | None = None,
    ) -> None:
        Callback.__init__(self)
        CallbackCore.__init__(self, recorder, model_id, record_steps=record_steps, validator_id=validator_id,
                              proof_path=proof_path, run_config=run_config, parents=parents)
        if record_replay and not record_steps:
            raise UsageError("record_replay needs record_steps: a replay re-executes the recorded steps")
        self.record_replay = record_replay
        # where the replay checkpoint files go; default: "pot-replay" under the trainer's default_root_dir
        self.replay_dir = Path(replay_dir) if replay_dir is not None else None
        self._batch: HexDigest | None = None  # the digest of the batch the current step reads
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
        if self.record_replay and getattr(trainer, "accumulate_grad_batches", 1) != 1:
            # a recorded step is one batch and one optimizer step (docs/REPLAY.md); several batches per step are not
            raise UsageError("record_replay records one batch per optimizer step: accumulate_grad_batches must be 1")
        if self.record_replay and getattr(trainer, "ckpt_path", None):
            # Lightning restores the optimizer and the loops' counters after on_fit_start, where the first replay
            # checkpoint must be taken (see below): it would record a fresh optimizer at step 0 for resumed weights
            raise UsageError("record_replay cannot record a fit resumed from a checkpoint (ckpt_path): its starting "
                             "state is restored only after the point where the first replay checkpoint is taken")
        self._start_run(self._model_id(pl_module), recordable_settings(settings, level=0))
        if self.record_replay:
            # Where the first segment starts. Here, not in on_train_start: Lightning creates the first epoch's
            # training iterator (which draws the shuffle's seed from torch's generator) before on_train_start. What
            # runs in between, the sanity check, runs under Lightning's isolate_rng and leaves the generators as
            # they were here. The optimizers exist by now.
            self._replay_checkpoint(trainer, pl_module, "init.pt", epoch=0, metrics={})

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        if not (self.enabled and trainer.is_global_zero and self.record_replay):
            return
        loader = trainer.train_dataloader
        if not isinstance(getattr(loader, "dataset", None), IndexedDataset):
            raise UsageError("record_replay needs the training DataLoader's dataset wrapped in "
                             "pot.integrations.lightning.IndexedDataset, so that each batch says which samples it "
                             "holds")

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        if self.enabled and trainer.is_global_zero and self.record_replay:
            self._batch = replay_batch_digest(batch)  # before the step, as the step reads it

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if not (self.enabled and trainer.is_global_zero):
            return
        self._epoch = int(trainer.current_epoch)
        if not self.record_steps:
            return
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        metrics = scalar_metrics({"loss": loss}) if loss is not None else {}
        batch_digest, self._batch = self._batch, None
        self.recorder.record_step(int(trainer.global_step), metrics, self._model_id(pl_module),
                                  epoch=int(trainer.current_epoch), batch=batch_digest)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if not (self.enabled and trainer.is_global_zero):
            return
        epoch = self._epoch = int(trainer.current_epoch)  # the hook runs before Lightning counts the epoch done
        metrics = scalar_metrics({k: v for k, v in trainer.callback_metrics.items() if not k.startswith("val")})
        self._epoch_metrics[epoch] = metrics
        if self.record_replay:
            self._replay_checkpoint(trainer, pl_module, f"epoch-{epoch:03d}.pt", epoch=epoch, metrics=metrics)
            return
        self.recorder.record_training_checkpoint(
            model_hash=model_hash(pl_module), metrics=metrics, epoch=epoch,
            model_id=self._model_id(pl_module), model_fn=self._fingerprint_fn(pl_module),
            step=int(trainer.global_step))

    def _replay_checkpoint(self, trainer: Any, pl_module: Any, name: str, *, epoch: int,
                           metrics: Mapping[str, float]) -> None:
        """Write a replay checkpoint file (weights, optimizer, random generators) and record it with its digests."""
        from pot.replay.torch import save_checkpoint_async

        optimizers = list(trainer.optimizers)
        if len(optimizers) != 1:
            raise UsageError(f"record_replay records one optimizer's state, the module has {len(optimizers)}")
        schedulers = list(getattr(trainer, "lr_scheduler_configs", None) or [])
        if len(schedulers) > 1:
            raise UsageError(f"record_replay records one learning-rate scheduler's state, the module has "
                             f"{len(schedulers)}")
        if schedulers and schedulers[0].reduce_on_plateau:
            raise UsageError("record_replay cannot record a learning-rate scheduler stepped on validation metrics "
                             f"({type(schedulers[0].scheduler).__name__}): a replay does not validate")
        directory = self.replay_dir if self.replay_dir is not None else \
            Path(trainer.default_root_dir) / "pot-replay"
        directory.mkdir(parents=True, exist_ok=True)
        # the state is copied now; the file is written off the training thread and recorded in its place
        saved = save_checkpoint_async(directory / name, pl_module, optimizers[0],
                                      stores=[self.recorder.config.resolve_store()],
                                      scheduler=schedulers[0].scheduler if schedulers else None)
        self.recorder.record_training_checkpoint(
            metrics=metrics, epoch=epoch, model_id=self._model_id(pl_module),
            model_fn=self._fingerprint_fn(pl_module) if name != "init.pt" else None, step=int(trainer.global_step),
            **saved.record_fields())

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


def replay_batch_digest(batch: Any) -> HexDigest:
    """The batch digest (docs/REPLAY.md) of a batch ``[indices, samples]`` from an :class:`IndexedDataset`.

    The content tensors are named by their path in ``samples``: list and tuple positions in decimal, dictionary
    keys as they are, joined with ``/`` (``[x, y]`` gives ``0`` and ``1``; ``{"x": ..., "y": ...}`` gives ``x`` and
    ``y``); a single tensor is named ``sample``. Anything else in the samples (strings, say) cannot be digested.
    """
    import torch

    from pot.replay.torch import batch_digest

    if not isinstance(batch, list | tuple) or len(batch) != 2 or not isinstance(batch[0], torch.Tensor) or \
            batch[0].dim() != 1 or batch[0].dtype != torch.int64:
        raise UsageError("a batch recorded for replay is [indices, samples] with int64 indices, as an "
                         "IndexedDataset and the default collate give")
    tensors: dict[str, torch.Tensor] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, torch.Tensor):
            tensors[path or "sample"] = value
        elif isinstance(value, Mapping):
            for key, item in value.items():
                if "/" in str(key):  # it would name another path
                    raise UsageError(f"batch content key {key!r} contains '/', which separates the names' parts")
                walk(item, f"{path}/{key}" if path else str(key))
        elif isinstance(value, list | tuple):
            for position, item in enumerate(value):
                walk(item, f"{path}/{position}" if path else str(position))
        else:
            raise UsageError(f"batch content {path or 'sample'!r} is a {type(value).__name__}, not a tensor: a batch "
                             "digest holds tensors only")

    walk(batch[1], "")
    return batch_digest(batch[0], tensors)


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
