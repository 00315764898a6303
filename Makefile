# make install: the pinned stack + mmkd_plugin (editable) in ./.venv, and
#               Fashion-MNIST in data/. MMKD_WHEELHOUSE=DIR reuses wheels.
# make test:    the whole test suite in that environment.
PY := .venv/bin/python

.PHONY: install test lint quick
install:
	bash tools/install.sh

test:
	$(PY) -m pytest tests -q --durations=15

lint:
	$(PY) -m flake8 mmkd_plugin tools tests configs
	$(PY) -m isort --check-only --diff mmkd_plugin tools tests
	$(PY) -m yapf -r -d mmkd_plugin tools tests

quick:
	$(PY) tools/pipeline.py configs/pipelines/fashion_mnist.py --quick
