// arch.h - a decoder architecture described once. The loaders read it for
// tensor names and shapes; the inference forward (infer/forward.c) and the
// training graph (train/train_graph.c) read it for the block's pieces and
// call the same helpers below, so a family is one table row here, not two
// passes to keep in step.
//
// A block, in the order both passes run it:
//   h = norm1(x)                                  RMSNorm or LayerNorm (+ bias)
//   q, k, v = split(qkv(h)) | q(h), k(h), v(h)    fused or separate (+ biases)
//   q, k = rope(q), rope(k)                        RoPE only (ALiBi adds to the scores), all dims or the leading ones
//   x = x + o(attention(q, k, v))
//   x = x + down(act(gate(norm2(x)), up(norm2(x))))   SwiGLU, or GELU of up alone
//   (parallel residual, GPT-NeoX: x = x + o(attention(...)) + down(act(up(norm2(x)))), both of the block's input)
// before the first block x = embed(tokens) (+ positions, learned) (-> norm, BLOOM).
#ifndef PT_ARCH_H
#define PT_ARCH_H

#include <stddef.h>

typedef enum { PT_NORM_RMS, PT_NORM_LAYER } pt_norm_kind;      // weight | weight and bias
// RoPE rotates q and k; ALiBi adds to the scores; learned adds a position
// embedding (W_POS_EMBD, max_ctx rows) to the token embedding (GPT-2).
typedef enum { PT_POS_ROPE, PT_POS_ALIBI, PT_POS_LEARNED } pt_pos_kind;
// PT_QKV_SPLIT: q_proj, k_proj, v_proj. PT_QKV_HEADS: one query_key_value whose
// output rows are (NH, 3, HD): per head its q rows, k rows, v rows (BLOOM, NeoX).
// PT_QKV_CONCAT: one projection whose rows are all of q, then k, then v (GPT-2's c_attn).
typedef enum { PT_QKV_SPLIT, PT_QKV_HEADS, PT_QKV_CONCAT } pt_qkv_kind;
typedef enum { PT_MLP_SWIGLU, PT_MLP_GELU_TANH, PT_MLP_GELU } pt_mlp_kind;   // silu(gate)*up | gelu_tanh(up) | gelu(up)

// The linear layers LoRA can adapt, by role; a family names the ones it has
// (pt_arch.modules). PT_LIN_QKV is a fused query_key_value: one module to
// PEFT, its B as wide as the fused output.
typedef enum {
    PT_LIN_Q, PT_LIN_K, PT_LIN_V, PT_LIN_O, PT_LIN_GATE, PT_LIN_UP, PT_LIN_DOWN, PT_LIN_QKV, PT_LIN_COUNT
} pt_linear;

typedef enum {
    W_TOK_EMBD, W_POS_EMBD, W_EMB_NORM, W_EMB_NORM_B, W_ATTN_NORM, W_ATTN_NORM_B, W_QKV, W_BQKV, W_Q, W_K, W_V,
    W_BQ, W_BK, W_BV, W_O, W_BO, W_FFN_NORM, W_FFN_NORM_B, W_GATE, W_UP, W_BUP, W_DOWN, W_BDOWN,
    W_OUT_NORM, W_OUT_NORM_B, W_LM_HEAD, W_COUNT
} weight_slot;

typedef struct {
    const char *type;       // HF model_type, GGUF general.architecture: "llama", "bloom"
    const char *hf_class;   // "LlamaForCausalLM"
    const char *gguf_type;  // llama.cpp's general.architecture when it differs from type ("starcoder"), or NULL
    pt_norm_kind norm;
    pt_pos_kind pos;
    pt_qkv_kind qkv;
    pt_mlp_kind mlp;
    // 1: the Hugging Face file stores each linear weight as (in, out), GPT-2's
    // Conv1D. Loaded transposed to (out, in) like every other family; written
    // back as (in, out); PEFT's fan_in_fan_out is true for its modules.
    int conv1d;
    // Tensor names per slot (%d = layer), NULL where the family has none.
    // Optional slots (q/k/v biases, an untied head) are used when present
    // in the config (pt_config.has_qkv_bias, tied_embeddings).
    const char *hf[W_COUNT];
    const char *gguf[W_COUNT];
    const char *hf_prefix;  // the base model's prefix some checkpoints leave out ("transformer."), or NULL
    // PEFT's module names: layer l's module for slot s is "<layers>.<l>.<modules[s]>".
    const char *layers;                  // "model.layers", "transformer.h"
    const char *modules[PT_LIN_COUNT];   // "self_attn.q_proj", ...; NULL where the family has none
} pt_arch;

// The module's own name, the part PEFT's target_modules usually gives
// ("q_proj", "query_key_value"), or NULL where the family has none.
const char *arch_module_short(const pt_arch *a, pt_linear s);
// Its weight slot and bias slot (W_COUNT: none).
weight_slot arch_weight_slot(pt_linear s);
weight_slot arch_bias_slot(pt_linear s);

// The row for a HF model_type / GGUF architecture ("smollm" is llama), or NULL.
const pt_arch *arch_find(const char *type);
// The architecture llama.cpp writes for the family ("gpt_bigcode" -> "starcoder").
const char *arch_gguf_type(const pt_arch *a);
// The block in words, for `info` and the Model screen: "LayerNorm, learned
// positions, fused attn.c_attn (q | k | v), GELU (tanh) MLP, Conv1D weights".
void arch_describe(const pt_arch *a, char *buf, size_t cap);
// "llama, mistral, qwen2, bloom": for messages.
const char *arch_list(void);

#endif
