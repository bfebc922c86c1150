/*
 * px_filter.c: the filter chain of a transaction.
 *
 * Request phases run the route's filters in written order, response phases in reverse order
 * over the filters the request phase reached. Each direction has its own cursor (px_fcursor_t),
 * so a paused response never holds up the request body and the other way round. A resume is
 * never acted on inside the module's call: it activates the txn's resume event, and the phase
 * goes on from the event loop, so a module may resume from anywhere (even before returning
 * PAUSE) without re-entering the core.
 */
#include <string.h>

#include <event2/event.h>

#include "px_filter.h"
#include "px_log.h"
#include "px_module.h"
#include "px_module_api.h"
#include "px_pool.h"

static void px_filter_resume_cb(evutil_socket_t fd, short what, void *arg);

px_status_t px_filter_attach(px_txn_t *t)
{
    const px_conf_route_t *r = t->route;
    if (r == NULL || r->nfilters == 0)
        return PX_OK;
    t->filters = px_pcalloc(t->pool, r->nfilters * sizeof(*t->filters));
    if (t->filters == NULL)
        return PX_ERROR;
    t->nfilters = (unsigned)r->nfilters;
    void **wdata = t->wgen->module_data;
    for (unsigned i = 0; i < t->nfilters; i++) {
        px_txn_filter_t *tf = &t->filters[i];
        tf->f = &r->filters[i];
        tf->ctx = tf->f->conf;
        const pyxis_module_t *d = &tf->f->module->desc;
        if (d->attach != NULL) {
            px_module_current = tf->f->module;
            pyxis_rc_t rc = d->attach((pyxis_txn_t *)t, tf->f->conf,
                                      wdata ? wdata[tf->f->slot] : NULL, &tf->ctx);
            px_module_current = NULL;
            if (rc != PYXIS_OK) {
                px_log_error("%s: filter %s (line %u): attach failed", r->name, d->name,
                             tf->f->line);
                return PX_ERROR;
            }
        }
        tf->attached = 1;
    }
    return PX_OK;
}

/* The txn's resume event, made when a filter first pauses or resumes (most requests never do);
 * NULL when out of memory. */
static struct event *px_filter_resume_ev(px_txn_t *t)
{
    if (t->resume_ev != NULL)
        return t->resume_ev;
    struct event *ev = px_palloc(t->pool, event_get_struct_event_size());
    if (ev == NULL || event_assign(ev, t->worker->base, -1, 0, px_filter_resume_cb, t) < 0)
        return NULL;
    return t->resume_ev = ev;
}

static px_fcursor_t *px_filter_cursor(px_txn_t *t, px_fphase_t phase)
{
    return phase == PX_FPHASE_REQ_HEADERS || phase == PX_FPHASE_REQ_BODY ? &t->freq : &t->fresp;
}

/* How many filters a phase runs, and the index of its pos-th. */
static unsigned px_filter_count(const px_txn_t *t, px_fphase_t phase)
{
    return phase == PX_FPHASE_REQ_HEADERS || phase == PX_FPHASE_REQ_BODY ? t->nfilters
                                                                         : t->nreached;
}

static unsigned px_filter_index(const px_txn_t *t, px_fphase_t phase, unsigned pos)
{
    return phase == PX_FPHASE_REQ_HEADERS || phase == PX_FPHASE_REQ_BODY ? pos
                                                                         : t->nreached - 1 - pos;
}

int px_filter_has_body(const px_txn_t *t, px_fphase_t phase)
{
    unsigned want = phase == PX_FPHASE_REQ_BODY ? PX_FILTER_HAS_REQ_BODY : PX_FILTER_HAS_RESP_BODY;
    return t->nfilters > 0 && (t->route->filter_has & want) && !t->filter_failed;
}

static const char *px_filter_phase_name(px_fphase_t phase)
{
    switch (phase) {
    case PX_FPHASE_REQ_HEADERS: return "on_request_headers";
    case PX_FPHASE_REQ_BODY: return "on_request_body";
    case PX_FPHASE_RESP_HEADERS: return "on_response_headers";
    case PX_FPHASE_RESP_BODY: return "on_response_body";
    default: return "?";
    }
}

