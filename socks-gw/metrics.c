/* metrics — the registry and the exposition encoder (pure); the HTTP endpoint is in
 * metrics_http.c.  See metrics.h. */
#include "metrics.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const front_names[GW_MF_COUNT] = {"socks5", "http", "https", "guest", "hop"};
static const char *const chan_names[GW_MC_COUNT] = {"tcp", "vsock", "vsock-mux", "serial",
                                                    "forward"};
static const char *const dir_names[GW_MD_COUNT] = {"up", "down"};

const double gw_metrics_bounds[GW_METRICS_NBUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                       0.25,  0.5,    1,     2.5,  5,     10,   30};

const char *gw_metrics_front_name(enum gw_mfront f)
{
    return (unsigned)f < GW_MF_COUNT ? front_names[f] : NULL;
}

const char *gw_metrics_chan_name(enum gw_mchan c)
{
    return (unsigned)c < GW_MC_COUNT ? chan_names[c] : NULL;
}

/* The label value of a reason: the outcome's name in lower case. */
static void lower(const char *n, char *out, size_t len)
{
    size_t i = 0;
    for (; n[i] && i + 1 < len; i++)
        out[i] = (char)tolower((unsigned char)n[i]);
    out[i] = '\0';
}

const char *gw_metrics_reason_name(enum vg_outcome o)
{
    static char names[VG_OUT_COUNT][40]; /* derived once from the outcome table (loop thread) */
    if ((unsigned)o >= VG_OUT_COUNT || o == VG_OUT_OK)
        return NULL;
    if (names[o][0] == '\0')
        lower(vg_outcome_name(o), names[o], sizeof names[o]);
    return names[o];
}

/* ---------------------------------------------------------------------------------------------
 * the registry */

static struct gw_metrics reg;
static struct {
    uint64_t (*fn)(void *arg);
    void *arg;
} sources[GW_MS_COUNT];

const struct gw_metrics *gw_metrics_get(void)
{
    return &reg;
}

void gw_metrics_reset(void)
{
    memset(&reg, 0, sizeof reg);
}

static bool labels_ok(enum gw_mfront f, enum gw_mchan c)
{
    return (unsigned)f < GW_MF_COUNT && (unsigned)c < GW_MC_COUNT;
}

void gw_metrics_session_start(enum gw_mfront f, enum gw_mchan c)
{
    if (!labels_ok(f, c))
        return;
    reg.sessions_active[f][c]++;
    reg.sessions_total[f][c]++;
}

void gw_metrics_session_end(enum gw_mfront f, enum gw_mchan c, uint64_t up, uint64_t down)
{
    if (!labels_ok(f, c))
        return;
    if (reg.sessions_active[f][c] > 0)
        reg.sessions_active[f][c]--;
    reg.bytes_total[GW_MD_UP] += up;
    reg.bytes_total[GW_MD_DOWN] += down;
}

void gw_metrics_refused(enum vg_outcome reason)
{
    if ((unsigned)reason < VG_OUT_COUNT && reason != VG_OUT_OK)
        reg.refused_total[reason]++;
}

void gw_histogram_observe(struct gw_histogram *h, double s)
{
    if (!(s >= 0)) /* negative, NaN: a clock mistake, not an observation */
        return;
    unsigned i = 0;
    while (i < GW_METRICS_NBUCKETS && s > gw_metrics_bounds[i])
        i++;
    h->bucket[i]++;
    h->count++;
    h->sum += s;
}

void gw_metrics_handshake_seconds(double s)
{
    gw_histogram_observe(&reg.handshake, s);
}

void gw_metrics_connect_seconds(double s)
{
    gw_histogram_observe(&reg.connect, s);
}

void gw_metrics_auth_failed(void)
{
    reg.auth_failures_total++;
}

void gw_metrics_set_source(enum gw_msource s, uint64_t (*fn)(void *arg), void *arg)
{
    if ((unsigned)s >= GW_MS_COUNT)
        return;
    sources[s].fn = fn;
    sources[s].arg = arg;
}

void gw_metrics_refresh(void)
{
    uint64_t v[GW_MS_COUNT];
    for (unsigned i = 0; i < GW_MS_COUNT; i++)
        v[i] = sources[i].fn ? sources[i].fn(sources[i].arg) : 0;
    reg.serial_sessions_up = v[GW_MS_SERIAL_SESSIONS_UP];
    reg.audit_drops_total = v[GW_MS_AUDIT_DROPS];
}

