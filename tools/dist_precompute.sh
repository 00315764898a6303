#!/usr/bin/env bash
# LIB-KD teacher labels from several processes (shards split between
# them; resumable like the one-process run): CONFIG GPUS [args]
# (tools/dist_launch.sh has the settings; gloo on CPU without GPUs).
set -euo pipefail
exec "$(dirname "$0")/dist_launch.sh" precompute_logits.py "$2" "$1" \
    "${@:3}"
