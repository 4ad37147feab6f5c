"""The runs table with thousands of runs: every run is listed (the page reads /v1/runs in pages of 1,000), and
filtering, sorting and paging act on all of them. How fast it renders is benchmarks/bench_ui.py's business; this
test only checks that it works."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.ui_served import Served, record_runs, serve

from .conftest import Page

pytestmark = pytest.mark.slow

RUNS = 2_500  # more than two of the server's pages


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("many")
    record_runs(folder / "store", RUNS)
    served = serve(["--store", str(folder / "store")], folder / "serve.log")
    yield served
    served.stop()


def first_cells(page: Any) -> list[str]:
    return page.eval_on_selector_all("#runs tbody tr", "rows => rows.map(r => r.cells[0].innerText)")


def test_every_run_is_listed_filtered_sorted_and_paged(many: Served, tab: Page) -> None:
    page = tab.open(many.url + "/ui/")
    tab.shot("newest")
    assert page.inner_text("#runs-summary") == f"{RUNS:,} runs · showing 1\u2013100"
    assert first_cells(page)[0] == f"run-{RUNS - 1:05d}"  # newest first
    assert "page 1 of 25" in page.inner_text(".pager")

    page.click("text=Last »")
    assert first_cells(page)[-1] == "run-00000" and len(first_cells(page)) == 100
    page.click("button.sort[data-key=run_id]")  # oldest id first, back on page 1
    assert first_cells(page)[:3] == ["run-00000", "run-00001", "run-00002"]

    page.select_option("select[name=status]", "failed")
    assert page.inner_text("#runs-summary").startswith(f"{RUNS // 10:,} runs matching, of {RUNS:,}")
    page.select_option("select[name=status]", "")
    page.select_option("select[name=kind]", "eval")
    page.fill("input[name=q]", "model-007")  # runs 7, 107, 207 ...: every third of them is an eval
    shown = first_cells(page)
    assert shown == sorted(f"run-{n:05d}" for n in range(7, RUNS, 100) if n % 3 == 1)
    tab.shot("filtered")
    page.select_option("select[name=size]", "500")
    page.fill("input[name=q]", "")
    page.select_option("select[name=kind]", "")
    assert len(first_cells(page)) == 500
    assert not tab.errors and not tab.dialogs


def test_a_model_filter_in_the_url_asks_the_server_for_that_model_only(many: Served, tab: Page) -> None:
    requests: list[str] = []
    tab.page.on("request", lambda r: requests.append(r.url) if "/v1/runs" in r.url else None)
    page = tab.open(many.url + "/ui/?model=model-042")
    assert page.inner_text("#runs-summary").startswith(f"{RUNS // 100} runs")
    assert all("model=model-042" in url for url in requests) and requests
    assert "model-042" in page.inner_text("h1")
    assert not tab.errors



def test_a_lineage_too_large_to_draw_shows_the_focus_neighbourhood(many: Served, tab: Page) -> None:
    page = tab.open(many.url + "/ui/lineage?id=dataset-0")
    tab.shot("lineage")
    readers = range(0, RUNS, 5)
    nodes = 1 + len(readers) + len({n % 100 for n in readers})  # the dataset, its runs and the models they trained
    assert page.inner_text("main p >> nth=0").startswith(f"{nodes:,} nodes")
    drawn = page.locator("svg.lineage a.node").count()
    assert 1 < drawn <= 120
    assert f"Drawn: {drawn} of {nodes} nodes" in page.inner_text(".graph .note")
    assert page.locator("svg.lineage a.node.focus").get_attribute("data-node") == "dataset-0"
    assert page.locator("#lineage-nodes tbody tr").count() == nodes  # every node is in the table
    assert not tab.errors
