"""Lineage events: the data each event record carries, built by the recorder and checked by the verifier.

Event records (``"type": "event"``, pot.log.records.EventRecord) live in the same Merkle log as checkpoints and
validations, so a run's configuration, environment, parents, metrics, artifacts, promotions and rollbacks are
signed and anchored with the training they describe. This module is the one place that says what each event's
``data`` holds (docs/PROOF_FORMAT.md, "Events"); the recorder builds it here and the verifier checks it here.

What the verifier re-derives from a full proof (:func:`check_events`):

- a ``RunStarted``'s ``config_hash`` and ``environment_hash`` are the hashes of the config and environment it
  carries; each run starts once, before any other record of the run, and completes at most once, last;
- a promotion decision (``ModelPromoted`` or ``PromotionRefused``) is what its gate gives on its inputs, which are
  validation records earlier in the same log with the same values: a refused gate cannot be recorded as passed;
- a rollback goes back to a model hash that was promoted to that stage earlier in the log;
- the Lamport stamps agree with the log's order (pot.lineage.lamport.check_causal_order).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pot.errors import FormatError, PotError, VerificationError
from pot.lineage.environment import config_hash, environment_hash
from pot.lineage.gates import Gate, decision_matches, evaluate
from pot.lineage.lamport import check_causal_order
from pot.log.records import EventRecord, Record, ValidationRecord, check_count, check_hex64, check_name

RUN_STARTED = "RunStarted"
RUN_COMPLETED = "RunCompleted"
METRIC_LOGGED = "MetricLogged"
ARTIFACT_SAVED = "ArtifactSaved"
MODEL_PROMOTED = "ModelPromoted"
PROMOTION_REFUSED = "PromotionRefused"
MODEL_ROLLED_BACK = "ModelRolledBack"

PARENT_KINDS = ("run", "model", "dataset", "artifact")
RUN_STATUSES = ("completed", "failed")


class LineageError(VerificationError):
    """A lineage event contradicts the log it is in."""

    check = "lineage"


# --- parents ------------------------------------------------------------------------------------------------------


def parent_model(proof: Any, relation: str = "fine_tuned_from") -> dict[str, Any]:
    """A parent reference to another model's proof, by its latest signed head (its anchored root).

    ``proof`` is a :class:`pot.log.proof.ProvenanceProof`; the verifier follows the reference when the parent proof is
    supplied (``pot verify --parent FILE``) and checks it verifies and holds that head.
    """
    head = proof.latest_head
    if head is None:
        raise FormatError("the parent proof has no signed tree head")
    return {"kind": "model", "id": proof.model_id, "relation": check_name(relation, "relation"),
            "digest": proof.final_model_hash,
            "proof": {"model_id": head.model_id, "tree_size": head.tree_size, "root_hash": head.root_hash,
                      "head_hash": head.head_hash, "key_id": head.key_id}}


def parent_dataset(dataset_id: str, digest: str | None = None, relation: str = "trained_on",
                   path: str | None = None) -> dict[str, Any]:
    """A dataset a run read, named and (best) given by digest; ``path`` lets ``pot runs reproducible`` find it."""
    parent: dict[str, Any] = {"kind": "dataset", "id": check_name(dataset_id, "dataset id"),
                              "relation": check_name(relation, "relation"), "digest": digest, "proof": None}
    if path is not None:
        parent["path"] = check_name(path, "path")
    return parent


def parent_run(run_id: str, relation: str = "follows") -> dict[str, Any]:
    return {"kind": "run", "id": check_name(run_id, "run id"), "relation": check_name(relation, "relation"),
            "digest": None, "proof": None}


def _check_parent(parent: Any, where: str) -> dict[str, Any]:
    if not isinstance(parent, Mapping):
        raise FormatError(f"{where} must be an object")
    allowed = {"kind", "id", "relation", "digest", "proof", "path"}
    if not {"kind", "id", "relation", "digest", "proof"} <= set(parent) <= allowed:
        raise FormatError(f"{where} must have kind, id, relation, digest and proof (and optionally path)")
    if parent["kind"] not in PARENT_KINDS:
        raise FormatError(f"{where}.kind must be one of {', '.join(PARENT_KINDS)}")
    check_name(parent["id"], f"{where}.id")
    check_name(parent["relation"], f"{where}.relation")
    if parent["digest"] is not None:
        check_name(parent["digest"], f"{where}.digest")
    reference = parent["proof"]
    if reference is not None:
        if not isinstance(reference, Mapping) or set(reference) != {"model_id", "tree_size", "root_hash",
                                                                     "head_hash", "key_id"}:
            raise FormatError(f"{where}.proof must name model_id, tree_size, root_hash, head_hash and key_id")
        check_name(reference["model_id"], f"{where}.proof.model_id")
        check_count(reference["tree_size"], f"{where}.proof.tree_size")
        for name in ("root_hash", "head_hash", "key_id"):
            check_hex64(reference[name], f"{where}.proof.{name}")
    return dict(parent)


# --- event data ---------------------------------------------------------------------------------------------------


def run_started(kind: str, config: Mapping[str, Any], environment: Mapping[str, Any], git: Mapping[str, Any],
                user: str, parents: Sequence[Mapping[str, Any]] = (), rerun_of: str | None = None
                ) -> dict[str, Any]:
    from pot.log.canonical import to_json_value

    normalised = to_json_value(dict(config), path="config")
    env = to_json_value(dict(environment), path="environment")
    data = {"kind": check_name(kind, "kind"), "config": normalised, "config_hash": config_hash(normalised),
            "environment": env, "environment_hash": environment_hash(env),
            "git": {"commit": git.get("commit"), "dirty": git.get("dirty"), "branch": git.get("branch")},
            "user": user, "rerun_of": rerun_of,
            "parents": [_check_parent(p, f"parents[{i}]") for i, p in enumerate(parents)]}
    return data


def run_completed(status: str, error: str | None = None) -> dict[str, Any]:
    if status not in RUN_STATUSES:
        raise FormatError(f"status must be one of {', '.join(RUN_STATUSES)}")
    return {"status": status, "error": None if error is None else str(error)[:2000]}


def metric_logged(name: str, value: float, step: int | None = None) -> dict[str, Any]:
    from pot.log.canonical import to_json_value

    return {"name": check_name(name, "metric name"), "value": to_json_value(value, path=name),
            "step": None if step is None else check_count(step, "step")}


def artifact_saved(name: str, sha256: str, size: int) -> dict[str, Any]:
    return {"name": check_name(name, "artifact name"), "sha256": check_hex64(sha256, "sha256"),
            "size": check_count(size, "size")}


def promotion(stage: str, model_hash: str, gate: Gate, inputs: Sequence[ValidationRecord]
              ) -> tuple[str, dict[str, Any]]:
    """The event name and data of a promotion attempt: the gate, the validations it read, and its decision."""
    metrics: dict[str, Any] = {}
    for record in inputs:
        metrics.update(_numeric(record.validation_result))
    decision = evaluate(gate, metrics)
    data = {"stage": check_name(stage, "stage"), "model_hash": check_name(model_hash, "model_hash"),
            "gate": gate.canonical(),
            "inputs": [{"validation_id": r.validation_id, "metrics": _numeric(r.validation_result)} for r in inputs],
            "decision": decision.to_json()}
    return (MODEL_PROMOTED if decision.passed else PROMOTION_REFUSED), data


def rolled_back(stage: str, to_model_hash: str, from_model_hash: str | None, reason: str) -> dict[str, Any]:
    return {"stage": check_name(stage, "stage"), "to_model_hash": check_name(to_model_hash, "to_model_hash"),
            "from_model_hash": from_model_hash, "reason": check_name(reason, "reason")}


def _numeric(values: Mapping[str, Any]) -> dict[str, Any]:
    """The gate-readable entries of a validation result: numbers (and the strings standing for NaN/inf)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float) or value in ("NaN", "Infinity", "-Infinity"):
            out[key] = value
    return out


