"""ProvenanceRegistry's behaviour, driven from Python against a real anvil: the seed's ABI and the anchor path."""

from __future__ import annotations

import os
from typing import Any

import pytest
from eth_abi import decode
from web3 import Web3
from web3.exceptions import ContractCustomError

from pot.anchors.ethereum import load_artifact
from tests.chain.helpers import Registry

pytestmark = pytest.mark.chain

HASH64 = "ab" * 32
METADATA100 = "m" * 100


def custom_error(name: str, types: list[str], call: Any) -> tuple[Any, ...]:
    """Run ``call`` (an eth_call), expect the contract's custom error ``name``, return its decoded arguments."""
    with pytest.raises(ContractCustomError) as caught:
        call()
    data = caught.value.data
    assert isinstance(data, str)
    selector = Web3.keccak(text=f"{name}({','.join(types)})")[:4]
    raw = bytes.fromhex(data[2:])
    assert raw[:4] == selector, f"reverted with another error: {data}"
    return tuple(decode(types, raw[4:]))


@pytest.fixture
def registry(deployed_registry: Any) -> Registry:
    return Registry.at(deployed_registry.anvil, deployed_registry.address)


def test_deployed_code_is_the_committed_artifact(registry: Registry) -> None:
    code = registry.w3.eth.get_code(registry.contract.address)
    assert "0x" + code.hex() == load_artifact()["deployedBytecode"]


def test_store_get_verify_round_trip(registry: Registry) -> None:
    c = registry.contract
    first = registry.transact(c.functions.storeHash(HASH64, METADATA100))
    second = registry.transact(c.functions.storeHash("cd" * 32, ""))
    assert first["status"] == second["status"] == 1
    block = registry.w3.eth.get_block(first["blockNumber"])

    stored = c.functions.getHash(1).call()
    assert stored == [HASH64, METADATA100, block["timestamp"], first["blockNumber"], registry.account.address]
    assert c.functions.getHash(2).call()[:2] == ["cd" * 32, ""]

    assert c.functions.verifyHash(HASH64, 1).call() is True
    assert c.functions.verifyHash(HASH64, 2).call() is False
    assert c.functions.verifyHash(HASH64[:-1], 1).call() is False
    assert c.functions.verifyHash(HASH64, 0).call() is False
    assert c.functions.verifyHash(HASH64, 3).call() is False


def test_store_hash_returns_the_new_id(registry: Registry) -> None:
    c = registry.contract
    assert c.functions.storeHash(HASH64, "").call({"from": registry.account.address}) == 1
    registry.transact(c.functions.storeHash(HASH64, ""))
    assert c.functions.storeHash(HASH64, "").call({"from": registry.account.address}) == 2


def test_hash_stored_event_carries_hash_and_metadata(registry: Registry) -> None:
    c = registry.contract
    receipt = registry.transact(c.functions.storeHash(HASH64, METADATA100))
    (event,) = c.events.HashStored().process_receipt(receipt)
    assert event["args"]["transactionId"] == 1
    assert event["args"]["submitter"] == registry.account.address
    assert event["args"]["hash"] == HASH64
    assert event["args"]["metadata"] == METADATA100
    logs = c.events.HashStored.get_logs(argument_filters={"transactionId": 1}, from_block=receipt["blockNumber"])
    assert [entry["args"]["hash"] for entry in logs] == [HASH64]


@pytest.mark.parametrize(
    ("hash_", "metadata", "error", "types", "args"),
    [
        ("", "", "EmptyHash", [], ()),
        ("a" * 129, "", "HashTooLong", ["uint256", "uint256"], (129, 128)),
        ("a" * 1000, "", "HashTooLong", ["uint256", "uint256"], (1000, 128)),
        ("a", "x" * 1025, "MetadataTooLong", ["uint256", "uint256"], (1025, 1024)),
    ],
)
def test_store_hash_limits(registry: Registry, hash_: str, metadata: str, error: str, types: list[str],
                           args: tuple[int, ...]) -> None:
    call = registry.contract.functions.storeHash(hash_, metadata)
    assert custom_error(error, types, lambda: call.call({"from": registry.account.address})) == args


