"""OpenSSF model signing (OMS): sign a model directory so that the ``model_signing`` package verifies it, with the
pot proof alongside, and match a directory's files against what a proof recorded.

pot writes the signature itself, from the published format (docs/MODEL_SIGNING.md), with nothing but
``cryptography``; the ``model_signing`` package (1.1.x, extra ``oms``) is what a third party verifies it with,
and what the tests use as the independent judge. The layers, inside out:

1. the **manifest**: every regular file under the directory, by relative POSIX path, with its SHA-256; the git
   files and the signature file itself left out (``ignore_paths``, recorded in the signed payload so a verifier
   leaves out the same);
2. an **in-toto Statement v1** whose one subject is the model (the directory's name) with the SHA-256 over the
   concatenated raw file digests, and whose predicate (type ``https://model_signing/signature/v1.0``) lists
   the serialization (``files``, ``sha256``, no symlinks, the ignored paths) and every file as a resource;
3. a **DSSE envelope** over that statement (payload type ``application/vnd.in-toto+json``), signed with ECDSA
   P-256 / SHA-256 (DER) over the DSSE pre-authentication encoding: the ``key`` method of ``model_signing``;
4. a **Sigstore bundle** v0.3 (JSON) holding the envelope and, as verification material, a public-key hint: the
   hex SHA-256 of the public key's PEM (SubjectPublicKeyInfo), which ``model_signing`` compares with the key it
   is given.

Why ECDSA here and Ed25519 elsewhere: the ``key`` method of ``model_signing`` accepts only elliptic-curve keys
on the NIST curves; pot's own proofs keep Ed25519.

The pot proof goes into the directory as ``model.pot.json`` before signing, so the signature covers it: whoever
checks the model signature also knows which proof the signer meant (the proof's own Ed25519 signatures are
checked by ``pot verify``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pot._internal import files, strictjson
from pot.errors import FormatError, KeyringError, PotError, UsageError, VerificationError
from pot.hashing import FileDigest, file_set_digest, hash_file
from pot.log.canonical import HexDigest, canonical_json

# --- the format, frozen by model_signing 1.x (docs/MODEL_SIGNING.md) ----------------------------------------------

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
DSSE_PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"
GIT_PATHS = (".git", ".gitattributes", ".github", ".gitignore")  # what model_signing leaves out by default

SIGNATURE_NAME = "model.sig"  # model_signing's default name for the signature
PROOF_NAME = "model.pot.json"  # the pot proof, signed with the model
ATTESTATION_NAME = "model.pot.intoto.json"  # the proof's in-toto attestation (pot attest), signed with the model
KEY_PASSPHRASE_ENV = "POT_OMS_KEY_PASSPHRASE"
MAX_SIGNATURE_BYTES = 64 << 20  # a manifest of ~300k files; a bigger "signature" is not one pot wrote


class ModelSignatureError(VerificationError):
    """An OMS signature does not verify, or the directory is not what it signed."""

    check = "model-signature"


class ModelFilesError(VerificationError):
    """A file of a model directory is not one the proof recorded."""

    check = "model-files"


# --- keys -------------------------------------------------------------------------------------------------------


def public_key_pem(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_key_hint(key: ec.EllipticCurvePublicKey) -> str:
    """What a bundle names its key by: hex SHA-256 of the key's PEM (model_signing compares it with its key)."""
    return hashlib.sha256(public_key_pem(key)).hexdigest()


def generate_key(out: Path | str, passphrase: str | None = None) -> Path:
    """A new ECDSA P-256 key: the private key to ``out`` (PKCS#8 PEM, mode 0600, encrypted when ``passphrase``
    is given) and its public half to ``out`` with the suffix ``.pub``, which is returned. Never overwrites."""
    out = Path(out)
    public_path = out.with_suffix(".pub")
    if public_path == out:
        raise UsageError(f"{out}: name the private key something other than *.pub (its public half goes there)")
    for path in (out, public_path):
        if path.exists() or path.is_symlink():
            raise KeyringError(f"{path} already exists; refusing to overwrite it")
    private = ec.generate_private_key(ec.SECP256R1())
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption())
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    try:
        if not files.create_exclusive(out, pem, 0o600):
            raise KeyringError(f"{out} already exists; refusing to overwrite it")
        if not files.create_exclusive(public_path, public_key_pem(private.public_key()), 0o644):
            raise KeyringError(f"{public_path} already exists; refusing to overwrite it")
    except OSError as exc:
        raise KeyringError(f"cannot create {exc.filename or out}: {exc.strerror}") from None
    return public_path


