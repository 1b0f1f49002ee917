// tui.h - the workbench's insides, shared by its files (src/tui/*.c).
//
// One thread, one loop (tui_main.c): it waits in poll() on the terminal and
// the workspace's event descriptor, hands keys to the current screen and
// events to the state (tui_state.c), and redraws at most ~30 times a second.
// Every engine call it makes returns at once; the work runs in the
// workspace's threads.
//
// Drawing reads only what is in tui_app (snapshots the loop refreshes from
// the engine between frames) and writes into the canvas; tui_term.c copies
// the canvas to the terminal. No screen names a colour: it names a role.
//
// Each screen is a tui_screen: draw, a table of key bindings (the same table
// makes the help and the bottom bar), and optional hooks. A binding's
// handler returns a reaction for the loop.
#ifndef PT_TUI_H
#define PT_TUI_H

#include <stddef.h>
#include <stdint.h>

#include "tui/canvas.h"
#include "workspace/peftui.h"

// ---- keys ------------------------------------------------------------------------
// Characters are their code points; the rest are above Unicode.
enum {
    TK_BASE = 0x110000,
    TK_UP, TK_DOWN, TK_LEFT, TK_RIGHT, TK_PGUP, TK_PGDN, TK_HOME, TK_END,
    TK_ENTER, TK_BACKSPACE, TK_DEL, TK_INS, TK_TAB, TK_BTAB, TK_ESC, TK_RESIZE,
    TK_F0 = 0x110100,   // TK_F(1) .. TK_F(12)
    TK_ALT0 = 0x120000, // TK_ALT(c): Alt (or Esc then) c
};
#define TK_F(n) (TK_F0 + (n))
#define TK_ALT(c) (TK_ALT0 + (c))
#define TK_CTRL(c) ((c) & 0x1f)

// "F1", "Alt-1", "Enter", "^C", "x"
void tui_key_name(int key, char *buf, size_t cap);

// ---- screens ---------------------------------------------------------------------

typedef struct tui_app tui_app;

typedef enum {
    TUI_UNHANDLED,   // not this handler's key: try the next
    TUI_HANDLED,     // done; the frame is redrawn
    TUI_QUIT,        // leave the loop
} tui_reaction;

typedef struct {
    int key, key2;          // the key and an alternative (0: none)
    const char *label;      // how the bottom bar and help name it ("Enter", "s")
    const char *help;       // what it does, one line
    tui_reaction (*fn)(tui_app *a);   // NULL: documented only (the screen's key handler takes it)
    int bar;                // 1: shown in the bottom bar
    const char *bar_text;   // how the bottom bar says it (NULL: help)
} tui_binding;

typedef struct {
    const char *name;                  // "Model"
    const char *about;                 // one line for the help screen
    void (*draw)(tui_app *a, int y, int x, int h, int w);
    const tui_binding *keys;           // ends with a {0} entry
    // keys no binding took (lists, typing); may be NULL
    tui_reaction (*key)(tui_app *a, int key);
    // a question the screen asks ("drop it? y/n") takes the next key before the table; may be NULL
    tui_reaction (*key_first)(tui_app *a, int key);
    const tui_binding *key_help;       // more keys for the help (fn NULL); may be NULL
    void (*enter)(tui_app *a);         // the screen comes into view; may be NULL
} tui_screen;

enum { SCR_MODEL, SCR_LORA, SCR_DATA, SCR_TRAIN, SCR_CHAT, SCR_COMPARE, SCR_ADAPTERS, SCR_COUNT };
extern const tui_screen *const tui_screens[SCR_COUNT];
extern const tui_screen tui_scr_model, tui_scr_lora, tui_scr_data, tui_scr_train, tui_scr_chat, tui_scr_compare,
    tui_scr_adapters;

// ---- text entry (tui_edit.c: GNU readline's callback interface) -----------------

typedef void (*tui_edit_done)(tui_app *a, const char *text);   // text NULL: cancelled (Esc)
typedef struct {
    int active;
    char prompt[64];
    tui_edit_done done;
    int history;             // 1: lines go to readline's history (chat, compare prompts)
    int target;              // what the caller edits (a field index); the caller's to read in done
    void (*changed)(tui_app *a, const char *text);   // after every key (validation as typed); may be NULL
    int on_status;           // drawn on the status line (else the screen draws it)
} tui_edit;

