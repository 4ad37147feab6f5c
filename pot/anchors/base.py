"""The anchor protocol: how a signed tree head's root gets committed somewhere outside the signer's control.

An :class:`Anchor` backend takes a signed tree head and returns backend-specific *details* (a local chain
entry, a transaction and block). The recorder wraps them in an :class:`AnchorReceipt`, which names the backend,
the head it anchors and the root, and signs it, so that no receipt field can be changed in a proof without
breaking a signature. What a receipt is worth depends on its backend: ``strength`` says so, and the verifier's
report keeps locally anchored heads visibly apart from chain-anchored ones.

Frozen by proof format v1 (docs/PROOF_FORMAT.md, "Anchor receipts").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

from pot.errors import FormatError
from pot.log.canonical import DOMAIN_ANCHOR_RECEIPT
from pot.log.heads import SignedTreeHead, TreeHead
from pot.log.keys import PublicKey, SigningKey
from pot.log.records import check_hex64, check_name, check_object, check_signature, check_timestamp

# local: only the signer's key vouches; chain: a chain can be asked; tsa: a time-stamping authority's token, which a
# verifier checks against a certificate it pins (docs/PROOF_FORMAT.md section 6).
Strength = Literal["local", "chain", "tsa"]

_RECEIPT_FIELDS = ("backend", "head_hash", "root_hash", "timestamp", "key_id", "details")


@dataclass(frozen=True, slots=True)
class AnchorReceipt:
    backend: str
    head_hash: str
    root_hash: str
    timestamp: str
    key_id: str
    details: dict[str, Any]
    signature: str

    def body(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _RECEIPT_FIELDS}

    def to_json(self) -> dict[str, Any]:
        return {**self.body(), "signature": self.signature}

    def signature_valid(self, key: PublicKey) -> bool:
        return key.verify(DOMAIN_ANCHOR_RECEIPT, self.body(), self.signature)

    @classmethod
    def issue(cls, backend: str, head: TreeHead, details: Mapping[str, Any], timestamp: str,
              key: SigningKey) -> AnchorReceipt:
        body: dict[str, Any] = {"backend": backend, "head_hash": head.head_hash, "root_hash": head.root_hash,
                                "timestamp": timestamp, "key_id": key.key_id, "details": dict(details)}
        return cls(**body, signature=key.sign(DOMAIN_ANCHOR_RECEIPT, body))

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> AnchorReceipt:
        if not isinstance(value, Mapping):
            raise FormatError("an anchor receipt must be a JSON object")
        expected = {*_RECEIPT_FIELDS, "signature"}
        if set(value) != expected:
            raise FormatError(f"anchor receipt fields must be exactly {sorted(expected)}")
        signature = check_signature(value["signature"], "signature")
        return cls(
            backend=check_name(value["backend"], "backend"),
            head_hash=check_hex64(value["head_hash"], "head_hash"),
            root_hash=check_hex64(value["root_hash"], "root_hash"),
            timestamp=check_timestamp(value["timestamp"], "timestamp"),
            key_id=check_hex64(value["key_id"], "key_id"),
            details=check_object(value["details"], "details"),
            signature=signature,
        )


class Anchor(Protocol):
    """A backend that anchors tree-head roots. Implementations: ``localchain``, ``ethereum``, ``tsa``."""

    backend: ClassVar[str]
    strength: ClassVar[Strength]

    def anchor(self, head: SignedTreeHead) -> dict[str, Any]:
        """Anchor ``head``'s root and return the receipt details.

        Idempotent: anchoring a head that this backend already holds returns the existing details instead of
        anchoring twice. Raises :class:`pot.errors.AnchorUnavailable` when it cannot anchor now.
        """
        ...


# How the verifier checks one receipt's details offline, per backend: (receipt, its head, signer) -> None, raising
# pot.errors.AnchorReceiptError. Backends register here so the verifier needs no backend imports (no web3).
OfflineCheck = Callable[[AnchorReceipt, TreeHead, PublicKey], None]
# The moment a receipt says its root existed by (a block's time), as Unix seconds, or None for a backend that
# names none. Offline this is only the receipt's claim, signed by the signer; a check against the backend itself
# (``pot verify --rpc``) makes it a proven time.
ClaimedTime = Callable[[AnchorReceipt], int | None]
OFFLINE_CHECKS: dict[str, OfflineCheck] = {}
STRENGTHS: dict[str, Strength] = {}
CLAIMED_TIMES: dict[str, ClaimedTime] = {}

# Seconds a record may post-date the time its anchor claims: chains date a block by its slot's start, and a block
# can be built seconds later, so a record made just before its anchor was sent may honestly be dated up to a slot
# (12 s on Ethereum) after the block. Frozen by format v1 (docs/PROOF_FORMAT.md section 6.2).
TIME_ALLOWANCE_SECONDS = 15


def register_backend(backend: str, strength: Strength, check: OfflineCheck,
                     claimed_time: ClaimedTime | None = None) -> None:
    OFFLINE_CHECKS[backend] = check
    STRENGTHS[backend] = strength
    if claimed_time is not None:
        CLAIMED_TIMES[backend] = claimed_time


def check_detail_names(details: Mapping[str, Any], fields: Mapping[str, Any] | tuple[str, ...]) -> None:
    """A receipt's details hold exactly ``fields`` (a backend's DETAIL_FIELDS): ``ValueError`` naming what is
    missing and what is unknown otherwise."""
    if set(details) != set(fields):
        missing = sorted(set(fields) - set(details))
        extra = sorted(set(details) - set(fields))
        parts = ([f"missing {missing}"] if missing else []) + ([f"unknown {extra}"] if extra else [])
        raise ValueError("details fields are wrong: " + "; ".join(parts))
