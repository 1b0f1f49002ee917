// test_cuemu_attention.cpp - src/engine/cuda/attention.cuh's kernels, run on
// the CPU by tests/cuemu, against the naive oracle's attention and
// attention_backward on random inputs. Outputs and scratch start as NaN, so
// an element never written fails. Errors are normalised, ||a-b||/||b||.
//
// fp32 kernels (forced with allow_tc = 0 where the launcher would pick tensor
// cores): the shapes of test_backend_ops.c, a decode over a long cache (split
// keys), the unaligned (masked) path of HD 64, head dims 5 to 512, forced
// splits with fully masked tiles, the backward at T = 1, 2, 17, 70 with GQA.
// Bound 1e-5, forward and backward (test_backward_ops.c's bound).
//
// Tensor-core kernels (HD 64 and 128, N or T >= 17, aligned): GQA 6/2 and
// 9/3, T = 17, 70, 200, windowed prefill after a cache, causal training
// shapes, a peaked softmax that moves the reference exponent. Two bounds:
//  - against the naive oracle: attention.cuh's bf16 contract, 3 E forward
//    and 4 E backward with E (tc_expected) the error expected from rounding
//    Q, K, V, P (dO, dS) to bf16 for these inputs: 9e-3 and 1.2e-2 for
//    |q|, |k| <= 2, |v|, |dout| <= 1 (measured 1.5-3.4e-3 forward, 2.6-5e-3
//    backward), more for the peaked cases;
//  - against ref_tc_*, a double-precision model that rounds the same operands
//    to bf16 at the same places (Q, K, V, P = bf16(2^(x - integer)), dO, P^T,
//    dS), 2e-4: what is left is fp32 accumulation, exp2f and a rare bf16
//    rounding that falls the other way (measured at most 5e-5), so a wrong
//    mask, a lost rescale or a misplaced tile cannot hide under the bf16
//    bound (l summing unrounded p: 1e-3; dS from a rounded P: 3e-3).
// Routing: an unaligned buffer, N <= 16 or another HD keeps the fp32 kernels
// (checked at 1e-5 through the public launchers).
//
// ALiBi (alibi = 1, the oracle's bias slope_h * (j - i)): the fp32 forward
// on every path (one row per warp, split keys, windows, unaligned, forced
// splits), the fp32 backward, and the tensor-core forward and backward
// against the oracle and the bf16 model with the same bias; NH 4, 6 and 12
// (6 and 12 take BLOOM's extra slopes), GQA. The same bounds.
#include "attention.cuh"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vector>

extern "C" {
#include "backend/backend.h"
}
#include "check.h"

static const double FWD_BOUND = 1e-5, BWD_BOUND = 1e-5;  // fp32 kernels vs the oracle
static const double TC_MODEL_BOUND = 2e-4;               // tensor cores vs ref_tc_*

