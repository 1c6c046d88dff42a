#include "serial.h"

#include "gw.h"
#include "vmtable.h"

#include "vg_alloc.h"
#include "vg_log.h"
#include "vg_mux.h"
#include "vg_mux_bridge.h"
#include "vg_mux_ctl.h"
#include "vg_name.h"

#include <errno.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct gw_serial {
    struct gw_serial *next;
    struct gw *g;
    struct vg_mux *mux;
    struct vg_mux_stream *ctl;
    struct event *ctl_timer; /* liveness of the control stream (see check_control) */
    unsigned long ctl_ping;  /* id of the outstanding "req op=ping", 0 = none */
    unsigned ctl_missed;     /* checks since it was sent */
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char vm[256];
};

struct gw_serial_req {
    struct vg_mux_stream *s;
    struct event *timer;
    gw_serial_done_fn done;
    void *arg;
    char vm[256];
};

static struct gw_serial *sessions;

static void session_free(struct gw_serial *ss)
{
    for (struct gw_serial **pp = &sessions; *pp; pp = &(*pp)->next) {
        if (*pp == ss) {
            *pp = ss->next;
            break;
        }
    }
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

static void ctl_send(struct gw_serial *ss, const char *line)
{
    if (ss->ctl)
        vg_mux_stream_write(ss->ctl, line, strlen(line));
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
        vg_info("serial %s (%s): malformed control line ignored", ss->path, ss->vm);
        return;
    }
    if (strcmp(m.verb, "event") == 0) {
        const char *id = vg_ctl_get(&m, "id");
        char want[24];
        snprintf(want, sizeof want, "%lu", ss->ctl_ping);
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
    vg_info("serial %s (%s): guest request %s op=%s", ss->path, ss->vm, id, op ? op : "-");
    ctl_send(ss, out);
}

static void on_ctl_read(struct vg_mux_stream *s, void *arg)
{
    struct gw_serial *ss = arg;
    char line[VG_CTL_LINE_MAX];
    long n;
    while ((n = vg_evbuffer_take_line(vg_mux_stream_input(s), line, sizeof line)) >= 0)
        ctl_handle(ss, line, (size_t)n);
    if (n == VG_LINE_TOO_LONG) {
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

/* An agent restarted inside the guest does not end the session: QEMU keeps the host side of the
 * port open and the new agent answers yamux pings.  But it knows nothing of our control stream,
 * so a request sent there stays unanswered (or the stream is reset).  Every agent-timeout
 * seconds a "req op=ping" goes out on the control stream; when one stays unanswered for three
 * checks (a busy guest gets that long), or the control stream is gone, the session is stale: it
 * ends, and the next request opens a fresh one (with a new hello). */
static void check_control(evutil_socket_t fd, short what, void *arg)
{
    struct gw_serial *ss = arg;
    static unsigned long seq;
    if (ss->ctl_ping != 0 && ++ss->ctl_missed < 3)
        return;
    if (ss->ctl == NULL || ss->ctl_ping != 0) {
        vg_notice("serial %s (%s): control stream %s: the agent restarted; starting a new session",
                  ss->path, ss->vm, ss->ctl ? "unanswered" : "gone");
        session_free(ss);
        return;
    }
    char line[64];
    ss->ctl_ping = ++seq;
    ss->ctl_missed = 0;
    snprintf(line, sizeof line, "req id=%lu op=ping\n", ss->ctl_ping);
    ctl_send(ss, line);
}

static void open_control(struct gw_serial *ss)
{
    char hello[700];
    const struct vg_config *cfg = ss->g->cfg;
    const char *zone = vg_config_zone_of(cfg, ss->vm);
    ss->ctl = vg_mux_open(ss->mux);
    if (ss->ctl == NULL)
        return;
    vg_mux_stream_setcb(ss->ctl, on_ctl_read, on_ctl_event, ss);
    struct timeval tv = {(time_t)ss->g->cfg->agent_timeout, 0};
    ss->ctl_timer = event_new(ss->g->base, -1, EV_PERSIST, check_control, ss);
    if (ss->ctl_timer)
        event_add(ss->ctl_timer, &tv);
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
struct guest_open {
    struct gw_serial *ss;
    struct vg_mux_stream *s;
};

static void guest_deny(struct vg_mux_stream *s, enum vg_outcome o, const char *text)
{
    char line[300];
    int n = snprintf(line, sizeof line, "ERR %s %s\n", vg_outcome_err(o), text);
    vg_mux_stream_write(s, line, (size_t)n);
    vg_mux_stream_shutdown(s);
    vg_mux_stream_free(s);
}

static void guest_bridge_done(struct vg_mux_bridge *b, uint64_t in, uint64_t out, const char *err,
                              void *arg)
{
    vg_mux_bridge_free(b);
}

static void on_guest_preamble(struct vg_mux_stream *s, void *arg)
{
    struct guest_open *go = arg;
    struct gw_serial *ss = go->ss;
    char line[VG_PREAMBLE_MAX];
    long n = vg_evbuffer_take_line(vg_mux_stream_input(s), line, sizeof line);
    if (n == VG_LINE_NEED_MORE)
        return;
    vg_free(go);
    if (n == VG_LINE_TOO_LONG) {
        guest_deny(s, VG_OUT_BAD_REQUEST, "request line too long");
        return;
    }
    struct vg_preamble rq;
    if (vg_preamble_parse_request(line, (size_t)n, &rq) != 0 || rq.kind != VG_PRE_CONNECT_NAME) {
        guest_deny(s, VG_OUT_BAD_REQUEST, "expected CONNECT <name> <port>");
        return;
    }
    char name[VG_NAME_MAX + 1], err[256];
    const struct vg_vm *origin;
    if (vg_name_normalize(rq.name, strlen(rq.name), name) != VG_NAME_OK) {
        guest_deny(s, VG_OUT_BAD_NAME, "not a VM name");
        return;
    }
    if (vg_vmtable_lookup(ss->g->vmt, ss->vm, &origin, err, sizeof err) != VG_VM_OK ||
        !vg_vm_out_allowed(origin, name, rq.port)) {
        vg_info("serial %s (%s): guest stream to %s:%u denied by allow-out", ss->path, ss->vm, name,
                rq.port);
        guest_deny(s, VG_OUT_NOT_ALLOWED, "not allowed by this VM's allow-out");
        return;
    }
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) != 0) {
        guest_deny(s, VG_OUT_INTERNAL, "no resources");
        return;
    }
    if (vg_mux_bridge_new(ss->g->base, sp[0], s, guest_bridge_done, NULL) == NULL) {
        close(sp[0]);
        close(sp[1]);
        guest_deny(s, VG_OUT_INTERNAL, "no resources");
        return;
    }
    ss->g->guest_stream(ss->g, sp[1], ss->vm, name, rq.port);
}

static void on_guest_event(struct vg_mux_stream *s, short what, void *arg)
{
    if (what & (VG_MUX_EOF | VG_MUX_RESET)) {
        vg_free(arg);
        vg_mux_stream_free(s);
    }
}

static void on_guest_stream(struct vg_mux *m, struct vg_mux_stream *s, void *arg)
{
    struct gw_serial *ss = arg;
    struct guest_open *go = vg_calloc(1, sizeof *go);
    if (go == NULL) {
        vg_mux_stream_reset(s);
        vg_mux_stream_free(s);
        return;
    }
    go->ss = ss;
    go->s = s;
    vg_mux_stream_setcb(s, on_guest_preamble, on_guest_event, go);
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
    memcpy(ss->path, path, n + 1);
    snprintf(ss->vm, sizeof ss->vm, "%s", vm);
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
