#!/usr/bin/env python3
"""Appends on PostgreSQL against SQLite, in the same run: the price of a shared, served store.

    python benchmarks/bench_store_backends.py [--records 2000] [--rounds 3] [--writers 2] [--json]

Starts a real PostgreSQL server (Debian's binaries, as the tests do; fsync on, PostgreSQL's default, so every
commit is flushed to disk) on 127.0.0.1, then, in alternating rounds so that the machine's mood lands on both:

- **sqlite**: ``record_training_checkpoint`` through a recorder on a fresh SQLite store (batching on: a head every
  10 records, signed and anchored on the local chain in the background), every record durable when the call
  returns (WAL, ``synchronous=NORMAL``: a commit reaches the operating system, not the disk).
- **postgresql**: the same on a fresh database of that server: each append is one transaction (advisory lock on
  the model, read the last seq, insert, commit) over a pooled TCP connection.
- **postgresql, N writers**: N processes appending to one model's log at once (the serialised case), total
  records per second.

Reports records per second of each, the PostgreSQL/SQLite ratio per round and its median. The two are not equally
durable: PostgreSQL's commit waits for the disk (fsync), SQLite's NORMAL mode does not.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pot import ProvenanceConfig, ProvenanceRecorder
from tests.support.postgres import PostgresServer


def record(records: int, store_dir: Path, database: str | None) -> float:
    """Records per second of one recorder appending ``records`` checkpoints to one model."""
    config = ProvenanceConfig(enabled=True, store_dir=str(store_dir), database_url=database, batch_size=10)
    with ProvenanceRecorder(config) as recorder:
        recorder.record_training_checkpoint(model_hash="0" * 64, metrics={}, epoch=0, model_id="warm")
        started = time.perf_counter()
        for i in range(records):
            recorder.record_training_checkpoint(model_hash=f"{i:064x}", metrics={"loss": 1.0 / (i + 1)}, epoch=i,
                                                model_id="bench")
        rate = records / (time.perf_counter() - started)
    return rate


def writers(count: int, records: int, store_dir: Path, database: str) -> float:
    """Total records per second of ``count`` processes appending to one model's log at once."""
    with ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store_dir), database_url=database)):
        pass  # the schema and key first, so the processes time appends only
    environ = {k: v for k, v in os.environ.items() if not k.startswith("POT_")}
    started = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "tests.support.store_worker", database, str(store_dir),
                               "bench", str(records)], cwd=ROOT, stdout=subprocess.DEVNULL, env=environ)
             for _ in range(count)]
    for proc in procs:
        if proc.wait() != 0:
            raise SystemExit("a writer failed")
    return count * records / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, list[float]] = {"sqlite": [], "postgresql": [], "ratio": [], "postgresql_writers": []}
    with PostgresServer(fsync=True) as server, tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            base = Path(tmp) / f"round-{round_}"
            lite = record(args.records, base / "sqlite", None)
            pg = record(args.records, base / "pg", server.create_database())
            shared = writers(args.writers, args.records // args.writers, base / "pgw", server.create_database())
            results["sqlite"].append(lite)
            results["postgresql"].append(pg)
            results["ratio"].append(pg / lite)
            results["postgresql_writers"].append(shared)
            if not args.json:
                print(f"round {round_ + 1}: sqlite {lite:,.0f}/s  postgresql {pg:,.0f}/s  ratio {pg / lite:.3f}  "
                      f"postgresql, {args.writers} writers on one log: {shared:,.0f}/s in total", flush=True)
    summary = {"records": args.records, "rounds": args.rounds, "writers": args.writers, **results,
               "median_ratio": statistics.median(results["ratio"])}
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(f"median PostgreSQL/SQLite ratio: {summary['median_ratio']:.3f}")


if __name__ == "__main__":
    main()
