// plot.c - line plots of loss against steps into a canvas (see plot.h):
// nice ticks, labels, a legend, curves in braille, quadrant blocks or ASCII.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui/plot.h"

// Ticks of step s over [lo, hi] expanded to multiples of s. The 1e-9 keeps
// 0.3 / 0.1 = 2.9999999999999996 from adding a tick below 0.3.
static double tick_lo(double lo, double s) { return floor(lo / s + 1e-9) * s; }
static double tick_hi(double hi, double s) { return ceil(hi / s - 1e-9) * s; }
static int tick_count(double lo, double hi, double s) { return (int)llround((tick_hi(hi, s) - tick_lo(lo, s)) / s) + 1; }

void plot_axis_nice(double lo, double hi, int max_ticks, plot_axis *out) {
    if (max_ticks < 2) max_ticks = 2;
    if (!isfinite(lo) || !isfinite(hi)) lo = 0, hi = 1;
    if (!(hi > lo)) {   // a flat range: widen it around the value
        double pad = fabs(lo) * 0.05 > 0.5 ? fabs(lo) * 0.05 : 0.5;
        lo -= pad;
        hi = lo + 2 * pad;
    }
    // The smallest step in {1,2,5}x10^k with at most max_ticks ticks. It lies
    // within a decade above span / (max_ticks - 1); when none fits (a range
    // across 0 with max_ticks 2 always needs 3), the one with the fewest ticks.
    double p = pow(10, floor(log10((hi - lo) / (max_ticks - 1))));
    static const double M[] = {1, 2, 5, 10, 20, 50};
    double step = 0;
    int best = 0;
    for (int i = 0; i < 6; i++) {
        double st = p * M[i];
        int n = tick_count(lo, hi, st);
        if (n <= max_ticks) {
            step = st;
            break;
        }
        if (!step || n < best) step = st, best = n;
    }
    out->step = step;
    out->lo = tick_lo(lo, step);
    out->hi = tick_hi(hi, step);
    if (out->hi <= out->lo) out->hi = out->lo + step;
    out->n_ticks = (int)llround((out->hi - out->lo) / step) + 1;
}

int plot_range(const plot_series *s, int n_series, double *xlo, double *xhi, double *ylo, double *yhi) {
    int any = 0;
    for (int k = 0; k < n_series; k++)
        for (int i = 0; i < s[k].n; i++) {
            double x = s[k].x[i], y = s[k].y[i];
            if (!isfinite(x) || !isfinite(y)) continue;
            if (!any) {
                *xlo = *xhi = x;
                *ylo = *yhi = y;
                any = 1;
            }
            if (x < *xlo) *xlo = x;
            if (x > *xhi) *xhi = x;
            if (y < *ylo) *ylo = y;
            if (y > *yhi) *yhi = y;
        }
    return any;
}

void plot_smooth(const float *y, int n, float weight, float *out) {
    double last = 0;
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(y[i])) {
            out[i] = NAN;
            continue;
        }
        last = last * weight + (1 - weight) * y[i];
        k++;
        double debias = 1 - pow(weight, k);
        out[i] = (float)(debias > 0 ? last / debias : y[i]);
    }
}

static void fmt_tick(double v, double step, char *buf, size_t cap) {
    if (fabs(v) < step * 1e-6) v = 0;
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (dec > 6) snprintf(buf, cap, "%.2g", v);
    else if (fabs(v) >= 1e5) snprintf(buf, cap, "%.3g", v);
    else snprintf(buf, cap, "%.*f", dec, v);
}

// dots: (rows * sub_h, cols * sub_w) bits per cell, and the series that set them last
typedef struct {
    int cols, rows, sw, sh;
    uint8_t *bits;   // (rows, cols)
    int *owner;      // (rows, cols): the last series drawn there, -1 none
} dotgrid;

static void dot(dotgrid *g, int px, int py, int series) {
    if (px < 0 || py < 0 || px >= g->cols * g->sw || py >= g->rows * g->sh) return;
    int cx = px / g->sw, cy = py / g->sh, sx = px % g->sw, sy = py % g->sh;
    int bit;
    if (g->sw == 2 && g->sh == 4) {   // braille dot numbering
        static const int B[4][2] = {{0x01, 0x08}, {0x02, 0x10}, {0x04, 0x20}, {0x40, 0x80}};
        bit = B[sy][sx];
    } else if (g->sw == 2) {           // quadrants: 1 upper left, 2 upper right, 4 lower left, 8 lower right
        bit = 1 << (sy * 2 + sx);
    } else {
        bit = 1;
    }
    g->bits[cy * g->cols + cx] |= (uint8_t)bit;
    g->owner[cy * g->cols + cx] = series;
}

