#include "reg_msg.h"

#include "vg_addr.h"
#include "vg_alloc.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TSIG_FUDGE 300

/* RFC 2136 section names over the RFC 1035 sections ldns knows */
#define SEC_PREREQ LDNS_SECTION_ANSWER
#define SEC_UPDATE LDNS_SECTION_AUTHORITY

/* ---- identity ---------------------------------------------------------------------------- */

struct addr_ctx {
    struct reg_ident *id;
    char *err;
    size_t errlen;
};

static bool add_addr(const char *item, void *arg)
{
    struct addr_ctx *c = arg;
    char buf[INET6_ADDRSTRLEN + 2];
    size_t n = strlen(item);
    if (n >= 2 && item[0] == '[' && item[n - 1] == ']') {
        item++;
        n -= 2;
    }
    if (n >= sizeof buf) {
        snprintf(c->err, c->errlen, "'%s' is not an IPv4 or IPv6 address", item);
        return false;
    }
    memcpy(buf, item, n);
    buf[n] = '\0';
    if (inet_pton(AF_INET, buf, &c->id->v4[c->id->nv4 < REG_MAX_ADDRS ? c->id->nv4 : 0]) == 1) {
        if (c->id->nv4 >= REG_MAX_ADDRS)
            goto toomany;
        c->id->nv4++;
        return true;
    }
    if (inet_pton(AF_INET6, buf, &c->id->v6[c->id->nv6 < REG_MAX_ADDRS ? c->id->nv6 : 0]) == 1) {
        if (c->id->nv6 >= REG_MAX_ADDRS)
            goto toomany;
        c->id->nv6++;
        return true;
    }
    snprintf(c->err, c->errlen, "'%s' is not an IPv4 or IPv6 address", buf);
    return false;
toomany:
    snprintf(c->err, c->errlen, "more than %d addresses of one family", REG_MAX_ADDRS);
    return false;
}

bool reg_ident_init(struct reg_ident *id, const char *host, const char *addresses, uint16_t port,
                    uint32_t ttl, char *err, size_t errlen)
{
    memset(id, 0, sizeof *id);
    enum vg_name_status st = vg_name_normalize(host, strlen(host), id->host);
    if (st != VG_NAME_OK) {
        snprintf(err, errlen, "[host] name '%s': %s", host, vg_name_strerror(st));
        return false;
    }
    char *copy = vg_strdup(addresses);
    if (copy == NULL) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    char msg[200] = "";
    struct addr_ctx c = {id, msg, sizeof msg};
    bool ok = vg_list_foreach(copy, add_addr, &c);
    vg_free(copy);
    if (!ok) {
        snprintf(err, errlen, "[host] address: %s", msg);
        return false;
    }
    if (id->nv4 + id->nv6 == 0) {
        snprintf(err, errlen, "[host] address: no address given");
        return false;
    }
    id->port = port;
    id->ttl = ttl;
    return true;
}

/* ---- names ------------------------------------------------------------------------------- */

/* ---- RR construction --------------------------------------------------------------------- */

static ldns_rdf *dname(const char *name)
{
    char buf[VG_NAME_MAX + 2];
    snprintf(buf, sizeof buf, "%s.", name);
    return ldns_dname_new_frm_str(buf);
}

/* An RR with a copy of `owner` and no rdata yet.  TTL is explicit: ldns_rr_new() defaults to 3600,
 * and prerequisite / delete RRs must carry 0. */
static ldns_rr *rr_make(const ldns_rdf *owner, ldns_rr_type type, ldns_rr_class cls, uint32_t ttl)
{
    ldns_rr *rr = ldns_rr_new();
    ldns_rdf *o = ldns_rdf_clone(owner);
    if (rr == NULL || o == NULL) {
        ldns_rr_free(rr);
        ldns_rdf_deep_free(o);
        return NULL;
    }
    ldns_rr_set_owner(rr, o);
    ldns_rr_set_type(rr, type);
    ldns_rr_set_class(rr, cls);
    ldns_rr_set_ttl(rr, ttl);
    return rr;
}

