"""The web UI in a real browser: the pages a person opens, what they show, and that nothing recorded (a model id or
metric name that looks like markup) is ever run as markup. One store, filled by the real recorder with runs,
steps, checkpoints, validations, promotions, an artifact, a fine-tune lineage and hostile names, anchored on a real
anvil that reports Polygon's chain id (so the UI links the transaction to a known explorer); one ``pot serve``
over it for the module.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pot import ProvenanceConfig, ProvenanceProof, ProvenanceRecorder, verify_proof
from pot.anchors.ethereum import EthereumAnchor, deploy_registry
from pot.cli import main
from pot.config import ChainSettings, Secret
from pot.lineage.events import parent_dataset, parent_model
from pot.lineage.registry import load_run_config
from pot.log.keys import SigningKey
from pot.server.ui import CONTENT_SECURITY_POLICY
from tests.support.anvil import Anvil
from tests.support.ui_served import Served, serve

from .conftest import Page

pytestmark = [pytest.mark.chain, pytest.mark.slow]

HOSTILE_MODEL = '<img src=x onerror="alert(1)">'
HOSTILE_RUN = '"><svg onload=alert(2)>'
HOSTILE_METRIC = "<script>alert(3)</script>"


def digest(n: int) -> str:
    return f"{n:064x}"


def build_store(root: Path, chain: ChainSettings, artifact: Path) -> dict[str, Any]:
    """The store the pages show, recorded as a training job would."""
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(root), batch_size=5),
                                  chain_anchors=[EthereumAnchor(chain, receipt_timeout=10.0, request_timeout=2.0)])
    with recorder.start_run("resnet-a", kind="train", run_id="run-train",
                            config={"lr": 0.1, "optimizer": {"name": "sgd", "momentum": 0.9}},
                            parents=[parent_dataset("cifar10", digest="ab" * 32)]) as run:
        for step in range(40):
            recorder.record_step(step, {"loss": 2.0 / (step + 1), "acc": math.nan if step == 7 else step / 40},
                                 "resnet-a", epoch=step // 20)
            if step % 20 == 19:
                recorder.record_training_checkpoint(model_hash=digest(step // 20), epoch=step // 20, step=step,
                                                    metrics={"loss": 2.0 / (step + 1)}, model_id="resnet-a")
        run.log_metric("test_accuracy", 0.91, step=39)
        run.log_artifact(artifact)
    recorder.record_validation(model_hash=digest(1), validator_id="holdout", validation_result={"accuracy": 0.93},
                               model_id="resnet-a")
    assert recorder.promote("resnet-a", "production", {"thresholds": {"accuracy": {">=": 0.9}}})[0]
    assert not recorder.promote("resnet-a", "gold", {"thresholds": {"accuracy": {">=": 0.99}}})[0]
    recorder.flush()
    parent = recorder.generate_proof_of_training("resnet-a")
    with recorder.start_run("resnet-b", kind="finetune", run_id="run-finetune", parents=[parent_model(parent)]):
        recorder.record_training_checkpoint(model_hash=digest(7), metrics={"loss": 0.1}, epoch=0, model_id="resnet-b")
    with pytest.raises(RuntimeError), recorder.start_run("resnet-a", kind="train", run_id="run-failed"):
        raise RuntimeError("out of memory")
    with recorder.start_run(HOSTILE_MODEL, kind="train", run_id=HOSTILE_RUN, config={HOSTILE_METRIC: "<b>x</b>"}):
        for step in range(3):
            recorder.record_step(step, {HOSTILE_METRIC: float(step)}, HOSTILE_MODEL)
    assert recorder.wait_for_anchors(60)
    recorder.close()
    return {"public_key": SigningKey.load(root / "signing-key.pem").public, "store": root}


@pytest.fixture(scope="module")
def site(anvil_polygon: Anvil, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("ui")
    artifact = folder / "weights.bin"
    artifact.write_bytes(b"\x00weights" * 100)
    deployer = ChainSettings(rpc_url=anvil_polygon.url, private_key=Secret(anvil_polygon.private_keys[9]))
    address = deploy_registry(deployer)
    chain = ChainSettings(rpc_url=anvil_polygon.url, private_key=Secret(anvil_polygon.private_keys[4]),
                          contract_address=address, chain_id=137)
    facts = build_store(folder / "store", chain, artifact)
    served = serve(["--store", str(folder / "store")], folder / "serve.log")
    yield served, facts
    served.stop()


def rows(page: Any, selector: str) -> list[list[str]]:
    return page.eval_on_selector_all(f"{selector} tbody tr",
                                     "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))")


def test_runs_table_lists_filters_and_sorts(site: tuple[Served, dict[str, Any]], tab: Page) -> None:
    served, _ = site
    page = tab.open(served.url + "/")
    assert page.url == served.url + "/ui/"
    tab.shot("all")
    listed = rows(page, "#runs")
    assert {r[0] for r in listed} == {"run-train", "run-finetune", "run-failed", HOSTILE_RUN}
    assert page.inner_text("#runs-summary").startswith("4 runs")

    page.select_option("select[name=status]", "failed")
    assert [r[0] for r in rows(page, "#runs")] == ["run-failed"]
    assert "status=failed" in page.url  # the view is in the URL, so it can be shared
    page.select_option("select[name=status]", "")
    page.fill("input[name=q]", "resnet-")
    assert sorted(r[0] for r in rows(page, "#runs")) == ["run-failed", "run-finetune", "run-train"]
    page.fill("input[name=q]", "")
    page.click("button.sort[data-key=run_id]")
    assert [r[0] for r in rows(page, "#runs")] == sorted(r[0] for r in listed)
    page.click("button.sort[data-key=run_id]")
    assert [r[0] for r in rows(page, "#runs")] == sorted((r[0] for r in listed), reverse=True)
    tab.shot("sorted")
    page.click("text=run-finetune")
    page.wait_for_selector("main[data-ready]")
    assert page.url.endswith("/ui/run?id=run-finetune")
    assert not tab.errors and not tab.dialogs


def test_run_page_shows_config_metrics_artifacts_and_decisions(site: tuple[Served, dict[str, Any]], tab: Page,
                                                              tmp_path: Path) -> None:
    served, _ = site
    page = tab.open(served.url + "/ui/run?id=run-train")
    tab.shot("run")
    text = page.inner_text("main")
    assert "Run run-train" in text and "completed" in text
    assert "optimizer.momentum" in text and "0.9" in text  # the config, flattened
    assert "cifar10" in text and "trained_on" in text  # its parent
    page.click("summary:text('Everything recorded')")  # the environment the recorder captured, folded
    assert "python" in page.inner_text("section:has(h2:text('Environment'))").lower()
    # Metrics over steps: loss from the steps records (and checkpoints, on the same step axis), acc with one NaN
    loss = page.locator("figure.chart[data-metric=loss]").first
    assert loss.locator("svg path").count() >= 1
    assert "39 values" in page.locator("figure.chart[data-metric=acc]").inner_text()
    assert "1 NaN or infinite not plotted" in page.locator("figure.chart[data-metric=acc]").inner_text()
    assert page.locator("figure.chart[data-metric=test_accuracy]").count() == 1
    path = loss.locator("g.series path").first.get_attribute("d")
    assert path is not None and path.startswith("M") and path.count("L") >= 30
    # the artifact, the validation of its weights and both promotion decisions taken on them
    assert "weights.bin" in text and "800 B" in text
    assert "holdout" in text and "accuracy = 0.93" in text
    decisions = page.locator("section:has(h2:text('Promotion decisions')) tbody tr")
    assert decisions.count() == 2
    assert "ModelPromoted" in decisions.nth(0).inner_text() and "passed" in decisions.nth(0).inner_text()
    assert "PromotionRefused" in decisions.nth(1).inner_text() and "refused" in decisions.nth(1).inner_text()

    with page.expect_download() as info:
        page.click("#export-config")
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    assert saved.name == "run-train.run-config.json"
    exported = load_run_config(saved)  # what `pot runs reproduce` reads: its config_hash checks out
    assert exported["config"] == {"lr": 0.1, "optimizer": {"name": "sgd", "momentum": 0.9}}
    assert exported["parents"][0]["id"] == "cifar10"
    assert not tab.errors and not tab.dialogs


def test_lineage_graph_is_drawn_with_every_node_and_edge(site: tuple[Served, dict[str, Any]], tab: Page) -> None:
    import httpx

    served, _ = site
    graph = httpx.get(served.url + "/v1/lineage/resnet-b", timeout=10).json()
    page = tab.open(served.url + "/ui/lineage?id=resnet-b")
    tab.shot("resnet-b")
    drawn = {page.locator("svg.lineage a.node").nth(i).get_attribute("data-node")
             for i in range(page.locator("svg.lineage a.node").count())}
    assert drawn == {n["node_id"] for n in graph["nodes"]} >= {"resnet-b", "run-finetune", "resnet-a", "run-train",
                                                                "cifar10"}
    edges = page.locator("svg.lineage g.edge")
    assert {(edges.nth(i).get_attribute("data-child"), edges.nth(i).get_attribute("data-parent"))
            for i in range(edges.count())} == {(e["child"], e["parent"]) for e in graph["edges"]}
    assert "fine_tuned_from" in (page.text_content("svg.lineage") or "")
    # parents above: the model a fine-tune started from is drawn higher than the fine-tune run
    def top(node: str) -> float:
        box = page.locator(f"svg.lineage a.node[data-node='{node}'] rect").bounding_box()
        assert box is not None
        return float(box["y"])

    assert top("resnet-a") < top("run-finetune") < top("resnet-b")
    page.click("svg.lineage a.node[data-node='run-train']")
    page.wait_for_selector("main[data-ready=true]")
    assert page.url.endswith("/ui/lineage?id=run-train")
    page.click("text=Open the run's page")
    page.wait_for_selector("main[data-ready=true]")
    assert page.url.endswith("/ui/run?id=run-train")
    assert not tab.errors and not tab.dialogs


def test_model_page_links_anchors_and_downloads_a_proof_that_verifies(
        site: tuple[Served, dict[str, Any]], tab: Page, tmp_path: Path) -> None:
    served, facts = site
    page = tab.open(served.url + "/ui/model?id=resnet-a")
    tab.shot("model")
    records = rows(page, "#records")
    assert records[0][1] == "RunStarted" and records[0][3] == "run-train"
    assert len(page.locator("#heads tbody tr").all()) >= 1
    # Anchors on a chain whose id the UI knows (137, Polygon) link to its explorer; the local chain is named
    links = page.locator("#anchors a.tx")
    assert links.count() >= 1
    href = links.first.get_attribute("href")
    assert href is not None and href.startswith("https://polygonscan.com/tx/0x") and len(href) == 66 + 27
    assert "local chain entry" in page.inner_text("#anchors")

    with page.expect_download() as info:
        page.click("#download-proof")
    download = info.value
    assert download.suggested_filename == "resnet-a.proof.json"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    proof = ProvenanceProof.load(saved)
    assert verify_proof(proof, trusted_key=facts["public_key"]).ok
    assert proof.model_id == "resnet-a"
    page.wait_for_selector("text=Saved resnet-a.proof.json")
    assert not tab.errors and not tab.dialogs


def test_verify_page_shows_every_check_of_a_dropped_proof(
        site: tuple[Served, dict[str, Any]], tab: Page, tmp_path: Path) -> None:
    served, facts = site
    import httpx

    good = tmp_path / "good.proof.json"
    good.write_bytes(httpx.get(served.url + "/v1/models/resnet-b/proof", timeout=30).content)
    expected = verify_proof(ProvenanceProof.load(good), trusted_key=facts["public_key"])

    page = tab.open(served.url + "/ui/verify")
    page.fill("#trusted-key", facts["public_key"].hex)
    drop(page, good)
    page.wait_for_selector("#result[data-done]")
    tab.shot("good")
    assert "the proof verifies with the key you gave" in page.inner_text(".verdict")
    shown = rows(page, "#checks")
    assert [(r[1], r[0]) for r in shown] == [(c.name, "✓") for c in expected.checks]

    tampered = json.loads(good.read_text())
    checkpoint = next(r for r in tampered["records"] if r["type"] == "checkpoint")
    checkpoint["metrics"]["loss"] = 0.01  # a better result than was recorded
    bad = tmp_path / "tampered.proof.json"
    bad.write_text(json.dumps(tampered))
    page.set_input_files("#proof-file", str(bad))  # chosen rather than dropped: the other way in
    page.wait_for_selector("#result[data-done]")
    tab.shot("tampered")
    assert "does not verify" in page.inner_text(".verdict")
    assert any(r[0] == "✗" for r in rows(page, "#checks"))

    not_json = tmp_path / "notes.txt"
    not_json.write_text("not a proof")
    drop(page, not_json)
    page.wait_for_selector("#result[data-done]")
    assert "does not verify" in page.inner_text(".verdict") and "format" in page.inner_text("#checks")
    assert not tab.dialogs


def drop(page: Any, path: Path) -> None:
    """Drop a file on the drop zone as a person would: a drop event carrying it in its DataTransfer."""
    page.evaluate("() => document.getElementById('result').removeAttribute('data-done')")
    transfer = page.evaluate_handle(
        "([name, text]) => { const t = new DataTransfer(); t.items.add(new File([text], name)); return t; }",
        [path.name, path.read_text()])
    page.dispatch_event(".dropzone", "drop", {"dataTransfer": transfer})


def test_recorded_names_are_text_never_markup(site: tuple[Served, dict[str, Any]], tab: Page) -> None:
    import httpx

    served, _ = site
    page = tab.open(served.url + "/ui/")
    assert HOSTILE_RUN in page.inner_text("#runs") and HOSTILE_MODEL in page.inner_text("#runs")
    page.click(f"#runs a:text-is('{HOSTILE_RUN}')")
    page.wait_for_selector("main[data-ready=true]")
    tab.shot("run")
    text = page.inner_text("main")
    assert HOSTILE_MODEL in text and HOSTILE_METRIC in text and "<b>x</b>" in text
    assert page.locator(f"figure.chart[data-metric='{HOSTILE_METRIC}'] svg path").count() >= 1
    page.click(f"a:text-is('{HOSTILE_MODEL}')")
    page.wait_for_selector("main[data-ready=true]")
    tab.shot("model")
    assert HOSTILE_MODEL in page.inner_text("h1")
    # nothing recorded became an element, and no handler ran
    assert page.evaluate("() => document.querySelectorAll('main img, main script, main b, svg svg').length") == 0
    assert not tab.dialogs and not tab.errors

    for path in ("/ui/", "/ui/run", "/ui/model", "/ui/models", "/ui/lineage", "/ui/verify", "/ui/static/runs.js"):
        answer = httpx.get(served.url + path, timeout=10)
        assert answer.status_code == 200
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert answer.headers["x-content-type-options"] == "nosniff"
    for path in ("/ui/nothing", "/ui/static/../__init__.py", "/ui/static/nothing.js"):
        assert httpx.get(served.url + path, timeout=10).status_code == 404

    # The policy holds in the browser: a script element that got into the page anyway does not run.
    page.evaluate("() => { const s = document.createElement('script'); s.textContent = 'window.ran = 1';"
                  " document.body.append(s); }")
    assert page.evaluate("() => window.ran") is None
    assert any("Content Security Policy" in e for e in tab.errors)


def test_a_private_server_asks_for_a_token_and_uses_it(site: tuple[Served, dict[str, Any]], tab: Page,
                                                        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, facts = site
    cli = ["--store", str(facts["store"])]
    capsys.readouterr()
    assert main([*cli, "token", "create", "--scope", "resnet-"]) == 0
    token = capsys.readouterr().out.strip()
    private = serve(cli, tmp_path / "private.log", "--private")
    try:
        page = tab.open(private.url + "/ui/")
        assert "private" in page.inner_text(".error")
        tab.shot("asked")
        page.fill("input[name=token]", token)
        page.click("text=Use token")
        page.wait_for_selector("main[data-ready=true]")
        # the token's scope (resnet-) shows its models' runs only
        assert sorted(r[0] for r in rows(page, "#runs")) == ["run-failed", "run-finetune", "run-train"]
        page.goto(private.url + "/ui/model?id=resnet-b")
        page.wait_for_selector("main[data-ready=true]")
        with page.expect_download() as info:
            page.click("#download-proof")
        saved = tmp_path / "private.proof.json"
        info.value.save_as(saved)
        assert verify_proof(ProvenanceProof.load(saved), trusted_key=facts["public_key"]).ok
        assert token not in page.url and token not in page.content()
        tab.errors = [e for e in tab.errors if "401" not in e]  # the first, refused, request
        assert not tab.errors and not tab.dialogs
    finally:
        private.stop()
