/* Unit tests of the resolver library (resolver/): reply folding (A/AAAA/TXT/SRV → location),
 * TTLs, owner TXT parsing, the answer cache with a fake clock, name qualification, the
 * vmgate-connect command line and credentials, the client side of SOCKS5 (byte at a time), the
 * relay's half-close over socket pairs, descriptor passing, and the whole resolver against a fake
 * DNS responder (a UDP socket on 127.0.0.1 answering canned messages from the same event loop). */
#include "vg_addr.h"
#include "vg_client.h"
#include "vg_config.h"
#include "vg_rcache.h"
#include "vg_resolve.h"
#include "vg_rparse.h"
#include "vg_time.h"

#include <ares.h>
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- a small DNS message builder (uncompressed names) ---------------------------------- */

enum { T_A = 1, T_CNAME = 5, T_SOA = 6, T_TXT = 16, T_AAAA = 28, T_SRV = 33, T_DNAME = 39 };

struct msg {
    uint8_t b[2048];
    size_t n;
    unsigned qd, an, ns;
};

static void put8(struct msg *m, unsigned v)
{
    cr_assert_lt(m->n, sizeof m->b);
    m->b[m->n++] = (uint8_t)v;
}
static void put16(struct msg *m, unsigned v)
{
    put8(m, v >> 8);
    put8(m, v & 0xff);
}
static void put32(struct msg *m, unsigned v)
{
    put16(m, v >> 16);
    put16(m, v & 0xffff);
}
static void put_name(struct msg *m, const char *name)
{
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t l = dot ? (size_t)(dot - name) : strlen(name);
        put8(m, (unsigned)l);
        for (size_t i = 0; i < l; i++)
            put8(m, (unsigned char)name[i]);
        name += l + (dot ? 1 : 0);
    }
    put8(m, 0);
}

/* header; counts are patched by m_end */
static void m_begin(struct msg *m, unsigned id, unsigned rcode, const char *qname, unsigned qtype)
{
    memset(m, 0, sizeof *m);
    put16(m, id);
    put16(m, 0x8400 | rcode); /* QR AA */
    put16(m, 1);
    put16(m, 0);
    put16(m, 0);
    put16(m, 0);
    put_name(m, qname);
    put16(m, qtype);
    put16(m, 1);
    m->qd = 1;
}
static void m_end(struct msg *m)
{
    m->b[6] = (uint8_t)(m->an >> 8);
    m->b[7] = (uint8_t)m->an;
    m->b[8] = (uint8_t)(m->ns >> 8);
    m->b[9] = (uint8_t)m->ns;
}
/* RR with rdata already encoded into rd */
static void m_rr(struct msg *m, bool authority, const char *name, unsigned type, unsigned ttl,
                 const struct msg *rd)
{
    put_name(m, name);
    put16(m, type);
    put16(m, 1);
    put32(m, ttl);
    put16(m, (unsigned)rd->n);
    for (size_t i = 0; i < rd->n; i++)
        put8(m, rd->b[i]);
    if (authority)
        m->ns++;
    else
        m->an++;
}
static void rr_a(struct msg *m, const char *name, unsigned ttl, const char *addr)
{
    struct msg rd = {0};
    struct in_addr a;
    cr_assert_eq(inet_pton(AF_INET, addr, &a), 1);
    memcpy(rd.b, &a, 4);
    rd.n = 4;
    m_rr(m, false, name, T_A, ttl, &rd);
}
static void rr_aaaa(struct msg *m, const char *name, unsigned ttl, const char *addr)
{
    struct msg rd = {0};
    struct in6_addr a;
    cr_assert_eq(inet_pton(AF_INET6, addr, &a), 1);
    memcpy(rd.b, &a, 16);
    rd.n = 16;
    m_rr(m, false, name, T_AAAA, ttl, &rd);
}
/* TXT with up to 3 strings */
static void rr_txt(struct msg *m, const char *name, unsigned ttl, const char *s1, const char *s2,
                   const char *s3)
{
    struct msg rd = {0};
    const char *ss[3] = {s1, s2, s3};
    for (int i = 0; i < 3 && ss[i]; i++) {
        put8(&rd, (unsigned)strlen(ss[i]));
        for (const char *p = ss[i]; *p; p++)
            put8(&rd, (unsigned char)*p);
    }
    m_rr(m, false, name, T_TXT, ttl, &rd);
}
static void rr_srv(struct msg *m, const char *name, unsigned ttl, unsigned prio, unsigned weight,
                   unsigned port, const char *target)
{
    struct msg rd = {0};
    put16(&rd, prio);
    put16(&rd, weight);
    put16(&rd, port);
    put_name(&rd, target);
    m_rr(m, false, name, T_SRV, ttl, &rd);
}
/* CNAME or DNAME (type) to target */
static void rr_alias(struct msg *m, unsigned type, const char *name, unsigned ttl,
                     const char *target)
{
    struct msg rd = {0};
    put_name(&rd, target);
    m_rr(m, false, name, type, ttl, &rd);
}
static void rr_soa(struct msg *m, unsigned ttl, unsigned minimum)
{
    struct msg rd = {0};
    put_name(&rd, "ns.vm.test");
    put_name(&rd, "hostmaster.vm.test");
    put32(&rd, 1);
    put32(&rd, 3600);
    put32(&rd, 600);
    put32(&rd, 86400);
    put32(&rd, minimum);
    m_rr(m, true, "vm.test", T_SOA, ttl, &rd);
}

/* ---- canned zone: the answers of a small authoritative server -------------------------- */

/* A fake zone (vm.test, SOA minimum 30):
 *   web1  A 198.18.0.11, AAAA fd00::11, TXT owner=hv1, SRV 0 0 1081 hv1.vmgate-hosts (TTL 30/20)
 *   web2  A 198.18.0.12 x2, TXT owner=hv2 split in two strings, no AAAA, no SRV
 *   noaddr  TXT only
 *   anything else NXDOMAIN */
static void zone_answer(struct msg *m, unsigned id, const char *qname, unsigned qtype)
{
    const char *name = qname;
    bool srv = strncmp(qname, "_vmgate._tcp.", 13) == 0;
    if (srv)
        name = qname + 13;
    bool web1 = strcmp(name, "web1.vm.test") == 0, web2 = strcmp(name, "web2.vm.test") == 0;
    bool noaddr = strcmp(name, "noaddr.vm.test") == 0;
    /* hostile records: a CNAME out of the zone, an address on loopback, a huge TTL */
    bool alias = strcmp(name, "alias.vm.test") == 0, lo = strcmp(name, "lo.vm.test") == 0;
    bool big = strcmp(name, "big.vm.test") == 0;
    if (!srv && (alias || lo || big)) {
        m_begin(m, id, 0, qname, qtype);
        if (alias && qtype == T_A) {
            rr_alias(m, T_CNAME, qname, 30, "gw.evil.example");
            rr_a(m, "gw.evil.example", 30, "198.18.0.66");
        } else if (lo && qtype == T_A) {
            rr_a(m, qname, 30, "127.0.0.1");
        } else if (big && qtype == T_A) {
            rr_a(m, qname, 604800, "198.18.0.13");
        } else if (big && qtype == T_TXT) {
            rr_txt(m, qname, 604800, "vmgate-owner=hv3", NULL, NULL);
        }
        if (m->an == 0)
            rr_soa(m, 604800, 604800);
        m_end(m);
        return;
    }
    bool exists = srv ? web1 : (web1 || web2 || noaddr);
    if (!exists) {
        m_begin(m, id, 3, qname, qtype);
        rr_soa(m, 300, 30);
        m_end(m);
        return;
    }
    m_begin(m, id, 0, qname, qtype);
    if (srv) {
        if (web1 && qtype == T_SRV)
            rr_srv(m, qname, 20, 0, 0, 1081, "hv1.vmgate-hosts.vm.test");
    } else if (qtype == T_A && web1) {
        rr_a(m, qname, 30, "198.18.0.11");
    } else if (qtype == T_A && web2) {
        rr_a(m, qname, 40, "198.18.0.12");
        rr_a(m, qname, 40, "198.18.1.12");
    } else if (qtype == T_AAAA && web1) {
        rr_aaaa(m, qname, 30, "fd00::11");
    } else if (qtype == T_TXT && web1) {
        rr_txt(m, qname, 30, "vmgate-owner=hv1", NULL, NULL);
    } else if (qtype == T_TXT && web2) {
        rr_txt(m, qname, 40, "some other text", NULL, NULL);
        rr_txt(m, qname, 40, "vmgate-", "owner=HV2", NULL);
    } else if (qtype == T_TXT && noaddr) {
        rr_txt(m, qname, 30, "hello", NULL, NULL);
    }
    if (m->an == 0)
        rr_soa(m, 300, 30);
    m_end(m);
}

/* The four parts of a lookup of `name`, answered by zone_answer. */
struct parts {
    struct msg m[VG_RQ_N];
    struct vg_rpart p[VG_RQ_N];
};
static void lookup_parts(struct parts *ps, const char *name)
{
    static const unsigned types[VG_RQ_N] = {T_A, T_AAAA, T_TXT, T_SRV};
    char srv[300];
    snprintf(srv, sizeof srv, "_vmgate._tcp.%s", name);
    for (int i = 0; i < VG_RQ_N; i++) {
        zone_answer(&ps->m[i], 1, i == VG_RQ_SRV ? srv : name, types[i]);
        unsigned rcode = ps->m[i].b[3] & 0xf, an = ps->m[i].an;
        ps->p[i].status = rcode == 3 ? ARES_ENOTFOUND : an ? ARES_SUCCESS : ARES_ENODATA;
        ps->p[i].abuf = ps->m[i].b;
        ps->p[i].alen = (int)ps->m[i].n;
    }
}

static const char *addr_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
    char a[64];
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s = (const void *)ss;
        inet_ntop(AF_INET, &s->sin_addr, a, sizeof a);
        snprintf(buf, len, "%s:%u", a, ntohs(s->sin_port));
    } else {
        const struct sockaddr_in6 *s = (const void *)ss;
        inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof a);
        snprintf(buf, len, "[%s]:%u", a, ntohs(s->sin6_port));
    }
    return buf;
}

