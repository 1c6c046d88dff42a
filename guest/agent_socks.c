/* The local SOCKS5 listener: a guest program's CONNECT becomes a guest-opened stream
 * "CONNECT <name> <port>" to the host, whose gateway decides by its ACL.  No authentication
 * (the listener is meant for loopback).  ATYP 3 names go through as they are; IPv4/IPv6
 * literals are sent in text form and judged by the host like any other name.
 */
#include "agent.h"

#include "vg_addr.h"
#include "vg_alloc.h"
#include "vg_log.h"
#include "vg_mux.h"
#include "vg_mux_bridge.h"
#include "vg_mux_ctl.h"
#include "vg_socks.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#define SOCKS_HANDSHAKE_MS 30000
#define SOCKS_IN_MAX 4096

struct agent_socks;

enum sc_state { SC_GREETING, SC_REQUEST, SC_WAIT, SC_RELAY };

struct sclient {
    struct agent_socks *k;
    int fd;
    enum sc_state st;
    struct event *rd, *tmo;
    struct evbuffer *in;
    struct vg_mux_stream *s;
    struct vg_mux_bridge *br;
    char target[300];
    LIST_ENTRY(sclient) link;
};

struct agent_socks {
    struct agent *a;
    int lfd;
    struct event *lev;
    LIST_HEAD(, sclient) clients;
};

static void sc_free(struct sclient *c)
{
    LIST_REMOVE(c, link);
    if (c->rd)
        event_free(c->rd);
    if (c->tmo)
        event_free(c->tmo);
    if (c->in)
        evbuffer_free(c->in);
    if (c->br) {
        vg_mux_bridge_free(c->br); /* closes fd, frees the stream */
    } else {
        if (c->s) {
            vg_mux_stream_setcb(c->s, NULL, NULL, NULL);
            vg_mux_stream_shutdown(c->s);
            vg_mux_stream_free(c->s);
        }
        if (c->fd >= 0)
            close(c->fd);
    }
    vg_free(c);
}

static void sc_reply(struct sclient *c, uint8_t rep)
{
    uint8_t out[VG_S5_REPLY_MAX];
    size_t n = vg_s5_build_reply(out, rep, NULL);
    /* a fresh socket takes 10 bytes; a client that cannot is dropped */
    if (send(c->fd, out, n, MSG_NOSIGNAL) != (ssize_t)n)
        vg_debug("socks: short reply write");
}

static void sc_fail(struct sclient *c, enum vg_outcome o, const char *why)
{
    uint8_t rep = vg_outcome_socks(o);
    vg_info("socks: %s: %s (reply %u)", c->target[0] ? c->target : "client", why, rep);
    sc_reply(c, rep);
    sc_free(c);
}

static void sc_bridge_done(struct vg_mux_bridge *b, uint64_t up, uint64_t down, const char *err,
                           void *arg)
{
    struct sclient *c = arg;
    vg_info("socks: %s: closed, %llu bytes sent, %llu received%s%s", c->target,
            (unsigned long long)up, (unsigned long long)down, err ? ": " : "", err ? err : "");
    sc_free(c);
}

static void sc_wait_read(struct vg_mux_stream *s, void *arg)
{
    struct sclient *c = arg;
    char line[VG_PREAMBLE_MAX];
    long n = vg_evbuffer_take_line(vg_mux_stream_input(s), line, sizeof line);
    if (n == VG_LINE_NEED_MORE)
        return;
    if (n == VG_LINE_TOO_LONG) {
        sc_fail(c, VG_OUT_PROTOCOL, "reply line too long");
        return;
    }
    struct vg_preamble_reply r;
    if (vg_preamble_parse_reply(line, (size_t)n, &r) != 0) {
        sc_fail(c, VG_OUT_PROTOCOL, "bad reply from the host");
        return;
    }
    if (!r.ok) {
        char why[300];
        snprintf(why, sizeof why, "host says %s %s", r.code, r.text);
        sc_fail(c, vg_outcome_of_err(r.code), why);
        return;
    }
    /* bytes the client sent after its request go first */
    if (evbuffer_get_length(c->in) > 0) {
        size_t len = evbuffer_get_length(c->in);
        vg_mux_stream_write(s, evbuffer_pullup(c->in, -1), len);
        evbuffer_drain(c->in, len);
    }
    event_free(c->rd);
    c->rd = NULL;
    event_del(c->tmo);
    sc_reply(c, VG_S5_SUCCEEDED);
    c->br = vg_mux_bridge_new(c->k->a->base, c->fd, s, sc_bridge_done, c);
    if (!c->br) {
        vg_mux_stream_reset(s);
        sc_free(c);
        return;
    }
    c->st = SC_RELAY;
    vg_info("socks: %s: connected", c->target);
}

static void sc_wait_event(struct vg_mux_stream *s, short what, void *arg)
{
    struct sclient *c = arg;
    if (what & VG_MUX_RESET)
        sc_fail(c, VG_OUT_CHANNEL_DOWN, "stream reset by the host");
    else if (what & VG_MUX_EOF)
        sc_fail(c, VG_OUT_PROTOCOL, "host closed before answering");
}

