"""EthereumAnchor against real anvil nodes: the happy paths, idempotence, and every failure a user can meet.

Each failure test also proves that the private key appears nowhere: not in the exception's text, its chained
causes or traceback, nor in any log line at DEBUG level (web3's and urllib3's included).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3
from web3.middleware import ExtraDataToPOAMiddleware

from pot.anchors.base import AnchorReceipt
from pot.anchors.ethereum import EthereumAnchor, chain_anchor_for, deploy_registry, probe
from pot.anchors.ethereum_receipt import check_receipt
from pot.config import CHAIN_ENV, ChainSettings, ProvenanceConfig, Secret
from pot.errors import AnchorError, AnchorReverted, AnchorUnavailable, ChainMismatch, UsageError
from pot.log.keys import SigningKey
from pot.log.records import format_timestamp
from pot.log.store import Store
from tests.chain.helpers import Registry, signed_head
from tests.support.anvil import Anvil

pytestmark = pytest.mark.chain


def assert_secret_hidden(secret: str, exc: BaseException | None, caplog: pytest.LogCaptureFixture,
                         *more: str) -> None:
    bare = secret.lower().removeprefix("0x")
    texts = [caplog.text, *more]
    if exc is not None:
        texts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    for text in texts:
        assert bare not in text.lower()


@pytest.fixture(autouse=True)
def _debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)


def tx_count(node: Anvil, address: str) -> int:
    return int(str(node.rpc("eth_getTransactionCount", address, "latest")), 16)


# --- happy paths ----------------------------------------------------------------------------------------------


def test_anchor_on_anvil(deployed_registry: Any, caplog: pytest.LogCaptureFixture) -> None:
    key = SigningKey.generate()
    head = signed_head(key)
    settings = deployed_registry.settings()
    anchor = EthereumAnchor(settings)
    details = anchor.anchor(head)

    assert details["chain_id"] == 31337
    assert details["contract"] == deployed_registry.address
    assert details["submitter"] == deployed_registry.anvil.accounts[0]
    assert details["meta_hash"] == "0x" + head.head.head_hash
    assert {k: type(v) for k, v in details.items()} == {
        "chain_id": int, "contract": str, "tx_hash": str, "block_number": int, "block_hash": str,
        "block_time": int, "log_index": int, "submitter": str, "meta_hash": str}

    registry = Registry.at(deployed_registry.anvil, deployed_registry.address)
    receipt = registry.w3.eth.get_transaction_receipt(details["tx_hash"])
    block = registry.w3.eth.get_block(details["block_number"])
    assert receipt["status"] == 1
    assert "0x" + bytes(block["hash"]).hex() == details["block_hash"]
    assert block["timestamp"] == details["block_time"]
    timestamp, block_number, size = registry.contract.functions.anchorOf(
        details["submitter"], bytes.fromhex(head.head.root_hash)).call()
    assert (timestamp, block_number, size) == (details["block_time"], details["block_number"], head.head.tree_size)
    # EIP-1559 by default: maxFee = 2 x base fee + tip
    tx = registry.w3.eth.get_transaction(details["tx_hash"])
    assert tx["type"] == 2
    assert tx["maxFeePerGas"] > tx["maxPriorityFeePerGas"] > 0

    # The receipt the recorder would sign passes the offline check.
    receipt_obj = AnchorReceipt.issue("ethereum", head.head, details, format_timestamp(datetime.now(UTC)), key)
    check_receipt(receipt_obj, head.head, key.public)
    assert_secret_hidden(settings.private_key.reveal(), None, caplog, repr(anchor), repr(settings))


def test_anchor_on_polygon_chain_id_uses_poa_middleware(anvil_polygon: Anvil) -> None:
    settings = ChainSettings(rpc_url=anvil_polygon.url, private_key=Secret(anvil_polygon.private_keys[0]),
                             chain_id=137)
    address = deploy_registry(settings)
    anchor = EthereumAnchor(dataclasses.replace(settings, contract_address=address))
    head = signed_head()
    details = anchor.anchor(head)
    assert details["chain_id"] == 137
    assert (ExtraDataToPOAMiddleware, "poa") in anchor.w3.middleware_onion.middleware
    assert anchor.lookup(bytes.fromhex(head.head.root_hash)) == details


def test_legacy_gas_price_when_configured(deployed_registry: Any) -> None:
    anchor = EthereumAnchor(deployed_registry.settings(gas_price_gwei=3.5))
    details = anchor.anchor(signed_head())
    tx = anchor.w3.eth.get_transaction(details["tx_hash"])
    assert tx["type"] == 0
    assert tx["gasPrice"] == 3_500_000_000


def test_reanchoring_returns_the_same_transaction(deployed_registry: Any) -> None:
    node = deployed_registry.anvil
    head = signed_head()
    first = EthereumAnchor(deployed_registry.settings(account=2)).anchor(head)
    sent = tx_count(node, node.accounts[2])
    again = EthereumAnchor(deployed_registry.settings(account=2)).anchor(head)  # a restarted process
    assert again == first
    assert tx_count(node, node.accounts[2]) == sent
    # Another account's anchor is its own (anchors are per submitter): it sends once, then finds its own.
    other = tx_count(node, node.accounts[3])
    theirs = EthereumAnchor(deployed_registry.settings(account=3)).anchor(head)
    assert theirs["submitter"] == node.accounts[3] and theirs["tx_hash"] != first["tx_hash"]
    assert EthereumAnchor(deployed_registry.settings(account=3)).anchor(head) == theirs
    assert tx_count(node, node.accounts[3]) == other + 1


def test_anchoring_a_burst_keeps_nonces_in_order(deployed_registry: Any) -> None:
    anchor = EthereumAnchor(deployed_registry.settings(account=4))
    details = [anchor.anchor(signed_head(size=n)) for n in range(1, 6)]
    assert len({d["tx_hash"] for d in details}) == 5
    assert [d["block_number"] for d in details] == sorted(d["block_number"] for d in details)


def test_root_anchored_for_another_head_is_a_mismatch(deployed_registry: Any) -> None:
    from pot.errors import AnchorMismatch

    root = os.urandom(32).hex()
    EthereumAnchor(deployed_registry.settings()).anchor(signed_head(root=root, model_id="a"))
    with pytest.raises(AnchorMismatch, match="another tree head"):
        EthereumAnchor(deployed_registry.settings()).anchor(signed_head(root=root, model_id="b"))


def test_root_anchored_with_another_tree_size_is_a_mismatch(deployed_registry: Any) -> None:
    from pot.errors import AnchorMismatch

    root, meta = os.urandom(32), os.urandom(32)
    anchor = EthereumAnchor(deployed_registry.settings(account=6))
    anchor.anchor_root(root, meta, 4)
    with pytest.raises(AnchorMismatch, match="as the root of 4 leaves, not 5"):
        anchor.anchor_root(root, meta, 5)


def test_confirmations_are_waited_for() -> None:
    with Anvil(block_time=0.5) as node:
        settings = ChainSettings(rpc_url=node.url, private_key=Secret(node.private_keys[0]))
        address = deploy_registry(settings)
        anchor = EthereumAnchor(dataclasses.replace(settings, contract_address=address, confirmation_blocks=3))
        details = anchor.anchor(signed_head())
        assert anchor.w3.eth.block_number >= details["block_number"] + 2


@pytest.mark.parametrize("rival_meta", ["same", "other"])
def test_front_running_cannot_deny_a_head_its_anchor(fresh_anvil: Anvil, rival_meta: str) -> None:
    """Someone watching the mempool sees pot's pending anchor and sends the same root first (a higher tip, so it is
    mined first in the same block), with the same metaHash or another. Anchors are per submitter: pot's transaction
    succeeds, its receipt names pot's own account and transaction, and `pot verify --rpc` accepts it."""
    node = fresh_anvil
    settings = ChainSettings(rpc_url=node.url, private_key=Secret(node.private_keys[0]))
    address = deploy_registry(settings)
    head = signed_head()
    root = bytes.fromhex(head.head.root_hash)
    node.rpc("evm_setAutomine", False)

    result: dict[str, Any] = {}
    anchor = EthereumAnchor(dataclasses.replace(settings, contract_address=address))
    worker = threading.Thread(target=lambda: result.update(anchor.anchor(head)))
    worker.start()
    deadline = time.monotonic() + 10
    pending: list[dict[str, Any]] = []
    while not pending and time.monotonic() < deadline:  # the front-runner reads the mempool
        pool: Any = node.rpc("txpool_content")
        pending = [tx for by_nonce in pool["pending"].values() for tx in by_nonce.values()]
        time.sleep(0.02)
    (victim,) = pending
    assert victim["input"][2:10] == Web3.keccak(text="anchor(bytes32,bytes32,uint64)")[:4].hex()
    rival = Registry.at(node, address, account=1)
    meta = bytes.fromhex(head.head.head_hash) if rival_meta == "same" else os.urandom(32)
    tip = int(victim["maxPriorityFeePerGas"], 16) * 10
    tx = rival.contract.functions.anchor(root, meta, head.head.tree_size).build_transaction({
        "from": rival.account.address, "nonce": 0, "gas": 100_000,
        "maxFeePerGas": int(victim["maxFeePerGas"], 16) + tip, "maxPriorityFeePerGas": tip})
    rival_hash = rival.w3.eth.send_raw_transaction(rival.account.sign_transaction(tx).raw_transaction)
    node.mine()
    worker.join(30)
    assert not worker.is_alive()

    block = anchor.w3.eth.get_block(result["block_number"], full_transactions=True)
    order = [bytes(t["hash"]) for t in block["transactions"]]
    assert order[0] == bytes(rival_hash), "the rival was not mined first: nothing was front-run"
    assert anchor.w3.eth.get_transaction_receipt(rival_hash)["status"] == 1
    assert result["submitter"] == node.accounts[0]
    assert result["tx_hash"] == victim["hash"] and order[1].hex() == victim["hash"][2:]
    assert anchor.w3.eth.get_transaction_receipt(result["tx_hash"])["status"] == 1
    # the contract holds both anchors, each its sender's
    registry = Registry.at(node, address)
    ours = registry.contract.functions.anchorOf(node.accounts[0], root).call()
    theirs = registry.contract.functions.anchorOf(node.accounts[1], root).call()
    assert ours == theirs == [result["block_time"], result["block_number"], head.head.tree_size]
    node.rpc("evm_setAutomine", True)