/* ---- TTLs and owner --------------------------------------------------------------------- */

Test(rparse, answer_ttl_is_minimum_of_matching_rrs)
{
    struct msg m;
    m_begin(&m, 1, 0, "web2.vm.test", T_A);
    rr_a(&m, "web2.vm.test", 40, "198.18.0.1");
    rr_a(&m, "web2.vm.test", 25, "198.18.0.2");
    rr_txt(&m, "web2.vm.test", 3, "not counted", NULL, NULL); /* other type */
    m_end(&m);
    unsigned ans, neg;
    cr_assert(vg_rparse_ttls(m.b, m.n, T_A, &ans, &neg));
    cr_assert_eq(ans, 25);
    cr_assert_eq(neg, VG_TTL_NONE);
}

Test(rparse, negative_ttl_is_min_of_soa_ttl_and_minimum)
{
    struct msg m;
    m_begin(&m, 1, 3, "x.vm.test", T_A);
    rr_soa(&m, 300, 30);
    m_end(&m);
    unsigned ans, neg;
    cr_assert(vg_rparse_ttls(m.b, m.n, T_A, &ans, &neg));
    cr_assert_eq(ans, VG_TTL_NONE);
    cr_assert_eq(neg, 30);
    m_begin(&m, 1, 3, "x.vm.test", T_A);
    rr_soa(&m, 7, 30);
    m_end(&m);
    cr_assert(vg_rparse_ttls(m.b, m.n, T_A, &ans, &neg));
    cr_assert_eq(neg, 7);
}

Test(rparse, truncated_messages_are_malformed)
{
    struct msg m;
    unsigned ans, neg;
    m_begin(&m, 1, 0, "web1.vm.test", T_A);
    rr_a(&m, "web1.vm.test", 30, "198.18.0.1");
    m_end(&m);
    for (size_t cut = 0; cut < m.n; cut++)
        cr_assert_not(vg_rparse_ttls(m.b, cut, T_A, &ans, &neg), "accepted %zu of %zu octets", cut,
                      m.n);
    cr_assert(vg_rparse_ttls(m.b, m.n, T_A, &ans, &neg));
    /* a name pointing at itself is skipped, never followed */
    uint8_t loop[] = {0, 1, 0x84, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1};
    cr_assert(vg_rparse_ttls(loop, sizeof loop, T_A, &ans, &neg));
    cr_assert_eq(ans, VG_TTL_NONE);
    /* a label running past the end */
    uint8_t overrun[] = {0, 1, 0x84, 0, 0, 1, 0, 0, 0, 0, 0, 0, 40, 'a', 'b'};
    cr_assert_not(vg_rparse_ttls(overrun, sizeof overrun, T_A, &ans, &neg));
}

Test(rparse, owner_txt)
{
    char o[64];
#define OWN(s) vg_rec_owner_parse((s), strlen(s), o)
    cr_assert(OWN("vmgate-owner=hv1"));
    cr_assert_str_eq(o, "hv1");
    cr_assert(OWN("vmgate-owner=HV-2.Example"));
    cr_assert_str_eq(o, "hv-2.example");
    cr_assert_not(OWN("vmgate-owner="));
    cr_assert_not(OWN("vmgate-owner=bad_name"));
    cr_assert_not(OWN("vmgate-owner=-x"));
    cr_assert_not(OWN("vmgate-heartbeat=123"));
    cr_assert_not(OWN("VMGATE-OWNER=hv1")); /* the registrar writes lower case */
    cr_assert_not(OWN("xvmgate-owner=hv1"));
    char longer[100];
    snprintf(longer, sizeof longer, "vmgate-owner=%064d", 0);
    cr_assert_not(OWN(longer));
#undef OWN
}

Test(rparse, status_map)
{
    cr_assert_eq(vg_rparse_status(ARES_ENOTFOUND), VG_RES_NXDOMAIN);
    cr_assert_eq(vg_rparse_status(ARES_ENODATA), VG_RES_NODATA);
    cr_assert_eq(vg_rparse_status(ARES_ETIMEOUT), VG_RES_TIMEOUT);
    cr_assert_eq(vg_rparse_status(ARES_ECONNREFUSED), VG_RES_UNREACHABLE);
    cr_assert_eq(vg_rparse_status(ARES_ESERVFAIL), VG_RES_SERVFAIL);
    cr_assert_eq(vg_rparse_status(ARES_EREFUSED), VG_RES_REFUSED);
    cr_assert_eq(vg_rparse_status(ARES_EDESTRUCTION), VG_RES_CANCELLED);
    cr_assert_eq(vg_rparse_status(ARES_ENOTINITIALIZED), VG_RES_ERROR);
}

/* ---- folding ------------------------------------------------------------------------------ */

static const char *const ZONES[] = {"vm.test"};
/* the resolver's defaults with zone vm.test: caps 300 s / 5 s, no host networks */
static const struct vg_rpolicy POL5 = {ZONES, 1, NULL, 0, 300, 5};
static const struct vg_rpolicy POL60 = {ZONES, 1, NULL, 0, 300, 60};

Test(fold, full_record_set)
{
    struct parts ps;
    struct vg_vm_location loc = {.name = "web1.vm.test"};
    unsigned cttl;
    char why[256];
    char a[80];
    lookup_parts(&ps, "web1.vm.test");
    cr_assert_eq(vg_rparse_fold(ps.p, &POL5, &loc, &cttl, why, sizeof why), VG_RES_OK);
    cr_assert_str_eq(loc.owner, "hv1");
    cr_assert_str_eq(loc.gateway, "hv1.vmgate-hosts.vm.test");
    cr_assert_eq(loc.port, 1081);
    cr_assert_eq(loc.naddrs, 2);
    cr_assert_str_eq(addr_str(&loc.addrs[0], a, sizeof a), "[fd00::11]:1081"); /* v6 first */
    cr_assert_str_eq(addr_str(&loc.addrs[1], a, sizeof a), "198.18.0.11:1081");
    cr_assert_eq(loc.ttl, 20, "TTL is the SRV's, the smallest: got %u", loc.ttl);
    cr_assert_eq(cttl, 20);
}

Test(fold, no_srv_no_aaaa_split_txt)
{
    struct parts ps;
    struct vg_vm_location loc = {.name = "web2.vm.test"};
    unsigned cttl;
    char why[256];
    char a[80];
    lookup_parts(&ps, "web2.vm.test");
    cr_assert_eq(ps.p[VG_RQ_SRV].status, ARES_ENOTFOUND);
    cr_assert_eq(ps.p[VG_RQ_AAAA].status, ARES_ENODATA);
    cr_assert_eq(vg_rparse_fold(ps.p, &POL5, &loc, &cttl, why, sizeof why), VG_RES_OK);
    cr_assert_str_eq(loc.owner, "hv2", "owner from a TXT record split in two strings");
    cr_assert_str_eq(loc.gateway, "");
    cr_assert_eq(loc.port, 1080, "no SRV: default port");
    cr_assert_eq(loc.naddrs, 2);
    cr_assert_str_eq(addr_str(&loc.addrs[0], a, sizeof a), "198.18.0.12:1080");
    cr_assert_str_eq(addr_str(&loc.addrs[1], a, sizeof a), "198.18.1.12:1080");
    /* A 40, TXT 40, AAAA NODATA and SRV NXDOMAIN count with the negative TTL 30 */
    cr_assert_eq(loc.ttl, 30);
}

Test(fold, srv_selection)
{
    struct parts ps;
    struct vg_vm_location loc = {.name = "web1.vm.test"};
    unsigned cttl;
    char why[256];
    lookup_parts(&ps, "web1.vm.test");
    struct msg *m = &ps.m[VG_RQ_SRV];
    m_begin(m, 1, 0, "_vmgate._tcp.web1.vm.test", T_SRV);
    rr_srv(m, "_vmgate._tcp.web1.vm.test", 30, 10, 100, 2000, "low.vmgate-hosts.vm.test");
    rr_srv(m, "_vmgate._tcp.web1.vm.test", 30, 0, 0, 0, "zero-port.vmgate-hosts.vm.test");
    rr_srv(m, "_vmgate._tcp.web1.vm.test", 30, 0, 5, 1090, "heavy.vmgate-hosts.vm.test");
    rr_srv(m, "_vmgate._tcp.web1.vm.test", 30, 0, 1, 1091, "light.vmgate-hosts.vm.test");
    rr_srv(m, "_vmgate._tcp.web1.vm.test", 30, 0, 9, 1092, "");
    /* the heaviest, but its target is no host name: unusable, its port is not taken */
    rr_srv(m, "_vmgate._tcp.web1.vm.test", 30, 0, 50, 6666, "bad_label!.vmgate-hosts.vm.test");
    m_end(m);
    ps.p[VG_RQ_SRV].alen = (int)m->n;
    cr_assert_eq(vg_rparse_fold(ps.p, &POL5, &loc, &cttl, why, sizeof why), VG_RES_OK);
    cr_assert_str_eq(loc.gateway, "heavy.vmgate-hosts.vm.test");
    cr_assert_eq(loc.port, 1090);
}

Test(fold, many_addresses_interleaved_and_capped)
{
    struct parts ps;
    struct vg_vm_location loc = {.name = "web1.vm.test"};
    unsigned cttl;
    char why[256];
    char a[80], want[80];
    lookup_parts(&ps, "web1.vm.test");
    struct msg *m4 = &ps.m[VG_RQ_A], *m6 = &ps.m[VG_RQ_AAAA];
    m_begin(m4, 1, 0, "web1.vm.test", T_A);
    m_begin(m6, 1, 0, "web1.vm.test", T_AAAA);
    for (int i = 1; i <= 6; i++) {
        snprintf(a, sizeof a, "198.18.0.%d", i);
        rr_a(m4, "web1.vm.test", 30, a);
        snprintf(a, sizeof a, "fd00::%d", i);
        rr_aaaa(m6, "web1.vm.test", 30, a);
    }
    m_end(m4);
    m_end(m6);
    ps.p[VG_RQ_A].alen = (int)m4->n;
    ps.p[VG_RQ_AAAA].alen = (int)m6->n;
    cr_assert_eq(vg_rparse_fold(ps.p, &POL5, &loc, &cttl, why, sizeof why), VG_RES_OK);
    cr_assert_eq(loc.naddrs, VG_RES_MAX_ADDRS);
    for (size_t i = 0; i < loc.naddrs; i++) {
        if (i % 2 == 0)
            snprintf(want, sizeof want, "[fd00::%zu]:1081", i / 2 + 1);
        else
            snprintf(want, sizeof want, "198.18.0.%zu:1081", i / 2 + 1);
        cr_assert_str_eq(addr_str(&loc.addrs[i], a, sizeof a), want);
    }
}

