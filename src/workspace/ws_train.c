// ws_train.c - training jobs: each a thread that loads its data, makes (or
// resumes) its adapter in the registry and trains it with the trainer on a
// lane of the workspace's device, over the workspace's base and the
// adapter's one mirror. The trainer's events become the workspace's; at
// every step boundary the parameters are copied into a snapshot that chats
// and compares read.
#include "workspace/ws_internal.h"

#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


struct ws_job {
    int id;
    pt_ws *ws;
    pthread_t th;
    int started, done, rc;
    pt_err err;
    pt_train_params p;
    pt_lora_config cfg;
    int have_cfg;
    float dropout;             // with resume: the new lora_dropout (NAN: the checkpoint's)
    char data[1024], system[1024], tmpl[64], resumed[1024];
    pt_columns columns;         // resolved from the request (flags over a dataset_info.json entry)
    int has_system, has_tmpl, train_on_prompt;
    int adapter;
    pt_backend *lane;
    pt_trainer *t;             // while it runs (under ws->mu)
    int req_pause, req_stop, req_cancel;   // asked before the trainer existed
    int counted;               // in ws->n_active
    pt_train_status st;        // the last status (kept when the trainer is gone)
    pt_train_record *hist;     // (n_hist) every step's record
    int n_hist, cap_hist;
    pt_dataset all, train, eval;
    pt_train_info info;        // filled when prepared
};

static ws_job *find(pt_ws *ws, int id) { return ws_table_find((void *const *)ws->jobs, ws->n_jobs, id); }

int ws_job_ended(pt_ws *ws, int id, int *rc, pt_err *err) {
    ws_job *j = find(ws, id);
    if (!j) return -1;
    if (!j->done) return 0;
    *rc = j->rc;
    if (j->rc && err) *err = j->err;
    return 1;
}

void pt_train_request_default(pt_train_request *r) {
    memset(r, 0, sizeof *r);
    train_params_defaults(&r->params);
    r->params.out_dir[0] = 0;   // chosen from the data (or the checkpoint) unless given
}

// ---- the trainer's hooks (on the job's thread) ----

static void set_counted(pt_ws *ws, ws_job *j, int on) {   // under ws->mu
    if (on != j->counted) ws->n_active += on ? 1 : -1;
    j->counted = on;
}

static void on_event(void *ud, const pt_train_event *te) {
    ws_job *j = ud;
    pt_ws *ws = j->ws;
    pt_event e;
    memset(&e, 0, sizeof e);
    e.src = j->id;
    e.column = -1;
    e.rec = te->rec;
    e.state = te->state;
    e.status = te->status;
    ws_fmt(e.text, sizeof e.text, "%s", te->text);
    pthread_mutex_lock(&ws->mu);
    switch (te->kind) {
    case PT_TEV_STEP: {
        e.kind = PT_EV_TRAIN_STEP;
        if (j->n_hist == j->cap_hist) {
            int cap = j->cap_hist ? j->cap_hist * 2 : 256;
            pt_train_record *h = realloc(j->hist, sizeof *h * (size_t)cap);
            if (h) {
                j->hist = h;
                j->cap_hist = cap;
            }
        }
        if (j->n_hist < j->cap_hist) j->hist[j->n_hist++] = te->rec;
        ws_adapter *ad = ws_adapter_get(ws, j->adapter);
        if (ad) ad->last_loss = te->rec.loss;
        break;
    }
    case PT_TEV_EVAL: e.kind = PT_EV_TRAIN_EVAL; break;
    case PT_TEV_CHECKPOINT: e.kind = PT_EV_TRAIN_CHECKPOINT; break;
    case PT_TEV_STATE:
        e.kind = PT_EV_TRAIN_STATE;
        set_counted(ws, j, te->state == PT_TRAIN_RUNNING || te->state == PT_TRAIN_STOPPING);
        break;
    case PT_TEV_WARNING: e.kind = PT_EV_WARNING; break;
    case PT_TEV_DONE: e.kind = PT_EV_TRAIN_DONE; break;
    }
    pthread_mutex_unlock(&ws->mu);
    if (te->kind != PT_TEV_DONE) ws_push(ws, &e);   // DONE goes out when the registry is updated
}

