/* conn — one client connection from accept to relay: the front's handshake (front.h), policy
 * and VM lookup, the channel open (channel.h), the answer, then the relay.
 *
 * The handshake reads into one small buffer and runs the front's pure parsers over it, so split
 * and pipelined input work; bytes the client sent after its request are delivered upstream
 * first.  A refused request gets its answer, then the connection is half-closed and drained
 * briefly so the client reads the answer instead of a reset.
 */
#include "auth.h"
#include "channel.h"
#include "front.h"
#include "gw.h"
#include "metrics.h"
#include "serial.h"
#include "tls.h"
#include "users.h"
#include "vmtable.h"

#include "vg_alloc.h"
#include "vg_audit.h"
#include "vg_log.h"
#include "vg_mux.h"
#include "vg_mux_bridge.h"
#include "vg_name.h"
#include "vg_policy.h"
#include "vg_socks.h"
#include "vg_time.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LINGER_SECS 2 /* after a refusal: how long to drain the client before closing */

/* The states, and what is live in each (the rest is NULL / -1 / 0):
 *   TLS        fd, tls (= io.tls); ev waiting on fd for the TLS handshake; timer = handshake
 *              deadline; buf allocated, empty
 *   HANDSHAKE  fd; ev reading fd; timer = handshake deadline; buf[0..len) of cap; io; tls if
 *              the client speaks TLS
 *   AUTH       fd; ev allocated, not added; timer = handshake deadline; buf[0..len) = bytes
 *              after the credentials; auth = the password check (auth.h); held = the request
 *              as the front parsed it, password wiped; io; tls
 *   OPENING    fd; ev allocated, not added (later bytes wait in the socket); open; timer = the
 *              channel's deadline; buf[0..len) = bytes pipelined after the request; io.user
 *   RELAY      relay (socket upstream) or bridge (stream upstream), which own fd and tls; both
 *              for a TLS client on a stream (relay: client <-> socketpair <-> bridge: stream),
 *              the connection ends when both are done; ev idle; timer = max-duration, if any;
 *              active (counted in the metrics)
 *   LINGER     fd, write side shut; ev draining fd; timer = linger deadline
 * name/port are set from the request on (name "" until it is valid). */
enum state { ST_TLS, ST_HANDSHAKE, ST_AUTH, ST_OPENING, ST_RELAY, ST_LINGER };

struct gw_conn {
    struct gw_conn *prev, *next;
    struct gw *g;
    const struct gw_front_ops *front;
    enum state st;
    int fd;
    SSL *tls;
    struct sockaddr_storage peer;
    struct event *ev;
    struct event *timer;
    uint8_t *buf;
    size_t len, cap;
    struct gw_front_io io;
    char name[VG_NAME_MAX + 1];
    uint16_t port;
    struct gw_auth_job *auth;
    struct gw_request *held;
    struct gw_open *open;
    struct gw_relay *relay;
    struct vg_mux_bridge *bridge;
    bool tls_bridge;               /* RELAY: a TLS client on a stream (relay + bridge) */
    uint64_t up_bytes, down_bytes; /* then: what the relay counted, once it is done */
    uint64_t t0;                   /* vg_now_ns() at accept */
    char ident[80];
    char hop_host[128];           /* a client certificate named this fleet host ("" if none) */
    char origin[VG_NAME_MAX + 1]; /* guest-originated: the VM the stream comes from */
    /* the session table (gw_sessions_foreach): */
    uint64_t id;           /* the number in ident */
    int64_t started;       /* wall clock at accept */
    const char *chan_kind; /* from OPENING on: vg_chan_kind_name, or "forward" */
    uint32_t agent_gen;    /* RELAY over serial: gw_serial_session_of */
    /* policy and accounting: */
    char *rule;               /* the deciding policy rule ("line N: …"), or NULL */
    unsigned idle_s, max_s;   /* effective idle-timeout and max-duration (0 = none) */
    enum gw_mchan mchan;      /* the channel kind, from OPENING on */
    bool tls_client;          /* the client spoke TLS (listen-https, a hop, a front) */
    bool active;              /* counted in vmgate_sessions_active: RELAY, not yet ended */
    struct gw_user_count *uc; /* counted against the user's max-sessions */
    uint64_t t_req;           /* vg_now_ns() when the request was known */
};

/* ---- accounting: audit log, metrics, sessions per user --------------------------------------- */

/* Live sessions per user (by name; anonymous ones by client address), for max-sessions. */
struct gw_user_count {
    struct gw_user_count *next;
    unsigned n;
    char key[];
};

static unsigned ucount_bucket(const char *key)
{
    unsigned h = 2166136261u;
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h % GW_UCOUNT_BUCKETS;
}

static struct gw_user_count *ucount_find(struct gw *g, const char *key, bool create)
{
    unsigned b = ucount_bucket(key);
    for (struct gw_user_count *u = g->ucounts[b]; u; u = u->next)
        if (strcmp(u->key, key) == 0)
            return u;
    if (!create)
        return NULL;
    size_t n = strlen(key) + 1;
    struct gw_user_count *u = vg_calloc(1, sizeof *u + n);
    if (u == NULL)
        return NULL;
    memcpy(u->key, key, n);
    u->next = g->ucounts[b];
    g->ucounts[b] = u;
    return u;
}

