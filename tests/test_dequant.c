// test_dequant.c - fp16/bf16 conversions and the block dequantisers against
// naive references written from the block definitions (REFERENCE.md).
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "io/dequant.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rng_u32(void) { // xorshift64*
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}

static uint32_t f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float u2f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

// IEEE half by its definition: (-1)^s * 2^(e-15) * 1.m, or 2^-14 * 0.m.
static double naive_fp16(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v;
    if (e == 0)
        v = ldexp(m, -24);
    else if (e == 31)
        v = m ? NAN : INFINITY;
    else
        v = ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

static void test_fp16_all(void) {
    int bad = 0, bad_rt = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = fp16_to_f32((uint16_t)h);
        double r = naive_fp16((uint16_t)h);
        if (isnan(r)) {
            bad += !isnan(f);
            bad_rt += !isnan(fp16_to_f32(f32_to_fp16(f)));
            continue;
        }
        bad += (double)f != r || !signbit(f) != !signbit(r);
        bad_rt += f32_to_fp16(f) != h; // every half survives the round trip
    }
    CHECKF(bad == 0, "%d halves decode wrong", bad);
    CHECKF(bad_rt == 0, "%d halves do not round-trip", bad_rt);
}

static void test_fp16_edges(void) {
    CHECK(fp16_to_f32(0x0001) == ldexpf(1, -24));      // smallest subnormal
    CHECK(fp16_to_f32(0x03ff) == ldexpf(1023, -24));   // largest subnormal
    CHECK(fp16_to_f32(0x0400) == ldexpf(1, -14));      // smallest normal
    CHECK(fp16_to_f32(0x7bff) == 65504.0f);
    CHECK(isinf(fp16_to_f32(0x7c00)) && fp16_to_f32(0x7c00) > 0);
    CHECK(isinf(fp16_to_f32(0xfc00)) && fp16_to_f32(0xfc00) < 0);
    CHECK(isnan(fp16_to_f32(0x7e00)) && isnan(fp16_to_f32(0xfc01)));
    CHECK(f2u(fp16_to_f32(0x8000)) == 0x80000000u);  // -0 keeps its sign

    CHECK(f32_to_fp16(1.0f) == 0x3c00);
    CHECK(f32_to_fp16(-2.0f) == 0xc000);
    CHECK(f32_to_fp16(65504.0f) == 0x7bff);
    CHECK(f32_to_fp16(65519.0f) == 0x7bff);             // rounds down to max
    CHECK(f32_to_fp16(65520.0f) == 0x7c00);             // ties away to inf
    CHECK(f32_to_fp16(1e10f) == 0x7c00);
    CHECK(f32_to_fp16(-1e10f) == 0xfc00);
    CHECK(f32_to_fp16(INFINITY) == 0x7c00);
    CHECK(f32_to_fp16(-INFINITY) == 0xfc00);
    uint16_t qn = f32_to_fp16(NAN);
    CHECK((qn & 0x7c00) == 0x7c00 && (qn & 0x3ff) != 0);
    CHECK(f32_to_fp16(ldexpf(1, -24)) == 0x0001);
    CHECK(f32_to_fp16(ldexpf(1, -25)) == 0x0000);        // tie -> even (0)
    CHECK(f32_to_fp16(ldexpf(1.5f, -25)) == 0x0001);
    CHECK(f32_to_fp16(ldexpf(3, -25)) == 0x0002);        // 1.5 ulp tie -> even (2)
    CHECK(f32_to_fp16(ldexpf(1, -30)) == 0x0000);
    CHECK(f32_to_fp16(-ldexpf(1, -30)) == 0x8000);
    CHECK(f32_to_fp16(ldexpf(1, -14)) == 0x0400);
    CHECK(f32_to_fp16(ldexpf(1023.5f, -24)) == 0x0400);  // tie rounds up into the normals
    CHECK(f32_to_fp16(1.0f + ldexpf(1, -11)) == 0x3c00); // tie -> even
    CHECK(f32_to_fp16(1.0f + ldexpf(3, -11)) == 0x3c02); // tie -> even (up)
    CHECK(f32_to_fp16(1.0f + ldexpf(1, -11) + ldexpf(1, -20)) == 0x3c01);
    CHECK(f32_to_fp16(u2f(0x00000001)) == 0);            // float32 subnormal
    CHECK(f32_to_fp16(-0.0f) == 0x8000);
}

