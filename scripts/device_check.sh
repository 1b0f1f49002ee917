#!/usr/bin/env bash
# scripts/device_check.sh - everything the lent GPU machine is for, in ONE call
# of the device tool: environment, dependencies, CUDA build, the test suite,
# compute-sanitizer on the CUDA tests, the GPU benchmark; results under $OUT.
#
# Before the call, HERE (once; .debs/ is git-ignored):
#     scripts/fetch_device_debs.sh
# The device tool call (command, carry, timeout_s):
#     command:   bash scripts/device_check.sh
#     carry:     [".debs"]
#     timeout_s: 590
# The script stops itself by DEADLINE_S (default 540 s) after its start, each
# step bounded by `timeout`; a step that fails or times out does not stop the
# ones after it. A rerun on the same warm machine reuses build-cuda/ and can
# pick steps, e.g.:
#     DEADLINE_S=240 STEPS="deps build bench" bash scripts/device_check.sh
#
# Steps (cap in seconds; each also gets no more than what is left before the
# deadline, and ctest, memcheck and bench no more than what is left after the
# least the later steps are promised: ctest 60, memcheck 45, bench 120):
#   env 30, deps 60, build 180, ctest 150, memcheck 120, bench 200,
#   racecheck (test_backend_ops only, with what is left; skipped under 45 s)
# deps: the system's pkg-config, libcjson, libpcre2-8, ncursesw, readline and
# OpenBLAS (cblas.h) when it has them all, else every .debs/*.deb unpacked
# (dpkg -x, or ar + tar) into /tmp/sysroot, never into /, and the build
# pointed there; /tmp/sysroot/runtime holds links to just those shared
# libraries the system lacks, and only it goes on LD_LIBRARY_PATH.
# FORCE_SYSROOT=1 takes the sysroot path even when the system has everything.
#
# $OUT gets at most 5 files: summary.txt, bench.json, bench.txt,
# ctest-junit.xml, logs.tar.gz (logs/<step>.log for every step and the
# benchmark's raw output). Locally OUT defaults to /tmp/peftui-device-out.
# The last thing printed is the summary table.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SELF="$ROOT/scripts/device_check.sh"
export ROOT SELF
export OUT="${OUT:-/tmp/peftui-device-out}"
export LOGDIR="$OUT/logs"
export BUILD="${BUILD:-$ROOT/build-cuda}"
export SR="${SYSROOT:-/tmp/sysroot}"
export DEPS_ENV="/tmp/peftui-device-deps.env"
export JOBS="${JOBS:-$(nproc)}"
ARCH_DIR="x86_64-linux-gnu"
export ARCH_DIR
# tests to run again under compute-sanitizer (CTest names = executables)
export SAN_REGEX="${SAN_REGEX:-^(test_backend_ops|test_backward_ops|test_device|.*cuda.*|.*gpu.*)$}"

log() { printf '==> %s\n' "$*"; }

# ---------------------------------------------------------------- steps ----
# Each runs in its own bash (`bash $SELF --step NAME`) under timeout; it
# sources $DEPS_ENV when the deps step wrote one.

step_env() {
    set -x
    uname -a
    grep PRETTY_NAME /etc/os-release
    nproc
    free -g
    df -h /tmp | tail -n 1
    timeout 20 nvidia-smi
    timeout 20 nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.max.sm,power.limit,driver_version --format=csv
    command -v nvcc || ls /usr/local/cuda*/bin/nvcc
    nvcc --version
    command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer /usr/local/cuda*/compute-sanitizer/compute-sanitizer
    ls -d /usr/local/cuda*/lib64/libcublas.so* /usr/local/cuda*/targets/*/lib/libcublas.so* 2>/dev/null
    cmake --version | head -n 1
    ninja --version
    gcc --version | head -n 1
    g++ --version | head -n 1
    command -v pkg-config pkgconf dpkg ar ldconfig
    timeout 60 python3 -c "import torch, transformers, peft; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'transformers', transformers.__version__, 'peft', peft.__version__, 'gpu', torch.cuda.is_available() and torch.cuda.get_device_name(0))"
    set +x
    return 0
}

# true when the system itself has every library and header the build needs
system_has_deps() {
    local pc
    pc="$(command -v pkg-config || command -v pkgconf)" || { echo "no pkg-config"; return 1; }
    "$pc" --exists libcjson libpcre2-8 ncursesw || { echo "pkg-config: libcjson, libpcre2-8 or ncursesw missing"; return 1; }
    local d ok=0
    for d in /usr/include/$ARCH_DIR/openblas-pthread /usr/include/openblas /usr/include/$ARCH_DIR /usr/include; do
        [ -f "$d/cblas.h" ] && ok=1
    done
    [ $ok -eq 1 ] || { echo "no cblas.h"; return 1; }
    [ -f /usr/include/readline/readline.h ] || { echo "no readline/readline.h"; return 1; }
    compgen -G "/usr/lib/$ARCH_DIR/libreadline.so" >/dev/null || compgen -G /usr/lib/libreadline.so >/dev/null \
        || { echo "no libreadline.so"; return 1; }
    compgen -G "/usr/lib/$ARCH_DIR/libopenblas.so" >/dev/null || compgen -G "/usr/lib/$ARCH_DIR/openblas-*/libopenblas.so" >/dev/null \
        || { echo "no libopenblas.so"; return 1; }
    return 0
}

