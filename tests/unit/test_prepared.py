"""The recorder's one-pass path gives exactly what the general path gives: the same record, text and id, or a
refusal (it hands anything unusual to the general path, which then decides)."""

from __future__ import annotations

import hashlib
import math
from typing import Any

import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pot.errors import FormatError
from pot.log.prepared import PreparedRecord, _prepare_plain, _read_plain
from pot.log.records import Record, TrainingCheckpoint, ValidationRecord, leaf_hash

# Mostly what a training loop records (the one-pass path's business), and now and then something it must hand on.
GOOD_NAMES = st.sampled_from(["loss", "acc", "m", "validator", "é", "名前", "\U0001f600x", "x" * 256])
NAMES = st.one_of(GOOD_NAMES, GOOD_NAMES, GOOD_NAMES,
                  st.sampled_from(["a\u200bb", "", "x" * 257, "a\x1b", "\ud800"]), st.text(min_size=0, max_size=12))
GOOD_NUMBERS = st.one_of(st.floats(-1e30, 1e30), st.sampled_from([0, 1, -0.0, 1e-7, 1e21, 2**53 - 1, 0.5, 1.0]))
NUMBERS = st.one_of(GOOD_NUMBERS, GOOD_NUMBERS, GOOD_NUMBERS, st.floats(allow_nan=True, allow_infinity=True),
                    st.integers(-(2**60), 2**60), st.sampled_from([2**53, True]))
TIMESTAMPS = st.sampled_from(["2026-11-30T12:00:00.000000Z", "1999-12-31T23:59:59.999999Z",
                              "2026-02-30T00:00:00.000000Z", "2026-11-30T12:00:00Z", "2026-11-30T12:00:00.000001Z"])


def good_values(kind: type[Record]) -> st.SearchStrategy[dict[str, Any]]:
    common: dict[str, Any] = {
        "model_id": GOOD_NAMES, "seq": st.just(0), "timestamp": st.just("2026-11-30T12:00:00.000001Z"),
        "salt": st.one_of(st.none(), st.just("0" * 32)), "rank": st.one_of(st.none(), st.integers(0, 3)),
        "node_id": st.one_of(st.none(), GOOD_NAMES), "lamport": st.one_of(st.none(), st.integers(1, 3)),
        "run_id": st.one_of(st.none(), GOOD_NAMES),
    }
    if kind is TrainingCheckpoint:
        specific: dict[str, Any] = {
            "model_hash": GOOD_NAMES, "epoch": st.integers(0, 10),
            "metrics": st.dictionaries(GOOD_NAMES, GOOD_NUMBERS, max_size=4),
            "fingerprint_hash": st.one_of(st.none(), GOOD_NAMES), "validation_hash": st.one_of(st.none(), GOOD_NAMES),
            "step": st.one_of(st.none(), st.integers(0, 5)), "file_sha256": st.none(), "file_name": st.none(),
        }
    else:
        specific = {
            "model_hash": GOOD_NAMES, "validator_id": GOOD_NAMES,
            "validation_result": st.dictionaries(st.text(max_size=6), st.one_of(GOOD_NUMBERS, st.text(max_size=4),
                                                                                st.none(), st.booleans()), max_size=3),
            "confidence_score": st.one_of(st.none(), st.floats(0, 1)),
            "challenge_hash": st.one_of(st.none(), GOOD_NAMES),
        }
    return st.fixed_dictionaries({**common, **specific})


ODD: dict[str, st.SearchStrategy[Any]] = {
    "model_id": NAMES, "timestamp": TIMESTAMPS, "salt": st.sampled_from(["A" * 32, "0" * 31, 5]),
    "rank": st.sampled_from([-1, 1.0, True]), "node_id": NAMES, "lamport": st.sampled_from([0, -1, 1.0, 2**60]),
    "run_id": NAMES, "model_hash": NAMES, "epoch": st.sampled_from([-1, 1.0, 2**60, None]),
    "metrics": st.dictionaries(NAMES, NUMBERS, max_size=4), "fingerprint_hash": NAMES,
    "step": st.sampled_from([-1, 2.0]),
    "file_sha256": st.sampled_from(["ab" * 32, "AB" * 32]), "file_name": st.sampled_from(["w.bin", "a/b", ".."]),
    "validator_id": NAMES, "confidence_score": NUMBERS, "challenge_hash": NAMES,
    "validation_result": st.dictionaries(NAMES, st.one_of(NUMBERS, st.text(max_size=4), st.none(),
                                                          st.lists(st.integers(), max_size=2)), max_size=3),
}


def values(kind: type[Record]) -> st.SearchStrategy[dict[str, Any]]:
    """Good values, half of the time with one field made odd."""
    @st.composite
    def make(draw: st.DrawFn) -> dict[str, Any]:
        made = draw(good_values(kind))
        if draw(st.booleans()):
            field = draw(st.sampled_from(sorted(set(made) & set(ODD))))
            made[field] = draw(ODD[field])
        return made
    return make()


