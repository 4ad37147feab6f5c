"""Make a directory tree read-only even for root (who ignores permission bits) and restore it afterwards."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """chmod for ordinary users; for root, the immutable attribute (chattr +i), which root must obey too."""
    files = [path, *path.rglob("*")]
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in files}
        for p in files:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    chattr = shutil.which("chattr")
    if chattr is None:
        raise RuntimeError("running as root without chattr: cannot make a store read-only")
    subprocess.run([chattr, "+i", *map(str, files)], check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", *map(str, files)], check=True, capture_output=True)
