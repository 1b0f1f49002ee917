// tui_state.c - what the workbench knows: events from the workspace turned
// into transcripts, loss history and compare columns; snapshots re-read a
// few times a second (job status, adapters, memory); the settings file.
// The screens draw from what this keeps and call the actions here.
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "tui/tui.h"

#define DEFAULT_MODEL "models/SmolLM2-135M-Instruct.Q4_1.gguf"
#define DEMO_DATA "datasets/identity.jsonl"
#define DEMO_PROBE "What is your name?"

// ---- defaults --------------------------------------------------------------------

static void demo_params(pt_train_params *p) {
    train_params_defaults(p);
    // the identity demo of datasets/README.md: a visible change in a few minutes on 2 cores
    p->lr = 1e-3f;
    p->epochs = 3;
    p->max_seq_len = 128;
    p->eval_every = 10;
    p->eval_frac = 0.05;
    p->save_every = 0;
    p->out_dir[0] = 0;   // adapters/<dataset>, as `peftui train` picks
}

void tui_state_defaults(tui_app *a) {
    pt_lora_flags f;
    pt_lora_flags_default(&f);
    pt_err err = {0};
    pt_lora_config_build(&a->cfg, &f, &err);
    demo_params(&a->tp);
    sampling_defaults(&a->sampling);
    a->max_tokens = 256;
    snprintf(a->data_path, sizeof a->data_path, "%s", DEMO_DATA);
    snprintf(a->probe, sizeof a->probe, "%s", DEMO_PROBE);
    a->cmp_color = 1;
}

// ---- small lookups -----------------------------------------------------------------

int tui_job_running(const tui_app *a) {
    if (!a->job) return 0;
    int s = a->js.state;
    return s == PT_TRAIN_IDLE || s == PT_TRAIN_STARTING || s == PT_TRAIN_RUNNING || s == PT_TRAIN_PAUSED ||
           s == PT_TRAIN_STOPPING;
}

const pt_adapter_info *tui_adapter(const tui_app *a, int id) {
    for (int i = 0; i < a->n_ads; i++)
        if (a->ads[i] == id) return &a->adi[i];
    return NULL;
}

const char *tui_adapter_label(const tui_app *a, int id) {
    if (id == PT_BASE) return "base";
    const pt_adapter_info *ai = tui_adapter(a, id);
    return ai ? ai->name : "?";
}

void tui_log(tui_app *a, int role, const char *fmt, ...) {
    int n = (int)(sizeof a->log / sizeof a->log[0]);
    if (a->n_log == n) {
        memmove(a->log[0], a->log[1], sizeof a->log[0] * (size_t)(n - 1));
        memmove(a->log_role, a->log_role + 1, sizeof a->log_role[0] * (size_t)(n - 1));
        a->n_log--;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->log[a->n_log], sizeof a->log[0], fmt, ap);
    va_end(ap);
    a->log_role[a->n_log] = role;
    a->n_log++;
    a->dirty = 1;
}

static char *append(char *s, size_t *len, size_t *cap, const char *add) {
    size_t n = strlen(add);
    if (*len + n + 1 > *cap) {
        size_t nc = (*cap ? *cap * 2 : 256);
        while (nc < *len + n + 1) nc *= 2;
        char *ns = realloc(s, nc);
        if (!ns) return s;
        s = ns;
        *cap = nc;
    }
    memcpy(s + *len, add, n + 1);
    *len += n;
    return s;
}

// ---- chat transcript ---------------------------------------------------------------

tui_msg *tui_msg_add(tui_app *a, char role, const char *text) {
    if (a->n_msgs == a->cap_msgs) {
        int nc = a->cap_msgs ? a->cap_msgs * 2 : 16;
        tui_msg *nm = realloc(a->msgs, (size_t)nc * sizeof *nm);
        if (!nm) return NULL;
        a->msgs = nm;
        a->cap_msgs = nc;
    }
    tui_msg *m = &a->msgs[a->n_msgs++];
    m->role = role;
    m->len = strlen(text);
    m->cap = m->len + 1;
    m->text = strdup(text);
    if (!m->text) m->len = m->cap = 0;
    a->dirty = 1;
    return m;
}

