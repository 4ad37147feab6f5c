"""The recorder: what sits in a training loop.

Hot path (``record_training_checkpoint``, ``record_validation``): build the record, append it to the store in
one committed transaction, return its id. Microseconds; never touches a chain, never waits for a signature.

Every ``batch_size`` records of a model (and on ``flush()``, ``close()`` and context exit) a background worker
signs the model's tree head and anchors it to the local chain; chain anchors run in a second worker, so a slow
RPC never delays local anchoring, and ``close()`` waits for them only up to ``anchor_timeout`` seconds. A head
that no chain anchored stays in the pending queue (heads without a chain receipt) for ``pot anchor --pending``.
A sign request waits ``head_interval`` seconds (cut short by ``flush()``) before it reads the log, and requests
for the same model that arrive meanwhile join it: when records come faster than that, one head covers several
batches, so a burst of records never costs a signature and a local-chain write per ``batch_size`` records.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import re
import stat
import sys
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pot._internal import files, strictjson
from pot.anchors.base import Anchor, AnchorReceipt
from pot.anchors.localchain import LocalChainAnchor
from pot.config import ProvenanceConfig, chain_variables_set
from pot.errors import AnchorError, FormatError, KeyringError, PotError, UsageError, VerificationError
from pot.lineage.lamport import LamportClock
from pot.lineage.registry import index_event
from pot.log.canonical import MAX_SAFE_INTEGER, to_json_value
from pot.log.heads import SignedTreeHead, TreeHead
from pot.log.keys import PublicKey, SigningKey, passphrase_from_env
from pot.log.merkle import Frontier
from pot.log.prepared import CompletedRecord, PreparedRecord
from pot.log.proof import ProvenanceProof, build_proof
from pot.log.records import (
    MAX_STEPS_PER_BLOCK,
    EventRecord,
    Record,
    StepsRecord,
    TrainingCheckpoint,
    ValidationRecord,
    check_count,
    check_name,
    format_timestamp,
)
from pot.log.store import LOCAL_CHAIN_NAME, LogStore, is_database_url, open_store

if TYPE_CHECKING:
    from pot.server.client import RemoteLog

log = logging.getLogger("pot")
_chain_settings_noted = False  # the "chain settings present but anchoring off" line is said once per process


def _say_chain_settings_unused(config: ProvenanceConfig) -> None:
    """Chain settings (RPC_URL, PRIVATE_KEY) present while anchoring is off would otherwise anchor locally without
    a word; say it once per process, naming the variables (never their values) and the switch."""
    global _chain_settings_noted
    if _chain_settings_noted:
        return
    present = chain_variables_set(config.client_config)
    if not present:
        return
    _chain_settings_noted = True
    log.warning("%s %s set but blockchain anchoring is off for this store (`pot init --blockchain`, or "
                "ProvenanceConfig(blockchain_enabled=True), turns it on): tree heads are anchored to the local "
                "chain only", " and ".join(present), "is" if len(present) == 1 else "are")

# Set on the log record of a head that could not be signed or anchored locally, so that a caller that reports the
# failure itself (the CLI's record verbs) can leave that line out rather than say it twice.
HEAD_FAILURE = "pot_head_failure"

Clock = Callable[[], datetime]
_Step = tuple[int, int | None, dict[str, Any], str | None]  # a buffered record_step: step, epoch, metrics, batch
_HEX64 = re.compile(r"[0-9a-f]{64}")


class _Deferred:
    """A record some of whose digests are still being computed (a replay checkpoint written in the background,
    :func:`pot.replay.torch.save_checkpoint_async`). It waits in its model's step buffer, in the place of the call
    that made it, and is appended there once they are known: nothing recorded after it can come before it."""

    __slots__ = ("fields", "kind", "pending", "step")

    def __init__(self, kind: type[Record], fields: dict[str, Any], pending: dict[str, Future[Any]],
                 step: int | None) -> None:
        self.kind, self.fields, self.pending, self.step = kind, fields, pending, step

    def done(self) -> bool:
        return all(future.done() for future in self.pending.values())

    def resolve(self) -> dict[str, Any]:
        """The fields with the digests filled in (waiting for them); raises what computing them raised."""
        for name, future in list(self.pending.items()):
            self.fields[name] = future.result()
            del self.pending[name]
        return self.fields


def _steps_fields(block: list[_Step]) -> dict[str, Any]:
    """A ``steps`` record's fields for a block of buffered steps."""
    names = sorted({name for _, _, metrics, _ in block for name in metrics})
    epochs = [epoch for _, epoch, _, _ in block]
    return {"steps": [step for step, _, _, _ in block],
            "epochs": None if all(e is None for e in epochs) else epochs,
            "metrics": {name: [metrics.get(name) for _, _, metrics, _ in block] for name in names},
            "batches": None if block[0][3] is None else [digest for _, _, _, digest in block]}


class _DeferredFailed(Exception):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _utcnow() -> datetime:
    return datetime.now(UTC)


_SECOND: tuple[int, str] = (-1, "")  # the last whole second formatted, and its text


