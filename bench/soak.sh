#!/usr/bin/env bash
# soak.sh - long-run benchmark (not a test): memory growth and errors of chat
# and training on the tiny model (issue 4, long runs).
# usage: bench/soak.sh [PEFTUI] [ROUNDS] [TURNS]
#   PEFTUI  the binary (default build/peftui)
#   ROUNDS  alternating chat / train rounds, each a fresh process (default 50)
#   TURNS   turns for the single long-lived chat process (default 1000)
# Part 1 records each round's peak RSS (/usr/bin/time -v, else none) and exit
# status. Part 2 pipes TURNS turns (a /reset every 10) into one `peftui chat`
# and samples its VmRSS from /proc/PID/status every 0.2 s; it reports growth
# per 100 turns between the first and the last quarter (must be about flat).
set -u
BIN=${1:-build/peftui}
ROUNDS=${2:-50}
TURNS=${3:-1000}
MODEL=${SOAK_MODEL:-tests/data/tiny/llama-hf}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
TIME=/usr/bin/time
[ -x $TIME ] || TIME=

for i in $(seq 1 40); do
    printf '{"instruction": "Say word %d", "input": "", "output": "word %d is %d"}\n' "$i" "$i" $((i * 7))
done >"$T/d.jsonl"

rss_of() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1"; }
errors=0
chat_rss=() train_rss=()
for r in $(seq 1 "$ROUNDS"); do
    printf 'hello %d\n/reset\nwhat is %d\n' "$r" "$r" >"$T/in"
    if [ -n "$TIME" ]; then
        $TIME -v -o "$T/t" "$BIN" chat -m "$MODEL" -n 16 --seed "$r" <"$T/in" >/dev/null 2>"$T/e" || { errors=$((errors + 1)); echo "chat round $r failed: $(tail -1 "$T/e")"; }
        chat_rss+=("$(rss_of "$T/t")")
        $TIME -v -o "$T/t" "$BIN" train -m "$MODEL" -d "$T/d.jsonl" --steps 6 --save-every 3 --batch 2 --seed "$r" -o "$T/out$r" >/dev/null 2>"$T/e" || { errors=$((errors + 1)); echo "train round $r failed: $(tail -1 "$T/e")"; }
        train_rss+=("$(rss_of "$T/t")")
    else
        "$BIN" chat -m "$MODEL" -n 16 <"$T/in" >/dev/null 2>&1 || errors=$((errors + 1))
        "$BIN" train -m "$MODEL" -d "$T/d.jsonl" --steps 6 --save-every 3 --batch 2 -o "$T/out$r" >/dev/null 2>&1 || errors=$((errors + 1))
    fi
    rm -rf "$T/out$r"
done
stats() { printf '%s\n' "$@" | sort -n | awk 'NF{a[n++]=$1} END{if(n) printf "min %d KiB, max %d KiB (first %s, last %s)", a[0], a[n-1], f, l}' f="$1" l="${*: -1}"; }
echo "part 1: $ROUNDS rounds, $errors errors"
[ ${#chat_rss[@]} -gt 0 ] && echo "  chat  peak RSS: $(stats "${chat_rss[@]}")"
[ ${#train_rss[@]} -gt 0 ] && echo "  train peak RSS: $(stats "${train_rss[@]}")"

# part 2: one long-lived chat
mkfifo "$T/fifo"
"$BIN" chat -m "$MODEL" -n 16 <"$T/fifo" >/dev/null 2>"$T/chat.err" &
PID=$!
exec 3>"$T/fifo"
: >"$T/samples"
start=$(date +%s.%N)
for t in $(seq 1 "$TURNS"); do
    echo "turn $t: tell me something" >&3
    [ $((t % 10)) = 0 ] && echo /reset >&3
    if [ $((t % 20)) = 0 ]; then
        sleep 0.2
        kb=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' /proc/$PID/status 2>/dev/null)
        [ -n "$kb" ] && [ "$kb" -gt 0 ] && echo "$t $kb" >>"$T/samples"
    fi
done
exec 3>&-
wait $PID; rc=$?
end=$(date +%s.%N)
[ $rc = 0 ] || { errors=$((errors + 1)); echo "long chat exit $rc: $(tail -2 "$T/chat.err")"; }
echo "part 2: one chat process, $TURNS turns (a /reset every 10) in $(echo "$end - $start" | bc) s, exit $rc"
awk 'BEGIN{n=0} {t[n]=$1; k[n]=$2; n++}
    END {
        if (n < 4) { print "  too few RSS samples"; exit }
        q = int(n / 4); a = 0; b = 0
        for (i = 0; i < q; i++) { a += k[i]; b += k[n - q + i] }
        a /= q; b /= q
        dt = (t[n - q + int(q / 2)] - t[int(q / 2)])
        printf "  VmRSS first sample %d KiB, last %d KiB, min/max over %d samples: ", k[0], k[n - 1], n
        mn = k[0]; mx = k[0]; for (i = 0; i < n; i++) { if (k[i] < mn) mn = k[i]; if (k[i] > mx) mx = k[i] }
        printf "%d/%d KiB\n", mn, mx
        printf "  growth: %.1f KiB per 100 turns (first vs last quarter means)\n", (dt > 0 ? (b - a) * 100 / dt : 0)
    }' "$T/samples"
echo "errors: $errors"
