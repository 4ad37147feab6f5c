"""The RFC 9162 tree: known roots, an independent oracle (pymerkle), a naive reference, and attacks."""

from __future__ import annotations

import hashlib
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymerkle import InmemoryTree
from pymerkle import verify_consistency as pm_verify_consistency

from pot.log.merkle import (
    EMPTY_ROOT,
    Frontier,
    MerkleTree,
    hash_children,
    hash_leaf,
    root_of,
    verify_consistency,
    verify_inclusion,
)

# The reference inputs of RFC 6962's test data (certificate-transparency), and the roots of their prefixes.
RFC6962_LEAVES = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43",
                  bytes(range(0x50, 0x58)), bytes(range(0x60, 0x70))]
RFC6962_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


# --- a naive reference, written straight from the RFC's recursive definitions -------------------------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_root(leaves: list[bytes]) -> bytes:
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = _k(n)
    return hash_children(naive_root(leaves[:k]), naive_root(leaves[k:]))


def naive_path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return naive_path(m, leaves[:k]) + [naive_root(leaves[k:])]
    return naive_path(m - k, leaves[k:]) + [naive_root(leaves[:k])]


def naive_subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [naive_root(leaves)]
    k = _k(n)
    if m <= k:
        return naive_subproof(m, leaves[:k], complete) + [naive_root(leaves[k:])]
    return naive_subproof(m - k, leaves[k:], False) + [naive_root(leaves[:k])]


def leaves_of(data: list[bytes]) -> list[bytes]:
    return [hash_leaf(d) for d in data]


# --- tests ------------------------------------------------------------------------------------------------------


def test_rfc6962_reference_roots() -> None:
    tree = MerkleTree(leaves_of(RFC6962_LEAVES))
    for size, expected in enumerate(RFC6962_ROOTS, 1):
        assert tree.root(size).hex() == expected


def test_empty_tree_root_is_hash_of_nothing() -> None:
    assert MerkleTree([]).root() == EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert Frontier().root() == EMPTY_ROOT


def test_leaf_and_node_hashes_use_rfc9162_prefixes() -> None:
    assert hash_leaf(b"x") == hashlib.sha256(b"\x00x").digest()
    assert hash_children(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()


@pytest.mark.parametrize("n", [*range(1, 40), 63, 64, 65, 100, 127, 128, 129, 257])
def test_fast_tree_matches_naive_reference(n: int) -> None:
    leaves = leaves_of([os.urandom(8) for _ in range(n)])
    tree = MerkleTree(leaves)
    frontier = Frontier()
    for size in range(1, n + 1):
        frontier.append(leaves[size - 1])
        expected = naive_root(leaves[:size])
        assert tree.root(size) == expected == frontier.root()
    for index in range(n):
        assert tree.inclusion_proof(index) == naive_path(index, leaves)
    for old in range(1, n):
        assert tree.consistency_proof(old) == naive_subproof(old, leaves, True)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 31, 32, 33, 70])
def test_pymerkle_agrees_on_every_root_and_proof(n: int) -> None:
    data = [os.urandom(n % 7 + i % 5) for i in range(n)]
    ours = MerkleTree(leaves_of(data))
    theirs = InmemoryTree(algorithm="sha256")
    for item in data:
        theirs.append_entry(item)
    for size in range(1, n + 1):
        root = ours.root(size)
        assert root == theirs.get_root(size)
        for index in range(size):
            # pymerkle's path starts with the leaf itself and counts leaves from 1.
            path = theirs.prove_inclusion(index + 1, size).serialize()["path"]
            assert path[0] == ours.levels[0][index].hex()
            assert [h.hex() for h in ours.inclusion_proof(index, size)] == path[1:]
            assert verify_inclusion(ours.levels[0][index], index, size, ours.inclusion_proof(index, size), root)
        for old in range(1, size):
            # pymerkle writes consistency proofs in its own layout; each side must accept the same pair of roots.
            pm_verify_consistency(ours.root(old), root, theirs.prove_consistency(old, size))
            assert verify_consistency(old, size, ours.consistency_proof(old, size), ours.root(old), root)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=16), min_size=1, max_size=80), st.data())
def test_proofs_verify_and_fail_when_altered(data: list[bytes], draw: st.DataObject) -> None:
    leaves = leaves_of(data)
    tree = MerkleTree(leaves)
    n = len(leaves)
    index = draw.draw(st.integers(0, n - 1))
    path = tree.inclusion_proof(index)
    root = tree.root()
    assert verify_inclusion(leaves[index], index, n, path, root)
    assert not verify_inclusion(hash_leaf(b"other" + data[index]), index, n, path, root)
    if path:
        broken = list(path)
        broken[draw.draw(st.integers(0, len(path) - 1))] = bytes(32)
        assert not verify_inclusion(leaves[index], index, n, broken, root)
        assert not verify_inclusion(leaves[index], index, n, path[:-1], root)
    old = draw.draw(st.integers(1, n))
    proof = tree.consistency_proof(old)
    assert verify_consistency(old, n, proof, tree.root(old), root)
    if old < n:
        assert not verify_consistency(old, n, proof, hash_leaf(b"forged"), root)
        assert not verify_consistency(old, n, proof, tree.root(old), hash_leaf(b"forged"))
        broken = list(proof)
        broken[draw.draw(st.integers(0, len(proof) - 1))] = hash_leaf(b"forged")
        assert not verify_consistency(old, n, broken, tree.root(old), root)


def test_inclusion_rejects_index_outside_tree() -> None:
    tree = MerkleTree(leaves_of([b"a", b"b", b"c"]))
    assert not verify_inclusion(tree.levels[0][0], 3, 3, tree.inclusion_proof(0), tree.root())
    assert not verify_inclusion(tree.levels[0][0], 0, 0, [], tree.root())
    with pytest.raises(ValueError, match="not in a tree"):
        tree.inclusion_proof(3)


def test_second_preimage_an_inner_node_is_not_a_leaf() -> None:
    """An attacker presenting an inner node's children as a 64-byte 'record' must not reproduce the root."""
    data = [b"a", b"b", b"c", b"d"]
    tree = MerkleTree(leaves_of(data))
    left, right = tree.levels[1][0], tree.levels[1][1]
    forged = [left + right]  # one leaf whose content is the two children
    assert root_of(leaves_of(forged)) != tree.root()
    # And the node itself used as a leaf hash in a 2-leaf tree does not give the 4-leaf root either.
    assert not verify_inclusion(hash_leaf(left + right), 0, 1, [], tree.root())


def test_odd_node_is_never_duplicated() -> None:
    """Bitcoin's CVE-2012-2459: [a, b, c] and [a, b, c, c] must have different roots."""
    three = leaves_of([b"a", b"b", b"c"])
    four = leaves_of([b"a", b"b", b"c", b"c"])
    assert root_of(three) != root_of(four)


def test_consistency_edge_cases() -> None:
    tree = MerkleTree(leaves_of([b"a", b"b", b"c"]))
    assert verify_consistency(3, 3, [], tree.root(), tree.root())
    assert not verify_consistency(3, 3, [tree.root()], tree.root(), tree.root())
    assert verify_consistency(0, 3, [], EMPTY_ROOT, tree.root())
    assert not verify_consistency(2, 1, [], tree.root(2), tree.root(1))
    assert not verify_consistency(1, 3, [], tree.root(1), tree.root())
