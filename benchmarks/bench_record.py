#!/usr/bin/env python3
"""Recording throughput through the seed API, and whether it stays flat as the log grows.

    python benchmarks/bench_record.py [--records 100000] [--batch-size 10] [--json]

Records N training checkpoints (a 64-hex model hash and three metrics each) through
``ProvenanceRecorder.record_training_checkpoint`` with batching on, into a fresh store in a temporary directory,
timing every block of 1,000 records. Reports records per second over the whole run and the ratio of the last
block's time to the first's (flat means close to 1). Signing and local anchoring run in the recorder's background
worker during the run, as in training; the final close() is timed separately.

Flatness is reported two ways: the last block of 1,000 against the first (what the target names), and the median
of the last ten blocks against the median of the first ten, because single blocks vary by a third from one to the
next on these machines (the background signer, the WAL checkpoints and other programs all land in some blocks
and not in others).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from pot import ProvenanceConfig, ProvenanceRecorder

BLOCK = 1000


def run(records: int, batch_size: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(Path(tmp) / "store"),
                                                       batch_size=batch_size))
        blocks: list[float] = []
        started = time.perf_counter()
        block_start = started
        for i in range(records):
            recorder.record_training_checkpoint(
                model_hash=f"{i:064x}", metrics={"loss": 1.0 / (i + 1), "accuracy": 0.5, "lr": 1e-3}, epoch=i,
                model_id="bench")
            if (i + 1) % BLOCK == 0:
                now = time.perf_counter()
                blocks.append(now - block_start)
                block_start = now
        recorded = time.perf_counter() - started
        close_started = time.perf_counter()
        recorder.close()
        closed = time.perf_counter() - close_started
    first, last = blocks[0], blocks[-1]
    return {
        "records": records,
        "batch_size": batch_size,
        "seconds": recorded,
        "records_per_second": records / recorded,
        "first_block_ms": first * 1000,
        "last_block_ms": last * 1000,
        "median_block_ms": statistics.median(blocks) * 1000,
        "last_over_first": last / first,
        "first_ten_median_ms": statistics.median(blocks[:10]) * 1000,
        "last_ten_median_ms": statistics.median(blocks[-10:]) * 1000,
        "last_ten_over_first_ten": statistics.median(blocks[-10:]) / statistics.median(blocks[:10]),
        "block_min_ms": min(blocks) * 1000,
        "block_max_ms": max(blocks) * 1000,
        "close_seconds": closed,
        "per_record_us": recorded / records * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.records, args.batch_size)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"{result['records']:,} records, batch size {result['batch_size']}: {result['seconds']:.2f} s, "
          f"{result['records_per_second']:,.0f} records/s ({result['per_record_us']:.0f} us each)")
    print(f"first 1,000: {result['first_block_ms']:.1f} ms, last 1,000: {result['last_block_ms']:.1f} ms, "
          f"median 1,000: {result['median_block_ms']:.1f} ms; last/first = {result['last_over_first']:.2f}")
    print(f"median of the first ten blocks {result['first_ten_median_ms']:.1f} ms, of the last ten "
          f"{result['last_ten_median_ms']:.1f} ms: {result['last_ten_over_first_ten']:.2f}; blocks ranged "
          f"{result['block_min_ms']:.0f}..{result['block_max_ms']:.0f} ms")
    print(f"close (sign and anchor the last batch): {result['close_seconds']:.3f} s")


if __name__ == "__main__":
    main()
