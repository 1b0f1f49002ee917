#!/usr/bin/env bash
# peftui vs PEFT + transformers on one GPU: LoRA training tokens/s, MFU and
# peak GPU memory on models of two shapes with random weights, and greedy
# decode tokens/s, in one run. A benchmark, not a test.
#   bench/gpu_train_vs_peft.sh
# LoRA r 16, alpha 32, dropout 0 on q,k,v,o,gate,up,down_proj; AdamW lr 1e-4;
# bf16 base weights; 3 warm-up steps then STEPS timed steps. Configurations
# (shape seq batch steps):
#   smollm2-135m 512 1 10 | smollm2-135m 2048 1 10 | smollm2-135m 512 8 10
#   llama2-7b 512 1 5     | llama2-7b 2048 1 5
# and decode: 128-token prompt, 128 new tokens, batch 1, smollm2-135m.
# Every run is its own process under its own timeout (RUN_TIMEOUT_S, 7B:
# RUN_TIMEOUT_7B_S), so a crash or an OOM costs one row; when the whole
# budget (BENCH_BUDGET_S, default 200) runs short the rest are "skipped
# (budget)". peftui rows read `$BUILD/peftui bench ... --json` (one JSON
# object: tokens_per_s, step_s, peak_gpu_mib, mfu, device); while `peftui
# bench` lacks those flags the row says "not available". MFU for both comes
# from one formula, in bench/peft_gpu_train_speed.py (its docstring).
# Environment: BUILD (default build-cuda), PY (default python3, else
# /opt/ref/bin/python), DEVICE (cuda; cpu to try the script out), CONFIGS
# ("shape seq batch steps;..."), DECODE (shape, or "none"), DECODE_PROMPT and
# DECODE_GEN (128, 128), BENCH_OUT (where
# bench.json and bench.txt go; default a temporary folder), BENCH_LOGS (raw
# output of every run), PEAK_FLOPS (override the GPU's peak), WARMUP (3).
# Try it on a CPU:
#   DEVICE=cpu CONFIGS="tiny 64 1 2;tiny 128 2 2" DECODE=tiny DECODE_PROMPT=16 DECODE_GEN=8 \
#     PY=/opt/ref/bin/python bench/gpu_train_vs_peft.sh
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${BUILD:-$ROOT/build-cuda}"
PY="${PY:-python3}"
if ! "$PY" -c "import torch, transformers, peft" 2>/dev/null; then PY=/opt/ref/bin/python; fi
DEVICE="${DEVICE:-cuda}"
WARMUP="${WARMUP:-3}"
CONFIGS="${CONFIGS:-smollm2-135m 512 1 10;smollm2-135m 2048 1 10;smollm2-135m 512 8 10;llama2-7b 512 1 5;llama2-7b 2048 1 5}"
DECODE="${DECODE:-smollm2-135m}"
NP="${DECODE_PROMPT:-128}"   # prompt and new tokens of the decode runs
NG="${DECODE_GEN:-128}"
BUDGET="${BENCH_BUDGET_S:-200}"
RUN_T="${RUN_TIMEOUT_S:-45}"
RUN_T7="${RUN_TIMEOUT_7B_S:-70}"
SCRIPT="$ROOT/bench/peft_gpu_train_speed.py"
OUTD="${BENCH_OUT:-$(mktemp -d /tmp/peftui-gpu-bench.XXXXXX)}"
LOGS="${BENCH_LOGS:-$OUTD/logs}"
mkdir -p "$OUTD" "$LOGS"
RES="$LOGS/results.jsonl"
: > "$RES"
T0=$(date +%s)
export PYTHONUNBUFFERED=1

# peftui's bench subcommand with the given flags (its --help names them all)
peftui_has() {
    [ -x "$BUILD/peftui" ] || return 1
    local h f
    h="$("$BUILD/peftui" bench --help 2>&1)" || true
    for f in "$@"; do grep -q -- "$f" <<< "$h" || return 1; done
}
HAVE_TRAIN=0; HAVE_DECODE=0
peftui_has --train --device --shape --json && HAVE_TRAIN=1
peftui_has --device --shape --json --prompt-tokens --gen-tokens && HAVE_DECODE=1
echo "peftui: $BUILD/peftui; bench --train: $([ $HAVE_TRAIN = 1 ] && echo yes || echo 'not available'); decode --shape: $([ $HAVE_DECODE = 1 ] && echo yes || echo 'not available')"

