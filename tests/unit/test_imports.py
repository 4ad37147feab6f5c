"""Importing pot, or running its verifier, pulls in no framework or chain client: they are optional extras."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

HEAVY = ("torch", "web3", "eth_account", "lightning", "pytorch_lightning", "transformers", "numpy", "matplotlib")


def imported_after(code: str) -> set[str]:
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return {name.split(".")[0] for name in json.loads(out.strip().splitlines()[-1])}


def test_import_pot_imports_no_framework_or_chain_client() -> None:
    assert imported_after("import pot, pot.core.provenance_integration").isdisjoint(HEAVY)


def test_the_cli_verifying_a_proof_imports_none_of_them() -> None:
    code = ("from pot.cli import main\n"
            "main(['verify', '--proof', 'tests/assets/proofs/v1/basic-full.proof.json'])")
    assert imported_after(code).isdisjoint(HEAVY)



def test_the_log_core_imports_nothing_above_it() -> None:
    # The verifier checks lineage events (pot.lineage.events, gates, lamport) but never reads the registry, the
    # lineage graph or the recorder: the log core stays below them, with no import circle.
    above = ("pot.lineage.registry", "pot.lineage.graph", "pot.recorder", "pot.cli")
    for path in (ROOT / "pot" / "log").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            assert not [n for n in names if n.startswith(above)], f"{path.name} imports {names}"
