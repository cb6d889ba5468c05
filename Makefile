# The README's two commands: `make book` and `make test`. Each does its own set-up: a virtual
# environment in .venv with torch and the project installed.
#
# torch comes from your pip index as `$(TORCH)`: from PyPI on Linux x86-64 that is the CUDA build
# (several GB, with NVIDIA's libraries). For the CPU-only build (a few hundred MB) or a given CUDA
# version, name PyTorch's index:
#   make TORCH_INDEX=https://download.pytorch.org/whl/cpu setup
#   make TORCH_INDEX=https://download.pytorch.org/whl/cu126 setup
# The set-up stamp is named after TORCH and TORCH_INDEX, so changing either reinstalls torch.
PYTHON      ?= python3
VENV        ?= .venv
TORCH       ?= torch==2.13.0
TORCH_INDEX ?=
BIN         := $(VENV)/bin
TORCH_ID    := $(shell printf '%s %s' '$(TORCH)' '$(TORCH_INDEX)' | sha256sum | cut -c1-12)
STAMP       := $(BIN)/.installed-$(TORCH_ID)
# Offline data: `lab` finds ../shared/data beside the checkout by itself (lab/datafiles.py);
# LAB_DATA_DIR, when set, wins.

.PHONY: book test setup clean gpu

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	# the dwtDct reference (SemanticRegen chapter); --no-deps: its opencv-python needs libGL
	$(BIN)/python -m pip install --quiet --no-deps "invisible-watermark>=0.2.0"
	rm -f $(BIN)/.installed $(BIN)/.installed-*
	touch $@

setup: $(STAMP)

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
