# arerec-kit. `make reproduce` runs everything; `make test` checks it.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# the backend extra `make setup` installs: cpu (TensorFlow on CPU), jax (JAX on CPU, then KERAS_BACKEND=jax), torch
# (PyTorch on CPU, then KERAS_BACKEND=torch), or on an NVIDIA GPU cuda (TensorFlow with CUDA), jax-cuda or torch-cuda;
# README, "Install". KERAS_BACKEND=torch alone (`KERAS_BACKEND=torch make reproduce` in a fresh clone) chooses torch.
BACKEND ?= $(if $(filter torch,$(KERAS_BACKEND)),torch,cpu)
BACKENDS := cpu cuda jax jax-cuda torch torch-cuda
# tensorflow-cpu and tensorflow[and-cuda] both own the `tensorflow` package, torch's CPU and CUDA builds `torch`:
# a venv holds one or the other
CLASHES_cpu := cuda
CLASHES_cuda := cpu
CLASHES_torch := torch-cuda
CLASHES_torch-cuda := torch
# Two installs, each with its stamp per backend: `make setup` (reproduce, lab, data, check, bench) the base and the
# backend, `.[$(BACKEND)]`; `make test` and `make lint` add `.[dev]` (pytest, ruff, mypy, and the JAX and Ray extras the
# tests use). `make setup BACKEND=jax` after a CPU setup installs the jax extra beside it.
STAMP := $(VENV)/.arerec-installed-$(BACKEND)
DEV_STAMP := $(VENV)/.arerec-dev-installed-$(BACKEND)
PARAMS ?= base
PYTEST_ARGS ?=
# test files spread over this many pytest-xdist workers, a file per worker (tests/sweeps/test_executors.py keeps its one
# Ray instance): 373 s instead of 672 s on 2 cores (docs/performance.md). PYTEST_WORKERS=0: one process.
PYTEST_WORKERS ?= 2
REPORTS ?= reports
# papermill's execution timeout per cell, in seconds (a training cell on ML-1M can take hours)
TIMEOUT ?= 7200
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
comma := ,

# `make test-torch`: PyTorch added to the test venv (TORCH_STAMP), the backend tests under KERAS_BACKEND=torch, then the
# tests that compare PyTorch (in a subprocess) with TensorFlow (marker `torch`); one OpenMP thread per process
# (a busy 2-core machine stalls PyTorch's spinning threads on these tiny tensors)
TORCH_STAMP := $(VENV)/.arerec-torch-installed
TORCH_TESTS ?= tests/model/test_lazy_torch.py tests/model/test_layers.py tests/train/test_loop.py \
	tests/train/test_checkpoints.py tests/train/test_checkpoint_policy.py tests/train/test_table_l2.py \
	tests/bench/test_backends.py

.PHONY: help setup test test-torch lint lab clean data reproduce check bench

help:
	@echo "make setup       create $(VENV), install arerec[$(BACKEND)] (default cpu: TensorFlow on CPU) and register the 'arerec' kernel"
	@echo "make test        run the test suite (adds arerec[dev]: pytest, ruff, mypy, JAX, Ray)"
	@echo "make test-torch  add arerec[torch] and run the backend tests under KERAS_BACKEND=torch"
	@echo "make reproduce   get the data and run every notebook into reports/ (PARAMS=base|full|ci|ml-1m; PARAMS=ci,cluster: each run a Ray task, docs/cluster.md)"
	@echo "                 KERAS_BACKEND=jax make reproduce|test: train with JAX (docs/backends.md)"
	@echo "make data        check params/\$$(PARAMS).yaml and get its ratings file"
	@echo "make check       did I reproduce it? the rebuilt metrics.json against the committed one (EXPERIMENT=base)"
	@echo "make lab         open the notebooks in JupyterLab with the arerec kernel"
	@echo "make bench       time dense vs lazy updates (BENCH_DATA=ml-100k|ml-1m-shape)"
	@echo "make lint        ruff and mypy over the package and scripts ([tool.mypy] in pyproject.toml)"
	@echo "make clean       remove caches (keeps $(VENV), Data/ and Model/)"

