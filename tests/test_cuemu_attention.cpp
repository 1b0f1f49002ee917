// test_cuemu_attention.cpp - src/engine/cuda/attention.cuh's kernels, run on
// the CPU by tests/cuemu, against the naive oracle's attention and
// attention_backward on random inputs: the shapes of test_backend_ops.c, a
// decode over a long cache (split keys), the unaligned (masked) path of HD
// 64, head dims 5 to 512, forced splits with fully masked tiles, and the
// backward at T = 1, 2, 17, 70 with GQA. Outputs and scratch start as NaN,
// so an element never written fails. Bounds (normalised error ||a-b||/||b||):
// forward 1e-5, backward 1e-5 (test_backward_ops.c's bound for a backend).
#include "attention.cuh"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "backend.h"
}
#include "check.h"

static const double FWD_BOUND = 1e-5, BWD_BOUND = 1e-5;

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void) {  // uniform in [-1, 1)
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((rng >> 40) / (double)(1 << 24)) * 2.0f - 1.0f;
}

// n floats starting `off` floats into a 16-byte aligned block (off 1: a
// buffer the kernels must treat as unaligned); freed with release().
static float *buf(size_t n, int off) {
    float *p = (float *)aligned_alloc(16, ((n + (size_t)off) * 4 + 15) / 16 * 16);
    return p + off;
}
static void release(float *p, int off) { free(p - off); }
static void fill(float *p, size_t n, float scale) { for (size_t i = 0; i < n; i++) p[i] = frand() * scale; }
static void poison(float *p, size_t n) { for (size_t i = 0; i < n; i++) p[i] = NAN; }

// ||a - b|| / ||b||; any non-finite value (an unwritten NaN) is a failure
static double nerr(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i])) return INFINITY;
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

enum { WITH_SCRATCH = 0, NO_SCRATCH = 1, UNALIGNED = 2 };

// ptk_attention against the oracle; q scaled by qs (large: peaked softmax).
static void test_forward(pt_backend *ref, int N, int pos0, int NH, int NKV, int HD, int window, int how, float qs) {
    int T = pos0 + N, off = how == UNALIGNED ? 1 : 0;
    size_t nq = (size_t)N * NH * HD, nkv = (size_t)T * NKV * HD;
    float *q = buf(nq, off), *k = buf(nkv, off), *v = buf(nkv, off), *o0 = buf(nq, 0), *o1 = buf(nq, off);
    fill(q, nq, qs); fill(k, nkv, 2); fill(v, nkv, 1);
    poison(o1, nq);
    ref->ops->attention(ref, o0, q, k, v, N, pos0, NH, NKV, HD, window);
    size_t ns = how == NO_SCRATCH ? 0 : ptk_attention_scratch(N, T, NH);
    float *scratch = ns ? buf(ns, 0) : NULL;
    if (scratch) poison(scratch, ns);
    ptk_attention(NULL, o1, q, k, v, N, pos0, NH, NKV, HD, window, scratch);
    double e = nerr(o1, o0, nq);
    int splits = scratch ? ptk_att_splits(N, pos0, NH, NKV, HD, window) : 1;
    CHECKF(e < FWD_BOUND, "attention N=%d pos0=%d NH=%d NKV=%d HD=%d win=%d how=%d splits=%d: err %g",
           N, pos0, NH, NKV, HD, window, how, splits, e);
    if (getenv("VERBOSE"))
        printf("  fwd N=%d pos0=%d NH=%d NKV=%d HD=%d win=%d how=%d splits=%d err %.3g\n",
               N, pos0, NH, NKV, HD, window, how, splits, e);
    release(q, off); release(k, off); release(v, off); release(o0, 0); release(o1, off);
    if (scratch) release(scratch, 0);
}

