"""Bad store contents and unusable store paths: one line, exit 3. A read-only store still serves the read verbs."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pot import ProvenanceConfig, ProvenanceRecorder
from pot.lineage.events import parent_dataset

from ..support.readonly import read_only
from .conftest import digest

ROOT = Path(__file__).resolve().parents[2]


def pot(store: Path, *argv: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real command in its own process; as ``user`` (dropping root) when given."""
    runner = ["-m", "tests.support.as_user", user] if user else ["-m", "pot.cli"]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("POT_")}
    return subprocess.run([sys.executable, *runner, "--store", str(store), *argv], cwd=ROOT, capture_output=True,
                          text=True, env=environ, timeout=120)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def make_store(store: Path) -> str:
    """A store with a run of model m (3 checkpoints, steps, a validation); returns the run id."""
    with ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store))) as recorder, \
            recorder.start_run("m", config={"lr": 0.1}, parents=[parent_dataset("digits", digest="d" * 64)]) as run:
        for epoch in range(3):
            recorder.record_step(epoch + 1, {"loss": 1.0 / (epoch + 1)}, "m", epoch=epoch)
            recorder.record_training_checkpoint(model_hash=digest(epoch), metrics={"loss": 1.0 / (epoch + 1)},
                                                epoch=epoch, model_id="m")
        recorder.record_validation(model_hash=digest(2), validator_id="holdout", validation_result={"accuracy": 0.9},
                                   model_id="m")
    return run.run_id


def tamper(store: Path, *statements: str) -> None:
    """Write to the database behind pot's back (the triggers forbid changing rows, not adding them)."""
    conn = sqlite3.connect(store / "pot.db", isolation_level=None)
    try:
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()


# --- bad contents ------------------------------------------------------------------------------------------------

_NEXT_ROW = ("INSERT INTO records SELECT 'm', MAX(seq) + 1, 'checkpoint', 'ab', x'ab', '2026-11-30T00:00:00Z', NULL, "
             "'{body}' FROM records WHERE model_id = 'm'")
BAD_ROWS = {  # the next row of model m's log (seq 9)
    "a record body that is not JSON": _NEXT_ROW.format(body="not json {"),
    "a record body that is a JSON list": _NEXT_ROW.format(body="[1, 2]"),
    "a record body of the wrong shape": _NEXT_ROW.format(body='{"type": "checkpoint"}'),
}


@pytest.mark.parametrize("bad", list(BAD_ROWS))
def test_a_bad_record_row_is_one_line_and_exit_3(tmp_path: Path, bad: str) -> None:
    store = tmp_path / "store"
    run_id = make_store(store)
    tamper(store, BAD_ROWS[bad])
    result = pot(store, "history", "--model-id", "m")
    assert result.returncode == 3 and "is corrupt: record 9 of 'm' cannot be read" in one_line(result)
    result = pot(store, "runs", "show", run_id)  # the run's records are 0..8: still readable
    assert result.returncode == 0 and "validation by holdout" in result.stdout


def test_a_record_body_that_is_not_json_fails_the_proof_with_one_line_and_exit_3(tmp_path: Path) -> None:
    store = tmp_path / "store"
    make_store(store)
    tamper(store, BAD_ROWS["a record body that is not JSON"])
    result = pot(store, "proof", "--model-id", "m", "--output", str(tmp_path / "p.json"))
    assert result.returncode == 3 and "record 9 of 'm' cannot be read" in one_line(result)
    assert not (tmp_path / "p.json").exists()


@pytest.mark.parametrize("body", ["garbage {", "[]", '{"model_id": "m"}'])
def test_a_garbage_tree_head_is_one_line_and_exit_3(tmp_path: Path, body: str) -> None:
    store = tmp_path / "store"
    make_store(store)
    tamper(store, f"INSERT INTO heads VALUES ('m', 1000, '{'e' * 64}', '{body}', 'sig')")
    result = pot(store, "proof", "--model-id", "m", "--output", str(tmp_path / "p.json"))
    assert result.returncode == 3 and "is corrupt: tree head 1000 of 'm' cannot be read" in one_line(result)
    assert not (tmp_path / "p.json").exists()
    result = pot(store, "history", "--model-id", "m")  # what does not read heads still works
    assert result.returncode == 0 and "validation by holdout" in result.stdout


@pytest.mark.parametrize("version", ["abc", "", "1.5", "99999999999999999999"])
def test_a_schema_version_that_is_no_number_is_one_line_and_exit_3(tmp_path: Path, version: str) -> None:
    store = tmp_path / "store"
    make_store(store)
    tamper(store, f"UPDATE meta SET value = '{version}' WHERE key = 'schema_version'")
    for argv in (["history"], ["init"]):
        result = pot(store, *argv)
        assert result.returncode == 3 and "is corrupt: its schema version" in one_line(result)


def test_a_store_path_too_long_for_the_os_is_one_line_and_exit_3(tmp_path: Path) -> None:
    store = tmp_path / ("a" * 300) / "store"
    for argv in (["history"], ["init"], ["runs", "list"]):
        result = pot(store, *argv)
        assert result.returncode == 3 and "File name too long" in one_line(result)


