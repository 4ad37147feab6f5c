"""The ``ethereum-aggregate`` receipt offline (docs/PROOF_FORMAT.md section 6.5): the leaf's domain separation, the
path, the meta hash, and tamper tests showing that each new field is bound, both by the receipt's signature and,
when the signer itself re-signs a changed receipt, by the path and meta hash checks."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from pot import verify_proof
from pot.anchors import aggregate
from pot.anchors.base import AnchorReceipt
from pot.errors import AnchorReceiptError, VerificationError
from pot.log.heads import TreeHead
from pot.log.keys import SigningKey
from pot.log.merkle import hash_children, hash_leaf, verify_inclusion
from pot.log.proof import ProvenanceProof, build_proof
from tests.support import forge
from tests.support.forge import ts, unix

KEY = SigningKey.from_seed(forge.SEED)
OTHERS = [hashlib.sha256(bytes([i])).hexdigest() for i in range(6)]  # other models' head hashes


def chain_details(block_time: int) -> dict[str, Any]:
    return {"chain_id": 1, "contract": "0x5FbDB2315678afecb367f032d93F642f64180aa3", "tx_hash": "0x" + "ab" * 32,
            "block_number": 21_000_000, "block_hash": "0x" + "cd" * 32, "block_time": block_time, "log_index": 3,
            "submitter": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "meta_hash": "0x" + "00" * 32}


def aggregated(position: int = 2, **override: Any) -> forge.ReceiptMaker:
    """A receipt for the head at ``position`` among six other heads, with ``override`` applied to its details."""
    def make(_index: int, head: TreeHead) -> tuple[str, dict[str, Any]]:
        heads = [*OTHERS[:position], head.head_hash, *OTHERS[position:]]
        tree = aggregate.Aggregate.build(heads)
        details = tree.details(position, {**chain_details(unix(ts(40))),
                                          "meta_hash": "0x" + tree.meta_hash(KEY.key_id).hex()})
        return aggregate.BACKEND, {**details, **override}
    return make


def proof_with(maker: forge.ReceiptMaker) -> ProvenanceProof:
    made = forge.records([{"type": "checkpoint", "model_id": "m", "timestamp": ts(s), "model_hash": f"{s:064x}",
                           "epoch": s, "metrics": {}, "fingerprint_hash": None, "validation_hash": None}
                          for s in range(3)])
    return forge.forge(made, heads=[(3, ts(30))], receipts=[(0, maker, ts(45))], local=False)


def test_a_valid_aggregate_receipt_verifies_offline_and_counts_as_an_unchecked_chain_anchor() -> None:
    proof = proof_with(aggregated())
    report = verify_proof(proof, trusted_key=KEY.public.hex)
    assert [h.strength for h in report.heads] == ["chain-unchecked"]
    assert proof.blockchain_transactions == ["0x" + "ab" * 32]
    document = proof.to_json()
    assert document["verification_metadata"]["anchor_receipts"] == {aggregate.BACKEND: 1}


def test_the_leaf_is_domain_separated_from_log_leaves_and_nodes() -> None:
    head_hash = "5a" * 32
    leaf = aggregate.leaf_hash(head_hash)
    assert leaf == hashlib.sha256(b"\x00pot.v1.aggregate-leaf\x00" + bytes.fromhex(head_hash)).digest()
    # A log leaf hashes 0x00 || JCS(object), whose first byte is "{"; a node hashes 0x01 || left || right.
    preimage = b"\x00" + aggregate.DOMAIN_AGGREGATE_LEAF + b"\x00" + bytes.fromhex(head_hash)
    assert preimage[1:2] != b"{" and preimage[:1] != b"\x01"
    assert leaf != hash_leaf(bytes.fromhex(head_hash)) and len(preimage) == 1 + 21 + 1 + 32


def test_the_path_reaches_the_root_by_rfc9162() -> None:
    heads = [f"{i:064x}" for i in range(1, 6)]
    tree = aggregate.Aggregate.build(heads)
    leaves = [aggregate.leaf_hash(h) for h in heads]
    # five leaves: root = H(1 || H(1 || H(1||a||b) || H(1||c||d)) || e)
    expected = hash_children(hash_children(hash_children(leaves[0], leaves[1]), hash_children(leaves[2], leaves[3])),
                             leaves[4])
    assert tree.root == expected
    for i in range(5):
        details = tree.details(i, chain_details(unix(ts(40))))
        path = [bytes.fromhex(p) for p in details["path"]]
        assert verify_inclusion(leaves[i], i, 5, path, tree.root)
    with pytest.raises(ValueError, match="each head once"):
        aggregate.Aggregate.build([heads[0], heads[0]])


def _resigned(proof: ProvenanceProof, change: dict[str, Any]) -> ProvenanceProof:
    """The proof with its aggregate receipt's details changed and signed again by the signer (a lying signer)."""
    receipt = proof.anchors[0]
    lie = AnchorReceipt.issue(receipt.backend, proof.tree_heads[0].head, {**receipt.details, **change},
                              receipt.timestamp, KEY)
    return build_proof(model_id=proof.model_id, record_bodies=[r.record.body() for r in proof.disclosed],
                       leaves=[bytes.fromhex(r.record.record_id) for r in proof.disclosed],
                       heads=[e.signed for e in proof.tree_heads], receipts=[lie], key=KEY)


