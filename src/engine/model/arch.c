// arch.c - the architecture table: one row per decoder family (see arch.h).
#include "model/arch.h"

#include <stdio.h>
#include <string.h>

// LLaMA and the families that share its layout (Mistral, Qwen2, SmolLM).
#define LLAMA_NAMES                                                                              \
    .hf = {[W_TOK_EMBD] = "model.embed_tokens.weight",                                           \
           [W_ATTN_NORM] = "model.layers.%d.input_layernorm.weight",                             \
           [W_Q] = "model.layers.%d.self_attn.q_proj.weight",                                    \
           [W_K] = "model.layers.%d.self_attn.k_proj.weight",                                    \
           [W_V] = "model.layers.%d.self_attn.v_proj.weight",                                    \
           [W_BQ] = "model.layers.%d.self_attn.q_proj.bias",                                     \
           [W_BK] = "model.layers.%d.self_attn.k_proj.bias",                                     \
           [W_BV] = "model.layers.%d.self_attn.v_proj.bias",                                     \
           [W_O] = "model.layers.%d.self_attn.o_proj.weight",                                    \
           [W_FFN_NORM] = "model.layers.%d.post_attention_layernorm.weight",                     \
           [W_GATE] = "model.layers.%d.mlp.gate_proj.weight",                                    \
           [W_UP] = "model.layers.%d.mlp.up_proj.weight",                                        \
           [W_DOWN] = "model.layers.%d.mlp.down_proj.weight",                                    \
           [W_OUT_NORM] = "model.norm.weight",                                                   \
           [W_LM_HEAD] = "lm_head.weight"},                                                      \
    .gguf = {[W_TOK_EMBD] = "token_embd.weight", [W_ATTN_NORM] = "blk.%d.attn_norm.weight",      \
             [W_Q] = "blk.%d.attn_q.weight", [W_K] = "blk.%d.attn_k.weight",                     \
             [W_V] = "blk.%d.attn_v.weight", [W_BQ] = "blk.%d.attn_q.bias",                      \
             [W_BK] = "blk.%d.attn_k.bias", [W_BV] = "blk.%d.attn_v.bias",                       \
             [W_O] = "blk.%d.attn_output.weight", [W_FFN_NORM] = "blk.%d.ffn_norm.weight",       \
             [W_GATE] = "blk.%d.ffn_gate.weight", [W_UP] = "blk.%d.ffn_up.weight",               \
             [W_DOWN] = "blk.%d.ffn_down.weight", [W_OUT_NORM] = "output_norm.weight",           \
             [W_LM_HEAD] = "output.weight"}

// llama.cpp's names for a LayerNorm block with a fused projection and biases
// everywhere (bloom, gpt2, starcoder, gptneox)
#define GGUF_LN_BLOCK                                                                                   \
    [W_ATTN_NORM] = "blk.%d.attn_norm.weight", [W_ATTN_NORM_B] = "blk.%d.attn_norm.bias",              \
    [W_QKV] = "blk.%d.attn_qkv.weight", [W_BQKV] = "blk.%d.attn_qkv.bias",                             \
    [W_O] = "blk.%d.attn_output.weight", [W_BO] = "blk.%d.attn_output.bias",                           \
    [W_FFN_NORM] = "blk.%d.ffn_norm.weight", [W_FFN_NORM_B] = "blk.%d.ffn_norm.bias",                  \
    [W_UP] = "blk.%d.ffn_up.weight", [W_BUP] = "blk.%d.ffn_up.bias",                                   \
    [W_DOWN] = "blk.%d.ffn_down.weight", [W_BDOWN] = "blk.%d.ffn_down.bias",                           \
    [W_OUT_NORM] = "output_norm.weight", [W_OUT_NORM_B] = "output_norm.bias"

