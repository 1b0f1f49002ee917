// backend_cpu_q.c - the CPU's products with weights still in GGUF blocks
// (Q4_0, Q4_1, Q8_0) and float32 inputs: out (N, M) = inp (N, K) @ W^T.
// Used for one-token decode, which is bound by the bytes of weight read:
// Q4_1 is 0.625 bytes a weight against float32's 4. Weights are expanded in
// registers and multiplied with the float32 inputs, so the result is the
// float32 product up to summation order (the naive oracle: backend_naive.c).
#include <stdint.h>
#include <string.h>

#include "backend/backend_cpu_internal.h"
#include "io/dequant.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

static inline float h2f(const unsigned char *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

#if defined(__AVX512F__) && defined(__AVX512BW__)
// 16 weights a step: 16 bytes -> 16 int32 -> 16 floats
#define VEC __m512
#define VZERO() _mm512_setzero_ps()
#define VLOAD(p) _mm512_loadu_ps(p)
#define VSET1(f) _mm512_set1_ps(f)
#define VMUL(a, b) _mm512_mul_ps(a, b)
#define VADD(a, b) _mm512_add_ps(a, b)
#define VFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VHSUM(v) _mm512_reduce_add_ps(v)
#define U8F(v) _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(v))
#define I8F(v) _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(v))
#define W 16
#else
static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
// 8 weights a step: the low 8 bytes of a 16-byte register
#define VEC __m256
#define VZERO() _mm256_setzero_ps()
#define VLOAD(p) _mm256_loadu_ps(p)
#define VSET1(f) _mm256_set1_ps(f)
#define VMUL(a, b) _mm256_mul_ps(a, b)
#define VADD(a, b) _mm256_add_ps(a, b)
#define VFMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define VHSUM(v) hsum256(v)
#define U8F(v) _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v))
#define I8F(v) _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v))
#define W 8
#endif

// A weight row is expanded once per block and multiplied with up to MR
// input rows at a time: a batched decode (a compare's columns) reads and
// unpacks the weights once, not once per row. Each row's arithmetic is the
// same sequence of operations whatever the number of rows, so a row's
// result does not depend on what it was batched with.
#define MR 4

// 16 weights held as bytes in b, as floats: VECS registers of W
#define VECS (16 / W)
static inline void expand_u8(__m128i b, VEC *f) {
    f[0] = U8F(b);
#if W == 8
    f[1] = U8F(_mm_srli_si128(b, 8));
#endif
}
static inline void expand_i8(__m128i b, VEC *f) {
    f[0] = I8F(b);
#if W == 8
    f[1] = I8F(_mm_srli_si128(b, 8));
#endif
}

// Each row keeps two accumulators (the block's low and high 16 weights), so
// one row's chain of FMAs is one deep per block, and the block's weights are
// scaled by d once for all the rows: a row costs two loads and two FMAs.
static inline void fma_rows(const VEC *lo, const VEC *hi, const float *x, VEC *acc_lo, VEC *acc_hi) {
    for (int i = 0; i < VECS; i++) *acc_lo = VFMA(lo[i], VLOAD(x + i * W), *acc_lo);
    for (int i = 0; i < VECS; i++) *acc_hi = VFMA(hi[i], VLOAD(x + 16 + i * W), *acc_hi);
}
static inline void scale_block(VEC *lo, VEC *hi, VEC d) {
    for (int i = 0; i < VECS; i++) {
        lo[i] = VMUL(lo[i], d);
        hi[i] = VMUL(hi[i], d);
    }
}

// out[r] = row w (nb blocks) . x + r*K, r < nr <= MR. xs: each input row's
// block sums (stride nb), for Q4_1's m term.
//
// Q4_1 block (20 bytes): fp16 d, fp16 m, 16 bytes of nibbles; element j is
// the low nibble of byte j, element j+16 the high one; value q*d + m.
static inline __attribute__((always_inline)) void dot_rows_q4_1(const unsigned char *w, const float *x, size_t K, const float *xs, int nb, int nr, float *out) {
    const __m128i mask = _mm_set1_epi8(0x0F);
    VEC al[MR], ah[MR], lo[VECS], hi[VECS];
    float accm[MR];
    _Pragma("GCC unroll 4")
    for (int r = 0; r < nr; r++) { al[r] = ah[r] = VZERO(); accm[r] = 0.0f; }
    for (int b = 0; b < nb; b++, w += 20) {
        __m128i q = _mm_loadu_si128((const __m128i *)(w + 4));
        expand_u8(_mm_and_si128(q, mask), lo);
        expand_u8(_mm_and_si128(_mm_srli_epi16(q, 4), mask), hi);
        scale_block(lo, hi, VSET1(h2f(w)));
        float m = h2f(w + 2);
        _Pragma("GCC unroll 4")
        for (int r = 0; r < nr; r++) {
            fma_rows(lo, hi, x + r * K + (size_t)b * 32, &al[r], &ah[r]);
            accm[r] += m * xs[(size_t)r * nb + b];
        }
    }
    _Pragma("GCC unroll 4")
    for (int r = 0; r < nr; r++) out[r] = VHSUM(VADD(al[r], ah[r])) + accm[r];
}

// Q4_0 block (18 bytes): fp16 d, 16 bytes of nibbles; value (q - 8) * d.
static inline __attribute__((always_inline)) void dot_rows_q4_0(const unsigned char *w, const float *x, size_t K, int nb, int nr, float *out) {
    const __m128i mask = _mm_set1_epi8(0x0F), eight = _mm_set1_epi8(8);
    VEC al[MR], ah[MR], lo[VECS], hi[VECS];
    _Pragma("GCC unroll 4")
    for (int r = 0; r < nr; r++) al[r] = ah[r] = VZERO();
    for (int b = 0; b < nb; b++, w += 18) {
        __m128i q = _mm_loadu_si128((const __m128i *)(w + 2));
        expand_i8(_mm_sub_epi8(_mm_and_si128(q, mask), eight), lo);
        expand_i8(_mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), mask), eight), hi);
        scale_block(lo, hi, VSET1(h2f(w)));
        _Pragma("GCC unroll 4")
        for (int r = 0; r < nr; r++) fma_rows(lo, hi, x + r * K + (size_t)b * 32, &al[r], &ah[r]);
    }
    _Pragma("GCC unroll 4")
    for (int r = 0; r < nr; r++) out[r] = VHSUM(VADD(al[r], ah[r]));
}

