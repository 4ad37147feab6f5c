"""Offline verification of a proof of training.

:func:`verify_proof` runs every check below, records each outcome in a :class:`VerificationReport`, and raises
the :class:`pot.errors.VerificationError` subclass of the first failed check (with the report attached) if any
failed. It never returns a report with a failure in it. The checks, in order:

1. ``signer``: the stated key id is the SHA-256 of the public key; with a pinned key, it is that key.
   Without one the report says the signer was not pinned: the proof then shows only self-consistency.
2. ``records``: each record's id is the hash of its content, it belongs to this model, and (full proofs) the
   ``seq`` of record *i* is *i*: nothing removed, duplicated or reordered.
3. ``tree-heads``: heads of this model, signed by the signer, growing in size, each naming the previous
   head's hash; the first has no predecessor; (full proofs) each root is recomputed from the records and the
   last head covers every record.
4. ``consistency``: each head's RFC 9162 consistency proof from the head before it.
5. ``inclusion`` (partial proofs): each disclosed record's inclusion proof against the latest head.
6. ``timestamps``: no record is newer than the first head that covers it, no head newer than the proof, every
   receipt between its head and the proof, and nothing more than a day past the verifier's clock.
7. ``lineage``: the Lamport stamps agree with the log's order and every promotion decision is re-derived; (full
   proofs) runs, promotion inputs and rollbacks are consistent with the records around them
   (pot.lineage.events.check_events).
8. ``anchors``: each receipt names a head of the proof and its root, is signed by the signer, and passes its
   backend's offline check; no head is anchored twice by one backend, no two local chain entries share an index;
   no record post-dates the time a chain receipt covering it claims (the signer's claim, checked for consistency).
9. ``summary``: ``final_model_hash``, ``merkle_root``, ``blockchain_transactions`` and
   ``verification_metadata`` are what the document's content says they are.
10. ``proof-signature``: the signature over the whole document.
11. ``parents`` (when a run names parent proofs): each supplied parent proof verifies and holds the head named.
12. ``local-chain`` (when a local chain file is given): the file is intact (every line an entry, every link and
    signature), holds no two heads for one model and size, holds each local receipt's entry, and anchors no other
    head (or, for a full proof, no other root) of this model than the proof's.
13. ``tsa`` (when TSA certificates are pinned): each ``tsa`` receipt's token verifies against a pinned certificate
    (see :mod:`pot.anchors.tsa`). Only then is a head dated by a TSA; offline, a token is the signer's word.
14. ``chain`` (when an RPC endpoint is given): see :mod:`pot.anchors.ethereum`. Only then is a head dated by a chain
    in the report; offline, a chain receipt is the signer's word and the report says so.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# Importing a backend's receipt module registers its offline check (neither imports a chain client).
import pot.anchors.aggregate
import pot.anchors.ethereum_receipt
import pot.anchors.tsa_receipt  # noqa: F401
from pot.anchors.base import CLAIMED_TIMES, OFFLINE_CHECKS, STRENGTHS, TIME_ALLOWANCE_SECONDS
from pot.anchors.localchain import LocalChain
from pot.errors import (
    AnchorReceiptError,
    ConsistencyError,
    FormatError,
    InclusionError,
    ParentProofError,
    PotError,
    ProofSignatureError,
    RecordError,
    SignerError,
    SummaryError,
    TimestampError,
    TreeHeadError,
    UsageError,
    VerificationError,
)
from pot.lineage.events import check_events, check_reference, parent_references
from pot.log.canonical import DOMAIN_PROOF
from pot.log.heads import TreeHead
from pot.log.keys import PublicKey
from pot.log.merkle import Frontier, verify_consistency, verify_inclusion
from pot.log.proof import ProvenanceProof, chain_transactions, expected_metadata, paused_gc, signed_view
from pot.log.records import TrainingCheckpoint, format_timestamp

# How far past the verifier's clock a proof's dates may lie: clocks disagree, a day is generous, and a proof dated
# later than that was made with a wrong clock or a lie. Frozen by format v1 (docs/PROOF_FORMAT.md section 8).
FUTURE_ALLOWANCE_SECONDS = 86_400


@dataclass(slots=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass(slots=True)
class HeadStatus:
    """What the proof shows about one signed tree head: its size, root, how it is anchored, and by what time its
    records existed, and on whose word.

    ``covered_by`` and ``claimed_time`` come from the receipts alone: offline, a chain receipt (transaction, block,
    block time) is only what the signer says it obtained. ``chain_time`` is set only when the receipt was checked
    against the chain itself (``pot verify --rpc``); only then is the head dated by a chain.
    """

    tree_size: int
    root_hash: str
    timestamp: str
    anchors: list[str] = field(default_factory=list)  # backends with a valid receipt for this head itself
    covered_by: int | None = None  # tree size of the earliest head at or after this one with a chain receipt
    locally_covered_by: int | None = None  # ... with any receipt (a local chain entry of a later head covers it too)
    claimed_time: str | None = None  # the earliest block time those receipts state (the signer's word)
    chain_time: str | None = None  # block time, when checked against a chain (a later head's, if covered by it)
    chain_detail: str | None = None
    tsa_covered_by: int | None = None  # tree size of the earliest head at or after this one with a TSA receipt
    tsa_claimed_time: str | None = None  # the earliest token time those receipts state (the signer's word)
    tsa_time: str | None = None  # genTime + accuracy, when a token was checked against a pinned TSA certificate
    tsa_detail: str | None = None  # which TSA vouches (its certificate's subject) and under which pinned certificate

    @property
    def strength(self) -> str:
        """``chain``: dated by a chain anchor the verifier checked on the chain (this head's or a later head's, whose
        tree extends it); ``tsa``: dated by a TSA token the verifier checked against a TSA certificate it pinned (the
        TSA's key vouches, not a chain); ``chain-unchecked``: covered by a chain receipt not checked against a chain,
        so only the signer vouches for it; ``tsa-unchecked``: likewise for a TSA token not checked against a pinned
        certificate; ``local``: anchored (or covered by a later head anchored) on the signer's local chain only;
        ``none``: neither it nor a later head is anchored."""
        if self.chain_time is not None:
            return "chain"
        if self.tsa_time is not None:
            return "tsa"
        if self.covered_by is not None:
            return "chain-unchecked"
        if self.tsa_covered_by is not None:
            return "tsa-unchecked"
        return "local" if self.locally_covered_by is not None else "none"

    @property
    def dated_by(self) -> str:
        """Whose word the time of this head's records rests on: ``chain``, ``tsa`` or ``signer``."""
        return "chain" if self.chain_time is not None else "tsa" if self.tsa_time is not None else "signer"

    def to_json(self) -> dict[str, Any]:
        return {"tree_size": self.tree_size, "root_hash": self.root_hash, "timestamp": self.timestamp,
                "anchors": self.anchors, "strength": self.strength, "dated_by": self.dated_by,
                "covered_by": self.covered_by, "claimed_chain_time": self.claimed_time,
                "chain_time": self.chain_time, "chain_detail": self.chain_detail,
                "tsa_covered_by": self.tsa_covered_by, "claimed_tsa_time": self.tsa_claimed_time,
                "tsa_time": self.tsa_time, "tsa_detail": self.tsa_detail}


@dataclass(slots=True)
class VerificationReport:
    model_id: str
    disclosure: str
    record_count: int
    log_size: int
    signer_key_id: str
    signer_pinned: bool
    signer_public_key: str = ""
    checks: list[Check] = field(default_factory=list)
    heads: list[HeadStatus] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.passed for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "model_id": self.model_id,
            "disclosure": self.disclosure,
            "record_count": self.record_count,
            "log_size": self.log_size,
            "signer_public_key": self.signer_public_key,
            "signer_key_id": self.signer_key_id,
            "signer_pinned": self.signer_pinned,
            "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in self.checks],
            "heads": [h.to_json() for h in self.heads],
            "notes": self.notes,
        }


