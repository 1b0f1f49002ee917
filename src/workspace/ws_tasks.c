// ws_tasks.c - the workspace's task thread: loading models, adapters and
// datasets, saving, exporting and merging run here one at a time, in the
// order asked, each ending with a PT_EV_TASK event.
#include "workspace/ws_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *task_main(void *arg) {
    pt_ws *ws = arg;
    pthread_mutex_lock(&ws->mu);
    for (;;) {
        while (!ws->task_head && !ws->quit) pthread_cond_wait(&ws->task_cv, &ws->mu);
        if (!ws->task_head) break;   // quit, nothing left
        ws_task *t = ws->task_head;
        ws->task_head = t->next;
        if (!ws->task_head) ws->task_tail = NULL;
        ws->task_running = t->id;
        pthread_mutex_unlock(&ws->mu);

        pt_err err = {0};
        int rc = ws->quit ? pt_fail(&err, PT_ERR_ABORTED, "the workspace is closing") : t->fn(ws, t, &err);
        pt_event e;
        memset(&e, 0, sizeof e);
        e.kind = PT_EV_TASK;
        e.src = t->id;
        e.column = -1;
        e.status = rc;
        e.n = t->made;
        snprintf(e.text, sizeof e.text, "%s", rc ? err.msg : t->done_text);
        ws_push(ws, &e);
        if (t->free_arg) t->free_arg(t->arg);
        else free(t->arg);

        pthread_mutex_lock(&ws->mu);
        ws->task_running = 0;
        ws_record_done(ws, t->id, rc, &err);
        free(t);
    }
    pthread_mutex_unlock(&ws->mu);
    return NULL;
}

int ws_task_post(pt_ws *ws, ws_task_fn fn, void *arg, void (*free_arg)(void *), pt_err *err) {
    ws_task *t = calloc(1, sizeof *t);
    if (!t) {
        if (free_arg) free_arg(arg);
        else free(arg);
        pt_fail(err, PT_ERR_NOMEM, "out of memory");
        return 0;
    }
    t->fn = fn;
    t->arg = arg;
    t->free_arg = free_arg;
    pthread_mutex_lock(&ws->mu);
    t->id = ws_new_id(ws);
    if (ws->task_tail) ws->task_tail->next = t;
    else ws->task_head = t;
    ws->task_tail = t;
    int id = t->id;
    pthread_cond_signal(&ws->task_cv);
    pthread_mutex_unlock(&ws->mu);
    return id;
}

int ws_tasks_start(pt_ws *ws, pt_err *err) {
    if (pthread_create(&ws->task_thread, NULL, task_main, ws) != 0)
        return pt_fail(err, PT_ERR_INTERNAL, "cannot start the workspace's task thread: %s", strerror(errno));
    ws->task_started = 1;
    return PT_OK;
}

// Tasks still queued are told the workspace is closing (their events come,
// their arguments are freed); the running one finishes.
void ws_tasks_stop(pt_ws *ws) {
    if (!ws->task_started) return;
    pthread_mutex_lock(&ws->mu);
    ws->quit = 1;
    pthread_cond_broadcast(&ws->task_cv);
    pthread_mutex_unlock(&ws->mu);
    pthread_join(ws->task_thread, NULL);
    ws->task_started = 0;
}
