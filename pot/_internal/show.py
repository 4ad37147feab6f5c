"""What a proof says, for a person (``pot show``): the model, its runs (configuration, environment, commit), metrics
per epoch, validations, promotion decisions and anchors.

:func:`summary` gives the data (``pot show --json``, docs/schemas/show.schema.json) and :func:`page` the text. Neither
verifies anything: the caller hands them a proof together with the report of a verification that passed, and
neither is ever called on a proof that failed (the CLI prints the failed report instead). The times come from that
report's per-head statuses in the verifier's own words (pot._internal.render.head_lines), never from the receipts:
a chain receipt's block time is listed only as what the signer claims.

Everything in a proof is the signer's text: the page escapes each value it prints (pot._internal.render.safe), so a
config string holding a newline or a terminal escape cannot add a line or rewrite the screen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pot._internal.render import cell, head_lines, long_table, safe, table
from pot.lineage.compare import flatten
from pot.lineage.events import (
    ARTIFACT_SAVED,
    METRIC_LOGGED,
    MODEL_PROMOTED,
    MODEL_ROLLED_BACK,
    PROMOTION_REFUSED,
    RUN_COMPLETED,
    RUN_STARTED,
    combined_metrics,
)
from pot.lineage.gates import Gate, evaluate
from pot.log.proof import ProvenanceProof
from pot.log.records import EventRecord, StepsRecord, TrainingCheckpoint, ValidationRecord
from pot.log.verify import VerificationReport


def _get(value: Any, *keys: str) -> Any:
    """``value[k1][k2]...``, or None where a level is missing or not an object (environments are free-form)."""
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _runs(proof: ProvenanceProof) -> list[dict[str, Any]]:
    runs: dict[str, dict[str, Any]] = {}
    for record in proof.records:
        if not isinstance(record, EventRecord) or record.run_id is None:
            continue
        data = record.data
        run = runs.get(record.run_id)
        if record.event == RUN_STARTED:
            run = runs[record.run_id] = {
                "run_id": record.run_id, "kind": data["kind"], "status": "running", "error": None,
                "started": record.timestamp, "ended": None, "start_seq": record.seq, "user": data["user"],
                "git": data["git"], "config": data["config"], "config_hash": data["config_hash"],
                "environment": data["environment"], "environment_hash": data["environment_hash"],
                "rerun_of": data["rerun_of"], "parents": data["parents"], "metrics_logged": [], "artifacts": [],
                "checkpoints": 0, "validations": 0}
        elif run is None:
            continue  # a partial proof that leaves out the run's start: nothing to hang this on
        elif record.event == RUN_COMPLETED:
            run.update(status=data["status"], error=data["error"], ended=record.timestamp)
        elif record.event == METRIC_LOGGED:
            run["metrics_logged"].append({"seq": record.seq, **data})
        elif record.event == ARTIFACT_SAVED:
            run["artifacts"].append({"seq": record.seq, **data})
    for record in proof.records:
        if record.run_id in runs and isinstance(record, TrainingCheckpoint | ValidationRecord):
            runs[record.run_id]["checkpoints" if isinstance(record, TrainingCheckpoint) else "validations"] += 1
    if proof.disclosure == "partial":
        for run in runs.values():  # a run without its RunCompleted in a partial proof may well have completed
            if run["ended"] is None:
                run["status"] = None
    return list(runs.values())


def _steps(proof: ProvenanceProof) -> dict[str, Any]:
    blocks = [r for r in proof.records if isinstance(r, StepsRecord)]
    last: dict[str, dict[str, Any]] = {}
    for block in blocks:
        for name, values in block.metrics.items():
            for step, item in zip(block.steps, values, strict=True):
                if item is not None:
                    last[name] = {"step": step, "value": item}
    return {"records": len(blocks), "steps": sum(len(b.steps) for b in blocks),
            "first": blocks[0].steps[0] if blocks else None, "last": blocks[-1].steps[-1] if blocks else None,
            "last_values": dict(sorted(last.items()))}


def _promotions(proof: ProvenanceProof) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    validations = {r.validation_id: r for r in proof.validation_chain}
    promotions, rollbacks = [], []
    for record in proof.records:
        if not isinstance(record, EventRecord):
            continue
        data = record.data
        if record.event in (MODEL_PROMOTED, PROMOTION_REFUSED):
            inputs = []
            for item in data["inputs"]:
                found = validations.get(item["validation_id"])
                inputs.append({"validation_id": item["validation_id"], "seq": found.seq if found else None,
                               "validator_id": found.validator_id if found else None, "metrics": item["metrics"]})
            # Why it failed, in words: derived again from the recorded gate and inputs, as the verifier derived the
            # decision itself (a recorded decision holds no free text).
            reasons = evaluate(Gate.from_json(data["gate"]), combined_metrics(data["inputs"])).reasons
            promotions.append({"seq": record.seq, "timestamp": record.timestamp, "event": record.event,
                               "promoted": record.event == MODEL_PROMOTED, "stage": data["stage"],
                               "model_hash": data["model_hash"], "gate": data["gate"], "decision": data["decision"],
                               "reasons": list(reasons), "inputs": inputs})
        elif record.event == MODEL_ROLLED_BACK:
            rollbacks.append({"seq": record.seq, "timestamp": record.timestamp, **data})
    return promotions, rollbacks


def _receipts(proof: ProvenanceProof) -> list[dict[str, Any]]:
    from pot.anchors.ethereum_receipt import chain_name

    sizes: dict[str, int] = {entry.head.head_hash: entry.head.tree_size for entry in proof.tree_heads}
    out = []
    for receipt in proof.anchors:
        item: dict[str, Any] = {"backend": receipt.backend, "tree_size": sizes.get(receipt.head_hash),
                                "head_hash": receipt.head_hash, "timestamp": receipt.timestamp}
        details = receipt.details
        if receipt.backend in ("ethereum", "ethereum-aggregate"):
            item.update(chain_id=details["chain_id"], chain=chain_name(details["chain_id"]),
                        contract=details["contract"], tx_hash=details["tx_hash"],
                        block_number=details["block_number"], claimed_block_time=details["block_time"])
            if receipt.backend == "ethereum-aggregate":  # one transaction for many models' heads
                item.update(leaf_index=details["leaf_index"], aggregate_size=details["aggregate_size"])
        elif receipt.backend == "localchain":
            item.update(index=details["entry"]["index"])
        elif receipt.backend == "tsa":
            item.update(claimed_gen_time=details["gen_time"])
        out.append(item)
    return out


def summary(path: str, proof: ProvenanceProof, report: VerificationReport) -> dict[str, Any]:
    """``pot show --json``: the verification report and what the verified proof says."""
    promotions, rollbacks = _promotions(proof)
    return {
        "ok": True,
        "proof": path,
        "verification": report.to_json(),
        "model": {"model_id": proof.model_id, "disclosure": proof.disclosure, "records": len(proof.disclosed),
                  "log_size": report.log_size, "final_model_hash": proof.final_model_hash,
                  "merkle_root": proof.merkle_root, "proof_timestamp": proof.proof_timestamp,
                  "generator": proof.verification_metadata.get("generator"),
                  "signer": {"public_key": proof.signer.hex, "key_id": proof.signer.key_id,
                             "pinned": report.signer_pinned}},
        "runs": _runs(proof),
        "checkpoints": [{"seq": r.seq, "timestamp": r.timestamp, "run_id": r.run_id, "epoch": r.epoch,
                         "step": r.step, "model_hash": r.model_hash, "metrics": r.metrics,
                         "fingerprint_hash": r.fingerprint_hash, "file_name": r.file_name,
                         "file_sha256": r.file_sha256} for r in proof.training_chain],
        "steps": _steps(proof),
        "validations": [{"seq": r.seq, "timestamp": r.timestamp, "run_id": r.run_id,
                         "validator_id": r.validator_id, "model_hash": r.model_hash,
                         "results": r.validation_result, "confidence_score": r.confidence_score,
                         "challenge_hash": r.challenge_hash} for r in proof.validation_chain],
        "promotions": promotions,
        "rollbacks": rollbacks,
        "anchors": _receipts(proof),
    }


# --- the page ---------------------------------------------------------------------------------------------------


def short(digest: Any, length: int = 16) -> str:
    text = safe(digest)
    return text if len(text) <= length + 3 else text[:length] + "..."


def _header(path: str, proof: ProvenanceProof, report: VerificationReport) -> list[str]:
    signer = next(c.detail for c in report.checks if c.name == "signer")
    online = any(c.name == "chain" for c in report.checks)
    if proof.final_model_hash is not None:
        weights = f"{safe(proof.final_model_hash)} (the last checkpoint's digest)"
    else:  # a partial proof names no final digest: it cannot show which checkpoint is the last
        weights = "none named (a partial proof)" if proof.disclosure == "partial" else "none (no checkpoint)"
    pinned = [] if report.signer_pinned else [
        "           (so this shows the document is self-consistent, not who signed it: pin the signer's public key "
        "with --trusted-key)"]
    return [
        f"proof {safe(path)}: VERIFIED ({len(report.checks)} checks passed, "
        f"{'anchors checked on the chain' if online else 'offline'}; `pot verify` lists them)",
        f"  signer   {safe(signer)}",
        *pinned,
        f"  model    {safe(proof.model_id)}",
        f"  weights  {weights}",
        f"  log      {len(proof.disclosed)} record(s) of {report.log_size}, {proof.disclosure} disclosure; root "
        f"{proof.merkle_root}",
        f"  made     {proof.proof_timestamp} by {safe(proof.verification_metadata.get('generator'))} (the signer's "
        "clock)",
    ]


def _environment_line(environment: Any) -> str:
    python, platform, torch = (_get(environment, k) for k in ("python", "platform", "torch"))
    parts = []
    where = []
    if python is not None:
        where.append(f"Python {cell(_get(python, 'version'))}"
                     + (f" ({cell(_get(python, 'implementation'))})" if _get(python, "implementation") else ""))
    if platform is not None:
        where.append("on " + " ".join(cell(_get(platform, k)) for k in ("system", "release", "machine")
                                      if _get(platform, k) is not None))
    if where:
        parts.append(" ".join(where))
    if _get(environment, "cpu_count") is not None:
        parts.append(f"{cell(_get(environment, 'cpu_count'))} CPU(s)")
    packages = _get(environment, "packages")
    if isinstance(packages, Mapping):
        parts.append(f"{len(packages)} package(s)")
    if torch is not None:
        version = _get(torch, "version")
        cuda = _get(torch, "cuda")
        # torch.cuda is recorded only from a torch the program had imported: its absence says nothing about CUDA
        parts.append(f"torch {cell(version)}" + (f" (CUDA {cell(cuda)})" if cuda else "") if version else "no torch")
    return ", ".join(parts) if parts else "not recorded"


def _run_lines(run: Mapping[str, Any]) -> list[str]:
    status = "status not disclosed" if run["status"] is None else cell(run["status"])
    lines = [f"run {safe(run['run_id'])} ({cell(run['kind'])}): {status}"
             + (f" ({cell(run['error'])})" if run["error"] else "")]
    lines.append(f"  started  {run['started']}" + (f", ended {run['ended']}" if run["ended"] else "")
                 + " (the signer's clock)")
    git = run["git"]
    commit = git.get("commit")
    code = (f"git {commit}" + (" with uncommitted changes" if git.get("dirty") else " (clean)"
                               if git.get("dirty") is False else "")
            + (f" on {cell(git['branch'])}" if git.get("branch") else "")) if commit else "no git commit recorded"
    lines.append(f"  by       {cell(run['user']) if run['user'] else '?'}; {code}")
    lines.append(f"  env      {_environment_line(run['environment'])} (hash {short(run['environment_hash'])})")
    config = flatten(run["config"])
    lines.append(f"  config   {len(config)} key(s), hash {short(run['config_hash'])}" + (":" if config else ""))
    if config:
        # every key, however many: the configuration is what an auditor compares with what they were told
        lines += ["    " + line for line in table(("key", "value"), [(safe(k), cell(v)) for k, v in config.items()])
                  .splitlines()]
    if run["rerun_of"]:
        lines.append(f"  a rerun of {safe(run['rerun_of'])}")
    for parent in run["parents"]:
        lines.append(f"  parent   {cell(parent['relation'])} {cell(parent['kind'])} {safe(parent['id'])}"
                     + (f" (digest {short(parent['digest'])})" if parent.get("digest") else "")
                     + (f", proof head {parent['proof']['tree_size']} of {safe(parent['proof']['model_id'])}"
                        if parent.get("proof") else ""))
    for artifact in run["artifacts"]:
        lines.append(f"  artifact {safe(artifact['name'])}: sha256 {short(artifact['sha256'])}, "
                     f"{artifact['size']:,} bytes")
    for metric in run["metrics_logged"]:
        lines.append(f"  metric   {safe(metric['name'])} = {cell(metric['value'])}"
                     + (f" at step {metric['step']}" if metric["step"] is not None else ""))
    return lines


def _checkpoint_lines(checkpoints: Sequence[Mapping[str, Any]], several_runs: bool) -> list[str]:
    if not checkpoints:
        return ["metrics per epoch: no checkpoint"]
    names = sorted({name for c in checkpoints for name in c["metrics"]})
    headers = [*(["run"] if several_runs else []), "epoch", "step", *(safe(n) for n in names), "weights", "file"]
    rows = []
    for c in checkpoints:
        rows.append([*([safe(c["run_id"] or "-")] if several_runs else []), c["epoch"],
                     "" if c["step"] is None else c["step"], *(cell(c["metrics"][n]) if n in c["metrics"] else ""
                                                             for n in names),
                     short(c["model_hash"]), safe(c["file_name"]) if c["file_name"] else ""])
    return [f"metrics per epoch ({len(checkpoints)} checkpoint(s)):", *long_table(headers, rows)]


def _steps_line(steps: Mapping[str, Any]) -> list[str]:
    if not steps["records"]:
        return []
    last = ", ".join(f"{safe(name)} {cell(item['value'])} (step {item['step']})"
                     for name, item in steps["last_values"].items())
    return [f"steps: {steps['steps']:,} step(s), {steps['first']}..{steps['last']}, in {steps['records']} "
            f"record(s)" + (f"; last values: {last}" if last else "")]


def _validation_lines(validations: Sequence[Mapping[str, Any]]) -> list[str]:
    if not validations:
        return ["validations: none"]
    rows = [(v["seq"], safe(v["validator_id"]), short(v["model_hash"]),
             ", ".join(f"{safe(k)} {cell(x)}" for k, x in v["results"].items()),
             "" if v["confidence_score"] is None else cell(v["confidence_score"])) for v in validations]
    return [f"validations ({len(validations)}):", *long_table(("seq", "validator", "weights", "results", "confidence"),
                                                          rows)]


def _gate_words(gate: Mapping[str, Any]) -> str:
    parts = [f"{safe(metric)} {op} {cell(threshold)}" for metric, ops in gate.get("thresholds", {}).items()
             for op, threshold in ops.items()]
    if gate.get("weights"):
        weights = " + ".join(f"{cell(w)}*{safe(m)}" for m, w in gate["weights"].items())
        parts.append(f"score ({weights}) / {cell(sum(gate['weights'].values()))} >= {cell(gate['min_score'])}")
    return " and ".join(parts)


def _promotion_lines(promotions: Sequence[Mapping[str, Any]], rollbacks: Sequence[Mapping[str, Any]]) -> list[str]:
    if not promotions and not rollbacks:
        return ["promotions: none"]
    lines = [f"promotions ({len(promotions)}; every decision re-derived from its gate and inputs by the verifier):"]
    for p in promotions:
        decision = p["decision"]
        inputs = ", ".join(f"seq {i['seq']} by {safe(i['validator_id'])}" if i["seq"] is not None
                           else f"{short(i['validation_id'])} (not disclosed)" for i in p["inputs"])
        lines.append(f"  seq {p['seq']} {'PROMOTED' if p['promoted'] else 'REFUSED'} to {safe(p['stage'])}: weights "
                     f"{short(p['model_hash'])}, gate {_gate_words(p['gate'])}, on validation {inputs}")
        for check in decision["checks"]:
            shown = "missing" if check["value"] is None else cell(check["value"])
            lines.append(f"    {'ok  ' if check['passed'] else 'FAIL'} {safe(check['metric'])} {check['op']} "
                         f"{cell(check['threshold'])} (was {shown})")
        if decision["score"] is not None:
            lines.append(f"    {'ok  ' if decision['score'] >= p['gate']['min_score'] else 'FAIL'} composite score "
                         f"{cell(decision['score'])} (needs >= {cell(p['gate']['min_score'])})")
        lines += [f"    why refused: {safe(reason)}" for reason in p["reasons"]]
    for r in rollbacks:
        lines.append(f"  seq {r['seq']} ROLLED BACK {safe(r['stage'])} to {short(r['to_model_hash'])}"
                     + (f" from {short(r['from_model_hash'])}" if r["from_model_hash"] else "")
                     + f": {safe(r['reason'])}")
    return lines


def _anchor_lines(receipts: Sequence[Mapping[str, Any]], report: VerificationReport) -> list[str]:
    counts: dict[str, int] = {}
    for receipt in receipts:
        counts[receipt["backend"]] = counts.get(receipt["backend"], 0) + 1
    lines = [f"anchors ({', '.join(f'{n} {b}' for b, n in sorted(counts.items())) or 'none'}):"]
    chain = [r for r in receipts if r["backend"] in ("ethereum", "ethereum-aggregate")]
    if chain:
        checked = any(c.name == "chain" for c in report.checks)
        rows = [(r["tree_size"], safe(r["chain"]), r["block_number"], r["tx_hash"]) for r in chain]
        lines += long_table(("head size", "chain", "block", "transaction"), rows)
        if not checked:
            lines.append("  (these transactions are the signer's word until `pot show --rpc URL` checks them)")
    tokens = [r for r in receipts if r["backend"] == "tsa"]
    if tokens:
        lines += long_table(("head size", "TSA token time"), [(r["tree_size"], r["claimed_gen_time"]) for r in tokens])
        if not any(c.name == "tsa" for c in report.checks):
            lines.append("  (these token times are the signer's word until `pot show --tsa-cert PEM` checks them)")
    lines.append(f"  when the records existed ({len(report.heads)} tree head(s)):")
    lines += head_lines(report)
    lines += [f"  note: {safe(note)}" for note in report.notes]
    return lines


def page(path: str, proof: ProvenanceProof, report: VerificationReport) -> str:
    """``pot show``: the page for a person, from the data of :func:`summary`."""
    data = summary(path, proof, report)
    sections = [_header(path, proof, report)]
    sections += [_run_lines(run) for run in data["runs"]] or [["runs: none in this proof"]]
    several = len({c["run_id"] for c in data["checkpoints"]}) > 1
    sections.append(_checkpoint_lines(data["checkpoints"], several) + _steps_line(data["steps"]))
    sections.append(_validation_lines(data["validations"]))
    sections.append(_promotion_lines(data["promotions"], data["rollbacks"]))
    sections.append(_anchor_lines(data["anchors"], report))
    return "\n\n".join("\n".join(lines) for lines in sections)
