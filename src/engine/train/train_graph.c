// train_graph.c - forward and backward of the decoder with LoRA, for
// training, the family's pieces chosen by model/block.h exactly as
// infer/forward.c chooses them. The forward keeps each layer's activations; the backward walks
// the same list in reverse and produces gradients for the adapter's A and B
// only (the base weights are frozen: only their input gradients are formed).
//
// Letters: B sequences, T tokens each (this step's longest row), R = B*T rows,
// C hidden, F ffn, Q = NH*HD, KV = NKV*HD, V vocab, r LoRA rank.
#include "train/train_graph.h"

#include "lora/adapter_dev.h"
#include "model/block.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NSLOT PT_LIN_COUNT
// Rows of logits alive at once, (ce, V) instead of (R, V): 64 on the CPU
// (cache-sized), 1024 on a device (fewer, larger products keep it busy).
#define CE_CHUNK_HOST 64
#define CE_CHUNK_DEV 1024

struct pt_train_graph {
    pt_backend *be;
    const pt_model *m;
    pt_adapter *a;       // the host adapter (config, layout)
    pt_adapter *ad;      // the same as the backend sees it (adev.view): mods and params in backend memory
    pt_adapter_dev adev; // its mirror, when the graph made it
    pt_adapter_dev *dev; // the mirror in use: &adev, or the caller's
    const pt_bweights *w;  // base weights on the backend (own_w, or shared)
    pt_bweights own_w;
    int ce;              // rows per cross-entropy chunk
    int B, T;            // capacity: B sequences of up to T tokens
    float *mem;          // every buffer below, one allocation (backend memory)
    float *grads;        // (n_params) same layout as a->params
    // saved activations, per layer l (stride R_max rows). The two norms'
    // outputs and silu(gate) * up are not kept: the backward recomputes them
    // (cheap row ops, bit-identical), which saves 2C + F of every row's
    // 7C + 3F-ish floats per layer.
    float *x_in;   // (L+1, R, C) residual stream entering layer l; [L] leaves the last layer
    float *q;      // (L, R, Q) after RoPE
    float *k;      // (L, R, KV) after RoPE
    float *v;      // (L, R, KV)
    float *att;    // (L, R, Q) attention output (o_proj input)
    float *x_mid;  // (L, R, C) after the attention residual
    float *gate;   // (L, R, F)
    float *up;     // (L, R, F)
    float *xn;     // (R, C) scratch: this layer's attention or ffn norm
    float *h;      // (R, F) scratch: this layer's silu(gate) * up (down_proj input)
    float *lora_u; // per module (R, r): A @ dropout(x), at u_off[module]
    size_t *u_off; // (L * NSLOT)
    float *xnf;    // (R, C) final norm
    // scratch
    float *dx, *dxn, *tmp;      // (R, C)
    float *dq, *datt;           // (R, Q)
    float *dk, *dv;             // (R, KV)
    float *dh, *dgate, *dup;    // (R, F)
    float *qkv;                 // (R, Q + 2 KV) a fused projection's output, then its gradient (1 float unfused)
    float *drop;                // (R, max(C, F, Q)) dropped-out module input (only with lora_dropout > 0)
    int drop_cap;               // 1 when drop was allocated
    float *du;                  // (R, r_max)
    float *logits;              // (ce, V)
    float *losses;              // (R)
    float *ones;                // (R) 1.0: a trained bias's gradient is ones^T dout (a K=1 gemm)
    int32_t *tok, *pos, *tgt;   // (R) backend copies of the host arrays below
    int32_t *rows, *tgt_c;      // (R) the rows that predict a target, and those targets, packed
    int32_t *h_tok;             // (5, R) host: tok, pos, tgt, rows, tgt_c, uploaded in one copy
    float *h_loss;              // (R) host copy of losses
    int r_max;
};

#define N_SLICES 29   // the float slices of pt_train_graph.mem, in ptrs order below

