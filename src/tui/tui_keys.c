// tui_keys.c - keys: the ones every screen has, the order a key is offered
// in (dialog, help, always-keys, the line being edited, the screen's table,
// the screen's own handler, then the keys that only work when not typing),
// and the help overlay and bottom bar, both made from the same tables.
#include <stdio.h>
#include <string.h>

#include "tui/tui.h"

const tui_screen *const tui_screens[SCR_COUNT] = {
    &tui_scr_model, &tui_scr_lora, &tui_scr_data, &tui_scr_train, &tui_scr_chat, &tui_scr_compare, &tui_scr_adapters,
};

void tui_key_name(int key, char *buf, size_t cap) {
    if (key >= TK_F(1) && key <= TK_F(12)) {
        snprintf(buf, cap, "F%d", key - TK_F0);
        return;
    }
    if (key >= TK_ALT0 && key < TK_ALT0 + 0x80) {
        snprintf(buf, cap, "Alt-%c", key - TK_ALT0);
        return;
    }
    static const char *const NAMES[] = {"", "Up", "Down", "Left", "Right", "PgUp", "PgDn", "Home", "End", "Enter",
                                        "Bksp", "Del", "Ins", "Tab", "S-Tab", "Esc", "Resize"};
    if (key > TK_BASE && key <= TK_RESIZE) {
        snprintf(buf, cap, "%s", NAMES[key - TK_BASE]);
        return;
    }
    if (key > 0 && key < 32) {
        snprintf(buf, cap, "^%c", key + '@');
        return;
    }
    if (key == ' ') {
        snprintf(buf, cap, "Space");
        return;
    }
    if (key < 0x80) snprintf(buf, cap, "%c", key);
    else snprintf(buf, cap, "U+%04X", key);
}

// ---- the global keys ---------------------------------------------------------------

static tui_reaction ask_quit(tui_app *a) {
    if (tui_job_running(a)) {
        a->quit_confirm = 1;
        a->dirty = 1;
        return TUI_HANDLED;
    }
    return TUI_QUIT;
}

static tui_reaction show_help(tui_app *a) {
    a->help = !a->help;
    a->help_scroll = 0;
    return TUI_HANDLED;
}

static tui_reaction next_screen(tui_app *a) {
    tui_switch(a, (a->scr + 1) % SCR_COUNT);
    return TUI_HANDLED;
}

static tui_reaction prev_screen(tui_app *a) {
    tui_switch(a, (a->scr + SCR_COUNT - 1) % SCR_COUNT);
    return TUI_HANDLED;
}

// ^C: cancels what is being generated, never the program.
static tui_reaction interrupt(tui_app *a) {
    if (tui_cancel_generation(a)) return TUI_HANDLED;
    tui_say(a, TUI_DIM, "^C cancels an answer being generated; to quit press F10 (or q)");
    return TUI_HANDLED;
}

// Always, also while typing: shown in the help, handled in tui_dispatch_key.
static const tui_binding ALWAYS[] = {
    {TK_F(1), TK_ALT('1'), "F1-F7", "switch screen (also Alt-1..Alt-7, and 1-7 when not typing)", NULL, 0, NULL},
    {TK_F(10), 0, "F10", "quit (asks first while a job trains)", ask_quit, 0, NULL},
    {TK_CTRL('c'), 0, "^C", "cancel the answer being generated", interrupt, 0, NULL},
    {0, 0, NULL, NULL, NULL, 0, NULL},
};

// When no text field is being edited.
static const tui_binding GLOBAL[] = {
    {TK_TAB, 0, "Tab", "next screen (Shift-Tab: previous)", next_screen, 0, NULL},
    {TK_BTAB, 0, "S-Tab", "previous screen", prev_screen, 0, NULL},
    {'?', 0, "?", "this help: every key of this screen and the global ones", show_help, 1, NULL},
    {'q', 0, "q", "quit (asks first while a job trains)", ask_quit, 1, NULL},
    {0, 0, NULL, NULL, NULL, 0, NULL},
};

static tui_reaction run_table(tui_app *a, const tui_binding *t, int key) {
    for (; t && t->label; t++)
        if (t->fn && (t->key == key || (t->key2 && t->key2 == key))) return t->fn(a);
    return TUI_UNHANDLED;
}

