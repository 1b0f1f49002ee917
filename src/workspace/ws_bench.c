// ws_bench.c - the benchmarks `peftui bench` runs: prefill and decode
// straight through the runtime (no sampling, no end-of-generation), and
// LoRA training steps on random tokens straight through the training graph
// and AdamW, both on a lane of the workspace's device over its base.
//
// Training FLOPs per token (bench/peft_gpu_train_speed.py uses the same):
//   4 * (linear parameters, lm_head included)   forward + input gradients (the base is frozen)
//   + 6 * L * NH*HD * S                          causal attention, forward and backward
// LoRA's own products (r << hidden) are left out.
#include "workspace/ws_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pt_time.h"
#include "train/optimizer.h"
#include "train/train_graph.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int32_t argmax(const float *x, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

// Takes the model for a benchmark (as a chat would: nothing may replace it meanwhile).
static int bench_begin(pt_ws *ws, pt_err *err) {
    pthread_mutex_lock(&ws->mu);
    int rc = ws_need_model(ws, err);
    if (!rc) ws->n_readers++;
    pthread_mutex_unlock(&ws->mu);
    return rc;
}

static void bench_end(pt_ws *ws) {
    pthread_mutex_lock(&ws->mu);
    ws->n_readers--;
    pthread_mutex_unlock(&ws->mu);
}

int pt_ws_bench_decode(pt_ws *ws, int n_prompt, int n_gen, int reps, pt_bench_decode *out, pt_err *err) {
    memset(out, 0, sizeof *out);
    if (reps < 1 || reps > 64 || n_prompt < 1 || n_gen < 1) return pt_fail(err, PT_ERR_ARG, "reps 1..64, tokens >= 1");
    int rc = bench_begin(ws, err);
    if (rc) return rc;
    const pt_model *m = &ws->model;
    pt_backend *lane = NULL;
    pt_runtime rt;
    int rt_ok = 0;
    int V = m->cfg.vocab_size;
    int32_t *toks = malloc(sizeof *toks * (size_t)n_prompt);
    float *logits = malloc(sizeof *logits * (size_t)V);
    double t0 = pt_now_s();
    if (!toks || !logits) rc = pt_fail(err, PT_ERR_NOMEM, "out of memory");
    if (!rc) rc = ws_lane(ws, &lane, err);
    if (!rc) {
        lane->ops->set_threads(lane, ws->budget);
        lane->ops->mem_reset_peak(lane);
        rc = runtime_init_shared(&rt, lane, m, &ws->bw, n_prompt + n_gen + 1, n_prompt < 512 ? n_prompt : 512, err);
        rt_ok = rc == PT_OK;
    }
    out->setup_s = pt_now_s() - t0;
    // ordinary tokens spread over the vocabulary, the same every run
    int lo = V > 2000 ? 1000 : V / 4;   // past the special tokens, which sit at the start
    for (int i = 0; !rc && i < n_prompt; i++) toks[i] = (int32_t)(lo + (int)((uint32_t)i * 7919u % (uint32_t)(V - lo)));
    for (int r = 0; !rc && r < reps; r++) {
        runtime_reset(&rt);
        double a = pt_now_s();
        rc = runtime_forward(&rt, toks, n_prompt, logits, 0, err);
        double b = pt_now_s();
        for (int g = 0; !rc && g < n_gen; g++) {
            int32_t next = argmax(logits, V);
            rc = runtime_forward(&rt, &next, 1, logits, 0, err);
        }
        double d = pt_now_s();
        out->prefill[r] = n_prompt / (b - a);
        out->decode[r] = n_gen / (d - b);
    }
    out->reps = reps;
    if (lane) out->device_peak = lane->ops->mem_peak(lane);
    if (rt_ok) runtime_free(&rt);
    if (lane) backend_destroy(lane);
    free(toks);
    free(logits);
    bench_end(ws);
    return rc;
}

