"""A real ``pot serve`` for the web UI's browser tests and benchmark: uvicorn in a subprocess on a free port, over a
store filled by the real recorder, stopped by its pid. (tests/support/served.py is the recording client's: a server
that restarts on its port, made with the real CLI.)"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pot import ProvenanceConfig, ProvenanceRecorder
from pot.lineage.events import parent_dataset

# --- pot serve ----------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def serve(cli: list[str], log: Path, *flags: str) -> Served:
    """``pot <cli> serve`` on a free port, answering."""
    import httpx

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("POT_")}
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "pot", *cli, "serve", "--port", str(port),
                                    "--burst", "10000", "--rate", "1000", *flags],
                                   stdout=out, stderr=subprocess.STDOUT, env=env)
    served = Served(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise AssertionError(f"pot serve exited with {process.returncode}: {log.read_text()}")
        try:
            if httpx.get(served.url + "/v1/key", timeout=2).status_code in (200, 401):
                return served
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            served.stop()
            raise AssertionError(f"pot serve did not answer in 60 s: {log.read_text()}")
        time.sleep(0.1)


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
