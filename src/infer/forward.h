// forward.h - the decoder forward pass over a backend, with its KV cache.
// A pt_runtime holds the activation buffers and the KV caches of one or
// more sequences (slots); it reads the base weights from a pt_bweights (its
// own, or one shared with other runtimes and training graphs); nothing is
// allocated per call.
//
// Each slot has its own cache, position and adapter (a LoRA as the backend
// sees it, at a user scale), so one forward call can run several sequences
// at once - a compare's columns, each on its own adapter: the base products
// run once over every row and each slot's rows add their own adapter.
// Every row is computed as it would be alone (row-independent products), so
// a batched answer equals the single one.
#ifndef PT_FORWARD_H
#define PT_FORWARD_H

#include "backend/backend.h"
#include "lora/adapter_dev.h"
#include "lora/lora.h"
#include "model/model.h"
#include "model/weights_dev.h"

typedef struct {
    int n_past;                 // tokens in this slot's cache
    const pt_adapter *adapter;  // active LoRA as the backend sees it, or NULL for the base
    float scale;                // user scale on top of each module's alpha/r
    pt_adapter_dev own;         // the mirror runtime_set_adapter made for it (unused with runtime_seq_use)
} pt_rt_seq;

typedef struct {
    pt_backend *be;          // not owned
    const pt_model *model;   // not owned
    const pt_bweights *w;    // base weights on the backend (own_w, or shared)
    pt_bweights own_w;       // used when no shared copy was given
    const pt_qlayer *ql;     // (L) quantised weights for small-N products, or NULL
    pt_qmat q_head;          // quantised output head (data NULL: none)
    int q_max_n;             // use the quantised weights when every slot's rows in a call are <= q_max_n
    int max_batch;           // N: rows per forward chunk
    int n_ctx;               // T: KV-cache capacity of each slot, in tokens
    int n_seq;               // S: slots
    pt_rt_seq *seq;          // (S)
    volatile int *abort;     // when set, checked between chunks: PT_ERR_ABORTED (may be NULL)
    // activations on the backend
    float *x;      // (N, C) residual stream
    float *xb;     // (N, C) normed input / attention output
    float *q;      // (N, Q)
    float *k;      // (N, KV)  new keys before they go into the slots' caches
    float *v;      // (N, KV)
    float *att;    // (N, Q)
    float *qkv;    // (N, Q + 2 KV) a fused projection's output before the split (and a partial rotary's scratch), or NULL
    float *xpar;   // (N, C) the attention's output while a parallel-residual MLP runs, or NULL
    float *ones;   // (N) 1.0: broadcasts an adapter's trained bias over rows (a K=1 gemm)
    float *hg;     // (N, F) gate
    float *hu;     // (N, F) up
    float *logits; // (N, V)
    float *kcache; // (L, S, T, KV)
    float *vcache; // (L, S, T, KV)
    float *lora_tmp;           // (N, r_max) scratch for A x
    int lora_tmp_r;            // r_max the scratch was sized for
    int32_t *tok_dev; // (N)
    int32_t *pos_dev; // (N)
} pt_runtime;

// One slot: the single-sequence runtime. The base is uploaded (aliased on the CPU).
int runtime_init(pt_runtime *rt, pt_backend *be, const pt_model *m, int n_ctx, int max_batch, pt_err *err);
// As runtime_init, reading the base from bw (uploaded by the caller, who
// keeps it alive and may share it with other runtimes and training graphs).
int runtime_init_shared(pt_runtime *rt, pt_backend *be, const pt_model *m, const pt_bweights *bw,
                        int n_ctx, int max_batch, pt_err *err);
// n_seq slots of n_ctx tokens each; bw NULL: its own base.
int runtime_init_multi(pt_runtime *rt, pt_backend *be, const pt_model *m, const pt_bweights *bw, int n_seq,
                       int n_ctx, int max_batch, pt_err *err);
void runtime_free(pt_runtime *rt);
void runtime_reset(pt_runtime *rt);                // empties every slot's cache
void runtime_truncate(pt_runtime *rt, int n_past); // slot 0 keeps its first n_past cached tokens

// Makes a the active adapter of slot 0 (NULL: the base model) at user scale
// `scale`, and empties the cache (made with the old weights). On a device
// backend a's parameters are copied there now: call again after they change
// on the host. On failure nothing changes: the old adapter stays active over
// its own cache.
int runtime_set_adapter(pt_runtime *rt, const pt_adapter *a, float scale, pt_err *err);

// Slot s reads `view` (an adapter already on this backend: the host adapter
// on the CPU, an adapter_dev mirror on a device; NULL: the base) at scale.
// The cache is kept: the caller knows whether it is still valid (see
// adapter_touches_cache). Fails (nothing changed) when the view does not fit
// the model or its scratch cannot be had.
int runtime_seq_use(pt_runtime *rt, int s, const pt_adapter *view, float scale, pt_err *err);
void runtime_seq_truncate(pt_runtime *rt, int s, int n_past);
// Slot dst's cache becomes the first n tokens of slot src's (a shared prefill).
void runtime_seq_copy(pt_runtime *rt, int dst, int src, int n);

// Runs tokens (n) in slot 0 at positions n_past.. and appends them to its cache.
// logits_out (host): if all_logits, (n, V); else (V) for the last token only. May be NULL.
int runtime_forward(pt_runtime *rt, const int32_t *tokens, int n, float *logits_out, int all_logits, pt_err *err);

// Several slots in one call: segment i runs its n tokens in slot seq (each
// slot at most once) at that slot's positions. logits_out (host): with
// all_logits (sum of n, V) in segment order, else (n_segs, V), the last row
// of each segment. May be NULL.
typedef struct {
    int seq;
    const int32_t *tokens;
    int n;
} pt_rt_segment;
int runtime_forward_batch(pt_runtime *rt, const pt_rt_segment *segs, int n_segs, float *logits_out, int all_logits,
                          pt_err *err);

#endif
