// tokenizer_gguf.c - builds a pt_tokenizer from GGUF tokenizer metadata
// (tokenizer.ggml.*): model "gpt2" (byte-level BPE with merges) or "llama"
// (SentencePiece vocabulary with scores and byte tokens).
//
// What Hugging Face does with a GGUF, and so what we do (checked with
// transformers 5.24; tests/reference/make_tokenizer_goldens.py records it):
// * BOS: tokenizer.ggml.add_bos_token / add_eos_token decide; when absent,
//   transformers (and llama.cpp) add BOS for model "llama", not for "gpt2".
//   SmolLM2-135M-Instruct.Q4_1.gguf says bos=1 <|im_start|>, eos=2 <|im_end|>,
//   unk=0, pad=2, add_bos_token=false. transformers loading that GGUF adds no
//   BOS (its template is just "$A"), the same as the original HF SmolLM2
//   tokenizer (no BOS added), so add_special adds nothing for SmolLM2.
// * Pre-tokenizer (model gpt2): tokenizer.ggml.pre maps to llama.cpp's regex
//   lists (src/llama-vocab.cpp), which reproduce the original tokenizer.json.
//   For pre=smollm that is \p{N} isolated first, then the GPT-2 regex (the
//   original Digits(individual_digits) + ByteLevel). transformers' own GGUF
//   conversion drops that Digits step (it knows no "smollm") and so differs
//   from the original on e.g. "x  2024" (17 of our 352 golden texts); we follow
//   the original and llama.cpp, as the model was trained with it. Likewise the
//   Llama-3 family gets ignore_merges, as in its tokenizer.json and llama.cpp.
// * SentencePiece (model llama, scores, no merges): as transformers'
//   generate_merges, the merges are every split of a token into two tokens,
//   ranked by the merged token's score, then longer left part, then longer
//   right part; pre-tokenizer Metaspace(prepend_scheme "first" when
//   tokenizer.ggml.add_space_prefix, the default), byte fallback, fused <unk>.
// * Special tokens matched in text: token types 3 (control) and 4 (user
//   defined), plus the bos/eos/unk/pad ids (transformers registers those).
#include "text/tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>

#define LLAMA3_RE TOK_LLAMA3_RE  // shared with tokenizer_write.c
#define QWEN2_RE TOK_QWEN2_RE

static const gguf_kv *find_array(const gguf_file *g, const char *key, int want_str, uint64_t n, pt_err *err, int *rc) {
    const gguf_kv *kv = gguf_find_kv(g, key);
    *rc = PT_OK;
    if (!kv)
        return NULL;
    int ok = kv->type == GGUF_TYPE_ARRAY && (want_str ? kv->arr_type == GGUF_TYPE_STRING && kv->arr_str
                                                      : kv->arr_type != GGUF_TYPE_STRING && kv->arr_type != GGUF_TYPE_ARRAY);
    if (!ok || (n && kv->arr_len != n)) {
        *rc = pt_fail(err, PT_ERR_FORMAT, "%s: %s is not an array of %llu %s", g->path, key,
                      (unsigned long long)n, want_str ? "strings" : "numbers");
        return NULL;
    }
    return kv;
}

typedef struct {               // a candidate merge of a SentencePiece vocabulary
    double score;              // of the merged token
    int32_t len_l, len_r;      // in characters
    int32_t l, r;
    int64_t seq;               // order of discovery, for a stable sort
} spm_cand;

