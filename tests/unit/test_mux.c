/* Unit tests for common/vg_mux and vg_mux_bridge: two yamux sessions over a socketpair on one
 * event_base (no network), or one session against a "raw" end the test writes frames into. */
#include "vg_mux.h"
#include "vg_mux_bridge.h"
#include "vg_time.h"
#include "vg_yamux.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXS 64

struct sctx; /* per-stream test state */

struct side {
    struct vg_mux *m;
    int closed;
    char why[160];
    int pongs;
    struct sctx *acc[MAXS]; /* accepted streams */
    int nacc;
    bool refuse;   /* reset every stream in on_accept */
    bool no_drain; /* accepted streams keep their input */
    bool free_on_close;
};

struct sctx {
    struct vg_mux_stream *s;
    struct evbuffer *got; /* everything read */
    bool drain;           /* move input to got on read */
    bool echo;            /* write back what was read; shutdown on EOF */
    int eof, reset, acked, drained;
    bool free_on_read; /* vg_mux_stream_free inside on_read */
};

static struct event_base *base;
static struct event *tick;

static void tick_cb(evutil_socket_t fd, short w, void *a)
{
}

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    cr_assert_not_null(base);
    tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
    struct timeval tv = {0, 2000};
    event_add(tick, &tv);
}

static void teardown(void)
{
    event_free(tick);
    event_base_free(base);
}

/* Run the loop until pred(arg) or ms elapsed; returns pred's final value. */
static bool run_until(bool (*pred)(void *), void *arg, unsigned ms)
{
    uint64_t end = vg_now_ms() + ms;
    while (!pred(arg)) {
        if (vg_now_ms() > end)
            return false;
        event_base_loop(base, EVLOOP_ONCE);
    }
    return true;
}

static bool never(void *a)
{
    return false;
}

static void run_for(unsigned ms)
{
    run_until(never, NULL, ms);
}

/* ------------------------------------------------------------------------------ callbacks */

static void s_read(struct vg_mux_stream *s, void *arg)
{
    struct sctx *c = arg;
    struct evbuffer *in = vg_mux_stream_input(s);
    if (c->free_on_read) {
        vg_mux_stream_free(s);
        c->s = NULL;
        return;
    }
    if (c->echo) {
        size_t n = evbuffer_get_length(in);
        char *tmp = malloc(n ? n : 1);
        evbuffer_remove(in, tmp, n);
        vg_mux_stream_write(s, tmp, n);
        evbuffer_add(c->got, tmp, n);
        free(tmp);
    } else if (c->drain) {
        evbuffer_add_buffer(c->got, in);
    }
}

static void s_event(struct vg_mux_stream *s, short what, void *arg)
{
    struct sctx *c = arg;
    if (what & VG_MUX_EOF) {
        c->eof++;
        if (c->echo)
            vg_mux_stream_shutdown(s);
    }
    if (what & VG_MUX_RESET)
        c->reset++;
    if (what & VG_MUX_ACKED)
        c->acked++;
    if (what & VG_MUX_DRAINED)
        c->drained++;
}

static struct sctx *sctx_new(struct vg_mux_stream *s)
{
    struct sctx *c = calloc(1, sizeof *c);
    c->s = s;
    c->got = evbuffer_new();
    c->drain = true;
    vg_mux_stream_setcb(s, s_read, s_event, c);
    return c;
}

static void sctx_free(struct sctx *c)
{
    if (!c)
        return;
    if (c->s)
        vg_mux_stream_free(c->s);
    evbuffer_free(c->got);
    free(c);
}

static void on_accept(struct vg_mux *m, struct vg_mux_stream *s, void *arg)
{
    struct side *sd = arg;
    if (sd->refuse) {
        vg_mux_stream_free(s); /* without shutdown: a reset */
        return;
    }
    struct sctx *c = sctx_new(s);
    c->drain = !sd->no_drain;
    if (sd->nacc < MAXS)
        sd->acc[sd->nacc++] = c;
}

static void on_close(struct vg_mux *m, const char *why, void *arg)
{
    struct side *sd = arg;
    sd->closed++;
    snprintf(sd->why, sizeof sd->why, "%s", why);
    if (sd->free_on_close) {
        vg_mux_free(m);
        sd->m = NULL;
    }
}

static void on_pong(struct vg_mux *m, uint64_t rtt, void *arg)
{
    struct side *sd = arg;
    sd->pongs++;
}

static const struct vg_mux_cbs cbs = {on_accept, on_close, on_pong};

static void side_free(struct side *sd)
{
    for (int i = 0; i < sd->nacc; i++) {
        sctx_free(sd->acc[i]);
        sd->acc[i] = NULL;
    }
    if (sd->m)
        vg_mux_free(sd->m);
    sd->m = NULL;
}

/* Two sessions A (client, odd ids) and B (server) over a socketpair. */
static void pair(struct side *a, struct side *b)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    memset(a, 0, sizeof *a);
    memset(b, 0, sizeof *b);
    a->m = vg_mux_new(base, sv[0], true, &cbs, a);
    b->m = vg_mux_new(base, sv[1], false, &cbs, b);
    cr_assert(a->m && b->m);
}

/* One session (server side unless client) against a raw fd returned in *raw. */
static void raw_pair(struct side *a, bool client, int *raw)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    memset(a, 0, sizeof *a);
    a->m = vg_mux_new(base, sv[0], client, &cbs, a);
    cr_assert_not_null(a->m);
    *raw = sv[1];
}

/* Write all of p to the raw end while the loop runs (the socket buffer is smaller than a window).
 */
static void raw_write(int fd, const void *p, size_t n)
{
    const char *c = p;
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    uint64_t end = vg_now_ms() + 5000;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w > 0) {
            c += w;
            n -= (size_t)w;
            continue;
        }
        cr_assert(errno == EAGAIN, "write: %s", strerror(errno));
        cr_assert_lt(vg_now_ms(), end, "raw write stuck");
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    }
    fcntl(fd, F_SETFL, fl);
}

static void raw_frame(int fd, uint8_t type, uint16_t flags, uint32_t id, uint32_t len,
                      const void *payload, size_t plen)
{
    uint8_t h[VG_YAMUX_HDR_LEN];
    vg_yamux_encode(h, type, flags, id, len);
    raw_write(fd, h, sizeof h);
    if (plen)
        raw_write(fd, payload, plen);
}

