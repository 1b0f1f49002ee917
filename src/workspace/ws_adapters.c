// ws_adapters.c - the registry of adapters over the workspace's base: each
// one's host copy and its one mirror on the device (shared by every chat,
// compare and job that uses it), its state and metadata, and - while a job
// trains it - snapshots taken at step boundaries, so a reader never sees a
// half-updated parameter block. Saving, loading, exporting and merging are
// tasks.
#include "workspace/ws_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lora/export.h"

ws_adapter *ws_adapter_get(pt_ws *ws, int id) { return ws_table_find((void *const *)ws->ads, ws->n_ads, id); }

ws_adapter *ws_adapter_new(pt_ws *ws, const char *name) {
    ws_adapter *ad = calloc(1, sizeof *ad);
    if (!ad) return NULL;
    if (ws_table_add((void ***)&ws->ads, &ws->n_ads, &ws->cap_ads, ad)) {
        free(ad);
        return NULL;
    }
    ad->id = ws_new_id(ws);
    ad->state = PT_AD_LOADING;
    ad->scale = 1.0f;
    ad->last_loss = NAN;
    ad->latest = -1;
    ad->base_matches = 1;
    snprintf(ad->name, sizeof ad->name, "%s", name ? name : "adapter");
    return ad;
}

void ws_adapter_free(pt_ws *ws, ws_adapter *ad) {
    (void)ws;
    for (int i = 0; i < WS_SNAPS; i++)
        if (ad->snap[i].ok) adapter_dev_free(&ad->snap[i].d);
    if (ad->have_dev) adapter_dev_free(&ad->dev);
    if (ad->have_a) adapter_free(&ad->a);
    free(ad);
}

void ws_adapters_clear(pt_ws *ws) {
    for (int i = 0; i < ws->n_ads; i++) ws_adapter_free(ws, ws->ads[i]);
    ws->n_ads = 0;
}

int ws_adapter_mirror(pt_ws *ws, ws_adapter *ad, pt_err *err) {
    int rc = adapter_dev_init(&ad->dev, ws->be, &ad->a, err);
    if (!rc) ad->have_dev = 1;
    return rc;
}

// The view a backend reads for the registry's own copy.
static const pt_adapter *mirror_view(ws_adapter *ad) { return ad->dev.mirrored ? &ad->dev.view : &ad->a; }

int ws_hold_take(pt_ws *ws, int id, float scale, ws_hold *h, pt_err *err) {
    memset(h, 0, sizeof *h);
    h->snap = -1;
    h->scale = 1.0f;
    if (id == PT_BASE) return PT_OK;
    ws_adapter *ad = ws_adapter_get(ws, id);
    if (!ad) return pt_fail(err, PT_ERR_ARG, "no adapter with id %d", id);
    if (ad->state == PT_AD_LOADING && !ad->job) return pt_fail(err, PT_ERR_ARG, "adapter %s is still loading", ad->name);
    if (ad->state == PT_AD_FAILED) return pt_fail(err, PT_ERR_ARG, "adapter %s failed to load: %s", ad->name, ad->error);
    if (ad->a.merged) return pt_fail(err, PT_ERR_ARG, "adapter %s is merged into the base: the base already answers with it", ad->name);
    h->ad = ad;
    h->scale = isnan(scale) ? ad->scale : scale;
    if (ad->job) {   // in training: its newest step's snapshot
        if (ad->latest < 0)
            return pt_fail(err, PT_ERR_ARG, "adapter %s is being set up for training; it can be used from its first step", ad->name);
        ws_snap *s = &ad->snap[ad->latest];
        s->refs++;
        h->snap = ad->latest;
        h->view = &s->d.view;
        h->version = ad->version * 1000003 + s->step;
    } else {
        h->view = mirror_view(ad);
        h->version = ad->version * 1000003;
    }
    h->touches_cache = adapter_touches_cache(h->view);
    return PT_OK;
}

void ws_hold_release(pt_ws *ws, ws_hold *h) {
    if (h->ad && h->snap >= 0) {
        ws_snap *s = &h->ad->snap[h->snap];
        s->refs--;
        if (!h->ad->job) ws_adapter_snaps_free(ws, h->ad);   // the job ended while we read it
    }
    memset(h, 0, sizeof *h);
    h->snap = -1;
}

