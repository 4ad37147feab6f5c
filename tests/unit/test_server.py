"""``pot serve`` against the real parts: uvicorn started in a subprocess on a free port (stopped by its pid), real
HTTP (httpx), a SQLite store and a real PostgreSQL database (tests/support/postgres.py). Tokens are made with the
``pot token`` command; proofs fetched from the server are verified offline with the key from the server's key file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

httpx = pytest.importorskip("httpx", reason="needs the [server] extra")
pytest.importorskip("fastapi", reason="needs the [server] extra")

from pot import verify_proof  # noqa: E402
from pot.cli import main  # noqa: E402
from pot.lineage import events  # noqa: E402
from pot.log.keys import SigningKey  # noqa: E402
from pot.log.proof import ProvenanceProof  # noqa: E402

from ..conftest import StoreTarget  # noqa: E402
from ..support.served import Started, free_port, start  # noqa: E402
from .conftest import digest  # noqa: E402
from .test_json_schemas import check  # noqa: E402

ROUTES = {
    ("get", "/v1/key"), ("get", "/v1/models"), ("get", "/v1/models/{model_id}/log"),
    ("get", "/v1/models/{model_id}/heads"), ("get", "/v1/models/{model_id}/proof"),
    ("post", "/v1/models/{model_id}/records"), ("get", "/v1/runs"), ("get", "/v1/runs/{run_id}"),
    ("post", "/v1/verify"), ("get", "/v1/models/{model_id}/history"), ("get", "/v1/runs/{run_id}/config"),
    ("get", "/v1/runs/{run_id}/compare/{other_id}"), ("get", "/v1/lineage/{node_id}"),
    ("post", "/v1/models/{model_id}/promote"), ("post", "/v1/models/{model_id}/rollback"),
}


def make_token(target: StoreTarget, capsys: pytest.CaptureFixture[str], scope: str, *, write: bool) -> str:
    capsys.readouterr()
    assert main([*target.cli(), "token", "create", "--scope", scope, *(["--write"] if write else [])]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("pot_") and "\n" not in token
    return token


Server = Started


def start_server(target: StoreTarget, tmp_path: Path, *flags: str) -> Server:
    port = free_port()
    return start(target.cli(), tmp_path / f"serve-{port}.log", *flags, port=port)


@pytest.fixture
def served(store_target: StoreTarget, tmp_path: Path) -> Iterator[Server]:
    assert main([*store_target.cli(), "init"]) == 0
    server = start_server(store_target, tmp_path)
    yield server
    server.stop()


def checkpoint(key: str, epoch: int, **fields: Any) -> dict[str, Any]:
    return {"idempotency_key": key, "type": "checkpoint",
            "fields": {"model_hash": digest(epoch), "epoch": epoch, "metrics": {"loss": 1.0 / (abs(epoch) + 1)},
                       "fingerprint_hash": None, "validation_hash": None, "node_id": "rank-0", **fields}}


def training_batch(run_id: str, *, started: dict[str, Any] | None = None,
                   last_metrics: dict[str, float] | None = None) -> dict[str, Any]:
    """What a recorder sends for a short run: its start (``started``: the RunStarted data), two checkpoints (the
    second with ``last_metrics``), a block of steps, a validation, its end."""
    if started is None:
        started = events.run_started("train", {"lr": 0.1}, {}, {}, "alice")
    last = {} if last_metrics is None else {"metrics": last_metrics}
    return {"records": [
        {"idempotency_key": "k0", "type": "event",
         "fields": {"event": events.RUN_STARTED, "run_id": run_id, "data": started, "node_id": "rank-0"}},
        checkpoint("k1", 0, run_id=run_id),
        {"idempotency_key": "k2", "type": "steps",
         "fields": {"steps": [1, 2, 3], "metrics": {"loss": [0.9, 0.8, 0.7]}, "run_id": run_id,
                    "node_id": "rank-1"}},
        checkpoint("k3", 1, run_id=run_id, **last),
        {"idempotency_key": "k4", "type": "validation",
         "fields": {"model_hash": digest(1), "validator_id": "val", "validation_result": {"accuracy": 0.9},
                    "confidence_score": 0.95, "challenge_hash": None, "node_id": "validator"}},
        {"idempotency_key": "k5", "type": "event",
         "fields": {"event": events.RUN_COMPLETED, "run_id": run_id, "data": events.run_completed("completed", None),
                    "node_id": "rank-0"}},
    ]}


def server_public_key(target: StoreTarget) -> Any:
    """The server's public key, out of band: from its key file, not from anything the server says."""
    return SigningKey.load(target.root / "signing-key.pem").public


