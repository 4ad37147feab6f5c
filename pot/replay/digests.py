"""The digests replay needs, defined without a framework: batch digests and ``pot.state-hash.v1``.

Frozen by docs/REPLAY.md ("Digests") and docs/PROOF_FORMAT.md: a verifier in another language recomputes them from
the bytes alone, so changing how either is formed needs a new format string.

- A **batch digest** is the ``pot.model-hash.v1`` digest (docs/MODEL_HASHING.md) of the tensors a training step
  read: ``indices`` (int64, shape ``[n]``, the samples' indices in the dataset, in batch order) and the batch's
  content tensors under the names the training script gives them. So the digest binds which samples were drawn,
  in which order, and the exact bytes the step computed on.
- A **state digest** (``pot.state-hash.v1``) names a nested state that is not a flat set of tensors (an
  optimizer's ``state_dict()``, the random generators' states): its leaves are named by their path, tensors go to
  a ``pot.model-hash.v1`` manifest and every other leaf (number, string, boolean, null, empty container) to a JSON
  object, and the digest is ``SHA-256(JCS({"format": "pot.state-hash.v1", "tensors": <model digest>,
  "values": {path: value}}))``.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pot.errors import UsageError
from pot.hashing import DTYPES, hash_buffers
from pot.log.canonical import MAX_SAFE_INTEGER, HexDigest, canonical_json

STATE_HASH_FORMAT = "pot.state-hash.v1"
INDICES = "indices"

__all__ = ["INDICES", "STATE_HASH_FORMAT", "TensorItem", "batch_digest_of", "model_digest_of", "state_digest_of"]

TensorItem = tuple[str, str, Sequence[int], Any]
"""``(name, dtype, shape, raw little-endian bytes in C order)``, as :func:`pot.hashing.hash_buffers` takes."""


def batch_digest_of(indices: TensorItem, content: Iterable[TensorItem]) -> HexDigest:
    """The batch digest of a step: ``indices`` (named ``"indices"``, dtype int64, one dimension) and its content."""
    name, dtype, shape, _ = indices
    if name != INDICES or dtype != "int64" or len(shape) != 1:
        raise UsageError(f"a batch's indices are an int64 vector named {INDICES!r}, got {dtype} {list(shape)} "
                         f"named {name!r}")
    items = [indices]
    for item in content:
        if item[0] == INDICES:
            raise UsageError(f"a batch tensor may not be named {INDICES!r}: that name is the sample indices'")
        items.append(item)
    return model_digest_of(items)


_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.:/-]{1,256}")


_LAYOUTS: dict[tuple[str, str, tuple[int, ...]], tuple[int, str, str]] = {}  # -> (bytes, text before, after sha)


def _layout(name: Any, dtype: Any, shape: Any) -> tuple[int, str, str] | None:
    """A tensor's byte length and its manifest entry around the sha256, or None where hash_buffers must decide.
    A training loop hashes batches of the same few names and shapes, so entries are remembered."""
    info = DTYPES.get(dtype) if isinstance(dtype, str) else None
    if (info is None or name.__class__ is not str or not _PLAIN_NAME.fullmatch(name)
            or not all(d.__class__ is int and 0 <= d <= MAX_SAFE_INTEGER for d in shape)):
        return None
    layout = (info.itemsize * math.prod(shape), f'{{"dtype":"{dtype}","name":"{name}","sha256":"',
              f'","shape":[{",".join(map(str, shape))}]}}')
    if shape.__class__ is tuple and len(_LAYOUTS) < 4096:
        _LAYOUTS[(name, dtype, shape)] = layout
    return layout


def model_digest_of(items: Sequence[TensorItem]) -> HexDigest:
    """:func:`pot.hashing.hash_buffers` ``(...).digest`` for a few small in-memory tensors, on the training thread.

    A step's batch is hashed on every step, where hash_buffers' general checks and its canonical-JSON encoder cost
    ten times the hashing. For plain ASCII names, known dtypes, integer shapes and buffers of the right length, the
    manifest's RFC 8785 form is written out directly (its members in key order, names sorted: ASCII code point
    order); anything else goes to hash_buffers, which decides (and words any refusal). Tests check both agree.
    """
    entries: list[tuple[str, str]] = []
    for name, dtype, shape, data in items:
        layout = _LAYOUTS.get((name, dtype, shape)) if shape.__class__ is tuple else None
        if layout is None:
            layout = _layout(name, dtype, shape)
            if layout is None:
                return hash_buffers(items, workers=1).digest
        try:
            view = memoryview(data)
        except TypeError:
            return hash_buffers(items, workers=1).digest
        if not view.c_contiguous or view.nbytes != layout[0]:
            return hash_buffers(items, workers=1).digest
        entries.append((name, layout[1] + hashlib.sha256(view).hexdigest() + layout[2]))
    entries.sort()
    if any(a[0] == b[0] for a, b in itertools.pairwise(entries)):
        return hash_buffers(items, workers=1).digest  # a duplicate name: hash_buffers refuses it
    manifest = '{"format":"pot.model-hash.v1","tensors":[' + ",".join(text for _, text in entries) + "]}"
    return HexDigest(hashlib.sha256(manifest.encode("ascii")).hexdigest())


def state_digest_of(tensors: Iterable[TensorItem], values: Mapping[str, Any]) -> HexDigest:
    """The ``pot.state-hash.v1`` digest of a state flattened into path-named tensors and JSON values.

    Frozen by the format: the manifest's tensors and the values' paths are disjoint; a value is a finite number
    (an integer within +-(2**53-1)), a string, a boolean, null, or an empty list or object.
    """
    tensor_items = list(tensors)
    names = {item[0] for item in tensor_items}
    checked: dict[str, Any] = {}
    for path, value in values.items():
        if path in names:
            raise UsageError(f"state path {path!r} is both a tensor and a value")
        checked[path] = _leaf(value, path)
    document = {"format": STATE_HASH_FORMAT, "tensors": model_digest_of(tensor_items),
                "values": checked}
    return HexDigest(hashlib.sha256(canonical_json(document)).hexdigest())


def _leaf(value: Any, path: str) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise UsageError(f"state value {path!r} is an integer outside +-(2**53-1)")
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UsageError(f"state value {path!r} is not finite")
        return float(value)
    if isinstance(value, list | tuple | dict) and not value:
        return [] if isinstance(value, list | tuple) else {}
    raise UsageError(f"state value {path!r} of type {type(value).__name__} is not a JSON leaf")
