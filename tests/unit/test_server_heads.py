"""The server signs a head from the log frontier it kept at its last signing plus the leaves appended since: the
root must be the root of the whole log however the appends interleave between processes (here two store objects
on one store, each with its own cache, as two server processes have), and the proof must verify."""

from __future__ import annotations

from pathlib import Path

import pytest

from pot.log.keys import SigningKey
from pot.log.merkle import root_of
from pot.log.store import open_store
from pot.log.verify import verify_proof
from pot.server import service
from tests.conftest import StoreTarget

pytestmark = pytest.mark.parametrize("store_target", ["sqlite", "postgresql"], indirect=True)


def batch(first: int, count: int) -> dict[str, object]:
    return {"records": [{"idempotency_key": f"k{epoch}", "type": "checkpoint",
                         "fields": {"model_hash": f"{epoch:064x}", "epoch": epoch, "metrics": {"loss": 0.5},
                                    "node_id": "n"}} for epoch in range(first, first + count)]}


def test_heads_from_a_kept_frontier_are_the_roots_of_the_whole_log(store_target: StoreTarget, tmp_path: Path) -> None:
    key = SigningKey.generate()
    one = open_store(store_target.database, root=store_target.root, create=True)
    other = open_store(store_target.database, root=store_target.root)
    sizes = []
    for store, first, count in ((one, 0, 5), (other, 5, 3), (one, 8, 7), (one, 15, 1), (other, 16, 9),
                                (one, 25, 0), (one, 0, 5)):  # an empty batch is refused; the last is all duplicates
        if count == 0:
            continue
        _, head = service.append_batch(store, key, "m", batch(first, count))
        assert head is not None
        leaves = one.snapshot("m").leaves
        assert head.head.tree_size == len(leaves) and head.head.root_hash == root_of(leaves).hex()
        sizes.append(head.head.tree_size)
    assert sizes == [5, 8, 15, 16, 25, 25]
    proof = service.proof(one, key, "m")
    assert verify_proof(proof, trusted_key=key.public).ok
    assert [h.head.tree_size for h in one.heads("m")] == [5, 8, 15, 16, 25]
