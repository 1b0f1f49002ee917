// bench_workspace.c - the shared engine under load, on the default model
// (or -m PATH), through the public header only. Prints one table and, with
// --json, one JSON object.
//
//   chat alone            decode tokens/s of one chat answer
//   train alone           a job's tokens/s (identity set, r=8 q,v, batch 4)
//   chat + train          both at once on the same cores: each one's tokens/s
//   compare K=3           base + 2 adapters, batched against sequential, wall time
//   cancel latency        cancel -> the reply ends (during a long prefill, and in decode); cancel -> the job ends
//   memory                peak RSS of one process with the base, 3 adapters, a job and a chat,
//                         against the base alone plus the job's plan
//
//   build/bench_workspace [-m MODEL] [-t THREADS] [--json]
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "workspace/peftui.h"

static const char *g_model = PT_SOURCE_DIR "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
static const char *g_data = PT_SOURCE_DIR "/datasets/identity.jsonl";
static int g_threads = 0;
static char g_tmp[256];

static void die(const char *what, const pt_err *err) {
    fprintf(stderr, "bench_workspace: %s: %s\n", what, err ? err->msg : "");
    exit(1);
}

static double rss_mib(void) {   // VmRSS now
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) kb = atof(line + 6);
    if (f) fclose(f);
    return kb / 1024.0;
}

static double peak_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

static pt_ws *open_ws(void) {
    pt_ws *ws;
    pt_err err = {0};
    pt_ws_opts o;
    pt_ws_opts_default(&o);
    o.device = "cpu";
    o.threads = g_threads;
    int task;
    if (pt_ws_create(&ws, &o, &err) || pt_ws_load_model(ws, g_model, &task, &err) || pt_ws_wait(ws, task, &err)) die("open", &err);
    return ws;
}

static int adapter(pt_ws *ws, const char *name, const char *targets, uint64_t seed) {
    pt_lora_flags f;
    pt_lora_config c;
    pt_err err = {0};
    pt_lora_flags_default(&f);
    f.targets = targets;
    if (pt_lora_config_build(&c, &f, &err)) die("config", &err);
    c.init = PT_INIT_ZERO_A;   // B non-zero: the answers differ from the base's
    int id;
    if (pt_ws_adapter_create(ws, &c, seed, name, &id, &err)) die("adapter", &err);
    lora_config_free(&c);
    return id;
}

static int chat(pt_ws *ws, int ad, int max_tokens) {
    pt_chat_opts o;
    pt_chat_opts_default(&o);
    o.sampling.temp = 0;
    o.max_tokens = max_tokens;
    o.adapter = ad;
    int id;
    pt_err err = {0};
    char warn[256];
    if (pt_chat_open(ws, &o, &id, warn, sizeof warn, &err)) die("chat", &err);
    return id;
}

// Job: identity set, r=8 on q,v, batch 4, max_seq_len 256 (the train_vs_peft shape).
static int job(pt_ws *ws, const char *out, int steps) {
    pt_lora_flags f;
    pt_lora_config c;
    pt_err err = {0};
    pt_lora_flags_default(&f);
    f.dropout = 0;
    if (pt_lora_config_build(&c, &f, &err)) die("config", &err);
    pt_train_request r;
    pt_train_request_default(&r);
    r.data = g_data;
    r.lora = &c;
    r.params.max_steps = steps;
    r.params.batch = 4;
    r.params.max_seq_len = 256;
    r.params.save_every = 0;
    snprintf(r.params.out_dir, sizeof r.params.out_dir, "%s/%s", g_tmp, out);
    int id;
    if (pt_train_start(ws, &r, &id, NULL, &err)) die("train", &err);
    lora_config_free(&c);
    return id;
}

// Drains events; records replies' ends and the decode speed of chat `c`.
typedef struct {
    int chat, job, cmp;
    int replied, job_done, cmp_done;
    double t_reply, t_job_done, t_first_token;
    long n_tokens;
} watch;

