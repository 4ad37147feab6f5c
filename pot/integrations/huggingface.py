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

Recording for replay (docs/REPLAY.md) is opt-in, with ``record_replay=True``, and takes two more things: the
Trainer must be a :class:`ReplayTrainer` (or a Trainer class with :class:`ReplayTrainerMixin` first among its
bases), whose ``training_step`` digests each step's inputs before the step, since a ``TrainerCallback`` never sees
them; and the training dataset must be wrapped in :class:`IndexedDataset`, which adds each item's index under the
key ``pot_index`` (kept through the Trainer's column removal, and taken out of the inputs before the model sees
them). ::

    trainer = ReplayTrainer(model=model, args=args, train_dataset=IndexedDataset(train),
                            callbacks=[ProvenanceTrainerCallback(model_id="bert-digits", record_replay=True)])
    trainer.train()

The callback then records every training step once, with its epoch, its batch digest (the sample indices and the
input tensors by name, :func:`replay_batch_digest`) and the step's own ``loss`` and ``learning_rate`` (the rate
its optimizer step used); on a step where the Trainer logs, the logged values other than those two (the gradient
norm) join that step's record: the Trainer's logged ``loss`` is the mean over its logging window, which the
per-step losses already give. It also writes a replay checkpoint file (weights, optimizer state, learning-rate
scheduler state, random generators; :func:`pot.replay.torch.save_checkpoint_async`) when training begins and at the end
of each epoch, into ``replay_dir`` (default: ``pot-replay`` under the output directory), recorded with its
optimizer and RNG digests. A resumed training gets no file for its start, as the Trainer restores the generators
after ``on_train_begin``. A ReplayTrainer evaluates with the random generators saved and restored around
``evaluate``, so that evaluation draws nothing from training's random stream (a replay does not evaluate).

It refuses, with a one-line :class:`pot.errors.UsageError` that also ends the run as failed, what it cannot record
honestly, before the first step: a plain Trainer, a training dataset that is not an IndexedDataset, gradient
accumulation (a recorded step is one batch), an optimizer that does not hold every trainable parameter (a
layer-wise optimizer, several optimizers); and before the step whose batch it is, a batch without the indices or
with an input that is not a tensor. Several processes are refused on every process before a run is recorded (each
trains on batches the main process never sees), and so are fp16 training (its gradient scaler's state is not in the
file) and a scheduler stepped on evaluation metrics (ReduceLROnPlateau; a replay does not evaluate). Not recorded:
the generators of DataLoader worker processes. :class:`TrainerReplayProgram` makes the program ``pot replay
--entry`` needs from a ReplayTrainer built the way training built it.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import Trainer, TrainerCallback

from pot.errors import UsageError
from pot.integrations._common import CallbackCore, epoch_index, recordable_settings
from pot.integrations.torch import model_hash, scalar_metrics
from pot.log.canonical import HexDigest
from pot.recorder import ProvenanceRecorder

if TYPE_CHECKING:
    from pot.replay.torch import Batch

log = logging.getLogger("pot")

# The key under which an IndexedDataset item carries its index, through the collator, into training_step.
INDEX_KEY = "pot_index"

# Trainer log keys that describe the run rather than a step's training.
_SUMMARY_KEYS = ("train_runtime", "train_samples_per_second", "train_steps_per_second", "total_flos", "train_loss")
# The TrainingArguments that shape the trained weights, recorded as the run's configuration. Not all of them: the
# rest are paths, hub settings and logging choices, which a proof shown to strangers has no need to carry.
_TRAINING_SETTINGS = ("num_train_epochs", "max_steps", "per_device_train_batch_size", "gradient_accumulation_steps",
                      "learning_rate", "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon", "max_grad_norm",
                      "lr_scheduler_type", "warmup_ratio", "warmup_steps", "optim", "seed", "data_seed", "fp16",
                      "bf16", "label_smoothing_factor", "load_best_model_at_end", "metric_for_best_model")


def _training_settings(args: Any) -> dict[str, Any]:
    """The TrainingArguments that shape the weights, as the run's configuration records them."""
    settings = {name: getattr(args, name) for name in _TRAINING_SETTINGS if hasattr(args, name)}
    return {name: getattr(value, "value", value) for name, value in settings.items()}  # enums: their value


