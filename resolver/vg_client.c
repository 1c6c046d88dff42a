#include "vg_client.h"

#include "vg_addr.h"
#include "vg_alloc.h"
#include "vg_config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define DEFAULT_CONFIG "/etc/vmgate/vmgate.conf"

enum vg_exit vg_exit_of_res(enum vg_res_status st)
{
    return vg_outcome_exit(vg_res_outcome(st));
}

/* ---- command lines ---------------------------------------------------------------------- */

static bool parse_secs(const char *s, unsigned max, unsigned *out)
{
    unsigned long v;
    if (!vg_parse_uint(s, 1, max, &v))
        return false;
    *out = (unsigned)v;
    return true;
}

void vg_connect_usage(void *stream)
{
    fputs("Usage: vmgate-connect [-c FILE] [--server ADDR:PORT] [-g ADDR:PORT] [--user U]\n"
          "                      [--fdpass] [-t SECS] [--connect-timeout SECS] [-v] HOST PORT\n"
          "\n"
          "Connects to PORT of the VM named HOST through the gateway of the host that runs it\n"
          "(found in DNS: A/AAAA, SRV _vmgate._tcp.HOST for the port, TXT vmgate-owner=), then\n"
          "relays stdin/stdout.  For ssh: ProxyCommand vmgate-connect %h %p\n"
          "\n"
          "  -c, --config FILE     configuration (default $VMGATE_CONFIG, else\n"
          "                        /etc/vmgate/vmgate.conf if it exists): [dns] zone, server,\n"
          "                        timeout; [client] user, password, password-file, server\n"
          "      --server ADDR:PORT  DNS server(s) to ask, comma list (overrides [dns] server)\n"
          "  -g, --gateway ADDR:PORT  send the request to this gateway instead of the owning\n"
          "                        host's (overrides [client] server; e.g. a local --front)\n"
          "  -u, --user U          SOCKS5 user (else $VMGATE_USER, else [client] user); the\n"
          "                        password comes from $VMGATE_PASSWORD, else [client]\n"
          "                        password-file, else [client] password\n"
          "      --fdpass          hand the connected socket to ssh over stdout and exit\n"
          "                        (ssh -o ProxyUseFdpass=yes)\n"
          "  -t, --timeout SECS    deadline for DNS + connecting + handshake (default 20)\n"
          "      --connect-timeout SECS  per gateway address (default 3)\n"
          "  -v, --verbose         say on stderr what was found and which address answered\n"
          "  -h, --help, -V, --version\n"
          "\n"
          "Exit codes:\n"
          "   0  tunnel ended normally (--fdpass: socket handed over)\n"
          "   1  local error (memory, descriptors, I/O error in the relay)\n"
          "  10  no such VM (the name does not exist, or has no address)\n"
          "  11  DNS timeout: no DNS server answered\n"
          "  12  other DNS failure (SERVFAIL, REFUSED, malformed reply)\n"
          "  20  gateway unreachable: every address refused, timed out or had no route\n"
          "  21  authentication failed, or the gateway wants credentials and none are set\n"
          "  22  gateway refused: not allowed (SOCKS 0x02)\n"
          "  23  gateway refused: VM not on that host or its channel down (SOCKS 0x04)\n"
          "  24  gateway refused: port closed in the VM (SOCKS 0x05)\n"
          "  25  gateway refused: timeout reaching the VM (SOCKS 0x06)\n"
          "  26  other SOCKS failure or protocol error\n"
          "  27  the -t deadline passed\n"
          "  64  usage, 65 bad VM name, 78 configuration\n",
          stream);
}

