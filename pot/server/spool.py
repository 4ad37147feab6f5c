"""The durable local spool of a recorder that records through ``pot serve`` (docs/SERVER.md, "Recording through the
server").

A record is acknowledged once it is committed here: one SQLite file (``spool.db``) in WAL mode with
``synchronous=FULL``, so every commit is fsync'd before ``add`` returns and neither a killed process nor a power cut
loses an acknowledged record (``fsync=False``, ``POT_SPOOL_FSYNC=0``: ``synchronous=NORMAL``, as durable as the
local store, which a killed process does not hurt but a power cut may).

The background sender (:mod:`pot.server.client`) reads the oldest waiting records of one model at a time, sends them
with their idempotency keys, and on the server's answer moves them to ``delivered`` (their id and seq in the
server's log) in one transaction; ``delivered`` keeps the newest ``keep_delivered`` (100,000) of them. A record the
server refuses for good stays here, marked with the reason, and is not sent again; nothing is deleted without the
server having it.

Several recorders may share one spool (processes on one machine, or a process restarted on the spool its
predecessor left): each sends whatever waits, and the idempotency keys make a record sent twice count once.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pot.errors import StoreError

SPOOL_FILE = "spool.db"
KEEP_DELIVERED = 100_000  # delivered records whose handle -> id lookup is kept (about 200 bytes each)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    lamport INTEGER NOT NULL,
    refused TEXT
);
CREATE INDEX IF NOT EXISTS queue_waiting ON queue (refused, model_id, id);
CREATE TABLE IF NOT EXISTS delivered (
    idempotency_key TEXT PRIMARY KEY,
    model_id TEXT NOT NULL,
    record_id TEXT NOT NULL,
    seq INTEGER NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Spooled:
    """A record waiting for the server: its row, model, key, kind, canonical body text and the node's Lamport stamp
    when it was recorded."""

    row: int
    model_id: str
    idempotency_key: str
    kind: str
    body: str
    lamport: int


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the server made of a spooled record: its id and seq in the model's log."""

    idempotency_key: str
    record_id: str
    seq: int


class Spool:
    """One spool file. Thread-safe: the training thread adds, the sender thread takes and settles."""

    def __init__(self, directory: Path | str, *, fsync: bool = True, keep_delivered: int = KEEP_DELIVERED) -> None:
        self.directory = Path(directory)
        self.keep_delivered = keep_delivered
        self.path = self.directory / SPOOL_FILE
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA busy_timeout=60000")
            self._conn.execute("PRAGMA journal_mode=WAL").fetchall()
            # FULL: every commit fsync'd, so an acknowledged record survives a power cut. NORMAL: survives a killed
            # process (the commit reached the operating system), as the local store does.
            self._conn.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
            self._conn.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the spool {self.path}: {getattr(exc, 'strerror', None) or exc}") from None
        self._lock = threading.Lock()
        self._closed = False

    def _execute(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        with self._lock:
            if self._closed:
                raise StoreError(f"the spool {self.path} is closed")
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"the spool {self.path} refused: {exc}") from None

    def add(self, model_id: str, idempotency_key: str, kind: str, body: str, lamport: int) -> None:
        """Spool one record, durably (committed and fsync'd when this returns)."""
        self._execute("INSERT INTO queue (model_id, idempotency_key, kind, body, lamport) VALUES (?, ?, ?, ?, ?)",
                      (model_id, idempotency_key, kind, body, lamport))

    def take(self, limit: int, after: int = 0) -> list[Spooled]:
        """Up to ``limit`` waiting records of one model (the model of the oldest waiting record after row
        ``after``), oldest first."""
        first = self._execute("SELECT model_id FROM queue WHERE refused IS NULL AND id > ? ORDER BY id LIMIT 1",
                              (after,))
        if not first:
            return []
        rows = self._execute("SELECT id, model_id, idempotency_key, kind, body, lamport FROM queue "
                             "WHERE refused IS NULL AND model_id = ? AND id > ? ORDER BY id LIMIT ?",
                             (first[0][0], after, limit))
        return [Spooled(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), int(r[5])) for r in rows]

    def settle(self, model_id: str, sent: Iterable[Spooled], deliveries: Iterable[Delivery]) -> None:
        """The server has these records: remember what each became and take them off the queue, in one
        transaction."""
        rows = [(s.row,) for s in sent]
        delivered = [(d.idempotency_key, model_id, d.record_id, d.seq) for d in deliveries]
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    self._conn.executemany("INSERT OR REPLACE INTO delivered VALUES (?, ?, ?, ?)", delivered)
                    # only the newest keep_delivered are remembered (rowids grow with each insert): a training run
                    # that records through a server for weeks does not grow its spool without end
                    self._conn.execute("DELETE FROM delivered WHERE rowid <= (SELECT max(rowid) FROM delivered) - ?",
                                       (self.keep_delivered,))
                    self._conn.executemany("DELETE FROM queue WHERE id = ?", rows)
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise StoreError(f"the spool {self.path} refused: {exc}") from None

    def refuse(self, rows: Iterable[Spooled], reason: str) -> None:
        """The server refused these records for good: keep them, marked, and stop sending them."""
        with self._lock:
            try:
                self._conn.executemany("UPDATE queue SET refused = ? WHERE id = ?",
                                       [(reason, s.row) for s in rows])
            except sqlite3.Error as exc:
                raise StoreError(f"the spool {self.path} refused: {exc}") from None

    def waiting(self, model_id: str | None = None) -> int:
        """Records not yet delivered nor refused (of one model, or all)."""
        if model_id is None:
            rows = self._execute("SELECT count(*) FROM queue WHERE refused IS NULL")
        else:
            rows = self._execute("SELECT count(*) FROM queue WHERE refused IS NULL AND model_id = ?", (model_id,))
        return int(rows[0][0])

    def refused(self) -> list[tuple[str, str, str]]:
        """(model id, idempotency key, the server's reason) of every record the server refused for good."""
        rows = self._execute("SELECT model_id, idempotency_key, refused FROM queue WHERE refused IS NOT NULL "
                             "ORDER BY id")
        return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]

    def delivery(self, idempotency_key: str) -> Delivery | None:
        """What the server made of the record spooled under ``idempotency_key``, once it has it."""
        rows = self._execute("SELECT record_id, seq FROM delivered WHERE idempotency_key = ?", (idempotency_key,))
        return Delivery(idempotency_key, str(rows[0][0]), int(rows[0][1])) if rows else None

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()
