"""Aggregated anchoring by the server (pot/server/anchoring.py) on a real anvil: one transaction per interval for
the newest heads of every changed model, receipts with inclusion paths that verify offline and against the chain
(``--rpc``), one anchorer at a time among processes sharing a PostgreSQL database, an aggregate whose anchorer died
after sending finished without a second transaction, local anchors while the chain is down, and ``pot serve
--anchor-interval`` itself. Without a chain: tests/unit/test_server_anchoring.py."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from pot import verify_proof
from pot.anchors import aggregate
from pot.anchors.ethereum import EthereumAnchor, online_checker
from pot.anchors.localchain import LocalChainAnchor
from pot.config import ChainSettings, Secret
from pot.log.keys import SigningKey
from pot.log.store import LOCAL_CHAIN_NAME, LogStore, open_store
from pot.server import service
from pot.server.anchoring import PLAN_KEY, Anchorer
from tests.conftest import DeployedRegistry, StoreTarget
from tests.support.anvil import Anvil

pytestmark = pytest.mark.chain


def open_server_store(target: StoreTarget) -> tuple[LogStore, SigningKey]:
    from pot.recorder import settle_signing_key

    store = open_store(target.database, root=target.root, create=True)
    return store, settle_signing_key(store, target.root / "signing-key.pem").key


def chain_anchor(registry: DeployedRegistry, account: int) -> EthereumAnchor:
    node = registry.anvil
    return EthereumAnchor(ChainSettings(rpc_url=node.url, private_key=Secret(node.private_keys[account]),
                                        contract_address=registry.address, chain_id=node.chain_id))


def anchorer(store: LogStore, key: SigningKey, chain: EthereumAnchor | None) -> Anchorer:
    local = LocalChainAnchor(store.root / LOCAL_CHAIN_NAME, key, tips=store)
    return Anchorer(store, key, chain=chain, local=local, interval=60)


def record(store: LogStore, key: SigningKey, model_id: str, epoch: int) -> None:
    service.append_batch(store, key, model_id, {"records": [{
        "idempotency_key": f"{model_id}/{epoch}", "type": "checkpoint",
        "fields": {"model_hash": f"{epoch:064x}", "epoch": epoch, "metrics": {"loss": 1 / (epoch + 1)},
                   "fingerprint_hash": None, "validation_hash": None, "node_id": "rank-0"}}]})


def aggregate_receipts(store: LogStore, model_id: str) -> list[Any]:
    return [r for r in store.receipts(model_id) if r.backend == aggregate.BACKEND]


def check_proof(store: LogStore, key: SigningKey, model_id: str, node: Anvil) -> list[str]:
    """The served proof of ``model_id`` verifies offline and against the chain; the heads' strengths."""
    proof = service.proof(store, key, model_id)
    verify_proof(proof, trusted_key=key.public.hex)
    report = verify_proof(proof, trusted_key=key.public.hex, chain_checker=online_checker(node.url))
    return [h.strength for h in report.heads]


def test_each_interval_anchors_the_changed_models_in_one_transaction(
        deployed_registry: DeployedRegistry, tmp_path: Path) -> None:
    node = deployed_registry.anvil
    store, key = open_server_store(StoreTarget(tmp_path / "store", None))
    chain = chain_anchor(deployed_registry, 4)
    models = [f"team/model-{i}" for i in range(5)]
    for model_id in models:
        record(store, key, model_id, 0)

    first = anchorer(store, key, chain).run_once()
    assert [(a.backend, a.heads) for a in first] == [(aggregate.BACKEND, 5)]
    txs = {aggregate_receipts(store, m)[0].details["tx_hash"] for m in models}
    assert txs == {first[0].tx_hash}  # one transaction for all five
    indexes = sorted(aggregate_receipts(store, m)[0].details["leaf_index"] for m in models)
    assert indexes == list(range(5))
    for model_id in models:
        assert check_proof(store, key, model_id, node) == ["chain"]

    # Two models change; the next interval anchors exactly their newest heads, in a tree of two.
    record(store, key, models[1], 1)
    record(store, key, models[3], 1)
    record(store, key, models[3], 2)
    second = anchorer(store, key, chain).run_once()
    assert [(a.backend, a.heads) for a in second] == [(aggregate.BACKEND, 2)]
    assert second[0].tx_hash != first[0].tx_hash
    for model_id in (models[1], models[3]):
        latest = aggregate_receipts(store, model_id)[-1]
        assert latest.details["aggregate_size"] == 2 and latest.details["tx_hash"] == second[0].tx_hash
        assert latest.head_hash == store.latest_head(model_id).head.head_hash  # type: ignore[union-attr]
    # model-3's middle head (size 2) has no receipt of its own; the anchored head of size 3 covers it
    assert check_proof(store, key, models[3], node) == ["chain", "chain", "chain"]
    assert len(aggregate_receipts(store, models[0])) == 1  # unchanged: not anchored again
    assert anchorer(store, key, chain).run_once() == []  # nothing changed since


