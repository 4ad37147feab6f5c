"""pot.attest.oms on its own: the manifest as model_signing computes it, the DSSE encoding, and signatures that
must be refused (each with why)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from pot.attest import oms
from pot.errors import FormatError, KeyringError, UsageError
from pot.log.canonical import canonical_json


def _model_signing() -> Any:
    try:
        import model_signing
    except ImportError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and model_signing cannot be imported ({exc})", pytrace=False)
        pytest.skip(f"model_signing is not installed ({exc})")
    return model_signing


def _tree(root: Path) -> Path:
    """Names whose order differs between string and path-component sorting, nesting, an empty file, non-ASCII, and
    git files (left out by both)."""
    for relative, data in {"a.txt": b"1", "a/b": b"2", "a/c/d.bin": b"3" * 5000, "a-b": b"", "z\u00e9.json": b"{}",
                           ".gitattributes": b"* binary", ".git/HEAD": b"ref", "weights.safetensors": b"\x00" * 64
                           }.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def test_the_manifest_is_the_one_model_signing_computes(tmp_path: Path) -> None:
    ms = _model_signing()
    model = _tree(tmp_path / "m")
    ours = oms.hash_model_dir(model)
    theirs = ms.hashing.Config().hash(model)
    assert [(d.identifier, d.digest.digest_hex) for d in theirs.resource_descriptors()] == \
        [(f.path, f.sha256) for f in ours.files]
    assert [f.path for f in ours.files] == ["a/b", "a/c/d.bin", "a-b", "a.txt", "weights.safetensors", "z\u00e9.json"]


def test_pot_signs_what_model_signing_verifies_and_a_dsse_known_answer(tmp_path: Path) -> None:
    ms = _model_signing()
    # DSSE protocol v1: PAE("http://example.com/HelloWorld", "hello world")
    assert oms.pae("http://example.com/HelloWorld", b"hello world") == \
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    model = _tree(tmp_path / "m")
    key = ec.generate_private_key(ec.SECP256R1())
    public = tmp_path / "k.pub"
    public.write_bytes(oms.public_key_pem(key.public_key()))
    bundle = oms.sign_statement(oms.statement(oms.hash_model_dir(model)), key)
    (tmp_path / "m.sig").write_text(json.dumps(bundle))
    ms.verifying.Config().use_elliptic_key_verifier(public_key=public).verify(model, tmp_path / "m.sig")
    payload = base64.b64decode(bundle["dsseEnvelope"]["payload"])
    assert payload == canonical_json(json.loads(payload))  # pot signs canonical bytes
    assert oms.verify_model_signature(model, tmp_path / "m.sig", key.public_key()).manifest.root_digest == \
        json.loads(payload)["subject"][0]["digest"]["sha256"]


def test_symlinks_and_special_files_are_refused(tmp_path: Path) -> None:
    model = _tree(tmp_path / "m")
    (model / "link").symlink_to(model / "a.txt")
    with pytest.raises(UsageError, match="is a symlink"):
        oms.hash_model_dir(model)
    (model / "link").unlink()
    os.mkfifo(model / "pipe")
    with pytest.raises(UsageError, match="not a regular file"):
        oms.hash_model_dir(model)


def _resign(bundle: dict[str, Any], body: dict[str, Any], key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    fresh = oms.sign_statement(body, key)
    return {**bundle, "dsseEnvelope": fresh["dsseEnvelope"]}


def _mutations(key: ec.EllipticCurvePrivateKey, body: dict[str, Any]) -> dict[str, tuple[Any, type[Exception], str]]:
    """name -> (how to change a good bundle, the error, words). Validly signed but inconsistent contents fail too."""
    wrong_root = json.loads(json.dumps(body))
    wrong_root["subject"][0]["digest"]["sha256"] = "0" * 64
    old_predicate = {**json.loads(json.dumps(body)), "predicateType": "https://model_signing/Digests/v0.1"}
    shards = json.loads(json.dumps(body))
    shards["predicate"]["serialization"]["method"] = "shards"
    return {
        "another media type": (lambda b: {**b, "mediaType": "application/json"}, FormatError, "not a Sigstore bundle"),
        "another payload type": (lambda b: {**b, "dsseEnvelope": {**b["dsseEnvelope"], "payloadType": "text/plain"}},
                                 FormatError, "payload type"),
        "two signatures": (lambda b: {**b, "dsseEnvelope": {**b["dsseEnvelope"], "signatures":
                                                            b["dsseEnvelope"]["signatures"] * 2}},
                           FormatError, "exactly one signature"),
        "payload not base64": (lambda b: {**b, "dsseEnvelope": {**b["dsseEnvelope"], "payload": "%%%"}},
                               FormatError, "not valid base64"),
        "payload changed after signing": (
            lambda b: {**b, "dsseEnvelope": {**b["dsseEnvelope"], "payload": base64.b64encode(
                canonical_json(wrong_root)).decode()}}, oms.ModelSignatureError, "does not verify"),
        "subject digest not the resources' hash": (lambda b: _resign(b, wrong_root, key), FormatError,
                                                   "subject digest"),
        "pre-1.0 predicate": (lambda b: _resign(b, old_predicate, key), FormatError, "predicate type"),
        "shard serialization": (lambda b: _resign(b, shards, key), FormatError, "file by file"),
        "hint of another key": (lambda b: {**b, "verificationMaterial": {"publicKey": {"hint": "ab" * 32},
                                                                         "tlogEntries": []}},
                                oms.ModelSignatureError, "names another public key"),
    }


CASES = ["another media type", "another payload type", "two signatures", "payload not base64",
         "payload changed after signing", "subject digest not the resources' hash", "pre-1.0 predicate",
         "shard serialization", "hint of another key"]


@pytest.mark.parametrize("case", CASES)
def test_a_bad_signature_is_refused(case: str, tmp_path: Path) -> None:
    model = _tree(tmp_path / "m")
    key = ec.generate_private_key(ec.SECP256R1())
    body = oms.statement(oms.hash_model_dir(model))
    mutations = _mutations(key, body)
    assert list(mutations) == CASES
    change, error, words = mutations[case]
    (tmp_path / "m.sig").write_text(json.dumps(change(oms.sign_statement(body, key))))
    with pytest.raises(error, match=words):
        oms.verify_model_signature(model, tmp_path / "m.sig", key.public_key())


def test_keys_pot_does_not_sign_with_are_refused_in_one_line(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    p384 = tmp_path / "p384.pem"
    p384.write_bytes(ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    p384.chmod(0o600)
    with pytest.raises(KeyringError, match="not an ECDSA P-256"):
        oms.load_private_key(p384)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    junk.chmod(0o600)
    with pytest.raises(KeyringError, match="not a PEM private key"):
        oms.load_private_key(junk)
