#!/usr/bin/env bash
# Builds everything with AddressSanitizer + UndefinedBehaviorSanitizer
# (PEFTUI_SANITIZE=ON) into build-asan and runs the whole ctest suite there,
# leak checking on. Any sanitizer report aborts its test, so the suite fails.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
san_build test_sanitized "${ASAN_BUILD:-$ROOT/build-asan}" -DPEFTUI_SANITIZE=ON

# LeakSanitizer needs ptrace; where a container forbids it, run without leak checks.
leaks=1
probe="$(mktemp -d)"
printf '#include <stdlib.h>\nint main(void) { return malloc(1) == 0; }\n' > "$probe/p.c"
if cc -fsanitize=address "$probe/p.c" -o "$probe/p" 2>/dev/null &&
   ASAN_OPTIONS=detect_leaks=1 "$probe/p" 2>&1 | grep -q "LeakSanitizer has encountered a fatal error"; then
  echo "test_sanitized: LeakSanitizer cannot run here (ptrace restricted): leak checks off"
  leaks=0
fi
rm -rf "$probe"

supp="$ROOT/tests/fuzz/lsan.supp"
# allocator_may_return_null: test_backend_ops asks for 128 GiB on purpose (an op must report it)
export ASAN_OPTIONS="detect_leaks=$leaks:abort_on_error=1:print_summary=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
[ -f "$supp" ] && export LSAN_OPTIONS="suppressions=$supp:print_suppressions=0"
san_suite test_sanitized "${ASAN_BUILD:-$ROOT/build-asan}"