static bool push_rdf(ldns_rr *rr, ldns_rdf *rdf)
{
    if (rdf == NULL)
        return false;
    if (!ldns_rr_push_rdf(rr, rdf)) {
        ldns_rdf_deep_free(rdf);
        return false;
    }
    return true;
}

static ldns_rdf *txt_rdf(const char *text)
{
    uint8_t buf[256];
    size_t n = strlen(text);
    if (n > 255)
        return NULL;
    buf[0] = (uint8_t)n;
    memcpy(buf + 1, text, n);
    return ldns_rdf_new_frm_data(LDNS_RDF_TYPE_STR, n + 1, buf);
}

/* Push rr into a section; frees it on failure. */
static bool put(ldns_pkt *p, ldns_pkt_section sec, ldns_rr *rr)
{
    if (rr == NULL)
        return false;
    if (!ldns_pkt_push_rr(p, sec, rr)) {
        ldns_rr_free(rr);
        return false;
    }
    return true;
}

/* "Delete an RRset" (class ANY, TTL 0, no rdata) or, with type ANY, all RRsets at the name. */
static bool put_delete(ldns_pkt *p, const ldns_rdf *owner, ldns_rr_type type)
{
    return put(p, SEC_UPDATE, rr_make(owner, type, LDNS_RR_CLASS_ANY, 0));
}

static bool put_txt(ldns_pkt *p, ldns_pkt_section sec, const ldns_rdf *owner, const char *text,
                    uint32_t ttl)
{
    ldns_rr *rr = rr_make(owner, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN, ttl);
    if (rr == NULL)
        return false;
    if (!push_rdf(rr, txt_rdf(text))) {
        ldns_rr_free(rr);
        return false;
    }
    return put(p, sec, rr);
}

static bool put_addrs(ldns_pkt *p, const ldns_rdf *owner, const struct reg_ident *id)
{
    for (size_t i = 0; i < id->nv4; i++) {
        ldns_rr *rr = rr_make(owner, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, id->ttl);
        if (rr == NULL || !push_rdf(rr, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_A, 4, &id->v4[i]))) {
            ldns_rr_free(rr);
            return false;
        }
        if (!put(p, SEC_UPDATE, rr))
            return false;
    }
    for (size_t i = 0; i < id->nv6; i++) {
        ldns_rr *rr = rr_make(owner, LDNS_RR_TYPE_AAAA, LDNS_RR_CLASS_IN, id->ttl);
        if (rr == NULL ||
            !push_rdf(rr, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_AAAA, 16, &id->v6[i]))) {
            ldns_rr_free(rr);
            return false;
        }
        if (!put(p, SEC_UPDATE, rr))
            return false;
    }
    return true;
}

static bool put_srv(ldns_pkt *p, const ldns_rdf *owner, const ldns_rdf *target,
                    const struct reg_ident *id)
{
    ldns_rr *rr = rr_make(owner, LDNS_RR_TYPE_SRV, LDNS_RR_CLASS_IN, id->ttl);
    if (rr == NULL)
        return false;
    if (!push_rdf(rr, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, 0)) ||
        !push_rdf(rr, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, 0)) ||
        !push_rdf(rr, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, id->port)) ||
        !push_rdf(rr, ldns_rdf_clone(target))) {
        ldns_rr_free(rr);
        return false;
    }
    return put(p, SEC_UPDATE, rr);
}

