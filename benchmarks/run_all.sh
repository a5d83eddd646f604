#!/bin/sh
# One command for the whole media benchmark suite (run as root; takes ~20 minutes):
#   benchmarks/run_all.sh [run.py options, e.g. --ns 100,500 --podium-ref worktree]
# Installs Janus and espeak-ng from Debian if missing, then runs benchmarks/run.py inside a
# private network namespace that only has loopback (no traffic can leave the machine).
# Python: the repository's .venv (scripts/test makes it; the bench extras add scipy and pesq:
# .venv/bin/pip install -e '.[test,bench]'); PY=/path/to/python overrides.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PY:-$HERE/../.venv/bin/python}
if [ ! -x "$PY" ]; then
  echo "no Python at $PY: run scripts/test once (it makes .venv), or set PY=" >&2; exit 1
fi
if ! command -v janus >/dev/null || ! command -v espeak-ng >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq janus espeak-ng iproute2 \
    || echo "could not install janus/espeak-ng: continuing without what is missing" >&2
fi
"$PY" -c "import aiortc, av, numpy, scipy, pesq" || {
  echo "need the bench extras: $(dirname "$PY")/pip install -e '.[test,bench]'" >&2; exit 1; }
exec unshare -n sh -c "ip link set lo up && exec \"$PY\" \"$HERE/run.py\" \"\$@\"" run_all "$@"
