/* channel — one open/done interface over every kind of channel (channel.h).
 *
 * A struct gw_open is the generic part (callback, the result of an open that finished inside
 * its own start, which is delivered from the loop) plus the state of its kind.  Each kind is a
 * struct gw_chan_ops: start, stop (cancel what is still running), timeout.  Socket channels
 * (tcp, vsock, vsock-mux) are implemented here; serial and forward adapt serial.c and
 * forward.c, which have their own sessions and resolvers.
 */
#include "channel.h"

#include "forward.h"
#include "gw.h"
#include "serial.h"
#include "tls.h"

#include "vg_alloc.h"
#include "vg_chan.h"
#include "vg_mux.h"
#include "vg_vmentry.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MUX_LINE_MAX 64 /* "OK <n>\n" from a hybrid-vsock listener */

struct gw_chan_ops {
    const char *name;
    unsigned (*timeout)(const struct vg_config *cfg);
    /* Start; the open ends through finish() (possibly from inside start). */
    void (*start)(struct gw_open *o, const struct vg_vm *vm, const char *name, uint16_t port);
    /* Release what the kind still holds (cancel, or after finish). */
    void (*stop)(struct gw_open *o);
};

struct gw_open {
    struct gw *g;
    const struct gw_chan_ops *ops;
    gw_chan_done_fn done;
    void *arg;
    bool starting; /* inside ops->start: a result is delivered later, from the loop */
    /* a result known inside start, waiting for `later` */
    struct event *later;
    bool have_result;
    struct gw_upstream up;
    enum vg_outcome out;
    char why[200];
    /* socket channels: live until connected (and, for vsock-mux, until its OK line) */
    int fd;
    struct event *ev;
    enum vg_chan_kind kind;
    uint16_t port;
    char mline[MUX_LINE_MAX]; /* vsock-mux: the reply line read so far */
    size_t mlen;
    /* serial / forward: the request running in serial.c / forward.c */
    struct gw_serial_req *sreq;
    struct gw_fwd *fwd;
    const struct vg_s5_hopid *who; /* during start only */
};

void gw_upstream_close(struct gw_upstream *up)
{
    gw_tls_session_free(up->tls);
    up->tls = NULL;
    if (up->fd >= 0)
        close(up->fd);
    if (up->stream)
        vg_mux_stream_free(up->stream);
    up->fd = -1;
    up->stream = NULL;
}

static void open_free(struct gw_open *o)
{
    o->ops->stop(o);
    if (o->have_result)
        gw_upstream_close(&o->up);
    if (o->later)
        event_free(o->later);
    vg_free(o);
}

static void deliver(struct gw_open *o)
{
    gw_chan_done_fn done = o->done;
    void *arg = o->arg;
    struct gw_upstream up = o->up;
    enum vg_outcome out = o->out;
    char why[sizeof o->why];
    bool ok = up.fd >= 0 || up.stream != NULL;
    memcpy(why, o->why, sizeof why);
    o->have_result = false; /* handed over */
    open_free(o);
    done(arg, ok ? &up : NULL, out, why);
}

static void on_later(evutil_socket_t fd, short what, void *arg)
{
    deliver(arg);
}

/* The open is over: up (its fd or stream is taken) or a failure. */
static void finish(struct gw_open *o, const struct gw_upstream *up, enum vg_outcome out,
                   const char *why)
{
    memset(&o->up, 0, sizeof o->up);
    o->up.fd = -1;
    if (up)
        o->up = *up;
    o->out = up ? VG_OUT_OK : out;
    snprintf(o->why, sizeof o->why, "%s", why ? why : "");
    o->have_result = true;
    if (!o->starting) {
        deliver(o);
        return;
    }
    event_active(o->later, EV_TIMEOUT, 0);
}

/* ---- socket channels: tcp, vsock, vsock-mux ---------------------------------------------- */

static unsigned socket_timeout(const struct vg_config *cfg)
{
    return cfg->connect_timeout;
}

/* What a socket channel's connect() reaches: the guest port itself (tcp:, vsock:) or first the
 * channel's unix socket (vsock-mux:), for vg_outcome_of_errno. */
static enum vg_via via_of(enum vg_chan_kind kind)
{
    return kind == VG_CHAN_TCP ? VG_VIA_TCP : kind == VG_CHAN_VSOCK ? VG_VIA_VSOCK : VG_VIA_SOCKET;
}

static void fail_errno(struct gw_open *o, int err, enum vg_via via)
{
    const char *why;
    enum vg_outcome out = vg_outcome_of_errno(err, via, &why);
    finish(o, NULL, out, why);
}

