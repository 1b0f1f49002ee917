// test_workspace.c - the shared engine instance through its public header
// only, on the tiny LLaMA (tests/data/tiny/llama-hf) and, when present, the
// default model: events through the descriptor, the registry, the checks
// and the memory plan against the measured peak (cpu and emu), chat beside
// training (another adapter, and the one in training, read from consistent
// snapshots), cancel, pause/resume/stop/cancel, the batched compare against
// each column alone, and merging refused while the base is in use.
//
// Built as well under ThreadSanitizer (PEFTUI_TSAN=ON, scripts/test_tsan.sh),
// where every concurrent path here runs with its races checked.
#define _GNU_SOURCE
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "workspace/peftui.h"

#define TINY PT_SOURCE_DIR "/tests/data/tiny/llama-hf"
#define SMOL PT_SOURCE_DIR "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
#define IDENTITY PT_SOURCE_DIR "/datasets/identity.jsonl"

static char g_tmp[256];

// ---- helpers -----------------------------------------------------------------

static pt_ws *open_ws(const char *device, int threads, const char *model) {
    pt_ws *ws = NULL;
    pt_err err = {0};
    pt_ws_opts o;
    pt_ws_opts_default(&o);
    o.device = device;
    o.threads = threads;
    int task = 0;
    if (pt_ws_create(&ws, &o, &err) != PT_OK || pt_ws_load_model(ws, model, &task, &err) != PT_OK ||
        pt_ws_wait(ws, task, &err) != PT_OK) {
        CHECKF(0, "open %s on %s: %s", model, device, err.msg);
        pt_ws_destroy(ws);
        return NULL;
    }
    return ws;
}

// Events until pred(e) holds for one of them (or timeout_s passes); the
// matching event is copied out. Every token event for chat/compare src is
// appended to text (when given).
typedef int (*ev_pred)(const pt_event *e, int src);
static int wait_for(pt_ws *ws, ev_pred pred, int src, pt_event *out, double timeout_s) {
    double t0 = pt_now_s();
    pt_event ev[64];
    while (pt_now_s() - t0 < timeout_s) {
        pt_ws_wait_event(ws, 50);
        int n = pt_ws_events(ws, ev, 64);
        for (int i = 0; i < n; i++)
            if (pred(&ev[i], src)) {
                if (out) *out = ev[i];
                return 1;
            }
    }
    return 0;
}

static int is_reply(const pt_event *e, int src) { return e->kind == PT_EV_REPLY && e->src == src; }
static int is_train_done(const pt_event *e, int src) { return e->kind == PT_EV_TRAIN_DONE && e->src == src; }
static int is_compare(const pt_event *e, int src) { return e->kind == PT_EV_COMPARE && e->src == src; }

// One greedy answer: the text, its tokens' log-probabilities (summed) and count.
typedef struct {
    char text[4096];
    double lp_sum;
    int n;
    int stop;
} answer;

static int chat_answer(pt_ws *ws, int chat, const char *msg, answer *a) {
    pt_err err = {0};
    memset(a, 0, sizeof *a);
    if (pt_chat_send(ws, chat, msg, &err) != PT_OK) {
        CHECKF(0, "send: %s", err.msg);
        return -1;
    }
    double t0 = pt_now_s();
    pt_event ev[64];
    while (pt_now_s() - t0 < 120) {
        pt_ws_wait_event(ws, 50);
        int n = pt_ws_events(ws, ev, 64);
        for (int i = 0; i < n; i++) {
            const pt_event *e = &ev[i];
            if (e->src != chat) continue;
            if (e->kind == PT_EV_TOKEN) {
                strncat(a->text, e->text, sizeof a->text - strlen(a->text) - 1);
                if (e->token >= 0) {
                    a->lp_sum += e->logprob;
                    a->n++;
                }
            }
            if (e->kind == PT_EV_REPLY) {
                a->stop = e->stop;
                if (e->status) CHECKF(0, "reply failed: %s", e->text);
                return e->status;
            }
        }
    }
    CHECKF(0, "no reply in 120 s");
    return -1;
}

