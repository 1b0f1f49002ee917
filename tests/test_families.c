// test_families.c - the decoder families (issue 11) against PEFT +
// transformers, on the tiny checkpoints of tests/reference/make_tiny_families.py
// and the goldens of make_family_goldens.py (BLOOM, GPT-2, GPT-NeoX, and
// Mistral and Llama-3 checkpoints as proof that they already work). Per family:
//   - an adapter PEFT saved (the seed's LoraConfig on PEFT's default targets)
//     loads, binds to the model's real module names, and gives PEFT's logits,
//     the whole sequence at once and a token at a time through the KV cache;
//     merged into the weights it gives them too;
//   - saved by peftui and loaded again it gives the same logits;
//   - one training step on every linear layer: the loss and the gradient of
//     every lora_A / lora_B equal PEFT's (CPU and naive backends);
//   - emu (and CUDA when there is a GPU) against the CPU at the device
//     tolerances: logits with the adapter, one step's loss and gradients;
//   - 50 steps of Adam on one batch lower the loss; the trained adapter
//     exports merged (peftui loads the model back: the adapter's logits) and
//     to PEFT (PEFTUI_EXPORT_DIR=DIR, then make_family_goldens.py --check DIR
//     loads both in PEFT and transformers).
//
// Tolerances as test_adapter.c and test_train_graph.c: logits 1e-4 absolute,
// loss 1e-5 relative, gradients 1e-4 normalised error per tensor.
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "golden.h"
#include "backend/cpu_blas.h"
#include "core/fileio.h"
#include "infer/forward.h"
#include "io/gguf.h"
#include "io/mapped_file.h"
#include "io/safetensors.h"
#include "lora/export.h"
#include "lora/lora.h"
#include "model/model.h"
#include "train/train_graph.h"

#define DATA PT_SOURCE_DIR "/tests/data/"

typedef struct {
    const char *name;        // tests/data/tiny/NAME-hf, peft/NAME-lora, train/NAME-step.*
    const char *arch;        // the model type it loads as
    const char *defaults;    // PEFT's default targets for it, ",a,b,"
} family;

static const family FAMILIES[] = {
    {"bloom", "bloom", ",query_key_value,"},
    {"gpt2", "gpt2", ",c_attn,"},
    {"gpt_neox", "gpt_neox", ",query_key_value,"},
    {"gpt_bigcode", "gpt_bigcode", ",c_attn,"},  // multi-query: one key/value head
    {"mpt", "mpt", ",Wqkv,"},                    // ALiBi, LayerNorm without bias, no biases
    {"mistral", "mistral", ",q_proj,v_proj,"},   // sliding window 5
    {"llama3", "llama", ",q_proj,v_proj,"},      // rope_theta 500000, GQA
};

static int is_default(const family *f, const char *shortname) {
    char key[64];
    snprintf(key, sizeof key, ",%s,", shortname);
    return strstr(f->defaults, key) != NULL;
}

// max |logits - golden| with adapter a (or NULL); one_by_one: through the KV cache
static double run_vs(pt_runtime *rt, const pt_adapter *a, const golden *g, int one_by_one) {
    pt_err err = {0};
    float *out = malloc(sizeof(float) * (size_t)g->n * g->V);
    int rc = runtime_set_adapter(rt, a, 1.0f, &err);
    for (int i = 0; rc == PT_OK && one_by_one && i < g->n; i++)
        rc = runtime_forward(rt, g->tokens + i, 1, out + (size_t)i * g->V, 0, &err);
    if (rc == PT_OK && !one_by_one) rc = runtime_forward(rt, g->tokens, g->n, out, 1, &err);
    CHECKF(rc == PT_OK, "forward: %s", err.msg);
    double d = rc == PT_OK ? max_diff(out, g->logits, (size_t)g->n * g->V) : 1e9;
    free(out);
    return d;
}

static int n_modules(const pt_adapter *a) {
    int n = 0;
    for (int i = 0; i < a->n_layer * PT_LIN_COUNT; i++) n += a->mods[i].A != NULL;
    return n;
}