static void on_step(void *ud, pt_backend *be, const float *params, size_t n, int step) {
    ws_job *j = ud;
    pthread_mutex_lock(&j->ws->mu);
    ws_adapter *ad = ws_adapter_get(j->ws, j->adapter);
    pthread_mutex_unlock(&j->ws->mu);
    if (ad) ws_adapter_publish(j->ws, ad, be, params, n, step);
}

static int share(void *ud) {
    ws_job *j = ud;
    return ws_share(j->ws);
}

// ---- the job ----

// What was asked before the trainer existed, or that it missed.
static int early_end(ws_job *j) {
    pthread_mutex_lock(&j->ws->mu);
    int r = j->req_cancel ? 2 : j->req_stop ? 1 : 0;
    pthread_mutex_unlock(&j->ws->mu);
    return r;
}

// Data, template and adapter, on the job's thread.
static int prepare(ws_job *j, pt_err *err) {
    pt_ws *ws = j->ws;
    pt_chat_template *tmpl = NULL;
    char *model_system = NULL;
    pt_adapter a;
    int have_a = 0, rc;
    memset(&a, 0, sizeof a);
    if ((rc = ws_template_open(ws, j->has_tmpl ? j->tmpl : NULL, &tmpl, &model_system, err))) goto done;
    snprintf(j->p.template_name, sizeof j->p.template_name, "%s", template_name(tmpl));
    if (j->resumed[0]) {
        char warn[512] = "";
        if ((rc = adapter_load(&a, &ws->model, j->resumed, warn, sizeof warn, err))) goto done;
        have_a = 1;
        if (warn[0]) ws_push_text(ws, PT_EV_WARNING, j->id, PT_OK, "%s", warn);
        a.cfg.inference_mode = 0;
        if (!isnan(j->dropout)) a.cfg.lora_dropout = j->dropout;
        if ((rc = lora_config_validate(&a.cfg, err))) goto done;
    } else {
        if ((rc = adapter_create(&a, &ws->model, &j->cfg, j->p.seed, err))) goto done;
        have_a = 1;
        a.cfg.base_model[0] = '\0';   // PEFT's get_peft_model records the base trained on, not a --config's

    }
    snprintf(a.template_name, sizeof a.template_name, "%s", template_name(tmpl));
    int held = ws->model.cfg.max_ctx > 0 && j->p.max_seq_len > ws->model.cfg.max_ctx;   // rows fit the model's context
    if (held) j->p.max_seq_len = ws->model.cfg.max_ctx;
    pt_dataset_opts dopts = {.max_seq_len = j->p.max_seq_len, .train_on_prompt = j->train_on_prompt,
                             .default_system = j->has_system ? j->system : model_system, .columns = &j->columns};
    if ((rc = dataset_load(&j->all, j->data, ws->model.tok, tmpl, &dopts, err))) {
        char *at = rc == PT_ERR_RANGE && held && err ? strstr(err->msg, "(raise it)") : NULL;
        if (at)   // it cannot be raised
            snprintf(at, sizeof err->msg - (size_t)(at - err->msg), "(the model's whole context: shorten the rows)");
        goto done;
    }
    int n_rows = j->all.n;
    if ((rc = dataset_split(&j->all, j->p.eval_frac, j->p.seed, &j->train, &j->eval, err))) goto done;
    if (j->p.eval_frac > 0 && j->eval.n == 0)
        ws_push_text(ws, PT_EV_WARNING, j->id, PT_OK, "%d example%s: too few to hold any out for eval", n_rows, n_rows == 1 ? "" : "s");
    pt_adapter_dev dev;
    if ((rc = adapter_dev_init(&dev, ws->be, &a, err))) goto done;
    pt_train_info info, *in = &info;   // published under the lock below
    memset(in, 0, sizeof *in);
    ws_fmt(in->out_dir, sizeof in->out_dir, "%s", j->p.out_dir);
    ws_fmt(in->resumed, sizeof in->resumed, "%s", j->resumed);
    snprintf(in->format, sizeof in->format, "%s", j->train.format);
    snprintf(in->template_name, sizeof in->template_name, "%s", template_name(tmpl));
    in->rows = n_rows + j->train.n_skipped;
    in->train_rows = j->train.n;
    in->eval_rows = j->eval.n;
    in->truncated = j->train.n_truncated;
    in->skipped = j->train.n_skipped;
    in->r = a.cfg.r;
    in->alpha = a.cfg.lora_alpha;
    in->dropout = a.cfg.lora_dropout;
    in->rslora = a.cfg.use_rslora;
    lora_describe_targets(&a.cfg, in->targets, sizeof in->targets);
    for (int i = 0; i < a.n_layer * PT_LIN_COUNT; i++) in->n_modules += a.mods[i].A != NULL;
    in->n_params = a.n_params;
    in->prepared = 1;
    pthread_mutex_lock(&ws->mu);
    j->info = info;
    ws_adapter *ad = ws_adapter_get(ws, j->adapter);
    ad->a = a;
    ad->have_a = 1;
    ad->dev = dev;
    ad->have_dev = 1;
    snprintf(ad->a.name, sizeof ad->a.name, "%s", ad->name);
    pthread_mutex_unlock(&ws->mu);
    have_a = 0;
done:
    if (have_a) adapter_free(&a);
    template_free(tmpl);
    free(model_system);
    return rc;
}

