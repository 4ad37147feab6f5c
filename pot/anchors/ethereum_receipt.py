"""Ethereum anchor receipts, checked offline: what a receipt of the ``ethereum`` backend must hold.

Importing this module registers the ``ethereum`` backend (strength ``"chain"``) with :mod:`pot.anchors.base`, so
the verifier can check such receipts without web3 installed. Talking to a chain is :mod:`pot.anchors.ethereum`.

A receipt's details name one ``Anchored(root, metaHash, submitter)`` event of the ProvenanceRegistry contract::

    {"chain_id": 31337, "contract": "0x5FbD...", "tx_hash": "0x...", "block_number": 12,
     "block_hash": "0x...", "block_time": 1795326831, "log_index": 0, "submitter": "0xf39F...",
     "meta_hash": "0x<head hash>"}

``block_time`` is the block's timestamp in Unix seconds: the latest moment by which the anchored head's records
provably existed. ``meta_hash`` is the anchored tree head's hash, so the event names the head and not only its root.

Frozen by proof format v1 (docs/PROOF_FORMAT.md, "Anchor receipts").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pot._internal.keccak import is_checksum_address
from pot.anchors.base import TIME_ALLOWANCE_SECONDS, AnchorReceipt, check_detail_names, register_backend
from pot.errors import AnchorReceiptError
from pot.log.canonical import MAX_SAFE_INTEGER
from pot.log.heads import TreeHead
from pot.log.keys import PublicKey
from pot.log.records import parse_timestamp

BACKEND = "ethereum"

CHAIN_NAMES: Mapping[int, str] = {
    1: "Ethereum",
    11155111: "Sepolia",
    137: "Polygon",
    80002: "Polygon Amoy",
    31337: "anvil (local dev chain)",
}
# Chains whose block headers carry proof-of-authority extra data longer than 32 bytes; web3 rejects their
# blocks unless ExtraDataToPOAMiddleware rewrites that field.
POA_CHAIN_IDS = frozenset({137, 80002})
DEV_CHAIN_IDS = frozenset({31337})

DETAIL_FIELDS: Mapping[str, type] = {
    "chain_id": int,
    "contract": str,
    "tx_hash": str,
    "block_number": int,
    "block_hash": str,
    "block_time": int,
    "log_index": int,
    "submitter": str,
    "meta_hash": str,
}
_HASH = re.compile(r"0x[0-9a-f]{64}")
# Integers are JSON-safe (+-(2**53-1), docs/PROOF_FORMAT.md section 1); a chain id is at least 1 and a block time
# no earlier than the earliest timestamp a proof may hold (2000-01-01T00:00:00Z).
_LOWEST = {"chain_id": 1, "block_time": 946_684_800}


def chain_name(chain_id: int) -> str:
    return CHAIN_NAMES.get(chain_id, f"chain {chain_id}")


def check_details(details: Mapping[str, Any]) -> None:
    """Shape and types of an ``ethereum`` receipt's details; raises ``ValueError`` naming the first bad field."""
    check_detail_names(details, DETAIL_FIELDS)
    for name, kind in DETAIL_FIELDS.items():
        value = details[name]
        if kind is int:
            # bool is an int subclass: True must not pass as block 1
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an integer")
            if not _LOWEST.get(name, 0) <= value <= MAX_SAFE_INTEGER:
                raise ValueError(f"{name} is out of range ({_LOWEST.get(name, 0)} to 2**53-1)")
        elif not isinstance(value, str):
            raise ValueError(f"{name} must be a string")
    for name in ("contract", "submitter"):
        if not is_checksum_address(details[name]):
            raise ValueError(f"{name} must be a 0x-prefixed 20-byte address in its EIP-55 checksummed form")
    for name in ("tx_hash", "block_hash", "meta_hash"):
        if not _HASH.fullmatch(details[name]):
            raise ValueError(f"{name} must be 0x followed by 64 lower-case hex digits")


def check_receipt(receipt: AnchorReceipt, head: TreeHead, signer: PublicKey) -> None:
    """Offline check of an ``ethereum`` receipt: well-formed details whose ``meta_hash`` names this very head, and
    a block no later than the moment the signer says it obtained the receipt (plus the allowance).

    Whether the chain really holds that event is the online check's business (``pot verify --rpc``): offline, the
    block time is the signer's word.
    """
    where = f"ethereum receipt for head {head.tree_size}"
    try:
        check_details(receipt.details)
    except ValueError as exc:
        raise AnchorReceiptError(f"{where}: {exc}") from None
    if receipt.details["meta_hash"] != "0x" + head.head_hash:
        raise AnchorReceiptError(f"{where}: meta_hash is not the hash of the head it claims to anchor")
    obtained = int(parse_timestamp(receipt.timestamp).timestamp())
    if receipt.details["block_time"] > obtained + TIME_ALLOWANCE_SECONDS:
        raise AnchorReceiptError(f"{where}: block time {receipt.details['block_time']} is after the receipt was "
                                 f"obtained ({receipt.timestamp})")


def claimed_time(receipt: AnchorReceipt) -> int:
    return int(receipt.details["block_time"])


register_backend(BACKEND, "chain", check_receipt, claimed_time)
