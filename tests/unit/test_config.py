"""Configuration: the .env reader, where each chain setting comes from, and secrets that never show."""

from __future__ import annotations

from pathlib import Path

import pytest

from pot.config import ChainSettings, ProvenanceConfig, Secret, read_dotenv
from pot.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_env_example_reads_as_empty_settings() -> None:
    values = read_dotenv(ROOT / ".env.example")
    assert values["RPC_URL"] == "" and values["PRIVATE_KEY"] == "" and values["CONFIRMATION_BLOCKS"] == "2"
    assert set(values) >= {"RPC_URL", "PRIVATE_KEY", "CONTRACT_ADDRESS", "BLOCKCHAIN_CLIENT_TYPE", "GAS_PRICE_GWEI",
                           "CONFIRMATION_BLOCKS", "FORCE_LOCAL_BLOCKCHAIN"}
    settings = ChainSettings.resolve(environ={}, dotenv=ROOT / ".env.example")
    assert not settings.wants_chain and settings.private_key is None


def test_dotenv_forms(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("# comment\nexport A=1\nB = 'two words'\nC=\"x # not a comment\"\nD=4 # comment\nE=\n")
    assert read_dotenv(env) == {"A": "1", "B": "two words", "C": "x # not a comment", "D": "4", "E": ""}
    env.write_text("not a setting\n")
    with pytest.raises(UsageError, match=r"\.env:1: expected KEY=value"):
        read_dotenv(env)


def test_precedence_argument_then_environment_then_dotenv_then_store(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("RPC_URL=http://dotenv\nCONTRACT_ADDRESS=0xdotenv\nGAS_PRICE_GWEI=3\n")
    settings = ChainSettings.resolve({"rpc_url": "http://argument"}, environ={"CONTRACT_ADDRESS": "0xenv"},
                                     dotenv=env, saved={"contract_address": "0xsaved", "chain_id": "137"})
    assert settings.rpc_url == "http://argument" and settings.contract_address == "0xenv"
    assert settings.gas_price_gwei == 3.0 and settings.chain_id == 137 and settings.wants_chain
    forced = ChainSettings.resolve(environ={"RPC_URL": "http://x", "FORCE_LOCAL_BLOCKCHAIN": "true"}, dotenv=None)
    assert not forced.wants_chain


@pytest.mark.parametrize(("environ", "message"), [
    ({"BLOCKCHAIN_CLIENT_TYPE": "ipfs"}, "BLOCKCHAIN_CLIENT_TYPE must be auto, web3 or local"),
    ({"GAS_PRICE_GWEI": "-1"}, "GAS_PRICE_GWEI must be a positive number"),
    ({"CONFIRMATION_BLOCKS": "many"}, "chain settings"),
    ({"FORCE_LOCAL_BLOCKCHAIN": "perhaps"}, "FORCE_LOCAL_BLOCKCHAIN must be true or false"),
])
def test_bad_settings_are_one_clear_line(environ: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        ChainSettings.resolve(environ=environ, dotenv=None)


def test_secrets_never_show() -> None:
    key = "0x" + "ab" * 32
    settings = ChainSettings.resolve(environ={"PRIVATE_KEY": key, "RPC_URL": "http://x"}, dotenv=None)
    assert isinstance(settings.private_key, Secret) and settings.private_key.reveal() == key
    for text in (repr(settings), str(settings), repr(settings.private_key), f"{settings.private_key}"):
        assert "ab" * 32 not in text


def test_config_checks_its_numbers() -> None:
    with pytest.raises(UsageError, match="step_block must be a positive integer"):
        ProvenanceConfig(step_block=0)
    with pytest.raises(UsageError, match="must be >= 0"):
        ProvenanceConfig(chain_interval=-1)
