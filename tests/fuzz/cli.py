"""Running ``pot`` in-process against a real store, and an independent reading of a JSON argument.

:func:`run` calls :func:`pot.cli.main` as the ``pot`` command does and returns its exit code and output. It fails
the calling test if anything escapes ``main`` (it must turn every error into an exit code), and it sets
``POT_DEBUG`` so that an internal error (exit 70) raises with its traceback instead of hiding where it came from.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pot.cli import main

DOCUMENTED_EXIT_CODES = {0, 1, 2, 3}
# C0 controls and DEL (newline and tab excepted), CSI and the bidirectional and zero-width controls: printed raw to a
# terminal they recolour, retitle or reorder what a person reads.
UNSAFE_OUTPUT = re.compile("[\x00-\x08\x0b-\x1f\x7f\x9b\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


@contextlib.contextmanager
def clean_environment() -> Iterator[None]:
    """No passphrase, no POT_HOME and no chain settings from the machine: every store is named by --store."""
    names = ("POT_HOME", "POT_KEY_PASSPHRASE", "POT_KEY_FILE", "RPC_URL", "PRIVATE_KEY", "CONTRACT_ADDRESS",
             "POT_DEBUG")
    saved = {name: os.environ.pop(name) for name in names if name in os.environ}
    try:
        yield
    finally:
        for name in names:
            os.environ.pop(name, None)
        os.environ.update(saved)


def run(store: Path, *argv: str) -> Result:
    """``pot --store STORE ARGV...`` in this process. Exceptions propagate: main() must never raise."""
    out, err = io.StringIO(), io.StringIO()
    with clean_environment(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        os.environ["POT_DEBUG"] = "1"  # an internal error raises here, with its traceback, instead of exit 70
        code = main(["--store", str(store), *argv])
    return Result(code, out.getvalue(), err.getvalue())


def make_store(store: Path, model_id: str = "m") -> None:
    """A store made by ``pot init``, with a checkpoint and a validation of ``model_id``."""
    for argv in (["init"],
                 ["checkpoint", "--model-hash", "h0", "--epoch", "0", "--metrics", '{"loss": 0.5}', "--model-id",
                  model_id],
                 ["validate", "--model-hash", "h0", "--validator", "holdout", "--result",
                  '{"accuracy": 0.9, "f1": 0.8, "loss": 0.1}', "--model-id", model_id]):
        result = run(store, *argv)
        assert result.code == 0, (argv, result)


# --- an independent reading of a JSON argument: what should make pot refuse it ------------------------------------

MAX_DEPTH = 500  # the bound: JSON nested 500 deep or more in an argument must be refused


def hostile_reason(text: str) -> str | None:
    """Why a JSON argument must be refused even though Python's json module reads it, or None.

    A duplicate key (the document says two things), a number that overflows to infinity (1e400), an integer beyond
    what int() converts by default (4,300 digits) or beyond 2**53 (JSON carries it inexactly), or nesting 500 deep.
    """
    reasons: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys):
            reasons.append("a duplicate key")
        return dict(items)

    def number(token: str) -> float:
        value = float(token)
        if value in (float("inf"), float("-inf")):
            reasons.append(f"{token} overflows to infinity")
        return value

    def integer(token: str) -> int:
        if len(token.lstrip("-")) > 4300:
            reasons.append("an integer of more than 4,300 digits")
            return 0
        value = int(token)
        if abs(value) > 2**53 - 1:
            reasons.append("an integer beyond 2**53-1")
        return value

    try:
        value = json.loads(text, object_pairs_hook=pairs, parse_float=number, parse_int=integer,
                           parse_constant=float)
    except RecursionError:
        return f"nesting deeper than {MAX_DEPTH}"
    except ValueError:
        return None  # not JSON at all: pot refuses it anyway (exit 2), and says so
    if depth(value) >= MAX_DEPTH:
        reasons.append(f"nesting {MAX_DEPTH} deep or more")
    return "; ".join(reasons) or None


def depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


# --- arguments written compactly in data files ------------------------------------------------------------------


def expand(argument: str | dict[str, Any]) -> str:
    """A command-line argument from a data file: a string, or ``{"concat": [part, ...]}`` where a part is a string,
    ``{"repeat": s, "times": n}``, or ``{"bytes_hex": h}`` (bytes the way Python gives them in sys.argv when they
    are not UTF-8: os.fsdecode, with surrogate escapes)."""
    if isinstance(argument, str):
        return argument
    if "bytes_hex" in argument:
        return os.fsdecode(bytes.fromhex(argument["bytes_hex"]))
    if "repeat" in argument:
        return str(argument["repeat"]) * int(argument["times"])
    return "".join(expand(part) for part in argument["concat"])


def expand_all(arguments: Sequence[str | dict[str, Any]]) -> list[str]:
    return [expand(a) for a in arguments]
