/* vg_resolve — VM name → owning host, gateway port and addresses, asynchronously.
 *
 * c-ares (1.18) driven by a libevent loop the caller owns: no threads, no blocking calls.  One
 * lookup sends four queries in parallel — A, AAAA and TXT at the VM name, SRV at
 * `_vmgate._tcp.NAME` (docs/records.md) — and folds the replies into one struct vg_vm_location.
 * Answers are cached (c-ares 1.18 has no cache): positive ones for the smallest TTL of the
 * records used but at most `[dns] cache-ttl-max` seconds, negative ones (no such VM) for the
 * negative TTL of the zone (RFC 2308) but at most `[dns] cache-negative-ttl-max` seconds;
 * failures and refusals never.  Concurrent lookups of one name share one set of queries.
 *
 * What DNS says is not trusted blindly (vg_rparse.h, docs/clients.md "What the resolver
 * refuses"): replies must answer the question asked; CNAME, DNAME and SRV targets must stay
 * inside the `[dns] zone`s (VG_RES_OFFZONE); the owning host's addresses must be inside
 * `[dns] host-networks`, or when that is unset must not be loopback, unspecified, link-local,
 * multicast or reserved (refused addresses are left out; none left: VG_RES_BADADDR).  Each
 * refusal is logged (warning) with its details, which the callback can also read with
 * vg_resolver_why().
 *
 * Servers: `[dns] server` of the configuration (ADDR:PORT list, port 53 when omitted), else
 * /etc/resolv.conf.  Short names are put under the first `[dns] zone` ("web1" → "web1.vm.test").
 *
 * Callbacks always run from the event loop, never inside vg_resolve(); a request is freed by the
 * library right after its callback returns.
 */
#ifndef VG_RESOLVE_H
#define VG_RESOLVE_H

#include <stdbool.h>
#include "vg_outcome.h"
#include "vg_records.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct vg_config;
struct vg_resolver;
struct vg_resolve_req;

#define VG_RES_MAX_ADDRS 8
#define VG_RES_DEFAULT_PORT VG_REC_DEFAULT_PORT
#define VG_RES_TTL_MAX_DEFAULT 300   /* [dns] cache-ttl-max without a configuration */
#define VG_RES_NEG_TTL_MAX_DEFAULT 5 /* [dns] cache-negative-ttl-max likewise */

struct vg_vm_location {
    char name[254];    /* the normalized, fully qualified VM name */
    char owner[64];    /* host name from the TXT "vmgate-owner=HOST"; "" if none */
    char gateway[254]; /* SRV target (the host record); "" if no usable SRV */
    uint16_t port;     /* gateway port from the SRV; VG_RES_DEFAULT_PORT when absent */
    size_t naddrs;
    /* A and AAAA of the VM name with `port` filled in; IPv6 and IPv4 interleaved, IPv6 first */
    struct sockaddr_storage addrs[VG_RES_MAX_ADDRS];
    unsigned ttl; /* seconds this answer stays valid: the records' TTL capped at cache-ttl-max
                   * (what is left of it, from the cache) */
    bool from_cache;
};

enum vg_res_status {
    VG_RES_OK = 0,
    VG_RES_NXDOMAIN,    /* no such VM: the name does not exist */
    VG_RES_NODATA,      /* the name exists but has no A/AAAA record */
    VG_RES_TIMEOUT,     /* no answer in time */
    VG_RES_UNREACHABLE, /* every DNS server refused the connection */
    VG_RES_SERVFAIL,
    VG_RES_REFUSED, /* the DNS server refused the query (not authoritative, ACL) */
    VG_RES_BADRESP, /* malformed or unexpected DNS reply */
    VG_RES_BADNAME, /* not a valid VM name (vg_name rules) */
    VG_RES_OUTSIDE, /* a fully qualified name outside every configured zone */
    VG_RES_OFFZONE, /* a CNAME, DNAME or SRV target of the answer leaves the zone(s) */
    VG_RES_BADADDR, /* every address of the owning host refused ([dns] host-networks) */
    VG_RES_NOMEM,
    VG_RES_CANCELLED, /* the resolver was freed before the answer came */
    VG_RES_ERROR,     /* any other c-ares failure */
};

