"""The run registry and lineage graph of a store: derived indexes over the event records in its logs.

Every ``RunStarted``/``RunCompleted``/``ArtifactSaved`` event updates the ``runs`` table and the lineage graph
(pot.lineage.graph) inside the transaction that appends it (see :func:`index_event`), so the index never disagrees with
the log, and an event the index refuses (a parent link that would close a cycle) is not stored at all. The index
is a cache of what the signed logs say: queries read it for speed (10,000 runs list in milliseconds), proofs read
the logs.

Lineage nodes: runs (by run id), models (by model id), datasets (by the id a run gave them) and artifacts
(``artifact:<sha256>``). Edges point from what was derived to what it came from: a model to the runs that
trained it, a run to its parents (the model it was fine-tuned from, the datasets it read), an artifact to the run
that saved it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pot._internal import paths
from pot.errors import FormatError, UsageError
from pot.lineage.events import ARTIFACT_SAVED, RUN_COMPLETED, RUN_STARTED, check_reference
from pot.lineage.graph import LineageGraph
from pot.log.records import EventRecord, Record

if TYPE_CHECKING:
    from pot.log.store import Connection

RUN_CONFIG_FORMAT = "pot.run-config.v1"


def index_event(conn: Connection, record: Record) -> None:
    """Update the runs table and the lineage graph for one appended record (inside its transaction).

    ``conn`` is the appending transaction's connection, on either backend (SQL in their common dialect)."""
    if not isinstance(record, EventRecord) or record.run_id is None:
        return  # only runs' events are indexed; a model's promotions live in its log alone
    run_id = record.run_id
    data = record.data
    graph = LineageGraph(conn)
    if record.event == RUN_STARTED:
        git = data.get("git") or {}
        # ON CONFLICT rather than catching the error: on PostgreSQL a failed statement would end the transaction
        cursor = conn.execute(
            'INSERT INTO runs (run_id, model_id, kind, status, started, start_seq, config_hash, git_commit, '
            'git_dirty, "user", rerun_of) VALUES (?, ?, ?, \'running\', ?, ?, ?, ?, ?, ?, ?) '
            'ON CONFLICT (run_id) DO NOTHING',
            (run_id, record.model_id, data.get("kind"), record.timestamp, record.seq,
             data.get("config_hash"), git.get("commit"), None if git.get("dirty") is None else int(git["dirty"]),
             data.get("user"), data.get("rerun_of")))
        if cursor.rowcount != 1:
            raise UsageError(f"run {run_id!r} has already started")
        graph.add_node(run_id, "run", label=data.get("kind"), created=record.timestamp)
        graph.add_node(record.model_id, "model")
        for parent in data.get("parents", []):
            # A model's weights change along its log, so its node carries no digest (the event keeps the one the
            # run started from); a dataset or artifact is its content.
            digest = None if parent["kind"] in ("model", "run") else parent.get("digest")
            existing = graph.node(parent["id"])
            if existing is None:
                graph.add_node(parent["id"], parent["kind"], digest=digest)
            elif existing.kind != parent["kind"] or (digest is not None and existing.digest not in (None, digest)):
                # a reference names a node; it must not contradict what the graph already knows of it
                raise UsageError(f"parent {parent['id']!r} is a {existing.kind}"
                                 + (f" with digest {existing.digest}" if existing.digest else "")
                                 + f" here, not a {parent['kind']}" + (f" with digest {digest}" if digest else ""))
            graph.add_edge(run_id, parent["id"], parent["relation"])
        graph.add_edge(record.model_id, run_id, "trained_by")
    elif record.event == RUN_COMPLETED:
        conn.execute("UPDATE runs SET status = ?, ended = ?, error = ?, end_seq = ? WHERE run_id = ?",
                     (data.get("status"), record.timestamp, data.get("error"), record.seq, run_id))
    elif record.event == ARTIFACT_SAVED:
        node = f"artifact:{data['sha256']}"
        graph.add_node(node, "artifact", label=data.get("name"), digest=data["sha256"])
        graph.add_edge(node, run_id, "saved_by")


# --- queries ------------------------------------------------------------------------------------------------------

_RUN_COLUMNS = ("run_id", "model_id", "kind", "status", "started", "ended", "error", "start_seq", "end_seq",
                "config_hash", "git_commit", "git_dirty", "user", "rerun_of")
# "user" quoted: on PostgreSQL a bare user is the current role's name, not the column
_RUN_SELECT = ", ".join(f'"{c}"' if c == "user" else c for c in _RUN_COLUMNS)


def _run_row(row: tuple[Any, ...]) -> dict[str, Any]:
    run = dict(zip(_RUN_COLUMNS, row, strict=True))
    if run["git_dirty"] is not None:
        run["git_dirty"] = bool(run["git_dirty"])
    return run


