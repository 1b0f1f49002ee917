// heat.h - a heat map of an adapter's update norms: one row per layer, one
// column per module (q k v o gate up down), each cell shaded by its value in
// five levels (roles HEAT0..HEAT4; glyphs "·░▒▓█", or ".:+*#" in ASCII: even the
// lowest level shows without colour). Cells without a module (value < 0) stay blank.
#ifndef PT_TUI_HEAT_H
#define PT_TUI_HEAT_H

#include "tui/canvas.h"

// The level (0..4) of v in [0, vmax]; -1 for v < 0 (no module).
int heat_level(float v, float vmax);
// Draws rows x cols values v (row-major) in (y, x, h, w): column labels on
// top, a row label ("L0", "L5", ...) every so often at the left, each value
// cell_w cells wide, and below a legend "max <vmax>" with the five shades.
// Rows that do not fit are summarised: each drawn row shows the largest of
// the rows it stands for. vmax <= 0: the largest value. Returns rows drawn.
int heat_draw(tui_canvas *cv, int y, int x, int h, int w, const float *v, int rows, int cols,
              const char *const *col_labels, float vmax);

#endif
