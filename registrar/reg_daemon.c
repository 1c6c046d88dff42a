#include "reg_daemon.h"

#include "vg_alloc.h"
#include "vg_file.h"
#include "vg_log.h"
#include "vg_time.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define COALESCE_MS 5 /* wait this long after the first complete request */
#define MAX_CLIENTS 256
#define MAX_REQUEST (4u << 20) /* octets per client */

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

static bool sock_path(const struct vg_config *cfg, struct sockaddr_un *sun, socklen_t *len)
{
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    int w = snprintf(sun->sun_path, sizeof sun->sun_path, "%s/reg.sock", cfg->state_dir);
    if (w < 0 || (size_t)w >= sizeof sun->sun_path)
        return false;
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)w + 1);
    return true;
}

/* ---- client ------------------------------------------------------------------------------ */

static bool write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        buf += w;
        len -= (size_t)w;
    }
    return true;
}

bool reg_daemon_submit(const struct vg_config *cfg, struct reg_change *c, size_t n)
{
    struct sockaddr_un sun;
    socklen_t slen;
    bool ok = false;
    char *out = NULL, *in = NULL;
    if (!sock_path(cfg, &sun, &slen))
        return false;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    if (connect(fd, (struct sockaddr *)&sun, slen) < 0)
        goto done;
    size_t cap = 0, len = 0;
    for (size_t i = 0; i < n; i++) {
        char *line = reg_change_request(&c[i]);
        size_t ll = line ? strlen(line) : 0;
        if (line && len + ll + 1 > cap) {
            size_t nc = (cap ? cap * 2 : n * 128 + 1) + ll;
            char *g = vg_realloc(out, nc);
            if (g == NULL) {
                vg_free(line);
                line = NULL;
            } else {
                out = g;
                cap = nc;
            }
        }
        if (line == NULL)
            goto done;
        memcpy(out + len, line, ll);
        len += ll;
        vg_free(line);
    }
    if (!write_all(fd, out ? out : "", len) || shutdown(fd, SHUT_WR) < 0)
        goto done;
    /* the daemon may wait for the DNS server: allow for its timeouts */
    size_t icap = n * 1400 + 1024, ilen = 0;
    if ((in = vg_malloc(icap)) == NULL)
        goto done;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, (int)(cfg->dns_timeout * 1000u * 10 + 60000));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            goto done;
        ssize_t got = read(fd, in + ilen, icap - 1 - ilen);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            goto done;
        if (got == 0)
            break;
        ilen += (size_t)got;
        if (ilen >= icap - 1)
            goto done;
    }
    in[ilen] = '\0';
    char *save = NULL, *line = strtok_r(in, "\n", &save);
    for (size_t i = 0; i < n; i++, line = strtok_r(NULL, "\n", &save))
        if (line == NULL || !reg_change_parse_reply(&c[i], line))
            goto done;
    ok = true;
done:
    vg_free(out);
    vg_free(in);
    close(fd);
    return ok;
}

/* ---- daemon ------------------------------------------------------------------------------ */

struct client {
    int fd;
    char *buf;
    size_t len, cap;
    bool eof;
    long long ready_at;
};

