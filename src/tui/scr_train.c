// scr_train.c - screen 4: start, pause, resume, stop (saves) and cancel a
// run; the live loss plot (each step, smoothed, eval) with lr and gradient
// norm; progress, tokens/s and ETA; the probe's answers as the adapter
// learns; the log of checkpoints and warnings; the training parameters; and
// the checkpoints of the run to resume from.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tui/tui.h"
#include "tui/plot.h"

enum { VIEW_PLOT, VIEW_FORM, VIEW_CKPT };

static void draw_progress(tui_app *a, int y, int x, int w) {
    tui_canvas *cv = &a->cv;
    const pt_train_status *s = &a->js;
    if (!a->job) {
        char why[400];
        if (tui_train_blocked(a, why, sizeof why)) canvas_printf(cv, y, x, TUI_WARN, "not ready: %s", why);
        else canvas_printf(cv, y, x, TUI_OK, "ready: s starts training on %s", a->data_path);
        return;
    }
    char eta[32], tps[32];
    tui_fmt_duration(s->eta_s, eta, sizeof eta);
    snprintf(tps, sizeof tps, "%.0f tok/s", s->last.tokens_per_s);
    int role = s->state == PT_TRAIN_FAILED ? TUI_ERROR : s->state == PT_TRAIN_DONE ? TUI_OK
             : s->state == PT_TRAIN_PAUSED ? TUI_WARN : TUI_BUSY;
    int ex = canvas_printf(cv, y, x, role, "%-9s", pt_train_state_name(s->state));
    // The epoch the steps are in (the status' epoch is the data loader's, which reads ahead):
    // every epoch has the same number of optimizer steps when num_train_epochs decides.
    char ep[32];
    if (a->tp.max_steps <= 0 && a->tp.epochs > 0 && s->total_steps > 0) {
        int e = (int)((long)s->step * a->tp.epochs / s->total_steps) + 1;
        snprintf(ep, sizeof ep, "%d/%d", e < a->tp.epochs ? e : a->tp.epochs, a->tp.epochs);
    } else {
        snprintf(ep, sizeof ep, "%d", s->epoch + 1);
    }
    ex = canvas_printf(cv, y, ex + 1, TUI_NORMAL, "step %d/%d  epoch %s  %s  ETA %s", s->step, s->total_steps, ep, tps,
                       s->state == PT_TRAIN_RUNNING ? eta : "-");
    double frac = s->total_steps > 0 ? (double)s->step / s->total_steps : 0;
    if (x + w - ex - 2 >= 10) tui_progress(cv, y, ex + 2, x + w - ex - 2, frac, role);
}

static void draw_plot(tui_app *a, int y, int x, int h, int w) {
    plot_smooth(a->h_loss, a->n_pts, 0.6f, a->h_smooth);
    plot_series s[3] = {
        {"loss", a->h_step, a->h_loss, a->n_pts, TUI_LOSS_RAW, '.'},
        {"smoothed", a->h_step, a->h_smooth, a->n_pts, TUI_LOSS_SMOOTH, '*'},
        {"eval", a->eval_step, a->eval_loss, a->n_eval, TUI_LOSS_EVAL, 'o'},
    };
    plot_mode mode = a->cv.utf8 ? PLOT_BRAILLE : PLOT_ASCII;
    if (plot_draw(&a->cv, y, x, h, w, s, a->n_eval ? 3 : 2, "step", mode) < 0 && !a->job)
        canvas_put(&a->cv, y + h / 2 + 1, x + 2, TUI_DIM, "the loss appears here as steps arrive (s starts)", -1, w - 4);
}

