// rng.h - the one seeded generator of the engine: splitmix64 (Steele, Lea,
// Flood 2014). A state is a plain uint64_t the caller owns, so every
// generator is seeded and there is no global state.
#ifndef PT_RNG_H
#define PT_RNG_H

#include <stdint.h>

#define PT_GOLDEN64 0x9E3779B97F4A7C15ull  // 2^64 / golden ratio: splitmix64's increment

// splitmix64's output function: a bijective 64-bit mix.
static inline uint64_t pt_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// Next value of the stream with state *s.
static inline uint64_t pt_splitmix64(uint64_t *s) { return pt_mix64(*s += PT_GOLDEN64); }

// Uniform in [0, 1) with 53 bits.
static inline double pt_rng_u01(uint64_t *s) { return (double)(pt_splitmix64(s) >> 11) * (1.0 / 9007199254740992.0); }

#endif
