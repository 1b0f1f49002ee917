// ws_chat.c - chat sessions: each one a thread with its own lane on the
// device, its own runtime and KV cache over the workspace's base, and a
// conversation. A turn renders the whole conversation with the chat
// template (the oldest turns dropped when it no longer fits), reuses the
// cached prefix, and streams the answer token by token as events. The
// adapter and its scale can change between turns; the cache is dropped only
// when what it was made with differs for the keys and values it holds.
#include "workspace/ws_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ws_chat {
    int id;
    pt_ws *ws;
    pthread_t th;
    int started, quit;
    pthread_cond_t cv;            // a turn for the worker, or quit (under ws->mu)
    pt_backend *lane;
    pt_runtime rt;
    int rt_ok;
    pt_session sess;
    int sess_ok;
    pt_chat_template *tmpl;
    char *model_system;           // the model's default system message, or NULL
    char *system;                 // set by the front end, or NULL
    int raw;
    pt_msg *conv;                 // (n_conv) user and assistant turns; contents malloc'd
    int n_conv, cap_conv;
    pt_sampling sampling;
    int max_tokens;
    int adapter;                  // selected (users counted on it)
    float scale;                  // NAN: the registry's
    // the turn
    char *pending;                // the next user message, set by send
    int busy;                     // a turn is queued or running
    volatile int cancel;
    int last_rc;
    pt_err last_err;
    pt_gen_result last;
    // what the cache was made with, for the keys and values it holds
    int cache_valid, cache_adapter, cache_version;
    float cache_scale;
    int tokens_cached;            // published after each turn
};

static ws_chat *find(pt_ws *ws, int id) { return ws_table_find((void *const *)ws->chats, ws->n_chats, id); }

int ws_chat_ended(pt_ws *ws, int id, int *rc, pt_err *err) {
    ws_chat *c = find(ws, id);
    if (!c) return -1;
    if (c->busy) return 0;
    *rc = c->last_rc;
    if (c->last_rc && err) *err = c->last_err;
    return 1;
}

void pt_chat_opts_default(pt_chat_opts *o) {
    memset(o, 0, sizeof *o);
    sampling_defaults(&o->sampling);
    o->max_tokens = 512;
    o->adapter = PT_BASE;
    o->scale = NAN;
}

// ---- the conversation (changed under ws->mu; read by its worker freely) ----

static int conv_push(ws_chat *c, const char *role, const char *text, size_t len) {
    if (c->n_conv == c->cap_conv) {
        int cap = c->cap_conv ? c->cap_conv * 2 : 16;
        pt_msg *p = realloc(c->conv, sizeof *p * (size_t)cap);
        if (!p) return -1;
        c->conv = p;
        c->cap_conv = cap;
    }
    char *copy = strndup(text, len);
    if (!copy) return -1;
    c->conv[c->n_conv++] = (pt_msg){role, copy};
    return 0;
}

static void conv_drop_front(ws_chat *c, int k) {
    for (int i = 0; i < k; i++) free((char *)c->conv[i].content);
    memmove(c->conv, c->conv + k, sizeof *c->conv * (size_t)(c->n_conv - k));
    c->n_conv -= k;
}

static void conv_pop(ws_chat *c) {
    if (c->n_conv > 0) free((char *)c->conv[--c->n_conv].content);
}

static void conv_clear(ws_chat *c) {
    while (c->n_conv) conv_pop(c);
}

// Renders and tokenizes the conversation, with the answer prompt at the end.
static int conv_tokens(ws_chat *c, int32_t **ids, int *n, pt_err *err) {
    pt_msg *msgs = malloc(sizeof *msgs * (size_t)(c->n_conv + 1));
    if (!msgs) return pt_fail(err, PT_ERR_NOMEM, "out of memory");
    int k = 0;
    if (c->system) msgs[k++] = (pt_msg){"system", c->system};
    memcpy(msgs + k, c->conv, sizeof *msgs * (size_t)c->n_conv);
    k += c->n_conv;
    char *text = template_render(c->tmpl, msgs, k, 1, c->model_system, err);
    free(msgs);
    if (!text) return ws_code(err);
    int rc = tokenizer_encode(c->ws->model.tok, text, strlen(text), 0, 1, ids, n, err);
    free(text);
    return rc;
}

