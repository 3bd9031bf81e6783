PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast bench lint clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[all,dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/polyclr demo

# Two pytest processes: once tsai/fastai models have run in a process, MONAI's traced inverse
# (Invertd) loses applied_operations in that process (under investigation), so the volume
# tests run in their own process.
test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/volume $(PYTEST_ARGS)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -p no:cacheprovider --nbmake --nbmake-timeout=600 --ignore=tests/volume tests notebooks $(PYTEST_ARGS)

test-fast: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/loss_core.py

lint: $(STAMP)
	$(BIN)/ruff check polyclr tests benchmarks

clean:
	rm -rf $(VENV)