def test_a_recorded_run_comes_back_as_a_proof_that_verifies_with_the_server_key(
        served: Server, store_target: StoreTarget, capsys: pytest.CaptureFixture[str]) -> None:
    writer = make_token(store_target, capsys, "team/", write=True)
    answer = served.post("/v1/models/team-net/records", writer, json=training_batch("run-1"))
    assert answer.status_code == 403, answer.text  # outside the token's scope
    writer = make_token(store_target, capsys, "team-", write=True)
    answer = served.post("/v1/models/team-net/records", writer, json=training_batch("run-1"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [r["seq"] for r in body["records"]] == [0, 1, 2, 3, 4, 5]
    assert not any(r["duplicate"] for r in body["records"])
    assert body["head"]["head"]["tree_size"] == 6

    # The same batch again, as a client does after losing the answer: nothing is added, the same ids come back.
    again = served.post("/v1/models/team-net/records", writer, json=training_batch("run-1"))
    assert again.status_code == 200, again.text
    assert [(r["id"], r["seq"], r["duplicate"]) for r in again.json()["records"]] == \
        [(r["id"], r["seq"], True) for r in body["records"]]
    assert served.get("/v1/models").json() == {"models": [{"model_id": "team-net", "size": 6, "signed_size": 6}]}

    page = served.get("/v1/models/team-net/log", params={"start": 4, "limit": 10}).json()
    assert page["size"] == 6 and page["next"] is None and [r["seq"] for r in page["records"]] == [4, 5]
    assert served.get("/v1/models/team-net/log", params={"limit": 2}).json()["next"] == 2
    heads = served.get("/v1/models/team-net/heads").json()["heads"]
    assert [h["head"]["tree_size"] for h in heads] == [6]

    trusted = server_public_key(store_target)
    proof = ProvenanceProof.from_json(served.get("/v1/models/team-net/proof").content)
    report = verify_proof(proof, trusted_key=trusted)
    assert report.ok and report.signer_pinned and report.record_count == 6
    assert proof.records[1].model_hash == digest(0)  # type: ignore[attr-defined]

    validation_id = body["records"][4]["id"]
    partial = served.get("/v1/models/team-net/proof", params=[("record", validation_id),
                                                              ("record", body["records"][1]["id"])])
    partial_proof = ProvenanceProof.from_json(partial.content)
    assert partial_proof.disclosure == "partial" and len(partial_proof.records) == 2
    assert verify_proof(partial_proof, trusted_key=trusted).ok
    unknown = served.get("/v1/models/team-net/proof", params={"record": "ab" * 32})
    assert unknown.status_code == 400 and "no record" in unknown.json()["error"]

    runs = served.get("/v1/runs", params={"model": "team-net"}).json()["runs"]
    assert [(r["run_id"], r["status"], r["kind"]) for r in runs] == [("run-1", "completed", "train")]
    assert served.get("/v1/runs", params={"model": "other"}).json() == {"runs": []}
    assert served.get("/v1/runs", params={"status": "failed"}).json() == {"runs": []}
    assert served.get("/v1/runs/run-1").json()["model_id"] == "team-net"

    verified = served.post("/v1/verify", content=partial.content, params={"trusted_key": trusted.hex})
    assert verified.status_code == 200 and verified.json()["ok"] is True and verified.json()["signer_pinned"]
    check("verify.schema.json", verified.json())  # what `pot verify --json` prints

    tampered = json.loads(partial.content)
    tampered["records"][1]["validation_result"]["accuracy"] = 0.99
    refused = served.post("/v1/verify", json=tampered).json()
    assert refused["ok"] is False and any(not c["passed"] for c in refused["checks"])
    check("verify.schema.json", refused)
    other_key = SigningKey.generate().public.hex
    assert served.post("/v1/verify", content=partial.content, params={"trusted_key": other_key}).json()["ok"] is False


def test_a_model_id_with_slashes_is_one_model_on_every_route(
        served: Server, store_target: StoreTarget, capsys: pytest.CaptureFixture[str]) -> None:
    # The example names its models "digits-mlp/<time>", and scopes are prefixes such as "team/": a model id may hold
    # slashes, which clients send percent-encoded (%2F) and the server decodes back into the one id.
    writer = make_token(store_target, capsys, "team/", write=True)
    answer = served.post("/v1/models/team%2Fa%2Fnet/records", writer, json=training_batch("run-1"))
    assert answer.status_code == 200, answer.text
    assert served.post("/v1/models/teamx%2Fnet/records", writer, json=training_batch("run-2")).status_code == 403
    assert served.get("/v1/models").json()["models"] == [{"model_id": "team/a/net", "size": 6, "signed_size": 6}]
    page = served.get("/v1/models/team%2Fa%2Fnet/log").json()
    assert [r["model_id"] for r in page["records"]] == ["team/a/net"] * 6
    assert served.get("/v1/models/team/a/net/log").json() == page  # unencoded slashes name the same model
    assert [h["head"]["tree_size"] for h in served.get("/v1/models/team%2Fa%2Fnet/heads").json()["heads"]] == [6]
    assert len(served.get("/v1/models/team%2Fa%2Fnet/history").json()) == 6
    assert served.get("/v1/models/team%2Fa/log").status_code == 404  # a prefix of the id is another, unknown model
    proof = ProvenanceProof.from_json(served.get("/v1/models/team%2Fa%2Fnet/proof").content)
    assert proof.model_id == "team/a/net"
    assert verify_proof(proof, trusted_key=server_public_key(store_target)).ok


def test_a_batch_cut_short_by_a_bad_record_appends_the_rest_when_sent_again(
        served: Server, store_target: StoreTarget, capsys: pytest.CaptureFixture[str]) -> None:
    writer = make_token(store_target, capsys, "", write=True)
    bad = {"records": [checkpoint("a", 0), checkpoint("b", -1), checkpoint("c", 2)]}
    answer = served.post("/v1/models/m/records", writer, json=bad)
    assert answer.status_code == 422 and "records[1]" in answer.json()["error"]
    # the record before the bad one is appended, and signed
    assert [h["head"]["tree_size"] for h in served.get("/v1/models/m/heads").json()["heads"]] == [1]
    fixed = {"records": [checkpoint("a", 0), checkpoint("b", 1), checkpoint("c", 2)]}
    answer = served.post("/v1/models/m/records", writer, json=fixed)
    assert [(r["seq"], r["duplicate"]) for r in answer.json()["records"]] == [(0, True), (1, False), (2, False)]
    assert verify_proof(ProvenanceProof.from_json(served.get("/v1/models/m/proof").content),
                        trusted_key=server_public_key(store_target)).ok


def test_idempotency_keys_belong_to_their_model(served: Server, store_target: StoreTarget,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    writer = make_token(store_target, capsys, "", write=True)
    first = served.post("/v1/models/a:b/records", writer, json={"records": [checkpoint("c", 0)]})
    second = served.post("/v1/models/a/records", writer, json={"records": [checkpoint("b:c", 0)]})
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert second.json()["records"][0]["duplicate"] is False
    assert {m["model_id"]: m["size"] for m in served.get("/v1/models").json()["models"]} == {"a": 1, "a:b": 1}


def test_bad_requests_get_a_4xx_with_a_json_error_never_a_500(
        served: Server, store_target: StoreTarget, capsys: pytest.CaptureFixture[str]) -> None:
    reader = make_token(store_target, capsys, "", write=False)
    writer = make_token(store_target, capsys, "m", write=True)
    batch = {"records": [checkpoint("a", 0)]}
    cases: list[tuple[int, httpx.Response]] = [
        (401, served.post("/v1/models/m/records", json=batch)),
        (401, served.post("/v1/models/m/records", "pot_00000000_wrong", json=batch)),
        (401, served.post("/v1/models/m/records", writer[:-1] + ("A" if writer[-1] != "A" else "B"), json=batch)),
        (401, served.post("/v1/models/m/records", headers={"Authorization": "Basic x"}, json=batch)),
        (403, served.post("/v1/models/m/records", reader, json=batch)),
        (403, served.post("/v1/models/x/records", writer, json=batch)),
        (400, served.post("/v1/models/m/records", writer, content=b'{"records": [')),
        (400, served.post("/v1/models/m/records", writer, content=b"\xff\xfe")),
        (400, served.post("/v1/models/m/records", writer, content=b'{"records": [], "records": []}')),
        (422, served.post("/v1/models/m/records", writer, json={"records": []})),
        (422, served.post("/v1/models/m/records", writer, json=[1, 2])),
        (422, served.post("/v1/models/m/records", writer, json={"records": [{"idempotency_key": "a"}]})),
        (422, served.post("/v1/models/m/records", writer,
                          json={"records": [{**checkpoint("a", 0), "type": "nonsense"}]})),
        (422, served.post("/v1/models/m/records", writer,
                          json={"records": [{**checkpoint("a", 0), "fields": {"seq": 5}}]})),
        (422, served.post("/v1/models/m/records", writer, json={"records": [checkpoint("a", 0), checkpoint("a", 1)]})),
        (422, served.post("/v1/models/m/records", writer, json={"records": [checkpoint("a", 0, node_id=None)]})),
        (413, served.post("/v1/models/m/records", writer, content=b" " * ((8 << 20) + 1))),
        (413, served.post("/v1/verify", content=b" " * ((8 << 20) + 1))),
        (404, served.get("/v1/models/nobody/log")),
        (404, served.get("/v1/models/nobody/proof")),
        (404, served.get("/v1/runs/nobody")),
        (404, served.get("/v1/nothing-here")),
        (405, served.post("/v1/models")),
        (422, served.get("/v1/runs", params={"limit": 0})),
        (422, served.get("/v1/models/m/log", params={"start": "x"})),
    ]
    for expected, answer in cases:
        assert answer.status_code == expected, (expected, answer.request.url, answer.text)
        assert isinstance(answer.json()["error"], str) and answer.json()["error"]
    # a body that is no proof gets the verifier's verdict, as `pot verify --json` gives it, not an error
    verdict = served.post("/v1/verify", content=b"{not json")
    assert verdict.status_code == 200 and verdict.json()["ok"] is False
    assert served.get("/v1/models").json() == {"models": []}  # nothing above was stored
    # the token's secret is never in the server's output
    served.stop()
    assert writer.split("_", 2)[2] not in served.log.read_text()


def test_a_revoked_token_writes_nothing(served: Server, store_target: StoreTarget,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    writer = make_token(store_target, capsys, "", write=True)
    assert served.post("/v1/models/m/records", writer, json={"records": [checkpoint("a", 0)]}).status_code == 200
    token_id = writer.split("_", 2)[1]
    assert main([*store_target.cli(), "token", "revoke", token_id]) == 0
    answer = served.post("/v1/models/m/records", writer, json={"records": [checkpoint("b", 1)]})
    assert answer.status_code == 401
    assert served.get("/v1/models").json()["models"][0]["size"] == 1


def test_the_openapi_schema_lists_every_route(served: Server) -> None:
    schema = served.get("/openapi.json").json()
    listed = {(method, path) for path, item in schema["paths"].items() for method in item}
    assert listed == ROUTES
    batch = schema["paths"]["/v1/models/{model_id}/records"]["post"]["requestBody"]["content"]["application/json"]
    assert "idempotency_key" in batch["schema"]["properties"]["records"]["items"]["properties"]
    forbidden = schema["paths"]["/v1/models/{model_id}/records"]["post"]["responses"]["403"]
    assert forbidden["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    guide = (Path(__file__).resolve().parents[2] / "docs" / "SERVER.md").read_text()
    for method, path in ROUTES:  # the guide documents each route too
        shown = path.replace("{model_id}", "{id}").replace("{run_id}", "{id}").replace("{node_id}", "{id}")
        assert f"{method.upper()} {shown}" in guide, path


@pytest.mark.postgres
def test_workers_sharing_one_database_hand_out_each_seq_once(
        postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Several server processes, several clients appending to one model at once: the database serialises them."""
    from concurrent.futures import ThreadPoolExecutor

    target = StoreTarget(tmp_path / "store", postgres_url)
    assert main([*target.cli(), "init"]) == 0
    writer = make_token(target, capsys, "", write=True)
    server = start_server(target, tmp_path, "--workers", "3")
    try:
        def send(client: int) -> list[int]:
            seqs = []
            for batch in range(5):
                records = [checkpoint(f"c{client}-b{batch}-r{r}", batch, node_id=f"client-{client}") for r in range(4)]
                answer = server.post("/v1/models/shared/records", writer, json={"records": records})
                assert answer.status_code == 200, answer.text
                seqs += [r["seq"] for r in answer.json()["records"]]
            return seqs

        with ThreadPoolExecutor(6) as pool:
            seqs = [seq for part in pool.map(send, range(6)) for seq in part]
        assert sorted(seqs) == list(range(6 * 5 * 4))
        proof = ProvenanceProof.from_json(server.get("/v1/models/shared/proof").content)
        report = verify_proof(proof, trusted_key=server_public_key(target))
        assert report.ok and report.log_size == 120
    finally:
        server.stop()


def test_private_reads_need_a_token_in_scope(store_target: StoreTarget, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*store_target.cli(), "init"]) == 0
    writer = make_token(store_target, capsys, "a", write=True)
    reader = make_token(store_target, capsys, "b", write=False)
    server = start_server(store_target, tmp_path, "--private")
    try:
        assert server.post("/v1/models/a1/records", writer, json={"records": [checkpoint("k", 0)]}).status_code == 200
        assert server.get("/v1/models").status_code == 401
        assert server.get("/v1/models/a1/proof").status_code == 401
        assert server.get("/v1/models", reader).json() == {"models": []}  # a1 is outside its scope
        assert server.get("/v1/models/a1/log", reader).status_code == 403
        assert server.get("/v1/models", writer).json()["models"][0]["model_id"] == "a1"
        assert server.get("/v1/models/a1/proof", writer).status_code == 200
    finally:
        server.stop()


def test_a_caller_over_the_rate_gets_429(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = StoreTarget(tmp_path / "store", None)
    assert main([*target.cli(), "init"]) == 0
    reader = make_token(target, capsys, "", write=False)
    server = start_server(target, tmp_path, "--rate", "0.01", "--burst", "3")
    try:
        statuses = [server.get("/v1/models", reader).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        assert server.get("/v1/models").status_code == 200  # another caller has its own bucket
        # Guessing tokens costs the address's requests: the readiness probe and the request above took two of its
        # three, so the first guess is answered (401) and every one after it is refused unread (429).
        guesses = [server.get("/v1/models", f"pot_0000000{i}_guess").status_code for i in range(3)]
        assert guesses == [401, 429, 429]
    finally:
        server.stop()


def test_token_commands_show_the_secret_once_and_store_only_its_hash(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = StoreTarget(tmp_path / "store", None)
    assert main([*target.cli(), "init"]) == 0
    token = make_token(target, capsys, "team-", write=True)
    token_id, secret = token.split("_", 2)[1:]
    assert main([*target.cli(), "--json", "token", "list"]) == 0
    listed = capsys.readouterr()
    assert secret not in listed.out + listed.err
    assert json.loads(listed.out) == [{"id": token_id, "scope": "team-", "write": True,
                                       "created": json.loads(listed.out)[0]["created"], "revoked": None}]
    with target.open() as store:
        stored = store.get_setting(f"token:{token_id}")
    assert secret not in stored and hashlib.sha256(secret.encode()).hexdigest() in stored
    assert main([*target.cli(), "token", "revoke", token_id]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main([*target.cli(), "token", "revoke", "nosuchid"]) == 2
    assert "no token with id" in capsys.readouterr().err


@pytest.mark.parametrize(("flags", "message"), [
    (["--port", "0"], "--port must be 1 to 65535"),
    (["--workers", "2"], "--workers above 1 needs --database"),
    (["--rate", "0"], "must be positive"),
])
def test_serve_refuses_bad_flags_in_one_line(flags: list[str], message: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--store", str(tmp_path / "store"), "serve", *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_serve_names_an_unreachable_database_without_its_password(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql://pot:hunter2-secret@127.0.0.1:1/pot"  # nothing listens on port 1
    assert main(["--store", str(tmp_path / "store"), "serve", "--database", url]) == 3
    err = capsys.readouterr().err
    assert "127.0.0.1:1/pot" in err and "hunter2" not in err and err.count("\n") == 1


def test_serve_help_points_to_the_server_guide(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--help"]) == 0
    out = capsys.readouterr().out
    assert "docs/SERVER.md" in out and "--private" in out and "pot token create" in out