def _now_timestamp() -> str:
    """``format_timestamp(_utcnow())`` in a quarter of the time: the date and time up to the second change once a
    second, so they are formatted once a second (records come thousands a second)."""
    global _SECOND
    ns = time.time_ns()
    second, micro = divmod(ns // 1000, 1_000_000)
    cached = _SECOND
    if cached[0] != second:
        cached = _SECOND = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{cached[1]}.{micro:06d}Z"


@dataclass(frozen=True, slots=True)
class OpenedKey:
    """A store's signing key as :func:`settle_signing_key` found or made it."""

    key: SigningKey
    path: Path
    created: bool  # made just now, for a store that had never signed anything
    encrypted: bool  # the key file is encrypted with a passphrase


def open_signing_key(store: LogStore, path: Path) -> SigningKey:
    """The store's signing key (see :func:`settle_signing_key`)."""
    return settle_signing_key(store, path).key


def settle_signing_key(store: LogStore, path: Path) -> OpenedKey:
    """The store's signing key. Created (mode 0600, encrypted with ``POT_KEY_PASSPHRASE`` if set) only for a store
    that has never signed anything.

    A store remembers its key id; a different key, or a missing or damaged key file once heads exist, is an error
    rather than a silent new signer, which would split the store's logs between two keys. Creating the key and
    remembering its id happen under the store's write lock, so processes opening a new store at once agree on
    one key. What an interrupted creation leaves is finished: a key the store does not remember yet is
    remembered; a key file cut short (empty, or a PEM block without its end line), while nothing is signed yet,
    is set aside (renamed, never deleted) and a new key made.
    """
    passphrase = passphrase_from_env()
    saved_id = store.get_setting("key_id")
    if saved_id is not None:  # the common case: nothing to create or repair, so nothing to write or lock
        return _known_key(store, path, passphrase, saved_id)
    return store.exclusive(lambda: _settle_key_locked(store, path, passphrase))


def _known_key(store: LogStore, path: Path, passphrase: str | None, expected: str) -> OpenedKey:
    """The key file of a store whose logs are signed with key ``expected`` (nothing may replace it)."""
    state, data = _key_file_state(path)
    if state == "missing":
        raise KeyringError(f"no signing key at {path}, but this store's logs are signed with key "
                           f"{expected[:16]}...; restore that key file or point POT_KEY_FILE at it")
    if state == "incomplete":
        raise KeyringError(f"signing key file {path} is incomplete ({len(data)} bytes, no PEM end line), but this "
                           f"store's logs are signed with key {expected[:16]}...; restore that key file from a backup "
                           "or point POT_KEY_FILE at it")
    key = SigningKey.load(path, passphrase)
    _check_store_key(store, key, where=str(path))
    return _opened(key, path, created=False, encrypted=_pem_encrypted(data))


def _settle_key_locked(store: LogStore, path: Path, passphrase: str | None) -> OpenedKey:
    """The key decision, inside the store's write lock: the store's key id and the key file do not change under it."""
    expected = store.get_setting("key_id") or _head_key_id(store)  # another process may have won the race
    if expected is not None:
        return _known_key(store, path, passphrase, expected)
    state, data = _key_file_state(path)
    if state == "complete":  # a key the store does not remember yet (creation stopped before it was noted)
        key = SigningKey.load(path, passphrase)
        _check_store_key(store, key, where=str(path))
        return _opened(key, path, created=False, encrypted=_pem_encrypted(data))
    if state == "incomplete":
        aside = path.with_name(f"{path.name}.incomplete-{os.urandom(4).hex()}")
        try:
            os.rename(path, aside)
        except OSError as exc:
            raise KeyringError(f"signing key file {path} is incomplete and cannot be set aside: {exc.strerror}"
                               ) from None
        log.warning("signing key file %s was incomplete (%d bytes; an interrupted `pot init`?) and nothing was "
                    "signed with it: set it aside as %s and made a new key", path, len(data), aside.name)
    key = SigningKey.generate()
    key.save(path, passphrase)
    _check_store_key(store, key, where=str(path))
    log.info("created signing key %s (key id %s)", path, key.key_id)
    return _opened(key, path, created=True, encrypted=bool(passphrase))


def _opened(key: SigningKey, path: Path, *, created: bool, encrypted: bool) -> OpenedKey:
    files.remember_key_file(path)  # output files must never replace it
    public = path.with_suffix(".pub")
    if not public.exists():  # a convenience copy (`pot key public` derives the key anyway), made once
        with contextlib.suppress(OSError):
            files.create_exclusive(public, (key.public.hex + "\n").encode())
    return OpenedKey(key, path, created, encrypted)


def _pem_encrypted(data: bytes) -> bool:
    return b"ENCRYPTED" in data.split(b"\n", 1)[0]


def _key_file_state(path: Path) -> tuple[str, bytes]:
    """("missing" | "complete" | "incomplete", the file's bytes). Complete means it holds a PEM end line; whether
    it is a good key is for SigningKey.load to say."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a directory, or a FIFO that would block the read
            raise KeyringError(f"signing key {path} is not a regular file")
        with path.open("rb") as handle:
            data = handle.read(1 << 16)  # a PEM key is a few hundred bytes
    except FileNotFoundError:
        return "missing", b""
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte ...
        raise KeyringError(f"cannot read signing key {path}: {getattr(exc, 'strerror', None) or exc}") from None
    return ("complete" if b"-----END " in data else "incomplete"), data


def _head_key_id(store: LogStore) -> str | None:
    """The key id a store's heads are signed with, for stores that predate remembering it in their settings."""
    signed = store.read("SELECT model_id FROM heads LIMIT 1")
    head = store.latest_head(signed[0][0]) if signed else None
    return None if head is None else head.head.key_id


def _check_store_key(store: LogStore, key: SigningKey, where: str = "the given key") -> None:
    """A store's logs are all signed by one key: remember it the first time, refuse any other after."""
    saved_id = store.get_setting("key_id")
    if saved_id is None:
        saved_id = store.claim_setting("key_id", key.key_id)  # of processes racing here, one key wins
    if saved_id != key.key_id:
        raise KeyringError(f"{where} holds key {key.key_id[:16]}..., but this store's logs are signed with key "
                           f"{saved_id[:16]}...; use that key (POT_KEY_FILE)")


class ProvenanceRecorder:
    """Records a model's training into its signed, anchored Merkle log (the seed's class, made real).

    >>> recorder = ProvenanceRecorder(ProvenanceConfig(enabled=True))          # doctest: +SKIP
    >>> recorder.record_training_checkpoint(model_hash=h, metrics={"loss": 0.1}, epoch=0, model_id="m")
    """

    def __init__(
        self,
        config: ProvenanceConfig | None = None,
        *,
        store: LogStore | Path | str | None = None,
        key: SigningKey | None = None,
        anchors: Sequence[Anchor] | None = None,
        chain_anchors: Sequence[Anchor] | None = None,
        clock: Clock | None = None,
        rank: int | None = None,
    ) -> None:
        self.config = config if config is not None else ProvenanceConfig()
        self._clock = clock or _utcnow
        self._rank = rank if rank is not None else _distributed_rank()
        self.node_id = self.config.node_id or os.environ.get("POT_NODE_ID") or (
            f"rank-{self._rank}" if self._rank is not None else "main")
        self.lamport = LamportClock(check_name(self.node_id, "node_id"))
        self._active_runs: dict[str, str] = {}  # model id -> the run recording into it
        self._closed = False
        self._store: LogStore | None = None
        self._key: SigningKey | None = None
        self._local_failures: dict[str, AnchorError] = {}  # per model: why its newest head is not anchored locally
        # Its own lock: _request_sign holds self._lock and, while the interpreter exits, anchors in that thread.
        self._failures_lock = threading.Lock()
        self._remote: RemoteLog | None = None
        if not self.config.enabled:
            return
        # Recording through a server (POT_SERVER_URL), unless the caller handed this recorder its own store, key or
        # anchors: those name a local store.
        server = self.config.resolve_server() if (store, key, anchors, chain_anchors) == (None,) * 4 else None
        if server is not None:
            self._init_remote(*server)
            return
        self._owns_store = not isinstance(store, LogStore)
        if isinstance(store, LogStore):
            self._store = store
        elif is_database_url(store):  # a postgresql:// URL; the store directory keeps the key and local chain
            self._store = open_store(str(store), root=self.config.resolve_store(), create=True)
        elif store is not None:
            self._store = open_store(None, root=Path(store), create=True)
        else:
            self._store = open_store(self.config.resolve_database(), root=self.config.resolve_store(), create=True)
        if key is None:
            key = open_signing_key(self._store, self.config.resolve_key_file(self._store.root))
        else:
            _check_store_key(self._store, key)
        self._key = key
        self._local_anchors: list[Anchor] = list(anchors) if anchors is not None else [
            LocalChainAnchor(self._store.root / LOCAL_CHAIN_NAME, self._key, self._clock, tips=self._store)]
        self._chain_anchors: list[Anchor] = list(chain_anchors) if chain_anchors is not None else \
            self._default_chain_anchors()
        self._lock = threading.Lock()
        self._unsigned: dict[str, int] = {}  # records appended by this recorder since its last sign request
        self._waiting: dict[str, Future[SignedTreeHead | None]] = {}  # sign jobs that have not read the log yet
        self._hurry = threading.Event()  # set by flush(): waiting sign jobs stop waiting
        self._frontiers: dict[str, Frontier] = {}  # worker thread only
        self._signer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pot-sign")
        self._anchorer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pot-anchor")
        self._chain_futures: dict[Future[None], str] = {}  # anchor jobs in flight, and the model each anchors
        self._chain_failures: dict[tuple[str, str], str] = {}  # why a model's last chain anchor failed, per backend
        self._chain_said: dict[str, str] = {}  # the chain failure last logged, per backend
        self._chain_waiting: dict[tuple[str, str], SignedTreeHead] = {}  # newest head waiting, per model and backend
        self._chain_running: set[tuple[str, str]] = set()
        self._chain_last: dict[tuple[str, str], float] = {}  # monotonic time of each model's last chain anchor
        self._chain_hurry = threading.Event()  # set by flush() (once) and while wait_for_anchors() waits
        self._chain_waiters = 0
        self._errors: list[BaseException] = []
        self._salts = _SaltSource()
        self._steps: dict[str, list[_Step | _Deferred]] = {}  # buffered record_step calls and deferred records
        self._deferred: dict[str, _Deferred] = {}  # each model's first deferred record still in its buffer
        _live_recorders.add(self)

    def _init_remote(self, url: str, token: str | None) -> None:
        """Record through the server at ``url``: a spool and its sender instead of a store, a key and anchors."""
        from pot.server.client import RemoteLog

        self._owns_store = False
        self._lock = threading.Lock()
        self._unsigned = {}
        self._errors = []
        self._salts = _SaltSource()
        self._steps = {}
        self._deferred = {}
        self._server_key: PublicKey | None = None
        self._remote = RemoteLog(url, token, self.config.resolve_spool(), on_stamp=self.lamport.merge,
                                 fsync=self.config.resolve_spool_fsync())
        _live_recorders.add(self)

    # --- properties -------------------------------------------------------------------------------------------

    @property
    def remote(self) -> RemoteLog | None:
        """The spool and sender when this recorder records through a server (``POT_SERVER_URL``), else None."""
        return self._remote

    @property
    def store(self) -> LogStore:
        if self._remote is not None:
            raise UsageError(f"this recorder records through the server {self._remote.shown}; it has no local store")
        if self._store is None:
            raise UsageError("provenance recording is disabled (ProvenanceConfig.enabled is False)")
        return self._store

    @property
    def key(self) -> SigningKey:
        if self._remote is not None:
            raise UsageError(f"this recorder records through the server {self._remote.shown}, which holds the "
                             "signing key; its public key is public_key")
        if self._key is None:
            raise UsageError("provenance recording is disabled (ProvenanceConfig.enabled is False)")
        return self._key

    @property
    def public_key(self) -> PublicKey:
        """The key that signs this recorder's heads: its own, or the server's (``GET /v1/key``)."""
        if self._remote is not None:
            if self._server_key is None:
                from pot.server.client import ServerClient

                client = ServerClient(self._remote.url, self._remote.token)
                try:
                    answer = client.request("GET", "/v1/key")
                finally:
                    client.close()
                try:
                    self._server_key = PublicKey(bytes.fromhex(answer["public_key"]))
                except (KeyError, TypeError, ValueError):
                    raise FormatError(f"the server {self._remote.shown} answered GET /v1/key without a public "
                                      "key") from None
            return self._server_key
        return self.key.public

    def server_record_id(self, handle: str) -> str | None:
        """The id the server gave the record that ``record_*`` returned ``handle`` for, once the server has it
        (None before, and for a recorder that records locally: there ``handle`` is the record's id already)."""
        if self._remote is None:
            return None
        delivery = self._remote.spool.delivery(handle)
        return None if delivery is None else delivery.record_id

    def _default_chain_anchors(self) -> list[Anchor]:
        """The remote anchors, run in the background worker: a chain (when enabled) and a TSA (when configured).
        Both may be away for a while; what they miss stays pending for ``pot anchor``."""
        from pot.anchors.tsa import tsa_anchor_for

        anchors: list[Anchor] = []
        if not self.config.blockchain_enabled:
            _say_chain_settings_unused(self.config)
        else:
            from pot.anchors.ethereum import chain_anchor_for  # web3 is imported only when a chain is wanted

            chain = chain_anchor_for(self.config, self.store, self.key)
            anchors += [chain] if chain is not None else []
        tsa = tsa_anchor_for(self.config, self.store)
        return anchors + ([tsa] if tsa is not None else [])

    # --- the hot path -----------------------------------------------------------------------------------------

    def record_training_checkpoint(
        self,
        model_hash: str | Future[str],
        metrics: Mapping[str, Any],
        epoch: int,
        model_id: str,
        model_fn: Callable[[Any], Any] | None = None,
        *,
        fingerprint_hash: str | None = None,
        validation_hash: str | None = None,
        step: int | None = None,
        checkpoint_path: str | os.PathLike[str] | None = None,
        optimizer_hash: str | Future[str] | None = None,
        rng_hash: str | Future[str] | None = None,
        checkpoint_sha256: str | Future[str] | None = None,
    ) -> str | None:
        """Record a training checkpoint; return its ``checkpoint_id`` (None when recording is disabled).

        ``model_fn`` (the seed's fingerprint hook) is called on a fixed, seeded challenge set when
        ``fingerprint_checkpoints`` is on. ``checkpoint_path`` names a saved checkpoint file (its SHA-256) or
        directory (its ``pot.file-set.v1`` digest), recorded with the checkpoint so that
        ``pot verify --checkpoint PATH`` can later tell whether a file on disk is this one. ``optimizer_hash`` and
        ``rng_hash`` (``pot.state-hash.v1`` digests, :mod:`pot.replay`) record what a replay starts from.
        ``checkpoint_sha256`` is the file's SHA-256 when the caller computed it as it wrote the file (else the file
        is read and hashed here).

        Any of the digests may be a :class:`concurrent.futures.Future` still being computed (a replay checkpoint
        written in the background, :func:`pot.replay.torch.save_checkpoint_async`). The record is then deferred:
        everything else is checked now, the record takes its place in the log before anything recorded after this
        call, and it is appended once the digests are known (at the first step recorded after that, or before the
        next record, flush or close, which wait for them). Its id is not known yet: the call returns None. A
        digest that could not be computed (the file could not be written) raises at that later call, and the
        checkpoint is not recorded; nothing else is lost.
        """
        if not self.config.enabled:
            return None
        if fingerprint_hash is None and model_fn is not None and self.config.fingerprint_checkpoints:
            from pot.fingerprint import fingerprint_model_fn

            fingerprint_hash = fingerprint_model_fn(model_fn, challenges=self.config.fingerprint_challenges,
                                                    input_shape=self.config.fingerprint_input_shape)
        file_sha256: str | Future[str] | None = None
        file_name = None
        if checkpoint_path is not None:
            from pot.hashing import checkpoint_digest

            file_sha256 = checkpoint_sha256 if checkpoint_sha256 is not None else checkpoint_digest(checkpoint_path)
            file_name = Path(checkpoint_path).name
        elif checkpoint_sha256 is not None:
            raise UsageError("checkpoint_sha256 is the digest of the file at checkpoint_path, and none was given")
        fields: dict[str, Any] = dict(
            model_hash=model_hash, epoch=epoch, metrics=metrics, fingerprint_hash=fingerprint_hash,
            validation_hash=validation_hash, step=step, file_sha256=file_sha256, file_name=file_name,
            optimizer_hash=optimizer_hash, rng_hash=rng_hash)
        pending = {name: value for name, value in fields.items() if isinstance(value, Future)}
        if pending:
            self._defer(TrainingCheckpoint, model_id, fields, pending, step)
            return None
        return self._append(TrainingCheckpoint, model_id, fields).record_id

    def _defer(self, kind: type[Record], model_id: str, fields: dict[str, Any], pending: dict[str, Future[Any]],
               step: int | None) -> None:
        """Put a record whose ``pending`` digests are still being computed in ``model_id``'s step buffer, after
        checking everything else about it now (the digests stand in as zeros), so that bad input refuses this call
        rather than a later one."""
        if self._closed:
            raise UsageError("this recorder is closed")
        check_name(model_id, "model_id")
        fields["run_id"] = fields.get("run_id", self._active_runs.get(model_id))
        self._prepared(kind, model_id, {**fields, **dict.fromkeys(pending, "0" * 64)})
        deferred = _Deferred(kind, fields, pending, step)
        with self._lock:
            self._steps.setdefault(model_id, []).append(deferred)
            self._deferred.setdefault(model_id, deferred)

    def record_validation(
        self,
        model_hash: str,
        validator_id: str,
        validation_result: Mapping[str, Any],
        model_id: str,
        *,
        confidence_score: float | None = None,
        challenge_hash: str | None = None,
    ) -> str | None:
        """Record a validation; return its ``validation_id`` (None when recording is disabled).

        Without ``confidence_score``, a numeric ``"confidence"`` entry of ``validation_result`` is used.
        ``challenge_hash`` is recorded only when ``record_challenges`` is on.
        """
        if not self.config.enabled:
            return None
        if confidence_score is None and isinstance(validation_result, Mapping):
            candidate = validation_result.get("confidence")
            if isinstance(candidate, int | float) and not isinstance(candidate, bool):
                confidence_score = candidate  # checked with the record: a number in [0, 1]
        fields = dict(model_hash=model_hash, validator_id=validator_id, validation_result=validation_result,
                      confidence_score=confidence_score,
                      challenge_hash=challenge_hash if self.config.record_challenges else None)
        return self._append(ValidationRecord, model_id, fields).record_id

    def record_step(self, step: int, metrics: Mapping[str, Any], model_id: str, *, epoch: int | None = None,
                    batch: str | None = None) -> None:
        """Record one training step's metrics, cheaply enough to call on every step.

        Steps are buffered in memory and written as one ``steps`` record per ``step_block`` steps, before the
        model's next checkpoint or validation, and on ``flush()``/``close()``. Every step's values are in the log;
        what a crash can lose is the steps not yet written, never an acknowledged checkpoint or validation.

        Each call's values are checked before it returns: a value pot cannot record (a string, an object, a
        non-scalar array) refuses this call alone with a FormatError naming the step, and the steps before it
        stay buffered and are written. Plain floats take a fast path; anything else (ints, None, numpy or torch
        scalars) is converted now, so a tensor is read with ``.item()`` here rather than kept alive in the buffer.

        ``batch``: the step's batch digest, for replay (:func:`pot.replay.batch_digest`); recorded in the steps
        record's ``batches``. A block holds digests for all of its steps or for none.

        A checkpoint recorded with digests still being computed (:func:`pot.replay.torch.save_checkpoint_async`)
        is appended at the first step after they are known; if computing them failed (its file could not be
        written), that is raised here, once, and this step is kept.
        """
        if not self.config.enabled:
            return
        # Each check is one comparison for what training loops pass; the exact message comes from the slow path.
        if type(step) is not int or not 0 <= step <= MAX_SAFE_INTEGER:
            step = _step_number(step, model_id)
        if type(metrics) is dict:
            values = dict(metrics)  # a copy: the caller may reuse its dict
            for name, value in values.items():
                # Plain floats (nan and inf too: the block write spells them as strings) with string names.
                if type(value) is not float or type(name) is not str:
                    values = _step_metrics(step, model_id, metrics)
                    break
        else:
            values = _step_metrics(step, model_id, metrics)
        if epoch is not None and (type(epoch) is not int or not 0 <= epoch <= MAX_SAFE_INTEGER):
            try:
                check_count(epoch, "epoch")
            except FormatError as exc:
                raise FormatError(f"step {step} of {model_id!r}: {exc}") from None
        if batch is not None and (batch.__class__ is not str or len(batch) != 64 or not _HEX64.fullmatch(batch)):
            raise FormatError(f"step {step} of {model_id!r}: batch must be a 64-hex batch digest")
        with self._lock:
            buffer = self._steps.get(model_id)
            if buffer is None:  # the model id is checked once a block, not on every step
                check_name(model_id, "model_id")
                buffer = self._steps[model_id] = []
            buffer.append((step, epoch, values, batch))
            full = len(buffer) >= self.config.step_block
            deferred = self._deferred.get(model_id)
        if full:
            self._write_steps(model_id)
        elif deferred is not None and deferred.done():
            # a checkpoint written in the background is ready: append it (and the steps before it) now, not at
            # the end of the block, so that a crash later does not lose it
            self._write_steps(model_id, through_deferred=True)

    def _write_steps(self, model_id: str, *, through_deferred: bool = False) -> None:
        """Write ``model_id``'s buffered steps as ``steps`` records (a new one where the step counter goes back),
        and the deferred records among them in their places, waiting for their digests (``through_deferred``: only
        up to the first deferred record, which is ready).

        If the store refuses a block (read-only, locked too long), it and the blocks after it go back to the
        front of the buffer, so the next flush writes them: steps accepted by record_step are never dropped. A
        deferred record whose digests could not be computed is dropped, with what comes after it kept, and what
        computing them raised is raised.
        """
        with self._lock:
            buffer = self._steps.pop(model_id, None)
            self._deferred.pop(model_id, None)
            if buffer and through_deferred:
                cut = next((i for i, item in enumerate(buffer) if isinstance(item, _Deferred)), len(buffer) - 1) + 1
                rest = buffer[cut:]
                if rest:
                    self._steps[model_id] = rest
                    following = next((item for item in rest if isinstance(item, _Deferred)), None)
                    if following is not None:
                        self._deferred[model_id] = following
                buffer = buffer[:cut]
        if not buffer:
            return
        parts: list[list[_Step] | _Deferred] = []
        for item in buffer:
            if isinstance(item, _Deferred):
                parts.append(item)
                continue
            block = parts[-1] if parts else None
            if not isinstance(block, list):
                parts.append([item])
                continue
            last = block[-1]
            # a new block where the step counter went back (a restart: steps must increase in a record), and
            # where steps with batch digests meet steps without (a block has a digest for every step or none)
            if item[0] <= last[0] or len(block) >= MAX_STEPS_PER_BLOCK or (item[3] is None) != (last[3] is None):
                parts.append([item])
            else:
                block.append(item)
        for index, part in enumerate(parts):
            try:
                if isinstance(part, _Deferred):
                    try:
                        fields = part.resolve()
                    except BaseException as exc:
                        raise _DeferredFailed(exc) from exc
                    self._append(part.kind, model_id, fields, write_steps=False)
                else:
                    self._append(StepsRecord, model_id, _steps_fields(part), write_steps=False)
            except _DeferredFailed as failed:
                self._put_back(model_id, parts[index + 1:])
                raise failed.cause from None
            except FormatError as exc:  # the values were checked when recorded: this would be a bug, and would recur
                what = f"the checkpoint at step {part.step}" if isinstance(part, _Deferred) else \
                    f"steps {part[0][0]}..{part[-1][0]}"
                raise FormatError(f"{what} of {model_id!r}: {exc}") from None
            except BaseException:
                self._put_back(model_id, parts[index:])
                raise

    def _put_back(self, model_id: str, parts: list[list[_Step] | _Deferred]) -> None:
        """Return what was not written to the front of ``model_id``'s buffer, for the next flush."""
        unwritten = [item for part in parts for item in (part if isinstance(part, list) else [part])]
        with self._lock:
            self._steps[model_id] = unwritten + self._steps.get(model_id, [])
            first = next((item for item in self._steps[model_id] if isinstance(item, _Deferred)), None)
            if first is not None:
                self._deferred[model_id] = first

    def record(self, kind: type[Record], model_id: str, **fields: Any) -> Record | None:
        """Record any registered record kind (lineage events, run records) into ``model_id``'s log; return the
        record (None when recording is disabled)."""
        if not self.config.enabled:
            return None
        appended = self._append(kind, model_id, fields)
        return None if isinstance(appended, _Spooled) else appended.record()

    def _prepared(self, kind: type[Record], model_id: str, fields: dict[str, Any]) -> PreparedRecord:
        """The record checked and encoded, all but its seq and Lamport stamp (a FormatError for bad input)."""
        timestamp = _now_timestamp() if self._clock is _utcnow else format_timestamp(self._clock())
        salt = self._salts.next() if self.config.salt_records else None
        fields.setdefault("run_id", self._active_runs.get(model_id))
        return kind.prepare_new({"model_id": model_id, "seq": 0, "timestamp": timestamp, "salt": salt,
                                 "rank": self._rank, "node_id": self.node_id, "lamport": 1, **fields})

    def _append(self, kind: type[Record], model_id: str, fields: dict[str, Any], *, write_steps: bool = True
                ) -> CompletedRecord | _Spooled:
        if self._closed:
            raise UsageError("this recorder is closed")
        check_name(model_id, "model_id")
        if write_steps and self._steps:
            self._write_steps(model_id)  # buffered steps come before this record in the log
        # Check every field before taking the store's write lock, so bad input never holds it; inside the lock
        # only the seq and the Lamport stamp are filled in and the leaf hashed. Appending after the log's last
        # record is receiving its message: the stamp merges that record's.
        prepared = self._prepared(kind, model_id, fields)
        if self._remote is not None:
            # Through a server: the record is checked and encoded here, as it will be stored, and spooled with the
            # node's Lamport stamp; the server fills in its seq and merges the stamp with its log's.
            stamp = self.lamport.increment()
            made = prepared.complete(0, stamp)
            handle = self._salts.next()  # the idempotency key: 128 random bits, unique without coordination
            self._remote.add(model_id, handle, kind.KIND, made.text, stamp)
            return _Spooled(handle)
        index = index_event if kind is EventRecord else None
        record = self.store.append(model_id, lambda seq, last: prepared.complete(seq, self.lamport.merge(last)),
                                   index=index)
        with self._lock:
            count = self._unsigned.get(model_id, 0) + 1
            self._unsigned[model_id] = count
            if count >= self.config.batch_size:
                self._request_sign(model_id)
        return record

    # --- runs, promotions, rollbacks (see pot.lineage.events, pot.lineage.registry) --------------------------------

    def start_run(self, model_id: str, *, kind: str = "train", config: Mapping[str, Any] | None = None,
                  parents: Sequence[Mapping[str, Any]] = (), rerun_of: str | None = None,
                  run_id: str | None = None, capture: bool = True) -> Run:
        """Start a run that trains ``model_id``: records ``RunStarted`` with its configuration, the environment
        (Python, platform, packages, torch/CUDA), git commit and dirty flag, user, and parents (see
        :func:`pot.lineage.events.parent_model`, :func:`pot.lineage.events.parent_dataset`). Until the run ends,
        every record of ``model_id`` from this recorder carries its run id. Use as a context manager: a clean exit
        records ``RunCompleted`` with status completed, an exception records status failed with its message.
        """
        from pot.lineage import events
        from pot.lineage.environment import capture_environment, capture_git, current_user

        if not self.config.enabled:
            return Run(self, run_id or "disabled", model_id, kind)
        if model_id in self._active_runs:
            raise UsageError(f"run {self._active_runs[model_id]!r} is still recording into {model_id!r}")
        run_id = check_name(run_id, "run_id") if run_id is not None else new_run_id(self._clock())
        data = events.run_started(kind, config or {}, capture_environment() if capture else {},
                                  capture_git() if capture else {}, current_user() if capture else "",
                                  parents, rerun_of)
        self._append(EventRecord, model_id, {"event": events.RUN_STARTED, "run_id": run_id, "data": data})
        self._active_runs[model_id] = run_id
        return Run(self, run_id, model_id, kind)

    def join_run(self, model_id: str, run_id: str) -> None:
        """Record into ``model_id`` as part of run ``run_id``, which another process (rank 0, another node) started
        and will end: every record of ``model_id`` from this recorder carries the run id, and nothing else is
        recorded (no RunStarted, no RunCompleted)."""
        if self.config.enabled:
            if model_id in self._active_runs:
                raise UsageError(f"run {self._active_runs[model_id]!r} is still recording into {model_id!r}")
            self._active_runs[model_id] = check_name(run_id, "run_id")

    def active_run(self, model_id: str) -> str | None:
        """The id of the run this recorder is recording into ``model_id`` now, if any (so that code which starts
        runs itself, a framework callback, can join a run its caller started instead)."""
        return self._active_runs.get(model_id)

    def _end_run(self, run: Run, status: str, error: str | None) -> None:
        from pot.lineage import events

        self._append(EventRecord, run.model_id, {"event": events.RUN_COMPLETED, "run_id": run.run_id,
                                                  "data": events.run_completed(status, error)})
        self._active_runs.pop(run.model_id, None)

    def promote(self, model_id: str, stage: str, gate: Any, *, validator_id: str | None = None
                ) -> tuple[bool, EventRecord | None]:
        """Promote ``model_id`` to ``stage`` if its latest validation (by ``validator_id``, if given) passes the
        gate (a :class:`pot.lineage.gates.Gate` or its JSON). Records ``ModelPromoted`` or, when the gate fails,
        ``PromotionRefused``, with the gate, its inputs and its decision; returns (promoted, the event).

        When recording is disabled: ``(False, None)``. Nothing is promoted, because there are no recorded
        validations to judge and no log to record a decision in; a caller that deploys on ``promoted`` deploys
        nothing it did not check itself."""
        from pot.lineage import events
        from pot.lineage.gates import Gate

        if not self.config.enabled:
            return False, None
        gate = gate if isinstance(gate, Gate) else Gate.from_json(gate)
        if self._remote is not None:
            answer, decided = self._remote_decision(self._remote, model_id, "promote", {
                "stage": stage, "gate": gate.canonical(), **({"validator": validator_id} if validator_id else {})})
            return answer.get("promoted") is True, decided
        self.store.require_model(model_id)
        name, data = events.promotion_decision(self.store.records(model_id), model_id, stage, gate, validator_id)
        event = self._append(EventRecord, model_id, {"event": name, "run_id": None, "data": data}).record()
        assert isinstance(event, EventRecord)
        return name == events.MODEL_PROMOTED, event

    def rollback(self, model_id: str, stage: str, to_model_hash: str, reason: str) -> EventRecord | None:
        """Record that ``stage`` went back to ``to_model_hash``, which must have been promoted to it before; return
        the event (None when recording is disabled)."""
        from pot.lineage import events

        if not self.config.enabled:
            return None
        if self._remote is not None:
            return self._remote_decision(self._remote, model_id, "rollback",
                                         {"stage": stage, "to": to_model_hash, "reason": reason})[1]
        self.store.require_model(model_id)
        name, data = events.rollback_decision(self.store.records(model_id), model_id, stage, to_model_hash, reason)
        event = self._append(EventRecord, model_id, {"event": name, "run_id": None, "data": data}).record()
        assert isinstance(event, EventRecord)
        return event

    def _remote_flush(self, remote: RemoteLog, model_id: str, timeout: float, why_needed: str) -> None:
        """Send what the spool holds of ``model_id`` (its buffered steps too); a ServerError if any is still
        spooled after ``timeout``."""
        from pot.server.client import ServerError

        check_name(model_id, "model_id")
        self._write_steps(model_id)
        left = remote.flush(timeout, model_id)
        if left:
            why = remote.last_problem or "still sending"
            raise ServerError(f"{left} record(s) of {model_id!r} are still spooled in {remote.spool.path}: the server "
                              f"{remote.shown} did not take them within {timeout:g} s ({why}); {why_needed}")

    def _remote_decision(self, remote: RemoteLog, model_id: str, what: str, body: dict[str, Any]
                         ) -> tuple[dict[str, Any], EventRecord]:
        """``promote`` or ``rollback`` through the server: send what the spool holds of ``model_id`` first (the
        gate judges the log as it stands), then ask the server, which decides with the same code on its log, records
        the event and signs; the event comes back in a partial proof of it, verified with the server's key."""
        from pot.server.client import ServerClient, ServerError, model_path, reason

        self._remote_flush(remote, model_id, self.config.anchor_timeout,
                           f"the gate would judge the log without them, so the {what} is not asked for")
        client = ServerClient(remote.url, remote.token)
        try:
            status, data = client.exchange("POST", model_path(model_id, what), json.dumps(body).encode())
        finally:
            client.close()
        if 400 <= status < 500 and status not in (401, 403, 429):
            raise UsageError(f"{remote.shown} refused the {what} of {model_id!r}: {reason(data)}")
        if status != 200:
            raise ServerError(f"{remote.shown} answered {status} to the {what} of {model_id!r}: {reason(data)}",
                              status)
        answer = strictjson.loads(data, f"the answer of {remote.shown}")
        if not isinstance(answer, dict) or not isinstance(answer.get("event_id"), str):
            raise ServerError(f"{remote.shown} answered the {what} of {model_id!r} without an event id")
        proof = self._remote_proof(remote, model_id, [answer["event_id"]], self.config.anchor_timeout)
        event = proof.records[0] if proof.records else None
        if not isinstance(event, EventRecord) or event.record_id != answer["event_id"]:
            raise ServerError(f"{remote.shown} did not return the {what} event it named")
        return answer, event

    # --- signing and anchoring (background) -------------------------------------------------------------------

    def _request_sign(self, model_id: str, *, urgent: bool = False) -> Future[SignedTreeHead | None]:
        """Queue a head for ``model_id``; caller holds ``self._lock``. Joins a job that has not read the log yet."""
        self._unsigned[model_id] = 0
        if urgent:
            self._hurry.set()
        waiting = self._waiting.get(model_id)
        if waiting is not None:
            return waiting
        try:
            future = self._signer.submit(self._sign_and_anchor, model_id, 0.0 if urgent else
                                         self.config.head_interval)
        except RuntimeError:
            # The interpreter is exiting and has already joined the worker threads: sign here, in this thread.
            future = Future()
            try:
                future.set_result(self._sign_head_and_anchor(model_id))
            except BaseException as exc:
                future.set_exception(exc)
            return future
        self._waiting[model_id] = future
        return future

    def _sign_and_anchor(self, model_id: str, delay: float) -> SignedTreeHead | None:
        if delay > 0 and not self._hurry.is_set():
            self._hurry.wait(delay)
        with self._lock:
            self._waiting.pop(model_id, None)  # from here on, new records need a new job
            if not self._waiting:
                self._hurry.clear()
        return self._sign_head_and_anchor(model_id)

    def _sign_head_and_anchor(self, model_id: str) -> SignedTreeHead | None:
        """Sign a head over what is new and anchor it. A local anchor that fails (a damaged, truncated or
        unwritable chain file, a refused equivocation) costs nothing stored: the head is signed and stored, the
        failure is logged and kept in :attr:`local_anchor_failures`, chain anchors still go out, and the next flush
        anchors the newest head once the file is repaired. Other failures (the store refuses the head) raise."""
        try:
            head = self._sign_head(model_id)
            if head is not None:
                self._anchor_locally(model_id, head)
                for anchor in self._chain_anchors:
                    self._submit_chain_anchor(model_id, head, anchor)
            else:
                self._anchor_newest_locally(model_id)
            return head
        except BaseException as exc:
            log.error("signing or anchoring the head of %r failed: %s (records are stored; the next flush "
                      "retries)", model_id, exc, extra={HEAD_FAILURE: True})
            self._errors.append(exc)
            raise

    def _sign_head(self, model_id: str) -> SignedTreeHead | None:
        frontier = self._frontiers.setdefault(model_id, Frontier())
        key = self.key

        def make(latest: SignedTreeHead | None, new_leaves: list[bytes], newest: str | None
                 ) -> SignedTreeHead | None:
            frontier.extend(new_leaves)
            if frontier.size == 0 or (latest is not None and latest.head.tree_size >= frontier.size):
                return None
            # A head is never dated before what it covers, even if the wall clock stepped back.
            timestamp = max(t for t in (format_timestamp(self._clock()), newest,
                                        latest.head.timestamp if latest else None) if t is not None)
            head = TreeHead(model_id=model_id, tree_size=frontier.size, root_hash=frontier.root().hex(),
                            prev_head=latest.head.head_hash if latest else None, timestamp=timestamp,
                            key_id=key.key_id)
            return SignedTreeHead.sign(head, key)

        return self.store.add_head(model_id, make, known_leaves=frontier.size)

    def _issue(self, model_id: str, head: SignedTreeHead, anchor: Anchor) -> AnchorReceipt:
        details = anchor.anchor(head)
        # a receipt is never dated before its head, even if the wall clock stepped back
        timestamp = max(format_timestamp(self._clock()), head.head.timestamp)
        receipt = AnchorReceipt.issue(anchor.backend, head.head, details, timestamp, self.key)
        self.store.add_receipt(model_id, receipt)
        return receipt

    def _anchor_locally(self, model_id: str, head: SignedTreeHead) -> None:
        failure = None
        for anchor in self._local_anchors:
            try:
                self._issue(model_id, head, anchor)
            except AnchorError as exc:
                failure = exc
                with self._failures_lock:
                    known = self._local_failures.get(model_id)
                # Said once per problem, not once per head: a damaged file would otherwise log every head_interval.
                if known is None or str(known) != str(exc):
                    log.error("head %d of %r is signed and stored but the %s anchor refused it: %s; heads stay "
                              "unanchored there until that is repaired (`pot test` names the problem)",
                              head.head.tree_size, model_id, anchor.backend, exc, extra={HEAD_FAILURE: True})
        with self._failures_lock:
            if failure is None:
                self._local_failures.pop(model_id, None)
            else:
                self._local_failures[model_id] = failure

    def _anchor_newest_locally(self, model_id: str) -> None:
        """Anchor the newest head of ``model_id`` if it has no local receipt yet (its anchoring failed before, or
        its process died between signing and anchoring): how a repaired chain file catches up. Idempotent."""
        for anchor in self._local_anchors:
            for head in self.store.pending_heads(anchor.backend, model_id, newest_only=True):
                self._anchor_locally(model_id, head)

    @property
    def local_anchor_failures(self) -> dict[str, AnchorError]:
        """Models whose newest head this recorder signed but could not anchor locally, and why (cleared for a
        model once one of its heads is anchored). The records and heads are stored either way."""
        with self._failures_lock:
            return dict(self._local_failures)

    def _submit_chain_anchor(self, model_id: str, head: SignedTreeHead, anchor: Anchor) -> None:
        """Anchor ``head`` on ``anchor`` in the background, coalescing: while an anchor of this model is in flight,
        only the newest head waits, and the older ones are covered by it (each head's tree extends the one before,
        so a later anchored root dates every earlier record too). One transaction per round trip, not per head.
        """
        key = (model_id, anchor.backend)
        with self._lock:
            self._chain_waiting[key] = head
            if key in self._chain_running:
                return
            self._chain_running.add(key)

        def run() -> None:
            while True:
                # At most one anchor per chain_interval per model; close(), flush() and wait_for_anchors() cut the
                # wait short, so the newest head is always sent before the recorder is done.
                last = self._chain_last.get(key)
                if last is not None and not self._chain_hurry.is_set():
                    self._chain_hurry.wait(max(0.0, last + self.config.chain_interval - time.monotonic()))
                with self._lock:
                    if self._chain_waiters == 0:
                        self._chain_hurry.clear()  # a flush's hurry is used up by this anchor
                    waiting = self._chain_waiting.pop(key, None)
                    if waiting is None:
                        self._chain_running.discard(key)
                        return
                self._chain_last[key] = time.monotonic()
                try:
                    self._issue(model_id, waiting, anchor)
                except PotError as exc:
                    self._chain_failed(key, waiting, exc)
                else:
                    with self._lock:
                        self._chain_failures.pop(key, None)
                        self._chain_said.pop(anchor.backend, None)

        try:
            future = self._anchorer.submit(run)
        except RuntimeError:  # exiting: the head stays in the pending queue
            with self._lock:
                self._chain_running.discard(key)
            return
        with self._lock:
            self._chain_futures[future] = model_id
        future.add_done_callback(lambda done: self._chain_futures.pop(done, None))

    def _chain_failed(self, key: tuple[str, str], head: SignedTreeHead, exc: PotError) -> None:
        """Log a failed chain anchor once per problem, not once per head: a chain that stays down (or a contract
        not deployed yet) would otherwise log the same line every ``chain_interval`` for every model."""
        model_id, backend = key
        message = str(exc)
        with self._lock:
            self._chain_failures[key] = message
            repeated = self._chain_said.get(backend) == message
            self._chain_said[backend] = message
        if repeated:
            return
        if isinstance(exc, AnchorError):
            log.warning("%s could not anchor head %d of %r now (%s); it stays pending for `pot anchor --pending`",
                        backend, head.head.tree_size, model_id, message)
        else:
            log.error("anchoring head %d of %r failed: %s", head.head.tree_size, model_id, message)

    def anchor_pending(self, model_id: str | None = None, *, anchors: Sequence[Anchor] | None = None
                       ) -> list[AnchorReceipt]:
        """Anchor what no chain anchor covers yet (``pot anchor --pending``): the newest head of each model whose
        heads are not all covered, one transaction per model.

        Like OpenTimestamps upgrading a pending attestation: the heads keep their local receipts, and the next proof
        of their model shows them covered by a chain anchor. Raises the first AnchorError; what was anchored before
        it stays anchored.
        """
        if not self.config.enabled or self._remote is not None:
            return []
        receipts = []
        for anchor in self._chain_anchors if anchors is None else anchors:
            for head in self.store.pending_heads(anchor.backend, model_id, newest_only=True):
                receipts.append(self._issue(head.head.model_id, head, anchor))
        return receipts

    def flush(self, model_id: str | None = None, timeout: float | None = None) -> list[SignedTreeHead]:
        """Sign and locally anchor a head over everything recorded so far (for one model, or each model this
        recorder has written); wait for it. Returns the new heads. Raises what signing raised; a head that could
        not be anchored locally is logged and listed in :attr:`local_anchor_failures`, not raised."""
        if not self.config.enabled:
            return []
        for buffered in [model_id] if model_id is not None else list(self._steps):
            self._write_steps(buffered)
        if self._remote is not None:
            # The server signs a head over every batch it takes: flushing is sending what the spool holds.
            left = self._remote.flush(self.config.anchor_timeout if timeout is None else timeout, model_id)
            if left:
                log.warning("%d record(s) still wait in the spool %s for the server %s (%s); they are sent when "
                            "it answers", left, self._remote.spool.path, self._remote.shown,
                            self._remote.last_problem or "still sending", extra={HEAD_FAILURE: True})
            return []
        self._chain_hurry.set()  # a flush is a moment to anchor; chain_interval applies between flushes
        with self._lock:
            models = [model_id] if model_id is not None else list(self._unsigned)
            futures = [self._request_sign(m, urgent=True) for m in models]
        _done, not_done = wait_futures(futures, timeout=timeout)
        if not_done:
            raise PotError(f"signing did not finish within {timeout} s; records are stored and will be signed "
                           "by the next flush")
        heads = [f.result() for f in futures]  # re-raises a signing error
        return [h for h in heads if h is not None]

    def wait_for_anchors(self, timeout: float | None = None, *, model_id: str | None = None) -> bool:
        """Send what waits for a chain anchor now (not after ``chain_interval``) and wait for it (for one model's
        heads, or every model's); True when nothing is left outstanding. An anchor that failed is not
        outstanding: its head stays pending (see :meth:`anchor_pending`)."""
        if not self.config.enabled or self._remote is not None:
            return True
        with self._lock:
            self._chain_waiters += 1
            self._chain_hurry.set()
            futures = [f for f, model in self._chain_futures.items() if model_id in (None, model)]
        try:
            _, not_done = wait_futures(futures, timeout=timeout)
            return not not_done
        finally:
            with self._lock:
                self._chain_waiters -= 1
                if self._chain_waiters == 0:
                    self._chain_hurry.clear()

    def close(self, timeout: float | None = None) -> None:
        """Flush, wait up to ``timeout`` (default ``anchor_timeout``) for chain anchors, release the store.

        Heads still unanchored on a chain after that stay in the pending queue; nothing is lost.
        """
        if self._closed or not self.config.enabled:
            self._closed = True
            return
        timeout = self.config.anchor_timeout if timeout is None else timeout
        if self._remote is not None:
            self._close_remote(self._remote, timeout)
            return
        try:
            self.flush()
            if not self.wait_for_anchors(timeout):
                log.warning("chain anchoring still running after %.0f s; the remaining heads stay pending "
                            "for `pot anchor --pending`", timeout)
        finally:
            self._closed = True
            self._signer.shutdown(wait=True)
            self._anchorer.shutdown(wait=False, cancel_futures=True)
            _live_recorders.discard(self)
            if self._owns_store:
                self.store.close()

    def _close_remote(self, remote: RemoteLog, timeout: float) -> None:
        """Write buffered steps, send what the spool holds (waiting up to ``timeout``), and say what is left."""
        try:
            for buffered in list(self._steps):
                self._write_steps(buffered)
        finally:
            self._closed = True
            _live_recorders.discard(self)
            left = remote.close(timeout)
            refused = remote.refused_at_close
            self.left_in_spool = left
            if left:
                log.warning("%d record(s) are still spooled in %s: the server %s did not take them within %g s "
                            "(%s); the next recorder on this spool sends them", left, remote.spool.path,
                            remote.shown, timeout, remote.last_problem or "still sending", extra={HEAD_FAILURE: True})
            if refused:
                log.warning("%d record(s) in %s were refused by the server %s for good (first: %s); they are kept "
                            "there, marked refused", len(refused), remote.spool.path, remote.shown, refused[0][2],
                            extra={HEAD_FAILURE: True})

    left_in_spool = 0  # records a remote recorder's close() left in its spool, for the next recorder to send

    def __enter__(self) -> ProvenanceRecorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- proofs and history -----------------------------------------------------------------------------------

    def generate_proof_of_training(self, model_id: str, *, disclose: Sequence[str] | None = None,
                                   anchor_timeout: float | None = None) -> ProvenanceProof | None:
        """Sign what is unsigned, then build the proof of ``model_id``: a full proof, or, with ``disclose``
        (record ids), a partial proof of just those records. Verified before it is returned when
        ``auto_verify`` is on. None when recording is disabled: there is nothing to prove.

        With chain anchoring on, the chain anchor of the head just signed is sent at once and waited for, up to
        ``anchor_timeout`` seconds (default: the config's), so that a proof made right after recording carries
        its transaction. If the newest head is still not covered by a chain anchor after that (the wait ran out,
        or anchoring failed), the proof is made anyway, showing those heads anchored locally only, and one line is
        logged saying why and how to get the chain anchor into a proof: a new proof once the anchor is mined, or
        ``pot anchor --pending`` and then a new proof.
        """
        if not self.config.enabled:
            return None
        if self._remote is not None:
            return self._remote_proof(self._remote, model_id, disclose,
                                      self.config.anchor_timeout if anchor_timeout is None else anchor_timeout)
        store = self.store
        if model_id in self._steps:  # what is buffered is part of the log it proves (steps, deferred records)
            self._write_steps(model_id)
        store.require_model(model_id)
        self.flush(model_id)
        self._await_chain_anchors(model_id, self.config.anchor_timeout if anchor_timeout is None else anchor_timeout)
        snapshot = store.snapshot(model_id)
        indexes = None
        if disclose is not None:
            wanted = set(disclose)
            indexes = [i for i, body in enumerate(snapshot.bodies) if _leaf_id(snapshot.leaves[i]) in wanted]
            missing = wanted - {_leaf_id(snapshot.leaves[i]) for i in indexes}
            if missing:
                raise UsageError(f"no record {sorted(missing)[0]!r} in the log of {model_id!r}")
        proof = build_proof(model_id=model_id, record_bodies=snapshot.bodies, leaves=snapshot.leaves,
                            heads=snapshot.heads, receipts=snapshot.receipts, key=self.key, now=self._clock(),
                            disclose=indexes)
        if self.config.auto_verify:
            from pot.log.verify import verify_proof

            verify_proof(proof, trusted_key=self.key.public)
        return proof

    def _remote_proof(self, remote: RemoteLog, model_id: str, disclose: Sequence[str] | None, timeout: float
                      ) -> ProvenanceProof:
        """Send what the spool holds of ``model_id``, then fetch its proof from the server (verified with the
        server's key when ``auto_verify`` is on). Records still spooled after ``timeout`` are a ServerError: a
        proof made without them would not show what was recorded."""
        from urllib.parse import quote

        from pot.server.client import ServerClient, ServerError, model_path, reason

        self._remote_flush(remote, model_id, timeout, "a proof now would leave them out")
        query = ""
        if disclose is not None:
            ids = [self.server_record_id(handle) or handle for handle in disclose]
            query = "?" + "&".join(f"record={quote(i, safe='')}" for i in ids)
        client = ServerClient(remote.url, remote.token)
        try:
            status, data = client.exchange("GET", model_path(model_id, "proof") + query)
        finally:
            client.close()
        if status == 404:
            raise UsageError(f"the server {remote.shown} has no log of {model_id!r}")
        if status != 200:
            raise ServerError(f"{remote.shown} answered {status} to the proof of {model_id!r}: {reason(data)}",
                              status)
        proof = ProvenanceProof.from_json(data)
        if self.config.auto_verify:
            from pot.log.verify import verify_proof

            verify_proof(proof, trusted_key=self.public_key)
        return proof

    def _await_chain_anchors(self, model_id: str, timeout: float) -> None:
        """Wait up to ``timeout`` for ``model_id``'s chain anchors in flight; log one line if its newest head is
        still not covered by a chain anchor then (the proof about to be made will show it anchored locally only)."""
        if not self._chain_anchors:
            return
        done = self.wait_for_anchors(timeout, model_id=model_id)
        for anchor in self._chain_anchors:
            pending = self.store.pending_heads(anchor.backend, model_id)
            if not pending:
                continue
            if not done:
                log.warning("the proof of %r is made without the %s anchor of its newest tree head, still being sent "
                            "after %g s (anchor_timeout): %d head(s) show as anchored locally only; make the proof "
                            "again once it is mined (if this process ends first, `pot anchor --pending` sends it)",
                            model_id, anchor.backend, timeout, len(pending))
                continue
            with self._lock:
                failure = self._chain_failures.get((model_id, anchor.backend))
            log.warning("the proof of %r has %d tree head(s) that no %s anchor covers (%s): they show as anchored "
                        "locally only; `pot anchor --pending`, then a new proof, adds the chain anchor", model_id,
                        len(pending), anchor.backend,
                        f"anchoring failed: {failure}" if failure else "left pending by an earlier run")

    def verify_training_provenance(self, proof: ProvenanceProof | Mapping[str, Any] | str | bytes | None) -> bool:
        """The seed's check: True when ``proof`` verifies against this recorder's key, else False (always False
        when recording is disabled: there is no key to verify against, so nothing is verified).

        :func:`pot.verify_proof` is the form that says why: it raises a VerificationError.
        """
        from pot.log.verify import verify_proof

        if not self.config.enabled or proof is None:
            return False
        try:
            parsed = proof if isinstance(proof, ProvenanceProof) else ProvenanceProof.from_json(proof)
            verify_proof(parsed, trusted_key=self.public_key)
        except (VerificationError, PotError) as exc:
            log.info("proof did not verify: %s", exc)
            return False
        return True



def _step_number(step: Any, model_id: str) -> int:
    """A step number record_step can record, or why not (the slow path of its check)."""
    if isinstance(step, bool) or not isinstance(step, int):
        raise UsageError(f"step must be an integer, got {type(step).__name__}")
    if not 0 <= step <= MAX_SAFE_INTEGER:
        raise FormatError(f"step {step} of {model_id!r}: a step must be in 0..2**53-1")
    return int(step)


def _step_metrics(step: int, model_id: str, metrics: Any) -> dict[str, Any]:
    """One step's metrics as JSON values (number, non-finite float as its string, or None), or a FormatError
    naming the step: the slow path of record_step, for anything but finite plain floats."""
    where = f"step {step} of {model_id!r}"
    if not isinstance(metrics, Mapping):
        raise FormatError(f"{where}: metrics must be a mapping of names to numbers, got {type(metrics).__name__}")
    values: dict[str, Any] = {}
    for name, value in metrics.items():
        if not isinstance(name, str):
            raise FormatError(f"{where}: metric names must be strings, got {type(name).__name__} {name!r}")
        try:
            converted = to_json_value(value, path=f"metrics.{name}")
        except FormatError as exc:
            raise FormatError(f"{where}: {exc}") from None
        if converted is not None and (isinstance(converted, bool) or not isinstance(converted, int | float | str) or (
                isinstance(converted, str) and converted not in _NON_FINITE)):
            shown = f"the string {value!r}" if isinstance(value, str) else type(value).__name__
            raise FormatError(f"{where}: metrics.{name} must be a number or None, got {shown}")
        values[name] = converted
    return values


_NON_FINITE = ("NaN", "Infinity", "-Infinity")  # how pot.log.canonical writes the floats JSON cannot carry


def new_run_id(moment: datetime) -> str:
    """``run-<UTC time>-<8 random hex>``: sorts by start time, unique without coordination."""
    return f"run-{moment.astimezone(UTC).strftime('%Y%m%dT%H%M%S')}-{os.urandom(4).hex()}"


class Run:
    """A run in progress (from :meth:`ProvenanceRecorder.start_run`)."""

    def __init__(self, recorder: ProvenanceRecorder, run_id: str, model_id: str, kind: str) -> None:
        self.recorder, self.run_id, self.model_id, self.kind = recorder, run_id, model_id, kind
        self._ended = False

    def log_metric(self, name: str, value: float, step: int | None = None) -> None:
        """A ``MetricLogged`` event (for values outside checkpoints and steps: a final test score, say)."""
        from pot.lineage import events

        if self.recorder.config.enabled:
            self.recorder._append(EventRecord, self.model_id, {"event": events.METRIC_LOGGED, "run_id": self.run_id,
                                                                "data": events.metric_logged(name, value, step)})

    def log_artifact(self, path: str | os.PathLike[str], name: str | None = None) -> str | None:
        """An ``ArtifactSaved`` event for a file or directory the run wrote; returns its digest (None when
        recording is disabled: the file is not read, as a large artifact would take long to hash)."""
        from pot.hashing import checkpoint_digest
        from pot.lineage import events

        if not self.recorder.config.enabled:
            return None
        digest = checkpoint_digest(path)
        target = Path(path)
        size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file()) if target.is_dir() else \
            target.stat().st_size
        self.recorder._append(EventRecord, self.model_id, {
            "event": events.ARTIFACT_SAVED, "run_id": self.run_id,
            "data": events.artifact_saved(name or target.name, digest, size)})
        return digest

    def complete(self) -> None:
        self._end("completed", None)

    def fail(self, error: str) -> None:
        self._end("failed", error)

    def _end(self, status: str, error: str | None) -> None:
        if self._ended or not self.recorder.config.enabled:
            return
        self._ended = True
        self.recorder._end_run(self, status, error)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: object) -> None:
        if kind is None:
            self.complete()
        else:
            self.fail(f"{kind.__name__}: {value}")


