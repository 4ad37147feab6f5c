"""The store on PostgreSQL: one database shared by any number of processes and machines (psycopg 3, a pool).

Chosen with a URL (``--database postgresql://user:password@host:5432/pot`` or ``POT_DATABASE_URL``); the same
logs, heads, receipts, pending queue, settings, run registry and lineage as the SQLite store (pot.log.store), in
the same tables (pot.log.migrations numbers the schema of both).

Appends to one model's log are serialised by the database, never by a process: the transaction that appends
takes ``pg_advisory_xact_lock`` on the model id's hash, reads the log's last seq, inserts the next one and
commits, which releases the lock. Under READ COMMITTED (the default, which this store relies on) each statement
sees what committed before it started, so the read after the lock sees the previous holder's row. The primary key
(model_id, seq) is the backstop: a second row at one seq is refused, never stored. Heads of one model are signed
under the same lock, so they never fork.

A lost connection (the server restarting, a network cut) is retried on a fresh one until ``patience`` runs out;
what is retried is always a whole transaction, and only when it cannot have half-happened:

* an append whose COMMIT got no answer checks, on a new connection, whether its row landed (the same seq and
  record id): if so it is done, else it runs again. A record is never stored twice, nor lost once acknowledged.
* a head is signed by a ``make`` callback that consumes the leaves it is given, so ``add_head`` is not re-run
  after ``make`` was called: the error reaches the recorder, whose next flush signs again.

The password in the URL never reaches a message: errors show the URL without it (:func:`pot.log.store.shown_url`)
and any text from the server or driver is scrubbed of it.

Why this module sits beside pot/log/store.py rather than under a server package: the recorder, proof building,
the registry and every store verb of the CLI use it directly, as they use the SQLite store; a server (issue 10)
is one more user of the store protocol, not its owner. pot/log/store.py holds the protocol (``LogStore``), the
choice by URL (``open_store``) and the SQLite store; pot/log/migrations.py both schemas.

The signing key is not in the database: it stays in a key file (``POT_KEY_FILE``, else ``signing-key.pem`` in the
local directory ``root``), as does the local chain file. ``root`` holds nothing else.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from pot._internal import files
from pot.anchors.base import AnchorReceipt
from pot.errors import StoreError, UsageError
from pot.log import migrations
from pot.log.heads import SignedTreeHead
from pot.log.prepared import CompletedRecord
from pot.log.records import Record
from pot.log.store import (
    _LOCAL_CHAIN_TIP,
    IndexHook,
    LogSnapshot,
    R,
    _completed_text,
    _head_from_row,
    _json_object,
    _made_rows,
    _parsed,
    _receipt_from_row,
    _record_from_text,
    make_store_dir,
    parse_local_chain_tip,
    shown_url,
)

if TYPE_CHECKING:
    import psycopg

T = TypeVar("T")

POSTGRES_EXTRA = "postgres"
_FIRST_DELAY = 0.05  # seconds before the first retry; doubling up to one second
log = logging.getLogger(__name__)
_PAGE = 10_000  # records read per query when iterating a log

# ? and :name become psycopg's %s and %(name)s; a literal % is doubled. Quoted text and identifiers keep their ?
# and :, and :: (a cast) is left alone.
_PLACEHOLDERS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|::|\?|:(?P<name>[A-Za-z_]\w*)|%")


def pyformat(sql: str) -> str:
    """SQL written for the common dialect (``?`` and ``:name`` parameters) in psycopg's parameter style."""
    def replace(match: re.Match[str]) -> str:
        text = match.group(0)
        if text == "?":
            return "%s"
        if text == "%":
            return "%%"
        if match.group("name"):
            return f"%({match.group('name')})s"
        return text.replace("%", "%%")
    return _PLACEHOLDERS.sub(replace, sql)


def lock_key(kind: str, name: str) -> int:
    """A 64-bit advisory lock id for ``name`` (a model id, a setting): two names sharing one only wait for each
    other a little more, never wrongly."""
    return int.from_bytes(hashlib.sha256(f"pot.{kind}:{name}".encode()).digest()[:8], "big", signed=True)


