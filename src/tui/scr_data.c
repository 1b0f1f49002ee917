// scr_data.c - screen 3: the dataset and prompt template; its detected
// format and totals (rows, tokens, cut rows, rows that failed with line and
// reason); rendered rows one at a time, the tokens the loss is computed on
// highlighted, masked ones dimmed, those past max_seq_len marked.
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui/tui.h"

// Template names: the model's own guess first, then prompts/*.tmpl.
static int template_names(char (*out)[64], int cap) {
    int n = 0;
    snprintf(out[n++], 64, "%s", "");
    DIR *d = opendir(getenv("PEFTUI_PROMPTS") ? getenv("PEFTUI_PROMPTS") : "prompts");
    if (!d) return n;
    struct dirent *e;
    while ((e = readdir(d)) && n < cap) {
        size_t len = strlen(e->d_name);
        if (len > 5 && len < 64 + 5 && !strcmp(e->d_name + len - 5, ".tmpl")) snprintf(out[n++], 64, "%.*s", (int)(len - 5), e->d_name);
    }
    closedir(d);
    for (int i = 1; i < n; i++)   // sorted, so the order does not depend on the folder
        for (int j = i + 1; j < n; j++)
            if (strcmp(out[i], out[j]) > 0) {
                char t[64];
                memcpy(t, out[i], 64);
                memcpy(out[i], out[j], 64);
                memcpy(out[j], t, 64);
            }
    return n;
}

// The row's text as bytes with a role per byte (cached in the app; the
// engine is asked only when the row or the dataset changes).
static void load_row(tui_app *a) {
    a->row_len = 0;
    a->row_loaded = a->ds_row;
    a->row_of = a->ds;
    a->row_kept = a->row_full = 0;
    pt_dataset_row r;
    pt_err err = {0};
    if (!a->ds || !a->dsi.ready || pt_ws_dataset_row(a->ws, a->ds, a->ds_row, &r, &err)) return;
    a->row_line = r.line;
    a->row_kept = r.n_kept;
    a->row_full = r.n_full;
    a->row_no_target = r.no_target;
    for (int t = 0; t < r.n_full; t++) {
        pt_token_info ti;
        if (pt_ws_token(a->ws, r.tokens[t], &ti)) continue;
        const char *b = ti.kind == PT_TOKEN_NORMAL ? ti.bytes : ti.piece;
        size_t n = ti.kind == PT_TOKEN_NORMAL ? ti.n_bytes : strlen(ti.piece);
        int role = t >= r.n_kept ? TUI_CUT : r.trained[t] ? TUI_TRAINED : TUI_MASKED;
        for (size_t i = 0; i < n && a->row_len < sizeof a->row_text - 1; i++) {
            a->row_text[a->row_len] = b[i];
            a->row_roles[a->row_len++] = (uint8_t)role;
        }
    }
    a->row_text[a->row_len] = 0;
}

