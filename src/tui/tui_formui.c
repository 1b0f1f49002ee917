// tui_formui.c - a form on screen: the LoRA, Train and sampling fields drawn
// as "name  value" rows, edited in place with readline, validated at every
// key. A value that parses is used at once (the live figures follow as you
// type); one that does not stays red with its reason and blocks training.
#include <stdio.h>
#include <string.h>

#include "tui/tui.h"

static int field_role(tui_app *a, int form, int i, const pt_problem **prob) {
    const tui_field *f = tui_form_field(form, i);
    *prob = tui_field_problem(a, f);
    if (a->bad[form][i][0]) return TUI_FIELD_BAD;
    if (*prob && !(*prob)->warning) return TUI_FIELD_BAD;
    if (*prob) return TUI_WARN;
    return TUI_FIELD;
}

int tui_form_editing(const tui_app *a, int form, int i) {
    return a->ed.active && a->ed.target == form * 100 + i;
}

// Rows first..; returns the row of sel (or -1).
void tui_form_draw(tui_app *a, int form, int y, int x, int h, int w, int sel, int name_w) {
    tui_canvas *cv = &a->cv;
    int n = tui_form_count(form);
    int first = sel >= h ? sel - h + 1 : 0;
    for (int r = 0; r < h && first + r < n; r++) {
        int i = first + r;
        const tui_field *f = tui_form_field(form, i);
        const pt_problem *prob;
        int role = field_role(a, form, i, &prob);
        canvas_put(cv, y + r, x, i == sel ? TUI_SELECT : TUI_NORMAL, f->name, -1, name_w - 1);
        if (i == sel) canvas_role(cv, y + r, x, name_w - 1, TUI_SELECT);
        int vx = x + name_w, vw = w - name_w;
        if (tui_form_editing(a, form, i)) {
            a->cursor_x = tui_edit_draw(a, y + r, vx, vw, a->bad[form][i][0] ? TUI_FIELD_BAD : TUI_FIELD_EDIT);
            a->cursor_y = y + r;
            continue;
        }
        char val[1024];
        if (a->bad[form][i][0]) snprintf(val, sizeof val, "%s", a->bad[form][i]);
        else tui_field_get(a, f, val, sizeof val);
        int end = canvas_put(cv, y + r, vx, role, val[0] ? val : "(none)", -1, vw);
        if (tui_field_cycles(f) && i == sel) canvas_put(cv, y + r, end + 1, TUI_DIM, "(Enter/Space: next)", -1, x + w - end - 1);
    }
}

// The selected field's help, or what is wrong with it.
void tui_form_draw_help(tui_app *a, int form, int sel, int y, int x, int h, int w) {
    const tui_field *f = tui_form_field(form, sel);
    if (!f || h <= 0) return;
    const pt_problem *prob = tui_field_problem(a, f);
    int used = 0;
    if (a->bad[form][sel][0]) {
        char line[400];
        snprintf(line, sizeof line, "cannot be used: %s", a->bad_why[form][sel]);
        used = tui_draw_text(&a->cv, y, x, h, w, line, TUI_ERROR, 0);
    } else if (prob) {
        used = tui_draw_text(&a->cv, y, x, h, w, prob->msg, prob->warning ? TUI_WARN : TUI_ERROR, 0);
    }
    if (used < h) tui_draw_text(&a->cv, y + used, x, h - used, w, f->help, TUI_DIM, 0);
}

static void after_change(tui_app *a, int form) {
    if (form != FORM_SAMPLING) tui_refresh_lora(a);
    if (form == FORM_SAMPLING) a->sampling_changed = 1;
    a->dirty = 1;
}

// A value was settled: what depends on it follows (the data preview is cut at max_seq_len).
static void finished(tui_app *a, int form, int i) {
    const tui_field *f = tui_form_field(form, i);
    if (form == FORM_TRAIN && !strcmp(f->tag, "max_seq_len")) tui_open_dataset(a);
}