_MIGRATION_LOCK = lock_key("schema", "migrate")
_EXCLUSIVE_LOCK = lock_key("store", "exclusive")


class Adapter:
    """A psycopg connection spoken to in the common dialect (what the registry and the lineage graph write)."""

    dialect = "postgresql"

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        return self._conn.execute(pyformat(sql), parameters)

    def executemany(self, sql: str, parameters: Any, /) -> None:
        with self._conn.cursor() as cursor:
            cursor.executemany(pyformat(sql), parameters)

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self._conn.info.transaction_status != TransactionStatus.IDLE


class _Rows:
    """Rows already fetched, answering like a cursor (for statements run on a pooled connection of their own)."""

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self._at = 0
        self.rowcount = rowcount

    def fetchone(self) -> Any:
        if self._at >= len(self._rows):
            return None
        self._at += 1
        return self._rows[self._at - 1]

    def fetchall(self) -> list[Any]:
        rest, self._at = self._rows[self._at:], len(self._rows)
        return rest

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class _PooledConnection:
    """``PostgresStore.connection()`` outside a transaction: each statement on a pooled connection, in autocommit."""

    dialect = "postgresql"
    in_transaction = False

    def __init__(self, store: PostgresStore) -> None:
        self._store = store

    def execute(self, sql: str, parameters: Any = (), /) -> _Rows:
        def work(conn: psycopg.Connection[Any]) -> _Rows:
            cursor = conn.execute(pyformat(sql), parameters)
            return _Rows(cursor.fetchall() if cursor.description is not None else [], cursor.rowcount)
        return self._store._run(work, begin=None)


