"""``pot --server URL VERB``: the read verbs asked of a ``pot serve`` over HTTP instead of a local store.

Only the standard library (urllib): reading from a server needs no extra. Every failure is a PotError whose class
gives the CLI's exit code, as a local store's would: an unknown model, run or lineage id, or a bad argument, is a
UsageError (exit 2); a server that cannot be reached, refuses the token, is over its rate, fails, or answers
something that is not pot's JSON is a :class:`ServerError` (exit 3, the environment refused). Messages name the
server by scheme, host and port only: never a token, nor a password in the URL.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from pot.errors import FormatError, PotError, UsageError

TOKEN_ENV = "POT_SERVER_TOKEN"
TIMEOUT = 60.0  # seconds for one request: a server that takes longer is as good as unreachable
MAX_ANSWER = 1 << 30  # bytes: a proof of a very long log is large, but not unbounded


class ServerError(PotError):
    """The server could not be asked, refused, or answered nonsense (exit 3, like an unreachable chain)."""


class Server:
    """A ``pot serve`` at ``url``; ``token`` (default: $POT_SERVER_TOKEN) is sent as a bearer token when set."""

    def __init__(self, url: str, token: str | None = None) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"--server must be an http:// or https:// URL, not {url!r}")
        if parts.username is not None or parts.password is not None:
            raise UsageError("--server takes no user or password in the URL: set POT_SERVER_TOKEN")
        if parts.query or parts.fragment:
            raise UsageError("--server is the server's base URL, without a query or fragment")
        try:
            port = parts.port
        except ValueError:
            raise UsageError("--server has a bad port") from None
        self.base = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
        self.name = f"{parts.scheme}://{parts.hostname}" + (f":{port}" if port is not None else "")
        self._token = token if token is not None else (os.environ.get(TOKEN_ENV) or None)

    def get_bytes(self, path: Sequence[str], query: Sequence[tuple[str, str]] = ()) -> bytes:
        """GET the route made of ``path`` (each segment quoted) with ``query``; the body, or a PotError."""
        url = self.base + "/" + "/".join(urllib.parse.quote(part, safe="") for part in path)
        if query:
            url += "?" + urllib.parse.urlencode(query)
        request = urllib.request.Request(url, headers={"Accept": "application/json"}, method="GET")
        if self._token:
            # unredirected: a redirect (to another host, say) is followed without the token
            request.add_unredirected_header("Authorization", f"Bearer {self._token}")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
                data: bytes = answer.read(MAX_ANSWER + 1)
        except urllib.error.HTTPError as exc:
            raise self._refusal(exc.code, _error_line(exc)) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            detail = getattr(reason, "strerror", None) or str(reason)
            raise ServerError(f"cannot reach the server {self.name}: {detail}") from None
        if len(data) > MAX_ANSWER:
            raise ServerError(f"the server {self.name} answered more than {MAX_ANSWER} bytes")
        return data

    def get(self, path: Sequence[str], query: Sequence[tuple[str, str]] = ()) -> Any:
        """GET a route's JSON answer."""
        from pot._internal import strictjson

        data = self.get_bytes(path, query)
        try:
            return strictjson.loads(data, f"the answer of {self.name}", max_bytes=MAX_ANSWER)
        except FormatError as exc:
            raise ServerError(f"{exc} (is {self.name} a pot server?)") from None

    def _refusal(self, status: int, message: str) -> PotError:
        said = f"the server {self.name} answered {status}: {message}"
        if status in (400, 404, 413, 422):  # the request was at fault, as a bad argument to a local verb
            return UsageError(said)
        if status == 401:
            return ServerError(said + (" (is POT_SERVER_TOKEN right?)" if self._token else
                                       f" (set {TOKEN_ENV} to a token from `pot token create`)"))
        return ServerError(said)


def _error_line(exc: urllib.error.HTTPError) -> str:
    """The server's one-line error (``{"error": ...}``), or the HTTP reason when the body is not one."""
    try:
        body = json.loads(exc.read(64 << 10))
    except (ValueError, OSError):
        body = None
    if isinstance(body, Mapping) and isinstance(body.get("error"), str):
        return str(body["error"])
    return str(exc.reason)


def records_from_json(items: Any, where: str) -> list[Any]:
    """Records from their ``--json`` form (``{"kind", ...fields, <kind>_id}``, as ``pot history --json`` prints
    them), each checked as a new record is and its id recomputed: one that does not match is a ServerError."""
    from pot.log.records import RECORD_KINDS

    if not isinstance(items, list):
        raise ServerError(f"{where}: expected a list of records")
    out = []
    for i, item in enumerate(items):
        kind = RECORD_KINDS.get(str(item.get("kind"))) if isinstance(item, dict) else None
        if kind is None:
            raise ServerError(f"{where}[{i}]: not a record")
        values = {k: v for k, v in item.items() if k not in ("kind", kind.ID_FIELD)}
        try:
            record = kind.create(**values)
        except (FormatError, TypeError) as exc:
            raise ServerError(f"{where}[{i}]: {exc}") from None
        if record.record_id != item.get(kind.ID_FIELD):
            raise ServerError(f"{where}[{i}]: its id does not match its fields")
        out.append(record)
    return out


def lineage_graph(document: Any, where: str) -> Any:
    """A lineage subgraph's JSON (``pot lineage ID --json``) as a :class:`~pot.lineage.graph.LineageGraph` in
    memory, so it is rendered (text, DOT, JSON) by the same code as a local one: the subgraph holds every ancestor
    and descendant of its focus and every edge among them, so each question about the focus has the same answer."""
    import sqlite3

    from pot.lineage.graph import LineageGraph

    try:
        nodes, edges = document["nodes"], document["edges"]
        conn = sqlite3.connect(":memory:", isolation_level=None)
        graph = LineageGraph(conn)
        conn.execute("BEGIN")
        for n in nodes:
            graph.add_node(n["node_id"], n["kind"], label=n["label"], digest=n["digest"], created=n["created"])
        for e in edges:
            graph.add_edge(e["child"], e["parent"], e["relation"])
        conn.execute("COMMIT")
    except (KeyError, TypeError, PotError) as exc:
        raise ServerError(f"{where}: not a lineage graph ({exc})") from None
    return graph
