#!/usr/bin/env python3
"""How fast the web UI's runs page fills with 10,000 runs, in a real browser, next to the same page with 100.

    python benchmarks/bench_ui.py [--runs 10000] [--rounds 5] [--json]

Records two stores with the recorder (``--runs`` runs, and 100) and starts a real ``pot serve`` (uvicorn) on each,
then opens the runs page in Debian's chromium (headless, driven by Playwright; ``POT_CHROMIUM`` to point
elsewhere) ``--rounds`` times per store, alternating. The time is the page's own ``pot:ready`` performance mark,
set when the table is filled: from navigation start, through loading the HTML, CSS and modules, reading every run
from ``/v1/runs`` (pages of 1,000) and drawing the first page of rows. The page draws the newest runs as soon as the
first page of them arrives (the ``pot:first-rows`` mark, reported too) and redraws as older ones come in. Also
timed, in the page, on the large store: filtering by text, by status, and sorting by a column (each until the
redrawn table is laid out). The target is under 1 s for 10,000 runs; the ratio to 100 runs shows what the number of
runs costs, and reading the same pages of ``/v1/runs`` without a browser shows how much of it is the server's.
Server, browser and this script share the machine's cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import httpx
from playwright.sync_api import sync_playwright

from tests.support.ui_served import record_runs, serve

CHROMIUM = os.environ.get("POT_CHROMIUM", "/usr/bin/chromium")

# Run inside the page: one interaction's time until the redrawn table has been laid out.
_TIMED = """([selector, action, value]) => {
  const el = document.querySelector(selector);
  const started = performance.now();
  if (action === "click") el.click();
  else { el.value = value; el.dispatchEvent(new Event(action)); }
  void document.getElementById("runs").offsetHeight;
  return performance.now() - started;
}"""


def load_ms(page: Any, url: str) -> tuple[float, float, str]:
    """(ms to the newest runs on screen, ms to every run loaded and the table filled, what the page says)."""
    page.goto(url)
    page.wait_for_selector("main[data-ready=true]", timeout=60_000)
    first, ready = page.evaluate("() => ['pot:first-rows', 'pot:ready'].map("
                                 "name => performance.getEntriesByName(name)[0].startTime)")
    return float(first), float(ready), page.inner_text("#runs-summary")


def run(runs: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        stores = {"large": (Path(tmp) / "large", runs), "small": (Path(tmp) / "small", 100)}
        started = time.perf_counter()
        for root, count in stores.values():
            record_runs(root, count)
        built = time.perf_counter() - started
        servers = {name: serve(["--store", str(root)], Path(tmp) / f"{name}.log") for name, (root, _) in stores.items()}
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                times: dict[str, list[float]] = {"large": [], "small": [], "large_first": []}
                summaries = {}
                load_ms(page, servers["small"].url + "/ui/")  # warm up: the first launch compiles the modules
                for _ in range(rounds):
                    for name, server in servers.items():
                        first, ms, summaries[name] = load_ms(page, server.url + "/ui/")
                        times[name].append(ms)
                        if name == "large":
                            times["large_first"].append(first)
                page.goto(servers["large"].url + "/ui/")
                page.wait_for_selector("main[data-ready=true]", timeout=60_000)
                interactions = {
                    "filter_text_ms": ("input[name=q]", "input", "model-007"),
                    "clear_filter_ms": ("input[name=q]", "input", ""),
                    "filter_status_ms": ("select[name=status]", "change", "failed"),
                    "all_statuses_ms": ("select[name=status]", "change", ""),
                    "sort_by_model_ms": ("button.sort[data-key=model_id]", "click", None),
                }
                measured = {name: page.evaluate(_TIMED, list(args)) for name, args in interactions.items()}
                browser.close()
            api = []  # the same pages read without a browser: what the server's answers cost alone
            for _ in range(rounds):
                started = time.perf_counter()
                for offset in range(0, runs + 1, 1000):
                    httpx.get(servers["large"].url + "/v1/runs", params={"limit": 1000, "offset": offset}, timeout=60)
                api.append((time.perf_counter() - started) * 1000)
        finally:
            for server in servers.values():
                server.stop()
    large, small = statistics.median(times["large"]), statistics.median(times["small"])
    return {"runs": runs, "rounds": rounds, "build_seconds": round(built, 1),
            "large_first_rows_ms": round(statistics.median(times["large_first"]), 1), "large_ms": round(large, 1),
            "small_ms": round(small, 1), "ratio": round(large / small, 2),
            "large_all_ms": [round(t, 1) for t in times["large"]], "large_summary": summaries["large"],
            "api_sequential_ms": round(statistics.median(api), 1),
            **{name: round(value, 1) for name, value in measured.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.runs, args.rounds)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"runs page, every run loaded and the table filled: {result['large_ms']:.0f} ms with {result['runs']:,} "
          f"runs ({result['large_summary']!r}), {result['small_ms']:.0f} ms with 100: x{result['ratio']} "
          f"(median of {result['rounds']}; target < 1000 ms); the newest runs on screen after "
          f"{result['large_first_rows_ms']:.0f} ms; the same {result['runs'] // 1000 + 1} pages of /v1/runs read one "
          f"after another without a browser: {result['api_sequential_ms']:.0f} ms")
    print(f"in the page with {result['runs']:,} runs: filter by text {result['filter_text_ms']:.0f} ms, "
          f"clear it {result['clear_filter_ms']:.0f} ms, by status {result['filter_status_ms']:.0f} ms, "
          f"sort by model {result['sort_by_model_ms']:.0f} ms (stores recorded in {result['build_seconds']:.0f} s)")


if __name__ == "__main__":
    main()
