// peftui.h - the engine as a front end sees it, and the only engine header
// a front end (src/cli, src/tui) includes.
//
// A workspace is one loaded base model on one device: one copy of its
// weights there, shared by everything the workspace runs at once - training
// jobs, chat sessions, compares - and a registry of LoRA adapters over it.
// Calls return at once (or after a small, bounded amount of work); loading,
// training, generating, saving and exporting run on the workspace's threads
// and report through events. A front end polls the event descriptor
// (pt_ws_event_fd) together with its keys and never waits on the engine.
//
// Ids: every asynchronous piece of work (a task, a job, a chat, a compare)
// and every adapter gets a positive id, unique in the workspace. Adapter id
// 0 (PT_BASE) means the base model without an adapter.
//
// Threads: the workspace splits its thread budget between what computes at
// the moment, so a chat still streams while a job trains on the same cores.
// Every pt_* call here may be made from any one front-end thread.
#ifndef PT_PEFTUI_H
#define PT_PEFTUI_H

#include <stddef.h>
#include <stdint.h>

#include "core/pt_error.h"
#include "core/pt_time.h"
#include "infer/sampling.h"
#include "lora/lora_config.h"
#include "train/columns.h"
#include "train/train_params.h"

#define PT_BASE 0

typedef struct pt_ws pt_ws;

// ---- the workspace -----------------------------------------------------------

typedef struct {
    const char *device;   // "auto" (default: cuda when a GPU is present, else cpu), "cpu", "cuda", "emu", "cpu-naive"
    int threads;          // the budget shared by everything that runs (<= 0: every core)
    int n_ctx;            // context of chats and compares in tokens (0: the model's, at most 4096)
} pt_ws_opts;

void pt_ws_opts_default(pt_ws_opts *o);
// Makes the device's backend; no model yet. Errors: an unknown or absent device.
int pt_ws_create(pt_ws **out, const pt_ws_opts *o, pt_err *err);
// Cancels every job, chat turn and compare (a running job is cancelled, not
// stopped: stop it first to save), waits for the threads, frees everything.
void pt_ws_destroy(pt_ws *ws);

// Loads a model (GGUF file or Hugging Face folder) as a task; the event
// PT_EV_TASK says when it is ready. Refused while anything uses the current
// one (a job, chat or compare); on success the old model and its adapters go.
int pt_ws_load_model(pt_ws *ws, const char *path, int *task, pt_err *err);
// The same with random weights of a named shape ("smollm2-135m", "llama2-7b",
// "tiny"), for benchmarks.
int pt_ws_load_shape(pt_ws *ws, const char *shape, int *task, pt_err *err);
int pt_ws_has_model(pt_ws *ws);
// While a model loads: its phase (0 waiting for the task thread, 1 reading
// the file, 2 putting the weights on the device) and its name in what; -1 when none loads.
int pt_ws_load_progress(pt_ws *ws, char *what, size_t cap);

// The device's memory as the workspace's backend counts it (every lane's
// allocations and scratch; on host backends the engine's buffers, not the
// model's own arrays): now, and the most at once since the last reset.
typedef struct {
    size_t held, peak, free;     // free: SIZE_MAX where not limited
} pt_ws_memory;
void pt_ws_memory_get(pt_ws *ws, pt_ws_memory *out);
void pt_ws_memory_reset_peak(pt_ws *ws);

// ---- events ------------------------------------------------------------------

typedef enum {
    PT_EV_TASK = 1,          // a task ended: status, text (what it did, or why it failed), n (what it made: an id)
    PT_EV_TOKEN,             // a chat or compare token: token (-1: text held back until the end), logprob, text (what it made visible)
    PT_EV_REPLY,             // a chat turn ended: status, stop (pt_stop), n tokens, text (a notice, or the error)
    PT_EV_COMPARE,           // a compare ended: status, text
    PT_EV_TRAIN_STEP,        // rec
    PT_EV_TRAIN_EVAL,        // rec
    PT_EV_TRAIN_CHECKPOINT,  // text: the folder
    PT_EV_TRAIN_STATE,       // state (pt_train_state)
    PT_EV_TRAIN_DONE,        // state (done, cancelled, failed), status, text
    PT_EV_WARNING,           // text
    PT_EV_DROPPED,           // n events were lost before this one (the queue was full)
} pt_ev_kind;

