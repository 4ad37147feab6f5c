"""The command line: the seed's verbs and flags, exit codes, one clear line for every bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pot.cli import EXIT_CODES_HELP, main

from ..support.readonly import read_only

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POT_HOME", raising=False)
    monkeypatch.delenv("POT_KEY_PASSPHRASE", raising=False)
    assert main(["init"]) == 0
    return tmp_path / ".pot"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def checkpoint(capsys: pytest.CaptureFixture[str], epoch: int = 1, model_id: str = "my_model",
               metrics: str = '{"loss": 0.1, "accuracy": 0.95}') -> tuple[int, str, str]:
    return run(capsys, "checkpoint", "--model-hash", "0x1234567890abcdef", "--epoch", str(epoch), "--metrics",
               metrics, "--model-id", model_id)


def test_seed_session_end_to_end(store: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    capsys.readouterr()
    for epoch in range(3):
        code, out, _ = checkpoint(capsys, epoch)
        assert code == 0 and len(out.strip()) == 64
    code, out, _ = run(capsys, "validate", "--model-hash", "0x1234567890abcdef", "--validator", "official_suite",
                       "--result", '{"accuracy": 0.95, "confidence": 0.9}', "--model-id", "my_model")
    assert code == 0
    code, out, _ = run(capsys, "proof", "--model-id", "my_model", "--output", "my_model_proof.json")
    assert code == 0 and "4 record(s)" in out
    code, out, _ = run(capsys, "verify", "--proof", "my_model_proof.json")
    assert code == 0 and out.rstrip().endswith("VERIFIED") and "NOT pinned" in out
    code, key, _ = run(capsys, "key", "public")
    code, out, _ = run(capsys, "verify", "--proof", "my_model_proof.json", "--trusted-key", key.strip(),
                       "--local-chain", str(store / "localchain.jsonl"))
    assert code == 0 and "signed by the trusted public key" in out and "local-chain" in out
    code, out, _ = run(capsys, "history", "--model-id", "my_model")
    assert code == 0 and "validation by official_suite" in out and "checkpoint epoch 2" in out
    code, out, _ = run(capsys, "--json", "history", "--model-id", "my_model")
    assert [r["kind"] for r in json.loads(out)] == ["checkpoint"] * 3 + ["validation"]
    code, out, _ = run(capsys, "test")
    assert code == 0 and "all checks passed" in out


def test_each_call_appends_and_never_overwrites(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = [checkpoint(capsys, epoch)[1].strip() for epoch in range(3)]
    _, out, _ = run(capsys, "--json", "history", "--model-id", "my_model")
    assert [r["checkpoint_id"] for r in json.loads(out)] == ids


def test_verify_with_another_key_exits_1(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pot.log.keys import SigningKey

    checkpoint(capsys)
    run(capsys, "proof", "--model-id", "my_model", "--output", "p.json")
    code, out, _ = run(capsys, "verify", "--proof", "p.json", "--trusted-key", SigningKey.generate().public.hex)
    assert code == 1 and "FAILED: signer" in out


def test_tampered_proof_exits_1(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint(capsys)
    run(capsys, "proof", "--model-id", "my_model", "--output", "p.json")
    document = json.loads(Path("p.json").read_text())
    document["records"][0]["metrics"]["loss"] = 0.01
    Path("p.json").write_text(json.dumps(document))
    code, out, _ = run(capsys, "verify", "--proof", "p.json")
    assert code == 1 and "FAILED: records" in out
    code, out, _ = run(capsys, "--json", "verify", "--proof", "p.json")
    report = json.loads(out)
    assert code == 1 and report["ok"] is False
    assert {c["name"] for c in report["checks"] if not c["passed"]} >= {"records", "tree-heads"}


@pytest.mark.parametrize(("argv", "message"), [
    (["checkpoint", "--model-hash", "h", "--epoch", "-3", "--metrics", "{}", "--model-id", "m"],
     "--epoch must be >= 0, got -3"),
    (["checkpoint", "--model-hash", "h", "--epoch", "1", "--metrics", "{loss: 1}", "--model-id", "m"],
     "--metrics is not valid JSON"),
    (["checkpoint", "--model-hash", "h", "--epoch", "1", "--metrics", "[1, 2]", "--model-id", "m"],
     "--metrics must be a JSON object"),
    (["checkpoint", "--model-hash", "h", "--epoch", "1", "--metrics", '{"loss": "low"}', "--model-id", "m"],
     "metrics.loss must be a number"),
    (["checkpoint", "--model-hash", "h", "--epoch", "one", "--metrics", "{}", "--model-id", "m"],
     "argument --epoch: invalid int value"),
    (["checkpoint", "--model-hash", "h", "--epoch", "1", "--metrics", "{}"], "required: --model-id"),
    (["validate", "--model-hash", "h", "--validator", "v", "--result", "nope", "--model-id", "m"],
     "--result is not valid JSON"),
    (["validate", "--model-hash", "h", "--validator", "v", "--result", "{}", "--model-id", "m", "--confidence", "7"],
     r"confidence_score must be a number in \[0, 1\]"),
    (["proof", "--model-id", "ghost", "--output", "x.json"], "unknown model id 'ghost'"),
    (["history", "--model-id", "ghost"], "unknown model id 'ghost'"),
    (["verify", "--proof", "missing.json"], "no proof file at missing.json"),
    (["verify", "--proof", "."], "is a directory"),
    (["verify", "--proof", "x.json", "--trusted-key", "beef"], "a public key must be 64 hex digits"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_input_gets_one_line_and_exit_2(store: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                            message: str) -> None:
    checkpoint(capsys, model_id="kept")
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert re.search(message, err), err
    # nothing already stored is lost or changed
    code, out, _ = run(capsys, "--json", "history", "--model-id", "kept")
    assert code == 0 and len(json.loads(out)) == 1


def test_missing_store_and_key_exit_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POT_HOME", raising=False)
    code, _, err = checkpoint(capsys)
    assert code == 3 and "no pot store at .pot; run `pot init`" in err
    main(["init"])
    checkpoint(capsys)
    (tmp_path / ".pot" / "signing-key.pem").unlink()
    code, _, err = checkpoint(capsys)
    assert code == 3 and "no signing key at" in err and len(err.strip().splitlines()) == 1
    code, out, _ = run(capsys, "key", "public")  # the public half stays readable: it needs no private key
    assert code == 0 and len(out.strip()) == 64
    (tmp_path / ".pot" / "signing-key.pub").unlink()
    code, _, err = run(capsys, "key", "public")
    assert code == 3 and "no signing key at" in err


def test_wrong_passphrase_exits_3_without_echoing_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POT_HOME", raising=False)
    monkeypatch.setenv("POT_KEY_PASSPHRASE", "right-passphrase")
    assert main(["init"]) == 0
    checkpoint(capsys)
    monkeypatch.setenv("POT_KEY_PASSPHRASE", "wrong-passphrase")
    code, out, err = checkpoint(capsys)
    assert code == 3 and "wrong passphrase" in err and "wrong-passphrase" not in out + err
    monkeypatch.delenv("POT_KEY_PASSPHRASE")
    code, _, err = checkpoint(capsys)
    assert code == 3 and "set POT_KEY_PASSPHRASE" in err
    monkeypatch.setenv("POT_KEY_PASSPHRASE", "right-passphrase")
    code, out, _ = run(capsys, "--json", "history", "--model-id", "my_model")
    assert len(json.loads(out)) == 1


def test_read_only_store_exits_3_and_keeps_everything(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint(capsys, 0)
    before = (store / "pot.db").read_bytes(), (store / "localchain.jsonl").read_bytes()
    with read_only(store):
        code, _, err = checkpoint(capsys, 1)
    assert code == 3 and "read-only" in err and len(err.strip().splitlines()) == 1
    assert (store / "localchain.jsonl").read_bytes() == before[1]
    code, out, _ = run(capsys, "--json", "history", "--model-id", "my_model")
    assert [r["epoch"] for r in json.loads(out)] == [0]


def test_corrupt_store_exits_3(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("pot.db-wal", "pot.db-shm"):
        (store / name).unlink(missing_ok=True)
    (store / "pot.db").write_bytes(b"garbage" * 1000)
    code, _, err = checkpoint(capsys)
    assert code == 3 and "corrupt" in err


def test_help_documents_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert EXIT_CODES_HELP.splitlines()[1].strip() in out and "3  the environment refused" in out


@pytest.mark.parametrize("entry", [["pot"], [sys.executable, str(ROOT / "scripts" / "provenance_cli.py")]],
                         ids=["pot", "provenance_cli.py"])
def test_both_entry_points_work(entry: list[str], tmp_path: Path) -> None:
    env = {**os.environ, "POT_HOME": str(tmp_path / "store")}
    if entry == ["pot"]:
        entry = [str(Path(sys.executable).parent / "pot")]
    steps = [
        ["init"],
        ["checkpoint", "--model-hash", "0x1234", "--epoch", "0", "--metrics", '{"loss": 0.5}', "--model-id", "m"],
        ["proof", "--model-id", "m", "--output", str(tmp_path / "p.json")],
        ["verify", "--proof", str(tmp_path / "p.json")],
    ]
    for step in steps:
        result = subprocess.run(entry + step, env=env, capture_output=True, text=True, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    assert "VERIFIED" in result.stdout


def test_a_bug_is_one_line_and_exit_70(store: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import pot.cli

    def broken(args: object) -> int:
        raise RuntimeError("something pot did not expect")

    monkeypatch.setitem(pot.cli._handlers, "history", broken)
    code, _, err = run(capsys, "history")
    assert code == 70 and err.strip() == ("pot: internal error: RuntimeError: something pot did not expect (a bug in "
                                          "pot; set POT_DEBUG=1 for the traceback)")
    monkeypatch.setenv("POT_DEBUG", "1")
    with pytest.raises(RuntimeError):
        main(["history"])


def test_hash_a_file_a_safetensors_file_and_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import hashlib

    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    from pot.integrations.torch import model_hash

    state = {"w": torch.arange(12, dtype=torch.float32).reshape(3, 4), "b": torch.zeros(4)}
    save_file(state, str(tmp_path / "model.safetensors"))
    (tmp_path / "shards").mkdir()
    (tmp_path / "shards" / "a.bin").write_bytes(b"a" * 100)
    (tmp_path / "shards" / "b.bin").write_bytes(b"b" * 50)
    code, out, _ = run(capsys, "hash", str(tmp_path / "shards" / "a.bin"))
    assert code == 0 and out.split()[0] == hashlib.sha256(b"a" * 100).hexdigest()
    code, out, _ = run(capsys, "--json", "hash", str(tmp_path / "model.safetensors"))
    assert json.loads(out)["digest"] == model_hash(state)  # the weights' digest, as in memory
    code, out, _ = run(capsys, "hash", str(tmp_path / "shards"), "--manifest")
    assert code == 0 and "pot.file-set.v1, 2 entries" in out and "a.bin" in out
    code, _, err = run(capsys, "hash", str(tmp_path / "missing"))
    assert code == 2 and len(err.strip().splitlines()) == 1
