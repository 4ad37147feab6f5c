"""pot without the ``[chain]`` extra: every chain verb says in one line what to install (exit 3), and a recorder asked
for chain anchoring records locally with a warning, its heads pending.

Each test runs pot in a subprocess whose ``sys.modules`` maps web3, requests and eth_account to None before pot is
imported: that is exactly how Python reports a module that is not installed (ModuleNotFoundError on import).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pot.anchors.ethereum import ANCHORED_TOPIC
from tests.support.anvil import DEV_ACCOUNTS, ROOT

INSTALL = "pip install 'pot-provenance[chain]'"
KEY = DEV_ACCOUNTS[0][1]
BLOCK = "import sys\nfor name in ('web3', 'requests', 'eth_account'):\n    sys.modules[name] = None\n"
CLI = BLOCK + "from pot.cli import main\nraise SystemExit(main(sys.argv[1:]))\n"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environ = {name: value for name, value in os.environ.items() if name not in (
        "RPC_URL", "PRIVATE_KEY", "CONTRACT_ADDRESS", "CHAIN_ID", "FORCE_LOCAL_BLOCKCHAIN", "BLOCKCHAIN_CLIENT_TYPE")}
    return {**environ, "POT_HOME": str(tmp_path / "store"), "PYTHONPATH": str(ROOT),
            # a hosted-style URL: its key must not show either
            "RPC_URL": "http://127.0.0.1:9/v3/APIKEY1234567890", "PRIVATE_KEY": KEY,
            "CONTRACT_ADDRESS": "0x5FbDB2315678afecb367f032d93F642f64180aa3"}


def pot(env: dict[str, str], cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-c", CLI, *argv], env=env, cwd=cwd, capture_output=True, text=True,
                            timeout=120)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    assert "APIKEY1234567890" not in result.stdout + result.stderr
    assert KEY.removeprefix("0x") not in result.stdout + result.stderr
    return result


def assert_install_line(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 3, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and INSTALL in lines[0], result.stderr


def test_the_anchor_module_imports_in_a_subprocess_without_web3(env: dict[str, str], tmp_path: Path) -> None:
    code = BLOCK + ("import pot.anchors.ethereum\n"
                    "try:\n    import web3\nexcept ModuleNotFoundError:\n    print('no web3')\n")
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.strip() == "no web3"


def test_chain_verbs_name_the_extra(env: dict[str, str], tmp_path: Path) -> None:
    assert pot(env, tmp_path, "init", "--blockchain").returncode == 0
    # Recording goes on: the record is stored, the warning says what to install.
    recorded = pot(env, tmp_path, "checkpoint", "--model-hash", "ab" * 32, "--epoch", "0", "--metrics", "{}",
                   "--model-id", "m")
    assert recorded.returncode == 0, recorded.stderr
    assert len(recorded.stderr.strip().splitlines()) == 1 and INSTALL in recorded.stderr
    assert pot(env, tmp_path, "proof", "--model-id", "m", "--output", "p.json").returncode == 0

    assert_install_line(pot(env, tmp_path, "contract", "deploy"))
    assert_install_line(pot(env, tmp_path, "anchor", "--pending"))
    assert_install_line(pot(env, tmp_path, "verify", "--proof", "p.json", "--rpc", env["RPC_URL"]))
    tested = pot(env, tmp_path, "test", "--blockchain")
    assert tested.returncode == 3
    assert INSTALL in tested.stdout and "FAIL chain client" in tested.stdout

    # Offline, the same proof verifies without the chain packages.
    assert pot(env, tmp_path, "verify", "--proof", "p.json").returncode == 0


def test_a_recorder_records_locally_with_a_warning(env: dict[str, str], tmp_path: Path) -> None:
    code = BLOCK + """
import logging
from pot import ProvenanceConfig, ProvenanceRecorder
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
config = ProvenanceConfig(enabled=True, blockchain_enabled=True, store_dir=sys.argv[1])
with ProvenanceRecorder(config) as recorder:
    for epoch in range(3):
        assert recorder.record_training_checkpoint(model_hash=f"{epoch:064x}", metrics={"loss": 0.1}, epoch=epoch,
                                                   model_id="m")
    recorder.flush()
    print("records", recorder.store.size("m"), "pending", len(recorder.store.pending_heads("ethereum")))
    assert recorder.verify_training_provenance(recorder.generate_proof_of_training("m"))
"""
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "store")], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "records 3 pending 1"
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == 1 and warnings[0].startswith("WARNING") and INSTALL in warnings[0], result.stderr


def test_the_anchored_topic_is_the_event_signature_hash() -> None:
    """Written out in pot.anchors.ethereum so the module imports without web3: it must be the real keccak."""
    from web3 import Web3

    assert "0x" + Web3.keccak(text="Anchored(bytes32,bytes32,address)").hex() == ANCHORED_TOPIC
