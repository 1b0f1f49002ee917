// dataset.c - training rows from Alpaca, ShareGPT, chat-messages or plain-text
// files, rendered through a chat template, tokenized once per row, with a
// loss mask on the answer tokens.
//
// Masking (answer tokens only, the default) follows TRL's assistant_only_loss
// with its ChatML training templates: the {% generation %} block there holds
// the answer's content and the whole end of the turn ("<|im_end|>\n"), so the
// target bytes of every assistant message are [content, end) of its span
// from template_render_spans: the content plus the template's assistant
// suffix, whatever that suffix is. Every assistant turn of a conversation is
// a target (TRL's and LLaMA-Factory's default), not only the last one.
//
// Bytes to tokens: the rendered text is tokenized once; walking the tokens'
// byte lengths (tokenizer_token_bytes) gives each token's [start, end) in the
// text. A token is a target when it overlaps a target byte range at all -
// transformers' return_assistant_tokens_mask does the same (it marks every
// token from the one holding the span's first character to the one holding
// its last), so a token that straddles the prompt/answer boundary, such as
// " Paris" after the plain template's "Assistant:", is learned.
//
// Tokens not in the text (the BOS a tokenizer adds, an EOS it appends) come
// from tokenizer_encode(add_special=1) as HF's add_special_tokens=True; a
// BOS is not added twice when the template already starts with it (Llama-3's
// "<|begin_of_text|>", Mistral's "<s>"). They are never answer targets.
//
// loss[i] = 1 means token i is predicted from position i - 1, so loss[0] is
// always 0 - with train_on_prompt every other token is a target, as HF's
// labels = input_ids (the shift drops the first label). Plain text is
// trained on every token and gets the tokenizer's EOS appended after each
// document, as LLaMA-Factory's pre-training stage does.
//
// Truncation keeps the first max_seq_len tokens. n_truncated counts kept
// examples that were cut; an example left with no target is dropped and
// counted in n_skipped instead.
#include "train/dataset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/fileio.h"
#include "core/rng.h"
#include "text/chat_template.h"
#include "train/dataset_csv.h"

// ---------------------------------------------------------------------------
// growing arrays

typedef struct {
    pt_msg *m;      // (n) role is a static string; content borrowed or in own
    int n, cap;
    char **own;     // (n_own) strings this row allocated (Alpaca's user text)
    int n_own, cap_own;
} conv;

static int conv_add(conv *c, const char *role, const char *content) {
    if (c->n == c->cap) {
        int cap = c->cap ? c->cap * 2 : 8;
        pt_msg *p = realloc(c->m, sizeof *p * (size_t)cap);
        if (!p) return -1;
        c->m = p;
        c->cap = cap;
    }
    c->m[c->n++] = (pt_msg){role, content};
    return 0;
}

static char *conv_keep(conv *c, char *s) {
    if (!s) return NULL;
    if (c->n_own == c->cap_own) {
        int cap = c->cap_own ? c->cap_own * 2 : 4;
        char **p = realloc(c->own, sizeof *p * (size_t)cap);
        if (!p) { free(s); return NULL; }
        c->own = p;
        c->cap_own = cap;
    }
    c->own[c->n_own++] = s;
    return s;
}

static void conv_reset(conv *c) {
    for (int i = 0; i < c->n_own; i++) free(c->own[i]);
    c->n = c->n_own = 0;
}

static void conv_free(conv *c) {
    conv_reset(c);
    free(c->m);
    free(c->own);
}

static int ds_push(pt_dataset *d, int *cap, const pt_example *ex) {
    if (d->n == *cap) {
        int nc = *cap ? *cap * 2 : 64;
        pt_example *p = realloc(d->ex, sizeof *p * (size_t)nc);
        if (!p) return -1;
        d->ex = p;
        *cap = nc;
    }
    d->ex[d->n++] = *ex;
    return 0;
}

// ---------------------------------------------------------------------------
// what every row shares

typedef struct {
    const char *path;
    const pt_tokenizer *tok;
    const pt_chat_template *tmpl;
    const pt_dataset_opts *opts;
    int32_t *prefix;   // (n_prefix) tokens add_special puts before the text (BOS)
    int n_prefix;
    int32_t *suffix;   // (n_suffix) ... and after it
    int n_suffix;
    int cap;           // examples allocated in d->ex
    pt_dataset *d;
} loader;

// What add_special adds around a text: encode "a" with and without it.
static int find_special_tokens(loader *L, pt_err *err) {
    int32_t *with = NULL, *plain = NULL;
    int n_with = 0, n_plain = 0, rc;
    if ((rc = tokenizer_encode(L->tok, "a", 1, 1, 0, &with, &n_with, err)) != PT_OK) goto fail;
    if ((rc = tokenizer_encode(L->tok, "a", 1, 0, 0, &plain, &n_plain, err)) != PT_OK) goto fail;
    int at = -1;
    for (int i = 0; i + n_plain <= n_with && at < 0; i++)
        if (!memcmp(with + i, plain, sizeof *plain * (size_t)n_plain)) at = i;
    if (at < 0) { rc = pt_fail(err, PT_ERR_INTERNAL, "tokenizer: special tokens do not wrap the text"); goto fail; }
    L->n_prefix = at;
    L->n_suffix = n_with - n_plain - at;
    L->prefix = malloc(sizeof *L->prefix * (size_t)(L->n_prefix + 1));
    L->suffix = malloc(sizeof *L->suffix * (size_t)(L->n_suffix + 1));
    if (!L->prefix || !L->suffix) { rc = pt_fail(err, PT_ERR_NOMEM, "out of memory"); goto fail; }
    memcpy(L->prefix, with, sizeof *with * (size_t)L->n_prefix);
    memcpy(L->suffix, with + at + n_plain, sizeof *with * (size_t)L->n_suffix);
    rc = PT_OK;
fail:
    free(with);
    free(plain);
    return rc;
}

