/* conn — one client connection from accept to relay: SOCKS5 or HTTP CONNECT handshake, policy,
 * VM lookup, connecting the VM's channel, the reply, then hand-over to the relay.
 *
 * The handshake reads into one small buffer and runs the pure parsers of proto.h over it, so
 * split and pipelined input work; bytes the client sent after its request are handed to the
 * relay and delivered first.  A refused request gets its reply, then the connection is
 * half-closed and drained briefly so the client reads the reply instead of a reset.
 */
#include "vg_chan.h"
#include "forward.h"
#include "gw.h"
#include "serial.h"
#include "users.h"
#include "vmtable.h"

#include "vg_alloc.h"
#include "vg_http.h"
#include "vg_log.h"
#include "vg_mux.h"
#include "vg_mux_bridge.h"
#include "vg_name.h"
#include "vg_socks.h"
#include "vg_time.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define SOCKS_BUF 1100   /* greeting (257) + userpass (513) + request (262), pipelined */
#define MUX_LINE_MAX 64  /* "OK <n>\n" from a hybrid-vsock listener */
#define LINGER_SECS 2    /* after a refusal: how long to drain the client before closing */

enum state {
    ST_S5_GREETING,
    ST_S5_AUTH,
    ST_S5_REQUEST,
    ST_HTTP_HEAD,
    ST_CONNECTING,
    ST_MUX_REPLY,
    ST_RELAY,
    ST_LINGER,
};

struct gw_conn {
    struct gw_conn *prev, *next;
    struct gw *g;
    enum gw_front front;
    enum state st;
    int fd, up;
    struct sockaddr_storage peer;
    struct event *ev;    /* client fd during the handshake */
    struct event *uev;   /* upstream fd while connecting */
    struct event *timer; /* handshake / connect / linger deadline */
    uint8_t *buf;
    size_t len, cap;
    bool anon_ok;
    char *user;
    char name[VG_NAME_MAX + 1];
    uint16_t port;
    enum vg_chan_kind kind;
    struct gw_relay *relay;          /* socket channels: splice relay */
    struct gw_serial_req *sreq;      /* serial channel: waiting for the agent */
    struct vg_mux_bridge *bridge;    /* serial channel: relaying */
    struct gw_fwd *fwd;              /* chaining to the owning host's gateway */
    uint64_t t0; /* vg_now_ns() at accept */
    char ident[80];
};

static void conn_free(struct gw_conn *c)
{
    struct gw *g = c->g;
    if (c->ev)
        event_free(c->ev);
    if (c->uev)
        event_free(c->uev);
    if (c->timer)
        event_free(c->timer);
    if (c->sreq)
        gw_serial_cancel(c->sreq);
    if (c->fwd)
        gw_fwd_cancel(c->fwd);
    if (c->bridge) {
        vg_mux_bridge_free(c->bridge); /* closes the client socket */
        c->fd = -1;
    }
    if (c->relay)
        gw_relay_abort(c->relay); /* closes both sockets */
    else if (c->fd >= 0)
        close(c->fd);
    if (!c->relay && c->up >= 0)
        close(c->up);
    vg_free(c->buf);
    vg_free(c->user);
    if (c->prev)
        c->prev->next = c->next;
    else
        g->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    gw_client_release(g, (struct sockaddr *)&c->peer);
    vg_free(c);
    gw_conn_closed(g);
}

static void arm_timer(struct gw_conn *c, unsigned secs)
{
    struct timeval tv = {(time_t)secs, 0};
    event_add(c->timer, &tv);
}

static bool send_all(int fd, const void *p, size_t n)
{
    /* handshake replies are a few bytes on a socket whose send buffer is empty */
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    return w == (ssize_t)n;
}

/* ---- closing after a refusal ------------------------------------------------------------- */

