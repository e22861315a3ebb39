#!/usr/bin/env bash
# Create the Python virtual environment used by tritium's reference tests (tests/.venv, git-ignored)
# and make sure the packages it needs are installed.
#
#   bash tests/py/ensure_venv.sh [extra-package ...]
#
# Always ensures gguf, tokenizers and numpy, at the exact versions pinned below. Extra arguments
# are package names (a pinned one gets its pin: jinja2, safetensors, sentencepiece) or exact requirement specs
# (NAME==VERSION, e.g. "weightwatcher==0.7.7"). Idempotent: a package already installed at its
# pinned version is skipped; one at another version is reinstalled at the pin. Prints the venv's
# python path on the last line of stdout.
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

# The reference packages' versions: every Python helper in tests/py runs against these.
pin() {
    case "$1" in
        gguf) echo "gguf==0.19.0" ;;
        tokenizers) echo "tokenizers==0.23.3" ;;
        numpy) echo "numpy==2.4.6" ;;
        jinja2|Jinja2) echo "jinja2==3.1.6" ;;
        safetensors) echo "safetensors==0.8.0" ;;
        sentencepiece) echo "sentencepiece==0.2.3" ;;
        *==*) echo "$1" ;;
        *) echo "ensure_venv: '$1' has no pinned version: pass NAME==VERSION or add it to pin()" >&2; return 1 ;;
    esac
}

missing=()
for arg in gguf tokenizers numpy "$@"; do
    spec="$(pin "$arg")" || exit 1
    name="${spec%%==*}"
    want="${spec#*==}"
    mod="$(import_name "$name")"
    have="$("$py" -c "import importlib.metadata as m; print(m.version('$name'))" 2>/dev/null || true)"
    if [ "$have" != "$want" ] || ! "$py" -c "import $mod" >/dev/null 2>&1; then
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
