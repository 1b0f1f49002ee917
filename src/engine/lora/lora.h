// lora.h - LoRA adapters (the config is in lora_config.h) bound to a loaded
// base model: A (r, in) and B (out, r) per targeted linear
// layer, exactly PEFT's layout, so adapter_model.safetensors round-trips.
//
// Scale of a module: lora_alpha / r, or lora_alpha / sqrt(r) with
// use_rslora (r and alpha per module after rank_pattern / alpha_pattern).
// Forward: y = W x + scale * B (A dropout(x)).
#ifndef PT_LORA_H
#define PT_LORA_H

#include <stddef.h>
#include <stdint.h>
#include "lora/lora_config.h"
#include "model/model.h"
#include "core/pt_error.h"

// The linear layers (pt_linear, PT_LIN_COUNT) and their PEFT names per
// family are in model/arch.h.

// One adapted linear layer. A == NULL: no LoRA on it (it may still train its bias).
typedef struct {
    int r;
    float scale;            // alpha / r (or / sqrt(r))
    int in, out;
    float *A;               // (r, in)
    float *B;               // (out, r)
    int trains_bias;        // its bias is trained (lora_match sets it; bias points at it in an adapter)
    float *bias;            // (out) the trained bias, which replaces the base's while the adapter is active, or NULL
} pt_lora_module;
// bias: PEFT makes the base layers' own biases trainable: "all" every linear
// bias of the model, "lora_only" those of the targeted modules. LLaMA and
// Mistral have none, so both change nothing there. A LayerNorm family's
// "all" would train its norms' biases too: refused as not implemented.
// PEFT trains the base's own tensor; peftui keeps a copy in the adapter, so
// the base stays shared and the bias applies (at the adapter's scale) only
// while the adapter does.

typedef struct {
    pt_lora_config cfg;
    const pt_arch *arch;    // the family of the base it is bound to (module names)
    int n_layer;
    pt_lora_module *mods;   // (n_layer * PT_LIN_COUNT), index l * PT_LIN_COUNT + slot
    float *params;          // every A then B, module by module, then the saved modules, in one allocation
    // modules_to_save: whole trainable copies that replace the base's module
    // while the adapter is active (PEFT's ModulesToSaveWrapper); NULL if not saved
    float *save_embed;      // (V, C) model.embed_tokens
    float *save_head;       // (V, C) lm_head (its own copy even when the base ties it to the embedding)
    size_t n_params;
    char name[128];         // adapter name (folder name when loaded)
    char base_fingerprint[80]; // model_fingerprint of the base it was trained on ("fnv1a64:..."), or "" (unknown)
    char base_name[256];
    char template_name[64]; // chat template used in training, or ""
    int merged;             // 1 while merged into a model's weights
} pt_adapter;

// Whether modules_to_save entry `entry` names module `name` (PEFT: the name
// ends with the entry, at a dot boundary).
int lora_saves_module(const pt_lora_config *c, const char *name);

// The targets for messages: "q_proj, v_proj", "all-linear" or the regex in quotes.
void lora_describe_targets(const pt_lora_config *c, char *buf, size_t cap);

// Module name as PEFT sees it: "model.layers.3.self_attn.q_proj",
// "transformer.h.3.self_attention.query_key_value"; "" where family a has no such module.
void lora_module_name(char *buf, size_t cap, const pt_arch *a, int layer, pt_linear slot);
// Binds cfg to model m: resolves targets (error listing the existing module
// names when a pattern matches nothing), allocates and initialises A and B
// as PEFT does for init_lora_weights (see pt_lora_init) from seed.
int adapter_create(pt_adapter *a, const pt_model *m, const pt_lora_config *cfg, uint64_t seed, pt_err *err);
// The modules cfg targets in m, without allocating an adapter: per module
// (L * PT_LIN_COUNT, may be NULL) its r, scale and dims (r 0: untargeted),
// the count and the trainable floats (saved modules included). Fails as
// adapter_create would (a pattern that matches nothing, ...).
int lora_match(const pt_model *m, const pt_lora_config *cfg, pt_lora_module *mods, int *n_matched, size_t *n_params,
               pt_err *err);
// Every problem of cfg on model m: lora_config_problems, then what needs the
// model (a layer past the last one, targets that match nothing, unsupported
// modules_to_save or bias) and warnings (r above a module's rank, pattern
// keys that match no targeted module). Returns the count.
int lora_check(const pt_model *m, const pt_lora_config *cfg, pt_problem *out, int cap);
// As adapter_create, but A and B are left zero (a loader fills them).
int adapter_bind(pt_adapter *a, const pt_model *m, const pt_lora_config *cfg, pt_err *err);
void adapter_free(pt_adapter *a);
// A fingerprint of the base weights (hash of config and a sample of every tensor).
void model_fingerprint(const pt_model *m, char *buf, size_t cap);

// PEFT folder: adapter_config.json + adapter_model.safetensors (+ peftui.json
// with base name/fingerprint and template). Written to temporary names and
// renamed, so the folder is never left half-written.
int adapter_save(const pt_adapter *a, const pt_model *m, const char *dir, pt_err *err);
// Loads a PEFT (or peftui) adapter folder onto m. Shape mismatch -> error naming
// the tensor. *warning gets a line (or "") when the base fingerprint differs.
int adapter_load(pt_adapter *a, const pt_model *m, const char *dir, char *warning, size_t wcap, pt_err *err);
// Loads a llama.cpp GGUF LoRA (general.type "adapter", adapter.type "lora"; what
// export_adapter's PT_EXPORT_GGUF_LORA writes) onto m: the config is made from
// the file (its alpha, the most common rank as r, rank_pattern for the rest,
// targets giving exactly its modules). F32/F16/BF16. *warning gets "".
int adapter_load_gguf(pt_adapter *a, const pt_model *m, const char *path, char *warning, size_t wcap, pt_err *err);

// Whether a changes the keys and values a KV cache holds (any module before
// the last layer, the last layer's k/v, a saved embedding): when it does
// not, a cache made with the base is valid for it too.
int adapter_touches_cache(const pt_adapter *a);
// Per module (L * PT_LIN_COUNT) the Frobenius norm of user_scale * scale *
// B @ A, from r x r products (never the out x in matrix); -1 where a has no
// module. a's parameters in host memory.
void adapter_norms(const pt_adapter *a, float user_scale, float *out);

// Merge into / unmerge from the model's float32 weights: W += sign * scale * B @ A.
int adapter_merge(pt_adapter *a, pt_model *m, float user_scale, pt_err *err);
int adapter_unmerge(pt_adapter *a, pt_model *m, float user_scale, pt_err *err);

#endif
