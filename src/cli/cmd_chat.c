// cmd_chat.c - `peftui chat`: a line-editing REPL (GNU readline, history in
// $XDG_CONFIG_HOME/peftui/history) that renders the whole conversation with
// the chat template each turn; the session reuses the cached prefix, so only
// the new turn is prefilled. Ctrl-C stops an answer or clears the line,
// Ctrl-D leaves. With stdin not a terminal, lines are read plainly (for
// scripts and tests) and each answer is printed followed by a newline.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "cli.h"

#define HISTORY_MAX 1000

typedef struct {
    cli_common c;              // model, threads, sampling, max_tokens
    pt_ws *ws;
    int chat;                  // the session
    int tty;
    cli_opt settings[8];       // what /set can change
    int n_settings;
    int *adapters;             // (n_adapters) registry ids, loaded with --adapter
    int n_adapters;
    int active;                // index into adapters, -1: the base model
    float scale;               // user scale of the active adapter
} chat;

// ---------------------------------------------------------------------------
// one answer

static void answer(chat *s, const char *line) {
    size_t bad = pt_utf8_invalid_at(line, strlen(line));
    if (bad) {
        cli_error(CLI_ERR, "that line is not valid UTF-8 (bad byte at offset %zu); nothing was sent", bad - 1);
        return;
    }
    pt_err err = {0};
    // the settings /set changed take effect with this turn
    if (pt_chat_set_sampling(s->ws, s->chat, &s->c.sampling, s->c.max_tokens, &err) != PT_OK) {
        cli_error(CLI_ERR, "%s", err.msg);
        return;
    }
    *cli_abort_flag() = 0;
    *cli_sigint_seen() = 0;
    int stop = 0;
    int rc = cli_chat_turn(s->ws, s->chat, line, &stop, NULL, &err);
    fputc('\n', stdout);
    fflush(stdout);
    *cli_abort_flag() = 0;
    if (rc != PT_OK) {
        cli_error(CLI_ERR, "%s", err.msg);
        return;
    }
    pt_chat_info info;
    pt_chat_info_get(s->ws, s->chat, &info);
    if (s->c.verbose)
        fprintf(stderr, "(prompt %d tokens, %d of them run, %.1f tok/s; answer %d tokens, %.1f tok/s)\n", info.n_prompt,
                info.n_prefilled, info.prefill_s > 0 ? info.n_prefilled / info.prefill_s : 0.0, info.n_gen,
                info.decode_s > 0 ? info.n_gen / info.decode_s : 0.0);
    if (stop == PT_STOP_CANCEL) fprintf(stderr, "(stopped)\n");
    else if (stop == PT_STOP_FULL) fprintf(stderr, "(the context is full: /reset to start over)\n");
    else if (stop == PT_STOP_LIMIT) fprintf(stderr, "(stopped at %d tokens: /set max_tokens N for longer answers)\n", s->c.max_tokens);
}

// ---------------------------------------------------------------------------
// slash commands

static const struct {
    const char *name, *args, *help;
} SLASH[] = {
    {"/help", "", "this list"},
    {"/reset", "", "forget the conversation"},
    {"/system", "[TEXT]", "set the system message (no TEXT: back to the default)"},
    {"/set", "NAME VALUE", "change a setting: temp top_k top_p min_p repeat_penalty repeat_last_n seed max_tokens"},
    {"/show", "", "show the current settings"},
    {"/adapter", "[NAME|N|none]", "use a loaded LoRA adapter, or none (the base); no NAME: list them"},
    {"/scale", "S", "the active adapter's strength (1: as trained, 0: the base)"},
    {"/quit", "", "leave (or Ctrl-D)"},
};

static const char *adapter_name(const chat *s, int i, char *buf, size_t cap) {
    pt_adapter_info ai;
    pt_ws_adapter_info(s->ws, s->adapters[i], &ai);
    snprintf(buf, cap, "%s", ai.name);
    return buf;
}

