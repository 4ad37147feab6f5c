"""``pot show``: what an auditor reads of a proof made by the recorder, and what it refuses to present.

The proofs are real (tests.support.audit records runs with the recorder and writes their proofs); the tests read
the page a person reads and the JSON a script reads.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pot import ProvenanceConfig, ProvenanceRecorder
from pot.log.proof import ProvenanceProof
from tests.support.audit import CONFIG_A, EPOCHS_A, Audited, run_cli
from tests.support.forge import ethereum, forge, records, ts, unix
from tests.support.training_run import record_run


def section(text: str, title: str) -> str:
    """The paragraph of a page that starts with ``title``."""
    return next(p for p in text.split("\n\n") if p.startswith(title))


def test_a_verified_proof_reads_as_what_it_says(audited: Audited, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "show", str(audited.full), "--trusted-key", audited.public_key)
    assert code == 0 and err == ""
    proof = ProvenanceProof.load(audited.full)
    started = next(r for r in proof.records if getattr(r, "event", None) == "RunStarted")
    header = out.split("\n\n")[0].splitlines()
    assert header[0] == f"proof {audited.full}: VERIFIED (9 checks passed, offline; `pot verify` lists them)"
    assert header[1].startswith(f"  signer   signed by the trusted public key {audited.public_key}")
    assert header[2] == "  model    digits-a"
    assert header[3] == f"  weights  {audited.model_hashes_a[-1]} (the last checkpoint's digest)"
    assert header[4].startswith("  log      15 record(s) of 15, full disclosure; root " + proof.merkle_root)

    run_part = section(out, f"run {audited.run_a} (train): completed")
    git = started.data["git"]  # type: ignore[attr-defined]
    assert f"git {git['commit']}" in run_part if git["commit"] else "no git commit recorded" in run_part
    python = started.data["environment"]["python"]["version"]  # type: ignore[attr-defined]
    assert f"  env      Python {python} (CPython) on " in run_part
    config_rows = [line.split() for line in run_part.splitlines() if line.startswith("    ")][2:]
    assert config_rows == [["dropout", "0.1"], ["layers", "[64,32]"], ["lr", "0.1"], ["optimizer.momentum", "0.9"],
                           ["optimizer.name", "sgd"]]
    assert len(config_rows) == len(CONFIG_A) + 1  # the nested optimizer is two rows
    assert "  artifact weights.bin: sha256 " in run_part and "1,000 bytes" in run_part
    assert "  metric   test_loss = 0.31" in run_part

    metrics = section(out, "metrics per epoch (3 checkpoint(s)):").splitlines()
    assert metrics[1].split() == ["epoch", "step", "accuracy", "loss", "weights", "file"]
    for epoch, (line, values) in enumerate(zip(metrics[3:6], EPOCHS_A, strict=True)):
        assert line.split() == [str(epoch), str(2 * (epoch + 1)), str(values["accuracy"]), str(values["loss"]),
                                audited.model_hashes_a[epoch][:16] + "...", *(["weights.bin"] if epoch == 2 else [])]
    assert metrics[6] == "steps: 6 step(s), 1..6, in 3 record(s); last values: loss 0.416667 (step 6)"

    validations = section(out, "validations (1):").splitlines()
    assert validations[3].split()[:3] == ["9", "holdout", audited.model_hashes_a[-1][:16] + "..."]
    assert "accuracy 0.93, f1 0.9, split 20%" in validations[3] and validations[3].endswith("0.9")


def test_promotions_show_each_gate_and_why_it_passed_or_failed(audited: Audited,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run_cli(capsys, "show", str(audited.full))
    promotions = section(out, "promotions (3; every decision re-derived from its gate and inputs by the verifier):")
    weights = audited.model_hashes_a[-1][:16] + "..."
    assert promotions.splitlines()[1:] == [
        f"  seq 11 PROMOTED to staging: weights {weights}, gate accuracy >= 0.9, on validation seq 9 by holdout",
        "    ok   accuracy >= 0.9 (was 0.93)",
        f"  seq 12 REFUSED to production: weights {weights}, gate accuracy >= 0.99 and f1 >= 0.8, on validation "
        "seq 9 by holdout",
        "    FAIL accuracy >= 0.99 (was 0.93)",
        "    ok   f1 >= 0.8 (was 0.9)",
        "    why refused: accuracy 0.93 is not >= 0.99",
        f"  seq 13 REFUSED to canary: weights {weights}, gate score (0.7*accuracy + 0.3*f1) / 1 >= 0.95, on "
        "validation seq 9 by holdout",
        "    FAIL composite score 0.921 (needs >= 0.95)",
        "    why refused: composite score 0.921 is below min_score 0.95",
        f"  seq 14 ROLLED BACK staging to {weights} from {weights}: canary errors",
    ]


def test_the_time_each_head_proves_is_in_the_verifiers_words(audited: Audited,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    _, shown, _ = run_cli(capsys, "show", str(audited.full))
    _, verified, _ = run_cli(capsys, "verify", str(audited.full))
    heads = len(ProvenanceProof.load(audited.full).tree_heads)  # as many as the background signer made
    anchors = section(shown, f"anchors ({heads} localchain):").splitlines()
    # Every line pot verify prints about when the records existed, and its notes, word for word.
    said = verified[verified.index("  when the records existed"):verified.index("VERIFIED")].splitlines()
    assert anchors[1:] == said
    spans = f"head {heads}" if heads == 1 else f"heads 1-{heads}"
    assert f"    records 0..14 ({spans}): anchored on the local chain only: the signer's word" in anchors


def test_an_unpinned_signer_is_said_to_be_unpinned(audited: Audited, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "show", "--proof", str(audited.full))
    assert code == 0
    lines = out.splitlines()
    assert lines[1].endswith(", NOT pinned") and "not who signed it" in lines[2] and "--trusted-key" in lines[2]
    assert ("  note: the signer's key was not pinned (--trusted-key): this proves the document is self-consistent, "
            "not who signed it") in lines
    data = json.loads(run_cli(capsys, "--json", "show", str(audited.full))[1])
    assert data["model"]["signer"]["pinned"] is False and data["verification"]["signer_pinned"] is False


def test_json_holds_what_the_page_shows(audited: Audited, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "show", str(audited.full), "--json", "--trusted-key", audited.public_key)
    data = json.loads(out)
    assert code == 0 and data["ok"] is True and data["verification"]["ok"] is True
    assert data["model"]["final_model_hash"] == audited.model_hashes_a[-1]
    assert [c["metrics"] for c in data["checkpoints"]] == EPOCHS_A
    (only,) = data["runs"]
    assert only["run_id"] == audited.run_a and only["config"] == CONFIG_A and only["status"] == "completed"
    assert "packages" in only["environment"] and only["checkpoints"] == 3 and only["validations"] == 1
    assert [(p["stage"], p["promoted"]) for p in data["promotions"]] == [
        ("staging", True), ("production", False), ("canary", False)]
    assert data["promotions"][1]["reasons"] == ["accuracy 0.93 is not >= 0.99"]
    assert data["promotions"][0]["inputs"][0]["seq"] == 9
    assert data["rollbacks"][0]["reason"] == "canary errors"
    heads = data["verification"]["heads"]
    assert [a["backend"] for a in data["anchors"]] == ["localchain"] * len(heads)
    assert [a["tree_size"] for a in data["anchors"]] == [h["tree_size"] for h in heads]
    assert {h["dated_by"] for h in heads} == {"signer"} and heads[-1]["tree_size"] == 15


def test_a_partial_proof_names_no_final_weights(audited: Audited, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "show", str(audited.partial))
    assert code == 0
    assert "  weights  none named (a partial proof)" in out and "1 record(s) of 15, partial disclosure" in out
    assert "runs: none in this proof" in out and "metrics per epoch: no checkpoint" in out
    assert section(out, "validations (1):").splitlines()[3].split()[:2] == ["9", "holdout"]


def test_a_tampered_proof_is_shown_as_its_failure_and_nothing_else(audited: Audited, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    document = json.loads(audited.full.read_text())
    checkpoint = next(r for r in document["records"] if r["type"] == "checkpoint")
    checkpoint["metrics"]["accuracy"] = 0.99  # a better first epoch than was recorded
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(document))
    code, out, _ = run_cli(capsys, "show", str(tampered), "--trusted-key", audited.public_key)
    assert code == 1
    assert "  FAIL records " in out and "its id is not the hash of its content" in out
    assert out.rstrip().endswith("FAILED: records: record 2: its id is not the hash of its content (changed after "
                                 "signing?)\nnot shown: pot show presents only a proof that verifies")
    assert "VERIFIED" not in out and "metrics per epoch" not in out and "0.99" not in out
    code, out, _ = run_cli(capsys, "show", str(tampered), "--json")
    data = json.loads(out)
    assert code == 1 and data["ok"] is False and set(data) == {"ok", "proof", "verification"}
    assert data["verification"]["ok"] is False


def test_a_file_that_is_no_proof_fails_like_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "notes.json"
    path.write_text('{"model": "mine"}')
    code, out, _ = run_cli(capsys, "show", str(path))
    assert code == 1
    assert out.splitlines() == [f"proof {path}", "FAILED: format: this is not a pot proof (no media_type)",
                                "not shown: pot show presents only a proof that verifies"]


@pytest.mark.parametrize(("argv", "message"), [
    (["show"], "which proof? pot show FILE (or --proof FILE)"),
    (["show", "a.json", "--proof", "b.json"], "give the proof file once: as FILE or as --proof FILE, not both"),
    (["show", "missing.json"], "no proof file at missing.json"),
    (["show", "{proof}", "--trusted-key", "beef"], "a public key must be 64 hex digits"),
    (["show", "{proof}", "--now", "yesterday"], "--now: timestamp 'yesterday' is not of the form"),
    (["show", "{proof}", "--local-chain", "nowhere.jsonl"], "no local chain file at nowhere.jsonl"),
])
def test_bad_input_is_one_line_and_exit_2(audited: Audited, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, *(a.replace("{proof}", str(audited.full)) for a in argv))
    assert code == 2 and out == "" and message in err and len(err.strip().splitlines()) == 1


def test_text_from_the_proof_cannot_rewrite_the_screen(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    hostile = "sgd\x1b[2J\x1b[1;1H\nVERIFIED\u202e"
    record_run({"store": str(store), "model_id": "m", "config": {"optimizer": hostile, "note\nforged": 1},
                "epochs": [{"loss": 0.5}],
                "validation": {"validator": "holdout", "result": {"accuracy": 0.9, "remark": "\x07\u200bok"}}})
    with ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store))) as recorder:
        recorder.generate_proof_of_training("m").save(tmp_path / "m.json")
    code, out, _ = run_cli(capsys, "show", str(tmp_path / "m.json"))
    assert code == 0
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f\u200b\u202e]", out)
    assert "sgd\\x1b[2J\\x1b[1;1H\\x0aVERIFIED\\u202e" in out and "note\\x0aforged" in out
    assert "\\x07\\u200bok" in out
    assert not any(line.startswith(("VERIFIED", "forged")) for line in out.splitlines())


def test_an_invented_chain_receipt_is_the_signers_word_offline(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    made = records([{"type": "checkpoint", "model_id": "m", "timestamp": ts(i), "model_hash": f"{i:064x}",
                     "epoch": i, "metrics": {"loss": 1.0 / (i + 1)}, "fingerprint_hash": None,
                     "validation_hash": None} for i in range(4)])
    proof = forge(made, heads=[(2, ts(10)), (4, ts(20))], receipts=[(1, ethereum(unix(ts(3)) + 5), ts(40))])
    proof.save(tmp_path / "p.json")
    code, out, _ = run_cli(capsys, "show", str(tmp_path / "p.json"))
    assert code == 0
    anchors = section(out, "anchors (1 ethereum, 2 localchain):").splitlines()
    assert anchors[3].split() == ["4", "Ethereum", "21000001", "0x" + f"{2:064x}"]
    assert anchors[4] == "  (these transactions are the signer's word until `pot show --rpc URL` checks them)"
    assert ("    records 0..3 (heads 1-2): a chain receipt (block time 2026-11-22T12:00:08.000000Z) NOT checked "
            "against a chain: the signer's word until pot verify --rpc URL checks it") in anchors
    assert "existed by" not in out
    data = json.loads(run_cli(capsys, "--json", "show", str(tmp_path / "p.json"))[1])
    assert [h["strength"] for h in data["verification"]["heads"]] == ["chain-unchecked", "chain-unchecked"]
    assert data["anchors"][-1]["claimed_block_time"] == unix(ts(3)) + 5


def test_a_long_run_keeps_its_first_and_last_epochs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    config = {f"key{i:02d}": i for i in range(50)}
    record_run({"store": str(store), "model_id": "long", "config": config, "steps_per_epoch": 1,
                "epochs": [{"loss": 1 / (epoch + 1)} for epoch in range(45)]})
    with ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store))) as recorder:
        recorder.generate_proof_of_training("long").save(tmp_path / "long.json")
    code, out = run_cli(capsys, "show", str(tmp_path / "long.json"))[:2]
    assert code == 0 and all(f"    key{i:02d}  " in out for i in range(50))  # every configuration key
    metrics = section(out, "metrics per epoch (45 checkpoint(s)):").splitlines()
    epochs = [line.split()[0] for line in metrics[3:-1]]  # the last line is about steps
    assert epochs == [*map(str, range(20)), "...", *map(str, range(25, 45))]
    assert metrics[23] == "  ... 5 more (--json for all)"
    data = json.loads(run_cli(capsys, "--json", "show", str(tmp_path / "long.json"))[1])
    assert [c["epoch"] for c in data["checkpoints"]] == list(range(45))


HOSTILE = Path(__file__).resolve().parents[1] / "assets" / "hostile"
HOSTILE_PROOFS = sorted(p.name for p in HOSTILE.glob("*.json") if p.name not in ("cli-invocations.json",
                                                                                   "fuzz-index.json"))


@pytest.mark.parametrize("name", HOSTILE_PROOFS)
def test_hostile_proofs_are_refused_as_verify_refuses_them(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Every document of the hostile corpus (each one a proof a verifier must refuse): pot show fails it with the
    exit code pot verify gives, shows nothing of it as content, and prints no raw control character."""
    now = ("--now", "2026-12-01T00:00:00.000000Z")  # one clock for both: a report may name it
    verify_code, verified, _ = run_cli(capsys, "verify", str(HOSTILE / name), *now)
    code, out, err = run_cli(capsys, "show", str(HOSTILE / name), *now)
    assert code == verify_code == 1 and err == ""
    assert out.rstrip().endswith("not shown: pot show presents only a proof that verifies")
    assert out.splitlines()[:-1] == verified.splitlines()  # the failure, in verify's words
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]", out)