# --- retries that never double-send -------------------------------------------------------------------------------


def test_nonce_taken_by_another_client(deployed_registry: Any, caplog: pytest.LogCaptureFixture) -> None:
    node = deployed_registry.anvil
    settings = deployed_registry.settings(account=5)
    anchor = EthereumAnchor(settings)
    anchor.anchor(signed_head(size=1))
    # Another program sends from the same account: the anchor's cached nonce is now stale.
    other = Web3(Web3.HTTPProvider(node.url))
    account = Account.from_key(node.private_keys[5])
    tx = {"to": node.accounts[6], "value": 1, "gas": 21_000, "gasPrice": 10 * 10**9, "chainId": 31337,
          "nonce": other.eth.get_transaction_count(account.address, "pending")}
    other.eth.wait_for_transaction_receipt(other.eth.send_raw_transaction(
        account.sign_transaction(tx).raw_transaction))
    second = anchor.anchor(signed_head(size=2))
    assert anchor.w3.eth.get_transaction_receipt(second["tx_hash"])["status"] == 1
    assert "is taken; re-reading it" in caplog.text
    assert_secret_hidden(settings.private_key.reveal(), None, caplog)


def test_unmined_anchor_is_replaced_not_duplicated(fresh_anvil: Anvil, caplog: pytest.LogCaptureFixture) -> None:
    node = fresh_anvil
    settings = ChainSettings(rpc_url=node.url, private_key=Secret(node.private_keys[0]))
    address = deploy_registry(settings)
    settings = dataclasses.replace(settings, contract_address=address)
    node.rpc("evm_setAutomine", False)
    head = signed_head()
    anchor = EthereumAnchor(settings, receipt_timeout=0.3, max_sends=3)
    with pytest.raises(AnchorUnavailable, match="not mined after 3 sends") as caught:
        anchor.anchor(head)
    assert caught.value.__class__ is AnchorUnavailable
    pending = node.rpc("txpool_content")["pending"]  # type: ignore[index]
    assert [len(by_nonce) for by_nonce in pending.values()] == [1]  # one nonce: each resend replaced the last
    sent = tx_count(node, node.accounts[0])
    node.mine()
    details = EthereumAnchor(settings).anchor(head)  # later, `pot anchor --pending`: finds it, sends nothing
    assert tx_count(node, node.accounts[0]) == sent + 1
    (mined,) = anchor.w3.eth.get_block(details["block_number"], full_transactions=True)["transactions"]
    assert "0x" + bytes(mined["hash"]).hex() == details["tx_hash"]
    assert "resending with higher fees and the same nonce" in caplog.text
    assert_secret_hidden(settings.private_key.reveal(), caught.value, caplog)


