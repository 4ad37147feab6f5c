"""The store's schema, as numbered migrations per backend (SQLite, PostgreSQL).

A store's schema version is the number of the last step applied to it. Opening a store applies the steps it lacks,
in order, each in one transaction under the store's write lock (so processes opening one store at once apply each
step exactly once), and records each in the ``schema_version`` table. A store whose version is newer than the
last step here was written by a newer pot and is refused. Steps are never edited once released; a change is a new
step at the end.

Both backends number their steps alike, so "schema 2" means the same tables on either:

1. the logs (records, tree heads, anchor receipts; rows that can be neither changed nor deleted), settings and
   the run registry. SQLite stores made before migrations existed are at this version.
2. the lineage graph's tables, which pot.lineage.graph created on first use until then (a store that could only
   be read, such as an auditor's copy, could never get them), and ``schema_version`` itself.

SQLite stores also keep the version in ``meta`` (key ``schema_version``), where pots older than migrations read
it: they refuse a store whose version is newer than theirs rather than misread it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    about: str
    statements: tuple[str, ...]


def _sqlite_append_only(tables: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{action.lower()} BEFORE {action} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} are append-only'); END"
        for table in tables for action in ("UPDATE", "DELETE"))


# Frozen: this is the schema of every SQLite store made before migrations existed (version 1). The statements are
# idempotent because version 1 was created that way, by every process opening a new store at once.
SQLITE: tuple[Migration, ...] = (
    Migration(1, "logs, heads, anchor receipts, settings, runs", (
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE IF NOT EXISTS records (
            model_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            kind TEXT NOT NULL,
            record_id TEXT NOT NULL,
            leaf BLOB NOT NULL,
            timestamp TEXT NOT NULL,
            lamport INTEGER,
            body TEXT NOT NULL,
            PRIMARY KEY (model_id, seq)
        ) WITHOUT ROWID""",
        """CREATE TABLE IF NOT EXISTS heads (
            model_id TEXT NOT NULL,
            tree_size INTEGER NOT NULL,
            head_hash TEXT NOT NULL UNIQUE,
            body TEXT NOT NULL,
            signature TEXT NOT NULL,
            PRIMARY KEY (model_id, tree_size)
        ) WITHOUT ROWID""",
        """CREATE TABLE IF NOT EXISTS anchors (
            id INTEGER PRIMARY KEY,
            model_id TEXT NOT NULL,
            head_hash TEXT NOT NULL REFERENCES heads (head_hash),
            backend TEXT NOT NULL,
            body TEXT NOT NULL,
            UNIQUE (head_hash, backend)
        )""",
        "CREATE INDEX IF NOT EXISTS anchors_by_model ON anchors (model_id)",
        "CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE IF NOT EXISTS runs (
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
        )""",
        "CREATE INDEX IF NOT EXISTS runs_by_started ON runs (started)",
        "CREATE INDEX IF NOT EXISTS runs_by_kind ON runs (kind, started)",
        "CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status, started)",
        *_sqlite_append_only(("records", "heads", "anchors")),
    )),
    Migration(2, "the lineage graph's tables; the schema_version history", (
        "CREATE TABLE IF NOT EXISTS lineage_nodes (node_id TEXT PRIMARY KEY, kind TEXT NOT NULL, label TEXT, "
        "digest TEXT, created TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS lineage_edges (child TEXT NOT NULL, parent TEXT NOT NULL, relation TEXT NOT NULL, "
        "PRIMARY KEY (child, parent, relation))",
        "CREATE INDEX IF NOT EXISTS lineage_edges_parent ON lineage_edges (parent, child)",
    )),
)

# The history of applied steps; created by the migration runner before it records a step (a step's own
# statements never need it).
SQLITE_VERSION_TABLE = ("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                        "applied TEXT NOT NULL, about TEXT NOT NULL)")

_PG_APPEND_ONLY = tuple(
    statement for table in ("records", "heads", "anchors") for statement in (
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION pot_append_only()",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION pot_append_only()",
    ))

# PostgreSQL runs each step in a transaction (its DDL is transactional), so a step is applied whole or not at all
# and needs no IF NOT EXISTS. Record bodies stay TEXT, never JSONB: a record's canonical text is stored as it was
# hashed, and JSONB would reorder keys and respell numbers.
POSTGRES: tuple[Migration, ...] = (
    Migration(1, "logs, heads, anchor receipts, settings, runs", (
        """CREATE TABLE records (
            model_id TEXT NOT NULL,
            seq BIGINT NOT NULL CHECK (seq >= 0),
            kind TEXT NOT NULL,
            record_id TEXT NOT NULL,
            leaf BYTEA NOT NULL,
            "timestamp" TEXT NOT NULL,
            lamport BIGINT,
            body TEXT NOT NULL,
            PRIMARY KEY (model_id, seq)
        )""",
        """CREATE TABLE heads (
            model_id TEXT NOT NULL,
            tree_size BIGINT NOT NULL,
            head_hash TEXT NOT NULL UNIQUE,
            body TEXT NOT NULL,
            signature TEXT NOT NULL,
            PRIMARY KEY (model_id, tree_size)
        )""",
        """CREATE TABLE anchors (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            model_id TEXT NOT NULL,
            head_hash TEXT NOT NULL REFERENCES heads (head_hash),
            backend TEXT NOT NULL,
            body TEXT NOT NULL,
            UNIQUE (head_hash, backend)
        )""",
        "CREATE INDEX anchors_by_model ON anchors (model_id)",
        "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE runs (
            run_id TEXT PRIMARY KEY,
            model_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            started TEXT NOT NULL,
            ended TEXT,
            error TEXT,
            start_seq BIGINT NOT NULL,
            end_seq BIGINT,
            config_hash TEXT,
            git_commit TEXT,
            git_dirty INTEGER,
            "user" TEXT,
            rerun_of TEXT
        )""",
        "CREATE INDEX runs_by_started ON runs (started)",
        "CREATE INDEX runs_by_kind ON runs (kind, started)",
        "CREATE INDEX runs_by_status ON runs (status, started)",
        """CREATE FUNCTION pot_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% are append-only', TG_TABLE_NAME;
        END
        $$""",
        *_PG_APPEND_ONLY,
    )),
    Migration(2, "the lineage graph's tables; the schema_version history", (
        "CREATE TABLE lineage_nodes (node_id TEXT PRIMARY KEY, kind TEXT NOT NULL, label TEXT, digest TEXT, "
        "created TEXT NOT NULL)",
        "CREATE TABLE lineage_edges (child TEXT NOT NULL, parent TEXT NOT NULL, relation TEXT NOT NULL, "
        "PRIMARY KEY (child, parent, relation))",
        "CREATE INDEX lineage_edges_parent ON lineage_edges (parent, child)",
    )),
)

POSTGRES_VERSION_TABLE = ("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                          "applied TEXT NOT NULL, about TEXT NOT NULL)")

SCHEMA_VERSION = SQLITE[-1].version  # the same on both backends (tests/unit/test_migrations.py checks)