// PEFT's adapter: loads onto the right modules and gives PEFT's logits; merged
// too; saved by peftui and reloaded, the same logits again.
static void peft_adapter(const family *f, pt_model *m, pt_backend *be, const char *tmp) {
    char dir[512], path[600];
    golden base, g;
    pt_err err = {0};
    char warn[512];
    snprintf(path, sizeof path, DATA "tiny/%s-hf/golden_logits.bin", f->name);
    CHECK(golden_read(&base, path));
    snprintf(dir, sizeof dir, DATA "peft/%s-lora", f->name);
    snprintf(path, sizeof path, "%s/golden_logits.bin", dir);
    CHECK(golden_read(&g, path));
    pt_runtime rt;
    CHECKF(runtime_init(&rt, be, m, 64, 16, &err) == PT_OK, "%s", err.msg);
    pt_adapter a;
    int rc = adapter_load(&a, m, dir, warn, sizeof warn, &err);
    CHECKF(rc == PT_OK, "%s: %s", dir, err.msg);
    if (rc != PT_OK) goto out;
    // the seed's LoraConfig: r 8, alpha 32, dropout 0.1, on the default target alone
    int n_def = 0;
    for (const char *p = f->defaults + 1; *p; p++) n_def += *p == ',';
    CHECKF(n_modules(&a) == n_def * m->cfg.n_layer, "%s: %d modules bound", f->name, n_modules(&a));
    for (int l = 0; l < m->cfg.n_layer; l++)
        for (int s = 0; s < PT_LIN_COUNT; s++) {
            const pt_lora_module *mod = &a.mods[l * PT_LIN_COUNT + s];
            const char *shortname = arch_module_short(m->cfg.desc, s);
            int want = shortname && is_default(f, shortname);
            CHECKF((mod->A != NULL) == want, "%s layer %d slot %d bound %d", f->name, l, s, mod->A != NULL);
            if (mod->A) CHECK(mod->r == 8 && fabsf(mod->scale - 4.0f) < 1e-6f && fabsf(a.cfg.lora_dropout - 0.1f) < 1e-6f);
        }
    double d0 = run_vs(&rt, &a, &g, 0), d1 = run_vs(&rt, &a, &g, 1), dbase = run_vs(&rt, &a, &base, 0);
    printf("%s PEFT adapter (%s): max |logit - PEFT| %.2g, token by token %.2g; it moves the logits by %.2g\n",
           f->name, be->ops->name, d0, d1, dbase);
    CHECKF(d0 < 1e-4 && d1 < 1e-4, "%s adapter: %g, token by token %g", f->name, d0, d1);
    CHECKF(dbase > 0.1, "%s adapter changes the logits (%g)", f->name, dbase);
    CHECK(run_vs(&rt, NULL, &base, 0) < 1e-4);

    // merged: the same logits without the adapter pass, then the base back
    if (adapter_merge(&a, m, 1.0f, &err) == PT_OK) {
        double dm = run_vs(&rt, NULL, &g, 0);
        CHECKF(dm < 1e-4, "%s merged: max |logit - PEFT| %g", f->name, dm);
        CHECK(adapter_unmerge(&a, m, 1.0f, &err) == PT_OK);
        dm = run_vs(&rt, NULL, &base, 0);
        CHECKF(dm < 1e-4, "%s unmerged: max |logit - base| %g", f->name, dm);
    } else {
        CHECKF(0, "%s merge: %s", f->name, err.msg);
    }

    // peftui saves, peftui loads: the same logits
    snprintf(path, sizeof path, "%s/%s-saved", tmp, f->name);
    CHECKF(adapter_save(&a, m, path, &err) == PT_OK, "save: %s", err.msg);
    pt_adapter b;
    if (adapter_load(&b, m, path, warn, sizeof warn, &err) == PT_OK) {
        CHECK(n_modules(&b) == n_modules(&a) && b.n_params == a.n_params &&
              !memcmp(b.params, a.params, a.n_params * sizeof(float)));
        CHECK(run_vs(&rt, &b, &g, 0) < 1e-4);
        adapter_free(&b);
    } else {
        CHECKF(0, "reload %s: %s", path, err.msg);
    }
    adapter_free(&a);
out:
    runtime_free(&rt);
    free(base.tokens); free(base.logits);
    free(g.tokens); free(g.logits);
}

// The golden's config, PEFT's A and B in every bound module
static int step_adapter(pt_adapter *a, const pt_model *m, const cJSON *doc, const st_file *st) {
    pt_err err = {0};
    pt_lora_config c;
    lora_config_defaults(&c);
    const cJSON *tg = cJSON_GetObjectItem(doc, "targets");
    char *names[16];
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, tg) if (n < 16) names[n++] = it->valuestring;
    c.target_modules = names;
    c.n_target_modules = n;
    c.r = cJSON_GetObjectItem(doc, "r")->valueint;
    c.lora_alpha = (float)cJSON_GetObjectItem(doc, "alpha")->valuedouble;
    c.lora_dropout = 0.0f;
    int rc = adapter_create(a, m, &c, 1, &err);
    c.target_modules = NULL;   // borrowed: the adapter keeps its own copy
    c.n_target_modules = 0;
    CHECKF(rc == PT_OK, "adapter_create: %s", err.msg);
    if (rc != PT_OK) return 0;
    int golden_mods = 0;   // PEFT's modules: "c_proj" is two per layer in GPT-2
    for (int i = 0; i < st->n_tensors; i++) {
        size_t len = strlen(st->tensors[i].name);
        golden_mods += len > 13 && !strcmp(st->tensors[i].name + len - 13, "lora_A.weight");
    }
    CHECKF(n_modules(a) == golden_mods, "%d modules for %d targets, PEFT's %d", n_modules(a), n, golden_mods);
    int missing = 0;
    for (int i = 0; i < a->n_layer * PT_LIN_COUNT; i++) {
        pt_lora_module *mod = &a->mods[i];
        if (!mod->A) continue;
        char name[128], key[200];
        lora_module_name(name, sizeof name, m->cfg.desc, i / PT_LIN_COUNT, (pt_linear)(i % PT_LIN_COUNT));
        snprintf(key, sizeof key, "base_model.model.%s.lora_A.weight", name);
        const st_tensor *tA = st_find(st, key);
        snprintf(key, sizeof key, "base_model.model.%s.lora_B.weight", name);
        const st_tensor *tB = st_find(st, key);
        if (!tA || !tB || tA->nbytes != sizeof(float) * mod->r * mod->in || tB->nbytes != sizeof(float) * mod->out * mod->r) {
            CHECKF(0, "golden lacks %s (or its shape differs)", name);
            missing++;
            continue;
        }
        memcpy(mod->A, tA->data, tA->nbytes);
        memcpy(mod->B, tB->data, tB->nbytes);
    }
    return missing == 0;
}