static void socket_ready(struct gw_open *o)
{
    struct gw_upstream up = {
        .fd = o->fd, .tcp = o->kind == VG_CHAN_TCP, .via = vg_chan_kind_name(o->kind)};
    socklen_t blen = sizeof up.bnd;
    /* BND: the gateway's end of the channel, which is what the VM sees; unix and vsock
     * sockets have no IP address to report */
    if (!up.tcp || getsockname(o->fd, (struct sockaddr *)&up.bnd, &blen) != 0)
        memset(&up.bnd, 0, sizeof up.bnd);
    o->fd = -1;
    finish(o, &up, VG_OUT_OK, NULL);
}

/* The hybrid-vsock reply line.  Bytes are consumed as they come (only up to the line's newline:
 * what follows belongs to the guest port), so a peer that sends part of a line and then waits
 * leaves nothing readable behind: the level-triggered read event does not fire again until more
 * arrives, and the caller's connect-timeout ends the wait. */
static void on_mux_read(evutil_socket_t fd, short what, void *arg)
{
    struct gw_open *o = arg;
    char *at = o->mline + o->mlen;
    ssize_t n = recv(o->fd, at, MUX_LINE_MAX - o->mlen, MSG_PEEK);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        /* after its CONNECT a hybrid vsock connection is the guest port's */
        fail_errno(o, errno, VG_VIA_VSOCK);
        return;
    }
    if (n == 0) {
        /* Firecracker closes the connection when nothing listens on the guest port */
        finish(o, NULL, VG_OUT_PORT_CLOSED, "port closed in the guest (vsock-mux closed)");
        return;
    }
    char *nl = memchr(at, '\n', (size_t)n);
    size_t take = nl ? (size_t)(nl - at) + 1 : (size_t)n;
    if (recv(o->fd, at, take, 0) != (ssize_t)take) {
        finish(o, NULL, VG_OUT_PROTOCOL, "vsock-mux: short read");
        return;
    }
    o->mlen += take;
    if (nl == NULL) {
        if (o->mlen == MUX_LINE_MAX)
            finish(o, NULL, VG_OUT_PROTOCOL, "vsock-mux: no reply line");
        return; /* wait for the rest of the line */
    }
    if (o->mlen < 4 || memcmp(o->mline, "OK ", 3) != 0) {
        finish(o, NULL, VG_OUT_PORT_CLOSED, "vsock-mux: guest refused the port");
        return;
    }
    event_free(o->ev);
    o->ev = NULL;
    socket_ready(o);
}

