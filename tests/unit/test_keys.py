"""Ed25519 keys: the key file, passphrases, that no secret ever shows, and which keys and signatures count."""

from __future__ import annotations

import hashlib
import re
import stat
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from pot.errors import FormatError, KeyringError
from pot.log import keys
from pot.log.canonical import DOMAIN_PROOF, DOMAIN_TREE_HEAD, signing_input
from pot.log.keys import PublicKey, SigningKey


def test_key_file_is_created_with_mode_0600_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    SigningKey.generate().save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(KeyringError, match="already exists"):
        SigningKey.generate().save(path)


def test_key_id_is_sha256_of_raw_public_key(key: SigningKey) -> None:
    assert key.key_id == hashlib.sha256(key.public.raw).hexdigest()


def test_sign_and_verify_with_domain_separation(key: SigningKey) -> None:
    body = {"a": 1}
    signature = key.sign(DOMAIN_TREE_HEAD, body)
    assert key.public.verify(DOMAIN_TREE_HEAD, body, signature)
    assert not key.public.verify(DOMAIN_PROOF, body, signature)  # a head signature is not a proof signature
    assert not key.public.verify(DOMAIN_TREE_HEAD, {"a": 2}, signature)
    assert not SigningKey.generate().public.verify(DOMAIN_TREE_HEAD, body, signature)
    assert not key.public.verify(DOMAIN_TREE_HEAD, body, "zz")
    assert not key.public.verify(DOMAIN_TREE_HEAD, body, signature[:-2])


def test_passphrase_round_trip_and_wrong_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    key = SigningKey.generate()
    key.save(path, "correct horse")
    assert b"ENCRYPTED" in path.read_bytes()
    assert SigningKey.load(path, "correct horse").key_id == key.key_id
    with pytest.raises(KeyringError, match="wrong passphrase") as info:
        SigningKey.load(path, "battery staple")
    assert "battery" not in str(info.value)
    with pytest.raises(KeyringError, match="is encrypted; set POT_KEY_PASSPHRASE"):
        SigningKey.load(path, None)


def test_missing_unreadable_and_foreign_key_files(tmp_path: Path) -> None:
    with pytest.raises(KeyringError, match="no signing key at .*run `pot init`"):
        SigningKey.load(tmp_path / "none.pem")
    loose = tmp_path / "loose.pem"
    SigningKey.generate().save(loose)
    loose.chmod(0o644)
    with pytest.raises(KeyringError, match="readable by other users .*chmod 600"):
        SigningKey.load(loose)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    junk.chmod(0o600)
    with pytest.raises(KeyringError, match="not a PEM private key"):
        SigningKey.load(junk)


