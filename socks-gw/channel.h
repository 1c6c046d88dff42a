/* channel — how the gateway reaches the port a request names: one interface for every kind of
 * channel into a guest (tcp:, vsock:, vsock-mux:, serial:; specs in common/vg_chan.h) and for
 * chaining to the gateway of the host that owns the VM (forward.h).
 *
 * Contract, the same for every kind:
 *   - gw_chan_open() starts; it never calls `done` itself.  NULL only when out of memory.
 *   - `done` is called exactly once, from the event loop, unless gw_chan_cancel() comes first;
 *     after `done` the open is gone (do not cancel it).
 *   - on success `up` is the upstream, and the callee owns what it holds (gw_upstream_close);
 *     on failure `up` is NULL and `out` / `why` say what to answer (why valid during the call).
 *   - the open has no deadline of its own: the caller cancels it after gw_chan_timeout()
 *     seconds and answers VG_OUT_TIMEOUT.
 *
 * Kinds (struct gw_chan_ops, one per kind, in channel.c):
 *   tcp, vsock   connect(2) to the guest port (non-blocking; a loopback or host-only TCP
 *                handshake is usually complete inside connect(), asked once more at once)
 *   vsock-mux    connect to the unix socket, "CONNECT <port>\n", wait for "OK <n>\n"
 *   serial       a stream of the VM's yamux session with vmgate-agent (serial.h)
 *   forward      the owning host's gateway, found by DNS, one hop at most (forward.h)
 */
#ifndef GW_CHANNEL_H
#define GW_CHANNEL_H

#include "vg_outcome.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct gw;
struct vg_vm;
struct vg_mux_stream;
struct gw_open;

/* What an open hands over: exactly one of a connected socket (relayed by relay.c) or a yamux
 * stream (bridged by vg_mux_bridge). */
typedef struct ssl_st SSL;
struct vg_s5_hopid;

struct gw_upstream {
    int fd;                       /* a connected socket, or -1 */
    SSL *tls;                     /* fd's TLS session (a hop to another gateway), or NULL */
    bool tcp;                     /* fd is a TCP socket */
    struct vg_mux_stream *stream; /* or a stream of a serial channel's session, or NULL */
    struct sockaddr_storage bnd;  /* BND.ADDR to report: ss_family 0 when there is no honest
                                     IP address (unix and vsock channels) */
    const char *via;              /* for the log: "tcp", "serial", "the owning host's gateway" */
};

typedef void (*gw_chan_done_fn)(void *arg, struct gw_upstream *up, enum vg_outcome out,
                                const char *why);

/* Reach `port` of the VM `name`: through its entry `vm`, or, with vm NULL, through the gateway
 * of the host that owns it, which is told `who` the request is for (copied). */
struct gw_open *gw_chan_open(struct gw *g, const struct vg_vm *vm, const char *name, uint16_t port,
                             const struct vg_s5_hopid *who, gw_chan_done_fn done, void *arg);
void gw_chan_cancel(struct gw_open *o);
/* Seconds an open of that kind may take. */
unsigned gw_chan_timeout(const struct gw *g, const struct vg_vm *vm);

void gw_upstream_close(struct gw_upstream *up);

#endif
