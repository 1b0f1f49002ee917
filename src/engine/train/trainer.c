// trainer.c - the LoRA training job: the loop over optimizer steps (micro-
// batches, accumulation, clipping, AdamW, schedule), eval, log.jsonl,
// checkpoints and resume, in its own thread behind a mutex-guarded channel,
// telling its host (the workspace) what happens through pt_train_env's hooks.
//
// Requests (pause, stop, cancel) are looked at before every micro-batch of a
// step and every batch of an eval. A step they interrupt is dropped whole:
// its gradients are discarded, the parameters and the data position stay as
// the last finished step left them, so a checkpoint is always of a step.
//
// Letters: B rows of a micro-batch, T tokens a row (the graph's), S optimizer
// steps of the run, E examples in the training set.
//
// Data order: epoch e visits the examples in a Fisher-Yates shuffle seeded by
// seed + e, in micro-batches of B (the last one of an epoch may be short);
// an optimizer step takes up to grad_accum micro-batches and never crosses an
// epoch's end, so S per epoch = ceil(E / (B * grad_accum)). The position
// (epoch, micro-batches done) goes into trainer_state.json; with the seed it
// is all a resumed run needs to draw the same batches.
#define _GNU_SOURCE
#include "train/trainer.h"
#include "core/pt_time.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "core/rng.h"
#include "train/checkpoint.h"
#include "train/optimizer.h"
#include "train/train_graph.h"

#define RING 1024          // records kept for trainer_poll
#define KEEP_CHECKPOINTS 2

struct pt_trainer {
    // borrowed until trainer_join
    pt_model *m;
    pt_adapter *a;
    const pt_dataset *train, *eval;
    pt_train_params p;
    pt_train_env env;

    // the job's own; touched only by the job thread once it runs
    pt_backend *be;
    int own_be;             // be was made here (no env lane)
    pt_train_graph *g;
    pt_adamw opt;
    int B, T;
    int n_threads;
    int32_t *tokens;        // (B, T)
    uint8_t *mask;          // (B, T)
    int *lengths;           // (B)
    int *order;             // (E) example indices of epoch order_epoch
    int order_epoch;        // -1: none yet
    pt_ckpt_state cs;       // position, best eval, log_history: what trainer_state.json holds
    FILE *log;              // OUT/log.jsonl
    int start_step;         // global step this run began at
    int saved_step;         // step of the last checkpoint written (-1: none)
    double run_active_s;    // this run's time spent working (pauses excluded)
    int data_epoch;         // 1-based epoch the last step drew from

    // the channel, under mu
    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int pause_req, stop_req, cancel_req;
    pt_train_status st;
    pt_train_record ring[RING];
    long ring_written, ring_read;
    int rc;
    pt_err err;
};

void train_params_defaults(pt_train_params *p) {
    memset(p, 0, sizeof(*p));
    p->lr = 2e-4f;
    p->sched = PT_SCHED_LINEAR;   // transformers' default lr_scheduler_type
    p->warmup_steps = 0;
    p->weight_decay = 0.0f;
    p->beta1 = 0.9f;
    p->beta2 = 0.999f;
    p->eps = 1e-8f;
    p->max_grad_norm = 1.0f;
    p->batch = 4;
    p->grad_accum = 1;
    p->epochs = 3;
    p->max_steps = 0;
    p->max_seq_len = 512;
    p->save_every = 100;
    p->eval_every = 0;
    p->eval_frac = 0.0;
    p->seed = 42;
    p->n_threads = 0;             // all online cores
    snprintf(p->device, sizeof(p->device), "auto");
    snprintf(p->out_dir, sizeof(p->out_dir), "out");
}