static int open_chat(pt_ws *ws, int adapter, int max_tokens) {
    pt_chat_opts o;
    pt_chat_opts_default(&o);
    o.sampling.temp = 0;   // greedy: answers comparable bit for bit
    o.max_tokens = max_tokens;
    o.adapter = adapter;
    int chat = 0;
    pt_err err = {0};
    char warn[256];
    CHECKF(pt_chat_open(ws, &o, &chat, warn, sizeof warn, &err) == PT_OK, "chat_open: %s", err.msg);
    return chat;
}

// An adapter whose B starts non-zero (init_lora_weights=false), so it changes the answers.
static int make_adapter(pt_ws *ws, const char *name, const char *targets, int r, uint64_t seed) {
    pt_lora_flags f;
    pt_lora_config c;
    pt_err err = {0};
    pt_lora_flags_default(&f);
    f.targets = targets;
    f.r = r;
    f.alpha = 2.0f * r;
    f.dropout = 0;
    if (pt_lora_config_build(&c, &f, &err) != PT_OK) {
        CHECKF(0, "config: %s", err.msg);
        return 0;
    }
    c.init = PT_INIT_ZERO_A;
    int id = 0;
    CHECKF(pt_ws_adapter_create(ws, &c, seed, name, &id, &err) == PT_OK, "create %s: %s", name, err.msg);
    lora_config_free(&c);
    return id;
}

static int start_job(pt_ws *ws, const char *out, int steps, int batch, int *adapter) {
    pt_lora_flags f;
    pt_lora_config c;
    pt_err err = {0};
    pt_lora_flags_default(&f);
    f.dropout = 0;
    if (pt_lora_config_build(&c, &f, &err) != PT_OK) return 0;
    pt_train_request r;
    pt_train_request_default(&r);
    r.data = IDENTITY;
    r.lora = &c;
    r.params.max_steps = steps;
    r.params.batch = batch;
    r.params.lr = 1e-2f;
    r.params.max_seq_len = 96;
    r.params.save_every = 0;
    snprintf(r.params.out_dir, sizeof r.params.out_dir, "%s/%s", g_tmp, out);
    int job = 0;
    CHECKF(pt_train_start(ws, &r, &job, adapter, &err) == PT_OK, "train_start: %s", err.msg);
    lora_config_free(&c);
    return job;
}

static int wait_step(pt_ws *ws, int job, int step) {
    double t0 = pt_now_s();
    pt_train_status st;
    while (pt_now_s() - t0 < 120) {
        pt_train_get_status(ws, job, &st);
        if (st.step >= step && st.state == PT_TRAIN_RUNNING) return 1;
        if (st.state == PT_TRAIN_DONE || st.state == PT_TRAIN_FAILED || st.state == PT_TRAIN_CANCELLED) return 0;
        usleep(1000);
    }
    return 0;
}

// ---- the tests -------------------------------------------------------------------

// The descriptor is readable exactly while events wait.
static void test_events_fd(void) {
    pt_ws *ws = NULL;
    pt_err err = {0};
    pt_ws_opts o;
    pt_ws_opts_default(&o);
    o.device = "cpu";
    o.threads = 1;
    CHECK(pt_ws_create(&ws, &o, &err) == PT_OK);
    if (!ws) return;
    struct pollfd p = {.fd = pt_ws_event_fd(ws), .events = POLLIN};
    CHECK(poll(&p, 1, 0) == 0);   // nothing yet
    int task = 0;
    CHECK(pt_ws_load_model(ws, TINY, &task, &err) == PT_OK);
    CHECKF(poll(&p, 1, 10000) == 1 && (p.revents & POLLIN), "the descriptor becomes readable when the load ends");
    pt_event ev[8];
    int n = pt_ws_events(ws, ev, 8);
    CHECKF(n == 1 && ev[0].kind == PT_EV_TASK && ev[0].src == task && ev[0].status == PT_OK, "%d events, first kind %d",
           n, n ? (int)ev[0].kind : -1);
    CHECK(poll(&p, 1, 0) == 0);   // drained: not readable
    CHECK(pt_ws_events(ws, ev, 8) == 0);
    CHECK(pt_ws_has_model(ws));
    // a load that fails says why, as an event and through wait
    CHECK(pt_ws_load_model(ws, "/nonexistent/model.gguf", &task, &err) == PT_ERR_IO && strstr(err.msg, "model not found"));
    CHECK(pt_ws_dropped(ws) == 0);
    pt_ws_destroy(ws);
}

