#!/usr/bin/env python3
"""Lineage graph queries on a 10,000-node graph in a SQLite file.

    python benchmarks/bench_lineage.py [--chain 2000] [--nodes 10000] [--repeat 5] [--seed 1] [--json]

Builds, in a temporary SQLite file through ``LineageGraph.add_node`` / ``add_edge`` (every edge cycle-checked):

- datasets whose popularity follows 1/rank, so a few feed most runs (fan-in);
- a chain of ``--chain`` fine-tunes: run i fine-tunes model i-1 on one or two datasets and produces model i
  (the deepest node is the last model, two edges per generation below the chain's base);
- a wide tree on a foundation model: many runs fine-tune it directly, some of their models are fine-tuned once
  more, and the remaining nodes are artifacts saved from random models.

Then times, for the deepest node and for the widest (the most direct children), ``ancestors``, ``descendants``,
``depth`` and ``to_dot`` (best of ``--repeat``), and two cycle checks that cannot take the fast path: an edge
refused because it would close the cycle twice the chain long, and an accepted edge whose check walks the whole chain.
Last, a chain of ``--chain`` models each also distilled from its grandparent (many path lengths per ancestor);
``--compare-sql`` adds the pure-SQL alternative that lists (node, depth) rows, for comparison.
Target: every query under 1 s.
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pot.errors import UsageError
from pot.lineage.graph import LineageGraph

CREATED = "2026-11-22T12:00:00.000000Z"


def build(graph: LineageGraph, nodes: int, chain: int, rng: random.Random) -> dict[str, Any]:
    datasets = [f"dataset-{k}" for k in range(max(10, nodes // 70))]
    weights = [1 / (k + 1) for k in range(len(datasets))]
    edges = 0

    def node(node_id: str, kind: str) -> None:
        graph.add_node(node_id, kind, label=f"{kind} {node_id}", created=CREATED)

    def edge(child: str, parent: str, relation: str) -> None:
        nonlocal edges
        graph.add_edge(child, parent, relation)
        edges += 1

    def run(run_id: str, base: str, model_id: str) -> None:
        node(run_id, "run")
        edge(run_id, base, "fine_tuned_from")
        for dataset in set(rng.choices(datasets, weights, k=rng.randint(1, 2))):
            edge(run_id, dataset, "trained_on")
        node(model_id, "model")
        edge(model_id, run_id, "produced_by")

    for dataset in datasets:
        node(dataset, "dataset")
    node("chain-base", "model")
    previous = "chain-base"
    for i in range(1, chain + 1):
        run(f"ft-run-{i}", previous, f"ft-model-{i}")
        previous = f"ft-model-{i}"
    node("foundation", "model")
    budget = nodes - len(datasets) - (2 * chain + 1) - 1
    direct = budget * 2 // 3 // 2
    second = budget // 6 // 2
    tree_models = []
    for i in range(direct):
        run(f"wide-run-{i}", "foundation", f"wide-model-{i}")
        tree_models.append(f"wide-model-{i}")
    for i in range(second):
        run(f"wide2-run-{i}", rng.choice(tree_models[:direct]), f"wide2-model-{i}")
        tree_models.append(f"wide2-model-{i}")
    for i in range(nodes - len(datasets) - (2 * chain + 1) - 1 - 2 * direct - 2 * second):
        node(f"artifact-{i}", "artifact")
        edge(f"artifact-{i}", rng.choice(tree_models), "saved_from")
    return {"datasets": len(datasets), "edges": edges, "deepest": previous}


def best_of(repeat: int, work: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best, result


def run_benchmark(nodes: int, chain: int, repeat: int, seed: int, compare_sql: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"nodes": nodes, "chain": chain, "repeat": repeat, "sqlite": sqlite3.sqlite_version}
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "lineage.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        graph = LineageGraph(conn)
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        shape = build(graph, nodes, chain, random.Random(seed))
        conn.execute("COMMIT")
        out["insert_seconds"] = time.perf_counter() - started
        out["edges"] = shape["edges"]
        out["insert_us_per_item"] = out["insert_seconds"] / (nodes + shape["edges"]) * 1e6
        counted = conn.execute("SELECT count(*) FROM lineage_nodes").fetchone()[0]
        assert counted == nodes, (counted, nodes)

        widest, fan_out = conn.execute(
            "SELECT parent, count(*) AS n FROM lineage_edges GROUP BY parent ORDER BY n DESC, parent LIMIT 1"
        ).fetchone()
        out["queries"] = {}
        middle = f"ft-model-{chain // 2}"
        for role, node_id in (("deepest", shape["deepest"]), ("widest", widest), ("chain middle", middle),
                              ("most used dataset", "dataset-0")):
            row: dict[str, Any] = {"node": node_id, "children": len(graph.children(node_id))}
            for name in ("ancestors", "descendants", "depth", "to_dot"):
                seconds, result = best_of(repeat, functools.partial(getattr(graph, name), node_id))
                row[f"{name}_ms"] = seconds * 1000
                row[name] = result if name == "depth" else len(result)
            out["queries"][role] = row
        out["widest_fan_out"] = fan_out

        # Cycle checks that cannot take the fast path (each inside a transaction that is rolled back).
        conn.execute("BEGIN IMMEDIATE")
        started = time.perf_counter()
        try:
            graph.add_edge("chain-base", shape["deepest"], "distilled_from")
        except UsageError as exc:
            out["refused_cycle"] = str(exc)
        out["refused_cycle_ms"] = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        graph.add_edge("foundation", shape["deepest"], "distilled_from")
        out["accepted_full_check_ms"] = (time.perf_counter() - started) * 1000
        conn.execute("ROLLBACK")
        conn.close()
    out["shortcuts"] = shortcut_chain(chain, repeat, compare_sql)
    return out


def shortcut_chain(length: int, repeat: int, compare_sql: bool) -> dict[str, Any]:
    """A chain where every model also distils from its grandparent: many path lengths to each ancestor.

    This is why distances are computed in Python over the CTE's node set: a CTE carrying (node, depth) rows
    produces one row per distinct path length, about length**2 / 2 here.
    """
    conn = sqlite3.connect(":memory:", isolation_level=None)
    graph = LineageGraph(conn)
    conn.execute("BEGIN")
    for i in range(length):
        graph.add_node(f"m{i}", "model", created=CREATED)
        if i:
            graph.add_edge(f"m{i}", f"m{i - 1}", "fine_tuned_from")
        if i > 1:
            graph.add_edge(f"m{i}", f"m{i - 2}", "distilled_from")
    conn.execute("COMMIT")
    tip = f"m{length - 1}"
    out: dict[str, Any] = {"length": length}
    for name in ("ancestors", "depth", "to_dot"):
        seconds, _ = best_of(repeat, functools.partial(getattr(graph, name), tip))
        out[f"{name}_ms"] = seconds * 1000
    if compare_sql:
        started = time.perf_counter()
        rows = conn.execute(
            "WITH RECURSIVE up(id, d) AS (SELECT ?, 0 UNION SELECT e.parent, up.d + 1 FROM lineage_edges e "
            "JOIN up ON e.child = up.id) SELECT count(*) FROM up", (tip,)).fetchone()[0]
        out["pure_sql_depth_rows"] = rows
        out["pure_sql_ms"] = (time.perf_counter() - started) * 1000
    conn.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--chain", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--compare-sql", action="store_true",
                        help="also time a pure-SQL (node, depth) CTE on the shortcut chain (seconds)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run_benchmark(args.nodes, args.chain, args.repeat, args.seed, args.compare_sql)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"lineage graph: {result['nodes']} nodes, {result['edges']} edges, SQLite {result['sqlite']}")
    print(f"insert with cycle checks: {result['insert_seconds']:.2f} s "
          f"({result['insert_us_per_item']:.0f} us per node or edge, one transaction)")
    print(f"{'node':<28} {'ancestors (count)':>19} {'descendants (count)':>21} {'depth (edges)':>18} {'to_dot':>10}")
    for role, row in result["queries"].items():
        label = f"{role} {row['node']}"
        print(f"{label:<28} {row['ancestors_ms']:>8.1f} ms ({row['ancestors']:>5}) "
              f"{row['descendants_ms']:>10.1f} ms ({row['descendants']:>5}) "
              f"{row['depth_ms']:>8.1f} ms ({row['depth']:>4}) {row['to_dot_ms']:>7.1f} ms")
    print(f"widest node has {result['widest_fan_out']} direct children")
    print(f"refused cycle check: {result['refused_cycle_ms']:.1f} ms ({result.get('refused_cycle', 'not refused!')})")
    print(f"accepted edge, full cycle check over the chain: {result['accepted_full_check_ms']:.1f} ms")
    cut = result["shortcuts"]
    print(f"chain of {cut['length']} with a grandparent shortcut per model, from its tip: "
          f"ancestors {cut['ancestors_ms']:.1f} ms, depth {cut['depth_ms']:.1f} ms, to_dot {cut['to_dot_ms']:.1f} ms")
    if "pure_sql_ms" in cut:
        print(f"  pure-SQL (node, depth) CTE for comparison: {cut['pure_sql_ms']:.0f} ms, "
              f"{cut['pure_sql_depth_rows']} rows")


if __name__ == "__main__":
    main()
