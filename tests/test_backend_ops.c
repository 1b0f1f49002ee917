// test_backend_ops.c - every op of the fast CPU backend (and CUDA, when a GPU
// is present) against the naive oracle, on random inputs of awkward shapes,
// compared by normalised error with a per-op bound; NaN/Inf fail.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "io/dequant.h"
#include "check.h"
#include "backend/cpu_blas.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void) {  // uniform in [-1, 1)
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((rng >> 40) / (double)(1 << 24)) * 2.0f - 1.0f;
}
static void fill(float *p, size_t n, float scale) { for (size_t i = 0; i < n; i++) p[i] = frand() * scale; }

// normalised error: ||a - b|| / ||b||, and any non-finite value is a failure
static double nerr(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i])) return INFINITY;
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

// Buffers on a backend, made from host data.
static void *up(pt_backend *be, const void *host, size_t bytes) {
    void *d = be->ops->alloc(be, bytes);
    be->ops->upload(be, d, host, bytes);
    return d;
}
static void down(pt_backend *be, void *host, const void *dev, size_t bytes) {
    be->ops->synchronize(be);
    be->ops->download(be, host, dev, bytes);
}

static void test_matmul(pt_backend *be, pt_backend *ref, int N, int K, int M, int with_bias, float beta) {
    size_t ni = (size_t)N * K, nw = (size_t)M * K, no = (size_t)N * M;
    float *x = malloc(ni * 4), *w = malloc(nw * 4), *b = malloc(M * 4), *o0 = malloc(no * 4), *o1 = malloc(no * 4), *init = malloc(no * 4);
    fill(x, ni, 1); fill(w, nw, 0.5f); fill(b, M, 1); fill(init, no, 1);
    memcpy(o0, init, no * 4);
    ref->ops->matmul(ref, o0, x, w, with_bias ? b : NULL, N, K, M, 0.5f, beta);
    float *dx = up(be, x, ni * 4), *dw = up(be, w, nw * 4), *db = up(be, b, M * 4), *dout = up(be, init, no * 4);
    be->ops->matmul(be, dout, dx, dw, with_bias ? db : NULL, N, K, M, 0.5f, beta);
    down(be, o1, dout, no * 4);
    double e = nerr(o1, o0, no);
    CHECKF(e < 1e-5, "%s matmul N=%d K=%d M=%d bias=%d beta=%g: err %g", be->ops->name, N, K, M, with_bias, beta, e);
    be->ops->free(be, dx); be->ops->free(be, dw); be->ops->free(be, db); be->ops->free(be, dout);
    free(x); free(w); free(b); free(o0); free(o1); free(init);
}

// Quantised weights: random blocks with sane scales, against the naive
// oracle (which dequantises each row and sums in double).
static void test_matmul_q(pt_backend *be, pt_backend *ref, ggml_type type, int N, int K, int M, int with_bias) {
    size_t rb = ggml_type_nbytes(type, (uint64_t)K), bb = ggml_type_nbytes(type, 32);
    unsigned char *w = malloc(rb * M);
    for (size_t i = 0; i < rb * M; i++) w[i] = (unsigned char)(frand() * 128 + 128);
    for (size_t b = 0; b < rb * M / bb; b++) {  // each block starts with fp16 d (and m for Q4_1)
        uint16_t d = f32_to_fp16(frand() * 0.05f), m = f32_to_fp16(frand() * 0.1f);
        memcpy(w + b * bb, &d, 2);
        if (type == GGML_TYPE_Q4_1) memcpy(w + b * bb + 2, &m, 2);
    }
    size_t ni = (size_t)N * K, no = (size_t)N * M;
    float *x = malloc(ni * 4), *bias = malloc(M * 4), *o0 = malloc(no * 4), *o1 = malloc(no * 4);
    fill(x, ni, 1); fill(bias, M, 1);
    ref->ops->matmul_q(ref, o0, x, w, type, rb, with_bias ? bias : NULL, N, K, M);
    float *dx = up(be, x, ni * 4), *db = up(be, bias, M * 4), *dout = be->ops->alloc(be, no * 4);
    void *dw = up(be, w, rb * M);
    be->ops->matmul_q(be, dout, dx, dw, type, rb, with_bias ? db : NULL, N, K, M);
    down(be, o1, dout, no * 4);
    double e = nerr(o1, o0, no);
    CHECKF(e < 1e-5, "%s matmul_q %s N=%d K=%d M=%d: err %g", be->ops->name, ggml_type_name(type), N, K, M, e);
    be->ops->free(be, dx); be->ops->free(be, db); be->ops->free(be, dout); be->ops->free(be, dw);
    free(w); free(x); free(bias); free(o0); free(o1);
}

