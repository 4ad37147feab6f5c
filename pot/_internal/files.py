"""Files pot writes for the user (proofs, exported configs, plots) and the small files of a store.

Two promises:

- **Whole or not at all.** An output file is written to a temporary file in the same directory, flushed to disk
  (fsync) and renamed over the final name, so a crash leaves the old file or the new one, never half a proof.
  A file that must not be replaced (a key, a store's ``.gitignore``) is published with ``link()`` instead of
  ``rename()``: it appears complete or not at all, and never over an existing file, even when several processes
  create it at once.
- **Never over a store's own files.** An output path inside a pot store directory (symlinks resolved), or a path
  that is a store file or the signing key under another name (a hard link: same device and inode), is refused
  with a :class:`UsageError` before anything is written. The stores checked: those named by the caller, every
  store this process has opened, ``POT_HOME`` (or ``./.pot``), and any directory holding a ``pot.db`` above the
  output; the key files: those named by the caller, every key this process has opened, and ``POT_KEY_FILE``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from pot.errors import UsageError

STORE_MARKER = "pot.db"  # pot.log.store.DB_NAME: the file that makes a directory a pot store

_remembered_lock = threading.Lock()
_remembered_stores: set[Path] = set()
_remembered_files: set[Path] = set()


def remember_store(root: Path) -> None:
    """Protect ``root`` (a store this process opened) from output files, for the rest of the process."""
    with _remembered_lock:
        _remembered_stores.add(Path(os.path.abspath(root)))


def remember_key_file(path: Path) -> None:
    """Protect a signing key file this process opened (it may live outside any store: ``POT_KEY_FILE``)."""
    with _remembered_lock:
        _remembered_files.add(Path(os.path.abspath(path)))


def _identity(path: Path | str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _candidates(stores_given: Iterable[Path | str], key_files_given: Iterable[Path | str]
                ) -> tuple[list[Path], list[Path]]:
    """Store directories and key files to protect: the caller's, this process's, and the environment's."""
    from pot.config import KEY_FILE_ENV, ProvenanceConfig

    stores = [Path(p) for p in stores_given]
    files = [Path(p) for p in key_files_given]
    with _remembered_lock:
        stores += _remembered_stores
        files += _remembered_files
    stores.append(ProvenanceConfig().resolve_store())
    if os.environ.get(KEY_FILE_ENV):
        files.append(Path(os.environ[KEY_FILE_ENV]))
    # A key's public copy sits beside it (pot.recorder writes KEY.pub); it is the store's too.
    files += [f.with_suffix(".pub") for f in files]
    return stores, files


_outside_stores: set[tuple[str, frozenset[tuple[int, int]]]] = set()


def check_output(path: Path | str, *, stores: Iterable[Path | str] = (), key_files: Iterable[Path | str] = ()
                 ) -> Path:
    """The real path an output file named ``path`` would be written to, or a UsageError saying why not.

    ``stores`` and ``key_files`` name what to protect beyond what is always checked (see the module docstring).
    A symlink is followed: writing through it replaces the file it points to, as a plain write would.
    """
    shown = _shown(path)
    try:
        real = Path(os.path.realpath(path))
        st = os.stat(real)
    except FileNotFoundError:
        st = None
    except OSError as exc:  # a name too long, a component that is a file, a directory that cannot be entered
        raise UsageError(f"cannot write {shown}: {exc.strerror}") from None
    except ValueError as exc:  # an embedded NUL byte
        raise UsageError(f"cannot write {shown}: {exc}") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{shown} is a directory; give a file name")
    target = None if st is None else (st.st_dev, st.st_ino)
    stores, files = _candidates(stores, key_files)
    store_ids = {ident: store for store in stores if (ident := _identity(store)) is not None}
    # Inside a store: the output's directory, or one above it, is a store directory (compared by inode, so a
    # bind mount or a second path to the same directory is caught too), or holds a pot.db. A directory found
    # outside every store is remembered with the stores it was checked against: a training run writes a checkpoint
    # file into the same directory every epoch, and walking up its parents was most of this check's time.
    # The output's own directory is always looked at (a store made there since is caught); its parents once.
    outside = (str(real.parent), frozenset(store_ids))
    for directory in real.parents[:1] if outside in _outside_stores else real.parents:
        ident = _identity(directory)
        if ident is None:
            continue
        store = store_ids.get(ident)
        if store is None and os.path.lexists(directory / STORE_MARKER):
            store = directory
        if store is not None:
            raise UsageError(f"refusing to write {shown}: it is inside the pot store {store}, whose files it could "
                             "replace; write it elsewhere")
    if len(_outside_stores) < 4096:
        _outside_stores.add(outside)
    for key_file in files:
        # by name as well as by inode: a key file that does not exist yet is where `pot init` will create one
        if Path(os.path.realpath(key_file)) == real or (target is not None and _identity(key_file) == target):
            raise UsageError(f"refusing to write {shown}: it is the signing key file {key_file} (or its public copy)")
    if st is not None and st.st_nlink > 1:  # a second name for a file: is it one of a store's?
        for store in store_ids.values():
            with contextlib.suppress(OSError), os.scandir(store) as entries:
                for entry in entries:
                    entry_stat = entry.stat(follow_symlinks=False)
                    if (entry_stat.st_dev, entry_stat.st_ino) == target:
                        raise UsageError(f"refusing to write {shown}: it is a hard link to {entry.path}, a file of "
                                         f"the pot store {store}")
    return real


