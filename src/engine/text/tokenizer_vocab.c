// tokenizer_vocab.c - the tokenizer's tables: UTF-8 checks, the vocabulary and
// merge hash maps (open addressing), pre-tokenizer regexes, token types and
// decoded bytes, end-of-generation flags; the building blocks tokenizer_json.c
// and tokenizer_gguf.c call, and the read-only queries of tokenizer.h.
#include "text/tokenizer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ------------------------------------------------------------------ UTF-8

int tok_utf8_scan(const unsigned char *s, size_t n, int *bad) {
    unsigned c = s[0], lo = 0x80, hi = 0xBF;
    int len;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;      // no overlong forms
        if (c == 0xED) hi = 0x9F;      // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;      // nothing past U+10FFFF
    } else {
        *bad = 1;
        return 0;
    }
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n)
            return -i;
        unsigned b = s[i];
        if (i == 1 ? (b < lo || b > hi) : (b & 0xC0) != 0x80) {
            *bad = i;                  // the maximal well-formed start, as from_utf8_lossy
            return 0;
        }
    }
    return len;
}

static size_t utf8_put(unsigned char *o, uint32_t cp) {
    if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) { o[0] = (unsigned char)(0xC0 | cp >> 6); o[1] = (unsigned char)(0x80 | (cp & 63)); return 2; }
    o[0] = (unsigned char)(0xE0 | cp >> 12);
    o[1] = (unsigned char)(0x80 | ((cp >> 6) & 63));
    o[2] = (unsigned char)(0x80 | (cp & 63));
    return 3;
}

// ------------------------------------------------------------------ maps

static uint32_t hash_str(const char *s, size_t n) {
    uint32_t h = 2166136261u;                       // FNV-1a
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h ^ (h >> 15);
}

static uint32_t pow2_at_least(size_t n) {
    uint32_t c = 16;
    while (c < n)
        c <<= 1;
    return c;
}

int32_t tok_lookup(const pt_tokenizer *t, const char *s, size_t n) {
    uint32_t i = hash_str(s, n) & t->vmask;
    for (;;) {
        int32_t id = t->vmap[i];
        if (id < 0)
            return -1;
        uint32_t len;
        const char *p = tok_piece(t, id, &len);
        if (len == n && memcmp(p, s, n) == 0)
            return id;
        i = (i + 1) & t->vmask;
    }
}

pt_tokenizer *tok_new(void) {
    pt_tokenizer *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->bos = t->eos = t->unk = -1;
    for (int b = 0; b < 256; b++)
        t->byte_sym[b] = t->byte_tok[b] = -1;
    return t;
}

int tok_set_vocab(pt_tokenizer *t, int n, const char *const *s, const uint32_t *len,
                  const char *src, pt_err *err) {
    size_t total = 0;
    if (n <= 0)
        return pt_fail(err, PT_ERR_FORMAT, "%s: empty vocabulary", src);
    for (int i = 0; i < n; i++)
        total += (size_t)len[i] + 1;
    if (total > UINT32_MAX / 2)
        return pt_fail(err, PT_ERR_FORMAT, "%s: vocabulary text too large", src);
    t->n_vocab = n;
    t->text = malloc(total);
    t->text_off = malloc((size_t)(n + 1) * sizeof *t->text_off);
    t->type = malloc((size_t)n);
    t->in_model = malloc((size_t)n);
    t->added = calloc((size_t)n, 1);
    t->eog = calloc((size_t)n, 1);
    uint32_t cap = pow2_at_least((size_t)n * 2);
    t->vmap = malloc((size_t)cap * sizeof *t->vmap);
    if (!t->text || !t->text_off || !t->type || !t->in_model || !t->added || !t->eog || !t->vmap)
        return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory for %d tokens", src, n);
    t->vmask = cap - 1;
    memset(t->vmap, 0xff, (size_t)cap * sizeof *t->vmap);
    memset(t->type, PT_TOKTYPE_NORMAL, (size_t)n);
    memset(t->in_model, 1, (size_t)n);
    uint32_t off = 0;
    for (int i = 0; i < n; i++) {
        t->text_off[i] = off;
        memcpy(t->text + off, s[i], len[i]);
        off += len[i];
        t->text[off++] = '\0';
    }
    t->text_off[n] = off;
    for (int32_t id = 0; id < n; id++) {
        uint32_t h = hash_str(s[id], len[id]) & t->vmask;
        for (;;) {
            int32_t at = t->vmap[h];
            if (at < 0) { t->vmap[h] = id; break; }
            uint32_t l;
            const char *p = tok_piece(t, at, &l);
            if (l == len[id] && memcmp(p, s[id], l) == 0) { t->vmap[h] = id; break; }
            h = (h + 1) & t->vmask;
        }
    }
    return PT_OK;
}

