"""A record checked by the chain itself: the ProvenanceRegistry's ``checkRecord`` view, called with one record of a
proof, its inclusion path and the anchor its receipt names.

    call = record_call(proof, record_id)          # offline: which anchored head, path, calldata
    call.calldata()                               # the bytes of the eth_call, for any other tool
    result = check_record_on_chain(call, rpc_url) # the chain's verdict: raises RecordRefused, or the anchor's block

``checkRecord(submitter, root, record, index, proof)`` computes the leaf hash SHA-256(0x00 || record) from the
record's canonical bytes (JCS of its body, docs/PROOF_FORMAT.md section 3), checks the RFC 9162 inclusion path
against the root that ``submitter`` anchored, at the tree size that anchor states, and returns the anchor's block
time and number; it reverts with ``NotAnchored`` or ``NotIncluded`` otherwise. ``checkLeaf`` takes the leaf hash
instead of the record (membership only). Which anchor: the earliest head of the proof that covers the record
(``tree_size > seq``) and has an ``ethereum`` receipt, with that receipt's contract and submitter.

What the answer proves is the chain's own: the record's bytes are in the tree whose root that account anchored in
that block. That the account's anchors stand for this signer's log, and everything else a proof says, is
``pot verify``'s business (with ``--rpc``, it checks the same receipt).
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import Any

from pot.anchors.ethereum_receipt import BACKEND, DEV_CHAIN_IDS, chain_name, check_details
from pot.config import endpoint_of
from pot.errors import AnchorUnavailable, ChainMismatch, RecordRefused, UsageError
from pot.log.canonical import canonical_json
from pot.log.heads import TreeHead
from pot.log.merkle import MerkleTree, hash_leaf, verify_inclusion
from pot.log.proof import ProvenanceProof

__all__ = ["OnChainRecord", "RecordCall", "check_record_on_chain", "record_call"]

CHECK_RECORD = "checkRecord(address,bytes32,bytes,uint256,bytes32[])"
CHECK_RECORD_RETURNS = "(bytes32,uint256,uint256,uint256)"
CHECK_LEAF = "checkLeaf(address,bytes32,bytes32,uint256,bytes32[])"
CHECK_LEAF_RETURNS = "(uint256,uint256,uint256)"
_ID_PREFIX = re.compile(r"[0-9a-f]{8,64}")


@dataclass(frozen=True, slots=True)
class RecordCall:
    """One call of ``checkRecord`` (or, with ``leaf_only``, ``checkLeaf``) for one record of a proof."""

    record_id: str
    seq: int
    record: bytes  # the record's canonical bytes (JCS of its body)
    leaf_hash: bytes
    root: bytes
    tree_size: int
    path: tuple[bytes, ...]
    head_hash: str
    chain_id: int
    contract: str
    submitter: str
    receipt_block: int
    receipt_time: int
    tx_hash: str
    leaf_only: bool = False

    @property
    def signature(self) -> str:
        return CHECK_LEAF if self.leaf_only else CHECK_RECORD

    @property
    def returns(self) -> str:
        return CHECK_LEAF_RETURNS if self.leaf_only else CHECK_RECORD_RETURNS

    def arguments(self) -> list[Any]:
        """The call's arguments, in order, as the ABI takes them."""
        return [self.submitter, self.root, self.leaf_hash if self.leaf_only else self.record, self.seq,
                list(self.path)]

    def calldata(self) -> bytes:
        """The ABI-encoded call (selector and arguments): what goes in an eth_call's ``data``."""
        encode, keccak = _abi()
        types = self.signature[self.signature.index("(") + 1:-1].split(",")
        return bytes(keccak(self.signature.encode("ascii"))[:4]) + bytes(encode(types, self.arguments()))

    def cast_arguments(self) -> list[str]:
        """The arguments as ``cast call CONTRACT SIGNATURE ARGS...`` takes them."""
        third = "0x" + (self.leaf_hash if self.leaf_only else self.record).hex()
        return [self.submitter, "0x" + self.root.hex(), third, str(self.seq),
                "[" + ",".join("0x" + p.hex() for p in self.path) + "]"]

    def to_json(self) -> dict[str, Any]:
        return {"chain_id": self.chain_id, "to": self.contract, "function": self.signature, "returns": self.returns,
                "data": "0x" + self.calldata().hex(),
                "arguments": {"submitter": self.submitter, "root": "0x" + self.root.hex(),
                              **({"leafHash": "0x" + self.leaf_hash.hex()} if self.leaf_only else
                                 {"record": "0x" + self.record.hex()}),
                              "index": self.seq, "proof": ["0x" + p.hex() for p in self.path]},
                "record_id": self.record_id, "leaf_hash": self.leaf_hash.hex(), "tree_size": self.tree_size,
                "head_hash": self.head_hash,
                "receipt": {"tx_hash": self.tx_hash, "block_number": self.receipt_block,
                            "block_time": self.receipt_time}}