@contextlib.contextmanager
def output_file(path: Path | str, *, stores: Iterable[Path | str] = (), key_files: Iterable[Path | str] = ()
                ) -> Iterator[IO[bytes]]:
    """Write an output file atomically: yields a binary file; on a clean exit it replaces ``path`` whole.

    On an exception nothing is left behind (the temporary file is removed) and ``path`` is unchanged. OSError
    while writing becomes a one-line UsageError naming ``path``.
    """
    shown = _shown(path)
    real = check_output(path, stores=stores, key_files=key_files)
    try:
        mode = stat.S_IMODE(os.stat(real).st_mode)  # replacing a file keeps its permissions
    except OSError:
        mode = None
    try:
        tmp, fd = _temporary(real, 0o666)  # 0o666 less the umask, as open() would create it
    except OSError as exc:
        raise UsageError(f"cannot write {shown}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp, real)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise UsageError(f"cannot write {shown}: {exc.strerror or exc}") from None
        raise
    _sync_directory(real.parent)


def write_output(path: Path | str, data: bytes | str, *, stores: Iterable[Path | str] = (),
                 key_files: Iterable[Path | str] = ()) -> Path:
    """Write ``data`` (str as UTF-8) to ``path`` atomically; return the real path written (see :func:`output_file`)."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with output_file(path, stores=stores, key_files=key_files) as handle:
        handle.write(payload)
    return Path(os.path.realpath(path))


def replace_file(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` whole with ``data`` (temporary file, fsync, rename), with no output check: for a store's
    own small files. Raises OSError."""
    tmp, fd = _temporary(path, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _sync_directory(path.parent)


def create_exclusive(path: Path, data: bytes, mode: int = 0o644) -> bool:
    """Create ``path`` holding ``data``, complete or not at all; False (nothing written) when it exists already.

    The data goes to a temporary file first, is fsynced, and is then hard-linked to ``path``: ``link()`` fails
    rather than replace an existing file, so of several processes creating the file at once exactly one wins
    and the others see a complete file, and a process killed half-way leaves no partial file under ``path``
    (only a temporary one, with the same mode). Raises OSError (the caller words it).
    """
    tmp, fd = _temporary(path, mode)
    try:
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fchmod(handle.fileno(), mode)  # exactly this mode, whatever the umask
                os.fsync(handle.fileno())
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK):
                raise
            # A file system without hard links: fall back to an exclusive create (atomic against other
            # creators, though a kill in the middle can leave a short file there).
            try:
                out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
            except FileExistsError:
                return False
            try:
                os.write(out, data)
                os.fsync(out)
            finally:
                os.close(out)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    _sync_directory(path.parent)
    return True


def _shown(path: Path | str) -> str:
    """A path for a one-line message: a name of hundreds of characters is shortened in the middle."""
    text = str(path)
    return text if len(text) <= 100 else f"{text[:50]}...{text[-40:]}"


def _temporary(final: Path, mode: int) -> tuple[Path, int]:
    """A new hidden file beside ``final`` (same directory, so a rename or link of it stays on one file system)."""
    stem = final.name[:200]  # room for the suffix within the usual 255-byte name limit
    for _ in range(100):
        tmp = final.with_name(f".{stem}.{secrets.token_hex(4)}.tmp")
        try:
            return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(final.parent))


def _sync_directory(directory: Path) -> None:
    """Make a rename or link in ``directory`` durable (where the OS allows opening a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