int tok_alloc_merges(pt_tokenizer *t, size_t n, const char *src, pt_err *err) {
    uint32_t cap = pow2_at_least(n * 2 + 1);
    t->mmap = malloc((size_t)cap * sizeof *t->mmap);
    if (!t->mmap)
        return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory for %zu merges", src, n);
    t->mmask = cap - 1;
    for (uint32_t i = 0; i < cap; i++)
        t->mmap[i].key = TOK_EMPTY_KEY;
    return PT_OK;
}

int tok_add_merge(pt_tokenizer *t, int32_t a, int32_t b, int32_t rank, const char *src, pt_err *err) {
    uint32_t la, lb;
    const char *pa = tok_piece(t, a, &la), *pb = tok_piece(t, b, &lb);
    char small[256], *buf = small;
    if ((size_t)la + lb > sizeof small && !(buf = malloc((size_t)la + lb)))
        return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", src);
    memcpy(buf, pa, la);
    memcpy(buf + la, pb, lb);
    int32_t id = tok_lookup(t, buf, (size_t)la + lb);
    if (buf != small)
        free(buf);
    if (id < 0)
        return pt_fail(err, PT_ERR_FORMAT, "%s: merge %d (\"%s\" \"%s\") makes a token that is not in the vocabulary",
                       src, rank, pa, pb);
    if ((uint32_t)t->n_merges >= t->mmask)
        return pt_fail(err, PT_ERR_INTERNAL, "%s: merge table full", src);
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    uint32_t i = tok_hash_pair(key) & t->mmask;
    while (t->mmap[i].key != TOK_EMPTY_KEY && t->mmap[i].key != key)
        i = (i + 1) & t->mmask;
    if (t->mmap[i].key == TOK_EMPTY_KEY)
        t->n_merges++;
    t->mmap[i].key = key;       // a repeated pair takes the later rank, as HF's HashMap does
    t->mmap[i].rank = rank;
    t->mmap[i].id = id;
    return PT_OK;
}

// Unicode White_Space: what Oniguruma (HF tokenizers' regex engine) calls \s.
// PCRE2's \s also takes U+180E (MONGOLIAN VOWEL SEPARATOR, a space only before
// Unicode 6.3), so \s and \S are spelled out as this class before compiling.
#define WHITE_SPACE "\\t-\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"

