"""A separate process that records checkpoints and prints each id once ``record_*`` has returned.

Usage: python -m tests.support.record_worker STORE MODEL_ID COUNT [BATCH_SIZE]
"""

from __future__ import annotations

import sys

from pot import ProvenanceConfig, ProvenanceRecorder


def main() -> None:
    store, model_id, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    batch = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=store, batch_size=batch))
    for epoch in range(count):
        record_id = recorder.record_training_checkpoint(
            model_hash=f"{epoch:064x}", metrics={"loss": 1.0 / (epoch + 1)}, epoch=epoch, model_id=model_id)
        sys.stdout.write(f"{record_id}\n")
        sys.stdout.flush()
    recorder.close()


if __name__ == "__main__":
    main()
