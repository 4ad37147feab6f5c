"""Model hashing: one digest for a model's weights, computed at the speed of SHA-256.

Framework-free: this module imports only the standard library (and pot's canonical JSON). PyTorch models go
through :mod:`pot.integrations.torch`, which turns tensors into the byte buffers hashed here.

Frozen by the model-hash format ``pot.model-hash.v1`` and the file-set format ``pot.file-set.v1``
(docs/MODEL_HASHING.md, known-answer vectors in tests/assets/model_hash_vectors.json). Changing how a tensor's
bytes, the manifest or the digest are formed needs a new format string.

- A tensor is a name, a dtype (a name from :data:`DTYPES`), a shape and its raw bytes: the elements in C
  (row-major) order, each scalar little-endian. Its digest is SHA-256 of those bytes and nothing else.
- The model digest is SHA-256 of the RFC 8785 canonical JSON of the manifest
  ``{"format": "pot.model-hash.v1", "tensors": [{"name", "dtype", "shape", "sha256"}, ...]}``, tensors sorted by
  name (Unicode code point order). Names are unique. So insertion order never matters, and every name, dtype,
  shape and byte is covered.
- A set of files (a checkpoint directory, shards) is hashed the same way with
  ``{"format": "pot.file-set.v1", "files": [{"path", "size", "sha256"}, ...]}``.

Speed: tensors (and files) are hashed in parallel on a thread pool; ``hashlib`` releases the GIL while it hashes,
so threads use every core. Each tensor is fed to SHA-256 in zero-copy slices of at most 64 MiB.

Example::

    from pot.hashing import hash_buffers, hash_safetensors

    digest = hash_buffers([("w", "float32", [2], b"\\x00\\x00\\x80?\\x00\\x00\\x00@")])  # w = [1.0, 2.0]
    print(digest.digest)                       # what a proof records as model_hash
    other = hash_safetensors("model.safetensors")
    print(digest.diff(other))                  # [("w", "values")] or [] when the tensors are the same
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import math
import mmap
import os
import re
import stat
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from pickle import PickleBuffer
from typing import IO, Any, TypeAlias

from pot._internal import paths, strictjson
from pot.errors import FormatError, UsageError
from pot.log.canonical import MAX_SAFE_INTEGER, HexDigest, canonical_json

MODEL_HASH_FORMAT = "pot.model-hash.v1"
FILE_SET_FORMAT = "pot.file-set.v1"

CHUNK_BYTES = 64 << 20
"""Largest slice handed to SHA-256 at once, and largest copy made of a tensor that is not contiguous in memory."""

READ_BYTES = 1 << 20
"""Read size when hashing files: large enough that system calls cost nothing next to SHA-256."""

PROGRESS_MIN_BYTES = 256 << 20
"""Below this, :func:`stderr_progress` draws nothing: the work is over before a bar is worth reading."""

MAX_SAFETENSORS_HEADER = 100_000_000  # the limit the safetensors library itself enforces

ProgressCallback: TypeAlias = Callable[[int, int], None]
"""``progress(done_bytes, total_bytes)``; always called on the thread that called the hash function."""

ChunkSource: TypeAlias = Callable[[], Iterable[Any]]
"""A zero-argument callable returning an iterable of buffers that, concatenated, are a tensor's raw bytes."""


@dataclass(frozen=True, slots=True)
class DType:
    """One dtype the format knows: its byte size, the byte-order unit and its safetensors code."""

    name: str
    itemsize: int
    unit: int  # size of one little-endian scalar: the itemsize, or half of it for complex numbers
    safetensors: str | None


