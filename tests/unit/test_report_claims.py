"""The report claims only what the verifier checked: offline, a chain receipt is the signer's word.

A signer holds the key that signs receipts, so a signer can invent an Ethereum transaction with any block time.
Offline the verifier can only check that the receipt is consistent with the rest of the proof; it must not call
such a head dated by a chain (text or JSON), and must say how to check it. What it can check offline (a record
dated after the block time its own receipt claims), it does.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pot import verify_proof
from pot._internal import render
from pot.cli import main
from pot.errors import AnchorReceiptError, TimestampError, UsageError
from pot.log.keys import SigningKey
from pot.log.records import TrainingCheckpoint
from tests.support.forge import SEED, ethereum, forge, records, ts, unix

KEY = SigningKey.from_seed(SEED)


def checkpoints(n: int, start: int = 0) -> list[TrainingCheckpoint]:
    made = records([{"type": "checkpoint", "model_id": "m", "timestamp": ts(start + i), "model_hash": f"{i:064x}",
                     "epoch": i, "metrics": {"loss": 1.0 / (i + 1)}, "fingerprint_hash": None,
                     "validation_hash": None} for i in range(n)])
    return made  # type: ignore[return-value]


def invented_chain_proof(block_offset: int = 5) -> object:
    made = checkpoints(4)
    block_time = unix(made[-1].timestamp) + block_offset
    return forge(made, heads=[(2, ts(10)), (4, ts(20))], receipts=[(1, ethereum(block_time), ts(40))])


def test_offline_an_invented_chain_receipt_is_the_signers_word_not_a_chain_date() -> None:
    report = verify_proof(invented_chain_proof(), trusted_key=KEY.public)  # type: ignore[arg-type]
    assert report.ok
    assert [h.strength for h in report.heads] == ["chain-unchecked", "chain-unchecked"]
    assert [h.dated_by for h in report.heads] == ["signer", "signer"]
    assert all(h.chain_time is None for h in report.heads)
    assert report.heads[0].claimed_time is not None  # the receipt's claim is shown as a claim
    heads = report.to_json()["heads"]
    assert {h["strength"] for h in heads} == {"chain-unchecked"} and {h["dated_by"] for h in heads} == {"signer"}
    assert all(h["chain_time"] is None for h in heads)
    assert any("NOT checked against a chain" in n and "--rpc" in n for n in report.notes)
    text = render.report("p.json", report)
    assert "NOT checked against a chain" in text and "the signer's word" in text
    assert "existed by" not in text and "anchored on a chain" not in text


def test_offline_a_record_after_the_block_its_own_receipt_claims_fails() -> None:
    # The receipt says the block was mined a minute before the records it covers were made.
    proof = invented_chain_proof(block_offset=-60)
    with pytest.raises(AnchorReceiptError, match=r"after the block time .* \(allowing 15 s\)"):
        verify_proof(proof, trusted_key=KEY.public)  # type: ignore[arg-type]


def test_the_allowance_is_fifteen_whole_seconds() -> None:
    made = checkpoints(2)
    last = unix(made[-1].timestamp)
    for offset, ok in ((-15, True), (-16, False)):
        proof = forge(made, receipts=[(0, ethereum(last + offset), ts(40))])
        if ok:
            verify_proof(proof, trusted_key=KEY.public)
        else:
            with pytest.raises(AnchorReceiptError):
                verify_proof(proof, trusted_key=KEY.public)


def test_a_block_after_the_receipt_was_obtained_fails() -> None:
    made = checkpoints(2)
    proof = forge(made, receipts=[(0, ethereum(unix(ts(40)) + 60), ts(40))])
    with pytest.raises(AnchorReceiptError, match="after the receipt was obtained"):
        verify_proof(proof, trusted_key=KEY.public)


def test_dates_more_than_a_day_past_the_verifiers_clock_fail() -> None:
    proof = forge(checkpoints(2))
    verify_proof(proof, trusted_key=KEY.public, now=datetime(2026, 11, 21, 12, 31, tzinfo=UTC))
    with pytest.raises(TimestampError, match="more than a day after this verifier's clock"):
        verify_proof(proof, trusted_key=KEY.public, now=datetime(2026, 11, 21, 12, 29, tzinfo=UTC))


def test_the_report_names_the_signer_by_public_key_and_key_id(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.json"
    forge(checkpoints(2)).save(path)
    assert main(["verify", "--proof", str(path), "--trusted-key", KEY.public.hex]) == 0
    out = capsys.readouterr().out
    assert KEY.public.hex in out and KEY.key_id[:16] in out  # what was pinned, and what the heads name
    assert main(["verify", "--proof", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["signer_public_key"] == KEY.public.hex and data["signer_key_id"] == KEY.key_id


def test_the_cli_report_of_an_invented_chain_receipt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.json"
    invented_chain_proof().save(path)  # type: ignore[attr-defined]
    assert main(["verify", "--proof", str(path), "--trusted-key", KEY.public.hex]) == 0
    out = capsys.readouterr().out
    assert "NOT checked against a chain" in out and "pot verify --rpc URL" in out
    assert main(["verify", "--proof", str(path), "--json"]) == 0
    heads = json.loads(capsys.readouterr().out)["heads"]
    assert [h["dated_by"] for h in heads] == ["signer", "signer"]


def test_trusted_key_may_be_given_as_text_and_garbage_is_a_usage_error() -> None:
    proof = forge(checkpoints(2))
    assert verify_proof(proof, trusted_key=KEY.public.hex).signer_pinned
    with pytest.raises(UsageError, match="trusted_key"):
        verify_proof(proof, trusted_key="not a key")
    with pytest.raises(UsageError, match="trusted_key must be a PublicKey"):
        verify_proof(proof, trusted_key=b"\x00" * 32)  # type: ignore[arg-type]


def test_a_covered_head_is_dated_by_the_nearest_of_equally_timed_anchors() -> None:
    """Blocks seconds apart often share a block time; a head with no anchor of its own is then shown with the
    nearest later head's anchor (the first that covers it), not the last one's."""
    from pot.log.verify import HeadStatus, VerificationReport, _propagate_chain_time

    t = "2026-11-30T19:42:51.000000Z"
    heads = [HeadStatus(5, "a" * 64, t, chain_time=t, chain_detail="block 2"), HeadStatus(13, "b" * 64, t),
             HeadStatus(15, "c" * 64, t, chain_time=t, chain_detail="block 3"),
             HeadStatus(26, "d" * 64, t, chain_time=t, chain_detail="block 4")]
    report = VerificationReport("m", "full", 26, 26, "e" * 64, True, heads=heads)
    _propagate_chain_time(report)
    assert heads[1].chain_detail == "covered by a later head: block 3"
