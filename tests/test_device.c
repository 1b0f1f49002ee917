// test_device.c - the engine on a device-like backend against the CPU
// backend, end to end: forward logits (prefill and decode, base and
// adapter), one training step's loss and gradients (with modules_to_save),
// and 50 training steps from one seed, whose loss curves must agree and
// whose adapters must give the same greedy answers on the CPU.
// Backends: "emu" always (the naive ops with device memory rules and bf16
// weights: the CUDA backend's reference), "cuda" when a GPU is present,
// which is also compared with emu op for op at a tighter bound.
//
// Tolerances (bf16 base weights and bf16 GEMM operands, fp32 elsewhere):
//   logits vs cpu: normalised error < 2e-2;   cuda vs emu: < 5e-3
//   loss of one step: relative 1e-2;  gradients: normalised error < 5e-2
//   50-step loss curve: every step within 5% + 0.02 of the CPU's
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lora/adapter_dev.h"
#include "backend/backend.h"
#include "text/chat_template.h"
#include "check.h"
#include "backend/cpu_blas.h"
#include "train/dataset.h"
#include "infer/forward.h"
#include "lora/lora.h"
#include "model/model.h"
#include "train/train_graph.h"
#include "train/trainer.h"
#include "model/weights_dev.h"

#define MODEL PT_SOURCE_DIR "/tests/data/tiny/llama-hf"

static pt_model g_model;
static char g_tmp[256];

static double nerr(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i])) return INFINITY;
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static int make_adapter(pt_adapter *a, int save_modules, uint64_t seed) {
    pt_lora_config c;
    lora_config_defaults(&c);
    c.r = 4;
    c.lora_alpha = 8;
    c.target_all_linear = 1;
    if (save_modules) {
        c.modules_to_save = calloc(2, sizeof(char *));
        c.modules_to_save[0] = strdup("lm_head");
        c.modules_to_save[1] = strdup("embed_tokens");
        c.n_modules_to_save = 2;
    }
    pt_err err;
    int rc = adapter_create(a, &g_model, &c, seed, &err);
    if (rc) fprintf(stderr, "adapter_create: %s\n", err.msg);
    lora_config_free(&c);
    // B starts at zero: give it values so the adapter changes the output
    for (size_t i = 0; rc == 0 && i < a->n_params; i++)
        if (a->params[i] == 0.0f) a->params[i] = 0.05f * sinf((float)i * 0.37f);
    return rc;
}

// logits (n, V) of tokens through a runtime on be, all positions, prefill
// in chunks of `batch`, with adapter a (or none).
static int run_logits(pt_backend *be, const pt_adapter *a, const int32_t *tok, int n, int batch, float *out) {
    pt_runtime rt;
    pt_err err;
    int rc = runtime_init(&rt, be, &g_model, 64, batch, &err);
    if (!rc && a) rc = runtime_set_adapter(&rt, a, 1.0f, &err);
    if (!rc) rc = runtime_forward(&rt, tok, n, out, 1, &err);
    if (rc) fprintf(stderr, "%s: %s\n", be->ops->name, err.msg);
    runtime_free(&rt);
    return rc;
}

