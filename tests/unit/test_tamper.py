"""Any single value changed, any record removed, duplicated or reordered, or another signer: verification fails."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pot import ProvenanceProof, ProvenanceRecorder, verify_proof
from pot.errors import FormatError, MalformedProof, SignerError, VerificationError
from pot.log.canonical import DOMAIN_ANCHOR_RECEIPT, DOMAIN_LOCAL_CHAIN_ENTRY, DOMAIN_PROOF, DOMAIN_TREE_HEAD
from pot.log.keys import PublicKey, SigningKey
from pot.log.proof import signed_view

from .conftest import StepClock, digest

HEX = re.compile(r"[0-9a-f]+")
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], PublicKey]:
    """A proof with every kind of record: a run (config, environment, parents), steps, checkpoints, validations, a
    metric, an artifact, a promotion and a rollback; several heads, consistency proofs and local anchors."""
    from pot import ProvenanceConfig
    from pot.lineage.events import parent_dataset

    tmp = tmp_path_factory.mktemp("tamper")
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(tmp / "store"), batch_size=100,
                                                   step_block=4), clock=StepClock())
    artifact = tmp / "weights.bin"
    artifact.write_bytes(b"weights")
    with recorder.start_run("m", config={"lr": 0.1, "layers": [64, 10]}, capture=False,
                            parents=[parent_dataset("digits", digest="d" * 64)]) as run:
        for epoch in range(7):
            for step in range(2):
                recorder.record_step(epoch * 2 + step + 1, {"loss": 1 / (epoch + step + 1)}, "m", epoch=epoch,
                                     batch=digest(100 + epoch * 2 + step))  # recorded for replay
            recorder.record_training_checkpoint(model_hash=digest(epoch), metrics={"loss": 1 / (epoch + 1),
                                                                                   "acc": 0.5},
                                                epoch=epoch, model_id="m", step=epoch * 10,
                                                optimizer_hash=digest(200 + epoch), rng_hash=digest(300 + epoch))
            if epoch % 3 == 2:
                recorder.record_validation(model_hash=digest(epoch), validator_id="holdout",
                                           validation_result={"accuracy": 0.9, "confidence": 0.8, "n": 100},
                                           model_id="m", challenge_hash="c" * 64)
                recorder.flush()
        run.log_metric("test_accuracy", 0.88, step=70)
        run.log_artifact(artifact)
    recorder.promote("m", "staging", {"thresholds": {"accuracy": {">=": 0.85}}})
    recorder.rollback("m", "staging", digest(5), "canary errors")
    document = recorder.generate_proof_of_training("m").to_json()
    key = recorder.public_key
    recorder.close()
    assert len(document["tree_heads"]) >= 3
    assert {r["type"] for r in document["records"]} == {"checkpoint", "validation", "steps", "event"}
    # the fields recorded for replay are in it, so that changing any of them is among the changes tried
    assert all("batches" in r for r in document["records"] if r["type"] == "steps")
    assert all("optimizer_hash" in r and "rng_hash" in r for r in document["records"] if r["type"] == "checkpoint")
    return document, key


def verify_document(document: dict[str, Any], key: PublicKey | None = None) -> None:
    proof = ProvenanceProof.from_json(json.dumps(document))
    verify_proof(proof, trusted_key=key)


def leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, (*path, index))
    else:
        yield path, value


def changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 0.125
    if value is None:
        return "0" * 64
    assert isinstance(value, str)
    if TIMESTAMP.fullmatch(value):
        return value[:18] + str((int(value[18]) + 1) % 10) + value[19:]  # one second later or earlier, still valid
    if value and HEX.fullmatch(value):
        return "0123456789abcdef"[("0123456789abcdef".index(value[0]) + 1) % 16] + value[1:]
    return value + "x"


def set_path(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    copied = copy.deepcopy(document)
    target: Any = copied
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copied


def test_the_untouched_proof_verifies(signed: tuple[dict[str, Any], PublicKey]) -> None:
    document, key = signed
    verify_document(document, key)


def test_every_single_value_changed_fails_verification(signed: tuple[dict[str, Any], PublicKey]) -> None:
    document, _ = signed
    paths = list(leaves(document))
    assert len(paths) > 300
    for path, value in paths:
        tampered = set_path(document, path, changed(value))
        if path == ("media_type",):
            with pytest.raises(FormatError, match="not a pot proof|unsupported proof version"):
                verify_document(tampered)
            continue
        with pytest.raises(VerificationError):
            verify_document(tampered)  # no pinned key: the document's own signatures must catch it


@pytest.mark.parametrize("edit", ["remove-first", "remove-middle", "remove-last", "duplicate", "swap", "reverse"])
def test_removed_duplicated_or_reordered_records_fail(signed: tuple[dict[str, Any], PublicKey], edit: str) -> None:
    document, key = signed
    tampered = copy.deepcopy(document)
    records = tampered["records"]
    if edit == "remove-first":
        del records[0]
    elif edit == "remove-middle":
        del records[len(records) // 2]
    elif edit == "remove-last":
        del records[-1]
    elif edit == "duplicate":
        records.insert(3, copy.deepcopy(records[3]))
    elif edit == "swap":
        records[1], records[2] = records[2], records[1]
    else:
        records.reverse()
    with pytest.raises(VerificationError):
        verify_document(tampered, key)


def test_removing_a_bad_validation_and_resigning_everything_is_detected(
        signed: tuple[dict[str, Any], PublicKey]) -> None:
    """The forger holds no signing key: dropping a record and recomputing ids cannot restore the roots."""
    document, key = signed
    tampered = copy.deepcopy(document)
    tampered["records"] = [r for r in tampered["records"] if r["type"] != "validation"]
    for seq, record in enumerate(tampered["records"]):
        record["seq"] = seq
    with pytest.raises(VerificationError):
        verify_document(tampered, key)


def resign(document: dict[str, Any], key: SigningKey) -> dict[str, Any]:
    """Everything a thief with their own key can do: re-sign every head, receipt, entry and the document."""
    from pot.log.heads import TreeHead

    forged = copy.deepcopy(document)
    forged["signer"] = {"algorithm": "ed25519", "public_key": key.public.hex, "key_id": key.key_id}
    old_to_new: dict[str, str] = {}
    previous = None
    for entry in forged["tree_heads"]:
        head = entry["head"]
        old_hash = TreeHead.from_body(head).head_hash
        head["key_id"] = key.key_id
        head["prev_head"] = previous
        entry["signature"] = key.sign(DOMAIN_TREE_HEAD, head)
        previous = TreeHead.from_body(head).head_hash
        old_to_new[old_hash] = previous
    for receipt in forged["anchors"]:
        receipt["head_hash"] = old_to_new[receipt["head_hash"]]
        receipt["key_id"] = key.key_id
        chain_entry = receipt["details"]["entry"]
        chain_entry["head_hash"] = receipt["head_hash"]
        chain_entry["key_id"] = key.key_id
        receipt["details"]["entry_signature"] = key.sign(DOMAIN_LOCAL_CHAIN_ENTRY, chain_entry)
        receipt["signature"] = key.sign(DOMAIN_ANCHOR_RECEIPT, {k: v for k, v in receipt.items() if k != "signature"})
    body = {k: v for k, v in forged.items() if k != "signature_hash"}
    forged["signature_hash"] = key.sign(DOMAIN_PROOF, signed_view(body))
    return forged


def test_a_proof_signed_by_another_key_fails_against_the_pinned_key(
        signed: tuple[dict[str, Any], PublicKey]) -> None:
    document, key = signed
    forged = resign(document, SigningKey.generate())
    verify_document(forged)  # self-consistent: without a pinned key this is all a verifier can say ...
    with pytest.raises(SignerError, match="not by the trusted public key"):
        verify_document(forged, key)  # ... and the pinned key exposes it


def test_unpinned_report_says_so(signed: tuple[dict[str, Any], PublicKey]) -> None:
    document, _ = signed
    report = verify_proof(ProvenanceProof.from_json(json.dumps(document)))
    assert not report.signer_pinned
    assert any("not pinned" in note for note in report.notes)


def test_failure_carries_a_report_of_every_check(signed: tuple[dict[str, Any], PublicKey]) -> None:
    document, key = signed
    tampered = set_path(document, ("records", 2, "metrics", "loss"), 0.01)
    with pytest.raises(VerificationError) as info:
        verify_document(tampered, key)
    report = info.value.report
    assert report is not None and not report.ok
    names = [c.name for c in report.checks]
    assert names[:3] == ["signer", "records", "tree-heads"] and "proof-signature" in names
    failed = {c.name for c in report.checks if not c.passed}
    assert {"records", "tree-heads"} <= failed  # its id no longer matches, so neither do the roots


def test_malformed_content_is_a_verification_failure(signed: tuple[dict[str, Any], PublicKey]) -> None:
    document, _ = signed
    first = next(i for i, r in enumerate(document["records"]) if r["type"] == "checkpoint")
    with pytest.raises(MalformedProof, match="epoch must be >= 0"):
        verify_document(set_path(document, ("records", first, "epoch"), -1))


Mutation = Callable[[dict[str, Any]], None]


def test_inner_fields_are_bound_without_the_envelope_signature(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Re-sign the whole document with the true key after each change (as the signer could): every record, head,
    consistency and receipt value is still caught by its own hash or signature, and every summary value by the
    summary check. Only the proof's own timestamp and generator label are the signer's to restate."""
    from pot import ProvenanceConfig

    store = tmp_path_factory.mktemp("inner") / "store"
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store), batch_size=100),
                                  clock=StepClock())
    for epoch in range(5):
        recorder.record_training_checkpoint(model_hash=digest(epoch), metrics={"loss": 0.5}, epoch=epoch,
                                            model_id="m")
        recorder.flush()
    recorder.record_validation(model_hash=digest(4), validator_id="v", validation_result={"acc": 1},
                               model_id="m")
    document = recorder.generate_proof_of_training("m").to_json()
    signer = recorder.key
    recorder.close()
    restatable = {("proof_timestamp",), ("verification_metadata", "generator")}
    for path, value in leaves(document):
        if path in (("media_type",), ("signature_hash",)):
            continue
        tampered = set_path(document, path, changed(value))
        tampered["signature_hash"] = signer.sign(DOMAIN_PROOF, signed_view({k: v for k, v in tampered.items()
                                                                            if k != "signature_hash"}))
        if path in restatable:
            verify_document(tampered, signer.public)
            continue
        with pytest.raises(VerificationError):
            verify_document(tampered, signer.public)


def test_pot_verify_exits_1_for_every_single_changed_value(signed: tuple[dict[str, Any], PublicKey],
                                                           tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 2's criterion at the command line: any single value changed, media_type included, exits 1."""
    from pot.cli import main

    document, key = signed
    path = tmp_path / "tampered.proof.json"
    for leaf_path, value in leaves(document):
        path.write_text(json.dumps(set_path(document, leaf_path, changed(value))))
        assert main(["verify", "--proof", str(path), "--trusted-key", key.hex]) == 1, leaf_path
        out, err = capsys.readouterr()
        assert "FAILED" in out and "Traceback" not in out + err
    path.write_text(json.dumps(document))
    assert main(["verify", "--proof", str(path), "--trusted-key", key.hex]) == 0
