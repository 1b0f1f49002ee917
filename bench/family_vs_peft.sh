#!/usr/bin/env bash
# peftui vs transformers + PEFT (PyTorch CPU, float32) on random models of the
# other families' shapes (issue 11), one after the other in one run, the same
# thread count: prefill (128 tokens) and decode (64) tokens/s, LoRA training
# tokens/s (r 8 on every linear layer, batch 4 x 256 random tokens).
# A benchmark, not a test.
#   bench/family_vs_peft.sh [THREADS] [SHAPES...]     (default: 2 bloom-560m gpt2)
# Needs build/peftui (BUILD=...) and the reference venv (PY=..., default
# .venv-ref/bin/python).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
T="${1:-2}"
shift || true
SHAPES=("$@")
[ ${#SHAPES[@]} -gt 0 ] || SHAPES=(bloom-560m gpt2)
BUILD="${BUILD:-$ROOT/build}"
PY="${PY:-$ROOT/.venv-ref/bin/python}"
for s in "${SHAPES[@]}"; do
    echo "== $s, $T threads"
    "$BUILD/peftui" bench --shape "$s" -t "$T" --prompt-tokens 128 --gen-tokens 64 --reps 3 | sed "s/^/peftui $s: /"
    "$BUILD/peftui" bench --train --shape "$s" -t "$T" --seq 256 --batch 4 --r 8 --alpha 16 --steps 5 --warmup 2 |
        sed "s/^/peftui $s: /"
    "$PY" "$ROOT/bench/family_peft_speed.py" "$s" "$T" 256 4 2 5 2>/dev/null
done