static int cmp_spm_cand(const void *a, const void *b) {
    const spm_cand *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    if (x->len_l != y->len_l) return x->len_l > y->len_l ? -1 : 1;
    if (x->len_r != y->len_r) return x->len_r > y->len_r ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_spm_local(const void *a, const void *b) {
    const spm_cand *x = a, *y = b;
    if (x->l != y->l) return x->l < y->l ? -1 : 1;
    return x->r < y->r ? -1 : x->r > y->r;
}

// transformers' generate_merges(vocab, vocab_scores): every split of a token
// into two tokens, grouped per token by (left id, right id), then ranked by the
// token's score, longer left part, longer right part (stable).
static int spm_merges(pt_tokenizer *t, const gguf_kv *scores, const char *src, pt_err *err) {
    spm_cand *c = NULL;
    size_t n = 0, cap = 0;
    int rc = PT_OK;
    uint8_t *seen = calloc((size_t)t->n_vocab, 1);
    if (!seen)
        return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", src);
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const char *s = t->text + t->text_off[id];
        uint32_t len = t->text_off[id + 1] - t->text_off[id] - 1;
        int32_t last = tok_lookup(t, s, len);  // a repeated token: first place, last id's score
        if (seen[last])
            continue;
        seen[last] = 1;
        double score = gguf_arr_f64(scores, (uint64_t)last);
        size_t start = n;
        int32_t cl = 0, total = 0;
        for (uint32_t i = 0; i < len;) {
            int bad, w = tok_utf8_scan((const unsigned char *)s + i, len - i, &bad);
            i += w > 0 ? (uint32_t)w : 1;
            total++;
        }
        for (uint32_t i = 0; i < len;) {
            int bad, w = tok_utf8_scan((const unsigned char *)s + i, len - i, &bad);
            i += w > 0 ? (uint32_t)w : 1;
            cl++;
            if (i >= len)
                break;
            int32_t l = tok_lookup(t, s, i), r = tok_lookup(t, s + i, len - i);
            if (l < 0 || r < 0)
                continue;
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 4096;
                spm_cand *q = realloc(c, nc * sizeof *c);
                if (!q) {
                    rc = pt_fail(err, PT_ERR_NOMEM, "%s: out of memory for merges", src);
                    goto fail;
                }
                c = q;
                cap = nc;
            }
            c[n++] = (spm_cand){score, cl, total - cl, l, r, 0};
        }
        if (n - start > 1)
            qsort(c + start, n - start, sizeof *c, cmp_spm_local);
    }
    for (size_t i = 0; i < n; i++)
        c[i].seq = (int64_t)i;
    if (n > 1)
        qsort(c, n, sizeof *c, cmp_spm_cand);
    if ((rc = tok_alloc_merges(t, n, src, err)))
        goto fail;
    for (size_t i = 0; i < n; i++)
        if ((rc = tok_add_merge(t, c[i].l, c[i].r, (int32_t)i, src, err)))
            goto fail;
fail:
    free(c);
    free(seen);
    return rc;
}

// llama.cpp's regex lists per tokenizer.ggml.pre (model gpt2).
static int gguf_pre(pt_tokenizer *t, const char *pre, const char *src, pt_err *err) {
    static const char *const digits_first[] = {"smollm", "starcoder", "refact", "command-r", "codeshell",
                                               "exaone", "minerva"};
    static const char *const llama3[] = {"llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral",
                                         "smaug-bpe", "dbrx"};
    static const char *const qwen2[] = {"qwen2", "deepseek-r1-qwen", "stablelm2", "megrez"};
    static const char *const gpt2[] = {"", "default", "gpt-2", "gpt2", "mpt", "olmo", "jais"};
    // BLOOM's own split, as its tokenizer.json writes it (Oniguruma's nested
    // class; tok_compile flattens it as llama.cpp's copy is written)
    static const char BLOOM_RE[] = " ?[^(\\s|[.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c])]+";
    const char *re = NULL;
    if (strcmp(pre, "bloom") == 0) re = BLOOM_RE;
    int digits = 0;
    for (size_t i = 0; i < sizeof digits_first / sizeof *digits_first; i++)
        if (strcmp(pre, digits_first[i]) == 0) re = TOK_GPT2_RE, digits = 1;
    for (size_t i = 0; i < sizeof llama3 / sizeof *llama3; i++)
        if (strcmp(pre, llama3[i]) == 0) re = LLAMA3_RE, t->ignore_merges = 1;
    for (size_t i = 0; i < sizeof qwen2 / sizeof *qwen2; i++)
        if (strcmp(pre, qwen2[i]) == 0) re = QWEN2_RE;
    for (size_t i = 0; i < sizeof gpt2 / sizeof *gpt2; i++)
        if (strcmp(pre, gpt2[i]) == 0) re = TOK_GPT2_RE;
    if (!re)
        return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: tokenizer.ggml.pre \"%s\" not supported", src, pre);
    int rc = digits ? tok_add_split(t, "\\p{N}", 5, 0, TOK_SPLIT_ISOLATED, 0, src, err) : PT_OK;
    return rc ? rc : tok_add_split(t, re, strlen(re), 0, TOK_SPLIT_ISOLATED, 0, src, err);
}

