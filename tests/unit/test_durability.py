"""Acknowledged records survive SIGKILL; several processes recording into one store lose nothing."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from pot import ProvenanceConfig, ProvenanceRecorder, verify_proof

ROOT = Path(__file__).resolve().parents[2]


def _worker(store: Path, model_id: str, count: int, batch: int = 10) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.support.record_worker", str(store), model_id, str(count),
                             str(batch)], cwd=ROOT, stdout=subprocess.PIPE, text=True)


def test_sigkill_right_after_acknowledgement_loses_nothing(store_dir: Path) -> None:
    process = _worker(store_dir, "m", 100_000)
    assert process.stdout is not None
    acknowledged = [process.stdout.readline().strip() for _ in range(500)]
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    # Whatever the process printed had been returned by record_training_checkpoint before the kill.
    conn = sqlite3.connect(store_dir / "pot.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    with ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store_dir))) as recorder:
        stored = [r.record_id for r in recorder.store.records("m")]
        assert stored[:500] == acknowledged
        # The store opens cleanly and the log goes on: records after the kill extend the same log.
        recorder.record_training_checkpoint(model_hash="after", metrics={}, epoch=0, model_id="m")
        proof = recorder.generate_proof_of_training("m")
        verify_proof(proof, trusted_key=recorder.public_key)
        assert proof.records[-1].model_hash == "after"  # type: ignore[attr-defined]


def test_two_processes_recording_into_one_store_lose_nothing(store_dir: Path) -> None:
    ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store_dir))).close()  # create store and key
    workers = [_worker(store_dir, "shared", 400, batch=7), _worker(store_dir, "shared", 400, batch=5),
               _worker(store_dir, "own", 300)]
    outputs = [w.communicate()[0].split() for w in workers]
    assert all(w.returncode == 0 for w in workers)
    with ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store_dir))) as recorder:
        shared = [r.record_id for r in recorder.store.records("shared")]
        assert sorted(shared) == sorted(outputs[0] + outputs[1])
        assert [r.seq for r in recorder.store.records("shared")] == list(range(800))  # type: ignore[attr-defined]
        for model_id in ("shared", "own"):
            proof = recorder.generate_proof_of_training(model_id)
            report = verify_proof(proof, trusted_key=recorder.public_key)
            assert report.record_count == (800 if model_id == "shared" else 300)
            # Heads from both processes form one chain: no fork.
            assert len({h.head.prev_head for h in proof.tree_heads}) == len(proof.tree_heads)
