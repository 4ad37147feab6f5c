"""`pot verify --checkpoint FILE`: one verdict in text, JSON and exit code, and a released weights file is found by
its weights digest whatever file it was saved in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

from pot import ProvenanceConfig, ProvenanceRecorder  # noqa: E402
from pot.cli import main  # noqa: E402
from pot.integrations.torch import hash_model  # noqa: E402


@pytest.fixture
def trained(tmp_path: Path) -> tuple[Path, dict[str, Path]]:
    """A proof of two checkpoints, the second saved as a file; the final weights released three ways."""
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp_path / "store")))
    recorder.record_training_checkpoint(model_hash=hash_model(model).digest, metrics={"loss": 1.0}, epoch=0,
                                        model_id="m")
    with torch.no_grad():
        model.weight.add_(0.5)
    saved = tmp_path / "epoch-1.pt"
    torch.save({"state_dict": model.state_dict(), "epoch": 1}, saved)  # a Lightning-style checkpoint
    recorder.record_training_checkpoint(model_hash=hash_model(model).digest, metrics={"loss": 0.5}, epoch=1,
                                        model_id="m", checkpoint_path=saved)
    recorder.record_validation(model_hash=hash_model(model).digest, validator_id="holdout",
                               validation_result={"accuracy": 0.9}, model_id="m")
    proof = tmp_path / "m.proof.json"
    recorder.generate_proof_of_training("m").save(proof)
    recorder.close()
    files = {"checkpoint": saved, "safetensors": tmp_path / "final.safetensors", "state_dict": tmp_path / "final.pt"}
    safetensors_torch.save_file(dict(model.state_dict()), str(files["safetensors"]))
    torch.save(model.state_dict(), files["state_dict"])
    with torch.no_grad():
        model.weight.add_(1.0)
    files["other"] = tmp_path / "other.safetensors"
    safetensors_torch.save_file(dict(model.state_dict()), str(files["other"]))
    files["text"] = tmp_path / "notes.txt"
    files["text"].write_text("not weights\n")
    return proof, files


def verify(capsys: pytest.CaptureFixture[str], proof: Path, file: Path, *extra: str) -> tuple[int, str]:
    code = main(["verify", "--proof", str(proof), "--checkpoint", str(file), *extra])
    return code, capsys.readouterr().out


@pytest.mark.parametrize("kind", ["safetensors", "state_dict"])
def test_released_weights_are_found_by_their_weights_digest(trained: tuple[Path, dict[str, Path]], kind: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    proof, files = trained
    code, out = verify(capsys, proof, files[kind])
    assert code == 0 and out.rstrip().endswith("VERIFIED")
    assert "as these weights at epoch 1 (record 1, checkpoint)" in out
    assert "as these weights (record 2, validation)" in out
    code, out = verify(capsys, proof, files[kind], "--json")
    data = json.loads(out)
    assert code == 0 and data["ok"] and data["checkpoint"]["recorded"]
    assert {(m["by"], m["seq"]) for m in data["checkpoint"]["matches"]} == {("weights", 1), ("weights", 2)}


def test_the_saved_checkpoint_file_matches_as_a_file_and_as_weights(trained: tuple[Path, dict[str, Path]],
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    proof, files = trained
    code, out = verify(capsys, proof, files["checkpoint"])
    assert code == 0 and "as this file at epoch 1 (record 1, checkpoint)" in out


@pytest.mark.parametrize("kind", ["other", "text"])
def test_a_file_the_proof_does_not_hold_is_one_failed_verdict(trained: tuple[Path, dict[str, Path]], kind: str,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    proof, files = trained
    code, out = verify(capsys, proof, files[kind])
    assert code == 1 and "VERIFIED" not in out
    assert out.rstrip().splitlines()[-1].startswith("FAILED: checkpoint: ") and "is NOT a file or weights" in out
    code, out = verify(capsys, proof, files[kind], "--json")
    data = json.loads(out)
    assert code == 1 and data["ok"] is False and data["checkpoint"]["recorded"] is False
    assert {"name": "checkpoint", "passed": False, "detail": data["checkpoint"]["message"]} in data["checks"]

