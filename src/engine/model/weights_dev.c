// weights_dev.c - the base weights on a backend: aliased on the host,
// uploaded once (converted to the backend's weight dtype) on a device.
#include "model/weights_dev.h"

#include <string.h>

typedef struct { size_t big, small; } wsizes;  // elements: linear+embedding, norms+biases

static wsizes sizes_of(const pt_model *m) {
    const pt_config *c = &m->cfg;
    size_t L = c->n_layer, C = c->n_embd, F = c->n_ff, V = c->vocab_size;
    size_t Q = (size_t)c->n_head * c->head_dim, KV = (size_t)c->n_head_kv * c->head_dim;
    const pt_weights *w = &m->w;
    wsizes s;
    s.big = V * C * (c->tied_embeddings ? 1 : 2) + L * ((Q + 2 * KV) * C + C * Q + (w->w_gate ? 3 : 2) * F * C);
    s.small = 2 * L * C + C + (w->bq ? L * (Q + 2 * KV) : 0) + (w->bqkv ? L * (Q + 2 * KV) : 0) +
              (w->pos_embd ? (size_t)c->max_ctx * C : 0) + (w->emb_norm ? C : 0) + (w->emb_norm_b ? C : 0) + (w->attn_norm_b ? L * C : 0) +
              (w->ffn_norm_b ? L * C : 0) + (w->out_norm_b ? C : 0) + (w->bo ? L * C : 0) + (w->b_up ? L * F : 0) +
              (w->b_down ? L * C : 0);
    return s;
}

size_t bweights_bytes(const pt_model *m, pt_dtype dt) {
    wsizes s = sizes_of(m);
    return s.big * pt_dtype_size(dt) + s.small * sizeof(float);
}

// One (rows, cols) weight at *pw: from its quantised blocks q when the
// backend expands them, else from the float32 src. Returns where it went.
static const void *put(pt_bweights *bw, char **pw, const float *src, const pt_qmat *q, size_t rows, size_t cols) {
    const pt_backend_ops *o = bw->be->ops;
    void *dst = *pw;
    if (q && q->data && o->upload_weight_q && cols % 32 == 0)
        o->upload_weight_q(bw->be, dst, q->data, q->type, (int)rows, (int)cols, q->row_bytes);
    else
        o->upload_weight(bw->be, dst, src, rows * cols);
    *pw += rows * cols * bw->esz;
    return dst;
}

