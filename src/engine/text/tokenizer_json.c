// tokenizer_json.c - builds a pt_tokenizer from a Hugging Face tokenizer.json,
// with tokenizer_config.json (bos/eos names, chat_template) and
// chat_template.jinja beside it when present.
//
// What we read, following `tokenizers` 0.23 / transformers 5.24:
// * model: BPE only (vocab, merges as "a b" or [a, b], byte_fallback, fuse_unk,
//   ignore_merges, unk_token); added_tokens: special -> control, else user;
//   both are matched in the raw text before BPE (longest first). The bos/eos/
//   unk/pad tokens the config names count as special too (transformers
//   registers them).
// * normalizer: Sequence, Prepend, Replace (string pattern), NFC (libunistring's
//   composition: GPT-NeoX and Qwen2 files carry one).
// * pre_tokenizer: Sequence, Split (regex or string, all five behaviours,
//   invert), Digits, ByteLevel (add_prefix_space, use_regex), Metaspace.
//   A ByteLevel step makes the vocabulary byte-level; otherwise it is SPM-style.
// * post_processor: the TemplateProcessing "single" template gives the tokens
//   add_special puts around the text (also Bert/Roberta cls/sep). transformers
//   5 ignores add_bos_token/add_eos_token in tokenizer_config.json for such
//   files (tried: add_bos_token=false still gets <s> when the template has it),
//   so we ignore them too.
// * decoder: only whether a leading space is stripped (Strip, Metaspace).
#include "text/tokenizer_internal.h"

#include "core/fileio.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int parse_json_file(const char *path, cJSON **root, pt_err *err) {
    char *data;
    size_t n;
    int rc = pt_read_file(path, &data, &n, err);
    if (rc)
        return rc;
    *root = cJSON_ParseWithLength(data, n);
    if (!*root) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = at && at >= data && at <= data + n ? (size_t)(at - data) : n;
        free(data);
        return pt_fail(err, PT_ERR_FORMAT, "%s: not valid JSON (near byte %zu)", path, off);
    }
    free(data);
    return PT_OK;
}

// Optional bool field: absent or null -> def.
static int get_bool(const cJSON *o, const char *key, int def, int *out, const char *src, pt_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = def;
    if (!v || cJSON_IsNull(v))
        return PT_OK;
    if (!cJSON_IsBool(v))
        return pt_fail(err, PT_ERR_FORMAT, "%s: \"%s\" must be true or false", src, key);
    *out = cJSON_IsTrue(v);
    return PT_OK;
}

// Optional string field: absent or null -> NULL.
static int get_str(const cJSON *o, const char *key, const char **out, const char *src, pt_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v))
        return PT_OK;
    if (!cJSON_IsString(v))
        return pt_fail(err, PT_ERR_FORMAT, "%s: \"%s\" must be a string", src, key);
    *out = v->valuestring;
    return PT_OK;
}

static int get_id(const cJSON *v, int limit, int *out) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble >= limit ||
        v->valuedouble != (double)(int)v->valuedouble)
        return 0;
    *out = (int)v->valuedouble;
    return 1;
}

// {"String": s} or {"Regex": r}
static int get_pattern(const cJSON *o, const char **pat, int *literal, const char *what, const char *src, pt_err *err) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "pattern");
    const cJSON *s = p ? cJSON_GetObjectItemCaseSensitive(p, "String") : NULL;
    const cJSON *r = p ? cJSON_GetObjectItemCaseSensitive(p, "Regex") : NULL;
    if (cJSON_IsString(s)) { *pat = s->valuestring; *literal = 1; return PT_OK; }
    if (cJSON_IsString(r)) { *pat = r->valuestring; *literal = 0; return PT_OK; }
    return pt_fail(err, PT_ERR_FORMAT, "%s: %s needs a pattern {\"String\"|\"Regex\": ...}", src, what);
}

