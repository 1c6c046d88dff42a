#include "forward.h"

#include "gw.h"
#include "tls.h"

#include "vg_alloc.h"
#include "vg_log.h"
#include "vg_resolve.h"
#include "vg_socks.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PER_ADDR_TIMEOUT_MS 1500

struct gw_fwd;
static void try_next(struct gw_fwd *f);
#define ANSWERS_MAX (2 + 2 + 7 + 255) /* method, status (RFC 1929 / hop), a reply with a name */

struct gw_fwd {
    struct gw *g;
    struct vg_resolve_req *q;
    gw_fwd_done_fn done;
    void *arg;
    struct event *ev, *timer;
    int fd;
    SSL *tls; /* F_TLS, F_HANDSHAKE */
    char name[256];
    uint16_t port;
    struct vg_s5_hopid who; /* the person (or VM) the request is for; host = this host */
    struct vg_vm_location loc;
    size_t next;        /* next address to try */
    char last_err[160]; /* why the last address failed (TLS), for the final answer */
    enum { F_RESOLVING, F_CONNECTING, F_TLS, F_HANDSHAKE } st;
    uint8_t buf[ANSWERS_MAX]; /* the owning gateway's answers */
    size_t len, want;         /* read so far; to have read before they can say more */
};

static void fwd_free(struct gw_fwd *f)
{
    if (f->q)
        vg_resolve_cancel(f->q);
    if (f->ev)
        event_free(f->ev);
    if (f->timer)
        event_free(f->timer);
    gw_tls_session_free(f->tls);
    if (f->fd >= 0)
        close(f->fd);
    explicit_bzero(&f->who, sizeof f->who);
    vg_free(f);
}

void gw_fwd_cancel(struct gw_fwd *f)
{
    fwd_free(f);
}

static void finish(struct gw_fwd *f, int fd, enum vg_outcome out, const char *why,
                   const struct sockaddr *bnd)
{
    gw_fwd_done_fn done = f->done;
    void *arg = f->arg;
    SSL *tls = NULL;
    char whybuf[200];
    snprintf(whybuf, sizeof whybuf, "%s", why ? why : "");
    if (fd >= 0) {
        f->fd = -1; /* handed over, with the TLS session */
        tls = f->tls;
        f->tls = NULL;
    }
    fwd_free(f);
    done(arg, fd, tls, out, whybuf, bnd);
}

/* This address failed: drop its connection, try the next one. */
static void drop_and_next(struct gw_fwd *f)
{
    gw_tls_session_free(f->tls);
    f->tls = NULL;
    close(f->fd);
    f->fd = -1;
    try_next(f);
}

static void arm(struct gw_fwd *f, unsigned ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    event_add(f->timer, &tv);
}

/* The method the owning gateway must choose: a host states the person's identity (its
 * certificate proved it a host of the fleet); a front authenticates as its own user. */
static uint8_t method_of(const struct gw_fwd *f)
{
    return f->g->front ? VG_S5_METHOD_USERPASS : VG_S5_METHOD_HOPID;
}

/* Greeting (one method), identity or RFC 1929, and the request in one write — only ever over
 * a TLS session whose peer proved it is a host of the fleet. */
static bool send_handshake(struct gw_fwd *f)
{
    const struct vg_config *cfg = f->g->cfg;
    uint8_t out[VG_S5C_MAX > VG_S5C_HOP_MAX ? VG_S5C_MAX : VG_S5C_HOP_MAX];
    size_t n = f->g->front ? vg_s5c_handshake(out, cfg->forward_user, cfg->forward_password,
                                              f->name, f->port)
                           : vg_s5c_hop_handshake(out, &f->who, f->name, f->port);
    bool ok = n > 0 && gw_io_send_small(f->fd, f->tls, out, n);
    explicit_bzero(out, sizeof out);
    return ok;
}

/* Reads exactly the answers — method choice (2), RFC 1929 status (2), then the CONNECT reply as
 * long as it turns out to be — never more, so the VM's first bytes (an SSH banner) stay in the
 * socket for the relay. */
static bool answers_step(struct gw_fwd *f);

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct gw_fwd *f = arg;
    /* TLS hands out what a record holds: go on while it holds more */
    while (answers_step(f) && gw_tls_pending(f->tls) > 0)
        ;
}