static void step_vs_peft(const family *f, const pt_model *m, pt_backend *be, const batch *bt, const cJSON *doc,
                         const st_file *st) {
    pt_adapter a;
    pt_err err = {0};
    if (!step_adapter(&a, m, doc, st)) return;
    pt_train_graph *g = NULL;
    CHECKF(train_graph_create(&g, be, m, NULL, &a, bt->B, bt->T, &err) == PT_OK, "%s", err.msg);
    if (!g) { adapter_free(&a); return; }
    float loss = 0;
    int nt = 0;
    train_graph_zero_grads(g);
    CHECKF(train_graph_step(g, bt->tok, bt->mask, bt->len, 1, 1.0f, 0, &loss, &nt, &err) == PT_OK, "%s", err.msg);
    CHECKF(fabsf(loss - bt->loss) <= 1e-5f * fabsf(bt->loss), "%s %s loss %.7f vs PEFT %.7f", f->name,
           be->ops->name, loss, bt->loss);
    const float *grads = train_graph_grads(g);
    double worst = 0;
    int n = 0;
    for (int i = 0; i < a.n_layer * PT_LIN_COUNT; i++) {
        const pt_lora_module *mod = &a.mods[i];
        if (!mod->A) continue;
        char name[128], key[200];
        lora_module_name(name, sizeof name, m->cfg.desc, i / PT_LIN_COUNT, (pt_linear)(i % PT_LIN_COUNT));
        for (int ab = 0; ab < 2; ab++) {
            snprintf(key, sizeof key, "base_model.model.%s.lora_%s.weight.grad", name, ab ? "B" : "A");
            const st_tensor *t = st_find(st, key);
            size_t cnt = ab ? (size_t)mod->out * mod->r : (size_t)mod->r * mod->in;
            if (!t || t->nbytes != cnt * sizeof(float)) { CHECKF(0, "golden %s missing", key); continue; }
            double e = nerr(grads + ((ab ? mod->B : mod->A) - a.params), (const float *)t->data, cnt);
            if (e > worst) worst = e;
            n++;
            CHECKF(e < 1e-4, "%s %s grad %s: normalised error %g", f->name, be->ops->name, key, e);
        }
    }
    printf("%s step (%s): loss %.7f (PEFT %.7f), worst gradient error %.2g over %d tensors\n", f->name,
           be->ops->name, loss, bt->loss, worst, n);
    train_graph_free(g);
    adapter_free(&a);
}

// 50 Adam steps on the golden batch, PEFT's zero B at the start: the loss
// falls. The trained adapter is left in *a (n_params 0 on failure).
static void fifty_steps(const family *f, const pt_model *m, pt_backend *be, const batch *bt, const cJSON *doc,
                        pt_adapter *a) {
    pt_err err = {0};
    pt_lora_config c;
    lora_config_defaults(&c);
    char *names[16];
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(doc, "targets")) if (n < 16) names[n++] = it->valuestring;
    c.target_modules = names;
    c.n_target_modules = n;
    c.r = 8;
    c.lora_alpha = 16;
    memset(a, 0, sizeof *a);
    int rc = adapter_create(a, m, &c, 7, &err);
    c.target_modules = NULL;
    c.n_target_modules = 0;
    CHECKF(rc == PT_OK, "%s", err.msg);
    if (rc != PT_OK) return;
    pt_train_graph *g = NULL;
    CHECKF(train_graph_create(&g, be, m, NULL, a, bt->B, bt->T, &err) == PT_OK, "%s", err.msg);
    if (!g) { adapter_free(a); return; }
    // Adam by hand (the optimizer has its own tests): lr 1e-2, betas 0.9/0.999
    size_t np = a->n_params;
    float *mo = calloc(np, sizeof(float)), *v = calloc(np, sizeof(float));
    float first = 0, last = 0;
    int nt = 0;
    for (int step = 1; step <= 50; step++) {
        float loss = 0;
        train_graph_zero_grads(g);
        if (train_graph_step(g, bt->tok, bt->mask, bt->len, 1, 1.0f, 0, &loss, &nt, &err) != PT_OK) {
            CHECKF(0, "step %d: %s", step, err.msg);
            break;
        }
        const float *gr = train_graph_grads(g);
        float b1 = 1 - powf(0.9f, (float)step), b2 = 1 - powf(0.999f, (float)step);
        for (size_t i = 0; i < np; i++) {
            mo[i] = 0.9f * mo[i] + 0.1f * gr[i];
            v[i] = 0.999f * v[i] + 0.001f * gr[i] * gr[i];
            a->params[i] -= 1e-2f * (mo[i] / b1) / (sqrtf(v[i] / b2) + 1e-8f);
        }
        train_graph_upload_params(g);
        if (step == 1) first = loss;
        last = loss;
    }
    printf("%s: 50 steps on %s, loss %.4f -> %.4f\n", f->name, be->ops->name, first, last);
    CHECKF(last < 0.5f * first, "%s: 50 steps take the loss from %g to %g", f->name, first, last);
    free(mo);
    free(v);
    train_graph_download_params(g);
    train_graph_free(g);
}

static void write_logits(const char *path, const int32_t *tok, int n, const float *lg, int V) {
    FILE *fp = fopen(path, "wb");
    if (!fp) { CHECKF(0, "%s: cannot write", path); return; }
    uint32_t h[3] = {1, (uint32_t)n, (uint32_t)V};
    fwrite("PTLG", 1, 4, fp);
    fwrite(h, 4, 3, fp);
    fwrite(tok, 4, (size_t)n, fp);
    fwrite(lg, 4, (size_t)n * V, fp);
    CHECK(fclose(fp) == 0);
}