static int parse_normalizer(pt_tokenizer *t, const cJSON *n, const char *src, pt_err *err) {
    const char *type;
    int rc;
    if (!n || cJSON_IsNull(n))
        return PT_OK;
    if (!cJSON_IsObject(n) || (rc = get_str(n, "type", &type, src, err)) || !type)
        return pt_fail(err, PT_ERR_FORMAT, "%s: normalizer without a type", src);
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, "normalizers"), *it;
        if (!cJSON_IsArray(list))
            return pt_fail(err, PT_ERR_FORMAT, "%s: Sequence normalizer without a list", src);
        cJSON_ArrayForEach(it, list)
            if ((rc = parse_normalizer(t, it, src, err)))
                return rc;
        return PT_OK;
    }
    if (t->n_norm >= TOK_MAX_STEPS)
        return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: more than %d normalizer steps", src, TOK_MAX_STEPS);
    tok_norm_step *st = &t->norm[t->n_norm];
    memset(st, 0, sizeof *st);
    if (strcmp(type, "NFC") == 0) {
        st->op = TOK_NORM_NFC;
        t->n_norm++;
        return PT_OK;
    }
    if (strcmp(type, "Prepend") == 0) {
        const char *p;
        if ((rc = get_str(n, "prepend", &p, src, err)))
            return rc;
        if (!p)
            return pt_fail(err, PT_ERR_FORMAT, "%s: Prepend normalizer without \"prepend\"", src);
        st->op = TOK_NORM_PREPEND;
        st->to_len = strlen(p);
        if (!(st->to = tok_dup_n(p, st->to_len)))
            return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", src);
    } else if (strcmp(type, "Replace") == 0) {
        const char *pat, *content;
        int literal;
        if ((rc = get_pattern(n, &pat, &literal, "Replace normalizer", src, err)) ||
            (rc = get_str(n, "content", &content, src, err)))
            return rc;
        if (!literal)
            return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: Replace normalizer with a regex pattern", src);
        if (!content || !pat[0])
            return pt_fail(err, PT_ERR_FORMAT, "%s: Replace normalizer needs a pattern and content", src);
        st->op = TOK_NORM_REPLACE;
        st->from_len = strlen(pat);
        st->to_len = strlen(content);
        st->from = tok_dup_n(pat, st->from_len);
        st->to = tok_dup_n(content, st->to_len);
        if (!st->from || !st->to) {
            free(st->from);
            free(st->to);
            return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", src);
        }
    } else {
        return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: normalizer %s not supported", src, type);
    }
    t->n_norm++;
    return PT_OK;
}

static int parse_behavior(const char *b, tok_split_behavior *out) {
    static const struct { const char *name; tok_split_behavior b; } names[] = {
        {"Removed", TOK_SPLIT_REMOVED}, {"Isolated", TOK_SPLIT_ISOLATED},
        {"MergedWithPrevious", TOK_SPLIT_MERGED_PREV}, {"MergedWithNext", TOK_SPLIT_MERGED_NEXT},
        {"Contiguous", TOK_SPLIT_CONTIGUOUS},
    };
    for (size_t i = 0; b && i < sizeof names / sizeof *names; i++)
        if (strcmp(b, names[i].name) == 0) {
            *out = names[i].b;
            return 1;
        }
    return 0;
}

