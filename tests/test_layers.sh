#!/usr/bin/env bash
# test_layers.sh - the include order docs/architecture.md states, held:
# a file includes only from its own layer or the layers below it, and the
# front ends (src/cli, src/tui) include only the workspace's public header
# (and their own headers). Prints "N passed, N failed".
set -u
cd "$(dirname "$0")/.." || exit 1
order=(core io backend text model lora infer train workspace cli tui)
rank() { local i; for i in "${!order[@]}"; do [ "${order[$i]}" = "$1" ] && { echo "$i"; return; }; done; echo -1; }
layer_of() {   # src/engine/X/... -> X; src/X/... -> X
    case "$1" in
    src/engine/*) echo "$1" | cut -d/ -f3 ;;
    src/*) echo "$1" | cut -d/ -f2 ;;
    esac
}
pass=0
fail=0
while IFS= read -r f; do
    mine=$(layer_of "$f")
    r_mine=$(rank "$mine")
    while IFS= read -r inc; do
        [ -n "$inc" ] || continue
        case "$inc" in */*) target=${inc%%/*} ;; *) target=$mine ;; esac
        r_t=$(rank "$target")
        [ "$r_t" -lt 0 ] && continue   # a header beside the file (cuda/*.cuh, check.h)
        if [ "$r_t" -gt "$r_mine" ]; then
            echo "FAIL: $f ($mine) includes $inc ($target): layers include only downward" >&2
            fail=$((fail + 1))
        elif { [ "$mine" = cli ] || [ "$mine" = tui ]; } && [ "$target" != "$mine" ] && [ "$inc" != workspace/peftui.h ]; then
            echo "FAIL: $f is a front end: it includes $inc, not only workspace/peftui.h" >&2
            fail=$((fail + 1))
        else
            pass=$((pass + 1))
        fi
    done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
done < <(find src -name '*.c' -o -name '*.h' -o -name '*.cu' | sort)
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