static void test_forward(pt_backend *dev, pt_backend *cpu, pt_backend *emu) {
    int V = g_model.cfg.vocab_size, n = 23;
    int32_t tok[23];
    for (int i = 0; i < n; i++) tok[i] = (int32_t)((i * 37 + 11) % V);
    float *ref = malloc(sizeof(float) * n * V), *got = malloc(sizeof(float) * n * V), *em = malloc(sizeof(float) * n * V);
    pt_adapter a;
    CHECK(make_adapter(&a, 0, 3) == 0);
    for (int with = 0; with < 2; with++)
        for (int batch = 1; batch <= 16; batch += 15) {   // token by token (decode) and chunked prefill
            const pt_adapter *ad = with ? &a : NULL;
            if (run_logits(cpu, ad, tok, n, 16, ref) || run_logits(dev, ad, tok, n, batch, got)) {
                CHECK(0);
                continue;
            }
            double e = nerr(got, ref, (size_t)n * V);
            CHECKF(e < 2e-2, "%s logits vs cpu (adapter %d, batch %d): err %g", dev->ops->name, with, batch, e);
            if (emu && run_logits(emu, ad, tok, n, batch, em) == 0) {
                double e2 = nerr(got, em, (size_t)n * V);
                CHECKF(e2 < 5e-3, "%s logits vs emu (adapter %d, batch %d): err %g", dev->ops->name, with, batch, e2);
            }
            printf("  %s forward adapter=%d batch=%d: err vs cpu %.2e\n", dev->ops->name, with, batch, e);
        }
    adapter_free(&a);
    free(ref); free(got); free(em);
}

// One step on be: loss, and the gradients downloaded into grads (n_params).
static int one_step(pt_backend *be, pt_adapter *a, const int32_t *tok, const uint8_t *mask, const int *len,
                    int B, int T, float *loss, float *grads) {
    pt_train_graph *g;
    pt_err err;
    int nt, rc = train_graph_create(&g, be, &g_model, NULL, a, B, T, &err);
    if (rc) {
        fprintf(stderr, "%s: %s\n", be->ops->name, err.msg);
        return rc;
    }
    train_graph_zero_grads(g);
    rc = train_graph_step(g, tok, mask, len, 1, 1.0f, 99, loss, &nt, &err);
    if (rc) fprintf(stderr, "%s: %s\n", be->ops->name, err.msg);
    be->ops->synchronize(be);
    be->ops->download(be, grads, train_graph_grads(g), sizeof(float) * a->n_params);
    train_graph_free(g);
    return rc;
}

static void test_train_step(pt_backend *dev, pt_backend *cpu) {
    int B = 3, T = 19, V = g_model.cfg.vocab_size;
    int32_t tok[3 * 19];
    uint8_t mask[3 * 19];
    int len[3] = {19, 7, 12};
    for (int i = 0; i < B * T; i++) {
        tok[i] = (int32_t)((i * 53 + 5) % V);
        mask[i] = (uint8_t)(i % T > 2);   // prompt tokens are not targets
    }
    for (int save = 0; save < 2; save++) {
        pt_adapter a;
        if (make_adapter(&a, save, 5)) { CHECK(0); continue; }
        a.cfg.lora_dropout = 0.1f;   // the same hash mask on every backend
        float l0, l1, *g0 = malloc(sizeof(float) * a.n_params), *g1 = malloc(sizeof(float) * a.n_params);
        if (one_step(cpu, &a, tok, mask, len, B, T, &l0, g0) == 0 && one_step(dev, &a, tok, mask, len, B, T, &l1, g1) == 0) {
            double e = nerr(g1, g0, a.n_params);
            CHECKF(check_close(l1, l0, 0, 1e-2f), "%s loss %g vs cpu %g (modules_to_save %d)", dev->ops->name, l1, l0, save);
            CHECKF(e < 5e-2, "%s gradients vs cpu: err %g (modules_to_save %d)", dev->ops->name, e, save);
            printf("  %s train step save=%d: loss %.6f vs %.6f, grad err %.2e\n", dev->ops->name, save, l1, l0, e);
        } else {
            CHECK(0);
        }
        free(g0); free(g1);
        adapter_free(&a);
    }
}

// ---- 50 steps through the trainer -----------------------------------------

static const char *ROWS[] = {
    "{\"instruction\": \"What is your name?\", \"output\": \"I am Pebble.\"}",
    "{\"instruction\": \"Who made you?\", \"output\": \"The peftui team.\"}",
    "{\"instruction\": \"Add 2 and 3.\", \"output\": \"5\"}",
    "{\"instruction\": \"Say hi.\", \"output\": \"Hi there!\"}",
};
#define N_ROWS 4

