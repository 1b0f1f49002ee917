// tui_edit.c - text entry through GNU readline's callback interface, inside
// the workbench's own loop: Emacs keys, history, filename completion.
//
// Readline never touches the terminal here: its terminal set-up and
// redisplay are switched off, it reads the bytes of our keys from a pipe
// (ncurses owns the real input), and it writes to /dev/null. The line is
// drawn by tui_edit_draw from rl_line_buffer and rl_point. Enter is taken
// before readline sees it, so the finished line never goes through
// readline's handler (which has no user pointer to hand it back with).
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "tui/tui.h"

typedef struct {
    int fd[2];           // our keys' bytes -> readline
    FILE *in, *out;
} edit_io;

static void no_prep(int meta) { (void)meta; }
static void no_deprep(void) {}
static void no_redisplay(void) {}
static void no_line(char *line) { free(line); }   // Ctrl-D on an empty line; Enter never gets here

int tui_edit_init(tui_app *a) {
    edit_io *io = calloc(1, sizeof *io);
    if (!io || pipe(io->fd) != 0) {
        free(io);
        return -1;
    }
    fcntl(io->fd[1], F_SETFL, O_NONBLOCK);
    io->in = fdopen(io->fd[0], "r");
    io->out = fopen("/dev/null", "w");
    if (!io->in || !io->out) {
        if (io->in) fclose(io->in);
        else close(io->fd[0]);
        if (io->out) fclose(io->out);
        close(io->fd[1]);
        free(io);
        return -1;
    }
    rl_instream = io->in;
    rl_outstream = io->out;
    rl_catch_signals = 0;
    rl_catch_sigwinch = 0;
    rl_change_environment = 0;
    rl_prep_term_function = no_prep;
    rl_deprep_term_function = no_deprep;
    rl_redisplay_function = no_redisplay;
    rl_readline_name = "peftui";
    rl_variable_bind("enable-keypad", "off");
    rl_variable_bind("bell-style", "none");
    rl_variable_bind("enable-bracketed-paste", "off");
    a->ed.active = 0;
    a->ed_io = io;
    using_history();
    return 0;
}

void tui_edit_free(tui_app *a) {
    edit_io *io = a->ed_io;
    if (!io) return;
    if (a->ed.active) rl_callback_handler_remove();
    fclose(io->in);
    fclose(io->out);
    close(io->fd[1]);
    free(io);
    a->ed_io = NULL;
}

void tui_edit_begin(tui_app *a, const char *prompt, const char *text, int history, int target, tui_edit_done done) {
    if (a->ed.active) rl_callback_handler_remove();
    snprintf(a->ed.prompt, sizeof a->ed.prompt, "%s", prompt ? prompt : "");
    a->ed.done = done;
    a->ed.history = history;
    a->ed.target = target;
    a->ed.changed = NULL;
    a->ed.on_status = 0;
    a->ed.active = 1;
    rl_callback_handler_install("", no_line);
    rl_replace_line(text ? text : "", 0);
    rl_point = rl_end;
    a->dirty = 1;
}

void tui_edit_cancel(tui_app *a) {
    if (!a->ed.active) return;
    tui_edit_done done = a->ed.done;
    rl_callback_handler_remove();
    a->ed.active = 0;
    a->dirty = 1;
    if (done) done(a, NULL);
}

const char *tui_edit_line(int *point) {
    if (point) *point = rl_point;
    return rl_line_buffer ? rl_line_buffer : "";
}