static void test_registry(void) {
    pt_ws *ws = open_ws("cpu", 1, TINY);
    if (!ws) return;
    pt_err err = {0};
    int a = make_adapter(ws, "alpha", "q_proj,v_proj", 4, 1), b = make_adapter(ws, "alpha", "o_proj", 2, 2);
    pt_adapter_info ia, ib;
    CHECK(pt_ws_adapter_info(ws, a, &ia) == PT_OK && ia.state == PT_AD_IDLE && ia.r == 4 && ia.n_modules == 4);
    CHECKF(pt_ws_adapter_info(ws, b, &ib) == PT_OK && !strcmp(ib.name, "alpha-2"), "names stay unique: %s", ib.name);
    CHECK(pt_ws_adapter_rename(ws, b, "alpha", &err) == PT_ERR_ARG);
    CHECK(pt_ws_adapter_rename(ws, b, "beta", &err) == PT_OK && pt_ws_adapter_find(ws, "beta") == b);
    CHECK(pt_ws_adapter_set_scale(ws, a, 2.5f, &err) == PT_ERR_ARG);
    CHECK(pt_ws_adapter_set_scale(ws, a, 0.5f, &err) == PT_OK);
    CHECK(pt_ws_adapter_info(ws, a, &ia) == PT_OK && ia.scale == 0.5f && ia.base_matches && !ia.saved);
    // save, load back, same parameters (their norms) and config
    char dir[512];
    snprintf(dir, sizeof dir, "%s/alpha", g_tmp);
    int task = 0, c = 0;
    CHECK(pt_ws_adapter_save(ws, a, dir, &task, &err) == PT_OK && pt_ws_wait(ws, task, &err) == PT_OK);
    CHECK(pt_ws_adapter_info(ws, a, &ia) == PT_OK && ia.saved && !strcmp(ia.path, dir));
    CHECK(pt_ws_adapter_load(ws, dir, &c, &task, &err) == PT_OK && pt_ws_wait(ws, task, &err) == PT_OK);
    float na[64], nc[64];
    CHECK(pt_ws_adapter_set_scale(ws, c, 0.5f, &err) == PT_OK);
    int n1 = pt_ws_adapter_norms(ws, a, na, 64, &err), n2 = pt_ws_adapter_norms(ws, c, nc, 64, &err);
    CHECKF(n1 == 14 && n2 == 14 && !memcmp(na, nc, sizeof(float) * 14), "norms after a save and load (%d, %d)", n1, n2);
    CHECK(na[0] > 0 && na[3] < 0);   // q_proj of layer 0 is there, o_proj is not
    // a chat holds its adapter: no drop, no merge of anything while it is open
    int chat = open_chat(ws, c, 4);
    CHECK(pt_ws_adapter_info(ws, c, &ia) == PT_OK && ia.state == PT_AD_IN_USE && ia.users == 1);
    CHECK(pt_ws_adapter_drop(ws, c, &err) == PT_ERR_ARG && strstr(err.msg, "in use"));
    CHECK(pt_ws_adapter_merge(ws, a, &task, &err) == PT_OK);
    CHECKF(pt_ws_wait(ws, task, &err) == PT_ERR_ARG && strstr(err.msg, "the base is in use"), "merge while a chat is open: %s", err.msg);
    pt_chat_close(ws, chat);
    CHECK(pt_ws_adapter_drop(ws, c, &err) == PT_OK && pt_ws_adapter_info(ws, c, &ia) == PT_ERR_ARG);
    // merge and unmerge with nothing else on the base
    CHECK(pt_ws_adapter_merge(ws, a, &task, &err) == PT_OK && pt_ws_wait(ws, task, &err) == PT_OK);
    CHECK(pt_ws_adapter_info(ws, a, &ia) == PT_OK && ia.merged);
    CHECK(pt_ws_adapter_drop(ws, a, &err) == PT_ERR_ARG);
    CHECK(pt_ws_adapter_unmerge(ws, a, &task, &err) == PT_OK && pt_ws_wait(ws, task, &err) == PT_OK);
    // a folder that is not an adapter: the load fails, the entry says why
    CHECK(pt_ws_adapter_load(ws, "/nonexistent/ad", &c, &task, &err) == PT_OK);
    CHECK(pt_ws_wait(ws, task, &err) != PT_OK && strstr(err.msg, "/nonexistent/ad"));
    CHECK(pt_ws_adapter_info(ws, c, &ia) == PT_OK && ia.state == PT_AD_FAILED);
    CHECK(pt_ws_adapter_drop(ws, c, &err) == PT_OK);
    int ids[8];
    CHECK(pt_ws_adapters(ws, ids, 8) == 2 && ids[0] == a && ids[1] == b);
    pt_ws_destroy(ws);
}

