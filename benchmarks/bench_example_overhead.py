#!/usr/bin/env python3
"""What recording costs the example's training loop (examples/training_with_provenance.py).

    python benchmarks/bench_example_overhead.py [--epochs 100] [--rounds 9] [--json]

Runs the example's own ``train()`` on the digits data, round after round, in three ways: without pot; recording
every training step (``record_step``); and the example's full recording (every step, plus a checkpoint per epoch
with the weights' digest and a behavioural fingerprint). Two measurements, both in one run:

1. **pot's time on the training thread**: every call the loop makes into pot (and the final ``flush()``, which
   writes the last steps and signs a head) is timed, and its sum divided by the round's time. This is the cost
   of recording, measured where it is paid, and it does not depend on how fast the training itself happened to
   run in that round. Reported as the median over rounds.
2. **round against round**: the median CPU time and the best wall time of each way. On a shared machine the
   training alone varies by a fifth from round to round (the spread is printed), more than the effect being
   measured, so this is shown as a cross-check, not as the number.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from training_with_provenance import load_data, train

from pot import ProvenanceConfig, ProvenanceRecorder

MODES = {"none": (False, False), "steps": (True, False), "full": (True, True)}


class Timed:
    """A recorder whose public calls the loop makes are timed (the time goes to ``spent``)."""

    def __init__(self, recorder: ProvenanceRecorder) -> None:
        self._recorder = recorder
        self.spent = 0.0

    def _timed(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.spent += time.perf_counter() - started
        return call

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._recorder, name)
        return self._timed(value) if callable(value) else value


def run(epochs: int, rounds: int) -> dict[str, float]:
    torch.set_num_threads(1)  # one core for training, the other for the recorder's background work
    data = load_data(0)
    share: dict[str, list[float]] = {"steps": [], "full": []}
    wall: dict[str, list[float]] = {mode: [] for mode in MODES}
    cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(Path(tmp) / "store"),
                                                       batch_size=5))
        train(data, epochs=2, batch_size=64, lr=1e-3, seed=0, recorder=recorder, model_id="warmup", quiet=True)
        for round_ in range(rounds):
            for mode, (steps, epochs_on) in MODES.items():
                timed = Timed(recorder)
                started, cpu_started = time.perf_counter(), time.process_time()
                train(data, epochs=epochs, batch_size=64, lr=1e-3, seed=0,
                      recorder=timed if steps or epochs_on else None,  # type: ignore[arg-type]
                      model_id=f"{mode}-{round_}", record_steps=steps, record_epochs=epochs_on, quiet=True)
                if mode != "none":
                    timed.flush()  # the last steps and a signed head, inside the timing
                elapsed = time.perf_counter() - started
                wall[mode].append(elapsed)
                cpu[mode].append(time.process_time() - cpu_started)
                if mode != "none":
                    share[mode].append(timed.spent / elapsed * 100)
        recorder.close()
    steps_per_run = epochs * -(-len(data.x_train) // 64)
    result: dict[str, float] = {"epochs": epochs, "steps_per_run": steps_per_run, "rounds": rounds,
                                "step_ms": min(wall["none"]) / steps_per_run * 1000}
    for mode in ("steps", "full"):
        result[f"{mode}_pot_percent"] = statistics.median(share[mode])
        result[f"{mode}_pot_us_per_step"] = statistics.median(share[mode]) / 100 * min(wall[mode]) / steps_per_run * 1e6
    for mode in MODES:
        result[f"{mode}_cpu_seconds"] = statistics.median(cpu[mode])
        result[f"{mode}_cpu_min"], result[f"{mode}_cpu_max"] = min(cpu[mode]), max(cpu[mode])
        result[f"{mode}_wall_seconds"] = min(wall[mode])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    r = run(args.epochs, args.rounds)
    if args.json:
        print(json.dumps(r, indent=1))
        return
    print(f"example training, {r['epochs']:.0f} epochs = {r['steps_per_run']:.0f} steps ({r['step_ms']:.2f} ms a "
          f"step), {r['rounds']:.0f} rounds")
    print(f"pot's time on the training thread (median): every step recorded {r['steps_pot_percent']:.2f}% "
          f"({r['steps_pot_us_per_step']:.1f} us a step); steps + epoch checkpoints {r['full_pot_percent']:.2f}% "
          f"({r['full_pot_us_per_step']:.1f} us a step)")
    print("round against round (CPU median [min..max], best wall):")
    for mode, title in (("none", "no recording"), ("steps", "every step recorded"),
                        ("full", "steps + epoch checkpoints")):
        print(f"  {title:<26} {r[f'{mode}_cpu_seconds']:.3f} s [{r[f'{mode}_cpu_min']:.3f}..{r[f'{mode}_cpu_max']:.3f}]"
              f"   {r[f'{mode}_wall_seconds']:.3f} s")


if __name__ == "__main__":
    main()
