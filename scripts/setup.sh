#!/usr/bin/env bash
# Installs what is missing, builds, fetches the default model, starts peftui.
# Extra arguments go to peftui (default: the workbench's stand-in, `chat`).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
install_deps
build
fetch_model
[ "${PEFTUI_NO_RUN:-0}" = 1 ] && exit 0
if [ $# -eq 0 ]; then set -- chat; fi
exec "$BUILD/peftui" "$@"