static bool put_item(ldns_pkt *p, const struct reg_ident *id, const ldns_rdf *target,
                     const char *owner_txt, const struct reg_item *it)
{
    char srvname[VG_NAME_MAX + 1], txt[300];
    bool ok = false;
    ldns_rdf *n = dname(it->name), *srv = NULL;
    if (n == NULL)
        return false;
    if (it->mode != REG_M_HOSTDEL) {
        if (!vg_rec_srv_name(it->name, srvname) || (srv = dname(srvname)) == NULL)
            goto done;
    }
    switch (it->mode) {
    case REG_M_FRESH:
        /* RFC 2136 2.4.5: name is not in use (class NONE, type ANY) */
        if (!put(p, SEC_PREREQ, rr_make(n, LDNS_RR_TYPE_ANY, LDNS_RR_CLASS_NONE, 0)))
            goto done;
        break;
    case REG_M_OWN:
        /* 2.4.2: value-dependent RRset exists: the TXT RRset is exactly our owner record */
        if (!put_txt(p, SEC_PREREQ, n, owner_txt, 0))
            goto done;
        if (!put_delete(p, n, LDNS_RR_TYPE_A) || !put_delete(p, n, LDNS_RR_TYPE_AAAA))
            goto done;
        break;
    case REG_M_TAKEOVER:
        /* 2.4.1: an RRset of type TXT exists (value independent): it is some host's VM */
        if (!put(p, SEC_PREREQ, rr_make(n, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_ANY, 0)))
            goto done;
        if (!put_delete(p, n, LDNS_RR_TYPE_A) || !put_delete(p, n, LDNS_RR_TYPE_AAAA) ||
            !put_delete(p, n, LDNS_RR_TYPE_TXT))
            goto done;
        break;
    case REG_M_DEL:
        snprintf(txt, sizeof txt, VG_REC_OWNER_PREFIX "%s", it->arg);
        if (!put_txt(p, SEC_PREREQ, n, txt, 0))
            goto done;
        /* 2.5.3: delete all RRsets from a name */
        ok = put_delete(p, n, LDNS_RR_TYPE_ANY) && put_delete(p, srv, LDNS_RR_TYPE_ANY);
        goto done;
    case REG_M_HOSTDEL:
        ok = put_txt(p, SEC_PREREQ, n, it->arg, 0) && put_delete(p, n, LDNS_RR_TYPE_ANY);
        goto done;
    }
    /* the three adding modes: publish the records */
    ok = put_delete(p, srv, LDNS_RR_TYPE_SRV) && put_addrs(p, n, id) &&
         put_txt(p, SEC_UPDATE, n, owner_txt, id->ttl) && put_srv(p, srv, target, id);
done:
    ldns_rdf_deep_free(n);
    ldns_rdf_deep_free(srv);
    return ok;
}

ldns_pkt *reg_msg_update(const struct reg_ident *id, const char *zone,
                         const struct reg_item *const *items, size_t n, bool host_record,
                         long long now)
{
    char hostname[VG_NAME_MAX + 1], owner_txt[300], hb[64];
    ldns_rdf *z = NULL, *target = NULL;
    ldns_rr_list *empty = NULL;
    ldns_pkt *p = NULL, *ret = NULL;

    if (!vg_rec_host_name(id->host, zone, hostname))
        return NULL;
    snprintf(owner_txt, sizeof owner_txt, VG_REC_OWNER_PREFIX "%s", id->host);
    if ((z = dname(zone)) == NULL || (target = dname(hostname)) == NULL ||
        (empty = ldns_rr_list_new()) == NULL)
        goto done;
    p = ldns_update_pkt_new(z, LDNS_RR_CLASS_IN, NULL, empty, NULL);
    if (p == NULL)
        goto done;
    z = NULL; /* owned by the packet now */
    ldns_pkt_set_rd(p, false);
    for (size_t i = 0; i < n; i++)
        if (!put_item(p, id, target, owner_txt, items[i]))
            goto done;
    if (host_record) {
        snprintf(hb, sizeof hb, VG_REC_HEARTBEAT_PREFIX "%lld", now);
        if (!put_delete(p, target, LDNS_RR_TYPE_A) || !put_delete(p, target, LDNS_RR_TYPE_AAAA) ||
            !put_delete(p, target, LDNS_RR_TYPE_TXT) || !put_addrs(p, target, id) ||
            !put_txt(p, SEC_UPDATE, target, hb, id->ttl))
            goto done;
    }
    ret = p;
    p = NULL;
done:
    ldns_pkt_free(p);
    ldns_rdf_deep_free(z);
    ldns_rdf_deep_free(target);
    ldns_rr_list_free(empty);
    return ret;
}

