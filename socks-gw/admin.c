/* admin — the admin socket: accept, check the peer, read one request line, dispatch, write the
 * reply, close.  The protocol (request grammar, reply shapes) is common/vg_admin's; the data
 * comes from the gateway's own interfaces (gw.h: the session table and reload; vmtable.h;
 * serial.h).  See admin.h for who may connect and the bounds. */
#include "admin.h"

#include "gw.h"
#include "serial.h"
#include "vmtable.h"

#include "vg_addr.h"
#include "vg_admin.h"
#include "vg_policy.h"
#include "vg_alloc.h"
#include "vg_chan.h"
#include "vg_log.h"
#include "vg_name.h"
#include "vg_time.h"
#include "vg_version.h"

#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define ADMIN_CLIENTS_MAX 16
#define ADMIN_TIMEOUT_S 10
#define ADMIN_REPLY_MAX (64u << 20)
#define ADMIN_DRAIN_S 2 /* after the reply: what the peer still sends is read for this long */
#define ADMIN_DEFAULT_DIR "/run/vmgate"

struct admin_client;

struct gw_admin {
    struct gw *g;
    int fd;
    struct event *ev, *pause;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct admin_client *clients;
    unsigned nclients;
    dev_t dev; /* the socket file we made: removed at close only if it is still that one */
    ino_t ino;
};

struct admin_client {
    struct admin_client *prev, *next;
    struct gw_admin *a;
    int fd;
    struct event *ev, *timer;
    struct ucred cred;
    char by[64]; /* "admin client uid U pid P", for the log */
    bool replying, draining;
    size_t len;
    uint8_t buf[VG_ADMIN_LINE_MAX];
    struct vg_admin_out out;
    size_t off;
};

static void client_free(struct admin_client *c)
{
    struct gw_admin *a = c->a;
    if (c->prev)
        c->prev->next = c->next;
    else
        a->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    a->nclients--;
    event_free(c->ev);
    event_free(c->timer);
    close(c->fd);
    vg_admin_out_free(&c->out);
    vg_free(c);
}

/* ---- who may use the socket --------------------------------------------------------------- */

static bool admin_gid(const struct gw *g, gid_t *gid)
{
    const char *name = g->cfg->admin_group;
    if (name == NULL || name[0] == '\0')
        return false;
    struct group gr, *res = NULL;
    char buf[16384];
    if (getgrnam_r(name, &gr, buf, sizeof buf, &res) != 0 || res == NULL)
        return false;
    *gid = gr.gr_gid;
    return true;
}

/* Is gid among the supplementary groups of process pid ("Groups:" of /proc/PID/status)?  -1 when
 * that cannot be read. */
static int proc_has_group(pid_t pid, gid_t gid)
{
    char path[64], line[4096];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "re");
    int found = -1;
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "Groups:", 7) != 0)
            continue;
        found = 0;
        for (char *p = line + 7, *end; *p; p = end) {
            unsigned long v = strtoul(p, &end, 10);
            if (end == p)
                break;
            if ((gid_t)v == gid)
                found = 1;
        }
        break;
    }
    fclose(f);
    return found;
}

static bool user_has_group(uid_t uid, gid_t pgid, gid_t gid)
{
    struct passwd pw, *res = NULL;
    char buf[16384];
    gid_t groups[256];
    int n = 256;
    if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) != 0 || res == NULL)
        return false;
    if (getgrouplist(pw.pw_name, pgid, groups, &n) < 0)
        return false;
    for (int i = 0; i < n; i++)
        if (groups[i] == gid)
            return true;
    return false;
}

static bool peer_allowed(const struct gw *g, const struct ucred *cr)
{
    gid_t gid;
    if (cr->uid == 0 || cr->uid == geteuid())
        return true;
    if (!admin_gid(g, &gid))
        return false;
    if (cr->gid == gid)
        return true;
    int r = proc_has_group(cr->pid, gid);
    return r == 1 || (r < 0 && user_has_group(cr->uid, cr->gid, gid));
}

/* ---- commands ------------------------------------------------------------------------------ */

static const char *client_text(const struct gw_session_info *s, char *buf, size_t len)
{
    if (s->client)
        return s->client;
    if (s->peer->sa_family == AF_UNIX)
        return "-";
    return vg_sockaddr_format(s->peer, true, buf, len);
}

static bool matches(const struct vg_admin_req *rq, const struct gw_session_info *s)
{
    if (rq->user[0] && (s->user == NULL || strcmp(rq->user, s->user) != 0))
        return false;
    if (rq->vm[0] && strcmp(rq->vm, s->vm) != 0)
        return false;
    if (rq->nids == 0)
        return true;
    for (unsigned i = 0; i < rq->nids; i++)
        if (rq->ids[i] == s->id)
            return true;
    return false;
}

