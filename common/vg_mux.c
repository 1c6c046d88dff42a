/* vg_mux — yamux session on libevent.  See vg_mux.h for the contract, docs/protocol.md for the
 * wire rules.
 *
 * Structure
 *   read_cb    reads the fd into `inbuf`, parses headers, streams Data payloads straight into the
 *              target stream's input buffer (a frame never has to fit in memory at once).
 *   pump       moves queued stream bytes into `outbuf` as Data frames, round robin over the
 *              `ready` list, while `outbuf` is below out_high; sends pending FINs.
 *   write_cb   writes `outbuf` to the fd; below out_low it runs the pump again.
 *   Control frames (ACK, window updates, RST, pings, GoAway) go straight into `outbuf`.
 *
 * Re-entrancy: every libevent entry point brackets its work with enter()/leave().  Application
 * callbacks run only inside such a bracket; memory of streams and of the session is released only
 * when the bracket depth is back to 0, so a callback may free anything without pulling the floor
 * from under the parser.
 */
#include "vg_mux.h"

#include "vg_alloc.h"
#include "vg_log.h"
#include "vg_random.h"
#include "vg_time.h"
#include "vg_yamux.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MUX_WINDOW VG_YAMUX_INITIAL_WINDOW
#define MUX_BUCKETS 256
#define MUX_READ_MAX 65536
/* fds that are not sockets (a virtio-serial port in the guest): see out_write() and read_cb() */
#define MUX_DEV_WRITE_MAX 32768       /* virtio_console takes at most 32 KiB per write() */
#define MUX_DEV_READ_MAX (256 * 1024) /* gathered per read event (each read() gives <= 4 KiB) */

struct vg_mux_stream {
    struct vg_mux *m; /* NULL once detached by vg_mux_free() */
    uint32_t id;
    TAILQ_ENTRY(vg_mux_stream) all; /* m->streams: every stream object of the session */
    TAILQ_ENTRY(vg_mux_stream) rdy; /* m->ready: has data + window, or a FIN to send */
    struct vg_mux_stream *hnext;    /* id table chain (live streams only) */
    struct evbuffer *input;
    struct evbuffer *sendq;
    uint32_t recv_window; /* bytes the peer may still send us */
    uint64_t send_window; /* bytes we may still send */
    bool outbound;
    bool in_ready, in_table;
    bool acked;
    bool fin_requested, fin_sent, fin_received;
    bool reset;
    bool proto_done; /* both FINs or a RST: the id is gone */
    bool app_owned;
    bool drain_notify; /* the app queued bytes since the last DRAINED */
    void (*on_read)(struct vg_mux_stream *, void *);
    void (*on_event)(struct vg_mux_stream *, short, void *);
    void *arg;
};

TAILQ_HEAD(stream_list, vg_mux_stream);

struct vg_mux {
    struct event_base *base;
    int fd;
    bool fd_socket; /* else a character device (virtio-serial port) */
    bool client;
    struct vg_mux_cbs cbs;
    void *arg;
    struct vg_mux_opts opts;

    struct event *read_ev, *write_ev, *pump_ev, *ka_ev, *ka_to_ev;
    struct evbuffer *inbuf, *outbuf;
    bool read_stopped;

    /* parser: the rest of a Data payload still to come */
    uint32_t payload_left;
    struct vg_mux_stream *payload_to; /* NULL: discard */
    bool payload_fin;

    struct stream_list streams;
    struct stream_list ready;
    struct vg_mux_stream *table[MUX_BUCKETS];
    unsigned nstreams; /* live (in the id table) */
    uint32_t next_id;

    uint32_t ping_id; /* opaque value of the outstanding ping (random) */
    bool ping_outstanding;
    uint64_t ping_sent_us;

    bool local_goaway, remote_goaway;
    bool dead;
    bool free_requested, in_destroy;
    bool need_reap;
    unsigned depth;
    char why[160];
};

static void mux_destroy(struct vg_mux *m);
static void stream_destroy(struct vg_mux_stream *s);
static void pump(struct vg_mux *m);
static int out_write(struct vg_mux *m);

/* ------------------------------------------------------------------------------ helpers */