#ifdef __FLT16_MAX__
// The compiler's own float -> _Float16 conversion rounds to nearest even.
static void test_fp16_vs_compiler(void) {
    int bad = 0;
    for (int i = 0; i < 200000; i++) {
        float f = u2f(rng_u32());
        if (isnan(f))
            continue;
        _Float16 h = (_Float16)f;
        uint16_t hb;
        memcpy(&hb, &h, 2);
        bad += f32_to_fp16(f) != hb;
    }
    CHECKF(bad == 0, "%d random floats round differently from _Float16", bad);
}
#endif

static void test_bf16(void) {
    CHECK(bf16_to_f32(0x3f80) == 1.0f);
    CHECK(bf16_to_f32(0xc000) == -2.0f);
    CHECK(isinf(bf16_to_f32(0x7f80)) && isinf(bf16_to_f32(0xff80)));
    CHECK(isnan(bf16_to_f32(0x7fc0)) && isnan(bf16_to_f32(0xffc1)));
    CHECK(bf16_to_f32(0x0001) == ldexpf(1, -133)); // subnormal
    CHECK(f2u(bf16_to_f32(0x8000)) == 0x80000000u);
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++)
        bad += f2u(bf16_to_f32((uint16_t)h)) != h << 16;
    CHECK(bad == 0);
}

static void test_sizes(void) {
    CHECK(ggml_type_supported(GGML_TYPE_F32) && ggml_type_supported(GGML_TYPE_F16) &&
          ggml_type_supported(GGML_TYPE_BF16) && ggml_type_supported(GGML_TYPE_Q8_0) &&
          ggml_type_supported(GGML_TYPE_Q4_0) && ggml_type_supported(GGML_TYPE_Q4_1));
    CHECK(!ggml_type_supported(GGML_TYPE_Q4_K) && !ggml_type_supported(GGML_TYPE_Q5_0) &&
          !ggml_type_supported(GGML_TYPE_I8) && !ggml_type_supported((ggml_type)99));
    CHECK(ggml_type_nbytes(GGML_TYPE_F32, 10) == 40);
    CHECK(ggml_type_nbytes(GGML_TYPE_F16, 10) == 20);
    CHECK(ggml_type_nbytes(GGML_TYPE_BF16, 3) == 6);
    CHECK(ggml_type_nbytes(GGML_TYPE_Q8_0, 64) == 68);
    CHECK(ggml_type_nbytes(GGML_TYPE_Q4_0, 64) == 36);
    CHECK(ggml_type_nbytes(GGML_TYPE_Q4_1, 64) == 40);
    CHECK(ggml_type_nbytes(GGML_TYPE_Q4_K, 512) == 288);
    CHECK(ggml_type_nbytes(GGML_TYPE_Q6_K, 256) == 210);
    CHECK(ggml_type_nbytes(GGML_TYPE_Q8_0, 33) == 0);       // not whole blocks
    CHECK(ggml_type_nbytes((ggml_type)99, 32) == 0);        // unknown
    CHECK(ggml_type_nbytes(GGML_TYPE_F32, UINT64_MAX / 2) == 0); // overflow
    CHECK(ggml_type_block_size(GGML_TYPE_Q4_1) == 32 && ggml_type_block_size(GGML_TYPE_F32) == 1 &&
          ggml_type_block_size(GGML_TYPE_Q4_K) == 256 && ggml_type_block_size((ggml_type)99) == 0);
}

// A random fp16 scale: normal or subnormal, either sign, never inf/nan.
static uint16_t rand_scale(void) {
    uint32_t r = rng_u32();
    uint16_t e = (uint16_t)(r % 8 == 0 ? 0 : 5 + (r >> 3) % 16); // 2^-10 .. 2^5, some subnormal
    return (uint16_t)(((r >> 8) & 0x8000) | (e << 10) | ((r >> 12) & 0x3ff));
}

enum { NB = 64 }; // blocks per test row

