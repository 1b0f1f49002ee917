// test_model_load.c - model_load from GGUF and HF folders: the tiny HF llama
// and its F32 GGUF give bit-identical weights once GGUF's q/k row permutation
// is undone; quantised GGUFs stay within their quantisation error; sharded,
// BF16 and qwen2 folders; configs, tensor lists, chat templates; the refusals
// (architecture, missing tensor, tensor type, shape); the shipped SmolLM2.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "io/dequant.h"
#include "io/gguf.h"
#include "model/model.h"
#include "io/safetensors.h"

#define TINY PT_SOURCE_DIR "/tests/data/tiny/"
#define REAL PT_SOURCE_DIR "/models/SmolLM2-135M-Instruct.Q4_1.gguf"

static char tmpdir[64];

static int has(const char *s, const char *sub) {
    return s && strstr(s, sub) != NULL;
}

// The weight slots of a model as (name, pointer, element count, row length).
typedef struct {
    const char *name;
    const float *p;
    size_t n, row;
} slot;

static int slots_of(const pt_model *m, slot *s) {
    const pt_config *c = &m->cfg;
    size_t L = (size_t)c->n_layer, C = (size_t)c->n_embd, F = (size_t)c->n_ff, V = (size_t)c->vocab_size;
    size_t Q = (size_t)c->n_head * (size_t)c->head_dim, KV = (size_t)c->n_head_kv * (size_t)c->head_dim;
    const pt_weights *w = &m->w;
    int k = 0;
    s[k++] = (slot){"tok_embd", w->tok_embd, V * C, C};
    s[k++] = (slot){"attn_norm", w->attn_norm, L * C, C};
    s[k++] = (slot){"wq", w->wq, L * Q * C, C};
    s[k++] = (slot){"wk", w->wk, L * KV * C, C};
    s[k++] = (slot){"wv", w->wv, L * KV * C, C};
    if (c->has_qkv_bias) {
        s[k++] = (slot){"bq", w->bq, L * Q, Q};
        s[k++] = (slot){"bk", w->bk, L * KV, KV};
        s[k++] = (slot){"bv", w->bv, L * KV, KV};
    }
    s[k++] = (slot){"wo", w->wo, L * C * Q, Q};
    s[k++] = (slot){"ffn_norm", w->ffn_norm, L * C, C};
    s[k++] = (slot){"w_gate", w->w_gate, L * F * C, C};
    s[k++] = (slot){"w_up", w->w_up, L * F * C, C};
    s[k++] = (slot){"w_down", w->w_down, L * C * F, F};
    s[k++] = (slot){"out_norm", w->out_norm, C, C};
    if (!c->tied_embeddings)
        s[k++] = (slot){"lm_head", w->lm_head, V * C, C};
    return k;
}

static int load(pt_model *m, const char *path) {
    pt_err e = {0};
    int rc = model_load(m, path, &e);
    CHECKF(rc == PT_OK, "%s", e.msg);
    return rc == PT_OK;
}

static int same_config(const pt_config *a, const pt_config *b) {
    return a->n_layer == b->n_layer && a->n_embd == b->n_embd && a->n_ff == b->n_ff &&
           a->n_head == b->n_head && a->n_head_kv == b->n_head_kv && a->head_dim == b->head_dim &&
           a->vocab_size == b->vocab_size && a->rope_theta == b->rope_theta && a->rms_eps == b->rms_eps &&
           a->tied_embeddings == b->tied_embeddings && a->has_qkv_bias == b->has_qkv_bias &&
           a->max_ctx == b->max_ctx;
}

static void check_identical(const pt_model *a, const pt_model *b, const char *what) {
    slot sa[16], sb[16];
    int na = slots_of(a, sa), nb = slots_of(b, sb);
    CHECKF(na == nb && a->n_params == b->n_params, "%s: layouts differ", what);
    for (int i = 0; i < na && i < nb; i++)
        CHECKF(sa[i].n == sb[i].n && !memcmp(sa[i].p, sb[i].p, sa[i].n * sizeof(float)),
               "%s: %s differs", what, sa[i].name);
}