Test(fold, nxdomain_nodata_and_failures)
{
    struct parts ps;
    struct vg_vm_location loc = {.name = "nosuch.vm.test"};
    unsigned cttl;
    char why[256];
    lookup_parts(&ps, "nosuch.vm.test");
    cr_assert_eq(vg_rparse_fold(ps.p, &POL5, &loc, &cttl, why, sizeof why), VG_RES_NXDOMAIN);
    cr_assert_eq(cttl, 5, "negative TTL 30 capped at 5");
    cr_assert_eq(vg_rparse_fold(ps.p, &POL60, &loc, &cttl, why, sizeof why), VG_RES_NXDOMAIN);
    cr_assert_eq(cttl, 30);

    lookup_parts(&ps, "noaddr.vm.test");
    snprintf(loc.name, sizeof loc.name, "noaddr.vm.test");
    cr_assert_eq(vg_rparse_fold(ps.p, &POL5, &loc, &cttl, why, sizeof why), VG_RES_NODATA);
    cr_assert_eq(cttl, 5);

    /* one query timed out: the lookup fails and nothing is cached */
    lookup_parts(&ps, "web1.vm.test");
    snprintf(loc.name, sizeof loc.name, "web1.vm.test");
    ps.p[VG_RQ_TXT] = (struct vg_rpart){ARES_ETIMEOUT, NULL, 0};
    cr_assert_eq(vg_rparse_fold(ps.p, &POL5, &loc, &cttl, why, sizeof why), VG_RES_TIMEOUT);
    cr_assert_eq(cttl, 0);
    lookup_parts(&ps, "web1.vm.test");
    ps.p[VG_RQ_SRV] = (struct vg_rpart){ARES_ESERVFAIL, NULL, 0};
    ps.p[VG_RQ_TXT] = (struct vg_rpart){ARES_ETIMEOUT, NULL, 0};
    cr_assert_eq(vg_rparse_fold(ps.p, &POL5, &loc, &cttl, why, sizeof why), VG_RES_SERVFAIL,
                 "SRV before TXT");
    /* garbage where an answer should be */
    lookup_parts(&ps, "web1.vm.test");
    ps.p[VG_RQ_A].alen = 11;
    cr_assert_eq(vg_rparse_fold(ps.p, &POL5, &loc, &cttl, why, sizeof why), VG_RES_BADRESP);
}

/* ---- what the resolver refuses (vg_rparse_check, vg_rparse_addr_ok, the policy in fold) ---- */

static enum vg_res_status check(const struct msg *m, const char *qname, int qtype, char *why)
{
    return vg_rparse_check(m->b, m->n, qname, qtype, &POL5, why, 256);
}

Test(refuse, reply_must_answer_the_question)
{
    struct msg m;
    char why[256];
    m_begin(&m, 1, 0, "web1.vm.test", T_A);
    rr_a(&m, "web1.vm.test", 30, "198.18.0.11");
    m_end(&m);
    cr_assert_eq(check(&m, "web1.vm.test", T_A, why), VG_RES_OK, "%s", why);
    cr_assert_str_eq(why, "");
    cr_assert_eq(check(&m, "WEB1.vm.test", T_A, why), VG_RES_OK, "names compare in any case");
    cr_assert_eq(check(&m, "web2.vm.test", T_A, why), VG_RES_BADRESP);
    cr_assert(strstr(why, "another question"), "%s", why);
    cr_assert_eq(check(&m, "web1.vm.test", T_AAAA, why), VG_RES_BADRESP, "another type");
    /* class CH instead of IN: the last octets of the question */
    m_begin(&m, 1, 0, "web1.vm.test", T_A);
    m.b[m.n - 1] = 3;
    m_end(&m);
    cr_assert_eq(check(&m, "web1.vm.test", T_A, why), VG_RES_BADRESP, "class CH");
    /* a query (QR clear), an UPDATE opcode, two questions */
    m_begin(&m, 1, 0, "web1.vm.test", T_A);
    m_end(&m);
    m.b[2] &= 0x7f;
    cr_assert_eq(check(&m, "web1.vm.test", T_A, why), VG_RES_BADRESP, "QR clear");
    m.b[2] = 0x80 | 5 << 3;
    cr_assert_eq(check(&m, "web1.vm.test", T_A, why), VG_RES_BADRESP, "opcode UPDATE");
    m.b[2] = 0x84;
    m.b[5] = 2;
    cr_assert_eq(check(&m, "web1.vm.test", T_A, why), VG_RES_BADRESP, "two questions");
    m.b[5] = 0;
    cr_assert_eq(check(&m, "web1.vm.test", T_A, why), VG_RES_BADRESP, "no question");
    /* records of the asked type for another name (c-ares' TXT parser would take them) */
    m_begin(&m, 1, 0, "web1.vm.test", T_TXT);
    rr_txt(&m, "web1.vm.test", 30, "hello", NULL, NULL);
    rr_txt(&m, "evil.vm.test", 30, "vmgate-owner=evil", NULL, NULL);
    m_end(&m);
    cr_assert_eq(check(&m, "web1.vm.test", T_TXT, why), VG_RES_BADRESP);
    cr_assert(strstr(why, "evil.vm.test"), "%s", why);
    /* every prefix of a good reply is refused, never read past */
    m_begin(&m, 1, 0, "web1.vm.test", T_A);
    rr_alias(&m, T_CNAME, "web1.vm.test", 30, "web1b.vm.test");
    rr_a(&m, "web1b.vm.test", 30, "198.18.0.11");
    m_end(&m);
    cr_assert_eq(check(&m, "web1.vm.test", T_A, why), VG_RES_OK, "%s", why);
    for (size_t cut = 0; cut < m.n; cut++)
        cr_assert_eq(vg_rparse_check(m.b, cut, "web1.vm.test", T_A, &POL5, why, sizeof why),
                     VG_RES_BADRESP, "cut %zu", cut);
}

Test(refuse, aliases_stay_in_the_zone)
{
    struct msg m;
    char why[256];
    /* a chain inside the zone is followed */
    m_begin(&m, 1, 0, "web1.vm.test", T_A);
    rr_alias(&m, T_CNAME, "web1.vm.test", 30, "a.vm.test");
    rr_alias(&m, T_CNAME, "a.vm.test", 30, "B.VM.test");
    rr_a(&m, "b.vm.test", 30, "198.18.0.11");
    m_end(&m);
    cr_assert_eq(check(&m, "web1.vm.test", T_A, why), VG_RES_OK, "%s", why);
    /* a CNAME out of the zone */
    m_begin(&m, 1, 0, "web1.vm.test", T_A);
    rr_alias(&m, T_CNAME, "web1.vm.test", 30, "gw.evil.example");
    rr_a(&m, "gw.evil.example", 30, "127.0.0.1");
    m_end(&m);
    cr_assert_eq(check(&m, "web1.vm.test", T_A, why), VG_RES_OFFZONE);
    cr_assert_str_eq(why, "CNAME web1.vm.test -> gw.evil.example leaves zone vm.test");
    /* a name that only ends like the zone */
    m_begin(&m, 1, 0, "web1.vm.test", T_A);
    rr_alias(&m, T_CNAME, "web1.vm.test", 30, "xvm.test");
    m_end(&m);
    cr_assert_eq(check(&m, "web1.vm.test", T_A, why), VG_RES_OFFZONE, "xvm.test is not vm.test");
    /* a label with a dot in it is not two labels */
    m_begin(&m, 1, 0, "web1.vm.test", T_A);
    struct msg rd = {0};
    const uint8_t fake[] = {1, 'x', 7, 'v', 'm', '.', 't', 'e', 's', 't', 0}; /* "x.vm\.test" */
    memcpy(rd.b, fake, sizeof fake);
    rd.n = sizeof fake;
    m_rr(&m, false, "web1.vm.test", T_CNAME, 30, &rd);
    m_end(&m);
    cr_assert_eq(check(&m, "web1.vm.test", T_A, why), VG_RES_OFFZONE, "%s", why);
    /* a DNAME out of the zone, even with no CNAME synthesized */
    m_begin(&m, 1, 0, "web1.vm.test", T_TXT);
    rr_alias(&m, T_DNAME, "vm.test", 30, "evil.example");
    m_end(&m);
    cr_assert_eq(check(&m, "web1.vm.test", T_TXT, why), VG_RES_OFFZONE);
    cr_assert(strstr(why, "DNAME vm.test -> evil.example"), "%s", why);
    /* in a NODATA answer too (c-ares reports ENODATA for a CNAME without addresses) */
    m_begin(&m, 1, 0, "_vmgate._tcp.web1.vm.test", T_SRV);
    rr_alias(&m, T_CNAME, "_vmgate._tcp.web1.vm.test", 30, "_gw._tcp.evil.example");
    m_end(&m);
    cr_assert_eq(check(&m, "_vmgate._tcp.web1.vm.test", T_SRV, why), VG_RES_OFFZONE);
    /* without zones, aliases are not restricted */
    struct vg_rpolicy open = {NULL, 0, NULL, 0, 300, 5};
    m_begin(&m, 1, 0, "web1.vm.test", T_A);
    rr_alias(&m, T_CNAME, "web1.vm.test", 30, "gw.evil.example");
    rr_a(&m, "gw.evil.example", 30, "198.18.0.11");
    m_end(&m);
    cr_assert_eq(vg_rparse_check(m.b, m.n, "web1.vm.test", T_A, &open, why, sizeof why), VG_RES_OK);
    /* a second zone counts */
    const char *const two[] = {"other.test", "evil.example"};
    struct vg_rpolicy pol2 = {two, 2, NULL, 0, 300, 5};
    cr_assert_eq(vg_rparse_check(m.b, m.n, "web1.vm.test", T_A, &pol2, why, sizeof why), VG_RES_OK);
}