static void test_blocks(void) {
    unsigned char buf[NB * 34];
    float out[NB * 32];
    double ref[NB * 32];
    // Q8_0 {fp16 d; i8 qs[32]}: x = q*d
    for (int b = 0; b < NB; b++) {
        unsigned char *p = buf + b * 34;
        uint16_t d = rand_scale();
        p[0] = (unsigned char)d, p[1] = (unsigned char)(d >> 8);
        for (int j = 0; j < 32; j++) {
            p[2 + j] = (unsigned char)rng_u32();
            ref[b * 32 + j] = (double)(int8_t)p[2 + j] * naive_fp16(d);
        }
    }
    buf[2] = 0x80, buf[3] = 0x7f; // extreme quants -128, 127
    ref[0] = -128 * naive_fp16((uint16_t)(buf[0] | buf[1] << 8));
    ref[1] = 127 * naive_fp16((uint16_t)(buf[0] | buf[1] << 8));
    dequant_row(GGML_TYPE_Q8_0, buf, out, NB * 32);
    int bad = 0;
    for (int i = 0; i < NB * 32; i++)
        bad += (double)out[i] != ref[i]; // q*d is exact in float
    CHECKF(bad == 0, "Q8_0: %d values differ", bad);

    // Q4_0 {fp16 d; u8 qs[16]}: x = (nibble-8)*d, low nibble j, high j+16
    for (int b = 0; b < NB; b++) {
        unsigned char *p = buf + b * 18;
        uint16_t d = rand_scale();
        p[0] = (unsigned char)d, p[1] = (unsigned char)(d >> 8);
        for (int j = 0; j < 16; j++) {
            p[2 + j] = (unsigned char)rng_u32();
            ref[b * 32 + j] = ((p[2 + j] & 15) - 8) * naive_fp16(d);
            ref[b * 32 + j + 16] = ((p[2 + j] >> 4) - 8) * naive_fp16(d);
        }
    }
    dequant_row(GGML_TYPE_Q4_0, buf, out, NB * 32);
    bad = 0;
    for (int i = 0; i < NB * 32; i++)
        bad += (double)out[i] != ref[i];
    CHECKF(bad == 0, "Q4_0: %d values differ", bad);

    // Q4_1 {fp16 d; fp16 m; u8 qs[16]}: x = nibble*d + m (one float rounding,
    // or none with FMA: compare within an ulp of the terms)
    for (int b = 0; b < NB; b++) {
        unsigned char *p = buf + b * 20;
        uint16_t d = rand_scale(), m = rand_scale();
        p[0] = (unsigned char)d, p[1] = (unsigned char)(d >> 8);
        p[2] = (unsigned char)m, p[3] = (unsigned char)(m >> 8);
        for (int j = 0; j < 16; j++) {
            p[4 + j] = (unsigned char)rng_u32();
            ref[b * 32 + j] = (p[4 + j] & 15) * naive_fp16(d) + naive_fp16(m);
            ref[b * 32 + j + 16] = (p[4 + j] >> 4) * naive_fp16(d) + naive_fp16(m);
        }
    }
    dequant_row(GGML_TYPE_Q4_1, buf, out, NB * 32);
    bad = 0;
    for (int b = 0; b < NB; b++) {
        const unsigned char *p = buf + b * 20;
        double scale = 15 * fabs(naive_fp16((uint16_t)(p[0] | p[1] << 8))) +
                       fabs(naive_fp16((uint16_t)(p[2] | p[3] << 8)));
        for (int j = 0; j < 32; j++)
            bad += fabs((double)out[b * 32 + j] - ref[b * 32 + j]) > scale * 1.2e-7;
    }
    CHECKF(bad == 0, "Q4_1: %d values differ", bad);

    // F16 / BF16 rows, with edge values
    uint16_t h16[8] = {0x0000, 0x8000, 0x0001, 0x03ff, 0x7bff, 0x7c00, 0xfc00, 0x3555};
    unsigned char raw[16];
    for (int i = 0; i < 8; i++)
        raw[2 * i] = (unsigned char)h16[i], raw[2 * i + 1] = (unsigned char)(h16[i] >> 8);
    dequant_row(GGML_TYPE_F16, raw, out, 8);
    bad = 0;
    for (int i = 0; i < 8; i++)
        bad += (double)out[i] != naive_fp16(h16[i]);
    CHECK(bad == 0);
    dequant_row(GGML_TYPE_BF16, raw, out, 8);
    bad = 0;
    for (int i = 0; i < 8; i++)
        bad += f2u(out[i]) != (uint32_t)h16[i] << 16;
    CHECK(bad == 0);
    float f32[3] = {1.5f, -0.0f, INFINITY};
    dequant_row(GGML_TYPE_F32, f32, out, 3);
    CHECK(memcmp(out, f32, sizeof f32) == 0);
}

int main(void) {
    test_fp16_all();
    test_fp16_edges();
#ifdef __FLT16_MAX__
    test_fp16_vs_compiler();
#endif
    test_bf16();
    test_sizes();
    test_blocks();
    return check_report("test_dequant");
}
