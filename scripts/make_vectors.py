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
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pot._internal.keccak import to_checksum_address  # noqa: E402
from pot.anchors.base import AnchorReceipt  # noqa: E402
from pot.anchors.localchain import entry_hash  # noqa: E402
from pot.lineage import events  # noqa: E402
from pot.lineage.gates import Gate, evaluate  # noqa: E402
from pot.log.canonical import (  # noqa: E402
    DOMAIN_ANCHOR_RECEIPT,
    DOMAIN_LOCAL_CHAIN_ENTRY,
    DOMAIN_PROOF,
    DOMAIN_TREE_HEAD,
    canonical_json,
    signing_input,
)
from pot.log.heads import SignedTreeHead, TreeHead  # noqa: E402
from pot.log.keys import _SMALL_ORDER_ENCODINGS, SigningKey  # noqa: E402
from pot.log.merkle import MerkleTree  # noqa: E402
from pot.log.proof import ProvenanceProof, build_proof, signed_view  # noqa: E402
from pot.log.records import EventRecord, Record, StepsRecord, TrainingCheckpoint, ValidationRecord  # noqa: E402

VECTORS = ROOT / "tests" / "assets" / "vectors" / "v1.json"
CORPUS = ROOT / "tests" / "assets" / "proofs" / "v1"
HOSTILE = ROOT / "tests" / "assets" / "hostile"
SEED = bytes(range(32))


def _ts(second: int, minute: int = 0) -> str:
    return f"2026-11-22T12:{minute:02d}:{second:02d}.000000Z"


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
    lineage_proof, lineage_records, ethereum_receipt = lineage_log(key)
    vectors["more_records"] = [{"body": r.body(), "canonical_json": canonical_json(r.body()).decode(),
                                "leaf_hash": r.record_id} for r in lineage_records]
    vectors["ethereum_receipt"] = {
        "body": ethereum_receipt.body(),
        "signing_input_hex": signing_input(DOMAIN_ANCHOR_RECEIPT, ethereum_receipt.body()).hex(),
        "signature": ethereum_receipt.signature,
        "note": "an invented receipt: no chain holds this transaction. Offline it verifies and the report must "
                "call its head dated by the signer's word, never by a chain."}
    vectors["onchain_record_call"] = onchain_record_call(records, tree)
    vectors["gate_decisions"] = gate_decisions()
    vectors["eip55"] = [to_checksum_address(a) for a in (
        "0x5fbdb2315678afecb367f032d93f642f64180aa3", "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
        "0x52908400098527886e0f7030069857d2e4169ee7", "0xde709f2102306220921060314715629080e2fb77")]
    vectors["refused_public_keys"] = [{"public_key": k.hex(), "why": "small order"}
                                      for k in sorted(_SMALL_ORDER_ENCODINGS)]
    vectors["refused_names"] = [{"name": name, "why": why} for name, why in (
        ("a\u200bb", "U+200B zero-width space"), ("digits\u202emlp", "U+202E right-to-left override"),
        ("loss\u001b[31m", "U+001B escape"), ("\ufeffm", "U+FEFF byte order mark"), ("", "empty"),
        ("x" * 257, "257 code points"))]
    replay_proof, replay_records, replay_digests = replay_log(key)
    vectors["replay_records"] = [{"body": r.body(), "canonical_json": canonical_json(r.body()).decode(),
                                  "leaf_hash": r.record_id} for r in replay_records]
    vectors["replay_digests"] = replay_digests
    text = full.dumps(indent=1) + "\n"
    corpus = {"basic-full.proof.json": text, "basic-partial.proof.json": partial.dumps(indent=1) + "\n",
              "lineage-full.proof.json": lineage_proof.dumps(indent=1) + "\n",
              "replay-full.proof.json": replay_proof.dumps(indent=1) + "\n"}
    return vectors, corpus, hostile(text)