static void *job_main(void *arg) {
    ws_job *j = arg;
    pt_ws *ws = j->ws;
    pt_err err = {0};
    int rc = ws_lane(ws, &j->lane, &err), ended = 0;
    if (!rc) {
        j->lane->ops->set_threads(j->lane, ws_share(ws));
        rc = prepare(j, &err);
    }
    if (!rc && !(ended = early_end(j))) {
        pthread_mutex_lock(&ws->mu);
        ws_adapter *ad = ws_adapter_get(ws, j->adapter);
        pthread_mutex_unlock(&ws->mu);
        pt_train_env env = {.be = j->lane, .bw = &ws->bw, .adev = &ad->dev, .ud = j, .on_event = on_event,
                            .on_step = on_step, .threads = share};
        pt_trainer *t = NULL;
        rc = trainer_create(&t, &ws->model, &ad->a, &j->train, j->eval.n ? &j->eval : NULL, &j->p, &env, &err);
        if (!rc) {
            pthread_mutex_lock(&ws->mu);
            j->t = t;
            if (j->req_pause) trainer_pause(t);
            if (j->req_stop) trainer_stop(t);
            if (j->req_cancel) trainer_cancel(t);
            set_counted(ws, j, 1);
            pthread_mutex_unlock(&ws->mu);
            rc = trainer_run(t, &err);
        }
    }
    // the end: the registry gets the trained adapter back, the job its last status
    pthread_mutex_lock(&ws->mu);
    set_counted(ws, j, 0);
    if (j->t) {
        trainer_status(j->t, &j->st);
    } else {
        j->st.state = rc ? PT_TRAIN_FAILED : ended == 2 ? PT_TRAIN_CANCELLED : PT_TRAIN_DONE;
        ws_fmt(j->st.message, sizeof j->st.message, "%s", rc ? err.msg : ended == 2 ? "cancelled before it started"
                                                                                      : "stopped before it started; nothing trained");
    }
    pt_trainer *t = j->t;
    j->t = NULL;
    ws_adapter *ad = ws_adapter_get(ws, j->adapter);
    if (ad) {
        ad->job = 0;
        ad->version++;
        ad->step = j->st.step;
        ad->state = ad->have_a ? PT_AD_IDLE : PT_AD_FAILED;
        if (!ad->have_a) snprintf(ad->error, sizeof ad->error, "%s", rc ? err.msg : j->st.message);
        if (ad->have_a && j->st.state == PT_TRAIN_DONE && j->st.step > 0) {
            ad->saved = 1;
            snprintf(ad->path, sizeof ad->path, "%s", j->p.out_dir);
        }
        ws_adapter_snaps_free(ws, ad);   // those still read go when their readers let go
    }
    j->rc = rc;
    j->err = err;
    pt_event e;
    memset(&e, 0, sizeof e);
    e.kind = PT_EV_TRAIN_DONE;
    e.src = j->id;
    e.column = -1;
    e.state = j->st.state;
    e.status = rc;
    snprintf(e.text, sizeof e.text, "%s", j->st.message);
    ws_push(ws, &e);
    j->done = 1;
    pthread_cond_broadcast(&ws->cv);
    pthread_mutex_unlock(&ws->mu);
    trainer_free(t);   // after the status was read; nothing points at it now
    return NULL;
}