typedef enum { PT_STOP_END = 1, PT_STOP_STOPSTR, PT_STOP_LIMIT, PT_STOP_FULL, PT_STOP_CANCEL } pt_stop;

typedef struct {
    pt_ev_kind kind;
    int src;              // the task, job, chat or compare it is about (0: the workspace)
    int column;           // a compare's column; -1 otherwise
    int status;           // pt_status, for endings
    int stop;             // PT_EV_REPLY: pt_stop
    int state;            // train states
    int32_t token;
    float logprob;        // of token under the model that produced it
    long n;
    pt_train_record rec;
    char text[1024];
} pt_event;

// Readable (poll POLLIN) whenever an event waits; only pt_ws_events drains it.
int pt_ws_event_fd(pt_ws *ws);
// Takes up to cap waiting events, oldest first; returns how many (0: none). Never blocks.
int pt_ws_events(pt_ws *ws, pt_event *ev, int cap);
// For simple front ends: waits until an event waits, at most timeout_ms (< 0: no limit). 1: one waits.
int pt_ws_wait_event(pt_ws *ws, int timeout_ms);
// Events lost so far because the queue was full (they are also announced with PT_EV_DROPPED).
long pt_ws_dropped(pt_ws *ws);
// Waits for an id to finish (a task, a job, a compare, a chat's turn) and returns how it ended.
int pt_ws_wait(pt_ws *ws, int id, pt_err *err);

// ---- the model -----------------------------------------------------------------

typedef struct {
    char path[1024], name[128], arch[32];
    int from_gguf;               // 0: a Hugging Face folder
    size_t n_params;
    int n_layer, n_embd, n_ff, n_head, n_head_kv, head_dim, vocab_size, max_ctx, sliding_window;
    float rope_theta, rms_eps;
    int tied_embeddings, qkv_bias;
    char block[200];             // the family's block in words: norm, positions, attention, MLP (arch_describe)
    char tokenizer[40];          // "byte-level BPE", "SentencePiece BPE (byte fallback)"
    int tok_vocab, bos, eos;
    char template_name[64];      // the chat template guessed from the model
    int has_template;            // the model carries a (Jinja) chat template
    char default_system[512];    // what that template writes when there is no system message ("" none)
    int n_tensors;
    char device[256];            // the backend, described
    char device_name[16];        // its name: "cpu", "cuda", "emu", "cpu-naive"
    int device_host;             // 1: host memory (weights aliased)
    size_t base_bytes;           // the base on the device (0 when aliased)
    size_t device_free;          // bytes free there (SIZE_MAX: not limited)
    char weight_dtype[8];        // "float32", "bf16"
} pt_model_info;

int pt_ws_model_info(pt_ws *ws, pt_model_info *out, pt_err *err);

typedef struct {
    char name[96], type[16];
    int n_dims;
    int64_t shape[4];
} pt_tensor_info;
int pt_ws_tensor(pt_ws *ws, int i, pt_tensor_info *out);

typedef enum { PT_TOKEN_NORMAL, PT_TOKEN_CONTROL, PT_TOKEN_ADDED } pt_token_kind;
typedef struct {
    char piece[256];             // as stored (control tokens: their name)
    size_t n_bytes;              // its text's bytes (tokenizer bytes, for normal tokens)
    char bytes[256];
    pt_token_kind kind;
    int end_of_generation;
} pt_token_info;
int pt_ws_token(pt_ws *ws, int32_t id, pt_token_info *out);
// UTF-8 text -> ids (malloc'd). Invalid UTF-8 is an error naming the offset.
int pt_ws_tokenize(pt_ws *ws, const char *text, int add_special, int parse_special, int32_t **ids, int *n,
                   pt_err *err);

