// bf16.h - float32 <-> bfloat16 (round to nearest even; NaN kept quiet), as
// torch's .to(torch.bfloat16) rounds.
#ifndef PT_BF16_H
#define PT_BF16_H

#include <stdint.h>

static inline uint16_t pt_f32_to_bf16(float f) {
    union { float f; uint32_t u; } x = {f};
    if ((x.u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x.u >> 16) | 0x40);
    return (uint16_t)((x.u + 0x7fffu + ((x.u >> 16) & 1u)) >> 16);
}
static inline float pt_bf16_to_f32(uint16_t h) {
    union { uint32_t u; float f; } x = {(uint32_t)h << 16};
    return x.f;
}

#endif
