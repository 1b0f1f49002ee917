// cmd_generate.c - `peftui generate -p PROMPT`: one answer on stdout, the
// chat template applied unless --raw, streamed as it is made.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

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

// ---------------------------------------------------------------------------

// Reads a whole file ("-": stdin) into a malloc'd string; NUL bytes refused.
static char *read_file(const char *path, char *why, size_t why_cap) {
    char *buf = NULL;
    size_t n = 0;
    pt_err err = {0};
    if (pt_read_text(path, &buf, &n, &err) != PT_OK) {
        size_t pl = strlen(path);  // the message names the file; the caller does too
        const char *reason = !strncmp(err.msg, path, pl) && err.msg[pl] == ':' ? err.msg + pl + 2 : err.msg;
        snprintf(why, why_cap, "%.*s", (int)(why_cap > 1 ? why_cap - 1 : 0), reason);
        return NULL;
    }
    if (strlen(buf) != n) { free(buf); snprintf(why, why_cap, "the file contains NUL bytes"); return NULL; }
    return buf;
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
        {"adapter", 0, OPT_STR, &adapter_flag, "DIR", "LoRA adapter folder (PEFT layout) or GGUF LoRA; repeat to load several, the last is used", 0, 0},
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

    char *prompt_buf = NULL;
    int ids[64], chat = 0;
    pt_ws *ws = NULL;
    const char *prompt = prompt_opt;
    if (file) {
        char why[256];
        if (!(prompt_buf = read_file(file, why, sizeof why))) {
            rc = cli_error(CLI_ERR, "%s: cannot read the prompt: %s", file, why);
            goto done;
        }
        prompt = prompt_buf;
    }
    size_t bad = pt_utf8_invalid_at(prompt, strlen(prompt));
    if (bad) {
        rc = cli_error(CLI_ERR, "the prompt is not valid UTF-8 (bad byte at offset %zu); convert it to UTF-8", bad - 1);
        goto done;
    }
    if (!*prompt) { rc = cli_error(CLI_USAGE, "the prompt is empty"); goto done; }
    if (n_dirs > 64) { rc = cli_error(CLI_USAGE, "at most 64 --adapter"); goto done; }

    if ((rc = cli_ws_open(&ws, &c)) != CLI_OK) goto done;
    if ((rc = cli_adapters_load(ws, dirs, n_dirs, ids)) != CLI_OK) goto done;
    pt_chat_opts co;
    pt_chat_opts_default(&co);
    co.template_name = c.template_name;
    co.system = c.system;
    co.raw = raw;
    co.sampling = c.sampling;
    co.max_tokens = c.max_tokens;
    co.adapter = n_dirs ? ids[n_dirs - 1] : PT_BASE;
    co.scale = scale;
    co.n_ctx = c.ctx;
    char warn[512];
    pt_err err = {0};
    if (pt_chat_open(ws, &co, &chat, warn, sizeof warn, &err) != PT_OK) {
        rc = cli_error(c.template_name && err.code == PT_ERR_IO ? CLI_USAGE : CLI_ERR, "%s", err.msg);
        goto done;
    }
    if (warn[0]) cli_error(0, "warning: %s", warn);
    cli_sigint_install();
    int stop = 0, last = '\n';
    int grc = cli_chat_turn(ws, chat, prompt, &stop, &last, &err);
    pt_chat_info info;
    pt_chat_info_get(ws, chat, &info);
    if (grc == PT_OK && (last != '\n' || info.n_gen == 0)) fputc('\n', stdout);
    fflush(stdout);
    if (grc != PT_OK) {
        if (err.code == PT_ERR_RANGE) rc = cli_error(CLI_ERR, "%s; raise --ctx for more room", err.msg);
        else rc = cli_error(CLI_ERR, "%s", err.msg);
        goto done;
    }
    if (c.verbose) {
        pt_model_info mi;
        pt_ws_model_info(ws, &mi, &err);
        fprintf(stderr, "prompt: %d tokens (%d run) in %.2f s, %.1f tok/s\n", info.n_prompt, info.n_prefilled,
                info.prefill_s, info.prefill_s > 0 ? info.n_prefilled / info.prefill_s : 0.0);
        fprintf(stderr, "answer: %d tokens in %.2f s, %.1f tok/s; stopped: %s\n", info.n_gen, info.decode_s,
                info.decode_s > 0 ? info.n_gen / info.decode_s : 0.0, pt_stop_name(stop));
        fprintf(stderr, "model: %s, template: %s\n", mi.path, info.template_name);
        if (n_dirs) {
            pt_adapter_info ai;
            pt_ws_adapter_info(ws, ids[n_dirs - 1], &ai);
            fprintf(stderr, "adapter: %s (scale %g)\n", ai.name, scale);
        }
    }
    rc = CLI_OK;
    if (stop == PT_STOP_CANCEL) rc = cli_error(130, "interrupted"); // 128 + SIGINT, as shells report it
done:
    if (chat) pt_chat_close(ws, chat);
    pt_ws_destroy(ws);
    free(dirs);
    free(prompt_buf);
    return rc;
}