static void draw_probe(tui_app *a, int y, int x, int h, int w) {
    tui_canvas *cv = &a->cv;
    if (h <= 0) return;
    canvas_printf(cv, y, x, TUI_USER, "probe: %s", a->probe[0] ? a->probe : "(none: a sets one)");
    if (h < 2) return;
    int row = 1;
    // the newest answer, and the first one to see what changed
    if (a->probe_busy && a->probe_live && a->probe_live[0] && row < h) {
        char line[1200];
        snprintf(line, sizeof line, "step %d: %s...", a->probe_asked_step, a->probe_live);
        row += tui_draw_text(cv, y + row, x, 1, w, line, TUI_BUSY, 0) > 0;
    }
    for (int i = a->n_probe - 1; i >= 0 && row < h; i--) {
        if (i != a->n_probe - 1 && i != 0) continue;
        char line[1200];
        snprintf(line, sizeof line, "%s %d: %s", a->probes[i].step ? "step" : "base, step", a->probes[i].step, a->probes[i].text ? a->probes[i].text : "");
        for (char *p = line; *p; p++)
            if (*p == '\n') *p = ' ';
        int role = i == 0 && a->n_probe > 1 ? TUI_DIM : TUI_ASSISTANT;
        int lines = h - row >= 2 && i == a->n_probe - 1 ? 2 : 1;
        int n = tui_draw_text(cv, y + row, x, lines, w, line, role, 0);
        row += n < lines ? n : lines;
    }
}

static void draw_log(tui_app *a, int y, int x, int h, int w) {
    int first = a->n_log > h ? a->n_log - h : 0;
    for (int i = first; i < a->n_log; i++) canvas_put(&a->cv, y + i - first, x, a->log_role[i], a->log[i], -1, w);
}

static void ckpt_line(tui_app *a, int i, char *buf, size_t cap, int *role) {
    const pt_checkpoint_info *c = &a->ckpts[i];
    snprintf(buf, cap, "step %-6d loss %-8.4g eval %-8.4g %s", c->step, c->loss, c->eval_loss, c->path);
    *role = TUI_NORMAL;
}

static void draw(tui_app *a, int y, int x, int h, int w) {
    tui_canvas *cv = &a->cv;
    draw_progress(a, y, x + 1, w - 2);
    y++;
    h--;
    int side = w >= 110 ? 44 : 0;   // wide: the parameters beside the plot
    int view = a->train_view;
    if (side && view == VIEW_FORM) view = VIEW_PLOT;
    int lower = h >= 18 ? 7 : h >= 12 ? 4 : 0;
    int py = y, px = x, ph = h - lower, pw = w - side;
    if (view == VIEW_FORM) {
        tui_panel(a, &py, &px, &ph, &pw, "Training parameters (Enter edits, e back to the plot)");
        tui_form_draw(a, FORM_TRAIN, py, px, ph - 2, pw, a->train_sel, 29);
        tui_form_draw_help(a, FORM_TRAIN, a->train_sel, py + ph - 2, px, 2, pw);
    } else if (view == VIEW_CKPT) {
        tui_panel(a, &py, &px, &ph, &pw, "Checkpoints of the run (Enter resumes from one, Esc back)");
        if (a->n_ckpts) tui_draw_list(cv, py, px, ph, pw, a->n_ckpts, a->ckpt_sel, ckpt_line, a);
        else canvas_put(cv, py, px, TUI_DIM, "no checkpoints yet (a run saves one when it stops or ends)", -1, pw);
    } else {
        char title[160];
        float lr = a->n_pts ? a->h_lr[a->n_pts - 1] : NAN, gn = a->n_pts ? a->h_gn[a->n_pts - 1] : NAN;
        float loss = a->n_pts ? a->h_loss[a->n_pts - 1] : NAN;
        if (a->n_pts) snprintf(title, sizeof title, "Loss %.4f  lr %.2e  grad norm %.3f", loss, lr, gn);
        else snprintf(title, sizeof title, "Loss");
        tui_panel(a, &py, &px, &ph, &pw, title);
        draw_plot(a, py, px, ph, pw);
    }
    if (side) {
        int sy = y, sx = x + w - side, sh = h - lower, sw = side;
        tui_panel(a, &sy, &sx, &sh, &sw, a->train_view == VIEW_FORM ? "Parameters (editing)" : "Parameters (e edits)");
        tui_form_draw(a, FORM_TRAIN, sy, sx, sh - 2, sw, a->train_view == VIEW_FORM ? a->train_sel : -1, 22);
        if (a->train_view == VIEW_FORM) tui_form_draw_help(a, FORM_TRAIN, a->train_sel, sy + sh - 2, sx, 2, sw);
    }
    if (lower) {
        int half = w / 2;
        int qy = y + h - lower, qx = x, qh = lower, qw = w - half;
        tui_panel(a, &qy, &qx, &qh, &qw, "Probe: the adapter in training answers");
        if (a->ed.active && a->ed.target == -5) {
            a->cursor_x = tui_edit_draw(a, qy, qx, qw, TUI_FIELD_EDIT);
            a->cursor_y = qy;
        } else {
            draw_probe(a, qy, qx, qh, qw);
        }
        int ly = y + h - lower, lx = x + w - half, lh = lower, lw = half;
        tui_panel(a, &ly, &lx, &lh, &lw, "Log");
        draw_log(a, ly, lx, lh, lw);
    }
}

