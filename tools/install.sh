#!/usr/bin/env bash
# Install the pinned OpenMMLab stack and mmkd_plugin (editable) into ./.venv.
#
# Usage: bash tools/install.sh            (or: make install)
# Env:   MMKD_WHEELHOUSE=DIR  a folder of prebuilt wheels (e.g. ../shared/wheels);
#                             mmcv 2.1.0 is taken from it when present, built
#                             from its sdist otherwise (~26 min on 2 cores).
#        MMKD_VENV=DIR        where the virtual environment lives (.venv).
#        MMKD_SKIP_DATA=1     do not install Fashion-MNIST.
# Idempotent: every step checks what is already there first.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${MMKD_VENV:-$ROOT/.venv}
PY=${PYTHON:-python3.11}
WH=${MMKD_WHEELHOUSE:-}

TORCH=2.14.1
TORCHVISION=0.29.1
MMCV=2.1.0
STACK=(mmengine==0.10.7 mmpretrain==1.2.0 mmdet==3.3.0 mmsegmentation==1.2.2
       'setuptools<82' opencv-python 'pycocotools>=2.0.8' matplotlib
       scikit-learn scikit-image pytest flake8 isort yapf
       ftfy regex  # mmseg.models imports its CLIP tokenizer's deps
       timm==1.0.31)  # the timm-RegNet teacher tests build timm's own
                      # model; it resolves against torch / torchvision as is

say() { printf '[install] %s\n' "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtual environment $VENV"
    "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
pip() { "$VPY" -m pip "$@"; }
has() { "$VPY" - "$@" <<'PYEOF' 2>/dev/null
import sys
from importlib.metadata import version
for spec in sys.argv[1:]:
    name, want = spec.split('==')
    if version(name) != want:
        sys.exit(1)
PYEOF
}

if ! "$VPY" -c 'import setuptools, sys, wheel
sys.exit(int(setuptools.__version__.split(".")[0]) >= 82)' 2>/dev/null; then
    say "setuptools<82, wheel"
    pip install -q 'setuptools<82' wheel
fi

# 1. torch first: everything below builds or resolves against it.
if ! has torch==$TORCH torchvision==$TORCHVISION; then
    say "torch==$TORCH torchvision==$TORCHVISION (about 2 minutes)"
    pip install -q torch==$TORCH torchvision==$TORCHVISION
fi

# 2. mmcv, full, with compiled CPU ops.
if ! has mmcv==$MMCV || ! "$VPY" -c 'import mmcv.ops' 2>/dev/null; then
    if [ -n "$WH" ] && ls "$WH"/mmcv-$MMCV-*.whl >/dev/null 2>&1; then
        say "mmcv==$MMCV from wheelhouse $WH"
        pip install -q --no-deps --find-links "$WH" --only-binary mmcv \
            mmcv==$MMCV
    else
        say "mmcv==$MMCV: building from sdist with -std=c++20 (~26 min)"
        BUILD=$(mktemp -d)
        pip download -q --no-deps --no-binary mmcv -d "$BUILD" mmcv==$MMCV
        tar -xzf "$BUILD"/mmcv-$MMCV.tar.gz -C "$BUILD"
        sed -i 's/-std=c++17/-std=c++20/g' "$BUILD"/mmcv-$MMCV/setup.py
        pip install -q ninja psutil
        mkdir -p "$ROOT/.wheelhouse"
        (cd "$BUILD"/mmcv-$MMCV && MMCV_WITH_OPS=1 FORCE_CUDA=0 \
            MAX_JOBS=$(nproc) "$VPY" -m pip wheel --no-build-isolation \
            --no-deps -w "$ROOT/.wheelhouse" .)
        pip install -q --no-deps "$ROOT"/.wheelhouse/mmcv-$MMCV-*.whl
        rm -rf "$BUILD"
    fi
fi

# 3. the rest of the stack (resolved against the torch/mmcv above).
if ! has mmengine==0.10.7 mmpretrain==1.2.0 mmdet==3.3.0 \
        mmsegmentation==1.2.2 \
   || ! "$VPY" -c 'import cv2, pycocotools, sklearn, skimage, matplotlib, pytest, flake8, isort, yapf, ftfy, regex, timm' 2>/dev/null; then
    say "mmengine, mmpretrain, mmdet, mmsegmentation and tools"
    pip install -q "${STACK[@]}" mmcv==$MMCV torch==$TORCH \
        torchvision==$TORCHVISION
fi

# 4. the plugin itself, editable.
if ! (cd / && "$VPY" -c 'import mmkd_plugin, sys
sys.exit(not mmkd_plugin.__file__.startswith(sys.argv[1]))' "$ROOT") 2>/dev/null; then
    say "mmkd_plugin (editable)"
    pip install -q --no-deps --no-build-isolation -e "$ROOT"
fi

# 5. real data: Fashion-MNIST from Debian's package.
if [ -z "${MMKD_SKIP_DATA:-}" ]; then
    if [ ! -f data/fashion_mnist/train-images-idx3-ubyte ]; then
        if ! dpkg -s dataset-fashion-mnist >/dev/null 2>&1; then
            if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
                say "apt-get install dataset-fashion-mnist"
                apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null
            else
                say "Fashion-MNIST not installed and apt-get is not usable here."
                say "Install Debian's dataset-fashion-mnist, or put the four"
                say "*-ubyte.gz files in a folder and run:"
                say "  $VPY tools/prepare_data.py --src FOLDER"
            fi
        fi
        if dpkg -s dataset-fashion-mnist >/dev/null 2>&1; then
            "$VPY" tools/prepare_data.py
        fi
    fi
fi
say "done: $("$VPY" -c 'import torch, mmcv, mmpretrain, mmdet, mmseg, mmpretrain.models, mmdet.models, mmseg.models; print("torch", torch.__version__, "mmcv", mmcv.__version__, "mmpretrain", mmpretrain.__version__, "mmdet", mmdet.__version__, "mmseg", mmseg.__version__)')"