static void msg_append(tui_msg *m, const char *text) {
    m->text = append(m->text, &m->len, &m->cap, text);
}

void tui_msgs_clear(tui_app *a) {
    for (int i = 0; i < a->n_msgs; i++) free(a->msgs[i].text);
    a->n_msgs = 0;
    a->chat_scroll = 0;
}

// ---- compare columns ---------------------------------------------------------------

void tui_columns_clear(tui_app *a) {
    for (int i = 0; i < a->n_cols; i++) {
        free(a->cols[i].text);
        free(a->cols[i].tok_end);
        free(a->cols[i].tokens);
    }
    memset(a->cols, 0, sizeof a->cols);
    a->n_cols = 0;
}

static void column_token(tui_column *c, const pt_event *e) {
    c->text = append(c->text, &c->len, &c->cap, e->text);
    if (e->token < 0) {   // text held back until the end: it belongs to the last token
        if (c->n > 0) c->tok_end[c->n - 1] = c->len;
        return;
    }
    if (c->n == c->cap_tok) {
        int nc = c->cap_tok ? c->cap_tok * 2 : 64;
        int32_t *nt = realloc(c->tokens, (size_t)nc * sizeof *nt);
        if (nt) c->tokens = nt;
        size_t *ne = realloc(c->tok_end, (size_t)nc * sizeof *ne);
        if (ne) c->tok_end = ne;
        if (!nt || !ne) return;
        c->cap_tok = nc;
    }
    c->tokens[c->n] = e->token;
    c->tok_end[c->n] = c->len;
    c->n++;
}

// ---- the probe: the adapter in training answers the user's question -----------------

// Step 0 asks the base (a fresh adapter answers as the base does, and it is
// still being set up); later steps the adapter, from its newest snapshot.
static void probe_ask(tui_app *a, int step) {
    if (!a->probe[0] || !a->job_adapter || a->probe_busy) return;
    pt_err err = {0};
    int want = step == 0 ? PT_BASE : a->job_adapter;
    if (!a->probe_chat) {
        pt_chat_opts o;
        pt_chat_opts_default(&o);
        o.adapter = want;
        o.sampling.temp = 0;   // greedy: a change in the answer is the adapter's, not the dice's
        o.max_tokens = 48;
        if (a->template_name[0]) o.template_name = a->template_name;
        if (pt_chat_open(a->ws, &o, &a->probe_chat, NULL, 0, &err)) {
            a->probe_chat = 0;
            tui_log(a, TUI_WARN, "probe: %s", err.msg);
            return;
        }
        a->probe_adapter = want;
    } else {
        pt_chat_reset(a->ws, a->probe_chat, &err);
        if (a->probe_adapter != want) {
            if (pt_chat_set_adapter(a->ws, a->probe_chat, want, NAN, NULL, 0, &err)) return;   // not ready yet: next time
            a->probe_adapter = want;
        }
    }
    if (pt_chat_send(a->ws, a->probe_chat, a->probe, &err)) {
        tui_log(a, TUI_WARN, "probe: %s", err.msg);
        return;
    }
    a->probe_busy = 1;
    a->probe_asked_step = step;
    a->probe_live_len = 0;
    if (a->probe_live) a->probe_live[0] = 0;
}

static void probe_done(tui_app *a) {
    a->probe_busy = 0;
    const char *ans = a->probe_live ? a->probe_live : "";
    int n = a->n_probe < TUI_MAX_PROBES ? a->n_probe : TUI_MAX_PROBES - 1;
    if (a->n_probe >= TUI_MAX_PROBES) {   // keep the first; drop the second oldest
        free(a->probes[1].text);
        memmove(&a->probes[1], &a->probes[2], sizeof a->probes[0] * (TUI_MAX_PROBES - 2));
    } else {
        a->n_probe++;
    }
    a->probes[n].step = a->probe_asked_step;
    a->probes[n].text = strdup(ans);
    a->dirty = 1;
    if (a->probe_again >= 0) {   // a step boundary passed while it answered
        int s = a->probe_again;
        a->probe_again = -1;
        probe_ask(a, s);
    }
}

