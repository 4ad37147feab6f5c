"""``pot verify --rpc``'s chain check: real proofs from a recorder anchoring on anvil, checked against the chain."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pot import ProvenanceConfig, ProvenanceRecorder
from pot.anchors.base import AnchorReceipt
from pot.anchors.ethereum import EthereumAnchor, deploy_registry, online_checker
from pot.cli import main
from pot.config import ChainSettings, Secret
from pot.errors import AnchorReceiptError, ChainCheckError, ChainUnreachable
from pot.log.proof import ProvenanceProof
from pot.log.verify import VerificationReport, verify_proof
from tests.support.anvil import Anvil
from tests.unit.test_json_schemas import check

pytestmark = pytest.mark.chain

MakeProof = Callable[..., tuple[ProvenanceProof, ProvenanceRecorder]]


@pytest.fixture
def make_proof(tmp_path: Path) -> Iterator[Callable[..., tuple[ProvenanceProof, ProvenanceRecorder]]]:
    recorders: list[ProvenanceRecorder] = []

    def make(settings: ChainSettings, records: int = 5, clock: Callable[[], datetime] | None = None,
             auto_verify: bool = True) -> tuple[ProvenanceProof, ProvenanceRecorder]:
        store = tmp_path / f"store{len(recorders)}"
        recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store), batch_size=2,
                                                       auto_verify=auto_verify),
                                      chain_anchors=[EthereumAnchor(settings)], clock=clock)
        recorders.append(recorder)
        for epoch in range(records):
            recorder.record_training_checkpoint(model_hash=os.urandom(32).hex(), metrics={"loss": 1 / (epoch + 1)},
                                                epoch=epoch, model_id="model")
            if epoch % 2:
                recorder.flush()  # a head per two records, whatever the signer's pace ...
                assert recorder.wait_for_anchors(30)  # ... each anchored before the next (no coalescing)
        recorder.flush()
        assert recorder.wait_for_anchors(30)
        return recorder.generate_proof_of_training("model"), recorder

    yield make
    for recorder in recorders:
        recorder.close()


def chain_receipts(proof: ProvenanceProof) -> list[AnchorReceipt]:
    return [r for r in proof.anchors if r.backend == "ethereum"]


def with_details(proof: ProvenanceProof, **changes: Any) -> ProvenanceProof:
    """The proof with its first Ethereum receipt's details changed (signatures are not the chain check's job)."""
    first = chain_receipts(proof)[0]
    changed = dataclasses.replace(first, details={**first.details, **changes})
    return dataclasses.replace(proof, anchors=[changed if r is first else r for r in proof.anchors])


def offline_report(proof: ProvenanceProof, recorder: ProvenanceRecorder) -> VerificationReport:
    return verify_proof(proof, trusted_key=recorder.public_key)


def test_proof_checks_against_the_chain(deployed_registry: Any, make_proof: MakeProof) -> None:
    proof, recorder = make_proof(deployed_registry.settings())
    receipts = chain_receipts(proof)
    assert len(receipts) == len(proof.tree_heads) >= 2
    report = verify_proof(proof, trusted_key=recorder.public_key,
                          chain_checker=online_checker(deployed_registry.anvil.url))
    assert report.ok
    assert report.checks[-1].name == "chain"
    for head, receipt in zip(report.heads, receipts, strict=True):
        assert head.strength == "chain"
        block_time = datetime.fromtimestamp(receipt.details["block_time"], UTC)
        assert head.chain_time == block_time.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        assert head.chain_detail == (f"chain 31337 block {receipt.details['block_number']} tx "
                                     f"{receipt.details['tx_hash']}")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"block_hash": "0x" + "ab" * 32}, "not in block"),
        ({"block_number": 1}, "not in block"),
        ({"block_time": 2_000_000_000}, "has time"),
        ({"tx_hash": "0x" + "cd" * 32}, "no such transaction"),
        ({"chain_id": 1}, "receipt names chain id 1"),
        ({"contract": "0x" + "11" * 20}, "no contract at"),
        ({"meta_hash": "0x" + "ef" * 32}, "another metaHash"),
        ({"submitter": "0x" + "22" * 20}, "another submitter"),
        ({"log_index": 7}, "no log at index 7"),
        ({"block_number": True}, "must be an integer"),
    ],
)
def test_tampered_receipt_fails(deployed_registry: Any, make_proof: MakeProof, change: dict[str, Any],
                                message: str) -> None:
    proof, recorder = make_proof(deployed_registry.settings(), records=2)
    report = offline_report(proof, recorder)
    with pytest.raises(ChainCheckError, match=message):
        online_checker(deployed_registry.anvil.url)(with_details(proof, **change), report)


def test_receipt_of_another_transaction_in_the_same_contract_fails(deployed_registry: Any,
                                                                   make_proof: MakeProof) -> None:
    proof, recorder = make_proof(deployed_registry.settings(), records=4)
    second = chain_receipts(proof)[1]
    swapped = with_details(proof, **{k: second.details[k] for k in ("tx_hash", "block_number", "block_hash",
                                                                      "block_time", "log_index")})
    with pytest.raises(ChainCheckError, match="another root"):
        online_checker(deployed_registry.anvil.url)(swapped, offline_report(proof, recorder))


def test_rpc_of_another_chain_fails(deployed_registry: Any, anvil_polygon: Anvil, make_proof: MakeProof) -> None:
    proof, recorder = make_proof(deployed_registry.settings(), records=2)
    with pytest.raises(ChainCheckError, match=r"the RPC is Polygon \(chain id 137\)"):
        online_checker(anvil_polygon.url)(proof, offline_report(proof, recorder))


def test_record_dated_after_its_block_fails(deployed_registry: Any, make_proof: MakeProof) -> None:
    """A signer whose clock runs an hour ahead: the block times in its own receipts contradict its records, offline
    already; and the chain's clock says the same."""
    ahead = timedelta(hours=1)
    proof, recorder = make_proof(deployed_registry.settings(), records=2, clock=lambda: datetime.now(UTC) + ahead,
                                 auto_verify=False)  # the recorder's own check would refuse to hand it out
    with pytest.raises(AnchorReceiptError, match=r"record seq 0 is dated .* after the block time") as failed:
        offline_report(proof, recorder)
    with pytest.raises(ChainCheckError, match=r"record seq 0 is dated .* after block \d+ that anchors it"):
        online_checker(deployed_registry.anvil.url)(proof, failed.value.report)