/* Read whatever the session sends within ms into buf (the loop runs meanwhile). */
static size_t raw_drain(int fd, uint8_t *buf, size_t cap, unsigned ms)
{
    size_t total = 0;
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    uint64_t end = vg_now_ms() + ms;
    while (vg_now_ms() < end && total < cap) {
        ssize_t n = read(fd, buf + total, cap - total);
        if (n > 0)
            total += (size_t)n;
        else
            event_base_loop(base, EVLOOP_ONCE);
    }
    fcntl(fd, F_SETFL, fl);
    return total;
}

/* Read frames from the raw end (non-blocking, after running the loop) into hdrs. */
static int raw_read_frames(int fd, struct vg_yamux_hdr *hdrs, int max)
{
    static uint8_t buf[1 << 20];
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    ssize_t n = read(fd, buf, sizeof buf);
    fcntl(fd, F_SETFL, flags);
    int k = 0;
    size_t off = 0;
    while (n > 0 && off + VG_YAMUX_HDR_LEN <= (size_t)n && k < max) {
        size_t used;
        cr_assert_eq(vg_yamux_decode(buf + off, (size_t)n - off, &hdrs[k], &used), VG_YAMUX_OK);
        off += used;
        if (hdrs[k].type == VG_YAMUX_DATA)
            off += hdrs[k].length;
        k++;
    }
    return k;
}

static bool side_closed(void *arg)
{
    return ((struct side *)arg)->closed > 0;
}

static bool has_accepted(void *arg)
{
    return ((struct side *)arg)->nacc > 0;
}

static bool has_two(void *arg)
{
    return ((struct side *)arg)->nacc >= 2;
}

struct want {
    struct evbuffer *buf;
    size_t n;
};

static bool got_n(void *arg)
{
    struct want *w = arg;
    return evbuffer_get_length(w->buf) >= w->n;
}

static bool ctx_eof(void *arg)
{
    return ((struct sctx *)arg)->eof > 0;
}

static bool ctx_reset(void *arg)
{
    return ((struct sctx *)arg)->reset > 0;
}

static void fill_random(unsigned char *p, size_t n, unsigned seed)
{
    srand(seed);
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)rand();
}

static bool buf_equals(struct evbuffer *b, const void *data, size_t n)
{
    if (evbuffer_get_length(b) != n)
        return false;
    return memcmp(evbuffer_pullup(b, -1), data, n) == 0;
}

TestSuite(mux, .init = setup, .fini = teardown, .timeout = 30);

/* ------------------------------------------------------------------------------ tests */

Test(mux, open_accept_data_both_ways)
{
    struct side a, b;
    pair(&a, &b);
    struct vg_mux_stream *s = vg_mux_open(a.m);
    cr_assert_not_null(s);
    cr_assert_eq(vg_mux_stream_id(s), 1);
    struct sctx *c = sctx_new(s);
    cr_assert_eq(vg_mux_stream_write(s, "hello", 5), 0);
    cr_assert(run_until(has_accepted, &b, 2000));
    struct sctx *bc = b.acc[0];
    cr_assert_eq(vg_mux_stream_id(bc->s), 1);
    struct want w = {bc->got, 5};
    cr_assert(run_until(got_n, &w, 2000));
    cr_assert(buf_equals(bc->got, "hello", 5));
    vg_mux_stream_write(bc->s, "world!", 6);
    w = (struct want){c->got, 6};
    cr_assert(run_until(got_n, &w, 2000));
    cr_assert(buf_equals(c->got, "world!", 6));
    cr_assert_eq(c->acked, 1);
    cr_assert_geq(c->drained, 1);
    cr_assert(vg_mux_stream_state(s) & VG_MUX_ACKED);
    /* the second stream gets the next odd id; the server's opens are even */
    struct vg_mux_stream *s2 = vg_mux_open(a.m);
    struct vg_mux_stream *s3 = vg_mux_open(b.m);
    cr_assert_eq(vg_mux_stream_id(s2), 3);
    cr_assert_eq(vg_mux_stream_id(s3), 2);
    vg_mux_stream_free(s2);
    vg_mux_stream_free(s3);
    cr_assert_eq(a.closed + b.closed, 0);
    sctx_free(c);
    side_free(&a);
    side_free(&b);
}

Test(mux, large_transfer_beyond_window_both_ways)
{
    struct side a, b;
    pair(&a, &b);
    size_t n = 4u << 20;
    unsigned char *data = malloc(n), *back = malloc(n);
    fill_random(data, n, 1);
    fill_random(back, n, 2);
    struct sctx *c = sctx_new(vg_mux_open(a.m));
    cr_assert_eq(vg_mux_stream_write(c->s, data, n), 0);
    vg_mux_stream_shutdown(c->s);
    cr_assert(run_until(has_accepted, &b, 2000));
    struct sctx *bc = b.acc[0];
    vg_mux_stream_write(bc->s, back, n);
    vg_mux_stream_shutdown(bc->s);
    cr_assert(run_until(ctx_eof, bc, 10000));
    cr_assert(run_until(ctx_eof, c, 10000));
    cr_assert(buf_equals(bc->got, data, n));
    cr_assert(buf_equals(c->got, back, n));
    run_for(20);
    cr_assert_eq(vg_mux_stream_count(a.m), 0, "both FINs: stream finished");
    cr_assert_eq(vg_mux_stream_count(b.m), 0);
    cr_assert_eq(vg_mux_stream_state(c->s) & (VG_MUX_EOF | VG_MUX_FIN_SENT),
                 VG_MUX_EOF | VG_MUX_FIN_SENT);
    cr_assert_eq(a.closed + b.closed, 0);
    free(data);
    free(back);
    sctx_free(c);
    side_free(&a);
    side_free(&b);
}

struct two {
    struct sctx *x, *y;
    size_t n;
};

