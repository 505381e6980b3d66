# vaekit — two commands: `make demo` and `make test`. Both set up .venv on first use.
# `make soak` kills training at 50 random moments and counts the kills it survived, then
# load-tests `vaekit serve` (`make soak-serve`), fuzzes every reader with hundreds of
# broken files each (`make fuzz-soak`) and repeats a full-size training run, whose copies must
# agree to the bit (`make soak-repeat`).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The pinned torch is installed before vaekit so that vaekit's torch range is already met:
# on a CPU-only machine this is the local CPU wheel, never a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
DEMO_OUT ?= runs/demo

.PHONY: demo test lint format clean soak chromium soak-serve fuzz-soak soak-repeat

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

# The browser tests drive Debian's chromium (Playwright's own browser download is not used):
# installed here where it is missing (as root, on Debian), and required by the tests.
chromium:
	@command -v chromium >/dev/null 2>&1 || { echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	  || { echo "make test needs chromium: apt-get install chromium (as root)"; exit 1; }

test: lint chromium
	VAEKIT_REQUIRE_BROWSER=1 $(PY) -m pytest

# Load test of `vaekit serve`: 50 clients on 127.0.0.1 for 30 s; figures in BENCHMARKS.md.
soak-serve: $(VENV)/.installed
	$(PY) bench/serve_load.py --clients 50 --seconds 30

# The fuzz tests (every data reader, run directories, checkpoints on generated broken inputs)
# with hundreds of fresh cases each instead of the few dozen fixed ones `make test` runs.
fuzz-soak: $(VENV)/.installed
	VAEKIT_FUZZ=soak $(PY) -m pytest -m fuzz

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache

soak: $(VENV)/.installed
	$(PY) scripts/soak.py --kills 50
	$(MAKE) soak-serve
	$(MAKE) fuzz-soak
	$(MAKE) soak-repeat

# The same full-size training run four times from scratch: the runs must agree to the bit.
soak-repeat: $(VENV)/.installed
	@bash scripts/ensure-fashion-mnist.sh $(PY)
	$(PY) bench/repeat_run.py --runs 4 --epochs 10
