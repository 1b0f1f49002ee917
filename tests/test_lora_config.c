// test_lora_config.c - LoraConfig with PEFT's meaning: defaults, the checks
// on every field, adapter_config.json in and out (against files PEFT wrote),
// unimplemented fields refused by name unless at their default, PEFT's
// default targets per model type, and the modules PEFT targets (with r and
// scale) for a list of configs, against tests/data/peft/targets.json from
// tests/reference/make_peft_goldens.py.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lora/lora.h"
#include "io/mapped_file.h"
#include "model/model.h"

#define PEFT PT_SOURCE_DIR "/tests/data/peft/"
#define TINY PT_SOURCE_DIR "/tests/data/tiny/"

static int parse(pt_lora_config *c, const char *json, pt_err *err) {
    return lora_config_from_json(c, json, "adapter_config.json", err);
}

static void test_defaults_and_validate(void) {
    pt_lora_config c;
    pt_err err = {0};
    lora_config_defaults(&c);
    CHECK(c.r == 8 && c.lora_alpha == 8.0f && c.lora_dropout == 0.0f);
    CHECK(c.bias == PT_BIAS_NONE && c.init == PT_INIT_KAIMING && !c.use_rslora && !c.fan_in_fan_out);
    CHECK(c.n_target_modules == 0 && !c.target_regex && !c.target_all_linear && !c.inference_mode);
    CHECK(lora_config_validate(&c, &err) == PT_OK);
    struct { int r; float alpha, dropout; int fifo; const char *field; } bad[] = {
        {0, 8, 0, 0, "r must"}, {-2, 8, 0, 0, "r must"}, {8, 0, 0, 0, "lora_alpha"}, {8, -1, 0, 0, "lora_alpha"},
        {8, NAN, 0, 0, "lora_alpha"}, {8, 8, 1.0f, 0, "lora_dropout"}, {8, 8, -0.1f, 0, "lora_dropout"},
        {8, 8, NAN, 0, "lora_dropout"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c.r = bad[i].r; c.lora_alpha = bad[i].alpha; c.lora_dropout = bad[i].dropout; c.fan_in_fan_out = bad[i].fifo;
        err.msg[0] = 0;
        int rc = lora_config_validate(&c, &err);
        CHECKF(rc == PT_ERR_ARG && strstr(err.msg, bad[i].field), "case %zu: rc %d '%s'", i, rc, err.msg);
    }
    lora_config_free(&c);
}

static char *read_text(const char *path) {
    char *t = NULL;
    pt_err err = {0};
    if (pt_read_file(path, &t, NULL, &err) != PT_OK) { CHECKF(0, "%s: %s", path, err.msg); return NULL; }
    return t;
}

// adapter_config.json files PEFT 0.21 wrote
static void test_peft_files(void) {
    pt_lora_config c;
    pt_err err = {0};
    char *t = read_text(PEFT "tiny-lora/adapter_config.json");
    int rc = t ? parse(&c, t, &err) : -1;
    CHECKF(rc == PT_OK, "tiny-lora: %s", err.msg);
    if (rc == PT_OK) {
        CHECK(c.r == 4 && c.lora_alpha == 8.0f && fabsf(c.lora_dropout - 0.05f) < 1e-7f);
        CHECK(c.n_target_modules == 7 && c.init == PT_INIT_ZERO_A && c.inference_mode && !c.use_rslora);
        CHECK(!strcmp(c.task_type, "CAUSAL_LM") && !strcmp(c.base_model, "tests/data/tiny/llama-hf"));
        // to_json writes every key PEFT wrote (less peft_version, which PEFT fills itself)
        char *out = lora_config_to_json(&c);
        cJSON *mine = cJSON_Parse(out), *peft = cJSON_Parse(t), *k;
        int missing = 0;
        cJSON_ArrayForEach(k, peft) if (strcmp(k->string, "peft_version") && !cJSON_GetObjectItemCaseSensitive(mine, k->string)) {
            fprintf(stderr, "to_json lacks %s\n", k->string);
            missing++;
        }
        CHECK(missing == 0);
        cJSON_Delete(mine);
        cJSON_Delete(peft);
        // and reads back the same
        pt_lora_config d;
        CHECKF(parse(&d, out, &err) == PT_OK, "%s", err.msg);
        CHECK(d.r == c.r && d.lora_alpha == c.lora_alpha && d.lora_dropout == c.lora_dropout && d.init == c.init &&
              d.n_target_modules == 7 && d.inference_mode);
        CHECKF(strstr(out, "\"lora_dropout\":\t0.05,") != NULL, "dropout written as %s", strstr(out, "lora_dropout"));
        lora_config_free(&d);
        free(out);
        lora_config_free(&c);
    }
    free(t);
    t = read_text(PEFT "tiny-rslora/adapter_config.json");
    rc = t ? parse(&c, t, &err) : -1;
    CHECKF(rc == PT_OK, "tiny-rslora: %s", err.msg);
    if (rc == PT_OK) {
        CHECK(c.use_rslora && c.n_rank_pattern == 2 && c.n_alpha_pattern == 1 && c.n_target_modules == 4);
        CHECK(!strcmp(c.alpha_pattern[0].key, "v_proj") && c.alpha_pattern[0].value == 3.0f);
        lora_config_free(&c);
    }
    free(t);
    t = read_text(PEFT "dora/adapter_config.json");
    rc = t ? parse(&c, t, &err) : -1;
    CHECKF(rc == PT_ERR_UNSUPPORTED && strstr(err.msg, "adapter_config.json: use_dora=true is not supported by peftui"),
           "dora: rc %d %s", rc, err.msg);
    free(t);
}

static void test_fields(void) {
    pt_lora_config c;
    pt_err err = {0};
    // every unimplemented field: fine at its default, refused by name otherwise
    static const struct { const char *key, *bad; } UN[] = {
        {"use_dora", "true"}, {"megatron_config", "{\"a\": 1}"}, {"trainable_token_indices", "[1, 2]"},
        {"loftq_config", "{\"loftq_bits\": 4}"}, {"eva_config", "{\"rho\": 2}"}, {"corda_config", "{\"x\": 1}"},
        {"use_qalora", "true"}, {"layer_replication", "[[0, 1]]"}, {"runtime_config_x", NULL},
        {"lora_bias", "true"}, {"target_parameters", "[\"experts.gate\"]"}, {"alora_invocation_tokens", "[5, 6]"},
        {"arrow_config", "{\"top_k\": 3}"}, {"ensure_weight_tying", "true"}, {"velora_config", "{}"},
    };
    char json[512];
    for (size_t i = 0; i < sizeof UN / sizeof UN[0]; i++) {
        if (!UN[i].bad) continue;
        snprintf(json, sizeof json, "{\"r\": 4, \"%s\": %s}", UN[i].key, UN[i].bad);
        int rc = parse(&c, json, &err);
        int refused = rc == PT_ERR_UNSUPPORTED && strstr(err.msg, UN[i].key) && strstr(err.msg, "not supported by peftui");
        if (!strcmp(UN[i].key, "velora_config")) {  // {} counts as the default
            CHECKF(rc == PT_OK, "velora_config {}: %s", err.msg);
            if (!rc) lora_config_free(&c);
            continue;
        }
        CHECKF(refused, "%s=%s: rc %d '%s'", UN[i].key, UN[i].bad, rc, err.msg);
        if (!rc) lora_config_free(&c);
    }
    const char *defaults = "{\"peft_type\": \"LORA\", \"use_dora\": false, \"loftq_config\": {}, \"eva_config\": null,"
                           " \"megatron_config\": null, \"megatron_core\": \"megatron.core\", \"qalora_group_size\": 16,"
                           " \"lora_bias\": false, \"layer_replication\": null, \"runtime_config\": {\"ephemeral_gpu_offload\": false},"
                           " \"some_future_key\": [1, 2, 3], \"auto_mapping\": {\"base_model_class\": \"LlamaForCausalLM\"}}";
    CHECKF(parse(&c, defaults, &err) == PT_OK, "defaults: %s", err.msg);
    lora_config_free(&c);
    // init_lora_weights
    static const char *REFUSED_INIT[] = {"pissa", "pissa_niter_4", "olora", "loftq", "eva", "corda", "orthogonal"};
    for (size_t i = 0; i < sizeof REFUSED_INIT / sizeof REFUSED_INIT[0]; i++) {
        snprintf(json, sizeof json, "{\"init_lora_weights\": \"%s\"}", REFUSED_INIT[i]);
        int rc = parse(&c, json, &err);
        CHECKF(rc == PT_ERR_UNSUPPORTED && strstr(err.msg, REFUSED_INIT[i]) && strstr(err.msg, "init_lora_weights"),
               "%s: %d %s", REFUSED_INIT[i], rc, err.msg);
        if (!rc) lora_config_free(&c);
    }
    CHECK(parse(&c, "{\"init_lora_weights\": \"Gaussian\"}", &err) == PT_OK && c.init == PT_INIT_GAUSSIAN);
    lora_config_free(&c);
    CHECK(parse(&c, "{\"init_lora_weights\": false}", &err) == PT_OK && c.init == PT_INIT_ZERO_A);
    lora_config_free(&c);
    // bad values, each named
    static const struct { const char *json, *word; int code; } BAD[] = {
        {"{\"r\": 0}", "r must", PT_ERR_ARG}, {"{\"r\": -4}", "r must", PT_ERR_ARG}, {"{\"r\": \"8\"}", "r must", PT_ERR_FORMAT},
        {"{\"r\": 2.5}", "r must", PT_ERR_FORMAT}, {"{\"lora_alpha\": 0}", "lora_alpha", PT_ERR_ARG},
        {"{\"lora_alpha\": -16}", "lora_alpha", PT_ERR_ARG}, {"{\"lora_dropout\": 1}", "lora_dropout", PT_ERR_ARG},
        {"{\"lora_dropout\": -0.5}", "lora_dropout", PT_ERR_ARG}, {"{\"bias\": \"some\"}", "bias", PT_ERR_FORMAT},
        {"{\"peft_type\": \"LOHA\"}", "peft_type", PT_ERR_UNSUPPORTED},
        {"{\"target_modules\": \"q_proj\", \"layers_to_transform\": [0]}", "layers_to_transform", PT_ERR_ARG},
        {"{\"target_modules\": [\"q_proj\"], \"layers_pattern\": \"layers\"}", "layers_pattern", PT_ERR_ARG},
        {"{\"target_modules\": \"(unclosed\"}", "target_modules", PT_ERR_ARG},
        {"{\"target_modules\": [\"q_proj\", 3]}", "target_modules", PT_ERR_FORMAT},
        {"{\"rank_pattern\": {\"q_proj\": 0}}", "rank_pattern", PT_ERR_ARG},
        {"{\"alpha_pattern\": {\"q_proj\": -1}}", "alpha_pattern", PT_ERR_ARG},
        {"{\"rank_pattern\": {\"q_proj[\": 4}}", "rank_pattern", PT_ERR_ARG},
        {"{\"layers_to_transform\": \"0\"}", "layers_to_transform", PT_ERR_FORMAT},
        {"{\"r\": 8,", "JSON", PT_ERR_FORMAT}, {"[1, 2]", "object", PT_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        err.msg[0] = 0;
        int rc = parse(&c, BAD[i].json, &err);
        CHECKF(rc == BAD[i].code && strstr(err.msg, BAD[i].word) && !strncmp(err.msg, "adapter_config.json: ", 21),
               "%s: rc %d '%s'", BAD[i].json, rc, err.msg);
        if (!rc) lora_config_free(&c);
    }
    // forms: string target, all-linear, layers as an int, layers_pattern list, exclude regex
    CHECK(parse(&c, "{\"target_modules\": \"ALL-LINEAR\"}", &err) == PT_OK && c.target_all_linear);
    lora_config_free(&c);
    CHECK(parse(&c, "{\"target_modules\": [\"q_proj\"], \"layers_to_transform\": 3, \"layers_pattern\": [\"layers\", \"h\"],"
                    " \"exclude_modules\": \".*\\\\.0\\\\..*\", \"modules_to_save\": [\"lm_head\"]}", &err) == PT_OK);
    CHECK(c.n_layers_to_transform == 1 && c.layers_to_transform[0] == 3 && !strcmp(c.layers_pattern, "(?:layers|h)"));
    CHECK(c.exclude_regex && !strcmp(c.exclude_regex, ".*\\.0\\..*") && c.n_modules_to_save == 1);
    // copy and round trip through to_json
    pt_lora_config d, e;
    CHECK(lora_config_copy(&d, &c, &err) == PT_OK);
    lora_config_free(&c);
    d.use_rslora = 1;
    d.lora_alpha = 12.5f;
    char *out = lora_config_to_json(&d);
    CHECKF(parse(&e, out, &err) == PT_OK, "round trip: %s", err.msg);
    CHECK(e.use_rslora && e.lora_alpha == 12.5f && e.n_layers_to_transform == 1 && e.layers_to_transform[0] == 3);
    CHECK(e.exclude_regex && !strcmp(e.exclude_regex, d.exclude_regex) && !strcmp(e.layers_pattern, d.layers_pattern));
    CHECK(e.n_modules_to_save == 1 && !strcmp(e.modules_to_save[0], "lm_head"));
    free(out);
    lora_config_free(&d);
    lora_config_free(&e);
}

static void test_default_targets(void) {
    const char *n[8];
    CHECK(lora_default_targets("llama", n, 8) == 2 && !strcmp(n[0], "q_proj") && !strcmp(n[1], "v_proj") && !n[2]);
    CHECK(lora_default_targets("mistral", n, 8) == 2 && lora_default_targets("qwen2", n, 8) == 2);
    CHECK(lora_default_targets("bloom", n, 8) == 1 && !strcmp(n[0], "query_key_value"));
    CHECK(lora_default_targets("gpt_neox", n, 8) == 1 && lora_default_targets("chatglm", n, 8) == 1);
    CHECK(lora_default_targets("gpt2", n, 8) == 1 && !strcmp(n[0], "c_attn"));
    CHECK(lora_default_targets("mpt", n, 8) == 1 && !strcmp(n[0], "Wqkv"));
    CHECK(lora_default_targets("t5", n, 8) == 2 && !strcmp(n[0], "q") && !strcmp(n[1], "v"));
    CHECK(lora_default_targets("bert", n, 8) == 2 && !strcmp(n[0], "query"));
    CHECK(lora_default_targets("phi", n, 8) == 4 && !strcmp(n[3], "fc2"));
    CHECK(lora_default_targets("nonesuch", n, 8) == 0);
    char buf[64];
    const pt_arch *ll = arch_find("llama"), *bl = arch_find("bloom");
    lora_module_name(buf, sizeof buf, ll, 3, PT_LIN_GATE);
    CHECK(!strcmp(buf, "model.layers.3.mlp.gate_proj"));
    lora_module_name(buf, sizeof buf, ll, 0, PT_LIN_O);
    CHECK(!strcmp(buf, "model.layers.0.self_attn.o_proj"));
    lora_module_name(buf, sizeof buf, bl, 5, PT_LIN_QKV);
    CHECK(!strcmp(buf, "transformer.h.5.self_attention.query_key_value"));
    lora_module_name(buf, sizeof buf, bl, 0, PT_LIN_GATE);   // BLOOM has no gate
    CHECK(buf[0] == 0);
    lora_module_name(buf, sizeof buf, ll, 0, PT_LIN_QKV);    // nor LLaMA a fused qkv
    CHECK(buf[0] == 0);
    CHECK(!strcmp(arch_module_short(bl, PT_LIN_DOWN), "dense_4h_to_h") && arch_module_short(ll, PT_LIN_QKV) == NULL);
}

// targets.json: what PEFT targets for each config on the tiny llama
static void test_targets(const pt_model *m) {
    char *t = read_text(PEFT "targets.json");
    cJSON *cases = t ? cJSON_Parse(t) : NULL;
    free(t);
    CHECK(cJSON_IsArray(cases) && cJSON_GetArraySize(cases) >= 15);
    const cJSON *cs;
    int idx = 0;
    cJSON_ArrayForEach(cs, cases) {
        char *cfg_text = cJSON_PrintUnformatted(cJSON_GetObjectItem(cs, "config"));
        const cJSON *mods = cJSON_GetObjectItem(cs, "modules");
        int peft_error = cJSON_GetObjectItem(cs, "error") != NULL, lm_head = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, mods) lm_head |= !strcmp(cJSON_GetObjectItem(e, "name")->valuestring, "lm_head");
        pt_lora_config c;
        pt_adapter a;
        pt_err err = {0};
        int rc = parse(&c, cfg_text, &err);
        if (rc == PT_OK) {
            rc = adapter_create(&a, m, &c, 1, &err);
            lora_config_free(&c);
        }
        if (peft_error) {
            CHECKF(rc != PT_OK, "case %d %s: PEFT refuses, peftui accepted", idx, cfg_text);
            if (rc == PT_ERR_ARG && strstr(err.msg, "matches no module"))  // the message lists what exists
                CHECKF(strstr(err.msg, "q_proj") && strstr(err.msg, "down_proj") &&
                       strstr(err.msg, "model.layers.0.self_attn.q_proj"), "%s", err.msg);
        } else if (lm_head) {
            CHECKF(rc == PT_ERR_UNSUPPORTED && strstr(err.msg, "lm_head"), "case %d: %d %s", idx, rc, err.msg);
        } else {
            CHECKF(rc == PT_OK, "case %d %s: %s", idx, cfg_text, err.msg);
        }
        if (rc == PT_OK) {
            int n_peft = cJSON_GetArraySize(mods), n_mine = 0, bad = 0;
            for (int l = 0; l < a.n_layer; l++)
                for (int s = 0; s < PT_LIN_COUNT; s++) {
                    const pt_lora_module *mod = &a.mods[l * PT_LIN_COUNT + s];
                    if (!mod->A) continue;
                    n_mine++;
                    char name[96];
                    lora_module_name(name, sizeof name, m->cfg.desc, l, (pt_linear)s);
                    const cJSON *found = NULL;
                    cJSON_ArrayForEach(e, mods) if (!strcmp(cJSON_GetObjectItem(e, "name")->valuestring, name)) found = e;
                    if (!found) { fprintf(stderr, "case %d: %s targeted, not by PEFT\n", idx, name); bad++; continue; }
                    int r = cJSON_GetObjectItem(found, "r")->valueint;
                    double sc = cJSON_GetObjectItem(found, "scale")->valuedouble;
                    if (r != mod->r || fabs(sc - mod->scale) > 1e-6 * fabs(sc)) {
                        fprintf(stderr, "case %d: %s r %d scale %g, PEFT r %d scale %g\n", idx, name, mod->r, mod->scale, r, sc);
                        bad++;
                    }
                }
            CHECKF(bad == 0 && n_mine == n_peft, "case %d %s: %d modules vs PEFT's %d", idx, cfg_text, n_mine, n_peft);
            adapter_free(&a);
        }
        free(cfg_text);
        idx++;
    }
    cJSON_Delete(cases);
}

static void test_create(const pt_model *m, const pt_model *qwen) {
    pt_lora_config c;
    pt_adapter a, b;
    pt_err err = {0};
    // modules_to_save: whole copies of lm_head and embed_tokens, starting as the base's;
    // any other module is refused by name
    CHECK(parse(&c, "{\"target_modules\": [\"q_proj\"], \"modules_to_save\": [\"lm_head\", \"embed_tokens\"]}", &err) == PT_OK);
    int rc = adapter_create(&a, m, &c, 1, &err);
    size_t VC = (size_t)m->cfg.vocab_size * m->cfg.n_embd;
    CHECKF(rc == PT_OK && a.save_head && a.save_embed && !memcmp(a.save_embed, m->w.tok_embd, VC * 4), "%d %s", rc,
           err.msg);
    if (rc == PT_OK) adapter_free(&a);
    lora_config_free(&c);
    CHECK(parse(&c, "{\"target_modules\": [\"q_proj\"], \"modules_to_save\": [\"score\"]}", &err) == PT_OK);
    rc = adapter_create(&a, m, &c, 1, &err);
    CHECKF(rc == PT_ERR_UNSUPPORTED && strstr(err.msg, "'score'") && strstr(err.msg, "lm_head"), "%d %s", rc, err.msg);
    lora_config_free(&c);
    // bias: nothing to train on llama; qwen2's q_proj bias trains with lora_only (test_families holds it to PEFT)
    CHECK(parse(&c, "{\"target_modules\": [\"q_proj\"], \"bias\": \"lora_only\"}", &err) == PT_OK);
    CHECKF(adapter_create(&a, m, &c, 1, &err) == PT_OK, "%s", err.msg);
    int n_bias = 0;
    for (int i = 0; i < a.n_layer * PT_LIN_COUNT; i++) n_bias += a.mods[i].bias != NULL;
    CHECK(n_bias == 0);
    adapter_free(&a);
    rc = adapter_create(&a, qwen, &c, 1, &err);
    CHECKF(rc == PT_OK, "%d %s", rc, err.msg);
    if (rc == PT_OK) {
        n_bias = 0;
        for (int i = 0; i < a.n_layer * PT_LIN_COUNT; i++) n_bias += a.mods[i].bias != NULL;
        CHECKF(n_bias == a.n_layer && a.mods[PT_LIN_Q].bias &&
               !memcmp(a.mods[PT_LIN_Q].bias, qwen->w.bq, 4 * (size_t)a.mods[PT_LIN_Q].out),
               "%d trained biases, starting as the base's", n_bias);
        adapter_free(&a);
    }
    lora_config_free(&c);
    // default targets come from the model type and are written into the config
    lora_config_defaults(&c);
    CHECKF(adapter_create(&a, qwen, &c, 1, &err) == PT_OK, "%s", err.msg);
    CHECK(a.cfg.n_target_modules == 2 && !strcmp(a.cfg.target_modules[0], "q_proj") && a.mods[0].A && a.mods[2].A && !a.mods[1].A);
    CHECK(a.n_params == 2 * (8 * (64 + 64) + 8 * (64 + 32)));  // q (64 <- 64) and v (32 <- 64), r 8, 2 layers
    CHECK(a.base_fingerprint[0] && !strcmp(a.base_name, qwen->cfg.name));
    adapter_free(&a);
    // initialisation, PEFT's distributions; a seed gives one answer
    c.target_all_linear = 1;
    c.r = 4;
    for (int init = 0; init < 3; init++) {
        c.init = init == 0 ? PT_INIT_KAIMING : init == 1 ? PT_INIT_GAUSSIAN : PT_INIT_ZERO_A;
        CHECK(adapter_create(&a, m, &c, 42, &err) == PT_OK && adapter_create(&b, m, &c, 42, &err) == PT_OK);
        CHECK(a.n_params == b.n_params && !memcmp(a.params, b.params, a.n_params * sizeof(float)));
        adapter_free(&b);
        CHECK(adapter_create(&b, m, &c, 43, &err) == PT_OK && memcmp(a.params, b.params, a.n_params * sizeof(float)));
        adapter_free(&b);
        const pt_lora_module *down = &a.mods[PT_LIN_DOWN];  // in 128, out 64
        double sa = 0, sb = 0, amax = 0, bmax = 0;
        size_t na = (size_t)down->r * down->in, nb = (size_t)down->out * down->r;
        for (size_t i = 0; i < na; i++) { sa += down->A[i] * down->A[i]; if (fabs(down->A[i]) > amax) amax = fabs(down->A[i]); }
        for (size_t i = 0; i < nb; i++) { sb += down->B[i] * down->B[i]; if (fabs(down->B[i]) > bmax) bmax = fabs(down->B[i]); }
        double sd_a = sqrt(sa / na), sd_b = sqrt(sb / nb), bound = 1 / sqrt(128.0);
        if (init == 1) {
            CHECKF(fabs(sd_a - 0.25) < 0.03, "gaussian A std %g, want 1/r = 0.25", sd_a);
        } else {
            CHECKF(amax <= bound && fabs(sd_a - bound / sqrt(3.0)) < 0.1 * bound, "kaiming A: max %g std %g", amax, sd_a);
        }
        if (init == 2)  // false: nn.Linear's init for B too, U(-1/sqrt(r), 1/sqrt(r))
            CHECKF(bmax <= 0.5 && fabs(sd_b - 0.5 / sqrt(3.0)) < 0.03, "B max %g std %g", bmax, sd_b);
        else
            CHECK(bmax == 0);
        CHECK(down->scale == 2.0f && down->r == 4);
        adapter_free(&a);
    }
    lora_config_free(&c);
}

static void test_fingerprint(const pt_model *hf, const pt_model *qwen) {
    pt_model g;
    pt_err err = {0};
    char f1[80], f2[80], f3[80];
    model_fingerprint(hf, f1, sizeof f1);
    model_fingerprint(qwen, f3, sizeof f3);
    CHECK(!strncmp(f1, "fnv1a64:", 8) && strlen(f1) == 24);
    CHECK(strcmp(f1, f3) != 0);
    if (model_load(&g, TINY "llama-f32.gguf", &err) == PT_OK) {  // the same float32 weights, other file
        model_fingerprint(&g, f2, sizeof f2);
        CHECKF(!strcmp(f1, f2), "gguf %s vs hf %s", f2, f1);
        model_free(&g);
    }
    if (model_load(&g, TINY "llama-q8_0.gguf", &err) == PT_OK) {
        model_fingerprint(&g, f2, sizeof f2);
        CHECK(strcmp(f1, f2) != 0);
        model_free(&g);
    }
}

static int has_problem(const pt_problem *p, int n, const char *field, const char *text, int warning) {
    for (int i = 0; i < n && i < 32; i++)
        if (!strcmp(p[i].field, field) && strstr(p[i].msg, text) && p[i].warning == warning) return 1;
    return 0;
}

// The model-aware check: every field's bad value comes back tagged with
// that field, all of them at once, and a good config has no error.
static void test_check(const pt_model *m, const pt_model *qwen) {
    pt_problem pr[32];
    pt_lora_config c;
    char *mods[] = {"q_proj", "v_proj"}, *bad_save[] = {"model.norm"}, *nothing[] = {"nosuch_proj"};
    int layers_bad[] = {0, 2}, layers_neg[] = {-1};
    lora_config_defaults(&c);
    CHECK(lora_check(m, &c, pr, 32) == 0);   // PEFT's defaults on llama: q_proj, v_proj
    // one config with a bad value in every scalar field: each reported
    c.r = 0;
    c.lora_alpha = -1;
    c.lora_dropout = 1.5f;
    c.bias = (pt_lora_bias)7;
    c.init = (pt_lora_init)9;
    int n = lora_check(m, &c, pr, 32);
    CHECKF(n == 5, "five bad fields, %d problems", n);
    CHECK(has_problem(pr, n, "r", "r must be a positive integer (got 0)", 0));
    CHECK(has_problem(pr, n, "lora_alpha", "lora_alpha must be positive", 0));
    CHECK(has_problem(pr, n, "lora_dropout", "lora_dropout must be in [0, 1)", 0));
    CHECK(has_problem(pr, n, "bias", "bias must be none, all or lora_only", 0));
    CHECK(has_problem(pr, n, "init_lora_weights", "init_lora_weights must be", 0));
    lora_config_free(&c);

    // fan_in_fan_out follows the layers, as PEFT's: told otherwise, a warning
    lora_config_defaults(&c);
    c.fan_in_fan_out = 1;
    n = lora_check(m, &c, pr, 32);
    CHECKF(n == 1 && has_problem(pr, n, "fan_in_fan_out", "nn.Linear: PEFT sets it to false", 1), "%d: %s", n,
           n ? pr[0].msg : "");
    {
        pt_adapter fa;
        pt_err fe = {0};
        CHECK(adapter_create(&fa, m, &c, 1, &fe) == PT_OK && fa.cfg.fan_in_fan_out == 0);
        adapter_free(&fa);
    }
    lora_config_free(&c);

    // the fields that need the model
    lora_config_defaults(&c);
    c.target_modules = mods;
    c.n_target_modules = 2;
    c.layers_to_transform = layers_bad;
    c.n_layers_to_transform = 2;
    n = lora_check(m, &c, pr, 32);
    CHECKF(n == 1 && has_problem(pr, n, "layers_to_transform", "layer 2 is past the last layer (this model has layers 0-1)", 0),
           "layer past the last: %d problems, first '%s'", n, n ? pr[0].msg : "");
    c.layers_to_transform = layers_neg;
    c.n_layers_to_transform = 1;
    n = lora_check(m, &c, pr, 32);
    CHECK(n == 1 && has_problem(pr, n, "layers_to_transform", "negative layer -1", 0));
    c.n_layers_to_transform = 0;
    c.layers_to_transform = NULL;
    c.target_modules = nothing;
    c.n_target_modules = 1;
    n = lora_check(m, &c, pr, 32);
    CHECK(n == 1 && has_problem(pr, n, "target_modules", "nosuch_proj matches no module", 0));
    c.target_modules = NULL;
    c.n_target_modules = 0;
    c.target_regex = "(unclosed";
    n = lora_check(m, &c, pr, 32);
    CHECK(n >= 1 && has_problem(pr, n, "target_modules", "target_modules", 0));
    c.target_regex = ".*lm_head";
    n = lora_check(m, &c, pr, 32);
    CHECK(n == 1 && has_problem(pr, n, "target_modules", "output head", 0));
    c.target_regex = NULL;
    c.modules_to_save = bad_save;
    c.n_modules_to_save = 1;
    n = lora_check(m, &c, pr, 32);
    CHECK(n == 1 && has_problem(pr, n, "modules_to_save", "'model.norm' is not supported", 0));
    c.modules_to_save = NULL;
    c.n_modules_to_save = 0;
    c.layers_pattern[0] = 0;
    snprintf(c.layers_pattern, sizeof c.layers_pattern, "layers");
    n = lora_check(m, &c, pr, 32);
    CHECK(n == 1 && has_problem(pr, n, "layers_pattern", "needs layers_to_transform", 0));
    c.layers_pattern[0] = 0;
    c.bias = PT_BIAS_ALL;
    n = lora_check(qwen, &c, pr, 32);
    CHECKF(n == 0, "qwen2 bias all: %d problems: %s", n, n ? pr[0].msg : "");   // its q/k/v biases train
    CHECK(lora_check(m, &c, pr, 32) == 0);   // llama has none: nothing to train, nothing wrong
    c.bias = PT_BIAS_NONE;
    // warnings: allowed, reported
    c.r = 100;   // the tiny model's k/v are 64 x 32
    pt_pattern rp[1] = {{"nomatch_here", 4}};
    c.rank_pattern = rp;
    c.n_rank_pattern = 1;
    n = lora_check(m, &c, pr, 32);
    CHECKF(n == 2 && has_problem(pr, n, "r", "rank at most 32", 1) && has_problem(pr, n, "rank_pattern", "matches none", 1),
           "%d problems: '%s'", n, n ? pr[0].msg : "");
    c.rank_pattern = NULL;
    c.n_rank_pattern = 0;
    lora_config_defaults(&c);   // nothing of the above was owned by c
}

// Matching without allocating: the same modules, r and count as an adapter.
static void test_match(const pt_model *m) {
    pt_lora_config c;
    pt_err err = {0};
    lora_config_defaults(&c);
    c.target_all_linear = 1;
    c.r = 4;
    pt_lora_module mods[2 * PT_LIN_COUNT];
    int n = 0;
    size_t np = 0;
    CHECK(lora_match(m, &c, mods, &n, &np, &err) == PT_OK);
    pt_adapter a;
    CHECK(adapter_create(&a, m, &c, 1, &err) == PT_OK);
    CHECKF(n == 14 && np == a.n_params, "all-linear: %d modules, %zu params (adapter %zu)", n, np, a.n_params);
    for (int i = 0; i < 2 * PT_LIN_COUNT; i++)
        CHECK(mods[i].r == a.mods[i].r && mods[i].in == a.mods[i].in && mods[i].out == a.mods[i].out);

    // Frobenius norms from r x r products against the dense B @ A
    for (int i = 0; i < a.n_layer * PT_LIN_COUNT; i++)   // B is zero at init: give it values
        for (int k = 0; k < a.mods[i].out * a.mods[i].r; k++) a.mods[i].B[k] = (float)((k * 37 + i) % 11 - 5) * 0.01f;
    float norms[2 * PT_LIN_COUNT];
    adapter_norms(&a, 0.5f, norms);
    double worst = 0;
    for (int i = 0; i < a.n_layer * PT_LIN_COUNT; i++) {
        const pt_lora_module *mo = &a.mods[i];
        if (!mo->A) {   // a slot this model lacks (llama's fused QKV) reports -1
            if (norms[i] != -1.0f) worst = 1;
            continue;
        }
        double ss = 0;
        for (int o = 0; o < mo->out; o++)
            for (int k = 0; k < mo->in; k++) {
                double d = 0;
                for (int r = 0; r < mo->r; r++) d += (double)mo->B[o * mo->r + r] * mo->A[r * mo->in + k];
                ss += d * d;
            }
        double want = 0.5 * mo->scale * sqrt(ss), e = fabs(norms[i] - want) / (want > 0 ? want : 1);
        if (e > worst) worst = e;
    }
    CHECKF(worst < 1e-5, "adapter norms: worst relative error %g", worst);
    CHECK(adapter_touches_cache(&a));
    adapter_free(&a);

    // the last layer's q_proj alone leaves every cached key and value as the base makes them
    char *last_q[] = {"model.layers.1.self_attn.q_proj"}, *last_v[] = {"model.layers.1.self_attn.v_proj"};
    c.target_all_linear = 0;
    c.target_modules = last_q;
    c.n_target_modules = 1;
    CHECK(adapter_create(&a, m, &c, 1, &err) == PT_OK);
    CHECK(!adapter_touches_cache(&a));
    adapter_free(&a);
    c.target_modules = last_v;
    CHECK(adapter_create(&a, m, &c, 1, &err) == PT_OK);
    CHECK(adapter_touches_cache(&a));
    adapter_free(&a);
}

int main(void) {
    test_defaults_and_validate();
    test_peft_files();
    test_fields();
    test_default_targets();
    pt_model m, q;
    pt_err err = {0};
    if (model_load(&m, TINY "llama-hf", &err) != PT_OK || model_load(&q, TINY "qwen2-hf", &err) != PT_OK) {
        CHECKF(0, "tiny models: %s", err.msg);
        return check_report("test_lora_config");
    }
    test_targets(&m);
    test_create(&m, &q);
    test_fingerprint(&m, &q);
    test_check(&m, &q);
    test_match(&m);
    model_free(&m);
    model_free(&q);
    return check_report("test_lora_config");
}