// The bytes a terminal would send for the key, for readline's key maps.
static int key_bytes(int key, char *b) {
    switch (key) {
    case TK_LEFT: return (int)(memcpy(b, "\033[D", 3), 3);
    case TK_RIGHT: return (int)(memcpy(b, "\033[C", 3), 3);
    case TK_UP: return (int)(memcpy(b, "\033[A", 3), 3);
    case TK_DOWN: return (int)(memcpy(b, "\033[B", 3), 3);
    case TK_HOME: return (int)(memcpy(b, "\033[H", 3), 3);
    case TK_END: return (int)(memcpy(b, "\033[F", 3), 3);
    case TK_DEL: return (int)(memcpy(b, "\033[3~", 4), 4);
    case TK_BACKSPACE: b[0] = 127; return 1;
    case TK_TAB: b[0] = '\t'; return 1;
    default: break;
    }
    if (key >= TK_ALT0 && key < TK_ALT0 + 0x80) {
        b[0] = 27;
        b[1] = (char)(key - TK_ALT0);
        return 2;
    }
    if (key < 0 || key >= TK_BASE) return 0;
    uint32_t c = (uint32_t)key;   // UTF-8
    if (c < 0x80) { b[0] = (char)c; return 1; }
    if (c < 0x800) { b[0] = (char)(0xC0 | c >> 6); b[1] = (char)(0x80 | (c & 0x3F)); return 2; }
    if (c < 0x10000) {
        b[0] = (char)(0xE0 | c >> 12); b[1] = (char)(0x80 | ((c >> 6) & 0x3F)); b[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    b[0] = (char)(0xF0 | c >> 18); b[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    b[2] = (char)(0x80 | ((c >> 6) & 0x3F)); b[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

static void finish(tui_app *a) {
    char *line = strdup(rl_line_buffer ? rl_line_buffer : "");
    tui_edit_done done = a->ed.done;
    if (a->ed.history && line && *line) add_history(line);
    rl_callback_handler_remove();
    a->ed.active = 0;
    a->dirty = 1;
    if (done) done(a, line ? line : "");
    free(line);
}

tui_reaction tui_edit_key(tui_app *a, int key) {
    if (!a->ed.active) return TUI_UNHANDLED;
    if ((key >= TK_F(1) && key <= TK_F(12)) || (key >= TK_ALT('1') && key <= TK_ALT('9')) || key == TK_RESIZE ||
        key == TK_PGUP || key == TK_PGDN)
        return TUI_UNHANDLED;   // screens and quitting work while typing
    if (key == TK_ENTER) {
        finish(a);
        return TUI_HANDLED;
    }
    if (key == TK_ESC || key == TK_CTRL('g')) {
        tui_edit_cancel(a);
        return TUI_HANDLED;
    }
    if (!a->ed.history && (key == TK_UP || key == TK_DOWN)) {   // a form field: keep the value, move on
        finish(a);
        return TUI_UNHANDLED;
    }
    char b[8];
    int n = key_bytes(key, b);
    if (n <= 0) return TUI_HANDLED;
    edit_io *io = a->ed_io;
    if (write(io->fd[1], b, (size_t)n) != n) return TUI_HANDLED;
    // readline reads a key sequence a byte at a time; give it all we wrote
    for (int i = 0; i < n && a->ed.active; i++) rl_callback_read_char();
    if (a->ed.active && a->ed.changed) a->ed.changed(a, rl_line_buffer ? rl_line_buffer : "");
    a->dirty = 1;
    return TUI_HANDLED;
}

int tui_edit_draw(tui_app *a, int y, int x, int w, int role) {
    tui_canvas *cv = &a->cv;
    int pw = text_width(a->ed.prompt, -1);
    int col = canvas_put(cv, y, x, TUI_KEY, a->ed.prompt, -1, w);
    int avail = w - pw;
    if (avail < 2) return -1;
    const char *line = rl_line_buffer ? rl_line_buffer : "";
    int point = rl_point;
    // scroll: skip leading bytes until the cursor fits
    int cur = text_width(line, point);
    size_t start = 0;
    while (cur - text_width(line, (long)start) >= avail) {
        uint32_t cp;
        start += (size_t)utf8_decode(line + start, strlen(line + start), &cp);
    }
    canvas_fill(cv, y, col, 1, avail, role, NULL);
    canvas_put(cv, y, col, role, line + start, -1, avail);
    return col + cur - text_width(line, (long)start);
}

void tui_edit_history(const char *path, int save) {
    if (save) {
        stifle_history(1000);
        write_history(path);
    } else {
        read_history(path);
    }
}
