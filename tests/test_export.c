// test_export.c - exports of an adapter: a PEFT folder (reads back the same),
// a merged model (peftui's model_load reads it and gives the adapter's
// logits; the base is untouched), a GGUF LoRA (llama.cpp's names, shapes,
// alpha, q/k rows of lora_b in the GGUF base's row order, scales folded with
// a warning), and the warnings each target gets.
//
// With PEFTUI_EXPORT_DIR=DIR set it also leaves, for the reference checks:
//   DIR/peft/      an adapter peftui made (all-linear, rsLoRA, patterns) and saved
//   DIR/merged/    the tiny llama with it merged, exported
//   DIR/logits.bin peftui's logits with it (PTLG, the golden token sequence)
//   DIR/tiny-lora.gguf, DIR/tiny-rslora.gguf   tests/data/peft/tiny-lora and
//                  tiny-rslora as GGUF LoRAs (base: tests/data/tiny/llama-f32.gguf)
// then run:  /opt/ref/bin/python tests/reference/make_peft_goldens.py --check DIR
//            /opt/ref/bin/python bench/llamacpp_lora_check.py ...
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "golden.h"
#include "backend/cpu_blas.h"
#include "lora/export.h"
#include "infer/forward.h"
#include "io/gguf.h"
#include "lora/lora.h"
#include "io/mapped_file.h"
#include "model/model.h"
#include "io/safetensors.h"

#define TINY PT_SOURCE_DIR "/tests/data/tiny/"
#define PEFT PT_SOURCE_DIR "/tests/data/peft/"

static pt_backend *be;

// logits (n, V) of tokens with adapter a (or NULL) on m; malloc'd
static float *logits_of(const pt_model *m, const pt_adapter *a, const int32_t *tok, int n) {
    pt_runtime rt;
    pt_err err = {0};
    float *out = malloc(sizeof(float) * (size_t)n * m->cfg.vocab_size);
    int rc = runtime_init(&rt, be, m, 64, 16, &err);
    if (!rc) rc = runtime_set_adapter(&rt, a, 1.0f, &err);
    if (!rc) rc = runtime_forward(&rt, tok, n, out, 1, &err);
    CHECKF(rc == PT_OK, "forward: %s", err.msg);
    runtime_free(&rt);
    return out;
}

