// generate.c - prefill, then sample and decode one token at a time, streaming
// complete UTF-8 text and holding back any tail that could begin a stop string.
#include "infer/generate.h"
#include "core/pt_time.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *stop_reason_name(pt_stop_reason r) {
    switch (r) {
    case PT_STOP_EOG: return "end of generation";
    case PT_STOP_STRING: return "stop string";
    case PT_STOP_MAX_TOKENS: return "max tokens";
    case PT_STOP_CONTEXT: return "context full";
    case PT_STOP_ABORT: return "interrupted";
    }
    return "?";
}

int session_init(pt_session *s, pt_runtime *rt, pt_err *err) {
    memset(s, 0, sizeof *s);
    s->rt = rt;
    s->cap = rt->n_ctx;
    s->history = malloc(sizeof(int32_t) * (size_t)s->cap);
    if (!s->history) return pt_fail(err, PT_ERR_NOMEM, "out of memory for the session history");
    return PT_OK;   // an empty history: the first generate truncates its slot to what it shares (nothing)
}

void session_free(pt_session *s) {
    free(s->history);
    memset(s, 0, sizeof *s);
}

void session_reset(pt_session *s) {
    s->n_history = 0;
    runtime_seq_truncate(s->rt, s->slot, 0);
}

// float exponentials (about half of double exp's time over a 49k vocabulary,
// paid per token and column), summed in double.
float logprob_of(const float *logits, int V, int32_t id) {
    float mx = -INFINITY;
    double sum = 0.0;
    for (int v = 0; v < V; v++) mx = logits[v] > mx ? logits[v] : mx;
    for (int v = 0; v < V; v++) sum += expf(logits[v] - mx);
    return (float)((double)logits[id] - mx - log(sum));
}

// ---- the answer's text ------------------------------------------------------

static int ts_append(pt_textstream *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->text, cap);
        if (!p) return 0;
        b->text = p;
        b->cap = cap;
    }
    memcpy(b->text + b->len, s, n);
    b->len += n;
    b->text[b->len] = 0;
    return 1;
}

int textstream_init(pt_textstream *ts, const pt_tokenizer *tok, const char *const *stops, int n_stops) {
    memset(ts, 0, sizeof *ts);
    ts->tok = tok;
    ts->stops = stops;
    ts->n_stops = stops ? n_stops : 0;
    detok_init(&ts->dt);
    return ts_append(ts, "", 0) ? 0 : -1;
}

