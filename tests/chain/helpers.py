"""Small helpers for chain tests: a web3 handle on a registry, sending calls signed locally, tree heads."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eth_account import Account
from web3 import Web3

from pot.anchors.ethereum import load_artifact
from pot.log.heads import SignedTreeHead, TreeHead
from pot.log.keys import SigningKey
from pot.log.records import format_timestamp
from tests.support.anvil import Anvil


@dataclass
class Registry:
    w3: Web3
    contract: Any
    account: Any

    @classmethod
    def at(cls, node: Anvil, address: str, account: int = 0) -> Registry:
        w3 = Web3(Web3.HTTPProvider(node.url))
        contract = w3.eth.contract(address=address, abi=load_artifact()["abi"])
        return cls(w3, contract, Account.from_key(node.private_keys[account]))

    def transact(self, call: Any, gas: int | None = None) -> Any:
        """Sign ``call`` locally, send it, return its receipt (status unchecked)."""
        params: dict[str, Any] = {"from": self.account.address,
                                  "nonce": self.w3.eth.get_transaction_count(self.account.address, "pending")}
        if gas is not None:
            params["gas"] = gas
        tx = call.build_transaction(params)
        tx_hash = self.w3.eth.send_raw_transaction(self.account.sign_transaction(tx).raw_transaction)
        return self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)


def signed_head(key: SigningKey | None = None, *, size: int = 1, model_id: str = "model-1",
                root: str | None = None) -> SignedTreeHead:
    key = key or SigningKey.generate()
    head = TreeHead(model_id=model_id, tree_size=size, root_hash=root or os.urandom(32).hex(), prev_head=None,
                    timestamp=format_timestamp(datetime.now(UTC)), key_id=key.key_id)
    return SignedTreeHead.sign(head, key)