ChainChecker = Callable[[ProvenanceProof, VerificationReport], None]
TsaChecker = Callable[[ProvenanceProof, VerificationReport], str]


def verify_proof(
    proof: ProvenanceProof,
    *,
    trusted_key: PublicKey | str | None = None,
    local_chain: Path | None = None,
    chain_checker: ChainChecker | None = None,
    parents: Sequence[ProvenanceProof] = (),
    now: datetime | None = None,
    tsa_certs: Sequence[Any] | None = None,
) -> VerificationReport:
    """Verify ``proof``; return the report, or raise the first failure's VerificationError (report attached).

    ``trusted_key``: the signer's public key, obtained out of band (a :class:`PublicKey`, or its hex or PEM text).
    ``parents``: proofs of the models this one's runs name as parents (fine-tuned from, say); each is verified in
    turn and must hold the head the reference names. ``now``: the verifier's clock (default: the system's), which
    no timestamp in the proof may be more than a day ahead of. ``tsa_certs``: TSA certificates the verifier pins (PEM
    file paths or ``cryptography`` certificates): each ``tsa`` receipt's token must verify against one of them, and
    only then are the heads it covers dated by the TSA (needs the ``[tsa]`` extra).
    """
    tsa_checker: TsaChecker | None = None
    if tsa_certs is not None:
        from pot.anchors.tsa import token_checker

        tsa_checker = token_checker(tsa_certs)
    if isinstance(trusted_key, str):
        try:
            trusted_key = PublicKey.from_text(trusted_key)
        except FormatError as exc:
            raise UsageError(f"trusted_key: {exc}") from None
    elif trusted_key is not None and not isinstance(trusted_key, PublicKey):
        raise UsageError(f"trusted_key must be a PublicKey or its hex text, got {type(trusted_key).__name__}")
    with paused_gc():
        return _verify(proof, trusted_key, local_chain, chain_checker, parents, now or datetime.now(UTC), tsa_checker)


