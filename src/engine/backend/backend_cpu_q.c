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
#define VFMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define VHSUM(v) hsum256(v)
#define U8F(v) _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v))
#define I8F(v) _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v))
#define W 8
#endif

// sum over 16 weights held as bytes in b (W = 16: one step; W = 8: two)
static inline VEC dot16_u8(__m128i b, const float *x, VEC s) {
#if W == 16
    return VFMA(U8F(b), VLOAD(x), s);
#else
    s = VFMA(U8F(b), VLOAD(x), s);
    return VFMA(U8F(_mm_srli_si128(b, 8)), VLOAD(x + 8), s);
#endif
}
static inline VEC dot16_i8(__m128i b, const float *x, VEC s) {
#if W == 16
    return VFMA(I8F(b), VLOAD(x), s);
#else
    s = VFMA(I8F(b), VLOAD(x), s);
    return VFMA(I8F(_mm_srli_si128(b, 8)), VLOAD(x + 8), s);
#endif
}

// Q4_1 block (20 bytes): fp16 d, fp16 m, 16 bytes of nibbles; element j is
// the low nibble of byte j, element j+16 the high one; value q*d + m.
// xs (nb): the sum of x over each block, for the m term.
static float dot_q4_1(const unsigned char *w, const float *x, const float *xs, int nb) {
    const __m128i mask = _mm_set1_epi8(0x0F);
    VEC acc = VZERO();
    float accm = 0.0f;
    for (int b = 0; b < nb; b++, w += 20, x += 32) {
        __m128i q = _mm_loadu_si128((const __m128i *)(w + 4));
        VEC s = dot16_u8(_mm_and_si128(q, mask), x, VZERO());
        s = dot16_u8(_mm_and_si128(_mm_srli_epi16(q, 4), mask), x + 16, s);
        acc = VFMA(VSET1(h2f(w)), s, acc);
        accm += h2f(w + 2) * xs[b];
    }
    return VHSUM(acc) + accm;
}

// Q4_0 block (18 bytes): fp16 d, 16 bytes of nibbles; value (q - 8) * d.
static float dot_q4_0(const unsigned char *w, const float *x, int nb) {
    const __m128i mask = _mm_set1_epi8(0x0F), eight = _mm_set1_epi8(8);
    VEC acc = VZERO();
    for (int b = 0; b < nb; b++, w += 18, x += 32) {
        __m128i q = _mm_loadu_si128((const __m128i *)(w + 2));
        VEC s = dot16_i8(_mm_sub_epi8(_mm_and_si128(q, mask), eight), x, VZERO());
        s = dot16_i8(_mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), mask), eight), x + 16, s);
        acc = VFMA(VSET1(h2f(w)), s, acc);
    }
    return VHSUM(acc);
}

// Q8_0 block (34 bytes): fp16 d, 32 signed bytes; value q * d.
static float dot_q8_0(const unsigned char *w, const float *x, int nb) {
    VEC acc = VZERO();
    for (int b = 0; b < nb; b++, w += 34, x += 32) {
        VEC s = dot16_i8(_mm_loadu_si128((const __m128i *)(w + 2)), x, VZERO());
        s = dot16_i8(_mm_loadu_si128((const __m128i *)(w + 18)), x + 16, s);
        acc = VFMA(VSET1(h2f(w)), s, acc);
    }
    return VHSUM(acc);
}

static float dot_row(int wtype, const unsigned char *w, const float *x, const float *xs, int K) {
    switch (wtype) {
    case GGML_TYPE_Q4_1: return dot_q4_1(w, x, xs, K / 32);
    case GGML_TYPE_Q4_0: return dot_q4_0(w, x, K / 32);
    default: return dot_q8_0(w, x, K / 32);
    }
}
#else
// Portable fallback: expand one block at a time, then a plain dot.
static float dot_row(int wtype, const unsigned char *w, const float *x, const float *xs, int K) {
    size_t bb = ggml_type_nbytes((ggml_type)wtype, 32);
    float tmp[32], acc = 0.0f;
    for (int b = 0; b < K / 32; b++, w += bb, x += 32) {
        dequant_row((ggml_type)wtype, w, tmp, 32);
        for (int i = 0; i < 32; i++) acc += tmp[i] * x[i];
    }
    return acc;
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
        for (int m = 0; m < M; m++)
            for (int n = n0; n < n0 + g; n++) {
                const unsigned char *row = wb + (size_t)m * row_bytes;
                const float *x = inp + (size_t)n * K;
                float y = wtype >= 0 ? dot_row(wtype, row, x, xs + (size_t)(n - n0) * nb, K) : dot_any(row, x, K);
                out[(size_t)n * M + m] = y + (bias ? bias[m] : 0.0f);
            }
    }
}
