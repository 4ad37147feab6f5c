"""What the server's routes do, free of HTTP: sequencing record batches, signing heads, proofs, reads.

Every function takes the store and (where it signs) the organisation's key as arguments; nothing is kept between
calls, so any number of server processes may share one database.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from pot.errors import FormatError, PotError, StoreError, UsageError
from pot.lineage.registry import index_event
from pot.log.canonical import MAX_SAFE_INTEGER
from pot.log.heads import SignedTreeHead, TreeHead
from pot.log.keys import SigningKey
from pot.log.merkle import Frontier
from pot.log.prepared import CompletedRecord, PreparedRecord
from pot.log.proof import ProvenanceProof, build_proof
from pot.log.records import RECORD_KINDS, EventRecord, Record, check_name, format_timestamp
from pot.log.store import LogStore

MAX_BATCH = 1000  # records in one POST; a recorder's spool sends smaller batches
MAX_PAGE = 1000  # records in one page of GET .../log
SERVER_FIELDS = ("model_id", "seq", "lamport")  # filled in by the server, never taken from a client


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """What ``pot serve`` runs with (see docs/SERVER.md)."""

    root: Path  # the store directory: the SQLite store, or (with database) only the key and local files
    database: str | None  # a postgresql:// URL, or None for SQLite in root
    key_file: Path  # the organisation's signing key (POT_KEY_FILE)
    private: bool = False  # reads need a token too
    max_body: int = 8 << 20  # bytes in one request body
    rate: float = 20.0  # requests per second per token (or per client address without one), sustained
    burst: int = 100  # requests a client may make at once before the rate applies
    anchor_interval: float | None = None  # seconds between aggregated anchors (pot.server.anchoring); None: none


@dataclass(frozen=True, slots=True)
class Appended:
    idempotency_key: str
    record_id: str
    seq: int
    duplicate: bool  # sent before: nothing was added
    lamport: int | None = None  # the record's Lamport stamp (None for a duplicate stored before it was remembered)

    def to_json(self) -> dict[str, Any]:
        return {"idempotency_key": self.idempotency_key, "id": self.record_id, "seq": self.seq,
                "duplicate": self.duplicate, "lamport": self.lamport}


class _Duplicate(Exception):
    """Control flow inside an append: the idempotency key was seen before (never seen outside this module)."""

    def __init__(self, stored: str) -> None:
        self.stored = stored


def _idempotency_setting(model_id: str, key: str) -> str:
    """The settings key remembering ``key`` for ``model_id``; JSON, so no model id and key pair spells another's."""
    return "idempotency:" + json.dumps([model_id, key], separators=(",", ":"), ensure_ascii=False)


def parse_batch(model_id: str, document: Any) -> list[tuple[str, type[Record], dict[str, Any], int]]:
    """A batch ``{"records": [{"idempotency_key": K, "type": T, "fields": {...}, "lamport": L}, ...]}`` checked:
    (key, kind, fields, L) per item (``lamport``, the sending node's clock, is optional: 0). FormatError names the
    first bad item. Here only the batch's shape is checked, and that each record names its node; each record's
    fields are checked by its kind when it is appended."""
    check_name(model_id, "model id")
    if not isinstance(document, dict) or set(document) != {"records"} or not isinstance(document["records"], list):
        raise FormatError('a batch is {"records": [{"idempotency_key": ..., "type": ..., "fields": {...}}, ...]}')
    items = document["records"]
    if not 1 <= len(items) <= MAX_BATCH:
        raise FormatError(f"a batch holds 1 to {MAX_BATCH} records, not {len(items)}")
    out: list[tuple[str, type[Record], dict[str, Any], int]] = []
    keys: set[str] = set()
    for i, item in enumerate(items):
        where = f"records[{i}]"
        if not isinstance(item, dict) or not {"idempotency_key", "type", "fields"} <= set(item) <= {
                "idempotency_key", "type", "fields", "lamport"}:
            raise FormatError(f"{where} must be an object with idempotency_key, type and fields (and optionally "
                              "lamport)")
        stamp = item.get("lamport", 0)
        if isinstance(stamp, bool) or not isinstance(stamp, int) or not 0 <= stamp < MAX_SAFE_INTEGER:
            raise FormatError(f"{where}.lamport must be an integer in 0..2**53-2 (the sending node's clock)")
        key = check_name(item["idempotency_key"], f"{where}.idempotency_key")
        if key in keys:
            raise FormatError(f"{where}.idempotency_key {key!r} appears twice in the batch")
        keys.add(key)
        kind = RECORD_KINDS.get(item["type"]) if isinstance(item["type"], str) else None
        if kind is None:
            raise FormatError(f"{where}.type must be one of {', '.join(sorted(RECORD_KINDS))}")
        fields = item["fields"]
        if not isinstance(fields, dict):
            raise FormatError(f"{where}.fields must be an object")
        taken = sorted(set(fields) & {*SERVER_FIELDS, "type", kind.ID_FIELD})
        if taken:
            raise FormatError(f"{where}.fields may not set {', '.join(taken)}: the server fills them in")
        if fields.get("node_id") is None:
            raise FormatError(f"{where}.fields must name the node that made the record (node_id), as the "
                              "recorder does")
        out.append((key, kind, dict(fields), stamp))
    return out


