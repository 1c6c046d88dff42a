/* metrics_http — GET /metrics on the gateway's loop (see metrics.h for what it answers).
 *
 * One request per connection.  Bounds: GW_METRICS_MAX_CONNS connections (more are closed at
 * accept), the request head is read up to GW_METRICS_HEAD_MAX bytes (the read high watermark
 * stops reading beyond it), each connection lives GW_METRICS_TIMEOUT_S seconds at most.  After
 * the answer the write side is shut and the rest of the request is read and thrown away (at most
 * DISCARD_MAX bytes) so that the client sees the answer rather than a reset.
 */
#include "metrics.h"

#include "vg_addr.h"
#include "vg_alloc.h"
#include "vg_http.h"
#include "vg_log.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DISCARD_MAX (4u << 20)

_Static_assert(GW_METRICS_HEAD_MAX == VG_HTTP_HEAD_MAX, "the head bound is vg_http's");
#define ACCEPT_BACKOFF_MS 250

struct mlistener {
    struct mlistener *next;
    struct gw_metrics_server *s;
    struct evconnlistener *l;
    struct event *backoff;
    char addr[VG_ADDRSTRLEN];
};

struct mconn {
    struct mconn *prev, *next;
    struct gw_metrics_server *s;
    struct bufferevent *bev;
    struct event *deadline;
    bool answered; /* the answer is queued: drain the input, shut down once it is sent */
    size_t discarded;
};

struct gw_metrics_server {
    struct event_base *base;
    struct mlistener *listeners;
    struct mconn *conns;
    unsigned nconns;
};

static void conn_free(struct mconn *c)
{
    struct gw_metrics_server *s = c->s;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    bufferevent_free(c->bev);
    event_free(c->deadline);
    vg_free(c);
}

static void answer(struct mconn *c, int code, const char *ctype, const char *body, size_t len,
                   bool head_only)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    char headers[256], head[512];
    int hn = snprintf(headers, sizeof headers,
                      "Content-Type: %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n", ctype,
                      len, code == 405 ? "Allow: GET, HEAD\r\n" : "");
    size_t n = hn > 0 && (size_t)hn < sizeof headers
                   ? vg_http_build_response(head, sizeof head, code, headers)
                   : 0;
    if (n == 0) { /* cannot happen with these headers; answer nothing rather than half a head */
        conn_free(c);
        return;
    }
    evbuffer_add(out, head, n);
    if (!head_only)
        evbuffer_add(out, body, len);
    c->answered = true;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    c->discarded += evbuffer_get_length(in);
    evbuffer_drain(in, evbuffer_get_length(in));
    bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
}

static void answer_text(struct mconn *c, int code, const char *text)
{
    answer(c, code, "text/plain; charset=utf-8", text, strlen(text), false);
}

static void answer_metrics(struct mconn *c, bool head_only)
{
    size_t cap = 32768;
    char *buf = vg_malloc(cap);
    gw_metrics_refresh();
    size_t n = buf ? gw_metrics_format(gw_metrics_get(), buf, cap) : 0;
    if (buf && n >= cap) {
        vg_free(buf);
        cap = n + 1;
        if ((buf = vg_malloc(cap)) != NULL)
            n = gw_metrics_format(gw_metrics_get(), buf, cap);
    }
    if (buf == NULL) {
        answer_text(c, 500, "out of memory\n");
        return;
    }
    answer(c, 200, GW_METRICS_CONTENT_TYPE, buf, n, head_only);
    vg_free(buf);
}

/* A complete request head, parsed. */
static void handle(struct mconn *c, const struct vg_http_request *rq)
{
    bool get = strcmp(rq->method, "GET") == 0;
    bool head = strcmp(rq->method, "HEAD") == 0;
    if (!get && !head) {
        answer_text(c, 405, "only GET /metrics\n");
        return;
    }
    const char *t = rq->target;
    if (strncmp(t, "/metrics", 8) == 0 && (t[8] == '\0' || t[8] == '?')) {
        answer_metrics(c, head);
        return;
    }
    static const char nf[] = "not found; try /metrics\n";
    answer(c, 404, "text/plain; charset=utf-8", nf, sizeof nf - 1, head);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct mconn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    if (c->answered) {
        c->discarded += evbuffer_get_length(in);
        evbuffer_drain(in, evbuffer_get_length(in));
        if (c->discarded > DISCARD_MAX)
            conn_free(c);
        return;
    }
    /* the parser reads at most VG_HTTP_HEAD_MAX bytes: make those contiguous */
    size_t len = evbuffer_get_length(in);
    if (len > VG_HTTP_HEAD_MAX)
        len = VG_HTTP_HEAD_MAX;
    const uint8_t *buf = evbuffer_pullup(in, (ev_ssize_t)len);
    struct vg_http_request rq;
    size_t used;
    int status = 400;
    enum vg_parse r = buf ? vg_http_parse_request(buf, len, &rq, &used, &status) : VG_P_ERROR;
    if (r == VG_P_NEED_MORE)
        return;
    if (r == VG_P_OK) {
        handle(c, &rq);
    } else if (status == 431) {
        answer_text(c, 431, "request head too large\n");
    } else {
        /* 400 also for a version other than HTTP/1.0 and 1.1 (the parser's 505), as documented
         * in metrics.h: scrapers speak HTTP/1.x */
        answer_text(c, 400, "bad request\n");
    }
}