// GPT-2's names and modules, which GPT-BigCode shares (its weights are nn.Linear)
#define GPT2_NAMES                                                                                    \
    .hf = {[W_TOK_EMBD] = "transformer.wte.weight", [W_POS_EMBD] = "transformer.wpe.weight",          \
           [W_ATTN_NORM] = "transformer.h.%d.ln_1.weight", [W_ATTN_NORM_B] = "transformer.h.%d.ln_1.bias", \
           [W_QKV] = "transformer.h.%d.attn.c_attn.weight", [W_BQKV] = "transformer.h.%d.attn.c_attn.bias", \
           [W_O] = "transformer.h.%d.attn.c_proj.weight", [W_BO] = "transformer.h.%d.attn.c_proj.bias",     \
           [W_FFN_NORM] = "transformer.h.%d.ln_2.weight", [W_FFN_NORM_B] = "transformer.h.%d.ln_2.bias",   \
           [W_UP] = "transformer.h.%d.mlp.c_fc.weight", [W_BUP] = "transformer.h.%d.mlp.c_fc.bias",         \
           [W_DOWN] = "transformer.h.%d.mlp.c_proj.weight", [W_BDOWN] = "transformer.h.%d.mlp.c_proj.bias", \
           [W_OUT_NORM] = "transformer.ln_f.weight", [W_OUT_NORM_B] = "transformer.ln_f.bias",             \
           [W_LM_HEAD] = "lm_head.weight"},                                                             \
    .gguf = {[W_TOK_EMBD] = "token_embd.weight", [W_POS_EMBD] = "position_embd.weight", GGUF_LN_BLOCK,  \
             [W_LM_HEAD] = "output.weight"},                                                            \
    .layers = "transformer.h",                                                                         \
    .modules = {[PT_LIN_QKV] = "attn.c_attn", [PT_LIN_O] = "attn.c_proj", [PT_LIN_UP] = "mlp.c_fc",       \
                [PT_LIN_DOWN] = "mlp.c_proj"}

#define LLAMA_MODULES                                                                              \
    .layers = "model.layers",                                                                      \
    .modules = {[PT_LIN_Q] = "self_attn.q_proj", [PT_LIN_K] = "self_attn.k_proj",                  \
                [PT_LIN_V] = "self_attn.v_proj", [PT_LIN_O] = "self_attn.o_proj",                  \
                [PT_LIN_GATE] = "mlp.gate_proj", [PT_LIN_UP] = "mlp.up_proj", [PT_LIN_DOWN] = "mlp.down_proj"}

#define LLAMA_LIKE(t, cls)                                                                                             \
    {.type = t, .hf_class = cls, .norm = PT_NORM_RMS, .pos = PT_POS_ROPE, .qkv = PT_QKV_SPLIT, .mlp = PT_MLP_SWIGLU, \
     LLAMA_NAMES, LLAMA_MODULES}