// Q8_0 block (34 bytes): fp16 d, 32 signed bytes; value q * d.
static inline __attribute__((always_inline)) void dot_rows_q8_0(const unsigned char *w, const float *x, size_t K, int nb, int nr, float *out) {
    VEC al[MR], ah[MR], lo[VECS], hi[VECS];
    _Pragma("GCC unroll 4")
    for (int r = 0; r < nr; r++) al[r] = ah[r] = VZERO();
    for (int b = 0; b < nb; b++, w += 34) {
        expand_i8(_mm_loadu_si128((const __m128i *)(w + 2)), lo);
        expand_i8(_mm_loadu_si128((const __m128i *)(w + 18)), hi);
        scale_block(lo, hi, VSET1(h2f(w)));
        _Pragma("GCC unroll 4")
        for (int r = 0; r < nr; r++) fma_rows(lo, hi, x + r * K + (size_t)b * 32, &al[r], &ah[r]);
    }
    _Pragma("GCC unroll 4")
    for (int r = 0; r < nr; r++) out[r] = VHSUM(VADD(al[r], ah[r]));
}

// One instance per row count, so each one's loops over rows unroll (the
// pragmas: -O2 does not peel them) and its accumulators stay in registers;
// a rolled loop keeps them on the stack, four times slower.
#define DOT_ROWS_N(NR)                                                                                           \
    static void dot_rows_##NR(int wtype, const unsigned char *w, const float *x, size_t K, const float *xs,     \
                              float *out) {                                                                      \
        int nb = (int)(K / 32);                                                                                  \
        switch (wtype) {                                                                                         \
        case GGML_TYPE_Q4_1: dot_rows_q4_1(w, x, K, xs, nb, NR, out); break;                                   \
        case GGML_TYPE_Q4_0: dot_rows_q4_0(w, x, K, nb, NR, out); break;                                       \
        default: dot_rows_q8_0(w, x, K, nb, NR, out); break;                                                   \
        }                                                                                                        \
    }