static void test_rmsnorm(pt_backend *be, pt_backend *ref, int N, int C) {
    size_t n = (size_t)N * C;
    float *x = malloc(n * 4), *w = malloc(C * 4), *o0 = malloc(n * 4), *o1 = malloc(n * 4);
    fill(x, n, 3); fill(w, C, 1);
    ref->ops->rmsnorm(ref, o0, x, w, N, C, 1e-5f);
    float *dx = up(be, x, n * 4), *dw = up(be, w, C * 4), *dout = be->ops->alloc(be, n * 4);
    be->ops->rmsnorm(be, dout, dx, dw, N, C, 1e-5f);
    down(be, o1, dout, n * 4);
    double e = nerr(o1, o0, n);
    CHECKF(e < 1e-6, "%s rmsnorm N=%d C=%d: err %g", be->ops->name, N, C, e);
    be->ops->free(be, dx); be->ops->free(be, dw); be->ops->free(be, dout);
    free(x); free(w); free(o0); free(o1);
}

static void test_rope(pt_backend *be, pt_backend *ref, int N, int H, int HD, int pos0) {
    size_t n = (size_t)N * H * HD;
    float *x = malloc(n * 4), *o0 = malloc(n * 4), *o1 = malloc(n * 4);
    int32_t *pos = malloc(N * 4);
    for (int i = 0; i < N; i++) pos[i] = pos0 + i;
    fill(x, n, 1);
    memcpy(o0, x, n * 4);
    ref->ops->rope(ref, o0, pos, N, H, HD, 10000.0f);
    float *dx = up(be, x, n * 4);
    int32_t *dpos = up(be, pos, N * 4);
    be->ops->rope(be, dx, dpos, N, H, HD, 10000.0f);
    down(be, o1, dx, n * 4);
    double e = nerr(o1, o0, n);
    CHECKF(e < 1e-6, "%s rope N=%d H=%d HD=%d pos0=%d: err %g", be->ops->name, N, H, HD, pos0, e);
    // rotation keeps each pair's norm
    double n0 = 0, n1 = 0;
    for (size_t i = 0; i < n; i++) { n0 += (double)x[i] * x[i]; n1 += (double)o1[i] * o1[i]; }
    CHECKF(fabs(n0 - n1) < 1e-3 * n0, "%s rope preserves norm: %g vs %g", be->ops->name, n0, n1);
    be->ops->free(be, dx); be->ops->free(be, dpos);
    free(x); free(o0); free(o1); free(pos);
}

// The "cuda" backend runs attention on tensor cores, Q, K, V and P rounded to
// bf16, for HD 64 and 128 with more than 16 queries (src/engine/cuda/
// attention.cuh, ptk_attention_uses_tc; its buffers are always aligned).
// Its precision contract expects a normalised error of about 3e-3 for these
// inputs (|q|, |k| <= 2, |v| <= 1), held to 1e-2; every other case is fp32.
static double attention_bound(const pt_backend *be, int N, int HD) {
    int tc = strcmp(be->ops->name, "cuda") == 0 && (HD == 64 || HD == 128) && N > 16;
    return tc ? 1e-2 : 1e-5;
}

static void test_attention(pt_backend *be, pt_backend *ref, int N, int pos0, int NH, int NKV, int HD, int window,
                           int alibi) {
    int T = pos0 + N;
    size_t nq = (size_t)N * NH * HD, nkv = (size_t)T * NKV * HD;
    float *q = malloc(nq * 4), *k = malloc(nkv * 4), *v = malloc(nkv * 4), *o0 = malloc(nq * 4), *o1 = malloc(nq * 4);
    fill(q, nq, 2); fill(k, nkv, 2); fill(v, nkv, 1);
    ref->ops->attention(ref, o0, q, k, v, N, pos0, NH, NKV, HD, window, alibi);
    float *dq = up(be, q, nq * 4), *dk = up(be, k, nkv * 4), *dv = up(be, v, nkv * 4), *dout = be->ops->alloc(be, nq * 4);
    be->ops->attention(be, dout, dq, dk, dv, N, pos0, NH, NKV, HD, window, alibi);
    down(be, o1, dout, nq * 4);
    double e = nerr(o1, o0, nq);
    CHECKF(e < attention_bound(be, N, HD), "%s attention N=%d pos0=%d NH=%d NKV=%d HD=%d win=%d alibi=%d: err %g",
           be->ops->name, N, pos0, NH, NKV, HD, window, alibi, e);
    be->ops->free(be, dq); be->ops->free(be, dk); be->ops->free(be, dv); be->ops->free(be, dout);
    free(q); free(k); free(v); free(o0); free(o1);
}