static void draw(tui_app *a, int y, int x, int h, int w) {
    tui_canvas *cv = &a->cv;
    int ty = y, tx = x, th = 6, tw = w;
    tui_panel(a, &ty, &tx, &th, &tw, "Dataset");
    if (a->ed.active && a->ed.target == -4) {
        a->cursor_x = tui_edit_draw(a, ty, tx, tw, TUI_FIELD_EDIT);
        a->cursor_y = ty;
    } else {
        canvas_printf(cv, ty, tx, TUI_FIELD, "%s", a->data_path[0] ? a->data_path : "(none: press o)");
    }
    const pt_dataset_info *d = &a->dsi;
    const char *tmpl = a->template_name[0] ? a->template_name : "the model's";
    if (a->ds_error[0]) {
        canvas_put(cv, ty + 1, tx, TUI_ERROR, a->ds_error, -1, tw);
    } else if (!a->have_model) {
        canvas_put(cv, ty + 1, tx, TUI_DIM, "load a model first: rows are rendered with its template and tokenizer", -1, tw);
    } else if (!d->ready) {
        canvas_put(cv, ty + 1, tx, TUI_BUSY, "reading and tokenizing...", -1, tw);
    } else {
        canvas_printf(cv, ty + 1, tx, TUI_NORMAL, "format %s, template %s (%s); train on prompt: %s", d->format,
                      d->template_name, tmpl, a->train_on_prompt ? "yes" : "no (answers only)");
        canvas_printf(cv, ty + 2, tx, TUI_NORMAL, "%d rows, %ld tokens (%ld trained), longest %d", d->rows, d->tokens,
                      d->target_tokens, d->longest);
        int ex = canvas_printf(cv, ty + 2, tx + tw - 44 > 0 ? tx + tw - 44 : tx, d->truncated ? TUI_WARN : TUI_DIM,
                               "%d cut at max_seq_len %d", d->truncated, a->tp.max_seq_len);
        canvas_printf(cv, ty + 2, ex + 2, d->failed ? TUI_ERROR : TUI_DIM, "%d failed", d->failed);
    }
    if (a->ed.active && a->ed.target == -13) {
        a->cursor_x = tui_edit_draw(a, ty + 3, tx, tw, TUI_FIELD_EDIT);
        a->cursor_y = ty + 3;
    } else if (columns_set(&a->columns) || a->dataset_name[0]) {
        char line[1024];
        columns_format(&a->columns, a->dataset_name, line, sizeof line);
        canvas_printf(cv, ty + 3, tx, TUI_NORMAL, "columns: %s", line);
    } else {
        canvas_put(cv, ty + 3, tx, TUI_DIM, "columns: by each row's keys (c: map the fields of any JSON or CSV)", -1, tw);
    }
    int by = y + 6, bh = h - 6;
    int fail_h = a->n_fail ? (a->n_fail + 2 < bh / 3 ? a->n_fail + 2 : bh / 3) : 0;
    if (bh - fail_h >= 3) {
        int ry = by, rx = x, rh = bh - fail_h, rw = w;
        char title[160];
        // the row first: its title says its line and token count
        if (d->ready && d->rows && (a->row_loaded != a->ds_row || a->row_of != a->ds)) load_row(a);
        if (d->ready && d->rows)
            snprintf(title, sizeof title, "Row %d/%d (line %d): %d tokens%s%s", a->ds_row + 1, d->rows, a->row_line,
                     a->row_full, a->row_full > a->row_kept ? ", cut" : "", a->row_no_target ? ", nothing to learn" : "");
        else snprintf(title, sizeof title, "Rows");
        tui_panel(a, &ry, &rx, &rh, &rw, title);
        if (d->ready && d->rows) {
            if (a->row_loaded != a->ds_row || a->row_of != a->ds) load_row(a);
            canvas_put(cv, ry, rx, TUI_TRAINED, "trained", -1, rw);
            canvas_put(cv, ry, rx + 8, TUI_MASKED, "masked", -1, rw - 8);
            canvas_put(cv, ry, rx + 15, TUI_CUT, "cut", -1, rw - 15);
            tui_draw_rich(cv, ry + 1, rx, rh - 1, rw, a->row_text, a->row_len, a->row_roles, 1);
        }
    }
    if (fail_h >= 3) {
        int fy = by + bh - fail_h, fx = x, fh = fail_h, fw = w;
        tui_panel(a, &fy, &fx, &fh, &fw, "Rows that failed");
        for (int i = 0; i < a->n_fail && i < fh; i++)
            canvas_printf(cv, fy + i, fx, TUI_ERROR, "line %d: %s", a->fail_line[i], a->fail_why[i]);
    }
}

void tui_data_loaded(tui_app *a) {   // after the preview task: the failures, cached
    a->row_of = -1;
    a->n_fail = 0;
    for (int i = 0; i < a->dsi.failed && a->n_fail < 16; i++)
        if (pt_ws_dataset_failure(a->ws, a->ds, i, &a->fail_line[a->n_fail], a->fail_why[a->n_fail], sizeof a->fail_why[0]) == 0)
            a->n_fail++;
}

