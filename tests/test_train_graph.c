// test_train_graph.c - one LoRA training step against PEFT + transformers
// (tests/reference/make_train_goldens.py): the same tiny llama, the same A and
// B, the same batch (padding and prompt tokens masked) give the same loss and
// the same gradients of every lora_A / lora_B. Also: the naive and CPU
// backends agree (with dropout too), gradients against finite differences of
// the loss, and gradient accumulation adds up.
//
// Tolerances (float32 on both sides, different summation order): loss within
// 1e-5 relative; gradients within 1e-4 normalised error per tensor.
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "check.h"
#include "golden.h"
#include "backend/cpu_blas.h"
#include "lora/export.h"
#include "infer/forward.h"
#include "lora/lora.h"
#include "io/mapped_file.h"
#include "model/model.h"
#include "io/safetensors.h"
#include "train/train_graph.h"

#define DATA PT_SOURCE_DIR "/tests/data/"

// An adapter on every linear layer, rank r, built by hand so that this test
// depends on the training graph alone.
static void make_adapter(pt_adapter *a, const pt_model *m, int r, float alpha, float dropout) {
    memset(a, 0, sizeof *a);
    const pt_config *c = &m->cfg;
    int Q = c->n_head * c->head_dim, KV = c->n_head_kv * c->head_dim;
    int io[PT_LIN_QKV][2] = {{c->n_embd, Q}, {c->n_embd, KV}, {c->n_embd, KV}, {Q, c->n_embd},
                               {c->n_embd, c->n_ff}, {c->n_embd, c->n_ff}, {c->n_ff, c->n_embd}};
    a->n_layer = c->n_layer;
    a->cfg.r = r;
    a->cfg.lora_alpha = alpha;
    a->cfg.lora_dropout = dropout;
    a->mods = calloc((size_t)c->n_layer * PT_LIN_COUNT, sizeof *a->mods);
    for (int s = 0; s < PT_LIN_QKV; s++) a->n_params += (size_t)r * (io[s][0] + io[s][1]) * c->n_layer;
    a->params = calloc(a->n_params, sizeof(float));
    float *p = a->params;
    for (int l = 0; l < c->n_layer; l++)
        for (int s = 0; s < PT_LIN_QKV; s++) {  // llama's seven; the fused slot stays empty
            pt_lora_module *mod = &a->mods[l * PT_LIN_COUNT + s];
            mod->r = r;
            mod->scale = alpha / r;
            mod->in = io[s][0];
            mod->out = io[s][1];
            mod->A = p;
            p += (size_t)r * mod->in;
            mod->B = p;
            p += (size_t)mod->out * r;
        }
}

static void free_adapter(pt_adapter *a) {
    free(a->mods);
    free(a->params);
}

