"""What a newcomer reads first: every flag explained, the exit codes once, and no step that asks for more than it
needs (a passphrase to show a public key, a flag that is the only mode)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from pot.cli import EXIT_CODES_HELP, build_parser, main


def parsers(parser: argparse.ArgumentParser, path: str = "pot") -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += parsers(sub, f"{path} {name}")
    return found


def test_every_flag_and_argument_says_what_it_is() -> None:
    missing = [f"{path} {'/'.join(action.option_strings) or action.dest}"
               for path, parser in parsers(build_parser()) for action in parser._actions
               if not isinstance(action, argparse._SubParsersAction | argparse._HelpAction | argparse._VersionAction)
               and not action.help]
    assert missing == []


def test_the_exit_codes_are_explained_once(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert EXIT_CODES_HELP.strip() in capsys.readouterr().out
    for verb in ("checkpoint", "verify", "runs", "anchor"):
        assert main([verb, "--help"]) == 0
        out = capsys.readouterr().out
        assert EXIT_CODES_HELP.strip() not in out and "exit codes: 0 ok, 1 verification failed" in out


def test_anchor_needs_no_flag_for_its_only_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("RPC_URL", "CONTRACT_ADDRESS", "PRIVATE_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert main(["init"]) == 0
    capsys.readouterr()
    for argv in (["anchor"], ["anchor", "--pending"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "no chain configured" in err and "required" not in err


def test_the_public_key_is_shown_without_the_passphrase(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("POT_KEY_PASSPHRASE", "correct horse")
    assert main(["init"]) == 0
    public = capsys.readouterr().out.split("public key")[1].split()[0]
    monkeypatch.delenv("POT_KEY_PASSPHRASE")
    assert main(["key", "public"]) == 0
    assert capsys.readouterr().out.strip() == public
    # a .pub that is not this store's key is not trusted: the key itself is asked (and is locked)
    (tmp_path / ".pot" / "signing-key.pub").write_text("01" * 32 + "\n")
    assert main(["key", "public"]) == 3
    assert "POT_KEY_PASSPHRASE" in capsys.readouterr().err


@pytest.mark.parametrize(("url", "message"), [
    ("htp:/localhost", "must start with http://, https://, ws:// or wss:// (it starts with 'htp')"),
    ("http:/localhost", "no host after http:// (a missing slash?)"),
    ("http://[::1", "is not a URL"),
])
def test_a_mistyped_rpc_url_is_named_not_echoed(url: str, message: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    capsys.readouterr()
    monkeypatch.setenv("RPC_URL", url)
    assert main(["anchor"]) == 2
    err = capsys.readouterr().err
    assert message in err and "localhost" not in err and len(err.strip().splitlines()) == 1
