// generate.h - prefill then decode with sampling, streaming the text as it
// is made; stops at end-of-generation tokens, stop strings, max tokens, the
// context limit, or the caller's abort flag (also during the prefill).
#ifndef PT_GENERATE_H
#define PT_GENERATE_H

#include <stdint.h>
#include "infer/forward.h"
#include "infer/sampler.h"

typedef enum {
    PT_STOP_EOG = 1,       // end-of-generation token
    PT_STOP_STRING,        // a stop string appeared (it is not emitted)
    PT_STOP_MAX_TOKENS,
    PT_STOP_CONTEXT,       // context full
    PT_STOP_ABORT,         // abort flag or callback asked to stop
} pt_stop_reason;

const char *stop_reason_name(pt_stop_reason r);   // "end of generation", "stop string", ...

typedef struct {
    int max_new_tokens;
    pt_sampling sampling;
    const char *const *stops;   // stop strings (may be NULL)
    int n_stops;
    // Called with each new piece of UTF-8 text (complete characters only).
    // Return nonzero to stop.
    int (*on_text)(void *ud, const char *text, size_t len);
    // Called for every generated token: its id, its log-probability under
    // the model (the logits before sampling's temperature and filters), and
    // the text it made visible (may be empty: half a character, or held back
    // while it could begin a stop string). Held-back text released at the
    // end comes with id -1. Return nonzero to stop.
    int (*on_token)(void *ud, int32_t id, float logprob, const char *text, size_t len);
    void *ud;
    volatile int *abort_flag;   // checked between tokens and between prefill chunks; may be NULL
} pt_gen_params;

typedef struct {
    int n_prompt;              // prompt tokens
    int n_prefilled;           // of those, actually run (the rest came from the cache)
    int n_gen;                 // tokens generated
    double t_prefill_s, t_decode_s;
    pt_stop_reason stop;
} pt_gen_result;

// A chat session: one slot of a runtime plus the tokens now in its cache, so
// that a new prompt sharing a prefix with the last one only prefills the
// difference.
typedef struct {
    pt_runtime *rt;            // not owned
    int slot;                  // the runtime slot it uses
    int32_t *history;          // (cap) tokens in the cache, in order
    int n_history, cap;
} pt_session;

int session_init(pt_session *s, pt_runtime *rt, pt_err *err);   // slot 0 (set s->slot for another)
void session_free(pt_session *s);
void session_reset(pt_session *s);

// prompt: the whole conversation so far as tokens. Generated tokens are
// appended to the session history. out_text (if non-NULL) receives the whole
// answer (malloc'd), also when it was stopped.
int generate(pt_session *s, const int32_t *prompt, int n_prompt, const pt_gen_params *p,
             pt_gen_result *res, char **out_text, pt_err *err);

// ---- the text of an answer, token by token ------------------------------
// Detokenizes, drops control tokens, finds stop strings, and holds back a
// tail that could still become one, so what it releases never needs taking
// back. Shared by generate and compare.
typedef struct {
    const pt_tokenizer *tok;
    const char *const *stops;
    int n_stops;
    pt_detok dt;
    char *text;                // (len) everything so far, NUL-terminated
    size_t len, cap;
    size_t emitted;            // bytes released
    int stopped;               // a stop string was found (text ends before it)
} pt_textstream;

int textstream_init(pt_textstream *ts, const pt_tokenizer *tok, const char *const *stops, int n_stops);
void textstream_free(pt_textstream *ts);
// Adds token id; *out/*n: the newly released text (inside ts->text). Returns
// 0, 1 when a stop string completed (the text is cut before it), -1 out of memory.
int textstream_push(pt_textstream *ts, int32_t id, const char **out, size_t *n);
// The end: releases what was held back (not after a stop string).
int textstream_finish(pt_textstream *ts, const char **out, size_t *n);

// log softmax(logits)[id] (V), in double.
float logprob_of(const float *logits, int V, int32_t id);

#endif