int bweights_init(pt_bweights *bw, pt_backend *be, const pt_model *m, pt_err *err) {
    memset(bw, 0, sizeof *bw);
    bw->be = be;
    const pt_weights *w = &m->w;
    const pt_backend_ops *o = be->ops;
    bw->esz = pt_dtype_size(o->weight_dtype);
    if (o->host_memory && o->weight_dtype == PT_DT_F32) {
        bw->tok_embd = w->tok_embd; bw->wq = w->wq; bw->wk = w->wk; bw->wv = w->wv; bw->wo = w->wo;
        bw->w_gate = w->w_gate; bw->w_up = w->w_up; bw->w_down = w->w_down; bw->lm_head = w->lm_head;
        bw->attn_norm = w->attn_norm; bw->ffn_norm = w->ffn_norm; bw->out_norm = w->out_norm;
        bw->bq = w->bq; bw->bk = w->bk; bw->bv = w->bv;
        bw->wqkv = w->wqkv; bw->bqkv = w->bqkv; bw->bo = w->bo; bw->b_up = w->b_up; bw->b_down = w->b_down;
        bw->pos_embd = w->pos_embd; bw->emb_norm = w->emb_norm; bw->emb_norm_b = w->emb_norm_b; bw->attn_norm_b = w->attn_norm_b;
        bw->ffn_norm_b = w->ffn_norm_b; bw->out_norm_b = w->out_norm_b;
        return PT_OK;
    }
    wsizes s = sizes_of(m);
    size_t need = bweights_bytes(m, o->weight_dtype), avail = o->mem_available(be);
    if (need > avail)
        return pt_fail(err, PT_ERR_NOMEM, "the base weights need %.0f MiB on %s, %.0f MiB are free; use a smaller model or --device cpu",
                       need / 1048576.0, o->name, avail / 1048576.0);
    bw->wmem_bytes = s.big * bw->esz;
    bw->wmem = o->alloc(be, bw->wmem_bytes);
    bw->fmem = o->alloc(be, s.small * sizeof(float));
    if (!bw->wmem || !bw->fmem) {
        bweights_free(bw);
        return pt_fail(err, PT_ERR_NOMEM, "out of %s memory for the base weights (%.0f MiB)", o->name, need / 1048576.0);
    }
    const pt_config *c = &m->cfg;
    size_t L = c->n_layer, C = c->n_embd, F = c->n_ff, V = c->vocab_size;
    size_t Q = (size_t)c->n_head * c->head_dim, KV = (size_t)c->n_head_kv * c->head_dim;
    char *pw = bw->wmem;
    float *pf = bw->fmem;
#define SMALL(dst, src, n) do { if (src) { o->upload(be, pf, (src), (n) * sizeof(float)); (dst) = pf; pf += (n); } } while (0)
    // A quantised GGUF weight goes up as its blocks and is expanded there
    // (upload_weight_q); anything else as float32.
    // (not once an adapter is merged into the float32 weights: the blocks are stale then)
    const pt_qmat *qh = m->q_lm_head.data && !m->n_merged ? &m->q_lm_head : NULL;
    const pt_qlayer *ql = m->n_merged ? NULL : m->qlayers;
    bw->tok_embd = put(bw, &pw, w->tok_embd, c->tied_embeddings ? qh : NULL, V, C);
    bw->lm_head = c->tied_embeddings ? bw->tok_embd : put(bw, &pw, w->lm_head, qh, V, C);
#define LAYERS_Q(dst, f, q, rows, cols)                                                         \
    do {                                                                                        \
        if (!w->f) break;                                                                       \
        (dst) = pw;                                                                             \
        for (size_t l = 0; l < L; l++)                                                          \
            put(bw, &pw, w->f + l * (rows) * (cols), ql ? (q) : NULL, (rows), (cols));          \
    } while (0)
#define LAYERS(dst, f, rows, cols) LAYERS_Q(dst, f, &ql[l].f, rows, cols)
    LAYERS_Q(bw->wqkv, wqkv, NULL, Q + 2 * KV, C);   // (no quantised copy of a fused projection yet)
    LAYERS(bw->wq, wq, Q, C);
    LAYERS(bw->wk, wk, KV, C);
    LAYERS(bw->wv, wv, KV, C);
    LAYERS(bw->wo, wo, C, Q);
    LAYERS(bw->w_gate, w_gate, F, C);
    LAYERS(bw->w_up, w_up, F, C);
    LAYERS(bw->w_down, w_down, C, F);
#undef LAYERS
#undef LAYERS_Q
    SMALL(bw->attn_norm, w->attn_norm, L * C);
    SMALL(bw->ffn_norm, w->ffn_norm, L * C);
    SMALL(bw->out_norm, w->out_norm, C);
    SMALL(bw->bq, w->bq, L * Q);
    SMALL(bw->bk, w->bk, L * KV);
    SMALL(bw->bv, w->bv, L * KV);
    SMALL(bw->bqkv, w->bqkv, L * (Q + 2 * KV));
    SMALL(bw->bo, w->bo, L * C);
    SMALL(bw->b_up, w->b_up, L * F);
    SMALL(bw->b_down, w->b_down, L * C);
    SMALL(bw->pos_embd, w->pos_embd, (size_t)c->max_ctx * C);
    SMALL(bw->emb_norm, w->emb_norm, C);
    SMALL(bw->emb_norm_b, w->emb_norm_b, C);
    SMALL(bw->attn_norm_b, w->attn_norm_b, L * C);
    SMALL(bw->ffn_norm_b, w->ffn_norm_b, L * C);
    SMALL(bw->out_norm_b, w->out_norm_b, C);
#undef SMALL
    return o->check(be, err);
}

void bweights_free(pt_bweights *bw) {
    if (bw->be) {
        if (bw->wmem) bw->be->ops->free(bw->be, bw->wmem);
        if (bw->fmem) bw->be->ops->free(bw->be, bw->fmem);
    }
    memset(bw, 0, sizeof *bw);
}
