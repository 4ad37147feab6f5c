"""RPC endpoints that answer, but not as an Ethereum node would: real HTTP servers on localhost, and a JSON-RPC proxy
in front of a real anvil that rewrites or drops single methods.

Each must end as :class:`pot.errors.AnchorUnavailable` (one line, the endpoint as scheme://host:port and nothing of
the URL's path, query or credentials), with nothing signed or sent; the commands exit 3; a recorder warns, records,
and keeps its heads pending until ``pot anchor --pending`` finds a working endpoint.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pot import ProvenanceConfig, ProvenanceRecorder
from pot.anchors.ethereum import EthereumAnchor, deploy_registry, online_checker, probe
from pot.errors import AnchorUnavailable, ChainCheckError
from pot.log.verify import verify_proof
from tests.chain.helpers import signed_head
from tests.chain.rpc_servers import RpcProxy, StaticServer, answer, drop, edit
from tests.conftest import DeployedRegistry
from tests.support.anvil import ROOT, Anvil

pytestmark = pytest.mark.chain

# What a hosted endpoint's URL carries beyond scheme://host:port; none of it may show anywhere.
USER, PASSWORD, PATH_KEY, QUERY_KEY = "rpcuser", "hunter2hunter2", "PATHKEY0123456789", "QUERYKEY9876543210"
ACCOUNT = 6  # the anvil dev account these tests sign with


def hosted(url: str) -> str:
    """``url`` (http://127.0.0.1:PORT) as a hosted provider's URL: credentials in the netloc, keys in path and query."""
    return url.replace("http://", f"http://{USER}:{PASSWORD}@") + f"/v3/{PATH_KEY}?apikey={QUERY_KEY}"


def assert_nothing_leaks(*texts: str) -> None:
    for text in texts:
        for secret in (USER, PASSWORD, PATH_KEY, QUERY_KEY):
            assert secret not in text


def without_base_fee(block: Any) -> Any:
    return {k: v for k, v in block.items() if k != "baseFeePerGas"} if isinstance(block, dict) else block


def web_page(status: int) -> Callable[[str], StaticServer]:
    return lambda upstream: StaticServer(status, "text/html; charset=utf-8",
                                         b"<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>")


def static(body: bytes) -> Callable[[str], StaticServer]:
    return lambda upstream: StaticServer(200, "application/json", body)


def proxy(**rules: Any) -> Callable[[str], RpcProxy]:
    return lambda upstream: RpcProxy(upstream, rules)


# (what the endpoint does wrong, a server that does it, words the one-line error must contain)
FAULTS = [
    ("web page", web_page(200), "not JSON"),
    ("web error page", web_page(502), "HTTP 502"),
    ("broken JSON", static(b'{"jsonrpc": "2.0", "id": 0, "result": '), "not JSON"),
    ("JSON but not JSON-RPC", static(b"[1, 2, 3]"), "JSON-RPC"),
    ("chain id a word", proxy(eth_chainId=answer("banana")), "chain id that is not a number"),
    ("chain id negative", proxy(eth_chainId=answer(-5)), "chain id of -5"),
    ("chain id negative hex", proxy(eth_chainId=answer("-0x89")), "chain id that is not a number"),
    ("chain id 0", proxy(eth_chainId=answer("0x0")), "chain id of 0"),
    ("chain id true", proxy(eth_chainId=answer(True)), "chain id that is not a number"),
    ("chain id null", proxy(eth_chainId=answer(None)), "chain id that is not a number"),
    ("chain id fractional", proxy(eth_chainId=answer(31337.5)), "chain id that is not a number"),
    ("chain id too large", proxy(eth_chainId=answer(hex(2**64))), "larger than any chain allows"),
    ("no tip method, no eth_feeHistory", proxy(eth_maxPriorityFeePerGas=drop(), eth_feeHistory=drop()),
     "suggests no priority fee"),
    ("no tip method, fee history without rewards",
     proxy(eth_maxPriorityFeePerGas=drop(), eth_feeHistory=answer({"oldestBlock": "0x1", "baseFeePerGas": []})),
     "suggests no priority fee"),
    ("no tip method, fee history of words",
     proxy(eth_maxPriorityFeePerGas=drop(), eth_feeHistory=answer({"reward": [["lots"]]})),
     "suggests no priority fee"),
    ("no baseFee and no eth_gasPrice", proxy(eth_getBlockByNumber=edit(without_base_fee), eth_gasPrice=drop()),
     "eth_gasPrice does not exist"),
    ("baseFee a word", proxy(eth_getBlockByNumber=edit(lambda b: {**b, "baseFeePerGas": "0xzz"})),
     "base fee that is not a number"),
    ("baseFee negative", proxy(eth_getBlockByNumber=edit(lambda b: {**b, "baseFeePerGas": -7})), "base fee of -7"),
    ("no latest block", proxy(eth_getBlockByNumber=answer(None)), "no latest block"),
    ("nonce a word", proxy(eth_getTransactionCount=answer("abc")), "nonce that is not a number"),
    ("contract code a number", proxy(eth_getCode=answer(17)), "contract code that is not hex data"),
]


@pytest.fixture(params=FAULTS, ids=[fault[0] for fault in FAULTS])
def faulty(request: pytest.FixtureRequest, anvil: Anvil) -> Iterator[tuple[str, str]]:
    """(the faulty endpoint's URL as a hosted provider would give it, words its error must contain)"""
    _, make, expected = request.param
    with make(anvil.url) as server:
        yield hosted(server.url), expected


@pytest.fixture(autouse=True)
def _debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # web3's and urllib3's DEBUG lines name the URL: they must not leak it either


def sent_by(node: Anvil, account: int) -> int:
    return int(str(node.rpc("eth_getTransactionCount", node.accounts[account], "pending")), 16)


def transaction(node: Anvil, tx_hash: str) -> dict[str, Any]:
    found = node.rpc("eth_getTransactionByHash", tx_hash)
    assert isinstance(found, dict)
    return found


def assert_one_clean_line(exc: BaseException, url: str, expected: str) -> None:
    message = str(exc)
    assert "\n" not in message and expected in message, message
    endpoint = url.split("@")[1].split("/")[0]  # 127.0.0.1:PORT
    assert f"http://{endpoint}" in message
    assert_nothing_leaks(message, repr(exc), "".join(traceback.format_exception(exc)))


def test_a_faulty_endpoint_is_unavailable_and_nothing_is_sent(faulty: tuple[str, str],
                                                              deployed_registry: DeployedRegistry,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    url, expected = faulty
    node = deployed_registry.anvil
    settings = deployed_registry.settings(account=ACCOUNT, rpc_url=url, chain_id=None)
    before = sent_by(node, ACCOUNT)

    with pytest.raises(AnchorUnavailable) as anchoring:
        EthereumAnchor(settings, receipt_timeout=5.0, request_timeout=2.0).anchor(signed_head())
    assert_one_clean_line(anchoring.value, url, expected)

    if "contract code" not in expected:  # a deployment reads code only after it has sent its transaction
        with pytest.raises(AnchorUnavailable) as deploying:
            deploy_registry(dataclasses.replace(settings, contract_address=None), timeout=5.0, request_timeout=2.0)
        assert_one_clean_line(deploying.value, url, expected)

    rows = probe(settings, request_timeout=2.0)  # `pot test --blockchain`: a failing row, not an exception
    assert not all(ok for _, ok, _ in rows)

    assert sent_by(node, ACCOUNT) == before  # nothing signed with a made-up number reached the chain
    assert_nothing_leaks(caplog.text, repr(rows), repr(settings))


def test_a_tip_from_the_fee_history_when_the_node_has_no_tip_method(deployed_registry: DeployedRegistry) -> None:
    node = deployed_registry.anvil
    with RpcProxy(node.url, {"eth_maxPriorityFeePerGas": drop()}) as relay:
        anchor = EthereumAnchor(deployed_registry.settings(account=ACCOUNT, rpc_url=relay.url))
        details = anchor.anchor(signed_head())
        assert "eth_feeHistory" in relay.calls
    tx = transaction(node, details["tx_hash"])
    assert tx["type"] == "0x2" and int(tx["maxPriorityFeePerGas"], 16) > 0


def test_no_fee_history_is_no_loss_when_the_node_suggests_a_tip(deployed_registry: DeployedRegistry) -> None:
    with RpcProxy(deployed_registry.anvil.url, {"eth_feeHistory": drop()}) as relay:
        details = EthereumAnchor(deployed_registry.settings(account=ACCOUNT, rpc_url=relay.url)).anchor(signed_head())
        assert "eth_feeHistory" not in relay.calls and details["block_number"] > 0


def test_a_chain_without_base_fee_gets_a_legacy_transaction(deployed_registry: DeployedRegistry) -> None:
    with RpcProxy(deployed_registry.anvil.url, {"eth_getBlockByNumber": edit(without_base_fee)}) as relay:
        anchor = EthereumAnchor(deployed_registry.settings(account=ACCOUNT, rpc_url=relay.url))
        details = anchor.anchor(signed_head())
        assert "eth_gasPrice" in relay.calls
    assert transaction(deployed_registry.anvil, details["tx_hash"])["type"] == "0x0"


def test_the_url_shows_only_as_scheme_host_port_even_in_debug_logs(deployed_registry: DeployedRegistry,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """A working endpoint behind a hosted-style URL: web3 logs every request's URL at DEBUG, urllib3 its path."""
    with RpcProxy(deployed_registry.anvil.url, {}) as relay:
        settings = deployed_registry.settings(account=ACCOUNT, rpc_url=hosted(relay.url))
        anchor = EthereumAnchor(settings)
        anchor.anchor(signed_head())
        assert relay.paths and all(path == f"/v3/{PATH_KEY}?apikey={QUERY_KEY}" for path in relay.paths)
    assert "Making request HTTP" in caplog.text  # web3 did log its requests, with the URL scrubbed
    assert f"http://127.0.0.1:{relay.port}" in caplog.text
    assert_nothing_leaks(caplog.text, repr(anchor), repr(settings), str(settings))


def test_verify_rpc_against_a_faulty_endpoint_is_a_clean_chain_check_failure(deployed_registry: DeployedRegistry,
                                                                            tmp_path: Path) -> None:
    settings = deployed_registry.settings(account=ACCOUNT)
    with ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp_path / "store")),
                            chain_anchors=[EthereumAnchor(settings)]) as recorder:
        recorder.record_training_checkpoint(model_hash="ab" * 32, metrics={}, epoch=0, model_id="m")
        recorder.flush()
        assert recorder.wait_for_anchors(30)
        proof = recorder.generate_proof_of_training("m")
    for make in (web_page(200), proxy(eth_chainId=answer("banana")), static(b"{")):
        with make(deployed_registry.anvil.url) as server:
            url = hosted(server.url)
            with pytest.raises(ChainCheckError) as caught:
                verify_proof(proof, trusted_key=proof.signer, chain_checker=online_checker(url, request_timeout=2.0))
        assert "\n" not in str(caught.value)
        assert_nothing_leaks(str(caught.value))