void ws_adapter_snaps_free(pt_ws *ws, ws_adapter *ad) {
    (void)ws;
    for (int i = 0; i < WS_SNAPS; i++) {
        ws_snap *s = &ad->snap[i];
        if (s->ok && s->refs == 0) {
            adapter_dev_free(&s->d);
            s->ok = 0;
            if (ad->latest == i) ad->latest = -1;
        }
    }
}

// A job's step boundary (its thread): copy the parameters into a snapshot
// nobody reads, then make it the newest. When every one is read, this step
// is skipped (readers keep the step they have).
void ws_adapter_publish(pt_ws *ws, ws_adapter *ad, pt_backend *lane, const float *params, size_t n, int step) {
    pthread_mutex_lock(&ws->mu);
    int pick = -1;
    for (int i = 0; i < WS_SNAPS && pick < 0; i++)
        if (ad->snap[i].ok && ad->snap[i].refs == 0 && i != ad->latest) pick = i;
    for (int i = 0; i < WS_SNAPS && pick < 0; i++)
        if (!ad->snap[i].ok) pick = i;
    int make = pick >= 0 && !ad->snap[pick].ok;
    pthread_mutex_unlock(&ws->mu);
    if (pick < 0) return;
    ws_snap *s = &ad->snap[pick];   // not the newest and unread: only this thread touches it
    if (make) {
        pt_err err = {0};
        if (adapter_dev_init_copy(&s->d, lane, &ad->a, &err) != PT_OK) {
            ws_push_text(ws, PT_EV_WARNING, ad->job, ws_code(&err), "adapter %s: no snapshot of step %d: %s", ad->name, step, err.msg);
            return;
        }
    }
    lane->ops->copy(lane, s->d.params, params, sizeof(float) * n);
    lane->ops->synchronize(lane);   // complete before any other stream reads it
    pthread_mutex_lock(&ws->mu);
    s->ok = 1;
    s->step = step;
    ad->latest = pick;
    ad->step = step;
    pthread_mutex_unlock(&ws->mu);
}

// ---- create, load, save ----------------------------------------------------------

// "adapters/quill" -> "quill"; "x/foo.gguf" -> "foo"
static void name_of_path(const char *path, char *buf, size_t cap) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t s = n;
    while (s > 0 && path[s - 1] != '/') s--;
    size_t len = n - s;
    if (len > 5 && !strncmp(path + n - 5, ".gguf", 5)) len -= 5;
    snprintf(buf, cap, "%.*s", (int)len, path + s);
}

static int name_taken(pt_ws *ws, const char *name, const ws_adapter *self) {
    for (int i = 0; i < ws->n_ads; i++)
        if (ws->ads[i] != self && !strcmp(ws->ads[i]->name, name)) return 1;
    return 0;
}

// A name nobody has: base, base-2, base-3, ... (under ws->mu)
static void unique_name(pt_ws *ws, ws_adapter *ad, const char *base) {
    snprintf(ad->name, sizeof ad->name, "%s", base);
    for (int k = 2; name_taken(ws, ad->name, ad); k++) snprintf(ad->name, sizeof ad->name, "%.100s-%d", base, k);
}

// ad->a filled: set its metadata and mirror it; under no lock (nobody sees ad yet).
static int adapter_ready(pt_ws *ws, ws_adapter *ad, pt_err *err) {
    char fp[80];
    model_fingerprint(&ws->model, fp, sizeof fp);
    ad->base_matches = !ad->a.base_fingerprint[0] || !strcmp(ad->a.base_fingerprint, fp);
    return ws_adapter_mirror(ws, ad, err);
}