// snprintf that may cut long paths short (status strings are fixed-size).
static void str_fmt(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void str_fmt(char *dst, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}


// The order of epoch e: a Fisher-Yates shuffle seeded by seed + e.
static void make_order(pt_trainer *t, int epoch) {
    int n = t->train->n;
    uint64_t s = t->cs.seed + (uint64_t)epoch;
    for (int i = 0; i < n; i++) t->order[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(pt_splitmix64(&s) % (uint64_t)(i + 1));
        int tmp = t->order[i];
        t->order[i] = t->order[j];
        t->order[j] = tmp;
    }
    t->order_epoch = epoch;
}

// Rows [0, n) of the micro-batch from examples idx (n <= B); rows past n are
// empty (length 0). Examples longer than T keep their first T tokens.
// Returns the number of target tokens (mask set at positions 1..len-1).
static int fill_batch(pt_trainer *t, const pt_dataset *d, const int *idx, int n, int64_t *n_tokens) {
    int B = t->B, T = t->T, targets = 0;
    memset(t->tokens, 0, sizeof(int32_t) * (size_t)B * T);
    memset(t->mask, 0, (size_t)B * T);
    for (int b = 0; b < B; b++) {
        t->lengths[b] = 0;
        if (b >= n) continue;
        const pt_example *e = &d->ex[idx[b]];
        int len = e->n < T ? e->n : T;
        memcpy(t->tokens + (size_t)b * T, e->tokens, sizeof(int32_t) * (size_t)len);
        memcpy(t->mask + (size_t)b * T, e->loss, (size_t)len);
        t->mask[(size_t)b * T] = 0;   // nothing predicts the first token
        for (int i = 1; i < len; i++) targets += t->mask[(size_t)b * T + i] != 0;
        t->lengths[b] = len;
        *n_tokens += len;
    }
    return targets;
}

// ---- the channel -----------------------------------------------------------

const char *train_state_name(pt_train_state s) {
    static const char *const N[] = {"idle", "starting", "running", "paused", "stopping", "done", "failed", "cancelled"};
    return (unsigned)s < sizeof N / sizeof N[0] ? N[s] : "?";
}

static void emit(pt_trainer *t, const pt_train_event *e) {
    if (t->env.on_event) t->env.on_event(t->env.ud, e);
}

static void emit_text(pt_trainer *t, pt_train_event_kind kind, const char *text) {
    pt_train_event e = {.kind = kind};
    str_fmt(e.text, sizeof e.text, "%s", text);
    emit(t, &e);
}

// Sets the state under mu and tells the host (outside mu).
static void set_state(pt_trainer *t, pt_train_state st) {
    pthread_mutex_lock(&t->mu);
    int changed = t->st.state != st;
    t->st.state = st;
    pthread_mutex_unlock(&t->mu);
    if (changed) {
        pt_train_event e = {.kind = PT_TEV_STATE, .state = st};
        emit(t, &e);
    }
}

static void set_message(pt_trainer *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_message(pt_trainer *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&t->mu);
    vsnprintf(t->st.message, sizeof(t->st.message), fmt, ap);
    pthread_mutex_unlock(&t->mu);
    va_end(ap);
}

static void publish(pt_trainer *t, const pt_train_record *r) {
    int steps = t->cs.global_step - t->start_step;
    double avg = steps > 0 ? t->run_active_s / steps : 0.0;
    pthread_mutex_lock(&t->mu);
    t->st.step = t->cs.global_step;
    t->st.epoch = t->data_epoch;
    t->st.last = *r;
    if (!isnan(r->eval_loss)) t->st.last_eval_loss = r->eval_loss;
    t->st.eta_s = avg * (t->cs.total_steps - t->cs.global_step);
    t->ring[t->ring_written % RING] = *r;
    t->ring_written++;
    pthread_mutex_unlock(&t->mu);
    pt_train_event e = {.kind = PT_TEV_STEP, .rec = *r};
    emit(t, &e);
    if (!isnan(r->eval_loss)) {
        e.kind = PT_TEV_EVAL;
        emit(t, &e);
    }
}

enum { GO = 0, STOP = 1, CANCEL = 2 };

// The requests, looked at between micro-batches: parks the job while
// paused, then says whether to go on, stop (save) or cancel.
static int requests(pt_trainer *t) {
    pthread_mutex_lock(&t->mu);
    if (t->pause_req && !t->stop_req && !t->cancel_req) {
        pt_train_state was = t->st.state;
        char msg[sizeof t->st.message];
        memcpy(msg, t->st.message, sizeof msg);
        t->st.state = PT_TRAIN_PAUSED;
        snprintf(t->st.message, sizeof(t->st.message), "paused at step %d", t->cs.global_step);
        pthread_mutex_unlock(&t->mu);
        pt_train_event e = {.kind = PT_TEV_STATE, .state = PT_TRAIN_PAUSED};
        emit(t, &e);
        pthread_mutex_lock(&t->mu);
        while (t->pause_req && !t->stop_req && !t->cancel_req) pthread_cond_wait(&t->cv, &t->mu);
        if (!t->stop_req && !t->cancel_req) {
            t->st.state = was;
            memcpy(t->st.message, msg, sizeof msg);
            pthread_mutex_unlock(&t->mu);
            e.state = was;
            emit(t, &e);
            pthread_mutex_lock(&t->mu);
        }
    }
    int r = t->cancel_req ? CANCEL : t->stop_req ? STOP : GO;
    pthread_mutex_unlock(&t->mu);
    return r;
}

// The host's thread share for the job, applied to its lane.
static void apply_threads(pt_trainer *t) {
    int n = t->env.threads ? t->env.threads(t->env.ud) : t->n_threads;
    if (n < 1) n = 1;
    if (n != t->be->n_threads || t->be->ops->host_memory) t->be->ops->set_threads(t->be, n);
}

void trainer_pause(pt_trainer *t) {
    pthread_mutex_lock(&t->mu);
    t->pause_req = 1;
    pthread_mutex_unlock(&t->mu);
}

void trainer_resume(pt_trainer *t) {
    pthread_mutex_lock(&t->mu);
    t->pause_req = 0;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

static void request_end(pt_trainer *t, int cancel) {
    pthread_mutex_lock(&t->mu);
    if (cancel) t->cancel_req = 1;
    else t->stop_req = 1;
    int live = t->st.state == PT_TRAIN_RUNNING || t->st.state == PT_TRAIN_PAUSED || t->st.state == PT_TRAIN_STARTING;
    if (live) {
        t->st.state = PT_TRAIN_STOPPING;
        snprintf(t->st.message, sizeof(t->st.message), cancel ? "cancelling: nothing more is saved"
                                                              : "stopping: saving a checkpoint and the adapter");
    }
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

void trainer_stop(pt_trainer *t) { request_end(t, 0); }
void trainer_cancel(pt_trainer *t) { request_end(t, 1); }

void trainer_status(pt_trainer *t, pt_train_status *s) {
    pthread_mutex_lock(&t->mu);
    *s = t->st;
    pthread_mutex_unlock(&t->mu);
}

int trainer_poll(pt_trainer *t, pt_train_record *recs, int cap) {
    pthread_mutex_lock(&t->mu);
    if (t->ring_written - t->ring_read > RING) {   // the oldest were overwritten: say so
        t->st.dropped += t->ring_written - RING - t->ring_read;
        t->ring_read = t->ring_written - RING;
    }
    int n = 0;
    while (n < cap && t->ring_read < t->ring_written) recs[n++] = t->ring[t->ring_read++ % RING];
    pthread_mutex_unlock(&t->mu);
    return n;
}

// ---- one optimizer step ----------------------------------------------------

static uint64_t dropout_seed(uint64_t seed, int step, int micro) {
    uint64_t s = seed ^ (0x632be59bd9b4e019ull * (uint64_t)(step + 1)) ^ ((uint64_t)micro << 40);
    return pt_splitmix64(&s);
}

// Up to grad_accum micro-batches, clip, AdamW. r gets the step's record
// (eval and timing filled in by the caller). A non-finite loss or gradient
// norm fails before the parameters change. A stop or cancel asked before a
// micro-batch drops the step (*ended says which; nothing changed).
static int train_step(pt_trainer *t, pt_train_record *r, int64_t *n_tokens, int *ended, pt_err *err) {
    const pt_train_params *p = &t->p;
    pt_ckpt_state *cs = &t->cs;
    int step = cs->global_step;   // 0-based index of this update
    int n_micro = cs->micro_per_epoch - cs->micro;
    if (n_micro > p->grad_accum) n_micro = p->grad_accum;
    float *grads = train_graph_grads(t->g);
    train_graph_zero_grads(t->g);
    double loss_sum = 0.0;
    int n_loss = 0, rc;
    *n_tokens = 0;
    *ended = GO;
    int epoch0 = cs->epoch, micro0 = cs->micro;
    t->data_epoch = cs->epoch + 1;
    for (int j = 0; j < n_micro; j++) {
        if ((*ended = requests(t)) != GO) {
            cs->epoch = epoch0;
            cs->micro = micro0;
            return PT_OK;
        }
        apply_threads(t);
        if (t->order_epoch != cs->epoch) make_order(t, cs->epoch);
        int first = cs->micro * t->B, n = t->train->n - first < t->B ? t->train->n - first : t->B;
        int targets = fill_batch(t, t->train, t->order + first, n, n_tokens);
        cs->micro++;
        if (targets == 0) continue;   // every answer cut off by max_seq_len: nothing to learn
        float loss;
        int nt;
        rc = train_graph_step(t->g, t->tokens, t->mask, t->lengths, 1, 1.0f / (float)n_micro,
                              dropout_seed(cs->seed, step, j), &loss, &nt, err);
        if (rc) return rc;
        if (nt > 0) {
            loss_sum += loss;
            n_loss++;
        }
    }
    if (cs->micro >= cs->micro_per_epoch) {
        cs->epoch++;
        cs->micro = 0;
    }
    cs->tokens_seen += *n_tokens;
    r->step = step + 1;
    r->loss = n_loss ? (float)(loss_sum / n_loss) : NAN;
    r->lr = (float)lr_schedule(p->sched, p->lr, step, p->warmup_steps, cs->total_steps);
    r->eval_loss = NAN;
    if (n_loss == 0)
        return pt_fail(err, PT_ERR_ARG, "step %d: no target tokens in any of its batches (are the answers cut off by max_seq_len %d?)",
                       step + 1, t->T);
    if (!isfinite(r->loss))
        return pt_fail(err, PT_ERR_RANGE, "step %d: loss is %s", step + 1, isnan(r->loss) ? "NaN" : "Inf");
    double norm = grad_clip_norm(t->be, grads, t->a->n_params, p->max_grad_norm);
    r->grad_norm = (float)norm;
    if (!isfinite(norm))
        return pt_fail(err, PT_ERR_RANGE, "step %d: gradient norm is %s", step + 1, isnan(norm) ? "NaN" : "Inf");
    adamw_step(&t->opt, train_graph_params(t->g), grads, lr_schedule(p->sched, p->lr, step, p->warmup_steps, cs->total_steps));
    rc = t->be->ops->check(t->be, err);
    if (rc) return rc;
    cs->global_step++;
    cs->last_loss = r->loss;
    return PT_OK;
}

// Mean loss over every target token of the eval set (forward only). A stop
// or cancel before a batch ends it early (*ended; *out NaN).
static int evaluate(pt_trainer *t, float *out, int *ended, pt_err *err) {
    const pt_dataset *d = t->eval;
    double sum = 0.0;
    int64_t n_targets = 0, n_tokens = 0;
    int idx[256];
    *out = NAN;
    for (int first = 0; first < d->n; first += t->B) {
        if ((*ended = requests(t)) != GO) return PT_OK;
        apply_threads(t);
        int n = d->n - first < t->B ? d->n - first : t->B;
        for (int b = 0; b < n; b++) idx[b] = first + b;
        if (fill_batch(t, d, idx, n, &n_tokens) == 0) continue;
        float loss;
        int nt;
        int rc = train_graph_step(t->g, t->tokens, t->mask, t->lengths, 0, 0.0f, 0, &loss, &nt, err);
        if (rc) return rc;
        sum += (double)loss * nt;
        n_targets += nt;
    }
    *out = n_targets ? (float)(sum / (double)n_targets) : NAN;
    return PT_OK;
}

// ---- log.jsonl, trainer_state.json, checkpoints ----------------------------

static int log_write(pt_trainer *t, const pt_train_record *r, pt_err *err) {
    fprintf(t->log, "{\"step\": %d, \"loss\": %.9g, \"lr\": %.9g, \"grad_norm\": %.9g", r->step, r->loss, r->lr, r->grad_norm);
    if (!isnan(r->eval_loss)) fprintf(t->log, ", \"eval_loss\": %.9g", r->eval_loss);
    fprintf(t->log, ", \"tokens_per_s\": %.3f, \"elapsed_s\": %.3f}\n", r->tokens_per_s, r->elapsed_s);
    if (fflush(t->log) != 0 || ferror(t->log))
        return pt_fail(err, PT_ERR_IO, "%s/log.jsonl: write failed: %s", t->p.out_dir, strerror(errno ? errno : EIO));
    return PT_OK;
}

static void history_add(pt_trainer *t, const pt_train_record *r) {
    pt_ckpt_state *cs = &t->cs;
    double epoch = cs->epoch + (double)cs->micro / cs->micro_per_epoch;
    cJSON *h = cJSON_CreateObject();
    cJSON_AddNumberToObject(h, "epoch", epoch);
    cJSON_AddNumberToObject(h, "grad_norm", r->grad_norm);
    cJSON_AddNumberToObject(h, "learning_rate", r->lr);
    cJSON_AddNumberToObject(h, "loss", r->loss);
    cJSON_AddNumberToObject(h, "step", r->step);
    cJSON_AddItemToArray(cs->log_history, h);
    if (!isnan(r->eval_loss)) {
        h = cJSON_CreateObject();
        cJSON_AddNumberToObject(h, "epoch", epoch);
        cJSON_AddNumberToObject(h, "eval_loss", r->eval_loss);
        cJSON_AddNumberToObject(h, "step", r->step);
        cJSON_AddItemToArray(cs->log_history, h);
    }
}

static int params_finite(const pt_adapter *a) {
    for (size_t i = 0; i < a->n_params; i++)
        if (!isfinite(a->params[i])) return 0;
    return 1;
}

static int save_checkpoint(pt_trainer *t, pt_err *err) {
    char tmp[1100], final[1100], path[1200];
    int step = t->cs.global_step;
    set_message(t, "saving checkpoint-%d", step);
    train_graph_download_params(t->g);
    if (!params_finite(t->a))
        return pt_fail(err, PT_ERR_RANGE, "step %d: parameters are not finite after the update", step);
    int rc = ckpt_dir_begin(t->p.out_dir, step, tmp, sizeof(tmp), err);
    if (rc) return rc;
    if (t->cs.best_step == step) str_fmt(t->cs.best_checkpoint, sizeof(t->cs.best_checkpoint), "%s/checkpoint-%d", t->p.out_dir, step);
    rc = adapter_save(t->a, t->m, tmp, err);
    snprintf(path, sizeof(path), "%s/optimizer.bin", tmp);
    if (!rc) rc = optimizer_save(&t->opt, path, err);
    snprintf(path, sizeof(path), "%s/trainer_state.json", tmp);
    if (!rc) rc = ckpt_state_save(&t->cs, &t->p, path, err);
    if (!rc) rc = ckpt_dir_commit(t->p.out_dir, step, tmp, final, sizeof(final), err);
    if (rc) {
        pt_dir_remove(tmp);
        return rc;
    }
    ckpt_rotate(t->p.out_dir, step, KEEP_CHECKPOINTS);
    t->saved_step = step;
    pthread_mutex_lock(&t->mu);
    str_fmt(t->st.last_checkpoint, sizeof(t->st.last_checkpoint), "%s", final);
    pthread_mutex_unlock(&t->mu);
    emit_text(t, PT_TEV_CHECKPOINT, final);
    return PT_OK;
}

// ---- the job ---------------------------------------------------------------

// The step boundary: the host may copy the parameters now.
static void step_hook(pt_trainer *t) {
    if (t->env.on_step) t->env.on_step(t->env.ud, t->be, train_graph_params(t->g), t->a->n_params, t->cs.global_step);
}

// The loop over steps; *ended: GO (ran to the end), STOP or CANCEL.
static int steps(pt_trainer *t, int *ended, pt_err *err) {
    const pt_train_params *p = &t->p;
    pt_ckpt_state *cs = &t->cs;
    int rc = PT_OK;
    *ended = GO;
    while (cs->global_step < cs->total_steps) {
        double t0 = pt_now_s();
        pt_train_record r;
        int64_t n_tokens;
        rc = train_step(t, &r, &n_tokens, ended, err);
        if (rc || *ended) return rc;
        step_hook(t);
        double t1 = pt_now_s();
        r.tokens_per_s = t1 > t0 ? (double)n_tokens / (t1 - t0) : 0.0;
        int step = cs->global_step;
        int last = step == cs->total_steps;
        if (t->eval && t->eval->n > 0 && ((p->eval_every > 0 && step % p->eval_every == 0) || last)) {
            set_message(t, "evaluating at step %d", step);
            rc = evaluate(t, &r.eval_loss, ended, err);
            if (rc) return rc;
            if (isfinite(r.eval_loss) && (isnan(cs->best_metric) || r.eval_loss < cs->best_metric)) {
                cs->best_metric = r.eval_loss;
                cs->best_step = step;
            }
        }
        double dt = pt_now_s() - t0;
        cs->elapsed_s += dt;
        t->run_active_s += dt;
        r.elapsed_s = cs->elapsed_s;
        history_add(t, &r);
        rc = log_write(t, &r, err);
        if (rc) return rc;
        publish(t, &r);
        if (*ended) return PT_OK;   // asked during the eval: the step itself is done
        if (p->save_every > 0 && step % p->save_every == 0 && !last) {
            double s0 = pt_now_s();
            rc = save_checkpoint(t, err);
            if (rc) return rc;
            t->run_active_s += pt_now_s() - s0;
        }
        set_message(t, "training");
    }
    return PT_OK;
}

// The saves at the end of a run that finished or was stopped.
static int finish(pt_trainer *t, pt_err *err) {
    const pt_train_params *p = &t->p;
    pt_ckpt_state *cs = &t->cs;
    int rc;
    if (cs->global_step == t->start_step && cs->global_step < cs->total_steps)
        return PT_OK;                                      // stopped before any step: nothing new to save
    train_graph_download_params(t->g);                    // the host adapter gets the trained values
    if (cs->global_step == t->start_step) {               // resumed at the end: only the final adapter is missing
        set_message(t, "saving the adapter to %s", p->out_dir);
        return adapter_save(t->a, t->m, p->out_dir, err);
    }
    if (t->saved_step != cs->global_step) {
        rc = save_checkpoint(t, err);
        if (rc) return rc;
    }
    set_message(t, "saving the adapter to %s", p->out_dir);
    return adapter_save(t->a, t->m, p->out_dir, err);
}

static int setup(pt_trainer *t, pt_err *err);

int trainer_run(pt_trainer *t, pt_err *err) {
    pt_err e = {0};
    int ended = GO;
    int rc = setup(t, &e);
    if (!rc) {
        ended = requests(t);   // asked while it was setting up
        if (ended == GO) {
            set_state(t, PT_TRAIN_RUNNING);
            set_message(t, "training");
            rc = steps(t, &ended, &e);
        }
    }
    if (!rc && ended != CANCEL) {
        if (ended == STOP) set_state(t, PT_TRAIN_STOPPING);
        rc = finish(t, &e);
    } else if (!rc && t->g) {
        train_graph_download_params(t->g);   // cancelled: the adapter in memory is the last finished step, unsaved
    }
    if (t->log) fclose(t->log);
    t->log = NULL;
    pt_train_event done = {.kind = PT_TEV_DONE, .status = rc};
    pthread_mutex_lock(&t->mu);
    t->rc = rc;
    t->err = e;
    t->st.step = t->cs.global_step;
    t->st.eta_s = 0;
    if (rc) {
        t->st.state = PT_TRAIN_FAILED;
        char where[1100];
        if (t->st.last_checkpoint[0]) str_fmt(where, sizeof(where), "last good checkpoint: %s", t->st.last_checkpoint);
        else str_fmt(where, sizeof(where), "no checkpoint saved");
        pt_fail(&t->err, e.code, "%s; stopped, %s", e.msg, where);
        str_fmt(t->st.message, sizeof(t->st.message), "%s", t->err.msg);
    } else if (ended == CANCEL) {
        t->st.state = PT_TRAIN_CANCELLED;
        str_fmt(t->st.message, sizeof(t->st.message), "cancelled at step %d of %d; nothing more saved (last checkpoint: %s)",
                t->cs.global_step, t->cs.total_steps, t->st.last_checkpoint[0] ? t->st.last_checkpoint : "none");
    } else {
        t->st.state = PT_TRAIN_DONE;
        if (t->cs.global_step < t->cs.total_steps)
            str_fmt(t->st.message, sizeof(t->st.message), "stopped at step %d of %d; checkpoint: %s", t->cs.global_step,
                     t->cs.total_steps, t->st.last_checkpoint[0] ? t->st.last_checkpoint : "none");
        else
            str_fmt(t->st.message, sizeof(t->st.message), "done: %d steps; adapter in %s", t->cs.global_step, t->p.out_dir);
    }
    done.state = t->st.state;
    str_fmt(done.text, sizeof done.text, "%s", t->st.message);
    if (rc && err) *err = t->err;
    pthread_mutex_unlock(&t->mu);
    emit(t, &done);
    return rc;
}

static void *job_main(void *arg) {
    trainer_run(arg, NULL);
    return NULL;
}

// ---- start, resume, join ---------------------------------------------------

int train_params_problems(const pt_train_params *p, pt_problem *out, int cap) {
    int n = 0;
#define BAD(field, ...) pt_problem_add(out, cap, &n, field, 0, __VA_ARGS__)
    if (p->batch < 1 || p->batch > 256) BAD("batch", "batch %d: must be 1..256", p->batch);
    if (p->grad_accum < 1) BAD("grad_accum", "grad_accum %d: must be >= 1", p->grad_accum);
    if (p->max_steps <= 0 && p->epochs <= 0) BAD("epochs", "neither epochs nor max_steps is positive");
    if (p->max_steps < 0) BAD("max_steps", "max_steps %d: must be >= 0 (0: use epochs)", p->max_steps);
    if (!isfinite(p->lr) || p->lr < 0) BAD("lr", "learning rate %g: must be >= 0", p->lr);
    if (p->warmup_steps < 0) BAD("warmup_steps", "warmup_steps %d: must be >= 0", p->warmup_steps);
    if (!(p->beta1 >= 0 && p->beta1 < 1)) BAD("beta1", "AdamW beta1 %g: must be in [0, 1)", p->beta1);
    if (!(p->beta2 >= 0 && p->beta2 < 1)) BAD("beta2", "AdamW beta2 %g: must be in [0, 1)", p->beta2);
    if (!(p->eps >= 0) || isinf(p->eps)) BAD("eps", "AdamW eps %g: must be >= 0", p->eps);
    if (!(p->weight_decay >= 0) || isinf(p->weight_decay)) BAD("weight_decay", "weight_decay %g: must be >= 0", p->weight_decay);
    if (!(p->max_grad_norm >= 0) && !(p->max_grad_norm < 0)) BAD("max_grad_norm", "max_grad_norm is not a number");
    if (p->max_seq_len == 1 || p->max_seq_len < 0)
        BAD("max_seq_len", "max_seq_len %d: a row needs at least 2 tokens (0: no limit)", p->max_seq_len);
    if (p->save_every < 0) BAD("save_every", "save_every %d: must be >= 0", p->save_every);
    if (p->eval_every < 0) BAD("eval_every", "eval_every %d: must be >= 0", p->eval_every);
    if (!(p->eval_frac >= 0 && p->eval_frac < 1)) BAD("eval_frac", "eval_frac %g: must be in [0, 1)", p->eval_frac);
#undef BAD
    return n;
}

static int check_params(const pt_train_params *p, const pt_adapter *a, const pt_dataset *train, pt_err *err) {
    if (!train || train->n <= 0) return pt_fail(err, PT_ERR_ARG, "the training set is empty");
    if (!a || a->n_params == 0) return pt_fail(err, PT_ERR_ARG, "the adapter has no trainable parameters");
    pt_problem first;
    if (train_params_problems(p, &first, 1)) return pt_fail(err, PT_ERR_ARG, "%s", first.msg);
    return PT_OK;
}

// Adapter weights, optimizer moments and position from a checkpoint folder.
static int load_resume(pt_trainer *t, pt_err *err) {
    const char *dir = t->p.resume_dir;
    char path[1200], warn[256] = "";
    pt_adapter tmp;
    int loaded = 0;
    pt_ckpt_state s;
    snprintf(path, sizeof(path), "%s/trainer_state.json", dir);
    int rc = ckpt_state_load(&s, path, err);
    if (rc) return rc;
    if (s.n_train != t->cs.n_train || s.batch != t->cs.batch || s.grad_accum != t->cs.grad_accum) {
        rc = pt_fail(err, PT_ERR_ARG, "%s: trained on %d examples, batch %d x grad_accum %d; now %d examples, %d x %d: "
                     "the data order would not continue", dir, s.n_train, s.batch, s.grad_accum,
                     t->cs.n_train, t->cs.batch, t->cs.grad_accum);
        goto fail;
    }
    if (s.micro >= t->cs.micro_per_epoch) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: data position %d is past the epoch's %d micro-batches", dir, s.micro,
                     t->cs.micro_per_epoch);
        goto fail;
    }
    rc = adapter_load(&tmp, t->m, dir, warn, sizeof(warn), err);
    if (rc) goto fail;
    loaded = 1;
    int same = tmp.n_params == t->a->n_params && tmp.n_layer == t->a->n_layer;
    for (int i = 0; same && i < t->a->n_layer * PT_LIN_COUNT; i++) {
        const pt_lora_module *x = &tmp.mods[i], *y = &t->a->mods[i];
        same = (x->A == NULL) == (y->A == NULL) && x->r == y->r && x->in == y->in && x->out == y->out &&
               (x->A == NULL || (x->A - tmp.params == y->A - t->a->params && x->B - tmp.params == y->B - t->a->params));
    }
    if (!same) {
        rc = pt_fail(err, PT_ERR_ARG, "%s: its adapter has other modules or ranks than this run's LoRA config", dir);
        goto fail;
    }
    memcpy(t->a->params, tmp.params, sizeof(float) * tmp.n_params);
    train_graph_upload_params(t->g);
    snprintf(path, sizeof(path), "%s/optimizer.bin", dir);
    rc = optimizer_load(&t->opt, path, err);
    if (rc) goto fail;
    if (t->opt.step != s.global_step) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: optimizer.bin is at step %lld, trainer_state.json at %d", dir,
                     (long long)t->opt.step, s.global_step);
        goto fail;
    }
    ckpt_state_free(&t->cs);
    s.total_steps = t->cs.total_steps;   // this run's length (epochs or max_steps may have changed)
    s.micro_per_epoch = t->cs.micro_per_epoch;
    t->cs = s;
    s.log_history = NULL;
    // A checkpoint at (or past) the end: the run was stopped after its last
    // checkpoint but before the final adapter was written; run() writes it.
    pthread_mutex_lock(&t->mu);   // the status is read by other threads
    str_fmt(t->st.last_checkpoint, sizeof(t->st.last_checkpoint), "%s", dir);
    str_fmt(t->st.message, sizeof(t->st.message), "resumed from %s at step %d%s%s", dir, s.global_step,
             warn[0] ? "; " : "", warn);
    pthread_mutex_unlock(&t->mu);
    if (warn[0]) emit_text(t, PT_TEV_WARNING, warn);
