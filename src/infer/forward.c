// forward.c - the decoder forward pass, through the backend op table, with
// its KV caches. Reads like the architecture (model/arch.h): per layer
//   x += o_proj(attn(rope(q_proj(norm(x))), rope(k_proj(..)), v_proj(..)))
//   x += down_proj(silu(gate_proj(norm(x))) * up_proj(norm(x)))
// with the family's norm, activation, positions and fused QKV chosen by the
// helpers in model/block.h, which the training graph shares.
//
// A call runs pieces: runs of consecutive tokens of one slot each (a chunk
// holds at most max_batch rows). The base products run once over all rows;
// rope, attention and each slot's LoRA run per piece on its rows.
#include "infer/forward.h"

#include <stdlib.h>
#include <string.h>

#include "model/block.h"

// Per-layer slice of a stacked float32 array, and of a base weight.
#define LAYER(p, l, n) ((p) ? (p) + (size_t)(l) * (size_t)(n) : NULL)
#define WL(p, l, n) bw_layer(rt->w, (p), (l), (size_t)(n))

#define MAX_PIECES 64   // slots in one chunk

typedef struct {
    int seq;        // slot
    int row;        // first row in the chunk
    int n;          // rows
    int pos0;       // the slot's position of its first row
    const pt_adapter *a;   // the slot's adapter (NULL: none, or merged)
    float scale;
} piece;

typedef struct {
    piece p[MAX_PIECES];
    int n_pieces, rows;
    int use_q;      // every piece small enough for the quantised products
    int lora;       // some piece has an adapter
} chunk;

static int alloc_f(pt_runtime *rt, float **p, size_t n) {
    *p = rt->be->ops->alloc(rt->be, n * sizeof(float));
    return *p != NULL;
}

int runtime_init(pt_runtime *rt, pt_backend *be, const pt_model *m, int n_ctx, int max_batch, pt_err *err) {
    return runtime_init_multi(rt, be, m, NULL, 1, n_ctx, max_batch, err);
}

int runtime_init_shared(pt_runtime *rt, pt_backend *be, const pt_model *m, const pt_bweights *bw,
                        int n_ctx, int max_batch, pt_err *err) {
    return runtime_init_multi(rt, be, m, bw, 1, n_ctx, max_batch, err);
}