# --- verification -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Stamp:
    """What pot.lineage.lamport.check_causal_order reads of a record."""

    seq: int
    node_id: str
    lamport: int
    data: Mapping[str, Any]


def check_events(records: Sequence[Record], *, complete: bool) -> str:
    """Check the lineage events of a proof's records (see the module docstring). ``complete``: a full proof, so
    cross-record rules apply (a partial proof is checked for causal order only). Returns a one-line summary."""
    stamps: list[Any] = [_Stamp(r.seq, r.node_id, r.lamport, getattr(r, "data", {}))
                         for r in records if r.lamport is not None and r.node_id is not None]
    try:
        check_causal_order(stamps)  # reads only seq, node_id, lamport and data, which _Stamp has
    except VerificationError as exc:
        raise LineageError(str(exc)) from None
    events = [r for r in records if isinstance(r, EventRecord)]
    if not complete:
        return f"{len(events)} event(s) disclosed; causal order holds"
    started: dict[str, int] = {}
    completed: dict[str, int] = {}
    validations = {r.validation_id: r for r in records if isinstance(r, ValidationRecord)}
    promoted: dict[str, set[str]] = {}
    decisions = 0
    for record in records:
        run_id = record.run_id
        if run_id is not None and run_id in completed:
            raise LineageError(f"record seq {record.seq} belongs to run {run_id!r} after the run completed")
        if not isinstance(record, EventRecord):
            if run_id is not None and run_id not in started:
                raise LineageError(f"record seq {record.seq} belongs to run {run_id!r}, which has not started")
            continue
        where = f"event seq {record.seq} ({record.event})"
        try:
            if record.event == RUN_STARTED:
                if record.run_id is None:
                    raise LineageError(f"{where}: a run's events need a run_id")
                if record.run_id in started:
                    raise LineageError(f"{where}: run {record.run_id!r} starts twice")
                _check_run_started(record.data, where)
                started[record.run_id] = record.seq
            elif record.event in (MODEL_PROMOTED, PROMOTION_REFUSED):
                _check_promotion(record, validations, where)
                decisions += 1
                if record.event == MODEL_PROMOTED:
                    promoted.setdefault(record.data["stage"], set()).add(record.data["model_hash"])
            elif record.event == MODEL_ROLLED_BACK:
                target = record.data.get("to_model_hash")
                if target not in promoted.get(str(record.data.get("stage")), set()):
                    raise LineageError(f"{where}: rolls back to {target!r}, which was never promoted to stage "
                                       f"{record.data.get('stage')!r} in this log")
            else:
                if record.run_id is None or record.run_id not in started:
                    raise LineageError(f"{where}: run {record.run_id!r} has not started")
                if record.event == RUN_COMPLETED:
                    run_completed(str(record.data.get("status")), record.data.get("error"))  # shape
                    completed[record.run_id] = record.seq
        except LineageError:
            raise
        except PotError as exc:
            raise LineageError(f"{where}: {exc}") from None
    return (f"{len(events)} event(s): {len(started)} run(s), {decisions} promotion decision(s) re-derived; "
            "causal order holds")