// The trained adapter exported: merged, the model peftui loads back gives the
// adapter's logits; GGUF LoRA refused in words for a fused projection. With
// PEFTUI_EXPORT_DIR=DIR: DIR/NAME/{peft,merged,logits.bin} for
// make_family_goldens.py --check DIR (PEFT and transformers load them).
static void exports(const family *f, const pt_model *m, pt_backend *be, const pt_adapter *a, const char *tmp) {
    pt_err err = {0};
    char path[600], base_logits[600];
    golden g;
    snprintf(base_logits, sizeof base_logits, DATA "tiny/%s-hf/golden_logits.bin", f->name);
    if (!golden_read(&g, base_logits)) { CHECKF(0, "%s", base_logits); return; }
    size_t nl = (size_t)g.n * g.V;
    float *want = malloc(nl * sizeof(float)), *got = malloc(nl * sizeof(float));
    pt_runtime rt;
    CHECK(runtime_init(&rt, be, m, 64, 16, &err) == PT_OK);
    CHECK(runtime_set_adapter(&rt, a, 1.0f, &err) == PT_OK && runtime_forward(&rt, g.tokens, g.n, want, 1, &err) == PT_OK);
    runtime_free(&rt);

    pt_export_warnings w;
    snprintf(path, sizeof path, "%s/%s-merged", tmp, f->name);
    int rc = export_adapter(a, m, PT_EXPORT_MERGED, 1.0f, path, &w, &err);
    CHECKF(rc == PT_OK, "%s merged: %s", f->name, err.msg);
    pt_model mm;
    if (rc == PT_OK && model_load(&mm, path, &err) == PT_OK) {
        CHECK(!strcmp(mm.cfg.arch, m->cfg.arch) && mm.cfg.tied_embeddings == m->cfg.tied_embeddings);
        CHECK(runtime_init(&rt, be, &mm, 64, 16, &err) == PT_OK && runtime_forward(&rt, g.tokens, g.n, got, 1, &err) == PT_OK);
        runtime_free(&rt);
        double d = max_diff(got, want, nl);
        printf("%s merged export, loaded back: max |logit - adapter's| %.2g\n", f->name, d);
        CHECKF(d < 1e-4, "%s merged export: %g", f->name, d);
        model_free(&mm);
    } else if (rc == PT_OK) {
        CHECKF(0, "%s merged export does not load: %s", f->name, err.msg);
    }
    const char *dir = getenv("PEFTUI_EXPORT_DIR");
    if (dir && *dir) {
        snprintf(path, sizeof path, "%s/%s", dir, f->name);
        CHECK(pt_mkdir_p(path, &err) == PT_OK);
        snprintf(path, sizeof path, "%s/%s/peft", dir, f->name);
        CHECK(export_adapter(a, m, PT_EXPORT_PEFT, 1.0f, path, &w, &err) == PT_OK);
        snprintf(path, sizeof path, "%s/%s/merged", dir, f->name);
        CHECK(export_adapter(a, m, PT_EXPORT_MERGED, 1.0f, path, &w, &err) == PT_OK);
        snprintf(path, sizeof path, "%s/%s/logits.bin", dir, f->name);
        write_logits(path, g.tokens, g.n, want, g.V);
    }
    free(want);
    free(got);
    free(g.tokens);
    free(g.logits);
}

// A device backend (emu always, CUDA when there is a GPU) against the CPU, at
// test_device.c's tolerances (bf16 base weights and GEMM operands): logits
// with PEFT's adapter (normalised error 2e-2), one training step's loss
// (relative 1e-2) and gradients (normalised 5e-2).
static void device_parity(const family *f, const pt_model *m, pt_backend *dev, pt_backend *cpu, const batch *bt,
                          const cJSON *doc, const st_file *st) {
    pt_err err = {0};
    char dir[512], warn[256];
    snprintf(dir, sizeof dir, DATA "peft/%s-lora", f->name);
    pt_adapter a;
    if (adapter_load(&a, m, dir, warn, sizeof warn, &err) != PT_OK) { CHECKF(0, "%s", err.msg); return; }
    int n = 12, V = m->cfg.vocab_size;
    int32_t tok[12];
    for (int i = 0; i < n; i++) tok[i] = (int32_t)((i * 37 + 11) % V);
    float *ref = malloc(sizeof(float) * n * V), *got = malloc(sizeof(float) * n * V);
    pt_backend *bes[2] = {cpu, dev};
    float *outs[2] = {ref, got};
    int ok = 1;
    for (int k = 0; k < 2 && ok; k++) {
        pt_runtime rt;
        ok = runtime_init(&rt, bes[k], m, 32, 16, &err) == PT_OK && runtime_set_adapter(&rt, &a, 1.0f, &err) == PT_OK &&
             runtime_forward(&rt, tok, n, outs[k], 1, &err) == PT_OK;
        CHECKF(ok, "%s on %s: %s", f->name, bes[k]->ops->name, err.msg);
        runtime_free(&rt);
    }
    double e = ok ? nerr(got, ref, (size_t)n * V) : 1;
    CHECKF(e < 2e-2, "%s %s logits vs cpu: %g", f->name, dev->ops->name, e);
    adapter_free(&a);
    free(ref);
    free(got);

    pt_adapter sa;
    if (!step_adapter(&sa, m, doc, st)) return;
    float loss[2] = {0, 0};
    float *grads[2] = {malloc(sizeof(float) * sa.n_params), malloc(sizeof(float) * sa.n_params)};
    for (int k = 0; k < 2; k++) {
        pt_train_graph *g = NULL;
        int nt = 0;
        ok = train_graph_create(&g, bes[k], m, NULL, &sa, bt->B, bt->T, &err) == PT_OK;
        if (ok) {
            train_graph_zero_grads(g);
            ok = train_graph_step(g, bt->tok, bt->mask, bt->len, 1, 1.0f, 0, &loss[k], &nt, &err) == PT_OK;
            bes[k]->ops->synchronize(bes[k]);
            bes[k]->ops->download(bes[k], grads[k], train_graph_grads(g), sizeof(float) * sa.n_params);
        }
        CHECKF(ok, "%s step on %s: %s", f->name, bes[k]->ops->name, err.msg);
        train_graph_free(g);
    }
    double eg = nerr(grads[1], grads[0], sa.n_params);
    printf("%s on %s: logits err vs cpu %.2e, step loss %.6f (cpu %.6f), gradients err %.2e\n", f->name,
           dev->ops->name, e, loss[1], loss[0], eg);
    CHECKF(fabsf(loss[1] - loss[0]) < 1e-2f * fabsf(loss[0]), "%s %s loss %g vs cpu %g", f->name, dev->ops->name,
           loss[1], loss[0]);
    CHECKF(eg < 5e-2, "%s %s gradients vs cpu: %g", f->name, dev->ops->name, eg);
    free(grads[0]);
    free(grads[1]);
    adapter_free(&sa);
}

