"""The recorder on a real chain: heads anchored in the background, faults that lose nothing, pending upgrades."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from pot import ProvenanceConfig, ProvenanceProof, ProvenanceRecorder, VerificationError, verify_proof
from pot.anchors.ethereum import EthereumAnchor, deploy_registry, online_checker
from pot.config import ChainSettings, Secret
from tests.conftest import DeployedRegistry
from tests.support.anvil import ROOT, Anvil

pytestmark = pytest.mark.chain

CAST = ROOT / "node_modules" / "@foundry-rs" / "cast-linux-amd64" / "bin" / "cast"


def recorder_for(store: Path, settings: ChainSettings | None, **config: Any) -> ProvenanceRecorder:
    anchors = [] if settings is None else [EthereumAnchor(settings, receipt_timeout=10.0, request_timeout=2.0)]
    return ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store), **config), chain_anchors=anchors)


def record_batches(recorder: ProvenanceRecorder, batches: int, per_batch: int = 4, model_id: str = "m") -> list[str]:
    ids = []
    for _ in range(batches):
        for _ in range(per_batch):
            n = len(ids)
            ids.append(recorder.record_training_checkpoint(model_hash=f"{n:064x}", metrics={"loss": 1 / (n + 1)},
                                                           epoch=n, model_id=model_id) or "")
        recorder.flush()
    return ids


def strengths(proof: ProvenanceProof, rpc: str | None = None) -> list[str]:
    report = verify_proof(proof, trusted_key=proof.signer, chain_checker=online_checker(rpc) if rpc else None)
    return [h.strength for h in report.heads]


def test_heads_anchor_on_chain_through_the_seed_config(deployed_registry: DeployedRegistry, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    node = deployed_registry.anvil
    private_key = node.private_keys[1]
    config = ProvenanceConfig(enabled=True, blockchain_enabled=True, store_dir=str(tmp_path / "store"),
                              client_config={"rpc_url": node.url, "private_key": private_key,
                                             "contract_address": deployed_registry.address})
    recorder = ProvenanceRecorder(config)
    record_batches(recorder, 3)
    assert recorder.wait_for_anchors(60)
    proof = recorder.generate_proof_of_training("m")
    recorder.close()

    report = verify_proof(proof, trusted_key=proof.signer, chain_checker=online_checker(node.url))
    assert [h.strength for h in report.heads] == ["chain"] * 3  # each anchored, or covered by a later anchor
    assert all(h.chain_time for h in report.heads)
    assert 1 <= len(proof.blockchain_transactions) <= 3  # heads that queued behind an anchor in flight coalesce
    # the private key reaches no output, log line, store row or proof
    secret = private_key.removeprefix("0x")
    assert secret not in proof.dumps() and secret not in caplog.text
    for path in (tmp_path / "store").iterdir():
        assert secret.encode() not in path.read_bytes()


def test_polygon_chain_id(anvil_polygon: Anvil, tmp_path: Path) -> None:
    deployer = ChainSettings(rpc_url=anvil_polygon.url, private_key=Secret(anvil_polygon.private_keys[9]))
    address = deploy_registry(deployer)
    settings = ChainSettings(rpc_url=anvil_polygon.url, private_key=Secret(anvil_polygon.private_keys[2]),
                             contract_address=address, chain_id=137)
    recorder = recorder_for(tmp_path / "store", settings)
    record_batches(recorder, 2)
    assert recorder.wait_for_anchors(60)
    proof = recorder.generate_proof_of_training("m")
    recorder.close()
    assert {r.details["chain_id"] for r in proof.anchors if r.backend == "ethereum"} == {137}
    assert strengths(proof, anvil_polygon.url) == ["chain", "chain"]


def test_chain_lost_mid_run_loses_nothing_and_anchor_pending_finishes(tmp_path: Path,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    state = tmp_path / "chain-state.json"
    store = tmp_path / "store"
    node = Anvil(extra_args=("--state", str(state)))
    try:
        address = deploy_registry(ChainSettings(rpc_url=node.url, private_key=Secret(node.private_keys[9])))
        settings = ChainSettings(rpc_url=node.url, private_key=Secret(node.private_keys[3]), contract_address=address)
        recorder = recorder_for(store, settings, anchor_timeout=5.0)
        before = record_batches(recorder, 2)
        assert recorder.wait_for_anchors(60)
    finally:
        node.stop()  # the chain goes away mid-run (its state is kept, as a real chain's would be)
    after = record_batches(recorder, 3)  # recording goes on: nothing raises into the training loop
    recorder.close(timeout=5.0)
    assert "stays pending" in caplog.text or "still running" in caplog.text

    offline = recorder_for(store, None)
    assert [r.record_id for r in offline.store.records("m")] == before + after  # nothing acknowledged is lost
    assert len(offline.store.pending_heads("ethereum")) == 3
    proof = offline.generate_proof_of_training("m")
    offline.close()
    # offline, the chain receipts are the signer's word: covered by a receipt nobody checked yet
    assert strengths(proof) == ["chain-unchecked", "chain-unchecked", "local", "local", "local"]

    with Anvil(extra_args=("--state", str(state))) as back:  # the chain is back, at a new endpoint
        healed = recorder_for(store, ChainSettings(rpc_url=back.url, private_key=Secret(back.private_keys[3]),
                                                   contract_address=address))
        upgraded = healed.anchor_pending()
        assert len(upgraded) == 1  # the newest head: its anchor covers the two before it
        assert healed.store.pending_heads("ethereum") == []
        assert healed.anchor_pending() == []  # nothing anchors twice
        proof = healed.generate_proof_of_training("m")
        healed.close()
        assert strengths(proof, back.url) == ["chain"] * 5


@pytest.mark.parametrize("fault", ["wrong-chain-id", "no-code-at-contract"])
def test_misconfigured_chain_keeps_heads_pending(deployed_registry: DeployedRegistry, tmp_path: Path, fault: str,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    if fault == "wrong-chain-id":
        settings, expected = deployed_registry.settings(account=4, chain_id=1), "chain id"
    else:
        settings, expected = deployed_registry.settings(account=4, contract_address=Web3.to_checksum_address(
            os.urandom(20).hex())), "no contract at"
    recorder = recorder_for(tmp_path / "store", settings)
    ids = record_batches(recorder, 2)
    recorder.wait_for_anchors(30)
    assert len(recorder.store.pending_heads("ethereum")) == 2
    assert [r.record_id for r in recorder.store.records("m")] == ids
    recorder.close()
    assert expected in caplog.text.lower()
    assert settings.private_key is not None and settings.private_key.reveal().removeprefix("0x") not in caplog.text


def _fund(node: Anvil, address: str, wei: int) -> None:
    w3 = Web3(Web3.HTTPProvider(node.url))
    funder = Account.from_key(node.private_keys[8])
    tx = {"to": address, "value": wei, "gas": 21000, "nonce": w3.eth.get_transaction_count(funder.address, "pending"),
          "chainId": node.chain_id, "maxFeePerGas": 10 * w3.eth.gas_price, "maxPriorityFeePerGas": 10**9}
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(
        funder.sign_transaction(tx).raw_transaction))
    assert receipt["status"] == 1


def test_account_without_funds_then_funded(deployed_registry: DeployedRegistry, tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    poor = Account.create()
    settings = deployed_registry.settings(private_key=Secret(poor.key.hex()))
    recorder = recorder_for(tmp_path / "store", settings)
    record_batches(recorder, 2)
    recorder.wait_for_anchors(30)
    assert len(recorder.store.pending_heads("ethereum")) == 2
    assert "fund" in caplog.text.lower()
    _fund(deployed_registry.anvil, poor.address, 10**18)
    assert len(recorder.anchor_pending()) == 1  # one transaction covers both heads
    proof = recorder.generate_proof_of_training("m")
    recorder.close()
    assert strengths(proof, deployed_registry.anvil.url) == ["chain", "chain"]


def test_nonce_taken_by_another_sender(deployed_registry: DeployedRegistry, tmp_path: Path) -> None:
    node = deployed_registry.anvil
    recorder = recorder_for(tmp_path / "store", deployed_registry.settings(account=5))
    record_batches(recorder, 1)
    assert recorder.wait_for_anchors(30)
    # Another program sends from the same account, taking the nonce the recorder would use next.
    _send_from(node, 5)
    record_batches(recorder, 1)
    assert recorder.wait_for_anchors(30)
    assert recorder.store.pending_heads("ethereum") == []
    proof = recorder.generate_proof_of_training("m")
    recorder.close()
    assert strengths(proof, node.url) == ["chain", "chain"]


def _send_from(node: Anvil, account: int) -> None:
    w3 = Web3(Web3.HTTPProvider(node.url))
    sender = Account.from_key(node.private_keys[account])
    tx = {"to": node.accounts[0], "value": 1, "gas": 21000, "chainId": node.chain_id,
          "nonce": w3.eth.get_transaction_count(sender.address, "pending"), "maxFeePerGas": 10 * w3.eth.gas_price,
          "maxPriorityFeePerGas": 10**9}
    w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction))


def test_cli_deploy_record_verify_rpc_and_cast_read_back(fresh_anvil: Anvil, tmp_path: Path) -> None:
    key = fresh_anvil.private_keys[6]
    env = {**os.environ, "POT_HOME": str(tmp_path / "store"), "RPC_URL": fresh_anvil.url, "PRIVATE_KEY": key}
    pot = [sys.executable, str(ROOT / "scripts" / "provenance_cli.py")]

    def run(*argv: str, code: int = 0) -> str:
        result = subprocess.run([*pot, *argv], env=env, capture_output=True, text=True, cwd=tmp_path)
        assert result.returncode == code, result.stdout + result.stderr
        assert key.removeprefix("0x") not in result.stdout + result.stderr
        return result.stdout

    run("init", "--blockchain")
    deployed = json.loads(run("--json", "contract", "deploy"))
    assert deployed["chain_id"] == 31337
    for epoch in range(3):
        run("checkpoint", "--model-hash", f"{epoch:064x}", "--epoch", str(epoch), "--metrics", '{"loss": 0.5}',
            "--model-id", "cli-model")
    run("proof", "--model-id", "cli-model", "--output", "p.json")
    proof = ProvenanceProof.load(tmp_path / "p.json")
    assert len(proof.blockchain_transactions) == 3
    out = run("verify", "--proof", "p.json", "--rpc", fresh_anvil.url, "--trusted-key", proof.signer.hex)
    # every head dated by a block the chain confirmed; none rests on the signer's word
    assert "checked on the chain" in out and "NOT checked" not in out and "the signer's word" not in out

    # A stranger's check with the pinned npm cast: the root is on chain, anchored in the receipt's block.
    receipt = next(r for r in proof.anchors if r.backend == "ethereum")
    answer = subprocess.run([str(CAST), "call", deployed["contract_address"],
                             "anchorOf(address,bytes32)(uint256,uint256,uint256)", receipt.details["submitter"],
                             "0x" + receipt.root_hash,
                             "--rpc-url", fresh_anvil.url], capture_output=True, text=True,
                            check=True).stdout.splitlines()
    values = [line.split()[0] for line in answer]  # cast prints "1795000000 [1.795e9]" per value
    assert int(values[1]) == receipt.details["block_number"] and int(values[0]) == receipt.details["block_time"]
    assert int(values[2]) == next(h.head.tree_size for h in proof.tree_heads if h.head.head_hash == receipt.head_hash)

    # The chain goes away: recording still works (exit 0), heads wait; `pot anchor --pending` fails clearly (3).
    run("test", "--blockchain")
    fresh_anvil.stop()
    run("checkpoint", "--model-hash", "ff" * 32, "--epoch", "3", "--metrics", "{}", "--model-id", "cli-model")
    result = subprocess.run([*pot, "anchor", "--pending"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 3 and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_every_value_of_a_chain_anchored_proof_is_bound(deployed_registry: DeployedRegistry, tmp_path: Path) -> None:
    """The tamper suite of tests/unit/test_tamper.py, on a proof with Ethereum receipts: offline verification
    catches every single changed value, receipts' chain details included."""
    from tests.unit.test_tamper import changed, leaves, set_path, verify_document

    recorder = recorder_for(tmp_path / "store", deployed_registry.settings(account=7))
    record_batches(recorder, 2, per_batch=2)
    assert recorder.wait_for_anchors(60)
    document = recorder.generate_proof_of_training("m").to_json()
    recorder.close()
    chain_paths = [p for p, _ in leaves(document) if p[0] == "anchors" and "tx_hash" in str(p)]
    assert chain_paths, "the proof should hold Ethereum receipts"
    for path, value in leaves(document):
        if path == ("media_type",):
            continue
        with pytest.raises(VerificationError):
            verify_document(set_path(document, path, changed(value)))


