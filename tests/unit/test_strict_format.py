"""Strict where the spec is strict: one way to write each value, every event's data to its schema, sane dates.

Each case here was accepted before the hardening: a second spelling of a signed value (upper-case hex, 6.0 for 6),
data the schema does not allow, a number a double cannot hold, nesting that crashed the reader. Each must now be
refused with one line: a FormatError when a value is made, a MalformedProof (exit 1) when a proof holds it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from pot import ProvenanceProof, verify_proof
from pot.errors import AnchorReceiptError, FormatError, TimestampError
from pot.lineage import events
from pot.lineage.events import LineageError
from pot.lineage.gates import Gate
from pot.log.keys import SigningKey
from pot.log.records import EventRecord, TrainingCheckpoint, ValidationRecord, parse_timestamp
from tests.support.forge import SEED, ethereum, forge, records, ts, unix

KEY = SigningKey.from_seed(SEED)
GATE = Gate.from_json({"thresholds": {"accuracy": {">=": 0.9}}})


def checkpoint(i: int, **extra: Any) -> dict[str, Any]:
    return {"type": "checkpoint", "model_id": "m", "timestamp": ts(i), "model_hash": f"{i:064x}", "epoch": i,
            "metrics": {"loss": 0.5}, "fingerprint_hash": None, "validation_hash": None, **extra}


def validation(i: int, model_hash: str) -> dict[str, Any]:
    return {"type": "validation", "model_id": "m", "timestamp": ts(i), "model_hash": model_hash,
            "validator_id": "holdout", "validation_result": {"accuracy": 0.95, "passed": True, "note": "x"},
            "confidence_score": None, "challenge_hash": None}


def event(i: int, name: str, data: dict[str, Any], run_id: str | None = None, **extra: Any) -> dict[str, Any]:
    body = {"type": "event", "model_id": "m", "timestamp": ts(i), "event": name, "data": data, **extra}
    if run_id is not None:
        body["run_id"] = run_id
    return body


@pytest.fixture(scope="module")
def text() -> str:
    """A valid proof with a run, checkpoints, a validation and a promotion, as the document's text."""
    run = events.run_started("train", {"lr": 0.1}, {}, {}, "alice")
    made = records([event(0, "RunStarted", run, "r1"), checkpoint(1, run_id="r1"),
                    validation(2, f"{1:064x}")])
    validation_record = made[2]
    assert isinstance(validation_record, ValidationRecord)
    name, data = events.promotion("staging", validation_record.model_hash, GATE, [validation_record])
    made += records([*(r.body() for r in made), event(3, name, data)])[3:]
    return forge(made, heads=[(2, ts(10)), (4, ts(20))]).dumps(indent=1)


def refused(text: str, *, match: str) -> None:
    """Refused as no valid proof: a FormatError when the text is not even read (malformed JSON, a number a double
    cannot hold), a MalformedProof (a FormatError too) when a v1 document's content breaks the format."""
    with pytest.raises(FormatError, match=match):
        verify_proof(ProvenanceProof.from_json(text), trusted_key=KEY.public)


def fields(body: dict[str, Any]) -> dict[str, Any]:
    """A body's fields as ``create`` takes them (the type is the class)."""
    return {"seq": 0, **{k: v for k, v in body.items() if k != "type"}}


def test_the_fixture_proof_verifies(text: str) -> None:
    report = verify_proof(ProvenanceProof.from_json(text), trusted_key=KEY.public)
    assert "1 promotion decision(s) re-derived" in next(c.detail for c in report.checks if c.name == "lineage")


@pytest.mark.parametrize("spell", [str.upper, lambda s: " " + s, lambda s: s + "\n", lambda s: s[:64] + " " + s[64:]])
def test_signatures_are_exactly_lower_case_hex(text: str, spell: Callable[[str], str]) -> None:
    document = json.loads(text)
    for place in (lambda d: d, lambda d: d["tree_heads"][0], lambda d: d["anchors"][0]):
        changed = json.loads(text)
        target = place(changed)
        key = "signature_hash" if "signature_hash" in target else "signature"
        target[key] = spell(place(document)[key])
        refused(json.dumps(changed), match="128 lower-case hex digits")


@pytest.mark.parametrize(("old", "new"), [
    ('"record_count": 4', '"record_count": 4.0'),
    ('"epoch": 1', '"epoch": 1.0'),
    ('"tree_size": 2', '"tree_size": 2.0'),
    ('"tree_heads": 2', '"tree_heads": 2e0'),
])
def test_integer_fields_are_json_integers(text: str, old: str, new: str) -> None:
    assert old in text
    refused(text.replace(old, new, 1), match="must be an integer")


@pytest.mark.parametrize(("number", "match"), [
    ("1e400", "too large for a double"),
    ("-1e-400", "too small for a double"),
    ("9" * 5000, "thousands of digits"),
    ("9" * 30, "outside the range JSON carries exactly"),
])
def test_numbers_a_double_cannot_hold_are_refused(text: str, number: str, match: str) -> None:
    refused(text.replace('"loss": 0.5', f'"loss": {number}', 1), match=match)


