// dequant.cuh - GGUF quantised blocks to bf16 on the device: the base
// weights of a Q4_0 / Q4_1 / Q8_0 model are uploaded as their blocks (a
// quarter to a half of float32's bytes over the bus) and expanded once, on
// the GPU, into the bf16 copy the products read. Element for element the
// same value as dequant.c's float32 followed by pt_f32_to_bf16: each block
// value is q * d (+ m), where q * d is exact in float32 (d has 11 bits,
// q at most 8), so at most the one addition rounds, with or without FMA.
// Written only with what cuda_compat.cuh allows.
//
// Blocks of 32 elements:   Q8_0 {fp16 d; int8 q[32]}            34 bytes  x = q*d
//                          Q4_0 {fp16 d; u8 qs[16]}             18 bytes  x = (nibble-8)*d
//                          Q4_1 {fp16 d; fp16 m; u8 qs[16]}     20 bytes  x = nibble*d + m
// (low nibble of qs[j] is element j, the high nibble element j+16).
#ifndef PT_DEQUANT_CUH
#define PT_DEQUANT_CUH

#include "cuda_compat.cuh"
#include "kernels.cuh"

#include <stddef.h>
#include <stdint.h>

#define PTK_Q4_0 2   // ggml_type numbers (gguf.h)
#define PTK_Q4_1 3
#define PTK_Q8_0 8

// fp16_to_f32 of dequant.c, bit for bit (subnormals normalised, NaN payload kept)
static __host__ __device__ __forceinline__ float ptk_fp16(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {
            uint32_t e = 113;
            while (!(mant & 0x400u)) {
                mant <<= 1;
                e--;
            }
            bits = sign | (e << 23) | ((mant & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    }
    union { uint32_t u; float f; } x;
    x.u = bits;
    return x.f;
}

static __host__ __device__ __forceinline__ int ptk_qblock_bytes(int type) {
    return type == PTK_Q8_0 ? 34 : type == PTK_Q4_1 ? 20 : type == PTK_Q4_0 ? 18 : 0;
}

// out (n_blocks * 32) bf16 bits from n_blocks consecutive blocks of `type`
static __global__ void ptk_dequant_bf16_kernel(uint16_t *__restrict__ out, const uint8_t *__restrict__ blocks, int type,
                                               size_t n_blocks) {
    const int bb = ptk_qblock_bytes(type);
    PTK_FOR(i, n_blocks * 32) {
        const uint8_t *p = blocks + (i / 32) * (size_t)bb;
        int j = (int)(i % 32);
        float d = ptk_fp16((uint16_t)(p[0] | (p[1] << 8))), x;
        if (type == PTK_Q8_0) {
            x = (float)(int8_t)p[2 + j] * d;
        } else if (type == PTK_Q4_0) {
            uint8_t q = p[2 + (j & 15)];
            x = (float)((j < 16 ? q & 0x0f : q >> 4) - 8) * d;
        } else {
            float m = ptk_fp16((uint16_t)(p[2] | (p[3] << 8)));
            uint8_t q = p[4 + (j & 15)];
            x = (float)(j < 16 ? q & 0x0f : q >> 4) * d + m;
        }
        out[i] = ptk_bf16_bits(x);
    }
}
// type one of PTK_Q4_0, PTK_Q4_1, PTK_Q8_0 (others: nothing is written)
static inline void ptk_dequant_bf16(cudaStream_t s, uint16_t *out, const uint8_t *blocks, int type, size_t n_blocks) {
    if (n_blocks && ptk_qblock_bytes(type))
        PT_LAUNCH(ptk_dequant_bf16_kernel, ptk_grid(n_blocks * 32, PTK_THREADS), PTK_THREADS, 0, s, out, blocks, type,
                  n_blocks);
}

#endif