Test(refuse, cname_chains_are_bounded)
{
    struct msg m;
    char why[256], a[64], b[64];
    /* 8 links: followed; 9: refused */
    for (int links = 8; links <= 9; links++) {
        m_begin(&m, 1, 0, "c0.vm.test", T_A);
        for (int i = 0; i < links; i++) {
            snprintf(a, sizeof a, "c%d.vm.test", i);
            snprintf(b, sizeof b, "c%d.vm.test", i + 1);
            rr_alias(&m, T_CNAME, a, 30, b);
        }
        rr_a(&m, b, 30, "198.18.0.11");
        m_end(&m);
        cr_assert_eq(check(&m, "c0.vm.test", T_A, why),
                     links <= VG_RPARSE_CHAIN_MAX ? VG_RES_OK : VG_RES_BADRESP, "%d links: %s",
                     links, why);
    }
    /* a loop */
    m_begin(&m, 1, 0, "c0.vm.test", T_A);
    rr_alias(&m, T_CNAME, "c0.vm.test", 30, "c1.vm.test");
    rr_alias(&m, T_CNAME, "c1.vm.test", 30, "c0.vm.test");
    m_end(&m);
    cr_assert_eq(check(&m, "c0.vm.test", T_A, why), VG_RES_BADRESP);
    cr_assert(strstr(why, "loop"), "%s", why);
}

static bool addr_ok(const struct vg_rpolicy *pol, const char *text)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    cr_assert(vg_sockaddr_parse(text, 1, &ss, &sl), "%s", text);
    return vg_rparse_addr_ok(pol, (struct sockaddr *)&ss);
}