struct list_ctx {
    const struct vg_admin_req *rq;
    struct vg_admin_out *out;
    bool first;
};

static bool list_one(const struct gw_session_info *s, void *arg)
{
    struct list_ctx *l = arg;
    char client[VG_ADDRSTRLEN], as[VG_NAME_MAX + 16];
    if (!matches(l->rq, s))
        return true;
    struct vg_admin_session r = {
        .id = s->id,
        .user = s->user,
        .groups = s->groups,
        .client = client_text(s, client, sizeof client),
        .vm = s->vm,
        .channel = s->channel,
        .front = s->front,
        .state = s->state,
        .port = s->port,
        .started = s->started,
        .bytes_up = s->bytes_up,
        .bytes_down = s->bytes_down,
        .idle_s = s->idle_s,
    };
    if (s->agent_session) {
        snprintf(as, sizeof as, "%s#%" PRIu32, s->vm, s->agent_session);
        r.agent_session = as;
    }
    vg_admin_reply_session(l->out, &r, l->first);
    l->first = false;
    return !l->out->over;
}

static bool kill_match(const struct gw_session_info *s, void *arg)
{
    return matches(arg, s);
}

struct vm_row {
    char name[VG_NAME_MAX + 1];
    char channel[VG_SOCK_PATH_MAX + 16];
    char err[300];
    bool broken, serial;
    unsigned sessions;
    struct gw_serial_info si;
};

struct vm_ctx {
    struct vm_row *rows;
    size_t n, cap;
    bool oom;
};

static void vm_one(const char *name, enum vg_vm_status st, const struct vg_vm *vm, const char *err,
                   void *arg)
{
    struct vm_ctx *v = arg;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        struct vm_row *rows = vg_realloc(v->rows, cap * sizeof *rows);
        if (rows == NULL) {
            v->oom = true;
            return;
        }
        v->rows = rows;
        v->cap = cap;
    }
    struct vm_row *r = &v->rows[v->n++];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    r->broken = st != VG_VM_OK;
    if (r->broken) {
        snprintf(r->err, sizeof r->err, "%s", err);
        return;
    }
    if (vg_chan_format(&vm->chan, r->channel, sizeof r->channel) == NULL)
        r->channel[0] = '\0';
    if (vm->chan.kind == VG_CHAN_SERIAL) {
        r->serial = true;
        gw_serial_info(vm->chan.path, &r->si);
    }
}

static int row_cmp(const void *a, const void *b)
{
    return strcmp(((const struct vm_row *)a)->name, ((const struct vm_row *)b)->name);
}

static bool vm_count(const struct gw_session_info *s, void *arg)
{
    struct vm_ctx *v = arg;
    struct vm_row key;
    if (s->vm[0] == '\0')
        return true;
    snprintf(key.name, sizeof key.name, "%s", s->vm);
    struct vm_row *r = bsearch(&key, v->rows, v->n, sizeof *v->rows, row_cmp);
    if (r)
        r->sessions++;
    return true;
}

static void cmd_vms(struct gw *g, struct vg_admin_out *out)
{
    struct vm_ctx v = {0};
    if (g->vmt)
        vg_vmtable_foreach(g->vmt, vm_one, &v);
    if (v.oom) {
        vg_free(v.rows);
        vg_admin_reply_error(out, "out of memory");
        return;
    }
    if (v.n > 1)
        qsort(v.rows, v.n, sizeof *v.rows, row_cmp);
    gw_sessions_foreach(g, vm_count, &v);
    vg_admin_reply_list_begin(out, "vms");
    for (size_t i = 0; i < v.n; i++) {
        const struct vm_row *r = &v.rows[i];
        char as[VG_NAME_MAX + 16];
        struct vg_admin_vm o = {.name = r->name,
                                .channel = r->broken ? NULL : r->channel,
                                .status = r->broken ? "broken" : "ok",
                                .error = r->broken ? r->err : NULL,
                                .sessions = r->sessions};
        if (r->serial) {
            o.agent = r->si.up ? "up" : "down";
            o.agent_version = r->si.agent_version[0] ? r->si.agent_version : NULL;
            o.streams = r->si.streams;
            if (r->si.up) {
                snprintf(as, sizeof as, "%s#%" PRIu32, r->name, r->si.gen);
                o.agent_session = as;
            }
        }
        vg_admin_reply_vm(out, &o, i == 0);
    }
    vg_admin_reply_list_end(out);
    vg_free(v.rows);
}

