"""The proof of training: one JSON document a stranger can verify offline.

``ProvenanceProof`` keeps the seed's field names (``training_chain``, ``validation_chain``, ``merkle_root``,
``signature_hash`` ...) and gives each real content: the records of one model's log in order, every signed tree
head with the consistency proof from its predecessor, every anchor receipt, and an Ed25519 signature over the
whole document. The wire format is specified in docs/PROOF_FORMAT.md; :meth:`ProvenanceProof.from_json` is the
only way in, and it returns a shape-checked object or raises :class:`pot.errors.FormatError`.
Verification (every hash, root, link and signature) is :func:`pot.log.verify.verify_proof`.

A *full* proof carries every record, so it is complete: removing, reordering or duplicating a record changes a
root. A *partial* proof discloses some records, each with an inclusion proof against the latest head.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pot import __version__
from pot._internal import files, strictjson
from pot.anchors.base import STRENGTHS, AnchorReceipt
from pot.errors import FormatError, MalformedProof, UsageError
from pot.log.canonical import DOMAIN_PROOF
from pot.log.heads import SignedTreeHead, TreeHead
from pot.log.keys import ALGORITHM, PublicKey, SigningKey
from pot.log.merkle import MerkleTree
from pot.log.records import (
    Record,
    TrainingCheckpoint,
    ValidationRecord,
    check_count,
    check_hex64,
    check_name,
    check_signature,
    check_text,
    check_timestamp,
    format_timestamp,
    record_from_body,
)

MEDIA_TYPE = "application/vnd.pot.proof.v1+json"
KNOWN_MEDIA_PREFIX = "application/vnd.pot.proof."
MAX_PROOF_BYTES = 1 << 30  # 1 GiB: about 2.5 million records
Disclosure = Literal["full", "partial"]

_TOP_FIELDS = ("media_type", "model_id", "disclosure", "signer", "records", "tree_heads", "anchors",
               "final_model_hash", "merkle_root", "blockchain_transactions", "proof_timestamp",
               "verification_metadata", "signature_hash")


@dataclass(frozen=True, slots=True)
class DisclosedRecord:
    """A record as a proof carries it; ``inclusion`` is set only in partial proofs."""

    record: Record
    inclusion: tuple[str, ...] | None = None
    claimed_id: str | None = None  # the id the document states; the verifier compares it with the content hash


@dataclass(frozen=True, slots=True)
class HeadEntry:
    """A signed tree head with the consistency proof from the head before it (empty for the first head)."""

    signed: SignedTreeHead
    consistency: tuple[str, ...]

    @property
    def head(self) -> TreeHead:
        return self.signed.head


@dataclass(frozen=True)
class ProvenanceProof:
    """A proof of training for one model (seed field names, real content)."""

    model_id: str
    final_model_hash: str | None
    merkle_root: str
    blockchain_transactions: list[str]
    proof_timestamp: str
    verification_metadata: dict[str, Any]
    signature_hash: str
    signer: PublicKey
    disclosed: list[DisclosedRecord]
    tree_heads: list[HeadEntry]
    anchors: list[AnchorReceipt]
    disclosure: Disclosure = "full"
    media_type: str = MEDIA_TYPE
    signer_key_id: str | None = None  # as stated in the document; None means "derive from signer"
    _raw_body: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    # --- the seed's views -------------------------------------------------------------------------------------

    @property
    def records(self) -> list[Record]:
        return [d.record for d in self.disclosed]

    @property
    def training_chain(self) -> list[TrainingCheckpoint]:
        return [r for r in self.records if isinstance(r, TrainingCheckpoint)]

    @property
    def validation_chain(self) -> list[ValidationRecord]:
        return [r for r in self.records if isinstance(r, ValidationRecord)]

    @property
    def latest_head(self) -> TreeHead | None:
        return self.tree_heads[-1].head if self.tree_heads else None

    # --- wire format ------------------------------------------------------------------------------------------

    def body(self) -> dict[str, Any]:
        """The document without its signature: what ``signature_hash`` signs."""
        if self._raw_body is not None:
            return self._raw_body
        return _document_body(self)

    def to_json(self) -> dict[str, Any]:
        return {**self.body(), "signature_hash": self.signature_hash}

    def dumps(self, indent: int | None = None) -> str:
        return json.dumps(self.to_json(), indent=indent, ensure_ascii=False, allow_nan=False)

    def save(self, path: Path | str, *, stores: Iterable[Path | str] = (), key_files: Iterable[Path | str] = ()
             ) -> None:
        """Write the proof to ``path`` whole or not at all (a crash never leaves half a proof under its name).

        Refuses, with a UsageError, a path inside a pot store or naming a signing key: every store this process
        opened, ``stores``, ``POT_HOME``, and ``key_files`` are checked (see :mod:`pot._internal.files`).
        """
        files.write_output(path, self.dumps(indent=1) + "\n", stores=stores, key_files=key_files)

    @classmethod
    def load(cls, path: Path | str, *, max_bytes: int = MAX_PROOF_BYTES) -> ProvenanceProof:
        """Read and parse a proof file (:func:`read_proof_file` says how it is read)."""
        return cls.from_json(read_proof_file(path, max_bytes=max_bytes), max_bytes=max_bytes)

    @classmethod
    def from_json(cls, data: str | bytes | Mapping[str, Any], *, max_bytes: int = MAX_PROOF_BYTES
                  ) -> ProvenanceProof:
        """Parse and shape-check a proof document. Raises :class:`FormatError`; checks no hash or signature."""
        with paused_gc():
            document = data if isinstance(data, Mapping) else _parse_json(data, max_bytes)
            return _parse_document(document)


def read_proof_file(path: Path | str, *, max_bytes: int = MAX_PROOF_BYTES, what: str = "proof file") -> bytes:
    """A proof file's bytes (or another document's, named by ``what``). Only a regular file is read (a FIFO would
    block, a device never end), and never more than ``max_bytes``, whatever the file claims its size is."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO opens at once instead of waiting for a writer
    except FileNotFoundError:
        raise UsageError(f"no {what} at {path}") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a directory, not a {what}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise UsageError(f"{path} is a directory, not a {what}")
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"{path} is not a regular file (a pipe or a device), not a {what}")
        if info.st_size > max_bytes:
            raise FormatError(f"{path} is {info.st_size} bytes, over the {max_bytes}-byte limit for a "
                              f"{what.removesuffix(' file')}")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(max_bytes + 1)  # a file that grew since fstat is still read only this far
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    return data