static tui_reaction quit_dialog(tui_app *a, int key) {
    if (key == 's' || key == 'S') {
        a->quit_confirm = 0;
        a->quit_after_job = 1;
        pt_train_stop(a->ws, a->job);
        tui_say(a, TUI_BUSY, "stopping: saving a checkpoint, then quitting");
        return TUI_HANDLED;
    }
    if (key == 'c' || key == 'C') {
        pt_train_cancel(a->ws, a->job);
        return TUI_QUIT;
    }
    if (key == TK_ESC || key == 'n' || key == 'N' || key == 'q') {
        a->quit_confirm = 0;
        tui_say(a, TUI_DIM, "still training");
        return TUI_HANDLED;
    }
    if (key == TK_F(10)) return TUI_HANDLED;   // a second F10 stays in the dialog: it needs an answer
    return TUI_HANDLED;
}

tui_reaction tui_dispatch_key(tui_app *a, int key) {
    if (a->quit_confirm) return quit_dialog(a, key);
    if (a->quit_after_job) {
        if (key == TK_F(10)) {   // impatient: cancel the save and go
            pt_train_cancel(a->ws, a->job);
            return TUI_QUIT;
        }
        tui_say(a, TUI_BUSY, "saving the checkpoint before quitting (F10 again: quit without it)");
        return TUI_HANDLED;
    }
    // screens, from anywhere
    if (key >= TK_F(1) && key <= TK_F(SCR_COUNT)) {
        tui_switch(a, key - TK_F(1));
        return TUI_HANDLED;
    }
    if (key >= TK_ALT('1') && key < TK_ALT('1' + SCR_COUNT)) {
        tui_switch(a, key - TK_ALT('1'));
        return TUI_HANDLED;
    }
    tui_reaction r = run_table(a, ALWAYS, key);
    if (r != TUI_UNHANDLED) return r;
    if (a->help) {
        if (key == TK_DOWN || key == 'j') a->help_scroll++;
        else if (key == TK_UP || key == 'k') a->help_scroll -= a->help_scroll > 0;
        else if (key == TK_PGDN || key == ' ') a->help_scroll += 10;
        else if (key == TK_PGUP) a->help_scroll = a->help_scroll > 10 ? a->help_scroll - 10 : 0;
        else a->help = 0;
        return TUI_HANDLED;
    }
    if (a->ed.active) {
        r = tui_edit_key(a, key);
        if (r != TUI_UNHANDLED) return r;
        // the field finished on Up/Down (move on below); PgUp/PgDn scroll while typing
        if (key != TK_UP && key != TK_DOWN && key != TK_PGUP && key != TK_PGDN) return TUI_HANDLED;
    }
    const tui_screen *s = tui_screens[a->scr];
    if (s->key_first && (r = s->key_first(a, key)) != TUI_UNHANDLED) return r;
    if ((r = run_table(a, s->keys, key)) != TUI_UNHANDLED) return r;
    if (s->key && (r = s->key(a, key)) != TUI_UNHANDLED) return r;
    if (key >= '1' && key < '1' + SCR_COUNT) {
        tui_switch(a, key - '1');
        return TUI_HANDLED;
    }
    if ((r = run_table(a, GLOBAL, key)) != TUI_UNHANDLED) return r;
    if (key == TK_ESC) return TUI_HANDLED;
    char name[32];
    tui_key_name(key, name, sizeof name);
    tui_say(a, TUI_DIM, "%s does nothing here: press ? for this screen's keys", name);
    return TUI_HANDLED;
}

// ---- help and the bottom bar ----------------------------------------------------------

static int help_lines(const tui_binding *t, tui_canvas *cv, int y, int x, int w, int *line, int first, int h) {
    for (; t && t->label; t++) {
        if (*line >= first && *line - first < h) {
            int row = y + *line - first;
            canvas_printf(cv, row, x, TUI_KEY, "%-8s", t->label);
            canvas_put(cv, row, x + 9, TUI_NORMAL, t->help, -1, w - 9);
        }
        (*line)++;
    }
    return *line;
}

