// cmd_generate.c - `peftui generate -p PROMPT`: one answer on stdout, the
// chat template applied unless --raw, streamed as it is made.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/fileio.h"
#include "lora/lora.h"

// --- LoRA adapters on the command line, shared with chat and compare --------

// The option parser keeps one value per flag, so every "--adapter DIR" (and
// "--adapter=DIR") is taken out of argv first, in order. A malformed one
// (no value) is left in for cli_parse to report. *argv_out and *dirs are
// malloc'd (free both); the strings stay argv's.
int cli_adapter_args(int argc, char **argv, char ***argv_out, int *argc_out, const char ***dirs, int *n_dirs) {
    char **av = malloc(sizeof *av * (size_t)(argc + 1));
    const char **d = malloc(sizeof *d * (size_t)(argc + 1));
    if (!av || !d) {
        free(av);
        free(d);
        return cli_error(CLI_ERR, "out of memory");
    }
    int n = 0, k = 0, only_pos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (i > 0 && !only_pos) {
            if (!strcmp(a, "--")) only_pos = 1;
            else if (!strncmp(a, "--adapter=", 10) && a[10]) { d[k++] = a + 10; continue; }
            else if (!strcmp(a, "--adapter") && i + 1 < argc && argv[i + 1][0] != '-') { d[k++] = argv[++i]; continue; }
        }
        av[n++] = argv[i];
    }
    av[n] = NULL;
    *argv_out = av;
    *argc_out = n;
    *dirs = d;
    *n_dirs = k;
    return CLI_OK;
}

int cli_parse_adapters(const cli_command_spec *spec, int argc, char **argv, char **pos, int pos_cap, int *n_pos,
                       int *help, const char **adapter_flag, const char ***dirs, int *n_dirs) {
    char **pargv = NULL;
    int pargc, rc;
    *dirs = NULL;
    if ((rc = cli_adapter_args(argc, argv, &pargv, &pargc, dirs, n_dirs)) != CLI_OK) return rc;
    rc = cli_parse(spec, pargc, pargv, pos, pos_cap, n_pos, help);
    free(pargv);
    if (*adapter_flag) (*dirs)[(*n_dirs)++] = *adapter_flag; // a form cli_adapter_args left in ("--adapter -x")
    return rc;
}

// Loads each adapter folder onto m. A base-model mismatch (fingerprint) or a
// template other than the one the adapter was trained with is one warning
// line on stderr per adapter, here and only here.
int cli_adapters_load(const pt_model *m, const char *const *dirs, int n, const char *template_used, pt_adapter **out) {
    *out = NULL;
    if (n == 0) return CLI_OK;
    pt_adapter *a = calloc((size_t)n, sizeof *a);
    if (!a) return cli_error(CLI_ERR, "out of memory");
    for (int i = 0; i < n; i++) {
        pt_err err = {0};
        char warn[600] = "";
        if (adapter_load(&a[i], m, dirs[i], warn, sizeof warn, &err) != PT_OK) {
            cli_adapters_free(a, i);
            return cli_error(CLI_ERR, "%s", err.msg[0] ? err.msg : "cannot load the adapter");
        }
        if (warn[0]) cli_error(0, "warning: %s", warn);
        if (template_used && a[i].template_name[0] && strcmp(a[i].template_name, template_used))
            cli_error(0, "warning: adapter %s was trained with the %s chat template, this run uses %s (--template %s)",
                      a[i].name, a[i].template_name, template_used, a[i].template_name);
    }
    *out = a;
    return CLI_OK;
}

void cli_adapters_free(pt_adapter *a, int n) {
    if (!a) return;
    for (int i = 0; i < n; i++) adapter_free(&a[i]);
    free(a);
}

// ---------------------------------------------------------------------------

static int on_text(void *ud, const char *text, size_t len) {
    size_t *last = ud;
    if (len) {
        fwrite(text, 1, len, stdout);
        fflush(stdout);
        *last = (unsigned char)text[len - 1];
    }
    return 0;
}