def test_recorder_warns_records_and_keeps_heads_pending(deployed_registry: DeployedRegistry, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    store = tmp_path / "store"
    node = deployed_registry.anvil
    before = sent_by(node, ACCOUNT)
    for make in (web_page(200), proxy(eth_chainId=answer("banana")),
                 proxy(eth_maxPriorityFeePerGas=drop(), eth_feeHistory=drop())):
        caplog.clear()
        with make(node.url) as server:
            settings = deployed_registry.settings(account=ACCOUNT, rpc_url=hosted(server.url), chain_id=None)
            recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store), anchor_timeout=10.0),
                                          chain_anchors=[EthereumAnchor(settings, request_timeout=2.0)])
            ids = [recorder.record_training_checkpoint(model_hash=os.urandom(32).hex(), metrics={"loss": 0.5},
                                                       epoch=epoch, model_id="m") for epoch in range(3)]
            recorder.flush()
            assert recorder.wait_for_anchors(30)
            recorder.close()
        assert all(ids)
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("pot")]
        assert len(warnings) == 1 and "stays pending" in warnings[0].getMessage(), caplog.text
        assert f"http://127.0.0.1:{server.port}" in warnings[0].getMessage()
        assert_nothing_leaks(caplog.text)
    assert sent_by(node, ACCOUNT) == before

    healed = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store)),
                                chain_anchors=[EthereumAnchor(deployed_registry.settings(account=ACCOUNT))])
    assert len(healed.store.pending_heads("ethereum")) == 3
    assert len(healed.anchor_pending()) == 1  # the newest head; its anchor covers the two before it
    assert healed.store.pending_heads("ethereum") == []
    assert healed.anchor_pending() == []  # and nothing is anchored twice
    assert sent_by(node, ACCOUNT) == before + 1
    healed.close()


