"""Aggregated Ethereum anchors: one transaction anchors the newest signed heads of many models at once.

A team server (``pot serve --anchor-interval``) builds, each interval, an RFC 9162 Merkle tree whose leaves are the
newest signed heads of every model whose log changed, and anchors that tree's root with one ``anchor`` call on the
ProvenanceRegistry (the OpenTimestamps calendar pattern: one transaction, any number of heads). Each head gets a
receipt of backend ``ethereum-aggregate`` holding the transaction's details and the head's inclusion path to the
anchored root. Importing this module registers the backend (strength ``"chain"``) with :mod:`pot.anchors.base`, so
the verifier checks such receipts offline without web3; the online check is :func:`pot.anchors.ethereum.online_checker`.

Details, the nine fields of an ``ethereum`` receipt plus four::

    {"chain_id": 31337, "contract": "0x5FbD...", "tx_hash": "0x...", "block_number": 12, "block_hash": "0x...",
     "block_time": 1795326831, "log_index": 0, "submitter": "0xf39F...", "meta_hash": "0x<aggregate meta hash>",
     "aggregate_root": "<64 hex>", "aggregate_size": 100, "leaf_index": 7, "path": ["<64 hex>", ...]}

Frozen by proof format v1 (docs/PROOF_FORMAT.md section 6.5): the leaf, the meta hash and the path rule.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pot.anchors import ethereum_receipt
from pot.anchors.base import TIME_ALLOWANCE_SECONDS, AnchorReceipt, check_detail_names, register_backend
from pot.errors import AnchorReceiptError
from pot.log.canonical import MAX_SAFE_INTEGER, signing_input
from pot.log.heads import TreeHead
from pot.log.keys import PublicKey
from pot.log.merkle import LEAF_PREFIX, MerkleTree, verify_inclusion
from pot.log.records import parse_timestamp

BACKEND = "ethereum-aggregate"
# The leaf of a head is H(0x00 || "pot.v1.aggregate-leaf" || 0x00 || the 32 bytes of its head hash). After the leaf
# prefix comes "p", never "{" (a log leaf hashes JCS of a record, an object) and the prefix is never 0x01 (a node).
DOMAIN_AGGREGATE_LEAF = b"pot.v1.aggregate-leaf"
# metaHash of the anchor call: H(SI("pot.v1.aggregate-anchor", {"aggregate_root", "aggregate_size", "key_id"})).
DOMAIN_AGGREGATE_ANCHOR = b"pot.v1.aggregate-anchor"
AGGREGATE_FIELDS = ("aggregate_root", "aggregate_size", "leaf_index", "path")
DETAIL_FIELDS = (*ethereum_receipt.DETAIL_FIELDS, *AGGREGATE_FIELDS)
# A path has one node per level: 53 levels hold 2**53 leaves, more than an integer field may say.
MAX_PATH = 53
_HEX64 = re.compile(r"[0-9a-f]{64}")


def leaf_hash(head_hash: str) -> bytes:
    """The aggregate tree's leaf for the head whose head hash (64 hex) is ``head_hash``."""
    return hashlib.sha256(LEAF_PREFIX + DOMAIN_AGGREGATE_LEAF + b"\x00" + bytes.fromhex(head_hash)).digest()


def meta_hash(root: bytes, size: int, key_id: str) -> bytes:
    """The ``metaHash`` an aggregate's anchor call carries: it names the tree (root and size) and the signer whose
    heads are its leaves, so an ``Anchored`` event read on its own says whose aggregate it is."""
    return hashlib.sha256(signing_input(DOMAIN_AGGREGATE_ANCHOR, {
        "aggregate_root": root.hex(), "aggregate_size": size, "key_id": key_id})).digest()