/* One filter's callback for a phase, or PYXIS_FILTER_CONTINUE when it has none. */
static int px_filter_call(px_txn_t *t, px_txn_filter_t *tf, px_fphase_t phase, int last,
                          int *called)
{
    const pyxis_module_t *d = &tf->f->module->desc;
    pyxis_txn_t *pt = (pyxis_txn_t *)t;
    unsigned has = tf->f->has;
    int st = PYXIS_FILTER_CONTINUE;
    *called = 0;
    if (phase == PX_FPHASE_REQ_HEADERS)
        t->body_read_asked = 0; /* req_body_read() counts only with this call's PAUSE */
    px_module_current = tf->f->module;
    px_module_set_wgen_ctx(t->wgen); /* worker timers and call-outs belong to its generation */
    switch (phase) {
    case PX_FPHASE_REQ_HEADERS:
        if ((*called = (has & PX_FILTER_HAS_REQ_HEADERS) != 0))
            st = d->on_request_headers(pt, tf->ctx);
        break;
    case PX_FPHASE_REQ_BODY:
        if ((*called = (has & PX_FILTER_HAS_REQ_BODY) != 0))
            st = d->on_request_body(pt, tf->ctx, (pyxis_chunk_t *)t->req_chunk, last);
        break;
    case PX_FPHASE_RESP_HEADERS:
        if ((*called = (has & PX_FILTER_HAS_RESP_HEADERS) != 0))
            st = d->on_response_headers(pt, tf->ctx);
        break;
    case PX_FPHASE_RESP_BODY:
        if ((*called = (has & PX_FILTER_HAS_RESP_BODY) != 0))
            st = d->on_response_body(pt, tf->ctx, (pyxis_chunk_t *)t->resp_chunk, last);
        break;
    default: break;
    }
    px_module_set_wgen_ctx(NULL);
    px_module_current = NULL;
    return st;
}

static px_status_t px_filter_run(px_txn_t *t, px_fphase_t phase, int last, px_fcont_t cont)
{
    px_fcursor_t *c = px_filter_cursor(t, phase);
    if (c->phase != phase) {
        c->phase = phase;
        c->pos = 0;
        c->has_result = 0;
        c->body_last = last != 0;
    }
    c->cont = cont;
    if (c->paused)
        return PX_AGAIN;
    if (t->filter_failed)
        return PX_ERROR;
    int st;
    unsigned i = 0;
    if (c->has_result) {
        c->has_result = 0;
        st = c->resume_status;
        i = px_filter_index(t, phase, c->pos);
        goto outcome;
    }
    while (c->pos < px_filter_count(t, phase)) {
        i = px_filter_index(t, phase, c->pos);
        if (phase == PX_FPHASE_REQ_HEADERS)
            t->nreached = t->nlog = i + 1;
        int called;
        c->in_call = 1;
        st = px_filter_call(t, &t->filters[i], phase, c->body_last, &called);
        c->in_call = 0;
        if (!called) {
            c->pos++;
            continue;
        }
    outcome:
        switch (st) {
        case PYXIS_FILTER_CONTINUE: c->pos++; continue;
        case PYXIS_FILTER_PAUSE:
            if (px_filter_resume_ev(t) == NULL) {
                px_log_error("%s: out of memory pausing filter %s", t->route->name,
                             t->filters[i].f->module->desc.name);
                break;
            }
            c->paused = 1;
            return PX_AGAIN;
        case PYXIS_FILTER_STOP:
            if (!t->replying || phase == PX_FPHASE_RESP_BODY) {
                px_log_error("%s: filter %s returned STOP from %s without a local reply "
                             "(respond())",
                             t->route->name, t->filters[i].f->module->desc.name,
                             px_filter_phase_name(phase));
                break;
            }
            if (phase == PX_FPHASE_REQ_HEADERS || phase == PX_FPHASE_REQ_BODY)
                t->nreached = i; /* the filter that answered does not filter its answer */
            c->phase = PX_FPHASE_NONE;
            return PX_DECLINED;
        default:
            px_log_error("%s %s: filter %s failed in %s", t->route->name, t->down->peer_text,
                         t->filters[i].f->module->desc.name, px_filter_phase_name(phase));
            break;
        }
        t->filter_failed = 1;
        t->error = "filter failed";
        c->phase = PX_FPHASE_NONE;
        return PX_ERROR;
    }
    c->phase = PX_FPHASE_NONE;
    return PX_OK;
}