size_t reg_msg_item_size(const struct reg_ident *id, const char *zone, const struct reg_item *it,
                         size_t offset)
{
    /* Every name ends in the zone, which the zone section holds at offset 12: a name is written
     * as its own labels plus a pointer the first time, and as a pointer after that -- unless it
     * was first written beyond 16 KiB, where no pointer reaches: then every occurrence costs its
     * labels again. */
    bool far = offset >= 0x3FFF;
    size_t zl = strlen(zone), nl = strlen(it->name), rr = 10, ptr = 2;
    size_t first = (nl > zl ? nl - zl : nl + 1) + ptr;
    size_t again = far ? first : ptr;
    size_t srv_first = strlen(VG_REC_SRV_PREFIX) + (far ? first : ptr);
    size_t srv_again = far ? srv_first : ptr;
    size_t host = strlen(id->host), target = host + strlen(VG_REC_HOSTS_LABEL) + zl + 4;
    size_t owner_txt = 1 + strlen(VG_REC_OWNER_PREFIX) + host;
    size_t naddr = id->nv4 + id->nv6, addr_rdata = id->nv4 * 4 + id->nv6 * 16;
    /* publish: delete SRV RRset, A/AAAA, owner TXT, SRV (rdata names are not compressed) */
    size_t publish = (srv_first + rr) + naddr * (again + rr) + addr_rdata +
                     (again + rr + owner_txt) + (srv_again + rr + 6 + target);
    switch (it->mode) {
    case REG_M_FRESH:
        return first + rr + publish;
    case REG_M_OWN:
        return first + rr + owner_txt + 2 * (again + rr) + publish;
    case REG_M_TAKEOVER:
        return first + rr + 3 * (again + rr) + publish;
    case REG_M_DEL:
        return first + rr + 1 + strlen(VG_REC_OWNER_PREFIX) + strlen(it->arg ? it->arg : "") +
               (again + rr) + (srv_first + rr);
    case REG_M_HOSTDEL:
        return first + rr + 1 + strlen(it->arg ? it->arg : "") + (again + rr);
    }
    return 1024;
}

size_t reg_msg_base_size(const struct reg_ident *id, const char *zone, const struct reg_key *key)
{
    size_t target = strlen(id->host) + strlen(VG_REC_HOSTS_LABEL) + strlen(zone) + 4;
    size_t hostrec = target + 3 * (2 + 10) + id->nv4 * (2 + 10 + 4) + id->nv6 * (2 + 10 + 16) +
                     (2 + 10 + 1 + strlen(VG_REC_HEARTBEAT_PREFIX) + 20);
    size_t tsig = strlen(key->name) + 2 + 10 + strlen(key->algorithm) + 2 + 16 + 64;
    return 12 + strlen(zone) + 2 + 4 + hostrec + tsig;
}

ldns_pkt *reg_msg_query(const char *name, ldns_rr_type type)
{
    ldns_rdf *n = dname(name);
    if (n == NULL)
        return NULL;
    ldns_pkt *p = ldns_pkt_query_new(n, type, LDNS_RR_CLASS_IN, 0);
    if (p == NULL) {
        ldns_rdf_deep_free(n);
        return NULL;
    }
    ldns_pkt_set_rd(p, false);
    return p;
}

/* ---- TSIG -------------------------------------------------------------------------------- */

size_t reg_msg_wire_size(const ldns_pkt *pkt)
{
    ldns_buffer *b = ldns_buffer_new(1u << 20);
    size_t n = 0;
    if (b == NULL)
        return 0;
    if (ldns_pkt2buffer_wire(b, pkt) == LDNS_STATUS_OK)
        n = ldns_buffer_position(b);
    ldns_buffer_free(b);
    return n;
}

