"""Signed tree heads: the moment a model's log is committed to.

A tree head names a log (``model_id``), its size and root, the previous head of the same log (by head hash,
so heads form a hash chain), the time it was signed and the signer's key id. Its *head hash* is the SHA-256 of
its signing input; anchors and the next head refer to it by that hash.

Frozen by proof format v1 (docs/PROOF_FORMAT.md, "Tree heads").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pot.errors import FormatError
from pot.log.canonical import DOMAIN_TREE_HEAD, HexDigest, object_hash
from pot.log.keys import PublicKey, SigningKey
from pot.log.records import check_count, check_hex64, check_name, check_timestamp

_HEAD_FIELDS = ("model_id", "tree_size", "root_hash", "prev_head", "timestamp", "key_id")


@dataclass(frozen=True, slots=True)
class TreeHead:
    model_id: str
    tree_size: int
    root_hash: str
    prev_head: str | None
    timestamp: str
    key_id: str

    def body(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _HEAD_FIELDS}

    @property
    def head_hash(self) -> HexDigest:
        return object_hash(DOMAIN_TREE_HEAD, self.body())

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> TreeHead:
        if not isinstance(body, Mapping):
            raise FormatError("a tree head must be a JSON object")
        if set(body) != set(_HEAD_FIELDS):
            missing = set(_HEAD_FIELDS) - set(body)
            extra = set(body) - set(_HEAD_FIELDS)
            raise FormatError("tree head fields are wrong: " + "; ".join(
                part for part in (f"missing {sorted(missing)}" if missing else "",
                                  f"unknown {sorted(extra)}" if extra else "") if part))
        prev = body["prev_head"]
        return cls(
            model_id=check_name(body["model_id"], "model_id"),
            tree_size=check_count(body["tree_size"], "tree_size"),
            root_hash=check_hex64(body["root_hash"], "root_hash"),
            prev_head=None if prev is None else check_hex64(prev, "prev_head"),
            timestamp=check_timestamp(body["timestamp"], "timestamp"),
            key_id=check_hex64(body["key_id"], "key_id"),
        )


@dataclass(frozen=True, slots=True)
class SignedTreeHead:
    head: TreeHead
    signature: str

    @classmethod
    def sign(cls, head: TreeHead, key: SigningKey) -> SignedTreeHead:
        return cls(head, key.sign(DOMAIN_TREE_HEAD, head.body()))

    def signature_valid(self, key: PublicKey) -> bool:
        return key.verify(DOMAIN_TREE_HEAD, self.head.body(), self.signature)

    def to_json(self) -> dict[str, Any]:
        return {"head": self.head.body(), "signature": self.signature}
