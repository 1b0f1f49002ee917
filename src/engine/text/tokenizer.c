// tokenizer.c - encoding: added-token split, normalizer, pre-tokenizer and the
// BPE merge loop, for byte-level and SentencePiece-style vocabularies.
// Tables and queries: tokenizer_vocab.c; decoding: tokenizer_decode.c;
// loading: tokenizer_json.c, tokenizer_gguf.c; layout: tokenizer_internal.h.
//
// Encoding matches Hugging Face `tokenizers` (BPE::merge_word / Word::merge_all):
// a piece starts as one symbol per character (byte-level: per byte), then the
// adjacent pair with the lowest merge rank is merged, leftmost first, using a
// binary heap, until no pair has a rule. Nothing is cached between calls and
// there is no global mutable state; a tokenizer is read-only after loading and
// may be shared between threads.
#include "text/tokenizer_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uninorm.h>

typedef struct {               // a piece of the current segment's working text
    uint32_t off, len;
    uint8_t first;             // starts at offset 0 of the whole input (Metaspace "first")
} enc_piece;

typedef struct {               // a span of a piece, matched by the split regex or not
    uint32_t off, len;
    uint8_t is_match;
} tok_span;

typedef struct {               // a candidate merge at symbol pos
    int32_t rank, pos, id;
} tok_cand;

typedef struct {               // scratch for one encode call
    const pt_tokenizer *t;
    int32_t *ids;
    size_t n_ids, cap_ids;
    char *buf, *buf2;          // working text of the current segment
    size_t buf_len, buf_cap, buf2_cap;
    enc_piece *pc, *pc2;
    size_t n_pc, cap_pc, n_pc2, cap_pc2;
    tok_span *sp;
    size_t cap_sp;
    pcre2_match_data *md;
    int32_t *sym, *prev, *next, *len;   // BPE symbols: id, links, byte length
    size_t cap_sym, cap_links;
    tok_cand *heap;
    size_t n_heap, cap_heap;
    char *map;                 // byte-level spelling of a piece
    size_t cap_map;
    pt_err *err;
} tok_enc;

static int grow(void *pp, size_t *cap, size_t need, size_t elem) {
    void **p = pp;
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}

#define NOMEM(e) pt_fail((e)->err, PT_ERR_NOMEM, "tokenizer: out of memory")

static int emit(tok_enc *e, int32_t id) {
    if (grow(&e->ids, &e->cap_ids, e->n_ids + 1, sizeof *e->ids))
        return NOMEM(e);
    e->ids[e->n_ids++] = id;
    return PT_OK;
}

static int buf_append(tok_enc *e, const char *s, size_t n) {
    if (grow(&e->buf, &e->buf_cap, e->buf_len + n + 1, 1))
        return NOMEM(e);
    memcpy(e->buf + e->buf_len, s, n);
    e->buf_len += n;
    return PT_OK;
}

static int push_piece(tok_enc *e, uint32_t off, uint32_t len, int first) {
    if (!len)
        return PT_OK;          // empty pieces are dropped, as HF does
    if (grow(&e->pc2, &e->cap_pc2, e->n_pc2 + 1, sizeof *e->pc2))
        return NOMEM(e);
    e->pc2[e->n_pc2++] = (enc_piece){off, len, (uint8_t)first};
    return PT_OK;
}

static void swap_pieces(tok_enc *e) {
    enc_piece *p = e->pc; e->pc = e->pc2; e->pc2 = p;
    size_t c = e->cap_pc; e->cap_pc = e->cap_pc2; e->cap_pc2 = c;
    e->n_pc = e->n_pc2;
    e->n_pc2 = 0;
}

// ---- heap of merge candidates, smallest (rank, pos) on top

static int cand_less(tok_cand a, tok_cand b) {
    return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos);
}