// ALiBi: the oracle's attention differs from the same call without the bias
// (so the bias is applied at all), and each backend matches the oracle.
static void test_attention_alibi(pt_backend *be, pt_backend *ref) {
    test_attention(be, ref, 1, 0, 4, 4, 16, 0, 1);     // first token: one key, the bias cancels
    test_attention(be, ref, 1, 37, 6, 2, 64, 0, 1);    // decode over a cache, 6 heads (extra slopes), GQA
    test_attention(be, ref, 13, 0, 12, 12, 8, 0, 1);   // prefill, 12 heads (BLOOM-560m's count)
    test_attention(be, ref, 11, 23, 6, 3, 8, 0, 1);    // chunked prefill after a cache, GQA
    test_attention(be, ref, 9, 30, 4, 1, 32, 7, 1);    // MQA with a sliding window
    test_attention(be, ref, 40, 30, 12, 4, 32, 9, 1);  // many queries (GEMM path), window, GQA
    test_attention(be, ref, 70, 0, 6, 2, 64, 0, 1);    // training-sized prefill (CUDA: tensor cores)
    test_attention(be, ref, 33, 17, 4, 2, 64, 0, 1);   // the same after a cache
    enum { N = 5, NH = 6, HD = 8 };
    float q[N * NH * HD], k[N * NH * HD], v[N * NH * HD], o0[N * NH * HD], o1[N * NH * HD];
    fill(q, sizeof q / 4, 2); fill(k, sizeof k / 4, 2); fill(v, sizeof v / 4, 1);
    ref->ops->attention(ref, o0, q, k, v, N, 0, NH, NH, HD, 0, 0);
    ref->ops->attention(ref, o1, q, k, v, N, 0, NH, NH, HD, 0, 1);
    double e = nerr(o1, o0, sizeof o0 / 4);
    CHECKF(e > 1e-2, "oracle: ALiBi changes attention's output (differs by %g)", e);
}

// pt_alibi_slope against BLOOM's build_alibi_tensor, evaluated by hand
// (python: base = 2 ** (-(2 ** -(log2(cp) - 3))), extra base for 2 * cp, odd powers).
static void test_alibi_slopes(void) {
    static const float s8[8] = {0.5f, 0.25f, 0.125f, 0.0625f, 0.03125f, 0.015625f, 0.0078125f, 0.00390625f};
    static const float s12[12] = {0.5f,     0.25f,     0.125f,       0.0625f,     0.03125f,     0.015625f,
                                  0.0078125f, 0.00390625f, 0.707106781f, 0.353553391f, 0.176776695f, 0.0883883476f};
    static const float s6[6] = {0.25f, 0.0625f, 0.015625f, 0.00390625f, 0.5f, 0.125f};
    int ok8 = 1, ok12 = 1, ok6 = 1;
    for (int h = 0; h < 8; h++) ok8 &= check_close(pt_alibi_slope(h, 8), s8[h], 0.0f, 1e-6f);
    for (int h = 0; h < 12; h++) ok12 &= check_close(pt_alibi_slope(h, 12), s12[h], 0.0f, 1e-6f);
    for (int h = 0; h < 6; h++) ok6 &= check_close(pt_alibi_slope(h, 6), s6[h], 0.0f, 1e-6f);
    CHECKF(ok8, "alibi slopes NH=8: %g %g ... %g", pt_alibi_slope(0, 8), pt_alibi_slope(1, 8), pt_alibi_slope(7, 8));
    CHECKF(ok12, "alibi slopes NH=12: %g ... %g %g", pt_alibi_slope(0, 12), pt_alibi_slope(8, 12), pt_alibi_slope(11, 12));
    CHECKF(ok6, "alibi slopes NH=6: %g ... %g %g", pt_alibi_slope(0, 6), pt_alibi_slope(4, 6), pt_alibi_slope(5, 6));
    CHECK(pt_alibi_slope(0, 1) == 0.00390625f);   // one head: 2^-8
}

static void test_layernorm(pt_backend *be, pt_backend *ref, int N, int C, int with_bias) {
    size_t n = (size_t)N * C;
    float *x = malloc(n * 4), *w = malloc(C * 4), *b = malloc(C * 4), *o0 = malloc(n * 4), *o1 = malloc(n * 4);
    fill(x, n, 3); fill(w, C, 1); fill(b, C, 1);
    for (int c = 0; c < C; c++) x[c] += 4.0f;   // a row whose mean is not zero
    ref->ops->layernorm(ref, o0, x, w, with_bias ? b : NULL, N, C, 1e-5f);
    float *dx = up(be, x, n * 4), *dw = up(be, w, C * 4), *db = up(be, b, C * 4), *dout = be->ops->alloc(be, n * 4);
    be->ops->layernorm(be, dout, dx, dw, with_bias ? db : NULL, N, C, 1e-5f);
    down(be, o1, dout, n * 4);
    double e = nerr(o1, o0, n);
    CHECKF(e < 1e-5, "%s layernorm N=%d C=%d bias=%d: err %g", be->ops->name, N, C, with_bias, e);
    be->ops->free(be, dx); be->ops->free(be, dw); be->ops->free(be, db); be->ops->free(be, dout);
    free(x); free(w); free(b); free(o0); free(o1);
}

