#include "serial.h"

#include "gw.h"
#include "vmtable.h"

#include "vg_alloc.h"
#include "vg_log.h"
#include "vg_mux.h"
#include "vg_mux_bridge.h"
#include "vg_mux_ctl.h"
#include "vg_name.h"
#include "vg_random.h"

#include <errno.h>
#include <event2/buffer.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* What a guest can make the gateway hold, per session (docs/gateway.md, "Limits"):
 *   - the fd's input and output: vg_mux (one read of 64 KiB; output above 1 MiB stops reading);
 *   - per stream, at most its 256 KiB receive window of input, and what we queue for it:
 *     control replies up to CTL_OUT_MAX, a preamble's ERR line, a bridge's 128 KiB;
 *   - streams it opens: max-per-vm per session, guest-share of max-connections for all VMs,
 *     each closed after handshake-timeout when its request line is not complete, and after
 *     idle-timeout without traffic once bridged.
 * A guest that goes beyond a bound loses the stream (limits on opening: the SYN is reset) or the
 * session (a control stream whose replies it does not read), never the gateway's memory. */
#define CTL_OUT_MAX (64u * 1024u) /* control bytes queued for the guest before it is cut off */
#define DENY_LINGER_SECS 2        /* after an ERR line: wait for the guest's FIN, then reset */
#define REFUSE_LOG_EVERY 1000     /* refused guest SYNs: one log line per this many */

struct gw_guest;
LIST_HEAD(gw_guest_list, gw_guest);

struct gw_serial {
    struct gw_serial *next;
    struct gw *g;
    struct vg_mux *mux;
    struct vg_mux_stream *ctl;
    struct event *ctl_timer;     /* liveness of the control stream (see check_control) */
    uint64_t ctl_ping;           /* random id of the outstanding "req op=ping", 0 = none */
    unsigned ctl_missed;         /* checks since it was sent */
    bool ctl_cut;                /* the guest does not read the control stream: end the session */
    struct gw_guest_list guests; /* streams the guest opened and still holds */
    unsigned nguest;             /* their number (max-per-vm) */
    unsigned long refused;       /* guest SYNs reset for a limit */
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char vm[256];
    uint32_t gen;           /* this session's number (gw_serial_session_of) */
    char agent_version[32]; /* from the agent's hello, "" until it came */
};

/* A stream the guest opened, from its SYN until it is gone.  What is live in each state:
 *   PREAMBLE  s (callbacks: on_guest_preamble / on_guest_event); timer = handshake-timeout
 *   DENIED    s shut down after its ERR line, input discarded; timer = DENY_LINGER_SECS, then
 *             reset (a guest that never sends its FIN does not keep the stream id)
 *   BRIDGED   b, which owns s (the bridge has the idle-timeout); timer idle
 * ss is NULL once the session is gone (session_free detaches its guests; the streams then get
 * their RESET from the mux and the objects go). */
enum guest_state { GS_PREAMBLE, GS_DENIED, GS_BRIDGED };

struct gw_guest {
    LIST_ENTRY(gw_guest) link;
    struct gw *g;
    struct gw_serial *ss;
    enum guest_state st;
    struct vg_mux_stream *s;
    struct vg_mux_bridge *b;
    struct event *timer;
};

struct gw_serial_req {
    struct vg_mux_stream *s;
    struct event *timer;
    gw_serial_done_fn done;
    void *arg;
    char vm[256];
};

static struct gw_serial *sessions;
static uint32_t next_gen; /* numbers the sessions: an id of the agent session a stream rides on */

static void session_free(struct gw_serial *ss)
{
    for (struct gw_serial **pp = &sessions; *pp; pp = &(*pp)->next) {
        if (*pp == ss) {
            *pp = ss->next;
            break;
        }
    }
    struct gw_guest *gs;
    while ((gs = LIST_FIRST(&ss->guests)) != NULL) {
        LIST_REMOVE(gs, link);
        gs->ss = NULL; /* freed when its stream's RESET comes (from vg_mux_free) */
    }
    ss->nguest = 0;
    if (ss->ctl)
        vg_mux_stream_free(ss->ctl);
    if (ss->ctl_timer)
        event_free(ss->ctl_timer);
    if (ss->mux)
        vg_mux_free(ss->mux);
    vg_free(ss);
}

