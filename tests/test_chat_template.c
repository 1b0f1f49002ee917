// test_chat_template.c - every shipped template renders exactly what the
// model's own Jinja template renders (goldens made by transformers, see
// tests/reference/make_template_goldens.py), template_guess on real Jinja
// strings, default-system extraction, spans, and clean errors.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "text/chat_template.h"
#include "data/template_goldens.h"

// The Jinja templates as shipped in the models' tokenizer_config.json.
static const char SMOLLM2_JINJA[] =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
// the same as it reads in tokenizer_config.json before JSON unescaping of \\n
static const char SMOLLM2_JINJA_ESCAPED[] =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
static const char OPENHERMES_JINJA[] =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
static const char LLAMA2_JINJA[] =
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";
static const char LLAMA3_JINJA[] =
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";
static const char MISTRAL_JINJA[] =
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";
static const char VIGOGNE_JINJA[] = // a Llama-2 template with a default system literal
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% elif true == true and not '<<SYS>>' in messages[0]['content'] %}"
    "{% set loop_messages = messages %}{% set system_message = 'Vous \xc3\xaates Vigogne, un assistant IA.' %}"
    "{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}[INST]<<SYS>>";

static const char SMOLLM_SYSTEM[] = "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

static int streq(const char *a, const char *b) { return a && b && !strcmp(a, b); }

static void show_diff(const char *got, const char *want) {
    size_t i = 0;
    while (got[i] && got[i] == want[i]) i++;
    fprintf(stderr, "  first difference at byte %zu\n  got:  \"%s\"\n  want: \"%s\"\n", i, got, want);
}

static void test_goldens(void) {
    char *smol_sys = template_jinja_default_system(SMOLLM2_JINJA);
    for (size_t g = 0; g < sizeof TEMPLATE_GOLDENS / sizeof TEMPLATE_GOLDENS[0]; g++) {
        pt_err err = {0};
        pt_chat_template *t = NULL;
        int rc = template_load(&t, TEMPLATE_GOLDENS[g].tmpl, &err);
        CHECKF(rc == PT_OK, "%s: %s", TEMPLATE_GOLDENS[g].tmpl, err.msg);
        if (rc) continue;
        const golden_msg *gm = GOLDEN_CONVS[TEMPLATE_GOLDENS[g].conv].msgs;
        int n = GOLDEN_CONVS[TEMPLATE_GOLDENS[g].conv].n;
        pt_msg msgs[8];
        for (int i = 0; i < n; i++) msgs[i] = (pt_msg){gm[i].role, gm[i].content};
        // SmolLM2's default system message comes from its Jinja, as the CLI does it
        const char *dsys = !strcmp(TEMPLATE_GOLDENS[g].tmpl, "chatml") ? smol_sys : NULL;
        char *out = template_render(t, msgs, n, TEMPLATE_GOLDENS[g].add_generation, dsys, &err);
        int ok = streq(out, TEMPLATE_GOLDENS[g].expect);
        CHECKF(ok, "template %s, conversation %d, add_generation %d", TEMPLATE_GOLDENS[g].tmpl,
               TEMPLATE_GOLDENS[g].conv, TEMPLATE_GOLDENS[g].add_generation);
        if (!ok && out) show_diff(out, TEMPLATE_GOLDENS[g].expect);
        free(out);
        template_free(t);
    }
    free(smol_sys);
}