Test(mux, slow_reader_stalls_only_its_stream)
{
    struct side a, b;
    pair(&a, &b);
    b.no_drain = true;
    size_t n = 2u << 20;
    unsigned char *data = malloc(n);
    fill_random(data, n, 3);
    struct sctx *slow = sctx_new(vg_mux_open(a.m));
    struct sctx *fast = sctx_new(vg_mux_open(a.m));
    vg_mux_stream_write(slow->s, data, n);
    vg_mux_stream_write(fast->s, data, n);
    run_for(100);
    cr_assert_eq(b.nacc, 2);
    struct sctx *bslow = b.acc[0], *bfast = b.acc[1];
    /* the receiver holds exactly one window per stream, never more */
    cr_assert_eq(evbuffer_get_length(vg_mux_stream_input(bslow->s)), VG_YAMUX_INITIAL_WINDOW);
    cr_assert_eq(evbuffer_get_length(vg_mux_stream_input(bfast->s)), VG_YAMUX_INITIAL_WINDOW);
    cr_assert_eq(vg_mux_stream_queued(slow->s), n - VG_YAMUX_INITIAL_WINDOW);
    /* the fast one starts reading: it completes while the slow one stays stalled */
    bfast->drain = true;
    evbuffer_add_buffer(bfast->got, vg_mux_stream_input(bfast->s));
    struct want w = {bfast->got, n};
    cr_assert(run_until(got_n, &w, 10000));
    cr_assert(buf_equals(bfast->got, data, n));
    cr_assert_eq(evbuffer_get_length(vg_mux_stream_input(bslow->s)), VG_YAMUX_INITIAL_WINDOW);
    cr_assert_eq(vg_mux_stream_queued(slow->s), n - VG_YAMUX_INITIAL_WINDOW);
    /* draining less than half a window sends no update; more does */
    evbuffer_add_buffer(bslow->got, vg_mux_stream_input(bslow->s));
    bslow->drain = true;
    w = (struct want){bslow->got, n};
    cr_assert(run_until(got_n, &w, 10000));
    cr_assert(buf_equals(bslow->got, data, n));
    cr_assert_eq(a.closed + b.closed, 0);
    free(data);
    sctx_free(slow);
    sctx_free(fast);
    side_free(&a);
    side_free(&b);
}

Test(mux, half_close_client_first)
{
    struct side a, b;
    pair(&a, &b);
    struct sctx *c = sctx_new(vg_mux_open(a.m));
    vg_mux_stream_write(c->s, "request", 7);
    vg_mux_stream_shutdown(c->s);
    cr_assert_eq(vg_mux_stream_write(c->s, "x", 1), -1, "no writes after shutdown");
    cr_assert(run_until(has_accepted, &b, 2000));
    struct sctx *bc = b.acc[0];
    cr_assert(run_until(ctx_eof, bc, 2000));
    cr_assert(buf_equals(bc->got, "request", 7));
    cr_assert_eq(c->eof, 0);
    /* the other direction still works after the peer's FIN */
    for (int i = 0; i < 3; i++)
        cr_assert_eq(vg_mux_stream_write(bc->s, "resp.", 5), 0);
    struct want w = {c->got, 15};
    cr_assert(run_until(got_n, &w, 2000));
    cr_assert_eq(c->eof, 0, "no EOF before the server's FIN");
    cr_assert_eq(vg_mux_stream_count(a.m), 1);
    vg_mux_stream_shutdown(bc->s);
    cr_assert(run_until(ctx_eof, c, 2000));
    cr_assert(buf_equals(c->got, "resp.resp.resp.", 15));
    run_for(10);
    cr_assert_eq(vg_mux_stream_count(a.m), 0);
    cr_assert_eq(vg_mux_stream_count(b.m), 0);
    cr_assert_eq(c->reset + bc->reset, 0);
    sctx_free(c);
    side_free(&a);
    side_free(&b);
}

Test(mux, half_close_server_first_and_echo)
{
    struct side a, b;
    pair(&a, &b);
    struct sctx *c = sctx_new(vg_mux_open(a.m));
    vg_mux_stream_write(c->s, "ping", 4);
    cr_assert(run_until(has_accepted, &b, 2000));
    struct sctx *bc = b.acc[0];
    vg_mux_stream_write(bc->s, "banner", 6);
    vg_mux_stream_shutdown(bc->s);
    cr_assert(run_until(ctx_eof, c, 2000));
    cr_assert(buf_equals(c->got, "banner", 6));
    /* client keeps sending after the server's FIN */
    vg_mux_stream_write(c->s, "-more", 5);
    struct want w = {bc->got, 9};
    cr_assert(run_until(got_n, &w, 2000));
    cr_assert(buf_equals(bc->got, "ping-more", 9));
    vg_mux_stream_shutdown(c->s);
    cr_assert(run_until(ctx_eof, bc, 2000));
    run_for(10);
    cr_assert_eq(vg_mux_stream_count(a.m) + vg_mux_stream_count(b.m), 0);
    sctx_free(c);
    side_free(&a);
    side_free(&b);
}

Test(mux, reset_both_ways)
{
    struct side a, b;
    pair(&a, &b);
    struct sctx *c = sctx_new(vg_mux_open(a.m));
    vg_mux_stream_write(c->s, "abc", 3);
    cr_assert(run_until(has_accepted, &b, 2000));
    struct sctx *bc = b.acc[0];
    vg_mux_stream_reset(c->s);
    cr_assert_eq(vg_mux_stream_write(c->s, "x", 1), -1);
    cr_assert(run_until(ctx_reset, bc, 2000));
    cr_assert_eq(c->reset, 0, "no event for our own reset");
    cr_assert_eq(vg_mux_stream_write(bc->s, "x", 1), -1);
    cr_assert(vg_mux_stream_state(bc->s) & VG_MUX_RESET);
    run_for(10);
    cr_assert_eq(vg_mux_stream_count(a.m) + vg_mux_stream_count(b.m), 0);
    /* the other way: the server resets */
    struct sctx *c2 = sctx_new(vg_mux_open(a.m));
    vg_mux_stream_write(c2->s, "abc", 3);
    cr_assert(run_until(has_two, &b, 2000));
    vg_mux_stream_reset(b.acc[1]->s);
    cr_assert(run_until(ctx_reset, c2, 2000));
    cr_assert_eq(a.closed + b.closed, 0, "resets do not end the session");
    sctx_free(c);
    sctx_free(c2);
    side_free(&a);
    side_free(&b);
}