// ---- resume discovery and defaults ----

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

// A checkpoint folder, or a run folder holding checkpoint-N ones (the newest).
static int find_checkpoint(const char *dir, char *out, size_t cap) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/trainer_state.json", dir);
    if (is_file(p)) {
        snprintf(out, cap, "%s", dir);
        return 0;
    }
    DIR *d = opendir(dir);
    if (!d) return -1;
    long best = -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        if (strncmp(e->d_name, "checkpoint-", 11)) continue;
        long step = strtol(e->d_name + 11, &end, 10);
        if (*end || end == e->d_name + 11 || step <= best) continue;
        snprintf(p, sizeof p, "%s/%s/trainer_state.json", dir, e->d_name);
        if (is_file(p)) best = step;
    }
    closedir(d);
    if (best < 0) return -1;
    snprintf(out, cap, "%s/checkpoint-%ld", dir, best);
    return 0;
}

// The run folder a checkpoint belongs to: OUT for OUT/checkpoint-N.
static void run_dir_of(const char *ckpt, char *out, size_t cap) {
    const char *slash = strrchr(ckpt, '/');
    const char *base = slash ? slash + 1 : ckpt;
    if (!strncmp(base, "checkpoint-", 11)) {
        if (!slash) snprintf(out, cap, ".");
        else snprintf(out, cap, "%.*s", (int)(slash - ckpt), ckpt);
    } else {
        snprintf(out, cap, "%s", ckpt);
    }
}

// adapters/identity for datasets/identity.jsonl
static void default_out(const char *data, char *buf, size_t cap) {
    const char *base = strrchr(data, '/');
    base = base ? base + 1 : data;
    size_t n = strcspn(base, ".");
    if (n == 0) n = strlen(base);
    snprintf(buf, cap, "adapters/%.*s", (int)n, base);
}

static void job_free(ws_job *j) {
    if (j->lane) backend_destroy(j->lane);
    if (j->have_cfg) lora_config_free(&j->cfg);
    dataset_free(&j->all);
    dataset_free(&j->train);
    dataset_free(&j->eval);
    free(j->hist);
    free(j);
}

// The request's checks that need no work, and the job's copy of it.
static int job_from_request(pt_ws *ws, ws_job *j, const pt_train_request *r, pt_err *err) {
    struct stat st;
    int rc;
    if (!r->data || !*r->data) return pt_fail(err, PT_ERR_ARG, "training needs data: a dataset file");
    if (stat(r->data, &st) != 0) return pt_fail(err, PT_ERR_IO, "%s: cannot open the dataset: no such file", r->data);
    if (S_ISDIR(st.st_mode))
        return pt_fail(err, PT_ERR_IO, "%s: is a folder; the data is a .json, .jsonl, .csv, .tsv or .txt file (or a "
                       "dataset_info.json)", r->data);
    if ((rc = dataset_resolve(r->data, r->dataset_name, &r->columns, j->data, sizeof j->data, &j->columns, err)))
        return rc;
    if (stat(j->data, &st) != 0) return pt_fail(err, PT_ERR_IO, "%s: cannot open the dataset: no such file", j->data);
    if (r->system && pt_utf8_invalid_at(r->system, strlen(r->system))) return pt_fail(err, PT_ERR_ARG, "the system text is not valid UTF-8");
    if (!r->resume && !r->lora) return pt_fail(err, PT_ERR_ARG, "training needs a LoRA config (or a checkpoint to resume)");
    j->p = r->params;
    pt_problem pr;
    if (train_params_problems(&j->p, &pr, 1)) return pt_fail(err, PT_ERR_ARG, "%s", pr.msg);
    if ((j->has_system = r->system != NULL)) snprintf(j->system, sizeof j->system, "%s", r->system);
    if ((j->has_tmpl = r->template_name != NULL)) snprintf(j->tmpl, sizeof j->tmpl, "%s", r->template_name);
    j->train_on_prompt = r->train_on_prompt;
    j->dropout = NAN;
    if (r->resume) {
        if (find_checkpoint(r->resume, j->resumed, sizeof j->resumed))
            return pt_fail(err, PT_ERR_IO, "%s: no checkpoint to resume from (no trainer_state.json there, and no "
                           "checkpoint-N folders)", r->resume);
        snprintf(j->p.resume_dir, sizeof j->p.resume_dir, "%s", j->resumed);
        if (r->lora) j->dropout = r->lora->lora_dropout;
    } else {
        pt_problem probs[8];
        int n = lora_check(&ws->model, r->lora, probs, 8);
        for (int i = 0; i < n && i < 8; i++)
            if (!probs[i].warning) return pt_fail(err, PT_ERR_ARG, "%s", probs[i].msg);
        if ((rc = lora_config_copy(&j->cfg, r->lora, err))) return rc;
        j->have_cfg = 1;
    }
    if (!j->p.out_dir[0]) {
        char out[1024];
        if (j->resumed[0]) run_dir_of(j->resumed, out, sizeof out);
        else default_out(j->data, out, sizeof out);
        snprintf(j->p.out_dir, sizeof j->p.out_dir, "%s", out);
    }
    snprintf(j->p.device, sizeof j->p.device, "%s", ws->device);
    j->p.n_threads = ws->budget;
    return PT_OK;
}