static void show_settings(chat *s) {
    const pt_sampling *p = &s->c.sampling;
    pt_chat_info info;
    pt_model_info mi;
    pt_err err = {0};
    char name[128];
    pt_chat_info_get(s->ws, s->chat, &info);
    pt_ws_model_info(s->ws, &mi, &err);
    printf("model          %s\n", mi.path);
    printf("template       %s\n", info.template_name);
    printf("system         %s\n", info.system[0] ? info.system : "(none)");
    if (s->n_adapters)
        printf("adapter        %s (scale %g)\n", s->active >= 0 ? adapter_name(s, s->active, name, sizeof name) : "none: the base model",
               s->scale);
    printf("context        %d of %d tokens in use\n", info.tokens_cached, info.n_ctx);
    printf("temp           %g\ntop_k          %d\ntop_p          %g\nmin_p          %g\n", p->temp, p->top_k, p->top_p,
           p->min_p);
    printf("repeat_penalty %g\nrepeat_last_n  %d\nseed           %llu\nmax_tokens     %d\n", p->repeat_penalty,
           p->repeat_last_n, (unsigned long long)p->seed, s->c.max_tokens);
}

// Makes adapter i (-1: none) active at s->scale from the next answer on.
// The workspace keeps the cached conversation when it is still valid.
static int use_adapter(chat *s, int i) {
    pt_err err = {0};
    char warn[512];
    if (pt_chat_set_adapter(s->ws, s->chat, i >= 0 ? s->adapters[i] : PT_BASE, s->scale, warn, sizeof warn, &err) != PT_OK)
        return cli_error(CLI_ERR, "%s", err.msg);
    if (warn[0]) cli_error(0, "warning: %s", warn);
    s->active = i;
    return CLI_OK;
}

static void list_adapters(const chat *s) {
    if (!s->n_adapters) {
        printf("(no adapters loaded: start the chat with --adapter DIR)\n");
        return;
    }
    for (int i = 0; i < s->n_adapters; i++) {
        pt_adapter_info ai;
        pt_ws_adapter_info(s->ws, s->adapters[i], &ai);
        printf("%c %d  %-24s r=%d alpha=%g%s%s\n", i == s->active ? '*' : ' ', i + 1, ai.name, ai.r, ai.alpha,
               ai.base_name[0] ? "  base: " : "", ai.base_name);
    }
    printf("%c    none (the base model)\n", s->active < 0 ? '*' : ' ');
}

// /adapter NAME|N|none
static void slash_adapter(chat *s, const char *arg) {
    if (!*arg) { list_adapters(s); return; }
    int pick = -2;
    char name[128];
    if (!strcmp(arg, "none") || !strcmp(arg, "base")) pick = -1;
    for (int i = 0; i < s->n_adapters && pick == -2; i++)
        if (!strcmp(arg, adapter_name(s, i, name, sizeof name))) pick = i;
    if (pick == -2) {
        char *end;
        long k = strtol(arg, &end, 10);
        if (!*end && k >= 1 && k <= s->n_adapters) pick = (int)k - 1;
    }
    if (pick == -2) {
        if (!s->n_adapters) cli_error(CLI_ERR, "no adapters loaded (start the chat with --adapter DIR)");
        else cli_error(CLI_ERR, "no adapter '%s' (type /adapter for the list)", arg);
        return;
    }
    if (use_adapter(s, pick) == CLI_OK)
        printf("(%s%s)\n", pick >= 0 ? "adapter " : "", pick >= 0 ? adapter_name(s, pick, name, sizeof name) : "no adapter: the base model");
}

static void slash_scale(chat *s, const char *arg) {
    char *end;
    double v = strtod(arg, &end);
    if (!*arg || *end || !(v >= -100 && v <= 100)) {
        cli_error(CLI_ERR, "usage: /scale S (a number from -100 to 100; 1 is the adapter as trained)");
        return;
    }
    s->scale = (float)v;
    if (use_adapter(s, s->active) == CLI_OK) {
        printf("(scale = %g", v);
        if (s->active < 0) printf("; no adapter is active: /adapter NAME");
        printf(")\n");
    }
}

