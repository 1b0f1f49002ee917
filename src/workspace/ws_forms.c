// ws_forms.c - what the LoRA and training forms need: a LoraConfig from
// command-line style values or adapter_config.json, which modules it
// targets, every problem tagged with its field, and the memory plan.
#include "workspace/ws_internal.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "train/train_graph.h"

void pt_lora_flags_default(pt_lora_flags *f) {
    memset(f, 0, sizeof *f);
    f->r = INT_MIN;
    f->alpha = f->dropout = NAN;
}

// "a, b,c" -> {"a", "b", "c"} (malloc'd strings in a malloc'd array).
static int split_list(const char *list, char ***out, int *n_out) {
    int n = 1;
    for (const char *p = list; *p; p++) n += *p == ',';
    if (!(*out = calloc((size_t)n, sizeof **out))) return -1;
    *n_out = 0;
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        const char *s = p, *e = p + len;
        while (s < e && (*s == ' ' || *s == '\t')) s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
        if (e > s) {
            if (!((*out)[*n_out] = strndup(s, (size_t)(e - s)))) return -1;
            (*n_out)++;
        }
        p += len;
        if (*p == ',') p++;
    }
    return 0;
}

static void free_list(char ***v, int *n) {
    for (int i = 0; i < *n; i++) free((*v)[i]);
    free(*v);
    *v = NULL;
    *n = 0;
}

// target_modules as a list, "all-linear", or the regex form.
static int set_targets(pt_lora_config *c, const char *list, const char *regex, pt_err *err) {
    free_list(&c->target_modules, &c->n_target_modules);
    free(c->target_regex);
    c->target_regex = NULL;
    c->target_all_linear = 0;
    if (regex) {
        if (!(c->target_regex = strdup(regex))) return pt_fail(err, PT_ERR_NOMEM, "out of memory");
        return PT_OK;
    }
    if (!strcmp(list, "all-linear")) {
        c->target_all_linear = 1;
        return PT_OK;
    }
    if (split_list(list, &c->target_modules, &c->n_target_modules)) return pt_fail(err, PT_ERR_NOMEM, "out of memory");
    if (!c->n_target_modules)
        return pt_fail(err, PT_ERR_ARG, "--target-modules: no module names in '%s' (e.g. q_proj,v_proj or all-linear)", list);
    return PT_OK;
}

int pt_lora_config_read(pt_lora_config *c, const char *path, pt_err *err) {
    char *json = NULL;
    lora_config_defaults(c);
    int rc = pt_read_file(path, &json, NULL, err);
    if (!rc) rc = lora_config_from_json(c, json, path, err);
    free(json);
    return rc;
}

int pt_lora_config_write(const pt_lora_config *c, const char *path, pt_err *err) {
    char *json = lora_config_to_json(c);
    if (!json) return pt_fail(err, PT_ERR_NOMEM, "out of memory");
    int rc = pt_write_file_atomic(path, json, strlen(json), err);
    free(json);
    return rc;
}

int pt_lora_config_build(pt_lora_config *c, const pt_lora_flags *f, pt_err *err) {
    int rc;
    if (f->targets && f->target_regex) return pt_fail(err, PT_ERR_ARG, "give --target-modules or --target-regex, not both");
    if (f->config) {
        if ((rc = pt_lora_config_read(c, f->config, err))) return rc;
        c->inference_mode = 0;
    } else {
        lora_config_defaults(c);
        c->r = 8;
        c->lora_alpha = 16.0f;
        c->lora_dropout = 0.05f;
    }
    if (f->r != INT_MIN) c->r = f->r;
    if (!isnan(f->alpha)) c->lora_alpha = f->alpha;
    if (!isnan(f->dropout)) c->lora_dropout = f->dropout;
    if (f->rslora) c->use_rslora = 1;
    if ((f->targets || f->target_regex) && (rc = set_targets(c, f->targets, f->target_regex, err))) goto fail;
    if (f->modules_to_save) {
        free_list(&c->modules_to_save, &c->n_modules_to_save);
        if (split_list(f->modules_to_save, &c->modules_to_save, &c->n_modules_to_save)) {
            rc = pt_fail(err, PT_ERR_NOMEM, "out of memory");
            goto fail;
        }
    }
    pt_err e = {0};
    if ((rc = lora_config_validate(c, &e))) {
        pt_fail(err, rc, "invalid LoRA config: %s", e.msg);
        goto fail;
    }
    return PT_OK;
fail:
    lora_config_free(c);
    return rc;
}

void pt_lora_config_describe_targets(const pt_lora_config *c, char *buf, size_t cap) { lora_describe_targets(c, buf, cap); }

// ---- against the model -------------------------------------------------------------

