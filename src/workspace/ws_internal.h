// ws_internal.h - the workspace's insides, shared by its files (ws_*.c).
// Not for front ends: they include peftui.h only.
//
// Locking: ws->mu guards everything in pt_ws and in the registry, the
// worker tables and their flags; heavy work (forward passes, training,
// loading) runs outside it, on state its thread owns. The event queue has a
// lock of its own (ws->q.mu), always taken after ws->mu, never before.
#ifndef PT_WS_INTERNAL_H
#define PT_WS_INTERNAL_H

#include <pthread.h>

#include "backend/backend.h"
#include "infer/forward.h"
#include "infer/generate.h"
#include "lora/adapter_dev.h"
#include "lora/lora.h"
#include "model/model.h"
#include "model/weights_dev.h"
#include "text/chat_template.h"
#include "train/dataset.h"
#include "train/trainer.h"
#include "workspace/peftui.h"

#define WS_QUEUE 4096   // events held at most (a UI drains them ~30 times a second)
#define WS_SNAPS 6      // snapshots of an adapter in training: the newest, and those chats still read

// ---- events (ws_events.c) ----

typedef struct {
    pthread_mutex_t mu;
    pt_event *ev;       // (WS_QUEUE) ring
    long head, tail;    // taken, added
    long dropped, unannounced;
    int fd;             // eventfd: readable while the ring is not empty
} ws_queue;

