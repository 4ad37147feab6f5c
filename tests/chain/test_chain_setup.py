"""Chain set-up that used to do less without a word: chain settings on a store made without ``--blockchain`` (one
warning, naming the variables and never their values), and ``--blockchain`` before ``pot contract deploy`` has made
the contract (recording goes on, the heads wait, ``pot anchor`` sends them once the contract exists). The CLI runs in
subprocesses, against a real anvil where a chain is needed."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pot.recorder as recorder_module
from pot import ProvenanceConfig, ProvenanceRecorder
from pot.config import chain_variables_set
from tests.support.anvil import DEV_ACCOUNTS, ROOT, Anvil

KEY = DEV_ACCOUNTS[3][1]
HOSTED = "http://127.0.0.1:9/v3/APIKEY1234567890"
CHAIN_NAMES = ("RPC_URL", "PRIVATE_KEY", "CONTRACT_ADDRESS", "CHAIN_ID", "FORCE_LOCAL_BLOCKCHAIN",
               "BLOCKCHAIN_CLIENT_TYPE", "GAS_PRICE_GWEI", "CONFIRMATION_BLOCKS")


def clean_env(tmp_path: Path, **chain: str) -> dict[str, str]:
    environ = {name: value for name, value in os.environ.items() if name not in CHAIN_NAMES}
    return {**environ, "POT_HOME": str(tmp_path / "store"), "PYTHONPATH": str(ROOT), **chain}


def pot(env: dict[str, str], cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "pot", *argv], env=env, cwd=cwd, capture_output=True, text=True,
                            timeout=180)
    out = result.stdout + result.stderr
    assert "Traceback" not in out and "internal error" not in out, out
    assert "APIKEY1234567890" not in out and KEY.removeprefix("0x") not in out, out
    return result


def checkpoint(env: dict[str, str], cwd: Path, epoch: int) -> subprocess.CompletedProcess[str]:
    return pot(env, cwd, "checkpoint", "--model-id", "m", "--model-hash", f"{epoch + 1:064x}", "--epoch", str(epoch),
               "--metrics", json.dumps({"loss": 1 / (epoch + 1)}))


def test_chain_variables_are_named_only_when_anchoring_would_use_them() -> None:
    assert chain_variables_set(environ={"RPC_URL": HOSTED, "PRIVATE_KEY": KEY}, dotenv=None) == ["RPC_URL",
                                                                                                 "PRIVATE_KEY"]
    assert chain_variables_set(environ={"PRIVATE_KEY": KEY}, dotenv=None) == ["PRIVATE_KEY"]
    assert chain_variables_set({"rpc_url": HOSTED}, environ={}, dotenv=None) == ["RPC_URL"]
    assert chain_variables_set(environ={"RPC_URL": ""}, dotenv=None) == []
    assert chain_variables_set(environ={"RPC_URL": HOSTED, "FORCE_LOCAL_BLOCKCHAIN": "true"}, dotenv=None) == []
    assert chain_variables_set(environ={"RPC_URL": HOSTED, "BLOCKCHAIN_CLIENT_TYPE": "LOCAL"}, dotenv=None) == []


def test_a_recorder_without_blockchain_says_once_that_the_chain_settings_go_unused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    for name in CHAIN_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(f"RPC_URL={HOSTED}\n")  # as the seed's users set it
    monkeypatch.setattr(recorder_module, "_chain_settings_noted", False)
    caplog.set_level(logging.WARNING, logger="pot")
    for attempt in range(2):
        with ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp_path / f"s{attempt}"))) as rec:
            rec.record_training_checkpoint(model_hash="ab" * 32, metrics={"loss": 1.0}, epoch=0, model_id="m")
    said = [r.getMessage() for r in caplog.records]
    assert said == ["RPC_URL is set but blockchain anchoring is off for this store (`pot init --blockchain`, or "
                    "ProvenanceConfig(blockchain_enabled=True), turns it on): tree heads are anchored to the local "
                    "chain only"], said  # once per process, and never the URL


def test_the_cli_warns_when_a_store_without_blockchain_meets_chain_settings(tmp_path: Path) -> None:
    env = clean_env(tmp_path, RPC_URL=HOSTED, PRIVATE_KEY=KEY)
    assert pot(env, tmp_path, "init").returncode == 0
    recorded = checkpoint(env, tmp_path, 0)
    assert recorded.returncode == 0, recorded.stderr
    lines = recorded.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pot: RPC_URL and PRIVATE_KEY are set but blockchain anchoring is "
                                                   "off for this store"), lines
    quiet = checkpoint({**env, "FORCE_LOCAL_BLOCKCHAIN": "1"}, tmp_path, 1)  # local anchoring asked for: no word
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr


@pytest.mark.chain
def test_blockchain_before_the_contract_exists_records_and_anchors_after_deploy(
        fresh_anvil: Anvil, tmp_path: Path) -> None:
    env = clean_env(tmp_path, RPC_URL=fresh_anvil.url, PRIVATE_KEY=KEY)  # the README's order: no CONTRACT_ADDRESS
    made = pot(env, tmp_path, "init", "--blockchain")
    assert made.returncode == 0 and made.stdout.rstrip().endswith(
        "no CONTRACT_ADDRESS yet: `pot contract deploy` makes one and saves it here"), made.stdout
    recorded = checkpoint(env, tmp_path, 0)
    assert recorded.returncode == 0, recorded.stderr  # recording goes on ...
    lines = recorded.stderr.strip().splitlines()
    assert len(lines) == 1 and "CONTRACT_ADDRESS is not set" in lines[0] and "`pot anchor --pending`" in lines[0]
    assert checkpoint(env, tmp_path, 1).returncode == 0

    deployed = pot(env, tmp_path, "contract", "deploy", "--json")
    assert deployed.returncode == 0, deployed.stderr
    address = json.loads(deployed.stdout)["contract_address"]
    anchored = pot(env, tmp_path, "anchor", "--json")  # ... and the heads that waited are sent now
    assert anchored.returncode == 0, anchored.stderr
    assert pot(env, tmp_path, "proof", "--model-id", "m", "--output", "p.json").returncode == 0
    proof = json.loads((tmp_path / "p.json").read_text())
    chain = [a for a in proof["anchors"] if a["backend"] == "ethereum"]
    assert [a["details"]["contract"] for a in chain] == [address]  # the newest head, covering both records
    assert [a["root_hash"] for a in chain] == [proof["tree_heads"][-1]["head"]["root_hash"]]
    assert proof["blockchain_transactions"] == [chain[0]["details"]["tx_hash"]]
    verified = pot(env, tmp_path, "verify", "--proof", "p.json", "--rpc", fresh_anvil.url, "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["ok"] is True
