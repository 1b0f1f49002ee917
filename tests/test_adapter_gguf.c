// test_adapter_gguf.c - llama.cpp GGUF LoRAs read back (adapter_load_gguf):
// what export_adapter writes (tiny llama from its HF folder and its GGUF
// file, tiny qwen2) comes back bit for bit with the same modules and ranks:
// plain, layers_to_transform, rank_pattern, an irregular module set (a
// target regex), rsLoRA (scale folded into B: scale * B the same); F16 and
// BF16 tensors (a hand-written file); and every bad input refused with an
// error naming the fault: a model file, wrong shapes, unknown names, another
// architecture, unsupported types, truncations.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/bf16.h"
#include "io/dequant.h"
#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "lora/export.h"
#include "lora/lora.h"
#include "model/model.h"
#include "model/model_internal.h"

#define TINY PT_SOURCE_DIR "/tests/data/tiny/"

static const char *tmpdir;

static void path_of(char *buf, size_t cap, const char *name) { snprintf(buf, cap, "%s/%s", tmpdir, name); }

// An adapter on m from config JSON, every A and B non-zero (as if trained).
static int make_adapter(pt_adapter *a, const pt_model *m, const char *json) {
    pt_lora_config c;
    pt_err err = {0};
    int rc = lora_config_from_json(&c, json, "cfg", &err);
    if (!rc) rc = adapter_create(a, m, &c, 5, &err);
    lora_config_free(&c);
    CHECKF(rc == PT_OK, "%s: %s", json, err.msg);
    if (rc) return rc;
    for (size_t i = 0; i < a->n_params; i++) a->params[i] = 0.25f * sinf(0.7f * (float)i + 0.1f);
    return PT_OK;
}

static int same_modules(const pt_adapter *a, const pt_adapter *b) {
    if (a->n_layer != b->n_layer) return 0;
    for (int i = 0; i < a->n_layer * PT_LIN_COUNT; i++) {
        const pt_lora_module *x = &a->mods[i], *y = &b->mods[i];
        if ((x->A != NULL) != (y->A != NULL)) return 0;
        if (x->A && (x->r != y->r || x->in != y->in || x->out != y->out)) return 0;
    }
    return 1;
}

// Modules whose A or B differ in any bit.
static int bits_differ(const pt_adapter *a, const pt_adapter *b) {
    int bad = 0;
    for (int i = 0; i < a->n_layer * PT_LIN_COUNT; i++) {
        const pt_lora_module *x = &a->mods[i], *y = &b->mods[i];
        if (!x->A || !y->A) continue;
        bad += memcmp(x->A, y->A, (size_t)x->r * x->in * sizeof(float)) != 0;
        bad += memcmp(x->B, y->B, (size_t)x->out * x->r * sizeof(float)) != 0;
    }
    return bad;
}

// a exported as a GGUF LoRA to tmp/name.gguf and read back into *b.
static int export_import(const pt_adapter *a, const pt_model *m, const char *name, pt_adapter *b) {
    char path[700], file[80], warn[256] = "x";
    pt_export_warnings w;
    pt_err err = {0};
    snprintf(file, sizeof file, "%s.gguf", name);
    path_of(path, sizeof path, file);
    int rc = export_adapter(a, m, PT_EXPORT_GGUF_LORA, 1.0f, path, &w, &err);
    CHECKF(rc == PT_OK, "export %s: %s", name, err.msg);
    if (rc) return rc;
    rc = adapter_load_gguf(b, m, path, warn, sizeof warn, &err);
    CHECKF(rc == PT_OK, "import %s: %s", name, err.msg);
    if (rc) return rc;
    CHECKF(!strcmp(b->name, name) && warn[0] == 0 && b->base_fingerprint[0] == 0, "%s: name '%s', warning '%s'", name,
           b->name, warn);
    return PT_OK;
}

static const char *const FIVE = "\"target_modules\": [\"q_proj\", \"k_proj\", \"v_proj\", \"o_proj\", \"down_proj\"]";