int pt_ws_adapter_create(pt_ws *ws, const pt_lora_config *cfg, uint64_t seed, const char *name, int *id, pt_err *err) {
    *id = 0;
    pthread_mutex_lock(&ws->mu);   // an entry in LOADING keeps the model from being replaced meanwhile
    int rc = ws_need_model(ws, err);
    ws_adapter *ad = rc ? NULL : ws_adapter_new(ws, name ? name : "adapter");
    if (!rc && !ad) rc = pt_fail(err, PT_ERR_NOMEM, "out of memory");
    if (ad) unique_name(ws, ad, name ? name : "adapter");
    pthread_mutex_unlock(&ws->mu);
    if (rc) return rc;
    pt_adapter a;
    rc = adapter_create(&a, &ws->model, cfg, seed, err);
    pthread_mutex_lock(&ws->mu);
    if (!rc) {
        ad->a = a;
        ad->have_a = 1;
        snprintf(ad->a.name, sizeof ad->a.name, "%s", ad->name);
        rc = adapter_ready(ws, ad, err);
    }
    if (rc) {
        ws_table_remove((void **)ws->ads, &ws->n_ads, ad);
        ws_adapter_free(ws, ad);
    } else {
        ad->state = PT_AD_IDLE;
        *id = ad->id;
    }
    pthread_mutex_unlock(&ws->mu);
    return rc;
}

typedef struct {
    int id;
    char path[1024];
} path_arg;

static int load_adapter_task(pt_ws *ws, ws_task *t, pt_err *err) {
    path_arg *a = t->arg;
    pt_adapter tmp;
    char warn[600] = "";
    struct stat st;
    int is_file = stat(a->path, &st) == 0 && S_ISREG(st.st_mode);
    // ws->model cannot change while an adapter is loading (the registry holds an entry)
    int rc = is_file ? adapter_load_gguf(&tmp, &ws->model, a->path, warn, sizeof warn, err)
                     : adapter_load(&tmp, &ws->model, a->path, warn, sizeof warn, err);
    pt_adapter_dev dev;   // mirrored before anyone can see it
    if (!rc && (rc = adapter_dev_init(&dev, ws->be, &tmp, err))) adapter_free(&tmp);
    pthread_mutex_lock(&ws->mu);
    ws_adapter *ad = ws_adapter_get(ws, a->id);   // a LOADING entry is never dropped
    if (!rc) {
        ad->a = tmp;
        ad->have_a = 1;
        ad->dev = dev;
        ad->have_dev = 1;
        char fp[80];
        model_fingerprint(&ws->model, fp, sizeof fp);
        ad->base_matches = !ad->a.base_fingerprint[0] || !strcmp(ad->a.base_fingerprint, fp);
    }
    if (ad) {
        if (rc) {
            ad->state = PT_AD_FAILED;
            snprintf(ad->error, sizeof ad->error, "%s", err->msg);
        } else {
            ad->state = PT_AD_IDLE;
            ad->saved = 1;
            snprintf(ad->path, sizeof ad->path, "%s", a->path);
            snprintf(ad->a.name, sizeof ad->a.name, "%s", ad->name);
            t->made = ad->id;
            ws_fmt(t->done_text, sizeof t->done_text, "adapter %s loaded from %s (r=%d, %zu parameters)", ad->name,
                     a->path, ad->a.cfg.r, ad->a.n_params);
        }
    }
    pthread_mutex_unlock(&ws->mu);
    if (!rc && warn[0]) ws_push_text(ws, PT_EV_WARNING, t->id, PT_OK, "%s", warn);
    return rc;
}

int pt_ws_adapter_load(pt_ws *ws, const char *path, int *id, int *task, pt_err *err) {
    *id = *task = 0;
    if (!path || !*path) return pt_fail(err, PT_ERR_ARG, "no adapter folder given");
    pthread_mutex_lock(&ws->mu);
    int rc = ws_need_model(ws, err);
    char name[128];
    name_of_path(path, name, sizeof name);
    ws_adapter *ad = rc ? NULL : ws_adapter_new(ws, name);
    if (!rc && !ad) rc = pt_fail(err, PT_ERR_NOMEM, "out of memory");
    if (ad) unique_name(ws, ad, name);
    pthread_mutex_unlock(&ws->mu);
    if (rc) return rc;
    path_arg *a = calloc(1, sizeof *a);
    if (a) {
        a->id = ad->id;
        snprintf(a->path, sizeof a->path, "%s", path);
    }
    *id = ad->id;
    *task = a ? ws_task_post(ws, load_adapter_task, a, NULL, err) : 0;
    if (!*task) {
        pthread_mutex_lock(&ws->mu);
        ws_table_remove((void **)ws->ads, &ws->n_ads, ad);
        ws_adapter_free(ws, ad);
        pthread_mutex_unlock(&ws->mu);
        *id = 0;
        return a ? ws_code(err) : pt_fail(err, PT_ERR_NOMEM, "out of memory");
    }
    return PT_OK;
}