// Does text start with the bytes of token id?
static int text_starts_with_token(const pt_tokenizer *tok, int32_t id, const char *text, size_t len) {
    char buf[256];
    size_t n = tokenizer_token_bytes(tok, id, buf, sizeof buf);
    return n > 0 && n <= sizeof buf && n <= len && !memcmp(buf, text, n);
}

// Token i covers text bytes [start[i], end[i]). A token whose bytes are the
// text's with one extra leading space (SentencePiece's prepended "▁", or
// ByteLevel add_prefix_space) covers the text without it. Returns -1 when
// the tokens do not spell the text (a normalizer changed it).
static int token_spans(const pt_tokenizer *tok, const int32_t *ids, int n, const char *text, size_t len,
                       size_t *start, size_t *end) {
    char small[256];
    char *buf = small;
    size_t cap = sizeof small, p = 0;
    int rc = 0;
    for (int i = 0; i < n; i++) {
        size_t b = tokenizer_token_bytes(tok, ids[i], buf, cap);
        if (b > cap) {
            char *big = malloc(b);
            if (!big) { rc = -1; break; }
            if (buf != small) free(buf);
            buf = big;
            cap = b;
            tokenizer_token_bytes(tok, ids[i], buf, cap);
        }
        start[i] = p;
        if (b <= len - p && !memcmp(buf, text + p, b)) {
            p += b;
        } else if (b >= 1 && buf[0] == ' ' && b - 1 <= len - p && !memcmp(buf + 1, text + p, b - 1)) {
            p += b - 1;
        } else {
            rc = -1;
            break;
        }
        end[i] = p;
    }
    if (buf != small) free(buf);
    return rc == 0 && p == len ? 0 : -1;
}

// Tokenizes text and builds the example: loss on the tokens that overlap one
// of the n_ranges byte ranges (r0[k], r1[k]), on every token but the first
// when all_targets. Truncates, counts, and appends to the dataset.
static int add_example(loader *L, int line, int row_line, const char *text, const size_t *r0, const size_t *r1,
                       int n_ranges, int all_targets, int append_eos, pt_err *err) {
    pt_err terr = {0};
    int32_t *body = NULL;
    size_t *ts = NULL, *te = NULL;
    pt_example ex = {0};
    int n_body = 0, rc;
    size_t len = strlen(text);

    if ((rc = tokenizer_encode(L->tok, text, len, 0, 1, &body, &n_body, &terr)) != PT_OK) {
        rc = pt_fail(err, rc == PT_ERR_NOMEM ? PT_ERR_NOMEM : PT_ERR_FORMAT, "%s:%d: %s", L->path, row_line, terr.msg);
        goto fail;
    }
    ts = malloc(sizeof *ts * (size_t)(n_body + 1));
    te = malloc(sizeof *te * (size_t)(n_body + 1));
    if (!ts || !te) { rc = pt_fail(err, PT_ERR_NOMEM, "out of memory"); goto fail; }
    if (token_spans(L->tok, body, n_body, text, len, ts, te)) {
        rc = pt_fail(err, PT_ERR_UNSUPPORTED, "%s:%d: the tokenizer changes this text (normalization), so its answer "
                     "cannot be located in the tokens", L->path, row_line);
        goto fail;
    }
    // BOS (and the like) unless the template already wrote it
    int n_pre = L->n_prefix;
    if (n_pre == 1 && text_starts_with_token(L->tok, L->prefix[0], text, len)) n_pre = 0;
    int n_suf = L->n_suffix;
    int32_t eos = tokenizer_eos(L->tok);
    int add_eos = append_eos && eos >= 0 && !(n_suf > 0 && L->suffix[n_suf - 1] == eos);
    int n = n_pre + n_body + n_suf + add_eos;

    ex.tokens = malloc(sizeof *ex.tokens * (size_t)(n + 1));
    ex.loss = calloc((size_t)n + 1, 1);
    if (!ex.tokens || !ex.loss) { rc = pt_fail(err, PT_ERR_NOMEM, "out of memory"); goto fail; }
    memcpy(ex.tokens, L->prefix, sizeof *ex.tokens * (size_t)n_pre);
    memcpy(ex.tokens + n_pre, body, sizeof *ex.tokens * (size_t)n_body);
    memcpy(ex.tokens + n_pre + n_body, L->suffix, sizeof *ex.tokens * (size_t)n_suf);
    if (add_eos) ex.tokens[n - 1] = eos;
    if (all_targets) {
        for (int i = 1; i < n; i++) ex.loss[i] = 1;
    } else {
        for (int i = 0; i < n_body; i++)
            for (int k = 0; k < n_ranges; k++)
                if (te[i] > ts[i] && ts[i] < r1[k] && te[i] > r0[k]) { ex.loss[n_pre + i] = 1; break; }
        ex.loss[0] = 0;
    }
    ex.n = ex.n_full = n;
    ex.line = line;

    int cut = L->opts->max_seq_len > 0 && n > L->opts->max_seq_len;
    if (cut) ex.n = L->opts->max_seq_len;
    int targets = 0;
    for (int i = 1; i < ex.n; i++) targets += ex.loss[i];
    if (targets == 0) {
        L->d->n_skipped++;
        rc = PT_OK;
        if (!L->opts->keep_all) goto fail; // frees the example
        ex.no_target = 1;
    } else if (cut) {
        L->d->n_truncated++;
    }
    if (ds_push(L->d, &L->cap, &ex)) { rc = pt_fail(err, PT_ERR_NOMEM, "out of memory"); goto fail; }
    ex.tokens = NULL;
    ex.loss = NULL;
    rc = PT_OK;
fail:
    free(ex.tokens);
    free(ex.loss);
    free(body);
    free(ts);
    free(te);
    return rc;
}

