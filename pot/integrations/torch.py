"""PyTorch models: hash the weights (parameters and buffers) into the ``model_hash`` a proof records.

This is the only module of pot that imports torch; ``import pot`` never does.

Example::

    from pot.integrations.torch import hash_model, model_hash

    recorder.record_training_checkpoint(model_hash=model_hash(model), metrics={"loss": loss}, epoch=epoch,
                                        model_id="my_model")
    before = hash_model(model)
    ...
    print(before.diff(hash_model(model)))        # [("fc.weight", "values"), ...]

The digest is the ``pot.model-hash.v1`` digest of the model's ``state_dict()`` (docs/MODEL_HASHING.md): it does
not depend on dict order or on the device the tensors sit on, and a ``.safetensors`` file of the same state dict
has the same digest (:func:`pot.hashing.hash_safetensors`). Contiguous CPU tensors are hashed in place; tensors on
another device, or not contiguous, are copied out in pieces of at most 64 MiB, so hashing needs memory for a few
pieces, never for a second copy of the model.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from pot import hashing
from pot.errors import UsageError
from pot.hashing import DTYPES, ModelDigest, ProgressCallback, TensorDigest, hash_buffers, hash_file, model_digest
from pot.log.canonical import HexDigest

__all__ = ["hash_checkpoint_file", "hash_model", "model_fn_for", "model_hash", "scalar_metrics", "tensor_dtype",
           "unwrap"]

_DTYPE_NAMES: dict[torch.dtype, str] = {
    getattr(torch, name): name for name in DTYPES if isinstance(getattr(torch, name, None), torch.dtype)
}
_PLAIN_TENSOR_TYPES = (torch.Tensor, torch.nn.Parameter, *((torch.nn.Buffer,) if hasattr(torch.nn, "Buffer") else ()))
# Lazy modules' parameters before their first batch; not in torch's public names, hence getattr.
_UNINITIALIZED: Any = getattr(torch.nn.parameter, "UninitializedTensorMixin", ())
_BIG_ENDIAN = sys.byteorder == "big"  # the format hashes little-endian scalars


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside DistributedDataParallel / DataParallel / torch.compile wrappers.

    The wrappers prefix every state_dict name (``module.``, ``_orig_mod.``), which would give the same weights
    another digest depending on how training was launched.
    """
    while True:
        inner = getattr(model, "module", None) if isinstance(
            model, torch.nn.parallel.DistributedDataParallel | torch.nn.DataParallel) else getattr(model, "_orig_mod",
                                                                                                  None)
        if not isinstance(inner, torch.nn.Module):  # _orig_mod: torch.compile's OptimizedModule
            return model
        model = inner


def scalar_metrics(values: Mapping[str, Any]) -> dict[str, float]:
    """The entries of ``values`` that are numbers or one-element tensors, as floats (for a record's metrics)."""
    out: dict[str, float] = {}
    for name, value in values.items():
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                continue
            value = value.detach().float().item()
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[str(name)] = float(value)
    return out


def model_fn_for(module: torch.nn.Module, config: Any) -> Any:
    """The fingerprint hook for a module when fingerprints are on and its input shape is known or can be told
    (see :mod:`pot.fingerprint`); else None, so a checkpoint is recorded without a fingerprint."""
    from pot.fingerprint import infer_input_shape

    if not getattr(config, "fingerprint_checkpoints", False):
        return None
    module = unwrap(module)
    if getattr(config, "fingerprint_input_shape", None) is None and infer_input_shape(module) is None:
        return None
    return module


def hash_model(
    model_or_state_dict: torch.nn.Module | Mapping[str, torch.Tensor],
    *,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
) -> ModelDigest:
    """The ``pot.model-hash.v1`` digest of a module's ``state_dict()`` (parameters and persistent buffers) or of
    a mapping of names to tensors.

    Tensors are hashed in parallel on ``workers`` threads (default: the CPUs this process may use); ``progress``
    is called as ``progress(done_bytes, total_bytes)``. A tensor that appears under several names (tied weights)
    is read once. Raises :class:`UsageError` for an entry that is not a dense tensor with data: sparse,
    quantized, nested, meta or uninitialized (lazy) tensors, tensor subclasses such as DTensor, non-tensor
    ``extra_state``, and dtypes outside :data:`pot.hashing.DTYPES`.
    """
    if isinstance(model_or_state_dict, torch.nn.Module):
        model_or_state_dict = unwrap(model_or_state_dict)
    state = _state_dict(model_or_state_dict)
    first_name: dict[tuple[Any, ...], str] = {}
    aliases: list[tuple[str, str]] = []
    items: list[tuple[str, str, tuple[int, ...], Any]] = []
    for name, value in state.items():
        if not isinstance(name, str):
            raise UsageError(f"state dict keys must be strings, got {type(name).__name__} {name!r}")
        dtype = _check_tensor(name, value)
        tensor = value.detach()
        key = _alias_key(tensor)
        if key is not None and key in first_name:
            aliases.append((name, first_name[key]))
            continue
        if key is not None:
            first_name[key] = name
        items.append((name, dtype, tuple(tensor.shape), _tensor_data(tensor, DTYPES[dtype].unit)))
    digest = hash_buffers(items, workers=workers, progress=progress)
    if not aliases:
        return digest
    by_name = {t.name: t for t in digest.manifest}
    tied = [TensorDigest(name, by_name[first].dtype, by_name[first].shape, by_name[first].sha256)
            for name, first in aliases]
    return model_digest([*digest.manifest, *tied])


