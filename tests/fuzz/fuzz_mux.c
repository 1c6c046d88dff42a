/* Fuzz target: a whole yamux session (common/vg_mux.c) fed hostile bytes.
 *
 * One vg_mux session sits on one end of a socketpair, driven by a libevent loop; the fuzz input
 * is written to the other end as the peer's bytes, in chunks, and the loop runs until the input
 * is consumed and the session is idle or closed.  The application side plays the gateway or the
 * agent in one of several ways chosen by the first four input octets (see struct cfg): it accepts
 * streams and drains, holds, echoes or half-closes them, refuses them, frees streams or the whole
 * session from inside callbacks, opens streams of its own, pings, sends GoAway, runs with tiny
 * output limits.  The rest of the input is the peer's byte stream — or, in headers mode, only the
 * frame headers of it, the Data payloads made up by the harness (to reach flow control).
 *
 * Checked besides memory safety, leaks (every stream and the session are freed at the end) and UB:
 *   - bounded memory: stream count <= max_streams, every stream's buffered input <= its 256 KiB
 *     window, the session's output backlog bounded (out_hard plus what one read can cause);
 *   - everything the session writes is a valid frame sequence: headers pass vg_yamux_check, Data
 *     frames are at most frame_max, SYN only on our parity and ACK only on the peer's, nothing
 *     after a GoAway with an error code; a partial frame only at the very end (vg_mux_free drops
 *     unsent bytes);
 *   - the loop settles: no livelock (bounded rounds once the input is written);
 *   - the session closes its fd when freed.
 * No AF_VSOCK, no network: a unix socketpair only.
 */
#include "fuzz.h"
#include "vg_log.h"
#include "vg_mux.h"
#include "vg_yamux.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define WINDOW VG_YAMUX_INITIAL_WINDOW
#define SETTLE_ROUNDS 2000
#define EOF_ROUNDS 200
#define CFG_LEN 4 /* config octets before the peer's bytes */

enum accept_mode { ACC_DRAIN, ACC_HOLD, ACC_ECHO, ACC_LINGER };

struct cfg {
    bool client; /* the session is the yamux client (odd ids), i.e. the gateway */
    enum accept_mode acc;
    bool no_accept;      /* on_accept NULL: every stream refused by the library */
    bool goaway;         /* vg_mux_goaway() at the start */
    bool peer_eof;       /* after the input: EOF from the peer, then free */
    bool free_on_events; /* free a stream as soon as it reports EOF or RESET */
    bool session_first;  /* at the end: vg_mux_free before freeing the streams */
    unsigned opens;      /* streams opened by us at the start */
    bool open_write;     /* ... with a preamble written and a shutdown */
    bool ping;           /* vg_mux_ping() at the start */
    unsigned max_streams;
    bool tiny_out, tiny_frames;
    size_t chunk;        /* peer bytes written per loop round; 0 = as much as the socket takes */
    bool lazy_reader;    /* read the session's output only when our writes block */
    bool refuse_reset;   /* refuse in on_accept with vg_mux_stream_reset + free */
    bool free_in_close;  /* vg_mux_free from on_close */
    bool free_in_reset;  /* vg_mux_free from the first stream RESET event */
    bool half_drain;     /* ACC_HOLD: drain half of what arrives */
    bool free_on_acked;  /* free (reset) a stream we opened when the peer accepts it */
    bool reset_on_read;  /* the application gives up on a stream at its first bytes */
    bool reset_again;    /* vg_mux_stream_reset on a stream that reports RESET */
    bool open_in_accept; /* open a stream of our own from inside on_accept */
    bool goaway_after;   /* vg_mux_goaway() once the input is written */
    bool ping_chunks;    /* vg_mux_ping() after every chunk */
    bool headers;        /* the input is headers only: Data payloads are made up (see below) */
};

struct hs {
    struct vg_mux_stream *s; /* NULL once freed */
    bool shut;
    bool lingered;
};

struct outv { /* validator of the session's output */
    uint8_t hdr[VG_YAMUX_HDR_LEN];
    size_t hlen;
    uint32_t skip;
    bool ended;
    uint64_t bytes;
};

static struct event_base *base;
static struct cfg cfg;
static struct vg_mux *mux;
static struct hs *hs;
static size_t nhs, cap_hs;
static int closed;
static bool in_reset_free_done;
static size_t frame_max, out_hard;
static struct outv outv;

/* ------------------------------------------------------------------------------ streams */

static struct hs *hs_add(struct vg_mux_stream *s)
{
    if (nhs == cap_hs) {
        cap_hs = cap_hs ? 2 * cap_hs : 16;
        hs = realloc(hs, cap_hs * sizeof *hs);
        if (hs == NULL)
            abort();
    }
    hs[nhs] = (struct hs){.s = s};
    return &hs[nhs++];
}