def append_batch(store: LogStore, key: SigningKey, model_id: str, document: Any, *,
                 clock: Callable[[], datetime] | None = None) -> tuple[list[Appended], SignedTreeHead | None]:
    """Append a batch to ``model_id``'s log, in order, then sign a head over it; return what each record became
    and the latest head (which covers the batch).

    Each record is appended with its idempotency key in one transaction (under the log's write lock): a key the
    log has seen before adds nothing and answers with the record it added then, so a batch sent again after a lost
    answer never duplicates. A record whose fields do not check out stops the batch there (FormatError naming it);
    the records before it stay appended, and sending the batch again appends only the rest.
    """
    now = clock or (lambda: datetime.now(UTC))
    items = parse_batch(model_id, document)
    done: list[Appended] = []
    try:
        _append_items(store, model_id, items, now, done)
    except FormatError:
        if any(not a.duplicate for a in done):
            sign_head(store, key, model_id, now)  # what was appended before the bad record is signed all the same
        raise
    return done, sign_head(store, key, model_id, now) or store.latest_head(model_id)


def _append_items(store: LogStore, model_id: str, items: list[tuple[str, type[Record], dict[str, Any], int]],
                  now: Callable[[], datetime], done: list[Appended]) -> None:
    """Append ``items`` in order, adding to ``done`` what each became.

    Every record is checked first; the ones before the first that does not check out are appended in one
    transaction (one commit per batch, not per record), then that record's FormatError is raised. If the
    transaction fails for any reason but the store's (an index refuses a record), nothing of it stays and the
    records are appended one transaction each instead, so that exactly the records before the one refused stay.
    """
    prepared: list[tuple[str, PreparedRecord, int, str]] = []
    error: FormatError | None = None
    for i, (ikey, kind, fields, sent) in enumerate(items):
        # Every record the server appends names its node and gets the Lamport stamp max(the sending node's clock,
        # the log's last stamp + 1): appending is the node's message being received, merged as the local recorder
        # merges (pot.lineage.lamport). So the stamps of one log only increase, whichever node sent what.
        values = {"timestamp": format_timestamp(now()), **fields, "model_id": model_id, "seq": 0, "lamport": 1}
        try:
            prepared.append((ikey, kind.prepare_new(values), sent, _idempotency_setting(model_id, ikey)))
        except FormatError as exc:
            error = FormatError(f"records[{i}] ({kind.KIND}): {exc}")
            break
    try:
        done.extend(_append_together(store, model_id, prepared))
    except StoreError:
        raise
    except PotError:
        for i, item in enumerate(prepared):  # rolled back: one by one, so that what comes before the refused one stays
            try:
                done.append(_append_one(store, model_id, *item))
            except StoreError:
                raise
            except PotError as exc:  # named, so that a client can set this record aside and send the rest
                raise FormatError(f"records[{i}] ({items[i][1].KIND}): {exc}") from None
    if error is not None:
        raise error