// ---- keys ---------------------------------------------------------------------------

static tui_reaction start(tui_app *a) {
    tui_train_start(a, NULL);
    if (a->job) a->job_seen = 1;
    return TUI_HANDLED;
}

static tui_reaction pause_resume(tui_app *a) {
    if (!tui_job_running(a)) {
        tui_say(a, TUI_DIM, "nothing is training");
        return TUI_HANDLED;
    }
    if (a->js.state == PT_TRAIN_PAUSED) {
        pt_train_resume(a->ws, a->job);
        tui_say(a, TUI_OK, "resumed");
    } else {
        pt_train_pause(a->ws, a->job);
        tui_say(a, TUI_WARN, "paused (p resumes)");
    }
    return TUI_HANDLED;
}

static tui_reaction stop(tui_app *a) {
    if (!tui_job_running(a)) return TUI_HANDLED;
    pt_train_stop(a->ws, a->job);
    tui_say(a, TUI_BUSY, "stopping: saving a checkpoint and the adapter");
    return TUI_HANDLED;
}

static tui_reaction cancel(tui_app *a) {
    if (!tui_job_running(a)) return TUI_HANDLED;
    pt_train_cancel(a->ws, a->job);
    tui_say(a, TUI_WARN, "cancelled: nothing saved");
    return TUI_HANDLED;
}

static tui_reaction toggle_form(tui_app *a) {
    a->train_view = a->train_view == VIEW_FORM ? VIEW_PLOT : VIEW_FORM;
    return TUI_HANDLED;
}

static tui_reaction show_ckpts(tui_app *a) {
    const char *dir = a->jinfo.out_dir[0] ? a->jinfo.out_dir : a->tp.out_dir;
    char def[1024];
    if (!dir[0]) {   // the folder a fresh run on this dataset uses
        const char *b = strrchr(a->data_path, '/');
        b = b ? b + 1 : a->data_path;
        snprintf(def, sizeof def, "adapters/%.*s", (int)strcspn(b, "."), b);
        dir = def;
    }
    snprintf(a->ckpt_dir, sizeof a->ckpt_dir, "%s", dir);
    a->n_ckpts = pt_checkpoints_list(a->ckpt_dir, a->ckpts, (int)(sizeof a->ckpts / sizeof a->ckpts[0]));
    a->ckpt_sel = 0;
    a->train_view = a->train_view == VIEW_CKPT ? VIEW_PLOT : VIEW_CKPT;
    if (!a->n_ckpts && a->train_view == VIEW_CKPT) tui_say(a, TUI_DIM, "no checkpoints in %s", a->ckpt_dir);
    return TUI_HANDLED;
}

