// ws_dataset.c - datasets opened for preview: loaded once as a task (every
// row rendered through the template and tokenized), then paged through
// without reading the file again: each row's tokens flagged trained or
// masked, where max_seq_len cuts it, and the rows that failed and why.
#include "workspace/ws_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ws_dataset {
    int id, task;
    int ready, status;
    char error[512];
    pt_dataset d;
    char template_name[64];
    char path[1024], system[1024];
    pt_columns columns;
    int has_system, max_seq_len, train_on_prompt;
    char tmpl_req[64];
    int has_tmpl;
};

static ws_dataset *find(pt_ws *ws, int id) { return ws_table_find((void *const *)ws->dss, ws->n_dss, id); }

int ws_dataset_users(pt_ws *ws) { return ws->n_dss; }

static int load_task(pt_ws *ws, ws_task *t, pt_err *err) {
    ws_dataset *ds = t->arg;   // owned by the table: arg is not freed (free_arg is a no-op)
    pt_chat_template *tmpl = NULL;
    char *model_system = NULL;
    pt_dataset d;
    memset(&d, 0, sizeof d);
    int rc = ws_template_open(ws, ds->has_tmpl ? ds->tmpl_req : NULL, &tmpl, &model_system, err);
    if (!rc) {
        pt_dataset_opts o = {.max_seq_len = ds->max_seq_len, .train_on_prompt = ds->train_on_prompt,
                             .default_system = ds->has_system ? ds->system : model_system,
                             .keep_going = 1, .keep_all = 1, .columns = &ds->columns};
        rc = dataset_load(&d, ds->path, ws->model.tok, tmpl, &o, err);
    }
    pthread_mutex_lock(&ws->mu);
    ds->ready = 1;
    ds->status = rc;
    if (tmpl) snprintf(ds->template_name, sizeof ds->template_name, "%s", template_name(tmpl));
    if (rc) {
        snprintf(ds->error, sizeof ds->error, "%s", err->msg);
    } else {
        ds->d = d;
        t->made = ds->id;
        ws_fmt(t->done_text, sizeof t->done_text, "%s: %d %s rows, %d failed", ds->path, d.n, d.format, d.n_fails);
    }
    pthread_cond_broadcast(&ws->cv);
    pthread_mutex_unlock(&ws->mu);
    template_free(tmpl);
    free(model_system);
    return rc;
}

static void keep_arg(void *arg) { (void)arg; }

int pt_ws_dataset_open(pt_ws *ws, const pt_dataset_opts_ws *o, int *id, int *task, pt_err *err) {
    *id = *task = 0;
    if (!o->path || !*o->path) return pt_fail(err, PT_ERR_ARG, "no dataset file given");
    ws_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return pt_fail(err, PT_ERR_NOMEM, "out of memory");
    int rc0 = dataset_resolve(o->path, o->dataset_name, &o->columns, ds->path, sizeof ds->path, &ds->columns, err);
    if (rc0) {
        free(ds);
        return rc0;
    }
    if (o->system) {
        ds->has_system = 1;
        snprintf(ds->system, sizeof ds->system, "%s", o->system);
    }
    if (o->template_name) {
        ds->has_tmpl = 1;
        snprintf(ds->tmpl_req, sizeof ds->tmpl_req, "%s", o->template_name);
    }
    ds->max_seq_len = o->max_seq_len;
    ds->train_on_prompt = o->train_on_prompt;
    pthread_mutex_lock(&ws->mu);
    int rc = ws_need_model(ws, err);
    if (!rc && !ws->model.tok) rc = pt_fail(err, PT_ERR_ARG, "this model has no tokenizer (a random shape)");
    if (!rc && ws_table_add((void ***)&ws->dss, &ws->n_dss, &ws->cap_dss, ds)) rc = pt_fail(err, PT_ERR_NOMEM, "out of memory");
    if (!rc) ds->id = ws_new_id(ws);
    pthread_mutex_unlock(&ws->mu);
    if (rc) {
        free(ds);
        return rc;
    }
    *id = ds->id;
    ds->task = *task = ws_task_post(ws, load_task, ds, keep_arg, err);
    if (!*task) {
        pthread_mutex_lock(&ws->mu);
        ws_table_remove((void **)ws->dss, &ws->n_dss, ds);
        pthread_mutex_unlock(&ws->mu);
        free(ds);
        *id = 0;
        return ws_code(err);
    }
    return PT_OK;
}