static int heap_push(tok_enc *e, tok_cand c) {
    if (grow(&e->heap, &e->cap_heap, e->n_heap + 1, sizeof *e->heap))
        return NOMEM(e);
    size_t i = e->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_less(c, e->heap[p]))
            break;
        e->heap[i] = e->heap[p];
        i = p;
    }
    e->heap[i] = c;
    return PT_OK;
}

static tok_cand heap_pop(tok_enc *e) {
    tok_cand top = e->heap[0], last = e->heap[--e->n_heap];
    size_t i = 0, n = e->n_heap;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        tok_cand best = last;
        if (l < n && cand_less(e->heap[l], best)) { m = l; best = e->heap[l]; }
        if (r < n && cand_less(e->heap[r], best)) { m = r; }
        if (m == i)
            break;
        e->heap[i] = e->heap[m];
        i = m;
    }
    if (n)
        e->heap[i] = last;
    return top;
}

static int try_pair(tok_enc *e, int32_t pos) {
    if (pos < 0 || e->next[pos] < 0)
        return PT_OK;
    int32_t nx = e->next[pos];
    const tok_merge_slot *m = tok_merge_find(e->t, e->sym[pos], e->sym[nx]);
    if (!m)
        return PT_OK;
    return heap_push(e, (tok_cand){m->rank, pos, m->id});
}

static int add_sym(tok_enc *e, int32_t *n, int32_t id, int32_t len) {
    if (grow(&e->sym, &e->cap_sym, (size_t)*n + 1, sizeof *e->sym))
        return NOMEM(e);
    if (e->cap_links < e->cap_sym) {   // the link arrays follow sym's capacity
        int32_t **arrs[3] = {&e->prev, &e->next, &e->len};
        for (int k = 0; k < 3; k++) {
            int32_t *q = realloc(*arrs[k], e->cap_sym * sizeof **arrs[k]);
            if (!q)
                return NOMEM(e);
            *arrs[k] = q;
        }
        e->cap_links = e->cap_sym;
    }
    int32_t i = (*n)++;
    e->sym[i] = id;
    e->len[i] = len;
    e->prev[i] = i - 1;
    e->next[i] = -1;
    if (i > 0)
        e->next[i - 1] = i;
    return PT_OK;
}

// A character the model vocabulary lacks (HF BPE::merge_word): its bytes as
// <0xNN> tokens when byte_fallback has them all, else <unk> (consecutive ones
// fused when fuse_unk), else nothing. *unk_len > 0 holds a pending <unk>.
static int unknown_char(tok_enc *e, int32_t *n, const unsigned char *s, int cl, int32_t *unk_len) {
    const pt_tokenizer *t = e->t;
    int rc;
    if (t->byte_fallback) {
        int all = 1;
        for (int k = 0; k < cl; k++)
            all &= t->byte_tok[s[k]] >= 0;
        if (all) {
            for (int k = 0; k < cl; k++)
                if ((rc = add_sym(e, n, t->byte_tok[s[k]], 1)))
                    return rc;
            return PT_OK;
        }
    }
    if (t->unk < 0)
        return PT_OK;
    if (*unk_len > 0 && !t->fuse_unk)
        if ((rc = add_sym(e, n, t->unk, *unk_len)))
            return rc;
    *unk_len = (*unk_len > 0 && t->fuse_unk ? *unk_len : 0) + cl;
    return PT_OK;
}

