#include "vg_mux_bridge.h"

#include "vg_alloc.h"
#include "vg_mux.h"
#include "vg_time.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define BRIDGE_READ 65536
#define BRIDGE_IOV 16

struct vg_mux_bridge {
    struct event_base *base;
    int fd;
    struct vg_mux_stream *s;
    struct event *rd, *wr, *kick;
    struct event *idle_ev; /* NULL unless vg_mux_bridge_set_idle() set a timeout */
    unsigned idle_secs;
    uint64_t last;   /* vg_now_coarse_s() of the last bytes moved either way */
    bool rd_paused;  /* stopped by backpressure */
    bool up_eof;     /* fd EOF seen, stream shut down */
    bool down_eof;   /* stream EOF seen and fd SHUT_WR done */
    bool finished;   /* done called */
    bool not_socket; /* fall back to writev */
    uint64_t up, down;
    vg_mux_bridge_done_fn done;
    void *arg;
    char err[96];
};

/* Calls done; the bridge may be freed on return. */
static void finish(struct vg_mux_bridge *b, const char *err)
{
    if (b->finished)
        return;
    b->finished = true;
    event_del(b->rd);
    event_del(b->wr);
    event_del(b->kick);
    if (b->idle_ev)
        event_del(b->idle_ev);
    if (err)
        snprintf(b->err, sizeof b->err, "%s", err);
    b->done(b, b->up, b->down, err ? b->err : NULL, b->arg);
}

static void finish_errno(struct vg_mux_bridge *b, const char *what)
{
    char msg[96];
    snprintf(msg, sizeof msg, "%s: %s", what, strerror(errno));
    finish(b, msg);
}

/* true when finished (b may be gone) */
static bool check_done(struct vg_mux_bridge *b)
{
    if (b->up_eof && b->down_eof) {
        finish(b, NULL);
        return true;
    }
    return false;
}

/* Write the stream's input to the fd.  Returns true when the bridge finished. */
static bool flush_down(struct vg_mux_bridge *b)
{
    struct evbuffer *in = vg_mux_stream_input(b->s);
    while (evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec ev[BRIDGE_IOV];
        struct iovec iov[BRIDGE_IOV];
        int n = evbuffer_peek(in, -1, NULL, ev, BRIDGE_IOV);
        if (n > BRIDGE_IOV)
            n = BRIDGE_IOV;
        for (int i = 0; i < n; i++) {
            iov[i].iov_base = ev[i].iov_base;
            iov[i].iov_len = ev[i].iov_len;
        }
        ssize_t w;
        if (!b->not_socket) {
            struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
            w = sendmsg(b->fd, &mh, MSG_NOSIGNAL);
            if (w < 0 && errno == ENOTSOCK) {
                b->not_socket = true;
                continue;
            }
        } else {
            w = writev(b->fd, iov, n);
        }
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                event_add(b->wr, NULL);
                return false;
            }
            finish_errno(b, "write");
            return true;
        }
        b->down += (uint64_t)w;
        b->last = vg_now_coarse_s();
        evbuffer_drain(in, (size_t)w); /* → window update for the peer */
    }
    event_del(b->wr);
    if ((vg_mux_stream_state(b->s) & VG_MUX_EOF) && !b->down_eof) {
        b->down_eof = true;
        shutdown(b->fd, SHUT_WR);
        return check_done(b);
    }
    return false;
}

