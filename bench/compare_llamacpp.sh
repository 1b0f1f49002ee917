#!/usr/bin/env bash
# peftui vs llama.cpp on the same GGUF and thread count, in one run:
# prefill and decode tokens/s and peak RSS. A benchmark, not a test.
#   bench/compare_llamacpp.sh [MODEL.gguf] [THREADS]
# Needs build/peftui and a Python with llama-cpp-python (PY=..., default .venv-ref/bin/python).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MODEL="${1:-$ROOT/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
T="${2:-2}"
PY="${PY:-$ROOT/.venv-ref/bin/python}"
[ -x "$PY" ] || PY=/opt/ref/bin/python
echo "== peftui (threads $T)"
"$ROOT/build/peftui" bench -m "$MODEL" -t "$T" --prompt-tokens 128 --gen-tokens 64 --reps 3
echo "== llama.cpp via llama-cpp-python (threads $T)"
"$PY" "$ROOT/bench/llamacpp_speed.py" "$MODEL" "$T" 128 64 3
