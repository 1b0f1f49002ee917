// tokenizer_write.c - a loaded tokenizer back out as Hugging Face files:
// tokenizer.json in the layout `tokenizers` 0.23 writes, and
// tokenizer_config.json, so that tokenizer_load_json (and transformers'
// AutoTokenizer) read back an encoder that gives the same ids. This is what a
// merged export of a GGUF base carries (export.c).
//
// What is written, inverting tokenizer_json.c / tokenizer_gguf.c:
// * model: BPE; vocab = every id BPE may produce (in_model), merges as
//   [left, right] pairs in rank order (pairs, not "a b": a piece may hold a
//   space); byte_fallback, fuse_unk, ignore_merges and unk_token as loaded.
// * added_tokens: every id matched in raw text before BPE (control, user
//   defined, and the bos/eos/unk/pad ids the loaders mark special), with
//   normalized, lstrip, rstrip and single_word false.
// * normalizer: the Prepend / Replace / NFC steps.
// * pre_tokenizer: a step keeps only its compiled regex, so a split is named
//   by compiling each pattern the loaders produce the same way (tok_compile)
//   and comparing the serialised code (pcre2_serialize_encode, which drops the
//   pointers). As transformers writes them: \p{N} and \p{N}+ isolated are
//   Digits(individual_digits true / false); the GPT-2 split is ByteLevel's own
//   regex (use_regex true), with a prefix-space step before it folded into
//   add_prefix_space; other splits are Split(Regex, behavior, invert); a
//   byte-level tokenizer without a ByteLevel step gets ByteLevel(use_regex
//   false) last. So the SmolLM2 GGUF (pre smollm) gives Sequence[Digits(true),
//   ByteLevel(false, use_regex true)] and Llama 3 Sequence[Split(Regex),
//   ByteLevel(use_regex false)], as their original tokenizer.json files.
// * post_processor: TemplateProcessing with the tokens add_special puts
//   around the text ($A alone when there are none).
// * decoder: ByteLevel; SentencePiece: Replace(U+2581 -> " "), ByteFallback,
//   Fuse, and Strip(" ", 1, 0) when the first space is dropped.
#include "core/fileio.h"
#include "text/tokenizer_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// ---------------------------------------------------------------- building JSON

// Adds item to parent (an object when key, else an array); a NULL item or
// parent clears *ok, so one check at the end catches any failed allocation.
static cJSON *put(cJSON *parent, const char *key, cJSON *item, int *ok) {
    cJSON_bool added = item && parent && (key ? cJSON_AddItemToObject(parent, key, item)
                                              : cJSON_AddItemToArray(parent, item));
    if (!added) {
        cJSON_Delete(item);
        *ok = 0;
        return NULL;
    }
    return item;
}

static void put_str(cJSON *o, const char *key, const char *s, int *ok) {
    put(o, key, s ? cJSON_CreateString(s) : cJSON_CreateNull(), ok);
}

static void put_bool(cJSON *o, const char *key, int v, int *ok) { put(o, key, cJSON_CreateBool(v), ok); }

static void put_num(cJSON *o, const char *key, double v, int *ok) { put(o, key, cJSON_CreateNumber(v), ok); }

static cJSON *put_obj(cJSON *parent, const char *key, const char *type, int *ok) {
    cJSON *o = put(parent, key, cJSON_CreateObject(), ok);
    if (type)
        put_str(o, "type", type, ok);
    return o;
}

// The piece of id, or NULL when it is not one JSON string (a NUL byte inside).
static const char *piece_str(const pt_tokenizer *t, int32_t id) {
    uint32_t len;
    const char *s = tok_piece(t, id, &len);
    return strlen(s) == len ? s : NULL;
}

static int nul_fail(int32_t id, const char *src, pt_err *err) {
    return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: token %d holds a NUL byte, which tokenizer.json cannot carry", src, id);
}

// ---------------------------------------------------------------- model

static int cmp_rank(const void *a, const void *b) {
    const tok_merge_slot *x = *(const tok_merge_slot *const *)a, *y = *(const tok_merge_slot *const *)b;
    return x->rank < y->rank ? -1 : x->rank > y->rank;
}

