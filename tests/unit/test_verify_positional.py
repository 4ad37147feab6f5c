"""``pot verify FILE``: the proof as a positional argument, as well as the seed's ``--proof FILE``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.audit import Audited, run_cli


def test_positional_and_flag_verify_alike(audited: Audited, capsys: pytest.CaptureFixture[str]) -> None:
    key = ("--trusted-key", audited.public_key)
    positional = run_cli(capsys, "verify", str(audited.full), *key)
    flag = run_cli(capsys, "verify", "--proof", str(audited.full), *key)
    assert positional == flag and positional[0] == 0 and positional[1].rstrip().endswith("VERIFIED")
    assert positional[1].startswith(f"proof {audited.full}: model digits-a, full disclosure, 15 record(s)")
    # after the other flags, and with --json before the verb
    code, out, _ = run_cli(capsys, "--json", "verify", *key, str(audited.full))
    assert code == 0 and json.loads(out)["ok"] is True


def test_positional_failure_exits_1(audited: Audited, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = json.loads(audited.full.read_text())
    document["model_id"] = "digits-z"
    (tmp_path / "p.json").write_text(json.dumps(document))
    code, out, _ = run_cli(capsys, "verify", str(tmp_path / "p.json"))
    assert code == 1 and "FAILED: records: record 0 belongs to model 'digits-a', not 'digits-z'" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["verify", "{proof}", "--proof", "{proof}"], "give the proof file once: as FILE or as --proof FILE, not both"),
    (["verify"], "which proof? pot verify FILE (or --proof FILE)"),
    (["verify", "missing.json"], "no proof file at missing.json"),
    (["verify", "{proof}", "other.json"], "unrecognized arguments: other.json"),
])
def test_usage_errors_are_one_line_and_exit_2(audited: Audited, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str], argv: list[str],
                                              message: str) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, *(a.replace("{proof}", str(audited.full)) for a in argv))
    assert code == 2 and out == "" and message in err and len(err.strip().splitlines()) == 1