static int bpe_piece(tok_enc *e, const char *s, size_t len) {
    const pt_tokenizer *t = e->t;
    const unsigned char *u = (const unsigned char *)s;
    int rc;
    int bytelevel = t->kind == PT_TOK_BPE_BYTELEVEL;
    if (t->ignore_merges) {    // a piece that is a whole token is taken as is
        const char *key = s;
        size_t klen = len;
        if (bytelevel) {
            if (grow(&e->map, &e->cap_map, len * 2 + 1, 1))
                return NOMEM(e);
            klen = 0;
            for (size_t i = 0; i < len; i++) {
                memcpy(e->map + klen, t->byte_char[u[i]], t->byte_char_len[u[i]]);
                klen += t->byte_char_len[u[i]];
            }
            key = e->map;
        }
        int32_t id = tok_lookup(t, key, klen);
        if (id >= 0 && t->in_model[id])
            return emit(e, id);
    }
    int32_t n = 0, unk_len = 0;
    for (size_t i = 0; i < len;) {
        int32_t id;
        int cl = 1, bad;
        if (bytelevel) {
            id = t->byte_sym[u[i]];
        } else {
            cl = tok_utf8_scan(u + i, len - i, &bad);
            if (cl <= 0)
                cl = 1;        // not reached: the input was validated
            id = tok_lookup(t, s + i, (size_t)cl);
            if (id >= 0 && !t->in_model[id])
                id = -1;
        }
        if (id >= 0) {
            if (unk_len > 0) {
                if ((rc = add_sym(e, &n, t->unk, unk_len)))
                    return rc;
                unk_len = 0;
            }
            if ((rc = add_sym(e, &n, id, cl)))
                return rc;
        } else if ((rc = unknown_char(e, &n, u + i, cl, &unk_len))) {
            return rc;
        }
        i += (size_t)cl;
    }
    if (unk_len > 0 && (rc = add_sym(e, &n, t->unk, unk_len)))
        return rc;
    if (n == 0)
        return PT_OK;

    e->n_heap = 0;
    for (int32_t i = 0; i + 1 < n; i++)
        if ((rc = try_pair(e, i)))
            return rc;
    while (e->n_heap) {
        tok_cand c = heap_pop(e);
        if (e->sym[c.pos] < 0)
            continue;          // merged into its left neighbour
        int32_t q = e->next[c.pos];
        if (q < 0)
            continue;
        const tok_merge_slot *m = tok_merge_find(t, e->sym[c.pos], e->sym[q]);
        if (!m || m->id != c.id)
            continue;          // stale: the pair changed since (checked by result id, as HF)
        e->sym[c.pos] = c.id;
        e->len[c.pos] += e->len[q];
        e->sym[q] = -1;
        e->next[c.pos] = e->next[q];
        if (e->next[q] >= 0)
            e->prev[e->next[q]] = c.pos;
        if ((rc = try_pair(e, e->prev[c.pos])) || (rc = try_pair(e, c.pos)))
            return rc;
    }
    for (int32_t i = 0; i >= 0; i = e->next[i])
        if ((rc = emit(e, e->sym[i])))
            return rc;
    return PT_OK;
}

