"""Records: seed field names, content-hash ids, strict bodies."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from pot.errors import FormatError
from pot.log.canonical import canonical_json
from pot.log.records import TrainingCheckpoint, ValidationRecord, leaf_hash, record_from_body

TS = "2026-11-22T12:00:00.000001Z"


def checkpoint(**changes: object) -> TrainingCheckpoint:
    values: dict[str, object] = dict(model_id="m", seq=0, timestamp=TS, model_hash="ab" * 32, epoch=1,
                                     metrics={"loss": 0.25}, fingerprint_hash=None, validation_hash=None)
    values.update(changes)
    record = TrainingCheckpoint.create(**values)
    assert isinstance(record, TrainingCheckpoint)
    return record


def test_seed_field_names_are_kept() -> None:
    names = [f.name for f in dataclasses.fields(TrainingCheckpoint)][:8]
    assert names == ["model_hash", "epoch", "metrics", "timestamp", "model_id", "checkpoint_id",
                     "fingerprint_hash", "validation_hash"]
    names = [f.name for f in dataclasses.fields(ValidationRecord)][:8]
    assert names == ["model_hash", "validator_id", "validation_result", "timestamp", "model_id", "validation_id",
                     "confidence_score", "challenge_hash"]


def test_id_is_the_rfc9162_leaf_hash_of_the_canonical_body() -> None:
    record = checkpoint()
    expected = hashlib.sha256(b"\x00" + canonical_json(record.body())).hexdigest()
    assert record.checkpoint_id == expected == leaf_hash(record.body()).hex()
    assert "checkpoint_id" not in record.body()


def test_records_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        checkpoint().epoch = 2  # type: ignore[misc]


@pytest.mark.parametrize("change", [
    {"epoch": 2}, {"metrics": {"loss": 0.26}}, {"model_hash": "cd" * 32}, {"seq": 1}, {"model_id": "n"},
    {"timestamp": "2026-11-22T12:00:00.000002Z"}, {"fingerprint_hash": "f"}, {"validation_hash": "v"},
    {"salt": "00" * 16}, {"rank": 1}, {"step": 7},
])
def test_every_field_changes_the_id(change: dict[str, object]) -> None:
    assert checkpoint(**change).checkpoint_id != checkpoint().checkpoint_id


def test_body_round_trip() -> None:
    record = checkpoint(salt="11" * 16, step=3)
    assert record_from_body(record.body()) == record
    validation = ValidationRecord.create(model_id="m", seq=1, timestamp=TS, model_hash="h", validator_id="v",
                                         validation_result={"acc": 0.9, "detail": ["a", 1]},
                                         confidence_score=0.9, challenge_hash=None)
    assert record_from_body(validation.body()) == validation


@pytest.mark.parametrize(("change", "message"), [
    ({"epoch": -1}, "epoch must be >= 0"),
    ({"epoch": True}, "epoch must be an integer"),
    ({"epoch": 1.5}, "epoch must be an integer"),
    ({"metrics": [1]}, "metrics must be a JSON object"),
    ({"metrics": {"loss": "low"}}, "metrics.loss must be a number"),
    ({"metrics": {"loss": None}}, "metrics.loss must be a number"),
    ({"model_id": ""}, "model_id must be a non-empty string"),
    ({"model_id": "a\nb"}, "control or invisible character"),
    ({"model_id": "x" * 257}, "longer than 256"),
    ({"timestamp": "2026-11-22 12:00:00"}, "not of the form"),
    ({"timestamp": "2026-13-22T12:00:00.000000Z"}, "not a real moment"),
    ({"salt": "xyz"}, "salt must be 32 lower-case hex"),
    ({"file_sha256": "ABC"}, "file_sha256 must be 64 lower-case hex"),
])
def test_bad_values_are_rejected_with_a_clear_message(change: dict[str, object], message: str) -> None:
    with pytest.raises(FormatError, match=message):
        checkpoint(**change)


def test_confidence_must_be_a_probability() -> None:
    with pytest.raises(FormatError, match=r"confidence_score must be a number in \[0, 1\]"):
        ValidationRecord.create(model_id="m", seq=0, timestamp=TS, model_hash="h", validator_id="v",
                                validation_result={}, confidence_score=1.5, challenge_hash=None)


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda b: b.update(extra=1), "unknown field"),
    (lambda b: b.pop("epoch"), "missing 'epoch'"),
    (lambda b: b.update(type="validation"), "validation record has unknown field"),
    (lambda b: b.update(type="weird"), "unknown record type"),
    (lambda b: b.update(salt=None), "may not be null"),
])
def test_bodies_are_parsed_strictly(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    body = checkpoint(salt="11" * 16).body()
    mutate(body)
    with pytest.raises(FormatError, match=message):
        record_from_body(body)


def test_non_finite_metrics_are_recorded_as_strings() -> None:
    record = checkpoint(metrics={"loss": float("nan"), "grad": float("inf")})
    assert record.metrics == {"loss": "NaN", "grad": "Infinity"}
