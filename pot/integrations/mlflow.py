"""MLflow: record an MLflow run into pot, attach its proof to the run, and gate registry aliases on pot promotions.

    import mlflow
    from pot.integrations import mlflow as pot_mlflow

    with mlflow.start_run(), pot_mlflow.track(recorder, "digits-mlp") as tracked:
        mlflow.log_params({"lr": 1e-3, "epochs": 20})
        for epoch in range(20):
            ...                                               # mlflow.log_metrics({...}, step=step) as usual
            tracked.sync()                                    # optional: record what is logged so far
        mlflow.log_artifacts(model_dir, "model")
        digest = tracked.record_model(model_dir, epoch=19)    # the model's files, as a checkpoint record
        recorder.record_validation(model_hash=digest, validator_id="holdout", validation_result={"accuracy": acc},
                                   model_id="digits-mlp")
    # on leaving the block: the pot run ends, the proof is attached to the MLflow run as
    # pot/digits-mlp.proof.json, and the run gets the tags pot.model_id, pot.log_root, pot.key_id, pot.public_key
    # (and pot.anchor_tx once a chain anchor covers the log)

    version = client.create_model_version("digits", source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    promoted, event = pot_mlflow.promote_alias(client, recorder, "digits-mlp", "digits", "champion",
                                               version.version, {"thresholds": {"accuracy": {">=": 0.9}}})
    # the alias moves only when pot's gate passes; the decision (ModelPromoted or PromotionRefused) is in the log

**How the run is read.** The tracker reads the run back from MLflow's tracking store (``MlflowClient.get_run`` and
``get_metric_history``) rather than hooking ``mlflow.log_param``/``log_metric``: whatever wrote to the run (the
fluent API, ``MlflowClient``, any autologging flavour, asynchronous logging, another process) ends in the store,
which is MLflow's one public, stable account of a run, while autologging flavours and async logging bypass the
fluent functions, and a tracking-store plugin would make users move their runs to a pot URI scheme. The cost: a
value is recorded into pot when it is synced (``sync()``, and always when the block ends), not the instant MLflow
logged it, so a pot record's timestamp is the sync's. Call ``sync()`` once an epoch to have each epoch signed and
anchored as training goes; not on every step: each call reads the run's metric histories again and signs a head.

**Parameters** are the pot run's configuration, under ``params`` (MLflow keeps parameter values as strings, and so
does pot), with ``framework: mlflow`` and the MLflow run and experiment ids. A pot run's configuration is recorded
when the run starts, so the pot run starts at the first ``sync()`` (or at the end of the block when there is none):
log the parameters before it. Parameters logged after that cannot join the configuration; at the end they are
written, all of the run's parameters together, to ``mlflow-params.json`` (RFC 8785 canonical JSON), recorded as an
``ArtifactSaved`` event of the pot run (its SHA-256 in the log) and attached to the MLflow run next to the proof.
When the recorder is already recording a run into the model (the caller's ``start_run``), the records join it and
every MLflow parameter goes into that file.

**Metrics** logged with a step become pot steps (``record_step``), in step order and, within a step, in the order
MLflow logged them; the values of one step are one ``record_step`` call. MLflow stores a metric logged without a
step at step 0, and so does pot. A step stays unrecorded until a later step is logged or the block ends, so that a
sync between two metrics of one step does not split it. A metric MLflow holds at a step pot cannot record (negative,
or beyond 2**53-1) is left out with one warning.

**Which model hash an MLflow model has.** A model version (or a logged model) is a directory of files; its pot
model hash is the ``pot.file-set.v1`` digest of those files as MLflow serves them (docs/MODEL_HASHING.md §4): the
same digest ``pot hash DIR`` prints for the downloaded directory and ``pot verify --checkpoint DIR`` recognises.
It covers every file MLflow keeps for the model (the ``MLmodel`` description, environment files and the weights),
so it names exactly what a registry alias would deploy. :meth:`MlflowTracker.record_model` records that digest as
a checkpoint, and validations of that digest are what :func:`promote_alias` promotes on.

**Registry changes** go through :func:`promote_alias` (or :func:`promote_stage` for MLflow's deprecated stages) and
:func:`rollback_alias`: pot decides first, and MLflow's alias moves only on a passed gate. Aliases set directly with
``MlflowClient.set_registered_model_alias`` are not seen by pot.

With a disabled recorder (``ProvenanceConfig(enabled=False)``) the tracker records nothing, reads nothing, attaches
nothing, and the registry functions refuse to move anything (``(False, None)``), as :meth:`ProvenanceRecorder.promote`
does.
"""