void tui_probes_clear(tui_app *a) {
    for (int i = 0; i < a->n_probe; i++) free(a->probes[i].text);
    a->n_probe = 0;
}

// ---- actions -------------------------------------------------------------------------

static void close_previews(tui_app *a) {
    if (a->chat) {
        pt_chat_close(a->ws, a->chat);
        a->chat = 0;
    }
    if (a->probe_chat) {
        pt_chat_close(a->ws, a->probe_chat);
        a->probe_chat = 0;
        a->probe_busy = 0;
    }
    if (a->cmp) {
        pt_compare_close(a->ws, a->cmp);
        a->cmp = 0;
        a->cmp_running = 0;
        a->have_cres = 0;
    }
    if (a->ds) {
        pt_ws_dataset_close(a->ws, a->ds);
        a->ds = 0;
        a->ds_task = 0;
    }
    if (a->job && !tui_job_running(a)) {
        pt_err err = {0};
        pt_train_close(a->ws, a->job, &err);
        a->job = 0;
    }
}

void tui_load_model(tui_app *a, const char *path) {
    if (tui_job_running(a)) {
        tui_say(a, TUI_ERROR, "a job is training on this model: stop it (Train screen) before loading another");
        return;
    }
    if (a->model_task) {
        tui_say(a, TUI_WARN, "a model is loading already");
        return;
    }
    close_previews(a);
    pt_err err = {0};
    int task;
    if (pt_ws_load_model(a->ws, path, &task, &err)) {
        tui_say(a, TUI_ERROR, "%s", err.msg);
        return;
    }
    a->model_task = task;
    a->load_started = a->now;
    a->have_model = 0;
    a->n_ads = 0;
    a->active = PT_BASE;
    if (path != a->model_path) snprintf(a->model_path, sizeof a->model_path, "%s", path);
    tui_say(a, TUI_BUSY, "loading %s", a->model_path);
}

void tui_open_dataset(tui_app *a) {
    if (!a->have_model || !a->data_path[0]) return;
    if (a->ds) pt_ws_dataset_close(a->ws, a->ds);
    a->ds = a->ds_task = 0;
    memset(&a->dsi, 0, sizeof a->dsi);
    pt_dataset_opts_ws o = {0};
    o.path = a->data_path;
    o.dataset_name = a->dataset_name[0] ? a->dataset_name : NULL;
    o.columns = a->columns;
    o.template_name = a->template_name[0] ? a->template_name : NULL;
    o.max_seq_len = a->tp.max_seq_len;
    o.train_on_prompt = a->train_on_prompt;
    pt_err err = {0};
    if (pt_ws_dataset_open(a->ws, &o, &a->ds, &a->ds_task, &err)) {
        a->ds = 0;
        snprintf(a->ds_error, sizeof a->ds_error, "%s", err.msg);
        tui_say(a, TUI_ERROR, "%s", err.msg);
        return;
    }
    a->ds_error[0] = 0;
    a->ds_row = 0;
    a->row_of = -1;
    a->n_fail = 0;
}

// Everything a problem-free form needs; 0 when training can start.
int tui_train_blocked(tui_app *a, char *why, size_t cap) {
    if (!a->have_model) return snprintf(why, cap, "no model loaded: pick one on the Model screen (1)"), 1;
    for (int f = 0; f < FORM_COUNT; f++)
        for (int i = 0; i < tui_form_count(f); i++)
            if (a->bad[f][i][0] && f != FORM_SAMPLING)
                return snprintf(why, cap, "%s: %s", tui_form_field(f, i)->name, a->bad_why[f][i]), 1;
    for (int i = 0; i < a->n_problems && i < 32; i++)
        if (!a->problems[i].warning) return snprintf(why, cap, "%s: %s", a->problems[i].field, a->problems[i].msg), 1;
    if (!a->data_path[0]) return snprintf(why, cap, "no dataset: pick one on the Data screen (3)"), 1;
    return 0;
}

