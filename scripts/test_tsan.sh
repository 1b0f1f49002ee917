#!/usr/bin/env bash
# Builds everything with ThreadSanitizer (PEFTUI_TSAN=ON) into build-tsan and
# runs the whole ctest suite there. The workspace's threads (UI, chats, jobs,
# compares) are what it watches: test_workspace and test_trainer drive them
# concurrently. OpenMP is off in this build (core/pt_omp.h: ThreadSanitizer
# cannot see libgomp's barriers) and OpenBLAS runs on its caller's thread, so
# every report is about our own threads. Any report fails its test.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${TSAN_BUILD:-$ROOT/build-tsan}"

t0=$(date +%s)
cmake -S "$ROOT" -B "$BUILD" -DPEFTUI_TSAN=ON -DPEFTUI_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"${JOBS:-$(nproc)}"
t1=$(date +%s)
echo "test_tsan: built in $((t1 - t0)) s"

export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
# allocator_may_return_null: test_backend_ops asks for 128 GiB on purpose
export TSAN_OPTIONS="halt_on_error=1:exitcode=66:second_deadlock_stack=1:allocator_may_return_null=1"
cd "$BUILD"
rc=0
ctest --output-on-failure -j"${JOBS:-2}" --timeout 1800 || rc=$?
echo "test_tsan: suite ran in $(( $(date +%s) - t1 )) s (exit $rc)"
exit $rc
