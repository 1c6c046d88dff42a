/* vmgate-connect — ProxyCommand client: VM name → owning host's gateway → SOCKS5 CONNECT by
 * name → stdin/stdout (or the socket itself to ssh with --fdpass).  See vg_client.h and
 * docs/clients.md. */
#include "vg_addr.h"
#include "vg_client.h"
#include "vg_config.h"
#include "vg_log.h"
#include "vg_resolve.h"
#include "vg_time.h"
#include "vg_version.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *prog = "vmgate-connect";

static void __attribute__((format(printf, 1, 2))) say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- resolution ------------------------------------------------------------------------- */

struct lookup_result {
    bool done;
    enum vg_res_status st;
    struct vg_vm_location loc;
    struct event_base *base;
    struct vg_resolver *r;
    char why[256]; /* what the answer refused (vg_resolver_why) */
};

static void on_resolved(enum vg_res_status st, const struct vg_vm_location *loc, void *arg)
{
    struct lookup_result *res = arg;
    res->done = true;
    res->st = st;
    snprintf(res->why, sizeof res->why, "%s", vg_resolver_why(res->r));
    if (loc != NULL)
        res->loc = *loc;
    event_base_loopbreak(res->base);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    event_base_loopbreak(arg);
}

/* 0 = found; else an exit code (message printed). */
static int resolve(const struct vg_config *cfg, const char *name, int64_t deadline,
                   struct vg_vm_location *loc)
{
    char err[512];
    int rc = VG_EXIT_LOCAL;
    struct lookup_result res = {0};
    struct vg_resolver *r = NULL;
    struct event *timer = NULL;
    struct event_base *base = event_base_new();
    if (base == NULL) {
        say("cannot create the event loop");
        goto done;
    }
    res.base = base;
    if ((r = vg_resolver_new(base, cfg, err, sizeof err)) == NULL) {
        say("%s", err);
        rc = VG_EXIT_CONFIG;
        goto done;
    }
    res.r = r;
    int64_t left = deadline - (int64_t)vg_now_ms();
    struct timeval tv = {left > 0 ? left / 1000 : 0, left > 0 ? (left % 1000) * 1000 : 0};
    if ((timer = evtimer_new(base, on_deadline, base)) == NULL || evtimer_add(timer, &tv) < 0 ||
        vg_resolve(r, name, on_resolved, &res) == NULL) {
        say("out of memory");
        goto done;
    }
    event_base_dispatch(base);
    if (!res.done) {
        say("%s: DNS lookup did not finish before the deadline (-t)", name);
        rc = VG_EXIT_DEADLINE;
        goto done;
    }
    if (res.st != VG_RES_OK) {
        say("%s: %s%s%s", name, vg_res_strerror(res.st), res.why[0] ? ": " : "", res.why);
        rc = vg_exit_of_res(res.st);
        goto done;
    }
    if (res.why[0])
        say("%s: %s", name, res.why);
    *loc = res.loc;
    rc = 0;
done:
    vg_resolver_free(r); /* a request still pending is cancelled; its callback only records */
    if (timer)
        event_free(timer);
    if (base)
        event_base_free(base);
    return rc;
}

/* ---- connecting ------------------------------------------------------------------------- */

/* Connect within timeout_ms; the socket, or -1 with errno (ETIMEDOUT on timeout). */
static int connect_one(const struct sockaddr_storage *ss, int timeout_ms)
{
    socklen_t len =
        ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (const struct sockaddr *)ss, len) == 0)
        return fd;
    if (errno != EINPROGRESS)
        goto fail;
    struct pollfd p = {fd, POLLOUT, 0};
    int n;
    do
        n = poll(&p, 1, timeout_ms);
    while (n < 0 && errno == EINTR);
    if (n == 0) {
        errno = ETIMEDOUT;
        goto fail;
    }
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
        goto fail;
    if (soerr != 0) {
        errno = soerr;
        goto fail;
    }
    return fd;
fail:;
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}