enum reg_result reg_msg_sign(ldns_pkt *pkt, const struct reg_key *key, uint16_t id, uint8_t **wire,
                             size_t *len, ldns_rdf **mac)
{
    *wire = NULL;
    *mac = NULL;
    *len = 0;
    ldns_pkt_set_id(pkt, id);
    ldns_pkt_set_rd(pkt, false);
    /* the TSIG RR: key name, class, TTL, rdlength, algorithm, time, fudge, MAC (≤ 64), id, error,
     * other length */
    size_t tsig_len = strlen(key->name) + 1 + 10 + strlen(key->algorithm) + 1 + 6 + 2 + 2 + 64 + 6;
    size_t plain = reg_msg_wire_size(pkt);
    if (plain == 0 || plain + tsig_len > REG_TCP_MAX) {
        *len = plain ? plain + tsig_len : REG_TCP_MAX + 1;
        return REG_ERROR;
    }
    /* ldns wants the algorithm spelled out: an unset one is a NULL dereference in 1.8.3 */
    if (ldns_pkt_tsig_sign(pkt, key->name, key->secret, TSIG_FUDGE, key->algorithm, NULL) !=
        LDNS_STATUS_OK)
        return REG_ERROR;
    if (ldns_pkt2wire(wire, pkt, len) != LDNS_STATUS_OK) {
        free(*wire);
        *wire = NULL;
        return REG_ERROR;
    }
    ldns_rr *tsig = ldns_pkt_tsig(pkt);
    if (tsig == NULL || ldns_rr_rd_count(tsig) < 4 ||
        (*mac = ldns_rdf_clone(ldns_rr_rdf(tsig, 3))) == NULL) {
        free(*wire);
        *wire = NULL;
        return REG_ERROR;
    }
    return REG_OK;
}

bool reg_rcode_is_prereq(int rcode)
{
    return rcode == LDNS_RCODE_YXDOMAIN || rcode == LDNS_RCODE_YXRRSET ||
           rcode == LDNS_RCODE_NXRRSET || rcode == LDNS_RCODE_NXDOMAIN;
}

enum reg_result reg_rcode_result(int rcode)
{
    switch (rcode) {
    case LDNS_RCODE_NOERROR:
        return REG_OK;
    case LDNS_RCODE_YXDOMAIN:
    case LDNS_RCODE_YXRRSET:
        return REG_INUSE;
    case LDNS_RCODE_NXRRSET:
    case LDNS_RCODE_NXDOMAIN:
        return REG_NOTOWNER;
    case LDNS_RCODE_NOTAUTH:
        return REG_NOTAUTH;
    case LDNS_RCODE_REFUSED:
        return REG_REFUSED;
    case LDNS_RCODE_NOTZONE:
        return REG_NOTZONE;
    default:
        return REG_SERVFAIL;
    }
}

static const char *rcode_name(int rcode)
{
    static const char *const names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                        "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                        "NXRRSET", "NOTAUTH", "NOTZONE"};
    if (rcode >= 0 && (size_t)rcode < sizeof names / sizeof names[0])
        return names[rcode];
    return "RCODE?";
}

static uint64_t rdf_u48(const ldns_rdf *r)
{
    const uint8_t *d = ldns_rdf_data(r);
    if (ldns_rdf_size(r) != 6)
        return 0;
    uint64_t v = 0;
    for (int i = 0; i < 6; i++)
        v = v << 8 | d[i];
    return v;
}

static uint16_t rdf_u16(const ldns_rdf *r)
{
    if (ldns_rdf_size(r) < 2)
        return 0;
    return ldns_read_uint16(ldns_rdf_data(r));
}

/* The reply's question (zone) section: empty, or exactly the request's (name compared
 * case-insensitively, type, class).  Servers echo it; some leave it out of later AXFR messages
 * and of error replies. */
