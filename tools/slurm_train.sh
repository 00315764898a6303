#!/usr/bin/env bash
# Slurm train: PARTITION JOB_NAME CONFIG [WORK_DIR] [train.py args]
# GPUS (total), GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS from the environment.
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=${4:-./work_dirs/$(basename "${CONFIG%.py}")}
shift $(( $# < 4 ? $# : 4 ))
ARGS=("$CONFIG" --work-dir "$WORK_DIR")
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-}
HERE=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-python}
PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}" \
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    "$PYTHON" -u "$HERE/train.py" "${ARGS[@]}" --launcher=slurm "$@"
