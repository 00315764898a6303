#!/usr/bin/env bash
# Run a tool of this folder as NPROC processes per node under
# torch.distributed (DDP over gloo on a machine without GPUs):
#   TOOL NPROC [tool args]
# The tool gets --launcher pytorch. Several nodes: NNODES, NODE_RANK,
# MASTER_ADDR and PORT; PYTHON picks the interpreter.
set -euo pipefail
TOOL=$1
NPROC=$2
shift 2
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
    "$HERE/$TOOL" --launcher pytorch "$@"