class IndexedDataset:
    """A map-style dataset whose items are those of ``dataset`` (dictionaries of the model's inputs by name) with
    the item's index added under ``"pot_index"`` (:data:`INDEX_KEY`), so that a batch carries the positions of its
    samples in the dataset, which a batch digest binds. The default collator makes the indices an int64 vector in
    batch order; a :class:`ReplayTrainer` keeps the key through its column removal and takes it out of the inputs
    before the model sees them.
    """

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.dataset[index]
        if not isinstance(item, Mapping):
            raise UsageError(f"an IndexedDataset's items are dictionaries of the model's inputs by name, item {index} "
                             f"is a {type(item).__name__}")
        if INDEX_KEY in item:
            raise UsageError(f"item {index} already has a {INDEX_KEY!r} key, which IndexedDataset reserves")
        return {**item, INDEX_KEY: int(index)}


def _split_batch(inputs: Any) -> tuple[Any, dict[str, Any]]:
    """(sample indices, input tensors by name) of a Trainer batch from an IndexedDataset; a one-line UsageError for
    a batch whose indices are missing or whose inputs are not all tensors (a batch digest holds tensors only)."""
    import torch

    indices = inputs.get(INDEX_KEY) if isinstance(inputs, Mapping) else None
    if not isinstance(indices, torch.Tensor) or indices.dim() != 1 or indices.dtype != torch.int64:
        found = "none" if indices is None else f"a {type(indices).__name__}" if not isinstance(indices, torch.Tensor) \
            else f"{str(indices.dtype).removeprefix('torch.')} of shape {list(indices.shape)}"
        raise UsageError(f"a batch recorded for replay carries its samples' indices under {INDEX_KEY!r} as an int64 "
                         f"vector, as an IndexedDataset and the default collator give; this batch has {found}")
    tensors: dict[str, Any] = {}
    for name, value in inputs.items():
        if name == INDEX_KEY:
            continue
        if not isinstance(value, torch.Tensor):
            raise UsageError(f"batch input {name!r} is a {type(value).__name__}, not a tensor: a batch digest holds "
                             "tensors only")
        tensors[str(name)] = value
    return indices, tensors


def replay_batch_digest(inputs: Mapping[str, Any]) -> HexDigest:
    """The batch digest (docs/REPLAY.md §2) of a Trainer batch from an :class:`IndexedDataset`: its ``pot_index``
    as the sample indices and every other input, each a tensor, under its name (``input_ids``, ``labels``, ...)."""
    from pot.replay.torch import batch_digest

    return batch_digest(*_split_batch(inputs))


def _without_index(inputs: Any) -> Any:
    if isinstance(inputs, Mapping) and INDEX_KEY in inputs:
        return {name: value for name, value in inputs.items() if name != INDEX_KEY}
    return inputs


if TYPE_CHECKING:
    _TrainerBase = Trainer
else:
    _TrainerBase = object