// The slices' sizes in floats for a (B, T) graph over modules mods (L *
// NSLOT; r 0 where untargeted); *nu: the LoRA u rows, *r_max the largest r.
static void graph_sizes(const pt_config *c, const pt_lora_module *mods, size_t n_params, float dropout, int B, int T,
                        int ce, size_t sizes[N_SLICES], size_t *u_off, int *r_max) {
    size_t L = c->n_layer, R = (size_t)B * T, C = c->n_embd, F = c->n_ff, V = c->vocab_size;
    size_t Q = (size_t)c->n_head * c->head_dim, KV = (size_t)c->n_head_kv * c->head_dim;
    size_t wide = F > C ? F : C;
    wide = Q > wide ? Q : wide;
    size_t nu = 0;
    *r_max = 0;
    for (size_t i = 0; i < L * NSLOT; i++) {
        if (u_off) u_off[i] = nu;
        if (mods[i].r) {
            nu += R * (size_t)mods[i].r;
            if (mods[i].r > *r_max) *r_max = mods[i].r;
        }
    }
    size_t v[N_SLICES] = {
        n_params,                                         // grads
        (L + 1) * R * C, L * R * Q, L * R * KV, L * R * KV, L * R * Q, L * R * C,
        c->desc->mlp == PT_MLP_SWIGLU ? L * R * F : 1,    // gate: only with one
        L * R * F, R * C, R * F, nu, R * C,               // activations
        R * C, R * C, R * C, R * Q, R * Q, R * KV, R * KV, R * F, R * F, R * F,
        // qkv: a fused projection's output (and a partial rotary's scratch)
        c->desc->qkv == PT_QKV_SPLIT && !(c->rope_dims > 0 && c->rope_dims < c->head_dim) ? 1 : R * (Q + 2 * KV),
        dropout > 0.0f ? R * wide : 1,                    // drop: only with lora_dropout
        R * (size_t)(*r_max ? *r_max : 1), (size_t)ce * V, R, R, // scratch, ones
    };
    memcpy(sizes, v, sizeof v);
}

static size_t slices_floats(const size_t sizes[N_SLICES]) {
    size_t total = 0;
    for (int i = 0; i < N_SLICES; i++) total += (sizes[i] + 15) & ~(size_t)15;  // 64-byte aligned slices
    return total;
}

// Floats of the largest operand a *_w op gets (the device's bf16 copy of it).
static size_t largest_act(const pt_config *c, int B, int T, int ce) {
    size_t R = (size_t)B * T, C = c->n_embd, F = c->n_ff, Q = (size_t)c->n_head * c->head_dim;
    size_t wide = F > C ? F : C;
    wide = Q > wide ? Q : wide;
    return R * wide > (size_t)ce * c->vocab_size ? R * wide : (size_t)ce * c->vocab_size;
}

void train_graph_plan(const pt_model *m, const pt_lora_module *mods, size_t n_params, float dropout, int B, int T,
                      pt_backend *be, int n_threads, pt_train_plan *out) {
    const pt_config *c = &m->cfg;
    const pt_backend_ops *o = be->ops;
    int ce = o->host_memory ? CE_CHUNK_HOST : CE_CHUNK_DEV;
    size_t sizes[N_SLICES], R = (size_t)B * T;
    int r_max;
    graph_sizes(c, mods, n_params, dropout, B, T, ce, sizes, NULL, &r_max);
    memset(out, 0, sizeof *out);
    out->base = o->host_memory && o->weight_dtype == PT_DT_F32 ? 0 : bweights_bytes(m, o->weight_dtype);
    out->adapter = n_params * sizeof(float);
    out->grads = ((n_params + 15) & ~(size_t)15) * sizeof(float);
    out->moments = 2 * n_params * sizeof(float);
    out->activations = slices_floats(sizes) * sizeof(float) - out->grads + 5 * R * sizeof(int32_t);
    // the backend's own scratch at its peak
    if (!strcmp(o->name, "cpu")) {
        // attention: forward (T, T) scores per thread, backward P and dP (T, T) per thread plus every head's dk,
        // dv (2 NH T HD) shared, as backend_cpu*.c sizes it (+1024 floats of slack a thread)
        size_t nt = (size_t)(n_threads > 0 ? n_threads : be->n_threads), TT = (size_t)T * T, shared = 2 * (size_t)c->n_head * T * c->head_dim;
        out->scratch = (2 * TT + (shared + nt - 1) / nt + 1024) * nt * sizeof(float);
    } else if (!strcmp(o->name, "cuda")) {
        out->scratch = largest_act(c, B, T, ce) * 2;   // the bf16 copy of a *_w operand (reserve)
    }   // the naive oracle and emu take their scratch per call, outside the account
    out->job = out->grads + out->moments + out->activations + out->scratch + (o->host_memory ? 0 : out->adapter);
    out->total = out->base + out->adapter + out->job - (o->host_memory ? 0 : out->adapter);
}

