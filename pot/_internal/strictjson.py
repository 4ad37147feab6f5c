"""Strict JSON for everything pot reads from outside (proofs, gates, digest manifests, safetensors headers).

One reader, so every input is refused the same way: duplicate keys (a document that says two things says
nothing), the ``NaN``/``Infinity`` tokens (not JSON), numbers a double cannot hold (``1e400`` would silently
become infinity, ``1e-400`` zero, and an integer of thousands of digits costs quadratic time to read), trailing
data, input past a size limit, and nesting deeper than the C stack takes (some libraries raise the interpreter's
recursion limit process-wide, web3 through py_ecc to 100,000, under which json.loads would crash the process
instead of raising RecursionError). Every refusal is one :class:`pot.errors.FormatError` line naming what was
read. How deep a value may nest inside a proof is the format's rule (``pot.log.canonical.MAX_DEPTH``), checked
where values are normalised.
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

    def finite_float(text: str) -> float:
        value = float(text)
        if value - value != 0.0:  # inf - inf is nan
            raise FormatError(f"{what} has the number {_clip(text)}, too large for a double")
        if value == 0.0 and any(c in "123456789" for c in text.partition("e")[0].partition("E")[0]):
            raise FormatError(f"{what} has the number {_clip(text)}, too small for a double (it would read as 0)")
        return value

    try:
        with bounded_recursion():
            return json.loads(data, object_pairs_hook=no_duplicates, parse_constant=no_constants,
                              parse_float=finite_float)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":
            raise FormatError(f"{what} has trailing data after the JSON document (line {exc.lineno}, "
                              f"column {exc.colno})") from None
        raise FormatError(f"{what} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise FormatError(f"{what} is nested too deeply") from None
    except ValueError:
        # Python refuses to convert an integer of more than 4,300 digits (sys.int_info.str_digits_check_threshold);
        # shorter ones beyond +-(2**53-1) are refused where the value is checked.
        raise FormatError(f"{what} has an integer of thousands of digits; JSON numbers pot reads are within "
                          "+-(2**53-1)") from None


def _clip(text: str) -> str:
    return text if len(text) <= 24 else f"{text[:12]}...{text[-8:]}"
