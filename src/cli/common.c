// common.c - what the subcommands share beyond option parsing: finding and
// loading the model (with a one-line error that says what to do next), the
// backend/runtime/session stack, the chat template, UTF-8 checks and Ctrl-C.
#include "cli.h"
#include "core/pt_time.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "text/tokenizer.h"

int cli_default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) return 2;
    return n > 256 ? 256 : (int)n;
}

void cli_common_defaults(cli_common *c) {
    memset(c, 0, sizeof *c);
    c->threads = cli_default_threads();
    c->backend = "auto";
    sampling_defaults(&c->sampling);
    c->max_tokens = 256;
}

static int path_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

const char *cli_model_path(const char *opt, char *buf, size_t cap) {
    if (opt) return opt;
    const char *env = getenv("PEFTUI_MODEL");
    if (env && *env) return env;
#ifdef PEFTUI_SOURCE_DIR
    snprintf(buf, cap, "%s/%s", PEFTUI_SOURCE_DIR, CLI_DEFAULT_MODEL);
    if (path_exists(buf)) return buf;
    if (path_exists("./" CLI_DEFAULT_MODEL)) return "./" CLI_DEFAULT_MODEL;
    return buf; // absent: named in the error message
#else
    snprintf(buf, cap, "./%s", CLI_DEFAULT_MODEL);
    return buf;
#endif
}

// What to do next, by kind of failure.
static const char *load_hint(pt_status code) {
    switch (code) {
    case PT_ERR_IO: return "check the path and its permissions, or pass -m PATH";
    case PT_ERR_FORMAT: return "the file looks corrupt or truncated: fetch it again (scripts/setup.sh) or pass another -m";
    case PT_ERR_UNSUPPORTED: return "peftui runs LLaMA-family models (llama, mistral, qwen2) in F32, F16, BF16, Q8_0, Q4_0 or Q4_1";
    case PT_ERR_NOMEM: return "not enough memory for this model";
    default: return "pass -m with a GGUF file or a Hugging Face folder";
    }
}

int cli_model_load(pt_model *m, const char *opt_path, double *load_s) {
    char buf[4096];
    const char *path = cli_model_path(opt_path, buf, sizeof buf);
    memset(m, 0, sizeof *m);
    if (!path_exists(path))
        return cli_error(CLI_ERR, "model not found: %s (run scripts/setup.sh to fetch the default model, or pass -m PATH)", path);
    pt_err err = {0};
    double t0 = pt_now_s();
    int rc = model_load(m, path, &err);
    if (load_s) *load_s = pt_now_s() - t0;
    if (rc != PT_OK) {
        if (!err.msg[0]) snprintf(err.msg, sizeof err.msg, "%.400s: %s", path, pt_status_str((pt_status)rc));
        return cli_error(CLI_ERR, "%s (%s)", err.msg, load_hint((pt_status)rc));
    }
    return CLI_OK;
}

int cli_device_name_ok(const char *name) {
    const char *ok[] = {"auto", "cpu", "cuda", "cpu-naive", "emu"};
    if (!name) return 1;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (!strcmp(name, ok[i])) return 1;
    return 0;
}

