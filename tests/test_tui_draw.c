// test_tui_draw.c - the workbench's drawing without a terminal: the canvas
// (wide glyphs, combining marks, clipping, ASCII fallback, the box exactly),
// text wrapping with CJK and accents, the plot (nice ticks, the scaling as
// values fall, smoothing, the three dot modes, the small-size summary), the
// heat map's levels and row summary, and the forms: each field parses what a
// user types or says why not, and the engine's checks land on the field they
// name (that is what the LoRA screen paints red).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/lora/lora_config.h"
#include "engine/train/train_params.h"
#include "infer/sampling.h"
#include "tui/canvas.h"
#include "tui/heat.h"
#include "tui/plot.h"
#include "tui/tui.h"
#include "tui/vtkeys.h"
#include "tui/wrap.h"

#define TINY_HF PT_SOURCE_DIR "/tests/data/tiny/llama-hf"

static const char *line(const tui_canvas *cv, int y) {
    static char buf[4096];
    canvas_line(cv, y, buf, sizeof buf);
    return buf;
}

// How many cells of row y (or of the whole canvas, y < 0) hold role.
static int count_role(const tui_canvas *cv, int y, int role) {
    int n = 0;
    for (int r = y < 0 ? 0 : y; r < (y < 0 ? cv->h : y + 1); r++)
        for (int x = 0; x < cv->w; x++) {
            const tui_cell *c = canvas_at(cv, r, x);
            if (c->role == role && (c->g[0] && c->g[0] != ' ')) n++;
        }
    return n;
}

static int contains(const tui_canvas *cv, const char *s) {
    for (int y = 0; y < cv->h; y++)
        if (strstr(line(cv, y), s)) return 1;
    return 0;
}

// ---- canvas ------------------------------------------------------------------------

static void test_widths(void) {
    CHECK(cp_width('a') == 1);
    CHECK(cp_width(0x4E2D) == 2);      // 中
    CHECK(cp_width(0xAC00) == 2);      // 가
    CHECK(cp_width(0xFF21) == 2);      // fullwidth A
    CHECK(cp_width(0x1F600) == 2);     // an emoji
    CHECK(cp_width(0x0301) == 0);      // combining acute
    CHECK(cp_width(0x200B) == 0);      // zero-width space
    CHECK(cp_width(0x07) == -1);
    CHECK(text_width("abc", -1) == 3);
    CHECK(text_width("中文", -1) == 4);
    CHECK(text_width("e\xCC\x81t\xC3\xA9", -1) == 3);   // e + combining acute, t, é
    CHECK(text_width("\xFF\xFE", 2) == 2);              // invalid bytes: one column each
    uint32_t cp;
    CHECK(utf8_decode("\xE4\xB8\xAD", 3, &cp) == 3 && cp == 0x4E2D);
    CHECK(utf8_decode("\xE4\xB8", 2, &cp) == 1 && cp == 0xFFFD);       // cut short
    CHECK(utf8_decode("\xC0\xAF", 2, &cp) == 1 && cp == 0xFFFD);       // overlong '/'
    CHECK(utf8_decode("\xED\xA0\x80", 3, &cp) == 1 && cp == 0xFFFD);   // a surrogate
}