static int parse_pre(pt_tokenizer *t, const cJSON *p, int *bytelevel, const char *src, pt_err *err) {
    const char *type;
    int rc;
    if (!p || cJSON_IsNull(p))
        return PT_OK;
    if (!cJSON_IsObject(p) || (rc = get_str(p, "type", &type, src, err)) || !type)
        return pt_fail(err, PT_ERR_FORMAT, "%s: pre_tokenizer without a type", src);
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(p, "pretokenizers"), *it;
        if (!cJSON_IsArray(list))
            return pt_fail(err, PT_ERR_FORMAT, "%s: Sequence pre_tokenizer without a list", src);
        cJSON_ArrayForEach(it, list)
            if ((rc = parse_pre(t, it, bytelevel, src, err)))
                return rc;
        return PT_OK;
    }
    if (strcmp(type, "ByteLevel") == 0) {
        int prefix, use_regex;
        if ((rc = get_bool(p, "add_prefix_space", 1, &prefix, src, err)) ||
            (rc = get_bool(p, "use_regex", 1, &use_regex, src, err)))
            return rc;
        *bytelevel = 1;
        if (prefix) {
            if (t->n_pre >= TOK_MAX_STEPS)
                return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: too many pre-tokenizer steps", src);
            memset(&t->pre[t->n_pre], 0, sizeof t->pre[0]);
            t->pre[t->n_pre++].op = TOK_PRE_PREFIX_SPACE;
        }
        return use_regex ? tok_add_split(t, TOK_GPT2_RE, strlen(TOK_GPT2_RE), 0, TOK_SPLIT_ISOLATED, 0, src, err) : PT_OK;
    }
    if (strcmp(type, "Digits") == 0) {
        int individual;
        if ((rc = get_bool(p, "individual_digits", 0, &individual, src, err)))
            return rc;
        const char *re = individual ? "\\p{N}" : "\\p{N}+";
        return tok_add_split(t, re, strlen(re), 0, TOK_SPLIT_ISOLATED, 0, src, err);
    }
    if (strcmp(type, "Split") == 0) {
        const char *pat, *beh;
        int literal, invert;
        tok_split_behavior b;
        if ((rc = get_pattern(p, &pat, &literal, "Split pre_tokenizer", src, err)) ||
            (rc = get_str(p, "behavior", &beh, src, err)) ||
            (rc = get_bool(p, "invert", 0, &invert, src, err)))
            return rc;
        if (!parse_behavior(beh, &b))
            return pt_fail(err, PT_ERR_FORMAT, "%s: Split behavior \"%s\" unknown", src, beh ? beh : "(none)");
        return tok_add_split(t, pat, strlen(pat), literal, b, invert, src, err);
    }
    if (strcmp(type, "Metaspace") == 0) {
        const char *rep, *scheme;
        int split, prefix;
        tok_prepend prepend;
        if ((rc = get_str(p, "replacement", &rep, src, err)) ||
            (rc = get_str(p, "prepend_scheme", &scheme, src, err)) ||
            (rc = get_bool(p, "split", 1, &split, src, err)) ||
            (rc = get_bool(p, "add_prefix_space", 1, &prefix, src, err)))
            return rc;
        if (rep && strcmp(rep, TOK_METASPACE) != 0)
            return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: Metaspace replacement other than U+2581", src);
        if (!scheme)
            prepend = prefix ? TOK_PREPEND_ALWAYS : TOK_PREPEND_NEVER;  // files before prepend_scheme
        else if (strcmp(scheme, "always") == 0)
            prepend = TOK_PREPEND_ALWAYS;
        else if (strcmp(scheme, "first") == 0)
            prepend = TOK_PREPEND_FIRST;
        else if (strcmp(scheme, "never") == 0)
            prepend = TOK_PREPEND_NEVER;
        else
            return pt_fail(err, PT_ERR_FORMAT, "%s: Metaspace prepend_scheme \"%s\" unknown", src, scheme);
        return tok_add_metaspace(t, prepend, split, src, err);
    }
    return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: pre_tokenizer %s not supported", src, type);
}

// Decoders only tell us whether a leading space is dropped (SPM files).
static void scan_decoder(pt_tokenizer *t, const cJSON *d, int *bytelevel) {
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "type"));
    if (!type)
        return;
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(d, "decoders"))
            scan_decoder(t, it, bytelevel);
    } else if (strcmp(type, "Strip") == 0) {
        const char *c = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "content"));
        const cJSON *start = cJSON_GetObjectItemCaseSensitive(d, "start");
        if (c && strcmp(c, " ") == 0 && cJSON_IsNumber(start) && start->valuedouble >= 1)
            t->strip_first_space = 1;
    } else if (strcmp(type, "Metaspace") == 0) {
        const char *scheme = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "prepend_scheme"));
        const cJSON *aps = cJSON_GetObjectItemCaseSensitive(d, "add_prefix_space");
        if (scheme ? strcmp(scheme, "never") != 0 : !cJSON_IsFalse(aps))
            t->strip_first_space = 1;
    } else if (strcmp(type, "ByteLevel") == 0) {
        *bytelevel = 1;
    }
}

static int add_affix(pt_tokenizer *t, int seen_a, int id, const char *src, pt_err *err) {
    int32_t *list = seen_a ? t->suffix : t->prefix;
    int *n = seen_a ? &t->n_suffix : &t->n_prefix;
    if (id < 0 || id >= t->n_vocab)
        return pt_fail(err, PT_ERR_FORMAT, "%s: post_processor names token id %d outside the vocabulary", src, id);
    if (*n >= TOK_MAX_AFFIX)
        return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: post_processor adds more than %d tokens", src, TOK_MAX_AFFIX);
    list[(*n)++] = id;
    return PT_OK;
}

