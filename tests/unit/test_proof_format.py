"""Proof format v1: known-answer vectors recomputed independently, the compatibility corpus, hostile input."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from pot import ProvenanceProof, verify_proof
from pot.cli import main
from pot.errors import FormatError
from pot.log.keys import PublicKey

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "tests" / "assets"
VECTORS = json.loads((ASSETS / "vectors" / "v1.json").read_text())
HOSTILE = json.loads((ASSETS / "hostile-index.json").read_text())


def H(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def test_committed_vectors_match_what_the_code_writes() -> None:
    result = subprocess.run([sys.executable, "scripts/make_vectors.py", "--check"], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr


def test_vectors_recomputed_from_the_spec_with_only_hashlib_and_cryptography() -> None:
    """What a third party does from docs/PROOF_FORMAT.md alone: no pot code below this line."""
    private = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(VECTORS["key"]["seed"]))
    public = private.public_key().public_bytes_raw()
    assert public.hex() == VECTORS["key"]["public_key"]
    assert H(public).hex() == VECTORS["key"]["key_id"]

    leaves = []
    for vector in VECTORS["records"]:
        canonical = rfc8785.dumps(vector["body"])
        assert canonical.decode() == vector["canonical_json"]
        leaves.append(H(b"\x00" + canonical))
        assert leaves[-1].hex() == vector["leaf_hash"]

    def mth(items: list[bytes]) -> bytes:
        if not items:
            return H(b"")
        if len(items) == 1:
            return items[0]
        k = 1 << ((len(items) - 1).bit_length() - 1)
        return H(b"\x01" + mth(items[:k]) + mth(items[k:]))

    for size, root in VECTORS["tree"]["roots"].items():
        assert mth(leaves[: int(size)]).hex() == root

    head = VECTORS["tree_head"]
    signing_input = b"pot.v1.tree-head\x00" + rfc8785.dumps(head["body"])
    assert signing_input.hex() == head["signing_input_hex"]
    assert H(signing_input).hex() == head["head_hash"]
    Ed25519PublicKey.from_public_bytes(public).verify(bytes.fromhex(head["signature"]), signing_input)
    assert private.sign(signing_input).hex() == head["signature"]  # Ed25519 is deterministic

    entry = VECTORS["local_chain_entry"]
    entry_input = b"pot.v1.local-chain-entry\x00" + rfc8785.dumps(entry["body"])
    assert entry_input.hex() == entry["signing_input_hex"] and H(entry_input).hex() == entry["entry_hash"]
    receipt = VECTORS["anchor_receipt"]
    receipt_input = b"pot.v1.anchor-receipt\x00" + rfc8785.dumps(receipt["body"])
    assert receipt_input.hex() == receipt["signing_input_hex"]
    assert private.sign(receipt_input).hex() == receipt["signature"]

    document = json.loads((ASSETS / "proofs" / "v1" / "basic-full.proof.json").read_text())
    body = {k: v for k, v in document.items() if k != "signature_hash"}
    body["records"] = [{"id": record["id"]} for record in body["records"]]  # a full proof: ids only
    proof_input = b"pot.v1.proof\x00" + rfc8785.dumps(body)
    assert H(proof_input).hex() == VECTORS["proof_signature"]["signing_input_sha256"]
    Ed25519PublicKey.from_public_bytes(public).verify(bytes.fromhex(document["signature_hash"]), proof_input)


def test_the_lineage_vectors_recomputed_from_the_spec() -> None:
    """Events, steps, an Ethereum receipt and gate decisions, from docs/PROOF_FORMAT.md alone (no pot code)."""
    from fractions import Fraction

    from web3 import Web3  # an independent keccak for EIP-55

    private = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(VECTORS["key"]["seed"]))
    for vector in VECTORS["more_records"]:
        canonical = rfc8785.dumps(vector["body"])
        assert canonical.decode() == vector["canonical_json"]
        assert H(b"\x00" + canonical).hex() == vector["leaf_hash"]
    receipt = VECTORS["ethereum_receipt"]
    receipt_input = b"pot.v1.anchor-receipt\x00" + rfc8785.dumps(receipt["body"])
    assert receipt_input.hex() == receipt["signing_input_hex"]
    assert private.sign(receipt_input).hex() == receipt["signature"]
    for address in VECTORS["eip55"]:
        assert Web3.to_checksum_address(address.lower()) == address

    names = {">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b,
             "<": lambda a, b: a < b, "==": lambda a, b: a == b}
    for vector in VECTORS["gate_decisions"]:
        gate, metrics, decision = vector["gate"], vector["metrics"], vector["decision"]
        special = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}
        values = {m: (special[v] if isinstance(v, str) else float(v)) for m, v in metrics.items()}
        reads = sorted(set(gate.get("thresholds", {})) | set(gate.get("weights", {})))
        missing = [m for m in reads if m not in values]
        checks = []
        for metric in sorted(gate.get("thresholds", {})):
            for op in sorted(gate["thresholds"][metric]):
                value = values.get(metric)
                finite = value is not None and value - value == 0
                checks.append({"metric": metric, "op": op, "threshold": gate["thresholds"][metric][op],
                               "value": metrics.get(metric), "passed": finite and names[op](value, gate["thresholds"][
                                   metric][op])})
        score, score_passed = None, True
        if "weights" in gate:
            weights = gate["weights"]
            if all(m in values and values[m] - values[m] == 0 for m in weights):
                exact = sum(Fraction(w) * Fraction(values[m]) for m, w in weights.items()) / sum(
                    Fraction(w) for w in weights.values())
                score = exact.numerator / exact.denominator  # Python's int division rounds once, to nearest even
                score_passed = score >= gate["min_score"]
            else:
                score_passed = False
        gate_digest = H(rfc8785.dumps(gate)).hex()
        expected = {"format": "pot.gate-decision.v1", "gate": gate_digest,
                    "passed": all(c["passed"] for c in checks) and score_passed and not missing, "score": score,
                    "checks": checks, "missing": missing}
        assert rfc8785.dumps(expected) == rfc8785.dumps(decision)
    # The weighted case is one where summing the products in floating point gives a lower score, which fails.
    first = VECTORS["gate_decisions"][0]
    naive = sum(w * first["metrics"][m] for m, w in first["gate"]["weights"].items()) / sum(
        first["gate"]["weights"].values())
    assert first["decision"]["passed"] and naive < first["gate"]["min_score"]


def test_refused_key_and_name_vectors_are_refused() -> None:
    from pot.log.records import check_name

    for vector in VECTORS["refused_public_keys"]:
        with pytest.raises(FormatError):
            PublicKey(bytes.fromhex(vector["public_key"]))
    for vector in VECTORS["refused_names"]:
        with pytest.raises(FormatError):
            check_name(vector["name"], "model_id")


def test_inclusion_and_consistency_vectors_verify() -> None:
    from pot.log.merkle import verify_consistency, verify_inclusion

    leaves = [bytes.fromhex(h) for h in VECTORS["tree"]["leaf_hashes"]]
    roots = {int(k): bytes.fromhex(v) for k, v in VECTORS["tree"]["roots"].items()}
    for item in VECTORS["tree"]["inclusion"]:
        path = [bytes.fromhex(h) for h in item["path"]]
        assert verify_inclusion(leaves[item["index"]], item["index"], item["tree_size"], path, roots[item["tree_size"]])
    for item in VECTORS["tree"]["consistency"]:
        path = [bytes.fromhex(h) for h in item["path"]]
        assert verify_consistency(item["old_size"], item["new_size"], path, roots[item["old_size"]],
                                  roots[item["new_size"]])


CORPUS = sorted((ASSETS / "proofs").rglob("*.proof.json"))


def test_the_compatibility_corpus_is_there() -> None:
    assert len(CORPUS) >= 2, "tests/assets/proofs/ lost its proofs (ignored by git?)"


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_compatibility_corpus_keeps_verifying(path: Path) -> None:
    proof = ProvenanceProof.load(path)
    report = verify_proof(proof, trusted_key=PublicKey.from_text(VECTORS["key"]["public_key"]))
    assert report.ok and report.signer_pinned


def test_partial_proof_discloses_one_record_with_an_inclusion_proof() -> None:
    proof = ProvenanceProof.load(ASSETS / "proofs" / "v1" / "basic-partial.proof.json")
    assert proof.disclosure == "partial" and len(proof.disclosed) == 1
    report = verify_proof(proof)
    assert [c.name for c in report.checks if c.name == "inclusion"] == ["inclusion"]
    assert proof.final_model_hash is None  # a partial proof does not claim the final model
    document = proof.to_json()
    document["records"][0]["inclusion"][0] = "00" * 32
    with pytest.raises(Exception, match="not in the log"):
        verify_proof(ProvenanceProof.from_json(json.dumps(document)))


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_input_gets_one_clear_line_and_its_exit_code(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    import re

    expected = HOSTILE[name]
    code = main(["verify", "--proof", str(ASSETS / "hostile" / name)])
    out, err = capsys.readouterr()
    assert code == expected["exit_code"] == 1  # not a valid proof: verification failed
    assert "Traceback" not in out + err and err == ""
    assert out.splitlines()[-1].startswith("FAILED: format: ")
    assert re.search(expected["message"], out.splitlines()[-1]), out


def test_a_missing_proof_file_is_bad_usage(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(["verify", "--proof", str(tmp_path / "nothing.json")])
    assert code == 2 and "no proof file at" in capsys.readouterr().err


def test_oversize_input_is_refused_before_parsing(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 2048)
    with pytest.raises(FormatError, match="over the 1024-byte limit"):
        ProvenanceProof.load(big, max_bytes=1024)
    with pytest.raises(FormatError, match="over the 1024-byte limit"):
        ProvenanceProof.from_json(b" " * 2048, max_bytes=1024)


def test_round_trip_is_byte_stable() -> None:
    text = (ASSETS / "proofs" / "v1" / "basic-full.proof.json").read_text()
    proof = ProvenanceProof.from_json(text)
    assert proof.dumps(indent=1) + "\n" == text
    again: dict[str, Any] = ProvenanceProof.from_json(proof.dumps()).to_json()
    assert again == json.loads(text)
