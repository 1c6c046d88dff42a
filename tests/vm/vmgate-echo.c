/* vmgate-echo — tiny static helper for the vmgate test VM (runs inside the guest).
 *
 *   vmgate-echo [--port-name NAME | --dev PATH]                 echo every byte back (raw baseline)
 *   vmgate-echo [--port-name NAME | --dev PATH] --blocking      the same with blocking read/write
 *   vmgate-echo [--port-name NAME | --dev PATH] --bridge PORT   relay the port to 127.0.0.1:PORT
 *   vmgate-echo --serve PORT               TCP test service on 127.0.0.1:PORT (below)
 *   vmgate-echo --socks HOST:PORT NAME DPORT   SOCKS5 CONNECT client (no curl in the guest)
 *   vmgate-echo --unix PATH                stdin/stdout to a unix socket (busybox nc has no -U)
 *
 * The virtio-serial port is found by name in /sys/class/virtio-ports/<vportNpM>/name and opened
 * as /dev/<vportNpM> (no udev in the guest).  While no host is connected to the port's chardev,
 * read() returns 0 at once and poll() reports POLLHUP: that is "wait and retry", not end of data.
 *
 * Bridge mode is a debug aid, one host connection at a time: the first bytes from the host open a
 * TCP connection to 127.0.0.1:PORT (retried for 20 s while the service is not listening yet); the
 * host disconnecting closes it; the service closing it ends the relay (the host is not told: a raw
 * port has no end-of-stream).
 *
 * --serve PORT: a forking TCP service for the serial-channel tests and benchmark.  The client's
 * first line picks the mode:
 *   ECHO          echo every byte until EOF, then shutdown(SHUT_WR) (exact half-close test)
 *   SOURCE <n>    send n bytes of the deterministic stream, then shutdown(SHUT_WR) and read until
 *                 EOF.  The stream is 64 KiB blocks: block k is "%015d\n" of k followed by bytes
 *                 (j * 131 + (j >> 8) * 7) & 0xff for j = 16 … 65535 (tests/vm/vmhost.py
 *                 source_block() builds the same bytes)
 *   SINK          read until EOF, then answer "GOT <n>\n" and close
 *
 * --socks HOST:PORT NAME DPORT: SOCKS5 CONNECT (method 0x00, ATYP 3) to NAME:DPORT through the
 * SOCKS5 server at HOST:PORT (an IPv4 literal); prints "REP 0xNN" on stderr, then relays
 * stdin → socket (EOF: shutdown SHUT_WR) and socket → stdout until the server closes.  Exit
 * status 0 on REP 0x00, 3 on another reply, 1 on an error.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUFSZ (256 * 1024)
static char buf[BUFSZ];

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* "/dev/vportNpM" for the port named NAME, or NULL when it does not exist (yet) */
static int find_port(const char *name, char *path, size_t len)
{
    DIR *d = opendir("/sys/class/virtio-ports");
    struct dirent *e;
    int found = 0;
    if (!d)
        return 0;
    while (!found && (e = readdir(d))) {
        char f[512], n[256];
        FILE *fp;
        if (e->d_name[0] == '.')
            continue;
        snprintf(f, sizeof f, "/sys/class/virtio-ports/%s/name", e->d_name);
        if (!(fp = fopen(f, "r")))
            continue;
        if (fgets(n, sizeof n, fp)) {
            n[strcspn(n, "\n")] = 0;
            if (strcmp(n, name) == 0) {
                snprintf(path, len, "/dev/%s", e->d_name);
                found = 1;
            }
        }
        fclose(fp);
    }
    closedir(d);
    return found;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int open_port(const char *name, const char *dev)
{
    char path[300];
    int fd, waited = 0;
    for (;;) {
        if (dev)
            snprintf(path, sizeof path, "%s", dev);
        else if (!find_port(name, path, sizeof path))
            path[0] = 0;
        if (path[0] && (fd = open(path, O_RDWR | O_CLOEXEC)) >= 0)
            return fd;
        if (waited++ == 100)
            fprintf(stderr, "vmgate-echo: still waiting for port %s\n", dev ? dev : name);
        nap_ms(50);
    }
}

/* Echo with the port non-blocking: a blocking write() to a virtio-serial port spins in the guest
 * until the host has taken the buffer; non-blocking writes return at once and the buffers are
 * reclaimed later.  Reads return at most one 4 KiB buffer each, so they are gathered (up to 64 KiB)
 * before one write. */
static void run_echo(int port)
{
    const size_t batch = 64 * 1024;
    int fl = fcntl(port, F_GETFL);
    fcntl(port, F_SETFL, fl | O_NONBLOCK);
    for (;;) {
        size_t have = 0;
        int hup = 0;
        while (have + 4096 <= batch) {
            ssize_t n = read(port, buf + have, batch - have);
            if (n > 0) {
                have += (size_t)n;
                continue;
            }
            if (n == 0)
                hup = 1; /* no host connected */
            else if (errno == EINTR)
                continue;
            else if (errno != EAGAIN)
                perror("vmgate-echo: read");
            break;
        }
        size_t off = 0;
        while (off < have) {
            ssize_t w = write(port, buf + off, have - off);
            if (w > 0) {
                off += (size_t)w;
            } else if (w < 0 && errno == EAGAIN) {
                struct pollfd p = {.fd = port, .events = POLLOUT};
                poll(&p, 1, 100);
                if ((p.revents & POLLHUP) && !(p.revents & POLLOUT))
                    break; /* the host went away: drop the rest, not for the next host */
            } else if (w < 0 && errno != EINTR) {
                perror("vmgate-echo: write");
                nap_ms(20);
            }
        }
        if (have > 0)
            continue;
        if (hup) {
            nap_ms(10); /* wait and retry */
        } else {
            struct pollfd p = {.fd = port, .events = POLLIN};
            poll(&p, 1, -1);
            if (p.revents & POLLHUP && !(p.revents & POLLIN))
                nap_ms(10);
        }
    }
}

/* The naive loop, for comparison: a blocking write() spins in the guest kernel until the host
 * has taken the buffer (virtio_console's __send_to_port), and each read() returns <= 4 KiB. */
static void run_echo_blocking(int port)
{
    for (;;) {
        ssize_t n = read(port, buf, sizeof buf);
        if (n > 0) {
            if (write_all(port, buf, (size_t)n) < 0) {
                perror("vmgate-echo: write");
                nap_ms(20);
            }
        } else if (n == 0 || errno == EAGAIN) {
            nap_ms(10); /* no host connected: wait and retry */
        } else if (errno != EINTR) {
            perror("vmgate-echo: read");
            nap_ms(100);
        }
    }
}

static int tcp_connect(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((unsigned short)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1, s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
        close(s);
        return -1;
    }
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return s;
}

static void run_bridge(int port, int tport)
{
    signal(SIGPIPE, SIG_IGN); /* a service that closed: EPIPE, not death */
    for (;;) {
        ssize_t n = read(port, buf, sizeof buf);
        if (n == 0 || (n < 0 && (errno == EAGAIN || errno == EINTR))) {
            nap_ms(10);
            continue;
        }
        if (n < 0) {
            perror("vmgate-echo: read");
            nap_ms(100);
            continue;
        }
        /* the service may still be starting: keep the data and retry for up to 20 s */
        int s = -1;
        for (int try = 0; try < 400 && (s = tcp_connect(tport)) < 0; try++)
            nap_ms(50);
        if (s < 0) {
            fprintf(stderr, "vmgate-echo: connect 127.0.0.1:%d: %s (data dropped)\n", tport,
                    strerror(errno));
            continue;
        }
        if (write_all(s, buf, (size_t)n) < 0) {
            close(s);
            continue;
        }
        for (;;) {
            struct pollfd p[2] = {{.fd = port, .events = POLLIN}, {.fd = s, .events = POLLIN}};
            if (poll(p, 2, -1) < 0) {
                if (errno == EINTR)
                    continue;
                break;
            }
            /* the service side first: when the service has closed and the next host's request
             * is already waiting on the port, that request must open a new connection, not be
             * written into the closed one (and lost) */
            if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
                n = read(s, buf, sizeof buf);
                if (n <= 0 && !(n < 0 && errno == EINTR))
                    break; /* service closed */
                if (n > 0 && write_all(port, buf, (size_t)n) < 0)
                    break;
            }
            if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
                n = read(port, buf, sizeof buf);
                if (n <= 0 && !(n < 0 && errno == EINTR))
                    break; /* host went away */
                if (n > 0 && write_all(s, buf, (size_t)n) < 0)
                    break;
            }
        }
        close(s);
    }
}

