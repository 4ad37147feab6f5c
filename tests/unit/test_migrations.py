"""Schema migrations of the SQLite store: a store written by pot before migrations existed (schema 1, kept in
tests/assets/stores/v1, made by that code) opens with today's pot, is migrated to the current schema, keeps every
record, and goes on recording; a read-only copy of it is read as it is."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from pot import ProvenanceConfig, ProvenanceRecorder, verify_proof
from pot.lineage import registry
from pot.log import migrations
from pot.log.keys import SigningKey
from pot.log.store import Store

from ..support.readonly import read_only
from .conftest import digest

V1 = Path(__file__).resolve().parents[1] / "assets" / "stores" / "v1"
KEY = SigningKey.from_seed(bytes(range(32)))  # the key the v1 store was made with


def copy_v1(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    shutil.copytree(V1, store)
    return store


def rows(store: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(store / "pot.db")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_the_asset_is_a_schema_1_store(tmp_path: Path) -> None:
    store = copy_v1(tmp_path)
    assert rows(store, "SELECT value FROM meta") == [("1",)]
    assert rows(store, "SELECT name FROM sqlite_master WHERE name = 'schema_version'") == []


def test_opening_a_schema_1_store_migrates_it_and_keeps_every_record(tmp_path: Path) -> None:
    store_dir = copy_v1(tmp_path)
    before = rows(store_dir, "SELECT model_id, seq, record_id, body FROM records ORDER BY seq")
    heads_before = rows(store_dir, "SELECT * FROM heads ORDER BY tree_size")
    with Store(store_dir) as store:  # not create: a read verb opening it migrates it too
        assert store.schema_version == migrations.SCHEMA_VERSION == 2
    assert rows(store_dir, "SELECT value FROM meta") == [("2",)]
    assert [r[0] for r in rows(store_dir, "SELECT version FROM schema_version")] == [2]  # 1 predates the history
    assert rows(store_dir, "SELECT model_id, seq, record_id, body FROM records ORDER BY seq") == before
    assert rows(store_dir, "SELECT * FROM heads ORDER BY tree_size") == heads_before
    config = ProvenanceConfig(enabled=True, store_dir=str(store_dir))
    with ProvenanceRecorder(config, key=KEY) as recorder:
        run = registry.list_runs(recorder.store)[0]
        assert run["status"] == "completed" and registry.lineage(recorder.store, run["run_id"]).ancestors(
            run["run_id"]) == [("digits", 1)]
        recorder.record_training_checkpoint(model_hash=digest(3), metrics={"loss": 0.2}, epoch=3, model_id="m")
        proof = recorder.generate_proof_of_training("m")
        assert proof is not None and len(proof.records) == len(before) + 1
        verify_proof(proof, trusted_key=KEY.public)
    with Store(store_dir) as store:  # opening again changes nothing
        assert store.schema_version == 2
    assert [r[0] for r in rows(store_dir, "SELECT version FROM schema_version")] == [2]


def test_a_read_only_schema_1_store_is_read_without_migrating(tmp_path: Path) -> None:
    store_dir = copy_v1(tmp_path)
    with read_only(store_dir), Store(store_dir) as store:
        assert store.read_only and store.schema_version == 1
        assert [r.seq for r in store.records("m")] == list(range(store.size("m")))
        assert registry.list_runs(store)[0]["status"] == "completed"
    assert rows(store_dir, "SELECT value FROM meta") == [("1",)]
