#include "channel.h"

#include "vg_addr.h"

#include <arpa/inet.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

const char *vg_chan_kind_name(enum vg_chan_kind k)
{
    switch (k) {
    case VG_CHAN_TCP: return "tcp";
    case VG_CHAN_VSOCK: return "vsock";
    case VG_CHAN_VSOCK_MUX: return "vsock-mux";
    case VG_CHAN_SERIAL: return "serial";
    }
    return "?";
}

static bool parse_path(const char *p, struct vg_chan *out, char *err, size_t errlen)
{
    size_t n = strlen(p);
    if (n == 0 || p[0] != '/') {
        snprintf(err, errlen, "channel path must be absolute");
        return false;
    }
    if (n >= sizeof out->path) {
        snprintf(err, errlen, "channel path longer than %zu bytes", sizeof out->path - 1);
        return false;
    }
    memcpy(out->path, p, n + 1);
    return true;
}

bool vg_chan_parse(const char *spec, struct vg_chan *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (strncmp(spec, "tcp:", 4) == 0) {
        /* a literal address without port ("[v6]" brackets allowed); the port is the requested one */
        const char *a = spec + 4;
        char host[INET6_ADDRSTRLEN];
        size_t n = strlen(a);
        if (n >= 2 && a[0] == '[' && a[n - 1] == ']') {
            a++;
            n -= 2;
        }
        out->kind = VG_CHAN_TCP;
        struct sockaddr_in *sin = (struct sockaddr_in *)&out->addr;
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->addr;
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
    if (strncmp(spec, "vsock:", 6) == 0) {
        unsigned long cid;
        out->kind = VG_CHAN_VSOCK;
        /* CIDs 0-2 are the hypervisor, local and host: never a guest */
        if (!vg_parse_uint(spec + 6, 3, 0xfffffffeUL, &cid)) {
            snprintf(err, errlen, "vsock channel wants a guest CID (3..4294967294)");
            return false;
        }
        out->cid = (uint32_t)cid;
        return true;
    }
    if (strncmp(spec, "vsock-mux:", 10) == 0) {
        out->kind = VG_CHAN_VSOCK_MUX;
        return parse_path(spec + 10, out, err, errlen);
    }
    if (strncmp(spec, "serial:", 7) == 0) {
        out->kind = VG_CHAN_SERIAL;
        return parse_path(spec + 7, out, err, errlen);
    }
    snprintf(err, errlen, "unknown channel type (tcp:, vsock:, vsock-mux:, serial:)");
    return false;
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
