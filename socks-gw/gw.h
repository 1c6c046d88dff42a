/* gw — vmgate-gw's internal interfaces (one process, one libevent loop, one thread; only
 * auth.c's workers hash passwords beside it, touching nothing of this). */
#ifndef VG_GW_H
#define VG_GW_H

#include "vg_addr.h"
#include "vg_config.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct vg_users;
struct vg_vmtable;
struct gw_auth;
struct vg_resolver;
struct gw_listener;
struct gw_conn;

struct gw_front_ops;      /* front.h: SOCKS5, HTTP CONNECT, guest streams */
struct gw_tls;            /* tls.h */
struct vg_audit;          /* vg_audit.h: the audit log (NULL: audit-log not set) */
struct gw_metrics_server; /* metrics.h: GET /metrics (NULL: metrics-listen not set) */

/* Per-client-address connection counts (max-per-client). */
struct gw_client_count;

struct gw {
    struct event_base *base;
    const char *cfg_path;
    struct vg_config *cfg;
    struct vg_users *users;
    struct gw_auth *auth; /* password checks off the loop, back-off (auth.h) */
    struct vg_vmtable *vmt;
    struct vg_cidr *anon;
    size_t nanon;
    struct gw_tls *tls;           /* TLS contexts (hops, listen-https), from the config */
    struct vg_resolver *resolver; /* chaining to other hosts (NULL: not configured) */
    /* where serial.c hands a stream a guest opened (gw_conn_start_guest; set by gw.c, so that
     * the channel code does not call back into the connection code) */
    void (*guest_stream)(struct gw *g, int fd, const char *origin, const char *name, uint16_t port);
    bool front; /* --front: no VM table, every name is chained */

    struct gw_listener *listeners;
    struct event *hup_ev, *term_ev, *int_ev, *drain_ev;
    struct vg_audit *audit;            /* emit from the loop thread only */
    struct gw_metrics_server *metrics; /* the counters themselves: metrics.h */
    struct event *tick_ev;             /* 1 s: audit log error / drop reports */

    unsigned nconns;
    struct gw_conn *conns; /* every live connection (doubly linked) */
    unsigned nguest;       /* streams opened by guests (serial.c), every VM: guest-share */
    struct gw_client_count *counts[1024];
    uint64_t next_id;
    bool draining;
};

extern struct gw *gw_main;

/* listener.c */
bool gw_listeners_open(struct gw *g, const struct vg_config *cfg);
void gw_listeners_close(struct gw *g);
/* Account a client address; false when over max-per-client. */
bool gw_client_acquire(struct gw *g, const struct sockaddr *sa);
void gw_client_release(struct gw *g, const struct sockaddr *sa);

/* conn.c: takes ownership of fd; tls: the client speaks TLS first (listen-https). */
void gw_conn_accept(struct gw *g, int fd, const struct sockaddr *peer, socklen_t peerlen,
                    const struct gw_front_ops *front, bool tls);
/* A request from inside VM `origin` (already allowed by its ACL) for name:port; fd is the local
 * end of a socketpair whose other end is bridged to the guest's stream.  Takes the fd. */
void gw_conn_start_guest(struct gw *g, int fd, const char *origin, const char *name, uint16_t port);
/* Close connections still in their handshake (drain); close every connection (exit). */
void gw_conns_close_handshaking(struct gw *g);
void gw_conns_close_all(struct gw *g);
void gw_conn_closed(struct gw *g); /* called once per finished connection */

/* relay.c — bidirectional relay between two connected sockets, either of which may carry TLS
 * (tls.h; the TLS session may be NULL).
 * Takes ownership of both fds, both TLS sessions and of `pending` (bytes the client sent after its
 * request, to be delivered upstream first; may be NULL).  `done` is called once when both
 * directions are finished or one failed; the relay then closes and frees everything.  `done` is
 * never called from inside gw_relay_start; when it returns NULL (out of memory or fds) both fds are
 * closed, `pending` is freed and `done` will not be called. */
struct gw_relay;
typedef void (*gw_relay_done_cb)(void *arg, uint64_t up_bytes, uint64_t down_bytes,
                                 const char *why);
enum { GW_RELAY_CLIENT_TCP = 1, GW_RELAY_UP_TCP = 2 }; /* flags: which sockets are TCP */
typedef struct ssl_st SSL;
struct gw_relay *gw_relay_start(struct event_base *base, int client_fd, SSL *client_tls,
                                int upstream_fd, SSL *upstream_tls, unsigned flags,
                                uint8_t *pending, size_t pending_len, unsigned idle_timeout,
                                gw_relay_done_cb done, void *arg);
/* Close and free a running relay without calling its `done` callback (shutdown). */
void gw_relay_abort(struct gw_relay *r);

#endif
