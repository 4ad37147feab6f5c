"""Recording for replay and re-executing recorded segments, for PyTorch training.

Recording (opt-in: a training loop that wants replay does these three things)::

    from pot.replay.torch import Batch, save_checkpoint

    for batch in program.batches(epoch):                  # a Batch: sample indices and the tensors a step reads
        loss = program.step(batch)
        recorder.record_step(step, {"loss": loss}, model_id, epoch=epoch, batch=batch.digest())
    saved = save_checkpoint(directory / f"epoch-{epoch:03d}.pt", model, optimizer)   # weights, optimizer, RNGs
    recorder.record_training_checkpoint(metrics=..., epoch=epoch, model_id=model_id, step=step,
                                        **saved.record_fields())

:func:`save_checkpoint_async` does the same with the file written off the training thread (the state is copied
at the call); the recorder appends the checkpoint record in its place once the file's digests are known.

Replaying (what ``pot replay`` runs): :func:`replay_proof` takes a verified proof, the directory of its checkpoint
files and a *program*, the training script's own code for one step (:class:`ReplayProgram`), and re-executes the
chosen segments, checking every batch digest on the way and the end weights against the recorded digest.

Bit-exact replay needs the same computation in the same order: CPU execution, ``torch.use_deterministic_algorithms
(True)`` (set here while replaying), the same number of intra-op threads as training (the program sets it from the
run's configuration) and the same PyTorch build. Anything else (a GPU, another BLAS, another thread count) can round
differently; then only a distance within a stated tolerance can be asked for (docs/REPLAY.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from pot._internal import files
from pot.errors import ReplayError, UsageError
from pot.hashing import hash_buffers
from pot.integrations.torch import hash_model, tensor_dtype, unwrap
from pot.log.canonical import HexDigest
from pot.replay import checkpoint as checkpoint_file
from pot.replay.digests import INDICES, TensorItem, batch_digest_of, model_digest_of, state_digest_of
from pot.replay.segments import Checkpoint, ReplayPlan, Segment

__all__ = ["Batch", "PendingCheckpoint", "ReplayProgram", "ReplayReport", "SavedCheckpoint", "SegmentResult",
           "batch_digest", "choose_segments", "load_checkpoint", "optimizer_digest", "read_state", "replay_segments",
           "rng_digest", "rng_state", "save_checkpoint", "save_checkpoint_async", "set_rng_state", "state_digest",
           "write_state"]

CHECKPOINT_FORMAT = "pot.replay-checkpoint.v1"


# --- digests of torch values -------------------------------------------------------------------------------------


def _item(name: str, tensor: torch.Tensor) -> TensorItem:
    """A tensor as the format hashes it: its bytes in C order, little-endian (a CPU copy when it must be one)."""
    kind = _NUMPY_VIEWABLE.get(tensor.dtype)
    if kind is not None and tensor.__class__ is torch.Tensor and not _BIG_ENDIAN:
        # a batch, every step: numpy's view of a CPU tensor's memory is what the format hashes. numpy() refuses
        # what it cannot view (a tensor that needs grad, on another device, with its negative bit set), and a
        # strided view is not C-contiguous: those take the general path below
        try:
            array = tensor.numpy()
        except (RuntimeError, TypeError):
            array = None
        if array is not None and array.flags.c_contiguous:
            return name, kind, array.shape, array
    data = tensor.detach()
    if data.device.type != "cpu" or not data.is_contiguous() or data.is_conj() or data.is_neg():
        data = data.resolve_conj().resolve_neg().contiguous().cpu()
    if not torch.is_tensor(data) or data.layout != torch.strided:
        raise UsageError(f"tensor {name!r} is not a dense tensor")
    raw = data.reshape(-1).view(torch.uint8) if data.numel() else torch.empty(0, dtype=torch.uint8)
    if _BIG_ENDIAN and data.element_size() > 1:  # the format hashes little-endian scalars
        raise UsageError("batch and state digests are computed on little-endian machines only")
    return name, tensor_dtype(data), tuple(data.shape), raw.numpy() if raw.numel() else b""


_NUMPY_VIEWABLE = {torch.float32: "float32", torch.float64: "float64", torch.float16: "float16",
                   torch.int64: "int64", torch.int32: "int32", torch.int16: "int16", torch.int8: "int8",
                   torch.uint8: "uint8", torch.bool: "bool"}
_BIG_ENDIAN = sys.byteorder == "big"


def batch_digest(indices: torch.Tensor, tensors: Mapping[str, torch.Tensor]) -> HexDigest:
    """The batch digest of one step (docs/REPLAY.md): the samples' indices as int64 and the tensors it read."""
    # The hot path, every step: plain CPU tensors numpy can view, C-contiguous, in a layout seen before (the same
    # names, dtypes and shapes: a training loop's batches), whose manifest entries are remembered around the
    # sha256s. Anything else takes the general path below, which decides and words any refusal; tests compare.
    try:
        arrays = [indices.numpy(), *[tensor.numpy() for tensor in tensors.values()]]
    except (RuntimeError, TypeError, AttributeError):
        arrays = None
    if arrays is not None and not _BIG_ENDIAN:
        key = (tuple(tensors), *[(array.dtype.str, array.shape) for array in arrays])
        layout = _BATCH_LAYOUTS.get(key)
        if layout is None:
            layout = _batch_layout(key, arrays, tensors)
        if layout and all(array.flags.c_contiguous for array in arrays):
            return _batch_fast(layout, arrays)
    if indices.dim() != 1:
        raise UsageError(f"a batch's indices are a vector, got shape {list(indices.shape)}")
    return batch_digest_of(_item(INDICES, indices.to(torch.int64)),
                           (_item(name, tensor) for name, tensor in tensors.items()))