// The tensor cores' expected error against the oracle (attention.cuh's
// precision contract): E = sqrt(es^2 + 2 e0^2), es the rms score error from
// rounding q and k, e0 = u sqrt(2/3) that of rounding one operand (v, p).
// The tests allow 3 E (forward) and 4 E (backward: dS = P (dP - D) cancels).
static double tc_expected(const float *q, size_t nq, const float *k, size_t nk) {
    const double u = 1.0 / 512;  // bf16's unit roundoff
    double q2 = 0, k2 = 0;
    for (size_t i = 0; i < nq; i++) q2 += (double)q[i] * q[i];
    for (size_t i = 0; i < nk; i++) k2 += (double)k[i] * k[i];
    const double es = u * sqrt(2.0 / 3.0 * (q2 / nq) * (k2 / nk));  // scale^2 * HD = 1
    return sqrt(es * es + 2 * (2.0 / 3.0) * u * u);
}

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
// allow_tc 0 forces the fp32 kernels; 1 lets the launcher choose (the bound follows its choice).
static void test_forward(pt_backend *ref, int N, int pos0, int NH, int NKV, int HD, int window, int how, float qs,
                         int allow_tc = 0, int alibi = 0) {
    int T = pos0 + N, off = how == UNALIGNED ? 1 : 0;
    size_t nq = (size_t)N * NH * HD, nkv = (size_t)T * NKV * HD;
    float *q = buf(nq, off), *k = buf(nkv, off), *v = buf(nkv, off), *o0 = buf(nq, 0), *o1 = buf(nq, off);
    fill(q, nq, qs); fill(k, nkv, 2); fill(v, nkv, 1);
    poison(o1, nq);
    ref->ops->attention(ref, o0, q, k, v, N, pos0, NH, NKV, HD, window, alibi);
    size_t ns = how == NO_SCRATCH ? 0 : ptk_attention_scratch(N, T, NH);
    float *scratch = ns ? buf(ns, 0) : NULL;
    if (scratch) poison(scratch, ns);
    ptk_attention(NULL, o1, q, k, v, N, pos0, NH, NKV, HD, window, alibi, scratch, allow_tc);
    double e = nerr(o1, o0, nq);
    int splits = scratch ? ptk_att_splits(N, pos0, NH, NKV, HD, window) : 1;
    CHECKF(!(allow_tc && ptk_attention_uses_tc(N, HD, how != UNALIGNED)),
           "attention N=%d HD=%d how=%d: expected the fp32 kernels", N, HD, how);
    CHECKF(e < FWD_BOUND, "attention N=%d pos0=%d NH=%d NKV=%d HD=%d win=%d how=%d splits=%d alibi=%d: err %g",
           N, pos0, NH, NKV, HD, window, how, splits, alibi, e);
    if (getenv("VERBOSE"))
        printf("  fwd N=%d pos0=%d NH=%d NKV=%d HD=%d win=%d how=%d splits=%d alibi=%d err %.3g\n",
               N, pos0, NH, NKV, HD, window, how, splits, alibi, e);
    release(q, off); release(k, off); release(v, off); release(o0, 0); release(o1, off);
    if (scratch) release(scratch, 0);
}

// The row kernel with a forced number of splits (tiles of a row fully
// masked, splits with no tile at all) and the combine kernel; HD 64, 8 rows
// per warp, so one warp mixes rows that see a tile with rows that do not.
template <bool FULL>
static void test_forced_splits(pt_backend *ref, int N, int pos0, int NH, int NKV, int window, int splits,
                               int alibi = 0) {
    const int HD = 64, T = pos0 + N;
    size_t nq = (size_t)N * NH * HD, nkv = (size_t)T * NKV * HD, ns = (size_t)splits * N * NH * (HD + 2);
    float *q = buf(nq, 0), *k = buf(nkv, 0), *v = buf(nkv, 0), *o0 = buf(nq, 0), *o1 = buf(nq, 0), *part = buf(ns, 0);
    fill(q, nq, 2); fill(k, nkv, 2); fill(v, nkv, 1);
    poison(o1, nq); poison(part, ns);
    ref->ops->attention(ref, o0, q, k, v, N, pos0, NH, NKV, HD, window, alibi);
    ptk_att_args a = {};
    a.out = part; a.q = q; a.k = k; a.v = v;
    a.N = N; a.pos0 = pos0; a.NH = NH; a.NKV = NKV; a.HD = HD; a.window = window; a.splits = splits;
    a.alibi = alibi;
    a.scale = 1.0f / sqrtf((float)HD);
    ptk_att_rows_launch<2, PTK_ATT_FWD, 8, FULL>(NULL, a);
    PT_LAUNCH(ptk_att_combine_kernel, dim3((unsigned)(N * NH)), dim3(32), 0, NULL, o1, part, N * NH, HD, splits);
    double e = nerr(o1, o0, nq);
    CHECKF(e < FWD_BOUND, "forced splits=%d N=%d pos0=%d NH=%d NKV=%d win=%d full=%d alibi=%d: err %g",
           splits, N, pos0, NH, NKV, window, (int)FULL, alibi, e);
    release(q, 0); release(k, 0); release(v, 0); release(o0, 0); release(o1, 0); release(part, 0);
}