// The linear modules LoRA can target, in model order (layer, then slot).
typedef struct {
    char name[96];        // "model.layers.3.self_attn.q_proj"
    char short_name[32];  // "q_proj"; "attn.c_proj" where two layers share the last part (GPT-2)
    int layer, in, out;
    int default_target;   // in PEFT's default targets for this model type
} pt_module_info;
int pt_ws_modules(pt_ws *ws, pt_module_info *out, int cap);   // returns the count

// ---- LoRA forms ------------------------------------------------------------------

// LoraConfig from command-line style values: PEFT's defaults with peftui's
// training defaults (r 8, alpha 16, dropout 0.05), else the adapter_config.json
// at config; then every field given. Unset: r INT_MIN, alpha/dropout NAN, strings NULL.
typedef struct {
    const char *config;          // adapter_config.json to start from
    int r;
    float alpha, dropout;
    const char *targets;         // "q_proj,v_proj" or "all-linear"
    const char *target_regex;
    const char *modules_to_save; // "lm_head,embed_tokens"
    int rslora;
} pt_lora_flags;
void pt_lora_flags_default(pt_lora_flags *f);
// err names the flag (or the file) at fault; PT_ERR_ARG for a bad value.
int pt_lora_config_build(pt_lora_config *c, const pt_lora_flags *f, pt_err *err);
void pt_lora_config_describe_targets(const pt_lora_config *c, char *buf, size_t cap);
int pt_lora_config_read(pt_lora_config *c, const char *path, pt_err *err);    // adapter_config.json
int pt_lora_config_write(const pt_lora_config *c, const char *path, pt_err *err);

// Which of pt_ws_modules' modules cfg targets (matched: one byte a module,
// cap of them), the count and the trainable parameters; nothing allocated.
int pt_ws_lora_match(pt_ws *ws, const pt_lora_config *cfg, uint8_t *matched, int cap, int *n_matched,
                     size_t *n_params, pt_err *err);
// Every problem of a LoraConfig and training parameters on this model and
// device, each tagged with its field; returns the count (out gets up to cap).
// params may be NULL (the LoraConfig alone).
int pt_ws_check(pt_ws *ws, const pt_lora_config *cfg, const pt_train_params *params, pt_problem *out, int cap);

// What training costs, in bytes, on this workspace's device.
typedef struct {
    size_t trainable;            // parameters
    double trainable_pct;        // of the model's
    size_t base, adapter, grads, moments, activations, scratch, total;
    size_t snapshots;            // the copies chats read while it trains (two at most, unless readers hold more)
    size_t job;                  // what the job itself allocates on the device (held to this)
    size_t device_free;          // SIZE_MAX: not limited (host memory)
    int fits;
    int batch, seq;              // the shape planned for
} pt_ws_plan;
// seq: the longest row the job will see (0: params->max_seq_len; a loaded
// dataset's longest row is better: pt_ws_dataset_info).
int pt_ws_plan_train(pt_ws *ws, const pt_lora_config *cfg, const pt_train_params *params, int seq, pt_ws_plan *out,
                     pt_err *err);

// ---- datasets (previews) -------------------------------------------------------

// Loads a dataset for preview as a task (every row is rendered and
// tokenized once): bad rows are kept as failures, rows cut to nothing are kept.
typedef struct {
    const char *path;
    const char *template_name;   // NULL: the model's
    const char *system;          // NULL: the model's default
    int max_seq_len;
    int train_on_prompt;
    const char *dataset_name;    // path is a dataset_info.json: its entry (NULL: its only one)
    pt_columns columns;          // a column map (empty: the format from each row's keys); overrides the entry's
} pt_dataset_opts_ws;
int pt_ws_dataset_open(pt_ws *ws, const pt_dataset_opts_ws *o, int *ds, int *task, pt_err *err);
typedef struct {
    int ready;                   // the load task finished (status says how)
    int status;
    char error[512];
    char format[16], template_name[64];
    int rows, truncated, no_target, failed;
    long tokens, target_tokens;
    int longest;                 // tokens of the longest kept row, cut at max_seq_len
} pt_dataset_info;
int pt_ws_dataset_info(pt_ws *ws, int ds, pt_dataset_info *out);
// Row i (0-based among the kept rows): its tokens, each flagged trained (1) or
// masked (0), and where max_seq_len cuts it. Pointers valid until the dataset closes.
typedef struct {
    int line;                    // in the file (JSONL line, JSON record, text paragraph's first line)
    const int32_t *tokens;       // (n_full)
    const uint8_t *trained;      // (n_full) 1: the token is a training target
    int n_full, n_kept;          // all tokens, and those within max_seq_len
    int no_target;               // nothing left to learn within n_kept
} pt_dataset_row;
int pt_ws_dataset_row(pt_ws *ws, int ds, int i, pt_dataset_row *out, pt_err *err);
// Failed row i: its line and why.
int pt_ws_dataset_failure(pt_ws *ws, int ds, int i, int *line, char *why, size_t cap);
void pt_ws_dataset_close(pt_ws *ws, int ds);

