"""A real ``pot serve`` for the web UI's browser tests and benchmark: uvicorn in a subprocess on a free port, over a
store filled by the real recorder, stopped by its pid. (tests/support/served.py is the recording client's: a server
that restarts on its port, made with the real CLI.)"""

from __future__ import annotations

from pathlib import Path

from pot import ProvenanceConfig, ProvenanceRecorder
from pot.lineage.events import parent_dataset
from tests.support.served import Started, start

# --- pot serve ----------------------------------------------------------------------------------------------------

Served = Started


def serve(cli: list[str], log: Path, *flags: str) -> Served:
    """``pot <cli> serve`` on a free port, answering, with rate limits no page load reaches."""
    return start(cli, log, "--burst", "10000", "--rate", "1000", *flags)


def record_runs(root: Path, runs: int, models: int = 100) -> None:
    """``runs`` short runs over ``models`` models, recorded by the recorder as a training job would (without the
    environment capture, which reads every installed package and would only slow the set-up): kinds train, eval
    and finetune, every tenth run failed, each reading one of five datasets."""
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(root), batch_size=1000,
                                                   salt_records=False))
    kinds = ("train", "eval", "finetune")
    for n in range(runs):
        run = recorder.start_run(f"model-{n % models:03d}", kind=kinds[n % 3], config={"n": n}, capture=False,
                                 run_id=f"run-{n:05d}", parents=[parent_dataset(f"dataset-{n % 5}")])
        if n % 10 == 9:
            run.fail("diverged")
        else:
            run.complete()
    recorder.close()