// Under ws->mu: the adapter, usable for a task that reads its parameters.
static ws_adapter *ready_adapter(pt_ws *ws, int id, pt_err *err) {
    ws_adapter *ad = ws_adapter_get(ws, id);
    if (!ad) {
        pt_fail(err, PT_ERR_ARG, "no adapter with id %d", id);
        return NULL;
    }
    if (ad->job) {
        pt_fail(err, PT_ERR_ARG, "adapter %s is training: stop the job first (it saves the adapter)", ad->name);
        return NULL;
    }
    if (ad->state != PT_AD_IDLE && ad->state != PT_AD_IN_USE) {
        pt_fail(err, PT_ERR_ARG, "adapter %s is not ready (%s)", ad->name, ad->state == PT_AD_FAILED ? ad->error : "loading");
        return NULL;
    }
    return ad;
}

static int save_task(pt_ws *ws, ws_task *t, pt_err *err) {
    path_arg *a = t->arg;
    pthread_mutex_lock(&ws->mu);
    ws_adapter *ad = ready_adapter(ws, a->id, err);
    // the parameters only change through jobs, which cannot start while a
    // task holds the adapter: users++ keeps it from being dropped meanwhile
    if (ad) ad->users++;
    pthread_mutex_unlock(&ws->mu);
    if (!ad) return ws_code(err);
    int rc = adapter_save(&ad->a, &ws->model, a->path, err);
    pthread_mutex_lock(&ws->mu);
    ad->users--;
    if (!rc) {
        snprintf(ad->path, sizeof ad->path, "%s", a->path);
        ad->saved = 1;
        ws_fmt(t->done_text, sizeof t->done_text, "adapter %s saved to %s", ad->name, a->path);
        t->made = ad->id;
    }
    pthread_mutex_unlock(&ws->mu);
    return rc;
}

// Tasks on an adapter: path_arg {id, path}.
static int post_adapter_task(pt_ws *ws, ws_task_fn fn, int id, const char *path, int *task, pt_err *err) {
    *task = 0;
    pthread_mutex_lock(&ws->mu);
    ws_adapter *ad = ready_adapter(ws, id, err);
    pthread_mutex_unlock(&ws->mu);
    if (!ad) return ws_code(err);
    path_arg *a = calloc(1, sizeof *a);
    if (!a) return pt_fail(err, PT_ERR_NOMEM, "out of memory");
    a->id = id;
    snprintf(a->path, sizeof a->path, "%s", path ? path : "");
    *task = ws_task_post(ws, fn, a, NULL, err);
    return *task ? PT_OK : ws_code(err);
}

int pt_ws_adapter_save(pt_ws *ws, int id, const char *dir, int *task, pt_err *err) {
    if (!dir || !*dir) return pt_fail(err, PT_ERR_ARG, "save needs a folder");
    return post_adapter_task(ws, save_task, id, dir, task, err);
}

int pt_ws_adapter_rename(pt_ws *ws, int id, const char *name, pt_err *err) {
    if (!name || !*name || strlen(name) >= 128 || strchr(name, '/'))
        return pt_fail(err, PT_ERR_ARG, "a name is 1 to 127 characters, without '/'");
    pthread_mutex_lock(&ws->mu);
    ws_adapter *ad = ws_adapter_get(ws, id);
    int rc = PT_OK;
    if (!ad) rc = pt_fail(err, PT_ERR_ARG, "no adapter with id %d", id);
    else if (name_taken(ws, name, ad)) rc = pt_fail(err, PT_ERR_ARG, "another adapter is named %s", name);
    if (!rc) {
        snprintf(ad->name, sizeof ad->name, "%s", name);
        if (ad->have_a) snprintf(ad->a.name, sizeof ad->a.name, "%s", name);
    }
    pthread_mutex_unlock(&ws->mu);
    return rc;
}

