/* relay — move bytes between two sockets, each direction on its own.
 *
 * A direction starts in copy mode: recv() into a stack buffer, send() at once; what the receiver
 * does not take is kept (bounded by the buffer size) and the source is not read again until it
 * is written.  Short and interactive connections never need more, and idle ones cost no buffer
 * and no pipe.  When one read fills the whole buffer the direction carries bulk data and
 * switches to splice(2) socket → pipe → socket with an enlarged pipe: no copy through user
 * space, and the pipe is the only buffer.  Either way a slow receiver stops its sender
 * (backpressure) and memory stays bounded.
 *
 * A side may be TLS (tls.h: a hop between gateways, listen-https): its bytes go through
 * SSL_read / SSL_write, always in copy mode (several records per wake-up), and bytes TLS has
 * decrypted but not handed out are read without waiting for the socket.
 *
 * EOF on one side is passed on as shutdown(SHUT_WR) of the other once everything read has been
 * written (for TLS, close_notify first): exact half-close.  The relay ends when both directions
 * have seen EOF, on an error, or after idle_timeout seconds without traffic.
 */
#include "gw.h"
#include "tls.h"

#include "vg_alloc.h"
#include "vg_log.h"
#include "vg_time.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PIPE_CHUNK (1 << 20) /* ask splice for up to this much per call */
#define PIPE_SIZE (1 << 20)  /* pipe size asked for in splice mode (F_SETPIPE_SZ; best effort) */
#define COPY_BUF (64 * 1024) /* copy mode: one read at most; a full read switches to splice */

struct half {
    struct gw_relay *r;
    int in, out;
    SSL *in_tls, *out_tls; /* the sides' TLS sessions, or NULL (owned by the relay) */
    int pipe_r, pipe_w;
    size_t queued; /* bytes in the pipe */
    uint8_t *pend; /* bytes read but not yet written (copy mode; pipelined request data) */
    size_t pend_len, pend_off;
    bool eof, shut;
    bool out_tcp;          /* h->out is a TCP socket: data and FIN may share a segment */
    bool reading, writing; /* events added */
    struct event *rev, *wev;
    uint64_t bytes;
};

struct gw_relay {
    struct event_base *base;
    struct half h[2]; /* [0] client → upstream, [1] upstream → client */
    struct event *idle_ev;
    unsigned idle_timeout;
    uint64_t last; /* vg_now_coarse_s() of the last bytes moved */
    gw_relay_done_cb done;
    void *arg;
};

static void relay_free(struct gw_relay *r)
{
    for (int i = 0; i < 2; i++) {
        struct half *h = &r->h[i];
        if (h->rev)
            event_free(h->rev);
        if (h->wev)
            event_free(h->wev);
        if (h->pipe_r >= 0)
            close(h->pipe_r);
        if (h->pipe_w >= 0)
            close(h->pipe_w);
        vg_free(h->pend);
    }
    if (r->idle_ev)
        event_free(r->idle_ev);
    gw_tls_session_free(r->h[0].in_tls);
    gw_tls_session_free(r->h[0].out_tls);
    if (r->h[0].in >= 0)
        close(r->h[0].in);
    if (r->h[0].out >= 0)
        close(r->h[0].out);
    vg_free(r);
}