def _verify(proof: ProvenanceProof, trusted_key: PublicKey | None, local_chain: Path | None,
            chain_checker: ChainChecker | None, parents: Sequence[ProvenanceProof], now: datetime,
            tsa_checker: TsaChecker | None = None) -> VerificationReport:
    latest = proof.latest_head
    report = VerificationReport(
        model_id=proof.model_id, disclosure=proof.disclosure, record_count=len(proof.disclosed),
        log_size=latest.tree_size if latest else 0, signer_key_id=proof.signer.key_id,
        signer_pinned=trusted_key is not None, signer_public_key=proof.signer.hex,
        heads=[HeadStatus(e.head.tree_size, e.head.root_hash, e.head.timestamp) for e in proof.tree_heads])
    failures: list[VerificationError] = []

    def run(name: str, check: Callable[[], str]) -> None:
        try:
            detail = check()
        except VerificationError as exc:
            report.checks.append(Check(name, False, str(exc)))
            failures.append(exc)
        except PotError as exc:  # a backend check that could not run is a failure, never a pass
            report.checks.append(Check(name, False, str(exc)))
            failures.append(VerificationError(str(exc)))
        except Exception as exc:  # fail closed: a check that breaks on the input does not pass it
            message = f"the proof broke this check ({type(exc).__name__}: {exc})"
            report.checks.append(Check(name, False, message))
            failure = VerificationError(message)
            failure.check = name
            failures.append(failure)
        else:
            report.checks.append(Check(name, True, detail))

    run("signer", lambda: _check_signer(proof, trusted_key, report))
    run("records", lambda: _check_records(proof))
    run("tree-heads", lambda: _check_heads(proof))
    run("consistency", lambda: _check_consistency(proof))
    if proof.disclosure == "partial":
        run("inclusion", lambda: _check_inclusion(proof))
    run("timestamps", lambda: _check_timestamps(proof, now))
    run("lineage", lambda: check_events(proof.records, complete=proof.disclosure == "full"))
    run("anchors", lambda: _check_anchors(proof, report, now))
    run("summary", lambda: _check_summary(proof))
    run("proof-signature", lambda: _check_proof_signature(proof))
    if parent_references(proof.records):
        run("parents", lambda: _check_parents(proof, parents, trusted_key, report))
    if local_chain is not None:
        run("local-chain", lambda: _check_local_chain(proof, local_chain))
    if tsa_checker is not None:
        def tsa() -> str:
            assert tsa_checker is not None
            detail = tsa_checker(proof, report)
            _propagate_tsa_time(report)
            return detail
        run("tsa", tsa)
    if chain_checker is not None:
        def chain() -> str:
            assert chain_checker is not None
            chain_checker(proof, report)
            _propagate_chain_time(report)
            return "every chain receipt matches the chain"
        run("chain", chain)
    _note_unproven_times(report, checked_online=chain_checker is not None, tsa_checked=tsa_checker is not None)

    if failures:
        first = failures[0]
        first.report = report
        raise first
    return report


def _propagate_chain_time(report: VerificationReport) -> None:
    """A head covered by a later head's chain anchor existed by that anchor's block time: the earliest such (of
    equal times, the nearest head's: blocks seconds apart often share a time)."""
    best: tuple[str, str] | None = None
    for status in reversed(report.heads):
        if status.chain_time is not None and (best is None or status.chain_time <= best[0]):
            best = (status.chain_time, status.chain_detail or "")
        elif status.chain_time is None and best is not None:
            status.chain_time, status.chain_detail = best[0], f"covered by a later head: {best[1]}"


def _propagate_tsa_time(report: VerificationReport) -> None:
    """A head covered by a later head's checked TSA token existed by that token's time: the earliest such."""
    best: tuple[str, str] | None = None
    for status in reversed(report.heads):
        if status.tsa_time is not None and (best is None or status.tsa_time <= best[0]):
            best = (status.tsa_time, status.tsa_detail or "")
        elif status.tsa_time is None and best is not None:
            status.tsa_time, status.tsa_detail = best[0], f"covered by a later head: {best[1]}"


# --- the checks: each returns a one-line detail or raises the VerificationError subclass named for it ----------


def _check_signer(proof: ProvenanceProof, trusted: PublicKey | None, report: VerificationReport) -> str:
    if proof.signer_key_id is not None and proof.signer_key_id != proof.signer.key_id:
        raise SignerError("signer key_id is not the SHA-256 of the signer's public key")
    # Both forms: --trusted-key takes the public key, the heads and receipts name the key id.
    who = f"public key {proof.signer.hex} (key id {proof.signer.key_id[:16]}...)"
    if trusted is None:
        report.notes.append("the signer's key was not pinned (--trusted-key): this proves the document is "
                            "self-consistent, not who signed it")
        return f"signed by {who}, NOT pinned"
    if trusted != proof.signer:
        raise SignerError(f"proof is signed by {who}, not by the trusted public key {trusted.hex}")
    return f"signed by the trusted {who}"