// Reads a whole file ("-": stdin) into a malloc'd string; NUL bytes refused.
static char *read_file(const char *path, char *why, size_t why_cap) {
    char *buf = NULL;
    size_t n = 0;
    pt_err err = {0};
    int rc = strcmp(path, "-") ? pt_read_file(path, &buf, &n, &err) : pt_read_stream(stdin, "stdin", &buf, &n, &err);
    if (rc != PT_OK) {
        size_t pl = strlen(path);  // the message names the file; the caller does too
        const char *reason = !strncmp(err.msg, path, pl) && err.msg[pl] == ':' ? err.msg + pl + 2 : err.msg;
        snprintf(why, why_cap, "%.*s", (int)(why_cap > 1 ? why_cap - 1 : 0), reason);
        return NULL;
    }
    if (strlen(buf) != n) { free(buf); snprintf(why, why_cap, "the file contains NUL bytes"); return NULL; }
    return buf;
}

static const char *stop_name(pt_stop_reason r) {
    switch (r) {
    case PT_STOP_EOG: return "end of generation";
    case PT_STOP_STRING: return "stop string";
    case PT_STOP_MAX_TOKENS: return "max tokens";
    case PT_STOP_CONTEXT: return "context full";
    case PT_STOP_ABORT: return "interrupted";
    }
    return "?";
}