static int exists(const char *dir, const char *name) {
    char p[800];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

static const int32_t TOKENS[12] = {42, 278, 78, 81, 223, 286, 84, 78, 70, 14, 261, 298};

static void test_peft_and_merged(pt_model *m, const pt_adapter *a, const char *tmp) {
    pt_export_warnings w;
    pt_err err = {0};
    char dir[700], warn[256];
    pt_export_format f;
    CHECK(export_format_parse("gguf-lora", &f, &err) == PT_OK && f == PT_EXPORT_GGUF_LORA);
    CHECK(export_format_parse("merged", &f, &err) == PT_OK && f == PT_EXPORT_MERGED);
    CHECK(export_format_parse("onnx", &f, &err) == PT_ERR_ARG && strstr(err.msg, "peft, merged, gguf-lora"));
    CHECK(!strcmp(export_format_name(PT_EXPORT_PEFT), "peft"));

    // peft: the same adapter back; at scale 2, B doubled and a warning
    snprintf(dir, sizeof dir, "%s/peft", tmp);
    CHECK(export_adapter(a, m, PT_EXPORT_PEFT, 1.0f, dir, &w, &err) == PT_OK && w.n == 0);
    pt_adapter b;
    CHECK(adapter_load(&b, m, dir, warn, sizeof warn, &err) == PT_OK);
    CHECK(b.n_params == a->n_params && !memcmp(b.params, a->params, a->n_params * sizeof(float)));
    adapter_free(&b);
    CHECK(export_adapter(a, m, PT_EXPORT_PEFT, 2.0f, dir, &w, &err) == PT_OK && w.n == 1 && strstr(w.msg[0], "folded"));
    CHECK(adapter_load(&b, m, dir, warn, sizeof warn, &err) == PT_OK);
    CHECK(b.mods[0].A[5] == a->mods[0].A[5] && b.mods[0].B[5] == 2 * a->mods[0].B[5]);
    adapter_free(&b);

    // merged: peftui reads it back and gets the adapter's logits; the base is untouched
    char fp0[80], fp1[80];
    model_fingerprint(m, fp0, sizeof fp0);
    float *want = logits_of(m, a, TOKENS, 12);
    snprintf(dir, sizeof dir, "%s/merged", tmp);
    int rc = export_adapter(a, m, PT_EXPORT_MERGED, 1.0f, dir, &w, &err);
    CHECKF(rc == PT_OK && w.n == 0, "merged: %s (%d warnings)", err.msg, w.n);
    model_fingerprint(m, fp1, sizeof fp1);
    CHECK(!strcmp(fp0, fp1) && m->n_merged == 0);
    CHECK(exists(dir, "config.json") && exists(dir, "model.safetensors") && exists(dir, "tokenizer.json") &&
          exists(dir, "tokenizer_config.json") && exists(dir, "chat_template.jinja") && !exists(dir, "config.json.new"));
    pt_model mm;
    rc = model_load(&mm, dir, &err);
    CHECKF(rc == PT_OK, "merged model_load: %s", err.msg);
    if (rc == PT_OK) {
        CHECK(mm.cfg.tied_embeddings && mm.cfg.n_layer == 2 && mm.cfg.rope_theta == m->cfg.rope_theta &&
              mm.cfg.rms_eps == m->cfg.rms_eps && mm.cfg.n_head_kv == 2 && !strcmp(mm.cfg.arch, "llama"));
        int has_head = 0;
        for (int i = 0; i < mm.n_tensors; i++) has_head |= !strcmp(mm.tensors[i].name, "lm_head.weight");
        CHECK(!has_head);
        float *got = logits_of(&mm, NULL, TOKENS, 12);
        double d = max_diff(got, want, 12 * (size_t)m->cfg.vocab_size);
        CHECKF(d < 1e-4, "merged model vs base + adapter: max |diff| %g", d);
        free(got);
        model_free(&mm);
    }
    // the same while the adapter is merged into the model
    pt_adapter c;
    CHECK(adapter_load(&c, m, PEFT "tiny-lora", warn, sizeof warn, &err) == PT_OK);
    CHECK(adapter_merge(&c, m, 1.0f, &err) == PT_OK);
    snprintf(dir, sizeof dir, "%s/merged2", tmp);
    CHECK(export_adapter(&c, m, PT_EXPORT_MERGED, 1.0f, dir, &w, &err) == PT_OK && w.n == 0);
    CHECK(adapter_unmerge(&c, m, 1.0f, &err) == PT_OK);
    adapter_free(&c);
    if (model_load(&mm, dir, &err) == PT_OK) {
        float *got = logits_of(&mm, NULL, TOKENS, 12);
        CHECK(max_diff(got, want, 12 * (size_t)m->cfg.vocab_size) < 1e-4);
        free(got);
        model_free(&mm);
    } else {
        CHECKF(0, "%s", err.msg);
    }
    free(want);
    // unwritable
    char file[600];
    snprintf(file, sizeof file, "%s/afile", tmp);
    FILE *fp = fopen(file, "w");
    if (fp) fclose(fp);
    snprintf(dir, sizeof dir, "%s/x", file);
    CHECK(export_adapter(a, m, PT_EXPORT_MERGED, 1.0f, dir, &w, &err) == PT_ERR_IO);
    CHECK(export_adapter(a, m, PT_EXPORT_PEFT, 1.0f, dir, &w, &err) == PT_ERR_IO);
    snprintf(dir, sizeof dir, "%s/x/lora.gguf", file);
    CHECK(export_adapter(a, m, PT_EXPORT_GGUF_LORA, 1.0f, dir, &w, &err) == PT_ERR_IO);
}

// A GGUF base: the merged folder gets the tokenizer peftui loaded from the GGUF
// (tokenizer.json + tokenizer_config.json), so model_load reads the folder back,
// with the adapter's logits and the same tokenizer and chat template.
static void test_gguf_base_merged(const char *tmp) {
    pt_model g, mm;
    pt_adapter a;
    pt_export_warnings w;
    pt_err err = {0};
    char warn[256], dir[700];
    if (model_load(&g, TINY "llama-f32.gguf", &err) != PT_OK) { CHECKF(0, "%s", err.msg); return; }
    if (adapter_load(&a, &g, PEFT "tiny-lora", warn, sizeof warn, &err) != PT_OK) {
        CHECKF(0, "%s", err.msg);
        model_free(&g);
        return;
    }
    float *want = logits_of(&g, &a, TOKENS, 12);
    snprintf(dir, sizeof dir, "%s/gguf-merged", tmp);
    int rc = export_adapter(&a, &g, PT_EXPORT_MERGED, 1.0f, dir, &w, &err);
    CHECKF(rc == PT_OK && w.n == 0, "GGUF base merged: %s (%d warnings)", err.msg, w.n);
    CHECK(exists(dir, "tokenizer.json") && exists(dir, "tokenizer_config.json") && !exists(dir, "tokenizer.json.new"));
    rc = model_load(&mm, dir, &err);
    CHECKF(rc == PT_OK, "model_load of the merged GGUF base: %s", err.msg);
    if (rc == PT_OK) {
        CHECK(mm.source == PT_SRC_HF && mm.cfg.vocab_size == g.cfg.vocab_size);
        float *got = logits_of(&mm, NULL, TOKENS, 12);
        double d = max_diff(got, want, 12 * (size_t)g.cfg.vocab_size);
        CHECKF(d < 1e-4, "merged GGUF base vs base + adapter: max |diff| %g", d);
        free(got);
        CHECK(tokenizer_vocab_size(mm.tok) == tokenizer_vocab_size(g.tok) &&
              tokenizer_bos(mm.tok) == tokenizer_bos(g.tok) && tokenizer_eos(mm.tok) == tokenizer_eos(g.tok));
        static const char *const texts[] = {"Hello world, 2024 tokens!", "<|im_start|>user\nhi<|im_end|>\n",
                                            "  spaces\tand\nnew lines  ", "caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87"};
        int same = 0;
        for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
            int32_t *x = NULL, *y = NULL;
            int nx = 0, ny = 0;
            tokenizer_encode(g.tok, texts[i], strlen(texts[i]), 1, 1, &x, &nx, NULL);
            tokenizer_encode(mm.tok, texts[i], strlen(texts[i]), 1, 1, &y, &ny, NULL);
            same += nx > 0 && nx == ny && !memcmp(x, y, (size_t)nx * sizeof *x);
            free(x);
            free(y);
        }
        CHECK(same == (int)(sizeof texts / sizeof *texts));
        CHECK(g.chat_template && mm.chat_template && !strcmp(g.chat_template, mm.chat_template));
        model_free(&mm);
    }
    free(want);
    adapter_free(&a);
    model_free(&g);
}