// ptk_attention_backward against the oracle (out from the oracle's forward).
static void test_backward(pt_backend *ref, int T, int NH, int NKV, int HD, int unaligned, int allow_tc = 0,
                          int alibi = 0) {
    int off = unaligned ? 1 : 0;
    size_t nq = (size_t)T * NH * HD, nkv = (size_t)T * NKV * HD, ns = ptk_attention_backward_scratch(T, NH);
    float *q = buf(nq, off), *k = buf(nkv, off), *v = buf(nkv, off), *dout = buf(nq, off), *out = buf(nq, off);
    float *q0 = buf(nq, 0), *k0 = buf(nkv, 0), *v0 = buf(nkv, 0);
    float *q1 = buf(nq, off), *k1 = buf(nkv, off), *v1 = buf(nkv, off), *scratch = buf(ns, 0);
    fill(q, nq, 2); fill(k, nkv, 2); fill(v, nkv, 1); fill(dout, nq, 1);
    ref->ops->attention(ref, out, q, k, v, T, 0, NH, NKV, HD, 0, alibi);
    ref->ops->attention_backward(ref, q0, k0, v0, dout, q, k, v, out, T, NH, NKV, HD, alibi);
    poison(q1, nq); poison(k1, nkv); poison(v1, nkv); poison(scratch, ns);
    ptk_attention_backward(NULL, q1, k1, v1, dout, q, k, v, out, T, NH, NKV, HD, alibi, scratch, allow_tc);
    double eq = nerr(q1, q0, nq), ek = nerr(k1, k0, nkv), ev = nerr(v1, v0, nkv);
    CHECKF(!(allow_tc && ptk_attention_uses_tc(T, HD, !unaligned)), "attention_backward T=%d HD=%d: expected fp32", T,
           HD);
    CHECKF(eq < BWD_BOUND && ek < BWD_BOUND && ev < BWD_BOUND,
           "attention_backward T=%d NH=%d NKV=%d HD=%d unaligned=%d alibi=%d: err dq %g dk %g dv %g", T, NH, NKV, HD,
           unaligned, alibi, eq, ek, ev);
    if (getenv("VERBOSE"))
        printf("  bwd T=%d NH=%d NKV=%d HD=%d unaligned=%d err dq %.3g dk %.3g dv %.3g\n", T, NH, NKV, HD, unaligned,
               eq, ek, ev);
    float *bufs[] = {q, k, v, dout, out, q1, k1, v1};
    for (float *b : bufs) release(b, off);
    release(q0, 0); release(k0, 0); release(v0, 0); release(scratch, 0);
}

// ---- tensor cores ----

// x rounded to bf16 (through float, as the kernels round their fp32 values)
static double bf(double x) { return (double)__bfloat162float(__float2bfloat16((float)x)); }
static std::vector<double> bf_all(const float *x, size_t n) {
    std::vector<double> r(n);
    for (size_t i = 0; i < n; i++) r[i] = bf(x[i]);
    return r;
}
static const double LOG2E = 1.4426950408889634;

// x = scale log2(e) q.k of query row (n, h) with key t, operands in bf16
static double ref_x(const std::vector<double> &bq, const std::vector<double> &bk, int n, int h, int t, int NH,
                    int NKV, int HD) {
    const double *qr = &bq[((size_t)n * NH + h) * HD], *kr = &bk[((size_t)t * NKV + h / (NH / NKV)) * HD];
    double s = 0;
    for (int d = 0; d < HD; d++) s += qr[d] * kr[d];
    return s * LOG2E / sqrt((double)HD);
}

