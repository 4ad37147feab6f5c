"""Opening a store: many processes creating it at once, what an interrupted `pot init` leaves, bad contents."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pot import ProvenanceConfig, ProvenanceRecorder, verify_proof
from pot.log.keys import SigningKey

from .conftest import digest

ROOT = Path(__file__).resolve().parents[2]


def pot(store: Path, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real command, in its own process."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("POT_")}
    return subprocess.run([sys.executable, "-m", "pot.cli", "--store", str(store), *argv], cwd=ROOT,
                          capture_output=True, text=True, env={**environ, **(env or {})}, timeout=120)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def records_and_proves(store: Path) -> str:
    """A recorder completes the store if needed, records, and its proof verifies; returns the key id."""
    with ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store))) as recorder:
        recorder.record_training_checkpoint(model_hash=digest(1), metrics={"loss": 0.5}, epoch=0, model_id="after")
        verify_proof(recorder.generate_proof_of_training("after"), trusted_key=recorder.public_key)
        return recorder.key.key_id


# --- many processes at once -------------------------------------------------------------------------------------


def test_eight_processes_creating_one_new_store_at_once_all_succeed(tmp_path: Path) -> None:
    """Every rank of a distributed job opens the same new store at the same moment (six recorders and two
    `pot init`s here), round after round: each succeeds, and they share one key and one schema."""
    for round_ in range(4):
        store, go = tmp_path / f"store-{round_}", tmp_path / f"go-{round_}"
        workers = [subprocess.Popen([sys.executable, "-m", "tests.support.open_store_worker", str(store), str(rank),
                                     str(go)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for rank in range(8)]
        time.sleep(1.5)  # let the interpreters start and wait at the gate
        go.touch()
        outputs = [w.communicate(timeout=300) for w in workers]
        failures = [(rank, err) for rank, (w, (_, err)) in enumerate(zip(workers, outputs, strict=True))
                    if w.returncode != 0]
        assert not failures, f"round {round_}: {failures}"
        key_ids = {out.split()[0] for out, _ in outputs}
        assert len(key_ids) == 1, f"round {round_}: {len(key_ids)} keys"
        assert [out.split()[1] for out, _ in outputs] == ["3"] * 6 + ["init"] * 2  # 3: steps, checkpoint, validation
        conn = sqlite3.connect(store / "pot.db")
        try:
            assert conn.execute("SELECT value FROM settings WHERE key = 'key_id'").fetchall() == [(key_ids.pop(),)]
            assert conn.execute("SELECT key, value FROM meta").fetchall() == [("schema_version", "2")]
            # every migration step applied exactly once, though eight processes raced to apply them
            assert conn.execute("SELECT version FROM schema_version ORDER BY version").fetchall() == [(1,), (2,)]
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        finally:
            conn.close()
        assert sorted(p.name for p in store.iterdir() if not p.name.startswith("pot.db")) == [
            ".gitignore", "localchain.jsonl", "signing-key.pem", "signing-key.pub"]  # no temporary file left


# --- an interrupted `pot init` ----------------------------------------------------------------------------------


def _pem() -> bytes:
    """A key file's content, as pot writes it."""
    return Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption())


def _database_without_tables(store: Path) -> None:
    store.mkdir()
    conn = sqlite3.connect(store / "pot.db")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()


def _schema_only(store: Path) -> None:
    """What init leaves when killed after the schema and before the key."""
    from pot.log.store import Store

    Store(store, create=True).close()


HALF_MADE: dict[str, Callable[[Path], None]] = {
    "directory only": lambda s: s.mkdir(),
    "directory and an empty .gitignore": lambda s: (s.mkdir(), (s / ".gitignore").write_bytes(b"")),
    "a database file of zero bytes": lambda s: (s.mkdir(), (s / "pot.db").write_bytes(b"")),
    "a WAL database without tables": _database_without_tables,
    "schema, no key": _schema_only,
    "schema and a key file of zero bytes": lambda s: (_schema_only(s), (s / "signing-key.pem").write_bytes(b"")),
    "schema and a partial PEM": lambda s: (_schema_only(s), (s / "signing-key.pem").write_bytes(_pem()[:70])),
    "directory and a partial PEM": lambda s: (s.mkdir(), (s / "signing-key.pem").write_bytes(_pem()[:70])),
    "schema and the key, not remembered": lambda s: (_schema_only(s), (s / "signing-key.pem").write_bytes(_pem())),
    "a temporary key file left by a killed save": lambda s: (
        _schema_only(s), (s / ".signing-key.pem.0123abcd.tmp").write_bytes(_pem()[:50])),
}


@pytest.mark.parametrize("state", list(HALF_MADE))
@pytest.mark.parametrize("finisher", ["pot init", "a recorder"])
def test_what_an_interrupted_init_leaves_is_finished_by_the_next_one(tmp_path: Path, state: str,
                                                                      finisher: str) -> None:
    store = tmp_path / "store"
    HALF_MADE[state](store)
    kept_key = b""
    if (store / "signing-key.pem").exists():
        os.chmod(store / "signing-key.pem", 0o600)
        kept_key = (store / "signing-key.pem").read_bytes()
    if finisher == "pot init":
        result = pot(store, "init")
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 1
    key_id = records_and_proves(store)
    assert (store / ".gitignore").read_text().splitlines()[-1] == "*"
    assert (store / "signing-key.pub").read_text().strip() == SigningKey.load(store / "signing-key.pem").public.hex
    if b"-----END" in kept_key:  # a whole key is the store's key: never replaced
        assert (store / "signing-key.pem").read_bytes() == kept_key
        assert key_id == SigningKey.load(store / "signing-key.pem").key_id
    elif kept_key:  # a cut-short one, with nothing signed by it, is set aside, never deleted
        [aside] = store.glob("signing-key.pem.incomplete-*")
        assert aside.read_bytes() == kept_key
    result = pot(store, "history", "--model-id", "after")
    assert result.returncode == 0 and "checkpoint epoch 0" in result.stdout