int runtime_init_multi(pt_runtime *rt, pt_backend *be, const pt_model *m, const pt_bweights *bw, int n_seq,
                       int n_ctx, int max_batch, pt_err *err) {
    memset(rt, 0, sizeof *rt);
    const pt_config *c = &m->cfg;
    if (c->head_dim > 512 || c->head_dim % 2)
        return pt_fail(err, PT_ERR_UNSUPPORTED, "head dimension %d is not supported (even, at most 512)", c->head_dim);
    if (n_ctx < 1 || max_batch < 1 || n_seq < 1 || n_seq > MAX_PIECES)
        return pt_fail(err, PT_ERR_ARG, "context size, batch and slots must be positive (got %d, %d, %d; at most %d slots)",
                       n_ctx, max_batch, n_seq, MAX_PIECES);
    // learned positions have max_ctx rows: the context holds no more (a
    // longer prompt then fails as any prompt past the context does)
    if (c->desc->pos == PT_POS_LEARNED && n_ctx > c->max_ctx) n_ctx = c->max_ctx;
    rt->be = be;
    rt->model = m;
    rt->n_ctx = n_ctx;
    rt->n_seq = n_seq;
    rt->max_batch = max_batch > 512 ? 512 : max_batch;  // positions are staged 512 at a time
    size_t N = (size_t)rt->max_batch, C = c->n_embd, F = c->n_ff, V = c->vocab_size;
    size_t Q = (size_t)c->n_head * c->head_dim, KV = (size_t)c->n_head_kv * c->head_dim;
    size_t L = c->n_layer, T = n_ctx, S = n_seq;

    if (be->ops->host_memory && be->ops->matmul_q) {
        rt->ql = m->qlayers;
        rt->q_head = m->q_lm_head;
        rt->q_max_n = 4;  // decode-sized calls: weight bytes dominate; above, float GEMM wins
    }
    rt->seq = calloc(S, sizeof *rt->seq);
    if (!rt->seq) {
        rt->be = NULL;
        return pt_fail(err, PT_ERR_NOMEM, "out of memory");
    }
    for (size_t s = 0; s < S; s++) rt->seq[s].scale = 1.0f;
    if (bw) {
        rt->w = bw;
    } else {
        int rc = bweights_init(&rt->own_w, be, m, err);  // the CPU backends alias the model's own
        if (rc) {
            free(rt->seq);
            memset(rt, 0, sizeof *rt);
            return rc;
        }
        rt->w = &rt->own_w;
    }
    size_t wide = F > C ? F : C;
    wide = Q > wide ? Q : wide;
    int ok = be->ops->reserve(be, N * wide) == 0 && alloc_f(rt, &rt->x, N * C) && alloc_f(rt, &rt->xb, N * C) && alloc_f(rt, &rt->q, N * Q) &&
             alloc_f(rt, &rt->k, N * KV) && alloc_f(rt, &rt->v, N * KV) && alloc_f(rt, &rt->att, N * Q) &&
             alloc_f(rt, &rt->hg, N * F) && alloc_f(rt, &rt->hu, N * F) && alloc_f(rt, &rt->logits, N * V) &&
             alloc_f(rt, &rt->kcache, L * S * T * KV) && alloc_f(rt, &rt->vcache, L * S * T * KV) &&
             ((!m->w.wqkv && !(c->rope_dims > 0 && c->rope_dims < c->head_dim)) || alloc_f(rt, &rt->qkv, N * (Q + 2 * KV))) &&
             (!c->parallel_residual || alloc_f(rt, &rt->xpar, N * C)) && alloc_f(rt, &rt->ones, N);
    if (ok) {
        rt->tok_dev = be->ops->alloc(be, N * sizeof(int32_t));
        rt->pos_dev = be->ops->alloc(be, N * sizeof(int32_t));
        ok = rt->tok_dev && rt->pos_dev;
    }
    if (ok) {
        float *one = malloc(N * sizeof(float));
        for (size_t i = 0; one && i < N; i++) one[i] = 1.0f;
        if (one) be->ops->upload(be, rt->ones, one, N * sizeof(float));
        ok = one != NULL;
        free(one);
    }
    if (!ok) {
        runtime_free(rt);
        return pt_fail(err, PT_ERR_NOMEM, "out of memory for %d %d-token context%s (KV cache %.0f MiB); try a smaller --ctx",
                       n_seq, n_ctx, n_seq > 1 ? "s" : "", 2.0 * L * S * T * KV * 4 / 1048576.0);
    }
    return PT_OK;
}

void runtime_free(pt_runtime *rt) {
    if (!rt->be) return;
    const pt_backend_ops *o = rt->be->ops;
    float *bufs[] = {rt->x, rt->xb, rt->q, rt->k, rt->v, rt->att, rt->hg, rt->hu, rt->logits, rt->kcache, rt->vcache,
                     rt->lora_tmp, rt->qkv, rt->xpar, rt->ones};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) o->free(rt->be, bufs[i]);
    if (rt->tok_dev) o->free(rt->be, rt->tok_dev);
    if (rt->pos_dev) o->free(rt->be, rt->pos_dev);
    for (int s = 0; rt->seq && s < rt->n_seq; s++) adapter_dev_free(&rt->seq[s].own);
    free(rt->seq);
    bweights_free(&rt->own_w);
    memset(rt, 0, sizeof *rt);
}

void runtime_reset(pt_runtime *rt) {
    for (int s = 0; s < rt->n_seq; s++) rt->seq[s].n_past = 0;
}

void runtime_seq_truncate(pt_runtime *rt, int s, int n_past) {
    if (s >= 0 && s < rt->n_seq && n_past >= 0 && n_past < rt->seq[s].n_past) rt->seq[s].n_past = n_past;
}

void runtime_truncate(pt_runtime *rt, int n_past) { runtime_seq_truncate(rt, 0, n_past); }

// layer l's cache of slot s: (T, KV)
static float *cache_of(const pt_runtime *rt, float *cache, int l, int s) {
    const pt_config *c = &rt->model->cfg;
    size_t KV = (size_t)c->n_head_kv * c->head_dim;
    return cache + ((size_t)l * rt->n_seq + (size_t)s) * (size_t)rt->n_ctx * KV;
}

