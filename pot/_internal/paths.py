"""Looking at a path a user named, without letting the operating system's refusal escape as a crash.

``Path.is_file()`` and friends swallow "no such file" but raise for a name the system refuses outright (longer than
the file system allows, a component that is not a directory on some systems, a permission denied on the way), and a
command-line argument can be anything. These answer with a one-line :class:`pot.errors.UsageError` instead.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pot.errors import UsageError


def status(path: Path, what: str) -> os.stat_result | None:
    """``os.stat`` of ``path`` (following links), None when nothing is there; UsageError when it cannot be asked."""
    try:
        return path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise UsageError(f"cannot use {what} {_short(path)}: {exc.strerror}") from None
    except ValueError as exc:  # an embedded NUL byte
        raise UsageError(f"cannot use {what} {_short(path)}: {exc}") from None


def is_dir(path: Path, what: str) -> bool:
    found = status(path, what)
    return found is not None and stat.S_ISDIR(found.st_mode)


def is_file(path: Path, what: str) -> bool:
    found = status(path, what)
    return found is not None and stat.S_ISREG(found.st_mode)


def names_a_file(text: str) -> bool:
    """Whether an argument that may be a value or a file name (a gate, a key) names an existing regular file; an
    argument the system refuses as a name is a value."""
    try:
        return os.path.isfile(text)
    except (OSError, ValueError):
        return False


def _short(path: Path) -> str:
    text = str(path)
    return text if len(text) <= 80 else f"{text[:40]}...{text[-30:]}"
