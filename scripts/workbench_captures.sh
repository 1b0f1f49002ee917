#!/usr/bin/env bash
# workbench_captures.sh - text captures of every workbench screen for
# docs/workbench.md: the real binary in tmux on the default model, the demo
# run (datasets/identity.jsonl) trained to the end, then chat, compare and
# adapters. Prints markdown sections; takes about 3 minutes on 2 cores.
# Usage: scripts/workbench_captures.sh [PEFTUI [MODEL]] > captures.md
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(realpath "${1:-$REPO/build/peftui}")
MODEL=$(realpath "${2:-$REPO/models/SmolLM2-135M-Instruct.Q4_1.gguf}")
S=peftui-cap-$$
tm() { tmux -L "$S" -f /dev/null "$@"; }
work=$(mktemp -d)
trap 'tm kill-server 2>/dev/null; rm -rf "$work"' EXIT
ln -s "$REPO/datasets" "$work/datasets"
ln -s "$REPO/prompts" "$work/prompts"
mkdir "$work/cfg"
tm new-session -d -s "$S" -x 100 -y 30 \
    "cd '$work' && env XDG_CONFIG_HOME='$work/cfg' TERM=xterm-256color LANG=C.UTF-8 '$BIN' -m '$MODEL'; sleep 600"
screen() { tm capture-pane -p -t "$S" | sed 's/[[:space:]]*$//'; }
keys() { tm send-keys -t "$S" "$@"; sleep 0.5; }
wait_for() {   # regex, seconds
    local i
    for ((i = 0; i < $2 * 5; i++)); do
        screen | grep -Eq -- "$1" && return 0
        sleep 0.2
    done
    echo "workbench_captures: gave up waiting for /$1/" >&2
    return 1
}
shot() {   # title
    printf '### %s\n\n```\n' "$1"
    screen
    printf '```\n\n'
}
wait_for "loaded\. Press s to fine-tune" 120
keys 1
shot "1 Model"
keys 2
shot "2 LoRA"
keys 3
wait_for "rows" 30
shot "3 Data"
keys 4
keys s
wait_for "step 3[0-9]/" 300
shot "4 Train, while training"
wait_for "^ *done " 600
shot "4 Train, done"
keys 5
keys "What is your name?" Enter
wait_for "tokens/s" 120
shot "5 Chat"
keys Escape
keys 6
keys g
wait_for "answers part at token|answers are the same" 120
shot "6 Compare"
keys 7
shot "7 Adapters"
keys 4
keys '?'
shot "Help (?) on the Train screen"