def _append_together(store: LogStore, model_id: str, prepared: list[tuple[str, PreparedRecord, int, str]]
                     ) -> list[Appended]:
    """The batch's records in one transaction under the log's lock: the idempotency keys looked up together,
    the records whose key is new inserted together, their keys remembered together."""
    answers: list[Appended | None] = []
    fresh: list[tuple[str, str]] = []  # (idempotency key, setting) of each record appended, in order

    def plan(conn: Any) -> list[Callable[[int, int], CompletedRecord]]:
        answers.clear()
        fresh.clear()
        settings = [item[3] for item in prepared]
        seen: dict[str, str] = {}
        for at in range(0, len(settings), 500):  # SQLite takes up to 32,766 parameters; 500 stays far below
            chunk = settings[at:at + 500]
            marks = ", ".join("?" * len(chunk))
            for key, value in conn.execute(f"SELECT key, value FROM settings WHERE key IN ({marks})",
                                           tuple(chunk)).fetchall():
                seen[str(key)] = str(value)
        makes: list[Callable[[int, int], CompletedRecord]] = []
        for ikey, record, sent, setting in prepared:
            if setting in seen:
                answers.append(_duplicate(ikey, seen[setting]))
                continue
            answers.append(None)
            fresh.append((ikey, setting))
            makes.append(partial(_stamped, record, sent))
        return makes

    def after(conn: Any, made: list[CompletedRecord]) -> None:
        for record in made:
            if record.kind is EventRecord:
                event = record.record()
                assert isinstance(event, EventRecord)
                index_event(conn, event)
        rows = [(setting, json.dumps({"id": r.record_id, "seq": r.seq, "lamport": r.lamport}))
                for (_, setting), r in zip(fresh, made, strict=True)]
        conn.executemany("INSERT INTO settings VALUES (?, ?)", rows)  # sqlite3's, or the PostgreSQL Adapter's

    made = iter(store.append_many(model_id, plan, after))
    out = []
    for (ikey, *_), answer in zip(prepared, answers, strict=True):
        if answer is None:
            record = next(made)
            answer = Appended(ikey, record.record_id, record.seq, False, record.lamport)
        out.append(answer)
    return out


def _stamped(prepared: PreparedRecord, sent: int, seq: int, last: int) -> CompletedRecord:
    return prepared.complete(seq, max(sent, last + 1))


def _append_one(store: LogStore, model_id: str, ikey: str, prepared: PreparedRecord, sent: int, setting: str
                ) -> Appended:
    """Append one record with its idempotency key in a transaction of its own (or answer with the record the key
    added before)."""

    def index(conn: Any, record: Record) -> None:
        row = conn.execute("SELECT value FROM settings WHERE key = ?", (setting,)).fetchone()
        if row is not None:
            raise _Duplicate(str(row[0]))
        if isinstance(record, EventRecord):
            index_event(conn, record)
        conn.execute("INSERT INTO settings VALUES (?, ?)",
                     (setting, json.dumps({"id": record.record_id, "seq": record.seq, "lamport": record.lamport})))

    try:
        made = store.append(model_id, partial(_stamped, prepared, sent), index=index)
    except _Duplicate as dup:
        return _duplicate(ikey, dup.stored)
    return Appended(ikey, made.record_id, made.seq, False, made.lamport)


def _duplicate(ikey: str, stored_text: str) -> Appended:
    stored = json.loads(stored_text)
    return Appended(ikey, str(stored["id"]), int(stored["seq"]), True, stored.get("lamport"))


