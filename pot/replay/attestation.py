"""Replay attestations: a verifier's signed statement of what it replayed of which proof, and what it found.

A replay runs on the verifier's machine; its result is worth something to others only if they can tell who ran it
and about which proof. An attestation names the proof by the SHA-256 of its file (and repeats its model id, Merkle
root and signer's key id), lists each segment replayed with its outcome, and is signed with the verifier's own
Ed25519 key over ``SI("pot.v1.replay-attestation", document without "signature")`` (docs/REPLAY.md,
"Attestation"). It says what one party observed when it re-ran the training; it proves nothing about segments it
did not replay.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pot._internal import strictjson
from pot.errors import FormatError, ReplayAttestationError
from pot.log.canonical import canonical_json
from pot.log.keys import PublicKey, SigningKey
from pot.log.records import check_count, check_hex64, check_name, check_text, check_timestamp, format_timestamp

MEDIA_TYPE = "application/vnd.pot.replay-attestation.v1+json"
DOMAIN_REPLAY_ATTESTATION = b"pot.v1.replay-attestation"
MAX_ATTESTATION_BYTES = 16 << 20

__all__ = ["DOMAIN_REPLAY_ATTESTATION", "MEDIA_TYPE", "attest_replay", "verify_attestation"]

_STATEMENT_KEYS = {"proof_sha256", "model_id", "merkle_root", "proof_signer", "run_id", "replayed_at", "tolerance",
                   "seed", "segments_total", "segments", "verdict"}
_SEGMENT_KEYS = {"segment", "name", "start_checkpoint", "end_checkpoint", "first_step", "last_step", "chosen_by",
                 "outcome", "distance", "detail"}
_OUTCOMES = ("exact", "within-tolerance", "refused")
_CHOSEN_BY = ("largest-change", "random", "all", "asked")
_SIGNATURE = re.compile(r"[0-9a-f]{128}")


def attest_replay(report: Any, key: SigningKey, now: datetime) -> dict[str, Any]:
    """The signed attestation of a replay report (:class:`pot.replay.torch.ReplayReport`): it names the proof the
    report's plan was read from (its file's SHA-256, model, Merkle root and signer)."""
    plan = report.plan
    statement = {
        "proof_sha256": plan.proof_sha256, "model_id": plan.model_id, "merkle_root": plan.merkle_root,
        "proof_signer": plan.signer_key_id, "run_id": plan.run_id,
        "replayed_at": format_timestamp(now),
        "tolerance": float(report.tolerance), "seed": int(report.seed), "segments_total": len(plan.segments),
        "segments": [result.to_json() for result in report.results], "verdict": report.verdict,
    }
    document = {"media_type": MEDIA_TYPE, "statement": statement,
                "verifier": {"algorithm": "ed25519", "public_key": key.public.hex, "key_id": key.key_id}}
    _check(document)  # what pot signs, pot would accept
    return {**document, "signature": key.sign(DOMAIN_REPLAY_ATTESTATION, document)}


def verify_attestation(data: str | bytes | Mapping[str, Any], *, trusted_key: PublicKey | None = None,
                       proof_bytes: bytes | None = None) -> dict[str, Any]:
    """Check a replay attestation and return its statement, or raise :class:`ReplayAttestationError`.

    Checks, in order: the document's form (exactly the keys of docs/REPLAY.md, each value's type); the
    verifier's key is a valid Ed25519 key, its key id is its SHA-256, and it equals ``trusted_key`` when one is
    given; the signature; the verdict is ``confirmed`` exactly when no listed segment was refused; and, with
    ``proof_bytes``, that the attestation names that proof file.
    """
    try:
        document = data if isinstance(data, Mapping) else strictjson.loads(data, "replay attestation",
                                                                           max_bytes=MAX_ATTESTATION_BYTES)
        if not isinstance(document, Mapping):
            raise FormatError("a replay attestation is a JSON object")
        body = {k: v for k, v in document.items() if k != "signature"}
        if "signature" not in document or not isinstance(document["signature"], str) or \
                not _SIGNATURE.fullmatch(document["signature"]):
            raise FormatError("signature must be 128 lower-case hex digits")
        _check(body)
        key = PublicKey(bytes.fromhex(body["verifier"]["public_key"]))
    except FormatError as exc:
        raise ReplayAttestationError(f"malformed replay attestation: {exc}") from None
    if key.key_id != body["verifier"]["key_id"]:
        raise ReplayAttestationError("the verifier's key_id is not the SHA-256 of its public key")
    if trusted_key is not None and key != trusted_key:
        raise ReplayAttestationError(f"signed by key {key.key_id[:16]}..., not by the trusted key "
                               f"{trusted_key.key_id[:16]}...")
    if not key.verify(DOMAIN_REPLAY_ATTESTATION, body, document["signature"]):
        raise ReplayAttestationError("the signature does not verify: the attestation was changed after it was signed")
    statement: dict[str, Any] = dict(body["statement"])
    if proof_bytes is not None and hashlib.sha256(proof_bytes).hexdigest() != statement["proof_sha256"]:
        raise ReplayAttestationError("the attestation names another proof (its proof_sha256 is not this file's)")
    return statement


def _keys(value: Any, keys: set[str], what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise FormatError(f"{what} must be a JSON object")
    if set(value) != keys:
        extra, missing = sorted(set(value) - keys), sorted(keys - set(value))
        raise FormatError(f"{what} has unknown key {extra[0]!r}" if extra else f"{what} is missing {missing[0]!r}")
    return value


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise FormatError(f"{what} must be a finite number >= 0")
    return float(value)


def _check(document: Mapping[str, Any]) -> None:
    _keys(document, {"media_type", "statement", "verifier"}, "the attestation")
    if document["media_type"] != MEDIA_TYPE:
        raise FormatError(f"media_type is not {MEDIA_TYPE}")
    verifier = _keys(document["verifier"], {"algorithm", "public_key", "key_id"}, "verifier")
    if verifier["algorithm"] != "ed25519":
        raise FormatError("verifier.algorithm must be 'ed25519'")
    check_hex64(verifier["public_key"], "verifier.public_key")
    check_hex64(verifier["key_id"], "verifier.key_id")
    statement = _keys(document["statement"], _STATEMENT_KEYS, "statement")
    for name in ("proof_sha256", "merkle_root", "proof_signer"):
        check_hex64(statement[name], name)
    check_name(statement["model_id"], "model_id")
    check_name(statement["run_id"], "run_id")
    check_timestamp(statement["replayed_at"], "replayed_at")
    _number(statement["tolerance"], "tolerance")
    check_count(statement["seed"], "seed")
    total = check_count(statement["segments_total"], "segments_total")
    segments = statement["segments"]
    if not isinstance(segments, list) or not segments:
        raise FormatError("segments must be a non-empty list")
    seen = set()
    for i, item in enumerate(segments):
        where = f"segments[{i}]"
        segment = _keys(item, _SEGMENT_KEYS, where)
        index = check_count(segment["segment"], f"{where}.segment")
        if not 1 <= index <= total or index in seen:
            raise FormatError(f"{where}.segment must be a segment number 1-{total}, each once")
        seen.add(index)
        check_text(segment["name"], f"{where}.name")
        check_hex64(segment["start_checkpoint"], f"{where}.start_checkpoint")
        check_hex64(segment["end_checkpoint"], f"{where}.end_checkpoint")
        first, last = check_count(segment["first_step"], f"{where}.first_step"), check_count(
            segment["last_step"], f"{where}.last_step")
        if first > last:
            raise FormatError(f"{where}: first_step is after last_step")
        if segment["chosen_by"] not in _CHOSEN_BY:
            raise FormatError(f"{where}.chosen_by must be one of {', '.join(_CHOSEN_BY)}")
        if segment["outcome"] not in _OUTCOMES:
            raise FormatError(f"{where}.outcome must be one of {', '.join(_OUTCOMES)}")
        if segment["distance"] is not None:
            _number(segment["distance"], f"{where}.distance")
        check_text(segment["detail"], f"{where}.detail", limit=2000)
    refused = any(segment["outcome"] == "refused" for segment in segments)
    if statement["verdict"] != ("refused" if refused else "confirmed"):
        raise FormatError("verdict must be 'refused' when a segment was refused, else 'confirmed'")
    canonical_json(document)  # every value has a canonical form (no lone surrogate ...)
