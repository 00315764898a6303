#!/usr/bin/env bash
# Distributed test on one node or several:
#   CONFIG CHECKPOINT GPUS [test.py args]
# (tools/dist_launch.sh has the settings; gloo on CPU without GPUs).
set -euo pipefail
exec "$(dirname "$0")/dist_launch.sh" test.py "$3" "$1" "$2" "${@:4}"