def _check_records(proof: ProvenanceProof) -> str:
    log_size = proof.latest_head.tree_size if proof.latest_head else 0
    previous = -1
    for i, item in enumerate(proof.disclosed):
        record = item.record
        if item.claimed_id != record.record_id:
            raise RecordError(f"record {i}: its id is not the hash of its content (changed after signing?)")
        if record.model_id != proof.model_id:
            raise RecordError(f"record {i} belongs to model {record.model_id!r}, not {proof.model_id!r}")
        seq = record.seq
        if proof.disclosure == "full" and seq != i:
            raise RecordError(f"record {i} has seq {seq}: records are missing, duplicated or out of order")
        if seq <= previous or seq >= log_size:
            raise RecordError(f"record {i} has seq {seq}, out of order or outside the log of {log_size}")
        previous = seq
    return f"{len(proof.disclosed)} record(s), ids match content"


def _check_heads(proof: ProvenanceProof) -> str:
    if not proof.tree_heads:
        raise TreeHeadError("the proof has no signed tree head")
    frontier = Frontier() if proof.disclosure == "full" else None
    leaves = [bytes.fromhex(d.record.record_id) for d in proof.disclosed]
    previous_hash: str | None = None
    previous_size = 0
    for i, entry in enumerate(proof.tree_heads):
        head = entry.head
        where = f"tree head {i} (size {head.tree_size})"
        if head.model_id != proof.model_id:
            raise TreeHeadError(f"{where} is for model {head.model_id!r}")
        if head.key_id != proof.signer.key_id:
            raise TreeHeadError(f"{where} names another signing key")
        if not entry.signed.signature_valid(proof.signer):
            raise TreeHeadError(f"{where}: signature does not verify")
        if head.prev_head != previous_hash:
            raise TreeHeadError(f"{where} does not link to the head before it")
        if (head.tree_size <= previous_size and i > 0) or head.tree_size == 0:
            raise TreeHeadError(f"{where}: sizes must grow from head to head")
        if frontier is not None:
            if head.tree_size > len(leaves):
                raise TreeHeadError(f"{where} covers more records than the proof holds")
            frontier.extend(leaves[frontier.size:head.tree_size])
            if frontier.root().hex() != head.root_hash:
                raise TreeHeadError(f"{where}: root does not match the records")
        previous_hash, previous_size = head.head_hash, head.tree_size
    if frontier is not None and previous_size != len(leaves):
        raise TreeHeadError(f"the latest head covers {previous_size} records but the proof holds {len(leaves)}")
    what = "roots recomputed from the records" if frontier is not None else "signatures and links"
    return f"{len(proof.tree_heads)} signed head(s), {what}"


def _check_consistency(proof: ProvenanceProof) -> str:
    old_size, old_root = 0, bytes(32)
    for i, entry in enumerate(proof.tree_heads):
        head = entry.head
        path = [bytes.fromhex(h) for h in entry.consistency]
        new_root = bytes.fromhex(head.root_hash)
        ok = not path if i == 0 else verify_consistency(old_size, head.tree_size, path, old_root, new_root)
        if not ok:
            raise ConsistencyError(f"tree head {i} (size {head.tree_size}) is not an extension of the head before "
                                   "it")
        old_size, old_root = head.tree_size, new_root
    return f"{max(len(proof.tree_heads) - 1, 0)} consistency proof(s) between consecutive heads"


def _check_inclusion(proof: ProvenanceProof) -> str:
    latest = proof.latest_head
    if latest is None:
        raise InclusionError("no tree head to prove inclusion against")
    root = bytes.fromhex(latest.root_hash)
    for i, item in enumerate(proof.disclosed):
        path = [bytes.fromhex(h) for h in item.inclusion or ()]
        seq = item.record.seq
        if not verify_inclusion(bytes.fromhex(item.record.record_id), seq, latest.tree_size, path, root):
            raise InclusionError(f"record {i} (seq {seq}) is not in the log of the latest head")
    return f"{len(proof.disclosed)} record(s) included in the head of size {latest.tree_size}"


