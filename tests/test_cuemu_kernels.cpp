// test_cuemu_kernels.cpp - src/engine/cuda/kernels.cuh's kernels, run on the
// CPU by tests/cuemu, against the naive oracle's ops (backend_naive_create)
// on random inputs of awkward shapes: n = 1, 1537, 200003; rows of 7, 130,
// 576 channels; vocabularies of 33 and 49152 with targets -1 and V-1; RoPE
// at HD 6, 64, 128 and positions up to 500000. The emulator runs at most
// PTK_MAX_GRID (5) blocks, so every grid-stride and row loop goes round more
// than once. Outputs start as NaN (bf16: a bit pattern never produced), so
// an element never written fails; NaN never passes.
//
// Bounds, as the normalised error max|a - b| / max|b|:
//   exact (bit for bit): bf16 conversion (against pt_f32_to_bf16, NaN and
//     ties included), add, scale, bias add, embedding (float and bf16
//     tables), dropout (the same mask and the same float scale), adamw
//     (against pt_adamw_elem evaluated here with no FMA contraction);
//   1e-6: swiglu and its backward, gelu and its backward (erf and tanh
//     forms), embedding_backward (atomics reorder the sums), rmsnorm,
//     rmsnorm_backward, layernorm (with and without bias), layernorm_backward,
//     rope and rope_backward, softmax,
//     cross-entropy losses and gradients, adamw against the oracle's op
//     (compiled with the engine's flags);
//   1e-12 (relative): sumsq, the double block sums added on the host.
//
// This file is compiled with FMA contraction off, so pt_adamw_elem below is
// the literal expression the kernel evaluates.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "kernels.cuh"
#include "dequant.cuh"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vector>

extern "C" {
#include "backend/backend.h"
#include "io/dequant.h"
}
#include "check.h"

static const double FP32_BOUND = 1e-6, SUMSQ_BOUND = 1e-12;
static const uint16_t BF16_POISON = 0x7fbf;  // a NaN without the quiet bit: pt_f32_to_bf16 never makes it

typedef std::vector<float> fvec;

