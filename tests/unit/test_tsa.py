"""RFC 3161 time anchors against a real TSA: OpenSSL's ``ts -reply`` behind a local HTTP server, with a test CA.

Done when a proof anchored by a local TSA shows the TSA time in its report; the token is checked only against a
certificate the verifier pins, and every field of a ``tsa`` receipt is bound (tamper tests below).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pot import verify_proof
from pot._internal import render
from pot.anchors.base import AnchorReceipt
from pot.anchors.tsa import verify_token
from pot.anchors.tsa_receipt import imprint, statement
from pot.cli import main
from pot.config import ProvenanceConfig
from pot.errors import AnchorReceiptError, TsaTokenError, VerificationError
from pot.log.keys import SigningKey
from pot.log.proof import ProvenanceProof, build_proof
from pot.log.records import format_timestamp
from pot.recorder import ProvenanceRecorder
from tests.support.forge import SEED, forge, records
from tests.support.tsa import Authority, LocalTsa, make_authority, receipt_maker, stamp

KEY = SigningKey.from_seed(SEED)

if shutil.which("openssl") is None:  # the TSA is OpenSSL's: without it there is nothing real to test against
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("CI=true and no openssl command for the test TSA", pytrace=False)
    pytest.skip("no openssl command for the test TSA", allow_module_level=True)


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return make_authority(tmp_path_factory.mktemp("tsa"))


@pytest.fixture(scope="module")
def other_authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return make_authority(tmp_path_factory.mktemp("other-tsa"), "another TSA")


@pytest.fixture
def tsa(authority: Authority) -> Iterator[LocalTsa]:
    with LocalTsa(authority) as server:
        yield server


def _now() -> datetime:
    return datetime.now(UTC)


def _cli(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _forged(authority: Authority, *, later: timedelta = timedelta(0)) -> ProvenanceProof:
    """Two heads over four records dated a minute ago (plus ``later``), a real token of ``authority`` on the second
    head; signed by the vector key."""
    base = _now() - timedelta(minutes=1) + later
    stamps = [format_timestamp(base + timedelta(seconds=i)) for i in range(5)]
    made = records([{"type": "checkpoint", "model_id": "m", "timestamp": stamps[i], "model_hash": f"{i:064x}",
                     "epoch": i, "metrics": {"loss": 1.0 / (i + 1)}, "fingerprint_hash": None,
                     "validation_hash": None} for i in range(4)])
    latest = max(_now(), base + timedelta(seconds=5))
    return forge(made, heads=[(2, stamps[1]), (4, stamps[4])],
                 receipts=[(1, receipt_maker(authority), format_timestamp(latest))], now=latest + timedelta(seconds=1))


def _with_receipt(proof: ProvenanceProof, change: Any, *, resign: bool = True) -> ProvenanceProof:
    """``proof`` with its ``tsa`` receipt's body changed by ``change``; re-signed by the signer (so that only the
    rule under test can refuse it) unless ``resign`` is False; the proof document re-signed either way."""
    receipts = []
    for receipt in proof.anchors:
        if receipt.backend == "tsa":
            body = json.loads(json.dumps(receipt.body()))
            change(body)
            signature = KEY.sign(b"pot.v1.anchor-receipt", body) if resign else receipt.signature
            receipt = AnchorReceipt(**body, signature=signature)
        receipts.append(receipt)
    return _rebuild(proof, receipts)


def _rebuild(proof: ProvenanceProof, receipts: list[AnchorReceipt]) -> ProvenanceProof:
    made = [d.record for d in proof.disclosed]
    latest = max([proof.proof_timestamp, *(r.timestamp for r in receipts)])
    return build_proof(model_id=proof.model_id, record_bodies=[r.body() for r in made],
                       leaves=[bytes.fromhex(r.record_id) for r in made], heads=[e.signed for e in proof.tree_heads],
                       receipts=receipts, key=KEY, now=datetime.fromisoformat(latest[:-1]).replace(tzinfo=UTC))


# --- the done-when: a proof anchored by a local TSA shows the TSA time --------------------------------------------


def test_a_proof_anchored_by_a_local_tsa_shows_the_tsa_time(tmp_path: Path, tsa: LocalTsa, authority: Authority,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "store")
    assert _cli("init", "--store", store, "--tsa", tsa.url, "--tsa-cert", str(authority.ca_cert),
                capsys=capsys)[0] == 0
    for epoch in range(2):
        code, _, err = _cli("checkpoint", "--store", store, "--model-id", "m", "--model-hash", f"h{epoch}",
                            "--epoch", str(epoch), "--metrics", '{"loss": 0.5}', capsys=capsys)
        assert code == 0, err
    proof_file = str(tmp_path / "p.json")
    assert _cli("proof", "--store", store, "--model-id", "m", "--output", proof_file, capsys=capsys)[0] == 0
    assert tsa.requests >= 1
    proof = ProvenanceProof.load(proof_file)
    # the newest head's token: each head signed may have its own, and two can fall in different seconds
    newest = proof.tree_heads[-1].signed.head.head_hash
    receipt = next(r for r in proof.anchors if r.backend == "tsa" and r.head_hash == newest)

    code, out, _ = _cli("verify", proof_file, "--tsa-cert", str(authority.ca_cert), capsys=capsys)
    assert code == 0, out
    assert "ok   tsa" in out and "signed by CN=pot test TSA" in out
    assert "by a TSA token checked against a pinned certificate" in out
    assert "CN=pot test TSA, certified by pinned CN=pot test TSA root" in out
    gen = datetime.fromisoformat(receipt.details["gen_time"][:-1])
    proven = format_timestamp((gen + timedelta(seconds=1)).replace(tzinfo=UTC))  # the test TSA's accuracy: 1 s
    assert f"existed by {proven}" in out
    assert out.rstrip().endswith("VERIFIED")

    code, out, _ = _cli("verify", proof_file, "--tsa-cert", str(authority.ca_cert), "--json", capsys=capsys)
    heads = json.loads(out)["heads"]
    assert heads[-1]["strength"] == "tsa" and heads[-1]["dated_by"] == "tsa"
    assert heads[-1]["tsa_time"] == proven and heads[-1]["claimed_tsa_time"] == receipt.details["gen_time"]
    assert "CN=pot test TSA" in heads[-1]["tsa_detail"]


def test_without_a_pinned_certificate_the_tsa_time_is_the_signers_word(tmp_path: Path, tsa: LocalTsa,
                                                                       authority: Authority) -> None:
    config = ProvenanceConfig(enabled=True, store_dir=str(tmp_path / "s"), tsa_url=tsa.url,
                              tsa_cert=str(authority.ca_cert))
    recorder = ProvenanceRecorder(config)
    recorder.record_training_checkpoint(model_hash="h", metrics={"loss": 1.0}, epoch=0, model_id="m")
    proof = recorder.generate_proof_of_training("m")
    recorder.close()
    assert proof is not None and [r.backend for r in proof.anchors] == ["localchain", "tsa"]
    report = verify_proof(proof)
    assert [(h.strength, h.dated_by, h.tsa_time) for h in report.heads] == [("tsa-unchecked", "signer", None)]
    assert report.heads[0].tsa_claimed_time == proof.anchors[1].details["gen_time"]
    assert any("NOT checked against a TSA certificate" in n and "--tsa-cert" in n for n in report.notes)
    text = render.report("p", report)
    assert "NOT checked against a pinned TSA certificate" in text and "existed by" not in text
    checked = verify_proof(proof, tsa_certs=[authority.ca_cert])
    assert [h.strength for h in checked.heads] == ["tsa"]


def test_a_later_heads_token_dates_the_heads_before_it(authority: Authority) -> None:
    proof = _forged(authority)
    report = verify_proof(proof, trusted_key=KEY.public, tsa_certs=[authority.ca_cert])
    assert [h.strength for h in report.heads] == ["tsa", "tsa"]
    assert report.heads[0].tsa_time == report.heads[1].tsa_time
    assert (report.heads[0].tsa_detail or "").startswith("covered by a later head: ")
    offline = verify_proof(proof, trusted_key=KEY.public)
    assert [h.strength for h in offline.heads] == ["tsa-unchecked", "tsa-unchecked"]
    assert [h.tsa_covered_by for h in offline.heads] == [4, 4]


# --- the token is checked only against what the verifier pins ------------------------------------------------------


def test_a_token_from_another_tsa_fails_against_the_pinned_certificate(authority: Authority,
                                                                      other_authority: Authority) -> None:
    proof = _forged(other_authority)
    with pytest.raises(TsaTokenError, match="does not verify against the pinned TSA certificate"):
        verify_proof(proof, tsa_certs=[authority.ca_cert])
    # the same token checks out for a verifier who trusts that other TSA: what is pinned decides
    report = verify_proof(proof, tsa_certs=[authority.ca_cert, other_authority.ca_cert])
    assert "CN=another TSA" in (report.heads[1].tsa_detail or "")


def test_a_token_of_an_expired_tsa_certificate_fails(tmp_path: Path) -> None:
    expired = make_authority(tmp_path / "expired", "expired TSA", days=-1)
    with pytest.raises(TsaTokenError, match="does not verify against the pinned"):
        verify_proof(_forged(expired), tsa_certs=[expired.ca_cert])


def test_pinning_the_tsa_certificate_itself_is_not_a_trust_anchor(authority: Authority) -> None:
    # The pinned certificate must be the root its chain ends in; the leaf alone does not verify a chain.
    with pytest.raises(TsaTokenError):
        verify_proof(_forged(authority), tsa_certs=[authority.tsa_cert])


def test_the_sha1_ess_attribute_of_signing_certificate_v1_is_accepted(tmp_path: Path) -> None:
    v1 = make_authority(tmp_path / "v1", "v1 TSA", ess="sha1")
    assert [h.strength for h in verify_proof(_forged(v1), tsa_certs=[v1.ca_cert]).heads] == ["tsa", "tsa"]


# --- tampering: every field of the receipt is bound --------------------------------------------------------------


def _flip(offset_from_end: int) -> Any:
    def change(body: dict[str, Any]) -> None:
        raw = bytearray(base64.b64decode(body["details"]["token"]))
        raw[-offset_from_end] ^= 0x01
        body["details"]["token"] = base64.b64encode(bytes(raw)).decode("ascii")
    return change


@pytest.mark.parametrize("offset", [5, 40, 200], ids=["signature", "near-signature", "certificate"])
def test_changed_token_bytes_fail(authority: Authority, offset: int) -> None:
    proof = _forged(authority)
    with pytest.raises(AnchorReceiptError, match="signature does not verify"):  # not re-signed: the receipt breaks
        verify_proof(_with_receipt(proof, _flip(offset), resign=False))
    resigned = _with_receipt(proof, _flip(offset))  # the signer re-signs: the TSA's signature still breaks
    assert verify_proof(resigned).ok  # offline the token is not opened: the signer's word, said so per head
    with pytest.raises(TsaTokenError):
        verify_proof(resigned, tsa_certs=[authority.ca_cert])


def test_a_token_over_another_head_fails(authority: Authority) -> None:
    proof = _forged(authority)
    other_head = proof.tree_heads[0].head
    moved = stamp(authority, other_head)  # a real token, but over head 1's statement, put on head 2's receipt
    with pytest.raises(TsaTokenError, match="stamps another message than this head's statement"):
        verify_proof(_with_receipt(proof, lambda body: body["details"].update(moved)),
                     tsa_certs=[authority.ca_cert])


def test_a_receipt_moved_to_another_head_fails(authority: Authority) -> None:
    proof = _forged(authority)
    first = proof.tree_heads[0].head
    moved = _with_receipt(proof, lambda body: body.update(head_hash=first.head_hash, root_hash=first.root_hash))
    assert verify_proof(moved).ok  # offline, the signer's word: a token is not opened without a pinned certificate
    with pytest.raises(TsaTokenError, match="stamps another message"):
        verify_proof(moved, tsa_certs=[authority.ca_cert])


def test_a_changed_gen_time_fails(authority: Authority) -> None:
    proof = _forged(authority)

    def earlier(body: dict[str, Any]) -> None:  # a second earlier: every offline rule still holds
        gen = datetime.fromisoformat(body["details"]["gen_time"][:-1]).replace(tzinfo=UTC)
        body["details"]["gen_time"] = format_timestamp(gen - timedelta(seconds=1))

    with pytest.raises(AnchorReceiptError, match="signature does not verify"):
        verify_proof(_with_receipt(proof, earlier, resign=False))
    with pytest.raises(TsaTokenError, match="is not the token's genTime"):
        verify_proof(_with_receipt(proof, earlier), tsa_certs=[authority.ca_cert])


@pytest.mark.parametrize(("name", "change", "message"), [
    ("extra field", lambda b: b["details"].update(url="http://x"), "details fields are wrong"),
    ("no gen_time", lambda b: b["details"].pop("gen_time"), "details fields are wrong"),
    ("token not base64", lambda b: b["details"].update(token="not base64!"), "standard base64"),
    ("token with a stray pad", lambda b: b["details"].update(token=b["details"]["token"] + "="), "base64"),
    ("token unpadded", lambda b: b["details"].update(token="QQ"), "base64"),
    ("token empty", lambda b: b["details"].update(token=""), "base64"),
    ("token a number", lambda b: b["details"].update(token=7), "base64"),
    ("gen_time no timestamp", lambda b: b["details"].update(gen_time="2026-11-30 12:00:00"), "gen_time"),
    ("gen_time after the receipt", lambda b: b["details"].update(gen_time=format_timestamp(
        datetime.fromisoformat(b["timestamp"][:-1]).replace(tzinfo=UTC) + timedelta(seconds=16))),
     "is after the receipt was obtained"),
    ("root", lambda b: b.update(root_hash="0" * 64), "root does not match"),
])
def test_malformed_or_moved_receipts_fail_offline(authority: Authority, name: str, change: Any, message: str) -> None:
    with pytest.raises(AnchorReceiptError, match=message):
        verify_proof(_with_receipt(_forged(authority), change))


def test_a_token_with_non_canonical_base64_padding_bits_fails(authority: Authority) -> None:
    def loose(body: dict[str, Any]) -> None:
        token = body["details"]["token"]
        if token.endswith("=="):
            alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
            body["details"]["token"] = token[:-3] + alphabet[alphabet.index(token[-3]) | 1] + "=="
        else:  # one '=': 2 padding bits
            alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
            body["details"]["token"] = token[:-2] + alphabet[alphabet.index(token[-2]) | 1] + "="
    with pytest.raises(AnchorReceiptError, match="canonical base64"):
        verify_proof(_with_receipt(_forged(authority), loose))


def test_records_dated_after_the_token_fail_offline(authority: Authority) -> None:
    # The signer's records say they were made an hour after the TSA stamped the head that covers them.
    proof = _forged(authority, later=timedelta(hours=1))
    now = _now() + timedelta(hours=1, minutes=1)
    with pytest.raises(AnchorReceiptError, match=r"after the TSA token time .* \(allowing 15 s\)"):
        verify_proof(proof, now=now)


# --- recording with the TSA down, then pot anchor ---------------------------------------------------------------


def test_tsa_down_recording_goes_on_and_pot_anchor_stamps_later(tmp_path: Path, authority: Authority,
                                                               capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    down = LocalTsa(authority)
    url = down.url
    down.stop()  # nobody listens at that address now
    store = tmp_path / "store"
    recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True, store_dir=str(store), tsa_url=url,
                                                   tsa_cert=str(authority.ca_cert), anchor_timeout=5))
    for epoch in range(3):
        recorder.record_training_checkpoint(model_hash=f"h{epoch}", metrics={"loss": 1.0}, epoch=epoch, model_id="m")
        recorder.flush()
    recorder.wait_for_anchors(5)
    assert recorder.store.size("m") == 3
    assert recorder.store.pending_heads("tsa", "m")
    recorder.close()

    with LocalTsa(authority) as up:
        monkeypatch.setenv("POT_TSA_URL", up.url)
        monkeypatch.setenv("POT_TSA_CERT", str(authority.ca_cert))
        code, out, err = _cli("anchor", "--pending", "--store", str(store), "--json", capsys=capsys)
        assert code == 0, err
        assert json.loads(out) == {"anchored": 1, "pending": 0, "transactions": [], "tsa_tokens": 1}
        proof_file = str(tmp_path / "p.json")
        assert _cli("proof", "--store", str(store), "--model-id", "m", "--output", proof_file, capsys=capsys)[0] == 0
    report = verify_proof(ProvenanceProof.load(proof_file), tsa_certs=[authority.ca_cert])
    assert {h.strength for h in report.heads} == {"tsa"}  # the newest head's token covers the earlier heads


# --- bad input: one line, a documented exit code ------------------------------------------------------------------


def test_verify_with_an_unreadable_certificate_is_bad_input(tmp_path: Path, authority: Authority,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    proof_file = tmp_path / "p.json"
    proof_file.write_text(_forged(authority).dumps())
    code, _, err = _cli("verify", str(proof_file), "--tsa-cert", str(tmp_path / "missing.pem"), capsys=capsys)
    assert code == 2 and "cannot read the TSA certificate" in err and "Traceback" not in err
    not_pem = tmp_path / "x.pem"
    not_pem.write_text("hello")
    code, _out, err = _cli("verify", str(proof_file), "--tsa-cert", str(not_pem), capsys=capsys)
    assert code == 2 and "holds no PEM certificate" in err


def test_init_needs_url_and_certificate_together(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli("init", "--store", str(tmp_path / "s"), "--tsa", "http://127.0.0.1:1/tsa", capsys=capsys)
    assert code == 2 and "go together" in err
    code, _, err = _cli("init", "--store", str(tmp_path / "s"), "--tsa", "ftp://x/tsa", "--tsa-cert",
                        str(tmp_path / "none.pem"), capsys=capsys)
    assert code == 2 and "POT_TSA_URL must be an http" in err


# --- the statement and the token parser ---------------------------------------------------------------------------


def test_the_stamped_statement_is_domain_separated_jcs_of_the_head(authority: Authority) -> None:
    head = _forged(authority).tree_heads[1].head
    expected = (b"pot.v1.tsa-statement\x00" + json.dumps(
        {"head_hash": head.head_hash, "model_id": head.model_id, "root_hash": head.root_hash,
         "tree_size": head.tree_size}, separators=(",", ":"), sort_keys=True).encode())
    assert statement(head) == expected
    details = stamp(authority, head)
    from pot.anchors.tsa import load_certificates
    checked = verify_token(base64.b64decode(details["token"]), head, load_certificates(authority.ca_cert))
    assert checked.gen_time == details["gen_time"] and checked.accuracy_us == 1_000_000
    assert checked.tsa_subject == "CN=pot test TSA" and checked.pinned_subject == "CN=pot test TSA root"
    assert imprint(head) == __import__("hashlib").sha256(expected).digest()


@pytest.mark.parametrize(("raw", "expected"), [
    (b"20261130120000Z", "2026-11-30T12:00:00.000000Z"),
    (b"20261130120000.5Z", "2026-11-30T12:00:00.500000Z"),
    (b"20261130120000.1234561Z", "2026-11-30T12:00:00.123457Z"),  # rounded up: never earlier than the TSA wrote
    (b"20261130235959.9999999Z", "2026-12-01T00:00:00.000000Z"),
])
def test_gen_time_is_read_exactly_and_rounded_up(raw: bytes, expected: str) -> None:
    from pot.anchors.tsa import _generalized_time
    assert _generalized_time(raw) == expected


@pytest.mark.parametrize("raw", [b"20261130120000", b"20261130120000.50Z", b"20261130120000.Z", b"20261131120000Z",
                                 b"2026113012000Z", b"20261130120000+0100"])
def test_gen_time_that_is_no_der_generalized_time_is_refused(raw: bytes) -> None:
    from pot.anchors.tsa import _generalized_time
    with pytest.raises(VerificationError):
        _generalized_time(raw)


def test_verify_and_show_json_with_tsa_heads_follow_their_schemas(tmp_path: Path, authority: Authority,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from tests.unit.test_json_schemas import check, refused

    proof_file = tmp_path / "p.json"
    proof_file.write_text(_forged(authority).dumps())
    for pinned in ([], ["--tsa-cert", str(authority.ca_cert)]):
        code, out, _ = _cli("verify", str(proof_file), "--json", *pinned, capsys=capsys)
        assert code == 0
        report = json.loads(out)
        check("verify.schema.json", report)
        code, out, _ = _cli("show", str(proof_file), "--json", *pinned, capsys=capsys)
        assert code == 0
        check("show.schema.json", json.loads(out))
    assert {h["strength"] for h in report["heads"]} == {"tsa"}
    undated = json.loads(json.dumps(report))
    undated["heads"][0]["tsa_time"] = None  # a TSA-dated head without the time the token proves
    refused("verify.schema.json", undated)
    code, out, _ = _cli("show", str(proof_file), capsys=capsys)
    assert "TSA token time" in out and "signer's word until `pot show --tsa-cert PEM`" in out