def stamp(given_values: dict[str, Any]) -> int | None:
    """The Lamport stamp a store fills in: one when the record is stamped."""
    return 9 if given_values["lamport"] is not None else None


def general(kind: type[Record], given_values: dict[str, Any]) -> tuple[str, str] | None:
    try:
        done = PreparedRecord(kind, kind.check_values(**given_values)).complete(7, stamp(given_values))
        record, text = done.record(), done.text
    except FormatError:
        return None
    return record.record_id, text


@pytest.mark.parametrize("kind", [TrainingCheckpoint, ValidationRecord])
def test_the_one_pass_path_agrees_with_the_general_path(kind: type[Record]) -> None:
    taken = []

    @settings(max_examples=600, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(values(kind))
    def agree(given_values: dict[str, Any]) -> None:
        expected = general(kind, given_values)
        fast = _prepare_plain(kind, given_values)
        if fast is not None:  # it took the values: it must be what the general path makes of them
            taken.append(1)
            done = fast.complete(7, stamp(given_values))
            record, text = done.record(), done.text
            assert expected is not None, given_values
            assert (record.record_id, text) == expected
            assert text.encode() == rfc8785.dumps(record.body())  # and RFC 8785 itself
            assert record.record_id == hashlib.sha256(b"\x00" + text.encode()).hexdigest()
        prepared = kind.prepare_new(given_values) if expected is not None else None
        if prepared is not None:
            assert prepared.complete(7, stamp(given_values)).record_id == expected[0]  # type: ignore[index]

    agree()
    assert len(taken) > 50  # the comparison ran on the one-pass path, not only on values it handed on


def test_the_one_pass_path_takes_what_a_training_loop_records() -> None:
    made = {"model_id": "m", "seq": 0, "timestamp": "2026-11-30T12:00:00.000000Z", "salt": "0" * 32, "rank": None,
            "node_id": "main", "lamport": 1, "run_id": None, "model_hash": "ab" * 32, "epoch": 3,
            "metrics": {"loss": 0.25, "acc": 1e-7, "lr": 3.0}, "fingerprint_hash": None, "validation_hash": None,
            "step": 30, "file_sha256": None, "file_name": None}
    TrainingCheckpoint.check_values(**made)  # the names are now known valid, as after a run's first record
    assert _prepare_plain(TrainingCheckpoint, made) is not None
    assert _prepare_plain(TrainingCheckpoint, {**made, "metrics": {"loss": math.nan}}) is None  # general path


def test_a_double_that_canonical_json_spells_in_digits_reads_back(tmp_path: Any) -> None:
    # RFC 8785 writes 3.4e16 and 1e20 in plain digits; read back, those digits are integers beyond 2**53-1, which
    # no record may hold. The store keeps such a body in a spelling that reads back as the same doubles (found by
    # the CLI fuzzer: `pot validate` stored the record, then every read of the store called it corrupt).
    from pot import ProvenanceConfig, ProvenanceRecorder, verify_proof

    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp_path / "store")))
    recorder.record_validation(model_hash="h", validator_id="v", model_id="m",
                               validation_result={"a": 3.426957717950155e16, "b": 1e20, "n": 12})
    (record,) = recorder.store.records("m")
    assert isinstance(record, ValidationRecord) and record.validation_result == {"a": 3.426957717950155e16,
                                                                                 "b": 1e20, "n": 12}
    verify_proof(recorder.generate_proof_of_training("m"), trusted_key=recorder.public_key)
    recorder.close()


@pytest.mark.parametrize("kind", [TrainingCheckpoint, ValidationRecord])
def test_reading_a_body_in_one_pass_agrees_with_the_general_path(kind: type[Record]) -> None:
    """What a verifier reads from a proof: a body parsed from JSON, with its type and seq, and maybe off."""
    taken = []
    # A field left out of the body: an optional one (absent is its only spelling) or one that is always present
    # (null allowed, absence malformed); None leaves every field in.
    dropped = st.sampled_from([None, *kind.FIELDS])

    @settings(max_examples=600, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(values(kind), st.sampled_from([0, 7, -1, 2**53, 1.0, None]), st.booleans(), st.booleans(), dropped)
    def agree(given_values: dict[str, Any], seq: Any, wrong_type: bool, keep_nulls: bool, drop: str | None) -> None:
        body = {"type": "validation" if wrong_type == (kind is TrainingCheckpoint) else kind.KIND,
                **{k: v for k, v in given_values.items()
                   if (v is not None or keep_nulls or not kind.FIELDS[k].omit_if_none) and k != drop},
                "seq": seq}
        try:
            values = kind._check_body(body)
            expected: Record | None = kind(**values, **{kind.ID_FIELD: leaf_hash(body).hex()})
        except (FormatError, TypeError):
            expected = None
        read = _read_plain(kind, body)
        if read is not None:
            taken.append(1)
            assert read == expected

    agree()
    assert len(taken) > 50
