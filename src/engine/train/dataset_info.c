// dataset_info.c - a dataset named by LLaMA-Factory's dataset_info.json, and
// column maps (columns.h).
//
// An entry: {"file_name": "data.csv", "formatting": "alpaca" | "sharegpt",
// "columns": {"prompt": ..., "query": ..., "response": ..., "system": ...},
// "prompt_format": "Tweet text : {Tweet text} Label : "} (the last is ours).
// ShareGPT entries load by their rows' keys (conversations / messages), so a
// custom "messages" column is refused rather than guessed.
#include "train/columns.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/fileio.h"

int columns_set(const pt_columns *c) {
    return c && (c->prompt[0] || c->query[0] || c->response[0] || c->system[0] || c->prompt_format[0]);
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

// dst = the string at o[key] when there is one; a non-string is an error.
static int copy_field(char *dst, size_t cap, const cJSON *o, const char *key, const char *path, const char *entry,
                      pt_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) return PT_OK;
    if (!cJSON_IsString(v))
        return pt_fail(err, PT_ERR_FORMAT, "%s: entry \"%s\": \"%s\" must be a string", path, entry, key);
    if (strlen(v->valuestring) >= cap)
        return pt_fail(err, PT_ERR_FORMAT, "%s: entry \"%s\": \"%s\" is longer than %zu bytes", path, entry, key, cap - 1);
    snprintf(dst, cap, "%s", v->valuestring);
    return PT_OK;
}

static int read_entry(const cJSON *e, const char *path, const char *name, char *file, size_t cap, pt_columns *out,
                      pt_err *err) {
    int rc;
    if (!cJSON_IsObject(e)) return pt_fail(err, PT_ERR_FORMAT, "%s: entry \"%s\" is not an object", path, name);
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(e, "file_name");
    if (!cJSON_IsString(fn) || !fn->valuestring[0])
        return pt_fail(err, PT_ERR_FORMAT, "%s: entry \"%s\" has no \"file_name\" (hf_hub_url and script entries need "
                       "a download: point file_name at a local copy)", path, name);
    const char *slash = strrchr(path, '/');
    if (fn->valuestring[0] == '/' || !slash)
        snprintf(file, cap, "%s", fn->valuestring);
    else
        snprintf(file, cap, "%.*s/%s", (int)(slash - path), path, fn->valuestring);
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(e, "formatting");
    const char *f = cJSON_IsString(fmt) ? fmt->valuestring : "alpaca";
    if (strcmp(f, "alpaca") && strcmp(f, "sharegpt"))
        return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: entry \"%s\": formatting \"%s\" is not supported (alpaca, sharegpt)",
                       path, name, f);
    const cJSON *cols = cJSON_GetObjectItemCaseSensitive(e, "columns");
    if (cols && !cJSON_IsNull(cols) && !cJSON_IsObject(cols))
        return pt_fail(err, PT_ERR_FORMAT, "%s: entry \"%s\": \"columns\" must be an object", path, name);
    if (!strcmp(f, "sharegpt")) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(cols, "messages");
        if (cJSON_IsString(m) && strcmp(m->valuestring, "conversations") && strcmp(m->valuestring, "messages"))
            return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: entry \"%s\": a ShareGPT list under \"%s\" is not supported "
                           "(name it conversations or messages)", path, name, m->valuestring);
        return PT_OK;   // the rows' own keys say the rest
    }
    if ((rc = copy_field(out->prompt, sizeof out->prompt, cols, "prompt", path, name, err)) ||
        (rc = copy_field(out->query, sizeof out->query, cols, "query", path, name, err)) ||
        (rc = copy_field(out->response, sizeof out->response, cols, "response", path, name, err)) ||
        (rc = copy_field(out->system, sizeof out->system, cols, "system", path, name, err)) ||
        (rc = copy_field(out->prompt_format, sizeof out->prompt_format, e, "prompt_format", path, name, err)))
        return rc;
    if (cJSON_GetObjectItemCaseSensitive(cols, "history"))
        return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: entry \"%s\": a \"history\" column is not supported in a column map "
                       "(Alpaca rows with a history key load without one)", path, name);
    return PT_OK;
}

