// tui_draw.c - the frame around every screen (tabs and the facts bar on
// top, the status line and the keys at the bottom), the too-small message,
// and the drawing helpers screens share: lists, progress bars, wrapped text,
// numbers. Reads tui_app only; never calls the engine.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui/tui.h"
#include "tui/wrap.h"

#define MIN_W 40
#define MIN_H 12

void tui_fmt_bytes(double b, char *buf, size_t cap) {
    if (b >= 1024.0 * 1024 * 1024) snprintf(buf, cap, "%.2f GiB", b / (1024.0 * 1024 * 1024));
    else if (b >= 1024.0 * 1024) snprintf(buf, cap, "%.1f MiB", b / (1024.0 * 1024));
    else if (b >= 1024.0) snprintf(buf, cap, "%.1f KiB", b / 1024.0);
    else snprintf(buf, cap, "%.0f B", b);
}

void tui_fmt_count(double n, char *buf, size_t cap) {
    if (n >= 1e9) snprintf(buf, cap, "%.2fB", n / 1e9);
    else if (n >= 1e6) snprintf(buf, cap, "%.2fM", n / 1e6);
    else if (n >= 1e4) snprintf(buf, cap, "%.1fK", n / 1e3);
    else snprintf(buf, cap, "%.0f", n);
}

