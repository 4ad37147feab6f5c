"""The lineage graph: a DAG in SQLite, cycle-checked on insert, queried by recursive CTEs."""

from __future__ import annotations

import re
import sqlite3
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pot.errors import StoreError, UsageError
from pot.lineage.graph import GRAPH_FORMAT, LineageEdge, LineageGraph, LineageNode
from pot.log.canonical import canonical_json

T0 = "2026-11-22T12:00:00.000000Z"


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(tmp_path / "lineage.db", isolation_level=None)
    yield connection
    connection.close()


@pytest.fixture
def graph(conn: sqlite3.Connection) -> LineageGraph:
    return LineageGraph(conn, clock=lambda: datetime(2026, 11, 22, 12, tzinfo=UTC))


@contextmanager
def tx(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def build(graph: LineageGraph, edges: list[tuple[str, str]], kind: str = "model") -> None:
    """Nodes named in ``edges`` (child, parent) are created as ``kind``; edges get relation ``derived_from``."""
    with tx(graph.conn):
        for name in dict.fromkeys(n for edge in edges for n in edge):
            graph.add_node(name, kind, created=T0)
        for child, parent in edges:
            graph.add_edge(child, parent, "derived_from")


DIAMOND = [("b", "a"), ("c", "a"), ("d", "b"), ("d", "c")]
CHAIN = [(f"n{i}", f"n{i - 1}") for i in range(1, 40)]
FOREST = [("x1", "x0"), ("x2", "x0"), ("x3", "x1"), ("y1", "y0"), ("y2", "y1"), ("y3", "y2"), ("y3", "y0")]


# --- a naive reference over an in-memory edge list --------------------------------------------------------------


def naive_distances(start: str, edges: list[tuple[str, str]], up: bool) -> list[tuple[str, int]]:
    step: dict[str, set[str]] = {}
    for child, parent in edges:
        a, b = (child, parent) if up else (parent, child)
        step.setdefault(a, set()).add(b)
    seen = {start: 0}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for other in sorted(step.get(node, ())):
            if other not in seen:
                seen[other] = seen[node] + 1
                queue.append(other)
    del seen[start]
    return sorted(seen.items(), key=lambda item: (item[1], item[0]))


def naive_depth(node: str, edges: list[tuple[str, str]]) -> int:
    parents = [p for c, p in edges if c == node]
    return 0 if not parents else 1 + max(naive_depth(p, edges) for p in parents)


# --- hand-built DAGs ---------------------------------------------------------------------------------------------


def test_diamond(graph: LineageGraph) -> None:
    build(graph, DIAMOND)
    assert graph.ancestors("d") == [("b", 1), ("c", 1), ("a", 2)]
    assert graph.descendants("a") == [("b", 1), ("c", 1), ("d", 2)]
    assert graph.depth("d") == 2 and graph.depth("b") == 1 and graph.depth("a") == 0
    assert graph.parents("d") == [LineageEdge("d", "b", "derived_from"), LineageEdge("d", "c", "derived_from")]
    assert [e.child for e in graph.children("a")] == ["b", "c"]
    assert graph.ancestors("a") == [] and graph.descendants("d") == []


def test_chain(graph: LineageGraph) -> None:
    build(graph, CHAIN)
    assert graph.depth("n39") == 39
    assert graph.ancestors("n39") == [(f"n{38 - i}", i + 1) for i in range(39)]
    assert graph.descendants("n0")[-1] == ("n39", 39)
    assert graph.descendants("n20") == [(f"n{20 + i}", i) for i in range(1, 20)]


def test_forest_keeps_trees_apart_and_depth_takes_the_longest_path(graph: LineageGraph) -> None:
    build(graph, FOREST)
    assert graph.ancestors("y3") == [("y0", 1), ("y2", 1), ("y1", 2)]  # shortest distance to y0 is the shortcut
    assert graph.depth("y3") == 3  # but the longest path runs through y2 and y1
    assert [n for n, _ in graph.descendants("x0")] == ["x1", "x2", "x3"]
    assert {n.node_id for n in graph.subgraph("x1").nodes} == {"x0", "x1", "x3"}


def test_an_edge_can_carry_several_relations(graph: LineageGraph) -> None:
    build(graph, [("b", "a")])
    with tx(graph.conn):
        graph.add_edge("b", "a", "distilled_from")
        graph.add_edge("b", "a", "derived_from")  # again: nothing changes
    assert [e.relation for e in graph.parents("b")] == ["derived_from", "distilled_from"]
    assert graph.ancestors("b") == [("a", 1)] and graph.depth("b") == 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 14), st.integers(0, 14)), max_size=40))
