// ws.c - the workspace itself: its device, its model (loaded as a task),
// ids and endings, the thread budget, and what it says about the model.
#include "workspace/ws_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "text/tokenizer.h"

void pt_ws_opts_default(pt_ws_opts *o) {
    memset(o, 0, sizeof *o);
    o->device = "auto";
}

int pt_device_name_ok(const char *name) {
    const char *ok[] = {"auto", "cpu", "cuda", "cpu-naive", "emu"};
    if (!name) return 1;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (!strcmp(name, ok[i])) return 1;
    return 0;
}

int pt_ws_create(pt_ws **out, const pt_ws_opts *o, pt_err *err) {
    *out = NULL;
    pt_ws_opts d;
    if (!o) {
        pt_ws_opts_default(&d);
        o = &d;
    }
    const char *dev = o->device ? o->device : "auto";
    if (!pt_device_name_ok(dev)) return pt_fail(err, PT_ERR_ARG, "unknown device '%s' (use auto, cpu or cuda)", dev);
    pt_ws *ws = calloc(1, sizeof *ws);
    if (!ws) return pt_fail(err, PT_ERR_NOMEM, "out of memory");
    ws->opts = *o;
    snprintf(ws->device, sizeof ws->device, "%s", dev);
    ws->opts.device = ws->device;
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    ws->budget = o->threads > 0 ? o->threads : (nc > 0 ? (int)nc : 1);
    ws->next_id = 1;
    pthread_mutex_init(&ws->mu, NULL);
    pthread_cond_init(&ws->cv, NULL);
    pthread_cond_init(&ws->task_cv, NULL);
    int rc = ws_queue_init(&ws->q, err);
    if (!rc) rc = backend_create(&ws->be, dev, ws->budget, err);
    if (!rc) rc = ws_tasks_start(ws, err);
    if (rc) {
        pt_ws_destroy(ws);
        return rc;
    }
    *out = ws;
    return PT_OK;
}

static void drop_model(pt_ws *ws) {
    ws_adapters_clear(ws);
    if (ws->have_bw) bweights_free(&ws->bw);
    if (ws->have_model) model_free(&ws->model);
    ws->have_bw = ws->have_model = 0;
}

void pt_ws_destroy(pt_ws *ws) {
    if (!ws) return;
    ws_cmps_destroy(ws);
    ws_chats_destroy(ws);
    ws_jobs_destroy(ws);
    ws_tasks_stop(ws);
    ws_datasets_destroy(ws);
    pthread_mutex_lock(&ws->mu);
    drop_model(ws);
    pthread_mutex_unlock(&ws->mu);
    if (ws->be) backend_destroy(ws->be);
    ws_queue_free(&ws->q);
    free(ws->ads);
    free(ws->chats);
    free(ws->jobs);
    free(ws->cmps);
    free(ws->dss);
    free(ws->done);
    pthread_cond_destroy(&ws->task_cv);
    pthread_cond_destroy(&ws->cv);
    pthread_mutex_destroy(&ws->mu);
    free(ws);
}

// ---- ids, tables, endings -------------------------------------------------------

int ws_new_id(pt_ws *ws) { return ws->next_id++; }

int ws_table_add(void ***tab, int *n, int *cap, void *p) {
    if (*n == *cap) {
        int c = *cap ? *cap * 2 : 8;
        void **t = realloc(*tab, sizeof *t * (size_t)c);
        if (!t) return -1;
        *tab = t;
        *cap = c;
    }
    (*tab)[(*n)++] = p;
    return 0;
}

void ws_table_remove(void **tab, int *n, void *p) {
    for (int i = 0; i < *n; i++)
        if (tab[i] == p) {
            memmove(tab + i, tab + i + 1, sizeof *tab * (size_t)(*n - i - 1));
            (*n)--;
            return;
        }
}

void *ws_table_find(void *const *tab, int n, int id) {
    for (int i = 0; i < n; i++)
        if (*(const int *)tab[i] == id) return tab[i];
    return NULL;
}

void ws_record_done(pt_ws *ws, int id, int rc, const pt_err *err) {
    if (ws->n_done == ws->cap_done) {
        int c = ws->cap_done ? ws->cap_done * 2 : 32;
        ws_done *d = realloc(ws->done, sizeof *d * (size_t)c);
        if (d) {
            ws->done = d;
            ws->cap_done = c;
        }
    }
    if (ws->n_done < ws->cap_done) {
        ws_done *d = &ws->done[ws->n_done++];
        memset(d, 0, sizeof *d);
        d->id = id;
        d->rc = rc;
        if (err) d->err = *err;
    }
    pthread_cond_broadcast(&ws->cv);
}

