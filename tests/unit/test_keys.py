"""Ed25519 keys: the key file, passphrases, and that no secret ever shows."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest

from pot.errors import FormatError, KeyringError
from pot.log.canonical import DOMAIN_PROOF, DOMAIN_TREE_HEAD
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
