"""Ed25519 signing keys: creation, the key file, signing and verifying.

- The private key lives in one PEM (PKCS#8) file created with mode 0600, encrypted when a passphrase is given.
  The passphrase comes from the ``POT_KEY_PASSPHRASE`` environment variable, never from a command-line argument
  (which other users can read in the process list).
- A public key is written as 64 hex digits of its raw 32 bytes; its key id is the SHA-256 of those bytes.
- Signatures cover :func:`pot.log.canonical.signing_input` (domain tag + canonical JSON) and are 128 lower-case hex
  digits.

Nothing in this module puts private key bytes or a passphrase into an exception, a repr or a log line.

Which keys and signatures count (frozen by the v1 format). RFC 8032 leaves verifiers some latitude and libraries
use it differently (Chalkias, Garillot, Nikolaenko: "Taming the many EdDSAs", 2020). A proof is evidence against its
signer, so pot takes the strict side: a signature must bind its signer to its message, and every verifier that
follows these rules must give the same answer for every key and signature.

A public key must be the canonical encoding (y < p, and not x = 0 with the sign bit set) of a point on the curve
that lies in the prime-order subgroup: libsodium's ``crypto_core_ed25519_is_valid_point``. OpenSSL, which does the
verifying, loads any 32 bytes. The checks matter because:

- a small-order key (the eight points of order 1, 2, 4 and 8, in fourteen encodings of which six are non-canonical)
  verifies forged signatures. Under the identity ``01 00..00``, R = identity and S = 0 verify for every message;
  under each of the others, S = 0 with one of the eight small-order R verifies for most messages. A signer who
  published such a key could disown everything "signed" with it. OpenSSL accepts these forgeries under all fourteen.
- a key with a small-order component ([L]A != identity) is never the output of RFC 8032 key generation, whose scalar
  is a multiple of 8: it was crafted. OpenSSL accepts an ordinary signature under it only when 8 divides the hash k,
  so verifiers using the cofactored and the cofactorless equation would disagree about its signer's proofs.
- RFC 8032 section 5.1.3 decoding refuses non-canonical and off-curve encodings; a second encoding of one point
  would be a second key id for the same key.

A signature must be exactly 128 lower-case hex digits (the format's one spelling; ``bytes.fromhex`` alone would also
take upper case and whitespace), with S < L (RFC 8032 section 5.1.7; otherwise S + L is a second valid signature)
and R a canonical encoding (y < p) that is not one of the fourteen small-order encodings. OpenSSL then checks the
cofactorless equation [S]B = R + [k]A with k = SHA-512(R || A || M) mod L, comparing R as bytes. OpenSSL already
refuses S >= L and every R that is not the canonical encoding of [S]B - [k]A; pot checks these itself so that the
rule does not rest on one backend. pot refuses a small-order R, which OpenSSL accepts: under a prime-order key the
only small-order R that verifies is the identity, meaning the nonce was 0, and then S = k * a mod L publishes the
private scalar a, so from then on anyone can sign as that key (libsodium and ed25519-dalek's ``verify_strict``
refuse it as well). Under a key that passes the checks above, every signature this rule accepts also satisfies the
cofactored equation [8][S]B = [8]R + [8][k]A. The converse fails only for an R with a small-order component, which
only the signer can make; a verifier must still use the cofactorless equation, so that it refuses those too.

The key checks are plain integer arithmetic mod p = 2^255 - 19 (RFC 8032 section 5.1). They run once per key, so
clarity wins over speed: about 2 ms, almost all of it computing [L]A. The signature checks cost about 2 microseconds
per call, next to about 130 for OpenSSL's verify.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from pot._internal import files
from pot._internal.paths import names_a_file
from pot.errors import FormatError, KeyringError
from pot.log.canonical import HexDigest, sha256_hex, signing_input

PASSPHRASE_ENV = "POT_KEY_PASSPHRASE"
ALGORITHM = "ed25519"
DSSE_PAE_PREFIX = b"DSSEv1 "  # the only raw bytes a key signs besides pot's own signing inputs (sign_dsse)
_HEX = re.compile(r"[0-9a-fA-F]+")
_SIGNATURE_HEX = re.compile(r"[0-9a-f]{128}")

# Edwards25519 as RFC 8032 section 5.1 defines it: -x^2 + y^2 = 1 + d x^2 y^2 over GF(p), base point of prime order L.
_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, -1, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_Y_MASK = (1 << 255) - 1  # an encoding is y (255 bits, little-endian) with the sign of x in the top bit

# The y-coordinates of the eight small-order points: 1 (the identity, order 1), p - 1 (order 2), 0 (two points of
# order 4), and +-y8 (four points of order 8); then p and p + 1, the only values >= p that fit in 255 bits and reduce
# to one of them. With either sign bit that makes the fourteen encodings libsodium's ge25519_has_small_order lists.
_Y8 = 2707385501144840649318225287225658788936804267575313519463743609750303402022
_SMALL_ORDER_ENCODINGS = frozenset(
    (y | sign << 255).to_bytes(32, "little")
    for y in (0, 1, _P - 1, _Y8, _P - _Y8, _P, _P + 1)
    for sign in (0, 1)
)

_Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T): x = X/Z, y = Y/Z, x*y = T/Z
_IDENTITY: _Point = (0, 1, 1, 0)


def _add(p: _Point, q: _Point) -> _Point:
    # RFC 8032 section 5.1.4; the formula is complete on this curve, so it also doubles.
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % _P
    b = (y1 + x1) * (y2 + x2) % _P
    c = 2 * t1 * t2 * _D % _P
    d = 2 * z1 * z2 % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _multiply(n: int, point: _Point) -> _Point:
    result = _IDENTITY
    for bit in bin(n)[2:]:
        result = _add(result, result)
        if bit == "1":
            result = _add(result, point)
    return result


def _is_identity(point: _Point) -> bool:
    x, y, z, _ = point
    return x % _P == 0 and (y - z) % _P == 0


def _decode_point(raw: bytes) -> _Point:
    """RFC 8032 section 5.1.3 decoding, which refuses non-canonical encodings, unlike OpenSSL's."""
    value = int.from_bytes(raw, "little")
    y, sign = value & _Y_MASK, value >> 255
    if y >= _P:
        raise FormatError(f"Ed25519 public key {raw.hex()} is refused: a non-canonical encoding (y >= 2^255-19)")
    x2 = (y * y - 1) * pow(_D * y * y + 1, -1, _P) % _P
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        raise FormatError(f"Ed25519 public key {raw.hex()} is refused: not a point on the curve")
    if x == 0 and sign:
        raise FormatError(f"Ed25519 public key {raw.hex()} is refused: a non-canonical encoding (x = 0 with the "
                          "sign bit set)")
    if x & 1 != sign:
        x = _P - x
    return (x, y, 1, x * y % _P)