void tui_train_start(tui_app *a, const char *resume) {
    char why[512];
    if (tui_job_running(a)) {
        tui_say(a, TUI_WARN, "a job is training already: pause (p), stop (S) or cancel (C) it first");
        return;
    }
    if (!resume && tui_train_blocked(a, why, sizeof why)) {
        tui_say(a, TUI_ERROR, "cannot start: %s", why);
        return;
    }
    pt_err err = {0};
    if (a->job) {
        pt_train_close(a->ws, a->job, &err);
        a->job = 0;
    }
    if (a->probe_chat) {   // it reads the old job's adapter
        pt_chat_close(a->ws, a->probe_chat);
        a->probe_chat = 0;
        a->probe_busy = 0;
    }
    pt_train_request r;
    pt_train_request_default(&r);
    r.data = a->data_path;
    r.dataset_name = a->dataset_name[0] ? a->dataset_name : NULL;
    r.columns = a->columns;
    r.template_name = a->template_name[0] ? a->template_name : NULL;
    r.train_on_prompt = a->train_on_prompt;
    r.lora = resume ? NULL : &a->cfg;
    r.resume = resume;
    r.params = a->tp;
    if (pt_train_start(a->ws, &r, &a->job, &a->job_adapter, &err)) {
        a->job = 0;
        tui_say(a, TUI_ERROR, "cannot start: %s", err.msg);
        return;
    }
    a->n_pts = a->n_eval = a->n_log = 0;
    tui_probes_clear(a);
    a->probe_again = -1;
    memset(&a->js, 0, sizeof a->js);
    a->js.state = PT_TRAIN_STARTING;
    a->train_started = a->now;
    tui_say(a, TUI_BUSY, resume ? "resuming from %s" : "training on %s", resume ? resume : a->data_path);
    tui_refresh_adapters(a);
    probe_ask(a, 0);   // the answer before any step: the base's
}

int tui_cancel_generation(tui_app *a) {
    int did = 0;
    if (a->chat && a->chat_busy) {
        pt_chat_cancel(a->ws, a->chat);
        did = 1;
    }
    if (a->cmp && a->cmp_running) {
        pt_compare_cancel(a->ws, a->cmp);
        did = 1;
    }
    if (did) tui_say(a, TUI_WARN, "cancelled");
    return did;
}

// ---- events --------------------------------------------------------------------------

static void on_model_loaded(tui_app *a, const pt_event *e) {
    a->model_task = 0;
    if (e->status) {
        tui_say(a, TUI_ERROR, "%s", e->text);
        snprintf(a->model_error, sizeof a->model_error, "%s", e->text);
        return;
    }
    a->model_error[0] = 0;
    pt_err err = {0};
    a->have_model = pt_ws_model_info(a->ws, &a->mi, &err) == PT_OK;
    free(a->mods);
    a->mods = NULL;
    a->n_mods = pt_ws_modules(a->ws, NULL, 0);
    if (a->n_mods > 0) {
        a->mods = calloc((size_t)a->n_mods, sizeof *a->mods);
        a->n_mods = a->mods ? pt_ws_modules(a->ws, a->mods, a->n_mods) : 0;
    }
    free(a->matched);
    a->matched = a->n_mods ? calloc((size_t)a->n_mods, 1) : NULL;
    tui_say(a, TUI_OK, "%s (%.1fs)", e->text, a->now - a->load_started);
    tui_refresh_lora(a);
    tui_open_dataset(a);
    tui_refresh_adapters(a);
    if (a->start_on_train) {   // the first start: the demo is one key away
        a->start_on_train = 0;
        tui_switch(a, SCR_TRAIN);
        tui_say(a, TUI_OK, "%s loaded. Press s to fine-tune it on %s, and watch its answer to \"%s\" change",
                a->mi.name[0] ? a->mi.name : "the model", a->data_path, a->probe);
    }
}