int ws_queue_init(ws_queue *q, pt_err *err);
void ws_queue_free(ws_queue *q);
void ws_push(pt_ws *ws, const pt_event *e);
void ws_push_text(pt_ws *ws, pt_ev_kind kind, int src, int status, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

// ---- the registry (ws_adapters.c) ----

typedef struct {
    pt_adapter_dev d;   // a copy on the device (its own buffer everywhere)
    int ok;             // d is allocated
    int refs;           // chats and compares reading it now
    int step;           // the optimizer step it holds
} ws_snap;

typedef struct {
    int id;
    pt_adapter a;       // host copy; valid when have_a
    int have_a;
    pt_adapter_dev dev; // on the root backend (aliases a on the CPU); valid when have_dev
    int have_dev;
    pt_adapter_state state;
    int users;          // chats and compares holding it
    int job;            // training it (0: none)
    int version;        // bumped whenever its parameters change (a finished job, a load)
    int step;
    float last_loss;
    float scale;
    int saved, base_matches;
    char path[1024];
    char name[128];
    char error[512];    // why a load failed (state FAILED)
    ws_snap snap[WS_SNAPS];
    int latest;         // snap holding the newest step, -1 none
} ws_adapter;

// What a reader holds while it runs with an adapter: the view the backend
// reads, and the snapshot it pinned (or none).
typedef struct {
    ws_adapter *ad;     // NULL: the base
    const pt_adapter *view;
    int snap;           // -1: the registry's mirror itself
    int version;        // what the parameters are: (version, snapshot step)
    float scale;
    int touches_cache;
} ws_hold;

ws_adapter *ws_adapter_get(pt_ws *ws, int id);   // under ws->mu; NULL: no such adapter
// Under ws->mu: pins what a reader uses for adapter id at scale (NAN: the
// registry's). PT_BASE gives the base. Fails (message) when it cannot be used now.
int ws_hold_take(pt_ws *ws, int id, float scale, ws_hold *h, pt_err *err);
void ws_hold_release(pt_ws *ws, ws_hold *h);   // under ws->mu
// A new registry entry (state LOADING), under ws->mu.
ws_adapter *ws_adapter_new(pt_ws *ws, const char *name);
void ws_adapter_free(pt_ws *ws, ws_adapter *ad);   // its memory; the caller unlinks it
// Mirrors ad->a on the device (have_a set; outside the lock is fine while
// nobody else can see the parameters).
int ws_adapter_mirror(pt_ws *ws, ws_adapter *ad, pt_err *err);
// The snapshot hooks of a job training ad (ws_train.c calls them).
void ws_adapter_publish(pt_ws *ws, ws_adapter *ad, pt_backend *lane, const float *params, size_t n, int step);
void ws_adapter_snaps_free(pt_ws *ws, ws_adapter *ad);   // the unpinned ones (under ws->mu)
void ws_adapters_clear(pt_ws *ws);   // every entry (no users left), under ws->mu

// ---- tasks (ws_tasks.c) ----

typedef struct ws_task ws_task;
typedef int (*ws_task_fn)(pt_ws *ws, ws_task *t, pt_err *err);
struct ws_task {
    int id;
    ws_task_fn fn;
    void *arg;          // owned by the task; freed with free() after it ran
    void (*free_arg)(void *arg);   // or this
    int made;           // what it made (an id), reported as the event's n
    char done_text[1024];
    ws_task *next;
};
// Queues fn(arg) on the task thread; returns its id (the event's src), or 0.
int ws_task_post(pt_ws *ws, ws_task_fn fn, void *arg, void (*free_arg)(void *), pt_err *err);
int ws_tasks_start(pt_ws *ws, pt_err *err);
void ws_tasks_stop(pt_ws *ws);

// ---- workers ----

typedef struct ws_chat ws_chat;
typedef struct ws_job ws_job;
typedef struct ws_cmp ws_cmp;
typedef struct ws_dataset ws_dataset;

// An id's ending, for pt_ws_wait.
typedef struct {
    int id;
    int rc;
    pt_err err;
} ws_done;

struct pt_ws {
    pthread_mutex_t mu;
    pthread_cond_t cv;          // something ended or changed state (pt_ws_wait, closes)
    pt_ws_opts opts;
    char device[16];
    int budget;                 // threads
    pt_backend *be;             // the root backend: the device; every worker runs on a fork of it

    // the model
    int have_model, loading;
    int load_phase;              // while loading: 0 queued, 1 reading the file, 2 weights to the device
    int merging;                // an adapter is being folded into the base (or out of it)
    pt_model model;
    pt_bweights bw;             // the base on be, shared by every runtime and training graph
    int have_bw;
    int n_ctx;                  // chats' and compares' default context

    int next_id;
    ws_adapter **ads;           // (n_ads) in the order added
    int n_ads, cap_ads;
    ws_chat **chats;
    int n_chats, cap_chats;
    ws_job **jobs;
    int n_jobs, cap_jobs;
    ws_cmp **cmps;
    int n_cmps, cap_cmps;
    ws_dataset **dss;
    int n_dss, cap_dss;
    ws_done *done;              // endings of tasks (the rest keep theirs in their worker)
    int n_done, cap_done;
    int n_active;               // workers computing now (the thread budget's divisor)
    int n_readers;              // calls reading the model outside the lock (benchmarks)

    ws_queue q;

    pthread_t task_thread;
    int task_started, quit;
    pthread_cond_t task_cv;
    ws_task *task_head, *task_tail;
    int task_running;           // id of the task running now (0: none)
};

// snprintf for messages that may be cut (paths are long; events are 1 KiB).
void ws_fmt(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

// The status an error record holds (PT_ERR_INTERNAL when it holds none).
static inline int ws_code(const pt_err *e) { return e && e->code ? (int)e->code : PT_ERR_INTERNAL; }

int ws_new_id(pt_ws *ws);                        // under ws->mu
// Grows a pointer table by one slot; -1 out of memory.
int ws_table_add(void ***tab, int *n, int *cap, void *p);
void ws_table_remove(void **tab, int *n, void *p);
// The entry with this id, or NULL; every table's entries begin with their int id.
void *ws_table_find(void *const *tab, int n, int id);
void ws_record_done(pt_ws *ws, int id, int rc, const pt_err *err);   // under ws->mu; broadcasts
// The thread share of one computing worker now, and entering or leaving the computing set.
int ws_share(pt_ws *ws);
void ws_active(pt_ws *ws, int delta);
// Under ws->mu: refused (message) when no model is loaded or one is loading.
int ws_need_model(pt_ws *ws, pt_err *err);
// Whether anything holds the model (jobs, chats, compares, datasets), under ws->mu.
int ws_model_busy(pt_ws *ws);
// A fork of the root backend for a worker.
int ws_lane(pt_ws *ws, pt_backend **out, pt_err *err);

// The chat template by name (NULL: guessed from the model) and, when it is
// the model's own, the default system message its Jinja writes (malloc'd or NULL).
int ws_template_open(pt_ws *ws, const char *name, pt_chat_template **t, char **default_system, pt_err *err);

// The workers' own teardown (each file's), used by pt_ws_destroy.
void ws_chats_destroy(pt_ws *ws);
void ws_jobs_destroy(pt_ws *ws);
void ws_cmps_destroy(pt_ws *ws);
void ws_datasets_destroy(pt_ws *ws);
// For pt_ws_wait: the ending of a worker id (1 done, 0 running, -1 not theirs), under ws->mu.
int ws_chat_ended(pt_ws *ws, int id, int *rc, pt_err *err);
int ws_job_ended(pt_ws *ws, int id, int *rc, pt_err *err);
int ws_cmp_ended(pt_ws *ws, int id, int *rc, pt_err *err);
int ws_dataset_users(pt_ws *ws);

#endif
