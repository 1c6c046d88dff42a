/* vmgate-agent — the guest side of the serial channel (docs/protocol.md).
 *
 * Talks yamux over the virtio-serial port (server side: even stream ids).  Streams the host
 * opens start with "CONNECT <port>" (relayed to 127.0.0.1:<port>) or "CONTROL"; guest programs
 * reach the host through the local SOCKS5 listener and the local control socket.  When the host
 * goes away (EOF / POLLHUP on the port), every stream is reset and the agent waits for the next
 * host connection, polling the port on a timer.
 */
#include "agent.h"

#include "vg_addr.h"
#include "vg_alloc.h"
#include "vg_log.h"
#include "vg_mux.h"
#include "vg_mux_bridge.h"
#include "vg_mux_ctl.h"
#include "vg_outcome.h"
#include "vg_time.h"
#include "vg_version.h"

#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/vm_sockets.h>
#endif

#define RETRY_HOSTLESS_MS 300 /* port open but no host: poll again after this */
#define RETRY_NODEVICE_MS 2000

static struct agent A;
static struct event *retry_ev, *listen_ev;
static int listen_fd = -1;
static char *listen_unix_path;
static uint64_t session_t0;
static unsigned session_streams;
static bool nodevice_warned;

/* ------------------------------------------------------------------------------ host streams */

struct hstream {
    struct agent *a;
    struct vg_mux_stream *s;
    int fd;
    struct event *cev;
    struct vg_mux_bridge *br;
    uint16_t port;
    char id[32];
};

static void hs_free(struct hstream *h)
{
    if (h->cev)
        event_free(h->cev);
    if (h->br) {
        vg_mux_bridge_free(h->br); /* closes fd, frees the stream */
    } else {
        if (h->fd >= 0)
            close(h->fd);
        if (h->s)
            vg_mux_stream_free(h->s);
    }
    vg_free(h);
}

/* Answer "ERR code text" (the ERR word of outcome o), FIN, and let the stream linger until the
 * host closes its side. */
static void hs_refuse(struct hstream *h, enum vg_outcome o, const char *text)
{
    const char *code = vg_outcome_err(o);
    char line[VG_PREAMBLE_MAX];
    int n = snprintf(line, sizeof line, "ERR %s %s\n", code, text);
    if (n > 0 && (size_t)n < sizeof line)
        vg_mux_stream_write(h->s, line, (size_t)n);
    vg_info("%s: ERR %s %s", h->id, code, text);
    vg_mux_stream_shutdown(h->s);
    vg_mux_stream_setcb(h->s, NULL, NULL, NULL);
    hs_free(h);
}

static void hs_bridge_done(struct vg_mux_bridge *b, uint64_t up, uint64_t down, const char *err,
                           void *arg)
{
    struct hstream *h = arg;
    vg_info("%s: closed, %llu bytes to the host, %llu to the service%s%s", h->id,
            (unsigned long long)up, (unsigned long long)down, err ? ": " : "", err ? err : "");
    hs_free(h);
}

static void hs_connected(struct hstream *h)
{
    int one = 1;
    setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (vg_mux_stream_write(h->s, "OK\n", 3) != 0) {
        hs_free(h);
        return;
    }
    h->br = vg_mux_bridge_new(h->a->base, h->fd, h->s, hs_bridge_done, h);
    if (!h->br) {
        vg_mux_stream_reset(h->s);
        hs_free(h);
        return;
    }
    vg_info("%s: connected to 127.0.0.1:%u", h->id, h->port);
}

static void hs_connect_failed(struct hstream *h, int err)
{
    const char *why;
    enum vg_outcome o = vg_outcome_of_errno(err, VG_VIA_GUEST, &why);
    close(h->fd);
    h->fd = -1;
    hs_refuse(h, o, why);
}

static void hs_connect_cb(evutil_socket_t fd, short what, void *arg)
{
    struct hstream *h = arg;
    if (what & EV_TIMEOUT) {
        hs_connect_failed(h, ETIMEDOUT);
        return;
    }
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err != 0) {
        hs_connect_failed(h, err);
        return;
    }
    hs_connected(h);
}