static void on_write(struct bufferevent *bev, void *arg)
{
    struct mconn *c = arg;
    if (c->answered) /* all sent: tell the client, then read until it closes */
        shutdown(bufferevent_getfd(bev), SHUT_WR);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    (void)what; /* EOF, an error: done either way */
    conn_free(arg);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_free(arg);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    (void)l;
    (void)sa;
    (void)salen;
    struct mlistener *li = arg;
    struct gw_metrics_server *s = li->s;
    struct mconn *c = NULL;
    if (s->nconns >= GW_METRICS_MAX_CONNS || (c = vg_calloc(1, sizeof *c)) == NULL) {
        close(fd);
        return;
    }
    c->s = s;
    c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    c->deadline = evtimer_new(s->base, on_deadline, c);
    if (c->bev == NULL || c->deadline == NULL) {
        if (c->bev)
            bufferevent_free(c->bev);
        else
            close(fd);
        if (c->deadline)
            event_free(c->deadline);
        vg_free(c);
        return;
    }
    struct timeval tv = {GW_METRICS_TIMEOUT_S, 0};
    evtimer_add(c->deadline, &tv);
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    bufferevent_setwatermark(c->bev, EV_READ, 0, GW_METRICS_HEAD_MAX);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
}

static void on_backoff_over(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct mlistener *li = arg;
    evconnlistener_enable(li->l);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
    struct mlistener *li = arg;
    int err = EVUTIL_SOCKET_ERROR();
    vg_warn("metrics %s: accept: %s; pausing for %d ms", li->addr, strerror(err),
            ACCEPT_BACKOFF_MS);
    evconnlistener_disable(l);
    struct timeval tv = {0, ACCEPT_BACKOFF_MS * 1000};
    event_add(li->backoff, &tv);
}

struct open_ctx {
    struct gw_metrics_server *s;
    char *err;
    size_t errlen;
};

static bool open_one(const char *item, void *arg)
{
    struct open_ctx *o = arg;
    struct sockaddr_storage ss;
    socklen_t len;
    if (!vg_sockaddr_parse(item, 0, &ss, &len)) {
        snprintf(o->err, o->errlen, "metrics-listen: '%s' is not ADDR:PORT or [ADDR]:PORT", item);
        return false;
    }
    struct mlistener *li = vg_calloc(1, sizeof *li);
    if (li == NULL) {
        snprintf(o->err, o->errlen, "out of memory");
        return false;
    }
    li->s = o->s;
    vg_sockaddr_format((struct sockaddr *)&ss, true, li->addr, sizeof li->addr);
    int one = 1;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        (ss.ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) ||
        bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 64) != 0) {
        snprintf(o->err, o->errlen, "metrics-listen %s: %s", li->addr, strerror(errno));
        if (fd >= 0)
            close(fd);
        vg_free(li);
        return false;
    }
    li->l = evconnlistener_new(o->s->base, on_accept, li,
                               LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
    li->backoff = evtimer_new(o->s->base, on_backoff_over, li);
    if (li->l == NULL || li->backoff == NULL) {
        snprintf(o->err, o->errlen, "metrics-listen %s: out of memory", li->addr);
        if (li->l)
            evconnlistener_free(li->l);
        else
            close(fd);
        if (li->backoff)
            event_free(li->backoff);
        vg_free(li);
        return false;
    }
    evconnlistener_set_error_cb(li->l, on_accept_error);
    li->next = o->s->listeners;
    o->s->listeners = li;
    return true;
}

struct gw_metrics_server *gw_metrics_serve(struct event_base *base, const char *listen, char *err,
                                           size_t errlen)
{
    struct gw_metrics_server *s = vg_calloc(1, sizeof *s);
    char *copy = vg_strdup(listen);
    if (s == NULL || copy == NULL) {
        snprintf(err, errlen, "out of memory");
        vg_free(s);
        vg_free(copy);
        return NULL;
    }
    s->base = base;
    struct open_ctx o = {s, err, errlen};
    bool ok = vg_list_foreach(copy, open_one, &o);
    vg_free(copy);
    if (ok && s->listeners == NULL) {
        snprintf(err, errlen, "metrics-listen: no address");
        ok = false;
    }
    if (!ok) {
        gw_metrics_server_free(s);
        return NULL;
    }
    for (struct mlistener *li = s->listeners; li; li = li->next)
        vg_notice("metrics on http://%s/metrics", li->addr);
    return s;
}

void gw_metrics_server_free(struct gw_metrics_server *s)
{
    if (s == NULL)
        return;
    while (s->conns)
        conn_free(s->conns);
    while (s->listeners) {
        struct mlistener *li = s->listeners;
        s->listeners = li->next;
        evconnlistener_free(li->l);
        event_free(li->backoff);
        vg_free(li);
    }
    vg_free(s);
}