void runtime_seq_copy(pt_runtime *rt, int dst, int src, int n) {
    if (dst == src || n < 0 || n > rt->seq[src].n_past) return;
    const pt_config *c = &rt->model->cfg;
    size_t bytes = sizeof(float) * (size_t)n * c->n_head_kv * c->head_dim;
    for (int l = 0; l < c->n_layer; l++) {
        rt->be->ops->copy(rt->be, cache_of(rt, rt->kcache, l, dst), cache_of(rt, rt->kcache, l, src), bytes);
        rt->be->ops->copy(rt->be, cache_of(rt, rt->vcache, l, dst), cache_of(rt, rt->vcache, l, src), bytes);
    }
    rt->seq[dst].n_past = n;
}

// Makes sure the LoRA scratch holds rank r (grow-only). 0 or PT_ERR_NOMEM.
static int lora_scratch(pt_runtime *rt, const pt_adapter *a, pt_err *err) {
    int r_max = 0;
    for (int i = 0; a && i < a->n_layer * PT_LIN_COUNT; i++)
        if (a->mods[i].A && a->mods[i].r > r_max) r_max = a->mods[i].r;
    if (r_max <= rt->lora_tmp_r) return PT_OK;
    float *tmp = rt->be->ops->alloc(rt->be, sizeof(float) * (size_t)rt->max_batch * (size_t)r_max);
    if (!tmp) return pt_fail(err, PT_ERR_NOMEM, "out of memory for the adapter's scratch");
    if (rt->lora_tmp) rt->be->ops->free(rt->be, rt->lora_tmp);
    rt->lora_tmp = tmp;
    rt->lora_tmp_r = r_max;
    return PT_OK;
}

static int adapter_fits(const pt_runtime *rt, const pt_adapter *a, pt_err *err) {
    if (a && a->n_layer != rt->model->cfg.n_layer)
        return pt_fail(err, PT_ERR_ARG, "adapter %s has %d layers, the model %d", a->name, a->n_layer,
                       rt->model->cfg.n_layer);
    return PT_OK;
}

int runtime_seq_use(pt_runtime *rt, int s, const pt_adapter *view, float scale, pt_err *err) {
    if (s < 0 || s >= rt->n_seq) return pt_fail(err, PT_ERR_ARG, "slot %d: the runtime has %d", s, rt->n_seq);
    int rc = adapter_fits(rt, view, err);
    if (!rc) rc = lora_scratch(rt, view, err);
    if (rc) return rc;
    rt->seq[s].adapter = view;
    rt->seq[s].scale = scale;
    return PT_OK;
}

int runtime_set_adapter(pt_runtime *rt, const pt_adapter *a, float scale, pt_err *err) {
    int rc = adapter_fits(rt, a, err);
    if (rc) return rc;
    if (a && a->merged && !rt->be->ops->host_memory)
        return pt_fail(err, PT_ERR_UNSUPPORTED, "adapter %s is merged into the host weights; unmerge it to use it on %s",
                       a->name, rt->be->ops->name);
    if ((rc = lora_scratch(rt, a, err))) return rc;
    pt_adapter_dev mirror;   // the new one first: a failure leaves the old adapter and its cache as they were
    memset(&mirror, 0, sizeof mirror);
    if (a && (rc = adapter_dev_init(&mirror, rt->be, a, err))) return rc;
    pt_rt_seq *q = &rt->seq[0];
    adapter_dev_free(&q->own);
    q->own = mirror;
    q->adapter = a ? (mirror.mirrored ? &q->own.view : a) : NULL;   // host backends: the adapter itself, live
    q->scale = scale;
    runtime_reset(rt);
    return PT_OK;
}