int pt_train_start(pt_ws *ws, const pt_train_request *r, int *job, int *adapter, pt_err *err) {
    *job = 0;
    if (adapter) *adapter = 0;
    ws_job *j = calloc(1, sizeof *j);
    if (!j) return pt_fail(err, PT_ERR_NOMEM, "out of memory");
    j->ws = ws;
    pthread_mutex_lock(&ws->mu);
    int rc = ws_need_model(ws, err);
    if (!rc && !ws->model.tok) rc = pt_fail(err, PT_ERR_ARG, "this model has no tokenizer (a random shape)");
    pthread_mutex_unlock(&ws->mu);
    if (!rc) rc = job_from_request(ws, j, r, err);   // the model stays: jobs are refused during a load
    pthread_mutex_lock(&ws->mu);
    if (!rc) rc = ws_need_model(ws, err);   // it could have begun loading meanwhile
    ws_adapter *ad = NULL;
    if (!rc) {
        char name[128];
        const char *base = strrchr(j->p.out_dir, '/');
        ws_fmt(name, sizeof name, "%s", r->name ? r->name : base ? base + 1 : j->p.out_dir);
        if (!(ad = ws_adapter_new(ws, name))) rc = pt_fail(err, PT_ERR_NOMEM, "out of memory");
        else for (int k = 2; ; k++) {   // a name nobody else has
            int taken = 0;
            for (int i = 0; i < ws->n_ads; i++) taken |= ws->ads[i] != ad && !strcmp(ws->ads[i]->name, ad->name);
            if (!taken) break;
            snprintf(ad->name, sizeof ad->name, "%.100s-%d", name, k);
        }
    }
    if (!rc && ws_table_add((void ***)&ws->jobs, &ws->n_jobs, &ws->cap_jobs, j)) rc = pt_fail(err, PT_ERR_NOMEM, "out of memory");
    if (!rc) {
        j->id = ws_new_id(ws);
        j->adapter = ad->id;
        ad->job = j->id;
        j->st.state = PT_TRAIN_STARTING;
        ws_fmt(j->st.message, sizeof j->st.message, "loading %s", j->data);
        if (pthread_create(&j->th, NULL, job_main, j) != 0) {
            rc = pt_fail(err, PT_ERR_INTERNAL, "cannot start the training thread");
            ws_table_remove((void **)ws->jobs, &ws->n_jobs, j);
        } else {
            j->started = 1;
        }
    }
    if (rc && ad) {
        ws_table_remove((void **)ws->ads, &ws->n_ads, ad);
        ws_adapter_free(ws, ad);
    }
    pthread_mutex_unlock(&ws->mu);
    if (rc) {
        job_free(j);
        return rc;
    }
    *job = j->id;
    if (adapter) *adapter = j->adapter;
    return PT_OK;
}

// ---- requests and status ----

