// generate.c - prefill, then sample and decode one token at a time, streaming
// complete UTF-8 text and holding back any tail that could begin a stop string.
#include "infer/generate.h"
#include "core/pt_time.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int session_init(pt_session *s, pt_runtime *rt, pt_err *err) {
    memset(s, 0, sizeof *s);
    s->rt = rt;
    s->cap = rt->n_ctx;
    s->history = malloc(sizeof(int32_t) * (size_t)s->cap);
    if (!s->history) return pt_fail(err, PT_ERR_NOMEM, "out of memory for the session history");
    runtime_reset(rt);
    return PT_OK;
}

void session_free(pt_session *s) {
    free(s->history);
    memset(s, 0, sizeof *s);
}

void session_reset(pt_session *s) {
    s->n_history = 0;
    runtime_reset(s->rt);
}

// Growable text buffer for the answer.
typedef struct { char *p; size_t len, cap; } textbuf;

static int tb_append(textbuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return 0;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return 1;
}

// Length of the longest tail of text that is a proper prefix of a stop string:
// those bytes must wait until we know whether the stop string completes.
static size_t stop_holdback(const char *text, size_t len, const char *const *stops, int n_stops) {
    size_t hold = 0;
    for (int i = 0; i < n_stops; i++) {
        size_t sl = strlen(stops[i]);
        for (size_t k = sl > 1 ? sl - 1 : 0; k > hold; k--)
            if (k <= len && memcmp(text + len - k, stops[i], k) == 0) { hold = k; break; }
    }
    return hold;
}

// Earliest occurrence of any stop string at or after `from`; -1 if none.
static long find_stop(const char *text, size_t from, const char *const *stops, int n_stops) {
    long best = -1;
    for (int i = 0; i < n_stops; i++) {
        if (!stops[i][0]) continue;
        const char *hit = strstr(text + from, stops[i]);
        if (hit && (best < 0 || hit - text < best)) best = hit - text;
    }
    return best;
}

int generate(pt_session *s, const int32_t *prompt, int n_prompt, const pt_gen_params *p,
             pt_gen_result *res, char **out_text, pt_err *err) {
    pt_runtime *rt = s->rt;
    const pt_model *m = rt->model;
    const pt_tokenizer *tok = m->tok;
    int V = m->cfg.vocab_size;
    pt_gen_result r = {0};
    textbuf text = {0};
    float *logits = NULL;
    pt_sampler *smp = NULL;
    int rc = PT_OK;
    if (out_text) *out_text = NULL;

    r.n_prompt = n_prompt;
    if (n_prompt < 1) { rc = pt_fail(err, PT_ERR_ARG, "the prompt is empty"); goto done; }
    if (n_prompt >= rt->n_ctx) {
        rc = pt_fail(err, PT_ERR_RANGE, "the prompt is %d tokens but the context holds %d; shorten it or raise --ctx",
                     n_prompt, rt->n_ctx);
        goto done;
    }
    logits = malloc(sizeof(float) * (size_t)V);
    smp = sampler_new(&p->sampling, V);
    if (!logits || !smp || !tb_append(&text, "", 0)) { rc = pt_fail(err, PT_ERR_NOMEM, "out of memory"); goto done; }

    // Reuse the cached prefix; always re-run at least the last prompt token for its logits.
    int common = 0;
    while (common < s->n_history && common < n_prompt && s->history[common] == prompt[common]) common++;
    if (common >= n_prompt) common = n_prompt - 1;
    runtime_truncate(rt, common);
    if (rt->n_past < common) common = rt->n_past;
    s->n_history = common;

    double t0 = pt_now_s();
    rc = runtime_forward(rt, prompt + common, n_prompt - common, logits, 0, err);
    if (rc) goto done;
    memcpy(s->history + common, prompt + common, sizeof(int32_t) * (size_t)(n_prompt - common));
    s->n_history = n_prompt;
    r.n_prefilled = n_prompt - common;
    r.t_prefill_s = pt_now_s() - t0;

    pt_detok dt;
    detok_init(&dt);
    size_t emitted = 0;
    char piece[256];
    t0 = pt_now_s();
    r.stop = PT_STOP_MAX_TOKENS;
    for (int i = 0; i < p->max_new_tokens; i++) {
        if (p->abort_flag && *p->abort_flag) { r.stop = PT_STOP_ABORT; break; }
        int32_t id = sampler_sample(smp, logits, s->history, s->n_history);
        if (tokenizer_is_eog(tok, id)) { r.stop = PT_STOP_EOG; break; }
        if (s->n_history >= s->cap) { r.stop = PT_STOP_CONTEXT; break; }
        r.n_gen++;
        s->history[s->n_history++] = id;

        if (tokenizer_token_type(tok, id) != PT_TOKTYPE_CONTROL) {
            size_t n = detok_push(&dt, tok, id, piece, sizeof piece);
            if (!tb_append(&text, piece, n)) { rc = pt_fail(err, PT_ERR_NOMEM, "out of memory"); goto done; }
        }
        size_t from = emitted > 64 ? emitted - 64 : 0;  // a stop string may straddle the last emit
        long stop_at = p->n_stops ? find_stop(text.p, from, p->stops, p->n_stops) : -1;
        size_t upto = stop_at >= 0 ? (size_t)stop_at : text.len - stop_holdback(text.p, text.len, p->stops, p->n_stops);
        if (upto > emitted && p->on_text && p->on_text(p->ud, text.p + emitted, upto - emitted)) {
            emitted = upto;
            r.stop = PT_STOP_ABORT;
            break;
        }
        if (upto > emitted) emitted = upto;
        if (stop_at >= 0) { text.len = (size_t)stop_at; text.p[text.len] = 0; r.stop = PT_STOP_STRING; break; }

        if (rt->n_past >= rt->n_ctx) { r.stop = PT_STOP_CONTEXT; break; }
        if (i + 1 == p->max_new_tokens) break;  // no need to run the last token
        rc = runtime_forward(rt, &id, 1, logits, 0, err);
        if (rc) goto done;
    }
    if (r.stop != PT_STOP_STRING) {  // flush held-back text and incomplete bytes
        size_t n = detok_flush(&dt, piece, sizeof piece);
        tb_append(&text, piece, n);
        if (text.len > emitted && p->on_text) p->on_text(p->ud, text.p + emitted, text.len - emitted);
    }
    r.t_decode_s = pt_now_s() - t0;

done:
    // The cache holds every token we ran; a sampled token not yet run is not cached.
    if (s->n_history > rt->n_past) s->n_history = rt->n_past;
    if (res) *res = r;
    if (out_text && rc == PT_OK) { *out_text = text.p; text.p = NULL; }
    free(text.p);
    free(logits);
    sampler_free(smp);
    return rc;
}
