// backend_cpu_q.c - the CPU's products with weights still in GGUF blocks
// (Q4_0, Q4_1, Q8_0) and float32 inputs: out (N, M) = inp (N, K) @ W^T.
// Used for one-token decode, which is bound by the bytes of weight read:
// Q4_1 is 0.625 bytes a weight against float32's 4. Weights are expanded in
// registers and multiplied with the float32 inputs, so the result is the
// float32 product up to summation order (the naive oracle: backend_naive.c).
#include <stdint.h>
#include <string.h>

#include "backend_cpu_q.h"
#include "dequant.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

static inline float h2f(const unsigned char *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}
static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
// 8 unsigned / signed bytes (low half of v) -> 8 floats
static inline __m256 u8f(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v)); }
static inline __m256 i8f(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)); }

// Q4_1 block (20 bytes): fp16 d, fp16 m, 16 bytes of nibbles; element j is
// the low nibble of byte j, element j+16 the high one; value q*d + m.
static float dot_q4_1(const unsigned char *w, const float *x, int nb) {
    const __m128i mask = _mm_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++, w += 20, x += 32) {
        __m128i q = _mm_loadu_si128((const __m128i *)(w + 4));
        __m128i lo = _mm_and_si128(q, mask), hi = _mm_and_si128(_mm_srli_epi16(q, 4), mask);
        __m256 x0 = _mm256_loadu_ps(x), x1 = _mm256_loadu_ps(x + 8);
        __m256 x2 = _mm256_loadu_ps(x + 16), x3 = _mm256_loadu_ps(x + 24);
        __m256 s = _mm256_mul_ps(u8f(lo), x0);
        s = _mm256_fmadd_ps(u8f(_mm_srli_si128(lo, 8)), x1, s);
        s = _mm256_fmadd_ps(u8f(hi), x2, s);
        s = _mm256_fmadd_ps(u8f(_mm_srli_si128(hi, 8)), x3, s);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(w)), s, acc);
        __m256 xs = _mm256_add_ps(_mm256_add_ps(x0, x1), _mm256_add_ps(x2, x3));
        accm = _mm256_fmadd_ps(_mm256_set1_ps(h2f(w + 2)), xs, accm);
    }
    return hsum(acc) + hsum(accm);
}

// Q4_0 block (18 bytes): fp16 d, 16 bytes of nibbles; value (q - 8) * d.
static float dot_q4_0(const unsigned char *w, const float *x, int nb) {
    const __m128i mask = _mm_set1_epi8(0x0F), eight = _mm_set1_epi8(8);
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++, w += 18, x += 32) {
        __m128i q = _mm_loadu_si128((const __m128i *)(w + 2));
        __m128i lo = _mm_sub_epi8(_mm_and_si128(q, mask), eight);
        __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), mask), eight);
        __m256 s = _mm256_mul_ps(i8f(lo), _mm256_loadu_ps(x));
        s = _mm256_fmadd_ps(i8f(_mm_srli_si128(lo, 8)), _mm256_loadu_ps(x + 8), s);
        s = _mm256_fmadd_ps(i8f(hi), _mm256_loadu_ps(x + 16), s);
        s = _mm256_fmadd_ps(i8f(_mm_srli_si128(hi, 8)), _mm256_loadu_ps(x + 24), s);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(w)), s, acc);
    }
    return hsum(acc);
}

// Q8_0 block (34 bytes): fp16 d, 32 signed bytes; value q * d.
static float dot_q8_0(const unsigned char *w, const float *x, int nb) {
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++, w += 34, x += 32) {
        __m128i q0 = _mm_loadu_si128((const __m128i *)(w + 2));
        __m128i q1 = _mm_loadu_si128((const __m128i *)(w + 18));
        __m256 s = _mm256_mul_ps(i8f(q0), _mm256_loadu_ps(x));
        s = _mm256_fmadd_ps(i8f(_mm_srli_si128(q0, 8)), _mm256_loadu_ps(x + 8), s);
        s = _mm256_fmadd_ps(i8f(q1), _mm256_loadu_ps(x + 16), s);
        s = _mm256_fmadd_ps(i8f(_mm_srli_si128(q1, 8)), _mm256_loadu_ps(x + 24), s);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(w)), s, acc);
    }
    return hsum(acc);
}

static float dot_row(int wtype, const unsigned char *w, const float *x, int K) {
    switch (wtype) {
    case GGML_TYPE_Q4_1: return dot_q4_1(w, x, K / 32);
    case GGML_TYPE_Q4_0: return dot_q4_0(w, x, K / 32);
    default: return dot_q8_0(w, x, K / 32);
    }
}
#else
// Portable fallback: expand one block at a time, then a plain dot.
static float dot_row(int wtype, const unsigned char *w, const float *x, int K) {
    size_t bb = ggml_type_nbytes((ggml_type)wtype, 32);
    float tmp[32], acc = 0.0f;
    for (int b = 0; b < K / 32; b++, w += bb, x += 32) {
        dequant_row((ggml_type)wtype, w, tmp, 32);
        for (int i = 0; i < 32; i++) acc += tmp[i] * x[i];
    }
    return acc;
}
#endif

void cpu_matmul_q(pt_backend *be, float *out, const float *inp, const void *w, int wtype,
                  size_t row_bytes, const float *bias, int N, int K, int M) {
    const unsigned char *wb = w;
#pragma omp parallel for num_threads(be->n_threads) schedule(static)
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++)
            out[(size_t)n * M + m] = dot_row(wtype, wb + (size_t)m * row_bytes, inp + (size_t)n * K, K) + (bias ? bias[m] : 0.0f);
}
