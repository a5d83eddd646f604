# Shared helpers for scripts/run, scripts/test and scripts/check. Sourced, not executed.
# shellcheck shell=bash

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv"
PYTHON="${PYTHON:-python3}"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run a command as root: apt needs it. Developers without root get sudo if there is one.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to run: $*"
    fi
}

# Install the Debian packages that are not installed yet. `apt-get update` only runs when
# something is missing, so warm runs never touch the network.
ensure_apt_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -q
    as_root apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Hash of what an install depends on: pyproject.toml, setup.py and the C source it builds,
# the venv's Python and the extras.
_install_hash() {
    { cat "$REPO_ROOT/pyproject.toml" "$REPO_ROOT/setup.py" "$REPO_ROOT"/src/podium/media/*.c
      "$VENV/bin/python" -VV; echo "$1"; } | sha256sum | cut -d' ' -f1
}

# The media fast path's loop is a small C extension (setup.py; optional: without a compiler
# the same loop runs in Python, slower). Bring a C compiler and the Python headers if missing.
ensure_c_toolchain() {
    command -v cc >/dev/null 2>&1 || ensure_apt_packages gcc libc6-dev
    local include
    include="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
    if [ ! -f "$include/Python.h" ] && [ "$(command -v "$PYTHON")" = "/usr/bin/$PYTHON" ]; then
        ensure_apt_packages python3-dev || log "no Python headers: the Python fan-out loop is used"
    fi
}

# Create .venv (if missing or broken) and `pip install -e .[EXTRAS]`.
# A stamp file per extras set holds _install_hash, so re-runs skip pip when nothing changed;
# the install is editable, so source edits never need a reinstall.
ensure_venv() {
    local extras="${1:-}" spec="." want
    [ -n "$extras" ] && spec=".[$extras]"
    command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found (Python 3.11+ is required)"

    if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c '' 2>/dev/null; then
        rm -rf "$VENV"
        log "creating $VENV"
        if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
            # Debian's python3 ships without ensurepip; python3-venv brings it.
            rm -rf "$VENV"
            ensure_apt_packages python3-venv
            "$PYTHON" -m venv "$VENV" || die "could not create a virtualenv with $PYTHON"
        fi
        # Keep the venv out of `git status` without touching the repo's .gitignore.
        echo '*' >"$VENV/.gitignore"
    fi

    want="$(_install_hash "$spec")"
    [ "$(cat "$VENV/.podium-install-${extras:-base}" 2>/dev/null)" = "$want" ] && return 0
    # The test install is a superset of the plain one, so scripts/run can reuse it.
    if [ -z "$extras" ] \
        && [ "$(cat "$VENV/.podium-install-test" 2>/dev/null)" = "$(_install_hash ".[test]")" ]; then
        return 0
    fi

    ensure_c_toolchain
    log "installing into $VENV: pip install -e '$spec'"
    (cd "$REPO_ROOT" && "$VENV/bin/python" -m pip install -q -e "$spec") \
        || die "pip install -e '$spec' failed"
    echo "$want" >"$VENV/.podium-install-${extras:-base}"
}
