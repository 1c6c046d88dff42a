/* muxclient — a host-side test client for vmgate-agent (and any yamux guest speaking
 * docs/protocol.md), built on vg_mux.  It plays the gateway's part in the system tests.
 *
 *   muxclient -c unix:PATH connect PORT
 *       one stream "CONNECT PORT"; the reply line goes to stderr ("reply: OK"); then stdin →
 * stream, stream → stdout, with half-close both ways.  Exit 0 when both directions ended, 3 on ERR.
 *   muxclient -c unix:PATH parallel N PORT BYTES
 *       N streams to an echo service at once, each sending BYTES (pipelined after the request
 *       line, then FIN) and checking the echo byte for byte; prints how far the others were when
 *       the first finished (fairness).  Exit 0 when all match.
 *   muxclient -c unix:PATH host [--hello k=v,...] [--route NAME=PORT]... [--ready FILE]
 *       stays connected like a gateway: opens CONTROL, sends hello/set, asks the guest two
 *       requests (op=ping, op=bogus) and a bogus verb, answers the guest's requests (host-facts,
 *       snapshot-save; anything else unknown-op), accepts guest streams "CONNECT NAME PORT" and
 *       relays those whose NAME has a --route to 127.0.0.1:PORT (others: ERR denied).  Prints
 *       control lines as "ctl< ..." / "ctl> ...".  Exit 3 with "session closed: WHY" when the
 *       session ends, 0 on SIGTERM.
 *   muxclient -c unix:PATH ping
 */
#include "vg_alloc.h"
#include "vg_log.h"
#include "vg_mux.h"
#include "vg_mux_bridge.h"
#include "vg_mux_ctl.h"
#include "vg_time.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static struct event_base *base;
static struct vg_mux *mux;
static int exit_code = 1;

static void quit(int code)
{
    static bool quitting;
    if (quitting)
        return; /* the first reason wins */
    quitting = true;
    exit_code = code;
    event_base_loopbreak(base);
}

/* One line from a stream's input (without "\n"), or false if none complete yet. */
static bool take_line(struct evbuffer *in, char *line, size_t cap)
{
    size_t eol = 0;
    struct evbuffer_ptr p = evbuffer_search_eol(in, NULL, &eol, EVBUFFER_EOL_LF);
    if (p.pos < 0 || (size_t)p.pos >= cap)
        return false;
    evbuffer_remove(in, line, (size_t)p.pos);
    line[p.pos] = '\0';
    evbuffer_drain(in, eol);
    return true;
}

/* ------------------------------------------------------------------------------ connect */

static struct vg_mux_stream *cs;
static struct event *stdin_ev;
static bool got_reply, replied_err, in_eof, out_eof, stdin_regular;

static struct event *flush_ev;

/* Both directions ended: leave once our FIN and everything before it reached the socket. */
static void connect_check_done(void)
{
    if (!in_eof || !out_eof)
        return;
    if ((vg_mux_stream_state(cs) & VG_MUX_FIN_SENT) && vg_mux_backlog(mux) == 0) {
        quit(0);
        return;
    }
    struct timeval tv = {0, 10000};
    event_add(flush_ev, &tv);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    connect_check_done();
}

static void stdin_cb(evutil_socket_t fd, short what, void *arg)
{
    char buf[65536];
    while (vg_mux_stream_queued(cs) < 256 * 1024) {
        ssize_t n = read(0, buf, sizeof buf);
        if (n > 0) {
            vg_mux_stream_write(cs, buf, (size_t)n);
            if (!stdin_regular)
                return;
            continue;
        }
        if (n == 0) {
            in_eof = true;
            event_del(stdin_ev);
            vg_mux_stream_shutdown(cs);
            connect_check_done();
            return;
        }
        if (errno == EAGAIN || errno == EINTR)
            return;
        fprintf(stderr, "muxclient: stdin: %s\n", strerror(errno));
        quit(1);
        return;
    }
    event_del(stdin_ev); /* resumed on DRAINED */
}

static void stdin_resume(void)
{
    if (in_eof)
        return;
    if (stdin_regular) {
        struct timeval tv = {0, 0};
        event_add(stdin_ev, &tv);
    } else {
        event_add(stdin_ev, NULL);
    }
}

static void flush_stdout(struct evbuffer *in)
{
    while (evbuffer_get_length(in) > 0) {
        int n = evbuffer_write(in, 1);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "muxclient: stdout: %s\n", strerror(errno));
            quit(1);
            return;
        }
    }
}

