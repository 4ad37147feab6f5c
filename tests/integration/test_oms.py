"""OpenSSF model signing: the example's model, signed by `pot sign-model`, verified by the real `model_signing`
package (its Python API and its CLI, unchanged) and matched against the proof by `pot verify --model-dir`; a byte
changed in the weights fails both."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.unit.test_json_schemas import check as check_schema

pytest.importorskip("torch")
pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parents[2]
MODEL_SIGNING_CLI = Path(sys.executable).with_name("model_signing")


def _model_signing() -> object:
    try:
        import model_signing
    except ImportError as exc:  # installed by the test command (extra "oms"): missing means a broken install
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and model_signing cannot be imported ({exc})", pytrace=False)
        pytest.skip(f"model_signing is not installed ({exc}): pip install -e '.[oms]'")
    return model_signing


@dataclass
class Example:
    store: Path
    out: Path  # the example's output directory: digits-mlp.pt and digits-mlp.proof.json
    trusted_key: str


def pot(*argv: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pot.cli", *argv], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Example:
    """The example trained for 2 epochs into a temporary --out, once for this module (tests copy ``out``)."""
    base = tmp_path_factory.mktemp("oms-example")
    store, out = base / "store", base / "out"
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "training_with_provenance.py"), "--epochs", "2",
                             "--store", str(store), "--out", str(out), "--no-replay"],  # as the README signs it
                            capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["digits-mlp.proof.json", "digits-mlp.pt"]
    key = ok(pot("--store", str(store), "key", "public")).strip()
    return Example(store, out, key)


@pytest.fixture
def model(example: Example, tmp_path: Path) -> Path:
    """A fresh copy of the example's output directory."""
    return Path(shutil.copytree(example.out, tmp_path / "digits-mlp"))


@pytest.fixture
def key(tmp_path: Path) -> tuple[Path, Path]:
    private = tmp_path / "keys" / "signer.pem"
    private.parent.mkdir()
    ok(pot("key", "ecdsa-new", "--out", str(private)))
    return private, private.with_suffix(".pub")


def model_signing_cli(model: Path, signature: Path, public: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(MODEL_SIGNING_CLI), "verify", "key", str(model), "--signature", str(signature),
                           "--public_key", str(public)], capture_output=True, text=True, timeout=300)


def model_signing_api(model: Path, signature: Path, public: Path) -> None:
    ms = _model_signing()
    ms.verifying.Config().use_elliptic_key_verifier(public_key=public).verify(model, signature)  # type: ignore[attr-defined]


def test_the_example_signed_by_pot_verifies_with_model_signing_and_against_the_proof(
        example: Example, model: Path, key: tuple[Path, Path]) -> None:
    private, public = key
    assert private.stat().st_mode & 0o777 == 0o600
    signed = json.loads(ok(pot("--json", "sign-model", str(model), "--key", str(private),
                                   "--proof", str(model / "digits-mlp.proof.json"))))
    signature = model / "model.sig"
    assert signed["signature"] == str(signature) and signature.is_file()
    # The proof was inside the directory already: signed where it is, no copy written.
    assert signed["attestations"] == [] and signed["proof"] == str(model / "digits-mlp.proof.json")
    assert [f["path"] for f in signed["files"]] == ["digits-mlp.proof.json", "digits-mlp.pt"]
    roles = {m["path"]: m["role"] for m in signed["matches"]}
    assert roles == {"digits-mlp.proof.json": "proof", "digits-mlp.pt": "recorded"}

    # The independent judge: the real model_signing, through its Python API and its CLI, unchanged.
    model_signing_api(model, signature, public)
    cli = model_signing_cli(model, signature, public)
    assert cli.returncode == 0 and "Verification succeeded" in cli.stdout, cli.stdout + cli.stderr

    # pot: the proof verifies against the pinned key, the signature with the ECDSA key, and each file is a record.
    text = ok(pot("verify", "--proof", str(model / "digits-mlp.proof.json"), "--trusted-key", example.trusted_key,
                  "--model-dir", str(model), "--model-key", str(public)))
    assert text.rstrip().endswith("VERIFIED")
    assert f"ok   model-signature  {signature} verifies with {public}" in text
    assert "ok   model-files      every file of" in text
    weights_line = next(line for line in text.splitlines() if "digits-mlp.pt " in line)
    assert weights_line.lstrip().startswith("ok") and "as this file at epoch 1" in weights_line
    assert "as these weights at epoch 1" in weights_line
    report = json.loads(ok(pot("--json", "verify", "--proof", str(model / "digits-mlp.proof.json"),
                               "--model-dir", str(model), "--model-key", str(public))))
    assert report["ok"] and report["model_dir"]["signature_checked"]
    check_schema("verify.schema.json", report)
    by_path = {f["path"]: f for f in report["model_dir"]["files"]}
    assert by_path["digits-mlp.pt"]["matches"][0]["kind"] == "checkpoint"
    assert "model.sig" in report["model_dir"]["ignored"]


