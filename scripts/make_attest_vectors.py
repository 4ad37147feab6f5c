#!/usr/bin/env python3
"""Write the known-answer vectors of pot's in-toto attestations (docs/ATTESTATIONS.md), deterministically.

    python scripts/make_attest_vectors.py            # (re)write tests/assets/vectors/attest-v1.json
    python scripts/make_attest_vectors.py --check    # exit 1 if what is committed differs from what this writes

The attestations render the committed v1 proofs (tests/assets/proofs/v1/) with the vector key (the RFC 8032
seed 00 01 .. 1f of tests/assets/vectors/v1.json). Ed25519 signatures are deterministic, so every byte is stable.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pot.attest import dsse  # noqa: E402
from pot.attest.intoto import POT_PREDICATE_TYPE, SLSA_PREDICATE_TYPE, ProofFile, attest, payload  # noqa: E402
from pot.log.keys import SigningKey  # noqa: E402
from pot.log.records import parse_timestamp  # noqa: E402

VECTORS = ROOT / "tests" / "assets" / "vectors" / "attest-v1.json"
CORPUS = ROOT / "tests" / "assets" / "proofs" / "v1"
SEED = bytes(range(32))
CASES = (("basic-full.proof.json", POT_PREDICATE_TYPE), ("lineage-full.proof.json", POT_PREDICATE_TYPE),
         ("lineage-full.proof.json", SLSA_PREDICATE_TYPE))


def build() -> dict[str, Any]:
    key = SigningKey.from_seed(SEED)
    pae_cases = [
        # The DSSE protocol's own example, and edge cases of the lengths: an empty body, a multi-byte type.
        ("http://example.com/HelloWorld", b"hello world"),
        (dsse.PAYLOAD_TYPE_INTOTO, b""),
        ("application/vnd.example.\u00e9+json", b"{}"),
    ]
    attestations = []
    for name, predicate_type in CASES:
        proof_file = ProofFile.load(CORPUS / name)
        # The corpus proofs are dated 2026-11-22; verify them as of their own time so the output never changes.
        now = parse_timestamp(proof_file.proof.proof_timestamp)
        [envelope] = attest(key, proof_file, (predicate_type,), now=now)
        body = payload(proof_file, predicate_type)
        message = dsse.pae(envelope.payload_type, body)
        attestations.append({
            "proof": f"tests/assets/proofs/v1/{name}",
            "proof_digests": proof_file.digests(),
            "predicate_type": predicate_type,
            "payload_type": envelope.payload_type,
            "payload": body.decode("utf-8"),
            "pae_sha256": hashlib.sha256(message).hexdigest(),
            "pae_length": len(message),
            "keyid": envelope.signatures[0].keyid,
            "sig": base64.b64encode(envelope.signatures[0].sig).decode("ascii"),
            "envelope": envelope.dumps(),
        })
    return {
        "about": "Known-answer vectors for pot's in-toto attestations (docs/ATTESTATIONS.md): the DSSE "
                 "pre-authentication encoding, and the statements, signatures and envelopes rendered from the v1 "
                 "corpus proofs with the vector key. 'payload' is the statement's RFC 8785 bytes as text; 'envelope' "
                 "the exact line pot writes. Written by scripts/make_attest_vectors.py.",
        "key": {"seed": SEED.hex(), "public_key": key.public.hex, "key_id": key.key_id},
        "pae": [{"payload_type": t, "payload_hex": b.hex(), "pae_hex": dsse.pae(t, b).hex()} for t, b in pae_cases],
        "attestations": attestations,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with the committed file instead of writing")
    args = parser.parse_args(argv)
    text = json.dumps(build(), indent=1, ensure_ascii=False) + "\n"
    if args.check:
        committed = VECTORS.read_text(encoding="utf-8") if VECTORS.exists() else ""
        if committed != text:
            print(f"{VECTORS.relative_to(ROOT)} differs from what scripts/make_attest_vectors.py writes",
                  file=sys.stderr)
            return 1
        return 0
    VECTORS.write_text(text, encoding="utf-8")
    print(f"wrote {VECTORS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
