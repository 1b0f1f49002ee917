// scr_model.c - screen 1: the models found (models/, the Hugging Face cache,
// paths given or typed), each with architecture, size, tensor types and
// context; Enter loads one (with its progress); the loaded model's facts and
// its targetable modules, PEFT's default targets marked.
#include <stdio.h>
#include <string.h>

#include "tui/tui.h"

static void model_line(tui_app *a, int i, char *buf, size_t cap, int *role) {
    const pt_model_peek *p = &a->peek[i];
    int loaded = a->have_model && !strcmp(a->found[i], a->model_path);
    if (!a->peek_ok[i]) {
        snprintf(buf, cap, "  %s  (%s)", a->found[i], p->name);
        *role = TUI_DIM;
        return;
    }
    char params[16], bytes[16];
    tui_fmt_count((double)p->n_params, params, sizeof params);
    tui_fmt_bytes((double)p->file_bytes, bytes, sizeof bytes);
    snprintf(buf, cap, "%s %-28.28s %-7s %7s %-10.10s ctx %-6d %s  %s", loaded ? "*" : " ", p->name, p->arch, params,
             p->types, p->max_ctx, bytes, a->found[i]);
    *role = loaded ? TUI_OK : TUI_NORMAL;
}

// The modules, one line per kind (q_proj: 30 layers, 576 -> 576).
static void draw_modules(tui_app *a, int y, int x, int h, int w) {
    tui_canvas *cv = &a->cv;
    int row = 0;
    for (int i = 0; i < a->n_mods && row < h; i++) {
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) seen = !strcmp(a->mods[j].short_name, a->mods[i].short_name);
        if (seen) continue;
        int count = 0;
        for (int j = i; j < a->n_mods; j++) count += !strcmp(a->mods[j].short_name, a->mods[i].short_name);
        char line[160];
        snprintf(line, sizeof line, "%s %-10s x%-3d %5d -> %-5d%s", a->mods[i].default_target ? "*" : " ",
                 a->mods[i].short_name, count, a->mods[i].in, a->mods[i].out,
                 a->mods[i].default_target ? "  PEFT's default target" : "");
        canvas_put(cv, y + row++, x, a->mods[i].default_target ? TUI_OK : TUI_NORMAL, line, -1, w);
    }
}

static void draw_loaded(tui_app *a, int y, int x, int h, int w) {
    tui_canvas *cv = &a->cv;
    if (a->model_task) {
        static const double FRAC[] = {0.05, 0.35, 0.75};
        int ph = a->load_phase >= 0 && a->load_phase <= 2 ? a->load_phase : 0;
        canvas_printf(cv, y, x, TUI_BUSY, "loading %s: %s (%.1fs)", a->model_path, a->load_what, a->now - a->load_started);
        tui_progress(cv, y + 1, x, w < 60 ? w : 60, FRAC[ph], TUI_BUSY);
        return;
    }
    if (!a->have_model) {
        if (a->model_error[0]) {
            canvas_put(cv, y, x, TUI_ERROR, "the model did not load:", -1, w);
            tui_draw_text(cv, y + 1, x, h - 1, w, a->model_error, TUI_ERROR, 0);
        } else if (a->n_found == 0) {
            canvas_put(cv, y, x, TUI_WARN, "No model found.", -1, w);
            tui_draw_text(cv, y + 1, x, h - 1, w,
                          "Fetch the default one (SmolLM2-135M-Instruct, 100 MB) with scripts/setup.sh, or put a GGUF "
                          "file or a Hugging Face folder in models/, or press o and type a path.", TUI_NORMAL, 0);
        } else {
            canvas_put(cv, y, x, TUI_DIM, "No model loaded: pick one above and press Enter.", -1, w);
        }
        return;
    }
    const pt_model_info *m = &a->mi;
    char params[16], base[16];
    tui_fmt_count((double)m->n_params, params, sizeof params);
    tui_fmt_bytes((double)m->base_bytes, base, sizeof base);
    canvas_printf(cv, y, x, TUI_BOLD, "%.60s", m->name[0] ? m->name : m->path);
    canvas_printf(cv, y + 1, x, TUI_NORMAL, "%s, %s parameters, %d layers, d %d, ff %d, heads %d/%d, ctx %d, %s", m->arch,
                  params, m->n_layer, m->n_embd, m->n_ff, m->n_head, m->n_head_kv, m->max_ctx, m->weight_dtype);
    canvas_printf(cv, y + 2, x, TUI_NORMAL, "tokenizer %s (%d), template %s; on %s", m->tokenizer, m->tok_vocab,
                  m->template_name, m->device);
    canvas_put(cv, y + 3, x, TUI_DIM, m->block, -1, w);
    if (h > 5) {
        canvas_put(cv, y + 4, x, TUI_TITLE, "targetable modules (* PEFT's default for this type)", -1, w);
        draw_modules(a, y + 5, x, h - 5, w);
    }
}

