# Sourced by scripts/example.sh and scripts/test.sh: make .venv (and node_modules) hold what they need.
#   POT_EXTRAS   the package extras to install (comma-separated)
#   POT_NPM=1    also install the pinned npm tools (anvil, cast, solc) from package-lock.json
# A stamp file records what was installed from which pyproject.toml / package-lock.json, so a second run
# installs nothing. Set POT_PYTHON to choose the interpreter (3.11 or newer).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
cd "$ROOT"

pick_python() {
    # 3.11 first: PyTorch's CPU build for it is what this project's machines carry.
    for candidate in ${POT_PYTHON:-} python3.11 python3.12 python3.13 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
           "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "pot: need Python 3.11 or newer (set POT_PYTHON)" >&2
    return 1
}

if [ ! -x "$VENV/bin/python" ]; then
    PYTHON="$(pick_python)"
    echo "pot: creating $VENV with $("$PYTHON" --version)" >&2
    "$PYTHON" -m venv "$VENV"
fi

# The stamp is "<pyproject hash>|<extras installed, comma-separated>". Installing is skipped when the project file
# is unchanged and every wanted extra is already in: the example's extras are a subset of the tests', so switching
# between the two commands installs once, not every time.
project="$(sha256sum pyproject.toml | cut -c1-16)"
stamp="$(cat "$VENV/.pot-installed" 2>/dev/null || true)"
installed=""
[ "${stamp%%|*}" = "$project" ] && installed="${stamp#*|}"
missing=""
for extra in ${POT_EXTRAS//,/ }; do
    case ",${installed}," in *",$extra,"*) ;; *) missing="$missing $extra" ;; esac
done
if [ -n "$missing" ]; then
    # install the union, so that nothing an earlier command needed goes missing
    POT_EXTRAS="$(echo "${installed:+$installed,}${POT_EXTRAS}" | tr ',' '\n' | sort -u | paste -sd, -)"
    echo "pot: installing Python packages into $VENV (extras: ${POT_EXTRAS})" >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    case ",${POT_EXTRAS}," in
        *,torch,*|*,lightning,*|*,hf,*)
            # The pinned CPU build first, so the extras' torch>=2.1 is already met and nothing larger is fetched.
            "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "torch==2.13.0" ;;
    esac
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[${POT_EXTRAS}]"
    echo "$project|$POT_EXTRAS" > "$VENV/.pot-installed"
fi

if [ "${POT_NPM:-0}" = "1" ]; then
    lock="$(sha256sum package-lock.json | cut -c1-16)"
    if [ "$(cat node_modules/.pot-installed 2>/dev/null || true)" != "$lock" ]; then
        echo "pot: installing the pinned npm tools (anvil, cast, solc)" >&2
        # `npm install` with the committed lock installs exactly the locked versions and checks their integrity
        # hashes. (`npm ci` would refuse the lock: it lists only the linux-amd64 builds of anvil and cast, the only
        # platform packages our registry serves, and npm ci wants every optional platform listed.) The packages'
        # install scripts only download what their platform packages already hold, so they are skipped.
        # --no-save: npm would otherwise rewrite the lock (adding the other platforms) and dirty the checkout.
        npm install --ignore-scripts --no-save --no-audit --no-fund --loglevel=error
        echo "$lock" > node_modules/.pot-installed
    fi
fi
