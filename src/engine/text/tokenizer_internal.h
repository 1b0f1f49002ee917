// tokenizer_internal.h - the tokenizer's layout, shared by its files:
// tokenizer_vocab.c (tables, queries), tokenizer.c (encode), tokenizer_decode.c,
// tokenizer_json.c and tokenizer_gguf.c (loading). Not part of the public API.
//
// Encoding follows Hugging Face `tokenizers`:
//   text -> split on added/special tokens (longest match at the leftmost place)
//        -> each plain segment: normalizer steps (Prepend, Replace)
//        -> pre-tokenizer steps (regex splits, Metaspace, ByteLevel prefix space)
//        -> each piece: BPE (byte-level: one symbol per byte; SPM: one symbol per
//           character, unknown characters as <0xNN> byte tokens or <unk>)
//   and the post-processor's prefix/suffix tokens when add_special.
#ifndef PT_TOKENIZER_INTERNAL_H
#define PT_TOKENIZER_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdint.h>
#include "text/tokenizer.h"

// How a regex split treats the matches (HF SplitDelimiterBehavior).
typedef enum {
    TOK_SPLIT_REMOVED = 1, TOK_SPLIT_ISOLATED, TOK_SPLIT_MERGED_PREV,
    TOK_SPLIT_MERGED_NEXT, TOK_SPLIT_CONTIGUOUS,
} tok_split_behavior;

typedef enum {
    TOK_PRE_SPLIT = 1,      // regex split: Split, Digits, ByteLevel(use_regex)
    TOK_PRE_PREFIX_SPACE,   // ByteLevel(add_prefix_space): " " before a piece that lacks one
    TOK_PRE_METASPACE,      // ' ' -> U+2581, prepend U+2581 per scheme, split before each if re
} tok_pre_op;

typedef enum { TOK_PREPEND_NEVER = 0, TOK_PREPEND_FIRST, TOK_PREPEND_ALWAYS } tok_prepend;

typedef struct {
    tok_pre_op op;
    pcre2_code *re;            // SPLIT; METASPACE when it splits (literal U+2581)
    char *pattern;             // SPLIT: the pattern as given (owned), for writing tokenizer.json back
    int literal;               // SPLIT: pattern is a plain string, not a regex
    tok_split_behavior behavior;
    int invert;
    tok_prepend prepend;       // METASPACE
} tok_pre_step;

typedef enum { TOK_NORM_PREPEND = 1, TOK_NORM_REPLACE, TOK_NORM_NFC } tok_norm_op;   // NFC: libunistring's

typedef struct {
    tok_norm_op op;
    char *from;                // REPLACE: the literal replaced (not empty)
    char *to;                  // PREPEND: the prefix; REPLACE: the replacement
    size_t from_len, to_len;
} tok_norm_step;

typedef struct {               // one merge rule: (left id, right id) -> id, by rank
    uint64_t key;              // left << 32 | right; TOK_EMPTY_KEY when free
    int32_t rank;
    int32_t id;
} tok_merge_slot;

#define TOK_EMPTY_KEY UINT64_MAX
#define TOK_MAX_STEPS 8
#define TOK_MAX_AFFIX 4
#define TOK_MAX_VOCAB (1 << 24)
#define TOK_METASPACE "\xE2\x96\x81"   // U+2581, SentencePiece's word marker
// GPT-2's split (HF ByteLevel use_regex=true).
#define TOK_GPT2_RE "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
// The splits llama.cpp uses for tokenizer.ggml.pre llama-bpe (Llama 3) and qwen2;
// tokenizer_write.c names a step by comparing it with these (tokenizer_gguf.c
// has the same text as LLAMA3_RE and QWEN2_RE).
#define TOK_LLAMA3_RE "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}" \
                      "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define TOK_QWEN2_RE "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}" \
                     "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

// Values of pt_tokenizer.added: how an id is matched in raw text before BPE.
enum { TOK_ADDED_NONE = 0, TOK_ADDED_SPECIAL = 1, TOK_ADDED_PLAIN = 2 };

struct pt_tokenizer {
    pt_tok_kind kind;
    int n_vocab;
    char *text;                // piece strings, each NUL-terminated
    uint32_t *text_off;        // (n_vocab + 1) offsets into text
    char *bytes;               // decoded bytes of every token
    uint32_t *bytes_off;       // (n_vocab + 1) offsets into bytes
    uint8_t *type;             // (n_vocab) pt_tok_type
    uint8_t *in_model;         // (n_vocab) 1: BPE may produce it (model vocab, not added-only)
    uint8_t *added;            // (n_vocab) TOK_ADDED_*
    uint8_t *eog;              // (n_vocab)