// Renders a conversation and adds it: the targets are its assistant turns.
static int add_conversation(loader *L, int line, int row_line, const conv *c, pt_err *err) {
    pt_err terr = {0};
    pt_msg_span *spans = malloc(sizeof *spans * (size_t)(c->n + 1));
    size_t *r0 = malloc(sizeof *r0 * (size_t)(c->n + 1)), *r1 = malloc(sizeof *r1 * (size_t)(c->n + 1));
    char *text = NULL;
    int rc, n_ranges = 0;
    if (!spans || !r0 || !r1) { rc = pt_fail(err, PT_ERR_NOMEM, "out of memory"); goto fail; }
    text = template_render_spans(L->tmpl, c->m, c->n, 0, L->opts->default_system, spans, &terr);
    if (!text) { rc = pt_fail(err, terr.code ? terr.code : PT_ERR_INTERNAL, "%s:%d: %s", L->path, row_line, terr.msg); goto fail; }
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->m[i].role, "assistant")) {
            r0[n_ranges] = spans[i].content;
            r1[n_ranges++] = spans[i].end;
        }
    rc = add_example(L, line, row_line, text, r0, r1, n_ranges, L->opts->train_on_prompt, 0, err);
fail:
    free(text);
    free(spans);
    free(r0);
    free(r1);
    return rc;
}

// ---------------------------------------------------------------------------
// rows that fail (keep_going)

// With keep_going, a row's own fault is recorded and loading goes on:
// returns PT_OK for those. Out of memory and file-level faults still fail.
static int row_failed(loader *L, int line, int rc, const pt_err *err) {
    if (rc == PT_OK || !L->opts->keep_going || rc == PT_ERR_NOMEM) return rc;
    pt_dataset *d = L->d;
    if (d->n_fails % 64 == 0) {
        pt_row_fail *p = realloc(d->fails, sizeof *p * (size_t)(d->n_fails + 64));
        if (!p) return PT_ERR_NOMEM;
        d->fails = p;
    }
    pt_row_fail *f = &d->fails[d->n_fails++];
    f->line = line;
    const char *msg = err->msg;   // "path:line: reason" -> "reason"
    size_t pl = strlen(L->path);
    if (!strncmp(msg, L->path, pl) && msg[pl] == ':') {
        const char *q = msg + pl + 1;
        while (*q >= '0' && *q <= '9') q++;
        if (*q == ':') q++;
        while (*q == ' ') q++;
        msg = q;
    }
    snprintf(f->msg, sizeof f->msg, "%.*s", (int)sizeof f->msg - 1, msg);
    return PT_OK;
}

// ---------------------------------------------------------------------------
// rows

static const char *json_type(const cJSON *v) {
    if (!v) return "nothing";
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "something else";
}

static int blank(const char *s) {
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') return 0;
    return 1;
}

// Optional string field: NULL when absent or null; error when another type.
static int opt_string(const loader *L, int line, const cJSON *row, const char *key, const char **out, pt_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v)) return PT_OK;
    if (!cJSON_IsString(v))
        return pt_fail(err, PT_ERR_FORMAT, "%s:%d: \"%s\" must be a string, not %s", L->path, line, key, json_type(v));
    *out = v->valuestring;
    return PT_OK;
}

static const char *role_of(const char *who) {
    if (!strcmp(who, "user") || !strcmp(who, "human")) return "user";
    if (!strcmp(who, "assistant") || !strcmp(who, "gpt")) return "assistant";
    if (!strcmp(who, "system")) return "system";
    return NULL;
}