const char *vg_res_strerror(enum vg_res_status st);
/* Short stable token ("ok", "nxdomain", "timeout", ...) for machine-readable output. */
const char *vg_res_token(enum vg_res_status st);
/* What a failed lookup means for the request that needed it (the SOCKS5 reply a chaining gateway
 * sends, vmgate-connect's exit code: vg_outcome.h): NXDOMAIN/NODATA → VG_OUT_DNS_NO_SUCH_VM,
 * TIMEOUT → _DNS_TIMEOUT, UNREACHABLE → _DNS_UNREACHABLE, BADNAME/OUTSIDE → VG_OUT_BAD_NAME,
 * NOMEM/CANCELLED → VG_OUT_DNS_LOCAL, every other failure (OFFZONE and BADADDR too: the DNS
 * data is wrong, not the request) → VG_OUT_DNS_FAILURE. */
enum vg_outcome vg_res_outcome(enum vg_res_status st);
/* NXDOMAIN and NODATA: the DNS answered, and there is no such VM. */
static inline bool vg_res_is_negative(enum vg_res_status st)
{
    return st == VG_RES_NXDOMAIN || st == VG_RES_NODATA;
}

/* loc is valid only during the callback (copy what you keep) and is NULL unless st == VG_RES_OK. */
typedef void (*vg_resolve_cb)(enum vg_res_status st, const struct vg_vm_location *loc, void *arg);

/* A resolver on `base`.  cfg may be NULL (resolv.conf, no search zone, default timeout and
 * caps, no host networks); it is only read during the call.  NULL + message in err on failure
 * (bad server list or host-networks, c-ares init). */
struct vg_resolver *vg_resolver_new(struct event_base *base, const struct vg_config *cfg, char *err,
                                    size_t errlen);
/* Calls the callbacks of requests still pending with VG_RES_CANCELLED (from inside this call;
 * they must not use the resolver), then frees everything. */
void vg_resolver_free(struct vg_resolver *r);

/* Start a lookup.  `name` is short ("web1") or fully qualified ("web1.vm.test."), any case.
 * Returns a handle for vg_resolve_cancel(), valid until the callback has run; NULL only when
 * out of memory (then cb is not called). */
struct vg_resolve_req *vg_resolve(struct vg_resolver *r, const char *name, vg_resolve_cb cb,
                                  void *arg);
/* The callback of q will not be called.  Only before the callback ran. */
void vg_resolve_cancel(struct vg_resolve_req *q);

/* Only inside a callback of r: what was refused in the answer being delivered ("CNAME
 * web1.vm.test -> x.example leaves zone vm.test", "address 127.0.0.1 of ... is outside [dns]
 * host-networks", addresses left out of an OK answer), "" when nothing was.  Owned by r. */
const char *vg_resolver_why(const struct vg_resolver *r);

/* Tuning and testing. */
struct vg_resolver_stats {
    unsigned long lookups; /* vg_resolve calls */
    unsigned long cache_hits;
    unsigned long coalesced; /* joined a lookup already in flight */
    unsigned long queries;   /* DNS queries sent (4 per lookup) */
    size_t cache_entries;
};
void vg_resolver_stats(const struct vg_resolver *r, struct vg_resolver_stats *out);
/* Cache size (entries; 0 disables caching) and cap of negative TTLs (seconds).
 * Defaults: 4096 entries, `[dns] cache-negative-ttl-max` (5 s). Empties the cache. */
void vg_resolver_set_cache(struct vg_resolver *r, size_t max_entries, unsigned neg_ttl_max);
/* Clock for the cache, milliseconds (monotonic by default). */
void vg_resolver_set_clock(struct vg_resolver *r, uint64_t (*now_ms)(void *), void *arg);
void vg_resolver_flush(struct vg_resolver *r);

/* Qualify and check a name the way vg_resolve does (zone may be NULL: any valid host name). */
enum vg_res_status vg_res_qualify(const char *in, const char *const *zones, size_t nzones,
                                  char out[254]);

#endif