// The row kernel with a forced number of splits (tiles of a row fully
// masked, splits with no tile at all) and the combine kernel; HD 64, 8 rows
// per warp, so one warp mixes rows that see a tile with rows that do not.
template <bool FULL>
static void test_forced_splits(pt_backend *ref, int N, int pos0, int NH, int NKV, int window, int splits) {
    const int HD = 64, T = pos0 + N;
    size_t nq = (size_t)N * NH * HD, nkv = (size_t)T * NKV * HD, ns = (size_t)splits * N * NH * (HD + 2);
    float *q = buf(nq, 0), *k = buf(nkv, 0), *v = buf(nkv, 0), *o0 = buf(nq, 0), *o1 = buf(nq, 0), *part = buf(ns, 0);
    fill(q, nq, 2); fill(k, nkv, 2); fill(v, nkv, 1);
    poison(o1, nq); poison(part, ns);
    ref->ops->attention(ref, o0, q, k, v, N, pos0, NH, NKV, HD, window);
    ptk_att_args a = {};
    a.out = part; a.q = q; a.k = k; a.v = v;
    a.N = N; a.pos0 = pos0; a.NH = NH; a.NKV = NKV; a.HD = HD; a.window = window; a.splits = splits;
    a.scale = 1.0f / sqrtf((float)HD);
    ptk_att_rows_launch<2, PTK_ATT_FWD, 8, FULL>(NULL, a);
    PT_LAUNCH(ptk_att_combine_kernel, dim3((unsigned)(N * NH)), dim3(32), 0, NULL, o1, part, N * NH, HD, splits);
    double e = nerr(o1, o0, nq);
    CHECKF(e < FWD_BOUND, "forced splits=%d N=%d pos0=%d NH=%d NKV=%d win=%d full=%d: err %g",
           splits, N, pos0, NH, NKV, window, (int)FULL, e);
    release(q, 0); release(k, 0); release(v, 0); release(o0, 0); release(o1, 0); release(part, 0);
}

// ptk_attention_backward against the oracle (out from the oracle's forward).
static void test_backward(pt_backend *ref, int T, int NH, int NKV, int HD, int unaligned) {
    int off = unaligned ? 1 : 0;
    size_t nq = (size_t)T * NH * HD, nkv = (size_t)T * NKV * HD, ns = ptk_attention_backward_scratch(T, NH);
    float *q = buf(nq, off), *k = buf(nkv, off), *v = buf(nkv, off), *dout = buf(nq, off), *out = buf(nq, off);
    float *q0 = buf(nq, 0), *k0 = buf(nkv, 0), *v0 = buf(nkv, 0);
    float *q1 = buf(nq, off), *k1 = buf(nkv, off), *v1 = buf(nkv, off), *scratch = buf(ns, 0);
    fill(q, nq, 2); fill(k, nkv, 2); fill(v, nkv, 1); fill(dout, nq, 1);
    ref->ops->attention(ref, out, q, k, v, T, 0, NH, NKV, HD, 0);
    ref->ops->attention_backward(ref, q0, k0, v0, dout, q, k, v, out, T, NH, NKV, HD);
    poison(q1, nq); poison(k1, nkv); poison(v1, nkv); poison(scratch, ns);
    ptk_attention_backward(NULL, q1, k1, v1, dout, q, k, v, out, T, NH, NKV, HD, scratch);
    double eq = nerr(q1, q0, nq), ek = nerr(k1, k0, nkv), ev = nerr(v1, v0, nkv);
    CHECKF(eq < BWD_BOUND && ek < BWD_BOUND && ev < BWD_BOUND,
           "attention_backward T=%d NH=%d NKV=%d HD=%d unaligned=%d: err dq %g dk %g dv %g", T, NH, NKV, HD,
           unaligned, eq, ek, ev);
    if (getenv("VERBOSE"))
        printf("  bwd T=%d NH=%d NKV=%d HD=%d unaligned=%d err dq %.3g dk %.3g dv %.3g\n", T, NH, NKV, HD, unaligned,
               eq, ek, ev);
    float *bufs[] = {q, k, v, dout, out, q1, k1, v1};
    for (float *b : bufs) release(b, off);
    release(q0, 0); release(k0, 0); release(v0, 0); release(scratch, 0);
}