enum vg_args vg_connect_parse_args(int argc, char **argv, struct vg_connect_opts *o, char *err,
                                   size_t errlen)
{
    enum { O_SERVER = 256, O_FDPASS, O_CTIMEOUT };
    static const struct option lopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"server", required_argument, NULL, O_SERVER},
        {"gateway", required_argument, NULL, 'g'},
        {"user", required_argument, NULL, 'u'},
        {"fdpass", no_argument, NULL, O_FDPASS},
        {"timeout", required_argument, NULL, 't'},
        {"connect-timeout", required_argument, NULL, O_CTIMEOUT},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    *o = (struct vg_connect_opts){.timeout = 20, .connect_timeout = 3};
    optind = 0; /* full re-initialisation (GNU), so the parser can run more than once */
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+c:g:u:t:vhV", lopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config = optarg;
            break;
        case O_SERVER:
            o->dns_server = optarg;
            break;
        case 'g':
            o->gateway = optarg;
            break;
        case 'u':
            if (optarg[0] == '\0') {
                snprintf(err, errlen, "--user: empty user name");
                return VG_ARGS_ERROR;
            }
            o->user = optarg;
            break;
        case O_FDPASS:
            o->fdpass = true;
            break;
        case 't':
            if (!parse_secs(optarg, 3600, &o->timeout)) {
                snprintf(err, errlen, "-t: expected seconds 1..3600, got '%s'", optarg);
                return VG_ARGS_ERROR;
            }
            break;
        case O_CTIMEOUT:
            if (!parse_secs(optarg, 600, &o->connect_timeout)) {
                snprintf(err, errlen, "--connect-timeout: expected seconds 1..600, got '%s'",
                         optarg);
                return VG_ARGS_ERROR;
            }
            break;
        case 'v':
            o->verbose = true;
            break;
        case 'h':
            return VG_ARGS_HELP;
        case 'V':
            return VG_ARGS_VERSION;
        default:
            if (optopt && optopt < 256)
                snprintf(err, errlen, "unknown option or missing argument: -%c", optopt);
            else
                snprintf(err, errlen, "unknown option or missing argument: %s", argv[optind - 1]);
            return VG_ARGS_ERROR;
        }
    }
    if (argc - optind != 2) {
        snprintf(err, errlen, "expected HOST PORT, got %d argument%s", argc - optind,
                 argc - optind == 1 ? "" : "s");
        return VG_ARGS_ERROR;
    }
    o->host = argv[optind];
    if (!vg_parse_port(argv[optind + 1], &o->port)) {
        snprintf(err, errlen, "PORT: expected 1..65535, got '%s'", argv[optind + 1]);
        return VG_ARGS_ERROR;
    }
    if (o->gateway != NULL) {
        struct sockaddr_storage ss;
        socklen_t sl;
        if (!vg_sockaddr_parse(o->gateway, 0, &ss, &sl)) {
            snprintf(err, errlen, "--gateway: expected ADDR:PORT or [ADDR]:PORT, got '%s'",
                     o->gateway);
            return VG_ARGS_ERROR;
        }
    }
    return VG_ARGS_OK;
}

void vg_resolve_usage(void *stream)
{
    fputs("Usage: vmgate-resolve [-c FILE] [--server ADDR:PORT] [--json] NAME\n"
          "\n"
          "Looks a VM name up the way vmgate-connect and the gateways do (A, AAAA, TXT\n"
          "vmgate-owner=, SRV _vmgate._tcp.NAME) and prints the owning host, the gateway and\n"
          "its port, the addresses and the TTL.  Short names are put under the first zone.\n"
          "\n"
          "  -c, --config FILE      configuration ([dns] zone, server, timeout)\n"
          "      --server ADDR:PORT DNS server(s), comma list (overrides [dns] server)\n"
          "  -j, --json             one JSON object on stdout (also for failures)\n"
          "  -h, --help, -V, --version\n"
          "\n"
          "Exit codes: 0 found, 10 no such VM, 11 DNS timeout / no server answered,\n"
          "12 other DNS failure, 64 usage, 65 bad name, 78 configuration, 1 local error.\n",
          stream);
}

enum vg_args vg_resolve_parse_args(int argc, char **argv, struct vg_resolve_opts *o, char *err,
                                   size_t errlen)
{
    enum { O_SERVER = 256 };
    static const struct option lopts[] = {
        {"config", required_argument, NULL, 'c'}, {"server", required_argument, NULL, O_SERVER},
        {"json", no_argument, NULL, 'j'},         {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0},
    };
    *o = (struct vg_resolve_opts){0};
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+c:jhV", lopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config = optarg;
            break;
        case O_SERVER:
            o->dns_server = optarg;
            break;
        case 'j':
            o->json = true;
            break;
        case 'h':
            return VG_ARGS_HELP;
        case 'V':
            return VG_ARGS_VERSION;
        default:
            snprintf(err, errlen, "unknown option or missing argument: %s", argv[optind - 1]);
            return VG_ARGS_ERROR;
        }
    }
    if (argc - optind != 1) {
        snprintf(err, errlen, "expected one NAME, got %d", argc - optind);
        return VG_ARGS_ERROR;
    }
    o->name = argv[optind];
    return VG_ARGS_OK;
}