def test_a_store_that_is_a_file_is_one_line_and_exit_3(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a store\n")
    for argv in (["history"], ["init"], ["lineage", "x"]):
        result = pot(tmp_path / "file", *argv)
        assert result.returncode == 3 and "is a file, not a directory" in one_line(result)
        result = pot(tmp_path / "file" / "store", *argv)
        assert result.returncode == 3 and "part of its path is a file" in one_line(result)
    assert (tmp_path / "file").read_text() == "not a store\n"
    (tmp_path / "dir" / "pot.db").mkdir(parents=True)
    result = pot(tmp_path / "dir", "history")
    assert result.returncode == 3 and "is a directory, not a pot database" in one_line(result)


def test_a_database_of_another_program_is_not_taken_over(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    tamper(tmp_path / "store", "CREATE TABLE photos (name TEXT)")
    result = pot(tmp_path / "store", "init")
    assert result.returncode == 3 and "is not a pot store (it holds other tables: photos)" in one_line(result)
    conn = sqlite3.connect(tmp_path / "store" / "pot.db")
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["photos"]
    conn.close()


# --- read-only stores --------------------------------------------------------------------------------------------


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory other users can enter (pytest's tmp_path is private to root), removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run the command as another user")
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody' to run the command as")
    path = Path(tempfile.mkdtemp(prefix="pot-readonly-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


READ_VERBS = [["history"], ["history", "--model-id", "m"], ["runs", "list"], ["runs", "stats"]]


def check_read_verbs(store: Path, run_id: str, epochs: int = 3, *, user: str | None = "nobody") -> None:
    for argv in [*READ_VERBS, ["runs", "show", run_id], ["lineage", run_id], ["--json", "lineage", "m"]]:
        result = pot(store, *argv, user=user)
        assert result.returncode == 0, (argv, result.stderr)
        assert "Traceback" not in result.stderr
    history = pot(store, "history", "--model-id", "m", user=user).stdout
    assert [f"checkpoint epoch {e}" in history for e in range(epochs)] == [True] * epochs
    assert "digits" in pot(store, "lineage", run_id, user=user).stdout


def test_a_closed_store_another_user_cannot_write_serves_the_read_verbs(shared_dir: Path) -> None:
    """An auditor's copy: directory and database owned by someone else, no -wal or -shm file (closed cleanly)."""
    store = shared_dir / "store"
    run_id = make_store(store)
    assert not (store / "pot.db-wal").exists() and not (store / "pot.db-shm").exists()
    before = sorted(p.name for p in store.iterdir())
    check_read_verbs(store, run_id)
    result = pot(store, "checkpoint", "--model-hash", "h", "--epoch", "9", "--metrics", "{}", "--model-id", "m",
                 user="nobody")
    assert result.returncode == 3 and len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in store.iterdir()) == before  # the reader created nothing


_LIVE_WRITER = """
import sys
from pot import ProvenanceConfig, ProvenanceRecorder
recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=sys.argv[1]))
for epoch in range(3, 6):
    recorder.record_training_checkpoint(model_hash=f"{epoch:064x}", metrics={"loss": 0.1}, epoch=epoch, model_id="m")
recorder.flush()
print("ready", flush=True)
sys.stdin.read()
recorder.close()
"""


@contextlib.contextmanager
def live_writer(store: Path) -> Iterator[None]:
    """A training process that has recorded three more epochs and keeps the store open (its -wal holds them)."""
    process = subprocess.Popen([sys.executable, "-c", _LIVE_WRITER, str(store)], cwd=ROOT, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdin is not None
    try:
        assert process.stdout.readline().strip() == "ready"
        assert (store / "pot.db-wal").stat().st_size > 0
        yield
    finally:
        process.stdin.close()
        process.wait(timeout=60)


def test_a_store_open_in_a_live_writer_is_read_in_full_by_another_user(shared_dir: Path) -> None:
    """While training writes, a reader who may not write sees every commit, those still in the -wal included."""
    store = shared_dir / "store"
    run_id = make_store(store)
    with live_writer(store):
        check_read_verbs(store, run_id, epochs=6)


def test_a_copy_whose_wal_cannot_be_read_safely_is_refused_with_what_to_do(shared_dir: Path) -> None:
    """pot.db and a non-empty pot.db-wal without pot.db-shm, in a directory the reader cannot write: reading
    pot.db alone would silently miss the commits in the -wal, so it is refused."""
    store, copy = shared_dir / "store", shared_dir / "copy"
    make_store(store)
    copy.mkdir()
    with live_writer(store):
        for name in ("pot.db", "pot.db-wal"):
            shutil.copyfile(store / name, copy / name)
            (copy / name).chmod(0o644)
    result = pot(copy, "history", "--model-id", "m", user="nobody")
    assert result.returncode == 3
    line = one_line(result)
    assert "pot.db-wal holds commits not yet in pot.db" in line and "open the store once with write access" in line


def test_a_store_made_immutable_serves_the_read_verbs_even_to_root(store_dir: Path) -> None:
    run_id = make_store(store_dir)
    with read_only(store_dir):
        check_read_verbs(store_dir, run_id, user=None)
