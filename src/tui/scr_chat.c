// scr_chat.c - screen 5: a streaming chat with the active adapter or the
// base; the transcript wraps and scrolls; the input line is GNU readline
// (history, Emacs keys) inside the loop. Hot-swap the adapter, toggle the
// base, change the scale, edit the sampling, and save the last exchange
// (its answer corrected if need be) as a new row of a dataset.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui/tui.h"
#include "tui/wrap.h"

#define CORRECTIONS "datasets/corrections.jsonl"

static const char *speaker(tui_app *a, char role) {
    if (role == 'u') return "you";
    if (role == 'n') return "";
    return tui_adapter_label(a, a->chat_adapter);
}

// The transcript's lines, bottom-aligned, scrolled chat_scroll lines up.
static void draw_transcript(tui_app *a, int y, int x, int h, int w) {
    tui_canvas *cv = &a->cv;
    if (!a->n_msgs) {
        tui_draw_text(cv, y, x, h, w,
                      "Type a message and press Enter. The answer streams from the active adapter (or the base). "
                      "Esc leaves the input line for the keys below; i or Enter comes back.", TUI_DIM, 0);
        return;
    }
    // count lines first (each message: a label line, then its wrapped text)
    int total = 0;
    for (int i = 0; i < a->n_msgs; i++) total += (a->msgs[i].role != 'n') + wrap_text(a->msgs[i].text, a->msgs[i].len, w, NULL, 0);
    int max_scroll = total > h ? total - h : 0;
    if (a->chat_scroll > max_scroll) a->chat_scroll = max_scroll;
    int first = total - h - a->chat_scroll;   // the transcript line drawn at the top
    if (first < 0) first = 0;
    int line = 0;
    for (int i = 0; i < a->n_msgs && line < first + h; i++) {
        const tui_msg *m = &a->msgs[i];
        int role = m->role == 'u' ? TUI_USER : m->role == 'n' ? TUI_DIM : TUI_ASSISTANT;
        if (m->role != 'n') {
            if (line >= first) canvas_printf(cv, y + line - first, x, m->role == 'u' ? TUI_USER : TUI_TITLE, "%s:", speaker(a, m->role));
            line++;
        }
        int n = wrap_text(m->text, m->len, w, NULL, 0);
        int skip = first > line ? first - line : 0;
        if (skip < n) tui_draw_text(cv, y + (line + skip - first), x, h - (line + skip - first), w, m->text, role, skip);
        line += n;
    }
    if (a->chat_scroll) canvas_printf(cv, y, x + w - 12, TUI_DIM, "(%d more)", a->chat_scroll);
}

static void draw(tui_app *a, int y, int x, int h, int w) {
    tui_canvas *cv = &a->cv;
    // settings line: who answers and how it samples
    const pt_sampling *s = &a->sampling;
    const pt_adapter_info *ai = tui_adapter(a, a->active);
    char who[200];
    if (ai) snprintf(who, sizeof who, "%s (scale %.2f)", ai->name, ai->scale);
    else snprintf(who, sizeof who, "the base model");
    canvas_printf(cv, y, x + 1, TUI_BOLD, "talking to %s", who);
    canvas_printf(cv, y + 1, x + 1, TUI_DIM, "temp %g  top_k %d  top_p %g  min_p %g  repeat %g  seed %llu  max %d tokens",
                  s->temp, s->top_k, s->top_p, s->min_p, s->repeat_penalty, (unsigned long long)s->seed, a->max_tokens);
    int form_h = a->chat_form ? tui_form_count(FORM_SAMPLING) + 4 : 0;
    int ty = y + 2, tx = x, th = h - 2 - 3 - form_h, tw = w;
    if (form_h) {
        int fy = y + 2, fx = x, fh = form_h, fw = w;
        tui_panel(a, &fy, &fx, &fh, &fw, "Sampling (Enter edits, s closes)");
        tui_form_draw(a, FORM_SAMPLING, fy, fx, fh - 2, fw, a->chat_sel, 18);
        tui_form_draw_help(a, FORM_SAMPLING, a->chat_sel, fy + fh - 2, fx, 2, fw);
        ty += form_h;
    }
    if (th >= 3) {
        tui_panel(a, &ty, &tx, &th, &tw, a->chat_busy ? "Chat (answering: ^C stops)" : "Chat");
        draw_transcript(a, ty, tx, th, tw);
    }
    int iy = y + h - 3, ix = x, ih = 3, iw = w;
    tui_panel(a, &iy, &ix, &ih, &iw, a->ed.active && a->ed.target == -6 ? "Message (Enter sends, Esc: keys)" : "Message (i: type)");
    if (a->ed.active && (a->ed.target == -6 || a->ed.target == -7 || a->ed.target == -8)) {
        a->cursor_x = tui_edit_draw(a, iy, ix, iw, TUI_FIELD_EDIT);
        a->cursor_y = iy;
    }
}

// ---- sending ---------------------------------------------------------------------------