// qwen2: untied head, q/k/v biases, no q/k permutation in its GGUF
static void test_qwen(const pt_model *q, const char *tmp) {
    pt_lora_config c;
    pt_adapter a;
    pt_export_warnings w;
    pt_err err = {0};
    char dir[700];
    CHECK(lora_config_from_json(&c, "{\"target_modules\": \"all-linear\", \"r\": 2, \"lora_alpha\": 4}", "cfg", &err) == PT_OK);
    CHECK(adapter_create(&a, q, &c, 3, &err) == PT_OK);
    lora_config_free(&c);
    for (size_t i = 0; i < a.n_params; i++) a.params[i] = 0.2f * sinf((float)i);  // B non-zero too
    float *want = logits_of(q, &a, TOKENS, 12);
    snprintf(dir, sizeof dir, "%s/qmerged", tmp);
    CHECK(export_adapter(&a, q, PT_EXPORT_MERGED, 1.0f, dir, &w, &err) == PT_OK);
    pt_model mm;
    int rc = model_load(&mm, dir, &err);
    CHECKF(rc == PT_OK, "%s", err.msg);
    if (rc == PT_OK) {
        CHECK(!mm.cfg.tied_embeddings && mm.cfg.has_qkv_bias && !strcmp(mm.cfg.arch, "qwen2"));
        float *got = logits_of(&mm, NULL, TOKENS, 12);
        double d = max_diff(got, want, 12 * (size_t)q->cfg.vocab_size);
        CHECKF(d < 1e-4, "qwen2 merged: %g", d);
        free(got);
        model_free(&mm);
    }
    free(want);
    snprintf(dir, sizeof dir, "%s/q.gguf", tmp);
    CHECK(export_adapter(&a, q, PT_EXPORT_GGUF_LORA, 1.0f, dir, &w, &err) == PT_OK && w.n == 0);
    gguf_file g;
    if (gguf_open(&g, dir, &err) == PT_OK) {
        char s[32];
        int found;
        gguf_get_str(&g, "general.architecture", s, sizeof s, &found, &err);
        CHECK(found && !strcmp(s, "qwen2"));
        const gguf_tensor *t = gguf_find_tensor(&g, "blk.1.attn_q.weight.lora_b");
        const pt_lora_module *mq = &a.mods[PT_LIN_COUNT + PT_LIN_Q];
        CHECK(t && !memcmp(t->data, mq->B, (size_t)mq->out * mq->r * sizeof(float)));  // not permuted
        gguf_close(&g);
    }
    adapter_free(&a);
}