_BATCH_LAYOUTS: dict[tuple[Any, ...], tuple[list[int], list[str]] | None] = {}


def _batch_layout(key: tuple[Any, ...], arrays: list[Any], tensors: Mapping[str, torch.Tensor]
                  ) -> tuple[list[int], list[str]] | None:
    """For a batch layout first seen: the order in which its arrays' sha256s go into the manifest and the text
    around them, from the general path's own manifest (so the two cannot differ), or None to take the general path
    for this layout (a refusal, a name that needs escaping, an empty tensor)."""
    names = [INDICES, *tensors]
    if len(_BATCH_LAYOUTS) >= 1024 or any(not array.size for array in arrays):
        return None
    try:
        items = [(name, tensor_dtype(torch.from_numpy(array)), array.shape, array)
                 for name, array in zip(names, arrays, strict=True)]
        if items[0][1] != "int64" or len(items[0][2]) != 1:
            return None
        manifest = hash_buffers(items, workers=1).manifest
    except (UsageError, TypeError, ValueError):
        return None
    from pot.log.canonical import canonical_json

    digest_of = {name: hashlib.sha256(array).hexdigest() for name, array in zip(names, arrays, strict=True)}
    text = canonical_json({"format": "pot.model-hash.v1", "tensors": [entry.to_json() for entry in manifest]}
                          ).decode("ascii")
    order, texts, at = [], [], 0
    for entry in manifest:
        found = text.index(digest_of[entry.name], at)
        texts.append(text[at:found])
        order.append(names.index(entry.name))
        at = found + 64
    texts.append(text[at:])
    layout = (order, texts)
    if _batch_fast(layout, arrays) != hash_buffers(items, workers=1).digest:
        return None  # cannot happen for the names the layout allows; if it did, the general path decides
    _BATCH_LAYOUTS[key] = layout
    return layout


def _batch_fast(layout: tuple[list[int], list[str]], arrays: list[Any]) -> HexDigest:
    order, texts = layout
    manifest = [texts[0]]
    for index, text in zip(order, texts[1:], strict=False):
        manifest += (hashlib.sha256(arrays[index]).hexdigest(), text)
    return HexDigest(hashlib.sha256("".join(manifest).encode("ascii")).hexdigest())


class Batch:
    """One step's batch: which samples (``indices``, positions in the dataset) and the tensors the step reads."""

    __slots__ = ("indices", "tensors")

    def __init__(self, indices: torch.Tensor, **tensors: torch.Tensor) -> None:
        self.indices = indices
        self.tensors = tensors

    def digest(self) -> HexDigest:
        return batch_digest(self.indices, self.tensors)


def _flatten(value: Any, path: str, tensors: list[TensorItem], values: dict[str, Any]) -> None:
    if value.__class__ in _LEAVES:  # the common leaves first: a number, a string
        values[path] = value
    elif isinstance(value, torch.Tensor):
        tensors.append(_item(path, value))
    elif isinstance(value, Mapping) and value:
        keys = [str(key) for key in value]
        if len(set(keys)) != len(keys) or any("/" in key for key in keys):
            raise UsageError(f"state at {path or '/'!r} has keys a path cannot name apart")
        for key, item in value.items():
            _flatten(item, f"{path}/{key}" if path else str(key), tensors, values)
    elif isinstance(value, list | tuple) and value:
        for index, item in enumerate(value):
            _flatten(item, f"{path}/{index}" if path else str(index), tensors, values)
    else:
        values[path] = value