# --- the commands ---------------------------------------------------------------------------------------------------


def test_commands_exit_3_with_one_line_and_anchor_pending_later_anchors(fresh_anvil: Anvil, tmp_path: Path) -> None:
    node = fresh_anvil
    key = node.private_keys[ACCOUNT]
    env = {**os.environ, "POT_HOME": str(tmp_path / "store"), "PRIVATE_KEY": key}
    env.pop("CONTRACT_ADDRESS", None)
    env.pop("CHAIN_ID", None)
    pot = [sys.executable, str(ROOT / "scripts" / "provenance_cli.py")]

    def run(*argv: str, rpc: str, code: int) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*pot, *argv], env={**env, "RPC_URL": rpc}, capture_output=True, text=True,
                                cwd=tmp_path, timeout=120)
        assert result.returncode == code, result.stdout + result.stderr
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr
        assert key.removeprefix("0x") not in result.stdout + result.stderr
        assert_nothing_leaks(result.stdout, result.stderr)
        return result

    assert run("init", "--blockchain", rpc="", code=0)
    faults = [web_page(200), static(b'{"jsonrpc": "2.0", "id": 0, "result": '), proxy(eth_chainId=answer("0x0")),
              proxy(eth_chainId=answer(-5)), proxy(eth_maxPriorityFeePerGas=drop(), eth_feeHistory=drop())]
    for make in faults:
        with make(node.url) as server:
            failed = run("contract", "deploy", rpc=hosted(server.url), code=3)
            assert len(failed.stderr.strip().splitlines()) == 1 and f"127.0.0.1:{server.port}" in failed.stderr
    deployed = json.loads(run("--json", "contract", "deploy", rpc=node.url, code=0).stdout)

    for epoch, make in enumerate(faults):
        with make(node.url) as server:
            url = hosted(server.url)
            # Recording goes on: the record is stored (exit 0) and the failed anchor is one warning line.
            recorded = run("checkpoint", "--model-hash", f"{epoch:064x}", "--epoch", str(epoch), "--metrics", "{}",
                           "--model-id", "m", rpc=url, code=0)
            assert len(recorded.stderr.strip().splitlines()) == 1 and "stays pending" in recorded.stderr
            failed = run("anchor", "--pending", rpc=url, code=3)
            assert len(failed.stderr.strip().splitlines()) == 1 and f"127.0.0.1:{server.port}" in failed.stderr
    assert int(str(node.rpc("eth_getTransactionCount", node.accounts[ACCOUNT], "pending")), 16) == 1  # the deploy

    healed = run("--json", "anchor", "--pending", rpc=node.url, code=0)
    assert json.loads(healed.stdout)["anchored"] == 1 and json.loads(healed.stdout)["pending"] == 0
    run("proof", "--model-id", "m", "--output", "p.json", rpc=node.url, code=0)
    verified = run("verify", "--proof", "p.json", "--rpc", node.url, rpc=node.url, code=0)
    # one anchor, of the newest head, dates every head: all of them checked on the chain
    assert f"records 0..{len(faults) - 1} (heads 1-{len(faults)}): existed by" in verified.stdout, verified.stdout
    assert "checked on the chain" in verified.stdout and "NOT checked" not in verified.stdout
    assert deployed["chain_id"] == 31337