/* o->fd is connected: vsock-mux asks for the port, the others are ready. */
static void socket_connected(struct gw_open *o)
{
    if (o->kind != VG_CHAN_VSOCK_MUX) {
        socket_ready(o);
        return;
    }
    char cmd[32];
    int n = snprintf(cmd, sizeof cmd, "CONNECT %u\n", o->port);
    /* a few bytes on a socket whose send buffer is empty */
    if (send(o->fd, cmd, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n) {
        finish(o, NULL, VG_OUT_CHANNEL_DOWN, "vsock-mux: cannot send CONNECT");
        return;
    }
    if (o->ev)
        event_free(o->ev);
    o->ev = event_new(o->g->base, o->fd, EV_READ | EV_PERSIST, on_mux_read, o);
    if (o->ev == NULL || event_add(o->ev, NULL) != 0)
        finish(o, NULL, VG_OUT_INTERNAL, "out of memory");
}

static void on_connected(evutil_socket_t fd, short what, void *arg)
{
    struct gw_open *o = arg;
    int err = 0;
    socklen_t elen = sizeof err;
    if (getsockopt(o->fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
        err = errno;
    if (err != 0)
        fail_errno(o, err, via_of(o->kind));
    else
        socket_connected(o);
}

static void socket_start(struct gw_open *o, const struct vg_vm *vm, const char *name, uint16_t port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    (void)name;
    o->kind = vm->chan.kind;
    o->port = port;
    vg_chan_sockaddr(&vm->chan, port, &ss, &len);
    o->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (o->fd < 0) {
        fail_errno(o, errno, via_of(o->kind));
        return;
    }
    if (o->kind == VG_CHAN_TCP) {
        int one = 1;
        setsockopt(o->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    o->ev = event_new(o->g->base, o->fd, EV_WRITE, on_connected, o);
    if (o->ev == NULL) {
        finish(o, NULL, VG_OUT_INTERNAL, "out of memory");
        return;
    }
    /* never bind(): the kernel picks the source address and port (no port exhaustion) */
    if (connect(o->fd, (struct sockaddr *)&ss, len) == 0) {
        socket_connected(o);
        return;
    }
    if (errno != EINPROGRESS) {
        fail_errno(o, errno, via_of(o->kind));
        return;
    }
    /* over loopback or a host-only link the TCP handshake has usually completed inside
     * connect(): asking again tells at once (0: connected; EALREADY: still going; or the
     * error).  Not for vsock, whose second connect() after a fast failure would start anew. */
    if (o->kind == VG_CHAN_TCP) {
        if (connect(o->fd, (struct sockaddr *)&ss, len) == 0 || errno == EISCONN) {
            socket_connected(o);
            return;
        }
        if (errno != EALREADY && errno != EINPROGRESS) {
            fail_errno(o, errno, via_of(o->kind));
            return;
        }
    }
    event_add(o->ev, NULL);
}

static void socket_stop(struct gw_open *o)
{
    if (o->ev)
        event_free(o->ev);
    if (o->fd >= 0)
        close(o->fd);
    o->ev = NULL;
    o->fd = -1;
}

static const struct gw_chan_ops socket_ops = {"socket", socket_timeout, socket_start, socket_stop};

/* ---- serial: a stream of the VM's agent session (serial.c) -------------------------------- */

static unsigned serial_timeout(const struct vg_config *cfg)
{
    return cfg->connect_timeout + cfg->agent_timeout;
}

static void on_serial_done(void *arg, struct vg_mux_stream *s, enum vg_outcome out, const char *why)
{
    struct gw_open *o = arg;
    o->sreq = NULL;
    if (s == NULL) {
        finish(o, NULL, out, why);
        return;
    }
    struct gw_upstream up = {.fd = -1, .stream = s, .via = "serial"};
    finish(o, &up, VG_OUT_OK, NULL);
}

static void serial_start(struct gw_open *o, const struct vg_vm *vm, const char *name, uint16_t port)
{
    enum vg_outcome out;
    const char *why;
    o->sreq = gw_serial_open(o->g, vm->chan.path, name, port, on_serial_done, o, &out, &why);
    if (o->sreq == NULL)
        finish(o, NULL, out, why);
}

static void serial_stop(struct gw_open *o)
{
    if (o->sreq)
        gw_serial_cancel(o->sreq);
    o->sreq = NULL;
}

static const struct gw_chan_ops serial_ops = {"serial", serial_timeout, serial_start, serial_stop};

/* ---- forward: the owning host's gateway (forward.c) --------------------------------------- */

static unsigned forward_timeout(const struct vg_config *cfg)
{
    return cfg->dns_timeout + cfg->connect_timeout + cfg->agent_timeout + 2;
}

static void on_forwarded(void *arg, int fd, SSL *tls, enum vg_outcome out, const char *why,
                         const struct sockaddr *bnd)
{
    struct gw_open *o = arg;
    o->fwd = NULL;
    if (fd < 0) {
        finish(o, NULL, out, why);
        return;
    }
    struct gw_upstream up = {
        .fd = fd, .tls = tls, .tcp = true, .via = "the owning host's gateway (TLS)"};
    /* BND.ADDR as the owning gateway reported it: the address it connects the VM from */
    if (bnd->sa_family == AF_INET)
        memcpy(&up.bnd, bnd, sizeof(struct sockaddr_in));
    else if (bnd->sa_family == AF_INET6)
        memcpy(&up.bnd, bnd, sizeof(struct sockaddr_in6));
    finish(o, &up, VG_OUT_OK, NULL);
}

static void forward_start(struct gw_open *o, const struct vg_vm *vm, const char *name,
                          uint16_t port)
{
    (void)vm;
    o->fwd = gw_fwd_start(o->g, name, port, o->who, on_forwarded, o);
    if (o->fwd == NULL)
        finish(o, NULL, VG_OUT_INTERNAL, "out of memory");
}

static void forward_stop(struct gw_open *o)
{
    if (o->fwd)
        gw_fwd_cancel(o->fwd);
    o->fwd = NULL;
}

static const struct gw_chan_ops forward_ops = {"forward", forward_timeout, forward_start,
                                               forward_stop};

/* ---- the interface ------------------------------------------------------------------------ */

static const struct gw_chan_ops *ops_of(const struct vg_vm *vm)
{
    if (vm == NULL)
        return &forward_ops;
    return vm->chan.kind == VG_CHAN_SERIAL ? &serial_ops : &socket_ops;
}

unsigned gw_chan_timeout(const struct gw *g, const struct vg_vm *vm)
{
    return ops_of(vm)->timeout(g->cfg);
}

struct gw_open *gw_chan_open(struct gw *g, const struct vg_vm *vm, const char *name, uint16_t port,
                             const struct vg_s5_hopid *who, gw_chan_done_fn done, void *arg)
{
    struct gw_open *o = vg_calloc(1, sizeof *o);
    if (o == NULL)
        return NULL;
    o->g = g;
    o->ops = ops_of(vm);
    o->done = done;
    o->arg = arg;
    o->fd = -1;
    o->up.fd = -1;
    if ((o->later = event_new(g->base, -1, 0, on_later, o)) == NULL) {
        vg_free(o);
        return NULL;
    }
    o->starting = true;
    o->who = who;
    o->ops->start(o, vm, name, port);
    o->who = NULL;
    o->starting = false;
    return o;
}

void gw_chan_cancel(struct gw_open *o)
{
    open_free(o);
}
