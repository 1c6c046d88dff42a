/* Control streams (host ↔ agent) and the local control socket (guest programs ↔ agent).
 *
 * A guest program connects to the unix socket and writes "req id=<n> op=<op> ..." lines; it reads
 * "event id=<n> status=ok|error ..." lines.  op=info is answered by the agent itself (what the
 * host told it: hello + settings); every other op goes to the host over the newest control
 * stream with an id of the agent's own, and the host's event is passed back with the program's
 * id.  Every request gets exactly one event: from the host, or status=error with reason=no-host,
 * session-lost (the host went away or restarted) or timeout.
 */
#include "agent.h"

#include "vg_alloc.h"
#include "vg_log.h"
#include "vg_mux.h"
#include "vg_mux_ctl.h"
#include "vg_time.h"
#include "vg_version.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CTL_REQ_TIMEOUT_MS 60000
#define CTL_CLIENT_OUT_MAX (1u << 20)
#define CTL_MAX_SETTINGS 64

struct agent_ctl;

struct ctl_host {
    struct agent_ctl *c;
    struct vg_mux_stream *s;
    LIST_ENTRY(ctl_host) link;
};

struct ctl_client {
    struct agent_ctl *c;
    struct bufferevent *bev;
    bool eof; /* the program half-closed: close once its requests are answered and written */
    LIST_ENTRY(ctl_client) link;
};

struct ctl_pending {
    unsigned long long gid;
    struct ctl_client *cl;
    char cid[64];
    uint64_t deadline;
    LIST_ENTRY(ctl_pending) link;
};

struct agent_ctl {
    struct agent *a;
    int lfd;
    char *path;
    struct event *lev, *sweep;
    LIST_HEAD(, ctl_host) hosts;
    LIST_HEAD(, ctl_client) clients;
    LIST_HEAD(, ctl_pending) pending;
    unsigned long long next_gid;
    char name[256], zone[256], host[256];
    unsigned nset;
    struct {
        char key[32];
        char val[512];
    } set[CTL_MAX_SETTINGS];
};

/* ------------------------------------------------------------------------------ output */

static void to_host(struct ctl_host *h, struct vg_ctl_out *o)
{
    const char *line = vg_ctl_end(o);
    if (line)
        vg_mux_stream_write(h->s, line, o->len);
}

static void to_client(struct ctl_client *cl, struct vg_ctl_out *o)
{
    const char *line = vg_ctl_end(o);
    if (line)
        bufferevent_write(cl->bev, line, o->len);
}

static void client_event(struct ctl_client *cl, const char *id, const char *status,
                         const char *reason)
{
    struct vg_ctl_out o;
    vg_ctl_begin(&o, "event");
    vg_ctl_add(&o, "id", id ? id : "0");
    vg_ctl_add(&o, "status", status);
    if (reason)
        vg_ctl_add(&o, "reason", reason);
    to_client(cl, &o);
}

static void client_settle(struct ctl_client *cl);

static void pending_fail(struct ctl_pending *p, const char *reason)
{
    struct ctl_client *cl = p->cl;
    if (cl)
        client_event(cl, p->cid, "error", reason);
    LIST_REMOVE(p, link);
    vg_free(p);
    if (cl)
        client_settle(cl);
}

/* ------------------------------------------------------------------------------ host side */

static void host_free(struct ctl_host *h)
{
    LIST_REMOVE(h, link);
    vg_mux_stream_free(h->s);
    vg_free(h);
}

static void host_reply(struct ctl_host *h, const char *id, const char *status, const char *reason)
{
    struct vg_ctl_out o;
    vg_ctl_begin(&o, "event");
    vg_ctl_add(&o, "id", id ? id : "0");
    vg_ctl_add(&o, "status", status);
    if (reason)
        vg_ctl_add(&o, "reason", reason);
    to_host(h, &o);
}

static void store_setting(struct agent_ctl *c, const char *k, const char *v)
{
    unsigned i;
    for (i = 0; i < c->nset; i++)
        if (strcmp(c->set[i].key, k) == 0)
            break;
    if (i == c->nset) {
        if (c->nset == CTL_MAX_SETTINGS) {
            vg_warn("control: too many settings, %s ignored", k);
            return;
        }
        c->nset++;
    }
    snprintf(c->set[i].key, sizeof c->set[i].key, "%s", k);
    snprintf(c->set[i].val, sizeof c->set[i].val, "%s", v);
}

