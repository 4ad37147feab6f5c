"""DSSE, the Dead Simple Signing Envelope (protocol v1), as pot writes and reads it.

A DSSE signature covers the *pre-authentication encoding* of the payload and its type, never the payload alone::

    PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body

with SP one space (0x20) and LEN the decimal byte length, no leading zeros. Binding the type inside the signed
bytes means a signature made for one payload type can never be accepted for another. The envelope is the JSON
object ``{"payload": base64(body), "payloadType": type, "signatures": [{"keyid": ..., "sig": base64(sig)}]}``.

Frozen by the DSSE protocol (and docs/ATTESTATIONS.md); pot's choices within it:

- signatures are Ed25519 under the store's key (:meth:`pot.log.keys.SigningKey.sign_dsse`), checked by the same
  strict rules as every pot signature (docs/PROOF_FORMAT.md section 2);
- ``keyid`` is pot's key id: the lower-case hex SHA-256 of the raw 32-byte public key. DSSE leaves it an
  unauthenticated hint; pot still refuses an envelope whose ``keyid`` names another key than the one that verifies;
- base64 is written in the standard alphabet with padding. It is read in either alphabet DSSE allows, with or
  without padding, but only in its canonical spelling: a character whose low bits base64 decoding would drop
  makes the envelope malformed, so every character of the envelope is either signed or refused;
- pot reads exactly the fields it writes and one signature. DSSE asks consumers to ignore unknown fields; pot
  refuses them instead, because nothing outside ``payload`` and ``payloadType`` is signed and pot never carries an
  unsigned field a forger could fill (docs/ATTESTATIONS.md says so as a deliberate deviation).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pot._internal import strictjson
from pot.errors import AttestationError, FormatError
from pot.log.keys import PublicKey, SigningKey

PAYLOAD_TYPE_INTOTO = "application/vnd.in-toto+json"
MAX_ENVELOPE_BYTES = 256 << 20  # a statement carries a run's configuration and environment, never records


def pae(payload_type: str, payload: bytes) -> bytes:
    """The pre-authentication encoding: the exact bytes a DSSE signature covers."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


@dataclass(frozen=True, slots=True)
class DsseSignature:
    keyid: str
    sig: bytes


@dataclass(frozen=True, slots=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[DsseSignature, ...]

    def to_json(self) -> dict[str, Any]:
        return {"payload": base64.b64encode(self.payload).decode("ascii"), "payloadType": self.payload_type,
                "signatures": [{"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode("ascii")}
                               for s in self.signatures]}

    def dumps(self) -> str:
        """The envelope as a file holds it: one line of JSON and a newline (a line of an in-toto bundle too)."""
        return json.dumps(self.to_json(), separators=(",", ":")) + "\n"

    @classmethod
    def from_json(cls, data: str | bytes) -> Envelope:
        """Parse an envelope; raise :class:`FormatError` for anything that is not one as pot writes it."""
        document = strictjson.loads(data, "envelope", max_bytes=MAX_ENVELOPE_BYTES)
        if not isinstance(document, Mapping):
            raise FormatError("a DSSE envelope must be a JSON object")
        _exact(document, {"payload", "payloadType", "signatures"}, "the envelope")
        payload_type = document["payloadType"]
        if not isinstance(payload_type, str):
            raise FormatError("payloadType must be a string")
        payload = _b64decode(document["payload"], "payload")
        signatures = document["signatures"]
        if not isinstance(signatures, list) or len(signatures) != 1:
            raise FormatError("signatures must be an array holding exactly one signature (pot signs with one key)")
        parsed = []
        for i, item in enumerate(signatures):
            if not isinstance(item, Mapping):
                raise FormatError(f"signatures[{i}] must be a JSON object")
            _exact(item, {"keyid", "sig"}, f"signatures[{i}]")
            if not isinstance(item["keyid"], str):
                raise FormatError(f"signatures[{i}].keyid must be a string")
            sig = _b64decode(item["sig"], f"signatures[{i}].sig")
            if len(sig) != 64:
                raise FormatError(f"signatures[{i}].sig must be a 64-byte Ed25519 signature, got {len(sig)} bytes")
            parsed.append(DsseSignature(item["keyid"], sig))
        return cls(payload_type, payload, tuple(parsed))

    def verify(self, key: PublicKey) -> DsseSignature:
        """Return the signature that ``key`` made over PAE(payloadType, payload); raise AttestationError if none.

        A signature whose ``keyid`` names another key is refused even if it would verify: pot writes the key id of
        the signing key, so a mismatch means the envelope was altered.
        """
        message = pae(self.payload_type, self.payload)
        for signature in self.signatures:
            if signature.keyid != key.key_id:
                raise AttestationError(f"the envelope's keyid {signature.keyid[:64]!r} is not the key id of the key "
                                       f"it is checked with ({key.key_id})")
            if key.verify_dsse(message, signature.sig):
                return signature
        raise AttestationError(f"the envelope's signature does not verify under key {key.key_id} over "
                               "PAE(payloadType, payload)")


def sign(key: SigningKey, payload_type: str, payload: bytes) -> Envelope:
    """An envelope holding ``payload``, signed by ``key`` with pot's key id as its keyid."""
    return Envelope(payload_type, payload, (DsseSignature(key.key_id, key.sign_dsse(pae(payload_type, payload))),))


def _exact(value: Mapping[str, Any], keys: set[str], where: str) -> None:
    missing, unknown = sorted(keys - set(value)), sorted(set(value) - keys)
    if missing or unknown:
        raise FormatError(f"{where} must hold exactly {', '.join(sorted(keys))}: " + "; ".join(
            ([f"missing {', '.join(missing)}"] if missing else []) +
            ([f"unknown {', '.join(repr(k[:40]) for k in unknown)}"] if unknown else [])))


def _b64decode(text: Any, where: str) -> bytes:
    """Base64 in the standard or URL-safe alphabet, padded or not, spelled canonically."""
    if not isinstance(text, str) or not text.isascii():
        raise FormatError(f"{where} must be a base64 string")
    padded = text + "=" * (-len(text) % 4)
    urlsafe = "-" in text or "_" in text
    try:
        raw = base64.b64decode(padded, altchars=b"-_" if urlsafe else None, validate=True)
    except (binascii.Error, ValueError):
        raise FormatError(f"{where} is not valid base64") from None
    spelled = (base64.urlsafe_b64encode(raw) if urlsafe else base64.b64encode(raw)).decode("ascii")
    if text not in (spelled, spelled.rstrip("=")):
        raise FormatError(f"{where} is not canonical base64 (mixed alphabets, stray padding, or bits that decoding "
                          "would drop)")
    return raw