# Frozen by pot.model-hash.v1: the names are PyTorch's dtype attribute names (numpy's, where numpy has the type).
# Adding a dtype is compatible; renaming one is not.
DTYPES: Mapping[str, DType] = {
    d.name: d
    for d in (
        DType("bool", 1, 1, "BOOL"),
        DType("uint8", 1, 1, "U8"),
        DType("int8", 1, 1, "I8"),
        DType("uint16", 2, 2, "U16"),
        DType("int16", 2, 2, "I16"),
        DType("uint32", 4, 4, "U32"),
        DType("int32", 4, 4, "I32"),
        DType("uint64", 8, 8, "U64"),
        DType("int64", 8, 8, "I64"),
        DType("float16", 2, 2, "F16"),
        DType("bfloat16", 2, 2, "BF16"),
        DType("float32", 4, 4, "F32"),
        DType("float64", 8, 8, "F64"),
        DType("complex64", 8, 4, "C64"),
        DType("complex128", 16, 8, None),
        DType("float8_e4m3fn", 1, 1, "F8_E4M3"),
        DType("float8_e4m3fnuz", 1, 1, "F8_E4M3FNUZ"),
        DType("float8_e5m2", 1, 1, "F8_E5M2"),
        DType("float8_e5m2fnuz", 1, 1, "F8_E5M2FNUZ"),
        DType("float8_e8m0fnu", 1, 1, "F8_E8M0"),
    )
}

SAFETENSORS_DTYPES: Mapping[str, str] = {d.safetensors: d.name for d in DTYPES.values() if d.safetensors}
"""safetensors dtype code -> dtype name. Sub-byte codes (F4, F6_*) are left out: their shapes count elements
that do not fill a byte, so the same tensor would get a different shape from PyTorch."""