static void host_line(struct ctl_host *h, const char *line, size_t len)
{
    struct agent_ctl *c = h->c;
    struct vg_ctl_msg *m = vg_malloc(sizeof *m);
    if (!m)
        return;
    if (vg_ctl_parse(line, len, m) != 0) {
        vg_info("control: malformed line from the host");
        host_reply(h, NULL, "error", "bad-message");
        goto done;
    }
    const char *id = vg_ctl_get(m, "id");
    if (strcmp(m->verb, "hello") == 0) {
        const char *v;
        if ((v = vg_ctl_get(m, "name")))
            snprintf(c->name, sizeof c->name, "%s", v);
        if ((v = vg_ctl_get(m, "zone")))
            snprintf(c->zone, sizeof c->zone, "%s", v);
        if ((v = vg_ctl_get(m, "host")))
            snprintf(c->host, sizeof c->host, "%s", v);
        vg_notice("control: hello from host %s: this VM is %s (zone %s)", c->host, c->name,
                  c->zone);
    } else if (strcmp(m->verb, "set") == 0) {
        for (unsigned i = 0; i < m->n; i++)
            store_setting(c, m->key[i], m->val[i]);
    } else if (strcmp(m->verb, "req") == 0) {
        const char *op = vg_ctl_get(m, "op");
        if (!id || !op) {
            host_reply(h, id, "error", "bad-message");
        } else if (strcmp(op, "ping") == 0) {
            host_reply(h, id, "ok", NULL);
        } else if (strcmp(op, "info") == 0) {
            struct vg_ctl_out o;
            vg_ctl_begin(&o, "event");
            vg_ctl_add(&o, "id", id);
            vg_ctl_add(&o, "status", "ok");
            vg_ctl_add(&o, "agent", "vmgate-agent");
            vg_ctl_addf(&o, "session", "%lu", c->a->session_no);
            to_host(h, &o);
        } else {
            host_reply(h, id, "error", "unknown-op");
        }
    } else if (strcmp(m->verb, "event") == 0) {
        struct ctl_pending *p;
        char *end = NULL;
        unsigned long long gid = id ? strtoull(id, &end, 10) : 0;
        LIST_FOREACH(p, &c->pending, link)
        {
            if (end && *end == '\0' && p->gid == gid)
                break;
        }
        if (!p) {
            vg_info("control: event for unknown request %s", id ? id : "-");
            goto done;
        }
        if (p->cl) {
            struct vg_ctl_out o;
            vg_ctl_begin(&o, "event");
            vg_ctl_add(&o, "id", p->cid);
            for (unsigned i = 0; i < m->n; i++)
                if (strcmp(m->key[i], "id") != 0)
                    vg_ctl_add(&o, m->key[i], m->val[i]);
            to_client(p->cl, &o);
        }
        struct ctl_client *cl = p->cl;
        LIST_REMOVE(p, link);
        vg_free(p);
        if (cl)
            client_settle(cl);
    } else {
        host_reply(h, id, "error", "unknown-verb");
    }
done:
    vg_free(m);
}

static void host_read(struct vg_mux_stream *s, void *arg)
{
    struct ctl_host *h = arg;
    char line[VG_CTL_LINE_MAX];
    long n;
    while ((n = vg_evbuffer_take_line(vg_mux_stream_input(s), line, sizeof line)) >= 0)
        host_line(h, line, (size_t)n);
    if (n == VG_LINE_TOO_LONG) {
        vg_warn("control: line too long from the host; stream reset");
        vg_mux_stream_reset(s);
        host_free(h);
    }
}

static void host_event(struct vg_mux_stream *s, short what, void *arg)
{
    struct ctl_host *h = arg;
    if (what & VG_MUX_RESET) {
        host_free(h);
        return;
    }
    if (what & VG_MUX_EOF) {
        host_read(s, arg); /* a last line without "\n" is ignored */
        vg_mux_stream_shutdown(s);
        host_free(h);
    }
}

