// scr_lora.c - screen 2: every LoraConfig field the engine supports, each
// with its meaning, validated as typed; target_modules as a checklist of the
// model's real modules; live figures: trainable parameters and the memory
// plan on this device; the rule of thumb on r; load and save as PEFT's
// adapter_config.json.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui/tui.h"

// ---- the module checklist: one line per kind of module ---------------------------

// Distinct short names in model order; returns the count.
static int module_kinds(const tui_app *a, const char **kinds, int cap) {
    int n = 0;
    for (int i = 0; i < a->n_mods; i++) {
        int seen = 0;
        for (int k = 0; k < n && !seen; k++) seen = !strcmp(kinds[k], a->mods[i].short_name);
        if (!seen && n < cap) kinds[n++] = a->mods[i].short_name;
    }
    return n;
}

static void kind_counts(const tui_app *a, const char *kind, int *total, int *matched, int *def) {
    *total = *matched = *def = 0;
    for (int i = 0; i < a->n_mods; i++) {
        if (strcmp(a->mods[i].short_name, kind)) continue;
        (*total)++;
        *matched += a->matched && a->matched[i];
        *def |= a->mods[i].default_target;
    }
}

// Sets target_modules to the kinds now matched, with one kind flipped.
static void toggle_kind(tui_app *a, const char *kind) {
    const char *kinds[32];
    int nk = module_kinds(a, kinds, 32);
    char list[1024] = "";
    size_t o = 0;
    for (int k = 0; k < nk; k++) {
        int total, matched, def;
        kind_counts(a, kinds[k], &total, &matched, &def);
        int on = matched > 0;
        if (!strcmp(kinds[k], kind)) on = !on;
        if (on) o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", o ? "," : "", kinds[k]);
    }
    for (int i = 0; i < tui_form_count(FORM_LORA); i++) {
        const tui_field *f = tui_form_field(FORM_LORA, i);
        char why[160];
        if (tui_field_is_targets(f)) {
            if (!list[0]) {
                tui_say(a, TUI_WARN, "at least one module must be targeted");
                return;
            }
            if (tui_field_set(a, f, list, why, sizeof why)) tui_say(a, TUI_ERROR, "%s", why);
            a->bad[FORM_LORA][i][0] = 0;
        }
    }
    tui_refresh_lora(a);
}

static void draw_modules(tui_app *a, int y, int x, int h, int w) {
    tui_canvas *cv = &a->cv;
    const char *kinds[32];
    int nk = module_kinds(a, kinds, 32);
    if (a->mod_sel >= nk) a->mod_sel = nk ? nk - 1 : 0;
    canvas_put(cv, y, x, TUI_DIM, "Space/Enter toggles, a all-linear, e regex, Esc back", -1, w);
    for (int k = 0; k < nk && k + 1 < h; k++) {
        int total, matched, def;
        kind_counts(a, kinds[k], &total, &matched, &def);
        char line[160];
        const char *box = matched == total ? "[x]" : matched ? "[~]" : "[ ]";
        snprintf(line, sizeof line, "%s %-10s %3d/%-3d layers%s", box, kinds[k], matched, total, def ? "  * PEFT default" : "");
        int role = k == a->mod_sel ? TUI_SELECT : matched ? TUI_OK : TUI_NORMAL;
        if (k == a->mod_sel) canvas_fill(cv, y + 1 + k, x, 1, w, TUI_SELECT, NULL);
        canvas_put(cv, y + 1 + k, x, role, line, -1, w);
    }
}

// ---- live figures ------------------------------------------------------------------

static void fig(tui_app *a, int y, int x, int w, const char *name, size_t bytes) {
    char b[32];
    tui_fmt_bytes((double)bytes, b, sizeof b);
    canvas_printf(&a->cv, y, x, TUI_NORMAL, "%-12s %10s", name, b);
    (void)w;
}

