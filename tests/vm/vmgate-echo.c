/* vmgate-echo — tiny static helper for the vmgate test VM (runs inside the guest).
 *
 *   vmgate-echo [--port-name NAME | --dev PATH]                 echo every byte back (raw baseline)
 *   vmgate-echo [--port-name NAME | --dev PATH] --blocking      the same with blocking read/write
 *   vmgate-echo [--port-name NAME | --dev PATH] --bridge PORT   relay the port to 127.0.0.1:PORT
 *
 * The virtio-serial port is found by name in /sys/class/virtio-ports/<vportNpM>/name and opened
 * as /dev/<vportNpM> (no udev in the guest).  While no host is connected to the port's chardev,
 * read() returns 0 at once and poll() reports POLLHUP: that is "wait and retry", not end of data.
 *
 * Bridge mode is a debug aid, one host connection at a time: the first bytes from the host open a
 * TCP connection to 127.0.0.1:PORT (retried for 20 s while the service is not listening yet); the
 * host disconnecting closes it; the service closing it ends the relay (the host is not told: a raw
 * port has no end-of-stream).
 */
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
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port),
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
            if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
                n = read(port, buf, sizeof buf);
                if (n <= 0 && !(n < 0 && errno == EINTR))
                    break; /* host went away */
                if (n > 0 && write_all(s, buf, (size_t)n) < 0)
                    break;
            }
            if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
                n = read(s, buf, sizeof buf);
                if (n <= 0 && !(n < 0 && errno == EINTR))
                    break; /* service closed */
                if (n > 0 && write_all(port, buf, (size_t)n) < 0)
                    break;
            }
        }
        close(s);
    }
}

int main(int argc, char **argv)
{
    const char *name = "org.vmgate.0", *dev = NULL;
    int bridge = 0, blocking = 0;
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
            fprintf(stderr, "usage: %s [--port-name NAME | --dev PATH] [--blocking | --bridge TCPPORT]\n",
                    argv[0]);
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
