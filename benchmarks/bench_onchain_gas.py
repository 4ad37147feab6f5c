"""What an on-chain record check costs in gas, at tree sizes 2^10, 2^20 and 2^30.

    python benchmarks/bench_onchain_gas.py [--json]

Starts a real anvil (the pinned npm binary), deploys ProvenanceRegistry and the test harness from the committed
builds, anchors one root per size and measures, per size:

- ``verifyInclusion`` (library): the gas the RFC 9162 walk itself uses for a leaf hash given, measured inside the
  EVM with gasleft() around the library call (contracts/test/RFC9162Harness.sol): one SHA-256 precompile call per
  level, nothing else. This is the figure the target (15,000 gas at 2^20 leaves) is about.
- ``checkLeaf`` and ``checkRecord`` as transactions: eth_estimateGas of a transaction calling the registry's view
  (what a contract pays to call it, plus the 21,000 every transaction pays and the calldata: 32 bytes per level of
  path, and for checkRecord the record's bytes). The record is a typical validation record (JCS, 324 bytes).

A tree of 2^30 leaves cannot be built here, and gas does not depend on which hashes a path holds, only on its
length and the index's bits: each path is random hashes, its root computed by the same walk pot's verifier makes
(the script checks pot.log.merkle.verify_inclusion accepts it), at the last index, where the path is full length.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from web3 import Web3

from pot.anchors.ethereum import deploy_registry, load_artifact
from pot.config import ChainSettings, Secret
from pot.log.canonical import canonical_json
from pot.log.merkle import hash_children, hash_leaf, verify_inclusion
from tests.support.anvil import Anvil

SIZES = (2**10, 2**20, 2**30)
RECORD = {"type": "validation", "model_id": "digits-mlp/20261130T185559235453Z", "seq": 41,
          "timestamp": "2026-11-30T18:56:01.123456Z", "model_hash": "5e" * 32, "validator_id": "eval-bot",
          "validation_result": {"accuracy": 0.956, "samples": 360}, "confidence_score": 0.95, "challenge_hash": None}


def root_from_path(leaf: bytes, index: int, size: int, path: list[bytes]) -> bytes:
    """The root an RFC 9162 path gives (the verification walk of section 2.1.3.2, returning its result)."""
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if fn & 1 or fn == sn:
            r = hash_children(p, r)
            while fn & 1 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = hash_children(r, p)
        fn >>= 1
        sn >>= 1
    return r


def measure() -> dict[str, Any]:
    record = canonical_json(RECORD)
    with Anvil() as node:
        w3 = Web3(Web3.HTTPProvider(node.url))
        account = w3.eth.account.from_key(node.private_keys[0])
        registry = w3.eth.contract(address=deploy_registry(ChainSettings(rpc_url=node.url,
                                                                         private_key=Secret(node.private_keys[0]))),
                                   abi=load_artifact()["abi"])
        harness_build = json.loads((ROOT / "contracts" / "build" / "RFC9162Harness.json").read_text())

        def send(fn: Any) -> Any:
            tx = fn.build_transaction({"from": account.address,
                                       "nonce": w3.eth.get_transaction_count(account.address, "pending")})
            receipt = w3.eth.wait_for_transaction_receipt(
                w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction), timeout=60)
            if receipt["status"] != 1:
                raise RuntimeError("a transaction reverted")
            return receipt

        created = send(w3.eth.contract(abi=harness_build["abi"], bytecode=harness_build["bytecode"]).constructor())
        harness = w3.eth.contract(address=created["contractAddress"], abi=harness_build["abi"])
        rows = []
        anchors = []
        for size in SIZES:
            index = size - 1
            path = [os.urandom(32) for _ in range((size - 1).bit_length())]
            leaf = hash_leaf(record)
            root = root_from_path(leaf, index, size, path)
            if not verify_inclusion(leaf, index, size, path, root):
                raise RuntimeError("pot's verifier refuses the benchmark's path")
            anchors.append(int(send(registry.functions.anchor(root, os.urandom(32), size))["gasUsed"]))
            ok, library = harness.functions.inclusionGas(root, leaf, index, size, path).call()
            ok_record, library_record = harness.functions.recordInclusionGas(root, record, index, size, path).call()
            if not (ok and ok_record):
                raise RuntimeError("the contract refuses the benchmark's path")
            who = {"from": account.address}
            rows.append({
                "tree_size": size,
                "levels": len(path),
                "verify_inclusion_gas": int(library),
                "leaf_and_inclusion_gas": int(library_record),
                "check_leaf_tx_gas": int(registry.functions.checkLeaf(account.address, root, leaf, index, path)
                                         .estimate_gas(who)),
                "check_record_tx_gas": int(registry.functions.checkRecord(account.address, root, record, index,
                                                                          path).estimate_gas(who)),
            })
        artifact = load_artifact()
        return {"chain": f"anvil (chain id {node.chain_id})", "compiler": artifact["compiler"]["version"],
                "record_bytes": len(record), "anchor_gas": anchors, "sizes": rows}


def render(result: dict[str, Any]) -> str:
    lines = [f"gas measured on {result['chain']}; contracts built with solc {result['compiler']}",
             f"anchor(root, metaHash, treeSize): {', '.join(f'{g:,}' for g in result['anchor_gas'])}", "",
             f"{'leaves':>14}  {'levels':>6}  {'verifyInclusion':>15}  {'+ leafHash':>10}  {'checkLeaf tx':>12}  "
             f"{'checkRecord tx':>14}",
             f"{'':>14}  {'':>6}  {'(in the EVM)':>15}  {'(' + str(result['record_bytes']) + ' B)':>10}  "
             f"{'(estimate)':>12}  {'(estimate)':>14}"]
    for row in result["sizes"]:
        lines.append(f"{row['tree_size']:>14,}  {row['levels']:>6}  {row['verify_inclusion_gas']:>15,}  "
                     f"{row['leaf_and_inclusion_gas']:>10,}  {row['check_leaf_tx_gas']:>12,}  "
                     f"{row['check_record_tx_gas']:>14,}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the measurements as JSON instead of a table")
    args = parser.parse_args(argv)
    result = measure()
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