// Checks the turn order of c: an optional system message, then user and
// assistant alternating, starting with user and ending with an answer.
static int check_order(const loader *L, int line, const conv *c, pt_err *err) {
    int i = 0;
    if (c->n > 0 && !strcmp(c->m[0].role, "system")) i = 1;
    if (i == c->n) return pt_fail(err, PT_ERR_FORMAT, "%s:%d: the conversation has no user or assistant turns", L->path, line);
    for (int k = i; k < c->n; k++) {
        const char *want = (k - i) % 2 == 0 ? "user" : "assistant";
        if (!strcmp(c->m[k].role, "system"))
            return pt_fail(err, PT_ERR_FORMAT, "%s:%d: turn %d: a system message may only come first", L->path, line, k + 1);
        if (strcmp(c->m[k].role, want))
            return pt_fail(err, PT_ERR_FORMAT, "%s:%d: turn %d: roles out of order: expected a %s turn, got %s "
                           "(turns alternate user, assistant, ...)", L->path, line, k + 1, want, c->m[k].role);
        if (!strcmp(want, "assistant") && blank(c->m[k].content))
            return pt_fail(err, PT_ERR_FORMAT, "%s:%d: turn %d: empty answer", L->path, line, k + 1);
    }
    if (strcmp(c->m[c->n - 1].role, "assistant"))
        return pt_fail(err, PT_ERR_FORMAT, "%s:%d: the conversation ends with a user turn (the last turn must be the answer)",
                       L->path, line);
    return PT_OK;
}

// ShareGPT (conversations: from/value) or chat messages (messages: role/content);
// either spelling of the keys is accepted in both.
static int row_turns(const loader *L, int line, const cJSON *row, const cJSON *list, int sharegpt, conv *c, pt_err *err) {
    const char *kname = sharegpt ? "conversations" : "messages";
    const char *krole = sharegpt ? "from" : "role", *kcontent = sharegpt ? "value" : "content";
    const char *sys = NULL;
    int rc;
    if (!cJSON_IsArray(list))
        return pt_fail(err, PT_ERR_FORMAT, "%s:%d: \"%s\" must be a list of turns, not %s", L->path, line, kname, json_type(list));
    if (sharegpt && (rc = opt_string(L, line, row, "system", &sys, err)) != PT_OK) return rc;
    if (sys && conv_add(c, "system", sys)) return pt_fail(err, PT_ERR_NOMEM, "out of memory");
    int k = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, list) {
        k++;
        if (!cJSON_IsObject(t))
            return pt_fail(err, PT_ERR_FORMAT, "%s:%d: turn %d must be an object with \"%s\" and \"%s\", not %s", L->path,
                           line, k, krole, kcontent, json_type(t));
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(t, krole);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(t, kcontent);
        if (!r) r = cJSON_GetObjectItemCaseSensitive(t, sharegpt ? "role" : "from");
        if (!v) v = cJSON_GetObjectItemCaseSensitive(t, sharegpt ? "content" : "value");
        if (!r || !v)
            return pt_fail(err, PT_ERR_FORMAT, "%s:%d: turn %d needs \"%s\" and \"%s\"", L->path, line, k, krole, kcontent);
        if (!cJSON_IsString(r))
            return pt_fail(err, PT_ERR_FORMAT, "%s:%d: turn %d: \"%s\" must be a string, not %s", L->path, line, k, krole,
                           json_type(r));
        if (!cJSON_IsString(v))
            return pt_fail(err, PT_ERR_FORMAT, "%s:%d: turn %d: \"%s\" must be a string, not %s", L->path, line, k,
                           kcontent, json_type(v));
        const char *role = role_of(r->valuestring);
        if (!role)
            return pt_fail(err, PT_ERR_FORMAT, "%s:%d: turn %d: unknown role '%.40s' (expected %s)", L->path, line, k,
                           r->valuestring, sharegpt ? "human, gpt or system" : "user, assistant or system");
        if (conv_add(c, role, v->valuestring)) return pt_fail(err, PT_ERR_NOMEM, "out of memory");
    }
    return check_order(L, line, c, err);
}

// "a" + "\n" + "b", either part may be empty (LLaMA-Factory joins the non-empty ones).
static char *join2(const char *a, const char *b) {
    size_t la = a ? strlen(a) : 0, lb = b ? strlen(b) : 0;
    char *s = malloc(la + lb + 2);
    if (!s) return NULL;
    size_t n = 0;
    if (la) { memcpy(s, a, la); n = la; }
    if (la && lb) s[n++] = '\n';
    if (lb) { memcpy(s + n, b, lb); n += lb; }
    s[n] = '\0';
    return s;
}

