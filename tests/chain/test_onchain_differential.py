"""Differential tests: the Solidity libraries (contracts/RFC9162.sol, contracts/PotRecord.sol), run on anvil through
eth_call, against pot's Python verifier on thousands of random trees, proofs and records, true and tampered. Not one
disagreement is allowed. Checks are batched (contracts/test/RFC9162Harness.sol) so the whole file takes seconds.

The seed is fixed so a failure reproduces; POT_DIFF_SEED picks another.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from web3 import Web3

from pot.log.canonical import canonical_json
from pot.log.merkle import EMPTY_ROOT, MerkleTree, hash_leaf, verify_consistency, verify_inclusion
from tests.support.anvil import ROOT, Anvil

pytestmark = pytest.mark.chain

SEED = int(os.environ.get("POT_DIFF_SEED", "20261201"))
BATCH = 200
UINT256_MAX = 2**256 - 1


@pytest.fixture(scope="module")
def harness(anvil: Anvil) -> Any:
    artifact = json.loads((ROOT / "contracts" / "build" / "RFC9162Harness.json").read_text())
    w3 = Web3(Web3.HTTPProvider(anvil.url, request_kwargs={"timeout": 120}))
    account = w3.eth.account.from_key(anvil.private_keys[6])
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    tx = factory.constructor().build_transaction({"from": account.address,
                                                  "nonce": w3.eth.get_transaction_count(account.address, "pending")})
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction), timeout=30)
    assert receipt["status"] == 1
    return w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])


def batches(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), BATCH):
        yield items[start:start + BATCH]


def _flip(value: bytes, rng: random.Random) -> bytes:
    bit = rng.randrange(len(value) * 8)
    return value[:bit // 8] + bytes([value[bit // 8] ^ (1 << (bit % 8))]) + value[bit // 8 + 1:]


def _sizes(rng: random.Random) -> list[int]:
    """Edge sizes (powers of two and their neighbours) and random ones, up to 1,100 leaves."""
    edges = sorted({s for k in range(11) for s in (2**k - 1, 2**k, 2**k + 1) if s >= 1})
    return edges + [rng.randrange(1, 1100) for _ in range(40)]


def _trees(rng: random.Random) -> list[MerkleTree]:
    return [MerkleTree([os.urandom(32) for _ in range(size)]) for size in _sizes(rng)]


InclusionCase = tuple[bytes, bytes, int, int, list[bytes]]  # root, leaf, index, size, path


def inclusion_cases(rng: random.Random, count: int) -> list[InclusionCase]:
    trees = _trees(rng)
    cases: list[InclusionCase] = []
    while len(cases) < count:
        tree = rng.choice(trees)
        size = rng.randrange(1, tree.size + 1)
        index = rng.randrange(size)
        root, leaf, path = tree.root(size), tree.levels[0][index], tree.inclusion_proof(index, size)
        kind = 0 if rng.random() < 0.5 else rng.randrange(1, 15)  # half of them tampered
        if kind == 1:
            leaf = _flip(leaf, rng)
        elif kind == 2 and path:
            i = rng.randrange(len(path))
            path[i] = _flip(path[i], rng)
        elif kind == 3 and path:
            del path[rng.randrange(len(path))]
        elif kind == 4:
            path.insert(rng.randrange(len(path) + 1), os.urandom(32))
        elif kind == 5 and len(path) > 1:
            i, j = rng.sample(range(len(path)), 2)
            path[i], path[j] = path[j], path[i]
        elif kind == 6:
            index = rng.choice([index - 1, index + 1, rng.randrange(size + 2), size, UINT256_MAX]) % (UINT256_MAX + 1)
        elif kind == 7:
            size = rng.choice([size - 1, size + 1, rng.randrange(1, 2 * size + 2), UINT256_MAX, 0])
        elif kind == 8:
            root = tree.root(rng.randrange(1, tree.size + 1))
        elif kind == 9:
            leaf = tree.levels[0][rng.randrange(tree.size)]
        elif kind == 10 and size > 1:
            path = tree.inclusion_proof(rng.randrange(size), size)
        elif kind == 11:
            # A smaller tree's claim about a larger tree's leaf: RFC 9162 roots do not fix the size (a 3-leaf root is
            # a 2-leaf root too), so some of these verify, in both implementations alike.
            index, size = index // 2, max(size // 2 + rng.randrange(2), 1)
        elif kind == 12:
            path = []
        elif kind == 13:
            leaf, root = root, leaf
        elif kind == 14:
            path = path + path
        cases.append((root, leaf, index, size, path))
    return cases


def test_inclusion_agrees_with_pot(harness: Any) -> None:
    rng = random.Random(SEED)
    cases = inclusion_cases(rng, 4000)
    expected = [verify_inclusion(leaf, index, size, path, root) for root, leaf, index, size, path in cases]
    answers: list[bool] = []
    for batch in batches(cases):
        roots, leaves, indices, sizes, paths = (list(column) for column in zip(*batch, strict=True))
        answers += harness.functions.verifyInclusionBatch(roots, leaves, indices, sizes, paths).call()
    disagreements = [(case, want) for case, want, got in zip(cases, expected, answers, strict=True) if want != got]
    assert not disagreements, f"{len(disagreements)} disagreement(s), first: {disagreements[0]}"
    assert 1500 < sum(expected) < 3000, "the cases must hold many true and many false proofs"


ConsistencyCase = tuple[int, int, bytes, bytes, list[bytes]]  # old size, new size, old root, new root, path


def consistency_cases(rng: random.Random, count: int) -> list[ConsistencyCase]:
    trees = _trees(rng)
    cases: list[ConsistencyCase] = []
    while len(cases) < count:
        tree = rng.choice(trees)
        new = rng.randrange(1, tree.size + 1)
        old = rng.randrange(0, new + 1)
        old_root, new_root, path = tree.root(old), tree.root(new), tree.consistency_proof(old, new)
        kind = 0 if rng.random() < 0.5 else rng.randrange(1, 11)  # half of them tampered
        if kind == 1:
            old_root = _flip(old_root, rng)
        elif kind == 2:
            new_root = _flip(new_root, rng)
        elif kind == 3 and path:
            i = rng.randrange(len(path))
            path[i] = _flip(path[i], rng)
        elif kind == 4 and path:
            del path[rng.randrange(len(path))]
        elif kind == 5:
            path.append(os.urandom(32))
        elif kind == 6:
            old = rng.choice([old - 1, old + 1, new + 1, 0, UINT256_MAX]) % (UINT256_MAX + 1)
        elif kind == 7:
            new = rng.choice([new - 1, new + 1, old, UINT256_MAX])
        elif kind == 8:
            old_root, new_root = new_root, old_root
        elif kind == 9:
            old, old_root, path = 0, EMPTY_ROOT, []
        elif kind == 10 and len(path) > 1:
            path.reverse()
        cases.append((old, new, old_root, new_root, path))
    return cases


def test_consistency_agrees_with_pot(harness: Any) -> None:
    rng = random.Random(SEED + 1)
    cases = consistency_cases(rng, 2000)
    expected = [verify_consistency(old, new, path, old_root, new_root) for old, new, old_root, new_root, path in cases]
    answers: list[bool] = []
    for batch in batches(cases):
        olds, news, old_roots, new_roots, paths = (list(column) for column in zip(*batch, strict=True))
        answers += harness.functions.verifyConsistencyBatch(olds, news, old_roots, new_roots, paths).call()
    disagreements = [(case, want) for case, want, got in zip(cases, expected, answers, strict=True) if want != got]
    assert not disagreements, f"{len(disagreements)} disagreement(s), first: {disagreements[0]}"
    assert 600 < sum(expected) < 1600


def test_leaf_hash_agrees_with_pot(harness: Any) -> None:
    rng = random.Random(SEED + 2)
    records = [b"", b"\x00", b"{}"] + [rng.randbytes(rng.randrange(0, 700)) for _ in range(500)]
    answers: list[bytes] = []
    for batch in batches(records):
        answers += [bytes(h) for h in harness.functions.leafHashBatch(list(batch)).call()]
    assert answers == [hash_leaf(r) for r in records]


# --- PotRecord.hasMember: a top-level member of a JCS object, found by bytes -------------------------------------

_KEYS = ["model_hash", "validator_id", "type", "seq", "validation_result", "a", "model_hash\\", 'x"model_hash']
_TRICKY = ['"model_hash":"m1"', 'm1', '\\', '\\"', '{"model_hash":"m1"}', ',"type":"validation"}', "m1\"",
           "é", "\u2028", "validation"]


def _value(rng: random.Random, depth: int) -> Any:
    kind = rng.randrange(9 if depth < 3 else 5)
    if kind == 0:
        return rng.choice(_TRICKY)
    if kind == 1:
        return rng.choice(["m1", "m2", "validation", "eval-bot"])
    if kind == 2:
        return rng.choice([0, 1, -7, 0.93, 1e21, 1e-7, True, False, None])
    if kind == 3:
        return "".join(rng.choice('ab"\\:,{}[]') for _ in range(rng.randrange(6)))
    if kind == 4:
        return rng.randrange(100)
    if kind in (5, 6):
        return {rng.choice(_KEYS): _value(rng, depth + 1) for _ in range(rng.randrange(4))}
    return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]


def member_cases(rng: random.Random, count: int) -> list[tuple[bytes, bytes, bool]]:
    cases: list[tuple[bytes, bytes, bool]] = []
    while len(cases) < count:
        record = {rng.choice(_KEYS): _value(rng, 1) for _ in range(rng.randrange(1, 7))}
        pick = rng.randrange(4)
        if pick == 0 and record:  # a real top-level member
            key = rng.choice(list(record))
            value = record[key]
        elif pick == 1:  # a member of some nested object, or made up
            nested = [v for v in record.values() if isinstance(v, dict) and v]
            source = rng.choice(nested) if nested else {rng.choice(_KEYS): _value(rng, 2)}
            key = rng.choice(list(source))
            value = source[key]
        else:
            key, value = rng.choice(_KEYS), _value(rng, 2)
        member = canonical_json({key: value})[1:-1]
        truth = key in record and canonical_json(record[key]) == canonical_json(value)
        cases.append((canonical_json(record), member, truth))
    # the texts a byte search would be fooled by
    for record, member, truth in [
        ({"a": {"model_hash": "m1"}, "type": "x"}, '"model_hash":"m1"', False),
        ({"a": '"model_hash":"m1"'}, '"model_hash":"m1"', False),
        ({"a": 'x","model_hash":"m1'}, '"model_hash":"m1"', False),
        ({"model_hash": "m1x"}, '"model_hash":"m1"', False),
        ({"model_hash": "m1", "z": 1}, '"model_hash":"m1"', True),
        ({"a": ["model_hash", "m1"], "validator_id": "eval-bot"}, '"validator_id":"eval-bot"', True),
        ({'x"model_hash': "m1"}, '"model_hash":"m1"', False),
        ({"a\\": {"b": 1}, "model_hash": "m1"}, '"model_hash":"m1"', True),
    ]:
        cases.append((canonical_json(record), member.encode(), truth))
    return cases


def test_has_member_agrees_with_a_json_parser(harness: Any) -> None:
    rng = random.Random(SEED + 3)
    cases = member_cases(rng, 3000)
    answers: list[bool] = []
    for batch in batches(cases):
        records, members, _ = (list(column) for column in zip(*batch, strict=True))
        answers += harness.functions.hasMemberBatch(records, members).call()
    disagreements = [case for case, got in zip(cases, answers, strict=True) if case[2] != got]
    assert not disagreements, f"{len(disagreements)} disagreement(s), first: {disagreements[0]}"
    truths = sum(case[2] for case in cases)
    assert 500 < truths < 2500
