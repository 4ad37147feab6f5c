"""``pot show`` on a proof anchored on a real chain (anvil): offline its chain receipts are the signer's word; with
``--rpc URL`` they are checked on the chain, and only then does the page say when the records existed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pot import ProvenanceConfig, ProvenanceRecorder
from pot.anchors.ethereum import EthereumAnchor
from pot.cli import main
from tests.conftest import DeployedRegistry
from tests.unit.test_json_schemas import check

pytestmark = pytest.mark.chain


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out


def test_show_dates_records_only_after_checking_the_chain(deployed_registry: DeployedRegistry, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp_path / "store"), batch_size=3),
                                  chain_anchors=[EthereumAnchor(deployed_registry.settings())])
    try:
        with recorder.start_run("chained", config={"lr": 0.1}, capture=False):
            for epoch in range(3):
                recorder.record_training_checkpoint(model_hash=f"{epoch:064x}", metrics={"loss": 1 / (epoch + 1)},
                                                    epoch=epoch, model_id="chained")
        recorder.flush()
        assert recorder.wait_for_anchors(30)
        proof = recorder.generate_proof_of_training("chained")
    finally:
        recorder.close()
    proof.save(tmp_path / "p.json")
    path, url = str(tmp_path / "p.json"), deployed_registry.anvil.url
    key = ("--trusted-key", proof.signer.hex)

    code, offline = run(capsys, "show", path, *key)
    assert code == 0 and offline.startswith(f"proof {path}: VERIFIED (9 checks passed, offline;")
    assert "(these transactions are the signer's word until `pot show --rpc URL` checks them)" in offline
    assert "NOT checked against a chain: the signer's word" in offline and "existed by" not in offline

    code, online = run(capsys, "show", path, *key, "--rpc", url)
    assert code == 0 and online.startswith(f"proof {path}: VERIFIED (10 checks passed, anchors checked on the chain;")
    _, verified = run(capsys, "verify", path, *key, "--rpc", url)
    said = verified[verified.index("  when the records existed"):verified.index("VERIFIED")].splitlines()
    anchors = next(p for p in online.split("\n\n") if p.startswith("anchors (")).splitlines()
    assert anchors[-len(said):] == said  # the verifier's own words for every head
    assert any("existed by" in line and "checked on the chain (chain 31337 block" in line for line in said)
    assert "NOT checked" not in online and "signer's word until" not in online
    for receipt in (r for r in proof.anchors if r.backend == "ethereum"):
        assert str(receipt.details["tx_hash"]) in online

    code, out = run(capsys, "--json", "show", path, *key, "--rpc", url)
    data = json.loads(out)
    assert code == 0 and {h["dated_by"] for h in data["verification"]["heads"]} == {"chain"}
    check("show.schema.json", data)