static void c_read(struct vg_mux_stream *s, void *arg)
{
    struct evbuffer *in = vg_mux_stream_input(s);
    if (!got_reply) {
        char line[VG_PREAMBLE_MAX];
        if (!take_line(in, line, sizeof line)) {
            if (evbuffer_get_length(in) >= VG_PREAMBLE_MAX) {
                fprintf(stderr, "reply: too long\n");
                quit(1);
            }
            return;
        }
        fprintf(stderr, "reply: %s\n", line);
        struct vg_preamble_reply r;
        if (vg_preamble_parse_reply(line, strlen(line), &r) != 0) {
            quit(1);
            return;
        }
        if (!r.ok) {
            replied_err = true;
            quit(3);
            return;
        }
        got_reply = true;
        stdin_resume();
    }
    flush_stdout(in);
}

static void c_event(struct vg_mux_stream *s, short what, void *arg)
{
    if (what & VG_MUX_RESET) {
        fprintf(stderr, "muxclient: stream reset\n");
        quit(got_reply ? 1 : 4);
        return;
    }
    if (what & VG_MUX_EOF) {
        if (!got_reply) {
            if (!replied_err)
                fprintf(stderr, "muxclient: EOF before the reply\n");
            quit(1);
            return;
        }
        flush_stdout(vg_mux_stream_input(s));
        close(1);
        out_eof = true;
        connect_check_done();
        return;
    }
    if (what & VG_MUX_DRAINED)
        stdin_resume();
}

static int run_connect(const char *port)
{
    struct stat st;
    char line[64];
    cs = vg_mux_open(mux);
    if (!cs)
        return 1;
    vg_mux_stream_setcb(cs, c_read, c_event, NULL);
    snprintf(line, sizeof line, "CONNECT %s\n", port);
    vg_mux_stream_write(cs, line, strlen(line));
    /* files and /dev/null cannot be polled: read them from a timer */
    stdin_regular =
        fstat(0, &st) == 0 && !S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode) && !isatty(0);
    if (!stdin_regular)
        evutil_make_socket_nonblocking(0);
    stdin_ev = event_new(base, stdin_regular ? -1 : 0, stdin_regular ? 0 : EV_READ | EV_PERSIST,
                         stdin_cb, NULL);
    flush_ev = evtimer_new(base, flush_cb, NULL);
    event_base_dispatch(base);
    event_free(flush_ev);
    event_free(stdin_ev);
    vg_mux_stream_free(cs);
    return exit_code;
}

/* ------------------------------------------------------------------------------ parallel */

struct pstream {
    struct vg_mux_stream *s;
    int idx;
    size_t want, got;
    bool ok_seen, eof, bad;
    uint32_t seed_tx, seed_rx;
};

static struct pstream *ps;
static int np, ndone;
static bool fairness_taken;

static uint8_t nextbyte(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return (uint8_t)(*x >> 11);
}

static void p_read(struct vg_mux_stream *s, void *arg)
{
    struct pstream *p = arg;
    struct evbuffer *in = vg_mux_stream_input(s);
    if (!p->ok_seen) {
        char line[VG_PREAMBLE_MAX];
        if (!take_line(in, line, sizeof line))
            return;
        if (strcmp(line, "OK") != 0) {
            fprintf(stderr, "stream %d: reply %s\n", p->idx, line);
            quit(1);
            return;
        }
        p->ok_seen = true;
    }
    unsigned char buf[16384];
    int n;
    while ((n = evbuffer_remove(in, buf, sizeof buf)) > 0) {
        for (int i = 0; i < n; i++)
            if (buf[i] != nextbyte(&p->seed_rx))
                p->bad = true;
        p->got += (size_t)n;
    }
    if (p->got >= p->want && !fairness_taken) {
        size_t lo = SIZE_MAX, hi = 0;
        for (int i = 0; i < np; i++) {
            lo = ps[i].got < lo ? ps[i].got : lo;
            hi = ps[i].got > hi ? ps[i].got : hi;
        }
        fairness_taken = true;
        printf("fairness: when stream %d finished, the others had %zu..%zu of %zu bytes "
               "(min/max %.2f)\n",
               p->idx, lo, hi, p->want, hi ? (double)lo / (double)hi : 0.0);
    }
}