static struct timeval ms_tv(unsigned ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

static void enter(struct vg_mux *m)
{
    m->depth++;
}

static void reap(struct vg_mux *m)
{
    struct vg_mux_stream *s, *next;
    m->need_reap = false;
    for (s = TAILQ_FIRST(&m->streams); s; s = next) {
        next = TAILQ_NEXT(s, all);
        if (!s->app_owned && s->proto_done)
            stream_destroy(s);
    }
}

/* Leaves a bracket; may free m: the caller must not touch m afterwards. */
static void leave(struct vg_mux *m)
{
    if (--m->depth > 0)
        return;
    if (m->free_requested) {
        mux_destroy(m);
        return;
    }
    if (m->need_reap)
        reap(m);
}

static void schedule_pump(struct vg_mux *m)
{
    if (!m->dead)
        event_active(m->pump_ev, EV_TIMEOUT, 0);
}

static void arm_write(struct vg_mux *m)
{
    if (!m->dead && evbuffer_get_length(m->outbuf) > 0)
        event_add(m->write_ev, NULL);
}

static void queue_frame(struct vg_mux *m, uint8_t type, uint16_t flags, uint32_t id, uint32_t len)
{
    uint8_t hdr[VG_YAMUX_HDR_LEN];
    if (m->dead)
        return;
    vg_yamux_encode(hdr, type, flags, id, len);
    if (evbuffer_add(m->outbuf, hdr, sizeof hdr) != 0)
        vg_warn("mux: out of memory queueing a frame");
    if (vg_log_max >= VG_LOG_DEBUG) {
        char fl[32];
        vg_debug("mux fd %d: send %s %s id %u len %u", m->fd, vg_yamux_type_name(type),
                 vg_yamux_flags_format(flags, fl, sizeof fl), id, len);
    }
    arm_write(m);
}

static unsigned bucket(uint32_t id)
{
    return (id >> 1) % MUX_BUCKETS;
}

static struct vg_mux_stream *table_find(struct vg_mux *m, uint32_t id)
{
    struct vg_mux_stream *s;
    for (s = m->table[bucket(id)]; s; s = s->hnext)
        if (s->id == id)
            return s;
    return NULL;
}

static void table_add(struct vg_mux *m, struct vg_mux_stream *s)
{
    unsigned b = bucket(s->id);
    s->hnext = m->table[b];
    m->table[b] = s;
    s->in_table = true;
    m->nstreams++;
}

static void table_remove(struct vg_mux *m, struct vg_mux_stream *s)
{
    struct vg_mux_stream **pp;
    if (!s->in_table)
        return;
    for (pp = &m->table[bucket(s->id)]; *pp; pp = &(*pp)->hnext) {
        if (*pp == s) {
            *pp = s->hnext;
            break;
        }
    }
    s->hnext = NULL;
    s->in_table = false;
    m->nstreams--;
}

static void ready_remove(struct vg_mux *m, struct vg_mux_stream *s)
{
    if (s->in_ready) {
        TAILQ_REMOVE(&m->ready, s, rdy);
        s->in_ready = false;
    }
}

/* Put the stream on the ready list when it has something the pump can send now. */
static void ready_update(struct vg_mux *m, struct vg_mux_stream *s)
{
    size_t q = evbuffer_get_length(s->sendq);
    bool want = !s->proto_done && !s->reset && !s->fin_sent &&
                ((q > 0 && s->send_window > 0) || (q == 0 && s->fin_requested));
    if (want && !s->in_ready) {
        TAILQ_INSERT_TAIL(&m->ready, s, rdy);
        s->in_ready = true;
    } else if (!want) {
        ready_remove(m, s);
    }
}

/* The stream id is finished (both FINs, or reset).  Memory stays while the app holds it. */
static void stream_done(struct vg_mux_stream *s)
{
    struct vg_mux *m = s->m;
    if (s->proto_done)
        return;
    s->proto_done = true;
    evbuffer_drain(s->sendq, evbuffer_get_length(s->sendq));
    if (m) {
        table_remove(m, s);
        ready_remove(m, s);
        if (!s->app_owned)
            m->need_reap = true;
        schedule_pump(m); /* reaping, GoAway check */
    }
}

static void stream_event(struct vg_mux_stream *s, short what)
{
    if (s->app_owned && s->on_event)
        s->on_event(s, what, s->arg);
}

/* Window update after the app drained input (evbuffer callback; no app code runs here). */
static void maybe_window_update(struct vg_mux_stream *s)
{
    struct vg_mux *m = s->m;
    if (!m || m->dead || s->reset || s->fin_received || s->proto_done)
        return;
    size_t buffered = evbuffer_get_length(s->input);
    if (buffered + s->recv_window >= MUX_WINDOW)
        return;
    uint32_t delta = (uint32_t)(MUX_WINDOW - buffered - s->recv_window);
    if (delta < MUX_WINDOW / 2)
        return;
    s->recv_window += delta;
    queue_frame(m, VG_YAMUX_WINDOW_UPDATE, 0, s->id, delta);
}

static void input_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    (void)buf;
    if (info->n_deleted > 0)
        maybe_window_update(arg);
}