@dataclass(frozen=True, slots=True)
class OnChainRecord:
    """The chain's answer: the record is in the tree ``submitter`` anchored in ``block_number`` at ``block_time``."""

    call: RecordCall
    leaf_hash: bytes
    block_time: int
    block_number: int
    tree_size: int
    development_chain: bool

    def to_json(self) -> dict[str, Any]:
        return {"ok": True, "record_id": self.call.record_id, "leaf_hash": self.leaf_hash.hex(),
                "chain_id": self.call.chain_id, "contract": self.call.contract, "submitter": self.call.submitter,
                "root": self.call.root.hex(), "index": self.call.seq, "tree_size": self.tree_size,
                "block_number": self.block_number, "block_time": self.block_time,
                "function": self.call.signature, "development_chain": self.development_chain}


def record_call(proof: ProvenanceProof, record_id: str | None, *, seq: int | None = None, leaf_only: bool = False
                ) -> RecordCall:
    """The ``checkRecord`` call for the record ``record_id`` (its id, or a unique prefix of 8 or more hex digits), or
    for the record at position ``seq`` of the log.

    Raises :class:`pot.errors.UsageError` when no such record is disclosed, or no head covering it has an Ethereum
    receipt, or (partial proofs) the only path the proof holds is against a head without one.
    """
    if (record_id is None) == (seq is None):
        raise UsageError("name the record by its id or by its seq, one of the two")
    if seq is not None:
        found = [d for d in proof.disclosed if d.record.seq == seq]
        if not found:
            raise UsageError(f"the proof discloses no record at seq {seq}")
    else:
        assert record_id is not None
        wanted = record_id.lower().removeprefix("0x")
        if not _ID_PREFIX.fullmatch(wanted):
            raise UsageError("a record id is 8 to 64 hex digits (its id in the proof, or a prefix of it)")
        found = [d for d in proof.disclosed
                 if d.record.record_id.startswith(wanted) or (d.claimed_id or "").startswith(wanted)]
        if not found:
            raise UsageError(f"the proof discloses no record with id {wanted[:16]}...")
    if len(found) > 1:
        raise UsageError(f"{len(found)} records' ids begin with {wanted}: give more of the id")
    disclosed = found[0]
    record = disclosed.record
    covering = [(index, entry.head) for index, entry in enumerate(proof.tree_heads)
                if entry.head.tree_size > record.seq]
    receipts = {r.head_hash: r for r in reversed(proof.anchors) if r.backend == BACKEND}  # the first per head
    anchored = [(index, head) for index, head in covering if head.head_hash in receipts]
    if not anchored:
        raise UsageError(f"no tree head covering record seq {record.seq} has an Ethereum anchor receipt: there is "
                         "no root on chain to check it against")
    latest = len(proof.tree_heads) - 1
    if proof.disclosure == "partial":
        # A partial proof holds one path per record: against the latest head.
        anchored = [(index, head) for index, head in anchored if index == latest]
        if not anchored or disclosed.inclusion is None:
            raise UsageError("this partial proof holds the record's inclusion path against its latest head, which "
                             "has no Ethereum anchor receipt")
        head = anchored[0][1]
        path = tuple(bytes.fromhex(p) for p in disclosed.inclusion)
    else:
        head = anchored[0][1]  # the earliest anchored head covering the record: the earliest time the chain gives
        path = tuple(_full_proof_path(proof, record.seq, head))
    receipt = receipts[head.head_hash]
    try:
        check_details(receipt.details)
    except ValueError as exc:
        raise UsageError(f"the Ethereum receipt of head {head.tree_size} is malformed: {exc}") from None
    body = canonical_json(record.body())
    details = receipt.details
    return RecordCall(record_id=record.record_id, seq=record.seq, record=body, leaf_hash=hash_leaf(body),
                      root=bytes.fromhex(head.root_hash), tree_size=head.tree_size, path=path,
                      head_hash=head.head_hash, chain_id=details["chain_id"], contract=details["contract"],
                      submitter=details["submitter"], receipt_block=details["block_number"],
                      receipt_time=details["block_time"], tx_hash=details["tx_hash"], leaf_only=leaf_only)


def _full_proof_path(proof: ProvenanceProof, seq: int, head: TreeHead) -> list[bytes]:
    """The record's RFC 9162 path in the head's tree, from the leaf hashes of the proof's records (a full proof
    holds every record of the log, so the tree is rebuilt; pot verify checks that it gives each head's root)."""
    leaves = [d.record.leaf() for d in proof.disclosed[:head.tree_size]]
    if len(leaves) != head.tree_size:
        raise UsageError(f"the proof holds {len(leaves)} records, fewer than its head of size {head.tree_size}")
    return MerkleTree(leaves).inclusion_proof(seq, head.tree_size)


def verify_locally(call: RecordCall) -> bool:
    """pot's own RFC 9162 check of the same call (no chain): the verdict the contract's must agree with, but for
    the anchor, which only the chain knows."""
    return verify_inclusion(call.leaf_hash, call.seq, call.tree_size, list(call.path), call.root)


