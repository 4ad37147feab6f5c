"""Gas per anchored head when the server aggregates: 1, 10 and 100 models changing per interval.

    python benchmarks/bench_aggregate_gas.py [--json]

Starts a real anvil (the pinned npm binary), deploys ProvenanceRegistry from the committed build, and for each
number of models N: appends a checkpoint to N models' logs in a fresh SQLite store (the server's own append and
head-signing code, pot.server.service), runs one anchoring interval of the server's anchorer
(pot.server.anchoring.Anchorer.run_once) and reads the gas the one anchoring transaction used from its receipt.
Gas per head is that divided by N; the per-model figure it replaces is one ``anchor`` transaction per model, so
the ratio to N = 1 is measured in the same run. Every head's proof is verified against the chain (``--rpc``) before
its number counts. Target (issue #10): at most 1,000 gas per head with 100 models.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from web3 import Web3

from pot import verify_proof
from pot.anchors.ethereum import EthereumAnchor, deploy_registry, online_checker
from pot.anchors.localchain import LocalChainAnchor
from pot.config import ChainSettings, Secret
from pot.log.store import LOCAL_CHAIN_NAME, open_store
from pot.recorder import settle_signing_key
from pot.server import service
from pot.server.anchoring import Anchorer
from tests.support.anvil import Anvil

MODELS = (1, 10, 100)
TARGET = 1_000


def measure(node: Anvil, address: str, models: int, workdir: Path) -> dict[str, Any]:
    root = workdir / f"store-{models}"
    store = open_store(None, root=root, create=True)
    key = settle_signing_key(store, root / "signing-key.pem").key
    for i in range(models):
        service.append_batch(store, key, f"team/model-{i:03d}", {"records": [{
            "idempotency_key": "k0", "type": "checkpoint",
            "fields": {"model_hash": "ab" * 32, "epoch": 0, "metrics": {"loss": 0.5}, "fingerprint_hash": None,
                       "validation_hash": None, "node_id": "rank-0"}}]})
    chain = EthereumAnchor(ChainSettings(rpc_url=node.url, private_key=Secret(node.private_keys[1]),
                                         contract_address=address, chain_id=node.chain_id))
    anchorer = Anchorer(store, key, chain=chain, local=LocalChainAnchor(root / LOCAL_CHAIN_NAME, key, tips=store),
                        interval=60)
    done = anchorer.run_once()
    if len(done) != 1 or done[0].heads != models:
        raise SystemExit(f"expected one aggregate of {models} heads, got {done}")
    w3 = Web3(Web3.HTTPProvider(node.url))
    gas = int(w3.eth.get_transaction_receipt(done[0].tx_hash)["gasUsed"])  # type: ignore[arg-type]
    checker = online_checker(node.url)
    for model_id in store.models():
        report = verify_proof(service.proof(store, key, model_id), trusted_key=key.public.hex,
                              chain_checker=checker)
        if [h.strength for h in report.heads] != ["chain"]:
            raise SystemExit(f"{model_id}: not dated by the chain: {report.heads}")
    store.close()
    return {"models": models, "tx_gas": gas, "gas_per_head": gas / models}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with Anvil() as node, tempfile.TemporaryDirectory() as tmp:
        address = deploy_registry(ChainSettings(rpc_url=node.url, private_key=Secret(node.private_keys[9])))
        rows = [measure(node, address, n, Path(tmp)) for n in MODELS]
    single = rows[0]["tx_gas"]
    for row in rows:
        row["vs_one_tx_per_model"] = row["gas_per_head"] / single
    hundred = next(r for r in rows if r["models"] == 100)
    result = {"rows": rows, "target_gas_per_head_at_100": TARGET, "met": hundred["gas_per_head"] <= TARGET}
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print("models per interval | gas of the one transaction | gas per anchored head | vs one tx per model")
        for row in rows:
            print(f"{row['models']:>19} | {row['tx_gas']:>26,} | {row['gas_per_head']:>21,.1f} | "
                  f"{row['vs_one_tx_per_model']:.4f}")
        print(f"target: at most {TARGET:,} gas per head with 100 models: {'met' if result['met'] else 'NOT met'}")
    return 0 if result["met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