static void init_settings(chat *s) {
    pt_sampling *p = &s->c.sampling;
    const cli_opt set[] = {
        {"temp", 0, OPT_FLOAT, &p->temp, "T", "", 0, 100},
        {"top_k", 0, OPT_INT, &p->top_k, "K", "", 0, 1 << 30},
        {"top_p", 0, OPT_FLOAT, &p->top_p, "P", "", 0, 1},
        {"min_p", 0, OPT_FLOAT, &p->min_p, "P", "", 0, 1},
        {"repeat_penalty", 0, OPT_FLOAT, &p->repeat_penalty, "R", "", 0.01, 100},
        {"repeat_last_n", 0, OPT_INT, &p->repeat_last_n, "N", "", -1, 1 << 30},
        {"seed", 0, OPT_U64, &p->seed, "S", "", 0, 0},
        {"max_tokens", 0, OPT_INT, &s->c.max_tokens, "N", "", 1, 1 << 24},
    };
    memcpy(s->settings, set, sizeof set);
    s->n_settings = (int)(sizeof set / sizeof set[0]);
}

// Returns 1 to leave the chat.
static int slash(chat *s, char *line) {
    char *cmd = line, *arg = line + strcspn(line, " \t");
    if (*arg) *arg++ = '\0';
    arg += strspn(arg, " \t");
    if (!strcmp(cmd, "/quit") || !strcmp(cmd, "/exit")) return 1;
    if (!strcmp(cmd, "/help")) {
        for (size_t i = 0; i < sizeof SLASH / sizeof SLASH[0]; i++) {
            char left[32];
            snprintf(left, sizeof left, "%s %s", SLASH[i].name, SLASH[i].args);
            printf("  %-22s %s\n", left, SLASH[i].help);
        }
        printf("  Ctrl-C stops an answer or clears the line; Ctrl-D leaves.\n");
    } else if (!strcmp(cmd, "/reset")) {
        pt_err err = {0};
        if (pt_chat_reset(s->ws, s->chat, &err) != PT_OK) cli_error(CLI_ERR, "%s", err.msg);
        else printf("(conversation cleared)\n");
    } else if (!strcmp(cmd, "/system")) {
        pt_err err = {0};
        if (pt_chat_set_system(s->ws, s->chat, *arg ? arg : NULL, &err) != PT_OK) cli_error(CLI_ERR, "%s", err.msg);
        else printf("(system message %s)\n", *arg ? "set" : "back to the default");
    } else if (!strcmp(cmd, "/show")) {
        show_settings(s);
    } else if (!strcmp(cmd, "/adapter") || !strcmp(cmd, "/adapters")) {
        size_t al = strlen(arg);
        while (al && (arg[al - 1] == ' ' || arg[al - 1] == '\t')) arg[--al] = '\0';
        slash_adapter(s, arg);
    } else if (!strcmp(cmd, "/scale")) {
        slash_scale(s, arg);
    } else if (!strcmp(cmd, "/set")) {
        char *name = arg, *val = arg + strcspn(arg, " \t");
        if (*val) *val++ = '\0';
        val += strspn(val, " \t");
        size_t vl = strlen(val);
        while (vl && (val[vl - 1] == ' ' || val[vl - 1] == '\t')) val[--vl] = '\0';
        const cli_opt *o = NULL;
        for (int i = 0; i < s->n_settings; i++) {
            // accept top-k as well as top_k
            char canon[32];
            snprintf(canon, sizeof canon, "%s", name);
            for (char *q = canon; *q; q++) if (*q == '-') *q = '_';
            if (!strcmp(canon, s->settings[i].name)) o = &s->settings[i];
        }
        char why[256];
        if (!*name || !*val) {
            cli_error(CLI_ERR, "usage: /set NAME VALUE (names: temp top_k top_p min_p repeat_penalty repeat_last_n seed max_tokens)");
        } else if (!o) {
            cli_error(CLI_ERR, "unknown setting '%s' (names: temp top_k top_p min_p repeat_penalty repeat_last_n seed max_tokens)", name);
        } else if (cli_parse_value(o, val, why, sizeof why)) {
            cli_error(CLI_ERR, "/set %s: %s", o->name, why);
        } else {
            printf("(%s = %s)\n", o->name, val);
        }
    } else {
        cli_error(CLI_ERR, "unknown command %s (type /help for the list)", cmd);
    }
    fflush(stdout);
    return 0;
}