static void ucount_release(struct gw *g, struct gw_user_count *uc)
{
    if (uc == NULL || --uc->n > 0)
        return;
    for (struct gw_user_count **pp = &g->ucounts[ucount_bucket(uc->key)]; *pp; pp = &(*pp)->next)
        if (*pp == uc) {
            *pp = uc->next;
            vg_free(uc);
            return;
        }
}

static enum gw_mfront mfront_of(const struct gw_conn *c)
{
    if (c->front == &gw_front_guest)
        return GW_MF_GUEST;
    if (c->io.hop)
        return GW_MF_HOP;
    if (c->front == &gw_front_http)
        return c->tls_client ? GW_MF_HTTPS : GW_MF_HTTP;
    return GW_MF_SOCKS5;
}

static enum gw_mchan mchan_of(const struct vg_vm *vm)
{
    if (vm == NULL)
        return GW_MC_FORWARD;
    switch (vm->chan.kind) {
    case VG_CHAN_VSOCK:
        return GW_MC_VSOCK;
    case VG_CHAN_VSOCK_MUX:
        return GW_MC_VSOCK_MUX;
    case VG_CHAN_SERIAL:
        return GW_MC_SERIAL;
    case VG_CHAN_TCP:
        break;
    }
    return GW_MC_TCP;
}

/* The person's client address as the audit log and the policy see it: a hop's stated one, the
 * VM a guest stream comes from ("vm:NAME"), or the peer (ADDR:PORT in the audit log, the bare
 * address as the key of per-address limits). */
static const char *client_text(const struct gw_conn *c, bool with_port, char *buf, size_t cap)
{
    if (c->origin[0])
        snprintf(buf, cap, "vm:%s", c->origin);
    else if (c->io.hop)
        snprintf(buf, cap, "%s", c->io.hop->client);
    else
        vg_sockaddr_format((const struct sockaddr *)&c->peer, with_port, buf, cap);
    return buf;
}

static void audit(struct gw_conn *c, enum vg_audit_kind k, const char *user, const char *reason,
                  const char *by, uint64_t up, uint64_t down)
{
    if (c->g->audit == NULL)
        return;
    char client[VG_NAME_MAX + 8];
    struct vg_audit_event ev = {.kind = k,
                                .id = c->id,
                                .user = user,
                                .client = client_text(c, true, client, sizeof client),
                                .vm = c->name[0] ? c->name : NULL,
                                .port = c->port,
                                .front = gw_metrics_front_name(mfront_of(c)),
                                .via = c->hop_host[0] ? c->hop_host : NULL,
                                .rule = c->rule,
                                .reason = reason,
                                .by = by,
                                .bytes_up = up,
                                .bytes_down = down,
                                .duration_s = vg_secs_since(c->t0)};
    vg_audit_emit(c->g->audit, &ev);
}

static void session_bytes(const struct gw_conn *c, uint64_t *up, uint64_t *down);

/* The session is over (relay done, killed, max-duration, closed): one session.end or
 * session.killed line and the metrics, once. */
static void session_over(struct gw_conn *c, enum vg_audit_kind k, const char *reason,
                         const char *by, uint64_t up, uint64_t down)
{
    if (!c->active)
        return;
    c->active = false;
    gw_metrics_session_end(mfront_of(c), c->mchan, up, down);
    audit(c, k, c->io.user, reason, by, up, down);
}

static void drop_auth(struct gw_conn *c)
{
    if (c->auth)
        gw_auth_cancel(c->auth);
    c->auth = NULL;
    if (c->held)
        explicit_bzero(c->held, sizeof *c->held);
    vg_free(c->held);
    c->held = NULL;
}

static void conn_free(struct gw_conn *c)
{
    struct gw *g = c->g;
    if (c->active) {
        uint64_t up, down;
        session_bytes(c, &up, &down);
        session_over(c, VG_AUDIT_SESSION_END, "closed", NULL, up, down);
    }
    ucount_release(g, c->uc);
    vg_free(c->rule);
    drop_auth(c);
    if (c->ev)
        event_free(c->ev);
    if (c->timer)
        event_free(c->timer);
    if (c->open)
        gw_chan_cancel(c->open);
    if (c->bridge)
        vg_mux_bridge_free(c->bridge); /* closes the client socket (or the socketpair's end) */
    if (c->relay)
        gw_relay_abort(c->relay); /* closes both sockets and the TLS session */
    gw_tls_session_free(c->tls);
    if (c->fd >= 0)
        close(c->fd);
    vg_free(c->buf);
    vg_free(c->io.user);
    vg_free(c->io.hop);
    if (c->prev)
        c->prev->next = c->next;
    else
        g->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    gw_client_release(g, (struct sockaddr *)&c->peer);
    vg_free(c);
    gw_conn_closed(g);
}

static void arm_timer(struct gw_conn *c, unsigned secs)
{
    struct timeval tv = {(time_t)secs, 0};
    event_add(c->timer, &tv);
}

/* Answers are a few bytes on a socket whose send buffer is empty. */
static bool send_small(struct gw_conn *c, const void *p, size_t n)
{
    return gw_io_send_small(c->fd, c->tls, p, n);
}

/* ---- closing ------------------------------------------------------------------------------ */

