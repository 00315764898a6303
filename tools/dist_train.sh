#!/usr/bin/env bash
# Distributed train on one node or several: CONFIG GPUS [train.py args]
# On a machine without GPUs the processes run DDP over gloo on CPU.
set -euo pipefail
CONFIG=$1
NPROC=$2
shift 2
ARGS=("$CONFIG")
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
HERE=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-python}
PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}" \
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --master_port="$PORT" \
    --nproc_per_node="$NPROC" \
    "$HERE/train.py" "${ARGS[@]}" --launcher pytorch "$@"