// ---------------------------------------------------------------------------
// reading lines

static char *g_line;
static int g_have_line;

static void on_line(char *line) {
    g_line = line;
    g_have_line = 1;
    rl_callback_handler_remove(); // back to cooked mode while the answer streams
}

// readline's callback interface, so that Ctrl-C (our handler: a flag and
// EINTR) can clear the line here instead of inside a signal handler.
// Returns a malloc'd line, or NULL at end of input.
static char *read_tty(void) {
    g_have_line = 0;
    g_line = NULL;
    rl_callback_handler_install("> ", on_line);
    while (!g_have_line) {
        fd_set fds;
        int fd = fileno(rl_instream ? rl_instream : stdin);
        FD_ZERO(&fds);
        FD_SET(fd, &fds);
        if (select(fd + 1, &fds, NULL, NULL, NULL) < 0) {
            if (errno != EINTR) { rl_callback_handler_remove(); return NULL; }
            if (*cli_sigint_seen()) {
                *cli_sigint_seen() = 0;
                *cli_abort_flag() = 0;
                rl_free_line_state();
                rl_callback_sigcleanup();
                rl_replace_line("", 0);
                rl_point = rl_end = 0;
                fputs("^C\n", rl_outstream ? rl_outstream : stdout);
                rl_on_new_line();
                rl_redisplay();
            }
            continue;
        }
        rl_callback_read_char();
    }
    return g_line;
}

static char *read_plain(void) {
    char *line = NULL;
    size_t cap = 0;
    for (;;) {
        errno = 0;
        ssize_t n = getline(&line, &cap, stdin);
        if (n >= 0) {
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
            return line;
        }
        if (errno == EINTR && !feof(stdin)) { // Ctrl-C while waiting: keep reading
            clearerr(stdin);
            *cli_sigint_seen() = 0;
            continue;
        }
        free(line);
        return NULL;
    }
}

// ~/.config/peftui/history (or under $XDG_CONFIG_HOME), folders made as needed.
static int history_path(char *buf, size_t cap) {
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    char dir[4096];
    if (xdg && *xdg) snprintf(dir, sizeof dir, "%s", xdg);
    else if (home && *home) snprintf(dir, sizeof dir, "%s/.config", home);
    else return -1;
    mkdir(dir, 0700);
    size_t dl = strlen(dir);
    if (dl + sizeof "/peftui" > sizeof dir) return -1;
    strcat(dir, "/peftui");
    if (mkdir(dir, 0700) && errno != EEXIST) return -1;
    int n = snprintf(buf, cap, "%s/history", dir);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

// Written whole to a temporary file, then renamed over the old one.
static void history_save(const char *path) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    if (write_history(tmp) == 0 && rename(tmp, path) == 0) return;
    remove(tmp);
}

// ---------------------------------------------------------------------------

static void chat_free(chat *s) {
    if (s->chat) pt_chat_close(s->ws, s->chat);
    pt_ws_destroy(s->ws);
    free(s->adapters);
}