def model_hash(
    model_or_state_dict: torch.nn.Module | Mapping[str, torch.Tensor], *, workers: int | None = None
) -> HexDigest:
    """The hex digest of :func:`hash_model`: the value to pass as ``model_hash`` to the recorder."""
    return hash_model(model_or_state_dict, workers=workers).digest


def hash_checkpoint_file(path: str | os.PathLike[str], *, progress: ProgressCallback | None = None) -> HexDigest:
    """SHA-256 (hex) of a checkpoint file's bytes (``torch.save`` output, ``.safetensors`` ...).

    This hashes the file as a file: a ``torch.save`` pickle of the same weights can differ byte for byte between
    PyTorch versions, so prefer :func:`hash_model` (or :func:`pot.hashing.hash_safetensors`) to name the weights.
    """
    return hash_file(path, progress=progress)


def tensor_dtype(tensor: torch.Tensor) -> str:
    """The format's dtype name for a tensor's dtype, or :class:`UsageError` if the format has none."""
    name = _DTYPE_NAMES.get(tensor.dtype)
    if name is None:
        raise UsageError(f"dtype {tensor.dtype} is not one pot hashes ({', '.join(_DTYPE_NAMES.values())})")
    return name


# --- internals --------------------------------------------------------------------------------------------------


def _state_dict(value: Any) -> Mapping[Any, Any]:
    if isinstance(value, torch.nn.Module):
        state: Mapping[Any, Any] = value.state_dict()
        return state
    if isinstance(value, Mapping):
        return value
    raise UsageError(f"hash_model takes an nn.Module or a mapping of names to tensors, got {type(value).__name__}")


def _check_tensor(name: str, value: Any) -> str:
    """The dtype name of a tensor the format can hash, or a one-line UsageError saying what to do instead."""
    where = f"tensor {name!r}"
    if not isinstance(value, torch.Tensor):
        raise UsageError(f"state dict entry {name!r} is of type {type(value).__name__}, not a tensor; pot hashes "
                         "tensors only (pass a mapping without it)")
    if isinstance(value, _UNINITIALIZED):
        raise UsageError(f"{where} is uninitialized (a lazy module that has not run yet); run one batch first")
    if type(value) not in _PLAIN_TENSOR_TYPES:
        raise UsageError(f"{where} is a tensor subclass ({type(value).__name__}); pot hashes plain tensors, convert it "
                         "first (e.g. DTensor.full_tensor())")
    if value.is_nested:
        raise UsageError(f"{where} is a nested tensor; pot hashes dense tensors")
    if value.layout != torch.strided:
        kind = "sparse" if value.is_sparse or "sparse" in str(value.layout) else "not dense"
        raise UsageError(f"{where} is {kind} ({value.layout}); pot hashes dense tensors, call .to_dense() first")
    if value.is_quantized:
        raise UsageError(f"{where} is quantized ({value.dtype}); pot hashes plain dtypes, hash .dequantize() or "
                         ".int_repr() instead")
    if value.is_meta:
        raise UsageError(f"{where} is on the meta device and holds no data; load the weights first")
    try:
        return tensor_dtype(value)
    except UsageError as exc:
        raise UsageError(f"{where}: {exc}") from None


def _alias_key(tensor: torch.Tensor) -> tuple[Any, ...] | None:
    """Identical for two names that view the same memory the same way (tied weights), else different."""
    if tensor.numel() == 0:
        return None
    return (tensor.device, tensor.dtype, tensor.untyped_storage().data_ptr(), tensor.storage_offset(),
            tuple(tensor.shape), tensor.stride(), tensor.is_conj(), tensor.is_neg())


def _tensor_data(tensor: torch.Tensor, unit: int) -> Any:
    """A zero-copy byte buffer when the tensor's memory already is the format's bytes, else a chunk source."""
    in_place = (tensor.device.type == "cpu" and tensor.is_contiguous() and not tensor.is_conj()
                and not tensor.is_neg() and not (_BIG_ENDIAN and unit > 1))
    if in_place:
        return _flat_bytes(tensor).numpy()
    return lambda: _copied_chunks(tensor, unit)


def _flat_bytes(tensor: torch.Tensor) -> torch.Tensor:
    """A 1-D uint8 view of a contiguous tensor's memory."""
    flat = tensor.reshape(-1)
    if flat.stride(0) != 1:  # torch calls a one-element tensor contiguous whatever its stride
        flat = flat.as_strided((flat.numel(),), (1,))
    return flat.view(torch.uint8)


def _copied_chunks(tensor: torch.Tensor, unit: int) -> Iterator[Any]:
    """The tensor's bytes in C order, little-endian, as CPU copies of at most ``CHUNK_BYTES`` each."""
    for piece in _pieces(tensor, hashing.CHUNK_BYTES):
        piece = piece.resolve_conj().resolve_neg().contiguous().to("cpu")
        data = _flat_bytes(piece)
        if _BIG_ENDIAN and unit > 1:
            data = data.view(-1, unit).flip(1).reshape(-1)
        yield data.numpy()
        del piece, data  # free this copy before the next one is made: one chunk per worker, not two


def _pieces(tensor: torch.Tensor, limit: int) -> Iterator[torch.Tensor]:
    """Views that together are ``tensor`` in C order, each at most ``limit`` bytes (or one element)."""
    if tensor.dim() == 0 or tensor.numel() * tensor.element_size() <= limit:
        yield tensor
        return
    row = tensor[0].numel() * tensor.element_size()
    if row <= limit:
        step = limit // row
        for start in range(0, tensor.shape[0], step):
            yield tensor[start:start + step]
    else:
        for index in range(tensor.shape[0]):
            yield from _pieces(tensor[index], limit)
