// heat.c - the heat map of an adapter's update norms (see heat.h).
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tui/heat.h"

int heat_level(float v, float vmax) {
    if (v < 0 || isnan(v)) return -1;
    if (!(vmax > 0)) return 0;
    int l = (int)floorf(5 * v / vmax);
    return l > 4 ? 4 : l;
}

int heat_draw(tui_canvas *cv, int y, int x, int h, int w, const float *v, int rows, int cols,
              const char *const *col_labels, float vmax) {
    if (h < 3 || w < 8 || rows <= 0 || cols <= 0) return 0;
    if (!(vmax > 0)) {
        vmax = 0;
        for (int i = 0; i < rows * cols; i++)
            if (v[i] > vmax) vmax = v[i];
    }
    int label_w = 4;   // "L29 "
    int cell_w = (w - label_w) / cols;
    if (cell_w > 5) cell_w = 5;   // "gate" and a space
    if (cell_w < 1) cell_w = 1;
    for (int c = 0; c < cols && label_w + (c + 1) * cell_w <= w; c++)
        canvas_put(cv, y, x + label_w + c * cell_w, TUI_DIM, col_labels ? col_labels[c] : "?", -1,
                   cell_w > 1 ? cell_w - 1 : 1);   // a gap between labels
    int avail = h - 2;   // column labels, legend
    int group = (rows + avail - 1) / avail;   // rows a drawn row stands for
    int drawn = (rows + group - 1) / group;
    static const char *const U[5] = {"·", "░", "▒", "▓", "█"};
    static const char *const A[5] = {".", ":", "+", "*", "#"};
    for (int d = 0; d < drawn; d++) {
        int r0 = d * group;
        if (d % (drawn > 10 ? 5 : 1) == 0 || group > 1) {
            char lab[16];
            snprintf(lab, sizeof lab, "L%d", r0);
            canvas_put(cv, y + 1 + d, x, TUI_DIM, lab, -1, label_w - 1);
        }
        for (int c = 0; c < cols && label_w + (c + 1) * cell_w <= w; c++) {
            float m = -1;
            for (int r = r0; r < r0 + group && r < rows; r++)
                if (v[r * cols + c] > m) m = v[r * cols + c];
            int l = heat_level(m, vmax);
            for (int k = 0; k < cell_w; k++) {
                if (l < 0) canvas_put(cv, y + 1 + d, x + label_w + c * cell_w + k, TUI_DIM, cv->utf8 ? " " : " ", -1, 1);
                else canvas_put(cv, y + 1 + d, x + label_w + c * cell_w + k, TUI_HEAT0 + l, cv->utf8 ? U[l] : A[l], -1, 1);
            }
        }
    }
    char leg[64];
    snprintf(leg, sizeof leg, "max %.3g  ", vmax);
    int lx = canvas_put(cv, y + 1 + drawn, x, TUI_DIM, leg, -1, w);
    for (int l = 0; l < 5; l++) lx = canvas_put(cv, y + 1 + drawn, lx, TUI_HEAT0 + l, cv->utf8 ? U[l] : A[l], -1, x + w - lx);
    if (group > 1 && lx + 2 < x + w) {
        snprintf(leg, sizeof leg, "  (a row: max of %d layers)", group);
        canvas_put(cv, y + 1 + drawn, lx, TUI_DIM, leg, -1, x + w - lx);
    }
    return drawn;
}