struct vg_config *vg_client_config(const char *path, const char *env_config, const char *dns_server,
                                   char *err, size_t errlen)
{
    struct vg_config *cfg;
    if (path == NULL && env_config != NULL && env_config[0] != '\0')
        path = env_config;
    if (path == NULL && access(DEFAULT_CONFIG, F_OK) == 0)
        path = DEFAULT_CONFIG;
    if (path != NULL)
        cfg = vg_config_load(path, err, errlen);
    else if ((cfg = vg_config_defaults()) == NULL)
        snprintf(err, errlen, "out of memory");
    if (cfg != NULL && dns_server != NULL) {
        char *dup = vg_strdup(dns_server);
        if (dup == NULL) {
            snprintf(err, errlen, "out of memory");
            vg_config_free(cfg);
            return NULL;
        }
        vg_free(cfg->server);
        cfg->server = dup;
    }
    return cfg;
}

/* ---- credentials ------------------------------------------------------------------------ */

static bool copy_str(char dst[256], const char *src, const char *what, char *err, size_t errlen)
{
    size_t n = strlen(src);
    if (n > 255) {
        snprintf(err, errlen, "%s longer than 255 octets (RFC 1929 limit)", what);
        return false;
    }
    memcpy(dst, src, n + 1);
    return true;
}

bool vg_client_creds(const char *opt_user, const char *env_user, const char *env_pass,
                     const struct vg_config *cfg, struct vg_creds *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *user = opt_user;
    if (user == NULL && env_user != NULL && env_user[0] != '\0')
        user = env_user;
    if (user == NULL && cfg != NULL)
        user = cfg->client_user;
    if (user == NULL)
        return true; /* anonymous */
    if (user[0] == '\0') {
        snprintf(err, errlen, "empty user name");
        return false;
    }
    if (!copy_str(out->user, user, "user name", err, errlen))
        return false;
    if (env_pass != NULL) {
        if (!copy_str(out->pass, env_pass, "VMGATE_PASSWORD", err, errlen))
            return false;
    } else if (cfg != NULL && cfg->client_password_file != NULL) {
        FILE *f = fopen(cfg->client_password_file, "r");
        char line[512];
        if (f == NULL) {
            snprintf(err, errlen, "[client] password-file %s: %s", cfg->client_password_file,
                     strerror(errno));
            return false;
        }
        if (fgets(line, sizeof line, f) == NULL)
            line[0] = '\0';
        fclose(f);
        line[strcspn(line, "\r\n")] = '\0';
        if (!copy_str(out->pass, line, "password", err, errlen))
            return false;
    } else if (cfg != NULL && cfg->client_password != NULL) {
        if (!copy_str(out->pass, cfg->client_password, "password", err, errlen))
            return false;
    } else {
        snprintf(err, errlen,
                 "user '%s' has no password: set VMGATE_PASSWORD, or [client] "
                 "password-file or password",
                 user);
        return false;
    }
    out->set = true;
    return true;
}

/* ---- a gateway's refusal ----------------------------------------------------------------- */

enum vg_exit vg_client_refusal(const struct vg_s5c_answers *a, bool auth, const char *name,
                               uint16_t port, const char *where, char *msg, size_t msglen)
{
    enum vg_outcome o = vg_s5c_outcome(a, auth);
    if (o == VG_OUT_AUTH_FAILED && a->method == VG_S5_METHOD_NONE && !auth)
        snprintf(msg, msglen,
                 "authentication required by the gateway %s: set [client] user and "
                 "password (or VMGATE_USER / VMGATE_PASSWORD)",
                 where);
    else if (o == VG_OUT_AUTH_FAILED && a->method == VG_S5_METHOD_NONE)
        snprintf(msg, msglen,
                 "authentication failed: the gateway %s accepts no "
                 "username/password method",
                 where);
    else if (o == VG_OUT_AUTH_FAILED)
        snprintf(msg, msglen,
                 "authentication failed at the gateway %s: wrong user name or "
                 "password",
                 where);
    else if (!a->replied)
        snprintf(msg, msglen, "protocol error: the gateway %s chose method 0x%02x, not offered",
                 where, (unsigned)a->method);
    else
        snprintf(msg, msglen, "gateway %s refused %s:%u: %s (0x%02x)", where, name, port,
                 vg_outcome_str(o), (unsigned)a->reply.rep);
    return vg_outcome_exit(o);
}

