"""The replay checkpoint file, ``pot.replay-checkpoint.v1``: a nested state of tensors and JSON values.

Written on the training thread at every checkpoint and read by a verifier from a party whose claim it checks, so it
is neither a pickle (``torch.load`` of a pickle, even with ``weights_only``, was the slowest part of a replay, and a
pickle is code) nor anything slow to write. The layout (docs/REPLAY.md §2):

    b"pot.replay-checkpoint.v1\\n"  |  header length n (8 bytes, little-endian)  |  header (n bytes of JSON)  |  data

The header is ``{"tree": <node>, "tensors": [{"dtype", "shape", "offset", "length"}, ...]}``; a node is
``{"t": i}`` (tensor i of the list, its bytes at ``offset`` in the data, little-endian, C order), ``{"d": [[key,
node], ...]}`` (a dict; keys strings or integers), ``{"l": [...]}`` (list), ``{"u": [...]}`` (tuple) or ``{"v":
value}`` (a JSON scalar). The file's SHA-256 is what the log records; its tensors and values are checked again
through the state digests after loading.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from pot.errors import UsageError
from pot.hashing import DTYPES
from pot.integrations.torch import tensor_dtype

MAGIC = b"pot.replay-checkpoint.v1\n"
MAX_HEADER = 64 << 20
MAX_DEPTH = 32
_JOIN_BELOW = 16 << 20  # bytes: a file this small is copied into one buffer to be written

__all__ = ["MAGIC", "decode", "encode"]


def _raw(tensor: torch.Tensor) -> Any:
    """The tensor's bytes, little-endian in C order: numpy's view of its memory where it has one (the common case,
    no copy), else a contiguous CPU copy's."""
    if tensor.__class__ is torch.Tensor and tensor.dtype in _NUMPY_VIEWABLE:
        try:
            array = tensor.detach().numpy()  # refuses another device, and the conjugate and negative bits
        except (RuntimeError, TypeError):
            array = None
        if array is not None and array.flags.c_contiguous:
            return array
    data = tensor.detach()
    if data.device.type != "cpu" or not data.is_contiguous() or data.is_conj() or data.is_neg():
        data = data.resolve_conj().resolve_neg().contiguous().cpu()
    if data.numel() == 0:
        return b""
    return data.reshape(-1).view(torch.uint8).numpy().data


def encode(state: Any) -> list[Any]:
    """The file's bytes, in pieces (written and hashed without joining them).

    The header is written out as JSON text directly rather than built as objects for ``json.dumps``: it is made on
    every checkpoint of a training run, where that took most of the time spent outside the bytes. It is the JSON
    ``json.dumps`` gives with ``separators=(",", ":")`` (tests compare), and any JSON reader reads it.
    """
    if sys.byteorder == "big":
        raise UsageError("replay checkpoints are written on little-endian machines only")
    entries: list[str] = []
    pieces: list[Any] = []
    offset = 0

    def node(value: Any, depth: int) -> str:
        nonlocal offset
        if depth > MAX_DEPTH:
            raise UsageError(f"a checkpoint state is nested more than {MAX_DEPTH} levels")
        cls = value.__class__  # exact classes first: a state is mostly dicts, tensors and numbers
        if cls is dict or cls is OrderedDict or (cls not in _SCALARS and isinstance(value, Mapping)):
            return '{"d":[' + ",".join(f"[{_key(key)},{node(item, depth + 1)}]" for key, item in value.items()) + "]}"
        scalar = _SCALARS.get(cls)
        if scalar is not None:
            text: str = scalar(value)
            return '{"v":' + text + "}"
        if isinstance(value, torch.Tensor):
            raw = _raw(value)
            length = len(raw) if isinstance(raw, bytes) else raw.nbytes
            dtype = _DTYPE_NAMES.get(value.dtype) or tensor_dtype(value)
            entries.append(f'{{"dtype":"{dtype}","shape":[{",".join(map(str, value.shape))}],"offset":{offset},'
                           f'"length":{length}}}')
            pieces.append(raw)
            offset += length
            return f'{{"t":{len(entries) - 1}}}'
        if isinstance(value, list | tuple):
            kind = "u" if isinstance(value, tuple) else "l"
            return f'{{"{kind}":[' + ",".join(node(item, depth + 1) for item in value) + "]}"
        if value is None or isinstance(value, bool | int | float | str):
            return '{"v":' + json.dumps(value) + "}"
        raise UsageError(f"a checkpoint state cannot hold a {type(value).__name__}")

    tree = node(state, 0)
    header = ('{"tree":' + tree + ',"tensors":[' + ",".join(entries) + "]}").encode("utf-8")
    return [MAGIC, len(header).to_bytes(8, "little"), header, *pieces]


# JSON text of a scalar of exactly these classes, as json.dumps writes it
_SCALARS: dict[type, Any] = {str: json.dumps, int: int.__repr__, bool: lambda v: "true" if v else "false",
                             float: lambda v: float.__repr__(v) if math.isfinite(v) else json.dumps(v),
                             type(None): lambda v: "null"}