// Quantised weights against the float originals: each block of 32 along a
// row within `tol` times its largest magnitude (range for Q4_1).
static void check_close_blocks(const pt_model *q, const pt_model *f, const char *slot_name,
                               double tol_amax, const char *what) {
    slot sq[16], sf[16];
    int n = slots_of(q, sq);
    slots_of(f, sf);
    for (int i = 0; i < n; i++) {
        if (strcmp(sq[i].name, slot_name))
            continue;
        size_t bad = 0;
        double worst = 0;
        for (size_t b0 = 0; b0 < sq[i].n; b0 += 32) {
            double amax = 0, lo = INFINITY, hi = -INFINITY;
            for (size_t j = b0; j < b0 + 32 && j < sq[i].n; j++) {
                amax = fmax(amax, fabs(sf[i].p[j]));
                lo = fmin(lo, sf[i].p[j]);
                hi = fmax(hi, sf[i].p[j]);
            }
            double scale = tol_amax < 0 ? (hi - lo) : amax; // negative: relative to range
            double tol = fabs(tol_amax) * scale + amax * 1e-3;
            for (size_t j = b0; j < b0 + 32 && j < sq[i].n; j++) {
                double d = fabs((double)sq[i].p[j] - sf[i].p[j]);
                worst = fmax(worst, d / (amax > 0 ? amax : 1));
                bad += !(d <= tol);
            }
        }
        CHECKF(bad == 0, "%s %s: %zu weights outside the quantisation error (worst %.4f of amax)",
               what, slot_name, bad, worst);
        return;
    }
    CHECKF(0, "%s: no slot %s", what, slot_name);
}

static void check_exact_slot(const pt_model *a, const pt_model *b, const char *slot_name, const char *what) {
    slot sa[16], sb[16];
    int n = slots_of(a, sa);
    slots_of(b, sb);
    for (int i = 0; i < n; i++)
        if (!strcmp(sa[i].name, slot_name))
            CHECKF(!memcmp(sa[i].p, sb[i].p, sa[i].n * sizeof(float)), "%s: %s differs", what, slot_name);
}

static const pt_tensor_desc *find_desc(const pt_model *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i].name, name))
            return &m->tensors[i];
    return NULL;
}

