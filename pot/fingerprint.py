"""Behavioural fingerprints: a model's outputs on a fixed, seeded challenge set, quantised and hashed.

Where the weight hash says *which numbers* a checkpoint holds, the fingerprint says *how it behaves*: two
checkpoints with the same fingerprint answer the same challenges the same way. This is the seed's
``model_fn`` hook (``record_training_checkpoint(..., model_fn=lambda x: model(x))``).

The scheme (``pot.fingerprint.v1``), deterministic on a CPU from run to run and independent of numpy's or
torch's random generators:

- challenge values: for counter ``i = 0, 1, ...``, ``SHA-256(b"pot.fingerprint.v1" || seed (8 bytes LE) ||
  i (8 bytes LE))`` gives eight little-endian uint32 words ``w``; each becomes ``w / 2**31 - 1`` as float32, in
  [-1, 1). They fill a float32 array of shape ``(challenges, *input_shape)`` in C order.
- the model's outputs are flattened (every output tensor of a tuple or dict, dict keys sorted), converted to
  float64 and quantised to ``round(x * 10**decimals)`` as little-endian int64; NaN and infinities map to
  fixed sentinels.
- the fingerprint is the SHA-256 hex of the canonical JSON of ``{"format": "pot.fingerprint.v1", "seed",
  "challenges", "input_shape", "decimals", "outputs_sha256"}``.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import math
import struct
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from pot.errors import UsageError
from pot.log.canonical import canonical_json

FORMAT = "pot.fingerprint.v1"
DEFAULT_DECIMALS = 4
_NAN, _POS_INF, _NEG_INF = -(2**63), 2**63 - 1, -(2**63) + 1


def challenge_values(count: int, seed: int = 0) -> list[float]:
    """``count`` float32-representable values in [-1, 1), from the SHA-256 counter stream of ``seed``."""
    out: list[float] = []
    counter = 0
    prefix = FORMAT.encode() + struct.pack("<Q", seed)
    while len(out) < count:
        block = hashlib.sha256(prefix + struct.pack("<Q", counter)).digest()
        for (word,) in struct.iter_unpack("<I", block):
            out.append(struct.unpack("<f", struct.pack("<f", word / 2**31 - 1.0))[0])
        counter += 1
    return out[:count]


def _find_torch_module(model_fn: Any) -> Any:
    """The torch module behind ``model_fn``: itself, or one it closes over (``lambda x: model(x)``)."""
    torch = sys.modules.get("torch")
    if torch is None:  # not imported by the caller, so model_fn cannot be a torch model
        return None
    module_type = torch.nn.Module
    if isinstance(model_fn, module_type):
        return model_fn
    try:
        found = inspect.getclosurevars(model_fn)
    except TypeError:
        return None
    candidates = [v for v in (*found.nonlocals.values(), *found.globals.values()) if isinstance(v, module_type)]
    return candidates[0] if len(candidates) == 1 else None


def infer_input_shape(module: Any) -> tuple[int, ...] | None:
    """The per-example input shape of a torch module whose first layer says it (Linear, Conv1d/2d, Embedding)."""
    import torch

    for layer in module.modules():
        if isinstance(layer, torch.nn.Linear):
            return (layer.in_features,)
        if isinstance(layer, torch.nn.Conv2d):
            return (layer.in_channels, 32, 32)
        if isinstance(layer, torch.nn.Conv1d):
            return (layer.in_channels, 64)
        if isinstance(layer, torch.nn.Embedding | torch.nn.RNNBase | torch.nn.MultiheadAttention):
            return None
    return None


def _flatten_outputs(output: Any) -> Iterator[float]:
    if isinstance(output, Mapping):
        for key in sorted(output):
            yield from _flatten_outputs(output[key])
        return
    if isinstance(output, list | tuple):
        for item in output:
            yield from _flatten_outputs(item)
        return
    if hasattr(output, "detach"):  # a torch tensor: to CPU numbers without autograd
        output = output.detach().cpu().double().reshape(-1).tolist()
    elif hasattr(output, "tolist"):  # numpy
        output = output.reshape(-1).tolist() if hasattr(output, "reshape") else output.tolist()
    if isinstance(output, int | float):
        yield float(output)
        return
    if isinstance(output, list):
        for item in output:
            yield from _flatten_outputs(item)
        return
    raise UsageError(f"model_fn returned {type(output).__name__}; a fingerprint needs numbers or tensors")


def _quantise(values: Iterator[float], decimals: int) -> bytes:
    scale = 10**decimals
    words = []
    for x in values:
        if math.isnan(x):
            words.append(_NAN)
        elif math.isinf(x):
            words.append(_POS_INF if x > 0 else _NEG_INF)
        else:
            words.append(max(_NEG_INF + 1, min(_POS_INF - 1, round(x * scale))))
    return struct.pack(f"<{len(words)}q", *words)


def fingerprint(model_fn: Callable[[Any], Any], input_shape: Sequence[int], *, challenges: int = 16, seed: int = 0,
                decimals: int = DEFAULT_DECIMALS, as_tensor: bool | None = None) -> str:
    """The ``pot.fingerprint.v1`` hex digest of ``model_fn`` on the challenge set (see module docstring).

    The challenges reach ``model_fn`` as a float32 torch tensor when ``model_fn`` is (or wraps) a torch module,
    else as a float32 numpy array; ``as_tensor`` forces one or the other.
    """
    shape = tuple(int(d) for d in input_shape)
    if challenges < 1 or any(d < 1 for d in shape):
        raise UsageError("fingerprint needs at least one challenge and a positive input shape")
    count = challenges * math.prod(shape)
    values = challenge_values(count, seed)
    module = _find_torch_module(model_fn)
    use_torch = module is not None if as_tensor is None else as_tensor
    if use_torch:
        import torch

        batch: Any = torch.tensor(values, dtype=torch.float32).reshape(challenges, *shape)
        if module is not None:
            batch = batch.to(next(iter(module.parameters()), batch).device)
        guard: Any = torch.no_grad()
    else:
        import numpy as np

        batch = np.asarray(values, dtype=np.float32).reshape(challenges, *shape)
        guard = contextlib.nullcontext()
    was_training = bool(getattr(module, "training", False))
    if module is not None:
        module.eval()  # dropout and batch-norm updates would make the answer depend on chance
    try:
        with guard:
            output = model_fn(batch)
    finally:
        if module is not None and was_training:
            module.train()
    outputs = _quantise(_flatten_outputs(output), decimals)
    summary = {"format": FORMAT, "seed": seed, "challenges": challenges, "input_shape": list(shape),
               "decimals": decimals, "outputs_sha256": hashlib.sha256(outputs).hexdigest()}
    return hashlib.sha256(canonical_json(summary)).hexdigest()


def fingerprint_model_fn(model_fn: Callable[[Any], Any], *, challenges: int = 16,
                         input_shape: Sequence[int] | None = None) -> str:
    """The recorder's hook: fingerprint ``model_fn``, inferring the input shape from a torch model if needed."""
    if input_shape is None:
        module = _find_torch_module(model_fn)
        input_shape = infer_input_shape(module) if module is not None else None
        if input_shape is None:
            raise UsageError("cannot tell the input shape model_fn expects; set "
                             "ProvenanceConfig(fingerprint_input_shape=(...)) or fingerprint_checkpoints=False")
    return fingerprint(model_fn, input_shape, challenges=challenges)
