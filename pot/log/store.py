"""The store: one SQLite database (WAL mode) per store directory, append-only.

Layout of a store directory (default ``./.pot``, or ``--store DIR`` / ``POT_HOME``)::

    pot.db              records, tree heads, anchor receipts, settings
    signing-key.pem     the Ed25519 key (mode 0600), unless POT_KEY_FILE points elsewhere
    localchain.jsonl    the local chain (pot.anchors.localchain)
    .gitignore          "*": a store never ends up in a commit by accident

Durability: every ``append`` is its own committed transaction. In WAL mode with ``synchronous=NORMAL`` a commit
has reached the operating system when it returns, so killing the process (even with SIGKILL) right after loses
nothing; only a power cut can lose the last commits. Several processes may write one store: writers serialise
on SQLite's write lock (``BEGIN IMMEDIATE``), and a record's ``seq`` is assigned inside that lock.

Rows are never updated or deleted: triggers refuse it.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pot.anchors.base import AnchorReceipt
from pot.errors import StoreError, UsageError
from pot.log.canonical import canonical_json
from pot.log.heads import SignedTreeHead, TreeHead
from pot.log.records import CompletedRecord, Record, record_from_body

SCHEMA_VERSION = 1
DB_NAME = "pot.db"
KEY_NAME = "signing-key.pem"
LOCAL_CHAIN_NAME = "localchain.jsonl"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    model_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    record_id TEXT NOT NULL,
    leaf BLOB NOT NULL,
    timestamp TEXT NOT NULL,
    lamport INTEGER,
    body TEXT NOT NULL,
    PRIMARY KEY (model_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS heads (
    model_id TEXT NOT NULL,
    tree_size INTEGER NOT NULL,
    head_hash TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    signature TEXT NOT NULL,
    PRIMARY KEY (model_id, tree_size)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS anchors (
    id INTEGER PRIMARY KEY,
    model_id TEXT NOT NULL,
    head_hash TEXT NOT NULL REFERENCES heads (head_hash),
    backend TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (head_hash, backend)
);
CREATE INDEX IF NOT EXISTS anchors_by_model ON anchors (model_id);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    model_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    started TEXT NOT NULL,
    ended TEXT,
    error TEXT,
    start_seq INTEGER NOT NULL,
    end_seq INTEGER,
    config_hash TEXT,
    git_commit TEXT,
    git_dirty INTEGER,
    user TEXT,
    rerun_of TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_started ON runs (started);
CREATE INDEX IF NOT EXISTS runs_by_kind ON runs (kind, started);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status, started);
"""
_APPEND_ONLY = ("records", "heads", "anchors")

T = TypeVar("T")
R = TypeVar("R", Record, CompletedRecord)


def _append_only_triggers() -> str:
    parts = []
    for table in _APPEND_ONLY:
        for action in ("UPDATE", "DELETE"):
            parts.append(
                f"CREATE TRIGGER IF NOT EXISTS {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} are append-only'); END;")
    return "\n".join(parts)