static void test_round_trip(const pt_model *m, const char *tag) {
    pt_adapter a, b;
    char json[400], name[64];
    // every layer: the short names, no layers_to_transform, no patterns
    snprintf(json, sizeof json, "{%s, \"r\": 4, \"lora_alpha\": 8}", FIVE);
    snprintf(name, sizeof name, "%s-plain", tag);
    if (!make_adapter(&a, m, json)) {
        if (!export_import(&a, m, name, &b)) {
            CHECKF(same_modules(&a, &b) && bits_differ(&a, &b) == 0, "%s", name);
            CHECK(b.cfg.r == 4 && b.cfg.lora_alpha == 8.0f && !b.cfg.use_rslora && b.cfg.n_target_modules == 5 &&
                  !b.cfg.n_layers_to_transform && !b.cfg.n_rank_pattern && !b.cfg.target_regex);
            CHECK(b.n_params == a.n_params);
            adapter_free(&b);
        }
        adapter_free(&a);
    }
    // only layer 1
    snprintf(json, sizeof json, "{%s, \"r\": 4, \"lora_alpha\": 8, \"layers_to_transform\": [1]}", FIVE);
    snprintf(name, sizeof name, "%s-layer1", tag);
    if (!make_adapter(&a, m, json)) {
        if (!export_import(&a, m, name, &b)) {
            CHECKF(same_modules(&a, &b) && bits_differ(&a, &b) == 0, "%s", name);
            CHECK(b.cfg.n_layers_to_transform == 1 && b.cfg.layers_to_transform[0] == 1 && b.cfg.n_target_modules == 5);
            CHECK(!b.mods[PT_LIN_Q].A && b.mods[PT_LIN_COUNT + PT_LIN_Q].A);
            adapter_free(&b);
        }
        adapter_free(&a);
    }
    // one module kind of another rank (powers of two: alpha/r folds to exactly 1)
    snprintf(json, sizeof json, "{%s, \"r\": 4, \"lora_alpha\": 8, \"rank_pattern\": {\"o_proj\": 2}}", FIVE);
    snprintf(name, sizeof name, "%s-ranks", tag);
    if (!make_adapter(&a, m, json)) {
        if (!export_import(&a, m, name, &b)) {
            CHECKF(same_modules(&a, &b) && bits_differ(&a, &b) == 0, "%s", name);
            CHECK(b.cfg.r == 4 && b.cfg.lora_alpha == 8.0f && b.cfg.n_rank_pattern == m->cfg.n_layer);
            CHECK(b.mods[PT_LIN_O].r == 2 && b.mods[PT_LIN_O].scale == 4.0f && b.mods[PT_LIN_Q].scale == 2.0f);
            adapter_free(&b);
        }
        adapter_free(&a);
    }
    // modules no list + layers_to_transform gives: an exact regex
    snprintf(json, sizeof json, "{\"target_modules\": \"model\\\\.layers\\\\.0\\\\.self_attn\\\\.(q_proj|v_proj)|"
                                "model\\\\.layers\\\\.1\\\\.mlp\\\\.down_proj\", \"r\": 2, \"lora_alpha\": 2}");
    snprintf(name, sizeof name, "%s-irregular", tag);
    if (!make_adapter(&a, m, json)) {
        if (!export_import(&a, m, name, &b)) {
            CHECKF(same_modules(&a, &b) && bits_differ(&a, &b) == 0, "%s: regex %s", name,
                   b.cfg.target_regex ? b.cfg.target_regex : "(none)");
            CHECK(b.cfg.target_regex && !b.cfg.n_target_modules && b.cfg.r == 2 && b.cfg.lora_alpha == 2.0f);
            adapter_free(&b);
        }
        adapter_free(&a);
    }
    // rsLoRA with a pattern: the exporter folds scale * r / alpha into B, so
    // the imported (plain alpha / r) adapter has the same scale * B
    snprintf(json, sizeof json, "{%s, \"r\": 4, \"lora_alpha\": 8, \"use_rslora\": true, \"rank_pattern\": "
                                "{\"v_proj\": 2}}", FIVE);
    snprintf(name, sizeof name, "%s-rslora", tag);
    if (!make_adapter(&a, m, json)) {
        if (!export_import(&a, m, name, &b)) {
            CHECK(same_modules(&a, &b) && !b.cfg.use_rslora && b.cfg.r == 4 && b.cfg.lora_alpha == 8.0f);
            int bad = 0, nb = 0;
            for (int i = 0; i < a.n_layer * PT_LIN_COUNT; i++) {
                const pt_lora_module *x = &a.mods[i], *y = &b.mods[i];
                if (!x->A || !y->A) continue;
                bad += memcmp(x->A, y->A, (size_t)x->r * x->in * sizeof(float)) != 0;
                for (int k = 0; k < x->out * x->r; k++, nb++) {
                    float want = x->scale * x->B[k], got = y->scale * y->B[k];
                    bad += !check_close(got, want, 1e-12f, 1e-6f);
                }
            }
            CHECKF(bad == 0 && nb > 0, "%s: %d of %d values differ", name, bad, nb);
            adapter_free(&b);
        }
        adapter_free(&a);
    }
}