def sign_head(store: LogStore, key: SigningKey, model_id: str,
              clock: Callable[[], datetime] | None = None) -> SignedTreeHead | None:
    """Sign a head over everything in ``model_id``'s log, unless the latest head covers it already.

    The process keeps each log's Merkle frontier from its last signing, so a head costs the leaves appended since
    (O(batch + log n)), not a read of the whole log. A frontier over leaves 0..n-1 stays right for good: a log only
    grows, and the leaves after it are read from the store each time, whichever process appended them.
    """
    now = clock or (lambda: datetime.now(UTC))
    with _FRONTIERS_LOCK:
        cached = _FRONTIERS.setdefault(store, {}).get(model_id)
    start = cached.copy() if cached is not None else Frontier()
    built: list[Frontier] = []

    def make(latest: SignedTreeHead | None, leaves: list[bytes], newest: str | None) -> SignedTreeHead | None:
        frontier = start.copy()  # make may run again (a transaction retried): each run starts from the cache
        frontier.extend(leaves)
        built[:] = [frontier]
        if frontier.size == 0 or (latest is not None and latest.head.tree_size >= frontier.size):
            return None
        # A head is never dated before what it covers, even if the wall clock stepped back: the leaves before
        # ``start`` are covered by a head this process signed, which the latest head is never dated before.
        timestamp = max(t for t in (format_timestamp(now()), newest, latest.head.timestamp if latest else None)
                        if t is not None)
        head = TreeHead(model_id=model_id, tree_size=frontier.size, root_hash=frontier.root().hex(),
                        prev_head=latest.head.head_hash if latest else None, timestamp=timestamp,
                        key_id=key.key_id)
        return SignedTreeHead.sign(head, key)

    head = store.add_head(model_id, make, known_leaves=start.size)
    if built:
        with _FRONTIERS_LOCK:
            known = _FRONTIERS.setdefault(store, {})
            if model_id not in known or known[model_id].size < built[0].size:
                known[model_id] = built[0]
    return head


# Each store's log frontiers, as this process last signed them (see sign_head); forgotten with the store.
_FRONTIERS: weakref.WeakKeyDictionary[LogStore, dict[str, Frontier]] = weakref.WeakKeyDictionary()
_FRONTIERS_LOCK = threading.Lock()


def log_page(store: LogStore, model_id: str, start: int, limit: int) -> dict[str, Any]:
    """Records ``start`` .. ``start + limit`` of a log, each as a proof carries it (its id and body)."""
    store.require_model(model_id)
    if start < 0 or not 1 <= limit <= MAX_PAGE:
        raise UsageError(f"start must be 0 or more and limit 1 to {MAX_PAGE}")
    size = store.size(model_id)
    end = min(size, start + limit)
    records = [r.to_json() for r in store.records(model_id, start, end)] if start < size else []
    return {"model_id": model_id, "size": size, "start": start, "records": records,
            "next": end if end < size else None}


def heads(store: LogStore, model_id: str) -> dict[str, Any]:
    store.require_model(model_id)
    return {"model_id": model_id, "heads": [{"head": h.head.body(), "head_hash": h.head.head_hash,
                                             "signature": h.signature} for h in store.heads(model_id)]}


def proof(store: LogStore, key: SigningKey, model_id: str, disclose: Sequence[str] = ()) -> ProvenanceProof:
    """The proof of ``model_id``'s log up to its latest head: full, or partial disclosing the records ``disclose``
    names by id."""
    store.require_model(model_id)
    snapshot = store.snapshot(model_id)
    indexes = None
    if disclose:
        ids = [leaf.hex() for leaf in snapshot.leaves]
        missing = sorted(set(disclose) - set(ids))
        if missing:
            raise UsageError(f"no record {missing[0]!r} in the signed log of {model_id!r}")
        wanted = set(disclose)
        indexes = [i for i, record_id in enumerate(ids) if record_id in wanted]
    return build_proof(model_id=model_id, record_bodies=snapshot.bodies, leaves=snapshot.leaves,
                       heads=snapshot.heads, receipts=snapshot.receipts, key=key, disclose=indexes)


def models(store: LogStore) -> list[dict[str, Any]]:
    out = []
    for model_id in store.models():
        latest = store.latest_head(model_id)
        out.append({"model_id": model_id, "size": store.size(model_id),
                    "signed_size": latest.head.tree_size if latest else 0})
    return out


