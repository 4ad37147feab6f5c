"""The REST API of ``pot serve`` (FastAPI): routes grouped by resource, JSON in and out, documented by the OpenAPI
schema FastAPI generates (``/openapi.json``, browsable at ``/docs``).

``create_app(settings)`` opens the store and the organisation's signing key and returns the app; nothing lives at
module level, so tests and workers each make their own. Errors are JSON objects ``{"error": "..."}`` with a 4xx
status for anything the client can fix (400 malformed JSON or a bad argument, 401 no or bad token, 403 token
without the scope or write right, 404 unknown model, run or lineage id, 413 body too large, 422 a body or parameter
that does not check out, 429 too many requests) and 503 when the store refuses; a 500 is a bug in pot.

The read routes that mirror a CLI verb (history, runs, lineage) answer exactly what that verb prints with
``--json``, so one JSON Schema (docs/schemas/) specifies both; ``pot --server URL VERB`` (pot.server.remote) reads
through them.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the routes' annotations, and those name the
# dependencies defined inside create_app, which only evaluated annotations can see.
import os
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from pot import __version__
from pot._internal import strictjson
from pot.errors import FormatError, KeyringError, PotError, StoreError, UsageError
from pot.log.store import open_store
from pot.recorder import settle_signing_key
from pot.server import anchoring, service, tokens, ui
from pot.server.service import ServerSettings

__all__ = ["ServerSettings", "app_from_env", "create_app", "settings_environment"]

_BATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["records"],
    "additionalProperties": False,
    "properties": {"records": {
        "type": "array", "minItems": 1, "maxItems": service.MAX_BATCH,
        "items": {
            "type": "object", "required": ["idempotency_key", "type", "fields"], "additionalProperties": False,
            "properties": {
                "idempotency_key": {"type": "string", "description": "the client's key for this record; a record "
                                    "sent again with the same key adds nothing"},
                "type": {"type": "string", "enum": ["checkpoint", "event", "steps", "validation"]},
                "fields": {"type": "object", "description": "the record's fields as the recorder builds them, "
                           "without model_id, seq and lamport (the server fills those in); node_id is required; "
                           "timestamp defaults to the server's clock"},
                "lamport": {"type": "integer", "minimum": 0, "description": "the sending node's Lamport clock "
                            "when it made the record (default 0); the record is stamped max(this, the log's "
                            "last stamp + 1)"},
            }}}},
}

_PROMOTE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["stage", "gate"], "additionalProperties": False,
    "properties": {
        "stage": {"type": "string", "description": "e.g. staging, production"},
        "gate": {"type": "object", "description": "a gate, as `pot promote --gate` takes it: thresholds "
                 "(metric -> {operator: number}), and optionally weights and min_score"},
        "validator": {"type": ["string", "null"], "description": "judge the latest validation by this validator "
                      "(default: the latest validation)"}},
}
_ROLLBACK_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["stage", "to", "reason"], "additionalProperties": False,
    "properties": {"stage": {"type": "string"},
                   "to": {"type": "string", "description": "a model hash promoted to that stage before"},
                   "reason": {"type": "string", "description": "why, for the record"}},
}


class ErrorBody(BaseModel):
    """Every error's body: one line saying what is wrong."""

    error: str