static int remaining_ms(int64_t deadline)
{
    int64_t left = deadline - (int64_t)vg_now_ms();
    return left > 0 ? (int)(left < 0x7fffffff ? left : 0x7fffffff) : 0;
}

/* Send the pipelined handshake, read exactly the answer.  0 or an exit code. */
static int handshake(int fd, const struct vg_creds *creds, const char *name, uint16_t port,
                     const char *where, int64_t deadline)
{
    uint8_t out[VG_S5C_MAX], in[600];
    size_t n = vg_s5c_handshake(out, creds->set ? creds->user : NULL, creds->pass, name, port);
    size_t off = 0, have = 0, need = 0, used;
    struct vg_s5c_answers a;
    char msg[512];
    if (n == 0) {
        say("%s: name or credentials too long for SOCKS5", name);
        return VG_EXIT_BADNAME;
    }
    while (off < n) {
        ssize_t w = send(fd, out + off, n - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
            say("gateway %s: send: %s", where, strerror(errno));
            return VG_EXIT_PROTO;
        }
        struct pollfd p = {fd, POLLOUT, 0};
        if (poll(&p, 1, remaining_ms(deadline)) == 0) {
            say("gateway %s: handshake did not finish before the deadline (-t)", where);
            return VG_EXIT_DEADLINE;
        }
    }
    for (;;) {
        enum vg_parse st = vg_s5c_parse_answers(in, have, creds->set, &a, &used, &need);
        if (st == VG_P_ERROR) {
            say("gateway %s: not a SOCKS5 answer", where);
            return VG_EXIT_PROTO;
        }
        if (st == VG_P_OK)
            break;
        if (need > sizeof in)
            need = sizeof in;
        ssize_t r = recv(fd, in + have, need - have, 0);
        if (r > 0) {
            have += (size_t)r;
            continue;
        }
        if (r == 0) {
            say("gateway %s closed the connection during the handshake", where);
            return VG_EXIT_PROTO;
        }
        if (errno == ECONNRESET) {
            say("gateway %s reset the connection during the handshake", where);
            return VG_EXIT_PROTO;
        }
        if (errno != EAGAIN && errno != EINTR) {
            say("gateway %s: recv: %s", where, strerror(errno));
            return VG_EXIT_PROTO;
        }
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, remaining_ms(deadline)) == 0) {
            say("gateway %s: no SOCKS5 answer before the deadline (-t)", where);
            return VG_EXIT_DEADLINE;
        }
    }
    if (vg_s5c_outcome(&a, creds->set) == VG_OUT_OK)
        return 0;
    int rc = vg_client_refusal(&a, creds->set, name, port, where, msg, sizeof msg);
    say("%s", msg);
    return rc;
}