    int32_t *vmap;             // open addressing: string -> id, -1 free
    uint32_t vmask;
    tok_merge_slot *mmap;      // open addressing: pair -> (rank, id)
    uint32_t mmask;
    int n_merges;

    int32_t byte_sym[256];     // byte-level: id of the one-character piece spelling each byte
    unsigned char byte_char[256][3]; // byte-level: UTF-8 of the character spelling each byte
    unsigned char byte_char_len[256];
    int32_t byte_tok[256];     // <0xNN> ids (byte fallback), -1 when absent
    int byte_fallback, fuse_unk, ignore_merges;
    int unk;                   // model unknown token, -1 none

    tok_norm_step norm[TOK_MAX_STEPS];
    int n_norm;
    tok_pre_step pre[TOK_MAX_STEPS];
    int n_pre;

    int32_t *match;            // added ids sorted by first byte, then longest first
    int n_match;
    uint32_t match_start[257]; // match[match_start[b] .. match_start[b+1]) begin with byte b

    int bos, eos;
    int32_t prefix[TOK_MAX_AFFIX], suffix[TOK_MAX_AFFIX]; // add_special: tokens around the text
    int n_prefix, n_suffix;
    int strip_first_space;     // SPM decoders: drop the space the normalizer put in front
    char *chat_template;
};

// The piece string of id (NUL-terminated) and its length.
static inline const char *tok_piece(const pt_tokenizer *t, int32_t id, uint32_t *len) {
    *len = t->text_off[id + 1] - t->text_off[id] - 1;
    return t->text + t->text_off[id];
}

static inline uint32_t tok_hash_pair(uint64_t key) {
    key *= 0x9E3779B97F4A7C15ull;
    return (uint32_t)(key >> 32);
}

// The merge rule for the pair (a, b), or NULL.
static inline const tok_merge_slot *tok_merge_find(const pt_tokenizer *t, int32_t a, int32_t b) {
    if (!t->mmap)
        return NULL;
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    uint32_t i = tok_hash_pair(key) & t->mmask;
    for (;;) {
        const tok_merge_slot *m = &t->mmap[i];
        if (m->key == key)
            return m;
        if (m->key == TOK_EMPTY_KEY)
            return NULL;
        i = (i + 1) & t->mmask;
    }
}

// tokenizer_vocab.c: building blocks for the loaders.
// The vocabulary: n strings (not NUL-terminated, may repeat: the last id wins
// in lookups, as in a Python dict). Allocates every per-id array; types start NORMAL.
int tok_set_vocab(pt_tokenizer *t, int n, const char *const *s, const uint32_t *len,
                  const char *src, pt_err *err);
int32_t tok_lookup(const pt_tokenizer *t, const char *s, size_t n); // -1 if absent
int tok_alloc_merges(pt_tokenizer *t, size_t n, const char *src, pt_err *err);
// Adds (a, b) with the given rank; the merged string must be in the vocabulary.
int tok_add_merge(pt_tokenizer *t, int32_t a, int32_t b, int32_t rank, const char *src, pt_err *err);
// Appends a regex split step (literal: pattern is a plain string).
int tok_add_split(pt_tokenizer *t, const char *pattern, size_t len, int literal,
                  tok_split_behavior behavior, int invert, const char *src, pt_err *err);
pcre2_code *tok_compile(const char *pattern, size_t len, int literal, const char *src, pt_err *err);
// After vocabulary, types, added flags, bos/eos are set: byte tables, decoded
// bytes, the added-token match list and end-of-generation flags.
int tok_finish(pt_tokenizer *t, const char *src, pt_err *err);
pt_tokenizer *tok_new(void);
char *tok_dup_n(const char *s, size_t n);
int tok_set_chat_template(pt_tokenizer *t, const char *s, size_t n, const char *src, pt_err *err);
// Appends a Metaspace step (split: before each U+2581, MergedWithNext).
int tok_add_metaspace(pt_tokenizer *t, tok_prepend prepend, int split, const char *src, pt_err *err);
// Makes id a special (control) added token unless it is one already.
void tok_mark_special(pt_tokenizer *t, int id);

// UTF-8: length of the well-formed character at s (n bytes left); 0 if the bytes
// are not one (*bad = bytes to replace by one U+FFFD); -k if the k bytes left
// are a correct but unfinished start of one.
int tok_utf8_scan(const unsigned char *s, size_t n, int *bad);

#endif