static void on_linger_read(evutil_socket_t fd, short what, void *arg)
{
    struct gw_conn *c = arg;
    uint8_t sink[4096];
    ssize_t n = recv(fd, sink, sizeof sink, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        conn_free(c);
}

/* Answer already sent (or nothing to send): stop writing, drain what the client still sends for
 * a moment so that the answer is not destroyed by a reset, then close. */
static void linger_close(struct gw_conn *c)
{
    c->st = ST_LINGER;
    drop_auth(c);
    if (c->open) {
        gw_chan_cancel(c->open);
        c->open = NULL;
    }
    vg_free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
    gw_io_shut_wr(c->fd, c->tls);
    event_del(c->ev);
    event_assign(c->ev, c->g->base, c->fd, EV_READ | EV_PERSIST, on_linger_read, c);
    event_add(c->ev, NULL);
    arm_timer(c, LINGER_SECS);
}

/* Refuse the request with what the front says for outcome o (the table of vg_outcome.c). */
static void refuse(struct gw_conn *c, enum vg_outcome o, const char *why)
{
    char out[600], what[64];
    send_small(c, out, c->front->refusal(o, why, out, sizeof out));
    c->front->describe(o, what, sizeof what);
    VG_CLOG(VG_LOG_INFO, c->ident, "refused %s:%u: %s (%s)", c->name[0] ? c->name : "-", c->port,
            why, what);
    gw_metrics_refused(o);
    audit(c, VG_AUDIT_SESSION_REFUSED, c->io.user, why, NULL, 0, 0);
    linger_close(c);
}

/* ---- relay -------------------------------------------------------------------------------- */

static void log_closed(struct gw_conn *c, uint64_t up, uint64_t down, const char *why)
{
    VG_CLOG(VG_LOG_INFO, c->ident, "closed %s:%u after %.3f s: %llu bytes up, %llu down%s%s",
            c->name, c->port, vg_secs_since(c->t0), (unsigned long long)up,
            (unsigned long long)down, why ? ": " : "", why ? why : "");
    session_over(c, VG_AUDIT_SESSION_END, why ? why : "closed", NULL, up, down);
}

static void on_relay_done(void *arg, uint64_t up, uint64_t down, const char *why)
{
    struct gw_conn *c = arg;
    c->relay = NULL; /* it closed its sockets and the TLS session */
    if (c->tls_bridge && c->bridge && !why) {
        /* the bridge still delivers to the stream; it ends too, its socket's peer is closed */
        c->up_bytes = up;
        c->down_bytes = down;
        return;
    }
    log_closed(c, up, down, why);
    conn_free(c);
}

static void on_bridge_done(struct vg_mux_bridge *b, uint64_t up, uint64_t down, const char *err,
                           void *arg)
{
    struct gw_conn *c = arg;
    if (c->tls_bridge) {
        vg_mux_bridge_free(c->bridge); /* closes its end of the socketpair */
        c->bridge = NULL;
        if (c->relay && !err)
            return; /* the relay ends once it has delivered the rest to the client */
        if (c->relay == NULL) {
            up = c->up_bytes; /* the relay counted the client's bytes */
            down = c->down_bytes;
        }
    }
    log_closed(c, up, down, err);
    conn_free(c); /* frees the bridge, which closes the client socket */
}

/* A TLS client on a stream: the relay takes TLS off into one end of a socketpair, the bridge
 * puts the other end on the stream.  False (everything closed) on failure. */
static bool start_tls_bridge(struct gw_conn *c, int fd, struct gw_upstream *up)
{
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) != 0) {
        gw_upstream_close(up);
        close(fd);
        return false;
    }
    c->bridge = vg_mux_bridge_new(c->g->base, sp[1], up->stream, on_bridge_done, c);
    if (c->bridge == NULL) {
        close(sp[1]);
        close(sp[0]);
        gw_upstream_close(up);
        close(fd);
        return false;
    }
    SSL *tls = c->tls;
    c->tls = NULL;
    c->tls_bridge = true;
    c->relay = gw_relay_start(c->g->base, fd, tls, sp[0], NULL, GW_RELAY_CLIENT_TCP, NULL, 0,
                              c->idle_s, on_relay_done, c);
    return c->relay != NULL;
}

/* The channel is open: answer the client, then relay a socket or bridge a stream — the one
 * place that tells the two apart. */
