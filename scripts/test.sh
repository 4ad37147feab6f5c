#!/usr/bin/env bash
# The whole test suite, from a fresh clone: makes .venv and node_modules, then lint, types and pytest.
# Extra arguments go to pytest (e.g. scripts/test.sh -k merkle).
set -euo pipefail
export POT_EXTRAS="dev,test,chain,torch,lightning,hf,example,plot,mlflow,postgres,oms,tsa,server,browser"
export POT_NPM=1
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"

# The store tests start a real PostgreSQL server from Debian's postgresql package: install it when it is missing
# (quietly, once), unless POT_SKIP_POSTGRES=1 asks to skip those tests. Debian's package would create and start a
# "main" cluster; the tests start their own, so postgresql-common is told first not to make one.
if [ "${POT_SKIP_POSTGRES:-0}" != "1" ] && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    echo "pot: installing PostgreSQL (Debian's postgresql package) for the store tests" >&2
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >/dev/null
    $sudo apt-get install -y -qq --no-install-recommends postgresql-common >/dev/null
    $sudo sed -i 's/^#\?create_main_cluster.*/create_main_cluster = false/' /etc/postgresql-common/createcluster.conf
    $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi

# The web UI's browser tests drive Debian's chromium through Playwright (pointed at /usr/bin/chromium): install it
# when it is missing, unless POT_SKIP_BROWSER=1 asks to skip those tests.
if [ "${POT_SKIP_BROWSER:-0}" != "1" ] && ! command -v chromium >/dev/null 2>&1; then
    echo "pot: installing Chromium (Debian's chromium package) for the web UI tests" >&2
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >/dev/null
    $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

echo "pot: ruff" >&2
"$VENV/bin/ruff" check --quiet .
echo "pot: mypy (strict, pot/)" >&2
"$VENV/bin/mypy" --no-error-summary
echo "pot: pytest" >&2
exec "$VENV/bin/python" -m pytest -q "$@"