static void test_gelu(pt_backend *be, pt_backend *ref, size_t n, pt_gelu kind) {
    float *x = malloc(n * 4), *o0 = malloc(n * 4), *o1 = malloc(n * 4), *o2 = malloc(n * 4);
    fill(x, n, 6);
    // saturated tails and zero. (For x < 0, float's 1 + erf(x/sqrt 2) cancels,
    // as torch's does: the error there is absolute, so a lone element is positive.)
    if (n > 2) { x[0] = -30.0f; x[1] = 30.0f; x[2] = 0.0f; }
    else x[0] = 1.3f;
    ref->ops->gelu(ref, o0, x, n, kind);
    float *dx = up(be, x, n * 4), *dout = be->ops->alloc(be, n * 4);
    be->ops->gelu(be, dout, dx, n, kind);
    down(be, o1, dout, n * 4);
    double e = nerr(o1, o0, n);
    CHECKF(e < 1e-6, "%s gelu kind %d n=%zu: err %g", be->ops->name, kind, n, e);
    be->ops->gelu(be, dx, dx, n, kind);   // out aliasing inp
    down(be, o2, dx, n * 4);
    CHECKF(memcmp(o2, o1, n * 4) == 0, "%s gelu kind %d n=%zu in place: differs", be->ops->name, kind, n);
    if (n > 2) CHECKF(o0[0] == 0.0f && o0[1] == 30.0f && o0[2] == 0.0f, "oracle gelu tails: %g %g %g", o0[0], o0[1], o0[2]);
    be->ops->free(be, dx); be->ops->free(be, dout);
    free(x); free(o0); free(o1); free(o2);
}

// copy2d: the rows of a (rows, width) window between buffers of other
// strides, exact; the floats of dst outside the window keep their values.
static void test_copy2d(pt_backend *be, size_t rows, size_t src_stride, size_t src_off, size_t dst_stride,
                        size_t dst_off, size_t width) {
    size_t ns = rows * src_stride, nd = rows * dst_stride;
    float *src = malloc(ns * 4), *dst = malloc(nd * 4), *want = malloc(nd * 4);
    fill(src, ns, 1); fill(dst, nd, 1);
    memcpy(want, dst, nd * 4);
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < width; j++) want[r * dst_stride + dst_off + j] = src[r * src_stride + src_off + j];
    float *ds = up(be, src, ns * 4), *dd = up(be, dst, nd * 4);
    be->ops->copy2d(be, dd + dst_off, dst_stride, ds + src_off, src_stride, rows, width);
    down(be, dst, dd, nd * 4);
    CHECKF(memcmp(dst, want, nd * 4) == 0, "%s copy2d rows=%zu width=%zu strides %zu -> %zu: differs", be->ops->name,
           rows, width, src_stride, dst_stride);
    be->ops->free(be, ds); be->ops->free(be, dd);
    free(src); free(dst); free(want);
}

// torch.nn.LayerNorm's numbers on rows worked by hand: (1, 3) has mean 2 and
// biased variance 1 (not 2), so weight 1 gives -+1/sqrt(1 + eps); (5, 5, 5)
// has variance 0, so the output is the bias.
static void test_layernorm_known(pt_backend *be) {
    const float x[5] = {1, 3, 5, 5, 5}, w[3] = {1, 1, 2}, b[3] = {0.5f, -1, 0.25f};
    float y[5] = {0};
    float *dx = up(be, x, sizeof x), *dw = up(be, w, sizeof w), *db = up(be, b, sizeof b), *dy = be->ops->alloc(be, sizeof y);
    be->ops->layernorm(be, dy, dx, dw, NULL, 1, 2, 0.25f);
    be->ops->layernorm(be, dy + 2, dx + 2, dw, db, 1, 3, 1e-5f);
    down(be, y, dy, sizeof y);
    float r = 1.0f / sqrtf(1.25f);
    CHECKF(check_close(y[0], -r, 1e-6f, 1e-6f) && check_close(y[1], r, 1e-6f, 1e-6f), "%s layernorm (1, 3): %g %g",
           be->ops->name, y[0], y[1]);
    CHECKF(check_close(y[2], 0.5f, 1e-6f, 0) && check_close(y[3], -1, 1e-6f, 0) && check_close(y[4], 0.25f, 1e-6f, 0),
           "%s layernorm of a constant row: %g %g %g", be->ops->name, y[2], y[3], y[4]);
    be->ops->free(be, dx); be->ops->free(be, dw); be->ops->free(be, db); be->ops->free(be, dy);
}

static void run_new_ops(pt_backend *be, pt_backend *ref) {
    test_layernorm_known(be);
    test_layernorm(be, ref, 1, 576, 1); test_layernorm(be, ref, 13, 7, 0); test_layernorm(be, ref, 40, 130, 1);
    test_layernorm(be, ref, 9, 1023, 0); test_layernorm(be, ref, 3, 2053, 1);
    for (int kind = 0; kind < 2; kind++) {
        test_gelu(be, ref, 1, (pt_gelu)kind); test_gelu(be, ref, 1537, (pt_gelu)kind);
        test_gelu(be, ref, 200003, (pt_gelu)kind);
    }
    // a fused QKV (N, 3C) split into q, k, v and back; a 1-row copy; width == stride
    test_copy2d(be, 7, 3 * 24, 24, 24, 0, 24);
    test_copy2d(be, 7, 24, 0, 3 * 24, 48, 24);
    test_copy2d(be, 1, 9, 2, 5, 1, 3);
    test_copy2d(be, 33, 13, 0, 13, 0, 13);
    test_copy2d(be, 5, 17, 3, 11, 0, 0);   // width 0: nothing moves
    test_attention_alibi(be, ref);
}