static void on_linger_read(evutil_socket_t fd, short what, void *arg)
{
    struct gw_conn *c = arg;
    uint8_t sink[4096];
    ssize_t n = recv(fd, sink, sizeof sink, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        conn_free(c);
}

/* Reply already sent (or nothing to send): stop writing, drain what the client still sends for a
 * moment so that our reply is not destroyed by a reset, then close. */
static void linger_close(struct gw_conn *c)
{
    c->st = ST_LINGER;
    if (c->sreq) {
        gw_serial_cancel(c->sreq);
        c->sreq = NULL;
    }
    if (c->fwd) {
        gw_fwd_cancel(c->fwd);
        c->fwd = NULL;
    }
    if (c->uev) {
        event_free(c->uev);
        c->uev = NULL;
    }
    if (c->up >= 0) {
        close(c->up);
        c->up = -1;
    }
    vg_free(c->buf);
    c->buf = NULL;
    shutdown(c->fd, SHUT_WR);
    event_del(c->ev);
    event_assign(c->ev, c->g->base, c->fd, EV_READ | EV_PERSIST, on_linger_read, c);
    event_add(c->ev, NULL);
    arm_timer(c, LINGER_SECS);
}

/* Refuse the request with what the connection's front says for outcome `o` (the table of
 * vg_outcome.c): a SOCKS5 reply, an HTTP status, an ERR line. */
static void refuse(struct gw_conn *c, enum vg_outcome o, const char *why)
{
    if (c->front == GW_FRONT_SOCKS5) {
        uint8_t out[VG_S5_REPLY_MAX];
        size_t n = vg_s5_build_reply(out, vg_outcome_socks(o), NULL);
        send_all(c->fd, out, n);
        VG_CLOG(VG_LOG_INFO, c->ident, "refused %s:%u: %s (reply 0x%02x)",
                c->name[0] ? c->name : "-", c->port, why, vg_outcome_socks(o));
    } else if (c->front == GW_FRONT_GUEST) {
        char out[300];
        const char *code = vg_outcome_err(o);
        int n = snprintf(out, sizeof out, "ERR %s %.200s\n", code, why);
        send_all(c->fd, out, (size_t)n);
        VG_CLOG(VG_LOG_INFO, c->ident, "refused %s:%u: %s (ERR %s)", c->name[0] ? c->name : "-",
                c->port, why, code);
    } else {
        char out[512];
        int status = vg_outcome_http(o);
        const char *extra = status == 407 ? "Proxy-Authenticate: Basic realm=\"vmgate\"\r\n"
                                            "Connection: close\r\n"
                                          : "Connection: close\r\n";
        size_t n = vg_http_build_response(out, sizeof out, status, extra);
        if (n)
            send_all(c->fd, out, n);
        VG_CLOG(VG_LOG_INFO, c->ident, "refused %s:%u: %s (HTTP %d)", c->name[0] ? c->name : "-",
                c->port, why, status);
    }
    linger_close(c);
}

/* ---- relay ------------------------------------------------------------------------------ */

static void on_relay_done(void *arg, uint64_t up, uint64_t down, const char *why)
{
    struct gw_conn *c = arg;
    c->fd = c->up = -1; /* closed by the relay */
    c->relay = NULL;
    VG_CLOG(VG_LOG_INFO, c->ident, "closed %s:%u after %.3f s: %llu bytes up, %llu down%s%s",
            c->name, c->port, vg_secs_since(c->t0), (unsigned long long)up,
            (unsigned long long)down, why ? ": " : "", why ? why : "");
    conn_free(c);
}

/* The success reply of the connection's front; bnd may be NULL (no IP address to report). */
static bool reply_success(struct gw_conn *c, const struct sockaddr *bnd)
{
    static const char http_ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
    uint8_t out[VG_S5_REPLY_MAX];
    switch (c->front) {
    case GW_FRONT_SOCKS5:
        return send_all(c->fd, out, vg_s5_build_reply(out, VG_S5_SUCCEEDED, bnd));
    case GW_FRONT_HTTP:
        return send_all(c->fd, http_ok, sizeof http_ok - 1);
    case GW_FRONT_GUEST:
        return send_all(c->fd, "OK\n", 3);
    }
    return false;
}

/* The channel (or the chained gateway) is connected on c->up: answer the client and relay.
 * bnd: what to report as BND.ADDR (NULL: nothing honest to report); via: for the log. */
static void start_relay(struct gw_conn *c, const struct sockaddr *bnd, const char *via)
{
    struct gw *g = c->g;
    if (!reply_success(c, bnd)) {
        VG_CLOG(VG_LOG_INFO, c->ident, "client went away before the reply");
        conn_free(c);
        return;
    }
    VG_CLOG(VG_LOG_INFO, c->ident, "CONNECT %s:%u via %s%s%s in %.3f s", c->name, c->port, via,
            c->user ? " user " : "", c->user ? c->user : "", vg_secs_since(c->t0));

    /* bytes pipelined after the request go upstream first */
    uint8_t *pending = NULL;
    size_t plen = c->len;
    if (plen > 0) {
        if ((pending = vg_malloc(plen)) == NULL) {
            conn_free(c);
            return;
        }
        memcpy(pending, c->buf, plen);
    }
    vg_free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
    event_free(c->ev);
    c->ev = NULL;
    if (c->uev) {
        event_free(c->uev);
        c->uev = NULL;
    }
    event_del(c->timer);
    c->st = ST_RELAY;
    int fd = c->fd, up = c->up;
    c->fd = c->up = -1;
    unsigned flags = (c->front != GW_FRONT_GUEST ? GW_RELAY_CLIENT_TCP : 0) |
                     (c->kind == VG_CHAN_TCP ? GW_RELAY_UP_TCP : 0);
    c->relay = gw_relay_start(g->base, fd, up, flags, pending, plen, g->cfg->idle_timeout,
                              on_relay_done, c);
    if (c->relay == NULL) {
        VG_CLOG(VG_LOG_WARN, c->ident, "cannot start relay");
        conn_free(c);
    }
}

static void succeed(struct gw_conn *c)
{
    struct sockaddr_storage bnd;
    socklen_t blen = sizeof bnd;
    bool ip = c->kind == VG_CHAN_TCP && getsockname(c->up, (struct sockaddr *)&bnd, &blen) == 0;
    start_relay(c, ip ? (struct sockaddr *)&bnd : NULL, vg_chan_kind_name(c->kind));
}

static void on_forwarded(void *arg, int fd, enum vg_outcome out, const char *why,
                         const struct sockaddr *bnd)
{
    struct gw_conn *c = arg;
    c->fwd = NULL;
    if (fd < 0) {
        refuse(c, out, why);
        return;
    }
    c->up = fd;
    c->kind = VG_CHAN_TCP;
    /* BND.ADDR as the owning gateway reported it: the address it connects the VM from */
    start_relay(c, bnd->sa_family == AF_INET || bnd->sa_family == AF_INET6 ? bnd : NULL,
                "the owning host's gateway");
}

/* The name is in the zone but not in this host's table: chain to its owner, one hop at most. */
static void start_forward(struct gw_conn *c)
{
    const struct vg_config *cfg = c->g->cfg;
    c->st = ST_CONNECTING;
    event_del(c->ev);
    arm_timer(c, cfg->dns_timeout + cfg->connect_timeout + cfg->agent_timeout + 2);
    c->fwd = gw_fwd_start(c->g, c->name, c->port, on_forwarded, c);
    if (c->fwd == NULL)
        refuse(c, VG_OUT_INTERNAL, "out of memory");
}

static void on_bridge_done(struct vg_mux_bridge *b, uint64_t up, uint64_t down, const char *err,
                           void *arg)
{
    struct gw_conn *c = arg;
    VG_CLOG(VG_LOG_INFO, c->ident, "closed %s:%u after %.3f s: %llu bytes up, %llu down%s%s",
            c->name, c->port, vg_secs_since(c->t0), (unsigned long long)up,
            (unsigned long long)down, err ? ": " : "", err ? err : "");
    conn_free(c); /* frees the bridge, which closes the client socket */
}

static void on_serial_done(void *arg, struct vg_mux_stream *s, enum vg_outcome out,
                           const char *why)
{
    struct gw_conn *c = arg;
    c->sreq = NULL;
    if (s == NULL) {
        refuse(c, out, why);
        return;
    }
    bool ok = reply_success(c, NULL);
    if (ok && c->len > 0)
        ok = vg_mux_stream_write(s, c->buf, c->len) == 0; /* pipelined bytes go first */
    if (!ok) {
        vg_mux_stream_free(s);
        VG_CLOG(VG_LOG_INFO, c->ident, "client went away before the reply");
        conn_free(c);
        return;
    }
    VG_CLOG(VG_LOG_INFO, c->ident, "CONNECT %s:%u via serial%s%s in %.3f s", c->name, c->port,
            c->user ? " user " : "", c->user ? c->user : "", vg_secs_since(c->t0));
    vg_free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
    event_free(c->ev);
    c->ev = NULL;
    event_del(c->timer);
    c->st = ST_RELAY;
    c->bridge = vg_mux_bridge_new(c->g->base, c->fd, s, on_bridge_done, c);
    if (c->bridge == NULL) {
        vg_mux_stream_free(s);
        VG_CLOG(VG_LOG_WARN, c->ident, "cannot start the serial relay");
        conn_free(c);
    }
}

static void start_serial(struct gw_conn *c, const struct vg_vm *vm)
{
    enum vg_outcome out;
    const char *why;
    c->st = ST_CONNECTING;
    event_del(c->ev);
    arm_timer(c, c->g->cfg->connect_timeout + c->g->cfg->agent_timeout);
    c->sreq = gw_serial_open(c->g, vm->chan.path, c->name, c->port, on_serial_done, c, &out, &why);
    if (c->sreq == NULL)
        refuse(c, out, why);
}

/* ---- connecting the channel ------------------------------------------------------------- */

/* What a socket channel's connect() reaches: the guest port itself (tcp:, vsock:) or first the
 * channel's unix socket (vsock-mux:), for vg_outcome_of_errno. */
static enum vg_via via_of(enum vg_chan_kind kind)
{
    return kind == VG_CHAN_TCP ? VG_VIA_TCP : kind == VG_CHAN_VSOCK ? VG_VIA_VSOCK : VG_VIA_SOCKET;
}

static void on_mux_read(evutil_socket_t fd, short what, void *arg)
{
    struct gw_conn *c = arg;
    char line[MUX_LINE_MAX + 1];
    ssize_t n = recv(c->up, line, MUX_LINE_MAX, MSG_PEEK);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        /* after its CONNECT a hybrid vsock connection is the guest port's */
        const char *why;
        enum vg_outcome o = vg_outcome_of_errno(errno, VG_VIA_VSOCK, &why);
        refuse(c, o, why);
        return;
    }
    if (n == 0) {
        /* Firecracker closes the connection when nothing listens on the guest port */
        refuse(c, VG_OUT_PORT_CLOSED, "port closed in the guest (vsock-mux closed)");
        return;
    }
    char *nl = memchr(line, '\n', (size_t)n);
    if (nl == NULL) {
        if (n == MUX_LINE_MAX)
            refuse(c, VG_OUT_PROTOCOL, "vsock-mux: no reply line");
        return; /* wait for the rest of the line */
    }
    size_t take = (size_t)(nl - line) + 1;
    if (recv(c->up, line, take, 0) != (ssize_t)take) {
        refuse(c, VG_OUT_PROTOCOL, "vsock-mux: short read");
        return;
    }
    if (take < 4 || memcmp(line, "OK ", 3) != 0) {
        refuse(c, VG_OUT_PORT_CLOSED, "vsock-mux: guest refused the port");
        return;
    }
    succeed(c);
}

