"""Model and file-set hashing without a framework: known answers, a naive reference, changes, files, errors."""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pot import hashing
from pot.errors import FormatError, UsageError
from pot.hashing import (
    DTYPES,
    FileSetDigest,
    ModelDigest,
    TensorDigest,
    hash_buffers,
    hash_directory,
    hash_file,
    hash_safetensors,
    model_digest,
    stderr_progress,
)
from pot.log.canonical import canonical_json

REPO = Path(__file__).resolve().parents[2]
VECTORS = json.loads((REPO / "tests" / "assets" / "model_hash_vectors.json").read_text(encoding="utf-8"))
MODEL_CASES = {case["title"]: case for case in VECTORS["model_cases"]}
MIXED = MODEL_CASES["mixed-dtypes"]


def items_of(case: dict[str, Any]) -> list[tuple[str, str, list[int], bytes]]:
    return [(t["name"], t["dtype"], t["shape"], bytes.fromhex(t["data"])) for t in case["tensors"]]


def naive_digest(items: list[tuple[str, str, list[int], bytes]]) -> str:
    """The scheme straight from docs/MODEL_HASHING.md, with nothing shared with pot.hashing."""
    tensors = [{"name": n, "dtype": d, "shape": list(s), "sha256": hashlib.sha256(b).hexdigest()}
               for n, d, s, b in sorted(items, key=lambda item: item[0])]
    return hashlib.sha256(rfc8785.dumps({"format": "pot.model-hash.v1", "tensors": tensors})).hexdigest()


def write_safetensors(path: Path, items: list[tuple[str, str, list[int], bytes]],
                      metadata: dict[str, str] | None = None) -> None:
    """A .safetensors file written by hand from the format's description (8-byte length, JSON header, data)."""
    header: dict[str, Any] = {"__metadata__": metadata} if metadata is not None else {}
    offset = 0
    for name, dtype, shape, data in items:
        header[name] = {"dtype": DTYPES[dtype].safetensors, "shape": shape,
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + b"".join(item[3] for item in items))


# --- known answers ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("title", list(MODEL_CASES))
def test_known_answer_vectors(title: str) -> None:
    case = MODEL_CASES[title]
    result = hash_buffers(items_of(case))
    assert result.digest == case["digest"]
    assert result.total_bytes == case["total_bytes"]
    assert canonical_json(result.body()) == case["manifest"].encode("utf-8")
    expected = {t["name"]: t["sha256"] for t in case["tensors"]}
    assert {t.name: t.sha256 for t in result.manifest} == expected
    assert [t.name for t in result.manifest] == sorted(expected)


def test_vectors_cover_the_edge_cases_they_claim() -> None:
    dtypes = {t["dtype"] for t in MIXED["tensors"]}
    assert {"float32", "float16", "bfloat16", "bool", "int64", "uint8", "complex64"} <= dtypes
    shapes = [t["shape"] for t in MIXED["tensors"]]
    assert [] in shapes
    assert [0] in shapes
    assert [t["name"] for t in MIXED["tensors"]] != sorted(t["name"] for t in MIXED["tensors"])
    assert MODEL_CASES["empty-model"]["manifest"] == '{"format":"pot.model-hash.v1","tensors":[]}'


def test_unicode_names_sort_by_code_point_not_utf16() -> None:
    names = [t.name for t in hash_buffers(items_of(MODEL_CASES["unicode-names"])).manifest]
    assert names == ["a", "b", "\u00e9", "\uff01", "\U0001f600"]


def test_vector_file_is_what_the_script_writes() -> None:
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "make_hash_vectors.py"), "--check"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_naive_reference_agrees_on_the_vectors() -> None:
    for case in VECTORS["model_cases"]:
        assert naive_digest(items_of(case)) == case["digest"]


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(
    st.text(min_size=1, max_size=8),
    st.tuples(st.sampled_from(sorted(DTYPES)), st.lists(st.integers(0, 3), max_size=3), st.randoms()),
    max_size=6,
))
def test_matches_naive_reference(spec: dict[str, Any]) -> None:
    items = []
    for name, (dtype, shape, rng) in spec.items():
        size = DTYPES[dtype].itemsize * math.prod(shape)
        items.append((name, dtype, shape, rng.randbytes(size)))
    assert hash_buffers(items).digest == naive_digest(items)