def runs(store: LogStore, *, kind: str | None, status: str | None, model: str | None, limit: int, offset: int = 0,
         model_prefix: str = "") -> list[dict[str, Any]]:
    """The newest runs first, filtered by kind, status, model id and model-id prefix, from the ``offset``-th on."""
    from pot.lineage import registry

    if not 1 <= limit <= MAX_PAGE:
        raise UsageError(f"limit must be 1 to {MAX_PAGE}")
    return registry.list_runs(store, kind=kind, status=status, model_id=model, limit=limit, offset=offset,
                              model_prefix=model_prefix)


def verify(document: bytes, trusted_key: str | None) -> dict[str, Any]:
    """``pot verify --json`` of a proof document: the verifier's report, ok or not."""
    from pot.errors import VerificationError
    from pot.log.verify import verify_proof

    try:
        parsed = ProvenanceProof.from_json(document)
    except FormatError as exc:
        return {"ok": False, "checks": [{"name": "format", "passed": False, "detail": str(exc)}]}
    try:
        report = verify_proof(parsed, trusted_key=trusted_key)
    except VerificationError as exc:
        if exc.report is None:
            return {"ok": False, "checks": [{"name": exc.check, "passed": False, "detail": str(exc)}]}
        report = exc.report
    return report.to_json()


def public_key_json(key: SigningKey) -> Mapping[str, str]:
    return {"key_id": key.key_id, "public_key": key.public.hex}


# --- reads shaped as the CLI's --json output (docs/JSON_OUTPUT.md): one schema serves both -------------------------


def history(store: LogStore, model_id: str) -> list[dict[str, Any]]:
    """``pot history --model-id ID --json``: every record of the log in order, by kind, with its id."""
    from pot.log.records import record_fields

    store.require_model(model_id)
    return [{"kind": r.KIND, **record_fields(r)} for r in store.records(model_id)]


def run_show(store: LogStore, run_id: str) -> dict[str, Any]:
    """``pot runs show ID --json``: the run as indexed, its ``started_data`` and its records in log order."""
    from pot.lineage import registry
    from pot.log.records import record_fields

    run = registry.get_run(store, run_id)
    started = registry.run_started_data(store, run)
    records = registry.run_records(store, run)
    return {**run, "started_data": started, "records": [{"kind": r.KIND, **record_fields(r)} for r in records]}


def run_config(store: LogStore, run_id: str) -> dict[str, Any]:
    """``pot runs export-config ID --out F``: what F holds (and what ``--json`` prints)."""
    from pot.lineage import registry

    return registry.export_config(store, run_id)


def run_compare(store: LogStore, run_a: str, run_b: str) -> dict[str, Any]:
    """``pot runs compare A B --json``."""
    from pot.lineage.compare import compare_runs

    return compare_runs(store, run_a, run_b)


def lineage(store: LogStore, node_id: str) -> dict[str, Any]:
    """``pot lineage ID --json``: the node, its ancestors and descendants and every edge among them."""
    from pot.lineage import registry

    return registry.lineage(store, node_id).to_json(node_id)


def lineage_models(store: LogStore, graph: Mapping[str, Any]) -> set[str]:
    """The model ids a lineage subgraph tells about: its model nodes, and the model of each of its runs (for a
    private server, which shows a graph only to a token whose scope covers all of them)."""
    found = {n["node_id"] for n in graph["nodes"] if n["kind"] == "model"}
    runs = [n["node_id"] for n in graph["nodes"] if n["kind"] == "run"]
    for start in range(0, len(runs), 500):
        part = runs[start:start + 500]
        found.update(row[0] for row in store.read(
            f"SELECT model_id FROM runs WHERE run_id IN ({', '.join('?' * len(part))})", tuple(part)))
    return found


# --- promotion and rollback: decisions the server records and signs ------------------------------------------------

