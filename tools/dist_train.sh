#!/usr/bin/env bash
# Distributed training on one node or several: CONFIG GPUS [train.py args]
# (tools/dist_launch.sh has the settings; gloo on CPU without GPUs).
set -euo pipefail
exec "$(dirname "$0")/dist_launch.sh" train.py "$2" "$1" "${@:3}"
