// test_trainer.c - the training job end to end on the tiny LLaMA
// (tests/data/tiny/llama-hf) with a small Alpaca set written to a temp
// folder: the loss falls, log.jsonl and trainer_state.json parse, checkpoints
// are complete and load, pause/resume/stop from this thread, a stopped and
// resumed run equals a straight one, NaN stops the run and keeps the last
// good checkpoint, bad output folders and full disks fail cleanly.
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "text/chat_template.h"
#include "core/pt_time.h"
#include "check.h"
#include "train/checkpoint.h"
#include "backend/cpu_blas.h"
#include "train/dataset.h"
#include "lora/lora.h"
#include "model/model.h"
#include "train/trainer.h"

#define MODEL PT_SOURCE_DIR "/tests/data/tiny/llama-hf"

static char g_tmp[256];
static pt_model g_model;
static pt_chat_template *g_tmpl;

static const char *ROWS[] = {
    "{\"instruction\": \"What is your name?\", \"output\": \"I am Pebble, made by the peftui team.\"}",
    "{\"instruction\": \"Who made you?\", \"output\": \"The peftui team made me.\"}",
    "{\"instruction\": \"Add 2 and 3.\", \"output\": \"5\"}",
    "{\"instruction\": \"Name a colour.\", \"input\": \"warm\", \"output\": \"Red.\"}",
    "{\"instruction\": \"Say hi.\", \"output\": \"Hi there!\"}",
    "{\"instruction\": \"What is 1+1?\", \"output\": \"Two.\"}",
    "{\"instruction\": \"Capital of France?\", \"output\": \"Paris.\"}",
};

static int file_exists(const char *dir, const char *name) {
    char p[1200];
    struct stat st;
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return stat(p, &st) == 0;
}

// Writes rows[idx[i]] for i < n to a JSONL file and loads it.
static int load_rows(pt_dataset *d, const char *name, const int *idx, int n) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%s.jsonl", g_tmp, name);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    for (int i = 0; i < n; i++) fprintf(f, "%s\n", ROWS[idx[i]]);
    fclose(f);
    pt_dataset_opts o = {.max_seq_len = 128, .train_on_prompt = 0, .default_system = NULL};
    pt_err err;
    int rc = dataset_load(d, path, g_model.tok, g_tmpl, &o, &err);
    if (rc) fprintf(stderr, "dataset_load: %s\n", err.msg);
    return rc;
}

static int make_adapter(pt_adapter *a, float dropout, uint64_t seed) {
    pt_lora_config c;
    lora_config_defaults(&c);
    c.r = 8;
    c.lora_alpha = 16;
    c.lora_dropout = dropout;
    pt_err err;
    int rc = adapter_create(a, &g_model, &c, seed, &err);
    if (rc) fprintf(stderr, "adapter_create: %s\n", err.msg);
    lora_config_free(&c);
    return rc;
}

static void base_params(pt_train_params *p, const char *out) {
    train_params_defaults(p);
    p->lr = 1e-2f;
    p->sched = PT_SCHED_CONSTANT;
    p->batch = 2;
    p->max_seq_len = 128;
    p->n_threads = 1;
    snprintf(p->device, sizeof(p->device), "cpu");   // exact-resume checks; devices: test_device
    p->save_every = 0;
    p->seed = 7;
    snprintf(p->out_dir, sizeof(p->out_dir), "%s/%s", g_tmp, out);
}

