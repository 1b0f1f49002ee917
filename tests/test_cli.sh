#!/usr/bin/env bash
# test_cli.sh - peftui's command line as a user meets it: usage and exit codes,
# one-line errors for every kind of bad input (no crash on corrupt models),
# chat over piped stdin, and, with the default model present, real answers.
#
#   tests/test_cli.sh /path/to/peftui        (from the repo root)
#
# Exit codes: 0 ok, 1 runtime error, 2 usage error. Prints "N passed, N failed".
set -u

BIN=${1:?usage: tests/test_cli.sh /path/to/peftui}
case "$BIN" in /*) ;; *) BIN="$PWD/$BIN" ;; esac
cd "$(dirname "$0")/.." || exit 1
[ -x "$BIN" ] || { echo "test_cli: $BIN is not an executable"; echo "0 passed, 1 failed"; exit 1; }

MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf
TINY=tests/data/tiny/llama-f32.gguf
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export XDG_CONFIG_HOME="$TMP/config"   # chat history never touches the real home
unset PEFTUI_MODEL

pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

# run CMD...: runs with stdin from /dev/null; sets rc, out, err
run() {
    "$@" </dev/null >"$TMP/out" 2>"$TMP/err"
    rc=$?
    out=$(cat "$TMP/out")
    err=$(cat "$TMP/err")
}

# expect_error NAME RC REGEX CMD...: exit status RC, nothing on stdout, exactly
# one stderr line "peftui: ..." matching REGEX
expect_error() {
    local name=$1 want=$2 re=$3
    shift 3
    run "$@"
    local lines
    lines=$(wc -l <"$TMP/err")
    if [ "$rc" -ne "$want" ]; then
        bad "$name: exit $rc, want $want (stderr: $err)"
    elif [ "$lines" -ne 1 ]; then
        bad "$name: $lines stderr lines, want 1: $err"
    elif ! grep -q '^peftui: ' "$TMP/err"; then
        bad "$name: stderr does not start with 'peftui: ': $err"
    elif ! grep -Eq -- "$re" "$TMP/err"; then
        bad "$name: stderr does not match /$re/: $err"
    elif [ -n "$out" ]; then
        bad "$name: unexpected stdout: $out"
    else
        ok
    fi
}

# expect_ok NAME REGEX CMD...: exit 0 and stdout matching REGEX
expect_ok() {
    local name=$1 re=$2
    shift 2
    run "$@"
    if [ "$rc" -ne 0 ]; then
        bad "$name: exit $rc (stderr: $err)"
    elif ! grep -Eq -- "$re" "$TMP/out"; then
        bad "$name: stdout does not match /$re/: $(head -c 400 "$TMP/out")"
    else
        ok
    fi
}

# --- usage and help -------------------------------------------------------
expect_ok "no arguments prints usage" "usage: peftui.*" "$BIN"
grep -q "peftui chat" "$TMP/out" && ok || bad "usage should suggest peftui chat"
expect_ok "help" "generate" "$BIN" help
expect_ok "--help" "tokenize" "$BIN" --help
for cmd in chat generate info tokenize bench; do
    expect_ok "$cmd --help" "usage: peftui $cmd" "$BIN" "$cmd" --help
done
expect_ok "help generate" "--temp" "$BIN" help generate
expect_ok "generate -h lists -m" "-m, --model" "$BIN" generate -h

expect_error "unknown command" 2 "unknown command 'frobnicate'.*help" "$BIN" frobnicate
expect_error "help for an unknown command" 2 "unknown command" "$BIN" help frobnicate
expect_error "unknown flag" 2 "unknown option '--bogus'.*generate --help" "$BIN" generate -p hi --bogus
expect_error "unknown short flag" 2 "unknown option '-Z'" "$BIN" info -Z
expect_error "missing value at the end" 2 "-p needs a value" "$BIN" generate -p
expect_error "missing value before a flag" 2 "-m needs a value" "$BIN" chat -m --temp 0
expect_error "missing --temp value" 2 "--temp needs a value" "$BIN" generate -p hi --temp
expect_error "non-numeric --temp" 2 "--temp: expected a number, got 'hot'" "$BIN" generate -p hi --temp hot
expect_error "non-numeric -n" 2 "-n: expected a whole number" "$BIN" generate -p hi -n many
expect_error "fractional --top-k" 2 "--top-k: expected a whole number" "$BIN" generate -p hi --top-k 1.5
expect_error "negative --seed" 2 "--seed: expected a non-negative" "$BIN" generate -p hi --seed -3
expect_error "--top-p out of range" 2 "--top-p: must be between 0 and 1" "$BIN" generate -p hi --top-p 2
expect_error "--threads 0" 2 "--threads: must be between 1" "$BIN" bench --threads 0
expect_error "non-numeric --ctx" 2 "--ctx: expected a whole number" "$BIN" chat --ctx big
expect_error "unknown backend" 2 "unknown backend 'gpu'" "$BIN" generate -p hi --backend gpu
expect_error "generate without a prompt" 2 "needs a prompt" "$BIN" generate
expect_error "stray argument" 2 "unexpected argument 'extra'" "$BIN" info extra
expect_error "tokenize without text" 2 "tokenize needs a TEXT" "$BIN" tokenize
expect_error "flag value for a switch" 2 "--raw takes no value" "$BIN" generate -p hi --raw=yes

# --- missing and broken models --------------------------------------------
for cmd in info "tokenize hi" "generate -p hi" chat bench; do
    # shellcheck disable=SC2086
    expect_error "$cmd: missing model" 1 "model not found: /nonexistent.gguf \(run scripts/setup.sh.*-m PATH\)" \
        "$BIN" $cmd -m /nonexistent.gguf
done
PEFTUI_MODEL=/nonexistent/env.gguf expect_error "PEFTUI_MODEL missing" 1 "model not found: /nonexistent/env.gguf" "$BIN" info

printf 'this is not a model, just some text\n' >"$TMP/garbage.gguf"
: >"$TMP/empty.gguf"
head -c 4096 /dev/zero | tr '\0' 'x' >"$TMP/xs.bin"
for f in garbage.gguf empty.gguf xs.bin; do
    expect_error "corrupt model $f" 1 "." "$BIN" info -m "$TMP/$f"
done
mkdir -p "$TMP/emptydir"
expect_error "empty folder as a model" 1 "." "$BIN" info -m "$TMP/emptydir"
if [ -f "$TINY" ]; then
    size=$(wc -c <"$TINY")
    for cut in 16 100 1000 $((size / 2)) $((size - 1)); do
        head -c "$cut" "$TINY" >"$TMP/trunc.gguf"
        expect_error "tiny GGUF truncated to $cut bytes" 1 "." "$BIN" info -m "$TMP/trunc.gguf"
        expect_error "generate on a tiny GGUF truncated to $cut bytes" 1 "." "$BIN" generate -m "$TMP/trunc.gguf" -p hi
    done
    for f in bad-arch missing-tensor q4k-tensor; do
        [ -f "tests/data/tiny/$f.gguf" ] &&
            expect_error "tiny $f.gguf" 1 "." "$BIN" info -m "tests/data/tiny/$f.gguf"
    done
else
    echo "SKIP: $TINY absent: truncated-GGUF checks skipped"
fi

# invalid UTF-8 is caught before the model is even loaded
expect_error "invalid UTF-8 prompt" 1 "not valid UTF-8" "$BIN" generate -m "$TINY" -p "$(printf 'caf\xe9 au lait')"
expect_error "invalid UTF-8 for tokenize" 1 "not valid UTF-8" "$BIN" tokenize -m "$TINY" "$(printf '\xff\xfe')"
printf 'bad \xc3\x28 bytes' >"$TMP/bad.txt"
expect_error "invalid UTF-8 in -f FILE" 1 "not valid UTF-8" "$BIN" generate -m "$TINY" -f "$TMP/bad.txt"
expect_error "unreadable -f FILE" 1 "/nonexistent/prompt.txt: cannot read" "$BIN" generate -m "$TINY" -f /nonexistent/prompt.txt

# --- a tiny model: the whole path, quickly --------------------------------
LONG=$(for i in $(seq 1 200); do printf 'word%d ' "$i"; done)
if [ -f "$TINY" ]; then
    expect_error "prompt longer than --ctx" 1 "context holds 16.*--ctx" "$BIN" generate -m "$TINY" --ctx 16 -p "$LONG"
    expect_error "prompt longer than the model's context" 1 "context" "$BIN" generate -m "$TINY" -p "$LONG$LONG$LONG"
    expect_error "--ctx above the model's" 1 "more than this model's 256" "$BIN" generate -m "$TINY" --ctx 100000 -p hi
    expect_error "unknown template" 2 "unknown chat template 'nosuch'.*chatml" "$BIN" generate -m "$TINY" -p hi --template nosuch
    expect_ok "tiny generate" "." "$BIN" generate -m "$TINY" --temp 0 -n 8 -p hi
    a=$out
    run "$BIN" generate -m "$TINY" --temp 0 -n 8 -p hi
    [ "$rc" -eq 0 ] && [ "$out" = "$a" ] && ok || bad "--temp 0 must be deterministic: '$a' vs '$out'"
    printf 'hi' >"$TMP/prompt.txt"
    expect_ok "tiny generate -f FILE" "." "$BIN" generate -m "$TINY" --temp 0 -n 8 -f "$TMP/prompt.txt"
    [ "$out" = "$a" ] && ok || bad "-f FILE gives the same answer as -p: '$a' vs '$out'"
    expect_ok "tiny generate --raw" "." "$BIN" generate -m "$TINY" --raw --temp 0.8 --seed 7 -n 8 -p "hello"
    run "$BIN" generate -m "$TINY" --temp 0 -n 4 -p hi --verbose
    [ "$rc" -eq 0 ] && grep -q "tok/s" "$TMP/err" && ok || bad "--verbose prints speeds on stderr ($err)"
    run "$BIN" generate -m "$TINY" --temp 0 -n 4 -p hi
    grep -q "tok/s" "$TMP/err" && bad "stats on stderr without --verbose" || ok
    expect_ok "tiny info" "LoRA targets" "$BIN" info -m "$TINY"
    grep -q "q_proj" "$TMP/out" && grep -q "blk\.\*\.attn_q" "$TMP/out" && ok || bad "info lists grouped tensors and q_proj"
    expect_ok "tiny info --json" '"architecture":[[:space:]]*"llama"' "$BIN" info -m "$TINY" --json
    expect_ok "tiny tokenize" "^[0-9]+	'" "$BIN" tokenize -m "$TINY" "hello world"
    expect_ok "tiny tokenize --ids" "^[0-9]+( [0-9]+)*$" "$BIN" tokenize -m "$TINY" --ids "hello world"
    expect_ok "tiny bench" "decode" "$BIN" bench -m "$TINY" --prompt-tokens 8 --gen-tokens 4 --reps 1
    grep -q "peak RSS" "$TMP/out" && ok || bad "bench prints peak RSS"

    printf '/help\n/set temp 0\n/set temp warm\n/set nosuch 1\n/bogus\nhello\n/show\n/system Be brief.\nhi again\n/reset\n/quit\nnot read\n' >"$TMP/chat.in"
    "$BIN" chat -m "$TINY" -n 6 <"$TMP/chat.in" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    [ "$rc" -eq 0 ] && ok || bad "tiny chat exit $rc: $(cat "$TMP/err")"
    grep -q "/reset" "$TMP/out" && ok || bad "chat /help lists /reset"
    grep -q "temp = 0" "$TMP/out" && ok || bad "chat /set temp 0 is acknowledged"
    grep -q "^temp *0$" "$TMP/out" && ok || bad "chat /show shows temp 0: $(cat "$TMP/out")"
    grep -q "^peftui: unknown command /bogus" "$TMP/err" && ok || bad "unknown slash command reported"
    grep -q "^peftui: /set temp: expected a number" "$TMP/err" && ok || bad "bad /set value reported"
    grep -q "^peftui: unknown setting 'nosuch'" "$TMP/err" && ok || bad "unknown /set name reported"
    grep -q "conversation cleared" "$TMP/out" && ok || bad "chat /reset"
    grep -q "not read" "$TMP/out" && bad "chat must stop at /quit" || ok
    printf 'caf\xe9\n/system \xff\nhello\n' | "$BIN" chat -m "$TINY" -n 4 >"$TMP/out" 2>"$TMP/err"
    rc=$?
    [ "$rc" -eq 0 ] && grep -q "^peftui: that line is not valid UTF-8" "$TMP/err" &&
        grep -q "^peftui: the system message is not valid UTF-8" "$TMP/err" && [ -n "$(cat "$TMP/out")" ] && ok ||
        bad "chat: invalid UTF-8 lines reported, session goes on (rc $rc): $(cat "$TMP/err")"
    printf 'hello\n' | "$BIN" chat -m "$TINY" -n 4 --ctx 16 >"$TMP/out" 2>"$TMP/err"
    [ $? -eq 0 ] && ok || bad "chat with a tiny context"
    printf '%s\nhi\n' "$LONG" | "$BIN" chat -m "$TINY" -n 4 --ctx 64 >"$TMP/out" 2>"$TMP/err"
    rc=$?
    [ "$rc" -eq 0 ] && grep -q "context holds 64" "$TMP/err" && ok || bad "chat: too-long message reported, session goes on (rc $rc): $(cat "$TMP/err")"
fi

# --- the default model -----------------------------------------------------
if [ -f "$MODEL" ]; then
    expect_ok "generate Paris" "Paris" "$BIN" generate --temp 0 -n 24 -p "What is the capital of France?"
    golden=$(sed -n 's/^{"text": "Hello world", "add_special": 1, "ids": \[\(.*\)\]}$/\1/p' \
        tests/data/tokenizer/smollm2/goldens.jsonl 2>/dev/null | tr -d ',')
    [ -n "$golden" ] || golden="19556 905"
    expect_ok "tokenize --ids matches the golden" "^$golden\$" "$BIN" tokenize --ids "Hello world"
    expect_ok "tokenize pieces" "^905	' world'$" "$BIN" tokenize "Hello world"
    expect_ok "tokenize parses special tokens" "^1	'<\|im_start\|>'" "$BIN" tokenize "<|im_start|>user"
    expect_ok "info SmolLM2" "chatml" "$BIN" info
    grep -q "SmolLM, trained by Hugging Face" "$TMP/out" && ok || bad "info shows the model's default system message"
    printf '/set temp 0\n/nonsense\nWhat is the capital of France?\n' | "$BIN" chat -n 24 >"$TMP/out" 2>"$TMP/err"
    rc=$?
    [ "$rc" -eq 0 ] && grep -q "Paris" "$TMP/out" && ok || bad "chat answers Paris (rc $rc): $(cat "$TMP/out") $(cat "$TMP/err")"
    expect_error "SmolLM2 prompt longer than --ctx" 1 "context holds 32" "$BIN" generate --ctx 32 -p "$LONG"
else
    echo "SKIP: $MODEL absent (run scripts/setup.sh): default-model checks skipped"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
