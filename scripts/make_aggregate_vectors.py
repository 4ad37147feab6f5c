#!/usr/bin/env python3
"""Write the ``ethereum-aggregate`` receipt vectors (docs/PROOF_FORMAT.md section 6.5).

    python scripts/make_aggregate_vectors.py           # (re)write tests/assets/vectors/aggregate.json
    python scripts/make_aggregate_vectors.py --check   # exit 1 unless the committed file is what this writes

An aggregate of five heads: the first is the head of a three-record log signed by the vector key of v1.json, the
other four stand for other models' heads (their head hashes only). The file gives each aggregate leaf, the root,
the anchor call's metaHash, every leaf's path, the receipt of the first head (body, signing input, signature), and
a full proof carrying that receipt. The chain details are invented (no chain holds the transaction): offline the
receipt verifies, and its block time is the signer's word. Everything is fixed, so the output is byte-for-byte
reproducible (tests/unit/test_aggregate_receipt.py checks it).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pot.anchors import aggregate  # noqa: E402
from pot.log.canonical import DOMAIN_ANCHOR_RECEIPT, signing_input  # noqa: E402
from pot.log.heads import TreeHead  # noqa: E402
from pot.log.keys import SigningKey  # noqa: E402
from tests.support import forge  # noqa: E402

OUT = ROOT / "tests" / "assets" / "vectors" / "aggregate.json"
BLOCK_TIME = forge.unix(forge.ts(40))  # 2026-11-22T12:00:40Z
CHAIN = {"chain_id": 1, "contract": "0x5FbDB2315678afecb367f032d93F642f64180aa3", "tx_hash": "0x" + "a1" * 32,
         "block_number": 21_000_000, "block_hash": "0x" + "b2" * 32, "block_time": BLOCK_TIME, "log_index": 0,
         "submitter": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"}
OTHERS = [hashlib.sha256(f"other model {i}".encode()).hexdigest() for i in range(1, 5)]


def build() -> dict[str, Any]:
    key = SigningKey.from_seed(forge.SEED)
    made = forge.records([{"type": "checkpoint", "model_id": "aggregate-vector", "timestamp": forge.ts(s),
                           "model_hash": f"{s + 1:064x}", "epoch": s, "metrics": {"loss": 1 / (s + 1)},
                           "fingerprint_hash": None, "validation_hash": None} for s in range(3)])
    captured: dict[str, Any] = {}

    def make(_index: int, head: TreeHead) -> tuple[str, dict[str, Any]]:
        tree = aggregate.Aggregate.build([head.head_hash, *OTHERS])
        captured.update(head=head, tree=tree)
        return aggregate.BACKEND, tree.details(0, {**CHAIN, "meta_hash": "0x" + tree.meta_hash(key.key_id).hex()})

    proof = forge.forge(made, key=key, heads=[(3, forge.ts(30))], receipts=[(0, make, forge.ts(45))], local=False)
    head: TreeHead = captured["head"]
    tree: aggregate.Aggregate = captured["tree"]
    receipt = proof.anchors[0]
    return {
        "about": "ethereum-aggregate receipts, docs/PROOF_FORMAT.md section 6.5; made by "
                 "scripts/make_aggregate_vectors.py with the vector key of v1.json (seed 00 01 .. 1f)",
        "key": {"seed": forge.SEED.hex(), "public_key": key.public.hex, "key_id": key.key_id},
        "head_hashes": list(tree.head_hashes),
        "leaf_preimages": [(b"\x00" + aggregate.DOMAIN_AGGREGATE_LEAF + b"\x00" + bytes.fromhex(h)).hex()
                           for h in tree.head_hashes],
        "leaves": [aggregate.leaf_hash(h).hex() for h in tree.head_hashes],
        "aggregate_root": tree.root.hex(),
        "aggregate_size": tree.size,
        "meta_hash_input": {"aggregate_root": tree.root.hex(), "aggregate_size": tree.size, "key_id": key.key_id},
        "meta_hash": tree.meta_hash(key.key_id).hex(),
        "paths": [[p.hex() for p in tree.tree.inclusion_proof(i)] for i in range(tree.size)],
        "receipt": {
            "head": head.body(),
            "head_hash": head.head_hash,
            "body": receipt.body(),
            "signing_input_hex": signing_input(DOMAIN_ANCHOR_RECEIPT, receipt.body()).hex(),
            "signature": receipt.signature,
        },
        "proof": proof.to_json(),
    }


def render() -> str:
    return json.dumps(build(), indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is not what scripts/make_aggregate_vectors.py writes", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