def _check_public_key(raw: bytes) -> None:
    """Raise FormatError unless ``raw`` is a key pot accepts: see the module docstring for why each check exists."""
    point = _decode_point(raw)
    for order in (1, 2, 4, 8):
        if _is_identity(_multiply(order, point)):
            raise FormatError(f"Ed25519 public key {raw.hex()} is refused: a point of small order ({order}), which "
                              "verifies forged signatures")
    if not _is_identity(_multiply(_L, point)):
        raise FormatError(f"Ed25519 public key {raw.hex()} is refused: it has a small-order component (not in the "
                          "prime-order subgroup), so no standard key generation made it")


def _signature_is_canonical(signature: bytes) -> bool:
    r, s = signature[:32], int.from_bytes(signature[32:], "little")
    return s < _L and int.from_bytes(r, "little") & _Y_MASK < _P and r not in _SMALL_ORDER_ENCODINGS


class PublicKey:
    """An Ed25519 public key that verifies pot signatures."""

    __slots__ = ("_key", "raw")

    def __init__(self, raw: bytes) -> None:
        if len(raw) != 32:
            raise FormatError("an Ed25519 public key is 32 bytes")
        _check_public_key(raw)
        self.raw = raw
        self._key = Ed25519PublicKey.from_public_bytes(raw)

    @property
    def hex(self) -> str:
        return self.raw.hex()

    @property
    def key_id(self) -> HexDigest:
        return sha256_hex(self.raw)

    def verify(self, domain: bytes, body: Mapping[str, Any], signature_hex: str) -> bool:
        """True when ``signature_hex`` is this key's signature over ``body`` of kind ``domain``.

        False for anything else, including signatures OpenSSL alone would accept (see the module docstring).
        """
        return self._verify_message(signing_input(domain, body), signature_hex)

    def verify_dsse(self, pae: bytes, signature: bytes) -> bool:
        """True when ``signature`` (64 raw bytes) is this key's signature over a DSSE pre-authentication encoding.

        The same strict rules as :meth:`verify`; the message must begin with ``DSSEv1`` (see
        :meth:`SigningKey.sign_dsse`).
        """
        if not pae.startswith(DSSE_PAE_PREFIX) or len(signature) != 64:
            return False
        return self._verify_message(pae, signature.hex())

    def _verify_message(self, message: bytes, signature_hex: str) -> bool:
        # Separate from verify() only so that known-answer tests can check RFC 8032's vectors, which sign raw bytes.
        if not isinstance(signature_hex, str) or not _SIGNATURE_HEX.fullmatch(signature_hex):
            return False
        signature = bytes.fromhex(signature_hex)
        if not _signature_is_canonical(signature):
            return False
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    @classmethod
    def from_text(cls, text: str) -> PublicKey:
        """Parse a public key given as hex, as ``ed25519:<hex>``, as a PEM block, or as a file holding either."""
        candidate = text.strip()
        if candidate.lower().startswith("ed25519:"):
            candidate = candidate[len("ed25519:"):]
        if len(candidate) == 64 and _HEX.fullmatch(candidate):
            return cls(bytes.fromhex(candidate))
        if candidate.startswith("-----BEGIN"):
            try:
                key = serialization.load_pem_public_key(candidate.encode())
            except ValueError as exc:
                raise FormatError(f"not a PEM public key: {exc}") from exc
            if not isinstance(key, Ed25519PublicKey):
                raise FormatError("the PEM public key is not an Ed25519 key")
            return cls(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
        path = Path(text)
        if len(text) < 4096 and names_a_file(text):
            try:
                content = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise FormatError(f"cannot read public key file {path}: {exc}") from exc
            if content.strip() == text.strip():
                raise FormatError(f"{path} does not hold a public key")
            return cls.from_text(content)
        raise FormatError("a public key must be 64 hex digits, a PEM public key, or a file holding one")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(self.raw)

    def __repr__(self) -> str:
        return f"PublicKey({self.hex})"


class SigningKey:
    """An Ed25519 private key. Its repr shows only the public half."""

    __slots__ = ("_key", "public")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public = PublicKey(key.public_key().public_bytes(serialization.Encoding.Raw,
                                                              serialization.PublicFormat.Raw))

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        """A key from its 32-byte RFC 8032 seed: for known-answer vectors and tests, never for real keys."""
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def key_id(self) -> HexDigest:
        return self.public.key_id

    def sign(self, domain: bytes, body: Mapping[str, Any]) -> str:
        return self._key.sign(signing_input(domain, body)).hex()

    def sign_dsse(self, pae: bytes) -> bytes:
        """Sign a DSSE pre-authentication encoding (pot.attest.dsse), returning the 64 raw signature bytes.

        The one kind of message this key signs that is not a pot object. It must begin with ``DSSEv1 ``, and every
        pot signing input begins with a ``pot.v1.`` domain tag, so no signature made here can stand for a pot
        signature or the other way round.
        """
        if not pae.startswith(DSSE_PAE_PREFIX):
            raise ValueError("only a DSSE pre-authentication encoding (DSSEv1 ...) is signed as raw bytes")
        return self._key.sign(pae)

    def save(self, path: Path, passphrase: str | None = None) -> None:
        """Write the key to a new file with mode 0600. Never overwrites an existing file.

        The file appears complete or not at all (written beside it, fsynced, then hard-linked into place), so a
        process killed while saving never leaves a cut-short key, and of several processes saving at once one
        wins and the others get "already exists".
        """
        encryption: serialization.KeySerializationEncryption
        if passphrase:
            encryption = serialization.BestAvailableEncryption(passphrase.encode())
        else:
            encryption = serialization.NoEncryption()
        pem = self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
        try:
            created = files.create_exclusive(Path(path), pem, 0o600)
        except OSError as exc:
            raise KeyringError(f"cannot create key file {path}: {exc.strerror}") from exc
        if not created:
            raise KeyringError(f"key file {path} already exists; refusing to overwrite it")

    @classmethod
    def load(cls, path: Path, passphrase: str | None = None) -> SigningKey:
        """Read a key file. Refuses files that other users can read, as ssh does."""
        try:
            mode = path.stat().st_mode
        except FileNotFoundError as exc:
            raise KeyringError(f"no signing key at {path}; run `pot init` to create one") from exc
        except OSError as exc:
            raise KeyringError(f"cannot read signing key {path}: {exc.strerror}") from exc
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyringError(f"signing key {path} is readable by other users (mode {stat.S_IMODE(mode):04o}); "
                               f"run: chmod 600 {path}")
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise KeyringError(f"cannot read signing key {path}: {exc.strerror}") from exc
        encrypted = b"ENCRYPTED" in pem.split(b"\n", 1)[0]
        if encrypted and not passphrase:
            raise KeyringError(f"signing key {path} is encrypted; set {PASSPHRASE_ENV} to its passphrase")
        try:
            key = serialization.load_pem_private_key(pem, password=passphrase.encode() if encrypted and
                                                     passphrase else None)
        except (ValueError, TypeError) as exc:
            if encrypted:
                raise KeyringError(f"wrong passphrase for signing key {path} (from {PASSPHRASE_ENV})") from None
            raise KeyringError(f"signing key {path} is not a PEM private key") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyringError(f"signing key {path} is not an Ed25519 key")
        return cls(key)

    def __repr__(self) -> str:
        return f"SigningKey(public={self.public.hex})"


def passphrase_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    value = (os.environ if environ is None else environ).get(PASSPHRASE_ENV)
    return value or None