// Alpaca: instruction, input, output; optional system and history ([[q, a], ...]).
static int row_alpaca(const loader *L, int line, const cJSON *row, conv *c, pt_err *err) {
    const char *ins, *inp, *out, *sys;
    int rc;
    if ((rc = opt_string(L, line, row, "instruction", &ins, err)) || (rc = opt_string(L, line, row, "input", &inp, err)) ||
        (rc = opt_string(L, line, row, "output", &out, err)) || (rc = opt_string(L, line, row, "system", &sys, err)))
        return rc;
    if (!ins && !inp)
        return pt_fail(err, PT_ERR_FORMAT, "%s:%d: row has \"output\" but no \"instruction\"", L->path, line);
    if (!out) return pt_fail(err, PT_ERR_FORMAT, "%s:%d: row has \"instruction\" but no \"output\"", L->path, line);
    if (blank(out)) return pt_fail(err, PT_ERR_FORMAT, "%s:%d: empty answer (\"output\" is empty)", L->path, line);
    char *user = conv_keep(c, join2(ins, inp));
    if (!user) return pt_fail(err, PT_ERR_NOMEM, "out of memory");
    if (blank(user)) return pt_fail(err, PT_ERR_FORMAT, "%s:%d: empty \"instruction\" and \"input\"", L->path, line);
    if (sys && conv_add(c, "system", sys)) return pt_fail(err, PT_ERR_NOMEM, "out of memory");

    const cJSON *hist = cJSON_GetObjectItemCaseSensitive(row, "history");
    if (hist && !cJSON_IsNull(hist)) {
        if (!cJSON_IsArray(hist))
            return pt_fail(err, PT_ERR_FORMAT, "%s:%d: \"history\" must be a list of [question, answer] pairs, not %s",
                           L->path, line, json_type(hist));
        const cJSON *pair;
        int k = 0;
        cJSON_ArrayForEach(pair, hist) {
            k++;
            const cJSON *q = cJSON_GetArrayItem(pair, 0), *a = cJSON_GetArrayItem(pair, 1);
            if (!cJSON_IsArray(pair) || cJSON_GetArraySize(pair) != 2 || !cJSON_IsString(q) || !cJSON_IsString(a))
                return pt_fail(err, PT_ERR_FORMAT, "%s:%d: \"history\" entry %d must be a [question, answer] pair of strings",
                               L->path, line, k);
            if (blank(a->valuestring))
                return pt_fail(err, PT_ERR_FORMAT, "%s:%d: \"history\" entry %d: empty answer", L->path, line, k);
            if (conv_add(c, "user", q->valuestring) || conv_add(c, "assistant", a->valuestring))
                return pt_fail(err, PT_ERR_NOMEM, "out of memory");
        }
    }
    if (conv_add(c, "user", user) || conv_add(c, "assistant", out)) return pt_fail(err, PT_ERR_NOMEM, "out of memory");
    return PT_OK;
}

// A field's text for a column map: a string as it is, a number or a boolean
// as JSON writes it (RAFT's integer labels), NULL when absent or null.
static int field_text(const loader *L, int line, const cJSON *row, const char *key, conv *c, const char **out,
                      pt_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v)) return PT_OK;
    if (cJSON_IsString(v)) {
        *out = v->valuestring;
        return PT_OK;
    }
    if (!cJSON_IsNumber(v) && !cJSON_IsBool(v))
        return pt_fail(err, PT_ERR_FORMAT, "%s:%d: column \"%s\" is %s; a column map takes strings, numbers or booleans",
                       L->path, line, key, json_type(v));
    if (!(*out = conv_keep(c, cJSON_PrintUnformatted(v)))) return pt_fail(err, PT_ERR_NOMEM, "out of memory");
    return PT_OK;
}

// The prompt format with each {field} replaced by the row's field ({{ is a {).
static int render_format(const loader *L, int line, const cJSON *row, const char *fmt, conv *c, const char **out,
                         pt_err *err) {
    size_t cap = strlen(fmt) + 1, n = 0;
    char *s = malloc(cap);
    int rc = PT_OK;
    if (!s) return pt_fail(err, PT_ERR_NOMEM, "out of memory");
    for (const char *p = fmt; *p && !rc;) {
        const char *piece = p;
        size_t plen = 1;
        char name[128];
        if (p[0] == '{' && p[1] == '{') {
            p += 2;
        } else if (p[0] == '{') {
            const char *end = strchr(p, '}');
            if (!end || (size_t)(end - p - 1) >= sizeof name) {
                rc = pt_fail(err, PT_ERR_ARG, "prompt format: \"{\" at offset %d opens no {field} (write {{ for a brace)",
                             (int)(p - fmt));
                break;
            }
            memcpy(name, p + 1, (size_t)(end - p - 1));
            name[end - p - 1] = '\0';
            if ((rc = field_text(L, line, row, name, c, &piece, err))) break;
            if (!piece) {
                rc = pt_fail(err, PT_ERR_FORMAT, "%s:%d: row has no \"%s\" for the prompt format", L->path, line, name);
                break;
            }
            plen = strlen(piece);
            p = end + 1;
        } else {
            p++;
        }
        if (n + plen + 1 > cap) {
            cap = 2 * (n + plen + 1);
            char *ns = realloc(s, cap);
            if (!ns) { rc = pt_fail(err, PT_ERR_NOMEM, "out of memory"); break; }
            s = ns;
        }
        memcpy(s + n, piece, plen);
        n += plen;
    }
    if (rc) { free(s); return rc; }
    s[n] = '\0';
    if (!(*out = conv_keep(c, s))) return pt_fail(err, PT_ERR_NOMEM, "out of memory");
    return PT_OK;
}