static void segment(dotgrid *g, int x0, int y0, int x1, int y1, int series) {
    int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, err = dx + dy;
    for (int guard = 0; guard < 100000; guard++) {
        dot(g, x0, y0, series);
        if (x0 == x1 && y0 == y1) break;
        int e2 = 2 * err;
        if (e2 >= dy) err += dy, x0 += sx;
        if (e2 <= dx) err += dx, y0 += sy;
    }
}

static void encode(char *out, uint32_t cp) {
    out[0] = (char)(0xE0 | cp >> 12);
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    out[3] = 0;
}

// Cells left before the right end `end`: canvas_put reads a negative max_w as
// "no limit", so a cursor already past the end must give 0, not less.
static int room(int end, int cx) { return end > cx ? end - cx : 0; }

// A series' ASCII mark: a printable character, '*' when it has none.
static char ascii_mark(const plot_series *s) { return s->ascii > ' ' && s->ascii < 0x7F ? s->ascii : '*'; }

static void summary(tui_canvas *cv, int y, int x, int w, const plot_series *s, int n) {
    int cx = x;
    for (int k = 0; k < n; k++) {
        for (int i = s[k].n - 1; i >= 0; i--)
            if (isfinite(s[k].y[i])) {
                char b[96];
                snprintf(b, sizeof b, "%s %.3g (step %g)  ", s[k].label ? s[k].label : "", s[k].y[i], s[k].x[i]);
                cx = canvas_put(cv, y, cx, s[k].role, b, -1, room(x + w, cx));
                break;
            }
    }
}