static void pump(pt_ws *ws, watch *w, int ms) {
    pt_event ev[256];
    pt_ws_wait_event(ws, ms);
    int n = pt_ws_events(ws, ev, 256);
    for (int i = 0; i < n; i++) {
        const pt_event *e = &ev[i];
        if (e->kind == PT_EV_TOKEN && e->src == w->chat && e->token >= 0) {
            if (!w->n_tokens) w->t_first_token = pt_now_s();
            w->n_tokens++;
        }
        if (e->kind == PT_EV_REPLY && e->src == w->chat) {
            w->replied = 1;
            w->t_reply = pt_now_s();
        }
        if (e->kind == PT_EV_TRAIN_DONE && e->src == w->job) {
            w->job_done = 1;
            w->t_job_done = pt_now_s();
        }
        if (e->kind == PT_EV_COMPARE && e->src == w->cmp) w->cmp_done = 1;
    }
}

// One answer of n tokens; decode tokens/s (first token to the end).
static double chat_speed(pt_ws *ws, int c, const char *msg) {
    pt_err err = {0};
    pt_chat_reset(ws, c, &err);
    watch w = {.chat = c};
    if (pt_chat_send(ws, c, msg, &err)) die("send", &err);
    while (!w.replied) pump(ws, &w, 100);
    pt_chat_info info;
    pt_chat_info_get(ws, c, &info);
    return info.decode_s > 0 ? info.n_gen / info.decode_s : 0;
}

static double job_speed(pt_ws *ws, int j, int from_step, int to_step) {
    pt_train_record rec[4096];
    int n = pt_train_history(ws, j, rec, 4096);
    double tok = 0, s = 0;
    for (int i = 0; i < n; i++)
        if (rec[i].step > from_step && rec[i].step <= to_step) {
            tok += rec[i].tokens_per_s;
            s += 1;
        }
    return s ? tok / s : 0;
}

static int wait_step(pt_ws *ws, int j, int step) {
    pt_train_status st;
    for (;;) {
        pt_train_get_status(ws, j, &st);
        if (st.step >= step || st.state == PT_TRAIN_DONE || st.state == PT_TRAIN_FAILED) return st.step;
        usleep(5000);
    }
}

static double median5(double *v) {
    for (int i = 0; i < 5; i++)
        for (int j = i + 1; j < 5; j++)
            if (v[j] < v[i]) { double t = v[i]; v[i] = v[j]; v[j] = t; }
    return v[2];
}

static double g_cmp_prefill[2], g_cmp_decode[2];   // the last compare's split, [sequential]

static double compare_wall(pt_ws *ws, const int *ads, int k, int sequential, int max_tokens) {
    pt_compare_opts o;
    pt_compare_opts_default(&o);
    o.prompt = "What is your name? Tell me about yourself.";
    o.sampling.temp = 0;
    o.max_tokens = max_tokens;
    o.score = 0;
    o.sequential = sequential;
    o.n_columns = k;
    for (int i = 0; i < k; i++) o.columns[i] = (pt_column){ads[i], NAN};
    int id;
    pt_err err = {0};
    char warn[256];
    double t0 = pt_now_s();
    if (pt_compare_start(ws, &o, &id, warn, sizeof warn, &err)) die("compare", &err);
    watch w = {.cmp = id};
    while (!w.cmp_done) pump(ws, &w, 100);
    double t = pt_now_s() - t0;
    pt_compare_result r;
    if (pt_compare_get(ws, id, &r) == PT_OK) {   // where the time went, for the report
        g_cmp_prefill[sequential] = r.prefill_s;
        g_cmp_decode[sequential] = r.decode_s;
    }
    pt_compare_close(ws, id);
    return t;
}

// Compare K=3 (the base, a2, a3), batched against sequential: alternated, the
// median of 5 each (this VM's noise is +-20%).
static void compare3(pt_ws *ws, int a2, int a3, double *batched, double *sequential) {
    int ads[3] = {PT_BASE, a2, a3};
    compare_wall(ws, ads, 3, 0, 8);   // warm
    double tb[5], tq[5];
    for (int i = 0; i < 5; i++) {
        tb[i] = compare_wall(ws, ads, 3, 0, 64);
        tq[i] = compare_wall(ws, ads, 3, 1, 64);
    }
    *batched = median5(tb);
    *sequential = median5(tq);
}

