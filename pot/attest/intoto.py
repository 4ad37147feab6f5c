"""in-toto attestations rendered from a proof of training: a Statement v1 in a DSSE envelope.

An attestation is a rendering of a proof, never a weaker proof (docs/ATTESTATIONS.md): every value in it is
derived from one proof file, deterministically, so that given that file a verifier re-renders the statement and
compares bytes. It carries the proof's digest, so whoever holds the attestation knows which full proof shows
completeness and order. Two statements can be rendered, one predicate type each (the in-toto convention):

- the **pot predicate** (:data:`POT_PREDICATE_TYPE`): the proof's digests, its log id, the latest signed tree
  head and every anchor receipt, verbatim as the proof carries them (signed objects keep their signatures);
- **SLSA Provenance v1** (:data:`SLSA_PREDICATE_TYPE`): the run that made the final model, as a build: its
  configuration as the build definition, its code commit, datasets and parent models as resolved dependencies,
  the recorder (the signer's key) as the builder, the proof as a byproduct.

Both name the same subjects: the final model's weights digest and the files recorded with those weights.

:func:`attest` verifies the proof first, pinned to the signing key, and signs only a proof of that key: the
attestation's signer and the proof's are one. :func:`verify_attestation` checks, in order:

1. ``envelope``: the DSSE envelope's shape (:mod:`pot.attest.dsse`), its payload type ``application/vnd.in-toto+json``;
2. ``signature``: the DSSE signature over PAE(payloadType, payload), by the trusted key, else by the proof's
   signer, else by the key the pot predicate names (then only self-consistency is shown, and the report says so);
   nothing in the payload is read as a statement before this passes;
3. ``statement``: the payload is an in-toto Statement v1 with one of the two predicate types;
4. ``proof`` (given the proof file): the proof verifies (pot.log.verify.verify_proof), by the same key;
5. ``agreement`` (given the proof file): the payload is byte for byte the statement this proof renders;
   ``predicate`` (without it): the pot predicate's head and receipts carry valid signatures of the signer, or
   the SLSA builder names the signer's key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pot._internal import strictjson
from pot.anchors.base import AnchorReceipt
from pot.attest import dsse
from pot.errors import AttestationError, FormatError, PotError, UsageError, VerificationError
from pot.lineage.events import RUN_COMPLETED, RUN_STARTED
from pot.log.canonical import DOMAIN_PROOF, canonical_json, object_hash, sha256_hex
from pot.log.heads import SignedTreeHead, TreeHead
from pot.log.keys import ALGORITHM, PublicKey, SigningKey
from pot.log.proof import MEDIA_TYPE, ProvenanceProof, read_proof_file, signed_view
from pot.log.records import EventRecord, TrainingCheckpoint

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
# pot's own type URIs name things; they are not locations (the host is a bare name, as OMS's model_signing is).
# docs/ATTESTATIONS.md is their specification. A change to what they render needs a new version in the URI.
POT_PREDICATE_TYPE = "https://pot-provenance/attestation/proof/v1"
SLSA_PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
SLSA_BUILD_TYPE = "https://pot-provenance/attestation/training-run/v1"
BUILDER_ID_PREFIX = "https://pot-provenance/recorder/ed25519/"
PREDICATE_TYPES = (POT_PREDICATE_TYPE, SLSA_PREDICATE_TYPE)

# DigestSet algorithm names for pot's own digests (in-toto lets a producer name and document new ones).
PROOF_DIGEST = "potProofV1"  # hex H(SI("pot.v1.proof", V)): the proof's value, whatever its spelling
MODEL_HASH_DIGEST = "potModelHash"  # a checkpoint's model_hash as recorded (pot writes pot.model-hash.v1)
PARENT_DIGEST = "potDigest"  # a parent's digest as its run recorded it

_HEX64 = re.compile(r"[0-9a-f]{64}")
_STATEMENT_KEYS = {"_type", "subject", "predicateType", "predicate"}


@dataclass(frozen=True, slots=True)
class ProofFile:
    """A proof with the exact bytes of its file: the attestation binds both (their two digests)."""

    proof: ProvenanceProof
    data: bytes

    @classmethod
    def load(cls, path: Path | str) -> ProofFile:
        data = read_proof_file(path)
        return cls(ProvenanceProof.from_json(data), data)

    @classmethod
    def of(cls, proof: ProvenanceProof) -> ProofFile:
        """A proof as :meth:`ProvenanceProof.save` writes it."""
        data = (proof.dumps(indent=1) + "\n").encode("utf-8")
        return cls(ProvenanceProof.from_json(data), data)

    def digests(self) -> dict[str, str]:
        return {"sha256": sha256_hex(self.data),
                PROOF_DIGEST: object_hash(DOMAIN_PROOF, signed_view(self.proof.body()))}


# --- rendering ----------------------------------------------------------------------------------------------------


def subjects(proof: ProvenanceProof) -> list[dict[str, Any]]:
    """The final model: its weights digest (when it is a 64-hex digest) and each file recorded with those weights.

    Raises UsageError for a proof that names no final model (a partial proof, or one without checkpoints).
    """
    if proof.disclosure != "full":
        raise UsageError("a partial proof names no final model; attest a full proof")
    final = proof.final_model_hash
    if final is None:
        raise UsageError(f"the proof of {proof.model_id} records no checkpoint, so there is no model to attest")
    found: list[dict[str, Any]] = []
    if _HEX64.fullmatch(final):
        found.append({"name": proof.model_id, "digest": {MODEL_HASH_DIGEST: final}})
    seen: set[tuple[str, str]] = set()
    for record in proof.records:
        if (isinstance(record, TrainingCheckpoint) and record.model_hash == final and record.file_sha256 is not None
                and record.file_name is not None and (record.file_name, record.file_sha256) not in seen):
            seen.add((record.file_name, record.file_sha256))
            found.append({"name": record.file_name, "digest": {"sha256": record.file_sha256}})
    if not found:
        raise UsageError(f"the final model hash of {proof.model_id} is no 64-hex digest and no file was recorded "
                         "with it: nothing to name as the subject")
    return found


def pot_predicate(proof_file: ProofFile) -> dict[str, Any]:
    proof = proof_file.proof
    body = proof.body()
    latest = body["tree_heads"][-1]
    return {
        "proof": {"mediaType": MEDIA_TYPE, "digest": proof_file.digests()},
        "logId": {"keyId": proof.signer.key_id, "modelId": proof.model_id},
        "signer": {"algorithm": ALGORITHM, "publicKey": proof.signer.hex, "keyId": proof.signer.key_id},
        "disclosure": proof.disclosure,
        "recordCount": len(proof.disclosed),
        "proofTimestamp": proof.proof_timestamp,
        "finalModelHash": proof.final_model_hash,
        "signedHead": {"head": latest["head"], "signature": latest["signature"]},
        "anchors": list(body["anchors"]),
    }


def _final_run(proof: ProvenanceProof) -> tuple[str, EventRecord, EventRecord | None] | None:
    checkpoints = [r for r in proof.records if isinstance(r, TrainingCheckpoint)]
    run_id = checkpoints[-1].run_id if checkpoints else None
    if run_id is None:
        return None
    events = [r for r in proof.records if isinstance(r, EventRecord) and r.run_id == run_id]
    started = next((r for r in events if r.event == RUN_STARTED), None)
    if started is None:
        return None
    completed = next((r for r in events if r.event == RUN_COMPLETED), None)
    return run_id, started, completed


def slsa_predicate(proof_file: ProofFile) -> dict[str, Any]:
    """SLSA Provenance v1 of the run that recorded the final checkpoint. UsageError if there is no such run."""
    proof = proof_file.proof
    subjects(proof)  # the same refusals as the statement's subjects, before anything else
    found = _final_run(proof)
    if found is None:
        raise UsageError(f"the final checkpoint of {proof.model_id} was recorded outside a run (no RunStarted for "
                         "its run in the proof), so there is no build to describe as SLSA provenance")
    run_id, started, completed = found
    data = started.data
    external: dict[str, Any] = {"modelId": proof.model_id, "runKind": data["kind"], "config": data["config"]}
    if data["rerun_of"] is not None:
        external["rerunOf"] = data["rerun_of"]
    dependencies: list[dict[str, Any]] = []
    git = data["git"]
    if git["commit"] is not None:
        dependencies.append({"name": "source", "digest": {"gitCommit": git["commit"]},
                             "annotations": {"dirty": git["dirty"], "branch": git["branch"]}})
    dependencies.extend(_parent_descriptor(parent) for parent in data["parents"])
    metadata = {"invocationId": run_id, "startedOn": started.timestamp}
    if completed is not None:
        metadata["finishedOn"] = completed.timestamp
    builder: dict[str, Any] = {"id": BUILDER_ID_PREFIX + proof.signer.key_id}
    packages = data["environment"].get("packages")
    if isinstance(packages, Mapping) and isinstance(packages.get("pot-provenance"), str):
        builder["version"] = {"pot-provenance": packages["pot-provenance"]}
    build_definition: dict[str, Any] = {
        "buildType": SLSA_BUILD_TYPE,
        "externalParameters": external,
        "internalParameters": {"configHash": data["config_hash"], "environment": data["environment"],
                               "environmentHash": data["environment_hash"]},
    }
    if dependencies:
        build_definition["resolvedDependencies"] = dependencies
    return {
        "buildDefinition": build_definition,
        "runDetails": {"builder": builder, "metadata": metadata,
                       "byproducts": [{"name": "proof", "digest": proof_file.digests(), "mediaType": MEDIA_TYPE}]},
    }


def _parent_descriptor(parent: Mapping[str, Any]) -> dict[str, Any]:
    descriptor: dict[str, Any] = {"name": parent["id"]}
    if parent["digest"] is not None:
        algorithm = MODEL_HASH_DIGEST if parent["kind"] == "model" else PARENT_DIGEST
        descriptor["digest"] = {algorithm: parent["digest"]}
    else:
        # A resource descriptor needs a uri, digest or content; a parent recorded without a digest is only named.
        descriptor["uri"] = f"pot:{parent['kind']}/{quote(parent['id'], safe='')}"
    annotations: dict[str, Any] = {"kind": parent["kind"], "relation": parent["relation"]}
    if parent["proof"] is not None:
        annotations["proof"] = parent["proof"]
    if "path" in parent:
        annotations["path"] = parent["path"]
    descriptor["annotations"] = annotations
    return descriptor


_RENDERERS: dict[str, Callable[[ProofFile], dict[str, Any]]] = {
    POT_PREDICATE_TYPE: pot_predicate, SLSA_PREDICATE_TYPE: slsa_predicate}


def statement(proof_file: ProofFile, predicate_type: str) -> dict[str, Any]:
    """The in-toto Statement v1 of ``predicate_type`` that this proof renders."""
    return {"_type": STATEMENT_TYPE, "subject": subjects(proof_file.proof), "predicateType": predicate_type,
            "predicate": _RENDERERS[predicate_type](proof_file)}


def payload(proof_file: ProofFile, predicate_type: str) -> bytes:
    """The statement's bytes as signed: RFC 8785 canonical JSON, so one proof gives one payload."""
    return canonical_json(statement(proof_file, predicate_type))