def load_private_key(path: Path | str, passphrase: str | None = None) -> ec.EllipticCurvePrivateKey:
    """Read a PEM ECDSA P-256 private key (PKCS#8, or SEC1 as ``openssl ecparam -genkey`` writes it).

    Refuses a key file other users can read (as ssh and pot's own keys do), an encrypted key without a
    passphrase, a wrong passphrase, and any other kind of key, each with one line that never shows the secret.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            raise KeyringError(f"{path} is not a regular file")
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyringError(f"model signing key {path} is readable by other users (mode "
                               f"{stat.S_IMODE(mode):04o}); run: chmod 600 {path}")
        pem = path.read_bytes()
    except FileNotFoundError:
        raise KeyringError(f"no key file at {path} (`pot key ecdsa-new --out {path}` makes one)") from None
    except OSError as exc:
        raise KeyringError(f"cannot read key file {path}: {exc.strerror}") from None
    encrypted = b"ENCRYPTED" in pem
    if encrypted and not passphrase:
        raise KeyringError(f"key {path} is encrypted; set {KEY_PASSPHRASE_ENV} to its passphrase")
    try:
        key = serialization.load_pem_private_key(pem, passphrase.encode() if encrypted and passphrase else None)
    except (ValueError, TypeError):
        if encrypted:
            raise KeyringError(f"wrong passphrase for key {path} (from {KEY_PASSPHRASE_ENV})") from None
        raise KeyringError(f"{path} is not a PEM private key") from None
    except Exception:  # cryptography raises its own unsupported-algorithm errors for exotic PEM
        raise KeyringError(f"{path} is not a private key pot can read") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise KeyringError(f"{path} is not an ECDSA P-256 (prime256v1) key, the kind model_signing's key method "
                           "verifies: `pot key ecdsa-new --out KEY.pem` makes one")
    return key


def load_public_key(path: Path | str) -> ec.EllipticCurvePublicKey:
    """Read a PEM public key (SubjectPublicKeyInfo), as ``model_signing verify key --public_key`` takes it."""
    path = Path(path)
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"no public key file at {path}") from None
    except OSError as exc:
        raise UsageError(f"cannot read public key {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_public_key(pem)
    except Exception:  # ValueError for bad PEM, UnsupportedAlgorithm for keys cryptography does not know
        raise UsageError(f"{path} is not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise UsageError(f"{path} is not an ECDSA P-256 public key")
    return key


# --- the manifest -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelManifest:
    """The files of a model directory as OMS signs them: in model_signing's order (by path components)."""

    model_name: str
    files: tuple[FileDigest, ...]  # read back from a signature, sizes are unknown (0): compare digests only
    ignore_paths: tuple[str, ...]

    @property
    def root_digest(self) -> str:
        """The statement's subject digest: SHA-256 over the files' raw digests, concatenated in order."""
        sha = hashlib.sha256()
        for entry in self.files:
            sha.update(bytes.fromhex(entry.sha256))
        return sha.hexdigest()

    @property
    def file_set_digest(self) -> str:
        """pot's ``pot.file-set.v1`` digest of the same files (docs/MODEL_HASHING.md section 4)."""
        return file_set_digest(self.files).digest

    def by_path(self) -> dict[str, FileDigest]:
        return {entry.path: entry for entry in self.files}


def _order(path: str) -> tuple[str, ...]:
    # model_signing sorts its manifest by PurePosixPath, which compares component by component ("a/b" < "a.txt").
    return tuple(path.split("/"))


def _ignored(relative: str, ignore: Iterable[str]) -> bool:
    parts = _order(relative)
    return any(parts[:len(_order(p))] == _order(p) for p in ignore)


def _normal_ignore(path: str) -> str:
    pure = PurePosixPath(path)
    if pure.is_absolute() or not pure.parts or ".." in pure.parts or str(pure) == ".":
        raise FormatError(f"ignore path {path!r} is not a relative path inside the model directory")
    return str(pure)


