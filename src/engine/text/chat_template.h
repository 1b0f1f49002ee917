// chat_template.h - chat templates as plain files in prompts/ (ChatML,
// Llama-2 [INST], Alpaca, plain, ...), chosen from the model's metadata or by
// name, rendered into the exact prompt text the model was trained on.
#ifndef PT_CHAT_TEMPLATE_H
#define PT_CHAT_TEMPLATE_H

#include <stddef.h>
#include "core/pt_error.h"

typedef struct {
    const char *role;      // "system", "user", "assistant"
    const char *content;
} pt_msg;

typedef struct pt_chat_template pt_chat_template; // opaque

// Directory holding the *.tmpl files: $PEFTUI_PROMPTS if set, else the
// compiled-in source dir, else "<exe dir>/../share/peftui/prompts".
const char *template_dir(void);
// name: "chatml", "llama2", "alpaca", "plain", ... or a path to a .tmpl file.
int template_load(pt_chat_template **out, const char *name, pt_err *err);
void template_free(pt_chat_template *t);
const char *template_name(const pt_chat_template *t);
// Picks a template name from a model's Jinja chat_template (NULL -> "plain").
const char *template_guess(const char *jinja);
// Renders msgs; when add_generation, ends with the assistant prefix. Uses the
// template's default system message when msgs has none and the template has one
// (override with default_system, which may be NULL). Returns malloc'd text.
char *template_render(const pt_chat_template *t, const pt_msg *msgs, int n, int add_generation,
                      const char *default_system, pt_err *err);
// Strings that end an assistant turn (e.g. "<|im_end|>"); n returned.
int template_stops(const pt_chat_template *t, const char *const **stops);

// --- for the LoRA trainer and the CLI ---------------------------------------

// The literal text the template puts around one message of role ("system",
// "user", "assistant"). PT_OK, or PT_ERR_ARG for an unknown role.
int template_role_parts(const pt_chat_template *t, const char *role,
                        const char **prefix, const char **suffix);

// Where message i landed in a render, as byte offsets into the text:
// [content, content_end) its content (trimmed if the template trims) and
// [start, end) the whole turn with prefix and suffix. A system message that
// the template folds into the first user turn (Llama-2) reports its block
// inside that turn. For loss masking, an assistant answer is [content, end).
typedef struct {
    size_t start, content, content_end, end;
} pt_msg_span;

// template_render, plus spans (n entries, may be NULL). An empty
// default_system ("") means no system message at all.
char *template_render_spans(const pt_chat_template *t, const pt_msg *msgs, int n, int add_generation,
                            const char *default_system, pt_msg_span *spans, pt_err *err);

// The default system message written as a literal inside a model's Jinja
// template (SmolLM2: "You are a helpful AI assistant named SmolLM, trained by
// Hugging Face"), malloc'd; NULL when it has none.
char *template_jinja_default_system(const char *jinja);

#endif
