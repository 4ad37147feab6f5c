"""A local chain that cannot be written does not hold back the chain anchor: the head still goes on chain."""

from __future__ import annotations

from pathlib import Path

import pytest

from pot import ProvenanceConfig, ProvenanceRecorder, verify_proof
from pot.anchors.ethereum import EthereumAnchor, online_checker
from pot.errors import AnchorUnavailable
from pot.log.store import LOCAL_CHAIN_NAME
from tests.conftest import DeployedRegistry

pytestmark = pytest.mark.chain


def test_a_damaged_local_chain_still_lets_the_head_reach_the_chain(deployed_registry: DeployedRegistry,
                                                                   tmp_path: Path) -> None:
    store = tmp_path / "store"
    settings = deployed_registry.settings(account=3)
    anchors = [EthereumAnchor(settings, receipt_timeout=10.0, request_timeout=2.0)]
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store)), chain_anchors=anchors)
    recorder.record_training_checkpoint(model_hash="0" * 64, metrics={"loss": 1.0}, epoch=0, model_id="m")
    recorder.flush()
    chain = store / LOCAL_CHAIN_NAME
    chain.write_bytes(chain.read_bytes() + b"garbage\n")

    recorder.record_training_checkpoint(model_hash="1" * 64, metrics={"loss": 0.5}, epoch=1, model_id="m")
    [head] = recorder.flush()
    assert isinstance(recorder.local_anchor_failures["m"], AnchorUnavailable)
    assert recorder.wait_for_anchors(60)
    backends = {r.backend for r in recorder.store.receipts("m") if r.head_hash == head.head.head_hash}
    assert backends == {"ethereum"}  # anchored on chain, not locally
    proof = recorder.generate_proof_of_training("m")
    recorder.close()
    report = verify_proof(proof, trusted_key=proof.signer, chain_checker=online_checker(settings.rpc_url))
    assert [h.strength for h in report.heads] == ["chain", "chain"]