// ---- one turn (on the chat's thread) ----

typedef struct {
    ws_chat *c;
    int share;
} turn_ctx;

static int on_token(void *ud, int32_t id, float logprob, const char *text, size_t len) {
    turn_ctx *t = ud;
    ws_chat *c = t->c;
    pt_event e;
    memset(&e, 0, sizeof e);
    e.kind = PT_EV_TOKEN;
    e.src = c->id;
    e.column = -1;
    e.token = id;
    e.logprob = logprob;
    snprintf(e.text, sizeof e.text, "%.*s", (int)(len < sizeof e.text ? len : sizeof e.text - 1), text);
    ws_push(c->ws, &e);
    int share = ws_share(c->ws);   // another worker started or ended: follow the budget
    if (share != t->share) {
        c->lane->ops->set_threads(c->lane, share);
        t->share = share;
    }
    return 0;
}

// The prompt tokens of this turn: the conversation with text added (or, raw,
// text alone), its oldest turns dropped until the answer has room.
static int turn_prompt(ws_chat *c, const char *text, int32_t **ids, int *n, int *dropped, pt_err *err) {
    pt_ws *ws = c->ws;
    *dropped = 0;
    if (c->raw) return tokenizer_encode(ws->model.tok, text, strlen(text), 1, 1, ids, n, err);
    pthread_mutex_lock(&ws->mu);
    int bad = conv_push(c, "user", text, strlen(text));
    pthread_mutex_unlock(&ws->mu);
    if (bad) return pt_fail(err, PT_ERR_NOMEM, "out of memory");
    int n_ctx = c->rt.n_ctx, reserve = c->max_tokens < n_ctx / 2 ? c->max_tokens : n_ctx / 2;
    for (;;) {
        free(*ids);
        *ids = NULL;
        int rc = conv_tokens(c, ids, n, err);
        if (rc) break;
        if (*n + reserve <= n_ctx) return PT_OK;
        if (c->n_conv <= 1) {
            if (*n < n_ctx) return PT_OK;   // room for a short answer at least
            rc = pt_fail(err, PT_ERR_RANGE, "that message is %d tokens but the context holds %d (shorten it, or use a "
                         "larger context)", *n, n_ctx);
            break;
        }
        pthread_mutex_lock(&ws->mu);
        conv_drop_front(c, c->n_conv >= 3 ? 2 : 1);
        pthread_mutex_unlock(&ws->mu);
        (*dropped)++;
    }
    free(*ids);
    *ids = NULL;
    pthread_mutex_lock(&ws->mu);
    conv_pop(c);
    pthread_mutex_unlock(&ws->mu);
    return ws_code(err);
}

