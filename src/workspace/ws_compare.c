// ws_compare.c - K columns (the base and adapters, each at its scale)
// answer one prompt with the same sampling settings and seed, on one
// runtime with a slot per column. Batched: one forward call per step for
// every column still answering (the base products once over all rows, each
// row adding its own adapter); the prompt's prefill is run once for the
// columns whose adapters leave the cached keys and values as the base makes
// them (copied to their slots, then only the last prompt token runs under
// each adapter), and batched for the others. Sequential: each column alone,
// through generate() - the reference the batched result must equal.
// Scoring: every answer is run teacher-forced under every other column's
// model, giving each token's log-probability under each model.
#include "workspace/ws_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pt_time.h"

#define SCORE_CHUNK 32   // answer tokens per scoring call: (K - 1) * 32 rows of logits at most

typedef struct {
    pt_column spec;
    ws_hold hold;
    int have_hold;
    char label[160];
    pt_sampler *smp;
    pt_textstream ts;
    int ts_ok;
    int32_t *hist;        // (n_ids + max_tokens) the prompt, then the answer: what the sampler's penalty sees
    int32_t *tokens;      // (max_tokens) = hist + n_ids: the answer
    float *own_lp;        // (max_tokens) log-probabilities under its own model, as generated
    int n;
    int active;           // still answering
    int stop;             // pt_stop
    float *logits;        // (V) the next token's
    float *lp;            // (n, K) scored
} column;

struct ws_cmp {
    int id;
    pt_ws *ws;
    pthread_t th;
    int started, done, rc;
    pt_err err;
    volatile int cancel;
    pt_compare_opts o;
    char *prompt, *system, *tmpl_name;
    pt_backend *lane;
    pt_runtime rt;
    int rt_ok;
    int32_t *ids;         // (n_ids) the prompt's tokens
    int n_ids;
    column col[PT_COMPARE_MAX];
    int K;
    const char *const *stops;
    int n_stops;
    pt_chat_template *tmpl;
    char *model_system;
    int first_diff;
    double prefill_s, decode_s, score_s;
};

static ws_cmp *find(pt_ws *ws, int id) { return ws_table_find((void *const *)ws->cmps, ws->n_cmps, id); }

int ws_cmp_ended(pt_ws *ws, int id, int *rc, pt_err *err) {
    ws_cmp *c = find(ws, id);
    if (!c) return -1;
    if (!c->done) return 0;
    *rc = c->rc;
    if (c->rc && err) *err = c->err;
    return 1;
}

void pt_compare_opts_default(pt_compare_opts *o) {
    memset(o, 0, sizeof *o);
    sampling_defaults(&o->sampling);
    o->max_tokens = 256;
    o->score = 1;
}

static int cancelled(ws_cmp *c) { return __atomic_load_n(&c->cancel, __ATOMIC_RELAXED); }

static void push_token(ws_cmp *c, int k, int32_t id, float lp, const char *text, size_t len) {
    pt_event e;
    memset(&e, 0, sizeof e);
    e.kind = PT_EV_TOKEN;
    e.src = c->id;
    e.column = k;
    e.token = id;
    e.logprob = lp;
    snprintf(e.text, sizeof e.text, "%.*s", (int)(len < sizeof e.text ? len : sizeof e.text - 1), text);
    ws_push(c->ws, &e);
}

static int col_append(ws_cmp *c, column *cl, int32_t id, float lp) {
    if (cl->n >= c->o.max_tokens) return -1;
    cl->tokens[cl->n] = id;
    cl->own_lp[cl->n++] = lp;
    return 0;
}

// Column k takes the token its logits give; 1 when it is done answering.
static int col_step(ws_cmp *c, int k, float *raw, pt_err *err) {
    column *cl = &c->col[k];
    const pt_model *m = &c->ws->model;
    int V = m->cfg.vocab_size;
    memcpy(raw, cl->logits, sizeof(float) * (size_t)V);
    int32_t id = sampler_sample(cl->smp, cl->logits, cl->hist, c->n_ids + cl->n);   // as generate: prompt and answer
    if (tokenizer_is_eog(m->tok, id)) {
        cl->stop = PT_STOP_END;
        return 1;
    }
    if (c->rt.seq[k].n_past >= c->rt.n_ctx) {
        cl->stop = PT_STOP_FULL;
        return 1;
    }
    if (col_append(c, cl, id, logprob_of(raw, V, id))) return pt_fail(err, PT_ERR_INTERNAL, "answer longer than max_tokens"), -1;
    const char *piece;
    size_t np;
    int hit = textstream_push(&cl->ts, id, &piece, &np);
    if (hit < 0) return pt_fail(err, PT_ERR_NOMEM, "out of memory"), -1;
    push_token(c, k, id, cl->own_lp[cl->n - 1], piece, np);
    if (hit) {
        cl->stop = PT_STOP_STOPSTR;
        return 1;
    }
    if (cl->n >= c->o.max_tokens) {
        cl->stop = PT_STOP_LIMIT;
        return 1;
    }
    return 0;
}

