"""``pot runs compare A B``: two real runs, recorded from two git checkouts with different packages installed, read
side by side as a person and as a script reads them."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pot.cli import main
from pot.lineage.compare import environment_diff, flatten
from tests.support.audit import CONFIG_A, CONFIG_B, EPOCHS_A, EPOCHS_B, spec

ROOT = Path(__file__).resolve().parents[2]
REAL_RFC8785 = importlib.metadata.version("rfc8785")


@dataclass(frozen=True)
class Compared:
    store: Path
    run_a: str
    run_b: str
    commit_a: str
    commit_b: str


def git(repo: Path, *argv: str) -> str:
    return subprocess.run(["git", "-c", "user.name=pot", "-c", "user.email=pot@localhost", *argv], cwd=repo,
                          check=True, capture_output=True, text=True).stdout.strip()


def checkout(path: Path, branch: str, content: str, *, dirty: bool) -> str:
    path.mkdir()
    git(path, "init", "-q", "-b", branch)
    (path / "train.py").write_text(content)
    git(path, "add", "train.py")
    git(path, "commit", "-q", "-m", "training script")
    if dirty:
        (path / "train.py").write_text(content + "# tuned by hand\n")
    return git(path, "rev-parse", "HEAD")


def installed(site: Path, packages: dict[str, str]) -> Path:
    """A directory that, on PYTHONPATH, installs these distributions (their metadata, which is what an environment
    capture reads; a name already installed elsewhere is shadowed, as a virtualenv earlier on the path does)."""
    for name, version in packages.items():
        info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return site


def record_elsewhere(run_spec: dict[str, Any], cwd: Path, site: Path) -> str:
    """Record a run in another process, from ``cwd`` (its git state) with ``site`` first on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "POT_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT)])
    done = subprocess.run([sys.executable, "-m", "tests.support.training_run", json.dumps(run_spec)], cwd=cwd,
                          env=env, check=True, capture_output=True, text=True, timeout=120)
    return str(json.loads(done.stdout)["run_id"])


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> Compared:
    root = tmp_path_factory.mktemp("compare")
    store = root / "store"
    commit_a = checkout(root / "repo-a", "main", "print('a')\n", dirty=False)
    commit_b = checkout(root / "repo-b", "experiment", "print('b')\n", dirty=True)
    site_a = installed(root / "site-a", {"extra-thing": "1.0", "rfc8785": "0.0.1"})
    site_b = installed(root / "site-b", {"another-thing": "2.0"})
    run_a = record_elsewhere(spec(store, "digits-a", CONFIG_A, EPOCHS_A, logged={"test_loss": 0.31},
                                  validation={"validator": "holdout", "result": {"accuracy": 0.93, "f1": 0.9}}),
                             root / "repo-a", site_a)
    run_b = record_elsewhere(spec(store, "digits-b", CONFIG_B, EPOCHS_B,
                                  validation={"validator": "holdout", "result": {"accuracy": 0.95, "f1": 0.93}}),
                             root / "repo-b", site_b)
    return Compared(store, run_a, run_b, commit_a, commit_b)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def paragraph(text: str, title: str) -> list[str]:
    return next(p for p in text.split("\n\n") if p.startswith(title)).splitlines()


def rows(lines: list[str]) -> list[list[str]]:
    """A table's rows below its header and rule, split on runs of two spaces or more."""
    return [re.split(r"\s{2,}", line.strip()) for line in lines[2:]]