// ---------------------------------------------------------------- a hand-written GGUF

// A tensor for write_gguf: ne [ne0, ne1] of ggml type `type`, nbytes of data.
typedef struct {
    const char *name;
    uint32_t type;
    uint64_t ne0, ne1;
    const void *data;
    size_t nbytes;
} raw_tensor;

static void put_u32(FILE *f, uint32_t v) { fwrite(&v, 4, 1, f); }
static void put_u64(FILE *f, uint64_t v) { fwrite(&v, 8, 1, f); }
static void put_str(FILE *f, const char *s) {
    put_u64(f, strlen(s));
    fwrite(s, 1, strlen(s), f);
}
static void pad32(FILE *f) {
    long pos = ftell(f);
    while (pos++ % 32) fputc(0, f);
}

// GGUF v3 with general.type/architecture, adapter.type and (alpha > 0)
// adapter.lora.alpha; tensors of any type (gguf_writer writes F32 only).
static int write_gguf(const char *path, const char *arch, float alpha, const raw_tensor *ts, int n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fwrite("GGUF", 1, 4, f);
    put_u32(f, 3);
    put_u64(f, (uint64_t)n);
    put_u64(f, alpha > 0 ? 4 : 3);
    const char *kv[3][2] = {{"general.architecture", arch}, {"general.type", "adapter"}, {"adapter.type", "lora"}};
    for (int i = 0; i < 3; i++) {
        put_str(f, kv[i][0]);
        put_u32(f, GGUF_TYPE_STRING);
        put_str(f, kv[i][1]);
    }
    if (alpha > 0) {
        put_str(f, "adapter.lora.alpha");
        put_u32(f, GGUF_TYPE_FLOAT32);
        fwrite(&alpha, 4, 1, f);
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        put_str(f, ts[i].name);
        put_u32(f, 2);
        put_u64(f, ts[i].ne0);
        put_u64(f, ts[i].ne1);
        put_u32(f, ts[i].type);
        put_u64(f, off);
        off = (off + ts[i].nbytes + 31) / 32 * 32;
    }
    pad32(f);
    for (int i = 0; i < n; i++) {
        fwrite(ts[i].data, 1, ts[i].nbytes, f);
        pad32(f);
    }
    return fclose(f) ? -1 : 0;
}

