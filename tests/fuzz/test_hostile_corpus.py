"""The seed corpus of hostile inputs in tests/assets/hostile/: proofs (indexed in tests/assets/hostile-index.json,
which tests/unit/test_proof_format.py runs, and in hostile/fuzz-index.json, the ones this suite added) and command
lines (hostile/cli-invocations.json).

Here: the proofs this suite added are exactly what tests/fuzz/hostile.py writes and fail only for their named
flaw (the same construction without the flaw verifies); `pot verify` gives each the exit code and FAILED line its
entry says; every indexed proof is refused by the library with a PotError, nothing else; every hostile command
line exits as its entry says, with one line on stderr.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from pot import ProvenanceProof, verify_proof
from pot.log.keys import PublicKey

from . import hostile
from .cli import UNSAFE_OUTPUT, expand_all, make_store, run
from .corpus import ASSETS, VECTORS
from .mutate import outcome

FUZZ_INDEX = json.loads((ASSETS / "hostile" / "fuzz-index.json").read_text(encoding="utf-8"))
INDEX = {**json.loads((ASSETS / "hostile-index.json").read_text(encoding="utf-8")), **FUZZ_INDEX}
CLI_CASES = json.loads((ASSETS / "hostile" / "cli-invocations.json").read_text(encoding="utf-8"))["cases"]


def test_hostile_proofs_are_what_the_generator_writes() -> None:
    assert hostile.write(check=True) == [], "run: .venv/bin/python -m tests.fuzz.hostile"


@pytest.mark.parametrize("document", [hostile.control(), hostile.contract_control()], ids=["plain", "ethereum"])
def test_the_generator_without_a_flaw_writes_a_proof_that_verifies(document: dict[str, Any]) -> None:
    """The hostile proofs are built by this generator (its own hashing and signing) plus one flaw each: so each
    fails for its flaw, never for a hash or signature the generator got wrong."""
    proof = ProvenanceProof.from_json(json.dumps(document))
    assert verify_proof(proof, trusted_key=PublicKey.from_text(VECTORS["key"]["public_key"])).ok


@pytest.mark.parametrize("name", sorted(FUZZ_INDEX))
def test_pot_verify_gives_a_hostile_proof_its_exit_code_and_one_failed_line(name: str, tmp_path: Path) -> None:
    """As tests/unit/test_proof_format.py does for hostile-index.json, except that the failed check may be any
    (a flaw in a signed record's content shows in the check that reads it), and POT_DEBUG makes an internal error
    raise here with its traceback."""
    expected = FUZZ_INDEX[name]
    result = run(tmp_path / "no-store", "verify", "--proof", str(ASSETS / "hostile" / name))
    last = result.out.splitlines()[-1] if result.out else ""
    assert result.code == expected["exit_code"], f"{name}: exit {result.code} ({expected['why']}): {last}"
    assert result.err == "" and last.startswith("FAILED: "), (result.out[-300:], result.err[-300:])
    assert re.search(expected["message"], last), f"{name}: {last!r} does not match {expected['message']!r}"


@pytest.mark.parametrize("name", sorted(INDEX))
def test_every_indexed_hostile_proof_is_refused_with_a_pot_error(name: str) -> None:
    """The library, not only the CLI: from_json and verify_proof raise a PotError and nothing else; no check of
    the verifier breaks on the file; the file does not verify."""
    result = outcome((ASSETS / "hostile" / name).read_bytes())
    assert not result.verified, f"{name} verifies: {INDEX[name].get('why', INDEX[name]['message'])}"


# --- command lines ----------------------------------------------------------------------------------------------


def corrupt(store: Path, how: dict[str, Any]) -> None:
    """Damage a store the way a crash, a disk or a person might, with the real tools (sqlite3, the file system)."""
    if "sql" in how:
        with sqlite3.connect(store / "pot.db") as db:
            db.execute(how["sql"])
        db.close()
    if "directory" in how:
        path = store / how["directory"]
        path.unlink()
        path.mkdir()
    if "append" in how:
        with (store / how["append"]["file"]).open("a", encoding="utf-8") as handle:
            handle.write(how["append"]["text"])


@pytest.mark.parametrize("name", sorted(CLI_CASES))
def test_hostile_command_line(name: str, tmp_path: Path) -> None:
    case = CLI_CASES[name]
    store = tmp_path / "store"
    make_store(store)
    if "corrupt" in case:
        corrupt(store, case["corrupt"])
    for step in case["steps"]:
        argv = [a.replace("{dir}", str(tmp_path)) for a in expand_all(step["argv"])]
        result = run(store, *argv)  # POT_DEBUG is set: an internal error raises here, with its traceback
        allowed = step["exit_code"] if isinstance(step["exit_code"], list) else [step["exit_code"]]
        shown = f"pot {' '.join(a if len(a) < 80 else a[:60] + '...' for a in argv)!r}"
        assert result.code in allowed, f"{shown}: exit {result.code}, expected {allowed} ({case['why']})\n" \
                                       f"stdout: {result.out[-500:]}\nstderr: {result.err[-500:]}"
        if "stderr" in step:  # an error: one line that says what is wrong
            assert len(result.err.splitlines()) == 1, f"{shown}: stderr is not one line: {result.err[-500:]!r}"
            assert re.search(step["stderr"], result.err), f"{shown}: stderr {result.err[-300:]!r}"
        if step.get("stdout_safe"):
            unsafe = UNSAFE_OUTPUT.search(result.out)
            assert unsafe is None, f"{shown} prints {unsafe.group()!r} raw ({case['why']}): {result.out[-300:]!r}"


def test_every_hostile_file_is_indexed() -> None:
    """A file in tests/assets/hostile/ that no index names is never run."""
    files = {p.name for p in (ASSETS / "hostile").iterdir()} - {"cli-invocations.json", "fuzz-index.json"}
    assert files == set(INDEX)