def test_a_byte_changed_in_the_weights_fails_model_signing_and_pot(model: Path, key: tuple[Path, Path]) -> None:
    private, public = key
    ok(pot("sign-model", str(model), "--key", str(private), "--proof", str(model / "digits-mlp.proof.json")))
    weights = model / "digits-mlp.pt"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))

    with pytest.raises(ValueError, match="Signature mismatch") as raised:
        model_signing_api(model, model / "model.sig", public)
    assert "Hash mismatch for" in str(raised.value) and "digits-mlp.pt" in str(raised.value)
    cli = model_signing_cli(model, model / "model.sig", public)
    assert cli.returncode != 0 and "Verification failed" in cli.stderr

    result = pot("verify", "--proof", str(model / "digits-mlp.proof.json"), "--model-dir", str(model),
                 "--model-key", str(public))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"FAIL model-signature  {model / 'model.sig'}: {model} is not what" in result.stdout
    assert "changed: digits-mlp.pt" in result.stdout
    assert "FAIL model-files      1 of 2 file(s)" in result.stdout
    assert any(line.lstrip().startswith("FAIL digits-mlp.pt") and "NOT recorded by the proof" in line
               for line in result.stdout.splitlines())
    assert result.stdout.rstrip().splitlines()[-1].startswith("FAILED: model-signature:")
    assert "Traceback" not in result.stderr

    failed = pot("--json", "verify", "--proof", str(model / "digits-mlp.proof.json"), "--model-dir", str(model),
                 "--model-key", str(public))
    report = json.loads(failed.stdout)
    assert failed.returncode == 1 and not report["ok"]
    check_schema("verify.schema.json", report)
    assert [f["role"] for f in report["model_dir"]["files"]] == ["proof", "unrecorded"]
    # Without the signature key the files alone still fail against the proof.
    alone = pot("verify", "--proof", str(model / "digits-mlp.proof.json"), "--model-dir", str(model))
    assert alone.returncode == 1 and "FAILED: model-files:" in alone.stdout
    assert "was NOT checked (pass --model-key KEY.pub)" in alone.stdout


def test_a_proof_kept_elsewhere_is_written_in_as_model_pot_json_and_signed(
        example: Example, tmp_path: Path, key: tuple[Path, Path]) -> None:
    private, public = key
    model = tmp_path / "release"
    model.mkdir()
    shutil.copy(example.out / "digits-mlp.pt", model)
    text = ok(pot("sign-model", str(model), "--key", str(private), "--proof",
                  str(example.out / "digits-mlp.proof.json")))
    copy = model / "model.pot.json"
    assert copy.read_bytes() == (example.out / "digits-mlp.proof.json").read_bytes()
    assert f"verify it: model_signing verify key {model} --signature {model / 'model.sig'} --public_key {public}" \
        in text
    envelope = json.loads((model / "model.sig").read_text())["dsseEnvelope"]
    signed = json.loads(base64.b64decode(envelope["payload"]))
    assert [r["name"] for r in signed["predicate"]["resources"]] == ["digits-mlp.pt", "model.pot.json"]
    model_signing_api(model, model / "model.sig", public)
    assert model_signing_cli(model, model / "model.sig", public).returncode == 0
    ok(pot("verify", "--proof", str(copy), "--trusted-key", example.trusted_key, "--model-dir", str(model),
           "--model-key", str(public)))
    # Swapping in another proof breaks the signature: the proof is part of what was signed.
    original = copy.read_bytes()
    copy.write_bytes(original.replace(b"digits-mlp/", b"digits-mlq/", 1))
    assert copy.read_bytes() != original
    swapped = model_signing_cli(model, model / "model.sig", public)
    assert swapped.returncode != 0 and "model.pot.json" in swapped.stderr