# the system's copy of a shared library by soname: a regular, non-empty file
system_has_lib() {
    local p
    p="$(ldconfig -p 2>/dev/null | awk -v n="$1" '$1 == n { print $NF; exit }')"
    [ -n "$p" ] && [ -f "$p" ] && [ -s "$p" ]
}

step_deps() {
    rm -f "$DEPS_ENV"
    if [ "${FORCE_SYSROOT:-0}" != 1 ] && why="$(system_has_deps)"; then
        log "deps: the system has them all"
        echo "DEPS_MODE=system" > "$DEPS_ENV"
        return 0
    fi
    log "deps: ${why:-FORCE_SYSROOT=1}; unpacking .debs into $SR"
    ls "$ROOT"/.debs/*.deb >/dev/null 2>&1 || { echo "no .debs/*.deb: run scripts/fetch_device_debs.sh here and carry .debs"; return 1; }
    case "$SR" in /|/usr|/usr/*|/lib*|/bin*|/etc*) echo "refusing sysroot $SR"; return 1 ;; esac
    rm -rf "$SR" && mkdir -p "$SR" || return 1
    local f t
    for f in "$ROOT"/.debs/*.deb; do
        if command -v dpkg-deb >/dev/null; then
            dpkg-deb -x "$f" "$SR" || return 1
        else   # ar + tar: data.tar.{xz,zst,gz}
            t="$(mktemp -d)"
            (cd "$t" && ar x "$f" && tar -xf data.tar.* -C "$SR") || return 1
            rm -rf "$t"
        fi
    done
    # merged /usr: Debian 12 puts some libraries in /lib
    if [ -d "$SR/lib" ] && [ ! -L "$SR/lib" ]; then
        cp -a "$SR/lib/." "$SR/usr/lib/" && rm -rf "${SR:?}/lib" && ln -s usr/lib "$SR/lib"
    fi
    # absolute links (libreadline.so -> /lib/...) point into the sysroot instead
    local l
    while IFS= read -r l; do
        t="$(readlink "$l")"
        case "$t" in /lib/*) t="/usr$t" ;; esac
        ln -sfn "$SR$t" "$l"
    done < <(find "$SR" -type l -lname '/*')
    # .pc files name /usr: rewrite to the sysroot
    find "$SR" -name '*.pc' -exec sed -i -e "s#=/usr#=$SR/usr#g" -e "s#-L/usr#-L$SR/usr#g" -e "s#-I/usr#-I$SR/usr#g" {} +
    # runtime: links to the shared libraries (by soname) the system lacks
    local L="$SR/usr/lib/$ARCH_DIR" n
    mkdir -p "$SR/runtime"
    for f in "$L"/lib*.so.[0-9]* "$L"/openblas-openmp/libopenblas.so.[0-9]*; do
        n="$(basename "$f")"
        [[ $n =~ ^lib.*\.so\.[0-9]+$ ]] || continue       # sonames only (libfoo.so.N)
        if system_has_lib "$n"; then echo "  system has $n"; else echo "  sysroot gives $n"; ln -sfn "$f" "$SR/runtime/$n"; fi
    done
    local pc
    pc="$(command -v pkg-config || command -v pkgconf || true)"
    [ -n "$pc" ] || pc="$SR/usr/bin/pkgconf"
    {
        echo "DEPS_MODE=sysroot"
        echo "export LD_LIBRARY_PATH=\"$SR/runtime\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}\""
        echo "export PKG_CONFIG_LIBDIR=\"$L/pkgconfig:$SR/usr/share/pkgconfig\""
        echo "unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR"
        echo "CMAKE_DEP_ARGS=("
        echo "  -DPKG_CONFIG_EXECUTABLE=$pc"
        echo "  \"-DCMAKE_PREFIX_PATH=$SR/usr\""
        echo "  \"-DCMAKE_LIBRARY_PATH=$L/openblas-openmp;$L\""
        echo "  \"-DCMAKE_INCLUDE_PATH=$SR/usr/include/$ARCH_DIR/openblas-openmp;$SR/usr/include\""
        echo "  -DCBLAS_INCLUDE=$SR/usr/include/$ARCH_DIR/openblas-openmp"
        echo "  -DOPENBLAS_LIB=$L/openblas-openmp/libopenblas.so"
        echo "  -DREADLINE_LIB=$L/libreadline.so"
        echo "  \"-DCMAKE_C_FLAGS=-isystem $SR/usr/include\""
        echo "  \"-DCMAKE_CXX_FLAGS=-isystem $SR/usr/include\""
        echo ")"
    } > "$DEPS_ENV"
    cat "$DEPS_ENV"
    # shellcheck disable=SC1090
    source "$DEPS_ENV"
    "$pc" --modversion libcjson libpcre2-8 ncursesw || return 1
    "$pc" --cflags --libs libcjson libpcre2-8 ncursesw
}

step_build() {
    local gen=() cudacxx=()
    command -v ninja >/dev/null && gen=(-G Ninja)
    # a build folder made by another generator cannot be reused
    if [ -f "$BUILD/CMakeCache.txt" ] && ! grep -q "CMAKE_GENERATOR:INTERNAL=${gen[1]:-Unix Makefiles}" "$BUILD/CMakeCache.txt"; then
        rm -rf "$BUILD"
    fi
    command -v nvcc >/dev/null || { [ -x /usr/local/cuda/bin/nvcc ] && cudacxx=(-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc); }
    set -x
    cmake -S "$ROOT" -B "$BUILD" "${gen[@]}" -DPEFTUI_CUDA=ON -DPEFTUI_NATIVE=OFF -DCMAKE_BUILD_TYPE=Release \
        "${cudacxx[@]}" "${CMAKE_DEP_ARGS[@]}" || return 1
    # keep going past a target that fails, so the others (peftui, the CUDA
    # tests) are still there to run; the step still fails
    local keep=(-k); [ ${#gen[@]} -gt 0 ] && keep=(-k 0)
    cmake --build "$BUILD" -j"$JOBS" -- "${keep[@]}" || { set +x; echo "BUILD FAILED (kept going)"; ldd "$BUILD/peftui" 2>&1 | grep 'not found'; return 1; }
    set +x
    grep -q '^PEFTUI_CUDA:BOOL=ON' "$BUILD/CMakeCache.txt" || echo "WARNING: PEFTUI_CUDA is not ON"
    grep -q 'PEFTUI_HAVE_CUDA=1' "$BUILD/compile_commands.json" && echo "CUDA backend compiled in (PEFTUI_HAVE_CUDA=1)" \
        || echo "WARNING: no PEFTUI_HAVE_CUDA=1 in compile_commands.json (no src/engine/backend/*.cu?)"
    echo "== ldd peftui"
    ldd "$BUILD/peftui" | grep -E 'cjson|pcre2|ncurses|tinfo|readline|openblas|gfortran|cublas|cudart|not found'
    ! ldd "$BUILD/peftui" | grep -q 'not found'
}

step_ctest() {
    # one hung test must not take the whole step (and the JUnit file with it)
    local lim="${STEP_LIMIT:-150}"
    ctest --test-dir "$BUILD" --output-on-failure -j8 --timeout $(( lim * 2 / 3 )) \
        --output-junit "$OUT/ctest-junit.xml"
}

find_sanitizer() {
    command -v compute-sanitizer && return 0
    local c
    for c in /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda*/compute-sanitizer/compute-sanitizer \
             /opt/nvidia/*/compute-sanitizer/compute-sanitizer; do
        [ -x "$c" ] && { echo "$c"; return 0; }
    done
    return 1
}

san_tests() {
    ctest --test-dir "$BUILD" -N 2>/dev/null | sed -n 's/^ *Test *#[0-9]*: *//p' | grep -E "$SAN_REGEX" \
        | while read -r t; do [ -x "$BUILD/$t" ] && echo "$t"; done
}

