// dequant.h - converting stored weight types to float32 (once, at load).
// Supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1. Anything else is refused by name.
#ifndef PT_DEQUANT_H
#define PT_DEQUANT_H

#include <stddef.h>
#include <stdint.h>
#include "io/gguf.h"

float fp16_to_f32(uint16_t h);
uint16_t f32_to_fp16(float f);
float bf16_to_f32(uint16_t h);

int ggml_type_supported(ggml_type t);
// bytes for n elements of type t (n a multiple of the block size), 0 if unknown/unaligned
uint64_t ggml_type_nbytes(ggml_type t, uint64_t n);
uint64_t ggml_type_block_size(ggml_type t);
// dst (n) = dequant(src). n must be a multiple of the block size.
void dequant_row(ggml_type t, const void *src, float *dst, uint64_t n);

#endif
