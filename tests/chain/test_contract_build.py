"""The committed contract artifacts are exactly what the pinned compiler makes of the committed source."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest

from pot.anchors.ethereum import load_artifact
from tests.support.anvil import ROOT

SOLC_JS = ROOT / "node_modules" / "solc" / "solc.js"


def _require_compiler() -> None:
    if SOLC_JS.is_file() and shutil.which("node"):
        return
    reason = "solc-js not installed (run `npm install --ignore-scripts` in the repository root)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.mark.slow
def test_recompiling_gives_the_committed_artifacts() -> None:
    _require_compiler()
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "compile_contracts.py"), "--check"],
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr


def test_both_artifacts_are_identical_and_name_their_source() -> None:
    build = (ROOT / "contracts" / "build" / "ProvenanceRegistry.json").read_bytes()
    packaged = (ROOT / "pot" / "contracts" / "ProvenanceRegistry.json").read_bytes()
    assert build == packaged
    artifact = json.loads(build)
    assert artifact == load_artifact()
    names = {item.get("name") for item in artifact["abi"]}
    assert {"storeHash", "getHash", "verifyHash", "anchor", "anchorOf", "anchoredAt", "HashStored", "checkRecord",
            "checkLeaf", "verifyInclusion", "verifyConsistency", "checkConsistency", "NotAnchored", "NotIncluded",
            "Anchored", "AlreadyAnchored"} <= names


@pytest.mark.parametrize(("name", "source", "imports"), [
    ("ProvenanceRegistry", "contracts/ProvenanceRegistry.sol", ["contracts/RFC9162.sol"]),
    ("ValidationEscrow", "contracts/examples/ValidationEscrow.sol",
     ["contracts/PotRecord.sol", "contracts/ProvenanceRegistry.sol", "contracts/RFC9162.sol"]),
    ("RFC9162Harness", "contracts/test/RFC9162Harness.sol", ["contracts/PotRecord.sol", "contracts/RFC9162.sol"]),
])
def test_each_artifact_names_every_source_it_was_built_from(name: str, source: str, imports: list[str]) -> None:
    build = ROOT / "contracts" / "build" / f"{name}.json"
    text = build.read_bytes()
    artifact = json.loads(text)
    assert artifact["contractName"] == name
    assert artifact["sourceSha256"] == hashlib.sha256((ROOT / source).read_bytes()).hexdigest()
    assert artifact["sources"] == {path: hashlib.sha256((ROOT / path).read_bytes()).hexdigest()
                                   for path in sorted([source, *imports])}
    assert artifact["compiler"]["version"].startswith("0.8.37+commit.")
    assert artifact["compiler"]["settings"]["evmVersion"] == "cancun"
    assert artifact["compiler"]["settings"]["optimizer"] == {"enabled": True, "runs": 200}
    assert sorted(artifact) == ["abi", "bytecode", "compiler", "contractName", "deployedBytecode", "sourceSha256",
                                "sources"]
    assert text.endswith(b"}\n")
