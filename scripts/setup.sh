#!/usr/bin/env bash
# Installs what is missing, builds, fetches the default model, starts peftui.
# Extra arguments go to peftui (none: the workbench opens).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
install_deps
build
fetch_model
[ "${PEFTUI_NO_RUN:-0}" = 1 ] && exit 0
exec "$BUILD/peftui" "$@"