/* ---------------------------------------------------------------------------------------------
 * the exposition: snprintf-like appender */

struct out {
    char *buf;
    size_t cap, len; /* len counts everything, also what did not fit */
};

static void add(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->len < o->cap ? o->cap - o->len : 0;
    int n = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n;
}

/* The shortest of %.15g..%.17g that reads back as v (Prometheus parses Go floats). */
static const char *num(double v, char *buf, size_t len)
{
    if (isnan(v))
        return "NaN";
    if (isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    return buf;
}

static void header(struct out *o, const char *name, const char *type, const char *help)
{
    add(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void by_front_chan(struct out *o, const char *name, const char *type, const char *help,
                          const uint64_t v[GW_MF_COUNT][GW_MC_COUNT])
{
    header(o, name, type, help);
    for (unsigned f = 0; f < GW_MF_COUNT; f++)
        for (unsigned c = 0; c < GW_MC_COUNT; c++)
            add(o, "%s{front=\"%s\",channel=\"%s\"} %" PRIu64 "\n", name, front_names[f],
                chan_names[c], v[f][c]);
}

static void scalar(struct out *o, const char *name, const char *type, const char *help, uint64_t v)
{
    header(o, name, type, help);
    add(o, "%s %" PRIu64 "\n", name, v);
}

static void histogram(struct out *o, const char *name, const char *help,
                      const struct gw_histogram *h)
{
    char b[32];
    uint64_t cum = 0;
    header(o, name, "histogram", help);
    for (unsigned i = 0; i < GW_METRICS_NBUCKETS; i++) {
        cum += h->bucket[i];
        add(o, "%s_bucket{le=\"%s\"} %" PRIu64 "\n", name, num(gw_metrics_bounds[i], b, sizeof b),
            cum);
    }
    cum += h->bucket[GW_METRICS_NBUCKETS];
    add(o, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
    add(o, "%s_sum %s\n", name, num(h->sum, b, sizeof b));
    add(o, "%s_count %" PRIu64 "\n", name, h->count);
}

size_t gw_metrics_format(const struct gw_metrics *m, char *buf, size_t cap)
{
    struct out o = {buf, cap, 0};
    if (cap > 0)
        buf[0] = '\0';
    by_front_chan(&o, "vmgate_sessions_active", "gauge",
                  "Sessions being relayed now, by front and channel kind.", m->sessions_active);
    by_front_chan(&o, "vmgate_sessions_total", "counter",
                  "Sessions started (request allowed, channel connected), by front and channel "
                  "kind.",
                  m->sessions_total);
    header(&o, "vmgate_sessions_refused_total", "counter",
           "Requests refused, by reason (the gateway's outcome vocabulary).");
    for (unsigned r = 1; r < VG_OUT_COUNT; r++) {
        char reason[40];
        lower(vg_outcome_name((enum vg_outcome)r), reason, sizeof reason);
        add(&o, "vmgate_sessions_refused_total{reason=\"%s\"} %" PRIu64 "\n", reason,
            m->refused_total[r]);
    }
    header(&o, "vmgate_relayed_bytes_total", "counter",
           "Bytes relayed by ended sessions: up = client to VM, down = VM to client.");
    for (unsigned d = 0; d < GW_MD_COUNT; d++)
        add(&o, "vmgate_relayed_bytes_total{direction=\"%s\"} %" PRIu64 "\n", dir_names[d],
            m->bytes_total[d]);
    histogram(&o, "vmgate_handshake_duration_seconds",
              "Time from accepting a connection to its parsed request.", &m->handshake);
    histogram(&o, "vmgate_channel_connect_duration_seconds",
              "Time to open the channel to the VM (connected or failed).", &m->connect);
    scalar(&o, "vmgate_serial_agent_sessions_up", "gauge",
           "Serial channels whose agent session is up.", m->serial_sessions_up);
    scalar(&o, "vmgate_auth_failures_total", "counter",
           "Failed authentications (RFC 1929, hop credentials).", m->auth_failures_total);
    scalar(&o, "vmgate_audit_events_dropped_total", "counter",
           "Audit log events lost (queue full, file failing).", m->audit_drops_total);
    return o.len;
}