static bool stats_one(const struct gw_session_info *s, void *arg)
{
    struct vg_admin_stats *st = arg;
    for (unsigned i = 0; i < st->nstates; i++)
        if (strcmp(st->state_names[i], s->state) == 0)
            st->state_counts[i]++;
    return true;
}

static void cmd_stats(struct gw *g, struct vg_admin_out *out)
{
    struct vg_admin_stats st = {.version = VMGATE_VERSION,
                                .uptime_s = (vg_now_ns() - g->t_start) / 1000000000u,
                                .connections = g->nconns,
                                .max_connections = g->cfg->max_connections,
                                .guest_streams = g->nguest,
                                .serial_sessions = gw_serial_count()};
    const char *name;
    while (st.nstates < 8 && (name = gw_conn_state_name(st.nstates)) != NULL)
        st.state_names[st.nstates++] = name;
    gw_sessions_foreach(g, stats_one, &st);
    vg_admin_reply_stats(out, &st);
}

/* policy test USER VM PORT [--from ADDR]: the verdict of the running policy. */
static void cmd_policy_test(struct gw *g, const struct vg_admin_req *rq, struct vg_admin_out *out)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    struct vg_verdict v;
    if (g->policy == NULL) {
        vg_admin_reply_error(out, "no policy-file configured (every authenticated client may "
                                  "reach every VM of the table)");
        return;
    }
    if (rq->from[0] && !vg_sockaddr_parse(rq->from, 1, &ss, &sl)) {
        vg_admin_reply_error(out, "--from: not an IP address");
        return;
    }
    gw_policy_test(g, rq->user, rq->vm, rq->port, rq->from[0] ? (struct sockaddr *)&ss : NULL, &v);
    vg_admin_reply_verdict(out, v.allow, v.line, v.rule);
}

static void dispatch(struct admin_client *c, const struct vg_admin_req *rq)
{
    struct gw *g = c->a->g;
    struct vg_admin_out *out = &c->out;
    char err[512];
    switch (rq->cmd) {
    case VG_ADM_SESSIONS: {
        struct list_ctx l = {rq, out, true};
        vg_admin_reply_list_begin(out, "sessions");
        gw_sessions_foreach(g, list_one, &l);
        vg_admin_reply_list_end(out);
        return;
    }
    case VG_ADM_KILL: {
        unsigned n = gw_sessions_kill(g, kill_match, (void *)rq, c->by);
        vg_notice("admin: %s: kill: %u session(s) ended", c->by, n);
        vg_admin_reply_count(out, "killed", n);
        return;
    }
    case VG_ADM_VMS:
        cmd_vms(g, out);
        return;
    case VG_ADM_STATS:
        cmd_stats(g, out);
        return;
    case VG_ADM_RELOAD:
        vg_notice("admin: %s: reload%s", c->by, rq->enforce ? " --enforce" : "");
        if (!gw_reload(g, c->by, err, sizeof err)) {
            vg_admin_reply_error(out, err);
            return;
        }
        if (rq->enforce) {
            char by[sizeof c->by + 32];
            snprintf(by, sizeof by, "%s (reload --enforce)", c->by);
            vg_admin_reply_count(out, "ended", gw_sessions_enforce(g, by));
        } else {
            vg_admin_reply_ok(out);
        }
        return;
    case VG_ADM_POLICY_TEST:
        cmd_policy_test(g, rq, out);
        return;
    }
    vg_admin_reply_error(out, "unknown command");
}

/* ---- one connection ------------------------------------------------------------------------ */

/* The reply is out: half-close, and read what the peer still sends until its EOF (or
 * ADMIN_DRAIN_S), so that closing with unread bytes does not destroy the reply (a unix socket's
 * peer gets ECONNRESET then, and loses what it did not read yet). */
static void on_client_drain(evutil_socket_t fd, short what, void *arg)
{
    struct admin_client *c = arg;
    uint8_t sink[16384];
    for (;;) {
        ssize_t n = recv(fd, sink, sizeof sink, 0);
        if (n > 0)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        client_free(c);
        return;
    }
}

static void start_drain(struct admin_client *c)
{
    struct timeval tv = {ADMIN_DRAIN_S, 0};
    shutdown(c->fd, SHUT_WR);
    c->draining = true;
    event_del(c->ev);
    event_assign(c->ev, c->a->g->base, c->fd, EV_READ | EV_PERSIST, on_client_drain, c);
    event_add(c->ev, NULL);
    event_add(c->timer, &tv);
}