static int hf_row_of(int g, int hd) {  // GGUF row g of a q/k weight holds HF row ... (model_internal.h)
    int h = g / hd, w = g % hd;
    return h * hd + (w % 2) * (hd / 2) + w / 2;
}

static void test_gguf_lora(const pt_model *m, const char *tmp) {
    pt_adapter a, r;
    pt_export_warnings w;
    pt_err err = {0};
    char path[700], warn[256], s[64];
    int found;
    CHECK(adapter_load(&a, m, PEFT "tiny-lora", warn, sizeof warn, &err) == PT_OK);
    snprintf(path, sizeof path, "%s/tiny-lora.gguf", tmp);
    int rc = export_adapter(&a, m, PT_EXPORT_GGUF_LORA, 1.0f, path, &w, &err);
    CHECKF(rc == PT_OK, "%s", err.msg);
    CHECK(w.n == 0);
    gguf_file g, base;
    if (rc == PT_OK && gguf_open(&g, path, &err) == PT_OK) {
        CHECK(g.version == 3 && g.n_tensors == 28 && g.alignment == 32);
        gguf_get_str(&g, "general.type", s, sizeof s, &found, &err);
        CHECK(found && !strcmp(s, "adapter"));
        gguf_get_str(&g, "general.architecture", s, sizeof s, &found, &err);
        CHECK(found && !strcmp(s, "llama"));
        gguf_get_str(&g, "adapter.type", s, sizeof s, &found, &err);
        CHECK(found && !strcmp(s, "lora"));
        const gguf_kv *kv = gguf_find_kv(&g, "adapter.lora.alpha");
        float alpha = 0;
        if (kv) memcpy(&alpha, kv->val, 4);  // values in the map are not aligned
        CHECK(kv && kv->type == GGUF_TYPE_FLOAT32 && alpha == 8.0f);
        int hd = m->cfg.head_dim, bad = 0;
        for (int l = 0; l < 2; l++) {
            static const char *const GN[PT_LIN_QKV] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
            for (int sl = 0; sl < PT_LIN_QKV; sl++) {
                const pt_lora_module *mod = &a.mods[l * PT_LIN_COUNT + sl];
                char n[96];
                snprintf(n, sizeof n, "blk.%d.%s.weight.lora_a", l, GN[sl]);
                const gguf_tensor *ta = gguf_find_tensor(&g, n);
                snprintf(n, sizeof n, "blk.%d.%s.weight.lora_b", l, GN[sl]);
                const gguf_tensor *tb = gguf_find_tensor(&g, n);
                if (!ta || !tb) { bad++; continue; }
                bad += ta->type != GGML_TYPE_F32 || ta->n_dims != 2 || ta->ne[0] != (uint64_t)mod->in || ta->ne[1] != (uint64_t)mod->r;
                bad += tb->type != GGML_TYPE_F32 || tb->n_dims != 2 || tb->ne[0] != (uint64_t)mod->r || tb->ne[1] != (uint64_t)mod->out;
                bad += memcmp(ta->data, mod->A, (size_t)mod->r * mod->in * sizeof(float)) != 0;
                const float *gb = (const float *)tb->data;
                int perm = sl == PT_LIN_Q || sl == PT_LIN_K;
                for (int row = 0; row < mod->out; row++)
                    bad += memcmp(gb + (size_t)row * mod->r, mod->B + (size_t)(perm ? hf_row_of(row, hd) : row) * mod->r,
                                  (size_t)mod->r * sizeof(float)) != 0;
            }
        }
        CHECKF(bad == 0, "%d tensors or rows differ from llama.cpp's layout", bad);
        // the row order is the base GGUF's own: its q/k weights are stored the same way
        if (gguf_open(&base, TINY "llama-f32.gguf", &err) == PT_OK) {
            const gguf_tensor *tq = gguf_find_tensor(&base, "blk.1.attn_k.weight");
            const float *hq = m->w.wk + (size_t)1 * 32 * 64;
            int rows_bad = 0;
            for (int row = 0; tq && row < 32; row++)  // (m had an adapter merged and unmerged: float rounding)
                for (int k = 0; k < 64; k++)
                    rows_bad += fabsf(((const float *)tq->data)[row * 64 + k] - hq[hf_row_of(row, hd) * 64 + k]) > 1e-6f;
            CHECK(tq && rows_bad == 0);
            gguf_close(&base);
        }
        gguf_close(&g);
    }
    const char *out_dir = getenv("PEFTUI_EXPORT_DIR");
    if (out_dir && *out_dir) {
        snprintf(path, sizeof path, "%s/tiny-lora.gguf", out_dir);
        CHECK(pt_mkdir_p(out_dir, &err) == PT_OK && export_adapter(&a, m, PT_EXPORT_GGUF_LORA, 1.0f, path, &w, &err) == PT_OK);
    }
    adapter_free(&a);

    // rsLoRA + patterns: llama.cpp's alpha/r misses the ratio; folded into lora_b
    CHECK(adapter_load(&r, m, PEFT "tiny-rslora", warn, sizeof warn, &err) == PT_OK);
    snprintf(path, sizeof path, "%s/rs.gguf", tmp);
    CHECK(export_check(&r, m, PT_EXPORT_GGUF_LORA, 1.0f, &w, &err) == PT_OK && w.n == 1);
    rc = export_adapter(&r, m, PT_EXPORT_GGUF_LORA, 1.0f, path, &w, &err);
    CHECKF(rc == PT_OK && w.n == 1 && strstr(w.msg[0], "folded") && strstr(w.msg[0], "use_rslora"), "%s / %s", err.msg, w.n ? w.msg[0] : "");
    if (rc == PT_OK && gguf_open(&g, path, &err) == PT_OK) {
        const pt_lora_module *v = &r.mods[PT_LIN_V];  // r 4, alpha 3, rsLoRA: scale 3/2; llama.cpp: 8/4
        const gguf_tensor *tb = gguf_find_tensor(&g, "blk.0.attn_v.weight.lora_b");
        float f = v->scale * v->r / 8.0f;
        int bad = !tb;
        for (int i = 0; tb && i < v->out * v->r; i++)
            bad += fabsf(((const float *)tb->data)[i] - v->B[i] * f) > 1e-6f * fabsf(v->B[i] * f) + 1e-12f;
        CHECK(bad == 0 && fabsf(f - 0.75f) < 1e-6f);
        const gguf_tensor *tq = gguf_find_tensor(&g, "blk.0.attn_q.weight.lora_a");
        CHECK(tq && tq->ne[1] == 2);  // rank_pattern: r read per module by llama.cpp
        gguf_close(&g);
    }
    if (out_dir && *out_dir) {
        snprintf(path, sizeof path, "%s/tiny-rslora.gguf", out_dir);
        CHECK(export_adapter(&r, m, PT_EXPORT_GGUF_LORA, 1.0f, path, &w, &err) == PT_OK);
    }
    adapter_free(&r);
}