class PostgresStore:
    """A pot store in a PostgreSQL database (a :class:`pot.log.store.LogStore`). Thread-safe; share one per process.

    ``patience``: seconds an operation keeps retrying while the server cannot be reached (a restart, say), and
    waits for a pooled connection; ``max_connections``: the pool's size.
    """

    dialect = "postgresql"

    def __init__(self, url: str, *, root: Path | str, create: bool = False, patience: float = 60.0,
                 max_connections: int = 8) -> None:
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError as exc:
            raise StoreError(f"a postgresql:// store needs the {POSTGRES_EXTRA} extra ({exc.name} is missing): "
                             f"pip install 'pot-provenance[{POSTGRES_EXTRA}]'") from None
        self._psycopg = psycopg
        self.root = Path(root)
        self.url = shown_url(url)
        try:
            self._password = urlsplit(url).password or ""
        except ValueError:
            self._password = ""
        self.patience = patience
        self._local = threading.local()
        self._closed = False
        try:
            first = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.ProgrammingError as exc:  # the URL itself does not parse
            raise UsageError(f"the database URL {self.url} is not valid: {self._scrub(exc)}") from None
        except psycopg.Error as exc:
            raise StoreError(f"cannot open the PostgreSQL store at {self.url}: {self._scrub(exc)}") from None
        try:
            self._check_schema(first, create)
        finally:
            first.close()
        if create:
            make_store_dir(self.root)  # the local directory: the signing key and the local chain file go there
        # No check on checkout (a round trip per operation): a connection that died while idle in the pool (a
        # server restart) fails its first statement, which nothing depends on yet, and _run takes another.
        self._max_connections = max_connections
        self._pool = ConnectionPool(url, min_size=1, max_size=max_connections, open=True, timeout=patience,
                                    kwargs={"autocommit": True, "connect_timeout": 10}, name="pot-store")
        files.remember_store(self.root)

    # --- connections and transactions -------------------------------------------------------------------------

    def _scrub(self, exc: BaseException | str) -> str:
        """The first line of an error's text, with the password cut out wherever it appears."""
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if self._password:
            text = text.replace(self._password, "***")
        return text if len(text) <= 300 else text[:297] + "..."

    def _explain(self, exc: BaseException) -> str:
        return f"PostgreSQL store at {self.url}: {self._scrub(exc)}"

    def _run(self, work: Callable[[psycopg.Connection[Any]], T], *, begin: str | None = "BEGIN",
             lock: int | None = None, retry_after_work: bool | Callable[[], bool] = True,
             landed: Callable[[psycopg.Connection[Any]], bool] | None = None) -> T:
        """``work(conn)`` in one transaction (``begin`` opens it; None: autocommit, for single reads), holding the
        advisory lock ``lock`` (taken in the same round trip as BEGIN: an append is latency-bound).

        A lost connection is retried on a new one until ``patience`` runs out, unless ``work`` has started and
        ``retry_after_work`` (or what it returns, when callable) is False. When COMMIT got no answer,
        ``landed(conn)`` (on a new connection) says whether it committed; without ``landed`` the work runs again,
        so it must be idempotent.
        """
        held: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if held is not None:  # inside exclusive(): join its transaction
            try:
                if lock is not None:
                    held.execute(f"SELECT pg_advisory_xact_lock({int(lock)})")
                return work(held)
            except self._psycopg.Error as exc:
                raise StoreError(self._explain(exc)) from exc
        if self._closed:
            raise StoreError(f"PostgreSQL store at {self.url} is closed")
        opening = None if begin is None else begin if lock is None else \
            f"{begin}; SELECT pg_advisory_xact_lock({int(lock)})"  # an int we made: nothing to quote
        deadline = time.monotonic() + self.patience
        delay = _FIRST_DELAY
        stale = 0  # pooled connections found dead on first use (after a server restart, all of them)
        unsure = False  # a COMMIT went unanswered: first find out whether it landed
        outcome: list[T] = []  # the result of the work whose COMMIT went unanswered
        while True:
            phase = "connect"
            conn = None
            try:
                with self._pool.connection() as conn:
                    if unsure and landed is not None:
                        phase = "check"
                        if landed(conn):
                            return outcome[0]
                        unsure = False
                    if opening is None:
                        phase = "read"
                        return work(conn)
                    phase = "begin"
                    conn.execute(opening)
                    try:
                        phase = "work"
                        outcome[:] = [work(conn)]
                        phase = "commit"
                        conn.execute("COMMIT")
                        return outcome[0]
                    except BaseException:
                        if phase != "commit" and not conn.broken:
                            with contextlib.suppress(self._psycopg.Error):  # the pool drops what it cannot reset
                                conn.execute("ROLLBACK")
                        raise
            except self._psycopg.OperationalError as exc:
                again = retry_after_work() if callable(retry_after_work) else retry_after_work
                if phase in ("work", "commit") and not again:
                    raise StoreError(self._explain(exc)) from exc
                # A COMMIT without an answer may have landed: check before running the work again. (One that
                # was refused on a live connection did not; checking then costs a query and finds nothing.)
                unsure = phase == "commit" and landed is not None
                if time.monotonic() > deadline:
                    raise StoreError(f"{self._explain(exc)} (gave up after {self.patience:g} s)") from exc
                if conn is not None and conn.broken and phase in ("begin", "read", "check") and \
                        stale <= self._max_connections:
                    stale += 1  # a connection that died while idle in the pool: the next one may be alive
                    continue
                if delay == _FIRST_DELAY:  # once per operation: a restart makes every waiting append say it
                    log.warning("%s; retrying for up to %g s", self._explain(exc), self.patience)
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
            except self._psycopg.Error as exc:
                raise StoreError(self._explain(exc)) from exc

    def exclusive(self, work: Callable[[], T]) -> T:
        """Run ``work()`` in one transaction holding the store-wide lock; the store's calls inside join it.

        On PostgreSQL this serialises with other ``exclusive`` calls (creating the signing key and remembering
        its id, say), not with every append: appends of one model serialise on that model's own lock.
        """
        if getattr(self._local, "conn", None) is not None:
            return work()

        def run(conn: psycopg.Connection[Any]) -> T:
            self._local.conn = conn
            try:
                return work()
            finally:
                self._local.conn = None
        return self._run(run, lock=_EXCLUSIVE_LOCK, retry_after_work=False)

    def _query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[Any]:
        return self._run(lambda conn: conn.execute(sql, params).fetchall(), begin=None)

    def read(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """A read-only query in the common dialect (``?`` parameters), errors as StoreError (the registry's)."""
        return self._query(pyformat(sql), params)

    def connection(self) -> Any:
        """For the lineage graph's queries: this thread's transaction inside ``exclusive``, else pooled statements."""
        held = getattr(self._local, "conn", None)
        return Adapter(held) if held is not None else _PooledConnection(self)

    @property
    def read_only(self) -> bool:
        return False  # what a role may not write is refused by the server, statement by statement

    @property
    def schema_version(self) -> int:
        return self._run(lambda conn: self._version(conn) or 0, begin=None)

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._pool.close()

    # --- schema -----------------------------------------------------------------------------------------------

    @staticmethod
    def _version(conn: psycopg.Connection[Any]) -> int | None:
        if conn.execute("SELECT to_regclass('schema_version')").fetchone()[0] is None:  # type: ignore[index]
            return None
        row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def _check_schema(self, conn: psycopg.Connection[Any], create: bool) -> None:
        try:
            version = self._version(conn)
            if version is not None and version > migrations.SCHEMA_VERSION:
                raise StoreError(f"the store at {self.url} was written by a newer pot (schema {version}); "
                                 "upgrade pot")
            if version is not None and version >= migrations.SCHEMA_VERSION:
                return
            # One process applies each step; the others wait for the lock, then find it applied. The lock is the
            # session's, taken before the transactions: a transaction that starts after another committed sees
            # the tables it made, while one that was already open when it waited may still see the catalog as it
            # was (PostgreSQL caches a missing table's name) and try to create them again.
            conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
            try:
                # Asked again under the lock, each in a statement of its own after it: without the lock, a process
                # creating the store could commit between "no schema_version" and "a records table", and this one
                # would call a store being born a stranger's table.
                version = self._version(conn)
                if version is None:
                    if conn.execute("SELECT to_regclass('records')").fetchone()[0] is not None:  # type: ignore[index]
                        raise StoreError(f"the database at {self.url} holds a records table that is not a pot "
                                         "store's (no schema_version); give pot a database of its own")
                    if not create:
                        raise StoreError(f"the database at {self.url} holds no pot store yet; run `pot init` with "
                                         "--database (or POT_DATABASE_URL) to create it")
                elif version > migrations.SCHEMA_VERSION:
                    raise StoreError(f"the store at {self.url} was written by a newer pot (schema {version}); "
                                     "upgrade pot")
                for step in migrations.POSTGRES:
                    with conn.transaction():
                        now = self._version(conn)
                        if now is not None and now >= step.version:
                            continue
                        for statement in step.statements:
                            conn.execute(statement)
                        conn.execute(migrations.POSTGRES_VERSION_TABLE)
                        conn.execute("INSERT INTO schema_version VALUES (%s, to_char(now() AT TIME ZONE 'UTC', "
                                     "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), %s)", (step.version, step.about))
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
        except self._psycopg.Error as exc:
            raise StoreError(f"cannot set up the PostgreSQL store at {self.url}: {self._scrub(exc)}") from exc

    # --- records ----------------------------------------------------------------------------------------------

    def append(self, model_id: str, make: Callable[[int, int], R], index: IndexHook | None = None) -> R:
        """Append ``make(seq, last_lamport)`` at the next seq of ``model_id``'s log (see :meth:`Store.append`).

        The seq is read and the row inserted under the model's advisory lock, in one transaction.
        """
        made: list[Any] = []

        def work(conn: psycopg.Connection[Any]) -> R:
            row = conn.execute("SELECT seq, lamport FROM records WHERE model_id = %s ORDER BY seq DESC LIMIT 1",
                               (model_id,)).fetchone()
            seq, last = (0, 0) if row is None else (int(row[0]) + 1, int(row[1] or 0))
            record = make(seq, last)
            kind, leaf, text, parsed = _completed_text(record)
            conn.execute("INSERT INTO records VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                         (model_id, seq, kind, record.record_id, leaf, record.timestamp, record.lamport, text))
            if index is not None:
                index(Adapter(conn), parsed)
            made[:] = [seq, record.record_id]
            return record

        def landed(conn: psycopg.Connection[Any]) -> bool:
            row = conn.execute("SELECT record_id FROM records WHERE model_id = %s AND seq = %s",
                               (model_id, made[0])).fetchone()
            return row is not None and row[0] == made[1]

        return self._run(work, lock=lock_key("log", model_id), landed=landed)

    def append_many(self, model_id: str, plan: Callable[[Any], Sequence[Callable[[int, int], CompletedRecord]]],
                    after: Callable[[Any, list[CompletedRecord]], None] | None = None) -> list[CompletedRecord]:
        """Append several records in one transaction under the model's advisory lock (see
        :meth:`Store.append_many`): one seq read, one multi-row insert."""
        first: list[Any] = []

        def work(conn: psycopg.Connection[Any]) -> list[CompletedRecord]:
            adapter = Adapter(conn)
            makes = plan(adapter)
            if not makes:
                first[:] = []
                return []
            row = conn.execute("SELECT seq, lamport FROM records WHERE model_id = %s ORDER BY seq DESC LIMIT 1",
                               (model_id,)).fetchone()
            seq, last = (0, 0) if row is None else (int(row[0]) + 1, int(row[1] or 0))
            made, rows = _made_rows(model_id, makes, seq, last)
            with conn.cursor() as cursor:
                cursor.executemany("INSERT INTO records VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", rows)
            if after is not None:
                after(adapter, made)
            first[:] = [made[0].seq, made[0].record_id]
            return made

        def landed(conn: psycopg.Connection[Any]) -> bool:
            if not first:
                return False  # nothing was to be appended: running the plan again is harmless
            row = conn.execute("SELECT record_id FROM records WHERE model_id = %s AND seq = %s",
                               (model_id, first[0])).fetchone()
            return row is not None and row[0] == first[1]

        return self._run(work, lock=lock_key("log", model_id), landed=landed)

    def size(self, model_id: str) -> int:
        row = self._query("SELECT MAX(seq) FROM records WHERE model_id = %s", (model_id,))[0]
        return 0 if row[0] is None else int(row[0]) + 1

    def models(self) -> list[str]:
        return [row[0] for row in self._query("SELECT DISTINCT model_id FROM records ORDER BY model_id")]

    def leaves(self, model_id: str, start: int = 0, end: int | None = None) -> list[bytes]:
        end = self.size(model_id) if end is None else end
        rows = self._query("SELECT leaf FROM records WHERE model_id = %s AND seq >= %s AND seq < %s ORDER BY seq",
                           (model_id, start, end))
        return [bytes(row[0]) for row in rows]

    def records(self, model_id: str, start: int = 0, end: int | None = None) -> Iterator[Record]:
        end = self.size(model_id) if end is None else end
        at = start
        while at < end:  # a page per query: a long log is never held in memory whole
            rows = self._query("SELECT seq, body FROM records WHERE model_id = %s AND seq >= %s AND seq < %s "
                               "ORDER BY seq LIMIT %s", (model_id, at, end, _PAGE))
            if not rows:
                return
            for seq, body in rows:
                yield _parsed(self.root, f"record {seq} of {model_id!r}", partial(_record_from_text, body))
            at = int(rows[-1][0]) + 1

    def snapshot(self, model_id: str) -> LogSnapshot:
        """One consistent view of a model's log up to its latest signed head (one REPEATABLE READ transaction)."""
        def work(conn: psycopg.Connection[Any]) -> tuple[list[Any], list[Any], list[Any]]:
            heads = conn.execute("SELECT body, signature, model_id, tree_size FROM heads WHERE model_id = %s "
                                 "ORDER BY tree_size", (model_id,)).fetchall()
            size = int(heads[-1][3]) if heads else 0
            rows = conn.execute("SELECT leaf, body FROM records WHERE model_id = %s AND seq < %s ORDER BY seq",
                                (model_id, size)).fetchall()
            receipts = conn.execute("SELECT body, id FROM anchors WHERE model_id = %s ORDER BY id",
                                    (model_id,)).fetchall()
            return heads, rows, receipts
        head_rows, rows, receipt_rows = self._run(work, begin="BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        heads = [_head_from_row(self.root, row) for row in head_rows]
        bodies = [_parsed(self.root, f"record {seq} of {model_id!r}", partial(_json_object, row[1]))
                  for seq, row in enumerate(rows)]
        receipts = [_receipt_from_row(self.root, row) for row in receipt_rows]
        return LogSnapshot(model_id, bodies, [bytes(row[0]) for row in rows], heads, receipts)

    def require_model(self, model_id: str) -> None:
        if self.size(model_id) == 0:
            known = self.models()
            hint = f"; known: {', '.join(known[:10])}" if known else "; the store has no records yet"
            raise UsageError(f"unknown model id {model_id!r}{hint}")

    # --- tree heads -------------------------------------------------------------------------------------------

    def add_head(self, model_id: str,
                 make: Callable[[SignedTreeHead | None, list[bytes], str | None], SignedTreeHead | None],
                 known_leaves: int) -> SignedTreeHead | None:
        """Sign a new head under the model's lock, so heads of one log never fork (see :meth:`Store.add_head`)."""
        made = [False]

        def work(conn: psycopg.Connection[Any]) -> SignedTreeHead | None:
            row = conn.execute("SELECT body, signature, model_id, tree_size FROM heads WHERE model_id = %s "
                               "ORDER BY tree_size DESC LIMIT 1", (model_id,)).fetchone()
            latest = None if row is None else _head_from_row(self.root, row)
            rows = conn.execute('SELECT leaf, "timestamp" FROM records WHERE model_id = %s AND seq >= %s '
                                "ORDER BY seq", (model_id, known_leaves)).fetchall()
            newest = max((r[1] for r in rows), default=None)
            made[0] = True
            head = make(latest, [bytes(r[0]) for r in rows], newest)
            if head is not None:
                conn.execute("INSERT INTO heads VALUES (%s, %s, %s, %s, %s)",
                             (model_id, head.head.tree_size, head.head.head_hash,
                              json.dumps(head.head.body(), separators=(",", ":")), head.signature))
            return head
        # make() consumes the leaves it is given (the recorder's frontier): once it ran, never run it again
        return self._run(work, lock=lock_key("log", model_id), retry_after_work=lambda: not made[0])

    def heads(self, model_id: str) -> list[SignedTreeHead]:
        rows = self._query("SELECT body, signature, model_id, tree_size FROM heads WHERE model_id = %s "
                           "ORDER BY tree_size", (model_id,))
        return [_head_from_row(self.root, row) for row in rows]

    def latest_head(self, model_id: str) -> SignedTreeHead | None:
        rows = self._query("SELECT body, signature, model_id, tree_size FROM heads WHERE model_id = %s "
                           "ORDER BY tree_size DESC LIMIT 1", (model_id,))
        return _head_from_row(self.root, rows[0]) if rows else None

    # --- anchor receipts --------------------------------------------------------------------------------------

    def add_receipt(self, model_id: str, receipt: AnchorReceipt) -> bool:
        """Store a receipt; False when this head already has one from this backend (nothing anchors twice)."""
        body = json.dumps(receipt.to_json(), separators=(",", ":"))

        def work(conn: psycopg.Connection[Any]) -> bool:
            cursor = conn.execute("INSERT INTO anchors (model_id, head_hash, backend, body) VALUES (%s, %s, %s, %s) "
                                  "ON CONFLICT (head_hash, backend) DO NOTHING",
                                  (model_id, receipt.head_hash, receipt.backend, body))
            return cursor.rowcount == 1

        def landed(conn: psycopg.Connection[Any]) -> bool:
            return conn.execute("SELECT 1 FROM anchors WHERE head_hash = %s AND backend = %s AND body = %s",
                                (receipt.head_hash, receipt.backend, body)).fetchone() is not None

        return self._run(work, landed=landed)

    def receipts(self, model_id: str) -> list[AnchorReceipt]:
        rows = self._query("SELECT body, id FROM anchors WHERE model_id = %s ORDER BY id", (model_id,))
        return [_receipt_from_row(self.root, row) for row in rows]

    def pending_heads(self, backend: str, model_id: str | None = None, *, newest_only: bool = False
                      ) -> list[SignedTreeHead]:
        """The pending queue (see :meth:`Store.pending_heads`): heads newer than the newest ``backend`` anchored."""
        covered = ("SELECT MAX(h2.tree_size) FROM heads h2 JOIN anchors a ON a.head_hash = h2.head_hash "
                   "AND a.backend = %s WHERE h2.model_id = h.model_id")
        sql = (f"SELECT h.body, h.signature, h.model_id, h.tree_size FROM heads h "
               f"WHERE h.tree_size > COALESCE(({covered}), 0)")
        params: tuple[Any, ...] = (backend,)
        if newest_only:
            sql += " AND h.tree_size = (SELECT MAX(h3.tree_size) FROM heads h3 WHERE h3.model_id = h.model_id)"
        if model_id is not None:
            sql += " AND h.model_id = %s"
            params += (model_id,)
        return [_head_from_row(self.root, row) for row in self._query(sql + " ORDER BY h.model_id, h.tree_size",
                                                                       params)]

    # --- settings ---------------------------------------------------------------------------------------------

    def get_setting(self, key: str, default: str | None = None) -> str | None:
        rows = self._query("SELECT value FROM settings WHERE key = %s", (key,))
        return str(rows[0][0]) if rows else default

    def claim_setting(self, key: str, value: str) -> str:
        """Set ``key`` unless it holds a value; the value it holds now (of processes racing, one wins)."""
        def work(conn: psycopg.Connection[Any]) -> str:
            conn.execute("INSERT INTO settings VALUES (%s, %s) ON CONFLICT (key) DO NOTHING", (key, value))
            return str(conn.execute("SELECT value FROM settings WHERE key = %s", (key,)).fetchone()[0])  # type: ignore[index]
        return self._run(work)

    def set_setting(self, key: str, value: str) -> None:
        self._run(lambda conn: conn.execute("INSERT INTO settings VALUES (%s, %s) ON CONFLICT (key) DO UPDATE "
                                            "SET value = EXCLUDED.value", (key, value)))

    def local_chain_tip(self) -> tuple[int, str] | None:
        """The newest local chain entry this store saw appended (see :meth:`Store.local_chain_tip`)."""
        raw = self.get_setting(_LOCAL_CHAIN_TIP)
        return None if raw is None else parse_local_chain_tip(self.root, raw)

    def advance_local_chain_tip(self, index: int, entry_hash: str) -> None:
        """Remember entry ``index`` as the chain's tip unless a later one is remembered already."""
        def work(conn: psycopg.Connection[Any]) -> None:
            row = conn.execute("SELECT value FROM settings WHERE key = %s", (_LOCAL_CHAIN_TIP,)).fetchone()
            if row is not None:
                try:
                    if json.loads(row[0])["index"] >= index:
                        return
                except (ValueError, KeyError, TypeError):
                    pass  # a malformed tip is replaced by a good one
            conn.execute("INSERT INTO settings VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                         (_LOCAL_CHAIN_TIP, json.dumps({"index": index, "entry_hash": entry_hash},
                                                       separators=(",", ":"))))
        self._run(work, lock=lock_key("setting", _LOCAL_CHAIN_TIP))