int dataset_resolve(const char *path, const char *name, const pt_columns *flags, char *file, size_t cap,
                    pt_columns *out, pt_err *err) {
    memset(out, 0, sizeof *out);
    if (!path) return pt_fail(err, PT_ERR_ARG, "no dataset given");
    int rc = PT_OK;
    if (!ends_with(path, "dataset_info.json")) {
        if (name && name[0])
            return pt_fail(err, PT_ERR_ARG, "--dataset %s names an entry of a dataset_info.json, and %s is not one", name,
                           path);
        snprintf(file, cap, "%s", path);
    } else {
        char *text = NULL;
        if ((rc = pt_read_file(path, &text, NULL, err))) return rc;
        cJSON *root = cJSON_Parse(text);
        free(text);
        if (!cJSON_IsObject(root)) {
            cJSON_Delete(root);
            return pt_fail(err, PT_ERR_FORMAT, "%s: not a JSON object of datasets", path);
        }
        const cJSON *e = NULL;
        int n = cJSON_GetArraySize(root);
        if (name && name[0]) {
            e = cJSON_GetObjectItemCaseSensitive(root, name);
            if (!e) rc = pt_fail(err, PT_ERR_ARG, "%s has no dataset \"%s\" (%d entries; the first is \"%s\")", path, name,
                                 n, n ? root->child->string : "");
        } else if (n == 1) {
            e = root->child;
        } else {
            rc = pt_fail(err, PT_ERR_ARG, "%s holds %d datasets: choose one with --dataset NAME (the first is \"%s\")",
                         path, n, n ? root->child->string : "");
        }
        if (!rc) rc = read_entry(e, path, e->string, file, cap, out, err);
        cJSON_Delete(root);
        if (rc) return rc;
    }
    if (columns_set(flags)) {   // the flags win, field by field
#define TAKE(f) if (flags->f[0]) snprintf(out->f, sizeof out->f, "%s", flags->f)
        TAKE(prompt); TAKE(query); TAKE(response); TAKE(system); TAKE(prompt_format);
#undef TAKE
    }
    if (columns_set(out) && !out->response[0])
        return pt_fail(err, PT_ERR_ARG, "a column map needs the response column (the answer trained on): "
                       "--response-column NAME");
    if (columns_set(out) && !out->prompt[0] && !out->prompt_format[0])
        return pt_fail(err, PT_ERR_ARG, "a column map needs the prompt: --prompt-column NAME or --prompt-format TEXT");
    return PT_OK;
}

// ---------------------------------------------------------------- one line

int columns_parse(const char *spec, pt_columns *out, char *dataset, size_t cap, pt_err *err) {
    memset(out, 0, sizeof *out);
    if (cap) dataset[0] = '\0';
    const char *p = spec ? spec : "";
    while (*p) {
        while (*p == ' ' || *p == ';') p++;
        if (!*p) break;
        const char *eq = strchr(p, '=');
        if (!eq) return pt_fail(err, PT_ERR_ARG, "column map: \"%.40s\" is not key=value", p);
        size_t klen = (size_t)(eq - p);
        while (klen && p[klen - 1] == ' ') klen--;
        const char *v = eq + 1;
        while (*v == ' ') v++;
        int is_format = klen == 6 && !strncmp(p, "format", 6);
        const char *end = is_format ? v + strlen(v) : strchr(v, ';');
        if (!end) end = v + strlen(v);
        size_t vlen = (size_t)(end - v);
        while (vlen && v[vlen - 1] == ' ' && !is_format) vlen--;
        char *dst = NULL;
        size_t dcap = 0;
#define KEY(name, field) else if (klen == strlen(name) && !strncmp(p, name, klen)) { dst = field; dcap = sizeof field; }
        if (0) {}
        KEY("prompt", out->prompt) KEY("query", out->query) KEY("response", out->response) KEY("system", out->system)
        KEY("format", out->prompt_format)
        else if (klen == 7 && !strncmp(p, "dataset", 7)) { dst = dataset; dcap = cap; }
#undef KEY
        if (!dst)
            return pt_fail(err, PT_ERR_ARG, "column map: unknown key \"%.*s\" (dataset, prompt, query, response, system, "
                           "format)", (int)klen, p);
        if (vlen >= dcap) return pt_fail(err, PT_ERR_ARG, "column map: the %.*s is longer than %zu bytes", (int)klen, p, dcap - 1);
        memcpy(dst, v, vlen);
        dst[vlen] = '\0';
        p = end;
    }
    return PT_OK;
}

void columns_format(const pt_columns *c, const char *dataset, char *buf, size_t cap) {
    size_t n = 0;
    if (!cap) return;
    buf[0] = '\0';
    const char *keys[6] = {"dataset", "prompt", "query", "response", "system", "format"};
    const char *vals[6] = {dataset ? dataset : "", c->prompt, c->query, c->response, c->system, c->prompt_format};
    for (int i = 0; i < 6 && n < cap; i++)
        if (vals[i][0]) n += (size_t)snprintf(buf + n, cap - n, "%s%s=%s", n ? "; " : "", keys[i], vals[i]);
}