static void on_open_done(void *arg, struct gw_upstream *up, enum vg_outcome out, const char *why)
{
    struct gw_conn *c = arg;
    struct gw *g = c->g;
    char ok[300];
    c->open = NULL;
    if (up == NULL) {
        refuse(c, out, why);
        return;
    }
    const struct sockaddr *bnd = up->bnd.ss_family ? (const struct sockaddr *)&up->bnd : NULL;
    if (!send_small(c, ok, c->front->success(bnd, ok, sizeof ok))) {
        VG_CLOG(VG_LOG_INFO, c->ident, "client went away before the answer");
        gw_upstream_close(up);
        conn_free(c);
        return;
    }
    char who[1024] = "";
    if (c->io.hop)
        snprintf(who, sizeof who, " hop from %s for %s%s client %s%s%s", c->hop_host,
                 c->io.user ? "user " : "", c->io.user ? c->io.user : "anonymous",
                 c->io.hop->client[0] ? c->io.hop->client : "-", c->io.hop->vm[0] ? " vm " : "",
                 c->io.hop->vm);
    else if (c->io.user)
        snprintf(who, sizeof who, " user %s", c->io.user);
    VG_CLOG(VG_LOG_INFO, c->ident, "CONNECT %s:%u via %s%s%s in %.3f s", c->name, c->port, up->via,
            who, c->tls ? " (client TLS)" : "", vg_secs_since(c->t0));
    gw_metrics_connect_seconds(vg_secs_since(c->t_req));
    gw_metrics_session_start(mfront_of(c), c->mchan);
    c->active = true;
    audit(c, VG_AUDIT_SESSION_START, c->io.user, NULL, NULL, 0, 0);
    event_free(c->ev);
    c->ev = NULL;
    event_del(c->timer);
    if (c->max_s)
        arm_timer(c, c->max_s); /* max-duration of the rule that allowed it */
    c->st = ST_RELAY;
    int fd = c->fd;
    c->fd = -1;
    if (up->stream) {
        c->agent_gen = gw_serial_session_of(up->stream);
        /* bytes pipelined after the request go first */
        if (c->len > 0 && vg_mux_stream_write(up->stream, c->buf, c->len) != 0) {
            gw_upstream_close(up);
            close(fd);
            conn_free(c);
            return;
        }
        vg_free(c->buf);
        c->buf = NULL;
        c->len = c->cap = 0;
        if (c->tls) {
            if (!start_tls_bridge(c, fd, up)) {
                VG_CLOG(VG_LOG_WARN, c->ident, "cannot start the serial relay");
                conn_free(c);
            }
            return;
        }
        c->bridge = vg_mux_bridge_new(g->base, fd, up->stream, on_bridge_done, c);
        if (c->bridge && vg_mux_bridge_set_idle(c->bridge, c->idle_s) != 0) {
            vg_mux_bridge_free(c->bridge); /* closes fd, resets the stream */
            c->bridge = NULL;
            VG_CLOG(VG_LOG_WARN, c->ident, "cannot start the serial relay");
            conn_free(c);
            return;
        }
        if (c->bridge == NULL) {
            VG_CLOG(VG_LOG_WARN, c->ident, "cannot start the serial relay");
            gw_upstream_close(up);
            close(fd);
            conn_free(c);
        }
        return;
    }
    /* the relay takes the pipelined bytes and delivers them first */
    uint8_t *pending = c->len ? c->buf : NULL;
    size_t plen = c->len;
    if (pending == NULL)
        vg_free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
    unsigned flags =
        (c->front != &gw_front_guest ? GW_RELAY_CLIENT_TCP : 0) | (up->tcp ? GW_RELAY_UP_TCP : 0);
    SSL *tls = c->tls;
    c->tls = NULL; /* the relay owns both sessions now */
    c->relay = gw_relay_start(g->base, fd, tls, up->fd, up->tls, flags, pending, plen, c->idle_s,
                              on_relay_done, c);
    if (c->relay == NULL) {
        VG_CLOG(VG_LOG_WARN, c->ident, "cannot start relay");
        conn_free(c); /* gw_relay_start closed both sockets */
    }
}

/* Open vm's channel (vm NULL: chain to the owning host, telling it who asks). */
static void start_open(struct gw_conn *c, const struct vg_vm *vm)
{
    struct vg_s5_hopid who;
    memset(&who, 0, sizeof who);
    if (c->io.user) {
        const char *groups = vg_users_groups(c->g->users, c->io.user);
        snprintf(who.user, sizeof who.user, "%s", c->io.user);
        if (groups)
            snprintf(who.groups, sizeof who.groups, "%s", groups);
    }
    if (c->origin[0])
        snprintf(who.vm, sizeof who.vm, "%s", c->origin);
    else
        vg_sockaddr_format((const struct sockaddr *)&c->peer, false, who.client, sizeof who.client);
    c->st = ST_OPENING;
    c->chan_kind = vm ? vg_chan_kind_name(vm->chan.kind) : "forward";
    c->mchan = mchan_of(vm);
    event_del(c->ev); /* the client waits for our answer; later bytes stay in its socket */
    arm_timer(c, gw_chan_timeout(c->g, vm));
    c->open = gw_chan_open(c->g, vm, c->name, c->port, &who, on_open_done, c);
    if (c->open == NULL)
        refuse(c, VG_OUT_INTERNAL, "out of memory");
}

/* ---- policy ------------------------------------------------------------------------------- */

/* Who asks, as the policy sees it: the user, the groups this host knows for that user (else
 * the ones a hop stated), the client address (a hop's stated one), or the VM a guest stream
 * comes from.  ss holds a parsed hop client address. */
static void subject_of(const struct gw_conn *c, struct vg_subject *s, struct sockaddr_storage *ss)
{
    memset(s, 0, sizeof *s);
    s->user = c->io.user;
    s->groups = c->io.user ? vg_users_groups(c->g->users, c->io.user) : NULL;
    if (s->groups == NULL && c->io.hop && c->io.hop->groups[0])
        s->groups = c->io.hop->groups;
    if (c->origin[0]) {
        s->vm = c->origin;
    } else if (c->io.hop) {
        socklen_t sl;
        if (c->io.hop->vm[0])
            s->vm = c->io.hop->vm;
        else if (c->io.hop->client[0] && vg_sockaddr_parse(c->io.hop->client, 1, ss, &sl))
            s->client = (const struct sockaddr *)ss;
    } else {
        s->client = (const struct sockaddr *)&c->peer;
    }
}

static void set_rule(struct gw_conn *c, const struct vg_verdict *v)
{
    char text[VG_POLICY_RULE_TEXT + 32];
    if (v->line)
        snprintf(text, sizeof text, "line %u: %s", v->line, v->rule);
    else
        snprintf(text, sizeof text, "%s", v->rule);
    vg_free(c->rule);
    c->rule = vg_strdup(text);
}

/* The policy file's verdict for this request, applied: false after a refusal.  Without a
 * policy file every authenticated client passes (the options are the [gateway] ones). */