static void on_session_close(struct vg_mux *m, const char *why, void *arg)
{
    struct gw_serial *ss = arg;
    vg_notice("serial %s (%s): agent session ended: %s", ss->path, ss->vm, why);
    session_free(ss);
}

/* ---- the control stream ---------------------------------------------------------------- */

/* Queue a line for the guest.  A guest that lets CTL_OUT_MAX bytes pile up (it does not grant
 * window, or asks faster than it reads the answers) loses the control stream at once and the
 * session from the loop (check_control): false then, and ss->ctl is NULL. */
static bool ctl_send(struct gw_serial *ss, const char *line)
{
    size_t len = strlen(line);
    if (ss->ctl == NULL)
        return false;
    size_t queued = vg_mux_stream_queued(ss->ctl);
    if (queued + len > CTL_OUT_MAX) {
        vg_warn("serial %s (%s): the guest does not read its control stream (%zu bytes queued): "
                "closing the session",
                ss->path, ss->vm, queued);
        vg_mux_stream_free(ss->ctl); /* reset: the queue goes with it */
        ss->ctl = NULL;
        ss->ctl_cut = true;
        event_active(ss->ctl_timer, EV_TIMEOUT, 0);
        return false;
    }
    vg_mux_stream_write(ss->ctl, line, len);
    return true;
}

static void ctl_handle(struct gw_serial *ss, const char *line, size_t len)
{
    struct vg_ctl_msg m;
    char out[1024];
    if (len == 2 && memcmp(line, "OK", 2) == 0)
        return; /* the agent accepted the control stream */
    if (len >= 3 && memcmp(line, "ERR", 3) == 0) {
        vg_warn("serial %s (%s): agent refused the control stream: %.*s", ss->path, ss->vm,
                (int)len, line);
        return;
    }
    if (vg_ctl_parse(line, len, &m) != 0) {
        vg_debug("serial %s (%s): malformed control line ignored", ss->path, ss->vm);
        return;
    }
    if (strcmp(m.verb, "hello") == 0) {
        const char *v = vg_ctl_get(&m, "version");
        size_t n =
            v ? strspn(v, "0123456789abcdefghijklmnopqrstuvwxyz.-+~_ABCDEFGHIJKLMNOPQRSTUVWXYZ")
              : 0;
        if (v && n == strlen(v) && n < sizeof ss->agent_version)
            memcpy(ss->agent_version, v, n + 1);
        return;
    }
    if (strcmp(m.verb, "event") == 0) {
        const char *id = vg_ctl_get(&m, "id");
        char want[24];
        snprintf(want, sizeof want, "%" PRIu64, ss->ctl_ping);
        if (id && ss->ctl_ping && strcmp(id, want) == 0)
            ss->ctl_ping = 0; /* the agent that got our hello is still there */
        return;
    }
    if (strcmp(m.verb, "req") != 0) {
        vg_debug("serial %s (%s): control '%s' ignored", ss->path, ss->vm, m.verb);
        return;
    }
    const char *id = vg_ctl_get(&m, "id"), *op = vg_ctl_get(&m, "op");
    if (id == NULL || strspn(id, "0123456789") != strlen(id) || strlen(id) > 18)
        return; /* cannot be answered */
    if (op && strcmp(op, "host-facts") == 0) {
        snprintf(out, sizeof out, "event id=%s status=ok host=%s vm=%s\n", id,
                 ss->g->cfg->host_name ? ss->g->cfg->host_name : "-", ss->vm);
    } else {
        snprintf(out, sizeof out, "event id=%s status=error reason=unknown-op\n", id);
    }
    /* debug: a guest decides how many requests it sends */
    vg_debug("serial %s (%s): guest request %s op=%s", ss->path, ss->vm, id, op ? op : "-");
    ctl_send(ss, out);
}

static void on_ctl_read(struct vg_mux_stream *s, void *arg)
{
    struct gw_serial *ss = arg;
    char line[VG_CTL_LINE_MAX];
    long n = 0;
    while (ss->ctl == s &&
           (n = vg_evbuffer_take_line(vg_mux_stream_input(s), line, sizeof line)) >= 0)
        ctl_handle(ss, line, (size_t)n);
    if (ss->ctl == s && n == VG_LINE_TOO_LONG) {
        vg_warn("serial %s (%s): control line too long: control stream closed", ss->path, ss->vm);
        vg_mux_stream_free(s);
        ss->ctl = NULL;
    }
}