// ---- batched ----

static int batched(ws_cmp *c, pt_err *err) {
    pt_runtime *rt = &c->rt;
    int K = c->K, n = c->n_ids, V = c->ws->model.cfg.vocab_size, rc;
    float *raw = malloc(sizeof(float) * (size_t)V), *lg = malloc(sizeof(float) * (size_t)V * K);
    pt_rt_segment seg[PT_COMPARE_MAX];
    int which[PT_COMPARE_MAX], ns = 0;
    if (!raw || !lg) { rc = pt_fail(err, PT_ERR_NOMEM, "out of memory"); goto done; }
    double t0 = pt_now_s();
    // the shared prefill: the prompt but its last token, once, with the base
    // (worth it when two columns or more can share it; else one batched call)
    int leader = -1, sharing = 0;
    for (int k = 0; k < K; k++)
        if (!c->col[k].hold.touches_cache && sharing++ == 0) leader = k;
    if (sharing < 2) leader = -1;
    if (leader >= 0 && n > 1) {
        runtime_seq_use(rt, leader, NULL, 1.0f, NULL);
        pt_rt_segment g = {leader, c->ids, n - 1};
        if ((rc = runtime_forward_batch(rt, &g, 1, NULL, 0, err))) goto done;
        for (int k = 0; k < K; k++)
            if (k != leader && !c->col[k].hold.touches_cache) runtime_seq_copy(rt, k, leader, n - 1);
    }
    // then each column: its last prompt token (shared) or the whole prompt, in one call
    for (int k = 0; k < K; k++) {
        column *cl = &c->col[k];
        runtime_seq_use(rt, k, cl->hold.view, cl->hold.scale, NULL);
        int shared = leader >= 0 && !cl->hold.touches_cache;
        seg[ns] = (pt_rt_segment){k, shared ? c->ids + n - 1 : c->ids, shared ? 1 : n};
        which[ns++] = k;
    }
    if ((rc = runtime_forward_batch(rt, seg, ns, lg, 0, err))) goto done;
    for (int i = 0; i < ns; i++) memcpy(c->col[which[i]].logits, lg + (size_t)i * V, sizeof(float) * (size_t)V);
    c->prefill_s = pt_now_s() - t0;
    t0 = pt_now_s();
    // decode: every column still answering takes a token, then one forward for all
    for (;;) {
        if (cancelled(c)) {
            for (int k = 0; k < K; k++)
                if (c->col[k].active) c->col[k].stop = PT_STOP_CANCEL;
            break;
        }
        ns = 0;
        for (int k = 0; k < K; k++) {
            column *cl = &c->col[k];
            if (!cl->active) continue;
            int end = col_step(c, k, raw, err);
            if (end < 0) { rc = ws_code(err); goto done; }
            if (end) cl->active = 0;
            else {
                seg[ns] = (pt_rt_segment){k, &cl->tokens[cl->n - 1], 1};
                which[ns++] = k;
            }
        }
        if (!ns) break;
        c->lane->ops->set_threads(c->lane, ws_share(c->ws));
        if ((rc = runtime_forward_batch(rt, seg, ns, lg, 0, err))) goto done;
        for (int i = 0; i < ns; i++) memcpy(c->col[which[i]].logits, lg + (size_t)i * V, sizeof(float) * (size_t)V);
    }
    c->decode_s = pt_now_s() - t0;
    rc = PT_OK;
done:
    free(raw);
    free(lg);
    return rc;
}

// ---- sequential: each column alone, as a chat would answer ----

typedef struct {
    ws_cmp *c;
    int k;
} seq_ctx;

