"""The web UI of a team server: ``pot serve`` on PostgreSQL, one model's log recorded into that database by the
recorder on two nodes (a run on one, a validation from the other), shown by the run and model pages, and its proof
downloaded from the model page and dropped on the verify page."""

from __future__ import annotations

from pathlib import Path

import pytest

from pot import ProvenanceConfig, ProvenanceProof, ProvenanceRecorder, verify_proof
from pot.log.keys import SigningKey
from tests.support.ui_served import serve

from .conftest import Page

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_a_run_on_a_postgresql_server_is_shown_and_its_proof_verifies(postgres_url: str, tmp_path: Path,
                                                                        tab: Page) -> None:
    root = tmp_path / "store"

    def recorder(node: str) -> ProvenanceRecorder:
        return ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(root), database_url=postgres_url,
                                                   node_id=node))

    first, second = recorder("node-a"), recorder("node-b")
    with first.start_run("team-net", kind="train", run_id="run-pg", config={"lr": 0.01}, capture=False):
        for step in range(10):
            first.record_step(step, {"loss": 1.0 / (step + 1)}, "team-net")
        first.record_training_checkpoint(model_hash="ab" * 32, metrics={"loss": 0.1}, epoch=0, model_id="team-net")
    first.flush()
    second.record_validation(model_hash="ab" * 32, validator_id="holdout", validation_result={"accuracy": 0.9},
                             model_id="team-net")  # the other node, into the same log
    first.close()
    second.close()
    served = serve(["--store", str(root), "--database", postgres_url], tmp_path / "serve.log")
    try:
        page = tab.open(served.url + "/ui/run?id=run-pg")
        tab.shot("run")
        assert page.locator("figure.chart[data-metric=loss] g.series path").count() >= 1
        validations = page.locator("section:has(h2:text('Validations')) tbody tr")
        assert validations.count() == 1 and "holdout" in validations.inner_text()  # node-b's, of this run's weights

        page = tab.open(served.url + "/ui/model?id=team-net")
        assert {"node-a", "node-b"} == {r.split("\t")[4] for r in page.locator("#records tbody tr").all_inner_texts()}
        with page.expect_download() as info:
            page.click("#download-proof")
        saved = tmp_path / "team-net.proof.json"
        info.value.save_as(saved)
        key = SigningKey.load(root / "signing-key.pem").public
        assert verify_proof(ProvenanceProof.load(saved), trusted_key=key).ok

        page = tab.verify(served.url, key.hex, saved)
        assert "the proof verifies with the key you gave" in page.inner_text(".verdict")
        assert not tab.errors and not tab.dialogs
    finally:
        served.stop()
