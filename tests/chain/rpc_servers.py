"""Real HTTP servers on localhost that misbehave as RPC endpoints do in the wild, for the failure tests.

    with StaticServer(200, "text/html", b"<html>...</html>") as web:   # a web page where the RPC should be
        ChainSettings(rpc_url=web.url + "/v3/KEY") ...
    with RpcProxy(node.url, {"eth_chainId": answer("banana")}) as proxy:   # a real anvil behind a liar
        ...

The proxy forwards every JSON-RPC call to a real node (anvil) unchanged, except the methods given a rule:
``drop()`` answers "method not found" as a node without that method does, ``answer(value)`` replaces the result,
``edit(fn)`` forwards the call and passes its result through ``fn``. Each server runs in a daemon thread and is shut
down when its ``with`` block ends; ``calls`` lists the methods asked, so a test can see what pot tried.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

Rule = Callable[[dict[str, Any], Callable[[], dict[str, Any]]], dict[str, Any]]


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1, port chosen by the kernel, answering POSTs with ``self.respond``."""

    def __init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.paths.append(self.path)
                status, content_type, payload = owner.respond(body)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test output is for pot's messages

        self.paths: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"rpc-server-{self.port}",
                                        daemon=True)
        self._thread.start()

    def respond(self, body: bytes) -> tuple[int, str, bytes]:
        raise NotImplementedError

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


class StaticServer(_Server):
    """Answers every request with the same status, content type and body (a web page, broken JSON ...)."""

    def __init__(self, status: int, content_type: str, body: bytes) -> None:
        self._answer = (status, content_type, body)
        super().__init__()

    def respond(self, body: bytes) -> tuple[int, str, bytes]:
        return self._answer


def drop() -> Rule:
    """The node has no such method: JSON-RPC error -32601, as geth and anvil answer an unknown method."""
    def rule(request: dict[str, Any], forward: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": request.get("id"),
                "error": {"code": -32601, "message": f"the method {request.get('method')} does not exist/is not "
                                                     "available"}}
    return rule


def answer(value: Any) -> Rule:
    """Answer with ``value`` as the result, without asking the node."""
    def rule(request: dict[str, Any], forward: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": request.get("id"), "result": value}
    return rule


def edit(change: Callable[[Any], Any]) -> Rule:
    """Ask the node, then answer with ``change(its result)``."""
    def rule(request: dict[str, Any], forward: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        response = forward()
        if "result" in response:
            response = {**response, "result": change(response["result"])}
        return response
    return rule


class RpcProxy(_Server):
    """A JSON-RPC proxy in front of a real node that applies ``rules`` (method name -> rule) to single calls and
    to each call of a batch."""

    def __init__(self, upstream: str, rules: dict[str, Rule]) -> None:
        self.upstream = upstream
        self.rules = rules
        self.calls: list[str] = []
        super().__init__()

    def _forward(self, request: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(request).encode()
        message = urllib.request.Request(self.upstream, data, {"Content-Type": "application/json"})
        with urllib.request.urlopen(message, timeout=10) as reply:
            response: dict[str, Any] = json.loads(reply.read())
        return response

    def _one(self, request: dict[str, Any]) -> dict[str, Any]:
        method = str(request.get("method"))
        self.calls.append(method)
        rule = self.rules.get(method)
        if rule is None:
            return self._forward(request)
        return rule(request, lambda: self._forward(request))

    def respond(self, body: bytes) -> tuple[int, str, bytes]:
        request = json.loads(body)
        result: Any = [self._one(r) for r in request] if isinstance(request, list) else self._one(request)
        return 200, "application/json", json.dumps(result).encode()