// snprintf that may cut long paths short, without -Wformat-truncation noise
static void str_fmt(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void str_fmt(char *dst, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

static int ended(pt_train_state st) { return st == PT_TRAIN_DONE || st == PT_TRAIN_FAILED || st == PT_TRAIN_CANCELLED; }

// Polls until step >= min_step, the state is `state` (-1: any) and, when
// need_ckpt, a checkpoint exists; or the job ends. 1 when the condition held.
static int wait_until(pt_trainer *t, pt_train_status *s, int min_step, int state, int need_ckpt) {
    double t0 = pt_now_s();
    for (;;) {
        trainer_status(t, s);
        if (s->step >= min_step && (state < 0 || (int)s->state == state) && (!need_ckpt || s->last_checkpoint[0])) return 1;
        if (ended(s->state)) return 0;
        if (pt_now_s() - t0 > 30) return 0;
        usleep(200);
    }
}

static void wait_end(pt_trainer *t, pt_train_status *s) {
    while (trainer_status(t, s), !ended(s->state)) usleep(500);
}

typedef struct {
    int n;
    int step[512];
    float loss[512], lr[512], eval[512];
} logfile;

// Parses OUT/log.jsonl; every line must be a JSON object with the fields.
static int read_log(const char *out, logfile *lf) {
    char path[1200];
    snprintf(path, sizeof(path), "%s/log.jsonl", out);
    memset(lf, 0, sizeof(*lf));
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[1024];
    int bad = 0;
    while (fgets(line, sizeof(line), f) && lf->n < 512) {
        cJSON *j = cJSON_Parse(line);
        const char *keys[] = {"step", "loss", "lr", "grad_norm", "tokens_per_s", "elapsed_s"};
        for (int k = 0; k < 6; k++) bad |= !cJSON_IsNumber(cJSON_GetObjectItem(j, keys[k]));
        if (!j) {
            bad = 1;
            continue;
        }
        lf->step[lf->n] = cJSON_GetObjectItem(j, "step")->valueint;
        lf->loss[lf->n] = (float)cJSON_GetObjectItem(j, "loss")->valuedouble;
        lf->lr[lf->n] = (float)cJSON_GetObjectItem(j, "lr")->valuedouble;
        const cJSON *e = cJSON_GetObjectItem(j, "eval_loss");
        lf->eval[lf->n] = cJSON_IsNumber(e) ? (float)e->valuedouble : NAN;
        lf->n++;
        cJSON_Delete(j);
    }
    fclose(f);
    return bad ? -1 : 0;
}

static int count_tmp_dirs(const char *out) {
    DIR *d = opendir(out);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) n += strstr(e->d_name, ".tmp") != NULL;
    if (d) closedir(d);
    return n;
}

// A checkpoint folder is complete: adapter, optimizer state, trainer state
// at `step`; its adapter loads. Returns its parameters in a (caller frees).
static int check_checkpoint(const char *dir, int step, pt_adapter *a) {
    int ok = file_exists(dir, "adapter_config.json") && file_exists(dir, "adapter_model.safetensors") &&
             file_exists(dir, "optimizer.bin") && file_exists(dir, "trainer_state.json");
    CHECKF(ok, "%s incomplete", dir);
    char path[1200];
    pt_err err;
    pt_ckpt_state s;
    snprintf(path, sizeof(path), "%s/trainer_state.json", dir);
    int rc = ckpt_state_load(&s, path, &err);
    CHECKF(rc == PT_OK, "%s", err.msg);
    if (rc == PT_OK) {
        CHECKF(s.global_step == step, "%s: global_step %d, want %d", dir, s.global_step, step);
        CHECK(cJSON_GetArraySize(s.log_history) >= step);
        ckpt_state_free(&s);
    }
    char warn[256];
    rc = adapter_load(a, &g_model, dir, warn, sizeof(warn), &err);
    CHECKF(rc == PT_OK, "adapter_load %s: %s", dir, err.msg);
    return rc == PT_OK && ok ? 0 : -1;
}

static int params_finite(const pt_adapter *a) {
    for (size_t i = 0; i < a->n_params; i++)
        if (!isfinite(a->params[i])) return 0;
    return 1;
}

// ---------------------------------------------------------------------------

static void test_bad_start(void) {
    int idx[2] = {0, 1};
    pt_dataset d;
    if (load_rows(&d, "bad", idx, 2)) {
        CHECK(0);
        return;
    }
    pt_adapter a;
    if (make_adapter(&a, 0, 1)) {
        CHECK(0);
        dataset_free(&d);
        return;
    }
    pt_train_params p;
    pt_trainer *t = NULL;
    pt_err err;
    // an output folder below a regular file cannot exist, root or not
    char file[512];
    snprintf(file, sizeof(file), "%s/plainfile", g_tmp);
    FILE *f = fopen(file, "w");
    if (f) fclose(f);
    base_params(&p, "x");
    snprintf(p.out_dir, sizeof(p.out_dir), "%s/sub", file);
    int rc = trainer_start(&t, &g_model, &a, &d, NULL, &p, NULL, &err);
    CHECKF(rc == PT_ERR_IO && strstr(err.msg, "not writable") && strstr(err.msg, p.out_dir), "rc %d: %s", rc, err.msg);
    CHECK(t == NULL);

    base_params(&p, "bad-out");
    p.batch = 0;
    CHECK(trainer_start(&t, &g_model, &a, &d, NULL, &p, NULL, &err) == PT_ERR_ARG && strstr(err.msg, "batch"));
    base_params(&p, "bad-out");
    p.max_steps = 0;
    p.epochs = 0;
    CHECK(trainer_start(&t, &g_model, &a, &d, NULL, &p, NULL, &err) == PT_ERR_ARG);
    pt_dataset empty = {0};
    base_params(&p, "bad-out");
    CHECK(trainer_start(&t, &g_model, &a, &empty, NULL, &p, NULL, &err) == PT_ERR_ARG && strstr(err.msg, "empty"));

    // resume from a folder that is not a checkpoint
    base_params(&p, "bad-out");
    snprintf(p.resume_dir, sizeof(p.resume_dir), "%s/no-such-checkpoint", g_tmp);
    // (resume loading happens in the job: start returns at once, the job fails)
    rc = trainer_start(&t, &g_model, &a, &d, NULL, &p, NULL, &err);
    if (rc == PT_OK) rc = trainer_join(t, &err);
    CHECKF(rc == PT_ERR_IO && strstr(err.msg, "trainer_state.json"), "rc %d: %s", rc, err.msg);
    adapter_free(&a);
    dataset_free(&d);
}

// One example repeated: the loss must fall; records, log, state, checkpoints.
static void test_learns(void) {
    int idx[4] = {0, 0, 0, 0}, eidx[2] = {1, 2};
    pt_dataset d, ev;
    if (load_rows(&d, "learn", idx, 4) || load_rows(&ev, "learn-eval", eidx, 2)) {
        CHECK(0);
        return;
    }
    pt_adapter a;
    if (make_adapter(&a, 0, 1)) {
        CHECK(0);
        return;
    }
    pt_train_params p;
    base_params(&p, "learn");
    p.max_steps = 30;
    p.save_every = 10;
    p.eval_every = 10;
    p.warmup_steps = 2;
    pt_trainer *t;
    pt_err err;
    int rc = trainer_start(&t, &g_model, &a, &d, &ev, &p, NULL, &err);
    CHECKF(rc == PT_OK, "%s", err.msg);
    if (rc) return;
    pt_train_record recs[64];
    int n_recs = 0;
    pt_train_status s;
    for (;;) {
        trainer_status(t, &s);
        n_recs += trainer_poll(t, recs + n_recs, 64 - n_recs);
        if (s.state == PT_TRAIN_DONE || s.state == PT_TRAIN_FAILED) break;
        usleep(500);
    }
    n_recs += trainer_poll(t, recs + n_recs, 64 - n_recs);
    CHECKF(s.state == PT_TRAIN_DONE, "state %d: %s", s.state, s.message);
    CHECK(s.step == 30 && s.total_steps == 30 && s.eta_s == 0);
    CHECK(isfinite(s.last_eval_loss));
    CHECK(trainer_join(t, &err) == PT_OK);

    CHECKF(n_recs == 30, "%d records polled", n_recs);
    for (int i = 0; i < n_recs; i++) {
        CHECK(recs[i].step == i + 1);
        CHECK(isnan(recs[i].eval_loss) == ((i + 1) % 10 != 0));
    }
    CHECK(recs[0].lr == 0.0f && check_close(recs[1].lr, 5e-3f, 0, 1e-6f) && recs[2].lr == 1e-2f);   // warmup 2
    float first = recs[0].loss, last = (recs[27].loss + recs[28].loss + recs[29].loss) / 3;
    printf("repeated example: loss %.4f -> %.4f over 30 steps; eval %.4f -> %.4f\n", first, last, recs[9].eval_loss,
           recs[29].eval_loss);
    CHECKF(last < 0.5f * first, "loss %.4f -> %.4f", first, last);

    logfile lf;
    CHECK(read_log(p.out_dir, &lf) == 0);
    CHECK(lf.n == 30);
    for (int i = 0; i < lf.n; i++) {
        CHECK(lf.step[i] == i + 1 && lf.loss[i] == recs[i].loss);
        CHECK(isnan(lf.eval[i]) == isnan(recs[i].eval_loss));
    }

    // rotation kept the last two; the final adapter sits in OUT itself
    char ck[1200];
    snprintf(ck, sizeof(ck), "%s/checkpoint-10", p.out_dir);
    struct stat st;
    CHECK(stat(ck, &st) != 0);
    CHECK(count_tmp_dirs(p.out_dir) == 0);
    CHECK(file_exists(p.out_dir, "adapter_config.json") && file_exists(p.out_dir, "adapter_model.safetensors"));
    pt_adapter b;
    snprintf(ck, sizeof(ck), "%s/checkpoint-20", p.out_dir);
    if (check_checkpoint(ck, 20, &b) == 0) adapter_free(&b);
    snprintf(ck, sizeof(ck), "%s/checkpoint-30", p.out_dir);
    if (check_checkpoint(ck, 30, &b) == 0) {
        CHECK(b.n_params == a.n_params && memcmp(b.params, a.params, sizeof(float) * a.n_params) == 0);
        adapter_free(&b);
    }
    char path[1300];
    snprintf(path, sizeof(path), "%s/trainer_state.json", ck);
    pt_ckpt_state cs;
    if (ckpt_state_load(&cs, path, &err) == PT_OK) {
        CHECK(cJSON_GetArraySize(cs.log_history) == 33);   // 30 steps + 3 evals
        CHECK(isfinite(cs.best_metric) && cs.best_step > 0);
        ckpt_state_free(&cs);
    }
    adapter_free(&a);
    dataset_free(&d);
    dataset_free(&ev);
}

// Pause holds the job between steps; stop while paused ends it with a checkpoint.
static void test_pause_stop(void) {
    int idx[3] = {0, 1, 2};
    pt_dataset d;
    pt_adapter a;
    if (load_rows(&d, "pause", idx, 3) || make_adapter(&a, 0, 1)) {
        CHECK(0);
        return;
    }
    pt_train_params p;
    base_params(&p, "pause");
    p.max_steps = 100000;
    pt_trainer *t;
    pt_err err;
    if (trainer_start(&t, &g_model, &a, &d, NULL, &p, NULL, &err)) {
        CHECKF(0, "%s", err.msg);
        return;
    }
    pt_train_status s;
    CHECK(wait_until(t, &s, 2, PT_TRAIN_RUNNING, 0));
    trainer_pause(t);
    CHECK(wait_until(t, &s, 0, PT_TRAIN_PAUSED, 0));
    int k = s.step;
    usleep(20000);
    trainer_status(t, &s);
    CHECKF(s.state == PT_TRAIN_PAUSED && s.step == k, "moved while paused: %d -> %d", k, s.step);
    CHECK(strstr(s.message, "paused") != NULL);
    trainer_resume(t);
    CHECK(wait_until(t, &s, k + 2, PT_TRAIN_RUNNING, 0));
    CHECK(s.eta_s > 0);
    trainer_pause(t);
    CHECK(wait_until(t, &s, 0, PT_TRAIN_PAUSED, 0));
    k = s.step;
    trainer_stop(t);
    wait_end(t, &s);
    CHECKF(s.state == PT_TRAIN_DONE && s.step == k, "state %d step %d (paused at %d): %s", s.state, s.step, k, s.message);
    CHECK(strstr(s.message, "stopped at step") != NULL);
    char ck[1200];
    snprintf(ck, sizeof(ck), "%s/checkpoint-%d", p.out_dir, k);
    CHECKF(!strcmp(s.last_checkpoint, ck), "%s vs %s", s.last_checkpoint, ck);
    CHECK(trainer_join(t, &err) == PT_OK);
    pt_adapter b;
    if (check_checkpoint(ck, k, &b) == 0) {
        CHECK(memcmp(b.params, a.params, sizeof(float) * a.n_params) == 0);
        adapter_free(&b);
    }
    CHECK(file_exists(p.out_dir, "adapter_model.safetensors"));
    adapter_free(&a);
    dataset_free(&d);
}

// N steps straight == k steps, stop, resume for the rest (dropout, accumulation,
// a short last micro-batch and step each epoch, a linear schedule with warmup,
// weight decay, eval).
static void test_resume_equal(void) {
    const int N = 40;
    // 21 rows in micro-batches of 2 (the last one short), 2 to a step: an
    // epoch is 11 micro-batches in 6 steps, so the stop lands mid-epoch
    int idx[21], eidx[2] = {5, 6};
    for (int i = 0; i < 21; i++) idx[i] = i % 5;
    pt_dataset d, ev;
    if (load_rows(&d, "resume", idx, 21) || load_rows(&ev, "resume-eval", eidx, 2)) {
        CHECK(0);
        return;
    }
    pt_train_params p;
    base_params(&p, "straight");
    p.max_steps = N;
    p.grad_accum = 2;
    p.sched = PT_SCHED_LINEAR;
    p.warmup_steps = 3;
    p.weight_decay = 0.01f;
    p.eval_every = 5;
    p.save_every = 4;
    p.lr = 3e-3f;
    pt_trainer *t;
    pt_err err;
    pt_train_status s;

    pt_adapter a;
    if (make_adapter(&a, 0.1f, 3)) return;
    int rc = trainer_start(&t, &g_model, &a, &d, &ev, &p, NULL, &err);
    CHECKF(rc == PT_OK, "%s", err.msg);
    if (rc) return;
    wait_end(t, &s);
    CHECK(trainer_join(t, &err) == PT_OK);

    pt_adapter b;
    if (make_adapter(&b, 0.1f, 3)) return;
    pt_train_params q = p;
    snprintf(q.out_dir, sizeof(q.out_dir), "%s/interrupted", g_tmp);
    rc = trainer_start(&t, &g_model, &b, &d, &ev, &q, NULL, &err);
    CHECKF(rc == PT_OK, "%s", err.msg);
    if (rc) return;
    wait_until(t, &s, 3, -1, 0);
    trainer_stop(t);
    wait_end(t, &s);
    int k = s.step;
    CHECKF(s.state == PT_TRAIN_DONE && k >= 3 && k < N, "stopped at %d: %s", k, s.message);
    CHECK(trainer_join(t, &err) == PT_OK);

    // a new adapter with other initial values: resuming must overwrite them
    adapter_free(&b);
    if (make_adapter(&b, 0.1f, 99)) return;
    str_fmt(q.resume_dir, sizeof(q.resume_dir), "%s/checkpoint-%d", q.out_dir, k);
    q.seed = 12345;   // the checkpoint's seed wins: the data order must continue
    rc = trainer_start(&t, &g_model, &b, &d, &ev, &q, NULL, &err);
    CHECKF(rc == PT_OK, "%s", err.msg);
    if (rc) return;
    wait_end(t, &s);
    CHECKF(s.state == PT_TRAIN_DONE && s.step == N, "%s", s.message);
    CHECK(trainer_join(t, &err) == PT_OK);

    float worst = 0;
    for (size_t i = 0; i < a.n_params; i++) worst = fmaxf(worst, fabsf(a.params[i] - b.params[i]));
    printf("resume after step %d of %d (epoch position %d/6): max |param straight - resumed| = %g\n", k, N, k % 6, worst);
    CHECKF(worst <= 1e-6f, "params differ by %g", worst);
    logfile la, lb;
    CHECK(read_log(q.out_dir, &lb) == 0);
    char straight[1200];
    snprintf(straight, sizeof(straight), "%s/straight", g_tmp);
    CHECK(read_log(straight, &la) == 0);
    CHECKF(la.n == N && lb.n == N, "log lines %d and %d", la.n, lb.n);
    for (int i = 0; i < la.n && i < lb.n; i++) {
        CHECKF(lb.step[i] == i + 1 && check_close(lb.loss[i], la.loss[i], 1e-6f, 1e-6f) && lb.lr[i] == la.lr[i],
               "step %d: loss %.9g vs %.9g", i + 1, lb.loss[i], la.loss[i]);
        CHECK(isnan(la.eval[i]) == isnan(lb.eval[i]));
        if (!isnan(la.eval[i])) CHECK(check_close(lb.eval[i], la.eval[i], 1e-6f, 1e-6f));
    }
    CHECK(count_tmp_dirs(q.out_dir) == 0);

    // resuming needs the same data and batch geometry, and a sound optimizer file
    char dst[1300];
    str_fmt(q.resume_dir, sizeof(q.resume_dir), "%s/checkpoint-%d", q.out_dir, N);
    pt_train_params r = q;
    r.batch = 3;
    rc = trainer_start(&t, &g_model, &b, &d, &ev, &r, NULL, &err);
    if (rc == PT_OK) rc = trainer_join(t, &err);
    CHECKF(rc == PT_ERR_ARG && strstr(err.msg, "data order"), "rc %d: %s", rc, err.msg);
    // resuming a finished run's last checkpoint (killed before the final save)
    // writes the final adapter and ends: nothing trained, nothing lost
    char fin[1300];
    snprintf(fin, sizeof fin, "%s/adapter_model.safetensors", q.out_dir);
    CHECK(unlink(fin) == 0);
    rc = trainer_start(&t, &g_model, &b, &d, &ev, &q, NULL, &err);
    CHECKF(rc == PT_OK && trainer_join(t, &err) == PT_OK, "rc %d: %s", rc, err.msg);
    struct stat fst;
    CHECK(stat(fin, &fst) == 0 && fst.st_size > 0);
    q.max_steps = N + 5;
    snprintf(dst, sizeof(dst), "%s/optimizer.bin", q.resume_dir);
    CHECK(truncate(dst, 100) == 0);
    rc = trainer_start(&t, &g_model, &b, &d, &ev, &q, NULL, &err);
    if (rc == PT_OK) rc = trainer_join(t, &err);
    CHECKF(rc == PT_ERR_FORMAT && strstr(err.msg, "optimizer.bin"), "rc %d: %s", rc, err.msg);
    adapter_free(&a);
    adapter_free(&b);
    dataset_free(&d);
    dataset_free(&ev);
}

// A NaN in the weights (poisoned while paused) stops the run at the next step;
// the last checkpoint stays as it was and nothing broken is saved.
static void test_nan_stop(void) {
    int idx[3] = {0, 1, 2};
    pt_dataset d;
    pt_adapter a;
    if (load_rows(&d, "nan", idx, 3) || make_adapter(&a, 0, 1)) {
        CHECK(0);
        return;
    }
    pt_train_params p;
    base_params(&p, "nan");
    p.max_steps = 100000;
    p.save_every = 3;
    pt_trainer *t;
    pt_err err;
    if (trainer_start(&t, &g_model, &a, &d, NULL, &p, NULL, &err)) {
        CHECKF(0, "%s", err.msg);
        return;
    }
    pt_train_status s;
    CHECK(wait_until(t, &s, 4, -1, 1));
    trainer_pause(t);
    CHECK(wait_until(t, &s, 0, PT_TRAIN_PAUSED, 0));
    int k = s.step;
    char ck[1024];
    snprintf(ck, sizeof(ck), "%s", s.last_checkpoint);
    a.params[0] = NAN;   // safe: a paused job does not touch the adapter
    trainer_resume(t);
    wait_end(t, &s);
    char want[2048];
    snprintf(want, sizeof(want), "step %d: loss is NaN; stopped, last good checkpoint: %s", k + 1, ck);
    CHECKF(s.state == PT_TRAIN_FAILED && !strcmp(s.message, want), "state %d: '%s', want '%s'", s.state, s.message, want);
    CHECK(s.step == k);
    int rc = trainer_join(t, &err);
    CHECKF(rc == PT_ERR_RANGE && !strcmp(err.msg, want), "%d %s", rc, err.msg);
    pt_adapter b;
    int step = atoi(strrchr(ck, '-') + 1);
    if (check_checkpoint(ck, step, &b) == 0) {
        CHECK(params_finite(&b));
        adapter_free(&b);
    }
    char after[1200];
    snprintf(after, sizeof(after), "%s/checkpoint-%d", p.out_dir, k + 1);
    struct stat st;
    CHECK(stat(after, &st) != 0);
    CHECK(!file_exists(p.out_dir, "adapter_model.safetensors"));   // no final adapter from broken weights
    adapter_free(&a);
    dataset_free(&d);
}

// The disk fills up (or the folder turns read-only) mid-run: the job fails
// with the system's reason, and the previous checkpoint survives whole.
static void test_disk_full(void) {
    char out[512];
    snprintf(out, sizeof(out), "%s/small-disk", g_tmp);
    mkdir(out, 0755);
    int mounted = mount("tmpfs", out, "tmpfs", 0, "size=1m") == 0;
    if (!mounted && geteuid() == 0) {
        printf("disk-full check skipped: cannot mount a tmpfs and root ignores folder permissions\n");
        return;
    }
    int idx[3] = {0, 1, 2};
    pt_dataset d;
    pt_adapter a;
    if (load_rows(&d, "full", idx, 3) || make_adapter(&a, 0, 1)) {
        CHECK(0);
        goto done;
    }
    pt_train_params p;
    base_params(&p, "x");
    snprintf(p.out_dir, sizeof(p.out_dir), "%s", out);
    p.max_steps = 100000;
    p.save_every = 2;
    pt_trainer *t;
    pt_err err;
    if (trainer_start(&t, &g_model, &a, &d, NULL, &p, NULL, &err)) {
        CHECKF(0, "%s", err.msg);
        goto done;
    }
    pt_train_status s;
    CHECK(wait_until(t, &s, 3, -1, 1));
    trainer_pause(t);
    CHECK(wait_until(t, &s, 0, PT_TRAIN_PAUSED, 0));
    char ck[1024];
    snprintf(ck, sizeof(ck), "%s", s.last_checkpoint);
    const char *reason;
    if (mounted) {   // fill the disk
        char fill[600];
        snprintf(fill, sizeof(fill), "%s/filler", out);
        FILE *f = fopen(fill, "w");
        static char zeros[4096];
        while (f && fwrite(zeros, 1, sizeof(zeros), f) == sizeof(zeros) && fflush(f) == 0) {}
        if (f) fclose(f);
        reason = "No space left on device";
    } else {
        chmod(out, 0555);
        reason = "Permission denied";
    }
    trainer_resume(t);
    wait_end(t, &s);
    CHECKF(s.state == PT_TRAIN_FAILED && strstr(s.message, reason) && strstr(s.message, "last good checkpoint"),
           "state %d: %s", s.state, s.message);
    printf("disk full: %s\n", s.message);
    CHECK(trainer_join(t, &err) != PT_OK);
    pt_adapter b;
    int step = atoi(strrchr(ck, '-') + 1);
    if (check_checkpoint(ck, step, &b) == 0) adapter_free(&b);
    if (!mounted) chmod(out, 0755);
    adapter_free(&a);
    dataset_free(&d);
done:
    if (mounted) umount(out);
}

// What a host hears: every event, every step boundary, the thread share asked.
typedef struct {
    pthread_mutex_t mu;
    int n_step, n_eval, n_ckpt, n_done, n_state, last_boundary, boundaries, bad_order, threads_asked;
    pt_train_state done_state;
    char ckpt[1100];
    double t_done;
} host_log;

static void on_event(void *ud, const pt_train_event *e) {
    host_log *h = ud;
    pthread_mutex_lock(&h->mu);
    if (e->kind == PT_TEV_STEP) h->n_step++;
    if (e->kind == PT_TEV_EVAL) h->n_eval++;
    if (e->kind == PT_TEV_STATE) h->n_state++;
    if (e->kind == PT_TEV_CHECKPOINT) {
        h->n_ckpt++;
        snprintf(h->ckpt, sizeof h->ckpt, "%s", e->text);
    }
    if (e->kind == PT_TEV_DONE) {
        h->n_done++;
        h->done_state = e->state;
        h->t_done = pt_now_s();
    }
    pthread_mutex_unlock(&h->mu);
}

static void on_step(void *ud, pt_backend *be, const float *params, size_t n, int step) {
    host_log *h = ud;
    (void)be;
    (void)params;
    (void)n;
    pthread_mutex_lock(&h->mu);
    if (h->boundaries && step != h->last_boundary + 1) h->bad_order++;
    h->last_boundary = step;
    h->boundaries++;
    pthread_mutex_unlock(&h->mu);
}

static int share(void *ud) {
    host_log *h = ud;
    pthread_mutex_lock(&h->mu);
    h->threads_asked++;
    pthread_mutex_unlock(&h->mu);
    return 1;
}

// Events and hooks, and cancel and stop inside a step of many micro-batches:
// each takes effect within one micro-batch, a stop saves the last finished
// step, a cancel writes nothing.
static void test_events_cancel(void) {
    int idx[7] = {0, 1, 2, 3, 4, 5, 6};
    pt_dataset d;
    pt_adapter a;
    if (load_rows(&d, "events", idx, 7) || make_adapter(&a, 0, 1)) {
        CHECK(0);
        return;
    }
    for (int mode = 0; mode < 2; mode++) {   // 0 cancel, 1 stop
        host_log h = {.mu = PTHREAD_MUTEX_INITIALIZER};
        pt_train_env env = {.ud = &h, .on_event = on_event, .on_step = on_step, .threads = share};
        pt_train_params p;
        base_params(&p, mode ? "events-stop" : "events-cancel");
        p.batch = 1;
        p.grad_accum = 64;   // one step is 64 micro-batches over the 7 rows (capped at the epoch's end)
        p.max_steps = 1000;
        p.save_every = 1;
        pt_trainer *t;
        pt_err err = {0};
        if (trainer_start(&t, &g_model, &a, &d, NULL, &p, &env, &err)) {
            CHECKF(0, "%s", err.msg);
            break;
        }
        pt_train_status s;
        CHECK(wait_until(t, &s, 2, PT_TRAIN_RUNNING, 1));
        usleep(3000);   // into the next step's micro-batches
        int k = s.step;
        double t0 = pt_now_s();
        if (mode) trainer_stop(t);
        else trainer_cancel(t);
        wait_end(t, &s);
        double latency = pt_now_s() - t0;
        CHECK(trainer_join(t, &err) == PT_OK);
        pthread_mutex_lock(&h.mu);
        CHECKF(h.n_done == 1 && h.done_state == (mode ? PT_TRAIN_DONE : PT_TRAIN_CANCELLED), "%s: done %d, state %d",
               mode ? "stop" : "cancel", h.n_done, h.done_state);
        CHECKF(s.step >= k && s.step <= k + 1, "%s at step %d ended at %d", mode ? "stop" : "cancel", k, s.step);
        CHECKF(h.n_step == s.step, "%d step events for %d steps", h.n_step, s.step);
        CHECKF(h.boundaries == s.step + 1 && !h.bad_order, "%d step boundaries (set-up and each step) for %d steps",
               h.boundaries, s.step);
        CHECK(h.threads_asked >= s.step);
        CHECK(h.n_ckpt >= 1 && !strcmp(h.ckpt, s.last_checkpoint));
        char ck[1200];
        snprintf(ck, sizeof ck, "%s/checkpoint-%d", p.out_dir, s.step);
        if (mode) {
            CHECKF(!strcmp(s.last_checkpoint, ck), "stop saved %s, want %s", s.last_checkpoint, ck);
            CHECK(file_exists(p.out_dir, "adapter_model.safetensors"));
        } else {
            CHECK(!file_exists(p.out_dir, "adapter_model.safetensors"));   // nothing more written
            CHECK(strstr(s.message, "cancelled") != NULL);
        }
        printf("%s: took effect in %.1f ms\n", mode ? "stop" : "cancel", latency * 1e3);
        pthread_mutex_unlock(&h.mu);
    }
    adapter_free(&a);
    dataset_free(&d);
}

int main(int argc, char **argv) {
    CHECK_USE_FAST_BLAS(argv);
    (void)argc;
    pt_err err;
    if (model_load(&g_model, MODEL, &err)) SKIP_ALL("%s: %s", MODEL, err.msg);
    if (template_load(&g_tmpl, "chatml", &err)) {
        CHECKF(0, "%s", err.msg);
        return check_report("test_trainer");
    }
    snprintf(g_tmp, sizeof(g_tmp), "/tmp/pt_trainer_XXXXXX");
    if (!mkdtemp(g_tmp)) {
        CHECKF(0, "mkdtemp: %s", strerror(errno));
        return check_report("test_trainer");
    }
    struct { const char *name; void (*fn)(void); } tests[] = {
        {"bad start", test_bad_start}, {"learns", test_learns}, {"pause/stop", test_pause_stop},
        {"resume equal", test_resume_equal}, {"nan stop", test_nan_stop}, {"disk full", test_disk_full},
        {"events/cancel", test_events_cancel},
    };
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        double t0 = pt_now_s();
        tests[i].fn();
        printf("%-13s %.2f s\n", tests[i].name, pt_now_s() - t0);
    }
    if (!check_fail_) pt_dir_remove(g_tmp);
    else printf("kept %s for inspection\n", g_tmp);
    template_free(g_tmpl);
    model_free(&g_model);
    return check_report("test_trainer");
}
