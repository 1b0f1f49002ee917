#!/usr/bin/env bash
# Builds everything with ThreadSanitizer (PEFTUI_TSAN=ON) into build-tsan and
# runs the whole ctest suite there. The workspace's threads (UI, chats, jobs,
# compares) are what it watches: test_workspace and test_trainer drive them
# concurrently. OpenMP is off in this build (core/pt_omp.h: ThreadSanitizer
# cannot see libgomp's barriers) and OpenBLAS runs on its caller's thread, so
# every report is about our own threads. Any report fails its test.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
san_build test_tsan "${TSAN_BUILD:-$ROOT/build-tsan}" -DPEFTUI_TSAN=ON

export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
# allocator_may_return_null: test_backend_ops asks for 128 GiB on purpose
export TSAN_OPTIONS="halt_on_error=1:exitcode=66:second_deadlock_stack=1:allocator_may_return_null=1"
san_suite test_tsan "${TSAN_BUILD:-$ROOT/build-tsan}"
