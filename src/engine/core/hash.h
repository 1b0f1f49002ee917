// hash.h - FNV-1a 64, the engine's one checksum (optimizer.bin, base-model
// fingerprints). Not cryptographic: it catches corruption and mix-ups.
#ifndef PT_HASH_H
#define PT_HASH_H

#include <stddef.h>
#include <stdint.h>

#define PT_FNV1A_INIT 0xCBF29CE484222325ull

static inline uint64_t pt_fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001B3ull;
    return h;
}

#endif