static int run_turn(ws_chat *c, const char *text, ws_hold *h, pt_err *err) {
    pt_ws *ws = c->ws;
    int32_t *ids = NULL;
    int n = 0, dropped = 0;
    char *out = NULL;
    int rc = turn_prompt(c, text, &ids, &n, &dropped, err);
    if (rc) return rc;
    if (dropped)
        ws_push_text(ws, PT_EV_WARNING, c->id, PT_OK, "(the oldest %s dropped to fit the %d-token context)",
                     dropped > 1 ? "turns were" : "turn was", c->rt.n_ctx);
    // The cache holds keys and values: valid for another adapter (or scale)
    // only when neither changes them.
    int key_ad = h->touches_cache ? (h->ad ? h->ad->id : 0) : 0, key_v = h->touches_cache ? h->version : 0;
    float key_s = h->touches_cache ? h->scale : 1.0f;
    if (!c->cache_valid || c->raw || key_ad != c->cache_adapter || key_v != c->cache_version || key_s != c->cache_scale)
        session_reset(&c->sess);
    runtime_seq_use(&c->rt, 0, h->view, h->scale, NULL);   // fits: checked when it was chosen
    c->cache_valid = 1;
    c->cache_adapter = key_ad;
    c->cache_version = key_v;
    c->cache_scale = key_s;

    turn_ctx tc = {c, ws_share(ws)};
    c->lane->ops->set_threads(c->lane, tc.share);
    pt_gen_params gp;
    memset(&gp, 0, sizeof gp);
    gp.max_new_tokens = c->max_tokens;
    gp.sampling = c->sampling;
    if (!c->raw) gp.n_stops = template_stops(c->tmpl, &gp.stops);
    gp.on_token = on_token;
    gp.ud = &tc;
    gp.abort_flag = &c->cancel;
    pt_gen_result res;
    memset(&res, 0, sizeof res);
    rc = generate(&c->sess, ids, n, &gp, &res, &out, err);
    free(ids);
    pthread_mutex_lock(&ws->mu);
    c->last = res;
    c->tokens_cached = c->sess.n_history;
    if (rc) {
        if (!c->raw) conv_pop(c);
        c->cache_valid = 0;
    } else if (!c->raw) {   // keep what was said, even when cut short, without trailing blank lines
        size_t len = out ? strlen(out) : 0;
        while (len && (out[len - 1] == '\n' || out[len - 1] == ' ' || out[len - 1] == '\r')) len--;
        if (conv_push(c, "assistant", out ? out : "", len)) rc = pt_fail(err, PT_ERR_NOMEM, "out of memory");
    }
    pthread_mutex_unlock(&ws->mu);
    if (rc) session_reset(&c->sess);
    free(out);
    return rc;
}

static void *chat_main(void *arg) {
    ws_chat *c = arg;
    pt_ws *ws = c->ws;
    pthread_mutex_lock(&ws->mu);
    for (;;) {
        while (!c->pending && !c->quit) pthread_cond_wait(&c->cv, &ws->mu);
        if (c->quit) break;
        char *text = c->pending;
        c->pending = NULL;
        pt_err err = {0};
        ws_hold h;
        int rc = ws_hold_take(ws, c->adapter, c->scale, &h, &err);
        ws->n_active++;
        pthread_mutex_unlock(&ws->mu);
        if (!rc) rc = run_turn(c, text, &h, &err);
        free(text);
        pt_event e;
        memset(&e, 0, sizeof e);
        e.kind = PT_EV_REPLY;
        e.src = c->id;
        e.column = -1;
        e.status = rc;
        e.stop = rc ? 0 : (int)c->last.stop;
        e.n = c->last.n_gen;
        snprintf(e.text, sizeof e.text, "%s", rc ? err.msg : "");
        pthread_mutex_lock(&ws->mu);
        ws->n_active--;
        ws_hold_release(ws, &h);
        if (rc) memset(&c->last, 0, sizeof c->last);
        c->last_rc = rc;
        c->last_err = err;
        ws_push(ws, &e);   // before busy drops: whoever waits for the turn finds its event queued
        c->busy = 0;
        pthread_cond_broadcast(&ws->cv);
    }
    pthread_mutex_unlock(&ws->mu);
    return NULL;
}

// ---- the front end's calls ----

static void chat_free(ws_chat *c) {
    conv_clear(c);
    free(c->conv);
    free(c->system);
    free(c->model_system);
    free(c->pending);
    template_free(c->tmpl);
    if (c->sess_ok) session_free(&c->sess);
    if (c->rt_ok) runtime_free(&c->rt);
    if (c->lane) backend_destroy(c->lane);
    pthread_cond_destroy(&c->cv);
    free(c);
}