static int seq_token(void *ud, int32_t id, float logprob, const char *text, size_t len) {
    seq_ctx *s = ud;
    column *cl = &s->c->col[s->k];
    if (id >= 0 && col_append(s->c, cl, id, logprob)) return 1;
    push_token(s->c, s->k, id, logprob, text, len);
    return 0;
}

static int sequential(ws_cmp *c, pt_err *err) {
    for (int k = 0; k < c->K; k++) {
        column *cl = &c->col[k];
        pt_session s;
        int rc = session_init(&s, &c->rt, err);
        if (rc) return rc;
        s.slot = k;
        runtime_seq_use(&c->rt, k, cl->hold.view, cl->hold.scale, NULL);
        seq_ctx ctx = {c, k};
        pt_gen_params gp;
        memset(&gp, 0, sizeof gp);
        gp.max_new_tokens = c->o.max_tokens;
        gp.sampling = c->o.sampling;
        gp.stops = c->stops;
        gp.n_stops = c->n_stops;
        gp.on_token = seq_token;
        gp.ud = &ctx;
        gp.abort_flag = &c->cancel;
        pt_gen_result res;
        char *out = NULL;
        c->rt.abort = &c->cancel;
        rc = generate(&s, c->ids, c->n_ids, &gp, &res, &out, err);
        session_free(&s);
        if (rc) {
            free(out);
            return rc;
        }
        free(cl->ts.text);   // the answer's text is generate's
        cl->ts.text = out ? out : strdup("");
        cl->stop = (int)res.stop;
        c->prefill_s += res.t_prefill_s;
        c->decode_s += res.t_decode_s;
    }
    return PT_OK;
}

// ---- scoring ----

// log softmax(row)[t] for n rows of lg (V each) into out[i * stride].
static void rows_logprob(const float *lg, int V, const int32_t *targets, int n, float *out, int stride) {
    for (int i = 0; i < n; i++) out[(size_t)i * stride] = logprob_of(lg + (size_t)i * V, V, targets[i]);
}

// Answer j's tokens under every other column's model: slot k holds the prompt
// (its cache is cut back to it), its last prompt logits give token 0, and
// feeding tokens 0..n-2 gives the rest. alone: one slot a call (the reference).
static int score(ws_cmp *c, const float *prompt_logits, int alone, pt_err *err) {
    int K = c->K, V = c->ws->model.cfg.vocab_size, np = c->n_ids, rc = PT_OK;
    float *lg = malloc(sizeof(float) * (size_t)V * SCORE_CHUNK * K);
    if (!lg) return pt_fail(err, PT_ERR_NOMEM, "out of memory");
    for (int j = 0; j < K && !rc; j++) {
        column *a = &c->col[j];
        if (!a->n) continue;
        if (!(a->lp = malloc(sizeof(float) * (size_t)a->n * K))) { rc = pt_fail(err, PT_ERR_NOMEM, "out of memory"); break; }
        for (int t = 0; t < a->n; t++) a->lp[(size_t)t * K + j] = a->own_lp[t];
        for (int k = 0; k < K; k++) {
            if (k == j) continue;
            runtime_seq_truncate(&c->rt, k, np);
            a->lp[k] = logprob_of(prompt_logits + (size_t)k * V, V, a->tokens[0]);
        }
        for (int t0 = 0; t0 + 1 < a->n && !rc; t0 += SCORE_CHUNK) {
            if (cancelled(c)) { rc = pt_fail(err, PT_ERR_ABORTED, "cancelled"); break; }
            int len = a->n - 1 - t0 < SCORE_CHUNK ? a->n - 1 - t0 : SCORE_CHUNK;
            pt_rt_segment seg[PT_COMPARE_MAX];
            int who[PT_COMPARE_MAX], ns = 0;
            for (int k = 0; k < K; k++)
                if (k != j) {
                    seg[ns] = (pt_rt_segment){k, a->tokens + t0, len};
                    who[ns++] = k;
                }
            for (int b = 0; b < ns && !rc; b += alone ? 1 : ns) {
                int cnt = alone ? 1 : ns;
                rc = runtime_forward_batch(&c->rt, seg + b, cnt, lg, 1, err);
                for (int i = 0; !rc && i < cnt; i++)
                    rows_logprob(lg + (size_t)i * len * V, V, a->tokens + t0 + 1, len, a->lp + (size_t)(t0 + 1) * K + who[b + i], K);
            }
        }
    }
    free(lg);
    return rc;
}