// A row through a column map (columns.h): the user's turn from prompt (and
// query) or the prompt format, the answer from response, system optional.
static int row_mapped(const loader *L, int line, const cJSON *row, const pt_columns *m, conv *c, pt_err *err) {
    const char *user = NULL, *query = NULL, *out = NULL, *sys = NULL;
    int rc;
    if ((rc = field_text(L, line, row, m->response, c, &out, err)) ||
        (m->system[0] && (rc = field_text(L, line, row, m->system, c, &sys, err))))
        return rc;
    if (m->prompt_format[0]) {
        if ((rc = render_format(L, line, row, m->prompt_format, c, &user, err))) return rc;
    } else {
        if ((rc = field_text(L, line, row, m->prompt, c, &user, err)) ||
            (m->query[0] && (rc = field_text(L, line, row, m->query, c, &query, err))))
            return rc;
        if (!user) return pt_fail(err, PT_ERR_FORMAT, "%s:%d: row has no prompt column \"%s\"", L->path, line, m->prompt);
        if (query && !(user = conv_keep(c, join2(user, query)))) return pt_fail(err, PT_ERR_NOMEM, "out of memory");
    }
    if (!out) return pt_fail(err, PT_ERR_FORMAT, "%s:%d: row has no response column \"%s\"", L->path, line, m->response);
    if (blank(out)) return pt_fail(err, PT_ERR_FORMAT, "%s:%d: empty answer (column \"%s\")", L->path, line, m->response);
    if (blank(user)) return pt_fail(err, PT_ERR_FORMAT, "%s:%d: empty prompt", L->path, line);
    if ((sys && !blank(sys) && conv_add(c, "system", sys)) || conv_add(c, "user", user) || conv_add(c, "assistant", out))
        return pt_fail(err, PT_ERR_NOMEM, "out of memory");
    return PT_OK;
}

// One JSON row: its format from its keys; line is its source line, index
// the example's line field (the line for JSONL, the record for an array).
static int load_row(loader *L, int line, int index, const cJSON *row, conv *c, pt_err *err) {
    int rc;
    const char *fmt;
    conv_reset(c);
    if (!cJSON_IsObject(row))
        return pt_fail(err, PT_ERR_FORMAT, "%s:%d: expected a JSON object (one row), not %s", L->path, line, json_type(row));
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(row, "messages");
    const cJSON *convs = cJSON_GetObjectItemCaseSensitive(row, "conversations");
    if (columns_set(L->opts->columns)) {   // the map says which fields, whatever the keys
        fmt = "columns";
        rc = row_mapped(L, line, row, L->opts->columns, c, err);
    } else if (msgs) {
        fmt = "messages";
        rc = row_turns(L, line, row, msgs, 0, c, err);
    } else if (convs) {
        fmt = "sharegpt";
        rc = row_turns(L, line, row, convs, 1, c, err);
    } else if (cJSON_GetObjectItemCaseSensitive(row, "instruction") || cJSON_GetObjectItemCaseSensitive(row, "output")) {
        fmt = "alpaca";
        rc = row_alpaca(L, line, row, c, err);
    } else {
        char keys[200] = "";
        size_t n = 0;
        const cJSON *k;
        cJSON_ArrayForEach(k, row) if (n < sizeof keys - 40) n += (size_t)snprintf(keys + n, sizeof keys - n, "%s%s",
                                                                                   n ? ", " : "", k->string);
        return pt_fail(err, PT_ERR_FORMAT, "%s:%d: row has neither instruction/output, conversations nor messages "
                       "(its fields: %s; map them with --prompt-column / --response-column or --prompt-format)",
                       L->path, line, n ? keys : "none");
    }
    if (rc != PT_OK) return rc;
    if (!L->d->format[0]) snprintf(L->d->format, sizeof L->d->format, "%s", fmt);
    return add_conversation(L, index, line, c, err);
}

// ---------------------------------------------------------------------------
// files

// 1-based line of byte offset off.
static int line_at(const char *s, size_t off) {
    int line = 1;
    for (size_t i = 0; i < off; i++)
        if (s[i] == '\n') line++;
    return line;
}

// The same for offsets that only grow: counts from where it last stopped,
// so a large JSON array is scanned once, not once per row.
typedef struct { size_t off; int line; } line_cursor;

static int cursor_line(line_cursor *c, const char *s, size_t off) {
    if (off < c->off) return line_at(s, off);
    for (; c->off < off; c->off++)
        if (s[c->off] == '\n') c->line++;
    return c->line;
}

static size_t skip_ws(const char *s, size_t len, size_t i) {
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    return i;
}

// A JSON array of rows, parsed one element at a time so that each row's
// error names the line it starts on.
static int load_json_array(loader *L, const char *s, size_t len, size_t i, pt_err *err) {
    conv c = {0};
    line_cursor lc = {0, 1};
    int rc = PT_OK, index = 0;
    i = skip_ws(s, len, i + 1); // past '['
    if (i < len && s[i] == ']') {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: the dataset has no rows (an empty JSON array)", L->path);
        goto done;
    }
    for (;;) {
        const char *end = NULL;
        int line = cursor_line(&lc, s, i);
        cJSON *row = cJSON_ParseWithLengthOpts(s + i, len - i, &end, 0);
        if (!row) {
            size_t at = end ? (size_t)(end - s) : i;
            rc = pt_fail(err, PT_ERR_FORMAT, "%s:%d: invalid JSON", L->path, cursor_line(&lc, s, at));
            goto done;
        }
        ++index;
        rc = row_failed(L, index, load_row(L, line, index, row, &c, err), err);
        cJSON_Delete(row);
        if (rc != PT_OK) goto done;
        i = skip_ws(s, len, (size_t)(end - s));
        if (i < len && s[i] == ',') {
            i = skip_ws(s, len, i + 1);
            continue;
        }
        if (i < len && s[i] == ']') break;
        rc = pt_fail(err, PT_ERR_FORMAT, "%s:%d: invalid JSON: expected ',' or ']' after a row", L->path, cursor_line(&lc, s, i));
        goto done;
    }
    i = skip_ws(s, len, i + 1);
    if (i < len) rc = pt_fail(err, PT_ERR_FORMAT, "%s:%d: invalid JSON: text after the closing ']'", L->path, cursor_line(&lc, s, i));
done:
    conv_free(&c);
    return rc;
}