static bool port_allowed(const struct agent *a, uint16_t port)
{
    return !a->allow || (a->allow[port >> 3] >> (port & 7)) & 1;
}

static void hs_start_connect(struct hstream *h, uint16_t port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    h->port = port;
    if (!port_allowed(h->a, port)) {
        hs_refuse(h, VG_OUT_NOT_ALLOWED, "port not allowed by the agent");
        return;
    }
    h->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (h->fd < 0) {
        hs_refuse(h, VG_OUT_INTERNAL, strerror(errno));
        return;
    }
    if (connect(h->fd, (struct sockaddr *)&sin, sizeof sin) == 0) {
        hs_connected(h);
        return;
    }
    if (errno != EINPROGRESS) {
        hs_connect_failed(h, errno);
        return;
    }
    struct timeval tv = {h->a->connect_timeout_ms / 1000, (h->a->connect_timeout_ms % 1000) * 1000};
    h->cev = event_new(h->a->base, h->fd, EV_WRITE, hs_connect_cb, h);
    if (!h->cev || event_add(h->cev, &tv) != 0) {
        hs_connect_failed(h, ENOMEM);
        return;
    }
}

static void hs_event(struct vg_mux_stream *s, short what, void *arg)
{
    struct hstream *h = arg;
    if (what & VG_MUX_RESET) {
        vg_info("%s: reset before it was relayed", h->id);
        hs_free(h);
    }
    /* EOF while waiting for the preamble or the connect: the bridge sees it from the state */
}

static void hs_read(struct vg_mux_stream *s, void *arg)
{
    struct hstream *h = arg;
    struct evbuffer *in = vg_mux_stream_input(s);
    if (h->cev || h->fd >= 0)
        return; /* connecting: the bytes wait for the bridge */
    char line[VG_PREAMBLE_MAX];
    long n = vg_evbuffer_take_line(in, line, sizeof line);
    if (n == VG_LINE_NEED_MORE)
        return;
    if (n == VG_LINE_TOO_LONG) {
        hs_refuse(h, VG_OUT_BAD_REQUEST, "request line too long");
        return;
    }
    struct vg_preamble pre;
    if (vg_preamble_parse_request(line, (size_t)n, &pre) != 0 || pre.kind == VG_PRE_CONNECT_NAME) {
        vg_info("%s: bad request line", h->id);
        hs_refuse(h, VG_OUT_BAD_REQUEST, "bad request");
        return;
    }
    if (pre.kind == VG_PRE_CONTROL) {
        if (!h->a->ctl) {
            hs_refuse(h, VG_OUT_NOT_ALLOWED, "control disabled");
            return;
        }
        struct vg_mux_stream *st = h->s;
        struct agent_ctl *ctl = h->a->ctl;
        vg_info("%s: control stream", h->id);
        vg_free(h);
        vg_mux_stream_write(st, "OK\n", 3);
        agent_ctl_attach(ctl, st);
        return;
    }
    hs_start_connect(h, pre.port);
}

static void on_accept(struct vg_mux *m, struct vg_mux_stream *s, void *arg)
{
    struct agent *a = arg;
    struct hstream *h = vg_calloc(1, sizeof *h);
    if (!h) {
        vg_mux_stream_reset(s);
        vg_mux_stream_free(s);
        return;
    }
    h->a = a;
    h->s = s;
    h->fd = -1;
    snprintf(h->id, sizeof h->id, "s%lu.%u", a->session_no, vg_mux_stream_id(s));
    session_streams++;
    vg_mux_stream_setcb(s, hs_read, hs_event, h);
}

/* ------------------------------------------------------------------------------ channel */

static void channel_wait(void);

static void on_close(struct vg_mux *m, const char *why, void *arg)
{
    struct agent *a = arg;
    uint64_t lasted = vg_now_ms() - session_t0;
    /* a port without a host reads EOF at once: do not log every poll */
    if (session_streams == 0 && lasted < 1000 && !a->listen_spec)
        vg_debug("session %lu: %s", a->session_no, why);
    else
        vg_notice("session %lu ended after %llu ms: %s", a->session_no, (unsigned long long)lasted,
                  why);
    if (a->ctl)
        agent_ctl_session_end(a->ctl);
    vg_mux_free(m);
    a->mux = NULL;
    if (!a->stopping)
        channel_wait();
}

