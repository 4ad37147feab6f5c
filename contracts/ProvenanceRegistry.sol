// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title ProvenanceRegistry
/// @notice Public timestamps for proof-of-training roots. Anyone may write; nothing is ever changed or removed,
///         so a stranger can check an anchored root with any RPC endpoint and no trust in whoever wrote it.
/// @dev Two ways in. `storeHash`/`getHash`/`verifyHash` keep the ABI of the PoT toolkit pot replaces, so code
///      written for it keeps working. `anchor` is what pot uses: one Merkle root stands for a whole batch of
///      records, and it costs a single storage slot, about a sixth of a `storeHash` call.
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

    event HashStored(uint256 indexed transactionId, address indexed submitter, string hash, string metadata);
    // Every field indexed: a verifier finds the anchor of a root with one topic filter, and the log carries no
    // data to pay for. metaHash (pot's tree-head hash) lives only here, never in storage.
    event Anchored(bytes32 indexed root, bytes32 indexed metaHash, address indexed submitter);

    // Ids start at 1 so that 0 never names a stored hash.
    uint256 private _lastTransactionId;
    mapping(uint256 => StoredHash) private _stored;

    // root => timestamp (bits 0-47) | block number (bits 48-95) | submitter (bits 96-255).
    // One slot per root is the whole storage cost of `anchor`. A zero word means "not anchored": a real entry is
    // never zero because its submitter, msg.sender, never is.
    mapping(bytes32 => uint256) private _anchors;

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

    /// @notice Anchor a Merkle root once and for all. The first anchor of a root is the one that counts: a
    ///         repeat reverts instead of moving the root's time later, and so does the zero root, which is what
    ///         an unset bytes32 looks like and never a real digest.
    function anchor(bytes32 root, bytes32 metaHash) external {
        if (root == bytes32(0) || _anchors[root] != 0) revert AlreadyAnchored(root);
        _anchors[root] = uint256(uint48(block.timestamp)) | (uint256(uint48(block.number)) << 48)
            | (uint256(uint160(msg.sender)) << 96);
        emit Anchored(root, metaHash, msg.sender);
    }

    /// @return timestamp block time of the anchor, blockNumber its block, submitter who sent it; all zero when
    ///         `root` was never anchored.
    function anchorOf(bytes32 root) external view returns (uint256 timestamp, uint256 blockNumber, address submitter) {
        uint256 packed = _anchors[root];
        return (uint48(packed), uint48(packed >> 48), address(uint160(packed >> 96)));
    }

    /// @return timestamp block time of the anchor of `root`, 0 when it was never anchored.
    function anchoredAt(bytes32 root) external view returns (uint256 timestamp) {
        return uint48(_anchors[root]);
    }
}
