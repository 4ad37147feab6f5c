"""Output files (proofs, exported configs, plots) never replace a store's files and are written whole or not at all."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pot import ProvenanceConfig, ProvenanceProof, ProvenanceRecorder, UsageError
from pot.cli import main

from .conftest import digest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store at tmp/store with a run (for export-config) whose model has metrics (for --plot)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("POT_HOME", str(tmp_path / "store"))
    monkeypatch.delenv("POT_KEY_FILE", raising=False)
    monkeypatch.delenv("POT_KEY_PASSPHRASE", raising=False)
    with ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp_path / "store"))) as recorder, \
            recorder.start_run("m", config={"lr": 0.1}):
        for epoch in range(3):
            recorder.record_step(epoch + 1, {"loss": 1 / (epoch + 1)}, "m", epoch=epoch)
            recorder.record_training_checkpoint(model_hash=digest(epoch), metrics={"loss": 1 / (epoch + 1)},
                                                epoch=epoch, model_id="m")
    return tmp_path / "store"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def run_id(capsys: pytest.CaptureFixture[str]) -> str:
    _, out, _ = run(capsys, "--json", "runs", "list")
    return str(json.loads(out)[0]["run_id"])


def fingerprint(directory: Path) -> dict[str, str]:
    """Every file of a directory and its content digest (the WAL's index, pot.db-shm, changes on reads: skipped)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())
            if p.is_file() and not p.name.endswith("-shm")}


WRITERS: dict[str, Callable[[str, str], list[str]]] = {
    "proof --output": lambda target, _run: ["proof", "--model-id", "m", "--output", target],
    "runs export-config --out": lambda target, run: ["runs", "export-config", run, "--out", target],
    "history --plot": lambda target, _run: ["history", "--model-id", "m", "--plot", target],
}


def _targets(store: Path, tmp_path: Path) -> dict[str, str]:
    """Names under which an output would land on a store's files, each made the way a user could make it."""
    (tmp_path / "link-to-store").symlink_to(store)
    os.link(store / "pot.db", tmp_path / "hardlink.db")
    os.link(store / "signing-key.pem", tmp_path / "hardlink.pem")
    return {
        "the database": str(store / "pot.db"),
        "the key": str(store / "signing-key.pem"),
        "the local chain": str(store / "localchain.jsonl"),
        "a new file in the store": str(store / "new.png"),
        "the store through a symlinked directory": str(tmp_path / "link-to-store" / "pot.db"),
        "a hard link to the database": str(tmp_path / "hardlink.db"),
        "a hard link to the key": str(tmp_path / "hardlink.pem"),
        "the store directory itself": str(store),
    }


@pytest.mark.parametrize("writer", list(WRITERS))
def test_no_writer_replaces_a_store_file(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         writer: str) -> None:
    run_ = run_id(capsys)
    targets = _targets(store, tmp_path)
    before = fingerprint(store)
    for what, target in targets.items():
        code, out, err = run(capsys, *WRITERS[writer](target, run_))
        assert code == 2, (what, out, err)
        assert len(err.strip().splitlines()) == 1, (what, err)
        assert "refusing to write" in err or "is a directory" in err, (what, err)
    assert fingerprint(store) == before  # not a byte of the store changed (no head was even signed)
    assert not list(tmp_path.glob(".*.tmp")) and not list(store.glob(".*.tmp"))
    code, out, _ = run(capsys, "--json", "history", "--model-id", "m")
    assert code == 0 and len(json.loads(out)) == 8  # RunStarted, 3 x (steps, checkpoint), RunCompleted: all there
    code, _, _ = run(capsys, "key", "public")
    assert code == 0


@pytest.mark.parametrize("writer", list(WRITERS))
def test_no_writer_replaces_the_key_where_pot_key_file_puts_it(
        store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        writer: str) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    os.replace(store / "signing-key.pem", keys / "mine.pem")
    monkeypatch.setenv("POT_KEY_FILE", str(keys / "mine.pem"))
    key_before = (keys / "mine.pem").read_bytes()
    run_ = run_id(capsys)
    for target in (keys / "mine.pem", keys / "mine.pub"):
        code, _, err = run(capsys, *WRITERS[writer](str(target), run_))
        assert code == 2 and "refusing to write" in err and len(err.strip().splitlines()) == 1
    assert (keys / "mine.pem").read_bytes() == key_before
    code, _, _ = run(capsys, *WRITERS[writer](str(keys / "elsewhere.png"), run_))  # beside it is fine
    assert code == 0