int main(void) {
    pt_backend *ref;
    pt_err err;
    if (backend_naive_create(&ref, &err) != PT_OK) {
        fprintf(stderr, "naive backend: %s\n", err.msg);
        return 1;
    }
    // test_backend_ops.c's shapes
    test_forward(ref, 1, 0, 9, 3, 64, 0, WITH_SCRATCH, 2);      // first token
    test_forward(ref, 1, 37, 9, 3, 64, 0, WITH_SCRATCH, 2);     // decode step
    test_forward(ref, 19, 0, 4, 4, 16, 0, WITH_SCRATCH, 2);     // prefill, MHA
    test_forward(ref, 11, 23, 6, 2, 8, 0, WITH_SCRATCH, 2);     // chunked prefill after a cache, GQA
    test_forward(ref, 9, 30, 4, 1, 32, 7, WITH_SCRATCH, 2);     // MQA with a sliding window
    test_forward(ref, 40, 30, 4, 1, 32, 7, WITH_SCRATCH, 2);    // many queries with a window
    test_forward(ref, 128, 0, 9, 3, 64, 0, WITH_SCRATCH, 2);    // a prefill chunk of the default model
    // decode over a long cache: keys split across blocks, then merged
    test_forward(ref, 1, 3000, 9, 3, 64, 0, WITH_SCRATCH, 2);
    test_forward(ref, 1, 3000, 9, 3, 64, 0, NO_SCRATCH, 2);     // the same in one pass
    test_forward(ref, 1, 700, 9, 3, 64, 300, WITH_SCRATCH, 2);  // split with a window
    test_forward(ref, 3, 500, 8, 2, 128, 0, WITH_SCRATCH, 2);   // split, HD 128, 12 rows
    test_forward(ref, 16, 400, 4, 1, 64, 0, WITH_SCRATCH, 2);   // split, 8 rows per warp
    test_forward(ref, 5, 260, 4, 2, 6, 0, WITH_SCRATCH, 2);     // split, tiny heads
    // HD 64 / 128 through the masked (unaligned) instances
    test_forward(ref, 1, 37, 9, 3, 64, 0, UNALIGNED, 2);
    test_forward(ref, 33, 5, 9, 3, 64, 0, UNALIGNED, 2);
    test_forward(ref, 21, 9, 4, 2, 128, 5, UNALIGNED, 2);
    test_forward(ref, 2, 400, 4, 2, 128, 0, UNALIGNED, 2);
    // every DPL, awkward HD, windows (1: a query sees only itself), peaked softmax
    test_forward(ref, 23, 4, 6, 2, 128, 0, WITH_SCRATCH, 2);
    test_forward(ref, 17, 3, 6, 3, 96, 4, WITH_SCRATCH, 2);
    test_forward(ref, 13, 6, 4, 2, 200, 0, WITH_SCRATCH, 2);
    test_forward(ref, 10, 7, 2, 1, 512, 3, WITH_SCRATCH, 2);
    test_forward(ref, 37, 0, 3, 1, 6, 1, WITH_SCRATCH, 2);
    test_forward(ref, 12, 3, 2, 1, 5, 0, WITH_SCRATCH, 2);       // odd HD works too
    test_forward(ref, 70, 10, 2, 2, 64, 33, WITH_SCRATCH, 2);
    test_forward(ref, 20, 15, 4, 2, 64, 0, WITH_SCRATCH, 12);
    // forced splits: one tile each (row pos0 sees no key of the last tile,
    // row pos0+1 one), more splits than tiles (empty splits), with a window
    test_forced_splits<true>(ref, 2, 63, 2, 1, 0, 3);
    test_forced_splits<true>(ref, 2, 63, 2, 1, 0, 5);
    test_forced_splits<false>(ref, 6, 90, 4, 2, 40, 4);
    test_forced_splits<true>(ref, 3, 31, 3, 3, 3, 2);
    test_forced_splits<true>(ref, 2, 100, 2, 1, 0, 40);   // past 32 splits: the combine's second lane half
    // backward: T = 1, 2, 17, 70, GQA 6/2, HD 6, 64, 128; then other shapes
    const int Ts[] = {1, 2, 17, 70}, HDs[] = {6, 64, 128};
    for (int hd : HDs)
        for (int t : Ts) test_backward(ref, t, 6, 2, hd, 0);
    test_backward(ref, 33, 6, 2, 64, 1);   // unaligned: the masked instances
    test_backward(ref, 19, 4, 2, 128, 1);
    test_backward(ref, 13, 4, 4, 16, 0);
    test_backward(ref, 21, 3, 1, 32, 0);
    test_backward(ref, 9, 2, 1, 200, 0);
    test_backward(ref, 7, 2, 2, 512, 0);
    test_backward(ref, 40, 9, 3, 96, 0);
    test_backward(ref, 11, 2, 1, 5, 0);
    backend_destroy(ref);
    return check_report("test_cuemu_attention");
}
