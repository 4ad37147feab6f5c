"""Front-running a pending anchor on anvil: a watcher of the mempool anchors pot's root first, under its own account
and another metaHash. Before anchors were kept per submitter, pot's transaction reverted and the head went without
a receipt (AnchorMismatch); now the recorder's head is anchored under its own account and `pot verify --rpc`
accepts the proof."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from pot import ProvenanceConfig, ProvenanceRecorder
from pot.anchors.ethereum import EthereumAnchor, deploy_registry, online_checker
from pot.config import ChainSettings, Secret
from pot.log.verify import verify_proof
from tests.chain.helpers import Registry
from tests.support.anvil import Anvil

pytestmark = pytest.mark.chain

ANCHOR_SELECTOR = Web3.keccak(text="anchor(bytes32,bytes32,uint64)")[:4].hex()


def pending_anchor(node: Anvil, timeout: float = 20) -> dict[str, Any]:
    """The first anchor transaction that appears in anvil's mempool, as the watcher sees it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pool: Any = node.rpc("txpool_content")
        for by_nonce in pool["pending"].values():
            for tx in by_nonce.values():
                if tx["input"][2:10] == ANCHOR_SELECTOR:
                    return dict(tx)
        time.sleep(0.02)
    raise AssertionError("no anchor transaction appeared in the mempool")


def test_a_front_run_anchor_leaves_the_recorders_proof_verifying(fresh_anvil: Anvil, tmp_path: Path) -> None:
    node = fresh_anvil
    settings = ChainSettings(rpc_url=node.url, private_key=Secret(node.private_keys[0]), chain_id=31337)
    address = deploy_registry(settings)
    settings = ChainSettings(rpc_url=node.url, private_key=Secret(node.private_keys[0]), chain_id=31337,
                             contract_address=address)
    node.rpc("evm_setAutomine", False)
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp_path / "store"), batch_size=100),
                                  chain_anchors=[EthereumAnchor(settings)])
    try:
        for epoch in range(3):
            recorder.record_training_checkpoint(model_hash=os.urandom(32).hex(), metrics={"loss": 1 / (epoch + 1)},
                                                epoch=epoch, model_id="model")
        recorder.flush()  # signs a head; the background worker sends its anchor, which waits in the mempool

        victim = pending_anchor(node)
        calldata = bytes.fromhex(victim["input"][2:])
        root, size = calldata[4:36], int.from_bytes(calldata[68:100], "big")
        rival = Registry.at(node, address, account=1)
        tip = int(victim["maxPriorityFeePerGas"], 16) * 10
        tx = rival.contract.functions.anchor(root, os.urandom(32), size).build_transaction({
            "from": rival.account.address, "nonce": 0, "gas": 100_000,
            "maxFeePerGas": int(victim["maxFeePerGas"], 16) + tip, "maxPriorityFeePerGas": tip})
        rival_hash = rival.w3.eth.send_raw_transaction(rival.account.sign_transaction(tx).raw_transaction)
        node.mine()
        node.rpc("evm_setAutomine", True)
        assert recorder.wait_for_anchors(30)
        proof = recorder.generate_proof_of_training("model")
    finally:
        recorder.close()

    block = rival.w3.eth.get_block(rival.w3.eth.get_transaction_receipt(rival_hash)["blockNumber"],
                                   full_transactions=True)
    assert [bytes(t["hash"]).hex() for t in block["transactions"]] == [bytes(rival_hash).hex(), victim["hash"][2:]]
    assert rival.w3.eth.get_transaction_receipt(rival_hash)["status"] == 1  # the front-runner's anchor stands too
    (receipt,) = [r for r in proof.anchors if r.backend == "ethereum"]
    assert receipt.details["tx_hash"] == victim["hash"]
    assert receipt.details["submitter"] == node.accounts[0]
    report = verify_proof(proof, trusted_key=proof.signer, chain_checker=online_checker(node.url))
    assert report.ok and report.heads[-1].strength == "chain"
