"""Recording through ``pot serve``: the HTTP client and the background sender of a spool (docs/SERVER.md,
"Recording through the server").

:class:`RemoteLog` is what a :class:`pot.recorder.ProvenanceRecorder` records into when ``POT_SERVER_URL`` (or
``ProvenanceConfig.server_url``) is set. ``add`` puts a record into the durable spool (:mod:`pot.server.spool`)
and returns: the training thread never waits on the network. A sender thread takes the oldest waiting records of
one model, up to ``batch`` at a time, and posts them to ``POST /v1/models/{id}/records`` with their idempotency
keys; the server's answer moves them to the spool's ``delivered`` table. What happens to a batch:

- the answer is 200: delivered (records the server had already, from a send whose answer was lost, come back as
  duplicates and count once);
- no answer (connection refused or cut, a timeout), 429 or 5xx: kept, and sent again after a backoff that doubles
  from ``0.05`` s up to ``max_backoff``; the sender wakes at once when asked to flush;
- 413 (body too large): sent again in halves; a single record too large is refused;
- 422 naming ``records[i]``: the records before ``i`` are in the log, record ``i`` is refused, the rest go on;
- another 4xx (a bad or revoked token, a scope that does not cover the model): refused, every record of the
  batch. Refused records stay in the spool marked with the server's reason, are logged once, and no longer hold
  up the queue.
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from pot._internal import strictjson
from pot.errors import FormatError, StoreError
from pot.log.store import _long_as_double
from pot.server.spool import Delivery, Spool, Spooled

log = logging.getLogger("pot")

DEFAULT_BATCH = 500  # records per POST (the server takes up to 1,000)
SERVER_FIELDS = ("model_id", "seq", "lamport")  # the server fills these in; never sent as a record's fields
_SAID_BY_CALLER = "pot_head_failure"  # pot.recorder.HEAD_FAILURE: the CLI's record verbs say these lines once
_RECORD_INDEX = re.compile(r"^records\[(\d+)\]")


class ServerError(StoreError):
    """The server could not be reached, or answered with an error (its status and one-line reason)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ServerClient:
    """JSON over one kept-alive HTTP(S) connection to a ``pot serve``. Not thread-safe: one per thread."""

    def __init__(self, url: str, token: str | None, *, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        self.url = url.rstrip("/")
        self._secure = parts.scheme == "https"
        self._host, self._port = parts.hostname or "", parts.port
        self._base = parts.path.rstrip("/")
        self._headers = {"Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    @property
    def shown(self) -> str:
        """The server as messages name it: scheme://host:port, nothing that may carry a credential."""
        return f"{'https' if self._secure else 'http'}://{self._host}" + (f":{self._port}" if self._port else "")

    def request(self, method: str, path: str, body: bytes | None = None) -> Any:
        """The JSON answer of a 2xx; a ServerError otherwise (``status`` None when there was no answer)."""
        status, data = self.exchange(method, path, body)
        if not 200 <= status < 300:
            raise ServerError(f"{self.shown} answered {status}: {reason(data)}", status)
        try:
            return strictjson.loads(data, f"the answer of {self.shown}")
        except FormatError as exc:
            raise ServerError(str(exc), status) from None

    def exchange(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """One request; the status and body of the answer. ServerError (status None) when none came."""
        headers = dict(self._headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        for attempt in (0, 1):
            conn = self._conn or self._connect()
            try:
                conn.request(method, self._base + path, body=body, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                # A kept-alive connection the server closed meanwhile fails at once: try once on a new one.
                if attempt == 0 and isinstance(exc, http.client.RemoteDisconnected | BrokenPipeError |
                                               ConnectionResetError):
                    continue
                reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
                raise ServerError(f"no answer from {self.shown}: {reason}") from None
            if answer.getheader("connection", "").lower() == "close":
                self.close()
            return answer.status, data
        raise AssertionError("unreachable")

    def _connect(self) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self._secure else http.client.HTTPConnection
        self._conn = kind(self._host, self._port, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def reason(data: bytes) -> str:
    """The one-line reason of an error answer (its JSON ``error``), cut to 500 characters."""
    try:
        value = json.loads(data)
    except ValueError:
        value = None
    if isinstance(value, dict) and isinstance(value.get("error"), str):
        return str(value["error"])[:500]
    return data[:200].decode("utf-8", "replace").strip() or "no reason given"


def model_path(model_id: str, rest: str) -> str:
    return f"/v1/models/{quote(model_id, safe='')}/{rest}"


class RemoteLog:
    """A spool and the thread that sends it (see the module docstring)."""

    def __init__(self, url: str, token: str | None, spool_dir: Path, *, batch: int = DEFAULT_BATCH,
                 max_backoff: float = 5.0, on_stamp: Callable[[int], object] | None = None, fsync: bool = True
                 ) -> None:
        self.url, self.token = url, token  # the token is never logged nor shown
        self.spool = Spool(spool_dir, fsync=fsync)
        self.shown = ServerClient(url, None).shown
        self.batch, self.max_backoff = batch, max_backoff
        self._on_stamp = on_stamp
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._busy = False
        self._last_problem: str | None = None  # why the last send failed (None after a success)
        self._said: str | None = None  # the problem last logged, so a server that stays away is said once
        self._refused_said = 0
        self._thread = threading.Thread(target=self._run, name="pot-send", daemon=True)
        self._thread.start()

    # --- the training thread's side ----------------------------------------------------------------------------

    def add(self, model_id: str, idempotency_key: str, kind: str, body: str, lamport: int) -> None:
        """Spool a record (durable when this returns) and wake the sender."""
        self.spool.add(model_id, idempotency_key, kind, body, lamport)
        self._wake.set()

    def flush(self, timeout: float | None, model_id: str | None = None) -> int:
        """Wake the sender and wait up to ``timeout`` seconds until nothing waits (for ``model_id``, or at all);
        return how many records still wait."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._wake.set()
            with self._idle:
                left = self.spool.waiting(model_id)
                if left == 0 or not self._thread.is_alive():
                    return left
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return left
                self._idle.wait(0.5 if remaining is None else min(0.5, remaining))

    @property
    def last_problem(self) -> str | None:
        """Why the last send did not go through (None once one has)."""
        return self._last_problem

    def close(self, timeout: float | None) -> int:
        """Flush (up to ``timeout``), stop the sender, close the spool; return how many records still wait."""
        left = self.flush(timeout)
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=max(5.0, self.spool_timeout))
        left = self.spool.waiting()
        self.refused_at_close = self.spool.refused()
        self.spool.close()
        return left

    spool_timeout = 30.0  # the longest one send may take (the HTTP timeout)
    refused_at_close: list[tuple[str, str, str]] = []  # noqa: RUF012 - set per instance by close()

    # --- the sender thread -------------------------------------------------------------------------------------

    def _run(self) -> None:
        client = ServerClient(self.url, self.token, timeout=self.spool_timeout)
        backoff = 0.0
        try:
            while not self._stop.is_set():
                try:
                    sent = self._send_once(client)
                except ServerError as exc:
                    self._problem(str(exc))
                    backoff = min(self.max_backoff, max(0.05, backoff * 2))
                    self._sleep(backoff * (0.5 + random.random() / 2))  # jitter: many clients do not retry in step
                    continue
                except StoreError as exc:  # the spool itself refused (disk full, closed): nothing to send
                    self._problem(str(exc))
                    self._sleep(1.0)
                    continue
                backoff = 0.0
                if not sent:
                    with self._idle:
                        self._idle.notify_all()
                    self._wake.wait(1.0)
                    self._wake.clear()
        finally:
            client.close()
            with self._idle:
                self._idle.notify_all()

    def _sleep(self, seconds: float) -> None:
        # A flush wakes a backing-off sender so that close() tries at least once more, but never spins on it.
        self._wake.clear()
        self._wake.wait(seconds)

    def _problem(self, message: str) -> None:
        self._last_problem = message
        if message != self._said:
            self._said = message
            log.warning("pot server %s: %s; records stay spooled in %s and are sent when it answers", self.shown,
                        message, self.spool.path, extra={_SAID_BY_CALLER: True})

    def _send_once(self, client: ServerClient) -> bool:
        """Send the oldest waiting batch; False when nothing waits."""
        rows = self.spool.take(self.batch)
        if not rows:
            return False
        self._send(client, rows)
        if self._last_problem is not None:
            log.info("pot server %s answers again; sending the spooled records", self.shown)
        self._last_problem = self._said = None
        return True

    def _send(self, client: ServerClient, rows: list[Spooled]) -> None:
        model_id = rows[0].model_id
        document = {"records": [_item(row) for row in rows]}
        body = json.dumps(document, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
        status, data = client.exchange("POST", model_path(model_id, "records"), body)
        if status == 200:
            self._settle(model_id, rows, data)
        elif status == 413 and len(rows) > 1:
            half = len(rows) // 2
            self._send(client, rows[:half])
            self._send(client, rows[half:])
        elif status == 422 and (found := _RECORD_INDEX.match(reason(data))) and int(found.group(1)) < len(rows):
            # The records before the bad one are appended (and signed); the bad one is refused, the rest go next.
            bad = int(found.group(1))
            if bad:
                self._send(client, rows[:bad])
            self._refuse([rows[bad]], f"{status}: {reason(data)}")
        elif status == 429 or status >= 500 or not 400 <= status < 500:
            raise ServerError(f"{self.shown} answered {status}: {reason(data)}", status)
        else:
            self._refuse(rows, f"{status}: {reason(data)}")

    def _settle(self, model_id: str, rows: list[Spooled], data: bytes) -> None:
        try:
            answer = strictjson.loads(data, "the server's answer")
            items = answer["records"]
            deliveries = [Delivery(str(i["idempotency_key"]), str(i["id"]), int(i["seq"])) for i in items]
            stamps = [int(i["lamport"]) for i in items if isinstance(i.get("lamport"), int)]
        except (FormatError, KeyError, TypeError, ValueError):
            raise ServerError(f"{self.shown} answered 200 with something that is not a batch's answer",
                              200) from None
        if sorted(d.idempotency_key for d in deliveries) != sorted(r.idempotency_key for r in rows):
            raise ServerError(f"{self.shown} answered for other records than were sent", 200)
        self.spool.settle(model_id, rows, deliveries)
        if stamps and self._on_stamp is not None:
            self._on_stamp(max(stamps))  # the reply is a message: the node's clock merges the log's stamps

    def _refuse(self, rows: list[Spooled], reason: str) -> None:
        self.spool.refuse(rows, reason)
        log.error("pot server %s refused %d record(s) of %r for good (%s); they stay in %s, marked refused, and "
                  "are not sent again", self.shown, len(rows), rows[0].model_id, reason, self.spool.path,
                  extra={_SAID_BY_CALLER: True})


def _item(row: Spooled) -> dict[str, Any]:
    # The body is canonical JSON (RFC 8785), which spells a double from 2**53 up in plain digits: read those back
    # as the doubles they are, as the store does, or the server would see an integer no record may hold.
    fields = json.loads(row.body, parse_int=_long_as_double)
    for name in (*SERVER_FIELDS, "type"):
        fields.pop(name, None)
    return {"idempotency_key": row.idempotency_key, "type": row.kind, "fields": fields, "lamport": row.lamport}