static void test_canvas_put(void) {
    tui_canvas cv;
    CHECK(canvas_init(&cv, 10, 3, 1) == 0);
    // a wide glyph is a head and a tail; the line reads back as written
    int end = canvas_put(&cv, 0, 0, TUI_NORMAL, "a中b", -1, -1);
    CHECK(end == 4);
    CHECK(canvas_at(&cv, 0, 2)->tail == 1 && !strcmp(canvas_at(&cv, 0, 1)->g, "中"));
    CHECK(!strcmp(line(&cv, 0), "a中b"));
    // a wide glyph that does not fit whole is left out
    end = canvas_put(&cv, 1, 7, TUI_NORMAL, "xy中", -1, -1);
    CHECK(end == 9);
    CHECK(!strcmp(line(&cv, 1), "       xy"));
    // max_w clips; the return is where writing stopped
    CHECK(canvas_put(&cv, 2, 0, TUI_NORMAL, "hello world", -1, 5) == 5);
    CHECK(!strcmp(line(&cv, 2), "hello"));
    // combining marks join the glyph before them
    canvas_clear(&cv);
    end = canvas_put(&cv, 0, 0, TUI_ERROR, "e\xCC\x81x", -1, -1);
    CHECK(end == 2 && !strcmp(canvas_at(&cv, 0, 0)->g, "e\xCC\x81"));
    CHECK(canvas_at(&cv, 0, 0)->role == TUI_ERROR);
    // overwriting half of a wide glyph blanks the other half
    canvas_clear(&cv);
    canvas_put(&cv, 0, 0, 0, "中", -1, -1);
    canvas_put(&cv, 0, 1, 0, "z", -1, -1);
    CHECK(!strcmp(canvas_at(&cv, 0, 0)->g, " ") && !strcmp(canvas_at(&cv, 0, 1)->g, "z"));
    CHECK(canvas_at(&cv, 0, 1)->tail == 0);
    // control characters and bad bytes show as U+FFFD; a newline stops
    canvas_clear(&cv);
    canvas_put(&cv, 0, 0, 0, "a\x01\xFF" "b\nc", -1, -1);
    CHECK(!strcmp(line(&cv, 0), "a\xEF\xBF\xBD\xEF\xBF\xBD" "b"));
    // clipped at the left and outside the grid: nothing breaks
    canvas_clear(&cv);
    CHECK(canvas_put(&cv, 0, -2, 0, "abcd", -1, -1) == 2);
    CHECK(!strcmp(line(&cv, 0), "cd"));
    CHECK(canvas_put(&cv, 5, 0, 0, "x", -1, -1) == 0);
    CHECK(canvas_at(&cv, 5, 0) == NULL && canvas_at(&cv, 0, 10) == NULL && canvas_at(&cv, 0, -1) == NULL);
    // resize keeps working and clears
    CHECK(canvas_resize(&cv, 4, 2) == 0 && cv.w == 4 && cv.h == 2 && !strcmp(line(&cv, 0), ""));
    canvas_free(&cv);

    // ASCII canvas: anything not ASCII is '?', accents go with their base
    CHECK(canvas_init(&cv, 12, 1, 0) == 0);
    canvas_put(&cv, 0, 0, 0, "a中e\xCC\x81!", -1, -1);
    CHECK(!strcmp(line(&cv, 0), "a?e!"));
    canvas_free(&cv);
}

static void test_canvas_box(void) {
    tui_canvas cv;
    CHECK(canvas_init(&cv, 12, 4, 1) == 0);
    canvas_box(&cv, 0, 0, 4, 12, TUI_BORDER, "Chat");
    CHECK(!strcmp(line(&cv, 0), "┌ Chat ────┐"));
    CHECK(!strcmp(line(&cv, 1), "│          │"));
    CHECK(!strcmp(line(&cv, 3), "└──────────┘"));
    CHECK(canvas_at(&cv, 1, 0)->role == TUI_BORDER);
    // a title too long for the box is cut inside the corners
    canvas_clear(&cv);
    canvas_box(&cv, 0, 0, 3, 8, TUI_BORDER, "A long title");
    CHECK(!strcmp(line(&cv, 0), "┌ A lo ┐"));
    canvas_free(&cv);
    CHECK(canvas_init(&cv, 6, 3, 0) == 0);
    canvas_box(&cv, 0, 0, 3, 6, TUI_BORDER, NULL);
    CHECK(!strcmp(line(&cv, 0), "+----+"));
    CHECK(!strcmp(line(&cv, 1), "|    |"));
    CHECK(!strcmp(line(&cv, 2), "+----+"));
    canvas_free(&cv);
}

// ---- wrapping ----------------------------------------------------------------------

static void wrapped(const char *text, int width, char out[][64], int *n) {
    wrap_line l[32];
    *n = wrap_text(text, strlen(text), width, l, 32);
    for (int i = 0; i < *n && i < 32; i++) {
        snprintf(out[i], 64, "%.*s", (int)l[i].len, text + l[i].off);
        CHECKF(l[i].width == text_width(out[i], -1), "line %d '%s': width %d", i, out[i], l[i].width);
        CHECKF(l[i].width <= width, "line %d '%s' is %d wide, over %d", i, out[i], l[i].width, width);
    }
}

