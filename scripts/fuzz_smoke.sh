#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, PEFTUI_FUZZ=ON) into build-fuzz and runs
# each one for a short fixed time over a copy of its seed corpus.
#   FUZZ_SECONDS=N   seconds per fuzzer (default 20)
#   FUZZERS="gguf dataset"   only these (default: all)
# Fails on any crash, leak or sanitizer report, naming the saved crash input.
# Without clang or libFuzzer it prints SKIP and exits 0.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${FUZZ_BUILD:-$ROOT/build-fuzz}"
SECS="${FUZZ_SECONDS:-20}"
ALL="gguf safetensors model_hf_config tokenizer_json tokenize adapter dataset chat_template"
FUZZERS="${FUZZERS:-$ALL}"

CLANG="${CC:-clang}"
case "$(basename "$CLANG")" in clang*) ;; *) CLANG=clang ;; esac
if ! command -v "$CLANG" >/dev/null 2>&1; then
  echo "SKIP fuzz_smoke: clang not found"; exit 0
fi
probe="$(mktemp -d)"
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);\nint LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' > "$probe/p.c"
if ! "$CLANG" -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" >/dev/null 2>&1; then
  rm -rf "$probe"; echo "SKIP fuzz_smoke: $CLANG has no libFuzzer"; exit 0
fi
rm -rf "$probe"

targets=""
for f in $FUZZERS; do targets="$targets fuzz_$f"; done
t0=$(date +%s)
mkdir -p "$BUILD"
work_log="$BUILD/fuzz_configure.log"
CC="$CLANG" cmake -S "$ROOT" -B "$BUILD" -DPEFTUI_FUZZ=ON -DPEFTUI_CUDA=OFF -DCMAKE_BUILD_TYPE=Release >"$work_log" 2>&1 \
  || { cat "$work_log"; echo "FAIL fuzz_smoke: configure"; exit 1; }
cmake --build "$BUILD" -j"${JOBS:-2}" --target $targets || { echo "FAIL fuzz_smoke: build"; exit 1; }
echo "fuzz_smoke: built in $(( $(date +%s) - t0 )) s"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail=0
for f in $FUZZERS; do
  bin="$BUILD/fuzz_$f"
  mkdir -p "$work/$f/corpus" "$work/$f/artifacts"
  cp "$ROOT/tests/fuzz/corpus/$f/"* "$work/$f/corpus/" 2>/dev/null || true
  log="$work/$f/log"
  (cd "$work/$f" && "$bin" -max_total_time="$SECS" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 \
      -artifact_prefix="$work/$f/artifacts/" corpus >"$log" 2>&1)
  rc=$?
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)"
  if [ $rc -ne 0 ]; then
    fail=1
    keep="$ROOT/build-fuzz-crashes/$f"
    mkdir -p "$keep"
    cp "$work/$f/artifacts/"* "$keep/" 2>/dev/null || true
    cp "$log" "$keep/log.txt"
    echo "FAIL fuzz_$f: exit $rc after ${execs:-?} executions; inputs and log in $keep:"
    ls "$keep"
    grep -E "ERROR|SUMMARY|#[0-9]+ 0x" "$log" | head -n 25
  else
    echo "ok   fuzz_$f: ${execs:-?} executions in ${SECS} s"
  fi
done
exit $fail