static void test_elementwise(pt_backend *be, pt_backend *ref, size_t n) {
    float *a = malloc(n * 4), *b = malloc(n * 4), *o0 = malloc(n * 4), *o1 = malloc(n * 4);
    fill(a, n, 8); fill(b, n, 2);
    float *da = up(be, a, n * 4), *db = up(be, b, n * 4), *dout = be->ops->alloc(be, n * 4);
    ref->ops->swiglu(ref, o0, a, b, n);
    be->ops->swiglu(be, dout, da, db, n);
    down(be, o1, dout, n * 4);
    double e = nerr(o1, o0, n);
    CHECKF(e < 1e-6, "%s swiglu n=%zu: err %g", be->ops->name, n, e);
    ref->ops->add(ref, o0, a, b, n);
    be->ops->add(be, dout, da, db, n);
    down(be, o1, dout, n * 4);
    e = nerr(o1, o0, n);
    CHECKF(e == 0, "%s add n=%zu: err %g", be->ops->name, n, e);
    be->ops->free(be, da); be->ops->free(be, db); be->ops->free(be, dout);
    free(a); free(b); free(o0); free(o1);
}

static void test_softmax_embedding(pt_backend *be, pt_backend *ref, int N, int V, int C) {
    size_t n = (size_t)N * V;
    float *x = malloc(n * 4), *o0 = malloc(n * 4), *o1 = malloc(n * 4);
    fill(x, n, 30);  // large logits: the max must be subtracted
    ref->ops->softmax(ref, o0, x, N, V);
    float *dx = up(be, x, n * 4), *dout = be->ops->alloc(be, n * 4);
    be->ops->softmax(be, dout, dx, N, V);
    down(be, o1, dout, n * 4);
    double e = nerr(o1, o0, n);
    CHECKF(e < 1e-5, "%s softmax N=%d V=%d: err %g", be->ops->name, N, V, e);
    double s = 0;
    for (int v = 0; v < V; v++) s += o1[v];
    CHECKF(fabs(s - 1) < 1e-4, "%s softmax row sums to %g", be->ops->name, s);
    // embedding: a gather, must be exact
    float *tab = malloc((size_t)V * C * 4), *e0 = malloc((size_t)N * C * 4), *e1 = malloc((size_t)N * C * 4);
    int32_t *tok = malloc(N * 4);
    fill(tab, (size_t)V * C, 1);
    for (int i = 0; i < N; i++) tok[i] = (int32_t)((i * 7919) % V);
    ref->ops->embedding(ref, e0, tok, tab, N, C);
    float *dtab = up(be, tab, (size_t)V * C * 4), *demb = be->ops->alloc(be, (size_t)N * C * 4);
    int32_t *dtok = up(be, tok, N * 4);
    be->ops->embedding(be, demb, dtok, dtab, N, C);
    down(be, e1, demb, (size_t)N * C * 4);
    CHECKF(memcmp(e0, e1, (size_t)N * C * 4) == 0, "%s embedding N=%d C=%d exact", be->ops->name, N, C);
    be->ops->free(be, dx); be->ops->free(be, dout); be->ops->free(be, dtab); be->ops->free(be, demb); be->ops->free(be, dtok);
    free(x); free(o0); free(o1); free(tab); free(e0); free(e1); free(tok);
}

// x rounded through the backend's weight dtype (bf16: what the device reads)
static void as_weight(const pt_backend *be, float *x, size_t n) {
    if (be->ops->weight_dtype == PT_DT_BF16)
        for (size_t i = 0; i < n; i++) x[i] = pt_bf16_to_f32(pt_f32_to_bf16(x[i]));
}