// ---- the adapter registry ------------------------------------------------------

typedef enum { PT_AD_LOADING, PT_AD_IDLE, PT_AD_TRAINING, PT_AD_IN_USE, PT_AD_FAILED } pt_adapter_state;

typedef struct {
    int id;
    char name[128];
    char path[1024];             // the folder or file it came from or was last saved to ("" none)
    pt_adapter_state state;
    int users;                   // chats and compares holding it now
    float scale;                 // the user scale (0..2) chats and compares use by default
    int r;
    float alpha, dropout;
    int rslora;
    char targets[256];           // as pt_lora_config_describe_targets says it
    int n_modules;
    size_t n_params;
    char base_name[256];
    char base_fingerprint[80];
    int base_matches;            // the fingerprint is this base's (or unknown)
    char template_name[64];      // the chat template it was trained with ("" unknown)
    int step;                    // optimizer steps trained here (0: as loaded or created)
    float last_loss;             // NaN: none
    int job;                     // the job training it (0: none)
    int merged;                  // merged into the base's weights
    int saved;                   // its parameters now are on disk at path
} pt_adapter_info;

// A new adapter from cfg on this model (PEFT's init, from seed). Synchronous:
// allocating and initialising is quick.
int pt_ws_adapter_create(pt_ws *ws, const pt_lora_config *cfg, uint64_t seed, const char *name, int *id, pt_err *err);
// A PEFT folder or a GGUF LoRA file, as a task; *id is valid at once (state LOADING).
int pt_ws_adapter_load(pt_ws *ws, const char *path, int *id, int *task, pt_err *err);
// Writes the adapter as a PEFT folder (a task). Refused while it trains (the job saves it).
int pt_ws_adapter_save(pt_ws *ws, int id, const char *dir, int *task, pt_err *err);
int pt_ws_adapter_rename(pt_ws *ws, int id, const char *name, pt_err *err);
// Refused while it trains or something uses it.
int pt_ws_adapter_drop(pt_ws *ws, int id, pt_err *err);
// 0..2; takes effect at the next turn of the chats that use it. Nothing is re-uploaded.
int pt_ws_adapter_set_scale(pt_ws *ws, int id, float scale, pt_err *err);
int pt_ws_adapter_info(pt_ws *ws, int id, pt_adapter_info *out);
int pt_ws_adapters(pt_ws *ws, int *ids, int cap);   // ids in the order they were added; returns the count
// By name, or by the path it came from; 0: none.
int pt_ws_adapter_find(pt_ws *ws, const char *name_or_path);
// Per layer and module (n_layer * the model's modules a layer, in
// pt_ws_modules' order: q, k, v, o, gate, up, down on a LLaMA) the
// Frobenius norm of scale * B @ A at the adapter's user scale, -1 where it
// has no module; while it trains, of the last finished step. Returns the count.
int pt_ws_adapter_norms(pt_ws *ws, int id, float *norms, int cap, pt_err *err);
// Folds it into the base's weights (a task); refused while anything else
// uses the base (a job, a chat, a compare).
int pt_ws_adapter_merge(pt_ws *ws, int id, int *task, pt_err *err);
int pt_ws_adapter_unmerge(pt_ws *ws, int id, int *task, pt_err *err);