void agent_ctl_attach(struct agent_ctl *c, struct vg_mux_stream *s)
{
    struct ctl_host *h = vg_calloc(1, sizeof *h);
    if (!h) {
        vg_mux_stream_reset(s);
        vg_mux_stream_free(s);
        return;
    }
    h->c = c;
    h->s = s;
    LIST_INSERT_HEAD(&c->hosts, h, link); /* the newest one carries guest requests */
    vg_mux_stream_setcb(s, host_read, host_event, h);
    struct vg_ctl_out o;
    vg_ctl_begin(&o, "hello");
    vg_ctl_add(&o, "agent", "vmgate-agent");
    vg_ctl_add(&o, "version", VMGATE_VERSION);
    to_host(h, &o);
    if (evbuffer_get_length(vg_mux_stream_input(s)) > 0)
        host_read(s, h); /* lines sent together with "CONTROL" */
}

void agent_ctl_session_end(struct agent_ctl *c)
{
    while (!LIST_EMPTY(&c->pending))
        pending_fail(LIST_FIRST(&c->pending), "session-lost");
    while (!LIST_EMPTY(&c->hosts))
        host_free(LIST_FIRST(&c->hosts));
}

/* ------------------------------------------------------------------------------ local clients */

static void client_free(struct ctl_client *cl)
{
    struct ctl_pending *p;
    LIST_FOREACH(p, &cl->c->pending, link)
    {
        if (p->cl == cl)
            p->cl = NULL; /* the host's answer will be dropped */
    }
    LIST_REMOVE(cl, link);
    bufferevent_free(cl->bev);
    vg_free(cl);
}

static void client_info(struct ctl_client *cl, const char *id)
{
    struct agent_ctl *c = cl->c;
    struct vg_ctl_out o;
    vg_ctl_begin(&o, "event");
    vg_ctl_add(&o, "id", id);
    vg_ctl_add(&o, "status", "ok");
    vg_ctl_add(&o, "connected", LIST_EMPTY(&c->hosts) ? "no" : "yes");
    vg_ctl_add(&o, "name", c->name);
    vg_ctl_add(&o, "zone", c->zone);
    vg_ctl_add(&o, "host", c->host);
    for (unsigned i = 0; i < c->nset; i++) {
        char k[48];
        snprintf(k, sizeof k, "set.%s", c->set[i].key);
        vg_ctl_add(&o, k, c->set[i].val);
    }
    to_client(cl, &o);
}

static void client_line(struct ctl_client *cl, const char *line, size_t len)
{
    struct agent_ctl *c = cl->c;
    struct vg_ctl_msg *m = vg_malloc(sizeof *m);
    if (!m)
        return;
    if (vg_ctl_parse(line, len, m) != 0) {
        client_event(cl, NULL, "error", "bad-message");
        goto done;
    }
    const char *id = vg_ctl_get(m, "id");
    const char *op = vg_ctl_get(m, "op");
    if (strcmp(m->verb, "req") != 0) {
        client_event(cl, id, "error", "unknown-verb");
        goto done;
    }
    if (!id || !op || strlen(id) >= sizeof((struct ctl_pending *)0)->cid) {
        client_event(cl, id, "error", "bad-message");
        goto done;
    }
    if (strcmp(op, "info") == 0) {
        client_info(cl, id);
        goto done;
    }
    struct ctl_host *h = LIST_FIRST(&c->hosts);
    if (!h) {
        client_event(cl, id, "error", "no-host");
        goto done;
    }
    struct ctl_pending *p = vg_calloc(1, sizeof *p);
    if (!p) {
        client_event(cl, id, "error", "no-memory");
        goto done;
    }
    p->gid = ++c->next_gid;
    p->cl = cl;
    snprintf(p->cid, sizeof p->cid, "%s", id);
    p->deadline = vg_now_ms() + CTL_REQ_TIMEOUT_MS;
    LIST_INSERT_HEAD(&c->pending, p, link);
    struct vg_ctl_out o;
    vg_ctl_begin(&o, "req");
    vg_ctl_addf(&o, "id", "%llu", p->gid);
    for (unsigned i = 0; i < m->n; i++)
        if (strcmp(m->key[i], "id") != 0)
            vg_ctl_add(&o, m->key[i], m->val[i]);
    if (!vg_ctl_end(&o)) {
        pending_fail(p, "too-long");
        goto done;
    }
    vg_mux_stream_write(h->s, o.buf, o.len);
done:
    vg_free(m);
}