Test(mux, refused_stream_gets_reset)
{
    struct side a, b;
    pair(&a, &b);
    b.refuse = true;
    struct sctx *c = sctx_new(vg_mux_open(a.m));
    vg_mux_stream_write(c->s, "abc", 3);
    cr_assert(run_until(ctx_reset, c, 2000));
    cr_assert_eq(c->acked, 0);
    cr_assert_eq(a.closed + b.closed, 0);
    sctx_free(c);
    side_free(&a);
    side_free(&b);
}

Test(mux, max_streams_bounds_the_accept_backlog)
{
    struct side a, b;
    pair(&a, &b);
    struct vg_mux_opts o;
    vg_mux_get_opts(b.m, &o);
    o.max_streams = 4;
    vg_mux_set_opts(b.m, &o);
    struct sctx *c[6];
    for (int i = 0; i < 6; i++)
        c[i] = sctx_new(vg_mux_open(a.m));
    run_for(100);
    cr_assert_eq(b.nacc, 4);
    int resets = 0, acks = 0;
    for (int i = 0; i < 6; i++) {
        resets += c[i]->reset;
        acks += c[i]->acked;
    }
    cr_assert_eq(resets, 2);
    cr_assert_eq(acks, 4);
    /* our own opens are bounded too */
    vg_mux_get_opts(a.m, &o);
    o.max_streams = 4;
    vg_mux_set_opts(a.m, &o);
    cr_assert_null(vg_mux_open(a.m));
    for (int i = 0; i < 6; i++)
        sctx_free(c[i]);
    side_free(&a);
    side_free(&b);
}

Test(mux, peer_exceeding_window_is_protocol_error)
{
    struct side a;
    int raw;
    raw_pair(&a, false, &raw);
    a.no_drain = true; /* the app does not read: the window is not re-opened */
    static char big[VG_YAMUX_INITIAL_WINDOW];
    memset(big, 'x', sizeof big);
    raw_frame(raw, VG_YAMUX_WINDOW_UPDATE, VG_YAMUX_SYN, 1, 0, NULL, 0);
    raw_frame(raw, VG_YAMUX_DATA, 0, 1, sizeof big - 10, big, sizeof big - 10);
    run_for(50);
    cr_assert_eq(a.closed, 0, "a full window is fine");
    cr_assert_eq(a.nacc, 1);
    raw_frame(raw, VG_YAMUX_DATA, 0, 1, 11, big, 11); /* one byte too many */
    cr_assert(run_until(side_closed, &a, 2000));
    cr_assert(strstr(a.why, "window"), "why: %s", a.why);
    struct vg_yamux_hdr h[8];
    int k = raw_read_frames(raw, h, 8);
    cr_assert_geq(k, 2);
    cr_assert_eq(h[0].type, VG_YAMUX_WINDOW_UPDATE);
    cr_assert_eq(h[0].flags, VG_YAMUX_ACK);
    cr_assert_eq(h[k - 1].type, VG_YAMUX_GO_AWAY);
    cr_assert_eq(h[k - 1].length, VG_YAMUX_GOAWAY_PROTO);
    cr_assert_eq(a.acc[0]->reset, 1, "streams get RESET when the session dies");
    close(raw);
    side_free(&a);
}

Test(mux, window_updates_only_after_half_window_consumed)
{
    struct side a;
    int raw;
    raw_pair(&a, false, &raw);
    a.no_drain = true;
    static char big[VG_YAMUX_INITIAL_WINDOW];
    raw_frame(raw, VG_YAMUX_WINDOW_UPDATE, VG_YAMUX_SYN, 1, 0, NULL, 0);
    raw_frame(raw, VG_YAMUX_DATA, 0, 1, sizeof big, big, sizeof big);
    run_for(50);
    struct vg_yamux_hdr h[8];
    cr_assert_eq(raw_read_frames(raw, h, 8), 1); /* the ACK */
    struct evbuffer *in = vg_mux_stream_input(a.acc[0]->s);
    evbuffer_drain(in, VG_YAMUX_INITIAL_WINDOW / 2 - 1);
    run_for(20);
    cr_assert_eq(raw_read_frames(raw, h, 8), 0, "less than half a window: no update");
    evbuffer_drain(in, 1);
    run_for(20);
    cr_assert_eq(raw_read_frames(raw, h, 8), 1);
    cr_assert_eq(h[0].type, VG_YAMUX_WINDOW_UPDATE);
    cr_assert_eq(h[0].stream_id, 1);
    cr_assert_eq(h[0].length, VG_YAMUX_INITIAL_WINDOW / 2);
    cr_assert_eq(a.closed, 0);
    close(raw);
    side_free(&a);
}

Test(mux, sender_respects_peer_window)
{
    struct side a;
    int raw;
    raw_pair(&a, true, &raw);
    struct sctx *c = sctx_new(vg_mux_open(a.m));
    static unsigned char data[600000];
    vg_mux_stream_write(c->s, data, sizeof data);
    static uint8_t buf[1 << 20];
    size_t total = raw_drain(raw, buf, sizeof buf, 200);
    /* SYN + data frames: exactly one window of payload, frames of at most 16 KiB */
    size_t off = 0, payload = 0;
    int frames = 0;
    while (off < total) {
        struct vg_yamux_hdr h;
        size_t used;
        cr_assert_eq(vg_yamux_decode(buf + off, total - off, &h, &used), VG_YAMUX_OK);
        off += used;
        if (frames == 0) {
            cr_assert_eq(h.type, VG_YAMUX_WINDOW_UPDATE);
            cr_assert_eq(h.flags, VG_YAMUX_SYN);
        } else {
            cr_assert_eq(h.type, VG_YAMUX_DATA);
            cr_assert_leq(h.length, 16384);
            off += h.length;
            payload += h.length;
        }
        frames++;
    }
    cr_assert_eq(payload, VG_YAMUX_INITIAL_WINDOW);
    cr_assert_eq(vg_mux_stream_queued(c->s), sizeof data - VG_YAMUX_INITIAL_WINDOW);
    /* a window update lets exactly that much more out */
    raw_frame(raw, VG_YAMUX_WINDOW_UPDATE, VG_YAMUX_ACK, 1, 1000, NULL, 0);
    run_for(50);
    cr_assert_eq(vg_mux_stream_queued(c->s), sizeof data - VG_YAMUX_INITIAL_WINDOW - 1000);
    cr_assert_eq(c->acked, 1);
    close(raw);
    sctx_free(c);
    side_free(&a);
}