// The tensor-core forward, modelled in double: Q, K, V in bf16, weights
// w = bf16(2^(x - M)) for any integer M (a power-of-two shift commutes with
// rounding, so the kernel's per-tile references give the same w), out = sum
// w v / sum w. alibi: x gets slope_h log2(e) (t - pos), exact.
static void ref_tc_forward(double *out, const float *q, const float *k, const float *v, int N, int pos0, int NH,
                           int NKV, int HD, int window, int alibi) {
    const int T = pos0 + N;
    std::vector<double> bq = bf_all(q, (size_t)N * NH * HD), bk = bf_all(k, (size_t)T * NKV * HD),
                        bv = bf_all(v, (size_t)T * NKV * HD), x(T), w(T);
    for (int n = 0; n < N; n++)
        for (int h = 0; h < NH; h++) {
            const int pos = pos0 + n, first = window > 0 && pos - window + 1 > 0 ? pos - window + 1 : 0;
            const double ab = alibi ? (double)pt_alibi_slope(h, NH) * LOG2E : 0.0;
            double mx = -INFINITY, l = 0;
            for (int t = first; t <= pos; t++) mx = fmax(mx, x[t] = ref_x(bq, bk, n, h, t, NH, NKV, HD) + ab * (t - pos));
            for (int t = first; t <= pos; t++) l += w[t] = bf(exp2(x[t] - ceil(mx)));
            double *o = out + ((size_t)n * NH + h) * HD;
            for (int d = 0; d < HD; d++) {
                double acc = 0;
                for (int t = first; t <= pos; t++) acc += w[t] * bv[((size_t)t * NKV + h / (NH / NKV)) * HD + d];
                o[d] = acc / l;
            }
        }
}

// The tensor-core backward, modelled in double: L2 = log2 sum 2^x and D =
// dout . out exact; P = 2^(x - L2); dV += bf16(P) bf16(dout), dS =
// bf16(P (dP - D)) with dP = bf16(dout) . bf16(v); dK += scale dS bf16(q),
// dQ += scale dS bf16(k). alibi as in ref_tc_forward.
static void ref_tc_backward(double *dq, double *dk, double *dv, const float *dout, const float *q, const float *k,
                            const float *v, const float *out, int T, int NH, int NKV, int HD, int alibi) {
    const int group = NH / NKV;
    const double scale = 1.0 / sqrt((double)HD);
    std::vector<double> bq = bf_all(q, (size_t)T * NH * HD), bk = bf_all(k, (size_t)T * NKV * HD),
                        bv = bf_all(v, (size_t)T * NKV * HD), bo = bf_all(dout, (size_t)T * NH * HD), x(T);
    memset(dq, 0, sizeof(double) * T * NH * HD);
    memset(dk, 0, sizeof(double) * T * NKV * HD);
    memset(dv, 0, sizeof(double) * T * NKV * HD);
    for (int i = 0; i < T; i++)
        for (int h = 0; h < NH; h++) {
            const size_t qi = ((size_t)i * NH + h) * HD;
            const double ab = alibi ? (double)pt_alibi_slope(h, NH) * LOG2E : 0.0;
            double mx = -INFINITY, l = 0, D = 0;
            for (int j = 0; j <= i; j++) mx = fmax(mx, x[j] = ref_x(bq, bk, i, h, j, NH, NKV, HD) + ab * (j - i));
            for (int j = 0; j <= i; j++) l += exp2(x[j] - mx);
            const double L2 = mx + log2(l);
            for (int d = 0; d < HD; d++) D += (double)dout[qi + d] * out[qi + d];
            for (int j = 0; j <= i; j++) {
                const size_t kj = ((size_t)j * NKV + h / group) * HD;
                const double p = exp2(x[j] - L2), pb = bf(p);
                double dp = 0;
                for (int d = 0; d < HD; d++) dp += bo[qi + d] * bv[kj + d];
                const double ds = bf(p * (dp - D));
                for (int d = 0; d < HD; d++) {
                    dv[kj + d] += pb * bo[qi + d];
                    dk[kj + d] += scale * ds * bq[qi + d];
                    dq[qi + d] += scale * ds * bk[kj + d];
                }
            }
        }
}

