// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {RFC9162} from "./RFC9162.sol";

/// @title ProvenanceRegistry
/// @notice Public timestamps for proof-of-training roots, and checks a contract can build on: that a record is in a
///         log whose root an account anchored, and when. Anyone may write; nothing is ever changed or removed, so a
///         stranger can check an anchored root with any RPC endpoint and no trust in whoever wrote it.
/// @dev Two ways in. `storeHash`/`getHash`/`verifyHash` keep the ABI of the PoT toolkit pot replaces, so code
///      written for it keeps working. `anchor` is what pot uses: one Merkle root stands for a whole batch of
///      records, and it costs a single storage slot, about a sixth of a `storeHash` call.
///      Anchors are kept per submitter: each account has its own record of a root, so nobody can take a root
///      before its owner does (by watching the mempool) and make the owner's anchor fail. On chain, the account is
///      what vouches for a root: a contract trusts the roots of the accounts it names (see `checkRecord`).
contract ProvenanceRegistry {
    // Caps keep a single call's storage cost bounded and predictable; a hex SHA-512 digest fits in 128.
    uint256 public constant MAX_HASH_LENGTH = 128;
    uint256 public constant MAX_METADATA_LENGTH = 1024;

    struct StoredHash {
        string hash;
        string metadata;
        // The three fit one slot together, so `storeHash` writes one slot for them instead of three.
        uint48 timestamp;
        uint48 blockNumber;
        address submitter;
    }

    error EmptyHash();
    error HashTooLong(uint256 length, uint256 maxLength);
    error MetadataTooLong(uint256 length, uint256 maxLength);
    error UnknownTransaction(uint256 transactionId);
    error AlreadyAnchored(bytes32 root);
    error InvalidAnchor(bytes32 root, uint256 treeSize);
    error NotAnchored(address submitter, bytes32 root);
    error NotIncluded(bytes32 root, bytes32 leafHash, uint256 index, uint256 treeSize);
    error NotConsistent(bytes32 oldRoot, uint256 oldSize, bytes32 newRoot, uint256 newSize);

    event HashStored(uint256 indexed transactionId, address indexed submitter, string hash, string metadata);
    // Every field indexed: a verifier finds the anchor of a root with one topic filter, and the log carries no
    // data to pay for. metaHash (pot's tree-head hash) lives only here, never in storage.
    event Anchored(bytes32 indexed root, bytes32 indexed metaHash, address indexed submitter);

    // Ids start at 1 so that 0 never names a stored hash.
    uint256 private _lastTransactionId;
    mapping(uint256 => StoredHash) private _stored;

    // submitter => root => timestamp (bits 0-47) | block number (bits 48-95) | tree size (bits 96-159). One slot
    // per anchor is the whole storage cost of `anchor`. A zero word means "not anchored by this submitter": a real
    // entry is never zero because its tree size never is. The size is kept because a root alone does not fix it:
    // the root of leaves (a, b, c) is H(0x01 || H(0x01 || a || b) || c), so the path that proves c is leaf 2 of 3
    // also proves it leaf 1 of 2. With the size the anchor states, a leaf's index is fixed.
    mapping(address => mapping(bytes32 => uint256)) private _anchors;

    function storeHash(string calldata hash, string calldata metadata) external returns (uint256 transactionId) {
        uint256 hashLength = bytes(hash).length;
        if (hashLength == 0) revert EmptyHash();
        if (hashLength > MAX_HASH_LENGTH) revert HashTooLong(hashLength, MAX_HASH_LENGTH);
        if (bytes(metadata).length > MAX_METADATA_LENGTH) {
            revert MetadataTooLong(bytes(metadata).length, MAX_METADATA_LENGTH);
        }
        transactionId = ++_lastTransactionId;
        _stored[transactionId] = StoredHash({
            hash: hash,
            metadata: metadata,
            timestamp: uint48(block.timestamp),
            blockNumber: uint48(block.number),
            submitter: msg.sender
        });
        emit HashStored(transactionId, msg.sender, hash, metadata);
    }

    function getHash(uint256 transactionId)
        external
        view
        returns (string memory hash, string memory metadata, uint256 timestamp, uint256 blockNumber, address submitter)
    {
        if (transactionId == 0 || transactionId > _lastTransactionId) revert UnknownTransaction(transactionId);
        StoredHash storage entry = _stored[transactionId];
        return (entry.hash, entry.metadata, entry.timestamp, entry.blockNumber, entry.submitter);
    }

    /// @return true when `hash` is exactly the string stored under `transactionId`; false for an unknown id, so
    ///         that a caller asking "is this hash stored there?" gets an answer rather than a revert.
    function verifyHash(string calldata hash, uint256 transactionId) external view returns (bool) {
        if (transactionId == 0 || transactionId > _lastTransactionId) return false;
        return keccak256(bytes(_stored[transactionId].hash)) == keccak256(bytes(hash));
    }

    /// @notice Anchor the root of a tree of `treeSize` leaves, once and for all for this sender. The sender's first
    ///         anchor of a root is the one that counts: a repeat reverts instead of moving the root's time later.
    ///         Another account's anchor of the same root is its own, and does not stop this one.
    /// @param metaHash what the root is the root of (pot: the signed tree head's hash); kept in the event only.
    function anchor(bytes32 root, bytes32 metaHash, uint64 treeSize) external {
        // The zero root is what an unset bytes32 looks like, never a real digest; no log has zero leaves.
        if (root == bytes32(0) || treeSize == 0) revert InvalidAnchor(root, treeSize);
        mapping(bytes32 => uint256) storage mine = _anchors[msg.sender];
        if (mine[root] != 0) revert AlreadyAnchored(root);
        mine[root] = uint256(uint48(block.timestamp)) | (uint256(uint48(block.number)) << 48)
            | (uint256(treeSize) << 96);
        emit Anchored(root, metaHash, msg.sender);
    }

    /// @return timestamp block time of `submitter`'s anchor of `root`, blockNumber its block, treeSize the size of
    ///         the tree it stated; all zero when `submitter` never anchored `root`.
    function anchorOf(address submitter, bytes32 root)
        public
        view
        returns (uint256 timestamp, uint256 blockNumber, uint256 treeSize)
    {
        uint256 packed = _anchors[submitter][root];
        return (uint48(packed), uint48(packed >> 48), uint64(packed >> 96));
    }

    /// @return timestamp block time of `submitter`'s anchor of `root`, 0 when there is none.
    function anchoredAt(address submitter, bytes32 root) external view returns (uint256 timestamp) {
        return uint48(_anchors[submitter][root]);
    }

    // --- checks for other contracts: a record is in a log whose root was anchored, and when ---------------------

    /// @notice RFC 9162 inclusion (docs/PROOF_FORMAT.md section 4): is `leafHash` leaf `index` of the tree of
    ///         `treeSize` leaves with root `root`? Says nothing about anchors; see `checkLeaf` and `checkRecord`.
    function verifyInclusion(bytes32 root, bytes32 leafHash, uint256 index, uint256 treeSize, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        return RFC9162.verifyInclusion(root, leafHash, index, treeSize, proof);
    }

    /// @notice RFC 9162 consistency: is the tree (`oldSize`, `oldRoot`) a prefix of (`newSize`, `newRoot`)?
    function verifyConsistency(
        bytes32 oldRoot,
        uint256 oldSize,
        bytes32 newRoot,
        uint256 newSize,
        bytes32[] calldata proof
    ) external view returns (bool) {
        return RFC9162.verifyConsistency(oldSize, newSize, oldRoot, newRoot, proof);
    }

    /// @notice Reverts unless `leafHash` is leaf `index` of the tree whose root `submitter` anchored, at the tree
    ///         size the anchor states. Membership only: a leaf hash may be any node's hash, so a caller who needs to
    ///         know what the leaf says passes the record itself to `checkRecord`.
    /// @return timestamp block time of the anchor: the leaf existed by then; blockNumber its block; treeSize the size
    function checkLeaf(address submitter, bytes32 root, bytes32 leafHash, uint256 index, bytes32[] calldata proof)
        public
        view
        returns (uint256 timestamp, uint256 blockNumber, uint256 treeSize)
    {
        (timestamp, blockNumber, treeSize) = anchorOf(submitter, root);
        if (treeSize == 0) revert NotAnchored(submitter, root);
        if (!RFC9162.verifyInclusion(root, leafHash, index, treeSize, proof)) {
            revert NotIncluded(root, leafHash, index, treeSize);
        }
    }

    /// @notice Reverts unless the record whose canonical bytes (JCS, docs/PROOF_FORMAT.md section 3) are `record`
    ///         is entry `index` of the log whose root `submitter` anchored. The leaf hash is computed here,
    ///         SHA-256(0x00 || record), so a caller may compare the bytes with what it expects (see PotRecord.sol).
    /// @return leafHash the record's leaf hash (its id in a proof), and the anchor's timestamp, block and tree size
    function checkRecord(address submitter, bytes32 root, bytes calldata record, uint256 index, bytes32[] calldata proof)
        external
        view
        returns (bytes32 leafHash, uint256 timestamp, uint256 blockNumber, uint256 treeSize)
    {
        leafHash = RFC9162.leafHash(record);
        (timestamp, blockNumber, treeSize) = checkLeaf(submitter, root, leafHash, index, proof);
    }

    /// @notice Reverts unless both roots were anchored by `submitter` and the older tree is a prefix of the newer:
    ///         the log was only appended to between the two anchors.
    function checkConsistency(address submitter, bytes32 oldRoot, bytes32 newRoot, bytes32[] calldata proof)
        external
        view
        returns (uint256 oldTimestamp, uint256 newTimestamp)
    {
        uint256 oldSize;
        uint256 newSize;
        (oldTimestamp,, oldSize) = anchorOf(submitter, oldRoot);
        if (oldSize == 0) revert NotAnchored(submitter, oldRoot);
        (newTimestamp,, newSize) = anchorOf(submitter, newRoot);
        if (newSize == 0) revert NotAnchored(submitter, newRoot);
        if (!RFC9162.verifyConsistency(oldSize, newSize, oldRoot, newRoot, proof)) {
            revert NotConsistent(oldRoot, oldSize, newRoot, newSize);
        }
    }
}