// Starts editing text (NULL: empty) on the status line or where the screen draws it.
void tui_edit_begin(tui_app *a, const char *prompt, const char *text, int history, int target, tui_edit_done done);
// A key for the line being edited: TUI_HANDLED, or TUI_UNHANDLED for keys the loop keeps (F-keys, Alt-digits).
tui_reaction tui_edit_key(tui_app *a, int key);
void tui_edit_cancel(tui_app *a);
// The line as typed so far and the cursor's byte offset.
const char *tui_edit_line(int *point);
// Draws prompt + line in (y, x, w), scrolled so the cursor shows; returns the cursor's column.
int tui_edit_draw(tui_app *a, int y, int x, int w, int role);
int tui_edit_init(tui_app *a);   // once, before the loop
void tui_edit_free(tui_app *a);
// readline's history from or to a file (the chat and compare prompts).
void tui_edit_history(const char *path, int save);

// ---- forms (tui_form.c): the fields the LoRA, Train and Chat screens edit --------

enum { FORM_LORA, FORM_TRAIN, FORM_SAMPLING, FORM_COUNT };
#define TUI_FORM_MAX 24

typedef struct {
    const char *name;        // as PEFT / transformers / llama.cpp spell it (shown)
    const char *tag;         // as the engine's problems name it ("lr", "batch")
    const char *help;        // one line
    int kind;
    int form;
    size_t off;              // in pt_lora_config, pt_train_params or pt_sampling
    const char *choices;     // enumerations: "none|all|lora_only"
} tui_field;

int tui_form_count(int form);
const tui_field *tui_form_field(int form, int i);
void tui_field_get(tui_app *a, const tui_field *f, char *buf, size_t cap);
// Parses text into the field; -1 with why when it cannot be used (the value is kept).
int tui_field_set(tui_app *a, const tui_field *f, const char *text, char *why, size_t cap);
int tui_field_cycles(const tui_field *f);      // booleans and enumerations: Enter or Space steps them
int tui_field_is_targets(const tui_field *f);
void tui_field_cycle(tui_app *a, const tui_field *f, int dir);
const pt_problem *tui_field_problem(const tui_app *a, const tui_field *f);

// ---- state: snapshots of the engine, updated between frames ---------------------

#define TUI_MAX_ADAPTERS 32
#define TUI_MAX_MODULES 4096
#define TUI_MAX_FOUND 64

typedef struct {
    char role;               // 'u' user, 'a' assistant, 'n' a notice
    char *text;              // malloc'd
    size_t len, cap;
} tui_msg;

#define TUI_MAX_PROBES 8
typedef struct {
    int step;                // the step the adapter had when asked
    char *text;              // its answer (malloc'd)
} tui_probe;

typedef struct {
    int adapter;             // PT_BASE or a registry id
    float scale;
    char label[160];
    char *text;              // streamed so far (malloc'd, grows)
    size_t len, cap;
    int32_t *tokens;         // (n) as streamed, with each token's text span
    size_t *tok_end;         // (n) the text's length after token i
    int n, cap_tok;
} tui_column;

struct tui_app {
    pt_ws *ws;
    tui_canvas cv;
    int utf8, color;
    int scr;                             // the screen in view
    int help, help_scroll;               // the help overlay is up
    int quit_confirm;                    // asking whether to quit while a job runs
    int quit_after_job;                  // quitting: waiting for the stopped job to save
    int quit_now;
    int too_small;
    int dirty;                           // something changed: draw a frame
    int cursor_y, cursor_x;              // where the terminal cursor goes (-1: hidden)
    double now;
    tui_edit ed;
    void *ed_io;                         // tui_edit.c's pipe into readline
    char ed_orig[1024], ed_orig_bad[256], ed_orig_why[160];   // a form field before editing (Esc restores)

    // the status line: the last thing said
    char status[1100];
    int status_role;
    double status_at;

    // settings (saved in the config folder)
    int settings_loaded, job_seen;
    char model_path[1024];
    char data_path[1024];
    pt_columns columns;          // the Data screen's column map (empty: each row's keys)
    char dataset_name[64];       // data_path is a dataset_info.json: its entry
    char template_name[64];
    char probe[512];
    char lora_json[1024];                // where the LoRA form was last saved ("" none)
    int train_on_prompt;