@dataclass(frozen=True, slots=True)
class Aggregate:
    """One interval's tree over head hashes, in the order given (the server sorts them by model id)."""

    head_hashes: tuple[str, ...]
    tree: MerkleTree

    @classmethod
    def build(cls, head_hashes: Sequence[str]) -> Aggregate:
        if not head_hashes:
            raise ValueError("an aggregate needs at least one head")
        if len(set(head_hashes)) != len(head_hashes):
            raise ValueError("an aggregate holds each head once")
        return cls(tuple(head_hashes), MerkleTree(leaf_hash(h) for h in head_hashes))

    @property
    def size(self) -> int:
        return len(self.head_hashes)

    @property
    def root(self) -> bytes:
        return self.tree.root()

    def meta_hash(self, key_id: str) -> bytes:
        return meta_hash(self.root, self.size, key_id)

    def details(self, index: int, chain_details: Mapping[str, Any]) -> dict[str, Any]:
        """The receipt details for leaf ``index``: the anchor transaction's ``ethereum`` details and the path."""
        return {**chain_details, "aggregate_root": self.root.hex(), "aggregate_size": self.size,
                "leaf_index": index, "path": [p.hex() for p in self.tree.inclusion_proof(index)]}


def check_details(details: Mapping[str, Any]) -> None:
    """Shape and types of an ``ethereum-aggregate`` receipt's details; ``ValueError`` naming the first bad field."""
    check_detail_names(details, DETAIL_FIELDS)
    ethereum_receipt.check_details({name: details[name] for name in ethereum_receipt.DETAIL_FIELDS})
    if not isinstance(details["aggregate_root"], str) or not _HEX64.fullmatch(details["aggregate_root"]):
        raise ValueError("aggregate_root must be 64 lower-case hex digits")
    for name, low in (("aggregate_size", 1), ("leaf_index", 0)):
        value = details[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_SAFE_INTEGER:
            raise ValueError(f"{name} must be an integer from {low} to 2**53-1")
    if details["leaf_index"] >= details["aggregate_size"]:
        raise ValueError("leaf_index must be below aggregate_size")
    path = details["path"]
    if not isinstance(path, list) or len(path) > MAX_PATH:
        raise ValueError(f"path must be an array of at most {MAX_PATH} hashes")
    for node in path:
        if not isinstance(node, str) or not _HEX64.fullmatch(node):
            raise ValueError("each path element must be 64 lower-case hex digits")


def check_receipt(receipt: AnchorReceipt, head: TreeHead, signer: PublicKey) -> None:
    """Offline check of an ``ethereum-aggregate`` receipt, in order:

    1. the details have exactly the fields above, each of its form;
    2. ``meta_hash`` is ``0x`` + :func:`meta_hash` of ``aggregate_root``, ``aggregate_size`` and the signer's key id;
    3. ``path`` proves (RFC 9162 inclusion) that :func:`leaf_hash` of this head's hash is leaf ``leaf_index`` of the
       tree of ``aggregate_size`` leaves whose root is ``aggregate_root``;
    4. the block is no later than the moment the signer says it obtained the receipt (plus the allowance).

    Whether the chain holds that anchor of ``aggregate_root`` is the online check's business (``pot verify --rpc``).
    """
    where = f"{BACKEND} receipt for head {head.tree_size}"
    details = receipt.details
    try:
        check_details(details)
    except ValueError as exc:
        raise AnchorReceiptError(f"{where}: {exc}") from None
    root = bytes.fromhex(details["aggregate_root"])
    size, index = details["aggregate_size"], details["leaf_index"]
    if details["meta_hash"] != "0x" + meta_hash(root, size, signer.key_id).hex():
        raise AnchorReceiptError(f"{where}: meta_hash is not the hash of this aggregate (root, size and signer)")
    path = [bytes.fromhex(node) for node in details["path"]]
    if not verify_inclusion(leaf_hash(head.head_hash), index, size, path, root):
        raise AnchorReceiptError(f"{where}: the path does not lead from the head's leaf at index {index} to the "
                                 f"aggregate root of {size} leaves")
    obtained = int(parse_timestamp(receipt.timestamp).timestamp())
    if details["block_time"] > obtained + TIME_ALLOWANCE_SECONDS:
        raise AnchorReceiptError(f"{where}: block time {details['block_time']} is after the receipt was obtained "
                                 f"({receipt.timestamp})")


def claimed_time(receipt: AnchorReceipt) -> int:
    return int(receipt.details["block_time"])


register_backend(BACKEND, "chain", check_receipt, claimed_time)