int cli_engine_open(cli_engine *e, const cli_common *c, int min_ctx) {
    pt_err err = {0};
    int rc;
    memset(e, 0, sizeof *e);
    if (!cli_device_name_ok(c->backend))
        return cli_error(CLI_USAGE, "unknown device '%s' (use auto, cpu or cuda)", c->backend);
    if ((rc = cli_model_load(&e->model, c->model, &e->load_s)) != CLI_OK) return rc;
    e->model_ok = 1;
    int max_ctx = e->model.cfg.max_ctx > 0 ? e->model.cfg.max_ctx : 4096;
    int n_ctx = c->ctx > 0 ? c->ctx : (max_ctx < 4096 ? max_ctx : 4096);
    if (n_ctx < min_ctx) n_ctx = min_ctx;
    if (n_ctx > max_ctx) {
        cli_engine_close(e);
        return cli_error(CLI_ERR, "a context of %d tokens is more than this model's %d (use --ctx %d or less)",
                         n_ctx, max_ctx, max_ctx);
    }
    e->n_ctx = n_ctx;
    if (backend_create(&e->be, c->backend, c->threads, &err) != PT_OK) {
        cli_engine_close(e);
        return cli_error(CLI_ERR, "%s (try --device cpu)", err.msg);
    }
    int max_batch = n_ctx < 128 ? n_ctx : 128;
    if (runtime_init(&e->rt, e->be, &e->model, n_ctx, max_batch, &err) != PT_OK) {
        cli_engine_close(e);
        return cli_error(CLI_ERR, "%s (try a smaller --ctx)", err.msg);
    }
    e->rt_ok = 1;
    if (session_init(&e->sess, &e->rt, &err) != PT_OK) {
        cli_engine_close(e);
        return cli_error(CLI_ERR, "%s", err.msg);
    }
    e->sess_ok = 1;
    return CLI_OK;
}

void cli_engine_close(cli_engine *e) {
    if (e->sess_ok) session_free(&e->sess);
    if (e->rt_ok) runtime_free(&e->rt);
    if (e->be) backend_destroy(e->be);
    if (e->model_ok) model_free(&e->model);
    memset(e, 0, sizeof *e);
}

int cli_template_open(pt_chat_template **t, char **default_system, const pt_model *m, const char *name) {
    pt_err err = {0};
    const char *jinja = m->chat_template ? m->chat_template : (m->tok ? tokenizer_chat_template(m->tok) : NULL);
    const char *guess = template_guess(jinja);
    *t = NULL;
    *default_system = NULL;
    if (template_load(t, name ? name : guess, &err) != PT_OK)
        return cli_error(err.code == PT_ERR_IO && name ? CLI_USAGE : CLI_ERR, "%s", err.msg);
    // the model's own default system message belongs to the model's own template
    if (!strcmp(template_name(*t), guess)) *default_system = template_jinja_default_system(jinja);
    return CLI_OK;
}

size_t cli_utf8_invalid_at(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned c = p[i];
        size_t n;
        unsigned min;
        if (c < 0x80) { i++; continue; }
        else if ((c & 0xE0) == 0xC0) { n = 1; min = 0x80; c &= 0x1F; }
        else if ((c & 0xF0) == 0xE0) { n = 2; min = 0x800; c &= 0x0F; }
        else if ((c & 0xF8) == 0xF0) { n = 3; min = 0x10000; c &= 0x07; }
        else return i + 1;
        for (size_t k = 1; k <= n; k++) {
            if (i + k >= len || (p[i + k] & 0xC0) != 0x80) return i + 1;
            c = (c << 6) | (p[i + k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return i + 1;
        i += n + 1;
    }
    return 0;
}

int cli_tokenize(const pt_model *m, const char *text, int add_special, int parse_special,
                 int32_t **ids, int *n) {
    pt_err err = {0};
    size_t len = strlen(text);
    size_t bad = cli_utf8_invalid_at(text, len);
    *ids = NULL;
    *n = 0;
    if (bad) return cli_error(CLI_ERR, "the text is not valid UTF-8 (bad byte at offset %zu); convert it to UTF-8", bad - 1);
    int rc = tokenizer_encode(m->tok, text, len, add_special, parse_special, ids, n, &err);
    if (rc != PT_OK) return cli_error(CLI_ERR, "%s", err.msg[0] ? err.msg : pt_status_str((pt_status)rc));
    return CLI_OK;
}

static volatile int g_abort;
static volatile int g_sigint;

static void on_sigint(int sig) {
    (void)sig;
    g_abort = 1;
    g_sigint = 1;
}

void cli_sigint_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; // no SA_RESTART: a blocked read returns EINTR so chat can react
    sigaction(SIGINT, &sa, NULL);
}

volatile int *cli_abort_flag(void) { return &g_abort; }
volatile int *cli_sigint_seen(void) { return &g_sigint; }
