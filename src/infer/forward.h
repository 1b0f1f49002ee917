// forward.h - the decoder forward pass over a backend, with its KV cache.
// A pt_runtime holds one copy of the weights on the backend plus the
// activation buffers and the cache; nothing is allocated per call.
#ifndef PT_FORWARD_H
#define PT_FORWARD_H

#include "lora/adapter_dev.h"
#include "backend/backend.h"
#include "lora/lora.h"
#include "model/model.h"
#include "model/weights_dev.h"

typedef struct {
    pt_backend *be;          // not owned
    const pt_model *model;   // not owned
    const pt_bweights *w;    // base weights on the backend (own_w, or shared)
    pt_bweights own_w;       // used when no shared copy was given
    const pt_qlayer *ql;     // (L) quantised weights for small-N products, or NULL
    pt_qmat q_head;          // quantised output head (data NULL: none)
    int q_max_n;             // use the quantised weights when a call has <= q_max_n tokens
    int max_batch;           // N: tokens per forward chunk
    int n_ctx;               // T: KV-cache capacity in tokens
    int n_past;              // tokens already in the cache
    // activations on the backend
    float *x;      // (N, C) residual stream
    float *xb;     // (N, C) normed input / attention output
    float *q;      // (N, Q)
    float *k;      // (N, KV)  scratch before copy into the cache
    float *v;      // (N, KV)
    float *att;    // (N, Q)
    float *hg;     // (N, F) gate
    float *hu;     // (N, F) up
    float *logits; // (N, V)
    float *kcache; // (L, T, KV)
    float *vcache; // (L, T, KV)
    const pt_adapter *adapter; // active LoRA adapter as the backend sees it (adev.view), or NULL for the base
    pt_adapter_dev adev;       // its mirror on the backend (aliases the host adapter on the CPU)
    float adapter_scale;       // user scale on top of each module's alpha/r
    float *lora_tmp;           // (N, r_max) scratch for A x
    int lora_tmp_r;            // r_max the scratch was sized for
    int32_t *tok_dev; // (N)
    int32_t *pos_dev; // (N)
} pt_runtime;

int runtime_init(pt_runtime *rt, pt_backend *be, const pt_model *m, int n_ctx, int max_batch, pt_err *err);
// As runtime_init, reading the base from bw (uploaded by the caller, who
// keeps it alive and may share it with a training graph) instead of its own.
int runtime_init_shared(pt_runtime *rt, pt_backend *be, const pt_model *m, const pt_bweights *bw,
                        int n_ctx, int max_batch, pt_err *err);
void runtime_free(pt_runtime *rt);
void runtime_reset(pt_runtime *rt);              // empties the cache
void runtime_truncate(pt_runtime *rt, int n_past); // keeps the first n_past cached tokens

// Makes a the active adapter (NULL: the base model) at user scale `scale`.
// The cache is emptied: cached keys/values were made with the old weights.
// On a device backend a's parameters are copied there now: call again after
// they change on the host (a finished training run) to use the new values.
int runtime_set_adapter(pt_runtime *rt, const pt_adapter *a, float scale, pt_err *err);

// Runs tokens (n) at positions n_past.. and appends them to the cache.
// logits_out (host): if all_logits, (n, V); else (V) for the last token only. May be NULL.
int runtime_forward(pt_runtime *rt, const int32_t *tokens, int n, float *logits_out, int all_logits, pt_err *err);

#endif
