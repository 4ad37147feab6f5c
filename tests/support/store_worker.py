"""A training process for the multi-process store tests: records checkpoints into a store and prints each record id
once its append has returned (acknowledged), then flushes and closes.

    python -m tests.support.store_worker DATABASE_URL STORE_DIR MODEL_ID COUNT [PAUSE_SECONDS]

Prints ``ack <record id>`` per record and ``done`` at the end, flushing each line, so the parent can act mid-run
(restart the server, say) and afterwards check that every acknowledged record is in the log exactly once.
"""

from __future__ import annotations

import os
import sys
import time

from pot import ProvenanceConfig, ProvenanceRecorder


def main() -> int:
    database, store_dir, model_id, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    pause = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
    config = ProvenanceConfig(enabled=True, store_dir=store_dir, database_url=database, batch_size=7,
                              node_id=f"worker-{os.getpid()}")
    with ProvenanceRecorder(config) as recorder:
        for epoch in range(count):
            record_id = recorder.record_training_checkpoint(
                model_hash=f"{os.getpid():032x}{epoch:032x}", metrics={"loss": 1.0 / (epoch + 1)}, epoch=epoch,
                model_id=model_id)
            print("ack", record_id, flush=True)
            if pause:
                time.sleep(pause)
        recorder.flush()
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