static bool same_question(const ldns_pkt *req, const ldns_pkt *rep)
{
    const ldns_rr_list *a = ldns_pkt_question(req), *b = ldns_pkt_question(rep);
    size_t n = ldns_rr_list_rr_count(b);
    if (n == 0)
        return true;
    if (n != ldns_rr_list_rr_count(a))
        return false;
    for (size_t i = 0; i < n; i++) {
        const ldns_rr *x = ldns_rr_list_rr(a, i), *y = ldns_rr_list_rr(b, i);
        if (ldns_rr_get_type(x) != ldns_rr_get_type(y) ||
            ldns_rr_get_class(x) != ldns_rr_get_class(y) ||
            ldns_dname_compare(ldns_rr_owner(x), ldns_rr_owner(y)) != 0)
            return false;
    }
    return true;
}

static bool same_dname(const ldns_rdf *a, const char *name)
{
    ldns_rdf *b = ldns_dname_new_frm_str(name);
    bool same =
        a && b && ldns_rdf_get_type(a) == LDNS_RDF_TYPE_DNAME && ldns_dname_compare(a, b) == 0;
    ldns_rdf_deep_free(b);
    return same;
}

/* A TSIG error (RFC 8945 5.3.2, 5.4: BADSIG, BADKEY, BADTIME): the server could not
 * authenticate the request, so it answers NOTAUTH with a TSIG RR that names our key and carries
 * the error, and (BADSIG, BADKEY) no MAC.  Such a reply cannot be verified; it is believed only as
 * a failure, and only in that exact shape. */
static enum reg_result tsig_error(int rc, const ldns_rr *tsig, uint16_t terr,
                                  const struct reg_key *key, char *err, size_t errlen)
{
    if (rc != LDNS_RCODE_NOTAUTH || !same_dname(ldns_rr_owner(tsig), key->name)) {
        snprintf(err, errlen,
                 "%s with TSIG error %u not in the shape of RFC 8945 (NOTAUTH, key %s)",
                 rcode_name(rc), terr, key->name);
        return REG_BADREPLY;
    }
    switch (terr) {
    case 16:
        snprintf(err, errlen,
                 "NOTAUTH/BADSIG: the server rejected the signature of key %s "
                 "(key secret mismatch: the server has this key name with another secret)",
                 key->name);
        return REG_BADSIG;
    case 17:
        snprintf(err, errlen,
                 "NOTAUTH/BADKEY: key %s is unknown to the server (name or algorithm %s)",
                 key->name, key->algorithm);
        return REG_BADKEY;
    case 18:
        snprintf(err, errlen,
                 "NOTAUTH/BADTIME: clock skew: the clocks of this host and the server differ "
                 "by more than %d s",
                 TSIG_FUDGE);
        return REG_NOTAUTH;
    default:
        snprintf(err, errlen, "NOTAUTH with TSIG error %u", terr);
        return REG_NOTAUTH;
    }
}

