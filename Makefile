# Two commands on a fresh machine:  make study   (set up + run the whole study)
#                                   make test    (set up + run the test suite)
SHELL := /bin/bash
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: study test lint setup data-package quick paper mlflow-ui clean-mlflow report-screenshot push pull mlflow-server queue

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

# Debian's package holds the real Fashion-MNIST files; without apt, the download stage uses the mirrors.
data-package:
	@if [ -d /usr/share/datasets/fashion-mnist ]; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; \
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then \
		sudo apt-get update -qq && sudo apt-get install -y -qq dataset-fashion-mnist; \
	else echo "dataset-fashion-mnist not installed: the download stage will use the official mirrors"; fi

study: setup data-package
	@start=$$(date +%s); dvc repro && echo "study finished in $$(( $$(date +%s) - start )) s (wall time)"

# Two processes, a test file each at a time. The scratch study is built once, in the background, while
# the files that do not need it run; each process then works on its own copy (tests/conftest.py).
test: setup
	pytest -n 2 --dist loadfile --no-loadscope-reorder

# ruff, configured in pyproject.toml: lint rules and the formatter's check (CI runs both).
lint: setup
	ruff check .
	ruff format --check .

# Profiles run as DVC experiments in a temporary copy: params.yaml and the committed results stay as they are.
# `make quick TARGET=pipelines/m1/dvc.yaml:m1_table`: only that stage and what it depends on (any `dvc repro` target).
# A profile that fails validation stops here, before any experiment runs.
quick: setup data-package
	overrides=$$(python -m genstudy.profile quick) && dvc exp run --temp --name quick-$$(date +%Y%m%d-%H%M%S) $$overrides $(TARGET)

paper: setup data-package
	overrides=$$(python -m genstudy.profile paper) && dvc exp run --temp --name paper-$$(date +%Y%m%d-%H%M%S) $$overrides

# The team's DVC remote (README: Sharing results): outputs and the run-cache, so that a stage whose
# command, deps and params match a pushed run is restored instead of rerun. `dvc push --run-cache`
# leaves out the outputs kept in git that the entries name; the tool runs it and sends those too.
push: setup
	python tools/push_run_cache.py

pull: setup
	dvc pull --run-cache

# Run the experiments queued with `dvc exp run --queue`, JOBS at a time. Each worker gets its share of
# the cores through OMP_NUM_THREADS, which torch, BLAS and the SVM selection all follow: two
# processes that each take every core run many times slower than one (docs/scale-out.md).
JOBS ?= 2
queue: setup
	share=$${OMP_NUM_THREADS:-$$(( $$(nproc) / $(JOBS) ))}; \
	OMP_NUM_THREADS=$$(( share > 0 ? share : 1 )) dvc queue start -j $(JOBS)
	@echo "dvc queue status: progress; dvc exp show: results; dvc queue logs NAME: one experiment's output"

mlflow-ui: setup
	@echo "open http://127.0.0.1:5000/#/experiments/1/runs?workflowType=machine_learning (the training runs, not GenAI)"
	python -m genstudy.pipeline.deferred  # runs of stages that did not import MLflow, still pending
	mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db --default-artifact-root $(CURDIR)/mlartifacts

# An MLflow tracking server on a local PostgreSQL database (Debian: apt-get install postgresql), kept in
# mlflow-server/, on http://127.0.0.1:5001 until Ctrl-C. Stages log to it with MLFLOW_TRACKING_URI set to that.
mlflow-server: setup
	python tools/mlflow_server.py

# Render reports/report.html in headless Chromium (Debian: apt-get install chromium), check that every
# figure decodes and renders, and save reports/report_screenshot.png.
report-screenshot: setup
	python tools/screenshot_report.py