static int add_model(cJSON *root, const pt_tokenizer *t, const char *src, pt_err *err) {
    const tok_merge_slot **order = NULL;
    int ok = 1, rc = PT_OK, n = 0;
    if (t->unk >= 0 && !piece_str(t, t->unk))
        return nul_fail(t->unk, src, err);
    cJSON *m = put_obj(root, "model", "BPE", &ok);
    put(m, "dropout", cJSON_CreateNull(), &ok);
    put_str(m, "unk_token", t->unk >= 0 ? piece_str(t, t->unk) : NULL, &ok);
    put(m, "continuing_subword_prefix", cJSON_CreateNull(), &ok);
    put(m, "end_of_word_suffix", cJSON_CreateNull(), &ok);
    put_bool(m, "fuse_unk", t->fuse_unk, &ok);
    put_bool(m, "byte_fallback", t->byte_fallback, &ok);
    put_bool(m, "ignore_merges", t->ignore_merges, &ok);
    cJSON *vocab = put(m, "vocab", cJSON_CreateObject(), &ok);
    for (int32_t id = 0; ok && id < t->n_vocab; id++) {
        if (!t->in_model[id])
            continue;
        const char *s = piece_str(t, id);
        if (!s) {
            rc = nul_fail(id, src, err);
            goto fail;
        }
        put_num(vocab, s, id, &ok);
    }
    // merges (n_merges) in rank order, from the hash map
    if (t->mmap && !(order = malloc((size_t)t->n_merges * sizeof *order + 1))) {
        rc = pt_fail(err, PT_ERR_NOMEM, "%s: out of memory for %d merges", src, t->n_merges);
        goto fail;
    }
    for (uint32_t i = 0; t->mmap && i <= t->mmask; i++)
        if (t->mmap[i].key != TOK_EMPTY_KEY && n < t->n_merges)
            order[n++] = &t->mmap[i];
    if (n > 1)
        qsort(order, (size_t)n, sizeof *order, cmp_rank);
    cJSON *merges = put(m, "merges", cJSON_CreateArray(), &ok);
    for (int i = 0; ok && i < n; i++) {
        int32_t a = (int32_t)(order[i]->key >> 32), b = (int32_t)(uint32_t)order[i]->key;
        const char *sa = piece_str(t, a), *sb = piece_str(t, b);
        if (!sa || !sb) {
            rc = nul_fail(sa ? b : a, src, err);
            goto fail;
        }
        cJSON *pair = put(merges, NULL, cJSON_CreateArray(), &ok);
        put_str(pair, NULL, sa, &ok);
        put_str(pair, NULL, sb, &ok);
    }
    if (!ok)
        rc = pt_fail(err, PT_ERR_NOMEM, "%s: out of memory for the vocabulary", src);
fail:
    free(order);
    return rc;
}

static int add_added_tokens(cJSON *root, const pt_tokenizer *t, const char *src, pt_err *err) {
    int ok = 1;
    cJSON *list = put(root, "added_tokens", cJSON_CreateArray(), &ok);
    for (int32_t id = 0; ok && id < t->n_vocab; id++) {
        if (!t->added[id])
            continue;
        const char *s = piece_str(t, id);
        if (!s)
            return nul_fail(id, src, err);
        cJSON *o = put(list, NULL, cJSON_CreateObject(), &ok);
        put_num(o, "id", id, &ok);
        put_str(o, "content", s, &ok);
        put_bool(o, "single_word", 0, &ok);
        put_bool(o, "lstrip", 0, &ok);
        put_bool(o, "rstrip", 0, &ok);
        put_bool(o, "normalized", 0, &ok);
        put_bool(o, "special", t->added[id] == TOK_ADDED_SPECIAL, &ok);
    }
    return ok ? PT_OK : pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", src);
}

// ---------------------------------------------------------------- normalizer

