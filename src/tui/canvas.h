// canvas.h - a grid of cells that every screen draws into; one blit
// (tui_term.c) copies it to the terminal through ncurses. No ncurses here,
// so everything drawn can be unit-tested and captured as text.
//
// A cell holds one glyph (its UTF-8 bytes) and a role: what the glyph means
// (an error, the loss curve, a trained token), never a colour. The colour
// and attribute of each role are chosen in one table (tui_term.c).
// A wide glyph (CJK, some emoji) takes two cells: the second is a tail.
// Combining marks join the glyph before them. Control characters are shown
// as U+FFFD (or '?' when the canvas is ASCII).
#ifndef PT_TUI_CANVAS_H
#define PT_TUI_CANVAS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

// Roles by meaning. X(name, help): the help says where it is used.
#define TUI_ROLES(X)                                        \
    X(NORMAL, "plain text")                                 \
    X(DIM, "secondary text, masked tokens")                 \
    X(BOLD, "emphasis")                                     \
    X(TITLE, "a panel's title")                             \
    X(BORDER, "panel borders")                              \
    X(TAB, "a tab in the top bar")                          \
    X(TAB_ACTIVE, "the current tab")                        \
    X(BAR, "the top and bottom bars")                       \
    X(KEY, "a key name in the bottom bar and help")         \
    X(SELECT, "the selected line")                          \
    X(FIELD, "an editable value")                           \
    X(FIELD_EDIT, "the value being typed")                  \
    X(FIELD_BAD, "a value that cannot be used")             \
    X(ERROR, "an error message")                            \
    X(WARN, "a warning")                                    \
    X(OK, "success, done")                                  \
    X(BUSY, "work in progress")                             \
    X(TRAINED, "tokens the loss is computed on")            \
    X(MASKED, "tokens the loss ignores")                    \
    X(CUT, "tokens past max_seq_len")                       \
    X(AXIS, "plot axes and ticks")                          \
    X(LOSS_RAW, "training loss, each step")                 \
    X(LOSS_SMOOTH, "training loss, smoothed")               \
    X(LOSS_EVAL, "eval loss")                               \
    X(USER, "the user's messages")                          \
    X(ASSISTANT, "the model's answers")                     \
    X(DIFF, "where answers first differ")                   \
    X(MORE_LIKELY, "a token the adapter made more likely")  \
    X(LESS_LIKELY, "a token the adapter made less likely")  \
    X(HEAT0, "heat map, lowest fifth")                      \
    X(HEAT1, "heat map, second fifth")                      \
    X(HEAT2, "heat map, middle fifth")                      \
    X(HEAT3, "heat map, fourth fifth")                      \
    X(HEAT4, "heat map, highest fifth")

typedef enum {
#define X(name, help) TUI_##name,
    TUI_ROLES(X)
#undef X
    TUI_N_ROLES
} tui_role;

typedef struct {
    char g[16];        // one glyph's UTF-8, NUL-terminated (a base and its combining marks); "" in a tail
    uint8_t role;      // tui_role
    uint8_t tail;      // 1: the right half of the wide glyph in the cell before
} tui_cell;

typedef struct {
    int w, h;
    int utf8;          // 0: only ASCII goes out (other glyphs become '?'; box and plot use ASCII forms)
    tui_cell *c;       // (h, w)
} tui_canvas;

int canvas_init(tui_canvas *cv, int w, int h, int utf8);   // -1: out of memory
int canvas_resize(tui_canvas *cv, int w, int h);           // cleared; -1: out of memory (the old grid kept)
void canvas_free(tui_canvas *cv);
void canvas_clear(tui_canvas *cv);                         // spaces, role NORMAL
const tui_cell *canvas_at(const tui_canvas *cv, int y, int x);   // NULL outside

// Writes the UTF-8 text s (n bytes; n < 0: up to its NUL) from (y, x)
// rightwards, clipped at the right edge and at x + max_w (max_w < 0: no
// limit); a wide glyph that does not fit whole is left out. Stops at '\n'.
// Returns the column after the last glyph written. Invalid UTF-8 bytes
// become U+FFFD ('?' in ASCII).
int canvas_put(tui_canvas *cv, int y, int x, int role, const char *s, long n, int max_w);
int canvas_printf(tui_canvas *cv, int y, int x, int role, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
// Sets the role of w cells from (y, x), leaving the glyphs.
void canvas_role(tui_canvas *cv, int y, int x, int w, int role);
// Fills a rectangle with one glyph (NULL: a space).
void canvas_fill(tui_canvas *cv, int y, int x, int h, int w, int role, const char *glyph);
// A border around the rectangle (light box drawing, or +-| in ASCII), with
// the title (may be NULL) on the top edge.
void canvas_box(tui_canvas *cv, int y, int x, int h, int w, int role, const char *title);
// Line y as text (glyphs joined, tails skipped, trailing spaces cut) into buf.
size_t canvas_line(const tui_canvas *cv, int y, char *buf, size_t cap);
// The whole grid as text, one line per row (for tests and docs/workbench.md).
void canvas_dump(const tui_canvas *cv, FILE *f);

// Display width of UTF-8 text (n < 0: up to NUL): wide glyphs 2, combining 0,
// invalid bytes 1 each.
int text_width(const char *s, long n);
// Decodes one code point from s (n bytes left); returns its length (>= 1)
// and *cp (U+FFFD for an invalid byte, consuming one byte).
int utf8_decode(const char *s, size_t n, uint32_t *cp);
// Columns a code point takes: 0 (combining, zero-width), 1 or 2; -1 control.
int cp_width(uint32_t cp);

#endif