def test_store_hash_accepts_the_limits_exactly(registry: Registry) -> None:
    c = registry.contract
    receipt = registry.transact(c.functions.storeHash("h" * 128, "x" * 1024))
    assert receipt["status"] == 1
    assert c.functions.getHash(1).call()[:2] == ["h" * 128, "x" * 1024]


@pytest.mark.parametrize("transaction_id", [0, 1, 2**256 - 1])
def test_get_hash_of_unknown_id_reverts(registry: Registry, transaction_id: int) -> None:
    call = registry.contract.functions.getHash(transaction_id)
    assert custom_error("UnknownTransaction", ["uint256"], call.call) == (transaction_id,)


def test_anchor_records_one_slot_and_the_views_read_it(registry: Registry, deployed_registry: Any) -> None:
    c = registry.contract
    me = registry.account.address
    root, meta = os.urandom(32), os.urandom(32)
    assert c.functions.anchorOf(me, root).call() == [0, 0, 0]
    assert c.functions.anchoredAt(me, root).call() == 0

    receipt = registry.transact(c.functions.anchor(root, meta, 7))
    assert receipt["status"] == 1
    block = registry.w3.eth.get_block(receipt["blockNumber"])
    assert c.functions.anchorOf(me, root).call() == [block["timestamp"], receipt["blockNumber"], 7]
    assert c.functions.anchoredAt(me, root).call() == block["timestamp"]
    # another account has no anchor of that root
    assert c.functions.anchorOf(deployed_registry.anvil.accounts[1], root).call() == [0, 0, 0]



def test_anchored_event_has_every_field_indexed(registry: Registry) -> None:
    c = registry.contract
    root, meta = os.urandom(32), os.urandom(32)
    receipt = registry.transact(c.functions.anchor(root, meta, 1))
    (log,) = receipt["logs"]
    assert [bytes(t) for t in log["topics"]] == [
        Web3.keccak(text="Anchored(bytes32,bytes32,address)"), root, meta,
        bytes(12) + bytes.fromhex(registry.account.address[2:])]
    assert bytes(log["data"]) == b""
    (event,) = c.events.Anchored().process_receipt(receipt)
    assert (event["args"]["root"], event["args"]["metaHash"], event["args"]["submitter"]) == (
        root, meta, registry.account.address)
    found = c.events.Anchored.get_logs(argument_filters={"root": root}, from_block=0)
    assert [entry["transactionHash"] for entry in found] == [receipt["transactionHash"]]


def test_repeat_anchor_by_one_account_reverts_and_keeps_the_first(registry: Registry,
                                                                  deployed_registry: Any) -> None:
    c = registry.contract
    me = registry.account.address
    root = os.urandom(32)
    first = registry.transact(c.functions.anchor(root, os.urandom(32), 3))
    before = c.functions.anchorOf(me, root).call()
    for size in (3, 4):
        call = c.functions.anchor(root, os.urandom(32), size)
        assert custom_error("AlreadyAnchored", ["bytes32"], lambda call=call: call.call({"from": me})) == (root,)
    # Mined anyway (explicit gas, no estimate): status 0, the first anchor stands.
    repeat = registry.transact(c.functions.anchor(root, os.urandom(32), 4), gas=100_000)
    assert repeat["status"] == 0
    assert repeat["logs"] == []
    assert c.functions.anchorOf(me, root).call() == before
    assert before[1] == first["blockNumber"] and before[2] == 3


def test_another_account_anchors_the_same_root_as_its_own(registry: Registry, deployed_registry: Any) -> None:
    """Anchors are per submitter: a second account's anchor of a root neither fails nor touches the first's."""
    c = registry.contract
    root = os.urandom(32)
    registry.transact(c.functions.anchor(root, os.urandom(32), 3))
    mine = c.functions.anchorOf(registry.account.address, root).call()
    other = Registry.at(deployed_registry.anvil, deployed_registry.address, account=1)
    receipt = other.transact(other.contract.functions.anchor(root, os.urandom(32), 5))
    assert receipt["status"] == 1
    assert c.functions.anchorOf(registry.account.address, root).call() == mine
    assert c.functions.anchorOf(other.account.address, root).call()[1:] == [receipt["blockNumber"], 5]


