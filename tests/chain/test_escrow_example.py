"""The example consumer contract (contracts/examples/ValidationEscrow.sol) on anvil: a payment released by a pot
validation record of the agreed model hash and validator, in a log the agreed account anchored, with the call
arguments pot builds from the proof; every other record, a tampered one, or another account's log is refused."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import decode
from web3 import Web3
from web3.exceptions import ContractCustomError

from pot import ProvenanceConfig, ProvenanceRecorder
from pot.anchors.ethereum import EthereumAnchor, deploy_registry
from pot.anchors.onchain import RecordCall, record_call
from pot.config import ChainSettings, Secret
from pot.log.merkle import hash_leaf
from tests.support.anvil import ROOT, Anvil

pytestmark = pytest.mark.chain

MODEL_HASH = "5e" * 32
VALIDATOR = "eval-bot"
ETHER = 10**18


def revert_name(abi: list[dict[str, Any]], call: Any) -> tuple[str, tuple[Any, ...]]:
    """Run an eth_call expected to revert with a custom error of ``abi``; its name and arguments."""
    with pytest.raises(ContractCustomError) as caught:
        call()
    raw = bytes.fromhex(str(caught.value.data)[2:])
    for item in abi:
        if item.get("type") == "error":
            types = [i["type"] for i in item["inputs"]]
            if Web3.keccak(text=f"{item['name']}({','.join(types)})")[:4] == raw[:4]:
                return item["name"], tuple(decode(types, raw[4:]))
    raise AssertionError(f"an undeclared error: {raw.hex()}")


@dataclasses.dataclass
class World:
    node: Anvil
    w3: Web3
    registry: str
    proof_path: Path
    proof: Any
    validation: str  # the record that releases
    other_validation: str  # same model, another validator
    checkpoint: str  # a checkpoint record of the same model hash

    def send(self, account: int, fn: Any, value: int = 0) -> Any:
        sender = self.w3.eth.account.from_key(self.node.private_keys[account])
        tx = fn.build_transaction({"from": sender.address, "value": value, "gas": 3_000_000,
                                   "nonce": self.w3.eth.get_transaction_count(sender.address, "pending")})
        return self.w3.eth.wait_for_transaction_receipt(
            self.w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction), timeout=30)

    def escrow(self, *, submitter: str, deadline_in: int = 86_400, model_hash: str = MODEL_HASH,
               validator: str = VALIDATOR) -> Any:
        artifact = json.loads((ROOT / "contracts" / "build" / "ValidationEscrow.json").read_text())
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        deadline = self.w3.eth.get_block("latest")["timestamp"] + deadline_in
        receipt = self.send(3, factory.constructor(self.registry, submitter, self.node.accounts[4], model_hash,
                                                   validator, deadline), value=ETHER)
        assert receipt["status"] == 1
        return self.w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("escrow")
    with Anvil() as node:
        settings = ChainSettings(rpc_url=node.url, private_key=Secret(node.private_keys[2]), chain_id=31337)
        settings = dataclasses.replace(settings, contract_address=deploy_registry(settings))
        recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp / "store"), batch_size=100),
                                      chain_anchors=[EthereumAnchor(settings)])
        try:
            for epoch in range(3):
                recorder.record_training_checkpoint(model_hash=os.urandom(32).hex(), metrics={"loss": 1 / (1 + epoch)},
                                                    epoch=epoch, model_id="model")
            checkpoint = recorder.record_training_checkpoint(model_hash=MODEL_HASH, metrics={"loss": 0.2}, epoch=3,
                                                             model_id="model")
            # a nested look-alike in the free-form result must not count as the record's own validator
            other = recorder.record_validation(MODEL_HASH, "someone-else",
                                               {"accuracy": 0.5, "validator_id": VALIDATOR}, "model")
            validation = recorder.record_validation(MODEL_HASH, VALIDATOR, {"accuracy": 0.94}, "model",
                                                    confidence_score=0.9)
            recorder.flush()
            assert recorder.wait_for_anchors(30)
            proof = recorder.generate_proof_of_training("model")
        finally:
            recorder.close()
        path = tmp / "model.proof.json"
        proof.save(path)
        yield World(node, Web3(Web3.HTTPProvider(node.url)), str(settings.contract_address), path, proof,
                    validation, other, checkpoint)


def release(escrow: Any, call: RecordCall) -> Any:
    return escrow.functions.release(call.root, call.record, call.seq, list(call.path))


def test_check_record_works_on_the_examples_anchored_proof(world: World) -> None:
    result = subprocess.run([sys.executable, "-m", "pot", "chain", "check-record", "--proof", str(world.proof_path),
                             "--record", world.validation, "--rpc", world.node.url, "--json"],
                            capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] and data["submitter"] == world.node.accounts[2] and data["leaf_hash"] == world.validation


def test_the_recorded_validation_releases_the_payment(world: World) -> None:
    escrow = world.escrow(submitter=world.node.accounts[2])
    beneficiary = world.node.accounts[4]
    before = world.w3.eth.get_balance(beneficiary)
    call = record_call(world.proof, world.validation)
    receipt = world.send(5, release(escrow, call))  # anyone may call it; only the beneficiary is paid
    assert receipt["status"] == 1
    assert world.w3.eth.get_balance(beneficiary) == before + ETHER
    assert world.w3.eth.get_balance(escrow.address) == 0
    (event,) = escrow.events.Released().process_receipt(receipt)
    assert bytes(event["args"]["leafHash"]).hex() == world.validation
    assert event["args"]["blockNumber"] == call.receipt_block and event["args"]["amount"] == ETHER
    assert escrow.functions.settled().call() is True
    assert revert_name(escrow.abi, release(escrow, call).call)[0] == "AlreadySettled"
    assert revert_name(escrow.abi, escrow.functions.refund().call)[0] == "AlreadySettled"


def test_other_records_and_other_logs_are_refused(world: World) -> None:
    escrow = world.escrow(submitter=world.node.accounts[2])
    abi = escrow.abi + json.loads((ROOT / "contracts" / "build" / "ProvenanceRegistry.json").read_text())["abi"]
    wrong = "NotAValidationOfTheModelByTheValidator"
    # in the anchored log, but not what the escrow pays for
    assert revert_name(abi, release(escrow, record_call(world.proof, world.checkpoint)).call)[0] == wrong
    assert revert_name(abi, release(escrow, record_call(world.proof, world.other_validation)).call)[0] == wrong
    # the paying record, tampered: not in the log
    call = record_call(world.proof, world.validation)
    body = json.loads(call.record)
    body["validator_id"] = VALIDATOR
    body["model_hash"] = MODEL_HASH
    body["validation_result"]["accuracy"] = 0.99
    forged = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    assert hash_leaf(forged) != call.leaf_hash
    assert revert_name(abi, release(escrow, dataclasses.replace(call, record=forged)).call)[0] == "NotIncluded"
    assert revert_name(abi, release(escrow, dataclasses.replace(call, seq=call.seq - 1)).call)[0] == "NotIncluded"
    # the same record, against a root nobody anchored
    name, args = revert_name(abi, release(escrow, dataclasses.replace(call, root=os.urandom(32))).call)
    assert name == "NotAnchored" and args[0] == world.node.accounts[2].lower()
    # an escrow that trusts another account's anchors: pot's anchor is not that account's
    stranger = world.escrow(submitter=world.node.accounts[6])
    assert revert_name(abi, release(stranger, call).call)[0] == "NotAnchored"
    # an escrow for another model or validator
    for changes in ({"model_hash": "6f" * 32}, {"validator": "eval-bot-2"}):
        other = world.escrow(submitter=world.node.accounts[2], **changes)
        assert revert_name(abi, release(other, call).call)[0] == wrong
    assert world.w3.eth.get_balance(escrow.address) == ETHER


def test_refund_after_the_deadline(world: World) -> None:
    escrow = world.escrow(submitter=world.node.accounts[2], deadline_in=60)
    assert revert_name(escrow.abi, escrow.functions.refund().call)[0] == "TooEarly"
    world.node.rpc("evm_increaseTime", 120)
    world.node.mine()
    call = record_call(world.proof, world.validation)
    assert revert_name(escrow.abi, release(escrow, call).call)[0] == "TooLate"
    funder = world.node.accounts[3]
    before = world.w3.eth.get_balance(funder)
    receipt = world.send(5, escrow.functions.refund())
    assert receipt["status"] == 1 and world.w3.eth.get_balance(funder) == before + ETHER


@pytest.mark.parametrize("text", ['has"quote', "back\\slash", "", "tab\there", "é"])
def test_values_that_need_escaping_are_refused_at_deployment(world: World, text: str) -> None:
    artifact = json.loads((ROOT / "contracts" / "build" / "ValidationEscrow.json").read_text())
    factory = world.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    call = factory.constructor(world.registry, world.node.accounts[2], world.node.accounts[4], MODEL_HASH, text, 0)
    with pytest.raises(ContractCustomError):
        world.w3.eth.call({"from": world.node.accounts[3], "data": call.data_in_transaction})