static void on_pong(struct vg_mux *m, uint64_t rtt_us, void *arg)
{
    vg_debug("keepalive rtt %llu us", (unsigned long long)rtt_us);
}

static const struct vg_mux_cbs mux_cbs = {on_accept, on_close, on_pong};

static void session_start(struct agent *a, int fd)
{
    a->mux = vg_mux_new(a->base, fd, false, &mux_cbs, a);
    if (!a->mux) {
        vg_err("cannot start a session (out of memory)");
        close(fd);
        channel_wait();
        return;
    }
    a->session_no++;
    session_t0 = vg_now_ms();
    session_streams = 0;
    if (a->keepalive_s)
        vg_mux_set_keepalive(a->mux, a->keepalive_s * 1000, a->keepalive_s * 2000);
    vg_debug("session %lu: started on fd %d", a->session_no, fd);
}

/* /sys/class/virtio-ports/<vportNpM>/name == name → /dev/<vportNpM> */
static bool find_port(const char *name, char *path, size_t len)
{
    DIR *d = opendir("/sys/class/virtio-ports");
    struct dirent *e;
    bool found = false;
    if (!d)
        return false;
    while (!found && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char f[512], buf[256];
        snprintf(f, sizeof f, "/sys/class/virtio-ports/%s/name", e->d_name);
        FILE *fp = fopen(f, "re");
        if (!fp)
            continue;
        if (fgets(buf, sizeof buf, fp)) {
            buf[strcspn(buf, "\n")] = '\0';
            if (strcmp(buf, name) == 0) {
                snprintf(path, len, "/dev/%s", e->d_name);
                found = true;
            }
        }
        fclose(fp);
    }
    closedir(d);
    return found;
}

static void retry_in(unsigned ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(retry_ev, &tv);
}

static void device_open(void)
{
    char path[300];
    const char *dev = A.device;
    if (!dev) {
        if (!find_port(A.port_name, path, sizeof path)) {
            if (!nodevice_warned)
                vg_warn("no virtio port named %s yet; waiting", A.port_name);
            nodevice_warned = true;
            retry_in(RETRY_NODEVICE_MS);
            return;
        }
        dev = path;
    }
    int fd = open(dev, O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (!nodevice_warned)
            vg_warn("open %s: %s; waiting", dev, strerror(errno));
        nodevice_warned = true;
        retry_in(RETRY_NODEVICE_MS);
        return;
    }
    if (nodevice_warned)
        vg_notice("opened %s", dev);
    nodevice_warned = false;
    session_start(&A, fd);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    device_open();
}

static void listen_cb(evutil_socket_t lfd, short what, void *arg)
{
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
            vg_warn("accept: %s", strerror(errno));
        return;
    }
    event_del(listen_ev); /* one host connection at a time, like QEMU's chardev */
    vg_notice("host connected");
    session_start(&A, fd);
}

/* After a session: wait for the next host. */
static void channel_wait(void)
{
    if (A.listen_spec)
        event_add(listen_ev, NULL);
    else
        retry_in(RETRY_HOSTLESS_MS);
}

static int listen_open(const char *spec)
{
    int fd = -1;
    if (strncmp(spec, "unix:", 5) == 0) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        const char *p = spec + 5;
        if (strlen(p) == 0 || strlen(p) >= sizeof sun.sun_path) {
            fprintf(stderr, "vmgate-agent: bad unix socket path in %s\n", spec);
            return -1;
        }
        strcpy(sun.sun_path, p);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        unlink(p);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0 || listen(fd, 4) != 0) {
            fprintf(stderr, "vmgate-agent: listen %s: %s\n", spec, strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
        listen_unix_path = vg_strdup(p);
        return fd;
    }
#ifdef AF_VSOCK
    if (strncmp(spec, "vsock:", 6) == 0) {
        /* the host connects to the guest's vsock port and speaks the same protocol */
        unsigned long port;
        if (!vg_parse_uint(spec + 6, 1, UINT32_MAX - 1, &port)) {
            fprintf(stderr, "vmgate-agent: bad vsock port in %s\n", spec);
            return -1;
        }
        struct sockaddr_vm svm = {
            .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = (unsigned)port};
        fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&svm, sizeof svm) != 0 || listen(fd, 4) != 0) {
            fprintf(stderr, "vmgate-agent: listen %s: %s\n", spec, strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
        return fd;
    }
#endif
    fprintf(stderr, "vmgate-agent: --listen wants unix:PATH or vsock:PORT, not %s\n", spec);
    return -1;
}

