// ws_events.c - the workspace's event queue: a bounded ring that workers
// push to and the front end drains, with an eventfd that is readable exactly
// while the ring holds something, so a UI can poll() it beside its keys.
// A full ring drops the newest event and counts it; the next event that
// fits is preceded by a PT_EV_DROPPED saying how many were lost.
#include "workspace/ws_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

int ws_queue_init(ws_queue *q, pt_err *err) {
    memset(q, 0, sizeof *q);
    q->fd = -1;
    q->ev = calloc(WS_QUEUE, sizeof *q->ev);
    if (!q->ev) return pt_fail(err, PT_ERR_NOMEM, "out of memory for the event queue");
    q->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (q->fd < 0) {
        free(q->ev);
        q->ev = NULL;
        return pt_fail(err, PT_ERR_IO, "cannot make the event descriptor: %s", strerror(errno));
    }
    pthread_mutex_init(&q->mu, NULL);
    return PT_OK;
}

void ws_queue_free(ws_queue *q) {
    if (!q->ev) return;
    close(q->fd);
    free(q->ev);
    pthread_mutex_destroy(&q->mu);
    memset(q, 0, sizeof *q);
}

static void signal_fd(ws_queue *q) {
    uint64_t one = 1;
    ssize_t w = write(q->fd, &one, sizeof one);   // only fails when the counter would overflow: it is readable then
    (void)w;
}

void ws_push(pt_ws *ws, const pt_event *e) {
    ws_queue *q = &ws->q;
    pthread_mutex_lock(&q->mu);
    int was_empty = q->head == q->tail;
    long room = WS_QUEUE - (q->tail - q->head);
    if (q->unannounced && room >= 2) {
        pt_event *d = &q->ev[q->tail++ % WS_QUEUE];
        memset(d, 0, sizeof *d);
        d->kind = PT_EV_DROPPED;
        d->column = -1;
        d->n = q->unannounced;
        snprintf(d->text, sizeof d->text, "%ld events were lost: the queue was full", q->unannounced);
        q->unannounced = 0;
        room--;
    }
    if (room >= 1 && !q->unannounced) {
        q->ev[q->tail++ % WS_QUEUE] = *e;
    } else {
        q->dropped++;
        q->unannounced++;
    }
    if (was_empty && q->head != q->tail) signal_fd(q);
    pthread_mutex_unlock(&q->mu);
}

void ws_push_text(pt_ws *ws, pt_ev_kind kind, int src, int status, const char *fmt, ...) {
    pt_event e;
    memset(&e, 0, sizeof e);
    e.kind = kind;
    e.src = src;
    e.column = -1;
    e.status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.text, sizeof e.text, fmt, ap);
    va_end(ap);
    ws_push(ws, &e);
}

int pt_ws_event_fd(pt_ws *ws) { return ws->q.fd; }

int pt_ws_events(pt_ws *ws, pt_event *ev, int cap) {
    ws_queue *q = &ws->q;
    int n = 0;
    pthread_mutex_lock(&q->mu);
    while (n < cap && q->head != q->tail) ev[n++] = q->ev[q->head++ % WS_QUEUE];
    if (q->head == q->tail) {   // drained: the descriptor stops being readable
        uint64_t v;
        ssize_t r = read(q->fd, &v, sizeof v);
        (void)r;
    }
    pthread_mutex_unlock(&q->mu);
    return n;
}

int pt_ws_wait_event(pt_ws *ws, int timeout_ms) {
    struct pollfd p = {.fd = ws->q.fd, .events = POLLIN};
    for (;;) {
        int r = poll(&p, 1, timeout_ms);
        if (r < 0 && errno == EINTR) return 0;   // a signal: let the caller look at it
        return r > 0;
    }
}

long pt_ws_dropped(pt_ws *ws) {
    pthread_mutex_lock(&ws->q.mu);
    long n = ws->q.dropped;
    pthread_mutex_unlock(&ws->q.mu);
    return n;
}