def test_text_shows_what_differs(compared: Compared, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--store", str(compared.store), "runs", "compare", compared.run_a, compared.run_b)
    assert code == 0 and err == ""
    head = paragraph(out, "runs ")
    assert head[0] == f"runs {compared.run_a} (a) and {compared.run_b} (b)"
    summary = {row[0]: row[1:] for row in rows(head[1:])}
    assert summary["model"] == ["digits-a", "digits-b"]
    assert summary["git"] == [f"{compared.commit_a[:12]} (clean) on main",
                              f"{compared.commit_b[:12]} with uncommitted changes on experiment"]
    assert summary["records"] == ["3 checkpoint(s), 1 validation(s)", "4 checkpoint(s), 1 validation(s)"]

    config = paragraph(out, "configuration:")
    assert config[0] == "configuration: 2 changed, 3 added, 2 removed, 1 unchanged"
    assert rows(config[1:]) == [
        ["batch_size", "(absent)", "32"], ["dropout", "0.1", "(absent)"], ["lr", "0.1", "0.01"],
        ["optimizer.betas", "(absent)", "[0.9,0.999]"], ["optimizer.momentum", "0.9", "(absent)"],
        ["optimizer.name", "sgd", "adam"], ['schedule["warmup.steps"]', "(absent)", "100"]]

    environment = paragraph(out, "environment:")
    assert environment[0].startswith("environment: 0 changed, 0 added, 0 removed, ")
    assert environment[0].endswith("; packages: 1 changed, 1 added, 1 removed, "
                                   f"{environment[0].split()[-2]} unchanged")
    assert rows(environment[1:]) == [["package another-thing", "(absent)", "2.0"],
                                     ["package extra-thing", "1.0", "(absent)"],
                                     ["package rfc8785", "0.0.1", REAL_RFC8785]]

    assert paragraph(out, "git:") == [
        "git: different commits", "  key     a                                         b",
        "  ------  ----------------------------------------  ----------------------------------------",
        "  branch  main                                      experiment",
        f"  commit  {compared.commit_a}  {compared.commit_b}",
        "  dirty   false                                     true"]

    metrics = paragraph(out, "metrics by epoch (checkpoints):")
    assert metrics[1].split() == ["epoch", "accuracy", "a", "accuracy", "b", "loss", "a", "loss", "b"]
    assert [line.split() for line in metrics[3:]] == [
        ["0", "0.61", "0.66", "0.9", "0.8"], ["1", "0.84", "0.87", "0.5", "0.4"], ["2", "0.93", "0.94", "0.25", "0.2"],
        ["3", "0.95", "0.15"]]

    final = paragraph(out, "final values (the last recorded of each):")
    assert rows(final[1:]) == [
        ["checkpoint", "accuracy", "0.93", "0.95", "+0.02"], ["checkpoint", "loss", "0.25", "0.15", "-0.1"],
        ["step", "loss", "0.416667", "0.275", "-0.141667"], ["logged", "test_loss", "0.31", "(absent)"],
        ["validation holdout", "accuracy", "0.93", "0.95", "+0.02"],
        ["validation holdout", "f1", "0.9", "0.93", "+0.03"]]


def test_json_says_the_same(compared: Compared, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--store", str(compared.store), "--json", "runs", "compare", compared.run_a,
                       compared.run_b)
    data = json.loads(out)
    assert code == 0 and data["a"]["run_id"] == compared.run_a and data["b"]["model_id"] == "digits-b"
    assert data["config"]["identical"] is False
    assert data["config"]["changed"] == [{"key": "lr", "a": 0.1, "b": 0.01},
                                         {"key": "optimizer.name", "a": "sgd", "b": "adam"}]
    assert data["config"]["added"][0] == {"key": "batch_size", "b": 32}
    assert data["config"]["removed"] == [{"key": "dropout", "a": 0.1}, {"key": "optimizer.momentum", "a": 0.9}]
    packages = data["environment"]["packages"]
    assert packages["changed"] == [{"key": "rfc8785", "a": "0.0.1", "b": REAL_RFC8785}]
    assert packages["added"] == [{"key": "another-thing", "b": "2.0"}]
    assert packages["removed"] == [{"key": "extra-thing", "a": "1.0"}]
    assert data["git"]["same_commit"] is False and data["a"]["git"]["commit"] == compared.commit_a
    assert data["metrics"]["names"] == ["accuracy", "loss"]
    assert data["metrics"]["epochs"][3] == {"epoch": 3, "a": {}, "b": EPOCHS_B[3]}
    assert {"source": "logged", "validator": None, "metric": "test_loss", "a": 0.31, "difference": None} \
        in data["final"]


def test_a_run_against_itself_differs_in_nothing(compared: Compared, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--store", str(compared.store), "runs", "compare", compared.run_b, compared.run_b)
    assert code == 0
    assert "configuration: the same (one config hash)" in out and "environment: the same (one environment hash)" in out
    assert f"git: the same commit {compared.commit_b}" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["runs", "compare", "run-nope", "{b}"], "unknown run id 'run-nope'; the newest is "),
    (["runs", "compare", "{a}"], "the following arguments are required: B"),
])
def test_bad_run_ids_are_one_line_and_exit_2(compared: Compared, capsys: pytest.CaptureFixture[str],
                                             argv: list[str], message: str) -> None:
    argv = [a.replace("{a}", compared.run_a).replace("{b}", compared.run_b) for a in argv]
    code, out, err = run(capsys, "--store", str(compared.store), *argv)
    assert code == 2 and out == "" and message in err and len(err.strip().splitlines()) == 1


def test_environments_differ_by_interpreter_platform_and_cuda() -> None:
    a = {"python": {"version": "3.11.7", "implementation": "CPython"}, "platform": {"system": "Linux"},
         "cpu_count": 2, "torch": {"version": "2.13.0", "cuda": None},
         "packages": {"numpy": "2.1.0", "torch": "2.13.0"}}
    b = {"python": {"version": "3.12.1", "implementation": "CPython"}, "platform": {"system": "Linux"},
         "cpu_count": 8, "torch": {"version": "2.13.0", "cuda": "12.4"}, "packages": {"numpy": "2.1.0"}}
    changes = environment_diff(a, b)
    assert changes["changed"] == [{"key": "cpu_count", "a": 2, "b": 8}, {"key": "python.version", "a": "3.11.7",
                                                                          "b": "3.12.1"},
                                  {"key": "torch.cuda", "a": None, "b": "12.4"}]
    assert changes["unchanged"] == 3 and changes["packages"]["removed"] == [{"key": "torch", "a": "2.13.0"}]
    # an environment recorded without capture ({}) has no packages to compare apart
    assert environment_diff(a, {})["packages"] is None


def test_nested_keys_have_one_path_each() -> None:
    assert flatten({"a": {"b": 1, "c.d": 2, "": 3, "[x]": {}}, "e": [1, {"f": 2}], "g": {}}) == {
        "a.b": 1, 'a["c.d"]': 2, 'a[""]': 3, 'a["[x]"]': {}, "e": [1, {"f": 2}], "g": {}}