/* c->up is connected: vsock-mux asks for the port, the others are ready to relay. */
static void channel_connected(struct gw_conn *c)
{
    if (c->kind == VG_CHAN_VSOCK_MUX) {
        char cmd[32];
        int n = snprintf(cmd, sizeof cmd, "CONNECT %u\n", c->port);
        if (!send_all(c->up, cmd, (size_t)n)) {
            refuse(c, VG_OUT_CHANNEL_DOWN, "vsock-mux: cannot send CONNECT");
            return;
        }
        c->st = ST_MUX_REPLY;
        event_free(c->uev);
        c->uev = event_new(c->g->base, c->up, EV_READ | EV_PERSIST, on_mux_read, c);
        if (c->uev == NULL || event_add(c->uev, NULL) != 0) {
            refuse(c, VG_OUT_INTERNAL, "out of memory");
            return;
        }
        return;
    }
    succeed(c);
}

static void refuse_errno(struct gw_conn *c, int err)
{
    const char *why;
    enum vg_outcome o = vg_outcome_of_errno(err, via_of(c->kind), &why);
    refuse(c, o, why);
}

static void on_connected(evutil_socket_t fd, short what, void *arg)
{
    struct gw_conn *c = arg;
    int err = 0;
    socklen_t elen = sizeof err;
    if (getsockopt(c->up, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
        err = errno;
    if (err != 0)
        refuse_errno(c, err);
    else
        channel_connected(c);
}

static void start_connect(struct gw_conn *c, const struct vg_vm *vm)
{
    struct sockaddr_storage ss;
    socklen_t len;
    c->kind = vm->chan.kind;
    if (vm->chan.kind == VG_CHAN_SERIAL) {
        start_serial(c, vm);
        return;
    }
    vg_chan_sockaddr(&vm->chan, c->port, &ss, &len);
    c->up = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->up < 0) {
        refuse_errno(c, errno);
        return;
    }
    if (c->kind == VG_CHAN_TCP) {
        int one = 1;
        setsockopt(c->up, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    /* never bind(): the kernel picks the source address and port (no port exhaustion) */
    c->st = ST_CONNECTING;
    event_del(c->ev); /* the client waits for our reply; later bytes stay in its socket */
    c->uev = event_new(c->g->base, c->up, EV_WRITE, on_connected, c);
    if (c->uev == NULL) {
        refuse(c, VG_OUT_INTERNAL, "out of memory");
        return;
    }
    arm_timer(c, c->g->cfg->connect_timeout);
    if (connect(c->up, (struct sockaddr *)&ss, len) == 0) {
        channel_connected(c);
        return;
    }
    if (errno != EINPROGRESS) {
        refuse_errno(c, errno);
        return;
    }
    /* over loopback or a host-only link the TCP handshake has usually completed inside
     * connect(): asking again tells at once (0: connected; EALREADY: still going; or the
     * error).  Not for vsock, whose second connect() after a fast failure would start anew. */
    if (c->kind == VG_CHAN_TCP) {
        if (connect(c->up, (struct sockaddr *)&ss, len) == 0 || errno == EISCONN) {
            channel_connected(c);
            return;
        }
        if (errno != EALREADY && errno != EINPROGRESS) {
            refuse_errno(c, errno);
            return;
        }
    }
    event_add(c->uev, NULL);
}

/* ---- policy ----------------------------------------------------------------------------- */

/* The request has been parsed: decide, look the VM up, connect.  `target` is the requested
 * host text (a name or an IP literal), NUL-terminated. */
static void handle_target(struct gw_conn *c, const char *target, uint16_t port)
{
    struct gw *g = c->g;
    char err[256];
    const struct vg_vm *vm;
    c->port = port;

    if (vg_name_is_ip_literal(target, strlen(target))) {
        snprintf(c->name, sizeof c->name, "%s", target);
        refuse(c, VG_OUT_NOT_ALLOWED, "IP literal: only VM names are served");
        return;
    }
    enum vg_name_status st = vg_name_normalize(target, strlen(target), c->name);
    if (st != VG_NAME_OK) {
        c->name[0] = '\0';
        snprintf(err, sizeof err, "invalid name: %s", vg_name_strerror(st));
        refuse(c, VG_OUT_BAD_NAME, err);
        return;
    }
    if (vg_config_zone_of(g->cfg, c->name) == NULL) {
        refuse(c, VG_OUT_NOT_ALLOWED, "name outside the served zone(s)");
        return;
    }
    if (g->front) {
        start_forward(c);
        return;
    }
    err[0] = '\0';
    switch (vg_vmtable_lookup(g->vmt, c->name, &vm, err, sizeof err)) {
    case VG_VM_UNKNOWN:
        if (err[0])
            VG_CLOG(VG_LOG_WARN, c->ident, "%s", err);
        if (g->resolver == NULL) {
            refuse(c, VG_OUT_NO_SUCH_VM, "VM unknown on this host");
            return;
        }
        if (c->user && strcmp(c->user, g->cfg->forward_user) == 0) {
            refuse(c, VG_OUT_NO_SUCH_VM,
                   "VM unknown on this host (a chained request is never chained again)");
            return;
        }
        start_forward(c);
        return;
    case VG_VM_BROKEN:
        VG_CLOG(VG_LOG_WARN, c->ident, "VM table entry unusable: %s", err);
        refuse(c, VG_OUT_CHANNEL_DOWN, "VM table entry unusable");
        return;
    case VG_VM_OK:
        break;
    }
    if (!vg_vm_port_allowed(vm, port)) {
        refuse(c, VG_OUT_NOT_ALLOWED, "port not allowed for this VM");
        return;
    }
    start_connect(c, vm);
}

/* Take `used` bytes off the front of the handshake buffer. */
static void consume(struct gw_conn *c, size_t used)
{
    memmove(c->buf, c->buf + used, c->len - used);
    c->len -= used;
}

static bool set_user(struct gw_conn *c, const char *user)
{
    vg_free(c->user);
    c->user = vg_strdup(user);
    return c->user != NULL;
}

/* Run the parsers over what has been read.  Returns when more input is needed, or after the
 * connection moved on (connecting, refused, freed). */
static void process(struct gw_conn *c)
{
    struct gw *g = c->g;
    size_t used;
    for (;;) {
        switch (c->st) {
        case ST_S5_GREETING: {
            struct vg_s5_greeting gr;
            enum vg_parse r = vg_s5_parse_greeting(c->buf, c->len, &gr, &used);
            if (r == VG_P_NEED_MORE)
                return;
            if (r == VG_P_ERROR) {
                VG_CLOG(VG_LOG_INFO, c->ident, "not a SOCKS5 greeting");
                linger_close(c);
                return;
            }
            consume(c, used);
            uint8_t m = VG_S5_METHOD_NONE;
            if (c->anon_ok && vg_s5_offers(&gr, VG_S5_METHOD_NOAUTH))
                m = VG_S5_METHOD_NOAUTH;
            else if (vg_users_count(g->users) > 0 && vg_s5_offers(&gr, VG_S5_METHOD_USERPASS))
                m = VG_S5_METHOD_USERPASS;
            uint8_t out[2] = {5, m};
            if (!send_all(c->fd, out, 2)) {
                conn_free(c);
                return;
            }
            if (m == VG_S5_METHOD_NONE) {
                VG_CLOG(VG_LOG_INFO, c->ident, "no acceptable authentication method");
                linger_close(c);
                return;
            }
            c->st = m == VG_S5_METHOD_USERPASS ? ST_S5_AUTH : ST_S5_REQUEST;
            break;
        }
        case ST_S5_AUTH: {
            struct vg_s5_userpass up;
            enum vg_parse r = vg_s5_parse_userpass(c->buf, c->len, &up, &used);
            if (r == VG_P_NEED_MORE)
                return;
            bool ok = r == VG_P_OK && vg_users_check(g->users, up.user, up.pass);
            explicit_bzero(up.pass, sizeof up.pass);
            uint8_t out[2] = {1, ok ? 0 : 1};
            if (!send_all(c->fd, out, 2)) {
                conn_free(c);
                return;
            }
            if (!ok) {
                VG_CLOG(VG_LOG_NOTICE, c->ident, "authentication failed for user '%.64s'",
                        r == VG_P_OK ? up.user : "");
                linger_close(c);
                return;
            }
            consume(c, used);
            if (!set_user(c, up.user)) {
                conn_free(c);
                return;
            }
            c->st = ST_S5_REQUEST;
            break;
        }
        case ST_S5_REQUEST: {
            struct vg_s5_request rq;
            enum vg_outcome err = VG_OUT_BAD_REQUEST;
            enum vg_parse r = vg_s5_parse_request(c->buf, c->len, &rq, &used, &err);
            if (r == VG_P_NEED_MORE)
                return;
            if (r == VG_P_ERROR) {
                refuse(c, err, "malformed request");
                return;
            }
            consume(c, used);
            c->port = rq.port;
            if (rq.cmd != VG_S5_CMD_CONNECT) {
                refuse(c, VG_OUT_UNSUPPORTED_CMD, "command not supported (CONNECT only)");
                return;
            }
            if (rq.atyp != VG_S5_ATYP_NAME) {
                refuse(c, VG_OUT_BAD_ATYPE, "IP address: only VM names are served");
                return;
            }
            handle_target(c, rq.name, rq.port);
            return;
        }
        case ST_HTTP_HEAD: {
            struct vg_http_connect hc;
            enum vg_outcome err = VG_OUT_BAD_REQUEST;
            enum vg_parse r = vg_http_parse_connect(c->buf, c->len, &hc, &used, &err);
            if (r == VG_P_NEED_MORE)
                return;
            if (r == VG_P_ERROR) {
                refuse(c, err, "malformed HTTP request");
                return;
            }
            consume(c, used);
            c->port = hc.port;
            bool authed = hc.has_auth && vg_users_check(g->users, hc.user, hc.pass);
            explicit_bzero(hc.pass, sizeof hc.pass);
            if (authed && !set_user(c, hc.user)) {
                conn_free(c);
                return;
            }
            if (!authed && !c->anon_ok) {
                refuse(c, VG_OUT_AUTH_FAILED,
                       hc.has_auth ? "authentication failed" : "authentication required");
                return;
            }
            handle_target(c, hc.host, hc.port);
            return;
        }
        default:
            return;
        }
    }
}

static void on_client_read(evutil_socket_t fd, short what, void *arg)
{
    struct gw_conn *c = arg;
    if (c->len == c->cap) {
        /* the parser still wants more than the buffer holds */
        if (c->front == GW_FRONT_HTTP)
            refuse(c, VG_OUT_HEAD_TOO_LARGE, "request head too large");
        else
            linger_close(c);
        return;
    }
    ssize_t n = recv(fd, c->buf + c->len, c->cap - c->len, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        VG_CLOG(VG_LOG_INFO, c->ident, "read error during handshake: %s", strerror(errno));
        conn_free(c);
        return;
    }
    if (n == 0) {
        VG_CLOG(VG_LOG_INFO, c->ident, "client closed during handshake");
        conn_free(c);
        return;
    }
    c->len += (size_t)n;
    process(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct gw_conn *c = arg;
    switch (c->st) {
    case ST_CONNECTING:
    case ST_MUX_REPLY:
        refuse(c, VG_OUT_TIMEOUT, "timed out connecting to the VM");
        return;
    case ST_LINGER:
        conn_free(c);
        return;
    default:
        VG_CLOG(VG_LOG_INFO, c->ident, "handshake timeout");
        if (c->front == GW_FRONT_HTTP) {
            refuse(c, VG_OUT_HANDSHAKE_TIMEOUT, "handshake timeout");
            return;
        }
        conn_free(c);
    }
}

/* A connection in the table, with its events; NULL (fd closed) when out of memory. */
static struct gw_conn *conn_new(struct gw *g, int fd, const struct sockaddr *peer,
                                socklen_t peerlen, enum gw_front front, const char *who)
{
    struct gw_conn *c = vg_calloc(1, sizeof *c);
    if (c == NULL) {
        gw_client_release(g, peer);
        close(fd);
        return NULL;
    }
    c->g = g;
    c->fd = fd;
    c->up = -1;
    c->front = front;
    memcpy(&c->peer, peer, peerlen < sizeof c->peer ? peerlen : sizeof c->peer);
    c->t0 = vg_now_ns();
    snprintf(c->ident, sizeof c->ident, "c%llu %s", (unsigned long long)++g->next_id, who);
    c->next = g->conns;
    if (g->conns)
        g->conns->prev = c;
    g->conns = c;
    g->nconns++; /* conn_free undoes all of this, including the client count */
    c->ev = event_new(g->base, fd, EV_READ | EV_PERSIST, on_client_read, c);
    c->timer = event_new(g->base, -1, 0, on_timer, c);
    if (c->ev == NULL || c->timer == NULL) {
        vg_warn("out of memory accepting a connection");
        conn_free(c);
        return NULL;
    }
    return c;
}

void gw_conn_accept(struct gw *g, int fd, const struct sockaddr *peer, socklen_t peerlen,
                    enum gw_front front)
{
    char a[VG_ADDRSTRLEN];
    struct gw_conn *c = conn_new(g, fd, peer, peerlen, front,
                                 vg_sockaddr_format(peer, true, a, sizeof a));
    if (c == NULL)
        return;
    for (size_t i = 0; i < g->nanon; i++)
        if (vg_cidr_match(&g->anon[i], peer))
            c->anon_ok = true;
    c->cap = front == GW_FRONT_HTTP ? VG_HTTP_HEAD_MAX : SOCKS_BUF;
    c->st = front == GW_FRONT_HTTP ? ST_HTTP_HEAD : ST_S5_GREETING;
    if ((c->buf = vg_malloc(c->cap)) == NULL) {
        conn_free(c);
        return;
    }
    event_add(c->ev, NULL);
    arm_timer(c, g->cfg->handshake_timeout);
    VG_CLOG(VG_LOG_DEBUG, c->ident, "accepted (%s)", front == GW_FRONT_HTTP ? "http" : "socks5");
    /* clients speak first, and by the time the accept is seen their first bytes have usually
     * arrived too: read now rather than after another trip through the event loop */
    on_client_read(fd, EV_READ, c);
}

void gw_conn_start_guest(struct gw *g, int fd, const char *origin, const char *name,
                         uint16_t port)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    char who[300];
    snprintf(who, sizeof who, "guest:%s", origin);
    struct gw_conn *c = conn_new(g, fd, (struct sockaddr *)&sun, sizeof sun, GW_FRONT_GUEST, who);
    if (c == NULL)
        return;
    c->st = ST_S5_REQUEST; /* the request is known: go straight to policy and the channel */
    handle_target(c, name, port);
}

void gw_conns_close_handshaking(struct gw *g)
{
    struct gw_conn *c = g->conns, *next;
    for (; c; c = next) {
        next = c->next;
        if (c->st != ST_RELAY)
            conn_free(c);
    }
}

void gw_conns_close_all(struct gw *g)
{
    while (g->conns)
        conn_free(g->conns);
}