static void test_wrap(void) {
    char o[32][64];
    int n;
    wrapped("the quick brown fox jumps", 10, o, &n);
    CHECK(n == 3 && !strcmp(o[0], "the quick") && !strcmp(o[1], "brown fox") && !strcmp(o[2], "jumps"));
    // a word longer than the line is cut inside
    wrapped("abcdefghijkl xy", 5, o, &n);
    CHECK(n == 3 && !strcmp(o[0], "abcde") && !strcmp(o[1], "fghij") && !strcmp(o[2], "kl xy"));
    // '\n' always ends a line; an empty line stays
    wrapped("one\n\ntwo", 10, o, &n);
    CHECK(n == 3 && !strcmp(o[0], "one") && !strcmp(o[1], "") && !strcmp(o[2], "two"));
    // CJK: two columns a glyph, so five glyphs of 2 fill width 10 and the sixth goes on
    wrapped("中文中文中文", 10, o, &n);
    CHECK(n == 2 && !strcmp(o[0], "中文中文中") && !strcmp(o[1], "文"));
    // an odd width leaves the column a wide glyph cannot use empty
    wrapped("中文中", 5, o, &n);
    CHECK(n == 2 && !strcmp(o[0], "中文") && !strcmp(o[1], "中"));
    // combining marks stay with their base and take no width
    wrapped("cafe\xCC\x81 cafe\xCC\x81", 5, o, &n);
    CHECK(n == 2 && !strcmp(o[0], "cafe\xCC\x81") && !strcmp(o[1], "cafe\xCC\x81"));
    // width 1 and a wide glyph: it goes alone (wider than the line)
    wrap_line l[8];
    n = wrap_text("中a", 4, 1, l, 8);
    CHECK(n == 2 && l[0].len == 3 && l[0].width == 2 && l[1].len == 1);
    // size first, then fill
    CHECK(wrap_text("a b c d e f", 11, 3, NULL, 0) == 3);
    CHECK(wrap_text("", 0, 10, l, 8) == 1 && l[0].len == 0);
    CHECK(wrap_text(NULL, 5, 10, l, 8) == 1);
}

// ---- plot --------------------------------------------------------------------------

static void test_axis(void) {
    plot_axis a;
    plot_axis_nice(0, 10, 6, &a);
    CHECK(a.step == 2 && a.lo == 0 && a.hi == 10 && a.n_ticks == 6);
    plot_axis_nice(0.31, 2.87, 6, &a);   // 0.5 would need 7 ticks (0 .. 3): 1 is the smallest that fits
    CHECK(a.step == 1 && a.lo == 0 && a.hi == 3 && a.n_ticks == 4);
    plot_axis_nice(0.31, 2.87, 7, &a);
    CHECK(fabs(a.step - 0.5) < 1e-12 && a.lo == 0 && a.hi == 3 && a.n_ticks == 7);
    plot_axis_nice(0.3, 0.9, 7, &a);   // 0.3/0.1 is 2.9999999999999996: no tick below 0.3
    CHECK(fabs(a.step - 0.1) < 1e-12 && fabs(a.lo - 0.3) < 1e-9 && a.n_ticks == 7);
    plot_axis_nice(2.5, 2.5, 5, &a);   // a flat range is widened around its value
    CHECK(a.lo < 2.5 && a.hi > 2.5 && a.n_ticks >= 2);
    plot_axis_nice(NAN, INFINITY, 5, &a);
    CHECK(a.lo == 0 && a.hi == 1);
    for (int mt = 2; mt <= 12; mt++)   // every step is 1, 2 or 5 times a power of ten and covers the range
        for (double hi = 0.013; hi < 5000; hi *= 3.7) {
            plot_axis_nice(-hi / 3, hi, mt, &a);
            double m = a.step / pow(10, floor(log10(a.step) + 1e-12));
            CHECKF(fabs(m - 1) < 1e-9 || fabs(m - 2) < 1e-9 || fabs(m - 5) < 1e-9, "step %g", a.step);
            CHECKF(a.lo <= -hi / 3 + 1e-12 && a.hi >= hi - 1e-12, "[%g, %g] misses [%g, %g]", a.lo, a.hi, -hi / 3, hi);
            CHECKF(a.n_ticks <= (mt < 3 ? 3 : mt), "%d ticks over %d", a.n_ticks, mt);
        }
}

