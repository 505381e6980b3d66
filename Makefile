# vaekit — two commands: `make demo` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The pinned torch is installed before vaekit so that vaekit's torch range is already met:
# on a CPU-only machine this is the local CPU wheel, never a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
DEMO_OUT ?= runs/demo

.PHONY: demo test lint format clean fuzz-soak

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

demo: $(VENV)/.installed
	@bash scripts/ensure-fashion-mnist.sh $(PY)
	$(VENV)/bin/vaekit train --data fashion-mnist --model conv --epochs 10 --out $(DEMO_OUT) --overwrite

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: lint
	$(PY) -m pytest

# The fuzz tests (every data reader, run directories, checkpoints on generated broken inputs)
# with hundreds of fresh cases each instead of the few dozen fixed ones `make test` runs.
fuzz-soak: $(VENV)/.installed
	VAEKIT_FUZZ=soak $(PY) -m pytest -m fuzz

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