static void help_heading(tui_canvas *cv, int y, int x, int w, const char *text, int *line, int first, int h) {
    if (*line >= first && *line - first < h) canvas_put(cv, y + *line - first, x, TUI_TITLE, text, -1, w);
    (*line)++;
}

void tui_draw_help(tui_app *a, int y, int x, int h, int w) {
    tui_canvas *cv = &a->cv;
    const tui_screen *s = tui_screens[a->scr];
    canvas_fill(cv, y, x, h, w, TUI_NORMAL, NULL);
    canvas_box(cv, y, x, h, w, TUI_BORDER, "Help (any key closes; Up/Down scroll)");
    int iy = y + 1, ix = x + 2, ih = h - 2, iw = w - 4;
    int line = 0, first = a->help_scroll;
    char head[160];
    snprintf(head, sizeof head, "%s: %s", s->name, s->about);
    help_heading(cv, iy, ix, iw, head, &line, first, ih);
    help_lines(s->keys, cv, iy, ix, iw, &line, first, ih);
    if (s->key_help) help_lines(s->key_help, cv, iy, ix, iw, &line, first, ih);
    line++;
    help_heading(cv, iy, ix, iw, "Everywhere", &line, first, ih);
    help_lines(ALWAYS, cv, iy, ix, iw, &line, first, ih);
    help_heading(cv, iy, ix, iw, "When not typing", &line, first, ih);
    static const tui_binding DIGITS[] = {{'1', 0, "1-7", "switch screen", NULL, 0, NULL}, {0, 0, NULL, NULL, NULL, 0, NULL}};
    help_lines(DIGITS, cv, iy, ix, iw, &line, first, ih);
    help_lines(GLOBAL, cv, iy, ix, iw, &line, first, ih);
    help_heading(cv, iy, ix, iw, "Typing a value", &line, first, ih);
    static const tui_binding EDIT[] = {
        {TK_ENTER, 0, "Enter", "use the value", NULL, 0, NULL},
        {TK_ESC, 0, "Esc", "leave it as it was", NULL, 0, NULL},
        {0, 0, "^A ^E", "start, end of line; ^K ^U ^W kill; Alt-B Alt-F words (GNU readline's Emacs keys)", NULL, 0, NULL},
        {0, 0, "Up Down", "history (chat and compare prompts); in a form: keep the value, move on", NULL, 0, NULL},
        {0, 0, NULL, NULL, NULL, 0, NULL},
    };
    help_lines(EDIT, cv, iy, ix, iw, &line, first, ih);
    if (a->help_scroll > line - 1) a->help_scroll = line > 0 ? line - 1 : 0;
}

void tui_draw_keybar(tui_app *a, int y, int w) {
    tui_canvas *cv = &a->cv;
    canvas_fill(cv, y, 0, 1, w, TUI_BAR, NULL);
    int x = 0;
    if (a->quit_confirm) {
        canvas_put(cv, y, 0, TUI_WARN, " A job is training. s: stop it (saves a checkpoint) and quit  c: cancel it "
                   "and quit  Esc: keep working", -1, w);
        return;
    }
    if (a->ed.active) {
        canvas_put(cv, y, 0, TUI_BAR, " Enter use  Esc cancel  ^A/^E/^K/^U edit  F1-F7 screens  F10 quit", -1, w);
        return;
    }
    const tui_screen *s = tui_screens[a->scr];
    for (int pass = 0; pass < 2; pass++) {
        const tui_binding *t = pass ? (const tui_binding[]){{'?', 0, "?", "help", NULL, 1, NULL}, {TK_F(10), 0, "F10", "quit", NULL, 1, NULL}, {0, 0, NULL, NULL, NULL, 0, NULL}} : s->keys;
        for (; t && t->label; t++) {
            if (!t->bar) continue;
            const char *short_help = t->bar_text ? t->bar_text : t->help;
            int need = text_width(t->label, -1) + 1 + text_width(short_help, -1) + 2;
            if (x + need > w) {
                if (pass) continue;
                break;
            }
            x = canvas_put(cv, y, x, TUI_KEY, t->label, -1, w - x);
            x = canvas_put(cv, y, x + 1, TUI_BAR, short_help, -1, w - x - 1) + 2;
        }
    }
}