enum reg_result reg_msg_check(const uint8_t *wire, size_t len, const ldns_pkt *req,
                              const struct reg_key *key, const ldns_rdf *prior_mac,
                              bool timers_only, long long now, ldns_pkt **out, ldns_rdf **next_mac,
                              int *rcode, char *err, size_t errlen)
{
    ldns_pkt *p = NULL;
    enum reg_result res = REG_BADREPLY;
    uint16_t id = ldns_pkt_id(req);
    *rcode = -1;
    if (out)
        *out = NULL;
    if (next_mac)
        *next_mac = NULL;
    err[0] = '\0';

    if (len < LDNS_HEADER_SIZE || ldns_wire2pkt(&p, wire, len) != LDNS_STATUS_OK) {
        snprintf(err, errlen, "malformed reply (%zu octets)", len);
        goto done;
    }
    int rc = (int)ldns_pkt_get_rcode(p);
    if (ldns_pkt_id(p) != id) {
        snprintf(err, errlen, "%s reply with id %u does not match request id %u", rcode_name(rc),
                 ldns_pkt_id(p), id);
        goto done;
    }
    if (!ldns_pkt_qr(p)) {
        snprintf(err, errlen, "reply without the QR bit");
        goto done;
    }
    if (ldns_pkt_get_opcode(p) != ldns_pkt_get_opcode(req)) {
        snprintf(err, errlen, "%s reply with opcode %d to a request with opcode %d", rcode_name(rc),
                 (int)ldns_pkt_get_opcode(p), (int)ldns_pkt_get_opcode(req));
        goto done;
    }
    if (!same_question(req, p)) {
        snprintf(err, errlen, "%s reply to another question than ours", rcode_name(rc));
        goto done;
    }
    ldns_rr *tsig = ldns_pkt_tsig(p);
    if (tsig == NULL || ldns_rr_rd_count(tsig) < 7) {
        /* Whatever its RCODE: an unsigned NXRRSET would make a del "already absent", an unsigned
         * YXDOMAIN an add "in use".  Servers sign every reply to a request they authenticated. */
        snprintf(err, errlen, "%s reply without a TSIG signature", rcode_name(rc));
        goto done;
    }
    uint16_t terr = rdf_u16(ldns_rr_rdf(tsig, 5));
    if (terr != 0) {
        res = tsig_error(rc, tsig, terr, key, err, errlen);
        if (res != REG_BADREPLY)
            *rcode = rc;
        goto done;
    }
    char *alg = ldns_rdf2str(ldns_rr_rdf(tsig, 0));
    bool same_alg = alg && strcasecmp(alg, key->algorithm) == 0;
    free(alg);
    if (!same_dname(ldns_rr_owner(tsig), key->name) || !same_alg) {
        snprintf(err, errlen, "%s reply signed with another key or algorithm than %s",
                 rcode_name(rc), key->name);
        goto done;
    }
    if (!ldns_pkt_tsig_verify_next(p, wire, len, key->name, key->secret, prior_mac,
                                   timers_only ? 1 : 0)) {
        snprintf(err, errlen, "%s reply whose signature does not verify with key %s",
                 rcode_name(rc), key->name);
        goto done;
    }
    long long signed_at = (long long)rdf_u48(ldns_rr_rdf(tsig, 1));
    long long fudge = rdf_u16(ldns_rr_rdf(tsig, 2));
    if (signed_at < now - fudge || signed_at > now + fudge) {
        snprintf(err, errlen, "reply signed at %lld, outside %lld±%lld s", signed_at, now, fudge);
        goto done;
    }
    if (next_mac && (*next_mac = ldns_rdf_clone(ldns_rr_rdf(tsig, 3))) == NULL) {
        res = REG_ERROR;
        goto done;
    }
    /* verified: from here on the RCODE is the server's word */
    *rcode = rc;
    res = reg_rcode_result(rc);
    if (res == REG_NOTAUTH)
        snprintf(err, errlen, "NOTAUTH: the server is not authoritative for the zone");
    else if (res == REG_REFUSED)
        snprintf(err, errlen,
                 "REFUSED: the server refused the update (its update policy for "
                 "key %s, or its record checks: see the server's log)",
                 key->name);
    else if (res == REG_NOTZONE)
        snprintf(err, errlen, "NOTZONE: a name is outside the zone");
    else if (res != REG_OK)
        snprintf(err, errlen, "%s", rcode_name(rc));
    if (out) {
        *out = p;
        p = NULL;
    }
done:
    ldns_pkt_free(p);
    return res;
}

bool reg_txt_text(const ldns_rr *rr, char *out, size_t outlen)
{
    if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_TXT || ldns_rr_rd_count(rr) < 1 || outlen == 0)
        return false;
    const ldns_rdf *r = ldns_rr_rdf(rr, 0);
    const uint8_t *d = ldns_rdf_data(r);
    size_t sz = ldns_rdf_size(r);
    if (sz < 1 || (size_t)d[0] + 1 > sz)
        return false;
    size_t n = d[0];
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, d + 1, n);
    out[n] = '\0';
    return true;
}