static void read_fd(struct vg_mux_bridge *b)
{
    char buf[BRIDGE_READ];
    while (vg_mux_stream_queued(b->s) < VG_MUX_BRIDGE_HIGH) {
        ssize_t n = read(b->fd, buf, sizeof buf);
        if (n > 0) {
            if (vg_mux_stream_write(b->s, buf, (size_t)n) != 0) {
                finish(b, "stream closed");
                return;
            }
            b->up += (uint64_t)n;
            b->last = vg_now_coarse_s();
            if ((size_t)n < sizeof buf)
                return; /* probably drained; the next readiness brings more */
            continue;
        }
        if (n == 0) {
            b->up_eof = true;
            event_del(b->rd);
            vg_mux_stream_shutdown(b->s);
            check_done(b);
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        finish_errno(b, "read");
        return;
    }
    event_del(b->rd);
    b->rd_paused = true;
}

static void rd_cb(evutil_socket_t fd, short what, void *arg)
{
    read_fd(arg);
}

static void wr_cb(evutil_socket_t fd, short what, void *arg)
{
    flush_down(arg);
}

static void stream_read_cb(struct vg_mux_stream *s, void *arg)
{
    struct vg_mux_bridge *b = arg;
    if (!event_pending(b->wr, EV_WRITE, NULL)) /* else: wait for the fd */
        flush_down(b);
}

static void stream_event_cb(struct vg_mux_stream *s, short what, void *arg)
{
    struct vg_mux_bridge *b = arg;
    if (what & VG_MUX_RESET) {
        struct vg_mux *m = vg_mux_stream_mux(s);
        const char *why = m ? vg_mux_error(m) : NULL;
        char msg[96];
        snprintf(msg, sizeof msg, "%s%s", why ? "session closed: " : "stream reset",
                 why ? why : "");
        finish(b, msg);
        return;
    }
    if (what & VG_MUX_EOF) {
        if (!event_pending(b->wr, EV_WRITE, NULL) && flush_down(b))
            return;
    }
    if ((what & VG_MUX_DRAINED) && b->rd_paused && !b->up_eof) {
        b->rd_paused = false;
        event_add(b->rd, NULL);
    }
}

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct vg_mux_bridge *b = arg;
    if (vg_mux_stream_state(b->s) & VG_MUX_RESET) {
        finish(b, "stream reset");
        return;
    }
    flush_down(b);
}

static void idle_cb(evutil_socket_t fd, short what, void *arg)
{
    struct vg_mux_bridge *b = arg;
    uint64_t quiet = vg_now_coarse_s() - b->last;
    if (quiet >= b->idle_secs) {
        finish(b, "idle timeout");
        return;
    }
    struct timeval tv = {(time_t)(b->idle_secs - quiet), 0};
    event_add(b->idle_ev, &tv);
}

int vg_mux_bridge_set_idle(struct vg_mux_bridge *b, unsigned secs)
{
    if (b->idle_ev == NULL && secs > 0 &&
        (b->idle_ev = event_new(b->base, -1, 0, idle_cb, b)) == NULL)
        return -1;
    b->idle_secs = secs;
    b->last = vg_now_coarse_s();
    if (b->idle_ev == NULL || b->finished)
        return 0;
    if (secs == 0) {
        event_del(b->idle_ev);
        return 0;
    }
    struct timeval tv = {(time_t)secs, 0};
    return event_add(b->idle_ev, &tv);
}

struct vg_mux_bridge *vg_mux_bridge_new(struct event_base *base, int fd, struct vg_mux_stream *s,
                                        vg_mux_bridge_done_fn done, void *arg)
{
    struct vg_mux_bridge *b = vg_calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->base = base;
    b->fd = fd;
    b->s = s;
    b->done = done;
    b->arg = arg;
    b->last = vg_now_coarse_s();
    b->rd = event_new(base, fd, EV_READ | EV_PERSIST, rd_cb, b);
    b->wr = event_new(base, fd, EV_WRITE | EV_PERSIST, wr_cb, b);
    b->kick = event_new(base, -1, 0, kick_cb, b);
    if (!b->rd || !b->wr || !b->kick || evutil_make_socket_nonblocking(fd) != 0 ||
        event_add(b->rd, NULL) != 0) {
        if (b->rd)
            event_free(b->rd);
        if (b->wr)
            event_free(b->wr);
        if (b->kick)
            event_free(b->kick);
        vg_free(b);
        return NULL;
    }
    vg_mux_stream_setcb(s, stream_read_cb, stream_event_cb, b);
    event_active(b->kick, EV_TIMEOUT, 0);
    return b;
}

void vg_mux_bridge_free(struct vg_mux_bridge *b)
{
    if (!b)
        return;
    event_free(b->rd);
    event_free(b->wr);
    event_free(b->kick);
    if (b->idle_ev)
        event_free(b->idle_ev);
    vg_mux_stream_setcb(b->s, NULL, NULL, NULL);
    if (!b->finished || b->err[0]) {
        vg_mux_stream_reset(b->s);
        /* the fd's peer must see the abort too (RST, ECONNRESET), not a clean end of data: a
         * stream reset or a lost session would otherwise look like a complete transfer */
        struct linger lg = {1, 0};
        (void)setsockopt(b->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    vg_mux_stream_free(b->s);
    close(b->fd);
    vg_free(b);
}

void vg_mux_bridge_bytes(const struct vg_mux_bridge *b, uint64_t *fd_to_stream,
                         uint64_t *stream_to_fd, uint64_t *last)
{
    *fd_to_stream = b->up;
    *stream_to_fd = b->down;
    *last = b->last;
}
