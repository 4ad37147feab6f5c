"""Keccak-256 (the Ethereum hash, Keccak's original padding, not SHA3-256) and EIP-55 address checksums.

The offline verifier checks that an Ethereum receipt's addresses are written as EIP-55 says, and must do so
without web3 or any other chain package installed; ``hashlib`` has SHA3-256, whose padding differs. Addresses are
40 hex digits, so this plain implementation of Keccak-f[1600] (FIPS 202 section 3, the sponge with rate 1088 bits
and the padding byte 0x01) is fast enough: about half a millisecond per address here, and a proof names one
contract and one submitter however many receipts it holds (checksums are cached). Tested against web3's keccak.
"""

from __future__ import annotations

import functools
import re

_RATE = 136  # bytes: 1600 - 2 * 256 bits of capacity
_MASK = (1 << 64) - 1
_ROUND_CONSTANTS = (
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000, 0x000000000000808B,
    0x0000000080000001, 0x8000000080008081, 0x8000000000008009, 0x000000000000008A, 0x0000000000000088,
    0x0000000080008009, 0x000000008000000A, 0x000000008000808B, 0x800000000000008B, 0x8000000000008089,
    0x8000000000008003, 0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
)
# Rotation offsets r[x][y] of the rho step, indexed [x + 5 * y].
_ROTATIONS = (0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43, 25, 39, 41, 45, 15, 21, 8, 18, 2, 61, 56, 14)
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def _rotl(value: int, shift: int) -> int:
    return ((value << shift) | (value >> (64 - shift))) & _MASK if shift else value


def _permute(a: list[int]) -> None:
    for constant in _ROUND_CONSTANTS:
        c = [a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20] for x in range(5)]
        d = [c[(x - 1) % 5] ^ _rotl(c[(x + 1) % 5], 1) for x in range(5)]
        for i in range(25):
            a[i] ^= d[i % 5]
        b = [0] * 25
        for x in range(5):
            for y in range(5):
                b[y + 5 * ((2 * x + 3 * y) % 5)] = _rotl(a[x + 5 * y], _ROTATIONS[x + 5 * y])
        for x in range(5):
            for y in range(5):
                a[x + 5 * y] = b[x + 5 * y] ^ (~b[(x + 1) % 5 + 5 * y] & b[(x + 2) % 5 + 5 * y])
        a[0] ^= constant


def keccak256(data: bytes) -> bytes:
    padded = bytearray(data)
    padded.append(0x01)
    padded.extend(b"\x00" * (-len(padded) % _RATE))
    padded[-1] |= 0x80
    state = [0] * 25
    for offset in range(0, len(padded), _RATE):
        block = padded[offset:offset + _RATE]
        for i in range(_RATE // 8):
            state[i] ^= int.from_bytes(block[8 * i:8 * i + 8], "little")
        _permute(state)
    return b"".join(lane.to_bytes(8, "little") for lane in state[:4])


@functools.lru_cache(maxsize=256)
def to_checksum_address(address: str) -> str:
    """The EIP-55 form of a ``0x`` + 40 hex digit address: a hex letter is upper case when the matching nibble of
    keccak256(lower-case hex, as ASCII) is 8 or more."""
    if not _ADDRESS.fullmatch(address):
        raise ValueError("an address is 0x followed by 40 hex digits")
    lower = address[2:].lower()
    digest = keccak256(lower.encode("ascii")).hex()
    return "0x" + "".join(ch.upper() if ch.isalpha() and int(digest[i], 16) >= 8 else ch
                          for i, ch in enumerate(lower))


def is_checksum_address(address: str) -> bool:
    return bool(_ADDRESS.fullmatch(address)) and to_checksum_address(address) == address