int plot_draw(tui_canvas *cv, int y, int x, int h, int w, const plot_series *s, int n_series, const char *xlabel,
              plot_mode mode) {
    double xlo, xhi, ylo, yhi;
    if (h <= 0 || w <= 0) return -1;
    canvas_fill(cv, y, x, h, w, TUI_NORMAL, NULL);   // no dots of an earlier frame stay
    if (!plot_range(s, n_series, &xlo, &xhi, &ylo, &yhi)) {
        canvas_put(cv, y + h / 2, x + (w > 11 ? (w - 11) / 2 : 0), 0, "no data yet", -1, w);
        return -1;
    }
    if (w < 20 || h < 6) {
        summary(cv, y, x, w, s, n_series);
        return 0;
    }
    if (!cv->utf8) mode = PLOT_ASCII;
    // legend on the top line
    int lx = x;
    for (int k = 0; k < n_series; k++) {
        char mark[8];
        if (mode == PLOT_ASCII) snprintf(mark, sizeof mark, "%c", ascii_mark(&s[k]));
        else snprintf(mark, sizeof mark, "%s", mode == PLOT_BRAILLE ? "⣿" : "█");
        if (lx >= x + w) break;
        lx = canvas_put(cv, y, lx, s[k].role, mark, -1, room(x + w, lx));
        lx = canvas_put(cv, y, lx + 1, TUI_NORMAL, s[k].label ? s[k].label : "", -1, room(x + w, lx + 1)) + 2;
    }
    int plot_h = h - 3;   // legend, x-axis line, x labels
    plot_axis ya, xa;
    plot_axis_nice(ylo, yhi, plot_h / 2 + 1 > 2 ? plot_h / 2 + 1 : 2, &ya);
    char lab[32];
    int label_w = 0;
    for (int t = 0; t < ya.n_ticks; t++) {
        fmt_tick(ya.lo + t * ya.step, ya.step, lab, sizeof lab);
        int lw = text_width(lab, -1);
        if (lw > label_w) label_w = lw;
    }
    int ax = x + label_w + 1;          // the y axis column
    int pw = x + w - ax - 1;           // plot cells
    if (pw < 4) return 0;
    plot_axis_nice(xlo, xhi > xlo ? xhi : xlo + 1, pw / 8 > 2 ? pw / 8 : 2, &xa);
    int role_axis = TUI_AXIS;
    for (int r = 0; r < plot_h; r++) canvas_put(cv, y + 1 + r, ax, role_axis, cv->utf8 ? "│" : "|", -1, 1);
    for (int i = 0; i <= pw; i++) canvas_put(cv, y + 1 + plot_h, ax + i, role_axis, cv->utf8 ? (i ? "─" : "└") : (i ? "-" : "+"), -1, 1);
    for (int t = 0; t < ya.n_ticks; t++) {
        double v = ya.lo + t * ya.step;
        int r = (int)llround((1 - (v - ya.lo) / (ya.hi - ya.lo)) * (plot_h - 1));
        fmt_tick(v, ya.step, lab, sizeof lab);
        canvas_put(cv, y + 1 + r, ax - 1 - text_width(lab, -1), role_axis, lab, -1, label_w);
    }
    // the x axis' name keeps the right end of the label line; tick labels
    // that would touch it or the label before are skipped
    int xl = xlabel ? text_width(xlabel, -1) : 0;
    int label_end = x + w - (xl && xl + 1 < pw ? xl + 1 : 0);
    int last_end = x - 1;   // where the last x label ended
    for (int t = 0; t < xa.n_ticks; t++) {
        double v = xa.lo + t * xa.step;
        int c = (int)llround((v - xa.lo) / (xa.hi - xa.lo) * (pw - 1));
        fmt_tick(v, xa.step, lab, sizeof lab);
        int lx0 = ax + 1 + c - text_width(lab, -1) / 2;
        if (lx0 <= last_end || lx0 + text_width(lab, -1) > label_end) continue;
        last_end = canvas_put(cv, y + h - 1, lx0, role_axis, lab, -1, room(label_end, lx0));
    }
    if (xl && xl + 1 < pw) canvas_put(cv, y + h - 1, x + w - xl, role_axis, xlabel, -1, xl);
    dotgrid g = {pw, plot_h, mode == PLOT_ASCII ? 1 : 2, mode == PLOT_BRAILLE ? 4 : mode == PLOT_BLOCK ? 2 : 1, NULL, NULL};
    g.bits = calloc((size_t)pw * plot_h, 1);
    g.owner = malloc((size_t)pw * plot_h * sizeof *g.owner);
    if (!g.bits || !g.owner) {
        free(g.bits);
        free(g.owner);
        return 0;
    }
    for (size_t i = 0; i < (size_t)pw * plot_h; i++) g.owner[i] = -1;
    int dots_w = pw * g.sw, dots_h = plot_h * g.sh;
    for (int k = 0; k < n_series; k++) {
        int have = 0, px0 = 0, py0 = 0;
        for (int i = 0; i < s[k].n; i++) {
            double xv = s[k].x[i], yv = s[k].y[i];
            if (!isfinite(xv) || !isfinite(yv)) {
                have = 0;
                continue;
            }
            int px = (int)llround((xv - xa.lo) / (xa.hi - xa.lo) * (dots_w - 1));
            int py = (int)llround((1 - (yv - ya.lo) / (ya.hi - ya.lo)) * (dots_h - 1));
            if (have && mode != PLOT_ASCII) segment(&g, px0, py0, px, py, k);
            else dot(&g, px, py, k);
            px0 = px, py0 = py, have = 1;
        }
    }
    static const char *const QUAD[16] = {" ", "▘", "▝", "▀", "▖", "▌", "▞", "▛", "▗", "▚", "▐", "▜", "▄", "▙", "▟", "█"};
    for (int r = 0; r < plot_h; r++)
        for (int c = 0; c < pw; c++) {
            int b = g.bits[r * pw + c], k = g.owner[r * pw + c];
            if (!b || k < 0) continue;
            char glyph[8];
            if (mode == PLOT_BRAILLE) encode(glyph, 0x2800u + (uint32_t)b);
            else if (mode == PLOT_BLOCK) snprintf(glyph, sizeof glyph, "%s", QUAD[b & 15]);
            else snprintf(glyph, sizeof glyph, "%c", ascii_mark(&s[k]));
            canvas_put(cv, y + 1 + r, ax + 1 + c, s[k].role, glyph, -1, 1);
        }
    free(g.bits);
    free(g.owner);
    return 0;
}
