/* vg_mux — a yamux session over one connected byte-stream fd, on a libevent event_base.
 *
 * The fd is a unix socket (host side of a virtio-serial port) or the virtio-serial character
 * device (guest side).  The client side opens odd stream ids, the server side even ones.
 * Wire format and rules: docs/protocol.md.  Frame codec: vg_yamux.h.
 *
 * Ownership and lifetimes
 *   - vg_mux_new() takes the fd (made non-blocking); vg_mux_free() closes it.
 *   - A stream handle belongs to the application from vg_mux_open() / on_accept until it calls
 *     vg_mux_stream_free(); the handle stays valid (and safe to call) until then, even after the
 *     stream was reset or the whole session ended.  Set the stream's callbacks before returning to
 *     the event loop (inside on_accept for accepted streams).
 *   - vg_mux_stream_free() is a close(2): after vg_mux_stream_shutdown() the queued bytes and the
 *     FIN still go out, and incoming data is discarded (while still granting window) until the peer
 *     finishes too; without a prior shutdown the stream is reset.
 *   - Callbacks are only ever called from the event loop (never from inside an API call), so any
 *     API function, including vg_mux_stream_free() and vg_mux_free(), may be called from inside
 *     any callback.
 *   - vg_mux_free() gives every stream the application still holds a VG_MUX_RESET event (unless
 *     the session had already ended, which delivered it then); such handles are then detached: all
 *     calls on them fail harmlessly and vg_mux_stream_free() releases them.
 *   - vg_mux_free() is abrupt: bytes not yet written to the fd are dropped.  To close gracefully,
 *     shut the streams down and wait until vg_mux_backlog() is 0 and each stream shows
 *     VG_MUX_FIN_SENT.  A freed stream that lingers after shutdown waits for the peer's FIN; it
 *     keeps counting against max_streams until then.
 *   - on_close is called at most once, when the session ends by itself (EOF, I/O error, protocol
 *     error, GoAway from the peer, keepalive timeout); streams get their VG_MUX_RESET first.  The
 *     application then calls vg_mux_free() (it may do so inside on_close).
 *
 * Flow control: each stream has a 256 KiB receive window.  Received bytes wait in the stream's
 * input evbuffer; as the application drains it, window updates go out (once half of the window
 * was consumed).  A stream whose reader is slow stops its sender without stalling other streams.
 * Outgoing bytes are queued per stream and sent in bounded Data frames, round robin among the
 * streams that have both data and window, while the session's own output backlog to the fd is
 * below a high watermark.  vg_mux_stream_queued() is the backpressure signal for writers: stop
 * producing above your bound and resume on VG_MUX_DRAINED.
 *
 * Writes to the fd can raise SIGPIPE: the program must ignore it.
 */
#ifndef VG_MUX_H
#define VG_MUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evbuffer;
struct vg_mux;
struct vg_mux_stream;

/* Stream event bits (on_event's `what`, vg_mux_stream_state()) */
#define VG_MUX_EOF 0x01      /* the peer sent FIN: no more input after what is in the buffer */
#define VG_MUX_RESET 0x02    /* reset by the peer, by the session ending, or vg_mux_free() */
#define VG_MUX_ACKED 0x04    /* the peer accepted a stream we opened */
#define VG_MUX_DRAINED 0x08  /* our queued output fell to 0 */
#define VG_MUX_FIN_SENT 0x10 /* (state only) our FIN went out */

struct vg_mux_cbs {
    /* The peer opened a stream.  It is accepted (ACK sent) when this returns, unless the
     * application reset it.  The application owns the handle.  NULL: every stream is refused. */
    void (*on_accept)(struct vg_mux *m, struct vg_mux_stream *s, void *arg);
    /* The session ended by itself; `why` is a short text valid during the call. */
    void (*on_close)(struct vg_mux *m, const char *why, void *arg);
    /* Optional: the answer to a ping arrived; rtt in microseconds. */
    void (*on_pong)(struct vg_mux *m, uint64_t rtt_us, void *arg);
};

