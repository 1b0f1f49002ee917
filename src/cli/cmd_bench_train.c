// cmd_bench_train.c - `peftui bench --train`: LoRA training speed on any
// backend, straight through the training graph and AdamW (no dataset, no
// checkpoints), on a real model or a named shape with random weights:
// tokens/s, model FLOPs utilisation and peak memory. The GPU benchmark
// (bench/gpu_train_vs_peft.sh) runs it beside PEFT + transformers.
//
// FLOPs per token, the formula bench/peft_gpu_train_speed.py uses too:
//   4 * (linear parameters, lm_head included)   forward + input gradients (the base is frozen)
//   + 6 * L * NH*HD * S                          causal attention, forward and backward
// LoRA's own products (r << hidden) are left out.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"
#include "train/optimizer.h"
#include "core/pt_time.h"
#include "train/train_graph.h"

int cmd_bench_train(int argc, char **argv) {
    const char *model_path = NULL, *shape = NULL, *device = "auto";
    int threads = cli_default_threads(), seq = 512, batch = 1, r = 16, steps = 10, warmup = 3, json = 0, train_flag = 0;
    float alpha = 32.0f, peak_tflops = 0.0f;
    cli_opt opts[] = {
        {"train", 0, OPT_FLAG, &train_flag, NULL, "measure LoRA training (this mode)", 0, 0},
        {"model", 'm', OPT_STR, &model_path, "PATH", "model file or folder (default: --shape, else the default model)", 0, 0},
        {"shape", 0, OPT_STR, &shape, "NAME", "random weights of a named shape: smollm2-135m, llama2-7b, tiny", 0, 0},
        {"device", 0, OPT_STR, &device, "NAME", "auto (default), cpu or cuda", 0, 0},
        {"threads", 't', OPT_INT, &threads, "N", "CPU threads (default: the number of cores)", 1, 1024},
        {"seq", 0, OPT_INT, &seq, "N", "tokens per sequence (default 512)", 2, 1 << 20},
        {"batch", 0, OPT_INT, &batch, "N", "sequences per step (default 1)", 1, 4096},
        {"r", 0, OPT_INT, &r, "N", "LoRA rank on every linear layer (default 16)", 1, 4096},
        {"alpha", 0, OPT_FLOAT, &alpha, "A", "lora_alpha (default 32)", 1e-6, 1e6},
        {"steps", 0, OPT_INT, &steps, "N", "timed optimizer steps (default 10)", 1, 100000},
        {"warmup", 0, OPT_INT, &warmup, "N", "untimed steps first (default 3)", 0, 100000},
        {"peak-tflops", 0, OPT_FLOAT, &peak_tflops, "T", "the device's dense bf16 peak for MFU (default: 989 on cuda, none on cpu)", 0, 1e9},
        {"json", 0, OPT_FLAG, &json, NULL, "print one JSON object", 0, 0},
    };
    cli_command_spec spec = {"bench --train", "[-m PATH | --shape NAME] [--device D] [--seq N] [--batch N] [--r N] [--steps N] [--json]",
                             "Measures LoRA training tokens/s, MFU and peak memory (AdamW, all linear layers targeted).",
                             opts, (int)(sizeof opts / sizeof opts[0])};
    char *pos[1];
    int n_pos, help, rc;
    if ((rc = cli_parse(&spec, argc, argv, pos, 0, &n_pos, &help)) != CLI_OK) return rc;
    if (help) { cli_print_help(&spec); return CLI_OK; }
    if (!cli_device_name_ok(device)) return cli_error(CLI_USAGE, "unknown device '%s' (use auto, cpu or cuda)", device);

    pt_err err = {0};
    pt_model m;
    pt_backend *be = NULL;
    pt_adapter a;
    pt_train_graph *g = NULL;
    pt_adamw opt;
    int have_a = 0, have_opt = 0;
    memset(&opt, 0, sizeof opt);
    int32_t *tok = NULL;
    uint8_t *mask = NULL;
    int *len = NULL;
    double *times = NULL;
    double t0 = pt_now_s();
    if (shape) {
        pt_config cfg;
        if (model_shape(&cfg, shape, &err) != PT_OK) return cli_error(CLI_USAGE, "%s", err.msg);
        if (model_random(&m, &cfg, 1234, &err) != PT_OK) return cli_error(CLI_ERR, "%s", err.msg);
    } else if ((rc = cli_model_load(&m, model_path, NULL)) != CLI_OK) {
        return rc;
    }
    double load_s = pt_now_s() - t0;
    if (backend_create(&be, device, threads, &err) != PT_OK) {
        rc = cli_error(CLI_ERR, "%s (try --device cpu)", err.msg);
        goto done;
    }
    pt_lora_config lc;
    lora_config_defaults(&lc);
    lc.r = r;
    lc.lora_alpha = alpha;
    lc.target_all_linear = 1;
    rc = adapter_create(&a, &m, &lc, 7, &err);
    lora_config_free(&lc);
    if (rc != PT_OK) { rc = cli_error(CLI_ERR, "%s", err.msg); goto done; }
    have_a = 1;
    t0 = pt_now_s();
    if (train_graph_create(&g, be, &m, NULL, &a, batch, seq, &err) != PT_OK ||
        adamw_init(&opt, be, a.n_params, 0.9, 0.999, 1e-8, 0.0, &err) != PT_OK) {
        rc = cli_error(CLI_ERR, "%s", err.msg);
        goto done;
    }
    have_opt = 1;
    double setup_s = pt_now_s() - t0;
    size_t R = (size_t)batch * seq;
    tok = malloc(sizeof *tok * R);
    mask = malloc(R);
    len = malloc(sizeof *len * (size_t)batch);
    times = calloc((size_t)steps, sizeof *times);
    if (!tok || !mask || !len || !times) { rc = cli_error(CLI_ERR, "out of memory"); goto done; }
    int V = m.cfg.vocab_size;
    uint64_t st = 0x243F6A8885A308D3ull;
    for (size_t i = 0; i < R; i++) {   // random ids, loss on every token (as labels = inputs)
        st ^= st << 13; st ^= st >> 7; st ^= st << 17;
        tok[i] = (int32_t)(st % (uint64_t)V);
        mask[i] = 1;
    }
    for (int b = 0; b < batch; b++) len[b] = seq;
    float loss = NAN;
    for (int s = 0; s < warmup + steps; s++) {
        double a0 = pt_now_s();
        int nt;
        float *grads = train_graph_grads(g);
        train_graph_zero_grads(g);
        if (train_graph_step(g, tok, mask, len, 1, 1.0f, (uint64_t)s, &loss, &nt, &err) != PT_OK) {
            rc = cli_error(CLI_ERR, "step %d: %s", s + 1, err.msg);
            goto done;
        }
        grad_clip_norm(be, grads, a.n_params, 1.0);
        adamw_step(&opt, train_graph_params(g), grads, 1e-4);
        if (be->ops->check(be, &err) != PT_OK) {   // synchronises: the step is done
            rc = cli_error(CLI_ERR, "step %d: %s", s + 1, err.msg);
            goto done;
        }
        if (s >= warmup) times[s - warmup] = pt_now_s() - a0;
    }
    double step_s = cli_median(times, steps);
    const pt_config *c = &m.cfg;
    double lin = (double)c->n_layer * ((double)c->n_embd * c->n_head * c->head_dim * 2 +
                                       (double)c->n_embd * c->n_head_kv * c->head_dim * 2 + 3.0 * c->n_embd * c->n_ff) +
                 (double)c->vocab_size * c->n_embd;
    double flops_tok = 4.0 * lin + 6.0 * c->n_layer * (double)c->n_head * c->head_dim * seq;
    double tps = (double)R / step_s;
    if (peak_tflops <= 0 && !strcmp(be->ops->name, "cuda")) peak_tflops = 989.0f;
    double mfu = peak_tflops > 0 ? tps * flops_tok / (peak_tflops * 1e12) : NAN;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double peak_dev = be->ops->mem_peak(be) / 1048576.0, rss = ru.ru_maxrss / 1024.0;
    if (json) {
        char mfu_s[32];
        if (isnan(mfu)) snprintf(mfu_s, sizeof mfu_s, "null");
        else snprintf(mfu_s, sizeof mfu_s, "%.4f", mfu);
        printf("{\"device\": \"%s\", \"model\": \"%s\", \"seq\": %d, \"batch\": %d, \"r\": %d, \"steps\": %d, "
               "\"step_s\": %.6f, \"tokens_per_s\": %.1f, \"mfu\": %s, \"peak_gpu_mib\": %.1f, \"peak_rss_mib\": %.1f, "
               "\"loss\": %.4f, \"trainable\": %zu}\n",
               be->ops->name, m.path, seq, batch, r, steps, step_s, tps, mfu_s, peak_dev, rss, loss, a.n_params);
    } else {
        printf("model      %s (%.1fM parameters), loaded in %.1f s\n", m.path, m.n_params / 1e6, load_s);
        printf("device     %s; graph, adapter and optimizer set up in %.2f s\n", be->ops->name, setup_s);
        printf("LoRA       r=%d alpha=%g on every linear layer: %zu trainable parameters\n", r, alpha, a.n_params);
        printf("step       batch %d x %d tokens: %.1f ms median of %d (after %d warm-up)\n", batch, seq, step_s * 1e3, steps, warmup);
        printf("speed      %.0f tokens/s", tps);
        if (!isnan(mfu)) printf(", MFU %.1f%% of %.0f TFLOP/s", 100 * mfu, peak_tflops);
        printf("\nmemory     ");
        if (peak_dev > 0) printf("peak %s %.0f MiB, ", be->ops->name, peak_dev);
        printf("peak RSS %.0f MiB\n", rss);
    }
    rc = CLI_OK;
done:
    free(tok); free(mask); free(len); free(times);
    if (have_opt) adamw_free(&opt);
    train_graph_free(g);
    if (have_a) adapter_free(&a);
    if (be) backend_destroy(be);
    model_free(&m);
    return rc;
}