# --- building ---------------------------------------------------------------------------------------------------


def build_proof(
    *,
    model_id: str,
    record_bodies: Sequence[Mapping[str, Any]],
    leaves: Sequence[bytes],
    heads: Sequence[SignedTreeHead],
    receipts: Iterable[AnchorReceipt],
    key: SigningKey,
    now: datetime | None = None,
    disclose: Sequence[int] | None = None,
) -> ProvenanceProof:
    """Assemble and sign a proof from a log's records (bodies and leaf hashes), heads and receipts.

    ``disclose`` lists record indexes for a partial proof; None makes a full proof. The latest head must cover
    every record: the recorder signs one before calling this.
    """
    if not heads:
        raise UsageError(f"model {model_id!r} has no signed tree head yet")
    latest = heads[-1].head
    if latest.tree_size != len(leaves):
        raise UsageError(f"the latest head of {model_id!r} covers {latest.tree_size} of {len(leaves)} records; "
                         "flush the recorder first")
    tree = MerkleTree(leaves)
    entries: list[HeadEntry] = []
    previous = 0
    for signed in heads:
        size = signed.head.tree_size
        entries.append(HeadEntry(signed, tuple(h.hex() for h in tree.consistency_proof(previous, size))))
        previous = size
    records = [record_from_body(body) for body in record_bodies]
    if disclose is None:
        disclosed = [DisclosedRecord(r, None, r.record_id) for r in records]
        disclosure: Disclosure = "full"
    else:
        indexes = sorted(set(disclose))
        if not indexes or indexes[0] < 0 or indexes[-1] >= len(records):
            raise UsageError(f"records to disclose must be indexes in 0..{len(records) - 1}")
        disclosed = [DisclosedRecord(records[i], tuple(h.hex() for h in tree.inclusion_proof(i, len(leaves))),
                                     records[i].record_id) for i in indexes]
        disclosure = "partial"
    receipt_list = list(receipts)
    known_heads = {h.head.head_hash for h in heads}
    receipt_list = [r for r in receipt_list if r.head_hash in known_heads]
    checkpoints = [r for r in records if isinstance(r, TrainingCheckpoint)]
    proof = ProvenanceProof(
        model_id=model_id,
        final_model_hash=checkpoints[-1].model_hash if checkpoints and disclosure == "full" else None,
        merkle_root=latest.root_hash,
        blockchain_transactions=chain_transactions(receipt_list),
        # never dated before what it covers, even if the wall clock stepped back
        proof_timestamp=max([format_timestamp(now or datetime.now(UTC)), latest.timestamp,
                             *(r.timestamp for r in receipt_list)]),
        verification_metadata={},
        signature_hash="",
        signer=key.public,
        disclosed=disclosed,
        tree_heads=entries,
        anchors=receipt_list,
        disclosure=disclosure,
    )
    proof = _replace(proof, verification_metadata=expected_metadata(proof))
    body = _document_body(proof)
    return _replace(proof, signature_hash=key.sign(DOMAIN_PROOF, signed_view(body)), _raw_body=body)


