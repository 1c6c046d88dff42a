#include "vg_rparse.h"

#include "vg_name.h"
#include "vg_records.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#define T_A 1
#define T_CNAME 5
#define T_SOA 6
#define T_TXT 16
#define T_AAAA 28
#define T_SRV 33

static unsigned get16(const unsigned char *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

static unsigned get32(const unsigned char *p)
{
    return (unsigned)p[0] << 24 | (unsigned)p[1] << 16 | (unsigned)p[2] << 8 | p[3];
}

/* Skip a (possibly compressed) name at *off; false if it runs past the end. */
static bool skip_name(const unsigned char *m, size_t len, size_t *off)
{
    size_t o = *off;
    for (unsigned hops = 0; hops < 128; hops++) {
        if (o >= len)
            return false;
        unsigned l = m[o];
        if ((l & 0xc0) == 0xc0) {
            if (o + 2 > len)
                return false;
            *off = o + 2;
            return true;
        }
        if (l & 0xc0)
            return false; /* 0x40 / 0x80: extended label types, not used */
        if (l == 0) {
            *off = o + 1;
            return true;
        }
        o += 1 + l;
    }
    return false;
}

static unsigned umin(unsigned a, unsigned b)
{
    return a < b ? a : b;
}

bool vg_rparse_ttls(const unsigned char *m, size_t len, int qtype, unsigned *answer_ttl,
                    unsigned *neg_ttl)
{
    *answer_ttl = VG_TTL_NONE;
    *neg_ttl = VG_TTL_NONE;
    if (m == NULL || len < 12)
        return false;
    unsigned qd = get16(m + 4), an = get16(m + 6), ns = get16(m + 8);
    size_t off = 12;
    for (unsigned i = 0; i < qd; i++) {
        if (!skip_name(m, len, &off) || off + 4 > len)
            return false;
        off += 4;
    }
    for (unsigned i = 0; i < an + ns; i++) {
        if (!skip_name(m, len, &off) || off + 10 > len)
            return false;
        unsigned type = get16(m + off), ttl = get32(m + off + 4), rdlen = get16(m + off + 8);
        off += 10;
        if (off + rdlen > len)
            return false;
        if (ttl > 0x7fffffffu) /* RFC 2181 §8: treat as 0 */
            ttl = 0;
        if (i < an) {
            if (type == (unsigned)qtype || type == T_CNAME)
                *answer_ttl = umin(*answer_ttl, ttl);
        } else if (type == T_SOA && rdlen >= 22) {
            /* MNAME RNAME SERIAL REFRESH RETRY EXPIRE MINIMUM: MINIMUM is the last 4 octets */
            unsigned minimum = get32(m + off + rdlen - 4);
            if (minimum > 0x7fffffffu)
                minimum = 0;
            *neg_ttl = umin(*neg_ttl, umin(ttl, minimum));
        }
        off += rdlen;
    }
    return true;
}

enum vg_res_status vg_rparse_status(int st)
{
    switch (st) {
    case ARES_SUCCESS:
        return VG_RES_OK;
    case ARES_ENODATA:
        return VG_RES_NODATA;
    case ARES_ENOTFOUND:
        return VG_RES_NXDOMAIN;
    case ARES_ETIMEOUT:
        return VG_RES_TIMEOUT;
    case ARES_ECONNREFUSED:
        return VG_RES_UNREACHABLE;
    case ARES_ESERVFAIL:
        return VG_RES_SERVFAIL;
    case ARES_EREFUSED:
        return VG_RES_REFUSED;
    case ARES_EFORMERR:
    case ARES_EBADRESP:
    case ARES_ENOTIMP:
        return VG_RES_BADRESP;
    case ARES_EBADNAME:
        return VG_RES_BADNAME;
    case ARES_ENOMEM:
        return VG_RES_NOMEM;
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
        return VG_RES_CANCELLED;
    default:
        return VG_RES_ERROR;
    }
}

/* What one query said, reduced. */
struct part_view {
    enum vg_res_status st; /* OK (data), NODATA, NXDOMAIN or a failure */
    unsigned ans_ttl, neg_ttl;
};

static void view_of(const struct vg_rpart *p, int qtype, struct part_view *v)
{
    v->st = vg_rparse_status(p->status);
    v->ans_ttl = v->neg_ttl = VG_TTL_NONE;
    if (p->abuf != NULL && p->alen > 0 &&
        !vg_rparse_ttls(p->abuf, (size_t)p->alen, qtype, &v->ans_ttl, &v->neg_ttl) &&
        v->st == VG_RES_OK)
        v->st = VG_RES_BADRESP;
    if (v->st == VG_RES_OK && p->abuf == NULL)
        v->st = VG_RES_BADRESP;
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons(port);
    else if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

/* Parse the address replies into v4[] / v6[]; returns a status (OK, NODATA or BADRESP). */
static enum vg_res_status parse_a(const struct vg_rpart *p, struct sockaddr_storage *out, size_t *n)
{
    struct ares_addrttl ttls[VG_RES_MAX_ADDRS];
    int cnt = VG_RES_MAX_ADDRS;
    int st = ares_parse_a_reply(p->abuf, p->alen, NULL, ttls, &cnt);
    *n = 0;
    if (st == ARES_ENODATA)
        return VG_RES_NODATA;
    if (st != ARES_SUCCESS)
        return vg_rparse_status(st) == VG_RES_NOMEM ? VG_RES_NOMEM : VG_RES_BADRESP;
    for (int i = 0; i < cnt; i++) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&out[*n];
        memset(&out[*n], 0, sizeof out[*n]);
        sin->sin_family = AF_INET;
        sin->sin_addr = ttls[i].ipaddr;
        (*n)++;
    }
    return *n ? VG_RES_OK : VG_RES_NODATA;
}

static enum vg_res_status parse_aaaa(const struct vg_rpart *p, struct sockaddr_storage *out,
                                     size_t *n)
{
    struct ares_addr6ttl ttls[VG_RES_MAX_ADDRS];
    int cnt = VG_RES_MAX_ADDRS;
    int st = ares_parse_aaaa_reply(p->abuf, p->alen, NULL, ttls, &cnt);
    *n = 0;
    if (st == ARES_ENODATA)
        return VG_RES_NODATA;
    if (st != ARES_SUCCESS)
        return vg_rparse_status(st) == VG_RES_NOMEM ? VG_RES_NOMEM : VG_RES_BADRESP;
    for (int i = 0; i < cnt; i++) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out[*n];
        memset(&out[*n], 0, sizeof out[*n]);
        sin6->sin6_family = AF_INET6;
        memcpy(&sin6->sin6_addr, &ttls[i].ip6addr, sizeof sin6->sin6_addr);
        (*n)++;
    }
    return *n ? VG_RES_OK : VG_RES_NODATA;
}

