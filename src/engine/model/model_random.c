// model_random.c - a model of a given shape with random weights, for
// benchmarks that must not depend on a download (a Llama-2-7B-shaped model,
// say). It is one more model_source for model_load_weights: every tensor
// "exists", norms read as 1 and everything else as uniform noise of
// standard deviation 0.02 (transformers' initializer_range), from a
// counter-based hash of (seed, tensor, index), so it is the same on any
// thread count. No tokenizer: callers feed token ids.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "model/model_internal.h"
#include "core/rng.h"

typedef struct {
    uint64_t seed;
    int n;                 // tensors seen by check
    struct { char name[96]; size_t count; } t[8192];
} random_src;

static int rnd_check(void *ctx, const char *name, int n_dims, const int64_t *shape, pt_err *err) {
    random_src *s = ctx;
    if (s->n >= (int)(sizeof s->t / sizeof s->t[0])) return pt_fail(err, PT_ERR_UNSUPPORTED, "random model: too many tensors");
    snprintf(s->t[s->n].name, sizeof s->t[s->n].name, "%s", name);
    s->t[s->n++].count = (size_t)shape[0] * (size_t)(n_dims == 2 ? shape[1] : 1);
    return PT_OK;
}


static int rnd_read(void *ctx, const char *name, float *dst, int n_head, pt_err *err) {
    (void)n_head;
    random_src *s = ctx;
    int i = 0;
    while (i < s->n && strcmp(s->t[i].name, name)) i++;
    if (i == s->n) return pt_fail(err, PT_ERR_INTERNAL, "random model: %s was not checked", name);
    size_t n = s->t[i].count;
    size_t nl = strlen(name);
    int bias = nl > 5 && !strcmp(name + nl - 5, ".bias");
    if (strstr(name, "norm") || bias) {   // norms' weights 1, every bias 0, as transformers initialises them
        for (size_t j = 0; j < n; j++) dst[j] = bias ? 0.0f : 1.0f;
        return PT_OK;
    }
    uint64_t base = pt_mix64(s->seed ^ (PT_GOLDEN64 * (uint64_t)(i + 1)));
    const float a = 0.02f * 1.7320508f;   // uniform(-a, a) has std 0.02
#pragma omp parallel for schedule(static)
    for (size_t j = 0; j < n; j++) {
        uint64_t z = pt_mix64(base + PT_GOLDEN64 * (j + 1));
        dst[j] = a * ((float)(z >> 40) * (2.0f / 16777216.0f) - 1.0f);
    }
    return PT_OK;
}

int model_random(pt_model *m, const pt_config *cfg, uint64_t seed, pt_err *err) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->source = PT_SRC_HF;
    snprintf(m->path, sizeof m->path, "(random %s)", cfg->name[0] ? cfg->name : cfg->arch);
    int rc = model_set_arch(&m->cfg, cfg->arch[0] ? cfg->arch : "llama", m->path, err);
    if (!rc) rc = model_check_config(&m->cfg, m->path, err);
    if (rc) return rc;
    random_src *s = calloc(1, sizeof *s);
    if (!s) return pt_fail(err, PT_ERR_NOMEM, "out of memory");
    s->seed = seed;
    model_source src = {.ctx = s, .kind = PT_SRC_HF, .unpermute_qk = 0, .check = rnd_check, .read = rnd_read};
    rc = model_load_weights(m, &src, err);
    free(s);
    if (rc) model_free(m);
    return rc;
}

int model_shape(pt_config *c, const char *name, pt_err *err) {
    memset(c, 0, sizeof *c);
    snprintf(c->arch, sizeof c->arch, "llama");
    snprintf(c->name, sizeof c->name, "%s", name);
    c->rms_eps = 1e-5f;
    if (!strcmp(name, "smollm2-135m")) {   // HuggingFaceTB/SmolLM2-135M-Instruct
        c->n_layer = 30; c->n_embd = 576; c->n_ff = 1536; c->n_head = 9; c->n_head_kv = 3; c->head_dim = 64;
        c->vocab_size = 49152; c->max_ctx = 8192; c->rope_theta = 100000.0f; c->tied_embeddings = 1;
    } else if (!strcmp(name, "llama2-7b")) {   // meta-llama/Llama-2-7b-hf
        c->n_layer = 32; c->n_embd = 4096; c->n_ff = 11008; c->n_head = 32; c->n_head_kv = 32; c->head_dim = 128;
        c->vocab_size = 32000; c->max_ctx = 4096; c->rope_theta = 10000.0f; c->tied_embeddings = 0;
    } else if (!strcmp(name, "bloom-560m")) {   // bigscience/bloom-560m (bloomz-560m has the same shape)
        snprintf(c->arch, sizeof c->arch, "bloom");
        c->n_layer = 24; c->n_embd = 1024; c->n_ff = 4096; c->n_head = 16; c->n_head_kv = 16; c->head_dim = 64;
        c->vocab_size = 250880; c->max_ctx = 2048; c->rope_theta = 10000.0f; c->tied_embeddings = 1;
    } else if (!strcmp(name, "gpt2")) {   // openai-community/gpt2 (124M)
        snprintf(c->arch, sizeof c->arch, "gpt2");
        c->n_layer = 12; c->n_embd = 768; c->n_ff = 3072; c->n_head = 12; c->n_head_kv = 12; c->head_dim = 64;
        c->vocab_size = 50257; c->max_ctx = 1024; c->rope_theta = 10000.0f; c->tied_embeddings = 1;
    } else if (!strcmp(name, "tiny")) {   // for tests of the benchmark itself
        c->n_layer = 2; c->n_embd = 64; c->n_ff = 128; c->n_head = 4; c->n_head_kv = 2; c->head_dim = 16;
        c->vocab_size = 300; c->max_ctx = 4096; c->rope_theta = 10000.0f; c->tied_embeddings = 1;
    } else {
        return pt_fail(err, PT_ERR_ARG, "unknown model shape '%s' (use smollm2-135m, llama2-7b, bloom-560m, gpt2 or tiny)", name);
    }
    return PT_OK;
}
