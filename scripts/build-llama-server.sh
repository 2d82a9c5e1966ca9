#!/usr/bin/env bash
# Builds llama.cpp's own `llama-server` from the llama.cpp sources vendored in the installed llama-cpp-python
# release (the same llama.cpp Frontier's llama.cpp engine runs), for side-by-side benchmarks. Not committed:
# the sources and the binary land in .cache/llama-server/. Usage: scripts/build-llama-server.sh [venv]
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-.venv}"
version="$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))')"
out=".cache/llama-server"
bin="$out/llama-server-$version"
if [[ -x "$bin" ]]; then echo "$bin"; exit 0; fi
mkdir -p "$out"
"$venv/bin/python" -m pip download -q --no-deps --no-binary :all: "llama-cpp-python==$version" -d "$out" >&2
rm -rf "$out/src" && mkdir -p "$out/src"
tar -xzf "$out/llama_cpp_python-$version.tar.gz" -C "$out/src" --strip-components=1
cmake -S "$out/src/vendor/llama.cpp" -B "$out/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
  -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON >&2
cmake --build "$out/build" --target llama-server -j "$(nproc)" >&2
cp "$out/build/bin/llama-server" "$bin"
echo "$bin"