def hash_model_dir(model_dir: Path | str, ignore_paths: Iterable[str] = (), *, workers: int | None = None
                   ) -> ModelManifest:
    """Hash every regular file under ``model_dir`` as OMS does, leaving out ``ignore_paths`` (relative paths; a
    directory leaves out everything under it) and the git files.

    Raises :class:`UsageError` for a symlink or a special file anywhere under it (model_signing refuses them
    unless told to follow links; pot signs only what it will verify), and when ``model_dir`` is no directory.
    """
    root = Path(model_dir)
    if not root.is_dir() or root.is_symlink():
        raise UsageError(f"{root} is not a directory (pot signs a model directory)")
    ignore = tuple(sorted({_normal_ignore(p) for p in (*GIT_PATHS, *ignore_paths)}))
    found: list[tuple[str, Path]] = []

    def walk_error(exc: OSError) -> None:
        raise UsageError(f"cannot list {exc.filename}: {exc.strerror}")

    for dirpath, dirnames, filenames in os.walk(root, onerror=walk_error):
        here = Path(dirpath)
        for name in sorted(dirnames + filenames):
            full = here / name
            relative = full.relative_to(root).as_posix()
            try:
                relative.encode("utf-8")
            except UnicodeEncodeError:
                raise UsageError(f"file name {relative!r} under {root} is not valid UTF-8") from None
            info = full.lstat()
            if stat.S_ISLNK(info.st_mode):
                raise UsageError(f"{full} is a symlink; OMS signs regular files only (copy its target in)")
            if stat.S_ISDIR(info.st_mode):
                continue
            if not stat.S_ISREG(info.st_mode):
                raise UsageError(f"{full} is not a regular file (a pipe, socket or device)")
            if not _ignored(relative, ignore):
                found.append((relative, full))
    found.sort(key=lambda item: _order(item[0]))
    count = workers or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=max(1, count), thread_name_prefix="pot-oms") as pool:
        digests = list(pool.map(lambda item: hash_file(item[1]), found))
    entries = tuple(FileDigest(relative, (root / relative).stat().st_size, digest)
                    for (relative, _), digest in zip(found, digests, strict=True))
    name = root.name or root.resolve().name
    return ModelManifest(name, entries, ignore)


# --- the statement, the envelope, the bundle ----------------------------------------------------------------------


def statement(manifest: ModelManifest) -> dict[str, Any]:
    """The in-toto Statement v1 OMS signs (model_signing's ``signing.Payload``)."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": manifest.model_name, "digest": {"sha256": manifest.root_digest}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "serialization": {"method": "files", "hash_type": "sha256", "allow_symlinks": False,
                              "ignore_paths": list(manifest.ignore_paths)},
            "resources": [{"name": f.path, "algorithm": "sha256", "digest": f.sha256} for f in manifest.files],
        },
    }


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what the signature is over (lengths in bytes, decimal)."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def sign_statement(body: Mapping[str, Any], key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    """A Sigstore bundle (as JSON) holding a DSSE envelope over ``body``, signed with ``key``.

    The payload is the statement's RFC 8785 canonical JSON: any JSON parses back to the same statement, and pot
    signs canonical bytes, never ``json.dumps`` output.
    """
    payload = canonical_json(body)
    signature = key.sign(pae(DSSE_PAYLOAD_TYPE, payload), ec.ECDSA(hashes.SHA256()))
    return {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": public_key_hint(key.public_key())}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode("ascii"),
            "payloadType": DSSE_PAYLOAD_TYPE,
            "signatures": [{"sig": base64.b64encode(signature).decode("ascii")}],
        },
    }


# --- signing a model --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignedModel:
    model_dir: Path
    signature: Path
    manifest: ModelManifest
    public_key_hint: str
    attestations: tuple[Path, ...] = ()  # the pot files written into the directory (and signed with it)
    proof: Path | None = None  # the proof inside the directory, signed with the model (written there or found there)
    matches: tuple[FileMatch, ...] = ()  # with a proof: which record each file is


def proof_attestations(proof_bytes: bytes | None, attestation_bytes: bytes | None = None) -> dict[str, bytes]:
    """The pot files that go into a model directory beside its weights, by name, to be signed with them: the proof
    and, when given, its in-toto attestation (``pot attest``)."""
    out = {}
    if proof_bytes is not None:
        out[PROOF_NAME] = proof_bytes
    if attestation_bytes is not None:
        out[ATTESTATION_NAME] = attestation_bytes
    return out


def _attestation_agrees(data: bytes, proof: Any, proof_bytes: bytes) -> bool:
    """Is ``data`` an in-toto attestation (``pot attest``) that is byte for byte the one ``proof`` renders, signed
    by the proof's signer? (pot.attest.intoto.verify_attestation with the proof; any failure is a no.)"""
    from pot.attest.intoto import ProofFile, verify_attestation

    try:
        verify_attestation(data, trusted_key=proof.signer, proof_file=ProofFile(proof, proof_bytes))
    except PotError:
        return False
    return True