static double nerr_d(const float *a, const double *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i])) return INFINITY;
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

// ptk_attention on the tensor-core path: vs the oracle and vs ref_tc_forward.
static void test_forward_tc(pt_backend *ref, int N, int pos0, int NH, int NKV, int HD, int window, float qs,
                            int alibi = 0) {
    const int T = pos0 + N;
    size_t nq = (size_t)N * NH * HD, nkv = (size_t)T * NKV * HD;
    float *q = buf(nq, 0), *k = buf(nkv, 0), *v = buf(nkv, 0), *o0 = buf(nq, 0), *o1 = buf(nq, 0);
    std::vector<double> om(nq);
    fill(q, nq, qs); fill(k, nkv, 2); fill(v, nkv, 1);
    poison(o1, nq);
    ref->ops->attention(ref, o0, q, k, v, N, pos0, NH, NKV, HD, window, alibi);
    ref_tc_forward(om.data(), q, k, v, N, pos0, NH, NKV, HD, window, alibi);
    CHECKF(ptk_attention_uses_tc(N, HD, 1), "attention N=%d HD=%d: expected tensor cores", N, HD);
    size_t ns = ptk_attention_scratch(N, T, NH);
    float *scratch = ns ? buf(ns, 0) : NULL;
    ptk_attention(NULL, o1, q, k, v, N, pos0, NH, NKV, HD, window, alibi, scratch);
    double e = nerr(o1, o0, nq), em = nerr_d(o1, om.data(), nq), bound = 3 * tc_expected(q, nq, k, nkv);
    CHECKF(e < bound && em < TC_MODEL_BOUND,
           "tc attention N=%d pos0=%d NH=%d NKV=%d HD=%d win=%d qs=%g alibi=%d: err vs oracle %g (bound %g), vs bf16 "
           "model %g", N, pos0, NH, NKV, HD, window, qs, alibi, e, bound, em);
    if (getenv("VERBOSE"))
        printf("  tc fwd N=%d pos0=%d NH=%d NKV=%d HD=%d win=%d qs=%g alibi=%d err %.3g (bound %.3g) model %.3g\n", N,
               pos0, NH, NKV, HD, window, qs, alibi, e, bound, em);
    release(q, 0); release(k, 0); release(v, 0); release(o0, 0); release(o1, 0);
    if (scratch) release(scratch, 0);
}