static void key_of(char *buf, size_t cap, int l, int s, const char *ab) {
    static const char *names[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                  "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
    snprintf(buf, cap, "base_model.model.model.layers.%d.%s.lora_%s.weight", l, names[s], ab);
}

static void peft_parity(const pt_model *m, pt_backend *be, const batch *bt, const st_file *st) {
    pt_adapter a;
    pt_err err = {0};
    make_adapter(&a, m, 4, 8.0f, 0.0f);
    char key[160];
    int missing = 0;
    for (int l = 0; l < m->cfg.n_layer; l++)
        for (int s = 0; s < PT_LIN_QKV; s++) {  // llama's seven; the fused slot stays empty
            pt_lora_module *mod = &a.mods[l * PT_LIN_COUNT + s];
            key_of(key, sizeof key, l, s, "A");
            const st_tensor *tA = st_find(st, key);
            key_of(key, sizeof key, l, s, "B");
            const st_tensor *tB = st_find(st, key);
            if (!tA || !tB || tA->nbytes != sizeof(float) * mod->r * mod->in || tB->nbytes != sizeof(float) * mod->out * mod->r) {
                missing++;
                continue;
            }
            memcpy(mod->A, tA->data, tA->nbytes);
            memcpy(mod->B, tB->data, tB->nbytes);
        }
    CHECKF(missing == 0, "%d modules missing from the golden", missing);
    pt_train_graph *g = NULL;
    CHECKF(train_graph_create(&g, be, m, NULL, &a, bt->B, bt->T, &err) == PT_OK, "%s", err.msg);
    if (!g) { free_adapter(&a); return; }
    float loss = 0;
    int nt = 0;
    train_graph_zero_grads(g);
    CHECKF(train_graph_step(g, bt->tok, bt->mask, bt->len, 1, 1.0f, 0, &loss, &nt, &err) == PT_OK, "%s", err.msg);
    CHECKF(fabsf(loss - bt->loss) <= 1e-5f * fabsf(bt->loss), "%s loss %.7f vs PEFT %.7f", be->ops->name, loss, bt->loss);
    const float *grads = train_graph_grads(g);
    double worst = 0;
    for (int l = 0; l < m->cfg.n_layer; l++)
        for (int s = 0; s < PT_LIN_QKV; s++) {  // llama's seven; the fused slot stays empty
            pt_lora_module *mod = &a.mods[l * PT_LIN_COUNT + s];
            for (int ab = 0; ab < 2; ab++) {
                key_of(key, sizeof key, l, s, ab ? "B" : "A");
                strcat(key, ".grad");
                const st_tensor *t = st_find(st, key);
                const float *mine = grads + ((ab ? mod->B : mod->A) - a.params);
                size_t n = ab ? (size_t)mod->out * mod->r : (size_t)mod->r * mod->in;
                if (!t || t->nbytes != n * sizeof(float)) { CHECKF(0, "golden %s missing", key); continue; }
                double e = nerr(mine, (const float *)t->data, n);
                if (e > worst) worst = e;
                CHECKF(e < 1e-4, "%s grad %s: normalised error %g", be->ops->name, key, e);
            }
        }
    printf("%s: loss %.7f (PEFT %.7f), worst gradient error %.2g over %d tensors\n", be->ops->name, loss, bt->loss,
           worst, 2 * PT_LIN_QKV * m->cfg.n_layer);

    // accumulation: two half-scaled steps equal one full step
    float *once = malloc(sizeof(float) * a.n_params);
    memcpy(once, grads, sizeof(float) * a.n_params);
    train_graph_zero_grads(g);
    train_graph_step(g, bt->tok, bt->mask, bt->len, 1, 0.5f, 0, &loss, &nt, &err);
    train_graph_step(g, bt->tok, bt->mask, bt->len, 1, 0.5f, 0, &loss, &nt, &err);
    CHECKF(nerr(grads, once, a.n_params) < 1e-6, "accumulated gradients: %g", nerr(grads, once, a.n_params));
    free(once);
    train_graph_free(g);
    free_adapter(&a);
}

// d loss / d param against central differences, on the naive backend.
static void finite_differences(const pt_model *m, pt_backend *nv, const batch *bt) {
    pt_adapter a;
    pt_err err = {0};
    make_adapter(&a, m, 2, 4.0f, 0.0f);
    uint64_t s = 99;
    for (size_t i = 0; i < a.n_params; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        a.params[i] = ((float)(s >> 40) / 16777216.0f - 0.5f) * 0.4f;
    }
    pt_train_graph *g = NULL;
    if (train_graph_create(&g, nv, m, NULL, &a, bt->B, bt->T, &err) != PT_OK) { CHECKF(0, "%s", err.msg); free_adapter(&a); return; }
    float loss;
    int nt, bad = 0;
    train_graph_zero_grads(g);
    train_graph_step(g, bt->tok, bt->mask, bt->len, 1, 1.0f, 0, &loss, &nt, &err);
    float *an = malloc(sizeof(float) * a.n_params);
    memcpy(an, train_graph_grads(g), sizeof(float) * a.n_params);
    for (int k = 0; k < 16; k++) {
        size_t i = ((size_t)k * 104729 + 17) % a.n_params;
        float keep = a.params[i], h = 1e-2f, lp, lm;
        a.params[i] = keep + h;
        train_graph_step(g, bt->tok, bt->mask, bt->len, 0, 1.0f, 0, &lp, &nt, &err);
        a.params[i] = keep - h;
        train_graph_step(g, bt->tok, bt->mask, bt->len, 0, 1.0f, 0, &lm, &nt, &err);
        a.params[i] = keep;
        double fd = ((double)lp - lm) / (2.0 * h);
        if (fabs(fd - an[i]) > 2e-4 + 2e-2 * fabs(an[i]) && bad++ < 3)
            fprintf(stderr, "param %zu: fd %g vs analytic %g\n", i, fd, an[i]);
    }
    CHECKF(bad == 0, "%d parameters off against finite differences", bad);
    free(an);
    train_graph_free(g);
    free_adapter(&a);
}

// CPU against naive with dropout on: the same masks, the same gradients.
static void dropout_agrees(const pt_model *m, pt_backend *cpu, pt_backend *nv, const batch *bt) {
    float *gr[2] = {0};
    float losses[2] = {0}, plain = 0;
    pt_backend *bes[2] = {cpu, nv};
    pt_err err = {0};
    size_t n = 0;
    for (int i = 0; i < 2; i++) {
        pt_adapter a;
        make_adapter(&a, m, 4, 8.0f, 0.3f);
        for (size_t j = 0; j < a.n_params; j++) a.params[j] = (float)((j * 2654435761u) % 1000) / 5000.0f - 0.1f;
        pt_train_graph *g = NULL;
        if (train_graph_create(&g, bes[i], m, NULL, &a, bt->B, bt->T, &err) == PT_OK) {
            int nt;
            train_graph_zero_grads(g);
            train_graph_step(g, bt->tok, bt->mask, bt->len, 1, 1.0f, 7, &losses[i], &nt, &err);
            n = a.n_params;
            gr[i] = malloc(sizeof(float) * n);
            memcpy(gr[i], train_graph_grads(g), sizeof(float) * n);
            if (i == 0) train_graph_step(g, bt->tok, bt->mask, bt->len, 0, 1.0f, 7, &plain, &nt, &err);
            train_graph_free(g);
        }
        free_adapter(&a);
    }
    CHECK(gr[0] && gr[1]);
    if (gr[0] && gr[1]) CHECKF(nerr(gr[0], gr[1], n) < 1e-4, "dropout grads cpu vs naive: %g", nerr(gr[0], gr[1], n));
    CHECKF(fabsf(losses[0] - losses[1]) < 1e-4f, "dropout loss cpu %g vs naive %g", losses[0], losses[1]);
    CHECKF(losses[0] != plain, "dropout changes the training loss (%g) from the eval loss (%g)", losses[0], plain);
    free(gr[0]);
    free(gr[1]);
}

// modules_to_save (lm_head, embed_tokens) plus LoRA on q_proj, v_proj, built
// with adapter_create: training gradients of the whole copies against PEFT,
// the inference forward using the copies, and a save/load round trip.
static void modules_to_save(const pt_model *m, pt_backend *be) {
    pt_err err = {0};
    char *json = NULL;
    if (pt_read_file(DATA "train/step_mts.json", &json, NULL, &err) != PT_OK) { CHECKF(0, "%s", err.msg); return; }
    cJSON *doc = cJSON_Parse(json);
    batch bt = {0};
    st_file st;
    CHECK(doc && read_batch(&bt, doc));
    if (st_open(&st, DATA "train/step_mts.safetensors", &err) != PT_OK) { CHECKF(0, "%s", err.msg); return; }
    pt_lora_config cfg;
    lora_config_defaults(&cfg);
    char *targets[] = {"q_proj", "v_proj"}, *saves[] = {"lm_head", "embed_tokens"};
    cfg.r = 4;
    cfg.lora_alpha = 8;
    cfg.target_modules = targets;
    cfg.n_target_modules = 2;
    cfg.modules_to_save = saves;
    cfg.n_modules_to_save = 2;
    pt_adapter a;
    if (adapter_create(&a, m, &cfg, 1, &err) != PT_OK) { CHECKF(0, "adapter_create: %s", err.msg); goto out; }
    size_t VC = (size_t)m->cfg.vocab_size * m->cfg.n_embd;
    CHECK(a.save_head && a.save_embed && memcmp(a.save_head, m->w.lm_head, VC * 4) == 0);
    // the golden's starting values
    char key[200];
    for (int l = 0; l < m->cfg.n_layer; l++)
        for (int s = 0; s < PT_LIN_QKV; s++) {  // llama's seven; the fused slot stays empty
            pt_lora_module *mod = &a.mods[l * PT_LIN_COUNT + s];
            CHECK(!mod->A == !(s == PT_LIN_Q || s == PT_LIN_V));
            if (!mod->A) continue;
            key_of(key, sizeof key, l, s, "A");
            const st_tensor *t = st_find(&st, key);
            if (t) memcpy(mod->A, t->data, t->nbytes);
            key_of(key, sizeof key, l, s, "B");
            if ((t = st_find(&st, key))) memcpy(mod->B, t->data, t->nbytes);
        }
    const char *skeys[2] = {"base_model.model.model.embed_tokens.weight", "base_model.model.lm_head.weight"};
    float *copies[2] = {a.save_embed, a.save_head};
    for (int i = 0; i < 2; i++) {
        const st_tensor *t = st_find(&st, skeys[i]);
        CHECK(t && t->nbytes == VC * 4);
        if (t) memcpy(copies[i], t->data, VC * 4);
    }
    pt_train_graph *g = NULL;
    CHECKF(train_graph_create(&g, be, m, NULL, &a, bt.B, bt.T, &err) == PT_OK, "%s", err.msg);
    if (g) {
        float loss;
        int nt;
        train_graph_zero_grads(g);
        CHECK(train_graph_step(g, bt.tok, bt.mask, bt.len, 1, 1.0f, 0, &loss, &nt, &err) == PT_OK);
        CHECKF(fabsf(loss - bt.loss) <= 1e-5f * bt.loss, "modules_to_save loss %.7f vs PEFT %.7f", loss, bt.loss);
        const float *gr = train_graph_grads(g);
        for (int i = 0; i < 2; i++) {
            snprintf(key, sizeof key, "%s.grad", skeys[i]);
            const st_tensor *t = st_find(&st, key);
            double e = t ? nerr(gr + (copies[i] - a.params), (const float *)t->data, VC) : INFINITY;
            CHECKF(e < 1e-4, "gradient of %s: normalised error %g", skeys[i], e);
        }
        for (int l = 0; l < m->cfg.n_layer; l++) {
            pt_lora_module *mod = &a.mods[l * PT_LIN_COUNT + PT_LIN_V];
            key_of(key, sizeof key, l, PT_LIN_V, "B");
            strcat(key, ".grad");
            const st_tensor *t = st_find(&st, key);
            double e = t ? nerr(gr + (mod->B - a.params), (const float *)t->data, (size_t)mod->out * mod->r) : INFINITY;
            CHECKF(e < 1e-4, "%s: %g", key, e);
        }
        train_graph_free(g);
    }
    // inference uses the copies: the mean cross-entropy of the runtime's logits is PEFT's loss
    pt_runtime rt;
    if (runtime_init(&rt, be, m, 64, 16, &err) == PT_OK && runtime_set_adapter(&rt, &a, 1.0f, &err) == PT_OK) {
        int V = m->cfg.vocab_size, nt = 0;
        double total = 0;
        float *lg = malloc(sizeof(float) * (size_t)bt.T * V);
        for (int b = 0; b < bt.B; b++) {
            runtime_reset(&rt);
            runtime_forward(&rt, bt.tok + b * bt.T, bt.len[b], lg, 1, &err);
            for (int t = 1; t < bt.len[b]; t++) {
                if (!bt.mask[b * bt.T + t]) continue;
                const float *row = lg + (size_t)(t - 1) * V;
                double mx = -INFINITY, s = 0;
                for (int v = 0; v < V; v++) mx = row[v] > mx ? row[v] : mx;
                for (int v = 0; v < V; v++) s += exp(row[v] - mx);
                total += log(s) + mx - row[bt.tok[b * bt.T + t]];
                nt++;
            }
        }
        CHECKF(fabs(total / nt - bt.loss) < 1e-4, "inference with saved modules: loss %g vs PEFT %g", total / nt, bt.loss);
        free(lg);
        runtime_free(&rt);
    }
    // the saved copies survive a save and a load, under PEFT's keys
    char dir[] = "/tmp/peftui-mts-XXXXXX";
    if (mkdtemp(dir)) {
        pt_adapter b;
        char warn[256];
        CHECKF(adapter_save(&a, m, dir, &err) == PT_OK, "%s", err.msg);
        CHECKF(adapter_load(&b, m, dir, warn, sizeof warn, &err) == PT_OK, "%s", err.msg);
        CHECK(b.n_params == a.n_params && memcmp(b.params, a.params, a.n_params * 4) == 0);
        CHECK(b.save_head && b.save_embed && b.save_head - b.params == a.save_head - a.params);
        adapter_free(&b);
        // merged export: the copies replace (and untie) the modules; same logits as the adapter
        char mdir[300];
        pt_export_warnings w;
        snprintf(mdir, sizeof mdir, "%s/merged", dir);
        CHECKF(export_adapter(&a, m, PT_EXPORT_MERGED, 1.0f, mdir, &w, &err) == PT_OK, "%s", err.msg);
        pt_model mm;
        pt_runtime r1, r2;
        if (model_load(&mm, mdir, &err) == PT_OK) {
            CHECK(!mm.cfg.tied_embeddings);
            int V = m->cfg.vocab_size;
            float *l1 = malloc(sizeof(float) * V), *l2 = malloc(sizeof(float) * V);
            runtime_init(&r1, be, m, 32, 8, &err);
            runtime_set_adapter(&r1, &a, 1.0f, &err);
            runtime_init(&r2, be, &mm, 32, 8, &err);
            runtime_forward(&r1, bt.tok, bt.len[0], l1, 0, &err);
            runtime_forward(&r2, bt.tok, bt.len[0], l2, 0, &err);
            CHECKF(nerr(l2, l1, (size_t)V) < 1e-5, "merged export with saved modules: %g", nerr(l2, l1, (size_t)V));
            runtime_free(&r1);
            runtime_free(&r2);
            free(l1);
            free(l2);
            model_free(&mm);
        } else {
            CHECKF(0, "merged export does not load: %s", err.msg);
        }
        // llama.cpp's format cannot carry them: said, not dropped silently
        CHECK(export_check(&a, m, PT_EXPORT_GGUF_LORA, 1.0f, &w, &err) == PT_OK && w.n >= 1);
        int said = 0;
        for (int i = 0; i < w.n; i++) said |= strstr(w.msg[i], "modules_to_save") != NULL;
        CHECK(said);
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        CHECK(system(cmd) == 0);
    }
    // a saved module peftui cannot train is refused by name
    char *bad[] = {"model.norm"};
    cfg.modules_to_save = bad;
    cfg.n_modules_to_save = 1;
    pt_adapter c;
    CHECK(adapter_create(&c, m, &cfg, 1, &err) == PT_ERR_UNSUPPORTED && strstr(err.msg, "model.norm"));
    adapter_free(&a);
out:
    st_close(&st);
    cJSON_Delete(doc);
    free(json);
    free(bt.tok); free(bt.mask); free(bt.len);
}

int main(int argc, char **argv) {
    CHECK_USE_FAST_BLAS(argv);
    pt_err err = {0};
    pt_model m;
    CHECKF(model_load(&m, DATA "tiny/llama-hf", &err) == PT_OK, "%s", err.msg);
    char *json = NULL;
    CHECKF(pt_read_file(DATA "train/step.json", &json, NULL, &err) == PT_OK, "%s", err.msg);
    cJSON *doc = json ? cJSON_Parse(json) : NULL;
    st_file st;
    int st_ok = st_open(&st, DATA "train/step.safetensors", &err) == PT_OK;
    CHECKF(st_ok, "%s", err.msg);
    batch bt = {0};
    CHECK(doc && read_batch(&bt, doc));
    if (!doc || !st_ok || !bt.tok) return check_report("test_train_graph");

    pt_backend *cpu = NULL, *nv = NULL;
    backend_cpu_create(&cpu, 2, &err);
    backend_naive_create(&nv, &err);
    peft_parity(&m, cpu, &bt, &st);
    peft_parity(&m, nv, &bt, &st);
    finite_differences(&m, nv, &bt);
    dropout_agrees(&m, cpu, nv, &bt);
    modules_to_save(&m, cpu);

    // a batch with no target tokens: zero loss, no gradient, no error
    uint8_t *none = calloc((size_t)bt.B * bt.T, 1);
    pt_adapter a;
    make_adapter(&a, &m, 2, 2.0f, 0.0f);
    pt_train_graph *g = NULL;
    if (train_graph_create(&g, cpu, &m, NULL, &a, bt.B, bt.T, &err) == PT_OK) {
        float loss = -1;
        int nt = -1;
        CHECK(train_graph_step(g, bt.tok, none, bt.len, 1, 1.0f, 0, &loss, &nt, &err) == PT_OK && nt == 0 && loss == 0.0f);
        int bad_len[3] = {bt.T + 1, 1, 1};
        CHECK(train_graph_step(g, bt.tok, bt.mask, bad_len, 1, 1.0f, 0, &loss, &nt, &err) == PT_ERR_ARG);
        train_graph_free(g);
    }
    free_adapter(&a);
    free(none);

    backend_destroy(cpu);
    backend_destroy(nv);
    free(bt.tok); free(bt.mask); free(bt.len);
    st_close(&st);
    cJSON_Delete(doc);
    free(json);
    model_free(&m);
    return check_report("test_train_graph");
}