static bool policy_allows(struct gw_conn *c)
{
    struct gw *g = c->g;
    c->idle_s = g->cfg->idle_timeout;
    if (g->policy == NULL)
        return true;
    struct vg_subject s;
    struct sockaddr_storage ss;
    struct vg_verdict v;
    char why[VG_POLICY_RULE_TEXT + 64];
    subject_of(c, &s, &ss);
    vg_policy_decide(g->policy, &s, c->name, c->port, &v);
    set_rule(c, &v);
    if (!v.allow) {
        snprintf(why, sizeof why, "policy: %s", c->rule ? c->rule : "denied");
        refuse(c, VG_OUT_NOT_ALLOWED, why);
        return false;
    }
    if (v.idle_timeout)
        c->idle_s = v.idle_timeout;
    c->max_s = v.max_duration;
    char addr[VG_NAME_MAX + 8], key[sizeof addr + 1];
    if (c->io.user)
        snprintf(key, sizeof key, "%s", c->io.user);
    else
        snprintf(key, sizeof key, "@%s", client_text(c, false, addr, sizeof addr));
    struct gw_user_count *uc = ucount_find(g, key, true);
    if (uc == NULL) {
        refuse(c, VG_OUT_INTERNAL, "out of memory");
        return false;
    }
    if (v.max_sessions && uc->n >= v.max_sessions) {
        snprintf(why, sizeof why, "policy: max-sessions (%u) reached (%s)", v.max_sessions,
                 c->rule ? c->rule : "");
        refuse(c, VG_OUT_NOT_ALLOWED, why);
        return false;
    }
    uc->n++;
    c->uc = uc;
    return true;
}

/* The request is known: decide, look the VM up, open its channel. */
static void handle_request(struct gw_conn *c, const struct gw_request *rq)
{
    struct gw *g = c->g;
    char err[256];
    const struct vg_vm *vm;
    c->port = rq->port;
    c->t_req = vg_now_ns();
    gw_metrics_handshake_seconds(vg_secs_since(c->t0));
    c->idle_s = g->cfg->idle_timeout;

    if (vg_name_is_ip_literal(rq->target, strlen(rq->target))) {
        /* kept for the refusal's log line; target[] is longer than name[] */
        snprintf(c->name, sizeof c->name, "%.*s", (int)(sizeof c->name - 1), rq->target);
        refuse(c, VG_OUT_NOT_ALLOWED, "IP literal: only VM names are served");
        return;
    }
    enum vg_name_status st = vg_name_normalize(rq->target, strlen(rq->target), c->name);
    if (st != VG_NAME_OK) {
        c->name[0] = '\0';
        snprintf(err, sizeof err, "invalid name: %s", vg_name_strerror(st));
        refuse(c, VG_OUT_BAD_NAME, err);
        return;
    }
    if (vg_config_zone_of(g->cfg, c->name) == NULL) {
        refuse(c, VG_OUT_NOT_ALLOWED, "name outside the served zone(s)");
        return;
    }
    if (g->front) {
        start_open(c, NULL);
        return;
    }
    err[0] = '\0';
    switch (vg_vmtable_lookup(g->vmt, c->name, &vm, err, sizeof err)) {
    case VG_VM_UNKNOWN:
        if (err[0])
            VG_CLOG(VG_LOG_WARN, c->ident, "%s", err);
        if (g->resolver == NULL) {
            refuse(c, VG_OUT_NO_SUCH_VM, "VM unknown on this host");
            return;
        }
        if (c->io.hop) {
            refuse(c, VG_OUT_NO_SUCH_VM,
                   "VM unknown on this host (a chained request is never chained again)");
            return;
        }
        start_open(c, NULL);
        return;
    case VG_VM_BROKEN:
        VG_CLOG(VG_LOG_WARN, c->ident, "VM table entry unusable: %s", err);
        refuse(c, VG_OUT_CHANNEL_DOWN, "VM table entry unusable");
        return;
    case VG_VM_OK:
        break;
    }
    if (!vg_vm_port_allowed(vm, rq->port)) {
        refuse(c, VG_OUT_NOT_ALLOWED, "port not allowed for this VM");
        return;
    }
    if (!policy_allows(c))
        return;
    start_open(c, vm);
}

/* ---- handshake ---------------------------------------------------------------------------- */

static void start_auth(struct gw_conn *c, const struct gw_request *rq);

/* Act on what the front said.  Returns true when parsing goes on, false when it waits for
 * input or the connection moved on (checking a password, opening, refused, freed). */
static bool step(struct gw_conn *c, enum gw_front_result r, struct gw_request *rq,
                 enum vg_outcome out, const char *why)
{
    switch (r) {
    case GW_FR_NEED_MORE:
        return false;
    case GW_FR_STEP:
        return true;
    case GW_FR_AUTH:
        start_auth(c, rq);
        return false;
    case GW_FR_REQUEST:
        handle_request(c, rq);
        return false;
    case GW_FR_REFUSE:
        c->port = rq->port;
        refuse(c, out, why);
        return false;
    case GW_FR_CLOSE:
        VG_CLOG(VG_LOG_INFO, c->ident, "%s", why);
        linger_close(c);
        return false;
    case GW_FR_GONE:
        conn_free(c);
        return false;
    }
    return false;
}

/* Run the front's parser over what has been read.  Returns true when more input is needed,
 * false after the connection moved on (checking a password, opening, refused, freed). */