static void p_event(struct vg_mux_stream *s, short what, void *arg)
{
    struct pstream *p = arg;
    if (what & VG_MUX_RESET) {
        fprintf(stderr, "stream %d: reset\n", p->idx);
        quit(1);
        return;
    }
    if (what & VG_MUX_EOF) {
        p->eof = true;
        if (++ndone == np)
            quit(0);
    }
}

static int run_parallel(int n, const char *port, size_t bytes)
{
    np = n;
    ps = calloc((size_t)n, sizeof *ps);
    uint64_t t0 = vg_now_ms();
    for (int i = 0; i < n; i++) {
        struct pstream *p = &ps[i];
        p->idx = i;
        p->want = bytes;
        p->seed_tx = p->seed_rx = 0x9e3779b9u * (uint32_t)(i + 1);
        p->s = vg_mux_open(mux);
        if (!p->s)
            return 1;
        vg_mux_stream_setcb(p->s, p_read, p_event, p);
        char line[64];
        snprintf(line, sizeof line, "CONNECT %s\n", port);
        vg_mux_stream_write(p->s, line, strlen(line));
        unsigned char *data = malloc(bytes);
        for (size_t k = 0; k < bytes; k++)
            data[k] = nextbyte(&p->seed_tx);
        vg_mux_stream_write(p->s, data, bytes);
        free(data);
        vg_mux_stream_shutdown(p->s);
    }
    event_base_dispatch(base);
    int rc = exit_code;
    double secs = (double)(vg_now_ms() - t0) / 1000.0;
    for (int i = 0; i < n; i++) {
        struct pstream *p = &ps[i];
        if (p->bad || p->got != p->want || !p->eof) {
            fprintf(stderr, "stream %d: got %zu of %zu bytes, %s, eof %d\n", i, p->got, p->want,
                    p->bad ? "CORRUPT" : "intact", p->eof);
            rc = 1;
        }
        vg_mux_stream_free(p->s);
    }
    if (rc == 0)
        printf("parallel: %d streams x %zu bytes echoed intact in %.2f s (%.1f MiB/s each way)\n",
               n, bytes, secs, (double)n * (double)bytes / 1048576.0 / (secs > 0 ? secs : 1));
    free(ps);
    return rc;
}

/* ------------------------------------------------------------------------------ host */

#define MAX_ROUTES 16
static struct {
    char name[256];
    uint16_t port;
} routes[MAX_ROUTES];
static int nroutes;
static const char *hello_kv = "name=vm1.vm.test,zone=vm.test,host=hv1";
static const char *ready_file;
static struct vg_mux_stream *ctl;
static int ctl_events;

static void ctl_send(const char *line)
{
    printf("ctl> %s", line);
    fflush(stdout);
    vg_mux_stream_write(ctl, line, strlen(line));
}

static void ctl_line(const char *line)
{
    struct vg_ctl_msg *m = malloc(sizeof *m);
    printf("ctl< %s\n", line);
    fflush(stdout);
    if (vg_ctl_parse(line, strlen(line), m) != 0) {
        printf("ctl: malformed\n");
        free(m);
        return;
    }
    if (strcmp(m->verb, "hello") == 0 && ready_file) {
        FILE *f = fopen(ready_file, "w");
        if (f)
            fclose(f);
    }
    if (strcmp(m->verb, "req") == 0) {
        const char *id = vg_ctl_get(m, "id"), *op = vg_ctl_get(m, "op");
        struct vg_ctl_out o;
        vg_ctl_begin(&o, "event");
        vg_ctl_add(&o, "id", id ? id : "0");
        if (op && strcmp(op, "host-facts") == 0) {
            vg_ctl_add(&o, "status", "ok");
            vg_ctl_add(&o, "host", "hv1");
            vg_ctl_add(&o, "cores", "2");
            vg_ctl_add(&o, "note", "fake facts from muxclient");
        } else if (op && strcmp(op, "snapshot-save") == 0) {
            const char *name = vg_ctl_get(m, "name");
            vg_ctl_add(&o, "status", "ok");
            vg_ctl_add(&o, "name", name ? name : "");
        } else {
            vg_ctl_add(&o, "status", "error");
            vg_ctl_add(&o, "reason", "unknown-op");
        }
        const char *out = vg_ctl_end(&o);
        if (out)
            ctl_send(out);
    }
    if (strcmp(m->verb, "event") == 0)
        ctl_events++;
    free(m);
}