static void on_ctl_event(struct vg_mux_stream *s, short what, void *arg)
{
    struct gw_serial *ss = arg;
    if (what & (VG_MUX_EOF | VG_MUX_RESET)) {
        vg_mux_stream_free(s);
        ss->ctl = NULL;
    }
}

/* A random id of at most 18 digits (what a guest's answer may carry), never 0. */
static uint64_t ping_id(void)
{
    return vg_random_u64() % 999999999999999999ULL + 1;
}

/* An agent restarted inside the guest does not end the session: QEMU keeps the host side of the
 * port open and the new agent answers yamux pings.  But it knows nothing of our control stream,
 * so a request sent there stays unanswered (or the stream is reset).  Every agent-timeout
 * seconds a "req op=ping" goes out on the control stream, with a random id (a guest that does
 * not read the stream cannot answer it blindly); when one stays unanswered for three checks (a
 * busy guest gets that long), or the control stream is gone, the session is stale: it ends, and
 * the next request opens a fresh one (with a new hello).  A guest cut off by ctl_send ends here
 * too, at once. */
static void check_control(evutil_socket_t fd, short what, void *arg)
{
    struct gw_serial *ss = arg;
    if (ss->ctl_cut) {
        session_free(ss);
        return;
    }
    if (ss->ctl_ping != 0 && ++ss->ctl_missed < 3)
        return;
    if (ss->ctl == NULL || ss->ctl_ping != 0) {
        vg_notice("serial %s (%s): control stream %s: the agent restarted; starting a new session",
                  ss->path, ss->vm, ss->ctl ? "unanswered" : "gone");
        session_free(ss);
        return;
    }
    char line[64];
    ss->ctl_ping = ping_id();
    ss->ctl_missed = 0;
    snprintf(line, sizeof line, "req id=%" PRIu64 " op=ping\n", ss->ctl_ping);
    ctl_send(ss, line);
}

static void open_control(struct gw_serial *ss)
{
    char hello[700];
    const struct vg_config *cfg = ss->g->cfg;
    const char *zone = vg_config_zone_of(cfg, ss->vm);
    struct timeval tv = {(time_t)ss->g->cfg->agent_timeout, 0};
    ss->ctl_timer = event_new(ss->g->base, -1, EV_PERSIST, check_control, ss);
    if (ss->ctl_timer == NULL)
        return; /* no control stream: the first check would end the session, but there is none */
    event_add(ss->ctl_timer, &tv);
    ss->ctl = vg_mux_open(ss->mux);
    if (ss->ctl == NULL)
        return; /* the first check ends the session */
    vg_mux_stream_setcb(ss->ctl, on_ctl_read, on_ctl_event, ss);
    /* names are LDH: nothing in them needs percent-encoding */
    snprintf(hello, sizeof hello, "CONTROL\nhello name=%s zone=%s host=%s\n", ss->vm,
             zone ? zone : "-", cfg->host_name ? cfg->host_name : "-");
    ctl_send(ss, hello);
}

/* ---- guest-originated streams ----------------------------------------------------------- */

/* A stream the guest opened: "CONNECT <name> <port>" is checked against the `allow-out` rules of
 * the VM's table entry (re-read per stream, so changes apply at once); an allowed request is
 * bridged to a socketpair and served like any client's request (zone, VM table, ports,
 * channel), with the answer in the protocol's "OK" / "ERR" form. */

static void guest_free(struct gw_guest *gs)
{
    if (gs->ss) {
        LIST_REMOVE(gs, link);
        gs->ss->nguest--;
    }
    gs->g->nguest--;
    if (gs->timer)
        event_free(gs->timer);
    if (gs->b)
        vg_mux_bridge_free(gs->b); /* and the stream */
    else
        vg_mux_stream_free(gs->s);
    vg_free(gs);
}

static void on_guest_timer(evutil_socket_t fd, short what, void *arg);

static void on_denied_read(struct vg_mux_stream *s, void *arg)
{
    struct evbuffer *in = vg_mux_stream_input(s);
    evbuffer_drain(in, evbuffer_get_length(in));
}

