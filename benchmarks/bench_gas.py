"""What anchoring costs in gas: the seed's one storeHash per record next to pot's one anchor per batch.

    python benchmarks/bench_gas.py [--batches 1,10,100,1000] [--json]

Starts a real anvil (the pinned npm binary, via tests/support/anvil.py), deploys ProvenanceRegistry from the
committed artifact and sends real transactions, each signed locally. Every number printed is a receipt's
``gasUsed`` (the total a transaction pays for: 21,000 base, calldata, execution), measured in this run:

- ``storeHash`` with a 64-hex-character hash and 100 bytes of metadata, as the seed's client sent it once per
  record. The first call on a fresh contract pays once more to set the id counter; it is reported apart, and the
  per-record figures use calls after it.
- ``anchor(root, metaHash, treeSize)``, once per batch: one Merkle root stands for every record of the batch.
- Per record, at each batch size N: the seed's way sends N storeHash calls (their mean gas is reported); pot's
  way sends one anchor, so a record costs anchor gas / N.

Gas does not depend on the gas price or on anvil's timing, so one run is exact for this build of the contract,
except for a few units: roots are random, and a zero byte of calldata costs 4 gas where any other byte costs 16.
The anchor figure in the first table is the mean over the batches.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eth_account import Account
from web3 import Web3

from pot.anchors.ethereum import deploy_registry, load_artifact
from pot.config import ChainSettings, Secret
from tests.support.anvil import Anvil

METADATA = "m" * 100


class Sender:
    """Sends calls from one dev account with locally tracked nonces, then collects their receipts."""

    def __init__(self, node: Anvil, address: str) -> None:
        self.w3 = Web3(Web3.HTTPProvider(node.url))
        self.account = Account.from_key(node.private_keys[0])
        self.contract = self.w3.eth.contract(address=address, abi=load_artifact()["abi"])
        self.nonce = self.w3.eth.get_transaction_count(self.account.address, "pending")
        self.chain_id = node.chain_id

    def send_all(self, calls: list[Any]) -> list[int]:
        """Send every call (gas estimated on the first, with room), return each receipt's gasUsed, in order."""
        hashes = []
        gas = int(calls[0].estimate_gas({"from": self.account.address}) * 1.5)
        for call in calls:
            tx = call.build_transaction({"from": self.account.address, "nonce": self.nonce, "gas": gas,
                                         "chainId": self.chain_id, "maxFeePerGas": 10 * 10**9,
                                         "maxPriorityFeePerGas": 10**9})
            hashes.append(self.w3.eth.send_raw_transaction(self.account.sign_transaction(tx).raw_transaction))
            self.nonce += 1
        used = []
        for tx_hash in hashes:
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
            if receipt["status"] != 1:
                raise RuntimeError(f"transaction {tx_hash.hex()} reverted")
            used.append(int(receipt["gasUsed"]))
        return used


def measure(batches: list[int]) -> dict[str, Any]:
    with Anvil() as node:
        settings = ChainSettings(rpc_url=node.url, private_key=Secret(node.private_keys[0]))
        address = deploy_registry(settings)
        sender = Sender(node, address)
        c = sender.contract
        # the deployment is the only transaction of block 1 on a fresh anvil
        deploy_gas = int(sender.w3.eth.get_transaction_receipt(
            sender.w3.eth.get_block(1, full_transactions=True)["transactions"][0]["hash"])["gasUsed"])
        (first_store,) = sender.send_all([c.functions.storeHash(os.urandom(32).hex(), METADATA)])
        rows = []
        for size in batches:
            seed = sender.send_all([c.functions.storeHash(os.urandom(32).hex(), METADATA) for _ in range(size)])
            (anchor,) = sender.send_all([c.functions.anchor(os.urandom(32), os.urandom(32), size)])
            rows.append({
                "records": size,
                "seed_total_gas": sum(seed),
                "seed_gas_per_record": statistics.fmean(seed),
                "pot_total_gas": anchor,
                "pot_gas_per_record": anchor / size,
                "ratio": sum(seed) / anchor,
            })
        artifact = load_artifact()
        return {
            "chain": f"anvil (chain id {node.chain_id})",
            "compiler": artifact["compiler"]["version"],
            "settings": {k: artifact["compiler"]["settings"][k] for k in ("evmVersion", "optimizer")},
            "deploy_gas": deploy_gas,
            "store_hash_first_call_gas": first_store,
            "store_hash_gas": statistics.fmean(r["seed_gas_per_record"] for r in rows),
            "anchor_gas": statistics.fmean(r["pot_total_gas"] for r in rows),
            "batches": rows,
        }


def render(result: dict[str, Any]) -> str:
    lines = [
        f"gas measured on {result['chain']}; ProvenanceRegistry built with solc {result['compiler']}, "
        f"evm {result['settings']['evmVersion']}, optimizer {result['settings']['optimizer']['runs']} runs",
        "",
        f"{'call':<52}{'gas':>12}",
        f"{'deploy ProvenanceRegistry':<52}{result['deploy_gas']:>12,}",
        f"{'storeHash(64-hex hash, 100-byte metadata), first call':<52}{result['store_hash_first_call_gas']:>12,}",
        f"{'storeHash(64-hex hash, 100-byte metadata), later':<52}{result['store_hash_gas']:>12,.0f}",
        f"{'anchor(bytes32 root, bytes32 metaHash, uint64 size)':<52}{result['anchor_gas']:>12,.0f}",
        "",
        f"{'records':>8}  {'seed: storeHash each':>22}  {'pot: one anchor':>18}  {'seed / pot':>10}",
        f"{'':>8}  {'gas per record':>22}  {'gas per record':>18}",
    ]
    for row in result["batches"]:
        lines.append(f"{row['records']:>8,}  {row['seed_gas_per_record']:>22,.0f}  {row['pot_gas_per_record']:>18,.1f}"
                     f"  {row['ratio']:>9,.0f}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", default="1,10,100,1000",
                        help="comma-separated batch sizes (records per anchor); default 1,10,100,1000")
    parser.add_argument("--json", action="store_true", help="print the measurements as JSON instead of a table")
    args = parser.parse_args(argv)
    batches = [int(n) for n in args.batches.split(",") if n.strip()]
    if not batches or min(batches) < 1:
        parser.error("--batches needs positive integers")
    result = measure(batches)
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
