"""The JSON outputs keep to their documented schemas (docs/schemas/, docs/JSON_OUTPUT.md).

Each case runs the real command on real proofs and runs (tests.support.audit) and validates what it prints with
the ``jsonschema`` package, resolving the schemas' references between files as a file-based tool would. The schemas
are strict (no key they do not list), so a new field in an output fails here until it is documented.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

from pot.cli import main
from tests.support.audit import Audited
from tests.support.forge import ethereum, forge, records, ts, unix

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "docs" / "schemas"
# Each command's schema; common.schema.json holds what they share.
OUTPUTS = {"verify": "verify.schema.json", "show": "show.schema.json", "history": "history.schema.json",
           "runs list": "runs-list.schema.json", "runs show": "runs-show.schema.json",
           "runs compare": "runs-compare.schema.json", "runs export-config": "run-config.schema.json",
           "lineage": "lineage.schema.json"}


def _load(path: Path) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(path.read_text())
    return {**schema, "$id": path.as_uri()}  # where it lives: its relative references resolve beside it


REGISTRY: Registry = Registry().with_resources(
    (path.as_uri(), Resource.from_contents(_load(path))) for path in sorted(SCHEMAS.glob("*.schema.json")))


def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(_load(SCHEMAS / name), registry=REGISTRY)



def output(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = main(["--json", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, json.loads(out)


def check(name: str, document: Any) -> None:
    errors = sorted(validator(name).iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


@pytest.mark.parametrize("path", sorted(SCHEMAS.glob("*.schema.json")), ids=lambda p: p.name)
def test_each_schema_is_a_valid_2020_12_schema(path: Path) -> None:
    schema = json.loads(path.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_every_schema_is_documented_and_tested() -> None:
    files = {p.name for p in SCHEMAS.glob("*.schema.json")}
    assert files == {*OUTPUTS.values(), "common.schema.json"}
    guide = (ROOT / "docs" / "JSON_OUTPUT.md").read_text()
    for command, name in OUTPUTS.items():
        assert f"`pot {command}" in guide and f"schemas/{name}" in guide, command


# --- the real outputs -----------------------------------------------------------------------------------------


def tampered(audited: Audited, tmp_path: Path) -> Path:
    document = json.loads(audited.full.read_text())
    document["records"][-1]["data"]["reason"] = "nothing happened"
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(document))
    return path


def not_a_proof(tmp_path: Path) -> Path:
    path = tmp_path / "not-a-proof.json"
    path.write_text('{"media_type": "application/vnd.pot.proof.v9+json"}')
    return path


def invented_chain_receipt(tmp_path: Path) -> Path:
    made = records([{"type": "checkpoint", "model_id": "m", "timestamp": ts(i), "model_hash": f"{i:064x}",
                     "epoch": i, "metrics": {"loss": 1.0 / (i + 1), "odd": "NaN"}, "fingerprint_hash": None,
                     "validation_hash": None} for i in range(3)])
    path = tmp_path / "chain.json"
    forge(made, heads=[(1, ts(10)), (3, ts(20))], receipts=[(0, ethereum(unix(ts(3))), ts(40))]).save(path)
    return path


def verify_cases(audited: Audited, tmp_path: Path) -> Iterator[tuple[list[str], int]]:
    yield ["verify", str(audited.full), "--trusted-key", audited.public_key], 0
    yield ["verify", str(audited.full), "--checkpoint", str(audited.weights)], 0
    yield ["verify", str(audited.full), "--checkpoint", str(audited.full)], 1  # a file it did not record
    yield ["verify", str(audited.partial)], 0
    yield ["verify", str(tampered(audited, tmp_path))], 1
    yield ["verify", str(not_a_proof(tmp_path))], 1
    yield ["verify", str(invented_chain_receipt(tmp_path))], 0


def test_verify(audited: Audited, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv, expected in verify_cases(audited, tmp_path):
        code, document = output(capsys, *argv)
        assert code == expected, argv
        check("verify.schema.json", document)


def test_show(audited: Audited, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv, expected in verify_cases(audited, tmp_path):
        if "--checkpoint" in argv:
            continue
        code, document = output(capsys, "show", *argv[1:])
        assert code == expected and document["ok"] is (code == 0), argv
        check("show.schema.json", document)


def test_history_and_runs(audited: Audited, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = ["--store", str(audited.store)]
    code, models = output(capsys, *store, "history")
    assert code == 0 and {m["model_id"] for m in models} == {"digits-a", "digits-b"}
    check("history.schema.json", models)
    for model in ("digits-a", "digits-b"):
        code, history = output(capsys, *store, "history", "--model-id", model)
        assert code == 0 and {r["kind"] for r in history} >= {"checkpoint", "validation", "steps", "event"}
        check("history.schema.json", history)
    empty = tmp_path / "empty"
    assert main(["--store", str(empty), "init"]) == 0
    capsys.readouterr()
    check("history.schema.json", output(capsys, "--store", str(empty), "history")[1])

    code, runs = output(capsys, *store, "runs", "list")
    assert code == 0 and {r["run_id"] for r in runs} == {audited.run_a, audited.run_b}
    check("runs-list.schema.json", runs)
    for run_id in (audited.run_a, audited.run_b):
        code, shown = output(capsys, *store, "runs", "show", run_id)
        assert code == 0 and shown["run_id"] == run_id
        check("runs-show.schema.json", shown)
    for a, b in ((audited.run_a, audited.run_b), (audited.run_b, audited.run_b)):
        code, compared = output(capsys, *store, "runs", "compare", a, b)
        assert code == 0
        check("runs-compare.schema.json", compared)
    for run_id in (audited.run_a, audited.run_b):
        code, exported = output(capsys, *store, "runs", "export-config", run_id, "--out", str(tmp_path / "c.json"))
        assert code == 0 and json.loads((tmp_path / "c.json").read_text()) == exported
        check("run-config.schema.json", exported)
        code, graph = output(capsys, *store, "lineage", run_id)
        assert code == 0 and graph["focus"] == run_id and graph["edges"]
        check("lineage.schema.json", graph)


# --- the schemas are not vacuous: what they refuse -----------------------------------------------------------


def refused(name: str, document: Any) -> None:
    with pytest.raises(ValidationError):
        validator(name).validate(document)


def test_the_schemas_refuse_what_no_output_may_say(audited: Audited, capsys: pytest.CaptureFixture[str]) -> None:
    _, report = output(capsys, "verify", str(audited.full))
    check("verify.schema.json", report)
    refused("verify.schema.json", {**report, "verified_at": "now"})  # an undocumented field
    dated = copy.deepcopy(report)
    dated["heads"][0]["dated_by"] = "chain"  # a head the chain did not date, called dated by the chain
    refused("verify.schema.json", dated)
    _, shown = output(capsys, "show", str(audited.full))
    check("show.schema.json", shown)
    refused("show.schema.json", {**shown, "ok": False})  # content shown for a proof that failed
    no_report = {k: v for k, v in shown.items() if k != "verification"}
    refused("show.schema.json", no_report)
    _, history = output(capsys, "--store", str(audited.store), "history", "--model-id", "digits-a")
    refused("history.schema.json", [{**history[0], "kind": "note"}])
    refused("history.schema.json", [{**history[0], "seq": -1}])  # through a reference into common.schema.json
    refused("runs-compare.schema.json", {**output(capsys, "--store", str(audited.store), "runs", "compare",
                                                 audited.run_a, audited.run_b)[1], "final": [{"source": "guess"}]})


def test_the_lineage_and_run_config_schemas_refuse_what_no_output_may_say() -> None:
    node = {"node_id": "run-1", "kind": "run", "label": "train", "digest": None, "created": ts(1)}
    graph = {"format": "pot.lineage-graph.v1", "focus": "run-1", "nodes": [node],
             "edges": [{"child": "net", "parent": "run-1", "relation": "trained_by"}]}
    check("lineage.schema.json", graph)
    refused("lineage.schema.json", {**graph, "extra": 1})
    refused("lineage.schema.json", {**graph, "format": "pot.lineage-graph.v2"})
    refused("lineage.schema.json", {**graph, "nodes": [{**node, "kind": "person"}]})
    refused("lineage.schema.json", {**graph, "nodes": [{**node, "created": "yesterday"}]})
    refused("lineage.schema.json", {**graph, "edges": [{"child": "net", "parent": "run-1"}]})
    config = {"format": "pot.run-config.v1", "run_id": "run-1", "kind": "train", "model_id": "net",
              "config": {"lr": 0.1}, "config_hash": "ab" * 32, "parents": [], "git_commit": None}
    check("run-config.schema.json", config)
    refused("run-config.schema.json", {**config, "config_hash": "not-a-hash"})
    refused("run-config.schema.json", {k: v for k, v in config.items() if k != "git_commit"})
    refused("run-config.schema.json", {**config, "parents": [{"kind": "dataset"}]})