/* The callbacks' arg is the index into hs[] (hs may move when it grows). */
static struct hs *hs_of(void *arg)
{
    size_t i = (size_t)(uintptr_t)arg;
    FUZZ_CHECK(i < nhs);
    return &hs[i];
}

static void hs_free(struct hs *h)
{
    if (h->s == NULL)
        return;
    struct vg_mux_stream *s = h->s;
    h->s = NULL;
    vg_mux_stream_free(s);
}

static void on_read(struct vg_mux_stream *s, void *arg)
{
    struct hs *h = hs_of(arg);
    FUZZ_CHECK(h->s == s);
    struct evbuffer *in = vg_mux_stream_input(s);
    size_t n = evbuffer_get_length(in);
    FUZZ_CHECK(n > 0 && n <= WINDOW);
    if (cfg.reset_on_read) {
        vg_mux_stream_reset(s);
        FUZZ_CHECK(vg_mux_stream_state(s) & VG_MUX_RESET);
        FUZZ_CHECK(vg_mux_stream_write(s, "x", 1) != 0);
        hs_free(h);
        return;
    }
    switch (cfg.acc) {
    case ACC_DRAIN:
        evbuffer_drain(in, n);
        break;
    case ACC_HOLD:
        if (cfg.half_drain)
            evbuffer_drain(in, n / 2);
        break;
    case ACC_ECHO: {
        uint8_t buf[4096];
        while ((n = evbuffer_get_length(in)) > 0) {
            int got = evbuffer_remove(in, buf, n < sizeof buf ? n : sizeof buf);
            FUZZ_CHECK(got > 0);
            if (vg_mux_stream_write(s, buf, (size_t)got) != 0)
                break; /* reset or shut down: the rest stays */
        }
        break;
    }
    case ACC_LINGER:
        evbuffer_drain(in, n);
        vg_mux_stream_shutdown(s);
        h->lingered = true;
        hs_free(h);
        break;
    }
}

static void on_event(struct vg_mux_stream *s, short what, void *arg)
{
    struct hs *h = hs_of(arg);
    FUZZ_CHECK(h->s == s);
    FUZZ_CHECK((what & ~(VG_MUX_EOF | VG_MUX_RESET | VG_MUX_ACKED | VG_MUX_DRAINED)) == 0);
    if (what & VG_MUX_EOF) {
        FUZZ_CHECK(vg_mux_stream_state(s) & VG_MUX_EOF);
        if (cfg.acc == ACC_ECHO && !h->shut) {
            vg_mux_stream_shutdown(s);
            h->shut = true;
        }
    }
    if (what & VG_MUX_RESET) {
        FUZZ_CHECK(vg_mux_stream_state(s) & VG_MUX_RESET);
        FUZZ_CHECK(vg_mux_stream_write(s, "x", 1) != 0);
        if (cfg.reset_again)
            vg_mux_stream_reset(s); /* no frame for a finished stream, no second event */
        if (cfg.free_in_reset && !in_reset_free_done && mux != NULL) {
            in_reset_free_done = true;
            struct vg_mux *m = mux;
            mux = NULL;
            vg_mux_free(m);
        }
    }
    if (what & VG_MUX_ACKED)
        FUZZ_CHECK(vg_mux_stream_state(s) & VG_MUX_ACKED);
    if ((cfg.free_on_events && (what & (VG_MUX_EOF | VG_MUX_RESET))) ||
        (cfg.free_on_acked && (what & VG_MUX_ACKED)))
        hs_free(h);
}

static void on_accept(struct vg_mux *m, struct vg_mux_stream *s, void *arg)
{
    FUZZ_CHECK(m == mux);
    uint32_t id = vg_mux_stream_id(s);
    FUZZ_CHECK(id != 0 && (vg_yamux_id_is_client(id) != 0) != cfg.client);
    FUZZ_CHECK(vg_mux_stream_mux(s) == m);
    if (cfg.acc == ACC_LINGER && cfg.refuse_reset) {
        vg_mux_stream_reset(s);
        vg_mux_stream_free(s);
        return;
    }
    size_t idx = nhs;
    hs_add(s);
    vg_mux_stream_setcb(s, on_read, on_event, (void *)(uintptr_t)idx);
    if (cfg.open_in_accept) {
        struct vg_mux_stream *o = vg_mux_open(m);
        if (o != NULL) {
            idx = nhs;
            hs_add(o);
            vg_mux_stream_setcb(o, on_read, on_event, (void *)(uintptr_t)idx);
            FUZZ_CHECK(vg_mux_stream_write(o, "CONNECT web2.vm.test 80\n", 24) == 0);
        }
    }
}

