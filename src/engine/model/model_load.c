// model_load.c - model_load dispatch (GGUF file or HF folder), the weight
// slots both sources fill, and model_free / model_linear_names.
#include "model/model.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/model_internal.h"

// Which slots are stacked per layer.
static int per_layer(weight_slot s) {
    return !(s == W_TOK_EMBD || s == W_POS_EMBD || s == W_EMB_NORM || s == W_EMB_NORM_B || s == W_OUT_NORM || s == W_OUT_NORM_B ||
             s == W_LM_HEAD);
}

// PyTorch shape of one layer's slice of slot s; returns n_dims.
static int slot_shape(const pt_config *c, weight_slot s, int64_t shape[2]) {
    int64_t C = c->n_embd, F = c->n_ff, V = c->vocab_size;
    int64_t Q = (int64_t)c->n_head * c->head_dim, KV = (int64_t)c->n_head_kv * c->head_dim;
    switch (s) {
    case W_TOK_EMBD: case W_LM_HEAD: shape[0] = V; shape[1] = C; return 2;
    case W_POS_EMBD: shape[0] = c->max_ctx; shape[1] = C; return 2;
    case W_EMB_NORM: case W_EMB_NORM_B: case W_ATTN_NORM: case W_ATTN_NORM_B: case W_FFN_NORM: case W_FFN_NORM_B:
    case W_OUT_NORM: case W_OUT_NORM_B: case W_BO: case W_BDOWN: shape[0] = C; return 1;
    case W_QKV: shape[0] = Q + 2 * KV; shape[1] = C; return 2;
    case W_BQKV: shape[0] = Q + 2 * KV; return 1;
    case W_BUP: shape[0] = F; return 1;
    case W_Q: shape[0] = Q; shape[1] = C; return 2;
    case W_K: case W_V: shape[0] = KV; shape[1] = C; return 2;
    case W_BQ: shape[0] = Q; return 1;
    case W_BK: case W_BV: shape[0] = KV; return 1;
    case W_O: shape[0] = C; shape[1] = Q; return 2;
    case W_GATE: case W_UP: shape[0] = F; shape[1] = C; return 2;
    case W_DOWN: shape[0] = C; shape[1] = F; return 2;
    default: return 0;
    }
}

static float **slot_field(pt_weights *w, weight_slot s) {
    switch (s) {
    case W_TOK_EMBD: return &w->tok_embd;
    case W_POS_EMBD: return &w->pos_embd;
    case W_EMB_NORM: return &w->emb_norm;
    case W_EMB_NORM_B: return &w->emb_norm_b;
    case W_ATTN_NORM: return &w->attn_norm;
    case W_ATTN_NORM_B: return &w->attn_norm_b;
    case W_QKV: return &w->wqkv;
    case W_BQKV: return &w->bqkv;
    case W_BO: return &w->bo;
    case W_FFN_NORM_B: return &w->ffn_norm_b;
    case W_BUP: return &w->b_up;
    case W_BDOWN: return &w->b_down;
    case W_OUT_NORM_B: return &w->out_norm_b;
    case W_Q: return &w->wq;
    case W_K: return &w->wk;
    case W_V: return &w->wv;
    case W_BQ: return &w->bq;
    case W_BK: return &w->bk;
    case W_BV: return &w->bv;
    case W_O: return &w->wo;
    case W_FFN_NORM: return &w->ffn_norm;
    case W_GATE: return &w->w_gate;
    case W_UP: return &w->w_up;
    case W_DOWN: return &w->w_down;
    case W_OUT_NORM: return &w->out_norm;
    case W_LM_HEAD: return &w->lm_head;
    default: return NULL;
    }
}

static const char *slot_fmt(const pt_config *c, pt_model_source kind, weight_slot s) {
    return kind == PT_SRC_GGUF ? c->desc->gguf[s] : c->desc->hf[s];
}

static int slot_used(const pt_config *c, const model_source *src, weight_slot s) {
    if (!slot_fmt(c, src->kind, s))
        return 0;
    if (s == W_BQ || s == W_BK || s == W_BV)
        return c->has_qkv_bias;
    if (s == W_LM_HEAD)
        return !c->tied_embeddings;
    return 1;
}

int model_slot_per_layer(weight_slot s) { return per_layer(s); }

int model_slot(const pt_model *m, weight_slot s, int layer, const float **data, int64_t shape[2]) {
    const pt_config *c = &m->cfg;
    *data = NULL;
    if ((unsigned)s >= W_COUNT || (s == W_LM_HEAD && c->tied_embeddings)) return 0;
    const float *p = *slot_field((pt_weights *)&m->w, s);
    int64_t sh[2] = {1, 1};
    int nd = slot_shape(c, s, sh);
    if (!p || !nd || layer < 0 || layer >= (per_layer(s) ? c->n_layer : 1)) return 0;
    *data = p + (size_t)layer * (size_t)sh[0] * (size_t)(nd == 2 ? sh[1] : 1);
    shape[0] = sh[0];
    shape[1] = nd == 2 ? sh[1] : 0;
    return nd;
}