static void test_smooth(void) {
    float y[5] = {4, 2, NAN, 2, 2}, s[5];
    plot_smooth(y, 5, 0, s);
    CHECK(s[0] == 4 && s[1] == 2 && isnan(s[2]) && s[4] == 2);
    plot_smooth(y, 5, 0.5f, s);
    // debiased EMA: s0 = y0; s1 = (0.5*0.5*4... ) = (0.25*... ) -> (0.5*4*0.5 + 0.5*2) / (1 - 0.25)
    CHECK(check_close(s[0], 4, 1e-6f, 0));
    CHECK(check_close(s[1], (0.25f * 4 + 0.5f * 2) / 0.75f, 1e-6f, 0));
    CHECK(isnan(s[2]));
    CHECK(s[3] < s[1] && s[4] < s[3] && s[4] > 2);
}

// Rows (0 = top) where series role has dots in column c of the plot area.
static int top_dot_row(const tui_canvas *cv, int role) {
    for (int y = 1; y < cv->h; y++)   // row 0 is the legend
        for (int x = 0; x < cv->w; x++)
            if (canvas_at(cv, y, x)->role == role && canvas_at(cv, y, x)->g[0] != ' ') return y;
    return -1;
}

static void test_plot(void) {
    enum { N = 60 };
    float x[N], y[N], sm[N];
    for (int i = 0; i < N; i++) x[i] = (float)(i + 1), y[i] = 3.0f * expf(-i / 15.0f) + 0.5f;
    plot_smooth(y, N, 0.6f, sm);
    plot_series s[2] = {{"loss", x, y, N, TUI_LOSS_RAW, '.'}, {"smoothed", x, sm, N, TUI_LOSS_SMOOTH, '*'}};
    tui_canvas cv;
    CHECK(canvas_init(&cv, 60, 16, 1) == 0);
    CHECK(plot_draw(&cv, 0, 0, 16, 60, s, 2, "step", PLOT_BRAILLE) == 0);
    // legend on the top line, x label at the bottom right, axis corner
    CHECK(strstr(line(&cv, 0), "loss") && strstr(line(&cv, 0), "smoothed"));
    CHECK(strstr(line(&cv, 15), "step") != NULL);
    CHECK(contains(&cv, "└"));
    // y labels: the range [0.5, 3.5] gets ticks 0.5 or 1 apart, printed at the left
    CHECK(contains(&cv, "3") && contains(&cv, "1"));
    // braille dots of both series
    int braille = 0;
    for (int r = 1; r < 13; r++)
        for (int c = 0; c < 60; c++) {
            const unsigned char *g = (const unsigned char *)canvas_at(&cv, r, c)->g;
            braille += g[0] == 0xE2 && (g[1] == 0xA0 || g[1] == 0xA1 || g[1] == 0xA2 || g[1] == 0xA3);
        }
    CHECK(braille > 30);
    CHECK(count_role(&cv, -1, TUI_LOSS_RAW) > 10 && count_role(&cv, -1, TUI_LOSS_SMOOTH) > 10);
    CHECK(count_role(&cv, -1, TUI_AXIS) > 60);
    // falling values: the first point is high, the last low
    int first_row = -1, last_row = -1;
    tui_canvas one;
    CHECK(canvas_init(&one, 60, 16, 1) == 0);
    plot_series head = {"loss", x, y, 1, TUI_LOSS_RAW, '.'};
    plot_series tail = {"loss", x + N - 1, y + N - 1, 1, TUI_LOSS_RAW, '.'};
    plot_series both[2] = {head, {"", x + N - 1, y + N - 1, 1, TUI_LOSS_EVAL, 'o'}};
    plot_draw(&one, 0, 0, 16, 60, both, 2, "step", PLOT_BRAILLE);
    first_row = top_dot_row(&one, TUI_LOSS_RAW);
    last_row = top_dot_row(&one, TUI_LOSS_EVAL);
    CHECKF(first_row >= 1 && last_row > first_row, "first %d, last %d", first_row, last_row);
    (void)tail;
    canvas_free(&one);

    // rescaling: the same curve, after the loss fell by 10x, fills the height again
    float y2[N];
    for (int i = 0; i < N; i++) y2[i] = y[i] / 10;
    plot_series s2 = {"loss", x, y2, N, TUI_LOSS_RAW, '.'};
    canvas_clear(&cv);
    plot_draw(&cv, 0, 0, 16, 60, &s2, 1, "step", PLOT_BRAILLE);
    int top = top_dot_row(&cv, TUI_LOSS_RAW);
    CHECKF(top >= 1 && top <= 2, "the highest point is on row %d, not at the top", top);
    CHECK(contains(&cv, "0.3") || contains(&cv, "0.35") || contains(&cv, "0.4"));   // a tick near the new top

    // block quadrants and ASCII draw the same curve in other glyphs
    canvas_clear(&cv);
    plot_draw(&cv, 0, 0, 16, 60, s, 2, "step", PLOT_BLOCK);
    CHECK(contains(&cv, "▀") || contains(&cv, "▄") || contains(&cv, "▘") || contains(&cv, "▗") || contains(&cv, "▌"));
    tui_canvas ac;
    CHECK(canvas_init(&ac, 60, 16, 0) == 0);
    plot_draw(&ac, 0, 0, 16, 60, s, 2, "step", PLOT_BRAILLE);   // an ASCII canvas forces ASCII
    CHECK(contains(&ac, "+-") && contains(&ac, "*"));
    int non_ascii = 0;
    for (int r = 0; r < 16; r++)
        for (const char *p = line(&ac, r); *p; p++) non_ascii += (unsigned char)*p >= 0x80;
    CHECK(non_ascii == 0);
    canvas_free(&ac);

    // gaps: a NaN breaks the line without drawing anything for it
    float yg[4] = {1, NAN, NAN, 1}, xg[4] = {0, 1, 2, 3};
    plot_series g = {"loss", xg, yg, 4, TUI_LOSS_RAW, '.'};
    canvas_clear(&cv);
    CHECK(plot_draw(&cv, 0, 0, 16, 60, &g, 1, "step", PLOT_BRAILLE) == 0);

    // too small: a one-line summary of the last values
    canvas_clear(&cv);
    CHECK(plot_draw(&cv, 0, 0, 5, 30, s, 2, "step", PLOT_BRAILLE) == 0);
    char want[64];
    snprintf(want, sizeof want, "loss %.3g (step 60)", y[N - 1]);
    CHECKF(strstr(line(&cv, 0), want) != NULL, "summary '%s'", line(&cv, 0));
    // nothing yet
    plot_series none = {"loss", x, y, 0, TUI_LOSS_RAW, '.'};
    canvas_clear(&cv);
    CHECK(plot_draw(&cv, 0, 0, 16, 60, &none, 1, "step", PLOT_BRAILLE) == -1);
    CHECK(contains(&cv, "no data yet"));
    // nothing drawn outside the rectangle
    canvas_clear(&cv);
    plot_draw(&cv, 2, 5, 10, 40, s, 2, "step", PLOT_BRAILLE);
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 60; c++)
            if (r < 2 || r >= 12 || c < 5 || c >= 45) CHECK(!strcmp(canvas_at(&cv, r, c)->g, " "));
    canvas_free(&cv);
}