def test_queries_and_cycle_refusals_agree_with_a_naive_reference(attempts: list[tuple[int, int]]) -> None:
    connection = sqlite3.connect(":memory:", isolation_level=None)
    graph = LineageGraph(connection)
    accepted: list[tuple[str, str]] = []
    with tx(connection):
        for i in range(15):
            graph.add_node(f"v{i}", "run", created=T0)
        for a, b in attempts:
            child, parent = f"v{a}", f"v{b}"
            closes = child == parent or child in {n for n, _ in naive_distances(parent, accepted, up=True)}
            if closes:
                with pytest.raises(UsageError, match="self-loop|would close the cycle"):
                    graph.add_edge(child, parent, "r")
            else:
                graph.add_edge(child, parent, "r")
                accepted.append((child, parent))
    for i in range(15):
        node = f"v{i}"
        assert graph.ancestors(node) == naive_distances(node, accepted, up=True)
        assert graph.descendants(node) == naive_distances(node, accepted, up=False)
        assert graph.depth(node) == naive_depth(node, accepted)
        sub = graph.subgraph(node)
        members = {node} | {n for n, _ in graph.ancestors(node)} | {n for n, _ in graph.descendants(node)}
        assert {n.node_id for n in sub.nodes} == members
        assert {(e.child, e.parent) for e in sub.edges} == {(c, p) for c, p in accepted if {c, p} <= members}
    connection.close()


# --- refusals ----------------------------------------------------------------------------------------------------


def test_a_direct_cycle_is_refused_naming_it(graph: LineageGraph) -> None:
    build(graph, [("b", "a")])
    with tx(graph.conn), pytest.raises(UsageError, match=r"^lineage edge 'a' -> 'b' would close the cycle "
                                                          r"'a' -> 'b' -> 'a'$"):
        graph.add_edge("a", "b", "derived_from")
    assert graph.parents("a") == []


def test_a_long_cycle_is_refused_and_its_name_stays_one_short_line(graph: LineageGraph) -> None:
    build(graph, CHAIN)
    with tx(graph.conn), pytest.raises(UsageError) as caught:
        graph.add_edge("n0", "n39", "derived_from")
    message = str(caught.value)
    assert message.startswith("lineage edge 'n0' -> 'n39' would close the cycle 'n0' -> 'n39' -> 'n38'")
    assert message.endswith("-> 'n1' -> 'n0'") and "(33 more)" in message and "\n" not in message
    assert len(message) < 200
    with tx(graph.conn), pytest.raises(UsageError, match="would close the cycle 'n10' -> 'n12' -> 'n11' -> 'n10'"):
        graph.add_edge("n10", "n12", "derived_from")
    with tx(graph.conn):
        graph.add_edge("n12", "n10", "shortcut")  # the other direction is a shortcut, not a cycle
    assert graph.ancestors("n12")[:2] == [("n10", 1), ("n11", 1)]