from __future__ import annotations

import logging
import math
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from pot.config import ProvenanceConfig
from pot.errors import UsageError
from pot.hashing import checkpoint_digest
from pot.log.canonical import MAX_SAFE_INTEGER, canonical_json
from pot.log.proof import ProvenanceProof
from pot.log.records import EventRecord, TrainingCheckpoint, ValidationRecord
from pot.recorder import ProvenanceRecorder, Run

log = logging.getLogger("pot")

PROOF_DIRECTORY = "pot"  # the MLflow artifact directory the proof (and late parameters) go into
PARAMS_FILE = "mlflow-params.json"
TAG_PREFIX = "pot."


def track(
    recorder: ProvenanceRecorder | None,
    model_id: str,
    *,
    run_id: str | None = None,
    client: MlflowClient | None = None,
    run_config: Mapping[str, Any] | None = None,
    parents: Sequence[Mapping[str, Any]] = (),
) -> MlflowTracker:
    """A tracker of the MLflow run ``run_id`` (default: the active run) into ``model_id``'s pot log; use it as a
    context manager (see the module docstring). ``recorder`` None: one on the default store (``POT_HOME`` or
    ./.pot), closed at the end. ``run_config`` is recorded in the pot run's configuration next to the parameters,
    ``parents`` as its parents (:func:`pot.lineage.events.parent_dataset`, ``parent_model``)."""
    return MlflowTracker(recorder, model_id, run_id=run_id, client=client, run_config=run_config, parents=parents)


