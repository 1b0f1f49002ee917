#!/usr/bin/env bash
# Builds with warnings as errors and runs the whole test suite.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
install_deps
build -DPEFTUI_WERROR=ON
fetch_model || log "default model unavailable: tests that need it will be skipped"
cd "$BUILD"
ctest --output-on-failure -j2 --timeout 900