def test_contract_deploy_keeps_the_address_when_the_endpoint_fails_right_after(fresh_anvil: Anvil,
                                                                              tmp_path: Path) -> None:
    """The deployment is paid for once mined: an endpoint that turns bad before pot has read the chain id again
    must not lose the address (a lost address means deploying, and paying, again)."""
    from pot.log.store import Store

    node = fresh_anvil
    env = {**os.environ, "POT_HOME": str(tmp_path / "store"), "PRIVATE_KEY": node.private_keys[ACCOUNT]}
    pot = [sys.executable, str(ROOT / "scripts" / "provenance_cli.py")]
    mined: list[Any] = []

    def receipt(request: dict[str, Any], forward: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        response = forward()
        if response.get("result"):
            mined.append(response["result"])
        return response

    def chain_id_until_mined(request: dict[str, Any], forward: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        return answer("banana")(request, forward) if mined else forward()

    assert subprocess.run([*pot, "init", "--blockchain"], env=env, cwd=tmp_path, timeout=60).returncode == 0
    rules = {"eth_getTransactionReceipt": receipt, "eth_chainId": chain_id_until_mined}
    with RpcProxy(node.url, rules) as relay:
        result = subprocess.run([*pot, "contract", "deploy"], env={**env, "RPC_URL": hosted(relay.url)},
                                cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 3 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "deployed ProvenanceRegistry at 0x" in result.stderr and "chain id that is not a number" in result.stderr
    assert_nothing_leaks(result.stderr)
    with Store(tmp_path / "store") as store:
        address = store.get_setting("contract_address")
    assert address is not None and address in result.stderr
    assert node.rpc("eth_getCode", address, "latest") != "0x"