// Whether format names an export ("peft", "merged", "gguf-lora"); err lists them when not.
int pt_export_format_check(const char *format, pt_err *err);
// What exporting would get differently from peftui (one line each); returns the count.
int pt_ws_export_check(pt_ws *ws, int id, const char *format, float scale, char (*warnings)[320], int cap, pt_err *err);
// format "peft", "merged" or "gguf-lora"; a task.
int pt_ws_export(pt_ws *ws, int id, const char *format, float scale, const char *out, int *task, pt_err *err);

// ---- training --------------------------------------------------------------------

typedef struct {
    const char *data;            // the dataset file, or a LLaMA-Factory dataset_info.json
    const char *dataset_name;    // data is a dataset_info.json: its entry (NULL: its only one)
    pt_columns columns;          // a column map (empty: the format from each row's keys); overrides the entry's
    const char *template_name;   // NULL: the model's
    const char *system;          // NULL: the model's default for its own template
    int train_on_prompt;
    const pt_lora_config *lora;  // a new adapter from this config (or NULL with resume)
    const char *resume;          // a checkpoint folder, or a run folder (its newest checkpoint-N); NULL: fresh
    const char *name;            // the adapter's name (NULL: the output folder's last part)
    pt_train_params params;      // out_dir, lr, ...; device and threads are the workspace's
} pt_train_request;
void pt_train_request_default(pt_train_request *r);

// Starts a job (a thread: it loads the data, makes or resumes the adapter,
// sets up and trains on the workspace's device and base); returns at once
// with its id and the adapter's (state TRAINING). Checks that need no work
// (the config, the output folder, the checkpoint to resume) fail here.
int pt_train_start(pt_ws *ws, const pt_train_request *r, int *job, int *adapter, pt_err *err);
// Each takes effect within one micro-batch, also during set-up and eval.
int pt_train_pause(pt_ws *ws, int job);
int pt_train_resume(pt_ws *ws, int job);
int pt_train_stop(pt_ws *ws, int job);     // saves a checkpoint and the adapter, then ends
int pt_train_cancel(pt_ws *ws, int job);   // ends without saving
int pt_train_get_status(pt_ws *ws, int job, pt_train_status *out);
// Every step's record so far (for plots); returns the count (up to cap).
int pt_train_history(pt_ws *ws, int job, pt_train_record *out, int cap);
// What the job is training on, once it has loaded its data and made its
// adapter (prepared 0 before that).
typedef struct {
    int prepared;
    char out_dir[1024], resumed[1024];   // the run folder; the checkpoint it resumed ("" none)
    char format[16], template_name[64];
    int rows, train_rows, eval_rows, truncated, skipped;
    int r;
    float alpha, dropout;
    int rslora;
    char targets[256];
    int n_modules;
    size_t n_params;
} pt_train_info;
int pt_train_info_get(pt_ws *ws, int job, pt_train_info *out);
// Frees a finished job (its adapter stays in the registry). Refused while it runs.
int pt_train_close(pt_ws *ws, int job, pt_err *err);

// ---- chat --------------------------------------------------------------------------

typedef struct {
    const char *template_name;   // NULL: guessed from the model
    const char *system;          // NULL: the template's or the model's default
    int raw;                     // no template: each message is tokenized as it is (generate --raw)
    pt_sampling sampling;
    int max_tokens;              // per answer
    int adapter;                 // PT_BASE or a registry id
    float scale;                 // NAN: the adapter's registry scale
    int n_ctx;                   // 0: the workspace's
} pt_chat_opts;
void pt_chat_opts_default(pt_chat_opts *o);

