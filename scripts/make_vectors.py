#!/usr/bin/env python3
"""Write pot's proof-format v1 known-answer vectors and test proofs, deterministically.

    python scripts/make_vectors.py            # (re)write tests/assets/vectors/v1.json and the proofs
    python scripts/make_vectors.py --check    # exit 1 if what is committed differs from what this writes

Everything is built from a fixed RFC 8032 seed, fixed timestamps and fixed salts with pot's own functions, so
the output is byte-for-byte stable. The compatibility corpus (tests/assets/proofs/v1/) is written only when a
file is missing: proofs written by a release stay as they were and must keep verifying.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pot.anchors.base import AnchorReceipt  # noqa: E402
from pot.anchors.localchain import entry_hash  # noqa: E402
from pot.log.canonical import (  # noqa: E402
    DOMAIN_ANCHOR_RECEIPT,
    DOMAIN_LOCAL_CHAIN_ENTRY,
    DOMAIN_PROOF,
    DOMAIN_TREE_HEAD,
    canonical_json,
    signing_input,
)
from pot.log.heads import SignedTreeHead, TreeHead  # noqa: E402
from pot.log.keys import SigningKey  # noqa: E402
from pot.log.merkle import MerkleTree  # noqa: E402
from pot.log.proof import build_proof, signed_view  # noqa: E402
from pot.log.records import TrainingCheckpoint, ValidationRecord  # noqa: E402

VECTORS = ROOT / "tests" / "assets" / "vectors" / "v1.json"
CORPUS = ROOT / "tests" / "assets" / "proofs" / "v1"
HOSTILE = ROOT / "tests" / "assets" / "hostile"
SEED = bytes(range(32))


def _ts(second: int) -> str:
    return f"2026-11-22T12:00:{second:02d}.000000Z"


def build() -> tuple[dict[str, Any], dict[str, str], dict[str, bytes]]:
    key = SigningKey.from_seed(SEED)
    model_id = "digits-mlp"
    records = []
    for epoch in range(5):
        records.append(TrainingCheckpoint.create(
            model_id=model_id, seq=len(records), timestamp=_ts(len(records)), salt=f"{len(records):032x}",
            model_hash=f"{epoch + 1:02x}" * 32, epoch=epoch, metrics={"loss": round(1.5 / (epoch + 1), 4),
                                                                      "accuracy": 0.5 + epoch / 10},
            fingerprint_hash=None, validation_hash=None, step=(epoch + 1) * 45))
        if epoch == 2:
            records.append(ValidationRecord.create(
                model_id=model_id, seq=len(records), timestamp=_ts(len(records)), salt=f"{len(records):032x}",
                model_hash=f"{epoch + 1:02x}" * 32, validator_id="holdout-v1",
                validation_result={"accuracy": 0.93, "confidence": 0.9, "samples": 360}, confidence_score=0.9,
                challenge_hash=None))
    bodies = [r.body() for r in records]
    leaves = [bytes.fromhex(r.record_id) for r in records]
    tree = MerkleTree(leaves)

    heads: list[SignedTreeHead] = []
    receipts: list[AnchorReceipt] = []
    chain_entries: list[dict[str, Any]] = []
    for n, size in enumerate((2, 4, len(records))):
        head = TreeHead(model_id=model_id, tree_size=size, root_hash=tree.root(size).hex(),
                        prev_head=heads[-1].head.head_hash if heads else None, timestamp=_ts(20 + n),
                        key_id=key.key_id)
        signed = SignedTreeHead.sign(head, key)
        heads.append(signed)
        entry = {"index": n, "prev_entry": entry_hash(chain_entries[-1]) if chain_entries else None,
                 "model_id": model_id, "tree_size": size, "root_hash": head.root_hash, "head_hash": head.head_hash,
                 "timestamp": _ts(30 + n), "key_id": key.key_id}
        chain_entries.append(entry)
        details = {"entry": entry, "entry_signature": key.sign(DOMAIN_LOCAL_CHAIN_ENTRY, entry)}
        receipts.append(AnchorReceipt.issue("localchain", head, details, _ts(40 + n), key))

    from datetime import UTC, datetime

    now = datetime(2026, 11, 22, 12, 1, tzinfo=UTC)
    full = build_proof(model_id=model_id, record_bodies=bodies, leaves=leaves, heads=heads, receipts=receipts,
                       key=key, now=now)
    partial = build_proof(model_id=model_id, record_bodies=bodies, leaves=leaves, heads=heads, receipts=receipts,
                          key=key, now=now, disclose=[3])

    head0 = heads[0].head
    receipt0 = receipts[0]
    vectors = {
        "description": "pot proof format v1 known-answer vectors; see docs/PROOF_FORMAT.md",
        "key": {"seed": SEED.hex(), "public_key": key.public.hex, "key_id": key.key_id},
        "records": [{"body": r.body(), "canonical_json": canonical_json(r.body()).decode(),
                     "leaf_hash": r.record_id} for r in records],
        "tree": {
            "leaf_hashes": [leaf.hex() for leaf in leaves],
            "roots": {str(size): tree.root(size).hex() for size in range(len(leaves) + 1)},
            "inclusion": [{"index": i, "tree_size": len(leaves), "path": [h.hex() for h in tree.inclusion_proof(i)]}
                          for i in range(len(leaves))],
            "consistency": [{"old_size": m, "new_size": len(leaves),
                             "path": [h.hex() for h in tree.consistency_proof(m)]} for m in range(1, len(leaves))],
        },
        "tree_head": {"body": head0.body(), "signing_input_hex": signing_input(DOMAIN_TREE_HEAD, head0.body()).hex(),
                      "head_hash": head0.head_hash, "signature": heads[0].signature},
        "local_chain_entry": {"body": chain_entries[1],
                              "signing_input_hex": signing_input(DOMAIN_LOCAL_CHAIN_ENTRY, chain_entries[1]).hex(),
                              "entry_hash": entry_hash(chain_entries[1])},
        "anchor_receipt": {"body": receipt0.body(),
                           "signing_input_hex": signing_input(DOMAIN_ANCHOR_RECEIPT, receipt0.body()).hex(),
                           "signature": receipt0.signature},
        "proof_signature": {"signing_input_sha256": __import__("hashlib").sha256(
            signing_input(DOMAIN_PROOF, signed_view(full.body()))).hexdigest(), "signature": full.signature_hash},
    }
    text = full.dumps(indent=1) + "\n"
    corpus = {"basic-full.proof.json": text, "basic-partial.proof.json": partial.dumps(indent=1) + "\n"}
    return vectors, corpus, hostile(text)


def hostile(valid: str) -> dict[str, bytes]:
    """Inputs a verifier must refuse with a clear line (and `pot verify` with exit code 1: not a valid proof); the
    expected messages are in tests/assets/hostile-index.json."""
    document = json.loads(valid)
    out: dict[str, bytes] = {
        "trailing-data.json": valid.encode() + b"{}",
        "truncated.json": valid.encode()[: len(valid) // 2],
        "not-json.json": b"\x89PNG\r\n\x1a\n",
        "not-utf8.json": valid.encode().replace(b'"digits-mlp"', b'"digits-\xff"', 1),
        "array.json": b"[1, 2, 3]",
        "duplicate-key.json": valid.encode().replace(b'"disclosure": "full"',
                                                     b'"disclosure": "full", "disclosure": "full"', 1),
        "nan.json": valid.encode().replace(b'"loss": 1.5', b'"loss": NaN', 1),
        "deep-nesting.json": b"[" * 100_000 + b"]" * 100_000,
    }

    def variant(name: str, **changes: Any) -> None:
        changed = dict(document)
        changed.update(changes)
        out[name] = json.dumps(changed, indent=1).encode()

    variant("unknown-version.json", media_type="application/vnd.pot.proof.v9+json")
    variant("foreign-media-type.json", media_type="application/vnd.example+json")
    variant("unknown-field.json", extra_field=True)
    variant("bad-public-key.json", signer={**document["signer"], "public_key": "zz" * 32})
    variant("records-not-a-list.json", records={"0": document["records"][0]})
    missing = dict(document)
    del missing["tree_heads"]
    out["missing-tree-heads.json"] = json.dumps(missing, indent=1).encode()
    return out


HOSTILE_INDEX = {
    "trailing-data.json": (1, "trailing data"),
    "truncated.json": (1, "not valid JSON"),
    "not-json.json": (1, "not UTF-8|not valid JSON"),
    "not-utf8.json": (1, "not UTF-8"),
    "array.json": (1, "must be a JSON object"),
    "duplicate-key.json": (1, "duplicate key 'disclosure'"),
    "nan.json": (1, "contains NaN"),
    "deep-nesting.json": (1, "nested too deeply|not a pot proof|must be a JSON object"),
    "unknown-version.json": (1, "unsupported proof version"),
    "foreign-media-type.json": (1, "not a pot proof"),
    "unknown-field.json": (1, "unknown field"),
    "bad-public-key.json": (1, "public_key must be 64 lower-case hex"),
    "records-not-a-list.json": (1, "records must be a JSON array"),
    "missing-tree-heads.json": (1, "missing tree_heads"),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed files instead of writing")
    args = parser.parse_args()
    vectors, corpus, hostile_files = build()
    wanted: dict[Path, bytes] = {VECTORS: (json.dumps(vectors, indent=1, sort_keys=True) + "\n").encode()}
    wanted.update({HOSTILE / name: data for name, data in hostile_files.items()})
    wanted[HOSTILE.parent / "hostile-index.json"] = (json.dumps({k: {"exit_code": c, "message": m} for k, (c, m) in
                                                  HOSTILE_INDEX.items()}, indent=1, sort_keys=True) + "\n").encode()
    differing = [p for p, data in wanted.items() if not p.exists() or p.read_bytes() != data]
    if args.check:
        for path in differing:
            print(f"{path.relative_to(ROOT)} differs from what scripts/make_vectors.py writes", file=sys.stderr)
        return 1 if differing else 0
    for path in differing:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(wanted[path])
        print(f"wrote {path.relative_to(ROOT)}")
    CORPUS.mkdir(parents=True, exist_ok=True)
    for name, text in corpus.items():
        target = CORPUS / name
        if not target.exists():  # never rewrite a released proof
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
