// scr_compare.c - screen 6: one prompt answered side by side by the base and
// the active adapter (or every loaded adapter), with the same seed, streamed
// together in one batched forward. The first token where the answers part is
// marked; a toggle colours each token by how much more (or less) likely the
// adapter found it than the base did.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui/tui.h"

#define DELTA_SHOWN 0.5f   // nats: a token the adapter made at least e^0.5 = 1.6x more (or less) likely

// Column k's index of the base column among the scored ones (-1 none), and
// which adapter column to compare the base's tokens with.
static int base_column(const tui_app *a) {
    for (int k = 0; k < a->n_cols; k++)
        if (a->cols[k].adapter == PT_BASE) return k;
    return -1;
}

// Roles per byte of column k: the divergence mark, then the likelihood colours.
static void column_roles(const tui_app *a, int k, uint8_t *roles) {
    const tui_column *c = &a->cols[k];
    memset(roles, TUI_ASSISTANT, c->len);
    int bk = base_column(a);
    const pt_compare_result *r = &a->cres;
    int scored = a->have_cres && r->col[k].logprobs && bk >= 0;
    // the other column the colours compare with: the base for adapters, the first adapter for the base
    int other = k == bk ? (bk == 0 ? 1 : 0) : bk;
    size_t start = 0;
    for (int t = 0; t < c->n; t++) {
        size_t end = c->tok_end[t];
        int role = TUI_ASSISTANT;
        if (a->cmp_color && scored && other >= 0 && other < r->n_columns && t < r->col[k].n_tokens) {
            float mine = r->col[k].logprobs[(size_t)t * r->n_columns + (k == bk ? other : k)];
            float base = r->col[k].logprobs[(size_t)t * r->n_columns + bk];
            float d = mine - base;   // log(p_adapter / p_base) of this token
            if (d > DELTA_SHOWN) role = TUI_MORE_LIKELY;
            else if (d < -DELTA_SHOWN) role = TUI_LESS_LIKELY;
        }
        if (a->have_cres && r->first_diff >= 0 && t == r->first_diff) role = TUI_DIFF;
        for (size_t i = start; i < end && i < c->len; i++) roles[i] = (uint8_t)role;
        start = end;
    }
}

static void draw(tui_app *a, int y, int x, int h, int w) {
    tui_canvas *cv = &a->cv;
    int py = y, px = x, ph = 3, pw = w;
    tui_panel(a, &py, &px, &ph, &pw, "Prompt (Enter: type and compare)");
    if (a->ed.active && a->ed.target == -9) {
        a->cursor_x = tui_edit_draw(a, py, px, pw, TUI_FIELD_EDIT);
        a->cursor_y = py;
    } else {
        canvas_put(cv, py, px, TUI_USER, a->cmp_prompt[0] ? a->cmp_prompt : a->probe, -1, pw);
    }
    int row = y + 3;
    char info[300];
    if (a->have_cres && !a->cmp_running) {
        if (a->cres.first_diff < 0) snprintf(info, sizeof info, "the answers are the same");
        else snprintf(info, sizeof info, "the answers part at token %d (marked)", a->cres.first_diff + 1);
        int ex = canvas_put(cv, row, x + 1, a->cres.first_diff < 0 ? TUI_DIM : TUI_DIFF, info, -1, w - 2);
        if (a->cmp_color && base_column(a) >= 0) {
            ex = canvas_put(cv, row, ex + 2, TUI_DIM, "colour: adapter vs base:", -1, w - ex - 2);
            ex = canvas_put(cv, row, ex + 1, TUI_MORE_LIKELY, "more likely", -1, w - ex - 1);
            canvas_put(cv, row, ex + 1, TUI_LESS_LIKELY, "less likely", -1, w - ex - 1);
        }
    } else if (a->cmp_running) {
        canvas_put(cv, row, x + 1, TUI_BUSY, "answering (one batched forward for every column; ^C stops)", -1, w - 2);
    } else {
        canvas_put(cv, row, x + 1, TUI_DIM, a->n_ads ? "Enter compares the base and the active adapter (A: every adapter)"
                                                   : "no adapter yet: train one (4) or load one (7); the base alone answers",
                   -1, w - 2);
    }
    row++;
    int n = a->n_cols;
    if (!n) return;
    int colw = w / n;
    for (int k = 0; k < n; k++) {
        int cy = row, cx = x + k * colw, ch = y + h - row, cw = k == n - 1 ? w - k * colw : colw;
        const tui_column *c = &a->cols[k];
        tui_panel(a, &cy, &cx, &ch, &cw, c->label);
        if (!c->len) continue;
        uint8_t *roles = malloc(c->len);
        if (!roles) continue;
        column_roles(a, k, roles);
        tui_draw_rich(cv, cy, cx, ch, cw, c->text, c->len, roles, 0);
        free(roles);
    }
}

// ---- keys ------------------------------------------------------------------------------