# --- digests ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TensorDigest:
    """One manifest entry: a tensor's name, dtype, shape and the SHA-256 of its raw bytes."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    sha256: HexDigest

    def __post_init__(self) -> None:
        _check_name(self.name, "tensor name")
        dtype_info(self.dtype)
        object.__setattr__(self, "shape", _check_shape(self.shape, self.name))
        _check_hex64(self.sha256, f"tensor {self.name!r} sha256")

    @property
    def nbytes(self) -> int:
        return DTYPES[self.dtype].itemsize * math.prod(self.shape)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape), "sha256": self.sha256}


@dataclass(frozen=True, slots=True)
class ModelDigest:
    """A model's digest and the manifest it was computed from (tensors sorted by name).

    Build one with :func:`hash_buffers`, :func:`hash_safetensors`, ``pot.integrations.torch.hash_model`` or, from
    tensor digests computed elsewhere, :func:`model_digest`. ``digest`` is what a proof records as ``model_hash``.
    """

    digest: HexDigest
    manifest: tuple[TensorDigest, ...]
    total_bytes: int

    def body(self) -> dict[str, Any]:
        """The manifest object whose RFC 8785 canonical JSON ``digest`` is the SHA-256 of."""
        return {"format": MODEL_HASH_FORMAT, "tensors": [t.to_json() for t in self.manifest]}

    def to_json(self) -> dict[str, Any]:
        return {**self.body(), "digest": self.digest, "total_bytes": self.total_bytes}

    @classmethod
    def from_json(cls, data: str | bytes | Mapping[str, Any]) -> ModelDigest:
        """Parse :meth:`to_json` output and check that its digest is the hash of its manifest, or raise
        :class:`FormatError`."""
        document = _load_document(data, MODEL_HASH_FORMAT, "tensors", {"format", "tensors", "digest", "total_bytes"})
        try:
            entries = [
                TensorDigest(e["name"], e["dtype"], e["shape"], e["sha256"])
                for e in _entries(document["tensors"], {"name", "dtype", "shape", "sha256"}, "tensor")
            ]
            result = model_digest(entries)
        except UsageError as exc:
            raise FormatError(f"model digest: {exc}") from None
        _check_claims(result.digest, result.total_bytes, document)
        return result

    def diff(self, other: ModelDigest) -> list[tuple[str, str]]:
        """What changed from ``self`` to ``other``, tensor by tensor, sorted by name.

        Each entry is ``(name, what)`` with ``what`` one of ``"added"`` (only in ``other``), ``"removed"``
        (only in ``self``), or ``"; "``-joined changes among ``"dtype float32 -> float16"``,
        ``"shape [2, 3] -> [3, 2]"`` and ``"values"`` (the bytes differ). Empty when the digests are equal.
        """
        def describe(a: TensorDigest, b: TensorDigest) -> str:
            changes = []
            if a.dtype != b.dtype:
                changes.append(f"dtype {a.dtype} -> {b.dtype}")
            if a.shape != b.shape:
                changes.append(f"shape {list(a.shape)} -> {list(b.shape)}")
            if a.sha256 != b.sha256:
                changes.append("values")
            return "; ".join(changes)

        return _diff({t.name: t for t in self.manifest}, {t.name: t for t in other.manifest}, describe)


@dataclass(frozen=True, slots=True)
class FileDigest:
    """One file of a file set: its relative POSIX path, size in bytes and SHA-256."""

    path: str
    size: int
    sha256: HexDigest

    def __post_init__(self) -> None:
        _check_name(self.path, "file path")
        if any(part in ("", ".", "..") for part in self.path.split("/")):
            raise UsageError(f"file path {self.path!r} must be relative, with '/' between names and no '.' or '..'")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 0 <= self.size <= MAX_SAFE_INTEGER:
            raise UsageError(f"file {self.path!r}: size must be an integer from 0 to 2**53-1, got {self.size!r}")
        _check_hex64(self.sha256, f"file {self.path!r} sha256")

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True, slots=True)
class FileSetDigest:
    """The digest of a set of files (a checkpoint directory) and its manifest, files sorted by path."""

    digest: HexDigest
    manifest: tuple[FileDigest, ...]
    total_bytes: int

    def body(self) -> dict[str, Any]:
        return {"format": FILE_SET_FORMAT, "files": [f.to_json() for f in self.manifest]}

    def to_json(self) -> dict[str, Any]:
        return {**self.body(), "digest": self.digest, "total_bytes": self.total_bytes}

    @classmethod
    def from_json(cls, data: str | bytes | Mapping[str, Any]) -> FileSetDigest:
        """Parse :meth:`to_json` output and check its digest, or raise :class:`FormatError`."""
        document = _load_document(data, FILE_SET_FORMAT, "files", {"format", "files", "digest", "total_bytes"})
        try:
            entries = [
                FileDigest(e["path"], e["size"], e["sha256"])
                for e in _entries(document["files"], {"path", "size", "sha256"}, "file")
            ]
            result = file_set_digest(entries)
        except UsageError as exc:
            raise FormatError(f"file-set digest: {exc}") from None
        _check_claims(result.digest, result.total_bytes, document)
        return result

    def diff(self, other: FileSetDigest) -> list[tuple[str, str]]:
        """What changed from ``self`` to ``other``, file by file: ``"added"``, ``"removed"``,
        ``"size 10 -> 12; content"`` or ``"content"``."""
        def describe(a: FileDigest, b: FileDigest) -> str:
            changes = []
            if a.size != b.size:
                changes.append(f"size {a.size} -> {b.size}")
            if a.sha256 != b.sha256:
                changes.append("content")
            return "; ".join(changes)

        return _diff({f.path: f for f in self.manifest}, {f.path: f for f in other.manifest}, describe)


def model_digest(tensors: Iterable[TensorDigest]) -> ModelDigest:
    """Sort tensor digests by name, check names are unique, and hash the manifest (pot.model-hash.v1)."""
    manifest = tuple(sorted(tensors, key=lambda t: t.name))
    _check_unique([t.name for t in manifest], "tensor name")
    body = {"format": MODEL_HASH_FORMAT, "tensors": [t.to_json() for t in manifest]}
    digest = HexDigest(hashlib.sha256(canonical_json(body)).hexdigest())
    return ModelDigest(digest, manifest, sum(t.nbytes for t in manifest))


def file_set_digest(files: Iterable[FileDigest]) -> FileSetDigest:
    """Sort file digests by path, check paths are unique, and hash the manifest (pot.file-set.v1)."""
    manifest = tuple(sorted(files, key=lambda f: f.path))
    _check_unique([f.path for f in manifest], "file path")
    body = {"format": FILE_SET_FORMAT, "files": [f.to_json() for f in manifest]}
    digest = HexDigest(hashlib.sha256(canonical_json(body)).hexdigest())
    return FileSetDigest(digest, manifest, sum(f.size for f in manifest))


def dtype_info(name: str) -> DType:
    """The :class:`DType` called ``name``, or a :class:`UsageError` listing the known names."""
    info = DTYPES.get(name) if isinstance(name, str) else None
    if info is None:
        raise UsageError(f"unknown dtype {name!r}; pot hashes {', '.join(DTYPES)}")
    return info


# --- hashing tensors --------------------------------------------------------------------------------------------


def hash_buffers(
    items: Iterable[tuple[str, str, Sequence[int], Any]],
    *,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
) -> ModelDigest:
    """Hash tensors given as ``(name, dtype, shape, data)`` and return the model digest.

    ``data`` is the tensor's raw bytes (C order, little-endian scalars) as any C-contiguous buffer (bytes,
    bytearray, memoryview, mmap, numpy array), hashed in place without a copy; or a :data:`ChunkSource`, called on
    a worker thread, whose chunks together are those bytes (for data that has to be copied out piece by piece).
    Tensors are hashed in parallel on ``workers`` threads (default: the CPUs this process may use).

    Raises :class:`UsageError` for a duplicate name, an unknown dtype, a bad shape, or data whose length is not
    ``itemsize * prod(shape)``.
    """
    names: set[str] = set()
    entries: list[tuple[str, str, tuple[int, ...]]] = []
    jobs: list[_Job] = []
    for item in items:
        if not isinstance(item, tuple | list) or len(item) != 4:
            raise UsageError(f"each item must be a (name, dtype, shape, data) tuple, got {type(item).__name__}")
        name, dtype, shape, data = item
        _check_name(name, "tensor name")
        if name in names:
            raise UsageError(f"duplicate tensor name {name!r}: names must be unique")
        names.add(name)
        shape = _check_shape(shape, name)
        nbytes = dtype_info(dtype).itemsize * math.prod(shape)
        if callable(data):
            source: ChunkSource = data
        else:
            length = _buffer_length(data, name)
            if length != nbytes:
                raise UsageError(f"tensor {name!r}: {length} bytes of data, but {dtype} {list(shape)} "
                                 f"takes {nbytes}")
            source = _single(data)
        entries.append((name, dtype, shape))
        jobs.append(_Job(f"tensor {name!r}", nbytes, source))
    results = _run_jobs(jobs, workers, progress)
    tensors = []
    for (name, dtype, shape), job, (sha256, length) in zip(entries, jobs, results, strict=True):
        if length != job.size:
            raise UsageError(f"tensor {name!r}: its chunks held {length} bytes, but {dtype} {list(shape)} "
                             f"takes {job.size}")
        tensors.append(TensorDigest(name, dtype, shape, sha256))
    return model_digest(tensors)


def hash_safetensors(
    path: str | os.PathLike[str], *, workers: int | None = None, progress: ProgressCallback | None = None
) -> ModelDigest:
    """Hash the tensors of a ``.safetensors`` file in place (memory-mapped, no copy).

    The digest equals the one of the same tensors hashed in memory (``hash_model(state_dict)``): a safetensors
    file stores exactly the raw bytes the format hashes. The header's ``__metadata__`` is not part of the model
    digest; :func:`hash_file` covers the file as a whole. Raises :class:`UsageError` when the file cannot be read
    and :class:`FormatError` when its header is malformed.
    """
    path = Path(path)
    with _open_regular(path) as handle:
        size = os.fstat(handle.fileno()).st_size
        try:
            tensors = _parse_safetensors_header(handle, size, path)
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror}") from None
        if not tensors:
            return model_digest([])
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            if hasattr(mapped, "madvise") and hasattr(mmap, "MADV_SEQUENTIAL"):
                mapped.madvise(mmap.MADV_SEQUENTIAL)
            return hash_buffers(
                [(name, dtype, shape, _mmap_range(mapped, begin, end)) for name, dtype, shape, begin, end in tensors],
                workers=workers,
                progress=progress,
            )


def _parse_safetensors_header(
    handle: IO[bytes], size: int, path: Path
) -> list[tuple[str, str, tuple[int, ...], int, int]]:
    """Name, dtype, shape and absolute byte range of each tensor; FormatError on anything malformed."""
    if size < 8:
        raise FormatError(f"{path}: not a safetensors file (shorter than its 8-byte header length)")
    length = int.from_bytes(handle.read(8), "little")
    if length > size - 8:
        raise FormatError(f"{path}: safetensors header length {length} runs past the end of the file ({size} bytes)")
    if length > MAX_SAFETENSORS_HEADER:
        raise FormatError(f"{path}: safetensors header is {length} bytes, over the {MAX_SAFETENSORS_HEADER} limit")
    header = strictjson.loads(handle.read(length), f"{path}: safetensors header")
    if not isinstance(header, dict):
        raise FormatError(f"{path}: safetensors header is not a JSON object")
    data_start, data_length = 8 + length, size - 8 - length
    tensors = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue  # free-form strings; not part of the model digest
        where = f"{path}: tensor {name!r}"
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise FormatError(f"{where}: entry must be an object with exactly dtype, shape and data_offsets")
        dtype = SAFETENSORS_DTYPES.get(entry["dtype"]) if isinstance(entry["dtype"], str) else None
        if dtype is None:
            raise FormatError(f"{where}: dtype {entry['dtype']!r} is not one pot hashes "
                              f"({', '.join(SAFETENSORS_DTYPES)})")
        try:
            shape = _check_shape(entry["shape"], name)
        except UsageError as exc:
            raise FormatError(f"{path}: {exc}") from None
        offsets = entry["data_offsets"]
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= data_length):
            raise FormatError(f"{where}: data_offsets {offsets!r} is not [begin, end] within the "
                              f"{data_length}-byte data section")
        nbytes = DTYPES[dtype].itemsize * math.prod(shape)
        if offsets[1] - offsets[0] != nbytes:
            raise FormatError(f"{where}: data_offsets cover {offsets[1] - offsets[0]} bytes, but {dtype} "
                              f"{list(shape)} takes {nbytes}")
        tensors.append((name, dtype, shape, data_start + offsets[0], data_start + offsets[1]))
    return tensors


def _mmap_range(mapped: mmap.mmap, begin: int, end: int) -> ChunkSource:
    def chunks() -> Iterator[memoryview]:
        with memoryview(mapped) as whole, whole[begin:end] as part:
            yield part

    return chunks


# --- hashing files ----------------------------------------------------------------------------------------------


def hash_file(path: str | os.PathLike[str], *, progress: ProgressCallback | None = None) -> HexDigest:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB blocks. Raises :class:`UsageError` if it cannot be read."""
    path = Path(path)
    size = _regular_file_size(path)
    ((digest, _),) = _run_jobs([_Job(str(path), size, _file_chunks(path))], 1, progress)
    return digest


