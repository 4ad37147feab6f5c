"""The server's read endpoints shaped as the CLI's ``--json`` output (history, runs show, export-config, compare,
lineage), and promotion and rollback through the API, against a real ``pot serve`` process on a free port
(tests/unit/test_server.py starts it and stops it by pid)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("httpx", reason="needs the [server] extra")
pytest.importorskip("fastapi", reason="needs the [server] extra")

from pot.cli import main
from pot.lineage import events

from ..conftest import StoreTarget
from .conftest import digest
from .test_json_schemas import check
from .test_server import Server, make_token, start_server, training_batch


def run_batch(run_id: str, *, lr: float, dataset: str, follows: str | None = None) -> dict[str, Any]:
    """A short run as a recorder sends it: started (from a dataset, maybe after another run), two checkpoints,
    steps, a validation, completed."""
    parents = [events.parent_dataset(dataset, digest(7))] + ([events.parent_run(follows)] if follows else [])
    started = events.run_started("train", {"lr": lr, "optimizer": {"name": "sgd"}}, {"python": {"version": "3"}},
                                 {"commit": "c0ffee", "dirty": False, "branch": "main"}, "alice", parents)
    return training_batch(run_id, started=started, last_metrics={"loss": lr})


@pytest.fixture
def two_runs(store_target: StoreTarget, tmp_path: Path, capsys: pytest.CaptureFixture[str]
             ) -> Iterator[tuple[Server, StoreTarget, str]]:
    """A server holding run-1 (model net-a) and run-2 (model net-b, following run-1); and a write token."""
    assert main([*store_target.cli(), "init"]) == 0
    writer = make_token(store_target, capsys, "net-", write=True)
    server = start_server(store_target, tmp_path)
    try:
        for model, run, follows in (("net-a", "run-1", None), ("net-b", "run-2", "run-1")):
            answer = server.post(f"/v1/models/{model}/records", writer,
                                 json=run_batch(run, lr=0.1 if follows is None else 0.2, dataset="mnist",
                                                follows=follows))
            assert answer.status_code == 200, answer.text
        yield server, store_target, writer
    finally:
        server.stop()


def local_json(target: StoreTarget, capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    """What the local verb prints with --json, on the server's own store."""
    capsys.readouterr()
    assert main([*target.cli(), "--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_read_endpoints_answer_what_the_cli_prints_with_json(
        two_runs: tuple[Server, StoreTarget, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    served, target, _ = two_runs
    history = served.get("/v1/models/net-a/history").json()
    check("history.schema.json", history)
    assert [r["kind"] for r in history] == ["event", "checkpoint", "steps", "checkpoint", "validation", "event"]
    assert history == local_json(target, capsys, "history", "--model-id", "net-a")

    shown = served.get("/v1/runs/run-2").json()
    check("runs-show.schema.json", shown)
    assert shown["started_data"]["parents"][1]["id"] == "run-1" and len(shown["records"]) == 5  # validation: no run
    assert shown == local_json(target, capsys, "runs", "show", "run-2")

    config = served.get("/v1/runs/run-1/config").json()
    assert config["config"] == {"lr": 0.1, "optimizer": {"name": "sgd"}} and config["format"] == "pot.run-config.v1"
    check("run-config.schema.json", config)
    assert config == local_json(target, capsys, "runs", "export-config", "run-1", "--out", str(tmp_path / "c.json"))

    compared = served.get("/v1/runs/run-1/compare/run-2").json()
    check("runs-compare.schema.json", compared)
    assert [c["key"] for c in compared["config"]["changed"]] == ["lr"]
    assert compared == local_json(target, capsys, "runs", "compare", "run-1", "run-2")

    listed = served.get("/v1/runs").json()["runs"]
    check("runs-list.schema.json", listed)
    assert listed == local_json(target, capsys, "runs", "list")
    assert [r["run_id"] for r in listed] == ["run-2", "run-1"]
    assert served.get("/v1/runs", params={"offset": 1}).json()["runs"] == listed[1:]
    assert served.get("/v1/runs", params={"offset": 2}).json()["runs"] == []

    graph = served.get("/v1/lineage/run-2").json()
    check("lineage.schema.json", graph)
    assert graph == local_json(target, capsys, "lineage", "run-2")
    assert {(e["child"], e["parent"], e["relation"]) for e in graph["edges"]} == {
        ("run-2", "mnist", "trained_on"), ("run-2", "run-1", "follows"), ("run-1", "mnist", "trained_on"),
        ("net-b", "run-2", "trained_by")}
    assert {n["node_id"]: n["kind"] for n in graph["nodes"]}["mnist"] == "dataset"


def test_read_endpoints_refuse_bad_input_with_a_json_4xx(two_runs: tuple[Server, StoreTarget, str]) -> None:
    served, _, _ = two_runs
    for path, status, words in (
            ("/v1/models/nobody/history", 404, "unknown model"),
            ("/v1/runs/nobody", 404, "unknown run"),
            ("/v1/runs/nobody/config", 404, "unknown run"),
            ("/v1/runs/run-1/compare/nobody", 404, "unknown run"),
            ("/v1/runs/nobody/compare/run-1", 404, "unknown run"),
            ("/v1/lineage/nobody", 404, "unknown lineage id"),
            ("/v1/runs?offset=-1", 422, "offset"),
            ("/v1/runs?limit=0", 422, "limit"),
            ("/v1/runs?offset=x", 422, "offset")):
        answer = served.get(path)
        assert answer.status_code == status, (path, answer.text)
        assert words in answer.json()["error"], (path, answer.text)


def test_private_lineage_needs_a_scope_covering_every_model_it_shows(
        store_target: StoreTarget, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*store_target.cli(), "init"]) == 0
    writer = make_token(store_target, capsys, "net-", write=True)
    only_b = make_token(store_target, capsys, "net-b", write=False)
    server = start_server(store_target, tmp_path, "--private")
    try:
        assert server.post("/v1/models/net-a/records", writer, json=run_batch("run-1", lr=0.1, dataset="d")
                           ).status_code == 200
        assert server.post("/v1/models/net-b/records", writer,
                           json=run_batch("run-2", lr=0.2, dataset="d", follows="run-1")).status_code == 200
        assert server.get("/v1/lineage/run-2").status_code == 401
        refused = server.get("/v1/lineage/run-2", only_b)  # shows run-1, whose model net-a is outside the scope
        assert refused.status_code == 403 and "'net-a'" in refused.json()["error"]
        assert server.get("/v1/lineage/run-2", writer).status_code == 200
        assert server.get("/v1/runs/run-1/compare/run-2", only_b).status_code == 403
        assert server.get("/v1/runs/run-2/config", only_b).status_code == 200
        assert server.get("/v1/models/net-a/history", only_b).status_code == 403
        # the scope filters inside the query, so a page counts only runs in scope (run-2, the newest, is not)
        only_a = make_token(store_target, capsys, "net-a", write=False)
        page = server.get("/v1/runs", only_a, params={"limit": 1}).json()["runs"]
        assert [r["run_id"] for r in page] == ["run-1"]
        assert server.get("/v1/runs", only_a, params={"limit": 1, "offset": 1}).json() == {"runs": []}
        assert [r["run_id"] for r in server.get("/v1/runs", only_b).json()["runs"]] == ["run-2"]
    finally:
        server.stop()


def test_promotion_and_rollback_through_the_api_are_gated_recorded_and_signed(
        two_runs: tuple[Server, StoreTarget, str], capsys: pytest.CaptureFixture[str]) -> None:
    from pot import verify_proof
    from pot.log.keys import SigningKey
    from pot.log.proof import ProvenanceProof

    served, target, writer = two_runs
    reader = make_token(target, capsys, "", write=False)
    other = make_token(target, capsys, "other-", write=True)
    passing = {"stage": "production", "gate": {"thresholds": {"accuracy": {">=": 0.8}}}}
    assert served.post("/v1/models/net-a/promote", json=passing).status_code == 401
    assert served.post("/v1/models/net-a/promote", reader, json=passing).status_code == 403
    assert served.post("/v1/models/net-a/promote", other, json=passing).status_code == 403
    for body, status, words in (
            ({"stage": "production"}, 422, "the body must be"),
            ({**passing, "extra": 1}, 422, "the body must be"),
            ({**passing, "gate": {"thresholds": {"accuracy": {"~": 1}}}}, 422, "~"),
            ({**passing, "stage": 7}, 422, "stage must be a string"),
            ({**passing, "gate": "{}"}, 422, "gate must be an object"),
            ({**passing, "validator": "nobody"}, 400, "no validation of 'net-a' by 'nobody'")):
        answer = served.post("/v1/models/net-a/promote", writer, json=body)
        assert answer.status_code == status and words in answer.json()["error"], (body, answer.text)
    assert served.post("/v1/models/net-a/promote", writer, content=b"{").status_code == 400
    assert served.post("/v1/models/net-zzz/promote", writer, json=passing).status_code == 404
    assert served.get("/v1/models").json()["models"][0]["size"] == 6  # nothing refused was recorded

    promoted = served.post("/v1/models/net-a/promote", writer, json={**passing, "validator": "val"})
    assert promoted.status_code == 200, promoted.text
    answer = promoted.json()
    assert answer["promoted"] is True and answer["stage"] == "production" and answer["model_hash"] == digest(1)
    refused = served.post("/v1/models/net-a/promote", writer,
                          json={"stage": "production", "gate": {"thresholds": {"accuracy": {">=": 0.95}}}})
    assert refused.status_code == 200 and refused.json()["promoted"] is False  # a refusal is a recorded decision

    # the same keys as `pot promote --json` prints locally
    capsys.readouterr()
    assert main([*target.cli(), "--json", "promote", "--model-id", "net-b", "--stage", "production", "--gate",
                 json.dumps(passing["gate"])]) == 0
    assert set(json.loads(capsys.readouterr().out)) == set(answer)

    never = served.post("/v1/models/net-a/rollback", writer,
                        json={"stage": "production", "to": digest(5), "reason": "bad"})
    assert never.status_code == 400 and "was never promoted" in never.json()["error"]
    assert served.post("/v1/models/net-a/rollback", writer, json={"stage": "production", "to": digest(1)}
                       ).status_code == 422
    rolled = served.post("/v1/models/net-a/rollback", writer,
                         json={"stage": "production", "to": digest(1), "reason": "regression in canary"})
    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["from_model_hash"] == digest(1) and rolled.json()["reason"] == "regression in canary"

    history = served.get("/v1/models/net-a/history").json()
    assert [r["event"] for r in history[6:]] == ["ModelPromoted", "PromotionRefused", "ModelRolledBack"]
    assert {r["node_id"] for r in history[6:]} == {"pot-serve"}
    proof = ProvenanceProof.from_json(served.get("/v1/models/net-a/proof").content)
    report = verify_proof(proof, trusted_key=SigningKey.load(target.root / "signing-key.pem").public)
    assert report.ok and report.log_size == 9  # the verifier derived each recorded decision again
    assert served.get("/v1/models/net-a/heads").json()["heads"][-1]["head"]["tree_size"] == 9


def test_a_promotion_judges_the_validation_that_landed_while_it_was_deciding(
        store_target: StoreTarget, tmp_path: Path) -> None:
    """The decision is made on the log as it stands when the event is appended: a validation appended between
    reading the log and appending the event makes the server read and decide again."""
    from pot.log.keys import SigningKey
    from pot.server import service

    assert main([*store_target.cli(), "init"]) == 0
    key = SigningKey.load(store_target.root / "signing-key.pem")
    store = store_target.open()
    try:
        def validation(ikey: str, accuracy: float) -> dict[str, Any]:
            return {"records": [{"idempotency_key": ikey, "type": "validation", "fields": {
                "model_hash": digest(1), "validator_id": "val", "validation_result": {"accuracy": accuracy},
                "confidence_score": None, "challenge_hash": None, "node_id": "validator"}}]}

        service.append_batch(store, key, "m", validation("v1", 0.5))
        real_records = store.records
        reads: list[int] = []

        def records_then_a_validation_lands(model_id: str, start: int = 0, end: int | None = None) -> Any:
            read = list(real_records(model_id, start, end))
            reads.append(len(read))
            if len(reads) == 1:  # once: after the server read the log, another client appends a passing validation
                service.append_batch(store, key, "m", validation("v2", 0.99))
            return iter(read)

        store.records = records_then_a_validation_lands  # type: ignore[method-assign]
        answer = service.promote(store, key, "m", {"stage": "prod", "gate": {"thresholds": {"accuracy": {">=": 0.9}}}})
        assert reads == [1, 2]  # read, found stale when appending, read again
        assert answer["promoted"] is True and answer["inputs"][0]["metrics"] == {"accuracy": 0.99}
        assert [r.seq for r in real_records("m")] == [0, 1, 2]
    finally:
        store.close()


def test_every_route_has_a_summary_and_the_decision_bodies_are_in_the_schema(tmp_path: Path) -> None:
    target = StoreTarget(tmp_path / "store", None)  # the schema does not depend on the backend
    assert main([*target.cli(), "init"]) == 0
    served = start_server(target, tmp_path)
    try:
        schema = served.get("/openapi.json").json()
    finally:
        served.stop()
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            assert operation.get("summary"), (method, path)
    for route, required in (("promote", ["stage", "gate"]), ("rollback", ["stage", "to", "reason"])):
        body = schema["paths"][f"/v1/models/{{model_id}}/{route}"]["post"]["requestBody"]
        assert body["content"]["application/json"]["schema"]["required"] == required