int main(int argc, char **argv) {
    int json = 0, compare_only = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-m") && i + 1 < argc) g_model = argv[++i];
        else if (!strcmp(argv[i], "-t") && i + 1 < argc) g_threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--compare")) compare_only = 1;
        else {
            fprintf(stderr, "usage: bench_workspace [-m MODEL] [-t THREADS] [--json] [--compare (that part alone)]\n");
            return 2;
        }
    }
    pt_init(argv);
    if (access(g_model, R_OK)) {
        fprintf(stderr, "bench_workspace: %s absent (scripts/setup.sh fetches it)\n", g_model);
        return 1;
    }
    snprintf(g_tmp, sizeof g_tmp, "/tmp/pt_bench_ws_XXXXXX");
    if (!mkdtemp(g_tmp)) return 1;
    double rss0 = rss_mib();
    pt_ws *ws = open_ws();
    double rss_base = rss_mib();
    pt_err err = {0};
    const char *msg = "Write a short story about a lighthouse keeper.";
    if (compare_only) {
        double b, q;
        compare3(ws, adapter(ws, "a2", "o_proj,down_proj", 2), adapter(ws, "a3", "all-linear", 3), &b, &q);
        printf("compare K=3, 64 tok   %8.3f s batched, %.3f s sequential (%.2fx)\n", b, q, b / q);
        printf("                      prefill %.3f / %.3f s, decode %.3f / %.3f s (the last run of each)\n",
               g_cmp_prefill[0], g_cmp_prefill[1], g_cmp_decode[0], g_cmp_decode[1]);
        pt_ws_destroy(ws);
        return 0;
    }

    // chat alone
    int c = chat(ws, PT_BASE, 128);
    double chat_alone = chat_speed(ws, c, msg);

    // train alone: steps 3..8 (the first are warm-up)
    int j = job(ws, "alone", 8);
    watch w = {.job = j};
    while (!w.job_done) pump(ws, &w, 100);
    double train_alone = job_speed(ws, j, 2, 8);
    pt_train_close(ws, j, &err);

    // both at once
    j = job(ws, "both", 100000);
    int s0 = wait_step(ws, j, 2);
    double chat_with_train = chat_speed(ws, c, msg);
    int s1 = wait_step(ws, j, s0 + 1);
    double chat_with_train2 = chat_speed(ws, c, msg);
    int s2 = wait_step(ws, j, s1 + 1);
    double train_with_chat = job_speed(ws, j, s0, s2);
    chat_with_train = (chat_with_train + chat_with_train2) / 2;

    // memory: base + 3 adapters + a running job + a chat (all of it now)
    int a1 = adapter(ws, "a1", "q_proj,v_proj", 1), a2 = adapter(ws, "a2", "o_proj,down_proj", 2);
    int a3 = adapter(ws, "a3", "all-linear", 3);
    pt_chat_set_adapter(ws, c, a1, NAN, NULL, 0, &err);
    chat_speed(ws, c, "hi");
    double rss_all = rss_mib();
    pt_lora_flags f;
    pt_lora_config cfg;
    pt_lora_flags_default(&f);
    f.dropout = 0;
    pt_lora_config_build(&cfg, &f, &err);
    pt_train_params tp;
    train_params_defaults(&tp);
    tp.batch = 4;
    tp.max_seq_len = 256;
    pt_dataset_opts_ws dso = {.path = g_data, .max_seq_len = 256};
    int ds, task;
    pt_dataset_info di = {0};
    if (!pt_ws_dataset_open(ws, &dso, &ds, &task, &err) && !pt_ws_wait(ws, task, &err)) pt_ws_dataset_info(ws, ds, &di);
    pt_ws_dataset_close(ws, ds);
    pt_ws_plan plan;
    pt_ws_plan_train(ws, &cfg, &tp, di.longest, &plan, &err);   // the rows the job sees
    lora_config_free(&cfg);

    // cancel latency: a job, and an answer in decode
    pt_train_cancel(ws, j);
    double t0 = pt_now_s();
    w = (watch){.job = j};
    while (!w.job_done) pump(ws, &w, 10);
    double cancel_job_ms = (w.t_job_done - t0) * 1e3;
    pt_train_close(ws, j, &err);
    watch wc = {.chat = c};
    pt_chat_reset(ws, c, &err);
    pt_chat_send(ws, c, msg, &err);
    while (wc.n_tokens < 8) pump(ws, &wc, 5);
    t0 = pt_now_s();
    pt_chat_cancel(ws, c);
    while (!wc.replied) pump(ws, &wc, 5);
    double cancel_decode_ms = (wc.t_reply - t0) * 1e3;
    // ... and during a long prefill (a prompt of ~1500 tokens)
    char *longmsg = malloc(20000);
    longmsg[0] = 0;
    for (int i = 0; i < 300; i++) strcat(longmsg, "the lighthouse keeper watched ");
    pt_chat_reset(ws, c, &err);
    wc = (watch){.chat = c};
    pt_chat_send(ws, c, longmsg, &err);
    usleep(300000);   // into the prefill (its 128-token chunks take ~0.2 s each here)
    t0 = pt_now_s();
    pt_chat_cancel(ws, c);
    while (!wc.replied) pump(ws, &wc, 5);
    double cancel_prefill_ms = (wc.t_reply - t0) * 1e3;
    free(longmsg);
    pt_chat_close(ws, c);

    double cmp_batched, cmp_seq;
    compare3(ws, a2, a3, &cmp_batched, &cmp_seq);
    (void)a1;

    pt_model_info mi;
    pt_ws_model_info(ws, &mi, &err);
    double peak = peak_rss_mib();
    if (json) {
        printf("{\"model\": \"%s\", \"device\": \"%s\", \"chat_alone_tps\": %.1f, \"chat_with_train_tps\": %.1f, "
               "\"train_alone_tps\": %.1f, \"train_with_chat_tps\": %.1f, \"compare3_batched_s\": %.3f, "
               "\"compare3_sequential_s\": %.3f, \"compare3_ratio\": %.3f, \"cancel_job_ms\": %.1f, \"cancel_decode_ms\": %.1f, "
               "\"cancel_prefill_ms\": %.1f, \"rss_start_mib\": %.1f, \"rss_base_mib\": %.1f, \"rss_all_mib\": %.1f, "
               "\"plan_job_mib\": %.1f, \"peak_rss_mib\": %.1f}\n",
               mi.path, mi.device, chat_alone, chat_with_train, train_alone, train_with_chat, cmp_batched, cmp_seq,
               cmp_batched / cmp_seq, cancel_job_ms, cancel_decode_ms, cancel_prefill_ms, rss0, rss_base, rss_all,
               plan.job / 1048576.0, peak);
    } else {
        printf("model                 %s on %s\n", mi.path, mi.device);
        printf("chat alone            %8.1f tokens/s\n", chat_alone);
        printf("chat + training       %8.1f tokens/s  (%.0f%% of alone)\n", chat_with_train, 100 * chat_with_train / chat_alone);
        printf("training alone        %8.1f tokens/s\n", train_alone);
        printf("training + chat       %8.1f tokens/s  (%.0f%% of alone)\n", train_with_chat, 100 * train_with_chat / train_alone);
        printf("compare K=3, 64 tok   %8.3f s batched, %.3f s sequential (%.2fx)\n", cmp_batched, cmp_seq, cmp_batched / cmp_seq);
        printf("cancel -> end         job %.1f ms, answer in decode %.1f ms, in prefill %.1f ms\n", cancel_job_ms,
               cancel_decode_ms, cancel_prefill_ms);
        printf("memory (RSS)          start %.0f MiB, base loaded %.0f MiB, base + 3 adapters + job + chat %.0f MiB\n",
               rss0, rss_base, rss_all);
        printf("                      the job's plan %.0f MiB; base + plan %.0f MiB; peak RSS %.0f MiB\n", plan.job / 1048576.0,
               rss_base + plan.job / 1048576.0, peak);
    }
    pt_ws_destroy(ws);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd)) return 1;
    return 0;
}