static const pt_arch ARCHS[] = {
    LLAMA_LIKE("llama", "LlamaForCausalLM"),
    LLAMA_LIKE("mistral", "MistralForCausalLM"),
    LLAMA_LIKE("qwen2", "Qwen2ForCausalLM"),
    // BLOOM: ALiBi, LayerNorm with biases (one more after the embedding),
    // one query_key_value laid out per head, GELU (tanh), biases on every
    // linear layer, the head tied to the embedding.
    {.type = "bloom", .hf_class = "BloomForCausalLM", .norm = PT_NORM_LAYER, .pos = PT_POS_ALIBI,
     .qkv = PT_QKV_HEADS, .mlp = PT_MLP_GELU_TANH, .hf_prefix = "transformer.",
     .hf = {[W_TOK_EMBD] = "transformer.word_embeddings.weight",
            [W_EMB_NORM] = "transformer.word_embeddings_layernorm.weight",
            [W_EMB_NORM_B] = "transformer.word_embeddings_layernorm.bias",
            [W_ATTN_NORM] = "transformer.h.%d.input_layernorm.weight",
            [W_ATTN_NORM_B] = "transformer.h.%d.input_layernorm.bias",
            [W_QKV] = "transformer.h.%d.self_attention.query_key_value.weight",
            [W_BQKV] = "transformer.h.%d.self_attention.query_key_value.bias",
            [W_O] = "transformer.h.%d.self_attention.dense.weight",
            [W_BO] = "transformer.h.%d.self_attention.dense.bias",
            [W_FFN_NORM] = "transformer.h.%d.post_attention_layernorm.weight",
            [W_FFN_NORM_B] = "transformer.h.%d.post_attention_layernorm.bias",
            [W_UP] = "transformer.h.%d.mlp.dense_h_to_4h.weight",
            [W_BUP] = "transformer.h.%d.mlp.dense_h_to_4h.bias",
            [W_DOWN] = "transformer.h.%d.mlp.dense_4h_to_h.weight",
            [W_BDOWN] = "transformer.h.%d.mlp.dense_4h_to_h.bias",
            [W_OUT_NORM] = "transformer.ln_f.weight",
            [W_OUT_NORM_B] = "transformer.ln_f.bias",
            [W_LM_HEAD] = "lm_head.weight"},
     // llama.cpp's names; its converter stores query_key_value as q | k | v (undone at load)
     .gguf = {[W_TOK_EMBD] = "token_embd.weight", [W_EMB_NORM] = "token_embd_norm.weight",
              [W_EMB_NORM_B] = "token_embd_norm.bias", GGUF_LN_BLOCK, [W_LM_HEAD] = "output.weight"},
     .layers = "transformer.h",
     .modules = {[PT_LIN_QKV] = "self_attention.query_key_value", [PT_LIN_O] = "self_attention.dense",
                 [PT_LIN_UP] = "mlp.dense_h_to_4h", [PT_LIN_DOWN] = "mlp.dense_4h_to_h"}},
    // GPT-2: learned positions, LayerNorm, one c_attn (q | k | v), GELU
    // (tanh: gelu_new), biases on every linear layer, Conv1D weights stored
    // (in, out), the head tied to the embedding.
    {.type = "gpt2", .hf_class = "GPT2LMHeadModel", .norm = PT_NORM_LAYER, .pos = PT_POS_LEARNED,
     .qkv = PT_QKV_CONCAT, .mlp = PT_MLP_GELU_TANH, .conv1d = 1, .hf_prefix = "transformer.",
     GPT2_NAMES},
    // GPT-NeoX (Pythia): LayerNorm, RoPE on the leading rotary_pct of each
    // head (NeoX halves), one query_key_value per head as BLOOM's, exact GELU,
    // biases everywhere, parallel residual (a config flag), untied embed_out.
    {.type = "gpt_neox", .hf_class = "GPTNeoXForCausalLM", .norm = PT_NORM_LAYER, .pos = PT_POS_ROPE,
     .qkv = PT_QKV_HEADS, .mlp = PT_MLP_GELU, .gguf_type = "gptneox",
     .hf = {[W_TOK_EMBD] = "gpt_neox.embed_in.weight",
            [W_ATTN_NORM] = "gpt_neox.layers.%d.input_layernorm.weight",
            [W_ATTN_NORM_B] = "gpt_neox.layers.%d.input_layernorm.bias",
            [W_QKV] = "gpt_neox.layers.%d.attention.query_key_value.weight",
            [W_BQKV] = "gpt_neox.layers.%d.attention.query_key_value.bias",
            [W_O] = "gpt_neox.layers.%d.attention.dense.weight",
            [W_BO] = "gpt_neox.layers.%d.attention.dense.bias",
            [W_FFN_NORM] = "gpt_neox.layers.%d.post_attention_layernorm.weight",
            [W_FFN_NORM_B] = "gpt_neox.layers.%d.post_attention_layernorm.bias",
            [W_UP] = "gpt_neox.layers.%d.mlp.dense_h_to_4h.weight",
            [W_BUP] = "gpt_neox.layers.%d.mlp.dense_h_to_4h.bias",
            [W_DOWN] = "gpt_neox.layers.%d.mlp.dense_4h_to_h.weight",
            [W_BDOWN] = "gpt_neox.layers.%d.mlp.dense_4h_to_h.bias",
            [W_OUT_NORM] = "gpt_neox.final_layer_norm.weight",
            [W_OUT_NORM_B] = "gpt_neox.final_layer_norm.bias",
            [W_LM_HEAD] = "embed_out.weight"},
     .gguf = {[W_TOK_EMBD] = "token_embd.weight", GGUF_LN_BLOCK, [W_LM_HEAD] = "output.weight"},
     .layers = "gpt_neox.layers",
     .modules = {[PT_LIN_QKV] = "attention.query_key_value", [PT_LIN_O] = "attention.dense",
                 [PT_LIN_UP] = "mlp.dense_h_to_4h", [PT_LIN_DOWN] = "mlp.dense_4h_to_h"}},
    // GPT-BigCode (SantaCoder, StarCoder): GPT-2's block with nn.Linear
    // weights and multi-query attention: c_attn is (q | k | v) with one key
    // and value head.
    {.type = "gpt_bigcode", .hf_class = "GPTBigCodeForCausalLM", .norm = PT_NORM_LAYER, .pos = PT_POS_LEARNED,
     .qkv = PT_QKV_CONCAT, .mlp = PT_MLP_GELU_TANH, .hf_prefix = "transformer.", .gguf_type = "starcoder",
     GPT2_NAMES},
    // MPT: ALiBi, LayerNorm without bias, Wqkv (q | k | v), exact GELU, no
    // biases anywhere, no position table, the head tied to the embedding.
    {.type = "mpt", .hf_class = "MptForCausalLM", .norm = PT_NORM_LAYER, .pos = PT_POS_ALIBI, .qkv = PT_QKV_CONCAT,
     .mlp = PT_MLP_GELU, .hf_prefix = "transformer.",
     .hf = {[W_TOK_EMBD] = "transformer.wte.weight",
            [W_ATTN_NORM] = "transformer.blocks.%d.norm_1.weight",
            [W_QKV] = "transformer.blocks.%d.attn.Wqkv.weight",
            [W_O] = "transformer.blocks.%d.attn.out_proj.weight",
            [W_FFN_NORM] = "transformer.blocks.%d.norm_2.weight",
            [W_UP] = "transformer.blocks.%d.ffn.up_proj.weight",
            [W_DOWN] = "transformer.blocks.%d.ffn.down_proj.weight",
            [W_OUT_NORM] = "transformer.norm_f.weight",
            [W_LM_HEAD] = "lm_head.weight"},
     .gguf = {[W_TOK_EMBD] = "token_embd.weight", [W_ATTN_NORM] = "blk.%d.attn_norm.weight",
              [W_QKV] = "blk.%d.attn_qkv.weight", [W_O] = "blk.%d.attn_output.weight",
              [W_FFN_NORM] = "blk.%d.ffn_norm.weight", [W_UP] = "blk.%d.ffn_up.weight",
              [W_DOWN] = "blk.%d.ffn_down.weight", [W_OUT_NORM] = "output_norm.weight", [W_LM_HEAD] = "output.weight"},
     .layers = "transformer.blocks",
     .modules = {[PT_LIN_QKV] = "attn.Wqkv", [PT_LIN_O] = "attn.out_proj", [PT_LIN_UP] = "ffn.up_proj",
                 [PT_LIN_DOWN] = "ffn.down_proj"}},
};

