#!/usr/bin/env bash
# Create the Python virtual environment used by tritium's reference tests (tests/.venv, git-ignored)
# and make sure the packages it needs are installed.
#
#   bash tests/py/ensure_venv.sh [extra-package ...]
#
# Always ensures: gguf tokenizers numpy. Extra arguments are pip requirement specs
# (e.g. jinja2 "weightwatcher==0.7.7"). Idempotent: a package whose import succeeds is skipped.
# Prints the venv's python path on the last line of stdout.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${TRITIUM_VENV:-$root/tests/.venv}"
py="$venv/bin/python"

if [ ! -x "$py" ]; then
    echo "ensure_venv: creating $venv" >&2
    python3 -m venv "$venv" >&2
fi

# requirement spec -> import name
import_name() {
    local spec="$1"
    local name="${spec%%[<>=!~ \[]*}"
    case "$name" in
        pyyaml|PyYAML) echo yaml ;;
        scikit-learn) echo sklearn ;;
        pillow|Pillow) echo PIL ;;
        *) echo "${name//-/_}" ;;
    esac
}

missing=()
for spec in gguf tokenizers numpy "$@"; do
    mod="$(import_name "$spec")"
    if ! "$py" -c "import $mod" >/dev/null 2>&1; then
        missing+=("$spec")
    fi
done

if [ "${#missing[@]}" -gt 0 ]; then
    echo "ensure_venv: installing ${missing[*]}" >&2
    "$py" -m pip install --disable-pip-version-check -q "${missing[@]}" >&2
else
    echo "ensure_venv: all packages present" >&2
fi
echo "$py"
