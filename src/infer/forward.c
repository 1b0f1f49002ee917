// forward.c - the LLaMA-family decoder forward pass, through the backend op
// table, with its KV cache. Reads like the architecture: per layer
//   x += o_proj(attn(rope(q_proj(norm(x))), rope(k_proj(..)), v_proj(..)))
//   x += down_proj(silu(gate_proj(norm(x))) * up_proj(norm(x)))
#include "infer/forward.h"

#include <stdlib.h>
#include <string.h>

// Per-layer slice of a stacked float32 array, and of a base weight.
#define LAYER(p, l, n) ((p) ? (p) + (size_t)(l) * (size_t)(n) : NULL)
#define WL(p, l, n) bw_layer(rt->w, (p), (l), (size_t)(n))

static int alloc_f(pt_runtime *rt, float **p, size_t n) {
    *p = rt->be->ops->alloc(rt->be, n * sizeof(float));
    return *p != NULL;
}

int runtime_init(pt_runtime *rt, pt_backend *be, const pt_model *m, int n_ctx, int max_batch, pt_err *err) {
    return runtime_init_shared(rt, be, m, NULL, n_ctx, max_batch, err);
}

int runtime_init_shared(pt_runtime *rt, pt_backend *be, const pt_model *m, const pt_bweights *bw,
                        int n_ctx, int max_batch, pt_err *err) {
    memset(rt, 0, sizeof *rt);
    const pt_config *c = &m->cfg;
    if (c->head_dim > 512 || c->head_dim % 2)
        return pt_fail(err, PT_ERR_UNSUPPORTED, "head dimension %d is not supported (even, at most 512)", c->head_dim);
    if (n_ctx < 1 || max_batch < 1)
        return pt_fail(err, PT_ERR_ARG, "context size and batch must be positive (got %d, %d)", n_ctx, max_batch);
    rt->be = be;
    rt->model = m;
    rt->n_ctx = n_ctx;
    rt->max_batch = max_batch > 512 ? 512 : max_batch;  // positions are staged 512 at a time
    size_t N = (size_t)rt->max_batch, C = c->n_embd, F = c->n_ff, V = c->vocab_size;
    size_t Q = (size_t)c->n_head * c->head_dim, KV = (size_t)c->n_head_kv * c->head_dim;
    size_t L = c->n_layer, T = n_ctx;

    if (be->ops->host_memory && be->ops->matmul_q) {
        rt->ql = m->qlayers;
        rt->q_head = m->q_lm_head;
        rt->q_max_n = 4;  // decode-sized calls: weight bytes dominate; above, float GEMM wins
    }
    if (bw) {
        rt->w = bw;
    } else {
        int rc = bweights_init(&rt->own_w, be, m, err);  // the CPU backends alias the model's own
        if (rc) {
            rt->be = NULL;
            return rc;
        }
        rt->w = &rt->own_w;
    }
    size_t wide = F > C ? F : C;
    wide = Q > wide ? Q : wide;
    int ok = be->ops->reserve(be, N * wide) == 0 && alloc_f(rt, &rt->x, N * C) && alloc_f(rt, &rt->xb, N * C) && alloc_f(rt, &rt->q, N * Q) &&
             alloc_f(rt, &rt->k, N * KV) && alloc_f(rt, &rt->v, N * KV) && alloc_f(rt, &rt->att, N * Q) &&
             alloc_f(rt, &rt->hg, N * F) && alloc_f(rt, &rt->hu, N * F) && alloc_f(rt, &rt->logits, N * V) &&
             alloc_f(rt, &rt->kcache, L * T * KV) && alloc_f(rt, &rt->vcache, L * T * KV);
    if (ok) {
        rt->tok_dev = be->ops->alloc(be, N * sizeof(int32_t));
        rt->pos_dev = be->ops->alloc(be, N * sizeof(int32_t));
        ok = rt->tok_dev && rt->pos_dev;
    }
    if (!ok) {
        runtime_free(rt);
        return pt_fail(err, PT_ERR_NOMEM, "out of memory for a %d-token context (KV cache %.0f MiB); try a smaller --ctx",
                       n_ctx, 2.0 * L * T * KV * 4 / 1048576.0);
    }
    return PT_OK;
}

void runtime_free(pt_runtime *rt) {
    if (!rt->be) return;
    const pt_backend_ops *o = rt->be->ops;
    float *bufs[] = {rt->x, rt->xb, rt->q, rt->k, rt->v, rt->att, rt->hg, rt->hu, rt->logits, rt->kcache, rt->vcache,
                     rt->lora_tmp};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) o->free(rt->be, bufs[i]);
    if (rt->tok_dev) o->free(rt->be, rt->tok_dev);
    if (rt->pos_dev) o->free(rt->be, rt->pos_dev);
    adapter_dev_free(&rt->adev);
    bweights_free(&rt->own_w);
    memset(rt, 0, sizeof *rt);
}

