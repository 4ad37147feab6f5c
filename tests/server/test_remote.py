"""Recording through ``pot serve`` against the real parts: uvicorn on a free port (tests/support/served.py, stopped
or SIGKILLed by pid), real HTTP, a SQLite store or a real PostgreSQL (tests/support/postgres.py) behind it, and
recording processes started as subprocesses. Every case checks the same three things at the end: every record a
recorder acknowledged is in the server's log, none is there twice, and the server's proof verifies with the
server's key (taken from its key file, not from the server).
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="needs the [server] extra")

from pot import ProvenanceConfig, ProvenanceRecorder, verify_proof
from pot.errors import PotError
from pot.log.keys import SigningKey
from pot.log.proof import ProvenanceProof
from pot.log.records import EventRecord
from pot.server.client import RemoteLog, ServerClient
from pot.server.spool import Spool
from tests.support.postgres import PostgresServer
from tests.support.served import Served, clean_env, log_records, prepare

REPO = Path(__file__).resolve().parents[2]


def server_key(root: Path) -> str:
    """The organisation's public key, read from the server's key file (a verifier pins it; it never asks)."""
    return SigningKey.load(root / "signing-key.pem").public.hex


def remote_config(served: Served, token: str, spool: Path, **extra: object) -> ProvenanceConfig:
    return ProvenanceConfig(enabled=True, server_url=served.url, server_token=token, spool_dir=str(spool),
                            anchor_timeout=30.0, **extra)  # type: ignore[arg-type]


def checkpoint(recorder: ProvenanceRecorder, model_id: str, epoch: int) -> str:
    handle = recorder.record_training_checkpoint(model_hash=f"{epoch:064x}", metrics={"loss": 1.0 / (epoch + 1)},
                                                 epoch=epoch, model_id=model_id)
    assert handle is not None
    return handle


def assert_complete(served: Served, model_id: str, epochs: set[int], root: Path) -> ProvenanceProof:
    """Every epoch in ``epochs`` is in the log exactly once, nothing else is, and the proof verifies with the key
    from the server's key file."""
    records = log_records(served, model_id)
    seen = Counter(r["epoch"] for r in records if r["type"] == "checkpoint")
    assert {e for e, n in seen.items() if n > 1} == set(), "a record is in the log twice"
    assert set(seen) == epochs
    client = ServerClient(served.url, None)
    try:
        proof = ProvenanceProof.from_json(client.exchange("GET", f"/v1/models/{model_id}/proof")[1])
    finally:
        client.close()
    report = verify_proof(proof, trusted_key=server_key(root))
    assert report.ok
    assert proof.latest_head is not None and proof.latest_head.tree_size == len(records)
    return proof


def worker(served: Served, token: str, spool: Path, node: str, model_id: str, first: int, count: int,
           ending: str = "close", run: str = "") -> subprocess.Popen[str]:
    env = clean_env(POT_SERVER_URL=served.url, POT_SERVER_TOKEN=token, POT_SPOOL_DIR=str(spool), POT_NODE_ID=node)
    return subprocess.Popen([sys.executable, "-m", "tests.support.remote_worker", model_id, str(first), str(count),
                             ending, run], cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen[str], timeout: float = 120, say: str = "") -> list[str]:
    out, err = process.communicate(say, timeout=timeout)
    assert process.returncode == 0, err
    return out.splitlines()


@pytest.fixture
def sqlite_served(tmp_path: Path) -> Iterator[tuple[Served, str]]:
    root = tmp_path / "server-store"
    token = prepare(root)
    served = Served(root).start()
    yield served, token
    served.stop()


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL of this module's own, so restarting it disturbs no other test."""
    if os.environ.get("POT_SKIP_POSTGRES") == "1":
        pytest.skip("POT_SKIP_POSTGRES=1")
    with PostgresServer() as server:
        yield server


# --- the recorder, the spool and the CLI -------------------------------------------------------------------------