static void finish(struct gw_relay *r, const char *why)
{
    if (why) {
        /* an error: make both peers see a reset rather than a clean end */
        struct linger lg = {1, 0};
        setsockopt(r->h[0].in, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        setsockopt(r->h[0].out, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    gw_relay_done_cb done = r->done;
    void *arg = r->arg;
    uint64_t up = r->h[0].bytes, down = r->h[1].bytes;
    relay_free(r);
    done(arg, up, down, why);
}

void gw_relay_abort(struct gw_relay *r)
{
    relay_free(r);
}

static void set_reading(struct half *h, bool on)
{
    if (on != h->reading) {
        h->reading = on;
        if (on)
            event_add(h->rev, NULL);
        else
            event_del(h->rev);
    }
    /* TLS may hold decrypted bytes the socket will never announce */
    if (on && gw_tls_pending(h->in_tls) > 0)
        event_active(h->rev, EV_READ, 0);
}

static void set_writing(struct half *h, bool on)
{
    if (on != h->writing) {
        h->writing = on;
        if (on)
            event_add(h->wev, NULL);
        else
            event_del(h->wev);
    }
}

/* Both directions finished? */
static bool all_done(const struct gw_relay *r)
{
    return r->h[0].shut && r->h[1].shut;
}

/* Move what is queued (pending bytes, then the pipe) to h->out.
 * Returns false after finish() was called (r is gone). */
static bool flush(struct half *h)
{
    struct gw_relay *r = h->r;
    while (h->pend) {
        ssize_t n =
            gw_io_send(h->out, h->out_tls, h->pend + h->pend_off, h->pend_len - h->pend_off);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            finish(r, strerror(errno));
            return false;
        }
        h->pend_off += (size_t)n;
        h->bytes += (uint64_t)n;
        if (h->pend_off == h->pend_len) {
            vg_free(h->pend);
            h->pend = NULL;
        }
    }
    while (h->pend == NULL && h->queued > 0) {
        ssize_t n =
            splice(h->pipe_r, NULL, h->out, NULL, h->queued, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            finish(r, strerror(errno));
            return false;
        }
        h->queued -= (size_t)n;
        h->bytes += (uint64_t)n;
    }
    bool backlog = h->pend != NULL || h->queued > 0;
    set_writing(h, backlog);
    set_reading(h, !backlog && !h->eof);
    if (!backlog && h->eof && !h->shut) {
        h->shut = true;
        if (all_done(r)) {
            finish(r, NULL); /* close() sends the FIN: no shutdown() needed */
            return false;
        }
        gw_io_shut_wr(h->out, h->out_tls);
    }
    return true;
}

/* Switch a direction to splice mode.  False (and still copy mode) when no pipe can be had. */
static bool start_splice(struct half *h)
{
    int p[2];
    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0)
        return false;
    (void)fcntl(p[1], F_SETPIPE_SZ, PIPE_SIZE); /* a smaller pipe still works */
    h->pipe_r = p[0];
    h->pipe_w = p[1];
    return true;
}

/* Keep buf[off..n) for flush(): the receiver did not take it. */
static bool keep(struct half *h, const uint8_t *buf, size_t off, size_t n)
{
    if ((h->pend = vg_malloc(n - off)) == NULL) {
        errno = ENOMEM;
        return false;
    }
    memcpy(h->pend, buf + off, n - off);
    h->pend_len = n - off;
    h->pend_off = 0;
    return true;
}

/* Copy mode with a TLS side: read up to cap (TLS hands out one record per call), write it.
 * Returns as copy_once. */
static ssize_t copy_tls(struct half *h, uint8_t *buf, size_t cap)
{
    size_t n = 0;
    int err = 0;
    while (n < cap) {
        ssize_t r = gw_io_recv(h->in, h->in_tls, buf + n, cap - n);
        if (r > 0) {
            n += (size_t)r;
            if (h->in_tls == NULL)
                break; /* a plain socket gave what it had */
            continue;
        }
        err = r == 0 ? 0 : errno;
        if (r == 0)
            h->eof = true;
        break;
    }
    if (n == 0) {
        if (h->eof)
            return 0;
        errno = err;
        return -1;
    }
    ssize_t w = gw_io_send(h->out, h->out_tls, buf, n);
    if (w < 0) {
        if (errno != EAGAIN && errno != EINTR)
            return -1;
        w = 0;
    }
    h->bytes += (uint64_t)w;
    if ((size_t)w < n && !keep(h, buf, (size_t)w, n))
        return -1;
    return (ssize_t)n;
}

/* Copy mode, one read: recv, send at once, keep what the receiver did not take.  Returns what
 * recv returned, or -1 with errno set (also for a failed send).
 *
 * `closed`: the peer's FIN has already arrived (EPOLLRDHUP), so a read shorter than the buffer
 * took the last bytes.  They are sent with MSG_MORE and the EOF is read at once, so that the
 * shutdown() which follows in flush() puts the FIN into the same segment: one packet and one
 * wake-up of the receiver fewer for every request/response connection that ends this way. */
static ssize_t copy_once(struct half *h, bool closed)
{
    uint8_t buf[COPY_BUF];
    ssize_t n;
    if (h->in_tls || h->out_tls)
        return copy_tls(h, buf, sizeof buf);
    n = recv(h->in, buf, sizeof buf, 0);
    if (n <= 0)
        return n;
    bool last = closed && h->out_tcp && n < (ssize_t)sizeof buf;
    ssize_t w = send(h->out, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT | (last ? MSG_MORE : 0));
    if (w < 0) {
        if (errno != EAGAIN && errno != EINTR)
            return -1;
        w = 0;
    }
    h->bytes += (uint64_t)w;
    if (last && w == n) {
        uint8_t probe;
        ssize_t e = recv(h->in, &probe, 1, MSG_DONTWAIT | MSG_PEEK);
        if (e == 0) {
            h->eof = true; /* flush() shuts the write side: the FIN joins the corked bytes */
        } else {
            /* not the end after all: push the corked bytes out now (setting TCP_NODELAY
             * pushes pending frames) and carry on reading as usual */
            int one = 1;
            setsockopt(h->out, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
    }
    /* the receiver is slow: keep the rest, read no more until it is written */
    if (w < n && !keep(h, buf, (size_t)w, (size_t)n))
        return -1;
    if (n == (ssize_t)sizeof buf)
        start_splice(h); /* bulk data: zero-copy from now on */
    return n;
}

/* Splice mode, one read into the pipe. */
static ssize_t splice_once(struct half *h)
{
    ssize_t n = splice(h->in, NULL, h->pipe_w, NULL, PIPE_CHUNK, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0)
        h->queued += (size_t)n;
    return n;
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    struct half *h = arg;
    h->r->last = vg_now_coarse_s();
    ssize_t n = h->pipe_r < 0 ? copy_once(h, what & EV_CLOSED) : splice_once(h);
    if (n == 0) {
        h->eof = true;
    } else if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            finish(h->r, strerror(errno));
        return;
    }
    flush(h);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    struct half *h = arg;
    h->r->last = vg_now_coarse_s();
    flush(h);
}

static void on_idle(evutil_socket_t fd, short what, void *arg)
{
    struct gw_relay *r = arg;
    uint64_t quiet = vg_now_coarse_s() - r->last;
    if (quiet >= r->idle_timeout) {
        finish(r, "idle timeout");
        return;
    }
    struct timeval tv = {(time_t)(r->idle_timeout - quiet), 0};
    event_add(r->idle_ev, &tv);
}

struct gw_relay *gw_relay_start(struct event_base *base, int client_fd, SSL *client_tls,
                                int upstream_fd, SSL *upstream_tls, unsigned flags,
                                uint8_t *pending, size_t pending_len, unsigned idle_timeout,
                                gw_relay_done_cb done, void *arg)
{
    struct gw_relay *r = vg_calloc(1, sizeof *r);
    if (r == NULL) {
        gw_tls_session_free(client_tls);
        gw_tls_session_free(upstream_tls);
        close(client_fd);
        close(upstream_fd);
        vg_free(pending);
        return NULL;
    }
    r->base = base;
    r->done = done;
    r->arg = arg;
    r->idle_timeout = idle_timeout;
    r->last = vg_now_coarse_s();
    int fds[2] = {client_fd, upstream_fd};
    SSL *tls[2] = {client_tls, upstream_tls};
    for (int i = 0; i < 2; i++) {
        struct half *h = &r->h[i];
        h->r = r;
        h->in = fds[i];
        h->out = fds[1 - i];
        h->in_tls = tls[i];
        h->out_tls = tls[1 - i];
        h->pipe_r = h->pipe_w = -1; /* copy mode until bulk data shows up */
        h->out_tcp = (flags & (i == 0 ? GW_RELAY_UP_TCP : GW_RELAY_CLIENT_TCP)) != 0;
        h->rev = event_new(base, h->in, EV_READ | EV_CLOSED | EV_PERSIST, on_read, h);
        h->wev = event_new(base, h->out, EV_WRITE | EV_PERSIST, on_write, h);
        if (h->rev == NULL || h->wev == NULL)
            goto fail;
    }
    if (idle_timeout > 0) {
        struct timeval tv = {(time_t)idle_timeout, 0};
        if ((r->idle_ev = event_new(base, -1, 0, on_idle, r)) == NULL)
            goto fail;
        event_add(r->idle_ev, &tv);
    }
    if (pending && pending_len > 0) {
        r->h[0].pend = pending;
        r->h[0].pend_len = pending_len;
        pending = NULL;
    }
    vg_free(pending);
    /* nothing is sent from here: `done` is never called before this returns */
    set_reading(&r->h[1], true);
    if (r->h[0].pend)
        set_writing(&r->h[0], true);
    else
        set_reading(&r->h[0], true);
    return r;
fail:
    vg_warn("relay setup failed: %s", strerror(errno ? errno : ENOMEM));
    vg_free(pending);
    relay_free(r);
    return NULL;
}

void gw_relay_bytes(const struct gw_relay *r, uint64_t *up, uint64_t *down, uint64_t *last)
{
    *up = r->h[0].bytes;
    *down = r->h[1].bytes;
    *last = r->last;
}