def _check_run_started(data: Mapping[str, Any], where: str) -> None:
    required = {"kind", "config", "config_hash", "environment", "environment_hash", "git", "user", "rerun_of",
                "parents"}
    if set(data) - {"merged_from"} != required:
        raise LineageError(f"{where}: data must hold exactly {', '.join(sorted(required))}")
    if data["config_hash"] != config_hash(data["config"]):
        raise LineageError(f"{where}: config_hash is not the hash of the config it records")
    if data["environment_hash"] != environment_hash(data["environment"]):
        raise LineageError(f"{where}: environment_hash is not the hash of the environment it records")
    if not isinstance(data["parents"], list):
        raise LineageError(f"{where}: parents must be a list")
    for i, parent in enumerate(data["parents"]):
        _check_parent(parent, f"parents[{i}]")


def _check_promotion(record: EventRecord, validations: Mapping[str, ValidationRecord], where: str) -> None:
    data = record.data
    if set(data) - {"merged_from"} != {"stage", "model_hash", "gate", "inputs", "decision"}:
        raise LineageError(f"{where}: data must hold stage, model_hash, gate, inputs and decision")
    gate = Gate.from_json(data["gate"])
    metrics: dict[str, Any] = {}
    if not isinstance(data["inputs"], list):
        raise LineageError(f"{where}: inputs must be a list")
    for item in data["inputs"]:
        validation = validations.get(str(item.get("validation_id"))) if isinstance(item, Mapping) else None
        if validation is None or validation.seq > record.seq:
            raise LineageError(f"{where}: input {item!r} is not a validation recorded before it")
        if item["metrics"] != _numeric(validation.validation_result):
            raise LineageError(f"{where}: input {validation.validation_id[:16]}... does not carry that "
                               "validation's values")
        metrics.update(item["metrics"])
    if not decision_matches(gate, metrics, data["decision"]):
        raise LineageError(f"{where}: the recorded decision is not what the gate gives on its inputs")
    passed = evaluate(gate, metrics).passed
    if passed != (record.event == MODEL_PROMOTED):
        raise LineageError(f"{where}: a gate that {'passed' if passed else 'failed'} is recorded as {record.event}")


def parent_references(records: Iterable[Record]) -> list[tuple[int, dict[str, Any]]]:
    """(seq, reference) of every parent proof a RunStarted of these records names."""
    out = []
    for record in records:
        if isinstance(record, EventRecord) and record.event == RUN_STARTED:
            parents = record.data.get("parents")
            for parent in parents if isinstance(parents, list) else []:
                # only well-formed references are followed; the lineage check reports the others
                if isinstance(parent, Mapping) and isinstance(parent.get("proof"), Mapping):
                    try:
                        out.append((record.seq, _check_parent(parent, "parent")))
                    except FormatError:
                        continue
    return out


def check_reference(proof: Any, reference: Mapping[str, Any]) -> tuple[bool, str]:
    """Does ``proof`` (already verified) hold the head a parent reference names, signed by the named key?"""
    if proof.signer.key_id != reference["key_id"]:
        return False, f"the proof of {reference['model_id']!r} is signed by another key"
    for entry in proof.tree_heads:
        head = entry.head
        if (head.tree_size, head.root_hash, head.head_hash) == (reference["tree_size"], reference["root_hash"],
                                                                reference["head_hash"]):
            return True, f"its proof verifies and holds the referenced head (size {head.tree_size})"
    return False, f"the proof of {reference['model_id']!r} has no head of size {reference['tree_size']} with that root"
