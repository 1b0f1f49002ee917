// canvas.c - the cell grid screens draw into (see canvas.h): UTF-8 glyphs
// with their display widths, wide glyphs as head + tail, combining marks
// joined to the glyph before, clipping everywhere.
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "tui/canvas.h"

// ---- code points -----------------------------------------------------------------

typedef struct {
    uint32_t lo, hi;
} cp_range;

static const cp_range ZERO[] = {
    {0x0300, 0x036F}, {0x0483, 0x0489}, {0x0591, 0x05BD}, {0x0610, 0x061A}, {0x064B, 0x065F}, {0x0E31, 0x0E31},
    {0x0E34, 0x0E3A}, {0x0E47, 0x0E4E}, {0x1AB0, 0x1AFF}, {0x1DC0, 0x1DFF}, {0x200B, 0x200F}, {0x202A, 0x202E},
    {0x2060, 0x2064}, {0x20D0, 0x20FF}, {0xFE00, 0xFE0F}, {0xFE20, 0xFE2F}, {0xFEFF, 0xFEFF},
};
static const cp_range WIDE[] = {
    {0x1100, 0x115F}, {0x2E80, 0x303E}, {0x3041, 0x33FF}, {0x3400, 0x4DBF}, {0x4E00, 0x9FFF}, {0xA000, 0xA4CF},
    {0xAC00, 0xD7A3}, {0xF900, 0xFAFF}, {0xFE30, 0xFE4F}, {0xFF00, 0xFF60}, {0xFFE0, 0xFFE6}, {0x1F300, 0x1F64F},
    {0x1F900, 0x1F9FF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD},
};

static int in_ranges(uint32_t cp, const cp_range *r, int n) {
    for (int i = 0; i < n; i++)
        if (cp >= r[i].lo && cp <= r[i].hi) return 1;
    return 0;
}

// Our own table, not wcwidth(3): widths must not depend on the locale.
int cp_width(uint32_t cp) {
    if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) return -1;
    if (in_ranges(cp, ZERO, (int)(sizeof ZERO / sizeof ZERO[0]))) return 0;
    if (in_ranges(cp, WIDE, (int)(sizeof WIDE / sizeof WIDE[0]))) return 2;
    return 1;
}

int utf8_decode(const char *s, size_t n, uint32_t *cp) {
    const unsigned char *u = (const unsigned char *)s;
    if (n == 0) {
        *cp = 0xFFFD;
        return 1;
    }
    if (u[0] < 0x80) {
        *cp = u[0];
        return 1;
    }
    int len = u[0] >= 0xF0 && u[0] <= 0xF4 ? 4 : u[0] >= 0xE0 ? 3 : u[0] >= 0xC2 && u[0] < 0xE0 ? 2 : 0;
    if (u[0] >= 0xF5) len = 0;
    if (!len || (size_t)len > n) {
        *cp = 0xFFFD;
        return 1;
    }
    uint32_t c = u[0] & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        if ((u[i] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        c = c << 6 | (u[i] & 0x3F);
    }
    // overlong forms, surrogates and beyond U+10FFFF are not text
    static const uint32_t MIN[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < MIN[len] || (c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF) {
        *cp = 0xFFFD;
        return 1;
    }
    *cp = c;
    return len;
}

int text_width(const char *s, long n) {
    size_t len = n < 0 ? strlen(s) : (size_t)n;
    int w = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        i += (size_t)utf8_decode(s + i, len - i, &cp);
        int cw = cp_width(cp);
        w += cw < 0 ? 1 : cw;
    }
    return w;
}

// ---- the grid ------------------------------------------------------------------------

int canvas_init(tui_canvas *cv, int w, int h, int utf8) {
    memset(cv, 0, sizeof *cv);
    cv->utf8 = utf8;
    return canvas_resize(cv, w, h);
}

int canvas_resize(tui_canvas *cv, int w, int h) {
    if (w < 1) w = 1;
    if (h < 1) h = 1;
    tui_cell *c = calloc((size_t)w * (size_t)h, sizeof *c);
    if (!c) return -1;
    free(cv->c);
    cv->c = c;
    cv->w = w;
    cv->h = h;
    canvas_clear(cv);
    return 0;
}

void canvas_free(tui_canvas *cv) {
    free(cv->c);
    cv->c = NULL;
    cv->w = cv->h = 0;
}

void canvas_clear(tui_canvas *cv) {
    for (int i = 0; i < cv->w * cv->h; i++) {
        cv->c[i].g[0] = ' ';
        cv->c[i].g[1] = 0;
        cv->c[i].role = 0;
        cv->c[i].tail = 0;
    }
}

const tui_cell *canvas_at(const tui_canvas *cv, int y, int x) {
    if (y < 0 || x < 0 || y >= cv->h || x >= cv->w) return NULL;
    return &cv->c[(size_t)y * cv->w + x];
}

static tui_cell *cell(tui_canvas *cv, int y, int x) {
    return (tui_cell *)canvas_at(cv, y, x);
}

static void blank(tui_cell *c, int role) {
    c->g[0] = ' ';
    c->g[1] = 0;
    c->tail = 0;
    c->role = (uint8_t)role;
}

// Before writing cell (y, x): a wide glyph it is half of goes whole.
static void unsplit(tui_canvas *cv, int y, int x) {
    tui_cell *c = cell(cv, y, x);
    if (!c) return;
    if (c->tail && x > 0) blank(cell(cv, y, x - 1), cell(cv, y, x - 1)->role);
    tui_cell *next = cell(cv, y, x + 1);
    if (next && next->tail) blank(next, next->role);
}

int canvas_put(tui_canvas *cv, int y, int x, int role, const char *s, long n, int max_w) {
    if (!s) return x;
    size_t len = n < 0 ? strlen(s) : (size_t)n;
    int limit = cv->w;
    if (max_w >= 0 && x + max_w < limit) limit = x + max_w;
    if (y < 0 || y >= cv->h) return x;
    tui_cell *last = NULL;   // the glyph combining marks join
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int bl = utf8_decode(s + i, len - i, &cp);
        const char *bytes = s + i;
        i += (size_t)bl;
        if (cp == '\n') break;
        if (cp == '\t') cp = ' ', bytes = " ", bl = 1;
        int cw = cp_width(cp);
        if (cw < 0 || cp == 0xFFFD) {
            cw = 1;
            if (cv->utf8) bytes = "\xEF\xBF\xBD", bl = 3;
            else bytes = "?", bl = 1;
        } else if (!cv->utf8 && cp >= 0x80) {
            if (cw == 0) continue;   // ASCII: accents are dropped with their base's '?'
            bytes = "?", bl = 1, cw = 1;
        }
        if (cw == 0) {
            if (last) {
                size_t have = strlen(last->g);
                if (have + (size_t)bl < sizeof last->g) {
                    memcpy(last->g + have, bytes, (size_t)bl);
                    last->g[have + (size_t)bl] = 0;
                }
            }
            continue;
        }
        if (x + cw > limit) break;
        if (x < 0) {   // clipped at the left: skip the glyph
            x += cw;
            last = NULL;
            continue;
        }
        unsplit(cv, y, x);
        if (cw == 2) unsplit(cv, y, x + 1);
        tui_cell *c = cell(cv, y, x);
        memcpy(c->g, bytes, (size_t)bl);
        c->g[bl] = 0;
        c->role = (uint8_t)role;
        c->tail = 0;
        if (cw == 2) {
            tui_cell *t = cell(cv, y, x + 1);
            t->g[0] = 0;
            t->tail = 1;
            t->role = (uint8_t)role;
        }
        last = c;
        x += cw;
    }
    return x;
}