static void draw_figures(tui_app *a, int y, int x, int h, int w) {
    tui_canvas *cv = &a->cv;
    if (!a->have_model) {
        canvas_put(cv, y, x, TUI_DIM, "load a model (screen 1) to see what this costs", -1, w);
        return;
    }
    char n[32];
    tui_fmt_count((double)a->n_trainable, n, sizeof n);
    double pct = a->mi.n_params ? 100.0 * (double)a->n_trainable / (double)a->mi.n_params : 0;
    int row = 0;
    canvas_printf(cv, y + row++, x, TUI_BOLD, "trainable %s (%zu)", n, a->n_trainable);
    char line[320];
    snprintf(line, sizeof line, "%.3f%% of the model; %d modules", pct, a->n_matched);
    canvas_put(cv, y + row++, x, TUI_NORMAL, line, -1, w);
    row++;
    if (a->plan_ok && row + 9 <= h) {
        const pt_ws_plan *p = &a->plan;
        canvas_printf(cv, y + row++, x, TUI_TITLE, "training memory, batch %d x %d tokens", p->batch, p->seq);
        fig(a, y + row++, x, w, "base", p->base);
        fig(a, y + row++, x, w, "adapter", p->adapter);
        fig(a, y + row++, x, w, "gradients", p->grads);
        fig(a, y + row++, x, w, "AdamW", p->moments);
        fig(a, y + row++, x, w, "activations", p->activations);
        fig(a, y + row++, x, w, "total", p->total);
        char fr[32];
        if (p->device_free == (size_t)-1) snprintf(fr, sizeof fr, "host memory");
        else tui_fmt_bytes((double)p->device_free, fr, sizeof fr);
        canvas_printf(cv, y + row++, x, p->fits ? TUI_OK : TUI_ERROR, "%s on %s (free: %s)", p->fits ? "fits" : "does not fit",
                      a->mi.device_name, fr);
        row++;
    } else if (!a->plan_ok) {
        canvas_put(cv, y + row++, x, TUI_DIM, "memory: fix the form first", -1, w);
    }
    if (row < h)
        tui_draw_text(cv, y + row, x, h - row, w,
                      "r: small (4-16) for a general skill or style; larger (32-64) for a narrow domain or private "
                      "data the model has never seen. Parameters and memory grow with r.", TUI_DIM, 0);
}

static void draw(tui_app *a, int y, int x, int h, int w) {
    int fw = w >= 100 ? w * 11 / 20 : w >= 72 ? w - 34 : w;
    int help_h = h >= 16 ? 3 : h >= 10 ? 2 : 0;
    int py = y, px = x, ph = h, pw = fw;
    tui_panel(a, &py, &px, &ph, &pw, a->module_view ? "LoRA: target_modules" : "LoRA (LoraConfig)");
    if (a->module_view) {
        draw_modules(a, py, px, ph, pw);
    } else {
        tui_form_draw(a, FORM_LORA, py, px, ph - help_h - (help_h > 0), pw, a->lora_sel, 21);
        if (help_h) tui_form_draw_help(a, FORM_LORA, a->lora_sel, py + ph - help_h, px, help_h, pw);
    }
    if (fw < w) {
        int ry = y, rx = x + fw, rh = h, rw = w - fw;
        tui_panel(a, &ry, &rx, &rh, &rw, "What it costs");
        draw_figures(a, ry, rx, rh, rw);
    }
}

// ---- keys ------------------------------------------------------------------------------

static tui_reaction edit(tui_app *a) {
    if (a->module_view) {
        const char *kinds[32];
        int nk = module_kinds(a, kinds, 32);
        if (a->mod_sel < nk) toggle_kind(a, kinds[a->mod_sel]);
        return TUI_HANDLED;
    }
    const tui_field *f = tui_form_field(FORM_LORA, a->lora_sel);
    if (f && tui_field_is_targets(f) && a->n_mods) {
        a->module_view = 1;
        a->mod_sel = 0;
        return TUI_HANDLED;
    }
    tui_form_edit(a, FORM_LORA, a->lora_sel);
    return TUI_HANDLED;
}

static tui_reaction type_value(tui_app *a) {   // 'e': type the value (also target_modules as text)
    if (a->module_view) {
        a->module_view = 0;
        for (int i = 0; i < tui_form_count(FORM_LORA); i++)
            if (!strcmp(tui_form_field(FORM_LORA, i)->name, "target_regex")) a->lora_sel = i;
    }
    tui_form_edit(a, FORM_LORA, a->lora_sel);
    return TUI_HANDLED;
}

static tui_reaction up(tui_app *a) {
    int *sel = a->module_view ? &a->mod_sel : &a->lora_sel;
    if (*sel > 0) (*sel)--;
    return TUI_HANDLED;
}

static tui_reaction down(tui_app *a) {
    if (a->module_view) a->mod_sel++;
    else if (a->lora_sel + 1 < tui_form_count(FORM_LORA)) a->lora_sel++;
    return TUI_HANDLED;
}

static tui_reaction left(tui_app *a) {
    if (!a->module_view) tui_form_step(a, FORM_LORA, a->lora_sel, -1);
    return TUI_HANDLED;
}

