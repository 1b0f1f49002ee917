// model_gguf.c - a model from a GGUF file: config from `<arch>.*` metadata,
// weights dequantised to float32, q/k rows put back in Hugging Face order.
//
// GGUF shapes are ne[] (ne[0] fastest), i.e. an HF (out, in) weight is
// stored as ne = [in, out]; messages give PyTorch order like everything else.
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/dequant.h"
#include "io/gguf.h"
#include "model/model_internal.h"

static void shape_str(char *buf, size_t cap, int nd, const int64_t *shape) {
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < nd && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
}

static int gguf_check(void *ctx, const char *name, int nd, const int64_t *shape, pt_err *err) {
    const gguf_file *g = ctx;
    const gguf_tensor *t = gguf_find_tensor(g, name);
    if (!t)
        return pt_fail(err, PT_ERR_FORMAT, "%s: missing tensor %s", g->path, name);
    if (!ggml_type_supported(t->type))
        return pt_fail(err, PT_ERR_UNSUPPORTED,
                       "%s: tensor %s has type %s, which peftui cannot load "
                       "(supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1)",
                       g->path, name, ggml_type_name(t->type));
    uint64_t want[4] = {1, 1, 1, 1};
    for (int i = 0; i < nd; i++)
        want[i] = (uint64_t)shape[nd - 1 - i];
    if (memcmp(want, t->ne, sizeof want)) {
        int64_t have[4];
        for (uint32_t i = 0; i < t->n_dims; i++)
            have[i] = (int64_t)t->ne[t->n_dims - 1 - i];
        char hs[96], ws[96];
        shape_str(hs, sizeof hs, (int)t->n_dims, have);
        shape_str(ws, sizeof ws, nd, shape);
        return pt_fail(err, PT_ERR_FORMAT, "%s: tensor %s has shape [%s], expected [%s]",
                       g->path, name, hs, ws);
    }
    return PT_OK;
}

static int gguf_read(void *ctx, const char *name, float *dst, int n_head, pt_err *err) {
    const gguf_file *g = ctx;
    const gguf_tensor *t = gguf_find_tensor(g, name); // checked in pass 1
    uint64_t nel = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    if (n_head <= 0) {
        dequant_row(t->type, t->data, dst, nel);
        return PT_OK;
    }
    // rows = n_head * hd (shape-checked), hd even (config-checked)
    int64_t rows = (int64_t)(t->n_dims >= 2 ? t->ne[1] : t->ne[0]);
    int64_t hd = rows / n_head;
    if (t->n_dims >= 2) { // (rows, cols): one row at a time into its HF place
        uint64_t cols = t->ne[0], row_bytes = ggml_type_nbytes(t->type, cols);
        for (int64_t r = 0; r < rows; r++)
            dequant_row(t->type, t->data + (uint64_t)r * row_bytes,
                        dst + (uint64_t)model_unpermute_row(r, hd) * cols, cols);
        return PT_OK;
    }
    float *tmp = malloc((size_t)rows * sizeof *tmp); // a bias: (rows)
    if (!tmp)
        return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", g->path);
    dequant_row(t->type, t->data, tmp, (uint64_t)rows);
    for (int64_t r = 0; r < rows; r++)
        dst[model_unpermute_row(r, hd)] = tmp[r];
    free(tmp);
    return PT_OK;
}

// Integer `<arch>.<suffix>` into *out; def when absent unless required.
static int arch_int(const gguf_file *g, const char *arch, const char *suffix, int required,
                    int def, int *out, pt_err *err) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int64_t v = def;
    int found = 0, rc = gguf_get_i64(g, key, &v, &found, err);
    if (rc)
        return rc;
    if (!found && required)
        return pt_fail(err, PT_ERR_FORMAT, "%s: missing key %s", g->path, key);
    if (v < INT_MIN || v > INT_MAX)
        return pt_fail(err, PT_ERR_FORMAT, "%s: key %s is out of range", g->path, key);
    *out = (int)v;
    return PT_OK;
}

static int arch_float(const gguf_file *g, const char *arch, const char *suffix, double def,
                      float *out, pt_err *err) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    double v = def;
    int rc = gguf_get_f64(g, key, &v, NULL, err);
    *out = (float)v;
    return rc;
}

