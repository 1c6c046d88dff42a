/* vg_resolve — c-ares on libevent (see vg_resolve.h).
 *
 * Integration (c-ares 1.18): ARES_OPT_SOCK_STATE_CB tells us which sockets c-ares wants watched;
 * each gets one persistent libevent event whose callback calls ares_process_fd().  One timer is
 * re-armed from ares_timeout() after every call into c-ares, so retries and timeouts happen
 * without any polling.
 *
 * Objects: a `lookup` is one name being resolved (four queries); requests (`vg_resolve_req`)
 * wait on a lookup, or sit in the ready list with their result, their event made active so the
 * callback runs from the loop.
 */
#include "vg_resolve.h"

#include "vg_alloc.h"
#include "vg_addr.h"
#include "vg_config.h"
#include "vg_log.h"
#include "vg_name.h"
#include "vg_records.h"
#include "vg_rcache.h"
#include "vg_rparse.h"
#include "vg_time.h"

#include <ares.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define C_IN 1
#define T_A 1
#define T_TXT 16
#define T_AAAA 28
#define T_SRV 33

struct sockw {
    struct vg_resolver *r;
    ares_socket_t fd;
    short what;
    struct event *ev;
    struct sockw *next;
};

struct lookup;

struct query {
    struct lookup *lk;
    enum vg_rq idx;
};

struct lookup {
    struct vg_resolver *r;
    char name[254];
    int pending; /* queries outstanding (+1 while they are being sent) */
    struct query q[VG_RQ_N];
    int status[VG_RQ_N];
    unsigned char *abuf[VG_RQ_N];
    int alen[VG_RQ_N];
    struct vg_resolve_req *waiters;
    struct lookup *prev, *next;
};

struct vg_resolve_req {
    struct vg_resolver *r;
    struct lookup *lk; /* while waiting */
    struct event *ev;
    vg_resolve_cb cb;
    void *arg;
    enum vg_res_status st;
    struct vg_vm_location loc;
    char why[256];                      /* what the answer refused (vg_resolver_why) */
    struct vg_resolve_req *prev, *next; /* lk->waiters or r->ready */
};

struct vg_resolver {
    struct event_base *base;
    ares_channel ch;
    struct event *timer;
    struct sockw *socks;
    struct lookup *lookups;
    struct vg_resolve_req *ready;
    struct vg_rcache *cache;
    unsigned ttl_max, neg_ttl_max; /* [dns] cache-ttl-max, cache-negative-ttl-max */
    struct vg_cidr *nets;          /* [dns] host-networks */
    size_t nnets, nets_cap;
    char why[256]; /* during a callback: its request's why (vg_resolver_why) */
    uint64_t (*now_ms)(void *);
    void *clock_arg;
    char **zones;
    size_t nzones;
    bool destroying;
    bool lib_failed; /* ares_library_init failed: nothing to clean up */
    struct vg_resolver_stats stats;
};

static int ares_users;

/* ------------------------------------------------------------------------------------------ */

const char *vg_res_strerror(enum vg_res_status st)
{
    switch (st) {
    case VG_RES_OK:
        return "found";
    case VG_RES_NXDOMAIN:
        return "no such VM (the name does not exist in DNS)";
    case VG_RES_NODATA:
        return "no such VM (the name has no address records)";
    case VG_RES_TIMEOUT:
        return "DNS timeout: no server answered in time";
    case VG_RES_UNREACHABLE:
        return "DNS server unreachable (connection refused)";
    case VG_RES_SERVFAIL:
        return "DNS server failure (SERVFAIL)";
    case VG_RES_REFUSED:
        return "DNS server refused the query";
    case VG_RES_BADRESP:
        return "malformed DNS reply";
    case VG_RES_BADNAME:
        return "not a valid VM name";
    case VG_RES_OUTSIDE:
        return "name outside the configured zone(s)";
    case VG_RES_OFFZONE:
        return "DNS answer refused: a CNAME, DNAME or SRV target leaves the zone";
    case VG_RES_BADADDR:
        return "DNS answer refused: the owning host's address is not allowed ([dns] "
               "host-networks)";
    case VG_RES_NOMEM:
        return "out of memory";
    case VG_RES_CANCELLED:
        return "cancelled";
    case VG_RES_ERROR:
        break;
    }
    return "DNS lookup failed";
}

