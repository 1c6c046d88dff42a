/* metrics — the gateway's counters and their Prometheus exposition (docs/operations.md,
 * "Metrics"); the one owner of the metric names, labels, help texts and of the text format.
 *
 * A fixed registry: every series exists from the start (label values are fixed enums, so the
 * whole set is exported with zeros), no per-user or per-session labels, no allocation.
 * The increment functions work on the process's registry (one per process, loop thread only:
 * plain integers, no atomics).  Values that live elsewhere (serial agent sessions up, audit
 * drops) are read through callbacks just before each exposition (gw_metrics_refresh).
 *
 *   gw_metrics_format()  pure: registry → text format 0.0.4 (# HELP, # TYPE, histograms as
 *                        cumulative _bucket{le} incl. +Inf, _sum, _count)
 *   gw_metrics_serve()   tiny HTTP/1.1 server on the loop: GET /metrics only
 */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include "vg_outcome.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

enum gw_mfront { GW_MF_SOCKS5, GW_MF_HTTP, GW_MF_HTTPS, GW_MF_GUEST, GW_MF_HOP, GW_MF_COUNT };
enum gw_mchan {
    GW_MC_TCP,
    GW_MC_VSOCK,
    GW_MC_VSOCK_MUX,
    GW_MC_SERIAL,
    GW_MC_FORWARD, /* chained to the owning host's gateway */
    GW_MC_COUNT
};
enum gw_mdir { GW_MD_UP, GW_MD_DOWN, GW_MD_COUNT }; /* up: client → VM */

/* Label values: "socks5", "tcp", "vsock-mux", "up"; NULL outside the enums. */
const char *gw_metrics_front_name(enum gw_mfront f);
const char *gw_metrics_chan_name(enum gw_mchan c);
/* A refusal reason's label value: vg_outcome_name() in lower case ("no_such_vm"); every
 * outcome but VG_OUT_OK is a reason.  NULL for VG_OUT_OK and outside the enum. */
const char *gw_metrics_reason_name(enum vg_outcome o);

/* Histogram bounds in seconds (the same for both histograms). */
#define GW_METRICS_NBUCKETS 14
extern const double gw_metrics_bounds[GW_METRICS_NBUCKETS];

struct gw_histogram {
    uint64_t bucket[GW_METRICS_NBUCKETS + 1]; /* per bucket (not cumulative); last = above all */
    uint64_t count;
    double sum;
};

struct gw_metrics {
    uint64_t sessions_active[GW_MF_COUNT][GW_MC_COUNT];
    uint64_t sessions_total[GW_MF_COUNT][GW_MC_COUNT];
    uint64_t refused_total[VG_OUT_COUNT]; /* [VG_OUT_OK] unused */
    uint64_t bytes_total[GW_MD_COUNT];
    struct gw_histogram handshake, connect;
    uint64_t auth_failures_total;
    /* from the callbacks, refreshed by gw_metrics_refresh */
    uint64_t serial_sessions_up;
    uint64_t audit_drops_total;
};

/* The registry of this process. */
const struct gw_metrics *gw_metrics_get(void);
void gw_metrics_reset(void); /* all zero (tests) */

/* What the connection code calls.  Values outside the enums are ignored. */
void gw_metrics_session_start(enum gw_mfront f, enum gw_mchan c); /* active++, total++ */
void gw_metrics_session_end(enum gw_mfront f, enum gw_mchan c, uint64_t up, uint64_t down);
void gw_metrics_refused(enum vg_outcome reason);
void gw_metrics_handshake_seconds(double s); /* accept → request parsed */
void gw_metrics_connect_seconds(double s);   /* channel open → connected (or failed) */
void gw_metrics_auth_failed(void);

/* Sources of the values kept elsewhere; NULL = 0. */
enum gw_msource { GW_MS_SERIAL_SESSIONS_UP, GW_MS_AUDIT_DROPS, GW_MS_COUNT };
void gw_metrics_set_source(enum gw_msource s, uint64_t (*fn)(void *arg), void *arg);
void gw_metrics_refresh(void); /* call the sources */

/* Histogram on its own (tests, other registries). */
void gw_histogram_observe(struct gw_histogram *h, double s);

/* The exposition text of m (format 0.0.4).  Like snprintf: returns the length of the whole
 * text and writes at most cap bytes, NUL included; call again with a larger buffer when the
 * result is >= cap.  Pure. */
size_t gw_metrics_format(const struct gw_metrics *m, char *out, size_t cap);
#define GW_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The HTTP endpoint.  Listens on every ADDR:PORT of `listen` (a comma list; IPv6 with
 * IPV6_V6ONLY), serves GET (and HEAD) /metrics with 200, other paths 404, other methods 405,
 * a request head over GW_METRICS_HEAD_MAX bytes 431, a malformed one 400; one request per
 * connection (Connection: close), at most GW_METRICS_MAX_CONNS at once (more are closed at once),
 * each GW_METRICS_TIMEOUT_S seconds at most.  NULL + message on error. */
#define GW_METRICS_HEAD_MAX 8192
#define GW_METRICS_MAX_CONNS 16
#define GW_METRICS_TIMEOUT_S 5
struct gw_metrics_server;
struct gw_metrics_server *gw_metrics_serve(struct event_base *base, const char *listen, char *err,
                                           size_t errlen);
/* Close the listeners and every connection.  NULL is fine. */
void gw_metrics_server_free(struct gw_metrics_server *s);

#endif