# --- failures -----------------------------------------------------------------------------------------------------


def test_wrong_chain_id(deployed_registry: Any, caplog: pytest.LogCaptureFixture) -> None:
    settings = deployed_registry.settings(chain_id=137)
    with pytest.raises(ChainMismatch, match=r"chain id 31337.*CHAIN_ID says Polygon \(137\)") as caught:
        EthereumAnchor(settings).anchor(signed_head())
    assert "\n" not in str(caught.value)
    assert_secret_hidden(settings.private_key.reveal(), caught.value, caplog)


def test_contract_address_without_code(deployed_registry: Any, caplog: pytest.LogCaptureFixture) -> None:
    nowhere = Account.create().address
    settings = deployed_registry.settings(contract_address=nowhere)
    with pytest.raises(ChainMismatch, match=f"no contract at {nowhere}") as caught:
        EthereumAnchor(settings).anchor(signed_head())
    assert isinstance(caught.value, AnchorError)
    assert_secret_hidden(settings.private_key.reveal(), caught.value, caplog)


def test_contract_address_holding_another_contract(deployed_registry: Any, caplog: pytest.LogCaptureFixture) -> None:
    registry = Registry.at(deployed_registry.anvil, deployed_registry.address)
    # init code that deploys the one-byte runtime 0x00 (STOP): a contract that answers every call with nothing
    tx = {"from": registry.account.address, "data": "0x6001600c60003960016000f300", "gas": 100_000,
          "nonce": registry.w3.eth.get_transaction_count(registry.account.address, "pending"),
          "gasPrice": 10 * 10**9, "chainId": 31337}
    receipt = registry.w3.eth.wait_for_transaction_receipt(registry.w3.eth.send_raw_transaction(
        registry.account.sign_transaction(tx).raw_transaction))
    settings = deployed_registry.settings(contract_address=receipt["contractAddress"])
    with pytest.raises(ChainMismatch, match="is not a ProvenanceRegistry") as caught:
        EthereumAnchor(settings).anchor(signed_head())
    assert_secret_hidden(settings.private_key.reveal(), caught.value, caplog)