Test(refuse, owning_host_addresses)
{
    struct vg_rpolicy pol = POL5;
    static const char *const bad[] = {"127.0.0.1",
                                      "127.255.0.9",
                                      "0.0.0.0",
                                      "0.1.2.3",
                                      "169.254.1.1",
                                      "224.0.0.1",
                                      "239.1.1.1",
                                      "240.0.0.1",
                                      "255.255.255.255",
                                      "::",
                                      "::1",
                                      "fe80::1",
                                      "febf::1",
                                      "ff02::1",
                                      "::ffff:127.0.0.1",
                                      "::ffff:169.254.0.1"};
    static const char *const good[] = {"198.18.0.11",       "192.0.2.10",   "10.0.0.1",
                                       "fd00::11",          "2001:db8::10", "fec0::1",
                                       "::ffff:198.18.0.1", "1.2.3.4"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_not(addr_ok(&pol, bad[i]), "%s allowed without host-networks", bad[i]);
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        cr_assert(addr_ok(&pol, good[i]), "%s refused without host-networks", good[i]);
    /* with host-networks only those, loopback too when listed */
    struct vg_cidr nets[2];
    cr_assert(vg_cidr_parse("198.18.0.0/15", &nets[0]));
    cr_assert(vg_cidr_parse("127.0.0.0/8", &nets[1]));
    pol.nets = nets;
    pol.nnets = 2;
    cr_assert(addr_ok(&pol, "198.19.255.1"));
    cr_assert(addr_ok(&pol, "127.0.0.1"), "listed explicitly");
    cr_assert(addr_ok(&pol, "::ffff:198.18.0.1"), "IPv4-mapped");
    cr_assert_not(addr_ok(&pol, "198.20.0.1"));
    cr_assert_not(addr_ok(&pol, "10.0.0.1"));
    cr_assert_not(addr_ok(&pol, "fd00::11"), "no IPv6 prefix listed");
    pol.nnets = 1;
    cr_assert_not(addr_ok(&pol, "127.0.0.1"));
}

Test(refuse, fold_applies_the_policy)
{
    struct parts ps;
    struct vg_vm_location loc = {.name = "web1.vm.test"};
    unsigned cttl;
    char why[256], a[80];
    struct vg_cidr nets[1];
    cr_assert(vg_cidr_parse("198.18.0.0/15", &nets[0]));
    struct vg_rpolicy pol = POL5;

    /* host-networks without IPv6: the AAAA is left out, the answer still usable */
    pol.nets = nets;
    pol.nnets = 1;
    lookup_parts(&ps, "web1.vm.test");
    cr_assert_eq(vg_rparse_fold(ps.p, &pol, &loc, &cttl, why, sizeof why), VG_RES_OK);
    cr_assert_eq(loc.naddrs, 1);
    cr_assert_str_eq(addr_str(&loc.addrs[0], a, sizeof a), "198.18.0.11:1081");
    cr_assert(strstr(why, "1 address left out: address fd00::11 of web1.vm.test is outside"), "%s",
              why);

    /* A on loopback, no AAAA: refused, nothing to cache */
    lookup_parts(&ps, "web1.vm.test");
    struct msg *m4 = &ps.m[VG_RQ_A];
    m_begin(m4, 1, 0, "web1.vm.test", T_A);
    rr_a(m4, "web1.vm.test", 30, "127.0.0.1");
    m_end(m4);
    ps.p[VG_RQ_A].alen = (int)m4->n;
    ps.p[VG_RQ_AAAA] = (struct vg_rpart){ARES_ENODATA, NULL, 0};
    cr_assert_eq(vg_rparse_fold(ps.p, &pol, &loc, &cttl, why, sizeof why), VG_RES_BADADDR);
    cr_assert_eq(cttl, 0);
    cr_assert_eq(loc.naddrs, 0);
    cr_assert_str_eq(why, "address 127.0.0.1 of web1.vm.test is outside [dns] host-networks");
    cr_assert_eq(vg_rparse_fold(ps.p, &POL5, &loc, &cttl, why, sizeof why), VG_RES_BADADDR,
                 "loopback without host-networks");
    cr_assert(strstr(why, "allow it with [dns] host-networks"), "%s", why);

    /* an SRV target outside the zone */
    lookup_parts(&ps, "web1.vm.test");
    struct msg *ms = &ps.m[VG_RQ_SRV];
    m_begin(ms, 1, 0, "_vmgate._tcp.web1.vm.test", T_SRV);
    rr_srv(ms, "_vmgate._tcp.web1.vm.test", 30, 0, 0, 22, "ssh.evil.example");
    m_end(ms);
    ps.p[VG_RQ_SRV].alen = (int)ms->n;
    cr_assert_eq(vg_rparse_fold(ps.p, &POL5, &loc, &cttl, why, sizeof why), VG_RES_OFFZONE);
    cr_assert_str_eq(why, "SRV target ssh.evil.example leaves zone vm.test");
    cr_assert_str_eq(loc.gateway, "");
    cr_assert_eq(cttl, 0);

    /* a CNAME out of the zone in the A answer */
    lookup_parts(&ps, "web1.vm.test");
    m_begin(m4, 1, 0, "web1.vm.test", T_A);
    rr_alias(m4, T_CNAME, "web1.vm.test", 30, "gw.evil.example");
    rr_a(m4, "gw.evil.example", 30, "198.18.0.99");
    m_end(m4);
    ps.p[VG_RQ_A].alen = (int)m4->n;
    cr_assert_eq(vg_rparse_fold(ps.p, &POL5, &loc, &cttl, why, sizeof why), VG_RES_OFFZONE);
    cr_assert_str_eq(why, "CNAME web1.vm.test -> gw.evil.example leaves zone vm.test");

    /* a reply to another question */
    lookup_parts(&ps, "web1.vm.test");
    snprintf(loc.name, sizeof loc.name, "web2.vm.test");
    cr_assert_eq(vg_rparse_fold(ps.p, &POL5, &loc, &cttl, why, sizeof why), VG_RES_BADRESP);
    snprintf(loc.name, sizeof loc.name, "web1.vm.test");
}

Test(refuse, ttls_are_capped)
{
    struct parts ps;
    struct vg_vm_location loc = {.name = "web1.vm.test"};
    unsigned cttl;
    char why[256];
    lookup_parts(&ps, "web1.vm.test");
    /* every record with a huge TTL */
    struct msg *m4 = &ps.m[VG_RQ_A], *m6 = &ps.m[VG_RQ_AAAA], *mt = &ps.m[VG_RQ_TXT],
               *ms = &ps.m[VG_RQ_SRV];
    m_begin(m4, 1, 0, "web1.vm.test", T_A);
    rr_a(m4, "web1.vm.test", 0x7fffffff, "198.18.0.11");
    m_end(m4);
    m_begin(m6, 1, 0, "web1.vm.test", T_AAAA);
    rr_aaaa(m6, "web1.vm.test", 604800, "fd00::11");
    m_end(m6);
    m_begin(mt, 1, 0, "web1.vm.test", T_TXT);
    rr_txt(mt, "web1.vm.test", 86400, "vmgate-owner=hv1", NULL, NULL);
    m_end(mt);
    m_begin(ms, 1, 0, "_vmgate._tcp.web1.vm.test", T_SRV);
    rr_srv(ms, "_vmgate._tcp.web1.vm.test", 86400, 0, 0, 1081, "hv1.vmgate-hosts.vm.test");
    m_end(ms);
    for (int i = 0; i < VG_RQ_N; i++)
        ps.p[i].alen = (int)ps.m[i].n;
    cr_assert_eq(vg_rparse_fold(ps.p, &POL5, &loc, &cttl, why, sizeof why), VG_RES_OK);
    cr_assert_eq(loc.ttl, 300, "capped at cache-ttl-max: %u", loc.ttl);
    cr_assert_eq(cttl, 300);
    struct vg_rpolicy pol = POL5;
    pol.ttl_max = 2;
    cr_assert_eq(vg_rparse_fold(ps.p, &pol, &loc, &cttl, why, sizeof why), VG_RES_OK);
    cr_assert_eq(loc.ttl, 2);
    pol.ttl_max = 0;
    cr_assert_eq(vg_rparse_fold(ps.p, &pol, &loc, &cttl, why, sizeof why), VG_RES_OK);
    cr_assert_eq(cttl, 0, "cache-ttl-max 0: not cached");
    /* a negative answer with a huge SOA: capped at the negative cap */
    lookup_parts(&ps, "nosuch.vm.test");
    snprintf(loc.name, sizeof loc.name, "nosuch.vm.test");
    for (int i = 0; i < VG_RQ_N; i++) {
        struct msg *m = &ps.m[i];
        char q[300];
        snprintf(q, sizeof q, "%snosuch.vm.test", i == VG_RQ_SRV ? "_vmgate._tcp." : "");
        static const unsigned types[VG_RQ_N] = {T_A, T_AAAA, T_TXT, T_SRV};
        m_begin(m, 1, 3, q, types[i]);
        rr_soa(m, 86400, 86400);
        m_end(m);
        ps.p[i].alen = (int)m->n;
    }
    cr_assert_eq(vg_rparse_fold(ps.p, &POL60, &loc, &cttl, why, sizeof why), VG_RES_NXDOMAIN);
    cr_assert_eq(cttl, 60);
}

/* ---- cache -------------------------------------------------------------------------------- */

static struct vg_vm_location some_loc(const char *name, uint16_t port)
{
    struct vg_vm_location l = {0};
    snprintf(l.name, sizeof l.name, "%s", name);
    snprintf(l.owner, sizeof l.owner, "hv1");
    l.port = port;
    l.naddrs = 1;
    struct sockaddr_in *s = (struct sockaddr_in *)&l.addrs[0];
    s->sin_family = AF_INET;
    s->sin_port = htons(port);
    l.ttl = 30;
    return l;
}

Test(cache, ttl_expiry_with_fake_clock)
{
    struct vg_rcache *c = vg_rcache_new(8);
    struct vg_vm_location l = some_loc("web1.vm.test", 1080), out;
    enum vg_res_status st;
    cr_assert(vg_rcache_put(c, "web1.vm.test", VG_RES_OK, &l, 30, 1000));
    cr_assert(vg_rcache_get(c, "web1.vm.test", 1000, &st, &out));
    cr_assert_eq(st, VG_RES_OK);
    cr_assert_eq(out.ttl, 30);
    cr_assert(out.from_cache);
    cr_assert_str_eq(out.owner, "hv1");
    cr_assert(vg_rcache_get(c, "web1.vm.test", 1000 + 29001, &st, &out));
    cr_assert_eq(out.ttl, 1, "what is left, rounded up");
    cr_assert_not(vg_rcache_get(c, "web1.vm.test", 1000 + 30000, &st, &out), "expired at TTL");
    cr_assert_eq(vg_rcache_count(c), 0, "expired entry removed");
    cr_assert_not(vg_rcache_get(c, "other.vm.test", 0, &st, &out));
    vg_rcache_free(c);
}

Test(cache, negative_entries_and_zero_ttl)
{
    struct vg_rcache *c = vg_rcache_new(8);
    struct vg_vm_location out;
    enum vg_res_status st;
    cr_assert(vg_rcache_put(c, "gone.vm.test", VG_RES_NXDOMAIN, NULL, 5, 0));
    cr_assert(vg_rcache_get(c, "gone.vm.test", 4999, &st, &out));
    cr_assert_eq(st, VG_RES_NXDOMAIN);
    cr_assert_not(vg_rcache_get(c, "gone.vm.test", 5000, &st, &out));
    struct vg_vm_location l = some_loc("web1.vm.test", 1080);
    cr_assert(vg_rcache_put(c, "web1.vm.test", VG_RES_OK, &l, 30, 0));
    cr_assert(vg_rcache_put(c, "web1.vm.test", VG_RES_OK, &l, 0, 0), "TTL 0 replaces by nothing");
    cr_assert_not(vg_rcache_get(c, "web1.vm.test", 0, &st, &out));
    vg_rcache_free(c);
    c = vg_rcache_new(0);
    cr_assert(vg_rcache_put(c, "web1.vm.test", VG_RES_OK, &l, 30, 0));
    cr_assert_eq(vg_rcache_count(c), 0, "size 0 caches nothing");
    vg_rcache_free(c);
}

Test(cache, bounded_lru)
{
    struct vg_rcache *c = vg_rcache_new(3);
    struct vg_vm_location out;
    enum vg_res_status st;
    char n[32];
    for (int i = 0; i < 3; i++) {
        snprintf(n, sizeof n, "vm%d.vm.test", i);
        struct vg_vm_location l = some_loc(n, (uint16_t)(1000 + i));
        cr_assert(vg_rcache_put(c, n, VG_RES_OK, &l, 60, 0));
    }
    cr_assert(vg_rcache_get(c, "vm0.vm.test", 1, &st, &out)); /* vm0 used: vm1 is now oldest */
    struct vg_vm_location l = some_loc("vm3.vm.test", 1003);
    cr_assert(vg_rcache_put(c, "vm3.vm.test", VG_RES_OK, &l, 60, 2));
    cr_assert_eq(vg_rcache_count(c), 3);
    cr_assert_not(vg_rcache_get(c, "vm1.vm.test", 3, &st, &out), "least recently used evicted");
    cr_assert(vg_rcache_get(c, "vm0.vm.test", 3, &st, &out));
    cr_assert_eq(out.port, 1000);
    cr_assert(vg_rcache_get(c, "vm2.vm.test", 3, &st, &out));
    cr_assert(vg_rcache_get(c, "vm3.vm.test", 3, &st, &out));
    cr_assert_eq(out.port, 1003);
    /* many more than fit: never more than max */
    for (int i = 0; i < 1000; i++) {
        snprintf(n, sizeof n, "x%d.vm.test", i);
        cr_assert(vg_rcache_put(c, n, VG_RES_NXDOMAIN, NULL, 60, 4));
        cr_assert_leq(vg_rcache_count(c), 3);
    }
    vg_rcache_clear(c);
    cr_assert_eq(vg_rcache_count(c), 0);
    vg_rcache_free(c);
}

/* ---- names -------------------------------------------------------------------------------- */

Test(names, qualify)
{
    const char *zones[] = {"vm.test", "vm2.test"};
    char out[254];
    cr_assert_eq(vg_res_qualify("web1", zones, 2, out), VG_RES_OK);
    cr_assert_str_eq(out, "web1.vm.test", "short names go to the first zone");
    cr_assert_eq(vg_res_qualify("WEB1.VM2.Test.", zones, 2, out), VG_RES_OK);
    cr_assert_str_eq(out, "web1.vm2.test");
    cr_assert_eq(vg_res_qualify("web1.example.com", zones, 2, out), VG_RES_OUTSIDE);
    cr_assert_eq(vg_res_qualify("web1.", zones, 2, out), VG_RES_OUTSIDE);
    cr_assert_eq(vg_res_qualify("vm.test", zones, 2, out), VG_RES_OUTSIDE);
    cr_assert_eq(vg_res_qualify("hv1.vmgate-hosts.vm.test", zones, 2, out), VG_RES_BADNAME);
    cr_assert_eq(vg_res_qualify("vmgate-hosts", zones, 2, out), VG_RES_BADNAME);
    cr_assert_eq(vg_res_qualify("_vmgate._tcp.web1.vm.test", zones, 2, out), VG_RES_BADNAME);
    cr_assert_eq(vg_res_qualify("198.18.0.1", zones, 2, out), VG_RES_BADNAME);
    cr_assert_eq(vg_res_qualify("fd00::1", zones, 2, out), VG_RES_BADNAME);
    cr_assert_eq(vg_res_qualify("", zones, 2, out), VG_RES_BADNAME);
    cr_assert_eq(vg_res_qualify("a b", zones, 2, out), VG_RES_BADNAME);
    cr_assert_eq(vg_res_qualify("web1", NULL, 0, out), VG_RES_OK);
    cr_assert_str_eq(out, "web1", "no zone: any host name as it is");
    /* 240 octets is the longest VM name: _vmgate._tcp. must fit in 253 */
    char n[300];
    memset(n, 'a', 63);
    memset(n + 64, 'b', 63);
    memset(n + 128, 'c', 63);
    n[63] = n[127] = n[191] = '.';
    memset(n + 192, 'd', 40);
    strcpy(n + 232, ".vm.test"); /* 240 */
    cr_assert_eq(strlen(n), 240);
    cr_assert_eq(vg_res_qualify(n, zones, 2, out), VG_RES_OK);
    memmove(n + 1, n, strlen(n) + 1); /* 241 */
    cr_assert_eq(vg_res_qualify(n, zones, 2, out), VG_RES_BADNAME);
}

Test(names, exit_codes_and_strings)
{
    cr_assert_eq(vg_exit_of_res(VG_RES_NXDOMAIN), 10);
    cr_assert_eq(vg_exit_of_res(VG_RES_NODATA), 10);
    cr_assert_eq(vg_exit_of_res(VG_RES_TIMEOUT), 11);
    cr_assert_eq(vg_exit_of_res(VG_RES_UNREACHABLE), 11);
    cr_assert_eq(vg_exit_of_res(VG_RES_SERVFAIL), 12);
    cr_assert_eq(vg_exit_of_res(VG_RES_BADNAME), 65);
    cr_assert_eq(vg_exit_of_res(VG_RES_OUTSIDE), 65);
    for (int s = VG_RES_OK; s <= VG_RES_ERROR; s++) {
        cr_assert_not_null(vg_res_strerror((enum vg_res_status)s));
        cr_assert_neq(strcmp(vg_res_token((enum vg_res_status)s), "error"), s == VG_RES_ERROR);
    }
}

Test(names, lookup_outcomes)
{
    /* one mapping for the chaining gateway's reply (docs/gateway.md, chaining outcome) and
     * vmgate-connect's exit code (docs/clients.md) */
    static const struct {
        enum vg_res_status st;
        enum vg_outcome o;
        int socks, http, exit;
    } w[] = {
        {VG_RES_OK, VG_OUT_OK, 0x00, 200, 0},
        {VG_RES_NXDOMAIN, VG_OUT_DNS_NO_SUCH_VM, 0x04, 502, 10},
        {VG_RES_NODATA, VG_OUT_DNS_NO_SUCH_VM, 0x04, 502, 10},
        {VG_RES_TIMEOUT, VG_OUT_DNS_TIMEOUT, 0x06, 504, 11},
        {VG_RES_UNREACHABLE, VG_OUT_DNS_UNREACHABLE, 0x04, 502, 11},
        {VG_RES_SERVFAIL, VG_OUT_DNS_FAILURE, 0x04, 502, 12},
        {VG_RES_REFUSED, VG_OUT_DNS_FAILURE, 0x04, 502, 12},
        {VG_RES_BADRESP, VG_OUT_DNS_FAILURE, 0x04, 502, 12},
        {VG_RES_BADNAME, VG_OUT_BAD_NAME, 0x02, 403, 65},
        {VG_RES_OUTSIDE, VG_OUT_BAD_NAME, 0x02, 403, 65},
        {VG_RES_OFFZONE, VG_OUT_DNS_FAILURE, 0x04, 502, 12},
        {VG_RES_BADADDR, VG_OUT_DNS_FAILURE, 0x04, 502, 12},
        {VG_RES_NOMEM, VG_OUT_DNS_LOCAL, 0x04, 502, 1},
        {VG_RES_CANCELLED, VG_OUT_DNS_LOCAL, 0x04, 502, 1},
        {VG_RES_ERROR, VG_OUT_DNS_FAILURE, 0x04, 502, 12},
    };
    cr_assert_eq(sizeof w / sizeof w[0], VG_RES_ERROR + 1, "a status is not tested");
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
        enum vg_outcome o = vg_res_outcome(w[i].st);
        cr_assert_eq(o, w[i].o, "%s", vg_res_token(w[i].st));
        cr_assert_eq(vg_outcome_socks(o), w[i].socks, "%s", vg_res_token(w[i].st));
        cr_assert_eq(vg_outcome_http(o), w[i].http, "%s", vg_res_token(w[i].st));
        cr_assert_eq((int)vg_exit_of_res(w[i].st), w[i].exit, "%s", vg_res_token(w[i].st));
    }
}