static void on_task(tui_app *a, const pt_event *e) {
    if (e->src == a->model_task) {
        on_model_loaded(a, e);
        return;
    }
    if (e->src == a->ds_task) {
        a->ds_task = 0;
        pt_ws_dataset_info(a->ws, a->ds, &a->dsi);
        if (e->status) snprintf(a->ds_error, sizeof a->ds_error, "%s", e->text);
        else a->ds_error[0] = 0;
        tui_data_loaded(a);
        tui_refresh_lora(a);   // the plan uses the longest row
        a->dirty = 1;
        return;
    }
    tui_say(a, e->status ? TUI_ERROR : TUI_OK, "%s", e->text);
    tui_refresh_adapters(a);
    tui_scan_adapters(a);
}

static void on_step(tui_app *a, const pt_event *e) {
    if (a->n_pts == a->cap_pts) {
        int nc = a->cap_pts ? a->cap_pts * 2 : 256;
        float **arrs[] = {&a->h_step, &a->h_loss, &a->h_smooth, &a->h_lr, &a->h_gn};
        for (int k = 0; k < 5; k++) {
            float *np = realloc(*arrs[k], (size_t)nc * sizeof *np);
            if (!np) return;
            *arrs[k] = np;
        }
        a->cap_pts = nc;
    }
    int i = a->n_pts++;
    a->h_step[i] = (float)e->rec.step;
    a->h_loss[i] = e->rec.loss;
    a->h_lr[i] = e->rec.lr;
    a->h_gn[i] = e->rec.grad_norm;
    a->js.last = e->rec;
    a->js.step = e->rec.step;
    int every = a->tp.eval_every > 0 ? a->tp.eval_every : 10;
    if (e->rec.step % every == 0) {
        if (a->probe_busy) a->probe_again = e->rec.step;
        else probe_ask(a, e->rec.step);
    }
}

static void on_eval(tui_app *a, const pt_event *e) {
    if (a->n_eval == a->cap_eval) {
        int nc = a->cap_eval ? a->cap_eval * 2 : 64;
        float *s = realloc(a->eval_step, (size_t)nc * sizeof *s);
        if (s) a->eval_step = s;
        float *l = realloc(a->eval_loss, (size_t)nc * sizeof *l);
        if (l) a->eval_loss = l;
        if (!s || !l) return;
        a->cap_eval = nc;
    }
    a->eval_step[a->n_eval] = (float)e->rec.step;
    a->eval_loss[a->n_eval] = e->rec.eval_loss;
    a->n_eval++;
}

static void on_train_done(tui_app *a, const pt_event *e) {
    a->js.state = e->state;
    int ok = e->state == PT_TRAIN_DONE;
    const char *name = pt_train_state_name(e->state);
    char text[1100];
    if (!strncmp(e->text, name, strlen(name))) snprintf(text, sizeof text, "%s", e->text);   // it says it already
    else snprintf(text, sizeof text, "%s%s%s", name, e->text[0] ? ": " : "", e->text);
    int role = ok ? TUI_OK : e->state == PT_TRAIN_FAILED ? TUI_ERROR : TUI_WARN;
    tui_log(a, role, "%s", text);
    tui_say(a, role, "training %s", text);
    if (a->quit_after_job) {
        a->quit_now = 1;
        return;
    }
    tui_refresh_adapters(a);
    if (ok || e->state == PT_TRAIN_STOPPING || e->status == 0) {
        // chat and compare talk to the fresh adapter from now on
        if (tui_adapter(a, a->job_adapter)) a->active = a->job_adapter;
        if (a->probe_busy) a->probe_again = a->js.step;
        else probe_ask(a, a->js.step);
    }
    pt_train_info_get(a->ws, a->job, &a->jinfo);
    a->n_ckpts = pt_checkpoints_list(a->jinfo.out_dir, a->ckpts, (int)(sizeof a->ckpts / sizeof a->ckpts[0]));
    tui_scan_adapters(a);
}

