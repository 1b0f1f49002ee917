// dequant.c - stored weight types -> float32, done once at load.
// Block layouts (ggml `ggml-common.h`), little-endian, 32 weights a block:
//   Q8_0 {fp16 d; i8 qs[32]}        34 bytes  x = qs[j]*d
//   Q4_0 {fp16 d; u8 qs[16]}        18 bytes  x = (nibble-8)*d
//   Q4_1 {fp16 d; fp16 m; u8 qs[16]} 20 bytes  x = nibble*d + m
// The low nibble of qs[j] is element j, the high nibble element j+16.
#include "io/dequant.h"

#include "core/bf16.h"

#include <string.h>

float fp16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { // subnormal: normalise into a float32 normal
            uint32_t e = 113; // 127 - 15 + 1
            while (!(mant & 0x400)) {
                mant <<= 1;
                e--;
            }
            bits = sign | (e << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13); // inf, or NaN keeping its payload
    } else {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

// Round to nearest, ties to even; overflow -> inf; NaN stays NaN.
uint16_t f32_to_fp16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t a = x & 0x7fffffffu;
    if (a > 0x7f800000u) // NaN: keep it quiet and non-zero
        return (uint16_t)(sign | 0x7e00 | ((a >> 13) & 0x3ff));
    if (a >= 0x477ff000u) // >= 65520 rounds past 65504
        return (uint16_t)(sign | 0x7c00);
    if (a < 0x38800000u) { // below 2^-14: half subnormal (or zero)
        uint32_t e = a >> 23;
        if (e < 102) // below 2^-25: rounds to zero
            return sign;
        uint32_t m = (a & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e; // 14..24
        uint32_t r = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1)))
            r++;
        return (uint16_t)(sign | r);
    }
    uint32_t h = (((a >> 23) - 112) << 10) | ((a >> 13) & 0x3ff);
    uint32_t rem = a & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
        h++; // a carry into the exponent is still correct
    return (uint16_t)(sign | h);
}

float bf16_to_f32(uint16_t h) { return pt_bf16_to_f32(h); }

typedef struct {
    ggml_type type;
    uint32_t block;  // weights per block
    uint32_t bytes;  // bytes per block
} type_size;

// Sizes of every type gguf.h names, so files holding types we cannot
// dequantise still parse and get refused by name later.
static const type_size TYPE_SIZES[] = {
    {GGML_TYPE_F32, 1, 4},     {GGML_TYPE_F16, 1, 2},     {GGML_TYPE_Q4_0, 32, 18},
    {GGML_TYPE_Q4_1, 32, 20},  {GGML_TYPE_Q5_0, 32, 22},  {GGML_TYPE_Q5_1, 32, 24},
    {GGML_TYPE_Q8_0, 32, 34},  {GGML_TYPE_Q8_1, 32, 36},  {GGML_TYPE_Q2_K, 256, 84},
    {GGML_TYPE_Q3_K, 256, 110}, {GGML_TYPE_Q4_K, 256, 144}, {GGML_TYPE_Q5_K, 256, 176},
    {GGML_TYPE_Q6_K, 256, 210}, {GGML_TYPE_Q8_K, 256, 292}, {GGML_TYPE_I8, 1, 1},
    {GGML_TYPE_I16, 1, 2},     {GGML_TYPE_I32, 1, 4},     {GGML_TYPE_I64, 1, 8},
    {GGML_TYPE_F64, 1, 8},     {GGML_TYPE_BF16, 1, 2},
    // i-quants, ternary and MXFP4 (numbered as in ggml.h; not in gguf.h's enum)
    {(ggml_type)16, 256, 66},  {(ggml_type)17, 256, 74},  {(ggml_type)18, 256, 98},
    {(ggml_type)19, 256, 50},  {(ggml_type)20, 32, 18},   {(ggml_type)21, 256, 110},
    {(ggml_type)22, 256, 82},  {(ggml_type)23, 256, 136}, {(ggml_type)29, 256, 56},
    {(ggml_type)34, 256, 54},  {(ggml_type)35, 256, 66},  {(ggml_type)39, 32, 17},
};

static const type_size *find_size(ggml_type t) {
    for (size_t i = 0; i < sizeof TYPE_SIZES / sizeof TYPE_SIZES[0]; i++)
        if (TYPE_SIZES[i].type == t)
            return &TYPE_SIZES[i];
    return NULL;
}

int ggml_type_supported(ggml_type t) {
    switch (t) {
    case GGML_TYPE_F32: case GGML_TYPE_F16: case GGML_TYPE_BF16:
    case GGML_TYPE_Q8_0: case GGML_TYPE_Q4_0: case GGML_TYPE_Q4_1:
        return 1;
    default:
        return 0;
    }
}

uint64_t ggml_type_block_size(ggml_type t) {
    const type_size *s = find_size(t);
    return s ? s->block : 0;
}

uint64_t ggml_type_nbytes(ggml_type t, uint64_t n) {
    const type_size *s = find_size(t);
    if (!s || n % s->block)
        return 0;
    uint64_t blocks = n / s->block;
    if (blocks > UINT64_MAX / s->bytes)
        return 0;
    return blocks * s->bytes;
}

static uint16_t rd16(const unsigned char *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}

void dequant_row(ggml_type t, const void *src, float *dst, uint64_t n) {
    const unsigned char *p = src;
    switch (t) {
    case GGML_TYPE_F32:
        memcpy(dst, p, n * 4);
        break;
    case GGML_TYPE_F16:
        for (uint64_t i = 0; i < n; i++)
            dst[i] = fp16_to_f32(rd16(p + 2 * i));
        break;
    case GGML_TYPE_BF16:
        for (uint64_t i = 0; i < n; i++)
            dst[i] = bf16_to_f32(rd16(p + 2 * i));
        break;
    case GGML_TYPE_Q8_0:
        for (uint64_t b = 0; b < n / 32; b++, p += 34, dst += 32) {
            float d = fp16_to_f32(rd16(p));
            for (int j = 0; j < 32; j++)
                dst[j] = (float)(int8_t)p[2 + j] * d;
        }
        break;
    case GGML_TYPE_Q4_0:
        for (uint64_t b = 0; b < n / 32; b++, p += 18, dst += 32) {
            float d = fp16_to_f32(rd16(p));
            for (int j = 0; j < 16; j++) {
                dst[j] = (float)((p[2 + j] & 0x0f) - 8) * d;
                dst[j + 16] = (float)((p[2 + j] >> 4) - 8) * d;
            }
        }
        break;
    case GGML_TYPE_Q4_1:
        for (uint64_t b = 0; b < n / 32; b++, p += 20, dst += 32) {
            float d = fp16_to_f32(rd16(p)), m = fp16_to_f32(rd16(p + 2));
            for (int j = 0; j < 16; j++) {
                dst[j] = (float)(p[4 + j] & 0x0f) * d + m;
                dst[j + 16] = (float)(p[4 + j] >> 4) * d + m;
            }
        }
        break;
    default: // callers check ggml_type_supported first
        memset(dst, 0, n * sizeof *dst);
        break;
    }
}
