// scr_adapters.c - screen 7: the adapters loaded in the workspace and those
// found on disk (runs, checkpoints, GGUF LoRA files) with base, r, alpha,
// targets, step and loss; activate, scale (0..2, chat and compare follow at
// once), load, merge, export, drop; and the inside view: the norm of each
// layer's and module's update as a heat map.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui/tui.h"
#include "tui/heat.h"

// A heat-map column's label: LLaMA's modules shortened, others as named.
static const char *column_name(const char *short_name) {
    static const char *const LONG[] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
                                       "query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"};
    static const char *const SHORT[] = {"q", "k", "v", "o", "gate", "up", "down", "qkv", "o", "up", "down"};
    for (size_t i = 0; i < sizeof LONG / sizeof LONG[0]; i++)
        if (!strcmp(short_name, LONG[i])) return SHORT[i];
    return short_name;
}

static const char *state_name(int s) {
    switch (s) {
    case PT_AD_LOADING: return "loading";
    case PT_AD_IDLE: return "ready";
    case PT_AD_TRAINING: return "training";
    case PT_AD_IN_USE: return "in use";
    default: return "failed";
    }
}

// Loaded ones first (0 .. n_ads-1), then those on disk not loaded.
static int on_disk_loaded(const tui_app *a, int d) {
    for (int i = 0; i < a->n_ads; i++)
        if (a->adi[i].path[0] && !strcmp(a->adi[i].path, a->disk[d])) return 1;
    return 0;
}

static int n_rows(const tui_app *a) {
    return a->n_ads + a->n_disk;
}

static void row_line(tui_app *a, int i, char *buf, size_t cap, int *role) {
    if (i < a->n_ads) {
        const pt_adapter_info *ai = &a->adi[i];
        char loss[16];
        if (isnan(ai->last_loss)) snprintf(loss, sizeof loss, "-");
        else snprintf(loss, sizeof loss, "%.3f", ai->last_loss);
        snprintf(buf, cap, "%s %-18.18s %-8s x%-4.2g r %-3d a %-5g %-22.22s step %-5d loss %-6s %s%s",
                 ai->id == a->active ? ">" : " ", ai->name, state_name(ai->state), ai->scale, ai->r, ai->alpha, ai->targets,
                 ai->step, loss, ai->merged ? "merged " : "", ai->base_matches ? "" : "OTHER BASE");
        *role = ai->state == PT_AD_FAILED ? TUI_ERROR : ai->id == a->active ? TUI_OK : TUI_NORMAL;
        return;
    }
    int d = i - a->n_ads;
    const pt_adapter_peek *p = &a->disk_peek[d];
    char loss[16];
    if (isnan(p->loss)) snprintf(loss, sizeof loss, "-");
    else snprintf(loss, sizeof loss, "%.3f", p->loss);
    snprintf(buf, cap, "  %-18.18s %-8s       r %-3d a %-5g %-22.22s step %-5d loss %-6s %s", p->name,
             on_disk_loaded(a, d) ? "on disk*" : p->is_gguf ? "gguf" : p->is_checkpoint ? "ckpt" : "on disk", p->r, p->alpha,
             p->targets, p->step, loss, a->disk[d]);
    *role = TUI_DIM;
}

static void draw_inside(tui_app *a, int y, int x, int h, int w) {
    tui_canvas *cv = &a->cv;
    if (a->ad_sel >= a->n_ads) {
        canvas_put(cv, y, x, TUI_DIM, "load it (Enter) to see inside", -1, w);
        return;
    }
    int id = a->ads[a->ad_sel];
    if (a->norms_of != id || a->norms_step != a->adi[a->ad_sel].step || a->norms_scale != a->adi[a->ad_sel].scale) {
        tui_load_norms(a, id);
    }
    if (a->n_norms <= 0) {
        canvas_put(cv, y, x, TUI_DIM, a->norms_err[0] ? a->norms_err : "no norms", -1, w);
        return;
    }
    float vmax = 0;
    for (int i = 0; i < a->n_norms; i++)
        if (a->norms[i] > vmax) vmax = a->norms[i];
    canvas_put(cv, y, x, TUI_DIM, "|scale * B@A| per layer (rows) and module", -1, w);
    const char *cols[16];   // the modules of one layer, as pt_ws_modules lists them
    int nc = 0;
    for (int i = 0; i < a->n_mods && a->mods[i].layer == 0 && nc < 16; i++) cols[nc++] = column_name(a->mods[i].short_name);
    if (nc == 0) return;
    heat_draw(cv, y + 1, x, h - 1, w, a->norms, a->n_norms / nc, nc, cols, vmax);
}