void tui_on_event(tui_app *a, const pt_event *e) {
    a->dirty = 1;
    switch (e->kind) {
    case PT_EV_TASK: on_task(a, e); break;
    case PT_EV_TOKEN:
        if (e->src == a->chat && a->n_msgs && a->msgs[a->n_msgs - 1].role == 'a') {
            msg_append(&a->msgs[a->n_msgs - 1], e->text);
        } else if (e->src == a->probe_chat) {
            a->probe_live = append(a->probe_live, &a->probe_live_len, &a->probe_live_cap, e->text);
        } else if (e->src == a->cmp && e->column >= 0 && e->column < a->n_cols) {
            column_token(&a->cols[e->column], e);
        }
        break;
    case PT_EV_REPLY:
        if (e->src == a->chat) {
            a->chat_busy = 0;
            if (e->status) tui_msg_add(a, 'n', e->text);
            else if (e->text[0]) tui_msg_add(a, 'n', e->text);
            else if (e->stop == PT_STOP_CANCEL) tui_msg_add(a, 'n', "(cancelled)");
            else if (e->stop == PT_STOP_LIMIT) tui_msg_add(a, 'n', "(cut at max_tokens)");
            pt_chat_info ci;
            if (!pt_chat_info_get(a->ws, a->chat, &ci) && ci.decode_s > 0)
                tui_say(a, TUI_DIM, "%d tokens, %.1f tokens/s (prompt %d tokens in %.2fs)", ci.n_gen,
                        ci.n_gen / ci.decode_s, ci.n_prompt, ci.prefill_s);
        } else if (e->src == a->probe_chat) {
            probe_done(a);
        }
        break;
    case PT_EV_COMPARE:
        if (e->src == a->cmp) {
            a->cmp_running = 0;
            a->have_cres = pt_compare_get(a->ws, a->cmp, &a->cres) == PT_OK;
            if (e->status) tui_say(a, TUI_ERROR, "%s", e->text);
            else if (a->have_cres)
                tui_say(a, TUI_OK, "compared in %.1fs; %s", a->cres.prefill_s + a->cres.decode_s + a->cres.score_s,
                        a->cres.first_diff < 0 ? "the answers are the same" : "the answers differ from the marked token on");
        }
        break;
    case PT_EV_TRAIN_STEP:
        if (e->src == a->job) on_step(a, e);
        break;
    case PT_EV_TRAIN_EVAL:
        if (e->src == a->job) on_eval(a, e);
        break;
    case PT_EV_TRAIN_CHECKPOINT:
        if (e->src == a->job) {
            tui_log(a, TUI_OK, "checkpoint %s", e->text);
            a->n_ckpts = pt_checkpoints_list(a->jinfo.out_dir, a->ckpts, (int)(sizeof a->ckpts / sizeof a->ckpts[0]));
        }
        break;
    case PT_EV_TRAIN_STATE:
        if (e->src == a->job) a->js.state = e->state;
        break;
    case PT_EV_TRAIN_DONE:
        if (e->src == a->job) on_train_done(a, e);
        break;
    case PT_EV_WARNING:
        tui_log(a, TUI_WARN, "%s", e->text);
        tui_say(a, TUI_WARN, "%s", e->text);
        break;
    case PT_EV_DROPPED:
        tui_say(a, TUI_WARN, "%ld events were lost (the queue was full); the plot may have gaps", e->n);
        break;
    }
}

// ---- snapshots -------------------------------------------------------------------------

static size_t rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (!f) return 0;
    if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0;
    fclose(f);
    return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