_LEAVES = frozenset({int, float, str, bool, type(None)})


def state_digest(state: Any) -> HexDigest:
    """The ``pot.state-hash.v1`` digest of a nested state (dicts, lists, tuples, tensors and JSON scalars)."""
    tensors: list[TensorItem] = []
    values: dict[str, Any] = {}
    _flatten(state, "", tensors, values)
    return state_digest_of(tensors, values)


def optimizer_digest(optimizer: torch.optim.Optimizer) -> HexDigest:
    """The state digest of an optimizer's ``state_dict()`` (moments, step counts and hyperparameters)."""
    return state_digest(optimizer.state_dict())


def rng_state() -> dict[str, Any]:
    """The random generators a training step may draw from, in the form a checkpoint keeps and the digest names:
    torch's CPU generator, Python's ``random`` and, when numpy is loaded, numpy's global generator."""
    return _rng_form(_rng_taken())


def _rng_taken() -> tuple[Any, ...]:
    """The generators' states as their libraries give them (copies): quick, for the training thread."""
    numpy = sys.modules.get("numpy")
    cuda = list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() and \
        torch.cuda.is_initialized() else None  # type: ignore[no-untyped-call]
    return (torch.get_rng_state(), random.getstate(), numpy.random.get_state() if numpy is not None else None,
            cuda)


def _numpy() -> Any:
    import numpy  # torch's CPU build needs it: it is there

    return numpy


def _rng_form(taken: tuple[Any, ...]) -> dict[str, Any]:
    """What :func:`_rng_taken` took, in the form :func:`rng_state` documents."""
    torch_state, (version, internal, gauss), numpy_state, cuda = taken
    words = torch.from_numpy(_numpy().fromiter(internal, dtype="int64", count=len(internal)))
    state: dict[str, Any] = {"torch": torch_state, "python": [version, words, gauss]}
    if numpy_state is not None:
        name, keys, position, has_gauss, cached = numpy_state
        state["numpy"] = [str(name), torch.from_numpy(keys.astype("int64")), int(position), int(has_gauss),
                          float(cached)]
    if cuda is not None:
        state["cuda"] = cuda
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(int(x) for x in internal.tolist()), gauss))
    if "numpy" in state:
        import numpy

        name, keys, position, has_gauss, cached = state["numpy"]
        numpy.random.set_state((name, keys.numpy().astype("uint32"), position, has_gauss, cached))
    if "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


def rng_digest(state: Mapping[str, Any] | None = None) -> HexDigest:
    """The state digest of the random generators' state (now, or as captured by :func:`rng_state`)."""
    return state_digest(rng_state() if state is None else state)


# --- checkpoint files ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SavedCheckpoint:
    """A checkpoint file written for replay, and the digests to record with it."""

    path: Path
    model_hash: HexDigest
    optimizer_hash: HexDigest
    rng_hash: HexDigest
    file_sha256: HexDigest

    def record_fields(self) -> dict[str, Any]:
        """Keyword arguments for :meth:`pot.ProvenanceRecorder.record_training_checkpoint`."""
        return {"model_hash": self.model_hash, "checkpoint_path": self.path, "optimizer_hash": self.optimizer_hash,
                "rng_hash": self.rng_hash, "checkpoint_sha256": self.file_sha256}


def save_checkpoint(path: str | os.PathLike[str], model: torch.nn.Module, optimizer: torch.optim.Optimizer, *,
                    stores: Iterable[Path | str] = (), scheduler: Any = None) -> SavedCheckpoint:
    """Write what a replay starts from (weights, optimizer state, RNG states) to ``path``, whole or not at all.

    ``scheduler``: a learning-rate scheduler whose ``state_dict()`` the file then holds under ``"scheduler"`` (bound
    by the file's SHA-256 in the log; no digest of its own)."""
    target = files.check_output(Path(path), stores=stores)
    return _save(target, Path(path), model.state_dict(), optimizer.state_dict(), _rng_taken(), _model_digest(model),
                 None if scheduler is None else scheduler.state_dict())


