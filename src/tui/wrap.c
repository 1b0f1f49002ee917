// wrap.c - breaking text into lines of a display width (see wrap.h).
#include "tui/wrap.h"
#include "tui/canvas.h"

#include <string.h>

static void emit(wrap_line *lines, int cap, int *n, size_t off, size_t len, int width) {
    if (*n < cap && lines) {
        lines[*n].off = off;
        lines[*n].len = len;
        lines[*n].width = width;
    }
    (*n)++;
}

int wrap_text(const char *text, size_t n, int width, wrap_line *lines, int cap) {
    if (width < 1) width = 1;
    if (!text) n = 0;   // memchr on NULL is undefined even for 0 bytes
    int count = 0;
    size_t start = 0;
    for (;;) {
        // one source line: [start, eol)
        const char *nl = n > start ? memchr(text + start, '\n', n - start) : NULL;
        size_t eol = nl ? (size_t)(nl - text) : n;
        size_t pos = start;
        int before = count;
        while (pos < eol) {
            size_t i = pos, brk = 0;   // brk: the last space that fits (have_brk set)
            int w = 0, w_brk = 0, have_brk = 0;
            while (i < eol) {
                uint32_t cp;
                int bl = utf8_decode(text + i, eol - i, &cp);
                int cw = cp_width(cp);
                if (cw < 0) cw = 1;
                if (w + cw > width && cw > 0) break;   // marks (cw 0) always stay with their base
                if (cp == ' ') {
                    brk = i;
                    w_brk = w;
                    have_brk = 1;
                }
                w += cw;
                i += (size_t)bl;
            }
            if (i >= eol) {
                emit(lines, cap, &count, pos, eol - pos, w);
                break;
            }
            if (text[i] == ' ') {   // the line is full right before a space: break there
                brk = i;
                w_brk = w;
                have_brk = 1;
            }
            if (have_brk) {   // at the space; the spaces around the break are left out
                size_t end = brk;
                while (end > pos && text[end - 1] == ' ') end--, w_brk--;
                // a line that would hold only spaces (indentation wider than the line) is not emitted
                if (end > pos) emit(lines, cap, &count, pos, end - pos, w_brk);
                pos = brk;
                while (pos < eol && text[pos] == ' ') pos++;
            } else if (i == pos) {   // one glyph wider than the line: it goes alone
                uint32_t cp;
                i += (size_t)utf8_decode(text + i, eol - i, &cp);
                while (i < eol) {   // with its combining marks
                    uint32_t c2;
                    int bl = utf8_decode(text + i, eol - i, &c2);
                    if (cp_width(c2) != 0) break;
                    i += (size_t)bl;
                }
                emit(lines, cap, &count, pos, i - pos, text_width(text + pos, (long)(i - pos)));
                pos = i;
            } else {   // a word wider than the line: broken between glyphs
                emit(lines, cap, &count, pos, i - pos, w);
                pos = i;
            }
        }
        if (count == before) emit(lines, cap, &count, start, 0, 0);   // an empty (or all-space) line is still a line
        if (!nl) break;
        start = eol + 1;
        if (start == n) {   // a trailing newline ends with an empty line
            emit(lines, cap, &count, start, 0, 0);
            break;
        }
    }
    return count;
}