void tui_refresh_adapters(tui_app *a) {
    a->n_ads = pt_ws_adapters(a->ws, a->ads, TUI_MAX_ADAPTERS);
    if (a->n_ads > TUI_MAX_ADAPTERS) a->n_ads = TUI_MAX_ADAPTERS;
    for (int i = 0; i < a->n_ads; i++) pt_ws_adapter_info(a->ws, a->ads[i], &a->adi[i]);
    if (a->active != PT_BASE && !tui_adapter(a, a->active)) a->active = PT_BASE;
    if (a->ad_sel >= a->n_ads + a->n_disk) a->ad_sel = 0;
}

void tui_refresh_lora(tui_app *a) {
    a->n_problems = 0;
    a->plan_ok = 0;
    if (!a->have_model) return;
    pt_err err = {0};
    size_t n_params = 0;
    int n_matched = 0;
    if (pt_ws_lora_match(a->ws, &a->cfg, a->matched, a->n_mods, &n_matched, &n_params, &err) == PT_OK) {
        a->n_matched = n_matched;
        a->n_trainable = n_params;
    } else {
        a->n_matched = 0;
        a->n_trainable = 0;
    }
    a->n_problems = pt_ws_check(a->ws, &a->cfg, &a->tp, a->problems, 32);
    int seq = a->dsi.ready && !a->dsi.status && a->dsi.longest > 0 ? a->dsi.longest : 0;
    a->plan_ok = pt_ws_plan_train(a->ws, &a->cfg, &a->tp, seq, &a->plan, &err) == PT_OK;
    a->dirty = 1;
}

void tui_refresh(tui_app *a) {
    pt_ws_memory_get(a->ws, &a->mem);
    a->rss = rss_bytes();
    if (a->model_task) {
        a->load_phase = pt_ws_load_progress(a->ws, a->load_what, sizeof a->load_what);
        a->dirty = 1;
    }
    if (a->job) {
        pt_train_status st;
        if (pt_train_get_status(a->ws, a->job, &st) == PT_OK) {
            a->js = st;
            if (!a->jinfo.prepared) pt_train_info_get(a->ws, a->job, &a->jinfo);
        }
        a->dirty = 1;
    }
    if (a->have_model) {
        int before = a->n_ads;
        tui_refresh_adapters(a);
        if (before != a->n_ads) a->dirty = 1;
    }
    if (a->ds && a->ds_task == 0 && !a->dsi.ready) pt_ws_dataset_info(a->ws, a->ds, &a->dsi);
    if (a->status[0] && a->status_role != TUI_ERROR && a->now - a->status_at > 15) {
        a->status[0] = 0;   // old news; errors stay until the next message
        a->dirty = 1;
    }
}

// ---- files -------------------------------------------------------------------------------

void tui_scan_models(tui_app *a) {
    int n = 0;
    char (*found)[1024] = a->found;
    if (a->model_path[0] && access(a->model_path, F_OK) == 0) {
        char *rp = realpath(a->model_path, NULL);
        snprintf(found[n++], 1024, "%s", a->model_path);
        free(rp);
    }
    n = pt_models_scan("models", found, n, TUI_MAX_FOUND);
    const char *hf = getenv("HF_HUB_CACHE");
    char hub[1024];
    if (hf && *hf) snprintf(hub, sizeof hub, "%s", hf);
    else if (getenv("HF_HOME")) snprintf(hub, sizeof hub, "%s/hub", getenv("HF_HOME"));
    else snprintf(hub, sizeof hub, "%s/.cache/huggingface/hub", getenv("HOME") ? getenv("HOME") : ".");
    n = pt_models_scan(hub, found, n, TUI_MAX_FOUND);
    for (int i = 0; i < a->n_extra && n < TUI_MAX_FOUND; i++) {
        int dup = 0;
        for (int j = 0; j < n; j++) dup |= !strcmp(found[j], a->extra[i]);
        if (!dup) snprintf(found[n++], 1024, "%s", a->extra[i]);
    }
    a->n_found = n;
    for (int i = 0; i < n; i++) {
        pt_err err = {0};
        a->peek_ok[i] = pt_model_peek_path(found[i], &a->peek[i], &err) == PT_OK;
        if (!a->peek_ok[i]) snprintf(a->peek[i].name, sizeof a->peek[i].name, "%.120s", err.msg);
    }
    if (a->model_sel >= n) a->model_sel = n ? n - 1 : 0;
}

