// wrap.h - breaking UTF-8 text into lines of a display width: at spaces when
// a word fits, inside a word when it alone is wider than the line; '\n'
// always ends a line. Widths count wide glyphs as 2 and combining marks as 0
// (canvas.h text_width), so CJK and accented text wrap where they show.
#ifndef PT_TUI_WRAP_H
#define PT_TUI_WRAP_H

#include <stddef.h>

typedef struct {
    size_t off, len;   // bytes of the line in the text (the spaces at a break and the '\n' left out)
    int width;         // its display width (<= the wrap width, except a lone glyph wider than it)
} wrap_line;

// Lines of text (n bytes) at width (>= 1): fills up to cap of them and
// returns how many there are in all (so a caller can size, then fill).
int wrap_text(const char *text, size_t n, int width, wrap_line *lines, int cap);

#endif
