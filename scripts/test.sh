#!/usr/bin/env bash
# Builds with warnings as errors and runs the whole test suite.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
install_deps
build -DPEFTUI_WERROR=ON
fetch_model || log "default model unavailable: tests that need it will be skipped"
cd "$BUILD"
ctest --output-on-failure -j2 --timeout 900

# Reliability (issue 4): the whole suite again under ASan + UBSan, then under
# ThreadSanitizer (issue 9: the workspace's threads), then each libFuzzer
# harness for a short fixed time (skipped without clang).
cd "$ROOT"
"$ROOT/scripts/test_sanitized.sh"
"$ROOT/scripts/test_tsan.sh"
"$ROOT/scripts/fuzz_smoke.sh"