static int parse_post(pt_tokenizer *t, const cJSON *p, const char *src, pt_err *err) {
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "type"));
    int rc, id;
    if (!p || cJSON_IsNull(p) || !type)
        return PT_OK;
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(p, "processors"))
            if ((rc = parse_post(t, it, src, err)))
                return rc;
        return PT_OK;
    }
    if (strcmp(type, "TemplateProcessing") == 0) {
        const cJSON *single = cJSON_GetObjectItemCaseSensitive(p, "single");
        const cJSON *specials = cJSON_GetObjectItemCaseSensitive(p, "special_tokens"), *it;
        int seen_a = 0;
        t->n_prefix = t->n_suffix = 0;
        if (!cJSON_IsArray(single))
            return pt_fail(err, PT_ERR_FORMAT, "%s: TemplateProcessing without a \"single\" list", src);
        cJSON_ArrayForEach(it, single) {
            const cJSON *sp = cJSON_GetObjectItemCaseSensitive(it, "SpecialToken");
            if (!sp) {
                seen_a |= cJSON_GetObjectItemCaseSensitive(it, "Sequence") != NULL;
                continue;
            }
            const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sp, "id"));
            const cJSON *def = name ? cJSON_GetObjectItemCaseSensitive(specials, name) : NULL;
            const cJSON *ids = cJSON_GetObjectItemCaseSensitive(def, "ids"), *x;
            if (!cJSON_IsArray(ids))
                return pt_fail(err, PT_ERR_FORMAT, "%s: TemplateProcessing token %s has no ids", src, name ? name : "?");
            cJSON_ArrayForEach(x, ids) {
                if (!get_id(x, t->n_vocab, &id))
                    return pt_fail(err, PT_ERR_FORMAT, "%s: TemplateProcessing token %s has a bad id", src, name);
                if ((rc = add_affix(t, seen_a, id, src, err)))
                    return rc;
            }
        }
        return PT_OK;
    }
    if (strcmp(type, "BertProcessing") == 0 || strcmp(type, "RobertaProcessing") == 0) {
        const cJSON *cls = cJSON_GetObjectItemCaseSensitive(p, "cls");
        const cJSON *sep = cJSON_GetObjectItemCaseSensitive(p, "sep");
        int a, b;
        if (!get_id(cJSON_GetArrayItem(cls, 1), t->n_vocab, &a) || !get_id(cJSON_GetArrayItem(sep, 1), t->n_vocab, &b))
            return pt_fail(err, PT_ERR_FORMAT, "%s: %s needs cls and sep [token, id]", src, type);
        t->n_prefix = t->n_suffix = 0;
        if ((rc = add_affix(t, 0, a, src, err)) || (rc = add_affix(t, 1, b, src, err)))
            return rc;
    }
    return PT_OK;              // ByteLevel and others add no tokens
}

// "<s>" or {"content": "<s>", ...}
static const char *token_name(const cJSON *v) {
    if (cJSON_IsString(v))
        return v->valuestring;
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "content"));
}

// tokenizer_config.json (optional) and chat_template.jinja (optional) beside path.
static int load_config(pt_tokenizer *t, const char *path, pt_err *err) {
    char cfg[1200], jinja[1200];
    const char *slash = strrchr(path, '/');
    int dir = slash ? (int)(slash - path + 1) : 0;
    cJSON *root = NULL;
    int rc = PT_OK, have_bos = 0;
    if (dir > 1000)
        return PT_OK;
    snprintf(cfg, sizeof cfg, "%.*stokenizer_config.json", dir, path);
    snprintf(jinja, sizeof jinja, "%.*schat_template.jinja", dir, path);
    FILE *f = fopen(cfg, "rb");
    if (f) {
        fclose(f);
        if ((rc = parse_json_file(cfg, &root, err)))
            return rc;
        if (!cJSON_IsObject(root)) {
            rc = pt_fail(err, PT_ERR_FORMAT, "%s: not a JSON object", cfg);
            goto fail;
        }
        static const char *const names[] = {"bos_token", "eos_token", "unk_token", "pad_token"};
        for (int k = 0; k < 4; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, names[k]);
            const char *s = token_name(v);
            int id = s ? tok_lookup(t, s, strlen(s)) : -1;
            if (k == 0 && v) have_bos = 1, t->bos = id;
            if (k == 1 && v) t->eos = id;
            tok_mark_special(t, id);   // transformers registers these as special tokens
        }
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(root, "chat_template"), *it;
        if (cJSON_IsString(ct)) {
            if ((rc = tok_set_chat_template(t, ct->valuestring, strlen(ct->valuestring), cfg, err)))
                goto fail;
        } else if (cJSON_IsArray(ct)) {       // [{"name": ..., "template": ...}]: "default", else the first
            const char *pick = NULL;
            cJSON_ArrayForEach(it, ct) {
                const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "name"));
                const char *tpl = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "template"));
                if (tpl && (!pick || (name && strcmp(name, "default") == 0)))
                    pick = tpl;
            }
            if (pick && (rc = tok_set_chat_template(t, pick, strlen(pick), cfg, err)))
                goto fail;
        }
    }
    if (!have_bos)
        t->bos = t->n_prefix > 0 ? t->prefix[0] : -1;
    if (!t->chat_template) {
        char *data;
        size_t n;
        FILE *j = fopen(jinja, "rb");
        if (j) {
            fclose(j);
            if ((rc = pt_read_file(jinja, &data, &n, err)))
                goto fail;
            t->chat_template = data;
        }
    }