// One JSON object per line; blank lines are skipped.
static int load_jsonl(loader *L, const char *s, size_t len, pt_err *err) {
    conv c = {0};
    int rc = PT_OK, line = 0, rows = 0;
    for (size_t i = 0; i < len;) {
        size_t e = i;
        while (e < len && s[e] != '\n') e++;
        line++;
        size_t a = skip_ws(s, e, i);
        if (a < e) {
            const char *end = NULL;
            cJSON *row = cJSON_ParseWithLengthOpts(s + a, e - a, &end, 0);
            rows++;
            if (!row) {
                rc = pt_fail(err, PT_ERR_FORMAT, "%s:%d: invalid JSON (column %d)", L->path, line,
                             (int)((end ? (size_t)(end - s) : a) - i) + 1);
            } else if (skip_ws(s, e, (size_t)(end - s)) < e) {
                rc = pt_fail(err, PT_ERR_FORMAT, "%s:%d: invalid JSON: text after the row (one JSON object per line)",
                             L->path, line);
            } else {
                rc = load_row(L, line, line, row, &c, err);
            }
            cJSON_Delete(row);
            if ((rc = row_failed(L, line, rc, err)) != PT_OK) goto done;
        }
        i = e + 1;
    }
    if (rows == 0) rc = pt_fail(err, PT_ERR_FORMAT, "%s: the dataset has no rows (only blank lines)", L->path);
done:
    conv_free(&c);
    return rc;
}

// Plain text: documents separated by blank lines, every token a target.
static int load_text(loader *L, char *s, size_t len, pt_err *err) {
    int rc = PT_OK, line = 0, docs = 0;
    size_t r[1] = {0};
    snprintf(L->d->format, sizeof L->d->format, "text");
    if (memchr(s, '\0', len))
        return pt_fail(err, PT_ERR_FORMAT, "%s:%d: NUL byte in a text file", L->path, line_at(s, (size_t)((char *)memchr(s, '\0', len) - s)));
    size_t i = 0;
    while (i < len) {
        // skip blank lines
        size_t e = i;
        while (e < len && s[e] != '\n') e++;
        line++;
        if (skip_ws(s, e, i) == e) { i = e + 1; continue; }
        // a document: lines up to the next blank one, joined by "\n" (CR dropped)
        int first = line;
        size_t w = i, d0 = i;
        for (;;) {
            size_t le = e;
            if (le > i && s[le - 1] == '\r') le--;
            if (w != d0) s[w++] = '\n';
            memmove(s + w, s + i, le - i);
            w += le - i;
            i = e + 1;
            if (i >= len) break;
            e = i;
            while (e < len && s[e] != '\n') e++;
            if (skip_ws(s, e, i) == e) break; // blank: the document ends (the line is counted below)
            line++;
        }
        char save = s[w];
        s[w] = '\0';
        docs++;
        rc = row_failed(L, first, add_example(L, first, first, s + d0, r, r, 0, 1, 1, err), err);
        s[w] = save;
        if (rc != PT_OK) return rc;
    }
    if (docs == 0) return pt_fail(err, PT_ERR_FORMAT, "%s: the dataset has no text (only blank lines)", L->path);
    return PT_OK;
}


// CSV / TSV: records keyed by the header, then as JSON rows (a header of
// instruction/input/output is Alpaca; any other needs a column map).
static int load_csv(loader *L, const char *s, size_t len, char sep, pt_err *err) {
    cJSON *rows = NULL;
    int *lines = NULL, rc = csv_parse(s, len, sep, L->path, &rows, &lines, err);
    if (rc) return rc;
    conv c = {0};
    int k = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, rows) {
        int line = lines[k++];
        rc = load_row(L, line, line, row, &c, err);
        if ((rc = row_failed(L, line, rc, err)) != PT_OK) break;
    }
    conv_free(&c);
    cJSON_Delete(rows);
    free(lines);
    return rc;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

void dataset_free(pt_dataset *d) {
    if (!d) return;
    for (int i = 0; i < d->n; i++) {
        free(d->ex[i].tokens);
        free(d->ex[i].loss);
    }
    free(d->ex);
    free(d->fails);
    memset(d, 0, sizeof *d);
}