# --- determinism ------------------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(st.permutations(items_of(MIXED)))
def test_order_of_items_does_not_matter(items: list[tuple[str, str, list[int], bytes]]) -> None:
    assert hash_buffers(items).digest == MIXED["digest"]


def test_same_digest_in_another_process() -> None:
    script = (
        "import json, sys\n"
        "from pot.hashing import hash_buffers\n"
        "case = json.loads(sys.stdin.read())\n"
        "items = [(t['name'], t['dtype'], t['shape'], bytes.fromhex(t['data'])) for t in reversed(case['tensors'])]\n"
        "print(hash_buffers(items, workers=2).digest)\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run([sys.executable, "-c", script], input=json.dumps(MIXED), capture_output=True,
                            text=True, check=True, cwd=REPO, env=env)
    assert result.stdout.strip() == hash_buffers(items_of(MIXED)).digest == MIXED["digest"]


@pytest.mark.parametrize("workers", [1, 2, 7])
def test_workers_and_chunk_size_do_not_change_the_digest(monkeypatch: pytest.MonkeyPatch, workers: int) -> None:
    monkeypatch.setattr(hashing, "CHUNK_BYTES", 3)
    assert hash_buffers(items_of(MIXED), workers=workers).digest == MIXED["digest"]


def test_chunk_sources_hash_like_buffers() -> None:
    def pieces(data: bytes) -> Any:
        return lambda: [data[i:i + 5] for i in range(0, len(data), 5)] + [b""]

    items = [(n, d, s, pieces(b)) for n, d, s, b in items_of(MIXED)]
    assert hash_buffers(items, workers=3).digest == MIXED["digest"]


def test_buffers_are_hashed_in_place_from_any_buffer_type() -> None:
    numpy = pytest.importorskip("numpy")
    weight = numpy.array([[1.0, -2.5, 0.0], [-0.0, 3.140625, 0.001]], dtype="<f4")
    as_numpy = hash_buffers([("w", "float32", [2, 3], weight)])
    for data in (weight.tobytes(), bytearray(weight.tobytes()), memoryview(weight.tobytes())):
        assert hash_buffers([("w", "float32", [2, 3], data)]) == as_numpy
    assert as_numpy.manifest[0].sha256 == MIXED["tensors"][0]["sha256"]


def test_import_pulls_in_no_framework() -> None:
    code = "import sys, pot, pot.hashing; print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert result.stdout.strip() == "[]"


# --- every change shows -----------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_single_change_changes_the_digest(data: st.DataObject) -> None:
    items = [item for item in items_of(MIXED) if item[3]]  # tensors with at least one byte
    index = data.draw(st.integers(0, len(items) - 1))
    name, dtype, shape, raw = items[index]
    kind = data.draw(st.sampled_from(["byte", "dtype", "shape", "name"]))
    if kind == "byte":
        at = data.draw(st.integers(0, len(raw) - 1))
        flip = data.draw(st.integers(1, 255))
        changed = (name, dtype, shape, raw[:at] + bytes([raw[at] ^ flip]) + raw[at + 1:])
        expected = "values"
    elif kind == "dtype":  # same itemsize, so the same bytes still fit
        other = data.draw(st.sampled_from(
            [d for d, info in DTYPES.items() if info.itemsize == DTYPES[dtype].itemsize and d != dtype]))
        changed = (name, other, shape, raw)
        expected = f"dtype {dtype} -> {other}"
    elif kind == "shape":  # same element count
        changed = (name, dtype, [*shape, 1], raw)
        expected = f"shape {shape} -> {[*shape, 1]}"
    else:
        changed = (name + "_", dtype, shape, raw)
        expected = None
    before = hash_buffers(items)
    after = hash_buffers([*items[:index], changed, *items[index + 1:]])
    assert after.digest != before.digest
    if expected is None:
        assert before.diff(after) == [(name, "removed"), (name + "_", "added")]
    else:
        assert before.diff(after) == [(name, expected)]


def test_diff_names_what_changed() -> None:
    old = hash_buffers([("a", "float32", [2], bytes(8)), ("b", "int64", [], bytes(8)), ("c", "uint8", [1], b"x")])
    new = hash_buffers([("a", "float32", [2], bytes(7) + b"\x01"), ("b", "float64", [1], bytes(8)),
                        ("d", "uint8", [1], b"x")])
    assert old.diff(new) == [("a", "values"), ("b", "dtype int64 -> float64; shape [] -> [1]"),
                             ("c", "removed"), ("d", "added")]
    assert old.diff(old) == []
    assert new.diff(old)[0] == ("a", "values")