// Splits every piece by a regex and the HF delimiter behaviour.
static int split_pieces(tok_enc *e, const tok_pre_step *st) {
    int rc;
    if (!e->md && !(e->md = pcre2_match_data_create(1, NULL)))
        return NOMEM(e);
    // PCRE2's JIT may look at bytes past the subject's end: keep them defined.
    if (grow(&e->buf, &e->buf_cap, e->buf_len + 32, 1))
        return NOMEM(e);
    memset(e->buf + e->buf_len, 0, 32);
    e->n_pc2 = 0;
    for (size_t k = 0; k < e->n_pc; k++) {
        enc_piece p = e->pc[k];
        const unsigned char *subj = (const unsigned char *)e->buf + p.off;
        size_t n_sp = 0, pos = 0, prev_end = 0;
        while (pos <= p.len) {
            int m = pcre2_match(st->re, subj, p.len, pos, PCRE2_NO_UTF_CHECK, e->md, NULL);
            if (m == PCRE2_ERROR_NOMATCH)
                break;
            if (m < 0) {
                PCRE2_UCHAR msg[160];
                pcre2_get_error_message(m, msg, sizeof msg);
                return pt_fail(e->err, PT_ERR_INTERNAL, "tokenizer: regex match failed: %s", (const char *)msg);
            }
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(e->md);
            size_t ms = ov[0], me = ov[1];
            if (grow(&e->sp, &e->cap_sp, n_sp + 2, sizeof *e->sp))
                return NOMEM(e);
            if (ms > prev_end)
                e->sp[n_sp++] = (tok_span){(uint32_t)prev_end, (uint32_t)(ms - prev_end), 0};
            e->sp[n_sp++] = (tok_span){(uint32_t)ms, (uint32_t)(me - ms), 1};
            prev_end = me;
            if (me > ms) {
                pos = me;
            } else {                       // empty match: step over one character
                if (ms >= p.len)
                    break;
                int bad, cl = tok_utf8_scan(subj + ms, p.len - ms, &bad);
                pos = ms + (size_t)(cl > 0 ? cl : 1);
            }
        }
        if (grow(&e->sp, &e->cap_sp, n_sp + 1, sizeof *e->sp))
            return NOMEM(e);
        if (p.len > prev_end)
            e->sp[n_sp++] = (tok_span){(uint32_t)prev_end, (uint32_t)(p.len - prev_end), 0};
        if (st->invert)
            for (size_t i = 0; i < n_sp; i++)
                e->sp[i].is_match = !e->sp[i].is_match;

        // Fold the spans into output spans in place (tokenizers' split behaviours).
        size_t n_out = 0;
        int prev_match = 0;
        switch (st->behavior) {
        case TOK_SPLIT_REMOVED:
            for (size_t i = 0; i < n_sp; i++)
                if (!e->sp[i].is_match)
                    e->sp[n_out++] = e->sp[i];
            break;
        case TOK_SPLIT_ISOLATED:
            n_out = n_sp;
            break;
        case TOK_SPLIT_MERGED_PREV:
            for (size_t i = 0; i < n_sp; i++) {
                tok_span s = e->sp[i];
                if (s.is_match && !prev_match && n_out > 0)
                    e->sp[n_out - 1].len = s.off + s.len - e->sp[n_out - 1].off;
                else
                    e->sp[n_out++] = s;
                prev_match = s.is_match;
            }
            break;
        case TOK_SPLIT_MERGED_NEXT: {
            // Right to left: a match joins the span after it.
            size_t w = n_sp;
            for (size_t i = n_sp; i-- > 0;) {
                tok_span s = e->sp[i];
                if (s.is_match && !prev_match && w < n_sp) {
                    e->sp[w].len += e->sp[w].off - s.off;
                    e->sp[w].off = s.off;
                } else {
                    e->sp[--w] = s;
                }
                prev_match = s.is_match;
            }
            memmove(e->sp, e->sp + w, (n_sp - w) * sizeof *e->sp);
            n_out = n_sp - w;
            break;
        }
        case TOK_SPLIT_CONTIGUOUS:
            for (size_t i = 0; i < n_sp; i++) {
                tok_span s = e->sp[i];
                if (n_out > 0 && s.is_match == prev_match)
                    e->sp[n_out - 1].len = s.off + s.len - e->sp[n_out - 1].off;
                else
                    e->sp[n_out++] = s;
                prev_match = s.is_match;
            }
            break;
        }
        for (size_t i = 0; i < n_out; i++)
            if ((rc = push_piece(e, p.off + e->sp[i].off, e->sp[i].len, p.first && e->sp[i].off == 0)))
                return rc;
    }
    swap_pieces(e);
    return PT_OK;
}