int pt_ws_adapter_drop(pt_ws *ws, int id, pt_err *err) {
    pthread_mutex_lock(&ws->mu);
    ws_adapter *ad = ws_adapter_get(ws, id);
    int rc = PT_OK;
    if (!ad) rc = pt_fail(err, PT_ERR_ARG, "no adapter with id %d", id);
    else if (ad->job) rc = pt_fail(err, PT_ERR_ARG, "adapter %s is training: cancel or stop the job first", ad->name);
    else if (ad->users) rc = pt_fail(err, PT_ERR_ARG, "adapter %s is in use by %d chat%s or compare%s", ad->name, ad->users,
                                     ad->users == 1 ? "" : "s", ad->users == 1 ? "" : "s");
    else if (ad->a.merged) rc = pt_fail(err, PT_ERR_ARG, "adapter %s is merged into the base: unmerge it first", ad->name);
    else if (ad->state == PT_AD_LOADING) rc = pt_fail(err, PT_ERR_ARG, "adapter %s is still loading", ad->name);
    if (!rc) {
        ws_table_remove((void **)ws->ads, &ws->n_ads, ad);
        ws_adapter_free(ws, ad);
    }
    pthread_mutex_unlock(&ws->mu);
    return rc;
}

int pt_ws_adapter_set_scale(pt_ws *ws, int id, float scale, pt_err *err) {
    if (!(scale >= 0.0f && scale <= 2.0f)) return pt_fail(err, PT_ERR_ARG, "scale %g: must be between 0 and 2", scale);
    pthread_mutex_lock(&ws->mu);
    ws_adapter *ad = ws_adapter_get(ws, id);
    if (ad) ad->scale = scale;
    pthread_mutex_unlock(&ws->mu);
    return ad ? PT_OK : pt_fail(err, PT_ERR_ARG, "no adapter with id %d", id);
}

int pt_ws_adapter_info(pt_ws *ws, int id, pt_adapter_info *o) {
    memset(o, 0, sizeof *o);
    pthread_mutex_lock(&ws->mu);
    ws_adapter *ad = ws_adapter_get(ws, id);
    if (ad) {
        o->id = ad->id;
        snprintf(o->name, sizeof o->name, "%s", ad->name);
        snprintf(o->path, sizeof o->path, "%s", ad->path);
        o->state = ad->job ? PT_AD_TRAINING : ad->state == PT_AD_IDLE && ad->users ? PT_AD_IN_USE : ad->state;
        o->users = ad->users;
        o->scale = ad->scale;
        o->job = ad->job;
        o->step = ad->step;
        o->last_loss = ad->last_loss;
        o->saved = ad->saved;
        o->base_matches = ad->base_matches;
        if (ad->have_a) {
            const pt_adapter *a = &ad->a;
            o->r = a->cfg.r;
            o->alpha = a->cfg.lora_alpha;
            o->dropout = a->cfg.lora_dropout;
            o->rslora = a->cfg.use_rslora;
            lora_describe_targets(&a->cfg, o->targets, sizeof o->targets);
            for (int i = 0; i < a->n_layer * PT_LIN_COUNT; i++) o->n_modules += a->mods[i].A != NULL;
            o->n_params = a->n_params;
            snprintf(o->base_name, sizeof o->base_name, "%s", a->base_name);
            snprintf(o->base_fingerprint, sizeof o->base_fingerprint, "%s", a->base_fingerprint);
            snprintf(o->template_name, sizeof o->template_name, "%s", a->template_name);
            o->merged = a->merged;
        }
    }
    pthread_mutex_unlock(&ws->mu);
    return ad ? PT_OK : PT_ERR_ARG;
}

int pt_ws_adapters(pt_ws *ws, int *ids, int cap) {
    pthread_mutex_lock(&ws->mu);
    int n = ws->n_ads;
    for (int i = 0; i < n && i < cap; i++) ids[i] = ws->ads[i]->id;
    pthread_mutex_unlock(&ws->mu);
    return n;
}