int dataset_load(pt_dataset *d, const char *path, const pt_tokenizer *tok, const pt_chat_template *tmpl,
                 const pt_dataset_opts *opts, pt_err *err) {
    char *s = NULL;
    size_t len = 0;
    int rc;
    loader L = {.path = path, .tok = tok, .tmpl = tmpl, .opts = opts, .d = d};
    memset(d, 0, sizeof *d);
    if (!path || !tok || !opts) return pt_fail(err, PT_ERR_ARG, "dataset_load: missing argument");
    int is_txt = ends_with(path, ".txt"), is_jsonl = ends_with(path, ".jsonl"), is_json = ends_with(path, ".json");
    int is_csv = ends_with(path, ".csv"), is_tsv = ends_with(path, ".tsv");
    if (!is_txt && !is_jsonl && !is_json && !is_csv && !is_tsv)
        return pt_fail(err, PT_ERR_ARG, "%s: unknown dataset type (use .json, .jsonl, .csv, .tsv or .txt)", path);
    if (is_txt && columns_set(opts->columns))
        return pt_fail(err, PT_ERR_ARG, "%s: plain text has no columns to map (a column map is for JSON, CSV and TSV)", path);
    if (!is_txt && !tmpl) return pt_fail(err, PT_ERR_ARG, "%s: a chat template is needed for JSON rows", path);
    FILE *f = fopen(path, "rb");
    if (!f) return pt_fail(err, PT_ERR_IO, "%s: cannot open the dataset: %s", path, strerror(errno));
    rc = pt_read_stream(f, path, &s, &len, err);
    fclose(f);
    if (rc != PT_OK) return rc;
    size_t off = 0;
    if (len >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3)) off = 3; // UTF-8 byte-order mark
    if (skip_ws(s, len, off) == len) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: the dataset is empty", path);
        goto fail;
    }
    if ((rc = find_special_tokens(&L, err)) != PT_OK) goto fail;
    if (is_txt) {
        rc = load_text(&L, s + off, len - off, err);
    } else if (is_csv || is_tsv) {
        rc = load_csv(&L, s + off, len - off, is_csv ? ',' : '\t', err);
    } else {
        size_t i = skip_ws(s + off, len - off, 0);
        rc = is_json && s[off + i] == '[' ? load_json_array(&L, s + off, len - off, i, err)
                                          : load_jsonl(&L, s + off, len - off, err);
    }
    if (rc != PT_OK) goto fail;
    if (d->n == 0 && d->n_fails) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: none of its %d rows could be used (line %d: %s)", path, d->n_fails,
                     d->fails[0].line, d->fails[0].msg);
        goto fail;
    }
    if (d->n == 0) {
        rc = pt_fail(err, PT_ERR_RANGE, "%s: every one of its %d examples lost its answer to truncation at "
                     "max_seq_len %d (raise it)", path, d->n_skipped, opts->max_seq_len);
        goto fail;
    }
    free(L.prefix);
    free(L.suffix);
    free(s);
    return PT_OK;
fail:
    free(L.prefix);
    free(L.suffix);
    free(s);
    dataset_free(d);
    return rc;
}

// ---------------------------------------------------------------------------
// split


int dataset_split(pt_dataset *d, double eval_frac, uint64_t seed, pt_dataset *train, pt_dataset *eval, pt_err *err) {
    int *perm = NULL;
    uint8_t *is_eval = NULL;
    int rc = PT_OK;
    memset(train, 0, sizeof *train);
    memset(eval, 0, sizeof *eval);
    if (!(eval_frac >= 0.0 && eval_frac < 1.0))
        return pt_fail(err, PT_ERR_ARG, "eval fraction must be in [0, 1), got %g", eval_frac);
    int n = d->n;
    int n_eval = (int)(n * eval_frac + 0.5);
    if (eval_frac > 0 && n >= 2 && n_eval < 1) n_eval = 1;
    if (n_eval > n - 1) n_eval = n > 0 ? n - 1 : 0; // train keeps at least one row
    perm = malloc(sizeof *perm * (size_t)(n + 1));
    is_eval = calloc((size_t)n + 1, 1);
    train->ex = malloc(sizeof *train->ex * (size_t)(n - n_eval + 1));
    eval->ex = malloc(sizeof *eval->ex * (size_t)(n_eval + 1));
    if (!perm || !is_eval || !train->ex || !eval->ex) {
        free(train->ex);
        free(eval->ex);
        train->ex = eval->ex = NULL;
        rc = pt_fail(err, PT_ERR_NOMEM, "out of memory");
        goto done;
    }
    // Fisher-Yates on the indices; the first n_eval go to eval. Both sets keep file order.
    uint64_t st = seed;
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(pt_splitmix64(&st) % (uint64_t)(i + 1));
        int t = perm[i]; perm[i] = perm[j]; perm[j] = t;
    }
    for (int i = 0; i < n_eval; i++) is_eval[perm[i]] = 1;
    for (int i = 0; i < n; i++) {
        if (is_eval[i]) eval->ex[eval->n++] = d->ex[i];
        else train->ex[train->n++] = d->ex[i];
    }
    train->n_truncated = d->n_truncated;
    train->n_skipped = d->n_skipped;
    memcpy(train->format, d->format, sizeof train->format);
    memcpy(eval->format, d->format, sizeof eval->format);
    train->fails = d->fails;
    train->n_fails = d->n_fails;
    free(d->ex);
    memset(d, 0, sizeof *d);
done:
    free(perm);
    free(is_eval);
    return rc;
}