def _check_timestamps(proof: ProvenanceProof, now: datetime) -> str:
    # Timestamps are fixed-width RFC 3339 UTC strings, so string order is time order.
    heads = [e.head for e in proof.tree_heads]
    h = 0
    for item in proof.disclosed:
        record = item.record
        seq = record.seq
        while h < len(heads) and heads[h].tree_size <= seq:
            h += 1
        if h == len(heads):
            break  # reported by the tree-heads check
        if record.timestamp > heads[h].timestamp:
            raise TimestampError(f"record seq {seq} is dated {record.timestamp}, after the head that first "
                                 f"covers it ({heads[h].timestamp})")
    for a, b in itertools.pairwise(heads):
        if b.timestamp < a.timestamp:
            raise TimestampError(f"tree head of size {b.tree_size} is dated before the head before it")
    if heads and heads[-1].timestamp > proof.proof_timestamp:
        raise TimestampError("the latest tree head is dated after the proof")
    by_hash: dict[str, TreeHead] = {head.head_hash: head for head in heads}
    for n, receipt in enumerate(proof.anchors):
        head = by_hash.get(receipt.head_hash)
        if head is not None and receipt.timestamp < head.timestamp:
            raise TimestampError(f"anchor receipt {n} is dated before the head it anchors")
        if receipt.timestamp > proof.proof_timestamp:
            raise TimestampError(f"anchor receipt {n} is dated after the proof")
    try:
        horizon = format_timestamp(now + timedelta(seconds=FUTURE_ALLOWANCE_SECONDS))  # to the microsecond
    except OverflowError:  # a clock within a day of the end of the range: no timestamp is later than that
        horizon = "9999-12-31T23:59:59.999999Z"
    if proof.proof_timestamp > horizon:
        raise TimestampError(f"the proof is dated {proof.proof_timestamp}, more than a day after this verifier's "
                             f"clock ({format_timestamp(now)})")
    return "every record predates the head that covers it; no date is in the future"


def _check_anchors(proof: ProvenanceProof, report: VerificationReport, now: datetime) -> str:
    heads: dict[str, tuple[int, TreeHead]] = {e.head.head_hash: (i, e.head) for i, e in enumerate(proof.tree_heads)}
    seen: set[tuple[str, str]] = set()
    counts: dict[str, int] = {}
    entries: dict[int, dict[str, Any]] = {}  # local chain index -> entry, across this proof's receipts
    claimed: dict[int, int] = {}  # head index -> earliest time its own chain receipts claim (Unix seconds)
    tsa_claimed: dict[int, tuple[int, str]] = {}  # head index -> earliest time its own TSA receipts claim
    horizon = int(now.timestamp()) + FUTURE_ALLOWANCE_SECONDS
    for n, receipt in enumerate(proof.anchors):
        where = f"anchor receipt {n} ({receipt.backend})"
        if receipt.head_hash not in heads:
            raise AnchorReceiptError(f"{where} names a head that is not in the proof")
        index, head = heads[receipt.head_hash]
        if receipt.root_hash != head.root_hash:
            raise AnchorReceiptError(f"{where}: root does not match its head")
        if receipt.key_id != proof.signer.key_id or not receipt.signature_valid(proof.signer):
            raise AnchorReceiptError(f"{where}: signature does not verify")
        if (receipt.head_hash, receipt.backend) in seen:
            raise AnchorReceiptError(f"{where}: head {head.tree_size} has two receipts from this backend")
        seen.add((receipt.head_hash, receipt.backend))
        check = OFFLINE_CHECKS.get(receipt.backend)
        if check is None:
            raise AnchorReceiptError(f"{where}: unknown anchor backend {receipt.backend!r}")
        check(receipt, head, proof.signer)
        if receipt.backend == "localchain":
            # One chain file cannot hold two different entries at one index: a proof that shows both shows a
            # forked (rewritten) local chain.
            entry = receipt.details["entry"]
            if entries.setdefault(entry["index"], entry) != entry:
                raise AnchorReceiptError(f"{where}: local chain entry {entry['index']} differs from another "
                                         "receipt's entry at that index (the local chain was rewritten)")
        claimed_time = CLAIMED_TIMES.get(receipt.backend)
        if claimed_time is not None:
            moment = claimed_time(receipt)
            if moment is not None:
                if moment > horizon:
                    raise AnchorReceiptError(f"{where}: its time {moment} is more than a day after this "
                                             "verifier's clock")
                if STRENGTHS.get(receipt.backend) == "chain":
                    claimed[index] = min(moment, claimed.get(index, moment))
                elif STRENGTHS.get(receipt.backend) == "tsa":
                    stated = (moment, str(receipt.details["gen_time"]))
                    tsa_claimed[index] = min(stated, tsa_claimed.get(index, stated))
        report.heads[index].anchors.append(receipt.backend)
        counts[receipt.backend] = counts.get(receipt.backend, 0) + 1
    covering: int | None = None
    local_covering: int | None = None
    tsa_covering: int | None = None
    earliest: int | None = None
    tsa_earliest: tuple[int, str] | None = None
    bounds: list[tuple[int, str] | None] = [None] * len(report.heads)  # per head: the earliest claimed time, whose
    for index in range(len(report.heads) - 1, -1, -1):  # consistency proofs make every head a prefix of later ones
        status = report.heads[index]
        if any(STRENGTHS.get(b) == "chain" for b in status.anchors):
            covering = status.tree_size
        if any(STRENGTHS.get(b) == "tsa" for b in status.anchors):
            tsa_covering = status.tree_size
        if index in tsa_claimed and (tsa_earliest is None or tsa_claimed[index] < tsa_earliest):
            tsa_earliest = tsa_claimed[index]
        status.tsa_covered_by = tsa_covering
        status.tsa_claimed_time = None if tsa_earliest is None else tsa_earliest[1]
        if status.anchors:
            local_covering = status.tree_size
        status.locally_covered_by = local_covering
        if index in claimed and (earliest is None or claimed[index] < earliest):
            earliest = claimed[index]
        status.covered_by = covering
        status.claimed_time = None if earliest is None else _timestamp_at(earliest)
        # The records of a head predate every time claimed for it, a chain's or a TSA's (section 8.9).
        candidates = ([(earliest, "the block time")] if earliest is not None else []) + (
            [(tsa_earliest[0], "the TSA token time")] if tsa_earliest is not None else [])
        bounds[index] = min(candidates) if candidates else None
    _check_records_predate_claims(proof, bounds)
    summary = ", ".join(f"{count} {backend}" for backend, count in sorted(counts.items())) or "none"
    return f"receipts: {summary}"


