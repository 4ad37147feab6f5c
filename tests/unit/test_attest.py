"""in-toto attestations (pot attest, pot verify-attestation): the envelope checked by implementations that are not
pot's (a from-scratch PAE from the DSSE protocol with cryptography's Ed25519, securesystemslib's DSSE, the
in-toto-attestation Statement and SLSA Provenance v1 bindings), the vectors, and tampering of every kind."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from google.protobuf import json_format
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement
from securesystemslib.dsse import Envelope as SslibEnvelope
from securesystemslib.exceptions import VerificationError as SslibVerificationError
from securesystemslib.signer import SSlibKey

from pot.attest import dsse
from pot.attest.intoto import (
    POT_PREDICATE_TYPE,
    SLSA_PREDICATE_TYPE,
    ProofFile,
    attest,
    verify_attestation,
)
from pot.cli import main
from pot.errors import AttestationError, UsageError, VerificationError
from pot.log.keys import PublicKey, SigningKey

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "assets" / "proofs" / "v1"
VECTORS = json.loads((ROOT / "tests" / "assets" / "vectors" / "attest-v1.json").read_text())
SEED = bytes(range(32))
NOW = datetime(2026, 11, 23, tzinfo=UTC)  # a day after the corpus proofs were made
CASES = VECTORS["attestations"]


def spec_pae(payload_type: str, body: bytes) -> bytes:
    """PAE written from the DSSE protocol text alone: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body."""
    kind = payload_type.encode("utf-8")
    return b" ".join([b"DSSEv1", str(len(kind)).encode(), kind, str(len(body)).encode(), body])


def sslib_key(public_hex: str) -> SSlibKey:
    key_id = hashlib.sha256(bytes.fromhex(public_hex)).hexdigest()  # pot's key id, as docs/ATTESTATIONS.md says
    return SSlibKey(key_id, "ed25519", "ed25519", {"public": public_hex})


def independent_check(envelope_text: str, public_hex: str) -> dict[str, Any]:
    """Everything a third party checks with no pot code: the DSSE signature twice over, the statement's shape."""
    document = json.loads(envelope_text)
    payload = base64.b64decode(document["payload"], validate=True)
    [signature] = document["signatures"]
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex)).verify(
        base64.b64decode(signature["sig"], validate=True), spec_pae(document["payloadType"], payload))
    accepted = SslibEnvelope.from_dict(json.loads(envelope_text)).verify([sslib_key(public_hex)], 1)
    assert list(accepted) == [hashlib.sha256(bytes.fromhex(public_hex)).hexdigest()] == [signature["keyid"]]
    assert document["payloadType"] == "application/vnd.in-toto+json"
    statement = json.loads(payload)
    # in-toto Statement v1, by the in-toto-attestation bindings: unknown fields refused, the rules validated.
    Statement.copy_from_pb(json_format.Parse(payload, statement_pb2.Statement())).validate()
    assert set(statement) == {"_type", "subject", "predicateType", "predicate"}
    if statement["predicateType"] == "https://slsa.dev/provenance/v1":
        json_format.ParseDict(statement["predicate"], provenance_pb2.Provenance())  # SLSA v1's own schema
        definition, details = statement["predicate"]["buildDefinition"], statement["predicate"]["runDetails"]
        assert definition["buildType"] and isinstance(definition["externalParameters"], dict)
        assert details["builder"]["id"]
    return statement


# --- vectors ------------------------------------------------------------------------------------------------------