static int add_normalizer(cJSON *root, const pt_tokenizer *t, const char *src, pt_err *err) {
    int ok = 1;
    cJSON *parent = root;
    const char *key = "normalizer";
    if (t->n_norm == 0) {
        put(root, key, cJSON_CreateNull(), &ok);
    } else if (t->n_norm > 1) {
        parent = put(put_obj(root, key, "Sequence", &ok), "normalizers", cJSON_CreateArray(), &ok);
        key = NULL;
    }
    for (int i = 0; i < t->n_norm; i++) {
        const tok_norm_step *st = &t->norm[i];
        if (st->op == TOK_NORM_NFC) {
            put_obj(parent, key, "NFC", &ok);
            continue;
        }
        if (strlen(st->to) != st->to_len || (st->from && strlen(st->from) != st->from_len))
            return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: normalizer step %d holds a NUL byte", src, i);
        if (st->op == TOK_NORM_PREPEND) {
            put_str(put_obj(parent, key, "Prepend", &ok), "prepend", st->to, &ok);
        } else {
            cJSON *o = put_obj(parent, key, "Replace", &ok);
            put_str(put(o, "pattern", cJSON_CreateObject(), &ok), "String", st->from, &ok);
            put_str(o, "content", st->to, &ok);
        }
    }
    return ok ? PT_OK : pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", src);
}

// ---------------------------------------------------------------- pre-tokenizer

enum { RE_GPT2, RE_LLAMA3, RE_QWEN2, RE_DIGIT, RE_DIGITS, RE_KNOWN };

static const char *const KNOWN_RE[RE_KNOWN] = {TOK_GPT2_RE, TOK_LLAMA3_RE, TOK_QWEN2_RE, "\\p{N}", "\\p{N}+"};

// Which KNOWN_RE the step's pattern is, -1 if none (then it is written as it is).
static int known_find(const tok_pre_step *st) {
    for (int i = 0; i < RE_KNOWN && st->pattern && !st->literal; i++)
        if (!strcmp(st->pattern, KNOWN_RE[i])) return i;
    return -1;
}

static const char *behavior_name(tok_split_behavior b) {
    switch (b) {
    case TOK_SPLIT_REMOVED: return "Removed";
    case TOK_SPLIT_ISOLATED: return "Isolated";
    case TOK_SPLIT_MERGED_PREV: return "MergedWithPrevious";
    case TOK_SPLIT_MERGED_NEXT: return "MergedWithNext";
    case TOK_SPLIT_CONTIGUOUS: return "Contiguous";
    }
    return "Isolated";
}

static void put_bytelevel(cJSON *parent, const char *key, int prefix_space, int use_regex, int *ok) {
    cJSON *o = put_obj(parent, key, "ByteLevel", ok);
    put_bool(o, "add_prefix_space", prefix_space, ok);
    put_bool(o, "trim_offsets", 1, ok);
    put_bool(o, "use_regex", use_regex, ok);
}

static int add_pre(cJSON *root, const pt_tokenizer *t, const char *src, pt_err *err) {
    static const char *const SCHEME[] = {"never", "first", "always"};
    int re_of[TOK_MAX_STEPS], ok = 1, rc, n_out = 0, bytelevel = t->kind == PT_TOK_BPE_BYTELEVEL;
    int has_prefix = 0, bl_split = -1, wrote_bl = 0;
    cJSON *list = cJSON_CreateArray();
    if (!list)
        return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", src);
    for (int i = 0; i < t->n_pre; i++) {
        const tok_pre_step *st = &t->pre[i];
        re_of[i] = st->op == TOK_PRE_SPLIT ? known_find(st) : -1;
        has_prefix |= st->op == TOK_PRE_PREFIX_SPACE;
        if (re_of[i] == RE_GPT2 && st->behavior == TOK_SPLIT_ISOLATED && !st->invert)
            bl_split = i;
    }
    if (!bytelevel || has_prefix)
        bl_split = -1;         // only a prefix-space step's own split becomes ByteLevel's regex
    for (int i = 0; i < t->n_pre; i++) {
        const tok_pre_step *st = &t->pre[i];
        if (st->op == TOK_PRE_PREFIX_SPACE) {
            const tok_pre_step *nx = i + 1 < t->n_pre ? &t->pre[i + 1] : NULL;
            int regex = nx && re_of[i + 1] == RE_GPT2 && nx->behavior == TOK_SPLIT_ISOLATED && !nx->invert;
            put_bytelevel(list, NULL, 1, regex, &ok);
            i += regex;
            wrote_bl = 1;
        } else if (st->op == TOK_PRE_METASPACE) {
            cJSON *o = put_obj(list, NULL, "Metaspace", &ok);
            put_str(o, "replacement", TOK_METASPACE, &ok);
            put_str(o, "prepend_scheme", SCHEME[st->prepend], &ok);
            put_bool(o, "split", st->re != NULL, &ok);
        } else if (i == bl_split) {
            put_bytelevel(list, NULL, 0, 1, &ok);
            wrote_bl = 1;
        } else if ((re_of[i] == RE_DIGIT || re_of[i] == RE_DIGITS) && st->behavior == TOK_SPLIT_ISOLATED &&
                   !st->invert) {
            put_bool(put_obj(list, NULL, "Digits", &ok), "individual_digits", re_of[i] == RE_DIGIT, &ok);
        } else {
            cJSON *o = put_obj(list, NULL, "Split", &ok);
            put_str(put(o, "pattern", cJSON_CreateObject(), &ok), st->literal ? "String" : "Regex", st->pattern, &ok);
            put_str(o, "behavior", behavior_name(st->behavior), &ok);
            put_bool(o, "invert", st->invert, &ok);
        }
    }
    if (bytelevel && !wrote_bl)
        put_bytelevel(list, NULL, 0, 0, &ok);
    n_out = cJSON_GetArraySize(list);
    if (n_out == 0) {
        put(root, "pre_tokenizer", cJSON_CreateNull(), &ok);
    } else if (n_out == 1) {
        cJSON *only = cJSON_DetachItemFromArray(list, 0);
        put(root, "pre_tokenizer", only, &ok);
    } else {
        put(put_obj(root, "pre_tokenizer", "Sequence", &ok), "pretokenizers", list, &ok);
        list = NULL;           // owned by the sequence now, or freed by put
    }
    rc = ok ? PT_OK : pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", src);
    cJSON_Delete(list);
    return rc;
}

