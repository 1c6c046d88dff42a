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

struct gw_admin;          /* admin.h: the admin socket */
struct gw_front_ops;      /* front.h: SOCKS5, HTTP CONNECT, guest streams */
struct gw_tls;            /* tls.h */
struct vg_policy;         /* vg_policy.h */
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
    struct vg_policy *policy;     /* policy-file (vg_policy.h), or NULL: no per-person rules */
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
#define GW_UCOUNT_BUCKETS 256
    struct gw_user_count *ucounts[GW_UCOUNT_BUCKETS]; /* live sessions per user (max-sessions) */
    bool draining;
    struct gw_admin *admin; /* the admin socket (admin.c), or NULL */
    uint64_t t_start;       /* vg_now_ns() at start (stats: uptime) */
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

/* gw.c: reload the configuration, users, VM table and certificates (SIGHUP and the admin
 * socket's "reload").  False + err when the new files are refused (the running ones stay). */
bool gw_reload(struct gw *g, const char *by, char *err, size_t errlen);

/* conn.c — the policy (g->policy, NULL: none) on running sessions: end those it denies now
 * (reload --enforce; returns how many), and the verdict for a made-up request (policy test). */
struct vg_verdict;
unsigned gw_sessions_enforce(struct gw *g, const char *by);
void gw_policy_test(struct gw *g, const char *user, const char *vm, uint16_t port,
                    const struct sockaddr *from, struct vg_verdict *v);

/* conn.c — the session table: every connection from accept to close, as the admin socket shows
 * it.  Pointers are valid during the callback only. */
struct gw_session_info {
    uint64_t id;                   /* the "c<id>" of the log */
    const char *user;              /* authenticated (or stated by a hop) user; NULL: anonymous */
    const char *groups;            /* stated by a hop, else NULL */
    const struct sockaddr *peer;   /* the client's address (AF_UNIX for a guest's stream) */
    const char *client;            /* a hop's stated client address, "vm:<origin>" for a guest's
                                      stream, else NULL (then peer is the client) */
    const char *vm;                /* the requested name, "" before the request */
    uint16_t port;                 /* the requested port, 0 before the request */
    const char *channel;           /* "tcp", "vsock", "vsock-mux", "serial", "forward"; NULL
                                      until the channel is chosen */
    const char *front;             /* "socks5", "http", "guest" */
    const char *state;             /* "tls", "handshake", "opening", "relay", "linger" */
    int64_t started;               /* wall clock at accept, Unix seconds */
    uint64_t bytes_up, bytes_down; /* relayed client → VM, VM → client */
    uint64_t idle_s;               /* seconds since bytes last moved (since accept before) */
    uint32_t agent_session;        /* serial: the agent session's number, else 0 */
};
/* Returns false to stop (foreach) / whether to kill this one (kill). */
typedef bool (*gw_session_fn)(const struct gw_session_info *s, void *arg);
void gw_sessions_foreach(struct gw *g, gw_session_fn fn, void *arg);
/* End every session `match` picks at once (both sockets closed, logged "killed by <by>"); how
 * many. */
unsigned gw_sessions_kill(struct gw *g, gw_session_fn match, void *arg, const char *by);
/* The state names, index 0.., NULL past the last (stats). */
const char *gw_conn_state_name(unsigned i);

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
/* Bytes written so far each way (client → upstream, upstream → client) and the
 * vg_now_coarse_s() of the last bytes moved. */
void gw_relay_bytes(const struct gw_relay *r, uint64_t *up, uint64_t *down, uint64_t *last);

#endif
