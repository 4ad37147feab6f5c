// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ProvenanceRegistry} from "../ProvenanceRegistry.sol";
import {PotRecord} from "../PotRecord.sol";

/// @title ValidationEscrow
/// @notice An example consumer of pot's on-chain record check: a funder locks a payment that the beneficiary (say,
///         whoever trained a model) receives once a pot validation record of the agreed model hash, by the agreed
///         validator, is shown to be in a log whose root the agreed account anchored on the registry. Nobody is
///         trusted in between: the contract computes the record's leaf hash, checks its inclusion against the
///         anchored root and compares the record's fields byte for byte. After the deadline, an unreleased payment
///         goes back to the funder.
/// @dev Whose anchors count (`submitter`) is the trust decision: anyone can write a log and anchor its root, so a
///      record proves something only under an account the funder trusts to anchor honest logs (the validator's own
///      pot, or an auditor's). Model hash and validator id must be text JCS writes without escapes (printable ASCII
///      but `"` and `\`), so that the member bytes can be built here; a hex digest and most names are.
contract ValidationEscrow {
    ProvenanceRegistry public immutable registry;
    address public immutable submitter;
    address public immutable funder;
    address payable public immutable beneficiary;
    uint256 public immutable deadline;
    bytes public modelHashMember; // "model_hash":"<model hash>"
    bytes public validatorMember; // "validator_id":"<validator id>"
    bool public settled;

    bytes private constant VALIDATION_MEMBER = '"type":"validation"';

    error NeedsNoEscape(string value);
    error AlreadySettled();
    error NotAValidationOfTheModelByTheValidator();
    error TooEarly(uint256 deadline);
    error TooLate(uint256 deadline);
    error PaymentFailed();

    event Released(bytes32 root, bytes32 leafHash, uint256 anchoredAt, uint256 blockNumber, uint256 amount);
    event Refunded(uint256 amount);

    constructor(
        ProvenanceRegistry registry_,
        address submitter_,
        address payable beneficiary_,
        string memory modelHash,
        string memory validatorId,
        uint256 deadline_
    ) payable {
        _plain(modelHash);
        _plain(validatorId);
        registry = registry_;
        submitter = submitter_;
        funder = msg.sender;
        beneficiary = beneficiary_;
        deadline = deadline_;
        modelHashMember = abi.encodePacked('"model_hash":"', modelHash, '"');
        validatorMember = abi.encodePacked('"validator_id":"', validatorId, '"');
    }

    /// @notice Pays the beneficiary if `record` (a validation record's canonical bytes) is entry `index` of the log
    ///         whose root `submitter` anchored as `root`, and validates the agreed model by the agreed validator.
    ///         Anyone may call it; the payment only ever goes to the beneficiary.
    function release(bytes32 root, bytes calldata record, uint256 index, bytes32[] calldata proof) external {
        if (settled) revert AlreadySettled();
        if (block.timestamp > deadline) revert TooLate(deadline);
        // Reverts with the registry's NotAnchored or NotIncluded when the record is not in an anchored log.
        (bytes32 leafHash, uint256 anchoredAt, uint256 blockNumber,) =
            registry.checkRecord(submitter, root, record, index, proof);
        if (
            !PotRecord.hasMember(record, VALIDATION_MEMBER) || !PotRecord.hasMember(record, modelHashMember)
                || !PotRecord.hasMember(record, validatorMember)
        ) revert NotAValidationOfTheModelByTheValidator();
        settled = true;
        uint256 amount = address(this).balance;
        emit Released(root, leafHash, anchoredAt, blockNumber, amount);
        (bool ok,) = beneficiary.call{value: amount}("");
        if (!ok) revert PaymentFailed();
    }

    /// @notice After the deadline, an unreleased payment goes back to the funder.
    function refund() external {
        if (settled) revert AlreadySettled();
        if (block.timestamp <= deadline) revert TooEarly(deadline);
        settled = true;
        uint256 amount = address(this).balance;
        emit Refunded(amount);
        (bool ok,) = payable(funder).call{value: amount}("");
        if (!ok) revert PaymentFailed();
    }

    function _plain(string memory value) private pure {
        bytes memory b = bytes(value);
        if (b.length == 0) revert NeedsNoEscape(value);
        for (uint256 i = 0; i < b.length; ++i) {
            bytes1 c = b[i];
            if (c < 0x20 || c > 0x7e || c == '"' || c == "\\") revert NeedsNoEscape(value);
        }
    }
}