def test_no_secret_in_repr(key: SigningKey, tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    key.save(path)
    pem = path.read_text()
    secret_b64 = "".join(pem.splitlines()[1:-1])
    assert secret_b64 not in repr(key)
    assert key.public.hex in repr(key)


def test_public_key_parsing(key: SigningKey, tmp_path: Path) -> None:
    assert PublicKey.from_text(key.public.hex) == key.public
    assert PublicKey.from_text("ed25519:" + key.public.hex.upper()) == key.public
    file = tmp_path / "pub.txt"
    file.write_text(key.public.hex + "\n")
    assert PublicKey.from_text(str(file)) == key.public
    with pytest.raises(FormatError, match="must be 64 hex digits"):
        PublicKey.from_text("abc")


# ---- Which keys and signatures count (pot/log/keys.py module docstring) ------------------------------------------

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
IDENTITY = "01" + "00" * 31

# Every encoding of a point of small order: the eight points of the torsion subgroup, written canonically, and the six
# other 32-byte strings that lax decoders (OpenSSL's among them) read as one of them. y is little-endian in bits
# 0-254, the sign of x in bit 255. The eight y-values and the fourteen encodings are libsodium's
# ge25519_has_small_order list (y compared without the sign bit); the order-8 y-value is also the public key of
# vector 0 in "Taming the many EdDSAs" (Chalkias et al. 2020). Each is (hex, what it is, why pot refuses it).
SMALL_ORDER_KEYS = [
    (IDENTITY, "(0, 1), the identity, order 1", "small order"),
    ("ec" + "ff" * 30 + "7f", "(0, -1), y = p-1, order 2", "small order"),
    ("00" * 32, "(+sqrt(-1), 0), y = 0, order 4", "small order"),
    ("00" * 31 + "80", "(-sqrt(-1), 0), y = 0 with the sign bit, order 4", "small order"),
    ("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", "y = y8, x even, order 8", "small order"),
    ("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", "y = y8, x odd, order 8", "small order"),
    ("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", "y = p-y8, x even, order 8", "small order"),
    ("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", "y = p-y8, x odd, order 8", "small order"),
    ("01" + "00" * 30 + "80", "the identity with the sign bit set (x = 0 has no sign)", "x = 0 with the sign bit"),
    ("ec" + "ff" * 31, "(0, -1) with the sign bit set", "x = 0 with the sign bit"),
    ("ed" + "ff" * 30 + "7f", "y = p, read as y = 0 (order 4)", "y >= 2\\^255-19"),
    ("ed" + "ff" * 31, "y = p with the sign bit, read as y = 0 (order 4)", "y >= 2\\^255-19"),
    ("ee" + "ff" * 30 + "7f", "y = p+1, read as the identity", "y >= 2\\^255-19"),
    ("ee" + "ff" * 31, "y = p+1 with the sign bit, read as the identity", "y >= 2\\^255-19"),
]
CANONICAL_SMALL_ORDER = [hex_ for hex_, _, why in SMALL_ORDER_KEYS if why == "small order"]

# Made with RFC 8032 arithmetic for these tests: the conftest key (seed 00 01 .. 1f, public 03a107bf..) plus the
# order-8 point c7176a70..7a, and an ordinary RFC 8032 signature by that key's scalar and prefix over MIXED_MESSAGE,
# whose hash k happens to be a multiple of 8, so OpenSSL accepts it.
MIXED_ORDER_KEY = "b502ff3d92e31d8190b4aa4ea0414005167fad089c4de9dac8a2fc850fed4f58"
MIXED_MESSAGE = b"pot mixed-order key 2"
MIXED_SIGNATURE = ("4e7f1b15939070ac06ed64d28afd72455a1730f7e65f791570d3fe9f30e42128"
                   "235a5d35bbebe03ddde701d869d09e25e1810d5e9e08e200fd2c2e67c85b110e")

# RFC 8032 section 7.1, TEST 1 (the empty message).
RFC8032_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
RFC8032_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
RFC8032_SIGNATURE = ("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46b"
                     "d25bf5f0595bbe24655141438e7a100b")


def openssl_accepts(public_hex: str, signature: bytes, message: bytes) -> bool:
    """What the backend alone says: any 32 bytes load as a key, and verify runs the cofactorless equation."""
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex)).verify(signature, message)
    except InvalidSignature:
        return False
    return True


def pem_of(public_hex: str) -> str:
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex))
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def test_the_small_order_table_is_every_encoding_of_the_eight_points() -> None:
    # Five y-values carry the eight points; y and y + p (when it fits in 255 bits) name the same y, and the sign bit
    # doubles each; x = 0 (y = 1, p - 1) has no sign, so its sign-bit form is an alias rather than a second point.
    ys = [0, 1, P - 1, int.from_bytes(bytes.fromhex(CANONICAL_SMALL_ORDER[4]), "little") & (2**255 - 1)]
    ys.append(P - ys[3])
    expected = {(y | sign << 255).to_bytes(32, "little").hex() for y0 in ys for y in (y0, y0 + P) if y < 2**255
                for sign in (0, 1)}
    assert expected == {hex_ for hex_, _, _ in SMALL_ORDER_KEYS}
    assert len(SMALL_ORDER_KEYS) == 14 and len(CANONICAL_SMALL_ORDER) == 8