def test_account_without_funds(deployed_registry: Any, caplog: pytest.LogCaptureFixture) -> None:
    poor = Account.create()
    secret = "0x" + bytes(poor.key).hex()
    settings = deployed_registry.settings(private_key=Secret(secret))
    anchor = EthereumAnchor(settings)
    with pytest.raises(AnchorUnavailable, match=f"account {poor.address} cannot pay for the gas") as caught:
        anchor.anchor(signed_head())
    assert "\n" not in str(caught.value)
    assert tx_count(deployed_registry.anvil, poor.address) == 0
    rows = probe(settings)
    assert ("account balance", False) in [(name, ok) for name, ok, _ in rows]
    assert "round trip" not in [name for name, _, _ in rows]
    assert_secret_hidden(secret, caught.value, caplog, repr(anchor), repr(settings), repr(rows))


def test_reverted_receipt(deployed_registry: Any, caplog: pytest.LogCaptureFixture) -> None:
    settings = deployed_registry.settings()
    anchor = EthereumAnchor(settings, gas_limit=30_000)  # enough to be mined, too little to store the root
    head = signed_head()
    with pytest.raises(AnchorReverted, match=r"reverted in block \d+ \(status 0") as caught:
        anchor.anchor(head)
    assert anchor.lookup(bytes.fromhex(head.head.root_hash)) is None
    assert_secret_hidden(settings.private_key.reveal(), caught.value, caplog)


def test_rpc_down(fresh_anvil: Anvil, caplog: pytest.LogCaptureFixture) -> None:
    node = fresh_anvil
    settings = ChainSettings(rpc_url=node.url, private_key=Secret(node.private_keys[0]))
    settings = dataclasses.replace(settings, contract_address=deploy_registry(settings))
    used = EthereumAnchor(settings)
    used.anchor(signed_head(size=1))
    node.stop()
    for anchor in (used, EthereumAnchor(settings)):  # connected before, and never connected
        started = time.monotonic()
        with pytest.raises(AnchorUnavailable, match=r"cannot reach http://127\.0\.0\.1:\d+ \(connection") as caught:
            anchor.anchor(signed_head(size=2))
        assert time.monotonic() - started < 5
        assert "\n" not in str(caught.value)
        assert_secret_hidden(settings.private_key.reveal(), caught.value, caplog)
    rows = probe(settings)
    assert rows == [("RPC reachable", False, rows[0][2])]
    assert "cannot reach" in rows[0][2]