_KEYS: dict[Any, str] = {}  # the JSON text of keys seen: a training run's states have the same keys every time


def _key(key: Any) -> str:
    text = _KEYS.get(key) if key.__class__ is str or key.__class__ is int else None
    if text is None:
        if not isinstance(key, str | int) or isinstance(key, bool):
            raise UsageError(f"a checkpoint state's keys are strings or integers, not {type(key).__name__}")
        text = json.dumps(key)
        if len(_KEYS) < 65536 and (key.__class__ is str or key.__class__ is int):
            _KEYS[key] = text
    return text


def _refuse(path: Path | str, why: str) -> UsageError:
    return UsageError(f"{path} is not a pot.replay-checkpoint.v1 file: {why}")


def decode(data: bytes | bytearray, path: Path | str = "checkpoint") -> Any:
    """The state a file holds, or a one-line UsageError for anything malformed (the file is untrusted input)."""
    if sys.byteorder == "big":
        raise UsageError("replay checkpoints are read on little-endian machines only")
    view = memoryview(data)
    if bytes(view[:len(MAGIC)]) != MAGIC:
        raise _refuse(path, "it does not start with the format's magic line")
    size = int.from_bytes(view[len(MAGIC):len(MAGIC) + 8], "little")
    start = len(MAGIC) + 8
    if size > MAX_HEADER or start + size > len(view):
        raise _refuse(path, "its header length is beyond the file")
    try:
        header = json.loads(bytes(view[start:start + size]))
    except (ValueError, RecursionError) as exc:
        raise _refuse(path, f"its header is not JSON ({exc})") from None
    body = view[start + size:]
    buffer = bytearray(body)  # writable, so the tensors made on it are ordinary tensors
    if not isinstance(header, dict) or set(header) != {"tree", "tensors"} or not isinstance(header["tensors"], list):
        raise _refuse(path, "its header is not {tree, tensors}")
    tensors = [_tensor(entry, buffer, path) for entry in header["tensors"]]

    def build(node: Any, depth: int) -> Any:
        if depth > MAX_DEPTH or not isinstance(node, dict) or len(node) != 1:
            raise _refuse(path, "a node of its tree is malformed")
        [(kind, value)] = node.items()
        if kind == "t" and type(value) is int and 0 <= value < len(tensors):
            return tensors[value]
        if kind == "v" and (value is None or isinstance(value, bool | int | float | str)):
            return value
        if kind in ("l", "u") and isinstance(value, list):
            items = [build(item, depth + 1) for item in value]
            return tuple(items) if kind == "u" else items
        if kind == "d" and isinstance(value, list) and all(
                isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str | int)
                and not isinstance(pair[0], bool) for pair in value):
            return {key: build(item, depth + 1) for key, item in value}
        raise _refuse(path, f"a node of its tree is malformed ({kind!r})")

    return build(header["tree"], 0)


_NUMPY_VIEWABLE = frozenset({torch.float32, torch.float64, torch.float16, torch.int64, torch.int32, torch.int16,
                             torch.int8, torch.uint8, torch.bool})
_DTYPE_NAMES = {dtype: str(dtype).removeprefix("torch.") for dtype in _NUMPY_VIEWABLE}
_TORCH_DTYPES = {name: getattr(torch, name) for name in DTYPES if isinstance(getattr(torch, name, None), torch.dtype)}


def _tensor(entry: Any, buffer: bytearray, path: Path | str) -> torch.Tensor:
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "offset", "length"}:
        raise _refuse(path, "a tensor entry is malformed")
    dtype = _TORCH_DTYPES.get(entry["dtype"]) if isinstance(entry["dtype"], str) else None
    shape, offset, length = entry["shape"], entry["offset"], entry["length"]
    if dtype is None or not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape) or \
            type(offset) is not int or type(length) is not int or offset < 0 or offset + length > len(buffer) or \
            length != DTYPES[entry["dtype"]].itemsize * math.prod(shape):
        raise _refuse(path, "a tensor entry does not fit the data")
    if length == 0:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(buffer, dtype=dtype, count=length // DTYPES[entry["dtype"]].itemsize,
                            offset=offset).reshape(shape)


def write(path: Path, pieces: list[Any]) -> str:
    """Whole or not at all (a temporary file renamed into place), not fsynced (see save_checkpoint); returns the
    SHA-256 of the bytes written, hashed as they are written rather than read back."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    digest = hashlib.sha256()
    try:
        if sum(memoryview(piece).nbytes for piece in pieces) <= _JOIN_BELOW:
            pieces = [b"".join(pieces)]  # one write and one hash call for a small file: fewer calls than bytes
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
        try:
            for piece in pieces:
                view = memoryview(piece).cast("B")
                digest.update(view)
                while view:
                    view = view[os.write(handle, view):]
        finally:
            os.close(handle)
        os.replace(temporary, path)
        return digest.hexdigest()
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise UsageError(f"cannot write checkpoint {path}: {exc.strerror or exc}") from None