# memcheck (or racecheck) over the tests in $SAN_REGEX (racecheck: test_backend_ops),
# splitting what the step has left between them
step_sanitize() {
    local tool="$1" cs tests=() t rc fails=0 end left
    cs="$(find_sanitizer)" || { echo "compute-sanitizer not found"; return 1; }
    if [ "$tool" = racecheck ]; then tests=(test_backend_ops); else mapfile -t tests < <(san_tests); fi
    [ ${#tests[@]} -gt 0 ] || { echo "no tests match $SAN_REGEX"; return 1; }
    end=$(( $(date +%s) + ${STEP_LIMIT:-120} - 5 ))
    local extra=()
    [ "$tool" = memcheck ] && extra=(--leak-check full)
    for i in "${!tests[@]}"; do
        t="${tests[$i]}"
        left=$(( (end - $(date +%s)) / (${#tests[@]} - i) ))
        # the first tests get their share; later ones whatever is left then
        if [ $left -lt 10 ]; then echo "RESULT $tool $t: skipped (time)"; fails=1; continue; fi
        echo "== $tool $t (limit ${left}s)"
        (cd "$ROOT" && timeout -k 5 "$left" "$cs" --tool "$tool" "${extra[@]}" --error-exitcode 86 --print-limit 30 "$BUILD/$t") \
            > "$LOGDIR/$tool-$t.log" 2>&1
        rc=$?
        tail -n 25 "$LOGDIR/$tool-$t.log"
        local es; es="$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|LEAK SUMMARY' "$LOGDIR/$tool-$t.log" | tail -n 2 | sed 's/^========= //' | tr '\n' ' ')"
        case $rc in
            0) echo "RESULT $tool $t: ok ${es}" ;;
            124|137) echo "RESULT $tool $t: TIMEOUT after ${left}s ${es}"; fails=1 ;;
            86) echo "RESULT $tool $t: ERRORS ${es}"; fails=1 ;;
            77) echo "RESULT $tool $t: test skipped (77) ${es}" ;;
            *) echo "RESULT $tool $t: FAIL rc=$rc ${es}"; fails=1 ;;
        esac
    done
    return $fails
}
step_memcheck() { step_sanitize memcheck; }
step_racecheck() { step_sanitize racecheck; }

step_bench() {
    BENCH_OUT="$OUT" BENCH_LOGS="$LOGDIR/bench" BENCH_BUDGET_S=$(( ${STEP_LIMIT:-200} - 10 )) \
        BUILD="$BUILD" bash "$ROOT/bench/gpu_train_vs_peft.sh"
}

if [ "${1:-}" = "--step" ]; then
    # shellcheck disable=SC1090
    [ -f "$DEPS_ENV" ] && source "$DEPS_ENV"
    [ -d /usr/local/cuda/bin ] && export PATH="$PATH:/usr/local/cuda/bin"
    "step_$2"
    exit $?
fi

# --------------------------------------------------------------- driver ----
T0=$(date +%s)
DEADLINE_S="${DEADLINE_S:-540}"
STEPS="${STEPS:-env deps build ctest memcheck bench racecheck}"
mkdir -p "$OUT" "$LOGDIR"
rm -f "$OUT/summary.txt"
declare -A CAP=([env]=30 [deps]=60 [build]=180 [ctest]=150 [memcheck]=120 [bench]=200 [racecheck]=600)
# the least each later step is promised when an earlier one is given its time
declare -A FLOOR=([env]=0 [deps]=0 [build]=0 [ctest]=60 [memcheck]=45 [bench]=120 [racecheck]=0)
ORDER=(env deps build ctest memcheck bench racecheck)
ROWS=()

wanted() { [[ " $STEPS " == *" $1 "* ]]; }

run_step() {   # run_step NAME
    local name="$1" now left reserve=0 later=0 s lim rc t1 status
    now=$(date +%s)
    left=$(( T0 + DEADLINE_S - now - 10 ))   # 10 s for packing
    # env, deps and build run whatever follows (nothing works without them);
    # the others leave the later steps their floor
    case "$name" in env|deps|build) later=2 ;; esac
    for s in "${ORDER[@]}"; do
        [ "$s" = "$name" ] && [ $later -eq 0 ] && { later=1; continue; }
        [ $later -eq 1 ] && wanted "$s" && reserve=$(( reserve + FLOOR[$s] ))
    done
    lim=$(( left - reserve ))
    [ $lim -gt "${CAP[$name]}" ] && lim=${CAP[$name]}
    local min=20; [ "$name" = racecheck ] && min=45
    if [ "$lim" -lt "$min" ]; then
        ROWS+=("$(printf '%-10s %-16s %5s %6s' "$name" "skipped (time)" 0 "$lim")")
        return
    fi
    log "step $name (limit ${lim}s, $(( now - T0 ))s in)"
    if [ "$name" = build ]; then   # the build's output only to its log; its tail after
        STEP_LIMIT=$lim timeout -k 10 "$lim" bash "$SELF" --step "$name" > "$LOGDIR/$name.log" 2>&1
        rc=$?
        tail -n 40 "$LOGDIR/$name.log"
    else
        STEP_LIMIT=$lim timeout -k 10 "$lim" bash "$SELF" --step "$name" 2>&1 | tee "$LOGDIR/$name.log"
        rc=${PIPESTATUS[0]}
    fi
    t1=$(date +%s)
    case $rc in
        0) status=ok ;;
        124|137) status="TIMEOUT" ;;
        *) status="FAIL rc=$rc" ;;
    esac
    [ "$name" = deps ] && [ -f "$DEPS_ENV" ] && status="$status ($(sed -n 's/^DEPS_MODE=//p' "$DEPS_ENV"))"
    ROWS+=("$(printf '%-10s %-16s %5d %6d' "$name" "$status" $(( t1 - now )) "$lim")")
}