/* ---------------------------------------------------------------- --serve: TCP test service */

#define SRC_BLOCK 65536
static void source_block(char *b, unsigned long long k)
{
    for (unsigned j = 16; j < SRC_BLOCK; j++)
        b[j] = (char)((j * 131 + (j >> 8) * 7) & 0xff);
    char head[32];
    snprintf(head, sizeof head, "%015llu\n", k % 1000000000000000ULL);
    memcpy(b, head, 16);
}

static int read_line(int s, char *line, size_t len)
{
    size_t n = 0;
    while (n + 1 < len) {
        ssize_t r = read(s, line + n, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        if (line[n] == '\n') {
            line[n] = 0;
            if (n > 0 && line[n - 1] == '\r')
                line[n - 1] = 0;
            return 0;
        }
        n++;
    }
    return -1;
}

static void drain_until_eof(int s)
{
    for (;;) {
        ssize_t r = read(s, buf, sizeof buf);
        if (r == 0 || (r < 0 && errno != EINTR))
            return;
    }
}

static void serve_one(int s)
{
    char line[128];
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (read_line(s, line, sizeof line) < 0)
        return;
    if (strcmp(line, "ECHO") == 0) {
        for (;;) {
            ssize_t r = read(s, buf, sizeof buf);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            if (write_all(s, buf, (size_t)r) < 0)
                return;
        }
        shutdown(s, SHUT_WR);
        drain_until_eof(s);
    } else if (strncmp(line, "SOURCE ", 7) == 0) {
        unsigned long long n = strtoull(line + 7, NULL, 10), k = 0;
        static char block[SRC_BLOCK];
        source_block(block, 0);
        while (n > 0) {
            char head[32];
            snprintf(head, sizeof head, "%015llu\n", k % 1000000000000000ULL);
            memcpy(block, head, 16);
            size_t c = n < SRC_BLOCK ? (size_t)n : SRC_BLOCK;
            if (write_all(s, block, c) < 0)
                return;
            n -= c;
            k++;
        }
        shutdown(s, SHUT_WR);
        drain_until_eof(s);
    } else if (strcmp(line, "SINK") == 0) {
        unsigned long long n = 0;
        for (;;) {
            ssize_t r = read(s, buf, sizeof buf);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            n += (unsigned long long)r;
        }
        int m = snprintf(line, sizeof line, "GOT %llu\n", n);
        write_all(s, line, (size_t)m);
    } else {
        static const char err[] = "ERR unknown mode\n";
        write_all(s, err, sizeof err - 1);
    }
}

static int run_serve(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((unsigned short)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1, l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    signal(SIGCHLD, SIG_IGN); /* children are reaped by the kernel */
    signal(SIGPIPE, SIG_IGN);
    if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 64) < 0) {
        perror("vmgate-echo: serve");
        return 1;
    }
    for (;;) {
        int s = accept(l, NULL, NULL);
        if (s < 0) {
            if (errno != EINTR)
                nap_ms(10);
            continue;
        }
        pid_t p = fork();
        if (p == 0) {
            close(l);
            serve_one(s);
            _exit(0);
        }
        close(s);
    }
}