static void changed(tui_app *a, const char *text) {
    int form = a->ed.target / 100, i = a->ed.target % 100;
    const tui_field *f = tui_form_field(form, i);
    if (!f) return;
    char why[160];
    if (tui_field_set(a, f, text, why, sizeof why) == 0) {
        a->bad[form][i][0] = 0;
    } else {
        snprintf(a->bad[form][i], sizeof a->bad[form][i], "%s", text);
        snprintf(a->bad_why[form][i], sizeof a->bad_why[form][i], "%s", why);
    }
    after_change(a, form);
}

static void done(tui_app *a, const char *text) {
    int form = a->ed.target / 100, i = a->ed.target % 100;
    const tui_field *f = tui_form_field(form, i);
    if (!f) return;
    if (!text) {   // Esc: back to the value before editing
        char why[160];
        tui_field_set(a, f, a->ed_orig, why, sizeof why);
        snprintf(a->bad[form][i], sizeof a->bad[form][i], "%s", a->ed_orig_bad);
        snprintf(a->bad_why[form][i], sizeof a->bad_why[form][i], "%s", a->ed_orig_why);
        after_change(a, form);
        return;
    }
    changed(a, text);
    if (a->bad[form][i][0]) tui_say(a, TUI_ERROR, "%s: %s (not used)", f->name, a->bad_why[form][i]);
    else finished(a, form, i);
}

void tui_form_edit(tui_app *a, int form, int i) {
    const tui_field *f = tui_form_field(form, i);
    if (!f) return;
    if (tui_field_cycles(f)) {
        tui_field_cycle(a, f, 1);
        a->bad[form][i][0] = 0;
        after_change(a, form);
        finished(a, form, i);
        return;
    }
    char val[1024];
    tui_field_get(a, f, val, sizeof val);
    snprintf(a->ed_orig, sizeof a->ed_orig, "%s", val);
    snprintf(a->ed_orig_bad, sizeof a->ed_orig_bad, "%s", a->bad[form][i]);
    snprintf(a->ed_orig_why, sizeof a->ed_orig_why, "%s", a->bad_why[form][i]);
    const char *start = a->bad[form][i][0] ? a->bad[form][i] : val;
    if (tui_field_is_targets(f) && start[0] == '(') start = "";
    tui_edit_begin(a, "", start, 0, form * 100 + i, done);
    a->ed.changed = changed;
}

// Left/Right on a field: step enumerations, halve or double r, nudge numbers.
void tui_form_step(tui_app *a, int form, int i, int dir) {
    const tui_field *f = tui_form_field(form, i);
    if (!f) return;
    if (tui_field_cycles(f)) {
        tui_field_cycle(a, f, dir);
    } else {
        char val[64], why[160];
        tui_field_get(a, f, val, sizeof val);
        double v = 0;
        if (sscanf(val, "%lf", &v) != 1) return;
        if (!strcmp(f->tag, "r") || !strcmp(f->tag, "lora_alpha") || !strcmp(f->tag, "batch") ||
            !strcmp(f->tag, "lr") || !strcmp(f->tag, "max_seq_len") || !strcmp(f->tag, "grad_accum"))
            v = dir > 0 ? v * 2 : v / 2;   // these span powers of two (or ten): double or halve
        else if (strchr(val, '.') || strchr(val, 'e')) v += dir * 0.05;
        else v += dir;
        if (!strcmp(f->tag, "r") || !strcmp(f->tag, "batch") || !strcmp(f->tag, "grad_accum") || !strcmp(f->tag, "max_seq_len")) {
            if (v < 1) v = 1;
            snprintf(val, sizeof val, "%d", (int)v);
        } else {
            if (v < 0) v = 0;
            snprintf(val, sizeof val, "%g", v);
        }
        if (tui_field_set(a, f, val, why, sizeof why)) {
            tui_say(a, TUI_ERROR, "%s: %s", f->name, why);
            return;
        }
    }
    a->bad[form][i][0] = 0;
    after_change(a, form);
    finished(a, form, i);
}
