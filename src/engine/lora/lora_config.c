// lora_config.c - PEFT's LoraConfig: defaults, checks, adapter_config.json in
// and out, and PEFT's default targets per model type. Which modules a config
// targets is decided in lora.c.
#include "lora/lora.h"
#include "lora/lora_internal.h"
#include "core/floatfmt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

// ---------------------------------------------------------------- config

void lora_config_defaults(pt_lora_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->task_type, sizeof c->task_type, "CAUSAL_LM");
    c->r = 8;
    c->lora_alpha = 8.0f;
    c->lora_dropout = 0.0f;
    c->bias = PT_BIAS_NONE;
    c->init = PT_INIT_KAIMING;
}

static void free_strs(char **v, int n) {
    for (int i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static void free_patterns(pt_pattern *p, int n) {
    for (int i = 0; p && i < n; i++)
        free(p[i].key);
    free(p);
}

void lora_config_free(pt_lora_config *c) {
    free_strs(c->target_modules, c->n_target_modules);
    free(c->target_regex);
    free_strs(c->exclude_modules, c->n_exclude_modules);
    free(c->exclude_regex);
    free(c->layers_to_transform);
    free_patterns(c->rank_pattern, c->n_rank_pattern);
    free_patterns(c->alpha_pattern, c->n_alpha_pattern);
    free_strs(c->modules_to_save, c->n_modules_to_save);
    memset(c, 0, sizeof *c);
}

static char **dup_strs(char *const *v, int n, int *ok) {
    if (!n) return NULL;
    char **d = calloc((size_t)n, sizeof *d);
    if (!d) { *ok = 0; return NULL; }
    for (int i = 0; i < n; i++)
        if (!(d[i] = strdup(v[i]))) *ok = 0;
    return d;
}

static pt_pattern *dup_patterns(const pt_pattern *p, int n, int *ok) {
    if (!n) return NULL;
    pt_pattern *d = calloc((size_t)n, sizeof *d);
    if (!d) { *ok = 0; return NULL; }
    for (int i = 0; i < n; i++) {
        d[i].value = p[i].value;
        if (!(d[i].key = strdup(p[i].key))) *ok = 0;
    }
    return d;
}

static char *dup_opt(const char *s, int *ok) {
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *ok = 0;
    return d;
}

int lora_config_copy(pt_lora_config *dst, const pt_lora_config *src, pt_err *err) {
    int ok = 1;
    *dst = *src;  // scalars and fixed strings; every pointer replaced below
    dst->target_modules = dup_strs(src->target_modules, src->n_target_modules, &ok);
    dst->target_regex = dup_opt(src->target_regex, &ok);
    dst->exclude_modules = dup_strs(src->exclude_modules, src->n_exclude_modules, &ok);
    dst->exclude_regex = dup_opt(src->exclude_regex, &ok);
    dst->layers_to_transform = NULL;
    if (src->n_layers_to_transform) {
        dst->layers_to_transform = malloc(sizeof(int) * (size_t)src->n_layers_to_transform);
        if (dst->layers_to_transform)
            memcpy(dst->layers_to_transform, src->layers_to_transform, sizeof(int) * (size_t)src->n_layers_to_transform);
        else
            ok = 0;
    }
    dst->rank_pattern = dup_patterns(src->rank_pattern, src->n_rank_pattern, &ok);
    dst->alpha_pattern = dup_patterns(src->alpha_pattern, src->n_alpha_pattern, &ok);
    dst->modules_to_save = dup_strs(src->modules_to_save, src->n_modules_to_save, &ok);
    if (!ok) {
        lora_config_free(dst);
        return pt_fail(err, PT_ERR_NOMEM, "out of memory copying a LoRA config");
    }
    return PT_OK;
}

// ---------------------------------------------------------------- regexes

// Python's re.match (PCRE2_ANCHORED) or re.fullmatch (| PCRE2_ENDANCHORED) of
// pattern on subject. Returns 1 / 0, or -1 with err set when the pattern does
// not compile. group1 (optional): group 1's text when matched ("" if unset).
int lora_re_match(const char *pattern, const char *subject, uint32_t opts, char *group1, size_t gcap, pt_err *err) {
    int errcode;
    PCRE2_SIZE erroff;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &errcode, &erroff, NULL);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(errcode, msg, sizeof msg);
        pt_fail(err, PT_ERR_ARG, "bad regular expression '%s': %s at offset %zu", pattern, (char *)msg, (size_t)erroff);
        return -1;
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (!md) {
        pcre2_code_free(re);
        pt_fail(err, PT_ERR_NOMEM, "out of memory for a regular expression");
        return -1;
    }
    int rc = pcre2_match(re, (PCRE2_SPTR)subject, strlen(subject), 0, opts, md, NULL);
    if (group1 && gcap) {
        group1[0] = 0;
        PCRE2_SIZE len = gcap;
        if (rc > 1) pcre2_substring_copy_bynumber(md, 1, (PCRE2_UCHAR *)group1, &len);
    }
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return rc > 0;
}

static int re_check(const char *pattern, const char *what, pt_err *err) {
    if (lora_re_match(pattern, "", 0, NULL, 0, err) < 0) {
        char inner[PT_ERR_MSG_LEN];
        snprintf(inner, sizeof inner, "%s", err ? err->msg : "");
        return pt_fail(err, PT_ERR_ARG, "%s: %s", what, inner);
    }
    return PT_OK;
}

// The rank_pattern / alpha_pattern entry for module name (PEFT's
// get_pattern_key), or NULL.
const pt_pattern *lora_pattern_for(const pt_pattern *p, int n, const char *name) {
    for (int i = 0; i < n; i++) {
        size_t cap = strlen(p[i].key) + 16;
        char *rx = malloc(cap);
        if (!rx) return NULL;
        snprintf(rx, cap, "(.*\\.)?(%s)$", p[i].key);
        int m = lora_re_match(rx, name, PCRE2_ANCHORED, NULL, 0, NULL);
        free(rx);
        if (m > 0) return &p[i];
    }
    return NULL;
}

// Every problem of c on its own (no model), tagged with PEFT's field name.
int lora_config_problems(const pt_lora_config *c, pt_problem *out, int cap) {
    int n = 0;
    pt_err e = {0};
#define BAD(field, ...) pt_problem_add(out, cap, &n, field, 0, __VA_ARGS__)
    if (c->r <= 0) BAD("r", "r must be a positive integer (got %d)", c->r);
    if (!(c->lora_alpha > 0) || isinf(c->lora_alpha)) BAD("lora_alpha", "lora_alpha must be positive (got %g)", c->lora_alpha);
    if (!(c->lora_dropout >= 0 && c->lora_dropout < 1))
        BAD("lora_dropout", "lora_dropout must be in [0, 1) (got %g)", c->lora_dropout);
    // fan_in_fan_out follows the model's layers (lora_check, adapter_bind), as in PEFT
    if (c->bias != PT_BIAS_NONE && c->bias != PT_BIAS_ALL && c->bias != PT_BIAS_LORA_ONLY)
        BAD("bias", "bias must be none, all or lora_only");
    if (c->init != PT_INIT_KAIMING && c->init != PT_INIT_GAUSSIAN && c->init != PT_INIT_ZERO_A)
        BAD("init_lora_weights", "init_lora_weights must be true, false or \"gaussian\"");
    int is_str = c->target_regex || c->target_all_linear;
    if (is_str && c->n_target_modules) BAD("target_modules", "target_modules is either a list or a string, not both");
    if (c->exclude_regex && c->n_exclude_modules)
        BAD("exclude_modules", "exclude_modules is either a list or a string, not both");
    if (is_str && c->n_layers_to_transform)
        BAD("layers_to_transform", "layers_to_transform cannot be used when target_modules is a string");
    if (is_str && c->layers_pattern[0]) BAD("layers_pattern", "layers_pattern cannot be used when target_modules is a string");
    if (c->layers_pattern[0] && !c->n_layers_to_transform) BAD("layers_pattern", "layers_pattern needs layers_to_transform");
    for (int i = 0; i < c->n_layers_to_transform; i++)
        if (c->layers_to_transform[i] < 0)
            BAD("layers_to_transform", "layers_to_transform: negative layer %d", c->layers_to_transform[i]);
    for (int i = 0; i < c->n_rank_pattern; i++) {
        float v = c->rank_pattern[i].value;
        if (!(v >= 1) || v != floorf(v) || v > 1e6f)
            BAD("rank_pattern", "rank_pattern[\"%s\"] must be a positive integer (got %g)", c->rank_pattern[i].key, v);
    }
    for (int i = 0; i < c->n_alpha_pattern; i++) {
        float v = c->alpha_pattern[i].value;
        if (!(v > 0) || isinf(v))
            BAD("alpha_pattern", "alpha_pattern[\"%s\"] must be positive (got %g)", c->alpha_pattern[i].key, v);
    }
    if (c->target_regex && re_check(c->target_regex, "target_modules", &e)) BAD("target_modules", "%s", e.msg);
    if (c->exclude_regex && re_check(c->exclude_regex, "exclude_modules", &e)) BAD("exclude_modules", "%s", e.msg);
    char what[96];
    for (int i = 0; i < c->n_rank_pattern; i++) {
        snprintf(what, sizeof what, "rank_pattern key \"%.60s\"", c->rank_pattern[i].key);
        if (re_check(c->rank_pattern[i].key, what, &e)) BAD("rank_pattern", "%s", e.msg);
    }
    for (int i = 0; i < c->n_alpha_pattern; i++) {
        snprintf(what, sizeof what, "alpha_pattern key \"%.60s\"", c->alpha_pattern[i].key);
        if (re_check(c->alpha_pattern[i].key, what, &e)) BAD("alpha_pattern", "%s", e.msg);
    }
    if (c->layers_pattern[0] && re_check(c->layers_pattern, "layers_pattern", &e)) BAD("layers_pattern", "%s", e.msg);
#undef BAD
    return n;
}

int lora_config_validate(const pt_lora_config *c, pt_err *err) {
    pt_problem first;
    if (lora_config_problems(c, &first, 1) == 0) return PT_OK;
    return pt_fail(err, PT_ERR_ARG, "%s", first.msg);
}

// ---------------------------------------------------------------- JSON in

// Keys of PEFT's LoraConfig that peftui does not implement. Each is accepted
// at its PEFT default (null, false, {} or []) and refused otherwise.
static const char *const UNIMPLEMENTED[] = {
    "megatron_config", "trainable_token_indices", "loftq_config", "eva_config", "corda_config",
    "lora_ga_config", "use_dora", "velora_config", "alora_invocation_tokens", "use_qalora",
    "monteclora_config", "layer_replication", "lora_bias", "target_parameters", "use_bdlora",
    "arrow_config", "kasa_config", "ensure_weight_tying",
};
// Keys accepted at any value: bookkeeping (auto_mapping, peft_version,
// revision), or options that only mean something beside an unimplemented one
// (megatron_core with megatron_config, qalora_group_size with use_qalora),
// or runtime-only settings PEFT does not even save (runtime_config).
// Any key not named anywhere here is accepted and ignored, as PEFT does.

static int is_default_value(const cJSON *v) {
    if (!v || cJSON_IsNull(v) || cJSON_IsFalse(v)) return 1;
    if ((cJSON_IsObject(v) || cJSON_IsArray(v)) && !v->child) return 1;
    return 0;
}

static int refuse_value(const char *path, const char *key, const cJSON *v, pt_err *err) {
    char *txt = cJSON_PrintUnformatted(v);
    int rc = pt_fail(err, PT_ERR_UNSUPPORTED, "%s: %s=%.60s%s is not supported by peftui", path, key,
                     txt ? txt : "?", txt && strlen(txt) > 60 ? "..." : "");
    cJSON_free(txt);
    return rc;
}

// A string, or a list of strings, into *out (n). A string: *is_str set.
static int json_str_list(const cJSON *v, const char *key, const char *path, char ***out, int *n, char **str,
                         pt_err *err) {
    if (!v || cJSON_IsNull(v)) return PT_OK;
    if (cJSON_IsString(v)) {
        if (!(*str = strdup(v->valuestring))) return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", path);
        return PT_OK;
    }
    if (!cJSON_IsArray(v)) return pt_fail(err, PT_ERR_FORMAT, "%s: %s must be a string or a list of strings", path, key);
    int cnt = cJSON_GetArraySize(v);
    if (!cnt) return PT_OK;
    *out = calloc((size_t)cnt, sizeof **out);
    if (!*out) return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", path);
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        if (!cJSON_IsString(e)) return pt_fail(err, PT_ERR_FORMAT, "%s: %s must hold strings only", path, key);
        if (!((*out)[*n] = strdup(e->valuestring))) return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", path);
        (*n)++;
    }
    return PT_OK;
}