// out (N, M) = inp (N, K) @ W^T (+ b) (+ LoRA). The one place every linear
// layer goes through. w: a base weight (weight_dtype), or with fw a float32
// one (an adapter's saved head). qm: the same weight in quantised blocks,
// read instead of w when the chunk's pieces are small. Each piece whose
// adapter has a module for (layer, slot) adds scale * (inp @ A^T) @ B^T to
// its rows. layer < 0: no LoRA (the output head).
static void linear(pt_runtime *rt, const chunk *ck, float *out, const float *inp, const void *w, const float *fw,
                   const float *b, const pt_qmat *qm, int layer, pt_linear slot, int K, int M) {
    const pt_backend_ops *o = rt->be->ops;
    int N = ck->rows;
    if (fw)
        o->matmul(rt->be, out, inp, fw, b, N, K, M, 1.0f, 0.0f);
    else if (qm && qm->data && ck->use_q && !rt->model->n_merged)
        o->matmul_q(rt->be, out, inp, qm->data, qm->type, qm->row_bytes, b, N, K, M);
    else
        o->matmul_w(rt->be, out, inp, w, b, N, K, M, 1.0f, 0.0f);
    if (!ck->lora || layer < 0) return;
    for (int i = 0; i < ck->n_pieces; i++) {
        const piece *p = &ck->p[i];
        if (!p->a) continue;
        const pt_lora_module *mod = &p->a->mods[layer * PT_LIN_COUNT + slot];
        if (mod->bias && b) {   // a trained bias replaces the base's (at the adapter's scale): rows += s (bias - b)
            float *rows = out + (size_t)p->row * M;
            o->gemm(rt->be, 0, 0, p->n, M, 1, p->scale, rt->ones, 1, mod->bias, M, 1.0f, rows, M);
            o->gemm(rt->be, 0, 0, p->n, M, 1, -p->scale, rt->ones, 1, b, M, 1.0f, rows, M);
        }
        if (!mod->A) continue;
        const float *x = inp + (size_t)p->row * K;
        o->matmul(rt->be, rt->lora_tmp, x, mod->A, NULL, p->n, K, mod->r, 1.0f, 0.0f);            // (n, r)
        o->matmul(rt->be, out + (size_t)p->row * M, rt->lora_tmp, mod->B, NULL, p->n, mod->r, M, mod->scale * p->scale,
                  1.0f);
    }
}

// The k or v rows of the new tokens: projected into scratch (several pieces),
// or straight into the slot's cache (one piece).
static float *new_rows(pt_runtime *rt, const chunk *ck, float *cache, float *scratch, int l) {
    const pt_config *c = &rt->model->cfg;
    size_t KV = (size_t)c->n_head_kv * c->head_dim;
    if (ck->n_pieces == 1) return cache_of(rt, cache, l, ck->p[0].seq) + (size_t)ck->p[0].pos0 * KV;
    return scratch;
}

static void store_rows(pt_runtime *rt, const chunk *ck, float *cache, const float *rows, int l) {
    if (ck->n_pieces == 1) return;
    const pt_config *c = &rt->model->cfg;
    size_t KV = (size_t)c->n_head_kv * c->head_dim;
    for (int i = 0; i < ck->n_pieces; i++) {
        const piece *p = &ck->p[i];
        rt->be->ops->copy(rt->be, cache_of(rt, cache, l, p->seq) + (size_t)p->pos0 * KV, rows + (size_t)p->row * KV,
                          sizeof(float) * (size_t)p->n * KV);
    }
}

