// vtkeys.c - VT/xterm key sequences to TK_ keys (see vtkeys.h).
#include <stdlib.h>

#include "tui/tui.h"
#include "tui/vtkeys.h"

int vt_complete(const char *seq, size_t n) {
    if (n < 2) return 0;
    if (seq[0] == 'O') return 1;   // SS3: one letter
    if (seq[0] != '[') return 1;   // not a sequence: complete as it is
    unsigned char last = (unsigned char)seq[n - 1];
    return last >= 0x40 && last <= 0x7E;
}

static int letter(char c) {
    switch (c) {
    case 'A': return TK_UP;
    case 'B': return TK_DOWN;
    case 'C': return TK_RIGHT;
    case 'D': return TK_LEFT;
    case 'H': return TK_HOME;
    case 'F': return TK_END;
    case 'Z': return TK_BTAB;
    case 'M': return TK_ENTER;   // keypad Enter in application mode
    case 'P': return TK_F(1);
    case 'Q': return TK_F(2);
    case 'R': return TK_F(3);
    case 'S': return TK_F(4);
    default: return -1;
    }
}

// "[N~" (and "[N;M~"): the VT220 numbers, xterm's F keys among them.
static int tilde(int num) {
    switch (num) {
    case 1: case 7: return TK_HOME;
    case 2: return TK_INS;
    case 3: return TK_DEL;
    case 4: case 8: return TK_END;
    case 5: return TK_PGUP;
    case 6: return TK_PGDN;
    case 11: case 12: case 13: case 14: case 15: return TK_F(num - 10);
    case 17: case 18: case 19: case 20: case 21: return TK_F(num - 11);
    case 23: case 24: return TK_F(num - 12);
    default: return -1;
    }
}

int vt_key(const char *seq, size_t n) {
    if (!vt_complete(seq, n)) return -1;
    if (seq[0] == 'O') return letter(seq[1]);
    if (seq[0] != '[') return -1;
    char fin = seq[n - 1];
    if (fin == '~') {
        int num = 0;
        for (size_t i = 1; i < n - 1 && seq[i] >= '0' && seq[i] <= '9' && num < 1000; i++) num = num * 10 + (seq[i] - '0');
        return tilde(num);
    }
    if (n == 3 && seq[1] == '[') return -1;   // the Linux console's "[[A" F1..: too rare to map
    return letter(fin);
}
