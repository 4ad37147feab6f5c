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

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pot.errors import FormatError, PotError, UsageError, VerificationError
from pot.lineage.environment import config_hash, environment_hash
from pot.lineage.gates import Gate, decision_matches, evaluate
from pot.lineage.lamport import check_causal_order
from pot.log.canonical import canonical_json
from pot.log.records import (
    RECORD_FIELD_DEPTH,
    EventRecord,
    Record,
    ValidationRecord,
    check_count,
    check_hex64,
    check_name,
    check_object,
    check_positive,
    check_text,
)

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

    ``proof`` is a :class:`pot.log.proof.ProvenanceProof`; the verifier follows the reference when the parent proof
    is supplied (``pot verify --parent FILE``) and checks it verifies and holds that head.
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
    return _check_parent(parent, "parent")


def parent_run(run_id: str, relation: str = "follows") -> dict[str, Any]:
    return {"kind": "run", "id": check_name(run_id, "run id"), "relation": check_name(relation, "relation"),
            "digest": None, "proof": None}


_PARENT_KEYS = frozenset({"kind", "id", "relation", "digest", "proof"})
_REFERENCE_KEYS = frozenset({"model_id", "tree_size", "root_hash", "head_hash", "key_id"})


def _check_parent(parent: Any, where: str) -> dict[str, Any]:
    if not isinstance(parent, Mapping):
        raise FormatError(f"{where} must be an object")
    _exact_keys(parent, _PARENT_KEYS, where, optional={"path"})
    if parent["kind"] not in PARENT_KINDS:
        raise FormatError(f"{where}.kind must be one of {', '.join(PARENT_KINDS)}")
    check_name(parent["id"], f"{where}.id")
    check_name(parent["relation"], f"{where}.relation")
    if parent["digest"] is not None:
        check_name(parent["digest"], f"{where}.digest")
    if "path" in parent:
        check_name(parent["path"], f"{where}.path")
    reference = parent["proof"]
    if reference is not None:
        if not isinstance(reference, Mapping):
            raise FormatError(f"{where}.proof must be null or an object")
        _exact_keys(reference, _REFERENCE_KEYS, f"{where}.proof")
        check_name(reference["model_id"], f"{where}.proof.model_id")
        check_positive(reference["tree_size"], f"{where}.proof.tree_size")  # a signed head covers a record
        for name in ("root_hash", "head_hash", "key_id"):
            check_hex64(reference[name], f"{where}.proof.{name}")
    return dict(parent)


# --- event data: building -----------------------------------------------------------------------------------------


def run_started(kind: str, config: Mapping[str, Any], environment: Mapping[str, Any], git: Mapping[str, Any],
                user: str, parents: Sequence[Mapping[str, Any]] = (), rerun_of: str | None = None
                ) -> dict[str, Any]:
    from pot.log.canonical import to_json_value

    # config and environment sit at level 5 of a proof (document, records, record, data, config)
    normalised = to_json_value(dict(config), path="config", depth=RECORD_FIELD_DEPTH + 1)
    env = to_json_value(dict(environment), path="environment", depth=RECORD_FIELD_DEPTH + 1)
    data = {"kind": check_name(kind, "kind"), "config": normalised, "config_hash": config_hash(normalised),
            "environment": env, "environment_hash": environment_hash(env),
            "git": _recordable_git(git), "user": _recordable_text(user, "unknown"),
            "rerun_of": None if rerun_of is None else check_name(rerun_of, "rerun_of"),
            "parents": [_check_parent(p, f"parents[{i}]") for i, p in enumerate(parents)]}
    return data


def _recordable_git(git: Mapping[str, Any]) -> dict[str, Any]:
    """What the format admits of a captured git state; anything odd (a branch name with a control character,
    a commit that is no hash) is recorded as unknown rather than failing the run."""
    commit, dirty, branch = git.get("commit"), git.get("dirty"), git.get("branch")
    return {"commit": commit if isinstance(commit, str) and _COMMIT.fullmatch(commit) else None,
            "dirty": dirty if isinstance(dirty, bool) else None,
            "branch": _recordable_text(branch, None) if branch else None}


def _recordable_text(value: Any, fallback: Any) -> Any:
    try:
        return check_name(value, "text")
    except FormatError:
        return fallback