/* One read of the answers; false when done (finished) or waiting for the socket. */
static bool answers_step(struct gw_fwd *f)
{
    ssize_t r = gw_io_recv(f->fd, f->tls, f->buf + f->len, f->want - f->len);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return false;
    if (r <= 0) {
        finish(f, -1, VG_OUT_GW_UNREACHABLE,
               r < 0 && errno == EPROTO
                   ? "owning host's gateway ended the TLS session (our certificate refused?)"
                   : "owning host's gateway closed the connection",
               NULL);
        return false;
    }
    f->len += (size_t)r;

    /* anything but "05 <our method>" and "01 00" refuses us */
    uint8_t method, status;
    size_t used, need;
    if ((f->len >= 2 && (vg_s5c_parse_method(f->buf, f->len, &method, &used) != VG_P_OK ||
                         method != method_of(f))) ||
        (f->len >= 4 &&
         (vg_s5c_parse_auth(f->buf + 2, f->len - 2, &status, &used) != VG_P_OK || status != 0))) {
        finish(f, -1, VG_OUT_NOT_ALLOWED,
               f->g->front ? "owning host's gateway refused forward-user"
                           : "owning host's gateway refused the hop identity",
               NULL);
        return false;
    }
    if (f->len < 4)
        return true;
    struct vg_s5_reply rep;
    switch (vg_s5c_parse_reply(f->buf + 4, f->len - 4, &rep, &used, &need)) {
    case VG_P_NEED_MORE:
        f->want = 4 + need; /* at most ANSWERS_MAX */
        return true;
    case VG_P_ERROR:
        finish(f, -1, VG_OUT_PROTOCOL, "owning host's gateway sent a malformed reply", NULL);
        return false;
    case VG_P_OK:
        break;
    }
    if (rep.rep != VG_S5_SUCCEEDED) {
        char why[96];
        snprintf(why, sizeof why, "owning host's gateway answered 0x%02x", rep.rep);
        finish(f, -1, vg_outcome_of_socks(rep.rep), why, NULL);
        return false;
    }
    struct sockaddr_storage bnd;
    vg_s5_reply_bnd(&rep, &bnd); /* AF_UNSPEC for a name: nothing to report */
    finish(f, f->fd, VG_OUT_OK, NULL, (struct sockaddr *)&bnd);
    return false;
}

/* (Re)point f->ev at the socket for `what`; false (finished) when out of memory. */
static bool watch(struct gw_fwd *f, short what, event_callback_fn cb)
{
    if (f->ev)
        event_free(f->ev);
    f->ev = event_new(f->g->base, f->fd, what, cb, f);
    if (f->ev == NULL) {
        finish(f, -1, VG_OUT_INTERNAL, "out of memory", NULL);
        return false;
    }
    event_add(f->ev, NULL);
    return true;
}

/* The peer proved it is a host of the fleet: now the request, and only now. */
static void tls_up(struct gw_fwd *f)
{
    if (!send_handshake(f)) {
        snprintf(f->last_err, sizeof f->last_err, "sending the request failed");
        drop_and_next(f);
        return;
    }
    f->st = F_HANDSHAKE;
    f->len = 0;
    f->want = 4;
    if (!watch(f, EV_READ | EV_PERSIST, on_readable))
        return;
    arm(f, (f->g->cfg->connect_timeout + f->g->cfg->agent_timeout) * 1000);
    on_readable(f->fd, EV_READ, f); /* the answers may already be decrypted */
}

static void on_tls(evutil_socket_t fd, short what, void *arg)
{
    struct gw_fwd *f = arg;
    bool want_write = false;
    char err[160];
    switch (gw_tls_handshake(f->tls, &want_write, err, sizeof err)) {
    case VG_P_NEED_MORE:
        watch(f, want_write ? EV_WRITE : EV_READ, on_tls);
        return;
    case VG_P_ERROR: {
        char a[VG_ADDRSTRLEN];
        vg_sockaddr_format((const struct sockaddr *)&f->loc.addrs[f->next - 1], true, a, sizeof a);
        vg_warn("chaining %s: %s: %s: nothing sent", f->name, a, err);
        snprintf(f->last_err, sizeof f->last_err, "%s", err);
        drop_and_next(f);
        return;
    }
    default:
        tls_up(f);
    }
}

/* TCP is up: TLS first, the peer's certificate checked against tls-ca and the owning host's
 * name (the owner TXT, else the SRV target). */