// ---- heat map ----------------------------------------------------------------------

static void test_heat(void) {
    CHECK(heat_level(-1, 1) == -1);
    CHECK(heat_level(NAN, 1) == -1);
    CHECK(heat_level(0, 1) == 0);
    CHECK(heat_level(0.19f, 1) == 0 && heat_level(0.2f, 1) == 1);
    CHECK(heat_level(0.59f, 1) == 2 && heat_level(0.79f, 1) == 3 && heat_level(0.8f, 1) == 4);
    CHECK(heat_level(1, 1) == 4 && heat_level(7, 1) == 4);
    CHECK(heat_level(0.5f, 0) == 0);
    const char *cols[3] = {"q", "k", "v"};
    float v[4 * 3] = {0, 0.5f, 1.0f,     //
                      -1, 0.25f, 0.9f,   // layer 1 has no q
                      0.1f, 0.1f, 0.1f,  //
                      0.7f, 0.7f, 0.7f};
    tui_canvas cv;
    CHECK(canvas_init(&cv, 30, 8, 1) == 0);
    CHECK(heat_draw(&cv, 0, 0, 8, 30, v, 4, 3, cols, 0) == 4);
    CHECK(strstr(line(&cv, 0), "q") && strstr(line(&cv, 0), "v"));
    CHECK(!strncmp(line(&cv, 1), "L0", 2));
    // layer 0: 0 -> '·' level 0, 0.5 -> level 2, 1.0 -> level 4
    const tui_cell *c = canvas_at(&cv, 1, 4);
    CHECK(!strcmp(c->g, "·") && c->role == TUI_HEAT0);
    c = canvas_at(&cv, 1, 9);   // cells 5 wide (the cap) after the 4 of the row label
    CHECK(!strcmp(c->g, "▒") && c->role == TUI_HEAT2);
    c = canvas_at(&cv, 1, 14);
    CHECK(!strcmp(c->g, "█") && c->role == TUI_HEAT4);
    // no module: blank
    CHECK(!strcmp(canvas_at(&cv, 2, 4)->g, " "));
    CHECK(strstr(line(&cv, 5), "max 1") != NULL);
    canvas_free(&cv);
    // ASCII shades and a row summary: 4 layers in 2 rows, each the max of its pair
    CHECK(canvas_init(&cv, 30, 4, 0) == 0);
    CHECK(heat_draw(&cv, 0, 0, 4, 30, v, 4, 3, cols, 1.0f) == 2);
    CHECK(!strcmp(canvas_at(&cv, 1, 4)->g, "."));    // max(0, -1) = 0: level 0
    CHECK(!strcmp(canvas_at(&cv, 1, 14)->g, "#"));   // max(1, 0.9): level 4
    CHECK(!strcmp(canvas_at(&cv, 2, 4)->g, "*"));    // max(0.1, 0.7): level 3
    CHECK(!strncmp(line(&cv, 2), "L2", 2));
    CHECK(strstr(line(&cv, 3), "max of 2 layers") != NULL || strstr(line(&cv, 3), ".:+*#") != NULL);
    canvas_free(&cv);
    // too small draws nothing and says so by its count
    CHECK(canvas_init(&cv, 6, 2, 1) == 0);
    CHECK(heat_draw(&cv, 0, 0, 2, 6, v, 4, 3, cols, 0) == 0);
    canvas_free(&cv);
}