def run_completed(status: str, error: str | None = None) -> dict[str, Any]:
    if status not in RUN_STATUSES:
        raise FormatError(f"status must be one of {', '.join(RUN_STATUSES)}")
    if error is not None:
        # an exception's message, kept readable: controls become spaces, at most MAX_ERROR_LENGTH characters
        error = " ".join(_INVISIBLE_OR_SPACE.sub(" ", str(error)).split())[:MAX_ERROR_LENGTH]
    return {"status": status, "error": error}


def metric_logged(name: str, value: float, step: int | None = None) -> dict[str, Any]:
    from pot.log.canonical import to_json_value

    data = {"name": check_name(name, "metric name"), "value": to_json_value(value, path=name),
            "step": None if step is None else check_count(step, "step")}
    _check_metric_value(data["value"], "value")
    return data


def artifact_saved(name: str, sha256: str, size: int) -> dict[str, Any]:
    return {"name": check_name(name, "artifact name"), "sha256": check_hex64(sha256, "sha256"),
            "size": check_count(size, "size")}


def promotion(stage: str, model_hash: str, gate: Gate, inputs: Sequence[ValidationRecord]
              ) -> tuple[str, dict[str, Any]]:
    """The event name and data of a promotion attempt: the gate, the validations it read (all of ``model_hash``),
    and its decision."""
    if not inputs:
        raise FormatError("a promotion needs at least one validation to decide on")
    for record in inputs:
        if record.model_hash != model_hash:
            raise FormatError(f"validation {record.validation_id[:16]}... is of another model hash")
    listed = [{"validation_id": r.validation_id, "metrics": numeric_results(r.validation_result)} for r in inputs]
    decision = evaluate(gate, combined_metrics(listed))
    data = {"stage": check_name(stage, "stage"), "model_hash": check_name(model_hash, "model_hash"),
            "gate": gate.canonical(), "inputs": listed, "decision": decision.to_json()}
    return (MODEL_PROMOTED if decision.passed else PROMOTION_REFUSED), data


def rolled_back(stage: str, to_model_hash: str, from_model_hash: str | None, reason: str) -> dict[str, Any]:
    return {"stage": check_name(stage, "stage"), "to_model_hash": check_name(to_model_hash, "to_model_hash"),
            "from_model_hash": None if from_model_hash is None else check_name(from_model_hash, "from_model_hash"),
            "reason": check_name(reason, "reason")}


def promotion_decision(records: Iterable[Record], model_id: str, stage: str, gate: Gate,
                       validator_id: str | None = None) -> tuple[str, dict[str, Any]]:
    """The event that promoting ``model_id`` to ``stage`` records, given its log ``records`` (in order): the gate
    judged on the latest validation (by ``validator_id``, if given). UsageError when there is none to judge. Shared
    by the recorder (``pot promote``) and the server (``POST /v1/models/{id}/promote``), so both decide alike."""
    validation = None
    for record in records:
        if isinstance(record, ValidationRecord) and validator_id in (None, record.validator_id):
            validation = record
    if validation is None:
        raise UsageError(f"no validation of {model_id!r}" + (f" by {validator_id!r}" if validator_id else "")
                         + " to promote on")
    return promotion(stage, validation.model_hash, gate, [validation])


def rollback_decision(records: Iterable[Record], model_id: str, stage: str, to_model_hash: str, reason: str
                      ) -> tuple[str, dict[str, Any]]:
    """The event that rolling ``stage`` of ``model_id`` back to ``to_model_hash`` records, given its log
    ``records``: UsageError unless that hash was promoted to the stage before. Shared by the recorder and the
    server."""
    promoted = [r for r in records if isinstance(r, EventRecord) and r.event == MODEL_PROMOTED
                and r.data.get("stage") == stage]
    if to_model_hash not in {r.data.get("model_hash") for r in promoted}:
        raise UsageError(f"{to_model_hash!r} was never promoted to {stage!r} for {model_id!r}; nothing recorded")
    current = promoted[-1].data.get("model_hash") if promoted else None
    return MODEL_ROLLED_BACK, rolled_back(stage, to_model_hash, current, reason)


def numeric_results(values: Mapping[str, Any]) -> dict[str, Any]:
    """The gate-readable entries of a validation result: its top-level members whose value is a number, or one of
    the strings standing for a non-finite float; booleans and everything else are not results a gate reads."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float) or value in NON_FINITE:
            out[key] = value
    return out


def combined_metrics(inputs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The metrics a gate reads from several inputs: merged in the order listed, a later value for a name
    replacing an earlier one."""
    metrics: dict[str, Any] = {}
    for item in inputs:
        metrics.update(item["metrics"])
    return metrics