// Under ws->mu: the adapter can be chosen (it exists and fits). warning: a
// line when it was trained with another template than tmpl.
static int check_adapter(pt_ws *ws, int id, const pt_chat_template *tmpl, char *warning, size_t wcap, pt_err *err) {
    if (warning && wcap) warning[0] = 0;
    if (id == PT_BASE) return PT_OK;
    ws_hold h;
    int rc = ws_hold_take(ws, id, NAN, &h, err);
    if (rc) return rc;
    const ws_adapter *ad = h.ad;
    if (tmpl && warning && ad->have_a && ad->a.template_name[0] && strcmp(ad->a.template_name, template_name(tmpl)))
        snprintf(warning, wcap, "adapter %s was trained with the %s chat template, this chat uses %s (choose template %s)",
                 ad->name, ad->a.template_name, template_name(tmpl), ad->a.template_name);
    ws_hold_release(ws, &h);
    return PT_OK;
}

int pt_chat_open(pt_ws *ws, const pt_chat_opts *o, int *id, char *warning, size_t wcap, pt_err *err) {
    *id = 0;
    if (warning && wcap) warning[0] = 0;
    pt_chat_opts d;
    if (!o) {
        pt_chat_opts_default(&d);
        o = &d;
    }
    if (o->system && pt_utf8_invalid_at(o->system, strlen(o->system)))
        return pt_fail(err, PT_ERR_ARG, "the system message is not valid UTF-8; convert it to UTF-8");
    if (o->max_tokens < 1) return pt_fail(err, PT_ERR_ARG, "max_tokens %d: must be at least 1", o->max_tokens);
    ws_chat *c = calloc(1, sizeof *c);
    if (!c) return pt_fail(err, PT_ERR_NOMEM, "out of memory");
    c->ws = ws;
    c->raw = o->raw;
    c->sampling = o->sampling;
    c->max_tokens = o->max_tokens;
    c->adapter = PT_BASE;
    c->scale = o->scale;
    pthread_cond_init(&c->cv, NULL);
    pthread_mutex_lock(&ws->mu);
    int rc = ws_need_model(ws, err);
    if (!rc && !ws->model.tok) rc = pt_fail(err, PT_ERR_ARG, "this model has no tokenizer (a random shape)");
    int n_ctx = o->n_ctx > 0 ? o->n_ctx : ws->n_ctx;
    if (!rc && ws->model.cfg.max_ctx > 0 && n_ctx > ws->model.cfg.max_ctx)
        rc = pt_fail(err, PT_ERR_RANGE, "a context of %d tokens is more than this model's %d (use %d or less)", n_ctx,
                     ws->model.cfg.max_ctx, ws->model.cfg.max_ctx);
    if (!rc && !c->raw) rc = ws_template_open(ws, o->template_name, &c->tmpl, &c->model_system, err);
    if (!rc) rc = check_adapter(ws, o->adapter, c->tmpl, warning, wcap, err);
    if (!rc && ws_table_add((void ***)&ws->chats, &ws->n_chats, &ws->cap_chats, c)) rc = pt_fail(err, PT_ERR_NOMEM, "out of memory");
    if (!rc) {
        c->id = ws_new_id(ws);
        c->adapter = o->adapter;
        if (o->adapter != PT_BASE) ws_adapter_get(ws, o->adapter)->users++;
    }
    pthread_mutex_unlock(&ws->mu);
    // the model cannot go while this chat is in the table
    if (!rc) rc = ws_lane(ws, &c->lane, err);
    if (!rc) rc = runtime_init_shared(&c->rt, c->lane, &ws->model, &ws->bw, n_ctx, n_ctx < 128 ? n_ctx : 128, err);
    if (!rc) c->rt_ok = 1;
    if (!rc) rc = session_init(&c->sess, &c->rt, err);
    if (!rc) c->sess_ok = 1;
    if (!rc && o->system && !(c->system = strdup(o->system))) rc = pt_fail(err, PT_ERR_NOMEM, "out of memory");
    if (!rc && pthread_create(&c->th, NULL, chat_main, c) != 0) rc = pt_fail(err, PT_ERR_INTERNAL, "cannot start the chat's thread");
    if (!rc) c->started = 1;
    if (rc) {
        pthread_mutex_lock(&ws->mu);
        if (c->id) {
            ws_table_remove((void **)ws->chats, &ws->n_chats, c);
            if (c->adapter != PT_BASE) ws_adapter_get(ws, c->adapter)->users--;
        }
        pthread_mutex_unlock(&ws->mu);
        chat_free(c);
        return rc;
    }
    *id = c->id;
    return PT_OK;
}

