#include "vg_chan.h"

#include "vg_addr.h"

#include <arpa/inet.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const struct {
    enum vg_chan_kind kind;
    const char *name;
} kinds[] = {
    {VG_CHAN_TCP, "tcp"},
    {VG_CHAN_VSOCK, "vsock"},
    {VG_CHAN_VSOCK_MUX, "vsock-mux"},
    {VG_CHAN_SERIAL, "serial"},
};

const char *vg_chan_kind_name(enum vg_chan_kind k)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (kinds[i].kind == k)
            return kinds[i].name;
    return "?";
}

bool vg_sock_path_ok(const char *path)
{
    size_t n = strlen(path);
    if (n == 0 || path[0] != '/' || n > VG_SOCK_PATH_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (path[i] <= ' ' || path[i] > '~')
            return false;
    return true;
}

static bool parse_path(const char *p, struct vg_chan *out, char *err, size_t errlen)
{
    if (!vg_sock_path_ok(p)) {
        snprintf(err, errlen,
                 "%s channel wants an absolute socket path without white space, "
                 "at most %zu octets",
                 vg_chan_kind_name(out->kind), VG_SOCK_PATH_MAX);
        return false;
    }
    memcpy(out->path, p, strlen(p) + 1);
    return true;
}

static bool parse_tcp(const char *a, struct vg_chan *out, char *err, size_t errlen)
{
    /* a literal address without port ("[v6]" brackets allowed); the port is the requested one */
    char host[INET6_ADDRSTRLEN];
    size_t n = strlen(a);
    struct sockaddr_in *sin = (struct sockaddr_in *)&out->addr;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->addr;
    if (n >= 2 && a[0] == '[' && a[n - 1] == ']') {
        a++;
        n -= 2;
    }
    if (n > 0 && n < sizeof host) {
        memcpy(host, a, n);
        host[n] = '\0';
        if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
            sin->sin_family = AF_INET;
            return true;
        }
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
            sin6->sin6_family = AF_INET6;
            return true;
        }
    }
    snprintf(err, errlen, "tcp channel wants an IPv4 or IPv6 address without port");
    return false;
}

bool vg_chan_parse(const char *spec, struct vg_chan *out, char *err, size_t errlen)
{
    const char *colon = strchr(spec, ':');
    memset(out, 0, sizeof *out);
    for (size_t i = 0; colon && i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t kl = strlen(kinds[i].name);
        if ((size_t)(colon - spec) != kl || memcmp(spec, kinds[i].name, kl) != 0)
            continue;
        out->kind = kinds[i].kind;
        const char *v = colon + 1;
        switch (out->kind) {
        case VG_CHAN_TCP:
            return parse_tcp(v, out, err, errlen);
        case VG_CHAN_VSOCK: {
            unsigned long cid;
            /* CIDs 0-2 are the hypervisor, local and host: never a guest */
            if (!vg_parse_uint(v, 3, 0xfffffffeUL, &cid)) {
                snprintf(err, errlen, "vsock channel wants a guest CID (3..4294967294)");
                return false;
            }
            out->cid = (uint32_t)cid;
            return true;
        }
        case VG_CHAN_VSOCK_MUX:
        case VG_CHAN_SERIAL:
            return parse_path(v, out, err, errlen);
        }
    }
    snprintf(err, errlen,
             "unknown channel type (tcp:ADDR, vsock:CID, vsock-mux:PATH, "
             "serial:PATH)");
    return false;
}

char *vg_chan_format(const struct vg_chan *c, char *buf, size_t len)
{
    char a[INET6_ADDRSTRLEN];
    int w = -1;
    switch (c->kind) {
    case VG_CHAN_TCP:
        if (c->addr.ss_family == AF_INET6) {
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&c->addr)->sin6_addr, a, sizeof a);
            w = snprintf(buf, len, "tcp:[%s]", a);
        } else {
            inet_ntop(AF_INET, &((const struct sockaddr_in *)&c->addr)->sin_addr, a, sizeof a);
            w = snprintf(buf, len, "tcp:%s", a);
        }
        break;
    case VG_CHAN_VSOCK:
        w = snprintf(buf, len, "vsock:%u", c->cid);
        break;
    case VG_CHAN_VSOCK_MUX:
    case VG_CHAN_SERIAL:
        w = snprintf(buf, len, "%s:%s", vg_chan_kind_name(c->kind), c->path);
        break;
    }
    return w >= 0 && (size_t)w < len ? buf : NULL;
}

void vg_chan_sockaddr(const struct vg_chan *c, uint16_t port, struct sockaddr_storage *ss,
                      socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    switch (c->kind) {
    case VG_CHAN_TCP:
        memcpy(ss, &c->addr, sizeof *ss);
        if (ss->ss_family == AF_INET) {
            ((struct sockaddr_in *)ss)->sin_port = htons(port);
            *len = sizeof(struct sockaddr_in);
        } else {
            ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
            *len = sizeof(struct sockaddr_in6);
        }
        return;
    case VG_CHAN_VSOCK: {
        struct sockaddr_vm *svm = (struct sockaddr_vm *)ss;
        svm->svm_family = AF_VSOCK;
        svm->svm_cid = c->cid;
        svm->svm_port = port;
        *len = sizeof *svm;
        return;
    }
    case VG_CHAN_VSOCK_MUX:
    case VG_CHAN_SERIAL: {
        struct sockaddr_un *sun = (struct sockaddr_un *)ss;
        sun->sun_family = AF_UNIX;
        memcpy(sun->sun_path, c->path, strlen(c->path) + 1);
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(c->path) + 1);
        return;
    }
    }
}