def test_self_loops_and_unknown_nodes_are_refused(graph: LineageGraph) -> None:
    build(graph, [("b", "a")])
    with tx(graph.conn):
        with pytest.raises(UsageError, match="^lineage edge 'a' -> 'a' is a self-loop$"):
            graph.add_edge("a", "a", "derived_from")
        with pytest.raises(UsageError, match="^unknown lineage node 'ghost'$"):
            graph.add_edge("ghost", "a", "derived_from")
        with pytest.raises(UsageError, match="^unknown lineage node 'ghost'$"):
            graph.add_edge("a", "ghost", "derived_from")
    for query in (graph.ancestors, graph.descendants, graph.depth, graph.subgraph, graph.to_dot, graph.parents,
                  graph.children):
        with pytest.raises(UsageError, match="^unknown lineage node 'ghost'$"):
            query("ghost")
    assert graph.node("ghost") is None


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    (("", "run"), {}, "node_id must be a non-empty string"),
    (("a\tb", "run"), {}, "node_id contains the control or invisible character U\\+0009"),
    (("x" * 257, "run"), {}, "node_id is longer than 256 characters"),
    (("a", "job"), {}, "node kind must be one of run, model, dataset, artifact, got 'job'"),
    (("a", "run"), {"label": "x" * 1025}, "label must be a string of at most 1024 characters"),
    (("a", "run"), {"label": 5}, "label must be a string"),
    (("a", "run"), {"digest": ""}, "digest must be a non-empty string"),
    (("a", "run"), {"created": "2026-11-22"}, "timestamp '2026-11-22' is not of the form"),
])
def test_bad_node_arguments(graph: LineageGraph, args: tuple[str, str], kwargs: dict[str, object],
                            message: str) -> None:
    with tx(graph.conn), pytest.raises(UsageError, match=message):
        graph.add_node(*args, **kwargs)  # type: ignore[arg-type]


def test_add_node_is_idempotent_and_refuses_conflicts(graph: LineageGraph) -> None:
    with tx(graph.conn):
        first = graph.add_node("m", "model", label="resnet", digest="sha256:ab")
        assert first == LineageNode("m", "model", "resnet", "sha256:ab", "2026-11-22T12:00:00.000000Z")
        assert graph.add_node("m", "model", label="resnet", digest="sha256:ab") == first
        assert graph.add_node("m", "model", label="resnet", digest="sha256:ab", created=first.created) == first
        with pytest.raises(UsageError, match="^lineage node 'm' already exists with kind 'model', not 'run'$"):
            graph.add_node("m", "run", label="resnet", digest="sha256:ab")
        with pytest.raises(UsageError, match="already exists with label 'resnet', not None"):
            graph.add_node("m", "model", digest="sha256:ab")
        with pytest.raises(UsageError, match="already exists with digest 'sha256:ab', not 'sha256:cd'"):
            graph.add_node("m", "model", label="resnet", digest="sha256:cd")
        with pytest.raises(UsageError, match="already exists with created"):
            graph.add_node("m", "model", label="resnet", digest="sha256:ab", created=T0.replace("12:", "13:"))
    assert graph.node("m") == first


def test_bad_edge_arguments(graph: LineageGraph) -> None:
    build(graph, [("b", "a")])
    with tx(graph.conn), pytest.raises(UsageError, match="relation must be a non-empty string"):
        graph.add_edge("b", "a", "")


# --- transactions ------------------------------------------------------------------------------------------------


def test_writes_outside_a_transaction_are_refused(graph: LineageGraph) -> None:
    with pytest.raises(UsageError, match=r"^LineageGraph.add_node must run inside the caller's write transaction"):
        graph.add_node("a", "run")
    build(graph, [("b", "a")])
    with pytest.raises(UsageError, match="LineageGraph.add_edge must run inside"):
        graph.add_edge("a", "b", "derived_from")