// Base-weight ops: upload_weight + matmul_w / matmul_w_backward / embedding_w
// against the oracle on the weights (and, for bf16 backends, the activation
// operand) rounded as the backend rounds them; so the bound stays fp32's.
static void test_weight_ops(pt_backend *be, pt_backend *ref, int N, int K, int M, int with_bias, float beta) {
    size_t ni = (size_t)N * K, nw = (size_t)M * K, no = (size_t)N * M, es = pt_dtype_size(be->ops->weight_dtype);
    float *x = malloc(ni * 4), *w = malloc(nw * 4), *b = malloc(M * 4), *init = malloc(no * 4), *o0 = malloc(no * 4),
          *o1 = malloc(no * 4), *xr = malloc(ni * 4), *wr = malloc(nw * 4), *dy = malloc(no * 4), *dyr = malloc(no * 4),
          *di0 = malloc(ni * 4), *di1 = malloc(ni * 4);
    fill(x, ni, 1); fill(w, nw, 0.5f); fill(b, M, 1); fill(init, no, 1); fill(dy, no, 1); fill(di0, ni, 1);
    memcpy(xr, x, ni * 4); memcpy(wr, w, nw * 4); memcpy(dyr, dy, no * 4); memcpy(di1, di0, ni * 4);
    as_weight(be, xr, ni); as_weight(be, wr, nw); as_weight(be, dyr, no);
    void *dw = be->ops->alloc(be, nw * es);
    be->ops->upload_weight(be, dw, w, nw);
    CHECKF(be->ops->reserve(be, ni > no ? ni : no) == 0, "%s reserve", be->ops->name);
    // forward
    memcpy(o0, init, no * 4);
    ref->ops->matmul(ref, o0, xr, wr, with_bias ? b : NULL, N, K, M, 0.5f, beta);
    float *dx = up(be, x, ni * 4), *db = up(be, b, M * 4), *dout = up(be, init, no * 4);
    be->ops->matmul_w(be, dout, dx, dw, with_bias ? db : NULL, N, K, M, 0.5f, beta);
    down(be, o1, dout, no * 4);
    double e = nerr(o1, o0, no);
    CHECKF(e < 1e-5, "%s matmul_w N=%d K=%d M=%d bias=%d beta=%g: err %g", be->ops->name, N, K, M, with_bias, beta, e);
    // input gradient: dinp (N, K) = dy (N, M) @ w (M, K) + beta * dinp
    ref->ops->gemm(ref, 0, 0, N, K, M, 1.0f, dyr, M, wr, K, beta, di0, K);
    float *ddy = up(be, dy, no * 4), *ddi = up(be, di1, ni * 4);
    be->ops->matmul_w_backward(be, ddi, ddy, dw, N, K, M, beta);
    down(be, di1, ddi, ni * 4);
    e = nerr(di1, di0, ni);
    CHECKF(e < 1e-5, "%s matmul_w_backward N=%d K=%d M=%d beta=%g: err %g", be->ops->name, N, K, M, beta, e);
    // embedding from the weight table (M rows of K), exact
    int32_t *tok = malloc(N * 4);
    for (int i = 0; i < N; i++) tok[i] = (int32_t)((i * 31 + 7) % M);
    int32_t *dtok = up(be, tok, N * 4);
    float *demb = be->ops->alloc(be, ni * 4);
    be->ops->embedding_w(be, demb, dtok, dw, N, K);
    down(be, di1, demb, ni * 4);
    int exact = 1;
    for (int i = 0; i < N; i++) exact &= memcmp(di1 + (size_t)i * K, wr + (size_t)tok[i] * K, (size_t)K * 4) == 0;
    CHECKF(exact, "%s embedding_w N=%d C=%d exact", be->ops->name, N, K);
    void *bufs[] = {dw, dx, db, dout, ddy, ddi, dtok, demb};
    for (int i = 0; i < 8; i++) be->ops->free(be, bufs[i]);
    free(x); free(w); free(b); free(init); free(o0); free(o1); free(xr); free(wr); free(dy); free(dyr); free(di0); free(di1);
    free(tok);
}

// zero, copy, sumsq, scale, adamw
static void test_vector_ops(pt_backend *be, size_t n) {
    float *p = malloc(n * 4), *g = malloc(n * 4), *m = malloc(n * 4), *v = malloc(n * 4), *h = malloc(n * 4);
    fill(p, n, 1); fill(g, n, 0.1f); fill(m, n, 0.01f);
    for (size_t i = 0; i < n; i++) v[i] = fabsf(frand()) * 1e-3f;
    float *dp = up(be, p, n * 4), *dg = up(be, g, n * 4), *dm = up(be, m, n * 4), *dv = up(be, v, n * 4);
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (double)g[i] * g[i];
    double got = be->ops->sumsq(be, dg, n);
    CHECKF(fabs(got - ss) <= 1e-9 * ss, "%s sumsq n=%zu: %.12g vs %.12g", be->ops->name, n, got, ss);
    pt_adamw_scalars s = {.decay = 0.999f, .w1 = 0.1f, .b2 = 0.999f, .w2 = 0.001f, .step_size = 0.01f, .bc2s = 0.05f, .eps = 1e-8f};
    for (size_t i = 0; i < n; i++) pt_adamw_elem(&p[i], g[i], &m[i], &v[i], &s);
    be->ops->adamw(be, dp, dg, dm, dv, n, &s);
    down(be, h, dp, n * 4);
    double e = nerr(h, p, n);
    down(be, h, dm, n * 4);
    double em = nerr(h, m, n);
    down(be, h, dv, n * 4);
    double ev = nerr(h, v, n);
    CHECKF(e < 1e-6 && em < 1e-6 && ev < 1e-6, "%s adamw n=%zu: p %g m %g v %g", be->ops->name, n, e, em, ev);
    be->ops->scale(be, dg, n, 0.25f);
    down(be, h, dg, n * 4);
    int ok = 1;
    for (size_t i = 0; i < n; i++) ok &= h[i] == g[i] * 0.25f;
    CHECKF(ok, "%s scale n=%zu exact", be->ops->name, n);
    be->ops->copy(be, dm, dg, n * 4);
    down(be, h, dm, n * 4);
    ok = 1;
    for (size_t i = 0; i < n; i++) ok &= h[i] == g[i] * 0.25f;
    CHECKF(ok, "%s copy n=%zu", be->ops->name, n);
    be->ops->zero(be, dm, n * 4);
    down(be, h, dm, n * 4);
    ok = 1;
    for (size_t i = 0; i < n; i++) ok &= h[i] == 0.0f;
    CHECKF(ok, "%s zero n=%zu", be->ops->name, n);
    CHECKF(be->ops->check(be, NULL) == PT_OK, "%s check after the vector ops", be->ops->name);
    be->ops->free(be, dp); be->ops->free(be, dg); be->ops->free(be, dm); be->ops->free(be, dv);
    free(p); free(g); free(m); free(v); free(h);
}