def test_chain_interval_bounds_transactions_and_every_head_is_covered(deployed_registry: DeployedRegistry,
                                                                     tmp_path: Path) -> None:
    import time

    recorder = recorder_for(tmp_path / "store", deployed_registry.settings(account=8), batch_size=5,
                            chain_interval=30.0, head_interval=0.0)
    for n in range(60):  # a head every five records, far faster than one anchor per 30 s
        recorder.record_training_checkpoint(model_hash=f"{n:064x}", metrics={}, epoch=n, model_id="m")
        if n % 5 == 4:
            # Wait for the signer to sign this batch's head (a flush would also send an anchor, so no flush).
            deadline = time.monotonic() + 30
            while len(recorder.store.heads("m")) < (n + 1) // 5 and time.monotonic() < deadline:
                time.sleep(0.01)
    assert len(recorder.store.heads("m")) == 12
    assert recorder.wait_for_anchors(60)  # sends the newest waiting head now
    proof = recorder.generate_proof_of_training("m")
    recorder.close()
    # The first head goes at once; the other eleven wait out the interval and only the newest waiting is sent
    # (a third transaction when the last head reaches the chain worker just after the one before it was sent).
    assert len(proof.tree_heads) == 12 and 2 <= len(proof.blockchain_transactions) <= 3
    assert set(strengths(proof, deployed_registry.anvil.url)) == {"chain"}