int pt_ws_wait(pt_ws *ws, int id, pt_err *err) {
    pthread_mutex_lock(&ws->mu);
    int rc = PT_OK;
    for (;;) {
        int found = 0;
        for (int i = 0; i < ws->n_done && !found; i++)
            if (ws->done[i].id == id) {
                found = 1;
                rc = ws->done[i].rc;
                if (rc && err) *err = ws->done[i].err;
            }
        if (found) break;
        int r = ws_chat_ended(ws, id, &rc, err);
        if (r < 0) r = ws_job_ended(ws, id, &rc, err);
        if (r < 0) r = ws_cmp_ended(ws, id, &rc, err);
        if (r > 0) break;
        int pending = ws->task_running == id;
        for (ws_task *t = ws->task_head; t && !pending; t = t->next) pending = t->id == id;
        if (r < 0 && !pending) {
            rc = pt_fail(err, PT_ERR_ARG, "nothing with id %d runs or ran here", id);
            break;
        }
        pthread_cond_wait(&ws->cv, &ws->mu);
    }
    pthread_mutex_unlock(&ws->mu);
    return rc;
}

// ---- threads ---------------------------------------------------------------------

int ws_share(pt_ws *ws) {
    pthread_mutex_lock(&ws->mu);
    int n = ws->n_active > 0 ? ws->n_active : 1;
    int share = ws->budget / n;
    pthread_mutex_unlock(&ws->mu);
    return share > 0 ? share : 1;
}

void ws_active(pt_ws *ws, int delta) {
    pthread_mutex_lock(&ws->mu);
    ws->n_active += delta;
    pthread_mutex_unlock(&ws->mu);
}

int ws_lane(pt_ws *ws, pt_backend **out, pt_err *err) { return ws->be->ops->fork(ws->be, out, err); }

// ---- the model ---------------------------------------------------------------------

int ws_need_model(pt_ws *ws, pt_err *err) {
    if (ws->loading) return pt_fail(err, PT_ERR_ARG, "a model is loading; wait for it");
    if (ws->merging) return pt_fail(err, PT_ERR_ARG, "an adapter is being merged into the base; wait for it");
    if (!ws->have_model) return pt_fail(err, PT_ERR_ARG, "no model is loaded (load one first)");
    return PT_OK;
}

// Adapters being made or loaded hold it too (they read it outside the lock).
int ws_model_busy(pt_ws *ws) {
    for (int i = 0; i < ws->n_ads; i++)
        if (ws->ads[i]->state == PT_AD_LOADING) return 1;
    return ws->n_jobs || ws->n_chats || ws->n_cmps || ws->n_readers || ws->merging || ws_dataset_users(ws);
}

void pt_ws_memory_get(pt_ws *ws, pt_ws_memory *out) {
    const pt_backend_ops *o = ws->be->ops;
    out->held = o->mem_held(ws->be);
    out->peak = o->mem_peak(ws->be);
    out->free = o->mem_available(ws->be);
}

void pt_ws_memory_reset_peak(pt_ws *ws) { ws->be->ops->mem_reset_peak(ws->be); }

int pt_ws_has_model(pt_ws *ws) {
    pthread_mutex_lock(&ws->mu);
    int r = ws->have_model && !ws->loading;
    pthread_mutex_unlock(&ws->mu);
    return r;
}

typedef struct {
    char path[1024];
    char shape[32];
} load_arg;

// What to do next, by kind of failure.
static const char *load_hint(pt_status code) {
    switch (code) {
    case PT_ERR_IO: return "check the path and its permissions, or pass -m PATH";
    case PT_ERR_FORMAT: return "the file looks corrupt or truncated: fetch it again (scripts/setup.sh) or pass another -m";
    case PT_ERR_UNSUPPORTED: return "peftui runs llama, mistral, qwen2, bloom, gpt2, gpt_neox, gpt_bigcode and mpt, from a "
                                    "Hugging Face folder or GGUF (F32, F16, BF16, Q8_0, Q4_0, Q4_1)";
    case PT_ERR_NOMEM: return "not enough memory for this model";
    default: return "pass -m with a GGUF file or a Hugging Face folder";
    }
}

