// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title PotRecord
/// @notice Reads a field of a pot record from its canonical bytes, so that a contract given a record (and a proof
///         that the record is in an anchored log) can check the fields it cares about without parsing JSON: it asks
///         whether the record's top-level object has a member, written exactly as JCS (RFC 8785) writes it, e.g.
///         `"model_hash":"4f3c..."`, `"validator_id":"eval-bot"` or `"type":"validation"`.
/// @dev A record's canonical bytes are JCS of its body (docs/PROOF_FORMAT.md section 3): one JSON object without
///      whitespace, keys sorted, strings with the minimal escapes. A byte search alone would be fooled, because a
///      free-form field (a validation's `validation_result`) may hold an object with the same member, or a string
///      whose text looks like one. So the scan follows the JSON structure: it tracks strings (and the escapes in
///      them) and nesting depth, and compares only where a member of the outermost object begins. It trusts that
///      the bytes are JCS, as every leaf of a pot log is (pot verify checks it off chain): given bytes that are not
///      JSON, its answer means nothing, and the inclusion proof says only that the log's signer put them there.
library PotRecord {
    bytes1 private constant QUOTE = '"';
    bytes1 private constant BACKSLASH = "\\";

    /// @return true when `member` (the JCS bytes of one `"key":value` member) is a member of the top-level object
    ///         that `record` holds, with exactly that value.
    function hasMember(bytes calldata record, bytes memory member) internal pure returns (bool) {
        uint256 n = record.length;
        uint256 m = member.length;
        if (n < 2 || m == 0 || record[0] != "{") return false;
        bytes32 wanted = keccak256(member);
        uint256 depth = 0;
        bool inString = false;
        bool escaped = false;
        bool memberStarts = false; // the next byte at depth 1 begins a member of the outermost object
        for (uint256 i = 0; i < n;) {
            bytes1 c = record[i];
            if (inString) {
                if (escaped) escaped = false;
                else if (c == BACKSLASH) escaped = true;
                else if (c == QUOTE) inString = false;
            } else if (c == QUOTE) {
                if (memberStarts && depth == 1) {
                    // A whole member: the bytes match and the next byte ends it (another member, or the object).
                    uint256 end = i + m;
                    if (end < n && (record[end] == "," || record[end] == "}") && keccak256(record[i:end]) == wanted) {
                        return true;
                    }
                }
                inString = true;
            } else if (c == "{" || c == "[") {
                depth += 1;
            } else if (c == "}" || c == "]") {
                if (depth <= 1) return false; // the outermost object ends: no such member
                depth -= 1;
            }
            memberStarts = !inString && depth == 1 && (c == "{" || c == ",");
            unchecked {
                ++i;
            }
        }
        return false;
    }
}