static struct vg_mux_stream *stream_new(struct vg_mux *m, uint32_t id, bool outbound)
{
    struct vg_mux_stream *s = vg_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->input = evbuffer_new();
    s->sendq = evbuffer_new();
    if (!s->input || !s->sendq || !evbuffer_add_cb(s->input, input_cb, s)) {
        if (s->input)
            evbuffer_free(s->input);
        if (s->sendq)
            evbuffer_free(s->sendq);
        vg_free(s);
        return NULL;
    }
    s->m = m;
    s->id = id;
    s->outbound = outbound;
    s->recv_window = MUX_WINDOW;
    s->send_window = MUX_WINDOW;
    s->app_owned = true;
    TAILQ_INSERT_TAIL(&m->streams, s, all);
    table_add(m, s);
    return s;
}

/* Release the memory (the stream is no longer referenced by the app). */
static void stream_destroy(struct vg_mux_stream *s)
{
    struct vg_mux *m = s->m;
    if (m) {
        table_remove(m, s);
        ready_remove(m, s);
        TAILQ_REMOVE(&m->streams, s, all);
        if (m->payload_to == s)
            m->payload_to = NULL;
    }
    evbuffer_free(s->input); /* no callbacks are run by evbuffer_free */
    evbuffer_free(s->sendq);
    vg_free(s);
}

/* ------------------------------------------------------------------------------ session end */