// Rewrites each piece at the end of the working text: Metaspace (' ' -> U+2581,
// U+2581 in front per scheme, then the optional split) or ByteLevel's prefix space.
static int rewrite_pieces(tok_enc *e, const tok_pre_step *st) {
    int rc;
    e->n_pc2 = 0;
    for (size_t k = 0; k < e->n_pc; k++) {
        enc_piece p = e->pc[k];
        size_t need = e->buf_len + p.len * 3 + 4;
        if (grow(&e->buf, &e->buf_cap, need, 1))
            return NOMEM(e);
        const char *s = e->buf + p.off;
        char *o = e->buf + e->buf_len;
        size_t n = 0;
        if (st->op == TOK_PRE_PREFIX_SPACE) {
            if (p.len == 0 || s[0] != ' ')
                o[n++] = ' ';
            memcpy(o + n, s, p.len);
            n += p.len;
        } else {
            for (size_t i = 0; i < p.len; i++) {
                if (s[i] == ' ') { memcpy(o + n, TOK_METASPACE, 3); n += 3; }
                else o[n++] = s[i];
            }
            int starts = n >= 3 && memcmp(o, TOK_METASPACE, 3) == 0;
            if (!starts && (st->prepend == TOK_PREPEND_ALWAYS || (st->prepend == TOK_PREPEND_FIRST && p.first))) {
                memmove(o + 3, o, n);
                memcpy(o, TOK_METASPACE, 3);
                n += 3;
            }
        }
        if ((rc = push_piece(e, (uint32_t)e->buf_len, (uint32_t)n, p.first)))
            return rc;
        e->buf_len += n;
    }
    swap_pieces(e);
    if (st->op == TOK_PRE_METASPACE && st->re) {
        tok_pre_step split = *st;
        split.behavior = TOK_SPLIT_MERGED_NEXT;
        split.invert = 0;
        return split_pieces(e, &split);
    }
    return PT_OK;
}

// Normalizer steps over the whole segment in buf[0 .. buf_len).
static int normalize(tok_enc *e) {
    const pt_tokenizer *t = e->t;
    for (int k = 0; k < t->n_norm; k++) {
        const tok_norm_step *st = &t->norm[k];
        if (e->buf_len == 0)
            return PT_OK;
        if (st->op == TOK_NORM_NFC) {
            size_t n = 0;
            uint8_t *r = u8_normalize(UNINORM_NFC, (const uint8_t *)e->buf, e->buf_len, NULL, &n);
            if (!r) {
                if (errno == ENOMEM) return NOMEM(e);
                continue;   // not valid UTF-8 (HF's input always is): the bytes stay as they are
            }
            int bad = grow(&e->buf2, &e->buf2_cap, n + 1, 1);
            if (!bad) memcpy(e->buf2, r, n);
            free(r);
            if (bad) return NOMEM(e);
            char *b = e->buf; e->buf = e->buf2; e->buf2 = b;
            size_t c = e->buf_cap; e->buf_cap = e->buf2_cap; e->buf2_cap = c;
            e->buf_len = n;
            continue;
        }
        size_t worst = st->op == TOK_NORM_PREPEND ? e->buf_len + st->to_len
                     : e->buf_len / st->from_len * (st->to_len > st->from_len ? st->to_len : st->from_len) + e->buf_len;
        if (grow(&e->buf2, &e->buf2_cap, worst + 1, 1))
            return NOMEM(e);
        size_t n = 0;
        if (st->op == TOK_NORM_PREPEND) {
            memcpy(e->buf2, st->to, st->to_len);
            memcpy(e->buf2 + st->to_len, e->buf, e->buf_len);
            n = st->to_len + e->buf_len;
        } else {
            for (size_t i = 0; i < e->buf_len;) {
                if (i + st->from_len <= e->buf_len && memcmp(e->buf + i, st->from, st->from_len) == 0) {
                    memcpy(e->buf2 + n, st->to, st->to_len);
                    n += st->to_len;
                    i += st->from_len;
                } else {
                    e->buf2[n++] = e->buf[i++];
                }
            }
        }
        char *b = e->buf; e->buf = e->buf2; e->buf2 = b;
        size_t c = e->buf_cap; e->buf_cap = e->buf2_cap; e->buf2_cap = c;
        e->buf_len = n;
    }
    return PT_OK;
}