enum vg_outcome vg_res_outcome(enum vg_res_status st)
{
    switch (st) {
    case VG_RES_OK:
        return VG_OUT_OK;
    case VG_RES_NXDOMAIN:
    case VG_RES_NODATA:
        return VG_OUT_DNS_NO_SUCH_VM;
    case VG_RES_TIMEOUT:
        return VG_OUT_DNS_TIMEOUT;
    case VG_RES_UNREACHABLE:
        return VG_OUT_DNS_UNREACHABLE;
    case VG_RES_BADNAME:
    case VG_RES_OUTSIDE:
        return VG_OUT_BAD_NAME;
    case VG_RES_NOMEM:
    case VG_RES_CANCELLED:
        return VG_OUT_DNS_LOCAL;
    case VG_RES_SERVFAIL:
    case VG_RES_REFUSED:
    case VG_RES_BADRESP:
    case VG_RES_OFFZONE:
    case VG_RES_BADADDR:
    case VG_RES_ERROR:
        break;
    }
    return VG_OUT_DNS_FAILURE;
}

const char *vg_res_token(enum vg_res_status st)
{
    static const char *const t[] = {
        [VG_RES_OK] = "ok",
        [VG_RES_NXDOMAIN] = "nxdomain",
        [VG_RES_NODATA] = "nodata",
        [VG_RES_TIMEOUT] = "timeout",
        [VG_RES_UNREACHABLE] = "unreachable",
        [VG_RES_SERVFAIL] = "servfail",
        [VG_RES_REFUSED] = "refused",
        [VG_RES_BADRESP] = "badresp",
        [VG_RES_BADNAME] = "badname",
        [VG_RES_OUTSIDE] = "outside",
        [VG_RES_OFFZONE] = "offzone",
        [VG_RES_BADADDR] = "badaddr",
        [VG_RES_NOMEM] = "nomem",
        [VG_RES_CANCELLED] = "cancelled",
        [VG_RES_ERROR] = "error",
    };
    if ((unsigned)st < sizeof t / sizeof t[0] && t[st])
        return t[st];
    return "error";
}

