"""The README's attestation section on the example's real output: pot attest, pot verify-attestation, and the
README's own independent check (securesystemslib's DSSE), run as printed there."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parents[2]


def readme_snippet() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Attestations: in-toto and SLSA"):]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README's attestation section has no python block"
    return match.group(1)


def test_the_example_attested_verifies_with_pot_and_without(tmp_path: Path) -> None:
    out = tmp_path / "examples" / "out"
    store = out / "store"
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "training_with_provenance.py"), "--epochs", "2",
                             "--store", str(store), "--out", str(out)], capture_output=True, text=True, cwd=ROOT,
                            timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr

    def pot(*argv: str, code: int = 0) -> str:
        done = subprocess.run([sys.executable, "-m", "pot.cli", *argv], capture_output=True, text=True, cwd=tmp_path,
                              env={**os.environ, "POT_HOME": "examples/out/store"})
        assert done.returncode == code, done.stdout + done.stderr
        return done.stdout

    key = pot("--store", "examples/out/store", "key", "public").strip()
    said = pot("attest", "--proof", "examples/out/digits-mlp.proof.json", "--output",
               "examples/out/digits-mlp.intoto.json", "--slsa", "examples/out/digits-mlp.slsa.intoto.json")
    assert "subject digits-mlp.pt: sha256" in said
    for name in ("digits-mlp.intoto.json", "digits-mlp.slsa.intoto.json"):
        checked = pot("verify-attestation", f"examples/out/{name}", "--proof", "examples/out/digits-mlp.proof.json",
                      "--trusted-key", key)
        assert checked.rstrip().endswith("VERIFIED") and "ok   agreement" in checked
    slsa = json.loads(pot("--json", "verify-attestation", "examples/out/digits-mlp.slsa.intoto.json", "--proof",
                          "examples/out/digits-mlp.proof.json", "--trusted-key", key))
    assert slsa["ok"] and slsa["predicate_type"] == "https://slsa.dev/provenance/v1"

    # The README's independent check, as printed, against the envelope pot just wrote.
    snippet = subprocess.run([sys.executable, "-c", readme_snippet()], capture_output=True, text=True, cwd=tmp_path,
                             env={**os.environ, "KEY": key})
    assert snippet.returncode == 0, snippet.stderr
    assert snippet.stdout.startswith("https://pot-provenance/attestation/proof/v1 [")
    weights_sha = subprocess.run(["sha256sum", str(out / "digits-mlp.pt")], capture_output=True, text=True,
                                 check=True).stdout.split()[0]
    assert weights_sha in snippet.stdout  # the subject is the weights file a user can hash

    # ... and it fails for an envelope that does not verify (another key's).
    rfc8032_test_key = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    other = subprocess.run([sys.executable, "-c", readme_snippet()], capture_output=True, text=True, cwd=tmp_path,
                           env={**os.environ, "KEY": rfc8032_test_key})
    assert other.returncode != 0 and "VerificationError" in other.stderr