def checkpoint_digest(path: str | os.PathLike[str], *, progress: ProgressCallback | None = None) -> HexDigest:
    """What a checkpoint record's ``file_sha256`` holds: a file's SHA-256, or a directory's ``pot.file-set.v1``
    digest (frameworks such as Hugging Face save a checkpoint as a directory of files)."""
    if paths.is_dir(Path(path), "checkpoint"):
        return hash_directory(path, progress=progress).digest
    return hash_file(path, progress=progress)


def hash_directory(
    path: str | os.PathLike[str], *, workers: int | None = None, progress: ProgressCallback | None = None
) -> FileSetDigest:
    """Hash every regular file under ``path`` (recursively), in parallel, into a ``pot.file-set.v1`` digest.

    Paths in the manifest are relative POSIX paths. A symlink to a file inside the directory is hashed under the
    link's path; a symlink to a directory inside it is not descended (its files are already covered under their
    own paths). In a Hugging Face cache snapshot (``.../models--org--name/snapshots/<revision>/``, or a folder
    inside one) a file's symlink may also lead anywhere inside ``models--org--name/``: that is where the cache keeps
    the snapshot's files (``blobs/``), so the snapshot hashes as a plain copy of its files would.

    Raises :class:`UsageError` for a symlink that points outside the directory (outside the repository folder, for
    a snapshot's files), a broken symlink, a special file (FIFO, socket, device), a name that is not valid UTF-8,
    a file that changes size while being hashed, or when ``path`` is not a directory.
    """
    root = Path(path)
    if paths.status(root, "directory") is None:
        raise UsageError(f"no such directory: {root}")
    if not paths.is_dir(root, "directory"):
        raise UsageError(f"{root} is not a directory")
    real_root = root.resolve()
    directories_may_reach = files_may_reach = _Boundary(real_root, f"{root}; pot hashes only files inside it")
    repository = _hf_cache_repository(real_root)
    if repository is not None:
        files_may_reach = _Boundary(repository, f"{repository}, the Hugging Face cache repository folder of {root}; "
                                                "pot follows a snapshot's links only into its own repository")
    found: list[tuple[str, Path, int]] = []

    def walk_error(exc: OSError) -> None:
        raise UsageError(f"cannot list {exc.filename}: {exc.strerror}")

    for dirpath, dirnames, filenames in os.walk(root, onerror=walk_error):
        here = Path(dirpath)
        for name in list(dirnames):
            if (here / name).is_symlink():
                # not descended, so it may only lead to files listed under their own paths: never widened
                _inside(here / name, directories_may_reach)
                dirnames.remove(name)
        for name in filenames:
            full = here / name
            relative = full.relative_to(root).as_posix()
            try:
                relative.encode("utf-8")
            except UnicodeEncodeError:
                raise UsageError(f"file name {relative!r} under {root} is not valid UTF-8") from None
            target = _inside(full, files_may_reach) if full.is_symlink() else full
            try:
                info = target.stat()
            except OSError as exc:
                raise UsageError(f"cannot read {full}: {exc.strerror}") from None
            if not stat.S_ISREG(info.st_mode):
                raise UsageError(f"{full} is not a regular file")
            found.append((relative, target, info.st_size))
    found.sort()
    jobs = [_Job(str(full), size, _file_chunks(full)) for _, full, size in found]
    results = _run_jobs(jobs, workers, progress)
    files = []
    for (relative, _, size), (sha256, length) in zip(found, results, strict=True):
        if length != size:
            raise UsageError(f"{root / relative} changed size while being hashed ({size} -> {length} bytes)")
        files.append(FileDigest(relative, length, sha256))
    return file_set_digest(files)


