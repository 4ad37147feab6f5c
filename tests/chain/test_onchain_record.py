"""A record checked by the registry on chain (anvil): ``checkRecord``/``checkLeaf`` through pot's library, the
``pot chain check-record`` and ``pot chain calldata`` commands and the pinned ``cast``; a tampered record, a wrong
index, a root that was never anchored (or anchored by someone else) are refused by the contract."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pot import ProvenanceConfig, ProvenanceRecorder
from pot.anchors.ethereum import EthereumAnchor
from pot.anchors.onchain import RecordCall, check_record_on_chain, record_call, verify_locally
from pot.errors import RecordRefused, UsageError
from pot.log.proof import ProvenanceProof
from tests.support.anvil import CAST_BINARY, ROOT

pytestmark = pytest.mark.chain

MODEL_HASH = "ab" * 32
VALIDATOR = "eval-bot"


@dataclasses.dataclass
class Anchored:
    proof: ProvenanceProof
    path: Path
    validation_id: str
    rpc: str
    registry: Any


@pytest.fixture(scope="module")
def anchored(tmp_path_factory: pytest.TempPathFactory, anvil: Any) -> Anchored:
    """A full proof of 7 records (5 checkpoints, a validation, a checkpoint) over 2 chain-anchored heads."""
    from pot.anchors.ethereum import deploy_registry
    from pot.config import ChainSettings, Secret

    tmp = tmp_path_factory.mktemp("onchain")
    settings = ChainSettings(rpc_url=anvil.url, private_key=Secret(anvil.private_keys[7]), chain_id=31337)
    settings = dataclasses.replace(settings, contract_address=deploy_registry(settings))
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp / "store"), batch_size=100),
                                  chain_anchors=[EthereumAnchor(settings)])
    try:
        for epoch in range(5):
            recorder.record_training_checkpoint(model_hash=os.urandom(32).hex(), metrics={"loss": 1 / (epoch + 1)},
                                                epoch=epoch, model_id="m")
        recorder.flush()
        assert recorder.wait_for_anchors(30)
        validation_id = recorder.record_validation(MODEL_HASH, VALIDATOR, {"accuracy": 0.93, "note": "held out"},
                                                   "m", confidence_score=0.9)
        recorder.record_training_checkpoint(model_hash=MODEL_HASH, metrics={"loss": 0.1}, epoch=5, model_id="m")
        recorder.flush()
        assert recorder.wait_for_anchors(30)
        proof = recorder.generate_proof_of_training("m")
        assert proof is not None
    finally:
        recorder.close()
    path = tmp / "m.proof.json"
    proof.save(path)
    assert [r.backend for r in proof.anchors].count("ethereum") == 2
    return Anchored(proof, path, validation_id, anvil.url, settings)


def pot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pot", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, check=False)


def test_every_record_is_in_its_anchored_log_on_chain(anchored: Anchored) -> None:
    heads = [e.head for e in anchored.proof.tree_heads]
    for record in anchored.proof.records:
        call = record_call(anchored.proof, record.record_id)
        # the earliest anchored head covering the record
        assert call.tree_size == next(h.tree_size for h in heads if h.tree_size > record.seq)
        assert verify_locally(call)
        result = check_record_on_chain(call, anchored.rpc)
        assert result.leaf_hash.hex() == record.record_id
        assert (result.block_number, result.block_time) == (call.receipt_block, call.receipt_time)
        assert result.tree_size == call.tree_size and result.development_chain
        leaf = check_record_on_chain(dataclasses.replace(call, leaf_only=True), anchored.rpc)
        assert (leaf.block_number, leaf.tree_size) == (result.block_number, result.tree_size)


def refusal(call: RecordCall, rpc: str) -> str:
    with pytest.raises(RecordRefused) as caught:
        check_record_on_chain(call, rpc)
    return str(caught.value)


def test_a_tampered_record_is_refused(anchored: Anchored) -> None:
    call = record_call(anchored.proof, anchored.validation_id)
    body = json.loads(call.record)
    body["validation_result"]["accuracy"] = 0.99
    tampered = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    assert tampered != call.record
    from pot.log.merkle import hash_leaf

    for change in ({"record": tampered, "leaf_hash": hash_leaf(tampered)},
                   {"record": call.record + b" "}):  # one byte more: another leaf
        assert "NotIncluded(" in refusal(dataclasses.replace(call, **change), anchored.rpc)
    # a leaf hash off by one bit, through checkLeaf
    flipped = bytes([call.leaf_hash[0] ^ 1]) + call.leaf_hash[1:]
    assert "NotIncluded(" in refusal(dataclasses.replace(call, leaf_only=True, leaf_hash=flipped), anchored.rpc)


def test_a_wrong_index_or_path_is_refused(anchored: Anchored) -> None:
    call = record_call(anchored.proof, anchored.validation_id)
    for index in {0, call.seq - 1, call.seq + 1, call.tree_size, 2**256 - 1} - {call.seq}:
        assert "NotIncluded(" in refusal(dataclasses.replace(call, seq=index), anchored.rpc), index
    assert "NotIncluded(" in refusal(dataclasses.replace(call, path=call.path[:-1]), anchored.rpc)
    assert "NotIncluded(" in refusal(dataclasses.replace(call, path=(*call.path, os.urandom(32))), anchored.rpc)
    assert "NotIncluded(" in refusal(dataclasses.replace(call, path=tuple(reversed(call.path))), anchored.rpc)


def test_the_path_of_a_larger_tree_against_a_smaller_one_is_refused(anchored: Anchored) -> None:
    """The first record's path in the second (7-leaf) tree, sent against the first anchored (5-leaf) root."""
    first, second = (h for h in (e.head for e in anchored.proof.tree_heads) if h.tree_size in (5, 7))
    call = record_call(anchored.proof, anchored.proof.records[0].record_id)
    assert call.tree_size == first.tree_size == 5
    from pot.log.merkle import MerkleTree

    path = tuple(MerkleTree([r.leaf() for r in anchored.proof.records]).inclusion_proof(0, 7))
    assert "NotIncluded(" in refusal(dataclasses.replace(call, path=path), anchored.rpc)
    # ... and it is the right path against the second root
    later = record_call(anchored.proof, anchored.validation_id)
    assert later.root == bytes.fromhex(second.root_hash)
    moved = dataclasses.replace(call, path=path, root=later.root, receipt_block=later.receipt_block,
                                receipt_time=later.receipt_time)
    assert check_record_on_chain(moved, anchored.rpc).tree_size == 7