    // snapshots
    pt_ws_memory mem;
    size_t rss;                          // the process's resident memory

    // model
    int model_task;                      // loading (0: not)
    double load_started;
    int load_phase;
    char load_what[64];
    char model_error[1024];
    int have_model, start_on_train;
    pt_model_info mi;
    pt_module_info *mods;                // (n_mods)
    int n_mods;
    char found[TUI_MAX_FOUND][1024];     // models listed on the Model screen
    pt_model_peek peek[TUI_MAX_FOUND];
    int peek_ok[TUI_MAX_FOUND];
    int n_found, model_sel;
    char extra[8][1024];                 // paths typed or given
    int n_extra;

    // forms: text that did not parse, and why, per field
    char bad[FORM_COUNT][TUI_FORM_MAX][256];
    char bad_why[FORM_COUNT][TUI_FORM_MAX][160];
    int sampling_changed;

    // LoRA form: the config and training parameters being edited
    pt_lora_config cfg;
    pt_train_params tp;
    int lora_sel, module_view, mod_sel;
    uint8_t *matched;                    // (n_mods) what cfg matches
    int n_matched;
    size_t n_trainable;
    pt_ws_plan plan;
    int plan_ok;
    pt_problem problems[32];
    int n_problems;

    // data preview
    int ds, ds_task;                     // the dataset open for preview (0 none), its load
    char ds_error[1024];
    pt_dataset_info dsi;
    int ds_row;                          // the row shown
    char row_text[8192];                 // its bytes, and each byte's role (cached)
    uint8_t row_roles[8192];
    size_t row_len;
    int row_loaded, row_of, row_kept, row_full, row_line, row_no_target;
    int fail_line[16];
    char fail_why[16][256];
    int n_fail;

    // the training job
    int job, job_adapter;
    double train_started;
    pt_train_status js;
    pt_train_info jinfo;
    float *h_step, *h_loss, *h_smooth, *h_lr, *h_gn;   // (n_pts) every step
    int n_pts, cap_pts;
    float *eval_step, *eval_loss;        // (n_eval)
    int n_eval, cap_eval;
    char log[16][256];                   // checkpoints and warnings, newest last
    int log_role[16];
    int n_log;
    int train_sel, train_view;
    int probe_chat, probe_busy, probe_adapter;         // the chat that answers the probe with the adapter in training
    int probe_asked_step, probe_again;   // probe_again >= 0: ask again when this answer ends
    char *probe_live;                    // the answer streaming now
    size_t probe_live_len, probe_live_cap;
    tui_probe probes[TUI_MAX_PROBES];    // the first answer and the newest ones
    int n_probe;
    char ckpt_dir[1024];
    pt_checkpoint_info ckpts[32];
    int n_ckpts, ckpt_sel;

    // adapters
    int ads[TUI_MAX_ADAPTERS];
    pt_adapter_info adi[TUI_MAX_ADAPTERS];
    int n_ads, ad_sel;
    int active, last_adapter;            // what chat and compare use (PT_BASE: none)
    float *norms;                        // (n_norms) of adapter norms_of
    int n_norms, norms_of, norms_step;
    float norms_scale;
    char norms_err[512];
    char disk[TUI_MAX_FOUND][1024];      // adapters found on disk
    pt_adapter_peek disk_peek[TUI_MAX_FOUND];
    int n_disk;
    int confirm_delete;                  // the adapter asked about (0: none)
    int export_id;
    char export_fmt[16];

    // chat
    int chat;                            // the session (0: none yet)
    int chat_adapter;                    // what it talks to now
    float chat_scale;
    int chat_busy;
    tui_msg *msgs;
    int n_msgs, cap_msgs;
    int chat_scroll;                     // lines up from the bottom
    pt_sampling sampling;
    int max_tokens;
    char last_user[4096];
    char *save_answer;                   // the answer being saved as a dataset row
    int chat_form, chat_sel;             // the sampling form is open; its field

    // compare
    int cmp;                             // running or shown (0 none)
    int cmp_running;
    tui_column cols[PT_COMPARE_MAX];
    int n_cols;
    pt_compare_result cres;
    int have_cres;
    int cmp_color;                       // colour tokens by how the adapter changed their likelihood
    char cmp_prompt[1024];
    int cmp_all;                         // every loaded adapter, not only the active one
};

