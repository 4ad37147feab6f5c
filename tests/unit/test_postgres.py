"""The PostgreSQL store against a real server: serialised appends from several processes, a server restart in the
middle of a run, append-only rows, schema migrations, and connection errors in one line without the password."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pot import ProvenanceProof, ProvenanceRecorder, verify_proof
from pot.errors import StoreError, UsageError
from pot.log import migrations
from pot.log.merkle import Frontier
from pot.log.postgres import PostgresStore, lock_key, pyformat
from pot.log.store import open_store, shown_url

from ..conftest import StoreTarget
from ..support.postgres import PostgresServer
from .conftest import digest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.postgres


# --- no server needed -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("sql", "expected"), [
    ("SELECT ? FROM t WHERE a = ?", "SELECT %s FROM t WHERE a = %s"),
    ("SELECT :start UNION SELECT x FROM t WHERE y = :start",
     "SELECT %(start)s UNION SELECT x FROM t WHERE y = %(start)s"),
    ("SELECT 'a ? b :c %' , \"col?\" FROM t WHERE x LIKE ?", "SELECT 'a ? b :c %%' , \"col?\" FROM t WHERE x LIKE %s"),
    ("SELECT x::float8 % 2", "SELECT x::float8 %% 2"),
    ("SELECT 'it''s ?'", "SELECT 'it''s ?'"),
])
def test_the_common_dialect_becomes_psycopg_parameters(sql: str, expected: str) -> None:
    assert pyformat(sql) == expected


def test_advisory_lock_keys_are_stable_signed_64_bit_and_per_name() -> None:
    key = lock_key("log", "m")
    assert key == lock_key("log", "m") and -(2**63) <= key < 2**63
    assert len({lock_key("log", f"m{i}") for i in range(1000)}) == 1000 and lock_key("setting", "m") != key


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://alice:s3cret@db.example:5433/pot", "postgresql://alice@db.example:5433/pot"),
    ("postgres://alice:s3cret@db/pot?sslmode=require&password=s3cret", "postgres://alice@db/pot"),
    ("postgresql://db/pot", "postgresql://db/pot"),
    ("postgresql://alice:s3cret@[::1]:5432/pot", "postgresql://alice@[::1]:5432/pot"),
    ("postgresql://alice:s3cret@db:99999999/pot", "postgresql://(a URL that does not parse)"),
])
def test_a_database_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert shown_url(url) == shown and "s3cret" not in shown_url(url)


def test_a_config_never_shows_the_password(tmp_path: Path) -> None:
    target = StoreTarget(tmp_path, "postgresql://alice:s3cret@db/pot")
    assert "s3cret" not in repr(target.config()) and "postgresql://alice@db/pot" in repr(target.config())


def test_a_url_of_another_scheme_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="must be a postgresql:// URL"):
        open_store("mysql://alice:s3cret@db/pot", root=tmp_path)


def test_both_backends_are_at_the_same_schema_version() -> None:
    assert [m.version for m in migrations.SQLITE] == [m.version for m in migrations.POSTGRES] == [1, 2]
    assert migrations.SCHEMA_VERSION == 2


# --- a server ---------------------------------------------------------------------------------------------------


def pot(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("POT_")}
    return subprocess.run([sys.executable, "-m", "pot.cli", *argv], cwd=ROOT, capture_output=True, text=True,
                          env={**environ, **(env or {})}, timeout=120)


def one_line(result: subprocess.CompletedProcess[str], *, hidden: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert hidden not in result.stdout + result.stderr
    return lines[0]


def test_connection_errors_are_one_line_exit_3_and_never_show_the_password(
        postgres_server: PostgresServer, postgres_url: str, tmp_path: Path) -> None:
    secret = postgres_server.password
    store = ["--store", str(tmp_path / "local")]
    wrong = postgres_server.url("postgres", password="wrong-" + secret)
    result = pot(*store, "--database", wrong, "history")
    line = one_line(result, hidden="wrong-" + secret)
    assert result.returncode == 3 and "password authentication failed" in line
    assert f"postgresql://postgres@127.0.0.1:{postgres_server.port}/postgres" in line

    missing = postgres_server.url("no_such_database")
    result = pot(*store, "--database", missing, "runs", "list")
    assert result.returncode == 3 and "does not exist" in one_line(result, hidden=secret)

    closed = f"postgresql://postgres:{secret}@127.0.0.1:1/pot"
    result = pot(*store, "--database", closed, "checkpoint", "--model-hash", "h", "--epoch", "0", "--metrics", "{}",
                 "--model-id", "m")
    assert result.returncode == 3 and "cannot open the PostgreSQL store at postgresql://postgres@127.0.0.1:1/pot" \
        in one_line(result, hidden=secret)

    result = pot(*store, "--database", f"postgresql://postgres:{secret}@127.0.0.1:{postgres_server.port}/x?bad=1",
                 "history")
    assert result.returncode == 2 and "is not valid" in one_line(result, hidden=secret)

    result = pot(*store, "history", env={"POT_DATABASE_URL": postgres_url})  # the variable chooses it too
    assert result.returncode == 3 and "holds no pot store yet; run `pot init`" in one_line(result, hidden=secret)
    result = pot(*store, "init", env={"POT_DATABASE_URL": postgres_url})
    assert result.returncode == 0 and secret not in result.stdout + result.stderr
    assert "store ready at postgresql://postgres@" in result.stdout


def test_rows_cannot_be_changed_deleted_or_truncated(postgres_url: str, tmp_path: Path) -> None:
    with ProvenanceRecorder(StoreTarget(tmp_path, postgres_url).config()) as recorder:
        recorder.record_training_checkpoint(model_hash=digest(1), metrics={}, epoch=0, model_id="m")
        recorder.flush()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for statement in ("UPDATE records SET body = '{}'", "DELETE FROM records", "TRUNCATE records",
                          "UPDATE heads SET signature = 'x'", "DELETE FROM heads", "DELETE FROM anchors",
                          "TRUNCATE anchors CASCADE"):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(statement)
        assert conn.execute("SELECT COUNT(*) FROM records").fetchone() == (1,)


def test_a_database_holding_someone_elses_records_table_is_not_taken_over(postgres_url: str,
                                                                          tmp_path: Path) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE records (name TEXT)")
    with pytest.raises(StoreError, match="not a pot store's"):
        open_store(postgres_url, root=tmp_path, create=True)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('schema_version')").fetchone() == (None,)


def test_a_store_at_schema_1_is_migrated_and_a_newer_one_refused(postgres_url: str, tmp_path: Path) -> None:
    # schema 1 as a pot of that version left it: step 1 applied and recorded, nothing else
    with psycopg.connect(postgres_url, autocommit=True) as conn, conn.transaction():
        for statement in migrations.POSTGRES[0].statements:
            conn.execute(statement)
        conn.execute(migrations.POSTGRES_VERSION_TABLE)
        conn.execute("INSERT INTO schema_version VALUES (1, '2026-11-01T00:00:00Z', 'logs')")
        conn.execute("INSERT INTO records VALUES ('m', 0, 'checkpoint', 'ab', '\\xab', 't', NULL, '{}')")
    with open_store(postgres_url, root=tmp_path) as store:  # opened without create, as the read verbs do
        assert store.schema_version == 2 and store.size("m") == 1
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY version")] == [1, 2]
        assert conn.execute("SELECT to_regclass('lineage_edges')").fetchone() != (None,)
        conn.execute("INSERT INTO schema_version VALUES (3, '2027-01-01T00:00:00Z', 'from the future')")
    with pytest.raises(StoreError, match=r"written by a newer pot \(schema 3\); upgrade pot"):
        open_store(postgres_url, root=tmp_path)


def test_processes_opening_a_new_store_at_once_migrate_it_once(postgres_url: str, tmp_path: Path) -> None:
    errors: list[BaseException] = []
    stores: list[Any] = []
    start = threading.Barrier(6)

    def open_one() -> None:
        start.wait()
        try:
            stores.append(PostgresStore(postgres_url, root=tmp_path, create=True))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    assert not errors and len(stores) == 6
    with psycopg.connect(postgres_url) as conn:
        assert [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY version")] == [1, 2]


def check_log(url: str, root: Path, model_id: str, acknowledged: list[str]) -> ProvenanceProof:
    """Every acknowledged record is in the log exactly once, seqs are 0..n-1, every head's root is the root of the
    records it covers, and the proof verifies."""
    with ProvenanceRecorder(StoreTarget(root, url).config()) as recorder:
        store = recorder.store
        records = list(store.records(model_id))
        ids = [r.record_id for r in records]
        assert [r.seq for r in records] == list(range(len(records)))
        assert len(set(ids)) == len(ids), "a record stored twice"
        assert sorted(ids) == sorted(acknowledged), "records lost, or stored without being acknowledged"
        leaves = store.leaves(model_id)
        heads = store.heads(model_id)
        assert heads and heads[-1].head.tree_size == len(records)
        for signed in heads:
            frontier = Frontier()
            frontier.extend(leaves[:signed.head.tree_size])
            assert frontier.root().hex() == signed.head.root_hash
        proof = recorder.generate_proof_of_training(model_id)
        assert proof is not None and len(proof.records) == len(records)
        verify_proof(proof, trusted_key=recorder.public_key)
        return proof


def start_worker(url: str, root: Path, model_id: str, count: int, pause: float = 0.0) -> subprocess.Popen[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("POT_")}
    return subprocess.Popen([sys.executable, "-m", "tests.support.store_worker", url, str(root), model_id, str(count),
                             str(pause)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=environ)


def test_processes_appending_to_one_log_at_once_lose_and_duplicate_nothing(postgres_url: str,
                                                                           tmp_path: Path) -> None:
    """Three processes start together on a new database (racing to migrate it and to make its key), then append
    to one model's log at once: the database hands out every seq once."""
    workers = [start_worker(postgres_url, tmp_path, "shared", 150) for _ in range(3)]
    outputs = [w.communicate(timeout=600) for w in workers]
    for worker, (out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
        assert out.splitlines()[-1] == "done"
    acknowledged = [line.split()[1] for out, _ in outputs for line in out.splitlines() if line.startswith("ack")]
    assert len(acknowledged) == 450
    proof = check_log(postgres_url, tmp_path, "shared", acknowledged)
    # the three writers' records interleave in the log: the appends really ran at once
    writers = [record.model_hash[:32] for record in proof.records]  # type: ignore[attr-defined]
    assert len(set(writers)) == 3 and sum(a != b for a, b in itertools.pairwise(writers)) > 2


def test_a_server_restart_mid_run_loses_and_duplicates_nothing(postgres_server: PostgresServer, postgres_url: str,
                                                               tmp_path: Path) -> None:
    """The server is stopped (fast shutdown, by pid) and started again while a training process records: appends
    wait for it and go on, every acknowledged record is stored once, and the proof verifies."""
    with open_store(postgres_url, root=tmp_path, create=True):
        pass
    worker = start_worker(postgres_url, tmp_path, "m", 300, pause=0.005)
    assert worker.stdout is not None
    acknowledged = []
    try:
        for line in worker.stdout:
            if line.startswith("ack"):
                acknowledged.append(line.split()[1])
                if len(acknowledged) == 60:
                    old_pid = postgres_server.pid
                    postgres_server.restart()
                    assert postgres_server.pid != old_pid
            elif line.strip() == "done":
                break
        assert worker.wait(timeout=300) == 0, worker.stderr.read() if worker.stderr else ""
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert len(acknowledged) == 300
    check_log(postgres_url, tmp_path, "m", acknowledged)


def test_a_recorder_outlives_a_restart_in_the_same_process(postgres_server: PostgresServer, postgres_url: str,
                                                           tmp_path: Path) -> None:
    """The pool's connections all die with the server; the next append takes a fresh one."""
    with ProvenanceRecorder(StoreTarget(tmp_path, postgres_url).config()) as recorder:
        first = [recorder.record_training_checkpoint(model_hash=digest(e), metrics={}, epoch=e, model_id="m")
                 for e in range(5)]
        recorder.flush()
        postgres_server.restart()
        later = [recorder.record_training_checkpoint(model_hash=digest(e), metrics={}, epoch=e, model_id="m")
                 for e in range(5, 10)]
        recorder.flush()
    check_log(postgres_url, tmp_path, "m", [str(r) for r in first + later])