typedef enum { REQ_PAUSE, REQ_RESUME, REQ_STOP, REQ_CANCEL } req;

static int request(pt_ws *ws, int id, req q) {
    pthread_mutex_lock(&ws->mu);
    ws_job *j = find(ws, id);
    if (j && !j->done) {
        if (q == REQ_PAUSE) j->req_pause = 1;
        if (q == REQ_RESUME) j->req_pause = 0;
        if (q == REQ_STOP) j->req_stop = 1;
        if (q == REQ_CANCEL) j->req_cancel = 1;
        if (j->t) {
            if (q == REQ_PAUSE) trainer_pause(j->t);
            if (q == REQ_RESUME) trainer_resume(j->t);
            if (q == REQ_STOP) trainer_stop(j->t);
            if (q == REQ_CANCEL) trainer_cancel(j->t);
        }
    }
    pthread_mutex_unlock(&ws->mu);
    return j ? PT_OK : PT_ERR_ARG;
}

int pt_train_pause(pt_ws *ws, int job) { return request(ws, job, REQ_PAUSE); }
int pt_train_resume(pt_ws *ws, int job) { return request(ws, job, REQ_RESUME); }
int pt_train_stop(pt_ws *ws, int job) { return request(ws, job, REQ_STOP); }
int pt_train_cancel(pt_ws *ws, int job) { return request(ws, job, REQ_CANCEL); }

int pt_train_get_status(pt_ws *ws, int job, pt_train_status *out) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&ws->mu);
    ws_job *j = find(ws, job);
    if (j && j->t) trainer_status(j->t, out);
    else if (j) *out = j->st;
    pthread_mutex_unlock(&ws->mu);
    return j ? PT_OK : PT_ERR_ARG;
}

int pt_train_history(pt_ws *ws, int job, pt_train_record *out, int cap) {
    pthread_mutex_lock(&ws->mu);
    ws_job *j = find(ws, job);
    int n = j ? j->n_hist : 0;
    for (int i = 0; i < n && i < cap; i++) out[i] = j->hist[i];
    pthread_mutex_unlock(&ws->mu);
    return n;
}

int pt_train_info_get(pt_ws *ws, int job, pt_train_info *out) {
    pthread_mutex_lock(&ws->mu);
    ws_job *j = find(ws, job);
    if (j) {
        *out = j->info;
        if (!out->prepared) {   // the folders are known from the start
            ws_fmt(out->out_dir, sizeof out->out_dir, "%s", j->p.out_dir);
            ws_fmt(out->resumed, sizeof out->resumed, "%s", j->resumed);
        }
    } else {
        memset(out, 0, sizeof *out);
    }
    pthread_mutex_unlock(&ws->mu);
    return j ? PT_OK : PT_ERR_ARG;
}

int pt_train_close(pt_ws *ws, int job, pt_err *err) {
    pthread_mutex_lock(&ws->mu);
    ws_job *j = find(ws, job);
    int rc = !j ? pt_fail(err, PT_ERR_ARG, "no job with id %d", job)
                : !j->done ? pt_fail(err, PT_ERR_ARG, "the job is running: stop or cancel it first") : PT_OK;
    if (!rc) ws_table_remove((void **)ws->jobs, &ws->n_jobs, j);
    pthread_mutex_unlock(&ws->mu);
    if (rc) return rc;
    pthread_join(j->th, NULL);
    job_free(j);
    return PT_OK;
}

void ws_jobs_destroy(pt_ws *ws) {
    pthread_mutex_lock(&ws->mu);
    for (int i = 0; i < ws->n_jobs; i++) {
        ws_job *j = ws->jobs[i];
        j->req_cancel = 1;
        if (j->t) trainer_cancel(j->t);
    }
    pthread_mutex_unlock(&ws->mu);
    for (;;) {
        pthread_mutex_lock(&ws->mu);
        ws_job *j = ws->n_jobs ? ws->jobs[0] : NULL;
        if (j) ws_table_remove((void **)ws->jobs, &ws->n_jobs, j);
        pthread_mutex_unlock(&ws->mu);
        if (!j) break;
        if (j->started) pthread_join(j->th, NULL);
        job_free(j);
    }
}