def test_the_proofs_attestation_is_signed_alongside_and_accounted_for(
        example: Example, tmp_path: Path, key: tuple[Path, Path]) -> None:
    """``pot attest`` then ``pot sign-model --proof P --attestation A``: both pot files go into the signed set, the
    real model_signing verifies it, and ``pot verify --model-dir`` counts the attestation as the proof's own only
    because it agrees with the proof (another attestation is refused at signing and fails the check)."""
    private, public = key
    proof = example.out / "digits-mlp.proof.json"
    attestation = tmp_path / "digits-mlp.intoto.json"
    ok(pot("--store", str(example.store), "attest", "--proof", str(proof), "--output", str(attestation)))
    model = tmp_path / "release"
    model.mkdir()
    shutil.copy(example.out / "digits-mlp.pt", model)
    signed = json.loads(ok(pot("--json", "sign-model", str(model), "--key", str(private), "--proof", str(proof),
                               "--attestation", str(attestation))))
    assert sorted(Path(p).name for p in signed["attestations"]) == ["model.pot.intoto.json", "model.pot.json"]
    roles = {m["path"]: m["role"] for m in signed["matches"]}
    assert roles == {"digits-mlp.pt": "recorded", "model.pot.intoto.json": "proof", "model.pot.json": "proof"}
    assert (model / "model.pot.intoto.json").read_bytes() == attestation.read_bytes()
    model_signing_api(model, model / "model.sig", public)
    text = ok(pot("verify", "--proof", str(model / "model.pot.json"), "--trusted-key", example.trusted_key,
                  "--model-dir", str(model), "--model-key", str(public)))
    assert "1 recorded by the proof, 2 the proof and its attestation" in text and text.rstrip().endswith("VERIFIED")

    # An attestation of another proof (the same model re-attested after a byte of its proof changed) is refused.
    other = tmp_path / "other.intoto.json"
    envelope = json.loads(attestation.read_text())
    envelope["signatures"][0]["sig"] = base64.b64encode(b"\0" * 64).decode()
    other.write_text(json.dumps(envelope))
    fresh = tmp_path / "release2"
    fresh.mkdir()
    shutil.copy(example.out / "digits-mlp.pt", fresh)
    refused = pot("sign-model", str(fresh), "--key", str(private), "--proof", str(proof), "--attestation", str(other))
    assert refused.returncode == 1 and "is not the attestation of" in refused.stderr, refused.stderr
    assert not (fresh / "model.sig").exists() and not (fresh / "model.pot.json").exists()  # nothing written
    (model / "model.pot.intoto.json").write_text(json.dumps(envelope))  # and after signing: model-files fails too
    failed = pot("verify", "--proof", str(model / "model.pot.json"), "--model-dir", str(model))
    assert failed.returncode == 1 and "model.pot.intoto.json" in failed.stdout


def test_files_the_proof_did_not_record_are_refused_at_signing_and_fail_verification(
        model: Path, key: tuple[Path, Path]) -> None:
    private, public = key
    (model / "README.md").write_text("a model card the proof knows nothing about\n")
    refused = pot("sign-model", str(model), "--key", str(private), "--proof", str(model / "digits-mlp.proof.json"))
    assert refused.returncode == 1 and "README.md" in refused.stderr and "not recorded by the proof" in refused.stderr
    assert not (model / "model.sig").exists()
    # Signed without a proof it is an ordinary OMS signature, which model_signing accepts ...
    ok(pot("sign-model", str(model), "--key", str(private)))
    model_signing_api(model, model / "model.sig", public)
    # ... but pot verify --model-dir says which file no record accounts for.
    result = pot("verify", "--proof", str(model / "digits-mlp.proof.json"), "--model-dir", str(model),
                 "--model-key", str(public))
    assert result.returncode == 1
    assert "ok   model-signature" in result.stdout
    assert "FAIL model-files      1 of 3 file(s)" in result.stdout and "README.md" in result.stdout


def test_a_signature_by_another_key_fails_both_verifiers(model: Path, key: tuple[Path, Path], tmp_path: Path) -> None:
    private, _ = key
    other = tmp_path / "other.pem"
    ok(pot("key", "ecdsa-new", "--out", str(other)))
    ok(pot("sign-model", str(model), "--key", str(private)))
    with pytest.raises(ValueError, match="Key mismatch"):
        model_signing_api(model, model / "model.sig", other.with_suffix(".pub"))
    result = pot("verify", "--proof", str(model / "digits-mlp.proof.json"), "--model-dir", str(model),
                 "--model-key", str(other.with_suffix(".pub")))
    assert result.returncode == 1 and "names another public key" in result.stdout


def test_pot_reads_and_checks_what_model_signing_signed(model: Path, key: tuple[Path, Path]) -> None:
    """The other direction: model_signing's own signer (its payload is not canonical JSON, its ignore list is a
    set), pot's verifier."""
    private, public = key
    ms = _model_signing()
    signature = model / "model.sig"
    (model / "notes.txt").write_text("left out of the signature by its signer\n")
    ms.signing.Config().use_elliptic_key_signer(private_key=private).set_hashing_config(  # type: ignore[attr-defined]
        ms.hashing.Config().set_ignored_paths(paths=["model.sig", "notes.txt"])  # type: ignore[attr-defined]
    ).sign(model, signature)
    # A path the signature ignores is still a file of the directory: pot matches it like any other.
    result = pot("verify", "--proof", str(model / "digits-mlp.proof.json"), "--model-dir", str(model),
                 "--model-key", str(public))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "ok   model-signature" in result.stdout and "FAIL model-files      1 of 3 file(s)" in result.stdout
    assert "notes.txt" in result.stdout
    (model / "notes.txt").unlink()
    ok(pot("verify", "--proof", str(model / "digits-mlp.proof.json"), "--model-dir", str(model),
           "--model-key", str(public)))
    from pot.attest import oms

    pot_made = oms.hash_model_dir(model, ["model.sig"])
    theirs, _ = oms.read_signed_manifest(signature)
    assert "notes.txt" in theirs.ignore_paths
    assert theirs.root_digest == pot_made.root_digest and oms.manifest_differences(theirs, pot_made) == []


