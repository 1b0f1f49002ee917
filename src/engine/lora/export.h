// export.h - getting an adapter out of peftui in three formats, and saying
// beforehand what each target would get wrong.
//
//   peft       OUT/ a PEFT adapter folder (adapter_save): adapter_config.json,
//              adapter_model.safetensors (F32), peftui.json. Loads with
//              PeftModel.from_pretrained / LoraConfig.from_pretrained.
//   merged     OUT/ the base with the adapter merged in, as Hugging Face reads
//              it: model.safetensors (F32, HF tensor names; no lm_head.weight
//              when the embeddings stay tied; modules_to_save copies replace
//              their modules and untie them), config.json (architectures,
//              model_type and every number of pt_config, tie_word_embeddings,
//              torch_dtype float32), and the tokenizer: from a Hugging Face
//              base, that folder's tokenizer.json, tokenizer_config.json,
//              special_tokens_map.json, chat_template.jinja and
//              generation_config.json (those present); from a GGUF base, the
//              loaded tokenizer written as tokenizer.json + tokenizer_config.json
//              (with the chat template). The model passed in is not changed.
//   gguf-lora  OUT a single GGUF file llama.cpp loads with --lora: general.type
//              "adapter", general.architecture of the base as llama.cpp names
//              it, adapter.type "lora", adapter.lora.alpha (f32); per module
//              blk.N.<attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down>.weight.lora_a
//              (ne [in, r]) and .lora_b (ne [r, out]), F32. For llama-style
//              bases the rows of q/k's lora_b are permuted as llama.cpp's
//              converter permutes q/k weights (not for qwen2).
//
// llama.cpp scales a module by user_scale * alpha / r, one alpha per file.
// Where a module's scale differs from that (use_rslora, alpha_pattern, or a
// user scale other than 1), the ratio is folded into lora_b and a warning
// says so; rank_pattern alone needs no folding (r is read per module).
#ifndef PT_EXPORT_H
#define PT_EXPORT_H

#include <stddef.h>
#include "lora/lora.h"
#include "model/model.h"
#include "core/pt_error.h"

typedef enum { PT_EXPORT_PEFT, PT_EXPORT_MERGED, PT_EXPORT_GGUF_LORA } pt_export_format;

#define PT_EXPORT_MAX_WARNINGS 8
// Lines describing what the target gets differently from peftui, one fault each.
typedef struct {
    int n;
    char msg[PT_EXPORT_MAX_WARNINGS][320];
} pt_export_warnings;

// "peft", "merged", "gguf-lora" -> PT_OK; anything else PT_ERR_ARG listing them.
int export_format_parse(const char *name, pt_export_format *out, pt_err *err);
const char *export_format_name(pt_export_format f);

// What exporting adapter a (on base m) as f at user scale `scale` (1 = as
// trained) would get wrong; writes nothing. w is filled (n = 0: nothing).
int export_check(const pt_adapter *a, const pt_model *m, pt_export_format f, float scale, pt_export_warnings *w,
                 pt_err *err);
// Writes the export to out (a folder for peft/merged, a file for gguf-lora),
// every file to a temporary name first; fills w as export_check does.
int export_adapter(const pt_adapter *a, const pt_model *m, pt_export_format f, float scale, const char *out,
                   pt_export_warnings *w, pt_err *err);

#include "core/fileio.h"  // pt_mkdir_p, pt_write_file_atomic

#endif