static int alloc_all(pt_train_graph *g, pt_err *err) {
    const pt_config *c = &g->m->cfg;
    size_t L = c->n_layer, R = (size_t)g->B * g->T;
    g->u_off = calloc(L * NSLOT, sizeof(size_t));
    if (!g->u_off) return pt_fail(err, PT_ERR_NOMEM, "out of memory for the training graph");
    size_t sizes[N_SLICES];
    graph_sizes(c, g->ad->mods, g->a->n_params, g->a->cfg.lora_dropout, g->B, g->T, g->ce, sizes, g->u_off, &g->r_max);
    float **ptrs[] = {&g->grads, &g->x_in, &g->q, &g->k, &g->v, &g->att, &g->x_mid,
                      &g->gate, &g->up, &g->xn, &g->h, &g->lora_u, &g->xnf, &g->dx, &g->dxn, &g->tmp, &g->dq, &g->datt,
                      &g->dk, &g->dv, &g->dh, &g->dgate, &g->dup, &g->qkv, &g->drop, &g->du, &g->logits, &g->losses,
                      &g->ones};
    size_t n = N_SLICES, total = slices_floats(sizes);
    const pt_backend_ops *o = g->be->ops;
    size_t need = total * sizeof(float) + 5 * R * sizeof(int32_t), avail = o->mem_available(g->be);
    if (need > avail)
        return pt_fail(err, PT_ERR_NOMEM, "training activations need %.0f MiB on %s for batch %d x %d, %.0f MiB are free; "
                       "lower --batch or --max-seq-len", need / 1048576.0, o->name, g->B, g->T, avail / 1048576.0);
    size_t act = largest_act(c, g->B, g->T, g->ce);
    g->mem = o->alloc(g->be, total * sizeof(float));
    g->tok = o->alloc(g->be, 5 * R * sizeof(int32_t));
    g->h_tok = malloc(5 * R * sizeof(int32_t));
    g->h_loss = malloc(R * sizeof(float));
    if (!g->mem || !g->tok || !g->h_tok || !g->h_loss || o->reserve(g->be, act) != 0)
        return pt_fail(err, PT_ERR_NOMEM, "out of memory for training activations (%.0f MiB for batch %d x %d); "
                       "lower --batch or --max-seq-len", need / 1048576.0, g->B, g->T);
    float *p = g->mem;
    for (size_t i = 0; i < n; i++) {
        *ptrs[i] = p;
        p += (sizes[i] + 15) & ~(size_t)15;
    }
    g->drop_cap = g->a->cfg.lora_dropout > 0.0f;
    for (size_t i = 0; i < R; i++) g->h_loss[i] = 1.0f;   // staged through the loss buffer, once
    o->upload(g->be, g->ones, g->h_loss, R * sizeof(float));
    g->pos = g->tok + R;
    g->tgt = g->pos + R;
    g->rows = g->tgt + R;
    g->tgt_c = g->rows + R;
    return PT_OK;
}

int train_graph_create(pt_train_graph **out, pt_backend *be, const pt_model *m, const pt_bweights *bw,
                       pt_adapter *a, int B, int T, pt_err *err) {
    return train_graph_create_shared(out, be, m, bw, a, NULL, B, T, err);
}

int train_graph_create_shared(pt_train_graph **out, pt_backend *be, const pt_model *m, const pt_bweights *bw,
                              pt_adapter *a, pt_adapter_dev *adev, int B, int T, pt_err *err) {
    *out = NULL;
    if (B < 1 || T < 2) return pt_fail(err, PT_ERR_ARG, "training needs batch >= 1 and sequence length >= 2");
    if (a->n_layer != m->cfg.n_layer || a->merged)
        return pt_fail(err, PT_ERR_ARG, "adapter %s does not fit this model (or is merged)", a->name);
    if (m->cfg.sliding_window > 0 && T > m->cfg.sliding_window)   // the training attention has no window
        return pt_fail(err, PT_ERR_UNSUPPORTED, "training rows of %d tokens are longer than the model's sliding window "
                       "(%d): not implemented yet; use --max-seq-len %d or less", T, m->cfg.sliding_window,
                       m->cfg.sliding_window);
    if (m->cfg.desc->pos == PT_POS_LEARNED && T > m->cfg.max_ctx)
        return pt_fail(err, PT_ERR_ARG, "sequences of %d tokens are longer than %s's %d learned positions; use "
                       "--max-seq-len %d or less", T, m->cfg.arch, m->cfg.max_ctx, m->cfg.max_ctx);
    pt_train_graph *g = calloc(1, sizeof *g);
    if (!g) return pt_fail(err, PT_ERR_NOMEM, "out of memory");
    g->be = be;
    g->m = m;
    g->a = a;
    g->B = B;
    g->T = T;
    g->ce = be->ops->host_memory ? CE_CHUNK_HOST : CE_CHUNK_DEV;
    int rc = PT_OK;
    if (bw) {
        g->w = bw;
    } else {
        rc = bweights_init(&g->own_w, be, m, err);
        g->w = &g->own_w;
    }
    if (adev) {
        g->dev = adev;
    } else {
        if (!rc) rc = adapter_dev_init(&g->adev, be, a, err);
        g->dev = &g->adev;
    }
    g->ad = g->dev->mirrored ? &g->dev->view : a;
    if (!rc) rc = alloc_all(g, err);
    if (rc) {
        train_graph_free(g);
        return rc;
    }
    *out = g;
    return PT_OK;
}