def list_runs(store: Any, *, kind: str | None = None, status: str | None = None, limit: int = 20,
              model_id: str | None = None, offset: int = 0, model_prefix: str = "") -> list[dict[str, Any]]:
    """The newest runs first, optionally of one kind, status or model (indexed: fast at any number of runs),
    only of models whose id starts with ``model_prefix`` (a token's scope), skipping the first ``offset`` (a page
    of a longer list)."""
    if limit < 1:
        raise UsageError("-n must be at least 1")
    if offset < 0:
        raise UsageError("the offset must be 0 or more")
    limit = min(limit, 2**62)  # "all of them": SQLite's LIMIT takes a 64-bit integer
    where, params = [], []
    if kind is not None:
        where.append("kind = ?")
        params.append(kind)
    if status is not None:
        where.append("status = ?")
        params.append(status)
    if model_id is not None:
        where.append("model_id = ?")
        params.append(model_id)
    if model_prefix:
        # not LIKE: a prefix may hold % or _ (the CAST types the parameter for PostgreSQL)
        where.append("substr(model_id, 1, length(CAST(? AS TEXT))) = ?")
        params += [model_prefix, model_prefix]
    sql = f"SELECT {_RUN_SELECT} FROM runs"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY started DESC, run_id DESC LIMIT ? OFFSET ?"
    return [_run_row(row) for row in store.read(sql, (*params, limit, min(offset, 2**62)))]


def get_run(store: Any, run_id: str) -> dict[str, Any]:
    rows = store.read(f"SELECT {_RUN_SELECT} FROM runs WHERE run_id = ?", (run_id,))
    if not rows:
        hint = store.read("SELECT run_id FROM runs ORDER BY started DESC LIMIT 1")
        raise UsageError(f"unknown run id {run_id!r}" + (f"; the newest is {hint[0][0]}" if hint else
                                                          "; the store has no runs yet"))
    return _run_row(rows[0])


def run_records(store: Any, run: Mapping[str, Any]) -> list[Record]:
    """Every record of a run, in log order: its span of its model's log, filtered by run id."""
    end = run["end_seq"] + 1 if run["end_seq"] is not None else None
    return [r for r in store.records(run["model_id"], run["start_seq"], end) if r.run_id == run["run_id"]]


def run_started_data(store: Any, run: Mapping[str, Any]) -> dict[str, Any]:
    records = list(store.records(run["model_id"], run["start_seq"], run["start_seq"] + 1))
    if not records or not isinstance(records[0], EventRecord) or records[0].event != RUN_STARTED:
        raise UsageError(f"run {run['run_id']!r}: its RunStarted record is missing from the log")
    return dict(records[0].data)


# A run's duration in seconds, from its ISO 8601 texts: the one query whose SQL differs between the backends.
_SECONDS_BETWEEN = {
    "sqlite": "(julianday(ended) - julianday(started)) * 86400.0",
    "postgresql": "EXTRACT(EPOCH FROM CAST(ended AS TIMESTAMPTZ) - CAST(started AS TIMESTAMPTZ))::float8",
}


def run_stats(store: Any) -> dict[str, Any]:
    by_status = dict(store.read("SELECT status, COUNT(*) FROM runs GROUP BY status"))
    by_kind = dict(store.read("SELECT kind, COUNT(*) FROM runs GROUP BY kind"))
    span = store.read("SELECT MIN(started), MAX(started), COUNT(*) FROM runs")[0]
    seconds = _SECONDS_BETWEEN[getattr(store, "dialect", "sqlite")]
    durations = store.read(f"SELECT kind, AVG({seconds}), COUNT(*) FROM runs WHERE ended IS NOT NULL GROUP BY kind")
    return {"runs": span[2], "first_started": span[0], "last_started": span[1], "by_status": by_status,
            "by_kind": by_kind,
            "mean_seconds_by_kind": {kind: round(mean, 3) for kind, mean, _ in durations if mean is not None}}


def export_config(store: Any, run_id: str) -> dict[str, Any]:
    """What it takes to run ``run_id`` again: kind, model, configuration (with its hash) and parents."""
    run = get_run(store, run_id)
    data = run_started_data(store, run)
    return {"format": RUN_CONFIG_FORMAT, "run_id": run_id, "kind": data["kind"], "model_id": run["model_id"],
            "config": data["config"], "config_hash": data["config_hash"], "parents": data["parents"],
            "git_commit": data["git"].get("commit")}


MAX_RUN_CONFIG_BYTES = 64 << 20


