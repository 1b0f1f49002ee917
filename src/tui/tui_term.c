// tui_term.c - the terminal through ncursesw: starting and restoring it, the
// table that gives each role its colour and attributes, copying the canvas to
// the screen, and reading keys (ncurses codes turned into TK_* keys).
//
// Colour is off when NO_COLOR is set (https://no-color.org) or the terminal
// has none; the roles then get attributes only (bold, dim, reverse,
// underline), so every meaning still shows.
#include <curses.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "tui/tui.h"
#include "tui/vtkeys.h"

typedef struct {
    short fg, bg;       // colour terminals (-1: the terminal's default)
    attr_t attr;        // with colour
    attr_t mono;        // without
} role_style;

// One table of schemes: every role's look, by meaning.
static const role_style STYLES[TUI_N_ROLES] = {
    [TUI_NORMAL] = {-1, -1, 0, 0},
    [TUI_DIM] = {COLOR_WHITE, -1, A_DIM, A_DIM},
    [TUI_BOLD] = {-1, -1, A_BOLD, A_BOLD},
    [TUI_TITLE] = {COLOR_CYAN, -1, A_BOLD, A_BOLD},
    [TUI_BORDER] = {COLOR_BLUE, -1, 0, A_DIM},
    [TUI_TAB] = {COLOR_WHITE, COLOR_BLUE, 0, A_REVERSE},
    [TUI_TAB_ACTIVE] = {COLOR_BLACK, COLOR_CYAN, A_BOLD, A_BOLD},
    [TUI_BAR] = {COLOR_WHITE, COLOR_BLUE, 0, A_REVERSE},
    [TUI_KEY] = {COLOR_YELLOW, -1, A_BOLD, A_BOLD},
    [TUI_SELECT] = {COLOR_BLACK, COLOR_CYAN, 0, A_REVERSE},
    [TUI_FIELD] = {COLOR_CYAN, -1, 0, A_UNDERLINE},
    [TUI_FIELD_EDIT] = {COLOR_BLACK, COLOR_YELLOW, 0, A_REVERSE | A_BOLD},
    [TUI_FIELD_BAD] = {COLOR_RED, -1, A_BOLD, A_BOLD | A_UNDERLINE},
    [TUI_ERROR] = {COLOR_RED, -1, A_BOLD, A_BOLD},
    [TUI_WARN] = {COLOR_YELLOW, -1, 0, A_BOLD},
    [TUI_OK] = {COLOR_GREEN, -1, 0, 0},
    [TUI_BUSY] = {COLOR_MAGENTA, -1, 0, A_BOLD},
    [TUI_TRAINED] = {COLOR_GREEN, -1, A_BOLD, A_BOLD},
    [TUI_MASKED] = {COLOR_WHITE, -1, A_DIM, A_DIM},
    [TUI_CUT] = {COLOR_RED, -1, A_DIM, A_DIM | A_UNDERLINE},
    [TUI_AXIS] = {COLOR_WHITE, -1, A_DIM, A_DIM},
    [TUI_LOSS_RAW] = {COLOR_BLUE, -1, 0, A_DIM},
    [TUI_LOSS_SMOOTH] = {COLOR_CYAN, -1, A_BOLD, A_BOLD},
    [TUI_LOSS_EVAL] = {COLOR_MAGENTA, -1, A_BOLD, A_BOLD},
    [TUI_USER] = {COLOR_YELLOW, -1, A_BOLD, A_BOLD},
    [TUI_ASSISTANT] = {-1, -1, 0, 0},
    [TUI_DIFF] = {COLOR_BLACK, COLOR_YELLOW, 0, A_REVERSE},
    [TUI_MORE_LIKELY] = {COLOR_GREEN, -1, A_BOLD, A_BOLD},
    [TUI_LESS_LIKELY] = {COLOR_RED, -1, 0, A_UNDERLINE},
    [TUI_HEAT0] = {COLOR_BLUE, -1, A_DIM, A_DIM},
    [TUI_HEAT1] = {COLOR_CYAN, -1, 0, 0},
    [TUI_HEAT2] = {COLOR_GREEN, -1, 0, 0},
    [TUI_HEAT3] = {COLOR_YELLOW, -1, A_BOLD, A_BOLD},
    [TUI_HEAT4] = {COLOR_RED, -1, A_BOLD, A_BOLD},
};