static bool process(struct gw_conn *c)
{
    bool more = true;
    while (more) {
        struct gw_request rq = {.port = c->port};
        enum vg_outcome out = VG_OUT_BAD_REQUEST;
        const char *why = "";
        size_t used = 0;
        enum gw_front_result r = c->front->parse(&c->io, c->buf, c->len, &used, &rq, &out, &why);
        memmove(c->buf, c->buf + used, c->len - used);
        c->len -= used;
        more = step(c, r, &rq, out, why);
        explicit_bzero(rq.pass, sizeof rq.pass);
        if (r == GW_FR_NEED_MORE)
            return true;
    }
    return false;
}

/* The password check came back (auth.h): the front answers, then as after parse. */
static void on_auth_done(void *arg, enum gw_auth_verdict v)
{
    struct gw_conn *c = arg;
    struct gw_request *rq = c->held;
    enum vg_outcome out = VG_OUT_AUTH_FAILED;
    const char *why = "";
    c->auth = NULL; /* gone once this returns */
    c->held = NULL;
    c->st = ST_HANDSHAKE;
    event_add(c->ev, NULL);
    if (v != GW_AUTH_OK) {
        gw_metrics_auth_failed();
        audit(c, VG_AUDIT_AUTH_FAILED, rq->user, "authentication failed", NULL, 0, 0);
    }
    enum gw_front_result r =
        c->front->auth_result(&c->io, rq->user, v == GW_AUTH_OK, rq, &out, &why);
    bool more = step(c, r, rq, out, why);
    vg_free(rq);
    if (more && process(c) && gw_tls_pending(c->tls) > 0)
        event_active(c->ev, EV_READ, 0); /* TLS holds bytes the socket will not announce */
}

/* Hand the credentials to the worker pool; the client waits (its later bytes stay in the
 * socket), the handshake deadline keeps running. */
static void start_auth(struct gw_conn *c, const struct gw_request *rq)
{
    c->st = ST_AUTH;
    event_del(c->ev);
    if ((c->held = vg_malloc(sizeof *c->held)) != NULL) {
        memcpy(c->held, rq, sizeof *rq);
        explicit_bzero(c->held->pass, sizeof c->held->pass);
        c->auth = gw_auth_start(c->g->auth, c->g->users, (struct sockaddr *)&c->peer, rq->user,
                                rq->pass, c->ident, on_auth_done, c);
    }
    if (c->auth == NULL) {
        VG_CLOG(VG_LOG_WARN, c->ident, "out of memory checking a password");
        linger_close(c);
    }
}

static void tls_accept(struct gw_conn *c);
static void on_tls(evutil_socket_t fd, short what, void *arg);

static void on_client_read(evutil_socket_t fd, short what, void *arg)
{
    struct gw_conn *c = arg;
    if (c->len == 0 && c->tls == NULL && c->front == &gw_front_socks5 &&
        gw_tls_has(c->g->tls, GW_TLS_HOP_SERVER)) {
        /* a TLS ClientHello starts with 0x16, a SOCKS5 greeting with 0x05 */
        uint8_t first;
        if (recv(fd, &first, 1, MSG_PEEK) == 1 && first == 0x16) {
            tls_accept(c);
            return;
        }
    }
    if (c->len == c->cap) {
        /* the parser still wants more than the buffer holds */
        if (c->front->answers_early)
            refuse(c, VG_OUT_HEAD_TOO_LARGE, "request head too large");
        else
            linger_close(c);
        return;
    }
    ssize_t n = gw_io_recv(fd, c->tls, c->buf + c->len, c->cap - c->len);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        VG_CLOG(VG_LOG_INFO, c->ident, "read error during handshake: %s", strerror(errno));
        conn_free(c);
        return;
    }
    if (n == 0) {
        VG_CLOG(VG_LOG_INFO, c->ident, "client closed during handshake");
        conn_free(c);
        return;
    }
    c->len += (size_t)n;
    if (process(c) && gw_tls_pending(c->tls) > 0)
        event_active(c->ev, EV_READ, 0); /* TLS holds more than one read took */
}

/* ---- TLS ---------------------------------------------------------------------------------- */

/* The client speaks TLS: handshake first (state TLS), then the front's handshake inside it. */
static void tls_accept(struct gw_conn *c)
{
    enum gw_tls_kind kind = c->front == &gw_front_socks5 ? GW_TLS_HOP_SERVER : GW_TLS_HTTPS;
    if ((c->tls = gw_tls_session(c->g->tls, kind, c->fd, NULL)) == NULL) {
        VG_CLOG(VG_LOG_WARN, c->ident, "no TLS session (out of memory?)");
        conn_free(c);
        return;
    }
    c->io.tls = c->tls;
    c->tls_client = true;
    c->st = ST_TLS;
    on_tls(c->fd, EV_READ, c);
}

