#!/usr/bin/env python3
"""What replay costs: recording for replay in the example's training, and replaying a segment against training it.

    python benchmarks/bench_replay.py [--epochs 20] [--rounds 5] [--large 2048] [--json]

1. **Recording for replay** (a batch digest every step, a checkpoint file with weights, optimizer and RNG digests
   every epoch) on top of the example's full recording: the example's own ``train()`` without it, with it and the
   files written on the training thread (``save_checkpoint``, what the example does), and with them written on a
   background thread (``save_checkpoint_async``), interleaved round by round in one run. Reported per way: the wall
   time of a round over the round without recording for replay just before (the median over rounds: what the
   issue's target is about), the same for CPU time (all threads), and the share of the round the replay calls
   themselves took on the training thread (``Batch.digest`` and the save, timed where they are paid). Then the
   whole example (``--whole N`` runs each way, alternating), as ./scripts/example.sh runs it: the training and
   recording time it reports.
2. **Replay against training**: each epoch of the example's training loop is timed (its steps with their
   recording and batch digests, and its checkpoint file and record, as the example does them; not the example's
   per-epoch accuracy and fingerprint, which would make training look slower), then each segment is replayed with
   ``pot.replay`` (checkpoint loaded and checked, every batch digest checked, end weights hashed and compared).
   Both are repeated ``--replay-rounds`` times and the fastest of each is compared: replay time / training time
   per segment, the median and the worst. The ratio of single runs is printed too.
3. **A larger model** (``--large H``): the same loop with a wider MLP, files written both ways: how long the save
   call holds the training thread, and the wall time over training without recording for replay.
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
import training_with_provenance as example

from pot import ProvenanceConfig, ProvenanceRecorder
from pot.replay import load_plan
from pot.replay import torch as replay_torch
from pot.replay.torch import Batch, replay_segment, save_checkpoint, save_checkpoint_async


class Spent:
    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
        return call


MODES = ("off", "sync", "async")


def recording_overhead(epochs: int, rounds: int, tmp: Path) -> dict[str, float]:
    """The example's train() without recording for replay ("off"), with it and its checkpoint files written on the
    training thread ("sync", save_checkpoint), and with them written on a background thread ("async",
    save_checkpoint_async), interleaved round by round; each way's wall and CPU time over "off" in the same round."""
    data = example.load_data(0)
    spent = Spent()
    digest, saver = Batch.digest, example.save_checkpoint
    savers = {"sync": spent.wrap(saver), "async": spent.wrap(save_checkpoint_async)}
    Batch.digest = spent.wrap(digest)  # type: ignore[method-assign]
    share: dict[str, list[float]] = {mode: [] for mode in MODES}
    wall: dict[str, list[float]] = {mode: [] for mode in MODES}
    cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
    try:
        with ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp / "store"), batch_size=5)) as rec:
            example.train(data, epochs=2, batch_size=64, lr=1e-3, seed=0, threads=1, recorder=rec, model_id="warm",
                          quiet=True)
            for round_ in range(rounds):
                for mode in MODES:
                    directory = tmp / f"ck-{mode}-{round_}"
                    directory.mkdir()
                    example.save_checkpoint = savers.get(mode, saver)
                    spent.seconds = 0.0
                    started, cpu_started = time.perf_counter(), time.process_time()
                    example.train(data, epochs=epochs, batch_size=64, lr=1e-3, seed=0, threads=1, recorder=rec,
                                  model_id=f"{mode}-{round_}", quiet=True,
                                  checkpoints=directory if mode != "off" else None)
                    rec.flush()
                    elapsed = time.perf_counter() - started
                    cpu[mode].append(time.process_time() - cpu_started)
                    wall[mode].append(elapsed)
                    share[mode].append(spent.seconds / elapsed * 100)
    finally:
        Batch.digest = digest  # type: ignore[method-assign]
        example.save_checkpoint = saver
    result: dict[str, float] = {"wall_off_seconds": statistics.median(wall["off"]),
                                "cpu_off_seconds": statistics.median(cpu["off"])}
    for mode in ("sync", "async"):
        ratios = [on / off for on, off in zip(wall[mode], wall["off"], strict=True)]
        cpu_ratios = [on / off for on, off in zip(cpu[mode], cpu["off"], strict=True)]
        result |= {f"{mode}_wall_ratio": statistics.median(ratios), f"{mode}_wall_ratio_min": min(ratios),
                   f"{mode}_wall_ratio_max": max(ratios), f"{mode}_cpu_ratio": statistics.median(cpu_ratios),
                   f"{mode}_wall_seconds": statistics.median(wall[mode]),
                   f"{mode}_thread_percent": statistics.median(share[mode])}
    return result