static void client_drop(struct client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    vg_free(c->buf);
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

/* read what is there; false when the client is to be dropped */
static bool client_read(struct client *c)
{
    for (;;) {
        if (c->cap - c->len < 4096) {
            size_t nc = c->cap ? c->cap * 2 : 8192;
            if (nc > MAX_REQUEST)
                return false;
            char *g = vg_realloc(c->buf, nc);
            if (g == NULL)
                return false;
            c->buf = g;
            c->cap = nc;
        }
        ssize_t r = read(c->fd, c->buf + c->len, c->cap - c->len - 1);
        if (r > 0) {
            c->len += (size_t)r;
            continue;
        }
        if (r == 0) {
            c->eof = true;
            c->ready_at = (long long)vg_now_ms();
            c->buf[c->len] = '\0';
            return true;
        }
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK;
    }
}

/* Carry out the requests of every ready client together, answer each, drop them. */
static bool serve_ready(struct reg_ctx *ctx, struct client *cl, size_t ncl)
{
    size_t total = 0;
    bool queued = false;
    for (size_t i = 0; i < ncl; i++) {
        if (cl[i].fd < 0 || !cl[i].eof)
            continue;
        for (size_t k = 0; k < cl[i].len; k++)
            total += cl[i].buf[k] == '\n';
        total++;
    }
    struct reg_change *ch = vg_calloc(total + 1, sizeof *ch);
    struct reg_change **run = vg_calloc(total + 1, sizeof *run);
    size_t *owner = vg_calloc(total + 1, sizeof *owner);
    size_t n = 0, m = 0;
    if (ch == NULL || run == NULL || owner == NULL) {
        vg_free(ch);
        vg_free(run);
        vg_free(owner);
        return false;
    }
    for (size_t i = 0; i < ncl; i++) {
        if (cl[i].fd < 0 || !cl[i].eof)
            continue;
        char *save = NULL;
        for (char *l = strtok_r(cl[i].buf ? cl[i].buf : (char[]){""}, "\n", &save); l;
             l = strtok_r(NULL, "\n", &save)) {
            owner[n] = i;
            if (reg_change_parse_request(&ch[n], ctx->cfg, l))
                run[m++] = &ch[n];
            n++;
        }
    }
    /* the valid ones, as one run */
    reg_conn_reset(&ctx->eng.conn);
    reg_apply(ctx, run, m, true);
    reg_conn_close(&ctx->eng.conn);
    vg_info("daemon: served %zu request(s) from the socket", n);
    for (size_t i = 0; i < ncl; i++) {
        if (cl[i].fd < 0 || !cl[i].eof)
            continue;
        /* replies are small; a client that does not read them within 5 s loses them */
        int fl = fcntl(cl[i].fd, F_GETFL);
        fcntl(cl[i].fd, F_SETFL, fl & ~O_NONBLOCK);
        struct timeval tv = {5, 0};
        setsockopt(cl[i].fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        for (size_t k = 0; k < n; k++) {
            if (owner[k] != i)
                continue;
            queued |= ch[k].result == REG_QUEUED;
            char line[VG_NAME_MAX + 1300];
            if (reg_change_reply(&ch[k], line, sizeof line) &&
                !write_all(cl[i].fd, line, strlen(line)))
                break;
        }
        client_drop(&cl[i]);
    }
    for (size_t k = 0; k < n; k++)
        reg_change_clear(&ch[k]);
    vg_free(ch);
    vg_free(run);
    vg_free(owner);
    return queued;
}

static int open_listener(const struct vg_config *cfg)
{
    struct sockaddr_un sun;
    socklen_t slen;
    if (!sock_path(cfg, &sun, &slen)) {
        vg_err("daemon: socket path under %s too long", cfg->state_dir);
        return -1;
    }
    unlink(sun.sun_path); /* we hold the lock: any socket there is stale */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    mode_t old = umask(0117);
    int rc = bind(fd, (struct sockaddr *)&sun, slen);
    umask(old);
    if (rc < 0 || listen(fd, 128) < 0) {
        vg_err("daemon: %s: %s", sun.sun_path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int reg_daemon_run(struct reg_ctx *ctx)
{
    const struct vg_config *cfg = ctx->cfg;
    char err[1024], lockpath[4200];
    struct client cl[MAX_CLIENTS];
    int code = REG_EXIT_ERROR, lfd = -1, lockfd = -1;

    for (size_t i = 0; i < MAX_CLIENTS; i++) {
        memset(&cl[i], 0, sizeof cl[i]);
        cl[i].fd = -1;
    }
    if (!vg_file_mkdirs(cfg->state_dir, err, sizeof err) ||
        !vg_file_mkdirs(ctx->journal_dir, err, sizeof err)) {
        vg_err("daemon: %s", err);
        return REG_EXIT_ERROR;
    }
    snprintf(lockpath, sizeof lockpath, "%s/daemon.lock", cfg->state_dir);
    lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) < 0) {
        vg_err("daemon: %s: %s", lockpath,
               errno == EWOULDBLOCK ? "another vmgate-reg daemon runs for this state-dir"
                                    : strerror(errno));
        goto done;
    }
    if ((lfd = open_listener(cfg)) < 0)
        goto done;

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);

    long long now = (long long)vg_now_ms();
    long long next_hb = now, next_replay = now, next_gc = cfg->gc_interval ? now + 1000 : -1;
    long long backoff = 1000, retry_max = (long long)cfg->retry_max * 1000;
    bool replay_pending = true;
    vg_notice("daemon: host %s, %zu zone(s), socket %s/reg.sock", ctx->eng.id.host, cfg->nzones,
              cfg->state_dir);

    while (!stop_signal) {
        now = (long long)vg_now_ms();
        /* timers */
        if (now >= next_hb) {
            reg_conn_reset(&ctx->eng.conn);
            enum reg_result r = reg_heartbeat(ctx, err, sizeof err);
            reg_conn_close(&ctx->eng.conn);
            if (r != REG_OK)
                vg_warn("daemon: heartbeat: %s: %s", reg_result_str(r), err);
            next_hb = now + (long long)cfg->heartbeat_interval * 1000;
        }
        if (replay_pending && now >= next_replay) {
            reg_conn_reset(&ctx->eng.conn);
            long left = reg_replay(ctx);
            reg_conn_close(&ctx->eng.conn);
            if (left > 0) {
                vg_info("daemon: %ld change(s) still queued; next try in %lld ms", left, backoff);
                next_replay = now + backoff;
                backoff = backoff * 2 > retry_max ? retry_max : backoff * 2;
            } else {
                replay_pending = left < 0;
                backoff = 1000;
                next_replay = now + backoff;
            }
        }
        if (next_gc >= 0 && now >= next_gc) {
            struct reg_outcomes gc = {0};
            reg_conn_reset(&ctx->eng.conn);
            int rc = reg_gc(ctx, false, &gc);
            if (rc != 0)
                vg_warn("daemon: gc ended with code %d", rc);
            reg_outcomes_free(&gc);
            reg_conn_close(&ctx->eng.conn);
            next_gc = now + (long long)cfg->gc_interval * 1000;
        }

        /* requests that are complete and have waited their coalescing window */
        long long first_ready = -1;
        for (size_t i = 0; i < MAX_CLIENTS; i++)
            if (cl[i].fd >= 0 && cl[i].eof && (first_ready < 0 || cl[i].ready_at < first_ready))
                first_ready = cl[i].ready_at;
        if (first_ready >= 0 && now >= first_ready + COALESCE_MS) {
            if (serve_ready(ctx, cl, MAX_CLIENTS) && !replay_pending) {
                replay_pending = true;
                next_replay = (long long)vg_now_ms() + backoff;
            }
            continue;
        }

        long long deadline = next_hb;
        if (replay_pending && next_replay < deadline)
            deadline = next_replay;
        if (next_gc >= 0 && next_gc < deadline)
            deadline = next_gc;
        if (first_ready >= 0 && first_ready + COALESCE_MS < deadline)
            deadline = first_ready + COALESCE_MS;
        long long wait = deadline - (long long)vg_now_ms();
        if (wait < 0)
            wait = 0;
        if (wait > 1000)
            wait = 1000;

        struct pollfd pfd[MAX_CLIENTS + 1];
        size_t map[MAX_CLIENTS + 1], np = 0;
        pfd[np].fd = lfd;
        pfd[np++].events = POLLIN;
        for (size_t i = 0; i < MAX_CLIENTS; i++) {
            if (cl[i].fd >= 0 && !cl[i].eof) {
                pfd[np].fd = cl[i].fd;
                pfd[np].events = POLLIN;
                map[np++] = i;
            }
        }
        int r = poll(pfd, np, (int)wait);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            vg_err("daemon: poll: %s", strerror(errno));
            break;
        }
        for (size_t k = 1; k < np; k++) {
            if (pfd[k].revents == 0)
                continue;
            struct client *c = &cl[map[k]];
            if (!client_read(c))
                client_drop(c);
        }
        if (pfd[0].revents & POLLIN) {
            for (;;) {
                int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0)
                    break;
                size_t i = 0;
                while (i < MAX_CLIENTS && cl[i].fd >= 0)
                    i++;
                if (i == MAX_CLIENTS) {
                    close(fd); /* the client falls back to acting directly */
                    continue;
                }
                cl[i].fd = fd;
                if (!client_read(&cl[i]))
                    client_drop(&cl[i]);
            }
        }
    }
    vg_notice("daemon: stopping (signal %d)", (int)stop_signal);
    code = REG_EXIT_OK;
done:
    for (size_t i = 0; i < MAX_CLIENTS; i++)
        if (cl[i].fd >= 0)
            client_drop(&cl[i]);
    if (lfd >= 0) {
        struct sockaddr_un sun;
        socklen_t slen;
        if (sock_path(cfg, &sun, &slen))
            unlink(sun.sun_path);
        close(lfd);
    }
    if (lockfd >= 0)
        close(lockfd);
    return code;
}
