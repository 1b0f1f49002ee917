// sampler.h - turning logits into the next token: greedy, temperature,
// top-k, top-p, min-p, repetition penalty. The sampler owns its RNG, so one
// seed gives one answer.
#ifndef PT_SAMPLER_H
#define PT_SAMPLER_H

#include <stdint.h>
#include "infer/sampling.h"

typedef struct pt_sampler pt_sampler;
pt_sampler *sampler_new(const pt_sampling *p, int vocab_size);
void sampler_free(pt_sampler *s);
void sampler_reseed(pt_sampler *s, uint64_t seed);
// logits (V) may be modified. history: tokens so far (for the penalty).
int32_t sampler_sample(pt_sampler *s, float *logits, const int32_t *history, int n_history);

#endif