// A session with its own KV cache (allocated now). *warning (may be NULL)
// gets a line when the adapter was trained with another template.
int pt_chat_open(pt_ws *ws, const pt_chat_opts *o, int *chat, char *warning, size_t wcap, pt_err *err);
// One user message; the answer streams as PT_EV_TOKEN and ends with
// PT_EV_REPLY. Refused while a turn runs. The conversation's oldest turns are
// dropped when it no longer fits (the reply's text says so).
int pt_chat_send(pt_ws *ws, int chat, const char *text, pt_err *err);
// Stops the turn (also during the prefill); what was said stays.
int pt_chat_cancel(pt_ws *ws, int chat);
// Between turns: the adapter (PT_BASE: none) and its scale (NAN: the registry's);
// the cache is kept when it is still valid.
int pt_chat_set_adapter(pt_ws *ws, int chat, int adapter, float scale, char *warning, size_t wcap, pt_err *err);
int pt_chat_set_system(pt_ws *ws, int chat, const char *system, pt_err *err);   // NULL: back to the default
int pt_chat_set_sampling(pt_ws *ws, int chat, const pt_sampling *s, int max_tokens, pt_err *err);
int pt_chat_reset(pt_ws *ws, int chat, pt_err *err);   // forgets the conversation

typedef struct {
    int busy;                    // a turn runs
    char template_name[64];
    char system[1024];           // in use ("" none)
    int adapter;
    float scale;
    int n_ctx, tokens_cached, turns;
    pt_sampling sampling;
    int max_tokens;
    // the last turn
    int n_prompt, n_prefilled, n_gen;
    double prefill_s, decode_s;
} pt_chat_info;
int pt_chat_info_get(pt_ws *ws, int chat, pt_chat_info *out);
// Message i of the transcript (role "user" or "assistant"); the text is copied into buf.
int pt_chat_message(pt_ws *ws, int chat, int i, char *role, size_t rcap, char *buf, size_t cap);
// Cancels a running turn, waits for it, frees the session.
void pt_chat_close(pt_ws *ws, int chat);

// ---- compare ---------------------------------------------------------------------

#define PT_COMPARE_MAX 8

typedef struct {
    int adapter;                 // PT_BASE or a registry id
    float scale;                 // NAN: the adapter's registry scale
} pt_column;

typedef struct {
    const char *prompt;
    const char *system;          // NULL: the default
    const char *template_name;   // NULL: the model's
    pt_sampling sampling;        // the same settings and seed for every column
    int max_tokens;
    pt_column columns[PT_COMPARE_MAX];
    int n_columns;
    int sequential;              // 1: each column alone, one after another (the reference); 0: batched
    int score;                   // 1: score every answer under every column's model (teacher forcing)
} pt_compare_opts;
void pt_compare_opts_default(pt_compare_opts *o);

// Starts a compare (a thread): the columns answer the prompt, streaming
// PT_EV_TOKEN with their column, then PT_EV_COMPARE.
int pt_compare_start(pt_ws *ws, const pt_compare_opts *o, int *cmp, char *warning, size_t wcap, pt_err *err);
int pt_compare_cancel(pt_ws *ws, int cmp);

typedef struct {
    char label[160];             // "base", "quill", "quill (scale 0.5)"
    const char *text;            // the answer
    const int32_t *tokens;       // (n_tokens) as generated
    int n_tokens;
    // (n_tokens, n_columns) when scored: logprob of token t under column k's
    // model at [t * n_columns + k]; its own column is the generation's. NULL otherwise.
    const float *logprobs;
    int stop;                    // pt_stop
} pt_compare_column;

typedef struct {
    int done, status;
    int n_columns;
    int first_diff;              // first token index where the columns' answers differ; -1: all the same
    double prefill_s, decode_s, score_s;
    pt_compare_column col[PT_COMPARE_MAX];
} pt_compare_result;
// After PT_EV_COMPARE; pointers valid until pt_compare_close.
int pt_compare_get(pt_ws *ws, int cmp, pt_compare_result *out);
void pt_compare_close(pt_ws *ws, int cmp);

// ---- benchmarks ---------------------------------------------------------------

typedef struct {
    double prefill[64], decode[64];   // tokens/s of each repetition
    int reps;
    double setup_s;
    size_t device_peak;          // bytes held on the device at most (host backends: through alloc)
} pt_bench_decode;
// Prefill n_prompt tokens then decode n_gen one at a time (greedy, no
// sampling), reps times, on the workspace's device and thread budget.
int pt_ws_bench_decode(pt_ws *ws, int n_prompt, int n_gen, int reps, pt_bench_decode *out, pt_err *err);