setup: $(STAMP)

$(STAMP): pyproject.toml arerec/report/kernel.py arerec/malloc_tuning.py
	@$(if $(filter $(BACKEND),$(BACKENDS)),:,echo "BACKEND=$(BACKEND) is not a backend extra of pyproject.toml: use one of $(BACKENDS) (README, \"Install\")" >&2; exit 2)
	@for other in $(CLASHES_$(BACKEND)); do if test -e $(VENV)/.arerec-installed-$$other; then \
		echo "BACKEND=$(BACKEND): $(VENV) holds BACKEND=$$other, and the two TensorFlow builds own the same package. Keep to it (make ... BACKEND=$$other) or use another venv: make setup BACKEND=$(BACKEND) VENV=.venv-$(BACKEND)" >&2; \
		exit 2; fi; done
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(BACKEND)]'
	$(BIN)/python -m arerec.report.kernel
	@touch $@

$(DEV_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[$(BACKEND),dev]'
	@touch $@

test: $(DEV_STAMP)
	$(BIN)/python -m arerec.malloc_tuning $(BIN)/python -m pytest $(if $(filter-out 0,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS) --dist loadfile) $(PYTEST_ARGS)

$(TORCH_STAMP): $(DEV_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[$(BACKEND),dev,torch]'
	@touch $@

test-torch: $(TORCH_STAMP)
	KERAS_BACKEND=torch OMP_NUM_THREADS=1 $(BIN)/python -m arerec.malloc_tuning $(BIN)/python -m pytest \
		$(if $(filter-out 0,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS) --dist loadfile) $(TORCH_TESTS) $(PYTEST_ARGS)
	$(BIN)/python -m arerec.malloc_tuning $(BIN)/python -m pytest -m torch \
		$(if $(filter-out 0,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS) --dist loadfile) $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check arerec tests scripts
	$(BIN)/mypy

# Kernels start in the repository root, as under `make reproduce` (papermill --cwd), so the
# notebooks' relative paths (Data/, Model/, reports/) mean the same thing in both.
lab: setup
	$(BIN)/jupyter lab --ServerApp.root_dir=notebooks --MappingKernelManager.root_dir="$(CURDIR)" $(LAB_ROOT)

data: setup
	$(BIN)/python -m arerec.report data --params $(PARAMS)

# The runner (arerec/report/runner.py) checks the layered params, gets the data, runs the four notebooks
# with papermill into $(REPORTS)/<experiment>/ and rebuilds $(REPORTS)/index.html; it exits
# non-zero, naming the notebook, when one fails.
reproduce: setup
	$(BIN)/python -m arerec.report run --params $(PARAMS) --reports-dir $(REPORTS) --timeout $(TIMEOUT)

# Compares the rebuilt $(REPORTS)/<experiment>/metrics.json with its copy in git ($(AGAINST), default HEAD), figure by
# figure: deterministic figures must be identical, trained ones (TRAINED_PATTERNS in arerec/report/check.py) within
# TRAINED_TOLERANCE. Prints REPRODUCED or NOT REPRODUCED and exits 0 only for the first. EXPERIMENT defaults to PARAMS.
check: setup
	$(BIN)/python -m arerec.report check --experiment $(or $(EXPERIMENT),$(firstword $(subst $(comma), ,$(PARAMS)))) --reports-dir $(REPORTS) \
		--against $(or $(AGAINST),HEAD)

# Times the training step, an epoch, evaluation and preparation per update mode (measured: 9 min on
# ML-100K, all five modes, 2 quiet cores): reports/bench/$(BENCH_DATA).json and .png.
# On a machine with Keras and any backend but no TensorFlow (a GPU box with JAX, say):
#   KERAS_BACKEND=jax python -m arerec.bench.backends --shape ml-100k --out reports/bench/gpu-ml-100k.json
BENCH_DATA ?= ml-100k
bench: setup
	$(BIN)/python -m arerec bench --bench_data $(BENCH_DATA) --name $(BENCH_DATA)

clean:
	rm -rf .pytest_cache .ruff_cache build dist *.egg-info
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -prune -exec rm -rf {} +