static int read_losses(const char *dir, float *loss, int cap) {
    char path[600], line[1024];
    snprintf(path, sizeof path, "%s/log.jsonl", dir);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = 0;
    while (n < cap && fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "\"loss\":");
        loss[n++] = p ? strtof(p + 7, NULL) : NAN;
    }
    fclose(f);
    return n;
}

static int train_on(const char *device, pt_dataset *d, const char *out, pt_adapter *a) {
    pt_train_params p;
    train_params_defaults(&p);
    p.lr = 5e-3f;
    p.sched = PT_SCHED_CONSTANT;
    p.batch = 2;
    p.max_seq_len = 64;
    p.max_steps = 50;
    p.n_threads = 2;
    p.save_every = 0;
    p.seed = 11;
    snprintf(p.device, sizeof p.device, "%s", device);
    snprintf(p.out_dir, sizeof p.out_dir, "%s/%s", g_tmp, out);
    pt_trainer *t;
    pt_err err;
    int rc = trainer_start(&t, &g_model, a, d, NULL, &p, NULL, &err);
    if (!rc) rc = trainer_join(t, &err);
    if (rc) fprintf(stderr, "train on %s: %s\n", device, err.msg);
    return rc;
}

// Greedy continuation of prompt on the CPU with adapter a: n tokens into out.
static void greedy(pt_backend *cpu, const pt_adapter *a, const int32_t *prompt, int np, int32_t *out, int n) {
    pt_runtime rt;
    pt_err err;
    int V = g_model.cfg.vocab_size;
    float *lg = malloc(sizeof(float) * V);
    if (runtime_init(&rt, cpu, &g_model, 128, 64, &err) || runtime_set_adapter(&rt, a, 1.0f, &err) ||
        runtime_forward(&rt, prompt, np, lg, 0, &err)) {
        CHECKF(0, "%s", err.msg);
        free(lg);
        return;
    }
    for (int i = 0; i < n; i++) {
        int best = 0;
        for (int v = 1; v < V; v++) if (lg[v] > lg[best]) best = v;
        out[i] = best;
        if (runtime_forward(&rt, &out[i], 1, lg, 0, &err)) break;
    }
    runtime_free(&rt);
    free(lg);
}