def _check_records_predate_claims(proof: ProvenanceProof, bounds: Sequence[tuple[int, str] | None]) -> None:
    """No record is dated after the earliest time a chain or TSA receipt covering it claims, beyond the allowance
    (compared in whole seconds, the resolution of block times). Offline the claimed time is the signer's word, but a
    signer whose records contradict their own receipts is caught without any chain."""
    h = 0
    sizes = [entry.head.tree_size for entry in proof.tree_heads]
    limits: dict[int, str] = {}
    for item in proof.disclosed:
        record = item.record
        while h < len(sizes) and sizes[h] <= record.seq:
            h += 1
        if h == len(sizes) or bounds[h] is None:
            continue
        found = bounds[h]
        assert found is not None
        bound, what = found
        limit = limits.get(bound)
        if limit is None:
            limit = limits[bound] = _timestamp_at(bound + TIME_ALLOWANCE_SECONDS)[:19]
        if record.timestamp[:19] > limit:  # fixed-width UTC timestamps: string order is time order
            raise AnchorReceiptError(f"record seq {record.seq} is dated {record.timestamp}, after {what} "
                                     f"{_timestamp_at(bound)} of an anchor covering it (allowing "
                                     f"{TIME_ALLOWANCE_SECONDS} s)")


_LAST_SECOND = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second a timestamp can name


def _timestamp_at(unix_seconds: int) -> str:
    """The timestamp of a Unix second; past the last one a timestamp can name, that one (so "later than this"
    stays false for every timestamp instead of overflowing)."""
    if unix_seconds >= _LAST_SECOND:
        return "9999-12-31T23:59:59.999999Z"
    return format_timestamp(datetime.fromtimestamp(unix_seconds, UTC))


def _note_unproven_times(report: VerificationReport, *, checked_online: bool, tsa_checked: bool = False) -> None:
    """Say, for the heads whose time rests on the signer's word, why: the report claims no more than was checked."""
    heads = report.heads
    unanchored = sum(1 for h in heads if h.strength == "none")
    if unanchored:
        report.notes.append(f"{unanchored} tree head(s) are not anchored, nor covered by a later anchored head, yet")
    unchecked = [h for h in heads if h.strength == "chain-unchecked"]
    if unchecked:
        how = ("the chain check did not date them" if checked_online else
               "check them against the chain with pot verify --rpc URL")
        report.notes.append(f"{len(unchecked)} of {len(heads)} tree head(s) are covered by a chain receipt that was "
                            f"NOT checked against a chain ({how}): until then only the signer's key vouches for "
                            "that transaction and its block time")
    unchecked_tsa = [h for h in heads if h.strength == "tsa-unchecked"]
    if unchecked_tsa:
        how = ("no pinned certificate dated them" if tsa_checked else
               "pin the TSA's certificate with pot verify --tsa-cert PEM")
        report.notes.append(f"{len(unchecked_tsa)} of {len(heads)} tree head(s) are covered by a TSA token that was "
                            f"NOT checked against a TSA certificate the verifier pins ({how}): until then only the "
                            "signer's key vouches for that token and its time")
    local = sum(1 for h in heads if h.strength in ("local", "none"))
    if local:
        other = " or a TSA token" if any(h.tsa_covered_by is not None for h in heads) else ""
        report.notes.append(f"{local} of {len(heads)} tree head(s) are not covered by a chain receipt{other}: for "
                            "those, only the signer's key vouches for when they existed")