_HF_REPOSITORY_FOLDER = re.compile(r"(models|datasets|spaces)--[^/]+")
"""How huggingface_hub names a repository's folder in its cache: ``{type}s--{org}--{name}`` (``/`` -> ``--``)."""


def _hf_cache_repository(directory: Path) -> Path | None:
    """The repository folder of a Hugging Face cache (``.../models--org--name``) when ``directory`` (resolved) is
    one of its snapshots, ``<repository>/snapshots/<revision>``, or a folder inside one; else None.

    The cache stores each file once under ``<repository>/blobs/`` and makes every snapshot a tree of relative
    symlinks to them (``../../blobs/<hash>``), so a snapshot's files are by design outside the snapshot itself.
    """
    for revision in (directory, *directory.parents):
        snapshots = revision.parent
        repository = snapshots.parent
        if (snapshots.name == "snapshots" and _HF_REPOSITORY_FOLDER.fullmatch(repository.name)
                and (repository / "blobs").is_dir()):
            return repository
    return None


@dataclass(frozen=True, slots=True)
class _Boundary:
    folder: Path  # resolved: where a symlink's final target must lie
    words: str  # how an error names it


def _inside(link: Path, boundary: _Boundary) -> Path:
    """The resolved target of a symlink (every link on the way followed), which must exist and lie inside the
    boundary: the directory being hashed, or the repository folder of a Hugging Face cache snapshot."""
    try:
        target = link.resolve(strict=True)
    except (OSError, RuntimeError):
        raise UsageError(f"{link} is a broken symlink") from None
    if not target.is_relative_to(boundary.folder):
        raise UsageError(f"{link} is a symlink to {target}, outside {boundary.words}")
    return target


