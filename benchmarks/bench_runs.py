#!/usr/bin/env python3
"""The run registry and lineage at scale: `pot runs list` over 10,000 runs, `pot lineage` over a 10,000+ node graph.

    python benchmarks/bench_runs.py [--runs 10000] [--json]

Builds a store through the recorder: N runs, each training its own model on one of 50 datasets, and every run
after the first 100 fine-tuning the model of an earlier run (so lineage chains run deep: 2N+50 nodes). Runs are
started with ``capture=False`` (the environment capture reads every installed package's metadata, about 10 ms,
which would only slow the setup). Then times, each the median of 5:

- the library queries: ``list_runs`` (20 newest; filtered by kind and status), ``get_run``, lineage ancestors,
  descendants and depth of the deepest model, and of the most used dataset;
- the commands a user types, as subprocesses (so Python's start-up and pot's imports are included):
  ``pot runs list``, ``pot runs list --kind finetune --status completed``, ``pot lineage <deepest model>``,
  ``pot runs stats``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pot import ProvenanceConfig, ProvenanceRecorder
from pot.lineage.events import parent_dataset, parent_model
from pot.lineage.registry import get_run, lineage, list_runs


def median_time(action, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def build(store: Path, runs: int) -> tuple[str, str, float]:
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store), batch_size=1000,
                                                   salt_records=False))
    started = time.perf_counter()
    proofs: list[object] = []
    deepest = ""
    for n in range(runs):
        model_id = f"model-{n:05d}"
        parents = [parent_dataset(f"dataset-{n % 50:02d}", digest=f"{n % 50:064x}")]
        if n >= 100:
            parents.append(parent_model(proofs[(n - 1) % len(proofs)]))  # fine-tuned from an earlier model
        kind = "finetune" if n >= 100 else "train"
        with recorder.start_run(model_id, kind=kind, config={"lr": 0.01, "n": n}, parents=parents, capture=False):
            recorder.record_training_checkpoint(model_hash=f"{n:064x}", metrics={"loss": 0.1}, epoch=0,
                                                model_id=model_id)
        if n < 100 or n % 2 == 0:  # a pool of parent proofs (generating one per run would dominate the setup)
            recorder.config.auto_verify = False
            proofs.append(recorder.generate_proof_of_training(model_id))
        deepest = model_id
    recorder.close()
    return deepest, "dataset-00", time.perf_counter() - started


def run(runs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        deepest, dataset, built = build(store, runs)
        recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store)))
        s = recorder.store
        graph = lineage(s, deepest)
        nodes = s.read("SELECT COUNT(*) FROM lineage_nodes")[0][0]
        edges = s.read("SELECT COUNT(*) FROM lineage_edges")[0][0]
        newest = list_runs(s, limit=1)[0]["run_id"]
        result = {
            "runs": runs, "lineage_nodes": nodes, "lineage_edges": edges, "build_seconds": built,
            "deepest_depth": graph.depth(deepest), "deepest_ancestors": len(graph.ancestors(deepest)),
            "dataset_descendants": len(graph.descendants(dataset)),
            "list_runs_ms": median_time(lambda: list_runs(s, limit=20)) * 1000,
            "list_runs_filtered_ms": median_time(lambda: list_runs(s, kind="finetune", status="completed")) * 1000,
            "get_run_ms": median_time(lambda: get_run(s, newest)) * 1000,
            "ancestors_ms": median_time(lambda: graph.ancestors(deepest)) * 1000,
            "depth_ms": median_time(lambda: graph.depth(deepest)) * 1000,
            "descendants_of_dataset_ms": median_time(lambda: graph.descendants(dataset)) * 1000,
        }
        recorder.close()
        pot = [sys.executable, "-m", "pot.cli", "--store", str(store)]
        for name, argv in (("cli_runs_list_s", ["runs", "list"]),
                           ("cli_runs_list_filtered_s", ["runs", "list", "--kind", "finetune", "--status",
                                                         "completed"]),
                           ("cli_lineage_s", ["lineage", deepest]),
                           ("cli_runs_stats_s", ["runs", "stats"])):
            result[name] = median_time(lambda argv=argv: subprocess.run([*pot, *argv], check=True,
                                                                         capture_output=True))
        result["cli_python_startup_s"] = median_time(lambda: subprocess.run([sys.executable, "-c", "import pot.cli"],
                                                                            check=True))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.runs)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"{result['runs']:,} runs, lineage graph of {result['lineage_nodes']:,} nodes and "
          f"{result['lineage_edges']:,} edges (built in {result['build_seconds']:.0f} s)")
    print(f"library: list_runs {result['list_runs_ms']:.2f} ms (filtered {result['list_runs_filtered_ms']:.2f} ms), "
          f"get_run {result['get_run_ms']:.2f} ms")
    print(f"         deepest model: depth {result['deepest_depth']}, {result['deepest_ancestors']:,} ancestors in "
          f"{result['ancestors_ms']:.1f} ms, depth in {result['depth_ms']:.1f} ms; "
          f"{result['dataset_descendants']:,} descendants of a dataset in {result['descendants_of_dataset_ms']:.1f} ms")
    print(f"commands: pot runs list {result['cli_runs_list_s']:.2f} s, "
          f"filtered {result['cli_runs_list_filtered_s']:.2f} s, pot lineage {result['cli_lineage_s']:.2f} s, "
          f"pot runs stats {result['cli_runs_stats_s']:.2f} s "
          f"(of which starting Python and importing pot: {result['cli_python_startup_s']:.2f} s)")


if __name__ == "__main__":
    main()