def larger_model(hidden: int, rounds: int, tmp: Path) -> dict[str, float]:
    """The example's data and loop with a wider MLP (64-H-H-10, Adam), 2 epochs a round, without recording for
    replay, with files written on the training thread and with them written on a background thread, interleaved:
    how long the save call holds the training thread per checkpoint, and the wall time over "off" (the last file
    of a round written before the round's time stops)."""
    data = example.load_data(0)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, hidden),
                                torch.nn.ReLU(), torch.nn.Linear(hidden, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    directory = tmp / "large"
    directory.mkdir()
    wall: dict[str, list[float]] = {mode: [] for mode in MODES}
    held: dict[str, list[float]] = {mode: [] for mode in MODES}
    for round_ in range(rounds):
        for mode in MODES:
            started, blocking, pending = time.perf_counter(), 0.0, None
            for epoch in range(2):
                order = torch.randperm(len(data.x_train))
                for start in range(0, len(order), 64):
                    indices = order[start:start + 64]
                    batch = Batch(indices, x=data.x_train[indices], y=data.y_train[indices])
                    optimizer.zero_grad()
                    loss_fn(model(batch.tensors["x"]), batch.tensors["y"]).backward()
                    optimizer.step()
                    if mode != "off":
                        batch.digest()
                path = directory / f"{mode}-{round_}-{epoch}.pt"
                called = time.perf_counter()
                if mode == "sync":
                    save_checkpoint(path, model, optimizer)
                elif mode == "async":
                    pending = save_checkpoint_async(path, model, optimizer)
                blocking += time.perf_counter() - called
            if pending is not None:
                pending.result()
            wall[mode].append(time.perf_counter() - started)
            held[mode].append(blocking / 2)
            for old in directory.iterdir():
                old.unlink()
    result = {"large_parameters": float(sum(p.numel() for p in model.parameters())),
              "large_epoch_seconds": statistics.median(wall["off"]) / 2}
    for mode in ("sync", "async"):
        ratios = [on / off for on, off in zip(wall[mode], wall["off"], strict=True)]
        result |= {f"large_{mode}_wall_ratio": statistics.median(ratios),
                   f"large_{mode}_wall_ratio_min": min(ratios), f"large_{mode}_wall_ratio_max": max(ratios),
                   f"large_{mode}_held_ms": statistics.median(held[mode]) * 1000}
    return result


def whole_example(rounds: int, tmp: Path) -> dict[str, float]:
    """The example itself, as ./scripts/example.sh runs it (20 epochs, a run, a validation, a promotion and a
    proof), with and without recording for replay, alternating: the time it reports for training and recording."""
    import re
    import subprocess

    script = Path(example.__file__)
    took: dict[str, list[float]] = {"off": [], "on": []}
    for round_ in range(rounds):
        for mode in ("off", "on"):
            out = tmp / f"whole-{mode}-{round_}"
            result = subprocess.run([sys.executable, str(script), "--store", str(out / "store"), "--out", str(out),
                                     *(["--no-replay"] if mode == "off" else [])],
                                    capture_output=True, text=True, check=True)
            took[mode].append(float(re.search(r"after ([0-9.]+) s of training", result.stdout).group(1)))  # type: ignore[union-attr]
    return {"whole_off_seconds": statistics.median(took["off"]), "whole_on_seconds": statistics.median(took["on"]),
            "whole_ratio": statistics.median(took["on"]) / statistics.median(took["off"])}


def replay_against_training(epochs: int, rounds: int, tmp: Path) -> dict[str, Any]:
    """Each epoch's training time (its steps with their recording, the batch digests and the checkpoint file) and
    each segment's replay time, both the minimum over ``rounds`` repetitions (the same seeded training, which gives
    the same weights every time, and the same replay), so that a pause of the machine in one repetition of either
    does not decide the ratio; then replay / training per segment."""
    data = example.load_data(0)
    config = {"epochs": epochs, "batch_size": 64, "lr": 1e-3, "seed": 0, "threads": 1}
    trained: list[list[float]] = []
    for round_ in range(rounds):
        checkpoints = tmp / f"checkpoints-{round_}"
        checkpoints.mkdir()
        times = []
        with ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp / f"store-{round_}"))) as recorder:
            with recorder.start_run("m", config=config, capture=False):
                program = example.DigitsProgram(config, data)
                saved = save_checkpoint(checkpoints / "init.pt", program.model, program.optimizer)
                recorder.record_training_checkpoint(metrics={}, epoch=0, model_id="m", step=0,
                                                    **saved.record_fields())
                step = 0
                for epoch in range(epochs):
                    started = time.perf_counter()
                    for batch in program.batches(epoch):
                        loss = program.step(batch)
                        step += 1
                        recorder.record_step(step, {"loss": loss}, "m", epoch=epoch, batch=batch.digest())
                    saved = save_checkpoint(checkpoints / f"epoch-{epoch:03d}.pt", program.model, program.optimizer)
                    recorder.record_training_checkpoint(metrics={}, epoch=epoch, model_id="m", step=step,
                                                        **saved.record_fields())
                    times.append(time.perf_counter() - started)
            proof = recorder.generate_proof_of_training("m")
            assert proof is not None
            proof.save(tmp / "m.proof.json")
            key = recorder.public_key
        trained.append(times)
    plan = load_plan(tmp / "m.proof.json", trusted_key=key)  # the last round's; every round wrote the same files
    replayer = example.replay_program(plan.config)
    replayed: list[list[float]] = []
    with replay_torch._deterministic():
        for _ in range(rounds):
            seconds = []
            for segment in plan.segments:
                result = replay_segment(replayer, segment, tmp / f"checkpoints-{rounds - 1}")
                assert result.outcome == "exact", result.detail
                seconds.append(result.seconds)
            replayed.append(seconds)
    train_min = [min(column) for column in zip(*trained, strict=True)]
    replay_min = [min(column) for column in zip(*replayed, strict=True)]
    ratios = [r / t for r, t in zip(replay_min, train_min, strict=True)]
    single = [r / t for r, t in zip(replayed[0], trained[0], strict=True)]
    return {"segments": len(ratios), "epoch_train_ms": statistics.median(train_min) * 1000,
            "replay_over_training_median": statistics.median(ratios), "replay_over_training_max": max(ratios),
            "replay_over_training_single_median": statistics.median(single),
            "replay_over_training_single_max": max(single)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--whole", type=int, default=3, metavar="N",
                        help="also run the whole example N times each way (0: skip)")
    parser.add_argument("--large", type=int, default=0, metavar="H",
                        help="also time a wider MLP (64-H-H-10; 2048 gives 4.3M parameters) both ways (0: skip)")
    parser.add_argument("--replay-rounds", type=int, default=3, metavar="R",
                        help="train and replay R times; per epoch and per segment the fastest of the R is compared "
                             "(0: skip)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        result = {"epochs": args.epochs, "rounds": args.rounds,
                  **recording_overhead(args.epochs, args.rounds, Path(tmp)),
                  **(replay_against_training(args.epochs, args.replay_rounds, Path(tmp)) if args.replay_rounds else {}),
                  **(whole_example(args.whole, Path(tmp)) if args.whole else {}),
                  **(larger_model(args.large, args.rounds, Path(tmp)) if args.large else {})}
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"example, {args.epochs} epochs, {args.rounds} rounds of train() without recording for replay and with "
          f"it, interleaved; {result['wall_off_seconds']:.3f} s a round without")
    for mode, how in (("sync", "checkpoint files written on the training thread"),
                      ("async", "checkpoint files written on a background thread")):
        print(f"  {how}: wall x{result[f'{mode}_wall_ratio']:.3f} (median of the rounds' ratios; "
              f"x{result[f'{mode}_wall_ratio_min']:.3f} to x{result[f'{mode}_wall_ratio_max']:.3f}), CPU "
              f"x{result[f'{mode}_cpu_ratio']:.3f}; the replay calls took {result[f'{mode}_thread_percent']:.2f}% of "
              "the round on the training thread")
    if args.whole:
        print(f"the whole example (median of {args.whole} runs each, as it reports its training and recording time): "
              f"{result['whole_on_seconds']:.2f} s with recording for replay, {result['whole_off_seconds']:.2f} s "
              f"without = x{result['whole_ratio']:.3f}")
    if args.large:
        print(f"a wider MLP ({result['large_parameters'] / 1e6:.1f}M parameters, {result['large_epoch_seconds']:.2f} s "
              f"an epoch without recording for replay), {args.rounds} rounds of 2 epochs:")
        for mode, how in (("sync", "on the training thread"), ("async", "on a background thread")):
            print(f"  files written {how}: the save call holds the training thread "
                  f"{result[f'large_{mode}_held_ms']:.0f} ms a checkpoint; "
                  f"wall x{result[f'large_{mode}_wall_ratio']:.3f} "
                  f"(x{result[f'large_{mode}_wall_ratio_min']:.3f} to x{result[f'large_{mode}_wall_ratio_max']:.3f})")
    if not args.replay_rounds:
        return
    print(f"replay / training, per segment ({result['segments']} segments, {result['epoch_train_ms']:.0f} ms an "
          f"epoch, the fastest of {args.replay_rounds} of each): median x{result['replay_over_training_median']:.3f}, "
          f"worst x{result['replay_over_training_max']:.3f} (one of each: median "
          f"x{result['replay_over_training_single_median']:.3f}, "
          f"worst x{result['replay_over_training_single_max']:.3f})")


if __name__ == "__main__":
    main()
