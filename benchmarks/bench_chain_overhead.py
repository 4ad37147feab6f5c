#!/usr/bin/env python3
"""What chain anchoring costs the training loop, next to anchoring on the local chain only.

    python benchmarks/bench_chain_overhead.py [--epochs 40] [--rounds 7] [--json]

Starts a real anvil (the pinned npm binary, as the tests do), deploys the registry, then runs the example's own
``train()`` (examples/training_with_provenance.py) with its full recording, interleaved round by round: once with
local anchoring only and once with chain anchoring on as well (batch size 5, so a head, and a transaction, every
few records). The loop is timed up to its last record: chain anchors run in the recorder's background worker and
the loop never waits for a receipt. The time ``close()`` then spends waiting for the last receipts is reported
apart, with the number of transactions sent. Note that anvil runs on the same two cores here; a real node does not.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT))
from training_with_provenance import load_data, train

from pot import ProvenanceConfig, ProvenanceRecorder
from pot.anchors.ethereum import EthereumAnchor, deploy_registry
from pot.config import ChainSettings, Secret
from tests.support.anvil import Anvil


def run(epochs: int, rounds: int) -> dict[str, float]:
    torch.set_num_threads(1)
    data = load_data(0)
    times: dict[str, list[float]] = {"local": [], "chain": []}
    waits: list[float] = []
    transactions = 0
    with Anvil() as node, tempfile.TemporaryDirectory() as tmp:
        address = deploy_registry(ChainSettings(rpc_url=node.url, private_key=Secret(node.private_keys[9])))
        settings = ChainSettings(rpc_url=node.url, private_key=Secret(node.private_keys[0]), contract_address=address)
        for round_ in range(rounds + 1):  # round 0 warms up and is not counted
            for mode in ("local", "chain"):
                anchors = [EthereumAnchor(settings)] if mode == "chain" else []
                recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, batch_size=5, anchor_timeout=120,
                                                               store_dir=str(Path(tmp) / f"{mode}-{round_}")),
                                              chain_anchors=anchors)
                started = time.perf_counter()
                train(data, epochs=epochs, batch_size=64, lr=1e-3, seed=0, recorder=recorder, model_id="m",
                      quiet=True)
                recorder.flush()
                elapsed = time.perf_counter() - started
                close_started = time.perf_counter()
                recorder.close()
                if round_ == 0:
                    continue
                times[mode].append(elapsed)
                if mode == "chain":
                    waits.append(time.perf_counter() - close_started)
                    store = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(Path(tmp) / f"{mode}-"
                                                                                             f"{round_}"))).store
                    transactions += sum(1 for r in store.receipts("m") if r.backend == "ethereum")
    local, chain = statistics.median(times["local"]), statistics.median(times["chain"])
    return {"epochs": epochs, "rounds": rounds, "local_seconds": local, "chain_seconds": chain,
            "chain_over_local": chain / local, "close_wait_seconds": statistics.median(waits),
            "transactions_per_run": transactions / rounds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.epochs, args.rounds)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"example training with full recording, {result['epochs']} epochs, median of {result['rounds']} rounds:")
    print(f"  local anchoring only     {result['local_seconds']:.3f} s")
    print(f"  with chain anchoring     {result['chain_seconds']:.3f} s  (x{result['chain_over_local']:.3f}; "
          f"{result['transactions_per_run']:.0f} anchor transactions a run)")
    print(f"  close() waiting for the last receipts: {result['close_wait_seconds']:.3f} s")


if __name__ == "__main__":
    main()
