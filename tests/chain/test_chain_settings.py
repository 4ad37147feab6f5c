"""Chain settings show an RPC URL as scheme://host:port only, and never the private key, in every repr and str."""

from __future__ import annotations

import pytest

from pot.config import ChainSettings, ProvenanceConfig, Secret, endpoint_of, secret_url_parts
from pot.errors import UsageError

KEY = "0x" + "5e" * 32
HOSTED = [
    ("https://mainnet.infura.io/v3/0123456789abcdef0123456789abcdef", "https://mainnet.infura.io"),
    ("https://polygon-mainnet.g.alchemy.com/v2/AbCdEfGhIjKlMnOpQrStUv", "https://polygon-mainnet.g.alchemy.com"),
    ("https://rpcuser:s3cretpassw0rd@node.example.org:8545/", "https://node.example.org:8545"),
    ("https://node.example.org/rpc?apikey=QUERYSECRET123&x=1", "https://node.example.org"),
    ("http://[::1]:8545/key/IPV6SECRET999", "http://[::1]:8545"),
    ("http://127.0.0.1:8545#FRAGMENTSECRET", "http://127.0.0.1:8545"),
]
SECRETS = ("0123456789abcdef0123456789abcdef", "AbCdEfGhIjKlMnOpQrStUv", "rpcuser", "s3cretpassw0rd",
           "QUERYSECRET123", "IPV6SECRET999", "FRAGMENTSECRET", "5e" * 32)


@pytest.mark.parametrize(("url", "endpoint"), HOSTED)
def test_settings_show_only_the_endpoint(url: str, endpoint: str) -> None:
    settings = ChainSettings.resolve(environ={"RPC_URL": url, "PRIVATE_KEY": KEY}, dotenv=None)
    assert settings.rpc_url == url  # the value stays usable
    assert settings.private_key is not None and settings.private_key.reveal() == KEY
    assert endpoint_of(url) == endpoint
    for text in (repr(settings), str(settings), f"{settings}", f"{settings!r}"):
        assert f"rpc_url='{endpoint}'" in text
        for secret in SECRETS:
            assert secret not in text
    assert all(part not in endpoint for part in secret_url_parts(url))


def test_seed_config_hides_what_client_config_carries() -> None:
    config = ProvenanceConfig(blockchain_enabled=True, client_config={
        "rpc_url": HOSTED[0][0], "private_key": KEY, "contract_address": "0x" + "12" * 20})
    text = repr(config)
    assert "blockchain_enabled=True" in text and "https://mainnet.infura.io" in text and "0x" + "12" * 20 in text
    for secret in SECRETS:
        assert secret not in text and secret not in str(config)
    settings = ChainSettings.resolve(config.client_config, environ={}, dotenv=None)
    assert settings.rpc_url == HOSTED[0][0] and settings.private_key == Secret(KEY)


@pytest.mark.parametrize("url", ["not a url", "localhost:8545", "http://127.0.0.1:notaport/KEYKEYKEY", ""])
def test_odd_urls_show_as_the_rpc_endpoint(url: str) -> None:
    assert endpoint_of(url) == "the RPC endpoint"


@pytest.mark.parametrize(("name", "message"), [
    ("CHAIN_ID", "CHAIN_ID must be an integer"),
    ("CONFIRMATION_BLOCKS", "CONFIRMATION_BLOCKS must be an integer"),
    ("GAS_PRICE_GWEI", "GAS_PRICE_GWEI must be a number"),
])
def test_a_key_in_the_wrong_variable_is_not_echoed(name: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        ChainSettings.resolve(environ={name: "zz" + KEY[4:]}, dotenv=None)
    assert KEY[4:] not in str(caught.value)


@pytest.mark.parametrize("chain_id", ["0", "-1", str(2**63)])
def test_chain_id_setting_is_a_chain_id(chain_id: str) -> None:
    with pytest.raises(UsageError, match="CHAIN_ID must be between 1 and"):
        ChainSettings.resolve(environ={"CHAIN_ID": chain_id}, dotenv=None)



def test_contract_address_that_is_no_address_is_not_echoed() -> None:
    pytest.importorskip("web3")
    from pot.anchors.ethereum import EthereumAnchor

    settings = ChainSettings(rpc_url="http://127.0.0.1:9", private_key=Secret(KEY), contract_address=KEY)
    with pytest.raises(UsageError, match="CONTRACT_ADDRESS is not an Ethereum address") as caught:
        EthereumAnchor(settings)
    assert KEY[2:] not in str(caught.value)