def test_works_inside_the_callers_transaction_and_never_commits(graph: LineageGraph, tmp_path: Path) -> None:
    build(graph, [("b", "a")])
    conn = graph.conn
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("CREATE TABLE store_rows (x)")  # the caller's own write in the same transaction
    graph.add_node("c", "artifact")
    graph.add_edge("c", "b", "saved_from")
    assert conn.in_transaction
    assert graph.ancestors("c") == [("b", 1), ("a", 2)]  # queries see the uncommitted writes
    other = sqlite3.connect(tmp_path / "lineage.db")
    assert other.execute("SELECT count(*) FROM lineage_nodes").fetchone() == (2,)  # nothing committed yet
    conn.execute("ROLLBACK")
    assert graph.node("c") is None and graph.descendants("a") == [("b", 1)]
    assert other.execute("SELECT count(*) FROM sqlite_master WHERE name = 'store_rows'").fetchone() == (0,)
    other.close()


def test_a_legacy_connection_in_an_explicit_transaction(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "legacy.db")  # default isolation level: Python opens transactions itself
    graph = LineageGraph(conn)
    conn.execute("BEGIN")
    graph.add_node("a", "dataset", created=T0)
    graph.add_node("b", "run", created=T0)
    graph.add_edge("b", "a", "trained_on")
    conn.commit()
    assert graph.ancestors("b") == [("a", 1)]
    conn.close()


def test_a_read_only_connection_can_query_an_existing_graph(graph: LineageGraph, tmp_path: Path) -> None:
    build(graph, DIAMOND)
    ro = sqlite3.connect(f"file:{tmp_path / 'lineage.db'}?mode=ro", uri=True)
    assert LineageGraph(ro).ancestors("d") == [("b", 1), ("c", 1), ("a", 2)]
    ro.close()


def test_a_read_only_database_without_the_tables_is_a_store_error(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "empty.db").execute("CREATE TABLE other (x)").connection.close()
    ro = sqlite3.connect(f"file:{tmp_path / 'empty.db'}?mode=ro", uri=True)
    with pytest.raises(StoreError, match="^cannot create the lineage tables: attempt to write a readonly database$"):
        LineageGraph(ro)
    ro.close()


def test_a_connection_factory_is_called_per_use(conn: sqlite3.Connection) -> None:
    calls = []

    def factory() -> sqlite3.Connection:
        calls.append(1)
        return conn

    graph = LineageGraph(factory)
    build(graph, DIAMOND)
    before = len(calls)
    assert graph.depth("d") == 2 and len(calls) > before
    with pytest.raises(UsageError, match="LineageGraph needs a database connection, got str"):
        LineageGraph("lineage.db")  # type: ignore[arg-type]


def test_tables_live_beside_others_under_their_prefix(graph: LineageGraph) -> None:
    names = {row[0] for row in graph.conn.execute("SELECT name FROM sqlite_master")}
    assert {"lineage_nodes", "lineage_edges", "lineage_edges_parent"} <= names
    assert all(name.startswith(("lineage_", "sqlite_autoindex_lineage_")) for name in names)
    LineageGraph(graph.conn)  # opening again changes nothing
    assert {row[0] for row in graph.conn.execute("SELECT name FROM sqlite_master")} == names


def test_traversals_use_the_indexes(graph: LineageGraph) -> None:
    build(graph, DIAMOND)
    plans = []
    for sql in ("SELECT e.parent FROM lineage_edges e WHERE e.child = 'd'",
                "SELECT e.child FROM lineage_edges e WHERE e.parent = 'a'"):
        plans.append(" ".join(row[3] for row in graph.conn.execute("EXPLAIN QUERY PLAN " + sql)))
    assert "USING COVERING INDEX sqlite_autoindex_lineage_edges_1 (child=?)" in plans[0]
    assert "USING COVERING INDEX lineage_edges_parent (parent=?)" in plans[1]


# --- export ------------------------------------------------------------------------------------------------------


