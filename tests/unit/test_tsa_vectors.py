"""The committed ``tsa`` vector (tests/assets/vectors/tsa.json, scripts/make_tsa_vectors.py): a real token of a
test TSA whose CA certificate is committed beside it. Recomputes what the spec defines and checks the token."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from pot.anchors.base import AnchorReceipt
from pot.anchors.tsa import load_certificates, verify_token
from pot.anchors.tsa_receipt import check_receipt, imprint, statement, token_bytes
from pot.errors import TsaTokenError
from pot.log.canonical import DOMAIN_ANCHOR_RECEIPT, signing_input
from pot.log.heads import TreeHead
from pot.log.keys import SigningKey

VECTORS = Path(__file__).resolve().parents[1] / "assets" / "vectors"
VECTOR = json.loads((VECTORS / "tsa.json").read_text(encoding="utf-8"))
KEY = SigningKey.from_seed(bytes(range(32)))


def test_the_statement_imprint_and_receipt_are_what_the_spec_says() -> None:
    head = TreeHead(**VECTOR["tree_head"])
    assert head.head_hash == VECTOR["head_hash"]
    assert statement(head).hex() == VECTOR["statement_hex"]
    assert imprint(head).hex() == VECTOR["message_imprint_sha256"] == hashlib.sha256(
        bytes.fromhex(VECTOR["statement_hex"])).hexdigest()
    receipt = AnchorReceipt.from_json(VECTOR["receipt"])
    assert signing_input(DOMAIN_ANCHOR_RECEIPT, receipt.body()).hex() == VECTOR["receipt_signing_input_hex"]
    assert receipt.signature_valid(KEY.public)
    check_receipt(receipt, head, KEY.public)  # the offline rules of section 6.3


def test_the_token_checks_out_against_the_committed_ca_only() -> None:
    head = TreeHead(**VECTOR["tree_head"])
    token = token_bytes(VECTOR["receipt"]["details"])
    checked = verify_token(token, head, load_certificates(VECTORS / VECTOR["pinned_certificate"]))
    expected = VECTOR["expected"]
    assert (checked.gen_time, checked.accuracy_us, checked.proven_time, checked.tsa_subject,
            checked.pinned_subject) == (expected["gen_time"], expected["accuracy_us"], expected["proven_time"],
                                        expected["tsa_subject"], expected["pinned_subject"])
    assert checked.gen_time == VECTOR["receipt"]["details"]["gen_time"]
    flipped = bytearray(token)
    flipped[-3] ^= 0x01
    with pytest.raises(TsaTokenError):
        verify_token(bytes(flipped), head, load_certificates(VECTORS / VECTOR["pinned_certificate"]))
    other = TreeHead(**{**VECTOR["tree_head"], "tree_size": 4})
    with pytest.raises(TsaTokenError, match="stamps another message"):
        verify_token(token, other, load_certificates(VECTORS / VECTOR["pinned_certificate"]))
    assert base64.b64encode(token).decode() == VECTOR["receipt"]["details"]["token"]
