// plot.h - a line plot of one or more series (training loss, smoothed loss,
// eval loss) against steps, drawn into a canvas: axes with nice ticks and
// labels, a legend, and the curves in braille dots (2x4 a cell), block
// quadrants (2x2 a cell) or ASCII ('*', '.', 'o': one a cell). The ranges
// come from the data (plot_range), so the plot rescales as values fall.
#ifndef PT_TUI_PLOT_H
#define PT_TUI_PLOT_H

#include "tui/canvas.h"

typedef enum { PLOT_BRAILLE, PLOT_BLOCK, PLOT_ASCII } plot_mode;

typedef struct {
    const char *label;     // in the legend
    const float *x, *y;    // (n) points in x order; NaN y: a gap
    int n;
    int role;              // tui_role of its dots and legend entry
    char ascii;            // its mark in PLOT_ASCII ('*', '.', 'o')
} plot_series;

typedef struct {
    double lo, hi;         // the axis covers [lo, hi]
    double step;           // between ticks: 1, 2 or 5 times a power of ten
    int n_ticks;
} plot_axis;

// Nice ticks over [lo, hi] (hi > lo after widening a flat range), at most max_ticks (>= 2).
void plot_axis_nice(double lo, double hi, int max_ticks, plot_axis *out);
// The x and y ranges of every finite point of the series; 0 when there is none.
int plot_range(const plot_series *s, int n_series, double *xlo, double *xhi, double *ylo, double *yhi);
// Exponential moving average with the start debiased (TensorBoard's
// smoothing): out[i] for y[0..i]; weight in [0, 1), 0 = no smoothing. NaN inputs are skipped (out NaN there).
void plot_smooth(const float *y, int n, float weight, float *out);
// Draws the plot in the rectangle (y, x, h, w): y-axis labels at the left,
// x-axis labels and xlabel at the bottom, the legend on the top line. Too
// small (under 20x6) draws a one-line summary instead. Returns 0, or -1 when
// there is nothing to plot (it then writes "no data yet").
int plot_draw(tui_canvas *cv, int y, int x, int h, int w, const plot_series *s, int n_series, const char *xlabel,
              plot_mode mode);

#endif