static void sc_open_stream(struct sclient *c, const struct vg_s5_request *req)
{
    struct agent *a = c->k->a;
    char name[256];
    switch (req->atyp) {
    case VG_S5_ATYP_NAME:
        snprintf(name, sizeof name, "%s", req->name);
        break;
    case VG_S5_ATYP_IPV4:
        inet_ntop(AF_INET, req->addr, name, sizeof name);
        break;
    default:
        inet_ntop(AF_INET6, req->addr, name, sizeof name);
        break;
    }
    snprintf(c->target, sizeof c->target, "%s:%u", name, req->port);
    if (!vg_preamble_name_ok(name, strlen(name))) {
        sc_fail(c, VG_OUT_BAD_REQUEST, "unusable name");
        return;
    }
    if (!a->mux || !vg_mux_alive(a->mux)) {
        sc_fail(c, VG_OUT_CHANNEL_DOWN, "no host connected");
        return;
    }
    c->s = vg_mux_open(a->mux);
    if (!c->s) {
        sc_fail(c, VG_OUT_CHANNEL_DOWN, "cannot open a stream");
        return;
    }
    char line[VG_PREAMBLE_MAX];
    int n = snprintf(line, sizeof line, "CONNECT %s %u\n", name, req->port);
    vg_mux_stream_setcb(c->s, sc_wait_read, sc_wait_event, c);
    vg_mux_stream_write(c->s, line, (size_t)n);
    c->st = SC_WAIT;
    event_del(c->rd); /* anything more waits in the socket until the host answers */
}

static void sc_parse(struct sclient *c)
{
    size_t len = evbuffer_get_length(c->in), used = 0;
    const uint8_t *p = evbuffer_pullup(c->in, -1);
    if (c->st == SC_GREETING) {
        struct vg_s5_greeting g;
        enum vg_parse r = vg_s5_parse_greeting(p, len, &g, &used);
        if (r == VG_P_NEED_MORE)
            return;
        if (r == VG_P_ERROR) {
            sc_free(c);
            return;
        }
        evbuffer_drain(c->in, used);
        uint8_t ans[2] = {5, VG_S5_METHOD_NOAUTH};
        if (!vg_s5_offers(&g, VG_S5_METHOD_NOAUTH)) {
            ans[1] = VG_S5_METHOD_NONE;
            send(c->fd, ans, 2, MSG_NOSIGNAL);
            sc_free(c);
            return;
        }
        if (send(c->fd, ans, 2, MSG_NOSIGNAL) != 2) {
            sc_free(c);
            return;
        }
        c->st = SC_REQUEST;
        len = evbuffer_get_length(c->in);
        p = evbuffer_pullup(c->in, -1);
    }
    if (c->st == SC_REQUEST) {
        struct vg_s5_request req;
        enum vg_outcome err = VG_OUT_BAD_REQUEST;
        enum vg_parse r = vg_s5_parse_request(p, len, &req, &used, &err);
        if (r == VG_P_NEED_MORE)
            return;
        if (r == VG_P_ERROR) {
            sc_fail(c, err, "bad request");
            return;
        }
        evbuffer_drain(c->in, used);
        if (req.cmd != VG_S5_CMD_CONNECT) {
            sc_fail(c, VG_OUT_UNSUPPORTED_CMD, "only CONNECT");
            return;
        }
        sc_open_stream(c, &req);
    }
}

static void sc_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sclient *c = arg;
    int n = evbuffer_read(c->in, fd, SOCKS_IN_MAX);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        sc_free(c);
        return;
    }
    if (evbuffer_get_length(c->in) > SOCKS_IN_MAX) {
        sc_free(c);
        return;
    }
    sc_parse(c);
}

static void sc_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sclient *c = arg;
    if (c->st == SC_WAIT)
        sc_fail(c, VG_OUT_TIMEOUT, "host did not answer");
    else
        sc_free(c);
}

static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
    struct agent_socks *k = arg;
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE)
            vg_warn("socks: accept: %s", strerror(errno));
        return;
    }
    struct sclient *c = vg_calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->k = k;
    c->fd = fd;
    LIST_INSERT_HEAD(&k->clients, c, link);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->in = evbuffer_new();
    c->rd = event_new(k->a->base, fd, EV_READ | EV_PERSIST, sc_read_cb, c);
    c->tmo = evtimer_new(k->a->base, sc_timeout_cb, c);
    struct timeval tv = {SOCKS_HANDSHAKE_MS / 1000, 0};
    if (!c->in || !c->rd || !c->tmo || event_add(c->rd, NULL) || event_add(c->tmo, &tv))
        sc_free(c);
}

struct agent_socks *agent_socks_new(struct agent *a, const char *addr)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (!vg_sockaddr_parse(addr, 1080, &ss, &sl)) {
        fprintf(stderr, "vmgate-agent: bad --socks address %s\n", addr);
        return NULL;
    }
    struct agent_socks *k = vg_calloc(1, sizeof *k);
    if (!k)
        return NULL;
    k->a = a;
    LIST_INIT(&k->clients);
    k->lfd = vg_listen_tcp((struct sockaddr *)&ss, sl, 64); /* IPV6_V6ONLY on [::] */
    if (k->lfd < 0) {
        fprintf(stderr, "vmgate-agent: socks listener %s: %s\n", addr, strerror(errno));
        vg_free(k);
        return NULL;
    }
    k->lev = event_new(a->base, k->lfd, EV_READ | EV_PERSIST, accept_cb, k);
    if (!k->lev || event_add(k->lev, NULL) != 0) {
        if (k->lev)
            event_free(k->lev);
        close(k->lfd);
        vg_free(k);
        return NULL;
    }
    vg_notice("socks listener on %s", addr);
    return k;
}

void agent_socks_free(struct agent_socks *k)
{
    while (!LIST_EMPTY(&k->clients))
        sc_free(LIST_FIRST(&k->clients));
    event_free(k->lev);
    close(k->lfd);
    vg_free(k);
}