static void on_close(struct vg_mux *m, const char *why, void *arg)
{
    FUZZ_CHECK(m == mux);
    FUZZ_CHECK(why != NULL && why[0] != '\0');
    FUZZ_CHECK(!vg_mux_alive(m) && vg_mux_error(m) != NULL);
    FUZZ_CHECK(closed == 0); /* at most once */
    closed++;
    if (cfg.free_in_close) {
        mux = NULL;
        vg_mux_free(m);
    }
}

static void on_pong(struct vg_mux *m, uint64_t rtt_us, void *arg)
{
    FUZZ_CHECK(m == mux);
}

/* ------------------------------------------------------------------------------ output */

static void outv_feed(const uint8_t *p, size_t n)
{
    outv.bytes += n;
    while (n > 0) {
        FUZZ_CHECK(!outv.ended); /* nothing after GoAway with an error code */
        if (outv.skip > 0) {
            size_t k = n < outv.skip ? n : outv.skip;
            outv.skip -= (uint32_t)k;
            p += k;
            n -= k;
            continue;
        }
        size_t k = VG_YAMUX_HDR_LEN - outv.hlen;
        if (k > n)
            k = n;
        memcpy(outv.hdr + outv.hlen, p, k);
        outv.hlen += k;
        p += k;
        n -= k;
        if (outv.hlen < VG_YAMUX_HDR_LEN)
            continue;
        outv.hlen = 0;
        struct vg_yamux_hdr h;
        size_t used;
        FUZZ_CHECK(vg_yamux_decode(outv.hdr, sizeof outv.hdr, &h, &used) == VG_YAMUX_OK);
        FUZZ_CHECK(vg_yamux_check(&h, (uint32_t)frame_max) == VG_YAMUX_OK);
        if (h.type == VG_YAMUX_DATA || h.type == VG_YAMUX_WINDOW_UPDATE) {
            bool ours = (vg_yamux_id_is_client(h.stream_id) != 0) == cfg.client;
            if (h.flags & VG_YAMUX_SYN)
                FUZZ_CHECK(ours);
            if (h.flags & VG_YAMUX_ACK)
                FUZZ_CHECK(!ours);
        }
        if (h.type == VG_YAMUX_DATA)
            outv.skip = h.length;
        if (h.type == VG_YAMUX_GO_AWAY) {
            FUZZ_CHECK(h.length <= VG_YAMUX_GOAWAY_INTERNAL);
            if (h.length != VG_YAMUX_GOAWAY_NORMAL)
                outv.ended = true;
        }
    }
}

/* Read what the session wrote; returns the number of bytes (0: nothing now), -1 at EOF. */
static long raw_read(int raw)
{
    static uint8_t buf[65536];
    long total = 0;
    for (;;) {
        ssize_t n = recv(raw, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            outv_feed(buf, (size_t)n);
            total += n;
            continue;
        }
        if (n == 0)
            return total > 0 ? total : -1;
        FUZZ_CHECK(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
                   errno == ECONNRESET);
        if (errno == ECONNRESET)
            return total > 0 ? total : -1;
        return total;
    }
}

/* ------------------------------------------------------------------------------ checks */

static void check_bounds(void)
{
    if (mux == NULL)
        return;
    FUZZ_CHECK(vg_mux_stream_count(mux) <= cfg.max_streams);
    /* out_hard stops reading; one read (64 KiB) can add about two frames per input frame, and
     * the pump up to out_high plus one frame */
    FUZZ_CHECK(vg_mux_backlog(mux) <= out_hard + 4 * 65536 + 65536 + frame_max + 64);
    for (size_t i = 0; i < nhs; i++) {
        if (hs[i].s == NULL)
            continue;
        FUZZ_CHECK(evbuffer_get_length(vg_mux_stream_input(hs[i].s)) <= WINDOW);
        FUZZ_CHECK(vg_mux_stream_mux(hs[i].s) == mux);
    }
}

static void round_once(int raw, bool read_out)
{
    event_base_loop(base, EVLOOP_NONBLOCK);
    check_bounds();
    if (read_out)
        raw_read(raw);
}

static size_t pending_in(int fd)
{
    int n = 0;
    if (ioctl(fd, FIONREAD, &n) != 0)
        return 0;
    return n > 0 ? (size_t)n : 0;
}