// PEFT's adapter exported as a llama.cpp LoRA: the same tensors as llama.cpp's
// convert_lora_to_gguf.py makes of it (llamacpp-lora.gguf beside it, where
// the converter handles the family), and the shapes llama.cpp's loader
// checks against the base (llama-adapter.cpp: a->ne[0] == w->ne[0],
// b->ne[1] == w->ne[1]). GPT-2 has no reference file: the converter
// transposes Conv1D's LoRA as if PEFT's B @ A were (in, out), and the loader
// would refuse its output by that very check.
static void gguf_lora(const family *f, const pt_model *m, const pt_adapter *a, const char *dir) {
    char out[600], ref[600], base[600];
    pt_err err = {0};
    pt_export_warnings w;
    snprintf(out, sizeof out, "/tmp/peftui-families-%s-%d.gguf", f->name, (int)getpid());
    snprintf(ref, sizeof ref, "%s/llamacpp-lora.gguf", dir);
    snprintf(base, sizeof base, DATA "tiny/%s-f32.gguf", f->name);
    CHECKF(export_adapter(a, m, PT_EXPORT_GGUF_LORA, 1.0f, out, &w, &err) == PT_OK, "%s gguf-lora: %s", f->name, err.msg);
    gguf_file o, r, b;
    if (gguf_open(&o, out, &err) != PT_OK) { CHECKF(0, "%s", err.msg); return; }
    int have_ref = access(ref, R_OK) == 0 && gguf_open(&r, ref, &err) == PT_OK;
    CHECK(gguf_open(&b, base, &err) == PT_OK);
    int bad = 0;
    double worst = 0;
    for (uint64_t i = 0; i < o.n_tensors; i++) {
        const gguf_tensor *t = &o.tensors[i];
        char name[128], wname[128];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        snprintf(wname, sizeof wname, "%.*s", (int)(strlen(name) - 7), name);   // less ".lora_a" / ".lora_b"
        const gguf_tensor *wt = gguf_find_tensor(&b, wname);
        int is_a = name[strlen(name) - 1] == 'a';
        if (!wt || (is_a ? t->ne[0] != wt->ne[0] : t->ne[1] != wt->ne[1])) bad++;
        if (have_ref) {
            const gguf_tensor *rt = gguf_find_tensor(&r, name);
            if (!rt || rt->ne[0] != t->ne[0] || rt->ne[1] != t->ne[1]) { bad++; continue; }
            for (uint64_t k = 0; k < t->ne[0] * t->ne[1]; k++) {
                double d = fabs((double)((const float *)t->data)[k] - ((const float *)rt->data)[k]);
                if (d > worst) worst = d;
            }
        }
    }
    printf("%s gguf-lora: %d tensors, shapes as llama.cpp's loader checks%s; vs llama.cpp's converter: %s %.2g\n",
           f->name, (int)o.n_tensors, bad ? " NOT" : "", have_ref ? "max |diff|" : "(no reference)", worst);
    CHECKF(bad == 0 && worst < 1e-6 && o.n_tensors > 0, "%s gguf-lora: %d bad, worst %g", f->name, bad, worst);
    if (have_ref) {
        CHECKF(r.n_tensors == o.n_tensors, "%s: %d tensors, llama.cpp's %d", f->name, (int)o.n_tensors, (int)r.n_tensors);
        gguf_close(&r);
    }
    gguf_close(&b);
    gguf_close(&o);
    unlink(out);
}

// The family's GGUF as llama.cpp's converter writes it (where it converts it):
// the layouts it changes are undone at load, so PEFT's adapter binds to it
// and gives PEFT's logits there too.
static void gguf_base(const family *f, pt_backend *be) {
    char path[600], dir[512], warn[256];
    snprintf(path, sizeof path, DATA "tiny/%s-f32.gguf", f->name);
    if (access(path, R_OK) != 0) return;
    pt_err err = {0};
    pt_model m;
    if (model_load(&m, path, &err) != PT_OK) { CHECKF(0, "%s: %s", path, err.msg); return; }
    CHECK(!strcmp(m.cfg.arch, f->arch) && m.source == PT_SRC_GGUF);
    snprintf(dir, sizeof dir, DATA "peft/%s-lora", f->name);
    snprintf(path, sizeof path, "%s/golden_logits.bin", dir);
    golden g;
    pt_adapter a;
    pt_runtime rt;
    if (golden_read(&g, path) && adapter_load(&a, &m, dir, warn, sizeof warn, &err) == PT_OK) {
        CHECK(runtime_init(&rt, be, &m, 64, 16, &err) == PT_OK);
        double d = run_vs(&rt, &a, &g, 0);
        printf("%s GGUF base (llama.cpp's conversion) with PEFT's adapter: max |logit - PEFT| %.2g\n", f->name, d);
        CHECKF(d < 1e-4, "%s GGUF + PEFT adapter: %g", f->name, d);
        runtime_free(&rt);
        gguf_lora(f, &m, &a, dir);
        adapter_free(&a);
    } else {
        CHECKF(0, "%s: %s", dir, err.msg);
    }
    free(g.tokens);
    free(g.logits);
    model_free(&m);
}