enum vg_res_status vg_res_qualify(const char *in, const char *const *zones, size_t nzones,
                                  char out[254])
{
    char norm[VG_NAME_MAX + 1];
    size_t len = strlen(in);
    if (vg_name_is_ip_literal(in, len))
        return VG_RES_BADNAME;
    if (vg_name_normalize(in, len, norm) != VG_NAME_OK)
        return VG_RES_BADNAME;
    const char *zone = NULL;
    if (nzones > 0) {
        for (size_t i = 0; i < nzones && zone == NULL; i++)
            if (vg_name_under(norm, zones[i]))
                zone = zones[i];
        if (zone == NULL) {
            bool absolute = len > 0 && in[len - 1] == '.';
            if (absolute || strchr(norm, '.') != NULL)
                return VG_RES_OUTSIDE;
            char joined[VG_NAME_MAX + 2];
            int w = snprintf(joined, sizeof joined, "%s.%s", norm, zones[0]);
            if (w < 0 || (size_t)w >= sizeof joined ||
                vg_name_normalize(joined, (size_t)w, norm) != VG_NAME_OK)
                return VG_RES_BADNAME;
            zone = zones[0];
        }
        /* host records, or a name whose SRV name does not fit (vg_records.h) */
        char why[200];
        if (!vg_rec_vm_name_ok(norm, zone, why, sizeof why))
            return VG_RES_BADNAME;
    }
    char srv[VG_NAME_MAX + 1];
    if (!vg_rec_srv_name(norm, srv))
        return VG_RES_BADNAME;
    memcpy(out, norm, strlen(norm) + 1);
    return VG_RES_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* c-ares ↔ libevent */

static void rearm_timer(struct vg_resolver *r)
{
    struct timeval tv, *tvp = ares_timeout(r->ch, NULL, &tv);
    if (tvp != NULL) {
        /* c-ares compares in whole milliseconds: firing a little early would find nothing
         * timed out and re-arm at 0 again and again until the millisecond turns over */
        struct timeval ms = {0, 1000}, t;
        evutil_timeradd(tvp, &ms, &t);
        evtimer_add(r->timer, &t);
    } else {
        evtimer_del(r->timer);
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct vg_resolver *r = arg;
    ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    rearm_timer(r);
}

static void on_sock(evutil_socket_t fd, short what, void *arg)
{
    struct sockw *w = arg;
    struct vg_resolver *r = w->r; /* w may be freed inside ares_process_fd */
    ares_process_fd(r->ch, (what & EV_READ) ? (ares_socket_t)fd : ARES_SOCKET_BAD,
                    (what & EV_WRITE) ? (ares_socket_t)fd : ARES_SOCKET_BAD);
    rearm_timer(r);
}

static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
    struct vg_resolver *r = data;
    struct sockw **pp = &r->socks;
    while (*pp && (*pp)->fd != fd)
        pp = &(*pp)->next;
    struct sockw *w = *pp;
    if (!readable && !writable) {
        if (w) {
            *pp = w->next;
            event_free(w->ev);
            vg_free(w);
        }
        return;
    }
    short what = (short)(EV_PERSIST | (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));
    if (w == NULL) {
        if ((w = vg_calloc(1, sizeof *w)) == NULL)
            return; /* the query times out through the timer */
        w->r = r;
        w->fd = fd;
        if ((w->ev = event_new(r->base, fd, what, on_sock, w)) == NULL) {
            vg_free(w);
            return;
        }
        w->next = r->socks;
        r->socks = w;
    } else if (w->what != what) {
        event_del(w->ev);
        event_assign(w->ev, r->base, fd, what, on_sock, w);
    }
    w->what = what;
    event_add(w->ev, NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* requests */

static void req_unlink(struct vg_resolve_req **head, struct vg_resolve_req *q)
{
    if (q->prev)
        q->prev->next = q->next;
    else
        *head = q->next;
    if (q->next)
        q->next->prev = q->prev;
    q->prev = q->next = NULL;
}

static void req_push(struct vg_resolve_req **head, struct vg_resolve_req *q)
{
    q->prev = NULL;
    q->next = *head;
    if (*head)
        (*head)->prev = q;
    *head = q;
}

static void req_free(struct vg_resolve_req *q)
{
    if (q->ev)
        event_free(q->ev);
    vg_free(q);
}

static void on_ready(evutil_socket_t fd, short what, void *arg)
{
    struct vg_resolve_req *q = arg;
    struct vg_resolver *r = q->r;
    req_unlink(&r->ready, q);
    memcpy(r->why, q->why, sizeof r->why); /* a copy: the callback may free r */
    q->cb(q->st, q->st == VG_RES_OK ? &q->loc : NULL, q->arg);
    req_free(q);
}

/* Hand a result to q and schedule its callback. */
static void req_complete(struct vg_resolve_req *q, enum vg_res_status st,
                         const struct vg_vm_location *loc, const char *why)
{
    q->st = st;
    snprintf(q->why, sizeof q->why, "%s", why ? why : "");
    if (st == VG_RES_OK && loc != &q->loc)
        q->loc = *loc;
    q->lk = NULL;
    req_push(&q->r->ready, q);
    event_active(q->ev, EV_TIMEOUT, 1);
}

static uint64_t mono_ms(void *arg) /* the default clock (vg_resolver_set_clock) */
{
    return vg_now_ms();
}

/* ------------------------------------------------------------------------------------------ */
/* lookups */

static void lookup_free(struct lookup *lk)
{
    struct vg_resolver *r = lk->r;
    if (lk->prev)
        lk->prev->next = lk->next;
    else
        r->lookups = lk->next;
    if (lk->next)
        lk->next->prev = lk->prev;
    for (int i = 0; i < VG_RQ_N; i++)
        vg_free(lk->abuf[i]);
    vg_free(lk);
}

static void lookup_finish(struct lookup *lk)
{
    struct vg_resolver *r = lk->r;
    struct vg_rpart parts[VG_RQ_N];
    struct vg_vm_location loc;
    unsigned cache_ttl = 0;
    char why[256];
    const struct vg_rpolicy pol = {
        .zones = (const char *const *)r->zones,
        .nzones = r->nzones,
        .nets = r->nets,
        .nnets = r->nnets,
        .ttl_max = r->ttl_max,
        .neg_ttl_max = r->neg_ttl_max,
    };
    for (int i = 0; i < VG_RQ_N; i++)
        parts[i] = (struct vg_rpart){lk->status[i], lk->abuf[i], lk->alen[i]};
    memcpy(loc.name, lk->name, sizeof loc.name);
    enum vg_res_status st = vg_rparse_fold(parts, &pol, &loc, &cache_ttl, why, sizeof why);
    if (why[0] != '\0')
        vg_warn("DNS %s: %s%s", lk->name, st == VG_RES_OK ? "" : "refused: ", why);
    /* refusals are failures: never cached */
    if (st == VG_RES_OK || vg_res_is_negative(st))
        vg_rcache_put(r->cache, lk->name, st, &loc, cache_ttl, r->now_ms(r->clock_arg));
    while (lk->waiters) {
        struct vg_resolve_req *q = lk->waiters;
        req_unlink(&lk->waiters, q);
        req_complete(q, st, &loc, why);
    }
    lookup_free(lk);
}

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct query *qq = arg;
    struct lookup *lk = qq->lk;
    lk->status[qq->idx] = status;
    if (abuf != NULL && alen > 0 && (lk->abuf[qq->idx] = vg_malloc((size_t)alen)) != NULL) {
        memcpy(lk->abuf[qq->idx], abuf, (size_t)alen);
        lk->alen[qq->idx] = alen;
    } else if (abuf != NULL && alen > 0) {
        lk->status[qq->idx] = ARES_ENOMEM;
    }
    if (--lk->pending == 0 && !lk->r->destroying)
        lookup_finish(lk);
}

static struct lookup *lookup_find(struct vg_resolver *r, const char *name)
{
    for (struct lookup *lk = r->lookups; lk; lk = lk->next)
        if (strcmp(lk->name, name) == 0)
            return lk;
    return NULL;
}

static struct lookup *lookup_start(struct vg_resolver *r, const char *name)
{
    static const int types[VG_RQ_N] = {T_A, T_AAAA, T_TXT, T_SRV};
    char srvname[VG_NAME_MAX + 1]; /* fits: vg_res_qualify checked it */
    struct lookup *lk = vg_calloc(1, sizeof *lk);
    if (lk == NULL)
        return NULL;
    lk->r = r;
    memcpy(lk->name, name, strlen(name) + 1);
    vg_rec_srv_name(name, srvname);
    lk->next = r->lookups;
    if (r->lookups)
        r->lookups->prev = lk;
    r->lookups = lk;
    lk->pending = VG_RQ_N + 1; /* +1: callbacks may run inside ares_query */
    for (int i = 0; i < VG_RQ_N; i++) {
        lk->q[i] = (struct query){lk, (enum vg_rq)i};
        r->stats.queries++;
        ares_query(r->ch, i == VG_RQ_SRV ? srvname : name, C_IN, types[i], on_answer, &lk->q[i]);
    }
    rearm_timer(r);
    return lk;
}

/* The +1 reference of lookup_start, dropped once the caller attached its waiter. */
static void lookup_release(struct lookup *lk)
{
    if (--lk->pending == 0)
        lookup_finish(lk);
}

struct vg_resolve_req *vg_resolve(struct vg_resolver *r, const char *name, vg_resolve_cb cb,
                                  void *arg)
{
    struct vg_resolve_req *q = vg_calloc(1, sizeof *q);
    if (q == NULL)
        return NULL;
    q->r = r;
    q->cb = cb;
    q->arg = arg;
    if ((q->ev = event_new(r->base, -1, 0, on_ready, q)) == NULL) {
        vg_free(q);
        return NULL;
    }
    r->stats.lookups++;

    char norm[254];
    enum vg_res_status st = vg_res_qualify(name, (const char *const *)r->zones, r->nzones, norm);
    if (st != VG_RES_OK) {
        req_complete(q, st, NULL, NULL);
        return q;
    }
    memcpy(q->loc.name, norm, sizeof norm);
    if (vg_rcache_get(r->cache, norm, r->now_ms(r->clock_arg), &st, &q->loc)) {
        r->stats.cache_hits++;
        req_complete(q, st, &q->loc, NULL);
        return q;
    }
    struct lookup *lk = lookup_find(r, norm);
    if (lk != NULL) {
        r->stats.coalesced++;
        q->lk = lk;
        req_push(&lk->waiters, q);
        return q;
    }
    if ((lk = lookup_start(r, norm)) == NULL) {
        req_complete(q, VG_RES_NOMEM, NULL, NULL);
        return q;
    }
    q->lk = lk;
    req_push(&lk->waiters, q);
    lookup_release(lk);
    return q;
}

void vg_resolve_cancel(struct vg_resolve_req *q)
{
    if (q == NULL)
        return;
    if (q->lk != NULL) {
        req_unlink(&q->lk->waiters, q); /* the lookup goes on and fills the cache */
    } else {
        req_unlink(&q->r->ready, q);
        event_del(q->ev);
    }
    req_free(q);
}

/* ------------------------------------------------------------------------------------------ */

struct nets_ctx {
    struct vg_resolver *r;
    char *err;
    size_t errlen;
};

static bool add_net(const char *item, void *arg)
{
    struct nets_ctx *c = arg;
    struct vg_cidr cidr;
    if (!vg_cidr_parse(item, &cidr)) {
        snprintf(c->err, c->errlen, "[dns] host-networks: '%s' is not an address or CIDR prefix",
                 item);
        return false;
    }
    if (!vg_grow(&c->r->nets, &c->r->nets_cap, c->r->nnets, sizeof *c->r->nets, 4)) {
        snprintf(c->err, c->errlen, "out of memory");
        return false;
    }
    c->r->nets[c->r->nnets++] = cidr;
    return true;
}

struct csv_ctx {
    char *buf;
    size_t len, used;
    char *err;
    size_t errlen;
};

static bool add_server(const char *item, void *arg)
{
    struct csv_ctx *c = arg;
    struct sockaddr_storage ss;
    socklen_t sl;
    char a[VG_ADDRSTRLEN];
    if (!vg_sockaddr_parse(item, 53, &ss, &sl)) {
        snprintf(c->err, c->errlen, "[dns] server: '%s' is not ADDR, ADDR:PORT or [ADDR]:PORT",
                 item);
        return false;
    }
    vg_sockaddr_format((struct sockaddr *)&ss, true, a, sizeof a);
    int w = snprintf(c->buf + c->used, c->len - c->used, "%s%s", c->used ? "," : "", a);
    if (w < 0 || (size_t)w >= c->len - c->used) {
        snprintf(c->err, c->errlen, "[dns] server: list too long");
        return false;
    }
    c->used += (size_t)w;
    return true;
}

struct vg_resolver *vg_resolver_new(struct event_base *base, const struct vg_config *cfg, char *err,
                                    size_t errlen)
{
    struct vg_resolver *r = vg_calloc(1, sizeof *r), *ret = NULL;
    char csv[2048];
    if (r == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->base = base;
    r->now_ms = mono_ms;
    r->ttl_max = cfg ? cfg->cache_ttl_max : VG_RES_TTL_MAX_DEFAULT;
    r->neg_ttl_max = cfg ? cfg->cache_neg_ttl_max : VG_RES_NEG_TTL_MAX_DEFAULT;
    if (r->neg_ttl_max > r->ttl_max)
        r->neg_ttl_max = r->ttl_max;
    if (ares_users++ == 0) {
        int st = ares_library_init(ARES_LIB_INIT_ALL);
        if (st != ARES_SUCCESS) {
            ares_users--;
            r->lib_failed = true;
            snprintf(err, errlen, "c-ares: %s", ares_strerror(st));
            goto done;
        }
    }
    if ((r->cache = vg_rcache_new(4096)) == NULL ||
        (r->timer = evtimer_new(base, on_timer, r)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    if (cfg != NULL && cfg->nzones > 0) {
        if ((r->zones = vg_calloc(cfg->nzones, sizeof *r->zones)) == NULL) {
            snprintf(err, errlen, "out of memory");
            goto done;
        }
        for (; r->nzones < cfg->nzones; r->nzones++)
            if ((r->zones[r->nzones] = vg_strdup(cfg->zones[r->nzones])) == NULL) {
                snprintf(err, errlen, "out of memory");
                goto done;
            }
    }

    if (cfg != NULL && cfg->host_networks != NULL) {
        char *copy = vg_strdup(cfg->host_networks);
        struct nets_ctx c = {r, err, errlen};
        if (copy == NULL) {
            snprintf(err, errlen, "out of memory");
            goto done;
        }
        bool ok = vg_list_foreach(copy, add_net, &c);
        vg_free(copy);
        if (!ok)
            goto done;
    }

    /* [dns] timeout is the whole budget of one query: c-ares doubles the per-try timeout each
     * round, so two tries of t and 2t make 3t. */
    unsigned budget_ms = (cfg ? cfg->dns_timeout : 3) * 1000u;
    struct ares_options opt = {
        .sock_state_cb = sock_state_cb,
        .sock_state_cb_data = r,
        .timeout = (int)(budget_ms / 3 > 100 ? budget_ms / 3 : 100),
        .tries = 2,
    };
    int st = ares_init_options(&r->ch, &opt,
                               ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
    if (st != ARES_SUCCESS) {
        r->ch = NULL;
        snprintf(err, errlen, "c-ares init: %s", ares_strerror(st));
        goto done;
    }
    if (cfg != NULL && cfg->server != NULL) {
        char *copy = vg_strdup(cfg->server);
        struct csv_ctx c = {csv, sizeof csv, 0, err, errlen};
        if (copy == NULL) {
            snprintf(err, errlen, "out of memory");
            goto done;
        }
        bool ok = vg_list_foreach(copy, add_server, &c);
        vg_free(copy);
        if (!ok)
            goto done;
        if (c.used == 0) {
            snprintf(err, errlen, "[dns] server: empty list");
            goto done;
        }
        /* ports in the text: no udp_port option, whose byte order 1.18 gets wrong */
        if ((st = ares_set_servers_ports_csv(r->ch, csv)) != ARES_SUCCESS) {
            snprintf(err, errlen, "[dns] server '%s': %s", csv, ares_strerror(st));
            goto done;
        }
    }
    ret = r;
    r = NULL;
done:
    vg_resolver_free(r);
    return ret;
}

void vg_resolver_free(struct vg_resolver *r)
{
    if (r == NULL)
        return;
    r->destroying = true;
    if (r->ch != NULL)
        ares_destroy(r->ch); /* answers every query with ARES_EDESTRUCTION */
    while (r->lookups) {
        struct lookup *lk = r->lookups;
        while (lk->waiters) {
            struct vg_resolve_req *q = lk->waiters;
            req_unlink(&lk->waiters, q);
            r->why[0] = '\0';
            q->cb(VG_RES_CANCELLED, NULL, q->arg);
            req_free(q);
        }
        lookup_free(lk);
    }
    while (r->ready) {
        struct vg_resolve_req *q = r->ready;
        req_unlink(&r->ready, q);
        r->why[0] = '\0';
        q->cb(VG_RES_CANCELLED, NULL, q->arg);
        req_free(q);
    }
    while (r->socks) { /* ares_destroy closed the sockets and normally reported them */
        struct sockw *w = r->socks;
        r->socks = w->next;
        event_free(w->ev);
        vg_free(w);
    }
    if (r->timer)
        event_free(r->timer);
    vg_rcache_free(r->cache);
    for (size_t i = 0; i < r->nzones; i++)
        vg_free(r->zones[i]);
    vg_free(r->zones);
    vg_free(r->nets);
    if (!r->lib_failed && ares_users > 0 && --ares_users == 0)
        ares_library_cleanup();
    vg_free(r);
}

void vg_resolver_stats(const struct vg_resolver *r, struct vg_resolver_stats *out)
{
    *out = r->stats;
    out->cache_entries = vg_rcache_count(r->cache);
}

void vg_resolver_set_cache(struct vg_resolver *r, size_t max_entries, unsigned neg_ttl_max)
{
    struct vg_rcache *c = vg_rcache_new(max_entries);
    if (c == NULL) {
        vg_rcache_clear(r->cache);
    } else {
        vg_rcache_free(r->cache);
        r->cache = c;
    }
    r->neg_ttl_max = neg_ttl_max;
}

void vg_resolver_set_clock(struct vg_resolver *r, uint64_t (*now_ms)(void *), void *arg)
{
    r->now_ms = now_ms ? now_ms : mono_ms;
    r->clock_arg = arg;
    vg_rcache_clear(r->cache);
}

const char *vg_resolver_why(const struct vg_resolver *r)
{
    return r->why;
}

void vg_resolver_flush(struct vg_resolver *r)
{
    vg_rcache_clear(r->cache);
}