static void client_read(struct bufferevent *bev, void *arg)
{
    struct ctl_client *cl = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char line[VG_CTL_LINE_MAX];
    long n;
    while ((n = vg_evbuffer_take_line(in, line, sizeof line)) >= 0)
        client_line(cl, line, (size_t)n);
    if (n == VG_LINE_TOO_LONG) {
        client_free(cl);
        return;
    }
    if (evbuffer_get_length(bufferevent_get_output(bev)) > CTL_CLIENT_OUT_MAX)
        client_free(cl); /* does not read its answers */
}

/* A program that half-closed (`printf 'req …' | socat - UNIX-CONNECT:…`) still gets its answers:
 * the connection is closed once no request of it is pending and everything was written. */
static void client_settle(struct ctl_client *cl)
{
    struct ctl_pending *p;
    if (!cl->eof || evbuffer_get_length(bufferevent_get_output(cl->bev)) > 0)
        return; /* still reading, or the write callback comes back here */
    LIST_FOREACH(p, &cl->c->pending, link)
    {
        if (p->cl == cl)
            return;
    }
    client_free(cl);
}

static void client_writecb(struct bufferevent *bev, void *arg)
{
    client_settle(arg); /* the output was written */
}

static void client_eventcb(struct bufferevent *bev, short what, void *arg)
{
    struct ctl_client *cl = arg;
    if (what & BEV_EVENT_ERROR) {
        client_free(cl);
    } else if (what & BEV_EVENT_EOF) {
        cl->eof = true;
        bufferevent_disable(bev, EV_READ);
        client_settle(cl);
    }
}

static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
    struct agent_ctl *c = arg;
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    struct ctl_client *cl = vg_calloc(1, sizeof *cl);
    struct bufferevent *bev = bufferevent_socket_new(c->a->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!cl || !bev) {
        vg_free(cl);
        if (bev)
            bufferevent_free(bev);
        else
            close(fd);
        return;
    }
    cl->c = c;
    cl->bev = bev;
    LIST_INSERT_HEAD(&c->clients, cl, link);
    bufferevent_setcb(bev, client_read, client_writecb, client_eventcb, cl);
    bufferevent_enable(bev, EV_READ);
}

static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    struct agent_ctl *c = arg;
    uint64_t now = vg_now_ms();
    struct ctl_pending *p, *next;
    for (p = LIST_FIRST(&c->pending); p; p = next) {
        next = LIST_NEXT(p, link);
        if (p->deadline <= now)
            pending_fail(p, "timeout");
    }
}

struct agent_ctl *agent_ctl_new(struct agent *a, const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct agent_ctl *c;
    if (strlen(path) >= sizeof sun.sun_path) {
        fprintf(stderr, "vmgate-agent: control socket path too long\n");
        return NULL;
    }
    c = vg_calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->a = a;
    c->lfd = -1;
    LIST_INIT(&c->hosts);
    LIST_INIT(&c->clients);
    LIST_INIT(&c->pending);
    strcpy(sun.sun_path, path);
    c->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    unlink(path);
    if (c->lfd < 0 || bind(c->lfd, (struct sockaddr *)&sun, sizeof sun) != 0 ||
        listen(c->lfd, 16) != 0) {
        fprintf(stderr, "vmgate-agent: control socket %s: %s\n", path, strerror(errno));
        agent_ctl_free(c);
        return NULL;
    }
    chmod(path, 0660);
    c->path = vg_strdup(path);
    c->lev = event_new(a->base, c->lfd, EV_READ | EV_PERSIST, accept_cb, c);
    c->sweep = event_new(a->base, -1, EV_PERSIST, sweep_cb, c);
    struct timeval tv = {1, 0};
    if (!c->path || !c->lev || !c->sweep || event_add(c->lev, NULL) || event_add(c->sweep, &tv)) {
        agent_ctl_free(c);
        return NULL;
    }
    return c;
}

void agent_ctl_free(struct agent_ctl *c)
{
    agent_ctl_session_end(c);
    while (!LIST_EMPTY(&c->clients))
        client_free(LIST_FIRST(&c->clients));
    if (c->lev)
        event_free(c->lev);
    if (c->sweep)
        event_free(c->sweep);
    if (c->lfd >= 0)
        close(c->lfd);
    if (c->path) {
        unlink(c->path);
        vg_free(c->path);
    }
    vg_free(c);
}