void train_graph_free(pt_train_graph *g) {
    if (!g) return;
    if (g->mem) g->be->ops->free(g->be, g->mem);
    if (g->tok) g->be->ops->free(g->be, g->tok);
    free(g->h_tok);
    free(g->h_loss);
    adapter_dev_free(&g->adev);
    bweights_free(&g->own_w);
    free(g->u_off);
    free(g);
}

float *train_graph_grads(pt_train_graph *g) { return g->grads; }
float *train_graph_params(pt_train_graph *g) { return g->ad->params; }
void train_graph_download_params(pt_train_graph *g) { adapter_dev_download(g->dev, g->a); }
void train_graph_upload_params(pt_train_graph *g) { adapter_dev_upload(g->dev, g->a); }

void train_graph_zero_grads(pt_train_graph *g) { g->be->ops->zero(g->be, g->grads, sizeof(float) * g->a->n_params); }

static uint64_t mix(uint64_t a, uint64_t b) {
    uint64_t z = a ^ (b + 0x9E3779B97F4A7C15ull + (a << 6) + (a >> 2));
    z = (z ^ (z >> 31)) * 0xBF58476D1CE4E5B9ull;
    return z ^ (z >> 29);
}

// out (R, M) = inp (R, K) @ W^T (+ b) + scale * (dropout(inp) @ A^T) @ B^T; saves A @ dropout(inp).
static void lin_fwd(pt_train_graph *g, int l, pt_linear slot, float *out, const float *inp, const void *W,
                    const float *b, int R, int K, int M, float p_drop, uint64_t seed) {
    const pt_backend_ops *o = g->be->ops;
    const pt_lora_module *mod = &g->ad->mods[l * NSLOT + slot];
    o->matmul_w(g->be, out, inp, W, mod->bias ? mod->bias : b, R, K, M, 1.0f, 0.0f);   // a trained bias replaces the base's
    if (!mod->A) return;
    const float *xd = inp;
    if (p_drop > 0.0f) {
        o->dropout(g->be, g->drop, inp, (size_t)R * K, p_drop, mix(seed, (uint64_t)(l * NSLOT + slot)));
        xd = g->drop;
    }
    float *u = g->lora_u + g->u_off[l * NSLOT + slot];  // (R, r)
    o->matmul(g->be, u, xd, mod->A, NULL, R, K, mod->r, 1.0f, 0.0f);
    o->matmul(g->be, out, u, mod->B, NULL, R, mod->r, M, mod->scale, 1.0f);
}