def test_identity_key_forges_any_message_with_openssl_and_pot_refuses_it(key: SigningKey) -> None:
    forged = bytes.fromhex(IDENTITY) + bytes(32)  # R = identity, S = 0
    for message in (b"", b"I never signed this", signing_input(DOMAIN_PROOF, {"model_id": "m"})):
        assert openssl_accepts(IDENTITY, forged, message)
    with pytest.raises(FormatError, match=r"^Ed25519 public key 0100+ is refused: a point of small order \(1\)"):
        PublicKey(bytes.fromhex(IDENTITY))
    with pytest.raises(FormatError, match="small order"):
        PublicKey.from_text(IDENTITY)


@pytest.mark.parametrize(("public_hex", "what", "why"), SMALL_ORDER_KEYS, ids=[w for _, w, _ in SMALL_ORDER_KEYS])
def test_every_small_order_key_encoding_is_refused(public_hex: str, what: str, why: str, tmp_path: Path) -> None:
    # The threat is real for each: OpenSSL loads the key and accepts S = 0 with some small-order R for most messages.
    forgeries = [i for i in range(16) for r in CANONICAL_SMALL_ORDER
                 if openssl_accepts(public_hex, bytes.fromhex(r) + bytes(32), b"message %d" % i)]
    assert forgeries, f"{what}: expected OpenSSL to accept a forgery"
    for parse in (lambda: PublicKey(bytes.fromhex(public_hex)),
                  lambda: PublicKey.from_text(public_hex),
                  lambda: PublicKey.from_text("ed25519:" + public_hex),
                  lambda: PublicKey.from_text(pem_of(public_hex))):
        with pytest.raises(FormatError, match=why) as info:
            parse()
        assert "\n" not in str(info.value)
    file = tmp_path / "pub.pem"
    file.write_text(pem_of(public_hex))
    with pytest.raises(FormatError, match=why):
        PublicKey.from_text(str(file))


@pytest.mark.parametrize(("public_hex", "why"), [
    # y = p + 3 is on the curve (it reads as y = 3): OpenSSL loads it, and it would be a second key id for one point.
    ((P + 3).to_bytes(32, "little").hex(), "non-canonical encoding \\(y >= 2\\^255-19\\)"),
    ((2**255 - 1).to_bytes(32, "little").hex(), "non-canonical encoding \\(y >= 2\\^255-19\\)"),
    ((2).to_bytes(32, "little").hex(), "not a point on the curve"),  # (y^2 - 1) / (d y^2 + 1) is no square for y = 2
    (MIXED_ORDER_KEY, "small-order component"),
])
def test_non_canonical_off_curve_and_mixed_order_keys_are_refused(public_hex: str, why: str) -> None:
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex))  # the backend takes every one of them
    with pytest.raises(FormatError, match=why):
        PublicKey(bytes.fromhex(public_hex))
    with pytest.raises(FormatError, match=why):
        PublicKey.from_text(pem_of(public_hex))


def test_a_mixed_order_key_is_refused_although_openssl_verifies_a_signature_under_it() -> None:
    assert openssl_accepts(MIXED_ORDER_KEY, bytes.fromhex(MIXED_SIGNATURE), MIXED_MESSAGE)
    with pytest.raises(FormatError, match="not in the prime-order subgroup"):
        PublicKey.from_text(MIXED_ORDER_KEY)


def test_keys_from_key_files_and_seeds_pass_the_checks(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    made = SigningKey.generate()
    made.save(path)
    assert SigningKey.load(path).public == made.public
    assert SigningKey.from_seed(bytes.fromhex(RFC8032_SEED)).public.hex == RFC8032_PUBLIC


def test_rfc8032_test_1_still_verifies() -> None:
    public = PublicKey.from_text(RFC8032_PUBLIC)
    signature = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(RFC8032_SEED)).sign(b"")
    assert signature.hex() == RFC8032_SIGNATURE
    assert public._verify_message(b"", RFC8032_SIGNATURE)
    assert not public._verify_message(b"\x00", RFC8032_SIGNATURE)


def test_ordinary_signatures_still_verify(key: SigningKey) -> None:
    for n in range(20):
        body = {"n": n, "model_id": "m"}
        signature = key.sign(DOMAIN_TREE_HEAD, body)
        assert re.fullmatch(r"[0-9a-f]{128}", signature)
        assert key.public.verify(DOMAIN_TREE_HEAD, body, signature)
        assert PublicKey.from_text(key.public.hex).verify(DOMAIN_TREE_HEAD, body, signature)


