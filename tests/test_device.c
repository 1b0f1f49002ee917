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
//   the BLOOM / GPT-2 / NeoX ops (layernorm, gelu, copy2d, ALiBi attention)
//   vs cpu, op by op: 1e-5 (copy2d exact); attention on CUDA's tensor cores
//   (HD 64, more than 16 queries): 1e-2, test_backend_ops.c's bound
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
        (const void *)o->adamw, (const void *)o->layernorm, (const void *)o->layernorm_backward, (const void *)o->gelu,
        (const void *)o->gelu_backward, (const void *)o->copy2d,
    };
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
        CHECKF(must[i] != NULL, "%s: op table entry %zu is empty", o->name, i);
    char desc[256] = "";
    o->describe(be, desc, sizeof desc);
    CHECKF(strncmp(desc, o->name, strlen(o->name)) == 0, "%s describes itself as '%s'", o->name, desc);
    CHECKF(o->host_memory || o->upload_weight_q, "%s: device backends expand GGUF blocks themselves", o->name);
}

// ---- the ops of the LayerNorm / GELU / ALiBi families, dev against cpu ----

static uint64_t g_rng = 0x5851F42D4C957F2Dull;
static float *rnd(size_t n, float s) {  // uniform in [-s, s)
    float *p = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        g_rng ^= g_rng << 13; g_rng ^= g_rng >> 7; g_rng ^= g_rng << 17;
        p[i] = ((float)((g_rng >> 40) / 16777216.0) * 2.0f - 1.0f) * s;
    }
    return p;
}
static float *dev_up(pt_backend *be, const float *h, size_t n) {
    float *d = be->ops->alloc(be, sizeof(float) * (n ? n : 1));
    be->ops->upload(be, d, h, sizeof(float) * n);
    return d;
}
static void dev_down(pt_backend *be, float *h, const float *d, size_t n) {
    be->ops->synchronize(be);
    be->ops->download(be, h, d, sizeof(float) * n);
}

// out (n) of the same op on dev and cpu, from host inputs uploaded to each;
// the op as a callback on one backend's buffers.
typedef void (*op_fn)(pt_backend *be, float *out, float *const *in, const int *dims);
static double op_vs_cpu(pt_backend *dev, pt_backend *cpu, op_fn f, float *const *host_in, const size_t *n_in,
                        int n_inputs, size_t n_out, const float *out_init, const int *dims) {
    float *res[2], *in[2][6];
    pt_backend *be[2] = {dev, cpu};
    for (int b = 0; b < 2; b++) {
        for (int i = 0; i < n_inputs; i++) in[b][i] = dev_up(be[b], host_in[i], n_in[i]);
        float *out = out_init ? dev_up(be[b], out_init, n_out) : be[b]->ops->alloc(be[b], sizeof(float) * n_out);
        f(be[b], out, in[b], dims);
        res[b] = malloc(sizeof(float) * n_out);
        dev_down(be[b], res[b], out, n_out);
        CHECKF(be[b]->ops->check(be[b], NULL) == PT_OK, "%s: an op failed", be[b]->ops->name);
        be[b]->ops->free(be[b], out);
        for (int i = 0; i < n_inputs; i++) be[b]->ops->free(be[b], in[b][i]);
    }
    double e = nerr(res[0], res[1], n_out);
    free(res[0]);
    free(res[1]);
    return e;
}

// dims: N, C, with bias
static void f_layernorm(pt_backend *be, float *out, float *const *in, const int *d) {
    be->ops->layernorm(be, out, in[0], in[1], d[2] ? in[2] : NULL, d[0], d[1], 1e-5f);
}
static void f_layernorm_bw(pt_backend *be, float *dinp, float *const *in, const int *d) {
    be->ops->layernorm_backward(be, dinp, in[0], in[1], in[2], d[0], d[1], 1e-5f);
}
// dims: n, kind
static void f_gelu(pt_backend *be, float *out, float *const *in, const int *d) {
    be->ops->gelu(be, out, in[0], (size_t)d[0], (pt_gelu)d[1]);
}
static void f_gelu_bw(pt_backend *be, float *dinp, float *const *in, const int *d) {
    be->ops->gelu_backward(be, dinp, in[0], in[1], (size_t)d[0], (pt_gelu)d[1]);
}
// dims: N, C: the k third of a fused (N, 3C) QKV into (N, C)
static void f_copy2d(pt_backend *be, float *out, float *const *in, const int *d) {
    be->ops->copy2d(be, out, (size_t)d[1], in[0] + d[1], (size_t)3 * d[1], (size_t)d[0], (size_t)d[1]);
}
// dims: N, pos0, NH, NKV, HD, window
static void f_attention(pt_backend *be, float *out, float *const *in, const int *d) {
    be->ops->attention(be, out, in[0], in[1], in[2], d[0], d[1], d[2], d[3], d[4], d[5], 1);
}
// dims: T, NH, NKV, HD; in: q, k, v, out, dout. Result: dq then dk, dv (one buffer)
static void f_attention_bw(pt_backend *be, float *res, float *const *in, const int *d) {
    size_t nq = (size_t)d[0] * d[1] * d[3], nkv = (size_t)d[0] * d[2] * d[3];
    be->ops->attention_backward(be, res, res + nq, res + nq + nkv, in[4], in[0], in[1], in[2], in[3], d[0], d[1], d[2],
                                d[3], 1);
}