static void test_tiny_llama(void) {
    pt_model hf, gg, sh, q8, q41, mx, bf;
    if (!load(&hf, TINY "llama-hf"))
        return;
    const pt_config *c = &hf.cfg;
    CHECK(!strcmp(c->arch, "llama") && c->n_layer == 2 && c->n_embd == 64 && c->n_ff == 128 &&
          c->n_head == 4 && c->n_head_kv == 2 && c->head_dim == 16 && c->vocab_size == 300 &&
          c->max_ctx == 256 && c->rope_theta == 10000.0f && c->rms_eps == 1e-5f &&
          c->tied_embeddings && !c->has_qkv_bias && c->sliding_window == 0);
    CHECK(hf.source == PT_SRC_HF && hf.tok != NULL);
    CHECK(hf.w.lm_head == hf.w.tok_embd && hf.w.bq == NULL);
    CHECK(!strcmp(c->name, "llama-hf"));
    // parameters: every tensor in the file, once
    st_file f;
    pt_err e = {0};
    size_t n_file = 0;
    if (!st_open(&f, TINY "llama-hf/model.safetensors", &e)) {
        for (int i = 0; i < f.n_tensors; i++)
            n_file += f.tensors[i].nbytes / 4;
        // slices sit where the layer index says: layer 1's q_proj at Q*C
        const st_tensor *t = st_find(&f, "model.layers.1.self_attn.q_proj.weight");
        CHECK(t && !memcmp(hf.w.wq + 64 * 64, t->data, t->nbytes));
        t = st_find(&f, "model.layers.0.mlp.down_proj.weight");
        CHECK(t && !memcmp(hf.w.w_down, t->data, t->nbytes));
        st_close(&f);
    }
    CHECK(hf.n_params == n_file && n_file == 93248);
    CHECK(hf.n_tensors == 20);
    const pt_tensor_desc *d = find_desc(&hf, "model.layers.0.mlp.down_proj.weight");
    CHECK(d && !strcmp(d->type, "F32") && d->n_dims == 2 && d->shape[0] == 64 && d->shape[1] == 128);
    CHECK(has(hf.chat_template, "<|im_start|>") && has(hf.chat_template, "tiny test model"));

    if (load(&gg, TINY "llama-f32.gguf")) {
        CHECK(gg.source == PT_SRC_GGUF && same_config(&gg.cfg, c) && !strcmp(gg.cfg.name, "tiny llama"));
        check_identical(&hf, &gg, "HF vs F32 GGUF");
        CHECK(gg.w.lm_head == gg.w.tok_embd);
        CHECK(gg.n_tensors == 20);
        d = find_desc(&gg, "blk.0.ffn_down.weight");
        CHECK(d && !strcmp(d->type, "F32") && d->n_dims == 2 && d->shape[0] == 64 && d->shape[1] == 128);
        d = find_desc(&gg, "token_embd.weight");
        CHECK(d && d->shape[0] == 300 && d->shape[1] == 64);
        CHECK(gg.chat_template && hf.chat_template && !strcmp(gg.chat_template, hf.chat_template));
        // the file really holds q in the permuted order (or the test above proves nothing)
        gguf_file g;
        if (!gguf_open(&g, TINY "llama-f32.gguf", &e)) {
            const gguf_tensor *t = gguf_find_tensor(&g, "blk.0.attn_q.weight");
            CHECK(t && memcmp(t->data, hf.w.wq, t->nbytes) != 0);
            // GGUF row 1 is HF row hd/2 = 8 of head 0
            CHECK(t && !memcmp(t->data + 1 * 64 * 4, hf.w.wq + 8 * 64, 64 * 4));
            gguf_close(&g);
        }
        model_free(&gg);
    }
    if (load(&sh, TINY "llama-hf-sharded")) {
        check_identical(&hf, &sh, "single vs sharded");
        CHECK(sh.n_tensors == 20 && sh.chat_template && hf.chat_template && !strcmp(sh.chat_template, hf.chat_template));
        model_free(&sh);
    }
    if (load(&bf, TINY "llama-hf-bf16")) {
        slot a[16], b[16];
        int n = slots_of(&hf, a), bad = 0;
        slots_of(&bf, b);
        for (int i = 0; i < n; i++)
            for (size_t j = 0; j < a[i].n; j++)
                bad += !(fabsf(b[i].p[j] - a[i].p[j]) <= ldexpf(fabsf(a[i].p[j]), -8));
        CHECKF(bad == 0, "BF16: %d weights off by more than bf16 rounding", bad);
        d = find_desc(&bf, "model.norm.weight");
        CHECK(d && !strcmp(d->type, "BF16"));
        model_free(&bf);
    }
    static const char *mats[] = {"tok_embd", "wq", "wk", "wv", "wo", "w_gate", "w_up", "w_down"};
    static const char *norms[] = {"attn_norm", "ffn_norm", "out_norm"};
    if (load(&q8, TINY "llama-q8_0.gguf")) {
        CHECK(same_config(&q8.cfg, c) && q8.n_params == hf.n_params);
        for (int i = 0; i < 8; i++) // |err| <= d/2 = amax/254, plus fp16 rounding of d
            check_close_blocks(&q8, &hf, mats[i], 1.0 / 254, "Q8_0");
        for (int i = 0; i < 3; i++)
            check_exact_slot(&q8, &hf, norms[i], "Q8_0");
        d = find_desc(&q8, "blk.1.attn_k.weight");
        CHECK(d && !strcmp(d->type, "Q8_0") && d->shape[0] == 32 && d->shape[1] == 64);
        model_free(&q8);
    }
    if (load(&q41, TINY "llama-q4_1.gguf")) {
        CHECK(same_config(&q41.cfg, c));
        check_close_blocks(&q41, &hf, "tok_embd", 1.0 / 254, "Q4_1 file (Q8_0 embd)");
        for (int i = 1; i < 8; i++) // |err| <= d/2 = range/30
            check_close_blocks(&q41, &hf, mats[i], -1.0 / 30, "Q4_1");
        for (int i = 0; i < 3; i++)
            check_exact_slot(&q41, &hf, norms[i], "Q4_1");
        model_free(&q41);
    }
    if (load(&mx, TINY "llama-mixed.gguf")) { // F16 embd, BF16 attention, Q4_0 FFN
        check_close_blocks(&mx, &hf, "tok_embd", 1.0 / 2048, "F16");
        for (int i = 1; i < 5; i++)
            check_close_blocks(&mx, &hf, mats[i], 1.0 / 256, "BF16");
        for (int i = 5; i < 8; i++) // Q4_0 clamps one side: |err| <= d = amax/8
            check_close_blocks(&mx, &hf, mats[i], 1.0 / 8, "Q4_0");
        model_free(&mx);
    }
    model_free(&hf);
}

