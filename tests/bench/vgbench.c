/* vgbench — load tool of the relay benchmarks (scripts/bench-gw.sh, scripts/bench-tls.sh).
 *
 * One target server and five client modes.  Clients reach the target either directly, through
 * a SOCKS5 proxy (RFC 1928 CONNECT, optional RFC 1929 username/password) or through an HTTP
 * CONNECT proxy inside TLS (--https-proxy: OpenSSL blocking client, a full handshake per
 * connection, the proxy's certificate checked against --cafile and the proxy's IP address);
 * with --name the proxy is asked for a domain name (SOCKS5 ATYP 3, or NAME:PORT in CONNECT),
 * otherwise for the target's address.
 *
 *   vgbench target --listen ADDR:PORT [--threads N] [--max-seconds S]
 *       (also spelt `sink` or `echo`: one server does all three).  epoll, SO_REUSEPORT listener
 *       per thread.  The first byte a client sends picks the stream's role:
 *         'u'    upload: everything the client sends is read and discarded (sink)
 *         'd'    download: the server sends data until the client goes away (source)
 *         'c'    echo that byte, then close (the server closes first)
 *         other  echo, starting with that byte
 *   vgbench tput  --target A:P [proxy] --dir up|down [--streams N] [--seconds T] [--warmup W]
 *       N parallel streams; bytes are counted over T seconds after a W-second warm-up that
 *       starts once every stream is connected.  Prints gbps (payload, Gbit/s, all streams);
 *       with --pid [--pid2] also the CPU of those process trees over the window (percent of
 *       one CPU, and µs per MB relayed).
 *   vgbench conn  --target A:P [proxy] [--threads K] [--seconds T] [--warmup W]
 *                 [--close server|client]
 *       K threads, each looping: connect, SOCKS handshake, 1-byte echo round trip, close.
 *       --close server (default): the ping is 'c', the target closes after echoing it and the
 *       client waits for that EOF (relayed by the proxy) before it closes; TIME_WAIT then stays
 *       on the listening ports, so ephemeral ports do not run out and runs do not depend on
 *       the churn of earlier runs.  --close client: the client closes right after the echo.
 *       Also prints the CPU time per connection over the timed window (µs, user and system):
 *       of this client, and with --pid / --target-pid of the proxy's and the target's process
 *       trees (/proc/P/stat, every thread, reaped children included); --pid2 adds a second
 *       process tree to the proxy's (the other gateway of a chain).
 *   vgbench lat   --target A:P [proxy] [--count N] [--warmup-count M]
 *       one connection, 1-byte ping-pong, N timed round trips: p50/p90/p99/min/mean in µs.
 *   vgbench setup --target A:P [proxy] [--count N] [--warmup-count M]
 *       N connections one after another, each timed from connect() to the end of the first
 *       echo round trip (connect, proxy handshake — TLS, SOCKS or HTTP CONNECT — and a 1-byte
 *       echo; the ping is 'c' so the target closes first, untimed): p50/p90/p99/min/mean in µs.
 *   vgbench idle  --target A:P [proxy] [--conns N] [--pid PID] [--settle S] [--hold S]
 *       opens N relayed connections (each: handshake + one echo round trip) and holds them.
 *       With --pid: measures the memory of PID and all its descendants (VmRSS from
 *       /proc/P/status, Pss from /proc/P/smaps_rollup) before and after, then checks that every
 *       connection still echoes.  Without --pid: prints "ready" and waits for a line or EOF on
 *       stdin (at most --hold seconds) before the check.
 *   proxy = --socks A:P [--name NAME] [--user U --pass P]
 *         | --https-proxy A:P --cafile FILE [--name NAME] [--user U --pass P]
 *
 * Results are one line of key=value pairs on stdout; diagnostics go to stderr.  Exit status 0
 * when the measurement ran without errors, 1 otherwise (figures are still printed), 2 on usage.
 * Every blocking socket call is bounded by --timeout-ms (default 5000); every mode is bounded
 * in time and stops by itself.  Outgoing sockets are never bound.
 */
#include "vg_time.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define IO_BUF (128 * 1024) /* bytes per send/recv in throughput streams */
#define ECHO_BUF 4096       /* per-connection echo buffer in the target */
#define MAX_STREAMS 1024
#define MAX_THREADS 256
#define MAX_CONNS 100000
#define MAX_COUNT 10000000

/* ---------------------------------------------------------------------------------------- */
/* options */

struct addr {
    struct sockaddr_storage ss;
    socklen_t len;
};

struct opts {
    const char *mode;
    struct addr target;
    bool have_target;
    struct addr socks;
    bool have_socks;
    struct addr https; /* HTTP CONNECT proxy inside TLS */
    bool have_https;
    const char *cafile;
    const char *name;
    const char *user;
    const char *pass;
    struct addr listen;
    bool have_listen;
    char dir; /* 'u' or 'd' */
    unsigned streams;
    unsigned threads;
    unsigned count;
    unsigned warmup_count;
    unsigned conns;
    double seconds;
    double warmup;
    double settle;
    double hold;
    double max_seconds;
    unsigned timeout_ms;
    long pid;
    long pid2;         /* tput, conn: a second proxy process tree (the next gateway of a chain) */
    long target_pid;   /* conn: also account the target's CPU */
    bool server_close; /* conn: the target closes first (default) */
};

static void usage(void)
{
    fputs("usage:\n"
          "  vgbench target|sink|echo --listen ADDR:PORT [--threads N] [--max-seconds S]\n"
          "  vgbench tput --target ADDR:PORT [PROXY] --dir up|down [--streams N] [--seconds T]"
          " [--warmup W]\n"
          "               [--pid PID [--pid2 PID]]\n"
          "  vgbench conn --target ADDR:PORT [PROXY] [--threads K] [--seconds T] [--warmup W]\n"
          "               [--close server|client] [--pid PID [--pid2 PID]] [--target-pid PID]\n"
          "  vgbench lat  --target ADDR:PORT [PROXY] [--count N] [--warmup-count M]\n"
          "  vgbench setup --target ADDR:PORT [PROXY] [--count N] [--warmup-count M]\n"
          "  vgbench idle --target ADDR:PORT [PROXY] [--conns N] [--pid PID] [--settle S]"
          " [--hold S]\n"
          "  PROXY = --socks ADDR:PORT [--name NAME] [--user U --pass P]\n"
          "        | --https-proxy ADDR:PORT --cafile FILE [--name NAME] [--user U --pass P]\n"
          "  common: --timeout-ms MS (bound of every blocking socket call, default 5000)\n",
          stderr);
}