fail:
    cJSON_Delete(root);
    return rc;
}

int tokenizer_load_json(pt_tokenizer **out, const char *path, pt_err *err) {
    cJSON *root = NULL;
    pt_tokenizer *t = NULL;
    const char **strs = NULL;
    uint32_t *lens = NULL;
    uint8_t *from_vocab = NULL;
    int rc, n = 0, id = 0, bytelevel = 0;
    const cJSON *model, *vocab, *added, *merges, *it;
    *out = NULL;
    if ((rc = parse_json_file(path, &root, err)))
        return rc;
    model = cJSON_GetObjectItemCaseSensitive(root, "model");
    vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!cJSON_IsObject(model) || !cJSON_IsObject(vocab)) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: no \"model\" with a \"vocab\" object", path);
        goto fail;
    }
    const char *mtype = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(model, "type"));
    if (mtype && strcmp(mtype, "BPE") != 0) {
        rc = pt_fail(err, PT_ERR_UNSUPPORTED, "%s: model type %s not supported (BPE only)", path, mtype);
        goto fail;
    }
    if (added && !cJSON_IsNull(added) && !cJSON_IsArray(added)) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: \"added_tokens\" must be a list", path);
        goto fail;
    }
    if (merges && !cJSON_IsNull(merges) && !cJSON_IsArray(merges)) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: \"merges\" must be a list", path);
        goto fail;
    }

    // The id space: model vocabulary plus added tokens.
    cJSON_ArrayForEach(it, vocab) {
        if (!get_id(it, TOK_MAX_VOCAB, &id)) {
            rc = pt_fail(err, PT_ERR_FORMAT, "%s: vocab entry \"%s\" has no valid id", path, it->string);
            goto fail;
        }
        n = id + 1 > n ? id + 1 : n;
    }
    cJSON_ArrayForEach(it, added) {
        if (!get_id(cJSON_GetObjectItemCaseSensitive(it, "id"), TOK_MAX_VOCAB, &id) ||
            !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(it, "content"))) {
            rc = pt_fail(err, PT_ERR_FORMAT, "%s: added token without a valid id and content", path);
            goto fail;
        }
        n = id + 1 > n ? id + 1 : n;
    }
    strs = calloc((size_t)n + 1, sizeof *strs);
    lens = calloc((size_t)n + 1, sizeof *lens);
    from_vocab = calloc((size_t)n + 1, 1);
    if (!(t = tok_new()) || !strs || !lens || !from_vocab) {
        rc = pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    for (int i = 0; i < n; i++)
        strs[i] = "";
    cJSON_ArrayForEach(it, vocab) {
        get_id(it, TOK_MAX_VOCAB, &id);
        if (from_vocab[id]) {
            rc = pt_fail(err, PT_ERR_FORMAT, "%s: vocab id %d given to two tokens", path, id);
            goto fail;
        }
        from_vocab[id] = 1;
        strs[id] = it->string;
        lens[id] = (uint32_t)strlen(it->string);
    }
    cJSON_ArrayForEach(it, added) {
        get_id(cJSON_GetObjectItemCaseSensitive(it, "id"), TOK_MAX_VOCAB, &id);
        const char *c = cJSON_GetObjectItemCaseSensitive(it, "content")->valuestring;
        if (from_vocab[id] && strcmp(c, strs[id]) != 0)
            from_vocab[id] = 0;        // the added text replaces it; BPE may not produce it
        strs[id] = c;
        lens[id] = (uint32_t)strlen(c);
    }
    if ((rc = tok_set_vocab(t, n, strs, lens, path, err)))
        goto fail;
    for (int i = 0; i < n; i++) {
        t->in_model[i] = from_vocab[i];
        if (!from_vocab[i])
            t->type[i] = PT_TOKTYPE_UNUSED;
    }
    cJSON_ArrayForEach(it, added) {
        int special;
        get_id(cJSON_GetObjectItemCaseSensitive(it, "id"), TOK_MAX_VOCAB, &id);
        if ((rc = get_bool(it, "special", 0, &special, path, err)))
            goto fail;
        t->type[id] = special ? PT_TOKTYPE_CONTROL : PT_TOKTYPE_USER;
        t->added[id] = special ? TOK_ADDED_SPECIAL : TOK_ADDED_PLAIN;
    }

    // Merges: "a b" strings or ["a", "b"] pairs, in rank order.
    int n_merges = cJSON_GetArraySize(merges), rank = 0;
    if ((rc = tok_alloc_merges(t, (size_t)n_merges, path, err)))
        goto fail;
    cJSON_ArrayForEach(it, merges) {
        const char *a = NULL, *b = NULL;
        size_t la = 0, lb = 0;
        if (cJSON_IsString(it)) {
            const char *sp = strchr(it->valuestring, ' ');
            if (sp && !strchr(sp + 1, ' ')) {
                a = it->valuestring; la = (size_t)(sp - a);
                b = sp + 1; lb = strlen(b);
            }
        } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 &&
                   cJSON_IsString(cJSON_GetArrayItem(it, 0)) && cJSON_IsString(cJSON_GetArrayItem(it, 1))) {
            a = cJSON_GetArrayItem(it, 0)->valuestring; la = strlen(a);
            b = cJSON_GetArrayItem(it, 1)->valuestring; lb = strlen(b);
        }
        if (!a) {
            rc = pt_fail(err, PT_ERR_FORMAT, "%s: merge %d is not \"a b\" or [a, b]", path, rank);
            goto fail;
        }
        int32_t ia = tok_lookup(t, a, la), ib = tok_lookup(t, b, lb);
        if (ia < 0 || ib < 0 || !t->in_model[ia] || !t->in_model[ib]) {
            rc = pt_fail(err, PT_ERR_FORMAT, "%s: merge %d refers to a token not in the vocabulary (\"%.*s\")",
                         path, rank, (int)(ia < 0 || !t->in_model[ia] ? la : lb), ia < 0 || !t->in_model[ia] ? a : b);
            goto fail;
        }
        if ((rc = tok_add_merge(t, ia, ib, rank, path, err)))
            goto fail;
        rank++;
    }

    const char *unk, *prefix, *suffix;
    double dropout = 0;
    const cJSON *dv = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (cJSON_IsNumber(dv))
        dropout = dv->valuedouble;
    if ((rc = get_bool(model, "byte_fallback", 0, &t->byte_fallback, path, err)) ||
        (rc = get_bool(model, "fuse_unk", 0, &t->fuse_unk, path, err)) ||
        (rc = get_bool(model, "ignore_merges", 0, &t->ignore_merges, path, err)) ||
        (rc = get_str(model, "unk_token", &unk, path, err)) ||
        (rc = get_str(model, "continuing_subword_prefix", &prefix, path, err)) ||
        (rc = get_str(model, "end_of_word_suffix", &suffix, path, err)))
        goto fail;
    if ((prefix && prefix[0]) || (suffix && suffix[0]) || dropout > 0) {
        rc = pt_fail(err, PT_ERR_UNSUPPORTED, "%s: BPE with a subword prefix/suffix or dropout", path);
        goto fail;
    }
    if (unk && (t->unk = tok_lookup(t, unk, strlen(unk))) >= 0)
        t->type[t->unk] = PT_TOKTYPE_UNKNOWN;

    if ((rc = parse_normalizer(t, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), path, err)) ||
        (rc = parse_pre(t, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), &bytelevel, path, err)) ||
        (rc = parse_post(t, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), path, err)))
        goto fail;
    scan_decoder(t, cJSON_GetObjectItemCaseSensitive(root, "decoder"), &bytelevel);
    t->kind = bytelevel ? PT_TOK_BPE_BYTELEVEL : PT_TOK_BPE_SPM;
    if (t->kind == PT_TOK_BPE_SPM)
        for (int i = 0; i < n; i++)
            if (t->in_model[i] && lens[i] == 6 && memcmp(strs[i], "<0x", 3) == 0 && strs[i][5] == '>')
                t->type[i] = PT_TOKTYPE_BYTE;
    if ((rc = load_config(t, path, err)) || (rc = tok_finish(t, path, err)))
        goto fail;
    *out = t;
    t = NULL;
fail:
    tokenizer_free(t);
    free(strs);
    free(lens);
    free(from_vocab);
    cJSON_Delete(root);
    return rc;
}
