"""A separate process that records checkpoints through ``pot serve`` (POT_SERVER_URL, POT_SERVER_TOKEN,
POT_SPOOL_DIR, POT_NODE_ID from its environment) and prints each handle once ``record_*`` has returned, that is,
once the record is acknowledged (durable in the spool).

Usage: python -m tests.support.remote_worker MODEL_ID FIRST COUNT [close|crash] [start:RUN_ID|join:RUN_ID]

With ``start:RUN_ID`` the run is started here and completed once a line arrives on stdin (every node is done);
with ``join:RUN_ID`` this process records into the run another started. ``close`` (the default) closes the
recorder (sending what is spooled); ``crash`` ends the process with ``os._exit`` right after the last record,
closing nothing: what it acknowledged is only in the spool.
"""

from __future__ import annotations

import os
import sys

from pot import ProvenanceConfig, ProvenanceRecorder


def main() -> None:
    model_id, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    ending = sys.argv[4] if len(sys.argv) > 4 else "close"
    how, _, run_id = (sys.argv[5] if len(sys.argv) > 5 else "").partition(":")
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, anchor_timeout=60.0))
    assert recorder.remote is not None, "POT_SERVER_URL is not set"
    run = recorder.start_run(model_id, run_id=run_id, capture=False) if how == "start" else None
    if how == "join":  # another node started the run and ends it
        recorder.join_run(model_id, run_id)
    for epoch in range(first, first + count):
        handle = recorder.record_training_checkpoint(
            model_hash=f"{epoch:064x}", metrics={"loss": 1.0 / (epoch + 1)}, epoch=epoch, model_id=model_id)
        sys.stdout.write(f"{handle}\n")
        sys.stdout.flush()
    if ending == "crash":
        os._exit(0)
    if run is not None:
        sys.stdin.readline()  # the run ends when the test says every node is done (as rank 0 waits at a barrier)
        run.complete()
    recorder.close()
    sys.stdout.write(f"left {recorder.left_in_spool}\n")


if __name__ == "__main__":
    main()
