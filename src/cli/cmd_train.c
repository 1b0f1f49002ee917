// cmd_train.c - `peftui train -d DATA`: LoRA fine-tuning from the command
// line, as a job of the workspace: the LoRA config from PEFT's defaults,
// then --config adapter_config.json, then flags; the job loads and splits
// the data, makes the adapter (or takes it from --resume's checkpoint) and
// trains; this draws its progress from its events: a redrawn bar on a
// terminal, one line per step otherwise. Ctrl-C stops it with a checkpoint
// (exit 130). The trainer itself writes OUT/log.jsonl.
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli.h"

typedef struct {
    // flags; sentinels (INT_MIN, NAN, NULL) mean "not given"
    const char *data, *model, *template_name, *system, *out, *resume, *config;
    const char *dataset, *col_prompt, *col_query, *col_response, *col_system, *prompt_format;
    const char *targets, *target_regex, *scheduler, *modules_to_save, *device;
    int threads, r, epochs, steps, train_on_prompt, rslora;
    float alpha, dropout, eval_frac;
    pt_train_params p;
} train_opts;

// ---------------------------------------------------------------------------
// progress

static int term_width(void) {
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    return 80;
}

static void fmt_time(char *buf, size_t cap, double s) {
    if (!isfinite(s) || s < 0) { snprintf(buf, cap, "?"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
}

// "loss 2.345  eval 2.101  lr 2.0e-04  812 tok/s  ETA 1:23"
static void fmt_stats(char *buf, size_t cap, const pt_train_record *r, float eval_loss, double eta) {
    char ev[32] = "", et[40] = "";
    if (!isnan(eval_loss)) snprintf(ev, sizeof ev, "  eval %.4f", eval_loss);
    if (!isnan(eta)) {
        memcpy(et, "  ETA ", 7);
        fmt_time(et + 6, sizeof et - 6, eta);
    }
    snprintf(buf, cap, "loss %.4f%s  lr %.2e  %.0f tok/s%s", r->loss, ev, r->lr, r->tokens_per_s, et);
}

static void draw_bar(const pt_train_status *st, int have) {
    char stats[320] = "", bar[128];
    int w = term_width();
    if (have) fmt_stats(stats, sizeof stats, &st->last, st->last_eval_loss, st->eta_s);
    else snprintf(stats, sizeof stats, "%s", st->message);
    char count[48];
    snprintf(count, sizeof count, "%d/%d", st->step, st->total_steps);
    int room = w - (int)strlen(count) - (int)strlen(stats) - 6;
    int bw = room > 40 ? 40 : room;
    if (bw >= 10) {
        int fill = st->total_steps > 0 ? (int)((double)bw * st->step / st->total_steps) : 0;
        for (int i = 0; i < bw; i++) bar[i] = i < fill ? '#' : '.';
        bar[bw] = '\0';
        printf("\r[%s] %s  %s\033[K", bar, count, stats);
    } else {
        printf("\r%s  %.*s\033[K", count, w > 20 ? w - 20 : 20, stats);
    }
    fflush(stdout);
}

// The header, once the job has its data and adapter.
static void print_header(pt_ws *ws, int job, const train_opts *o) {
    pt_train_info in;
    pt_model_info mi;
    pt_train_status st;
    pt_err err = {0};
    pt_train_info_get(ws, job, &in);
    pt_ws_model_info(ws, &mi, &err);
    pt_train_get_status(ws, job, &st);
    printf("model   %s (%s)\n", mi.name[0] ? mi.name : mi.path, mi.path);
    printf("data    %s%s%s: %d %s rows, %d train / %d eval, template %s\n", o->data, o->dataset ? " " : "",
           o->dataset ? o->dataset : "", in.rows, in.format, in.train_rows, in.eval_rows, in.template_name);
    if (in.truncated || in.skipped)
        printf("        %d cut to --max-seq-len %d; %d dropped, no answer left within it\n", in.truncated,
               o->p.max_seq_len, in.skipped);
    printf("LoRA    r=%d alpha=%g dropout=%g%s on %s: %d modules, %zu trainable parameters\n", in.r, in.alpha, in.dropout,
           in.rslora ? " (rsLoRA)" : "", in.targets, in.n_modules, in.n_params);
    if (in.resumed[0]) printf("resume  %s\n", in.resumed);
    printf("output  %s\n", in.out_dir);
    printf("device  %s\n", mi.device);
    fflush(stdout);
}

// Follows the job's events until it ends; returns the exit status.
static int watch(pt_ws *ws, int job, const train_opts *o) {
    int tty = isatty(STDOUT_FILENO), stopping = 0, have = 0, header = 0;
    pt_train_status st;
    pt_event ev[64];
    for (;;) {
        pt_ws_wait_event(ws, 100);
        int n = pt_ws_events(ws, ev, 64), ended = 0;
        pt_train_get_status(ws, job, &st);
        for (int i = 0; i < n; i++) {
            const pt_event *e = &ev[i];
            if (e->kind == PT_EV_WARNING || e->kind == PT_EV_DROPPED) {
                if (tty && have) printf("\n");
                fflush(stdout);
                cli_error(0, "warning: %s", e->text);
                continue;
            }
            if (e->src != job) continue;
            if (!header && (e->kind == PT_EV_TRAIN_STATE || e->kind == PT_EV_TRAIN_STEP ||
                            (e->kind == PT_EV_TRAIN_DONE && !e->status))) {
                pt_train_info in;
                pt_train_info_get(ws, job, &in);
                if (in.prepared) {
                    print_header(ws, job, o);
                    header = 1;
                }
            }
            if (e->kind == PT_EV_TRAIN_STEP) {
                have = 1;
                if (!tty) {
                    char stats[160];
                    fmt_stats(stats, sizeof stats, &e->rec, e->rec.eval_loss, st.eta_s);
                    printf("step %d/%d  %s\n", e->rec.step, st.total_steps, stats);
                    fflush(stdout);
                }
            }
            if (e->kind == PT_EV_TRAIN_DONE) ended = 1;
        }
        if (tty && header) draw_bar(&st, have);
        if (ended) break;
        if (*cli_abort_flag() && !stopping) {
            stopping = 1;
            pt_train_stop(ws, job);
            if (tty) printf("\n");
            fflush(stdout);
            fprintf(stderr, "peftui: stopping after this step and saving a checkpoint (wait for it)\n");
        }
    }
    if (tty && header) printf("\n");
    fflush(stdout);
    pt_err err = {0};
    pt_train_get_status(ws, job, &st);
    if (pt_ws_wait(ws, job, &err) != PT_OK) return cli_error(CLI_ERR, "%s", err.msg);
    if (st.state == PT_TRAIN_FAILED) return cli_error(CLI_ERR, "%s", st.message);
    char out_dir[1024];
    pt_train_info in;
    pt_train_info_get(ws, job, &in);
    snprintf(out_dir, sizeof out_dir, "%s", in.out_dir);
    if (stopping && st.step < st.total_steps) {
        printf("stopped at step %d of %d; checkpoint: %s\n", st.step, st.total_steps,
               st.last_checkpoint[0] ? st.last_checkpoint : "none");
        printf("continue with: %s train ... --resume %s\n", cli_progname(), out_dir);
        fflush(stdout);
        return 130; // 128 + SIGINT, as shells report it
    }
    printf("adapter saved to %s (adapter_config.json, adapter_model.safetensors; log in %s/log.jsonl)\n", out_dir, out_dir);
    printf("try: %s compare -p \"What is your name?\" --adapter %s\n", cli_progname(), out_dir);
    return CLI_OK;
}

// ---------------------------------------------------------------------------

static int parse_scheduler(const char *s, pt_sched *out) {
    if (!strcmp(s, "constant")) *out = PT_SCHED_CONSTANT;
    else if (!strcmp(s, "linear")) *out = PT_SCHED_LINEAR;
    else if (!strcmp(s, "cosine")) *out = PT_SCHED_COSINE;
    else return cli_error(CLI_USAGE, "--scheduler: unknown schedule '%s' (use constant, linear or cosine)", s);
    return CLI_OK;
}

int cmd_train(int argc, char **argv) {
    train_opts o;
    memset(&o, 0, sizeof o);
    train_params_defaults(&o.p);
    o.p.out_dir[0] = 0;
    o.threads = cli_default_threads();
    o.r = INT_MIN;
    o.alpha = o.dropout = NAN;
    o.epochs = INT_MIN;
    o.steps = INT_MIN;
    o.eval_frac = (float)o.p.eval_frac;
    pt_train_params *p = &o.p;
    const int BIG = 1 << 30;
    cli_opt opts[] = {
        {"data", 'd', OPT_STR, &o.data, "FILE", "training data: .json/.jsonl (Alpaca, ShareGPT or messages), .csv/.tsv, "
         ".txt, or a LLaMA-Factory dataset_info.json", 0, 0},
        {"dataset", 0, OPT_STR, &o.dataset, "NAME", "the entry of the dataset_info.json given as -d (default: its only one)", 0, 0},
        {"prompt-column", 0, OPT_STR, &o.col_prompt, "NAME", "column map: the field holding the prompt (any JSON/CSV rows)", 0, 0},
        {"query-column", 0, OPT_STR, &o.col_query, "NAME", "column map: a field joined after the prompt (Alpaca's input)", 0, 0},
        {"response-column", 0, OPT_STR, &o.col_response, "NAME", "column map: the field holding the answer trained on", 0, 0},
        {"system-column", 0, OPT_STR, &o.col_system, "NAME", "column map: a per-row system prompt", 0, 0},
        {"prompt-format", 0, OPT_STR, &o.prompt_format, "TEXT", "column map: the prompt built from fields, "
         "e.g. 'Tweet text : {Tweet text} Label : '", 0, 0},
        {"model", 'm', OPT_STR, &o.model, "PATH", "base model: GGUF file or Hugging Face folder (default: $PEFTUI_MODEL, else " CLI_DEFAULT_MODEL ")", 0, 0},
        {"out", 'o', OPT_STR, &o.out, "DIR", "where the adapter and checkpoints go (default: adapters/<data name>)", 0, 0},
        {"template", 0, OPT_STR, &o.template_name, "NAME", "chat template for the rows (default: guessed from the model)", 0, 0},
        {"system", 0, OPT_STR, &o.system, "TEXT", "system message for rows without one (default: the model's own, if any)", 0, 0},
        {"config", 0, OPT_STR, &o.config, "FILE", "a PEFT adapter_config.json to take the LoRA settings from (flags still win)", 0, 0},
        {"r", 0, OPT_INT, &o.r, "N", "LoRA rank (default 8)", -BIG, BIG},
        {"alpha", 0, OPT_FLOAT, &o.alpha, "A", "lora_alpha; the update is scaled by alpha/r (default 16)", -1e30, 1e30},
        {"dropout", 0, OPT_FLOAT, &o.dropout, "P", "lora_dropout, in [0, 1) (default 0.05)", -1e30, 1e30},
        {"target-modules", 0, OPT_STR, &o.targets, "LIST", "layers to adapt: q_proj,v_proj (default for llama), ... or all-linear", 0, 0},
        {"target-regex", 0, OPT_STR, &o.target_regex, "RE", "adapt the modules whose full name matches RE (PEFT's string form)", 0, 0},
        {"modules-to-save", 0, OPT_STR, &o.modules_to_save, "LIST", "train whole copies of these modules too: lm_head, embed_tokens", 0, 0},
        {"rslora", 0, OPT_FLAG, &o.rslora, NULL, "rank-stabilised LoRA: scale by alpha/sqrt(r)", 0, 0},
        {"lr", 0, OPT_FLOAT, &p->lr, "LR", "peak learning rate (default 2e-4)", 0, 10},
        {"epochs", 0, OPT_INT, &o.epochs, "E", "passes over the data (default 3)", 1, BIG},
        {"steps", 0, OPT_INT, &o.steps, "N", "optimizer steps instead of epochs", 1, BIG},
        {"batch", 0, OPT_INT, &p->batch, "B", "sequences per micro-batch (default 4)", 1, 256},
        {"grad-accum", 0, OPT_INT, &p->grad_accum, "G", "micro-batches per optimizer step (default 1)", 1, 4096},
        {"max-seq-len", 0, OPT_INT, &p->max_seq_len, "L", "cut examples to L tokens (default 512)", 2, 1 << 20},
        {"save-every", 0, OPT_INT, &p->save_every, "N", "checkpoint every N steps; 0: only at the end (default 100)", 0, BIG},
        {"eval-every", 0, OPT_INT, &p->eval_every, "N", "eval loss every N steps; 0: only at the end (default 0)", 0, BIG},
        {"eval-frac", 0, OPT_FLOAT, &o.eval_frac, "F", "share of the rows held out for eval loss (default 0)", 0, 0.9},
        {"warmup", 0, OPT_INT, &p->warmup_steps, "N", "learning-rate warmup steps (default 0)", 0, BIG},
        {"scheduler", 0, OPT_STR, &o.scheduler, "NAME", "learning-rate schedule: constant, linear (default) or cosine", 0, 0},
        {"weight-decay", 0, OPT_FLOAT, &p->weight_decay, "W", "AdamW weight decay (default 0)", 0, 10},
        {"max-grad-norm", 0, OPT_FLOAT, &p->max_grad_norm, "G", "clip the gradient norm; 0 is off (default 1)", 0, 1e30},
        {"seed", 0, OPT_U64, &p->seed, "S", "seed for init, shuffling, split and dropout (default 42)", 0, 0},
        {"train-on-prompt", 0, OPT_FLAG, &o.train_on_prompt, NULL, "loss on every token, not only the answers", 0, 0},
        {"resume", 0, OPT_STR, &o.resume, "DIR", "continue from a checkpoint (or the newest checkpoint-N in DIR)", 0, 0},
        {"threads", 't', OPT_INT, &o.threads, "N", "CPU threads (default: the number of cores)", 1, 1024},
        {"device", 0, OPT_STR, &o.device, "NAME", "auto (default: cuda when a GPU is present, else cpu), cpu or cuda", 0, 0},
    };
    cli_command_spec spec = {"train", "-d DATA [options]",
                             "Fine-tunes a LoRA adapter on DATA. Ctrl-C stops with a checkpoint; --resume continues.",
                             opts, (int)(sizeof opts / sizeof opts[0])};
    char *pos[1];
    int n_pos, help, rc;
    if ((rc = cli_parse(&spec, argc, argv, pos, 0, &n_pos, &help)) != CLI_OK) return rc;
    if (help) { cli_print_help(&spec); return CLI_OK; }
    if (!o.data) return cli_error(CLI_USAGE, "train needs data: -d FILE (see %s train --help)", cli_progname());
    if (o.epochs != INT_MIN && o.steps != INT_MIN) return cli_error(CLI_USAGE, "give --epochs or --steps, not both");
    if (o.targets && o.target_regex) return cli_error(CLI_USAGE, "give --target-modules or --target-regex, not both");
    if (o.resume && (o.config || o.r != INT_MIN || !isnan(o.alpha) || o.targets || o.target_regex || o.rslora || o.modules_to_save))
        return cli_error(CLI_USAGE, "--resume continues its checkpoint's LoRA config: drop --config, --r, --alpha, "
                         "--rslora and the target flags");
    if (o.scheduler && (rc = parse_scheduler(o.scheduler, &p->sched)) != CLI_OK) return rc;
    if (o.epochs != INT_MIN) p->epochs = o.epochs;
    if (o.steps != INT_MIN) p->max_steps = o.steps;
    p->eval_frac = o.eval_frac;
    if (o.device && !pt_device_name_ok(o.device)) return cli_error(CLI_USAGE, "unknown device '%s' (use auto, cpu or cuda)", o.device);
    if (o.system && pt_utf8_invalid_at(o.system, strlen(o.system))) return cli_error(CLI_USAGE, "the --system text is not valid UTF-8");
    if (o.out && strlen(o.out) >= sizeof p->out_dir) return cli_error(CLI_USAGE, "-o: the path is too long");
    if (o.out) memcpy(p->out_dir, o.out, strlen(o.out) + 1);

    pt_lora_config cfg;
    int have_cfg = 0;
    pt_err err = {0};
    lora_config_defaults(&cfg);
    if (!o.resume) {
        pt_lora_flags f;
        pt_lora_flags_default(&f);
        f.config = o.config;
        f.r = o.r;
        f.alpha = o.alpha;
        f.dropout = o.dropout;
        f.targets = o.targets;
        f.target_regex = o.target_regex;
        f.modules_to_save = o.modules_to_save;
        f.rslora = o.rslora;
        if (pt_lora_config_build(&cfg, &f, &err) != PT_OK)   // a bad flag is a usage error, a bad --config file not
            return cli_error(!o.config && err.code == PT_ERR_ARG ? CLI_USAGE : CLI_ERR, "%s", err.msg);
        have_cfg = 1;
    } else if (!isnan(o.dropout)) {
        cfg.lora_dropout = o.dropout;   // with --resume: only the dropout can change
    }

    cli_common c;
    cli_common_defaults(&c);
    c.model = o.model;
    c.threads = o.threads;
    c.backend = o.device ? o.device : "auto";
    pt_ws *ws = NULL;
    int job = 0;
    if ((rc = cli_ws_open(&ws, &c)) != CLI_OK) goto done;
    pt_train_request r;
    pt_train_request_default(&r);
    r.data = o.data;
    r.dataset_name = o.dataset;
    const char *col_src[5] = {o.col_prompt, o.col_query, o.col_response, o.col_system, o.prompt_format};
    char *col_dst[5] = {r.columns.prompt, r.columns.query, r.columns.response, r.columns.system, r.columns.prompt_format};
    size_t col_cap[5] = {sizeof r.columns.prompt, sizeof r.columns.query, sizeof r.columns.response,
                         sizeof r.columns.system, sizeof r.columns.prompt_format};
    for (int k = 0; k < 5; k++)
        if (col_src[k] && (size_t)snprintf(col_dst[k], col_cap[k], "%s", col_src[k]) >= col_cap[k]) {
            rc = cli_error(CLI_USAGE, "a column name or prompt format is longer than %zu bytes", col_cap[k] - 1);
            goto done;
        }
    r.template_name = o.template_name;
    r.system = o.system;
    r.train_on_prompt = o.train_on_prompt;
    r.lora = o.resume && isnan(o.dropout) ? NULL : &cfg;
    r.resume = o.resume;
    r.params = *p;
    if (pt_train_start(ws, &r, &job, NULL, &err) != PT_OK) {
        // the config's own faults and a bad --template are the user's flags
        int usage = (!o.config && err.code == PT_ERR_ARG && !o.resume) || (o.template_name && err.code == PT_ERR_IO && strstr(err.msg, "template"));
        rc = cli_error(usage ? CLI_USAGE : CLI_ERR, "%s", err.msg);
        goto done;
    }
    cli_sigint_install();
    rc = watch(ws, job, &o);
done:
    if (have_cfg) lora_config_free(&cfg);
    pt_ws_destroy(ws);
    return rc;
}