static uint64_t rng = 0x243F6A8885A308D3ull;
static uint64_t next_u64(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static float frand(void) { return (float)((next_u64() >> 40) / 16777216.0) * 2.0f - 1.0f; }  // [-1, 1)
static int irand(int n) { return (int)(next_u64() % (uint64_t)n); }
static fvec rand_vec(size_t n, float scale) {
    fvec v(n);
    for (float &x : v) x = frand() * scale;
    return v;
}
static fvec nan_vec(size_t n) { return fvec(n, NAN); }

// max|a - b| / max|b|; a non-finite value on either side is a failure
static double nerr(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i])) return INFINITY;
        num = fmax(num, fabs((double)a[i] - b[i]));
        den = fmax(den, fabs((double)b[i]));
    }
    return den > 0 ? num / den : num;
}
static double nerr(const fvec &a, const fvec &b) { return a.size() == b.size() ? nerr(a.data(), b.data(), a.size()) : INFINITY; }
// bit-identical, NaN payloads included
static int same_bits(const fvec &a, const fvec &b) {
    return a.size() == b.size() && memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

static const size_t SIZES[] = {1, 1537, 200003};
static const int CHANNELS[] = {7, 130, 576};

// ---- elementwise ----

static void test_bf16(size_t n) {
    fvec x(n);
    static const uint32_t special[] = {
        0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u,  // zeros, infinities
        0x7fc00001u, 0x7f800001u, 0xffa12345u, 0x7fff0000u,  // quiet, signalling, negative NaNs
        0x7f7fffffu, 0x3f808000u, 0x3f818000u, 0x3f80c000u,  // FLT_MAX (to inf), ties to even, above a tie
        0x00000001u, 0x00008000u, 0x00018000u, 0x807fffffu,  // subnormals
    };
    for (size_t i = 0; i < n; i++) {
        uint32_t u = i < sizeof special / sizeof special[0] ? special[i] : (uint32_t)next_u64();
        memcpy(&x[i], &u, 4);
    }
    std::vector<uint16_t> got(n, BF16_POISON);
    ptk_f32_to_bf16(0, got.data(), x.data(), n);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += got[i] != pt_f32_to_bf16(x[i]);
    CHECKF(bad == 0, "f32_to_bf16 n=%zu: %zu of %zu differ from pt_f32_to_bf16", n, bad, n);
    // the host/device helper agrees too, and its inverse is pt_bf16_to_f32
    bad = 0;
    for (size_t i = 0; i < n; i++) {
        float back = ptk_bf16_value(got[i]), ref = pt_bf16_to_f32(got[i]);
        bad += ptk_bf16_bits(x[i]) != got[i] || memcmp(&back, &ref, 4) != 0;
    }
    CHECKF(bad == 0, "ptk_bf16_bits/ptk_bf16_value n=%zu: %zu differ", n, bad);
}

static void test_elementwise(pt_backend *ref, size_t n) {
    fvec a = rand_vec(n, 3), b = rand_vec(n, 3), r = nan_vec(n), g = nan_vec(n);

    ref->ops->add(ref, r.data(), a.data(), b.data(), n);
    ptk_add(0, g.data(), a.data(), b.data(), n);
    CHECKF(same_bits(g, r), "add n=%zu differs", n);
    fvec al = a;  // out aliasing a
    ptk_add(0, al.data(), al.data(), b.data(), n);
    CHECKF(same_bits(al, r), "add in place n=%zu differs", n);

    r = a;
    g = a;
    ref->ops->scale(ref, r.data(), n, -0.37f);
    ptk_scale(0, g.data(), n, -0.37f);
    CHECKF(same_bits(g, r), "scale n=%zu differs", n);

    fvec gate = rand_vec(n, 8), up = rand_vec(n, 2);
    if (n > 1) gate[1] = -90.0f;  // exp(90) overflows float: silu must still be ~0
    r = nan_vec(n);
    g = nan_vec(n);
    ref->ops->swiglu(ref, r.data(), gate.data(), up.data(), n);
    ptk_swiglu(0, g.data(), gate.data(), up.data(), n);
    double e = nerr(g, r);
    CHECKF(e <= FP32_BOUND, "swiglu n=%zu: error %.3g", n, e);

    fvec dout = rand_vec(n, 1), rdg = nan_vec(n), rdu = nan_vec(n), gdg = nan_vec(n), gdu = nan_vec(n);
    ref->ops->swiglu_backward(ref, rdg.data(), rdu.data(), dout.data(), gate.data(), up.data(), n);
    ptk_swiglu_backward(0, gdg.data(), gdu.data(), dout.data(), gate.data(), up.data(), n);
    double e1 = nerr(gdg, rdg), e2 = nerr(gdu, rdu);
    CHECKF(e1 <= FP32_BOUND && e2 <= FP32_BOUND, "swiglu_backward n=%zu: dgate %.3g dup %.3g", n, e1, e2);

    static const float ps[] = {0.1f, 0.5f};
    for (float p : ps) {
        uint64_t seed = 0xDEADBEEF12345678ull + n;
        r = nan_vec(n);
        g = nan_vec(n);
        ref->ops->dropout(ref, r.data(), a.data(), n, p, seed);
        ptk_dropout(0, g.data(), a.data(), n, p, seed);
        CHECKF(same_bits(g, r), "dropout n=%zu p=%g: mask or scale differs", n, p);
        fvec in = a;  // out aliasing inp
        ptk_dropout(0, in.data(), in.data(), n, p, seed);
        CHECKF(same_bits(in, r), "dropout in place n=%zu p=%g differs", n, p);
        size_t dropped = 0;
        for (float x : g) dropped += x == 0.0f;
        if (n > 1000) CHECKF(fabs((double)dropped / n - p) < 0.02, "dropout p=%g dropped %zu of %zu", p, dropped, n);
    }
}

// gelu, both forms, out of place and in place (bit for bit the same), and its backward
static void test_gelu(pt_backend *ref, size_t n) {
    for (int kind = 0; kind < 2; kind++) {
        fvec x = rand_vec(n, 6), r = nan_vec(n), g = nan_vec(n);
        if (n > 2) {  // saturated tails and zero
            x[0] = -30.0f;
            x[1] = 30.0f;
            x[2] = 0.0f;
        } else {
            x[0] = 1.3f;  // for x < 0 float's 1 + erf(x/sqrt 2) cancels (error absolute): a lone element is positive
        }
        ref->ops->gelu(ref, r.data(), x.data(), n, (pt_gelu)kind);
        ptk_gelu(0, g.data(), x.data(), n, kind);
        double e = nerr(g, r);
        CHECKF(e <= FP32_BOUND, "gelu kind %d n=%zu: error %.3g", kind, n, e);
        fvec xi = x;
        ptk_gelu(0, xi.data(), xi.data(), n, kind);
        CHECKF(same_bits(xi, g), "gelu kind %d in place n=%zu differs", kind, n);

        fvec dout = rand_vec(n, 1), rd = nan_vec(n), gd = nan_vec(n);
        ref->ops->gelu_backward(ref, rd.data(), dout.data(), x.data(), n, (pt_gelu)kind);
        ptk_gelu_backward(0, gd.data(), dout.data(), x.data(), n, kind);
        e = nerr(gd, rd);
        CHECKF(e <= FP32_BOUND, "gelu_backward kind %d n=%zu: error %.3g", kind, n, e);
        fvec di = dout;  // dinp aliasing dout
        ptk_gelu_backward(0, di.data(), di.data(), x.data(), n, kind);
        CHECKF(same_bits(di, gd), "gelu_backward kind %d in place n=%zu differs", kind, n);
    }
}

static void test_bias_add(int N, int M) {
    fvec out = rand_vec((size_t)N * M, 2), bias = rand_vec((size_t)M, 1), r = out;
    for (int n = 0; n < N; n++)
        for (int m = 0; m < M; m++) r[(size_t)n * M + m] += bias[m];
    ptk_bias_add(0, out.data(), bias.data(), N, M);
    CHECKF(same_bits(out, r), "bias_add N=%d M=%d differs", N, M);
}

// ---- embeddings ----

static void test_embedding(pt_backend *ref, int N, int C) {
    const int V = 50;
    std::vector<int32_t> tok((size_t)N);
    for (int n = 0; n < N; n++) tok[n] = n % 4 == 0 ? 7 : n % 4 == 1 ? V - 1 : irand(V);  // repeats, last row
    fvec table = rand_vec((size_t)V * C, 1), r = nan_vec((size_t)N * C), g = nan_vec((size_t)N * C);
    ref->ops->embedding(ref, r.data(), tok.data(), table.data(), N, C);
    ptk_embedding(0, g.data(), tok.data(), table.data(), N, C);
    CHECKF(same_bits(g, r), "embedding N=%d C=%d differs", N, C);

    std::vector<uint16_t> t16((size_t)V * C);
    fvec trounded((size_t)V * C);
    for (size_t i = 0; i < t16.size(); i++) {
        t16[i] = pt_f32_to_bf16(table[i]);
        trounded[i] = pt_bf16_to_f32(t16[i]);
    }
    r = nan_vec((size_t)N * C);
    g = nan_vec((size_t)N * C);
    ref->ops->embedding(ref, r.data(), tok.data(), trounded.data(), N, C);
    ptk_embedding_bf16(0, g.data(), tok.data(), t16.data(), N, C);
    CHECKF(same_bits(g, r), "embedding_bf16 N=%d C=%d differs", N, C);

    fvec dout = rand_vec((size_t)N * C, 1), rd = rand_vec((size_t)V * C, 1), gd = rd;
    ref->ops->embedding_backward(ref, rd.data(), dout.data(), tok.data(), N, C);
    ptk_embedding_backward(0, gd.data(), dout.data(), tok.data(), N, C);
    double e = nerr(gd, rd);
    CHECKF(e <= FP32_BOUND, "embedding_backward N=%d C=%d: error %.3g", N, C, e);
}

// ---- rows ----

static void test_rmsnorm(pt_backend *ref, int N, int C) {
    const float eps = 1e-6f;
    fvec x = rand_vec((size_t)N * C, 2), w = rand_vec((size_t)C, 1.5f), r = nan_vec(x.size()), g = nan_vec(x.size());
    for (int c = 0; c < C; c++) x[c] *= 1e-3f;  // a small row: eps matters
    ref->ops->rmsnorm(ref, r.data(), x.data(), w.data(), N, C, eps);
    ptk_rmsnorm(0, g.data(), x.data(), w.data(), N, C, eps);
    double e = nerr(g, r);
    CHECKF(e <= FP32_BOUND, "rmsnorm N=%d C=%d: error %.3g", N, C, e);
    fvec xi = x;  // in place
    ptk_rmsnorm(0, xi.data(), xi.data(), w.data(), N, C, eps);
    CHECKF(same_bits(xi, g), "rmsnorm in place N=%d C=%d differs", N, C);

    fvec dout = rand_vec(x.size(), 1), rd = rand_vec(x.size(), 1), gd = rd;  // dinp accumulates
    ref->ops->rmsnorm_backward(ref, rd.data(), dout.data(), x.data(), w.data(), N, C, eps);
    ptk_rmsnorm_backward(0, gd.data(), dout.data(), x.data(), w.data(), N, C, eps);
    e = nerr(gd, rd);
    CHECKF(e <= FP32_BOUND, "rmsnorm_backward N=%d C=%d: error %.3g", N, C, e);
}

static void test_layernorm(pt_backend *ref, int N, int C) {
    const float eps = 1e-5f;
    fvec x = rand_vec((size_t)N * C, 2), w = rand_vec((size_t)C, 1.5f), b = rand_vec((size_t)C, 1);
    for (int c = 0; c < C; c++) x[c] *= 1e-3f;  // a small row: eps matters
    for (size_t i = (size_t)C; i < x.size(); i++) x[i] += 1.0f;  // the other rows off a zero mean
    for (int bias = 0; bias < 2; bias++) {
        fvec r = nan_vec(x.size()), g = nan_vec(x.size());
        ref->ops->layernorm(ref, r.data(), x.data(), w.data(), bias ? b.data() : NULL, N, C, eps);
        ptk_layernorm(0, g.data(), x.data(), w.data(), bias ? b.data() : NULL, N, C, eps);
        double e = nerr(g, r);
        CHECKF(e <= FP32_BOUND, "layernorm N=%d C=%d bias=%d: error %.3g", N, C, bias, e);
        fvec xi = x;  // in place
        ptk_layernorm(0, xi.data(), xi.data(), w.data(), bias ? b.data() : NULL, N, C, eps);
        CHECKF(same_bits(xi, g), "layernorm in place N=%d C=%d bias=%d differs", N, C, bias);
    }
    fvec dout = rand_vec(x.size(), 1), rd = rand_vec(x.size(), 1), gd = rd;  // dinp accumulates
    ref->ops->layernorm_backward(ref, rd.data(), dout.data(), x.data(), w.data(), N, C, eps);
    ptk_layernorm_backward(0, gd.data(), dout.data(), x.data(), w.data(), N, C, eps);
    double e = nerr(gd, rd);
    CHECKF(e <= FP32_BOUND, "layernorm_backward N=%d C=%d: error %.3g", N, C, e);
}

static void test_softmax(pt_backend *ref, int N, int V) {
    fvec x = rand_vec((size_t)N * V, 6), r = nan_vec(x.size()), g = nan_vec(x.size());
    for (int v = 0; v < V; v++) x[v] += 40.0f;  // large logits: the max must come off first
    ref->ops->softmax(ref, r.data(), x.data(), N, V);
    ptk_softmax(0, g.data(), x.data(), N, V);
    double e = nerr(g, r);
    CHECKF(e <= FP32_BOUND, "softmax N=%d V=%d: error %.3g", N, V, e);
}

static void test_cross_entropy(pt_backend *ref, int N, int V) {
    const float gscale = 0.125f;
    fvec x = rand_vec((size_t)N * V, 5);
    for (int v = 0; v < V; v++) x[(size_t)(N - 1) * V + v] += 30.0f;
    std::vector<int32_t> tgt((size_t)N);
    for (int n = 0; n < N; n++) tgt[n] = n % 4 == 0 ? -1 : n % 4 == 1 ? V - 1 : n % 4 == 2 ? 0 : irand(V);
    fvec rl = nan_vec((size_t)N), gl = nan_vec((size_t)N), rx = x, gx = x;
    ref->ops->cross_entropy(ref, rx.data(), rl.data(), tgt.data(), N, V, gscale);
    ptk_cross_entropy(0, gx.data(), gl.data(), tgt.data(), N, V, gscale);
    double el = nerr(gl, rl), eg = nerr(gx, rx);
    CHECKF(el <= FP32_BOUND, "cross_entropy N=%d V=%d: loss error %.3g", N, V, el);
    CHECKF(eg <= FP32_BOUND, "cross_entropy N=%d V=%d: gradient error %.3g", N, V, eg);
    int zero_ok = 1;
    for (int n = 0; n < N; n++)
        if (tgt[n] < 0) {
            zero_ok &= gl[n] == 0.0f;
            for (int v = 0; v < V; v++) zero_ok &= gx[(size_t)n * V + v] == 0.0f;
        }
    CHECKF(zero_ok, "cross_entropy N=%d V=%d: an ignored row has a loss or gradient", N, V);
}

// ---- RoPE ----

static void test_rope(pt_backend *ref, int N, int H, int HD, float theta) {
    std::vector<int32_t> pos((size_t)N);
    for (int n = 0; n < N; n++) pos[n] = n == 0 ? 0 : n == 1 ? 131071 : n == 2 ? 500000 : irand(200000);
    std::vector<float> inv(HD / 2 > 0 ? (size_t)(HD / 2) : 1);
    ptk_rope_inv_freq(inv.data(), HD, theta);
    fvec x = rand_vec((size_t)N * H * HD, 2), r = x, g = x;
    ref->ops->rope(ref, r.data(), pos.data(), N, H, HD, theta);
    ptk_rope(0, g.data(), pos.data(), inv.data(), N, H, HD);
    double e = nerr(g, r);
    CHECKF(e <= FP32_BOUND, "rope N=%d H=%d HD=%d theta=%g: error %.3g", N, H, HD, theta, e);
    r = x;
    g = x;
    ref->ops->rope_backward(ref, r.data(), pos.data(), N, H, HD, theta);
    ptk_rope_backward(0, g.data(), pos.data(), inv.data(), N, H, HD);
    e = nerr(g, r);
    CHECKF(e <= FP32_BOUND, "rope_backward N=%d H=%d HD=%d theta=%g: error %.3g", N, H, HD, theta, e);
}

// ---- optimizer ----

static void test_sumsq(pt_backend *ref, size_t n) {
    fvec x = rand_vec(n, 3);
    std::vector<double> part(PTK_SUMSQ_MAX_BLOCKS, NAN);
    unsigned nb = ptk_sumsq_blocks(n);
    ptk_sumsq(0, part.data(), x.data(), n);
    double s = 0;
    for (unsigned i = 0; i < nb; i++) s += part[i];
    double r = ref->ops->sumsq(ref, x.data(), n);
    CHECKF(nb >= 1 && nb <= PTK_SUMSQ_MAX_BLOCKS && fabs(s - r) <= SUMSQ_BOUND * r, "sumsq n=%zu: %.17g vs %.17g", n,
           s, r);
}

static void test_adamw(pt_backend *ref, size_t n) {
    pt_adamw_scalars sc = {1.0f - 1e-3f * 0.01f, 0.1f, 0.999f, 0.001f, 1e-3f / (1.0f - 0.9f * 0.9f * 0.9f),
                           sqrtf(1.0f - 0.999f * 0.999f * 0.999f), 1e-8f};
    ptk_adamw_scalars k = {sc.decay, sc.w1, sc.b2, sc.w2, sc.step_size, sc.bc2s, sc.eps};
    fvec p = rand_vec(n, 1), gr = rand_vec(n, 0.1f), m = rand_vec(n, 0.01f), v(n);
    for (float &x : v) x = fabsf(frand()) * 1e-4f;
    fvec ep = p, em = m, ev = v;  // pt_adamw_elem here, no contraction
    for (size_t i = 0; i < n; i++) pt_adamw_elem(&ep[i], gr[i], &em[i], &ev[i], &sc);
    fvec gp = p, gm = m, gv = v;
    ptk_adamw(0, gp.data(), gr.data(), gm.data(), gv.data(), n, k);
    CHECKF(same_bits(gp, ep) && same_bits(gm, em) && same_bits(gv, ev), "adamw n=%zu differs from pt_adamw_elem", n);
    fvec rp = p, rm = m, rv = v;
    ref->ops->adamw(ref, rp.data(), gr.data(), rm.data(), rv.data(), n, &sc);
    double e1 = nerr(gp, rp), e2 = nerr(gm, rm), e3 = nerr(gv, rv);
    CHECKF(e1 <= FP32_BOUND && e2 <= FP32_BOUND && e3 <= FP32_BOUND, "adamw n=%zu vs the oracle: p %.3g m %.3g v %.3g",
           n, e1, e2, e3);
}

// Empty shapes launch nothing (the emulator aborts on a zero grid).
static void test_empty(void) {
    float f = NAN;
    uint16_t h = BF16_POISON;
    int32_t t = 0;
    double d = NAN;
    ptk_f32_to_bf16(0, &h, &f, 0);
    ptk_bias_add(0, &f, &f, 0, 5);
    ptk_bias_add(0, &f, &f, 5, 0);
    ptk_add(0, &f, &f, &f, 0);
    ptk_scale(0, &f, 0, 2.0f);
    ptk_swiglu(0, &f, &f, &f, 0);
    ptk_swiglu_backward(0, &f, &f, &f, &f, &f, 0);
    ptk_dropout(0, &f, &f, 0, 0.5f, 1);
    ptk_embedding(0, &f, &t, &f, 0, 4);
    ptk_embedding_bf16(0, &f, &t, &h, 3, 0);
    ptk_embedding_backward(0, &f, &f, &t, 0, 4);
    ptk_rmsnorm(0, &f, &f, &f, 0, 4, 1e-6f);
    ptk_rmsnorm_backward(0, &f, &f, &f, &f, 4, 0, 1e-6f);
    ptk_layernorm(0, &f, &f, &f, NULL, 0, 4, 1e-5f);
    ptk_layernorm_backward(0, &f, &f, &f, &f, 4, 0, 1e-5f);
    ptk_gelu(0, &f, &f, 0, 0);
    ptk_gelu_backward(0, &f, &f, &f, 0, 1);
    ptk_softmax(0, &f, &f, 0, 4);
    ptk_cross_entropy(0, &f, &f, &t, 0, 4, 1.0f);
    ptk_rope(0, &f, &t, &f, 0, 2, 8);
    ptk_rope_backward(0, &f, &t, &f, 2, 2, 1);  // HD 1: no pairs
    ptk_sumsq(0, &d, &f, 0);
    ptk_adamw(0, &f, &f, &f, &f, 0, ptk_adamw_scalars{});
    CHECK(isnan(f) && isnan(d) && h == BF16_POISON && ptk_sumsq_blocks(0) == 0);
}

// dequant.cuh: GGUF blocks (random bytes, random fp16 scales incl.
// subnormals) to bf16, bit for bit dequant_row then pt_f32_to_bf16.
static void test_dequant(int type, size_t n_blocks) {
    size_t bb = (size_t)ptk_qblock_bytes(type), n = n_blocks * 32;
    std::vector<uint8_t> blk(n_blocks * bb);
    for (uint8_t &x : blk) x = (uint8_t)next_u64();
    for (size_t b = 0; b < n_blocks; b++) {   // sane scales (some subnormal), no inf/NaN
        uint16_t d = b % 7 == 3 ? (uint16_t)(1 + irand(1000)) : f32_to_fp16(frand() * 0.05f);
        uint16_t m = f32_to_fp16(frand() * 0.1f);
        memcpy(&blk[b * bb], &d, 2);
        if (type == PTK_Q4_1) memcpy(&blk[b * bb + 2], &m, 2);
    }
    fvec f(n);
    dequant_row((ggml_type)type, blk.data(), f.data(), n);
    std::vector<uint16_t> out(n, BF16_POISON);
    ptk_dequant_bf16(0, out.data(), blk.data(), type, n_blocks);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += out[i] != pt_f32_to_bf16(f[i]);
    CHECKF(bad == 0, "dequant type %d, %zu blocks: %zu elements differ", type, n_blocks, bad);
}

int main(void) {
    pt_backend *ref = NULL;
    pt_err err;
    if (backend_naive_create(&ref, &err) != PT_OK) {
        fprintf(stderr, "naive backend: %s\n", err.msg);
        return 1;
    }
    test_empty();
    static const int QTYPES[] = {PTK_Q4_0, PTK_Q4_1, PTK_Q8_0};
    for (int t : QTYPES) {
        test_dequant(t, 1);
        test_dequant(t, 777);
    }
    for (size_t n : SIZES) {
        test_bf16(n);
        test_elementwise(ref, n);
        test_gelu(ref, n);
        test_sumsq(ref, n);
        test_adamw(ref, n);
    }
    test_bias_add(1, 1);
    test_bias_add(13, 130);
    test_bias_add(3, 1537);
    for (int C : CHANNELS) {
        test_embedding(ref, 1, C);
        test_embedding(ref, 29, C);
        test_rmsnorm(ref, 1, C);
        test_rmsnorm(ref, 13, C);
        test_layernorm(ref, 1, C);
        test_layernorm(ref, 13, C);
        test_softmax(ref, 1, C);
        test_softmax(ref, 11, C);
    }
    test_rmsnorm(ref, 3, 2053);
    test_layernorm(ref, 3, 2053);
    test_softmax(ref, 3, 49152);
    test_cross_entropy(ref, 9, 33);
    test_cross_entropy(ref, 1, 33);
    test_cross_entropy(ref, 4, 49152);
    static const int HDS[] = {6, 64, 128};
    for (int HD : HDS) {
        test_rope(ref, 1, 1, HD, 10000.0f);
        test_rope(ref, 9, 3, HD, 10000.0f);
        test_rope(ref, 5, 2, HD, 1000000.0f);
    }
    ref->ops->destroy(ref);
    return check_report("test_cuemu_kernels");
}
