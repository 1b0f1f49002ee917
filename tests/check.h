// check.h - the tiny test harness: CHECK counts, check_report prints the
// closing line "N passed, N failed" and gives the exit status.
#ifndef PT_CHECK_H
#define PT_CHECK_H

#include <math.h>
#include <stdio.h>

static int check_pass_, check_fail_;

#define CHECK(cond) do { if (cond) check_pass_++; else { check_fail_++; \
    fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECKF(cond, ...) do { if (cond) check_pass_++; else { check_fail_++; \
    fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

// |a - b| <= atol + rtol * |b|, NaN never close
static inline int check_close(float a, float b, float atol, float rtol) {
    if (isnan(a) || isnan(b)) return 0;
    return fabsf(a - b) <= atol + rtol * fabsf(b);
}

// A test that needs something absent (model file, GPU) says so and skips.
#define SKIP_ALL(...) do { printf("SKIP: "); printf(__VA_ARGS__); printf("\n"); return 77; } while (0)

// Tests that run matrix products call this first, so they exercise the same
// OpenBLAS kernels peftui itself uses (see src/engine/cpu_blas.h).
#define CHECK_USE_FAST_BLAS(argv) blas_reexec_fast(argv)

static inline int check_report(const char *name) {
    printf("%s: %d passed, %d failed\n", name, check_pass_, check_fail_);
    return check_fail_ ? 1 : 0;
}

#endif