// ---------------------------------------------------------------- post-processor, decoder

static void put_template_part(cJSON *list, const pt_tokenizer *t, const int32_t *ids, int n, int type_id, int *ok) {
    for (int i = 0; i < n; i++) {
        cJSON *sp = put(put(list, NULL, cJSON_CreateObject(), ok), "SpecialToken", cJSON_CreateObject(), ok);
        put_str(sp, "id", piece_str(t, ids[i]), ok);
        put_num(sp, "type_id", type_id, ok);
    }
}

static void put_sequence(cJSON *list, const char *name, int type_id, int *ok) {
    cJSON *sq = put(put(list, NULL, cJSON_CreateObject(), ok), "Sequence", cJSON_CreateObject(), ok);
    put_str(sq, "id", name, ok);
    put_num(sq, "type_id", type_id, ok);
}

static void put_special(cJSON *specials, const pt_tokenizer *t, int32_t id, int *ok) {
    const char *s = piece_str(t, id);
    if (!s || cJSON_GetObjectItemCaseSensitive(specials, s))
        return;
    cJSON *o = put(specials, s, cJSON_CreateObject(), ok);
    put_str(o, "id", s, ok);
    put_num(put(o, "ids", cJSON_CreateArray(), ok), NULL, id, ok);
    put_str(put(o, "tokens", cJSON_CreateArray(), ok), NULL, s, ok);
}

// TemplateProcessing: single = prefix $A suffix; pair = that, then prefix $B suffix as type 1.
static int add_post(cJSON *root, const pt_tokenizer *t, const char *src, pt_err *err) {
    int ok = 1;
    for (int i = 0; i < t->n_prefix + t->n_suffix; i++) {
        int32_t id = i < t->n_prefix ? t->prefix[i] : t->suffix[i - t->n_prefix];
        if (!piece_str(t, id))
            return nul_fail(id, src, err);
    }
    cJSON *p = put_obj(root, "post_processor", "TemplateProcessing", &ok);
    cJSON *single = put(p, "single", cJSON_CreateArray(), &ok);
    put_template_part(single, t, t->prefix, t->n_prefix, 0, &ok);
    put_sequence(single, "A", 0, &ok);
    put_template_part(single, t, t->suffix, t->n_suffix, 0, &ok);
    cJSON *pair = put(p, "pair", cJSON_CreateArray(), &ok);
    put_template_part(pair, t, t->prefix, t->n_prefix, 0, &ok);
    put_sequence(pair, "A", 0, &ok);
    put_template_part(pair, t, t->suffix, t->n_suffix, 0, &ok);
    put_template_part(pair, t, t->prefix, t->n_prefix, 1, &ok);
    put_sequence(pair, "B", 1, &ok);
    put_template_part(pair, t, t->suffix, t->n_suffix, 1, &ok);
    cJSON *specials = put(p, "special_tokens", cJSON_CreateObject(), &ok);
    for (int i = 0; i < t->n_prefix; i++)
        put_special(specials, t, t->prefix[i], &ok);
    for (int i = 0; i < t->n_suffix; i++)
        put_special(specials, t, t->suffix[i], &ok);
    return ok ? PT_OK : pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", src);
}