def _tampered(proof: ProvenanceProof, change: dict[str, Any]) -> ProvenanceProof:
    """The proof with its aggregate receipt's details changed in the document, the receipt not signed again."""
    document = proof.to_json()
    document["anchors"][0]["details"].update(change)
    return ProvenanceProof.from_json(document)


def _changes(proof: ProvenanceProof) -> dict[str, dict[str, Any]]:
    details = proof.anchors[0].details
    path = list(details["path"])
    flipped = path[1][:-1] + ("0" if path[1][-1] != "0" else "1")
    return {
        "leaf_index": {"leaf_index": details["leaf_index"] + 1},
        "path node": {"path": [path[0], flipped, *path[2:]]},
        "path shortened": {"path": path[:-1]},
        "aggregate_size": {"aggregate_size": details["aggregate_size"] + 1},
        "aggregate_root": {"aggregate_root": "ee" * 32},
        "meta_hash": {"meta_hash": "0x" + "ee" * 32},
    }


@pytest.mark.parametrize("field", ["leaf_index", "path node", "path shortened", "aggregate_size", "aggregate_root",
                                   "meta_hash"])
def test_each_aggregate_field_is_bound(field: str) -> None:
    proof = proof_with(aggregated())
    change = _changes(proof)[field]
    with pytest.raises(VerificationError, match="signature"):  # an outsider's change breaks the receipt signature
        verify_proof(_tampered(proof, change), trusted_key=KEY.public.hex)
    # The signer's own change, signed again, fails the receipt's checks: the path, the size and the meta hash must
    # agree with each other and with the head.
    with pytest.raises(AnchorReceiptError, match="path does not lead|meta_hash"):
        verify_proof(_resigned(proof, change), trusted_key=KEY.public.hex)


def test_offline_a_re_signed_size_with_its_meta_hash_is_the_signers_word() -> None:
    """The limit of the offline check, as section 6.5 says: a path does not fix the tree's size (leaf 2's path in a
    tree of 7 leaves is also its path in trees of 6 and 8), so a signer who re-signs another size with the meta hash
    recomputed passes offline. The chain binds it: anchorOf reports the size anchored and the event the metaHash
    (tests/chain/test_aggregate_anchoring.py). An outsider cannot make the change: the receipt is signed."""
    proof = proof_with(aggregated())
    details = proof.anchors[0].details
    root = bytes.fromhex(details["aggregate_root"])
    for size in (details["aggregate_size"] - 1, details["aggregate_size"] + 1):
        meta = "0x" + aggregate.meta_hash(root, size, KEY.key_id).hex()
        verify_proof(_resigned(proof, {"aggregate_size": size, "meta_hash": meta}), trusted_key=KEY.public.hex)
        with pytest.raises(VerificationError, match="signature"):
            verify_proof(_tampered(proof, {"aggregate_size": size, "meta_hash": meta}), trusted_key=KEY.public.hex)
    # Where the shape changes with the size, the path no longer fits: leaf 2 of 3 has a path of two nodes.
    meta = "0x" + aggregate.meta_hash(root, 3, KEY.key_id).hex()
    with pytest.raises(AnchorReceiptError, match="path does not lead"):
        verify_proof(_resigned(proof, {"aggregate_size": 3, "meta_hash": meta}), trusted_key=KEY.public.hex)