def test_a_tampered_aggregate_receipt_fails_against_the_chain(
        deployed_registry: DeployedRegistry, tmp_path: Path) -> None:
    """A receipt whose root the chain never saw fails --rpc even when its path and meta hash are consistent (the
    signer could compute those for an invented tree)."""
    from pot.anchors.base import AnchorReceipt
    from pot.errors import ChainCheckError
    from pot.log.proof import build_proof

    node = deployed_registry.anvil
    store, key = open_server_store(StoreTarget(tmp_path / "store", None))
    for model_id in ("a", "b", "c"):
        record(store, key, model_id, 0)
    anchorer(store, key, chain_anchor(deployed_registry, 4)).run_once()
    snapshot = store.snapshot("a")
    genuine = snapshot.receipts[-1]
    assert genuine.backend == aggregate.BACKEND
    # The signer invents a tree of three (its own head and two made up) and signs a receipt for it.
    invented = aggregate.Aggregate.build([genuine.head_hash, "11" * 32, "22" * 32])
    details = invented.details(0, {**genuine.details, "meta_hash": "0x" + invented.meta_hash(key.key_id).hex()})
    lie = AnchorReceipt.issue(aggregate.BACKEND, snapshot.heads[0].head, details, genuine.timestamp, key)
    forged = build_proof(model_id="a", record_bodies=snapshot.bodies, leaves=snapshot.leaves, heads=snapshot.heads,
                         receipts=[lie], key=key)
    verify_proof(forged, trusted_key=key.public.hex)  # offline it is only the signer's word ...
    with pytest.raises(ChainCheckError, match="another root"):  # ... which the chain refutes
        verify_proof(forged, trusted_key=key.public.hex, chain_checker=online_checker(node.url))

    # The genuine root with another size: a's path (leaf 0 of 3) is also its path in a tree of 4, so with the meta
    # hash recomputed it passes offline; the chain's event names the metaHash of the size really anchored.
    root = bytes.fromhex(genuine.details["aggregate_root"])
    resized = {**genuine.details, "aggregate_size": 4,
               "meta_hash": "0x" + aggregate.meta_hash(root, 4, key.key_id).hex()}
    lie = AnchorReceipt.issue(aggregate.BACKEND, snapshot.heads[0].head, resized, genuine.timestamp, key)
    forged = build_proof(model_id="a", record_bodies=snapshot.bodies, leaves=snapshot.leaves, heads=snapshot.heads,
                         receipts=[lie], key=key)
    verify_proof(forged, trusted_key=key.public.hex)
    with pytest.raises(ChainCheckError, match="another metaHash"):
        verify_proof(forged, trusted_key=key.public.hex, chain_checker=online_checker(node.url))


@pytest.mark.postgres
def test_two_servers_on_one_database_anchor_each_head_once(
        deployed_registry: DeployedRegistry, postgres_url: str, tmp_path: Path) -> None:
    target = StoreTarget(tmp_path / "store", postgres_url)
    stores = [open_server_store(target) for _ in range(2)]
    store, key = stores[0]
    models = [f"m{i}" for i in range(6)]
    for model_id in models:
        record(store, key, model_id, 0)
    # Two server processes' anchorers, each with its own store connection and the same chain account.
    anchorers = [anchorer(s, k, chain_anchor(deployed_registry, 6)) for s, k in stores]
    results: list[list[Any]] = [[], []]
    start = threading.Barrier(2)

    def run(i: int) -> None:
        start.wait()
        results[i] = anchorers[i].run_once()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done = [a for r in results for a in r]
    # Whoever got the lease anchored all six; the other found nothing left, or the lease taken.
    assert [(a.backend, a.heads) for a in done] == [(aggregate.BACKEND, 6)]
    for model_id in models:
        assert len(aggregate_receipts(store, model_id)) == 1
        assert check_proof(store, key, model_id, deployed_registry.anvil) == ["chain"]

    # While one server holds the lease (it is anchoring), the other anchors nothing, though heads are pending.
    record(store, key, "m0", 1)
    assert anchorers[0]._take_lease()
    assert anchorers[1].run_once() == []
    assert len(aggregate_receipts(store, "m0")) == 1
    anchorers[0]._release_lease()
    assert [(a.backend, a.heads) for a in anchorers[1].run_once()] == [(aggregate.BACKEND, 1)]