static void run_weight_ops(pt_backend *be, pt_backend *ref) {
    int mm[][3] = {{1, 1, 1}, {1, 576, 192}, {3, 17, 5}, {7, 64, 129}, {33, 100, 31}, {64, 576, 1536}};
    for (size_t i = 0; i < sizeof mm / sizeof mm[0]; i++) {
        test_weight_ops(be, ref, mm[i][0], mm[i][1], mm[i][2], 0, 0.0f);
        test_weight_ops(be, ref, mm[i][0], mm[i][1], mm[i][2], 1, 1.0f);
    }
    test_vector_ops(be, 1); test_vector_ops(be, 1537); test_vector_ops(be, 300007);
}

static void run_all(pt_backend *be, pt_backend *ref) {
    int mm[][3] = {{1, 1, 1}, {1, 576, 192}, {3, 17, 5}, {7, 64, 129}, {33, 100, 31}, {64, 576, 1536}, {5, 1536, 576}};
    for (size_t i = 0; i < sizeof mm / sizeof mm[0]; i++) {
        test_matmul(be, ref, mm[i][0], mm[i][1], mm[i][2], 0, 0.0f);
        test_matmul(be, ref, mm[i][0], mm[i][1], mm[i][2], 1, 0.0f);
        test_matmul(be, ref, mm[i][0], mm[i][1], mm[i][2], 0, 1.0f);
    }
    if (be->ops->matmul_q) {
        ggml_type qt[] = {GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q8_0};
        for (int t = 0; t < 3; t++) {
            test_matmul_q(be, ref, qt[t], 1, 32, 1, 0);
            test_matmul_q(be, ref, qt[t], 1, 576, 192, 1);
            test_matmul_q(be, ref, qt[t], 3, 1536, 77, 0);
        }
    } else {
        printf("%s: no quantised matmul (the float path is used)\n", be->ops->name);
    }
    test_rmsnorm(be, ref, 1, 576); test_rmsnorm(be, ref, 13, 7); test_rmsnorm(be, ref, 40, 130);
    test_rope(be, ref, 1, 9, 64, 0); test_rope(be, ref, 5, 3, 64, 4090); test_rope(be, ref, 17, 2, 6, 1); test_rope(be, ref, 3, 4, 128, 70000);
    test_attention(be, ref, 1, 0, 9, 3, 64, 0, 0);     // first token
    test_attention(be, ref, 1, 37, 9, 3, 64, 0, 0);    // decode step
    test_attention(be, ref, 19, 0, 4, 4, 16, 0, 0);    // prefill, MHA
    test_attention(be, ref, 11, 23, 6, 2, 8, 0, 0);    // chunked prefill after a cache, GQA
    test_attention(be, ref, 9, 30, 4, 1, 32, 7, 0);    // MQA with a sliding window
    test_attention(be, ref, 40, 30, 4, 1, 32, 7, 0);   // the same through the many-query (GEMM) path
    test_attention(be, ref, 128, 0, 9, 3, 64, 0, 0);   // a prefill chunk of the default model
    test_elementwise(be, ref, 1); test_elementwise(be, ref, 1537); test_elementwise(be, ref, 200003);
    test_softmax_embedding(be, ref, 1, 49152, 8); test_softmax_embedding(be, ref, 5, 33, 576);
}

// attention_multi: several sequences (decode rows, and a prefill-sized one)
// in one call, each as the oracle's attention on its own cache.
static void test_attention_multi(pt_backend *be, pt_backend *ref, int alibi) {
    if (!be->ops->attention_multi) return;
    enum { NH = 6, NKV = 2, HD = 32, S = 4 };
    int Ns[S] = {1, 3, 1, 20}, pos[S] = {7, 0, 40, 5};
    pt_attn_seq dev[S];
    float *want[S], *got[S], *hq[S], *hk[S], *hv[S];
    for (int i = 0; i < S; i++) {
        int T = pos[i] + Ns[i];
        size_t nq = (size_t)Ns[i] * NH * HD, nkv = (size_t)T * NKV * HD;
        hq[i] = malloc(nq * 4); hk[i] = malloc(nkv * 4); hv[i] = malloc(nkv * 4);
        want[i] = malloc(nq * 4); got[i] = malloc(nq * 4);
        fill(hq[i], nq, 2); fill(hk[i], nkv, 2); fill(hv[i], nkv, 1);
        ref->ops->attention(ref, want[i], hq[i], hk[i], hv[i], Ns[i], pos[i], NH, NKV, HD, 0, alibi);
        dev[i] = (pt_attn_seq){be->ops->alloc(be, nq * 4), up(be, hq[i], nq * 4), up(be, hk[i], nkv * 4),
                               up(be, hv[i], nkv * 4), Ns[i], pos[i]};
    }
    be->ops->attention_multi(be, dev, 3, NH, NKV, HD, 0, alibi);        // decode-sized only: one parallel loop
    be->ops->attention_multi(be, dev + 3, 1, NH, NKV, HD, 0, alibi);    // a prefill-sized one
    for (int i = 0; i < S; i++) {
        size_t nq = (size_t)Ns[i] * NH * HD;
        down(be, got[i], dev[i].out, nq * 4);
        double e = nerr(got[i], want[i], nq);
        CHECKF(e < 1e-5, "%s attention_multi sequence %d (N=%d pos0=%d alibi=%d): err %g", be->ops->name, i, Ns[i],
               pos[i], alibi, e);
        be->ops->free(be, dev[i].out); be->ops->free(be, (void *)dev[i].q);
        be->ops->free(be, (void *)dev[i].kc); be->ops->free(be, (void *)dev[i].vc);
        free(hq[i]); free(hk[i]); free(hv[i]); free(want[i]); free(got[i]);
    }
}