int canvas_printf(tui_canvas *cv, int y, int x, int role, const char *fmt, ...) {
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return canvas_put(cv, y, x, role, buf, -1, -1);
}

void canvas_role(tui_canvas *cv, int y, int x, int w, int role) {
    for (int i = 0; i < w; i++) {
        tui_cell *c = cell(cv, y, x + i);
        if (c) c->role = (uint8_t)role;
    }
}

void canvas_fill(tui_canvas *cv, int y, int x, int h, int w, int role, const char *glyph) {
    for (int r = 0; r < h; r++)
        for (int i = 0; i < w; i++) {
            if (!cell(cv, y + r, x + i)) continue;
            if (glyph) canvas_put(cv, y + r, x + i, role, glyph, -1, 1);
            else {
                unsplit(cv, y + r, x + i);
                blank(cell(cv, y + r, x + i), role);
            }
        }
}

void canvas_box(tui_canvas *cv, int y, int x, int h, int w, int role, const char *title) {
    if (h < 2 || w < 2) return;
    const char *hz = cv->utf8 ? "─" : "-", *vt = cv->utf8 ? "│" : "|";
    const char *tl = cv->utf8 ? "┌" : "+", *tr = cv->utf8 ? "┐" : "+", *bl = cv->utf8 ? "└" : "+", *br = cv->utf8 ? "┘" : "+";
    for (int i = 1; i < w - 1; i++) {
        canvas_put(cv, y, x + i, role, hz, -1, 1);
        canvas_put(cv, y + h - 1, x + i, role, hz, -1, 1);
    }
    for (int r = 1; r < h - 1; r++) {
        canvas_put(cv, y + r, x, role, vt, -1, 1);
        canvas_put(cv, y + r, x + w - 1, role, vt, -1, 1);
    }
    canvas_put(cv, y, x, role, tl, -1, 1);
    canvas_put(cv, y, x + w - 1, role, tr, -1, 1);
    canvas_put(cv, y + h - 1, x, role, bl, -1, 1);
    canvas_put(cv, y + h - 1, x + w - 1, role, br, -1, 1);
    if (title && w > 4) {
        int e = canvas_put(cv, y, x + 1, role, " ", 1, w - 2);
        e = canvas_put(cv, y, e, role, title, -1, x + w - 2 - e);
        if (e < x + w - 1) canvas_put(cv, y, e, role, " ", 1, 1);
    }
}

size_t canvas_line(const tui_canvas *cv, int y, char *buf, size_t cap) {
    size_t o = 0, keep = 0;
    if (cap == 0) return 0;
    buf[0] = 0;
    if (y < 0 || y >= cv->h) return 0;
    for (int x = 0; x < cv->w; x++) {
        const tui_cell *c = canvas_at(cv, y, x);
        if (c->tail) continue;
        size_t n = strlen(c->g);
        if (o + n + 1 > cap) break;
        memcpy(buf + o, c->g, n);
        o += n;
        if (!(n == 1 && c->g[0] == ' ')) keep = o;
    }
    buf[keep] = 0;
    return keep;
}

void canvas_dump(const tui_canvas *cv, FILE *f) {
    char *buf = malloc((size_t)cv->w * 16 + 1);
    if (!buf) return;
    for (int y = 0; y < cv->h; y++) {
        canvas_line(cv, y, buf, (size_t)cv->w * 16 + 1);
        fprintf(f, "%s\n", buf);
    }
    free(buf);
}