/* The session ends: streams get RESET, then on_close.  Only from inside a bracket. */
static void mux_fail(struct vg_mux *m, int goaway_code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void mux_fail(struct vg_mux *m, int goaway_code, const char *fmt, ...)
{
    va_list ap;
    struct vg_mux_stream *s;
    if (m->dead)
        return;
    va_start(ap, fmt);
    vsnprintf(m->why, sizeof m->why, fmt, ap);
    va_end(ap);
    if (goaway_code >= 0) {
        /* best effort: whatever fits in the socket now, GoAway last */
        uint8_t hdr[VG_YAMUX_HDR_LEN];
        vg_yamux_encode(hdr, VG_YAMUX_GO_AWAY, 0, 0, (uint32_t)goaway_code);
        evbuffer_add(m->outbuf, hdr, sizeof hdr);
        while (evbuffer_get_length(m->outbuf) > 0 && out_write(m) > 0)
            ;
    }
    m->dead = true;
    vg_info("mux fd %d: session closed: %s", m->fd, m->why);
    event_del(m->read_ev);
    event_del(m->write_ev);
    event_del(m->ka_ev);
    event_del(m->ka_to_ev);
    TAILQ_FOREACH(s, &m->streams, all)
    {
        if (s->proto_done)
            continue;
        s->reset = true;
        stream_done(s);
        stream_event(s, VG_MUX_RESET);
    }
    if (m->cbs.on_close && !m->free_requested) /* not if freed from a RESET handler */
        m->cbs.on_close(m, m->why, m->arg);
}

static void protocol_error(struct vg_mux *m, const char *what, uint32_t id)
{
    mux_fail(m, VG_YAMUX_GOAWAY_PROTO, "protocol error: %s (stream %u)", what, id);
}

/* ------------------------------------------------------------------------------ input */

static void handle_fin(struct vg_mux *m, struct vg_mux_stream *s)
{
    if (s->fin_received) {
        protocol_error(m, "second FIN", s->id);
        return;
    }
    s->fin_received = true;
    if (s->fin_sent)
        stream_done(s);
    stream_event(s, VG_MUX_EOF);
}

static void handle_reset(struct vg_mux_stream *s)
{
    if (s->proto_done)
        return;
    s->reset = true;
    stream_done(s);
    stream_event(s, VG_MUX_RESET);
}

/* Move up to the rest of the current payload from inbuf to its stream. */
static void deliver_payload(struct vg_mux *m)
{
    size_t avail = evbuffer_get_length(m->inbuf);
    size_t n = avail < m->payload_left ? avail : m->payload_left;
    struct vg_mux_stream *s = m->payload_to;
    if (n == 0)
        return;
    m->payload_left -= (uint32_t)n;
    if (!s || s->reset || s->proto_done) {
        evbuffer_drain(m->inbuf, n);
    } else {
        evbuffer_remove_buffer(m->inbuf, s->input, n);
        if (!s->app_owned)
            evbuffer_drain(s->input, evbuffer_get_length(s->input)); /* orphan: discard */
        else if (s->on_read)
            s->on_read(s, s->arg);
    }
    if (m->dead || m->payload_left > 0)
        return;
    s = m->payload_to;
    m->payload_to = NULL;
    if (s && m->payload_fin && !s->proto_done && !s->reset)
        handle_fin(m, s);
}

static void handle_syn(struct vg_mux *m, const struct vg_yamux_hdr *h)
{
    struct vg_mux_stream *s;
    const char *refuse = NULL;
    if (table_find(m, h->stream_id)) {
        protocol_error(m, "duplicate stream", h->stream_id);
        return;
    }
    if ((vg_yamux_id_is_client(h->stream_id) != 0) == m->client) {
        protocol_error(m, "stream id of the wrong parity", h->stream_id);
        return;
    }
    if (m->local_goaway)
        refuse = "going away";
    else if (!m->cbs.on_accept)
        refuse = "not accepting streams";
    else if (m->nstreams >= m->opts.max_streams)
        refuse = "too many streams";
    if (refuse || !(s = stream_new(m, h->stream_id, false))) {
        vg_info("mux fd %d: refusing stream %u: %s", m->fd, h->stream_id,
                refuse ? refuse : "out of memory");
        queue_frame(m, VG_YAMUX_WINDOW_UPDATE, VG_YAMUX_RST, h->stream_id, 0);
        return;
    }
    m->cbs.on_accept(m, s, m->arg);
    if (!m->dead && !s->reset)
        queue_frame(m, VG_YAMUX_WINDOW_UPDATE, VG_YAMUX_ACK, s->id, 0);
}

static void handle_stream_frame(struct vg_mux *m, const struct vg_yamux_hdr *h)
{
    struct vg_mux_stream *s;
    bool is_data = h->type == VG_YAMUX_DATA;

    if (h->flags & VG_YAMUX_SYN) {
        handle_syn(m, h);
        if (m->dead)
            return;
    }
    s = table_find(m, h->stream_id);
    if (!s) {
        /* unknown or finished stream (e.g. frames in flight when we reset it): discard */
        vg_debug("mux fd %d: frame for unknown stream %u discarded", m->fd, h->stream_id);
        if (is_data && h->length > 0) {
            m->payload_left = h->length;
            m->payload_to = NULL;
            m->payload_fin = false;
        }
        return;
    }
    if ((h->flags & VG_YAMUX_ACK) && s->outbound && !s->acked) {
        s->acked = true;
        stream_event(s, VG_MUX_ACKED);
        if (m->dead || s->proto_done)
            goto discard;
    }
    if (h->flags & VG_YAMUX_RST) {
        handle_reset(s);
        goto discard;
    }
    if (!is_data) {
        if (h->length > 0) {
            s->send_window += h->length;
            if (s->send_window > UINT32_MAX) {
                protocol_error(m, "window overflow", s->id);
                return;
            }
            ready_update(m, s);
            schedule_pump(m);
        }
        if (h->flags & VG_YAMUX_FIN)
            handle_fin(m, s);
        return;
    }
    if (h->length > 0) {
        if (s->fin_received) {
            protocol_error(m, "data after FIN", s->id);
            return;
        }
        if (h->length > s->recv_window) {
            protocol_error(m, "receive window exceeded", s->id);
            return;
        }
        s->recv_window -= h->length;
        m->payload_left = h->length;
        m->payload_to = s;
        m->payload_fin = (h->flags & VG_YAMUX_FIN) != 0;
        return;
    }
    if (h->flags & VG_YAMUX_FIN)
        handle_fin(m, s);
    return;
discard:
    if (is_data && h->length > 0 && !m->dead) {
        m->payload_left = h->length;
        m->payload_to = NULL;
        m->payload_fin = false;
    }
}

static void handle_ping(struct vg_mux *m, const struct vg_yamux_hdr *h)
{
    if (h->flags & VG_YAMUX_SYN) {
        queue_frame(m, VG_YAMUX_PING, VG_YAMUX_ACK, 0, h->length);
        return;
    }
    if (!m->ping_outstanding || h->length != m->ping_id)
        return; /* late or unsolicited answer */
    m->ping_outstanding = false;
    event_del(m->ka_to_ev);
    if (m->cbs.on_pong)
        m->cbs.on_pong(m, vg_now_us() - m->ping_sent_us, m->arg);
}

static void handle_goaway(struct vg_mux *m, const struct vg_yamux_hdr *h)
{
    switch (h->length) {
    case VG_YAMUX_GOAWAY_NORMAL:
        m->remote_goaway = true;
        schedule_pump(m); /* closes the session once no stream is left */
        break;
    case VG_YAMUX_GOAWAY_PROTO:
        mux_fail(m, -1, "peer reported a protocol error (GoAway 1)");
        break;
    case VG_YAMUX_GOAWAY_INTERNAL:
        mux_fail(m, -1, "peer reported an internal error (GoAway 2)");
        break;
    default:
        mux_fail(m, -1, "peer sent GoAway with code %u", h->length);
        break;
    }
}

static void parse(struct vg_mux *m)
{
    while (!m->dead) {
        if (m->payload_left > 0) {
            if (evbuffer_get_length(m->inbuf) == 0)
                return;
            deliver_payload(m);
            continue;
        }
        uint8_t raw[VG_YAMUX_HDR_LEN];
        struct vg_yamux_hdr h;
        size_t used = 0;
        ev_ssize_t n = evbuffer_copyout(m->inbuf, raw, sizeof raw);
        enum vg_yamux_status st = vg_yamux_decode(raw, n < 0 ? 0 : (size_t)n, &h, &used);
        if (st == VG_YAMUX_NEED_MORE)
            return;
        if (st == VG_YAMUX_OK)
            st = vg_yamux_check(&h, MUX_WINDOW);
        if (st != VG_YAMUX_OK) {
            mux_fail(m, VG_YAMUX_GOAWAY_PROTO, "protocol error: %s", vg_yamux_strerror(st));
            return;
        }
        evbuffer_drain(m->inbuf, used);
        if (vg_log_max >= VG_LOG_DEBUG) {
            char fl[32];
            vg_debug("mux fd %d: recv %s %s id %u len %u", m->fd, vg_yamux_type_name(h.type),
                     vg_yamux_flags_format(h.flags, fl, sizeof fl), h.stream_id, h.length);
        }
        switch (h.type) {
        case VG_YAMUX_DATA:
        case VG_YAMUX_WINDOW_UPDATE:
            handle_stream_frame(m, &h);
            break;
        case VG_YAMUX_PING:
            handle_ping(m, &h);
            break;
        case VG_YAMUX_GO_AWAY:
            handle_goaway(m, &h);
            break;
        }
    }
}

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct vg_mux *m = arg;
    enter(m);
    /* A socket gives up to MUX_READ_MAX at once.  A virtio-serial port gives one host buffer
     * (<= 4 KiB) per read(): gather until it has no more (or MUX_DEV_READ_MAX), so the event
     * loop and the parser run once per burst rather than once per 4 KiB. */
    int n, total = 0, err = 0;
    for (;;) {
        n = evbuffer_read(m->inbuf, fd, MUX_READ_MAX);
        if (n <= 0) {
            err = errno;
            break;
        }
        total += n;
        if (m->fd_socket || total >= MUX_DEV_READ_MAX)
            break;
    }
    if (total > 0)
        parse(m);
    if (m->dead) {
        /* parse() ended the session */
    } else if (n == 0) {
        mux_fail(m, -1, "EOF from peer");
    } else if (n < 0) {
        if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR)
            mux_fail(m, -1, "read: %s", strerror(err));
    }
    if (!m->dead && evbuffer_get_length(m->outbuf) > m->opts.out_hard) {
        event_del(m->read_ev); /* the peer does not read what it makes us send */
        m->read_stopped = true;
    }
    leave(m);
}

