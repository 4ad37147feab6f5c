"""Strict JSON for everything pot reads from outside (proofs, gates, digest manifests, safetensors headers).

One reader, so every input is refused the same way: duplicate keys (a document that says two things says
nothing), the ``NaN``/``Infinity`` tokens (not JSON), trailing data, input past a size limit, and nesting deeper
than the C stack takes (some libraries raise the interpreter's recursion limit process-wide, web3 through py_ecc
to 100,000, under which json.loads would crash the process instead of raising RecursionError). Every refusal is
one :class:`pot.errors.FormatError` line naming what was read.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

from pot.errors import FormatError

MAX_RECURSION = 2000  # far deeper than any document pot reads, far shallower than the C stack allows


@contextlib.contextmanager
def bounded_recursion() -> Iterator[None]:
    previous = sys.getrecursionlimit()
    if previous > MAX_RECURSION:
        sys.setrecursionlimit(MAX_RECURSION)
    try:
        yield
    finally:
        if previous > MAX_RECURSION:
            sys.setrecursionlimit(previous)


def loads(data: str | bytes, what: str, *, max_bytes: int | None = None) -> Any:
    """Parse ``data`` as strict JSON; ``what`` names it in the error ("proof", "gate" ...)."""
    if max_bytes is not None and len(data) > max_bytes:
        raise FormatError(f"{what} is {len(data)} bytes, over the {max_bytes}-byte limit")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormatError(f"{what} is not UTF-8 text (byte {exc.start})") from None

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(pairs)  # built in C; a shorter dict means a key came twice
        if len(out) != len(pairs):
            seen: set[str] = set()
            key = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
            raise FormatError(f"{what} has a duplicate key {key!r}")
        return out

    def no_constants(name: str) -> Any:
        raise FormatError(f"{what} contains {name}, which is not JSON")

    try:
        with bounded_recursion():
            return json.loads(data, object_pairs_hook=no_duplicates, parse_constant=no_constants)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":
            raise FormatError(f"{what} has trailing data after the JSON document (line {exc.lineno}, "
                              f"column {exc.colno})") from None
        raise FormatError(f"{what} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise FormatError(f"{what} is nested too deeply") from None