/* stdin → s (EOF: shutdown SHUT_WR), s → stdout, until s ends: 0, or 1 on an error */
static int relay_stdio(int s)
{
    int in_open = 1;
    for (;;) {
        struct pollfd p[2] = {{.fd = in_open ? 0 : -1, .events = POLLIN},
                              {.fd = s, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        if (p[0].revents) {
            ssize_t k = read(0, buf, sizeof buf);
            if (k > 0) {
                if (write_all(s, buf, (size_t)k) < 0)
                    return 1;
            } else if (k == 0 || errno != EINTR) {
                in_open = 0;
                shutdown(s, SHUT_WR);
            }
        }
        if (p[1].revents) {
            ssize_t k = read(s, buf, sizeof buf);
            if (k > 0) {
                if (write_all(1, buf, (size_t)k) < 0)
                    return 1;
            } else if (k == 0) {
                return 0;
            } else if (errno != EINTR) {
                return 1;
            }
        }
    }
}

/* --unix PATH: a client for a unix socket (the agent's control socket), stdin/stdout relayed */
static int run_unix(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (strlen(path) >= sizeof a.sun_path || s < 0) {
        fprintf(stderr, "vmgate-echo: --unix %s: bad path\n", path);
        return 1;
    }
    memcpy(a.sun_path, path, strlen(path) + 1);
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("vmgate-echo: connect");
        return 1;
    }
    return relay_stdio(s);
}

/* ---------------------------------------------------------------- --socks: SOCKS5 client */

static int read_exact(int s, unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t r = read(s, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int run_socks(const char *server, const char *name, int dport)
{
    char host[64];
    const char *colon = strrchr(server, ':');
    size_t nl = strlen(name);
    if (!colon || (size_t)(colon - server) >= sizeof host || nl == 0 || nl > 255) {
        fprintf(stderr, "vmgate-echo: --socks HOST:PORT NAME DPORT\n");
        return 1;
    }
    memcpy(host, server, (size_t)(colon - server));
    host[colon - server] = 0;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((unsigned short)atoi(colon + 1))};
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1 ||
        connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("vmgate-echo: connect to the SOCKS server");
        return 1;
    }
    unsigned char req[300];
    size_t n = 0;
    req[n++] = 5, req[n++] = 1, req[n++] = 0;               /* greeting: no auth */
    req[n++] = 5, req[n++] = 1, req[n++] = 0, req[n++] = 3; /* CONNECT, ATYP name */
    req[n++] = (unsigned char)nl;
    memcpy(req + n, name, nl);
    n += nl;
    req[n++] = (unsigned char)(dport >> 8), req[n++] = (unsigned char)dport;
    if (write_all(s, (char *)req, n) < 0) {
        perror("vmgate-echo: write");
        return 1;
    }
    unsigned char r[4];
    if (read_exact(s, r, 2) < 0 || r[0] != 5 || r[1] != 0) {
        fprintf(stderr, "METHOD %s\n", r[0] == 5 ? "refused" : "no answer");
        return 1;
    }
    if (read_exact(s, r, 4) < 0) {
        fprintf(stderr, "REP none (connection closed)\n");
        return 1;
    }
    fprintf(stderr, "REP 0x%02x\n", r[1]);
    size_t skip = r[3] == 1 ? 6 : r[3] == 4 ? 18 : 0;
    if (r[3] == 3) {
        unsigned char l;
        if (read_exact(s, &l, 1) < 0)
            return 1;
        skip = (size_t)l + 2;
    }
    if (skip && read_exact(s, req, skip) < 0)
        return r[1] == 0 ? 1 : 3;
    if (r[1] != 0)
        return 3;
    return relay_stdio(s);
}

int main(int argc, char **argv)
{
    const char *name = "org.vmgate.0", *dev = NULL;
    int bridge = 0, blocking = 0;
    if (argc == 3 && !strcmp(argv[1], "--serve"))
        return run_serve(atoi(argv[2]));
    if (argc == 5 && !strcmp(argv[1], "--socks"))
        return run_socks(argv[2], argv[3], atoi(argv[4]));
    if (argc == 3 && !strcmp(argv[1], "--unix"))
        return run_unix(argv[2]);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port-name") && i + 1 < argc)
            name = argv[++i];
        else if (!strcmp(argv[i], "--dev") && i + 1 < argc)
            dev = argv[++i];
        else if (!strcmp(argv[i], "--blocking"))
            blocking = 1;
        else if (!strcmp(argv[i], "--bridge") && i + 1 < argc)
            bridge = atoi(argv[++i]);
        else {
            fprintf(stderr,
                    "usage: %s [--port-name NAME | --dev PATH] [--blocking | --bridge TCPPORT]\n"
                    "       %s --serve TCPPORT\n"
                    "       %s --socks HOST:PORT NAME DPORT\n"
                    "       %s --unix PATH\n",
                    argv[0], argv[0], argv[0], argv[0]);
            return 2;
        }
    }
    int port = open_port(name, dev);
    if (bridge > 0)
        run_bridge(port, bridge);
    else if (blocking)
        run_echo_blocking(port);
    else
        run_echo(port);
    return 0;
}
