// weights_dev.c - the base weights on a backend: aliased on the host,
// uploaded once (converted to the backend's weight dtype) on a device.
#include "weights_dev.h"

#include <string.h>

typedef struct { size_t big, small; } wsizes;  // elements: linear+embedding, norms+biases

static wsizes sizes_of(const pt_model *m) {
    const pt_config *c = &m->cfg;
    size_t L = c->n_layer, C = c->n_embd, F = c->n_ff, V = c->vocab_size;
    size_t Q = (size_t)c->n_head * c->head_dim, KV = (size_t)c->n_head_kv * c->head_dim;
    wsizes s;
    s.big = V * C * (c->tied_embeddings ? 1 : 2) + L * (Q * C + 2 * KV * C + C * Q + 3 * F * C);
    s.small = 2 * L * C + C + (m->w.bq ? L * (Q + 2 * KV) : 0);
    return s;
}

size_t bweights_bytes(const pt_model *m, pt_dtype dt) {
    wsizes s = sizes_of(m);
    return s.big * pt_dtype_size(dt) + s.small * sizeof(float);
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
        return PT_OK;
    }
    wsizes s = sizes_of(m);
    size_t need = bweights_bytes(m, o->weight_dtype), avail = o->mem_available(be);
    if (need > avail)
        return pt_fail(err, PT_ERR_NOMEM, "the base weights need %.0f MiB on %s, %.0f MiB are free; use a smaller model or --device cpu",
                       need / 1048576.0, o->name, avail / 1048576.0);
    bw->wmem = o->alloc(be, s.big * bw->esz);
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
#define BIG(dst, src, n) do { o->upload_weight(be, pw, (src), (n)); (dst) = pw; pw += (n) * bw->esz; } while (0)
#define SMALL(dst, src, n) do { if (src) { o->upload(be, pf, (src), (n) * sizeof(float)); (dst) = pf; pf += (n); } } while (0)
    BIG(bw->tok_embd, w->tok_embd, V * C);
    if (c->tied_embeddings) bw->lm_head = bw->tok_embd;
    else BIG(bw->lm_head, w->lm_head, V * C);
    BIG(bw->wq, w->wq, L * Q * C);
    BIG(bw->wk, w->wk, L * KV * C);
    BIG(bw->wv, w->wv, L * KV * C);
    BIG(bw->wo, w->wo, L * C * Q);
    BIG(bw->w_gate, w->w_gate, L * F * C);
    BIG(bw->w_up, w->w_up, L * F * C);
    BIG(bw->w_down, w->w_down, L * C * F);
    SMALL(bw->attn_norm, w->attn_norm, L * C);
    SMALL(bw->ffn_norm, w->ffn_norm, L * C);
    SMALL(bw->out_norm, w->out_norm, C);
    SMALL(bw->bq, w->bq, L * Q);
    SMALL(bw->bk, w->bk, L * KV);
    SMALL(bw->bv, w->bv, L * KV);
#undef BIG
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