int pt_ws_adapter_find(pt_ws *ws, const char *key) {
    pthread_mutex_lock(&ws->mu);
    int id = 0;
    for (int i = 0; i < ws->n_ads && !id; i++)
        if (!strcmp(ws->ads[i]->name, key) || (ws->ads[i]->path[0] && !strcmp(ws->ads[i]->path, key))) id = ws->ads[i]->id;
    pthread_mutex_unlock(&ws->mu);
    return id;
}

// Norms from the host parameters: the registry's own copy, or - in training -
// the newest snapshot brought to the host (a device copy is read back).
int pt_ws_adapter_norms(pt_ws *ws, int id, float *norms, int cap, pt_err *err) {
    pthread_mutex_lock(&ws->mu);
    ws_hold h;
    int rc = id == PT_BASE ? pt_fail(err, PT_ERR_ARG, "the base has no adapter") : ws_hold_take(ws, id, NAN, &h, err);
    pthread_mutex_unlock(&ws->mu);
    if (rc) return -rc;
    const pt_adapter *a = &h.ad->a;
    int n = a->n_layer * PT_LIN_COUNT;
    float *tmp = malloc(sizeof(float) * (size_t)(n ? n : 1));
    float *host = NULL;
    pt_adapter view = *a;
    pt_lora_module *mods = NULL;
    int on_device = h.snap >= 0 || h.ad->dev.mirrored;
    if (tmp && on_device) {   // bring the parameters the view reads to the host, in a's layout
        host = malloc(sizeof(float) * (a->n_params ? a->n_params : 1));
        mods = malloc(sizeof *mods * (size_t)(n ? n : 1));
        if (host && mods) {
            const pt_adapter_dev *d = h.snap >= 0 ? &h.ad->snap[h.snap].d : &h.ad->dev;
            d->be->ops->download(d->be, host, d->params, sizeof(float) * a->n_params);
            for (int i = 0; i < n; i++) {
                mods[i] = a->mods[i];
                if (mods[i].A) {
                    mods[i].A = host + (a->mods[i].A - a->params);
                    mods[i].B = host + (a->mods[i].B - a->params);
                }
            }
            view.mods = mods;
            view.params = host;
        }
    }
    if (!tmp || (on_device && (!host || !mods))) {
        rc = pt_fail(err, PT_ERR_NOMEM, "out of memory");
    } else {
        adapter_norms(&view, h.scale, tmp);
        int k = 0;   // the model's own modules only, in pt_ws_modules' order
        for (int i = 0; i < n; i++)
            if (a->arch->modules[i % PT_LIN_COUNT]) {
                if (k < cap) norms[k] = tmp[i];
                k++;
            }
        n = k;
    }
    free(tmp);
    free(host);
    free(mods);
    pthread_mutex_lock(&ws->mu);
    ws_hold_release(ws, &h);
    pthread_mutex_unlock(&ws->mu);
    return rc ? -rc : n;
}

// ---- merge, export -------------------------------------------------------------------

static int merge_task(pt_ws *ws, ws_task *t, pt_err *err) {
    path_arg *a = t->arg;
    int unmerge = !strcmp(a->path, "unmerge");
    pthread_mutex_lock(&ws->mu);
    ws_adapter *ad = ready_adapter(ws, a->id, err);
    int rc = ad ? PT_OK : ws_code(err);
    if (!rc && (ws->n_jobs || ws->n_chats || ws->n_cmps))
        rc = pt_fail(err, PT_ERR_ARG, "the base is in use (%d job%s, %d chat%s, %d compare%s): merging would change it "
                     "under them; close them first", ws->n_jobs, ws->n_jobs == 1 ? "" : "s", ws->n_chats,
                     ws->n_chats == 1 ? "" : "s", ws->n_cmps, ws->n_cmps == 1 ? "" : "s");
    if (!rc && unmerge != ad->a.merged)
        rc = pt_fail(err, PT_ERR_ARG, "adapter %s is %s merged", ad->name, unmerge ? "not" : "already");
    if (!rc) ws->merging = 1;   // nothing may start on the base until it is done
    pthread_mutex_unlock(&ws->mu);
    if (rc) return rc;
    rc = unmerge ? adapter_unmerge(&ad->a, &ws->model, ad->scale, err) : adapter_merge(&ad->a, &ws->model, ad->scale, err);
    if (!rc && !ws->be->ops->host_memory) {   // the device copy of the base is stale: upload it again
        bweights_free(&ws->bw);
        rc = bweights_init(&ws->bw, ws->be, &ws->model, err);
    }
    pthread_mutex_lock(&ws->mu);
    ws->merging = 0;
    ws->have_bw = ws->be->ops->host_memory || rc == PT_OK;
    if (!rc) ws_fmt(t->done_text, sizeof t->done_text, "adapter %s %s the base", ad->name, unmerge ? "taken out of" : "merged into");
    pthread_mutex_unlock(&ws->mu);
    return rc;
}

