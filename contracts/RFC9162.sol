// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title RFC9162
/// @notice RFC 9162 (Certificate Transparency v2) Merkle proofs over SHA-256, exactly as pot's proof format v1
///         freezes them (docs/PROOF_FORMAT.md sections 3 and 4): a leaf hash is SHA-256(0x00 || data), a node hash
///         SHA-256(0x01 || left || right), a tree of n leaves splits at the largest power of two below n, and an odd
///         node is carried up, never paired with itself. The hash is fixed here, never taken from a caller.
/// @dev The verification walks are RFC 9162 sections 2.1.3.2 (inclusion) and 2.1.4.2 (consistency), step for step
///      the same as pot/log/merkle.py; a differential test runs thousands of true and tampered proofs through both.
///      Each node hash is one call of the SHA-256 precompile (address 0x02) on 65 bytes written past the free memory
///      pointer, so a proof allocates no memory however long it is.
library RFC9162 {
    /// SHA-256 of the empty string: the root of the empty tree.
    bytes32 internal constant EMPTY_ROOT = 0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855;

    /// @return SHA-256(0x00 || data): the leaf hash of a record whose canonical bytes (JCS) are `data`.
    function leafHash(bytes calldata data) internal view returns (bytes32) {
        return sha256(abi.encodePacked(bytes1(0x00), data));
    }

    /// @return node SHA-256(0x01 || left || right).
    function hashChildren(bytes32 left, bytes32 right) internal view returns (bytes32 node) {
        assembly ("memory-safe") {
            // Scratch use of the memory past the free pointer: nothing is allocated, nothing later relies on it.
            let p := mload(0x40)
            mstore8(p, 0x01)
            mstore(add(p, 1), left)
            mstore(add(p, 33), right)
            if iszero(staticcall(gas(), 0x02, p, 65, 0x00, 0x20)) { revert(0, 0) }
            node := mload(0x00)
        }
    }

    /// @notice Does `proof` show that `leaf` is leaf number `index` (from 0) of the tree of `treeSize` leaves whose
    ///         root is `root`? False for any malformed input (index outside the tree, a path too short or too long).
    function verifyInclusion(bytes32 root, bytes32 leaf, uint256 index, uint256 treeSize, bytes32[] calldata proof)
        internal
        view
        returns (bool)
    {
        if (index >= treeSize) return false;
        uint256 fn = index;
        uint256 sn = treeSize - 1;
        bytes32 r = leaf;
        uint256 length = proof.length;
        for (uint256 i = 0; i < length;) {
            if (sn == 0) return false; // more path than the tree is deep
            if (fn & 1 == 1 || fn == sn) {
                r = hashChildren(proof[i], r);
                // Skip the levels where this subtree is the rightmost and has no sibling (an odd node carried up).
                while (fn & 1 == 0 && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
            } else {
                r = hashChildren(r, proof[i]);
            }
            fn >>= 1;
            sn >>= 1;
            unchecked {
                ++i;
            }
        }
        return sn == 0 && r == root;
    }

    /// @notice Does `proof` show that the tree (`oldSize`, `oldRoot`) is a prefix of the tree (`newSize`, `newRoot`)?
    function verifyConsistency(
        uint256 oldSize,
        uint256 newSize,
        bytes32 oldRoot,
        bytes32 newRoot,
        bytes32[] calldata proof
    ) internal view returns (bool) {
        if (oldSize > newSize) return false;
        if (oldSize == 0) return proof.length == 0 && oldRoot == EMPTY_ROOT; // the empty tree is a prefix of all
        if (oldSize == newSize) return proof.length == 0 && oldRoot == newRoot;
        if (proof.length == 0) return false;
        uint256 fn = oldSize - 1;
        uint256 sn = newSize - 1;
        while (fn & 1 == 1) {
            fn >>= 1;
            sn >>= 1;
        }
        // When the old tree is a perfect subtree its root is the first node of the walk, and the proof omits it.
        uint256 i = 0;
        bytes32 fr = oldRoot;
        if (oldSize & (oldSize - 1) != 0) {
            fr = proof[0];
            i = 1;
        }
        bytes32 sr = fr;
        uint256 length = proof.length;
        for (; i < length;) {
            if (sn == 0) return false;
            bytes32 c = proof[i];
            if (fn & 1 == 1 || fn == sn) {
                fr = hashChildren(c, fr);
                sr = hashChildren(c, sr);
                while (fn & 1 == 0 && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
            } else {
                sr = hashChildren(sr, c);
            }
            fn >>= 1;
            sn >>= 1;
            unchecked {
                ++i;
            }
        }
        return sn == 0 && fr == oldRoot && sr == newRoot;
    }
}
