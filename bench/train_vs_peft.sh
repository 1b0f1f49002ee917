#!/usr/bin/env bash
# peftui vs PEFT + transformers (PyTorch CPU): LoRA training tokens/s and peak
# RSS on the same model, the same token rows and the same thread count, in one
# run. A benchmark, not a test.
#   bench/train_vs_peft.sh [MODEL.gguf] [THREADS] [STEPS]
# LoRA r=8 (alpha 16, dropout 0.05) on q_proj and v_proj, sequences of 256
# tokens, batch 4, 2 warmup steps then STEPS (10) timed steps.
# Data: datasets/identity.jsonl's rows run together into plain-text documents
# longer than 256 tokens, so every row of every batch is exactly 256 tokens
# for both (loss on every token).
# Needs build/peftui (BUILD=... to use another build folder) and a Python with
# torch, transformers, peft and gguf (PY=..., default .venv-ref/bin/python,
# else /opt/ref/bin/python).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MODEL="${1:-$ROOT/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
T="${2:-2}"
STEPS="${3:-10}"
WARMUP=2
SEQ=256
B=4
BUILD="${BUILD:-$ROOT/build}"
PY="${PY:-$ROOT/.venv-ref/bin/python}"
[ -x "$PY" ] || PY=/opt/ref/bin/python
WORK="$(mktemp -d /tmp/peftui-train-bench.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

# B * (WARMUP + STEPS) documents, each several identity rows long
"$PY" - "$ROOT/datasets/identity.jsonl" "$WORK/data.txt" $((B * (WARMUP + STEPS))) <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
n = int(sys.argv[3])
with open(sys.argv[2], "w", encoding="utf-8") as f:
    for d in range(n):
        parts, i = [], d
        while sum(len(p) for p in parts) < 2400:   # ~600 tokens, well over 256
            r = rows[i % len(rows)]
            parts.append(f"Question: {r['instruction']} {r.get('input', '')} Answer: {r['output']}".replace("  ", " "))
            i += 7
        f.write(" ".join(parts) + "\n\n")
EOF

timev() {   # runs "$@" under /usr/bin/time -v when there is one; peak RSS into $WORK/rss
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -v -o "$WORK/time.txt" "$@"
        awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print int($2 / 1024)}' "$WORK/time.txt" > "$WORK/rss"
    else
        "$@"
        echo "?" > "$WORK/rss"
    fi
}

echo "== peftui train (threads $T, r=8 q_proj,v_proj, seq $SEQ, batch $B, $WARMUP + $STEPS steps)"
timev "$BUILD/peftui" train -d "$WORK/data.txt" -m "$MODEL" -o "$WORK/out" -t "$T" \
    --r 8 --alpha 16 --dropout 0.05 --target-modules q_proj,v_proj --lr 2e-4 \
    --max-seq-len $SEQ --batch $B --grad-accum 1 --steps $((WARMUP + STEPS)) --save-every 0 </dev/null | tail -n 3
PEFTUI_RSS="$(cat "$WORK/rss")"
# tokens/s over the timed steps from log.jsonl: elapsed_s is cumulative
PEFTUI_TPS="$("$PY" - "$WORK/out/log.jsonl" $WARMUP $((B * SEQ)) <<'EOF'
import json, sys
log = [json.loads(l) for l in open(sys.argv[1])]
w, per_step = int(sys.argv[2]), int(sys.argv[3])
t = log[-1]["elapsed_s"] - log[w - 1]["elapsed_s"]
print(f"{per_step * (len(log) - w) / t:.1f} {log[0]['loss']:.4f} {log[-1]['loss']:.4f}")
EOF
)"
read -r PT_TPS PT_L0 PT_L1 <<< "$PEFTUI_TPS"
echo "peftui: tokens/s $PT_TPS, peak RSS $PEFTUI_RSS MB, loss $PT_L0 -> $PT_L1"

echo "== PEFT + transformers, PyTorch CPU (threads $T)"
timev "$PY" "$ROOT/bench/peft_train_speed.py" "$MODEL" "$WORK/data.txt" "$T" $SEQ $B $WARMUP "$STEPS" \
    > "$WORK/peft.txt" 2>&1 || { tail -n 20 "$WORK/peft.txt"; exit 1; }
grep '^peft:' "$WORK/peft.txt"
PEFT_RSS="$(cat "$WORK/rss")"
PEFT_TPS="$(sed -n 's/^peft: tokens\/s \([0-9.]*\),.*/\1/p' "$WORK/peft.txt")"

echo "== summary: tokens/s over the $STEPS timed steps, peak RSS of the whole process (/usr/bin/time)"
printf '%-8s %10s tokens/s %8s MB\n' peftui "$PT_TPS" "$PEFTUI_RSS" PEFT "$PEFT_TPS" "$PEFT_RSS"
awk -v a="$PT_TPS" -v b="$PEFT_TPS" 'BEGIN { if (b > 0) printf "peftui / PEFT tokens/s: %.2fx (goal >= 2x)\n", a / b }'
