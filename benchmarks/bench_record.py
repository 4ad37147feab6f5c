#!/usr/bin/env python3
"""Recording throughput through the seed API against a bare SQLite loop, and whether it stays flat as the log grows.

    python benchmarks/bench_record.py [--records 100000] [--batch-size 10] [--rounds 3] [--json]

Two loops write the same records into fresh databases in a temporary directory, in alternating rounds so that
the machine's mood (these machines are shared and noisy) lands on both:

- **bare**: what the least a recorder could do costs. SQLite in WAL mode with ``synchronous=NORMAL`` (pot's
  settings), one table keyed by (model, seq), and per record: the same body pot stores (a checkpoint with a 64-hex
  model hash, an epoch and three metrics), serialised with ``json.dumps`` and written by one ``INSERT`` in autocommit
  mode, which is its own committed transaction. No checks, no hashes, no signatures.
- **pot**: ``ProvenanceRecorder.record_training_checkpoint`` with batching on (a head signed and anchored on the
  local chain in the background, as in training), every record durable when the call returns.

Reports records per second of each, their ratio per round and the median ratio; and, for pot's longest round, the
ratio of the last block of 1,000 records to the first (flat means close to 1; single blocks vary by a third on
these machines, so also the median of the last ten blocks against the first ten).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from pot import ProvenanceConfig, ProvenanceRecorder

BLOCK = 1000


def metrics(i: int) -> dict[str, float]:
    return {"loss": 1.0 / (i + 1), "accuracy": 0.5, "lr": 1e-3}


def bare(records: int, directory: Path) -> float:
    """Records per second of the bare loop."""
    conn = sqlite3.connect(directory / "bare.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE records (model_id TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL, "
                 "PRIMARY KEY (model_id, seq)) WITHOUT ROWID")
    started = time.perf_counter()
    for i in range(records):
        body = json.dumps({"type": "checkpoint", "model_id": "bench", "seq": i, "timestamp": "2026-11-30T12:00:00."
                           f"{i % 1000000:06d}Z", "salt": f"{i:032x}", "node_id": "main", "lamport": i + 1,
                           "model_hash": f"{i:064x}", "epoch": i, "metrics": metrics(i), "fingerprint_hash": None,
                           "validation_hash": None}, separators=(",", ":"))
        conn.execute("INSERT INTO records VALUES (?, ?, ?)", ("bench", i, body))
    rate = records / (time.perf_counter() - started)
    conn.close()
    return rate


def pot(records: int, batch_size: int, directory: Path) -> dict[str, float]:
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(directory / "store"),
                                                   batch_size=batch_size))
    blocks: list[float] = []
    started = time.perf_counter()
    block_start = started
    for i in range(records):
        recorder.record_training_checkpoint(model_hash=f"{i:064x}", metrics=metrics(i), epoch=i, model_id="bench")
        if (i + 1) % BLOCK == 0:
            now = time.perf_counter()
            blocks.append(now - block_start)
            block_start = now
    recorded = time.perf_counter() - started
    close_started = time.perf_counter()
    recorder.close()
    closed = time.perf_counter() - close_started
    return {
        "records_per_second": records / recorded,
        "first_block_ms": blocks[0] * 1000, "last_block_ms": blocks[-1] * 1000,
        "last_over_first": blocks[-1] / blocks[0],
        "last_ten_over_first_ten": statistics.median(blocks[-10:]) / statistics.median(blocks[:10]),
        "close_seconds": closed,
    }


def run(records: int, batch_size: int, rounds: int) -> dict[str, object]:
    results: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(rounds):
            directory = Path(tmp) / f"round{n}"
            directory.mkdir()
            bare_rate = bare(records, directory)
            measured = pot(records, batch_size, directory)
            results.append({"bare_per_second": bare_rate, **measured,
                            "ratio": measured["records_per_second"] / bare_rate})
    return {"records": records, "batch_size": batch_size, "rounds": results,
            "median_ratio": statistics.median(r["ratio"] for r in results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.records, args.batch_size, args.rounds)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"{args.records:,} records per loop, batch size {args.batch_size}")
    for n, r in enumerate(result["rounds"], 1):  # type: ignore[attr-defined]
        print(f"round {n}: bare {r['bare_per_second']:,.0f}/s, pot {r['records_per_second']:,.0f}/s "
              f"({1e6 / r['records_per_second']:.0f} us each): {r['ratio']:.2f} of bare; last/first 1,000 "
              f"{r['last_over_first']:.2f}, median of last ten/first ten {r['last_ten_over_first_ten']:.2f}; "
              f"close {r['close_seconds']:.3f} s")
    print(f"median ratio pot/bare: {result['median_ratio']:.2f}")


if __name__ == "__main__":
    main()