static void test_family_ops(pt_backend *dev, pt_backend *cpu) {
    const char *nm = dev->ops->name;
    int cuda = strcmp(nm, "cuda") == 0;
    CHECKF(dev->ops->supports(dev, PT_OP_LAYERNORM) && dev->ops->supports(dev, PT_OP_GELU) &&
           dev->ops->supports(dev, PT_OP_COPY2D) && dev->ops->supports(dev, PT_OP_ALIBI), "%s supports the family ops", nm);
    int lnd[][2] = {{1, 64}, {19, 130}, {7, 1023}};
    for (int s = 0; s < 3; s++)
        for (int bias = 0; bias < 2; bias++) {
            int N = lnd[s][0], C = lnd[s][1], dims[3] = {N, C, bias};
            size_t n = (size_t)N * C, ns[3] = {n, (size_t)C, (size_t)C};
            float *x = rnd(n, 3), *w = rnd((size_t)C, 1), *b = rnd((size_t)C, 1), *dy = rnd(n, 1), *acc = rnd(n, 1);
            float *in[3] = {x, w, b}, *inb[3] = {dy, x, w};
            double e = op_vs_cpu(dev, cpu, f_layernorm, in, ns, 3, n, NULL, dims);
            CHECKF(e < 1e-5, "%s layernorm N=%d C=%d bias=%d vs cpu: err %g", nm, N, C, bias, e);
            size_t nsb[3] = {n, n, (size_t)C};
            e = op_vs_cpu(dev, cpu, f_layernorm_bw, inb, nsb, 3, n, acc, dims);
            CHECKF(e < 1e-5, "%s layernorm_backward N=%d C=%d vs cpu: err %g", nm, N, C, e);
            free(x); free(w); free(b); free(dy); free(acc);
        }
    for (int kind = 0; kind < 2; kind++) {
        int dims[2] = {100003, kind};
        size_t n = 100003, ns[2] = {n, n};
        float *x = rnd(n, 6), *dy = rnd(n, 1), *in[1] = {x}, *inb[2] = {dy, x};
        double e = op_vs_cpu(dev, cpu, f_gelu, in, ns, 1, n, NULL, dims);
        CHECKF(e < 1e-5, "%s gelu kind %d vs cpu: err %g", nm, kind, e);
        e = op_vs_cpu(dev, cpu, f_gelu_bw, inb, ns, 2, n, NULL, dims);
        CHECKF(e < 1e-5, "%s gelu_backward kind %d vs cpu: err %g", nm, kind, e);
        free(x); free(dy);
    }
    {
        int dims[2] = {23, 96};
        size_t ns[1] = {(size_t)23 * 3 * 96};
        float *qkv = rnd(ns[0], 1), *in[1] = {qkv};
        double e = op_vs_cpu(dev, cpu, f_copy2d, in, ns, 1, (size_t)23 * 96, NULL, dims);
        CHECKF(e == 0, "%s copy2d vs cpu: err %g", nm, e);
        free(qkv);
    }
    // ALiBi attention: decode over a cache, chunked prefill with GQA and a window, training-sized prefill
    int at[][6] = {{1, 40, 6, 2, 64, 0}, {11, 23, 12, 4, 16, 9}, {45, 0, 6, 3, 64, 0}};
    for (int s = 0; s < 3; s++) {
        const int *d = at[s];
        int T = d[0] + d[1];
        size_t nq = (size_t)d[0] * d[2] * d[4], nkv = (size_t)T * d[3] * d[4], ns[3] = {nq, nkv, nkv};
        float *q = rnd(nq, 2), *k = rnd(nkv, 2), *v = rnd(nkv, 1), *in[3] = {q, k, v};
        double e = op_vs_cpu(dev, cpu, f_attention, in, ns, 3, nq, NULL, d);
        double bound = cuda && d[4] == 64 && d[0] > 16 ? 1e-2 : 1e-5;
        CHECKF(e < bound, "%s alibi attention N=%d pos0=%d NH=%d NKV=%d HD=%d win=%d vs cpu: err %g", nm, d[0], d[1],
               d[2], d[3], d[4], d[5], e);
        free(q); free(k); free(v);
    }
    int bt[][4] = {{13, 6, 2, 16}, {33, 12, 4, 64}};
    for (int s = 0; s < 2; s++) {
        const int *d = bt[s];
        size_t nq = (size_t)d[0] * d[1] * d[3], nkv = (size_t)d[0] * d[2] * d[3], ns[5] = {nq, nkv, nkv, nq, nq};
        float *q = rnd(nq, 1), *k = rnd(nkv, 1), *v = rnd(nkv, 1), *o = malloc(sizeof(float) * nq), *dy = rnd(nq, 1);
        pt_backend *nv = NULL;
        pt_err err;
        int have_out = backend_naive_create(&nv, &err) == PT_OK;
        if (have_out) {   // out: the oracle's forward on these host buffers
            nv->ops->attention(nv, o, q, k, v, d[0], 0, d[1], d[2], d[3], 0, 1);
            backend_destroy(nv);
        }
        float *in[5] = {q, k, v, o, dy};
        double e = have_out ? op_vs_cpu(dev, cpu, f_attention_bw, in, ns, 5, nq + 2 * nkv, NULL, d) : INFINITY;
        double bound = cuda && d[3] == 64 && d[0] > 16 ? 1e-2 : 1e-5;
        CHECKF(e < bound, "%s alibi attention_backward T=%d NH=%d NKV=%d HD=%d vs cpu: err %g", nm, d[0], d[1],
               d[2], d[3], e);
        free(q); free(k); free(v); free(o); free(dy);
    }
    printf("  %s layernorm, gelu, copy2d, alibi attention: vs cpu\n", nm);
}

static void run_device(pt_backend *dev, pt_backend *cpu, pt_backend *emu) {
    printf("%s:\n", dev->ops->name);
    CHECK(!dev->ops->host_memory);
    test_table(dev);
    test_family_ops(dev, cpu);
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