// One stretch of plain text between added tokens; first: it starts the input.
static int encode_segment(tok_enc *e, const char *s, size_t n, int first) {
    const pt_tokenizer *t = e->t;
    int rc;
    if (n == 0)
        return PT_OK;
    e->buf_len = 0;
    if ((rc = buf_append(e, s, n)) || (rc = normalize(e)))
        return rc;
    e->n_pc = e->n_pc2 = 0;
    if ((rc = push_piece(e, 0, (uint32_t)e->buf_len, first)))
        return rc;
    swap_pieces(e);
    for (int k = 0; k < t->n_pre; k++) {
        const tok_pre_step *st = &t->pre[k];
        rc = st->op == TOK_PRE_SPLIT ? split_pieces(e, st) : rewrite_pieces(e, st);
        if (rc)
            return rc;
    }
    for (size_t k = 0; k < e->n_pc; k++)
        if ((rc = bpe_piece(e, e->buf + e->pc[k].off, e->pc[k].len)))
            return rc;
    return PT_OK;
}

// The longest added token at text[i], or -1.
static int32_t match_added(const pt_tokenizer *t, const char *text, size_t len, size_t i, int parse_special) {
    unsigned char c = (unsigned char)text[i];
    for (uint32_t k = t->match_start[c]; k < t->match_start[c + 1]; k++) {
        int32_t id = t->match[k];
        if (!parse_special && t->added[id] == TOK_ADDED_SPECIAL)
            continue;
        uint32_t l;
        const char *p = tok_piece(t, id, &l);
        if (l <= len - i && memcmp(text + i, p, l) == 0)
            return id;
    }
    return -1;
}

int tokenizer_encode(const pt_tokenizer *t, const char *text, size_t len,
                     int add_special, int parse_special,
                     int32_t **out, int *n_out, pt_err *err) {
    tok_enc e = {.t = t, .err = err};
    int rc = PT_OK;
    *out = NULL;
    *n_out = 0;
    if (!text && len)
        return pt_fail(err, PT_ERR_ARG, "tokenizer: NULL text");
    for (size_t i = 0; i < len;) {
        int bad, cl = tok_utf8_scan((const unsigned char *)text + i, len - i, &bad);
        if (cl <= 0)
            return pt_fail(err, PT_ERR_ARG, "invalid UTF-8 at byte %zu of the text (0x%02x)",
                           i, (unsigned char)text[i]);
        i += (size_t)cl;
    }
    if (len > INT32_MAX / 4)
        return pt_fail(err, PT_ERR_ARG, "tokenizer: text of %zu bytes is too long", len);
    if (add_special)
        for (int k = 0; k < t->n_prefix; k++)
            if ((rc = emit(&e, t->prefix[k])))
                goto fail;
    size_t seg = 0;
    for (size_t i = 0; i < len;) {
        int32_t id = t->match_start[(unsigned char)text[i] + 1] > t->match_start[(unsigned char)text[i]]
                   ? match_added(t, text, len, i, parse_special) : -1;
        if (id < 0) {
            i++;
            continue;
        }
        if ((rc = encode_segment(&e, text + seg, i - seg, seg == 0)) || (rc = emit(&e, id)))
            goto fail;
        i += t->text_off[id + 1] - t->text_off[id] - 1;
        seg = i;
    }
    if ((rc = encode_segment(&e, text + seg, len - seg, seg == 0)))
        goto fail;
    if (add_special)
        for (int k = 0; k < t->n_suffix; k++)
            if ((rc = emit(&e, t->suffix[k])))
                goto fail;
    if (e.n_ids > INT32_MAX) {
        rc = pt_fail(err, PT_ERR_RANGE, "tokenizer: too many tokens");
        goto fail;
    }
    *out = e.ids;
    *n_out = (int)e.n_ids;
    e.ids = NULL;
    if (!*out && (*out = malloc(sizeof **out)) == NULL)   // a valid pointer even for 0 tokens
        rc = pt_fail(err, PT_ERR_NOMEM, "tokenizer: out of memory");
fail:
    free(e.ids);
    free(e.buf);
    free(e.buf2);
    free(e.pc);
    free(e.pc2);
    free(e.sp);
    free(e.sym);
    free(e.prev);
    free(e.next);
    free(e.len);
    free(e.heap);
    free(e.map);
    if (e.md)
        pcre2_match_data_free(e.md);
    return rc;
}