// Under ws->mu: the chat, idle (no turn running).
static ws_chat *idle_chat(pt_ws *ws, int id, pt_err *err) {
    ws_chat *c = find(ws, id);
    if (!c) pt_fail(err, PT_ERR_ARG, "no chat with id %d", id);
    else if (c->busy) pt_fail(err, PT_ERR_ARG, "the chat is answering; wait for the answer or cancel it");
    return c && !c->busy ? c : NULL;
}

int pt_chat_send(pt_ws *ws, int id, const char *text, pt_err *err) {
    size_t len = text ? strlen(text) : 0, bad = len ? pt_utf8_invalid_at(text, len) : 0;
    if (!len) return pt_fail(err, PT_ERR_ARG, "the message is empty");
    if (bad) return pt_fail(err, PT_ERR_ARG, "that message is not valid UTF-8 (bad byte at offset %zu); nothing was sent", bad - 1);
    char *copy = strdup(text);
    if (!copy) return pt_fail(err, PT_ERR_NOMEM, "out of memory");
    pthread_mutex_lock(&ws->mu);
    ws_chat *c = idle_chat(ws, id, err);
    if (c) {
        c->pending = copy;
        c->busy = 1;
        __atomic_store_n(&c->cancel, 0, __ATOMIC_RELAXED);
        pthread_cond_signal(&c->cv);
    }
    pthread_mutex_unlock(&ws->mu);
    if (!c) free(copy);
    return c ? PT_OK : ws_code(err);
}

int pt_chat_cancel(pt_ws *ws, int id) {
    pthread_mutex_lock(&ws->mu);
    ws_chat *c = find(ws, id);
    if (c && c->busy) __atomic_store_n(&c->cancel, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&ws->mu);
    return c ? PT_OK : PT_ERR_ARG;
}

int pt_chat_set_adapter(pt_ws *ws, int id, int adapter, float scale, char *warning, size_t wcap, pt_err *err) {
    if (!isnan(scale) && !(scale >= -100 && scale <= 100)) return pt_fail(err, PT_ERR_ARG, "scale %g is out of range", scale);
    pthread_mutex_lock(&ws->mu);
    ws_chat *c = idle_chat(ws, id, err);
    int rc = c ? check_adapter(ws, adapter, c->tmpl, warning, wcap, err) : ws_code(err);
    if (!rc) {
        if (c->adapter != PT_BASE) ws_adapter_get(ws, c->adapter)->users--;
        if (adapter != PT_BASE) ws_adapter_get(ws, adapter)->users++;
        c->adapter = adapter;
        c->scale = scale;
    }
    pthread_mutex_unlock(&ws->mu);
    return rc;
}

int pt_chat_set_system(pt_ws *ws, int id, const char *system, pt_err *err) {
    if (system && pt_utf8_invalid_at(system, strlen(system)))
        return pt_fail(err, PT_ERR_ARG, "the system message is not valid UTF-8; it was not changed");
    char *copy = system && *system ? strdup(system) : NULL;
    if (system && *system && !copy) return pt_fail(err, PT_ERR_NOMEM, "out of memory");
    pthread_mutex_lock(&ws->mu);
    ws_chat *c = idle_chat(ws, id, err);
    if (c) {
        free(c->system);
        c->system = copy;
    }
    pthread_mutex_unlock(&ws->mu);
    if (!c) free(copy);
    return c ? PT_OK : ws_code(err);
}

