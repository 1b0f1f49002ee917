// lora_config.h - PEFT's LoraConfig: every field with PEFT's meaning, its
// defaults and checks, adapter_config.json in and out. Plain data: the form a
// front end edits (the public header includes this), with no model in it.
#ifndef PT_LORA_CONFIG_H
#define PT_LORA_CONFIG_H

#include <stddef.h>
#include "core/pt_error.h"

typedef enum { PT_BIAS_NONE, PT_BIAS_ALL, PT_BIAS_LORA_ONLY } pt_lora_bias;
// init_lora_weights true / "gaussian" / false. As PEFT: true = Kaiming-uniform A,
// zero B; "gaussian" = A ~ N(0, 1/r^2), zero B; false = nn.Linear's own init for
// both A and B (B non-zero: the adapter changes the output from the start).
typedef enum { PT_INIT_KAIMING, PT_INIT_GAUSSIAN, PT_INIT_ZERO_A } pt_lora_init;

typedef struct { char *key; float value; } pt_pattern;  // rank_pattern / alpha_pattern entry

typedef struct {
    char task_type[32];           // "CAUSAL_LM"
    char base_model[512];         // base_model_name_or_path
    int r;                        // default 8
    float lora_alpha;             // default 8
    float lora_dropout;           // [0, 1), default 0
    char **target_modules;        // list form: names matched exactly or as a ".suffix"
    int n_target_modules;
    char *target_regex;           // string form: must match the whole module name (PCRE2)
    int target_all_linear;        // "all-linear"
    char **exclude_modules;       // exclude_modules list (wins over targets)
    int n_exclude_modules;
    pt_lora_bias bias;
    int use_rslora;
    pt_lora_init init;
    int *layers_to_transform;     // NULL = all layers
    int n_layers_to_transform;
    char layers_pattern[64];      // e.g. "layers"; "" = none
    pt_pattern *rank_pattern;     // keys match as (.*\.)?(key)$
    int n_rank_pattern;
    pt_pattern *alpha_pattern;
    int n_alpha_pattern;
    int fan_in_fan_out;           // must be false for LLaMA (nn.Linear); true is refused
    char **modules_to_save;
    int n_modules_to_save;
    int inference_mode;
    char *exclude_regex;          // exclude_modules as a string: a regex matching the whole name
} pt_lora_config;

// PEFT's defaults; target_modules left empty (resolved per model type at bind time).
void lora_config_defaults(pt_lora_config *c);
void lora_config_free(pt_lora_config *c);
int lora_config_copy(pt_lora_config *dst, const pt_lora_config *src, pt_err *err);
// Checks r > 0, alpha > 0, 0 <= dropout < 1, ...; names the field at fault.
int lora_config_validate(const pt_lora_config *c, pt_err *err);
// Every problem of c alone (lora_config_validate reports the first), each
// tagged with PEFT's field name; returns the count (out gets up to cap).
int lora_config_problems(const pt_lora_config *c, pt_problem *out, int cap);
// From adapter_config.json text. Every PEFT field is accepted at its default;
// a field peftui does not implement set to anything else is refused by name.
int lora_config_from_json(pt_lora_config *c, const char *json, const char *path, pt_err *err);
// PEFT's full adapter_config.json (every field PEFT writes). malloc'd.
char *lora_config_to_json(const pt_lora_config *c);
// PEFT's default target_modules for a model type ("llama" -> q_proj, v_proj; ...);
// returns the count written into names (NULL-terminated list of static strings).
int lora_default_targets(const char *model_type, const char **names, int cap);

#endif
