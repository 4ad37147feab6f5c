"""Fuzzing the CLI's JSON arguments: ``pot checkpoint --metrics``, ``pot validate --result``, ``pot promote --gate``.

Each example runs the real command in-process (pot.cli.main) against a real store: SQLite, the Ed25519 key made by
``pot init``, the local chain. Properties:
- main() raises nothing and exits with a documented code (0-3), never 70 (an internal error);
- an argument that Python's json module reads but that says something other than what it seems (a duplicate key,
  1e400, an integer of thousands of digits or past 2**53, nesting 500 deep) is refused (exit 2), not recorded;
- what was recorded shows in ``pot history`` without raw terminal control characters, and the model's proof
  still verifies (a value pot accepted must not make its own proof unverifiable).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from .cli import DOCUMENTED_EXIT_CODES, UNSAFE_OUTPUT, hostile_reason, make_store, run
from .conftest import fuzz_settings

# --- JSON text, written token by token so that it can hold what json.dumps never writes ----------------------------

NUMBER_TOKENS = ["0", "-0", "-0.0", "6.0", "1", "-1", "0.5", "1e400", "-1e400", "1e-400", "1E2", "5e-324",
                 "1.7976931348623157e308", "9007199254740991", "9007199254740993", "1" + "0" * 4300,
                 "-" + "9" * 5000, "NaN", "Infinity", "-Infinity", "0.1e1"]
numbers = st.one_of(st.sampled_from(NUMBER_TOKENS), st.integers(-(2**60), 2**60).map(str),
                    st.floats(allow_nan=False, allow_infinity=False).map(repr))
STRING_TOKENS = ['""', '"loss"', '"accuracy"', '"\\u001b[31mred"', '"\\u001b]0;title\\u0007"', '"\\u009b2J"',
                 '"\\u200b"', '"\\u202eevil"', '"\\u2066x\\u2069"', '"\\ud800"', '"\\u0000"', '"\\ufeff"',
                 '"' + "x" * 10_000 + '"', '"NaN"', '"Infinity"']
strings = st.one_of(st.sampled_from(STRING_TOKENS), st.text(max_size=12).map(json.dumps))
# A small pool of keys, so that a key written twice comes up often.
keys = st.one_of(st.sampled_from(['"loss"', '"accuracy"', '"f1"', '""', '"\\u001b[2Jloss"', '"lo\\u200bss"']),
                 st.text(max_size=6).map(json.dumps))


class Argument(str):
    """A generated argument that hypothesis prints shortened: some are megabytes, or nested 1,000 deep."""

    __slots__ = ()

    def __repr__(self) -> str:
        text = str.__repr__(self)
        return text if len(text) <= 300 else f"{text[:200]}... ({len(self)} characters)"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # what hypothesis's printer calls
        printer.text(repr(self))


def render_object(items: list[tuple[str, str]]) -> str:
    return "{" + ",".join(f"{k}:{v}" for k, v in items) + "}"


scalars = st.one_of(numbers, numbers, strings, st.sampled_from(["true", "false", "null"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3).map(lambda xs: "[" + ",".join(xs) + "]"),
    st.lists(st.tuples(keys, inner), max_size=3).map(render_object)), max_leaves=8)
deep = st.sampled_from([200, 499, 500, 985, 1000]).flatmap(lambda n: st.sampled_from([
    '{"loss": ' + "[" * n + "]" * n + "}", '{"a": ' + '{"a": ' * n + "1" + "}" * n + "}"]))
objects = st.lists(st.tuples(keys, st.one_of(numbers, numbers, numbers, values)), max_size=5).map(render_object)
json_arguments = st.one_of(objects, objects, objects, deep, values, st.text(max_size=20)).map(Argument)

OPERATORS = ['">="', '">"', '"<="', '"<"', '"=="', '"!="', '"=>"', '""']
METRICS = ['"accuracy"', '"f1"', '"loss"', '"missing"', '""', '"\\u200baccuracy"', '"\\u001b[2J"']
thresholds = st.lists(st.tuples(st.sampled_from(METRICS), st.lists(
    st.tuples(st.sampled_from(OPERATORS), numbers), max_size=3).map(render_object)), max_size=3).map(render_object)
weights = st.lists(st.tuples(st.sampled_from(METRICS), numbers), max_size=3).map(render_object)
gate_items = st.lists(st.one_of(
    st.tuples(st.just('"thresholds"'), st.one_of(thresholds, thresholds, values)),
    st.tuples(st.just('"weights"'), st.one_of(weights, weights, values)),
    st.tuples(st.just('"min_score"'), st.one_of(numbers, values)),
    st.tuples(keys, values)), min_size=1, max_size=4)
gates = st.one_of(gate_items.map(render_object), gate_items.map(render_object), deep, values).map(Argument)

_models = itertools.count()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli-fuzz") / "store"
    make_store(path)
    return path


def check_exit(argv: list[str], code: int, allowed: set[int], argument: str) -> None:
    assert code in DOCUMENTED_EXIT_CODES & allowed, f"exit {code} for {argv[0]} {argument[:200]!r}"
    reason = hostile_reason(argument)
    if reason is not None:
        assert code == 2, f"{argv[0]} accepted an argument with {reason} (exit {code}): {argument[:200]!r}"


def check_recorded(store: Path, model_id: str) -> None:
    """What a command recorded: shown without raw control characters, and the model's proof still verifies."""
    history = run(store, "history", "--model-id", model_id)
    assert history.code == 0, history
    unsafe = UNSAFE_OUTPUT.search(history.out)
    assert unsafe is None, f"pot history prints {unsafe.group()!r} raw: {history.out[-300:]!r}"
    proof_file = store.parent / f"{model_id}.proof.json"
    assert run(store, "proof", "--model-id", model_id, "--output", str(proof_file)).code == 0
    verified = run(store, "verify", "--proof", str(proof_file))
    assert verified.code == 0, f"pot verify fails on what pot recorded: {verified.out[-300:]}"


@fuzz_settings(examples=60)
@given(metrics=json_arguments)
def test_checkpoint_metrics(store: Path, metrics: str) -> None:
    model_id = f"ckpt-{next(_models)}"
    argv = ["checkpoint", "--model-hash", "h", "--epoch", "0", "--metrics", str(metrics), "--model-id", model_id]
    result = run(store, *argv)
    check_exit(argv, result.code, {0, 2}, metrics)
    if result.code == 0:
        check_recorded(store, model_id)


@fuzz_settings(examples=60)
@given(outcome=json_arguments)
def test_validate_result(store: Path, outcome: str) -> None:
    model_id = f"val-{next(_models)}"
    argv = ["validate", "--model-hash", "h", "--validator", "v", "--result", str(outcome), "--model-id", model_id]
    result = run(store, *argv)
    check_exit(argv, result.code, {0, 2}, outcome)
    if result.code == 0:
        check_recorded(store, model_id)


@fuzz_settings(examples=60)
@given(gate=gates)
def test_promote_gate(store: Path, gate: str) -> None:
    model_id = f"gate-{next(_models)}"
    validation = run(store, "validate", "--model-hash", "h", "--validator", "v", "--result",
                     '{"accuracy": 0.9, "f1": 0.8, "loss": 0.1}', "--model-id", model_id)
    assert validation.code == 0, validation
    argv = ["promote", "--model-id", model_id, "--stage", "production", "--gate", str(gate)]
    result = run(store, *argv)
    check_exit(argv, result.code, {0, 1, 2}, gate)
    if result.code in (0, 1):  # promoted, or refused by the gate: either way an event was recorded
        check_recorded(store, model_id)