// Copies pattern into out (room for len * 80 + 1 bytes) with \s, \S replaced
// (\S inside a bracket class is left as is), and Oniguruma's nested classes
// flattened: there "[^(\s|[.,!?])]" is one class that leaves out "(", "|", ")",
// white space and the inner set (BLOOM's pre-tokenizer); PCRE2 reads an inner
// "[" as a literal and the first "]" as the end. A nested set that is not
// negated is a union, so its brackets are dropped; a negated one is left as
// PCRE2 reads it (no tokenizer we know has one).
static size_t spell_out_space(const char *p, size_t len, char *out) {
    size_t n = 0, ws = strlen(WHITE_SPACE);
    int depth = 0;   // bracket classes open: 1 in a class, 2+ in nested ones
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (c == '\\' && i + 1 < len) {
            char d = p[i + 1];
            if (d == 's' || (d == 'S' && !depth)) {
                if (!depth) {
                    out[n++] = '[';
                    if (d == 'S')
                        out[n++] = '^';
                }
                memcpy(out + n, WHITE_SPACE, ws);
                n += ws;
                if (!depth)
                    out[n++] = ']';
            } else {
                out[n++] = c;
                out[n++] = d;
            }
            i++;
            continue;
        }
        if (!depth && c == '[') {
            depth = 1;
            out[n++] = c;
            if (i + 1 < len && p[i + 1] == '^')
                out[n++] = p[++i];
            if (i + 1 < len && p[i + 1] == ']')     // a leading ] is literal
                out[n++] = p[++i];
            continue;
        }
        if (depth && c == '[' && i + 1 < len && p[i + 1] == ':') {   // [:alpha:]
            const char *end = memchr(p + i + 2, ']', len - i - 2);
            size_t stop = end ? (size_t)(end - p) : len - 1;
            memcpy(out + n, p + i, stop - i + 1);
            n += stop - i + 1;
            i = stop;
            continue;
        }
        if (depth && c == '[' && !(i + 1 < len && p[i + 1] == '^')) {   // a nested union: its members join ours
            depth++;
            continue;
        }
        if (depth && c == ']') {
            if (depth-- > 1) continue;   // the nested set's end
        }
        out[n++] = c;
    }
    out[n] = '\0';
    return n;
}

pcre2_code *tok_compile(const char *pattern, size_t len, int literal, const char *src, pt_err *err) {
    int code;
    PCRE2_SIZE at;
    uint32_t opt = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
    char *spelled = NULL;
    if (!literal) {
        if (!(spelled = malloc(len * 80 + 1))) {
            pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", src);
            return NULL;
        }
        len = spell_out_space(pattern, len, spelled);
        pattern = spelled;
    }
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, len, opt, &code, &at, NULL);
    free(spelled);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof msg);
        pt_fail(err, PT_ERR_FORMAT, "%s: pre-tokenizer regex does not compile at offset %zu: %s",
                src, (size_t)at, (const char *)msg);
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); // the interpreter is the fallback when JIT is absent
    return re;
}

int tok_add_split(pt_tokenizer *t, const char *pattern, size_t len, int literal,
                  tok_split_behavior behavior, int invert, const char *src, pt_err *err) {
    if (t->n_pre >= TOK_MAX_STEPS)
        return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: more than %d pre-tokenizer steps", src, TOK_MAX_STEPS);
    pcre2_code *re = tok_compile(pattern, len, literal, src, err);
    if (!re)
        return err ? (int)err->code : PT_ERR_FORMAT;
    char *copy = malloc(len + 1);
    if (!copy) {
        pcre2_code_free(re);
        return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", src);
    }
    memcpy(copy, pattern, len);
    copy[len] = 0;
    tok_pre_step *s = &t->pre[t->n_pre++];
    s->op = TOK_PRE_SPLIT;
    s->re = re;
    s->pattern = copy;
    s->literal = literal;
    s->behavior = behavior;
    s->invert = invert;
    return PT_OK;
}

// ------------------------------------------------------------------ finishing

// GPT-2's bytes_to_unicode: printable Latin-1 bytes spell themselves, the other
// 68 bytes become U+0100.. in byte order.
static uint32_t byte_to_cp(int b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))
        return (uint32_t)b;
    int n = 0;
    for (int i = 0; i < b; i++)
        if (!((i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174 && i <= 255)))
            n++;
    return 256u + (uint32_t)n;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