def test_anchor_reorganised_away_fails(fresh_anvil: Anvil, make_proof: MakeProof) -> None:
    settings = ChainSettings(rpc_url=fresh_anvil.url, private_key=Secret(fresh_anvil.private_keys[0]))
    settings = dataclasses.replace(settings, contract_address=deploy_registry(settings))
    snapshot = fresh_anvil.rpc("evm_snapshot")
    proof, recorder = make_proof(settings, records=2)
    online_checker(fresh_anvil.url)(proof, offline_report(proof, recorder))
    fresh_anvil.rpc("evm_revert", snapshot)  # the chain forgets the anchor ...
    fresh_anvil.mine(5)  # ... and grows past it
    with pytest.raises(ChainCheckError, match="no such transaction"):
        online_checker(fresh_anvil.url)(proof, offline_report(proof, recorder))


def test_rpc_down_fails(fresh_anvil: Anvil, make_proof: MakeProof) -> None:
    settings = ChainSettings(rpc_url=fresh_anvil.url, private_key=Secret(fresh_anvil.private_keys[0]))
    settings = dataclasses.replace(settings, contract_address=deploy_registry(settings))
    proof, recorder = make_proof(settings, records=2)
    fresh_anvil.stop()
    with pytest.raises(ChainUnreachable, match=r"cannot ask http://127\.0\.0\.1:\d+ for its chain id"):
        online_checker(fresh_anvil.url)(proof, offline_report(proof, recorder))


def test_cli_tells_a_chain_it_cannot_reach_from_a_bad_proof(fresh_anvil: Anvil, make_proof: MakeProof,
                                                             tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                             ) -> None:
    """A script must tell its own network being down (exit 3) from a proof that fails (exit 1)."""
    settings = ChainSettings(rpc_url=fresh_anvil.url, private_key=Secret(fresh_anvil.private_keys[0]))
    settings = dataclasses.replace(settings, contract_address=deploy_registry(settings))
    proof, _ = make_proof(settings, records=2)
    path = tmp_path / "p.json"
    proof.save(path)
    assert main(["verify", "--proof", str(path), "--rpc", fresh_anvil.url]) == 0
    out = capsys.readouterr().out
    assert "development chain" in out and "prove no time" in out  # anvil answers, but its times prove nothing
    fresh_anvil.stop()
    assert main(["verify", "--proof", str(path), "--rpc", fresh_anvil.url]) == 3
    out = capsys.readouterr().out
    assert out.rstrip().splitlines()[-1].startswith("NOT CHECKED: chain: cannot ask http://127.0.0.1:")
    assert "VERIFIED" not in out and "FAILED" not in out
    assert main(["verify", "--proof", str(path), "--rpc", fresh_anvil.url, "--json"]) == 3
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and data["unchecked"] == ["chain"]
    check("verify.schema.json", data)  # docs/schemas/verify.schema.json says what a script reads
    assert main(["show", str(path), "--rpc", fresh_anvil.url]) == 3  # pot show reads the chain as verify does
    out = capsys.readouterr().out
    assert "NOT CHECKED: chain: cannot ask" in out and "not shown" in out and "VERIFIED" not in out
    assert main(["show", str(path), "--rpc", fresh_anvil.url, "--json"]) == 3
    assert json.loads(capsys.readouterr().out)["verification"]["unchecked"] == ["chain"]
    document = json.loads(path.read_text())  # a bad proof stays a bad proof when the chain is down too
    document["records"][0]["epoch"] = 99
    path.write_text(json.dumps(document))
    assert main(["verify", "--proof", str(path), "--rpc", fresh_anvil.url]) == 1


def test_proof_without_chain_receipts_notes_it(anvil: Anvil, tmp_path: Path) -> None:
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp_path / "store")),
                                  chain_anchors=[])
    try:
        recorder.record_training_checkpoint(model_hash="00" * 32, metrics={}, epoch=0, model_id="model")
        recorder.flush()
        proof = recorder.generate_proof_of_training("model")
        report = offline_report(proof, recorder)
        online_checker(anvil.url)(proof, report)
        assert any("nothing to check against the chain" in note for note in report.notes)
    finally:
        recorder.close()
