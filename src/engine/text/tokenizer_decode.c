// tokenizer_decode.c - token ids back to text: whole sequences as Hugging Face
// decodes them (byte-level bytes, SentencePiece U+2581 and <0xNN>, the first
// space stripped), and a streaming decoder that only ever hands out complete
// UTF-8 characters.
#include "text/tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>

static const char REPLACEMENT[] = "\xEF\xBF\xBD"; // U+FFFD

// Appends s[0..n) to out as valid UTF-8 (ill-formed bytes -> U+FFFD each maximal
// part); at most cap-1 bytes kept. Returns bytes consumed from s; when hold is
// set, an unfinished character at the end is left unconsumed.
static size_t put_utf8(char *out, size_t cap, size_t *w, const char *s, size_t n, int hold) {
    size_t i = 0;
    while (i < n) {
        int bad, cl = tok_utf8_scan((const unsigned char *)s + i, n - i, &bad);
        const char *src = s + i;
        size_t sl = (size_t)cl;
        if (cl < 0) {
            if (hold)
                break;
            src = REPLACEMENT; sl = 3; bad = -cl; cl = 0;
        } else if (cl == 0) {
            src = REPLACEMENT; sl = 3;
        }
        if (*w + sl < cap) {
            memcpy(out + *w, src, sl);
            *w += sl;
        }
        i += cl > 0 ? (size_t)cl : (size_t)bad;
    }
    return i;
}

void detok_init(pt_detok *d) {
    memset(d, 0, sizeof *d);
    d->first = 1;
}

size_t detok_push(pt_detok *d, const pt_tokenizer *t, int32_t id, char *out, size_t cap) {
    size_t w = 0;
    if (id < 0 || id >= t->n_vocab) {
        if (cap) out[0] = '\0';
        return 0;
    }
    const char *b = t->bytes + t->bytes_off[id];
    size_t n = t->bytes_off[id + 1] - t->bytes_off[id];
    if (d->first && n > 0) {
        if (t->strip_first_space && b[0] == ' ') { b++; n--; }
        d->first = 0;
    }
    // Pending bytes (at most 3) plus the head of this token complete a character.
    while (d->n_pending > 0 && n > 0) {
        char tmp[8];
        memcpy(tmp, d->pending, (size_t)d->n_pending);
        size_t take = n < 4 ? n : 4;
        memcpy(tmp + d->n_pending, b, take);
        size_t have = (size_t)d->n_pending + take;
        int bad, cl = tok_utf8_scan((const unsigned char *)tmp, have, &bad);
        if (cl < 0) {          // still unfinished: everything so far is held
            memcpy(d->pending + d->n_pending, b, take);
            d->n_pending += (int)take;
            b += take; n -= take;
            break;
        }
        size_t used = cl > 0 ? (size_t)cl : (size_t)bad;
        put_utf8(out, cap, &w, tmp, used, 0);
        if (used <= (size_t)d->n_pending) {     // the pending bytes alone were bad
            memmove(d->pending, d->pending + used, (size_t)d->n_pending - used);
            d->n_pending -= (int)used;
        } else {
            size_t from_tok = used - (size_t)d->n_pending;
            b += from_tok; n -= from_tok;
            d->n_pending = 0;
        }
    }
    size_t used = put_utf8(out, cap, &w, b, n, 1);
    if (used < n) {            // an unfinished character (at most 3 bytes) waits
        memcpy(d->pending + d->n_pending, b + used, n - used);
        d->n_pending += (int)(n - used);
    }
    if (cap)
        out[w < cap ? w : cap - 1] = '\0';
    return w;
}

size_t detok_flush(pt_detok *d, char *out, size_t cap) {
    size_t w = 0;
    if (d->n_pending > 0)
        put_utf8(out, cap, &w, d->pending, (size_t)d->n_pending, 0);
    d->n_pending = 0;
    if (cap)
        out[w < cap ? w : cap - 1] = '\0';
    return w;
}

char *tokenizer_decode(const pt_tokenizer *t, const int32_t *ids, int n, int skip_special) {
    size_t total = 0;
    for (int i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < t->n_vocab)
            total += t->bytes_off[ids[i] + 1] - t->bytes_off[ids[i]];
    char *raw = malloc(total + 1), *out = malloc(total * 3 + 4);
    if (!raw || !out) {
        free(raw);
        free(out);
        return NULL;
    }
    size_t r = 0;
    for (int i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->n_vocab || (skip_special && t->added[id] == TOK_ADDED_SPECIAL))
            continue;
        size_t l = t->bytes_off[id + 1] - t->bytes_off[id];
        memcpy(raw + r, t->bytes + t->bytes_off[id], l);
        r += l;
    }
    const char *s = raw;
    if (t->strip_first_space && r > 0 && s[0] == ' ') {   // HF Strip decoder after Fuse
        s++;
        r--;
    }
    size_t w = 0;
    put_utf8(out, total * 3 + 4, &w, s, r, 0);
    out[w] = '\0';
    free(raw);
    return out;
}