// the loop (tui_main.c)
void tui_say(tui_app *a, int role, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void tui_switch(tui_app *a, int scr);

// state (tui_state.c): events, snapshots and the actions screens share
void tui_state_defaults(tui_app *a);
void tui_start(tui_app *a, int explicit_model);
void tui_on_event(tui_app *a, const pt_event *e);
void tui_refresh(tui_app *a);            // re-reads what the engine may have changed (a few times a second)
void tui_refresh_adapters(tui_app *a);
void tui_refresh_lora(tui_app *a);       // match, count, plan, problems for the form as it is
int tui_job_running(const tui_app *a);
void tui_state_free(tui_app *a);
void tui_load_model(tui_app *a, const char *path);
void tui_scan_models(tui_app *a);
void tui_add_model_path(tui_app *a, const char *path);
void tui_scan_adapters(tui_app *a);
const pt_adapter_info *tui_adapter(const tui_app *a, int id);
const char *tui_adapter_label(const tui_app *a, int id);
void tui_log(tui_app *a, int role, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
tui_msg *tui_msg_add(tui_app *a, char role, const char *text);
void tui_msgs_clear(tui_app *a);
void tui_columns_clear(tui_app *a);
void tui_probes_clear(tui_app *a);
void tui_open_dataset(tui_app *a);
void tui_data_loaded(tui_app *a);        // scr_data.c: caches the failures after a preview loads
int tui_train_blocked(tui_app *a, char *why, size_t cap);
void tui_train_start(tui_app *a, const char *resume);
int tui_cancel_generation(tui_app *a);   // 1: something was answering
void tui_load_norms(tui_app *a, int id);
void tui_scale_step(tui_app *a, float d);   // the active adapter's scale (scr_chat.c)

// settings (tui_settings.c)
int tui_settings_load(tui_app *a);
int tui_settings_save(tui_app *a);
void tui_edit_load_history(tui_app *a);
void tui_edit_save_history(tui_app *a);

// forms on screen (tui_formui.c)
void tui_form_draw(tui_app *a, int form, int y, int x, int h, int w, int sel, int name_w);
void tui_form_draw_help(tui_app *a, int form, int sel, int y, int x, int h, int w);
void tui_form_edit(tui_app *a, int form, int i);
void tui_form_step(tui_app *a, int form, int i, int dir);
int tui_form_editing(const tui_app *a, int form, int i);

// drawing helpers (tui_draw.c)
void tui_draw_frame(tui_app *a);         // bars, the screen, the help or a too-small message
void tui_panel(tui_app *a, int *y, int *x, int *h, int *w, const char *title);
void tui_progress(tui_canvas *cv, int y, int x, int w, double frac, int role);
// A list of n lines (scrolled so sel shows) in (y, x, h, w); line(i) fills buf.
void tui_draw_list(tui_canvas *cv, int y, int x, int h, int w, int n, int sel,
                   void (*line)(tui_app *a, int i, char *buf, size_t cap, int *role), tui_app *a);
void tui_fmt_bytes(double bytes, char *buf, size_t cap);    // "1.2 GiB"
void tui_fmt_count(double n, char *buf, size_t cap);        // "1.84M"
void tui_fmt_duration(double s, char *buf, size_t cap);     // "3m05s"
// Wrapped text in (y, x, h, w) from line first; returns lines in all.
int tui_draw_text(tui_canvas *cv, int y, int x, int h, int w, const char *text, int role, int first);
int tui_draw_rich(tui_canvas *cv, int y, int x, int h, int w, const char *text, size_t len, const uint8_t *roles,
                  int show_nl);

// the keys every screen has (tui_keys.c)
tui_reaction tui_dispatch_key(tui_app *a, int key);
void tui_draw_help(tui_app *a, int y, int x, int h, int w);
void tui_draw_keybar(tui_app *a, int y, int w);

// the terminal (tui_term.c)
int tui_term_init(tui_app *a);
void tui_term_end(void);
void tui_term_blit(const tui_app *a, int cursor_y, int cursor_x);
int tui_term_key(void);                  // the next key, or -1 when none waits
void tui_term_size(int *h, int *w);

// entry (from main)
int tui_run(const char *model_path, const char *device, int threads);

#endif