// A fork shares its parent's memory and account, and runs ops on its own
// scratch and thread count.
static void test_fork(pt_backend *be, pt_backend *ref) {
    pt_err err = {0};
    pt_backend *f = NULL;
    const pt_backend_ops *o = be->ops;
    CHECKF(o->fork(be, &f, &err) == PT_OK, "%s fork: %s", o->name, err.msg);
    if (!f) return;
    o->mem_reset_peak(be);
    size_t held0 = o->mem_held(be);
    void *a = f->ops->alloc(f, 1 << 20);
    CHECKF(o->mem_held(be) >= held0 + (1 << 20), "%s: a fork's allocation counts in its parent's account", o->name);
    CHECKF(f->ops->mem_peak(f) == o->mem_peak(be), "%s: one peak for a backend and its forks", o->name);
    o->free(be, a);   // a fork's buffer freed through the parent
    CHECKF(o->mem_held(be) == held0, "%s: held back to %zu after the free, is %zu", o->name, held0, o->mem_held(be));
    CHECKF(o->mem_peak(be) >= held0 + (1 << 20), "%s: the peak remembers the buffer", o->name);
    f->ops->set_threads(f, 1);
    test_attention(f, ref, 33, 5, 4, 2, 16, 0, 0);   // the fork computes on its own
    backend_destroy(f);
}

// Scratch an op cannot allocate is an error check() returns (once), not a
// silent skip that leaves the output unwritten.
static void test_scratch_failure(pt_backend *be) {
    pt_err err = {0};
    const int N = 16, NH = 1, HD = 16;
    float *q = be->ops->alloc(be, sizeof(float) * N * NH * HD), *out = be->ops->alloc(be, sizeof(float) * N * NH * HD);
    // N queries over 2^31 - 17 cached keys: (N, T) scores are 128 GiB
    be->ops->attention(be, out, q, q, q, N, (1 << 30) - 1 + (1 << 30) - N, NH, NH, HD, 0, 0);
    int rc = be->ops->check(be, &err);
    CHECKF(rc == PT_ERR_NOMEM && strstr(err.msg, "attention"), "%s: attention without scratch: check says %d '%s'",
           be->ops->name, rc, err.msg);
    CHECKF(be->ops->check(be, &err) == PT_OK, "%s: the error is reported once", be->ops->name);
    be->ops->free(be, q);
    be->ops->free(be, out);
}

int main(int argc, char **argv) {
    CHECK_USE_FAST_BLAS(argv);
    pt_err err = {0};
    pt_backend *ref = NULL, *cpu = NULL, *cuda = NULL, *emu = NULL;
    CHECK(backend_naive_create(&ref, &err) == PT_OK);
    CHECK(backend_cpu_create(&cpu, 2, &err) == PT_OK);
    CHECK(backend_emu_create(&emu, &err) == PT_OK);
    if (!ref || !cpu || !emu) return check_report("test_backend_ops");
    test_alibi_slopes();
    run_all(cpu, ref);
    run_new_ops(cpu, ref);
    run_new_ops(emu, ref);
    run_weight_ops(cpu, ref);
    run_weight_ops(ref, ref);
    run_weight_ops(emu, ref);
    test_fork(cpu, ref);
    test_fork(emu, ref);
    test_attention_multi(cpu, ref, 0);
    test_attention_multi(cpu, ref, 1);
    test_fork(ref, ref);
    test_scratch_failure(cpu);
    backend_destroy(emu);
    if (backend_cuda_create(&cuda, &err) == PT_OK) {
        run_all(cuda, ref);
        run_new_ops(cuda, ref);
        run_weight_ops(cuda, ref);
        test_fork(cuda, ref);
        backend_destroy(cuda);
    } else {
        printf("SKIP cuda ops: %s\n", err.msg);
    }
    backend_destroy(cpu);
    backend_destroy(ref);
    return check_report("test_backend_ops");
}
