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

Opening (``Store(root, create=True)``, what the recorder and ``pot init`` do) finishes whatever is missing, each
step idempotent, so several processes may create one store at once and an interrupted creation is completed
by the next. A store this process cannot write (an auditor's copy, read-only media, another user's) is opened
read-only: the read verbs work, writes raise StoreError (see ``Store._immutable_uri``). A stored row that does
not parse is a StoreError naming it ("corrupt"), never an exception of the parser.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable
from urllib.parse import urlsplit

from pot._internal import files
from pot.anchors.base import AnchorReceipt
from pot.errors import FormatError, StoreError, UsageError
from pot.log import migrations
from pot.log.canonical import canonical_json
from pot.log.heads import SignedTreeHead, TreeHead
from pot.log.prepared import CompletedRecord
from pot.log.records import Record, record_from_body

DB_NAME = "pot.db"
KEY_NAME = "signing-key.pem"
LOCAL_CHAIN_NAME = "localchain.jsonl"

_TABLES = {"meta", "records", "heads", "anchors", "settings", "runs", "lineage_nodes", "lineage_edges",
           "schema_version"}
_GITIGNORE = b"# pot store: keys and local records, never committed\n*\n"

T = TypeVar("T")
# A number of 17 or more digits in a JSON text (a key or string value holding such digits between a comma and a
# bracket matches too, harmlessly): the only way an integer beyond 2**53-1 gets into a canonical record text.
_LONG_INTEGER = re.compile(r"[:\[,]-?\d{17,}[,\]}]")


def _long_as_double(text: str) -> int | float:
    """An integer too long to be a record's integer (at most 16 digits) is the double RFC 8785 spelled in digits."""
    return float(text) if len(text.lstrip("-")) > 16 else int(text)
R = TypeVar("R", Record, CompletedRecord)