class PendingCheckpoint:
    """A replay checkpoint being written in the background (:func:`save_checkpoint_async`)."""

    __slots__ = ("_future", "_parts", "path")

    def __init__(self, path: Path, future: Future[SavedCheckpoint]) -> None:
        self.path, self._future = path, future
        # one future per digest, for record_training_checkpoint, which defers the record until they are known
        self._parts: dict[str, Future[str]] = {name: Future() for name in _DIGESTS}
        future.add_done_callback(self._settle)

    def _settle(self, future: Future[SavedCheckpoint]) -> None:
        error = future.exception()
        for name, part in self._parts.items():
            if error is not None:
                part.set_exception(error)
            else:
                part.set_result(getattr(future.result(), name))

    def done(self) -> bool:
        return self._future.done()

    def result(self, timeout: float | None = None) -> SavedCheckpoint:
        """The written checkpoint (waiting for it); raises what writing it raised."""
        return self._future.result(timeout)

    def record_fields(self) -> dict[str, Any]:
        """Keyword arguments for :meth:`pot.ProvenanceRecorder.record_training_checkpoint`, which records the
        checkpoint in its place in the log once the file is written and its digests are known."""
        parts = self._parts
        return {"model_hash": parts["model_hash"], "checkpoint_path": self.path,
                "optimizer_hash": parts["optimizer_hash"], "rng_hash": parts["rng_hash"],
                "checkpoint_sha256": parts["file_sha256"]}


_DIGESTS = ("model_hash", "optimizer_hash", "rng_hash", "file_sha256")
_writer: ThreadPoolExecutor | None = None
_writer_lock = threading.Lock()


def save_checkpoint_async(path: str | os.PathLike[str], model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                          *, stores: Iterable[Path | str] = (), scheduler: Any = None) -> PendingCheckpoint:
    """:func:`save_checkpoint` off the training thread: the state is copied now (weights, optimizer state, RNG
    states, on the CPU), and the file is written and the digests computed on a background thread, one file after
    another in call order. Training may go on changing the model at once.

    Pass ``**pending.record_fields()`` to :meth:`pot.ProvenanceRecorder.record_training_checkpoint`: the record
    keeps its place in the log and is appended once the digests are known. ``pending.result()`` waits for the file
    and raises what writing it raised. The file is as :func:`save_checkpoint` writes it, byte for byte
    (``scheduler`` too).
    """
    global _writer
    if not Path(path).parent.is_dir():  # the common mistake, said now; the rest of check_output's checks run with
        raise UsageError(f"cannot write checkpoint {path}: no directory {Path(path).parent}")  # the write
    weights = _snapshot(model.state_dict())
    # the weights' digest is computed from the copy when it is the model's own state dict (not a wrapper's, whose
    # names differ), else here, from the model
    model_hash = None if unwrap(model) is model else _model_digest(model)
    taken = (_snapshot(optimizer.state_dict()), _rng_taken())
    scheduled = None if scheduler is None else _snapshot(scheduler.state_dict())
    with _writer_lock:
        if _writer is None:
            _writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pot-replay-writer")
        future = _writer.submit(_checked_save, Path(path), tuple(stores), weights, *taken, model_hash, scheduled)
    return PendingCheckpoint(Path(path), future)


def _checked_save(path: Path, stores: tuple[Path | str, ...], weights: Mapping[str, Any],
                  optimizer: Mapping[str, Any], taken: tuple[Any, ...], model_hash: HexDigest | None,
                  scheduler: Mapping[str, Any] | None) -> SavedCheckpoint:
    return _save(files.check_output(path, stores=stores), path, weights, optimizer, taken, model_hash, scheduler)