@pytest.mark.parametrize("depth", [70, 500, 985, 1500])
def test_deep_nesting_inside_a_record_is_one_line(text: str, depth: int) -> None:
    deep = "[" * depth + "]" * depth
    refused(text.replace('"note": "x"', f'"note": {deep}', 1), match="nested|not valid JSON")


def test_nesting_is_limited_where_a_value_is_made() -> None:
    value: Any = 1
    for _ in range(60):  # lists at levels 5 to 64: document, records, record, validation_result, then these
        value = [value]
    ValidationRecord.create(model_id="m", seq=0, timestamp=ts(0), model_hash="h", validator_id="v",
                            validation_result={"deep": value})  # level 64 of a proof: allowed
    with pytest.raises(FormatError, match="nested more than 64 levels"):
        ValidationRecord.create(model_id="m", seq=0, timestamp=ts(0), model_hash="h", validator_id="v",
                                validation_result={"deep": [value]})


@pytest.mark.parametrize("name", ["a\u200bb", "a\u202eb", "\ufeffm", "m\u2066", "a\x1b[31m", "x\u00ad"])
def test_ids_and_metric_names_hold_no_invisible_character(name: str) -> None:
    with pytest.raises(FormatError, match="control or invisible character"):
        TrainingCheckpoint.create(**fields({**checkpoint(0), "model_id": name}))
    with pytest.raises(FormatError, match="control or invisible character"):
        TrainingCheckpoint.create(**fields({**checkpoint(0), "metrics": {name: 1.0}}))


@pytest.mark.parametrize("name", ["a/b", "..", ".", "a\\b"])
def test_a_file_name_has_no_directory(name: str) -> None:
    with pytest.raises(FormatError, match="file name without a directory"):
        TrainingCheckpoint.create(**fields({**checkpoint(0), "file_sha256": "a" * 64, "file_name": name}))


@pytest.mark.parametrize("moment", ["1999-12-31T23:59:59.999999Z", "0001-01-01T00:00:00.000000Z",
                                    "2026-02-30T00:00:00.000000Z", "2026-12-31T23:59:60.000000Z",
                                    "2026-11-22T24:00:00.000000Z", "2026-11-22T12:00:00.000000+00:00"])
def test_timestamps_are_real_moments_from_2000_on(moment: str) -> None:
    with pytest.raises(FormatError):
        parse_timestamp(moment)


def artifact(size: Any) -> dict[str, Any]:
    return {"name": "w.bin", "sha256": "a" * 64, "size": size}


@pytest.mark.parametrize(("name", "data", "run_id", "match"), [
    ("ArtifactSaved", {**artifact(3), "extra": 1}, "r", "unknown 'extra'"),
    ("ArtifactSaved", {"name": "w.bin", "sha256": "a" * 64}, "r", "missing size"),
    ("ArtifactSaved", artifact(-1), "r", "size must be >= 0"),
    ("ArtifactSaved", artifact(3.0), "r", "size must be an integer"),
    ("ArtifactSaved", artifact(3), None, "needs a run_id"),
    ("RunCompleted", {"status": "done", "error": None}, "r", "status must be one of"),
    ("MetricLogged", {"name": "acc", "value": "high", "step": None}, "r", "must be a number"),
    ("ModelRolledBack", {"stage": "s", "to_model_hash": "h", "from_model_hash": None, "reason": "r"}, "r",
     "belongs to a model, not to a run"),
    ("RunStarted", {**events.run_started("train", {}, {}, {}, "u"),
                    "parents": [{"kind": "model", "id": "p", "relation": "fine_tuned_from", "digest": None,
                                 "proof": {"model_id": "p", "tree_size": 0, "root_hash": "a" * 64,
                                           "head_hash": "b" * 64, "key_id": "c" * 64}}]}, "r",
     "tree_size must be >= 1"),
    ("RunStarted", {**events.run_started("train", {}, {}, {}, "u"), "git": {"commit": "HEAD", "dirty": None,
                                                                           "branch": None}}, "r",
     "git.commit must be null or 40 or 64"),
    ("RunStarted", {**events.run_started("train", {}, {}, {}, "u"), "merged_from": {"node_id": "n", "lamport": 1}},
     "r", "merged_from needs the record's node_id and lamport"),
])
def test_event_data_is_checked_against_its_schema(name: str, data: dict[str, Any], run_id: str | None,
                                                  match: str) -> None:
    with pytest.raises(FormatError, match=match):
        EventRecord.create(**fields(event(0, name, data, run_id)))