// ---- forms -------------------------------------------------------------------------

static const tui_field *field(int form, const char *name) {
    for (int i = 0; i < tui_form_count(form); i++)
        if (!strcmp(tui_form_field(form, i)->name, name)) return tui_form_field(form, i);
    return NULL;
}

// Sets name to text: 0 and the field's value read back, or -1 and why.
static int set(tui_app *a, int form, const char *name, const char *text, char *back, char *why) {
    const tui_field *f = field(form, name);
    if (!f) {
        snprintf(why, 160, "no field %s", name);
        return -2;
    }
    int rc = tui_field_set(a, f, text, why, 160);
    tui_field_get(a, f, back, 1024);
    return rc;
}

static void test_forms(void) {
    // every field has a name, a tag and a one-line help; names are unique in a form
    for (int form = 0; form < FORM_COUNT; form++) {
        CHECK(tui_form_count(form) > 0 && tui_form_count(form) <= TUI_FORM_MAX);
        for (int i = 0; i < tui_form_count(form); i++) {
            const tui_field *f = tui_form_field(form, i);
            CHECK(f->name && f->tag && f->help && strlen(f->help) > 20 && !strchr(f->help, '\n'));
            for (int j = 0; j < i; j++) CHECK(strcmp(f->name, tui_form_field(form, j)->name));
        }
        CHECK(tui_form_field(form, tui_form_count(form)) == NULL);
    }
    // PEFT's LoraConfig fields as PEFT names them
    const char *peft[] = {"r", "lora_alpha", "lora_dropout", "target_modules", "exclude_modules", "layers_to_transform",
                          "layers_pattern", "bias", "use_rslora", "init_lora_weights", "rank_pattern", "alpha_pattern",
                          "modules_to_save", "fan_in_fan_out"};
    for (size_t i = 0; i < sizeof peft / sizeof *peft; i++) CHECKF(field(FORM_LORA, peft[i]) != NULL, "%s", peft[i]);

    tui_app *a = calloc(1, sizeof *a);
    pt_lora_flags fl;
    pt_lora_flags_default(&fl);
    pt_err err = {0};
    CHECK(pt_lora_config_build(&a->cfg, &fl, &err) == PT_OK);
    train_params_defaults(&a->tp);
    sampling_defaults(&a->sampling);
    char back[1024], why[160];

    // good values are used at once and read back in the form's spelling
    CHECK(set(a, FORM_LORA, "r", "16", back, why) == 0 && a->cfg.r == 16 && !strcmp(back, "16"));
    CHECK(set(a, FORM_LORA, "lora_alpha", " 32", back, why) == 0 && a->cfg.lora_alpha == 32);
    CHECK(set(a, FORM_LORA, "bias", "lora_only", back, why) == 0 && !strcmp(back, "lora_only"));
    CHECK(set(a, FORM_LORA, "use_rslora", "yes", back, why) == 0 && a->cfg.use_rslora == 1 && !strcmp(back, "true"));
    CHECK(set(a, FORM_LORA, "target_modules", "q_proj, v_proj", back, why) == 0 && a->cfg.n_target_modules == 2 &&
          !strcmp(a->cfg.target_modules[1], "v_proj"));
    CHECK(set(a, FORM_LORA, "layers_to_transform", "0,1", back, why) == 0 && a->cfg.n_layers_to_transform == 2 &&
          !strcmp(back, "0,1"));
    CHECK(set(a, FORM_LORA, "rank_pattern", ".*q_proj:16", back, why) == 0 && a->cfg.n_rank_pattern == 1);
    CHECK(set(a, FORM_TRAIN, "learning_rate", "2e-4", back, why) == 0 && check_close(a->tp.lr, 2e-4f, 0, 1e-6f));
    CHECK(set(a, FORM_TRAIN, "lr_scheduler_type", "cosine", back, why) == 0 && !strcmp(back, "cosine"));
    CHECK(set(a, FORM_SAMPLING, "temperature", "0", back, why) == 0 && a->sampling.temp == 0);

    // bad values: -1, the reason, and the value before is kept
    CHECK(set(a, FORM_LORA, "r", "abc", back, why) == -1 && strstr(why, "is not a whole number") && a->cfg.r == 16);
    CHECK(set(a, FORM_LORA, "r", "0", back, why) == -1 && strstr(why, "out of range") && a->cfg.r == 16);
    CHECK(set(a, FORM_LORA, "r", "", back, why) == -1 && a->cfg.r == 16);
    CHECK(set(a, FORM_LORA, "lora_alpha", "-1", back, why) == -1 && strstr(why, "positive") && a->cfg.lora_alpha == 32);
    CHECK(set(a, FORM_LORA, "lora_dropout", "1", back, why) == -1 && strstr(why, "[0, 1)"));
    CHECK(set(a, FORM_LORA, "lora_dropout", "nan", back, why) == -1);
    CHECK(set(a, FORM_LORA, "bias", "some", back, why) == -1 && strstr(why, "none") && !strcmp(back, "lora_only"));
    CHECK(set(a, FORM_LORA, "use_rslora", "maybe", back, why) == -1 && a->cfg.use_rslora == 1);
    CHECK(set(a, FORM_LORA, "layers_to_transform", "0,x", back, why) == -1 && a->cfg.n_layers_to_transform == 2);
    CHECK(set(a, FORM_LORA, "rank_pattern", ".*q_proj", back, why) == -1 && a->cfg.n_rank_pattern == 1);
    CHECK(set(a, FORM_TRAIN, "learning_rate", "fast", back, why) == -1 && check_close(a->tp.lr, 2e-4f, 0, 1e-6f));
    CHECK(set(a, FORM_TRAIN, "per_device_train_batch_size", "0", back, why) == -1);
    CHECK(set(a, FORM_TRAIN, "seed", "-3", back, why) == -1);
    CHECK(set(a, FORM_TRAIN, "eval_fraction", "1.5", back, why) == -1);
    CHECK(set(a, FORM_SAMPLING, "temperature", "-0.1", back, why) == -1 && a->sampling.temp == 0);

    // booleans and enumerations cycle both ways
    const tui_field *bias = field(FORM_LORA, "bias");
    CHECK(tui_field_cycles(bias) && !tui_field_cycles(field(FORM_LORA, "r")));
    tui_field_cycle(a, bias, 1);
    tui_field_get(a, bias, back, sizeof back);
    CHECK(!strcmp(back, "none"));
    tui_field_cycle(a, bias, -1);
    tui_field_get(a, bias, back, sizeof back);
    CHECK(!strcmp(back, "lora_only"));
    CHECK(tui_field_is_targets(field(FORM_LORA, "target_modules")));

    // the engine's checks on the tiny model land on the field they name: a
    // target that matches nothing is an error on target_modules, a warm-up
    // longer than the run on warmup_steps; sampling's seed is never blamed
    pt_ws_opts o;
    pt_ws_opts_default(&o);
    o.device = "cpu";
    o.threads = 1;
    if (pt_ws_create(&a->ws, &o, &err) == PT_OK) {
        int task;
        CHECK(pt_ws_load_model(a->ws, TINY_HF, &task, &err) == PT_OK && pt_ws_wait(a->ws, task, &err) == PT_OK);
        // a regex that does not compile is the engine's to judge (PCRE2's words), shown on its field
        CHECK(set(a, FORM_LORA, "rank_pattern", "(:4", back, why) == 0);
        a->n_problems = pt_ws_check(a->ws, &a->cfg, &a->tp, a->problems, 32);
        const pt_problem *rp = tui_field_problem(a, field(FORM_LORA, "rank_pattern"));
        CHECK(rp && !rp->warning && strstr(rp->msg, "missing closing parenthesis"));
        CHECK(set(a, FORM_LORA, "rank_pattern", "", back, why) == 0 && a->cfg.n_rank_pattern == 0);
        CHECK(set(a, FORM_LORA, "target_modules", "no_such_proj", back, why) == 0);
        a->n_problems = pt_ws_check(a->ws, &a->cfg, &a->tp, a->problems, 32);
        const pt_problem *p = tui_field_problem(a, field(FORM_LORA, "target_modules"));
        CHECKF(p && !p->warning, "%d problems, first '%s'", a->n_problems, a->n_problems ? a->problems[0].msg : "");
        CHECK(tui_field_problem(a, field(FORM_LORA, "r")) == NULL);
        CHECK(set(a, FORM_LORA, "target_modules", "q_proj,v_proj", back, why) == 0);
        a->n_problems = pt_ws_check(a->ws, &a->cfg, &a->tp, a->problems, 32);
        CHECK(tui_field_problem(a, field(FORM_LORA, "target_modules")) == NULL);
        CHECK(tui_field_problem(a, field(FORM_SAMPLING, "seed")) == NULL);
        pt_ws_destroy(a->ws);
    } else {
        CHECKF(0, "no workspace: %s", err.msg);
    }
    lora_config_free(&a->cfg);
    free(a);
}