/* ---- relay ------------------------------------------------------------------------------ */

struct dir {
    int from, to;
    bool to_is_sock;
    size_t off, len;
    bool eof, done;
    char buf[65536];
};

static int set_nonblock(int fd, int *saved)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -1;
    *saved = fl;
    return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Move what can be moved now; returns -1 on a hard error of the socket side. */
static int dir_step(struct dir *d, short rev_from, short rev_to, int sock)
{
    if (d->done)
        return 0;
    if (d->len == 0 && !d->eof && rev_from) {
        ssize_t n = read(d->from, d->buf, sizeof d->buf);
        if (n > 0) {
            d->off = 0;
            d->len = (size_t)n;
        } else if (n == 0) {
            d->eof = true;
        } else if (errno != EAGAIN && errno != EINTR) {
            if (d->from == sock)
                return -1;
            d->eof = true; /* stdin unreadable: treat as its end */
        }
    }
    if (d->len > 0 && rev_to) {
        ssize_t n = d->to_is_sock ? send(d->to, d->buf + d->off, d->len, MSG_NOSIGNAL)
                                  : write(d->to, d->buf + d->off, d->len);
        if (n > 0) {
            d->off += (size_t)n;
            d->len -= (size_t)n;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            if (d->to == sock)
                return -1;
            d->len = 0; /* stdout gone (the reader quit): drop, finish this direction */
            d->eof = true;
        }
    }
    if (d->eof && d->len == 0) {
        if (d->to == sock)
            shutdown(sock, SHUT_WR);
        else
            close(d->to);
        d->done = true;
    }
    return 0;
}

int vg_relay(int in, int out, int sock)
{
    int ret = -1, fl_in = -1, fl_out = -1, fl_sock = -1, saved_errno = 0;
    struct dir *up = vg_calloc(1, sizeof *up), *down = vg_calloc(1, sizeof *down);
    if (up == NULL || down == NULL) {
        errno = ENOMEM;
        goto done;
    }
    *up = (struct dir){.from = in, .to = sock, .to_is_sock = true};
    *down = (struct dir){.from = sock, .to = out};
    /* non-blocking everywhere but on terminals (whose flags the shell shares) */
    if (set_nonblock(sock, &fl_sock) < 0)
        goto done;
    if (!isatty(in))
        set_nonblock(in, &fl_in);
    if (!isatty(out))
        set_nonblock(out, &fl_out);

    while (!(up->done && down->done)) {
        struct pollfd p[4] = {{-1, 0, 0}, {-1, 0, 0}, {-1, 0, 0}, {-1, 0, 0}};
        if (!up->done && up->len == 0 && !up->eof)
            p[0] = (struct pollfd){in, POLLIN, 0};
        if (!up->done && up->len > 0)
            p[1] = (struct pollfd){sock, POLLOUT, 0};
        if (!down->done && down->len == 0 && !down->eof)
            p[2] = (struct pollfd){sock, POLLIN, 0};
        if (!down->done && down->len > 0)
            p[3] = (struct pollfd){out, POLLOUT, 0};
        if (poll(p, 4, -1) < 0) {
            if (errno == EINTR)
                continue;
            goto done;
        }
        if (dir_step(up, p[0].revents, p[1].revents, sock) < 0 ||
            dir_step(down, p[2].revents, p[3].revents, sock) < 0)
            goto done;
    }
    ret = 0;
done:
    saved_errno = errno;
    if (fl_in >= 0)
        fcntl(in, F_SETFL, fl_in);
    if (fl_out >= 0 && !(down && down->done))
        fcntl(out, F_SETFL, fl_out);
    if (fl_sock >= 0)
        fcntl(sock, F_SETFL, fl_sock);
    vg_free(up);
    vg_free(down);
    errno = saved_errno;
    return ret;
}

int vg_send_fd(int chan, int fd)
{
    char byte = 0;
    struct iovec iov = {&byte, 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    for (;;) {
        ssize_t n = sendmsg(chan, &m, MSG_NOSIGNAL);
        if (n == 1)
            return 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n >= 0)
            errno = EIO;
        return -1;
    }
}
