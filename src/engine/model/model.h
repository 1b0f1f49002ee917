// model.h - a decoder (the families in arch.h: llama, mistral, qwen2, smollm, bloom) loaded from
// a GGUF file or a Hugging Face folder into float32 weights in the Hugging
// Face layout: every linear weight row-major (out, in), q_proj/k_proj rows in
// HF order (GGUF's RoPE row permutation undone at load), RoPE = rotate_half.
//
// Letters used in shape comments:
//   L layers, C hidden size, F feed-forward size, V vocabulary,
//   NH query heads, NKV key/value heads, HD head dim, Q = NH*HD, KV = NKV*HD,
//   N tokens in a forward call, T context (KV-cache) length.
#ifndef PT_MODEL_H
#define PT_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include "core/pt_error.h"
#include "model/arch.h"
#include "text/tokenizer.h"

typedef struct {
    const pt_arch *desc; // the family's description (arch.h): names, norm, positions, MLP
    char arch[32];       // "llama", "mistral", "qwen2", "bloom", "gpt2", "gpt_neox"
    char name[128];      // general.name or config's _name_or_path
    int n_layer;         // L
    int n_embd;          // C
    int n_ff;            // F
    int n_head;          // NH
    int n_head_kv;       // NKV
    int head_dim;        // HD
    int vocab_size;      // V
    int max_ctx;         // trained context length
    float rope_theta;
    int rope_dims;       // the leading dims of each head RoPE rotates (GPT-NeoX's rotary_pct); head_dim: all
    int parallel_residual; // x + attn(norm1(x)) + mlp(norm2(x)) (GPT-NeoX), else sequential
    float rms_eps;       // the norm's epsilon (RMSNorm's, or LayerNorm's for a PT_NORM_LAYER family)
    int tied_embeddings; // lm_head shares tok_embd
    int has_qkv_bias;    // qwen2
    int sliding_window;  // 0 = none (mistral's sliding window attention)
} pt_config;

typedef struct {             // float32, host memory, one allocation (model->weights_mem)
    float *tok_embd;   // (V, C)
    float *pos_embd;   // (max_ctx, C) learned positions (GPT-2), or NULL
    float *emb_norm, *emb_norm_b;   // (C) a norm right after the embedding (BLOOM), or NULL
    float *attn_norm;  // (L, C)
    float *attn_norm_b, *ffn_norm_b; // (L, C) LayerNorm biases, or NULL
    float *wqkv;       // (L, Q + 2 KV, C) a fused projection in the family's row layout (arch.h), or NULL
    float *bqkv;       // (L, Q + 2 KV) or NULL
    float *wq;         // (L, Q, C)
    float *wk;         // (L, KV, C)
    float *wv;         // (L, KV, C)
    float *bq;         // (L, Q)  or NULL
    float *bk;         // (L, KV) or NULL
    float *bv;         // (L, KV) or NULL
    float *wo;         // (L, C, Q)
    float *bo;         // (L, C) or NULL
    float *ffn_norm;   // (L, C)
    float *w_gate;     // (L, F, C)
    float *w_up;       // (L, F, C)
    float *b_up;       // (L, F) or NULL
    float *w_down;     // (L, C, F)
    float *b_down;     // (L, C) or NULL
    float *out_norm;   // (C)
    float *out_norm_b; // (C) or NULL
    float *lm_head;    // (V, C); == tok_embd when tied
} pt_weights;

// A weight kept in its quantised GGUF blocks as well, for the memory-bound
// one-token decode products: (rows, cols) with rows in HF order, row r at
// data + r * row_bytes. type is a ggml_type (Q4_0, Q4_1, Q8_0); data NULL
// when the source was not quantised (the float32 weight is used instead).
typedef struct {
    int type;
    const void *data;
    size_t row_bytes;
} pt_qmat;

typedef struct {
    pt_qmat wq, wk, wv, wo, w_gate, w_up, w_down;
} pt_qlayer;

typedef struct {             // one tensor as stored in the source file, for `info`
    char name[96];           // source name (GGUF or HF)
    char type[16];           // "Q4_1", "F32", "BF16", ...
    int n_dims;
    int64_t shape[4];        // PyTorch order (out, in)
} pt_tensor_desc;

typedef enum { PT_SRC_GGUF = 1, PT_SRC_HF = 2 } pt_model_source;

typedef struct {
    pt_config cfg;
    pt_weights w;
    float *weights_mem;        // owns every pointer in w
    size_t n_params;           // counted once per distinct tensor (tied head counted once)
    pt_tensor_desc *tensors;   // (n_tensors) as stored
    int n_tensors;
    pt_model_source source;
    char path[1024];
    pt_qlayer *qlayers;        // (L) quantised copies for decode, or NULL
    pt_qmat q_lm_head;         // quantised head (the tied embedding's blocks when tied)
    void *qmem;                // owns every qmat's blocks
    int n_merged;              // adapters merged into w: the quantised copies are stale, not used
    pt_tokenizer *tok;         // owned
    char *chat_template;       // raw (Jinja) template from metadata, or NULL (owned)
} pt_model;

// path: a .gguf file or a folder holding config.json + *.safetensors + tokenizer.json.
int model_load(pt_model *m, const char *path, pt_err *err);
void model_free(pt_model *m);

// A model of shape cfg with random weights (norms 1, the rest std 0.02) and
// no tokenizer, for benchmarks: the same weights for the same seed.
int model_random(pt_model *m, const pt_config *cfg, uint64_t seed, pt_err *err);
// A named shape's config: "smollm2-135m", "llama2-7b", "tiny".
int model_shape(pt_config *c, const char *name, pt_err *err);

// The PEFT/HF module names a LoRA could target in this model, e.g.
// "q_proj", ..., "down_proj" (short names, in model order); returns count.
int model_linear_names(const pt_model *m, const char **names, int cap);

#endif
