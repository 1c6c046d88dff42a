/* channel — a VM's private host-to-guest channel, as written in its VM table entry.
 *
 *   tcp:ADDR          host-only / NAT network; the gateway connects to ADDR:<requested port>
 *   vsock:CID         AF_VSOCK; vsock port = requested port
 *   vsock-mux:PATH    Firecracker / Cloud Hypervisor hybrid vsock: unix socket, then
 *                     "CONNECT <port>\n" → "OK <n>\n"
 *   serial:PATH       virtio-serial port with vmgate-agent (multiplexed; see docs/protocol.md)
 */
#ifndef VG_CHANNEL_H
#define VG_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

enum vg_chan_kind { VG_CHAN_TCP, VG_CHAN_VSOCK, VG_CHAN_VSOCK_MUX, VG_CHAN_SERIAL };

struct vg_chan {
    enum vg_chan_kind kind;
    struct sockaddr_storage addr; /* TCP: address, port 0 */
    uint32_t cid;                 /* VSOCK */
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* VSOCK_MUX, SERIAL */
};

/* Parse a spec; on error false and a message in err. */
bool vg_chan_parse(const char *spec, struct vg_chan *out, char *err, size_t errlen);

/* The socket address the gateway connects to for `port` in the guest.  For vsock-mux and
 * serial this is the unix socket (the port travels in the channel's own handshake). */
void vg_chan_sockaddr(const struct vg_chan *c, uint16_t port, struct sockaddr_storage *ss,
                      socklen_t *len);

/* "tcp", "vsock", "vsock-mux", "serial" */
const char *vg_chan_kind_name(enum vg_chan_kind k);

#endif
