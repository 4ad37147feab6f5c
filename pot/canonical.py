"""Canonical bytes: the one place that decides what gets hashed and what gets signed.

Frozen by proof format v1 (docs/PROOF_FORMAT.md): changing anything here changes every leaf hash, head hash
and signature, so it needs a new format version.

- Canonical JSON is RFC 8785 (JCS).
- Values from training code are normalised first (:func:`to_json_value`): numpy and torch scalars become plain
  numbers, tuples become lists, and the non-finite floats JSON cannot carry become the strings ``"NaN"``,
  ``"Infinity"`` and ``"-Infinity"``.
- Signed bytes are ``DOMAIN || 0x00 || canonical_json(body)`` where ``DOMAIN`` names what is signed
  (``pot.v1.tree-head`` ...). A signature over one kind of object can never be replayed as another.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any, NewType

import rfc8785

from pot.errors import FormatError

HexDigest = NewType("HexDigest", str)
"""Lower-case hex of a 32-byte SHA-256 digest."""

# Domain-separation tags, one per signed or hashed object kind. Frozen by format v1.
DOMAIN_TREE_HEAD = b"pot.v1.tree-head"
DOMAIN_ANCHOR_RECEIPT = b"pot.v1.anchor-receipt"
DOMAIN_LOCAL_CHAIN_ENTRY = b"pot.v1.local-chain-entry"
DOMAIN_PROOF = b"pot.v1.proof"

# Largest integer JSON numbers carry exactly (RFC 8785 works on IEEE-754 doubles).
MAX_SAFE_INTEGER = 2**53 - 1


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical JSON bytes of an already JSON-shaped value."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise FormatError(f"value cannot be canonicalised as JSON: {exc}") from exc


def sha256_hex(data: bytes) -> HexDigest:
    return HexDigest(hashlib.sha256(data).hexdigest())


def signing_input(domain: bytes, body: Mapping[str, Any]) -> bytes:
    """The exact bytes an Ed25519 signature covers for ``body`` of kind ``domain``."""
    return domain + b"\x00" + canonical_json(body)


def object_hash(domain: bytes, body: Mapping[str, Any]) -> HexDigest:
    """SHA-256 of the signing input: the name by which one signed object refers to another."""
    return sha256_hex(signing_input(domain, body))


def to_json_value(value: Any, *, path: str = "value") -> Any:
    """Normalise ``value`` from training code into plain JSON types, or raise a one-line :class:`FormatError`.

    Accepts dicts with string keys, lists and tuples, str, bool, None, int within +-(2**53-1), floats (non-finite
    ones become strings, see module docstring), and anything with an ``item()`` method returning one of those
    (numpy and torch scalars, 0-d arrays).
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise FormatError(f"{path}: integer {value} is outside the range JSON carries exactly (+-2**53-1)")
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise FormatError(f"{path}: keys must be strings, got {type(key).__name__} {key!r}")
            out[key] = to_json_value(item, path=f"{path}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [to_json_value(item, path=f"{path}[{i}]") for i, item in enumerate(value)]
    item_method = getattr(value, "item", None)
    if callable(item_method):
        try:
            scalar = item_method()
        except (ValueError, RuntimeError) as exc:  # a non-scalar array or tensor
            raise FormatError(f"{path}: {type(value).__name__} is not a scalar ({exc})") from exc
        if scalar is not value:
            return to_json_value(scalar, path=path)
    raise FormatError(f"{path}: {type(value).__name__} cannot be recorded as JSON")