// a: general.architecture, the prefix of the file's keys ("starcoder" for gpt_bigcode)
static int read_config(pt_model *m, const gguf_file *g, const char *a, pt_err *err) {
    pt_config *c = &m->cfg;
    int rc, found = 0, kl = 0, rd = 0;
    if ((rc = arch_int(g, a, "block_count", 1, 0, &c->n_layer, err)) ||
        (rc = arch_int(g, a, "embedding_length", 1, 0, &c->n_embd, err)) ||
        (rc = arch_int(g, a, "feed_forward_length", 1, 0, &c->n_ff, err)) ||
        (rc = arch_int(g, a, "attention.head_count", 1, 0, &c->n_head, err)) ||
        (rc = arch_int(g, a, "attention.head_count_kv", 0, c->n_head, &c->n_head_kv, err)) ||
        (rc = arch_int(g, a, "context_length", 0, 2048, &c->max_ctx, err)) ||
        (rc = arch_int(g, a, "attention.sliding_window", 0, 0, &c->sliding_window, err)) ||
        (rc = arch_int(g, a, "attention.key_length", 0, 0, &kl, err)) ||
        (rc = arch_int(g, a, "rope.dimension_count", 0, 0, &rd, err)) ||
        (rc = arch_float(g, a, "rope.freq_base", 10000.0, &c->rope_theta, err)) ||
        (rc = arch_float(g, a, c->desc->norm == PT_NORM_LAYER ? "attention.layer_norm_epsilon"
                                                               : "attention.layer_norm_rms_epsilon", 1e-5, &c->rms_eps, err)))
        return rc;
    c->head_dim = kl ? kl : c->n_head > 0 ? c->n_embd / c->n_head : 0;
    // RoPE on the leading rd dims of each head (GPT-NeoX's rotary_pct); a LLaMA-style file says all of them
    if (rd > 0 && rd < c->head_dim) {
        if (strcmp(c->desc->type, "gpt_neox"))
            return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: RoPE on %d of %d dims per head is not supported for %s", g->path,
                           rd, c->head_dim, c->arch);
        c->rope_dims = rd;
    }
    if (!strcmp(c->desc->type, "mpt")) {   // the ALiBi peftui implements: BLOOM's slopes (see model_hf.c read_mpt)
        float mx = 8.0f;
        if ((rc = arch_float(g, a, "attention.max_alibi_bias", 8.0, &mx, err))) return rc;
        if (mx != 8.0f || (c->n_head & (c->n_head - 1)))
            return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: MPT's ALiBi with max bias %g over %d heads is not supported (8 "
                           "over a power of two is)", g->path, mx, c->n_head);
    }
    if (!strcmp(c->desc->type, "gpt_neox")) {   // llama.cpp writes use_parallel_residual as a bool
        int64_t par = 1;
        char pkey[96];
        snprintf(pkey, sizeof pkey, "%.60s.use_parallel_residual", a);
        if ((rc = gguf_get_i64(g, pkey, &par, &found, err))) return rc;
        c->parallel_residual = found ? par != 0 : 1;
    }

    char key[128], scaling[32] = "";
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    if ((rc = gguf_get_str(g, key, scaling, sizeof scaling, &found, err)))
        return rc;
    if (found && strcmp(scaling, "none"))
        return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: RoPE scaling '%s' is not supported", g->path, scaling);
    if (gguf_find_tensor(g, "rope_freqs.weight"))
        return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: RoPE frequency factors (rope_freqs) are not supported", g->path);

    const gguf_tensor *emb = gguf_find_tensor(g, "token_embd.weight");
    if (!emb)
        return pt_fail(err, PT_ERR_FORMAT, "%s: missing tensor token_embd.weight", g->path);
    c->vocab_size = emb->ne[1] > (1u << 24) ? -1 : (int)emb->ne[1];
    c->tied_embeddings = gguf_find_tensor(g, "output.weight") == NULL;
    c->has_qkv_bias = gguf_find_tensor(g, "blk.0.attn_q.bias") != NULL;

    if ((rc = gguf_get_str(g, "general.name", c->name, sizeof c->name, &found, err)))
        return rc;
    if (!found) {
        const char *base = strrchr(g->path, '/');
        snprintf(c->name, sizeof c->name, "%.*s", (int)sizeof c->name - 1, base ? base + 1 : g->path);
    }
    return model_check_config(c, g->path, err);
}

static int read_chat_template(pt_model *m, const gguf_file *g, pt_err *err) {
    const gguf_kv *kv = gguf_find_kv(g, "tokenizer.chat_template");
    if (!kv || kv->type != GGUF_TYPE_STRING)
        return PT_OK;
    uint64_t len = 0;
    for (int i = 7; i >= 0; i--) // u64 length, then the bytes (checked at open)
        len = len << 8 | kv->val[i];
    m->chat_template = malloc((size_t)len + 1);
    if (!m->chat_template)
        return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", g->path);
    memcpy(m->chat_template, kv->val + 8, (size_t)len);
    m->chat_template[len] = '\0';
    return PT_OK;
}

static int qmat_type_ok(ggml_type t) { return t == GGML_TYPE_Q4_0 || t == GGML_TYPE_Q4_1 || t == GGML_TYPE_Q8_0; }

