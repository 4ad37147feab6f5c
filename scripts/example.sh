#!/usr/bin/env bash
# The main job, from a fresh clone: train the example with provenance on the embedded default (the local chain),
# write its proof and verify it. Extra arguments go to the example (see --help).
set -euo pipefail
export POT_EXTRAS="torch,example"
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
exec "$VENV/bin/python" examples/training_with_provenance.py "$@"