static int ensure_chat(tui_app *a) {
    if (a->chat) return 1;
    pt_chat_opts o;
    pt_chat_opts_default(&o);
    o.adapter = a->active;
    o.sampling = a->sampling;
    o.max_tokens = a->max_tokens;
    if (a->template_name[0]) o.template_name = a->template_name;
    char warn[320] = "";
    pt_err err = {0};
    if (pt_chat_open(a->ws, &o, &a->chat, warn, sizeof warn, &err)) {
        a->chat = 0;
        tui_say(a, TUI_ERROR, "%s", err.msg);
        return 0;
    }
    a->chat_adapter = a->active;
    if (warn[0]) tui_msg_add(a, 'n', warn);
    a->sampling_changed = 0;
    return 1;
}

static void begin_input(tui_app *a);

static void sent(tui_app *a, const char *text) {
    if (!text) return;   // Esc: the keys of the screen
    if (!*text) {
        begin_input(a);
        return;
    }
    if (!a->have_model) {
        tui_say(a, TUI_ERROR, "no model loaded: pick one on the Model screen (1)");
        begin_input(a);
        return;
    }
    if (a->chat_busy) {
        tui_say(a, TUI_WARN, "still answering: wait, or ^C to stop it");
        begin_input(a);
        return;
    }
    if (!ensure_chat(a)) return;
    pt_err err = {0};
    if (a->chat_adapter != a->active) {
        char warn[320] = "";
        if (pt_chat_set_adapter(a->ws, a->chat, a->active, NAN, warn, sizeof warn, &err)) {
            tui_say(a, TUI_ERROR, "%s", err.msg);
            begin_input(a);
            return;
        }
        a->chat_adapter = a->active;
        if (warn[0]) tui_msg_add(a, 'n', warn);
    }
    if (a->sampling_changed && !pt_chat_set_sampling(a->ws, a->chat, &a->sampling, a->max_tokens, &err)) a->sampling_changed = 0;
    if (pt_chat_send(a->ws, a->chat, text, &err)) {
        tui_say(a, TUI_ERROR, "%s", err.msg);
        begin_input(a);
        return;
    }
    snprintf(a->last_user, sizeof a->last_user, "%s", text);
    tui_msg_add(a, 'u', text);
    tui_msg_add(a, 'a', "");
    a->chat_busy = 1;
    a->chat_scroll = 0;
    begin_input(a);
}

static void begin_input(tui_app *a) {
    tui_edit_begin(a, "> ", "", 1, -6, sent);
}

static void enter(tui_app *a) {
    if (!a->chat_form) begin_input(a);
}

// ---- keys ----------------------------------------------------------------------------------

static tui_reaction type(tui_app *a) {
    if (a->chat_form) tui_form_edit(a, FORM_SAMPLING, a->chat_sel);
    else begin_input(a);
    return TUI_HANDLED;
}

static void swapped(tui_app *a) {
    char line[300];
    const pt_adapter_info *ai = tui_adapter(a, a->active);
    if (ai) snprintf(line, sizeof line, "-- now %s answers (scale %.2f); the base stays loaded --", ai->name, ai->scale);
    else snprintf(line, sizeof line, "-- now the base model answers --");
    tui_msg_add(a, 'n', line);
    tui_say(a, TUI_OK, "%s", line);
}

static tui_reaction cycle_adapter(tui_app *a) {
    if (a->chat_busy) {
        tui_say(a, TUI_WARN, "the adapter changes between turns: wait for the answer, or ^C");
        return TUI_HANDLED;
    }
    int cur = -1;
    for (int i = 0; i < a->n_ads; i++)
        if (a->ads[i] == a->active) cur = i;
    int next = cur + 1;
    // the base comes after the last adapter
    a->active = next < a->n_ads ? a->ads[next] : PT_BASE;
    if (a->active != PT_BASE) a->last_adapter = a->active;
    swapped(a);
    return TUI_HANDLED;
}

static tui_reaction toggle_base(tui_app *a) {
    if (a->chat_busy) {
        tui_say(a, TUI_WARN, "the adapter changes between turns: wait for the answer, or ^C");
        return TUI_HANDLED;
    }
    if (a->active != PT_BASE) {
        a->last_adapter = a->active;
        a->active = PT_BASE;
    } else if (tui_adapter(a, a->last_adapter)) {
        a->active = a->last_adapter;
    } else if (a->n_ads) {
        a->active = a->ads[0];
    } else {
        tui_say(a, TUI_DIM, "no adapter loaded: train one (4) or load one (7)");
        return TUI_HANDLED;
    }
    swapped(a);
    return TUI_HANDLED;
}