def test_an_aggregate_sent_by_a_process_that_died_is_finished_without_a_second_transaction(
        deployed_registry: DeployedRegistry, tmp_path: Path) -> None:
    node = deployed_registry.anvil
    store, key = open_server_store(StoreTarget(tmp_path / "store", None))
    for model_id in ("x", "y", "z"):
        record(store, key, model_id, 0)
    heads = sorted(store.pending_heads(aggregate.BACKEND, newest_only=True), key=lambda h: h.head.model_id)
    tree = aggregate.Aggregate.build([h.head.head_hash for h in heads])
    # What a dying anchorer did: the plan stored, the transaction sent and mined, no receipt stored.
    store.set_setting(PLAN_KEY, json.dumps({"root": tree.root.hex(),
                                            "heads": [[h.head.model_id, h.head.head_hash] for h in heads]}))
    chain = chain_anchor(deployed_registry, 7)
    sent = chain.anchor_root(tree.root, tree.meta_hash(key.key_id), tree.size)
    record(store, key, "y", 1)  # and a model changed since
    nonce = chain.w3.eth.get_transaction_count(chain.address)

    done = anchorer(store, key, chain_anchor(deployed_registry, 7)).run_once()
    assert [(a.backend, a.heads, a.tx_hash) for a in done] == [(aggregate.BACKEND, 3, sent["tx_hash"]),
                                                                (aggregate.BACKEND, 1, done[1].tx_hash)]
    # The plan's root was found on the chain, not sent again: one new transaction, for y's new head.
    assert chain.w3.eth.get_transaction_count(chain.address) == nonce + 1
    assert not store.get_setting(PLAN_KEY)
    for model_id in ("x", "z"):
        assert check_proof(store, key, model_id, node) == ["chain"]
    assert check_proof(store, key, "y", node) == ["chain", "chain"]


def test_an_unreachable_chain_anchors_locally_and_retries_the_aggregate(
        fresh_anvil: Anvil, tmp_path: Path) -> None:
    from pot.anchors.ethereum import deploy_registry
    from pot.errors import AnchorUnavailable

    node = fresh_anvil
    address = deploy_registry(ChainSettings(rpc_url=node.url, private_key=Secret(node.private_keys[9])))
    registry = DeployedRegistry(node, address)
    store, key = open_server_store(StoreTarget(tmp_path / "store", None))
    for model_id in ("u", "v"):
        record(store, key, model_id, 0)
    node.stop()
    down = anchorer(store, key, chain_anchor(registry, 3))
    with pytest.raises(AnchorUnavailable):
        down.run_once()
    assert all(len(store.receipts(m)) == 1 and store.receipts(m)[0].backend == "localchain" for m in ("u", "v"))
    assert store.get_setting(PLAN_KEY)  # kept for the retry: the next interval looks its root up first