def test_rpc_that_never_answers_times_out(caplog: pytest.LogCaptureFixture) -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts connections, never says a word
        port = silent.getsockname()[1]
        settings = ChainSettings(rpc_url=f"http://127.0.0.1:{port}", private_key=Secret("0x" + "11" * 32),
                                 contract_address=Account.create().address)
        started = time.monotonic()
        with pytest.raises(AnchorUnavailable, match=r"cannot reach http://127\.0\.0\.1:\d+ \(timed out\)") as caught:
            EthereumAnchor(settings, request_timeout=0.3).anchor(signed_head())
        assert time.monotonic() - started < 5
    assert_secret_hidden(settings.private_key.reveal(), caught.value, caplog)


def test_bad_private_key_is_not_echoed(deployed_registry: Any, caplog: pytest.LogCaptureFixture) -> None:
    secret = "0x" + "zz" + "1" * 62
    with pytest.raises(UsageError, match="PRIVATE_KEY is not a valid") as caught:
        EthereumAnchor(deployed_registry.settings(private_key=Secret(secret)))
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    assert_secret_hidden(secret, caught.value, caplog)


def test_api_key_in_rpc_url_is_not_echoed(caplog: pytest.LogCaptureFixture) -> None:
    settings = ChainSettings(rpc_url="http://127.0.0.1:9/v3/SECRETAPIKEY123", private_key=Secret("0x" + "11" * 32),
                             contract_address=Account.create().address)
    with pytest.raises(AnchorUnavailable) as caught:
        EthereumAnchor(settings).anchor(signed_head())
    assert "SECRETAPIKEY123" not in str(caught.value)
    assert "http://127.0.0.1:9" in str(caught.value)


# --- wiring -------------------------------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in CHAIN_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env
    return tmp_path


def test_chain_anchor_for_reads_the_store(clean_env: Path, deployed_registry: Any,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(clean_env / "store", create=True)
    store.set_setting("rpc_url", deployed_registry.anvil.url)
    store.set_setting("contract_address", deployed_registry.address)
    store.set_setting("chain_id", "31337")
    monkeypatch.setenv("PRIVATE_KEY", deployed_registry.anvil.private_keys[7])
    anchor = chain_anchor_for(ProvenanceConfig(enabled=True, blockchain_enabled=True), store, SigningKey.generate())
    assert isinstance(anchor, EthereumAnchor)
    assert anchor.contract_address == deployed_registry.address
    assert anchor.anchor(signed_head())["submitter"] == deployed_registry.anvil.accounts[7]
    store.close()


def test_chain_anchor_for_without_a_chain(clean_env: Path, caplog: pytest.LogCaptureFixture,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(clean_env / "store", create=True)
    config = ProvenanceConfig(enabled=True, blockchain_enabled=True)
    assert chain_anchor_for(config, store, None) is None
    assert "no RPC_URL is set" in caplog.text
    monkeypatch.setenv("RPC_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("FORCE_LOCAL_BLOCKCHAIN", "true")
    assert chain_anchor_for(config, store, None) is None
    assert "FORCE_LOCAL_BLOCKCHAIN is set" in caplog.text
    store.close()


def test_chain_anchor_for_does_not_block_on_a_down_rpc(clean_env: Path) -> None:
    store = Store(clean_env / "store", create=True)
    config = ProvenanceConfig(enabled=True, blockchain_enabled=True, client_config={
        "rpc_url": "http://10.255.255.1:8545", "private_key": "0x" + "11" * 32,
        "contract_address": Account.create().address})
    started = time.monotonic()
    anchor = chain_anchor_for(config, store, None)
    assert isinstance(anchor, EthereumAnchor)
    assert time.monotonic() - started < 1
    store.close()


def test_probe_on_a_dev_chain(deployed_registry: Any) -> None:
    rows = probe(deployed_registry.settings(account=8))
    assert [(name, ok) for name, ok, _ in rows] == [
        ("RPC reachable", True), ("chain id", True), ("contract", True), ("account balance", True),
        ("round trip", True)]


def test_importing_the_anchor_keeps_the_recursion_limit() -> None:
    """web3 imports py_ecc, which raises the limit to 100,000: deep hostile JSON would then crash, not raise."""
    import subprocess
    import sys

    code = ("import sys; sys.setrecursionlimit(1234); import pot.anchors.ethereum, web3, py_ecc; "
            "print(sys.getrecursionlimit())")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert run.stdout.strip() == "1234"