void tui_add_model_path(tui_app *a, const char *path) {
    if (a->n_extra < (int)(sizeof a->extra / sizeof a->extra[0]))
        snprintf(a->extra[a->n_extra++], sizeof a->extra[0], "%s", path);
    tui_scan_models(a);
}

void tui_scan_adapters(tui_app *a) {
    a->n_disk = pt_adapters_scan("adapters", a->disk, 0, TUI_MAX_FOUND);
    for (int i = 0; i < a->n_disk; i++) {
        pt_err err = {0};
        if (pt_adapter_peek_path(a->disk[i], &a->disk_peek[i], &err)) {
            memset(&a->disk_peek[i], 0, sizeof a->disk_peek[i]);
            snprintf(a->disk_peek[i].name, sizeof a->disk_peek[i].name, "%.120s", err.msg);
            a->disk_peek[i].step = -1;
            a->disk_peek[i].loss = NAN;
        }
    }
}

// Called once the loop can draw: finds models and adapters and loads the
// model to use (the one asked for, the last one, or the default).
void tui_start(tui_app *a, int explicit_model) {
    char want[sizeof a->model_path];   // a copy: a->model_path is rewritten below (snprintf into itself is undefined)
    snprintf(want, sizeof want, "%s", a->model_path);
    const char *path = want[0] ? want : NULL;
    if (!path && access(DEFAULT_MODEL, F_OK) == 0) path = DEFAULT_MODEL;
    if (path && !explicit_model && access(path, F_OK) != 0) path = access(DEFAULT_MODEL, F_OK) == 0 ? DEFAULT_MODEL : NULL;
    if (path) snprintf(a->model_path, sizeof a->model_path, "%s", path);
    tui_scan_models(a);
    tui_scan_adapters(a);
    tui_edit_load_history(a);
    if (path) {
        a->start_on_train = !a->settings_loaded || !a->job_seen;
        tui_load_model(a, path);
    } else {
        tui_say(a, TUI_WARN, "no model found: run scripts/setup.sh to fetch %s, or press o to open a path", DEFAULT_MODEL);
    }
}

void tui_state_free(tui_app *a) {
    tui_msgs_clear(a);
    free(a->msgs);
    tui_columns_clear(a);
    tui_probes_clear(a);
    free(a->probe_live);
    free(a->h_step);
    free(a->h_loss);
    free(a->h_smooth);
    free(a->h_lr);
    free(a->h_gn);
    free(a->eval_step);
    free(a->eval_loss);
    free(a->mods);
    free(a->matched);
    free(a->norms);
    lora_config_free(&a->cfg);
}

void tui_load_norms(tui_app *a, int id) {
    const pt_adapter_info *ai = tui_adapter(a, id);
    a->norms_of = id;
    a->norms_step = ai ? ai->step : 0;
    a->norms_scale = ai ? ai->scale : 1;
    a->norms_err[0] = 0;
    int cap = a->have_model ? a->mi.n_layer * 7 : 0;
    free(a->norms);
    a->norms = cap ? calloc((size_t)cap, sizeof *a->norms) : NULL;
    pt_err err = {0};
    a->n_norms = a->norms ? pt_ws_adapter_norms(a->ws, id, a->norms, cap, &err) : 0;
    if (a->n_norms < 0 || err.msg[0]) {
        snprintf(a->norms_err, sizeof a->norms_err, "%s", err.msg[0] ? err.msg : "no norms");
        a->n_norms = 0;
    }
}
