/* vmgate-agent internals: one event loop, one host session at a time.
 *
 *   agent.c          options, the channel (virtio port / test listener), session restarts,
 *                    host-opened streams (CONNECT <port> → 127.0.0.1:<port>)
 *   agent_control.c  CONTROL streams and the local control socket for guest programs
 *   agent_socks.c    the local SOCKS5 listener: guest-originated streams (CONNECT <name> <port>)
 */
#ifndef VG_AGENT_H
#define VG_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct vg_mux;
struct vg_mux_stream;
struct agent_ctl;
struct agent_socks;

struct agent {
    struct event_base *base;
    /* options */
    const char *port_name;
    const char *device;
    const char *listen_spec; /* unix:PATH or vsock:PORT (test/alternative transports) */
    uint8_t *allow;          /* port bitmap, NULL = every port */
    const char *socks_addr;
    const char *control_path;
    unsigned keepalive_s;
    unsigned connect_timeout_ms;
    /* session */
    struct vg_mux *mux;
    unsigned long session_no;
    bool stopping;
    /* parts */
    struct agent_ctl *ctl;
    struct agent_socks *socks;
};

/* agent_control.c */
struct agent_ctl *agent_ctl_new(struct agent *a, const char *path);
void agent_ctl_free(struct agent_ctl *c);
/* A host stream asked for CONTROL (the OK is already queued). Takes the stream. */
void agent_ctl_attach(struct agent_ctl *c, struct vg_mux_stream *s);
/* The session ended: pending requests fail with reason=session-lost. */
void agent_ctl_session_end(struct agent_ctl *c);

/* agent_socks.c */
struct agent_socks *agent_socks_new(struct agent *a, const char *addr);
void agent_socks_free(struct agent_socks *k);

#endif