// A LayerNorm family: bias "all" would train the norms' biases too (refused in
// words); "lora_only" trains the targeted layers' biases.
static void layernorm_bias(const family *f, const pt_model *m) {
    if (!m->cfg.desc->hf[W_ATTN_NORM_B]) return;   // no norm biases (MPT's LayerNorms have none)
    pt_err err = {0};
    pt_lora_config c;
    lora_config_defaults(&c);
    c.bias = PT_BIAS_ALL;
    pt_adapter a;
    int rc = adapter_create(&a, m, &c, 1, &err);
    CHECKF(rc == PT_ERR_UNSUPPORTED && strstr(err.msg, "LayerNorm biases"), "%s bias all: %d %s", f->name, rc, err.msg);
    c.bias = PT_BIAS_LORA_ONLY;
    rc = adapter_create(&a, m, &c, 1, &err);
    CHECKF(rc == PT_OK, "%s lora_only: %s", f->name, err.msg);
    if (rc == PT_OK) {
        int nb = 0, nl = 0;
        for (int i = 0; i < a.n_layer * PT_LIN_COUNT; i++) {
            nb += a.mods[i].bias != NULL;
            nl += a.mods[i].A != NULL;
        }
        CHECKF(nb == nl && nb > 0, "%s lora_only: %d biases for %d modules", f->name, nb, nl);
        adapter_free(&a);
    }
}

// Learned positions have max_ctx rows: the context is held to them, a longer
// prompt fails as one past any context does, and training longer rows is
// refused in words.
static void learned_positions(const pt_model *m, pt_backend *be) {
    if (m->cfg.desc->pos != PT_POS_LEARNED) return;
    pt_err err = {0};
    int P = m->cfg.max_ctx;
    pt_runtime rt;
    CHECK(runtime_init(&rt, be, m, 4 * P, 16, &err) == PT_OK && rt.n_ctx == P);
    int32_t *tok = calloc((size_t)P + 1, sizeof *tok);
    float *lg = malloc(sizeof(float) * m->cfg.vocab_size);
    int rc = runtime_forward(&rt, tok, P + 1, lg, 0, &err);
    CHECKF(rc != PT_OK && err.msg[0], "%d tokens into %d positions: rc %d", P + 1, P, rc);
    runtime_free(&rt);
    free(tok);
    free(lg);
    pt_adapter a;
    pt_lora_config c;
    lora_config_defaults(&c);
    CHECK(adapter_create(&a, m, &c, 1, &err) == PT_OK);
    pt_train_graph *g = NULL;
    rc = train_graph_create(&g, be, m, NULL, &a, 1, P + 1, &err);
    CHECKF(rc == PT_ERR_ARG && strstr(err.msg, "learned positions") && !g, "T %d: rc %d %s", P + 1, rc, err.msg);
    CHECK(train_graph_create(&g, be, m, NULL, &a, 1, P, &err) == PT_OK);
    train_graph_free(g);
    adapter_free(&a);
}

// A sliding window (Mistral) is honoured in inference (the logits above); the
// training attention has none, so rows past the window are refused in words.
static void sliding_window_training(const pt_model *m, pt_backend *be) {
    int W = m->cfg.sliding_window;
    if (W <= 0) return;
    pt_err err = {0};
    pt_adapter a;
    pt_lora_config c;
    lora_config_defaults(&c);
    CHECK(adapter_create(&a, m, &c, 1, &err) == PT_OK);
    pt_train_graph *g = NULL;
    int rc = train_graph_create(&g, be, m, NULL, &a, 1, W + 1, &err);
    CHECKF(rc == PT_ERR_UNSUPPORTED && strstr(err.msg, "sliding window") && !g, "T %d: rc %d %s", W + 1, rc, err.msg);
    CHECK(train_graph_create(&g, be, m, NULL, &a, 1, W, &err) == PT_OK);
    train_graph_free(g);
    adapter_free(&a);
}

// Qwen2's biases trained as PEFT does (bias "all": every linear bias, k_proj's
// without LoRA on it; "lora_only": the targeted modules'): PEFT's adapters load
// and give its logits, save and reload, export merged; one step's loss and
// the gradients of A, B and every trained bias equal PEFT's.
static int bias_count(const pt_adapter *a) {
    int n = 0;
    for (int i = 0; i < a->n_layer * PT_LIN_COUNT; i++) n += a->mods[i].bias != NULL;
    return n;
}

static void bias_key(char *key, size_t cap, const pt_model *m, int i, int wrapped, const char *tail) {
    char name[128];
    lora_module_name(name, sizeof name, m->cfg.desc, i / PT_LIN_COUNT, (pt_linear)(i % PT_LIN_COUNT));
    snprintf(key, cap, "base_model.model.%s.%sbias%s", name, wrapped ? "base_layer." : "", tail);
}