static void start(tui_app *a, const char *prompt) {
    if (!a->have_model) {
        tui_say(a, TUI_ERROR, "no model loaded: pick one on the Model screen (1)");
        return;
    }
    if (a->cmp_running) {
        tui_say(a, TUI_WARN, "a compare runs: wait, or ^C");
        return;
    }
    if (a->cmp) pt_compare_close(a->ws, a->cmp);
    a->cmp = 0;
    a->have_cres = 0;
    tui_columns_clear(a);
    pt_compare_opts o;
    pt_compare_opts_default(&o);
    o.prompt = prompt;
    if (a->template_name[0]) o.template_name = a->template_name;
    o.sampling = a->sampling;
    o.max_tokens = a->max_tokens < 128 ? a->max_tokens : 128;
    o.score = 1;
    o.columns[o.n_columns++] = (pt_column){PT_BASE, NAN};
    if (a->cmp_all) {
        for (int i = 0; i < a->n_ads && o.n_columns < PT_COMPARE_MAX; i++)
            if (a->adi[i].state != PT_AD_FAILED && a->adi[i].state != PT_AD_LOADING)
                o.columns[o.n_columns++] = (pt_column){a->ads[i], NAN};
    } else if (a->active != PT_BASE) {
        o.columns[o.n_columns++] = (pt_column){a->active, NAN};
    }
    char warn[320] = "";
    pt_err err = {0};
    if (pt_compare_start(a->ws, &o, &a->cmp, warn, sizeof warn, &err)) {
        a->cmp = 0;
        tui_say(a, TUI_ERROR, "%s", err.msg);
        return;
    }
    a->n_cols = o.n_columns;
    for (int k = 0; k < o.n_columns; k++) {
        a->cols[k].adapter = o.columns[k].adapter;
        const pt_adapter_info *ai = tui_adapter(a, o.columns[k].adapter);
        if (ai) snprintf(a->cols[k].label, sizeof a->cols[k].label, "%s x%.2g", ai->name, ai->scale);
        else snprintf(a->cols[k].label, sizeof a->cols[k].label, "base");
    }
    a->cmp_running = 1;
    if (warn[0]) tui_say(a, TUI_WARN, "%s", warn);
}

static void typed(tui_app *a, const char *text) {
    if (!text || !*text) return;
    snprintf(a->cmp_prompt, sizeof a->cmp_prompt, "%s", text);
    start(a, a->cmp_prompt);
}

static tui_reaction prompt(tui_app *a) {
    tui_edit_begin(a, "> ", a->cmp_prompt[0] ? a->cmp_prompt : a->probe, 1, -9, typed);
    return TUI_HANDLED;
}

static tui_reaction again(tui_app *a) {
    start(a, a->cmp_prompt[0] ? a->cmp_prompt : a->probe);
    return TUI_HANDLED;
}

static tui_reaction toggle_color(tui_app *a) {
    a->cmp_color = !a->cmp_color;
    return TUI_HANDLED;
}

static tui_reaction toggle_all(tui_app *a) {
    a->cmp_all = !a->cmp_all;
    tui_say(a, TUI_OK, a->cmp_all ? "every loaded adapter answers (and the base)" : "the base and the active adapter answer");
    return TUI_HANDLED;
}

static tui_reaction cycle(tui_app *a) {
    int cur = -1;
    for (int i = 0; i < a->n_ads; i++)
        if (a->ads[i] == a->active) cur = i;
    a->active = cur + 1 < a->n_ads ? a->ads[cur + 1] : PT_BASE;
    tui_say(a, TUI_OK, "active: %s", tui_adapter_label(a, a->active));
    return TUI_HANDLED;
}

static const tui_binding KEYS[] = {
    {TK_ENTER, 'i', "Enter", "type a prompt and compare", prompt, 1, "prompt"},
    {'g', 0, "g", "go: compare again on the same prompt (the probe when none is typed)", again, 1, "again"},
    {'c', 0, "c", "colour tokens by how the adapter changed their likelihood", toggle_color, 1, "colour"},
    {'A', 0, "A", "every loaded adapter answers, or only the active one", toggle_all, 1, "all"},
    {'a', 0, "a", "next active adapter", cycle, 1, "adapter"},
    {'+', '=', "+/-", "the active adapter's scale up or down by 0.1", NULL, 0, NULL},
    {0, 0, NULL, NULL, NULL, 0, NULL},
};

static tui_reaction keys(tui_app *a, int key) {
    if (key == '+' || key == '=') tui_scale_step(a, 0.1f);
    else if (key == '-') tui_scale_step(a, -0.1f);
    else return TUI_UNHANDLED;
    return TUI_HANDLED;
}

const tui_screen tui_scr_compare = {
    .name = "Compare",
    .about = "the base and adapters answer one prompt side by side; see which tokens changed",
    .draw = draw,
    .keys = KEYS,
    .key = keys,
};