Test(mux, ping_and_keepalive)
{
    struct side a, b;
    pair(&a, &b);
    cr_assert_eq(vg_mux_ping(a.m), 0);
    run_for(50);
    cr_assert_eq(a.pongs, 1);
    vg_mux_set_keepalive(a.m, 30, 60);
    run_for(250);
    cr_assert_geq(a.pongs, 4);
    cr_assert_eq(a.closed, 0);
    side_free(&a);
    side_free(&b);
}

Test(mux, keepalive_timeout_closes_session)
{
    struct side a;
    int raw;
    raw_pair(&a, true, &raw);
    vg_mux_set_keepalive(a.m, 20, 50);
    cr_assert(run_until(side_closed, &a, 2000));
    cr_assert_str_eq(a.why, "keepalive timeout");
    struct vg_yamux_hdr h[8];
    cr_assert_geq(raw_read_frames(raw, h, 8), 1);
    cr_assert_eq(h[0].type, VG_YAMUX_PING);
    cr_assert_eq(h[0].flags, VG_YAMUX_SYN);
    close(raw);
    side_free(&a);
}

Test(mux, answers_pings_with_same_value)
{
    struct side a;
    int raw;
    raw_pair(&a, false, &raw);
    raw_frame(raw, VG_YAMUX_PING, VG_YAMUX_SYN, 0, 0xdeadbeef, NULL, 0);
    run_for(30);
    struct vg_yamux_hdr h[4];
    cr_assert_eq(raw_read_frames(raw, h, 4), 1);
    cr_assert_eq(h[0].type, VG_YAMUX_PING);
    cr_assert_eq(h[0].flags, VG_YAMUX_ACK);
    cr_assert_eq(h[0].length, 0xdeadbeef);
    /* an unsolicited answer is ignored */
    raw_frame(raw, VG_YAMUX_PING, VG_YAMUX_ACK, 0, 5, NULL, 0);
    run_for(30);
    cr_assert_eq(a.closed + a.pongs, 0);
    close(raw);
    side_free(&a);
}

Test(mux, goaway_normal_closes_when_idle)
{
    struct side a;
    int raw;
    raw_pair(&a, true, &raw);
    struct sctx *c = sctx_new(vg_mux_open(a.m));
    raw_frame(raw, VG_YAMUX_GO_AWAY, 0, 0, VG_YAMUX_GOAWAY_NORMAL, NULL, 0);
    run_for(30);
    cr_assert_eq(a.closed, 0, "open streams continue after GoAway(0)");
    cr_assert_null(vg_mux_open(a.m), "no new streams after the peer's GoAway");
    raw_frame(raw, VG_YAMUX_WINDOW_UPDATE, VG_YAMUX_RST, 1, 0, NULL, 0);
    cr_assert(run_until(side_closed, &a, 2000));
    cr_assert(strstr(a.why, "GoAway"));
    cr_assert_eq(c->reset, 1);
    close(raw);
    sctx_free(c);
    side_free(&a);
}

Test(mux, goaway_error_closes_at_once)
{
    for (uint32_t code = 1; code <= 3; code++) {
        struct side a;
        int raw;
        raw_pair(&a, true, &raw);
        struct sctx *c = sctx_new(vg_mux_open(a.m));
        raw_frame(raw, VG_YAMUX_GO_AWAY, 0, 0, code, NULL, 0);
        cr_assert(run_until(side_closed, &a, 2000));
        cr_assert_eq(c->reset, 1);
        cr_assert_eq(a.closed, 1);
        cr_assert_not(vg_mux_alive(a.m));
        cr_assert_null(vg_mux_open(a.m));
        cr_assert_eq(vg_mux_stream_write(c->s, "x", 1), -1);
        close(raw);
        sctx_free(c);
        side_free(&a);
    }
}

Test(mux, our_goaway_refuses_new_streams)
{
    struct side a, b;
    pair(&a, &b);
    vg_mux_goaway(b.m);
    struct sctx *c = sctx_new(vg_mux_open(a.m));
    cr_assert(run_until(ctx_reset, c, 2000));
    cr_assert_eq(b.nacc, 0);
    sctx_free(c);
    side_free(&a);
    side_free(&b);
}

Test(mux, eof_and_close_by_peer)
{
    struct side a, b;
    pair(&a, &b);
    struct sctx *c = sctx_new(vg_mux_open(a.m));
    run_for(20);
    side_free(&b);
    cr_assert(run_until(side_closed, &a, 2000));
    cr_assert_str_eq(a.why, "EOF from peer");
    cr_assert_eq(c->reset, 1);
    sctx_free(c);
    side_free(&a);
}

Test(mux, garbage_input_closes_without_crash)
{
    for (unsigned seed = 1; seed <= 200; seed++) {
        struct side a;
        int raw;
        raw_pair(&a, seed & 1, &raw);
        a.free_on_close = seed % 3 == 0;
        unsigned char junk[512];
        fill_random(junk, sizeof junk, seed);
        if (seed % 4 == 0) {
            /* a valid opening, then junk */
            raw_frame(raw, VG_YAMUX_WINDOW_UPDATE, VG_YAMUX_SYN, (seed & 1) ? 2 : 1, 0, NULL, 0);
        }
        (void)!write(raw, junk, sizeof junk);
        close(raw);
        cr_assert(run_until(side_closed, &a, 2000), "seed %u", seed);
        cr_assert_eq(a.closed, 1);
        side_free(&a);
    }
}