for s in "${ORDER[@]}"; do
    if wanted "$s"; then run_step "$s"; else ROWS+=("$(printf '%-10s %-16s' "$s" "not asked")"); fi
done

# ------------------------------------------------------------- summary ----
{
    echo
    echo "=================== device_check summary ($(( $(date +%s) - T0 )) s of $DEADLINE_S) ==================="
    [ -f "$LOGDIR/env.log" ] && grep -E '^(NVIDIA|torch) |Cuda compilation tools|PRETTY_NAME|, [0-9]+ MiB' "$LOGDIR/env.log" \
        | grep -v '^+' | head -n 5
    printf '%-10s %-16s %5s %6s\n' step status secs limit
    printf '%s\n' "${ROWS[@]}"
    if [ -f "$LOGDIR/build.log" ]; then
        w="$(grep -ciE 'warning[: ]' "$LOGDIR/build.log")"
        echo "build: $w warning lines; $(grep -E 'CUDA backend compiled in|WARNING:' "$LOGDIR/build.log" | head -n 3 | tr '\n' ' ')"
        grep -iE 'warning[: ]|error[: ]' "$LOGDIR/build.log" | grep -v '^+' | head -n 8
    fi
    if [ -f "$LOGDIR/ctest.log" ]; then
        grep -E 'tests passed|Total Test time' "$LOGDIR/ctest.log"
        sed -n '/The following tests FAILED/,/^Errors while/p' "$LOGDIR/ctest.log" | grep -E '^\s+[0-9]+ - '
        grep -E '^\s+[0-9]+ - .*\((Skipped|Not Run|Disabled)\)' "$LOGDIR/ctest.log" | sort -u
    fi
    # a test that passes with its CUDA part skipped says so only in its output,
    # which the JUnit file keeps for every test
    [ -f "$OUT/ctest-junit.xml" ] && grep -ohiE 'SKIP[^<&]*cuda[^<&]*' "$OUT/ctest-junit.xml" | sort | uniq -c | head -n 5
    for s in memcheck racecheck; do
        [ -f "$LOGDIR/$s.log" ] && grep '^RESULT ' "$LOGDIR/$s.log" | cut -c8-
    done
    [ -f "$OUT/bench.txt" ] && { echo "-- bench ($OUT/bench.json)"; cat "$OUT/bench.txt"; }
} > "$OUT/summary.txt.tmp" 2>&1

# pack the logs: the tool brings back at most 8 files
cp "$OUT/summary.txt.tmp" "$LOGDIR/summary.txt"
tar -czf "$OUT/logs.tar.gz" -C "$OUT" logs 2>/dev/null && rm -rf "$LOGDIR"
mv "$OUT/summary.txt.tmp" "$OUT/summary.txt"
echo "files in \$OUT: $(cd "$OUT" && ls | tr '\n' ' ')"
cat "$OUT/summary.txt"