/* "1.2.3.4:80" or "[::1]:80" → numeric address; false on any syntax error. */
static bool parse_addr(const char *s, struct addr *out)
{
    char host[128];
    const char *port;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof host)
            return false;
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = '\0';
        port = end + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (!colon || (size_t)(colon - s) >= sizeof host)
            return false;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
        port = colon + 1;
    }
    char *end;
    errno = 0;
    unsigned long p = strtoul(port, &end, 10);
    if (errno || end == port || *end || p == 0 || p > 65535 || port[0] == '-' || port[0] == '+')
        return false;
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai)
        return false;
    memcpy(&out->ss, ai->ai_addr, ai->ai_addrlen);
    out->len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return true;
}

static bool parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
    char *end;
    errno = 0;
    if (s[0] < '0' || s[0] > '9')
        return false;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = (unsigned)v;
    return true;
}

static bool parse_secs(const char *s, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= min && v <= max))
        return false;
    *out = v;
    return true;
}

/* Returns 0 on success, 2 on a usage error (message printed). */
static int parse_opts(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){.mode = argv[1],
                       .streams = 1,
                       .threads = 2,
                       .count = 10000,
                       .warmup_count = 1000,
                       .conns = 1000,
                       .seconds = 2.0,
                       .warmup = 0.3,
                       .settle = 0.5,
                       .hold = 60.0,
                       .max_seconds = 3600.0,
                       .timeout_ms = 5000,
                       .pid = -1,
                       .pid2 = -1,
                       .target_pid = -1,
                       .server_close = true};
    for (int i = 2; i < argc; i += 2) {
        const char *k = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = v != NULL;
        if (!v) {
            /* every option takes a value */
        } else if (!strcmp(k, "--target")) {
            ok = parse_addr(v, &o->target);
            o->have_target = true;
        } else if (!strcmp(k, "--socks")) {
            ok = parse_addr(v, &o->socks);
            o->have_socks = true;
        } else if (!strcmp(k, "--https-proxy")) {
            ok = parse_addr(v, &o->https);
            o->have_https = true;
        } else if (!strcmp(k, "--cafile")) {
            ok = v[0] != '\0';
            o->cafile = v;
        } else if (!strcmp(k, "--listen")) {
            ok = parse_addr(v, &o->listen);
            o->have_listen = true;
        } else if (!strcmp(k, "--name")) {
            ok = strlen(v) >= 1 && strlen(v) <= 255;
            o->name = v;
        } else if (!strcmp(k, "--user")) {
            ok = strlen(v) >= 1 && strlen(v) <= 255;
            o->user = v;
        } else if (!strcmp(k, "--pass")) {
            ok = strlen(v) <= 255;
            o->pass = v;
        } else if (!strcmp(k, "--dir")) {
            ok = !strcmp(v, "up") || !strcmp(v, "down");
            o->dir = v[0] == 'u' ? 'u' : 'd';
        } else if (!strcmp(k, "--close")) {
            ok = !strcmp(v, "server") || !strcmp(v, "client");
            o->server_close = v[0] == 's';
        } else if (!strcmp(k, "--streams")) {
            ok = parse_uint(v, 1, MAX_STREAMS, &o->streams);
        } else if (!strcmp(k, "--threads")) {
            ok = parse_uint(v, 1, MAX_THREADS, &o->threads);
        } else if (!strcmp(k, "--count")) {
            ok = parse_uint(v, 1, MAX_COUNT, &o->count);
        } else if (!strcmp(k, "--warmup-count")) {
            ok = parse_uint(v, 0, MAX_COUNT, &o->warmup_count);
        } else if (!strcmp(k, "--conns")) {
            ok = parse_uint(v, 1, MAX_CONNS, &o->conns);
        } else if (!strcmp(k, "--seconds")) {
            ok = parse_secs(v, 0.1, 600, &o->seconds);
        } else if (!strcmp(k, "--warmup")) {
            ok = parse_secs(v, 0, 60, &o->warmup);
        } else if (!strcmp(k, "--settle")) {
            ok = parse_secs(v, 0, 60, &o->settle);
        } else if (!strcmp(k, "--hold")) {
            ok = parse_secs(v, 0, 3600, &o->hold);
        } else if (!strcmp(k, "--max-seconds")) {
            ok = parse_secs(v, 1, 86400, &o->max_seconds);
        } else if (!strcmp(k, "--timeout-ms")) {
            ok = parse_uint(v, 1, 600000, &o->timeout_ms);
        } else if (!strcmp(k, "--pid") || !strcmp(k, "--pid2") || !strcmp(k, "--target-pid")) {
            unsigned p;
            ok = parse_uint(v, 1, INT_MAX, &p);
            *(!strcmp(k, "--pid")    ? &o->pid
              : !strcmp(k, "--pid2") ? &o->pid2
                                     : &o->target_pid) = (long)p;
        } else {
            fprintf(stderr, "vgbench: unknown option %s\n", k);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "vgbench: bad or missing value for %s\n", k);
            return 2;
        }
    }
    if ((o->user != NULL) != (o->pass != NULL)) {
        fputs("vgbench: --user and --pass go together\n", stderr);
        return 2;
    }
    if ((o->name || o->user) && !o->have_socks && !o->have_https) {
        fputs("vgbench: --name/--user need --socks or --https-proxy\n", stderr);
        return 2;
    }
    if (o->have_socks && o->have_https) {
        fputs("vgbench: --socks and --https-proxy exclude each other\n", stderr);
        return 2;
    }
    if (o->have_https != (o->cafile != NULL)) {
        fputs("vgbench: --https-proxy and --cafile go together\n", stderr);
        return 2;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* time and small helpers */

static void sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR) {
    }
}

/* The first error of a run, kept for the report; later ones are only counted. */
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;
static char first_err[256];
static atomic_ulong err_count;