// Given dout (R, M) of lin_fwd: dinp (R, K) = beta * dinp + d/dinp; adds dA, dB into grads.
static void lin_bwd(pt_train_graph *g, int l, pt_linear slot, float *dinp, float beta, const float *dout,
                    const float *inp, const void *W, int R, int K, int M, float p_drop, uint64_t seed) {
    const pt_backend_ops *o = g->be->ops;
    o->matmul_w_backward(g->be, dinp, dout, W, R, K, M, beta);  // dout @ W
    const pt_lora_module *mod = &g->ad->mods[l * NSLOT + slot];
    if (mod->bias)   // d bias (1, M) += ones^T (1, R) @ dout (R, M)
        o->gemm(g->be, 1, 0, 1, M, R, 1.0f, g->ones, 1, dout, M, 1.0f, g->grads + (mod->bias - g->ad->params), M);
    if (!mod->A) return;
    int r = mod->r;
    float *gA = g->grads + (mod->A - g->ad->params), *gB = g->grads + (mod->B - g->ad->params);
    const float *u = g->lora_u + g->u_off[l * NSLOT + slot];
    uint64_t ms = mix(seed, (uint64_t)(l * NSLOT + slot));
    o->gemm(g->be, 1, 0, M, r, R, mod->scale, dout, M, u, r, 1.0f, gB, r);      // dB += s dout^T u
    o->gemm(g->be, 0, 0, R, r, M, mod->scale, dout, M, mod->B, r, 0.0f, g->du, r); // du = s dout B
    const float *xd = inp;
    if (p_drop > 0.0f) {
        o->dropout(g->be, g->drop, inp, (size_t)R * K, p_drop, ms);
        xd = g->drop;
    }
    o->gemm(g->be, 1, 0, r, K, R, 1.0f, g->du, r, xd, K, 1.0f, gA, K);          // dA += du^T xd
    if (p_drop > 0.0f) {  // d inp += dropout'(du @ A): the same mask again
        o->gemm(g->be, 0, 0, R, K, r, 1.0f, g->du, r, mod->A, K, 0.0f, g->drop, K);
        o->dropout(g->be, g->drop, g->drop, (size_t)R * K, p_drop, ms);
        o->add(g->be, dinp, dinp, g->drop, (size_t)R * K);
    } else {
        o->gemm(g->be, 0, 0, R, K, r, 1.0f, g->du, r, mod->A, K, 1.0f, dinp, K);
    }
}

int train_graph_step(pt_train_graph *g, const int32_t *tokens, const uint8_t *mask, const int *lengths,
                     int backward, float grad_scale, uint64_t dropout_seed,
                     float *loss, int *n_targets, pt_err *err) {
    pt_backend *be = g->be;
    const pt_backend_ops *o = be->ops;
    const pt_config *c = &g->m->cfg;
    const pt_bweights *w = g->w;
    int L = c->n_layer, C = c->n_embd, F = c->n_ff, V = c->vocab_size, HD = c->head_dim;
    int NH = c->n_head, NKV = c->n_head_kv, Q = NH * HD, KV = NKV * HD;
    int B = g->B, T = 0;
    for (int b = 0; b < B; b++) {
        if (lengths[b] < 0 || lengths[b] > g->T)
            return pt_fail(err, PT_ERR_ARG, "row %d has %d tokens; the graph holds 1..%d", b, lengths[b], g->T);
        if (lengths[b] > T) T = lengths[b];
    }
    if (T < 2) return pt_fail(err, PT_ERR_ARG, "a batch needs a row of at least 2 tokens");
    int R = B * T;  // this step's rows: (B, T) packed, each row padded to T
    float p_drop = backward ? g->a->cfg.lora_dropout : 0.0f;
    if (p_drop > 0.0f && g->drop_cap == 0)
        return pt_fail(err, PT_ERR_ARG, "lora_dropout was 0 when the training graph was made; make it again");

    // inputs: tokens (pad 0), positions 0..T-1 per row, targets shifted left
    size_t Rs = (size_t)g->B * g->T;  // the host staging rows: tok, pos, tgt, rows, tgt_c
    int32_t *tok = g->h_tok, *pos = tok + Rs, *tgt = pos + Rs, *hrows = tgt + Rs, *htgt_c = hrows + Rs;
    int nt = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int i = b * T + t, in = t < lengths[b];
            int32_t id = in ? tokens[(size_t)b * g->T + t] : 0;
            if (id < 0 || id >= V) return pt_fail(err, PT_ERR_ARG, "token id %d outside the vocabulary", id);
            tok[i] = id;
            pos[i] = t;
            int next = t + 1 < lengths[b] && mask[(size_t)b * g->T + t + 1];
            tgt[i] = next ? tokens[(size_t)b * g->T + t + 1] : -1;
            nt += next;
        }
    *n_targets = nt;
    *loss = 0.0f;
    if (nt == 0) return PT_OK;  // nothing to learn from; no gradient
    for (int i = 0, k = 0; i < R; i++)
        if (tgt[i] >= 0) {
            hrows[k] = i;
            htgt_c[k++] = tgt[i];
        }
    o->upload(be, g->tok, g->h_tok, 5 * Rs * sizeof(int32_t));
    tok = g->tok;
    pos = g->pos;