static void stop_cb(evutil_socket_t sig, short what, void *arg)
{
    A.stopping = true;
    event_base_loopbreak(A.base);
}

/* ------------------------------------------------------------------------------ options */

static bool allow_item(const char *item, void *arg)
{
    uint8_t *bits = arg;
    char lo_s[16], hi_s[16];
    const char *dash = strchr(item, '-');
    uint16_t lo, hi;
    if (dash) {
        size_t l = (size_t)(dash - item);
        if (l >= sizeof lo_s || strlen(dash + 1) >= sizeof hi_s)
            return false;
        memcpy(lo_s, item, l);
        lo_s[l] = '\0';
        strcpy(hi_s, dash + 1);
        if (!vg_parse_port(lo_s, &lo) || !vg_parse_port(hi_s, &hi) || hi < lo)
            return false;
    } else if (!vg_parse_port(item, &lo)) {
        return false;
    } else {
        hi = lo;
    }
    for (unsigned p = lo; p <= hi; p++)
        bits[p >> 3] |= (uint8_t)(1u << (p & 7));
    return true;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vmgate-agent [options]\n"
            "The guest side of vmgate's serial channel: relays streams the host opens to local\n"
            "TCP ports, carries control messages, and lets guest programs reach other VMs.\n"
            "\n"
            "Channel (default: the virtio-serial port named org.vmgate.0):\n"
            "  -p, --port-name NAME      virtio-serial port name (/sys/class/virtio-ports/*/name)\n"
            "  -d, --device PATH         use this character device instead\n"
            "  -l, --listen unix:PATH    accept host connections on a unix socket (tests: plays\n"
            "                            QEMU's part), one at a time; also vsock:PORT\n"
            "Services:\n"
            "  -a, --allow-ports LIST    ports the host may connect to, e.g. 22,80,8000-8100\n"
            "                            (default: all)\n"
            "  -t, --connect-timeout S   timeout for connecting to a local port (default 10)\n"
            "  -s, --socks ADDR:PORT     local SOCKS5 listener for guest programs (no auth),\n"
            "                            e.g. 127.0.0.1:1080 (default: none)\n"
            "  -c, --control-socket PATH local control socket (default /run/vmgate-agent.sock;\n"
            "                            'none' disables)\n"
            "Session:\n"
            "  -k, --keepalive SECS      ping the host every SECS, give up after 2*SECS without\n"
            "                            an answer (default 30, 0 = off)\n"
            "  -v, --verbose             more logging (twice: debug)\n"
            "  -V, --version\n"
            "  -h, --help\n"
            "Protocol: docs/protocol.md in the vmgate sources.\n");
}