def test_pot_serve_anchors_in_the_background_and_serves_proofs_with_the_receipts(
        deployed_registry: DeployedRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The real thing: `pot serve --anchor-interval 1` (uvicorn in a subprocess) with the chain in its environment;
    records sent over HTTP come back in proofs whose heads are dated by the chain."""
    import time

    from pot.cli import main
    from pot.log.proof import ProvenanceProof
    from tests.unit.test_server import checkpoint, make_token, start_server

    node = deployed_registry.anvil
    target = StoreTarget(tmp_path / "store", None)
    assert main([*target.cli(), "init"]) == 0
    writer = make_token(target, capsys, "", write=True)
    monkeypatch.setenv("RPC_URL", node.url)
    monkeypatch.setenv("PRIVATE_KEY", node.private_keys[8])
    monkeypatch.setenv("CONTRACT_ADDRESS", deployed_registry.address)
    # Three models have signed heads before the server starts, so its first interval finds all three.
    store, key = open_server_store(target)
    for model_id in ("alpha", "beta", "gamma"):
        record(store, key, model_id, 0)
    store.close()
    server = start_server(target, tmp_path, "--anchor-interval", "1")
    try:
        def send(model_id: str, epoch: int) -> None:
            answer = server.post(f"/v1/models/{model_id}/records", writer,
                                 json={"records": [checkpoint(f"http-{epoch}", epoch)]})
            assert answer.status_code == 200, answer.text

        def anchored(model_id: str, size: int) -> ProvenanceProof:
            deadline = time.monotonic() + 60
            while True:
                proof = ProvenanceProof.from_json(server.get(f"/v1/models/{model_id}/proof").content)
                sizes = {e.head.head_hash: e.head.tree_size for e in proof.tree_heads}
                if any(r.backend == aggregate.BACKEND and sizes[r.head_hash] == size for r in proof.anchors):
                    return proof
                assert time.monotonic() < deadline, f"{model_id} size {size} not anchored: {server.log.read_text()}"
                time.sleep(0.2)

        proofs = {m: anchored(m, 1) for m in ("alpha", "beta", "gamma")}
        public = SigningKey.load(target.root / "signing-key.pem").public  # out of band: the server's key file
        checker = online_checker(node.url)
        for proof in proofs.values():
            report = verify_proof(proof, trusted_key=public, chain_checker=checker)
            assert [h.strength for h in report.heads] == ["chain"]
        assert len({p.blockchain_transactions[0] for p in proofs.values()}) == 1  # one transaction for the three
        # and what an auditor runs: pot verify --rpc on the downloaded file
        saved = tmp_path / "gamma.proof.json"
        saved.write_bytes(server.get("/v1/models/gamma/proof").content)
        capsys.readouterr()
        assert main(["--json", "verify", "--proof", str(saved), "--trusted-key", public.hex, "--rpc", node.url]) == 0
        verdict = json.loads(capsys.readouterr().out)
        assert [(h["strength"], h["dated_by"]) for h in verdict["heads"]] == [("chain", "chain")]

        send("beta", 1)
        again = anchored("beta", 2)
        report = verify_proof(again, trusted_key=public, chain_checker=checker)
        assert [h.strength for h in report.heads] == ["chain", "chain"]
        assert again.anchors[-1].details["aggregate_size"] == 1
    finally:
        server.stop()


@pytest.mark.postgres
def test_pot_serve_workers_on_postgresql_anchor_each_interval_once(
        deployed_registry: DeployedRegistry, postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
        ) -> None:
    """`pot serve --workers 2` on one PostgreSQL database: both worker processes run an anchorer (the interval
    reaches them through the environment), and the heads are anchored once, in one transaction."""
    import time

    from pot.cli import main
    from pot.log.proof import ProvenanceProof
    from tests.unit.test_server import start_server

    node = deployed_registry.anvil
    target = StoreTarget(tmp_path / "store", postgres_url)
    assert main([*target.cli(), "init"]) == 0
    store, key = open_server_store(target)
    models = [f"org-m{i}" for i in range(4)]
    for model_id in models:
        record(store, key, model_id, 0)
    chain = chain_anchor(deployed_registry, 2)
    nonce = chain.w3.eth.get_transaction_count(chain.address)
    monkeypatch.setenv("RPC_URL", node.url)
    monkeypatch.setenv("PRIVATE_KEY", node.private_keys[2])
    monkeypatch.setenv("CONTRACT_ADDRESS", deployed_registry.address)
    server = start_server(target, tmp_path, "--workers", "2", "--anchor-interval", "1")
    try:
        deadline = time.monotonic() + 60
        while not all(aggregate_receipts(store, m) for m in models):
            assert time.monotonic() < deadline, server.log.read_text()
            time.sleep(0.2)
        time.sleep(3)  # a few more intervals of both workers: nothing changed, nothing is sent
        assert chain.w3.eth.get_transaction_count(chain.address) == nonce + 1
        assert {aggregate_receipts(store, m)[0].details["tx_hash"] for m in models} == {
            aggregate_receipts(store, models[0])[0].details["tx_hash"]}
        proof = ProvenanceProof.from_json(server.get("/v1/models/org-m3/proof").content)
        report = verify_proof(proof, trusted_key=key.public.hex, chain_checker=online_checker(node.url))
        assert [h.strength for h in report.heads] == ["chain"]
    finally:
        server.stop()
        store.close()