static void on_guest_event(struct vg_mux_stream *s, short what, void *arg)
{
    struct gw_guest *gs = arg;
    if (what & VG_MUX_RESET) {
        guest_free(gs);
        return;
    }
    /* EOF: in PREAMBLE the request can never be completed (the stream is reset); in DENIED the
     * guest finished, and our ERR line and FIN still go out (vg_mux_stream_free lingers) */
    if (what & VG_MUX_EOF)
        guest_free(gs);
}

/* Answer "ERR <code> <text>", half-close, and give the guest DENY_LINGER_SECS to finish. */
static void guest_deny(struct gw_guest *gs, enum vg_outcome o, const char *text)
{
    char line[300];
    int n = snprintf(line, sizeof line, "ERR %s %s\n", vg_outcome_err(o), text);
    vg_mux_stream_write(gs->s, line, (size_t)n);
    vg_mux_stream_shutdown(gs->s);
    vg_mux_stream_setcb(gs->s, on_denied_read, on_guest_event, gs);
    on_denied_read(gs->s, gs);
    gs->st = GS_DENIED;
    struct timeval tv = {DENY_LINGER_SECS, 0};
    event_add(gs->timer, &tv);
}

static void on_guest_timer(evutil_socket_t fd, short what, void *arg)
{
    struct gw_guest *gs = arg;
    if (gs->st == GS_PREAMBLE) {
        if (gs->ss)
            vg_info("serial %s (%s): guest stream %u: no request line within handshake-timeout",
                    gs->ss->path, gs->ss->vm, vg_mux_stream_id(gs->s));
        guest_deny(gs, VG_OUT_HANDSHAKE_TIMEOUT, "request line not complete in time");
        return;
    }
    /* DENIED: the guest did not finish the stream */
    vg_mux_stream_reset(gs->s);
    guest_free(gs);
}

static void guest_bridge_done(struct vg_mux_bridge *b, uint64_t in, uint64_t out, const char *err,
                              void *arg)
{
    guest_free(arg);
}

static void on_guest_preamble(struct vg_mux_stream *s, void *arg)
{
    struct gw_guest *gs = arg;
    struct gw_serial *ss = gs->ss;
    char line[VG_PREAMBLE_MAX];
    long n = vg_evbuffer_take_line(vg_mux_stream_input(s), line, sizeof line);
    if (n == VG_LINE_NEED_MORE)
        return;
    event_del(gs->timer);
    if (ss == NULL) {
        guest_deny(gs, VG_OUT_AGENT_DOWN, "session ended");
        return;
    }
    if (n == VG_LINE_TOO_LONG) {
        guest_deny(gs, VG_OUT_BAD_REQUEST, "request line too long");
        return;
    }
    struct vg_preamble rq;
    if (vg_preamble_parse_request(line, (size_t)n, &rq) != 0 || rq.kind != VG_PRE_CONNECT_NAME) {
        guest_deny(gs, VG_OUT_BAD_REQUEST, "expected CONNECT <name> <port>");
        return;
    }
    char name[VG_NAME_MAX + 1], err[256];
    const struct vg_vm *origin;
    if (vg_name_normalize(rq.name, strlen(rq.name), name) != VG_NAME_OK) {
        guest_deny(gs, VG_OUT_BAD_NAME, "not a VM name");
        return;
    }
    if (vg_vmtable_lookup(ss->g->vmt, ss->vm, &origin, err, sizeof err) != VG_VM_OK ||
        !vg_vm_out_allowed(origin, name, rq.port)) {
        vg_info("serial %s (%s): guest stream to %s:%u denied by allow-out", ss->path, ss->vm, name,
                rq.port);
        guest_deny(gs, VG_OUT_NOT_ALLOWED, "not allowed by this VM's allow-out");
        return;
    }
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) != 0) {
        guest_deny(gs, VG_OUT_INTERNAL, "no resources");
        return;
    }
    gs->b = vg_mux_bridge_new(ss->g->base, sp[0], s, guest_bridge_done, gs);
    if (gs->b == NULL) {
        close(sp[0]);
        close(sp[1]);
        guest_deny(gs, VG_OUT_INTERNAL, "no resources");
        return;
    }
    gs->st = GS_BRIDGED;
    if (vg_mux_bridge_set_idle(gs->b, ss->g->cfg->idle_timeout) != 0) {
        close(sp[1]);
        guest_free(gs); /* the bridge closes sp[0] and resets the stream */
        return;
    }
    ss->g->guest_stream(ss->g, sp[1], ss->vm, name, rq.port);
}