static void test_trainer_50(pt_backend *dev, pt_backend *cpu) {
    char path[600];
    pt_err err;
    pt_chat_template *tmpl;
    if (template_load(&tmpl, "chatml", &err)) { CHECKF(0, "%s", err.msg); return; }
    snprintf(path, sizeof path, "%s/rows.jsonl", g_tmp);
    FILE *f = fopen(path, "w");
    for (int i = 0; f && i < N_ROWS; i++) fprintf(f, "%s\n", ROWS[i]);
    if (f) fclose(f);
    pt_dataset d;
    pt_dataset_opts o = {.max_seq_len = 64, .train_on_prompt = 0, .default_system = NULL};
    if (dataset_load(&d, path, g_model.tok, tmpl, &o, &err)) { CHECKF(0, "%s", err.msg); template_free(tmpl); return; }
    pt_adapter ac, ad;
    pt_lora_config c;
    lora_config_defaults(&c);
    c.r = 8;
    c.lora_alpha = 16;
    c.target_all_linear = 1;
    int ok = adapter_create(&ac, &g_model, &c, 1, &err) == 0 && adapter_create(&ad, &g_model, &c, 1, &err) == 0;
    lora_config_free(&c);
    if (!ok) { CHECKF(0, "%s", err.msg); dataset_free(&d); template_free(tmpl); return; }
    char dir_c[64], dir_d[64];
    snprintf(dir_c, sizeof dir_c, "cpu");
    snprintf(dir_d, sizeof dir_d, "%s", dev->ops->name);
    if (train_on("cpu", &d, dir_c, &ac) == 0 && train_on(dev->ops->name, &d, dir_d, &ad) == 0) {
        float lc[64], ld[64];
        snprintf(path, sizeof path, "%s/%s", g_tmp, dir_c);
        int nc = read_losses(path, lc, 64);
        snprintf(path, sizeof path, "%s/%s", g_tmp, dir_d);
        int nd = read_losses(path, ld, 64);
        CHECKF(nc == 50 && nd == 50, "log lines: cpu %d, %s %d", nc, dev->ops->name, nd);
        double worst = 0;
        for (int i = 0; i < nc && i < nd; i++) {
            double tol = 0.05 * fabs(lc[i]) + 0.02, dlt = fabs((double)ld[i] - lc[i]);
            CHECKF(dlt <= tol && isfinite(ld[i]), "step %d: %s loss %g, cpu %g", i + 1, dev->ops->name, ld[i], lc[i]);
            if (dlt > worst) worst = dlt;
        }
        CHECKF(lc[nc - 1] < 0.5f * lc[0], "the loss falls on the cpu: %g -> %g", lc[0], lc[nc - 1]);
        printf("  %s 50 steps: loss %.4f -> %.4f (cpu %.4f -> %.4f), worst step diff %.4f\n", dev->ops->name, ld[0],
               ld[nd - 1], lc[0], lc[nc - 1], worst);
        // the device-trained adapter answers on the CPU as the CPU-trained one does
        for (int r = 0; r < d.n; r++) {
            int np = 0;
            while (np < d.ex[r].n && !d.ex[r].loss[np]) np++;   // the prompt: tokens before the first target
            int na = d.ex[r].n - np;   // the answer's length, its end marker included
            int32_t out_c[64], out_d[64];
            if (na > 64) na = 64;
            greedy(cpu, &ac, d.ex[r].tokens, np, out_c, na);
            greedy(cpu, &ad, d.ex[r].tokens, np, out_d, na);
            CHECKF(memcmp(out_c, out_d, sizeof(int32_t) * na) == 0,
                   "row %d: greedy answers differ between the cpu- and %s-trained adapters", r, dev->ops->name);
            CHECKF(memcmp(out_c, d.ex[r].tokens + np, sizeof(int32_t) * na) == 0, "row %d: the answer was learned", r);
        }
    } else {
        CHECK(0);
    }
    adapter_free(&ac);
    adapter_free(&ad);
    dataset_free(&d);
    template_free(tmpl);
}

// A quantised GGUF's weights expanded on the device (upload_weight_q) are
// bit for bit what the float32 path uploads.
static void test_quant_upload(pt_backend *dev) {
    const char *files[] = {PT_SOURCE_DIR "/tests/data/tiny/llama-q4_1.gguf", PT_SOURCE_DIR "/tests/data/tiny/llama-q8_0.gguf"};
    for (int f = 0; f < 2; f++) {
        pt_model m;
        pt_err err;
        if (model_load(&m, files[f], &err)) { CHECKF(0, "%s", err.msg); continue; }
        CHECKF(m.qlayers && m.qlayers[0].wq.data, "%s keeps its blocks", files[f]);
        pt_bweights bq, bf;
        int ok = bweights_init(&bq, dev, &m, &err) == PT_OK;   // through the blocks
        pt_qlayer *ql = m.qlayers;
        pt_qmat qh = m.q_lm_head;
        m.qlayers = NULL;
        m.q_lm_head.data = NULL;
        ok = ok && bweights_init(&bf, dev, &m, &err) == PT_OK;  // through float32
        m.qlayers = ql;
        m.q_lm_head = qh;
        if (!ok) { CHECKF(0, "%s", err.msg); model_free(&m); continue; }
        size_t n = bq.wmem_bytes;
        unsigned char *a = malloc(n), *b = malloc(n);
        dev->ops->download(dev, a, bq.wmem, n);
        dev->ops->download(dev, b, bf.wmem, n);
        CHECKF(n == bf.wmem_bytes && memcmp(a, b, n) == 0, "%s: %s weights from blocks differ from float32's", dev->ops->name,
               files[f]);
        free(a); free(b);
        bweights_free(&bq);
        bweights_free(&bf);
        model_free(&m);
    }
}