def attest(key: SigningKey, proof_file: ProofFile, predicate_types: tuple[str, ...] = (POT_PREDICATE_TYPE,), *,
           now: datetime | None = None) -> list[dsse.Envelope]:
    """Verify the proof (pinned to ``key``) and return one signed envelope per predicate type, in that order.

    Refuses (UsageError) a proof signed by another key: the attestation would be a second signer's word about the
    first's proof, and the point of it is that both are one signer's. A proof that fails verification raises its
    VerificationError and nothing is signed.
    """
    from pot.log.verify import verify_proof

    proof = proof_file.proof
    if proof.signer != key.public:
        raise UsageError(f"the proof is signed by key {proof.signer.key_id}, not by this store's key "
                         f"{key.key_id}: an attestation is signed by the proof's own signer")
    unknown = [t for t in predicate_types if t not in _RENDERERS]
    if unknown or not predicate_types:
        raise UsageError(f"predicate types must be among {', '.join(_RENDERERS)}, got {unknown or 'none'}")
    bodies = [payload(proof_file, t) for t in predicate_types]  # what the content refuses, before verifying
    verify_proof(proof, trusted_key=key.public, now=now)
    return [dsse.sign(key, dsse.PAYLOAD_TYPE_INTOTO, body) for body in bodies]


