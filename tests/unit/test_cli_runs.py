"""The registry's command line: runs, lineage, promote, rollback, history --plot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pot import ProvenanceConfig, ProvenanceRecorder
from pot.cli import main
from pot.lineage.events import parent_dataset, parent_model

from .conftest import digest


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("POT_HOME", str(tmp_path / "store"))
    with ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp_path / "store"))) as recorder:
        with recorder.start_run("base", config={"lr": 0.1}, parents=[parent_dataset("digits", digest="d" * 64)]):
            for epoch in range(3):
                recorder.record_step(epoch + 1, {"loss": 1 / (epoch + 1)}, "base", epoch=epoch)
                recorder.record_training_checkpoint(model_hash=digest(epoch), metrics={"loss": 1 / (epoch + 1)},
                                                    epoch=epoch, model_id="base")
            recorder.record_validation(model_hash=digest(2), validator_id="holdout",
                                       validation_result={"accuracy": 0.93}, model_id="base")
        proof = recorder.generate_proof_of_training("base")
        proof.save(tmp_path / "base.proof.json")
        with recorder.start_run("tuned", kind="finetune", config={"lr": 0.01}, parents=[parent_model(proof)]):
            recorder.record_training_checkpoint(model_hash=digest(9), metrics={"loss": 0.1}, epoch=0,
                                                model_id="tuned")
    return tmp_path / "store"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def newest_run(capsys: pytest.CaptureFixture[str], kind: str) -> str:
    _, out, _ = run(capsys, "--json", "runs", "list", "--kind", kind, "-n", "1")
    return str(json.loads(out)[0]["run_id"])


def test_runs_list_show_stats(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "runs", "list")
    assert code == 0 and "finetune" in out and "completed" in out
    code, out, _ = run(capsys, "--json", "runs", "list", "--status", "completed", "-n", "1")
    assert len(json.loads(out)) == 1
    run_id = newest_run(capsys, "train")
    code, out, _ = run(capsys, "runs", "show", run_id)
    assert code == 0 and "config (" in out and "parent: trained_on dataset digits" in out and "packages" in out
    code, out, _ = run(capsys, "runs", "stats")
    assert code == 0 and "2 run(s)" in out and "by kind: finetune 1, train 1" in out


def test_export_config_and_lineage(store: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run_id = newest_run(capsys, "train")
    code, out, _ = run(capsys, "runs", "export-config", run_id, "--out", "config.json")
    exported = json.loads((tmp_path / "config.json").read_text())
    assert code == 0 and exported["run_id"] == run_id and exported["config"] == {"lr": 0.1}
    code, out, _ = run(capsys, "lineage", "tuned")
    assert code == 0 and "ancestors: 4" in out and "dataset digits" in out
    code, out, _ = run(capsys, "--json", "lineage", "digits")
    assert {node["node_id"] for node in json.loads(out)["nodes"]} >= {"digits", "base", "tuned"}
    code, out, _ = run(capsys, "lineage", "tuned", "--dot")
    assert code == 0 and out.startswith("digraph") and '"tuned" -> ' in out


def test_reproducible_follows_parent_proofs(store: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run_id = newest_run(capsys, "finetune")
    code, out, _ = run(capsys, "runs", "reproducible", run_id, "--parent", str(tmp_path / "base.proof.json"))
    assert "ok   parent model base" in out and "its proof verifies and holds the referenced head" in out
    assert code == 1 and "NOT REPRODUCIBLE" in out  # the test's working directory is not a clean git commit


def test_promote_and_rollback(store: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "promote", "--model-id", "base", "--stage", "staging", "--gate",
                       '{"thresholds": {"accuracy": {">=": 0.9}}}')
    assert code == 0 and out.startswith("PROMOTED")
    gate = tmp_path / "gate.json"
    gate.write_text('{"thresholds": {"accuracy": {">=": 0.99}}}')
    code, out, _ = run(capsys, "promote", "--model-id", "base", "--stage", "production", "--gate", str(gate))
    assert code == 1 and out.startswith("REFUSED") and "recorded as PromotionRefused" in out
    code, out, _ = run(capsys, "rollback", "--model-id", "base", "--stage", "staging", "--to", digest(2),
                       "--reason", "canary errors")
    assert code == 0 and "rolled back" in out
    code, out, _ = run(capsys, "history", "--model-id", "base")
    assert "PromotionRefused" in out and "ModelRolledBack" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["runs", "show", "run-missing"], "unknown run id 'run-missing'"),
    (["lineage", "nowhere"], "unknown lineage id 'nowhere'"),
    (["runs", "list", "-n", "0"], "-n must be at least 1"),
    (["promote", "--model-id", "base", "--stage", "s", "--gate", "{oops"], "gate"),
    (["promote", "--model-id", "base", "--stage", "s", "--gate", '{"thresholds": {}}'],
     "thresholds must be a non-empty object"),
    (["promote", "--model-id", "ghost", "--stage", "s", "--gate", '{"thresholds": {"a": {">=": 1}}}'],
     "unknown model id 'ghost'"),
    (["rollback", "--model-id", "base", "--stage", "production", "--to", "x", "--reason", "r"],
     "was never promoted"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_changes(store: Path, capsys: pytest.CaptureFixture[str],
                                                          argv: list[str], message: str) -> None:
    before = run(capsys, "--json", "history", "--model-id", "base")[1]
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert run(capsys, "--json", "history", "--model-id", "base")[1] == before


def test_history_plot(store: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    code, _, _ = run(capsys, "history", "--model-id", "base", "--plot", "metrics.png")
    assert code == 0 and (tmp_path / "metrics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