static void on_tls(evutil_socket_t fd, short what, void *arg)
{
    struct gw_conn *c = arg;
    bool want_write = false;
    char err[200];
    switch (gw_tls_handshake(c->tls, &want_write, err, sizeof err)) {
    case VG_P_NEED_MORE:
        event_del(c->ev);
        event_assign(c->ev, c->g->base, c->fd, (want_write ? EV_WRITE : EV_READ) | EV_PERSIST,
                     on_tls, c);
        event_add(c->ev, NULL);
        return;
    case VG_P_ERROR:
        VG_CLOG(VG_LOG_NOTICE, c->ident, "%s", err);
        conn_free(c);
        return;
    default:
        break;
    }
    if (gw_tls_peer_host(c->tls, c->hop_host, sizeof c->hop_host)) {
        c->io.hop_host = c->hop_host;
        VG_CLOG(VG_LOG_DEBUG, c->ident, "TLS: a host of the fleet: %s", c->hop_host);
    }
    c->st = ST_HANDSHAKE;
    event_del(c->ev);
    event_assign(c->ev, c->g->base, c->fd, EV_READ | EV_PERSIST, on_client_read, c);
    event_add(c->ev, NULL);
    if (gw_tls_pending(c->tls) > 0)
        event_active(c->ev, EV_READ, 0);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct gw_conn *c = arg;
    switch (c->st) {
    case ST_OPENING:
        refuse(c, VG_OUT_TIMEOUT, "timed out connecting to the VM");
        return;
    case ST_LINGER:
        conn_free(c);
        return;
    case ST_TLS:
        VG_CLOG(VG_LOG_INFO, c->ident, "TLS handshake timeout");
        conn_free(c);
        return;
    case ST_RELAY: {
        uint64_t up, down;
        VG_CLOG(VG_LOG_INFO, c->ident, "max-duration (%u s) reached: closed", c->max_s);
        session_bytes(c, &up, &down);
        session_over(c, VG_AUDIT_SESSION_END, "max-duration", NULL, up, down);
        conn_free(c);
        return;
    }
    case ST_HANDSHAKE:
    case ST_AUTH:
        VG_CLOG(VG_LOG_INFO, c->ident, "handshake timeout");
        if (c->front->answers_early) {
            refuse(c, VG_OUT_HANDSHAKE_TIMEOUT, "handshake timeout");
            return;
        }
        conn_free(c);
    }
}

/* A connection in the table, with its events; NULL (fd closed) when out of memory. */
static struct gw_conn *conn_new(struct gw *g, int fd, const struct sockaddr *peer,
                                socklen_t peerlen, const struct gw_front_ops *front,
                                const char *who)
{
    struct gw_conn *c = vg_calloc(1, sizeof *c);
    if (c == NULL) {
        gw_client_release(g, peer);
        close(fd);
        return NULL;
    }
    c->g = g;
    c->fd = fd;
    c->front = front;
    c->st = ST_HANDSHAKE;
    c->io.fd = fd;
    c->io.users = g->users;
    c->io.anon = g->anon;
    c->io.nanon = g->nanon;
    memcpy(&c->peer, peer, peerlen < sizeof c->peer ? peerlen : sizeof c->peer);
    c->t0 = vg_now_ns();
    c->started = (int64_t)time(NULL);
    c->id = ++g->next_id;
    snprintf(c->ident, sizeof c->ident, "c%llu %s", (unsigned long long)c->id, who);
    c->next = g->conns;
    if (g->conns)
        g->conns->prev = c;
    g->conns = c;
    g->nconns++; /* conn_free undoes all of this, including the client count */
    c->ev = event_new(g->base, fd, EV_READ | EV_PERSIST, on_client_read, c);
    c->timer = event_new(g->base, -1, 0, on_timer, c);
    c->cap = front->bufsize;
    if (c->ev == NULL || c->timer == NULL || (c->cap && (c->buf = vg_malloc(c->cap)) == NULL)) {
        vg_warn("out of memory accepting a connection");
        conn_free(c);
        return NULL;
    }
    return c;
}

void gw_conn_accept(struct gw *g, int fd, const struct sockaddr *peer, socklen_t peerlen,
                    const struct gw_front_ops *front, bool tls)
{
    char a[VG_ADDRSTRLEN];
    struct gw_conn *c =
        conn_new(g, fd, peer, peerlen, front, vg_sockaddr_format(peer, true, a, sizeof a));
    if (c == NULL)
        return;
    for (size_t i = 0; i < g->nanon; i++)
        if (vg_cidr_match(&g->anon[i], peer))
            c->io.anon_ok = true;
    event_add(c->ev, NULL);
    arm_timer(c, g->cfg->handshake_timeout);
    VG_CLOG(VG_LOG_DEBUG, c->ident, "accepted (%s%s)", front->name, tls ? " over TLS" : "");
    if (tls) {
        tls_accept(c);
        return;
    }
    /* clients speak first, and by the time the accept is seen their first bytes have usually
     * arrived too: read now rather than after another trip through the event loop */
    on_client_read(fd, EV_READ, c);
}

void gw_conn_start_guest(struct gw *g, int fd, const char *origin, const char *name, uint16_t port)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    char who[300];
    struct gw_request rq = {.port = port};
    snprintf(who, sizeof who, "guest:%s", origin);
    snprintf(rq.target, sizeof rq.target, "%s", name);
    struct gw_conn *c = conn_new(g, fd, (struct sockaddr *)&sun, sizeof sun, &gw_front_guest, who);
    if (c == NULL)
        return;
    snprintf(c->origin, sizeof c->origin, "%s", origin);
    handle_request(c, &rq); /* the request is known: straight to policy and the channel */
}

void gw_conns_close_handshaking(struct gw *g)
{
    struct gw_conn *c = g->conns, *next;
    for (; c; c = next) {
        next = c->next;
        if (c->st != ST_RELAY)
            conn_free(c);
    }
}

void gw_conns_close_all(struct gw *g)
{
    while (g->conns)
        conn_free(g->conns);
}

/* ---- the session table -------------------------------------------------------------------- */