static tui_reaction next_row(tui_app *a) {
    if (a->ds_row + 1 < a->dsi.rows) a->ds_row++;
    return TUI_HANDLED;
}

static tui_reaction prev_row(tui_app *a) {
    if (a->ds_row > 0) a->ds_row--;
    return TUI_HANDLED;
}

static tui_reaction first_row(tui_app *a) {
    a->ds_row = 0;
    return TUI_HANDLED;
}

static tui_reaction last_row(tui_app *a) {
    a->ds_row = a->dsi.rows > 0 ? a->dsi.rows - 1 : 0;
    return TUI_HANDLED;
}

static void opened(tui_app *a, const char *path) {
    if (!path || !*path) return;
    snprintf(a->data_path, sizeof a->data_path, "%s", path);
    tui_open_dataset(a);
}

static tui_reaction open_file(tui_app *a) {
    tui_edit_begin(a, "dataset: ", a->data_path, 0, -4, opened);
    return TUI_HANDLED;
}

static void columns_entered(tui_app *a, const char *line) {
    pt_columns c;
    char name[64];
    pt_err err = {0};
    if (columns_parse(line, &c, name, sizeof name, &err)) {
        tui_say(a, TUI_ERROR, "%s", err.msg);
        return;
    }
    a->columns = c;
    snprintf(a->dataset_name, sizeof a->dataset_name, "%s", name);
    tui_say(a, TUI_OK, columns_set(&c) || name[0] ? "column map set" : "column map cleared: each row's keys say its format");
    tui_open_dataset(a);
}

static tui_reaction edit_columns(tui_app *a) {
    char line[1024];
    columns_format(&a->columns, a->dataset_name, line, sizeof line);
    tui_edit_begin(a, "columns (prompt=F; query=F; response=F; system=F; format=TEXT {field}; dataset=NAME): ", line, 0,
                   -13, columns_entered);
    return TUI_HANDLED;
}

static tui_reaction next_template(tui_app *a) {
    char names[32][64];
    int n = template_names(names, 32), cur = 0;
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], a->template_name)) cur = i;
    snprintf(a->template_name, sizeof a->template_name, "%s", names[(cur + 1) % n]);
    tui_say(a, TUI_OK, "template: %s", a->template_name[0] ? a->template_name : "the model's own");
    tui_open_dataset(a);
    return TUI_HANDLED;
}

static tui_reaction toggle_prompt(tui_app *a) {
    a->train_on_prompt = !a->train_on_prompt;
    tui_open_dataset(a);
    return TUI_HANDLED;
}

static const tui_binding KEYS[] = {
    {TK_RIGHT, TK_PGDN, "Right", "next row (also PgDn, n)", next_row, 1, "next row"},
    {TK_LEFT, TK_PGUP, "Left", "previous row (also PgUp, p)", prev_row, 1, "prev"},
    {'n', 0, "n", "next row", next_row, 0, NULL},
    {'p', 0, "p", "previous row", prev_row, 0, NULL},
    {TK_HOME, 0, "Home", "first row", first_row, 0, NULL},
    {TK_END, 0, "End", "last row", last_row, 0, NULL},
    {'o', 0, "o", "open another dataset file (JSON, JSONL, CSV, TSV, text, or a dataset_info.json)", open_file, 1, "open"},
    {'c', 0, "c", "map the rows' fields: prompt, query, response, system, a prompt format, a dataset_info entry",
     edit_columns, 1, "columns"},
    {'t', 0, "t", "next prompt template (the model's own, then prompts/*.tmpl)", next_template, 1, "template"},
    {'P', 0, "P", "train on the prompt too, or on the answers only", toggle_prompt, 1, "prompt loss"},
    {0, 0, NULL, NULL, NULL, 0, NULL},
};

const tui_screen tui_scr_data = {
    .name = "Data",
    .about = "the dataset and template, and which tokens are trained on",
    .draw = draw,
    .keys = KEYS,
};