# run IMPL MODE SHAPE SEQ BATCH TIMEOUT -- command...: one process, one result line
run() {
    local impl="$1" mode="$2" shape="$3" seq="$4" batch="$5" lim="$6"; shift 7
    local tag="$impl-$mode-$shape-$seq-$batch" left status rc
    left=$(( T0 + BUDGET - $(date +%s) ))
    [ "$lim" -gt "$left" ] && lim=$left
    if [ "$lim" -lt 10 ]; then
        status="skipped (budget)"
    else
        echo "== $tag (timeout ${lim}s): $*"
        local t
        t=$(date +%s)
        timeout -k 5 "$lim" "$@" > "$LOGS/$tag.log" 2>&1
        rc=$?
        case $rc in
            0) status=ok ;;
            124|137) status="timeout ${lim}s" ;;
            *) if grep -qiE 'out of memory|OutOfMemory' "$LOGS/$tag.log"; then status="OOM (rc $rc)"; else status="failed rc $rc"; fi ;;
        esac
        echo "   $status in $(( $(date +%s) - t )) s; $(grep -E '^\{' "$LOGS/$tag.log" | tail -n 1 | cut -c1-200)"
        [ "$status" = ok ] || tail -n 5 "$LOGS/$tag.log" | sed 's/^/   | /'
    fi
    "$PY" "$SCRIPT" record --impl "$impl" --mode "$mode" --shape "$shape" --seq "$seq" --batch "$batch" \
        --status "$status" --raw "$LOGS/$tag.log" >> "$RES"
}

not_available() {   # IMPL MODE SHAPE SEQ BATCH
    "$PY" "$SCRIPT" record --impl "$1" --mode "$2" --shape "$3" --seq "$4" --batch "$5" --status "not available" >> "$RES"
}

train_cfg() {   # "shape seq batch steps"
    local shape seq batch steps lim
    read -r shape seq batch steps <<< "$1"
    [ -n "${shape:-}" ] || return 0
    lim=$RUN_T; [ "$shape" = llama2-7b ] && lim=$RUN_T7
    if [ $HAVE_TRAIN = 1 ]; then
        run peftui train "$shape" "$seq" "$batch" "$lim" -- "$BUILD/peftui" bench --train --device "$DEVICE" --shape "$shape" \
            --seq "$seq" --batch "$batch" --r 16 --alpha 32 --steps "$steps" --warmup "$WARMUP" --json
    else
        not_available peftui train "$shape" "$seq" "$batch"
    fi
    run peft train "$shape" "$seq" "$batch" "$lim" -- "$PY" "$SCRIPT" train --device "$DEVICE" --shape "$shape" \
        --seq "$seq" --batch "$batch" --steps "$steps" --warmup "$WARMUP" --r 16 --alpha 32
}

decode() {
    [ "$DECODE" != none ] || return 0
    if [ $HAVE_DECODE = 1 ]; then
        run peftui decode "$DECODE" "$NP" 1 "$RUN_T" -- "$BUILD/peftui" bench --device "$DEVICE" --shape "$DECODE" \
            --prompt-tokens "$NP" --gen-tokens "$NG" --json
    else
        not_available peftui decode "$DECODE" "$NP" 1
    fi
    run peft decode "$DECODE" "$NP" 1 "$RUN_T" -- "$PY" "$SCRIPT" decode --device "$DEVICE" --shape "$DECODE" \
        --prompt-tokens "$NP" --gen-tokens "$NG"
}

# the small model's runs and decode first: the 7B runs are the likeliest to
# time out or run out of memory, and the budget's end falls on them
IFS=';' read -r -a CFGS <<< "$CONFIGS"
for c in "${CFGS[@]}"; do [[ $c == *llama2-7b* ]] || train_cfg "$c"; done
decode
for c in "${CFGS[@]}"; do [[ $c == *llama2-7b* ]] && train_cfg "$c"; done

echo "== bench: $(( $(date +%s) - T0 )) s of $BUDGET"
GPU_NAME=""
[ "$DEVICE" = cpu ] || GPU_NAME="$(timeout 20 nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)"
"$PY" "$SCRIPT" report "$RES" --json "$OUTD/bench.json" --text "$OUTD/bench.txt" ${PEAK_FLOPS:+--peak-flops "$PEAK_FLOPS"} \
    ${GPU_NAME:+--gpu-name "$GPU_NAME"}
