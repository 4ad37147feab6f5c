#!/usr/bin/env bash
# The whole test suite, from a fresh clone: makes .venv and node_modules, then lint, types and pytest.
# Extra arguments go to pytest (e.g. scripts/test.sh -k merkle).
set -euo pipefail
export POT_EXTRAS="dev,test,chain,torch,lightning,hf,example,plot,tsa"
export POT_NPM=1
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"

echo "pot: ruff" >&2
"$VENV/bin/ruff" check --quiet .
echo "pot: mypy (strict, pot/)" >&2
"$VENV/bin/mypy" --no-error-summary
echo "pot: pytest" >&2
exec "$VENV/bin/python" -m pytest -q "$@"