/* ------------------------------------------------------------------------------ output */

/* Write outbuf to the fd; like evbuffer_write (bytes written, or -1 with errno).  Sockets:
 * writev of the buffer's chains.  A virtio-serial port has no write_iter: the kernel turns a
 * writev into one write() per iovec, and each write() to the port is one buffer handed to the
 * host with a notification (costly, above all under emulation) — a 12-byte frame header would
 * cost as much as 16 KiB of payload.  So the port gets contiguous writes of up to the 32 KiB it
 * takes at once. */
static int out_write(struct vg_mux *m)
{
    if (m->fd_socket)
        return evbuffer_write(m->outbuf, m->fd);
    int total = 0;
    size_t len;
    while ((len = evbuffer_get_length(m->outbuf)) > 0) {
        if (len > MUX_DEV_WRITE_MAX)
            len = MUX_DEV_WRITE_MAX;
        unsigned char *p = evbuffer_pullup(m->outbuf, (ev_ssize_t)len);
        if (p == NULL) {
            errno = ENOMEM;
            return total > 0 ? total : -1;
        }
        ssize_t w = write(m->fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return total > 0 ? total : -1;
        }
        evbuffer_drain(m->outbuf, (size_t)w);
        total += (int)w;
        if ((size_t)w < len)
            break;
    }
    return total;
}

