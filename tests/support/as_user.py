"""Run the ``pot`` command as another (non-root) user, so file permissions are enforced as for any user.

Usage: python -m tests.support.as_user USER VERB [ARGS...]

The test machines run as root, which ignores permission bits. This worker starts as root, imports everything the
command needs (the interpreter lives under /root, which other users cannot read), drops to USER with setgid and
setuid, and only then runs ``pot.cli.main``: from there on every file the command opens is opened as USER.
"""

from __future__ import annotations

import os
import pwd
import sys

# What the read verbs import lazily, imported while the interpreter's files are still readable.
import pot._internal.render
import pot.cli
import pot.config
import pot.lineage.graph
import pot.lineage.registry
import pot.log.records
import pot.log.store


def main() -> None:
    user = pwd.getpwnam(sys.argv[1])
    os.setgroups([])
    os.setgid(user.pw_gid)
    os.setuid(user.pw_uid)
    assert os.geteuid() != 0
    sys.exit(pot.cli.main(sys.argv[2:]))


if __name__ == "__main__":
    main()
