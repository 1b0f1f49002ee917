// lora_internal.h - what lora_config.c shares with lora.c. Not public.
#ifndef PT_LORA_INTERNAL_H
#define PT_LORA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "lora/lora.h"

// Python's re.match (PCRE2_ANCHORED) or re.fullmatch (| PCRE2_ENDANCHORED) of
// pattern on subject: 1 / 0, or -1 with err set when the pattern does not
// compile. group1 (optional): group 1's text when matched ("" if unset).
int lora_re_match(const char *pattern, const char *subject, uint32_t opts, char *group1, size_t gcap, pt_err *err);
// The rank_pattern / alpha_pattern entry for module name (PEFT's get_pattern_key), or NULL.
const pt_pattern *lora_pattern_for(const pt_pattern *p, int n, const char *name);

#endif