def sign_model(model_dir: Path | str, key: ec.EllipticCurvePrivateKey, *, signature: Path | str | None = None,
               proof: Path | str | None = None, attestation: Path | str | None = None,
               protect: Mapping[str, Sequence[Path]] | None = None) -> SignedModel:
    """Sign ``model_dir`` in the OMS format; with ``proof`` (a pot proof file), put it into the directory first
    (as ``model.pot.json``, unless it already lies inside) so it is signed with the model; with ``attestation``
    too (the proof's in-toto attestation from ``pot attest``, which must agree with the proof), the same for it
    (as ``model.pot.intoto.json``).

    With a proof, every other file must be one the proof recorded (as this file, as these weights, or as part of
    the directory recorded whole): a signature with the proof beside it reads as "this is the model that proof
    is about", and pot does not write that claim for files the proof does not know. The proof must verify (its
    own signatures; the signer is not pinned here, ``pot verify --trusted-key`` does that).

    The signature goes to ``signature`` (default ``model_dir/model.sig``); inside the directory it is left out of
    what is signed. Raises UsageError, FormatError, VerificationError (a proof that fails, or files it did not
    record) and KeyringError; writes nothing before every check has passed.
    """
    root = Path(model_dir)
    if not root.is_dir():
        raise UsageError(f"{root} is not a directory (pot signs a model directory)")
    signature_path = Path(signature) if signature is not None else root / SIGNATURE_NAME
    protect = protect or {}
    files.check_output(signature_path, **protect)
    ignore = []
    inside = _relative_inside(signature_path, root)
    if inside is not None:
        ignore.append(inside)
    to_write: dict[Path, bytes] = {}
    proof_doc, proof_inside = None, None
    if attestation is not None and proof is None:
        raise UsageError("an attestation goes with the proof it renders: give --proof FILE too")
    if proof is not None:
        from pot.log.proof import ProvenanceProof
        from pot.log.verify import verify_proof

        proof_path = Path(proof)
        proof_doc = ProvenanceProof.load(proof_path)
        verify_proof(proof_doc)
        proof_bytes = proof_path.read_bytes()
        attestation_bytes = None
        if attestation is not None:
            from pot.log.proof import read_proof_file

            attestation_bytes = read_proof_file(attestation, what="attestation file")
            if not _attestation_agrees(attestation_bytes, proof_doc, proof_bytes):
                raise VerificationError(f"{attestation} is not the attestation of {proof_path} signed by its signer "
                                        f"(pot verify-attestation {attestation} --proof {proof_path} says why)")
        proof_outside = _relative_inside(proof_path, root) is None
        attestation_outside = attestation is not None and _relative_inside(Path(attestation), root) is None
        to_write = {root / name: data for name, data in proof_attestations(
            proof_bytes if proof_outside else None, attestation_bytes if attestation_outside else None).items()}
        proof_inside = root / PROOF_NAME if proof_outside else proof_path
        for path in to_write:
            files.check_output(path, **protect)
    # Hash what will be signed before writing anything: the pot files are hashed from the bytes about to be written.
    manifest = hash_model_dir(root, [*ignore, *(p.name for p in to_write)])
    if to_write:
        extra = [FileDigest(p.name, len(data), HexDigest(hashlib.sha256(data).hexdigest()))
                 for p, data in to_write.items()]
        manifest = ModelManifest(manifest.model_name,
                                 tuple(sorted((*manifest.files, *extra), key=lambda f: _order(f.path))),
                                 tuple(sorted(set(manifest.ignore_paths) - {p.name for p in to_write})))
    matches: tuple[FileMatch, ...] = ()
    if proof_doc is not None:
        matches = match_model_files(proof_doc, root, manifest, proof_sha256=hashlib.sha256(proof_bytes).hexdigest(),
                                    proof_bytes=proof_bytes, pending=to_write)
        missing = [m.path for m in matches if not m.recorded]
        if missing:
            raise ModelFilesError(f"{len(missing)} file(s) of {root} are not recorded by the proof "
                                  f"({_names(missing)}); sign without --proof, or move them out")
    bundle = sign_statement(statement(manifest), key)
    for path, data in to_write.items():
        files.write_output(path, data, **protect)
    files.write_output(signature_path, _dump(bundle), **protect)
    return SignedModel(root, signature_path, manifest, public_key_hint(key.public_key()), tuple(to_write),
                       proof_inside, matches)


