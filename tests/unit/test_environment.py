"""Automatic capture of what a run ran on: environment, git state, config hash, user; and what it must leave out."""

from __future__ import annotations

import getpass
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from pot.errors import FormatError, UsageError
from pot.lineage.environment import (
    capture_environment,
    capture_git,
    config_hash,
    current_user,
    environment_hash,
    installed_packages,
)
from pot.log.canonical import canonical_json, sha256_hex

SECRET = "0x4c0883a69102937d6231471b5dbb6204fe512961708279f3a1b9e7f5b3c0ffee"

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git binary")


# --- environment -------------------------------------------------------------------------------------------------


def test_capture_has_every_key_and_is_json() -> None:
    env = capture_environment()
    assert set(env) == {"python", "platform", "cpu_count", "packages", "torch"}
    assert set(env["python"]) == {"version", "implementation", "executable"}
    assert env["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert env["python"]["executable"] == os.path.basename(sys.executable)
    assert os.sep not in env["python"]["executable"]
    assert set(env["platform"]) == {"system", "release", "machine"}
    assert set(env["torch"]) == {"version", "cuda"}
    assert env["cpu_count"] == os.cpu_count()
    assert json.loads(canonical_json(env)) == env


def test_packages_include_pytest_sorted_and_normalised() -> None:
    packages = capture_environment()["packages"]
    assert packages["pytest"] == importlib.metadata.version("pytest")
    assert list(packages) == sorted(packages)
    assert all(name == name.lower() and "_" not in name and "." not in name for name in packages)


def write_dist(root: Path, folder: str, metadata: str) -> None:
    (root / folder).mkdir(parents=True)
    (root / folder / "METADATA").write_text(metadata)


def test_packages_are_deduplicated_first_on_sys_path_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_dist(tmp_path / "first", "Pot_Demo.Pkg-1.0.dist-info", "Metadata-Version: 2.1\nName: Pot_Demo.Pkg\n"
               "Version: 1.0\n")
    write_dist(tmp_path / "second", "pot_demo_pkg-2.0.dist-info", "Metadata-Version: 2.1\nName: POT-demo-pkg\n"
               "Version: 2.0\n")
    write_dist(tmp_path / "second", "nameless-1.0.dist-info", "Metadata-Version: 2.1\nVersion: 1.0\n")
    monkeypatch.syspath_prepend(str(tmp_path / "second"))
    monkeypatch.syspath_prepend(str(tmp_path / "first"))
    packages = installed_packages()
    assert packages["pot-demo-pkg"] == "1.0"
    assert not any("nameless" in name for name in packages)
    assert [name for name in packages if name.startswith("pot-demo")] == ["pot-demo-pkg"]


def test_torch_is_never_imported_and_cuda_comes_only_from_a_loaded_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    if "torch" not in sys.modules:
        env = capture_environment()
        assert "torch" not in sys.modules
        assert env["torch"]["cuda"] is None
    fake = types.ModuleType("torch")
    fake.version = types.SimpleNamespace(cuda="12.1")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch", fake)
    assert capture_environment()["torch"]["cuda"] == "12.1"
    fake.version = types.SimpleNamespace(cuda=None)  # type: ignore[attr-defined]  # a CPU build
    assert capture_environment()["torch"]["cuda"] is None


def test_torch_version_comes_from_package_metadata() -> None:
    try:
        expected: str | None = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        expected = None
    assert capture_environment()["torch"]["version"] == expected


def test_environment_hash_is_sha256_of_canonical_json() -> None:
    env = capture_environment()
    assert environment_hash(env) == sha256_hex(canonical_json(env))
    assert environment_hash(env) == environment_hash(json.loads(json.dumps(env)))
    changed = {**env, "packages": {**env["packages"], "pytest": "0.0.1"}}
    assert environment_hash(changed) != environment_hash(env)


# --- config hash -------------------------------------------------------------------------------------------------


def test_config_hash_known_answer_and_normalisation() -> None:
    config = {"lr": 0.001, "layers": [64, 64], "name": "resnet"}
    assert config_hash(config) == sha256_hex(b'{"layers":[64,64],"lr":0.001,"name":"resnet"}')
    assert config_hash({"name": "resnet", "layers": (64, 64), "lr": 0.001}) == config_hash(config)
    assert config_hash({"name": "resnet", "layers": [np.int64(64), np.int32(64)], "lr": np.float32(0.5)}) == \
        config_hash({"name": "resnet", "layers": [64, 64], "lr": 0.5})
    assert config_hash({**config, "lr": 0.002}) != config_hash(config)
    assert config_hash({"x": float("nan")}) == sha256_hex(b'{"x":"NaN"}')


def test_config_hash_of_a_numpy_float64_is_that_of_the_float() -> None:
    assert config_hash({"lr": np.float64(0.001)}) == config_hash({"lr": 0.001})


def test_config_hash_refuses_what_is_not_a_json_object() -> None:
    with pytest.raises(UsageError, match="^config must be a mapping, got list$"):
        config_hash([("lr", 1)])  # type: ignore[arg-type]
    with pytest.raises(FormatError, match=r"^config.optimizer: object cannot be recorded as JSON$"):
        config_hash({"optimizer": object()})
    with pytest.raises(FormatError, match="config: keys must be strings"):
        config_hash({1: "a"})  # type: ignore[dict-item]


# --- git ---------------------------------------------------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True,
                          env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
                               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"})
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # never find a repository above tmp_path
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q")
    git(path, "symbolic-ref", "HEAD", "refs/heads/trunk")
    (path / "train.py").write_text("print('train')\n")
    return path


@needs_git
def test_git_in_a_repository_before_and_after_a_commit(repo: Path) -> None:
    assert capture_git(repo) == {"commit": None, "dirty": False, "branch": "trunk"}  # no commit yet
    git(repo, "add", "train.py")
    git(repo, "commit", "-q", "-m", "first")
    head = git(repo, "rev-parse", "HEAD")
    assert capture_git(repo) == {"commit": head, "dirty": False, "branch": "trunk"}
    assert capture_git(str(repo / ".")) == capture_git(repo)


@needs_git
def test_git_dirty_after_an_edit_not_after_an_untracked_file(repo: Path) -> None:
    git(repo, "add", "train.py")
    git(repo, "commit", "-q", "-m", "first")
    (repo / "checkpoint.pt").write_bytes(b"weights")
    assert capture_git(repo)["dirty"] is False
    (repo / "train.py").write_text("print('changed')\n")
    assert capture_git(repo)["dirty"] is True
    git(repo, "add", "train.py")
    assert capture_git(repo)["dirty"] is True  # staged but not committed
    git(repo, "commit", "-q", "-m", "second")
    assert capture_git(repo)["dirty"] is False


@needs_git
def test_git_detached_head_has_no_branch(repo: Path) -> None:
    git(repo, "add", "train.py")
    git(repo, "commit", "-q", "-m", "first")
    git(repo, "checkout", "-q", "--detach")
    state = capture_git(repo)
    assert state["branch"] is None and state["commit"] == git(repo, "rev-parse", "HEAD")


@needs_git
def test_git_in_a_subdirectory_reports_the_repository(repo: Path) -> None:
    git(repo, "add", "train.py")
    git(repo, "commit", "-q", "-m", "first")
    (repo / "sub").mkdir()
    assert capture_git(repo / "sub")["commit"] == git(repo, "rev-parse", "HEAD")


@needs_git
def test_git_ignores_variables_that_point_at_another_repository(repo: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(other))
    assert capture_git(repo)["branch"] == "trunk"


@needs_git
def test_outside_a_repository_everything_is_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    (tmp_path / "plain").mkdir()
    unknown = {"commit": None, "dirty": None, "branch": None}
    assert capture_git(tmp_path / "plain") == unknown
    assert capture_git(tmp_path / "does-not-exist") == unknown


def test_without_git_everything_is_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no git on PATH
    assert capture_git(tmp_path) == {"commit": None, "dirty": None, "branch": None}


def test_a_git_that_hangs_is_given_up_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "git"
    fake.write_text("#!/bin/sh\nexec sleep 30\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert capture_git(tmp_path, timeout=0.2) == {"commit": None, "dirty": None, "branch": None}


def test_a_git_that_prints_garbage_gives_no_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "git"
    fake.write_text("#!/bin/sh\nprintf '# branch.oid nonsense\\n# branch.head dev\\n'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert capture_git(tmp_path) == {"commit": None, "dirty": False, "branch": "dev"}


# --- user and secrets --------------------------------------------------------------------------------------------


def test_current_user_falls_back_to_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(current_user(), str) and current_user()

    def fail() -> str:
        raise OSError("no login name")

    monkeypatch.setattr(getpass, "getuser", fail)
    assert current_user() == "unknown"
    monkeypatch.setattr(getpass, "getuser", lambda: "")
    assert current_user() == "unknown"


@needs_git
def test_no_environment_variable_value_is_captured(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRIVATE_KEY", SECRET)
    monkeypatch.setenv("POT_ETH_PRIVATE_KEY", SECRET)
    monkeypatch.setenv("HF_TOKEN", SECRET[::-1])
    git(repo, "add", "train.py")
    git(repo, "commit", "-q", "-m", "first")
    captured = json.dumps([capture_environment(), capture_git(repo), capture_git("/"), environment_hash(
        capture_environment())])
    assert SECRET not in captured and SECRET[::-1] not in captured
    assert SECRET[2:] not in captured and SECRET[2:].upper() not in captured