void runtime_reset(pt_runtime *rt) { rt->n_past = 0; }

void runtime_truncate(pt_runtime *rt, int n_past) {
    if (n_past >= 0 && n_past < rt->n_past) rt->n_past = n_past;
}

int runtime_set_adapter(pt_runtime *rt, const pt_adapter *a, float scale, pt_err *err) {
    int r_max = 0;
    if (a) {
        if (a->n_layer != rt->model->cfg.n_layer)
            return pt_fail(err, PT_ERR_ARG, "adapter %s has %d layers, the model %d", a->name, a->n_layer,
                           rt->model->cfg.n_layer);
        for (int i = 0; i < a->n_layer * PT_LIN_COUNT; i++)
            if (a->mods[i].A && a->mods[i].r > r_max) r_max = a->mods[i].r;
    }
    if (a && a->merged && !rt->be->ops->host_memory)
        return pt_fail(err, PT_ERR_UNSUPPORTED, "adapter %s is merged into the host weights; unmerge it to use it on %s",
                       a->name, rt->be->ops->name);
    if (r_max > rt->lora_tmp_r) {
        float *tmp = rt->be->ops->alloc(rt->be, sizeof(float) * (size_t)rt->max_batch * (size_t)r_max);
        if (!tmp) return pt_fail(err, PT_ERR_NOMEM, "out of memory for the adapter's scratch");
        if (rt->lora_tmp) rt->be->ops->free(rt->be, rt->lora_tmp);
        rt->lora_tmp = tmp;
        rt->lora_tmp_r = r_max;
    }
    adapter_dev_free(&rt->adev);
    rt->adapter = NULL;
    if (a) {
        int rc = adapter_dev_init(&rt->adev, rt->be, a, err);
        if (rc) return rc;
        rt->adapter = rt->adev.mirrored ? &rt->adev.view : a;   // host backends: the adapter itself, live
    }
    rt->adapter_scale = scale;
    runtime_reset(rt);
    return PT_OK;
}

// out (N, M) = inp (N, K) @ W^T (+ b) (+ LoRA). The one place every linear
// layer goes through. w: a base weight (weight_dtype), or with fw a float32
// one (an adapter's saved head). q: the same weight in quantised blocks,
// read instead of w for small N. The active adapter's module for (layer,
// slot) adds scale * (inp @ A^T) @ B^T.
static void linear(pt_runtime *rt, float *out, const float *inp, const void *w, const float *fw, const float *b,
                   const pt_qmat *q, int layer, pt_linear slot, int N, int K, int M) {
    const pt_backend_ops *o = rt->be->ops;
    if (fw)
        o->matmul(rt->be, out, inp, fw, b, N, K, M, 1.0f, 0.0f);
    else if (q && q->data && N <= rt->q_max_n && !rt->model->n_merged)
        o->matmul_q(rt->be, out, inp, q->data, q->type, q->row_bytes, b, N, K, M);
    else
        o->matmul_w(rt->be, out, inp, w, b, N, K, M, 1.0f, 0.0f);
    const pt_adapter *a = rt->adapter;
    if (!a || a->merged || layer < 0) return;
    const pt_lora_module *mod = &a->mods[layer * PT_LIN_COUNT + slot];
    if (!mod->A) return;
    o->matmul(rt->be, rt->lora_tmp, inp, mod->A, NULL, N, K, mod->r, 1.0f, 0.0f);            // (N, r)
    o->matmul(rt->be, out, rt->lora_tmp, mod->B, NULL, N, mod->r, M, mod->scale * rt->adapter_scale, 1.0f);
}

