"""``pot --server URL VERB``: the read verbs against a real ``pot serve`` process on a free port print what the
local verbs print on the server's own store, with the same exit codes; errors are one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("httpx", reason="needs the [server] extra")
pytest.importorskip("fastapi", reason="needs the [server] extra")

from pot.cli import main

from ..conftest import StoreTarget
from .test_server import Server, make_token, start_server
from .test_server_reads import run_batch, two_runs

__all__ = ["two_runs"]  # the fixture, used here


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


READ_VERBS = [
    ["history"], ["history", "--model-id", "net-a"], ["runs", "list"], ["runs", "list", "-n", "1"],
    ["runs", "list", "--status", "failed"], ["runs", "show", "run-2"], ["runs", "compare", "run-1", "run-2"],
    ["lineage", "run-2"], ["lineage", "mnist"], ["lineage", "run-1", "--dot"]]


def test_server_read_verbs_print_what_the_local_verbs_print(
        two_runs: tuple[Server, StoreTarget, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    served, target, _ = two_runs
    elsewhere = ["--store", str(tmp_path / "no-store-here")]  # nothing is read from a local store
    for argv in READ_VERBS:
        for extra in ([], ["--json"]):
            local = run_cli(capsys, *target.cli(), *argv, *extra)
            remote = run_cli(capsys, "--server", served.url, *elsewhere, *argv, *extra)
            assert local[0] == 0 and local[2] == "" and local[1], (argv, local)
            assert remote == local, argv
    assert not (tmp_path / "no-store-here").exists()


def test_server_proof_and_config_are_the_files_the_local_verbs_write(
        two_runs: tuple[Server, StoreTarget, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pot.log.keys import SigningKey
    from pot.log.proof import ProvenanceProof

    served, target, _ = two_runs
    trusted = SigningKey.load(target.root / "signing-key.pem").public.hex  # out of band, not from the server
    code, out, err = run_cli(capsys, "--server", served.url, "proof", "--model-id", "net-a", "--output",
                             str(tmp_path / "p.json"), "--json")
    assert code == 0 and err == "", err
    assert json.loads(out)["disclosure"] == "full" and json.loads(out)["records"] == 6
    assert run_cli(capsys, "verify", str(tmp_path / "p.json"), "--trusted-key", trusted)[0] == 0
    assert run_cli(capsys, "verify", str(tmp_path / "p.json"), "--trusted-key", SigningKey.generate().public.hex
                   )[0] == 1

    validation = ProvenanceProof.load(tmp_path / "p.json").records[4].record_id
    code, out, _ = run_cli(capsys, "--server", served.url, "proof", "--model-id", "net-a", "--record", validation,
                           "--output", str(tmp_path / "partial.json"))
    assert code == 0 and out.startswith(f"wrote partial proof of net-a to {tmp_path / 'partial.json'}: 1 record(s)")
    assert run_cli(capsys, "verify", str(tmp_path / "partial.json"), "--trusted-key", trusted)[0] == 0

    assert run_cli(capsys, *target.cli(), "runs", "export-config", "run-1", "--out", str(tmp_path / "local.json")
                   )[0] == 0
    code, out, _ = run_cli(capsys, "--server", served.url, "runs", "export-config", "run-1", "--out",
                           str(tmp_path / "remote.json"))
    assert code == 0 and out == f"wrote the config of run-1 to {tmp_path / 'remote.json'}\n"
    assert (tmp_path / "remote.json").read_bytes() == (tmp_path / "local.json").read_bytes()

    pytest.importorskip("matplotlib")
    code, out, err = run_cli(capsys, "--server", served.url, "history", "--model-id", "net-a", "--plot",
                             str(tmp_path / "metrics.png"))
    assert code == 0 and out.endswith(f"plotted to {tmp_path / 'metrics.png'}\n"), err
    assert (tmp_path / "metrics.png").read_bytes().startswith(b"\x89PNG")


def test_server_errors_are_one_line_with_the_local_exit_codes(
        two_runs: tuple[Server, StoreTarget, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ..support.served import free_port

    served, _, _ = two_runs
    out_file = str(tmp_path / "p.json")
    for argv, code, words in (
            (["--server", served.url, "history", "--model-id", "nobody"], 2, "404: unknown model id 'nobody'"),
            (["--server", served.url, "runs", "show", "nobody"], 2, "unknown run id"),
            (["--server", served.url, "lineage", "nobody"], 2, "unknown lineage id"),
            (["--server", served.url, "proof", "--model-id", "nobody", "--output", out_file], 2, "unknown model"),
            (["--server", served.url, "proof", "--model-id", "net-a", "--record", "ab" * 32, "--output", out_file],
             2, "no record"),
            (["--server", served.url, "runs", "stats"], 2, "--server works with the read verbs"),
            (["--server", served.url, "--database", "postgresql://pot@127.0.0.1:1/pot", "history"], 2, "give one"),
            (["--server", served.url, "init"], 2, "--server works with the read verbs"),
            (["--server", "ftp://example.org", "history"], 2, "http:// or https://"),
            (["--server", "http://user:secret@127.0.0.1:1", "history"], 2, "no user or password"),
            (["--server", f"http://127.0.0.1:{free_port()}", "history"], 3, "cannot reach the server"),
            (["--server", served.url + "/v1/key/", "history"], 2, "404")):
        result = run_cli(capsys, *argv)
        assert result[0] == code and result[1] == "", (argv, result)
        assert result[2].startswith("pot: error: ") and result[2].count("\n") == 1 and words in result[2], result
        assert "secret" not in result[2]
    assert not (tmp_path / "p.json").exists()


def test_server_reads_of_a_private_server_take_the_token_from_the_environment(
        store_target: StoreTarget, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert main([*store_target.cli(), "init"]) == 0
    writer = make_token(store_target, capsys, "net-", write=True)
    server = start_server(store_target, tmp_path, "--private")
    try:
        assert server.post("/v1/models/net-a/records", writer, json=run_batch("run-1", lr=0.1, dataset="d")
                           ).status_code == 200
        monkeypatch.delenv("POT_SERVER_TOKEN", raising=False)
        code, out, err = run_cli(capsys, "--server", server.url, "runs", "list")
        assert code == 3 and out == "" and "401" in err and "set POT_SERVER_TOKEN" in err
        monkeypatch.setenv("POT_SERVER_TOKEN", "pot_0000000000000000_wrong")
        code, _, err = run_cli(capsys, "--server", server.url, "runs", "list")
        assert code == 3 and "is POT_SERVER_TOKEN right?" in err and "wrong" not in err
        monkeypatch.setenv("POT_SERVER_TOKEN", make_token(store_target, capsys, "other-", write=False))
        code, _, err = run_cli(capsys, "--server", server.url, "history", "--model-id", "net-a")
        assert code == 3 and "403" in err
        monkeypatch.setenv("POT_SERVER_TOKEN", writer)
        code, out, err = run_cli(capsys, "--server", server.url, "--json", "runs", "list")
        assert code == 0 and [r["run_id"] for r in json.loads(out)] == ["run-1"]
        assert writer not in out + err
    finally:
        server.stop()


def test_the_token_is_not_sent_on_where_a_redirect_points(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Two real HTTP servers: the one --server names redirects to the other, which must not receive the token."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: dict[str, str | None] = {}

    class Elsewhere(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen["elsewhere"] = self.headers.get("Authorization")
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"error": "nothing here"}')

        def log_message(self, *args: object) -> None:
            pass

    elsewhere = ThreadingHTTPServer(("127.0.0.1", 0), Elsewhere)

    class Redirecting(Elsewhere):
        def do_GET(self) -> None:
            seen["named"] = self.headers.get("Authorization")
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{elsewhere.server_port}{self.path}")
            self.end_headers()

    named = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (elsewhere, named)]
    for thread in threads:
        thread.start()
    try:
        monkeypatch.setenv("POT_SERVER_TOKEN", "pot_00000000_redirected")
        code, out, err = run_cli(capsys, "--server", f"http://127.0.0.1:{named.server_port}", "history")
        assert code == 2 and out == "" and "nothing here" in err and "redirected" not in err
        assert seen == {"named": "Bearer pot_00000000_redirected", "elsewhere": None}
    finally:
        for server in (elsewhere, named):
            server.shutdown()
            server.server_close()