static int json_patterns(const cJSON *v, const char *key, const char *path, pt_pattern **out, int *n, pt_err *err) {
    if (!v || cJSON_IsNull(v)) return PT_OK;
    if (!cJSON_IsObject(v)) return pt_fail(err, PT_ERR_FORMAT, "%s: %s must be an object {pattern: value}", path, key);
    int cnt = cJSON_GetArraySize(v);
    if (!cnt) return PT_OK;
    *out = calloc((size_t)cnt, sizeof **out);
    if (!*out) return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", path);
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        if (!cJSON_IsNumber(e)) return pt_fail(err, PT_ERR_FORMAT, "%s: %s[\"%s\"] must be a number", path, key, e->string);
        if (!((*out)[*n].key = strdup(e->string))) return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", path);
        (*out)[*n].value = (float)e->valuedouble;
        (*n)++;
    }
    return PT_OK;
}

static int parse_config(pt_lora_config *c, const cJSON *root, const char *path, pt_err *err) {
    if (!cJSON_IsObject(root)) return pt_fail(err, PT_ERR_FORMAT, "%s: not a JSON object", path);
    const cJSON *v;
    int rc;
#define GET(k) (v = cJSON_GetObjectItemCaseSensitive(root, k), cJSON_IsNull(v) ? NULL : v)
    if (GET("peft_type") && (!cJSON_IsString(v) || strcmp(v->valuestring, "LORA")))
        return refuse_value(path, "peft_type", v, err);  // LoHa, IA3, ... are other methods
    for (size_t i = 0; i < sizeof UNIMPLEMENTED / sizeof UNIMPLEMENTED[0]; i++)
        if (!is_default_value(GET(UNIMPLEMENTED[i]))) return refuse_value(path, UNIMPLEMENTED[i], v, err);
    if (GET("task_type")) {
        if (!cJSON_IsString(v)) return pt_fail(err, PT_ERR_FORMAT, "%s: task_type must be a string", path);
        snprintf(c->task_type, sizeof c->task_type, "%s", v->valuestring);
    } else {
        c->task_type[0] = 0;
    }
    if (GET("base_model_name_or_path") && cJSON_IsString(v))
        snprintf(c->base_model, sizeof c->base_model, "%s", v->valuestring);
    if (GET("r")) {
        if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || fabs(v->valuedouble) > 1e9)
            return pt_fail(err, PT_ERR_FORMAT, "%s: r must be an integer", path);
        c->r = (int)v->valuedouble;
    }
    if (GET("lora_alpha")) {
        if (!cJSON_IsNumber(v)) return pt_fail(err, PT_ERR_FORMAT, "%s: lora_alpha must be a number", path);
        c->lora_alpha = (float)v->valuedouble;
    }
    if (GET("lora_dropout")) {
        if (!cJSON_IsNumber(v)) return pt_fail(err, PT_ERR_FORMAT, "%s: lora_dropout must be a number", path);
        c->lora_dropout = (float)v->valuedouble;
    }
    if (GET("fan_in_fan_out")) {
        if (!cJSON_IsBool(v)) return pt_fail(err, PT_ERR_FORMAT, "%s: fan_in_fan_out must be true or false", path);
        c->fan_in_fan_out = cJSON_IsTrue(v);
    }
    if (GET("use_rslora")) {
        if (!cJSON_IsBool(v)) return pt_fail(err, PT_ERR_FORMAT, "%s: use_rslora must be true or false", path);
        c->use_rslora = cJSON_IsTrue(v);
    }
    if (GET("inference_mode")) {
        if (!cJSON_IsBool(v)) return pt_fail(err, PT_ERR_FORMAT, "%s: inference_mode must be true or false", path);
        c->inference_mode = cJSON_IsTrue(v);
    }
    if (GET("bias")) {
        const char *b = cJSON_GetStringValue(v);
        if (b && !strcmp(b, "none")) c->bias = PT_BIAS_NONE;
        else if (b && !strcmp(b, "all")) c->bias = PT_BIAS_ALL;
        else if (b && !strcmp(b, "lora_only")) c->bias = PT_BIAS_LORA_ONLY;
        else return pt_fail(err, PT_ERR_FORMAT, "%s: bias must be \"none\", \"all\" or \"lora_only\"", path);
    }
    if (GET("init_lora_weights")) {
        if (cJSON_IsTrue(v)) c->init = PT_INIT_KAIMING;
        else if (cJSON_IsFalse(v)) c->init = PT_INIT_ZERO_A;
        else if (cJSON_IsString(v) && !strcasecmp(v->valuestring, "gaussian")) c->init = PT_INIT_GAUSSIAN;
        else if (cJSON_IsString(v))  // pissa, olora, loftq, eva, corda, orthogonal, lora_ga, mica, ...
            return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: init_lora_weights=\"%.40s\" is not supported by peftui "
                           "(true, false and \"gaussian\" are)", path, v->valuestring);
        else return pt_fail(err, PT_ERR_FORMAT, "%s: init_lora_weights must be true, false or a string", path);
    }
    char *tstr = NULL;
    if ((rc = json_str_list(GET("target_modules"), "target_modules", path, &c->target_modules, &c->n_target_modules,
                            &tstr, err)))
        return rc;
    if (tstr && !strcasecmp(tstr, "all-linear")) {
        c->target_all_linear = 1;
        free(tstr);
    } else {
        c->target_regex = tstr;
    }
    if ((rc = json_str_list(GET("exclude_modules"), "exclude_modules", path, &c->exclude_modules,
                            &c->n_exclude_modules, &c->exclude_regex, err)))
        return rc;
    char *msave = NULL;
    if ((rc = json_str_list(GET("modules_to_save"), "modules_to_save", path, &c->modules_to_save,
                            &c->n_modules_to_save, &msave, err)))
        return rc;
    if (msave) {  // PEFT takes a list; a lone string is one name
        c->modules_to_save = malloc(sizeof(char *));
        if (!c->modules_to_save) { free(msave); return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", path); }
        c->modules_to_save[0] = msave;
        c->n_modules_to_save = 1;
    }
    if (GET("layers_to_transform")) {
        int cnt = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 1;
        if (!cJSON_IsArray(v) && !cJSON_IsNumber(v))
            return pt_fail(err, PT_ERR_FORMAT, "%s: layers_to_transform must be an integer or a list of integers", path);
        if (cnt) {
            c->layers_to_transform = malloc(sizeof(int) * (size_t)cnt);
            if (!c->layers_to_transform) return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", path);
            for (int i = 0; i < cnt; i++) {
                const cJSON *e = cJSON_IsArray(v) ? cJSON_GetArrayItem(v, i) : v;
                if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || fabs(e->valuedouble) > 1e9)
                    return pt_fail(err, PT_ERR_FORMAT, "%s: layers_to_transform must hold integers", path);
                c->layers_to_transform[c->n_layers_to_transform++] = (int)e->valuedouble;
            }
        }
    }
    if (GET("layers_pattern")) {
        // a list of patterns is tried as one alternation: the same layer index
        // for names that hold one of them, as ours do
        if (cJSON_IsString(v)) {
            if (strlen(v->valuestring) >= sizeof c->layers_pattern)
                return pt_fail(err, PT_ERR_FORMAT, "%s: layers_pattern is too long", path);
            snprintf(c->layers_pattern, sizeof c->layers_pattern, "%s", v->valuestring);
        } else if (cJSON_IsArray(v)) {
            size_t n = 0;
            int k = 0, cnt = cJSON_GetArraySize(v);
            const cJSON *e;
            if (cnt > 1) n += (size_t)snprintf(c->layers_pattern, sizeof c->layers_pattern, "(?:");
            cJSON_ArrayForEach(e, v) {
                if (!cJSON_IsString(e)) return pt_fail(err, PT_ERR_FORMAT, "%s: layers_pattern must hold strings", path);
                if (n < sizeof c->layers_pattern)
                    n += (size_t)snprintf(c->layers_pattern + n, sizeof c->layers_pattern - n, "%s%s", k++ ? "|" : "",
                                          e->valuestring);
            }
            if (cnt > 1 && n < sizeof c->layers_pattern)
                n += (size_t)snprintf(c->layers_pattern + n, sizeof c->layers_pattern - n, ")");
            if (n >= sizeof c->layers_pattern)
                return pt_fail(err, PT_ERR_FORMAT, "%s: layers_pattern is too long", path);
        } else {
            return pt_fail(err, PT_ERR_FORMAT, "%s: layers_pattern must be a string or a list of strings", path);
        }
    }
    if ((rc = json_patterns(GET("rank_pattern"), "rank_pattern", path, &c->rank_pattern, &c->n_rank_pattern, err)) ||
        (rc = json_patterns(GET("alpha_pattern"), "alpha_pattern", path, &c->alpha_pattern, &c->n_alpha_pattern, err)))
        return rc;