@pytest.mark.parametrize(("root", "size"), [(bytes(32), 1), (b"\x01" * 32, 0)])
def test_zero_root_or_empty_tree_reverts(registry: Registry, root: bytes, size: int) -> None:
    call = registry.contract.functions.anchor(root, os.urandom(32), size)
    assert custom_error("InvalidAnchor", ["bytes32", "uint256"],
                        lambda: call.call({"from": registry.account.address})) == (root, size)


def test_tree_size_must_fit_64_bits(registry: Registry) -> None:
    """The contract itself refuses a size past 64 bits (web3 would refuse to encode it, so the call is raw)."""
    from eth_abi import encode
    from web3.exceptions import ContractLogicError

    selector = Web3.keccak(text="anchor(bytes32,bytes32,uint64)")[:4]
    for size, ok in ((2**64 - 1, True), (2**64, False)):
        data = selector + encode(["bytes32", "bytes32", "uint256"], [os.urandom(32), os.urandom(32), size])
        call = {"from": registry.account.address, "to": registry.contract.address, "data": data}
        if ok:
            registry.w3.eth.call(call)  # type: ignore[arg-type]
        else:
            with pytest.raises(ContractLogicError):
                registry.w3.eth.call(call)  # type: ignore[arg-type]


def test_gas_per_call(registry: Registry) -> None:
    c = registry.contract
    anchor = registry.transact(c.functions.anchor(os.urandom(32), os.urandom(32), 2**20))
    store = registry.transact(c.functions.storeHash(HASH64, METADATA100))
    assert anchor["status"] == store["status"] == 1
    assert anchor["gasUsed"] <= 50_000, f"anchor used {anchor['gasUsed']} gas"
    # The point of the anchor path: one root per batch, at a fraction of one storeHash per record.
    assert anchor["gasUsed"] * 4 < store["gasUsed"], (anchor["gasUsed"], store["gasUsed"])


def test_check_consistency_of_two_anchored_roots(registry: Registry) -> None:
    """checkConsistency: two roots anchored by one account are one log grown (the sizes come from the anchors); a
    tampered path, a root never anchored, or another account's view is refused with the contract's error."""
    from pot.log.merkle import MerkleTree, hash_leaf, verify_consistency

    c = registry.contract
    tree = MerkleTree(hash_leaf(os.urandom(40)) for _ in range(13))
    old_root, new_root, path = tree.root(5), tree.root(13), tree.consistency_proof(5, 13)
    assert verify_consistency(5, 13, path, old_root, new_root)  # pot's own verifier agrees it is a good path
    first = registry.transact(c.functions.anchor(old_root, os.urandom(32), 5))
    second = registry.transact(c.functions.anchor(new_root, os.urandom(32), 13))
    times = [registry.w3.eth.get_block(r["blockNumber"])["timestamp"] for r in (first, second)]
    me = registry.account.address
    assert list(c.functions.checkConsistency(me, old_root, new_root, path).call()) == times
    assert c.functions.verifyConsistency(old_root, 5, new_root, 13, path).call() is True

    bad = [path[0][:-1] + bytes([path[0][-1] ^ 1]), *path[1:]]
    assert custom_error("NotConsistent", ["bytes32", "uint256", "bytes32", "uint256"],
                        c.functions.checkConsistency(me, old_root, new_root, bad).call) == (old_root, 5, new_root, 13)
    never = tree.root(9)  # a real root of the same log, but nobody anchored it
    assert custom_error("NotAnchored", ["address", "bytes32"],
                        c.functions.checkConsistency(me, old_root, never, tree.consistency_proof(5, 9)).call
                        ) == (me.lower(), never)
    other = Web3.to_checksum_address("0x" + "11" * 20)
    assert custom_error("NotAnchored", ["address", "bytes32"],
                        c.functions.checkConsistency(other, old_root, new_root, path).call) == (other.lower(), old_root)