SERVER_NODE = "pot-serve"  # the node_id of the events the server itself records
_DECISION_ATTEMPTS = 50


class _Stale(Exception):
    """Control flow inside a decision: a record landed between reading the log and appending (never seen outside)."""


def _decide(store: LogStore, key: SigningKey, model_id: str,
            decide: Callable[[list[Record]], tuple[str, dict[str, Any]]],
            clock: Callable[[], datetime] | None) -> EventRecord:
    """Append the event ``decide(log)`` returns, judged on the whole log as it stands when the event is appended:
    if another record lands between reading and appending, the log is read and the decision made again. Then a
    head is signed over it."""
    now = clock or (lambda: datetime.now(UTC))
    check_name(model_id, "model id")
    store.require_model(model_id)
    for _ in range(_DECISION_ATTEMPTS):
        size = store.size(model_id)
        name, data = decide(list(store.records(model_id, 0, size)))
        prepared = EventRecord.prepare_new({"timestamp": format_timestamp(now()), "event": name, "run_id": None,
                                            "data": data, "node_id": SERVER_NODE, "model_id": model_id, "seq": 0,
                                            "lamport": 1})

        def make(seq: int, last: int, prepared: PreparedRecord = prepared, size: int = size) -> CompletedRecord:
            if seq != size:
                raise _Stale
            return prepared.complete(seq, last + 1)

        try:
            made = store.append(model_id, make)
        except _Stale:
            continue
        sign_head(store, key, model_id, now)
        event = made.record()
        assert isinstance(event, EventRecord)
        return event
    raise UsageError(f"the log of {model_id!r} kept growing while deciding; try again")


def _exact_body(document: Any, required: Sequence[str], optional: Sequence[str], shape: str) -> dict[str, Any]:
    if not isinstance(document, dict) or not set(required) <= set(document) <= {*required, *optional}:
        raise FormatError(f"the body must be {shape}")
    return document


def promote(store: LogStore, key: SigningKey, model_id: str, document: Any, *,
            clock: Callable[[], datetime] | None = None) -> dict[str, Any]:
    """``pot promote`` on the server: ``{"stage", "gate", "validator"?}`` judged by the gate on the latest
    validation; records ModelPromoted or PromotionRefused and answers what ``pot promote --json`` prints."""
    from pot.lineage import events
    from pot.lineage.gates import Gate

    body = _exact_body(document, ("stage", "gate"), ("validator",),
                       '{"stage": "...", "gate": {"thresholds": ...}, "validator": "..." (optional)}')
    validator = body.get("validator")
    if validator is not None and not isinstance(validator, str):
        raise FormatError("validator must be a string or null")
    if not isinstance(body["stage"], str):
        raise FormatError("stage must be a string")
    if not isinstance(body["gate"], dict):
        raise FormatError("gate must be an object, such as {\"thresholds\": {\"accuracy\": {\">=\": 0.9}}}")
    gate = Gate.from_json(body["gate"])
    event = _decide(store, key, model_id, lambda log: events.promotion_decision(
        log, model_id, body["stage"], gate, validator), clock)
    return {"promoted": event.event == events.MODEL_PROMOTED, "event_id": event.event_id, **event.data}


def rollback(store: LogStore, key: SigningKey, model_id: str, document: Any, *,
             clock: Callable[[], datetime] | None = None) -> dict[str, Any]:
    """``pot rollback`` on the server: ``{"stage", "to", "reason"}``, refused unless ``to`` was promoted to the stage
    before; records ModelRolledBack and answers what ``pot rollback --json`` prints."""
    from pot.lineage import events

    body = _exact_body(document, ("stage", "to", "reason"), (), '{"stage": "...", "to": "MODEL_HASH", "reason": "..."}')
    for name in ("stage", "to", "reason"):
        if not isinstance(body[name], str):
            raise FormatError(f"{name} must be a string")
    event = _decide(store, key, model_id, lambda log: events.rollback_decision(
        log, model_id, body["stage"], body["to"], body["reason"]), clock)
    return {"event_id": event.event_id, **event.data}