def check_record_on_chain(call: RecordCall, rpc_url: str, *, request_timeout: float = 10.0) -> OnChainRecord:
    """Ask the chain at ``rpc_url`` (an ``eth_call`` of the registry's view; nothing is sent or paid for).

    Raises :class:`pot.errors.RecordRefused` when the contract refuses the record (``NotAnchored``: the submitter
    never anchored that root; ``NotIncluded``: the record, index or path is not in that tree), or when the anchor
    the chain holds is not in the block the receipt names. Raises :class:`pot.errors.ChainMismatch` when the
    endpoint is another chain or has no contract at the address, :class:`pot.errors.AnchorUnavailable` when it
    cannot be asked.
    """
    from pot.anchors import ethereum

    ethereum._require_chain_client()
    from web3.exceptions import ContractCustomError, ContractLogicError

    endpoint = endpoint_of(rpc_url)
    w3 = ethereum._make_web3(rpc_url, request_timeout)
    try:
        chain_id = ethereum._chain_id_of(w3)
        code = w3.eth.get_code(call.contract)  # type: ignore[arg-type]
    except Exception as exc:
        raise AnchorUnavailable(f"cannot ask {endpoint}: {ethereum._describe(exc, rpc_url)}") from None
    if chain_id != call.chain_id:
        raise ChainMismatch(f"{endpoint} is {chain_name(chain_id)} (chain id {chain_id}); the receipt names "
                            f"{chain_name(call.chain_id)} ({call.chain_id})")
    if not code:
        raise ChainMismatch(f"no contract at {call.contract} on {chain_name(chain_id)}")
    try:
        answer = bytes(w3.eth.call({"to": call.contract, "data": call.calldata()}))
    except ContractCustomError as exc:
        raise RecordRefused(f"the contract refuses: {_custom_error(str(exc.data))}") from None
    except ContractLogicError as exc:
        raise RecordRefused(f"the contract refuses: {exc.message or 'it reverted'} (is {call.contract} a "
                            "ProvenanceRegistry of this pot version?)") from None
    except Exception as exc:
        raise AnchorUnavailable(f"{endpoint} could not answer: {ethereum._describe(exc, rpc_url)}") from None
    from eth_abi.abi import decode

    try:
        if call.leaf_only:
            block_time, block_number, tree_size = decode(["uint256", "uint256", "uint256"], answer)
            leaf = call.leaf_hash
        else:
            leaf, block_time, block_number, tree_size = decode(["bytes32", "uint256", "uint256", "uint256"], answer)
    except Exception:
        raise RecordRefused(f"{call.contract} answered {len(answer)} bytes that are no {call.signature} result: "
                            "not a ProvenanceRegistry of this pot version") from None
    if not hmac.compare_digest(bytes(leaf), call.leaf_hash):
        raise RecordRefused(f"the contract computed leaf hash {bytes(leaf).hex()} for the record, not "
                            f"{call.leaf_hash.hex()}")
    if (int(block_number), int(block_time)) != (call.receipt_block, call.receipt_time):
        raise RecordRefused(f"{call.submitter}'s anchor of the root is in block {block_number} at {block_time}, "
                            f"not in block {call.receipt_block} at {call.receipt_time} as the receipt says")
    return OnChainRecord(call=call, leaf_hash=bytes(leaf), block_time=int(block_time), block_number=int(block_number),
                         tree_size=int(tree_size), development_chain=chain_id in DEV_CHAIN_IDS)


def _custom_error(data: str) -> str:
    """A revert's custom error, by name with its arguments, as the registry's ABI declares it."""
    from eth_abi.abi import decode
    from web3 import Web3

    from pot.anchors.ethereum import load_artifact

    raw = bytes.fromhex(data.removeprefix("0x")) if re.fullmatch(r"(0x)?([0-9a-fA-F]{2})*", data) else b""
    for item in load_artifact()["abi"]:
        if item.get("type") != "error":
            continue
        types = [i["type"] for i in item["inputs"]]
        if Web3.keccak(text=f"{item['name']}({','.join(types)})")[:4] == raw[:4]:
            try:
                values = decode(types, raw[4:])
            except Exception:
                break
            shown = ", ".join(f"{i['name']}={'0x' + v.hex() if isinstance(v, bytes) else v}"
                              for i, v in zip(item["inputs"], values, strict=True))
            return f"{item['name']}({shown}){_MEANING.get(item['name'], '')}"
    return f"an error the registry does not declare ({data[:10]})"


_MEANING = {
    "NotAnchored": ": that account never anchored that root on this contract",
    "NotIncluded": ": the record (or leaf), index and path do not give the anchored root at the anchored tree size",
}


def _abi() -> tuple[Any, Any]:
    try:
        from eth_abi.abi import encode
        from eth_utils.crypto import keccak
    except ImportError:
        from pot.anchors.ethereum import CHAIN_EXTRA

        raise AnchorUnavailable(f"encoding a contract call needs the chain client: {CHAIN_EXTRA}") from None
    return encode, keccak
