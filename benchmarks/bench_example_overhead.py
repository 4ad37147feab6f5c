#!/usr/bin/env python3
"""What recording costs the example's training loop (examples/training_with_provenance.py).

    python benchmarks/bench_example_overhead.py [--epochs 20] [--rounds 7] [--json]

Runs the example's own ``train()`` function, interleaved round by round, in three ways on the same data and seed:
without pot; recording every training step (``record_step``); and the example's full recording (every step, plus
a checkpoint per epoch with the weights' digest and a behavioural fingerprint). Reports the median wall time of
each and the overhead of the recording ones relative to no recording, as ratios measured in one run.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from training_with_provenance import load_data, train

from pot import ProvenanceConfig, ProvenanceRecorder

MODES = {"none": (False, False), "steps": (True, False), "full": (True, True)}


def run(epochs: int, rounds: int) -> dict[str, float]:
    torch.set_num_threads(1)  # one core for training, the other for the recorder's background work
    data = load_data(0)
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(Path(tmp) / "store"),
                                                       batch_size=5))
        train(data, epochs=2, batch_size=64, lr=1e-3, seed=0, recorder=recorder, model_id="warmup", quiet=True)
        for round_ in range(rounds):
            for mode, (steps, epochs_on) in MODES.items():
                started = time.perf_counter()
                train(data, epochs=epochs, batch_size=64, lr=1e-3, seed=0,
                      recorder=recorder if steps or epochs_on else None, model_id=f"{mode}-{round_}",
                      record_steps=steps, record_epochs=epochs_on, quiet=True)
                recorder.flush()  # the recorder's share of the work is done inside the timing
                times[mode].append(time.perf_counter() - started)
        recorder.close()
    base = statistics.median(times["none"])
    steps_per_run = epochs * -(-len(data.x_train) // 64)
    return {
        "epochs": epochs, "steps_per_run": steps_per_run, "rounds": rounds,
        "none_seconds": base,
        "steps_seconds": statistics.median(times["steps"]),
        "full_seconds": statistics.median(times["full"]),
        "steps_overhead_percent": (statistics.median(times["steps"]) / base - 1) * 100,
        "full_overhead_percent": (statistics.median(times["full"]) / base - 1) * 100,
        "step_ms": base / steps_per_run * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.epochs, args.rounds)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"example training, {result['epochs']} epochs = {result['steps_per_run']} steps "
          f"({result['step_ms']:.2f} ms a step), median of {result['rounds']} interleaved rounds:")
    print(f"  no recording              {result['none_seconds']:.3f} s")
    print(f"  every step recorded       {result['steps_seconds']:.3f} s  ({result['steps_overhead_percent']:+.2f}%)")
    print(f"  steps + epoch checkpoints {result['full_seconds']:.3f} s  ({result['full_overhead_percent']:+.2f}%)")


if __name__ == "__main__":
    main()