def _check_summary(proof: ProvenanceProof) -> str:
    latest = proof.latest_head
    if latest is None or proof.merkle_root != latest.root_hash:
        raise SummaryError("merkle_root is not the root of the latest tree head")
    if proof.disclosure == "full":
        checkpoints = [r for r in proof.records if isinstance(r, TrainingCheckpoint)]
        expected_final = checkpoints[-1].model_hash if checkpoints else None
    else:
        expected_final = None
    if proof.final_model_hash != expected_final:
        raise SummaryError("final_model_hash is not the model hash of the last training checkpoint")
    if proof.blockchain_transactions != chain_transactions(proof.anchors):
        raise SummaryError("blockchain_transactions are not the transactions of the chain receipts")
    stated = dict(proof.verification_metadata)
    expected = expected_metadata(proof)
    # The generator names the software that wrote the proof: any pot version may have, so it is only a label.
    if not isinstance(stated.pop("generator", None), str):
        raise SummaryError("verification_metadata.generator must name the software that wrote the proof")
    expected.pop("generator")
    if stated != expected:
        raise SummaryError("verification_metadata does not describe the proof's content")
    return "final model hash, merkle root, transactions and metadata match the content"


def _check_proof_signature(proof: ProvenanceProof) -> str:
    if not proof.signer.verify(DOMAIN_PROOF, signed_view(proof.body()), proof.signature_hash):
        raise ProofSignatureError("the signature over the proof document does not verify")
    return "the whole document is signed by the signer"


def _check_parents(proof: ProvenanceProof, parents: Sequence[ProvenanceProof], trusted: PublicKey | None,
                   report: VerificationReport) -> str:
    """Each parent proof a run names: verified (pinned to the trusted key when it is the same signer) and holding
    the referenced head. A parent not supplied is listed in the report's notes, not passed."""
    supplied = {p.model_id: p for p in parents}
    checked, missing = 0, []
    for seq, parent in parent_references(proof.records):
        reference = parent["proof"]
        candidate = supplied.get(reference["model_id"])
        if candidate is None:
            missing.append(reference["model_id"])
            continue
        pin = trusted if trusted is not None and trusted.key_id == reference["key_id"] else None
        try:
            verify_proof(candidate, trusted_key=pin)
        except VerificationError as exc:
            raise ParentProofError(f"record seq {seq}: parent proof of {reference['model_id']!r} does not verify: "
                                   f"{exc.check}: {exc}") from None
        ok, detail = check_reference(candidate, reference)
        if not ok:
            raise ParentProofError(f"record seq {seq}: {detail}")
        if pin is None:
            report.notes.append(f"parent proof of {reference['model_id']!r} verified, but its signer "
                                f"{reference['key_id'][:16]}... was not pinned")
        checked += 1
    if missing:
        report.notes.append(f"parent proof(s) not supplied, so not checked: {', '.join(sorted(set(missing)))} "
                            "(pot verify --parent FILE)")
    return f"{checked} parent proof(s) verified and holding the referenced heads" + (
        f"; {len(missing)} not supplied" if missing else "")


def _check_local_chain(proof: ProvenanceProof, path: Path) -> str:
    """The file verifies end to end under the signer's key (LocalChain.audit: entries, links, signatures, one head
    per model and size), holds each local receipt's entry, and anchors no head of this model that contradicts the
    proof: none of the proof's sizes with another head, and (full proofs) no root the proof's records do not give."""
    try:
        audit = LocalChain(path).audit(proof.signer)
    except PotError as exc:
        raise AnchorReceiptError(f"local chain {path}: {exc}") from exc
    local = [r for r in proof.anchors if r.backend == "localchain"]
    for receipt in local:
        entry = receipt.details["entry"]
        if not audit.holds(entry):
            raise AnchorReceiptError(f"local chain {path} does not hold the entry for head {entry['tree_size']}")
    anchored = {size: held for (model, size), held in audit.heads.items() if model == proof.model_id}
    for signed in proof.tree_heads:
        head = signed.head
        held = anchored.get(head.tree_size)
        if held is not None and held.head_hash != head.head_hash:
            raise AnchorReceiptError(
                f"equivocation: local chain {path} line {held.index + 1} anchors another head of size "
                f"{head.tree_size} for {proof.model_id!r} (root {held.root_hash[:16]}...) than the proof's (root "
                f"{head.root_hash[:16]}...): the log was changed after it was anchored")
    checked = len(anchored)
    if proof.disclosure == "full":
        # Sizes the proof has no head for can still be checked: the records give the root of every prefix.
        leaves = [bytes.fromhex(d.record.record_id) for d in proof.disclosed]
        frontier = Frontier()
        for size in sorted(s for s in anchored if s <= len(leaves)):
            frontier.extend(leaves[frontier.size:size])
            if frontier.root().hex() != anchored[size].root_hash:
                raise AnchorReceiptError(
                    f"equivocation: local chain {path} line {anchored[size].index + 1} anchors a root for the first "
                    f"{size} records of {proof.model_id!r} that the proof's records do not give: the log was changed "
                    "after it was anchored")
    return (f"{audit.count} entries intact, one head per model and size; holds all {len(local)} local receipt(s); "
            f"none of the {checked} entr{'y' if checked == 1 else 'ies'} for this model contradicts the proof")


