// generate.h - prefill then decode with sampling, streaming each piece of
// text through a callback; stops at end-of-generation tokens, stop strings,
// max tokens, the context limit, or the caller's abort flag.
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

typedef struct {
    int max_new_tokens;
    pt_sampling sampling;
    const char *const *stops;   // stop strings (may be NULL)
    int n_stops;
    // Called with each new piece of UTF-8 text (complete characters only).
    // Return nonzero to stop.
    int (*on_text)(void *ud, const char *text, size_t len);
    void *ud;
    volatile int *abort_flag;   // checked between tokens; may be NULL
} pt_gen_params;

typedef struct {
    int n_prompt;              // prompt tokens
    int n_prefilled;           // of those, actually run (the rest came from the cache)
    int n_gen;                 // tokens generated
    double t_prefill_s, t_decode_s;
    pt_stop_reason stop;
} pt_gen_result;

// A chat session: the runtime plus the tokens now in its cache, so that a
// new prompt sharing a prefix with the last one only prefills the difference.
typedef struct {
    pt_runtime *rt;            // not owned
    int32_t *history;          // (cap) tokens in the cache, in order
    int n_history, cap;
} pt_session;

int session_init(pt_session *s, pt_runtime *rt, pt_err *err);
void session_free(pt_session *s);
void session_reset(pt_session *s);

// prompt: the whole conversation so far as tokens. Generated tokens are
// appended to the session history. out_text (if non-NULL) receives the whole
// answer (malloc'd).
int generate(pt_session *s, const int32_t *prompt, int n_prompt, const pt_gen_params *p,
             pt_gen_result *res, char **out_text, pt_err *err);

#endif