# --- event data: the format's schema ------------------------------------------------------------------------------

NON_FINITE = ("NaN", "Infinity", "-Infinity")
MAX_ERROR_LENGTH = 2000
RUN_EVENTS = frozenset({RUN_STARTED, RUN_COMPLETED, METRIC_LOGGED, ARTIFACT_SAVED})
MODEL_EVENTS = frozenset({MODEL_PROMOTED, PROMOTION_REFUSED, MODEL_ROLLED_BACK})
_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_INVISIBLE_OR_SPACE = re.compile("[\\s\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e"
                                 "\u2060-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff\U000e0000-\U000e007f]")
_DATA_DEPTH = RECORD_FIELD_DEPTH + 1  # the level of a member of data in a proof
_KEYS: Mapping[str, frozenset[str]] = {
    RUN_STARTED: frozenset({"kind", "config", "config_hash", "environment", "environment_hash", "git", "user",
                            "rerun_of", "parents"}),
    RUN_COMPLETED: frozenset({"status", "error"}),
    METRIC_LOGGED: frozenset({"name", "value", "step"}),
    ARTIFACT_SAVED: frozenset({"name", "sha256", "size"}),
    MODEL_PROMOTED: frozenset({"stage", "model_hash", "gate", "inputs", "decision"}),
    PROMOTION_REFUSED: frozenset({"stage", "model_hash", "gate", "inputs", "decision"}),
    MODEL_ROLLED_BACK: frozenset({"stage", "to_model_hash", "from_model_hash", "reason"}),
}


def check_event_data(event: str, data: Mapping[str, Any], *, run_id: str | None, node_id: str | None,
                     lamport: int | None) -> None:
    """The format's rule for an event record (docs/PROOF_FORMAT.md section 3, "Event"): ``data`` holds exactly
    the event's keys (plus ``merged_from`` on a stamped record), each of its type; run events carry a ``run_id``
    and model events none. Raises :class:`FormatError` naming the first field that is off. What the data must
    agree with elsewhere in the log (hashes, earlier validations, promotions) is :func:`check_events`' business.
    """
    if event in RUN_EVENTS and run_id is None:
        raise FormatError(f"a {event} event needs a run_id")
    if event in MODEL_EVENTS and run_id is not None:
        raise FormatError(f"a {event} event belongs to a model, not to a run: it has no run_id")
    optional: set[str] = set()
    if "merged_from" in data:
        if node_id is None or lamport is None:
            raise FormatError("data.merged_from needs the record's node_id and lamport")
        merged = data["merged_from"]
        if not isinstance(merged, Mapping):
            raise FormatError("data.merged_from must be an object")
        _exact_keys(merged, frozenset({"node_id", "lamport"}), "data.merged_from")
        check_name(merged["node_id"], "data.merged_from.node_id")
        check_positive(merged["lamport"], "data.merged_from.lamport")
        optional.add("merged_from")
    _exact_keys(data, _KEYS[event], "data", optional=optional)
    if event == RUN_STARTED:
        check_name(data["kind"], "data.kind")
        check_object(data["config"], "data.config", _DATA_DEPTH)
        check_hex64(data["config_hash"], "data.config_hash")
        check_object(data["environment"], "data.environment", _DATA_DEPTH)
        check_hex64(data["environment_hash"], "data.environment_hash")
        git = data["git"]
        if not isinstance(git, Mapping):
            raise FormatError("data.git must be an object")
        _exact_keys(git, frozenset({"commit", "dirty", "branch"}), "data.git")
        if git["commit"] is not None and not (isinstance(git["commit"], str) and _COMMIT.fullmatch(git["commit"])):
            raise FormatError("data.git.commit must be null or 40 or 64 lower-case hex digits")
        if git["dirty"] is not None and not isinstance(git["dirty"], bool):
            raise FormatError("data.git.dirty must be null, true or false")
        if git["branch"] is not None:
            check_name(git["branch"], "data.git.branch")
        check_text(data["user"], "data.user")
        if data["rerun_of"] is not None:
            check_name(data["rerun_of"], "data.rerun_of")
        if not isinstance(data["parents"], list):
            raise FormatError("data.parents must be an array")
        for i, parent in enumerate(data["parents"]):
            _check_parent(parent, f"data.parents[{i}]")
    elif event == RUN_COMPLETED:
        if data["status"] not in RUN_STATUSES:
            raise FormatError(f"data.status must be one of {', '.join(RUN_STATUSES)}")
        if data["error"] is not None:
            check_text(data["error"], "data.error", MAX_ERROR_LENGTH)
    elif event == METRIC_LOGGED:
        check_name(data["name"], "data.name")
        _check_metric_value(data["value"], "data.value")
        if data["step"] is not None:
            check_count(data["step"], "data.step")
    elif event == ARTIFACT_SAVED:
        check_name(data["name"], "data.name")
        check_hex64(data["sha256"], "data.sha256")
        check_count(data["size"], "data.size")
    elif event in (MODEL_PROMOTED, PROMOTION_REFUSED):
        check_name(data["stage"], "data.stage")
        check_name(data["model_hash"], "data.model_hash")
        _check_gate(data["gate"])
        _check_inputs(data["inputs"])
        if not isinstance(data["decision"], Mapping):
            raise FormatError("data.decision must be an object")
    else:  # MODEL_ROLLED_BACK
        check_name(data["stage"], "data.stage")
        check_name(data["to_model_hash"], "data.to_model_hash")
        if data["from_model_hash"] is not None:
            check_name(data["from_model_hash"], "data.from_model_hash")
        check_name(data["reason"], "data.reason")


