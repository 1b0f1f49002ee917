// fuzz_chat_template.c - chat templates: a .tmpl file holding the input through
// template_load, rendering a fixed conversation; and the input as a model's
// Jinja chat_template through template_guess and template_jinja_default_system.
#include "common.c"
#include "text/chat_template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const pt_msg conv[4] = {{"system", "Be brief."}, {"user", "Hi there"},
                                   {"assistant", " Hello! "}, {"user", "Bye\n"}};
    char path[512];
    pt_err err;
    fz_write_rel(path, sizeof path, "fuzz.tmpl", data, size);
    pt_chat_template *t = NULL;
    if (template_load(&t, path, &err) == PT_OK) {
        (void)template_name(t);
        free(template_render(t, conv, 4, 1, NULL, &err));
        free(template_render(t, conv + 1, 3, 0, "default sys", &err));
        pt_msg_span spans[4];
        free(template_render_spans(t, conv, 4, 0, "", spans, &err));
        free(template_render_spans(t, conv + 1, 2, 1, NULL, spans, &err));
        const char *const *stops = NULL;
        (void)template_stops(t, &stops);
        const char *pre, *suf;
        (void)template_role_parts(t, "assistant", &pre, &suf);
        (void)template_role_parts(t, "tool", &pre, &suf);
        template_free(t);
    }
    char *jinja = fz_strdup(data, size);
    (void)template_guess(jinja);
    free(template_jinja_default_system(jinja));
    free(jinja);
    return 0;
}
