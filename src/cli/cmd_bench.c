// cmd_bench.c - `peftui bench`: load time, prefill and decode speed (median
// of --reps runs) and peak memory, straight through runtime_forward so that
// sampling and end-of-generation tokens do not change what is measured.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cli.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double cli_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// A workspace on the device with the model (or a random shape) loaded;
// *load_s: seconds the load took.
int cli_bench_open(pt_ws **ws, const cli_common *c, const char *shape, double *load_s);

int cmd_bench(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--train")) return cmd_bench_train(argc, argv);
    cli_common c;
    cli_common_defaults(&c);
    int n_prompt = 128, n_gen = 64, reps = 3, json = 0, train_unused = 0;
    const char *shape = NULL;
    cli_opt opts[] = {
        CLI_OPTS_MODEL(&c),
        {"shape", 0, OPT_STR, &shape, "NAME", "random weights of a named shape instead of a model: smollm2-135m, llama2-7b, bloom-560m, gpt2, tiny", 0, 0},
        {"prompt-tokens", 0, OPT_INT, &n_prompt, "N", "tokens in the prefill (default 128)", 1, 1 << 20},
        {"gen-tokens", 0, OPT_INT, &n_gen, "N", "tokens decoded one at a time (default 64)", 1, 1 << 20},
        {"reps", 0, OPT_INT, &reps, "N", "repetitions; the median is reported (default 3)", 1, 1000},
        {"json", 0, OPT_FLAG, &json, NULL, "print one JSON object", 0, 0},
        {"train", 0, OPT_FLAG, &train_unused, NULL, "measure LoRA training instead (see bench --train --help)", 0, 0},
    };
    cli_command_spec spec = {"bench", "[-m PATH | --shape NAME] [--device D] [--prompt-tokens N] [--gen-tokens N] [--reps N] [--json]",
                             "Measures load time, prefill and decode tokens/s (median over reps) and peak memory.",
                             opts, (int)(sizeof opts / sizeof opts[0])};
    char *pos[1];
    int n_pos, help, rc;
    if ((rc = cli_parse(&spec, argc, argv, pos, 0, &n_pos, &help)) != CLI_OK) return rc;
    if (help) { cli_print_help(&spec); return CLI_OK; }
    if (!pt_device_name_ok(c.backend)) return cli_error(CLI_USAGE, "unknown device '%s' (use auto, cpu or cuda)", c.backend);

    if (reps > 64) return cli_error(CLI_USAGE, "--reps: at most 64");
    pt_ws *ws = NULL;
    pt_err err = {0};
    double load_s = 0;
    if ((rc = cli_bench_open(&ws, &c, shape, &load_s)) != CLI_OK) return rc;
    pt_bench_decode b;
    if (pt_ws_bench_decode(ws, n_prompt, n_gen, reps, &b, &err) != PT_OK) {
        rc = cli_error(CLI_ERR, "%s", err.msg);
        pt_ws_destroy(ws);
        return rc;
    }
    pt_model_info m;
    pt_ws_model_info(ws, &m, &err);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double pre_lo = b.prefill[0], pre_hi = b.prefill[0], dec_lo = b.decode[0], dec_hi = b.decode[0];
    for (int r = 1; r < reps; r++) {
        if (b.prefill[r] < pre_lo) pre_lo = b.prefill[r];
        if (b.prefill[r] > pre_hi) pre_hi = b.prefill[r];
        if (b.decode[r] < dec_lo) dec_lo = b.decode[r];
        if (b.decode[r] > dec_hi) dec_hi = b.decode[r];
    }
    double peak_dev = m.device_host ? 0 : b.device_peak / 1048576.0, setup_s = load_s + b.setup_s;
    const char *dev = m.device_name;
    if (json) {
        printf("{\"device\": \"%s\", \"model\": \"%s\", \"prompt_tokens\": %d, \"gen_tokens\": %d, \"reps\": %d, "
               "\"prefill_tokens_per_s\": %.1f, \"decode_tokens_per_s\": %.1f, \"load_s\": %.3f, \"setup_s\": %.3f, "
               "\"peak_gpu_mib\": %.1f, \"peak_rss_mib\": %.1f}\n",
               dev, m.path, n_prompt, n_gen, reps, cli_median(b.prefill, reps), cli_median(b.decode, reps), load_s, setup_s,
               peak_dev, ru.ru_maxrss / 1024.0);
    } else {
        pt_model_info mi;
        pt_ws_model_info(ws, &mi, &err);
        printf("model      %s (%s, %.1fM parameters)\n", mi.path, mi.arch, mi.n_params / 1e6);
        printf("device     %s", mi.device);
        printf("\nload       %.2f s (model), %.2f s (with runtime)\n", load_s, setup_s);
        printf("\n%-22s %10s %10s %10s\n", "tokens/s", "median", "min", "max");
        printf("%-22s %10.1f %10.1f %10.1f\n", "prefill", cli_median(b.prefill, reps), pre_lo, pre_hi);
        printf("%-22s %10.1f %10.1f %10.1f\n", "decode", cli_median(b.decode, reps), dec_lo, dec_hi);
        printf("\n(prefill %d tokens, decode %d tokens, %d reps)\n", n_prompt, n_gen, reps);
        if (peak_dev > 0) printf("peak %s memory %.1f MiB\n", dev, peak_dev);
        printf("peak RSS   %.1f MiB\n", ru.ru_maxrss / 1024.0);
    }
    pt_ws_destroy(ws);
    return CLI_OK;
}

int cli_bench_open(pt_ws **ws, const cli_common *c, const char *shape, double *load_s) {
    int rc, task;
    pt_err err = {0};
    double t0 = pt_now_s();
    *ws = NULL;
    if (!shape) {
        rc = cli_ws_open(ws, c);
    } else if ((rc = cli_ws_create(ws, c->backend, c->threads, c->ctx)) == CLI_OK) {
        if (pt_ws_load_shape(*ws, shape, &task, &err) != PT_OK) rc = cli_error(CLI_USAGE, "%s", err.msg);
        else rc = cli_wait_task(*ws, task);
        if (rc != CLI_OK) {
            pt_ws_destroy(*ws);
            *ws = NULL;
        }
    }
    *load_s = pt_now_s() - t0;
    return rc;
}