def test_digest_round_trips_through_json_and_checks_itself() -> None:
    result = hash_buffers(items_of(MIXED))
    assert ModelDigest.from_json(json.dumps(result.to_json())) == result
    tampered = result.to_json()
    tampered["tensors"][0]["sha256"] = "0" * 64
    with pytest.raises(FormatError, match="is not the hash of the manifest"):
        ModelDigest.from_json(tampered)
    with pytest.raises(FormatError, match=r"unknown format 'pot\.model-hash\.v2'"):
        ModelDigest.from_json({**result.to_json(), "format": "pot.model-hash.v2"})
    twice = {**result.to_json(), "tensors": [result.manifest[0].to_json()] * 2}
    with pytest.raises(FormatError, match="duplicate tensor name"):
        ModelDigest.from_json(twice)


def test_model_digest_from_precomputed_entries() -> None:
    entries = [TensorDigest(t["name"], t["dtype"], tuple(t["shape"]), t["sha256"]) for t in MIXED["tensors"]]
    assert model_digest(reversed(entries)).digest == MIXED["digest"]


# --- errors -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("items", "message"), [
    ([("w", "float32", [1], bytes(4)), ("w", "float32", [1], bytes(4))],
     "duplicate tensor name 'w': names must be unique"),
    ([("w", "float33", [1], bytes(4))], "unknown dtype 'float33'; pot hashes bool, uint8"),
    ([("w", "float32", [2], bytes(4))], "tensor 'w': 4 bytes of data, but float32 [2] takes 8"),
    ([("w", "float32", [-1], b"")], "tensor 'w': shape [-1] must hold integers from 0 to 2**53-1"),
    ([("w", "float32", [True], bytes(4))], "tensor 'w': shape [True] must hold integers"),
    ([("w", "float32", "4", bytes(4))], "tensor 'w': shape must be a list of integers, got str"),
    ([("w", "float32", [1], 1234)], "tensor 'w': int is neither a bytes-like buffer nor a chunk source"),
    ([("w", "uint8", [3], memoryview(b"abcdef")[::2])], "tensor 'w': buffer is not C-contiguous"),
    ([("w", "uint8", [1], lambda: [b"ab"])], "tensor 'w': its chunks held 2 bytes, but uint8 [1] takes 1"),
    ([("\ud800", "uint8", [1], b"a")], "is not valid Unicode (it holds a lone surrogate)"),
    ([(1, "uint8", [1], b"a")], "tensor name must be a string, got int"),
    (["w"], "each item must be a (name, dtype, shape, data) tuple, got str"),
])
def test_bad_items_are_refused_with_one_clear_line(items: list[Any], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        hash_buffers(items)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_workers_must_be_a_positive_integer(workers: Any) -> None:
    with pytest.raises(UsageError, match="workers must be a positive integer"):
        hash_buffers([("w", "uint8", [1], b"a")], workers=workers)


def test_a_failing_chunk_source_stops_the_run() -> None:
    def broken() -> Any:
        raise UsageError("device lost")

    items = [(f"t{i}", "uint8", [1], b"a") for i in range(20)] + [("bad", "uint8", [1], broken)]
    with pytest.raises(UsageError, match="device lost"):
        hash_buffers(items, workers=2)


# --- progress ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
def test_progress_is_monotonic_ends_at_total_and_stays_on_the_caller_thread(
        monkeypatch: pytest.MonkeyPatch, workers: int) -> None:
    monkeypatch.setattr(hashing, "CHUNK_BYTES", 1000)
    calls: list[tuple[int, int, int]] = []
    items = [(f"t{i}", "uint8", [10_000], bytes(10_000)) for i in range(8)]
    hash_buffers(items, workers=workers, progress=lambda done, total: calls.append((done, total,
                                                                                    threading.get_ident())))
    assert calls[0][:2] == (0, 80_000)
    assert calls[-1][:2] == (80_000, 80_000)
    assert [c[0] for c in calls] == sorted({c[0] for c in calls})
    assert {c[2] for c in calls} == {threading.get_ident()}
    if workers == 1:
        assert len(calls) == 81


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_stderr_progress_draws_only_on_a_terminal_and_for_large_totals(monkeypatch: pytest.MonkeyPatch) -> None:
    big = 1 << 30
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    draw = stderr_progress("hashing model")
    for done in (0, big // 2, big // 2, big):
        draw(done, big)
    lines = terminal.getvalue().split("\r")[1:]
    assert len(lines) == 3  # the repeated 50% is not redrawn
    assert lines[1].startswith("hashing model [###############---------------]  50% 0.50/1.00 GiB")
    assert lines[2].endswith("100% 1.00/1.00 GiB\n")

    small = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", small)
    stderr_progress("x")(10, 100 << 20)
    assert small.getvalue() == ""

    pipe = io.StringIO()
    monkeypatch.setattr(sys, "stderr", pipe)
    stderr_progress("x")(big, big)
    assert pipe.getvalue() == ""


# --- files ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 4096, 10_000])
def test_hash_file_equals_hashlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    monkeypatch.setattr(hashing, "READ_BYTES", 4096)  # several reads, one of them short
    data = os.urandom(size)
    (tmp_path / "ckpt.bin").write_bytes(data)
    seen: list[tuple[int, int]] = []
    assert hash_file(tmp_path / "ckpt.bin", progress=lambda d, t: seen.append((d, t))) \
        == hashlib.sha256(data).hexdigest()
    assert seen[-1] == (size, size)


def test_hash_file_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^no such file: .*missing\.pt$"):
        hash_file(tmp_path / "missing.pt")
    with pytest.raises(UsageError, match=r"is a directory, expected a file \(hash_directory hashes directories\)"):
        hash_file(tmp_path)


def make_checkpoint_dir(root: Path) -> dict[str, bytes]:
    files = {f["path"]: bytes.fromhex(f["data"]) for f in VECTORS["file_set_cases"][0]["files"]}
    for relative, data in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    return files


def test_hash_directory_known_answer_with_nested_shards(tmp_path: Path) -> None:
    case = VECTORS["file_set_cases"][0]
    make_checkpoint_dir(tmp_path)
    result = hash_directory(tmp_path, workers=2)
    assert result.digest == case["digest"]
    assert canonical_json(result.body()) == case["manifest"].encode("utf-8")
    assert [f.path for f in result.manifest] == sorted(f["path"] for f in case["files"])
    assert result.total_bytes == case["total_bytes"]
    assert FileSetDigest.from_json(result.to_json()) == result


def test_hash_directory_naive_reference_and_changes(tmp_path: Path) -> None:
    root = tmp_path / "ckpt"
    files = make_checkpoint_dir(root)
    (root / "shards" / "deeper").mkdir()
    files["shards/deeper/extra.bin"] = os.urandom(3000)
    (root / "shards/deeper/extra.bin").write_bytes(files["shards/deeper/extra.bin"])
    entries = [{"path": p, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for p, d in sorted(files.items())]
    naive = hashlib.sha256(rfc8785.dumps({"format": "pot.file-set.v1", "files": entries})).hexdigest()
    before = hash_directory(root, workers=1)
    assert before.digest == naive == hash_directory(root, workers=3).digest

    (root / "config.json").write_bytes(b'{"hidden": 5}\n')
    (root / "shards" / "deeper" / "extra.bin").rename(root / "shards" / "deeper" / "moved.bin")
    (root / "tokenizer" / "vocab.txt").write_bytes(b"a\n")
    after = hash_directory(root)
    assert after.digest != before.digest
    assert before.diff(after) == [("config.json", "content"), ("shards/deeper/extra.bin", "removed"),
                                  ("shards/deeper/moved.bin", "added"), ("tokenizer/vocab.txt", "size 7 -> 2; content")]


def test_hash_directory_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "ckpt"
    make_checkpoint_dir(root)
    plain = hash_directory(root)
    (root / "latest.json").symlink_to("config.json")
    (root / "alias").symlink_to("shards", target_is_directory=True)
    linked = hash_directory(root)
    paths = [f.path for f in linked.manifest]
    assert "latest.json" in paths
    assert not any(p.startswith("alias/") for p in paths)
    assert linked.diff(plain) == [("latest.json", "removed")]

    (tmp_path / "secret.txt").write_text("outside")
    (root / "escape.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(UsageError, match=r"escape\.txt is a symlink to .*secret\.txt, outside .*ckpt; pot hashes "
                                         r"only files inside it"):
        hash_directory(root)
    (root / "escape.txt").unlink()
    (root / "up").symlink_to("..", target_is_directory=True)
    with pytest.raises(UsageError, match=r"up is a symlink to .*, outside"):
        hash_directory(root)
    (root / "up").unlink()
    (root / "dangling").symlink_to("nowhere")
    with pytest.raises(UsageError, match=r"dangling is a broken symlink"):
        hash_directory(root)


def test_hash_directory_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^no such directory: .*nope$"):
        hash_directory(tmp_path / "nope")
    (tmp_path / "f.bin").write_bytes(b"x")
    with pytest.raises(UsageError, match=r"f\.bin is not a directory$"):
        hash_directory(tmp_path / "f.bin")
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(UsageError, match=r"pipe is not a regular file$"):
        hash_directory(tmp_path)


# --- a Hugging Face cache snapshot (the layout huggingface_hub writes, built by hand: no download) -----------

HF_REVISION = "0123456789abcdef0123456789abcdef01234567"  # a commit hash: what names a snapshot folder
HF_FILES = {
    "config.json": b'{"model_type": "bert", "hidden_size": 8}\n',
    "model.safetensors": os.urandom(4096),
    "tokenizer/vocab.txt": b"[PAD]\n[UNK]\nhello\n",
    "tokenizer/special_tokens_map.json": b"{}\n",
    "empty.txt": b"",
}


def make_hf_cache(cache: Path, repo_id: str = "acme/tiny-bert", files: dict[str, bytes] | None = None,
                  revision: str = HF_REVISION) -> Path:
    """``cache/models--org--name/{blobs,refs,snapshots/<revision>}``, each snapshot file a relative symlink to
    its blob (``../../blobs/<hash>``, one ``../`` more per subfolder), as huggingface_hub lays a cache out.
    Returns the snapshot folder."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / revision
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "blobs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    for relative, data in (HF_FILES if files is None else files).items():
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()  # LFS blobs are named by their sha256
        blob.write_bytes(data)
        link = snapshot / relative
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    return snapshot


def test_a_hugging_face_cache_snapshot_hashes_like_a_plain_copy_of_its_files(tmp_path: Path) -> None:
    snapshot = make_hf_cache(tmp_path / "hub")
    assert os.readlink(snapshot / "config.json").startswith("../../blobs/")
    assert os.readlink(snapshot / "tokenizer" / "vocab.txt").startswith("../../../blobs/")
    plain = tmp_path / "plain"
    shutil.copytree(snapshot, plain)  # follows the links: a directory of regular files
    assert not any(p.is_symlink() for p in plain.rglob("*"))
    entries = [{"path": p, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
               for p, d in sorted(HF_FILES.items())]
    naive = hashlib.sha256(rfc8785.dumps({"format": "pot.file-set.v1", "files": entries})).hexdigest()

    linked = hash_directory(snapshot, workers=2)
    assert linked.digest == hash_directory(plain).digest == naive
    assert [f.path for f in linked.manifest] == sorted(HF_FILES)  # under the links' names, not the blobs'
    assert hashing.checkpoint_digest(snapshot) == naive
    # a component folder of a snapshot (diffusers keeps one per model part) is inside the repository too
    assert hash_directory(snapshot / "tokenizer").digest == hash_directory(plain / "tokenizer").digest
    # reached through a symlink to the snapshot (a convenience link elsewhere), the snapshot is still recognised
    (tmp_path / "latest").symlink_to(snapshot, target_is_directory=True)
    assert hash_directory(tmp_path / "latest").digest == naive


def test_huggingface_hub_sees_the_test_cache_as_a_snapshot(tmp_path: Path) -> None:
    """The layout the tests build is the one huggingface_hub itself reads (its own scan, nothing downloaded)."""
    hub = pytest.importorskip("huggingface_hub")
    snapshot = make_hf_cache(tmp_path / "hub")
    info = hub.scan_cache_dir(tmp_path / "hub")
    assert not info.warnings
    (repo,) = info.repos
    assert (repo.repo_id, repo.repo_type) == ("acme/tiny-bert", "model")
    (revision,) = repo.revisions
    assert revision.commit_hash == HF_REVISION and Path(revision.snapshot_path) == snapshot
    assert revision.refs == frozenset({"main"})
    assert sorted(Path(f.file_path).relative_to(snapshot).as_posix() for f in revision.files) == sorted(HF_FILES)
    assert {Path(f.blob_path).parent for f in revision.files} == {snapshot.parent.parent / "blobs"}


def test_a_snapshot_link_that_leaves_its_repository_folder_is_refused(tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    other = make_hf_cache(hub, "acme/other", {"secret.bin": b"another model"}, revision="f" * 40)
    snapshot = make_hf_cache(hub)
    (tmp_path / "outside.txt").write_text("outside the cache")
    repo = snapshot.parent.parent
    cases = {
        "to-another-repo.bin": other / "secret.bin",  # the same cache, another model's blobs
        "to-outside.txt": tmp_path / "outside.txt",
        "to-cache-root": hub / "version.txt",
    }
    (hub / "version.txt").write_text("1")
    for name, target in cases.items():
        (snapshot / name).symlink_to(os.path.relpath(target, snapshot))
        with pytest.raises(UsageError, match=rf"^{re.escape(str(snapshot / name))} is a symlink to .*, outside "
                                             rf"{re.escape(str(repo))}, the Hugging Face cache repository "
                                             rf"folder of {re.escape(str(snapshot))}"):
            hash_directory(snapshot)
        (snapshot / name).unlink()
    # a blob that is itself a link out of the cache: the link's final target is what counts
    blob = repo / "blobs" / hashlib.sha256(HF_FILES["config.json"]).hexdigest()
    blob.unlink()
    blob.symlink_to(tmp_path / "outside.txt")
    with pytest.raises(UsageError, match=r"config\.json is a symlink to .*outside\.txt, outside .*models--acme--tiny"):
        hash_directory(snapshot)
    # a download in progress: the link is there, its blob not yet
    blob.unlink()
    with pytest.raises(UsageError, match=r"config\.json is a broken symlink"):
        hash_directory(snapshot)


def test_a_directory_link_in_a_snapshot_still_must_stay_in_the_directory(tmp_path: Path) -> None:
    """Only files are followed into the repository folder: a directory link to elsewhere in it would put files
    the manifest does not list under the link's own path, so it is refused as before."""
    snapshot = make_hf_cache(tmp_path / "hub")
    (snapshot / "blobs").symlink_to("../../blobs", target_is_directory=True)
    with pytest.raises(UsageError, match=r"blobs is a symlink to .*, outside"):
        hash_directory(snapshot)


@pytest.mark.parametrize("layout", [
    "models--acme--tiny-bert/snapshot/REV",   # not "snapshots"
    "acme--tiny-bert/snapshots/REV",          # not a repository folder's name
    "models--/snapshots/REV",                 # no repository id
    "models--acme--tiny-bert/REV",            # no snapshots level
])
def test_links_into_blobs_from_a_folder_that_is_no_snapshot_are_refused(tmp_path: Path, layout: str) -> None:
    directory = tmp_path / layout.replace("REV", HF_REVISION)
    blobs = directory.parent.parent / "blobs"
    blobs.mkdir(parents=True)
    (blobs / "b").write_bytes(b"weights")
    directory.mkdir(parents=True)
    (directory / "model.bin").symlink_to(os.path.relpath(blobs / "b", directory))
    with pytest.raises(UsageError, match=r"model\.bin is a symlink to .*, outside .*; pot hashes only files inside it"):
        hash_directory(directory)


def test_pot_hash_of_a_snapshot_and_of_a_link_out_of_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pot.cli import main

    snapshot = make_hf_cache(tmp_path / "hub")
    plain = tmp_path / "plain"
    shutil.copytree(snapshot, plain)
    assert main(["--json", "hash", str(snapshot)]) == 0
    out, _ = capsys.readouterr()
    assert json.loads(out)["digest"] == hash_directory(plain).digest
    (tmp_path / "outside.txt").write_text("x")
    (snapshot / "leak.txt").symlink_to(tmp_path / "outside.txt")
    assert main(["hash", str(snapshot)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and "Hugging Face cache repository folder" in err


@pytest.mark.parametrize("path", ["", "/etc/passwd", "../up.bin", "a//b", "./a", "a/./b", "a/"])
def test_file_set_documents_carry_only_relative_paths(path: str) -> None:
    document = {"format": "pot.file-set.v1", "files": [{"path": path, "size": 0, "sha256": "0" * 64}],
                "digest": "0" * 64}
    with pytest.raises(FormatError, match="must be relative, with '/' between names and no '.' or '..'"):
        FileSetDigest.from_json(document)


def test_empty_directory_has_the_empty_file_set_digest(tmp_path: Path) -> None:
    empty = hashlib.sha256(b'{"files":[],"format":"pot.file-set.v1"}').hexdigest()
    assert hash_directory(tmp_path).digest == empty


# --- safetensors (written by hand, no framework) ---------------------------------------------------------------


@pytest.mark.parametrize("title", ["mixed-dtypes", "scalar", "empty-model", "unicode-names"])
def test_safetensors_file_has_the_in_memory_digest(tmp_path: Path, title: str) -> None:
    case = MODEL_CASES[title]
    path = tmp_path / "model.safetensors"
    write_safetensors(path, items_of(case), metadata={"format": "pt", "step": "100"})
    assert hash_safetensors(path, workers=2).digest == case["digest"]


def test_safetensors_metadata_is_not_part_of_the_model_digest(tmp_path: Path) -> None:
    write_safetensors(tmp_path / "a.safetensors", items_of(MIXED), metadata={"step": "1"})
    write_safetensors(tmp_path / "b.safetensors", items_of(MIXED), metadata={"step": "2"})
    assert hash_safetensors(tmp_path / "a.safetensors") == hash_safetensors(tmp_path / "b.safetensors")
    assert hash_file(tmp_path / "a.safetensors") != hash_file(tmp_path / "b.safetensors")


def _header_file(path: Path, header: bytes, data: bytes = b"", length: int | None = None) -> Path:
    path.write_bytes((len(header) if length is None else length).to_bytes(8, "little") + header + data)
    return path


F32 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


@pytest.mark.parametrize(("header", "data", "length", "message"), [
    (None, b"", None, "not a safetensors file (shorter than its 8-byte header length)"),
    (b"{}", b"", 4096, "safetensors header length 4096 runs past the end of the file (10 bytes)"),
    (b"{not json", b"", None, "safetensors header is not valid JSON"),
    (b"\xff\xfe", b"", None, "safetensors header is not UTF-8 text"),
    (b"[1, 2]", b"", None, "safetensors header is not a JSON object"),
    (b'{"w": %s, "w": %s}' % (json.dumps(F32).encode(), json.dumps(F32).encode()), bytes(8), None,
     "duplicate key 'w'"),
    (json.dumps({"w": {"dtype": "F32", "shape": [2]}}).encode(), bytes(8), None,
     "tensor 'w': entry must be an object with exactly dtype, shape and data_offsets"),
    (json.dumps({"w": {**F32, "dtype": "F4"}}).encode(), bytes(8), None,
     "tensor 'w': dtype 'F4' is not one pot hashes (BOOL, U8"),
    (json.dumps({"w": {**F32, "shape": [-2]}}).encode(), bytes(8), None,
     "tensor 'w': shape [-2] must hold integers from 0 to 2**53-1"),
    (json.dumps({"w": {**F32, "data_offsets": [0, 16]}}).encode(), bytes(8), None,
     "tensor 'w': data_offsets [0, 16] is not [begin, end] within the 8-byte data section"),
    (json.dumps({"w": {**F32, "data_offsets": [4, 0]}}).encode(), bytes(8), None,
     "tensor 'w': data_offsets [4, 0] is not [begin, end]"),
    (json.dumps({"w": {**F32, "data_offsets": [0, 4]}}).encode(), bytes(8), None,
     "tensor 'w': data_offsets cover 4 bytes, but float32 [2] takes 8"),
    (b'{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, NaN]}}', bytes(8), None,
     "safetensors header contains NaN, which is not JSON"),
])
def test_malformed_safetensors_headers_are_refused(
        tmp_path: Path, header: bytes | None, data: bytes, length: int | None, message: str) -> None:
    path = tmp_path / "bad.safetensors"
    if header is None:
        path.write_bytes(b"\x01\x00")
    else:
        _header_file(path, header, data, length)
    with pytest.raises(FormatError) as caught:
        hash_safetensors(path)
    assert message in str(caught.value)
    assert str(caught.value).startswith(str(path))
    assert "\n" not in str(caught.value)


def test_safetensors_file_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^no such file: .*absent\.safetensors$"):
        hash_safetensors(tmp_path / "absent.safetensors")
    with pytest.raises(UsageError, match="is a directory, expected a file"):
        hash_safetensors(tmp_path)