static void set_phase(pt_ws *ws, int phase) {
    pthread_mutex_lock(&ws->mu);
    ws->load_phase = phase;
    pthread_mutex_unlock(&ws->mu);
}

int pt_ws_load_progress(pt_ws *ws, char *what, size_t cap) {
    pthread_mutex_lock(&ws->mu);
    int r = ws->loading ? ws->load_phase : -1;
    pthread_mutex_unlock(&ws->mu);
    static const char *const NAMES[] = {"waiting", "reading the file", "weights to the device"};
    if (what && cap) snprintf(what, cap, "%s", r >= 0 && r <= 2 ? NAMES[r] : "");
    return r;
}

// The task: load into a model of its own, upload its base, then swap it in.
static int load_task(pt_ws *ws, ws_task *t, pt_err *err) {
    load_arg *a = t->arg;
    pt_model m;
    pt_bweights bw;
    int rc;
    memset(&m, 0, sizeof m);
    set_phase(ws, 1);
    if (a->shape[0]) {
        pt_config cfg;
        rc = model_shape(&cfg, a->shape, err);
        if (!rc) rc = model_random(&m, &cfg, 1234, err);
    } else {
        rc = model_load(&m, a->path, err);
        if (rc) {
            char inner[PT_ERR_MSG_LEN];
            snprintf(inner, sizeof inner, "%s", err->msg[0] ? err->msg : pt_status_str((pt_status)rc));
            pt_fail(err, rc, "%.380s (%s)", inner, load_hint((pt_status)rc));
        }
    }
    if (!rc) {
        set_phase(ws, 2);
        rc = bweights_init(&bw, ws->be, &m, err);
        if (rc) model_free(&m);
    }
    pthread_mutex_lock(&ws->mu);
    ws->loading = 0;
    if (!rc) {
        drop_model(ws);
        ws->model = m;
        ws->bw = bw;
        ws->have_model = ws->have_bw = 1;
        int max_ctx = m.cfg.max_ctx > 0 ? m.cfg.max_ctx : 4096;
        ws->n_ctx = ws->opts.n_ctx > 0 ? ws->opts.n_ctx : (max_ctx < 4096 ? max_ctx : 4096);
        ws_fmt(t->done_text, sizeof t->done_text, "loaded %s (%s, %.1fM parameters)", m.cfg.name[0] ? m.cfg.name : m.path,
                 m.cfg.arch, m.n_params / 1e6);
    }
    pthread_mutex_unlock(&ws->mu);
    return rc;
}

static int post_load(pt_ws *ws, const char *path, const char *shape, int *task, pt_err *err) {
    *task = 0;
    pthread_mutex_lock(&ws->mu);
    int rc = PT_OK;
    if (ws->loading) rc = pt_fail(err, PT_ERR_ARG, "a model is loading already");
    else if (ws_model_busy(ws))
        rc = pt_fail(err, PT_ERR_ARG, "the model is in use (jobs, chats, compares or datasets are open): close them first");
    if (!rc) {
        ws->loading = 1;
        ws->load_phase = 0;
    }
    pthread_mutex_unlock(&ws->mu);
    if (rc) return rc;
    load_arg *a = calloc(1, sizeof *a);
    if (!a) rc = pt_fail(err, PT_ERR_NOMEM, "out of memory");
    if (a && path) snprintf(a->path, sizeof a->path, "%s", path);
    if (a && shape) snprintf(a->shape, sizeof a->shape, "%s", shape);
    if (!rc && !(*task = ws_task_post(ws, load_task, a, NULL, err))) rc = ws_code(err);
    if (rc) {
        pthread_mutex_lock(&ws->mu);
        ws->loading = 0;
        pthread_mutex_unlock(&ws->mu);
    }
    return rc;
}

int pt_ws_load_model(pt_ws *ws, const char *path, int *task, pt_err *err) {
    if (!path || !*path) return pt_fail(err, PT_ERR_ARG, "no model path given");
    if (access(path, F_OK) != 0)
        return pt_fail(err, PT_ERR_IO, "model not found: %s (run scripts/setup.sh to fetch the default model, or pass -m PATH)", path);
    return post_load(ws, path, NULL, task, err);
}