class _RateLimiter:
    """A token bucket per caller (a token id, or the client's address): ``burst`` at once, ``rate`` per second."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, caller: str) -> bool:
        now = time.monotonic()
        with self._lock:
            if len(self._buckets) > 100_000:  # forget idle callers rather than grow without bound
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60}
            level, last = self._buckets.get(caller, (float(self.burst), now))
            level = min(float(self.burst), level + (now - last) * self.rate)
            if level < 1.0:
                self._buckets[caller] = (level, now)
                return False
            self._buckets[caller] = (level - 1.0, now)
            return True


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(settings: ServerSettings) -> FastAPI:
    """The app, with its store and key opened now (a bad URL, a missing key: a PotError before serving)."""
    store = open_store(settings.database, root=settings.root, create=True)
    try:
        key = settle_signing_key(store, settings.key_file).key
    except BaseException:
        store.close()
        raise
    limiter = _RateLimiter(settings.rate, settings.burst)
    anchorer = None if settings.anchor_interval is None else anchoring.anchorer_for(store, key,
                                                                                      settings.anchor_interval)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if anchorer is not None:
            anchorer.start()
        yield
        if anchorer is not None:
            await run_in_threadpool(anchorer.stop)
        store.close()

    errors: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorBody, "description": about} for status, about in (
            (400, "malformed JSON or a bad argument"), (401, "no token, or one that is unknown or revoked"),
            (403, "the token lacks the write right or the scope"), (404, "unknown model, run or lineage id"),
            (413, "request body too large"), (422, "a body or parameter that does not check out"),
            (429, "too many requests"), (503, "the store refused"))}
    app = FastAPI(title="pot", version=__version__, lifespan=lifespan, responses=errors,
                  description="Proof-of-training log server: signed, append-only Merkle logs per model "
                              "(docs/SERVER.md).")

    @app.exception_handler(StarletteHTTPException)  # FastAPI's HTTPException, and Starlette's for unknown routes
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return _error(422, f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(PotError)
    async def pot_error(_request: Request, exc: PotError) -> JSONResponse:
        if isinstance(exc, StoreError | KeyringError):
            return _error(503, f"the store refused: {exc}")
        return _error(422 if isinstance(exc, FormatError) else 400, str(exc))

    @app.exception_handler(Exception)
    async def bug(_request: Request, exc: Exception) -> JSONResponse:
        return _error(500, f"internal error ({type(exc).__name__}); a bug in pot")

    # --- callers -------------------------------------------------------------------------------------------------

    def caller(request: Request) -> tokens.TokenInfo | None:
        """The token the request carries (None without one); 401 for a bad one, 429 over the rate. A request
        without a valid token counts against its address, so guessing tokens is held to the rate too."""
        header = request.headers.get("authorization")
        info, refusal = None, None
        if header is not None:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                refusal = "Authorization must be 'Bearer <token>'"
            else:
                try:
                    info = tokens.authenticate(store, value.strip())
                except FormatError as exc:
                    refusal = str(exc)
        who = f"token:{info.token_id}" if info else f"addr:{request.client.host if request.client else '?'}"
        if not limiter.allow(who):
            raise HTTPException(429, "too many requests; slow down", {"Retry-After": "1"})
        if refusal is not None:
            raise HTTPException(401, refusal, {"WWW-Authenticate": "Bearer"})
        return info

    Caller = Annotated[tokens.TokenInfo | None, Depends(caller)]

    def may_read(who: tokens.TokenInfo | None, model_id: str | None = None) -> None:
        if not settings.private:
            return
        if who is None:
            raise HTTPException(401, "this server's logs are private: send a token", {"WWW-Authenticate": "Bearer"})
        if model_id is not None and not who.allows(model_id):
            raise HTTPException(403, f"this token's scope {who.scope!r} does not cover {model_id!r}")

    def may_write(who: tokens.TokenInfo | None, model_id: str) -> None:
        if who is None:
            raise HTTPException(401, "writing needs a write token", {"WWW-Authenticate": "Bearer"})
        if not who.write:
            raise HTTPException(403, "this token may only read (create one with --write)")
        if not who.allows(model_id):
            raise HTTPException(403, f"this token's scope {who.scope!r} does not cover {model_id!r}")

    def known_model(model_id: str) -> None:
        if store.size(model_id) == 0:
            raise HTTPException(404, f"unknown model id {model_id!r}")

    async def body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdecimal() or int(declared) > settings.max_body):
            raise HTTPException(413, f"request body over the {settings.max_body}-byte limit")
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > settings.max_body:
                raise HTTPException(413, f"request body over the {settings.max_body}-byte limit")
        return bytes(data)

    def parsed(data: bytes) -> Any:
        try:
            return strictjson.loads(data, "request body")
        except FormatError as exc:
            raise HTTPException(400, str(exc)) from None

    # --- models and their logs ---------------------------------------------------------------------------------

    @app.get("/v1/key", tags=["server"], summary="the public key that signs this server's heads and proofs")
    def public_key(who: Caller) -> dict[str, Any]:
        return dict(service.public_key_json(key))

    @app.get("/v1/models", tags=["models"], summary="every model with a log, its size and signed size")
    def list_models(who: Caller) -> dict[str, Any]:
        may_read(who)
        found = service.models(store)
        if settings.private and who is not None:
            found = [m for m in found if who.allows(m["model_id"])]
        return {"models": found}

    @app.get("/v1/models/{model_id:path}/log", tags=["models"], summary="a page of a model's records, in log order")
    def model_log(model_id: str, who: Caller, start: Annotated[int, Query(ge=0)] = 0,
                  limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 100) -> dict[str, Any]:
        may_read(who, model_id)
        known_model(model_id)
        return service.log_page(store, model_id, start, limit)

    @app.get("/v1/models/{model_id:path}/heads", tags=["models"], summary="a model's signed tree heads, oldest first")
    def model_heads(model_id: str, who: Caller) -> dict[str, Any]:
        may_read(who, model_id)
        known_model(model_id)
        return service.heads(store, model_id)

    @app.get("/v1/models/{model_id:path}/proof", tags=["models"],
             summary="the proof of a model's signed log: full, or partial with ?record=ID (repeatable)")
    def model_proof(model_id: str, who: Caller, record: Annotated[list[str] | None, Query()] = None
                    ) -> dict[str, Any]:
        may_read(who, model_id)
        known_model(model_id)
        return service.proof(store, key, model_id, record or ()).to_json()

    @app.post("/v1/models/{model_id:path}/records", tags=["models"], status_code=200,
              summary="append a batch of records (idempotent per key) and sign a head over them",
              openapi_extra={"requestBody": {"required": True,
                                             "content": {"application/json": {"schema": _BATCH_SCHEMA}}}})
    async def post_records(model_id: str, request: Request, who: Caller) -> dict[str, Any]:
        may_write(who, model_id)
        document = parsed(await body(request))
        appended, head = await run_in_threadpool(service.append_batch, store, key, model_id, document)
        return {"model_id": model_id, "records": [a.to_json() for a in appended],
                "head": None if head is None else {"head": head.head.body(), "head_hash": head.head.head_hash,
                                                   "signature": head.signature}}

    @app.post("/v1/models/{model_id:path}/promote", tags=["models"],
              summary="promote the model to a stage if its latest validation passes the gate; the decision, "
                      "promoted or refused, is recorded and signed (`pot promote --json`)",
              openapi_extra={"requestBody": {"required": True,
                                             "content": {"application/json": {"schema": _PROMOTE_SCHEMA}}}})
    async def post_promote(model_id: str, request: Request, who: Caller) -> dict[str, Any]:
        may_write(who, model_id)
        document = parsed(await body(request))
        known_model(model_id)
        return await run_in_threadpool(service.promote, store, key, model_id, document)

    @app.post("/v1/models/{model_id:path}/rollback", tags=["models"],
              summary="roll a stage back to a model hash promoted to it before; recorded and signed "
                      "(`pot rollback --json`)",
              openapi_extra={"requestBody": {"required": True,
                                             "content": {"application/json": {"schema": _ROLLBACK_SCHEMA}}}})
    async def post_rollback(model_id: str, request: Request, who: Caller) -> dict[str, Any]:
        may_write(who, model_id)
        document = parsed(await body(request))
        known_model(model_id)
        return await run_in_threadpool(service.rollback, store, key, model_id, document)

    @app.get("/v1/models/{model_id:path}/history", tags=["models"],
             summary="every record of a model's log in order: what `pot history --model-id ID --json` prints")
    def model_history(model_id: str, who: Caller) -> list[dict[str, Any]]:
        may_read(who, model_id)
        known_model(model_id)
        return service.history(store, model_id)

    # --- runs ----------------------------------------------------------------------------------------------------

    @app.get("/v1/runs", tags=["runs"],
             summary="the newest runs first, filtered by kind, status and model: `pot runs list --json` as `runs`")
    def list_runs(who: Caller, kind: str | None = None, status: str | None = None, model: str | None = None,
                  limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 20,
                  offset: Annotated[int, Query(ge=0)] = 0) -> JSONResponse:
        may_read(who, model)
        # On a private server the scope filters in the query, so pages (limit, offset) count only runs in scope.
        prefix = who.scope if settings.private and who is not None else ""
        runs = service.runs(store, kind=kind, status=status, model=model, limit=limit, offset=offset,
                            model_prefix=prefix)
        # Plain JSON values already: answered as they are, without FastAPI's encoder walking every row (most of
        # this route's time with 1,000 runs a page, which the web UI's runs table asks for).
        return JSONResponse({"runs": runs})

    def readable_run(who: tokens.TokenInfo | None, run_id: str) -> None:
        from pot.lineage import registry

        may_read(who)
        try:
            run = registry.get_run(store, run_id)
        except UsageError:
            raise HTTPException(404, f"unknown run id {run_id!r}") from None
        may_read(who, run["model_id"])

    @app.get("/v1/runs/{run_id}", tags=["runs"],
             summary="one run with its start data and records: what `pot runs show ID --json` prints")
    def get_run(run_id: str, who: Caller) -> dict[str, Any]:
        readable_run(who, run_id)
        return service.run_show(store, run_id)

    @app.get("/v1/runs/{run_id}/config", tags=["runs"],
             summary="what it takes to run it again: the file `pot runs export-config ID --out F` writes")
    def run_config(run_id: str, who: Caller) -> dict[str, Any]:
        readable_run(who, run_id)
        return service.run_config(store, run_id)

    @app.get("/v1/runs/{run_id}/compare/{other_id}", tags=["runs"],
             summary="two runs side by side, differences read from the first to the second: `pot runs compare "
                     "A B --json`")
    def compare_runs(run_id: str, other_id: str, who: Caller) -> dict[str, Any]:
        readable_run(who, run_id)
        readable_run(who, other_id)
        return service.run_compare(store, run_id, other_id)

    # --- lineage -------------------------------------------------------------------------------------------------

    @app.get("/v1/lineage/{node_id:path}", tags=["lineage"],
             summary="a run, model, dataset or artifact with its ancestors, descendants and the edges among them: "
                     "`pot lineage ID --json`")
    def get_lineage(node_id: str, who: Caller) -> dict[str, Any]:
        may_read(who)
        try:
            graph = service.lineage(store, node_id)
        except UsageError as exc:
            raise HTTPException(404, str(exc)) from None
        if settings.private and who is not None:
            hidden = sorted(m for m in service.lineage_models(store, graph) if not who.allows(m))
            if hidden:
                raise HTTPException(403, f"this token's scope {who.scope!r} does not cover {hidden[0]!r}, which "
                                         "this lineage shows")
        return graph

    # --- verification --------------------------------------------------------------------------------------------

    @app.post("/v1/verify", tags=["verify"], summary="verify a proof: the report of `pot verify --json`",
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": {"type": "object", "description": "a pot proof document"}}}}})
    async def verify(request: Request, who: Caller, trusted_key: str | None = None) -> dict[str, Any]:
        data = await body(request)
        return await run_in_threadpool(service.verify, data, trusted_key)

    ui.mount(app)  # the web pages (pot/server/ui), reading the routes above
    return app


ENV_PRIVATE = "POT_SERVER_PRIVATE"
ENV_MAX_BODY = "POT_SERVER_MAX_BODY"
ENV_RATE = "POT_SERVER_RATE"
ENV_BURST = "POT_SERVER_BURST"
ENV_ANCHOR_INTERVAL = "POT_SERVER_ANCHOR_INTERVAL"


def settings_environment(settings: ServerSettings) -> dict[str, str]:
    """The environment that makes :func:`app_from_env` build the app with ``settings`` (for uvicorn's workers)."""
    from pot.config import DATABASE_ENV, KEY_FILE_ENV, STORE_ENV

    env = {STORE_ENV: str(settings.root), KEY_FILE_ENV: str(settings.key_file),
           ENV_PRIVATE: "1" if settings.private else "0", ENV_MAX_BODY: str(settings.max_body),
           ENV_RATE: str(settings.rate), ENV_BURST: str(settings.burst)}
    if settings.database is not None:
        env[DATABASE_ENV] = settings.database
    if settings.anchor_interval is not None:
        env[ENV_ANCHOR_INTERVAL] = str(settings.anchor_interval)
    return env


def app_from_env() -> FastAPI:
    """The app as ``pot serve --workers N`` configures it through the environment (uvicorn's factory, one call per
    worker process)."""
    from pot.config import ProvenanceConfig

    config = ProvenanceConfig()
    root = config.resolve_store()
    settings = ServerSettings(root=Path(root), database=config.resolve_database(),
                              key_file=config.resolve_key_file(Path(root)),
                              private=os.environ.get(ENV_PRIVATE) == "1",
                              max_body=int(os.environ[ENV_MAX_BODY]), rate=float(os.environ[ENV_RATE]),
                              burst=int(os.environ[ENV_BURST]),
                              anchor_interval=float(os.environ[ENV_ANCHOR_INTERVAL])
                              if ENV_ANCHOR_INTERVAL in os.environ else None)
    return create_app(settings)
