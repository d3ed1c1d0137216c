#!/usr/bin/env bash
# Machine set-up steps the Makefile needs, each safe to repeat.
#
#   scripts/bootstrap.sh venv                      create .venv (installs python3-venv if needed)
#   scripts/bootstrap.sh packages CMD[:PKG] ...    make sure each command exists, installing the
#                                                  Debian package PKG (default: CMD) when missing
#
# Packages are installed with apt-get only when running as root; otherwise the one command
# to run is printed and the script exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

is_root() { [ "$(id -u)" -eq 0 ]; }

apt_install() {  # apt_install PKG...: as root; apt-get update only when the first try fails
    local opts=(-y --no-install-recommends)
    echo "Installing Debian packages: $*"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install "${opts[@]}" "$@"; then
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install "${opts[@]}" "$@"
    fi
}

need_packages() {  # need_packages PKG...: install them, or print the command and fail
    if is_root && command -v apt-get >/dev/null; then
        apt_install "$@"
    else
        echo >&2 "Missing system packages. Run this once, then try again:"
        echo >&2 "    sudo apt-get install $*"
        exit 1
    fi
}

cmd_venv() {
    if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
        return 0
    fi
    if ! command -v "$PYTHON" >/dev/null; then
        echo >&2 "$PYTHON not found; Orderdock needs Python 3.11 or newer."
        exit 1
    fi
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo >&2 "Orderdock needs Python 3.11 or newer; $PYTHON is $("$PYTHON" --version 2>&1)."
        exit 1
    fi
    # Debian ships `venv` without ensurepip unless python3-venv is installed.
    if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
        need_packages python3-venv
    fi
    echo "Creating the virtualenv in $VENV"
    "$PYTHON" -m venv "$VENV"   # also repairs a half-made one (no pip) from an earlier failed try
}

cmd_packages() {
    local missing=() spec cmd pkg
    for spec in "$@"; do
        cmd=${spec%%:*}
        pkg=${spec#*:}
        command -v "$cmd" >/dev/null || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] || need_packages "${missing[@]}"
}

case "${1:-}" in
    venv) cmd_venv ;;
    packages) shift; cmd_packages "$@" ;;
    *) echo >&2 "usage: $0 venv | packages CMD[:PKG]..."; exit 2 ;;
esac