static void pump(struct vg_mux *m)
{
    struct vg_mux_stream *s;
    while (!m->dead && evbuffer_get_length(m->outbuf) < m->opts.out_high &&
           (s = TAILQ_FIRST(&m->ready)) != NULL) {
        ready_remove(m, s);
        size_t q = evbuffer_get_length(s->sendq);
        if (q > 0 && s->send_window > 0) {
            size_t n = q;
            if (n > s->send_window)
                n = (size_t)s->send_window;
            if (n > m->opts.frame_max)
                n = m->opts.frame_max;
            queue_frame(m, VG_YAMUX_DATA, 0, s->id, (uint32_t)n);
            evbuffer_remove_buffer(s->sendq, m->outbuf, n);
            s->send_window -= n;
            q -= n;
        }
        if (q == 0 && s->fin_requested && !s->fin_sent) {
            queue_frame(m, VG_YAMUX_WINDOW_UPDATE, VG_YAMUX_FIN, s->id, 0);
            s->fin_sent = true;
            if (s->fin_received)
                stream_done(s);
        }
        ready_update(m, s); /* back to the tail: round robin */
        if (q == 0 && s->drain_notify) {
            s->drain_notify = false;
            stream_event(s, VG_MUX_DRAINED);
        }
    }
    arm_write(m);
}

static void pump_cb(evutil_socket_t fd, short what, void *arg)
{
    struct vg_mux *m = arg;
    enter(m);
    pump(m);
    if (!m->dead && m->remote_goaway && m->nstreams == 0)
        mux_fail(m, -1, "peer sent GoAway");
    leave(m);
}

static void write_cb(evutil_socket_t fd, short what, void *arg)
{
    struct vg_mux *m = arg;
    enter(m);
    int n = out_write(m);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        mux_fail(m, -1, "write: %s", strerror(errno));
        leave(m);
        return;
    }
    size_t left = evbuffer_get_length(m->outbuf);
    if (left == 0)
        event_del(m->write_ev);
    if (left < m->opts.out_low)
        pump(m);
    if (!m->dead && m->read_stopped && evbuffer_get_length(m->outbuf) <= m->opts.out_hard / 2) {
        m->read_stopped = false;
        event_add(m->read_ev, NULL);
    }
    leave(m);
}

/* ------------------------------------------------------------------------------ keepalive */

/* Each ping carries a fresh random opaque value: a peer that does not read what we send cannot
 * answer pings blindly (a counter from 1 would be easy to guess). */
static void send_ping(struct vg_mux *m)
{
    m->ping_id = (uint32_t)vg_random_u64();
    m->ping_outstanding = true;
    m->ping_sent_us = vg_now_us();
    queue_frame(m, VG_YAMUX_PING, VG_YAMUX_SYN, 0, m->ping_id);
}

static void ka_cb(evutil_socket_t fd, short what, void *arg)
{
    struct vg_mux *m = arg;
    enter(m);
    if (!m->ping_outstanding) {
        send_ping(m);
        struct timeval tv = ms_tv(m->opts.keepalive_timeout_ms);
        event_add(m->ka_to_ev, &tv);
    }
    leave(m);
}

static void ka_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct vg_mux *m = arg;
    enter(m);
    if (m->ping_outstanding)
        mux_fail(m, -1, "keepalive timeout");
    leave(m);
}

static void arm_keepalive(struct vg_mux *m)
{
    event_del(m->ka_ev);
    event_del(m->ka_to_ev);
    if (m->dead || m->opts.keepalive_ms == 0)
        return;
    struct timeval tv = ms_tv(m->opts.keepalive_ms);
    event_add(m->ka_ev, &tv);
}

/* ------------------------------------------------------------------------------ session API */

