#include "vg_rparse.h"

#include "vg_addr.h"
#include "vg_name.h"
#include "vg_records.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define C_IN 1
#define T_A 1
#define T_CNAME 5
#define T_SOA 6
#define T_DNAME 39
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

static void __attribute__((format(printf, 3, 4)))
say(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    if (whylen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

/* ---- names in wire form ------------------------------------------------------------------- */

/* A name in uncompressed wire form (length-prefixed labels, then 0), ASCII in lower case, so that
 * two names are equal exactly when their octets are, and a label never hides a dot. */
#define WNAME_MAX 255
struct wname {
    unsigned char b[WNAME_MAX];
    size_t n;
};

/* Read a (possibly compressed) name at *off into w; *off moves past it in the message.
 * False if it runs past the end, loops, or is longer than 255 octets. */
static bool read_name(const unsigned char *m, size_t len, size_t *off, struct wname *w)
{
    size_t o = *off;
    bool jumped = false;
    w->n = 0;
    for (unsigned hops = 0; hops < 128; hops++) {
        if (o >= len)
            return false;
        unsigned l = m[o];
        if ((l & 0xc0) == 0xc0) {
            if (o + 2 > len)
                return false;
            if (!jumped)
                *off = o + 2;
            jumped = true;
            o = (size_t)(l & 0x3f) << 8 | m[o + 1];
            continue;
        }
        if (l & 0xc0)
            return false;
        if (w->n + 1 + l > WNAME_MAX || o + 1 + l > len)
            return false;
        w->b[w->n++] = (unsigned char)l;
        if (l == 0) {
            if (!jumped)
                *off = o + 1;
            return true;
        }
        for (unsigned i = 0; i < l; i++) {
            unsigned char c = m[o + 1 + i];
            w->b[w->n++] = c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
        }
        o += 1 + l;
    }
    return false;
}

/* Normalized text ("web1.vm.test", "" for the root) → wire form. */
static bool text_name(const char *s, struct wname *w)
{
    w->n = 0;
    while (*s) {
        const char *dot = strchr(s, '.');
        size_t l = dot ? (size_t)(dot - s) : strlen(s);
        if (l == 0 || l > 63 || w->n + 1 + l + 1 > WNAME_MAX)
            return false;
        w->b[w->n++] = (unsigned char)l;
        for (size_t i = 0; i < l; i++) {
            unsigned char c = (unsigned char)s[i];
            w->b[w->n++] = c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
        }
        s += l + (dot ? 1 : 0);
    }
    w->b[w->n++] = 0;
    return true;
}

static bool wname_eq(const struct wname *a, const struct wname *b)
{
    return a->n == b->n && memcmp(a->b, b->b, a->n) == 0;
}

/* name at or below zone (both wire form): zone is the tail of name at a label boundary */
static bool wname_under(const struct wname *name, const struct wname *zone)
{
    for (size_t o = 0; o < name->n;) {
        if (name->n - o == zone->n)
            return memcmp(name->b + o, zone->b, zone->n) == 0;
        if (name->b[o] == 0)
            break;
        o += 1 + name->b[o];
    }
    return false;
}

/* For messages: dotted text, octets other than LDH and '_' shown as '?'. */
static const char *wname_text(const struct wname *w, char *buf, size_t len)
{
    size_t o = 0, n = 0;
    if (len == 0)
        return buf;
    while (o < w->n && w->b[o] != 0 && n + 1 < len) {
        unsigned l = w->b[o++];
        if (n > 0)
            buf[n++] = '.';
        for (unsigned i = 0; i < l && o < w->n && n + 1 < len; i++, o++) {
            unsigned char c = w->b[o];
            bool ldh = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
            buf[n++] = ldh ? (char)c : '?';
        }
    }
    if (n == 0 && n + 1 < len)
        buf[n++] = '.';
    buf[n] = '\0';
    return buf;
}

/* The zone of pol that w is at or below, or NULL (also when pol has no zones). */
static const char *zone_of(const struct vg_rpolicy *pol, const struct wname *w)
{
    struct wname z;
    for (size_t i = 0; i < pol->nzones; i++)
        if (text_name(pol->zones[i], &z) && wname_under(w, &z))
            return pol->zones[i];
    return NULL;
}

/* "vm.test" or "vm.test, vm2.test" for messages */
static const char *zones_text(const struct vg_rpolicy *pol, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < pol->nzones && n + 1 < len; i++) {
        int w = snprintf(buf + n, len - n, "%s%s", i ? ", " : "", pol->zones[i]);
        if (w < 0)
            break;
        n += (size_t)w < len - n ? (size_t)w : len - n - 1;
    }
    return buf;
}

/* ---- the question and the aliases ---------------------------------------------------------- */

struct rr {
    struct wname owner;
    unsigned type, cls, rdlen;
    size_t rdata; /* offset of the RDATA */
};

/* The RR at *off; false if malformed. */
static bool read_rr(const unsigned char *m, size_t len, size_t *off, struct rr *rr)
{
    if (!read_name(m, len, off, &rr->owner) || *off + 10 > len)
        return false;
    rr->type = get16(m + *off);
    rr->cls = get16(m + *off + 2);
    rr->rdlen = get16(m + *off + 8);
    rr->rdata = *off + 10;
    if (rr->rdata + rr->rdlen > len)
        return false;
    *off = rr->rdata + rr->rdlen;
    return true;
}

/* CNAME / DNAME target: one name filling the RDATA exactly */
static bool rr_target(const unsigned char *m, size_t len, const struct rr *rr, struct wname *t)
{
    size_t o = rr->rdata;
    return read_name(m, len, &o, t) && o == rr->rdata + rr->rdlen;
}

enum vg_res_status vg_rparse_check(const unsigned char *m, size_t len, const char *qname, int qtype,
                                   const struct vg_rpolicy *pol, char *why, size_t whylen)
{
    struct wname q, w, chain[VG_RPARSE_CHAIN_MAX + 1];
    struct rr rr;
    char t1[VG_NAME_MAX + 2], t2[VG_NAME_MAX + 2], zs[256];
    size_t nchain = 1, off = 12, an_off;

    say(why, whylen, "%s", "");
    if (m == NULL || len < 12) {
        say(why, whylen, "reply shorter than a DNS header");
        return VG_RES_BADRESP;
    }
    if (!(m[2] & 0x80) || ((m[2] >> 3) & 0xf) != 0) {
        say(why, whylen, "reply is not a response to a standard query (flags %02x)", m[2]);
        return VG_RES_BADRESP;
    }
    if (get16(m + 4) != 1) {
        say(why, whylen, "reply has %u questions, not 1", get16(m + 4));
        return VG_RES_BADRESP;
    }
    if (!text_name(qname, &q) || !read_name(m, len, &off, &w) || off + 4 > len) {
        say(why, whylen, "malformed question in the reply");
        return VG_RES_BADRESP;
    }
    if (!wname_eq(&q, &w) || get16(m + off) != (unsigned)qtype || get16(m + off + 2) != C_IN) {
        say(why, whylen, "reply answers another question (%s type %u class %u, asked %s type %d)",
            wname_text(&w, t1, sizeof t1), get16(m + off), get16(m + off + 2), qname, qtype);
        return VG_RES_BADRESP;
    }
    an_off = off + 4;
    unsigned an = get16(m + 6);

    /* every alias of the answer section stays inside the zones */
    off = an_off;
    for (unsigned i = 0; i < an; i++) {
        if (!read_rr(m, len, &off, &rr)) {
            say(why, whylen, "malformed answer record");
            return VG_RES_BADRESP;
        }
        if (rr.type != T_CNAME && rr.type != T_DNAME)
            continue;
        if (!rr_target(m, len, &rr, &w)) {
            say(why, whylen, "malformed %s record", rr.type == T_CNAME ? "CNAME" : "DNAME");
            return VG_RES_BADRESP;
        }
        if (pol->nzones > 0 && zone_of(pol, &w) == NULL) {
            say(why, whylen, "%s %s -> %s leaves zone %s", rr.type == T_CNAME ? "CNAME" : "DNAME",
                wname_text(&rr.owner, t1, sizeof t1), wname_text(&w, t2, sizeof t2),
                zones_text(pol, zs, sizeof zs));
            return VG_RES_OFFZONE;
        }
    }

    /* the CNAME chain from the question name */
    chain[0] = q;
    for (;;) {
        bool found = false;
        off = an_off;
        for (unsigned i = 0; i < an && !found; i++) {
            read_rr(m, len, &off, &rr); /* well-formed: checked above */
            if (rr.type == T_CNAME && rr.cls == C_IN && wname_eq(&rr.owner, &chain[nchain - 1])) {
                rr_target(m, len, &rr, &w);
                found = true;
            }
        }
        if (!found)
            break;
        for (size_t k = 0; k < nchain; k++)
            if (wname_eq(&chain[k], &w)) {
                say(why, whylen, "CNAME loop at %s", wname_text(&w, t1, sizeof t1));
                return VG_RES_BADRESP;
            }
        if (nchain > VG_RPARSE_CHAIN_MAX) {
            say(why, whylen, "CNAME chain from %s longer than %d", qname, VG_RPARSE_CHAIN_MAX);
            return VG_RES_BADRESP;
        }
        chain[nchain++] = w;
    }

    /* the records asked for belong to the chain */
    off = an_off;
    for (unsigned i = 0; i < an; i++) {
        read_rr(m, len, &off, &rr);
        if (rr.type != (unsigned)qtype)
            continue;
        bool on_chain = false;
        for (size_t k = 0; k < nchain && !on_chain; k++)
            on_chain = wname_eq(&rr.owner, &chain[k]);
        if (!on_chain) {
            say(why, whylen, "answer record of type %d for %s, not for %s", qtype,
                wname_text(&rr.owner, t1, sizeof t1), qname);
            return VG_RES_BADRESP;
        }
    }
    return VG_RES_OK;
}

/* ---- addresses -------------------------------------------------------------------------- */

/* unspecified, loopback, link-local, multicast, reserved */
static bool special_v4(const uint8_t a[4])
{
    return a[0] == 0 || a[0] == 127 || (a[0] == 169 && a[1] == 254) || a[0] >= 224;
}

bool vg_rparse_addr_ok(const struct vg_rpolicy *pol, const struct sockaddr *sa)
{
    if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
        return false;
    if (pol->nnets > 0) {
        for (size_t i = 0; i < pol->nnets; i++)
            if (vg_cidr_match(&pol->nets[i], sa))
                return true;
        return false;
    }
    if (sa->sa_family == AF_INET)
        return !special_v4((const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr);
    const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t zero[15] = {0};
    if (memcmp(a, mapped, 12) == 0)
        return !special_v4(a + 12);
    if (memcmp(a, zero, 15) == 0 && (a[15] == 0 || a[15] == 1))
        return false; /* :: and ::1 */
    if (a[0] == 0xff || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80))
        return false; /* multicast, link-local */
    return true;
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
 * not offered.  A usable record whose target is outside the zones refuses the whole answer. */
static enum vg_res_status parse_srv(const struct vg_rpart *p, const struct vg_rpolicy *pol,
                                    char gateway[254], uint16_t *port, char *why, size_t whylen)
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
        /* the target names the owning host: it must be one of the zone's host records */
        struct wname w;
        if (pol->nzones > 0 && (!text_name(norm, &w) || zone_of(pol, &w) == NULL)) {
            char zs[256];
            say(why, whylen, "SRV target %s leaves zone %s", norm, zones_text(pol, zs, sizeof zs));
            ares_free_data(srv);
            return VG_RES_OFFZONE;
        }
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

/* Keep the addresses pol allows, in order; note the first one left out in why.  Returns how
 * many were left out. */
static size_t keep_allowed(const struct vg_rpolicy *pol, const char *name,
                           struct sockaddr_storage *a, size_t *n, char *why, size_t whylen)
{
    size_t kept = 0, dropped = 0;
    for (size_t i = 0; i < *n; i++) {
        if (vg_rparse_addr_ok(pol, (const struct sockaddr *)&a[i])) {
            a[kept++] = a[i];
            continue;
        }
        if (dropped++ == 0 && whylen > 0 && why[0] == '\0') {
            char t[VG_ADDRSTRLEN];
            vg_sockaddr_format((const struct sockaddr *)&a[i], false, t, sizeof t);
            say(why, whylen, "address %s of %s %s", t, name,
                pol->nnets > 0 ? "is outside [dns] host-networks"
                               : "is loopback, unspecified, link-local, multicast or reserved "
                                 "(allow it with [dns] host-networks)");
        }
    }
    *n = kept;
    return dropped;
}

enum vg_res_status vg_rparse_fold(const struct vg_rpart parts[VG_RQ_N],
                                  const struct vg_rpolicy *pol, struct vg_vm_location *loc,
                                  unsigned *cache_ttl, char *why, size_t whylen)
{
    static const int qtypes[VG_RQ_N] = {T_A, T_AAAA, T_TXT, T_SRV};
    static const enum vg_rq order[VG_RQ_N] = {VG_RQ_A, VG_RQ_AAAA, VG_RQ_SRV, VG_RQ_TXT};
    struct part_view v[VG_RQ_N];
    struct sockaddr_storage a4[VG_RES_MAX_ADDRS], a6[VG_RES_MAX_ADDRS];
    size_t n4 = 0, n6 = 0;
    char whys[VG_RQ_N][200];
    char srvname[VG_NAME_MAX + 1];

    say(why, whylen, "%s", "");
    loc->owner[0] = loc->gateway[0] = '\0';
    loc->port = VG_RES_DEFAULT_PORT;
    loc->naddrs = 0;
    loc->ttl = 0;
    loc->from_cache = false;
    *cache_ttl = 0;
    if (!vg_rec_srv_name(loc->name, srvname))
        srvname[0] = '\0';

    for (int i = 0; i < VG_RQ_N; i++) {
        whys[i][0] = '\0';
        view_of(&parts[i], qtypes[i], &v[i]);
        /* a definitive answer must answer our question, its aliases inside the zones */
        if (definitive(v[i].st) && parts[i].abuf != NULL && parts[i].alen > 0) {
            enum vg_res_status c = vg_rparse_check(parts[i].abuf, (size_t)parts[i].alen,
                                                   i == VG_RQ_SRV ? srvname : loc->name, qtypes[i],
                                                   pol, whys[i], sizeof whys[i]);
            if (c != VG_RES_OK)
                v[i].st = c;
        }
    }
    /* the data of each successful query; a reply c-ares could not parse is a bad reply */
    if (v[VG_RQ_A].st == VG_RES_OK)
        v[VG_RQ_A].st = parse_a(&parts[VG_RQ_A], a4, &n4);
    if (v[VG_RQ_AAAA].st == VG_RES_OK)
        v[VG_RQ_AAAA].st = parse_aaaa(&parts[VG_RQ_AAAA], a6, &n6);
    if (v[VG_RQ_TXT].st == VG_RES_OK)
        v[VG_RQ_TXT].st = parse_txt(&parts[VG_RQ_TXT], loc->owner);
    if (v[VG_RQ_SRV].st == VG_RES_OK)
        v[VG_RQ_SRV].st = parse_srv(&parts[VG_RQ_SRV], pol, loc->gateway, &loc->port,
                                    whys[VG_RQ_SRV], sizeof whys[VG_RQ_SRV]);

    /* Any query that did not get a definitive answer fails the lookup: without the SRV the port
     * may be wrong, without the TXT a gateway could not tell that it is itself the owner. */
    for (int i = 0; i < VG_RQ_N; i++)
        if (!definitive(v[order[i]].st)) {
            say(why, whylen, "%s", whys[order[i]]);
            loc->owner[0] = loc->gateway[0] = '\0';
            loc->port = VG_RES_DEFAULT_PORT;
            return v[order[i]].st;
        }

    if (v[VG_RQ_A].st == VG_RES_NXDOMAIN || v[VG_RQ_AAAA].st == VG_RES_NXDOMAIN || n4 + n6 == 0) {
        enum vg_res_status st =
            (v[VG_RQ_A].st == VG_RES_NXDOMAIN || v[VG_RQ_AAAA].st == VG_RES_NXDOMAIN)
                ? VG_RES_NXDOMAIN
                : VG_RES_NODATA;
        unsigned neg = umin(v[VG_RQ_A].neg_ttl, v[VG_RQ_AAAA].neg_ttl);
        *cache_ttl = neg == VG_TTL_NONE ? 0 : umin(neg, pol->neg_ttl_max);
        return st;
    }

    /* the owning host's addresses: only those the policy allows */
    size_t dropped = keep_allowed(pol, loc->name, a6, &n6, why, whylen) +
                     keep_allowed(pol, loc->name, a4, &n4, why, whylen);
    if (n4 + n6 == 0) {
        size_t used = strlen(why);
        if (dropped > 1 && used < whylen)
            snprintf(why + used, whylen - used, " (and %zu more)", dropped - 1);
        return VG_RES_BADADDR;
    }
    if (dropped > 0 && whylen > 0) {
        char note[220];
        snprintf(note, sizeof note, "%s", why);
        say(why, whylen, "%zu address%s left out: %s", dropped, dropped > 1 ? "es" : "", note);
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
     * (it may appear within that time); never more than the cap */
    unsigned ttl = VG_TTL_NONE;
    for (int i = 0; i < VG_RQ_N; i++)
        ttl = umin(ttl, v[i].st == VG_RES_OK ? v[i].ans_ttl : v[i].neg_ttl);
    if (ttl == VG_TTL_NONE)
        ttl = 0;
    ttl = umin(ttl, pol->ttl_max);
    loc->ttl = ttl;
    *cache_ttl = ttl;
    return VG_RES_OK;
}