// ptk_attention_backward on the tensor-core path: vs the oracle and vs ref_tc_backward.
static void test_backward_tc(pt_backend *ref, int T, int NH, int NKV, int HD, float qs = 2, int alibi = 0) {
    size_t nq = (size_t)T * NH * HD, nkv = (size_t)T * NKV * HD, ns = ptk_attention_backward_scratch(T, NH);
    float *q = buf(nq, 0), *k = buf(nkv, 0), *v = buf(nkv, 0), *dout = buf(nq, 0), *out = buf(nq, 0);
    float *q0 = buf(nq, 0), *k0 = buf(nkv, 0), *v0 = buf(nkv, 0);
    float *q1 = buf(nq, 0), *k1 = buf(nkv, 0), *v1 = buf(nkv, 0), *scratch = buf(ns, 0);
    std::vector<double> qm(nq), km(nkv), vm(nkv);
    fill(q, nq, qs); fill(k, nkv, 2); fill(v, nkv, 1); fill(dout, nq, 1);
    ref->ops->attention(ref, out, q, k, v, T, 0, NH, NKV, HD, 0, alibi);
    ref->ops->attention_backward(ref, q0, k0, v0, dout, q, k, v, out, T, NH, NKV, HD, alibi);
    ref_tc_backward(qm.data(), km.data(), vm.data(), dout, q, k, v, out, T, NH, NKV, HD, alibi);
    poison(q1, nq); poison(k1, nkv); poison(v1, nkv); poison(scratch, ns);
    CHECKF(ptk_attention_uses_tc(T, HD, 1), "attention_backward T=%d HD=%d: expected tensor cores", T, HD);
    ptk_attention_backward(NULL, q1, k1, v1, dout, q, k, v, out, T, NH, NKV, HD, alibi, scratch);
    double eq = nerr(q1, q0, nq), ek = nerr(k1, k0, nkv), ev = nerr(v1, v0, nkv);
    double mq = nerr_d(q1, qm.data(), nq), mk = nerr_d(k1, km.data(), nkv), mv = nerr_d(v1, vm.data(), nkv);
    const double bound = 4 * tc_expected(q, nq, k, nkv);
    CHECKF(eq < bound && ek < bound && ev < bound,
           "tc attention_backward T=%d NH=%d NKV=%d HD=%d qs=%g alibi=%d: err vs oracle dq %g dk %g dv %g (bound %g)",
           T, NH, NKV, HD, qs, alibi, eq, ek, ev, bound);
    CHECKF(mq < TC_MODEL_BOUND && mk < TC_MODEL_BOUND && mv < TC_MODEL_BOUND,
           "tc attention_backward T=%d NH=%d NKV=%d HD=%d qs=%g alibi=%d: err vs bf16 model dq %g dk %g dv %g", T, NH,
           NKV, HD, qs, alibi, mq, mk, mv);
    if (getenv("VERBOSE"))
        printf("  tc bwd T=%d NH=%d NKV=%d HD=%d qs=%g err dq %.3g dk %.3g dv %.3g (bound %.3g); model %.3g %.3g"
               " %.3g\n", T, NH, NKV, HD, qs, eq, ek, ev, bound, mq, mk, mv);
    float *bufs[] = {q, k, v, dout, out, q0, k0, v0, q1, k1, v1, scratch};
    for (float *b : bufs) release(b, 0);
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
    // routing through the public launchers: these keep the fp32 kernels (1e-5)
    test_forward(ref, 16, 40, 6, 2, 64, 0, WITH_SCRATCH, 2, 1);   // N = 16: split-K territory
    test_forward(ref, 33, 5, 6, 2, 128, 0, UNALIGNED, 2, 1);      // unaligned
    test_forward(ref, 40, 0, 4, 2, 96, 0, WITH_SCRATCH, 2, 1);    // another HD
    test_backward(ref, 16, 6, 2, 64, 0, 1);                       // T = 16
    test_backward(ref, 19, 4, 2, 128, 1, 1);                      // unaligned

    // tensor cores, forward: causal training shapes, chunked and windowed
    // prefill after a cache, a peaked softmax (the reference exponent moves)
    test_forward_tc(ref, 17, 0, 6, 2, 64, 0, 2);
    test_forward_tc(ref, 70, 0, 9, 3, 128, 0, 2);
    test_forward_tc(ref, 200, 0, 6, 2, 128, 0, 2);
    test_forward_tc(ref, 200, 0, 9, 3, 64, 0, 2);
    test_forward_tc(ref, 40, 30, 6, 2, 64, 25, 2);
    test_forward_tc(ref, 17, 183, 9, 3, 128, 50, 2);
    test_forward_tc(ref, 70, 130, 6, 2, 128, 0, 2);
    test_forward_tc(ref, 33, 40, 9, 3, 64, 0, 12);
    test_forward_tc(ref, 120, 0, 6, 2, 128, 0, 8);
    test_forward_tc(ref, 70, 0, 4, 1, 128, 1, 2);   // MQA, window 1: each query sees only itself
    // tensor cores, backward
    test_backward_tc(ref, 17, 6, 2, 64);
    test_backward_tc(ref, 17, 9, 3, 128);
    test_backward_tc(ref, 70, 9, 3, 128);
    test_backward_tc(ref, 70, 6, 2, 64);
    test_backward_tc(ref, 200, 6, 2, 128);
    test_backward_tc(ref, 200, 9, 3, 64);
    test_backward_tc(ref, 90, 6, 2, 128, 8);    // peaked: the LSE pass moves its reference exponent
    test_backward_tc(ref, 50, 9, 3, 64, 12);

    // ALiBi. fp32 forward: first token, decode (one row per warp), split keys
    // over a long cache (with a window too), prefill with GQA and 12 heads,
    // unaligned HD 64, HD 128, odd HD; forced splits (empty and masked tiles)
    test_forward(ref, 1, 0, 4, 4, 16, 0, WITH_SCRATCH, 2, 0, 1);
    test_forward(ref, 1, 37, 6, 2, 64, 0, WITH_SCRATCH, 2, 0, 1);
    test_forward(ref, 1, 3000, 12, 4, 64, 0, WITH_SCRATCH, 2, 0, 1);
    test_forward(ref, 1, 3000, 12, 4, 64, 0, NO_SCRATCH, 2, 0, 1);
    test_forward(ref, 1, 700, 6, 3, 64, 300, WITH_SCRATCH, 2, 0, 1);
    test_forward(ref, 3, 500, 12, 12, 128, 0, WITH_SCRATCH, 2, 0, 1);
    test_forward(ref, 11, 23, 6, 2, 8, 0, WITH_SCRATCH, 2, 0, 1);
    test_forward(ref, 40, 30, 12, 4, 32, 9, WITH_SCRATCH, 2, 0, 1);
    test_forward(ref, 33, 5, 6, 3, 64, 0, UNALIGNED, 2, 0, 1);
    test_forward(ref, 23, 4, 4, 2, 128, 0, WITH_SCRATCH, 2, 0, 1);
    test_forward(ref, 12, 3, 6, 1, 5, 0, WITH_SCRATCH, 2, 0, 1);
    test_forward(ref, 70, 10, 12, 6, 64, 33, WITH_SCRATCH, 2, 0, 1);
    test_forced_splits<true>(ref, 2, 63, 6, 3, 0, 5, 1);
    test_forced_splits<false>(ref, 6, 90, 4, 2, 40, 4, 1);
    test_forced_splits<true>(ref, 2, 100, 12, 4, 0, 40, 1);
    // fp32 backward: T = 1, 17, 70, GQA, 6 and 12 heads, unaligned, odd HD
    test_backward(ref, 1, 6, 2, 64, 0, 0, 1);
    test_backward(ref, 17, 6, 2, 64, 0, 0, 1);
    test_backward(ref, 70, 12, 4, 6, 0, 0, 1);
    test_backward(ref, 33, 6, 3, 64, 1, 0, 1);
    test_backward(ref, 19, 4, 2, 128, 0, 0, 1);
    test_backward(ref, 40, 12, 12, 96, 0, 0, 1);
    // tensor cores: forward (training, windowed prefill after a cache, peaked) and backward
    test_forward_tc(ref, 70, 0, 6, 2, 64, 0, 2, 1);
    test_forward_tc(ref, 200, 0, 12, 4, 128, 0, 2, 1);
    test_forward_tc(ref, 40, 30, 6, 2, 64, 25, 2, 1);
    test_forward_tc(ref, 33, 40, 12, 12, 64, 0, 12, 1);
    test_forward_tc(ref, 120, 0, 4, 1, 128, 0, 8, 1);
    test_backward_tc(ref, 17, 6, 2, 64, 2, 1);
    test_backward_tc(ref, 70, 12, 4, 128, 2, 1);
    test_backward_tc(ref, 200, 6, 3, 64, 2, 1);
    test_backward_tc(ref, 90, 12, 6, 128, 8, 1);
    backend_destroy(ref);
    return check_report("test_cuemu_attention");
}