/* Streams a guest may open: max-per-vm for this session, guest-share of max-connections for all
 * guests together (the rest stays for clients outside), and max-connections itself. */
static const char *guest_limit(const struct gw_serial *ss)
{
    const struct gw *g = ss->g;
    const struct vg_config *cfg = g->cfg;
    unsigned share = (unsigned)((uint64_t)cfg->max_connections * cfg->guest_share / 100);
    if (ss->nguest >= cfg->max_per_vm)
        return "max-per-vm";
    if (g->nguest >= share)
        return "guest-share";
    if (g->nconns >= cfg->max_connections)
        return "max-connections";
    return NULL;
}

static void on_guest_stream(struct vg_mux *m, struct vg_mux_stream *s, void *arg)
{
    struct gw_serial *ss = arg;
    struct gw *g = ss->g;
    const char *limit = guest_limit(ss);
    struct gw_guest *gs = NULL;
    if (limit) {
        if (ss->refused++ % REFUSE_LOG_EVERY == 0)
            vg_notice("serial %s (%s): guest stream refused: %s reached (%u open; %lu refused)",
                      ss->path, ss->vm, limit, ss->nguest, ss->refused);
    } else if ((gs = vg_calloc(1, sizeof *gs)) != NULL &&
               (gs->timer = evtimer_new(g->base, on_guest_timer, gs)) == NULL) {
        vg_free(gs);
        gs = NULL;
    }
    if (gs == NULL) {
        vg_mux_stream_reset(s);
        vg_mux_stream_free(s);
        return;
    }
    gs->g = g;
    gs->ss = ss;
    gs->s = s;
    gs->st = GS_PREAMBLE;
    LIST_INSERT_HEAD(&ss->guests, gs, link);
    ss->nguest++;
    g->nguest++;
    vg_mux_stream_setcb(s, on_guest_preamble, on_guest_event, gs);
    struct timeval tv = {(time_t)g->cfg->handshake_timeout, 0};
    event_add(gs->timer, &tv);
}

static struct gw_serial *session_get(struct gw *g, const char *path, const char *vm, int *err)
{
    for (struct gw_serial *ss = sessions; ss; ss = ss->next)
        if (strcmp(ss->path, path) == 0 && vg_mux_alive(ss->mux))
            return ss;

    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    size_t n = strlen(path);
    if (n >= sizeof sun.sun_path) {
        *err = ENAMETOOLONG;
        return NULL;
    }
    memcpy(sun.sun_path, path, n + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *err = errno;
        return NULL;
    }
    if (connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
        *err = errno;
        close(fd);
        return NULL;
    }
    struct gw_serial *ss = vg_calloc(1, sizeof *ss);
    static const struct vg_mux_cbs cbs = {.on_accept = on_guest_stream,
                                          .on_close = on_session_close};
    if (ss == NULL || (ss->mux = vg_mux_new(g->base, fd, true, &cbs, ss)) == NULL) {
        *err = ENOMEM;
        vg_free(ss);
        close(fd);
        return NULL;
    }
    ss->g = g;
    LIST_INIT(&ss->guests);
    memcpy(ss->path, path, n + 1);
    snprintf(ss->vm, sizeof ss->vm, "%s", vm);
    if (++next_gen == 0)
        next_gen = 1;
    ss->gen = next_gen;
    unsigned ka = g->cfg->agent_timeout * 1000;
    vg_mux_set_keepalive(ss->mux, ka, 2 * ka);
    ss->next = sessions;
    sessions = ss;
    vg_info("serial %s (%s): agent session opened", path, vm);
    open_control(ss);
    return ss;
}

/* ---- opening streams -------------------------------------------------------------------- */

static void req_finish(struct gw_serial_req *r, struct vg_mux_stream *s, enum vg_outcome out,
                       const char *why)
{
    gw_serial_done_fn done = r->done;
    void *arg = r->arg;
    if (r->s && s == NULL)
        vg_mux_stream_free(r->s);
    event_free(r->timer);
    vg_free(r);
    if (s)
        vg_mux_stream_setcb(s, NULL, NULL, NULL);
    done(arg, s, out, why);
}