/* ---- vmgate-connect command line and credentials ------------------------------------------ */

static enum vg_args parse(struct vg_connect_opts *o, char *err, ...)
{
    char *argv[20];
    int argc = 0;
    va_list ap;
    va_start(ap, err);
    argv[argc++] = "vmgate-connect";
    for (char *a; (a = va_arg(ap, char *)) != NULL;)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    err[0] = '\0';
    return vg_connect_parse_args(argc, argv, o, err, 256);
}

Test(args, connect_command_line)
{
    struct vg_connect_opts o;
    char err[256];
    cr_assert_eq(parse(&o, err, "web1.vm.test", "22", NULL), VG_ARGS_OK);
    cr_assert_str_eq(o.host, "web1.vm.test");
    cr_assert_eq(o.port, 22);
    cr_assert_eq(o.timeout, 20);
    cr_assert_eq(o.connect_timeout, 3);
    cr_assert_not(o.fdpass);
    cr_assert_eq(parse(&o, err, "-c", "/x.conf", "--server", "127.0.0.1:53", "--user", "bob",
                       "--fdpass", "-t", "7", "--connect-timeout", "1", "-v", "web1", "2222", NULL),
                 VG_ARGS_OK);
    cr_assert_str_eq(o.config, "/x.conf");
    cr_assert_str_eq(o.dns_server, "127.0.0.1:53");
    cr_assert_str_eq(o.user, "bob");
    cr_assert(o.fdpass && o.verbose);
    cr_assert_eq(o.timeout, 7);
    cr_assert_eq(o.connect_timeout, 1);
    cr_assert_eq(o.port, 2222);
    cr_assert_eq(parse(&o, err, "-g", "[::1]:1080", "web1", "22", NULL), VG_ARGS_OK);
    cr_assert_str_eq(o.gateway, "[::1]:1080");

    cr_assert_eq(parse(&o, err, "--help", NULL), VG_ARGS_HELP);
    cr_assert_eq(parse(&o, err, "-V", NULL), VG_ARGS_VERSION);
    cr_assert_eq(parse(&o, err, "web1", NULL), VG_ARGS_ERROR);
    cr_assert_not_null(strstr(err, "HOST PORT"), "%s", err);
    cr_assert_eq(parse(&o, err, "web1", "22", "extra", NULL), VG_ARGS_ERROR);
    cr_assert_eq(parse(&o, err, "web1", "22x", NULL), VG_ARGS_ERROR);
    cr_assert_not_null(strstr(err, "22x"), "%s", err);
    cr_assert_eq(parse(&o, err, "web1", "0", NULL), VG_ARGS_ERROR);
    cr_assert_eq(parse(&o, err, "web1", "65536", NULL), VG_ARGS_ERROR);
    cr_assert_eq(parse(&o, err, "-t", "0", "web1", "22", NULL), VG_ARGS_ERROR);
    cr_assert_eq(parse(&o, err, "-t", "5s", "web1", "22", NULL), VG_ARGS_ERROR);
    cr_assert_eq(parse(&o, err, "--bogus", "web1", "22", NULL), VG_ARGS_ERROR);
    cr_assert_not_null(strstr(err, "--bogus"), "%s", err);
    cr_assert_eq(parse(&o, err, "-g", "hv1:1080", "web1", "22", NULL), VG_ARGS_ERROR);
    cr_assert_eq(parse(&o, err, "--user", "", "web1", "22", NULL), VG_ARGS_ERROR);
    cr_assert_eq(parse(&o, err, "web1", "22", "-v", NULL), VG_ARGS_ERROR,
                 "options after HOST PORT are not options (ProxyCommand %%h %%p)");
    cr_assert_eq(parse(&o, err, "-t", NULL), VG_ARGS_ERROR);
}

Test(args, resolve_command_line)
{
    struct vg_resolve_opts o;
    char err[256];
    char *a1[] = {"vmgate-resolve", "--json", "--server", "127.0.0.1:5353", "web1", NULL};
    cr_assert_eq(vg_resolve_parse_args(5, a1, &o, err, sizeof err), VG_ARGS_OK);
    cr_assert(o.json);
    cr_assert_str_eq(o.dns_server, "127.0.0.1:5353");
    cr_assert_str_eq(o.name, "web1");
    char *a2[] = {"vmgate-resolve", NULL};
    cr_assert_eq(vg_resolve_parse_args(1, a2, &o, err, sizeof err), VG_ARGS_ERROR);
}

static char tmpdir[64];

static void creds_setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vg_test_resolve.XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}
static void creds_teardown(void)
{
    char p[128];
    snprintf(p, sizeof p, "%s/pw", tmpdir);
    unlink(p);
    snprintf(p, sizeof p, "%s/c.conf", tmpdir);
    unlink(p);
    rmdir(tmpdir);
}

Test(args, credentials_precedence, .init = creds_setup, .fini = creds_teardown)
{
    char p[128], conf[128], err[256];
    snprintf(p, sizeof p, "%s/pw", tmpdir);
    snprintf(conf, sizeof conf, "%s/c.conf", tmpdir);
    FILE *f = fopen(p, "w");
    fputs("from-file\r\nsecond line\n", f);
    fclose(f);
    f = fopen(conf, "w");
    fprintf(f, "[dns]\nzone = vm.test\n[client]\nuser = cfguser\npassword = cfgpass\n"
               "server = 127.0.0.1:1080\n");
    fclose(f);
    struct vg_config *cfg = vg_client_config(conf, NULL, "198.18.0.53:53", err, sizeof err);
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_str_eq(cfg->server, "198.18.0.53:53", "--server replaces [dns] server");
    cr_assert_str_eq(cfg->client_server, "127.0.0.1:1080");
    struct vg_creds c;

    cr_assert(vg_client_creds(NULL, NULL, NULL, cfg, &c, err, sizeof err));
    cr_assert(c.set);
    cr_assert_str_eq(c.user, "cfguser");
    cr_assert_str_eq(c.pass, "cfgpass");
    cr_assert(vg_client_creds(NULL, "envuser", "envpass", cfg, &c, err, sizeof err));
    cr_assert_str_eq(c.user, "envuser");
    cr_assert_str_eq(c.pass, "envpass");
    cr_assert(vg_client_creds("optuser", "envuser", NULL, cfg, &c, err, sizeof err));
    cr_assert_str_eq(c.user, "optuser");
    cr_assert_str_eq(c.pass, "cfgpass");
    cfg->client_password_file = strdup(p); /* freed by vg_config_free (same allocator: libc) */
    cr_assert(vg_client_creds(NULL, NULL, NULL, cfg, &c, err, sizeof err));
    cr_assert_str_eq(c.pass, "from-file", "first line, CR LF stripped; file beats password");
    free(cfg->client_password_file);
    cfg->client_password_file = strdup("/nonexistent/pw");
    cr_assert_not(vg_client_creds(NULL, NULL, NULL, cfg, &c, err, sizeof err));
    cr_assert_not_null(strstr(err, "/nonexistent/pw"), "%s", err);
    free(cfg->client_password_file);
    cfg->client_password_file = NULL;
    free(cfg->client_password);
    cfg->client_password = NULL;
    cr_assert_not(vg_client_creds(NULL, NULL, NULL, cfg, &c, err, sizeof err));
    cr_assert_not_null(strstr(err, "no password"), "%s", err);
    free(cfg->client_user);
    cfg->client_user = NULL;
    cr_assert(vg_client_creds(NULL, NULL, NULL, cfg, &c, err, sizeof err));
    cr_assert_not(c.set, "no user anywhere: anonymous");
    char longu[300];
    memset(longu, 'u', 256);
    longu[256] = '\0';
    cr_assert_not(vg_client_creds(longu, NULL, "x", cfg, &c, err, sizeof err));
    vg_config_free(cfg);

    cr_assert_null(vg_client_config("/nonexistent/c.conf", NULL, NULL, err, sizeof err));
    cr_assert_null(vg_client_config(NULL, "/nonexistent/env.conf", NULL, err, sizeof err),
                   "$VMGATE_CONFIG must exist when set");
}

/* ---- a gateway's refusal: exit codes and messages ------------------------------------------- */

/* (the SOCKS5 bytes, both ways, are tested with the codec: tests/unit/test_proto.c) */