fail:
    ckpt_state_free(&s);
    if (loaded) adapter_free(&tmp);
    return rc;
}

void trainer_free(pt_trainer *t) {
    if (!t) return;
    if (t->log) fclose(t->log);
    train_graph_free(t->g);
    adamw_free(&t->opt);           // both hold backend memory: before the backend goes
    if (t->be && t->own_be) backend_destroy(t->be);
    ckpt_state_free(&t->cs);
    free(t->tokens);
    free(t->mask);
    free(t->lengths);
    free(t->order);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    free(t);
}

int trainer_create(pt_trainer **out, pt_model *m, pt_adapter *a, pt_dataset *train, pt_dataset *eval,
                   const pt_train_params *p, const pt_train_env *env, pt_err *err) {
    *out = NULL;
    int rc = check_params(p, a, train, err);
    if (rc) return rc;
    rc = pt_dir_check_writable(p->out_dir, err);
    if (rc) return rc;
    pt_trainer *t = calloc(1, sizeof(*t));
    if (!t) return pt_fail(err, PT_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    t->m = m;
    t->a = a;
    t->train = train;
    t->eval = eval && eval->n > 0 ? eval : NULL;
    t->p = *p;
    if (env) t->env = *env;
    t->order_epoch = -1;
    t->saved_step = -1;
    ckpt_state_init(&t->cs);

    // T: the longest example, at most max_seq_len
    int longest = 2;
    for (int i = 0; i < train->n; i++) longest = train->ex[i].n > longest ? train->ex[i].n : longest;
    for (int i = 0; t->eval && i < t->eval->n; i++) longest = t->eval->ex[i].n > longest ? t->eval->ex[i].n : longest;
    t->B = p->batch;
    t->T = p->max_seq_len > 1 && p->max_seq_len < longest ? p->max_seq_len : longest;

    pt_ckpt_state *cs = &t->cs;
    cs->seed = p->seed;
    cs->n_train = train->n;
    cs->batch = p->batch;
    cs->grad_accum = p->grad_accum;
    cs->micro_per_epoch = (train->n + p->batch - 1) / p->batch;
    int steps_per_epoch = (cs->micro_per_epoch + p->grad_accum - 1) / p->grad_accum;
    cs->total_steps = p->max_steps > 0 ? p->max_steps : steps_per_epoch * p->epochs;
    t->n_threads = p->n_threads > 0 ? p->n_threads : (int)sysconf(_SC_NPROCESSORS_ONLN);

    t->st.state = PT_TRAIN_STARTING;
    snprintf(t->st.message, sizeof(t->st.message), "setting up");
    t->st.step = 0;
    t->st.total_steps = cs->total_steps;
    t->st.last.eval_loss = NAN;
    t->st.last.loss = NAN;
    t->st.last_eval_loss = NAN;
    *out = t;
    return PT_OK;
}

// The heavy part, on the job's thread: backend, graph, optimizer, resume.
static int setup(pt_trainer *t, pt_err *err) {
    const pt_train_params *p = &t->p;
    pt_ckpt_state *cs = &t->cs;
    int rc = PT_OK;
    if (t->env.be) {
        t->be = t->env.be;
    } else {
        rc = backend_create(&t->be, p->device[0] ? p->device : "auto", t->n_threads, err);
        if (rc) return rc;
        t->own_be = 1;
    }
    apply_threads(t);
    pthread_mutex_lock(&t->mu);
    t->be->ops->describe(t->be, t->st.device, sizeof t->st.device);
    pthread_mutex_unlock(&t->mu);
    rc = train_graph_create_shared(&t->g, t->be, t->m, t->env.bw, t->a, t->env.adev, t->B, t->T, err);
    if (!rc) rc = adamw_init(&t->opt, t->be, t->a->n_params, p->beta1, p->beta2, p->eps, p->weight_decay, err);
    if (rc) return rc;
    t->tokens = malloc(sizeof(int32_t) * (size_t)t->B * t->T);
    t->mask = malloc((size_t)t->B * t->T);
    t->lengths = malloc(sizeof(int) * (size_t)t->B);
    t->order = malloc(sizeof(int) * (size_t)t->train->n);
    if (!t->tokens || !t->mask || !t->lengths || !t->order)
        return pt_fail(err, PT_ERR_NOMEM, "out of memory for the batch buffers");
    char log_path[1100];
    snprintf(log_path, sizeof(log_path), "%s/log.jsonl", p->out_dir);
    if (p->resume_dir[0]) {
        set_message(t, "loading %s", p->resume_dir);
        rc = load_resume(t, err);
        if (!rc) rc = log_truncate(log_path, cs->global_step, err);
        if (rc) return rc;
    }
    t->start_step = cs->global_step;
    t->log = fopen(log_path, p->resume_dir[0] ? "a" : "w");
    if (!t->log) return pt_fail(err, PT_ERR_IO, "%s: cannot open: %s", log_path, strerror(errno));
    pthread_mutex_lock(&t->mu);
    t->st.step = cs->global_step;
    t->st.last.loss = cs->last_loss;
    pthread_mutex_unlock(&t->mu);
    step_hook(t);
    return PT_OK;
}

int trainer_start(pt_trainer **out, pt_model *m, pt_adapter *a, pt_dataset *train, pt_dataset *eval,
                  const pt_train_params *p, const pt_train_env *env, pt_err *err) {
    pt_trainer *t;
    int rc = trainer_create(&t, m, a, train, eval, p, env, err);
    if (rc) return rc;
    if (pthread_create(&t->thread, NULL, job_main, t) != 0) {
        rc = pt_fail(err, PT_ERR_INTERNAL, "cannot start the training thread: %s", strerror(errno));
        trainer_free(t);
        return rc;
    }
    t->thread_started = 1;
    *out = t;
    return PT_OK;
}

int trainer_join(pt_trainer *t, pt_err *err) {
    if (!t) return PT_OK;
    if (t->thread_started) pthread_join(t->thread, NULL);
    int rc = t->rc;
    if (rc && err) *err = t->err;
    trainer_free(t);
    return rc;
}
