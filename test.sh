#!/usr/bin/env bash
# Runs the test suite on the CPU; on a fresh machine it first builds .venv with the project's and
# the tests' requirements (scripts/setup.sh). Extra arguments go to pytest, e.g. -m "not slow".
set -euo pipefail
cd "$(dirname "$0")"
SETUP_EXTRA=requirements-dev.txt
source scripts/setup.sh
exec "$PYTHON" -m pytest -q "$@"