// "<0xNN>" -> NN, else -1 (HF ByteFallback decoder: any token of that shape).
static int byte_token_value(const char *s, uint32_t len) {
    if (len != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>')
        return -1;
    int hi = hexval(s[3]), lo = hexval(s[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

// Decoded bytes of token id into out (room for its text length): byte-level
// characters back to bytes (the raw text if any character is not one of the
// 256, as HF's ByteLevel decoder); SPM: U+2581 -> ' ', <0xNN> -> the byte.
static uint32_t decode_piece(const pt_tokenizer *t, const int16_t *cp_byte, int32_t id, char *out) {
    uint32_t len;
    const char *s = tok_piece(t, id, &len);
    uint32_t n = 0;
    if (t->kind == PT_TOK_BPE_BYTELEVEL) {
        for (uint32_t i = 0; i < len;) {
            int bad, cl = tok_utf8_scan((const unsigned char *)s + i, len - i, &bad);
            uint32_t cp = 0;
            if (cl <= 0)
                goto raw;
            const unsigned char *u = (const unsigned char *)s + i;
            if (cl == 1) cp = u[0];
            else if (cl == 2) cp = (uint32_t)(u[0] & 31) << 6 | (u[1] & 63);
            else goto raw;
            if (cp >= 512 || cp_byte[cp] < 0)
                goto raw;
            out[n++] = (char)cp_byte[cp];
            i += (uint32_t)cl;
        }
        return n;
raw:
        memcpy(out, s, len);
        return len;
    }
    int b = byte_token_value(s, len);
    if (b >= 0) {
        out[0] = (char)b;
        return 1;
    }
    for (uint32_t i = 0; i < len;) {
        if (i + 3 <= len && memcmp(s + i, "\xE2\x96\x81", 3) == 0) {
            out[n++] = ' ';
            i += 3;
        } else {
            out[n++] = s[i++];
        }
    }
    return n;
}

static const char *const EOG_TEXT[] = {
    "<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end_of_text|>", "</s>", "<|end|>", "<end_of_turn>",
};

typedef struct { unsigned char first; uint32_t len; int32_t id; } match_key;

static int cmp_match(const void *a, const void *b) {
    const match_key *x = a, *y = b;
    if (x->first != y->first)
        return x->first < y->first ? -1 : 1;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;   // longest first: the first hit is the longest
    return x->id < y->id ? -1 : x->id > y->id;
}

int tok_finish(pt_tokenizer *t, const char *src, pt_err *err) {
    int16_t cp_byte[512];
    memset(cp_byte, 0xff, sizeof cp_byte);
    for (int b = 0; b < 256; b++) {
        uint32_t cp = byte_to_cp(b);
        cp_byte[cp] = (int16_t)b;
        t->byte_char_len[b] = (unsigned char)utf8_put(t->byte_char[b], cp);
        int32_t id = tok_lookup(t, (const char *)t->byte_char[b], t->byte_char_len[b]);
        t->byte_sym[b] = id >= 0 && t->in_model[id] ? id : -1;
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        id = tok_lookup(t, name, 6);
        t->byte_tok[b] = id >= 0 && t->in_model[id] ? id : -1;
    }
    t->bytes_off = malloc((size_t)(t->n_vocab + 1) * sizeof *t->bytes_off);
    t->bytes = malloc(t->text_off[t->n_vocab] + 1);
    t->match = malloc((size_t)t->n_vocab * sizeof *t->match);
    if (!t->bytes_off || !t->bytes || !t->match)
        return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", src);
    uint32_t off = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        t->bytes_off[id] = off;
        off += decode_piece(t, cp_byte, id, t->bytes + off);   // never longer than the text
    }
    t->bytes_off[t->n_vocab] = off;

    match_key *keys = malloc((size_t)t->n_vocab * sizeof *keys);
    if (!keys)
        return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", src);
    t->n_match = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        uint32_t l = t->text_off[id + 1] - t->text_off[id] - 1;
        if (t->added[id] && l > 0)
            keys[t->n_match++] = (match_key){(unsigned char)t->text[t->text_off[id]], l, id};
    }
    qsort(keys, (size_t)t->n_match, sizeof *keys, cmp_match);
    for (int i = 0; i < t->n_match; i++)
        t->match[i] = keys[i].id;
    free(keys);
    memset(t->match_start, 0, sizeof t->match_start);
    for (int i = 0; i < t->n_match; i++)
        t->match_start[(unsigned char)t->text[t->text_off[t->match[i]]] + 1]++;
    for (int b = 0; b < 256; b++)
        t->match_start[b + 1] += t->match_start[b];

    if (t->eos >= 0 && t->eos < t->n_vocab)
        t->eog[t->eos] = 1;
    for (size_t i = 0; i < sizeof EOG_TEXT / sizeof *EOG_TEXT; i++) {
        int32_t id = tok_lookup(t, EOG_TEXT[i], strlen(EOG_TEXT[i]));
        if (id >= 0)
            t->eog[id] = 1;
    }
    return PT_OK;
}

void tokenizer_free(pt_tokenizer *t) {
    if (!t)
        return;
    for (int i = 0; i < t->n_pre; i++) {
        pcre2_code_free(t->pre[i].re);
        free(t->pre[i].pattern);
    }
    for (int i = 0; i < t->n_norm; i++) {
        free(t->norm[i].from);
        free(t->norm[i].to);
    }
    free(t->text);
    free(t->text_off);
    free(t->bytes);
    free(t->bytes_off);
    free(t->type);
    free(t->in_model);
    free(t->added);
    free(t->eog);
    free(t->vmap);
    free(t->mmap);
    free(t->match);
    free(t->chat_template);
    free(t);
}

// ------------------------------------------------------------------ for the loaders

char *tok_dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

int tok_set_chat_template(pt_tokenizer *t, const char *s, size_t n, const char *src, pt_err *err) {
    free(t->chat_template);
    if (!(t->chat_template = tok_dup_n(s, n)))
        return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", src);
    return PT_OK;
}

int tok_add_metaspace(pt_tokenizer *t, tok_prepend prepend, int split, const char *src, pt_err *err) {
    if (t->n_pre >= TOK_MAX_STEPS)
        return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: more than %d pre-tokenizer steps", src, TOK_MAX_STEPS);
    tok_pre_step *s = &t->pre[t->n_pre];
    memset(s, 0, sizeof *s);
    s->op = TOK_PRE_METASPACE;
    s->prepend = prepend;
    if (split && !(s->re = tok_compile(TOK_METASPACE, 3, 1, src, err)))
        return err ? (int)err->code : PT_ERR_FORMAT;
    t->n_pre++;
    return PT_OK;
}

void tok_mark_special(pt_tokenizer *t, int id) {
    if (id >= 0 && id < t->n_vocab && !t->added[id])
        t->added[id] = TOK_ADDED_SPECIAL;
}

// ------------------------------------------------------------------ queries

int tokenizer_vocab_size(const pt_tokenizer *t) { return t->n_vocab; }
pt_tok_kind tokenizer_kind(const pt_tokenizer *t) { return t->kind; }
int tokenizer_bos(const pt_tokenizer *t) { return t->bos; }
int tokenizer_eos(const pt_tokenizer *t) { return t->eos; }
const char *tokenizer_chat_template(const pt_tokenizer *t) { return t->chat_template; }

int tokenizer_is_eog(const pt_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab && t->eog[id];
}

int tokenizer_token_type(const pt_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab ? t->type[id] : 0;
}

int tokenizer_find(const pt_tokenizer *t, const char *s) {
    return s ? tok_lookup(t, s, strlen(s)) : -1;
}

const char *tokenizer_piece(const pt_tokenizer *t, int32_t id) {
    if (id < 0 || id >= t->n_vocab)
        return NULL;
    return t->text + t->text_off[id];
}

size_t tokenizer_token_bytes(const pt_tokenizer *t, int32_t id, char *buf, size_t cap) {
    if (id < 0 || id >= t->n_vocab)
        return 0;
    size_t n = t->bytes_off[id + 1] - t->bytes_off[id];
    if (buf && cap)
        memcpy(buf, t->bytes + t->bytes_off[id], n < cap ? n : cap);
    return n;
}