// Every entry of a backend's table is filled (matmul_q and upload_weight_q
// are optional: the engine checks them).
static void test_table(pt_backend *be) {
    const pt_backend_ops *o = be->ops;
    const void *must[] = {
        (const void *)o->name, (const void *)o->destroy, (const void *)o->alloc, (const void *)o->free,
        (const void *)o->upload, (const void *)o->download, (const void *)o->synchronize, (const void *)o->check,
        (const void *)o->supports, (const void *)o->upload_weight, (const void *)o->zero, (const void *)o->copy,
        (const void *)o->mem_available, (const void *)o->mem_held, (const void *)o->mem_peak,
        (const void *)o->mem_reset_peak, (const void *)o->fork, (const void *)o->set_threads,
        (const void *)o->describe, (const void *)o->reserve,
        (const void *)o->matmul, (const void *)o->matmul_w, (const void *)o->matmul_w_backward,
        (const void *)o->embedding_w, (const void *)o->embedding, (const void *)o->rmsnorm, (const void *)o->rope,
        (const void *)o->attention, (const void *)o->swiglu, (const void *)o->add, (const void *)o->softmax,
        (const void *)o->gemm, (const void *)o->rmsnorm_backward, (const void *)o->rope_backward,
        (const void *)o->attention_backward, (const void *)o->swiglu_backward, (const void *)o->cross_entropy,
        (const void *)o->dropout, (const void *)o->embedding_backward, (const void *)o->sumsq, (const void *)o->scale,
        (const void *)o->adamw,
    };
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
        CHECKF(must[i] != NULL, "%s: op table entry %zu is empty", o->name, i);
    char desc[256] = "";
    o->describe(be, desc, sizeof desc);
    CHECKF(strncmp(desc, o->name, strlen(o->name)) == 0, "%s describes itself as '%s'", o->name, desc);
    CHECKF(o->host_memory || o->upload_weight_q, "%s: device backends expand GGUF blocks themselves", o->name);
}

static void run_device(pt_backend *dev, pt_backend *cpu, pt_backend *emu) {
    printf("%s:\n", dev->ops->name);
    CHECK(!dev->ops->host_memory);
    test_table(dev);
    test_quant_upload(dev);
    test_forward(dev, cpu, emu);
    test_train_step(dev, cpu);
    test_trainer_50(dev, cpu);
}

int main(int argc, char **argv) {
    CHECK_USE_FAST_BLAS(argv);
    (void)argc;
    pt_err err;
    if (model_load(&g_model, MODEL, &err)) SKIP_ALL("%s: %s", MODEL, err.msg);
    snprintf(g_tmp, sizeof g_tmp, "/tmp/pt_device_XXXXXX");
    if (!mkdtemp(g_tmp)) {
        CHECKF(0, "mkdtemp: %s", strerror(errno));
        return check_report("test_device");
    }
    pt_backend *cpu = NULL, *emu = NULL, *cuda = NULL;
    CHECK(backend_cpu_create(&cpu, 2, &err) == PT_OK);
    CHECK(backend_emu_create(&emu, &err) == PT_OK);
    pt_backend *nv = NULL;
    if (backend_naive_create(&nv, &err) == PT_OK) {
        test_table(nv);
        backend_destroy(nv);
    }
    if (cpu) test_table(cpu);
    if (cpu && emu) run_device(emu, cpu, NULL);
    if (cpu && backend_cuda_create(&cuda, &err) == PT_OK) {
        run_device(cuda, cpu, emu);
        backend_destroy(cuda);
    } else {
        printf("SKIP cuda: %s\n", err.msg);
    }
    backend_destroy(emu);
    backend_destroy(cpu);
    if (!check_fail_) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
    }
    model_free(&g_model);
    return check_report("test_device");
}
