"""Fuzzing the proof parser and verifier with structural mutations of real proofs.

Properties, for every mutant:
- parsing and verifying raise nothing but pot's own errors (PotError and its subclasses), and no check of the
  verifier fails because the input broke it (the verifier reports that as a failed check, "the proof broke this
  check (...)": fail closed, but the check did not run);
- nothing hangs;
- a mutant whose content differs from the original as JSON does not verify ("changing any value in the document
  fails verification").
Both the serialised text (``ProvenanceProof.from_json(bytes)``) and the parsed document (``from_json(mapping)``)
go in: the text path adds what only text can hold (huge integers, 1e400, deep nesting, bytes that are not UTF-8,
duplicate keys); the mapping path adds what only Python can hold (integers past 4,300 digits, NaN floats, nesting
built without a parser's depth limit).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar

from hypothesis import given, note
from hypothesis import strategies as st

from .conftest import fuzz_settings
from .corpus import Proofs
from .mutate import (
    Mutant,
    iter_leaves,
    json_equal,
    mutate_once,
    outcome,
    reread,
    set_value,
    show,
    text_mutation,
)

T = TypeVar("T")


def chooser(data: st.DataObject) -> Any:
    """Draw an index rather than the option itself: options can be megabytes or nested 1,000 deep, and hypothesis
    prints what it draws."""
    def choose(options: Sequence[T], label: str) -> T:
        return options[data.draw(st.integers(0, len(options) - 1), label=label)]
    return choose


@fuzz_settings(examples=500)
@given(data=st.data())
def test_mutated_proof_text_is_refused_with_a_pot_error(proofs: Proofs, data: st.DataObject) -> None:
    choose = chooser(data)
    name = choose(proofs.names(), "proof")
    original = json.loads(proofs.texts[name])
    mutant = Mutant(original)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        mutate_once(mutant, choose, raw=True)
    if data.draw(st.integers(0, 9), label="text edit?") == 0:
        text_mutation(mutant, choose)
    note(f"{name}: {mutant.description}")
    text = mutant.serialise()
    result = outcome(text)
    if result.verified:
        assert json_equal(reread(text), original), f"{name} still verifies after: {mutant.description}"


@fuzz_settings(examples=400)
@given(data=st.data())
def test_mutated_proof_document_is_refused_with_a_pot_error(proofs: Proofs, data: st.DataObject) -> None:
    choose = chooser(data)
    name = choose(proofs.names(), "proof")
    original = json.loads(proofs.texts[name])
    mutant = Mutant(original)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        mutate_once(mutant, choose, raw=False)
    note(f"{name}: {mutant.description}")
    result = outcome(mutant.document)
    if result.verified:
        assert json_equal(mutant.document, original), f"{name} still verifies after: {mutant.description}"


# --- exhaustive: spellings that canonical JSON or bytes.fromhex would make equal ----------------------------------

# Fields the format types as integers (docs/PROOF_FORMAT.md), by key, wherever they are; and the arrays of them.
# Free-form objects (config, environment, validation results, gates and decisions) may hold any number.
INTEGER_KEYS = {"seq", "epoch", "step", "rank", "lamport", "tree_size", "index", "chain_id", "block_number",
                "block_time", "log_index", "size", "record_count", "training_checkpoints", "validations",
                "tree_heads", "log_size", "steps_records", "event_records"}
INTEGER_ARRAYS = {"steps", "epochs"}
FREE_FORM = {"config", "environment", "validation_result", "metrics", "gate", "decision", "inputs"}


def integer_typed(path: tuple[Any, ...], value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int) or FREE_FORM & {p for p in path if isinstance(p, str)}:
        return False
    last = path[-1]
    if isinstance(last, int):
        return path[-2] in INTEGER_ARRAYS
    return last in INTEGER_KEYS or path[-2] == "anchor_receipts"


def test_integer_fields_written_as_floats_are_refused(proofs: Proofs) -> None:
    """``6.0`` where the format says integer. RFC 8785 writes 6.0 as 6, so ids and signatures do not notice the
    change: only the parser can, and must (docs/PROOF_FORMAT.md: a value of the wrong type is malformed)."""
    accepted, tried = [], 0
    for name in proofs.names():
        original = json.loads(proofs.texts[name])
        for path, value in iter_leaves(original):
            if not integer_typed(path, value):
                continue
            tried += 1
            mutant = Mutant(original)
            mutant.document = set_value(original, path, float(value))
            if outcome(mutant.serialise()).verified:
                accepted.append(f"{name} {show(path)} = {float(value)}")
    assert tried > 100  # the table above still matches the documents
    assert not accepted, f"{len(accepted)} integer field(s) accepted as floats:\n" + "\n".join(accepted)


def test_hex_fields_in_another_spelling_are_refused(proofs: Proofs) -> None:
    """Upper-case or whitespace-separated hex decodes to the same bytes (bytes.fromhex takes both), but the format
    says lower-case hex: another spelling is another document, and a document with a changed value must not
    verify."""
    accepted, tried = [], 0
    for name in proofs.names():
        original = json.loads(proofs.texts[name])
        seen = set()
        for path, value in iter_leaves(original):
            if not isinstance(value, str) or len(value) < 32 or not all(c in "0123456789abcdefx" for c in value):
                continue
            pattern = tuple("*" if isinstance(step, int) else step for step in path)
            if pattern in seen:  # one of each kind per proof: records[*].id stands for every record's id
                continue
            seen.add(pattern)
            body = value[2:] if value.startswith("0x") else value
            prefix = value[: len(value) - len(body)]
            spellings = {prefix + body.upper(), prefix + " ".join(body[i:i + 2] for i in range(0, len(body), 2)),
                         value + "\n", " " + value}
            for spelling in sorted(spellings - {value}):
                tried += 1
                if outcome(set_value(original, path, spelling)).verified:
                    accepted.append(f"{name} {show(path)} = {spelling[:24]!r}...")
    assert tried > 50
    assert not accepted, f"{len(accepted)} hex spelling(s) accepted:\n" + "\n".join(accepted)