def find_checkpoint_file(proof: ProvenanceProof, path: Path | str, *, sha256: str | None = None) -> dict[str, Any]:
    """Is the file (or directory) at ``path`` something this proof recorded? Compares digests two ways:

    - the file's SHA-256 (a directory's ``pot.file-set.v1`` digest) with every checkpoint's ``file_sha256``;
    - for a weights file (``.safetensors``, or a PyTorch state dict: ``.pt``/``.pth``/``.bin``/``.ckpt``, read with
      ``torch.load(weights_only=True)`` when torch is installed), its ``pot.model-hash.v1`` weights digest with every
      model hash the proof records (checkpoints, validations, promotions), so a released weights file is found
      whatever file it was saved in.

    Returns ``{"recorded": bool, "sha256", "weights_digest" (or None), "matches": [{"by": "file" | "weights", "seq",
    "kind", "record_id", "epoch" (checkpoints), "file_name"}], "message"}``. Only meaningful once the proof itself
    verifies. ``sha256``: the file's digest when the caller has just computed it (it is not read twice).
    """
    from pot.hashing import checkpoint_digest

    digest = sha256 if sha256 is not None else checkpoint_digest(path)
    weights, why_not = _weights_digest(Path(path))
    matches: list[dict[str, Any]] = []
    for record in proof.records:
        model_hashes = _model_hashes(record)
        by = ("file" if isinstance(record, TrainingCheckpoint) and record.file_sha256 == digest else
              "weights" if weights is not None and weights in model_hashes else None)
        if by is not None:
            matches.append({"by": by, "seq": record.seq, "kind": _kind_name(record), "record_id": record.record_id,
                            "epoch": getattr(record, "epoch", None), "file_name": getattr(record, "file_name", None)})
    shown = f"{path} (sha256 {digest[:16]}..." + (f", weights digest {weights[:16]}..." if weights else "") + ")"
    if matches:
        where = "; ".join(describe_match(m) for m in matches)
        message = f"{shown} was recorded: {where}"
    else:
        files = sum(1 for r in proof.training_chain if r.file_sha256)
        hashes = len({h for r in proof.records for h in _model_hashes(r)})
        message = (f"{shown} is NOT a file or weights this proof recorded ({files} checkpoint file(s), {hashes} "
                   "model hash(es))" + (f"; {why_not}" if why_not else ""))
    return {"recorded": bool(matches), "sha256": digest, "weights_digest": weights, "matches": matches,
            "message": message}


_WEIGHTS_SUFFIXES = {".pt", ".pth", ".bin", ".ckpt"}


def _weights_digest(path: Path) -> tuple[str | None, str | None]:
    """(the weights digest of a weights file, or None; why there is none, when the file looked like weights)."""
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from pot.hashing import hash_safetensors

        try:
            return hash_safetensors(path).digest, None
        except PotError as exc:
            return None, f"not read as safetensors weights ({exc})"
    if suffix not in _WEIGHTS_SUFFIXES or not path.is_file():
        return None, None
    try:
        import torch
    except ImportError:
        return None, "torch is not installed, so its weights were not compared (pip install 'pot-provenance[torch]')"
    from pot.integrations.torch import hash_model

    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a file that is no state dict; the match just fails
        return None, f"not read as PyTorch weights ({type(exc).__name__})"
    state = loaded.get("state_dict", loaded) if isinstance(loaded, dict) else None  # a Lightning checkpoint nests it
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        return None, "not a state dict of tensors"
    try:
        return hash_model(state).digest, None
    except PotError as exc:
        return None, f"its weights cannot be digested ({exc})"


def _model_hashes(record: Any) -> set[str]:
    hashes = {getattr(record, "model_hash", None)}
    data = getattr(record, "data", None)
    if isinstance(data, dict):
        hashes |= {data.get("model_hash"), data.get("to_model_hash")}
    return {h for h in hashes if isinstance(h, str)}


def _kind_name(record: Any) -> str:
    return str(getattr(record, "event", None) or record.KIND)


def describe_match(match: dict[str, Any]) -> str:
    """One match of :func:`find_checkpoint_file` (or a directory recorded whole: ``by`` "directory") in words."""
    when = f" at epoch {match['epoch']}" if match["epoch"] is not None else ""
    how = {"file": "as this file", "weights": "as these weights"}.get(match["by"], "as part of the directory")
    return f"{how}{when} (record {match['seq']}, {match['kind']})"