int cmd_chat(int argc, char **argv) {
    chat s;
    memset(&s, 0, sizeof s);
    cli_common *c = &s.c;
    cli_common_defaults(c);
    c->max_tokens = 512;
    s.active = -1;
    s.scale = 1.0f;
    const char *adapter_flag = NULL;
    cli_opt opts[] = {
        CLI_OPTS_MODEL(c),
        CLI_OPTS_CTX(c),
        CLI_OPTS_CHAT(c),
        {"max-tokens", 'n', OPT_INT, &c->max_tokens, "N", "most tokens per answer (default 512)", 1, 1 << 24},
        CLI_OPTS_SAMPLING(c),
        {"adapter", 0, OPT_STR, &adapter_flag, "DIR", "LoRA adapter folder; repeat to load several (the last is active; /adapter switches)", 0, 0},
        {"scale", 0, OPT_FLOAT, &s.scale, "S", "adapter strength on top of its alpha/r (default 1; /scale changes it)", -100, 100},
        {"verbose", 'v', OPT_FLAG, &c->verbose, NULL, "after each answer, print token counts and speed on stderr", 0, 0},
    };
    cli_command_spec spec = {"chat", "[-m PATH] [--template NAME] [--system TEXT] [sampling options]",
                             "Talk with the model. Type /help in the chat for its commands.",
                             opts, (int)(sizeof opts / sizeof opts[0])};
    char *pos[1];
    int n_pos, help, rc, n_dirs = 0;
    const char **dirs = NULL;
    rc = cli_parse_adapters(&spec, argc, argv, pos, 0, &n_pos, &help, &adapter_flag, &dirs, &n_dirs);
    if (!dirs) return rc;
    if (rc == CLI_OK && help) cli_print_help(&spec);
    else if (rc == CLI_OK && c->system && pt_utf8_invalid_at(c->system, strlen(c->system)))
        rc = cli_error(CLI_ERR, "the --system text is not valid UTF-8; convert it to UTF-8");
    if (rc != CLI_OK || help) {
        free(dirs);
        return rc;
    }

    init_settings(&s);
    if ((rc = cli_ws_open(&s.ws, c)) != CLI_OK) goto done;
    if (!(s.adapters = calloc((size_t)(n_dirs ? n_dirs : 1), sizeof *s.adapters))) { rc = cli_error(CLI_ERR, "out of memory"); goto done; }
    if ((rc = cli_adapters_load(s.ws, dirs, n_dirs, s.adapters)) != CLI_OK) goto done;
    s.n_adapters = n_dirs;
    {
        pt_chat_opts co;
        pt_chat_opts_default(&co);
        co.template_name = c->template_name;
        co.system = c->system;
        co.sampling = c->sampling;
        co.max_tokens = c->max_tokens;
        co.n_ctx = c->ctx;
        co.adapter = n_dirs ? s.adapters[n_dirs - 1] : PT_BASE;
        co.scale = s.scale;
        char warn[512];
        pt_err err = {0};
        if (pt_chat_open(s.ws, &co, &s.chat, warn, sizeof warn, &err) != PT_OK) {
            rc = cli_error(c->template_name && err.code == PT_ERR_IO ? CLI_USAGE : CLI_ERR, "%s", err.msg);
            goto done;
        }
        if (warn[0]) cli_error(0, "warning: %s", warn);
        s.active = n_dirs - 1;
    }
    s.tty = isatty(STDIN_FILENO);
    cli_sigint_install();

    char hist[4096];
    int have_hist = 0;
    if (s.tty) {
        rl_catch_signals = 0;        // Ctrl-C is ours (see read_tty)
        rl_readline_name = "peftui";
        using_history();
        stifle_history(HISTORY_MAX);
        if (history_path(hist, sizeof hist) == 0) {
            have_hist = 1;
            read_history(hist);
        }
        pt_model_info mi;
        pt_chat_info info;
        pt_err err = {0};
        char name[128];
        pt_ws_model_info(s.ws, &mi, &err);
        pt_chat_info_get(s.ws, s.chat, &info);
        printf("peftui chat: %s (%s template, %d-token context). /help for commands, Ctrl-D to leave.\n",
               mi.name[0] ? mi.name : mi.path, info.template_name, info.n_ctx);
        if (s.n_adapters)
            printf("adapter %s active (scale %g); /adapter lists and switches, /adapter none is the base.\n",
                   adapter_name(&s, s.active, name, sizeof name), s.scale);
    }
    for (;;) {
        char *line = s.tty ? read_tty() : read_plain();
        if (!line) break;
        char *t = line + strspn(line, " \t");
        if (!*t) { free(line); continue; }
        if (s.tty) add_history(line);
        int quit = 0;
        if (t[0] == '/') quit = slash(&s, t);
        else answer(&s, line);
        free(line);
        if (quit) break;
    }
    if (have_hist) history_save(hist);
    rc = CLI_OK;
done:
    chat_free(&s);
    free(dirs);
    return rc;
}