// The prompt's last logits of every column (the first answer token's
// distribution), for scoring: run the last prompt token again in each slot.
static int prompt_logits(ws_cmp *c, float *out, pt_err *err) {
    pt_rt_segment seg[PT_COMPARE_MAX];
    for (int k = 0; k < c->K; k++) {
        runtime_seq_truncate(&c->rt, k, c->n_ids - 1);
        seg[k] = (pt_rt_segment){k, c->ids + c->n_ids - 1, 1};
    }
    return runtime_forward_batch(&c->rt, seg, c->K, out, 0, err);
}

static int first_diff(const ws_cmp *c) {
    int first = -1;
    for (int k = 1; k < c->K; k++) {
        const column *a = &c->col[0], *b = &c->col[k];
        int t = 0;
        while (t < a->n && t < b->n && a->tokens[t] == b->tokens[t]) t++;
        if ((t < a->n || t < b->n) && (first < 0 || t < first)) first = t;
    }
    return first;
}

static void *cmp_main(void *arg) {
    ws_cmp *c = arg;
    pt_ws *ws = c->ws;
    pt_err err = {0};
    c->lane->ops->set_threads(c->lane, ws_share(ws));
    c->rt.abort = &c->cancel;
    int rc = c->o.sequential ? sequential(c, &err) : batched(c, &err);
    for (int k = 0; !rc && k < c->K; k++) {   // what was held back
        column *cl = &c->col[k];
        const char *piece;
        size_t n;
        if (!c->o.sequential && cl->stop != PT_STOP_STOPSTR && !textstream_finish(&cl->ts, &piece, &n) && n)
            push_token(c, k, -1, 0.0f, piece, n);
    }
    if (!rc && c->o.score && !cancelled(c)) {
        double t0 = pt_now_s();
        float *pl = malloc(sizeof(float) * (size_t)ws->model.cfg.vocab_size * c->K);
        rc = pl ? prompt_logits(c, pl, &err) : pt_fail(&err, PT_ERR_NOMEM, "out of memory");
        if (!rc) rc = score(c, pl, c->o.sequential, &err);
        free(pl);
        c->score_s = pt_now_s() - t0;
    }
    if (rc == PT_ERR_ABORTED) rc = PT_OK;   // a cancel keeps what was made
    pthread_mutex_lock(&ws->mu);
    c->first_diff = first_diff(c);
    for (int k = 0; k < c->K; k++) ws_hold_release(ws, &c->col[k].hold);
    ws->n_active--;
    c->rc = rc;
    c->err = err;
    pt_event e;
    memset(&e, 0, sizeof e);
    e.kind = PT_EV_COMPARE;
    e.src = c->id;
    e.column = -1;
    e.status = rc;
    snprintf(e.text, sizeof e.text, "%s", rc ? err.msg : cancelled(c) ? "cancelled" : "done");
    ws_push(ws, &e);
    c->done = 1;
    pthread_cond_broadcast(&ws->cv);
    pthread_mutex_unlock(&ws->mu);
    return NULL;
}

// ---- the front end's calls ----

static void cmp_free(ws_cmp *c) {
    for (int k = 0; k < PT_COMPARE_MAX; k++) {
        column *cl = &c->col[k];
        sampler_free(cl->smp);
        if (cl->ts_ok) textstream_free(&cl->ts);
        free(cl->hist);
        free(cl->own_lp);
        free(cl->logits);
        free(cl->lp);
    }
    if (c->rt_ok) runtime_free(&c->rt);
    if (c->lane) backend_destroy(c->lane);
    template_free(c->tmpl);
    free(c->model_system);
    free(c->ids);
    free(c->prompt);
    free(c);
}

// The prompt's tokens through the template.
static int make_prompt(pt_ws *ws, ws_cmp *c, pt_err *err) {
    int rc = ws_template_open(ws, c->o.template_name, &c->tmpl, &c->model_system, err);
    if (rc) return rc;
    pt_msg msgs[2];
    int n = 0;
    if (c->o.system) msgs[n++] = (pt_msg){"system", c->o.system};
    msgs[n++] = (pt_msg){"user", c->o.prompt};
    char *text = template_render(c->tmpl, msgs, n, 1, c->model_system, err);
    if (!text) return ws_code(err);
    rc = tokenizer_encode(ws->model.tok, text, strlen(text), 0, 1, &c->ids, &c->n_ids, err);
    free(text);
    if (!rc && c->n_ids < 1) rc = pt_fail(err, PT_ERR_ARG, "the prompt has no tokens");
    c->n_stops = template_stops(c->tmpl, &c->stops);
    return rc;
}