class Store:
    """A store directory. Thread-safe: each thread gets its own SQLite connection."""

    def __init__(self, root: Path | str, *, create: bool = False) -> None:
        self.root = Path(root)
        self.db_path = self.root / DB_NAME
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._write_lock = _process_write_lock(self.db_path)
        self._next_seq: dict[str, tuple[int, int]] = {}  # per model: (next seq, last lamport) after our last append
        if not self.db_path.exists():
            if not create:
                raise StoreError(f"no pot store at {self.root}; run `pot init` (or pass --store / set POT_HOME)")
            self._create()
        self._check_schema()

    # --- connection handling ----------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.db_path, timeout=60.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=60000")
        except sqlite3.Error as exc:
            raise StoreError(self._explain(exc)) from exc
        with self._lock:
            self._connections.append(conn)
        return conn

    @property
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` inside one write transaction (``BEGIN IMMEDIATE``: the write lock is taken up front).

        Threads of one process queue on a Python lock first: a thread that found SQLite's lock taken would sleep
        in SQLite's busy handler for a millisecond or more, far longer than the transaction it waits for.
        """
        with self._write_lock:
            return self._write_locked(work)

    def _write_locked(self, work: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(self._explain(exc)) from exc
        try:
            result = work(conn)
            conn.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StoreError(self._explain(exc)) from exc
            raise
        return result

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(self._explain(exc)) from exc

    def _explain(self, exc: sqlite3.Error) -> str:
        text = str(exc)
        if "readonly" in text or "read-only" in text or ("unable to open" in text and not self._writable()):
            return f"store {self.root} is read-only; nothing was written"
        if "locked" in text or "busy" in text:
            return f"store {self.root} stayed locked by another process for too long; nothing was written"
        if "not a database" in text or "malformed" in text:
            return f"store {self.root} is corrupt ({text})"
        return f"store {self.root}: {text}"

    def _writable(self) -> bool:
        """Can files be created in the store directory? (A WAL database needs that even to be read.)"""
        try:
            with tempfile.TemporaryFile(dir=self.root):
                return True
        except OSError:
            return False

    def _create(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            ignore = self.root / ".gitignore"
            if not ignore.exists():
                ignore.write_text("# pot store: keys and local records, never committed\n*\n")
        except OSError as exc:
            raise StoreError(f"cannot create store {self.root}: {exc.strerror}") from exc

        def create(conn: sqlite3.Connection) -> None:
            for statement in (_SCHEMA + _append_only_triggers()).split(";\n"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

        self._write(create)

    def _check_schema(self) -> None:
        try:
            rows = self._read("SELECT value FROM meta WHERE key = 'schema_version'")
        except StoreError as exc:
            if "read-only" in str(exc):
                raise
            raise StoreError(f"{exc} (is {self.db_path} a pot store?)") from exc
        if not rows:
            raise StoreError(f"{self.db_path} is not a pot store (no schema version)")
        version = int(rows[0][0])
        if version > SCHEMA_VERSION:
            raise StoreError(f"store {self.root} was written by a newer pot (schema {version}); upgrade pot")

    # --- records ----------------------------------------------------------------------------------------------

    def append(self, model_id: str, make: Callable[[int, int], R],
               index: Callable[[sqlite3.Connection, Record], None] | None = None) -> R:
        """Append the record ``make(seq, last_lamport)`` at the next ``seq`` of ``model_id``'s log, durably.

        ``make`` returns the record, or a :class:`pot.log.records.CompletedRecord` (its canonical JSON text already
        made, stored as it is); ``append`` returns it. ``last_lamport`` is the Lamport stamp of the log's last record
        (0 for none): appending after reading the log is receiving its last message. ``index(conn, record)``, when
        given, updates derived tables (the run registry, the lineage graph) in the same transaction; if it raises,
        nothing is stored.

        The next seq is remembered from this process's last append; if another process appended since, the
        primary key refuses the row and the seq is read from the table (inside the same write lock).
        """
        def insert(conn: sqlite3.Connection, seq: int, last_lamport: int) -> R:
            made = make(seq, last_lamport)
            if isinstance(made, CompletedRecord):
                completed = made
            else:
                text = canonical_json(made.body()).decode("utf-8")
                completed = CompletedRecord(type(made), {}, bytes.fromhex(made.record_id), text)
            conn.execute("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (model_id, made.seq, made.kind.KIND if isinstance(made, CompletedRecord) else made.KIND,
                          made.record_id, completed.leaf, made.timestamp, made.lamport, completed.text))
            if index is not None:
                index(conn, made.record() if isinstance(made, CompletedRecord) else made)
            return made

        def work(conn: sqlite3.Connection) -> R:
            guess = self._next_seq.get(model_id)
            if guess is not None:
                try:
                    return insert(conn, guess[0], guess[1])
                except sqlite3.IntegrityError:
                    pass  # another process appended: ask the table
            return work_from_table(conn)

        def work_from_table(conn: sqlite3.Connection) -> R:
            row = conn.execute("SELECT seq, lamport FROM records WHERE model_id = ? ORDER BY seq DESC LIMIT 1",
                               (model_id,)).fetchone()
            return insert(conn, 0, 0) if row is None else insert(conn, row[0] + 1, row[1] or 0)

        guess = self._next_seq.get(model_id)
        if guess is not None and index is None:
            # The usual case, one writer appending: one INSERT in SQLite's autocommit mode is a transaction of its
            # own, as durable as BEGIN/INSERT/COMMIT and two statements cheaper. If another process appended since,
            # the primary key refuses it and the full transaction below reads the seq from the table.
            with self._write_lock:
                try:
                    record = insert(self._conn, guess[0], guess[1])
                except sqlite3.IntegrityError:
                    record = self._write_locked(work_from_table)
                except sqlite3.Error as exc:
                    raise StoreError(self._explain(exc)) from exc
        else:
            record = self._write(work)
        self._next_seq[model_id] = (record.seq + 1, record.lamport or 0)
        return record

    def size(self, model_id: str) -> int:
        row = self._read("SELECT MAX(seq) FROM records WHERE model_id = ?", (model_id,))[0]
        return 0 if row[0] is None else int(row[0]) + 1

    def models(self) -> list[str]:
        return [row[0] for row in self._read("SELECT DISTINCT model_id FROM records ORDER BY model_id")]

    def leaves(self, model_id: str, start: int = 0, end: int | None = None) -> list[bytes]:
        end = self.size(model_id) if end is None else end
        rows = self._read("SELECT leaf FROM records WHERE model_id = ? AND seq >= ? AND seq < ? ORDER BY seq",
                          (model_id, start, end))
        return [bytes(row[0]) for row in rows]

    def records(self, model_id: str, start: int = 0, end: int | None = None) -> Iterator[Record]:
        end = self.size(model_id) if end is None else end
        try:
            cursor = self._conn.execute(
                "SELECT body FROM records WHERE model_id = ? AND seq >= ? AND seq < ? ORDER BY seq",
                (model_id, start, end))
            for (body,) in cursor:
                yield record_from_body(json.loads(body))
        except sqlite3.Error as exc:
            raise StoreError(self._explain(exc)) from exc

    def snapshot(self, model_id: str) -> LogSnapshot:
        """One consistent view of a model's log up to its latest signed head (a single read transaction)."""
        conn = self._conn
        try:
            conn.execute("BEGIN")
            try:
                heads = [_head_from_row(row) for row in conn.execute(
                    "SELECT body, signature FROM heads WHERE model_id = ? ORDER BY tree_size", (model_id,))]
                size = heads[-1].head.tree_size if heads else 0
                rows = conn.execute("SELECT leaf, body FROM records WHERE model_id = ? AND seq < ? ORDER BY seq",
                                    (model_id, size)).fetchall()
                receipts = [AnchorReceipt.from_json(json.loads(row[0])) for row in conn.execute(
                    "SELECT body FROM anchors WHERE model_id = ? ORDER BY id", (model_id,))]
            finally:
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(self._explain(exc)) from exc
        return LogSnapshot(model_id, [json.loads(row[1]) for row in rows], [bytes(row[0]) for row in rows],
                           heads, receipts)

    # --- tree heads -------------------------------------------------------------------------------------------

    def add_head(self, model_id: str,
                 make: Callable[[SignedTreeHead | None, list[bytes], str | None], SignedTreeHead | None],
                 known_leaves: int) -> SignedTreeHead | None:
        """Sign a new head for ``model_id`` inside the write lock, so heads of one log never fork.

        ``make(latest_head, new_leaves, newest_timestamp)`` gets the latest head (or None), the leaf hashes
        appended after the caller's first ``known_leaves`` and the newest of their timestamps; it returns the
        new head, or None when there is nothing new to sign.
        """
        def work(conn: sqlite3.Connection) -> SignedTreeHead | None:
            row = conn.execute("SELECT body, signature FROM heads WHERE model_id = ? "
                               "ORDER BY tree_size DESC LIMIT 1", (model_id,)).fetchone()
            latest = None if row is None else _head_from_row(row)
            rows = conn.execute("SELECT leaf, timestamp FROM records WHERE model_id = ? AND seq >= ? ORDER BY seq",
                                (model_id, known_leaves)).fetchall()
            newest = max((r[1] for r in rows), default=None)
            head = make(latest, [bytes(r[0]) for r in rows], newest)
            if head is not None:
                conn.execute("INSERT INTO heads VALUES (?, ?, ?, ?, ?)",
                             (model_id, head.head.tree_size, head.head.head_hash,
                              json.dumps(head.head.body(), separators=(",", ":")), head.signature))
            return head
        return self._write(work)

    def heads(self, model_id: str) -> list[SignedTreeHead]:
        rows = self._read("SELECT body, signature FROM heads WHERE model_id = ? ORDER BY tree_size", (model_id,))
        return [_head_from_row(row) for row in rows]

    def latest_head(self, model_id: str) -> SignedTreeHead | None:
        rows = self._read("SELECT body, signature FROM heads WHERE model_id = ? ORDER BY tree_size DESC LIMIT 1",
                          (model_id,))
        return _head_from_row(rows[0]) if rows else None

    # --- anchor receipts --------------------------------------------------------------------------------------

    def add_receipt(self, model_id: str, receipt: AnchorReceipt) -> bool:
        """Store a receipt; False when this head already has one from this backend (nothing anchors twice)."""
        def work(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO anchors (model_id, head_hash, backend, body) VALUES (?, ?, ?, ?)",
                (model_id, receipt.head_hash, receipt.backend,
                 json.dumps(receipt.to_json(), separators=(",", ":"))))
            return cursor.rowcount == 1
        return self._write(work)

    def receipts(self, model_id: str) -> list[AnchorReceipt]:
        rows = self._read("SELECT body FROM anchors WHERE model_id = ? ORDER BY id", (model_id,))
        return [AnchorReceipt.from_json(json.loads(row[0])) for row in rows]

    def pending_heads(self, backend: str, model_id: str | None = None, *, newest_only: bool = False
                      ) -> list[SignedTreeHead]:
        """The pending queue, derived rather than stored: heads newer than their model's newest head with a
        ``backend`` receipt (a later anchored head covers every earlier one). ``newest_only``: one head per model,
        the one to anchor."""
        covered = ("SELECT MAX(h2.tree_size) FROM heads h2 JOIN anchors a ON a.head_hash = h2.head_hash "
                   "AND a.backend = ? WHERE h2.model_id = h.model_id")
        sql = f"SELECT h.body, h.signature FROM heads h WHERE h.tree_size > COALESCE(({covered}), 0)"
        params: tuple[Any, ...] = (backend,)
        if newest_only:
            sql += " AND h.tree_size = (SELECT MAX(h3.tree_size) FROM heads h3 WHERE h3.model_id = h.model_id)"
        if model_id is not None:
            sql += " AND h.model_id = ?"
            params += (model_id,)
        return [_head_from_row(row) for row in self._read(sql + " ORDER BY h.model_id, h.tree_size", params)]

    # --- settings ---------------------------------------------------------------------------------------------

    def read(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """A read-only query on this thread's connection, errors as StoreError (for the registry's queries)."""
        return self._read(sql, params)

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (for code that must run inside one of the store's transactions)."""
        return self._conn

    def get_setting(self, key: str, default: str | None = None) -> str | None:
        rows = self._read("SELECT value FROM settings WHERE key = ?", (key,))
        return rows[0][0] if rows else default

    def set_setting(self, key: str, value: str) -> None:
        self._write(lambda conn: conn.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", (key, value)))

    def require_model(self, model_id: str) -> None:
        if self.size(model_id) == 0:
            known = self.models()
            hint = f"; known: {', '.join(known[:10])}" if known else "; the store has no records yet"
            raise UsageError(f"unknown model id {model_id!r}{hint}")

    # --- the local chain's tip --------------------------------------------------------------------------------

    def local_chain_tip(self) -> tuple[int, str] | None:
        """The newest local chain entry this store saw appended, as (index, entry hash); None before the first.

        The chain file must go on holding it: one that does not was deleted, emptied, truncated or replaced
        (pot.anchors.localchain checks this before every append, and ``pot test`` reports it).
        """
        raw = self.get_setting(_LOCAL_CHAIN_TIP)
        if raw is None:
            return None
        try:
            value = json.loads(raw)
            index, entry_hash = value["index"], value["entry_hash"]
            if isinstance(index, bool) or not isinstance(index, int) or index < 0 or not isinstance(entry_hash, str):
                raise TypeError("wrong types")
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"store {self.root}: the remembered local chain tip {raw!r} is malformed ({exc})"
                             ) from None
        return index, entry_hash

    def advance_local_chain_tip(self, index: int, entry_hash: str) -> None:
        """Remember entry ``index`` as the chain's tip, unless a later one is remembered already: several processes
        append to one chain, and one may report its entry after another has reported a later one."""
        def work(conn: sqlite3.Connection) -> None:
            row = conn.execute("SELECT value FROM settings WHERE key = ?", (_LOCAL_CHAIN_TIP,)).fetchone()
            if row is not None:
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    if json.loads(row[0])["index"] >= index:
                        return
            conn.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)",
                         (_LOCAL_CHAIN_TIP, json.dumps({"index": index, "entry_hash": entry_hash},
                                                       separators=(",", ":"))))
        self._write(work)


_LOCAL_CHAIN_TIP = "local_chain_tip"  # settings key: {"index": N, "entry_hash": H}


_WRITE_LOCKS: dict[str, threading.Lock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def _process_write_lock(db_path: Path) -> threading.Lock:
    """One lock per database file per process, shared by every Store object opened on it."""
    key = str(db_path.resolve())
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(key, threading.Lock())


@dataclass(frozen=True, slots=True)
class LogSnapshot:
    model_id: str
    bodies: list[dict[str, Any]]
    leaves: list[bytes]
    heads: list[SignedTreeHead]
    receipts: list[AnchorReceipt]


def _head_from_row(row: tuple[str, str]) -> SignedTreeHead:
    return SignedTreeHead(TreeHead.from_body(json.loads(row[0])), row[1])
