#!/usr/bin/env bash
# One-time setup of a fresh machine: services running, .venv with the project and its extras.
set -euo pipefail
cd "$(dirname "$0")/.."
extras=${TLIVE_EXTRAS:-dev,sim}
need_apt=()
command -v pg_ctlcluster >/dev/null 2>&1 || need_apt+=(postgresql)
[ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null 2>&1 || need_apt+=(mosquitto)
command -v mosquitto_passwd >/dev/null 2>&1 || need_apt+=(mosquitto-clients)
# node and npm run the WASM TimescaleDB of the store tests (tests/support/pglite_timescale)
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need_apt[@]}"
fi
scripts/services.sh start
if [ ! -x .venv/bin/python ]; then
  PY=${PYTHON:-python3.11}; command -v "$PY" >/dev/null 2>&1 || PY=python3
  "$PY" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
fi
.venv/bin/pip install -q -e ".[$extras]"
echo "ready: .venv/bin/tlive --help"