class MlflowTracker:
    """Records one MLflow run into pot (from :func:`track`)."""

    def __init__(
        self,
        recorder: ProvenanceRecorder | None,
        model_id: str,
        *,
        run_id: str | None = None,
        client: MlflowClient | None = None,
        run_config: Mapping[str, Any] | None = None,
        parents: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        if run_id is None:
            active = mlflow.active_run()
            if active is None:
                raise UsageError("no active MLflow run to track: call mlflow.start_run() first, or pass run_id=")
            run_id = active.info.run_id
        self.run_id: str = run_id
        self._owns_recorder = recorder is None  # made after the checks above, so a refusal leaves none open
        self.recorder = recorder if recorder is not None else ProvenanceRecorder(ProvenanceConfig(enabled=True))
        self.model_id = model_id
        self.client = client if client is not None else MlflowClient()
        self.run_config = dict(run_config or {})
        self.parents = list(parents)
        self.run: Run | None = None  # the pot run this tracker started (None when it joined its caller's)
        self.pot_run_id: str | None = None
        self.proof: ProvenanceProof | None = None
        self.proof_artifact: str | None = None  # the proof's path among the MLflow run's artifacts
        self._configured: dict[str, str] | None = None  # the parameters the pot run's configuration holds
        self._seen: set[tuple[str, int, int, str]] = set()  # metric entries read from MLflow (recorded or held)
        self._held: list[tuple[int, int, str, float]] = []  # (step, timestamp, key, value) not recorded yet
        self._finished = False
        self._warned_steps = False

    @property
    def enabled(self) -> bool:
        return self.recorder.config.enabled

    # --- reading the run --------------------------------------------------------------------------------------

    def _mlflow_run(self) -> Any:
        try:
            return self.client.get_run(self.run_id)
        except MlflowException as exc:
            # The tracking URI is not named: a server's URI may carry credentials.
            raise UsageError(f"cannot read MLflow run {self.run_id!r}: {exc.message}") from None

    def sync(self) -> int:
        """Record what the MLflow run holds that pot has not recorded yet: the parameters (starting the pot run,
        the first time) and the metric values of every step but the newest; then sign a tree head over the log
        (``flush``: with chain anchoring on, its root is sent too), so what is synced is signed and anchored as
        training goes. Returns the number of steps recorded (0 with a disabled recorder)."""
        recorded = self._sync(final=False)
        if self.enabled:
            self.recorder.flush(self.model_id)
        return recorded

    def _sync(self, *, final: bool) -> int:
        if not self.enabled:
            return 0
        mlflow_run = self._mlflow_run()
        self._start(mlflow_run)
        for key in sorted(mlflow_run.data.metrics):
            for metric in self.client.get_metric_history(self.run_id, key):
                value = float(metric.value)
                ident = (key, int(metric.step), int(metric.timestamp), value.hex() if not math.isnan(value) else "nan")
                if ident in self._seen:
                    continue
                self._seen.add(ident)
                self._held.append((int(metric.step), int(metric.timestamp), key, value))
        return self._record_steps(final=final)

    def _record_steps(self, *, final: bool) -> int:
        held = sorted(self._held)
        unrecordable = [entry for entry in held if not 0 <= entry[0] <= MAX_SAFE_INTEGER]
        if unrecordable and not self._warned_steps:
            self._warned_steps = True
            log.warning("%d metric value(s) of MLflow run %s are at steps pot cannot record (a step must be in "
                        "0..2**53-1) and are left out: %s", len(unrecordable), self.run_id,
                        ", ".join(sorted({f"{key} at step {step}" for step, _, key, _ in unrecordable})[:5]))
        held = [entry for entry in held if 0 <= entry[0] <= MAX_SAFE_INTEGER]
        newest = held[-1][0] if held else None
        ready = held if final else [entry for entry in held if entry[0] != newest]
        self._held = [] if final else [entry for entry in held if entry[0] == newest]
        steps: dict[int, list[dict[str, float]]] = {}
        for step, _, key, value in ready:  # sorted by step, then by the time MLflow logged them
            rows = steps.setdefault(step, [])
            # A key logged twice at one step (several values logged without a step, all at MLflow's step 0) gives
            # the step a second record_step call rather than losing a value.
            row = next((r for r in rows if key not in r), None)
            if row is None:
                row = {}
                rows.append(row)
            row[key] = value
        for step, rows in steps.items():
            for row in rows:
                self.recorder.record_step(step, row, self.model_id)
        return len(steps)

    def _start(self, mlflow_run: Any) -> None:
        """Start the pot run with the parameters MLflow holds now as its configuration (once), or join the run the
        recorder is already recording into the model."""
        if self._configured is not None:
            return
        joined = self.recorder.active_run(self.model_id)
        if joined is not None:
            self.pot_run_id = joined
            self._configured = {}
            return
        params = {str(k): str(v) for k, v in mlflow_run.data.params.items()}
        config = {"framework": "mlflow", "mlflow_run_id": self.run_id,
                  "mlflow_experiment_id": str(mlflow_run.info.experiment_id), "params": params, **self.run_config}
        self.run = self.recorder.start_run(self.model_id, config=config, parents=self.parents)
        self.pot_run_id = self.run.run_id
        self._configured = params

    # --- the model --------------------------------------------------------------------------------------------

    def record_model(self, source: str | Path, *, epoch: int, metrics: Mapping[str, Any] | None = None,
                     step: int | None = None, name: str | None = None) -> str | None:
        """Record a model the run logged as a training checkpoint and return its pot model hash (None with a
        disabled recorder: nothing is downloaded or hashed).

        ``source`` is the model's local directory (or file) as it was logged, or an MLflow artifact URI
        (``runs:/<run>/model``, ``models:/<id or name/version>``, the model info's ``model_uri``), which is
        downloaded first. The model hash is the ``pot.file-set.v1`` digest of its files (a single file: its
        SHA-256), recorded as both ``model_hash`` and ``file_sha256``, so that ``pot verify --checkpoint DIR``
        recognises the directory. ``metrics`` default to the newest value of each of the run's metrics.
        """
        if not self.enabled:
            return None
        self._sync(final=True)  # every step logged before this checkpoint comes before it in the log
        if metrics is None:
            metrics = dict(self._mlflow_run().data.metrics)
        with tempfile.TemporaryDirectory(prefix="pot-mlflow-") as scratch:
            path = _local_copy(self.client, source, Path(scratch))
            digest = checkpoint_digest(path)
            record = self.recorder.record(
                TrainingCheckpoint, self.model_id, model_hash=digest, epoch=epoch, metrics=dict(metrics),
                fingerprint_hash=None, validation_hash=None, step=step, file_sha256=digest,
                file_name=name or path.name)
        assert isinstance(record, TrainingCheckpoint)
        return digest

    # --- the end ----------------------------------------------------------------------------------------------

    def finish(self, error: str | None = None) -> ProvenanceProof | None:
        """Record the rest of the run, end the pot run (failed, with ``error``), make the proof and attach it to
        the MLflow run with its tags; returns the proof (None with a disabled recorder). Called on leaving the
        ``with`` block; once."""
        if self._finished:
            return self.proof
        self._finished = True
        try:
            if not self.enabled:
                return None
            try:
                _flush_async_logging()
                self._sync(final=True)
                self._record_late_params()
            except BaseException as exc:  # the pot run still ends, as failed, with what was recorded signed
                self._end_run(error or f"{type(exc).__name__}: {exc}")
                raise
            self._end_run(error)
            self.proof, self.proof_artifact = attach_proof(self.client, self.run_id, self.recorder, self.model_id,
                                                           pot_run_id=self.pot_run_id)
            return self.proof
        finally:
            if self._owns_recorder:
                self.recorder.close()

    def _end_run(self, error: str | None) -> None:
        run, self.run = self.run, None
        if run is None:  # never started, or the caller's run: the caller ends it
            return
        if error is None:
            run.complete()
        else:
            run.fail(error)

    def _record_late_params(self) -> None:
        late = self._late_params()
        if late is None or self.pot_run_id is None:
            return
        with tempfile.TemporaryDirectory(prefix="pot-mlflow-") as scratch:
            path = Path(scratch) / PARAMS_FILE
            path.write_bytes(canonical_json(late))
            # The pot run may be the caller's, which this tracker holds no Run object of; a Run names it.
            Run(self.recorder, self.pot_run_id, self.model_id, "train").log_artifact(path)
            self.client.log_artifact(self.run_id, str(path), PROOF_DIRECTORY)

    def _late_params(self) -> dict[str, str] | None:
        """Every parameter of the run, when some of them are not in the pot run's configuration (logged after it
        started, or the run joined was the caller's); None when the configuration holds them all."""
        params = {str(k): str(v) for k, v in self._mlflow_run().data.params.items()}
        configured = self._configured or {}
        if all(configured.get(k) == v for k, v in params.items()):
            return None
        return params

    def __enter__(self) -> MlflowTracker:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        if kind is None:
            self.finish()
            return
        try:
            self.finish(f"{kind.__name__}: {value}")
        except Exception as exc:  # the block's own exception is the one to see; this one is said once
            log.warning("the failed MLflow run %s could not be attached its pot proof: %s", self.run_id, exc)


def attach_proof(client: MlflowClient, run_id: str, recorder: ProvenanceRecorder, model_id: str, *,
                 pot_run_id: str | None = None) -> tuple[ProvenanceProof | None, str | None]:
    """Make the proof of ``model_id`` now and attach it to the MLflow run ``run_id``: the artifact
    ``pot/<model id>.proof.json`` (replaced if there is one) and the tags of :func:`proof_tags`. Returns the proof
    and its artifact path; (None, None) with a disabled recorder. The tracker does this when its block ends; call
    it again after a promotion to attach a proof that holds the decision."""
    proof = recorder.generate_proof_of_training(model_id)
    if proof is None:
        return None, None
    with tempfile.TemporaryDirectory(prefix="pot-mlflow-") as scratch:
        path = Path(scratch) / f"{_file_name(model_id)}.proof.json"
        proof.save(path)
        client.log_artifact(run_id, str(path), PROOF_DIRECTORY)
    artifact = f"{PROOF_DIRECTORY}/{path.name}"
    for key, value in proof_tags(proof, artifact, pot_run_id).items():
        client.set_tag(run_id, key, value)
    return proof, artifact


def proof_tags(proof: ProvenanceProof, artifact: str, pot_run_id: str | None = None) -> dict[str, str]:
    """The MLflow run tags that point at a proof: ``pot.model_id``, ``pot.log_root`` (the root of the newest signed
    head), ``pot.log_size``, ``pot.key_id``, ``pot.public_key``, ``pot.proof`` (the artifact), ``pot.run_id`` (the
    pot run), ``pot.final_model_hash`` when the log has a checkpoint, and ``pot.anchor_tx``, the newest chain anchor
    transaction, when a chain anchor covers the log (none when it is anchored on the local chain only)."""
    head = proof.latest_head
    tags = {"model_id": proof.model_id, "log_root": proof.merkle_root, "log_size": str(head.tree_size if head else 0),
            "key_id": proof.signer.key_id, "public_key": proof.signer.hex, "proof": artifact}
    if pot_run_id is not None:
        tags["run_id"] = pot_run_id
    if proof.final_model_hash is not None:
        tags["final_model_hash"] = proof.final_model_hash
    if proof.blockchain_transactions:
        tags["anchor_tx"] = proof.blockchain_transactions[-1]  # the newest anchored root covers every record before
    return {TAG_PREFIX + key: value for key, value in tags.items()}


# --- the model registry ---------------------------------------------------------------------------------------------


def model_version_digest(client: MlflowClient, name: str, version: str | int) -> str:
    """The pot model hash of a registered model version: the ``pot.file-set.v1`` digest of its files as MLflow
    serves them (see the module docstring)."""
    try:
        uri = client.get_model_version_download_uri(name, str(version))
    except MlflowException as exc:
        raise UsageError(f"no model version {name!r} {version}: {exc.message}") from None
    with tempfile.TemporaryDirectory(prefix="pot-mlflow-") as scratch:
        return checkpoint_digest(_local_copy(client, uri, Path(scratch)))


def promote_alias(client: MlflowClient, recorder: ProvenanceRecorder, model_id: str, name: str, alias: str,
                  version: str | int, gate: Any, *, validator_id: str | None = None
                  ) -> tuple[bool, EventRecord | None]:
    """Promote version ``version`` of the registered model ``name`` to ``alias`` through pot's gate.

    pot decides first, on the newest validation in ``model_id``'s log (by ``validator_id``, if given), which must
    be of this version's model hash (:func:`model_version_digest`): it records ``ModelPromoted`` (stage ``alias``)
    or ``PromotionRefused``. Only a promotion moves the alias. The version also gets the tag ``pot.model_hash``.
    Returns (promoted, the event); ``(False, None)`` with a disabled recorder, the alias untouched.
    """
    return _promote(client, recorder, model_id, name, version, alias, gate, validator_id,
                    lambda: client.set_registered_model_alias(name, alias, str(version)))


def promote_stage(client: MlflowClient, recorder: ProvenanceRecorder, model_id: str, name: str,
                  version: str | int, stage: str, gate: Any, *, validator_id: str | None = None,
                  archive_existing_versions: bool = False) -> tuple[bool, EventRecord | None]:
    """:func:`promote_alias` for MLflow's registry stages (``Staging``, ``Production``; deprecated by MLflow in
    favour of aliases): the version moves to ``stage`` only when pot's gate passes."""
    return _promote(client, recorder, model_id, name, version, stage, gate, validator_id,
                    lambda: client.transition_model_version_stage(
                        name, str(version), stage, archive_existing_versions=archive_existing_versions))


def rollback_alias(client: MlflowClient, recorder: ProvenanceRecorder, model_id: str, name: str, alias: str,
                   version: str | int, reason: str) -> EventRecord | None:
    """Point ``alias`` back at ``version``, which pot must have promoted to ``alias`` before: records
    ``ModelRolledBack`` (a :class:`UsageError`, and the alias untouched, when it was never promoted), then moves
    the alias. None with a disabled recorder, the alias untouched."""
    if not recorder.config.enabled:
        return None
    digest = model_version_digest(client, name, version)
    event = recorder.rollback(model_id, alias, digest, reason)
    client.set_registered_model_alias(name, alias, str(version))
    return event


def _promote(client: MlflowClient, recorder: ProvenanceRecorder, model_id: str, name: str, version: str | int,
             stage: str, gate: Any, validator_id: str | None, move: Any) -> tuple[bool, EventRecord | None]:
    if not recorder.config.enabled:
        return False, None
    digest = model_version_digest(client, name, version)
    recorder.store.require_model(model_id)
    latest = None
    for record in recorder.store.records(model_id):
        if isinstance(record, ValidationRecord) and validator_id in (None, record.validator_id):
            latest = record
    if latest is None:
        raise UsageError(f"no validation of {model_id!r}" + (f" by {validator_id!r}" if validator_id else "")
                         + f" to promote {name!r} version {version} on")
    if latest.model_hash != digest:
        # recorder.promote decides on the newest validation; one of other weights must not promote this version
        raise UsageError(f"the newest validation of {model_id!r} (by {latest.validator_id!r}) is of model hash "
                         f"{latest.model_hash[:16]}..., not of {name!r} version {version} ({digest[:16]}..., the "
                         "digest of its files): record a validation of this version first")
    client.set_model_version_tag(name, str(version), TAG_PREFIX + "model_hash", digest)
    promoted, event = recorder.promote(model_id, stage, gate, validator_id=validator_id)
    if promoted:
        move()
    return promoted, event


# --- helpers --------------------------------------------------------------------------------------------------------


def _local_copy(client: MlflowClient, source: str | Path, scratch: Path) -> Path:
    """``source`` as a local path: itself when it is a path (no URI scheme), else its artifacts downloaded under
    ``scratch``."""
    text = str(source)
    if isinstance(source, Path) or not _URI_SCHEME.match(text):
        path = Path(text)
        if not path.exists():
            raise UsageError(f"no such model file or directory: {path}")
        return path
    try:
        downloaded = mlflow.artifacts.download_artifacts(artifact_uri=text, dst_path=str(scratch),
                                                         tracking_uri=client.tracking_uri)
    except MlflowException as exc:
        raise UsageError(f"cannot download the model {text!r}: {exc.message}") from None
    return Path(downloaded)


_URI_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def _flush_async_logging() -> None:
    """Values logged asynchronously (``mlflow.config.enable_async_logging``) reach the store only when flushed."""
    flush = getattr(mlflow, "flush_async_logging", None)
    if flush is not None:
        flush()


def _file_name(model_id: str) -> str:
    """A model id as a file name: model ids may hold "/" (``digits-mlp/20261130T...``) and other characters a
    path cannot."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model_id).strip("._") or "model"