static void connected(struct gw_fwd *f)
{
    const char *peer = f->loc.owner[0] ? f->loc.owner : f->loc.gateway;
    f->tls = gw_tls_session(f->g->tls, GW_TLS_HOP_CLIENT, f->fd, peer);
    if (f->tls == NULL) {
        finish(f, -1, VG_OUT_INTERNAL, "TLS session unavailable (tls-ca not configured?)", NULL);
        return;
    }
    f->st = F_TLS;
    arm(f, f->g->cfg->connect_timeout * 1000);
    on_tls(f->fd, EV_WRITE, f);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    struct gw_fwd *f = arg;
    int err = 0;
    socklen_t elen = sizeof err;
    getsockopt(f->fd, SOL_SOCKET, SO_ERROR, &err, &elen);
    if (err == 0) {
        connected(f);
        return;
    }
    drop_and_next(f);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct gw_fwd *f = arg;
    if (f->st == F_CONNECTING || f->st == F_TLS) {
        if (f->st == F_TLS)
            snprintf(f->last_err, sizeof f->last_err, "TLS handshake timed out");
        drop_and_next(f);
        return;
    }
    finish(f, -1, VG_OUT_TIMEOUT, "owning host's gateway did not answer in time", NULL);
}

static void try_next(struct gw_fwd *f)
{
    if (f->ev) {
        event_free(f->ev);
        f->ev = NULL;
    }
    event_del(f->timer);
    while (f->next < f->loc.naddrs) {
        const struct sockaddr_storage *ss = &f->loc.addrs[f->next++];
        socklen_t len =
            ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
        f->fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (f->fd < 0)
            continue;
        /* the TLS handshake and the request are several small writes before a read: without
         * this, Nagle holds one back for the peer's delayed ACK (~40 ms per connection) */
        int one = 1;
        setsockopt(f->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int rc = connect(f->fd, (const struct sockaddr *)ss, len);
        struct pollfd pfd = {.fd = f->fd, .events = POLLOUT};
        if (rc == 0 || (errno == EINPROGRESS && poll(&pfd, 1, 0) == 1 &&
                        !(pfd.revents & (POLLERR | POLLHUP)))) {
            connected(f);
            return;
        }
        if (rc != 0 && errno == EINPROGRESS && !(pfd.revents & (POLLERR | POLLHUP))) {
            f->st = F_CONNECTING;
            f->ev = event_new(f->g->base, f->fd, EV_WRITE, on_writable, f);
            if (f->ev == NULL) {
                finish(f, -1, VG_OUT_INTERNAL, "out of memory", NULL);
                return;
            }
            event_add(f->ev, NULL);
            arm(f, PER_ADDR_TIMEOUT_MS);
            return;
        }
        close(f->fd);
        f->fd = -1;
    }
    char why[200];
    snprintf(why, sizeof why, "owning host's gateway unreachable%s%s", f->last_err[0] ? ": " : "",
             f->last_err);
    finish(f, -1, VG_OUT_GW_UNREACHABLE, why, NULL);
}

static void on_resolved(enum vg_res_status st, const struct vg_vm_location *loc, void *arg)
{
    struct gw_fwd *f = arg;
    f->q = NULL;
    if (st != VG_RES_OK) {
        char why[200];
        const char *detail = vg_resolver_why(f->g->resolver);
        snprintf(why, sizeof why, "DNS: %s%s%s", vg_res_strerror(st), detail && *detail ? ": " : "",
                 detail ? detail : "");
        finish(f, -1, vg_res_outcome(st), why, NULL);
        return;
    }
    const char *self = f->g->cfg->host_name;
    if (self && loc->owner[0] && strcmp(loc->owner, self) == 0) {
        finish(f, -1, VG_OUT_UNREACHABLE,
               "DNS names this host as the owner but the VM is not in its table", NULL);
        return;
    }
    f->loc = *loc;
    try_next(f);
}

struct gw_fwd *gw_fwd_start(struct gw *g, const char *name, uint16_t port,
                            const struct vg_s5_hopid *who, gw_fwd_done_fn done, void *arg)
{
    struct gw_fwd *f = vg_calloc(1, sizeof *f);
    if (f == NULL)
        return NULL;
    f->g = g;
    f->fd = -1;
    f->done = done;
    f->arg = arg;
    f->port = port;
    f->who = *who;
    snprintf(f->who.host, sizeof f->who.host, "%s", g->cfg->host_name ? g->cfg->host_name : "");
    snprintf(f->name, sizeof f->name, "%s", name);
    f->st = F_RESOLVING;
    if ((f->timer = evtimer_new(g->base, on_timer, f)) == NULL ||
        (f->q = vg_resolve(g->resolver, name, on_resolved, f)) == NULL) {
        fwd_free(f);
        return NULL;
    }
    return f;
}
