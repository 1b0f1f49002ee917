// vtkeys.h - the escape sequences terminals send for special keys, decoded
// by us when curses does not know them: a TERM that does not match the
// terminal (tmux or screen behind TERM=xterm, a plain ssh) sends End as
// "\e[4~" where curses waits for "\eOF". Without this, the Esc prefix would
// read as Alt-[ and the '4' after it as a digit: a screen switch nobody asked for.
#ifndef PT_TUI_VTKEYS_H
#define PT_TUI_VTKEYS_H

#include <stddef.h>

// 1 when seq (after the Esc: "[4~", "OF", "[1;5C") is complete: a CSI's
// final byte (0x40..0x7E) after its parameters, or SS3 and one letter.
int vt_complete(const char *seq, size_t n);
// The key (TK_*) of a complete sequence; -1 for one we do not use (it is
// then swallowed whole, never read as separate keys). Modifiers (";5" and
// the like) are ignored: Ctrl-Right is Right.
int vt_key(const char *seq, size_t n);

#endif