#undef GET
    if ((rc = lora_config_validate(c, err))) {
        char inner[PT_ERR_MSG_LEN];
        snprintf(inner, sizeof inner, "%s", err ? err->msg : "");
        return pt_fail(err, (pt_status)rc, "%s: %s", path, inner);
    }
    return PT_OK;
}

int lora_config_from_json(pt_lora_config *c, const char *json, const char *path, pt_err *err) {
    lora_config_defaults(c);
    cJSON *root = cJSON_Parse(json);
    if (!root) return pt_fail(err, PT_ERR_FORMAT, "%s: not valid JSON", path);
    int rc = parse_config(c, root, path, err);
    cJSON_Delete(root);
    if (rc) lora_config_free(c);
    return rc;
}

// ---------------------------------------------------------------- JSON out


static cJSON *str_list(char *const *v, int n) {
    if (!n) return cJSON_CreateNull();
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
    return a;
}

static cJSON *pattern_obj(const pt_pattern *p, int n) {
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; o && i < n; i++)
        cJSON_AddNumberToObject(o, p[i].key, pt_float_shortest(p[i].value));
    return o;
}

char *lora_config_to_json(const pt_lora_config *c) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    // every key PEFT 0.21's LoraConfig.to_dict() writes, in its order
    if (c->task_type[0]) cJSON_AddStringToObject(o, "task_type", c->task_type);
    else cJSON_AddNullToObject(o, "task_type");
    cJSON_AddStringToObject(o, "peft_type", "LORA");
    cJSON_AddNullToObject(o, "auto_mapping");
    if (c->base_model[0]) cJSON_AddStringToObject(o, "base_model_name_or_path", c->base_model);
    else cJSON_AddNullToObject(o, "base_model_name_or_path");
    cJSON_AddNullToObject(o, "revision");
    cJSON_AddBoolToObject(o, "inference_mode", c->inference_mode);
    cJSON_AddNumberToObject(o, "r", c->r);
    if (c->target_all_linear) cJSON_AddStringToObject(o, "target_modules", "all-linear");
    else if (c->target_regex) cJSON_AddStringToObject(o, "target_modules", c->target_regex);
    else cJSON_AddItemToObject(o, "target_modules", str_list(c->target_modules, c->n_target_modules));
    if (c->exclude_regex) cJSON_AddStringToObject(o, "exclude_modules", c->exclude_regex);
    else cJSON_AddItemToObject(o, "exclude_modules", str_list(c->exclude_modules, c->n_exclude_modules));
    cJSON_AddNumberToObject(o, "lora_alpha", pt_float_shortest(c->lora_alpha));
    cJSON_AddNumberToObject(o, "lora_dropout", pt_float_shortest(c->lora_dropout));
    cJSON_AddBoolToObject(o, "fan_in_fan_out", c->fan_in_fan_out);
    cJSON_AddStringToObject(o, "bias", c->bias == PT_BIAS_ALL ? "all" : c->bias == PT_BIAS_LORA_ONLY ? "lora_only" : "none");
    cJSON_AddBoolToObject(o, "use_rslora", c->use_rslora);
    cJSON_AddItemToObject(o, "modules_to_save", str_list(c->modules_to_save, c->n_modules_to_save));
    if (c->init == PT_INIT_GAUSSIAN) cJSON_AddStringToObject(o, "init_lora_weights", "gaussian");
    else cJSON_AddBoolToObject(o, "init_lora_weights", c->init == PT_INIT_KAIMING);
    if (c->n_layers_to_transform) {
        cJSON *a = cJSON_AddArrayToObject(o, "layers_to_transform");
        for (int i = 0; a && i < c->n_layers_to_transform; i++)
            cJSON_AddItemToArray(a, cJSON_CreateNumber(c->layers_to_transform[i]));
    } else {
        cJSON_AddNullToObject(o, "layers_to_transform");
    }
    if (c->layers_pattern[0]) cJSON_AddStringToObject(o, "layers_pattern", c->layers_pattern);
    else cJSON_AddNullToObject(o, "layers_pattern");
    cJSON_AddItemToObject(o, "rank_pattern", pattern_obj(c->rank_pattern, c->n_rank_pattern));
    cJSON_AddItemToObject(o, "alpha_pattern", pattern_obj(c->alpha_pattern, c->n_alpha_pattern));
    cJSON_AddNullToObject(o, "megatron_config");
    cJSON_AddStringToObject(o, "megatron_core", "megatron.core");
    cJSON_AddNullToObject(o, "trainable_token_indices");
    cJSON_AddObjectToObject(o, "loftq_config");
    static const char *const nulls[] = {"eva_config", "corda_config", "lora_ga_config"};
    for (size_t i = 0; i < 3; i++) cJSON_AddNullToObject(o, nulls[i]);
    cJSON_AddFalseToObject(o, "use_dora");
    cJSON_AddNullToObject(o, "velora_config");
    cJSON_AddNullToObject(o, "alora_invocation_tokens");
    cJSON_AddFalseToObject(o, "use_qalora");
    cJSON_AddNumberToObject(o, "qalora_group_size", 16);
    cJSON_AddNullToObject(o, "monteclora_config");
    cJSON_AddNullToObject(o, "layer_replication");
    cJSON_AddFalseToObject(o, "lora_bias");
    static const char *const nulls2[] = {"target_parameters", "use_bdlora", "arrow_config", "kasa_config"};
    for (size_t i = 0; i < 4; i++) cJSON_AddNullToObject(o, nulls2[i]);
    cJSON_AddFalseToObject(o, "ensure_weight_tying");
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}