static void test_tiny_qwen2(void) {
    pt_model m;
    if (!load(&m, TINY "qwen2-hf"))
        return;
    const pt_config *c = &m.cfg;
    CHECK(!strcmp(c->arch, "qwen2") && c->has_qkv_bias && !c->tied_embeddings &&
          c->rope_theta == 1e6f && c->rms_eps == 1e-6f && c->max_ctx == 512 && c->sliding_window == 0);
    CHECK(m.w.bq && m.w.bk && m.w.bv && m.w.lm_head != m.w.tok_embd);
    st_file f;
    pt_err e = {0};
    if (!st_open(&f, TINY "qwen2-hf/model.safetensors", &e)) {
        size_t n_file = 0;
        for (int i = 0; i < f.n_tensors; i++)
            n_file += f.tensors[i].nbytes / 4;
        CHECK(m.n_params == n_file && f.n_tensors == 27 && m.n_tensors == 27);
        const st_tensor *t = st_find(&f, "model.layers.1.self_attn.k_proj.bias");
        CHECK(t && !memcmp(m.w.bk + 32, t->data, t->nbytes));
        t = st_find(&f, "model.layers.0.self_attn.q_proj.bias");
        CHECK(t && !memcmp(m.w.bq, t->data, t->nbytes)); // HF biases are never permuted
        t = st_find(&f, "lm_head.weight");
        CHECK(t && !memcmp(m.w.lm_head, t->data, t->nbytes));
        st_close(&f);
    }
    // chat_template given as a list: the "default" entry
    CHECK(has(m.chat_template, "tiny test model") && !has(m.chat_template, "unused"));

    // the qwen2 GGUF keeps q/k in HF order (NeoX RoPE): F16 matrices, F32 rest
    pt_model g;
    if (load(&g, TINY "qwen2-f16.gguf")) {
        CHECK(same_config(&g.cfg, c) && !strcmp(g.cfg.arch, "qwen2") && g.n_params == m.n_params);
        static const char *mats[] = {"tok_embd", "wq", "wk", "wv", "wo", "w_gate", "w_up", "w_down", "lm_head"};
        for (int i = 0; i < 9; i++)
            check_close_blocks(&g, &m, mats[i], 1.0 / 2048, "qwen2 F16");
        static const char *exact[] = {"bq", "bk", "bv", "attn_norm", "ffn_norm", "out_norm"};
        for (int i = 0; i < 6; i++)
            check_exact_slot(&g, &m, exact[i], "qwen2 GGUF");
        CHECK(g.chat_template && m.chat_template && !strcmp(g.chat_template, m.chat_template));
        model_free(&g);
    }
    model_free(&m);
}

static void test_linear_names(void) {
    pt_model m;
    memset(&m, 0, sizeof m);
    const char *names[16];
    int n = model_linear_names(&m, names, 16);
    static const char *want[] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
    CHECK(n == 7);
    for (int i = 0; i < n && i < 7; i++)
        CHECK(!strcmp(names[i], want[i]));
    CHECK(model_linear_names(&m, names, 3) == 3);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0) {
        perror(path);
        exit(2);
    }
    fclose(f);
}