int main(int argc, char **argv)
{
    struct vg_connect_opts o;
    struct vg_config *cfg = NULL;
    struct vg_creds creds;
    struct vg_vm_location loc;
    char err[512], name[254];
    int rc = VG_EXIT_LOCAL, fd = -1;
    int64_t t0 = (int64_t)vg_now_ms();

    signal(SIGPIPE, SIG_IGN);
    switch (vg_connect_parse_args(argc, argv, &o, err, sizeof err)) {
    case VG_ARGS_HELP:
        vg_connect_usage(stdout);
        return 0;
    case VG_ARGS_VERSION:
        puts("vmgate-connect " VMGATE_VERSION);
        return 0;
    case VG_ARGS_ERROR:
        say("%s (see --help)", err);
        return VG_EXIT_USAGE;
    case VG_ARGS_OK:
        break;
    }
    int64_t deadline = t0 + (int64_t)o.timeout * 1000;
    vg_log_max = VG_LOG_ERR; /* the resolver's warnings: said below, with the result */
    if ((cfg = vg_client_config(o.config, getenv("VMGATE_CONFIG"), o.dns_server, err,
                                sizeof err)) == NULL) {
        say("%s", err);
        return VG_EXIT_CONFIG;
    }
    if (!vg_client_creds(o.user, getenv("VMGATE_USER"), getenv("VMGATE_PASSWORD"), cfg, &creds, err,
                         sizeof err)) {
        say("%s", err);
        rc = VG_EXIT_CONFIG;
        goto done;
    }
    enum vg_res_status qs =
        vg_res_qualify(o.host, (const char *const *)cfg->zones, cfg->nzones, name);
    if (qs != VG_RES_OK) {
        say("%s: %s", o.host, vg_res_strerror(qs));
        rc = VG_EXIT_BADNAME;
        goto done;
    }

    const char *gw = o.gateway ? o.gateway : cfg->client_server;
    memset(&loc, 0, sizeof loc);
    if (gw != NULL) { /* a fixed gateway: no lookup, it resolves and chains itself */
        socklen_t sl;
        if (!vg_sockaddr_parse(gw, 0, &loc.addrs[0], &sl)) {
            say("[client] server: '%s' is not ADDR:PORT or [ADDR]:PORT", gw);
            rc = VG_EXIT_CONFIG;
            goto done;
        }
        loc.naddrs = 1;
    } else if ((rc = resolve(cfg, name, deadline, &loc)) != 0) {
        goto done;
    }
    if (o.verbose) {
        say("%s: owner %s, gateway %s port %u, %zu address%s, ttl %u%s", name,
            loc.owner[0] ? loc.owner : "(none)", loc.gateway[0] ? loc.gateway : "(none)", loc.port,
            loc.naddrs, loc.naddrs == 1 ? "" : "es", loc.ttl, gw ? "" : " (DNS)");
    }

    /* every address in turn, each with a short timeout */
    char tried[1024] = "", where[512];
    size_t tl = 0;
    for (size_t i = 0; i < loc.naddrs && fd < 0; i++) {
        char a[VG_ADDRSTRLEN];
        int left = remaining_ms(deadline);
        int per = (int)o.connect_timeout * 1000;
        vg_sockaddr_format((struct sockaddr *)&loc.addrs[i], true, a, sizeof a);
        if (left == 0) {
            say("%s: the deadline (-t) passed while connecting to the gateway", name);
            rc = VG_EXIT_DEADLINE;
            goto done;
        }
        fd = connect_one(&loc.addrs[i], per < left ? per : left);
        if (fd < 0) {
            int w = snprintf(tried + tl, sizeof tried - tl, "%s%s %s", tl ? "; " : "", a,
                             errno == ETIMEDOUT ? "timed out" : strerror(errno));
            if (w > 0 && (size_t)w < sizeof tried - tl)
                tl += (size_t)w;
        } else {
            if (loc.gateway[0])
                snprintf(where, sizeof where, "%s (%s)", loc.gateway, a);
            else
                snprintf(where, sizeof where, "%s", a);
            if (o.verbose)
                say("connected to %s after %lld ms", a, (long long)((int64_t)vg_now_ms() - t0));
        }
    }
    if (fd < 0) {
        if (loc.owner[0])
            say("%s: gateway of host %s unreachable: %s", name, loc.owner, tried);
        else
            say("%s: gateway unreachable: %s", name, tried);
        rc = VG_EXIT_GW_UNREACH;
        goto done;
    }
    if ((rc = handshake(fd, &creds, name, o.port, where, deadline)) != 0)
        goto done;
    if (o.verbose)
        say("tunnel to %s:%u up after %lld ms", name, o.port,
            (long long)((int64_t)vg_now_ms() - t0));

    if (o.fdpass) {
        if (vg_send_fd(STDOUT_FILENO, fd) < 0) {
            say("--fdpass: cannot pass the socket on stdout (%s); use it with ssh -o "
                "ProxyUseFdpass=yes",
                strerror(errno));
            rc = VG_EXIT_LOCAL;
        } else {
            rc = VG_EXIT_OK;
        }
        goto done;
    }
    if (vg_relay(STDIN_FILENO, STDOUT_FILENO, fd) < 0) {
        say("%s:%u: relay: %s", name, o.port, strerror(errno));
        rc = VG_EXIT_LOCAL;
        goto done;
    }
    rc = VG_EXIT_OK;
done:
    if (fd >= 0)
        close(fd);
    vg_config_free(cfg);
    return rc;
}