#define LS(p, l, n) ((p) + (size_t)(l) * (size_t)R * (size_t)(n))  // layer l's (R, n) slice
#define BI(p, l, n) ((p) ? (p) + (size_t)(l) * (size_t)(n) : NULL)   // layer l's bias or NULL
#define WL(p, l, n) bw_layer(w, (p), (l), (n))                         // layer l's base weight
    pt_adapter *a = g->ad;
    const pt_arch *ar = c->desc;
    float eps = c->rms_eps;
    int fused = ar->qkv != PT_QKV_SPLIT, QKV = Q + 2 * KV, alibi = ar->pos == PT_POS_ALIBI;
    int rot = c->rope_dims > 0 && c->rope_dims < HD ? c->rope_dims : HD, par = c->parallel_residual;
    if (a->save_embed)  // modules_to_save copies (float32, trained) replace the base's
        o->embedding(be, g->x_in, tok, a->save_embed, R, C);
    else
        o->embedding_w(be, g->x_in, tok, w->tok_embd, R, C);
    block_add_positions(be, ar, g->x_in, g->dx, pos, w->pos_embd, R, C);   // GPT-2's wpe (frozen: no gradient)
    if (w->emb_norm) {  // BLOOM's word_embeddings_layernorm; its input is kept in dx for the backward
        o->copy(be, g->dx, g->x_in, sizeof(float) * (size_t)R * C);
        block_norm(be, ar, g->x_in, g->dx, w->emb_norm, w->emb_norm_b, R, C, eps);
    }
    for (int l = 0; l < L; l++) {
        float *x = LS(g->x_in, l, C), *xn1 = g->xn, *q = LS(g->q, l, Q), *k = LS(g->k, l, KV);
        float *v = LS(g->v, l, KV), *att = LS(g->att, l, Q), *xm = LS(g->x_mid, l, C), *xn2 = g->xn;
        float *ga = LS(g->gate, l, F), *upl = LS(g->up, l, F), *h = g->h, *xo = LS(g->x_in, l + 1, C);
        block_norm(be, ar, xn1, x, w->attn_norm + (size_t)l * C, BI(w->attn_norm_b, l, C), R, C, eps);
        if (fused) {
            lin_fwd(g, l, PT_LIN_QKV, g->qkv, xn1, WL(w->wqkv, l, (size_t)QKV * C), BI(w->bqkv, l, QKV), R, C, QKV, p_drop,
                    dropout_seed);
            block_split_qkv(be, ar, q, k, v, g->qkv, R, NH, NKV, HD);
        } else {
            lin_fwd(g, l, PT_LIN_Q, q, xn1, WL(w->wq, l, (size_t)Q * C), BI(w->bq, l, Q), R, C, Q, p_drop, dropout_seed);
            lin_fwd(g, l, PT_LIN_K, k, xn1, WL(w->wk, l, (size_t)KV * C), BI(w->bk, l, KV), R, C, KV, p_drop, dropout_seed);
            lin_fwd(g, l, PT_LIN_V, v, xn1, WL(w->wv, l, (size_t)KV * C), BI(w->bv, l, KV), R, C, KV, p_drop, dropout_seed);
        }
        if (ar->pos == PT_POS_ROPE) {
            block_rope(be, q, g->qkv, pos, R, NH, HD, rot, c->rope_theta, 0);
            block_rope(be, k, g->qkv, pos, R, NKV, HD, rot, c->rope_theta, 0);
        }
        for (int b = 0; b < B; b++)  // each sequence attends causally to itself only
            o->attention(be, att + (size_t)b * T * Q, q + (size_t)b * T * Q, k + (size_t)b * T * KV,
                         v + (size_t)b * T * KV, T, 0, NH, NKV, HD, 0, alibi);
        lin_fwd(g, l, PT_LIN_O, g->tmp, att, WL(w->wo, l, (size_t)C * Q), BI(w->bo, l, C), R, Q, C, p_drop, dropout_seed);
        o->add(be, xm, x, g->tmp, (size_t)R * C);   // x_mid = x + attention (parallel: the MLP still reads x)
        block_norm(be, ar, xn2, par ? x : xm, w->ffn_norm + (size_t)l * C, BI(w->ffn_norm_b, l, C), R, C, eps);
        if (block_has_gate(ar))
            lin_fwd(g, l, PT_LIN_GATE, ga, xn2, WL(w->w_gate, l, (size_t)F * C), NULL, R, C, F, p_drop, dropout_seed);
        lin_fwd(g, l, PT_LIN_UP, upl, xn2, WL(w->w_up, l, (size_t)F * C), BI(w->b_up, l, F), R, C, F, p_drop, dropout_seed);
        block_act(be, ar, h, ga, upl, (size_t)R * F);
        lin_fwd(g, l, PT_LIN_DOWN, g->tmp, h, WL(w->w_down, l, (size_t)C * F), BI(w->b_down, l, C), R, F, C, p_drop,
                dropout_seed);
        o->add(be, xo, xm, g->tmp, (size_t)R * C);
    }
    float *xL = LS(g->x_in, L, C);
    block_norm(be, ar, g->xnf, xL, w->out_norm, w->out_norm_b, R, C, eps);

    // Only the nt rows that predict a target need the head (in answer-only
    // SFT most rows do not): gather them, then head + cross-entropy a chunk at
    // a time, each chunk's logit gradient going straight into d xnf, so
    // (R, V) never exists. g->tmp holds the gathered rows, g->dx their gradient.
    // The losses stay on the backend until the last chunk: one download.
    float gscale = grad_scale / (float)nt;
    o->embedding(be, g->tmp, g->rows, g->xnf, nt, C);  // a gather of rows
    for (int r0 = 0; r0 < nt; r0 += g->ce) {
        int rows = nt - r0 < g->ce ? nt - r0 : g->ce;
        const float *xc = g->tmp + (size_t)r0 * C;
        if (a->save_head)
            o->matmul(be, g->logits, xc, a->save_head, NULL, rows, C, V, 1.0f, 0.0f);
        else
            o->matmul_w(be, g->logits, xc, w->lm_head, NULL, rows, C, V, 1.0f, 0.0f);
        o->cross_entropy(be, g->logits, g->losses + r0, g->tgt_c + r0, rows, V, gscale);
        if (backward && a->save_head) {  // d xnf = dlogits @ head;  d head (V, C) += dlogits^T @ xnf
            o->gemm(be, 0, 0, rows, C, V, 1.0f, g->logits, V, a->save_head, C, 0.0f, g->dx + (size_t)r0 * C, C);
            o->gemm(be, 1, 0, V, C, rows, 1.0f, g->logits, V, xc, C, 1.0f, g->grads + (a->save_head - a->params), C);
        } else if (backward) {
            o->matmul_w_backward(be, g->dx + (size_t)r0 * C, g->logits, w->lm_head, rows, C, V, 0.0f);
        }
    }
    if (backward) {  // scatter the gathered rows' gradient back; other rows get none
        o->zero(be, g->dxn, sizeof(float) * (size_t)R * C);
        o->embedding_backward(be, g->dxn, g->dx, g->rows, nt, C);
    }
    float *losses = g->h_loss;
    o->download(be, losses, g->losses, sizeof(float) * nt);
    double total = 0.0;
    for (int i = 0; i < nt; i++) total += losses[i];
    *loss = (float)(total / nt);
    if (!isfinite(*loss) || !backward) return o->check(be, err);  // the caller reports a NaN; no backward through it

    o->zero(be, g->dx, sizeof(float) * (size_t)R * C);
    block_norm_backward(be, ar, g->dx, g->dxn, xL, w->out_norm, R, C, eps);
    for (int l = L - 1; l >= 0; l--) {
        float *x = LS(g->x_in, l, C), *xn1 = g->xn, *q = LS(g->q, l, Q), *k = LS(g->k, l, KV);
        float *v = LS(g->v, l, KV), *att = LS(g->att, l, Q), *xm = LS(g->x_mid, l, C), *xn2 = g->xn;
        float *ga = LS(g->gate, l, F), *upl = LS(g->up, l, F), *h = g->h;
        // ffn: x_out = x_mid + down(act(gate(xn2), up(xn2))); h and xn2 recomputed as the forward made them.
        // Parallel residual: xn2 = norm2(x), so its gradient goes to x, and the
        // attention's output gets d x_out alone: kept in tmp.
        if (par) o->copy(be, g->tmp, g->dx, sizeof(float) * (size_t)R * C);
        block_act(be, ar, h, ga, upl, (size_t)R * F);
        block_norm(be, ar, xn2, par ? x : xm, w->ffn_norm + (size_t)l * C, BI(w->ffn_norm_b, l, C), R, C, eps);
        lin_bwd(g, l, PT_LIN_DOWN, g->dh, 0.0f, g->dx, h, WL(w->w_down, l, (size_t)C * F), R, F, C, p_drop, dropout_seed);
        block_act_backward(be, ar, g->dgate, g->dup, g->dh, ga, upl, (size_t)R * F);
        if (block_has_gate(ar)) {
            lin_bwd(g, l, PT_LIN_GATE, g->dxn, 0.0f, g->dgate, xn2, WL(w->w_gate, l, (size_t)F * C), R, C, F, p_drop,
                    dropout_seed);
            lin_bwd(g, l, PT_LIN_UP, g->dxn, 1.0f, g->dup, xn2, WL(w->w_up, l, (size_t)F * C), R, C, F, p_drop, dropout_seed);
        } else {
            lin_bwd(g, l, PT_LIN_UP, g->dxn, 0.0f, g->dup, xn2, WL(w->w_up, l, (size_t)F * C), R, C, F, p_drop, dropout_seed);
        }
        block_norm_backward(be, ar, g->dx, g->dxn, par ? x : xm, w->ffn_norm + (size_t)l * C, R, C, eps);
        // attention: x_mid = x + o(attn(rope(q(xn1)), rope(k(xn1)), v(xn1)))
        lin_bwd(g, l, PT_LIN_O, g->datt, 0.0f, par ? g->tmp : g->dx, att, WL(w->wo, l, (size_t)C * Q), R, Q, C, p_drop,
                dropout_seed);
        for (int b = 0; b < B; b++)
            o->attention_backward(be, g->dq + (size_t)b * T * Q, g->dk + (size_t)b * T * KV, g->dv + (size_t)b * T * KV,
                                  g->datt + (size_t)b * T * Q, q + (size_t)b * T * Q, k + (size_t)b * T * KV,
                                  v + (size_t)b * T * KV, att + (size_t)b * T * Q, T, NH, NKV, HD, alibi);
        if (ar->pos == PT_POS_ROPE) {
            block_rope(be, g->dq, g->qkv, pos, R, NH, HD, rot, c->rope_theta, 1);
            block_rope(be, g->dk, g->qkv, pos, R, NKV, HD, rot, c->rope_theta, 1);
        }
        block_norm(be, ar, xn1, x, w->attn_norm + (size_t)l * C, BI(w->attn_norm_b, l, C), R, C, eps);   // recomputed
        if (fused) {
            block_join_qkv(be, ar, g->qkv, g->dq, g->dk, g->dv, R, NH, NKV, HD);
            lin_bwd(g, l, PT_LIN_QKV, g->dxn, 0.0f, g->qkv, xn1, WL(w->wqkv, l, (size_t)QKV * C), R, C, QKV, p_drop,
                    dropout_seed);
        } else {
            lin_bwd(g, l, PT_LIN_Q, g->dxn, 0.0f, g->dq, xn1, WL(w->wq, l, (size_t)Q * C), R, C, Q, p_drop, dropout_seed);
            lin_bwd(g, l, PT_LIN_K, g->dxn, 1.0f, g->dk, xn1, WL(w->wk, l, (size_t)KV * C), R, C, KV, p_drop, dropout_seed);
            lin_bwd(g, l, PT_LIN_V, g->dxn, 1.0f, g->dv, xn1, WL(w->wv, l, (size_t)KV * C), R, C, KV, p_drop, dropout_seed);
        }
        block_norm_backward(be, ar, g->dx, g->dxn, x, w->attn_norm + (size_t)l * C, R, C, eps);
    }
    if (w->emb_norm && a->save_embed) {  // through the embedding's norm: its input, recomputed, is the embedding rows
        o->embedding(be, g->tmp, tok, a->save_embed, R, C);
        o->copy(be, g->dxn, g->dx, sizeof(float) * (size_t)R * C);
        o->zero(be, g->dx, sizeof(float) * (size_t)R * C);
        block_norm_backward(be, ar, g->dx, g->dxn, g->tmp, w->emb_norm, R, C, eps);
    }
    if (a->save_embed)  // dx is now d(embedding rows): scatter into the saved table's gradient
        o->embedding_backward(be, g->grads + (a->save_embed - a->params), g->dx, tok, R, C);
#undef LS
#undef BI
#undef WL
    return o->check(be, err);
}