def test_a_receipt_for_another_head_fails() -> None:
    """The path of another model's head, in the same aggregate, does not prove this head."""
    def other(_index: int, head: TreeHead) -> tuple[str, dict[str, Any]]:
        heads = [*OTHERS[:2], head.head_hash, *OTHERS[2:]]
        tree = aggregate.Aggregate.build(heads)
        return aggregate.BACKEND, tree.details(3, {**chain_details(unix(ts(40))),
                                                   "meta_hash": "0x" + tree.meta_hash(KEY.key_id).hex()})
    with pytest.raises(AnchorReceiptError, match="path does not lead"):
        verify_proof(proof_with(other), trusted_key=KEY.public.hex)


@pytest.mark.parametrize(("override", "message"), [
    ({"leaf_index": 7}, "leaf_index must be below aggregate_size"),
    ({"aggregate_size": 0}, "aggregate_size must be an integer"),
    ({"leaf_index": True}, "leaf_index must be an integer"),
    ({"path": ["AB" * 32]}, "64 lower-case hex"),
    ({"path": "00" * 32}, "path must be an array"),
    ({"aggregate_root": "0x" + "ab" * 32}, "aggregate_root must be 64"),
    ({"block_time": unix(ts(46)) + 16}, "after the receipt was obtained"),
])
def test_malformed_details_are_refused(override: dict[str, Any], message: str) -> None:
    with pytest.raises(AnchorReceiptError, match=message):
        verify_proof(proof_with(aggregated(**override)), trusted_key=KEY.public.hex)


def test_unknown_details_are_refused() -> None:
    with pytest.raises(AnchorReceiptError, match="unknown"):
        verify_proof(proof_with(aggregated(note="hi")), trusted_key=KEY.public.hex)


def test_the_committed_vectors_are_what_the_script_writes() -> None:
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, str(root / "scripts" / "make_aggregate_vectors.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_the_vector_proof_verifies_and_its_receipt_is_the_vectors() -> None:
    import json
    from pathlib import Path

    vectors = json.loads((Path(__file__).resolve().parents[1] / "assets" / "vectors" / "aggregate.json").read_text())
    proof = ProvenanceProof.from_json(vectors["proof"])
    report = verify_proof(proof, trusted_key=vectors["key"]["public_key"])
    assert [h.strength for h in report.heads] == ["chain-unchecked"]
    receipt = proof.anchors[0]
    assert receipt.body() == vectors["receipt"]["body"] and receipt.signature == vectors["receipt"]["signature"]
    assert receipt.details["path"] == vectors["paths"][0]
    assert [aggregate.leaf_hash(h).hex() for h in vectors["head_hashes"]] == vectors["leaves"]


def test_a_verifier_without_the_backend_refuses_the_receipt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail closed: a verifier that does not know ethereum-aggregate (an older pot, here pot with the backend's
    registration removed) refuses the proof instead of passing a receipt it cannot check."""
    from pot.anchors import base

    proof = proof_with(aggregated())
    monkeypatch.delitem(base.OFFLINE_CHECKS, aggregate.BACKEND)
    with pytest.raises(AnchorReceiptError, match="unknown anchor backend 'ethereum-aggregate'"):
        verify_proof(proof, trusted_key=KEY.public.hex)


def test_pot_show_lists_the_aggregate_transaction(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from tests.support.audit import run_cli
    from tests.unit.test_json_schemas import check

    proof = proof_with(aggregated())
    proof.save(tmp_path / "p.json")
    code, out, _ = run_cli(capsys, "show", str(tmp_path / "p.json"))
    assert code == 0
    assert "1 ethereum-aggregate" in out and "0x" + "ab" * 32 in out
    assert "(these transactions are the signer's word until `pot show --rpc URL` checks them)" in out
    data = json.loads(run_cli(capsys, "--json", "show", str(tmp_path / "p.json"))[1])
    check("show.schema.json", data)
    receipt = data["anchors"][0]
    assert (receipt["backend"], receipt["leaf_index"], receipt["aggregate_size"]) == (aggregate.BACKEND, 2, 7)