// F16 and BF16 tensors (values exact in both), q's lora_b in the GGUF row order.
static void test_half(const pt_model *m) {
    // the conversions the loader uses (dequant_row), on their own
    CHECK(fp16_to_f32(f32_to_fp16(-1.375f)) == -1.375f && fp16_to_f32(0x3c00) == 1.0f && fp16_to_f32(0xc000) == -2.0f);
    CHECK(bf16_to_f32(pt_f32_to_bf16(0.15625f)) == 0.15625f && bf16_to_f32(0x3f80) == 1.0f);
    uint16_t h[3] = {0x3c00, 0xb800, 0x0000};
    float out[3];
    dequant_row(GGML_TYPE_F16, h, out, 3);
    CHECK(out[0] == 1.0f && out[1] == -0.5f && out[2] == 0.0f);
    dequant_row(GGML_TYPE_BF16, (uint16_t[]){0x3f80, 0xbf00, 0x4000}, out, 3);
    CHECK(out[0] == 1.0f && out[1] == -0.5f && out[2] == 2.0f);

    const pt_config *c = &m->cfg;
    int C = c->n_embd, Q = c->n_head * c->head_dim, KV = c->n_head_kv * c->head_dim, r = 2, hd = c->head_dim;
    size_t na = (size_t)C * r, nq = (size_t)Q * r, nv = (size_t)KV * r;
    uint16_t *qa = malloc(na * 2), *qb = malloc(nq * 2), *va = malloc(na * 2), *vb = malloc(nv * 2);
    float *want_qb = malloc(nq * sizeof(float));
    if (!qa || !qb || !va || !vb || !want_qb) { CHECK(0); goto done; }
    for (size_t i = 0; i < na; i++) {
        qa[i] = f32_to_fp16((float)((int)(i % 17) - 8) / 16.0f);
        va[i] = pt_f32_to_bf16((float)((int)(i % 13) - 6) / 8.0f);
    }
    for (size_t i = 0; i < nq; i++) qb[i] = f32_to_fp16((float)((int)(i % 11) - 5) / 32.0f);
    for (size_t i = 0; i < nv; i++) vb[i] = pt_f32_to_bf16((float)((int)(i % 7) - 3) / 4.0f);
    for (int g = 0; g < Q; g++)  // HF row unpermute(g) = GGUF row g
        for (int k = 0; k < r; k++) want_qb[model_unpermute_row(g, hd) * r + k] = fp16_to_f32(qb[(size_t)g * r + k]);
    raw_tensor ts[4] = {
        {"blk.1.attn_q.weight.lora_a", GGML_TYPE_F16, (uint64_t)C, (uint64_t)r, qa, na * 2},
        {"blk.1.attn_q.weight.lora_b", GGML_TYPE_F16, (uint64_t)r, (uint64_t)Q, qb, nq * 2},
        {"blk.0.attn_v.weight.lora_a", GGML_TYPE_BF16, (uint64_t)C, (uint64_t)r, va, na * 2},
        {"blk.0.attn_v.weight.lora_b", GGML_TYPE_BF16, (uint64_t)r, (uint64_t)KV, vb, nv * 2},
    };
    char path[700], warn[64];
    pt_err err = {0};
    pt_adapter a;
    path_of(path, sizeof path, "half.gguf");
    CHECK(write_gguf(path, "llama", 4.0f, ts, 4) == 0);
    int rc = adapter_load_gguf(&a, m, path, warn, sizeof warn, &err);
    CHECKF(rc == PT_OK, "F16/BF16: %s", err.msg);
    if (rc == PT_OK) {
        const pt_lora_module *mq = &a.mods[PT_LIN_COUNT + PT_LIN_Q], *mv = &a.mods[PT_LIN_V];
        int bad = !mq->A || !mv->A || mq->r != 2 || mv->r != 2;
        for (size_t i = 0; !bad && i < na; i++)
            bad += mq->A[i] != fp16_to_f32(qa[i]) || mv->A[i] != bf16_to_f32(va[i]);
        for (size_t i = 0; !bad && i < nq; i++) bad += mq->B[i] != want_qb[i];
        for (size_t i = 0; !bad && i < nv; i++) bad += mv->B[i] != bf16_to_f32(vb[i]);
        CHECKF(bad == 0, "F16/BF16 values differ");
        int n = 0;
        for (int i = 0; i < a.n_layer * PT_LIN_COUNT; i++) n += a.mods[i].A != NULL;
        CHECK(n == 2 && a.cfg.target_regex && a.cfg.lora_alpha == 4.0f && !strcmp(a.name, "half"));
        adapter_free(&a);
    }
    // no adapter.lora.alpha: llama.cpp scales by 1, so alpha = r per module
    ts[3].ne0 = ts[2].ne1 = 4;  // v at rank 4: lora_a ne [C, 4], lora_b ne [4, KV] (zeros)
    ts[2].nbytes = (size_t)C * 4 * 2;
    ts[3].nbytes = (size_t)KV * 4 * 2;
    uint16_t *big = calloc((size_t)(C > KV ? C : KV) * 4, 2);
    if (big) {
        ts[2].data = ts[3].data = big;
        path_of(path, sizeof path, "noalpha.gguf");
        CHECK(write_gguf(path, "llama", 0.0f, ts, 4) == 0);
        rc = adapter_load_gguf(&a, m, path, warn, sizeof warn, &err);
        CHECKF(rc == PT_OK, "no alpha: %s", err.msg);
        if (rc == PT_OK) {
            const pt_lora_module *mq = &a.mods[PT_LIN_COUNT + PT_LIN_Q], *mv = &a.mods[PT_LIN_V];
            CHECKF(mq->r == 2 && mv->r == 4 && mq->scale == 1.0f && mv->scale == 1.0f && a.cfg.r == 2 &&
                   a.cfg.lora_alpha == 2.0f, "r %d %d scale %g %g", mq->r, mv->r, mq->scale, mv->scale);
            adapter_free(&a);
        }
        free(big);
    }
    // Q8_0 is refused by name
    ts[0].type = GGML_TYPE_Q8_0;
    ts[0].ne0 = (uint64_t)C;
    ts[0].nbytes = (size_t)C / 32 * 34 * r;
    path_of(path, sizeof path, "q8.gguf");
    CHECK(write_gguf(path, "llama", 4.0f, ts, 2) == 0);
    rc = adapter_load_gguf(&a, m, path, warn, sizeof warn, &err);
    CHECKF(rc == PT_ERR_UNSUPPORTED && strstr(err.msg, "Q8_0") && strstr(err.msg, "blk.1.attn_q.weight.lora_a"), "%d %s",
           rc, err.msg);
done:
    free(qa);
    free(qb);
    free(va);
    free(vb);
    free(want_qb);
}

