// tokenizer.h - byte-level BPE (GPT-2 / SmolLM / Qwen / Llama-3) and
// SentencePiece-style BPE with byte fallback (Llama-2), loaded from a
// Hugging Face tokenizer.json or from GGUF metadata. Encoding matches the
// Hugging Face `tokenizers` package token for token.
#ifndef PT_TOKENIZER_H
#define PT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>
#include "core/pt_error.h"
#include "io/gguf.h"

typedef enum { PT_TOK_BPE_BYTELEVEL = 1, PT_TOK_BPE_SPM = 2 } pt_tok_kind;

typedef enum {                // same numbers as GGUF tokenizer.ggml.token_type
    PT_TOKTYPE_NORMAL = 1,
    PT_TOKTYPE_UNKNOWN = 2,
    PT_TOKTYPE_CONTROL = 3,   // special: <|im_start|>, <s>, ...
    PT_TOKTYPE_USER = 4,      // added token, matched before BPE
    PT_TOKTYPE_UNUSED = 5,
    PT_TOKTYPE_BYTE = 6,      // <0x0A> byte-fallback pieces
} pt_tok_type;

typedef struct pt_tokenizer pt_tokenizer; // opaque

int tokenizer_load_gguf(pt_tokenizer **out, const gguf_file *g, pt_err *err);
// path: a tokenizer.json; tokenizer_config.json beside it (if any) supplies
// bos/eos/add_bos and chat_template.
int tokenizer_load_json(pt_tokenizer **out, const char *path, pt_err *err);
void tokenizer_free(pt_tokenizer *t);

// Encodes UTF-8 text. Special/added tokens written in the text are matched
// before BPE when parse_special != 0. add_bos follows the tokenizer's own
// setting (as HF `add_special_tokens=True`) when add_special != 0.
// Invalid UTF-8 -> PT_ERR_ARG. On success *n_out tokens are in *out (malloc'd).
int tokenizer_encode(const pt_tokenizer *t, const char *text, size_t len,
                     int add_special, int parse_special,
                     int32_t **out, int *n_out, pt_err *err);

int tokenizer_vocab_size(const pt_tokenizer *t);
pt_tok_kind tokenizer_kind(const pt_tokenizer *t);
int tokenizer_bos(const pt_tokenizer *t);   // -1 if none
int tokenizer_eos(const pt_tokenizer *t);   // -1 if none
int tokenizer_is_eog(const pt_tokenizer *t, int32_t id); // end of generation: eos, <|im_end|>, <|endoftext|>, <|eot_id|>, </s> ...
int tokenizer_token_type(const pt_tokenizer *t, int32_t id);
int tokenizer_find(const pt_tokenizer *t, const char *piece); // id of an exact vocab string, -1 if none
const char *tokenizer_chat_template(const pt_tokenizer *t); // raw template text from metadata, or NULL

// The vocabulary string of a token as stored ("Ġthe", "▁the", "<0x0A>").
const char *tokenizer_piece(const pt_tokenizer *t, int32_t id);

// The raw bytes a token stands for (byte-level decoded, ▁ -> space, <0xNN> -> byte).
// Writes up to cap bytes, returns the byte count (may be > cap: truncated).
size_t tokenizer_token_bytes(const pt_tokenizer *t, int32_t id, char *buf, size_t cap);

// Streaming decoder: feed tokens, get back only complete UTF-8 characters;
// bytes of a character split across tokens are held until it completes.
typedef struct {
    char pending[8];
    int n_pending;
    int first;                // SPM: strip the leading space of the first token
} pt_detok;

void detok_init(pt_detok *d);
// Appends decoded text for token id to out (cap bytes incl. NUL); returns length written.
size_t detok_push(pt_detok *d, const pt_tokenizer *t, int32_t id, char *out, size_t cap);
// Flushes held incomplete bytes as U+FFFD.
size_t detok_flush(pt_detok *d, char *out, size_t cap);

// Whole-sequence decode into a malloc'd NUL-terminated string.
char *tokenizer_decode(const pt_tokenizer *t, const int32_t *ids, int n, int skip_special);

// Writing a loaded tokenizer back out as Hugging Face files (tokenizer_write.c),
// so that tokenizer_load_json and transformers' AutoTokenizer read back the
// same encoder: tokenizer.json (BPE vocab and merges in rank order, normalizer,
// pre-tokenizer, post-processor, decoder, added tokens) and
// tokenizer_config.json (bos/eos/unk token strings, add_bos_token,
// add_eos_token, chat_template). Each file goes to path.tmp first, then is
// renamed. A regex split the writer cannot name (a tokenizer.json Split with a
// pattern other than the GPT-2, Llama-3, Qwen2 or digit splits) is
// PT_ERR_UNSUPPORTED. chat_template: NULL takes the tokenizer's own (none: no key).
int tokenizer_save_json(const pt_tokenizer *t, const char *path, pt_err *err);
int tokenizer_save_config_json(const pt_tokenizer *t, const char *chat_template, const char *path, pt_err *err);

#endif