static int add_decoder(cJSON *root, const pt_tokenizer *t, const char *src, pt_err *err) {
    int ok = 1;
    if (t->kind == PT_TOK_BPE_BYTELEVEL) {
        put_bytelevel(root, "decoder", 1, 1, &ok);
    } else {
        cJSON *list = put(put_obj(root, "decoder", "Sequence", &ok), "decoders", cJSON_CreateArray(), &ok);
        cJSON *rep = put_obj(list, NULL, "Replace", &ok);
        put_str(put(rep, "pattern", cJSON_CreateObject(), &ok), "String", TOK_METASPACE, &ok);
        put_str(rep, "content", " ", &ok);
        put_obj(list, NULL, "ByteFallback", &ok);
        put_obj(list, NULL, "Fuse", &ok);
        if (t->strip_first_space) {
            cJSON *strip = put_obj(list, NULL, "Strip", &ok);
            put_str(strip, "content", " ", &ok);
            put_num(strip, "start", 1, &ok);
            put_num(strip, "stop", 0, &ok);
        }
    }
    return ok ? PT_OK : pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", src);
}

// ---------------------------------------------------------------- files

static int write_atomic(const char *path, const char *text, pt_err *err) {
    return pt_write_file_atomic(path, text, strlen(text), err);
}

static int write_json(cJSON *root, const char *path, pt_err *err) {
    char *text = cJSON_Print(root);
    if (!text)
        return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", path);
    int rc = write_atomic(path, text, err);
    cJSON_free(text);
    return rc;
}

int tokenizer_save_json(const pt_tokenizer *t, const char *path, pt_err *err) {
    int ok = 1, rc;
    cJSON *root = cJSON_CreateObject();
    put_str(root, "version", "1.0", &ok);
    put(root, "truncation", cJSON_CreateNull(), &ok);
    put(root, "padding", cJSON_CreateNull(), &ok);
    if (!ok) {
        rc = pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if ((rc = add_added_tokens(root, t, path, err)) || (rc = add_normalizer(root, t, path, err)) ||
        (rc = add_pre(root, t, path, err)) || (rc = add_post(root, t, path, err)) ||
        (rc = add_decoder(root, t, path, err)) || (rc = add_model(root, t, path, err)))
        goto done;
    rc = write_json(root, path, err);
done:
    cJSON_Delete(root);
    return rc;
}

int tokenizer_save_config_json(const pt_tokenizer *t, const char *chat_template, const char *path, pt_err *err) {
    int ok = 1, rc;
    const int32_t ids[3] = {t->bos, t->eos, t->unk};
    const char *names[3] = {"bos_token", "eos_token", "unk_token"};
    if (!chat_template)
        chat_template = t->chat_template;
    cJSON *root = cJSON_CreateObject();
    put_str(root, "tokenizer_class", "PreTrainedTokenizerFast", &ok);
    for (int k = 0; k < 3; k++) {
        if (ids[k] >= 0 && !piece_str(t, ids[k])) {
            rc = nul_fail(ids[k], path, err);
            goto done;
        }
        if (ids[k] >= 0 || k < 2)     // bos/eos null say "none"; absent would let the loader guess
            put_str(root, names[k], ids[k] >= 0 ? piece_str(t, ids[k]) : NULL, &ok);
    }
    // what add_special adds (the post-processor decides; these say the same for older readers)
    put_bool(root, "add_bos_token", t->n_prefix > 0 && t->prefix[0] == t->bos, &ok);
    put_bool(root, "add_eos_token", t->n_suffix > 0 && t->suffix[t->n_suffix - 1] == t->eos, &ok);
    put_bool(root, "clean_up_tokenization_spaces", 0, &ok);
    if (chat_template)
        put_str(root, "chat_template", chat_template, &ok);
    rc = ok ? write_json(root, path, err) : pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", path);
done:
    cJSON_Delete(root);
    return rc;
}