// One chunk of n <= max_batch tokens at positions n_past...
static void forward_chunk(pt_runtime *rt, int n) {
    pt_backend *be = rt->be;
    const pt_backend_ops *o = be->ops;
    const pt_config *c = &rt->model->cfg;
    const pt_bweights *w = rt->w;
    int C = c->n_embd, F = c->n_ff, HD = c->head_dim, NH = c->n_head, NKV = c->n_head_kv;
    int Q = NH * HD, KV = NKV * HD, T = rt->n_ctx, pos0 = rt->n_past;

    const pt_adapter *a = rt->adapter && !rt->adapter->merged ? rt->adapter : NULL;
    if (a && a->save_embed)
        o->embedding(be, rt->x, rt->tok_dev, a->save_embed, n, C);
    else
        o->embedding_w(be, rt->x, rt->tok_dev, w->tok_embd, n, C);
    for (int l = 0; l < c->n_layer; l++) {
        float *kc = rt->kcache + (size_t)l * T * KV;   // (T, KV) this layer's cache
        float *vc = rt->vcache + (size_t)l * T * KV;
        float *knew = kc + (size_t)pos0 * KV;           // (n, KV) rows for the new tokens
        float *vnew = vc + (size_t)pos0 * KV;

        const pt_qlayer *ql = rt->ql ? &rt->ql[l] : NULL;
#define QM(f) (ql ? &ql->f : NULL)
        o->rmsnorm(be, rt->xb, rt->x, LAYER(w->attn_norm, l, C), n, C, c->rms_eps);
        linear(rt, rt->q, rt->xb, WL(w->wq, l, (size_t)Q * C), NULL, LAYER(w->bq, l, Q), QM(wq), l, PT_LIN_Q, n, C, Q);
        linear(rt, knew, rt->xb, WL(w->wk, l, (size_t)KV * C), NULL, LAYER(w->bk, l, KV), QM(wk), l, PT_LIN_K, n, C, KV);
        linear(rt, vnew, rt->xb, WL(w->wv, l, (size_t)KV * C), NULL, LAYER(w->bv, l, KV), QM(wv), l, PT_LIN_V, n, C, KV);
        o->rope(be, rt->q, rt->pos_dev, n, NH, HD, c->rope_theta);
        o->rope(be, knew, rt->pos_dev, n, NKV, HD, c->rope_theta);
        o->attention(be, rt->att, rt->q, kc, vc, n, pos0, NH, NKV, HD, c->sliding_window);
        linear(rt, rt->xb, rt->att, WL(w->wo, l, (size_t)C * Q), NULL, NULL, QM(wo), l, PT_LIN_O, n, Q, C);
        o->add(be, rt->x, rt->x, rt->xb, (size_t)n * C);

        o->rmsnorm(be, rt->xb, rt->x, LAYER(w->ffn_norm, l, C), n, C, c->rms_eps);
        linear(rt, rt->hg, rt->xb, WL(w->w_gate, l, (size_t)F * C), NULL, NULL, QM(w_gate), l, PT_LIN_GATE, n, C, F);
        linear(rt, rt->hu, rt->xb, WL(w->w_up, l, (size_t)F * C), NULL, NULL, QM(w_up), l, PT_LIN_UP, n, C, F);
        o->swiglu(be, rt->hg, rt->hg, rt->hu, (size_t)n * F);
        linear(rt, rt->xb, rt->hg, WL(w->w_down, l, (size_t)C * F), NULL, NULL, QM(w_down), l, PT_LIN_DOWN, n, F, C);
#undef QM
        o->add(be, rt->x, rt->x, rt->xb, (size_t)n * C);
    }
}

int runtime_forward(pt_runtime *rt, const int32_t *tokens, int n, float *logits_out, int all_logits, pt_err *err) {
    const pt_config *c = &rt->model->cfg;
    const pt_backend_ops *o = rt->be->ops;
    int C = c->n_embd, V = c->vocab_size;
    if (n < 1) return pt_fail(err, PT_ERR_ARG, "nothing to run: empty token list");
    if (rt->n_past + n > rt->n_ctx)
        return pt_fail(err, PT_ERR_RANGE, "context full: %d cached + %d new tokens > %d; start a new conversation or raise --ctx",
                       rt->n_past, n, rt->n_ctx);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= V)
            return pt_fail(err, PT_ERR_ARG, "token id %d is outside the vocabulary (0..%d)", tokens[i], V - 1);

    int32_t pos[512];
    for (int done = 0; done < n;) {
        int chunk = n - done < rt->max_batch ? n - done : rt->max_batch;
        if (chunk > 512) chunk = 512;
        for (int i = 0; i < chunk; i++) pos[i] = rt->n_past + i;
        o->upload(rt->be, rt->tok_dev, tokens + done, sizeof(int32_t) * chunk);
        o->upload(rt->be, rt->pos_dev, pos, sizeof(int32_t) * chunk);
        forward_chunk(rt, chunk);

        int last_chunk = done + chunk == n;
        if (logits_out && (all_logits || last_chunk)) {
            // final norm and head over every row, or only the last one
            int first = all_logits ? 0 : chunk - 1, rows = chunk - first;
            o->rmsnorm(rt->be, rt->xb, rt->x + (size_t)first * C, rt->w->out_norm, rows, C, c->rms_eps);
            const pt_adapter *a = rt->adapter && !rt->adapter->merged ? rt->adapter : NULL;
            if (a && a->save_head)  // the adapter's own head (modules_to_save) replaces the base's
                linear(rt, rt->logits, rt->xb, NULL, a->save_head, NULL, NULL, -1, PT_LIN_Q, rows, C, V);
            else
                linear(rt, rt->logits, rt->xb, rt->w->lm_head, NULL, NULL, &rt->q_head, -1, PT_LIN_Q, rows, C, V);
            float *dst = all_logits ? logits_out + (size_t)done * V : logits_out;
            o->download(rt->be, dst, rt->logits, sizeof(float) * (size_t)rows * V);
        }
        rt->n_past += chunk;
        done += chunk;
    }
    return o->check(rt->be, err);
}