# --- verifying ----------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class AttestationCheck:
    name: str
    passed: bool
    detail: str


@dataclass(slots=True)
class AttestationReport:
    predicate_type: str | None = None
    signer_key_id: str | None = None
    signer_pinned: bool = False
    compared_with_proof: bool = False
    subjects: list[dict[str, Any]] = field(default_factory=list)
    checks: list[AttestationCheck] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "predicate_type": self.predicate_type, "signer_key_id": self.signer_key_id,
                "signer_pinned": self.signer_pinned, "compared_with_proof": self.compared_with_proof,
                "subjects": self.subjects,
                "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in self.checks],
                "notes": self.notes}


def verify_attestation(data: bytes | str, *, trusted_key: PublicKey | None = None,
                       proof_file: ProofFile | None = None, now: datetime | None = None) -> AttestationReport:
    """Verify an envelope (its bytes); return the report, or raise the first failure (report attached).

    The checks and their order are in the module docstring. Every failure is a VerificationError subclass;
    nothing is reported as checked that was not.
    """
    report = AttestationReport(signer_pinned=trusted_key is not None, compared_with_proof=proof_file is not None)

    def step(name: str, check: Callable[[], str]) -> None:
        try:
            detail = check()
        except AttestationError as exc:
            report.checks.append(AttestationCheck(name, False, str(exc)))
            exc.check, exc.report = name, report
            raise
        except VerificationError as exc:  # the proof's own verification: its failed check, named
            message = f"the proof fails verification: {exc.check}: {exc}"
            report.checks.append(AttestationCheck(name, False, message))
            raise _failure(name, message, report) from None
        except UsageError:  # the caller must say more (which key): bad usage, not a failed attestation
            raise
        except PotError as exc:  # a malformed part is a failed check, never a pass
            report.checks.append(AttestationCheck(name, False, str(exc)))
            raise _failure(name, str(exc), report) from None
        except Exception as exc:  # fail closed on input that breaks a check
            message = f"the attestation broke this check ({type(exc).__name__}: {exc})"
            report.checks.append(AttestationCheck(name, False, message))
            raise _failure(name, message, report) from None
        report.checks.append(AttestationCheck(name, True, detail))

    holder: dict[str, Any] = {}

    def envelope() -> str:
        parsed = dsse.Envelope.from_json(data)
        if parsed.payload_type != dsse.PAYLOAD_TYPE_INTOTO:
            raise AttestationError(f"payloadType is {parsed.payload_type[:80]!r}, not {dsse.PAYLOAD_TYPE_INTOTO}")
        holder["envelope"] = parsed
        return f"a DSSE envelope of {parsed.payload_type}, {len(parsed.payload):,} payload bytes, one signature"

    def parsed_statement() -> str:
        value = _check_statement(holder["envelope"].payload)
        holder["statement"] = value
        report.predicate_type = value["predicateType"]
        report.subjects = value["subject"]
        return (f"an in-toto Statement v1, predicate {value['predicateType']}, {len(value['subject'])} subject(s): "
                + ", ".join(_subject_text(s) for s in value["subject"]))

    def signature() -> str:
        key, whose = _signing_key(holder["envelope"].payload, trusted_key, proof_file)
        holder["key"] = key
        holder["envelope"].verify(key)
        report.signer_key_id = key.key_id
        if trusted_key is None:
            report.notes.append(f"the signer was not pinned (--trusted-key): the signature is checked against {whose}, "
                                "which shows only that the attestation is consistent with itself")
        return f"DSSE signature over PAE(payloadType, payload) by {whose}, key id {key.key_id}"

    # The signature before anything in the payload is believed (DSSE: verify, then parse).
    step("envelope", envelope)
    step("signature", signature)
    step("statement", parsed_statement)
    if proof_file is not None:
        def proof_check() -> str:
            from pot.log.verify import verify_proof

            if proof_file.proof.signer != holder["key"]:
                raise AttestationError(f"the proof is signed by key {proof_file.proof.signer.key_id}, the attestation "
                                       f"by {holder['key'].key_id}")
            checked = verify_proof(proof_file.proof, trusted_key=holder["key"], now=now)
            return f"the proof of {proof_file.proof.model_id} verifies ({len(checked.checks)} checks), same signer"

        def agreement() -> str:
            statement_type = holder["statement"]["predicateType"]
            expected = payload(proof_file, statement_type)
            if holder["envelope"].payload != expected:
                rendered = strictjson.loads(expected, "statement")
                raise AttestationError("the statement is not the one this proof renders: "
                                       + _first_difference(holder["statement"], rendered))
            return ("the statement is byte for byte the one this proof renders (proof sha256 "
                    f"{sha256_hex(proof_file.data)[:16]}...)")

        step("proof", proof_check)
        step("agreement", agreement)
    else:
        step("predicate", lambda: _check_predicate_alone(holder["statement"], holder["key"]))
        report.notes.append("not compared with a proof: give the proof file (--proof FILE) to check that the "
                            "attestation renders it")
    return report