def test_committed_attestation_vectors_match_what_the_code_writes() -> None:
    result = subprocess.run([sys.executable, "scripts/make_attest_vectors.py", "--check"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_pae_vectors_follow_the_dsse_protocol() -> None:
    assert spec_pae("http://example.com/HelloWorld", b"hello world") == \
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"  # the protocol's own example
    for case in VECTORS["pae"]:
        body = bytes.fromhex(case["payload_hex"])
        assert spec_pae(case["payload_type"], body).hex() == case["pae_hex"]
        assert dsse.pae(case["payload_type"], body).hex() == case["pae_hex"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{Path(c['proof']).name}:{c['predicate_type']}")
def test_vector_envelopes_verify_without_pot(case: dict[str, Any]) -> None:
    public = VECTORS["key"]["public_key"]
    statement = independent_check(case["envelope"], public)
    document = json.loads(case["envelope"])
    payload = base64.b64decode(document["payload"])
    assert payload == case["payload"].encode("utf-8") and statement["predicateType"] == case["predicate_type"]
    assert hashlib.sha256(spec_pae(document["payloadType"], payload)).hexdigest() == case["pae_sha256"]
    proof_bytes = (ROOT / case["proof"]).read_bytes()
    # The proof's digests: the file's SHA-256, and the object hash the proof's own signature covers.
    assert case["proof_digests"]["sha256"] == hashlib.sha256(proof_bytes).hexdigest()
    where = statement["predicate"]["proof"] if case["predicate_type"] == POT_PREDICATE_TYPE else \
        statement["predicate"]["runDetails"]["byproducts"][0]
    assert where["digest"] == case["proof_digests"]
    vector_proof = json.loads((ROOT / "tests" / "assets" / "vectors" / "v1.json").read_text())["proof_signature"]
    if case["proof"].endswith("basic-full.proof.json"):
        assert case["proof_digests"]["potProofV1"] in json.dumps(vector_proof)


def test_the_independent_checks_can_fail() -> None:
    """The checks above are not vacuous: a changed payload fails both."""
    document = json.loads(CASES[0]["envelope"])
    payload = bytearray(base64.b64decode(document["payload"]))
    payload[10] ^= 1
    document["payload"] = base64.b64encode(bytes(payload)).decode()
    with pytest.raises(SslibVerificationError):
        SslibEnvelope.from_dict(json.loads(json.dumps(document))).verify([sslib_key(VECTORS["key"]["public_key"])], 1)
    with pytest.raises(InvalidSignature):
        independent_check(json.dumps(document), VECTORS["key"]["public_key"])


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{Path(c['proof']).name}:{c['predicate_type']}")
def test_pot_verifies_the_vectors_with_their_proofs(case: dict[str, Any]) -> None:
    report = verify_attestation(case["envelope"], trusted_key=PublicKey.from_text(VECTORS["key"]["public_key"]),
                                proof_file=ProofFile.load(ROOT / case["proof"]), now=NOW)
    assert report.ok and [c.name for c in report.checks] == ["envelope", "signature", "statement", "proof",
                                                             "agreement"]
    assert report.signer_pinned and report.compared_with_proof and not report.notes


def test_statement_fields_render_the_proof() -> None:
    proof_file = ProofFile.load(CORPUS / "lineage-full.proof.json")
    proof = proof_file.proof
    [pot_case, slsa_case] = [json.loads(c["payload"]) for c in CASES[1:]]
    predicate = pot_case["predicate"]
    latest = proof.tree_heads[-1].signed
    assert predicate["signedHead"] == latest.to_json()
    assert predicate["logId"] == {"keyId": proof.signer.key_id, "modelId": proof.model_id}
    assert predicate["anchors"] == [r.to_json() for r in proof.anchors] and predicate["anchors"]
    assert predicate["finalModelHash"] == proof.final_model_hash
    assert pot_case["subject"] == slsa_case["subject"] == [
        {"name": proof.model_id, "digest": {"potModelHash": proof.final_model_hash}},
        {"name": "epoch-1.safetensors", "digest": {"sha256": "ef" * 32}}]
    started = next(r for r in proof.records if getattr(r, "event", None) == "RunStarted")
    definition = slsa_case["predicate"]["buildDefinition"]
    assert definition["externalParameters"]["config"] == started.data["config"]
    assert {"name": "source", "digest": {"gitCommit": started.data["git"]["commit"]},
            "annotations": {"dirty": False, "branch": "main"}} in definition["resolvedDependencies"]
    assert any(d["name"] == "sklearn-digits" for d in definition["resolvedDependencies"])
    assert slsa_case["predicate"]["runDetails"]["metadata"]["invocationId"] == started.run_id


# --- tampering ----------------------------------------------------------------------------------------------------


def _envelope(case: dict[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(case["envelope"])
    return document


def _fails(document: dict[str, Any] | str, case: dict[str, Any], *, with_proof: bool = False) -> str:
    text = document if isinstance(document, str) else json.dumps(document)
    with pytest.raises(VerificationError) as caught:
        verify_attestation(text, trusted_key=PublicKey.from_text(VECTORS["key"]["public_key"]),
                           proof_file=ProofFile.load(ROOT / case["proof"]) if with_proof else None, now=NOW)
    assert caught.value.report is not None and not caught.value.report.ok
    return str(caught.value)


def test_every_changed_payload_byte_fails() -> None:
    case = CASES[2]  # the SLSA statement: every byte, one at a time
    payload = base64.b64decode(_envelope(case)["payload"])
    for i in range(len(payload)):
        changed = bytearray(payload)
        changed[i] ^= 0x01
        document = _envelope(case)
        document["payload"] = base64.b64encode(bytes(changed)).decode()
        assert "does not verify" in _fails(document, case), i


def test_every_changed_signature_byte_and_payload_type_character_fails() -> None:
    case = CASES[0]
    sig = base64.b64decode(_envelope(case)["signatures"][0]["sig"])
    for i in range(len(sig)):
        changed = bytearray(sig)
        changed[i] ^= 0x80
        document = _envelope(case)
        document["signatures"][0]["sig"] = base64.b64encode(bytes(changed)).decode()
        _fails(document, case)
    payload_type = _envelope(case)["payloadType"]
    for i in range(len(payload_type)):
        document = _envelope(case)
        document["payloadType"] = payload_type[:i] + chr(ord(payload_type[i]) ^ 0x01) + payload_type[i + 1:]
        _fails(document, case)


def test_every_character_of_the_base64_is_bound() -> None:
    """Base64 that decodes to the same bytes by dropping low bits, or mixes alphabets, is refused: no character of
    the envelope can change and still verify."""
    case = CASES[0]
    text = case["envelope"]
    start = text.index('"sig":"') + len('"sig":"')
    targets = list(range(start, text.index('"', start)))
    payload_at = text.index('"payload":"') + len('"payload":"')
    payload_end = text.index('"', payload_at)
    targets += list(range(payload_end - 8, payload_end)) + list(range(payload_at, payload_end, 97))
    for i in targets:
        for replacement in "A/+-_=":
            if text[i] != replacement:
                _fails(text[:i] + replacement + text[i + 1:], case)


def test_a_changed_keyid_or_an_extra_field_fails() -> None:
    case = CASES[0]
    document = _envelope(case)
    document["signatures"][0]["keyid"] = "0" * 64
    assert "keyid" in _fails(document, case)
    document = _envelope(case)
    document["signatures"][0]["keyid"] = document["signatures"][0]["keyid"].upper()
    _fails(document, case)
    document = _envelope(case)
    document["note"] = "unsigned"
    assert "unknown 'note'" in _fails(document, case)
    document = _envelope(case)
    document["signatures"].append(dict(document["signatures"][0]))
    _fails(document, case)


def _resigned(case: dict[str, Any], change: Any) -> str:
    """The signer's own key signs a statement that is not the proof's rendering: the signature holds, the
    comparison with the proof must not."""
    statement = json.loads(case["payload"])
    change(statement)
    envelope = dsse.sign(SigningKey.from_seed(SEED), dsse.PAYLOAD_TYPE_INTOTO, json.dumps(statement).encode())
    return envelope.dumps()


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{Path(c['proof']).name}:{c['predicate_type']}")
def test_a_changed_subject_digest_fails(case: dict[str, Any]) -> None:
    def change(statement: dict[str, Any]) -> None:
        digest = statement["subject"][0]["digest"]
        name = next(iter(digest))
        digest[name] = ("1" if digest[name][0] == "0" else "0") + digest[name][1:]

    resigned = _resigned(case, change)
    assert "subject[0].digest" in _fails(resigned, case, with_proof=True)
    assert verify_report_failure(resigned, case).check == "agreement"
    # ... and unsigned, the same change fails on the signature already.
    document = _envelope(case)
    statement = json.loads(base64.b64decode(document["payload"]))
    change(statement)
    document["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    assert "does not verify" in _fails(document, case)


def verify_report_failure(text: str, case: dict[str, Any]) -> VerificationError:
    try:
        verify_attestation(text, trusted_key=PublicKey.from_text(VECTORS["key"]["public_key"]),
                           proof_file=ProofFile.load(ROOT / case["proof"]), now=NOW)
    except VerificationError as exc:
        return exc
    raise AssertionError("verified")


def test_an_envelope_paired_with_another_proof_fails(tmp_path: Path) -> None:
    basic, lineage = CASES[0], CASES[1]
    failure = verify_report_failure(basic["envelope"], {**basic, "proof": lineage["proof"]})
    assert failure.check == "agreement"
    # The same proof written with other whitespace is another file: the attestation names its file's SHA-256.
    respelled = tmp_path / "respelled.proof.json"
    respelled.write_text(json.dumps(json.loads((ROOT / basic["proof"]).read_text())))
    failure = verify_report_failure(basic["envelope"], {**basic, "proof": str(respelled)})
    assert failure.check == "agreement" and "proof.digest" in str(failure)


def test_a_statement_pot_does_not_write_is_refused() -> None:
    case = CASES[0]
    key = SigningKey.from_seed(SEED)

    def signed(statement: Any, payload_type: str = dsse.PAYLOAD_TYPE_INTOTO) -> str:
        return dsse.sign(key, payload_type, json.dumps(statement).encode()).dumps()

    good = json.loads(case["payload"])
    assert "payloadType" in _fails(signed(good, "application/json"), case)
    for broken in ({**good, "_type": "https://in-toto.io/Statement/v0.1"}, {**good, "subject": []},
                   {**good, "subject": [{"name": "x"}]}, {**good, "predicateType": "https://example.com/x"},
                   {**good, "extra": 1}, [good]):
        _fails(signed(broken), case)
    _fails(dsse.sign(key, dsse.PAYLOAD_TYPE_INTOTO, b"{not json").dumps(), case)


def test_another_key_fails() -> None:
    case = CASES[0]
    other = SigningKey.from_seed(bytes(32))
    with pytest.raises(AttestationError):
        verify_attestation(case["envelope"], trusted_key=other.public, now=NOW)
    with pytest.raises(VerificationError):  # the proof's signer is not the trusted key
        verify_attestation(case["envelope"], trusted_key=other.public,
                           proof_file=ProofFile.load(ROOT / case["proof"]), now=NOW)


def test_without_a_proof_or_a_key_only_self_consistency_is_claimed() -> None:
    report = verify_attestation(CASES[0]["envelope"], now=NOW)
    assert report.ok and not report.signer_pinned and not report.compared_with_proof
    assert [c.name for c in report.checks] == ["envelope", "signature", "statement", "predicate"]
    assert any("consistent with itself" in n for n in report.notes)
    assert any("--proof FILE" in n for n in report.notes)
    with pytest.raises(UsageError):  # SLSA names no key of its own
        verify_attestation(CASES[2]["envelope"], now=NOW)


# --- attesting ----------------------------------------------------------------------------------------------------


def test_attest_refuses_what_names_no_model_or_is_not_its_signers() -> None:
    key = SigningKey.from_seed(SEED)
    with pytest.raises(UsageError, match="partial proof"):
        attest(key, ProofFile.load(CORPUS / "basic-partial.proof.json"), now=NOW)
    with pytest.raises(UsageError, match="not by this store's key"):
        attest(SigningKey.from_seed(bytes(32)), ProofFile.load(CORPUS / "basic-full.proof.json"), now=NOW)
    with pytest.raises(UsageError, match="outside a run"):
        attest(key, ProofFile.load(CORPUS / "basic-full.proof.json"), (SLSA_PREDICATE_TYPE,), now=NOW)


def test_attest_refuses_a_proof_that_does_not_verify(tmp_path: Path) -> None:
    document = json.loads((CORPUS / "basic-full.proof.json").read_text())
    document["records"][1]["metrics"]["loss"] = 0.01  # a better loss than was recorded
    with pytest.raises(VerificationError):
        attest(SigningKey.from_seed(SEED), ProofFile(*_loaded(json.dumps(document).encode())), now=NOW)


def _loaded(data: bytes) -> tuple[Any, bytes]:
    from pot.log.proof import ProvenanceProof

    return ProvenanceProof.from_json(data), data


# --- the command line ---------------------------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.fixture
def trained_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store with one run: a configuration, a dataset parent, checkpoints and the final weights saved as a file."""
    from pot import ProvenanceConfig, ProvenanceRecorder
    from pot.lineage.events import parent_dataset

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POT_HOME", raising=False)
    monkeypatch.delenv("POT_KEY_PASSPHRASE", raising=False)
    store = tmp_path / ".pot"
    weights = tmp_path / "model.pt"
    weights.write_bytes(b"weights of the final model")
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store)))
    with recorder.start_run("m", config={"lr": 0.1}, parents=[parent_dataset("digits", digest="d" * 64)]):
        recorder.record_training_checkpoint(model_hash="a" * 64, metrics={"loss": 1.0}, epoch=0, model_id="m")
        recorder.record_training_checkpoint(model_hash="b" * 64, metrics={"loss": 0.5}, epoch=1, model_id="m",
                                            checkpoint_path=str(weights))
    recorder.close()
    return store


def test_cli_attests_a_model_and_the_envelopes_verify_independently(
        trained_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "attest", "--model-id", "m", "--output", "m.intoto.json", "--slsa", "m.slsa.json")
    assert code == 0, err
    assert (tmp_path / "m.proof.json").is_file() and "wrote m.proof.json: the proof attested" in out
    _, public, _ = run(capsys, "key", "public")
    public = public.strip()
    statements = [independent_check((tmp_path / name).read_text(), public) for name in ("m.intoto.json",
                                                                                           "m.slsa.json")]
    weights_sha = hashlib.sha256(b"weights of the final model").hexdigest()
    assert statements[0]["subject"] == statements[1]["subject"] == [
        {"name": "m", "digest": {"potModelHash": "b" * 64}}, {"name": "model.pt", "digest": {"sha256": weights_sha}}]
    assert statements[0]["predicate"]["proof"]["digest"]["sha256"] == \
        hashlib.sha256((tmp_path / "m.proof.json").read_bytes()).hexdigest()
    for name in ("m.intoto.json", "m.slsa.json"):
        code, out, err = run(capsys, "verify-attestation", name, "--proof", "m.proof.json", "--trusted-key", public)
        assert code == 0 and out.rstrip().endswith("VERIFIED") and "ok   agreement" in out, out + err
    code, out, _ = run(capsys, "--json", "verify-attestation", "m.intoto.json", "--trusted-key", public)
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["signer_pinned"] and not report["compared_with_proof"]


def test_cli_exit_codes(trained_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "attest", "--model-id", "m", "--output", "m.intoto.json")[0] == 0
    _, public, _ = run(capsys, "key", "public")
    document = json.loads((tmp_path / "m.intoto.json").read_text())
    document["payloadType"] = "application/vnd.in-toto+jsoN"
    (tmp_path / "bad.json").write_text(json.dumps(document))
    code, out, _ = run(capsys, "verify-attestation", "bad.json", "--trusted-key", public.strip())
    assert code == 1 and "FAILED: envelope" in out
    code, out, _ = run(capsys, "verify-attestation", "m.intoto.json", "--proof", "m.proof.json", "--trusted-key",
                       VECTORS["key"]["public_key"])
    assert code == 1 and "FAIL signature" in out
    assert run(capsys, "verify-attestation", "missing.json")[0] == 2
    assert run(capsys, "verify-attestation", "m.intoto.json", "--trusted-key", "nonsense")[0] == 2
    assert run(capsys, "attest", "--output", "x.json")[0] == 2  # neither --model-id nor --proof
    assert run(capsys, "attest", "--model-id", "nope", "--output", "x.json")[0] == 2
    assert run(capsys, "attest", "--proof", str(CORPUS / "basic-full.proof.json"), "--output", "x.json")[0] == 2
    assert not (tmp_path / "x.json").exists()
    proof = (tmp_path / "m.proof.json").read_bytes()
    assert run(capsys, "attest", "--proof", "m.proof.json", "--output", "m.proof.json")[0] == 2
    assert (tmp_path / "m.proof.json").read_bytes() == proof
    code, _, _ = run(capsys, "attest", "--model-id", "m", "--output", ".pot/inside.json")
    assert code == 2 and not (trained_store / "inside.json").exists()