static void draw(tui_app *a, int y, int x, int h, int w) {
    tui_canvas *cv = &a->cv;
    int heat_w = w >= 100 ? 40 : w >= 70 ? 30 : 0;
    int ly = y, lx = x, lh = h, lw = w - heat_w;
    tui_panel(a, &ly, &lx, &lh, &lw, "Adapters (> active; loaded first, then on disk in adapters/)");
    if (a->ed.active && (a->ed.target <= -10 && a->ed.target >= -12)) {
        a->cursor_x = tui_edit_draw(a, ly, lx, lw, TUI_FIELD_EDIT);
        a->cursor_y = ly;
        ly++;
        lh--;
    }
    if (a->confirm_delete) {
        canvas_printf(cv, ly, lx, TUI_WARN, "drop %s from the workbench? y: yes, any other key: no (files stay on disk)",
                      tui_adapter_label(a, a->confirm_delete));
        ly++;
        lh--;
    }
    if (n_rows(a)) tui_draw_list(cv, ly, lx, lh, lw, n_rows(a), a->ad_sel, row_line, a);
    else tui_draw_text(cv, ly, lx, lh, lw, "No adapters yet: train one (screen 4), or press o to load a PEFT folder or a GGUF LoRA.", TUI_DIM, 0);
    if (heat_w) {
        int hy = y, hx = x + w - heat_w, hh = h, hw = heat_w;
        tui_panel(a, &hy, &hx, &hh, &hw, "Inside: where the update is");
        draw_inside(a, hy, hx, hh, hw);
    }
}

// ---- keys ----------------------------------------------------------------------------

static int sel_id(tui_app *a) {
    return a->ad_sel < a->n_ads ? a->ads[a->ad_sel] : 0;
}

static void load_path(tui_app *a, const char *path) {
    if (!path || !*path) return;
    int id, task;
    pt_err err = {0};
    if (pt_ws_adapter_load(a->ws, path, &id, &task, &err)) {
        tui_say(a, TUI_ERROR, "%s", err.msg);
        return;
    }
    tui_say(a, TUI_BUSY, "loading %s", path);
    tui_refresh_adapters(a);
}

static tui_reaction activate(tui_app *a) {
    if (a->ad_sel >= a->n_ads) {
        if (a->ad_sel - a->n_ads < a->n_disk) load_path(a, a->disk[a->ad_sel - a->n_ads]);
        return TUI_HANDLED;
    }
    int id = sel_id(a);
    a->active = a->active == id ? PT_BASE : id;
    tui_say(a, TUI_OK, "chat and compare now use %s", tui_adapter_label(a, a->active));
    return TUI_HANDLED;
}

static tui_reaction open_path(tui_app *a) {
    tui_edit_begin(a, "adapter (PEFT folder or GGUF LoRA): ", "adapters/", 0, -10, load_path);
    return TUI_HANDLED;
}

static tui_reaction up(tui_app *a) {
    if (a->ad_sel > 0) a->ad_sel--;
    return TUI_HANDLED;
}

static tui_reaction down(tui_app *a) {
    if (a->ad_sel + 1 < n_rows(a)) a->ad_sel++;
    return TUI_HANDLED;
}

static tui_reaction scale(tui_app *a, float d) {
    int id = sel_id(a);
    if (!id) return TUI_HANDLED;
    int keep = a->active;
    a->active = id;
    tui_scale_step(a, d);
    a->active = keep;
    return TUI_HANDLED;
}

static tui_reaction scale_up(tui_app *a) {
    return scale(a, 0.1f);
}

static tui_reaction scale_down(tui_app *a) {
    return scale(a, -0.1f);
}

static tui_reaction merge(tui_app *a) {
    int id = sel_id(a), task;
    if (!id) return TUI_HANDLED;
    pt_err err = {0};
    const pt_adapter_info *ai = tui_adapter(a, id);
    int rc = ai && ai->merged ? pt_ws_adapter_unmerge(a->ws, id, &task, &err) : pt_ws_adapter_merge(a->ws, id, &task, &err);
    if (rc) tui_say(a, TUI_ERROR, "%s", err.msg);
    else tui_say(a, TUI_BUSY, "%s %s", ai && ai->merged ? "unmerging" : "merging into the base:", tui_adapter_label(a, id));
    return TUI_HANDLED;
}