void tui_fmt_duration(double s, char *buf, size_t cap) {
    if (!(s >= 0) || isinf(s)) snprintf(buf, cap, "?");
    else if (s < 60) snprintf(buf, cap, "%.0fs", s);
    else if (s < 3600) snprintf(buf, cap, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(buf, cap, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

void tui_progress(tui_canvas *cv, int y, int x, int w, double frac, int role) {
    if (w < 3) return;
    if (!(frac >= 0)) frac = 0;
    if (frac > 1) frac = 1;
    int inner = w - 2;
    canvas_put(cv, y, x, TUI_BORDER, "[", 1, 1);
    canvas_put(cv, y, x + w - 1, TUI_BORDER, "]", 1, 1);
    if (cv->utf8) {
        // eighths of a cell, so slow progress still moves
        static const char *const EIGHTHS[] = {"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"};
        int units = (int)(frac * inner * 8);
        for (int i = 0; i < inner; i++) {
            int u = units - i * 8;
            const char *g = u >= 8 ? "█" : u > 0 ? EIGHTHS[u] : " ";
            canvas_put(cv, y, x + 1 + i, u > 0 ? role : TUI_DIM, g[0] ? g : " ", -1, 1);
        }
    } else {
        int full = (int)(frac * inner + 0.5);
        for (int i = 0; i < inner; i++) canvas_put(cv, y, x + 1 + i, i < full ? role : TUI_DIM, i < full ? "#" : ".", 1, 1);
    }
}

void tui_draw_list(tui_canvas *cv, int y, int x, int h, int w, int n, int sel,
                   void (*line)(tui_app *a, int i, char *buf, size_t cap, int *role), tui_app *a) {
    if (h <= 0 || w <= 0) return;
    int first = 0;
    if (sel >= h) first = sel - h + 1;
    for (int r = 0; r < h && first + r < n; r++) {
        int i = first + r;
        char buf[1024];
        int role = TUI_NORMAL;
        line(a, i, buf, sizeof buf, &role);
        if (i == sel) {
            canvas_fill(cv, y + r, x, 1, w, TUI_SELECT, NULL);
            canvas_put(cv, y + r, x, TUI_SELECT, buf, -1, w);
        } else {
            canvas_put(cv, y + r, x, role, buf, -1, w);
        }
    }
    if (first > 0) canvas_put(cv, y, x + w - 1, TUI_DIM, cv->utf8 ? "↑" : "^", -1, 1);
    if (first + h < n) canvas_put(cv, y + h - 1, x + w - 1, TUI_DIM, cv->utf8 ? "↓" : "v", -1, 1);
}

int tui_draw_text(tui_canvas *cv, int y, int x, int h, int w, const char *text, int role, int first) {
    if (w <= 0 || !text) return 0;
    size_t len = strlen(text);
    int n = wrap_text(text, len, w, NULL, 0);
    wrap_line lines[256];
    wrap_line *ls = lines;
    wrap_line *heap = NULL;
    if (n > 256) {
        heap = malloc((size_t)n * sizeof *heap);
        if (!heap) n = 256;
        else ls = heap;
    }
    wrap_text(text, len, w, ls, n);
    for (int r = 0; r < h && first + r < n; r++)
        if (first + r >= 0) canvas_put(cv, y + r, x, role, text + ls[first + r].off, (long)ls[first + r].len, w);
    free(heap);
    return n;
}

// Text with a role per byte, glyph by glyph, wrapping at w (inside words:
// token text has no good break points). show_nl: newlines show as a dim
// return mark before the break. Returns the lines used.
int tui_draw_rich(tui_canvas *cv, int y, int x, int h, int w, const char *text, size_t len, const uint8_t *roles,
                  int show_nl) {
    int row = 0, col = 0;
    size_t i = 0;
    while (i < len && row < h) {
        uint32_t cp;
        int n = utf8_decode(text + i, len - i, &cp);
        int role = roles ? roles[i] : TUI_NORMAL;
        if (cp == '\n') {
            if (show_nl) canvas_put(cv, y + row, x + col, TUI_DIM, cv->utf8 ? "↵" : "~", -1, 1);
            row++;
            col = 0;
            i += (size_t)n;
            continue;
        }
        int gw = cp_width(cp);
        if (gw < 0) gw = 1;
        if (col > 0 && cp != ' ' && i > 0 && text[i - 1] == ' ') {   // a word starts: move it down whole if it fits a line
            size_t j = i;
            int ww = 0;
            while (j < len && text[j] != ' ' && text[j] != '\n') {
                uint32_t c2;
                j += (size_t)utf8_decode(text + j, len - j, &c2);
                ww += cp_width(c2) > 0 ? cp_width(c2) : 0;
            }
            if (col + ww > w && ww <= w) {
                row++;
                col = 0;
                if (row >= h) break;
            }
        }
        if (col + gw > w) {
            row++;
            col = 0;
            if (row >= h) break;
        }
        if (col == 0 && cp == ' ' && i > 0) {   // a line does not start with the space it broke at
            i += (size_t)n;
            continue;
        }
        col = canvas_put(cv, y + row, x + col, role, text + i, n, w - col) - x;
        i += (size_t)n;
    }
    return row + (col > 0);
}

// ---- the bars ------------------------------------------------------------------------

static void draw_tabs(tui_app *a, int w) {
    tui_canvas *cv = &a->cv;
    canvas_fill(cv, 0, 0, 1, w, TUI_BAR, NULL);
    int x = 0;
    for (int i = 0; i < SCR_COUNT; i++) {
        char t[40];
        // narrow terminals: the digit and the first letters
        const char *name = tui_screens[i]->name;
        if (w >= 80) snprintf(t, sizeof t, " %d %s ", i + 1, name);
        else if (w >= 56) snprintf(t, sizeof t, " %d %.4s ", i + 1, name);
        else snprintf(t, sizeof t, "%d%.1s ", i + 1, name);
        x = canvas_put(cv, 0, x, i == a->scr ? TUI_TAB_ACTIVE : TUI_TAB, t, -1, w - x);
    }
    // what is happening, at the right end of the tab line
    char busy[96] = "";
    if (a->model_task) snprintf(busy, sizeof busy, " loading ");
    else if (tui_job_running(a)) snprintf(busy, sizeof busy, " training %d/%d ", a->js.step, a->js.total_steps);
    else if (a->chat_busy || a->cmp_running || a->probe_busy) snprintf(busy, sizeof busy, " generating ");
    int bw = text_width(busy, -1);
    if (bw && x + bw <= w) canvas_put(cv, 0, w - bw, TUI_BUSY, busy, -1, bw);
}

static void draw_facts(tui_app *a, int w) {
    tui_canvas *cv = &a->cv;
    canvas_fill(cv, 1, 0, 1, w, TUI_DIM, NULL);
    char line[1024], mem[32], held[32];
    pt_ws_memory m = a->mem;
    tui_fmt_bytes((double)m.held, held, sizeof held);
    if (a->rss) tui_fmt_bytes((double)a->rss, mem, sizeof mem);
    else snprintf(mem, sizeof mem, "?");
    const char *model = a->have_model ? (a->mi.name[0] ? a->mi.name : a->mi.path) : a->model_task ? "loading..." : "no model";
    char ad[200];
    if (a->active == PT_BASE) snprintf(ad, sizeof ad, "base (no adapter)");
    else {
        const pt_adapter_info *ai = tui_adapter(a, a->active);
        snprintf(ad, sizeof ad, "%s x%.2g", ai ? ai->name : "?", ai ? ai->scale : 1.0);
    }
    const char *dev = a->have_model ? a->mi.device_name : "";
    snprintf(line, sizeof line, " %.200s | adapter: %.200s | %s | mem %s (device %s)", model, ad, dev[0] ? dev : "cpu", mem, held);
    canvas_put(cv, 1, 0, TUI_DIM, line, -1, w);
}

static void draw_status(tui_app *a, int y, int w) {
    tui_canvas *cv = &a->cv;
    canvas_fill(cv, y, 0, 1, w, TUI_NORMAL, NULL);
    if (a->ed.active && a->ed.on_status) {
        int cx = tui_edit_draw(a, y, 0, w, TUI_FIELD_EDIT);
        a->cursor_y = y;
        a->cursor_x = cx;
        return;
    }
    canvas_put(cv, y, 1, a->status_role, a->status, -1, w - 1);
}

static void draw_too_small(tui_app *a) {
    tui_canvas *cv = &a->cv;
    canvas_clear(cv);
    char msg[96];
    snprintf(msg, sizeof msg, "peftui needs %dx%d", MIN_W, MIN_H);
    canvas_put(cv, cv->h / 2 - 1 > 0 ? cv->h / 2 - 1 : 0, 0, TUI_WARN, msg, -1, cv->w);
    snprintf(msg, sizeof msg, "now %dx%d: enlarge", cv->w, cv->h);
    canvas_put(cv, cv->h / 2, 0, TUI_NORMAL, msg, -1, cv->w);
}

void tui_draw_frame(tui_app *a) {
    tui_canvas *cv = &a->cv;
    a->cursor_y = a->cursor_x = -1;
    if (cv->w < MIN_W || cv->h < MIN_H) {
        a->too_small = 1;
        draw_too_small(a);
        tui_term_blit(a, -1, -1);
        return;
    }
    a->too_small = 0;
    canvas_clear(cv);
    int w = cv->w, h = cv->h;
    draw_tabs(a, w);
    draw_facts(a, w);
    int body_y = 2, body_h = h - 4;
    if (a->help) tui_draw_help(a, body_y, 0, body_h, w);
    else tui_screens[a->scr]->draw(a, body_y, 0, body_h, w);
    draw_status(a, h - 2, w);
    tui_draw_keybar(a, h - 1, w);
    if (a->quit_confirm) {
        int bw = w < 60 ? w - 2 : 58, bh = 7;
        int by = (h - bh) / 2, bx = (w - bw) / 2;
        canvas_fill(cv, by, bx, bh, bw, TUI_NORMAL, NULL);
        canvas_box(cv, by, bx, bh, bw, TUI_WARN, "Quit?");
        canvas_put(cv, by + 1, bx + 2, TUI_WARN, "A job is training.", -1, bw - 4);
        canvas_put(cv, by + 3, bx + 2, TUI_KEY, "s", -1, 1);
        canvas_put(cv, by + 3, bx + 4, TUI_NORMAL, "stop it (saves a checkpoint), then quit", -1, bw - 6);
        canvas_put(cv, by + 4, bx + 2, TUI_KEY, "c", -1, 1);
        canvas_put(cv, by + 4, bx + 4, TUI_NORMAL, "cancel it (nothing saved) and quit", -1, bw - 6);
        canvas_put(cv, by + 5, bx + 2, TUI_KEY, "Esc", -1, 3);
        canvas_put(cv, by + 5, bx + 6, TUI_NORMAL, "keep working", -1, bw - 8);
    }
    tui_term_blit(a, a->cursor_y, a->cursor_x);
}

// A titled panel; returns the inside through the pointers.
void tui_panel(tui_app *a, int *y, int *x, int *h, int *w, const char *title) {
    canvas_box(&a->cv, *y, *x, *h, *w, TUI_BORDER, NULL);
    if (title) canvas_put(&a->cv, *y, *x + 2, TUI_TITLE, title, -1, *w - 4);
    *y += 1;
    *x += 1;
    *h -= 2;
    *w -= 2;
}
