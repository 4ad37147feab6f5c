"""Two torch.distributed processes (gloo, CPU) train one model and record into one store: nothing lost, ranks kept,
the same weights give the same digest on both ranks, and the proof verifies."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from pot import ProvenanceConfig, ProvenanceRecorder, verify_proof

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_two_ranks_record_into_one_store(tmp_path: Path) -> None:
    store = tmp_path / "store"
    ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store))).close()  # one key for both ranks
    port = str(free_port())
    ranks = [subprocess.Popen([sys.executable, "-m", "tests.support.ddp_worker", str(rank), "2", port, str(store),
                               "ddp-digits"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for rank in range(2)]
    for process in ranks:
        output = process.communicate(timeout=300)[0]
        assert process.returncode == 0, output

    with ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store))) as recorder:
        proof = recorder.generate_proof_of_training("ddp-digits")
        verify_proof(proof, trusted_key=recorder.public_key)
    checkpoints = proof.training_chain
    assert sorted((c.rank, c.epoch) for c in checkpoints) == [(r, e) for r in (0, 1) for e in range(3)]
    by_epoch: dict[int, set[str]] = {}
    for c in checkpoints:
        by_epoch.setdefault(c.epoch, set()).add(c.model_hash)
    assert all(len(digests) == 1 for digests in by_epoch.values())  # DDP keeps the ranks' weights identical
    steps = {(r.rank, s) for r in proof.records if r.KIND == "steps" for s in r.steps}  # type: ignore[attr-defined]
    assert {rank for rank, _ in steps} == {0, 1} and len(steps) == 2 * max(s for _, s in steps)
    assert [v.rank for v in proof.validation_chain] == [0]
