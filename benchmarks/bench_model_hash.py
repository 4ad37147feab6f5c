"""How fast pot hashes a model, next to plain SHA-256, and how much memory it needs while doing so.

    python benchmarks/bench_model_hash.py [--size-gib 1] [--repeat 3] [--files]

Throughput (one process, every measurement in the same run so the ratios compare like with like): a 1 GiB
float32 state dict is built twice, as 64 tensors of 4M floats and as one 1 GiB tensor. Each round measures

- baseline: ``hashlib.sha256`` over one 1 GiB buffer (the memory of the 1 GiB tensor, one ``update`` call);
- ``hash_model`` with ``workers=1`` and ``workers=2`` on both state dicts;
- the hand-written ``get_model_hash`` pot replaces (every tensor copied into one ``bytes``, then hashed).

Rounds are repeated (``--repeat``) and interleaved, so a slow patch of a noisy machine hits every variant; the
report gives the best and the median of each, the ratio to the baseline of the same round (median over rounds),
and the parallel speed-up. SHA-256 of one tensor is sequential, so a single 1 GiB tensor cannot go faster than
one core: parallelism works across tensors.

Peak memory: each measurement runs in a fresh subprocess, which builds its state dict in place
(``torch.empty(n).uniform_()``), reads its resident set size (RSS, ``/proc/self/statm``), resets the kernel's
RSS high-water mark (``echo 5 > /proc/self/clear_refs``), hashes once, and reads the high-water mark (``VmHWM`` in
``/proc/self/status``). Peak extra memory = high-water mark during hashing - RSS before it. (``ru_maxrss`` is not
used: Linux carries it over from the parent across fork and exec, so a child would report the parent's size.)
Where clear_refs cannot be written, the probe falls back to ``ru_maxrss`` and says so. Variants: contiguous
tensors (hashed in place), transposed tensors (not contiguous: copied out in pieces of at most 64 MiB; 64
tensors of 16 MiB, or one of 1 GiB), and the hand-written concatenation, which needs the whole model a second
time (and more). Freed copies may stay in the C allocator's arenas for a while, so the copy variants show a few
pieces' worth, not exactly one.

``--files`` also writes the 64-tensor state dict as a .safetensors file and times ``hash_safetensors`` (mmap) and
``hash_file`` on it (warm page cache).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pot.hashing import hash_file, hash_safetensors
from pot.integrations.torch import hash_model

GIB = 1 << 30
FLOAT32 = 4


def build(total_bytes: int, count: int, *, transposed: bool = False) -> dict[str, torch.Tensor]:
    """``count`` float32 tensors of ``total_bytes`` in all, filled in place (no temporary copies)."""
    n = total_bytes // FLOAT32 // count
    state = {}
    for i in range(count):
        if transposed:
            rows = 1024
            state[f"layers.{i}.weight"] = torch.empty(rows, n // rows).uniform_(-1, 1).t()
        else:
            state[f"layers.{i}.weight"] = torch.empty(n).uniform_(-1, 1)
    return state


def naive_get_model_hash(state: dict[str, torch.Tensor]) -> str:
    """What users wrote before pot had this: every parameter concatenated into one bytes object."""
    return hashlib.sha256(b"".join(t.detach().cpu().numpy().tobytes() for t in state.values())).hexdigest()


def timed(fn: Callable[[], Any]) -> float:
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# --- memory probe (runs in a fresh subprocess) ------------------------------------------------------------------


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_high_water() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def _high_water_bytes(reset: bool) -> int:
    if reset:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def probe(variant: str, total_bytes: int, workers: int) -> dict[str, Any]:
    count = 1 if variant.endswith("x1") else 64
    state = build(total_bytes, count, transposed=variant.startswith("transposed"))
    gc.collect()
    before = _rss_bytes()
    reset = _reset_high_water()
    if variant.startswith("naive"):
        naive_get_model_hash(state)
    else:
        hash_model(state, workers=workers)
    high = _high_water_bytes(reset)
    return {"variant": variant, "workers": workers, "rss_before": before, "high_water": high,
            "peak_extra": high - before, "method": "VmHWM after clear_refs" if reset else "ru_maxrss"}


def run_probe(variant: str, total_bytes: int, workers: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--probe", variant, "--workers", str(workers), "--bytes", str(total_bytes)],
        capture_output=True, text=True, check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# --- main -------------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gib", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--files", action="store_true", help="also time hash_safetensors and hash_file")
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--bytes", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    total = int(args.size_gib * GIB)
    if args.probe:
        print(json.dumps(probe(args.probe, args.bytes, args.workers)))
        return 0

    print(f"python {sys.version.split()[0]}, torch {torch.__version__}, {os.cpu_count()} CPUs, "
          f"{args.size_gib:g} GiB float32, {args.repeat} rounds, load average {os.getloadavg()[0]:.2f}")
    memory(total)  # first, while this process is small
    throughput(total, args.repeat, files=args.files)
    return 0


def throughput(total: int, repeat: int, *, files: bool) -> None:
    many = build(total, 64)
    one = build(total, 1)
    buffer = one["layers.0.weight"].numpy()  # the baseline hashes the very memory of the 1 GiB tensor
    variants: dict[str, Callable[[], Any]] = {
        "baseline hashlib.sha256(1 GiB buffer)": lambda: hashlib.sha256(buffer).hexdigest(),
        "hash_model 64 tensors workers=1": lambda: hash_model(many, workers=1),
        "hash_model 64 tensors workers=2": lambda: hash_model(many, workers=2),
        "hash_model 1 tensor   workers=1": lambda: hash_model(one, workers=1),
        "hash_model 1 tensor   workers=2": lambda: hash_model(one, workers=2),
        "naive concat + sha256 (64 tensors)": lambda: naive_get_model_hash(many),
    }
    if files:
        from safetensors.torch import save_file

        folder = tempfile.mkdtemp(prefix="pot-bench-")
        path = Path(folder) / "model.safetensors"
        save_file(many, str(path))
        assert hash_safetensors(path).digest == hash_model(many).digest
        variants["hash_safetensors workers=1 (warm cache)"] = lambda: hash_safetensors(path, workers=1)
        variants["hash_safetensors workers=2 (warm cache)"] = lambda: hash_safetensors(path, workers=2)
        variants["hash_file (warm cache)"] = lambda: hash_file(path)
    baseline = next(iter(variants))
    for fn in variants.values():  # warm up: page in, start threads once
        fn()
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeat):
        for name, fn in variants.items():
            seconds[name].append(timed(fn))

    print(f"\n{'variant':42} {'best GB/s':>10} {'median GB/s':>12} {'x baseline':>11}")
    for name, times in seconds.items():
        ratios = [b / t for b, t in zip(seconds[baseline], times, strict=True)]  # same round, same conditions
        print(f"{name:42} {total / min(times) / 1e9:10.3f} {total / statistics.median(times) / 1e9:12.3f} "
              f"{statistics.median(ratios):11.3f}")
    for label in ("64 tensors", "1 tensor  "):
        one_worker, two_workers = (seconds[f"hash_model {label} workers={w}"] for w in (1, 2))
        speedup = statistics.median(a / b for a, b in zip(one_worker, two_workers, strict=True))
        print(f"parallel speed-up, {label.strip()}, workers=2 vs 1: {speedup:.2f}x")
    print(f"load average after: {os.getloadavg()[0]:.2f} (other processes on these cores lower the speed-up)")
    if files:
        path.unlink()
        os.rmdir(folder)


def memory(total: int) -> None:
    print("\npeak extra memory while hashing (fresh process each; high-water RSS during hashing - RSS before):")
    for variant, workers in [("contiguous 64", 1), ("contiguous 64", 2), ("contiguous x1", 1),
                             ("transposed 64", 1), ("transposed 64", 2), ("transposed x1", 1),
                             ("naive concat 64", 1)]:
        result = run_probe(variant, total, workers)
        print(f"  {variant:16} workers={workers}: {result['peak_extra'] / 2**20:8.1f} MiB  "
              f"(model {total / 2**20:.0f} MiB; {result['method']})")


if __name__ == "__main__":
    sys.exit(main())