/* Limits and tunables; vg_mux_new() starts from the defaults given here. */
struct vg_mux_opts {
    unsigned max_streams;          /* open streams at once (both directions), default 1024 */
    unsigned keepalive_ms;         /* ping interval when idle, 0 = off; default 0 */
    unsigned keepalive_timeout_ms; /* unanswered ping → session closed; default 2 × interval */
    size_t frame_max;              /* largest Data payload we send, default 16 KiB */
    size_t out_high; /* fd backlog above which no more Data frames are built, 64 KiB */
    size_t out_low;  /* ... resumed below this, default 16 KiB */
    size_t out_hard; /* fd backlog above which we stop reading the fd, default 1 MiB */
};

/* fd: connected, stream-oriented.  client: true = odd stream ids.  Returns NULL on failure
 * (fd then still belongs to the caller). */
struct vg_mux *vg_mux_new(struct event_base *base, int fd, bool client,
                          const struct vg_mux_cbs *cbs, void *arg);
void vg_mux_free(struct vg_mux *m);

/* Change limits (call right after vg_mux_new; keepalive changes re-arm the timer). */
void vg_mux_get_opts(const struct vg_mux *m, struct vg_mux_opts *o);
void vg_mux_set_opts(struct vg_mux *m, const struct vg_mux_opts *o);
void vg_mux_set_keepalive(struct vg_mux *m, unsigned interval_ms, unsigned timeout_ms);

/* Lines on a stream or socket buffer (preambles, control messages).  Takes one line from `in`:
 * the bytes before its "\n" (a "\r" just before it is dropped too), copied NUL-terminated into
 * line[max].  Returns the line's length; VG_LINE_NEED_MORE while no whole line is there and fewer
 * than `max` bytes wait; VG_LINE_TOO_LONG when the line cannot fit.  Nothing is taken unless a
 * line is returned. */
#define VG_LINE_NEED_MORE (-1)
#define VG_LINE_TOO_LONG (-2)
long vg_evbuffer_take_line(struct evbuffer *in, char *line, size_t max);

/* Send a ping now (answer reported through on_pong).  0, or -1 when the session is dead. */
int vg_mux_ping(struct vg_mux *m);
/* Send GoAway(normal): the peer should open no more streams; ours continue.  Streams the peer
 * opens afterwards are reset. */
void vg_mux_goaway(struct vg_mux *m);
/* False once the session has ended (on_close called or about to be). */
bool vg_mux_alive(const struct vg_mux *m);
/* The reason the session ended, or NULL while alive. */
const char *vg_mux_error(const struct vg_mux *m);
unsigned vg_mux_stream_count(const struct vg_mux *m);
/* Bytes encoded but not yet written to the fd. */
size_t vg_mux_backlog(const struct vg_mux *m);

/* Open a stream: the SYN goes out at once; data may be written immediately.  NULL when the
 * session is dead, the peer sent GoAway, ids are exhausted or max_streams is reached. */
struct vg_mux_stream *vg_mux_open(struct vg_mux *m);

void vg_mux_stream_setcb(struct vg_mux_stream *s,
                         void (*on_read)(struct vg_mux_stream *s, void *arg),
                         void (*on_event)(struct vg_mux_stream *s, short what, void *arg),
                         void *arg);
/* The received bytes (owned by the stream; valid until vg_mux_stream_free()).  Drain it with any
 * evbuffer function; window updates follow the draining.  on_read is called each time bytes were
 * added. */
struct evbuffer *vg_mux_stream_input(struct vg_mux_stream *s);
/* Queue bytes for the peer.  0, or -1 (with nothing queued) after shutdown/reset/session end. */
int vg_mux_stream_write(struct vg_mux_stream *s, const void *data, size_t len);
/* Bytes queued locally and not yet handed to the fd backlog. */
size_t vg_mux_stream_queued(const struct vg_mux_stream *s);
/* Half-close: FIN after the queued bytes.  Reading continues until VG_MUX_EOF. */
void vg_mux_stream_shutdown(struct vg_mux_stream *s);
/* Abort: RST now, queued output dropped.  No event is delivered for it. */
void vg_mux_stream_reset(struct vg_mux_stream *s);
void vg_mux_stream_free(struct vg_mux_stream *s);
uint32_t vg_mux_stream_id(const struct vg_mux_stream *s);
/* VG_MUX_EOF / RESET / ACKED / FIN_SENT bits describing where the stream is now. */
short vg_mux_stream_state(const struct vg_mux_stream *s);
/* The session a stream belongs to; NULL once detached by vg_mux_free(). */
struct vg_mux *vg_mux_stream_mux(const struct vg_mux_stream *s);

#endif