int pt_ws_bench_train(pt_ws *ws, const pt_bench_train_opts *o, pt_bench_train *out, pt_err *err) {
    memset(out, 0, sizeof *out);
    if (o->seq < 2 || o->batch < 1 || o->r < 1 || o->steps < 1 || o->warmup < 0)
        return pt_fail(err, PT_ERR_ARG, "seq >= 2, batch, r and steps >= 1");
    int rc = bench_begin(ws, err);
    if (rc) return rc;
    const pt_model *m = &ws->model;
    pt_backend *lane = NULL;
    pt_adapter a;
    pt_train_graph *g = NULL;
    pt_adamw opt;
    int have_a = 0, have_opt = 0;
    memset(&opt, 0, sizeof opt);
    size_t R = (size_t)o->batch * o->seq;
    int32_t *tok = malloc(sizeof *tok * R);
    uint8_t *mask = malloc(R);
    int *len = malloc(sizeof *len * (size_t)o->batch);
    double *times = calloc((size_t)o->steps, sizeof *times);
    if (!tok || !mask || !len || !times) rc = pt_fail(err, PT_ERR_NOMEM, "out of memory");
    pt_lora_config lc;
    lora_config_defaults(&lc);
    lc.r = o->r;
    lc.lora_alpha = o->alpha;
    lc.target_all_linear = 1;
    if (!rc) rc = adapter_create(&a, m, &lc, 7, err);
    have_a = rc == PT_OK;
    if (!rc) rc = ws_lane(ws, &lane, err);
    double t0 = pt_now_s();
    if (!rc) {
        lane->ops->set_threads(lane, ws->budget);
        lane->ops->mem_reset_peak(lane);
        rc = train_graph_create(&g, lane, m, &ws->bw, &a, o->batch, o->seq, err);
    }
    if (!rc) rc = adamw_init(&opt, lane, a.n_params, 0.9, 0.999, 1e-8, 0.0, err);
    have_opt = !rc;
    out->setup_s = pt_now_s() - t0;
    int V = m->cfg.vocab_size;
    uint64_t st = 0x243F6A8885A308D3ull;
    for (size_t i = 0; !rc && i < R; i++) {   // random ids, loss on every token (as labels = inputs)
        st ^= st << 13; st ^= st >> 7; st ^= st << 17;
        tok[i] = (int32_t)(st % (uint64_t)V);
        mask[i] = 1;
    }
    for (int b = 0; !rc && b < o->batch; b++) len[b] = o->seq;
    float loss = NAN;
    for (int s = 0; !rc && s < o->warmup + o->steps; s++) {
        double a0 = pt_now_s();
        int nt;
        float *grads = train_graph_grads(g);
        train_graph_zero_grads(g);
        rc = train_graph_step(g, tok, mask, len, 1, 1.0f, (uint64_t)s, &loss, &nt, err);
        if (rc) break;
        grad_clip_norm(lane, grads, a.n_params, 1.0);
        adamw_step(&opt, train_graph_params(g), grads, 1e-4);
        rc = lane->ops->check(lane, err);   // synchronises: the step is done
        if (s >= o->warmup) times[s - o->warmup] = pt_now_s() - a0;
    }
    if (!rc) {
        qsort(times, (size_t)o->steps, sizeof *times, cmp_double);
        out->step_s = o->steps % 2 ? times[o->steps / 2] : 0.5 * (times[o->steps / 2 - 1] + times[o->steps / 2]);
        const pt_config *c = &m->cfg;
        double lin = (double)c->n_layer * ((double)c->n_embd * c->n_head * c->head_dim * 2 +
                                           (double)c->n_embd * c->n_head_kv * c->head_dim * 2 + 3.0 * c->n_embd * c->n_ff) +
                     (double)c->vocab_size * c->n_embd;
        out->flops_per_token = 4.0 * lin + 6.0 * c->n_layer * (double)c->n_head * c->head_dim * o->seq;
        out->tokens_per_s = (double)R / out->step_s;
        out->loss = loss;
        out->trainable = a.n_params;
        out->device_peak = lane->ops->mem_peak(lane);
    }
    if (have_opt) adamw_free(&opt);
    train_graph_free(g);
    if (lane) backend_destroy(lane);
    if (have_a) adapter_free(&a);
    lora_config_free(&lc);
    free(tok);
    free(mask);
    free(len);
    free(times);
    bench_end(ws);
    return rc;
}