def _failure(name: str, message: str, report: AttestationReport) -> AttestationError:
    failure = AttestationError(message, report=report)
    failure.check = name
    return failure


def _check_statement(raw: bytes) -> dict[str, Any]:
    """The in-toto Statement v1 rules: exactly ``_type``, ``subject``, ``predicateType`` and ``predicate``; every
    subject has a non-empty digest set of strings."""
    try:
        value = strictjson.loads(raw, "statement", max_bytes=dsse.MAX_ENVELOPE_BYTES)
    except FormatError as exc:
        raise AttestationError(f"the payload is not JSON: {exc}") from None
    if not isinstance(value, dict) or set(value) != _STATEMENT_KEYS:
        raise AttestationError("the payload is not an in-toto Statement: it must hold exactly _type, subject, "
                               "predicateType and predicate")
    if value["_type"] != STATEMENT_TYPE:
        raise AttestationError(f"_type is {str(value['_type'])[:80]!r}, not {STATEMENT_TYPE}")
    if value["predicateType"] not in PREDICATE_TYPES:
        raise AttestationError(f"predicateType {str(value['predicateType'])[:80]!r} is not one pot writes "
                               f"({', '.join(PREDICATE_TYPES)})")
    if not isinstance(value["predicate"], dict):
        raise AttestationError("predicate must be a JSON object")
    subject = value["subject"]
    if not isinstance(subject, list) or not subject:
        raise AttestationError("subject must be a non-empty array")
    for i, item in enumerate(subject):
        digest = item.get("digest") if isinstance(item, dict) else None
        if (not isinstance(digest, dict) or not digest
                or not all(isinstance(k, str) and isinstance(v, str) for k, v in digest.items())):
            raise AttestationError(f"subject[{i}] must have a non-empty digest set of strings")
    return value


