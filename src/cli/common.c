// common.c - what the subcommands share beyond option parsing: finding the
// model, opening the workspace on it (with a one-line error that says what
// to do next), waiting for its tasks, loading adapters, and Ctrl-C.
#include "cli.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

int cli_engine_error(const pt_err *err, int usage_on_arg) {
    int code = usage_on_arg && err->code == PT_ERR_ARG ? CLI_USAGE : CLI_ERR;
    return cli_error(code, "%s", err->msg[0] ? err->msg : pt_status_str(err->code));
}

void cli_drain_warnings(pt_ws *ws) {
    pt_event ev[16];
    int n;
    while ((n = pt_ws_events(ws, ev, 16)) > 0)
        for (int i = 0; i < n; i++)
            if (ev[i].kind == PT_EV_WARNING || ev[i].kind == PT_EV_DROPPED) cli_error(0, "warning: %s", ev[i].text);
}

int cli_wait_task(pt_ws *ws, int task) {
    pt_err err = {0};
    int rc = pt_ws_wait(ws, task, &err);
    cli_drain_warnings(ws);
    return rc ? cli_error(CLI_ERR, "%s", err.msg) : CLI_OK;
}

int cli_ws_create(pt_ws **ws, const char *device, int threads, int ctx) {
    pt_err err = {0};
    pt_ws_opts o;
    pt_ws_opts_default(&o);
    o.device = device;
    o.threads = threads;
    o.n_ctx = ctx;
    if (!pt_device_name_ok(device)) return cli_error(CLI_USAGE, "unknown device '%s' (use auto, cpu or cuda)", device);
    if (pt_ws_create(ws, &o, &err) != PT_OK) return cli_error(CLI_ERR, "%s (try --device cpu)", err.msg);
    return CLI_OK;
}

int cli_ws_open(pt_ws **ws, const cli_common *c) {
    char buf[4096];
    pt_err err = {0};
    int task, rc;
    *ws = NULL;
    if ((rc = cli_ws_create(ws, c->backend, c->threads, c->ctx)) != CLI_OK) return rc;
    if (pt_ws_load_model(*ws, cli_model_path(c->model, buf, sizeof buf), &task, &err) != PT_OK) rc = cli_error(CLI_ERR, "%s", err.msg);
    else rc = cli_wait_task(*ws, task);
    if (rc != CLI_OK) {
        pt_ws_destroy(*ws);
        *ws = NULL;
    }
    return rc;
}

int cli_adapters_load(pt_ws *ws, const char *const *dirs, int n, int *ids) {
    for (int i = 0; i < n; i++) {
        pt_err err = {0};
        int task;
        if ((ids[i] = pt_ws_adapter_find(ws, dirs[i]))) continue;   // the same folder twice: one adapter
        if (pt_ws_adapter_load(ws, dirs[i], &ids[i], &task, &err) != PT_OK) return cli_error(CLI_ERR, "%s", err.msg);
        int rc = cli_wait_task(ws, task);   // a base-model mismatch comes as a warning
        if (rc != CLI_OK) return rc;
    }
    return CLI_OK;
}

int cli_chat_turn(pt_ws *ws, int chat, const char *text, int *stop, int *last_byte, pt_err *err) {
    *stop = 0;
    int rc = pt_chat_send(ws, chat, text, err);
    if (rc) return rc;
    pt_event ev[64];
    int cancelled = 0;
    for (;;) {
        if (*cli_abort_flag() && !cancelled) {
            pt_chat_cancel(ws, chat);
            cancelled = 1;
        }
        pt_ws_wait_event(ws, 100);
        int n = pt_ws_events(ws, ev, 64);
        for (int i = 0; i < n; i++) {
            const pt_event *e = &ev[i];
            if (e->kind == PT_EV_TOKEN && e->src == chat) {
                size_t len = strlen(e->text);
                if (len) {
                    fwrite(e->text, 1, len, stdout);
                    fflush(stdout);
                    if (last_byte) *last_byte = (unsigned char)e->text[len - 1];
                }
            } else if (e->kind == PT_EV_WARNING || e->kind == PT_EV_DROPPED) {
                fflush(stdout);
                fprintf(stderr, "%s\n", e->text);
            } else if (e->kind == PT_EV_REPLY && e->src == chat) {
                *stop = e->stop;
                if (e->status) {
                    pt_fail(err, (pt_status)e->status, "%s", e->text);
                    return e->status;
                }
                return PT_OK;
            }
        }
    }
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