int pt_ws_adapter_merge(pt_ws *ws, int id, int *task, pt_err *err) {
    return post_adapter_task(ws, merge_task, id, "merge", task, err);
}

int pt_ws_adapter_unmerge(pt_ws *ws, int id, int *task, pt_err *err) {
    return post_adapter_task(ws, merge_task, id, "unmerge", task, err);
}

int pt_export_format_check(const char *format, pt_err *err) {
    pt_export_format f;
    return export_format_parse(format, &f, err);
}

int pt_ws_export_check(pt_ws *ws, int id, const char *format, float scale, char (*warnings)[320], int cap, pt_err *err) {
    pt_export_format f;
    int rc = export_format_parse(format, &f, err);
    if (rc) return -rc;
    pthread_mutex_lock(&ws->mu);
    ws_adapter *ad = ready_adapter(ws, id, err);
    pt_export_warnings w;
    memset(&w, 0, sizeof w);
    rc = ad ? export_check(&ad->a, &ws->model, f, scale, &w, err) : ws_code(err);
    pthread_mutex_unlock(&ws->mu);
    if (rc) return -rc;
    for (int i = 0; i < w.n && i < cap; i++) snprintf(warnings[i], 320, "%s", w.msg[i]);
    return w.n;
}

typedef struct {
    int id;
    pt_export_format f;
    float scale;
    char out[1024];
} export_arg;

static int export_task(pt_ws *ws, ws_task *t, pt_err *err) {
    export_arg *a = t->arg;
    pthread_mutex_lock(&ws->mu);
    ws_adapter *ad = ready_adapter(ws, a->id, err);
    if (ad) ad->users++;
    pthread_mutex_unlock(&ws->mu);
    if (!ad) return ws_code(err);
    pt_export_warnings w;
    memset(&w, 0, sizeof w);
    int rc = export_adapter(&ad->a, &ws->model, a->f, a->scale, a->out, &w, err);
    pthread_mutex_lock(&ws->mu);
    ad->users--;
    if (!rc) ws_fmt(t->done_text, sizeof t->done_text, "exported %s as %s to %s", ad->name, export_format_name(a->f), a->out);
    t->made = ad->id;
    pthread_mutex_unlock(&ws->mu);
    return rc;
}

int pt_ws_export(pt_ws *ws, int id, const char *format, float scale, const char *out, int *task, pt_err *err) {
    *task = 0;
    export_arg *a = calloc(1, sizeof *a);
    if (!a) return pt_fail(err, PT_ERR_NOMEM, "out of memory");
    int rc = export_format_parse(format, &a->f, err);
    if (!rc && (!out || !*out)) rc = pt_fail(err, PT_ERR_ARG, "export needs an output path");
    pthread_mutex_lock(&ws->mu);
    if (!rc && !ready_adapter(ws, id, err)) rc = ws_code(err);
    pthread_mutex_unlock(&ws->mu);
    if (rc) {
        free(a);
        return rc;
    }
    a->id = id;
    a->scale = scale;
    snprintf(a->out, sizeof a->out, "%s", out);
    *task = ws_task_post(ws, export_task, a, NULL, err);
    return *task ? PT_OK : ws_code(err);
}