// One chunk: the pieces' tokens and positions are in tok_dev / pos_dev.
static void forward_chunk(pt_runtime *rt, const chunk *ck) {
    pt_backend *be = rt->be;
    const pt_backend_ops *o = be->ops;
    const pt_config *c = &rt->model->cfg;
    const pt_bweights *w = rt->w;
    int C = c->n_embd, F = c->n_ff, HD = c->head_dim, NH = c->n_head, NKV = c->n_head_kv;
    int Q = NH * HD, KV = NKV * HD, N = ck->rows;

    const pt_arch *a = c->desc;
    float eps = c->rms_eps;
    int alibi = a->pos == PT_POS_ALIBI, rot = c->rope_dims > 0 && c->rope_dims < HD ? c->rope_dims : HD;
    o->embedding_w(be, rt->x, rt->tok_dev, w->tok_embd, N, C);
    for (int i = 0; i < ck->n_pieces; i++) {   // an adapter's own embedding (modules_to_save) replaces the base's
        const piece *p = &ck->p[i];
        if (p->a && p->a->save_embed)
            o->embedding(be, rt->x + (size_t)p->row * C, rt->tok_dev + p->row, p->a->save_embed, p->n, C);
    }
    block_add_positions(be, a, rt->x, rt->xb, rt->pos_dev, w->pos_embd, N, C);   // GPT-2's wpe
    if (w->emb_norm) {   // BLOOM's word_embeddings_layernorm
        block_norm(be, a, rt->xb, rt->x, w->emb_norm, w->emb_norm_b, N, C, eps);
        o->copy(be, rt->x, rt->xb, sizeof(float) * (size_t)N * C);
    }
    for (int l = 0; l < c->n_layer; l++) {
        const pt_qlayer *ql = rt->ql ? &rt->ql[l] : NULL;
#define QM(f) (ql ? &ql->f : NULL)
        float *knew = new_rows(rt, ck, rt->kcache, rt->k, l), *vnew = new_rows(rt, ck, rt->vcache, rt->v, l);
        block_norm(be, a, rt->xb, rt->x, LAYER(w->attn_norm, l, C), LAYER(w->attn_norm_b, l, C), N, C, eps);
        if (w->wqkv) {   // one fused projection, split per the family's layout
            linear(rt, ck, rt->qkv, rt->xb, WL(w->wqkv, l, (size_t)(Q + 2 * KV) * C), NULL, LAYER(w->bqkv, l, Q + 2 * KV),
                   NULL, l, PT_LIN_QKV, C, Q + 2 * KV);
            block_split_qkv(be, a, rt->q, knew, vnew, rt->qkv, N, NH, NKV, HD);
        } else {
            linear(rt, ck, rt->q, rt->xb, WL(w->wq, l, (size_t)Q * C), NULL, LAYER(w->bq, l, Q), QM(wq), l, PT_LIN_Q, C, Q);
            linear(rt, ck, knew, rt->xb, WL(w->wk, l, (size_t)KV * C), NULL, LAYER(w->bk, l, KV), QM(wk), l, PT_LIN_K, C, KV);
            linear(rt, ck, vnew, rt->xb, WL(w->wv, l, (size_t)KV * C), NULL, LAYER(w->bv, l, KV), QM(wv), l, PT_LIN_V, C, KV);
        }
        if (a->pos == PT_POS_ROPE) {
            block_rope(be, rt->q, rt->qkv, rt->pos_dev, N, NH, HD, rot, c->rope_theta, 0);
            block_rope(be, knew, rt->qkv, rt->pos_dev, N, NKV, HD, rot, c->rope_theta, 0);
        }
        store_rows(rt, ck, rt->kcache, knew, l);
        store_rows(rt, ck, rt->vcache, vnew, l);
        pt_attn_seq as[MAX_PIECES];
        for (int i = 0; i < ck->n_pieces; i++) {
            const piece *p = &ck->p[i];
            as[i] = (pt_attn_seq){rt->att + (size_t)p->row * Q, rt->q + (size_t)p->row * Q,
                                  cache_of(rt, rt->kcache, l, p->seq), cache_of(rt, rt->vcache, l, p->seq), p->n, p->pos0};
        }
        if (o->attention_multi && ck->n_pieces > 1)
            o->attention_multi(be, as, ck->n_pieces, NH, NKV, HD, c->sliding_window, alibi);
        else
            for (int i = 0; i < ck->n_pieces; i++)
                o->attention(be, as[i].out, as[i].q, as[i].kc, as[i].vc, as[i].N, as[i].pos0, NH, NKV, HD, c->sliding_window,
                             alibi);
        // sequential: x += attention, then the MLP of norm2(x); parallel: both of the block's input
        float *ao = c->parallel_residual ? rt->xpar : rt->xb;
        linear(rt, ck, ao, rt->att, WL(w->wo, l, (size_t)C * Q), NULL, LAYER(w->bo, l, C), QM(wo), l, PT_LIN_O, Q, C);
        if (!c->parallel_residual) o->add(be, rt->x, rt->x, ao, (size_t)N * C);

        block_norm(be, a, rt->xb, rt->x, LAYER(w->ffn_norm, l, C), LAYER(w->ffn_norm_b, l, C), N, C, eps);
        if (block_has_gate(a))
            linear(rt, ck, rt->hg, rt->xb, WL(w->w_gate, l, (size_t)F * C), NULL, NULL, QM(w_gate), l, PT_LIN_GATE, C, F);
        linear(rt, ck, rt->hu, rt->xb, WL(w->w_up, l, (size_t)F * C), NULL, LAYER(w->b_up, l, F), QM(w_up), l, PT_LIN_UP, C, F);
        block_act(be, a, rt->hg, rt->hg, rt->hu, (size_t)N * F);
        linear(rt, ck, rt->xb, rt->hg, WL(w->w_down, l, (size_t)C * F), NULL, LAYER(w->b_down, l, C), QM(w_down), l, PT_LIN_DOWN,
               F, C);
#undef QM
        if (c->parallel_residual) o->add(be, rt->x, rt->x, rt->xpar, (size_t)N * C);
        o->add(be, rt->x, rt->x, rt->xb, (size_t)N * C);
    }
}