int tui_term_init(tui_app *a) {
    if (!initscr()) return -1;
    raw();                  // Ctrl-C is a key (it cancels an answer), not a signal
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);  // the loop polls; reading never blocks
    set_escdelay(25);       // Esc alone vs Esc-prefixed Alt keys
    curs_set(0);
    const char *nc = getenv("NO_COLOR");
    a->color = has_colors() && !(nc && *nc);
    if (a->color) {
        start_color();
        use_default_colors();
        for (int r = 0; r < TUI_N_ROLES; r++) init_pair((short)(r + 1), STYLES[r].fg, STYLES[r].bg);
    }
    return 0;
}

void tui_term_end(void) {
    if (!isendwin()) endwin();
}

void tui_term_size(int *h, int *w) {
    getmaxyx(stdscr, *h, *w);
}

static void set_role(int role, int color) {
    const role_style *s = &STYLES[role < 0 || role >= TUI_N_ROLES ? 0 : role];
    if (color) attr_set(s->attr, (short)(role + 1), NULL);
    else attr_set(s->mono, 0, NULL);
}

void tui_term_blit(const tui_app *a, int cursor_y, int cursor_x) {
    const tui_canvas *cv = &a->cv;
    int h, w;
    getmaxyx(stdscr, h, w);
    for (int y = 0; y < cv->h && y < h; y++) {
        int last = -1;
        for (int x = 0; x < cv->w && x < w; x++) {
            const tui_cell *c = &cv->c[(size_t)y * cv->w + x];
            if (c->tail) continue;
            if (c->role != last) {
                set_role(c->role, a->color);
                last = c->role;
            }
            // the bottom-right cell: addstr would scroll; insert it instead
            if (y == h - 1 && x == w - 1) {
                mvinsstr(y, x, c->g[0] ? c->g : " ");
            } else {
                mvaddstr(y, x, c->g[0] ? c->g : " ");
            }
        }
    }
    attr_set(0, 0, NULL);
    if (cursor_y >= 0 && cursor_x >= 0 && cursor_y < h && cursor_x < w) {
        move(cursor_y, cursor_x);
        curs_set(1);
    } else {
        curs_set(0);
    }
    refresh();
}

static int map_special(int k) {
    if (k >= KEY_F(1) && k <= KEY_F(12)) return TK_F(k - KEY_F(0));
    switch (k) {
    case KEY_UP: return TK_UP;
    case KEY_DOWN: return TK_DOWN;
    case KEY_LEFT: return TK_LEFT;
    case KEY_RIGHT: return TK_RIGHT;
    case KEY_PPAGE: return TK_PGUP;
    case KEY_NPAGE: return TK_PGDN;
    case KEY_HOME: return TK_HOME;
    case KEY_END: return TK_END;
    case KEY_ENTER: return TK_ENTER;
    case KEY_BACKSPACE: return TK_BACKSPACE;
    case KEY_DC: return TK_DEL;
    case KEY_IC: return TK_INS;
    case KEY_BTAB: return TK_BTAB;
    case KEY_RESIZE: return TK_RESIZE;
    default: return -1;   // keys we do not use
    }
}

static int map_char(wint_t c) {
    switch (c) {
    case '\r': case '\n': return TK_ENTER;
    case '\t': return TK_TAB;
    case 127: case 8: return TK_BACKSPACE;
    default: return (int)c;
    }
}

int tui_term_key(void) {
    for (;;) {
        wint_t c;
        int r = get_wch(&c);
        if (r == ERR) return -1;
        if (r == KEY_CODE_YES) {
            int k = map_special((int)c);
            if (k < 0) continue;
            return k;
        }
        if (c == 27) {   // Esc alone, or the prefix of an Alt key
            wint_t d;
            int r2 = get_wch(&d);
            if (r2 == ERR) return TK_ESC;
            if (r2 == KEY_CODE_YES) {
                int k = map_special((int)d);
                return k < 0 ? TK_ESC : k;
            }
            if (d == 27) return TK_ESC;
            if (d == '[' || d == 'O') {   // a key sequence curses did not know (see vtkeys.h)
                char seq[16] = {(char)d};
                size_t n = 1;
                wint_t e;
                while (n < sizeof seq && !vt_complete(seq, n) && get_wch(&e) == OK && e < 0x80) seq[n++] = (char)e;
                if (n == 1) return TK_ALT((int)d);   // Alt-[ or Alt-O typed alone
                int k = vt_key(seq, n);
                if (k < 0) continue;
                return k;
            }
            return TK_ALT((int)d);
        }
        return map_char(c);
    }
}
