#!/usr/bin/env bash
# test_tui_e2e.sh - the workbench end to end: the real binary in tmux, driven
# with send-keys and read with capture-pane, on the tiny model of
# tests/data/tiny. Each run: load, change r and see the trainable count
# change; train and see the plot and step counter move; pause and resume;
# stop (saves); chat and hot-swap to a second adapter; compare with the
# divergence line; resize to 40x12, below it, and back; quit while training
# asks first. Run three times: colour, NO_COLOR, LANG=C.
# Usage: test_tui_e2e.sh PEFTUI. Prints "N passed, N failed"; 77 = skipped.
set -u
BIN=$(realpath "$1")
REPO=$(cd "$(dirname "$0")/.." && pwd)
MODEL=$REPO/tests/data/tiny/llama-hf
command -v tmux >/dev/null || { echo "SKIP: tmux is not installed (apt-get install tmux)"; exit 77; }
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL [$RUN]: $*" >&2; echo "--- screen:" >&2; screen >&2; }
S=peftui-e2e-$$
# a tmux server of our own: the user's sessions are never touched, nor ours by theirs
tm() { tmux -L "$S" -f /dev/null "$@"; }
trap 'tm kill-server 2>/dev/null' EXIT
screen() { tm capture-pane -p -t "$S"; }
# waits up to $2 seconds (default 20) for the screen to match /$1/
wait_for() {
    local re=$1 t=${2:-20} i
    for ((i = 0; i < t * 10; i++)); do
        tm has-session -t "$S" 2>/dev/null || return 1   # the session (or tmux) is gone
        screen | grep -Eq -- "$re" && return 0
        sleep 0.1
    done
    return 1
}
check() {   # name, regex, seconds
    if wait_for "$2" "${3:-20}"; then ok; else bad "$1: no /$2/ on screen"; fi
}
keys() { tm send-keys -t "$S" "$@"; sleep 0.3; }
step_now() { screen | sed -n 's/.*step \([0-9][0-9]*\)\/[0-9].*/\1/p' | head -1; }

one_run() {   # RUN name, then environment assignments for peftui
    RUN=$1
    shift
    local work
    work=$(mktemp -d)
    ln -s "$REPO/datasets" "$work/datasets"
    ln -s "$REPO/prompts" "$work/prompts"
    mkdir "$work/cfg"
    tm kill-session -t "$S" 2>/dev/null
    tm new-session -d -s "$S" -x 100 -y 30 \
        "cd '$work' && env XDG_CONFIG_HOME='$work/cfg' $* '$BIN' -m '$MODEL' -t 2; echo PEFTUI-EXIT-\$?; sleep 600"
    check "the model loads" "loaded|Press s to fine-tune" 60

    # LoRA: r doubles with Right; the trainable count follows
    keys 2
    check "the LoRA screen" "trainable [0-9]"
    local before after
    before=$(screen | grep -o 'trainable [0-9.KM]* ([0-9]*)' | head -1)
    keys Right
    sleep 0.5
    after=$(screen | grep -o 'trainable [0-9.KM]* ([0-9]*)' | head -1)
    if [ -n "$before" ] && [ -n "$after" ] && [ "$before" != "$after" ]; then ok; else bad "r changed, trainable did not: '$before' -> '$after'"; fi
    screen | grep -Eq '^.?r +16' && ok || bad "r is not 16 after Right"
    # a bad value is red with its reason and blocks training
    keys Enter C-u abc
    check "a bad r says why" "is not a whole number"
    keys C-u 8 Enter

    # Train: enough epochs to watch, then start
    keys 4 e Down Enter C-u 40 Enter e
    keys s
    check "training starts" "running +step [0-9]+/" 60
    check "the plot draws" "smoothed" 30
    local s1 s2
    sleep 2
    s1=$(step_now)
    sleep 2
    s2=$(step_now)
    if [ -n "$s1" ] && [ -n "$s2" ] && [ "$s2" -gt "$s1" ]; then ok; else bad "the step counter did not move: '$s1' -> '$s2'"; fi
    keys p
    check "pause" "paused +step"
    sleep 1
    s1=$(step_now)
    sleep 1.5
    s2=$(step_now)
    [ "$s1" = "$s2" ] && ok || bad "paused, yet steps moved: $s1 -> $s2"
    keys p
    check "resume" "running +step"
    keys S
    check "stop saves" "checkpoint|stopped|done" 60
    check "the job ends" "(done|cancelled) +step" 60

    # a second adapter, from the checkpoint just saved
    keys 7
    check "the adapters screen" "Adapters \\(> active"
    keys End
    local n
    for n in 1 2 3 4 5 6; do keys Down; done
    keys Enter
    check "a second adapter loads" "loading|loaded|ready.*ready" 30
    sleep 2

    # Chat: an answer, then hot-swap
    keys 5
    keys hello Enter
    check "chat answers" "tokens/s" 60
    keys Escape; keys a   # apart: Esc and a in one write is Alt-a
    check "hot-swap" "now .* answers" 10
    keys a
    check "hot-swap again" "now .* answers" 10
    keys i hi Enter
    check "the second message shows" "^[│|]hi +[│|]$" 10
    check "the swapped adapter answers" "tokens/s" 60

    # Compare: every adapter and the base, with the divergence line
    keys Escape; keys 6 A g
    check "compare ends" "answers part at token|answers are the same" 60
    screen | grep -q '─base\|-base' && ok || bad "no base column"

    # Resize
    tm resize-window -t "$S" -x 40 -y 12
    sleep 0.5
    check "40x12 draws" "1M" 5
    tm resize-window -t "$S" -x 30 -y 10
    check "below 40x12: a message" "needs 40x12" 5
    tm resize-window -t "$S" -x 100 -y 30
    check "back to 100x30" "Compare" 5

    # Quit while a job runs: it asks
    keys 4 s
    check "training again" "running +step|starting" 60
    keys q
    check "quit asks" "A job is training" 5
    keys Escape
    check "Esc keeps working" "still training|running" 5
    keys F10
    check "F10 asks too" "A job is training" 5
    keys c
    check "cancel and quit" "PEFTUI-EXIT-0" 30
    # settings persist
    [ -s "$work/cfg/peftui/settings.json" ] && ok || bad "no settings.json in the config folder"
    tm kill-session -t "$S" 2>/dev/null
    rm -rf "$work"
}

one_run colour TERM=xterm-256color LANG=C.UTF-8
one_run NO_COLOR TERM=xterm-256color NO_COLOR=1 LANG=C.UTF-8
one_run LANG=C TERM=xterm LANG=C LC_ALL=C
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