def _dump(document: Mapping[str, Any]) -> bytes:
    import json

    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def _relative_inside(path: Path, root: Path) -> str | None:
    """``path`` relative to ``root`` (POSIX), when it lies inside it (symlinks resolved), else None."""
    try:
        relative = path.resolve().relative_to(root.resolve())
    except ValueError:
        return None
    return relative.as_posix() if relative.parts else None


def _names(paths: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


# --- verifying a signature ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifiedSignature:
    manifest: ModelManifest  # what was signed (and, having been checked, what the directory holds)
    public_key_hint: str


def read_signed_manifest(signature: Path | str) -> tuple[ModelManifest, dict[str, Any]]:
    """The manifest an OMS bundle states, and the bundle, WITHOUT checking its signature (for saying what a
    signature covers, e.g. which paths it ignores). Raises FormatError for anything but a v1.0 OMS bundle."""
    bundle = _read_bundle(Path(signature))
    envelope = bundle["dsseEnvelope"]
    return _manifest_from_payload(_b64(envelope.get("payload"), "dsseEnvelope.payload")), bundle


def verify_model_signature(model_dir: Path | str, signature: Path | str, public_key: ec.EllipticCurvePublicKey
                           ) -> VerifiedSignature:
    """Check an OMS signature as ``model_signing verify key`` does, with pot's own code. In order:

    1. the bundle's media type, payload type and its one DSSE signature (ECDSA P-256, SHA-256, DER) over the
       PAE of the payload, with ``public_key``; its key hint, when present, names that key;
    2. the payload is an in-toto Statement v1 with the v1.0 OMS predicate, ``files`` serialization with SHA-256,
       and the subject digest is the hash of the listed digests;
    3. the directory holds exactly the signed files (leaving out the signed ``ignore_paths``, the git files and
       the signature itself), each with the signed SHA-256.

    Raises :class:`ModelSignatureError` (FormatError for a file that is no OMS bundle).
    """
    root, path = Path(model_dir), Path(signature)
    bundle = _read_bundle(path)
    envelope = bundle["dsseEnvelope"]
    hint = bundle["verificationMaterial"].get("publicKey", {}).get("hint")
    expected_hint = public_key_hint(public_key)
    if hint and not hmac.compare_digest(str(hint), expected_hint):
        raise ModelSignatureError(f"{path} names another public key (hint {str(hint)[:16]}..., this key is "
                                  f"{expected_hint[:16]}...)")
    payload = _b64(envelope.get("payload"), "dsseEnvelope.payload")
    signatures = envelope.get("signatures")
    if not isinstance(signatures, list) or len(signatures) != 1 or not isinstance(signatures[0], dict):
        raise FormatError(f"{path}: the DSSE envelope must hold exactly one signature")
    raw_signature = _b64(signatures[0].get("sig"), "signature")
    try:
        public_key.verify(raw_signature, pae(DSSE_PAYLOAD_TYPE, payload), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise ModelSignatureError(f"the signature in {path} does not verify with this public key") from None
    signed = _manifest_from_payload(payload)
    ignore = list(signed.ignore_paths)
    inside = _relative_inside(path, root)
    if inside is not None:
        ignore.append(inside)
    actual = hash_model_dir(root, ignore)
    differences = manifest_differences(signed, actual)
    if differences:
        raise ModelSignatureError(f"{root} is not what {path} signed: {'; '.join(differences)}")
    return VerifiedSignature(signed, expected_hint)


def manifest_differences(signed: ModelManifest, actual: ModelManifest) -> list[str]:
    want, have = signed.by_path(), actual.by_path()
    out = []
    if extra := sorted(set(have) - set(want), key=_order):
        out.append(f"not signed: {_names(extra)}")
    if missing := sorted(set(want) - set(have), key=_order):
        out.append(f"missing: {_names(missing)}")
    if changed := [p for p in sorted(set(want) & set(have), key=_order)
                   if not hmac.compare_digest(want[p].sha256, have[p].sha256)]:
        out.append(f"changed: {_names(changed)}")
    return out


def _read_bundle(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_SIGNATURE_BYTES + 1)
    except FileNotFoundError:
        raise UsageError(f"no signature file at {path}") from None
    except OSError as exc:
        raise UsageError(f"cannot read signature {path}: {exc.strerror}") from None
    bundle = strictjson.loads(data, f"signature {path}", max_bytes=MAX_SIGNATURE_BYTES)
    if not isinstance(bundle, dict) or bundle.get("mediaType") != BUNDLE_MEDIA_TYPE:
        raise FormatError(f"{path} is not a Sigstore bundle {BUNDLE_MEDIA_TYPE}")
    envelope, material = bundle.get("dsseEnvelope"), bundle.get("verificationMaterial")
    if not isinstance(envelope, dict) or not isinstance(material, dict):
        raise FormatError(f"{path}: a model signature bundle holds a dsseEnvelope and verificationMaterial")
    if envelope.get("payloadType") != DSSE_PAYLOAD_TYPE:
        raise FormatError(f"{path}: payload type {envelope.get('payloadType')!r}, expected {DSSE_PAYLOAD_TYPE}")
    if not isinstance(material.get("publicKey", {}), dict):
        raise FormatError(f"{path}: verificationMaterial.publicKey is not an object")
    return bundle


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise FormatError(f"{what} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise FormatError(f"{what} is not valid base64") from None


def _manifest_from_payload(payload: bytes) -> ModelManifest:
    body = strictjson.loads(payload, "signed statement")
    if not isinstance(body, dict) or body.get("_type") != STATEMENT_TYPE:
        raise FormatError(f"the signed payload is not an in-toto Statement ({STATEMENT_TYPE})")
    if body.get("predicateType") != PREDICATE_TYPE:
        raise FormatError(f"predicate type {body.get('predicateType')!r}; pot reads {PREDICATE_TYPE}")
    subjects, predicate = body.get("subject"), body.get("predicate")
    if (not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], dict)
            or not isinstance(subjects[0].get("digest"), dict) or not isinstance(predicate, dict)):
        raise FormatError("the statement must have one subject with a digest, and a predicate")
    method = predicate.get("serialization")
    if not isinstance(method, dict) or method.get("method") != "files" or method.get("hash_type") != "sha256":
        raise FormatError("pot reads OMS signatures made file by file with SHA-256 (serialization method 'files')")
    ignore = method.get("ignore_paths", [])
    resources = predicate.get("resources")
    if not isinstance(ignore, list) or not all(isinstance(p, str) for p in ignore) or not isinstance(resources,
                                                                                                    list):
        raise FormatError("the predicate's ignore_paths and resources must be lists")
    entries = []
    for index, resource in enumerate(resources):
        if (not isinstance(resource, dict) or resource.get("algorithm") != "sha256"
                or not isinstance(resource.get("name"), str) or not isinstance(resource.get("digest"), str)
                or len(resource["digest"]) != 64 or resource["digest"].strip("0123456789abcdef")):
            raise FormatError(f"resource {index} is not a file with a SHA-256 digest")
        entries.append(FileDigest(str(PurePosixPath(resource["name"])), 0, HexDigest(resource["digest"])))
    manifest = ModelManifest(str(subjects[0].get("name", "")), tuple(entries),
                             tuple(_normal_ignore(p) for p in ignore))
    root = subjects[0]["digest"].get("sha256")
    if not isinstance(root, str) or not hmac.compare_digest(root, manifest.root_digest):
        raise FormatError("the statement's subject digest is not the hash of its resources' digests")
    return manifest


# --- matching files against a proof -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileMatch:
    """What one file of a model directory is to a proof."""

    path: str
    sha256: str
    role: str  # "recorded" (by records), "directory" (part of a directory recorded whole), "proof", "unrecorded"
    matches: list[dict[str, Any]] = field(default_factory=list)  # find_checkpoint_file's matches
    detail: str = ""

    @property
    def recorded(self) -> bool:
        return self.role != "unrecorded"

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "role": self.role, "recorded": self.recorded,
                "matches": self.matches, "detail": self.detail}