int model_set_arch(pt_config *c, const char *type, const char *path, pt_err *err) {
    c->desc = arch_find(type);
    if (!c->desc)
        return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: architecture %s is not supported (%s are)", path, type, arch_list());
    // one name per family (llama.cpp's "starcoder" is gpt_bigcode); SmolLM keeps its own
    snprintf(c->arch, sizeof c->arch, "%s", !strcmp(type, "smollm") ? type : c->desc->type);
    return PT_OK;
}

int model_check_config(const pt_config *c, const char *path, pt_err *err) {
#define BAD(...) return pt_fail(err, PT_ERR_FORMAT, __VA_ARGS__)
    if (c->n_layer < 1 || c->n_layer > 4096) BAD("%s: bad layer count %d", path, c->n_layer);
    if (c->n_embd < 1 || c->n_embd > (1 << 20)) BAD("%s: bad hidden size %d", path, c->n_embd);
    if (c->n_ff < 1 || c->n_ff > (1 << 22)) BAD("%s: bad feed-forward size %d", path, c->n_ff);
    if (c->n_head < 1 || c->n_head > 4096) BAD("%s: bad head count %d", path, c->n_head);
    if (c->n_head_kv < 1 || c->n_head_kv > c->n_head || c->n_head % c->n_head_kv)
        BAD("%s: %d key/value heads do not divide %d heads", path, c->n_head_kv, c->n_head);
    if (c->head_dim < 2 || c->head_dim > 4096 || c->head_dim % 2)
        BAD("%s: bad head dimension %d (must be even)", path, c->head_dim);
    if (c->vocab_size < 1 || c->vocab_size > (1 << 24)) BAD("%s: bad vocabulary size %d", path, c->vocab_size);
    if (c->max_ctx < 1) BAD("%s: bad context length %d", path, c->max_ctx);
    if (!(c->rope_theta > 0) || isinf(c->rope_theta)) BAD("%s: bad rope theta %g", path, c->rope_theta);
    if (!(c->rms_eps > 0) || !(c->rms_eps < 1)) BAD("%s: bad RMS norm epsilon %g", path, c->rms_eps);
    if (c->sliding_window < 0) BAD("%s: bad sliding window %d", path, c->sliding_window);
#undef BAD
    return PT_OK;
}

// Whether slot s is a linear layer's weight (stored (in, out) by a Conv1D family).
int model_slot_is_linear(weight_slot s) {
    for (int i = 0; i < PT_LIN_COUNT; i++)
        if (arch_weight_slot((pt_linear)i) == s) return 1;
    return 0;
}

// A Conv1D family's Hugging Face file holds this slot as (in, out).
static int slot_transposed(const pt_config *c, const model_source *src, weight_slot s) {
    return src->kind == PT_SRC_HF && c->desc->conv1d && model_slot_is_linear(s);
}

// llama.cpp's converter stores a per-head fused projection (BLOOM's, NeoX's
// (NH, 3, HD) rows) as q | k | v; back to the family's layout, in place:
// HF row h*3*HD + j*HD + d is GGUF row j*C + h*HD + d. cols 1: a bias.
static int heads_from_concat(float *p, const pt_config *c, size_t cols, pt_err *err) {
    size_t NH = (size_t)c->n_head, HD = (size_t)c->head_dim, rows = 3 * NH * HD;
    float *t = malloc(rows * cols * sizeof(float));
    if (!t) return pt_fail(err, PT_ERR_NOMEM, "out of memory");
    memcpy(t, p, rows * cols * sizeof(float));
    for (size_t h = 0; h < NH; h++)
        for (size_t j = 0; j < 3; j++)
            for (size_t d = 0; d < HD; d++)
                memcpy(p + ((h * 3 + j) * HD + d) * cols, t + ((j * NH + h) * HD + d) * cols, cols * sizeof(float));
    free(t);
    return PT_OK;
}

// (rows, cols) -> (cols, rows)
static void transpose(float *dst, const float *src, size_t rows, size_t cols) {
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++) dst[j * rows + i] = src[i * cols + j];
}

static void slot_name(const pt_config *c, const model_source *src, weight_slot s, int layer, char *buf, size_t cap) {
    snprintf(buf, cap, slot_fmt(c, src->kind, s), layer);
}