int pt_ws_lora_match(pt_ws *ws, const pt_lora_config *cfg, uint8_t *matched, int cap, int *n_matched,
                     size_t *n_params, pt_err *err) {
    pthread_mutex_lock(&ws->mu);
    int rc = ws_need_model(ws, err);
    pt_lora_module *mods = NULL;
    int L = rc ? 0 : ws->model.cfg.n_layer;
    if (!rc && !(mods = calloc((size_t)L * PT_LIN_COUNT, sizeof *mods))) rc = pt_fail(err, PT_ERR_NOMEM, "out of memory");
    if (!rc) rc = lora_match(&ws->model, cfg, mods, n_matched, n_params, err);
    for (int i = 0, k = 0; !rc && matched && i < L * PT_LIN_COUNT; i++)   // in pt_ws_modules' order
        if (ws->model.cfg.desc->modules[i % PT_LIN_COUNT] && k < cap) matched[k++] = mods[i].r > 0;
    free(mods);
    pthread_mutex_unlock(&ws->mu);
    return rc;
}

// The longest row the planned job sees, and its batch.
static void plan_shape(const pt_train_params *p, int seq, const pt_model *m, int *B, int *T) {
    *B = p->batch > 0 ? p->batch : 1;
    *T = seq > 1 ? seq : p->max_seq_len > 1 ? p->max_seq_len : 512;
    if (p->max_seq_len > 1 && *T > p->max_seq_len) *T = p->max_seq_len;
    if (m->cfg.max_ctx > 0 && *T > m->cfg.max_ctx) *T = m->cfg.max_ctx;
}

// Under ws->mu.
static int plan(pt_ws *ws, const pt_lora_config *cfg, const pt_train_params *p, int seq, pt_ws_plan *out, pt_err *err) {
    memset(out, 0, sizeof *out);
    const pt_model *m = &ws->model;
    pt_lora_module *mods = calloc((size_t)m->cfg.n_layer * PT_LIN_COUNT, sizeof *mods);
    if (!mods) return pt_fail(err, PT_ERR_NOMEM, "out of memory");
    size_t n_params = 0;
    int rc = lora_match(m, cfg, mods, NULL, &n_params, err);
    if (!rc) {
        int B, T;
        plan_shape(p, seq, m, &B, &T);
        pt_train_plan tp;
        // the job's lane gets a share of the budget beside other work; plan for all of it
        train_graph_plan(m, mods, n_params, cfg->lora_dropout, B, T, ws->be, ws->budget, &tp);
        out->trainable = n_params;
        out->trainable_pct = m->n_params ? 100.0 * (double)n_params / (double)m->n_params : 0.0;
        out->base = ws->be->ops->host_memory ? 0 : tp.base;
        out->adapter = tp.adapter;
        out->grads = tp.grads;
        out->moments = tp.moments;
        out->activations = tp.activations;
        out->scratch = tp.scratch;
        // the job publishes each step into a snapshot nobody reads while the newest is read: two
        out->snapshots = 2 * tp.adapter;
        out->job = tp.job + out->snapshots;
        out->total = tp.total + out->snapshots;
        out->device_free = ws->be->ops->mem_available(ws->be);
        out->fits = out->device_free == SIZE_MAX || tp.job <= out->device_free;
        out->batch = B;
        out->seq = T;
    }
    free(mods);
    return rc;
}

int pt_ws_plan_train(pt_ws *ws, const pt_lora_config *cfg, const pt_train_params *params, int seq, pt_ws_plan *out,
                     pt_err *err) {
    pthread_mutex_lock(&ws->mu);
    int rc = ws_need_model(ws, err);
    if (!rc) rc = plan(ws, cfg, params, seq, out, err);
    pthread_mutex_unlock(&ws->mu);
    return rc;
}

int pt_ws_check(pt_ws *ws, const pt_lora_config *cfg, const pt_train_params *params, pt_problem *out, int cap) {
    int n = 0;
    pthread_mutex_lock(&ws->mu);
    pt_err e = {0};
    if (ws_need_model(ws, &e)) {
        pt_problem_add(out, cap, &n, "model", 0, "%s", e.msg);
        pthread_mutex_unlock(&ws->mu);
        return n;
    }
    const pt_model *m = &ws->model;
    int nl = lora_check(m, cfg, out, cap);
    n = nl;
    if (params) {
        int np = train_params_problems(params, out ? out + (n < cap ? n : cap) : NULL, cap > n ? cap - n : 0);
        n += np;
        if (m->cfg.max_ctx > 0 && params->max_seq_len > m->cfg.max_ctx)
            pt_problem_add(out, cap, &n, "max_seq_len", 1, "max_seq_len %d is more than this model's context (%d): rows are "
                           "cut at %d", params->max_seq_len, m->cfg.max_ctx, m->cfg.max_ctx);
        int bad_lora = 0;   // the plan needs a config that matches
        for (int i = 0; i < nl && i < cap; i++) bad_lora |= !out[i].warning;
        pt_ws_plan pl;
        if (!np && !bad_lora && plan(ws, cfg, params, 0, &pl, &e) == PT_OK && !pl.fits)
            pt_problem_add(out, cap, &n, "batch", 0, "training needs %.0f MiB on %s at batch %d x %d tokens, %.0f MiB are "
                           "free: lower batch or max_seq_len", pl.job / 1048576.0, ws->be->ops->name, pl.batch, pl.seq,
                           pl.device_free / 1048576.0);
    }
    pthread_mutex_unlock(&ws->mu);
    return n;
}