static void parse_cfg(const uint8_t c[4])
{
    static const size_t chunks[8] = {0, 1, 2, 5, 12, 13, 64, 1000};
    static const unsigned maxs[4] = {1, 2, 4, 64};
    memset(&cfg, 0, sizeof cfg);
    cfg.client = c[0] & 1;
    cfg.acc = (enum accept_mode)((c[0] >> 1) & 3);
    cfg.no_accept = c[0] & 0x08;
    cfg.goaway = c[0] & 0x10;
    cfg.peer_eof = c[0] & 0x20;
    cfg.free_on_events = c[0] & 0x40;
    cfg.session_first = c[0] & 0x80;
    cfg.opens = c[1] & 3;
    cfg.open_write = c[1] & 0x04;
    cfg.ping = c[1] & 0x08;
    cfg.max_streams = maxs[(c[1] >> 4) & 3];
    cfg.tiny_out = c[1] & 0x40;
    cfg.tiny_frames = c[1] & 0x80;
    cfg.chunk = chunks[c[2] & 7];
    cfg.lazy_reader = c[2] & 0x08;
    cfg.refuse_reset = c[2] & 0x10;
    cfg.free_in_close = c[2] & 0x20;
    cfg.free_in_reset = c[2] & 0x40;
    cfg.half_drain = c[2] & 0x80;
    cfg.free_on_acked = c[3] & 0x01;
    cfg.reset_on_read = c[3] & 0x02;
    cfg.reset_again = c[3] & 0x04;
    cfg.open_in_accept = c[3] & 0x08;
    cfg.goaway_after = c[3] & 0x10;
    cfg.ping_chunks = c[3] & 0x20;
    cfg.headers = c[3] & 0x40;
}

/* Headers mode: the input is a sequence of 12-octet headers, and every Data header that decodes
 * is followed by the payload it announces, made up here (up to PAYLOAD_BUDGET octets in all).
 * So a small input can fill and exceed windows, send a stream's worth of bytes, and race window
 * updates against data — what raw mode would need megabytes of input for. */
#define PAYLOAD_BUDGET (3u * WINDOW)