// The strings the issue gives, written out here as well.
static void test_canonical(void) {
    pt_err err = {0};
    pt_chat_template *t = NULL;
    CHECK(template_load(&t, "chatml", &err) == PT_OK);
    CHECK(streq(template_name(t), "chatml"));
    pt_msg q[] = {{"user", "What is the capital of France?"}};
    char *out = template_render(t, q, 1, 1, SMOLLM_SYSTEM, &err);
    CHECK(streq(out,
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"));
    free(out);
    // no default: no system turn; "" from the caller also means none
    out = template_render(t, q, 1, 1, NULL, &err);
    CHECK(streq(out, "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"));
    free(out);
    out = template_render(t, q, 1, 0, "", &err);
    CHECK(streq(out, "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"));
    free(out);
    const char *const *stops;
    int ns = template_stops(t, &stops);
    CHECK(ns >= 1 && streq(stops[0], "<|im_end|>"));
    const char *pre = NULL, *suf = NULL;
    CHECK(template_role_parts(t, "assistant", &pre, &suf) == PT_OK);
    CHECK(streq(pre, "<|im_start|>assistant\n") && streq(suf, "<|im_end|>\n"));
    CHECK(template_role_parts(t, "tool", &pre, &suf) == PT_ERR_ARG);
    // an unknown role is an error, not a crash
    pt_msg bad[] = {{"tool", "x"}};
    err.code = PT_OK;
    CHECK(template_render(t, bad, 1, 1, NULL, &err) == NULL && err.code == PT_ERR_ARG);
    template_free(t);

    CHECK(template_load(&t, "llama2", &err) == PT_OK);
    pt_msg s[] = {{"system", "You are a pirate."}, {"user", "hi"}};
    out = template_render(t, s, 2, 1, NULL, &err);
    CHECK(streq(out, "<s>[INST] <<SYS>>\nYou are a pirate.\n<</SYS>>\n\nhi [/INST]"));
    free(out);
    // a default system message folds in the same way
    out = template_render(t, s + 1, 1, 1, "You are a pirate.", &err);
    CHECK(streq(out, "<s>[INST] <<SYS>>\nYou are a pirate.\n<</SYS>>\n\nhi [/INST]"));
    free(out);
    template_free(t);

    // Mistral: the system text opens the first user message (peftui's choice)
    CHECK(template_load(&t, "mistral", &err) == PT_OK);
    pt_msg m[] = {{"system", "Be brief."}, {"user", "hi"}, {"assistant", "Hello!"}, {"user", "bye"}};
    out = template_render(t, m, 4, 1, NULL, &err);
    CHECK(streq(out, "<s>[INST] Be brief.\n\nhi [/INST]Hello!</s>[INST] bye [/INST]"));
    free(out);
    template_free(t);

    CHECK(template_load(&t, "plain", &err) == PT_OK);
    pt_msg p[] = {{"system", "Be kind."}, {"user", "hi"}, {"assistant", " hello "}, {"user", "bye"}};
    out = template_render(t, p, 4, 1, NULL, &err);
    CHECK(streq(out, "Be kind.\n\nUser: hi\nAssistant: hello\nUser: bye\nAssistant:"));
    free(out);
    template_free(t);
}

// Spans: what the trainer will use to find the answers.
static void test_spans(void) {
    pt_err err = {0};
    pt_chat_template *t = NULL;
    pt_msg_span sp[4];
    pt_msg c[] = {{"system", "Sys"}, {"user", "Q1"}, {"assistant", "A1"}, {"user", "Q2"}};
    const char *names[] = {"chatml", "llama2", "llama3", "mistral", "alpaca", "plain"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        CHECK(template_load(&t, names[k], &err) == PT_OK);
        if (!t) continue;
        memset(sp, 0, sizeof sp);
        char *out = template_render_spans(t, c, 4, 1, NULL, sp, &err);
        CHECK(out != NULL);
        if (!out) { template_free(t); continue; }
        int ok = 1;
        for (int i = 0; i < 4; i++) {
            size_t len = strlen(c[i].content);
            if (sp[i].content_end - sp[i].content != len || strncmp(out + sp[i].content, c[i].content, len)) ok = 0;
            if (!(sp[i].start <= sp[i].content && sp[i].content_end <= sp[i].end && sp[i].end <= strlen(out))) ok = 0;
        }
        const char *pre, *suf;
        template_role_parts(t, "assistant", &pre, &suf);
        // an assistant turn is prefix + content + suffix, back to back
        if (strncmp(out + sp[2].start, pre, strlen(pre)) || strncmp(out + sp[2].content_end, suf, strlen(suf)) ||
            sp[2].end != sp[2].content_end + strlen(suf))
            ok = 0;
        CHECKF(ok, "spans for %s", names[k]);
        free(out);
        template_free(t);
    }
}

static void test_guess(void) {
    CHECK(streq(template_guess(SMOLLM2_JINJA), "chatml"));
    CHECK(streq(template_guess(OPENHERMES_JINJA), "chatml"));
    CHECK(streq(template_guess(LLAMA2_JINJA), "llama2"));
    CHECK(streq(template_guess(LLAMA3_JINJA), "llama3"));
    CHECK(streq(template_guess(MISTRAL_JINJA), "mistral"));
    CHECK(streq(template_guess("{{ '### Instruction:\\n' + message['content'] }}"), "alpaca"));
    CHECK(streq(template_guess(NULL), "plain"));
    CHECK(streq(template_guess(""), "plain"));
    CHECK(streq(template_guess("{{ messages }}"), "plain"));

    char *s = template_jinja_default_system(SMOLLM2_JINJA);
    CHECKF(streq(s, SMOLLM_SYSTEM), "got '%s'", s ? s : "(null)");
    free(s);
    s = template_jinja_default_system(SMOLLM2_JINJA_ESCAPED);
    CHECK(streq(s, SMOLLM_SYSTEM));
    free(s);
    s = template_jinja_default_system(OPENHERMES_JINJA); // only the per-message form: no literal
    CHECK(s == NULL);
    free(s);
    CHECK(template_jinja_default_system(LLAMA2_JINJA) == NULL);   // system_message = false
    CHECK(template_jinja_default_system(LLAMA3_JINJA) == NULL);
    CHECK(template_jinja_default_system(NULL) == NULL);
    s = template_jinja_default_system(VIGOGNE_JINJA);
    CHECK(streq(s, "Vous \xc3\xaates Vigogne, un assistant IA."));
    free(s);
}

static void test_errors(void) {
    pt_err err = {0};
    pt_chat_template *t = (pt_chat_template *)&err; // must be reset to NULL
    CHECK(template_load(&t, "no-such-template", &err) == PT_ERR_IO);
    CHECK(t == NULL);
    CHECKF(strstr(err.msg, "no-such-template") && strstr(err.msg, "chatml") && !strchr(err.msg, '\n'),
           "message: %s", err.msg);
    CHECK(template_load(&t, "/nonexistent/dir/x.tmpl", &err) == PT_ERR_IO && t == NULL);
    CHECK(strstr(err.msg, "/nonexistent/dir/x.tmpl") != NULL);
    CHECK(template_load(&t, "../etc", &err) != PT_OK && t == NULL);
    CHECK(template_load(&t, "", &err) == PT_ERR_ARG);

    // malformed files: one line naming the file and line
    const char *bad[] = {
        "user.prefix = \"unterminated\n",
        "nonsense line\n",
        "user.prefix = 'single'\n",
        "bogus.key = \"x\"\n",
        "system = sideways\n",
        "user.prefix = \"a\\qb\"\n",
        "user.prefix = \"a\" trailing\n",
    };
    char path[] = "/tmp/pt_tmpl_XXXXXX.tmpl";
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int fd = mkstemps(path, 5);
        CHECK(fd >= 0);
        if (fd < 0) continue;
        FILE *f = fdopen(fd, "w");
        fprintf(f, "# a comment\n\n%s", bad[i]);
        fclose(f);
        err = (pt_err){0};
        int rc = template_load(&t, path, &err);
        CHECKF(rc == PT_ERR_FORMAT && t == NULL && strstr(err.msg, ":3:"), "case %zu: rc %d msg %s", i, rc, err.msg);
        remove(path);
        memcpy(path + strlen(path) - 11, "XXXXXX", 6);
    }
    // a good file by path, with escapes and defaults
    int fd = mkstemps(path, 5);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "user.prefix = \"<u>\\t\\x41\\\"\"   # comment\nassistant.prefix = \"<a>\"\nsystem = turn\ntrim = yes\n");
    fclose(f);
    CHECK(template_load(&t, path, &err) == PT_OK);
    if (t) {
        pt_msg m[] = {{"user", " x "}};
        char *out = template_render(t, m, 1, 1, NULL, &err);
        CHECK(streq(out, "<u>\tA\"x<a>"));
        free(out);
        template_free(t);
    }
    remove(path);
}

int main(void) {
    test_goldens();
    test_canonical();
    test_spans();
    test_guess();
    test_errors();
    return check_report("test_chat_template");
}