static tui_reaction right(tui_app *a) {
    if (!a->module_view) tui_form_step(a, FORM_LORA, a->lora_sel, 1);
    return TUI_HANDLED;
}

static tui_reaction back(tui_app *a) {
    a->module_view = 0;
    return TUI_HANDLED;
}

static tui_reaction all_linear(tui_app *a) {
    for (int i = 0; i < tui_form_count(FORM_LORA); i++) {
        const tui_field *f = tui_form_field(FORM_LORA, i);
        char why[160];
        if (tui_field_is_targets(f)) tui_field_set(a, f, "all-linear", why, sizeof why);
    }
    tui_refresh_lora(a);
    return TUI_HANDLED;
}

static void saved_to(tui_app *a, const char *path) {
    if (!path || !*path) return;
    pt_err err = {0};
    if (pt_lora_config_write(&a->cfg, path, &err)) tui_say(a, TUI_ERROR, "%s", err.msg);
    else {
        tui_say(a, TUI_OK, "saved the LoraConfig to %s", path);
        snprintf(a->lora_json, sizeof a->lora_json, "%s", path);
    }
}

static void loaded_from(tui_app *a, const char *path) {
    if (!path || !*path) return;
    pt_err err = {0};
    pt_lora_config c;
    if (pt_lora_config_read(&c, path, &err)) {
        tui_say(a, TUI_ERROR, "%s", err.msg);
        return;
    }
    lora_config_free(&a->cfg);
    a->cfg = c;
    memset(a->bad[FORM_LORA], 0, sizeof a->bad[FORM_LORA]);
    snprintf(a->lora_json, sizeof a->lora_json, "%s", path);
    tui_refresh_lora(a);
    tui_say(a, TUI_OK, "loaded the LoraConfig from %s", path);
}

static tui_reaction save(tui_app *a) {
    tui_edit_begin(a, "save adapter_config.json to: ", a->lora_json[0] ? a->lora_json : "adapter_config.json", 0, -3, saved_to);
    a->ed.on_status = 1;
    return TUI_HANDLED;
}

static tui_reaction load(tui_app *a) {
    tui_edit_begin(a, "load adapter_config.json from: ", a->lora_json, 0, -3, loaded_from);
    a->ed.on_status = 1;
    return TUI_HANDLED;
}

static tui_reaction defaults(tui_app *a) {
    pt_lora_flags f;
    pt_lora_flags_default(&f);
    pt_err err = {0};
    pt_lora_config c;
    if (pt_lora_config_build(&c, &f, &err) == PT_OK) {
        lora_config_free(&a->cfg);
        a->cfg = c;
        memset(a->bad[FORM_LORA], 0, sizeof a->bad[FORM_LORA]);
        tui_refresh_lora(a);
        tui_say(a, TUI_OK, "PEFT's defaults with peftui's training ones (r 8, alpha 16, dropout 0.05)");
    }
    return TUI_HANDLED;
}

static const tui_binding KEYS[] = {
    {TK_ENTER, ' ', "Enter", "edit the field (booleans and choices: next value; targets: the checklist)", edit, 1, "edit"},
    {TK_UP, 'k', "Up/k", "previous field", up, 0, NULL},
    {TK_DOWN, 'j', "Down/j", "next field", down, 0, NULL},
    {TK_LEFT, 'h', "Left/h", "smaller (r, alpha: halve) or previous choice", left, 1, "-"},
    {TK_RIGHT, 'l', "Right/l", "larger (r, alpha: double) or next choice", right, 1, "+"},
    {'e', 0, "e", "type the value (in the checklist: the regex)", type_value, 0, NULL},
    {'a', 0, "a", "target every linear layer (all-linear)", all_linear, 0, NULL},
    {TK_ESC, 0, "Esc", "leave the checklist", back, 0, NULL},
    {'w', 0, "w", "save the form as PEFT's adapter_config.json", save, 1, "save"},
    {'o', 0, "o", "load an adapter_config.json", load, 1, "load"},
    {'d', 0, "d", "back to the defaults", defaults, 0, NULL},
    {0, 0, NULL, NULL, NULL, 0, NULL},
};

static void enter(tui_app *a) {
    tui_refresh_lora(a);
}

const tui_screen tui_scr_lora = {
    .name = "LoRA",
    .about = "edit the LoraConfig and see what it trains and costs",
    .draw = draw,
    .keys = KEYS,
    .enter = enter,
};
