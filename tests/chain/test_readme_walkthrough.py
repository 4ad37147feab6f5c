"""The README's walkthrough (from the example to a chain to an audit) runs as written, and prints what the README
shows: every ``$`` command of its ``console`` blocks runs in one shell against a fresh anvil, exits 0, and its
output matches the lines under it.

Matching: ``...`` in the README stands for any lines (none included). What differs from run to run is normalised
on both sides before comparing: times, digests, transaction hashes, decimals and integers (block numbers, head
counts, byte counts), and runs of spaces and dashes (table widths). How many tree heads a run signs depends on
timing, so consecutive lines that normalise alike count as one."""

from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.anvil import DEV_ACCOUNTS, ROOT, Anvil

pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytestmark = pytest.mark.chain

README = ROOT / "README.md"
SECTION = "## From the example to your own loop, a chain and an audit"
README_RPC = "http://127.0.0.1:8545"
MARK = "@@pot-walkthrough"


def walkthrough() -> list[tuple[str, list[str]]]:
    """The section's commands, each with the output lines shown under it."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index(SECTION):]
    section = section[:section.index("\n## ", len(SECTION))]
    steps: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", section, flags=re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            else:
                steps[-1][1].append(line)
    return steps


_PATTERNS = [
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"), "<time>"),
    (re.compile(r"run-\d{8}T\d{6}-[0-9a-f]{8}"), "<run>"),
    (re.compile(r"\d{8}T\d{6}\d*Z"), "<time>"),
    (re.compile(r"0x[0-9a-fA-F]{40,64}"), "<0x>"),
    (re.compile(r"[0-9a-f]{16,64}(\.\.\.)?"), "<hex>"),
    (re.compile(r"\d{1,3}(,\d{3})+|\d+\.\d+|\d+"), "<n>"),
    (re.compile(r"heads? <n>(-<n>)?"), "head(s)"),
    (re.compile(r"-{2,}"), "-"),
    (re.compile(r" {2,}"), " "),
]


def normalise(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        if line == "...":
            out.append(line)
            continue
        for pattern, replacement in _PATTERNS:
            line = pattern.sub(replacement, line)
        line = line.rstrip()
        shown = [kept for kept in out if kept != "..."]
        if not shown or shown[-1] != line:  # alike lines count once, with or without "..." between them
            out.append(line)
    return out


def matches(expected: list[str], actual: list[str]) -> bool:
    """``expected`` (with ``...`` for any lines) against ``actual``, line by line."""
    memo: dict[tuple[int, int], bool] = {}

    def at(i: int, j: int) -> bool:
        if (i, j) not in memo:
            if i == len(expected):
                memo[i, j] = j == len(actual)
            elif expected[i] == "...":
                memo[i, j] = any(at(i + 1, k) for k in range(j, len(actual) + 1))
            else:
                memo[i, j] = j < len(actual) and expected[i] == actual[j] and at(i + 1, j + 1)
        return memo[i, j]

    return at(0, 0)


def test_the_matcher_fails_on_a_difference() -> None:
    shown = normalise(["proof p.json: VERIFIED (10 checks passed)", "...", "VERIFIED"])
    assert matches(shown, normalise(["proof p.json: VERIFIED (12 checks passed)", "a", "b", "VERIFIED"]))
    assert not matches(shown, normalise(["proof p.json: FAILED (9 checks passed)", "VERIFIED"]))
    assert not matches(shown, normalise(["proof p.json: VERIFIED (10 checks passed)", "FAILED"]))


def test_the_readme_walkthrough_prints_what_the_readme_shows(fresh_anvil: Anvil, tmp_path: Path) -> None:
    steps = walkthrough()
    assert [command.split()[:2] for command, _ in steps if command.startswith("pot ")] == [
        ["pot", "init"], ["pot", "contract"], ["pot", "show"], ["pot", "verify"], ["pot", "chain"]]
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "training_with_provenance.py").symlink_to(
        ROOT / "examples" / "training_with_provenance.py")
    script = ["set -u"]
    for index, (command, _) in enumerate(steps):
        if command.startswith(". .venv/bin/activate"):
            command = "true"  # this interpreter's environment is on PATH already
        script += [f"echo '{MARK} step {index}'", command.replace(README_RPC, fresh_anvil.url) + " 2>&1",
                   f"echo \"{MARK} rc $?\""]
    chain = ("RPC_URL", "PRIVATE_KEY", "CONTRACT_ADDRESS", "CHAIN_ID", "FORCE_LOCAL_BLOCKCHAIN",
             "BLOCKCHAIN_CLIENT_TYPE", "POT_HOME", "POT_KEY_FILE", "POT_KEY_PASSPHRASE")
    env = {name: value for name, value in os.environ.items() if name not in chain}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)
    assert DEV_ACCOUNTS[0][1] in "\n".join(c for c, _ in steps)  # the README's key is anvil's first account
    result = subprocess.run(["bash", "-c", "\n".join(script)], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    printed = result.stdout.replace(fresh_anvil.url, README_RPC).split(f"{MARK} step ")[1:]
    assert len(printed) == len(steps), result.stdout[-3000:]
    proof = json.loads((tmp_path / "examples" / "out" / "walk" / "digits-mlp.proof.json").read_text())
    [validation] = [r["seq"] for r in proof["records"] if r["type"] == "validation"]
    [check] = [command for command, _ in steps if command.startswith("pot chain check-record")]
    assert f"--seq {validation} " in check  # the README checks the validation record on chain, as it says
    for (command, shown), chunk in zip(steps, printed, strict=True):
        body, _, status = chunk.partition(f"{MARK} rc ")
        actual = body.splitlines()[1:]  # the first line is the step's index
        assert status.strip() == "0", f"$ {command}\n" + "\n".join(actual)
        assert "Traceback" not in body
        expected, got = normalise(shown), normalise(actual)
        assert matches(expected, got), f"$ {command}\n" + "\n".join(
            difflib.unified_diff(expected, got, "README (normalised)", "printed (normalised)", lineterm=""))