static void bias_training(pt_backend *cpu, pt_backend *nv, pt_backend *emu, const char *tmp) {
    pt_err err = {0};
    pt_model m;
    if (model_load(&m, DATA "tiny/qwen2-hf", &err) != PT_OK) { CHECKF(0, "%s", err.msg); return; }
    golden base;
    CHECK(golden_read(&base, DATA "tiny/qwen2-hf/golden_logits.bin"));
    static const char *const KINDS[2] = {"all", "lora_only"};
    for (int k = 0; k < 2; k++) {
        char dir[512], path[600], warn[256];
        snprintf(dir, sizeof dir, DATA "peft/qwen2-bias-%s", KINDS[k]);
        snprintf(path, sizeof path, "%s/golden_logits.bin", dir);
        golden g;
        pt_adapter a;
        CHECK(golden_read(&g, path));
        if (adapter_load(&a, &m, dir, warn, sizeof warn, &err) != PT_OK) { CHECKF(0, "%s: %s", dir, err.msg); continue; }
        CHECKF(bias_count(&a) == (k ? 2 : 3) * m.cfg.n_layer, "%s: %d trained biases", KINDS[k], bias_count(&a));
        pt_runtime rt;
        CHECK(runtime_init(&rt, cpu, &m, 64, 16, &err) == PT_OK);
        double d0 = run_vs(&rt, &a, &g, 0), d1 = run_vs(&rt, &a, &g, 1);
        CHECK(runtime_set_adapter(&rt, &a, 0.0f, &err) == PT_OK);   // scale 0: the base, biases included
        float *lg = malloc(sizeof(float) * (size_t)base.n * base.V);
        CHECK(runtime_forward(&rt, base.tokens, base.n, lg, 1, &err) == PT_OK);
        double d2 = max_diff(lg, base.logits, (size_t)base.n * base.V);
        free(lg);
        runtime_free(&rt);
        printf("qwen2 bias=%s: max |logit - PEFT| %.2g, token by token %.2g; at scale 0 vs the base %.2g\n", KINDS[k], d0,
               d1, d2);
        CHECKF(d0 < 1e-4 && d1 < 1e-4 && d2 < 1e-4, "bias=%s: %g %g %g", KINDS[k], d0, d1, d2);
        if (emu && runtime_init(&rt, emu, &m, 64, 16, &err) == PT_OK) {   // the device path: bf16 weights
            float *le = malloc(sizeof(float) * (size_t)g.n * g.V);
            CHECK(runtime_set_adapter(&rt, &a, 1.0f, &err) == PT_OK && runtime_forward(&rt, g.tokens, g.n, le, 1, &err) == PT_OK);
            double e = nerr(le, g.logits, (size_t)g.n * g.V);
            CHECKF(e < 2e-2, "bias=%s on emu: logits err %g", KINDS[k], e);
            free(le);
            runtime_free(&rt);
        }
        // saved and loaded back; merged export; merge in memory refused
        snprintf(path, sizeof path, "%s/qwen2-bias-%s", tmp, KINDS[k]);
        pt_adapter b;
        CHECK(adapter_save(&a, &m, path, &err) == PT_OK);
        if (adapter_load(&b, &m, path, warn, sizeof warn, &err) == PT_OK) {
            CHECK(b.n_params == a.n_params && !memcmp(b.params, a.params, a.n_params * sizeof(float)) &&
                  bias_count(&b) == bias_count(&a));
            adapter_free(&b);
        } else {
            CHECKF(0, "reload: %s", err.msg);
        }
        snprintf(path, sizeof path, "%s/qwen2-bias-%s-merged", tmp, KINDS[k]);
        pt_export_warnings w;
        CHECK(export_adapter(&a, &m, PT_EXPORT_MERGED, 1.0f, path, &w, &err) == PT_OK);
        pt_model mm;
        if (model_load(&mm, path, &err) == PT_OK) {
            CHECK(runtime_init(&rt, cpu, &mm, 64, 16, &err) == PT_OK);
            double dm = run_vs(&rt, NULL, &g, 0);
            CHECKF(dm < 1e-4, "bias=%s merged export: %g", KINDS[k], dm);
            runtime_free(&rt);
            model_free(&mm);
        } else {
            CHECKF(0, "merged: %s", err.msg);
        }
        CHECK(adapter_merge(&a, &m, 1.0f, &err) == PT_ERR_UNSUPPORTED && strstr(err.msg, "trains biases"));
        CHECK(export_check(&a, &m, PT_EXPORT_GGUF_LORA, 1.0f, &w, &err) == PT_OK && w.n >= 1 &&
              strstr(w.msg[0], "no place for biases"));
        adapter_free(&a);
        free(g.tokens); free(g.logits);
    }

    // one step against PEFT with bias "all"
    char *json = NULL;
    cJSON *doc = NULL;
    st_file st;
    int st_ok = 0;
    batch bt = {0};
    if (pt_read_file(DATA "train/qwen2-bias-step.json", &json, NULL, &err) == PT_OK) doc = cJSON_Parse(json);
    st_ok = st_open(&st, DATA "train/qwen2-bias-step.safetensors", &err) == PT_OK;
    CHECK(doc && st_ok && read_batch(&bt, doc));
    pt_lora_config c;
    lora_config_defaults(&c);
    char *names[2] = {"q_proj", "v_proj"};
    c.target_modules = names;
    c.n_target_modules = 2;
    c.r = 4;
    c.lora_alpha = 8;
    c.lora_dropout = 0;
    c.bias = PT_BIAS_ALL;
    pt_adapter a;
    int rc = doc && st_ok && bt.tok ? adapter_create(&a, &m, &c, 1, &err) : PT_ERR_ARG;
    c.target_modules = NULL;
    c.n_target_modules = 0;
    CHECKF(rc == PT_OK, "%s", err.msg);
    for (int i = 0; rc == PT_OK && i < a.n_layer * PT_LIN_COUNT; i++) {   // PEFT's values in
        pt_lora_module *mod = &a.mods[i];
        char name[128], key[200];
        lora_module_name(name, sizeof name, m.cfg.desc, i / PT_LIN_COUNT, (pt_linear)(i % PT_LIN_COUNT));
        for (int ab = 0; mod->A && ab < 2; ab++) {
            snprintf(key, sizeof key, "base_model.model.%s.lora_%s.weight", name, ab ? "B" : "A");
            const st_tensor *t = st_find(&st, key);
            CHECKF(t != NULL, "%s missing", key);
            if (t) memcpy(ab ? mod->B : mod->A, t->data, t->nbytes);
        }
        if (mod->bias) {
            bias_key(key, sizeof key, &m, i, mod->A != NULL, "");
            const st_tensor *t = st_find(&st, key);
            CHECKF(t && t->nbytes == sizeof(float) * (size_t)mod->out, "%s missing", key);
            if (t) memcpy(mod->bias, t->data, t->nbytes);
        }
    }
    pt_backend *bes[3] = {cpu, nv, emu};
    for (int k = 0; rc == PT_OK && k < (emu ? 3 : 2); k++) {
        double tl = k < 2 ? 1e-5 : 1e-2, tg = k < 2 ? 1e-4 : 5e-2;   // emu: the device tolerances
        pt_train_graph *gr = NULL;
        float loss = 0;
        int nt = 0;
        CHECKF(train_graph_create(&gr, bes[k], &m, NULL, &a, bt.B, bt.T, &err) == PT_OK, "%s", err.msg);
        if (!gr) continue;
        train_graph_zero_grads(gr);
        CHECKF(train_graph_step(gr, bt.tok, bt.mask, bt.len, 1, 1.0f, 0, &loss, &nt, &err) == PT_OK, "%s", err.msg);
        CHECKF(fabsf(loss - bt.loss) <= tl * fabsf(bt.loss), "%s bias step loss %.7f vs PEFT %.7f", bes[k]->ops->name, loss,
               bt.loss);
        float *grads = malloc(sizeof(float) * a.n_params);
        bes[k]->ops->synchronize(bes[k]);
        bes[k]->ops->download(bes[k], grads, train_graph_grads(gr), sizeof(float) * a.n_params);
        double worst = 0;
        int n = 0;
        for (int i = 0; i < a.n_layer * PT_LIN_COUNT; i++) {
            const pt_lora_module *mod = &a.mods[i];
            char name[128], key[200];
            lora_module_name(name, sizeof name, m.cfg.desc, i / PT_LIN_COUNT, (pt_linear)(i % PT_LIN_COUNT));
            for (int part = 0; part < 3; part++) {
                const float *mine;
                size_t cnt;
                if (part < 2) {
                    if (!mod->A) continue;
                    snprintf(key, sizeof key, "base_model.model.%s.lora_%s.weight.grad", name, part ? "B" : "A");
                    mine = grads + ((part ? mod->B : mod->A) - a.params);
                    cnt = part ? (size_t)mod->out * mod->r : (size_t)mod->r * mod->in;
                } else {
                    if (!mod->bias) continue;
                    bias_key(key, sizeof key, &m, i, mod->A != NULL, ".grad");
                    mine = grads + (mod->bias - a.params);
                    cnt = (size_t)mod->out;
                }
                const st_tensor *t = st_find(&st, key);
                if (!t || t->nbytes != cnt * sizeof(float)) { CHECKF(0, "golden %s missing", key); continue; }
                double e = nerr(mine, (const float *)t->data, cnt);
                if (e > worst) worst = e;
                n++;
                CHECKF(e < tg, "%s bias step %s: %g", bes[k]->ops->name, key, e);
                if (getenv("PT_VERBOSE")) printf("  %s %s %.3g\n", bes[k]->ops->name, key, e);
            }
        }
        CHECKF(n == 4 * m.cfg.n_layer + 3 * m.cfg.n_layer, "%d gradient tensors", n);
        printf("qwen2 bias=all step (%s): loss %.7f (PEFT %.7f), worst gradient error %.2g over %d tensors\n",
               bes[k]->ops->name, loss, bt.loss, worst, n);
        free(grads);
        train_graph_free(gr);
    }
    if (rc == PT_OK) adapter_free(&a);
    free(bt.tok); free(bt.mask); free(bt.len);
    if (st_ok) st_close(&st);
    cJSON_Delete(doc);
    free(json);
    free(base.tokens); free(base.logits);
    model_free(&m);
}