def test_a_key_made_by_openssl_signs(model: Path, tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    assert openssl, "openssl is on every machine of this project (docs/MODEL_SIGNING.md uses it)"
    private, public = tmp_path / "ossl.pem", tmp_path / "ossl.pub"
    subprocess.run([openssl, "ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", str(private)], check=True)
    subprocess.run([openssl, "ec", "-in", str(private), "-pubout", "-out", str(public)], check=True,
                   capture_output=True)
    private.chmod(0o644)
    loose = pot("sign-model", str(model), "--key", str(private))
    assert loose.returncode == 3 and f"run: chmod 600 {private}" in loose.stderr
    private.chmod(0o600)
    ok(pot("sign-model", str(model), "--key", str(private), "--proof", str(model / "digits-mlp.proof.json")))
    model_signing_api(model, model / "model.sig", public)


def test_an_encrypted_key_needs_its_passphrase_which_is_never_shown(model: Path, tmp_path: Path) -> None:
    secret = "correct horse battery staple 7"
    env = {**os.environ, "POT_OMS_KEY_PASSPHRASE": secret}
    private = tmp_path / "locked.pem"
    made = pot("key", "ecdsa-new", "--out", str(private), env=env)
    assert made.returncode == 0 and "encrypted" in made.stdout
    assert b"ENCRYPTED" in private.read_bytes()
    bare = {k: v for k, v in os.environ.items() if k != "POT_OMS_KEY_PASSPHRASE"}
    missing = pot("sign-model", str(model), "--key", str(private), env=bare)
    assert missing.returncode == 3 and "set POT_OMS_KEY_PASSPHRASE" in missing.stderr
    wrong = pot("sign-model", str(model), "--key", str(private), env={**bare, "POT_OMS_KEY_PASSPHRASE": "nope"})
    assert wrong.returncode == 3 and "wrong passphrase" in wrong.stderr
    right = pot("sign-model", str(model), "--key", str(private), env=env)
    assert right.returncode == 0, right.stderr
    for result in (made, missing, wrong, right):
        assert secret not in result.stdout + result.stderr and "Traceback" not in result.stderr
    assert secret.encode() not in (model / "model.sig").read_bytes()
    model_signing_api(model, model / "model.sig", private.with_suffix(".pub"))


@pytest.mark.parametrize(("argv", "code", "words"), [
    (["sign-model", "{model}", "--key", "{tmp}/none.pem"], 3, "no key file at"),
    (["sign-model", "{model}/digits-mlp.pt", "--key", "{key}"], 2, "is not a directory"),
    (["sign-model", "{model}", "--key", "{key}", "--proof", "{tmp}/none.json"], 2, "no proof file at"),
    (["verify", "--proof", "{model}/digits-mlp.proof.json", "--model-dir", "{tmp}/none"], 2, "is not a directory"),
    (["verify", "--proof", "{model}/digits-mlp.proof.json", "--model-key", "{pub}"], 2, "go with --model-dir"),
    (["verify", "--proof", "{model}/digits-mlp.proof.json", "--model-dir", "{model}", "--model-key", "{pub}"], 2,
     "no signature at"),
    (["key", "ecdsa-new", "--out", "{key}"], 3, "already exists"),
])
def test_bad_input_gets_one_line_and_its_exit_code(model: Path, key: tuple[Path, Path], tmp_path: Path,
                                                    argv: list[str], code: int, words: str) -> None:
    private, public = key
    filled = [a.format(model=model, tmp=tmp_path, key=private, pub=public) for a in argv]
    result = pot(*filled)
    assert result.returncode == code, result.stdout + result.stderr
    assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_signature_that_is_no_bundle_fails_verification_in_one_line(model: Path, key: tuple[Path, Path]) -> None:
    _, public = key
    (model / "model.sig").write_text('{"mediaType": "something else"}')
    result = pot("verify", "--proof", str(model / "digits-mlp.proof.json"), "--model-dir", str(model),
                 "--model-key", str(public))
    assert result.returncode == 1 and "FAIL model-signature" in result.stdout and "is not a Sigstore bundle" \
        in result.stdout
    # A file under the signature's name that is no signature is not left out: it is matched, and is no record.
    assert "FAIL model.sig" in result.stdout
    assert "Traceback" not in result.stderr
