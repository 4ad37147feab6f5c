"""The README's main job: the example trains, records, proves and verifies; its run is in the registry and its
exported config runs it again."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parents[2]


def test_the_example_proves_its_training_and_reruns_from_its_config(tmp_path: Path) -> None:
    store, out = tmp_path / "store", tmp_path / "out"

    def example(*extra: str) -> str:
        result = subprocess.run([sys.executable, str(ROOT / "examples" / "training_with_provenance.py"),
                                 "--epochs", "4", "--store", str(store), "--out", str(out), *extra],
                                capture_output=True, text=True, cwd=ROOT, timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def pot(*argv: str) -> str:
        result = subprocess.run([sys.executable, "-m", "pot.cli", "--store", str(store), *argv],
                                capture_output=True, text=True, cwd=ROOT)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    first = example()
    assert "\nVERIFIED\n" in first
    proof = out / "digits-mlp.proof.json"
    assert "VERIFIED" in pot("verify", "--proof", str(proof), "--checkpoint", str(out / "digits-mlp.pt"))

    [run] = json.loads(pot("--json", "runs", "list"))
    assert run["status"] == "completed" and run["kind"] == "train"
    assert run["git_commit"]  # the example runs inside this repository's checkout
    shown = json.loads(pot("--json", "runs", "show", run["run_id"]))
    assert shown["started_data"]["environment"]["torch"]["version"]
    assert "torch" in shown["started_data"]["environment"]["packages"]
    assert shown["started_data"]["config"]["epochs"] == 4

    pot("runs", "export-config", run["run_id"], "--out", str(tmp_path / "config.json"))
    second = example("--config", str(tmp_path / "config.json"))
    assert f"a rerun of {run['run_id']}" in second
    runs = json.loads(pot("--json", "runs", "list"))
    assert len(runs) == 2 and runs[0]["rerun_of"] == run["run_id"]
    assert runs[0]["config_hash"] == run["config_hash"]