// ---------------------------------------------------------------- refusals

// F32 LoRA tensors written with the project's gguf_writer; returns the load's status.
static int load_written(const pt_model *m, const char *name, const char *arch, const char *const *names,
                        const uint64_t (*ne)[2], int n, pt_err *err) {
    static const float zeros[64 * 256];
    gguf_writer w;
    char path[700], warn[64];
    pt_adapter a;
    gguf_writer_init(&w);
    gguf_writer_add_str(&w, "general.architecture", arch);
    gguf_writer_add_str(&w, "general.type", "adapter");
    gguf_writer_add_str(&w, "adapter.type", "lora");
    gguf_writer_add_f32(&w, "adapter.lora.alpha", 8.0f);
    for (int i = 0; i < n; i++) gguf_writer_add_tensor_f32(&w, names[i], 2, ne[i], zeros);
    path_of(path, sizeof path, name);
    int rc = gguf_writer_write(&w, path, err);
    gguf_writer_free(&w);
    CHECKF(rc == PT_OK, "write %s: %s", name, err->msg);
    rc = adapter_load_gguf(&a, m, path, warn, sizeof warn, err);
    if (rc == PT_OK) adapter_free(&a);
    return rc;
}

static void test_refusals(const pt_model *m, const pt_model *q) {
    pt_adapter a;
    pt_err err = {0};
    char warn[64], path[700];
    int rc = adapter_load_gguf(&a, m, TINY "llama-f32.gguf", warn, sizeof warn, &err);
    CHECKF(rc != PT_OK && strstr(err.msg, "not a LoRA adapter") && strstr(err.msg, "'model'") &&
           strstr(err.msg, "llama-f32.gguf"), "model file: %d %s", rc, err.msg);
    rc = adapter_load_gguf(&a, m, TINY "nonexistent.gguf", warn, sizeof warn, &err);
    CHECKF(rc == PT_ERR_IO && strstr(err.msg, "nonexistent.gguf"), "%d %s", rc, err.msg);

    const pt_config *c = &m->cfg;
    uint64_t C = (uint64_t)c->n_embd, Q = (uint64_t)c->n_head * c->head_dim;
    const char *qn[2] = {"blk.0.attn_q.weight.lora_a", "blk.0.attn_q.weight.lora_b"};
    // lora_a of the wrong width: the tensor and both shapes named
    const uint64_t bad_a[2][2] = {{C / 2, 4}, {4, Q}};
    char want[64], got[64];
    snprintf(got, sizeof got, "[%llu, 4]", (unsigned long long)(C / 2));
    snprintf(want, sizeof want, "[%llu, 4]", (unsigned long long)C);
    rc = load_written(m, "shape.gguf", "llama", qn, bad_a, 2, &err);
    CHECKF(rc == PT_ERR_FORMAT && strstr(err.msg, "blk.0.attn_q.weight.lora_a") && strstr(err.msg, got) &&
           strstr(err.msg, want), "shape: %d %s", rc, err.msg);
    // lora_b for another model's heads
    const uint64_t bad_b[2][2] = {{C, 4}, {4, Q + 32}};
    rc = load_written(m, "shape-b.gguf", "llama", qn, bad_b, 2, &err);
    CHECKF(rc == PT_ERR_FORMAT && strstr(err.msg, "blk.0.attn_q.weight.lora_b"), "shape b: %d %s", rc, err.msg);
    // ranks that disagree
    const uint64_t ranks[2][2] = {{C, 4}, {2, Q}};
    rc = load_written(m, "rank.gguf", "llama", qn, ranks, 2, &err);
    CHECKF(rc == PT_ERR_FORMAT && strstr(err.msg, "rank") && strstr(err.msg, "attn_q"), "rank: %d %s", rc, err.msg);
    // a pair without its lora_b
    const uint64_t good[3][2] = {{C, 4}, {4, Q}, {C, 4}};
    rc = load_written(m, "half-pair.gguf", "llama", qn, good, 1, &err);
    CHECKF(rc == PT_ERR_FORMAT && strstr(err.msg, "missing tensor blk.0.attn_q.weight.lora_b"), "pair: %d %s", rc,
           err.msg);
    // a name that is no LoRA matrix of ours, and a layer past the last
    const char *odd[3] = {qn[0], qn[1], "blk.0.attn_norm.weight.lora_a"};
    rc = load_written(m, "unknown.gguf", "llama", odd, good, 3, &err);
    CHECKF(rc == PT_ERR_UNSUPPORTED && strstr(err.msg, "blk.0.attn_norm.weight.lora_a"), "unknown: %d %s", rc, err.msg);
    const char *far[3] = {qn[0], qn[1], "blk.9.ffn_up.weight.lora_a"};
    rc = load_written(m, "far.gguf", "llama", far, good, 3, &err);
    CHECKF(rc == PT_ERR_FORMAT && strstr(err.msg, "blk.9.ffn_up") && strstr(err.msg, "layer 9"), "layer: %d %s", rc,
           err.msg);
    const char *neg[3] = {qn[0], qn[1], "blk.-1.attn_q.weight.lora_a"};
    rc = load_written(m, "neg.gguf", "llama", neg, good, 3, &err);
    CHECKF(rc == PT_ERR_UNSUPPORTED && strstr(err.msg, "blk.-1"), "negative layer: %d %s", rc, err.msg);
    const char *huge[3] = {qn[0], qn[1], "blk.99999999999.attn_q.weight.lora_a"};
    rc = load_written(m, "huge.gguf", "llama", huge, good, 3, &err);
    CHECKF(rc != PT_OK, "huge layer: %d %s", rc, err.msg);
    // the same tensors are fine (the writer and the checks above are right)
    rc = load_written(m, "good.gguf", "llama", qn, good, 2, &err);
    CHECKF(rc == PT_OK, "good: %s", err.msg);
    // no tensors at all
    rc = load_written(m, "empty.gguf", "llama", qn, good, 0, &err);
    CHECKF(rc == PT_ERR_FORMAT && strstr(err.msg, "no LoRA tensors"), "empty: %d %s", rc, err.msg);
    // another architecture: a qwen2 export onto the llama
    pt_adapter qa;
    pt_export_warnings w;
    if (!make_adapter(&qa, q, "{\"target_modules\": [\"q_proj\", \"v_proj\"], \"r\": 2, \"lora_alpha\": 4}")) {
        path_of(path, sizeof path, "qwen.gguf");
        CHECK(export_adapter(&qa, q, PT_EXPORT_GGUF_LORA, 1.0f, path, &w, &err) == PT_OK);
        rc = adapter_load_gguf(&a, m, path, warn, sizeof warn, &err);
        CHECKF(rc == PT_ERR_ARG && strstr(err.msg, "'qwen2'") && strstr(err.msg, "'llama'"), "arch: %d %s", rc, err.msg);
        adapter_free(&qa);
    }
    rc = load_written(m, "qwen-arch.gguf", "qwen2", qn, good, 2, &err);
    CHECKF(rc == PT_ERR_ARG && strstr(err.msg, "qwen2"), "arch 2: %d %s", rc, err.msg);

    // truncations of a real export: every cut is an error, none a crash
    pt_adapter full;
    if (make_adapter(&full, m, "{\"target_modules\": [\"q_proj\", \"v_proj\"], \"r\": 2, \"lora_alpha\": 4}")) return;
    path_of(path, sizeof path, "whole.gguf");
    CHECK(export_adapter(&full, m, PT_EXPORT_GGUF_LORA, 1.0f, path, &w, &err) == PT_OK);
    adapter_free(&full);
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long size = 0;
    if (f && !fseek(f, 0, SEEK_END) && (size = ftell(f)) > 0 && !fseek(f, 0, SEEK_SET) && (buf = malloc((size_t)size)))
        CHECK(fread(buf, 1, (size_t)size, f) == (size_t)size);
    if (f) fclose(f);
    CHECK(buf != NULL);
    int cuts = 0, refused = 0;
    char cut[700];
    path_of(cut, sizeof cut, "cut.gguf");
    for (long n = 0; buf && n < size; n += n < 1024 ? 3 : size / 40 + 1) {
        FILE *o = fopen(cut, "wb");
        if (!o) break;
        fwrite(buf, 1, (size_t)n, o);
        fclose(o);
        cuts++;
        rc = adapter_load_gguf(&a, m, cut, warn, sizeof warn, &err);
        refused += rc != PT_OK;
        if (rc == PT_OK) {
            fprintf(stderr, "cut at %ld of %ld bytes loaded\n", n, size);
            adapter_free(&a);
        }
    }
    CHECKF(cuts > 300 && refused == cuts, "%d of %d truncations refused", refused, cuts);
    // every byte of the header and tables corrupted in turn (0xff: huge
    // counts, lengths and shapes): loads or refuses, never crashes (run under
    // PEFTUI_SANITIZE to see the memory side)
    int tried = 0;
    for (long n = 0; buf && n < size && n < 2048; n++) {
        unsigned char keep = buf[n];
        buf[n] = 0xff;
        FILE *o = fopen(cut, "wb");
        if (o) {
            fwrite(buf, 1, (size_t)size, o);
            fclose(o);
            if (adapter_load_gguf(&a, m, cut, warn, sizeof warn, &err) == PT_OK) adapter_free(&a);
            tried++;
        }
        buf[n] = keep;
    }
    CHECK(tried > 0);
    free(buf);
    // a corrupt rank: lora_a's ne[1] claims far more rows than the data holds
    static const float z[4] = {0};
    raw_tensor lie[2] = {{"blk.0.attn_q.weight.lora_a", GGML_TYPE_F32, C, 1u << 30, z, sizeof z},
                         {"blk.0.attn_q.weight.lora_b", GGML_TYPE_F32, 1u << 30, Q, z, sizeof z}};
    path_of(path, sizeof path, "lie.gguf");
    CHECK(write_gguf(path, "llama", 8.0f, lie, 2) == 0);
    rc = adapter_load_gguf(&a, m, path, warn, sizeof warn, &err);
    CHECKF(rc == PT_ERR_FORMAT && strstr(err.msg, "past end"), "lie: %d %s", rc, err.msg);
}

int main(void) {
    pt_model m, g, q;
    pt_err err = {0};
    if (model_load(&m, TINY "llama-hf", &err) != PT_OK) {
        CHECKF(0, "set-up: %s", err.msg);
        return check_report("test_adapter_gguf");
    }
    if (model_load(&g, TINY "llama-f32.gguf", &err) != PT_OK || model_load(&q, TINY "qwen2-hf", &err) != PT_OK) {
        CHECKF(0, "set-up: %s", err.msg);
        model_free(&m);
        return check_report("test_adapter_gguf");
    }
    char tmp[] = "/tmp/peftui-adapter-gguf-XXXXXX";
    CHECK(mkdtemp(tmp) != NULL);
    tmpdir = tmp;
    test_round_trip(&m, "llama");
    test_round_trip(&g, "llama-gguf");
    test_round_trip(&q, "qwen2");
    test_half(&m);
    test_refusals(&m, &q);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    CHECK(system(cmd) == 0);
    model_free(&m);
    model_free(&g);
    model_free(&q);
    return check_report("test_adapter_gguf");
}