px_status_t px_filter_headers(px_txn_t *t, px_fphase_t phase, px_fcont_t cont)
{
    if (t->nfilters == 0)
        return PX_OK;
    return px_filter_run(t, phase, 0, cont);
}

px_status_t px_filter_body(px_txn_t *t, px_fphase_t phase, int last, px_fcont_t cont)
{
    if (t->nfilters == 0)
        return PX_OK;
    return px_filter_run(t, phase, last, cont);
}

void px_filter_resume(px_txn_t *t, int status)
{
    px_fcursor_t *c = NULL;
    /* The direction paused by the calling module; else the response, else the request. */
    px_fcursor_t *cands[2] = {&t->fresp, &t->freq};
    for (int k = 0; k < 2 && c == NULL; k++) {
        px_fcursor_t *x = cands[k];
        if ((x->paused || x->in_call) && !x->resumed && x->phase != PX_FPHASE_NONE) {
            unsigned i = px_filter_index(t, x->phase, x->pos);
            if (i < t->nfilters && t->filters[i].f->module == px_module_current)
                c = x;
        }
    }
    for (int k = 0; k < 2 && c == NULL; k++) {
        px_fcursor_t *x = cands[k];
        if ((x->paused || x->in_call) && !x->resumed)
            c = x;
    }
    if (c == NULL) {
        px_log_warn("%s: resume() called on a request with no paused filter (ignored)",
                    t->route ? t->route->name : t->listener->name);
        return;
    }
    c->resumed = 1;
    c->resume_status = status;
    if (px_filter_resume_ev(t) == NULL) {
        /* Only from inside the paused call (the event exists once it returned PAUSE): the
         * PAUSE then fails the request. */
        px_log_error("%s: out of memory resuming a filter", t->route->name);
        return;
    }
    event_active(t->resume_ev, EV_TIMEOUT, 0);
}

static void px_filter_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    px_txn_t *t = arg;
    px_fcursor_t *c = NULL;
    if (t->freq.resumed && t->freq.paused)
        c = &t->freq;
    if (t->fresp.resumed && t->fresp.paused) {
        if (c != NULL)
            event_active(t->resume_ev, EV_TIMEOUT, 0); /* the other one next time round */
        c = &t->fresp;
    }
    if (c == NULL) {
        /* resume() came but the callback did not return PAUSE: nothing waits for it. */
        if (t->freq.resumed && !t->freq.paused && !t->freq.in_call)
            t->freq.resumed = 0;
        if (t->fresp.resumed && !t->fresp.paused && !t->fresp.in_call)
            t->fresp.resumed = 0;
        return;
    }
    c->paused = 0;
    c->resumed = 0;
    c->has_result = 1;
    c->cont(t); /* may free t */
}

void px_filter_log(px_txn_t *t)
{
    if (t->nfilters == 0 || !(t->route->filter_has & PX_FILTER_HAS_LOG))
        return;
    unsigned n = t->nlog > t->nreached ? t->nlog : t->nreached;
    for (unsigned i = 0; i < n; i++) {
        px_txn_filter_t *tf = &t->filters[i];
        if (!(tf->f->has & PX_FILTER_HAS_LOG))
            continue;
        px_module_current = tf->f->module;
        px_module_set_wgen_ctx(t->wgen);
        tf->f->module->desc.on_log((pyxis_txn_t *)t, tf->ctx);
        px_module_set_wgen_ctx(NULL);
        px_module_current = NULL;
    }
}

void px_filter_detach(px_txn_t *t)
{
    if (t->resume_ev != NULL)
        event_del(t->resume_ev);
    for (unsigned i = t->nfilters; i-- > 0;) {
        px_txn_filter_t *tf = &t->filters[i];
        if (!tf->attached || tf->f->module->desc.detach == NULL)
            continue;
        px_module_current = tf->f->module;
        tf->f->module->desc.detach((pyxis_txn_t *)t, tf->ctx);
        px_module_current = NULL;
    }
    t->nfilters = 0;
}