def lineage_log(key: SigningKey) -> tuple[ProvenanceProof, list[Record], AnchorReceipt]:
    """A log with every record kind: a run (configuration, parents), steps, checkpoints (one with its file), a
    validation, a metric, an artifact, a promotion on a weighted gate, a rollback, the run's end; two heads, both
    anchored on the local chain, the second also by an invented Ethereum receipt."""
    model_id = "digits-run"
    made: list[Record] = []

    def add(kind: type[Record], **fields: Any) -> Record:
        record = kind.create(model_id=model_id, seq=len(made), timestamp=_ts(len(made), minute=5),
                             salt=f"{len(made) + 100:032x}", node_id="main", lamport=len(made) + 1, **fields)
        made.append(record)
        return record

    run_id = "run-20261122T120500-0000abcd"
    add(EventRecord, event=events.RUN_STARTED, run_id=run_id, data=events.run_started(
        "train", {"lr": 0.01, "epochs": 2, "layers": [64, 32]}, {"python": {"version": "3.11.7"}},
        {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": False, "branch": "main"}, "alice",
        [events.parent_dataset("sklearn-digits", "d" * 64)]))
    add(StepsRecord, run_id=run_id, steps=[1, 2, 3], epochs=[0, 0, 1], metrics={"loss": [2.3, 1.7, None]})
    add(TrainingCheckpoint, run_id=run_id, model_hash="ab" * 32, epoch=0, metrics={"loss": 1.7, "acc": 0.5},
        fingerprint_hash=None, validation_hash=None, step=2)
    final = add(TrainingCheckpoint, run_id=run_id, model_hash="cd" * 32, epoch=1, metrics={"loss": 0.9},
                fingerprint_hash=None, validation_hash=None, step=3, file_sha256="ef" * 32,
                file_name="epoch-1.safetensors")
    assert isinstance(final, TrainingCheckpoint)
    validation = add(ValidationRecord, run_id=run_id, model_hash=final.model_hash, validator_id="holdout-v1",
                     validation_result={"a": 0.072, "b": 0.536, "c": 0.366, "passed": True, "n": 360},
                     confidence_score=0.9, challenge_hash=None)
    assert isinstance(validation, ValidationRecord)
    add(EventRecord, event=events.METRIC_LOGGED, run_id=run_id, data=events.metric_logged("test_acc", 0.95, 3))
    add(EventRecord, event=events.ARTIFACT_SAVED, run_id=run_id,
        data=events.artifact_saved("epoch-1.safetensors", "ef" * 32, 4096))
    add(EventRecord, event=events.RUN_COMPLETED, run_id=run_id, data=events.run_completed("completed"))
    name, data = events.promotion("staging", final.model_hash, Gate.from_json(WEIGHTED_GATE), [validation])
    assert name == events.MODEL_PROMOTED
    add(EventRecord, event=name, data=data)
    add(EventRecord, event=events.MODEL_ROLLED_BACK, data=events.rolled_back("staging", final.model_hash,
                                                                              final.model_hash, "canary"))
    leaves = [bytes.fromhex(r.record_id) for r in made]
    tree = MerkleTree(leaves)
    heads: list[SignedTreeHead] = []
    receipts: list[AnchorReceipt] = []
    previous: dict[str, Any] | None = None
    for n, size in enumerate((5, len(made))):
        head = TreeHead(model_id=model_id, tree_size=size, root_hash=tree.root(size).hex(),
                        prev_head=heads[-1].head.head_hash if heads else None, timestamp=_ts(20 + n, minute=5),
                        key_id=key.key_id)
        heads.append(SignedTreeHead.sign(head, key))
        entry = {"index": 10 + n, "prev_entry": entry_hash(previous) if previous else "00" * 32,
                 "model_id": model_id, "tree_size": size, "root_hash": head.root_hash, "head_hash": head.head_hash,
                 "timestamp": _ts(30 + n, minute=5), "key_id": key.key_id}
        previous = entry
        receipts.append(AnchorReceipt.issue("localchain", head, {
            "entry": entry, "entry_signature": key.sign(DOMAIN_LOCAL_CHAIN_ENTRY, entry)}, _ts(40 + n, minute=5),
            key))
    last = heads[-1].head
    ethereum = AnchorReceipt.issue("ethereum", last, {
        "chain_id": 11155111, "contract": to_checksum_address("0x5fbdb2315678afecb367f032d93f642f64180aa3"),
        "tx_hash": "0x" + "5a" * 32, "block_number": 7_000_000, "block_hash": "0x" + "b1" * 32,
        "block_time": 1795349145,  # 2026-11-22T12:05:45Z: after every record, before the receipt
        "log_index": 3, "submitter": to_checksum_address("0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"),
        "meta_hash": "0x" + last.head_hash}, _ts(50, minute=5), key)
    receipts.append(ethereum)
    from datetime import UTC, datetime

    proof = build_proof(model_id=model_id, record_bodies=[r.body() for r in made], leaves=leaves, heads=heads,
                        receipts=receipts, key=key, now=datetime(2026, 11, 22, 12, 6, tzinfo=UTC))
    return proof, made, ethereum


def replay_log(key: SigningKey) -> tuple[ProvenanceProof, list[Record], dict[str, Any]]:
    """A run recorded for replay (docs/REPLAY.md): checkpoints with their file, optimizer and RNG digests, and steps
    with a batch digest each, the digests computed from the known batches and states given in the vectors."""
    import hashlib
    import struct
    from datetime import UTC, datetime

    from pot.replay.digests import batch_digest_of, state_digest_of

    def item(name: str, dtype: str, shape: list[int], fmt: str, values: list[Any]) -> tuple[str, str, list[int],
                                                                                          bytes]:
        return name, dtype, shape, struct.pack("<" + fmt * len(values), *values)

    batches = []
    for n in range(3):
        indices = item("indices", "int64", [2], "q", [2 * n + 1, 2 * n])
        x = item("x", "float32", [2, 2], "f", [0.5 * n, -1.0, 2.0, 0.25])
        y = item("y", "int64", [2], "q", [n, 9 - n])
        batches.append({"tensors": [{"name": t[0], "dtype": t[1], "shape": t[2], "bytes_hex": t[3].hex()}
                                    for t in (indices, x, y)], "digest": batch_digest_of(indices, [x, y])})
    state_tensors = [item("state/0/exp_avg", "float32", [2], "f", [0.25, -1.0]),
                     item("state/0/step", "float32", [], "f", [3.0])]
    state_values = {"param_groups/0/lr": 0.001, "param_groups/0/amsgrad": False, "param_groups/0/foreach": None,
                    "param_groups/0/params/0": 0, "param_groups/0/betas/0": 0.9}
    from pot.hashing import hash_buffers

    state = {"tensors": [{"name": t[0], "dtype": t[1], "shape": t[2], "bytes_hex": t[3].hex()}
                         for t in state_tensors], "values": state_values,
             "tensors_digest": hash_buffers(state_tensors).digest,
             "digest": state_digest_of(state_tensors, state_values)}
    digests = {"batches": batches, "state": state}

    model_id = "digits-replay"
    made: list[Record] = []

    def add(kind: type[Record], **fields: Any) -> Record:
        record = kind.create(model_id=model_id, seq=len(made), timestamp=_ts(len(made), minute=7),
                             salt=f"{len(made) + 200:032x}", **fields)
        made.append(record)
        return record

    def state_hash(n: int) -> str:
        return hashlib.sha256(f"state {n}".encode()).hexdigest()

    run_id = "run-20261122T120700-0000beef"
    add(EventRecord, event=events.RUN_STARTED, run_id=run_id, data=events.run_started(
        "train", {"lr": 0.001, "epochs": 2, "batch_size": 2, "seed": 0}, {"python": {"version": "3.11.7"}},
        {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": False, "branch": "main"}, "alice", []))
    add(TrainingCheckpoint, run_id=run_id, model_hash="a0" * 32, epoch=0, metrics={}, fingerprint_hash=None,
        validation_hash=None, step=0, file_sha256=state_hash(10), file_name="init.pt",
        optimizer_hash=state["digest"], rng_hash=state_hash(20))
    add(StepsRecord, run_id=run_id, steps=[1, 2, 3], epochs=[0, 0, 1], metrics={"loss": [2.3, 1.7, 1.2]},
        batches=[b["digest"] for b in batches])
    for n, (epoch, step) in enumerate(((0, 2), (1, 3)), start=1):
        add(TrainingCheckpoint, run_id=run_id, model_hash=f"a{n}" * 32, epoch=epoch, metrics={"loss": 1.0 / n},
            fingerprint_hash=None, validation_hash=None, step=step, file_sha256=state_hash(10 + n),
            file_name=f"epoch-{epoch:03d}.pt", optimizer_hash=state_hash(30 + n), rng_hash=state_hash(20 + n))
    add(EventRecord, event=events.RUN_COMPLETED, run_id=run_id, data=events.run_completed("completed"))
    leaves = [bytes.fromhex(r.record_id) for r in made]
    tree = MerkleTree(leaves)
    head = TreeHead(model_id=model_id, tree_size=len(made), root_hash=tree.root(len(made)).hex(), prev_head=None,
                    timestamp=_ts(20, minute=7), key_id=key.key_id)
    signed = SignedTreeHead.sign(head, key)
    entry = {"index": 20, "prev_entry": "00" * 32, "model_id": model_id, "tree_size": len(made),
             "root_hash": head.root_hash, "head_hash": head.head_hash, "timestamp": _ts(30, minute=7),
             "key_id": key.key_id}
    receipt = AnchorReceipt.issue("localchain", head, {
        "entry": entry, "entry_signature": key.sign(DOMAIN_LOCAL_CHAIN_ENTRY, entry)}, _ts(40, minute=7), key)
    proof = build_proof(model_id=model_id, record_bodies=[r.body() for r in made], leaves=leaves, heads=[signed],
                        receipts=[receipt], key=key, now=datetime(2026, 11, 22, 12, 8, tzinfo=UTC))
    return proof, made, digests


# A weighted gate whose score, computed exactly and rounded once, is the double just above what summing the
# products in floating point gives: a verifier that does float arithmetic refuses what pot promotes.
WEIGHTED_GATE = {"weights": {"a": 0.32, "b": 0.15, "c": 0.65}, "min_score": 0.30476785714285715,
                 "thresholds": {"a": {">": 0.05, "<=": 1}}}


def onchain_record_call(records: list[Record], tree: MerkleTree) -> dict[str, Any]:
    """The registry calls of section 6.4 for the validation record (seq 3) in the tree of all six records, anchored by
    anvil's first published development account (an invented anchor: no chain holds it)."""
    from pot.anchors.onchain import RecordCall

    record = records[3]
    size = len(records)
    body = canonical_json(record.body())
    call = RecordCall(record_id=record.record_id, seq=record.seq, record=body,
                      leaf_hash=bytes.fromhex(record.record_id),
                      root=tree.root(size), tree_size=size, path=tuple(tree.inclusion_proof(record.seq, size)),
                      head_hash="", chain_id=31337, contract="0x5FbDB2315678afecb367f032d93F642f64180aa3",
                      submitter="0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", receipt_block=0, receipt_time=0,
                      tx_hash="")
    leaf = dataclasses.replace(call, leaf_only=True)
    return {"submitter": call.submitter, "root": call.root.hex(), "tree_size": size, "index": record.seq,
            "record_hex": body.hex(), "leaf_hash": call.leaf_hash.hex(), "path": [h.hex() for h in call.path],
            "check_record": {"function": call.signature, "calldata": "0x" + call.calldata().hex()},
            "check_leaf": {"function": leaf.signature, "calldata": "0x" + leaf.calldata().hex()}}


def gate_decisions() -> list[dict[str, Any]]:
    cases = [
        (WEIGHTED_GATE, {"a": 0.072, "b": 0.536, "c": 0.366}),
        (WEIGHTED_GATE, {"a": 0.072, "b": 0.536}),  # a weighted metric missing: no score
        ({"thresholds": {"loss": {"<": 0.2}, "acc": {">=": 0.9, "==": 1}}}, {"loss": "NaN", "acc": 1}),
        ({"thresholds": {"acc": {">=": 0.9}}}, {"acc": 0.9, "other": 5}),
    ]
    return [{"gate": Gate.from_json(gate).canonical(), "metrics": metrics,
             "decision": evaluate(Gate.from_json(gate), metrics).to_json()} for gate, metrics in cases]


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