int pt_compare_start(pt_ws *ws, const pt_compare_opts *o, int *id, char *warning, size_t wcap, pt_err *err) {
    *id = 0;
    if (warning && wcap) warning[0] = 0;
    if (!o->prompt || !*o->prompt) return pt_fail(err, PT_ERR_ARG, "the prompt is empty");
    if (pt_utf8_invalid_at(o->prompt, strlen(o->prompt))) return pt_fail(err, PT_ERR_ARG, "the prompt is not valid UTF-8; convert it to UTF-8");
    if (o->n_columns < 1 || o->n_columns > PT_COMPARE_MAX)
        return pt_fail(err, PT_ERR_ARG, "a compare has 1 to %d columns (got %d)", PT_COMPARE_MAX, o->n_columns);
    if (o->max_tokens < 1) return pt_fail(err, PT_ERR_ARG, "max_tokens %d: must be at least 1", o->max_tokens);
    ws_cmp *c = calloc(1, sizeof *c);
    if (!c) return pt_fail(err, PT_ERR_NOMEM, "out of memory");
    c->ws = ws;
    c->o = *o;
    c->K = o->n_columns;
    c->first_diff = -1;
    // the strings the worker reads, copied: prompt, system, template name in one block
    size_t lp = strlen(o->prompt) + 1, ls = o->system ? strlen(o->system) + 1 : 0, lt = o->template_name ? strlen(o->template_name) + 1 : 0;
    c->prompt = malloc(lp + ls + lt);
    if (!c->prompt) {
        free(c);
        return pt_fail(err, PT_ERR_NOMEM, "out of memory");
    }
    memcpy(c->prompt, o->prompt, lp);
    c->o.prompt = c->prompt;
    if (ls) c->o.system = memcpy(c->prompt + lp, o->system, ls);
    if (lt) c->o.template_name = memcpy(c->prompt + lp + ls, o->template_name, lt);
    pthread_mutex_lock(&ws->mu);
    int rc = ws_need_model(ws, err);
    if (!rc && !ws->model.tok) rc = pt_fail(err, PT_ERR_ARG, "this model has no tokenizer (a random shape)");
    if (!rc) rc = make_prompt(ws, c, err);
    int V = rc ? 0 : ws->model.cfg.vocab_size;
    for (int k = 0; !rc && k < c->K; k++) {
        column *cl = &c->col[k];
        cl->spec = o->columns[k];
        rc = ws_hold_take(ws, cl->spec.adapter, cl->spec.scale, &cl->hold, err);
        if (rc) break;
        cl->have_hold = 1;
        cl->active = 1;
        if (cl->hold.ad) {
            if (cl->hold.scale != 1.0f) snprintf(cl->label, sizeof cl->label, "%s (scale %g)", cl->hold.ad->name, cl->hold.scale);
            else snprintf(cl->label, sizeof cl->label, "%s", cl->hold.ad->name);
            const pt_adapter *a = &cl->hold.ad->a;
            if (warning && wcap && !warning[0] && a->template_name[0] && strcmp(a->template_name, template_name(c->tmpl)))
                snprintf(warning, wcap, "adapter %s was trained with the %s chat template, this compare uses %s", cl->hold.ad->name,
                         a->template_name, template_name(c->tmpl));
        } else {
            snprintf(cl->label, sizeof cl->label, "base");
        }
        cl->smp = sampler_new(&o->sampling, V);   // the same seed for every column
        cl->logits = malloc(sizeof(float) * (size_t)V);
        cl->hist = malloc(sizeof(int32_t) * (size_t)(c->n_ids + o->max_tokens));
        cl->own_lp = malloc(sizeof(float) * (size_t)o->max_tokens);
        if (cl->hist) {
            memcpy(cl->hist, c->ids, sizeof(int32_t) * (size_t)c->n_ids);
            cl->tokens = cl->hist + c->n_ids;
        }
        cl->ts_ok = textstream_init(&cl->ts, ws->model.tok, c->stops, c->n_stops) == 0;
        if (!cl->smp || !cl->logits || !cl->ts_ok || !cl->hist || !cl->own_lp) rc = pt_fail(err, PT_ERR_NOMEM, "out of memory");
    }
    if (!rc && ws_table_add((void ***)&ws->cmps, &ws->n_cmps, &ws->cap_cmps, c)) rc = pt_fail(err, PT_ERR_NOMEM, "out of memory");
    if (!rc) {
        c->id = ws_new_id(ws);
        ws->n_active++;   // from now: the worker computes
    } else {
        for (int k = 0; k < c->K; k++)
            if (c->col[k].have_hold) ws_hold_release(ws, &c->col[k].hold);
    }
    pthread_mutex_unlock(&ws->mu);
    if (rc) {
        cmp_free(c);
        return rc;
    }
    int n_ctx = c->n_ids + o->max_tokens + 1;
    if (ws->model.cfg.max_ctx > 0 && n_ctx > ws->model.cfg.max_ctx) n_ctx = ws->model.cfg.max_ctx;
    if (c->n_ids >= n_ctx)
        rc = pt_fail(err, PT_ERR_RANGE, "the prompt is %d tokens but the context holds %d (shorten it)", c->n_ids, n_ctx);
    if (!rc) rc = ws_lane(ws, &c->lane, err);
    // every column's prompt in one chunk when it fits (the weights read once for all of them)
    int rows = c->K * c->n_ids < 128 ? 128 : c->K * c->n_ids;
    if (!rc) rc = runtime_init_multi(&c->rt, c->lane, &ws->model, &ws->bw, c->K, n_ctx, rows < 512 ? rows : 512, err);
    if (!rc) c->rt_ok = 1;
    if (!rc && pthread_create(&c->th, NULL, cmp_main, c) != 0) rc = pt_fail(err, PT_ERR_INTERNAL, "cannot start the compare's thread");
    if (rc) {
        pthread_mutex_lock(&ws->mu);
        ws->n_active--;
        for (int k = 0; k < c->K; k++) ws_hold_release(ws, &c->col[k].hold);
        ws_table_remove((void **)ws->cmps, &ws->n_cmps, c);
        pthread_mutex_unlock(&ws->mu);
        cmp_free(c);
        return rc;
    }
    c->started = 1;
    *id = c->id;
    return PT_OK;
}