def _distributed_rank() -> int | None:
    """This process's rank when torch.distributed is initialised (never imports torch itself)."""
    torch = sys.modules.get("torch")
    distributed = getattr(torch, "distributed", None)
    if distributed is not None and distributed.is_available() and distributed.is_initialized():
        return int(distributed.get_rank())
    return None


class _SaltSource:
    """Record salts from the OS's CSPRNG, read 4 KiB at a time: one system call per 256 records, not per record."""

    __slots__ = ("_buffer", "_lock", "_offset")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._offset = 0

    def next(self) -> str:
        with self._lock:
            if self._offset + 16 > len(self._buffer):
                self._buffer, self._offset = os.urandom(4096), 0
            salt = self._buffer[self._offset:self._offset + 16]
            self._offset += 16
        return salt.hex()


class _Spooled:
    """What ``_append`` returns for a record spooled for a server: its handle (the idempotency key). The record
    itself, its seq and id, are the server's to make."""

    __slots__ = ("record_id",)

    def __init__(self, handle: str) -> None:
        self.record_id = handle

    def record(self) -> Record:
        raise UsageError("a record spooled for the server has no seq or id yet")


def _leaf_id(leaf: bytes) -> str:
    return leaf.hex()


_live_recorders: weakref.WeakSet[ProvenanceRecorder] = weakref.WeakSet()


@atexit.register
def _close_at_exit() -> None:
    # Records are durable already; this only signs and anchors the last partial batch of recorders that were
    # never closed, so their heads are not left for the next run to sign.
    for recorder in list(_live_recorders):
        try:
            recorder.close(timeout=min(recorder.config.anchor_timeout, 5.0))
        except Exception as exc:  # never let exit-time cleanup raise
            log.warning("closing a recorder at exit failed: %s", exc)
