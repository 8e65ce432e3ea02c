#!/usr/bin/env bash
# The main job from a fresh clone: set up ./.venv if needed, then run `spectral-la` (default: report).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
if [ "$#" -eq 0 ]; then set -- report; fi
exec .venv/bin/spectral-la "$@"