def signed_view(body: Mapping[str, Any]) -> dict[str, Any]:
    """What ``signature_hash`` signs: the document without it, each record reduced to its ``id`` (and, in a
    partial proof, its ``inclusion`` path). A record's id is the hash of its content, which the verifier checks,
    so the signature still binds every byte; and a large proof is not canonicalised a second time to sign it.

    Frozen by proof format v1 (docs/PROOF_FORMAT.md, "The proof document").
    """
    view = dict(body)
    view["records"] = [{key: record[key] for key in ("id", "inclusion") if key in record}
                       for record in body["records"]]
    return view


def chain_transactions(receipts: Iterable[AnchorReceipt]) -> list[str]:
    """The seed's ``blockchain_transactions``: transaction hashes of chain receipts, in receipt order."""
    return [str(r.details["tx_hash"]) for r in receipts
            if STRENGTHS.get(r.backend) == "chain" and "tx_hash" in r.details]


def expected_metadata(proof: ProvenanceProof) -> dict[str, Any]:
    """``verification_metadata``: counts a reader can check against the document (the verifier does)."""
    anchored: dict[str, int] = {}
    for receipt in proof.anchors:
        anchored[receipt.backend] = anchored.get(receipt.backend, 0) + 1
    metadata: dict[str, Any] = {
        "generator": f"pot-provenance {__version__}",
        "record_count": len(proof.disclosed),
        "training_checkpoints": len(proof.training_chain),
        "validations": len(proof.validation_chain),
        "tree_heads": len(proof.tree_heads),
        "log_size": proof.latest_head.tree_size if proof.latest_head else 0,
        "anchor_receipts": dict(sorted(anchored.items())),
    }
    # Counts of the other record kinds appear only when there are some, so proofs without them read as before.
    for kind in sorted({r.KIND for r in proof.records} - {"checkpoint", "validation"}):
        metadata[f"{kind}_records"] = sum(1 for r in proof.records if kind == r.KIND)
    return metadata


def _replace(proof: ProvenanceProof, **changes: Any) -> ProvenanceProof:
    values = {name: getattr(proof, name) for name in proof.__dataclass_fields__}
    values.update(changes)
    return ProvenanceProof(**values)


def _document_body(proof: ProvenanceProof) -> dict[str, Any]:
    records = []
    for item in proof.disclosed:
        entry = item.record.to_json()
        if item.inclusion is not None:
            entry["inclusion"] = list(item.inclusion)
        records.append(entry)
    return {
        "media_type": proof.media_type,
        "model_id": proof.model_id,
        "disclosure": proof.disclosure,
        "signer": {"algorithm": ALGORITHM, "public_key": proof.signer.hex,
                   "key_id": proof.signer_key_id or proof.signer.key_id},
        "records": records,
        "tree_heads": [{**e.signed.to_json(), "consistency": list(e.consistency)} for e in proof.tree_heads],
        "anchors": [r.to_json() for r in proof.anchors],
        "final_model_hash": proof.final_model_hash,
        "merkle_root": proof.merkle_root,
        "blockchain_transactions": list(proof.blockchain_transactions),
        "proof_timestamp": proof.proof_timestamp,
        "verification_metadata": proof.verification_metadata,
    }


