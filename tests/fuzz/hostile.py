"""The hostile proofs this suite adds to tests/assets/hostile/, and their index, tests/assets/hostile/fuzz-index.json.

    .venv/bin/python -m tests.fuzz.hostile            # (re)write the files and their index
    .venv/bin/python -m tests.fuzz.hostile --check    # exit 1 if what is committed differs from what this writes

Each file is a proof with one flaw and nothing else wrong: ids, roots, head hashes and signatures are computed
from docs/PROOF_FORMAT.md by code that shares nothing with pot (hashlib, cryptography and the rfc8785 package), and
signed with the known-answer vector key (its seed is published in tests/assets/vectors/v1.json). So the files
stay what they are while pot's own code changes, and a file fails verification for its flaw, not for a broken
signature: the control document, built the same way without a flaw, verifies (test_hostile_corpus.py checks it).

The index has the form of tests/assets/hostile-index.json (file: exit code of `pot verify`, a pattern its FAILED
line must match) plus why the file must fail. It is a file of its own because scripts/make_vectors.py writes
hostile-index.json whole, and its --check (a unit test) refuses any entry it did not write.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "tests" / "assets"
HOSTILE = ASSETS / "hostile"
INDEX = HOSTILE / "fuzz-index.json"
SEED = bytes.fromhex(json.loads((ASSETS / "vectors" / "v1.json").read_text(encoding="utf-8"))["key"]["seed"])
MEDIA_TYPE = "application/vnd.pot.proof.v1+json"
MODEL = "digits-mlp"
# An EIP-55 checksummed address (anvil's first contract) and the same address with one letter's case flipped.
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
IDENTITY_POINT = bytes([1]) + bytes(31)  # the Ed25519 neutral element: a small-order "public key"


def H(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def jcs(value: Any) -> bytes:
    return rfc8785.dumps(value)


class Signer:
    def __init__(self, sign: Callable[[bytes], bytes], public: bytes) -> None:
        self.sign_bytes, self.public = sign, public
        self.key_id = H(public).hex()

    def sign(self, domain: str, body: Any) -> str:
        return self.sign_bytes(domain.encode() + b"\x00" + jcs(body)).hex()


def vector_signer() -> Signer:
    private = Ed25519PrivateKey.from_private_bytes(SEED)
    return Signer(private.sign, private.public_key().public_bytes_raw())


def identity_signer() -> Signer:
    # R = the neutral element, S = 0: [S]B = R + [k]A holds for every message when A is the neutral element too.
    return Signer(lambda message: IDENTITY_POINT + bytes(32), IDENTITY_POINT)


def ts(second: int, year: int = 2026) -> str:
    return f"{year:04d}-11-22T12:{second // 60:02d}:{second % 60:02d}.000000Z"


def mth(leaves: list[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return H(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def base_records(model_id: str = MODEL) -> list[dict[str, Any]]:
    """A run in five records: started, a checkpoint, a validation, an artifact, completed."""
    config = {"lr": 0.1, "layers": [64, 10]}
    common = {"model_id": model_id, "run_id": "run-1"}
    return [
        {"type": "event", **common, "seq": 0, "timestamp": ts(0), "event": "RunStarted",
         "data": {"kind": "train", "config": config, "config_hash": H(jcs(config)).hex(), "environment": {},
                  "environment_hash": H(jcs({})).hex(), "git": {"commit": None, "dirty": None, "branch": None},
                  "user": "", "rerun_of": None,
                  "parents": [{"kind": "dataset", "id": "digits", "relation": "trained_on", "digest": "d" * 64,
                               "proof": None}]}},
        {"type": "checkpoint", **common, "seq": 1, "timestamp": ts(1), "model_hash": "01" * 32, "epoch": 0,
         "metrics": {"loss": 0.5, "accuracy": 0.8}, "fingerprint_hash": None, "validation_hash": None, "step": 45},
        {"type": "validation", **common, "seq": 2, "timestamp": ts(2), "model_hash": "01" * 32,
         "validator_id": "holdout-v1", "validation_result": {"accuracy": 0.93, "samples": 360},
         "confidence_score": 0.9, "challenge_hash": None},
        {"type": "event", **common, "seq": 3, "timestamp": ts(3), "event": "ArtifactSaved",
         "data": {"name": "weights.bin", "sha256": "ab" * 32, "size": 6}},
        {"type": "event", **common, "seq": 4, "timestamp": ts(4), "event": "RunCompleted",
         "data": {"status": "completed", "error": None}},
    ]


def ethereum_receipt(head: dict[str, Any], head_hash: str, signer: Signer, contract: str) -> dict[str, Any]:
    body = {"backend": "ethereum", "head_hash": head_hash, "root_hash": head["root_hash"], "timestamp": ts(40),
            "key_id": signer.key_id,
            "details": {"chain_id": 31337, "contract": contract, "tx_hash": "0x" + "ab" * 32, "block_number": 12,
                        "block_hash": "0x" + "cd" * 32, "block_time": 1795348830, "log_index": 0,
                        "submitter": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "meta_hash": "0x" + head_hash}}
    return {**body, "signature": signer.sign("pot.v1.anchor-receipt", body)}


def build(records: list[dict[str, Any]], *, signer: Signer | None = None, model_id: str = MODEL,
          head_time: str = ts(30), proof_time: str = ts(60), contract: str | None = None) -> dict[str, Any]:
    """A full proof of ``records`` with one signed head and, with ``contract``, one ethereum receipt."""
    signer = signer or vector_signer()
    leaves = [H(b"\x00" + jcs(body)) for body in records]
    head = {"model_id": model_id, "tree_size": len(records), "root_hash": mth(leaves).hex(), "prev_head": None,
            "timestamp": head_time, "key_id": signer.key_id}
    head_hash = H(b"pot.v1.tree-head\x00" + jcs(head)).hex()
    anchors = [ethereum_receipt(head, head_hash, signer, contract)] if contract else []
    counts = {kind: sum(1 for r in records if r["type"] == kind) for kind in ("checkpoint", "validation", "event",
                                                                              "steps")}
    checkpoints = [r for r in records if r["type"] == "checkpoint"]
    metadata: dict[str, Any] = {
        "generator": "tests/fuzz/hostile.py", "record_count": len(records),
        "training_checkpoints": counts["checkpoint"], "validations": counts["validation"], "tree_heads": 1,
        "log_size": len(records),
        "anchor_receipts": {"ethereum": 1} if anchors else {}}
    metadata.update({f"{kind}_records": counts[kind] for kind in ("event", "steps") if counts[kind]})
    document = {
        "media_type": MEDIA_TYPE, "model_id": model_id, "disclosure": "full",
        "signer": {"algorithm": "ed25519", "public_key": signer.public.hex(), "key_id": signer.key_id},
        "records": [{"id": leaf.hex(), **body} for leaf, body in zip(leaves, records, strict=True)],
        "tree_heads": [{"head": head, "signature": signer.sign("pot.v1.tree-head", head), "consistency": []}],
        "anchors": anchors,
        "final_model_hash": checkpoints[-1]["model_hash"] if checkpoints else None,
        "merkle_root": head["root_hash"],
        "blockchain_transactions": [a["details"]["tx_hash"] for a in anchors],
        "proof_timestamp": proof_time,
        "verification_metadata": metadata,
    }
    view = {**document, "records": [{"id": r["id"]} for r in document["records"]]}
    document["signature_hash"] = signer.sign("pot.v1.proof", view)
    return document


def dumps(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=1, ensure_ascii=False) + "\n").encode()


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def with_record(change: Callable[[list[dict[str, Any]]], None], **options: Any) -> bytes:
    records = base_records()
    change(records)
    return dumps(build(records, **options))


def deep_record(depth: int) -> bytes:
    """A validation result holding arrays nested ``depth`` deep; hashed and signed as it is, written compactly (an
    indented array 985 deep would be a megabyte of spaces)."""
    records = base_records()
    records[2]["validation_result"]["trace"] = nested(depth)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20 * depth))  # rfc8785 recurses per level
    try:
        document = build(records)
    finally:
        sys.setrecursionlimit(limit)
    marker = "@@nested@@"
    document["records"][2]["validation_result"]["trace"] = marker
    return dumps(document).replace(json.dumps(marker).encode(), b"[" * depth + b"]" * depth, 1)


def respell_signature(spell: Callable[[str], str]) -> bytes:
    document = build(base_records())
    document["signature_hash"] = spell(document["signature_hash"])
    return dumps(document)


def integer_as_float_in_metadata() -> bytes:
    # RFC 8785 writes 5.0 as 5, so the proof signature still holds: only the parser can see the float.
    text = dumps(build(base_records()))
    return text.replace(b'"record_count": 5,', b'"record_count": 5.0,', 1)


def data_change(seq: int, change: Callable[[dict[str, Any]], None]) -> Callable[[list[dict[str, Any]]], None]:
    def apply(records: list[dict[str, Any]]) -> None:
        change(records[seq]["data"])
    return apply


def parent_tree_size_zero(records: list[dict[str, Any]]) -> None:
    records[0]["data"]["parents"].append({
        "kind": "model", "id": "base-model", "relation": "fine_tuned_from", "digest": None,
        "proof": {"model_id": "base-model", "tree_size": 0, "root_hash": H(b"").hex(), "head_hash": "ee" * 32,
                  "key_id": vector_signer().key_id}})


def renamed_model(model_id: str) -> bytes:
    return dumps(build(base_records(model_id), model_id=model_id))


def year_9999() -> bytes:
    records = base_records()
    for record in records:
        record["timestamp"] = record["timestamp"].replace("2026", "9999", 1)
    return dumps(build(records, head_time=ts(30, 9999), proof_time=ts(60, 9999)))


CASES: dict[str, tuple[Callable[[], bytes], str, str]] = {
    # name: (writer, message pattern for `pot verify`'s FAILED line, why the file must fail)
    "integer-4301-digits.json": (
        lambda: dumps(build(base_records())).replace(b'"epoch": 0,', b'"epoch": ' + b"1" + b"0" * 4300 + b",", 1),
        r"digits|too (large|long)|integer",
        "an integer of 4,301 digits (records[1].epoch): Python's json raises ValueError, not JSONDecodeError, past "
        "4,300 digits; the reader must refuse it as malformed, never crash"),
    "confidence-401-digit-integer.json": (
        lambda: dumps(build(base_records())).replace(b'"confidence_score": 0.9', b'"confidence_score": 1' + b"0" * 400,
                                                     1),
        r"confidence_score",
        "confidence_score written as an integer of 401 digits (within what json reads): math.isfinite() on it raises "
        "OverflowError, which the parser does not catch; it must say the score is not a number in [0, 1]"),
    "nested-492-in-record.json": (
        lambda: deep_record(492), r"nested (too deeply|more than 64 levels)",
        "a validation result nested 492 deep, correctly hashed and signed: the parser accepts that depth, then "
        "normalising and hashing the record recurse once or twice per level; called from a shallow stack (the pot "
        "command) it verifies, a few dozen frames deeper (pytest, a server handler) it ends in RecursionError. "
        "Whether a proof verifies must not depend on the caller's stack: refuse such nesting at the parser, with a "
        "depth limit well below this"),
    "nested-985-in-record.json": (
        lambda: deep_record(985), r"nested (too deeply|more than 64 levels)",
        "as nested-492-in-record.json, 985 deep: just below what the parser itself survives"),
    "signature-hash-upper-case.json": (
        lambda: respell_signature(str.upper), r"signature_hash",
        "signature_hash in upper-case hex: bytes.fromhex decodes it to the valid signature, but the format says "
        "lower-case hex, and a changed value must not verify"),
    "signature-hash-spaced.json": (
        lambda: respell_signature(lambda s: " ".join(s[i:i + 2] for i in range(0, len(s), 2))), r"signature_hash",
        "signature_hash with a space between bytes: bytes.fromhex skips whitespace, the format does not"),
    "signature-hash-trailing-newline.json": (
        lambda: respell_signature(lambda s: s + "\n"), r"signature_hash",
        "signature_hash followed by a newline: bytes.fromhex skips it, the format allows exactly 128 hex digits"),
    "contract-not-checksummed.json": (
        lambda: dumps(build(base_records(), contract=CONTRACT.lower())), r"(?i)checksum|EIP-55",
        "an ethereum receipt (validly signed) whose contract address is all lower case: the format requires EIP-55 "
        "checksummed addresses (docs/PROOF_FORMAT.md 6.2)"),
    "contract-bad-checksum.json": (
        lambda: dumps(build(base_records(), contract=CONTRACT[:3] + CONTRACT[3].lower() + CONTRACT[4:])),
        r"(?i)checksum|EIP-55",
        "an ethereum receipt whose contract address has mixed case that is not its EIP-55 checksum (one letter "
        "flipped): a mistyped address must not pass as checksummed"),
    "metadata-count-as-float.json": (
        integer_as_float_in_metadata, r"integer",
        "verification_metadata.record_count written 5.0: RFC 8785 writes it as 5, so the signature holds and the "
        "summary check compares 5.0 == 5; the format says integer"),
    "artifact-size-as-float.json": (
        lambda: with_record(data_change(3, lambda d: d.update(size=6.0))), r"integer|size",
        "ArtifactSaved size written 6.0 (the record's id is still right: RFC 8785 writes 6.0 as 6); the size is an "
        "integer"),
    "artifact-negative-size.json": (
        lambda: with_record(data_change(3, lambda d: d.update(size=-1))), r"size",
        "ArtifactSaved with size -1, correctly hashed and signed: a size is a count of bytes"),
    "event-unknown-key.json": (
        lambda: with_record(data_change(3, lambda d: d.update(note="unchecked"))), r"unknown|note",
        "ArtifactSaved data with a key the format does not define: event data holds exactly its keys (section 3)"),
    "run-completed-unknown-key.json": (
        lambda: with_record(data_change(4, lambda d: d.update(exit_code=0))), r"unknown|exit_code",
        "RunCompleted data with a key the format does not define"),
    "event-missing-field.json": (
        lambda: with_record(data_change(3, lambda d: d.pop("size"))), r"missing|size",
        "ArtifactSaved data without its size: a missing field makes the record malformed"),
    "run-completed-missing-field.json": (
        lambda: with_record(data_change(4, lambda d: d.pop("error"))), r"missing|error",
        "RunCompleted data without its error field (null when the run succeeded, but present)"),
    "parent-tree-size-zero.json": (
        lambda: with_record(parent_tree_size_zero), r"tree_size",
        "a RunStarted parent reference to a head of tree size 0: no signed head has size 0 (section 5), so the "
        "reference names nothing"),
    "record-timestamp-year-1.json": (
        lambda: with_record(lambda records: records[1].update(timestamp="0001-01-01T00:00:00.000000Z")),
        r"timestamp",
        "a checkpoint dated 0001-01-01: earlier than its head, so the timestamp check passes, but no training record "
        "is from year 1"),
    "timestamps-year-9999.json": (
        year_9999, r"timestamp",
        "every record, head and the proof dated in the year 9999, consistently: out of any sane range"),
    "identity-public-key.json": (
        lambda: dumps(build(base_records(), signer=identity_signer())), r"(?i)public.key|small.order|identity|weak",
        "signer public key 01 00..00 (the Ed25519 neutral element) and every signature 01 00..00 00..00: OpenSSL "
        "accepts that signature for every message, so anyone can write this proof for any content"),
    "model-id-zero-width.json": (
        lambda: renamed_model("digits\u200bmlp"), r"model_id",
        "model id with a zero-width space: it looks like digits-mlp's neighbour 'digitsmlp' and is another log"),
    "model-id-bidi.json": (
        lambda: renamed_model("\u202edigits-mlp"), r"model_id",
        "model id starting with RIGHT-TO-LEFT OVERRIDE: displayed reversed, it can pass for another model's id"),
}


def control() -> dict[str, Any]:
    """The document every case starts from, without a flaw: it must verify (test_hostile_corpus.py)."""
    return build(base_records())


def contract_control() -> dict[str, Any]:
    return build(base_records(), contract=CONTRACT)


def index_entries() -> dict[str, dict[str, Any]]:
    return {name: {"exit_code": 1, "message": pattern, "why": why} for name, (_, pattern, why) in CASES.items()}


def write(check: bool) -> list[str]:
    """Write (or, with ``check``, compare) every case and the index; return the files that differ."""
    wanted = {HOSTILE / name: writer() for name, (writer, _, _) in CASES.items()}
    wanted[INDEX] = (json.dumps(index_entries(), indent=1, ensure_ascii=False, sort_keys=True) + "\n").encode()
    differs = [str(path.relative_to(ROOT)) for path, data in wanted.items()
               if not path.exists() or path.read_bytes() != data]
    if not check:
        for path, data in wanted.items():
            path.write_bytes(data)
    return differs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    differs = write(args.check)
    if args.check and differs:
        print("differs from what tests/fuzz/hostile.py writes:\n  " + "\n  ".join(differs), file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