/* TXT: the first "vmgate-owner=HOST" record.  A record made of several strings counts as their
 * concatenation (RFC 7208 style), so a split owner string is still found. */
static enum vg_res_status parse_txt(const struct vg_rpart *p, char owner[64])
{
    struct ares_txt_ext *txt = NULL;
    int st = ares_parse_txt_reply_ext(p->abuf, p->alen, &txt);
    owner[0] = '\0';
    if (st == ARES_ENODATA)
        return VG_RES_NODATA;
    if (st != ARES_SUCCESS)
        return vg_rparse_status(st) == VG_RES_NOMEM ? VG_RES_NOMEM : VG_RES_BADRESP;
    unsigned char rec[512];
    size_t rlen = 0;
    bool overflow = false;
    for (struct ares_txt_ext *t = txt; t != NULL && owner[0] == '\0'; t = t->next) {
        if (t->record_start) {
            rlen = 0;
            overflow = false;
        }
        if (rlen + t->length > sizeof rec)
            overflow = true;
        else {
            memcpy(rec + rlen, t->txt, t->length);
            rlen += t->length;
        }
        bool last = t->next == NULL || t->next->record_start;
        if (last && !overflow)
            vg_rec_owner_parse((const char *)rec, rlen, owner);
    }
    ares_free_data(txt);
    return VG_RES_OK;
}

/* SRV: the usable record with the lowest priority, then the highest weight (a host publishes one
 * record; the choice only needs to be deterministic).  Target "." (or not a host name) or port 0 =
 * not offered. */
static enum vg_res_status parse_srv(const struct vg_rpart *p, char gateway[254], uint16_t *port)
{
    struct ares_srv_reply *srv = NULL;
    int st = ares_parse_srv_reply(p->abuf, p->alen, &srv);
    gateway[0] = '\0';
    *port = VG_RES_DEFAULT_PORT;
    if (st == ARES_ENODATA)
        return VG_RES_NODATA;
    if (st != ARES_SUCCESS)
        return vg_rparse_status(st) == VG_RES_NOMEM ? VG_RES_NOMEM : VG_RES_BADRESP;
    const struct ares_srv_reply *best = NULL;
    char norm[VG_NAME_MAX + 1];
    for (const struct ares_srv_reply *s = srv; s != NULL; s = s->next) {
        /* a target that is not a host name makes the record unusable, port and all */
        if (s->port == 0 || s->host == NULL || s->host[0] == '\0' || strcmp(s->host, ".") == 0 ||
            vg_name_normalize(s->host, strlen(s->host), norm) != VG_NAME_OK)
            continue;
        if (best == NULL || s->priority < best->priority ||
            (s->priority == best->priority && s->weight > best->weight))
            best = s;
    }
    if (best != NULL) {
        vg_name_normalize(best->host, strlen(best->host), norm);
        memcpy(gateway, norm, strlen(norm) + 1);
        *port = best->port;
    }
    ares_free_data(srv);
    return VG_RES_OK;
}