def test_before_init_finishes_a_half_made_store_the_read_verbs_say_what_to_do(tmp_path: Path) -> None:
    store = tmp_path / "store"
    _database_without_tables(store)
    result = pot(store, "history")
    assert result.returncode == 3
    assert "not set up completely" in one_line(result) and "run `pot init` to finish it" in result.stderr


@pytest.mark.parametrize("damage", ["missing", "empty", "partial"])
def test_a_damaged_key_of_a_store_that_has_signed_is_refused_with_what_to_do(tmp_path: Path, damage: str) -> None:
    """Making a new key would split the store's logs between two keys: refuse, and say how to recover."""
    store = tmp_path / "store"
    records_and_proves(store)
    key = store / "signing-key.pem"
    pem = key.read_bytes()
    if damage == "missing":
        key.unlink()
    else:
        key.write_bytes(b"" if damage == "empty" else pem[:70])
    for argv in (["init"], ["checkpoint", "--model-hash", "h", "--epoch", "1", "--metrics", "{}", "--model-id", "m"]):
        result = pot(store, *argv)
        assert result.returncode == 3
        line = one_line(result)
        assert "this store's logs are signed with key" in line and "restore that key file" in line
    assert not list(store.glob("signing-key.pem.incomplete-*"))
    key.write_bytes(pem)  # restored: everything works again, nothing was lost
    key.chmod(0o600)
    assert pot(store, "init").returncode == 0
    assert pot(store, "history", "--model-id", "after").returncode == 0


def _watch_and_kill(process: subprocess.Popen[str], store: Path, stage: str) -> bool:
    """SIGKILL ``process`` the moment ``stage`` is visible in ``store``; False if init finished first."""
    def visible() -> bool:
        if stage == "directory":
            return store.exists()
        if stage == "database":
            return (store / "pot.db").exists()
        if stage == "key being written":
            return store.exists() and any(p.name.startswith(".signing-key.pem.") for p in store.iterdir())
        return (store / "signing-key.pem").exists()

    while process.poll() is None:
        try:
            seen = visible()
        except FileNotFoundError:
            seen = False
        if seen:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            return True
    return False


@pytest.mark.parametrize("stage", ["directory", "database", "key being written", "key file"])
def test_init_killed_at_each_stage_leaves_a_store_the_next_init_completes(tmp_path: Path, stage: str) -> None:
    """Real SIGKILLs: `pot init` is killed as soon as each stage of its work shows on disk (the watcher polls
    in a tight loop, so the kill lands within a fraction of a millisecond of it); the next init must finish."""
    killed = 0
    for attempt in range(3):
        store = tmp_path / f"store-{attempt}"
        environ = {k: v for k, v in os.environ.items() if not k.startswith("POT_")}
        process = subprocess.Popen([sys.executable, "-m", "pot.cli", "--store", str(store), "init"], cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True, env=environ)
        killed += _watch_and_kill(process, store, stage)
        result = pot(store, "init")
        assert result.returncode == 0, result.stderr
        assert records_and_proves(store) == SigningKey.load(store / "signing-key.pem").key_id
    assert killed >= 1  # at least one kill landed at this stage (init is seldom faster than the watcher)


# --- pot init and POT_KEY_PASSPHRASE ------------------------------------------------------------------------------


def test_init_says_when_the_passphrase_was_not_applied_to_an_existing_key(tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert pot(store, "init").returncode == 0
    key = (store / "signing-key.pem").read_bytes()
    result = pot(store, "init", env={"POT_KEY_PASSPHRASE": "s3cret-passphrase"})
    assert result.returncode == 0
    line = one_line(result)
    assert line.startswith("pot: warning: POT_KEY_PASSPHRASE is set but the existing signing key")
    assert "not encrypted" in line and "s3cret" not in result.stdout + result.stderr
    assert (store / "signing-key.pem").read_bytes() == key  # never rewritten
    # the key still works, with the variable set or not
    assert pot(store, "checkpoint", "--model-hash", "h", "--epoch", "0", "--metrics", "{}", "--model-id", "m",
               env={"POT_KEY_PASSPHRASE": "s3cret-passphrase"}).returncode == 0
    assert "init never rewrites an existing key" in pot(store, "init", "--help").stdout.replace("\n  ", " ")


def test_init_with_a_passphrase_encrypts_a_new_key_and_is_quiet_about_it(tmp_path: Path) -> None:
    store = tmp_path / "store"
    env = {"POT_KEY_PASSPHRASE": "s3cret-passphrase"}
    for _ in range(2):  # creating, then finding the encrypted key
        result = pot(store, "init", env=env)
        assert result.returncode == 0 and result.stderr == ""
    assert b"ENCRYPTED" in (store / "signing-key.pem").read_bytes().split(b"\n", 1)[0]
    result = pot(store, "init")
    assert result.returncode == 3 and "is encrypted; set POT_KEY_PASSPHRASE" in one_line(result)
