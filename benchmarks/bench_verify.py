#!/usr/bin/env python3
"""Full offline verification of a large proof.

    python benchmarks/bench_verify.py [--records 100000] [--batch-size 10] [--json]

Records N checkpoints (and a validation every 100) through the recorder into a fresh store, writes the full
proof, then times what a verifier does with the file: load and parse it, and run every check of
``pot.verify_proof`` with a pinned key (every leaf, root, consistency proof and signature; each local-chain
receipt). Also reports the proof's size and how long the recorder took to build it.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from pot import ProvenanceConfig, ProvenanceProof, ProvenanceRecorder, verify_proof


def run(records: int, batch_size: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(Path(tmp) / "store"),
                                                       batch_size=batch_size, auto_verify=False))
        for i in range(records):
            recorder.record_training_checkpoint(model_hash=f"{i:064x}", metrics={"loss": 1.0 / (i + 1), "acc": 0.5},
                                                epoch=i, model_id="bench")
            if i % 100 == 99:
                recorder.record_validation(model_hash=f"{i:064x}", validator_id="holdout",
                                           validation_result={"accuracy": 0.9}, model_id="bench")
        started = time.perf_counter()
        proof = recorder.generate_proof_of_training("bench")
        built = time.perf_counter() - started
        path = Path(tmp) / "bench.proof.json"
        proof.save(path)
        key = recorder.public_key
        recorder.close()

        started = time.perf_counter()
        loaded = ProvenanceProof.load(path)
        parsed = time.perf_counter() - started
        started = time.perf_counter()
        report = verify_proof(loaded, trusted_key=key)
        checked = time.perf_counter() - started
        return {"records": len(loaded.disclosed), "tree_heads": len(loaded.tree_heads),
                "proof_bytes": path.stat().st_size, "build_seconds": built, "parse_seconds": parsed,
                "verify_seconds": checked, "total_verify_seconds": parsed + checked, "ok": report.ok}


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
    print(f"proof of {result['records']:,} records and {result['tree_heads']:,} signed heads, "
          f"{result['proof_bytes'] / 1e6:.1f} MB (built in {result['build_seconds']:.2f} s)")
    print(f"offline verification: parse {result['parse_seconds']:.2f} s + checks {result['verify_seconds']:.2f} s "
          f"= {result['total_verify_seconds']:.2f} s")


if __name__ == "__main__":
    main()
