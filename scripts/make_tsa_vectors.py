#!/usr/bin/env python3
"""Write the ``tsa`` receipt vector: a real RFC 3161 token from a test TSA over a head signed by the vector key.

    python scripts/make_tsa_vectors.py     # (re)write tests/assets/vectors/tsa.json and tests/assets/vectors/tsa-ca.pem

The TSA is OpenSSL's ``openssl ts -reply`` with a test CA made on the spot (tests/support/tsa.py), so the token,
its time and the CA differ on every run: unlike v1.json these vectors are not byte-for-byte reproducible, and a test
checks the committed ones instead (tests/unit/test_tsa_vectors.py). The CA's key is thrown away: nobody can make
another token that chains to the committed certificate.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pot.anchors.base import AnchorReceipt  # noqa: E402
from pot.anchors.tsa import load_certificates, verify_token  # noqa: E402
from pot.anchors.tsa_receipt import imprint, statement, token_bytes  # noqa: E402
from pot.log.canonical import DOMAIN_ANCHOR_RECEIPT, signing_input  # noqa: E402
from pot.log.heads import TreeHead  # noqa: E402
from pot.log.keys import SigningKey  # noqa: E402
from pot.log.records import format_timestamp  # noqa: E402
from tests.support.tsa import make_authority, stamp  # noqa: E402

VECTORS = ROOT / "tests" / "assets" / "vectors"
SEED = bytes(range(32))  # the vector key of v1.json


def main() -> int:
    key = SigningKey.from_seed(SEED)
    now = datetime.now(UTC)
    head = TreeHead(model_id="vector-model", tree_size=3, root_hash="11" * 32, prev_head=None,
                    timestamp=format_timestamp(now), key_id=key.key_id)
    with tempfile.TemporaryDirectory() as scratch:
        authority = make_authority(Path(scratch) / "tsa", "pot vector TSA")
        details = stamp(authority, head)
        shutil.copyfile(authority.ca_cert, VECTORS / "tsa-ca.pem")
    receipt = AnchorReceipt.issue("tsa", head, details, format_timestamp(max(datetime.now(UTC), now)), key)
    checked = verify_token(token_bytes(details), head, load_certificates(VECTORS / "tsa-ca.pem"))
    vector = {
        "description": "A tsa receipt (docs/PROOF_FORMAT.md section 6.3) with a real token of a test TSA whose CA "
                       "certificate is tsa-ca.pem; the head and receipt are signed by the key of v1.json. Made by "
                       "scripts/make_tsa_vectors.py.",
        "tree_head": head.body(),
        "head_hash": head.head_hash,
        "statement_hex": statement(head).hex(),
        "message_imprint_sha256": imprint(head).hex(),
        "receipt": receipt.to_json(),
        "receipt_signing_input_hex": signing_input(DOMAIN_ANCHOR_RECEIPT, receipt.body()).hex(),
        "pinned_certificate": "tsa-ca.pem",
        "expected": {"gen_time": checked.gen_time, "accuracy_us": checked.accuracy_us,
                     "proven_time": checked.proven_time, "tsa_subject": checked.tsa_subject,
                     "pinned_subject": checked.pinned_subject},
    }
    (VECTORS / "tsa.json").write_text(json.dumps(vector, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {VECTORS / 'tsa.json'} and {VECTORS / 'tsa-ca.pem'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