def test_a_root_never_anchored_or_anchored_by_another_account_is_refused(anchored: Anchored, anvil: Any) -> None:
    call = record_call(anchored.proof, anchored.validation_id)
    assert "NotAnchored(" in refusal(dataclasses.replace(call, root=os.urandom(32)), anchored.rpc)
    # the root pot anchored, but asked as another account's: only the named account's anchors count
    assert "NotAnchored(" in refusal(dataclasses.replace(call, submitter=anvil.accounts[8]), anchored.rpc)


def test_check_record_command(anchored: Anchored) -> None:
    call = record_call(anchored.proof, anchored.validation_id)
    result = pot("chain", "check-record", "--proof", str(anchored.path), "--record", anchored.validation_id[:12],
                 "--rpc", anchored.rpc)
    assert result.returncode == 0, result.stderr
    assert f"record {anchored.validation_id} (seq {call.seq}) is in the log" in result.stdout
    assert f"anchored in block {call.receipt_block} at" in result.stdout
    assert "development chain" in result.stdout
    result = pot("chain", "check-record", str(anchored.path), "--record", anchored.validation_id, "--rpc",
                 anchored.rpc, "--json", "--leaf-only")
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["block_number"] == call.receipt_block and data["index"] == call.seq
    assert data["function"].startswith("checkLeaf(")


def test_check_record_command_refuses_a_tampered_proof(anchored: Anchored, tmp_path: Path) -> None:
    document = json.loads(anchored.path.read_text())
    record = next(r for r in document["records"] if r["id"] == anchored.validation_id)
    record["validator_id"] = "someone-else"
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(document))
    result = pot("chain", "check-record", "--proof", str(tampered), "--record", anchored.validation_id, "--rpc",
                 anchored.rpc)
    assert result.returncode == 1
    assert result.stderr.startswith("pot: error: the contract refuses: NotIncluded(") and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1


def test_check_record_command_errors(anchored: Anchored, tmp_path: Path) -> None:
    args = ("chain", "check-record", "--proof", str(anchored.path), "--rpc")
    unknown = pot(*args, anchored.rpc, "--record", "00" * 32)
    assert unknown.returncode == 2 and "no record with id" in unknown.stderr
    bad = pot(*args, anchored.rpc, "--record", "xyz")
    assert bad.returncode == 2 and "8 to 64 hex digits" in bad.stderr
    down = pot(*args, "http://127.0.0.1:9", "--record", anchored.validation_id)
    assert down.returncode == 3 and "cannot ask" in down.stderr and "Traceback" not in down.stderr
    no_proof = pot("chain", "check-record", "--record", "00" * 32, "--rpc", anchored.rpc)
    assert no_proof.returncode == 2 and "which proof?" in no_proof.stderr
    missing = pot(*args, anchored.rpc)
    assert missing.returncode == 2 and "--record" in missing.stderr