// An HF folder in tmpdir: the tiny llama's config.json (or `config`), and
// its tensors with `drop` left out and `reshape`'s first two dims swapped.
static void make_hf(const char *dir, const char *config, const char *drop, const char *reshape) {
    char path[256];
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (config) {
        write_text(path, config);
    } else {
        char *text = NULL;
        size_t n = 0;
        FILE *in = fopen(TINY "llama-hf/config.json", "rb");
        if (in) {
            text = calloc(1, 1 << 16);
            n = fread(text, 1, (1 << 16) - 1, in);
            fclose(in);
        }
        write_text(path, text ? text : "");
        free(text);
        (void)n;
    }
    st_file f;
    pt_err e = {0};
    if (st_open(&f, TINY "llama-hf/model.safetensors", &e)) {
        CHECKF(0, "%s", e.msg);
        return;
    }
    st_write_tensor *ts = calloc((size_t)f.n_tensors, sizeof *ts);
    int n = 0;
    for (int i = 0; i < f.n_tensors; i++) {
        const st_tensor *t = &f.tensors[i];
        if (drop && !strcmp(t->name, drop))
            continue;
        ts[n] = (st_write_tensor){t->name, (const float *)t->data, t->n_dims, {0}};
        for (int k = 0; k < t->n_dims; k++)
            ts[n].shape[k] = t->shape[k];
        if (reshape && !strcmp(t->name, reshape)) {
            ts[n].shape[0] = t->shape[1];
            ts[n].shape[1] = t->shape[0];
        }
        n++;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    int rc = st_write_f32(path, ts, n, "{\"format\":\"pt\"}", &e);
    CHECKF(rc == PT_OK, "%s", e.msg);
    free(ts);
    st_close(&f);
}

static void rm_hf(const char *dir) {
    char path[256];
    snprintf(path, sizeof path, "%s/config.json", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    unlink(path);
    rmdir(dir);
}

static int load_err(const char *path, pt_err *e) {
    pt_model m;
    memset(e, 0, sizeof *e);
    int rc = model_load(&m, path, e);
    if (rc == PT_OK)
        model_free(&m);
    else
        CHECKF(m.weights_mem == NULL && m.tensors == NULL && m.tok == NULL, "partial model left behind");
    return rc;
}

static void test_refusals(void) {
    pt_err e;
    char want[1024], dir[128];

    int rc = load_err(TINY "bad-arch.gguf", &e);
    CHECKF(rc == PT_ERR_UNSUPPORTED && has(e.msg, "architecture bert is not supported") && has(e.msg, "bad-arch.gguf"),
           "%d %s", rc, e.msg);
    rc = load_err(TINY "missing-tensor.gguf", &e);
    CHECKF(rc == PT_ERR_FORMAT && has(e.msg, "missing tensor blk.0.ffn_up.weight"), "%d %s", rc, e.msg);
    rc = load_err(TINY "q4k-tensor.gguf", &e);
    snprintf(want, sizeof want, "%s: tensor blk.0.attn_q.weight has type Q4_K, which peftui cannot load "
             "(supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1)", TINY "q4k-tensor.gguf");
    CHECKF(rc == PT_ERR_UNSUPPORTED && !strcmp(e.msg, want), "%d %s", rc, e.msg);
    rc = load_err(TINY "no-such-model.gguf", &e);
    CHECKF(rc == PT_ERR_IO && has(e.msg, "no-such-model.gguf"), "%d %s", rc, e.msg);
    rc = load_err(TINY "llama-hf/config.json", &e); // a file that is no GGUF
    CHECKF(rc == PT_ERR_FORMAT && has(e.msg, "not a GGUF file"), "%d %s", rc, e.msg);

    // a GGUF whose config disagrees with its tensors
    gguf_file g;
    if (!gguf_open(&g, TINY "llama-f32.gguf", &e)) {
        const gguf_kv *kv = gguf_find_kv(&g, "llama.embedding_length");
        size_t off = kv ? (size_t)(kv->val - g.base) : 0, n = g.size;
        unsigned char *b = malloc(n);
        memcpy(b, g.base, n);
        gguf_close(&g);
        b[off] = 32; // 64 -> 32
        char path[128];
        snprintf(path, sizeof path, "%s/shape.gguf", tmpdir);
        FILE *f = fopen(path, "wb");
        if (f && fwrite(b, 1, n, f) == n && fclose(f) == 0) {
            rc = load_err(path, &e);
            CHECKF(rc == PT_ERR_FORMAT && has(e.msg, "tensor token_embd.weight has shape [300, 64], expected [300, 32]"),
                   "%d %s", rc, e.msg);
        }
        unlink(path);
        free(b);
    }

    // HF folders
    snprintf(dir, sizeof dir, "%s/hf", tmpdir);
    make_hf(dir, "{\"model_type\":\"t5\",\"architectures\":[\"T5ForConditionalGeneration\"]}", NULL, NULL);
    rc = load_err(dir, &e);
    CHECKF(rc == PT_ERR_UNSUPPORTED && has(e.msg, "architecture t5") && has(e.msg, "config.json") &&
           has(e.msg, "bloom, gpt2, gpt_neox, gpt_bigcode, mpt are"), "%d %s", rc, e.msg);
    rm_hf(dir);
    make_hf(dir, "{\"model_type\":\"llama\",\"architectures\":[\"LlamaForSequenceClassification\"]}", NULL, NULL);
    rc = load_err(dir, &e);
    CHECKF(rc == PT_ERR_UNSUPPORTED && has(e.msg, "LlamaForSequenceClassification"), "%d %s", rc, e.msg);
    rm_hf(dir);
    make_hf(dir, "{\"model_type\":\"llama\",", NULL, NULL);
    rc = load_err(dir, &e);
    CHECKF(rc == PT_ERR_FORMAT && has(e.msg, "config.json"), "%d %s", rc, e.msg);
    rm_hf(dir);
    make_hf(dir, "{\"model_type\":\"llama\",\"hidden_size\":64,\"intermediate_size\":128,\"num_hidden_layers\":2,"
                 "\"num_attention_heads\":4,\"num_key_value_heads\":3,\"vocab_size\":300}", NULL, NULL);
    rc = load_err(dir, &e);
    CHECKF(rc == PT_ERR_FORMAT && has(e.msg, "do not divide"), "%d %s", rc, e.msg);
    rm_hf(dir);
    make_hf(dir, "{\"model_type\":\"llama\",\"hidden_size\":64,\"intermediate_size\":128,\"num_hidden_layers\":2,"
                 "\"num_attention_heads\":4,\"vocab_size\":300,\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8}}",
            NULL, NULL);
    rc = load_err(dir, &e);
    CHECKF(rc == PT_ERR_UNSUPPORTED && has(e.msg, "llama3"), "%d %s", rc, e.msg);
    rm_hf(dir);
    make_hf(dir, "{\"model_type\":\"llama\",\"hidden_size\":64,\"num_hidden_layers\":2,"
                 "\"num_attention_heads\":4,\"vocab_size\":300}", NULL, NULL);
    rc = load_err(dir, &e);
    CHECKF(rc == PT_ERR_FORMAT && has(e.msg, "intermediate_size"), "%d %s", rc, e.msg);
    rm_hf(dir);
    make_hf(dir, NULL, "model.layers.1.mlp.up_proj.weight", NULL);
    rc = load_err(dir, &e);
    CHECKF(rc == PT_ERR_FORMAT && has(e.msg, "missing tensor model.layers.1.mlp.up_proj.weight"), "%d %s", rc, e.msg);
    rm_hf(dir);
    make_hf(dir, NULL, NULL, "model.layers.0.self_attn.k_proj.weight");
    rc = load_err(dir, &e);
    CHECKF(rc == PT_ERR_FORMAT &&
           has(e.msg, "tensor model.layers.0.self_attn.k_proj.weight has shape [64, 32], expected [32, 64]"),
           "%d %s", rc, e.msg);
    rm_hf(dir);
    make_hf(dir, NULL, NULL, NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    unlink(path);
    rc = load_err(dir, &e);
    CHECKF(rc == PT_ERR_IO && has(e.msg, "no model.safetensors"), "%d %s", rc, e.msg);
    snprintf(path, sizeof path, "%s/pytorch_model.bin", dir);   // a pickle checkpoint: what to convert, in words
    write_text(path, "not read");
    rc = load_err(dir, &e);
    CHECKF(rc == PT_ERR_UNSUPPORTED && has(e.msg, "only pytorch_model.bin weights") && has(e.msg, "safe_serialization=True"),
           "%d %s", rc, e.msg);
    unlink(path);
    rm_hf(dir);
}

// Byte flips in the config keys and the tensor table of a tiny GGUF:
// model_load must refuse cleanly or load a consistent model.
static void test_load_mutants(void) {
    gguf_file g;
    pt_err e;
    if (gguf_open(&g, TINY "llama-q4_1.gguf", &e)) {
        CHECKF(0, "%s", e.msg);
        return;
    }
    size_t n = g.size, lo = n, hi = 0, t0 = n, data = n;
    for (uint64_t i = 0; i < g.n_kv; i++) {
        size_t at = (size_t)(g.kv[i].key.ptr - (const char *)g.base) - 8;
        if (gguf_str_eq((gguf_str){g.kv[i].key.ptr, g.kv[i].key.len < 6 ? 0 : 6}, "llama.")) {
            lo = at < lo ? at : lo;
            hi = (size_t)(g.kv[i].val - g.base) + 4 > hi ? (size_t)(g.kv[i].val - g.base) + 4 : hi;
        }
    }
    t0 = (size_t)(g.tensors[0].name.ptr - (const char *)g.base) - 8;
    for (uint64_t i = 0; i < g.n_tensors; i++)
        if ((size_t)(g.tensors[i].data - g.base) < data)
            data = (size_t)(g.tensors[i].data - g.base);
    unsigned char *orig = malloc(n), *b = malloc(n);
    memcpy(orig, g.base, n);
    gguf_close(&g);
    char path[128];
    snprintf(path, sizeof path, "%s/mut.gguf", tmpdir);
    uint64_t rng = 12345;
    int n_ok = 0, n_bad = 0, consistent = 1, msgs = 1;
    for (int it = 0; it < 300; it++) {
        memcpy(b, orig, n);
        for (int k = 0; k < 2; k++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            uint32_t r = (uint32_t)(rng >> 33);
            size_t span1 = hi - lo, span2 = data - t0;
            size_t at = r % (span1 + span2);
            at = at < span1 ? lo + at : t0 + (at - span1);
            b[at] ^= (unsigned char)(1u << ((r >> 20) % 8));
        }
        unlink(path);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(b, 1, n, f) != n)
            exit(2);
        fclose(f);
        pt_model m;
        if (model_load(&m, path, &e) == PT_OK) {
            n_ok++;
            slot s[16];
            int ns = slots_of(&m, s);
            size_t total = 0;
            for (int i = 0; i < ns; i++)
                total += s[i].n;
            consistent &= total == m.n_params && m.cfg.n_embd > 0;
            model_free(&m);
        } else {
            n_bad++;
            msgs &= e.msg[0] && !strchr(e.msg, '\n');
        }
    }
    unlink(path);
    printf("model_load mutants: %d loaded, %d refused\n", n_ok, n_bad);
    CHECK(consistent && msgs && n_bad > 0);
    free(orig);
    free(b);
}

static void test_real_model(void) {
    if (access(REAL, R_OK) != 0) {
        printf("note: %s absent, real-model checks skipped\n", REAL);
        return;
    }
    pt_model m;
    if (!load(&m, REAL))
        return;
    const pt_config *c = &m.cfg;
    CHECK(!strcmp(c->arch, "llama") && c->n_layer == 30 && c->n_embd == 576 && c->n_ff == 1536 &&
          c->n_head == 9 && c->n_head_kv == 3 && c->head_dim == 64 && c->vocab_size == 49152 &&
          c->max_ctx == 8192 && c->rope_theta == 100000.0f && fabsf(c->rms_eps - 1e-5f) < 1e-9f &&
          c->tied_embeddings && !c->has_qkv_bias);
    CHECKF(m.n_params >= 134400000 && m.n_params <= 134600000, "n_params %zu", m.n_params);
    CHECK(m.w.lm_head == m.w.tok_embd && m.n_tensors == 272);
    const pt_tensor_desc *d = find_desc(&m, "blk.0.ffn_down.weight");
    CHECK(d && !strcmp(d->type, "Q4_1") && d->shape[0] == 576 && d->shape[1] == 1536);
    d = find_desc(&m, "token_embd.weight");
    CHECK(d && !strcmp(d->type, "Q8_0") && d->shape[0] == 49152 && d->shape[1] == 576);
    CHECK(has(m.chat_template, "<|im_start|>"));
    size_t nonfinite = 0;
    double sum_sq = 0;
    for (size_t i = 0; i < m.n_params; i++) {
        nonfinite += !isfinite(m.weights_mem[i]);
        sum_sq += (double)m.weights_mem[i] * m.weights_mem[i];
    }
    CHECK(nonfinite == 0 && sum_sq > 0);
    // norms are stored F32: loaded bit for bit
    gguf_file g;
    pt_err e;
    if (!gguf_open(&g, REAL, &e)) {
        const gguf_tensor *t = gguf_find_tensor(&g, "blk.7.ffn_norm.weight");
        CHECK(t && !memcmp(t->data, m.w.ffn_norm + 7 * 576, 576 * 4));
        gguf_close(&g);
    }
    model_free(&m);
}

int main(void) {
    if (access(TINY "llama-hf/model.safetensors", R_OK) != 0)
        SKIP_ALL("tiny models absent: run /opt/ref/bin/python tests/reference/make_tiny_models.py");
    snprintf(tmpdir, sizeof tmpdir, "/dev/shm/pt_ml_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/pt_ml_XXXXXX");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            return 2;
        }
    }
    test_tiny_llama();
    test_tiny_qwen2();
    test_linear_names();
    test_refusals();
    test_load_mutants();
    test_real_model();
    rmdir(tmpdir);
    return check_report("test_model_load");
}