// The final norm and head over piece p's rows (all of them, or its last),
// downloaded to dst. Computed as the piece would be alone.
static void head(pt_runtime *rt, const chunk *ck, const piece *p, int all, float *dst) {
    const pt_backend_ops *o = rt->be->ops;
    const pt_config *c = &rt->model->cfg;
    int C = c->n_embd, V = c->vocab_size;
    int first = all ? p->row : p->row + p->n - 1, rows = all ? p->n : 1;
    chunk one = {.n_pieces = 1, .rows = rows, .use_q = ck->use_q};
    block_norm(rt->be, c->desc, rt->xb, rt->x + (size_t)first * C, rt->w->out_norm, rt->w->out_norm_b, rows, C, c->rms_eps);
    if (p->a && p->a->save_head)  // the adapter's own head (modules_to_save) replaces the base's
        linear(rt, &one, rt->logits, rt->xb, NULL, p->a->save_head, NULL, NULL, -1, PT_LIN_Q, C, V);
    else
        linear(rt, &one, rt->logits, rt->xb, rt->w->lm_head, NULL, NULL, &rt->q_head, -1, PT_LIN_Q, C, V);
    o->download(rt->be, dst, rt->logits, sizeof(float) * (size_t)rows * V);
}

// The last row of every piece that ends its segment, through one head call
// (the head's weights read once for all of them: at decode the head is a
// quarter of the bytes a step reads); pieces with a saved head of their own
// go alone. Segment i's logits land at dst + i * V.
static void last_rows_head(pt_runtime *rt, const chunk *ck, const pt_rt_segment *segs, const int *seg_of, const int *done,
                           float *dst) {
    const pt_backend_ops *o = rt->be->ops;
    const pt_config *c = &rt->model->cfg;
    int C = c->n_embd, V = c->vocab_size, rows = 0, to[MAX_PIECES];
    for (int k = 0; k < ck->n_pieces; k++) {
        const piece *p = &ck->p[k];
        int i = seg_of[k];
        if (done[i] + p->n != segs[i].n) continue;
        if (p->a && p->a->save_head) {
            head(rt, ck, p, 0, dst + (size_t)i * V);
            continue;
        }
        block_norm(rt->be, c->desc, rt->xb + (size_t)rows * C, rt->x + (size_t)(p->row + p->n - 1) * C, rt->w->out_norm,
                   rt->w->out_norm_b, 1, C, c->rms_eps);
        to[rows++] = i;
    }
    if (!rows) return;
    chunk all = {.n_pieces = 0, .rows = rows, .use_q = ck->use_q};
    linear(rt, &all, rt->logits, rt->xb, rt->w->lm_head, NULL, NULL, &rt->q_head, -1, PT_LIN_Q, C, V);
    for (int j = 0; j < rows; j++)
        o->download(rt->be, dst + (size_t)to[j] * V, rt->logits + (size_t)j * V, sizeof(float) * (size_t)V);
}