int cmd_generate(int argc, char **argv) {
    cli_common c;
    cli_common_defaults(&c);
    const char *prompt_opt = NULL, *file = NULL, *adapter_flag = NULL;
    float scale = 1.0f;
    int raw = 0;
    cli_opt opts[] = {
        {"prompt", 'p', OPT_STR, &prompt_opt, "TEXT", "the prompt", 0, 0},
        {"file", 'f', OPT_STR, &file, "FILE", "read the prompt from FILE (- for stdin)", 0, 0},
        {"max-tokens", 'n', OPT_INT, &c.max_tokens, "N", "most tokens to generate (default 256)", 1, 1 << 24},
        CLI_OPTS_SAMPLING(&c),
        CLI_OPTS_CHAT(&c),
        {"raw", 0, OPT_FLAG, &raw, NULL, "no chat template: tokenize the prompt as-is", 0, 0},
        {"adapter", 0, OPT_STR, &adapter_flag, "DIR", "LoRA adapter folder (PEFT layout); repeat to load several, the last is used", 0, 0},
        {"scale", 0, OPT_FLOAT, &scale, "S", "adapter strength on top of its alpha/r; 0 is the base (default 1)", -100, 100},
        CLI_OPTS_MODEL(&c),
        CLI_OPTS_CTX(&c),
        {"verbose", 'v', OPT_FLAG, &c.verbose, NULL, "print token counts and speed on stderr", 0, 0},
    };
    cli_command_spec spec = {"generate", "-p PROMPT [options]",
                             "Answers one prompt on stdout. --temp 0 is greedy and deterministic.",
                             opts, (int)(sizeof opts / sizeof opts[0])};
    char *pos[1];
    int n_pos, help, rc, n_dirs = 0;
    const char **dirs = NULL;
    rc = cli_parse_adapters(&spec, argc, argv, pos, 0, &n_pos, &help, &adapter_flag, &dirs, &n_dirs);
    if (!dirs) return rc;
    if (rc == CLI_OK && help) cli_print_help(&spec);
    else if (rc == CLI_OK && !prompt_opt && !file)
        rc = cli_error(CLI_USAGE, "generate needs a prompt: -p TEXT or -f FILE (see peftui generate --help)");
    else if (rc == CLI_OK && prompt_opt && file)
        rc = cli_error(CLI_USAGE, "give the prompt once: -p TEXT or -f FILE, not both");
    else if (rc == CLI_OK && raw && (c.template_name || c.system))
        rc = cli_error(CLI_USAGE, "--raw uses no chat template, so --template and --system do not apply");
    else if (rc == CLI_OK && scale != 1.0f && n_dirs == 0)
        rc = cli_error(CLI_USAGE, "--scale applies to an adapter: add --adapter DIR");
    if (rc != CLI_OK || help) {
        free(dirs);
        return rc;
    }

    char *prompt_buf = NULL, *default_system = NULL, *text = NULL, *answer = NULL;
    int32_t *ids = NULL;
    int n_ids = 0;
    pt_chat_template *tmpl = NULL;
    pt_adapter *adapters = NULL;
    cli_engine e;
    memset(&e, 0, sizeof e);
    const char *prompt = prompt_opt;
    if (file) {
        char why[256];
        if (!(prompt_buf = read_file(file, why, sizeof why))) {
            rc = cli_error(CLI_ERR, "%s: cannot read the prompt: %s", file, why);
            goto done;
        }
        prompt = prompt_buf;
    }
    size_t bad = cli_utf8_invalid_at(prompt, strlen(prompt));
    if (bad) {
        rc = cli_error(CLI_ERR, "the prompt is not valid UTF-8 (bad byte at offset %zu); convert it to UTF-8", bad - 1);
        goto done;
    }
    if (!*prompt) { rc = cli_error(CLI_USAGE, "the prompt is empty"); goto done; }

    if ((rc = cli_engine_open(&e, &c, 0)) != CLI_OK) goto done;
    if (!raw && (rc = cli_template_open(&tmpl, &default_system, &e.model, c.template_name)) != CLI_OK) goto done;
    if ((rc = cli_adapters_load(&e.model, dirs, n_dirs, tmpl ? template_name(tmpl) : NULL, &adapters)) != CLI_OK) goto done;
    if (n_dirs) {
        pt_err aerr = {0};
        if (runtime_set_adapter(&e.rt, &adapters[n_dirs - 1], scale, &aerr) != PT_OK) {
            rc = cli_error(CLI_ERR, "%s", aerr.msg);
            goto done;
        }
        session_reset(&e.sess);
    }
    if (raw) {
        if ((rc = cli_tokenize(&e.model, prompt, 1, 1, &ids, &n_ids)) != CLI_OK) goto done;
    } else {
        pt_msg msgs[2];
        int n = 0;
        if (c.system) msgs[n++] = (pt_msg){"system", c.system};
        msgs[n++] = (pt_msg){"user", prompt};
        pt_err err = {0};
        if (!(text = template_render(tmpl, msgs, n, 1, default_system, &err))) {
            rc = cli_error(CLI_ERR, "%s", err.msg);
            goto done;
        }
        if ((rc = cli_tokenize(&e.model, text, 0, 1, &ids, &n_ids)) != CLI_OK) goto done;
    }
    if (n_ids < 1) { rc = cli_error(CLI_ERR, "the prompt has no tokens"); goto done; }
    if (n_ids >= e.n_ctx) {
        rc = cli_error(CLI_ERR, "the prompt is %d tokens but the context holds %d (shorten the prompt or raise --ctx, up to %d)",
                       n_ids, e.n_ctx, e.model.cfg.max_ctx);
        goto done;
    }

    pt_gen_params gp;
    memset(&gp, 0, sizeof gp);
    gp.max_new_tokens = c.max_tokens;
    gp.sampling = c.sampling;
    if (tmpl) gp.n_stops = template_stops(tmpl, &gp.stops);
    size_t last = '\n';
    gp.on_text = on_text;
    gp.ud = &last;
    cli_sigint_install();
    gp.abort_flag = cli_abort_flag();
    pt_gen_result res;
    memset(&res, 0, sizeof res);
    pt_err err = {0};
    int grc = generate(&e.sess, ids, n_ids, &gp, &res, &answer, &err);
    if (last != '\n' || res.n_gen == 0) fputc('\n', stdout);
    fflush(stdout);
    if (grc != PT_OK) {
        rc = cli_error(CLI_ERR, "%s", err.msg[0] ? err.msg : pt_status_str((pt_status)grc));
        goto done;
    }
    if (c.verbose) {
        fprintf(stderr, "prompt: %d tokens (%d run) in %.2f s, %.1f tok/s\n", res.n_prompt, res.n_prefilled,
                res.t_prefill_s, res.t_prefill_s > 0 ? res.n_prefilled / res.t_prefill_s : 0.0);
        fprintf(stderr, "answer: %d tokens in %.2f s, %.1f tok/s; stopped: %s\n", res.n_gen, res.t_decode_s,
                res.t_decode_s > 0 ? res.n_gen / res.t_decode_s : 0.0, stop_name(res.stop));
        fprintf(stderr, "model: %s, template: %s, load %.2f s\n", e.model.path, tmpl ? template_name(tmpl) : "raw", e.load_s);
        if (n_dirs) fprintf(stderr, "adapter: %s (scale %g)\n", adapters[n_dirs - 1].name, scale);
    }
    rc = CLI_OK;
    if (res.stop == PT_STOP_ABORT) rc = cli_error(130, "interrupted"); // 128 + SIGINT, as shells report it
done:
    free(answer);
    free(ids);
    free(text);
    free(default_system);
    template_free(tmpl);
    cli_engine_close(&e);
    cli_adapters_free(adapters, n_dirs);
    free(dirs);
    free(prompt_buf);
    return rc;
}
