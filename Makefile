# The README's two commands: `make book` and `make test`. Each does its own set-up: a virtual
# environment in .venv with the CPU build of torch (the multi-GB CUDA build is not needed here;
# on a GPU machine run `make TORCH=torch==2.13.0 ...` against your CUDA index instead).
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin
# Offline data (../shared/data beside a checkout); loaders fall back to a verified download.
export LAB_DATA_DIR ?= $(abspath ../shared/data)

.PHONY: book test setup clean gpu

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

setup: $(BIN)/.installed

book: setup
	$(BIN)/lab book

# pytest exits 5 when it collects no test: say so and fail, rather than pass silently.
test: setup
	@$(BIN)/python -m pytest -n 2 --dist loadscope --timeout 900; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests (exit 5)"; fi; exit $$rc

# On a GPU machine: kernel benchmarks, then the pending full tiers, within GPU_BUDGET seconds.
GPU_BUDGET ?= 420
gpu: setup
	$(BIN)/lab gpu --budget $(GPU_BUDGET)

clean:
	rm -rf _build book/scorecard.md