static uint8_t *expand_headers(const uint8_t *in, size_t n, size_t *outlen)
{
    size_t budget = PAYLOAD_BUDGET, len = 0;
    uint8_t *out = malloc(n + PAYLOAD_BUDGET + 1);
    FUZZ_CHECK(out != NULL);
    for (size_t off = 0; off < n; off += VG_YAMUX_HDR_LEN) {
        size_t k = n - off < VG_YAMUX_HDR_LEN ? n - off : VG_YAMUX_HDR_LEN;
        memcpy(out + len, in + off, k);
        len += k;
        struct vg_yamux_hdr h;
        size_t used;
        if (k < VG_YAMUX_HDR_LEN || vg_yamux_decode(in + off, k, &h, &used) != VG_YAMUX_OK ||
            h.type != VG_YAMUX_DATA)
            continue;
        size_t p = h.length < budget ? h.length : budget;
        for (size_t i = 0; i < p; i++)
            out[len + i] = (uint8_t)("CONNECT 22\n"[i % 11]);
        len += p;
        budget -= p;
    }
    *outlen = len;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (base == NULL) {
        signal(SIGPIPE, SIG_IGN);
        vg_log_max = getenv("FUZZ_MUX_LOG") ? VG_LOG_DEBUG : 0;
        base = event_base_new();
        FUZZ_CHECK(base != NULL);
    }
    uint8_t c[CFG_LEN] = {0};
    memcpy(c, data, size < CFG_LEN ? size : CFG_LEN);
    parse_cfg(c);
    const uint8_t *peer = size > CFG_LEN ? data + CFG_LEN : data;
    size_t npeer = size > CFG_LEN ? size - CFG_LEN : 0;
    uint8_t *expanded = NULL;
    if (cfg.headers) {
        expanded = expand_headers(peer, npeer, &npeer);
        peer = expanded;
        if (cfg.chunk)
            cfg.chunk *= 256; /* hundreds of KiB: not a byte at a time */
    }

    int sv[2];
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    int raw = sv[1];
    nhs = 0;
    closed = 0;
    in_reset_free_done = false;
    memset(&outv, 0, sizeof outv);

    static const struct vg_mux_cbs cbs = {on_accept, on_close, on_pong};
    static const struct vg_mux_cbs cbs_noacc = {NULL, on_close, on_pong};
    mux = vg_mux_new(base, sv[0], cfg.client, cfg.no_accept ? &cbs_noacc : &cbs, NULL);
    FUZZ_CHECK(mux != NULL);
    struct vg_mux_opts o;
    vg_mux_get_opts(mux, &o);
    o.max_streams = cfg.max_streams;
    if (cfg.tiny_out) {
        o.out_high = 64;
        o.out_low = 16;
        o.out_hard = 256;
    }
    if (cfg.tiny_frames)
        o.frame_max = 7;
    vg_mux_set_opts(mux, &o);
    vg_mux_get_opts(mux, &o);
    frame_max = o.frame_max;
    out_hard = o.out_hard;

    for (unsigned i = 0; i < cfg.opens; i++) {
        struct vg_mux_stream *s = vg_mux_open(mux);
        if (s == NULL) {
            FUZZ_CHECK(i >= cfg.max_streams);
            break;
        }
        FUZZ_CHECK((vg_yamux_id_is_client(vg_mux_stream_id(s)) != 0) == cfg.client);
        size_t idx = nhs;
        struct hs *h = hs_add(s);
        vg_mux_stream_setcb(s, on_read, on_event, (void *)(uintptr_t)idx);
        if (cfg.open_write) {
            FUZZ_CHECK(vg_mux_stream_write(s, "CONNECT 22\n", 11) == 0);
            vg_mux_stream_shutdown(s);
            h->shut = true;
            FUZZ_CHECK(vg_mux_stream_write(s, "x", 1) != 0); /* no writes after shutdown */
        }
    }
    if (cfg.ping)
        FUZZ_CHECK(vg_mux_ping(mux) == 0);
    if (cfg.goaway)
        vg_mux_goaway(mux);

    /* the peer's bytes, in chunks, the loop running between them */
    size_t off = 0, rounds = 0;
    while (off < npeer) {
        size_t want = npeer - off;
        if (cfg.chunk && want > cfg.chunk)
            want = cfg.chunk;
        ssize_t w = send(raw, peer + off, want, MSG_DONTWAIT | MSG_NOSIGNAL);
        bool blocked = false;
        if (w > 0) {
            off += (size_t)w;
        } else {
            FUZZ_CHECK(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
                       errno == EPIPE || errno == ECONNRESET);
            if (errno == EPIPE || errno == ECONNRESET)
                break; /* the session closed its end (freed from a callback) */
            blocked = true;
        }
        if (cfg.ping_chunks && mux != NULL)
            FUZZ_CHECK(vg_mux_ping(mux) == (vg_mux_alive(mux) ? 0 : -1));
        /* the session stops reading when it cannot write: then its output must be read */
        round_once(raw, !cfg.lazy_reader || blocked);
        if (mux == NULL || !vg_mux_alive(mux)) {
            if (blocked)
                break; /* a dead session reads no more */
        }
        FUZZ_CHECK(++rounds < 4 * npeer + SETTLE_ROUNDS); /* progress */
    }

    if (cfg.goaway_after && mux != NULL)
        vg_mux_goaway(mux);

    /* settle: input consumed (or the session dead), nothing more written for a few rounds */
    unsigned quiet = 0;
    for (rounds = 0; quiet < 3; rounds++) {
        FUZZ_CHECK(rounds < SETTLE_ROUNDS); /* no livelock */
        event_base_loop(base, EVLOOP_NONBLOCK);
        check_bounds();
        long got = raw_read(raw);
        bool alive = mux != NULL && vg_mux_alive(mux);
        bool idle = got <= 0 && (!alive || (pending_in(sv[0]) == 0 && vg_mux_backlog(mux) == 0));
        quiet = idle ? quiet + 1 : 0;
    }

    if (cfg.peer_eof && mux != NULL) {
        shutdown(raw, SHUT_WR);
        for (rounds = 0; mux != NULL && vg_mux_alive(mux); rounds++) {
            FUZZ_CHECK(rounds < EOF_ROUNDS);
            round_once(raw, true);
        }
        FUZZ_CHECK(closed == 1 || mux == NULL || in_reset_free_done);
    }

    /* tear down: every stream and the session, in the order the config says */
    if (cfg.session_first && mux != NULL) {
        struct vg_mux *m = mux;
        vg_mux_free(m);
        mux = NULL;
    }
    for (size_t i = 0; i < nhs; i++)
        hs_free(&hs[i]);
    if (mux != NULL) {
        vg_mux_free(mux);
        mux = NULL;
    }
    errno = 0;
    FUZZ_CHECK(fcntl(sv[0], F_GETFD) == -1 && errno == EBADF); /* the session closed its fd */
    for (rounds = 0; raw_read(raw) >= 0; rounds++)
        FUZZ_CHECK(rounds < 100);
    close(raw);
    event_base_loop(base, EVLOOP_NONBLOCK); /* nothing of the session may still be scheduled */
    free(hs);
    hs = NULL;
    nhs = cap_hs = 0;
    free(expanded);
    return 0;
}
