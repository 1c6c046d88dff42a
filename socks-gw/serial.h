/* serial — the gateway side of `serial:PATH` channels: a virtio-serial port (QEMU's
 * `-chardev socket,server=on`, libvirt's `<channel type='unix'>`) with vmgate-agent in the guest.
 *
 * One yamux session (vg_mux, client side) per socket path, opened on first use and re-opened
 * after it ended (QEMU restarted, agent restarted, gateway restarted).  Each client connection is
 * one stream that starts with "CONNECT <port>\n" and waits for the agent's "OK" / "ERR ..." line
 * (docs/protocol.md).  Each session also opens a control stream that tells the guest its name
 * and zone and answers the guest's requests.
 */
#ifndef VG_SERIAL_H
#define VG_SERIAL_H

#include "vg_outcome.h"

#include <stdbool.h>
#include <stdint.h>

struct gw;
struct vg_mux_stream;
struct gw_serial_req;

/* Outcome of an open: on success `s` is the stream (the caller owns it; bytes after the agent's
 * OK line may already wait in its input) and out is VG_OUT_OK; on failure s is NULL, out says
 * why (the agent's ERR word as vg_outcome_of_err; VG_OUT_AGENT_DOWN when it does not answer) and
 * why is a short text (valid during the call). */
typedef void (*gw_serial_done_fn)(void *arg, struct vg_mux_stream *s, enum vg_outcome out,
                                  const char *why);

/* Start opening a stream to `port` in the VM behind `path`.  `vm` (the VM's name) is used for
 * the control stream's hello.  Returns NULL when it fails at once (then *out / *why are set and
 * `done` is not called); otherwise `done` is called exactly once from the event loop, unless
 * gw_serial_cancel() comes first. */
struct gw_serial_req *gw_serial_open(struct gw *g, const char *path, const char *vm, uint16_t port,
                                     gw_serial_done_fn done, void *arg, enum vg_outcome *out,
                                     const char **why);
void gw_serial_cancel(struct gw_serial_req *r);

/* The agent session of `path` as the admin socket shows it: up (an open session), its number,
 * the agent's version (from its hello; "" when it sent none yet), open client/guest streams
 * (the control stream not counted).  False (and *out zeroed) when no session is up. */
struct gw_serial_info {
    bool up;
    uint32_t gen;
    unsigned streams;
    char agent_version[32];
};
bool gw_serial_info(const char *path, struct gw_serial_info *out);
/* The number of the session a stream belongs to, 0 when none (gone). */
uint32_t gw_serial_session_of(const struct vg_mux_stream *s);
/* Sessions up. */
unsigned gw_serial_count(void);

/* Close every session (gateway exit). */
void gw_serial_close_all(struct gw *g);

#endif
