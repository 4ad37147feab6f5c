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
import json
import json.encoder
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
# Deepest nesting a proof may hold, the document itself being level 1 (a record's fields are at level 4). Frozen by
# format v1: deep enough for any configuration, shallow enough that no reader runs out of stack.
MAX_DEPTH = 64


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical JSON bytes of an already JSON-shaped value.

    A fast encoder handles what pot writes (the C string escaper, ECMAScript number formatting); anything it does
    not vouch for (keys outside the Basic Multilingual Plane, whose UTF-16 order differs from code-point order,
    lone surrogates) goes to the ``rfc8785`` package, which is also the oracle the fast path is tested against.
    """
    try:
        text = _fast(value)
    except (_NotFast, TypeError):  # TypeError: keys that are not all strings, which sorted() or the escaper refuse
        return reference_canonical_json(value)
    if not text.isascii() and max(text) > "\uffff":
        # Keys outside the BMP sort differently in UTF-16 than by code point; one pass over the output finds any
        # (values too, which is harmless: the reference encoder gives their right form as well).
        return reference_canonical_json(value)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return reference_canonical_json(value)


def reference_canonical_json(value: Any) -> bytes:
    """RFC 8785 through the ``rfc8785`` package: slower, the reference for :func:`canonical_json`."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise FormatError(f"value cannot be canonicalised as JSON: {exc}") from exc


class _NotFast(Exception):
    """The fast encoder declines this value; the reference encoder decides."""


_encode_string = json.encoder.encode_basestring  # the C escaper: same escapes as ECMAScript's JSON.stringify


def _fast(value: Any) -> str:
    kind = type(value)  # exact types first: the common case, and cheaper than a chain of isinstance calls
    if kind is str:
        return _encode_string(value)
    if kind is dict:
        if not value:
            return "{}"
        parts = []
        for key in sorted(value):
            item = value[key]
            # the leaves a record is mostly made of, inline: a call per value is most of the cost of encoding
            item_kind = type(item)
            if item_kind is str:
                text = _encode_string(item)
            elif item_kind is int and -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                text = int.__repr__(item)
            elif item_kind is float:
                text = float.__repr__(item)
                if "e" in text or text.endswith(".0") or text[-1] in "fn":  # not already ECMAScript's form
                    text = es_number(item)
            elif item is None:
                text = "null"
            else:
                text = _fast(item)
            parts.append(_key(key) + text)
        return "{" + ",".join(parts) + "}"
    if kind is float:
        return es_number(value)
    if kind is int:
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return int.__repr__(value)
        raise _NotFast
    if kind is list or kind is tuple:
        return "[" + ",".join([_fast(item) for item in value]) + "]"
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    # subclasses (numpy.float64, IntEnum, OrderedDict ...): as their base type
    if isinstance(value, str):
        return _encode_string(str.__str__(value))
    if isinstance(value, float):
        return es_number(value)
    if isinstance(value, int):
        return _fast(int(value))
    if isinstance(value, dict):
        return _fast(dict(value))
    if isinstance(value, list | tuple):
        return _fast(list(value))
    raise _NotFast


_KEYS: dict[str, str] = {}


def _key(key: str) -> str:
    """``"key":``, remembered: records repeat the same few keys."""
    text = _KEYS.get(key)
    if text is None:
        text = _encode_string(key) + ":"
        if len(_KEYS) < 4096:
            _KEYS[key] = text
    return text


def es_number(x: float) -> str:
    """ECMAScript's Number::toString for a finite double (RFC 8785 section 3.2.2.3), from Python's shortest repr.

    Both pick the shortest digit string that reads back as ``x``; they differ only in where they switch to
    exponent notation and in how they write the exponent.
    """
    if x != x or x in (math.inf, -math.inf):
        raise FormatError("NaN and infinities are not JSON numbers")
    if x == 0:
        return "0"  # also -0.0
    text = float.__repr__(x)  # not repr(): a float subclass (numpy.float64) may print itself another way
    if "e" not in text:
        # Python writes fixed notation for 1e-4 <= |x| < 1e16, a range where ECMAScript does too, with the same
        # shortest digits; only an integral value differs ("100.0" against "100").
        return text[:-2] if text.endswith(".0") else text
    sign = ""
    if text[0] == "-":
        sign, text = "-", text[1:]
    mantissa, _, exponent_text = text.partition("e")
    exponent = int(exponent_text) if exponent_text else 0
    whole, _, fraction = mantissa.partition(".")
    if fraction == "0":
        fraction = ""
    if whole != "0":
        n = len(whole) + exponent
        digits = (whole + fraction).rstrip("0")
    else:
        stripped = fraction.lstrip("0")
        n = exponent - (len(fraction) - len(stripped))
        digits = stripped.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = n - 1
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{head}e{'+' if e > 0 else '-'}{abs(e)}"


def sha256_hex(data: bytes) -> HexDigest:
    return HexDigest(hashlib.sha256(data).hexdigest())


def signing_input(domain: bytes, body: Mapping[str, Any]) -> bytes:
    """The exact bytes an Ed25519 signature covers for ``body`` of kind ``domain``."""
    return domain + b"\x00" + canonical_json(body)


def object_hash(domain: bytes, body: Mapping[str, Any]) -> HexDigest:
    """SHA-256 of the signing input: the name by which one signed object refers to another."""
    return sha256_hex(signing_input(domain, body))


def to_json_value(value: Any, *, path: str = "value", depth: int = 1) -> Any:
    """Normalise ``value`` from training code into plain JSON types, or raise a one-line :class:`FormatError`.

    Accepts dicts with string keys, lists and tuples, str, bool, None, int within +-(2**53-1), floats (non-finite
    ones become strings, see module docstring), and anything with an ``item()`` method returning one of those
    (numpy and torch scalars, 0-d arrays). ``depth`` is the level ``value`` will sit at in a proof document;
    nothing may nest below :data:`MAX_DEPTH`.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            shown = value if value.bit_length() < 128 else f"of {value.bit_length()} bits"
            raise FormatError(f"{_clip_path(path)}: integer {shown} is outside the range JSON carries exactly "
                              "(+-2**53-1)")
        return int(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return float(value)  # a subclass (numpy.float64 is one) becomes a plain float
    if isinstance(value, Mapping | list | tuple) and depth > MAX_DEPTH:
        raise FormatError(f"{_clip_path(path)} is nested more than {MAX_DEPTH} levels deep in a proof")
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise FormatError(f"{_clip_path(path)}: keys must be strings, got {type(key).__name__}")
            out[key] = to_json_value(item, path=f"{path}.{key}", depth=depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [to_json_value(item, path=f"{path}[{i}]", depth=depth + 1) for i, item in enumerate(value)]
    item_method = getattr(value, "item", None)
    if callable(item_method):
        try:
            scalar = item_method()
        except (ValueError, RuntimeError) as exc:  # a non-scalar array or tensor
            raise FormatError(f"{_clip_path(path)}: {type(value).__name__} is not a scalar ({exc})") from exc
        if scalar is not value:
            return to_json_value(scalar, path=path)
    raise FormatError(f"{_clip_path(path)}: {type(value).__name__} cannot be recorded as JSON")


def _clip_path(path: str) -> str:
    """A value's path for a message, shortened: a deep path would make a message of thousands of characters."""
    return path if len(path) <= 80 else f"{path[:40]}...{path[-30:]}"