int runtime_forward_batch(pt_runtime *rt, const pt_rt_segment *segs, int n_segs, float *logits_out, int all_logits,
                          pt_err *err) {
    const pt_config *c = &rt->model->cfg;
    const pt_backend_ops *o = rt->be->ops;
    int V = c->vocab_size;
    if (n_segs < 1 || n_segs > rt->n_seq) return pt_fail(err, PT_ERR_ARG, "%d segments for %d slots", n_segs, rt->n_seq);
    int max_n = 0;
    for (int i = 0; i < n_segs; i++) {
        const pt_rt_segment *g = &segs[i];
        if (g->seq < 0 || g->seq >= rt->n_seq) return pt_fail(err, PT_ERR_ARG, "slot %d: the runtime has %d", g->seq, rt->n_seq);
        for (int j = 0; j < i; j++)
            if (segs[j].seq == g->seq) return pt_fail(err, PT_ERR_ARG, "slot %d appears twice in one call", g->seq);
        if (g->n < 1) return pt_fail(err, PT_ERR_ARG, "nothing to run: empty token list");
        if (rt->seq[g->seq].n_past + g->n > rt->n_ctx)
            return pt_fail(err, PT_ERR_RANGE, "context full: %d cached + %d new tokens > %d; start a new conversation or raise --ctx",
                           rt->seq[g->seq].n_past, g->n, rt->n_ctx);
        for (int t = 0; t < g->n; t++)
            if (g->tokens[t] < 0 || g->tokens[t] >= V)
                return pt_fail(err, PT_ERR_ARG, "token id %d is outside the vocabulary (0..%d)", g->tokens[t], V - 1);
        if (g->n > max_n) max_n = g->n;
    }
    // The quantised products for calls whose every segment is decode-sized,
    // as each segment would run alone.
    int use_q = max_n <= rt->q_max_n;
    int done[MAX_PIECES] = {0}, seg_of[MAX_PIECES];
    size_t first_row[MAX_PIECES];   // segment i's first row in the all_logits output
    for (int i = 0; i < n_segs; i++) first_row[i] = i ? first_row[i - 1] + (size_t)segs[i - 1].n : 0;
    int32_t tok[512], pos[512];
    for (;;) {
        if (rt->abort && __atomic_load_n(rt->abort, __ATOMIC_RELAXED)) return pt_fail(err, PT_ERR_ABORTED, "stopped");
        // the next chunk: the next tokens of each unfinished segment, in order
        chunk ck = {.use_q = use_q};
        for (int i = 0; i < n_segs && ck.rows < rt->max_batch; i++) {
            const pt_rt_segment *g = &segs[i];
            if (done[i] == g->n) continue;
            int take = g->n - done[i] < rt->max_batch - ck.rows ? g->n - done[i] : rt->max_batch - ck.rows;
            const pt_rt_seq *q = &rt->seq[g->seq];
            piece *p = &ck.p[ck.n_pieces];
            *p = (piece){.seq = g->seq, .row = ck.rows, .n = take, .pos0 = q->n_past,
                         .a = q->adapter && !q->adapter->merged ? q->adapter : NULL, .scale = q->scale};
            ck.lora |= p->a != NULL;
            for (int t = 0; t < take; t++) {
                tok[ck.rows + t] = g->tokens[done[i] + t];
                pos[ck.rows + t] = q->n_past + t;
            }
            seg_of[ck.n_pieces++] = i;
            ck.rows += take;
        }
        if (ck.n_pieces == 0) break;
        o->upload(rt->be, rt->tok_dev, tok, sizeof(int32_t) * ck.rows);
        o->upload(rt->be, rt->pos_dev, pos, sizeof(int32_t) * ck.rows);
        forward_chunk(rt, &ck);
        if (logits_out && !all_logits) last_rows_head(rt, &ck, segs, seg_of, done, logits_out);
        for (int k = 0; k < ck.n_pieces; k++) {
            const piece *p = &ck.p[k];
            int i = seg_of[k];
            if (logits_out && all_logits) head(rt, &ck, p, 1, logits_out + (first_row[i] + (size_t)done[i]) * V);
            done[i] += p->n;
            rt->seq[p->seq].n_past += p->n;
        }
    }
    return o->check(rt->be, err);
}

int runtime_forward(pt_runtime *rt, const int32_t *tokens, int n, float *logits_out, int all_logits, pt_err *err) {
    pt_rt_segment g = {0, tokens, n};
    return runtime_forward_batch(rt, &g, 1, logits_out, all_logits, err);
}
