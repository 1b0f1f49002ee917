// cmd_bench_train.c - `peftui bench --train`: LoRA training speed on any
// backend, straight through the training graph and AdamW (no dataset, no
// checkpoints; the workspace's pt_ws_bench_train), on a real model or a
// named shape with random weights: tokens/s, model FLOPs utilisation and
// peak memory. The GPU benchmark (bench/gpu_train_vs_peft.sh) runs it beside
// PEFT + transformers.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"

int cli_bench_open(pt_ws **ws, const cli_common *c, const char *shape, double *load_s);   // cmd_bench.c

int cmd_bench_train(int argc, char **argv) {
    const char *model_path = NULL, *shape = NULL, *device = "auto";
    int threads = cli_default_threads(), seq = 512, batch = 1, r = 16, steps = 10, warmup = 3, json = 0, train_flag = 0;
    float alpha = 32.0f, peak_tflops = 0.0f;
    cli_opt opts[] = {
        {"train", 0, OPT_FLAG, &train_flag, NULL, "measure LoRA training (this mode)", 0, 0},
        {"model", 'm', OPT_STR, &model_path, "PATH", "model file or folder (default: --shape, else the default model)", 0, 0},
        {"shape", 0, OPT_STR, &shape, "NAME", "random weights of a named shape: smollm2-135m, llama2-7b, bloom-560m, gpt2, tiny", 0, 0},
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
    if (!pt_device_name_ok(device)) return cli_error(CLI_USAGE, "unknown device '%s' (use auto, cpu or cuda)", device);

    cli_common c;
    cli_common_defaults(&c);
    c.model = model_path;
    c.backend = device;
    c.threads = threads;
    pt_ws *ws = NULL;
    pt_err err = {0};
    double load_s = 0;
    if ((rc = cli_bench_open(&ws, &c, shape, &load_s)) != CLI_OK) return rc;
    pt_bench_train_opts bo = {.seq = seq, .batch = batch, .r = r, .steps = steps, .warmup = warmup, .alpha = alpha};
    pt_bench_train b;
    if (pt_ws_bench_train(ws, &bo, &b, &err) != PT_OK) {
        rc = cli_error(CLI_ERR, "%s", err.msg);
        pt_ws_destroy(ws);
        return rc;
    }
    pt_model_info m;
    pt_ws_model_info(ws, &m, &err);
    double tps = b.tokens_per_s;
    if (peak_tflops <= 0 && !strcmp(m.device_name, "cuda")) peak_tflops = 989.0f;
    double mfu = peak_tflops > 0 ? tps * b.flops_per_token / (peak_tflops * 1e12) : NAN;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double peak_dev = m.device_host ? 0 : b.device_peak / 1048576.0, rss = ru.ru_maxrss / 1024.0;
    if (json) {
        char mfu_s[32];
        if (isnan(mfu)) snprintf(mfu_s, sizeof mfu_s, "null");
        else snprintf(mfu_s, sizeof mfu_s, "%.4f", mfu);
        printf("{\"device\": \"%s\", \"model\": \"%s\", \"seq\": %d, \"batch\": %d, \"r\": %d, \"steps\": %d, "
               "\"step_s\": %.6f, \"tokens_per_s\": %.1f, \"mfu\": %s, \"peak_gpu_mib\": %.1f, \"peak_rss_mib\": %.1f, "
               "\"loss\": %.4f, \"trainable\": %zu}\n",
               m.device_name, m.path, seq, batch, r, steps, b.step_s, tps, mfu_s, peak_dev, rss, b.loss, b.trainable);
    } else {
        printf("model      %s (%.1fM parameters), loaded in %.1f s\n", m.path, m.n_params / 1e6, load_s);
        printf("device     %s; graph, adapter and optimizer set up in %.2f s\n", m.device, b.setup_s);
        printf("LoRA       r=%d alpha=%g on every linear layer: %zu trainable parameters\n", r, alpha, b.trainable);
        printf("step       batch %d x %d tokens: %.1f ms median of %d (after %d warm-up)\n", batch, seq, b.step_s * 1e3, steps, warmup);
        printf("speed      %.0f tokens/s", tps);
        if (!isnan(mfu)) printf(", MFU %.1f%% of %.0f TFLOP/s", 100 * mfu, peak_tflops);
        printf("\nmemory     ");
        if (peak_dev > 0) printf("peak %s %.0f MiB, ", m.device_name, peak_dev);
        printf("peak RSS %.0f MiB\n", rss);
    }
    pt_ws_destroy(ws);
    return CLI_OK;
}