# --- parsing ----------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector for a bulk job. A large proof makes millions of small acyclic objects,
    and the collector would scan them again and again as they pile up (measured: a fifth of the time to parse and
    verify a 100,000-record proof). Reference counting still frees everything; the collector resumes after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _parse_json(data: str | bytes, max_bytes: int) -> Any:
    return strictjson.loads(data, "proof", max_bytes=max_bytes)


def _expect_list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise FormatError(f"{name} must be a JSON array")
    return value


def _hex_list(value: Any, name: str) -> tuple[str, ...]:
    return tuple(check_hex64(item, f"{name}[{i}]") for i, item in enumerate(_expect_list(value, name)))


def _parse_document(document: Any) -> ProvenanceProof:
    """Envelope problems (not a pot proof, unknown version) raise FormatError; a v1 document whose content does
    not fit the format raises MalformedProof, which is also a VerificationError: the proof is invalid."""
    _check_envelope(document)
    try:
        return _parse_v1(document)
    except MalformedProof:
        raise
    except FormatError as exc:
        raise MalformedProof(str(exc)) from None
    except (ValueError, TypeError) as exc:  # e.g. a public key that is not on the curve
        raise MalformedProof(f"proof content is invalid: {exc}") from None


def _check_envelope(document: Any) -> None:
    if not isinstance(document, Mapping):
        raise FormatError("a proof must be a JSON object")
    media_type = document.get("media_type")
    if not isinstance(media_type, str):
        raise FormatError("this is not a pot proof (no media_type)")
    if media_type != MEDIA_TYPE:
        if media_type.startswith(KNOWN_MEDIA_PREFIX):
            raise FormatError(f"unsupported proof version {media_type!r}; this pot reads {MEDIA_TYPE}")
        raise FormatError(f"this is not a pot proof (media_type {media_type!r})")


_TX_HASH = re.compile(r"0x[0-9a-f]{64}")
_METADATA_COUNTS = ("record_count", "training_checkpoints", "validations", "tree_heads", "log_size")
# Counts of the other record kinds, present only when the proof discloses such records.
_KIND_COUNTS = frozenset(f"{kind}_records" for kind in ("steps", "event"))


def _check_metadata(value: Any) -> dict[str, Any]:
    """``verification_metadata``: exactly its keys, every count a JSON integer (``6``, never ``6.0``)."""
    if not isinstance(value, Mapping):
        raise FormatError("verification_metadata must be a JSON object")
    required = {"generator", *_METADATA_COUNTS, "anchor_receipts"}
    missing = sorted(required - set(value))
    unknown = sorted(set(value) - required - _KIND_COUNTS)
    if missing or unknown:
        raise FormatError("verification_metadata must hold exactly generator, anchor_receipts, the counts and the "
                          "<type>_records of disclosed types: " + "; ".join(
                              ([f"missing {', '.join(missing)}"] if missing else []) +
                              ([f"unknown {', '.join(repr(k[:40]) for k in unknown)}"] if unknown else [])))
    check_text(value["generator"], "verification_metadata.generator")
    for name in (*_METADATA_COUNTS, *(k for k in _KIND_COUNTS if k in value)):
        check_count(value[name], f"verification_metadata.{name}")
    receipts = value["anchor_receipts"]
    if not isinstance(receipts, Mapping):
        raise FormatError("verification_metadata.anchor_receipts must be an object")
    for backend, count in receipts.items():
        check_name(backend, "verification_metadata.anchor_receipts backend")
        check_count(count, f"verification_metadata.anchor_receipts.{backend}")
    return dict(value)