void textstream_free(pt_textstream *ts) {
    free(ts->text);
    memset(ts, 0, sizeof *ts);
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

int textstream_push(pt_textstream *ts, int32_t id, const char **out, size_t *n) {
    *out = ts->text + ts->emitted;
    *n = 0;
    if (ts->stopped) return 1;
    if (tokenizer_token_type(ts->tok, id) != PT_TOKTYPE_CONTROL) {
        char piece[256];
        size_t k = detok_push(&ts->dt, ts->tok, id, piece, sizeof piece);
        if (!ts_append(ts, piece, k)) return -1;
    }
    size_t from = ts->emitted > 64 ? ts->emitted - 64 : 0;  // a stop string may straddle the last release
    long stop_at = ts->n_stops ? find_stop(ts->text, from, ts->stops, ts->n_stops) : -1;
    size_t upto = stop_at >= 0 ? (size_t)stop_at : ts->len - stop_holdback(ts->text, ts->len, ts->stops, ts->n_stops);
    if (upto > ts->emitted) {
        *out = ts->text + ts->emitted;
        *n = upto - ts->emitted;
        ts->emitted = upto;
    }
    if (stop_at >= 0) {
        ts->len = (size_t)stop_at;
        ts->text[ts->len] = 0;
        ts->stopped = 1;
        return 1;
    }
    return 0;
}

int textstream_finish(pt_textstream *ts, const char **out, size_t *n) {
    *out = ts->text + ts->emitted;
    *n = 0;
    if (ts->stopped) return 0;
    char piece[256];
    size_t k = detok_flush(&ts->dt, piece, sizeof piece);
    if (!ts_append(ts, piece, k)) return -1;
    *out = ts->text + ts->emitted;
    *n = ts->len - ts->emitted;
    ts->emitted = ts->len;
    return 0;
}

// ---- generation ---------------------------------------------------------------

int generate(pt_session *s, const int32_t *prompt, int n_prompt, const pt_gen_params *p,
             pt_gen_result *res, char **out_text, pt_err *err) {
    pt_runtime *rt = s->rt;
    pt_rt_seq *sq = &rt->seq[s->slot];
    const pt_model *m = rt->model;
    const pt_tokenizer *tok = m->tok;
    int V = m->cfg.vocab_size;
    pt_gen_result r = {0};
    pt_textstream ts;
    float *logits = NULL, *raw = NULL;
    pt_sampler *smp = NULL;
    int rc = PT_OK, ts_ok = 0;
    volatile int *abort_was = rt->abort;
    if (out_text) *out_text = NULL;

    r.n_prompt = n_prompt;
    if (n_prompt < 1) { rc = pt_fail(err, PT_ERR_ARG, "the prompt is empty"); goto done; }
    if (n_prompt >= rt->n_ctx) {
        rc = pt_fail(err, PT_ERR_RANGE, "the prompt is %d tokens but the context holds %d; shorten it or raise --ctx",
                     n_prompt, rt->n_ctx);
        goto done;
    }
    ts_ok = textstream_init(&ts, tok, p->stops, p->n_stops) == 0;
    logits = malloc(sizeof(float) * (size_t)V);
    raw = p->on_token ? malloc(sizeof(float) * (size_t)V) : NULL;
    smp = sampler_new(&p->sampling, V);
    if (!ts_ok || !logits || !smp || (p->on_token && !raw)) { rc = pt_fail(err, PT_ERR_NOMEM, "out of memory"); goto done; }

    // Reuse the cached prefix; always re-run at least the last prompt token for its logits.
    int common = 0;
    while (common < s->n_history && common < n_prompt && s->history[common] == prompt[common]) common++;
    if (common >= n_prompt) common = n_prompt - 1;
    runtime_seq_truncate(rt, s->slot, common);
    if (sq->n_past < common) common = sq->n_past;
    s->n_history = common;

    double t0 = pt_now_s();
    rt->abort = p->abort_flag;   // a long prefill stops between chunks
    pt_rt_segment seg = {s->slot, prompt + common, n_prompt - common};
    rc = runtime_forward_batch(rt, &seg, 1, logits, 0, err);
    rt->abort = abort_was;
    if (rc == PT_ERR_ABORTED) {   // what did run is cached: keep it
        memcpy(s->history + common, prompt + common, sizeof(int32_t) * (size_t)(sq->n_past - common));
        s->n_history = sq->n_past;
        r.n_prefilled = sq->n_past - common;
        r.stop = PT_STOP_ABORT;
        r.t_prefill_s = pt_now_s() - t0;
        rc = PT_OK;
        goto done;
    }
    if (rc) goto done;
    memcpy(s->history + common, prompt + common, sizeof(int32_t) * (size_t)(n_prompt - common));
    s->n_history = n_prompt;
    r.n_prefilled = n_prompt - common;
    r.t_prefill_s = pt_now_s() - t0;

    const char *piece;
    size_t np;
    t0 = pt_now_s();
    r.stop = PT_STOP_MAX_TOKENS;
    for (int i = 0; i < p->max_new_tokens; i++) {
        if (p->abort_flag && __atomic_load_n(p->abort_flag, __ATOMIC_RELAXED)) { r.stop = PT_STOP_ABORT; break; }
        if (raw) memcpy(raw, logits, sizeof(float) * (size_t)V);
        int32_t id = sampler_sample(smp, logits, s->history, s->n_history);
        if (tokenizer_is_eog(tok, id)) { r.stop = PT_STOP_EOG; break; }
        if (s->n_history >= s->cap) { r.stop = PT_STOP_CONTEXT; break; }
        r.n_gen++;
        s->history[s->n_history++] = id;

        int hit = textstream_push(&ts, id, &piece, &np);
        if (hit < 0) { rc = pt_fail(err, PT_ERR_NOMEM, "out of memory"); goto done; }
        int quit = np && p->on_text && p->on_text(p->ud, piece, np);
        quit |= p->on_token && p->on_token(p->ud, id, logprob_of(raw, V, id), piece, np);
        if (quit) { r.stop = PT_STOP_ABORT; break; }
        if (hit) { r.stop = PT_STOP_STRING; break; }

        if (sq->n_past >= rt->n_ctx) { r.stop = PT_STOP_CONTEXT; break; }
        if (i + 1 == p->max_new_tokens) break;  // no need to run the last token
        rc = runtime_forward_batch(rt, &(pt_rt_segment){s->slot, &id, 1}, 1, logits, 0, err);
        if (rc) goto done;
    }
    if (r.stop != PT_STOP_STRING) {  // flush held-back text and incomplete bytes
        if (textstream_finish(&ts, &piece, &np)) { rc = pt_fail(err, PT_ERR_NOMEM, "out of memory"); goto done; }
        if (np && p->on_text) p->on_text(p->ud, piece, np);
        if (np && p->on_token) p->on_token(p->ud, -1, 0.0f, piece, np);
    }
    r.t_decode_s = pt_now_s() - t0;

done:
    // The cache holds every token we ran; a sampled token not yet run is not cached.
    if (s->n_history > sq->n_past) s->n_history = sq->n_past;
    if (res) *res = r;
    if (out_text && rc == PT_OK && ts_ok) {
        *out_text = ts.text;
        ts.text = NULL;
    }
    if (ts_ok) textstream_free(&ts);
    free(logits);
    free(raw);
    sampler_free(smp);
    return rc;
}