static void ctl_read(struct vg_mux_stream *s, void *arg)
{
    static bool ok_seen;
    char line[VG_CTL_LINE_MAX];
    struct evbuffer *in = vg_mux_stream_input(s);
    while (take_line(in, line, sizeof line)) {
        if (!ok_seen) {
            printf("control reply: %s\n", line);
            fflush(stdout);
            ok_seen = true;
            continue;
        }
        ctl_line(line);
    }
}

static void ctl_event(struct vg_mux_stream *s, short what, void *arg)
{
    if (what & (VG_MUX_RESET | VG_MUX_EOF))
        printf("ctl: stream %s\n", (what & VG_MUX_RESET) ? "reset" : "closed by the guest");
}

struct gstream {
    struct vg_mux_stream *s;
    struct vg_mux_bridge *br;
    char what[VG_PREAMBLE_MAX];
};

static void g_done(struct vg_mux_bridge *b, uint64_t up, uint64_t down, const char *err, void *arg)
{
    struct gstream *g = arg;
    fprintf(stderr, "guest stream %s: done, %llu bytes to the guest, %llu from it%s%s\n", g->what,
            (unsigned long long)up, (unsigned long long)down, err ? ": " : "", err ? err : "");
    vg_mux_bridge_free(b);
    free(g);
}

static void g_refuse(struct gstream *g, const char *line)
{
    fprintf(stderr, "guest stream %s: %s", g->what, line); /* stdout may carry a stream */
    vg_mux_stream_write(g->s, line, strlen(line));
    vg_mux_stream_shutdown(g->s);
    vg_mux_stream_free(g->s);
    free(g);
}

static void g_read(struct vg_mux_stream *s, void *arg)
{
    struct gstream *g = arg;
    char line[VG_PREAMBLE_MAX];
    struct vg_preamble pre;
    if (!take_line(vg_mux_stream_input(s), line, sizeof line))
        return;
    snprintf(g->what, sizeof g->what, "%s", line);
    if (vg_preamble_parse_request(line, strlen(line), &pre) != 0 ||
        pre.kind != VG_PRE_CONNECT_NAME) {
        g_refuse(g, "ERR error bad request\n");
        return;
    }
    int r;
    for (r = 0; r < nroutes; r++)
        if (strcmp(routes[r].name, pre.name) == 0)
            break;
    if (r == nroutes) {
        g_refuse(g, "ERR denied no route for this name\n");
        return;
    }
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(routes[r].port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
        if (fd >= 0)
            close(fd);
        g_refuse(g, "ERR refused connection refused\n");
        return;
    }
    vg_mux_stream_write(s, "OK\n", 3);
    g->br = vg_mux_bridge_new(base, fd, s, g_done, g);
    fprintf(stderr, "guest stream %s: OK\n", g->what);
}

static void g_event(struct vg_mux_stream *s, short what, void *arg)
{
    struct gstream *g = arg;
    if (what & VG_MUX_RESET) {
        vg_mux_stream_free(s);
        free(g);
    }
}

static void on_accept(struct vg_mux *m, struct vg_mux_stream *s, void *arg)
{
    struct gstream *g = calloc(1, sizeof *g);
    g->s = s;
    vg_mux_stream_setcb(s, g_read, g_event, g);
}

static void on_close(struct vg_mux *m, const char *why, void *arg)
{
    fprintf(stderr, "session closed: %s\n", why);
    quit(3);
}

static void on_pong(struct vg_mux *m, uint64_t rtt, void *arg)
{
    printf("pong: rtt %llu us\n", (unsigned long long)rtt);
    quit(0);
}

static void term_cb(evutil_socket_t sig, short what, void *arg)
{
    quit(0);
}