// ---- key sequences -----------------------------------------------------------------

static int key(const char *seq) { return vt_key(seq, strlen(seq)); }

static void test_vtkeys(void) {
    CHECK(key("[A") == TK_UP && key("[B") == TK_DOWN && key("[C") == TK_RIGHT && key("[D") == TK_LEFT);
    CHECK(key("OA") == TK_UP && key("OF") == TK_END && key("OH") == TK_HOME);
    CHECK(key("[4~") == TK_END && key("[1~") == TK_HOME && key("[7~") == TK_HOME && key("[8~") == TK_END);
    CHECK(key("[5~") == TK_PGUP && key("[6~") == TK_PGDN && key("[3~") == TK_DEL && key("[2~") == TK_INS);
    CHECK(key("OP") == TK_F(1) && key("[11~") == TK_F(1) && key("[15~") == TK_F(5) && key("[17~") == TK_F(6));
    CHECK(key("[21~") == TK_F(10) && key("[24~") == TK_F(12));
    CHECK(key("[1;5C") == TK_RIGHT && key("[3;2~") == TK_DEL && key("[Z") == TK_BTAB);
    CHECK(key("[200~") == -1 && key("[99x") == -1);   // bracketed paste start, unknown: swallowed
    CHECK(!vt_complete("[", 1) && !vt_complete("[4", 2) && !vt_complete("[1;5", 4) && !vt_complete("O", 1));
    CHECK(vt_complete("[4~", 3) && vt_complete("OF", 2) && vt_complete("[A", 2));
    CHECK(key("[4") == -1);   // incomplete
}

int main(void) {
    test_vtkeys();
    test_widths();
    test_canvas_put();
    test_canvas_box();
    test_wrap();
    test_axis();
    test_smooth();
    test_plot();
    test_heat();
    test_forms();
    return check_report("test_tui_draw");
}