int pt_chat_set_sampling(pt_ws *ws, int id, const pt_sampling *s, int max_tokens, pt_err *err) {
    if (max_tokens < 1) return pt_fail(err, PT_ERR_ARG, "max_tokens %d: must be at least 1", max_tokens);
    pthread_mutex_lock(&ws->mu);
    ws_chat *c = idle_chat(ws, id, err);
    if (c) {
        c->sampling = *s;
        c->max_tokens = max_tokens;
    }
    pthread_mutex_unlock(&ws->mu);
    return c ? PT_OK : ws_code(err);
}

int pt_chat_reset(pt_ws *ws, int id, pt_err *err) {
    pthread_mutex_lock(&ws->mu);
    ws_chat *c = idle_chat(ws, id, err);
    if (c) {
        conv_clear(c);
        c->cache_valid = 0;   // the worker empties the cache at its next turn
        c->tokens_cached = 0;
    }
    pthread_mutex_unlock(&ws->mu);
    return c ? PT_OK : ws_code(err);
}

int pt_chat_info_get(pt_ws *ws, int id, pt_chat_info *o) {
    memset(o, 0, sizeof *o);
    pthread_mutex_lock(&ws->mu);
    ws_chat *c = find(ws, id);
    if (c) {
        o->busy = c->busy;
        snprintf(o->template_name, sizeof o->template_name, "%s", c->tmpl ? template_name(c->tmpl) : "raw");
        const char *sys = c->system ? c->system : c->model_system;
        snprintf(o->system, sizeof o->system, "%s", sys ? sys : "");
        o->adapter = c->adapter;
        ws_adapter *ad = c->adapter != PT_BASE ? ws_adapter_get(ws, c->adapter) : NULL;
        o->scale = !isnan(c->scale) ? c->scale : ad ? ad->scale : 1.0f;
        o->n_ctx = c->rt.n_ctx;
        o->tokens_cached = c->tokens_cached;
        o->turns = c->n_conv;
        o->sampling = c->sampling;
        o->max_tokens = c->max_tokens;
        o->n_prompt = c->last.n_prompt;
        o->n_prefilled = c->last.n_prefilled;
        o->n_gen = c->last.n_gen;
        o->prefill_s = c->last.t_prefill_s;
        o->decode_s = c->last.t_decode_s;
    }
    pthread_mutex_unlock(&ws->mu);
    return c ? PT_OK : PT_ERR_ARG;
}

int pt_chat_message(pt_ws *ws, int id, int i, char *role, size_t rcap, char *buf, size_t cap) {
    pthread_mutex_lock(&ws->mu);
    ws_chat *c = find(ws, id);
    int ok = c && i >= 0 && i < c->n_conv;
    if (ok) {
        snprintf(role, rcap, "%s", c->conv[i].role);
        snprintf(buf, cap, "%s", c->conv[i].content);
    }
    pthread_mutex_unlock(&ws->mu);
    return ok ? PT_OK : PT_ERR_ARG;
}

void pt_chat_close(pt_ws *ws, int id) {
    pthread_mutex_lock(&ws->mu);
    ws_chat *c = find(ws, id);
    if (c) {
        c->quit = 1;
        __atomic_store_n(&c->cancel, 1, __ATOMIC_RELAXED);
        pthread_cond_signal(&c->cv);
    }
    pthread_mutex_unlock(&ws->mu);
    if (!c) return;
    if (c->started) pthread_join(c->th, NULL);
    pthread_mutex_lock(&ws->mu);
    ws_table_remove((void **)ws->chats, &ws->n_chats, c);
    if (c->adapter != PT_BASE) ws_adapter_get(ws, c->adapter)->users--;
    pthread_cond_broadcast(&ws->cv);
    pthread_mutex_unlock(&ws->mu);
    chat_free(c);
}

void ws_chats_destroy(pt_ws *ws) {
    for (;;) {
        pthread_mutex_lock(&ws->mu);
        int id = ws->n_chats ? ws->chats[0]->id : 0;
        pthread_mutex_unlock(&ws->mu);
        if (!id) break;
        pt_chat_close(ws, id);
    }
}