void tui_scale_step(tui_app *a, float d) {
    const pt_adapter_info *ai = tui_adapter(a, a->active);
    if (!ai) {
        tui_say(a, TUI_DIM, "the base has no scale: pick an adapter first");
        return;
    }
    float s = roundf((ai->scale + d) * 10) / 10;
    if (s < 0) s = 0;
    if (s > 2) s = 2;
    pt_err err = {0};
    if (pt_ws_adapter_set_scale(a->ws, a->active, s, &err)) tui_say(a, TUI_ERROR, "%s", err.msg);
    else tui_say(a, TUI_OK, "%s: scale %.1f (chat and compare use it from the next answer)", ai->name, s);
    tui_refresh_adapters(a);
}

static tui_reaction scale_up(tui_app *a) {
    tui_scale_step(a, 0.1f);
    return TUI_HANDLED;
}

static tui_reaction scale_down(tui_app *a) {
    tui_scale_step(a, -0.1f);
    return TUI_HANDLED;
}

static tui_reaction sampling(tui_app *a) {
    a->chat_form = !a->chat_form;
    if (!a->chat_form) begin_input(a);
    return TUI_HANDLED;
}

static tui_reaction clear(tui_app *a) {
    if (a->chat_busy) return TUI_HANDLED;
    pt_err err = {0};
    if (a->chat) pt_chat_reset(a->ws, a->chat, &err);
    tui_msgs_clear(a);
    tui_say(a, TUI_OK, "a new conversation");
    return TUI_HANDLED;
}

static void save_to(tui_app *a, const char *path) {
    if (!path || !*path) return;
    pt_err err = {0};
    if (pt_dataset_append_chat(path, NULL, a->last_user, a->save_answer, &err)) tui_say(a, TUI_ERROR, "%s", err.msg);
    else tui_say(a, TUI_OK, "added the exchange to %s: train on it to teach the answer", path);
}

static void corrected(tui_app *a, const char *answer) {
    if (!answer) return;
    free(a->save_answer);
    a->save_answer = strdup(answer);
    tui_edit_begin(a, "append to dataset: ", CORRECTIONS, 0, -8, save_to);
}

static tui_reaction save_exchange(tui_app *a) {
    const tui_msg *ans = NULL;
    for (int i = a->n_msgs - 1; i >= 0 && !ans; i--)
        if (a->msgs[i].role == 'a') ans = &a->msgs[i];
    if (!ans || !a->last_user[0] || a->chat_busy) {
        tui_say(a, TUI_DIM, "nothing to save yet: ask something first (and wait for the answer)");
        return TUI_HANDLED;
    }
    tui_edit_begin(a, "answer (correct it, Enter keeps): ", ans->text, 0, -7, corrected);
    return TUI_HANDLED;
}

static tui_reaction scroll_up(tui_app *a) {
    a->chat_scroll += 5;
    return TUI_HANDLED;
}

static tui_reaction scroll_down(tui_app *a) {
    a->chat_scroll = a->chat_scroll > 5 ? a->chat_scroll - 5 : 0;
    return TUI_HANDLED;
}

static tui_reaction up(tui_app *a) {
    if (a->chat_form && a->chat_sel > 0) a->chat_sel--;
    else if (!a->chat_form) a->chat_scroll++;
    return TUI_HANDLED;
}

static tui_reaction down(tui_app *a) {
    if (a->chat_form && a->chat_sel + 1 < tui_form_count(FORM_SAMPLING)) a->chat_sel++;
    else if (!a->chat_form && a->chat_scroll > 0) a->chat_scroll--;
    return TUI_HANDLED;
}

static const tui_binding KEYS[] = {
    {TK_PGUP, 0, "PgUp", "scroll the transcript up (also while typing)", scroll_up, 0, NULL},
    {TK_PGDN, 0, "PgDn", "scroll the transcript down", scroll_down, 0, NULL},
    {'i', TK_ENTER, "i/Enter", "type a message (in the sampling form: edit the field)", type, 1, "type"},
    {'a', 0, "a", "next adapter (hot-swap: the base stays loaded), then the base", cycle_adapter, 1, "next adapter"},
    {'b', 0, "b", "base model on or off", toggle_base, 1, "base"},
    {'+', '=', "+/-", "the adapter's scale up or down by 0.1 (0..2)", scale_up, 1, "scale"},
    {'-', 0, "-", "the adapter's scale down by 0.1", scale_down, 0, NULL},
    {'s', 0, "s", "sampling settings", sampling, 1, "sampling"},
    {'w', 0, "w", "save the last exchange (answer corrected if you like) as a dataset row", save_exchange, 1, "save row"},
    {'c', 0, "c", "clear: a new conversation", clear, 0, NULL},
    {TK_UP, 'k', "Up/k", "scroll up one line (sampling form: previous field)", up, 0, NULL},
    {TK_DOWN, 'j', "Down/j", "scroll down (sampling form: next field)", down, 0, NULL},
    {0, 0, NULL, NULL, NULL, 0, NULL},
};

const tui_screen tui_scr_chat = {
    .name = "Chat",
    .about = "talk to the active adapter or the base; hot-swap adapters",
    .draw = draw,
    .keys = KEYS,
    .enter = enter,
};
