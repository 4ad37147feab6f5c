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

import json
import math
import os
import sys
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

__all__ = ["MAGIC", "decode", "encode"]


def _raw(tensor: torch.Tensor) -> bytes | memoryview:
    data = tensor.detach()
    if data.device.type != "cpu" or not data.is_contiguous() or data.is_conj() or data.is_neg():
        data = data.resolve_conj().resolve_neg().contiguous().cpu()
    if data.numel() == 0:
        return b""
    return data.reshape(-1).view(torch.uint8).numpy().data


def encode(state: Any) -> list[bytes | memoryview]:
    """The file's bytes, in pieces (written and hashed without joining them)."""
    if sys.byteorder == "big":
        raise UsageError("replay checkpoints are written on little-endian machines only")
    tensors: list[dict[str, Any]] = []
    pieces: list[bytes | memoryview] = []
    offset = 0

    def node(value: Any, depth: int) -> dict[str, Any]:
        nonlocal offset
        if depth > MAX_DEPTH:
            raise UsageError(f"a checkpoint state is nested more than {MAX_DEPTH} levels")
        if isinstance(value, torch.Tensor):
            raw = _raw(value)
            length = len(raw) if isinstance(raw, bytes) else raw.nbytes
            tensors.append({"dtype": tensor_dtype(value), "shape": list(value.shape), "offset": offset,
                            "length": length})
            pieces.append(raw)
            offset += length
            return {"t": len(tensors) - 1}
        if isinstance(value, Mapping):
            for key in value:
                if not isinstance(key, str | int) or isinstance(key, bool):
                    raise UsageError(f"a checkpoint state's keys are strings or integers, not {type(key).__name__}")
            return {"d": [[key, node(item, depth + 1)] for key, item in value.items()]}
        if isinstance(value, list | tuple):
            return {"u" if isinstance(value, tuple) else "l": [node(item, depth + 1) for item in value]}
        if value is None or isinstance(value, bool | int | float | str):
            return {"v": value}
        raise UsageError(f"a checkpoint state cannot hold a {type(value).__name__}")

    tree = node(state, 0)
    header = json.dumps({"tree": tree, "tensors": tensors}, separators=(",", ":")).encode("utf-8")
    return [MAGIC, len(header).to_bytes(8, "little"), header, *pieces]


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


def write(path: Path, pieces: list[bytes | memoryview]) -> None:
    """Whole or not at all (a temporary file renamed into place), not fsynced (see save_checkpoint)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as handle:
            for piece in pieces:
                handle.write(piece)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise UsageError(f"cannot write checkpoint {path}: {exc.strerror or exc}") from None