def test_s_plus_multiples_of_l_are_refused(key: SigningKey) -> None:
    body = {"a": 1}
    signature = bytes.fromhex(key.sign(DOMAIN_TREE_HEAD, body))
    s = int.from_bytes(signature[32:], "little")
    malleated = [signature[:32] + (s + n * L).to_bytes(32, "little") for n in range(1, 16) if s + n * L < 2**256]
    assert len(malleated) >= 14
    for forged in malleated:
        # The backend refuses these by itself today (RFC 8032 section 5.1.7); pot refuses them whatever it does.
        assert not openssl_accepts(key.public.hex, forged, signing_input(DOMAIN_TREE_HEAD, body))
        assert not key.public.verify(DOMAIN_TREE_HEAD, body, forged.hex())


def test_a_nonce_zero_signature_is_refused_although_openssl_accepts_it(key: SigningKey) -> None:
    # R = identity and S = k * a mod L verify under the cofactorless equation, and publish the private scalar a:
    # anyone holding this signature can sign as the key.
    digest = hashlib.sha512(bytes(range(32))).digest()
    scalar = (int.from_bytes(digest[:32], "little") & ((1 << 254) - 8)) | (1 << 254)
    body = {"a": 1}
    message = signing_input(DOMAIN_TREE_HEAD, body)
    r = bytes.fromhex(IDENTITY)
    k = int.from_bytes(hashlib.sha512(r + key.public.raw + message).digest(), "little") % L
    signature = r + (k * scalar % L).to_bytes(32, "little")
    assert openssl_accepts(key.public.hex, signature, message)
    assert int.from_bytes(signature[32:], "little") * pow(k, -1, L) % L == scalar % L
    assert not key.public.verify(DOMAIN_TREE_HEAD, body, signature.hex())


def test_verify_refuses_exactly_the_fourteen_small_order_encodings_as_r() -> None:
    # Under a key pot accepts, OpenSSL can only ever accept the identity among them (see the nonce-0 test), so the
    # rest of the list cannot be checked through verify and is checked as data.
    assert {bytes.fromhex(hex_) for hex_, _, _ in SMALL_ORDER_KEYS} == keys._SMALL_ORDER_ENCODINGS


@pytest.mark.parametrize("r_hex", [hex_ for hex_, _, _ in SMALL_ORDER_KEYS]
                         + [(P + 3).to_bytes(32, "little").hex(), (2**255 - 1).to_bytes(32, "little").hex()])
def test_small_order_and_non_canonical_r_are_refused(key: SigningKey, r_hex: str) -> None:
    body = {"a": 1}
    s = key.sign(DOMAIN_TREE_HEAD, body)[64:]
    for s_hex in (s, "00" * 32):
        assert not key.public.verify(DOMAIN_TREE_HEAD, body, r_hex + s_hex)


def test_signature_hex_must_be_exactly_128_lower_case_digits(key: SigningKey) -> None:
    body = {"a": 1}
    signature = key.sign(DOMAIN_TREE_HEAD, body)
    assert key.public.verify(DOMAIN_TREE_HEAD, body, signature)
    spaced = " ".join(signature[i:i + 2] for i in range(0, 128, 2))
    # Each decodes with bytes.fromhex to the very signature bytes, yet none is the format's 128 lower-case digits.
    for variant in (signature.upper(), signature[:64] + signature[64:].upper(), " " + signature, signature + "\n",
                    signature + " ", "\t" + signature, spaced):
        assert bytes.fromhex(variant) == bytes.fromhex(signature)
        assert not key.public.verify(DOMAIN_TREE_HEAD, body, variant), repr(variant)
    for variant in (signature + "00", signature[:-1], signature[:-1] + "\u0660", "ed25519:" + signature):
        assert not key.public.verify(DOMAIN_TREE_HEAD, body, variant), repr(variant)
    assert not key.public.verify(DOMAIN_TREE_HEAD, body, bytes.fromhex(signature))  # type: ignore[arg-type]
    assert not key.public.verify(DOMAIN_TREE_HEAD, body, None)  # type: ignore[arg-type]
