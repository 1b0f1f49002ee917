// sampler.h - turning logits into the next token: greedy, temperature,
// top-k, top-p, min-p, repetition penalty. The sampler owns its RNG, so one
// seed gives one answer.
#ifndef PT_SAMPLER_H
#define PT_SAMPLER_H

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

typedef struct pt_sampler pt_sampler;
pt_sampler *sampler_new(const pt_sampling *p, int vocab_size);
void sampler_free(pt_sampler *s);
void sampler_reseed(pt_sampler *s, uint64_t seed);
// logits (V) may be modified. history: tokens so far (for the penalty).
int32_t sampler_sample(pt_sampler *s, float *logits, const int32_t *history, int n_history);

#endif