static void on_req_read(struct vg_mux_stream *s, void *arg)
{
    struct gw_serial_req *r = arg;
    char line[VG_PREAMBLE_MAX];
    long n = vg_evbuffer_take_line(vg_mux_stream_input(s), line, sizeof line);
    if (n == VG_LINE_NEED_MORE)
        return;
    if (n == VG_LINE_TOO_LONG) {
        req_finish(r, NULL, VG_OUT_PROTOCOL, "agent: reply line too long");
        return;
    }
    struct vg_preamble_reply rep;
    if (vg_preamble_parse_reply(line, (size_t)n, &rep) != 0) {
        req_finish(r, NULL, VG_OUT_PROTOCOL, "agent: malformed reply");
        return;
    }
    if (!rep.ok) {
        char why[300];
        snprintf(why, sizeof why, "agent: %s %s", rep.code, rep.text);
        req_finish(r, NULL, vg_outcome_of_err(rep.code), why);
        return;
    }
    r->s = NULL; /* handed over */
    req_finish(r, s, VG_OUT_OK, NULL);
}

static void on_req_event(struct vg_mux_stream *s, short what, void *arg)
{
    struct gw_serial_req *r = arg;
    if (what & VG_MUX_RESET)
        req_finish(r, NULL, VG_OUT_AGENT_DOWN, "agent session ended or stream reset");
    else if (what & VG_MUX_EOF)
        req_finish(r, NULL, VG_OUT_AGENT_DOWN, "agent closed the stream without a reply");
}

static void on_req_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct gw_serial_req *r = arg;
    req_finish(r, NULL, VG_OUT_AGENT_DOWN, "agent not answering");
}

struct gw_serial_req *gw_serial_open(struct gw *g, const char *path, const char *vm, uint16_t port,
                                     gw_serial_done_fn done, void *arg, enum vg_outcome *out,
                                     const char **why)
{
    int err = 0;
    struct gw_serial *ss = session_get(g, path, vm, &err);
    if (ss == NULL) {
        *out = vg_outcome_of_errno(err, VG_VIA_SOCKET, why);
        return NULL;
    }
    struct gw_serial_req *r = vg_calloc(1, sizeof *r);
    if (r == NULL || (r->timer = evtimer_new(g->base, on_req_timeout, r)) == NULL ||
        (r->s = vg_mux_open(ss->mux)) == NULL) {
        if (r && r->timer)
            event_free(r->timer);
        vg_free(r);
        *out = VG_OUT_AGENT_DOWN;
        *why = "cannot open a stream to the agent";
        return NULL;
    }
    r->done = done;
    r->arg = arg;
    char line[32];
    int n = snprintf(line, sizeof line, "CONNECT %u\n", port);
    vg_mux_stream_setcb(r->s, on_req_read, on_req_event, r);
    vg_mux_stream_write(r->s, line, (size_t)n);
    struct timeval tv = {(time_t)g->cfg->agent_timeout, 0};
    event_add(r->timer, &tv);
    return r;
}

void gw_serial_cancel(struct gw_serial_req *r)
{
    if (r->s)
        vg_mux_stream_free(r->s);
    event_free(r->timer);
    vg_free(r);
}

void gw_serial_close_all(struct gw *g)
{
    while (sessions)
        session_free(sessions);
}

bool gw_serial_info(const char *path, struct gw_serial_info *out)
{
    memset(out, 0, sizeof *out);
    for (struct gw_serial *ss = sessions; ss; ss = ss->next) {
        if (strcmp(ss->path, path) == 0 && vg_mux_alive(ss->mux)) {
            unsigned n = vg_mux_stream_count(ss->mux);
            out->up = true;
            out->gen = ss->gen;
            out->streams = ss->ctl && n > 0 ? n - 1 : n;
            snprintf(out->agent_version, sizeof out->agent_version, "%s", ss->agent_version);
            return true;
        }
    }
    return false;
}

uint32_t gw_serial_session_of(const struct vg_mux_stream *s)
{
    struct vg_mux *m = vg_mux_stream_mux(s);
    for (struct gw_serial *ss = sessions; m && ss; ss = ss->next)
        if (ss->mux == m)
            return ss->gen;
    return 0;
}

unsigned gw_serial_count(void)
{
    unsigned n = 0;
    for (struct gw_serial *ss = sessions; ss; ss = ss->next)
        n += vg_mux_alive(ss->mux);
    return n;
}