def _snapshot(value: Any) -> Any:
    """A copy of a nested state whose tensors are copied to the CPU: what the training thread no longer changes."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, Mapping):
        return {key: _snapshot(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_snapshot(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_snapshot(item) for item in value)
    return value


def _save(target: Path, path: Path, weights: Mapping[str, Any], optimizer: Mapping[str, Any], taken: tuple[Any, ...],
          model_hash: HexDigest | None, scheduler: Mapping[str, Any] | None = None) -> SavedCheckpoint:
    rng = _rng_form(taken)
    state = {"format": CHECKPOINT_FORMAT, "model": weights, "optimizer": optimizer, "rng": rng}
    if scheduler is not None:  # bound by the file's SHA-256; a replay restores it (docs/REPLAY.md §2)
        state["scheduler"] = scheduler
    # Whole or not at all, but not fsynced: this runs every epoch, where an fsync cost more than the rest of
    # recording for replay together. A machine crash can lose the newest file; its digest stays in the log and a
    # replay of its segment then refuses it, which costs the signer that segment, never the verifier a wrong answer.
    file_sha256 = checkpoint_file.write(target, checkpoint_file.encode(state))
    return SavedCheckpoint(path, model_hash if model_hash is not None else _state_digest_of_weights(weights),
                           state_digest(optimizer), state_digest(rng), HexDigest(file_sha256))


def _model_digest(model: torch.nn.Module) -> HexDigest:
    """The weights' ``pot.model-hash.v1`` digest (the same digest :func:`pot.integrations.torch.model_hash` gives;
    tests compare)."""
    return _state_digest_of_weights(unwrap(model).state_dict())


def _state_digest_of_weights(state: Mapping[str, torch.Tensor]) -> HexDigest:
    """A state dict's ``pot.model-hash.v1`` digest, by the small-tensor path when it is plain CPU tensors with
    distinct storage, else by :func:`pot.integrations.torch.hash_model` (tied weights, another device)."""
    pointers = [t.untyped_storage().data_ptr() for t in state.values() if t.numel()]
    if len(set(pointers)) != len(pointers) or any(t.device.type != "cpu" for t in state.values()):
        return hash_model(state).digest
    return model_digest_of([_item(name, tensor) for name, tensor in state.items()])


def read_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What a checkpoint file holds: ``{"format", "model", "optimizer", "rng"}`` and, when one was saved,
    ``"scheduler"`` (a one-line UsageError for anything else; the file is the prover's and is parsed as untrusted
    data, never unpickled)."""
    target = Path(path)
    try:
        data = target.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read checkpoint {target}: {exc.strerror or exc}") from None
    return _state_of(data, target)


def _state_of(data: bytes, path: Path) -> dict[str, Any]:
    state = checkpoint_file.decode(data, path)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT or \
            not {"model", "optimizer", "rng"} <= state.keys():
        raise UsageError(f"{path} is not a {CHECKPOINT_FORMAT} checkpoint of a model, optimizer and RNGs")
    return state


def write_state(path: str | os.PathLike[str], state: Mapping[str, Any]) -> None:
    """Write a state :func:`read_state` returned (for tools and tests that edit checkpoints)."""
    checkpoint_file.write(Path(path), checkpoint_file.encode(state))