static void draw(tui_app *a, int y, int x, int h, int w) {
    int list_h = a->n_found + 2;
    if (list_h > h / 2) list_h = h / 2;
    if (list_h < 3) list_h = 3;
    int ly = y, lx = x, lh = list_h, lw = w;
    tui_panel(a, &ly, &lx, &lh, &lw, "Models (models/, Hugging Face cache, paths)");
    if (a->n_found) tui_draw_list(&a->cv, ly, lx, lh, lw, a->n_found, a->model_sel, model_line, a);
    else canvas_put(&a->cv, ly, lx, TUI_DIM, "none found (o: open a path)", -1, lw);
    int iy = y + list_h, ix = x, ih = h - list_h, iw = w;
    if (ih < 3) return;
    tui_panel(a, &iy, &ix, &ih, &iw, "Loaded");
    if (a->ed.active && a->ed.target == -2) {
        a->cursor_x = tui_edit_draw(a, iy, ix, iw, TUI_FIELD_EDIT);
        a->cursor_y = iy;
        iy++;
        ih--;
    }
    draw_loaded(a, iy, ix, ih, iw);
}

static tui_reaction load_sel(tui_app *a) {
    if (a->model_sel < 0 || a->model_sel >= a->n_found) {
        tui_say(a, TUI_WARN, "no model to load: press o to type a path");
        return TUI_HANDLED;
    }
    if (!a->peek_ok[a->model_sel]) {
        tui_say(a, TUI_ERROR, "%s is not a model peftui reads: %s", a->found[a->model_sel], a->peek[a->model_sel].name);
        return TUI_HANDLED;
    }
    tui_load_model(a, a->found[a->model_sel]);
    return TUI_HANDLED;
}

static void opened(tui_app *a, const char *text) {
    if (!text || !*text) return;
    pt_model_peek p;
    pt_err err = {0};
    if (pt_model_peek_path(text, &p, &err)) {
        tui_say(a, TUI_ERROR, "%s", err.msg);
        return;
    }
    tui_add_model_path(a, text);
    for (int i = 0; i < a->n_found; i++)
        if (!strcmp(a->found[i], text)) a->model_sel = i;
    tui_load_model(a, text);
}

static tui_reaction open_path(tui_app *a) {
    tui_edit_begin(a, "model path: ", "", 0, -2, opened);
    return TUI_HANDLED;
}

static tui_reaction rescan(tui_app *a) {
    tui_scan_models(a);
    tui_say(a, TUI_OK, "%d models found", a->n_found);
    return TUI_HANDLED;
}

static tui_reaction up(tui_app *a) {
    if (a->model_sel > 0) a->model_sel--;
    return TUI_HANDLED;
}

static tui_reaction down(tui_app *a) {
    if (a->model_sel + 1 < a->n_found) a->model_sel++;
    return TUI_HANDLED;
}

static const tui_binding KEYS[] = {
    {TK_ENTER, 0, "Enter", "load the selected model (the old one, its adapters and chats go)", load_sel, 1, "load"},
    {TK_UP, 'k', "Up/k", "previous model", up, 0, NULL},
    {TK_DOWN, 'j', "Down/j", "next model", down, 0, NULL},
    {'o', 0, "o", "open a model by path (a GGUF file or a Hugging Face folder)", open_path, 1, "open path"},
    {'r', 0, "r", "look for models again", rescan, 1, "rescan"},
    {0, 0, NULL, NULL, NULL, 0, NULL},
};

const tui_screen tui_scr_model = {
    .name = "Model",
    .about = "pick and load the base model",
    .draw = draw,
    .keys = KEYS,
};
