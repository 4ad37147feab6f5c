"""Log lines as a person reads them: the CLI prefixes each with ``pot:``, so no message of the library may start
with it again (it printed ``pot: pot: ethereum could not anchor ...``)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOG_METHODS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "log"}
KEY = "0x" + "11" * 32  # a key for a chain that is not there


def _messages(path: Path) -> list[tuple[int, str]]:
    """(line, message) of every logging call in ``path`` whose message is a literal (``log.warning("...")``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in LOG_METHODS and node.args):
            continue
        message = node.args[1] if node.func.attr == "log" and len(node.args) > 1 else node.args[0]
        if isinstance(message, ast.Constant) and isinstance(message.value, str):
            found.append((node.lineno, message.value))
        elif isinstance(message, ast.JoinedStr) and message.values and isinstance(message.values[0], ast.Constant):
            found.append((node.lineno, str(message.values[0].value)))
    return found


def test_no_log_message_carries_the_prefix_the_cli_adds() -> None:
    calls = [(path, line, text) for path in sorted((ROOT / "pot").rglob("*.py")) for line, text in _messages(path)]
    assert len(calls) > 10  # the walk finds the library's log calls
    doubled = [f"{path.relative_to(ROOT)}:{line}: {text[:40]!r}" for path, line, text in calls
               if text.lstrip().lower().startswith("pot:")]
    assert doubled == []


def test_a_chain_warning_says_pot_once(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if name not in ("FORCE_LOCAL_BLOCKCHAIN",
                                                                             "BLOCKCHAIN_CLIENT_TYPE", "CHAIN_ID")}
    env.update(POT_HOME=str(tmp_path / "store"), RPC_URL="http://127.0.0.1:9", PRIVATE_KEY=KEY,
               CONTRACT_ADDRESS="0x5FbDB2315678afecb367f032d93F642f64180aa3", PYTHONPATH=str(ROOT))

    def pot(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pot.cli", *argv], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=120)

    assert pot("init", "--blockchain").returncode == 0
    result = pot("checkpoint", "--model-hash", "ab" * 32, "--epoch", "0", "--metrics", "{}", "--model-id", "m")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines and all(line.startswith("pot: ") for line in lines), result.stderr
    assert "could not anchor" in result.stderr  # the line this is about is there ...
    assert not [line for line in lines if line.startswith("pot: pot:")], result.stderr  # ... and says pot: once