static bool definitive(enum vg_res_status st)
{
    return st == VG_RES_OK || st == VG_RES_NODATA || st == VG_RES_NXDOMAIN;
}

enum vg_res_status vg_rparse_fold(const struct vg_rpart parts[VG_RQ_N], unsigned neg_ttl_max,
                                  struct vg_vm_location *loc, unsigned *cache_ttl)
{
    static const int qtypes[VG_RQ_N] = {T_A, T_AAAA, T_TXT, T_SRV};
    static const enum vg_rq order[VG_RQ_N] = {VG_RQ_A, VG_RQ_AAAA, VG_RQ_SRV, VG_RQ_TXT};
    struct part_view v[VG_RQ_N];
    struct sockaddr_storage a4[VG_RES_MAX_ADDRS], a6[VG_RES_MAX_ADDRS];
    size_t n4 = 0, n6 = 0;

    loc->owner[0] = loc->gateway[0] = '\0';
    loc->port = VG_RES_DEFAULT_PORT;
    loc->naddrs = 0;
    loc->ttl = 0;
    loc->from_cache = false;
    *cache_ttl = 0;

    for (int i = 0; i < VG_RQ_N; i++)
        view_of(&parts[i], qtypes[i], &v[i]);
    /* the data of each successful query; a reply c-ares could not parse is a bad reply */
    if (v[VG_RQ_A].st == VG_RES_OK)
        v[VG_RQ_A].st = parse_a(&parts[VG_RQ_A], a4, &n4);
    if (v[VG_RQ_AAAA].st == VG_RES_OK)
        v[VG_RQ_AAAA].st = parse_aaaa(&parts[VG_RQ_AAAA], a6, &n6);
    if (v[VG_RQ_TXT].st == VG_RES_OK)
        v[VG_RQ_TXT].st = parse_txt(&parts[VG_RQ_TXT], loc->owner);
    if (v[VG_RQ_SRV].st == VG_RES_OK)
        v[VG_RQ_SRV].st = parse_srv(&parts[VG_RQ_SRV], loc->gateway, &loc->port);

    /* Any query that did not get a definitive answer fails the lookup: without the SRV the port
     * may be wrong, without the TXT a gateway could not tell that it is itself the owner. */
    for (int i = 0; i < VG_RQ_N; i++)
        if (!definitive(v[order[i]].st))
            return v[order[i]].st;

    if (v[VG_RQ_A].st == VG_RES_NXDOMAIN || v[VG_RQ_AAAA].st == VG_RES_NXDOMAIN || n4 + n6 == 0) {
        enum vg_res_status st =
            (v[VG_RQ_A].st == VG_RES_NXDOMAIN || v[VG_RQ_AAAA].st == VG_RES_NXDOMAIN)
                ? VG_RES_NXDOMAIN
                : VG_RES_NODATA;
        unsigned neg = umin(v[VG_RQ_A].neg_ttl, v[VG_RQ_AAAA].neg_ttl);
        *cache_ttl = neg == VG_TTL_NONE ? 0 : umin(neg, neg_ttl_max);
        return st;
    }

    /* IPv6 and IPv4 interleaved, IPv6 first (RFC 8305 §4) */
    for (size_t i6 = 0, i4 = 0; loc->naddrs < VG_RES_MAX_ADDRS && (i6 < n6 || i4 < n4);) {
        if (i6 < n6)
            loc->addrs[loc->naddrs++] = a6[i6++];
        if (i4 < n4 && loc->naddrs < VG_RES_MAX_ADDRS)
            loc->addrs[loc->naddrs++] = a4[i4++];
    }
    for (size_t i = 0; i < loc->naddrs; i++)
        set_port(&loc->addrs[i], loc->port);

    /* TTL: the smallest of the records used; a part without data counts with its negative TTL
     * (it may appear within that time) */
    unsigned ttl = VG_TTL_NONE;
    for (int i = 0; i < VG_RQ_N; i++)
        ttl = umin(ttl, v[i].st == VG_RES_OK ? v[i].ans_ttl : v[i].neg_ttl);
    if (ttl == VG_TTL_NONE)
        ttl = 0;
    loc->ttl = ttl;
    *cache_ttl = ttl;
    return VG_RES_OK;
}