// Copies quantised matrices' blocks (rows put in HF order for q/k when the
// file's rows are permuted) so decode can read 4-8x fewer bytes per token.
// The float32 weights stay the reference; these hold the very same values.
static int load_qmats(pt_model *m, const gguf_file *g, int unpermute, pt_err *err) {
    static const char *const names[7] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
    const pt_config *c = &m->cfg;
    int L = c->n_layer;
    const gguf_tensor *head = gguf_find_tensor(g, "output.weight");
    if (!head) head = gguf_find_tensor(g, "token_embd.weight");
    size_t total = 0;  // pass 1: sizes
    for (int l = 0; l < L; l++)
        for (int s = 0; s < 7; s++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, names[s]);
            const gguf_tensor *t = gguf_find_tensor(g, name);
            if (t && qmat_type_ok(t->type)) total += t->nbytes;
        }
    if (head && qmat_type_ok(head->type)) total += head->nbytes;
    if (!total) return PT_OK;
    m->qlayers = calloc((size_t)L, sizeof *m->qlayers);
    m->qmem = malloc(total);
    if (!m->qlayers || !m->qmem) return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory for quantised weights", g->path);
    unsigned char *p = m->qmem;
    for (int l = 0; l <= L; l++)
        for (int s = 0; s < (l < L ? 7 : 1); s++) {
            const gguf_tensor *t = head;
            pt_qmat *q = &m->q_lm_head;
            if (l < L) {
                char name[64];
                snprintf(name, sizeof name, "blk.%d.%s.weight", l, names[s]);
                t = gguf_find_tensor(g, name);
                q = &(&m->qlayers[l].wq)[s];  // pt_qlayer's fields are in names[] order
            }
            if (!t || !qmat_type_ok(t->type)) continue;
            uint64_t rows = t->ne[1], cols = t->ne[0], rb = ggml_type_nbytes(t->type, cols);
            int n_head = !unpermute || l == L ? 0 : s == 0 ? c->n_head : s == 1 ? c->n_head_kv : 0;
            for (uint64_t r = 0; r < rows; r++) {
                uint64_t dst = n_head ? (uint64_t)model_unpermute_row((int64_t)r, (int64_t)(rows / n_head)) : r;
                memcpy(p + dst * rb, t->data + r * rb, rb);
            }
            q->type = t->type;
            q->data = p;
            q->row_bytes = rb;
            p += rows * rb;
        }
    return PT_OK;
}

int model_load_gguf(pt_model *m, const char *path, pt_err *err) {
    gguf_file g;
    int rc = gguf_open(&g, path, err);
    if (rc)
        return rc;
    int found = 0;
    if ((rc = gguf_get_str(&g, "general.architecture", m->cfg.arch, sizeof m->cfg.arch, &found, err)))
        goto done;
    if (!found) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: missing key general.architecture", path);
        goto done;
    }
    char type[32];
    snprintf(type, sizeof type, "%s", m->cfg.arch);
    if ((rc = model_set_arch(&m->cfg, type, path, err)))
        goto done;
    if (!m->cfg.desc->gguf[W_TOK_EMBD]) {
        rc = pt_fail(err, PT_ERR_UNSUPPORTED, "%s: %s models load from their Hugging Face folder, not yet from GGUF",
                     path, m->cfg.arch);
        goto done;
    }
    if ((rc = read_config(m, &g, type, err)))
        goto done;
    // llama.cpp's converter permutes q/k rows for its interleaved RoPE on
    // llama-style archs; qwen2 uses NeoX RoPE and is stored unpermuted.
    model_source src = {&g, PT_SRC_GGUF, strcmp(m->cfg.arch, "qwen2") != 0, gguf_check, gguf_read};
    if ((rc = model_load_weights(m, &src, err)))
        goto done;
    if ((rc = load_qmats(m, &g, src.unpermute_qk, err)))
        goto done;
    for (uint64_t i = 0; i < g.n_tensors; i++) {
        const gguf_tensor *t = &g.tensors[i];
        char name[96];
        int64_t shape[4];
        snprintf(name, sizeof name, "%.*s", (int)(t->name.len < 95 ? t->name.len : 95), t->name.ptr);
        for (uint32_t d = 0; d < t->n_dims; d++)
            shape[d] = (int64_t)t->ne[t->n_dims - 1 - d];
        if ((rc = model_add_desc(m, name, ggml_type_name(t->type), (int)t->n_dims, shape, err)))
            goto done;
    }
    if ((rc = tokenizer_load_gguf(&m->tok, &g, err)))
        goto done;
    rc = read_chat_template(m, &g, err);
done:
    gguf_close(&g);
    return rc;
}