typedef struct {
    int seq, batch, r, steps, warmup;
    float alpha;
} pt_bench_train_opts;
typedef struct {
    double step_s;               // median
    double tokens_per_s, flops_per_token;
    double setup_s;
    float loss;
    size_t trainable, device_peak;
} pt_bench_train;
// LoRA (every linear layer) training steps on random tokens.
int pt_ws_bench_train(pt_ws *ws, const pt_bench_train_opts *o, pt_bench_train *out, pt_err *err);

// ---- files on disk: what the workbench lists before loading anything ----------

// A model file or folder read quickly (headers and config only, no weights).
typedef struct {
    char path[1024];
    char name[128];              // general.name, config's _name_or_path, else the file or folder name
    char arch[32];               // "llama", "qwen2", ... ("" unknown)
    int from_gguf;
    size_t n_params;             // the sum of every tensor's elements
    size_t file_bytes;           // on disk (a folder: its weight files)
    char types[64];              // tensor types by count, most first: "q4_1 f32", "bf16"
    int max_ctx;                 // context length (0 unknown)
    int n_layer;
} pt_model_peek;
// err says why it is not a model (one line).
int pt_model_peek_path(const char *path, pt_model_peek *out, pt_err *err);
// Candidate models: *.gguf files and Hugging Face folders (config.json plus
// *.safetensors) directly in dir, or for a hub cache (a folder of
// models--ORG--NAME) its snapshots; paths are appended to out (cap, each
// 1024 bytes) after the n already there, without duplicates. Returns the new n.
int pt_models_scan(const char *dir, char (*out)[1024], int n, int cap);

// An adapter on disk: a PEFT folder (adapter_config.json), a checkpoint
// folder in a run (its trainer_state.json gives step and loss), or a GGUF LoRA file.
typedef struct {
    char path[1024];
    char name[128];              // the folder's name ("run/checkpoint-40" for a checkpoint)
    char base[256];              // base_model_name_or_path ("" unknown)
    int r;
    float alpha;
    char targets[256];
    int step;                    // -1 unknown
    float loss;                  // NaN unknown
    int is_checkpoint, is_gguf;
} pt_adapter_peek;
int pt_adapter_peek_path(const char *path, pt_adapter_peek *out, pt_err *err);
// Adapters under dir, up to depth 2 (a run folder, its checkpoint-N folders):
// appended as pt_models_scan does. Returns the new n.
int pt_adapters_scan(const char *dir, char (*out)[1024], int n, int cap);

// A run folder's checkpoint-N folders, newest (highest step) first.
typedef struct {
    char path[1024];
    int step;
    float loss;                  // the last logged training loss (NaN none)
    float eval_loss;             // the best eval loss so far (NaN none)
} pt_checkpoint_info;
int pt_checkpoints_list(const char *run_dir, pt_checkpoint_info *out, int cap);   // returns the count

// Appends one conversation as a row {"messages": [{role, content}, ...]}
// (system first when given) to a JSONL dataset; written to a temporary file
// and renamed, so the old rows survive a failure. The file is created when absent.
int pt_dataset_append_chat(const char *path, const char *system, const char *user, const char *assistant,
                           pt_err *err);

// peftui's folder in the user's config directory ($XDG_CONFIG_HOME/peftui,
// else ~/.config/peftui), created when absent.
int pt_config_dir(char *buf, size_t cap, pt_err *err);

// ---- small helpers the front ends share ------------------------------------------

// Once, first thing in main: picks OpenBLAS's fast kernels for this CPU
// (re-executes the program with OPENBLAS_CORETYPE set when it must).
void pt_init(char **argv);

// 0 if s is valid UTF-8, else the offset of the first bad byte plus one.
size_t pt_utf8_invalid_at(const char *s, size_t len);
// A whole file ("-": standard input) into a malloc'd NUL-terminated string.
int pt_read_text(const char *path, char **out, size_t *len, pt_err *err);
const char *pt_stop_name(int stop);    // "end of generation", ...
const char *pt_train_state_name(int state);
// The devices pt_ws_create knows.
int pt_device_name_ok(const char *name);

#endif