static struct vg_s5c_answers replied(int rep)
{
    return (struct vg_s5c_answers){
        .method = 0, .auth_status = -1, .replied = true, .reply = {.rep = (uint8_t)rep}};
}

Test(socks, refusals_map_to_exit_codes)
{
    char msg[512];
    struct vg_s5c_answers a = replied(2);
    cr_assert_eq(vg_client_refusal(&a, false, "w.vm.test", 22, "gw", msg, sizeof msg), 22);
    cr_assert_not_null(strstr(msg, "not allowed"), "%s", msg);
    a = replied(4);
    cr_assert_eq(vg_client_refusal(&a, false, "w.vm.test", 22, "gw", msg, sizeof msg), 23);
    cr_assert_not_null(strstr(msg, "gateway gw refused w.vm.test:22: VM unreachable (0x04"), "%s",
                       msg);
    a = replied(5);
    cr_assert_eq(vg_client_refusal(&a, false, "w.vm.test", 22, "gw", msg, sizeof msg), 24);
    cr_assert_not_null(strstr(msg, "port closed"), "%s", msg);
    a = replied(6);
    cr_assert_eq(vg_client_refusal(&a, false, "w.vm.test", 22, "gw", msg, sizeof msg), 25);
    a = replied(1);
    cr_assert_eq(vg_client_refusal(&a, false, "w.vm.test", 22, "gw", msg, sizeof msg), 26);
    for (int rep = 7; rep <= 0xff; rep++) {
        a = replied(rep);
        cr_assert_eq(vg_client_refusal(&a, false, "w.vm.test", 22, "gw", msg, sizeof msg), 26,
                     "0x%02x", rep);
    }
    a = (struct vg_s5c_answers){.method = 0xff, .auth_status = -1};
    cr_assert_eq(vg_client_refusal(&a, false, "w.vm.test", 22, "gw", msg, sizeof msg), 21);
    cr_assert_not_null(strstr(msg, "VMGATE_USER"), "%s", msg);
    cr_assert_eq(vg_client_refusal(&a, true, "w.vm.test", 22, "gw", msg, sizeof msg), 21);
    cr_assert_not_null(strstr(msg, "no username/password method"), "%s", msg);
    a = (struct vg_s5c_answers){.method = 2, .auth_status = 1};
    cr_assert_eq(vg_client_refusal(&a, true, "w.vm.test", 22, "gw", msg, sizeof msg), 21);
    cr_assert_not_null(strstr(msg, "wrong user name or password"), "%s", msg);
    a = (struct vg_s5c_answers){.method = 0, .auth_status = -1};
    cr_assert_eq(vg_client_refusal(&a, true, "w.vm.test", 22, "gw", msg, sizeof msg), 26,
                 "a method we did not offer");
    cr_assert_not_null(strstr(msg, "not offered"), "%s", msg);
}

/* ---- relay and descriptor passing over socket pairs ---------------------------------------- */

static void read_all(int fd, char *buf, size_t cap, size_t *len)
{
    *len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + *len, cap - *len);
        cr_assert_geq(n, 0);
        if (n == 0)
            return;
        *len += (size_t)n;
    }
}

Test(relay, exact_half_close_both_ways)
{
    int in[2], out[2], gw[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, in), 0);
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, out), 0);
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, gw), 0);
    /* the client wrote its request and ended its input; the "gateway" sent its answer and its
     * end of data: both directions must arrive whole, each followed by its EOF */
    cr_assert_eq(write(in[0], "request\n", 8), 8);
    close(in[0]);
    cr_assert_eq(write(gw[0], "banner+reply\n", 13), 13);
    shutdown(gw[0], SHUT_WR);
    cr_assert_eq(vg_relay(in[1], out[1], gw[1]), 0);
    char buf[64];
    size_t n;
    read_all(gw[0], buf, sizeof buf, &n);
    cr_assert_eq(n, 8);
    cr_assert_arr_eq(buf, "request\n", 8);
    read_all(out[0], buf, sizeof buf, &n); /* EOF: relay closed its stdout */
    cr_assert_eq(n, 13);
    cr_assert_arr_eq(buf, "banner+reply\n", 13);
    close(in[1]);
    close(gw[0]);
    close(gw[1]);
    close(out[0]);
}

Test(relay, reset_from_the_gateway_is_an_error)
{
    int in[2], out[2], gw[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, in), 0);
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, out), 0);
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, gw), 0);
    /* unread data + close on an AF_UNIX stream: the reader gets ECONNRESET */
    cr_assert_eq(write(gw[1], "x", 1), 1);
    close(gw[0]);
    cr_assert_eq(vg_relay(in[1], out[1], gw[1]), -1);
    close(in[0]);
    close(in[1]);
    close(out[0]);
    close(out[1]);
    close(gw[1]);
}

Test(relay, fd_passing)
{
    int chan[2], pair[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, chan), 0);
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    cr_assert_eq(vg_send_fd(chan[0], pair[0]), 0);
    char c;
    struct iovec iov = {&c, 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    cr_assert_eq(recvmsg(chan[1], &m, 0), 1, "one data octet, as ssh's mm_receive_fd wants");
    struct cmsghdr *h = CMSG_FIRSTHDR(&m);
    cr_assert_not_null(h);
    cr_assert_eq(h->cmsg_type, SCM_RIGHTS);
    int fd;
    memcpy(&fd, CMSG_DATA(h), sizeof fd);
    cr_assert_eq(write(fd, "hi", 2), 2);
    char buf[2];
    cr_assert_eq(read(pair[1], buf, 2), 2);
    cr_assert_arr_eq(buf, "hi", 2);
    int p[2];
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(vg_send_fd(p[1], pair[0]), -1, "a pipe cannot carry descriptors");
    close(p[0]);
    close(p[1]);
    close(fd);
    close(pair[0]);
    close(pair[1]);
    close(chan[0]);
    close(chan[1]);
}

/* ---- the resolver against a fake DNS responder --------------------------------------------- */

struct fake_dns {
    int fd;
    uint16_t port;
    struct event *ev;
    unsigned queries;
    bool drop; /* answer nothing (timeouts) */
};

static void fake_dns_read(evutil_socket_t fd, short what, void *arg)
{
    struct fake_dns *d = arg;
    uint8_t q[512];
    struct sockaddr_storage from;
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(fd, q, sizeof q, 0, (struct sockaddr *)&from, &fl);
    if (n < 17)
        return;
    d->queries++;
    if (d->drop)
        return;
    /* the question: id, name (uncompressed labels), type */
    char name[256];
    size_t off = 12, nl = 0;
    while (off < (size_t)n && q[off] != 0) {
        unsigned l = q[off++];
        if (nl)
            name[nl++] = '.';
        for (unsigned i = 0; i < l && off < (size_t)n && nl < 250; i++)
            name[nl++] = (char)q[off++];
    }
    name[nl] = '\0';
    off++;
    unsigned type = (unsigned)q[off] << 8 | q[off + 1];
    struct msg m;
    zone_answer(&m, (unsigned)q[0] << 8 | q[1], name, type);
    m.b[2] |= q[2] & 1; /* copy RD */
    sendto(fd, m.b, m.n, 0, (struct sockaddr *)&from, fl);
}

static void fake_dns_start(struct fake_dns *d, struct event_base *base)
{
    memset(d, 0, sizeof *d);
    d->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    cr_assert_geq(d->fd, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(d->fd, (struct sockaddr *)&sin, sizeof sin), 0);
    socklen_t sl = sizeof sin;
    getsockname(d->fd, (struct sockaddr *)&sin, &sl);
    d->port = ntohs(sin.sin_port);
    d->ev = event_new(base, d->fd, EV_READ | EV_PERSIST, fake_dns_read, d);
    event_add(d->ev, NULL);
}

static void fake_dns_stop(struct fake_dns *d)
{
    event_free(d->ev);
    close(d->fd);
}

struct got {
    int calls;
    enum vg_res_status st;
    struct vg_vm_location loc;
    bool *inside;
    struct vg_resolver *r; /* set: copy vg_resolver_why into why */
    char why[256];
};

static void on_result(enum vg_res_status st, const struct vg_vm_location *loc, void *arg)
{
    struct got *g = arg;
    if (g->r)
        snprintf(g->why, sizeof g->why, "%s", vg_resolver_why(g->r));
    cr_assert_not(g->inside && *g->inside, "callback ran inside vg_resolve");
    g->calls++;
    g->st = st;
    if (loc)
        g->loc = *loc;
    else
        cr_assert_neq(st, VG_RES_OK);
}

static uint64_t fake_now;
static uint64_t fake_clock(void *arg)
{
    return fake_now;
}

static struct vg_config *fake_cfg(uint16_t port)
{
    struct vg_config *cfg = vg_config_defaults();
    char s[64];
    snprintf(s, sizeof s, "127.0.0.1:%u", port);
    cfg->server = strdup(s);
    cfg->zones = calloc(1, sizeof *cfg->zones);
    cfg->zones[0] = strdup("vm.test");
    cfg->nzones = 1;
    cfg->dns_timeout = 1;
    return cfg;
}

/* Run the loop until *calls reaches want (at most 5 s). */
static void run_until(struct event_base *base, const int *calls, int want)
{
    uint64_t end = vg_now_ms() + 5000;
    do {
        if (*calls >= want)
            break;
        event_base_loop(base, EVLOOP_ONCE);
    } while (vg_now_ms() < end);
    cr_assert_eq(*calls, want);
}