Test(mux, protocol_violations)
{
    struct {
        uint8_t type;
        uint16_t flags;
        uint32_t id, len;
        const char *why;
    } cases[] = {
        {1, VG_YAMUX_SYN, 2, 0, "parity"}, /* server must not see even ids from the client */
        {0, 0, 0, 0, "stream id"},         /* Data on stream 0 */
        {2, 0, 0, 0, "flags"},             /* Ping without SYN/ACK */
        {1, 0x40, 1, 0, "flags"},          /* undefined flag */
        {0, 0, 1, VG_YAMUX_INITIAL_WINDOW + 1, "too long"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct side a;
        int raw;
        raw_pair(&a, false, &raw);
        raw_frame(raw, cases[i].type, cases[i].flags, cases[i].id, cases[i].len, NULL, 0);
        cr_assert(run_until(side_closed, &a, 2000));
        cr_assert(strstr(a.why, cases[i].why), "case %zu: %s", i, a.why);
        struct vg_yamux_hdr h[4];
        int k = raw_read_frames(raw, h, 4);
        cr_assert_geq(k, 1);
        cr_assert_eq(h[k - 1].type, VG_YAMUX_GO_AWAY);
        cr_assert_eq(h[k - 1].length, VG_YAMUX_GOAWAY_PROTO);
        close(raw);
        side_free(&a);
    }
}

Test(mux, duplicate_syn_and_double_fin)
{
    struct side a;
    int raw;
    raw_pair(&a, false, &raw);
    raw_frame(raw, VG_YAMUX_WINDOW_UPDATE, VG_YAMUX_SYN, 1, 0, NULL, 0);
    raw_frame(raw, VG_YAMUX_WINDOW_UPDATE, VG_YAMUX_SYN, 1, 0, NULL, 0);
    cr_assert(run_until(side_closed, &a, 2000));
    cr_assert(strstr(a.why, "duplicate"));
    close(raw);
    side_free(&a);

    raw_pair(&a, false, &raw);
    raw_frame(raw, VG_YAMUX_WINDOW_UPDATE, VG_YAMUX_SYN, 1, 0, NULL, 0);
    raw_frame(raw, VG_YAMUX_DATA, VG_YAMUX_FIN, 1, 2, "ab", 2);
    run_for(20);
    cr_assert_eq(a.closed, 0);
    cr_assert_eq(a.acc[0]->eof, 1);
    cr_assert(buf_equals(a.acc[0]->got, "ab", 2), "FIN after the payload of its frame");
    raw_frame(raw, VG_YAMUX_DATA, 0, 1, 1, "c", 1);
    cr_assert(run_until(side_closed, &a, 2000));
    cr_assert(strstr(a.why, "after FIN"));
    close(raw);
    side_free(&a);
}

Test(mux, frames_for_unknown_streams_are_discarded)
{
    struct side a;
    int raw;
    raw_pair(&a, false, &raw);
    raw_frame(raw, VG_YAMUX_DATA, 0, 7, 5, "junk!", 5);
    raw_frame(raw, VG_YAMUX_WINDOW_UPDATE, 0, 9, 100, NULL, 0);
    raw_frame(raw, VG_YAMUX_WINDOW_UPDATE, VG_YAMUX_FIN, 11, 0, NULL, 0);
    raw_frame(raw, VG_YAMUX_DATA, VG_YAMUX_RST, 13, 3, "xyz", 3);
    /* then a normal stream still works */
    raw_frame(raw, VG_YAMUX_DATA, VG_YAMUX_SYN, 1, 4, "real", 4);
    run_for(50);
    cr_assert_eq(a.closed, 0);
    cr_assert_eq(a.nacc, 1);
    cr_assert(buf_equals(a.acc[0]->got, "real", 4));
    struct vg_yamux_hdr h[4];
    cr_assert_eq(raw_read_frames(raw, h, 4), 1, "only the ACK: unknown streams are not answered");
    cr_assert_eq(h[0].flags, VG_YAMUX_ACK);
    close(raw);
    side_free(&a);
}

Test(mux, byte_at_a_time_input)
{
    struct side a;
    int raw;
    raw_pair(&a, false, &raw);
    uint8_t frames[3 * VG_YAMUX_HDR_LEN + 10];
    vg_yamux_encode(frames, VG_YAMUX_WINDOW_UPDATE, VG_YAMUX_SYN, 1, 0);
    vg_yamux_encode(frames + 12, VG_YAMUX_DATA, 0, 1, 10);
    memcpy(frames + 24, "0123456789", 10);
    vg_yamux_encode(frames + 34, VG_YAMUX_WINDOW_UPDATE, VG_YAMUX_FIN, 1, 0);
    for (size_t i = 0; i < sizeof frames; i++) {
        cr_assert_eq(write(raw, frames + i, 1), 1);
        run_for(1);
    }
    run_for(20);
    cr_assert_eq(a.closed, 0);
    cr_assert_eq(a.nacc, 1);
    cr_assert(buf_equals(a.acc[0]->got, "0123456789", 10));
    cr_assert_eq(a.acc[0]->eof, 1);
    close(raw);
    side_free(&a);
}

struct many {
    struct sctx *rx[32];
    int n;
    size_t each;
};

static bool one_done(void *arg)
{
    struct many *mm = arg;
    for (int i = 0; i < mm->n; i++)
        if (mm->rx[i] && evbuffer_get_length(mm->rx[i]->got) >= mm->each)
            return true;
    return false;
}

static bool all_eof(void *arg)
{
    struct many *mm = arg;
    for (int i = 0; i < mm->n; i++)
        if (!mm->rx[i] || !mm->rx[i]->eof)
            return false;
    return true;
}

Test(mux, many_streams_fair_progress)
{
    struct side a, b;
    pair(&a, &b);
    enum { N = 16 };
    size_t each = 2u << 20;
    unsigned char *data = malloc(each);
    fill_random(data, each, 7);
    struct sctx *tx[N];
    for (int i = 0; i < N; i++) {
        tx[i] = sctx_new(vg_mux_open(a.m));
        vg_mux_stream_write(tx[i]->s, data, each);
        vg_mux_stream_shutdown(tx[i]->s);
    }
    run_for(20);
    cr_assert_eq(b.nacc, N);
    struct many mm = {.n = N, .each = each};
    for (int i = 0; i < N; i++)
        mm.rx[i] = b.acc[i];
    cr_assert(run_until(one_done, &mm, 20000));
    size_t lo = SIZE_MAX, hi = 0;
    for (int i = 0; i < N; i++) {
        size_t g = evbuffer_get_length(mm.rx[i]->got);
        lo = g < lo ? g : lo;
        hi = g > hi ? g : hi;
    }
    /* round robin: when the first stream finishes, every other one is close behind */
    cr_assert_geq(lo, hi * 3 / 4, "lo %zu hi %zu", lo, hi);
    cr_assert(run_until(all_eof, &mm, 20000));
    for (int i = 0; i < N; i++)
        cr_assert(buf_equals(mm.rx[i]->got, data, each), "stream %d", i);
    free(data);
    for (int i = 0; i < N; i++)
        sctx_free(tx[i]);
    side_free(&a);
    side_free(&b);
}

Test(mux, free_with_open_streams_resets_and_detaches)
{
    struct side a, b;
    pair(&a, &b);
    struct sctx *c = sctx_new(vg_mux_open(a.m));
    vg_mux_stream_write(c->s, "x", 1);
    run_for(20);
    vg_mux_free(a.m);
    a.m = NULL;
    cr_assert_eq(c->reset, 1);
    cr_assert_eq(a.closed, 0, "no on_close for a local free");
    cr_assert_null(vg_mux_stream_mux(c->s));
    cr_assert_eq(vg_mux_stream_write(c->s, "x", 1), -1);
    vg_mux_stream_shutdown(c->s); /* harmless */
    vg_mux_stream_reset(c->s);
    cr_assert(run_until(side_closed, &b, 2000));
    cr_assert_eq(b.acc[0]->reset, 1);
    sctx_free(c); /* frees the detached handle */
    side_free(&a);
    side_free(&b);
}

Test(mux, free_inside_callbacks)
{
    struct side a, b;
    pair(&a, &b);
    b.free_on_close = true;
    struct sctx *c = sctx_new(vg_mux_open(a.m));
    vg_mux_stream_write(c->s, "data", 4);
    cr_assert(run_until(has_accepted, &b, 2000));
    b.acc[0]->free_on_read = true;
    vg_mux_stream_write(c->s, "more", 4);
    run_for(30);
    cr_assert_null(b.acc[0]->s, "freed inside on_read");
    cr_assert(run_until(ctx_reset, c, 2000), "freed without shutdown: reset");
    side_free(&a);
    cr_assert(run_until(side_closed, &b, 2000));
    cr_assert_null(b.m, "vg_mux_free inside on_close");
    sctx_free(c);
    side_free(&b);
}

Test(mux, free_after_shutdown_lingers_until_sent)
{
    struct side a, b;
    pair(&a, &b);
    size_t n = 1u << 20;
    unsigned char *data = malloc(n);
    fill_random(data, n, 9);
    struct vg_mux_stream *s = vg_mux_open(a.m);
    vg_mux_stream_write(s, data, n);
    vg_mux_stream_shutdown(s);
    vg_mux_stream_free(s); /* like close(2) after write: the bytes still arrive */
    cr_assert(run_until(has_accepted, &b, 2000));
    cr_assert(run_until(ctx_eof, b.acc[0], 5000));
    cr_assert(buf_equals(b.acc[0]->got, data, n));
    cr_assert_eq(b.acc[0]->reset, 0);
    /* the orphan discards what the peer still sends, then goes away on the peer's FIN */
    vg_mux_stream_write(b.acc[0]->s, data, n);
    vg_mux_stream_shutdown(b.acc[0]->s);
    run_for(200);
    cr_assert_eq(b.acc[0]->reset, 0);
    cr_assert_eq(vg_mux_stream_queued(b.acc[0]->s), 0, "orphan kept granting window");
    cr_assert_eq(vg_mux_stream_count(a.m), 0);
    cr_assert_eq(vg_mux_stream_count(b.m), 0);
    free(data);
    side_free(&a);
    side_free(&b);
}

/* ------------------------------------------------------------------------------ bridge */

struct bdone {
    int calls;
    uint64_t up, down;
    char err[128];
    bool has_err;
    struct vg_mux_bridge *b;
};

static void bridge_done(struct vg_mux_bridge *b, uint64_t up, uint64_t down, const char *err,
                        void *arg)
{
    struct bdone *d = arg;
    d->calls++;
    d->up = up;
    d->down = down;
    d->has_err = err != NULL;
    snprintf(d->err, sizeof d->err, "%s", err ? err : "");
    vg_mux_bridge_free(b); /* allowed inside done */
    d->b = NULL;
}

static bool bridge_finished(void *arg)
{
    return ((struct bdone *)arg)->calls > 0;
}

Test(mux, bridge_relays_with_exact_half_close)
{
    struct side a, b;
    pair(&a, &b);
    int sp[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    /* A's stream ↔ sp[0] via a bridge; the test plays the app on sp[1] and on B's stream */
    struct vg_mux_stream *s = vg_mux_open(a.m);
    vg_mux_stream_write(s, "pre", 3); /* written before the bridge takes over */
    cr_assert(run_until(has_accepted, &b, 2000));
    struct sctx *bc = b.acc[0];
    vg_mux_stream_write(bc->s, "early", 5); /* lands in s's input before the bridge */
    run_for(20);
    struct bdone d = {0};
    d.b = vg_mux_bridge_new(base, sp[0], s, bridge_done, &d);
    cr_assert_not_null(d.b);
    size_t n = 3u << 20;
    unsigned char *data = malloc(n), *rx = malloc(n + 16);
    fill_random(data, n, 11);
    /* fd → stream, then EOF on the fd side → FIN on the stream */
    size_t off = 0;
    fcntl(sp[1], F_SETFL, O_NONBLOCK);
    while (off < n) {
        ssize_t w = write(sp[1], data + off, n - off);
        if (w > 0)
            off += (size_t)w;
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    }
    shutdown(sp[1], SHUT_WR);
    cr_assert(run_until(ctx_eof, bc, 10000));
    cr_assert_eq(evbuffer_get_length(bc->got), n + 3);
    cr_assert_eq(memcmp(evbuffer_pullup(bc->got, -1) + 3, data, n), 0);
    cr_assert_eq(d.calls, 0, "only one direction closed");
    /* stream → fd, then FIN → SHUT_WR on the fd */
    vg_mux_stream_write(bc->s, data, n);
    vg_mux_stream_shutdown(bc->s);
    size_t got = 0;
    uint64_t end = vg_now_ms() + 10000;
    for (;;) {
        ssize_t r = read(sp[1], rx + got, n + 16 - got);
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        if (r == 0)
            break;
        cr_assert(errno == EAGAIN, "read: %s", strerror(errno));
        cr_assert_lt(vg_now_ms(), end);
        event_base_loop(base, EVLOOP_ONCE);
    }
    cr_assert_eq(got, n + 5);
    cr_assert_eq(memcmp(rx, "early", 5), 0);
    cr_assert_eq(memcmp(rx + 5, data, n), 0);
    cr_assert(run_until(bridge_finished, &d, 2000));
    cr_assert_eq(d.calls, 1);
    cr_assert_not(d.has_err, "err %s", d.err);
    cr_assert_eq(d.up, n);
    cr_assert_eq(d.down, n + 5);
    run_for(20);
    cr_assert_eq(vg_mux_stream_count(a.m) + vg_mux_stream_count(b.m), 0);
    close(sp[1]);
    free(data);
    free(rx);
    side_free(&a);
    side_free(&b);
}

Test(mux, bridge_reports_stream_reset_and_session_loss)
{
    struct side a, b;
    pair(&a, &b);
    int sp[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    struct vg_mux_stream *s = vg_mux_open(a.m);
    struct bdone d = {0};
    d.b = vg_mux_bridge_new(base, sp[0], s, bridge_done, &d);
    cr_assert(run_until(has_accepted, &b, 2000));
    vg_mux_stream_reset(b.acc[0]->s);
    cr_assert(run_until(bridge_finished, &d, 2000));
    cr_assert(d.has_err);
    cr_assert(strstr(d.err, "reset"), "%s", d.err);
    char c;
    cr_assert_eq(read(sp[1], &c, 1), 0, "fd closed by the bridge");
    close(sp[1]);

    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    struct bdone d2 = {0};
    d2.b = vg_mux_bridge_new(base, sp[0], vg_mux_open(a.m), bridge_done, &d2);
    run_for(20);
    side_free(&b);
    cr_assert(run_until(bridge_finished, &d2, 2000));
    cr_assert(strstr(d2.err, "session closed"), "%s", d2.err);
    close(sp[1]);
    side_free(&a);
}

Test(mux, bridge_idle_timeout)
{
    struct side a, b;
    pair(&a, &b);
    int sp[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    struct bdone d = {0};
    d.b = vg_mux_bridge_new(base, sp[0], vg_mux_open(a.m), bridge_done, &d);
    cr_assert_not_null(d.b);
    cr_assert_eq(vg_mux_bridge_set_idle(d.b, 0), 0, "0 = never");
    cr_assert(run_until(has_accepted, &b, 2000));
    run_for(1300);
    cr_assert_eq(d.calls, 0, "no idle timeout set");
    /* traffic, then silence: the bridge ends about a second later, as an abort */
    cr_assert_eq(vg_mux_bridge_set_idle(d.b, 1), 0);
    vg_mux_stream_write(b.acc[0]->s, "x", 1);
    char c;
    uint64_t t0 = vg_now_ms();
    fcntl(sp[1], F_SETFL, O_NONBLOCK);
    while (read(sp[1], &c, 1) != 1) {
        cr_assert_lt(vg_now_ms() - t0, 2000, "the byte crosses the bridge");
        run_for(10);
    }
    cr_assert(run_until(bridge_finished, &d, 3000));
    cr_assert_geq(vg_now_ms() - t0, 900);
    cr_assert(d.has_err);
    cr_assert_str_eq(d.err, "idle timeout");
    cr_assert(run_until(ctx_reset, b.acc[0], 2000), "the peer's stream is reset");
    close(sp[1]);
    side_free(&a);
    side_free(&b);
}

Test(mux, bridge_backpressure_slow_fd)
{
    struct side a, b;
    pair(&a, &b);
    int sp[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    int small = 4096;
    setsockopt(sp[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(sp[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct vg_mux_stream *s = vg_mux_open(a.m);
    struct bdone d = {0};
    d.b = vg_mux_bridge_new(base, sp[0], s, bridge_done, &d);
    cr_assert(run_until(has_accepted, &b, 2000));
    struct sctx *bc = b.acc[0];
    size_t n = 4u << 20;
    unsigned char *data = malloc(n);
    fill_random(data, n, 13);
    vg_mux_stream_write(bc->s, data, n);
    run_for(300);
    /* nobody reads sp[1]: the bridge holds at most one window, the sender keeps the rest */
    size_t held = evbuffer_get_length(vg_mux_stream_input(s));
    cr_assert_leq(held, VG_YAMUX_INITIAL_WINDOW);
    cr_assert_geq(vg_mux_stream_queued(bc->s), n - 2 * VG_YAMUX_INITIAL_WINDOW);
    cr_assert_eq(d.calls, 0);
    free(data);
    vg_mux_bridge_free(d.b);
    close(sp[1]);
    side_free(&a);
    side_free(&b);
}

/* The shared line reader of preambles and control messages. */
Test(lines, take_line)
{
    struct evbuffer *in = evbuffer_new();
    char line[8];
    evbuffer_add(in, "OK", 2);
    cr_assert_eq(vg_evbuffer_take_line(in, line, sizeof line), VG_LINE_NEED_MORE);
    cr_assert_eq(evbuffer_get_length(in), 2, "nothing taken while the line is incomplete");
    evbuffer_add(in, "\r\nERR x\nrest", 12);
    cr_assert_eq(vg_evbuffer_take_line(in, line, sizeof line), 2);
    cr_assert_str_eq(line, "OK", "the \\r before \\n is dropped");
    cr_assert_eq(vg_evbuffer_take_line(in, line, sizeof line), 5);
    cr_assert_str_eq(line, "ERR x");
    cr_assert_eq(vg_evbuffer_take_line(in, line, sizeof line), VG_LINE_NEED_MORE);
    cr_assert_eq(evbuffer_get_length(in), 4, "bytes after the last line stay");
    evbuffer_add(in, "1234", 4); /* 8 bytes, no newline: can never fit line[8] */
    cr_assert_eq(vg_evbuffer_take_line(in, line, sizeof line), VG_LINE_TOO_LONG);
    evbuffer_drain(in, evbuffer_get_length(in));
    evbuffer_add(in, "12345678\n", 9);
    cr_assert_eq(vg_evbuffer_take_line(in, line, sizeof line), VG_LINE_TOO_LONG);
    cr_assert_eq(evbuffer_get_length(in), 9, "nothing taken when too long");
    evbuffer_drain(in, 9);
    evbuffer_add(in, "1234567\n", 8); /* 7 bytes + NUL: fits exactly */
    cr_assert_eq(vg_evbuffer_take_line(in, line, sizeof line), 7);
    cr_assert_str_eq(line, "1234567");
    evbuffer_free(in);
}