int pt_compare_cancel(pt_ws *ws, int id) {
    pthread_mutex_lock(&ws->mu);
    ws_cmp *c = find(ws, id);
    if (c) __atomic_store_n(&c->cancel, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&ws->mu);
    return c ? PT_OK : PT_ERR_ARG;
}

int pt_compare_get(pt_ws *ws, int id, pt_compare_result *o) {
    memset(o, 0, sizeof *o);
    pthread_mutex_lock(&ws->mu);
    ws_cmp *c = find(ws, id);
    int ok = c && c->done;
    if (ok) {
        o->done = 1;
        o->status = c->rc;
        o->n_columns = c->K;
        o->first_diff = c->first_diff;
        o->prefill_s = c->prefill_s;
        o->decode_s = c->decode_s;
        o->score_s = c->score_s;
        for (int k = 0; k < c->K; k++) {
            const column *cl = &c->col[k];
            pt_compare_column *r = &o->col[k];
            snprintf(r->label, sizeof r->label, "%s", cl->label);
            r->text = cl->ts.text ? cl->ts.text : "";
            r->tokens = cl->tokens;
            r->n_tokens = cl->n;
            r->logprobs = cl->lp;
            r->stop = cl->stop;
        }
    }
    pthread_mutex_unlock(&ws->mu);
    return ok ? PT_OK : PT_ERR_ARG;
}

void pt_compare_close(pt_ws *ws, int id) {
    pthread_mutex_lock(&ws->mu);
    ws_cmp *c = find(ws, id);
    if (c) __atomic_store_n(&c->cancel, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&ws->mu);
    if (!c) return;
    if (c->started) pthread_join(c->th, NULL);
    pthread_mutex_lock(&ws->mu);
    ws_table_remove((void **)ws->cmps, &ws->n_cmps, c);
    pthread_cond_broadcast(&ws->cv);
    pthread_mutex_unlock(&ws->mu);
    cmp_free(c);
}

void ws_cmps_destroy(pt_ws *ws) {
    for (;;) {
        pthread_mutex_lock(&ws->mu);
        int id = ws->n_cmps ? ws->cmps[0]->id : 0;
        pthread_mutex_unlock(&ws->mu);
        if (!id) break;
        pt_compare_close(ws, id);
    }
}
