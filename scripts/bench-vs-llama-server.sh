#!/usr/bin/env bash
# Frontier on the llama.cpp engine against llama.cpp's own llama-server (built from the same vendored sources
# by scripts/build-llama-server.sh), same model, same slots and KV size, interleaved in one `frontier bench` run.
# Usage: scripts/bench-vs-llama-server.sh [extra `frontier bench` options]; env MODEL, SLOTS, OUT, QUANT
# (Frontier's MISTRAL_DEFAULT_QUANTIZATION, default none) override.
set -euo pipefail
cd "$(dirname "$0")/.."
model="${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}"
slots="${SLOTS:-8}"
out="${OUT:-.cache/bench-vs-llama-server}"
mkdir -p "$out"
server_bin="$(scripts/build-llama-server.sh)"
ctx=$(( slots * 2048 ))
frontier_port=18080; llama_port=18090
"$server_bin" -m "$model" --host 127.0.0.1 --port "$llama_port" -np "$slots" -c "$ctx" -kvu -t "$(nproc)" \
  >"$out/llama-server.log" 2>&1 &
llama_pid=$!
# Same weights on both sides: Frontier's `auto` would serve a Q4_1 file from its Q8_0 copy.
MISTRAL_DEFAULT_QUANTIZATION="${QUANT:-none}" MISTRAL_ENGINE=llamacpp MISTRAL_API_PORT=$frontier_port MISTRAL_MAX_BATCH_SIZE=$slots MISTRAL_MODEL_ID="$(basename "$model")" \
  MISTRAL_MODELS_PATH="$(dirname "$model")" .venv/bin/frontier serve >"$out/frontier.log" 2>&1 &
frontier_pid=$!
trap 'kill $llama_pid $frontier_pid 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for url in "http://127.0.0.1:$frontier_port/health" "http://127.0.0.1:$llama_port/health"; do
  for _ in $(seq 1 240); do curl -sf "$url" >/dev/null && break; sleep 0.5; done
  curl -sf "$url" >/dev/null || { echo "not healthy: $url" >&2; exit 1; }
done
.venv/bin/frontier bench --url "http://127.0.0.1:$frontier_port" --compare "http://127.0.0.1:$llama_port" \
  --compare-model "$(basename "$model")" --concurrency 1,8 --max-tokens 128 --rounds 2 \
  --json "$out/result.json" --chart "$out/result.png" "$@"
