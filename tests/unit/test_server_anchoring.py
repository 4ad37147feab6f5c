"""The server's anchorer without a chain (pot/server/anchoring.py): each interval, the newest head of every changed
model goes to the local chain file, on SQLite and PostgreSQL; ``pot serve --anchor-interval`` refuses a bad value in
one line. With a chain (anvil): tests/chain/test_aggregate_anchoring.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from pot import verify_proof
from pot.anchors.localchain import LocalChainAnchor
from pot.cli import main
from pot.log.keys import SigningKey
from pot.log.store import LOCAL_CHAIN_NAME, LogStore, open_store
from pot.recorder import settle_signing_key
from pot.server import service
from pot.server.anchoring import Anchorer

from ..conftest import StoreTarget


def record(store: LogStore, key: SigningKey, model_id: str, epoch: int) -> None:
    service.append_batch(store, key, model_id, {"records": [{
        "idempotency_key": f"{model_id}/{epoch}", "type": "checkpoint",
        "fields": {"model_hash": f"{epoch:064x}", "epoch": epoch, "metrics": {}, "fingerprint_hash": None,
                   "validation_hash": None, "node_id": "rank-0"}}]})


def test_without_a_chain_the_changed_heads_go_to_the_local_chain(store_target: StoreTarget) -> None:
    store = open_store(store_target.database, root=store_target.root, create=True)
    key = settle_signing_key(store, store_target.root / "signing-key.pem").key

    def anchorer() -> Anchorer:
        local = LocalChainAnchor(store.root / LOCAL_CHAIN_NAME, key, tips=store)
        return Anchorer(store, key, chain=None, local=local, interval=60)

    for model_id in ("p", "q"):
        record(store, key, model_id, 0)
    assert [(a.backend, a.heads) for a in anchorer().run_once()] == [("localchain", 2)]
    record(store, key, "q", 1)
    record(store, key, "q", 2)
    assert [(a.backend, a.heads) for a in anchorer().run_once()] == [("localchain", 1)]  # q's newest head only
    for model_id, strengths in (("p", ["local"]), ("q", ["local", "local", "local"])):
        report = verify_proof(service.proof(store, key, model_id), trusted_key=key.public.hex,
                              local_chain=store.root / LOCAL_CHAIN_NAME)
        assert [h.strength for h in report.heads] == strengths
    assert [r.backend for r in store.receipts("q")] == ["localchain", "localchain"]
    assert anchorer().run_once() == []
    store.close()


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "soon"])
def test_serve_refuses_a_bad_anchor_interval_in_one_line(value: str, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--store", str(tmp_path), "serve", "--anchor-interval", value]) == 2
    err = capsys.readouterr().err
    assert "--anchor-interval" in err and "Traceback" not in err and err.count("\n") == 1