const pt_arch *arch_find(const char *type) {
    if (!strcmp(type, "smollm")) type = "llama";  // SmolLM's GGUF name; a LlamaForCausalLM
    for (size_t i = 0; i < sizeof ARCHS / sizeof ARCHS[0]; i++)
        if (!strcmp(ARCHS[i].type, type) || (ARCHS[i].gguf_type && !strcmp(ARCHS[i].gguf_type, type)))
            return &ARCHS[i];
    return NULL;
}

const char *arch_gguf_type(const pt_arch *a) { return a->gguf_type ? a->gguf_type : a->type; }

const char *arch_list(void) { return "llama, mistral, qwen2, bloom, gpt2, gpt_neox, gpt_bigcode, mpt"; }

const char *arch_module_short(const pt_arch *a, pt_linear s) {
    const char *m = a->modules[s];
    if (!m) return NULL;
    const char *dot = strrchr(m, '.');
    return dot ? dot + 1 : m;
}

weight_slot arch_weight_slot(pt_linear s) {
    static const weight_slot W[PT_LIN_COUNT] = {W_Q, W_K, W_V, W_O, W_GATE, W_UP, W_DOWN, W_QKV};
    return W[s];
}

weight_slot arch_bias_slot(pt_linear s) {
    static const weight_slot B[PT_LIN_COUNT] = {W_BQ, W_BK, W_BV, W_BO, W_COUNT, W_BUP, W_BDOWN, W_BQKV};
    return B[s];
}

void arch_describe(const pt_arch *a, char *buf, size_t cap) {
    static const char *const POS[] = {"RoPE", "ALiBi", "learned positions"};
    const char *qkv = a->qkv == PT_QKV_HEADS ? " (n_head, 3, head_dim)" : a->qkv == PT_QKV_CONCAT ? " (q | k | v)" : "";
    snprintf(buf, cap, "%s%s, %s, %s%s%s, %s MLP%s%s", a->norm == PT_NORM_LAYER ? "LayerNorm" : "RMSNorm",
             a->hf[W_EMB_NORM] ? " (and one after the embedding)" : "", POS[a->pos],
             a->qkv == PT_QKV_SPLIT ? "separate q, k, v" : "fused ", a->qkv == PT_QKV_SPLIT ? "" : a->modules[PT_LIN_QKV],
             qkv, a->mlp == PT_MLP_SWIGLU ? "SwiGLU" : a->mlp == PT_MLP_GELU ? "GELU" : "GELU (tanh)", a->hf[W_BO] ? ", biases on every linear layer" : "",
             a->conv1d ? ", Conv1D weights (in, out)" : "");
}
