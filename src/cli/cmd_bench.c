// cmd_bench.c - `peftui bench`: load time, prefill and decode speed (median
// of --reps runs) and peak memory, straight through runtime_forward so that
// sampling and end-of-generation tokens do not change what is measured.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cli.h"
#include "core/pt_time.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double cli_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int32_t argmax(const float *x, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++) if (x[i] > x[best]) best = i;
    return best;
}

int cmd_bench(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--train")) return cmd_bench_train(argc, argv);
    cli_common c;
    cli_common_defaults(&c);
    int n_prompt = 128, n_gen = 64, reps = 3, json = 0, train_unused = 0;
    const char *shape = NULL;
    cli_opt opts[] = {
        CLI_OPTS_MODEL(&c),
        {"shape", 0, OPT_STR, &shape, "NAME", "random weights of a named shape instead of a model: smollm2-135m, llama2-7b, tiny", 0, 0},
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
    if (!cli_device_name_ok(c.backend)) return cli_error(CLI_USAGE, "unknown device '%s' (use auto, cpu or cuda)", c.backend);

    pt_err err = {0};
    pt_model m;
    pt_backend *be = NULL;
    pt_runtime rt;
    int rt_ok = 0;
    double *pre = calloc((size_t)reps, sizeof *pre), *dec = calloc((size_t)reps, sizeof *dec);
    int32_t *toks = malloc(sizeof *toks * (size_t)n_prompt);
    float *logits = NULL;
    memset(&m, 0, sizeof m);
    if (!pre || !dec || !toks) {
        free(pre); free(dec); free(toks);
        return cli_error(CLI_ERR, "out of memory");
    }
    double t0 = pt_now_s(), load_s;
    if (shape) {
        pt_config cfg;
        if (model_shape(&cfg, shape, &err) != PT_OK) { rc = cli_error(CLI_USAGE, "%s", err.msg); goto done; }
        if (model_random(&m, &cfg, 1234, &err) != PT_OK) { rc = cli_error(CLI_ERR, "%s", err.msg); goto done; }
        load_s = pt_now_s() - t0;
    } else if ((rc = cli_model_load(&m, c.model, &load_s)) != CLI_OK) {
        goto done;
    }
    if (backend_create(&be, c.backend, c.threads, &err) != PT_OK) { rc = cli_error(CLI_ERR, "%s (try --device cpu)", err.msg); goto done; }
    int n_ctx = n_prompt + n_gen + 1, max_batch = n_prompt < 512 ? n_prompt : 512;
    if (runtime_init(&rt, be, &m, n_ctx, max_batch, &err) != PT_OK) { rc = cli_error(CLI_ERR, "%s", err.msg); goto done; }
    rt_ok = 1;
    double setup_s = pt_now_s() - t0;
    int V = m.cfg.vocab_size;
    if (!(logits = malloc(sizeof *logits * (size_t)V))) { rc = cli_error(CLI_ERR, "out of memory"); goto done; }
    // ordinary tokens spread over the vocabulary, the same every run
    int lo = V > 2000 ? 1000 : V / 4; // past the special tokens, which sit at the start
    for (int i = 0; i < n_prompt; i++) toks[i] = (int32_t)(lo + (int)((uint32_t)i * 7919u % (uint32_t)(V - lo)));

    for (int r = 0; r < reps; r++) {
        runtime_reset(&rt);
        double a = pt_now_s();
        if (runtime_forward(&rt, toks, n_prompt, logits, 0, &err) != PT_OK) {
            rc = cli_error(CLI_ERR, "%s", err.msg);
            goto done;
        }
        double b = pt_now_s();
        for (int g = 0; g < n_gen; g++) {
            int32_t next = argmax(logits, V);
            if (runtime_forward(&rt, &next, 1, logits, 0, &err) != PT_OK) {
                rc = cli_error(CLI_ERR, "%s", err.msg);
                goto done;
            }
        }
        double d = pt_now_s();
        pre[r] = n_prompt / (b - a);
        dec[r] = n_gen / (d - b);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double pre_lo = pre[0], pre_hi = pre[0], dec_lo = dec[0], dec_hi = dec[0];
    for (int r = 1; r < reps; r++) {
        if (pre[r] < pre_lo) pre_lo = pre[r];
        if (pre[r] > pre_hi) pre_hi = pre[r];
        if (dec[r] < dec_lo) dec_lo = dec[r];
        if (dec[r] > dec_hi) dec_hi = dec[r];
    }
    double peak_dev = be->ops->mem_peak(be) / 1048576.0;
    if (json) {
        printf("{\"device\": \"%s\", \"model\": \"%s\", \"prompt_tokens\": %d, \"gen_tokens\": %d, \"reps\": %d, "
               "\"prefill_tokens_per_s\": %.1f, \"decode_tokens_per_s\": %.1f, \"load_s\": %.3f, \"setup_s\": %.3f, "
               "\"peak_gpu_mib\": %.1f, \"peak_rss_mib\": %.1f}\n",
               be->ops->name, m.path, n_prompt, n_gen, reps, cli_median(pre, reps), cli_median(dec, reps), load_s, setup_s,
               peak_dev, ru.ru_maxrss / 1024.0);
    } else {
        printf("model      %s (%s, %.1fM parameters)\n", m.path, m.cfg.arch, m.n_params / 1e6);
        printf("device     %s", be->ops->name);
        if (be->ops->host_memory) printf(", %d threads", be->n_threads);
        printf("\nload       %.2f s (model), %.2f s (with runtime)\n", load_s, setup_s);
        printf("\n%-22s %10s %10s %10s\n", "tokens/s", "median", "min", "max");
        printf("%-22s %10.1f %10.1f %10.1f\n", "prefill", cli_median(pre, reps), pre_lo, pre_hi);
        printf("%-22s %10.1f %10.1f %10.1f\n", "decode", cli_median(dec, reps), dec_lo, dec_hi);
        printf("\n(prefill %d tokens, decode %d tokens, %d reps)\n", n_prompt, n_gen, reps);
        if (peak_dev > 0) printf("peak %s memory %.1f MiB\n", be->ops->name, peak_dev);
        printf("peak RSS   %.1f MiB\n", ru.ru_maxrss / 1024.0);
    }
    rc = CLI_OK;
done:
    if (rt_ok) runtime_free(&rt);
    if (be) backend_destroy(be);
    model_free(&m);
    free(logits);
    free(pre);
    free(dec);
    free(toks);
    return rc;
}
