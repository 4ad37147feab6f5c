"""Hostile command-line input: one line and a documented exit code, never exit 70, never a hang.

Each case here ended in exit 70 (an "internal error") or hung before the hardening.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pot.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    capsys.readouterr()
    return tmp_path / ".pot"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def checkpoint(*extra: str, metrics: str = '{"loss": 0.5}') -> list[str]:
    return ["checkpoint", "--model-hash", "h", "--epoch", "1", "--metrics", metrics, "--model-id", "m", *extra]


@pytest.mark.parametrize(("metrics", "message"), [
    ('{"loss": 1e400}', "too large for a double"),
    ('{"loss": 1, "loss": 2}', "duplicate key 'loss'"),
    ('{"loss": ' + "9" * 5000 + "}", "thousands of digits"),
    ('{"loss": ' + "[" * 600 + "]" * 600 + "}", "nested more than 64 levels"),
    ('{"loss": ' + "[" * 5000 + "]" * 5000 + "}", "nested too deeply"),
    ('{"lo\\u001b[31mss": 1}', "control or invisible character U\\+001B"),
    ('{"lo\\u200bss": 1}', "control or invisible character U\\+200B"),
    ('{"loss": NaN}', "contains NaN"),
])
def test_json_arguments_are_read_strictly(store: Path, capsys: pytest.CaptureFixture[str], metrics: str,
                                          message: str) -> None:
    import re

    code, _, err = run(capsys, *checkpoint(metrics=metrics))
    assert code == 2 and len(err.strip().splitlines()) == 1 and re.search(message, err), err


def test_a_model_id_that_is_not_utf8_is_refused(store: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pot.cli", *checkpoint()[:-1], os.fsdecode(b"m\xff")],
                          capture_output=True, text=True, cwd=store.parent, timeout=60)
    assert done.returncode == 2 and "U+DCFF" in done.stderr and "Traceback" not in done.stderr


def test_a_proof_that_is_a_pipe_or_a_device_is_refused_without_reading(store: Path, tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "proof.fifo"
    os.mkfifo(fifo)  # nobody writes: reading it would block forever
    for path in (str(fifo), "/dev/zero"):  # /dev/zero never ends: reading it would pass any size limit
        code, _, err = run(capsys, "verify", "--proof", path)
        assert code == 2 and "not a regular file" in err


def test_a_checkpoint_file_that_opens_but_cannot_be_read(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, *checkpoint("--checkpoint-file", "/proc/self/mem"))
    assert code == 2 and "cannot read /proc/self/mem" in err
    assert main(["history", "--model-id", "m"]) == 2  # nothing was recorded


def test_runs_list_takes_any_count(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "runs", "list", "-n", "1" + "0" * 30)
    assert code == 0 and "no runs" in out


def test_gate_and_config_files_that_are_not_text(store: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    binary = tmp_path / "gate.bin"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    assert run(capsys, *checkpoint())[0] == 0
    assert run(capsys, "validate", "--model-hash", "h", "--validator", "v", "--result", '{"accuracy": 0.9}',
               "--model-id", "m")[0] == 0
    code, _, err = run(capsys, "promote", "--model-id", "m", "--stage", "s", "--gate", str(binary))
    assert code == 2 and "not UTF-8" in err
    from pot.errors import UsageError
    from pot.lineage.registry import load_run_config

    with pytest.raises(UsageError, match="not UTF-8"):
        load_run_config(binary)


def test_history_shows_stored_text_without_terminal_escapes(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Names cannot hold escapes any more, but a validation's free-form result can: printed, it is escaped.
    result = json.dumps({"note": "\x1b[2J\x1b[31mall good\u202e"})
    assert run(capsys, "validate", "--model-hash", "h", "--validator", "v", "--result", result, "--model-id",
               "m")[0] == 0
    code, out, _ = run(capsys, "history", "--model-id", "m")
    assert code == 0 and "\x1b" not in out and "\u202e" not in out and "\\x1b[2J" in out


def test_lineage_of_a_store_without_lineage_is_one_line(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, *checkpoint())[0] == 0
    code, _, err = run(capsys, "lineage", "m")
    assert code == 2 and "recorded no lineage yet" in err