static void probe_set(tui_app *a, const char *text) {
    if (text) snprintf(a->probe, sizeof a->probe, "%s", text);
}

static tui_reaction set_probe(tui_app *a) {
    tui_edit_begin(a, "probe: ", a->probe, 1, -5, probe_set);
    return TUI_HANDLED;
}

static tui_reaction enter_key(tui_app *a) {
    if (a->train_view == VIEW_FORM || (a->cv.w >= 110 && a->train_view == VIEW_FORM)) tui_form_edit(a, FORM_TRAIN, a->train_sel);
    else if (a->train_view == VIEW_CKPT && a->ckpt_sel < a->n_ckpts) {
        tui_train_start(a, a->ckpts[a->ckpt_sel].path);
        a->train_view = VIEW_PLOT;
    } else if (!a->job || !tui_job_running(a)) {
        tui_say(a, TUI_DIM, "s starts training; e edits the parameters");
    }
    return TUI_HANDLED;
}

static tui_reaction up(tui_app *a) {
    if (a->train_view == VIEW_FORM && a->train_sel > 0) a->train_sel--;
    if (a->train_view == VIEW_CKPT && a->ckpt_sel > 0) a->ckpt_sel--;
    return TUI_HANDLED;
}

static tui_reaction down(tui_app *a) {
    if (a->train_view == VIEW_FORM && a->train_sel + 1 < tui_form_count(FORM_TRAIN)) a->train_sel++;
    if (a->train_view == VIEW_CKPT && a->ckpt_sel + 1 < a->n_ckpts) a->ckpt_sel++;
    return TUI_HANDLED;
}

static tui_reaction left(tui_app *a) {
    if (a->train_view == VIEW_FORM) tui_form_step(a, FORM_TRAIN, a->train_sel, -1);
    return TUI_HANDLED;
}

static tui_reaction right(tui_app *a) {
    if (a->train_view == VIEW_FORM) tui_form_step(a, FORM_TRAIN, a->train_sel, 1);
    return TUI_HANDLED;
}

static tui_reaction back(tui_app *a) {
    a->train_view = VIEW_PLOT;
    return TUI_HANDLED;
}

static const tui_binding KEYS[] = {
    {'s', 0, "s", "start training a new adapter with the LoRA form, the dataset and these parameters", start, 1, "start"},
    {'p', 0, "p", "pause, or resume a paused run", pause_resume, 1, "pause/resume"},
    {'S', 0, "S", "stop: save a checkpoint and the adapter, then end", stop, 1, "stop+save"},
    {'C', 0, "C", "cancel: end without saving", cancel, 1, "cancel"},
    {'e', 0, "e", "edit the training parameters (again: back to the plot)", toggle_form, 1, "params"},
    {'r', 0, "r", "the run's checkpoints: Enter resumes from the selected one", show_ckpts, 1, "resume"},
    {'a', 0, "a", "ask: set the probe prompt the adapter answers at each eval", set_probe, 1, "probe"},
    {TK_ENTER, 0, "Enter", "edit the selected parameter, or resume from the selected checkpoint", enter_key, 0, NULL},
    {TK_UP, 'k', "Up/k", "previous parameter or checkpoint", up, 0, NULL},
    {TK_DOWN, 'j', "Down/j", "next parameter or checkpoint", down, 0, NULL},
    {TK_LEFT, 'h', "Left/h", "smaller value or previous choice", left, 0, NULL},
    {TK_RIGHT, 'l', "Right/l", "larger value or next choice", right, 0, NULL},
    {TK_ESC, 0, "Esc", "back to the plot", back, 0, NULL},
    {0, 0, NULL, NULL, NULL, 0, NULL},
};

const tui_screen tui_scr_train = {
    .name = "Train",
    .about = "train, watch the loss fall and the probe's answer change",
    .draw = draw,
    .keys = KEYS,
};