def match_model_files(proof: Any, model_dir: Path | str, manifest: ModelManifest, *, proof_sha256: str,
                      proof_bytes: bytes | None = None, pending: Mapping[Path, bytes] | None = None
                      ) -> tuple[FileMatch, ...]:
    """Which record of ``proof`` each file of ``manifest`` is, in manifest order. A file is accounted for when:

    - it is the proof itself (its bytes hash to ``proof_sha256``);
    - it is the proof's in-toto attestation: ``pot attest``'s rendering of exactly this proof, signed by its
      signer (checked with ``proof_bytes``, the proof file's bytes; ``pending`` holds files about to be written);
    - its SHA-256 is a checkpoint's recorded file digest, or its weights digest (``.safetensors``, a PyTorch
      state dict) is a model hash the proof records (``pot.log.verify.find_checkpoint_file``);
    - the directory's model files (every file but the proof) have, as a ``pot.file-set.v1`` digest, a
      checkpoint's recorded file digest: a checkpoint saved as a directory, recorded whole.
    """
    from pot.log.records import TrainingCheckpoint
    from pot.log.verify import describe_match, find_checkpoint_file

    root = Path(model_dir)
    pending = pending or {}
    attestations: set[str] = set()
    if proof_bytes is not None:
        for entry in manifest.files:
            if entry.sha256 == proof_sha256 or not entry.path.endswith(".intoto.json"):
                continue
            path = root / entry.path
            try:
                data = pending[path] if path in pending else path.read_bytes()
            except OSError:
                continue
            if hashlib.sha256(data).hexdigest() == entry.sha256 and _attestation_agrees(data, proof, proof_bytes):
                attestations.add(entry.path)
    model_files = [f for f in manifest.files if f.sha256 != proof_sha256 and f.path not in attestations]
    directory_records = []
    if model_files:
        digest = file_set_digest(model_files).digest
        directory_records = [{"by": "directory", "seq": r.seq, "kind": "checkpoint", "record_id": r.record_id,
                              "epoch": r.epoch, "file_name": r.file_name}
                             for r in proof.records
                             if isinstance(r, TrainingCheckpoint) and r.file_sha256 == digest]
    out = []
    for entry in manifest.files:
        if hmac.compare_digest(entry.sha256, proof_sha256):
            out.append(FileMatch(entry.path, entry.sha256, "proof", [], "the pot proof itself"))
            continue
        if entry.path in attestations:
            out.append(FileMatch(entry.path, entry.sha256, "proof", [],
                                 "the proof's in-toto attestation (agrees with the proof, signed by its signer)"))
            continue
        found = find_checkpoint_file(proof, root / entry.path, sha256=entry.sha256)
        matches = found["matches"] + directory_records
        role = "recorded" if found["matches"] else "directory" if directory_records else "unrecorded"
        weights = f", weights digest {found['weights_digest'][:16]}..." if found["weights_digest"] else ""
        detail = ("; ".join(describe_match(m) for m in matches) if matches else
                  f"NOT recorded by the proof (sha256 {entry.sha256[:16]}...{weights})")
        out.append(FileMatch(entry.path, entry.sha256, role, matches, detail))
    return tuple(out)