def test_subgraph_and_json(graph: LineageGraph) -> None:
    build(graph, DIAMOND)
    sub = graph.subgraph("b")
    assert [n.node_id for n in sub.nodes] == ["a", "b", "d"]
    assert sub.edges == (LineageEdge("b", "a", "derived_from"), LineageEdge("d", "b", "derived_from"))
    document = graph.to_json("b")
    assert document["format"] == GRAPH_FORMAT and document["focus"] == "b"
    assert document["nodes"][0] == {"node_id": "a", "kind": "model", "label": None, "digest": None, "created": T0}
    assert document["edges"][1] == {"child": "d", "parent": "b", "relation": "derived_from"}
    assert canonical_json(document) == canonical_json(graph.to_json("b"))
    assert len(graph.subgraph("a").edges) == 4


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|->|[{}\[\];,=]|[A-Za-z_][A-Za-z_0-9]*|-?(?:\.\d+|\d+(?:\.\d*)?)|\s+')


def dot_tokens(text: str) -> list[str]:
    """Split DOT text into tokens, failing on anything a DOT lexer would not accept."""
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        assert match is not None, f"unexpected DOT text at {text[position:position + 20]!r}"
        if not match.group().isspace():
            tokens.append(match.group())
        position = match.end()
    return tokens


def dot_unquote(token: str) -> str:
    assert token.startswith('"') and token.endswith('"')
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), token[1:-1])


def test_dot_output_is_plausible_dot_with_escaped_labels(graph: LineageGraph) -> None:
    hostile = 'say "hi" \\ {braces} ; [x] -> y\nline two'
    with tx(graph.conn):
        graph.add_node("data\"set", "dataset", label=hostile, created=T0)
        graph.add_node("run-1", "run", created=T0)
        graph.add_node("model\\1", "model", label="m", created=T0)
        graph.add_node("ckpt", "artifact", created=T0)
        graph.add_edge("run-1", "data\"set", "trained_on")
        graph.add_edge("model\\1", "run-1", "produced_by")
        graph.add_edge("ckpt", "model\\1", "saved_from")
    text = graph.to_dot("run-1")
    tokens = dot_tokens(text)
    assert tokens[0] == "digraph" and tokens[2] == "{" and tokens[-1] == "}"
    depth = 0
    for token in tokens:
        depth += {"{": 1, "}": -1}.get(token, 0)
        assert depth >= 0
    assert depth == 0 and tokens.count("[") == tokens.count("]")
    statements: list[list[str]] = [[]]
    for token in tokens[3:-1]:
        if token == ";":
            statements.append([])
        else:
            statements[-1].append(token)
    assert statements.pop() == []  # every statement ended with ';'
    node_lines = [s for s in statements if s[0].startswith('"') and s[1] == "["]
    edge_lines = [s for s in statements if s[0].startswith('"') and s[1] == "->" and s[2].startswith('"')]
    assert len(node_lines) == 4 and len(edge_lines) == 3 and len(statements) == 2 + 4 + 3
    for statement in node_lines + edge_lines:  # attribute lists: [ name = value , ... ]
        attributes = statement[statement.index("[") + 1:-1]
        assert statement[-1] == "]" and len(attributes) % 4 == 3
        assert all(attributes[i + 1] == "=" for i in range(0, len(attributes), 4))
    labels = {dot_unquote(t) for t in tokens if t.startswith('"')}
    assert hostile in labels and 'data"set' in labels and "model\\1" in labels
    assert "shape = cylinder" in " ".join(tokens) and "shape = note" in " ".join(tokens)
    assert 'label = "run-1" , shape = ellipse , tooltip = "run" , style = bold' in " ".join(tokens)
    assert text.count("\n") == len(text.splitlines())  # the newline in the label was escaped, not written


def test_dot_drops_control_characters_from_labels(graph: LineageGraph) -> None:
    with tx(graph.conn):
        graph.add_node("a", "model", label="bell\x07 and\r\nCRLF", created=T0)
    text = graph.to_dot("a")
    assert 'label="bell and\\nCRLF"' in text and "\x07" not in text and "\r" not in text