static void on_client_write(evutil_socket_t fd, short what, void *arg)
{
    struct admin_client *c = arg;
    while (c->off < c->out.len) {
        ssize_t n = send(c->fd, c->out.p + c->off, c->out.len - c->off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return; /* EV_WRITE | EV_PERSIST brings us back */
        if (n < 0) {
            client_free(c);
            return;
        }
        c->off += (size_t)n;
    }
    start_drain(c);
}

static void reply(struct admin_client *c)
{
    if (c->out.over) {
        vg_admin_out_reset(&c->out);
        c->out.over = false;
        c->out.max = 256;
        vg_admin_reply_error(&c->out, "reply too large (narrow it with --user or --vm)");
    }
    c->replying = true;
    event_del(c->ev);
    event_assign(c->ev, c->a->g->base, c->fd, EV_WRITE | EV_PERSIST, on_client_write, c);
    event_add(c->ev, NULL);
    on_client_write(c->fd, EV_WRITE, c);
}

static void reply_error(struct admin_client *c, const char *text)
{
    vg_admin_out_reset(&c->out);
    vg_admin_reply_error(&c->out, text);
    reply(c);
}

static void on_client_read(evutil_socket_t fd, short what, void *arg)
{
    struct admin_client *c = arg;
    char err[256];
    struct vg_admin_req *rq = NULL;
    size_t used = 0;
    ssize_t n = recv(fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n < 0) {
        client_free(c);
        return;
    }
    if (n == 0) {
        reply_error(c, "incomplete request line (no newline before the end)");
        return;
    }
    c->len += (size_t)n;
    if ((rq = vg_malloc(sizeof *rq)) == NULL) {
        reply_error(c, "out of memory");
        return;
    }
    switch (vg_admin_parse_request(c->buf, c->len, rq, &used, err, sizeof err)) {
    case VG_P_NEED_MORE:
        if (c->len == sizeof c->buf) /* cannot happen: the parser refuses a full buffer */
            reply_error(c, "request line too long");
        break;
    case VG_P_ERROR:
        vg_info("admin: %s: refused request: %s", c->by, err);
        reply_error(c, err);
        break;
    case VG_P_OK:
        vg_debug("admin: %s: %s", c->by, vg_admin_cmd_name(rq->cmd));
        dispatch(c, rq);
        reply(c);
        break;
    }
    vg_free(rq);
}

static void on_client_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct admin_client *c = arg;
    if (!c->draining)
        vg_info("admin: %s: %s within %d s: closed", c->by,
                c->replying ? "reply not taken" : "no request line", ADMIN_TIMEOUT_S);
    client_free(c);
}

static void on_pause_end(evutil_socket_t fd, short what, void *arg)
{
    struct gw_admin *a = arg;
    event_add(a->ev, NULL);
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
    struct gw_admin *a = arg;
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            struct timeval tv = {1, 0};
            vg_warn("admin: accept: %s; pausing for 1 s", strerror(errno));
            event_del(a->ev);
            event_add(a->pause, &tv);
        }
        return;
    }
    struct ucred cr;
    socklen_t crlen = sizeof cr;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) != 0) {
        close(fd);
        return;
    }
    bool denied = !peer_allowed(a->g, &cr);
    if (denied)
        vg_notice("admin: uid %ld pid %ld refused: not root nor in admin-group", (long)cr.uid,
                  (long)cr.pid);
    struct admin_client *c = NULL;
    if (a->nclients >= ADMIN_CLIENTS_MAX || (c = vg_calloc(1, sizeof *c)) == NULL) {
        vg_warn("admin: %u connections open: one more closed", a->nclients);
        close(fd);
        return;
    }
    c->a = a;
    c->fd = fd;
    c->cred = cr;
    snprintf(c->by, sizeof c->by, "admin client uid %ld pid %ld", (long)cr.uid, (long)cr.pid);
    vg_admin_out_init(&c->out, ADMIN_REPLY_MAX);
    c->ev = event_new(a->g->base, fd, EV_READ | EV_PERSIST, on_client_read, c);
    c->timer = evtimer_new(a->g->base, on_client_timeout, c);
    if (c->ev == NULL || c->timer == NULL) {
        if (c->ev)
            event_free(c->ev);
        if (c->timer)
            event_free(c->timer);
        vg_free(c);
        close(fd);
        return;
    }
    c->next = a->clients;
    if (a->clients)
        a->clients->prev = c;
    a->clients = c;
    a->nclients++;
    struct timeval tv = {ADMIN_TIMEOUT_S, 0};
    event_add(c->timer, &tv);
    event_add(c->ev, NULL);
    if (denied)
        reply_error(c, "permission denied");
}

