"""One of several processes that open the same new store at once, as every rank of a distributed job does.

Usage: python -m tests.support.open_store_worker STORE RANK GO_FILE

Waits until GO_FILE exists (so all workers start together), opens a recorder on STORE, records a step block, a
checkpoint and a validation, makes the proof, and prints ``<key id> <records in its model's log>``. Ranks 6 and
above run ``pot init`` instead and print ``<key id> init``.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
from pathlib import Path

from pot import ProvenanceConfig, ProvenanceRecorder
from pot.cli import main as main_cli


def main() -> None:
    store, rank, go = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    while not go.exists():
        time.sleep(0.001)
    if rank >= 6:
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            code = main_cli(["--store", store, "--json", "init"])
        if code != 0:
            sys.exit(code)
        print(json.loads(output.getvalue())["key_id"], "init")
        return
    with ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=store, batch_size=2), rank=rank) as recorder:
        model_id = f"rank-{rank}"
        for step in range(1, 6):
            recorder.record_step(step, {"loss": 1.0 / step}, model_id)
        recorder.record_training_checkpoint(model_hash=f"{rank:064x}", metrics={"loss": 0.1}, epoch=0,
                                            model_id=model_id)
        recorder.record_validation(model_hash=f"{rank:064x}", validator_id="holdout",
                                   validation_result={"accuracy": 0.9}, model_id=model_id)
        proof = recorder.generate_proof_of_training(model_id)
        print(recorder.key.key_id, len(proof.records))


if __name__ == "__main__":
    main()