class ReplayTrainerMixin(_TrainerBase):
    """What a Trainer needs so that a :class:`ProvenanceTrainerCallback` can record its run for replay. Put it first
    among a Trainer class's bases (``class MyTrainer(ReplayTrainerMixin, MyBaseTrainer)``), or use
    :class:`ReplayTrainer`.

    - ``training_step`` digests the step's inputs before the step (:func:`replay_batch_digest`) and hands the
      digest, the step's loss and its learning rate to the recording callback; it takes ``pot_index`` out of the
      inputs first, recording or not, so the model never sees it;
    - the Trainer's column removal keeps ``pot_index`` (it is added to the signature columns);
    - ``evaluate`` runs with the random generators saved before and restored after, so that evaluation, which a
      replay does not run, draws nothing from training's random stream;
    - ``prediction_step`` takes ``pot_index`` out too, for an evaluation set that is an IndexedDataset.
    """

    def train(self, *args: Any, **kwargs: Any) -> Any:
        mine = [c for c in self.callback_handler.callbacks if isinstance(c, ProvenanceTrainerCallback)]
        for callback in mine:
            callback._trainer = self
        try:
            return super().train(*args, **kwargs)
        finally:
            for callback in mine:
                callback._trainer, callback._recording = None, False

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        columns = self._signature_columns
        if columns is not None and INDEX_KEY not in columns:
            columns.append(INDEX_KEY)

    def _recording_callback(self) -> ProvenanceTrainerCallback | None:
        for callback in self.callback_handler.callbacks:
            if isinstance(callback, ProvenanceTrainerCallback) and callback._recording and callback._trainer is self:
                return callback
        return None

    def training_step(self, model: Any, inputs: Any, num_items_in_batch: Any = None) -> Any:
        recording = self._recording_callback()
        if recording is not None:
            try:
                digest = replay_batch_digest(inputs)
            except UsageError as exc:  # before the step: nothing was trained on a batch that cannot be recorded
                recording._fail(exc)
                raise
            optimizer = self.optimizer  # the rate this step's update uses (the scheduler steps after it)
            learning_rate = float(optimizer.param_groups[0]["lr"]) if optimizer is not None else math.nan
        loss = super().training_step(model, _without_index(inputs), num_items_in_batch)
        if recording is not None:
            recording._step_read = (digest, {"loss": float(loss), "learning_rate": learning_rate})
        return loss

    def prediction_step(self, model: Any, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        return super().prediction_step(model, _without_index(inputs), *args, **kwargs)

    def evaluate(self, *args: Any, **kwargs: Any) -> Any:
        from pot.replay.torch import rng_state, set_rng_state

        saved = rng_state()
        try:
            return super().evaluate(*args, **kwargs)
        finally:
            set_rng_state(saved)


class ReplayTrainer(ReplayTrainerMixin, Trainer):
    """A ``transformers.Trainer`` with :class:`ReplayTrainerMixin`: what ``record_replay=True`` trains with."""


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
        if record_replay and not record_steps:
            raise UsageError("record_replay needs record_steps: a replay re-executes the recorded steps")
        self.record_replay = record_replay
        self.replay_dir = Path(replay_dir) if replay_dir is not None else None
        self._last_logs: dict[str, float] = {}
        # checkpoint directory -> (epoch, step, metrics) of the weights saved there
        self._saved: dict[str, tuple[int, int, dict[str, float]]] = {}
        # Recording for replay: the ReplayTrainer training with this callback (its train() sets it), whether this
        # training is being recorded for replay (from a checked on_train_begin to on_train_end), the batch digest
        # and values of the step running now (handed over by the trainer's training_step), and a finished step
        # (step, epoch, values, digest) held until the Trainer has logged it, so that its logged values join it.
        self._trainer: Any = None
        self._recording = False
        self._step_read: tuple[HexDigest, dict[str, float]] | None = None
        self._pending: tuple[int, int, dict[str, float], HexDigest] | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if not self.enabled or model is None:
            return
        if self.record_replay and int(args.world_size) > 1:
            # on every process, before anything is recorded, so that none waits for another in vain
            raise UsageError(f"record_replay records one process's batches, and this training runs on "
                             f"{args.world_size}: each trains on batches the main process never sees")
        if not state.is_world_process_zero:
            return
        settings = _training_settings(args)
        if self.record_replay:
            import torch

            # the data order's seed: accelerate's seedable sampler shuffles each epoch from this seed plus the epoch
            # (the Trainer's seed, unless the generator was reseeded before the loader was built); and the intra-op
            # threads, which decide how CPU reductions are split (a replay uses as many)
            settings["sampler_seed"] = _sampler_seed(kwargs.get("train_dataloader"))
            settings["threads"] = torch.get_num_threads()
        self._start_run(self._model_id(model), recordable_settings({"framework": "transformers", **settings},
                                                                   level=0))
        if not self.record_replay:
            return
        try:
            self._check_replayable(args, model, kwargs.get("optimizer"), kwargs.get("lr_scheduler"))
        except UsageError as exc:
            self._fail(exc)
            raise
        self._recording = True
        self._step_read = self._pending = None
        if int(state.global_step) == 0:
            # the optimizer and the scheduler exist by now; the first epoch's iterator does not yet
            self._replay_checkpoint(args, state, model, kwargs, "init.pt", metrics={})
        else:
            # A resumed training: the Trainer restores the generators from its checkpoint only when the epoch
            # starts, after this hook, so a file written here would not hold the state training goes on from.
            log.warning("record_replay: training resumes at step %d; no replay checkpoint is recorded for its start "
                        "(the Trainer restores the random generators after on_train_begin), the first is at the "
                        "end of this epoch", int(state.global_step))

    def _check_replayable(self, args: Any, model: Any, optimizer: Any, scheduler: Any) -> None:
        """Refuse, before the first step, a training whose steps cannot be recorded for replay honestly."""
        import torch
        from transformers.optimization import GreedyLR

        if self._trainer is None:
            raise UsageError("record_replay needs a Trainer that digests each step's inputs, which a TrainerCallback "
                             "never sees: train with pot.integrations.huggingface.ReplayTrainer (or a Trainer class "
                             "with ReplayTrainerMixin first among its bases)")
        if int(args.gradient_accumulation_steps) != 1:
            raise UsageError("record_replay records one batch per optimizer step: gradient_accumulation_steps must "
                             f"be 1, not {args.gradient_accumulation_steps}")
        if not isinstance(self._trainer.train_dataset, IndexedDataset):
            raise UsageError("record_replay needs the training dataset wrapped in "
                             "pot.integrations.huggingface.IndexedDataset, so that each batch says which samples it "
                             "holds")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise UsageError("record_replay needs the Trainer's torch optimizer, and the callback was given none")
        if getattr(args, "fp16", False) or getattr(getattr(self._trainer, "accelerator", None), "scaler", None):
            # the loss scale changes from step to step and skips steps whose gradients overflow; it is not in the
            # checkpoint file, so a replay would not start where training did
            raise UsageError("record_replay cannot record fp16 training: its gradient scaler's state is not in the "
                             "replay checkpoint file (bf16, which needs no scaler, can be recorded)")
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau | GreedyLR):
            raise UsageError("record_replay cannot record a training whose learning-rate scheduler steps on evaluation "
                             f"metrics ({type(scheduler).__name__}): a replay does not evaluate")
        held = {id(p) for group in optimizer.param_groups for p in group["params"]}
        missing = [name for name, p in model.named_parameters() if p.requires_grad and id(p) not in held]
        if missing:
            raise UsageError(f"record_replay records one optimizer's state, and {len(missing)} trainable "
                             f"parameter(s) of the model ({missing[0]}, ...) are not in the Trainer's optimizer: a "
                             "layer-wise optimizer, or more than one optimizer, updates them")

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._recording:
            self._record_pending()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not self._recording:
            return
        read, self._step_read = self._step_read, None
        if read is None:
            error = UsageError(f"record_replay: step {state.global_step} ran without its inputs being digested (a "
                               "training_step that does not call ReplayTrainerMixin's)")
            self._fail(error)
            raise error
        digest, values = read
        self._pending = (int(state.global_step), epoch_index(state.epoch), values, digest)

    def _record_pending(self) -> None:
        """Record the step held for its logged values (before anything recorded after it)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            step, epoch, values, digest = pending
            self.recorder.record_step(step, values, self._model_id(None), epoch=epoch, batch=digest)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, model: Any = None,
               **kwargs: Any) -> None:
        if not (self.enabled and state.is_world_process_zero) or not logs or "loss" not in logs or model is None:
            return
        values = scalar_metrics({k: v for k, v in logs.items() if k not in _SUMMARY_KEYS and k != "epoch"})
        self._last_logs = values
        if self._recording:
            # Each step is recorded once, with its own loss and rate: what the Trainer logs beside them (the
            # gradient norm) joins the step it was logged at; its logged loss is a mean over the logging window.
            if self._pending is not None and self._pending[0] == int(state.global_step):
                self._pending[2].update({k: v for k, v in values.items() if k not in ("loss", "learning_rate")})
            return
        if self.record_steps:
            self.recorder.record_step(int(state.global_step), values, self._model_id(model),
                                      epoch=epoch_index(state.epoch))

    def on_epoch_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if not (self.enabled and state.is_world_process_zero) or model is None:
            return
        if self.record_replay:
            if not self._recording:  # refused, or a training this callback did not start recording
                return
            self._record_pending()
            epoch = epoch_index(state.epoch)
            self._replay_checkpoint(args, state, model, kwargs, f"epoch-{epoch:03d}.pt", metrics=self._last_logs)
            return
        self.recorder.record_training_checkpoint(
            model_hash=model_hash(model), metrics=self._last_logs, epoch=epoch_index(state.epoch),
            model_id=self._model_id(model), model_fn=self._fingerprint_fn(model), step=int(state.global_step))

    def _replay_checkpoint(self, args: Any, state: Any, model: Any, hooks: Mapping[str, Any], name: str, *,
                           metrics: Mapping[str, float]) -> None:
        """Write a replay checkpoint file (weights, optimizer, learning-rate scheduler, random generators) and
        record it with its digests."""
        import torch

        from pot.replay.torch import save_checkpoint_async

        optimizer = hooks.get("optimizer")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise UsageError("record_replay needs the Trainer's torch optimizer, and the callback was given none")
        directory = self.replay_dir if self.replay_dir is not None else Path(args.output_dir) / "pot-replay"
        directory.mkdir(parents=True, exist_ok=True)
        # the state is copied now; the file is written off the training thread and recorded in its place
        saved = save_checkpoint_async(directory / name, model, optimizer,
                                      stores=[self.recorder.config.resolve_store()],
                                      scheduler=hooks.get("lr_scheduler"))
        self.recorder.record_training_checkpoint(
            metrics=metrics, epoch=epoch_index(state.epoch), model_id=self._model_id(model),
            model_fn=self._fingerprint_fn(model) if name != "init.pt" else None, step=int(state.global_step),
            **saved.record_fields())

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict[str, Any] | None = None,
                    model: Any = None, **kwargs: Any) -> None:
        if not (self.enabled and state.is_world_process_zero) or model is None or not metrics:
            return
        if self._recording:
            self._record_pending()
        results: dict[str, Any] = dict(scalar_metrics(metrics))
        results["global_step"] = int(state.global_step)
        self.recorder.record_validation(model_hash=model_hash(model), validator_id=self.validator_id,
                                        validation_result=results, model_id=self._model_id(model))

    def on_save(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if not (self.enabled and state.is_world_process_zero) or model is None:
            return
        if self._recording:
            self._record_pending()
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
        if self._recording:
            self._record_pending()
            self._recording = False
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


def _seedable_sampler(loader: Any) -> Any:
    """The accelerate SeedableRandomSampler a prepared train loader draws its order from, or None."""
    from accelerate.data_loader import SeedableRandomSampler

    batch_sampler = getattr(loader, "batch_sampler", None)
    for sampler in (getattr(batch_sampler, "sampler", None),
                    getattr(getattr(batch_sampler, "batch_sampler", None), "sampler", None)):
        if isinstance(sampler, SeedableRandomSampler):
            return sampler
    return None


def _sampler_seed(loader: Any) -> int | None:
    sampler = _seedable_sampler(loader)
    return None if sampler is None else int(sampler.initial_seed)


class TrainerReplayProgram:
    """The replay program (:class:`pot.replay.torch.ReplayProgram`) of a run a :class:`ReplayTrainer` recorded, for
    ``pot replay --entry``: give it a fresh ReplayTrainer built as training built it (model, arguments from the
    run's recorded configuration, the same IndexedDataset, collator and optimizer choice) and the recorded
    configuration. The entry point might read::

        def replay_program(config):
            args = TrainingArguments(output_dir="replay", learning_rate=config["learning_rate"], seed=config["seed"],
                                     num_train_epochs=config["num_train_epochs"], ..., use_cpu=True, report_to=[])
            trainer = ReplayTrainer(model=build_model(config["seed"]), args=args, train_dataset=IndexedDataset(data))
            return TrainerReplayProgram(trainer, config)

    It makes the optimizer and the learning-rate scheduler as ``Trainer.train`` does (the optimizer through the
    Trainer's accelerator, the scheduler over the run's ``max_steps``), draws an epoch's batches from the Trainer's
    own train loader after ``set_epoch(epoch)``, as the Trainer does (accelerate's seedable sampler shuffles from its
    seed plus the epoch; the seed is set to the run's recorded ``sampler_seed``, and torch's intra-op threads to
    the recorded ``threads``), and runs a step as the Trainer
    does: ``training_step`` (forward, loss with the batch's item count, backward), gradient clipping to
    ``max_grad_norm`` (with no limit when it is 0, as the Trainer still computes the norm), the optimizer's step,
    the scheduler's step, and ``zero_grad``. Given ``config``, it refuses (UsageError) arguments that differ from
    the ones the run recorded, and a scheduler that the Trainer steps on evaluation (ReduceLROnPlateau), which a
    replay does not run.
    """

    def __init__(self, trainer: Any, config: Mapping[str, Any] | None = None) -> None:
        import torch
        from transformers.optimization import GreedyLR

        if not isinstance(trainer, ReplayTrainerMixin):
            raise UsageError("a replay program needs the run's ReplayTrainer (its column removal keeps the sample "
                             "indices)")
        args = trainer.args
        if config is not None:
            recorded = recordable_settings(_training_settings(args), level=0)
            for name, value in recorded.items():
                if name in config and config[name] != value:
                    raise UsageError(f"the replay's Trainer has {name}={value!r} where the run recorded "
                                     f"{config[name]!r}: build its TrainingArguments from the recorded configuration")
        if int(args.gradient_accumulation_steps) != 1:
            raise UsageError("a replay program runs one batch per optimizer step: gradient_accumulation_steps must "
                             "be 1")
        if config is not None and isinstance(config.get("threads"), int):
            torch.set_num_threads(config["threads"])  # the same reduction order as training (docs/REPLAY.md §4)
        self.trainer = trainer
        self.loader = trainer.get_train_dataloader()
        sampler = _seedable_sampler(self.loader)
        seed = None if config is None else config.get("sampler_seed")
        if sampler is not None and seed is not None:
            sampler.initial_seed = int(seed)
        max_steps = trainer.set_initial_training_values(args, self.loader)[-1]
        # as Trainer.train prepares them: the optimizer through the accelerator, then the scheduler on it
        if trainer.model is None:
            raise UsageError("a replay program needs the Trainer's model (one from model_init is made only by train)")
        optimizer = trainer.create_optimizer()
        self.model: torch.nn.Module = trainer.model
        self._wrapped, self.optimizer = trainer.accelerator.prepare(trainer.model, optimizer)
        trainer.optimizer = self.optimizer
        self.scheduler = trainer.create_scheduler(num_training_steps=max_steps)
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau | GreedyLR):
            raise UsageError("the Trainer steps this learning-rate scheduler on evaluation metrics, and a replay "
                             f"does not evaluate: a {type(self.scheduler).__name__} run cannot be replayed")
        trainer.current_gradient_accumulation_steps = 1  # set per update by Trainer.train; one batch each here

    def batches(self, epoch: int) -> Iterator[Batch]:
        from pot.replay.torch import Batch

        loader = self.loader
        # as the Trainer's epoch loop does before it iterates
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(epoch)
        underlying = getattr(getattr(loader, "batch_sampler", None), "batch_sampler", None)
        set_epoch = getattr(underlying, "set_epoch", None)
        if set_epoch is not None:
            set_epoch(epoch)
        for inputs in loader:
            indices, tensors = _split_batch(inputs)
            yield Batch(indices, **tensors)

    def step(self, batch: Batch) -> Any:
        trainer = self.trainer
        inputs = dict(batch.tensors)
        _, items = trainer.get_batch_samples(iter([inputs]), 1, trainer.args.device)  # the loss's item count
        loss = trainer.training_step(self._wrapped, inputs, items)
        limit = float(trainer.args.max_grad_norm)
        trainer.accelerator.clip_grad_norm_(self._wrapped.parameters(), limit if limit > 0 else math.inf)
        self.optimizer.step()
        if not trainer.accelerator.optimizer_step_was_skipped:
            self.scheduler.step()
        self._wrapped.zero_grad()
        return loss


def _saved_state(directory: str) -> tuple[int, int, dict[str, float]] | None:
    """(epoch, step, no metrics) of a checkpoint directory another process saved (a resumed training's best), from
    the ``trainer_state.json`` the Trainer writes into it; None when that cannot be read."""
    try:
        state = json.loads((Path(directory) / "trainer_state.json").read_text(encoding="utf-8"))
        return epoch_index(float(state["epoch"])), int(state["global_step"]), {}
    except (OSError, ValueError, KeyError, TypeError):
        return None