static int gguf_flag(const gguf_file *g, const char *key, int def, int *out, pt_err *err) {
    int64_t v;
    int found, rc = gguf_get_i64(g, key, &v, &found, err);
    *out = rc == PT_OK && found ? v != 0 : def;
    return rc;
}

static int gguf_id(const gguf_file *g, const pt_tokenizer *t, const char *key, int *out, pt_err *err) {
    int64_t v;
    int found, rc = gguf_get_i64(g, key, &v, &found, err);
    *out = -1;
    if (rc)
        return rc;
    if (found && (v < 0 || v >= t->n_vocab))
        return pt_fail(err, PT_ERR_FORMAT, "%s: %s = %lld is outside the vocabulary of %d", g->path, key,
                       (long long)v, t->n_vocab);
    if (found)
        *out = (int)v;
    return PT_OK;
}

int tokenizer_load_gguf(pt_tokenizer **out, const gguf_file *g, pt_err *err) {
    const char *src = g->path;
    pt_tokenizer *t = NULL;
    const char **strs = NULL;
    uint32_t *lens = NULL;
    char model[64], pre[64];
    int rc, found, spm, add_bos, add_eos, space_prefix, pad, unk;
    const gguf_kv *tokens, *types, *kv;
    *out = NULL;
    if ((rc = gguf_get_str(g, "tokenizer.ggml.model", model, sizeof model, &found, err)))
        return rc;
    if (!found)
        return pt_fail(err, PT_ERR_FORMAT, "%s: no tokenizer.ggml.model", src);
    if (strcmp(model, "gpt2") != 0 && strcmp(model, "llama") != 0)
        return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: tokenizer model \"%s\" not supported (gpt2, llama)", src, model);
    spm = strcmp(model, "llama") == 0;
    if (!(tokens = find_array(g, "tokenizer.ggml.tokens", 1, 0, err, &rc)))
        return rc ? rc : pt_fail(err, PT_ERR_FORMAT, "%s: no tokenizer.ggml.tokens", src);
    if (tokens->arr_len == 0 || tokens->arr_len >= TOK_MAX_VOCAB)
        return pt_fail(err, PT_ERR_FORMAT, "%s: %llu tokens", src, (unsigned long long)tokens->arr_len);
    int n = (int)tokens->arr_len;
    types = find_array(g, "tokenizer.ggml.token_type", 0, (uint64_t)n, err, &rc);
    if (rc)
        return rc;
    strs = malloc((size_t)n * sizeof *strs);
    lens = malloc((size_t)n * sizeof *lens);
    if (!(t = tok_new()) || !strs || !lens) {
        rc = pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", src);
        goto fail;
    }
    for (int i = 0; i < n; i++) {
        if (tokens->arr_str[i].len >= UINT32_MAX / 4) {
            rc = pt_fail(err, PT_ERR_FORMAT, "%s: token %d too long", src, i);
            goto fail;
        }
        strs[i] = tokens->arr_str[i].ptr;
        lens[i] = (uint32_t)tokens->arr_str[i].len;
    }
    if ((rc = tok_set_vocab(t, n, strs, lens, src, err)))
        goto fail;
    t->kind = spm ? PT_TOK_BPE_SPM : PT_TOK_BPE_BYTELEVEL;
    for (int i = 0; types && i < n; i++) {
        int64_t ty;
        if (!gguf_arr_i64(types, (uint64_t)i, &ty) || ty < PT_TOKTYPE_NORMAL || ty > PT_TOKTYPE_BYTE) {
            rc = pt_fail(err, PT_ERR_FORMAT, "%s: token %d has type %g (tokenizer.ggml.token_type holds whole "
                         "numbers %d to %d)", src, i, gguf_arr_f64(types, (uint64_t)i), PT_TOKTYPE_NORMAL,
                         PT_TOKTYPE_BYTE);
            goto fail;
        }
        t->type[i] = (uint8_t)ty;
        if (ty == PT_TOKTYPE_CONTROL)
            t->added[i] = TOK_ADDED_SPECIAL;
        else if (ty == PT_TOKTYPE_USER)
            t->added[i] = TOK_ADDED_PLAIN;
    }
    if ((rc = gguf_id(g, t, "tokenizer.ggml.bos_token_id", &t->bos, err)) ||
        (rc = gguf_id(g, t, "tokenizer.ggml.eos_token_id", &t->eos, err)) ||
        (rc = gguf_id(g, t, "tokenizer.ggml.unknown_token_id", &unk, err)) ||
        (rc = gguf_id(g, t, "tokenizer.ggml.padding_token_id", &pad, err)) ||
        (rc = gguf_flag(g, "tokenizer.ggml.add_bos_token", spm, &add_bos, err)) ||
        (rc = gguf_flag(g, "tokenizer.ggml.add_eos_token", 0, &add_eos, err)) ||
        (rc = gguf_flag(g, "tokenizer.ggml.add_space_prefix", 1, &space_prefix, err)))
        goto fail;
    if (spm && unk < 0)
        unk = tok_lookup(t, "<unk>", 5);     // transformers' LlamaTokenizer default
    tok_mark_special(t, t->bos);
    tok_mark_special(t, t->eos);
    tok_mark_special(t, unk);
    tok_mark_special(t, pad);
    if (add_bos && t->bos >= 0)
        t->prefix[t->n_prefix++] = t->bos;
    if (add_eos && t->eos >= 0)
        t->suffix[t->n_suffix++] = t->eos;

    if (spm) {
        const gguf_kv *scores = find_array(g, "tokenizer.ggml.scores", 0, (uint64_t)n, err, &rc);
        if (!scores) {
            rc = rc ? rc : pt_fail(err, PT_ERR_FORMAT, "%s: SentencePiece vocabulary without tokenizer.ggml.scores", src);
            goto fail;
        }
        if ((rc = spm_merges(t, scores, src, err)))
            goto fail;
        t->byte_fallback = t->fuse_unk = 1;
        t->unk = unk;
        t->strip_first_space = space_prefix;
        if ((rc = tok_add_metaspace(t, space_prefix ? TOK_PREPEND_FIRST : TOK_PREPEND_NEVER, 0, src, err)))
            goto fail;
    } else {
        const gguf_kv *merges = find_array(g, "tokenizer.ggml.merges", 1, 0, err, &rc);
        if (!merges) {
            rc = rc ? rc : pt_fail(err, PT_ERR_FORMAT, "%s: byte-level vocabulary without tokenizer.ggml.merges", src);
            goto fail;
        }
        if ((rc = tok_alloc_merges(t, merges->arr_len, src, err)))
            goto fail;
        for (uint64_t i = 0; i < merges->arr_len; i++) {
            gguf_str m = merges->arr_str[i];
            const char *sp = m.len > 1 ? memchr(m.ptr + 1, ' ', m.len - 1) : NULL;  // as llama.cpp: from 1
            if (!sp) {
                rc = pt_fail(err, PT_ERR_FORMAT, "%s: merge %llu is not \"a b\"", src, (unsigned long long)i);
                goto fail;
            }
            size_t la = (size_t)(sp - m.ptr), lb = m.len - la - 1;
            int32_t a = tok_lookup(t, m.ptr, la), b = tok_lookup(t, sp + 1, lb);
            if (a < 0 || b < 0) {
                rc = pt_fail(err, PT_ERR_FORMAT, "%s: merge %llu refers to a token not in the vocabulary",
                             src, (unsigned long long)i);
                goto fail;
            }
            if ((rc = tok_add_merge(t, a, b, (int32_t)i, src, err)))
                goto fail;
        }
        if ((rc = gguf_get_str(g, "tokenizer.ggml.pre", pre, sizeof pre, &found, err)))
            goto fail;
        if ((rc = gguf_pre(t, found ? pre : "", src, err)))
            goto fail;
    }
    if ((kv = gguf_find_kv(g, "tokenizer.chat_template")) && kv->type == GGUF_TYPE_STRING) {
        uint64_t len;
        memcpy(&len, kv->val, 8);              // checked against the file by gguf_open
        if ((rc = tok_set_chat_template(t, (const char *)kv->val + 8, (size_t)len, src, err)))
            goto fail;
    }
    if ((rc = tok_finish(t, src, err)))
        goto fail;
    *out = t;
    t = NULL;
fail:
    tokenizer_free(t);
    free(strs);
    free(lens);
    return rc;
}