static void test_warnings(const char *tmp) {
    pt_model q8;
    pt_adapter a;
    pt_export_warnings w;
    pt_err err = {0};
    char warn[256], dir[700];
    if (model_load(&q8, TINY "llama-q8_0.gguf", &err) != PT_OK) { CHECKF(0, "%s", err.msg); return; }
    CHECK(adapter_load(&a, &q8, PEFT "tiny-rslora", warn, sizeof warn, &err) == PT_OK);
    CHECK(export_check(&a, &q8, PT_EXPORT_MERGED, 1.0f, &w, &err) == PT_OK && w.n == 1);
    CHECK(w.n == 1 && strstr(w.msg[0], "Q8_0"));  // a GGUF base's tokenizer is written: no warning for it
    snprintf(dir, sizeof dir, "%s/q8merged", tmp);
    CHECK(export_adapter(&a, &q8, PT_EXPORT_MERGED, 1.0f, dir, &w, &err) == PT_OK);
    CHECK(exists(dir, "config.json") && exists(dir, "model.safetensors") && exists(dir, "tokenizer.json") &&
          exists(dir, "tokenizer_config.json") && !exists(dir, "tokenizer.json.new") && !exists(dir, "tokenizer.json.new.tmp"));
    CHECK(export_check(&a, &q8, PT_EXPORT_PEFT, 1.0f, &w, &err) == PT_OK && w.n == 0);
    CHECK(export_check(&a, &q8, PT_EXPORT_PEFT, NAN, &w, &err) == PT_ERR_ARG);
    adapter_free(&a);
    model_free(&q8);
}

