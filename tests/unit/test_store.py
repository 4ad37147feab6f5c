"""The SQLite store: append-only, WAL, clear errors, nothing lost on bad input."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pot import ProvenanceRecorder
from pot.errors import StoreError, UsageError
from pot.log.records import TrainingCheckpoint
from pot.log.store import Store

from .conftest import digest


def _append(store: Store, model_id: str, epoch: int) -> TrainingCheckpoint:
    record = store.append(model_id, lambda seq, _last: TrainingCheckpoint.create(
        model_id=model_id, seq=seq, timestamp="2026-11-22T12:00:00.000000Z", model_hash=digest(epoch), epoch=epoch,
        metrics={}, fingerprint_hash=None, validation_hash=None))
    assert isinstance(record, TrainingCheckpoint)
    return record


def test_store_uses_wal_and_ignores_itself_in_git(store_dir: Path) -> None:
    store = Store(store_dir, create=True)
    mode = sqlite3.connect(store.db_path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    assert (store_dir / ".gitignore").read_text().strip().endswith("*")


def test_seq_counts_up_per_model(store_dir: Path) -> None:
    store = Store(store_dir, create=True)
    assert [_append(store, "a", i).seq for i in range(3)] == [0, 1, 2]
    assert _append(store, "b", 0).seq == 0
    assert store.size("a") == 3 and store.models() == ["a", "b"]
    assert [r.epoch for r in store.records("a")] == [0, 1, 2]  # type: ignore[attr-defined]


@pytest.mark.parametrize("statement", [
    "UPDATE records SET body = '{}'", "DELETE FROM records", "UPDATE heads SET signature = 'x'",
    "DELETE FROM heads", "DELETE FROM anchors",
])
def test_rows_cannot_be_changed_or_deleted(recorder: ProvenanceRecorder, statement: str) -> None:
    recorder.record_training_checkpoint(model_hash=digest(1), metrics={}, epoch=0, model_id="m")
    recorder.flush()
    conn = sqlite3.connect(recorder.store.db_path, isolation_level=None)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(statement)
    finally:
        conn.close()


def test_missing_store_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no pot store at .*run `pot init`"):
        Store(tmp_path / "nowhere")


def test_corrupt_store_is_a_clear_error(store_dir: Path) -> None:
    store_dir.mkdir()
    (store_dir / "pot.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="corrupt|not a pot store"):
        Store(store_dir)


def test_newer_schema_is_refused(store_dir: Path) -> None:
    Store(store_dir, create=True).close()
    conn = sqlite3.connect(store_dir / "pot.db")
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', '99')")
    conn.commit()
    with pytest.raises(StoreError, match="newer pot"):
        Store(store_dir)


def test_bad_record_leaves_store_untouched(recorder: ProvenanceRecorder) -> None:
    first = recorder.record_training_checkpoint(model_hash=digest(1), metrics={"loss": 1.0}, epoch=0, model_id="m")
    with pytest.raises(Exception, match="epoch must be >= 0"):
        recorder.record_training_checkpoint(model_hash=digest(1), metrics={}, epoch=-1, model_id="m")
    with pytest.raises(Exception, match="metrics.loss must be a number"):
        recorder.record_training_checkpoint(model_hash=digest(1), metrics={"loss": "bad"}, epoch=1, model_id="m")
    assert [r.record_id for r in recorder.store.records("m")] == [first]


def test_unknown_model_id(recorder: ProvenanceRecorder) -> None:
    recorder.record_training_checkpoint(model_hash=digest(1), metrics={}, epoch=0, model_id="known")
    with pytest.raises(UsageError, match="unknown model id 'other'; known: known"):
        recorder.generate_proof_of_training("other")
