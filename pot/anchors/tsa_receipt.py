"""RFC 3161 time-stamp receipts, checked offline: what a receipt of the ``tsa`` backend must hold.

Importing this module registers the ``tsa`` backend (strength ``"tsa"``) with :mod:`pot.anchors.base`, so the
verifier can check such receipts without ``rfc3161-client`` installed. Asking a time-stamping authority for a token,
and checking a token against a pinned certificate, is :mod:`pot.anchors.tsa`.

A receipt's details hold the TSA's token over the head's *statement* and the time the token names::

    {"token": "<base64 of the DER TimeStampToken>", "gen_time": "2026-11-30T19:51:41.000000Z"}

The statement is ``"pot.v1.tsa-statement" || 0x00 || JCS({"head_hash", "model_id", "root_hash", "tree_size"})``
and the token's message imprint is its SHA-256. Offline (no pinned TSA certificate) the token is not opened:
``gen_time`` is then only the signer's word, exactly like an Ethereum receipt's block time.

Frozen by proof format v1 (docs/PROOF_FORMAT.md section 6.3).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from typing import Any

from pot.anchors.base import TIME_ALLOWANCE_SECONDS, AnchorReceipt, check_detail_names, register_backend
from pot.errors import AnchorReceiptError, FormatError
from pot.log.canonical import signing_input
from pot.log.heads import TreeHead
from pot.log.keys import PublicKey
from pot.log.records import check_timestamp, parse_timestamp

BACKEND = "tsa"
DOMAIN_TSA_STATEMENT = b"pot.v1.tsa-statement"
DETAIL_FIELDS = ("gen_time", "token")
# A token holds a signature and, as pot asks for them (certReq), the TSA's certificates: a few kilobytes. Anything
# far larger is no token a TSA sent, and is refused before it is decoded.
MAX_TOKEN_BYTES = 65_536
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def statement(head: TreeHead) -> bytes:
    """The bytes a TSA is asked to stamp for ``head`` (their SHA-256 is the token's message imprint). The head hash
    alone would do; the model, size and root are spelled out so that a token read on its own says what it dates."""
    return signing_input(DOMAIN_TSA_STATEMENT, {"head_hash": head.head_hash, "model_id": head.model_id,
                                                "root_hash": head.root_hash, "tree_size": head.tree_size})


def imprint(head: TreeHead) -> bytes:
    return hashlib.sha256(statement(head)).digest()


def token_bytes(details: Mapping[str, Any]) -> bytes:
    """The DER token of well-formed details (see :func:`check_details`)."""
    return base64.b64decode(details["token"], validate=True)


def check_details(details: Mapping[str, Any]) -> None:
    """Shape of a ``tsa`` receipt's details; raises ``ValueError`` naming the first bad field."""
    check_detail_names(details, DETAIL_FIELDS)
    token = details["token"]
    # Canonical padded base64 only: one token has one spelling, so the signed receipt binds the bytes exactly.
    if not isinstance(token, str) or not token or not _BASE64.fullmatch(token):
        raise ValueError("token must be non-empty standard base64 with padding")
    if len(token) > (MAX_TOKEN_BYTES + 2) // 3 * 4:
        raise ValueError(f"token is larger than {MAX_TOKEN_BYTES} bytes")
    try:
        raw = base64.b64decode(token, validate=True)
    except binascii.Error:
        raise ValueError("token is not base64") from None
    if base64.b64encode(raw).decode("ascii") != token:
        raise ValueError("token is not in canonical base64 (non-zero padding bits)")
    try:
        check_timestamp(details["gen_time"], "gen_time")
    except FormatError as exc:
        raise ValueError(f"gen_time: {exc}") from None


def check_receipt(receipt: AnchorReceipt, head: TreeHead, signer: PublicKey) -> None:
    """Offline check of a ``tsa`` receipt: well-formed details, and a token time no later than the moment the signer
    says it obtained the receipt (plus the allowance). Whether the token is a TSA's signature over this head is the
    token check's business (:func:`pot.anchors.tsa.token_checker`, with a certificate the verifier pins)."""
    del signer  # the receipt's signature is checked by the verifier for every backend
    where = f"tsa receipt for head {head.tree_size}"
    try:
        check_details(receipt.details)
    except ValueError as exc:
        raise AnchorReceiptError(f"{where}: {exc}") from None
    obtained = int(parse_timestamp(receipt.timestamp).timestamp())
    if claimed_time(receipt) > obtained + TIME_ALLOWANCE_SECONDS:
        raise AnchorReceiptError(f"{where}: token time {receipt.details['gen_time']} is after the receipt was "
                                 f"obtained ({receipt.timestamp})")


def claimed_time(receipt: AnchorReceipt) -> int:
    """The token's time in whole Unix seconds (fraction dropped), as the allowance rule compares times."""
    return int(parse_timestamp(receipt.details["gen_time"]).timestamp())


register_backend(BACKEND, "tsa", check_receipt, claimed_time)