// PEFT's TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING (peft 0.21,
// utils/constants.py), list entries only.
static const struct { const char *type, *t[4]; } DEFAULT_TARGETS[] = {
    {"t5", {"q", "v"}}, {"mt5", {"q", "v"}}, {"bart", {"q_proj", "v_proj"}}, {"gpt2", {"c_attn"}},
    {"bloom", {"query_key_value"}}, {"blip-2", {"q", "v", "q_proj", "v_proj"}}, {"opt", {"q_proj", "v_proj"}},
    {"gptj", {"q_proj", "v_proj"}}, {"gpt_neox", {"query_key_value"}}, {"gpt_neo", {"q_proj", "v_proj"}},
    {"bert", {"query", "value"}}, {"roberta", {"query", "value"}}, {"xlm-roberta", {"query", "value"}},
    {"electra", {"query", "value"}}, {"deberta-v2", {"query_proj", "value_proj"}}, {"deberta", {"in_proj"}},
    {"layoutlm", {"query", "value"}}, {"llama", {"q_proj", "v_proj"}}, {"llama4", {"q_proj", "v_proj"}},
    {"chatglm", {"query_key_value"}}, {"gpt_bigcode", {"c_attn"}}, {"mpt", {"Wqkv"}},
    {"RefinedWebModel", {"query_key_value"}}, {"RefinedWeb", {"query_key_value"}}, {"falcon", {"query_key_value"}},
    {"btlm", {"c_proj", "c_attn"}}, {"codegen", {"qkv_proj"}}, {"mistral", {"q_proj", "v_proj"}},
    {"mixtral", {"q_proj", "v_proj"}}, {"stablelm", {"q_proj", "v_proj"}}, {"phi", {"q_proj", "v_proj", "fc1", "fc2"}},
    {"gemma", {"q_proj", "v_proj"}}, {"gemma2", {"q_proj", "v_proj"}}, {"gemma3_text", {"q_proj", "v_proj"}},
    {"qwen2", {"q_proj", "v_proj"}}, {"qwen3", {"q_proj", "v_proj"}},
    {"nemotron_h", {"q_proj", "k_proj", "v_proj", "o_proj"}}, {"rwkv", {"key", "value", "receptance", "output"}},
};

int lora_default_targets(const char *model_type, const char **names, int cap) {
    for (size_t i = 0; i < sizeof DEFAULT_TARGETS / sizeof DEFAULT_TARGETS[0]; i++) {
        if (strcmp(DEFAULT_TARGETS[i].type, model_type)) continue;
        int n = 0;
        while (n < 4 && DEFAULT_TARGETS[i].t[n] && n < cap - 1) {
            names[n] = DEFAULT_TARGETS[i].t[n];
            n++;
        }
        if (n < cap) names[n] = NULL;
        return n;
    }
    if (cap > 0) names[0] = NULL;
    return 0;
}
