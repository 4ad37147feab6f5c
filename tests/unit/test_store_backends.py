"""The same store behaviour on both backends (SQLite and a real PostgreSQL server): logs, heads, receipts, the
pending queue, settings, the run registry, the lineage graph, proofs, and the command line's store verbs."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from pot import ProvenanceRecorder, verify_proof
from pot.cli import main
from pot.errors import StoreError, UsageError
from pot.lineage import registry
from pot.lineage.events import parent_dataset, parent_run
from pot.log.merkle import Frontier
from pot.log.records import TrainingCheckpoint
from pot.log.store import LogStore

from ..conftest import StoreTarget
from .conftest import digest


def append(store: LogStore, model_id: str, epoch: int, index: Any = None) -> TrainingCheckpoint:
    record = store.append(model_id, lambda seq, _last: TrainingCheckpoint.create(
        model_id=model_id, seq=seq, timestamp="2026-11-22T12:00:00.000000Z", model_hash=digest(epoch), epoch=epoch,
        metrics={"loss": 1.0 / (epoch + 1)}, fingerprint_hash=None, validation_hash=None), index)
    assert isinstance(record, TrainingCheckpoint)
    return record


def test_seq_counts_up_per_model_and_records_read_back(store_target: StoreTarget) -> None:
    with store_target.open() as store:
        assert isinstance(store, LogStore) and store.dialect == store_target.backend
        assert [append(store, "a", i).seq for i in range(3)] == [0, 1, 2]
        assert append(store, "b", 0).seq == 0
        assert store.size("a") == 3 and store.size("nobody") == 0 and store.models() == ["a", "b"]
        assert [r.epoch for r in store.records("a")] == [0, 1, 2]  # type: ignore[attr-defined]
        assert [r.epoch for r in store.records("a", 1, 2)] == [1]  # type: ignore[attr-defined]
        assert [bytes.fromhex(r.record_id) for r in store.records("a")] == store.leaves("a")
        with pytest.raises(UsageError, match="unknown model id 'c'; known: a, b"):
            store.require_model("c")


def test_a_record_the_index_refuses_is_not_stored(store_target: StoreTarget) -> None:
    def refuse(_conn: Any, _record: Any) -> None:
        raise UsageError("refused by the index")

    with store_target.open() as store:
        append(store, "m", 0)
        with pytest.raises(UsageError, match="refused by the index"):
            append(store, "m", 1, refuse)
        assert store.size("m") == 1
        assert append(store, "m", 2).seq == 1  # the refused append left no gap and no lock behind


def test_settings_claim_once_and_the_local_chain_tip_only_advances(store_target: StoreTarget) -> None:
    with store_target.open() as store:
        assert store.get_setting("x") is None and store.get_setting("x", "d") == "d"
        assert store.claim_setting("x", "first") == "first"
        assert store.claim_setting("x", "second") == "first"
        store.set_setting("y", "1")
        store.set_setting("y", "2")
        assert store.get_setting("y") == "2"
        assert store.local_chain_tip() is None
        store.advance_local_chain_tip(3, "c" * 64)
        store.advance_local_chain_tip(2, "b" * 64)  # reported late by a slower process: ignored
        assert store.local_chain_tip() == (3, "c" * 64)
        assert store.exclusive(lambda: store.claim_setting("z", "inside")) == "inside"
        assert store.get_setting("z") == "inside"


def test_a_recorded_log_proves_and_verifies_with_heads_receipts_and_an_empty_pending_queue(
        store_target: StoreTarget) -> None:
    with ProvenanceRecorder(store_target.config(batch_size=3)) as recorder:
        for epoch in range(7):
            recorder.record_training_checkpoint(model_hash=digest(epoch), metrics={"loss": 0.5}, epoch=epoch,
                                                model_id="m")
        recorder.record_validation(model_hash=digest(6), validator_id="holdout", validation_result={"acc": 0.9},
                                   model_id="m")
        proof = recorder.generate_proof_of_training("m")
        assert proof is not None and len(proof.records) == 8
        verify_proof(proof, trusted_key=recorder.public_key)
        store = recorder.store
        heads = store.heads("m")
        assert heads and heads[-1].head.tree_size == 8 and store.latest_head("m") == heads[-1]
        leaves = store.leaves("m")
        for signed in heads:  # every head's root is the root of the log's first tree_size leaves
            frontier = Frontier()
            frontier.extend(leaves[:signed.head.tree_size])
            assert frontier.root().hex() == signed.head.root_hash
        assert all(later.head.prev_head == earlier.head.head_hash for earlier, later in itertools.pairwise(heads))
        receipts = store.receipts("m")
        assert receipts and receipts[-1].head_hash == heads[-1].head.head_hash
        assert store.pending_heads("localchain", "m") == []
        assert [h.head.tree_size for h in store.pending_heads("elsewhere", newest_only=True)] == [8]
        assert store.add_receipt("m", receipts[-1]) is False  # nothing anchors twice
        snapshot = store.snapshot("m")
        assert snapshot.leaves == leaves and len(snapshot.heads) == len(heads)


def test_runs_and_lineage_are_indexed_and_queried_alike(store_target: StoreTarget) -> None:
    with ProvenanceRecorder(store_target.config()) as recorder:
        with recorder.start_run("base", config={"lr": 0.1},
                                parents=[parent_dataset("digits", digest="d" * 64)]) as first:
            recorder.record_training_checkpoint(model_hash=digest(0), metrics={"loss": 1.0}, epoch=0,
                                                model_id="base")
        with recorder.start_run("tuned", kind="fine-tune", config={"lr": 0.01},
                                parents=[parent_run(first.run_id, "fine_tuned_from")]) as second:
            recorder.record_training_checkpoint(model_hash=digest(1), metrics={"loss": 0.5}, epoch=0,
                                                model_id="tuned")
        store = recorder.store
        runs = registry.list_runs(store)
        assert [r["run_id"] for r in runs] == [second.run_id, first.run_id]
        assert registry.list_runs(store, kind="fine-tune", limit=2**63) == runs[:1]
        run = registry.get_run(store, first.run_id)
        assert run["status"] == "completed" and run["end_seq"] == 2 and isinstance(run["git_dirty"], bool | None)
        # the recorded user, never PostgreSQL's current role (a bare `user` in SQL)
        assert run["user"] == registry.run_started_data(store, run)["user"]
        assert [r.KIND for r in registry.run_records(store, run)] == ["event", "checkpoint", "event"]
        stats = registry.run_stats(store)
        assert stats["runs"] == 2 and stats["by_kind"] == {"train": 1, "fine-tune": 1}
        assert set(stats["mean_seconds_by_kind"]) == {"train", "fine-tune"}
        assert all(value >= 0 for value in stats["mean_seconds_by_kind"].values())
        with pytest.raises(UsageError, match="unknown run id 'nope'; the newest is"):
            registry.get_run(store, "nope")
        graph = registry.lineage(store, second.run_id)
        assert graph.ancestors(second.run_id) == [(first.run_id, 1), ("digits", 2)]
        assert graph.descendants("digits") == [(first.run_id, 1), ("base", 2), (second.run_id, 2), ("tuned", 3)]
        assert graph.depth("tuned") == 3
        sub = graph.subgraph(first.run_id)
        assert {n.node_id for n in sub.nodes} == {"digits", first.run_id, "base", second.run_id, "tuned"}
        assert len(sub.edges) == 4 and "fine_tuned_from" in graph.to_dot(second.run_id)
        with pytest.raises(UsageError, match="unknown lineage id 'nothing'"):
            registry.lineage(store, "nothing")


def test_the_store_verbs_of_the_command_line(store_target: StoreTarget, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("POT_HOME", "POT_DATABASE_URL", "POT_KEY_FILE", "POT_KEY_PASSPHRASE"):
        monkeypatch.delenv(name, raising=False)
    flags = store_target.cli()

    def pot(*argv: str) -> tuple[int, str, str]:
        code = main([*flags, *argv])
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        if store_target.database is not None:
            password = store_target.database.split(":")[2].split("@")[0]
            assert password not in out + err
        return code, out, err

    code, out, _ = pot("init")
    assert code == 0 and "store ready at" in out
    assert (store_target.root / "signing-key.pem").exists()
    for epoch in range(2):
        code, out, _ = pot("checkpoint", "--model-hash", digest(epoch), "--epoch", str(epoch), "--metrics",
                           '{"loss": 0.1}', "--model-id", "m")
        assert code == 0 and len(out.strip()) == 64
    code, _, _ = pot("validate", "--model-hash", digest(1), "--validator", "suite", "--result", '{"acc": 0.9}',
                     "--model-id", "m")
    assert code == 0
    code, out, _ = pot("history", "--model-id", "m")
    assert code == 0 and "checkpoint epoch 1" in out and "validation by suite" in out
    code, out, _ = pot("--json", "history")
    assert code == 0 and json.loads(out) == [{"model_id": "m", "records": 3}]
    code, out, _ = pot("proof", "--model-id", "m", "--output", str(tmp_path / "p.json"))
    assert code == 0 and "3 record(s)" in out
    code, out, _ = pot("verify", str(tmp_path / "p.json"))
    assert code == 0 and out.rstrip().endswith("VERIFIED")
    code, out, _ = pot("runs", "list")
    assert code == 0
    code, out, err = pot("lineage", "nothing")
    assert code == 2 and "unknown lineage id" in err
    code, out, err = pot("history", "--model-id", "other")
    assert code == 2 and "unknown model id 'other'" in err
    code, out, _ = pot("test")
    assert code == 0 and "all checks passed" in out, out


def test_opening_a_store_that_was_never_created_says_what_to_do(store_target: StoreTarget) -> None:
    with pytest.raises(StoreError, match="pot init"):
        store_target.open(create=False)
