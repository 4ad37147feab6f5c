"""What a dishonest signer can do with their own key: write any records, heads and receipts, and sign them.

A verifier's honesty is tested against such proofs: every signature in them is real, so only the rules of the
format (and, online, the chain) can tell what is wrong. Used by the tests of what a report may claim.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pot.anchors.base import AnchorReceipt
from pot.anchors.localchain import entry_hash
from pot.log.canonical import DOMAIN_LOCAL_CHAIN_ENTRY
from pot.log.heads import SignedTreeHead, TreeHead
from pot.log.keys import SigningKey
from pot.log.merkle import MerkleTree
from pot.log.proof import ProvenanceProof, build_proof
from pot.log.records import RECORD_KINDS, Record

SEED = bytes(range(32))  # the vector key of tests/assets/vectors/v1.json


def ts(second: int, minute: int = 0) -> str:
    return f"2026-11-22T12:{minute:02d}:{second:02d}.000000Z"


def records(bodies: Sequence[Mapping[str, Any]]) -> list[Record]:
    """Records from bodies given without ``seq`` (it is their position)."""
    out = []
    for seq, body in enumerate(bodies):
        kind = RECORD_KINDS[body["type"]]
        fields = {k: v for k, v in body.items() if k != "type"}
        out.append(kind.create(**{"seq": seq, **fields}))
    return out


# (head index, the head, the signing key) -> (backend, details)
ReceiptMaker = Callable[[int, TreeHead], tuple[str, dict[str, Any]]]


def forge(
    made: Sequence[Record],
    *,
    key: SigningKey | None = None,
    heads: Sequence[tuple[int, str]] | None = None,
    receipts: Sequence[tuple[int, ReceiptMaker, str]] = (),
    local: bool = True,
    now: datetime = datetime(2026, 11, 22, 12, 30, tzinfo=UTC),
) -> ProvenanceProof:
    """A full proof of ``made`` signed by ``key`` (default: the vector key).

    ``heads``: (tree size, timestamp) of each head (default: one head over everything, a minute after the last
    record); ``receipts``: (head index, maker, receipt timestamp) for extra receipts; ``local``: also give every head
    a local chain receipt, as the recorder does.
    """
    key = key or SigningKey.from_seed(SEED)
    model_id = made[0].model_id
    leaves = [bytes.fromhex(r.record_id) for r in made]
    tree = MerkleTree(leaves)
    heads = heads or [(len(made), max(r.timestamp for r in made))]
    signed: list[SignedTreeHead] = []
    issued: list[AnchorReceipt] = []
    previous_entry: dict[str, Any] | None = None
    for index, (size, stamp) in enumerate(heads):
        head = TreeHead(model_id=model_id, tree_size=size, root_hash=tree.root(size).hex(),
                        prev_head=signed[-1].head.head_hash if signed else None, timestamp=stamp, key_id=key.key_id)
        signed.append(SignedTreeHead.sign(head, key))
        if local:
            entry = {"index": index, "prev_entry": entry_hash(previous_entry) if previous_entry else None,
                     "model_id": model_id, "tree_size": size, "root_hash": head.root_hash,
                     "head_hash": head.head_hash, "timestamp": stamp, "key_id": key.key_id}
            previous_entry = entry
            details = {"entry": entry, "entry_signature": key.sign(DOMAIN_LOCAL_CHAIN_ENTRY, entry)}
            issued.append(AnchorReceipt.issue("localchain", head, details, stamp, key))
    for index, maker, stamp in receipts:
        head = signed[index].head
        backend, details = maker(index, head)
        issued.append(AnchorReceipt.issue(backend, head, details, stamp, key))
    return build_proof(model_id=model_id, record_bodies=[r.body() for r in made], leaves=leaves, heads=signed,
                       receipts=issued, key=key, now=now)


def ethereum(block_time: int, *, chain_id: int = 1, block_number: int = 21_000_000,
             contract: str = "0x5FbDB2315678afecb367f032d93F642f64180aa3",
             submitter: str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266") -> ReceiptMaker:
    """An Ethereum receipt the signer invents: a transaction and block that no chain holds."""
    def make(index: int, head: TreeHead) -> tuple[str, dict[str, Any]]:
        return "ethereum", {"chain_id": chain_id, "contract": contract, "tx_hash": "0x" + f"{index + 1:064x}",
                            "block_number": block_number + index, "block_hash": "0x" + f"{index + 7:064x}",
                            "block_time": block_time, "log_index": 0, "submitter": submitter,
                            "meta_hash": "0x" + head.head_hash}
    return make


def unix(timestamp: str) -> int:
    return int(datetime.fromisoformat(timestamp[:-1]).replace(tzinfo=UTC).timestamp())
