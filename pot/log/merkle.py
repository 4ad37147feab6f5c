"""An RFC 9162 (Certificate Transparency v2) Merkle tree with inclusion and consistency proofs.

Frozen by proof format v1: SHA-256, leaf hash ``H(0x00 || data)``, node hash ``H(0x01 || left || right)``, a
tree of ``n`` leaves splits at the largest power of two below ``n``, and an odd node is carried up unchanged
(never paired with itself, which would let ``[a, b, c]`` and ``[a, b, c, c]`` share a root). The hash
algorithm is fixed here, never read from a proof.

Everything works on leaf *hashes* (32-byte ``bytes``). Building the levels of a tree costs one hash per node;
after that a root of any prefix, an inclusion path or a consistency path costs O(log n) lookups.
pymerkle serves as an independent oracle in the test suite (tests/unit/test_merkle.py).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256


def hash_leaf(data: bytes) -> bytes:
    return _sha256(LEAF_PREFIX + data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    return _sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """A static tree over a sequence of leaf hashes, with every perfect subtree's hash cached by level.

    ``levels[h][i]`` is the hash of the perfect subtree over leaves ``[i * 2**h, (i + 1) * 2**h)``.
    """

    __slots__ = ("levels",)

    def __init__(self, leaf_hashes: Iterable[bytes]) -> None:
        level = list(leaf_hashes)
        self.levels: list[list[bytes]] = [level]
        while len(level) > 1:
            node = NODE_PREFIX
            level = [_sha256(node + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
            self.levels.append(level)

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def _range_hash(self, start: int, end: int) -> bytes:
        """MTH of leaves[start:end] where ``start`` is aligned to the largest power of two <= end - start."""
        n = end - start
        if n == 0:
            return EMPTY_ROOT
        if n & (n - 1) == 0:  # a perfect, aligned subtree: cached
            height = n.bit_length() - 1
            return self.levels[height][start >> height]
        k = _split(n)
        return hash_children(self._range_hash(start, start + k), self._range_hash(start + k, end))

    def root(self, size: int | None = None) -> bytes:
        """Root of the first ``size`` leaves (all of them by default)."""
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise ValueError(f"size {size} is outside 0..{self.size}")
        return self._range_hash(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 2.1.3.1 PATH(index, D[size]): the audit path of one leaf in the tree of ``size`` leaves."""
        size = self.size if size is None else size
        if not 0 <= index < size <= self.size:
            raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
        path: list[bytes] = []
        start, end = 0, size
        while end - start > 1:
            k = _split(end - start)
            if index < start + k:
                path.append(self._range_hash(start + k, end))
                end = start + k
            else:
                path.append(self._range_hash(start, start + k))
                start += k
        path.reverse()
        return path

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """RFC 9162 2.1.4.1 PROOF(old_size, D[new_size]); empty when old_size is 0 or equals new_size."""
        new_size = self.size if new_size is None else new_size
        if not 0 <= old_size <= new_size <= self.size:
            raise ValueError(f"no consistency proof from {old_size} to {new_size} in a tree of {self.size}")
        if old_size in (0, new_size):
            return []
        path: list[bytes] = []
        start, end, m, complete = 0, new_size, old_size, True
        while True:
            n = end - start
            if m == n:
                if not complete:
                    path.append(self._range_hash(start, end))
                break
            k = _split(n)
            if m <= k:
                path.append(self._range_hash(start + k, end))
                end = start + k
            else:
                path.append(self._range_hash(start, start + k))
                start, m, complete = start + k, m - k, False
        path.reverse()
        return path


class Frontier:
    """The right edge of a growing tree: appending a leaf and reading the root both cost O(log n).

    Used to get the root at every signed tree head of a log in one pass over its leaves.
    """

    __slots__ = ("_nodes", "size")

    def __init__(self) -> None:
        self._nodes: list[bytes] = []  # roots of the perfect subtrees, largest (leftmost) first
        self.size = 0

    def append(self, leaf: bytes) -> None:
        node = leaf
        self.size += 1
        carried = self.size
        # each trailing zero bit of the new size means two equal subtrees merge
        while carried & 1 == 0:
            node = _sha256(NODE_PREFIX + self._nodes.pop() + node).digest()
            carried >>= 1
        self._nodes.append(node)

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def copy(self) -> Frontier:
        """An independent frontier at the same size (extending it leaves this one as it is)."""
        other = Frontier()
        other._nodes = list(self._nodes)
        other.size = self.size
        return other

    def root(self) -> bytes:
        if not self._nodes:
            return EMPTY_ROOT
        node = self._nodes[-1]
        for left in reversed(self._nodes[:-1]):
            node = _sha256(NODE_PREFIX + left + node).digest()
        return node


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    frontier = Frontier()
    frontier.extend(leaf_hashes)
    return frontier.root()


def _check_hashes(*hashes: bytes) -> bool:
    return all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in hashes)


def verify_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 2.1.3.2: does ``path`` prove that ``leaf`` is leaf ``index`` of the tree of ``size`` with ``root``?

    Returns a bool because it is a predicate on untrusted input; callers turn ``False`` into a
    :class:`pot.errors.InclusionError`.
    """
    if not (0 <= index < size) or not _check_hashes(leaf, root, *path):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = hash_children(p, r)
            while fn & 1 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = hash_children(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(r, root)


def verify_consistency(old_size: int, new_size: int, path: Sequence[bytes], old_root: bytes,
                       new_root: bytes) -> bool:
    """RFC 9162 2.1.4.2: does ``path`` prove the tree (old_size, old_root) is a prefix of (new_size, new_root)?"""
    if not (0 <= old_size <= new_size) or not _check_hashes(old_root, new_root, *path):
        return False
    if old_size == 0:  # the empty tree is a prefix of every tree
        return not path and hmac.compare_digest(old_root, EMPTY_ROOT)
    if old_size == new_size:
        return not path and hmac.compare_digest(old_root, new_root)
    if not path:
        return False
    nodes = list(path)
    if old_size & (old_size - 1) == 0:
        nodes.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = nodes[0]
    for c in nodes[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = hash_children(c, fr)
            sr = hash_children(c, sr)
            while fn & 1 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = hash_children(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(fr, old_root) and hmac.compare_digest(sr, new_root)
