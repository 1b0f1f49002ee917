// sampling.h - how the next token is chosen: the settings (llama.cpp's
// meanings), plain data for the public header and the sampler alike.
#ifndef PT_SAMPLING_H
#define PT_SAMPLING_H

#include <stdint.h>

typedef struct {
    float temp;            // <= 0: greedy (argmax), deterministic
    int top_k;             // <= 0: off
    float top_p;           // >= 1: off
    float min_p;           // <= 0: off
    float repeat_penalty;  // 1: off (llama.cpp's: logit/p if > 0 else logit*p)
    int repeat_last_n;     // window of history the penalty looks at
    uint64_t seed;
} pt_sampling;

void sampling_defaults(pt_sampling *p); // temp 0.7, top_k 40, top_p 0.95, min_p 0.05, rp 1.0, last_n 64, seed 42

#endif