static void export_to(tui_app *a, const char *path) {
    if (!path || !*path) return;
    int task;
    pt_err err = {0};
    char warns[4][320];
    int nw = pt_ws_export_check(a->ws, a->export_id, a->export_fmt, NAN, warns, 4, &err);
    if (pt_ws_export(a->ws, a->export_id, a->export_fmt, NAN, path, &task, &err)) {
        tui_say(a, TUI_ERROR, "%s", err.msg);
        return;
    }
    if (nw > 0) tui_say(a, TUI_WARN, "exporting to %s; note: %s", path, warns[0]);
    else tui_say(a, TUI_BUSY, "exporting %s as %s to %s", tui_adapter_label(a, a->export_id), a->export_fmt, path);
}

static void export_fmt(tui_app *a, const char *fmt) {
    if (!fmt || !*fmt) return;
    pt_err err = {0};
    if (pt_export_format_check(fmt, &err)) {
        tui_say(a, TUI_ERROR, "%s", err.msg);
        return;
    }
    snprintf(a->export_fmt, sizeof a->export_fmt, "%s", fmt);
    const pt_adapter_info *ai = tui_adapter(a, a->export_id);
    char def[1200];
    snprintf(def, sizeof def, "exports/%s%s", ai ? ai->name : "adapter",
             !strcmp(fmt, "gguf-lora") ? ".gguf" : !strcmp(fmt, "merged") ? "-merged" : "");
    tui_edit_begin(a, "export to: ", def, 0, -12, export_to);
}

static tui_reaction export(tui_app *a) {
    a->export_id = sel_id(a);
    if (!a->export_id) {
        tui_say(a, TUI_DIM, "select a loaded adapter (Enter loads one from disk)");
        return TUI_HANDLED;
    }
    tui_edit_begin(a, "format (peft, merged, gguf-lora): ", "peft", 0, -11, export_fmt);
    return TUI_HANDLED;
}

static tui_reaction drop(tui_app *a) {
    int id = sel_id(a);
    if (!id) return TUI_HANDLED;
    a->confirm_delete = id;
    return TUI_HANDLED;
}

static tui_reaction keys(tui_app *a, int key) {
    if (!a->confirm_delete) return TUI_UNHANDLED;
    int id = a->confirm_delete;
    a->confirm_delete = 0;
    if (key != 'y' && key != 'Y') {
        tui_say(a, TUI_DIM, "kept");
        return TUI_HANDLED;
    }
    pt_err err = {0};
    if (pt_ws_adapter_drop(a->ws, id, &err)) tui_say(a, TUI_ERROR, "%s", err.msg);
    else {
        if (a->active == id) a->active = PT_BASE;
        tui_say(a, TUI_OK, "dropped");
        tui_refresh_adapters(a);
    }
    return TUI_HANDLED;
}

static tui_reaction rescan(tui_app *a) {
    tui_scan_adapters(a);
    tui_refresh_adapters(a);
    return TUI_HANDLED;
}

// The delete confirmation takes the next key first.
static const tui_binding KEYS[] = {
    {TK_ENTER, ' ', "Enter", "activate the adapter for chat and compare (again: the base); on disk: load it", activate, 1, "activate/load"},
    {TK_UP, 'k', "Up/k", "previous", up, 0, NULL},
    {TK_DOWN, 'j', "Down/j", "next", down, 0, NULL},
    {'+', '=', "+/-", "its scale up or down by 0.1 (0..2; chat and compare follow at once)", scale_up, 1, "scale"},
    {'-', 0, "-", "its scale down", scale_down, 0, NULL},
    {'o', 0, "o", "load a PEFT adapter folder or a GGUF LoRA by path", open_path, 1, "open"},
    {'m', 0, "m", "merge it into the base weights (again: unmerge)", merge, 1, "merge"},
    {'x', 0, "x", "export: a PEFT folder, a merged model, or a GGUF LoRA for llama.cpp", export, 1, "export"},
    {'D', TK_DEL, "D", "drop it from the workbench (asks first; files stay on disk)", drop, 1, "drop"},
    {'r', 0, "r", "look in adapters/ again", rescan, 0, NULL},
    {0, 0, NULL, NULL, NULL, 0, NULL},
};

static void enter(tui_app *a) {
    tui_scan_adapters(a);
    tui_refresh_adapters(a);
}

const tui_screen tui_scr_adapters = {
    .name = "Adapters",
    .about = "the adapters and checkpoints, their scale, merge and export, and where each put its weight",
    .draw = draw,
    .keys = KEYS,
    .key_first = keys,
    .enter = enter,
};