Test(resolver, against_fake_dns)
{
    struct event_base *base = event_base_new();
    struct fake_dns d;
    char err[256];
    fake_dns_start(&d, base);
    struct vg_config *cfg = fake_cfg(d.port);
    struct vg_resolver *r = vg_resolver_new(base, cfg, err, sizeof err);
    cr_assert_not_null(r, "%s", err);
    vg_config_free(cfg);
    vg_resolver_set_clock(r, fake_clock, NULL);
    fake_now = 1000000;

    /* two requests for one name at once: one set of four queries, two callbacks */
    bool inside = true;
    struct got g1 = {.inside = &inside}, g2 = {.inside = &inside};
    cr_assert_not_null(vg_resolve(r, "web1", on_result, &g1));
    cr_assert_not_null(vg_resolve(r, "WEB1.vm.test.", on_result, &g2));
    inside = false;
    run_until(base, &g2.calls, 1);
    run_until(base, &g1.calls, 1);
    cr_assert_eq(g1.st, VG_RES_OK);
    cr_assert_str_eq(g1.loc.name, "web1.vm.test");
    cr_assert_str_eq(g1.loc.owner, "hv1");
    cr_assert_eq(g1.loc.port, 1081);
    cr_assert_eq(g1.loc.naddrs, 2);
    cr_assert_eq(g1.loc.ttl, 20);
    cr_assert_not(g1.loc.from_cache);
    cr_assert_eq(d.queries, 4, "coalesced: %u queries", d.queries);
    struct vg_resolver_stats s;
    vg_resolver_stats(r, &s);
    cr_assert_eq(s.coalesced, 1);
    cr_assert_eq(s.cache_entries, 1);

    /* from the cache (still from the loop) until the TTL (20 s) passes */
    struct got g3 = {.inside = &inside};
    fake_now += 19000;
    inside = true;
    vg_resolve(r, "web1", on_result, &g3);
    inside = false;
    cr_assert_eq(g3.calls, 0);
    run_until(base, &g3.calls, 1);
    cr_assert(g3.loc.from_cache);
    cr_assert_eq(g3.loc.ttl, 1);
    cr_assert_eq(d.queries, 4);
    fake_now += 1000;
    struct got g4 = {0};
    vg_resolve(r, "web1", on_result, &g4);
    run_until(base, &g4.calls, 1);
    cr_assert_not(g4.loc.from_cache);
    cr_assert_eq(d.queries, 8, "expired: asked again");

    /* no such VM: negative answer, cached 5 s */
    struct got g5 = {0};
    vg_resolve(r, "nosuch", on_result, &g5);
    run_until(base, &g5.calls, 1);
    cr_assert_eq(g5.st, VG_RES_NXDOMAIN);
    unsigned q = d.queries;
    struct got g6 = {0};
    fake_now += 4000;
    vg_resolve(r, "nosuch", on_result, &g6);
    run_until(base, &g6.calls, 1);
    cr_assert_eq(g6.st, VG_RES_NXDOMAIN);
    cr_assert_eq(d.queries, q);
    fake_now += 1000;
    struct got g7 = {0};
    vg_resolve(r, "nosuch", on_result, &g7);
    run_until(base, &g7.calls, 1);
    cr_assert_eq(d.queries, q + 4);

    /* web2: no SRV (1080), owner from a split TXT */
    struct got g8 = {0};
    vg_resolve(r, "web2", on_result, &g8);
    run_until(base, &g8.calls, 1);
    cr_assert_eq(g8.st, VG_RES_OK);
    cr_assert_eq(g8.loc.port, 1080);
    cr_assert_str_eq(g8.loc.owner, "hv2");

    /* bad and outside names never reach the network, and are answered from the loop */
    struct got g9 = {.inside = &inside}, g10 = {0};
    q = d.queries;
    inside = true;
    vg_resolve(r, "bad_name", on_result, &g9);
    inside = false;
    vg_resolve(r, "web1.example.com", on_result, &g10);
    run_until(base, &g10.calls, 1);
    run_until(base, &g9.calls, 1);
    cr_assert_eq(g9.st, VG_RES_BADNAME);
    cr_assert_eq(g10.st, VG_RES_OUTSIDE);
    cr_assert_eq(d.queries, q);

    /* cancel: the callback never runs, the answer still lands in the cache */
    vg_resolver_flush(r);
    struct got g11 = {0};
    struct vg_resolve_req *req = vg_resolve(r, "web1", on_result, &g11);
    vg_resolve_cancel(req);
    for (int i = 0; i < 200 && (vg_resolver_stats(r, &s), s.cache_entries == 0); i++)
        event_base_loop(base, EVLOOP_ONCE); /* the c-ares timer keeps this from blocking */
    cr_assert_eq(s.cache_entries, 1);
    struct got g12 = {0};
    vg_resolve(r, "web1", on_result, &g12);
    run_until(base, &g12.calls, 1);
    cr_assert_eq(g11.calls, 0);
    cr_assert(g12.loc.from_cache, "the cancelled lookup still filled the cache");

    /* pending at free: cancelled */
    struct got g13 = {0};
    vg_resolver_flush(r);
    vg_resolve(r, "web1", on_result, &g13);
    vg_resolver_free(r);
    cr_assert_eq(g13.calls, 1);
    cr_assert_eq(g13.st, VG_RES_CANCELLED);
    fake_dns_stop(&d);
    event_base_free(base);
}

Test(resolver, refusals_and_caps_from_the_configuration)
{
    struct event_base *base = event_base_new();
    struct fake_dns d;
    char err[256];
    fake_dns_start(&d, base);
    struct vg_config *cfg = fake_cfg(d.port);
    cfg->cache_ttl_max = 2;
    cfg->cache_neg_ttl_max = 60; /* more than cache-ttl-max: held to it */
    struct vg_resolver *r = vg_resolver_new(base, cfg, err, sizeof err);
    cr_assert_not_null(r, "%s", err);
    vg_resolver_set_clock(r, fake_clock, NULL);
    fake_now = 5000000;

    /* a CNAME out of the zone: refused with the reason, not cached */
    struct got g = {.r = r};
    vg_resolve(r, "alias", on_result, &g);
    run_until(base, &g.calls, 1);
    cr_assert_eq(g.st, VG_RES_OFFZONE);
    cr_assert_str_eq(g.why, "CNAME alias.vm.test -> gw.evil.example leaves zone vm.test");
    struct vg_resolver_stats s;
    vg_resolver_stats(r, &s);
    cr_assert_eq(s.cache_entries, 0, "a refusal is not cached");
    /* loopback without host-networks */
    struct got g2 = {.r = r};
    vg_resolve(r, "lo", on_result, &g2);
    run_until(base, &g2.calls, 1);
    cr_assert_eq(g2.st, VG_RES_BADADDR);
    cr_assert(strstr(g2.why, "address 127.0.0.1 of lo.vm.test"), "%s", g2.why);
    /* a week's TTL is held to cache-ttl-max 2 s */
    struct got g3 = {.r = r};
    vg_resolve(r, "big", on_result, &g3);
    run_until(base, &g3.calls, 1);
    cr_assert_eq(g3.st, VG_RES_OK);
    cr_assert_eq(g3.loc.ttl, 2);
    cr_assert_str_eq(g3.why, "");
    unsigned q = d.queries;
    fake_now += 1999;
    struct got g4 = {0};
    vg_resolve(r, "big", on_result, &g4);
    run_until(base, &g4.calls, 1);
    cr_assert(g4.loc.from_cache);
    cr_assert_eq(d.queries, q);
    fake_now += 1;
    struct got g5 = {0};
    vg_resolve(r, "big", on_result, &g5);
    run_until(base, &g5.calls, 1);
    cr_assert_not(g5.loc.from_cache, "expired after the cap");
    cr_assert_eq(d.queries, q + 4);
    vg_resolver_free(r);

    /* host-networks that list loopback make it usable; a bad list is refused */
    cfg->host_networks = strdup("127.0.0.0/8");
    r = vg_resolver_new(base, cfg, err, sizeof err);
    cr_assert_not_null(r, "%s", err);
    struct got g6 = {.r = r};
    vg_resolve(r, "lo", on_result, &g6);
    run_until(base, &g6.calls, 1);
    cr_assert_eq(g6.st, VG_RES_OK);
    cr_assert_eq(g6.loc.naddrs, 1);
    struct got g7 = {.r = r};
    vg_resolve(r, "web1", on_result, &g7);
    run_until(base, &g7.calls, 1);
    cr_assert_eq(g7.st, VG_RES_BADADDR, "198.18.0.11 and fd00::11 are outside 127.0.0.0/8");
    cr_assert(strstr(g7.why, "outside [dns] host-networks"), "%s", g7.why);
    vg_resolver_free(r);
    free(cfg->host_networks);
    cfg->host_networks = strdup("127.0.0.0/8, web1.vm.test");
    cr_assert_null(vg_resolver_new(base, cfg, err, sizeof err));
    cr_assert(strstr(err, "host-networks: 'web1.vm.test'"), "%s", err);
    vg_config_free(cfg);
    fake_dns_stop(&d);
    event_base_free(base);
}

Test(resolver, timeout_when_nothing_answers, .timeout = 10)
{
    struct event_base *base = event_base_new();
    struct fake_dns d;
    char err[256];
    fake_dns_start(&d, base);
    d.drop = true;
    struct vg_config *cfg = fake_cfg(d.port);
    struct vg_resolver *r = vg_resolver_new(base, cfg, err, sizeof err);
    cr_assert_not_null(r, "%s", err);
    vg_config_free(cfg);
    struct got g = {0};
    vg_resolve(r, "web1", on_result, &g);
    run_until(base, &g.calls, 1);
    cr_assert_eq(g.st, VG_RES_TIMEOUT);
    cr_assert_geq(d.queries, 8, "two tries of four queries: %u", d.queries);
    struct vg_resolver_stats s;
    vg_resolver_stats(r, &s);
    cr_assert_eq(s.cache_entries, 0, "failures are not cached");
    vg_resolver_free(r);
    fake_dns_stop(&d);
    event_base_free(base);
}

Test(resolver, bad_server_list)
{
    struct event_base *base = event_base_new();
    struct vg_config *cfg = fake_cfg(53);
    char err[256];
    free(cfg->server);
    cfg->server = strdup("ns1.example:53");
    cr_assert_null(vg_resolver_new(base, cfg, err, sizeof err));
    cr_assert_not_null(strstr(err, "ns1.example"), "%s", err);
    free(cfg->server);
    cfg->server = strdup("127.0.0.1:5353, [::1]:5353 127.0.0.2");
    struct vg_resolver *r = vg_resolver_new(base, cfg, err, sizeof err);
    cr_assert_not_null(r, "%s", err);
    vg_resolver_free(r);
    vg_config_free(cfg);
    event_base_free(base);
}
