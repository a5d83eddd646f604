#!/bin/sh
# One command for the whole media benchmark suite (run as root; takes ~20 minutes):
#   benchmarks/run_all.sh [run.py options, e.g. --ns 100,500 --podium-ref worktree]
# Installs Janus and espeak-ng from Debian if missing, then runs benchmarks/run.py inside a
# private network namespace that only has loopback (no traffic can leave the machine).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PY:-/tmp/venv/bin/python}
if ! command -v janus >/dev/null || ! command -v espeak-ng >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq janus espeak-ng iproute2
fi
"$PY" -c "import aiortc, av, numpy, scipy, pesq" || { echo "need: pip install pesq scipy" >&2; exit 1; }
exec unshare -n sh -c "ip link set lo up && exec \"$PY\" \"$HERE/run.py\" \"\$@\"" run_all "$@"