def test_cli_chain_dies_and_comes_back_and_anchor_pending_finishes(tmp_path: Path) -> None:
    state = tmp_path / "chain-state.json"
    node = Anvil(extra_args=("--state", str(state)))
    key = node.private_keys[7]
    env = {**os.environ, "POT_HOME": str(tmp_path / "store"), "RPC_URL": node.url, "PRIVATE_KEY": key}
    pot = [sys.executable, str(ROOT / "scripts" / "provenance_cli.py")]

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*pot, *argv], env=env, capture_output=True, text=True, cwd=tmp_path)
        assert "Traceback" not in result.stderr and key.removeprefix("0x") not in result.stdout + result.stderr
        return result

    def checkpoint(epoch: int) -> None:
        result = run("checkpoint", "--model-hash", f"{epoch:064x}", "--epoch", str(epoch), "--metrics", "{}",
                     "--model-id", "m")
        assert result.returncode == 0, result.stderr

    try:
        assert run("init", "--blockchain").returncode == 0
        assert run("contract", "deploy").returncode == 0
        checkpoint(0)
    finally:
        node.stop()  # the chain goes away
    checkpoint(1)  # recording goes on
    checkpoint(2)
    down = run("anchor", "--pending")
    assert down.returncode == 3 and len(down.stderr.strip().splitlines()) == 1
    with Anvil(extra_args=("--state", str(state))) as back:  # and comes back, at a new endpoint
        env["RPC_URL"] = back.url
        healed = run("anchor", "--pending")
        assert healed.returncode == 0 and "anchored 1 head(s)" in healed.stdout and "0 still pending" in healed.stdout
        assert run("proof", "--model-id", "m", "--output", "p.json").returncode == 0
        verified = run("verify", "--proof", "p.json", "--rpc", back.url)
        assert verified.returncode == 0 and "the signer's word" not in verified.stdout, verified.stdout
        assert "checked on the chain" in verified.stdout