def test_proof_without_chain_receipts_says_so(tmp_path: Path) -> None:
    with ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp_path / "s"))) as recorder:
        record_id = recorder.record_validation(MODEL_HASH, VALIDATOR, {"accuracy": 1}, "local")
        proof = recorder.generate_proof_of_training("local")
    assert proof is not None
    with pytest.raises(UsageError, match="no tree head covering record seq 0 has an Ethereum anchor receipt"):
        record_call(proof, record_id)


def test_partial_proof(anchored: Anchored, tmp_path: Path) -> None:
    """A partial proof's path is against its latest head, which is anchored here: the chain accepts it."""
    store = anchored.path.parent / "store"
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store)))
    try:
        partial = recorder.generate_proof_of_training("m", disclose=[anchored.validation_id])
    finally:
        recorder.close()
    assert partial is not None and partial.disclosure == "partial"
    call = record_call(partial, anchored.validation_id)
    assert call.tree_size == 7 and call.path == record_call(anchored.proof, anchored.validation_id).path
    assert check_record_on_chain(call, anchored.rpc).tree_size == 7


def test_calldata_command_and_cast_agree(anchored: Anchored) -> None:
    """The call `pot chain calldata` prints is the call pot sends, and cast gets the same answer from it, both as
    raw data and as the signature line docs/VERIFYING.md shows."""
    call = record_call(anchored.proof, anchored.validation_id)
    printed = pot("chain", "calldata", "--proof", str(anchored.path), "--record", anchored.validation_id, "--json")
    assert printed.returncode == 0, printed.stderr
    data = json.loads(printed.stdout)
    assert data["data"] == "0x" + call.calldata().hex()
    assert data["to"] == call.contract and data["function"] == call.signature
    text = pot("chain", "calldata", "--proof", str(anchored.path), "--record", anchored.validation_id)
    assert f"data      {data['data']}" in text.stdout

    cast = [str(CAST_BINARY), "call", data["to"]]
    raw = subprocess.run([*cast, "--data", data["data"], "--rpc-url", anchored.rpc], capture_output=True, text=True,
                         check=True).stdout.strip()
    from eth_abi.abi import decode

    leaf, block_time, block_number, size = decode(["bytes32", "uint256", "uint256", "uint256"], bytes.fromhex(raw[2:]))
    assert (leaf.hex(), block_number, block_time, size) == (call.leaf_hash.hex(), call.receipt_block,
                                                           call.receipt_time, call.tree_size)
    arguments = data["arguments"]
    lines = subprocess.run([*cast, data["function"] + data["returns"], arguments["submitter"], arguments["root"],
                            arguments["record"], str(arguments["index"]), "[" + ",".join(arguments["proof"]) + "]",
                            "--rpc-url", anchored.rpc], capture_output=True, text=True, check=True).stdout.splitlines()
    assert lines[0] == "0x" + call.leaf_hash.hex()
    assert int(lines[2].split()[0]) == call.receipt_block
    # and a tampered record through cast: the contract reverts with NotIncluded
    bad = subprocess.run([*cast, data["function"] + data["returns"], arguments["submitter"], arguments["root"],
                          arguments["record"] + "20", str(arguments["index"]), "[" + ",".join(arguments["proof"]) + "]",
                          "--rpc-url", anchored.rpc], capture_output=True, text=True, check=False)
    from web3 import Web3

    not_included = Web3.keccak(text="NotIncluded(bytes32,bytes32,uint256,uint256)")[:4].hex()
    assert bad.returncode != 0 and not_included in bad.stderr + bad.stdout, bad.stderr


def test_the_vectors_calls_are_what_the_contract_answers(deployed_registry: Any) -> None:
    """tests/assets/vectors/v1.json `onchain_record_call`: once its root is anchored by its submitter (anvil's first
    account), the contract accepts both calldata as written and returns the record's leaf hash."""
    from eth_abi.abi import decode
    from web3 import Web3

    from tests.chain.helpers import Registry

    vector = json.loads((ROOT / "tests" / "assets" / "vectors" / "v1.json").read_text())["onchain_record_call"]
    registry = Registry.at(deployed_registry.anvil, deployed_registry.address, account=0)
    assert registry.account.address == vector["submitter"]
    root = bytes.fromhex(vector["root"])
    assert registry.transact(registry.contract.functions.anchor(root, os.urandom(32), vector["tree_size"]))["status"]
    w3: Web3 = registry.w3
    answer = bytes(w3.eth.call({"to": deployed_registry.address, "data": vector["check_record"]["calldata"]}))
    leaf, _, _, size = decode(["bytes32", "uint256", "uint256", "uint256"], answer)
    assert (leaf.hex(), size) == (vector["leaf_hash"], vector["tree_size"])
    answer = bytes(w3.eth.call({"to": deployed_registry.address, "data": vector["check_leaf"]["calldata"]}))
    assert decode(["uint256", "uint256", "uint256"], answer)[2] == vector["tree_size"]