int model_load_weights(pt_model *m, const model_source *src, pt_err *err) {
    const pt_config *c = &m->cfg;
    char name[128];
    int rc;
    // pass 1: every tensor present, loadable and of the right shape
    uint64_t total = 0, per_slot[W_COUNT] = {0};
    for (int s = 0; s < W_COUNT; s++) {
        if (!slot_used(c, src, (weight_slot)s))
            continue;
        int64_t shape[2] = {1, 1};
        int nd = slot_shape(c, (weight_slot)s, shape);
        int n = per_layer((weight_slot)s) ? c->n_layer : 1;
        int64_t file_shape[2] = {shape[0], shape[1]};
        if (slot_transposed(c, src, (weight_slot)s)) {
            file_shape[0] = shape[1];
            file_shape[1] = shape[0];
        }
        for (int l = 0; l < n; l++) {
            slot_name(c, src, (weight_slot)s, l, name, sizeof name);
            if ((rc = src->check(src->ctx, name, nd, file_shape, err)))
                return rc;
        }
        per_slot[s] = (uint64_t)shape[0] * (uint64_t)(nd == 2 ? shape[1] : 1);
        total += per_slot[s] * (uint64_t)n; // bounded: check() matched tensors in the file
    }
    if (total > SIZE_MAX / sizeof(float))
        return pt_fail(err, PT_ERR_NOMEM, "%s: model too large", m->path);
    float *mem = NULL;
    if (posix_memalign((void **)&mem, 64, (size_t)total * sizeof(float)) != 0 || !mem)
        return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory for %llu weights", m->path,
                       (unsigned long long)total);
    m->weights_mem = mem;
    m->n_params = (size_t)total;
    // pass 2: carve the block (llm.c style) and convert each tensor into its slice
    float *p = mem, *tmp = NULL;   // tmp: one (in, out) Conv1D weight before its transpose
    for (int s = 0; s < W_COUNT; s++) {
        if (!slot_used(c, src, (weight_slot)s))
            continue;
        int n = per_layer((weight_slot)s) ? c->n_layer : 1;
        *slot_field(&m->w, (weight_slot)s) = p;
        int n_head = 0;
        if (src->unpermute_qk && (s == W_Q || s == W_BQ))
            n_head = c->n_head;
        if (src->unpermute_qk && (s == W_K || s == W_BK))
            n_head = c->n_head_kv;
        int tr = slot_transposed(c, src, (weight_slot)s);
        int64_t shape[2] = {1, 1};
        slot_shape(c, (weight_slot)s, shape);
        if (tr && !(tmp = realloc(tmp, per_slot[s] * sizeof(float))))
            return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", m->path);
        for (int l = 0; l < n; l++, p += per_slot[s]) {
            slot_name(c, src, (weight_slot)s, l, name, sizeof name);
            if ((rc = src->read(src->ctx, name, tr ? tmp : p, n_head, err))) {
                free(tmp);
                return rc;
            }
            if (tr) transpose(p, tmp, (size_t)shape[1], (size_t)shape[0]);   // file (in, out) -> (out, in)
            if (src->kind == PT_SRC_GGUF && c->desc->qkv == PT_QKV_HEADS && (s == W_QKV || s == W_BQKV) &&
                (rc = heads_from_concat(p, c, (size_t)(s == W_QKV ? shape[1] : 1), err))) {
                free(tmp);
                return rc;
            }
        }
    }
    free(tmp);
    if (c->tied_embeddings)
        m->w.lm_head = m->w.tok_embd;
    return PT_OK;
}

int model_add_desc(pt_model *m, const char *name, const char *type, int n_dims,
                   const int64_t *shape, pt_err *err) {
    if (m->n_tensors % 64 == 0) { // full (capacity is always a multiple of 64)
        pt_tensor_desc *nt = realloc(m->tensors, (size_t)(m->n_tensors + 64) * sizeof *nt);
        if (!nt)
            return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", m->path);
        m->tensors = nt;
    }
    pt_tensor_desc *d = &m->tensors[m->n_tensors++];
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", name);
    snprintf(d->type, sizeof d->type, "%s", type);
    d->n_dims = n_dims < 0 ? 0 : n_dims > 4 ? 4 : n_dims;
    for (int i = 0; i < d->n_dims; i++)
        d->shape[i] = shape[i];
    return PT_OK;
}

int model_load(pt_model *m, const char *path, pt_err *err) {
    memset(m, 0, sizeof *m);
    snprintf(m->path, sizeof m->path, "%s", path);
    struct stat st;
    if (stat(path, &st) != 0)
        return pt_fail(err, PT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    int rc;
    if (S_ISDIR(st.st_mode)) {
        m->source = PT_SRC_HF;
        rc = model_load_hf(m, path, err);
    } else {
        m->source = PT_SRC_GGUF;
        rc = model_load_gguf(m, path, err);
    }
    if (rc)
        model_free(m);
    return rc;
}

void model_free(pt_model *m) {
    free(m->weights_mem);
    free(m->qlayers);
    free(m->qmem);
    free(m->tensors);
    free(m->chat_template);
    if (m->tok)
        tokenizer_free(m->tok);
    memset(m, 0, sizeof *m);
}

int model_linear_names(const pt_model *m, const char **names, int cap) {
    // every nn.Linear in a LLaMA-family block, in model order; lm_head is the
    // output head, which PEFT's all-linear leaves out
    static const char *LINEAR[] = {"q_proj", "k_proj", "v_proj", "o_proj",
                                   "gate_proj", "up_proj", "down_proj"};
    int n = 0;
    for (; n < (int)(sizeof LINEAR / sizeof LINEAR[0]) && n < cap; n++)
        names[n] = LINEAR[n];
    return n;
}
