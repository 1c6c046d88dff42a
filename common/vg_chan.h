/* vg_chan — a VM's private host-to-guest channel, as written in its VM table entry
 * ("channel = SPEC", see vg_vmentry.h).  The one parser and printer of channel specs: the
 * registrar validates what it writes with it, the gateway connects with what it returns.
 *
 *   tcp:ADDR          host-only / NAT network; the gateway connects to ADDR:<requested port>.
 *                     ADDR is an IPv4 or IPv6 literal without port ("[fd00::2]" brackets allowed)
 *   vsock:CID         AF_VSOCK, guest CID 3..4294967294; vsock port = requested port
 *   vsock-mux:PATH    Firecracker / Cloud Hypervisor hybrid vsock: unix socket, then
 *                     "CONNECT <port>\n" → "OK <n>\n"
 *   serial:PATH       virtio-serial port with vmgate-agent (multiplexed; see docs/protocol.md)
 *
 * PATH: absolute, printable, no white space, shorter than sun_path (vg_sock_path_ok).
 */
#ifndef VG_CHAN_H
#define VG_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

enum vg_chan_kind { VG_CHAN_TCP, VG_CHAN_VSOCK, VG_CHAN_VSOCK_MUX, VG_CHAN_SERIAL };

#define VG_SOCK_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

struct vg_chan {
    enum vg_chan_kind kind;
    struct sockaddr_storage addr;    /* TCP: address, port 0 */
    uint32_t cid;                    /* VSOCK */
    char path[VG_SOCK_PATH_MAX + 1]; /* VSOCK_MUX, SERIAL */
};

/* Parse a spec; on error false and a message in err (the same message for every program). */
bool vg_chan_parse(const char *spec, struct vg_chan *out, char *err, size_t errlen);

/* The canonical spec ("tcp:198.18.1.2", "tcp:[fd00::2]", "vsock:3", "serial:/run/x.sock") into
 * buf; returns buf, or NULL when it does not fit. */
char *vg_chan_format(const struct vg_chan *c, char *buf, size_t len);

/* The socket address the gateway connects to for `port` in the guest.  For vsock-mux and
 * serial this is the unix socket (the port travels in the channel's own handshake). */
void vg_chan_sockaddr(const struct vg_chan *c, uint16_t port, struct sockaddr_storage *ss,
                      socklen_t *len);

/* "tcp", "vsock", "vsock-mux", "serial" */
const char *vg_chan_kind_name(enum vg_chan_kind k);

/* A unix socket path usable in a channel spec or a VM table value (qmp = PATH): absolute,
 * printable ASCII without white space, at most VG_SOCK_PATH_MAX octets. */
bool vg_sock_path_ok(const char *path);

#endif
