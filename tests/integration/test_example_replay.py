"""The example, then `pot replay` on its output: the sampled epochs are confirmed bit for bit; a replaced checkpoint
file is refused naming its segment (exit 1); bad input is one line and exit 2; the attestation verifies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

from pot.log.keys import SigningKey
from pot.replay import verify_attestation

ROOT = Path(__file__).resolve().parents[2]
ENTRY = "examples/training_with_provenance.py:replay_program"


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("example")
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "training_with_provenance.py"), "--epochs", "3",
                             "--store", str(tmp / "store"), "--out", str(tmp / "out")],
                            capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    key = result.stdout.split("--trusted-key ")[1].split()[0]
    return tmp / "out", key


def pot(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pot.cli", *argv], capture_output=True, text=True, cwd=ROOT,
                          timeout=900)


def test_pot_replay_confirms_the_examples_epochs_bit_for_bit(example: tuple[Path, str], tmp_path: Path) -> None:
    out, key = example
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "epoch-000.pt", "epoch-001.pt", "epoch-002.pt", "init.pt"]
    signer = SigningKey.generate()
    signer.save(tmp_path / "verifier.key")
    result = pot("replay", "--proof", str(out / "digits-mlp.proof.json"), "--checkpoints", str(out / "checkpoints"),
                 "--segments", "3", "--entry", ENTRY, "--trusted-key", key,
                 "--sign-with", str(tmp_path / "verifier.key"), "--attestation", str(tmp_path / "replay.json"))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert sum("ok   exact" in line for line in lines) == 3
    for epoch in range(3):
        assert any(f"epoch {epoch} (steps" in line for line in lines)
    assert "CONFIRMED: 3 of 3 segment(s)" in result.stdout and "bit for bit" in result.stdout
    statement = verify_attestation((tmp_path / "replay.json").read_bytes(), trusted_key=signer.public,
                                   proof_bytes=(out / "digits-mlp.proof.json").read_bytes())
    assert statement["verdict"] == "confirmed" and len(statement["segments"]) == 3


def test_pot_replay_refuses_a_replaced_checkpoint_naming_the_segment(example: tuple[Path, str],
                                                                      tmp_path: Path) -> None:
    from pot.replay.torch import read_state, write_state

    out, key = example
    copied = tmp_path / "checkpoints"
    copied.mkdir()
    for file in (out / "checkpoints").iterdir():
        copied.joinpath(file.name).write_bytes(file.read_bytes())
    state = read_state(copied / "epoch-001.pt")
    state["optimizer"]["param_groups"][0]["lr"] = 0.01  # start epoch 2 with another learning rate
    write_state(copied / "epoch-001.pt", state)
    result = pot("replay", str(out / "digits-mlp.proof.json"), "--checkpoints", str(copied), "--entry", ENTRY,
                 "--trusted-key", key, "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["verdict"] == "refused"
    assert [s["outcome"] for s in data["segments"]] == ["exact", "exact", "refused"]
    assert "epoch-001.pt is not the checkpoint file recorded at step" in data["segments"][2]["detail"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--entry", "examples/training_with_provenance.py:no_such_function"], "has no function 'no_such_function'"),
    (["--entry", "nowhere.py:f"], "no file nowhere.py"),
    (["--entry", ENTRY, "--segments", "0"], "--segments must be at least 1"),
    (["--entry", ENTRY, "--sign-with", "k"], "--sign-with and --attestation go together"),
])
def test_pot_replay_bad_input_is_one_line_and_exit_2(example: tuple[Path, str], argv: list[str],
                                                     message: str) -> None:
    out, _ = example
    result = pot("replay", str(out / "digits-mlp.proof.json"), "--checkpoints", str(out / "checkpoints"), *argv)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_pot_replay_of_a_proof_that_fails_replays_nothing(example: tuple[Path, str], tmp_path: Path) -> None:
    out, key = example
    document = json.loads((out / "digits-mlp.proof.json").read_text())
    steps = next(r for r in document["records"] if r["type"] == "steps")
    steps["batches"][0] = "0" * 64  # a recorded batch digest changed after signing
    (tmp_path / "p.json").write_text(json.dumps(document))
    (tmp_path / "bad.json").write_text("{")
    for proof in ("p.json", "bad.json"):
        result = pot("replay", str(tmp_path / proof), "--checkpoints", str(out / "checkpoints"), "--entry", ENTRY,
                     "--trusted-key", key)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "FAILED" in result.stdout and "nothing replayed" in result.stdout