@pytest.mark.parametrize("writer", list(WRITERS))
def test_writers_write_outside_the_store_and_replace_their_own_files(
        store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], writer: str) -> None:
    run_ = run_id(capsys)
    target = tmp_path / "out" / "file.png"
    target.parent.mkdir()
    target.write_bytes(b"an older output")
    target.chmod(0o640)
    code, _, err = run(capsys, *WRITERS[writer](str(target), run_))
    assert code == 0, err
    assert target.read_bytes() != b"an older output" and target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in target.parent.iterdir()] == ["file.png"]  # no temporary file left behind
    link = tmp_path / "out" / "link.png"
    link.symlink_to(target)
    code, _, _ = run(capsys, *WRITERS[writer](str(link), run_))
    assert code == 0 and link.is_symlink()  # written through the link, as a plain write would


def test_plot_to_a_format_matplotlib_cannot_write_is_exit_2_and_writes_nothing(
        store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    before = fingerprint(store)
    code, _, err = run(capsys, "history", "--model-id", "m", "--plot", "x.txt")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "cannot plot to a .txt file" in err and ".png" in err
    assert not (tmp_path / "x.txt").exists() and not list(tmp_path.glob(".*"))
    assert fingerprint(store) == before
    code, _, err = run(capsys, "history", "--plot", "x.png")
    assert code == 2 and "--plot needs --model-id" in err
    code, _, err = run(capsys, "history", "--model-id", "m", "--plot", str(tmp_path / "no-such-dir" / "x.png"))
    assert code == 2 and "cannot write" in err and len(err.strip().splitlines()) == 1
    code, _, _ = run(capsys, "history", "--model-id", "m", "--plot", "x.svg")
    assert code == 0 and (tmp_path / "x.svg").read_text().lstrip().startswith("<?xml")


def test_proof_save_refuses_a_store_this_process_never_opened(tmp_path: Path) -> None:
    """The library's own writer: a store made by another process is recognised by its pot.db."""
    other = tmp_path / "other"
    subprocess.run([sys.executable, "-m", "pot.cli", "--store", str(other), "init"], cwd=ROOT, check=True,
                   capture_output=True)
    with ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp_path / "mine"))) as recorder:
        recorder.record_training_checkpoint(model_hash=digest(1), metrics={}, epoch=0, model_id="m")
        proof = recorder.generate_proof_of_training("m")
    key = (other / "signing-key.pem").read_bytes()
    for target in (other / "signing-key.pem", other / "pot.db", tmp_path / "mine" / "proof.json"):
        with pytest.raises(UsageError, match="refusing to write .*: it is inside the pot store"):
            proof.save(target)
    assert (other / "signing-key.pem").read_bytes() == key
    proof.save(tmp_path / "proof.json")
    assert ProvenanceProof.load(tmp_path / "proof.json").model_id == "m"


_SAVER = """
import sys
from pot import ProvenanceProof
proof = ProvenanceProof.load(sys.argv[1])
print("ready", flush=True)
while True:
    proof.save(sys.argv[2])
"""


def test_a_proof_killed_while_being_saved_is_never_left_half_written(tmp_path: Path) -> None:
    """A process saves a large proof over and over; meanwhile this test watches the file's size, then SIGKILLs the
    process. Whatever moment is looked at or killed in, the file under the final name is a whole proof."""
    with ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp_path / "store"), batch_size=10_000,
                                             salt_records=False)) as recorder:
        for epoch in range(3000):
            recorder.record_training_checkpoint(model_hash=digest(epoch), metrics={"loss": 1.0 / (epoch + 1)},
                                                epoch=epoch, model_id="m")
        recorder.generate_proof_of_training("m").save(tmp_path / "source.json")
    target = tmp_path / "out" / "proof.json"
    target.parent.mkdir()
    size = (tmp_path / "source.json").stat().st_size
    assert size > 1_000_000
    for watch in (0.3, 0.5, 0.8):
        saver = subprocess.Popen([sys.executable, "-c", _SAVER, str(tmp_path / "source.json"), str(target)],
                                 cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert saver.stdout is not None and saver.stdout.readline().strip() == "ready"
        seen: set[int] = set()
        deadline = time.monotonic() + watch
        while time.monotonic() < deadline:
            with contextlib.suppress(FileNotFoundError):  # before the first save has finished
                seen.add(target.stat().st_size)
        os.kill(saver.pid, signal.SIGKILL)
        saver.wait()
        assert seen <= {size}, f"the file was seen at sizes {sorted(seen)[:5]}, not always {size}"
        if target.exists():
            assert target.stat().st_size == size
            assert ProvenanceProof.load(target).model_id == "m"
        leftovers = [p for p in target.parent.iterdir() if p != target]
        assert all(p.name.startswith(".proof.json.") and p.name.endswith(".tmp") for p in leftovers), leftovers
    assert target.exists()


def test_the_example_refuses_an_output_directory_inside_its_store_before_training(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    store = tmp_path / "store"
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "training_with_provenance.py"), "--epochs", "1",
                             "--store", str(store), "--out", str(store)], capture_output=True, text=True, cwd=ROOT,
                            timeout=300)
    assert result.returncode == 2
    assert "refusing to write" in result.stderr and "inside the pot store" in result.stderr
    assert "epoch" not in result.stdout  # refused before training