/* ---- the socket ---------------------------------------------------------------------------- */

static void apply_group(struct gw_admin *a)
{
    gid_t gid = 0;
    const char *name = a->g->cfg->admin_group;
    if (name && name[0] && !admin_gid(a->g, &gid)) {
        vg_err("admin: admin-group '%s': no such group; only root may use %s", name, a->path);
        gid = 0;
    }
    if (chown(a->path, geteuid(), gid) != 0 || chmod(a->path, 0660) != 0)
        vg_warn("admin: chown/chmod %s: %s", a->path, strerror(errno));
}

/* Make room for our socket at path: true when nothing is there (any more). */
static bool clear_path(const char *path, const struct sockaddr_un *sun)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT;
    if (!S_ISSOCK(st.st_mode)) {
        vg_err("admin: %s exists and is not a socket: not replacing it", path);
        return false;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (const struct sockaddr *)sun, sizeof *sun) == 0) {
        close(fd);
        vg_err("admin: %s: another gateway listens there: running without an admin socket", path);
        return false;
    }
    if (fd >= 0)
        close(fd);
    if (unlink(path) != 0 && errno != ENOENT) {
        vg_err("admin: cannot remove the stale socket %s: %s", path, strerror(errno));
        return false;
    }
    return true;
}

struct gw_admin *gw_admin_open(struct gw *g)
{
    const char *path = g->cfg->admin_socket;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (path == NULL || path[0] == '\0') {
        vg_info("admin: no admin-socket configured");
        return NULL;
    }
    if (strlen(path) >= sizeof sun.sun_path || path[0] != '/') {
        vg_err("admin: admin-socket %s: not an absolute path shorter than %zu bytes", path,
               sizeof sun.sun_path);
        return NULL;
    }
    memcpy(sun.sun_path, path, strlen(path) + 1);
    if (strcmp(path, VG_ADMIN_SOCKET_DEFAULT) == 0 && mkdir(ADMIN_DEFAULT_DIR, 0755) != 0 &&
        errno != EEXIST) {
        vg_err("admin: cannot create %s: %s: running without an admin socket", ADMIN_DEFAULT_DIR,
               strerror(errno));
        return NULL;
    }
    if (!clear_path(path, &sun))
        return NULL;
    struct gw_admin *a = vg_calloc(1, sizeof *a);
    if (a == NULL) {
        vg_err("admin: out of memory: running without an admin socket");
        return NULL;
    }
    a->g = g;
    memcpy(a->path, path, strlen(path) + 1);
    a->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (a->fd < 0)
        goto fail;
    mode_t old = umask(0117); /* the socket is 0660 from its first moment */
    int rc = bind(a->fd, (struct sockaddr *)&sun, sizeof sun);
    umask(old);
    if (rc != 0)
        goto fail;
    struct stat st;
    if (lstat(path, &st) == 0) {
        a->dev = st.st_dev;
        a->ino = st.st_ino;
    }
    apply_group(a);
    a->ev = event_new(g->base, a->fd, EV_READ | EV_PERSIST, on_accept, a);
    a->pause = evtimer_new(g->base, on_pause_end, a);
    if (listen(a->fd, 64) != 0 || a->ev == NULL || a->pause == NULL ||
        event_add(a->ev, NULL) != 0) {
        vg_err("admin: %s: %s: running without an admin socket", path, strerror(errno));
        gw_admin_close(a); /* removes the socket file */
        return NULL;
    }
    vg_notice("admin: listening on %s%s%s", path, g->cfg->admin_group ? ", group " : "",
              g->cfg->admin_group ? g->cfg->admin_group : "");
    return a;
fail:
    vg_err("admin: %s: %s: running without an admin socket", path, strerror(errno));
    if (a->fd >= 0)
        close(a->fd);
    vg_free(a);
    return NULL;
}

void gw_admin_reconfigure(struct gw *g)
{
    if (g->admin)
        apply_group(g->admin);
}

void gw_admin_close(struct gw_admin *a)
{
    if (a == NULL)
        return;
    while (a->clients)
        client_free(a->clients);
    if (a->ev)
        event_free(a->ev);
    if (a->pause)
        event_free(a->pause);
    close(a->fd);
    struct stat st;
    if (lstat(a->path, &st) == 0 && st.st_dev == a->dev && st.st_ino == a->ino)
        unlink(a->path);
    vg_free(a);
}