static void note_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note_err(const char *fmt, ...)
{
    atomic_fetch_add(&err_count, 1);
    pthread_mutex_lock(&err_lock);
    if (!first_err[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(first_err, sizeof first_err, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&err_lock);
}

static void report_errors(void)
{
    unsigned long n = atomic_load(&err_count);
    if (n)
        fprintf(stderr, "vgbench: %lu error(s); first: %s\n", n, first_err);
}

/* Exactly len bytes, or false (error, timeout, EOF). */
static bool write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static bool read_exact(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = recv(fd, p, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return false;
        if (n == 0) {
            errno = ECONNRESET; /* EOF in the middle of a message */
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* ---------------------------------------------------------------------------------------- */
/* client connections */

/* SOCKS5 on an fd connected to the proxy: greeting, optional RFC 1929, CONNECT, reply. */
static bool socks_handshake(const struct opts *o, int fd, char *err, size_t errlen)
{
    uint8_t buf[4 + 1 + 255 + 2 > 3 + 255 + 255 ? 4 + 1 + 255 + 2 : 3 + 255 + 255];
    size_t n = 0;

    buf[n++] = 5;
    buf[n++] = 1;
    buf[n++] = o->user ? 2 : 0;
    if (!write_all(fd, buf, n) || !read_exact(fd, buf, 2)) {
        snprintf(err, errlen, "greeting: %s", strerror(errno));
        return false;
    }
    if (buf[0] != 5 || buf[1] != (o->user ? 2 : 0)) {
        snprintf(err, errlen, "greeting reply %02x %02x", buf[0], buf[1]);
        return false;
    }
    if (o->user) {
        size_t ul = strlen(o->user), pl = strlen(o->pass);
        n = 0;
        buf[n++] = 1;
        buf[n++] = (uint8_t)ul;
        memcpy(buf + n, o->user, ul);
        n += ul;
        buf[n++] = (uint8_t)pl;
        memcpy(buf + n, o->pass, pl);
        n += pl;
        if (!write_all(fd, buf, n) || !read_exact(fd, buf, 2)) {
            snprintf(err, errlen, "auth: %s", strerror(errno));
            return false;
        }
        if (buf[0] != 1 || buf[1] != 0) {
            snprintf(err, errlen, "auth refused (%02x %02x)", buf[0], buf[1]);
            return false;
        }
    }

    n = 0;
    buf[n++] = 5;
    buf[n++] = 1; /* CONNECT */
    buf[n++] = 0;
    uint16_t port_be;
    if (o->target.ss.ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&o->target.ss;
        port_be = sin->sin_port;
        if (!o->name) {
            buf[n++] = 1;
            memcpy(buf + n, &sin->sin_addr, 4);
            n += 4;
        }
    } else {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&o->target.ss;
        port_be = sin6->sin6_port;
        if (!o->name) {
            buf[n++] = 4;
            memcpy(buf + n, &sin6->sin6_addr, 16);
            n += 16;
        }
    }
    if (o->name) {
        size_t nl = strlen(o->name);
        buf[n++] = 3;
        buf[n++] = (uint8_t)nl;
        memcpy(buf + n, o->name, nl);
        n += nl;
    }
    memcpy(buf + n, &port_be, 2);
    n += 2;
    if (!write_all(fd, buf, n) || !read_exact(fd, buf, 4)) {
        snprintf(err, errlen, "request: %s", strerror(errno));
        return false;
    }
    if (buf[0] != 5) {
        snprintf(err, errlen, "reply version %02x", buf[0]);
        return false;
    }
    if (buf[1] != 0) {
        snprintf(err, errlen, "reply code 0x%02x", buf[1]);
        return false;
    }
    size_t rest; /* BND.ADDR + BND.PORT */
    switch (buf[3]) {
    case 1:
        rest = 4 + 2;
        break;
    case 4:
        rest = 16 + 2;
        break;
    case 3:
        if (!read_exact(fd, buf, 1)) {
            snprintf(err, errlen, "reply: %s", strerror(errno));
            return false;
        }
        rest = (size_t)buf[0] + 2;
        break;
    default:
        snprintf(err, errlen, "reply address type %02x", buf[3]);
        return false;
    }
    if (!read_exact(fd, buf, rest)) {
        snprintf(err, errlen, "reply: %s", strerror(errno));
        return false;
    }
    return true;
}

/* A client stream: a socket, with a TLS session on it when the proxy is an HTTPS one. */
struct vconn {
    int fd;
    SSL *ssl;
    bool eof; /* the peer's end of stream was read */
};

static SSL_CTX *tls_ctx; /* --https-proxy: one context, shared by every thread */

/* The TLS client context: TLS 1.2 or later, the proxy's certificate must chain to cafile.  No
 * client session cache: every connection makes a full handshake. */
static bool tls_init(const struct opts *o)
{
    tls_ctx = SSL_CTX_new(TLS_client_method());
    if (!tls_ctx || !SSL_CTX_set_min_proto_version(tls_ctx, TLS1_2_VERSION) ||
        SSL_CTX_load_verify_locations(tls_ctx, o->cafile, NULL) != 1) {
        char e[256];
        ERR_error_string_n(ERR_get_error(), e, sizeof e);
        fprintf(stderr, "vgbench: TLS client context (%s): %s\n", o->cafile, e);
        return false;
    }
    SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_session_cache_mode(tls_ctx, SSL_SESS_CACHE_OFF);
    /* a proxy that closes without close_notify ends the stream like a TCP FIN does */
    SSL_CTX_set_options(tls_ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    return true;
}

/* "what: reason" from the OpenSSL error queue and the verification result. */
static void tls_err(SSL *ssl, const char *what, char *err, size_t errlen)
{
    unsigned long e = ERR_get_error();
    char reason[256] = "";
    if (e)
        ERR_error_string_n(e, reason, sizeof reason);
    long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    snprintf(err, errlen, "%s: %s%s%s", what, e ? reason : strerror(errno),
             vr != X509_V_OK ? ": " : "", vr != X509_V_OK ? X509_verify_cert_error_string(vr) : "");
}

/* send()/recv() alike: > 0 bytes, 0 end of stream, -1 with errno (EAGAIN on a socket timeout). */
static ssize_t vc_io(struct vconn *c, void *buf, size_t len, bool out)
{
    if (!c->ssl) {
        ssize_t n = out ? send(c->fd, buf, len, MSG_NOSIGNAL) : recv(c->fd, buf, len, 0);
        if (n == 0 && !out)
            c->eof = true;
        return n;
    }
    int want = len > INT_MAX ? INT_MAX : (int)len;
    ERR_clear_error();
    errno = 0;
    int n = out ? SSL_write(c->ssl, buf, want) : SSL_read(c->ssl, buf, want);
    if (n > 0)
        return n;
    switch (SSL_get_error(c->ssl, n)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        c->eof = true;
        return 0;
    case SSL_ERROR_SYSCALL:
        if (errno == 0)
            errno = ECONNRESET;
        return -1;
    default:
        errno = EPROTO;
        return -1;
    }
}

static ssize_t vc_send(struct vconn *c, const void *buf, size_t len)
{
    return vc_io(c, (void *)buf, len, true);
}

static ssize_t vc_recv(struct vconn *c, void *buf, size_t len)
{
    return vc_io(c, buf, len, false);
}

static bool vc_write_all(struct vconn *c, const void *buf, size_t len)
{
    if (!c->ssl)
        return write_all(c->fd, buf, len);
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = vc_send(c, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static bool vc_read_exact(struct vconn *c, void *buf, size_t len)
{
    if (!c->ssl)
        return read_exact(c->fd, buf, len);
    uint8_t *p = buf;
    while (len) {
        ssize_t n = vc_recv(c, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return false;
        if (n == 0) {
            errno = ECONNRESET; /* EOF in the middle of a message */
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Closes the stream.  No close_notify once the peer's end was read: the socket is closed at
 * once, as a plain client does (a record sent to a closed peer would only draw a reset). */
static void vc_close(struct vconn *c)
{
    if (c->ssl) {
        if (!c->eof)
            SSL_shutdown(c->ssl); /* sends close_notify, does not wait for the peer's */
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* HTTP CONNECT inside the TLS session: the request, then the reply header read one byte at a
 * time (nothing of the tunnel is read), status 200 wanted. */
static bool http_connect(const struct opts *o, struct vconn *c, char *err, size_t errlen)
{
    char hostport[300];
    unsigned port;
    if (o->target.ss.ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&o->target.ss;
        char ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof ip);
        port = ntohs(sin->sin_port);
        snprintf(hostport, sizeof hostport, "%s:%u", o->name ? o->name : ip, port);
    } else {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&o->target.ss;
        char ip[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof ip);
        port = ntohs(sin6->sin6_port);
        if (o->name)
            snprintf(hostport, sizeof hostport, "%s:%u", o->name, port);
        else
            snprintf(hostport, sizeof hostport, "[%s]:%u", ip, port);
    }
    char req[1400];
    int n = snprintf(req, sizeof req, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", hostport, hostport);
    if (o->user) {
        char cred[512], b64[700];
        int cl = snprintf(cred, sizeof cred, "%s:%s", o->user, o->pass);
        EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)cred, cl);
        n += snprintf(req + n, sizeof req - (size_t)n, "Proxy-Authorization: Basic %s\r\n", b64);
    }
    n += snprintf(req + n, sizeof req - (size_t)n, "\r\n");
    if (!vc_write_all(c, req, (size_t)n)) {
        snprintf(err, errlen, "CONNECT request: %s", strerror(errno));
        return false;
    }
    char resp[4096];
    size_t len = 0;
    while (len < 4 || memcmp(resp + len - 4, "\r\n\r\n", 4) != 0) {
        if (len == sizeof resp - 1 || !vc_read_exact(c, resp + len, 1)) {
            snprintf(err, errlen, "CONNECT reply: %s",
                     len == sizeof resp - 1 ? "header too long" : strerror(errno));
            return false;
        }
        len++;
    }
    resp[len] = '\0';
    int code = 0;
    if (sscanf(resp, "HTTP/1.%*d %d", &code) != 1 || code != 200) {
        resp[strcspn(resp, "\r\n")] = '\0';
        snprintf(err, errlen, "CONNECT reply \"%.100s\"", resp);
        return false;
    }
    return true;
}

/* A connected stream to the target (through the proxy when one is set), or false with err. */
static bool open_conn(const struct opts *o, struct vconn *c, char *err, size_t errlen)
{
    const struct addr *a = o->have_socks ? &o->socks : o->have_https ? &o->https : &o->target;
    *c = (struct vconn){.fd = -1};
    c->fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return false;
    }
    int one = 1;
    struct timeval tv = {.tv_sec = o->timeout_ms / 1000, .tv_usec = (o->timeout_ms % 1000) * 1000};
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv); /* also bounds connect() */
    int rc;
    do
        rc = connect(c->fd, (const struct sockaddr *)&a->ss, a->len);
    while (rc < 0 && errno == EINTR);
    if (rc < 0) {
        snprintf(err, errlen, "connect: %s", strerror(errno));
        goto fail;
    }
    if (o->have_socks && !socks_handshake(o, c->fd, err, errlen))
        goto fail;
    if (o->have_https) {
        ERR_clear_error();
        if (!(c->ssl = SSL_new(tls_ctx)) || SSL_set_fd(c->ssl, c->fd) != 1) {
            tls_err(NULL, "TLS", err, errlen);
            goto fail;
        }
        /* the certificate must name the address connected to (an IP subjectAltName) */
        const void *ip = a->ss.ss_family == AF_INET
                             ? (const void *)&((const struct sockaddr_in *)&a->ss)->sin_addr
                             : (const void *)&((const struct sockaddr_in6 *)&a->ss)->sin6_addr;
        X509_VERIFY_PARAM_set1_ip(SSL_get0_param(c->ssl), ip, a->ss.ss_family == AF_INET ? 4 : 16);
        if (SSL_connect(c->ssl) != 1) {
            tls_err(c->ssl, "TLS handshake", err, errlen);
            goto fail;
        }
        if (!http_connect(o, c, err, errlen))
            goto fail;
    }
    return true;
fail:
    c->eof = true; /* no close_notify on a failed stream */
    vc_close(c);
    return false;
}

/* One 1-byte echo round trip with byte `ping` ('c' makes the target close afterwards). */
static bool echo_byte(struct vconn *c, uint8_t ping, char *err, size_t errlen)
{
    uint8_t b = ping;
    if (!vc_write_all(c, &b, 1) || !vc_read_exact(c, &b, 1)) {
        snprintf(err, errlen, "echo: %s", strerror(errno));
        return false;
    }
    if (b != ping) {
        snprintf(err, errlen, "echo: got 0x%02x", b);
        return false;
    }
    return true;
}

static bool echo_once(struct vconn *c, char *err, size_t errlen)
{
    return echo_byte(c, 'e', err, errlen);
}

/* The peer's EOF (relayed by the proxy) must be next. */
static bool expect_eof(struct vconn *c, char *err, size_t errlen)
{
    uint8_t b;
    ssize_t n;
    do
        n = vc_recv(c, &b, 1);
    while (n < 0 && errno == EINTR);
    if (n == 0)
        return true;
    snprintf(err, errlen, "close: %s", n < 0 ? strerror(errno) : "data instead of EOF");
    return false;
}

/* ---------------------------------------------------------------------------------------- */
/* tput */

struct stream {
    alignas(64) atomic_uint_fast64_t bytes;
    const struct opts *o;
    struct vconn c;
    bool open;
    pthread_t th;
};

static atomic_bool stop_flag;
static pthread_barrier_t start_bar;

static void *tput_thread(void *arg)
{
    struct stream *s = arg;
    char err[200];
    uint8_t *buf = NULL;
    s->open = open_conn(s->o, &s->c, err, sizeof err);
    if (!s->open) {
        note_err("%s", err);
    } else if (!vc_write_all(&s->c, &s->o->dir, 1)) {
        note_err("mode byte: %s", strerror(errno));
    } else if (!(buf = malloc(IO_BUF))) {
        note_err("out of memory");
    }
    pthread_barrier_wait(&start_bar);
    if (!s->open || !buf)
        goto done;
    memset(buf, 0x5a, IO_BUF);
    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        ssize_t n = s->o->dir == 'u' ? vc_send(&s->c, buf, IO_BUF) : vc_recv(&s->c, buf, IO_BUF);
        if (n > 0) {
            uint_fast64_t v = atomic_load_explicit(&s->bytes, memory_order_relaxed);
            atomic_store_explicit(&s->bytes, v + (uint_fast64_t)n, memory_order_relaxed);
        } else if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
            continue; /* timeout: look at the stop flag again */
        } else {
            if (!atomic_load(&stop_flag))
                note_err("stream %s: %s", s->o->dir == 'u' ? "send" : "recv",
                         n == 0 ? "EOF" : strerror(errno));
            break;
        }
    }
done:
    free(buf);
    return NULL;
}

struct cpu {
    double user_us, sys_us;
};
static struct cpu proxy_cpu(const struct opts *o);

static uint64_t sum_bytes(struct stream *ss, unsigned n)
{
    uint64_t t = 0;
    for (unsigned i = 0; i < n; i++)
        t += atomic_load_explicit(&ss[i].bytes, memory_order_relaxed);
    return t;
}

static int run_tput(const struct opts *o)
{
    if (!o->dir) {
        fputs("vgbench: tput needs --dir up|down\n", stderr);
        return 2;
    }
    struct stream *ss = calloc(o->streams, sizeof *ss);
    if (!ss)
        return 1;
    pthread_barrier_init(&start_bar, NULL, o->streams + 1);
    unsigned started = 0;
    for (; started < o->streams; started++) {
        ss[started].o = o;
        if (pthread_create(&ss[started].th, NULL, tput_thread, &ss[started]) != 0)
            break;
    }
    if (started < o->streams) {
        /* the barrier can never fill: this is fatal */
        fputs("vgbench: pthread_create failed\n", stderr);
        exit(1);
    }
    pthread_barrier_wait(&start_bar);
    double gbps = 0, elapsed = 0;
    uint64_t bytes = 0;
    struct cpu p0 = {0, 0}, p1 = {0, 0};
    if (!atomic_load(&err_count)) {
        sleep_s(o->warmup);
        if (o->pid > 0)
            p0 = proxy_cpu(o);
        uint64_t b0 = sum_bytes(ss, o->streams);
        double t0 = vg_now_s();
        sleep_s(o->seconds);
        uint64_t b1 = sum_bytes(ss, o->streams);
        elapsed = vg_now_s() - t0;
        if (o->pid > 0)
            p1 = proxy_cpu(o);
        bytes = b1 - b0;
        gbps = (double)bytes * 8 / elapsed / 1e9;
    }
    atomic_store(&stop_flag, true);
    for (unsigned i = 0; i < o->streams; i++)
        if (ss[i].open)
            shutdown(ss[i].c.fd, SHUT_RDWR); /* wakes a thread blocked in send/recv */
    for (unsigned i = 0; i < o->streams; i++) {
        pthread_join(ss[i].th, NULL);
        if (ss[i].open) {
            ss[i].c.eof = true; /* the socket is shut down: no close_notify */
            vc_close(&ss[i].c);
        }
    }
    printf("mode=tput dir=%s streams=%u seconds=%.3f bytes=%" PRIu64 " gbps=%.3f errors=%lu",
           o->dir == 'u' ? "up" : "down", o->streams, elapsed, bytes, gbps,
           atomic_load(&err_count));
    if (o->pid > 0 && elapsed > 0) { /* the proxy's CPU: share of one CPU, and per MB relayed */
        double us = p1.user_us - p0.user_us + p1.sys_us - p0.sys_us;
        printf(" cpu_proxy_pct=%.0f cpu_proxy_us_per_mb=%.1f", us / elapsed / 1e4,
               bytes ? us / ((double)bytes / 1e6) : 0.0);
    }
    printf("\n");
    report_errors();
    free(ss);
    return atomic_load(&err_count) ? 1 : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* processes: memory and CPU of a process tree (conn and idle modes) */

struct mem {
    unsigned long rss_kb, pss_kb;
    unsigned procs;
};

/* The "Key:   123 kB" value from a /proc file, or 0. */
static unsigned long proc_kb(const char *path, const char *key)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[256];
    size_t kl = strlen(key);
    unsigned long v = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, key, kl) && line[kl] == ':') {
            v = strtoul(line + kl + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

/* Parent pid from /proc/P/stat (the field after the parenthesised command), or -1. */
static long proc_ppid(long pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    long ppid;
    char state;
    if (!p || sscanf(p + 1, " %c %ld", &state, &ppid) != 2)
        return -1;
    return ppid;
}

/* `root` and all its descendants (processes, not threads): a malloc'd array of *n pids. */
static long *tree_pids(long root, size_t *count)
{
    enum { MAXP = 65536 };
    long *tree = NULL;
    *count = 0;
    long *pids = malloc(sizeof *pids * MAXP), *ppids = malloc(sizeof *ppids * MAXP);
    bool *in = calloc(MAXP, sizeof *in);
    size_t n = 0;
    if (!pids || !ppids || !in)
        goto done;
    /* Snapshot pid → ppid, then repeatedly mark children of marked processes. */
    DIR *d = opendir("/proc");
    if (!d)
        goto done;
    struct dirent *de;
    while (n < MAXP && (de = readdir(d))) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (end == de->d_name || *end)
            continue;
        long pp = proc_ppid(pid);
        if (pp < 0)
            continue;
        pids[n] = pid;
        ppids[n] = pp;
        in[n] = pid == root;
        n++;
    }
    closedir(d);
    for (bool grew = true; grew;) {
        grew = false;
        for (size_t i = 0; i < n; i++) {
            if (in[i])
                continue;
            for (size_t j = 0; j < n; j++)
                if (in[j] && pids[j] == ppids[i]) {
                    in[i] = grew = true;
                    break;
                }
        }
    }
    if ((tree = malloc(sizeof *tree * (n ? n : 1))) == NULL)
        goto done;
    for (size_t i = 0; i < n; i++)
        if (in[i])
            tree[(*count)++] = pids[i];
done:
    free(pids);
    free(ppids);
    free(in);
    return tree;
}

/* Memory of `root` and all its descendants. */
static struct mem tree_mem(long root)
{
    struct mem m = {0, 0, 0};
    size_t n;
    long *tree = tree_pids(root, &n);
    for (size_t i = 0; i < n; i++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%ld/status", tree[i]);
        m.rss_kb += proc_kb(path, "VmRSS");
        snprintf(path, sizeof path, "/proc/%ld/smaps_rollup", tree[i]);
        m.pss_kb += proc_kb(path, "Pss");
        m.procs++;
    }
    free(tree);
    return m;
}

/* CPU time (µs, user and system, all threads, plus reaped children) of `root` and all its
 * descendants, from /proc/P/stat. */

static struct cpu tree_cpu(long root)
{
    struct cpu c = {0, 0};
    double tick_us = 1e6 / (double)sysconf(_SC_CLK_TCK);
    size_t n;
    long *tree = tree_pids(root, &n);
    for (size_t i = 0; i < n; i++) {
        char path[64], buf[1024];
        snprintf(path, sizeof path, "/proc/%ld/stat", tree[i]);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = '\0';
        char *p = strrchr(buf, ')');
        unsigned long ut, st;
        long cut, cst;
        /* fields 3.. after the command: state ppid pgrp session tty tpgid flags minflt cminflt
         * majflt cmajflt utime stime cutime cstime */
        if (p && sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %ld %ld", &ut,
                        &st, &cut, &cst) == 4) {
            c.user_us += (double)(ut + (unsigned long)cut) * tick_us;
            c.sys_us += (double)(st + (unsigned long)cst) * tick_us;
        }
    }
    free(tree);
    return c;
}

/* CPU of the proxy: the --pid tree, plus the --pid2 tree when given. */
static struct cpu proxy_cpu(const struct opts *o)
{
    struct cpu c = tree_cpu(o->pid);
    if (o->pid2 > 0) {
        struct cpu d = tree_cpu(o->pid2);
        c.user_us += d.user_us;
        c.sys_us += d.sys_us;
    }
    return c;
}

/* ---------------------------------------------------------------------------------------- */
/* conn */

static double tv_us(const struct timeval *a, const struct timeval *b)
{
    return (double)(a->tv_sec - b->tv_sec) * 1e6 + (double)(a->tv_usec - b->tv_usec);
}

struct churner {
    alignas(64) atomic_uint_fast64_t done;
    const struct opts *o;
    pthread_t th;
};

static void *conn_thread(void *arg)
{
    struct churner *c = arg;
    char err[200];
    pthread_barrier_wait(&start_bar);
    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        struct vconn vc;
        bool opened = open_conn(c->o, &vc, err, sizeof err);
        bool ok = opened && (c->o->server_close ? echo_byte(&vc, 'c', err, sizeof err) &&
                                                      expect_eof(&vc, err, sizeof err)
                                                : echo_once(&vc, err, sizeof err));
        if (opened)
            vc_close(&vc);
        if (ok) {
            uint_fast64_t v = atomic_load_explicit(&c->done, memory_order_relaxed);
            atomic_store_explicit(&c->done, v + 1, memory_order_relaxed);
        } else if (!atomic_load(&stop_flag)) {
            note_err("%s", err);
            sleep_s(0.001); /* no tight spin when the proxy refuses */
        }
    }
    return NULL;
}

static uint64_t sum_done(struct churner *cs, unsigned n)
{
    uint64_t t = 0;
    for (unsigned i = 0; i < n; i++)
        t += atomic_load_explicit(&cs[i].done, memory_order_relaxed);
    return t;
}

static int run_conn(const struct opts *o)
{
    struct churner *cs = calloc(o->threads, sizeof *cs);
    if (!cs)
        return 1;
    pthread_barrier_init(&start_bar, NULL, o->threads + 1);
    for (unsigned i = 0; i < o->threads; i++) {
        cs[i].o = o;
        if (pthread_create(&cs[i].th, NULL, conn_thread, &cs[i]) != 0) {
            fputs("vgbench: pthread_create failed\n", stderr);
            exit(1);
        }
    }
    pthread_barrier_wait(&start_bar);
    sleep_s(o->warmup);
    struct cpu p0 = {0, 0}, p1 = {0, 0}, t0c = {0, 0}, t1c = {0, 0};
    struct rusage r0, r1;
    if (o->pid > 0)
        p0 = proxy_cpu(o);
    if (o->target_pid > 0)
        t0c = tree_cpu(o->target_pid);
    getrusage(RUSAGE_SELF, &r0);
    uint64_t c0 = sum_done(cs, o->threads);
    unsigned long e0 = atomic_load(&err_count);
    double t0 = vg_now_s();
    sleep_s(o->seconds);
    uint64_t c1 = sum_done(cs, o->threads);
    unsigned long e1 = atomic_load(&err_count);
    double elapsed = vg_now_s() - t0;
    getrusage(RUSAGE_SELF, &r1);
    if (o->pid > 0)
        p1 = proxy_cpu(o);
    if (o->target_pid > 0)
        t1c = tree_cpu(o->target_pid);
    atomic_store(&stop_flag, true);
    for (unsigned i = 0; i < o->threads; i++)
        pthread_join(cs[i].th, NULL);
    printf("mode=conn threads=%u close=%s seconds=%.3f conns=%" PRIu64
           " conn_per_s=%.0f errors=%lu errors_total=%lu ",
           o->threads, o->server_close ? "server" : "client", elapsed, c1 - c0,
           (double)(c1 - c0) / elapsed, e1 - e0, atomic_load(&err_count));
    /* CPU per connection over the timed window (µs): this client, the proxy and the target */
    double nc = c1 > c0 ? (double)(c1 - c0) : 1;
    printf("cpu_client_user_us=%.1f cpu_client_sys_us=%.1f", tv_us(&r1.ru_utime, &r0.ru_utime) / nc,
           tv_us(&r1.ru_stime, &r0.ru_stime) / nc);
    if (o->pid > 0)
        printf(" cpu_proxy_user_us=%.1f cpu_proxy_sys_us=%.1f", (p1.user_us - p0.user_us) / nc,
               (p1.sys_us - p0.sys_us) / nc);
    if (o->target_pid > 0)
        printf(" cpu_target_user_us=%.1f cpu_target_sys_us=%.1f", (t1c.user_us - t0c.user_us) / nc,
               (t1c.sys_us - t0c.sys_us) / nc);
    printf("\n");
    report_errors();
    free(cs);
    return atomic_load(&err_count) ? 1 : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* lat */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static double pct_us(const uint64_t *v, size_t n, double p)
{
    size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)v[rank - 1] / 1000.0;
}

static int run_lat(const struct opts *o)
{
    char err[200];
    struct vconn c;
    if (!open_conn(o, &c, err, sizeof err)) {
        fprintf(stderr, "vgbench: %s\n", err);
        return 1;
    }
    uint64_t *v = malloc(sizeof *v * o->count);
    if (!v) {
        vc_close(&c);
        return 1;
    }
    int rc = 1;
    for (unsigned i = 0; i < o->warmup_count; i++)
        if (!echo_once(&c, err, sizeof err))
            goto fail;
    uint64_t sum = 0;
    for (unsigned i = 0; i < o->count; i++) {
        uint64_t t0 = vg_now_ns();
        if (!echo_once(&c, err, sizeof err))
            goto fail;
        v[i] = vg_now_ns() - t0;
        sum += v[i];
    }
    qsort(v, o->count, sizeof *v, cmp_u64);
    printf("mode=lat count=%u min_us=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f "
           "mean_us=%.1f\n",
           o->count, (double)v[0] / 1000.0, pct_us(v, o->count, 50), pct_us(v, o->count, 90),
           pct_us(v, o->count, 99), (double)v[o->count - 1] / 1000.0,
           (double)sum / o->count / 1000.0);
    rc = 0;
fail:
    if (rc)
        fprintf(stderr, "vgbench: %s\n", err);
    free(v);
    vc_close(&c);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* setup */

static int run_setup(const struct opts *o)
{
    char err[200];
    uint64_t *v = malloc(sizeof *v * o->count);
    if (!v)
        return 1;
    int rc = 1;
    uint64_t sum = 0;
    char tls[128] = "";
    for (unsigned i = 0; i < o->warmup_count + o->count; i++) {
        struct vconn c;
        uint64_t t0 = vg_now_ns();
        if (!open_conn(o, &c, err, sizeof err))
            goto fail;
        if (c.ssl && !tls[0])
            snprintf(tls, sizeof tls, " tls=%s/%s", SSL_get_version(c.ssl),
                     SSL_get_cipher_name(c.ssl));
        bool ok = echo_byte(&c, 'c', err, sizeof err);
        uint64_t t = vg_now_ns() - t0;
        ok = ok && expect_eof(&c, err, sizeof err);
        vc_close(&c);
        if (!ok)
            goto fail;
        if (i >= o->warmup_count) {
            v[i - o->warmup_count] = t;
            sum += t;
        }
    }
    qsort(v, o->count, sizeof *v, cmp_u64);
    printf("mode=setup count=%u min_us=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f "
           "mean_us=%.1f%s\n",
           o->count, (double)v[0] / 1000.0, pct_us(v, o->count, 50), pct_us(v, o->count, 90),
           pct_us(v, o->count, 99), (double)v[o->count - 1] / 1000.0,
           (double)sum / o->count / 1000.0, tls);
    rc = 0;
fail:
    if (rc)
        fprintf(stderr, "vgbench: %s\n", err);
    free(v);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* idle */

static int run_idle(const struct opts *o)
{
    char err[200];
    struct vconn *fds = malloc(sizeof *fds * o->conns);
    if (!fds)
        return 1;
    struct mem base = {0, 0, 0}, held = {0, 0, 0};
    if (o->pid > 0) {
        base = tree_mem(o->pid);
        if (!base.procs) {
            fprintf(stderr, "vgbench: no process %ld\n", o->pid);
            free(fds);
            return 1;
        }
    }
    unsigned opened = 0;
    double t0 = vg_now_s();
    for (; opened < o->conns; opened++) {
        if (!open_conn(o, &fds[opened], err, sizeof err))
            break;
        if (!echo_once(&fds[opened], err, sizeof err)) {
            vc_close(&fds[opened]);
            break;
        }
    }
    double open_s = vg_now_s() - t0;
    if (opened < o->conns)
        fprintf(stderr, "vgbench: connection %u: %s\n", opened + 1, err);
    sleep_s(o->settle);
    if (o->pid > 0) {
        held = tree_mem(o->pid);
    } else if (opened == o->conns) {
        printf("ready conns=%u\n", opened);
        fflush(stdout);
        struct pollfd p = {.fd = 0, .events = POLLIN};
        if (poll(&p, 1, (int)(o->hold * 1000)) > 0) {
            char line[64];
            if (!fgets(line, sizeof line, stdin)) {
                /* EOF is a release too */
            }
        }
    }
    unsigned alive = 0;
    for (unsigned i = 0; i < opened; i++) {
        if (echo_once(&fds[i], err, sizeof err))
            alive++;
        vc_close(&fds[i]);
    }
    printf("mode=idle conns=%u opened=%u alive=%u open_s=%.2f", o->conns, opened, alive, open_s);
    if (o->pid > 0)
        printf(" procs=%u base_rss_kb=%lu base_pss_kb=%lu rss_kb=%lu pss_kb=%lu", held.procs,
               base.rss_kb, base.pss_kb, held.rss_kb, held.pss_kb);
    printf("\n");
    free(fds);
    return opened == o->conns && alive == opened ? 0 : 1;
}

/* ---------------------------------------------------------------------------------------- */
/* target */

enum tmode { T_NEW = 0, T_SINK, T_SOURCE, T_ECHO };

struct tconn {
    int fd;
    enum tmode mode;
    uint32_t events;  /* current epoll interest */
    bool close_after; /* 'c': close once the echo is written (the server closes first) */
    uint32_t len, off;
    uint8_t buf[ECHO_BUF];
};

struct tworker {
    int lfd;
    int ep;
    pthread_t th;
    uint8_t *rbuf; /* IO_BUF scratch for sink reads */
};

static atomic_bool target_stop;
static uint8_t source_buf[IO_BUF];
static int listen_marker; /* epoll data.ptr of the listening socket */

static void tconn_close(struct tworker *w, struct tconn *c)
{
    epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

static bool tconn_want(struct tworker *w, struct tconn *c, uint32_t events)
{
    if (c->events == events)
        return true;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        return false;
    c->events = events;
    return true;
}

/* Echo: write back what is pending, read more when nothing is; false = close. */
static bool tconn_echo(struct tworker *w, struct tconn *c)
{
    for (int round = 0; round < 64; round++) {
        if (c->off < c->len) {
            ssize_t n = send(c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                break;
            if (n <= 0)
                return false;
            c->off += (uint32_t)n;
            continue;
        }
        if (c->close_after)
            return false;
        c->off = c->len = 0;
        ssize_t n = recv(c->fd, c->buf, sizeof c->buf, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (n <= 0)
            return false;
        c->len = (uint32_t)n;
    }
    return tconn_want(w, c, c->off < c->len ? EPOLLOUT : EPOLLIN);
}

static bool tconn_sink(struct tworker *w, struct tconn *c)
{
    for (int round = 0; round < 16; round++) {
        ssize_t n = recv(c->fd, w->rbuf, IO_BUF, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return true;
        if (n <= 0)
            return false;
    }
    return true;
}

static bool tconn_source(struct tworker *w, struct tconn *c, uint32_t ev)
{
    if (ev & EPOLLIN) { /* the client sends nothing in this role: only EOF is expected */
        ssize_t n = recv(c->fd, w->rbuf, IO_BUF, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return false;
    }
    if (!(ev & EPOLLOUT))
        return true;
    for (int round = 0; round < 16; round++) {
        ssize_t n = send(c->fd, source_buf, IO_BUF, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return true;
        if (n <= 0)
            return false;
    }
    return true;
}

static void tconn_event(struct tworker *w, struct tconn *c, uint32_t ev)
{
    bool ok = !(ev & EPOLLERR);
    if (ok && c->mode == T_NEW) {
        ssize_t n = recv(c->fd, c->buf, sizeof c->buf, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            ok = false;
        } else if (c->buf[0] == 'u') {
            c->mode = T_SINK;
        } else if (c->buf[0] == 'd') {
            c->mode = T_SOURCE;
            ok = tconn_want(w, c, EPOLLIN | EPOLLOUT);
            ev = EPOLLOUT;
        } else {
            c->mode = T_ECHO;
            c->close_after = c->buf[0] == 'c';
            c->len = (uint32_t)n;
            c->off = 0;
            ev = EPOLLOUT;
        }
        if (c->mode == T_SINK)
            return;
    }
    if (ok) {
        switch (c->mode) {
        case T_SINK:
            ok = tconn_sink(w, c);
            break;
        case T_SOURCE:
            ok = tconn_source(w, c, ev);
            break;
        case T_ECHO:
            ok = tconn_echo(w, c);
            break;
        case T_NEW:
            break;
        }
    }
    if (!ok || ((ev & EPOLLHUP) && c->mode != T_ECHO && c->mode != T_SINK))
        tconn_close(w, c);
}

static void target_accept(struct tworker *w)
{
    for (int round = 0; round < 64; round++) {
        int fd = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE)
                fprintf(stderr, "vgbench target: accept: %s\n", strerror(errno));
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct tconn *c = malloc(sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->mode = T_NEW;
        c->close_after = false;
        c->events = EPOLLIN;
        c->len = c->off = 0;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            close(fd);
            free(c);
        }
    }
}

static void *target_thread(void *arg)
{
    struct tworker *w = arg;
    struct epoll_event evs[256];
    while (!atomic_load(&target_stop)) {
        int n = epoll_wait(w->ep, evs, 256, 200);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == &listen_marker)
                target_accept(w);
            else
                tconn_event(w, evs[i].data.ptr, evs[i].events);
        }
    }
    return NULL; /* the process exits next: connections are left to the kernel */
}

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&target_stop, true);
}

static int run_target(const struct opts *o)
{
    if (!o->have_listen) {
        fputs("vgbench: target needs --listen ADDR:PORT\n", stderr);
        return 2;
    }
    memset(source_buf, 0xa5, sizeof source_buf);
    struct tworker *ws = calloc(o->threads, sizeof *ws);
    if (!ws)
        return 1;
    for (unsigned i = 0; i < o->threads; i++) {
        struct tworker *w = &ws[i];
        int one = 1;
        w->lfd = socket(o->listen.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (w->lfd < 0 || setsockopt(w->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
            setsockopt(w->lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
            bind(w->lfd, (const struct sockaddr *)&o->listen.ss, o->listen.len) < 0 ||
            listen(w->lfd, 4096) < 0) {
            fprintf(stderr, "vgbench target: listen: %s\n", strerror(errno));
            return 1;
        }
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        w->rbuf = malloc(IO_BUF);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &listen_marker};
        if (w->ep < 0 || !w->rbuf || epoll_ctl(w->ep, EPOLL_CTL_ADD, w->lfd, &ev) < 0) {
            fprintf(stderr, "vgbench target: epoll: %s\n", strerror(errno));
            return 1;
        }
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    for (unsigned i = 0; i < o->threads; i++)
        if (pthread_create(&ws[i].th, NULL, target_thread, &ws[i]) != 0) {
            fputs("vgbench target: pthread_create failed\n", stderr);
            return 1;
        }
    fprintf(stderr, "vgbench target: listening (%u threads)\n", o->threads);
    double deadline = vg_now_s() + o->max_seconds;
    while (!atomic_load(&target_stop) && vg_now_s() < deadline)
        sleep_s(0.1);
    atomic_store(&target_stop, true);
    for (unsigned i = 0; i < o->threads; i++) {
        pthread_join(ws[i].th, NULL);
        close(ws[i].ep);
        close(ws[i].lfd);
        free(ws[i].rbuf);
    }
    free(ws);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage();
        return 2;
    }
    struct opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc) {
        usage();
        return rc;
    }
    signal(SIGPIPE, SIG_IGN);
    if (!strcmp(o.mode, "target") || !strcmp(o.mode, "sink") || !strcmp(o.mode, "echo"))
        return run_target(&o);
    if (!o.have_target) {
        fputs("vgbench: --target ADDR:PORT is required\n", stderr);
        return 2;
    }
    if (o.have_https && !tls_init(&o))
        return 1;
    if (!strcmp(o.mode, "tput"))
        return run_tput(&o);
    if (!strcmp(o.mode, "conn"))
        return run_conn(&o);
    if (!strcmp(o.mode, "lat"))
        return run_lat(&o);
    if (!strcmp(o.mode, "idle"))
        return run_idle(&o);
    if (!strcmp(o.mode, "setup"))
        return run_setup(&o);
    usage();
    return 2;
}