// The adapter peftui makes itself, for make_peft_goldens.py --check
static void write_reference_outputs(const pt_model *m, const char *out) {
    pt_lora_config c;
    pt_adapter a;
    pt_export_warnings w;
    pt_err err = {0};
    char dir[700];
    CHECK(lora_config_from_json(&c, "{\"target_modules\": \"all-linear\", \"r\": 4, \"lora_alpha\": 16, \"use_rslora\": true,"
                                    " \"rank_pattern\": {\"o_proj\": 2}, \"alpha_pattern\": {\"down_proj\": 4},"
                                    " \"init_lora_weights\": \"gaussian\"}", "cfg", &err) == PT_OK);
    CHECK(adapter_create(&a, m, &c, 11, &err) == PT_OK);
    lora_config_free(&c);
    for (int i = 0; i < a.n_layer * PT_LIN_COUNT; i++)  // B non-zero: as if trained
        for (int k = 0; a.mods[i].B && k < a.mods[i].out * a.mods[i].r; k++) a.mods[i].B[k] = 0.05f * cosf(0.37f * (float)(k + i));
    snprintf(dir, sizeof dir, "%s/peft", out);
    CHECK(export_adapter(&a, m, PT_EXPORT_PEFT, 1.0f, dir, &w, &err) == PT_OK);
    snprintf(dir, sizeof dir, "%s/merged", out);
    CHECK(export_adapter(&a, m, PT_EXPORT_MERGED, 1.0f, dir, &w, &err) == PT_OK);
    float *lg = logits_of(m, &a, TOKENS, 12);
    snprintf(dir, sizeof dir, "%s/logits.bin", out);
    FILE *fp = fopen(dir, "wb");
    if (fp) {
        uint32_t h[3] = {1, 12, (uint32_t)m->cfg.vocab_size};
        fwrite("PTLG", 1, 4, fp);
        fwrite(h, 4, 3, fp);
        fwrite(TOKENS, 4, 12, fp);
        fwrite(lg, 4, 12 * (size_t)m->cfg.vocab_size, fp);
        fclose(fp);
    }
    free(lg);
    adapter_free(&a);
    printf("reference outputs written to %s\n", out);
}

int main(int argc, char **argv) {
    CHECK_USE_FAST_BLAS(argv);
    (void)argc;
    pt_model m, q;
    pt_adapter a;
    pt_err err = {0};
    char warn[256];
    if (model_load(&m, TINY "llama-hf", &err) != PT_OK || model_load(&q, TINY "qwen2-hf", &err) != PT_OK ||
        backend_cpu_create(&be, 2, &err) != PT_OK || adapter_load(&a, &m, PEFT "tiny-lora", warn, sizeof warn, &err) != PT_OK) {
        CHECKF(0, "set-up: %s", err.msg);
        return check_report("test_export");
    }
    char tmp[] = "/tmp/peftui-export-XXXXXX";
    CHECK(mkdtemp(tmp) != NULL);
    test_peft_and_merged(&m, &a, tmp);
    test_qwen(&q, tmp);
    test_gguf_lora(&m, tmp);
    test_warnings(tmp);
    test_gguf_base_merged(tmp);
    const char *out = getenv("PEFTUI_EXPORT_DIR");
    if (out && *out) write_reference_outputs(&m, out);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    CHECK(system(cmd) == 0);
    adapter_free(&a);
    backend_destroy(be);
    model_free(&m);
    model_free(&q);
    return check_report("test_export");
}
