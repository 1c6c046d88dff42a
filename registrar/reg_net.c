#include "reg_net.h"

#include "vg_addr.h"
#include "vg_alloc.h"
#include "vg_log.h"
#include "vg_time.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct srv_ctx {
    struct reg_conn *c;
    char *err;
    size_t errlen;
};

static bool add_server(const char *item, void *arg)
{
    struct srv_ctx *s = arg;
    if (s->c->nsrv >= REG_MAX_SERVERS) {
        snprintf(s->err, s->errlen, "more than %d servers", REG_MAX_SERVERS);
        return false;
    }
    if (!vg_sockaddr_parse(item, 53, &s->c->srv[s->c->nsrv], &s->c->srvlen[s->c->nsrv])) {
        snprintf(s->err, s->errlen, "server '%s' is not ADDR[:PORT] or [ADDR]:PORT", item);
        return false;
    }
    s->c->nsrv++;
    return true;
}

bool reg_conn_init(struct reg_conn *c, const char *servers, unsigned timeout_ms, char *err,
                   size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->timeout_ms = timeout_ms;
    char *copy = vg_strdup(servers);
    if (copy == NULL) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    struct srv_ctx s = {c, err, errlen};
    bool ok = vg_list_foreach(copy, add_server, &s);
    vg_free(copy);
    if (ok && c->nsrv == 0) {
        snprintf(err, errlen, "no server given");
        ok = false;
    }
    return ok;
}

void reg_conn_close(struct reg_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

void reg_conn_reset(struct reg_conn *c)
{
    reg_conn_close(c);
    c->down = false;
}

const char *reg_conn_peer(const struct reg_conn *c, char *buf, size_t len)
{
    return vg_sockaddr_format((const struct sockaddr *)&c->srv[c->cur], true, buf, len);
}

static int wait_fd(int fd, short ev, long long deadline)
{
    for (;;) {
        long long left = deadline - (long long)vg_now_ms();
        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct pollfd p = {.fd = fd, .events = ev};
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        return 0;
    }
}

static int connect_one(struct reg_conn *c, size_t i)
{
    char a[VG_ADDRSTRLEN];
    int fd = socket(c->srv[i].ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&c->srv[i], c->srvlen[i]) < 0) {
        if (errno != EINPROGRESS)
            goto fail;
        if (wait_fd(fd, POLLOUT, (long long)vg_now_ms() + c->timeout_ms) < 0)
            goto fail;
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (soerr != 0) {
            errno = soerr;
            goto fail;
        }
    }
    return fd;
fail:
    snprintf(c->err, sizeof c->err, "%s: %s",
             vg_sockaddr_format((struct sockaddr *)&c->srv[i], true, a, sizeof a), strerror(errno));
    vg_debug("dns: connect %s", c->err);
    if (fd >= 0)
        close(fd);
    return -1;
}

static int ensure_connected(struct reg_conn *c)
{
    if (c->fd >= 0)
        return 0;
    if (c->down)
        return -1;
    for (size_t k = 0; k < c->nsrv; k++) {
        size_t i = (c->cur + k) % c->nsrv;
        int fd = connect_one(c, i);
        if (fd >= 0) {
            c->fd = fd;
            c->cur = i;
            return 0;
        }
    }
    c->down = true;
    return -1;
}

static int write_all(struct reg_conn *c, const uint8_t *buf, size_t len, long long deadline)
{
    while (len > 0) {
        ssize_t w = send(c->fd, buf, len, MSG_NOSIGNAL);
        if (w > 0) {
            buf += w;
            len -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_fd(c->fd, POLLOUT, deadline) < 0)
                return -1;
            continue;
        }
        return -1;
    }
    return 0;
}

static int read_all(struct reg_conn *c, uint8_t *buf, size_t len, long long deadline)
{
    while (len > 0) {
        ssize_t r = recv(c->fd, buf, len, 0);
        if (r > 0) {
            buf += r;
            len -= (size_t)r;
            continue;
        }
        if (r == 0) {
            errno = ECONNRESET;
            return -1;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (wait_fd(c->fd, POLLIN, deadline) < 0)
                return -1;
            continue;
        }
        return -1;
    }
    return 0;
}

static void io_failed(struct reg_conn *c, const char *what)
{
    char a[VG_ADDRSTRLEN];
    snprintf(c->err, sizeof c->err, "%s %s: %s", what, reg_conn_peer(c, a, sizeof a),
             errno == ETIMEDOUT ? "timed out" : strerror(errno));
    reg_conn_close(c);
}

int reg_conn_send(struct reg_conn *c, const uint8_t *msg, size_t len)
{
    if (len > 65535) {
        snprintf(c->err, sizeof c->err, "message of %zu octets is too large", len);
        return -1;
    }
    /* A connection the server closed while idle fails on the first write or read; reconnect once
     * per server.  Resending is safe: every change carries prerequisites. */
    for (size_t attempt = 0; attempt <= c->nsrv; attempt++) {
        if (ensure_connected(c) < 0)
            return -1;
        uint8_t hdr[2] = {(uint8_t)(len >> 8), (uint8_t)len};
        long long deadline = (long long)vg_now_ms() + c->timeout_ms;
        if (write_all(c, hdr, 2, deadline) == 0 && write_all(c, msg, len, deadline) == 0)
            return 0;
        io_failed(c, "send to");
        c->cur = (c->cur + 1) % c->nsrv;
    }
    c->down = true;
    return -1;
}

int reg_conn_recv(struct reg_conn *c, uint8_t **reply, size_t *rlen)
{
    uint8_t hdr[2];
    long long deadline = (long long)vg_now_ms() + c->timeout_ms;
    *reply = NULL;
    if (c->fd < 0) {
        snprintf(c->err, sizeof c->err, "not connected");
        return -1;
    }
    if (read_all(c, hdr, 2, deadline) < 0) {
        io_failed(c, "receive from");
        return -1;
    }
    size_t n = (size_t)hdr[0] << 8 | hdr[1];
    uint8_t *buf = vg_malloc(n ? n : 1);
    if (buf == NULL) {
        snprintf(c->err, sizeof c->err, "out of memory");
        reg_conn_close(c);
        return -1;
    }
    if (read_all(c, buf, n, deadline) < 0) {
        vg_free(buf);
        io_failed(c, "receive from");
        return -1;
    }
    *reply = buf;
    *rlen = n;
    return 0;
}

int reg_conn_exchange(struct reg_conn *c, const uint8_t *msg, size_t len, uint8_t **reply,
                      size_t *rlen)
{
    for (size_t attempt = 0; attempt <= c->nsrv; attempt++) {
        if (reg_conn_send(c, msg, len) < 0)
            return -1;
        if (reg_conn_recv(c, reply, rlen) == 0)
            return 0;
        /* the server closed or timed out: try the next one */
        c->cur = (c->cur + 1) % c->nsrv;
        if (attempt == c->nsrv)
            break;
    }
    c->down = true;
    return -1;
}