def _parse_v1(document: Mapping[str, Any]) -> ProvenanceProof:
    missing = [name for name in _TOP_FIELDS if name not in document]
    if missing:
        raise FormatError(f"proof is missing {', '.join(missing)}")
    unknown = sorted(set(document) - set(_TOP_FIELDS))
    if unknown:
        raise FormatError(f"proof has unknown field(s): {', '.join(unknown)}")

    model_id = check_name(document["model_id"], "model_id")
    disclosure = document["disclosure"]
    if disclosure not in ("full", "partial"):
        raise FormatError(f"disclosure must be 'full' or 'partial', got {disclosure!r}")

    signer_doc = document["signer"]
    if not isinstance(signer_doc, Mapping) or set(signer_doc) != {"algorithm", "public_key", "key_id"}:
        raise FormatError("signer must be an object with exactly algorithm, public_key and key_id")
    if signer_doc["algorithm"] != ALGORITHM:
        raise FormatError(f"unsupported signature algorithm {signer_doc['algorithm']!r}; v1 proofs use ed25519")
    signer = PublicKey(bytes.fromhex(check_hex64(signer_doc["public_key"], "signer.public_key")))
    signer_key_id = check_hex64(signer_doc["key_id"], "signer.key_id")

    disclosed = []
    for i, item in enumerate(_expect_list(document["records"], "records")):
        if not isinstance(item, Mapping):
            raise FormatError(f"records[{i}] must be a JSON object")
        body = dict(item)
        if "id" not in body:
            raise FormatError(f"records[{i}] has no id")
        claimed_id = check_hex64(body.pop("id"), f"records[{i}].id")
        if ("inclusion" in body) != (disclosure == "partial"):
            raise FormatError(f"records[{i}]: a record carries an inclusion proof exactly when the proof is partial")
        inclusion = body.pop("inclusion", None)
        try:
            record = record_from_body(body)
        except FormatError as exc:
            raise FormatError(f"records[{i}]: {exc}") from None
        disclosed.append(DisclosedRecord(record, None if inclusion is None else
                                         _hex_list(inclusion, f"records[{i}].inclusion"), claimed_id))

    heads = []
    for i, item in enumerate(_expect_list(document["tree_heads"], "tree_heads")):
        if not isinstance(item, Mapping) or set(item) != {"head", "signature", "consistency"}:
            raise FormatError(f"tree_heads[{i}] must have exactly head, signature and consistency")
        try:
            head = TreeHead.from_body(item["head"])
        except FormatError as exc:
            raise FormatError(f"tree_heads[{i}]: {exc}") from None
        heads.append(HeadEntry(SignedTreeHead(head, check_signature(item["signature"], f"tree_heads[{i}].signature")),
                               _hex_list(item["consistency"], f"tree_heads[{i}].consistency")))

    anchors = []
    for i, item in enumerate(_expect_list(document["anchors"], "anchors")):
        try:
            anchors.append(AnchorReceipt.from_json(item))
        except FormatError as exc:
            raise FormatError(f"anchors[{i}]: {exc}") from None

    final_model_hash = document["final_model_hash"]
    if final_model_hash is not None:
        check_name(final_model_hash, "final_model_hash")
    transactions = _expect_list(document["blockchain_transactions"], "blockchain_transactions")
    for i, tx in enumerate(transactions):
        if not isinstance(tx, str) or not _TX_HASH.fullmatch(tx):
            raise FormatError(f"blockchain_transactions[{i}] must be 0x and 64 lower-case hex digits")
    metadata = _check_metadata(document["verification_metadata"])
    signature = check_signature(document["signature_hash"], "signature_hash")
    body = {name: document[name] for name in _TOP_FIELDS if name != "signature_hash"}
    return ProvenanceProof(
        model_id=model_id,
        final_model_hash=final_model_hash,
        merkle_root=check_hex64(document["merkle_root"], "merkle_root"),
        blockchain_transactions=list(transactions),
        proof_timestamp=check_timestamp(document["proof_timestamp"], "proof_timestamp"),
        verification_metadata=dict(metadata),
        signature_hash=signature,
        signer=signer,
        disclosed=disclosed,
        tree_heads=heads,
        anchors=anchors,
        disclosure=disclosure,
        media_type=MEDIA_TYPE,
        signer_key_id=signer_key_id,
        _raw_body=body,
    )
