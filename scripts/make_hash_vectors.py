"""Write tests/assets/model_hash_vectors.json: known-answer vectors for pot.model-hash.v1 and pot.file-set.v1.

A naive reference implementation, deliberately independent of pot.hashing: values are encoded with ``struct``
(bfloat16 and float8 by hand), hashed with ``hashlib`` and the manifest is canonicalised with the ``rfc8785``
package directly. The tests check pot.hashing and pot.integrations.torch against the file this writes.

    python scripts/make_hash_vectors.py          # rewrite the file
    python scripts/make_hash_vectors.py --check  # exit 1 if the committed file differs from a fresh build
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import struct
import sys
from pathlib import Path
from typing import Any

import rfc8785

OUT = Path(__file__).resolve().parent.parent / "tests" / "assets" / "model_hash_vectors.json"

NAN, INF = "NaN", "Infinity"  # how the vectors spell non-finite floats, which JSON cannot carry

# (name, dtype, shape, values): insertion order deliberately not sorted.
MIXED = [
    ("layer1.weight", "float32", [2, 3], [1.0, -2.5, 0.0, -0.0, 3.140625, 0.001]),
    ("layer1.bias", "float32", [3], [NAN, INF, "-Infinity"]),
    ("norm.weight", "float16", [4], [1.0, -2.0, 0.5, 65504.0]),
    ("emb.weight", "bfloat16", [2, 2], [1.0, -1.5, 3.0, 0.0078125]),
    ("head.weight", "float64", [2], [0.1, -1e300]),
    ("norm.num_batches_tracked", "int64", [], 7),
    ("ids", "int32", [3], [-1, 0, 2147483647]),
    ("small", "int16", [2], [-32768, 1]),
    ("tiny", "int8", [3], [-128, 0, 127]),
    ("pixels", "uint8", [4], [0, 1, 128, 255]),
    ("counts", "uint32", [2], [0, 4294967295]),
    ("mask", "bool", [5], [True, False, True, True, False]),
    ("phase", "complex64", [2], [[1.0, -2.0], [0.5, 0.0]]),
    ("fp8", "float8_e4m3fn", [3], [1.0, -2.0, 448.0]),
    ("empty", "float32", [0], []),
    ("empty.2d", "int64", [2, 0], []),
]
SCALAR = [("temperature", "float32", [], 0.5)]
# Sorted by code point: a, b, U+00E9, U+FF01, U+1F600. UTF-16 order would put U+1F600 (a surrogate pair) first.
UNICODE = [(name, "uint8", [1], [i]) for i, name in enumerate(["\U0001f600", "b", "\uff01", "a", "\u00e9"])]

FILES = [
    ("shards/model-00002-of-00002.bin", b"\x00\x01\x02\x03" * 3),
    ("config.json", b'{"hidden": 4}\n'),
    ("shards/model-00001-of-00002.bin", b""),
    ("tokenizer/vocab.txt", "a\nb\n\u00e9\n".encode()),
]

_STRUCT = {"float32": "f", "float64": "d", "float16": "e", "int64": "q", "int32": "i", "int16": "h", "int8": "b",
           "uint8": "B", "uint32": "I", "bool": "?"}


def _float(value: Any) -> float:
    return {NAN: math.nan, INF: math.inf, "-Infinity": -math.inf}.get(value, value) if isinstance(value, str) \
        else float(value)


def _encode_scalar(dtype: str, value: Any) -> bytes:
    if dtype in _STRUCT:
        return struct.pack("<" + _STRUCT[dtype], _float(value) if dtype.startswith("float") else value)
    if dtype == "complex64":
        return struct.pack("<ff", value[0], value[1])  # real then imaginary, each a little-endian float32
    if dtype == "bfloat16":
        wide = struct.pack("<f", value)
        if wide[:2] != b"\x00\x00":
            raise ValueError(f"{value} is not exactly a bfloat16")
        return wide[2:]  # the upper 16 bits of the float32, little-endian
    if dtype == "float8_e4m3fn":  # 1 sign bit, 4 exponent bits (bias 7), 3 mantissa bits; normal numbers only
        exponent = math.floor(math.log2(abs(value)))
        mantissa = (abs(value) / 2**exponent - 1) * 8
        if mantissa != int(mantissa) or not -6 <= exponent <= 8:
            raise ValueError(f"{value} is not exactly a normal float8_e4m3fn")
        return bytes([(value < 0) << 7 | (exponent + 7) << 3 | int(mantissa)])
    raise ValueError(dtype)


def _tensor(name: str, dtype: str, shape: list[int], values: Any) -> dict[str, Any]:
    flat = values if isinstance(values, list) else [values]
    if len(flat) != math.prod(shape):
        raise ValueError(f"{name}: {len(flat)} values for shape {shape}")
    data = b"".join(_encode_scalar(dtype, v) for v in flat)
    return {"name": name, "dtype": dtype, "shape": shape, "values": values, "data": data.hex(),
            "sha256": hashlib.sha256(data).hexdigest()}


def model_case(title: str, note: str, tensors: list[tuple[str, str, list[int], Any]]) -> dict[str, Any]:
    entries = [_tensor(*t) for t in tensors]
    manifest = {
        "format": "pot.model-hash.v1",
        "tensors": [{k: e[k] for k in ("name", "dtype", "shape", "sha256")}
                    for e in sorted(entries, key=lambda e: [ord(c) for c in e["name"]])],
    }
    canonical = rfc8785.dumps(manifest)
    return {"title": title, "note": note, "tensors": entries, "manifest": canonical.decode("utf-8"),
            "digest": hashlib.sha256(canonical).hexdigest(),
            "total_bytes": sum(len(bytes.fromhex(e["data"])) for e in entries)}


def file_set_case(title: str, files: list[tuple[str, bytes]]) -> dict[str, Any]:
    entries = [{"path": p, "data": d.hex(), "size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
               for p, d in files]
    manifest = {
        "format": "pot.file-set.v1",
        "files": [{k: e[k] for k in ("path", "size", "sha256")}
                  for e in sorted(entries, key=lambda e: [ord(c) for c in e["path"]])],
    }
    canonical = rfc8785.dumps(manifest)
    return {"title": title, "files": entries, "manifest": canonical.decode("utf-8"),
            "digest": hashlib.sha256(canonical).hexdigest(), "total_bytes": sum(e["size"] for e in entries)}


def build() -> dict[str, Any]:
    return {
        "about": "Known-answer vectors for pot.model-hash.v1 and pot.file-set.v1 (docs/MODEL_HASHING.md). "
                 "Per tensor: 'data' is the hex of its raw bytes (C order, little-endian scalars), 'values' the "
                 "same numbers for frameworks to encode ('NaN', 'Infinity', '-Infinity' for non-finite floats, "
                 "[real, imag] for complex); 'manifest' is the exact canonical JSON that 'digest' is the SHA-256 "
                 "of. Written by scripts/make_hash_vectors.py.",
        "model_cases": [
            model_case("mixed-dtypes", "every common dtype, special floats, a 0-d scalar, empty tensors; "
                       "tensors listed out of order", MIXED),
            model_case("scalar", "a single 0-d tensor: shape [] and one element", SCALAR),
            model_case("empty-model", "no tensors at all", []),
            model_case("unicode-names", "names sort by Unicode code point (UTF-8 byte order), not UTF-16", UNICODE),
        ],
        "file_set_cases": [file_set_case("checkpoint-directory", FILES)],
    }


def render() -> str:
    """The vectors as JSON with one tensor or file per line, so a diff of the file reads."""
    def dump(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    def case(c: dict[str, Any], key: str) -> str:
        fields = [f"   {dump(k)}: {dump(v)}" for k, v in c.items() if k != key]
        rows = ",\n".join(f"    {dump(e)}" for e in c[key])
        listing = f"   {dump(key)}: [\n{rows}\n   ]" if rows else f"   {dump(key)}: []"
        fields.insert(2 if key == "tensors" else 1, listing)
        return "  {\n" + ",\n".join(fields) + "\n  }"

    doc = build()
    models = ",\n".join(case(c, "tensors") for c in doc["model_cases"])
    files = ",\n".join(case(c, "files") for c in doc["file_set_cases"])
    text = (f'{{\n "about": {dump(doc["about"])},\n "model_cases": [\n{models}\n ],\n'
            f' "file_set_cases": [\n{files}\n ]\n}}\n')
    if json.loads(text) != doc:
        raise AssertionError("render() lost information")
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed file instead of writing")
    args = parser.parse_args()
    text = render()
    if args.check:
        if OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is out of date: run python scripts/make_hash_vectors.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
