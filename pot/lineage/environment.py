"""What a run ran on, captured without asking: interpreter, platform, packages, torch/CUDA, git state, config hash.

A run record that carries :func:`capture_environment`'s dict (or just its :func:`environment_hash`),
:func:`capture_git` and :func:`config_hash` lets someone months later tell whether they are reproducing the run
in the same setting::

    run = {"environment": capture_environment(), "git": capture_git(), "config_hash": config_hash(config),
           "user": current_user()}

Privacy is part of the format. No environment variable's value goes into what :func:`capture_environment` and
:func:`capture_git` return (variables hold API keys and tokens); the interpreter is named by its file name only
(its directory often contains a user name); and the host name is left out, because it identifies a machine and a
person without helping anyone reproduce a run. :func:`current_user` is separate, so that recording who ran
something stays the caller's decision; it is the one value that may come from a variable (``getpass`` reads the
login name from ``LOGNAME`` or ``USER`` first).

Capture never raises on a machine that lacks something: a missing git, a directory that is not a repository,
a package with broken metadata all come out as None or are skipped.
"""

from __future__ import annotations

import contextlib
import getpass
import importlib.metadata
import os
import platform
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypedDict

from pot.errors import UsageError
from pot.log.canonical import HexDigest, canonical_json, sha256_hex, to_json_value

GIT_TIMEOUT = 10.0
"""Seconds one ``git status`` may take before the git state is recorded as unknown."""

# Variables that point git at another repository than the one asked about (a git hook sets GIT_DIR, say).
_GIT_REDIRECTS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                  "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_NAMESPACE")


class GitState(TypedDict):
    commit: str | None
    dirty: bool | None
    branch: str | None


def capture_environment() -> dict[str, Any]:
    """The interpreter, platform, installed packages, torch and CUDA versions and CPU count, as a JSON object.

    ``torch.version`` comes from package metadata; ``torch.cuda`` only from a torch the program has already
    imported (torch is never imported here: that takes seconds and may initialise a GPU). Both are None when
    unknown.
    """
    return {
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": os.path.basename(sys.executable) or None,
        },
        "platform": {"system": platform.system(), "release": platform.release(), "machine": platform.machine()},
        "cpu_count": os.cpu_count(),
        "packages": installed_packages(),
        "torch": {"version": _distribution_version("torch"), "cuda": _loaded_torch_cuda()},
    }


def installed_packages() -> dict[str, str]:
    """Every installed distribution, normalised name (PEP 503: lower case, runs of ``-_.`` as ``-``) -> version.

    Sorted by name. When a name is installed twice on ``sys.path``, the first one, the one ``import`` finds,
    is kept. Distributions without a name or version are skipped.
    """
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        try:
            name, version = dist.metadata["Name"], dist.version
        except Exception:  # metadata a broken install cannot give; skip it rather than fail the run
            continue
        if not isinstance(name, str) or not name or not isinstance(version, str) or not version:
            continue
        found.setdefault(_normalise(name), version)
    return dict(sorted(found.items()))


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _distribution_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _loaded_torch_cuda() -> str | None:
    torch = sys.modules.get("torch")
    cuda = getattr(getattr(torch, "version", None), "cuda", None)
    return cuda if isinstance(cuda, str) else None


def environment_hash(env: Mapping[str, Any]) -> HexDigest:
    """SHA-256 (hex) of the canonical JSON (RFC 8785) of a captured environment."""
    return sha256_hex(canonical_json(to_json_value(env, path="environment")))


def config_hash(config: Mapping[str, Any]) -> HexDigest:
    """SHA-256 (hex) of the canonical JSON of a run configuration, after :func:`pot.log.canonical.to_json_value`.

    Key order, tuples versus lists and numpy versus Python scalars do not change it; any value does.
    A value JSON cannot carry is a :class:`~pot.errors.FormatError`.
    """
    if not isinstance(config, Mapping):
        raise UsageError(f"config must be a mapping, got {type(config).__name__}")
    return sha256_hex(canonical_json(to_json_value(config, path="config")))


def capture_git(path: str | os.PathLike[str] = ".", *, timeout: float = GIT_TIMEOUT) -> GitState:
    """The commit checked out at ``path``, whether tracked files have uncommitted changes, and the branch.

    One ``git status --porcelain=v2 --branch``. ``commit`` is None before the first commit, ``branch`` when
    HEAD is detached; all three are None when ``path`` is not in a work tree, git is not installed, or git does
    not answer within ``timeout`` seconds. Untracked files do not make the tree dirty (checkpoints and logs are
    often written inside it). Git may not take its optional index lock, so this is safe beside a running git.
    """
    unknown: GitState = {"commit": None, "dirty": None, "branch": None}
    env = {key: value for key, value in os.environ.items() if key not in _GIT_REDIRECTS}
    env.update(LC_ALL="C", GIT_OPTIONAL_LOCKS="0", GIT_TERMINAL_PROMPT="0")
    try:
        done = subprocess.run(
            ["git", "-c", "core.fsmonitor=false", "-C", str(Path(path)), "status", "--porcelain=v2", "--branch",
             "--untracked-files=no"],
            stdin=subprocess.DEVNULL, capture_output=True, env=env, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError, ValueError):
        return unknown
    if done.returncode != 0:
        return unknown
    state: GitState = {"commit": None, "dirty": False, "branch": None}
    for line in done.stdout.decode("utf-8", "replace").splitlines():
        if line.startswith("# branch.oid "):
            oid = line.removeprefix("# branch.oid ")
            state["commit"] = oid if re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", oid) else None
        elif line.startswith("# branch.head "):
            head = line.removeprefix("# branch.head ")
            state["branch"] = None if head == "(detached)" else head
        elif line and not line.startswith("#"):
            state["dirty"] = True
    return state


def current_user() -> str:
    """The login name, as :func:`getpass.getuser` finds it (LOGNAME, USER, LNAME, USERNAME, then the password
    database), or ``"unknown"``."""
    with contextlib.suppress(Exception):
        name = getpass.getuser()
        if name:
            return name
    return "unknown"


__all__ = [
    "GIT_TIMEOUT",
    "GitState",
    "capture_environment",
    "capture_git",
    "config_hash",
    "current_user",
    "environment_hash",
    "installed_packages",
]
