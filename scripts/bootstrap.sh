# Sourced by scripts/node and scripts/test: installs what dynotwist needs, once.
# Debian packages: redis-server, memcached and python3-venv when missing (and pypy3 with
# pypy3-venv when WANT_PYPY=1); then a virtualenv per interpreter with dynotwist and
# its test dependencies: .venv (CPython, with the hiredis accelerator and the compiled
# reply scanner, built by pip from setup.py) and .venv-pypy.
set -eu
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
WANT_PYPY=${WANT_PYPY:-0}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=""
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || missing="$missing redis-server redis-tools"
command -v memcached >/dev/null 2>&1 || [ -x /usr/bin/memcached ] || missing="$missing memcached"
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing="$missing python3-venv"
if [ "$WANT_PYPY" = 1 ]; then
  pypy3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing="$missing pypy3 pypy3-venv"
fi
if [ -n "$missing" ]; then
  echo "installing Debian packages:$missing"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

# ensure_venv INTERPRETER DIR: DIR holds a virtualenv of INTERPRETER with dynotwist
# installed (editable) with its test extras and, where they help, its speedups
ensure_venv() {
  local stamp
  stamp=$2/.installed-$(cat setup.cfg pyproject.toml setup.py dynotwist/proto/_respscan.c | sha1sum | cut -c1-12)
  if [ ! -f "$stamp" ]; then
    [ -x "$2/bin/python" ] || "$1" -m venv "$2"
    "$2/bin/python" -m pip install -q --upgrade pip >/dev/null
    "$2/bin/python" -m pip install -q -e '.[test,speedups]' --config-settings editable_mode=compat
    rm -f "$2"/.installed-*
    touch "$stamp"
  fi
}

ensure_venv python3 .venv
if [ "$WANT_PYPY" = 1 ]; then
  ensure_venv pypy3 .venv-pypy
fi
export PATH="$ROOT/.venv/bin:$PATH"