static const char *const state_names[] = {
    [ST_TLS] = "tls",         [ST_HANDSHAKE] = "handshake", [ST_AUTH] = "auth",
    [ST_OPENING] = "opening", [ST_RELAY] = "relay",         [ST_LINGER] = "linger"};

const char *gw_conn_state_name(unsigned i)
{
    return i < sizeof state_names / sizeof state_names[0] ? state_names[i] : NULL;
}

/* What the admin socket shows of c; client[] holds the text info->client may point to. */
static void session_info(const struct gw_conn *c, struct gw_session_info *s, char *client,
                         size_t clen)
{
    uint64_t last = 0, up = c->up_bytes, down = c->down_bytes, b_up, b_down, b_last;
    memset(s, 0, sizeof *s);
    s->id = c->id;
    s->user = c->io.user;
    s->peer = (const struct sockaddr *)&c->peer;
    if (c->origin[0]) {
        snprintf(client, clen, "vm:%s", c->origin);
        s->client = client;
    } else if (c->io.hop) {
        s->client = c->io.hop->client[0] ? c->io.hop->client : NULL;
    }
    /* the groups the policy sees: this host's users-file, else what a hop stated */
    s->groups = c->io.user ? vg_users_groups(c->g->users, c->io.user) : NULL;
    if (s->groups == NULL && c->io.hop && c->io.hop->groups[0])
        s->groups = c->io.hop->groups;
    s->vm = c->name;
    s->port = c->port;
    s->channel = c->chan_kind;
    s->front = c->front->name;
    s->state = state_names[c->st];
    s->started = c->started;
    s->agent_session = c->agent_gen;
    if (c->relay) {
        gw_relay_bytes(c->relay, &up, &down, &last); /* a TLS client on a stream: these too */
    } else if (c->bridge) {
        vg_mux_bridge_bytes(c->bridge, &up, &down, &last);
    }
    if (c->relay && c->bridge) {
        vg_mux_bridge_bytes(c->bridge, &b_up, &b_down, &b_last);
        if (b_last > last)
            last = b_last;
    }
    s->bytes_up = up;
    s->bytes_down = down;
    if (last) {
        uint64_t now = vg_now_coarse_s();
        s->idle_s = now > last ? now - last : 0;
    } else {
        s->idle_s = (vg_now_ns() - c->t0) / 1000000000u;
    }
}

void gw_sessions_foreach(struct gw *g, gw_session_fn fn, void *arg)
{
    struct gw_session_info s;
    char client[VG_NAME_MAX + 8];
    for (struct gw_conn *c = g->conns; c; c = c->next) {
        session_info(c, &s, client, sizeof client);
        if (!fn(&s, arg))
            return;
    }
}

unsigned gw_sessions_kill(struct gw *g, gw_session_fn match, void *arg, const char *by)
{
    struct gw_session_info s;
    char client[VG_NAME_MAX + 8];
    unsigned n = 0;
    struct gw_conn *c = g->conns, *next;
    for (; c; c = next) {
        next = c->next;
        session_info(c, &s, client, sizeof client);
        if (!match(&s, arg))
            continue;
        VG_CLOG(VG_LOG_NOTICE, c->ident, "killed by %s (%s:%u, %s)", by, c->name[0] ? c->name : "-",
                c->port, state_names[c->st]);
        if (c->active)
            session_over(c, VG_AUDIT_SESSION_KILLED, "killed", by, s.bytes_up, s.bytes_down);
        else
            audit(c, VG_AUDIT_SESSION_KILLED, c->io.user, "killed", by, s.bytes_up, s.bytes_down);
        conn_free(c); /* closes the client's socket and the upstream at once */
        n++;
    }
    return n;
}

static void session_bytes(const struct gw_conn *c, uint64_t *up, uint64_t *down)
{
    struct gw_session_info s;
    char client[VG_NAME_MAX + 8];
    session_info(c, &s, client, sizeof client);
    *up = s.bytes_up;
    *down = s.bytes_down;
}

/* reload --enforce: every session the (new) policy no longer allows ends, as killed by `by`. */
unsigned gw_sessions_enforce(struct gw *g, const char *by)
{
    unsigned n = 0;
    struct gw_conn *c = g->conns, *next;
    if (g->policy == NULL)
        return 0;
    for (; c; c = next) {
        next = c->next;
        if (c->st != ST_OPENING && c->st != ST_RELAY)
            continue;
        struct vg_subject s;
        struct sockaddr_storage ss;
        struct vg_verdict v;
        subject_of(c, &s, &ss);
        vg_policy_decide(g->policy, &s, c->name, c->port, &v);
        if (v.allow)
            continue;
        uint64_t up, down;
        set_rule(c, &v);
        session_bytes(c, &up, &down);
        VG_CLOG(VG_LOG_NOTICE, c->ident, "ended by %s: the policy denies it now (%s)", by,
                c->rule ? c->rule : "");
        if (c->active)
            session_over(c, VG_AUDIT_SESSION_KILLED, "policy denies it now", by, up, down);
        conn_free(c);
        n++;
    }
    return n;
}

void gw_policy_test(struct gw *g, const char *user, const char *vm, uint16_t port,
                    const struct sockaddr *from, struct vg_verdict *v)
{
    struct vg_subject s = {.user = user && *user && strcmp(user, "-") != 0 ? user : NULL,
                           .client = from}; /* "-": anonymous */
    s.groups = s.user ? vg_users_groups(g->users, s.user) : NULL;
    vg_policy_decide(g->policy, &s, vm, port, v);
}