def load_run_config(path: str | Path) -> dict[str, Any]:
    """Read a file written by ``pot runs export-config`` and check it (one clear line if it is not one)."""
    from pot._internal import strictjson
    from pot.lineage.environment import config_hash

    try:
        with Path(path).open("rb") as handle:
            data = handle.read(MAX_RUN_CONFIG_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        document = strictjson.loads(data, f"config file {path}", max_bytes=MAX_RUN_CONFIG_BYTES)
    except FormatError as exc:
        raise UsageError(str(exc)) from None
    if not isinstance(document, dict) or document.get("format") != RUN_CONFIG_FORMAT:
        raise UsageError(f"config file {path} is not a pot run config (format {RUN_CONFIG_FORMAT})")
    if not isinstance(document.get("config"), dict) or config_hash(document["config"]) != document.get("config_hash"):
        raise UsageError(f"config file {path}: the config does not match its config_hash (edited by hand?)")
    return document


def lineage(store: Any, node_id: str) -> LineageGraph:
    if getattr(store, "dialect", "sqlite") == "sqlite" and not store.read(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'lineage_nodes'"):
        # a store from before schema 2 that never recorded a run, read where it cannot be migrated (an auditor's copy)
        raise UsageError(f"unknown lineage id {node_id!r}: this store has recorded no lineage yet")
    graph = LineageGraph(store.connection)
    if graph.node(node_id) is None:
        if not store.read("SELECT 1 FROM lineage_nodes LIMIT 1"):  # the tables exist from schema 2 on, maybe empty
            raise UsageError(f"unknown lineage id {node_id!r}: this store has recorded no lineage yet")
        raise UsageError(f"unknown lineage id {node_id!r}: give a run id, model id, dataset id or artifact id")
    return graph


# --- reproducibility ----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Reproducibility:
    run_id: str
    checks: list[tuple[str, bool, str]] = field(default_factory=list)

    @property
    def reproducible(self) -> bool:
        return all(passed for _, passed, _ in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "reproducible": self.reproducible,
                "checks": [{"name": n, "passed": p, "detail": d} for n, p, d in self.checks]}


def reproducibility(recorder: Any, run_id: str, *, parent_proofs: Mapping[str, Any] | None = None
                    ) -> Reproducibility:
    """Whether ``run_id`` can be run again and its inputs trusted: its configuration and environment are recorded
    (and hash as recorded), its code is a clean git commit, its log's proof verifies, and every parent it names is
    present and checks out (a parent run is in this store; a parent model's proof, from this store or
    ``parent_proofs``, verifies and holds the referenced head; a dataset with a path has the recorded digest)."""
    from pot.hashing import checkpoint_digest
    from pot.lineage.environment import config_hash, environment_hash
    from pot.log.verify import verify_proof

    store = recorder.store
    run = get_run(store, run_id)
    result = Reproducibility(run_id)
    data = run_started_data(store, run)
    result.checks.append(("configuration", data["config_hash"] == config_hash(data["config"]),
                          f"recorded with hash {data['config_hash'][:16]}..."))
    result.checks.append(("environment", data["environment_hash"] == environment_hash(data["environment"]),
                          f"{len(data['environment'].get('packages', {}))} packages, Python "
                          f"{data['environment'].get('python', {}).get('version', '?')}"))
    commit, dirty = data["git"].get("commit"), data["git"].get("dirty")
    result.checks.append(("code", bool(commit) and dirty is False,
                          f"git commit {commit[:12]}" + (" with uncommitted changes" if dirty else "")
                          if commit else "no git commit recorded"))
    result.checks.append(("status", run["status"] == "completed", f"run {run['status']}"))
    try:
        proof = recorder.generate_proof_of_training(run["model_id"])
        verify_proof(proof, trusted_key=recorder.public_key)
        result.checks.append(("proof", True, f"the log of {run['model_id']} verifies ({len(proof.records)} records)"))
    except Exception as exc:
        result.checks.append(("proof", False, f"the log of {run['model_id']} does not verify: {exc}"))
    supplied = dict(parent_proofs or {})
    for parent in data["parents"]:
        name = f"parent {parent['kind']} {parent['id']}"
        if parent["kind"] == "run":
            found = store.read("SELECT status FROM runs WHERE run_id = ?", (parent["id"],))
            result.checks.append((name, bool(found) and found[0][0] == "completed",
                                  f"run {found[0][0]}" if found else "not in this store"))
        elif parent["proof"] is not None:
            result.checks.append((name, *_check_parent_proof(recorder, parent["proof"], supplied)))
        elif parent["kind"] == "dataset" and parent.get("path"):
            path = Path(parent["path"])
            try:
                if paths.status(path, "dataset") is None:
                    result.checks.append((name, False, f"{path} is missing"))
                    continue
                digest = checkpoint_digest(path)
            except UsageError as exc:  # there, but not readable: the check fails, the others still run
                result.checks.append((name, False, str(exc)))
                continue
            ok = parent.get("digest") in (None, digest)
            result.checks.append((name, ok, f"{path} has digest {digest[:16]}..." +
                                  ("" if ok else f", not the recorded {str(parent.get('digest'))[:16]}...")))
        else:
            result.checks.append((name, parent.get("digest") is not None,
                                  f"recorded digest {str(parent.get('digest'))[:16]}..." if parent.get("digest")
                                  else "no digest recorded: its content cannot be checked"))
    return result


def _check_parent_proof(recorder: Any, reference: Mapping[str, Any], supplied: Mapping[str, Any]
                        ) -> tuple[bool, str]:
    from pot.log.verify import verify_proof

    model_id = reference["model_id"]
    proof = supplied.get(model_id)
    try:
        if proof is None:
            if recorder.store.size(model_id) == 0:
                return False, f"no proof of {model_id!r} here: supply it"
            proof = recorder.generate_proof_of_training(model_id)
        verify_proof(proof, trusted_key=recorder.public_key if proof.signer.key_id == reference["key_id"] else None)
    except Exception as exc:
        return False, f"the proof of {model_id!r} does not verify: {exc}"
    return check_reference(proof, reference)