def _exact_keys(value: Mapping[str, Any], required: frozenset[str], where: str,
                optional: frozenset[str] | set[str] = frozenset()) -> None:
    keys = set(value)
    missing = sorted(required - keys)
    unknown = sorted(keys - required - set(optional))
    if missing or unknown:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unknown {', '.join(_short(k) for k in unknown)}"] if unknown else [])
        raise FormatError(f"{where} must hold exactly {', '.join(sorted(required))}: {'; '.join(parts)}")


def _short(key: str) -> str:
    return repr(key) if len(key) <= 40 else repr(key[:30] + "...")


def _check_metric_value(value: Any, where: str) -> None:
    if isinstance(value, bool) or not (isinstance(value, int | float) or value in NON_FINITE):
        raise FormatError(f"{where} must be a number (or \"NaN\", \"Infinity\", \"-Infinity\")")


def _check_gate(value: Any) -> None:
    """A recorded gate is a valid gate written in its canonical form (pot.lineage.gates.Gate.canonical)."""
    if not isinstance(value, Mapping):
        raise FormatError("data.gate must be an object")
    gate = Gate.from_json(value)
    if canonical_json(gate.canonical()) != canonical_json(dict(value)):
        raise FormatError("data.gate is not written in its canonical form")


def _check_inputs(value: Any) -> None:
    if not isinstance(value, list) or not value:
        raise FormatError("data.inputs must be a non-empty array of validations")
    seen: set[str] = set()
    for i, item in enumerate(value):
        where = f"data.inputs[{i}]"
        if not isinstance(item, Mapping):
            raise FormatError(f"{where} must be an object")
        _exact_keys(item, frozenset({"validation_id", "metrics"}), where)
        check_hex64(item["validation_id"], f"{where}.validation_id")
        if item["validation_id"] in seen:
            raise FormatError(f"{where} names the same validation twice")
        seen.add(item["validation_id"])
        metrics = item["metrics"]
        if not isinstance(metrics, Mapping):
            raise FormatError(f"{where}.metrics must be an object")
        for key, metric in metrics.items():
            _check_metric_value(metric, f"{where}.metrics.{_short(key)}")


# --- verification -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Stamp:
    """What pot.lineage.lamport.check_causal_order reads of a record."""

    seq: int
    node_id: str
    lamport: int
    data: Mapping[str, Any]