int pt_ws_dataset_info(pt_ws *ws, int id, pt_dataset_info *o) {
    memset(o, 0, sizeof *o);
    pthread_mutex_lock(&ws->mu);
    ws_dataset *ds = find(ws, id);
    if (ds) {
        o->ready = ds->ready;
        o->status = ds->status;
        snprintf(o->error, sizeof o->error, "%s", ds->error);
        snprintf(o->template_name, sizeof o->template_name, "%s", ds->template_name);
        if (ds->ready && !ds->status) {
            const pt_dataset *d = &ds->d;
            snprintf(o->format, sizeof o->format, "%s", d->format);
            o->rows = d->n;
            o->truncated = d->n_truncated;
            o->no_target = d->n_skipped;
            o->failed = d->n_fails;
            for (int i = 0; i < d->n; i++) {
                const pt_example *e = &d->ex[i];
                o->tokens += e->n;
                for (int k = 1; k < e->n; k++) o->target_tokens += e->loss[k];
                if (e->n > o->longest) o->longest = e->n;
            }
        }
    }
    pthread_mutex_unlock(&ws->mu);
    return ds ? PT_OK : PT_ERR_ARG;
}

// Under ws->mu: a loaded dataset, or an error.
static ws_dataset *loaded(pt_ws *ws, int id, pt_err *err) {
    ws_dataset *ds = find(ws, id);
    if (!ds) pt_fail(err, PT_ERR_ARG, "no dataset with id %d", id);
    else if (!ds->ready) pt_fail(err, PT_ERR_ARG, "%s is still loading", ds->path);
    else if (ds->status) pt_fail(err, ds->status, "%s", ds->error);
    return ds && ds->ready && !ds->status ? ds : NULL;
}

int pt_ws_dataset_row(pt_ws *ws, int id, int i, pt_dataset_row *o, pt_err *err) {
    memset(o, 0, sizeof *o);
    pthread_mutex_lock(&ws->mu);
    ws_dataset *ds = loaded(ws, id, err);
    int rc = ds ? PT_OK : ws_code(err);
    if (!rc && (i < 0 || i >= ds->d.n)) rc = pt_fail(err, PT_ERR_ARG, "row %d: the dataset has %d", i, ds->d.n);
    if (!rc) {
        const pt_example *e = &ds->d.ex[i];
        o->line = e->line;
        o->tokens = e->tokens;
        o->trained = e->loss;
        o->n_full = e->n_full;
        o->n_kept = e->n;
        o->no_target = e->no_target;
    }
    pthread_mutex_unlock(&ws->mu);
    return rc;
}

int pt_ws_dataset_failure(pt_ws *ws, int id, int i, int *line, char *why, size_t cap) {
    pthread_mutex_lock(&ws->mu);
    ws_dataset *ds = loaded(ws, id, NULL);
    int ok = ds && i >= 0 && i < ds->d.n_fails;
    if (ok) {
        *line = ds->d.fails[i].line;
        snprintf(why, cap, "%s", ds->d.fails[i].msg);
    }
    pthread_mutex_unlock(&ws->mu);
    return ok ? PT_OK : PT_ERR_ARG;
}

static void dataset_destroy(ws_dataset *ds) {
    dataset_free(&ds->d);
    free(ds);
}

// Waits for its load task (which writes into it) before freeing.
void pt_ws_dataset_close(pt_ws *ws, int id) {
    pthread_mutex_lock(&ws->mu);
    ws_dataset *ds = find(ws, id);
    while (ds && !ds->ready) {
        pthread_cond_wait(&ws->cv, &ws->mu);
        ds = find(ws, id);
    }
    if (ds) ws_table_remove((void **)ws->dss, &ws->n_dss, ds);
    pthread_mutex_unlock(&ws->mu);
    if (ds) dataset_destroy(ds);
}

void ws_datasets_destroy(pt_ws *ws) {
    // the task thread has stopped: no load is running, queued ones were told to quit
    pthread_mutex_lock(&ws->mu);
    for (int i = 0; i < ws->n_dss; i++) dataset_destroy(ws->dss[i]);
    ws->n_dss = 0;
    pthread_mutex_unlock(&ws->mu);
}