def load_checkpoint(path: str | os.PathLike[str], model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Restore weights, optimizer state and RNG states from a file :func:`save_checkpoint` wrote."""
    state = read_state(path)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    set_rng_state(state["rng"])


# --- replay ----------------------------------------------------------------------------------------------------


class ReplayProgram(Protocol):
    """The training script's own code, as a replay runs it: the same model, optimizer, data order and step.

    ``batches(epoch)`` yields the epoch's batches in training order, drawing any randomness (the shuffle) from
    the global generators, which a replay restores from the checkpoint; ``step(batch)`` runs one training step.

    A program whose step also steps a learning-rate scheduler has it as ``scheduler`` (an object with
    ``state_dict()`` and ``load_state_dict()``; absent or None when there is none). A replay loads the checkpoint
    file's ``"scheduler"`` state into it, and refuses a segment whose start file has a scheduler state when the
    program has no scheduler, or has none when the program has one: either way the replayed rates would not be the
    recorded ones.
    """

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer

    def batches(self, epoch: int) -> Iterable[Batch]: ...

    def step(self, batch: Batch) -> Any: ...


EXACT, WITHIN, REFUSED = "exact", "within-tolerance", "refused"


@dataclass(frozen=True, slots=True)
class SegmentResult:
    """What replaying one segment showed."""

    segment: Segment
    chosen_by: str  # "largest-change", "random", "all" or "asked"
    outcome: str  # EXACT, WITHIN or REFUSED
    detail: str
    distance: float | None = None  # relative L2 distance of the end weights, when they were not bit for bit equal
    seconds: float = 0.0  # the replay's own time, checkpoint loading and digests included

    @property
    def ok(self) -> bool:
        return self.outcome != REFUSED

    def to_json(self) -> dict[str, Any]:
        segment = self.segment
        return {"segment": segment.index, "name": segment.name, "start_checkpoint": segment.start.record_id,
                "end_checkpoint": segment.end.record_id, "first_step": segment.start.step + 1,
                "last_step": segment.end.step, "chosen_by": self.chosen_by, "outcome": self.outcome,
                "distance": self.distance, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class ReplayReport:
    plan: ReplayPlan
    results: tuple[SegmentResult, ...]
    tolerance: float
    seed: int
    # whether the weights the program builds from the recorded configuration are the first checkpoint's: "same",
    # "different", or None when the first checkpoint is not at step 0
    initialisation: str | None = None

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.results)

    @property
    def verdict(self) -> str:
        return "confirmed" if self.ok else "refused"


class _Refused(Exception):
    def __init__(self, detail: str, distance: float | None = None) -> None:
        super().__init__(detail)
        self.detail, self.distance = detail, distance


def _checked_file(directory: Path, checkpoint: Checkpoint) -> bytes:
    """The bytes of the checkpoint file the log names, read once: hashed, then parsed from the same bytes."""
    path = directory / checkpoint.file_name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise _Refused(f"checkpoint file {checkpoint.file_name} (step {checkpoint.step}) is not in {directory}"
                       ) from None
    except OSError as exc:
        raise _Refused(f"checkpoint file {checkpoint.file_name} cannot be read: {exc.strerror or exc}") from None
    if hashlib.sha256(data).hexdigest() != checkpoint.file_sha256:
        raise _Refused(f"{checkpoint.file_name} is not the checkpoint file recorded at step {checkpoint.step} "
                       "(its SHA-256 differs)")
    return data


def _weights(state: Mapping[str, torch.Tensor]) -> torch.Tensor:
    floats = [t.detach().reshape(-1).to(torch.float64) for t in state.values() if t.is_floating_point()]
    return torch.cat(floats) if floats else torch.zeros(0, dtype=torch.float64)


def _relative_distance(replayed: Mapping[str, torch.Tensor], recorded: Mapping[str, torch.Tensor]) -> float:
    a, b = _weights(replayed), _weights(recorded)
    if a.shape != b.shape:
        return math.inf
    scale = float(torch.linalg.vector_norm(b)) or 1.0
    return float(torch.linalg.vector_norm(a - b)) / scale


def _recorded_state(directory: Path, checkpoint: Checkpoint) -> dict[str, Any]:
    """The recorded checkpoint file's content; a file the log names but that does not load is a refusal (it is
    the signer's file), not the verifier's usage error."""
    data = _checked_file(directory, checkpoint)
    try:
        return _state_of(data, directory / checkpoint.file_name)
    except UsageError as exc:
        raise _Refused(str(exc)) from None


def _restore(program: ReplayProgram, directory: Path, start: Checkpoint) -> None:
    state = _recorded_state(directory, start)
    scheduler = getattr(program, "scheduler", None)
    if "scheduler" in state and scheduler is None:
        raise _Refused(f"{start.file_name} holds a learning-rate scheduler's state and the program has no scheduler "
                       "to load it into: its rates would not be the recorded ones")
    if scheduler is not None and "scheduler" not in state:
        raise _Refused(f"the program has a learning-rate scheduler and {start.file_name} holds no scheduler state "
                       "to start it from: its rates would not be the recorded ones")
    try:
        program.model.load_state_dict(state["model"])
        program.optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
    except (KeyError, RuntimeError, ValueError, TypeError, AttributeError) as exc:
        what = "model, optimizer and scheduler" if scheduler is not None else "model and optimizer"
        raise _Refused(f"{start.file_name} does not load into the program's {what}: "
                       f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    for what, found, recorded in (("weights", _model_digest(program.model), start.model_hash),
                                  ("optimizer state", optimizer_digest(program.optimizer), start.optimizer_hash),
                                  ("RNG state", rng_digest(), start.rng_hash)):
        if found != recorded:
            raise _Refused(f"{start.file_name} holds {what} other than the digest recorded at step {start.step}")


def _run_steps(program: ReplayProgram, segment: Segment) -> None:
    expected = list(range(segment.start.step + 1, segment.end.step + 1))
    got = [s.step for s in segment.steps]
    if got != expected:
        missing = sorted(set(expected) - set(got))
        raise _Refused(f"step {missing[0]} is not in the log" if missing else
                       f"the log records steps {got[:1]}..{got[-1:]} where {len(expected)} steps were expected")
    for record in segment.steps:
        if record.batch is None or record.epoch is None:
            raise _Refused(f"step {record.step} has no {'batch digest' if record.batch is None else 'epoch'} "
                           "recorded: it cannot be replayed")
    # consecutive steps of one epoch, in order: each is one pass over program.batches(epoch)
    groups: list[tuple[int, list[Any]]] = []
    for record in segment.steps:
        if not groups or groups[-1][0] != record.epoch:
            groups.append((int(record.epoch or 0), []))
        groups[-1][1].append(record)
    for epoch, records in groups:
        batches: Iterator[Batch] = iter(program.batches(epoch))
        for record in records:
            batch = next(batches, None)
            if batch is None:
                raise _Refused(f"the data gives epoch {epoch} fewer batches than the {len(records)} steps the log "
                               f"records (none for step {record.step})")
            if batch.digest() != record.batch:
                raise _Refused(f"step {record.step}: the batch the data gives differs from the batch digest recorded")
            program.step(batch)
        if next(batches, None) is not None:
            raise _Refused(f"the data gives epoch {epoch} more batches than the {len(records)} steps the log records: "
                           "a step was left out")


def replay_segment(program: ReplayProgram, segment: Segment, checkpoints: Path, *, tolerance: float = 0.0,
                   chosen_by: str = "asked") -> SegmentResult:
    """Re-execute one segment from its start checkpoint and compare the end with what the log recorded."""
    started = time.perf_counter()
    try:
        _restore(program, checkpoints, segment.start)
        try:
            _run_steps(program, segment)
        except _Refused:
            raise
        except Exception as exc:  # the training script's own code failed on this segment: it is not confirmed
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise _Refused(f"the training script raised {type(exc).__name__}: {first}") from None
        end = segment.end
        if _model_digest(program.model) == end.model_hash:
            if optimizer_digest(program.optimizer) != end.optimizer_hash:
                raise _Refused("the weights match but the optimizer state differs from the one recorded at step "
                               f"{end.step}")
            outcome, detail, distance = EXACT, "weights equal the recorded ones bit for bit", None
        else:
            recorded = _recorded_state(checkpoints, end)["model"]
            if hash_model(recorded).digest != end.model_hash:
                raise _Refused(f"{end.file_name} holds weights other than the digest recorded at step {end.step}")
            distance = _relative_distance(program.model.state_dict(), recorded)
            if tolerance > 0 and distance <= tolerance:
                outcome, detail = WITHIN, f"weights within tolerance {tolerance:g} (relative distance {distance:.3g})"
            else:
                raise _Refused(f"the replayed weights differ from those recorded at step {end.step} (relative "
                               f"distance {distance:.3g}{f', tolerance {tolerance:g}' if tolerance > 0 else ''})",
                               distance)
    except _Refused as refused:
        return SegmentResult(segment, chosen_by, REFUSED, refused.detail, refused.distance,
                             time.perf_counter() - started)
    return SegmentResult(segment, chosen_by, outcome, detail, distance, time.perf_counter() - started)


def _change(checkpoints: Path, segment: Segment) -> float:
    """How far the weights moved in a segment (L2), from its two files; infinite when a file is missing or not the
    recorded one, so that such a segment is chosen, and refused with the reason."""
    try:
        first = _recorded_state(checkpoints, segment.start)["model"]
        last = _recorded_state(checkpoints, segment.end)["model"]
        a, b = _weights(first), _weights(last)
    except (_Refused, KeyError, TypeError, AttributeError):
        return math.inf
    return float(torch.linalg.vector_norm(a - b)) if a.shape == b.shape else math.inf


def choose_segments(plan: ReplayPlan, checkpoints: Path, count: int, seed: int) -> list[tuple[Segment, str]]:
    """``count`` segments: the half (rounded up) whose weights moved most, as Proof-of-Learning's top-Q, and the
    rest at random (``seed``), in log order. All of them when ``count`` is at least their number."""
    segments = list(plan.segments)
    if count >= len(segments):
        return [(s, "all") for s in segments]
    changes = {s.index: _change(checkpoints, s) for s in segments}
    top = sorted(segments, key=lambda s: (-changes[s.index], s.index))[:(count + 1) // 2]
    rest = [s for s in segments if s not in top]
    picked = random.Random(seed).sample(rest, count - len(top))
    chosen = [(s, "largest-change") for s in top] + [(s, "random") for s in picked]
    return sorted(chosen, key=lambda pair: pair[0].index)


@contextlib.contextmanager
def _deterministic() -> Iterator[None]:
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


def replay_segments(plan: ReplayPlan, checkpoints: str | os.PathLike[str],
                    program_factory: Callable[[Mapping[str, Any]], ReplayProgram], *, count: int | None = None,
                    indexes: Sequence[int] = (), seed: int | None = None, tolerance: float = 0.0,
                    on_result: Callable[[SegmentResult], None] | None = None) -> ReplayReport:
    """Replay segments of ``plan``: those numbered ``indexes``, else ``count`` chosen by :func:`choose_segments`
    (default: all). ``program_factory(config)`` builds the training script's program from the run's recorded
    configuration. Raises :class:`ReplayError`, with the report as ``.report``, when any segment is refused.

    ``on_result`` is called after each segment (for progress lines).
    """
    directory = Path(checkpoints)
    if not directory.is_dir():
        raise UsageError(f"no checkpoint directory at {directory}")
    if tolerance < 0 or not math.isfinite(tolerance):
        raise UsageError("the tolerance must be a finite number >= 0")
    if seed is None:
        seed = int.from_bytes(os.urandom(4), "big")
    if indexes:
        known = {s.index: s for s in plan.segments}
        unknown = [i for i in indexes if i not in known]
        if unknown:
            raise UsageError(f"no segment {unknown[0]}: the proof has segments 1-{len(plan.segments)}")
        chosen = [(known[i], "asked") for i in sorted(set(indexes))]
    else:
        if count is not None and count < 1:
            raise UsageError("--segments must be at least 1")
        chosen = choose_segments(plan, directory, len(plan.segments) if count is None else count, seed)
    results = []
    with _deterministic():
        try:
            program = program_factory(plan.config)
        except Exception as exc:  # the script's entry point, not pot: one line, the verifier's input (exit 2)
            raise UsageError(f"the entry point raised {type(exc).__name__} building the program from the run's "
                             f"recorded configuration: {str(exc).splitlines()[0] if str(exc) else ''}") from None
        start = plan.segments[0].start
        # Before any checkpoint is loaded, the program holds what its own initialisation gives for the recorded
        # configuration (its seed): compare that with the first checkpoint, which replay otherwise takes as given.
        initialisation = None if start.step != 0 else \
            "same" if _model_digest(program.model) == start.model_hash else "different"
        for segment, why in chosen:
            result = replay_segment(program, segment, directory, tolerance=tolerance, chosen_by=why)
            results.append(result)
            if on_result is not None:
                on_result(result)
    report = ReplayReport(plan, tuple(results), tolerance, seed, initialisation)
    if not report.ok:
        first = next(r for r in results if not r.ok)
        raise ReplayError(f"segment {first.segment.index}, {first.segment.name}: {first.detail}", report=report)
    return report

# --- words for a report ------------------------------------------------------------------------------------------


def segment_line(result: SegmentResult) -> str:
    """One line per replayed segment: which, why chosen, the outcome, and the time against the recorded time."""
    segment = result.segment
    verdict = {EXACT: "ok   exact", WITHIN: "ok   within", REFUSED: "FAIL"}[result.outcome]
    timing = f"replayed in {result.seconds:.2f} s (training took {segment.recorded_seconds:.2f} s)"
    return (f"  {verdict:<11} segment {segment.index:>3} {segment.name:<28} [{result.chosen_by}] {result.detail}; "
            f"{timing}")


def verdict_line(report: ReplayReport) -> str:
    replayed = len(report.results)
    total = len(report.plan.segments)
    refused = [r for r in report.results if not r.ok]
    chosen = f"{replayed} of {total} segment(s), seed {report.seed}"
    if refused:
        names = ", ".join(f"{r.segment.index} ({r.segment.name})" for r in refused)
        return (f"{_initialisation_line(report)}REFUSED: {len(refused)} of the {replayed} segment(s) replayed (of "
                f"{total}, seed {report.seed}) did not replay to the recorded weights: segment(s) {names}")
    how = "bit for bit" if all(r.outcome == EXACT for r in report.results) else \
        f"within tolerance {report.tolerance:g}"
    return (f"{_initialisation_line(report)}CONFIRMED: {chosen} replayed to the recorded weights {how}; segments "
            "not replayed are not checked by this replay")


def _initialisation_line(report: ReplayReport) -> str:
    if report.initialisation is None:
        return "initial weights: not checked (no checkpoint at step 0)\n"
    if report.initialisation == "same":
        return ("initial weights: the checkpoint at step 0 holds what the program builds from the recorded "
                "configuration\n")
    return ("initial weights: the checkpoint at step 0 is NOT what the program builds from the recorded "
            "configuration: replay took it as given (docs/REPLAY.md §6)\n")


def report_json(report: ReplayReport) -> dict[str, Any]:
    plan = report.plan
    return {"ok": report.ok, "verdict": report.verdict, "proof_sha256": plan.proof_sha256, "model_id": plan.model_id,
            "run_id": plan.run_id, "segments_total": len(plan.segments), "seed": report.seed,
            "tolerance": report.tolerance, "initialisation": report.initialisation,
            "segments": [{**r.to_json(), "seconds": r.seconds, "recorded_seconds": r.segment.recorded_seconds}
                         for r in report.results]}
