// tui_main.c - the workbench's one loop: poll() on the terminal and the
// workspace's event descriptor; keys go to tui_dispatch_key, events to the
// state; a few times a second the state re-reads the engine's snapshots; a
// frame is drawn when something changed, at most ~30 times a second.
#include <errno.h>
#include <langinfo.h>
#include <math.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "tui/tui.h"

#define FRAME_S (1.0 / 30)     // the most frames a second
#define REFRESH_S 0.25         // how often snapshots are re-read

// Signals are the one thing a loop cannot be handed as an argument: SIGTERM
// and SIGHUP set this flag, and the loop quits as if asked.
static volatile sig_atomic_t g_term_signal;

static void on_term(int sig) {
    g_term_signal = sig;
}

// A crash must leave a usable terminal: restore it, then die as we would have.
static void on_fatal(int sig) {
    tui_term_end();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);   // raw mode makes ^C a key; this covers the moments before it
    sa.sa_handler = on_fatal;
    sa.sa_flags = (int)SA_RESETHAND;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGABRT, &sa, NULL);
    sigaction(SIGFPE, &sa, NULL);
}

void tui_say(tui_app *a, int role, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->status, sizeof a->status, fmt, ap);
    va_end(ap);
    for (char *p = a->status; *p; p++)
        if (*p == '\n' || *p == '\t') *p = ' ';
    a->status_role = role;
    a->status_at = a->now;
    a->dirty = 1;
}

void tui_switch(tui_app *a, int scr) {
    if (scr < 0 || scr >= SCR_COUNT) return;
    if (a->ed.active) tui_edit_cancel(a);
    a->scr = scr;
    a->help = 0;
    const tui_screen *s = tui_screens[scr];
    if (s->enter) s->enter(a);
    a->dirty = 1;
}

static void resize(tui_app *a) {
    int h, w;
    tui_term_size(&h, &w);
    if (h < 1) h = 1;
    if (w < 1) w = 1;
    if (h != a->cv.h || w != a->cv.w) canvas_resize(&a->cv, w, h);
    a->dirty = 1;
}

static int utf8_locale(void) {
    const char *cs = nl_langinfo(CODESET);
    return cs && (!strcasecmp(cs, "UTF-8") || !strcasecmp(cs, "utf8"));
}

static void drain_events(tui_app *a) {
    pt_event ev[32];
    int n;
    while ((n = pt_ws_events(a->ws, ev, 32)) > 0)
        for (int i = 0; i < n; i++) tui_on_event(a, &ev[i]);
}

// Quitting with a job that has done nothing worth saving, or none: at once.
static int loop(tui_app *a) {
    double last_frame = 0, last_refresh = 0;
    for (;;) {
        a->now = pt_now_s();
        if (g_term_signal) return 0;
        if (a->quit_now) return 0;
        if (a->now - last_refresh >= REFRESH_S) {
            tui_refresh(a);
            last_refresh = a->now;
        }
        if (a->dirty && a->now - last_frame >= FRAME_S) {
            tui_draw_frame(a);
            last_frame = a->now;
            a->dirty = 0;
        }
        double wait = REFRESH_S - (a->now - last_refresh);
        if (a->dirty) {
            double f = FRAME_S - (a->now - last_frame);
            if (f < wait) wait = f;
        }
        int timeout = wait > 0 ? (int)(wait * 1000) + 1 : 0;
        struct pollfd fds[2] = {{.fd = STDIN_FILENO, .events = POLLIN}, {.fd = pt_ws_event_fd(a->ws), .events = POLLIN}};
        int r = poll(fds, 2, timeout);
        if (r < 0 && errno != EINTR) return -1;
        a->now = pt_now_s();
        if (r > 0 && (fds[0].revents & (POLLHUP | POLLERR)) && !(fds[0].revents & POLLIN)) return 0;   // the terminal went
        if (r > 0 && (fds[1].revents & POLLIN)) drain_events(a);
        // keys: also after EINTR (a SIGWINCH makes ncurses queue KEY_RESIZE)
        int key;
        while ((key = tui_term_key()) >= 0) {
            if (key == TK_RESIZE) {
                resize(a);
                continue;
            }
            if (tui_dispatch_key(a, key) == TUI_QUIT) return 0;
            a->dirty = 1;
        }
    }
}

static void app_defaults(tui_app *a) {
    a->scr = SCR_MODEL;
    a->active = PT_BASE;
    a->chat_scale = NAN;
    tui_state_defaults(a);
}

int tui_run(const char *model_path, const char *device, int threads) {
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        fprintf(stderr, "peftui: the workbench needs a terminal (for scripts, use a subcommand: peftui help)\n");
        return 2;
    }
    setlocale(LC_ALL, "");
    tui_app *a = calloc(1, sizeof *a);
    if (!a) {
        fprintf(stderr, "peftui: out of memory\n");
        return 1;
    }
    pt_err err = {0};
    pt_ws_opts o;
    pt_ws_opts_default(&o);
    if (device) o.device = device;
    o.threads = threads;
    if (pt_ws_create(&a->ws, &o, &err)) {
        fprintf(stderr, "peftui: %s\n", err.msg);
        free(a);
        return 1;
    }
    a->utf8 = utf8_locale();
    app_defaults(a);
    tui_settings_load(a);
    if (model_path) snprintf(a->model_path, sizeof a->model_path, "%s", model_path);
    install_signals();
    int rc = 0;
    if (tui_term_init(a) || tui_edit_init(a)) {
        tui_term_end();
        fprintf(stderr, "peftui: cannot start the terminal (is TERM set? try TERM=xterm-256color)\n");
        rc = 1;
        goto done;
    }
    int h, w;
    tui_term_size(&h, &w);
    if (canvas_init(&a->cv, w > 0 ? w : 80, h > 0 ? h : 24, a->utf8)) {
        tui_term_end();
        fprintf(stderr, "peftui: out of memory\n");
        rc = 1;
        goto done;
    }
    a->now = pt_now_s();
    tui_start(a, model_path != NULL);
    a->dirty = 1;
    rc = loop(a) ? 1 : 0;
    tui_settings_save(a);
    tui_edit_save_history(a);
    tui_edit_free(a);
    tui_term_end();
done:
    tui_state_free(a);
    pt_ws_destroy(a->ws);
    canvas_free(&a->cv);
    if (g_term_signal) fprintf(stderr, "peftui: stopped by signal %d\n", (int)g_term_signal);
    free(a);
    return rc;
}