def _regular_file_size(path: Path) -> int:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise UsageError(f"no such file: {path}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise UsageError(f"{path} is a directory, expected a file (hash_directory hashes directories)")
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"{path} is not a regular file")
    return info.st_size


def _open_regular(path: Path) -> IO[bytes]:
    _regular_file_size(path)
    try:
        return path.open("rb")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def _file_chunks(path: Path) -> ChunkSource:
    def chunks() -> Iterator[memoryview]:
        buffer = memoryview(bytearray(READ_BYTES))
        try:
            handle = path.open("rb", buffering=0)
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror}") from None
        with handle:
            while True:
                try:
                    read = handle.readinto(buffer)
                except OSError as exc:  # a file that opens but cannot be read (/proc/self/mem, a failing disk)
                    raise UsageError(f"cannot read {path}: {exc.strerror}") from None
                if not read:
                    return
                yield buffer[:read]

    return chunks


# --- progress ---------------------------------------------------------------------------------------------------


def stderr_progress(label: str, *, min_total: int = PROGRESS_MIN_BYTES) -> ProgressCallback:
    """A ``progress`` callback drawing a one-line bar on stderr, or nothing when stderr is not a terminal or the
    total is under ``min_total`` bytes (256 MiB). For command-line tools; the library itself never draws."""
    state = {"shown": -1, "active": False}

    def draw(done: int, total: int) -> None:
        stream = sys.stderr
        if total < min_total or not stream.isatty():
            return
        percent = min(100, done * 100 // total) if total else 100
        if percent == state["shown"]:
            return
        state["shown"], state["active"] = percent, True
        filled = percent * 30 // 100
        bar = "#" * filled + "-" * (30 - filled)
        stream.write(f"\r{label} [{bar}] {percent:3d}% {done / 2**30:.2f}/{total / 2**30:.2f} GiB")
        if done >= total:
            stream.write("\n")
        stream.flush()

    return draw


# --- the engine -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Job:
    label: str  # for error messages
    size: int  # expected bytes, for progress
    chunks: ChunkSource


class _Counter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.done = 0

    def add(self, count: int) -> None:
        with self._lock:
            self.done += count


def _run_jobs(
    jobs: Sequence[_Job], workers: int | None, progress: ProgressCallback | None
) -> list[tuple[HexDigest, int]]:
    """(SHA-256 hex, byte count) of each job, in order. Progress is reported on the calling thread only."""
    total = sum(job.size for job in jobs)
    count = _worker_count(workers, len(jobs), total)
    counter = _Counter()
    shown = -1

    def report() -> None:
        nonlocal shown
        if progress is not None and counter.done != shown:
            shown = counter.done
            progress(shown, total)

    report()
    if count <= 1:
        results = [_hash_job(job, counter, report if progress is not None else None) for job in jobs]
    else:
        with ThreadPoolExecutor(max_workers=count, thread_name_prefix="pot-hash") as pool:
            # Largest first, so one big tensor left for last does not leave the other threads idle.
            order = sorted(range(len(jobs)), key=lambda i: -jobs[i].size)
            futures: dict[int, Future[tuple[HexDigest, int]]] = {
                i: pool.submit(_hash_job, jobs[i], counter, None) for i in order
            }
            pending = set(futures.values())
            try:
                while pending:
                    finished, pending = wait(pending, timeout=None if progress is None else 0.2,
                                             return_when=FIRST_EXCEPTION)
                    for future in finished:
                        future.result()  # raise the first failure now, not after every job ran
                    report()
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            results = [futures[i].result() for i in range(len(jobs))]
    report()
    return results


def _hash_job(job: _Job, counter: _Counter, report: Callable[[], None] | None) -> tuple[HexDigest, int]:
    sha = hashlib.sha256()
    length = 0
    for chunk in job.chunks():
        with _byte_view(chunk, job.label) as data:
            for start in range(0, len(data), CHUNK_BYTES):
                with data[start:start + CHUNK_BYTES] as part:
                    sha.update(part)  # releases the GIL for buffers over 2 KiB
                    length += len(part)
                    counter.add(len(part))
                if report is not None:
                    report()
        del chunk  # let a chunk source free this chunk before it makes the next
    return HexDigest(sha.hexdigest()), length


def _byte_view(data: Any, label: str) -> memoryview:
    """A flat unsigned-byte view of a C-contiguous buffer, without copying."""
    try:
        with memoryview(data) as probe:
            if not probe.c_contiguous:
                raise UsageError(f"{label}: buffer is not C-contiguous; pass a contiguous copy or a chunk source")
        buffer = PickleBuffer(data)
    except TypeError:
        raise UsageError(f"{label}: {type(data).__name__} is not a bytes-like buffer") from None
    except ValueError as exc:
        raise UsageError(f"{label}: buffer cannot be read as bytes ({exc})") from None
    try:
        return buffer.raw()
    finally:
        buffer.release()


def _buffer_length(data: Any, name: str) -> int:
    try:
        with memoryview(data) as view:
            return view.nbytes
    except (TypeError, ValueError):
        raise UsageError(f"tensor {name!r}: {type(data).__name__} is neither a bytes-like buffer nor a chunk "
                         "source") from None


def _single(data: Any) -> ChunkSource:
    return lambda: (data,)


# Below this many bytes, starting threads costs more than they save (measured: a 34 KB model hashes in 0.24 ms on
# one thread, 0.9 ms with a pool of two); an explicit ``workers`` is always obeyed.
PARALLEL_MIN_BYTES = 8 << 20


def _worker_count(workers: int | None, jobs: int, total: int = PARALLEL_MIN_BYTES) -> int:
    if workers is None:
        if total < PARALLEL_MIN_BYTES:
            return 1
        affinity = getattr(os, "sched_getaffinity", None)
        workers = len(affinity(0)) if affinity else (os.cpu_count() or 1)
    elif isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise UsageError(f"workers must be a positive integer, got {workers!r}")
    return max(1, min(workers, jobs))


# --- checks -----------------------------------------------------------------------------------------------------


def _check_name(value: Any, what: str) -> None:
    if not isinstance(value, str):
        raise UsageError(f"{what} must be a string, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{what} {value!r} is not valid Unicode (it holds a lone surrogate)") from None


def _check_shape(value: Any, name: str) -> tuple[int, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise UsageError(f"tensor {name!r}: shape must be a list of integers, got {type(value).__name__}")
    shape = tuple(value)
    for dim in shape:
        if isinstance(dim, bool) or not isinstance(dim, int) or not 0 <= dim <= MAX_SAFE_INTEGER:
            raise UsageError(f"tensor {name!r}: shape {list(shape)} must hold integers from 0 to 2**53-1")
    return shape


def _check_hex64(value: Any, what: str) -> None:
    if not isinstance(value, str) or len(value) != 64 or value.strip("0123456789abcdef"):
        raise UsageError(f"{what} must be 64 lower-case hex digits")


def _check_unique(names: Sequence[str], what: str) -> None:
    for previous, name in itertools.pairwise(names):  # sorted, so duplicates are neighbours
        if previous == name:
            raise UsageError(f"duplicate {what} {name!r}: names must be unique")


def _check_claims(digest: HexDigest, total_bytes: int, document: Mapping[str, Any]) -> None:
    claimed = document.get("digest")
    if not isinstance(claimed, str) or not hmac.compare_digest(claimed, digest):
        raise FormatError(f"digest {claimed!r} is not the hash of the manifest ({digest})")
    if "total_bytes" in document and document["total_bytes"] != total_bytes:
        raise FormatError(f"total_bytes {document['total_bytes']!r} does not match the manifest ({total_bytes})")


def _load_document(data: str | bytes | Mapping[str, Any], fmt: str, key: str, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        data = strictjson.loads(data, f"{fmt} document")
    if not isinstance(data, Mapping):
        raise FormatError(f"{fmt} document must be a JSON object")
    if data.get("format") != fmt:
        raise FormatError(f"unknown format {data.get('format')!r}; expected {fmt!r}")
    unknown = set(data) - allowed
    if unknown:
        raise FormatError(f"{fmt} document has unknown fields {sorted(unknown)}")
    if not isinstance(data.get(key), list):
        raise FormatError(f"{fmt} document must carry a {key!r} list")
    return data


def _entries(values: list[Any], fields: set[str], what: str) -> Iterator[Mapping[str, Any]]:
    for index, entry in enumerate(values):
        if not isinstance(entry, Mapping) or set(entry) != fields:
            raise FormatError(f"{what} {index} must be an object with exactly the fields {sorted(fields)}")
        yield entry


def _diff(
    old: Mapping[str, Any], new: Mapping[str, Any], describe: Callable[[Any, Any], str]
) -> list[tuple[str, str]]:
    changes = []
    for key in sorted(old.keys() | new.keys()):
        if key not in new:
            changes.append((key, "removed"))
        elif key not in old:
            changes.append((key, "added"))
        elif what := describe(old[key], new[key]):
            changes.append((key, what))
    return changes