class Cursor(Protocol):
    """What a query returns on either backend (a DB-API cursor)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """A store's connection as the registry and the lineage graph use it: SQL with ``?`` or ``:name`` parameters on
    either backend (PostgreSQL's adapter rewrites them), and ``dialect`` for the few queries that differ."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...

    @property
    def in_transaction(self) -> bool: ...


IndexHook = Callable[[Any, Record], None]
"""``index(conn, record)``: updates derived tables (runs, lineage) inside the transaction appending ``record``;
``conn`` is a :class:`Connection`."""


@runtime_checkable
class LogStore(Protocol):
    """What the recorder, proof building, the registry and the CLI need from a store, on any backend.

    Two implement it: :class:`Store` (SQLite, one file per store directory, the default) and
    :class:`pot.log.postgres.PostgresStore` (a PostgreSQL database shared by many processes and machines).
    :func:`open_store` picks one from a URL. Every method's meaning is the one documented on :class:`Store`.
    ``root`` is a local directory on both: the signing key (unless POT_KEY_FILE says otherwise) and the local chain
    file live there; on PostgreSQL it holds nothing else.
    """

    root: Path
    dialect: str  # "sqlite" or "postgresql": what read() and connection() speak beyond the common SQL

    @property
    def read_only(self) -> bool: ...

    @property
    def schema_version(self) -> int: ...

    def close(self) -> None: ...

    def __enter__(self) -> LogStore: ...

    def __exit__(self, *exc_info: object) -> None: ...

    def exclusive(self, work: Callable[[], T]) -> T: ...

    def append(self, model_id: str, make: Callable[[int, int], R], index: IndexHook | None = None) -> R: ...

    def append_many(self, model_id: str, plan: Callable[[Connection], Sequence[Callable[[int, int], CompletedRecord]]],
                    after: Callable[[Connection, list[CompletedRecord]], None] | None = None
                    ) -> list[CompletedRecord]: ...

    def size(self, model_id: str) -> int: ...

    def models(self) -> list[str]: ...

    def leaves(self, model_id: str, start: int = 0, end: int | None = None) -> list[bytes]: ...

    def records(self, model_id: str, start: int = 0, end: int | None = None) -> Iterator[Record]: ...

    def snapshot(self, model_id: str) -> LogSnapshot: ...

    def require_model(self, model_id: str) -> None: ...

    def add_head(self, model_id: str,
                 make: Callable[[SignedTreeHead | None, list[bytes], str | None], SignedTreeHead | None],
                 known_leaves: int) -> SignedTreeHead | None: ...

    def heads(self, model_id: str) -> list[SignedTreeHead]: ...

    def latest_head(self, model_id: str) -> SignedTreeHead | None: ...

    def add_receipt(self, model_id: str, receipt: AnchorReceipt) -> bool: ...

    def receipts(self, model_id: str) -> list[AnchorReceipt]: ...

    def pending_heads(self, backend: str, model_id: str | None = None, *, newest_only: bool = False
                      ) -> list[SignedTreeHead]: ...

    def read(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]: ...

    def connection(self) -> Connection: ...

    def get_setting(self, key: str, default: str | None = None) -> str | None: ...

    def claim_setting(self, key: str, value: str) -> str: ...

    def set_setting(self, key: str, value: str) -> None: ...

    def local_chain_tip(self) -> tuple[int, str] | None: ...

    def advance_local_chain_tip(self, index: int, entry_hash: str) -> None: ...


DATABASE_SCHEMES = ("postgresql", "postgres")


def is_database_url(location: str | Path | None) -> bool:
    """Whether ``location`` names a PostgreSQL database (``postgresql://...``) rather than a store directory."""
    return isinstance(location, str) and location.partition("://")[0].lower() in DATABASE_SCHEMES \
        and "://" in location


def shown_url(url: str) -> str:
    """A database URL fit to show: the password (and any query, which may carry one) left out."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return f"{url.partition('://')[0]}://(a URL that does not parse)"
    user = f"{parts.username}@" if parts.username else ""
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{user}{host}{f':{port}' if port else ''}{parts.path}"


def open_store(database: str | None = None, *, root: Path | str, create: bool = False) -> LogStore:
    """The store to use: SQLite in the directory ``root`` when ``database`` is None (the default), else the
    PostgreSQL database at the URL ``database`` (``root`` then only holds local files: the key, the local chain).

    A URL that is not a PostgreSQL one is a UsageError; an unreachable database a StoreError naming it without
    its password.
    """
    if database is None:
        return Store(root, create=create)
    if not is_database_url(database):
        raise UsageError(f"--database (POT_DATABASE_URL) must be a postgresql:// URL, not "
                         f"{shown_url(database) if '://' in database else 'a path'}; a SQLite store is chosen with "
                         "--store DIR")
    from pot.log.postgres import PostgresStore

    return PostgresStore(database, root=root, create=create)


class Store:
    """A SQLite store directory (a :class:`LogStore`). Thread-safe: each thread gets its own SQLite connection.

    Opening never refuses what a concurrent or interrupted creation leaves behind: with ``create=True`` a missing
    directory, ``.gitignore``, database or schema is made (each step idempotent, the schema inside SQLite's write
    lock), so every rank of a distributed job may open a new store at once. A store this process may read but
    not write (an auditor's copy, read-only media) is opened read-only: reads work, writes raise StoreError.
    """

    dialect = "sqlite"

    def __init__(self, root: Path | str, *, create: bool = False) -> None:
        self.root = Path(root)
        self.db_path = self.root / DB_NAME
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._read_only_uri: str | None = None  # set when this process can only read the store (see _connect)
        self._next_seq: dict[str, tuple[int, int]] = {}  # per model: (next seq, last lamport) after our last append
        exists = self._locate()  # first: a path that cannot be a store is refused before anything else uses it
        self._write_lock = _process_write_lock(self.db_path)
        if not exists:
            if not create:
                raise StoreError(f"no pot store at {self.root}; run `pot init` (or pass --store / set POT_HOME)")
            self._create()
        try:
            self._check_schema(create)
        except BaseException:
            self.close()
            raise
        files.remember_store(self.root)  # output files must never replace this store's files

    # --- connection handling ----------------------------------------------------------------------------------

    def _locate(self) -> bool:
        """True when the database exists; StoreError when the path cannot be a store (a file, too long ...)."""
        root = self._stat(self.root)
        if root is not None and not stat.S_ISDIR(root.st_mode):
            raise StoreError(f"store {self.root} is a file, not a directory; give --store (or POT_HOME) a directory")
        db = None if root is None else self._stat(self.db_path)
        if db is not None and stat.S_ISDIR(db.st_mode):
            raise StoreError(f"{self.db_path} is a directory, not a pot database")
        return db is not None

    def _stat(self, path: Path) -> os.stat_result | None:
        try:
            return os.stat(path)
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            raise StoreError(f"cannot open store {self.root}: part of its path is a file, not a directory") from None
        except OSError as exc:  # ENAMETOOLONG, EACCES, ELOOP ...
            raise StoreError(f"cannot open store {self.root}: {exc.strerror}") from None
        except ValueError as exc:  # an embedded NUL byte
            raise StoreError(f"cannot open store {str(self.root)!r}: {exc}") from None

    def _connect(self) -> sqlite3.Connection:
        try:
            if self._read_only_uri is not None:
                conn = self._open_read_only(self._read_only_uri)
            else:
                conn = self._open_writable() or self._open_read_only(self._immutable_uri())
        except sqlite3.Error as exc:
            raise StoreError(self._explain(exc)) from exc
        with self._lock:
            self._connections.append(conn)
        return conn

    def _open_writable(self) -> sqlite3.Connection | None:
        """A read-write connection, or None when the store can only be read and SQLite cannot open it as it is."""
        conn = sqlite3.connect(self.db_path, timeout=60.0, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=60000")
            _enter_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            # Reading the schema opens the WAL index (pot.db-shm): where it cannot be created this fails now,
            # not at the first query.
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError as exc:
            conn.close()
            text = str(exc)
            if ("readonly" in text or "read-only" in text or "unable to open" in text) and not self._writable():
                return None
            raise
        except BaseException:
            conn.close()
            raise
        return conn

    def _immutable_uri(self) -> str:
        """How to read a store whose directory this process cannot write, when a plain open failed.

        A WAL database is read through its index file, pot.db-shm; SQLite opens it read-only (``?mode=ro``) only
        if that file exists or can be created, which is why a plain open works while a writer has the store open
        (the -wal and -shm files are there) and fails on a closed store in a read-only directory. Then the only
        way in is ``immutable=1``, which reads pot.db alone, without locks. That is safe only when pot.db holds
        every commit: no -wal file with content (the last connection to close checkpoints it into pot.db and
        deletes it), so no process has the store open. A writer that starts later commits to a new -wal, which
        this view does not see, and changes pot.db only when it checkpoints (every 1,000 pages, and when it
        closes): long after a read verb is done. With a non-empty -wal and no -shm, refuse rather than miss
        records.
        """
        wal = self.db_path.with_name(DB_NAME + "-wal")
        wal_stat = self._stat(wal)
        if wal_stat is not None and wal_stat.st_size > 0:
            raise StoreError(f"store {self.root} is read-only and {wal.name} holds commits not yet in {DB_NAME}, "
                             f"which cannot be read without creating {DB_NAME}-shm; open the store once with write "
                             "access, or copy it with all its pot.db* files")
        return self.db_path.absolute().as_uri() + "?mode=ro&immutable=1"

    def _open_read_only(self, uri: str) -> sqlite3.Connection:
        conn = sqlite3.connect(uri, uri=True, timeout=60.0, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except BaseException:
            conn.close()
            raise
        self._read_only_uri = uri
        return conn

    @property
    def read_only(self) -> bool:
        """True when this process can only read the store (it was opened with SQLite's ``immutable=1``)."""
        if self._read_only_uri is None:
            _ = self._conn  # the first connection decides
        return self._read_only_uri is not None

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
        self._read_only_uri = None  # the next connection decides afresh (the store may have become writable)

    def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` inside one write transaction (``BEGIN IMMEDIATE``: the write lock is taken up front).

        Threads of one process queue on a Python lock first: a thread that found SQLite's lock taken would sleep
        in SQLite's busy handler for a millisecond or more, far longer than the transaction it waits for.
        """
        if getattr(self._local, "writing", False):
            return work(self._conn)  # called from inside a write (see exclusive): join its transaction
        if self.read_only:
            raise StoreError(f"store {self.root} is read-only; nothing was written")
        with self._write_lock:
            self._local.writing = True
            try:
                return self._write_locked(work)
            finally:
                self._local.writing = False

    def exclusive(self, work: Callable[[], T]) -> T:
        """Run ``work()`` holding the store's write lock, in one transaction that the store writes it makes join.

        Other processes and threads wait for it to finish. For decisions that must not race and must land
        together with what they write, such as creating the store's signing key and remembering its id.
        """
        return self._write(lambda _conn: work())

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
        """The directory and its .gitignore (the database and schema follow in ``_check_schema``).

        Run whenever the store is not complete yet, so it also finishes what an interrupted creation left.
        """
        make_store_dir(self.root)

    def _schema_version(self, conn: sqlite3.Connection | None = None) -> int | None:
        """The stored schema version; None when the database has no schema yet (new, or creation interrupted)."""
        try:
            rows = (conn or self._conn).execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return None
            raise StoreError(self._explain(exc)) from exc
        except sqlite3.Error as exc:
            raise StoreError(self._explain(exc)) from exc
        if not rows:
            return None
        value = str(rows[0][0])
        if not value.isdecimal() or len(value) > 9:
            raise StoreError(f"store {self.root} is corrupt: its schema version {value[:40]!r} is not a number")
        return int(value)

    @property
    def schema_version(self) -> int:
        """The version of this store's schema (pot.log.migrations): the newest, unless the store is read-only."""
        return self._schema_version() or 0

    def _check_schema(self, create: bool) -> None:
        version = self._schema_version()
        if version is None:
            tables = {row[0] for row in self._read("SELECT name FROM sqlite_master WHERE type = 'table'")}
            foreign = sorted(t for t in tables - _TABLES if not t.startswith("sqlite_"))
            if foreign:
                raise StoreError(f"{self.db_path} is not a pot store (it holds other tables: {', '.join(foreign[:5])})")
            if not create:
                raise StoreError(f"store {self.root} is not set up completely (an interrupted `pot init`?); run "
                                 "`pot init` to finish it")
            self._create()
        elif version > migrations.SCHEMA_VERSION:
            raise StoreError(f"store {self.root} was written by a newer pot (schema {version}); upgrade pot")
        if version == migrations.SCHEMA_VERSION or (version is not None and self.read_only):
            return  # a read-only copy of an older store is read as it is: every step so far only adds tables
        for step in migrations.SQLITE:
            if version is None or step.version > version:
                self._write(partial(self._migrate, step))

    def _migrate(self, step: migrations.Migration, conn: sqlite3.Connection) -> None:
        """Apply ``step`` unless another process did while this one waited for the write lock."""
        version = self._schema_version(conn)
        if version is not None and version >= step.version:
            return
        for statement in step.statements:
            conn.execute(statement)
        conn.execute(migrations.SQLITE_VERSION_TABLE)
        conn.execute("INSERT OR IGNORE INTO schema_version VALUES (?, ?, ?)", (step.version, _utc_now(), step.about))
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(step.version),))

    # --- records ----------------------------------------------------------------------------------------------

    def append(self, model_id: str, make: Callable[[int, int], R],
               index: IndexHook | None = None) -> R:
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
            kind, leaf, text, record = _completed_text(made)
            conn.execute("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (model_id, made.seq, kind, made.record_id, leaf, made.timestamp, made.lamport, text))
            if index is not None:
                index(conn, record)
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

    def append_many(self, model_id: str, plan: Callable[[Connection], Sequence[Callable[[int, int], CompletedRecord]]],
                    after: Callable[[Connection, list[CompletedRecord]], None] | None = None
                    ) -> list[CompletedRecord]:
        """Append several records to ``model_id``'s log in one transaction, at consecutive seqs.

        Inside the transaction (holding the write lock) ``plan(conn)`` returns the records' makers, each called as
        in :meth:`append` (``make(seq, last_lamport)``, returning a CompletedRecord); the records are inserted
        together, then ``after(conn, records)`` updates derived tables. If anything raises, nothing is stored.
        Returns the records, in log order.
        """
        def work(conn: sqlite3.Connection) -> list[CompletedRecord]:
            makes = plan(conn)
            if not makes:
                return []
            row = conn.execute("SELECT seq, lamport FROM records WHERE model_id = ? ORDER BY seq DESC LIMIT 1",
                               (model_id,)).fetchone()
            seq, last = (0, 0) if row is None else (int(row[0]) + 1, int(row[1] or 0))
            made, rows = _made_rows(model_id, makes, seq, last)
            conn.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            if after is not None:
                after(conn, made)
            return made

        made = self._write(work)
        if made:
            self._next_seq[model_id] = (made[-1].seq + 1, made[-1].lamport or 0)
        return made

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
                "SELECT seq, body FROM records WHERE model_id = ? AND seq >= ? AND seq < ? ORDER BY seq",
                (model_id, start, end))
            for seq, body in cursor:
                yield _parsed(self.root, f"record {seq} of {model_id!r}", partial(_record_from_text, body))
        except sqlite3.Error as exc:
            raise StoreError(self._explain(exc)) from exc

    def snapshot(self, model_id: str) -> LogSnapshot:
        """One consistent view of a model's log up to its latest signed head (a single read transaction)."""
        conn = self._conn
        try:
            conn.execute("BEGIN")
            try:
                heads = [_head_from_row(self.root, row) for row in conn.execute(
                    "SELECT body, signature, model_id, tree_size FROM heads WHERE model_id = ? ORDER BY tree_size",
                    (model_id,))]
                size = heads[-1].head.tree_size if heads else 0
                rows = conn.execute("SELECT leaf, body FROM records WHERE model_id = ? AND seq < ? ORDER BY seq",
                                    (model_id, size)).fetchall()
                receipts = [_receipt_from_row(self.root, row) for row in conn.execute(
                    "SELECT body, id FROM anchors WHERE model_id = ? ORDER BY id", (model_id,))]
            finally:
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(self._explain(exc)) from exc
        bodies = [_parsed(self.root, f"record {seq} of {model_id!r}", partial(_json_object, row[1]))
                  for seq, row in enumerate(rows)]
        return LogSnapshot(model_id, bodies, [bytes(row[0]) for row in rows], heads, receipts)

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
            row = conn.execute("SELECT body, signature, model_id, tree_size FROM heads WHERE model_id = ? "
                               "ORDER BY tree_size DESC LIMIT 1", (model_id,)).fetchone()
            latest = None if row is None else _head_from_row(self.root, row)
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
        rows = self._read("SELECT body, signature, model_id, tree_size FROM heads WHERE model_id = ? "
                          "ORDER BY tree_size", (model_id,))
        return [_head_from_row(self.root, row) for row in rows]

    def latest_head(self, model_id: str) -> SignedTreeHead | None:
        rows = self._read("SELECT body, signature, model_id, tree_size FROM heads WHERE model_id = ? "
                          "ORDER BY tree_size DESC LIMIT 1", (model_id,))
        return _head_from_row(self.root, rows[0]) if rows else None

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
        rows = self._read("SELECT body, id FROM anchors WHERE model_id = ? ORDER BY id", (model_id,))
        return [_receipt_from_row(self.root, row) for row in rows]

    def pending_heads(self, backend: str, model_id: str | None = None, *, newest_only: bool = False
                      ) -> list[SignedTreeHead]:
        """The pending queue, derived rather than stored: heads newer than their model's newest head with a
        ``backend`` receipt (a later anchored head covers every earlier one). ``newest_only``: one head per model,
        the one to anchor."""
        covered = ("SELECT MAX(h2.tree_size) FROM heads h2 JOIN anchors a ON a.head_hash = h2.head_hash "
                   "AND a.backend = ? WHERE h2.model_id = h.model_id")
        sql = (f"SELECT h.body, h.signature, h.model_id, h.tree_size FROM heads h "
               f"WHERE h.tree_size > COALESCE(({covered}), 0)")
        params: tuple[Any, ...] = (backend,)
        if newest_only:
            sql += " AND h.tree_size = (SELECT MAX(h3.tree_size) FROM heads h3 WHERE h3.model_id = h.model_id)"
        if model_id is not None:
            sql += " AND h.model_id = ?"
            params += (model_id,)
        return [_head_from_row(self.root, row) for row in self._read(sql + " ORDER BY h.model_id, h.tree_size",
                                                                      params)]

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

    def claim_setting(self, key: str, value: str) -> str:
        """Set ``key`` to ``value`` unless it holds a value already; return the value it holds now (one step, so
        of several processes claiming at once exactly one wins and all of them learn which)."""
        def work(conn: sqlite3.Connection) -> str:
            conn.execute("INSERT OR IGNORE INTO settings VALUES (?, ?)", (key, value))
            return str(conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()[0])
        return self._write(work)

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
        return None if raw is None else parse_local_chain_tip(self.root, raw)

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


def parse_local_chain_tip(root: Path, raw: str) -> tuple[int, str]:
    """The ``local_chain_tip`` setting as (index, entry hash); a StoreError naming the store when malformed."""
    try:
        value = json.loads(raw)
        index, entry_hash = value["index"], value["entry_hash"]
        if isinstance(index, bool) or not isinstance(index, int) or index < 0 or not isinstance(entry_hash, str):
            raise TypeError("wrong types")
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"store {root}: the remembered local chain tip {raw!r} is malformed ({exc})") from None
    return index, entry_hash


def make_store_dir(root: Path) -> None:
    """The store directory and its .gitignore (it holds the signing key on either backend).

    Run whenever the store is not complete yet, so it also finishes what an interrupted creation left.
    """
    ignore = root / ".gitignore"
    try:
        root.mkdir(parents=True, exist_ok=True)
        # Published whole, once, by whichever of several processes creating the store gets there first: never
        # a short file that would let the store, key included, into a commit.
        if not files.create_exclusive(ignore, _GITIGNORE) and ignore.stat().st_size == 0:
            files.replace_file(ignore, _GITIGNORE)  # left empty by an interrupted pot before this one
    except OSError as exc:
        raise StoreError(f"cannot create store {root}: {exc.strerror}") from exc


def _made_rows(model_id: str, makes: Sequence[Callable[[int, int], CompletedRecord]], seq: int, last: int
               ) -> tuple[list[CompletedRecord], list[tuple[Any, ...]]]:
    """The records ``makes`` make from ``seq`` on (after the stamp ``last``), and their rows in the records table."""
    made, rows = [], []
    for make in makes:
        record = make(seq, last)
        text = record.text
        if _LONG_INTEGER.search(text):  # as in _completed_text
            text = json.dumps(json.loads(text, parse_int=_long_as_double), separators=(",", ":"), ensure_ascii=False)
        made.append(record)
        rows.append((model_id, record.seq, record.kind.KIND, record.record_id, record.leaf, record.timestamp,
                     record.lamport, text))
        seq, last = record.seq + 1, record.lamport or 0
    return made, rows


def _completed_text(made: Record | CompletedRecord) -> tuple[str, bytes, str, Record]:
    """What a records row holds of a made record: (kind, leaf, body text, the record for the index hook)."""
    if isinstance(made, CompletedRecord):
        completed = made
    else:
        text = canonical_json(made.body()).decode("utf-8")
        completed = CompletedRecord(type(made), {}, bytes.fromhex(made.record_id), text)
    text = completed.text
    if _LONG_INTEGER.search(text):
        # RFC 8785 spells a double from 2**53 to 1e21 in plain digits, which reads back as an integer no
        # record may hold; the row keeps the body in a spelling that reads back as the same double.
        text = json.dumps(json.loads(text, parse_int=_long_as_double), separators=(",", ":"), ensure_ascii=False)
    kind = made.kind.KIND if isinstance(made, CompletedRecord) else made.KIND
    return kind, completed.leaf, text, made.record() if isinstance(made, CompletedRecord) else made


def _utc_now() -> str:
    """When a migration step was applied (for people reading ``schema_version``; nothing depends on it)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _enter_wal(conn: sqlite3.Connection, patience: float = 60.0) -> None:
    """``PRAGMA journal_mode=WAL``, waiting while another process holds the lock it needs.

    Switching a new database to WAL takes an exclusive lock, and SQLite answers "database is locked" at once,
    without its busy handler, to a connection that finds it taken (waiting could deadlock inside SQLite). That is
    what every process but the first sees when several create one store at the same moment; so wait here, as
    the busy timeout would, and try again. On a database already in WAL mode this returns at the first try.
    """
    deadline = time.monotonic() + patience
    delay = 0.001
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL").fetchall()
            return
        except sqlite3.OperationalError as exc:
            if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


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


def _parsed(root: Path, what: str, parse: Callable[[], T]) -> T:
    """``parse()`` of a stored row; a row that does not parse is a corrupt store (exit 3), not bad input."""
    try:
        return parse()
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError, FormatError) as exc:
        reason = str(exc) or type(exc).__name__
        reason = reason if len(reason) <= 100 else reason[:97] + "..."
        raise StoreError(f"store {root} is corrupt: {what} cannot be read ({reason})") from None


def _json_object(text: Any) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise FormatError(f"a JSON object was expected, not {type(value).__name__}")
    return value


def _record_from_text(text: Any) -> Record:
    return record_from_body(_json_object(text))


def _head_from_row(root: Path, row: tuple[Any, ...]) -> SignedTreeHead:
    """A head from ``(body, signature, model_id, tree_size)``."""
    def parse() -> SignedTreeHead:
        if not isinstance(row[1], str):
            raise FormatError("its signature is not text")
        return SignedTreeHead(TreeHead.from_body(_json_object(row[0])), row[1])
    return _parsed(root, f"tree head {row[3]} of {row[2]!r}", parse)


def _receipt_from_row(root: Path, row: tuple[Any, ...]) -> AnchorReceipt:
    """A receipt from ``(body, id)``."""
    return _parsed(root, f"anchor receipt {row[1]}", lambda: AnchorReceipt.from_json(_json_object(row[0])))