static int has(const pt_problem *p, int n, const char *field) {
    for (int i = 0; i < n && i < 64; i++)
        if (!strcmp(p[i].field, field) && !p[i].warning) return 1;
    return 0;
}

// Every field's bad value comes back tagged with its field.
static void test_check(void) {
    pt_ws *ws = open_ws("cpu", 1, TINY);
    if (!ws) return;
    pt_problem pr[64];
    pt_lora_config c;
    pt_lora_flags f;
    pt_err err = {0};
    pt_lora_flags_default(&f);
    CHECK(pt_lora_config_build(&c, &f, &err) == PT_OK);
    pt_train_params p;
    train_params_defaults(&p);
    int n0 = pt_ws_check(ws, &c, &p, pr, 64);   // 512 is above the tiny model's context: a warning, not an error
    CHECKF(n0 == 1 && pr[0].warning && !strcmp(pr[0].field, "max_seq_len"), "%d problems: %s", n0, n0 ? pr[0].msg : "");
    p.max_seq_len = 128;
    CHECK(pt_ws_check(ws, &c, &p, pr, 64) == 0);
    c.r = 0;
    c.lora_alpha = 0;
    c.lora_dropout = 2;
    int layers[] = {5};
    c.layers_to_transform = layers;
    c.n_layers_to_transform = 1;
    p.lr = -1;
    p.batch = 0;
    p.grad_accum = 0;
    p.epochs = 0;
    p.warmup_steps = -1;
    p.beta1 = 1;
    p.beta2 = -1;
    p.eps = -1;
    p.weight_decay = -1;
    p.max_seq_len = 1;
    p.save_every = -1;
    p.eval_every = -1;
    p.eval_frac = 1;
    int n = pt_ws_check(ws, &c, &p, pr, 64);
    const char *fields[] = {"r", "lora_alpha", "lora_dropout", "lr", "batch", "grad_accum", "epochs", "warmup_steps",
                            "beta1", "beta2", "eps", "weight_decay", "max_seq_len", "save_every", "eval_every", "eval_frac"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        CHECKF(has(pr, n, fields[i]), "no problem tagged %s (%d problems)", fields[i], n);
    c.r = 8;
    c.lora_alpha = 16;
    c.lora_dropout = 0;
    n = pt_ws_check(ws, &c, NULL, pr, 64);
    CHECKF(n == 1 && has(pr, n, "layers_to_transform") && strstr(pr[0].msg, "layer 5 is past the last layer"),
           "a layer past the last: %d problems: %s", n, n ? pr[0].msg : "");
    c.layers_to_transform = NULL;
    c.n_layers_to_transform = 0;
    lora_config_free(&c);
    // matching without allocating: every module named, the defaults marked
    pt_module_info mods[14];
    uint8_t matched[14];
    int nm = 0;
    size_t np = 0;
    CHECK(pt_ws_modules(ws, mods, 14) == 14 && mods[0].default_target && !mods[3].default_target);
    CHECK(!strcmp(mods[7].name, "model.layers.1.self_attn.q_proj") && mods[7].in == 64 && mods[7].out == 64);
    f.target_regex = ".*layers\\.1\\..*_proj";
    CHECK(pt_lora_config_build(&c, &f, &err) == PT_OK);
    CHECK(pt_ws_lora_match(ws, &c, matched, 14, &nm, &np, &err) == PT_OK);
    CHECKF(nm == 7 && !matched[0] && matched[7] && matched[13] && np == 8 * (size_t)(64 + 64 + 64 + 32 + 64 + 32 + 64 + 64 + 64 + 128 + 64 + 128 + 128 + 64),
           "regex match: %d modules, %zu parameters", nm, np);
    lora_config_free(&c);
    pt_ws_destroy(ws);
}

// The job is held to the plan: the device's measured peak during a run
// within 10% of what the plan says the job allocates.
static void test_plan_vs_peak(const char *device) {
    pt_ws *ws = open_ws(device, 2, TINY);
    if (!ws) return;
    pt_err err = {0};
    pt_dataset_opts_ws dso = {.path = IDENTITY, .max_seq_len = 96};
    int ds = 0, task = 0;
    CHECK(pt_ws_dataset_open(ws, &dso, &ds, &task, &err) == PT_OK && pt_ws_wait(ws, task, &err) == PT_OK);
    pt_dataset_info di;
    CHECK(pt_ws_dataset_info(ws, ds, &di) == PT_OK && di.ready && di.rows == 108 && di.failed == 0);
    pt_dataset_row row;
    CHECK(pt_ws_dataset_row(ws, ds, 0, &row, &err) == PT_OK && row.n_kept <= row.n_full && row.n_kept <= 96 && !row.trained[0]);
    int trained = 0;
    for (int i = 0; i < row.n_kept; i++) trained += row.trained[i];
    CHECK(trained > 0 && trained < row.n_kept);   // the answer is, the prompt is not
    pt_ws_dataset_close(ws, ds);

    pt_lora_flags f;
    pt_lora_config c;
    pt_lora_flags_default(&f);
    f.dropout = 0.1f;   // the dropout buffer is in the plan too
    pt_lora_config_build(&c, &f, &err);
    pt_train_params p;
    train_params_defaults(&p);
    p.batch = 4;
    p.max_seq_len = 96;
    pt_ws_plan plan;
    CHECK(pt_ws_plan_train(ws, &c, &p, di.longest, &plan, &err) == PT_OK);
    CHECK(plan.fits && plan.trainable > 0 && plan.seq == di.longest && plan.batch == 4);
    pt_ws_memory m0, m1;
    pt_ws_memory_get(ws, &m0);
    pt_ws_memory_reset_peak(ws);
    pt_train_request r;
    pt_train_request_default(&r);
    r.data = IDENTITY;
    r.lora = &c;
    r.params = p;
    r.params.max_steps = 3;
    r.params.save_every = 0;
    snprintf(r.params.out_dir, sizeof r.params.out_dir, "%s/plan-%s", g_tmp, device);
    int job = 0, ad = 0;
    CHECKF(pt_train_start(ws, &r, &job, &ad, &err) == PT_OK, "%s", err.msg);
    pt_event e;
    CHECK(wait_for(ws, is_train_done, job, &e, 300) && e.status == PT_OK);
    pt_ws_memory_get(ws, &m1);
    double measured = (double)(m1.peak - m0.held), planned = (double)plan.job;
    CHECKF(fabs(measured - planned) <= 0.10 * planned, "%s: the job's peak %.2f MiB, its plan %.2f MiB", device,
           measured / 1048576.0, planned / 1048576.0);
    printf("%s: job peak %.3f MiB, plan %.3f MiB (%+.1f%%)\n", device, measured / 1048576.0, planned / 1048576.0,
           100.0 * (measured - planned) / planned);
    pt_train_close(ws, job, &err);
    lora_config_free(&c);
    pt_ws_destroy(ws);
}

// Chat with adapter X while a job trains adapter Y, then with Y itself while
// it trains (a snapshot at a step boundary); paused, Y's answers are those
// of its parameters at that step, which the stopped job then saves.
static void test_chat_beside_training(const char *device) {
    pt_ws *ws = open_ws(device, 2, TINY);
    if (!ws) return;
    pt_err err = {0};
    int x = make_adapter(ws, "x", "q_proj,v_proj", 4, 3);
    int y = 0, job = start_job(ws, device[0] == 'e' ? "beside-emu" : "beside", 100000, 2, &y);
    int cx = open_chat(ws, x, 12);
    CHECK(wait_step(ws, job, 1));
    answer a1, a2;
    CHECK(chat_answer(ws, cx, "hello", &a1) == PT_OK && a1.n > 0);
    pt_adapter_info iy;
    CHECK(pt_ws_adapter_info(ws, y, &iy) == PT_OK && iy.state == PT_AD_TRAINING && iy.job == job);
    CHECK(pt_ws_adapter_drop(ws, y, &err) == PT_ERR_ARG);
    // the adapter in training, while it trains
    int cy = open_chat(ws, y, 12);
    CHECK(chat_answer(ws, cy, "What is your name?", &a1) == PT_OK);
    float during[64], after[64];
    CHECK(pt_ws_adapter_norms(ws, y, during, 64, &err) == 14);
    // paused at a step boundary: the snapshot is of that step
    CHECK(pt_train_pause(ws, job) == PT_OK);
    pt_train_status st;
    for (int i = 0; i < 10000; i++) {
        pt_train_get_status(ws, job, &st);
        if (st.state == PT_TRAIN_PAUSED) break;
        usleep(1000);
    }
    CHECK(st.state == PT_TRAIN_PAUSED);
    int k = st.step;
    usleep(20000);
    pt_train_get_status(ws, job, &st);
    CHECKF(st.step == k, "moved while paused: %d -> %d", k, st.step);
    CHECK(pt_chat_reset(ws, cy, &err) == PT_OK);
    CHECK(chat_answer(ws, cy, "What is your name?", &a1) == PT_OK);
    CHECK(pt_ws_adapter_norms(ws, y, during, 64, &err) == 14);
    CHECK(pt_train_stop(ws, job) == PT_OK);
    pt_event e;
    CHECK(wait_for(ws, is_train_done, job, &e, 120) && e.state == PT_TRAIN_DONE && e.status == PT_OK);
    CHECK(pt_ws_adapter_info(ws, y, &iy) == PT_OK && iy.state == PT_AD_IN_USE && iy.step == k && iy.saved);
    CHECK(pt_chat_reset(ws, cy, &err) == PT_OK);
    CHECK(chat_answer(ws, cy, "What is your name?", &a2) == PT_OK);
    CHECK(pt_ws_adapter_norms(ws, y, after, 64, &err) == 14);
    CHECKF(!strcmp(a1.text, a2.text) && a1.lp_sum == a2.lp_sum && a1.n == a2.n,
           "the snapshot of step %d answers as the saved adapter: '%s' (%g) vs '%s' (%g)", k, a1.text, a1.lp_sum, a2.text, a2.lp_sum);
    CHECK(!memcmp(during, after, sizeof(float) * 14));
    pt_chat_close(ws, cx);
    pt_chat_close(ws, cy);
    pt_train_close(ws, job, &err);
    pt_ws_destroy(ws);
}

// Cancel stops an answer (in the prefill or the decode) and the session goes
// on; pause, resume and cancel of a job come back as events.
static void test_cancel(void) {
    pt_ws *ws = open_ws("cpu", 2, TINY);
    if (!ws) return;
    pt_err err = {0};
    int chat = open_chat(ws, PT_BASE, 200);
    CHECK(pt_chat_send(ws, chat, "tell me a long story", &err) == PT_OK);
    CHECK(pt_chat_cancel(ws, chat) == PT_OK);
    pt_event e;
    CHECK(wait_for(ws, is_reply, chat, &e, 60));
    CHECKF(e.status == PT_OK && e.stop == PT_STOP_CANCEL && e.n < 200, "cancelled: status %d stop %d after %ld tokens",
           e.status, e.stop, e.n);
    answer a;
    CHECK(chat_answer(ws, chat, "hello", &a) == PT_OK && a.stop != PT_STOP_CANCEL);
    char role[16], text[256];
    CHECK(pt_chat_message(ws, chat, 0, role, sizeof role, text, sizeof text) == PT_OK && !strcmp(role, "user"));
    CHECK(pt_chat_send(ws, chat, "", &err) == PT_ERR_ARG);
    pt_chat_close(ws, chat);

    int y = 0, job = start_job(ws, "cancel", 100000, 1, &y);
    CHECK(wait_step(ws, job, 1));
    CHECK(pt_train_pause(ws, job) == PT_OK);
    double t0 = pt_now_s();
    int paused = 0, resumed = 0;
    pt_event ev[64];
    while (pt_now_s() - t0 < 60 && !resumed) {
        pt_ws_wait_event(ws, 50);
        int n = pt_ws_events(ws, ev, 64);
        for (int i = 0; i < n; i++)
            if (ev[i].kind == PT_EV_TRAIN_STATE && ev[i].src == job) {
                if (ev[i].state == PT_TRAIN_PAUSED && !paused) {
                    paused = 1;
                    pt_train_resume(ws, job);
                } else if (paused && ev[i].state == PT_TRAIN_RUNNING) {
                    resumed = 1;
                }
            }
    }
    CHECK(paused && resumed);
    CHECK(pt_train_cancel(ws, job) == PT_OK);
    CHECK(wait_for(ws, is_train_done, job, &e, 60) && e.state == PT_TRAIN_CANCELLED);
    pt_adapter_info ia;
    CHECK(pt_ws_adapter_info(ws, y, &ia) == PT_OK && ia.state == PT_AD_IDLE && !ia.saved);
    CHECK(pt_train_close(ws, job, &err) == PT_OK);
    pt_ws_destroy(ws);
}

// A cancel that lands in a long prefill (chunks of 128 tokens on the default
// model) stops it before the answer starts; the next turn answers normally.
static void test_cancel_prefill(void) {
    if (access(SMOL, R_OK)) {
        printf("SKIP cancel during the prefill: %s absent\n", SMOL);
        return;
    }
    pt_ws *ws = open_ws("cpu", 2, SMOL);
    if (!ws) return;
    pt_err err = {0};
    int chat = open_chat(ws, PT_BASE, 32);
    char msg[8192] = "";
    for (int i = 0; i < 120; i++) strcat(msg, "The quick brown fox jumps over the lazy dog. ");
    CHECK(pt_chat_send(ws, chat, msg, &err) == PT_OK);
    usleep(100000);
    CHECK(pt_chat_cancel(ws, chat) == PT_OK);
    pt_event e;
    CHECK(wait_for(ws, is_reply, chat, &e, 300));
    pt_chat_info ci;
    CHECK(pt_chat_info_get(ws, chat, &ci) == PT_OK);
    CHECKF(e.status == PT_OK && e.stop == PT_STOP_CANCEL && e.n == 0 && ci.n_gen == 0, "status %d stop %d, %ld tokens",
           e.status, e.stop, e.n);
    CHECKF(ci.n_prompt > 1000 && ci.n_prefilled < ci.n_prompt, "prefilled %d of %d before the cancel", ci.n_prefilled,
           ci.n_prompt);
    answer a;
    CHECK(chat_answer(ws, chat, "hello", &a) == PT_OK && a.stop != PT_STOP_CANCEL && a.n > 0);
    printf("cancel in the prefill: %d of %d prompt tokens run\n", ci.n_prefilled, ci.n_prompt);
    pt_chat_close(ws, chat);
    pt_ws_destroy(ws);
}

// The batched compare equals each column alone: the same tokens (greedy and
// sampled), log-probabilities within 1e-4, the same point where they part.
static void compare_against_alone(pt_ws *ws, const int *ads, const float *scales, int k, float temp, int max_tokens) {
    pt_err err = {0};
    pt_compare_opts o;
    pt_compare_opts_default(&o);
    o.prompt = "What is your name?";
    o.sampling.temp = temp;
    o.sampling.seed = 11;
    o.max_tokens = max_tokens;
    o.n_columns = k;
    for (int i = 0; i < k; i++) o.columns[i] = (pt_column){ads[i], scales[i]};
    int id[2];
    pt_compare_result r[2];
    for (int pass = 0; pass < 2; pass++) {
        o.sequential = pass;
        char warn[256];
        CHECKF(pt_compare_start(ws, &o, &id[pass], warn, sizeof warn, &err) == PT_OK, "compare: %s", err.msg);
        pt_event e;
        CHECK(wait_for(ws, is_compare, id[pass], &e, 300) && e.status == PT_OK);
        CHECK(pt_compare_get(ws, id[pass], &r[pass]) == PT_OK && r[pass].status == PT_OK);
    }
    double worst = 0;
    int same = 1;
    for (int c = 0; c < k; c++) {
        const pt_compare_column *b = &r[0].col[c], *s = &r[1].col[c];
        same &= b->n_tokens == s->n_tokens && !memcmp(b->tokens, s->tokens, sizeof(int32_t) * (size_t)b->n_tokens) &&
                !strcmp(b->text, s->text) && b->stop == s->stop;
        for (int t = 0; same && t < b->n_tokens * k; t++) {
            double d = fabs((double)b->logprobs[t] - s->logprobs[t]);
            if (d > worst) worst = d;
        }
    }
    CHECKF(same, "temp %g: the batched answers differ from the columns alone", temp);
    CHECKF(worst <= 1e-4, "temp %g: log-probabilities differ by %g", temp, worst);
    CHECK(r[0].first_diff == r[1].first_diff);
    printf("compare K=%d temp %g: batched %.3f s (prefill %.3f), alone %.3f s; worst log-probability gap %.2g; part at %d\n", k,
           temp, r[0].prefill_s + r[0].decode_s, r[0].prefill_s, r[1].prefill_s + r[1].decode_s, worst, r[0].first_diff);
    for (int pass = 0; pass < 2; pass++) pt_compare_close(ws, id[pass]);
}

static void test_compare(void) {
    pt_ws *ws = open_ws("cpu", 2, TINY);
    if (!ws) return;
    // q,v (touches the cache), the last layer's q_proj alone (shares the base's prefill), all-linear
    int a = make_adapter(ws, "qv", "q_proj,v_proj", 4, 5), b = make_adapter(ws, "lastq", "model.layers.1.self_attn.q_proj", 8, 6);
    int c = make_adapter(ws, "all", "all-linear", 2, 7);
    int ads[] = {PT_BASE, a, b, c, a};
    float scales[] = {NAN, NAN, 2.0f, NAN, 0.5f};
    compare_against_alone(ws, ads, scales, 5, 0.0f, 24);
    compare_against_alone(ws, ads, scales, 5, 0.9f, 24);
    pt_ws_destroy(ws);
    if (access(SMOL, R_OK) == 0) {   // the quantised decode products, the real vocabulary
        ws = open_ws("cpu", 2, SMOL);
        if (!ws) return;
        int x = make_adapter(ws, "x", "q_proj,v_proj", 8, 8), y = make_adapter(ws, "y", "o_proj,down_proj", 8, 9);
        int sads[] = {PT_BASE, x, y};
        float sscales[] = {NAN, NAN, NAN};
        compare_against_alone(ws, sads, sscales, 3, 0.0f, 16);
        pt_ws_destroy(ws);
    } else {
        printf("SKIP compare on the default model: %s absent\n", SMOL);
    }
}

int main(int argc, char **argv) {
    (void)argc;
    pt_init(argv);   // OpenBLAS's fast kernels, as peftui itself
    if (access(TINY "/model.safetensors", R_OK)) SKIP_ALL("%s absent", TINY);
    snprintf(g_tmp, sizeof g_tmp, "/tmp/pt_workspace_XXXXXX");
    if (!mkdtemp(g_tmp)) return 1;
    struct { const char *name; void (*fn)(void); } tests[] = {
        {"events fd", test_events_fd}, {"registry", test_registry}, {"check", test_check}, {"cancel", test_cancel},
        {"cancel prefill", test_cancel_prefill},
        {"compare", test_compare},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        double t0 = pt_now_s();
        tests[i].fn();
        printf("%-12s %.2f s\n", tests[i].name, pt_now_s() - t0);
    }
    const char *devices[] = {"cpu", "emu"};
    for (int d = 0; d < 2; d++) {
        double t0 = pt_now_s();
        test_plan_vs_peak(devices[d]);
        test_chat_beside_training(devices[d]);
        printf("%-12s %.2f s\n", devices[d], pt_now_s() - t0);
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (!check_fail_ && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
    return check_report("test_workspace");
}