int main(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"port-name", required_argument, NULL, 'p'},
        {"device", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},
        {"allow-ports", required_argument, NULL, 'a'},
        {"connect-timeout", required_argument, NULL, 't'},
        {"socks", required_argument, NULL, 's'},
        {"control-socket", required_argument, NULL, 'c'},
        {"keepalive", required_argument, NULL, 'k'},
        {"verbose", no_argument, NULL, 'v'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int verbose = 0, opt, rc = 1;
    unsigned long v;
    struct event *sigterm = NULL, *sigint = NULL;
    char *allow_list = NULL;

    A.port_name = "org.vmgate.0";
    A.control_path = "/run/vmgate-agent.sock";
    A.keepalive_s = 30;
    A.connect_timeout_ms = 10000;
    while ((opt = getopt_long(argc, argv, "p:d:l:a:t:s:c:k:vVh", lopts, NULL)) != -1) {
        switch (opt) {
        case 'p':
            A.port_name = optarg;
            break;
        case 'd':
            A.device = optarg;
            break;
        case 'l':
            A.listen_spec = optarg;
            break;
        case 'a':
            allow_list = optarg;
            break;
        case 't':
            if (!vg_parse_uint(optarg, 1, 3600, &v)) {
                fprintf(stderr, "vmgate-agent: bad --connect-timeout %s\n", optarg);
                return 2;
            }
            A.connect_timeout_ms = (unsigned)v * 1000;
            break;
        case 's':
            A.socks_addr = strcmp(optarg, "none") == 0 ? NULL : optarg;
            break;
        case 'c':
            A.control_path = strcmp(optarg, "none") == 0 ? NULL : optarg;
            break;
        case 'k':
            if (!vg_parse_uint(optarg, 0, 86400, &v) && strcmp(optarg, "0") != 0) {
                fprintf(stderr, "vmgate-agent: bad --keepalive %s\n", optarg);
                return 2;
            }
            A.keepalive_s = strcmp(optarg, "0") == 0 ? 0 : (unsigned)v;
            break;
        case 'v':
            verbose++;
            break;
        case 'V':
            puts("vmgate-agent " VMGATE_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    if (allow_list && strcmp(allow_list, "all") != 0) {
        char *copy = vg_strdup(allow_list);
        A.allow = vg_calloc(65536 / 8, 1);
        if (!copy || !A.allow || !vg_list_foreach(copy, allow_item, A.allow)) {
            fprintf(stderr, "vmgate-agent: bad --allow-ports %s\n", allow_list);
            vg_free(copy);
            vg_free(A.allow);
            return 2;
        }
        vg_free(copy);
    }
    vg_log_open("vmgate-agent",
                verbose >= 2 ? VG_LOG_DEBUG
                : verbose    ? VG_LOG_INFO
                             : VG_LOG_NOTICE,
                false);
    signal(SIGPIPE, SIG_IGN);

    A.base = event_base_new();
    if (!A.base)
        goto done;
    retry_ev = evtimer_new(A.base, retry_cb, NULL);
    sigterm = evsignal_new(A.base, SIGTERM, stop_cb, NULL);
    sigint = evsignal_new(A.base, SIGINT, stop_cb, NULL);
    if (!retry_ev || !sigterm || !sigint || event_add(sigterm, NULL) || event_add(sigint, NULL))
        goto done;
    if (A.control_path && !(A.ctl = agent_ctl_new(&A, A.control_path)))
        goto done;
    if (A.socks_addr && !(A.socks = agent_socks_new(&A, A.socks_addr)))
        goto done;
    if (A.listen_spec) {
        if ((listen_fd = listen_open(A.listen_spec)) < 0)
            goto done;
        listen_ev = event_new(A.base, listen_fd, EV_READ | EV_PERSIST, listen_cb, NULL);
        if (!listen_ev || event_add(listen_ev, NULL) != 0)
            goto done;
        vg_notice("vmgate-agent %s listening on %s", VMGATE_VERSION, A.listen_spec);
    } else {
        vg_notice("vmgate-agent %s on %s", VMGATE_VERSION, A.device ? A.device : A.port_name);
        device_open();
    }
    event_base_dispatch(A.base);
    vg_notice("stopping");
    rc = 0;
done:
    A.stopping = true;
    if (A.mux) {
        vg_mux_free(A.mux); /* resets every stream: their owners free themselves */
        A.mux = NULL;
    }
    if (A.socks)
        agent_socks_free(A.socks);
    if (A.ctl)
        agent_ctl_free(A.ctl);
    if (listen_ev)
        event_free(listen_ev);
    if (listen_fd >= 0)
        close(listen_fd);
    if (listen_unix_path) {
        unlink(listen_unix_path);
        vg_free(listen_unix_path);
    }
    if (retry_ev)
        event_free(retry_ev);
    if (sigterm)
        event_free(sigterm);
    if (sigint)
        event_free(sigint);
    if (A.base)
        event_base_free(A.base);
    vg_free(A.allow);
    return rc;
}
