"""The lineage graph: which runs, models, datasets and artifacts each one was derived from, in the store's database.

Nodes are ``run``, ``model``, ``dataset`` or ``artifact``; an edge ``child -> parent`` says the child was derived
from the parent (a model produced by a run, a run trained on a dataset, a run fine-tuning a model), with a
``relation`` naming how. The graph is a DAG: an edge that would close a cycle is refused. Tables are prefixed
``lineage_`` so they can live in the store's database beside its own::

    graph = LineageGraph(conn)                  # creates lineage_nodes / lineage_edges if missing
    conn.execute("BEGIN IMMEDIATE")
    graph.add_node("imagenet", "dataset", digest=dataset_digest)
    graph.add_node("run-7", "run")
    graph.add_edge("run-7", "imagenet", "trained_on")
    conn.execute("COMMIT")
    graph.ancestors("run-7")                    # [("imagenet", 1)]

Transactions belong to the caller: nothing here commits or rolls back. ``add_node`` and ``add_edge`` refuse to
run outside an open transaction, because the cycle check and the insert must see the same graph; in a store,
run them inside its write transaction. Queries work inside or outside one and see its uncommitted writes.

Traversals are recursive CTEs over the primary key (child -> parents) and the ``lineage_edges_parent`` index
(parent -> children), so a query reads the part of the graph it is about and nothing else. Distances and the
longest path are computed in Python over the rows the CTE returned: in SQL they would need one row per (node,
path length), which grows quadratically on a long chain with shortcuts, while the node set alone stays linear.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from pot.errors import FormatError, StoreError, UsageError
from pot.log.records import check_name, check_short_text, check_timestamp, format_timestamp

if TYPE_CHECKING:
    from pot.log.store import Connection

NODE_KINDS = ("run", "model", "dataset", "artifact")
MAX_LABEL_LENGTH = 1024
GRAPH_FORMAT = "pot.lineage-graph.v1"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS lineage_nodes (node_id TEXT PRIMARY KEY, kind TEXT NOT NULL, label TEXT, "
    "digest TEXT, created TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS lineage_edges (child TEXT NOT NULL, parent TEXT NOT NULL, relation TEXT NOT NULL, "
    "PRIMARY KEY (child, parent, relation))",
    # (parent, child) covers the downward walk: descendants never touch the table itself.
    "CREATE INDEX IF NOT EXISTS lineage_edges_parent ON lineage_edges (parent, child)",
)

# Every traversal is one of these two walks; the outer queries pick what they need from it.
# (The CAST types the parameter for PostgreSQL, which would otherwise not know the column's type.)
_UP = ("up(id) AS (SELECT CAST(:start AS TEXT) UNION SELECT e.parent FROM lineage_edges e JOIN up ON e.child = up.id)")
_DOWN = ("down(id) AS (SELECT CAST(:start AS TEXT) UNION SELECT e.child FROM lineage_edges e "
         "JOIN down ON e.parent = down.id)")

_DOT_SHAPES = {"run": "ellipse", "model": "box", "dataset": "cylinder", "artifact": "note"}


@dataclass(frozen=True, slots=True)
class LineageNode:
    node_id: str
    kind: str
    label: str | None
    digest: str | None
    created: str

    def to_json(self) -> dict[str, Any]:
        return {"node_id": self.node_id, "kind": self.kind, "label": self.label, "digest": self.digest,
                "created": self.created}


@dataclass(frozen=True, slots=True)
class LineageEdge:
    """``child`` was derived from ``parent``; ``relation`` says how (``trained_on``, ``fine_tuned_from`` ...)."""

    child: str
    parent: str
    relation: str

    def to_json(self) -> dict[str, Any]:
        return {"child": self.child, "parent": self.parent, "relation": self.relation}


@dataclass(frozen=True, slots=True)
class Subgraph:
    """A node with all its ancestors and descendants, and every edge among them; sorted, so output is stable."""

    focus: str
    nodes: tuple[LineageNode, ...]
    edges: tuple[LineageEdge, ...]

    def to_json(self) -> dict[str, Any]:
        return {"format": GRAPH_FORMAT, "focus": self.focus, "nodes": [n.to_json() for n in self.nodes],
                "edges": [e.to_json() for e in self.edges]}


class LineageGraph:
    """The lineage graph stored in a store's database: SQLite, or PostgreSQL through the store's connection.

    ``conn`` is a connection (a ``sqlite3.Connection``, or a store's :class:`pot.log.store.Connection`), or a
    zero-argument callable returning the connection to use for each call (a store's per-thread connection, say).
    On SQLite the tables and index are created on construction when missing (a :class:`~pot.errors.StoreError` if
    the database is read-only and lacks them); on PostgreSQL the store's schema has them. ``clock`` stamps nodes
    added without ``created``. Other database errors (a locked database, say) propagate unchanged, for the
    caller's transaction handling to deal with.
    """

    def __init__(self, conn: Connection | Callable[[], Connection], *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        if hasattr(conn, "execute"):
            connection = cast("Connection", conn)
            self._connection: Callable[[], Connection] = lambda: connection
        elif callable(conn):
            self._connection = conn
        else:
            raise UsageError(f"LineageGraph needs a database connection, got {type(conn).__name__}")
        self._clock = clock
        self._create_schema()

    @property
    def conn(self) -> Connection:
        return self._connection()

    @property
    def _sqlite(self) -> bool:
        return getattr(self.conn, "dialect", "sqlite") == "sqlite"  # sqlite3's own connection names no dialect

    def _create_schema(self) -> None:
        if not self._sqlite:
            return  # PostgreSQL stores make the tables in their schema (pot.log.migrations, step 2)
        conn = self.conn
        present = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE name IN ('lineage_nodes', 'lineage_edges', 'lineage_edges_parent')")}
        if len(present) < 3:  # only write when something is missing, so read-only connections can open the graph
            try:
                for statement in _SCHEMA:
                    conn.execute(statement)
            except sqlite3.OperationalError as exc:
                raise StoreError(f"cannot create the lineage tables: {exc}") from exc

    # --- writing -------------------------------------------------------------------------------------------------

    def add_node(self, node_id: str, kind: str, label: str | None = None, digest: str | None = None,
                 created: str | None = None) -> LineageNode:
        """Add a node, or do nothing if an identical one exists (``created`` is compared only when given).

        A node with this id but another kind, label, digest or creation time is a :class:`UsageError`.
        Must run inside the caller's open transaction.
        """
        node_id = _arg(check_name, node_id, "node_id")
        if kind not in NODE_KINDS:
            raise UsageError(f"node kind must be one of {', '.join(NODE_KINDS)}, got {kind!r}")
        if label is not None and (not isinstance(label, str) or len(label) > MAX_LABEL_LENGTH):
            raise UsageError(f"label must be a string of at most {MAX_LABEL_LENGTH} characters")
        if digest is not None:
            digest = _arg(check_short_text, digest, "digest")
        if created is not None:
            created = _arg(check_timestamp, created, "created")
        conn = self._writable("add_node")
        existing = self._node(conn, node_id)
        if existing is not None:
            wanted = {"kind": kind, "label": label, "digest": digest, "created": created or existing.created}
            for name, value in wanted.items():
                if getattr(existing, name) != value:
                    raise UsageError(f"lineage node {node_id!r} already exists with {name} "
                                     f"{getattr(existing, name)!r}, not {value!r}")
            return existing
        node = LineageNode(node_id, kind, label, digest, created or format_timestamp(self._clock()))
        conn.execute("INSERT INTO lineage_nodes (node_id, kind, label, digest, created) VALUES (?, ?, ?, ?, ?)",
                     (node.node_id, node.kind, node.label, node.digest, node.created))
        return node

    def add_edge(self, child: str, parent: str, relation: str) -> None:
        """Record that ``child`` was derived from ``parent``; adding an existing edge again does nothing.

        Refuses (:class:`UsageError`) unknown nodes, self-loops and an edge that would close a cycle, naming the
        cycle. Must run inside the caller's open transaction.
        """
        child = _arg(check_name, child, "child")
        parent = _arg(check_name, parent, "parent")
        relation = _arg(check_name, relation, "relation")
        conn = self._writable("add_edge")
        for node_id in (child, parent):
            self._require(conn, node_id)
        if child == parent:
            raise UsageError(f"lineage edge {child!r} -> {parent!r} is a self-loop")
        if self._reaches_up(conn, parent, child):
            path = self._path_up(conn, parent, child)
            raise UsageError(f"lineage edge {child!r} -> {parent!r} would close the cycle {_show_path([child, *path])}")
        conn.execute("INSERT INTO lineage_edges (child, parent, relation) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                     (child, parent, relation))

    def _writable(self, method: str) -> Connection:
        conn = self.conn
        if not conn.in_transaction:
            raise UsageError(f"LineageGraph.{method} must run inside the caller's write transaction "
                             "(BEGIN IMMEDIATE ... COMMIT)")
        return conn

    def _reaches_up(self, conn: Connection, start: str, target: str) -> bool:
        """Whether ``target`` is ``start`` or one of its ancestors."""
        # Fast paths for the usual append: a node nobody derives from, or a root, cannot close a cycle.
        if conn.execute("SELECT 1 FROM lineage_edges WHERE parent = ? LIMIT 1", (target,)).fetchone() is None:
            return False
        if conn.execute("SELECT 1 FROM lineage_edges WHERE child = ? LIMIT 1", (start,)).fetchone() is None:
            return False
        row = conn.execute(f"WITH RECURSIVE {_UP} SELECT 1 FROM up WHERE id = :target LIMIT 1",
                           {"start": start, "target": target}).fetchone()
        return row is not None

    def _path_up(self, conn: Connection, start: str, target: str) -> list[str]:
        """A shortest parent path from ``start`` to ``target`` (known to exist): only for naming a cycle."""
        came_from: dict[str, str] = {}
        queue = deque([start])
        seen = {start}
        while queue:
            node = queue.popleft()
            if node == target:
                break
            for (parent,) in conn.execute("SELECT DISTINCT parent FROM lineage_edges WHERE child = ?", (node,)):
                if parent not in seen:
                    seen.add(parent)
                    came_from[parent] = node
                    queue.append(parent)
        path = [target]
        while path[-1] != start:
            path.append(came_from[path[-1]])
        return path[::-1]

    # --- reading -------------------------------------------------------------------------------------------------

    def node(self, node_id: str) -> LineageNode | None:
        """The node, or None when there is none with this id."""
        return self._node(self.conn, node_id)

    def parents(self, node_id: str) -> list[LineageEdge]:
        """The edges from ``node_id`` to what it was derived from, sorted by parent then relation."""
        conn = self.conn
        self._require(conn, node_id)
        rows = conn.execute("SELECT child, parent, relation FROM lineage_edges WHERE child = ? "
                            "ORDER BY parent, relation", (node_id,))
        return [LineageEdge(*row) for row in rows]

    def children(self, node_id: str) -> list[LineageEdge]:
        """The edges from what was derived from ``node_id`` to it, sorted by child then relation."""
        conn = self.conn
        self._require(conn, node_id)
        rows = conn.execute("SELECT child, parent, relation FROM lineage_edges WHERE parent = ? "
                            "ORDER BY child, relation", (node_id,))
        return [LineageEdge(*row) for row in rows]

    def ancestors(self, node_id: str) -> list[tuple[str, int]]:
        """Everything ``node_id`` was derived from, directly or not, with the fewest edges to it (parents are 1).

        Sorted by distance, then id; the node itself is not included.
        """
        edges = self._edges_up(node_id)
        return _distances(node_id, _adjacency(edges, 0, 1))

    def descendants(self, node_id: str) -> list[tuple[str, int]]:
        """Everything derived from ``node_id``, directly or not, with the fewest edges to it (children are 1)."""
        edges = self._edges_down(node_id)
        return _distances(node_id, _adjacency(edges, 1, 0))

    def depth(self, node_id: str) -> int:
        """The number of edges on the longest path from ``node_id`` up to a root (a root's depth is 0)."""
        parents = _adjacency(self._edges_up(node_id), 0, 1)
        # Kahn's order over the ancestor subgraph, roots first; no recursion, so a 10,000-long chain is fine.
        waiting = {node: len(ps) for node, ps in parents.items()}
        children: dict[str, list[str]] = {}
        for node, ps in parents.items():
            for p in ps:
                children.setdefault(p, []).append(node)
        depth = dict.fromkeys((p for ps in parents.values() for p in ps if p not in parents), 0)
        ready = deque(depth)
        while ready:
            node = ready.popleft()
            for child in children.get(node, ()):
                depth[child] = max(depth.get(child, 0), depth[node] + 1)
                waiting[child] -= 1
                if waiting[child] == 0:
                    ready.append(child)
        return depth.get(node_id, 0)

    def subgraph(self, node_id: str) -> Subgraph:
        """``node_id``, its ancestors and descendants, and every edge between two of them."""
        conn = self.conn
        self._require(conn, node_id)
        with_sub = f"WITH RECURSIVE {_UP}, {_DOWN}, sub(id) AS (SELECT id FROM up UNION SELECT id FROM down) "
        nodes = conn.execute(
            with_sub + "SELECT n.node_id, n.kind, n.label, n.digest, n.created FROM sub "
            "JOIN lineage_nodes n ON n.node_id = sub.id ORDER BY n.node_id", {"start": node_id}).fetchall()
        # SQLite: the unary + keeps the planner from driving the join by (parent IN sub) through the parent index, a
        # plan that probes every (child, parent) pair of the subgraph: seconds at 6,000 nodes instead of
        # milliseconds. PostgreSQL has no unary + on text, and plans the semi-join well without the hint.
        parent = "+e.parent IN sub" if self._sqlite else "e.parent IN (SELECT id FROM sub)"
        edges = conn.execute(
            with_sub + "SELECT e.child, e.parent, e.relation FROM sub JOIN lineage_edges e ON e.child = sub.id "
            f"WHERE {parent} ORDER BY e.child, e.parent, e.relation", {"start": node_id}).fetchall()
        return Subgraph(node_id, tuple(LineageNode(*row) for row in nodes), tuple(LineageEdge(*row) for row in edges))

    def to_json(self, node_id: str) -> dict[str, Any]:
        """:meth:`subgraph` as a JSON object (``format``, ``focus``, ``nodes``, ``edges``)."""
        return self.subgraph(node_id).to_json()

    def to_dot(self, node_id: str) -> str:
        """:meth:`subgraph` as Graphviz DOT text: parents above children, shapes by kind, the focus in bold."""
        sub = self.subgraph(node_id)
        lines = [f"digraph {_dot_string('lineage of ' + node_id)} {{", "  rankdir=BT;", "  node [fontsize=10];"]
        for n in sub.nodes:
            attributes = [f"label={_dot_string(n.label if n.label is not None else n.node_id)}",
                          f"shape={_DOT_SHAPES[n.kind]}", f"tooltip={_dot_string(n.kind)}"]
            if n.node_id == sub.focus:
                attributes.append("style=bold")
            lines.append(f"  {_dot_string(n.node_id)} [{', '.join(attributes)}];")
        for e in sub.edges:
            lines.append(f"  {_dot_string(e.child)} -> {_dot_string(e.parent)} [label={_dot_string(e.relation)}];")
        lines.append("}")
        return "\n".join(lines) + "\n"

    # --- helpers -------------------------------------------------------------------------------------------------

    @staticmethod
    def _node(conn: Connection, node_id: str) -> LineageNode | None:
        row = conn.execute("SELECT node_id, kind, label, digest, created FROM lineage_nodes WHERE node_id = ?",
                           (node_id,)).fetchone()
        return None if row is None else LineageNode(*row)

    @staticmethod
    def _require(conn: Connection, node_id: str) -> None:
        if conn.execute("SELECT 1 FROM lineage_nodes WHERE node_id = ?", (node_id,)).fetchone() is None:
            raise UsageError(f"unknown lineage node {node_id!r}")

    def _edges_up(self, node_id: str) -> list[tuple[str, str]]:
        conn = self.conn
        self._require(conn, node_id)
        edges: list[tuple[str, str]] = conn.execute(
            f"WITH RECURSIVE {_UP} SELECT DISTINCT e.child, e.parent FROM up JOIN lineage_edges e ON e.child = up.id",
            {"start": node_id}).fetchall()
        return edges

    def _edges_down(self, node_id: str) -> list[tuple[str, str]]:
        conn = self.conn
        self._require(conn, node_id)
        edges: list[tuple[str, str]] = conn.execute(
            f"WITH RECURSIVE {_DOWN} SELECT DISTINCT e.child, e.parent FROM down "
            "JOIN lineage_edges e ON e.parent = down.id", {"start": node_id}).fetchall()
        return edges


def _arg(check: Callable[[Any, str], str], value: Any, name: str) -> str:
    try:
        return check(value, name)
    except FormatError as exc:
        raise UsageError(str(exc)) from exc


def _adjacency(edges: Iterable[tuple[str, str]], source: int, target: int) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for edge in edges:
        out.setdefault(edge[source], []).append(edge[target])
    return out


def _distances(start: str, neighbours: dict[str, list[str]]) -> list[tuple[str, int]]:
    """Breadth-first distances from ``start``, without ``start``, sorted by (distance, id)."""
    distance = {start: 0}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for other in neighbours.get(node, ()):
            if other not in distance:
                distance[other] = distance[node] + 1
                queue.append(other)
    del distance[start]
    return sorted(distance.items(), key=lambda item: (item[1], item[0]))


def _show_path(path: list[str], keep: int = 8) -> str:
    shown = [repr(p) for p in path]
    if len(shown) > keep:
        shown = [*shown[:keep // 2], f"... ({len(shown) - keep} more)", *shown[-(keep // 2):]]
    return " -> ".join(shown)


_DOT_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n"}


def _dot_string(text: str) -> str:
    """A DOT double-quoted string: backslashes and quotes escaped, newlines as ``\\n``, other controls dropped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for ch in text:
        if ch in _DOT_ESCAPES:
            out.append(_DOT_ESCAPES[ch])
        elif ch >= " " and ch != "\x7f":
            out.append(ch)
    return '"' + "".join(out) + '"'


__all__ = [
    "GRAPH_FORMAT",
    "NODE_KINDS",
    "LineageEdge",
    "LineageGraph",
    "LineageNode",
    "Subgraph",
]