def promotion_proof(inputs: list[dict[str, Any]], model_hash: str, *, decision: dict[str, Any] | None = None,
                    name: str | None = None) -> ProvenanceProof:
    made = records([checkpoint(0), validation(1, f"{0:064x}"), validation(2, "other-model-hash")])
    listed = [{"validation_id": made[i].record_id, "metrics": {"accuracy": 0.95}} for i in [d["index"] for d in
                                                                                           inputs]]
    from pot.lineage.gates import evaluate

    outcome = evaluate(GATE, events.combined_metrics(listed))
    data = {"stage": "staging", "model_hash": model_hash, "gate": GATE.canonical(), "inputs": listed,
            "decision": decision or outcome.to_json()}
    event_name = name or ("ModelPromoted" if outcome.passed else "PromotionRefused")
    made += records([*(r.body() for r in made), event(3, event_name, data)])[3:]
    return forge(made)


def test_a_promotion_decided_on_a_validation_of_the_promoted_model_verifies() -> None:
    verify_proof(promotion_proof([{"index": 1}], f"{0:064x}"), trusted_key=KEY.public)


def test_a_promotion_citing_a_validation_of_another_model_hash_fails() -> None:
    with pytest.raises(LineageError, match="validates model hash .*, not the promoted"):
        verify_proof(promotion_proof([{"index": 2}], f"{0:064x}"), trusted_key=KEY.public)


def test_a_decision_with_free_text_is_not_the_recomputed_one() -> None:
    from pot.lineage.gates import evaluate

    decision = {**evaluate(GATE, {"accuracy": 0.95}).to_json(), "reasons": []}
    with pytest.raises(LineageError, match="not what the gate gives"):
        verify_proof(promotion_proof([{"index": 1}], f"{0:064x}", decision=decision), trusted_key=KEY.public)


@pytest.mark.parametrize(("inputs", "match"), [([], "non-empty array"), ([{"index": 1}, {"index": 1}], "twice")])
def test_promotion_inputs_are_some_distinct_validations(inputs: list[dict[str, Any]], match: str) -> None:
    with pytest.raises(FormatError, match=match):
        promotion_proof(inputs, f"{0:064x}")


def test_ethereum_addresses_are_eip55_checksummed() -> None:
    made = records([checkpoint(0), checkpoint(1)])
    block = unix(ts(30))
    verify_proof(forge(made, receipts=[(0, ethereum(block), ts(40))]), trusted_key=KEY.public)
    for field in ("contract", "submitter"):
        lower = ethereum(block, **{field: "0x5fbdb2315678afecb367f032d93f642f64180aa3"})
        with pytest.raises(AnchorReceiptError, match=f"{field} must be .*EIP-55"):
            verify_proof(forge(made, receipts=[(0, lower, ts(40))]), trusted_key=KEY.public)


@pytest.mark.parametrize(("field", "value", "match"), [
    ("chain_id", 0, "chain_id is out of range"),
    ("block_time", 100, "block_time is out of range"),
    ("block_number", -1, "block_number is out of range"),
])
def test_ethereum_integers_are_in_range(field: str, value: int, match: str) -> None:
    made = records([checkpoint(0), checkpoint(1)])

    def maker(index: int, head: Any) -> tuple[str, dict[str, Any]]:
        backend, details = ethereum(unix(ts(30)))(index, head)
        return backend, {**details, field: value}

    with pytest.raises(AnchorReceiptError, match=match):
        verify_proof(forge(made, receipts=[(0, maker, ts(40))]), trusted_key=KEY.public)


def test_a_receipt_dated_before_its_head_fails() -> None:
    made = records([checkpoint(0), checkpoint(1)])
    proof = forge(made, heads=[(2, ts(30))], receipts=[(0, ethereum(unix(ts(20))), ts(20))])
    with pytest.raises(TimestampError, match="dated before the head it anchors"):
        verify_proof(proof, trusted_key=KEY.public)


def test_two_local_chain_entries_at_one_index_in_one_proof_fail() -> None:
    # A signer who rewrote the local chain shows two different entries numbered the same.
    from pot.anchors.localchain import LocalChainAnchor
    from pot.log.canonical import DOMAIN_LOCAL_CHAIN_ENTRY

    made = records([checkpoint(0), checkpoint(1), checkpoint(2)])
    proof = forge(made, heads=[(2, ts(10)), (3, ts(20))], local=False,
                  receipts=[(i, lambda i, head: (LocalChainAnchor.backend, _entry(head, DOMAIN_LOCAL_CHAIN_ENTRY)),
                             ts(30)) for i in (0, 1)])
    with pytest.raises(AnchorReceiptError, match="differs from another receipt's entry at that index"):
        verify_proof(proof, trusted_key=KEY.public)


def _entry(head: Any, domain: bytes) -> dict[str, Any]:
    entry = {"index": 0, "prev_entry": None, "model_id": head.model_id, "tree_size": head.tree_size,
             "root_hash": head.root_hash, "head_hash": head.head_hash, "timestamp": ts(25), "key_id": KEY.key_id}
    return {"entry": entry, "entry_signature": KEY.sign(domain, entry)}