struct vg_mux *vg_mux_new(struct event_base *base, int fd, bool client,
                          const struct vg_mux_cbs *cbs, void *arg)
{
    struct vg_mux *m = vg_calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->base = base;
    m->fd = fd;
    struct stat st;
    m->fd_socket = fstat(fd, &st) != 0 || S_ISSOCK(st.st_mode);
    m->client = client;
    if (cbs)
        m->cbs = *cbs;
    m->arg = arg;
    m->opts.max_streams = 1024;
    m->opts.frame_max = 16384;
    m->opts.out_high = 65536;
    m->opts.out_low = 16384;
    m->opts.out_hard = 1u << 20;
    m->next_id = client ? 1 : 2;
    TAILQ_INIT(&m->streams);
    TAILQ_INIT(&m->ready);
    m->inbuf = evbuffer_new();
    m->outbuf = evbuffer_new();
    m->read_ev = event_new(base, fd, EV_READ | EV_PERSIST, read_cb, m);
    m->write_ev = event_new(base, fd, EV_WRITE | EV_PERSIST, write_cb, m);
    m->pump_ev = event_new(base, -1, 0, pump_cb, m);
    m->ka_ev = event_new(base, -1, EV_PERSIST, ka_cb, m);
    m->ka_to_ev = event_new(base, -1, 0, ka_timeout_cb, m);
    if (!m->inbuf || !m->outbuf || !m->read_ev || !m->write_ev || !m->pump_ev || !m->ka_ev ||
        !m->ka_to_ev || evutil_make_socket_nonblocking(fd) != 0 || event_add(m->read_ev, NULL)) {
        m->fd = -1; /* stays the caller's */
        mux_destroy(m);
        return NULL;
    }
    return m;
}

static void mux_destroy(struct vg_mux *m)
{
    struct vg_mux_stream *s, *next;
    m->in_destroy = true;
    m->dead = true;
    m->depth++;
    TAILQ_FOREACH(s, &m->streams, all)
    {
        if (s->proto_done)
            continue;
        s->reset = true;
        stream_done(s);
        stream_event(s, VG_MUX_RESET);
    }
    m->depth--;
    for (s = TAILQ_FIRST(&m->streams); s; s = next) {
        next = TAILQ_NEXT(s, all);
        if (s->app_owned) {
            TAILQ_REMOVE(&m->streams, s, all);
            s->m = NULL; /* detached: the app frees it */
        } else {
            stream_destroy(s);
        }
    }
    struct event *evs[] = {m->read_ev, m->write_ev, m->pump_ev, m->ka_ev, m->ka_to_ev};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (evs[i])
            event_free(evs[i]);
    if (m->inbuf)
        evbuffer_free(m->inbuf);
    if (m->outbuf)
        evbuffer_free(m->outbuf);
    if (m->fd >= 0)
        close(m->fd);
    vg_free(m);
}

void vg_mux_free(struct vg_mux *m)
{
    if (!m || m->in_destroy || m->free_requested)
        return;
    if (m->depth > 0) {
        /* inside one of our callbacks: finish when it unwinds */
        m->free_requested = true;
        if (!m->dead) {
            snprintf(m->why, sizeof m->why, "closed locally");
            m->dead = true;
            event_del(m->read_ev);
            event_del(m->write_ev);
            event_del(m->ka_ev);
            event_del(m->ka_to_ev);
        }
        return;
    }
    mux_destroy(m);
}

void vg_mux_get_opts(const struct vg_mux *m, struct vg_mux_opts *o)
{
    *o = m->opts;
}

void vg_mux_set_opts(struct vg_mux *m, const struct vg_mux_opts *o)
{
    m->opts = *o;
    if (m->opts.max_streams == 0)
        m->opts.max_streams = 1;
    if (m->opts.frame_max == 0)
        m->opts.frame_max = 16384;
    if (m->opts.frame_max > MUX_WINDOW)
        m->opts.frame_max = MUX_WINDOW;
    if (m->opts.out_high == 0)
        m->opts.out_high = 65536;
    if (m->opts.out_low > m->opts.out_high)
        m->opts.out_low = m->opts.out_high;
    if (m->opts.out_hard < m->opts.out_high)
        m->opts.out_hard = m->opts.out_high;
    if (m->opts.keepalive_ms && m->opts.keepalive_timeout_ms == 0)
        m->opts.keepalive_timeout_ms = 2 * m->opts.keepalive_ms;
    arm_keepalive(m);
}

void vg_mux_set_keepalive(struct vg_mux *m, unsigned interval_ms, unsigned timeout_ms)
{
    struct vg_mux_opts o = m->opts;
    o.keepalive_ms = interval_ms;
    o.keepalive_timeout_ms = timeout_ms;
    vg_mux_set_opts(m, &o);
}

int vg_mux_ping(struct vg_mux *m)
{
    if (m->dead)
        return -1;
    send_ping(m);
    return 0;
}

void vg_mux_goaway(struct vg_mux *m)
{
    if (m->dead || m->local_goaway)
        return;
    m->local_goaway = true;
    queue_frame(m, VG_YAMUX_GO_AWAY, 0, 0, VG_YAMUX_GOAWAY_NORMAL);
}

bool vg_mux_alive(const struct vg_mux *m)
{
    return !m->dead;
}

const char *vg_mux_error(const struct vg_mux *m)
{
    return m->dead ? m->why : NULL;
}