int pt_ws_load_shape(pt_ws *ws, const char *shape, int *task, pt_err *err) {
    pt_config cfg;
    int rc = model_shape(&cfg, shape, err);
    if (rc) return rc;
    return post_load(ws, NULL, shape, task, err);
}

// ---- templates ---------------------------------------------------------------------

int ws_template_open(pt_ws *ws, const char *name, pt_chat_template **t, char **default_system, pt_err *err) {
    const pt_model *m = &ws->model;
    const char *jinja = m->chat_template ? m->chat_template : (m->tok ? tokenizer_chat_template(m->tok) : NULL);
    const char *guess = template_guess(jinja);
    *t = NULL;
    *default_system = NULL;
    int rc = template_load(t, name ? name : guess, err);
    if (rc) return rc;
    // the model's own default system message belongs to the model's own template
    if (!strcmp(template_name(*t), guess)) *default_system = template_jinja_default_system(jinja);
    return PT_OK;
}

// ---- what the model is -----------------------------------------------------------------

static const char *tok_kind_name(pt_tok_kind k) {
    return k == PT_TOK_BPE_BYTELEVEL ? "byte-level BPE" : k == PT_TOK_BPE_SPM ? "SentencePiece BPE (byte fallback)" : "?";
}

int pt_ws_model_info(pt_ws *ws, pt_model_info *o, pt_err *err) {
    memset(o, 0, sizeof *o);
    pthread_mutex_lock(&ws->mu);
    int rc = ws_need_model(ws, err);
    if (rc) {
        pthread_mutex_unlock(&ws->mu);
        return rc;
    }
    const pt_model *m = &ws->model;
    const pt_config *c = &m->cfg;
    snprintf(o->path, sizeof o->path, "%s", m->path);
    snprintf(o->name, sizeof o->name, "%s", c->name);
    snprintf(o->arch, sizeof o->arch, "%s", c->arch);
    o->from_gguf = m->source == PT_SRC_GGUF;
    o->n_params = m->n_params;
    o->n_layer = c->n_layer; o->n_embd = c->n_embd; o->n_ff = c->n_ff; o->n_head = c->n_head;
    o->n_head_kv = c->n_head_kv; o->head_dim = c->head_dim; o->vocab_size = c->vocab_size; o->max_ctx = c->max_ctx;
    o->sliding_window = c->sliding_window; o->rope_theta = c->rope_theta; o->rms_eps = c->rms_eps;
    o->tied_embeddings = c->tied_embeddings; o->qkv_bias = c->has_qkv_bias;
    arch_describe(c->desc, o->block, sizeof o->block);
    if (m->tok) {
        snprintf(o->tokenizer, sizeof o->tokenizer, "%s", tok_kind_name(tokenizer_kind(m->tok)));
        o->tok_vocab = tokenizer_vocab_size(m->tok);
        o->bos = tokenizer_bos(m->tok);
        o->eos = tokenizer_eos(m->tok);
    }
    const char *jinja = m->chat_template ? m->chat_template : (m->tok ? tokenizer_chat_template(m->tok) : NULL);
    snprintf(o->template_name, sizeof o->template_name, "%s", template_guess(jinja));
    o->has_template = m->chat_template != NULL;
    char *sys = template_jinja_default_system(jinja);
    if (sys) snprintf(o->default_system, sizeof o->default_system, "%s", sys);
    free(sys);
    o->n_tensors = m->n_tensors;
    const pt_backend_ops *bo = ws->be->ops;
    bo->describe(ws->be, o->device, sizeof o->device);
    snprintf(o->device_name, sizeof o->device_name, "%s", bo->name);
    o->device_host = bo->host_memory;
    o->base_bytes = bo->host_memory ? 0 : bweights_bytes(m, bo->weight_dtype);
    o->device_free = bo->mem_available(ws->be);
    snprintf(o->weight_dtype, sizeof o->weight_dtype, "%s", bo->weight_dtype == PT_DT_BF16 ? "bf16" : "float32");
    pthread_mutex_unlock(&ws->mu);
    return PT_OK;
}

int pt_ws_tensor(pt_ws *ws, int i, pt_tensor_info *out) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&ws->mu);
    int ok = ws->have_model && !ws->loading && i >= 0 && i < ws->model.n_tensors;
    if (ok) {
        const pt_tensor_desc *t = &ws->model.tensors[i];
        snprintf(out->name, sizeof out->name, "%s", t->name);
        snprintf(out->type, sizeof out->type, "%s", t->type);
        out->n_dims = t->n_dims;
        memcpy(out->shape, t->shape, sizeof out->shape);
    }
    pthread_mutex_unlock(&ws->mu);
    return ok ? PT_OK : PT_ERR_ARG;
}