def _signing_key(raw: bytes, trusted: PublicKey | None, proof_file: ProofFile | None) -> tuple[PublicKey, str]:
    """The key to check the signature with. Only when neither a trusted key nor the proof is given is the key read
    from the (not yet verified) payload: then the check shows self-consistency, and the report says so."""
    if trusted is not None:
        return trusted, "the trusted key"
    if proof_file is not None:
        return proof_file.proof.signer, "the proof's signer"
    try:
        value = strictjson.loads(raw, "statement", max_bytes=dsse.MAX_ENVELOPE_BYTES)
    except FormatError as exc:
        raise AttestationError(f"no key to check the signature with, and the payload is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise AttestationError("no key to check the signature with, and the payload is not a JSON object")
    predicate = value.get("predicate")
    signer = predicate.get("signer") if isinstance(predicate, dict) else None
    if (value.get("predicateType") != POT_PREDICATE_TYPE or not isinstance(signer, Mapping)
            or not isinstance(signer.get("publicKey"), str)):
        raise UsageError("which key? give --trusted-key KEY or the proof (--proof FILE): this statement names no "
                         "public key of its own")
    try:
        return PublicKey.from_text(signer["publicKey"]), "the key the predicate names"
    except FormatError as exc:
        raise AttestationError(f"predicate.signer.publicKey: {exc}") from None


def _check_predicate_alone(value: Mapping[str, Any], key: PublicKey) -> str:
    """What can be checked without the proof: the signed objects the pot predicate carries verify under the
    signer, and the SLSA builder names the signer's key."""
    predicate = value["predicate"]
    if value["predicateType"] == SLSA_PREDICATE_TYPE:
        details = predicate.get("runDetails")
        builder_object = details.get("builder") if isinstance(details, dict) else None
        builder = builder_object.get("id") if isinstance(builder_object, dict) else None
        if builder != BUILDER_ID_PREFIX + key.key_id:
            raise AttestationError(f"runDetails.builder.id is {str(builder)[:120]!r}, not the signer's "
                                   f"{BUILDER_ID_PREFIX + key.key_id}")
        return "the builder is the signer's recorder; the rest is the signer's word until compared with the proof"
    signer, log_id = predicate.get("signer"), predicate.get("logId")
    if not isinstance(signer, Mapping) or signer.get("keyId") != key.key_id or signer.get("publicKey") != key.hex:
        raise AttestationError("predicate.signer is not the key that signed the envelope")
    if not isinstance(log_id, Mapping) or log_id.get("keyId") != key.key_id:
        raise AttestationError("predicate.logId.keyId is not the signer's key id")
    signed = predicate.get("signedHead")
    if not isinstance(signed, Mapping) or set(signed) != {"head", "signature"}:
        raise AttestationError("predicate.signedHead must hold exactly head and signature")
    head = SignedTreeHead(TreeHead.from_body(signed["head"]), signed["signature"])
    if head.head.model_id != log_id.get("modelId") or head.head.key_id != key.key_id:
        raise AttestationError("predicate.signedHead is not a head of the log predicate.logId names")
    if not head.signature_valid(key):
        raise AttestationError("predicate.signedHead's signature does not verify under the signer's key")
    receipts = predicate.get("anchors")
    if not isinstance(receipts, list):
        raise AttestationError("predicate.anchors must be an array")
    for i, item in enumerate(receipts):
        receipt = AnchorReceipt.from_json(item)
        if receipt.key_id != key.key_id or not receipt.signature_valid(key):
            raise AttestationError(f"predicate.anchors[{i}] is not signed by the signer")
    return (f"the signed head (size {head.head.tree_size}, root {head.head.root_hash[:16]}...) and "
            f"{len(receipts)} anchor receipt(s) carry valid signatures of the signer")


def _subject_text(subject: Mapping[str, Any]) -> str:
    name = subject.get("name", "_")
    digests = ", ".join(f"{k} {str(v)[:16]}..." for k, v in subject["digest"].items())
    return f"{str(name)[:80]} ({digests})"


def _first_difference(got: Any, expected: Any, path: str = "") -> str:
    """Where two JSON values first differ, for a one-line error."""
    if isinstance(got, dict) and isinstance(expected, dict):
        for key in sorted(set(got) | set(expected)):
            if key not in got or key not in expected or canonical_json(got[key]) != canonical_json(expected[key]):
                return _first_difference(got.get(key), expected.get(key), f"{path}.{key}" if path else key)
    if isinstance(got, list) and isinstance(expected, list) and len(got) == len(expected):
        for i, (a, b) in enumerate(zip(got, expected, strict=True)):
            if canonical_json(a) != canonical_json(b):
                return _first_difference(a, b, f"{path}[{i}]")
    return f"{path or 'the statement'} differs" if canonical_json(got) != canonical_json(expected) else \
        "the payload is not in canonical form (RFC 8785)"