unsigned vg_mux_stream_count(const struct vg_mux *m)
{
    return m->nstreams;
}

size_t vg_mux_backlog(const struct vg_mux *m)
{
    return evbuffer_get_length(m->outbuf);
}

/* ------------------------------------------------------------------------------ stream API */

struct vg_mux_stream *vg_mux_open(struct vg_mux *m)
{
    struct vg_mux_stream *s;
    if (m->dead || m->remote_goaway || m->nstreams >= m->opts.max_streams ||
        m->next_id > UINT32_MAX - 2)
        return NULL;
    s = stream_new(m, m->next_id, true);
    if (!s)
        return NULL;
    m->next_id += 2;
    queue_frame(m, VG_YAMUX_WINDOW_UPDATE, VG_YAMUX_SYN, s->id, 0);
    return s;
}

void vg_mux_stream_setcb(struct vg_mux_stream *s,
                         void (*on_read)(struct vg_mux_stream *s, void *arg),
                         void (*on_event)(struct vg_mux_stream *s, short what, void *arg),
                         void *arg)
{
    s->on_read = on_read;
    s->on_event = on_event;
    s->arg = arg;
}

struct evbuffer *vg_mux_stream_input(struct vg_mux_stream *s)
{
    return s->input;
}

int vg_mux_stream_write(struct vg_mux_stream *s, const void *data, size_t len)
{
    struct vg_mux *m = s->m;
    if (!m || m->dead || s->reset || s->proto_done || s->fin_requested)
        return -1;
    if (len == 0)
        return 0;
    if (evbuffer_add(s->sendq, data, len) != 0)
        return -1;
    s->drain_notify = true;
    ready_update(m, s);
    schedule_pump(m);
    return 0;
}

size_t vg_mux_stream_queued(const struct vg_mux_stream *s)
{
    return evbuffer_get_length(s->sendq);
}

void vg_mux_stream_shutdown(struct vg_mux_stream *s)
{
    struct vg_mux *m = s->m;
    if (!m || m->dead || s->reset || s->proto_done || s->fin_requested)
        return;
    s->fin_requested = true;
    ready_update(m, s);
    schedule_pump(m);
}

void vg_mux_stream_reset(struct vg_mux_stream *s)
{
    struct vg_mux *m = s->m;
    if (s->proto_done) {
        s->reset = true;
        return;
    }
    s->reset = true;
    if (m)
        queue_frame(m, VG_YAMUX_WINDOW_UPDATE, VG_YAMUX_RST, s->id, 0);
    stream_done(s);
}

void vg_mux_stream_free(struct vg_mux_stream *s)
{
    struct vg_mux *m = s->m;
    if (!s->app_owned)
        return;
    if (!m) {
        stream_destroy(s);
        return;
    }
    s->app_owned = false;
    s->on_read = NULL;
    s->on_event = NULL;
    if (!s->proto_done) {
        if (s->fin_requested && !s->reset && !m->dead) {
            /* linger: queued bytes and FIN still go out; input is discarded from now on */
            evbuffer_drain(s->input, evbuffer_get_length(s->input));
        } else {
            vg_mux_stream_reset(s);
        }
    }
    if (s->proto_done) {
        if (m->depth == 0)
            stream_destroy(s);
        else
            m->need_reap = true;
    }
}

uint32_t vg_mux_stream_id(const struct vg_mux_stream *s)
{
    return s->id;
}

short vg_mux_stream_state(const struct vg_mux_stream *s)
{
    short st = 0;
    if (s->fin_received)
        st |= VG_MUX_EOF;
    if (s->reset)
        st |= VG_MUX_RESET;
    if (s->acked)
        st |= VG_MUX_ACKED;
    if (s->fin_sent)
        st |= VG_MUX_FIN_SENT;
    return st;
}

struct vg_mux *vg_mux_stream_mux(const struct vg_mux_stream *s)
{
    return s->m;
}

long vg_evbuffer_take_line(struct evbuffer *in, char *line, size_t max)
{
    size_t eol = 0;
    struct evbuffer_ptr p = evbuffer_search_eol(in, NULL, &eol, EVBUFFER_EOL_LF);
    if (p.pos < 0)
        return evbuffer_get_length(in) >= max ? VG_LINE_TOO_LONG : VG_LINE_NEED_MORE;
    size_t n = (size_t)p.pos;
    if (n >= max)
        return VG_LINE_TOO_LONG;
    evbuffer_remove(in, line, n);
    evbuffer_drain(in, eol);
    if (n > 0 && line[n - 1] == '\r')
        n--;
    line[n] = '\0';
    return (long)n;
}
