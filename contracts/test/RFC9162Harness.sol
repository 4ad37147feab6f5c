// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {RFC9162} from "../RFC9162.sol";
import {PotRecord} from "../PotRecord.sol";

/// @title RFC9162Harness
/// @notice Test and benchmark helper, never deployed by pot: runs many checks of the libraries in one eth_call (the
///         differential tests compare thousands of answers with pot's Python verifier), and measures the gas of one
///         check from inside the EVM, where calldata and the transaction's base cost do not blur it.
contract RFC9162Harness {
    function verifyInclusionBatch(
        bytes32[] calldata roots,
        bytes32[] calldata leaves,
        uint256[] calldata indices,
        uint256[] calldata sizes,
        bytes32[][] calldata proofs
    ) external view returns (bool[] memory ok) {
        ok = new bool[](roots.length);
        for (uint256 i = 0; i < roots.length; ++i) {
            ok[i] = RFC9162.verifyInclusion(roots[i], leaves[i], indices[i], sizes[i], proofs[i]);
        }
    }

    function verifyConsistencyBatch(
        uint256[] calldata oldSizes,
        uint256[] calldata newSizes,
        bytes32[] calldata oldRoots,
        bytes32[] calldata newRoots,
        bytes32[][] calldata proofs
    ) external view returns (bool[] memory ok) {
        ok = new bool[](oldSizes.length);
        for (uint256 i = 0; i < oldSizes.length; ++i) {
            ok[i] = RFC9162.verifyConsistency(oldSizes[i], newSizes[i], oldRoots[i], newRoots[i], proofs[i]);
        }
    }

    function leafHashBatch(bytes[] calldata records) external view returns (bytes32[] memory hashes) {
        hashes = new bytes32[](records.length);
        for (uint256 i = 0; i < records.length; ++i) {
            hashes[i] = RFC9162.leafHash(records[i]);
        }
    }

    function hasMemberBatch(bytes[] calldata records, bytes[] calldata members)
        external
        pure
        returns (bool[] memory found)
    {
        found = new bool[](records.length);
        for (uint256 i = 0; i < records.length; ++i) {
            found[i] = PotRecord.hasMember(records[i], members[i]);
        }
    }

    /// @return ok the verdict, gasUsed the gas the library's verifyInclusion used (measured with gasleft()).
    function inclusionGas(bytes32 root, bytes32 leaf, uint256 index, uint256 treeSize, bytes32[] calldata proof)
        external
        view
        returns (bool ok, uint256 gasUsed)
    {
        uint256 before = gasleft();
        ok = RFC9162.verifyInclusion(root, leaf, index, treeSize, proof);
        gasUsed = before - gasleft();
    }

    /// @return ok the verdict, gasUsed the gas of leafHash(record) and verifyInclusion together.
    function recordInclusionGas(bytes32 root, bytes calldata record, uint256 index, uint256 treeSize,
                                bytes32[] calldata proof) external view returns (bool ok, uint256 gasUsed) {
        uint256 before = gasleft();
        ok = RFC9162.verifyInclusion(root, RFC9162.leafHash(record), index, treeSize, proof);
        gasUsed = before - gasleft();
    }
}