static int run_host(void)
{
    char line[VG_CTL_LINE_MAX];
    ctl = vg_mux_open(mux);
    if (!ctl)
        return 1;
    vg_mux_stream_setcb(ctl, ctl_read, ctl_event, NULL);
    vg_mux_stream_write(ctl, "CONTROL\n", 8);
    /* hello from k=v,k=v */
    struct vg_ctl_out o;
    vg_ctl_begin(&o, "hello");
    char *kv = strdup(hello_kv), *save = NULL;
    for (char *t = strtok_r(kv, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(t, '=');
        if (eq) {
            *eq = '\0';
            vg_ctl_add(&o, t, eq + 1);
        }
    }
    free(kv);
    ctl_send(vg_ctl_end(&o));
    vg_ctl_begin(&o, "set");
    vg_ctl_add(&o, "greeting", "hello guest, 100% real");
    ctl_send(vg_ctl_end(&o));
    snprintf(line, sizeof line, "req id=1 op=ping\nreq id=2 op=bogus\nfrob id=3\n");
    ctl_send(line);
    struct event *t1 = evsignal_new(base, SIGTERM, term_cb, NULL);
    struct event *t2 = evsignal_new(base, SIGINT, term_cb, NULL);
    event_add(t1, NULL);
    event_add(t2, NULL);
    event_base_dispatch(base);
    event_free(t1);
    event_free(t2);
    vg_mux_stream_free(ctl);
    return exit_code;
}

/* ------------------------------------------------------------------------------ main */

static int connect_unix(const char *spec)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strncmp(spec, "unix:", 5) != 0 || strlen(spec + 5) >= sizeof sun.sun_path) {
        fprintf(stderr, "muxclient: -c wants unix:PATH\n");
        return -1;
    }
    strcpy(sun.sun_path, spec + 5);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
        fprintf(stderr, "muxclient: connect %s: %s\n", spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static void usage(void)
{
    fprintf(stderr, "usage: muxclient [-v] -c unix:PATH [--server] connect PORT | parallel N PORT "
                    "BYTES | host [--hello k=v,..] [--route NAME=PORT].. [--ready FILE] | ping\n");
}

int main(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"connect", required_argument, NULL, 'c'},
        {"hello", required_argument, NULL, 'H'},
        {"route", required_argument, NULL, 'r'},
        {"ready", required_argument, NULL, 'R'},
        {"verbose", no_argument, NULL, 'v'},
        {"keepalive", required_argument, NULL, 'k'},
        {NULL, 0, NULL, 0},
    };
    const char *spec = NULL;
    int opt, verbose = 0, rc = 1;
    unsigned keepalive = 0;
    while ((opt = getopt_long(argc, argv, "c:v", lopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            spec = optarg;
            break;
        case 'H':
            hello_kv = optarg;
            break;
        case 'r': {
            char *eq = strchr(optarg, '=');
            if (!eq || nroutes == MAX_ROUTES || (size_t)(eq - optarg) >= sizeof routes[0].name) {
                usage();
                return 2;
            }
            memcpy(routes[nroutes].name, optarg, (size_t)(eq - optarg));
            routes[nroutes].port = (uint16_t)atoi(eq + 1);
            nroutes++;
            break;
        }
        case 'R':
            ready_file = optarg;
            break;
        case 'k':
            keepalive = (unsigned)atoi(optarg);
            break;
        case 'v':
            verbose++;
            break;
        default:
            usage();
            return 2;
        }
    }
    int cmd_at = optind;
    optind++;
    if (!spec || cmd_at >= argc) {
        usage();
        return 2;
    }
    const char *cmd = argv[cmd_at];
    char **rest = argv + optind;
    int nrest = argc - optind;
    vg_log_open("muxclient",
                verbose >= 2 ? VG_LOG_DEBUG
                : verbose    ? VG_LOG_INFO
                             : VG_LOG_WARN,
                false);
    signal(SIGPIPE, SIG_IGN);
    int fd = connect_unix(spec);
    if (fd < 0)
        return 1;
    base = event_base_new();
    static const struct vg_mux_cbs cbs = {on_accept, on_close, on_pong};
    mux = vg_mux_new(base, fd, true, &cbs, NULL);
    if (keepalive)
        vg_mux_set_keepalive(mux, keepalive, 2 * keepalive);
    if (strcmp(cmd, "connect") == 0 && nrest == 1) {
        rc = run_connect(rest[0]);
    } else if (strcmp(cmd, "parallel") == 0 && nrest == 3) {
        rc = run_parallel(atoi(rest[0]), rest[1], (size_t)strtoull(rest[2], NULL, 10));
    } else if (strcmp(cmd, "host") == 0 && nrest == 0) {
        rc = run_host();
    } else if (strcmp(cmd, "ping") == 0 && nrest == 0) {
        vg_mux_ping(mux);
        event_base_dispatch(base);
        rc = exit_code;
    } else {
        usage();
        rc = 2;
    }
    vg_mux_free(mux);
    event_base_free(base);
    return rc;
}
