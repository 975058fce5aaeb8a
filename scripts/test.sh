#!/usr/bin/env bash
# The test command: the whole suite against the real PostgreSQL and Mosquitto.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m pytest -q "$@"