# --- pot verify --model-dir ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelDirReport:
    path: Path
    signature: Path | None  # the signature found (or given), checked only when signature_checked
    signature_checked: bool
    manifest: ModelManifest
    files: tuple[FileMatch, ...]
    checks: list[Any]  # pot.log.verify.Check: "model-signature" (with a public key), then "model-files"

    @property
    def ok(self) -> bool:
        return all(c.passed for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "signature": str(self.signature) if self.signature else None,
                "signature_checked": self.signature_checked, "file_set_digest": self.manifest.file_set_digest,
                "oms_subject_digest": self.manifest.root_digest, "ignored": list(self.manifest.ignore_paths),
                "files": [m.to_json() for m in self.files]}


def check_model_dir(proof: Any, proof_file: Path | str, model_dir: Path | str, *,
                    signature: Path | str | None = None, public_key: ec.EllipticCurvePublicKey | None = None,
                    public_key_name: str = "the public key") -> ModelDirReport:
    """What ``pot verify --model-dir`` checks, once the proof itself has been verified. In order:

    1. ``model-signature`` (only with ``public_key``): :func:`verify_model_signature` of ``signature`` (default
       ``model_dir/model.sig``);
    2. ``model-files``: every file of the directory, hashed as OMS does (leaving out the signature, the paths it
       says it ignores, and the git files), is accounted for by the proof (:func:`match_model_files`); the bytes of
       ``proof_file`` identify the proof itself.

    Failed checks are returned, not raised (the verifier's report shows every check); a directory or file that
    cannot be read, or a public key without a signature, raises UsageError.
    """
    from pot.log.verify import Check

    root = Path(model_dir)
    if not root.is_dir():
        raise UsageError(f"--model-dir {root} is not a directory")
    signature_path = Path(signature) if signature is not None else root / SIGNATURE_NAME
    has_signature = signature_path.is_file()
    if signature is not None and not has_signature:
        raise UsageError(f"no signature file at {signature_path}")
    checks: list[Any] = []
    ignore: list[str] = []
    inside = _relative_inside(signature_path, root)
    if has_signature and inside is not None:
        # Left out only when it is an OMS bundle: any other file under that name is matched like the rest. The
        # paths a signature says it ignores are NOT left out: unchecked they are only a claim, and "every file of
        # DIR" is what a person loading DIR gets.
        try:
            read_signed_manifest(signature_path)
            ignore.append(inside)
        except FormatError:
            pass
    checked = False
    if public_key is not None:
        if not has_signature:
            raise UsageError(f"no signature at {signature_path} to check with {public_key_name} (give it with "
                             "--model-signature FILE)")
        try:
            verified = verify_model_signature(root, signature_path, public_key)
        except (ModelSignatureError, FormatError) as exc:
            checks.append(Check("model-signature", False, f"{signature_path}: {exc}"))
        else:
            checked = True
            checks.append(Check("model-signature", True,
                                f"{signature_path} verifies with {public_key_name} (ECDSA P-256, hint "
                                f"{verified.public_key_hint[:16]}...) and signs exactly the "
                                f"{len(verified.manifest.files)} file(s) of {root}"))
    manifest = hash_model_dir(root, ignore)
    try:
        proof_sha256 = hashlib.sha256(Path(proof_file).read_bytes()).hexdigest()
    except OSError as exc:
        raise UsageError(f"cannot read proof file {proof_file}: {exc.strerror}") from None
    matches = match_model_files(proof, root, manifest, proof_sha256=proof_sha256,
                                proof_bytes=Path(proof_file).read_bytes())
    missing = [m.path for m in matches if not m.recorded]
    model_count = sum(1 for m in matches if m.role != "proof")
    if not manifest.files:
        detail, passed = f"{root} holds no file to match", False
    elif missing:
        detail, passed = (f"{len(missing)} of {len(matches)} file(s) of {root} NOT recorded by the proof: "
                          f"{_names(missing)}"), False
    else:
        itself = len(matches) - model_count
        detail, passed = (f"every file of {root} is accounted for: {model_count} recorded by the proof"
                          + (f", {itself} the proof itself" if itself == 1 else
                             f", {itself} the proof and its attestation" if itself else "")), True
    if has_signature and public_key is None:
        detail += f"; the signature {signature_path} was NOT checked (pass --model-key KEY.pub)"
    checks.append(Check("model-files", passed, detail))
    return ModelDirReport(root, signature_path if has_signature else None, checked, manifest, matches, checks)