DOT_ROWS_N(1)
DOT_ROWS_N(2)
DOT_ROWS_N(3)
DOT_ROWS_N(4)

static void dot_rows(int wtype, const unsigned char *w, const float *x, size_t K, const float *xs, int nr, float *out) {
    switch (nr) {
    case 1: dot_rows_1(wtype, w, x, K, xs, out); break;
    case 2: dot_rows_2(wtype, w, x, K, xs, out); break;
    case 3: dot_rows_3(wtype, w, x, K, xs, out); break;
    default: dot_rows_4(wtype, w, x, K, xs, out); break;
    }
}
#else
#define MR 4
// Portable fallback: expand one block at a time, then a plain dot per row.
static void dot_rows(int wtype, const unsigned char *w, const float *x, size_t K, const float *xs, int nr, float *out) {
    (void)xs;
    size_t bb = ggml_type_nbytes((ggml_type)wtype, 32);
    float tmp[32], acc[MR] = {0};
    for (size_t b = 0; b < K / 32; b++, w += bb) {
        dequant_row((ggml_type)wtype, w, tmp, 32);
        for (int r = 0; r < nr; r++)
            for (int i = 0; i < 32; i++) acc[r] += tmp[i] * x[r * K + b * 32 + i];
    }
    for (int r = 0; r < nr; r++) out[r] = acc[r];
}
#endif

// Q4_1 without precomputed sums (only for absurdly long rows).
static float dot_any(const unsigned char *w, const float *x, int K) {
    float tmp[32], acc = 0.0f;
    for (int b = 0; b < K / 32; b++, w += 20, x += 32) {
        dequant_row(GGML_TYPE_Q4_1, w, tmp, 32);
        for (int i = 0; i < 32; i++) acc += tmp[i] * x[i];
    }
    return acc;
}

void cpu_matmul_q(pt_backend *be, float *out, const float *inp, const void *w, int wtype,
                  size_t row_bytes, const float *bias, int N, int K, int M) {
    const unsigned char *wb = w;
    int nb = K / 32;
    float xs[4096];  // per-block sums of the inputs, shared by every weight row
    int group = nb <= 4096 ? 4096 / nb : 0;
    if (!group) {    // K > 131072: no model has that; do one row at a time without xs
        group = 1;
        wtype = wtype == GGML_TYPE_Q4_1 ? -1 : wtype;
    }
    for (int n0 = 0; n0 < N; n0 += group) {
        int g = N - n0 < group ? N - n0 : group;
        if (wtype == GGML_TYPE_Q4_1)
            for (int n = 0; n < g; n++)
                for (int b = 0; b < nb; b++) {
                    const float *x = inp + (size_t)(n0 + n) * K + (size_t)b * 32;
                    float s = 0.0f;
                    for (int i = 0; i < 32; i++) s += x[i];
                    xs[n * nb + b] = s;
                }
#pragma omp parallel for num_threads(be->n_threads) schedule(static)
        for (int m = 0; m < M; m++) {
            const unsigned char *row = wb + (size_t)m * row_bytes;
            for (int n = n0; n < n0 + g; n += MR) {
                int nr = n0 + g - n < MR ? n0 + g - n : MR;
                float y[MR];
                if (wtype >= 0) dot_rows(wtype, row, inp + (size_t)n * K, (size_t)K, xs + (size_t)(n - n0) * nb, nr, y);
                else
                    for (int r = 0; r < nr; r++) y[r] = dot_any(row, inp + (size_t)(n + r) * K, K);
                for (int r = 0; r < nr; r++) out[(size_t)(n + r) * M + m] = y[r] + (bias ? bias[m] : 0.0f);
            }
        }
    }
}