int pt_ws_token(pt_ws *ws, int32_t id, pt_token_info *out) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&ws->mu);
    const pt_tokenizer *t = ws->have_model && !ws->loading ? ws->model.tok : NULL;
    int ok = t && id >= 0 && id < tokenizer_vocab_size(t);
    if (ok) {
        const char *p = tokenizer_piece(t, id);
        snprintf(out->piece, sizeof out->piece, "%s", p ? p : "");
        int ty = tokenizer_token_type(t, id);
        out->kind = ty == PT_TOKTYPE_CONTROL ? PT_TOKEN_CONTROL : ty == PT_TOKTYPE_USER ? PT_TOKEN_ADDED : PT_TOKEN_NORMAL;
        out->end_of_generation = tokenizer_is_eog(t, id);
        out->n_bytes = tokenizer_token_bytes(t, id, out->bytes, sizeof out->bytes);
    }
    pthread_mutex_unlock(&ws->mu);
    return ok ? PT_OK : PT_ERR_ARG;
}

int pt_ws_tokenize(pt_ws *ws, const char *text, int add_special, int parse_special, int32_t **ids, int *n,
                   pt_err *err) {
    *ids = NULL;
    *n = 0;
    size_t len = strlen(text), bad = pt_utf8_invalid_at(text, len);
    if (bad) return pt_fail(err, PT_ERR_ARG, "the text is not valid UTF-8 (bad byte at offset %zu); convert it to UTF-8", bad - 1);
    pthread_mutex_lock(&ws->mu);
    int rc = ws_need_model(ws, err);
    if (!rc && !ws->model.tok) rc = pt_fail(err, PT_ERR_ARG, "this model has no tokenizer (a random shape)");
    if (!rc) rc = tokenizer_encode(ws->model.tok, text, len, add_special, parse_special, ids, n, err);
    pthread_mutex_unlock(&ws->mu);
    return rc;
}

int pt_ws_modules(pt_ws *ws, pt_module_info *out, int cap) {
    pthread_mutex_lock(&ws->mu);
    if (ws_need_model(ws, NULL)) {
        pthread_mutex_unlock(&ws->mu);
        return 0;
    }
    const pt_model *m = &ws->model;
    const char *defaults[8];
    const char *type = !strcmp(m->cfg.arch, "smollm") ? "llama" : m->cfg.arch;
    int n_def = lora_default_targets(type, defaults, 8);
    pt_lora_config c;
    lora_config_defaults(&c);
    c.target_all_linear = 1;
    c.r = 1;
    pt_lora_module *mods = calloc((size_t)m->cfg.n_layer * PT_LIN_COUNT, sizeof *mods);
    int n = 0;
    if (mods && lora_match(m, &c, mods, NULL, NULL, NULL) == PT_OK)
        for (int l = 0; l < m->cfg.n_layer; l++)
            for (int s = 0; s < PT_LIN_COUNT; s++) {
                const char *shrt = arch_module_short(m->cfg.desc, (pt_linear)s);
                if (!shrt) continue;   // the family has no such layer
                if (n >= cap) { n++; continue; }
                pt_module_info *o = &out[n++];
                memset(o, 0, sizeof *o);
                lora_module_name(o->name, sizeof o->name, m->cfg.desc, l, (pt_linear)s);
                int twin = 0;   // a short name two of the family's layers share (GPT-2's c_proj): the longer one
                for (int s2 = 0; s2 < PT_LIN_COUNT; s2++)
                    twin |= s2 != s && arch_module_short(m->cfg.desc, (pt_linear)s2) &&
                            !strcmp(arch_module_short(m->cfg.desc, (pt_linear)s2), shrt);
                snprintf(o->short_name, sizeof o->short_name, "%s", twin ? m->cfg.desc->modules[s] : shrt);
                o->layer = l;
                o->in = mods[l * PT_LIN_COUNT + s].in;
                o->out = mods[l * PT_LIN_COUNT + s].out;
                for (int k = 0; k < n_def; k++) o->default_target |= !strcmp(defaults[k], shrt);
            }
    free(mods);
    pthread_mutex_unlock(&ws->mu);
    return n;
}