def test_recorder_records_through_the_server(sqlite_served: tuple[Served, str], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
                                             ) -> None:
    """The seed's calls, unchanged, record into the server's log once POT_SERVER_URL and POT_SERVER_TOKEN are set;
    the proof comes from the server and verifies with its key; the handles map to the server's record ids."""
    served, token = sqlite_served
    monkeypatch.setenv("POT_SERVER_URL", served.url)
    monkeypatch.setenv("POT_SERVER_TOKEN", token)
    monkeypatch.setenv("POT_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setenv("POT_NODE_ID", "trainer-1")
    monkeypatch.chdir(tmp_path)
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True))
    assert recorder.remote is not None
    assert token not in repr(recorder.config)
    with recorder.start_run("team-m", capture=False):
        handles = [checkpoint(recorder, "team-m", epoch) for epoch in range(5)]
        # A double that canonical JSON spells in plain digits reaches the server as the double it is.
        recorder.record_training_checkpoint(model_hash=f"{7:064x}", metrics={"loss": 1e20}, epoch=7,
                                            model_id="team-m")
        for step in range(10):
            recorder.record_step(step, {"loss": 1.0 / (step + 1)}, "team-m")
        recorder.record_validation(model_hash=f"{4:064x}", validator_id="v", validation_result={"confidence": 0.9},
                                   model_id="team-m")
    proof = recorder.generate_proof_of_training("team-m")
    assert proof is not None and recorder.verify_training_provenance(proof)
    assert recorder.public_key.hex == server_key(served.root)
    # A model id with slashes (the example names its models "digits-mlp/<time>") is its own log on the server.
    slashed = [checkpoint(recorder, "team/m/1", epoch) for epoch in range(2)]
    slashed_proof = recorder.generate_proof_of_training("team/m/1")
    assert slashed_proof is not None and recorder.verify_training_provenance(slashed_proof)
    assert [r.record_id for r in slashed_proof.records] == [recorder.server_record_id(h) for h in slashed]
    kinds = Counter(r["type"] for r in log_records(served, "team-m"))
    assert kinds == {"checkpoint": 6, "event": 2, "steps": 1, "validation": 1}
    ids = [recorder.server_record_id(h) for h in handles]
    assert all(ids) and {r.record_id for r in proof.records} >= set(ids)  # type: ignore[operator]
    # A partial proof names records by their handles (or ids).
    partial = recorder.generate_proof_of_training("team-m", disclose=[handles[2]])
    assert partial is not None and [r.record_id for r in partial.records] == [ids[2]]
    # The node's stamps merge with the log's: they only grow along the log, and the clock learned the log's.
    stamps = [r["lamport"] for r in log_records(served, "team-m")]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert recorder.lamport.time >= stamps[-1]
    recorder.close()
    assert recorder.left_in_spool == 0
    assert Spool(tmp_path / "spool").waiting() == 0
    # The CLI's record verbs record through the same server, printing the server's id.
    from pot.cli import main

    capsys.readouterr()
    assert main(["checkpoint", "--model-id", "team-m", "--model-hash", f"{9:064x}", "--epoch", "9",
                 "--metrics", '{"loss": 0.1}', "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["stored"] is True and printed["id"] in {r["id"] for r in log_records(served, "team-m")}
    assert_complete(served, "team-m", {0, 1, 2, 3, 4, 7, 9}, served.root)


def test_promotion_and_rollback_through_the_server(sqlite_served: tuple[Served, str], tmp_path: Path) -> None:
    """``promote`` and ``rollback`` on a recorder that records through a server: what is spooled is sent first (the
    gate judges the validation just recorded), the server decides and records the event, and the recorder returns
    that event, taken from a partial proof verified with the server's key."""
    served, token = sqlite_served
    recorder = ProvenanceRecorder(remote_config(served, token, tmp_path / "spool"))
    weights, older = f"{1:064x}", f"{2:064x}"
    for digest, accuracy in ((older, 0.91), (weights, 0.95)):
        recorder.record_training_checkpoint(model_hash=digest, metrics={}, epoch=0, model_id="team/m")
        recorder.record_validation(model_hash=digest, validator_id="holdout",
                                   validation_result={"accuracy": accuracy}, model_id="team/m")
        promoted, event = recorder.promote("team/m", "production", {"thresholds": {"accuracy": {">=": 0.9}}},
                                           validator_id="holdout")
        assert promoted and event is not None and event.event == "ModelPromoted"
        assert event.data["model_hash"] == digest
    refused, event = recorder.promote("team/m", "production", {"thresholds": {"accuracy": {">=": 0.99}}})
    assert not refused and event is not None and event.event == "PromotionRefused"
    back = recorder.rollback("team/m", "production", older, "the newer model drifts")
    assert back is not None and back.event == "ModelRolledBack" and back.data["to_model_hash"] == older
    with pytest.raises(PotError, match="refused the rollback"):  # never promoted to that stage: one line, no event
        recorder.rollback("team/m", "staging", older, "no such promotion")
    proof = recorder.generate_proof_of_training("team/m")
    assert proof is not None and recorder.verify_training_provenance(proof)
    assert [r.event for r in proof.records if isinstance(r, EventRecord)] == [
        "ModelPromoted", "ModelPromoted", "PromotionRefused", "ModelRolledBack"]
    recorder.close()


def test_server_killed_mid_run_records_spool_and_catch_up(sqlite_served: tuple[Served, str], tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    """The server is SIGKILLed in the middle of a run: recording goes on into the spool, close() says how many
    records wait and where; a process that ends without closing leaves its records in the spool; the next
    recorder on that spool sends them all once the server is back."""
    served, token = sqlite_served
    spool = tmp_path / "spool"
    recorder = ProvenanceRecorder(remote_config(served, token, spool))
    for epoch in range(50):
        checkpoint(recorder, "team-k", epoch)
    recorder.flush()
    served.kill()
    for epoch in range(50, 100):  # acknowledged with the server gone: the training thread does not wait for it
        checkpoint(recorder, "team-k", epoch)
    with caplog.at_level(logging.WARNING, logger="pot"):
        recorder.close(timeout=0.5)
    assert recorder.left_in_spool == 50
    assert f"50 record(s) are still spooled in {spool / 'spool.db'}" in caplog.text
    assert token not in caplog.text
    # Another process records 30 more on the same spool and dies without closing (os._exit).
    acknowledged = finish(worker(served, token, spool, "main", "team-k", 100, 30, "crash"))
    assert len(acknowledged) == 30
    assert Spool(spool).waiting() == 80
    served.start()  # back on the same port
    later = ProvenanceRecorder(remote_config(served, token, spool))
    later.close()
    assert later.left_in_spool == 0
    assert_complete(served, "team-k", set(range(130)), served.root)


def test_refused_records_do_not_block_the_queue(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A token whose scope does not cover a model: its records are refused for good (403), kept in the spool and
    said so; the records of the models it covers are sent all the same."""
    root = tmp_path / "server-store"
    token = prepare(root, scope="team-")
    with Served(root) as served:
        spool = tmp_path / "spool"
        recorder = ProvenanceRecorder(remote_config(served, token, spool))
        checkpoint(recorder, "other-x", 0)
        for epoch in range(3):
            checkpoint(recorder, "team-y", epoch)
        with caplog.at_level(logging.WARNING, logger="pot"):
            recorder.close()
        assert recorder.left_in_spool == 0
        refused = Spool(spool).refused()
        assert [(m, r.split(":")[0]) for m, _, r in refused] == [("other-x", "403")]
        assert "refused by the server" in caplog.text and "marked refused" in caplog.text
        assert_complete(served, "team-y", {0, 1, 2}, root)


def test_a_record_the_server_refuses_mid_batch_is_set_aside(sqlite_served: tuple[Served, str], tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    """Two recorders start the same run: the server's run registry refuses the second RunStarted, in the middle
    of that recorder's batch. Exactly that record is refused (kept in its spool); the records after it arrive."""
    served, token = sqlite_served
    first = ProvenanceRecorder(remote_config(served, token, tmp_path / "spool-1"))
    first.start_run("team-e", run_id="run-x", capture=False)
    first.flush()
    second = ProvenanceRecorder(remote_config(served, token, tmp_path / "spool-2", node_id="other"))
    checkpoint(second, "team-e", 0)
    second.start_run("team-e", run_id="run-x", capture=False)  # accepted here: this recorder cannot know
    for epoch in range(1, 4):
        checkpoint(second, "team-e", epoch)
    with caplog.at_level(logging.WARNING, logger="pot"):
        second.close()
    first.close()
    assert second.left_in_spool == 0
    refused = Spool(tmp_path / "spool-2").refused()
    assert len(refused) == 1
    assert re.match(r"422: records\[\d+\] \(event\): .*already started", refused[0][2])
    assert "refused 1 record(s)" in caplog.text
    assert_complete(served, "team-e", {0, 1, 2, 3}, served.root)


def test_cli_records_into_the_spool_while_no_server_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """`pot checkpoint` with a server that does not answer: the record is acknowledged (exit 0) once spooled, one
    warning line names the spool; a URL that is not http(s) is exit 2 in one line, and the token never shows."""
    from pot.cli import main
    from tests.support.served import free_port

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("POT_SERVER_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.setenv("POT_SERVER_TOKEN", "pot_secret-token-value")
    monkeypatch.setenv("POT_SPOOL_DIR", str(tmp_path / "spool"))
    args = ["checkpoint", "--model-id", "m1", "--model-hash", "0" * 64, "--epoch", "0", "--metrics", "{}"]
    capsys.readouterr()
    assert main(args) == 0  # after waiting 10 s for the server
    out, err = capsys.readouterr()
    assert out.strip() and err.count("\n") == 1 and "spooled in" in err and "secret-token" not in out + err
    assert Spool(tmp_path / "spool").waiting() == 1
    monkeypatch.setenv("POT_SERVER_URL", "ftp://example.invalid/")
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and "POT_SERVER_URL" in err and "Traceback" not in err


# --- faults on PostgreSQL ------------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_sigkill_during_a_batch_append_leaves_no_duplicate(own_postgres: PostgresServer, tmp_path: Path) -> None:
    """The server is SIGKILLed in the middle of a batch append of 1,000: the batch's transaction is committed in
    the database, but the server dies while it signs the head, before any answer goes out. The spool still holds
    the whole batch, and sending it again to the restarted server adds nothing twice."""
    import psycopg

    database = own_postgres.create_database()
    root = tmp_path / "server-store"
    token = prepare(root, database)
    served = Served(root, database).start()
    try:
        spool_dir = tmp_path / "spool"
        spool = Spool(spool_dir)
        for epoch in range(1000):
            body = json.dumps({"type": "checkpoint", "model_hash": f"{epoch:064x}", "epoch": epoch,
                               "metrics": {"loss": 0.5}, "fingerprint_hash": None, "validation_hash": None,
                               "node_id": "n1", "timestamp": "2026-11-30T12:00:00.000000Z"})
            spool.add("team-b", f"key-{epoch}", "checkpoint", body, epoch + 1)
        with psycopg.connect(database) as conn:
            sender = RemoteLog(served.url, token, spool_dir, batch=1000)
            deadline = time.monotonic() + 60
            while True:  # kill as soon as the batch is in the database
                (count,) = conn.execute("SELECT count(*) FROM records WHERE model_id = 'team-b'").fetchone()
                conn.commit()
                if count > 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.002)
            served.kill()
            assert count > 0
            stored_at_kill = conn.execute("SELECT count(*) FROM records").fetchone()[0]
        assert spool.waiting() == 1000, "the spool lost records the server never answered for"
        served.start()
        assert sender.close(60) == 0
        records = log_records(served, "team-b")
        assert len(records) == 1000 >= stored_at_kill
        assert_complete(served, "team-b", set(range(1000)), root)
    finally:
        served.stop()


@pytest.mark.postgres
def test_postgres_restarted_under_a_running_server(own_postgres: PostgresServer, tmp_path: Path) -> None:
    """PostgreSQL restarts while the server runs and a recorder records: the server answers 503 meanwhile, the
    recorder keeps its records spooled, and all of them arrive once the database is back."""
    database = own_postgres.create_database()
    root = tmp_path / "server-store"
    token = prepare(root, database)
    with Served(root, database) as served:
        recorder = ProvenanceRecorder(remote_config(served, token, tmp_path / "spool"))
        stop = threading.Event()

        def restart() -> None:
            time.sleep(0.3)
            own_postgres.restart()
            stop.set()

        restarter = threading.Thread(target=restart)
        restarter.start()
        epoch = 0
        while not stop.is_set() or epoch < 300:
            checkpoint(recorder, "team-r", epoch)
            epoch += 1
            time.sleep(0.002)
        restarter.join()
        recorder.close(timeout=60)
        assert recorder.left_in_spool == 0
        assert_complete(served, "team-r", set(range(epoch)), root)


@pytest.mark.postgres
def test_two_nodes_through_two_servers_on_one_database(own_postgres: PostgresServer, tmp_path: Path) -> None:
    """Two processes on "two nodes" (their own spools and node ids) record one run into one model log, each
    through its own `pot serve`, both servers on one PostgreSQL database: the log holds every record of both once,
    the Lamport stamps of each node only grow along it, the run is one run, and the proof verifies with the
    organisation's key; `pot proof` through the server writes the same proof."""
    database = own_postgres.create_database()
    root = tmp_path / "server-store"
    token = prepare(root, database)
    with Served(root, database) as first, Served(root, database) as second:
        run = "run-two-nodes"
        a = worker(first, token, tmp_path / "spool-a", "node-a", "team-shared", 0, 300, "close", f"start:{run}")
        time.sleep(0.5)  # node b joins the run node a started
        b = worker(second, token, tmp_path / "spool-b", "node-b", "team-shared", 1000, 300, "close", f"join:{run}")
        out_b = finish(b)
        out_a = finish(a, say="end\n")  # node a ends the run once node b is done
        assert out_a[-1] == "left 0" and out_b[-1] == "left 0"
        proof = assert_complete(first, "team-shared", set(range(300)) | set(range(1000, 1300)), root)
        records = log_records(second, "team-shared")
        per_node: dict[str, list[int]] = {}
        for r in records:
            per_node.setdefault(str(r["node_id"]), []).append(int(r["lamport"]))  # type: ignore[call-overload]
        assert set(per_node) == {"node-a", "node-b"}
        for stamps in per_node.values():
            assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
        assert {r["run_id"] for r in records} == {run}
        # The CLI through the server: a proof fetched by a remote recorder, verified with the pinned key.
        env = clean_env(POT_SERVER_URL=second.url, POT_SERVER_TOKEN=token, POT_SPOOL_DIR=str(tmp_path / "spool-c"))
        made = ProvenanceRecorder(ProvenanceConfig(enabled=True, server_url=second.url, server_token=token,
                                                   spool_dir=env["POT_SPOOL_DIR"]))
        fetched = made.generate_proof_of_training("team-shared")
        made.close()
        assert fetched is not None and fetched.merkle_root == proof.merkle_root
        assert verify_proof(fetched, trusted_key=server_key(root)).ok