int main(void) {
    pt_err err = {0};
    char tmp[] = "/tmp/peftui-families-XXXXXX";
    CHECK(mkdtemp(tmp) != NULL);
    pt_backend *cpu = NULL, *nv = NULL, *emu = NULL, *cuda = NULL;
    CHECK(backend_cpu_create(&cpu, 2, &err) == PT_OK && backend_naive_create(&nv, &err) == PT_OK);
    CHECK(backend_emu_create(&emu, &err) == PT_OK);
    if (backend_cuda_create(&cuda, &err) != PT_OK) printf("SKIP cuda: %s\n", err.msg);
    for (size_t k = 0; k < sizeof FAMILIES / sizeof *FAMILIES; k++) {
        const family *f = &FAMILIES[k];
        char path[512];
        pt_model m;
        snprintf(path, sizeof path, DATA "tiny/%s-hf", f->name);
        if (model_load(&m, path, &err) != PT_OK) {
            CHECKF(0, "%s: %s", path, err.msg);
            continue;
        }
        CHECK(!strcmp(m.cfg.arch, f->arch));
        peft_adapter(f, &m, cpu, tmp);
        peft_adapter(f, &m, nv, tmp);
        learned_positions(&m, cpu);
        sliding_window_training(&m, cpu);
        layernorm_bias(f, &m);
        gguf_base(f, cpu);

        char *json = NULL;
        snprintf(path, sizeof path, DATA "train/%s-step.json", f->name);
        CHECKF(pt_read_file(path, &json, NULL, &err) == PT_OK, "%s", err.msg);
        cJSON *doc = json ? cJSON_Parse(json) : NULL;
        snprintf(path, sizeof path, DATA "train/%s-step.safetensors", f->name);
        st_file st;
        int st_ok = st_open(&st, path, &err) == PT_OK;
        CHECKF(st_ok, "%s", err.msg);
        batch bt = {0};
        if (doc && st_ok && read_batch(&bt, doc)) {
            step_vs_peft(f, &m, cpu, &bt, doc, &st);
            step_vs_peft(f, &m, nv, &bt, doc, &st);
            if (emu) device_parity(f, &m, emu, cpu, &bt, doc, &st);
            if (cuda) device_parity(f, &m, cuda, cpu, &bt, doc, &st);
            pt_adapter trained;
            fifty_steps(f, &m, cpu, &bt, doc, &trained);
            if (trained.n_params) {
                exports(f, &m, cpu, &trained, tmp);
                adapter_free(&trained);
            }
        } else {
            CHECKF(0, "%s: the step golden does not parse", f->name);
        }
        free(bt.tok); free(bt.mask); free(bt.len);
        if (st_ok) st_close(&st);
        cJSON_Delete(doc);
        free(json);
        model_free(&m);
    }
    bias_training(cpu, nv, emu, tmp);
    backend_destroy(cpu);
    backend_destroy(nv);
    backend_destroy(emu);
    if (cuda) backend_destroy(cuda);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    CHECK(system(cmd) == 0);
    return check_report("test_families");
}
