"""A proof made right after recording, as ``pot/__init__.py`` shows it, carries the chain anchor of what it covers:
``generate_proof_of_training`` waits (up to ``anchor_timeout``) for the model's anchor in flight, and says in one
log line when it gives up, and how to get a proof with the anchor later. On a real anvil."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from pot import ProvenanceConfig, ProvenanceRecorder, verify_proof
from pot.anchors.ethereum import deploy_registry, online_checker
from pot.config import ChainSettings, Secret
from tests.conftest import DeployedRegistry
from tests.support.anvil import Anvil

pytestmark = pytest.mark.chain


def chain_config(node: Anvil, address: str, store: Path, account: int, **settings: Any) -> ProvenanceConfig:
    return ProvenanceConfig(enabled=True, blockchain_enabled=True, store_dir=str(store), **settings,
                            client_config={"rpc_url": node.url, "private_key": node.private_keys[account],
                                           "contract_address": address})


def record_epochs(recorder: ProvenanceRecorder, epochs: int = 3) -> None:
    for epoch in range(epochs):
        recorder.record_training_checkpoint(model_hash=f"{epoch:064x}", metrics={"loss": 1 / (epoch + 1)},
                                            epoch=epoch, model_id="my_model")
    recorder.record_validation(model_hash=f"{epochs - 1:064x}", validator_id="holdout",
                               validation_result={"accuracy": 0.97}, model_id="my_model")


def proof_notes(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("the proof of")]


def test_a_proof_made_right_after_recording_carries_its_chain_anchor(
        deployed_registry: DeployedRegistry, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    node = deployed_registry.anvil
    # The pattern of pot/__init__.py's docstring, with blockchain_enabled=True: the proof is made inside the block,
    # before close() (which used to be the first to send the anchor).
    with ProvenanceRecorder(chain_config(node, deployed_registry.address, tmp_path / "store", 5)) as recorder:
        record_epochs(recorder)
        proof = recorder.generate_proof_of_training("my_model")
        assert proof is not None

    assert len(proof.blockchain_transactions) == 1  # what a reader of the proof file sees
    report = verify_proof(proof, trusted_key=recorder.public_key, chain_checker=online_checker(node.url))
    assert [h.strength for h in report.heads] == ["chain"]
    assert proof_notes(caplog) == []


def test_a_proof_that_cannot_wait_longer_says_so_and_a_later_one_has_the_anchor(
        fresh_anvil: Anvil, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    node = fresh_anvil
    address = deploy_registry(ChainSettings(rpc_url=node.url, private_key=Secret(node.private_keys[9])))
    node.rpc("evm_setAutomine", False)  # the anchor is sent, and waits in the mempool as on a congested chain
    recorder = ProvenanceRecorder(chain_config(node, address, tmp_path / "store", 1, anchor_timeout=1.0))
    record_epochs(recorder)
    proof = recorder.generate_proof_of_training("my_model")
    assert proof is not None and proof.blockchain_transactions == []  # the proof is made, without the anchor ...
    notes = proof_notes(caplog)  # ... and one line says why, and what to do
    assert len(notes) == 1, notes
    assert notes[0] == ("the proof of 'my_model' is made without the ethereum anchor of its newest tree head, still "
                        "being sent after 1 s (anchor_timeout): 1 head(s) show as anchored locally only; make the "
                        "proof again once it is mined (if this process ends first, `pot anchor --pending` sends it)")

    node.rpc("evm_mine")  # the chain catches up
    assert recorder.wait_for_anchors(60)
    again = recorder.generate_proof_of_training("my_model")
    assert again is not None and len(again.blockchain_transactions) == 1
    report = verify_proof(again, trusted_key=recorder.public_key, chain_checker=online_checker(node.url))
    assert [h.strength for h in report.heads] == ["chain"]
    recorder.close()
    assert len(proof_notes(caplog)) == 1