def check_events(records: Sequence[Record], *, complete: bool) -> str:
    """Check the lineage events of a proof's records (see the module docstring); each event's data already has
    its shape (:func:`check_event_data` runs when a record is read). Returns a one-line summary.

    Every proof: the Lamport stamps agree with the log's order, and each promotion decision is what its gate gives
    on the metrics it lists (the event alone holds both). ``complete`` (a full proof) adds the rules that need the
    whole log: runs start once, before their records, and end last; a promotion's inputs are earlier validations of
    the promoted model hash with those values; a rollback returns to a model hash promoted to that stage before.
    """
    stamps: list[Any] = [_Stamp(r.seq, r.node_id, r.lamport, getattr(r, "data", {}))
                         for r in records if r.lamport is not None and r.node_id is not None]
    try:
        check_causal_order(stamps)  # reads only seq, node_id, lamport and data, which _Stamp has
    except VerificationError as exc:
        raise LineageError(str(exc)) from None
    events = [r for r in records if isinstance(r, EventRecord)]
    disclosed: dict[str, Record] = {r.record_id: r for r in records}
    decisions = 0
    for event in events:
        if event.event in (MODEL_PROMOTED, PROMOTION_REFUSED):
            where = f"event seq {event.seq} ({event.event})"
            _check_decision(event, where)
            # An input the proof discloses must be what it claims, in a partial proof too; in a full proof every
            # input is disclosed (checked below).
            _check_inputs_in_log(event, disclosed, where, every=complete)
            decisions += 1
    if not complete:
        return (f"{len(events)} event(s) disclosed, {decisions} promotion decision(s) re-derived; causal order "
                "holds")
    started: set[str] = set()
    completed: set[str] = set()
    promoted: dict[str, set[str]] = {}
    for record in records:
        run_id = record.run_id
        if run_id is not None and run_id in completed:
            raise LineageError(f"record seq {record.seq} belongs to run {run_id!r} after the run completed")
        if not isinstance(record, EventRecord):
            if run_id is not None and run_id not in started:
                raise LineageError(f"record seq {record.seq} belongs to run {run_id!r}, which has not started")
            continue
        where = f"event seq {record.seq} ({record.event})"
        data = record.data
        if record.event == RUN_STARTED:
            assert run_id is not None  # check_event_data: run events carry a run_id
            if run_id in started:
                raise LineageError(f"{where}: run {run_id!r} starts twice")
            if data["config_hash"] != config_hash(data["config"]):
                raise LineageError(f"{where}: config_hash is not the hash of the config it records")
            if data["environment_hash"] != environment_hash(data["environment"]):
                raise LineageError(f"{where}: environment_hash is not the hash of the environment it records")
            started.add(run_id)
        elif record.event in (MODEL_PROMOTED, PROMOTION_REFUSED):
            if record.event == MODEL_PROMOTED:
                promoted.setdefault(data["stage"], set()).add(data["model_hash"])
        elif record.event == MODEL_ROLLED_BACK:
            if data["to_model_hash"] not in promoted.get(data["stage"], set()):
                raise LineageError(f"{where}: rolls back to {data['to_model_hash']!r}, which was never promoted to "
                                   f"stage {data['stage']!r} in this log")
        else:
            if run_id is None or run_id not in started:
                raise LineageError(f"{where}: run {run_id!r} has not started")
            if record.event == RUN_COMPLETED:
                completed.add(run_id)
    return (f"{len(events)} event(s): {len(started)} run(s), {decisions} promotion decision(s) re-derived; "
            "causal order holds")


def _check_decision(record: EventRecord, where: str) -> None:
    """The recorded decision is exactly what the gate gives on the inputs' combined metrics, and the event's type
    says what the decision says."""
    data = record.data
    gate = Gate.from_json(data["gate"])
    metrics = combined_metrics(data["inputs"])
    try:
        matches = decision_matches(gate, metrics, data["decision"])
    except PotError as exc:
        raise LineageError(f"{where}: {exc}") from None
    if not matches:
        raise LineageError(f"{where}: the recorded decision is not what the gate gives on its inputs")
    passed = evaluate(gate, metrics).passed
    if passed != (record.event == MODEL_PROMOTED):
        raise LineageError(f"{where}: a gate that {'passed' if passed else 'failed'} is recorded as {record.event}")


def _check_inputs_in_log(record: EventRecord, disclosed: Mapping[str, Record], where: str, *, every: bool) -> None:
    """Each input names a validation earlier in this log, of the model hash promoted, with those numeric results.
    ``every``: every input must be among the ``disclosed`` records (a full proof); else only those that are."""
    data = record.data
    for item in data["inputs"]:
        validation = disclosed.get(item["validation_id"])
        if validation is None and not every:
            continue
        if not isinstance(validation, ValidationRecord) or validation.seq > record.seq:
            raise LineageError(f"{where}: input {item['validation_id'][:16]}... is not a validation recorded "
                               "before it in this log")
        if validation.model_hash != data["model_hash"]:
            raise LineageError(f"{where}: input {item['validation_id'][:16]}... validates model hash "
                               f"{validation.model_hash[:16]}..., not the promoted {data['model_hash'][:16]}...")
        if canonical_json(item["metrics"]) != canonical_json(numeric_results(validation.validation_result)):
            raise LineageError(f"{where}: input {item['validation_id'][:16]}... does not carry that validation's "
                               "numeric results")


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
