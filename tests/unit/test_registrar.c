/* Unit tests of the registrar core: UPDATE building and reply checks (TSIG), key files, names,
 * config, the change type and its checks (command line, batch lines, daemon protocol), the zone
 * model and the sync/gc plans, VM table / journal files, hook parsing and the libvirt policy.
 * No sockets, no servers. */
#include "reg.h"
#include "reg_change.h"
#include "reg_cmd.h"
#include "reg_hook.h"
#include "reg_journal.h"
#include "reg_key.h"
#include "reg_libvirt.h"
#include "reg_msg.h"
#include "reg_store.h"
#include "vg_file.h"
#include "reg_zone.h"
#include "vg_alloc.h"
#include "vg_config.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define KEYFILE                                                                                    \
    "key \"reg-key\" {\n\talgorithm hmac-sha256;\n\tsecret "                                       \
    "\"3q2+7wAAAAAREjRWeJq83u8AESIzRFVmd4iZqrvM3e4=\";\n};\n"

static struct reg_key key;
static struct reg_ident id;

static void setup(void)
{
    char err[256];
    cr_assert(reg_key_parse(KEYFILE, &key, err, sizeof err), "%s", err);
    cr_assert(reg_ident_init(&id, "hv1", "192.0.2.1, 2001:db8::1", 1080, 30, err, sizeof err), "%s",
              err);
}

TestSuite(msg, .init = setup);

static ldns_rr *rr_at(ldns_pkt *p, ldns_pkt_section sec, size_t i)
{
    ldns_rr_list *l = sec == LDNS_SECTION_ANSWER ? ldns_pkt_answer(p) : ldns_pkt_authority(p);
    cr_assert(i < ldns_rr_list_rr_count(l));
    return ldns_rr_list_rr(l, i);
}

static char *owner(const ldns_rr *rr)
{
    static char buf[300];
    char *s = ldns_rdf2str(ldns_rr_owner(rr));
    snprintf(buf, sizeof buf, "%s", s);
    free(s);
    return buf;
}

Test(msg, fresh_add_has_name_not_in_use_prereq_and_records)
{
    struct reg_item it = {REG_M_FRESH, "web1.vm.test", NULL};
    const struct reg_item *items[] = {&it};
    ldns_pkt *p = reg_msg_update(&id, "vm.test", items, 1, true, 1700000000);
    cr_assert_not_null(p);
    cr_assert_eq(ldns_pkt_get_opcode(p), LDNS_PACKET_UPDATE);
    cr_assert(!ldns_pkt_rd(p), "RD must be clear");
    cr_assert_eq(ldns_pkt_qdcount(p), 1);
    cr_assert_eq(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_question(p), 0)), LDNS_RR_TYPE_SOA);
    /* prerequisite: web1 NONE ANY, TTL 0, no rdata */
    cr_assert_eq(ldns_pkt_ancount(p), 1);
    ldns_rr *pr = rr_at(p, LDNS_SECTION_ANSWER, 0);
    cr_assert_str_eq(owner(pr), "web1.vm.test.");
    cr_assert_eq(ldns_rr_get_class(pr), LDNS_RR_CLASS_NONE);
    cr_assert_eq(ldns_rr_get_type(pr), LDNS_RR_TYPE_ANY);
    cr_assert_eq(ldns_rr_ttl(pr), 0);
    cr_assert_eq(ldns_rr_rd_count(pr), 0);
    /* update: delete SRV RRset, A, AAAA, TXT, SRV, then the host record (3 deletes, A, AAAA, TXT)
     */
    cr_assert_eq(ldns_pkt_nscount(p), 1 + 2 + 1 + 1 + 3 + 2 + 1);
    ldns_rr *del = rr_at(p, LDNS_SECTION_AUTHORITY, 0);
    cr_assert_str_eq(owner(del), "_vmgate._tcp.web1.vm.test.");
    cr_assert_eq(ldns_rr_get_class(del), LDNS_RR_CLASS_ANY);
    cr_assert_eq(ldns_rr_ttl(del), 0);
    ldns_rr *a = rr_at(p, LDNS_SECTION_AUTHORITY, 1);
    cr_assert_eq(ldns_rr_get_type(a), LDNS_RR_TYPE_A);
    cr_assert_eq(ldns_rr_ttl(a), 30);
    char *s = ldns_rr2str(rr_at(p, LDNS_SECTION_AUTHORITY, 3));
    cr_assert(strstr(s, "\"vmgate-owner=hv1\"") != NULL, "%s", s);
    free(s);
    s = ldns_rr2str(rr_at(p, LDNS_SECTION_AUTHORITY, 4));
    cr_assert(strstr(s, "SRV\t0 0 1080 hv1.vmgate-hosts.vm.test.") != NULL, "%s", s);
    free(s);
    s = ldns_rr2str(rr_at(p, LDNS_SECTION_AUTHORITY, 10));
    cr_assert(
        strstr(s, "hv1.vmgate-hosts.vm.test.\t30\tIN\tTXT\t\"vmgate-heartbeat=1700000000\"") !=
            NULL,
        "%s", s);
    free(s);
    ldns_pkt_free(p);
}

Test(msg, del_is_conditional_on_our_owner_txt)
{
    struct reg_item it = {REG_M_DEL, "web1.vm.test", "hv1"};
    const struct reg_item *items[] = {&it};
    ldns_pkt *p = reg_msg_update(&id, "vm.test", items, 1, false, 0);
    cr_assert_eq(ldns_pkt_ancount(p), 1);
    ldns_rr *pr = rr_at(p, LDNS_SECTION_ANSWER, 0);
    cr_assert_eq(ldns_rr_get_class(pr), LDNS_RR_CLASS_IN); /* value-dependent */
    cr_assert_eq(ldns_rr_get_type(pr), LDNS_RR_TYPE_TXT);
    cr_assert_eq(ldns_rr_ttl(pr), 0);
    char txt[64];
    cr_assert(reg_txt_text(pr, txt, sizeof txt));
    cr_assert_str_eq(txt, "vmgate-owner=hv1");
    cr_assert_eq(ldns_pkt_nscount(p), 2); /* all RRsets of the name and of its SRV name */
    for (size_t i = 0; i < 2; i++) {
        ldns_rr *d = rr_at(p, LDNS_SECTION_AUTHORITY, i);
        cr_assert_eq(ldns_rr_get_class(d), LDNS_RR_CLASS_ANY);
        cr_assert_eq(ldns_rr_get_type(d), LDNS_RR_TYPE_ANY);
        cr_assert_eq(ldns_rr_ttl(d), 0);
    }
    ldns_pkt_free(p);
}

Test(msg, own_and_takeover_prerequisites)
{
    struct reg_item own = {REG_M_OWN, "a.vm.test", NULL}, tk = {REG_M_TAKEOVER, "b.vm.test", NULL};
    const struct reg_item *items[] = {&own, &tk};
    ldns_pkt *p = reg_msg_update(&id, "vm.test", items, 2, false, 0);
    cr_assert_eq(ldns_pkt_ancount(p), 2);
    ldns_rr *p0 = rr_at(p, LDNS_SECTION_ANSWER, 0), *p1 = rr_at(p, LDNS_SECTION_ANSWER, 1);
    cr_assert_eq(ldns_rr_get_class(p0), LDNS_RR_CLASS_IN);
    cr_assert_eq(ldns_rr_get_type(p0), LDNS_RR_TYPE_TXT);
    cr_assert_eq(ldns_rr_get_class(p1), LDNS_RR_CLASS_ANY); /* TXT RRset exists, any value */
    cr_assert_eq(ldns_rr_get_type(p1), LDNS_RR_TYPE_TXT);
    cr_assert_eq(ldns_rr_rd_count(p1), 0);
    ldns_pkt_free(p);
}

Test(msg, oversized_batches_are_refused_not_rendered)
{
    static char names[2000][40];
    static struct reg_item its[2000];
    static const struct reg_item *items[2000];
    enum reg_mode modes[] = {REG_M_FRESH, REG_M_OWN, REG_M_TAKEOVER, REG_M_DEL};
    for (size_t m = 0; m < 4; m++) {
        size_t est = reg_msg_base_size(&id, "vm.test", &key), fits = 0;
        for (size_t n = 0; n < 2000; n++) {
            snprintf(names[n], sizeof names[n], "host-%zu.lab.vm.test", n * 7919);
            its[n] = (struct reg_item){modes[m], names[n], "hv1"};
            items[n] = &its[n];
            est += reg_msg_item_size(&id, "vm.test", &its[n], est);
            if (est <= REG_TCP_MAX)
                fits = n + 1;
        }
        uint8_t *wire;
        size_t len;
        ldns_rdf *mac;
        /* 2000 changes never fit: refused with the size, nothing rendered (no ldns assertion) */
        ldns_pkt *p = reg_msg_update(&id, "vm.test", items, 2000, true, 1);
        cr_assert_eq(reg_msg_sign(p, &key, 1, &wire, &len, &mac), REG_ERROR);
        cr_assert_gt(len, REG_TCP_MAX);
        ldns_pkt_free(p);
        /* what the estimate lets through is close to the real size */
        p = reg_msg_update(&id, "vm.test", items, fits, true, 1);
        size_t real = reg_msg_wire_size(p);
        cr_assert_gt(fits, 150, "mode %zu: only %zu per message", m, fits);
        cr_assert_eq(reg_msg_sign(p, &key, 1, &wire, &len, &mac), REG_OK,
                     "mode %zu: %zu changes estimated to fit but %zu octets", m, fits, real);
        cr_assert_leq(len, REG_TCP_MAX);
        cr_assert_gt(len, REG_TCP_MAX * 7 / 10, "mode %zu: estimate wastes room (%zu)", m, len);
        free(wire);
        ldns_rdf_deep_free(mac);
        ldns_pkt_free(p);
    }
}

/* ---- replies ----------------------------------------------------------------------------- */

struct exch {
    ldns_pkt *req;
    uint8_t *wire;
    size_t len;
    ldns_rdf *mac;
};

static void request(struct exch *x, uint16_t qid)
{
    struct reg_item it = {REG_M_FRESH, "web1.vm.test", NULL};
    const struct reg_item *items[] = {&it};
    x->req = reg_msg_update(&id, "vm.test", items, 1, false, 0);
    cr_assert_eq(reg_msg_sign(x->req, &key, qid, &x->wire, &x->len, &x->mac), REG_OK);
    cr_assert_not_null(ldns_pkt_tsig(x->req));
    char *alg = ldns_rdf2str(ldns_rr_rdf(ldns_pkt_tsig(x->req), 0));
    cr_assert_str_eq(alg, "hmac-sha256.");
    free(alg);
}

/* A server's reply to x: rcode, with `zone` in the zone section (NULL = none), signed with
 * `secret` (NULL = unsigned) now. */
static void reply_zone(struct exch *x, int rcode, uint16_t rid, const char *zone,
                       const char *secret, uint8_t **w, size_t *wl)
{
    ldns_pkt *r = ldns_pkt_new();
    ldns_pkt_set_id(r, rid);
    ldns_pkt_set_qr(r, true);
    ldns_pkt_set_opcode(r, LDNS_PACKET_UPDATE);
    ldns_pkt_set_rcode(r, (uint8_t)rcode);
    if (zone) {
        ldns_rr *q = ldns_rr_new();
        ldns_rr_set_owner(q, ldns_dname_new_frm_str(zone));
        ldns_rr_set_type(q, LDNS_RR_TYPE_SOA);
        ldns_rr_set_class(q, LDNS_RR_CLASS_IN);
        ldns_rr_set_question(q, true);
        cr_assert(ldns_pkt_push_rr(r, LDNS_SECTION_QUESTION, q));
    }
    if (secret)
        cr_assert_eq(ldns_pkt_tsig_sign(r, key.name, secret, 300, key.algorithm, x->mac),
                     LDNS_STATUS_OK);
    cr_assert_eq(ldns_pkt2wire(w, r, wl), LDNS_STATUS_OK);
    ldns_pkt_free(r);
}

static void reply(struct exch *x, int rcode, uint16_t rid, const char *secret, uint8_t **w,
                  size_t *wl)
{
    reply_zone(x, rcode, rid, NULL, secret, w, wl);
}

static void exch_free(struct exch *x)
{
    ldns_pkt_free(x->req);
    free(x->wire);
    ldns_rdf_deep_free(x->mac);
}

static enum reg_result check(struct exch *x, const uint8_t *w, size_t wl, uint16_t qid, int *rcode,
                             char *err)
{
    cr_assert_eq(ldns_pkt_id(x->req), qid);
    return reg_msg_check(w, wl, x->req, &key, x->mac, false, (long long)time(NULL), NULL, NULL,
                         rcode, err, 256);
}

Test(msg, signed_reply_verifies)
{
    struct exch x;
    uint8_t *w;
    size_t wl;
    int rc;
    char err[256];
    request(&x, 4242);
    reply(&x, LDNS_RCODE_NOERROR, 4242, key.secret, &w, &wl);
    cr_assert_eq(check(&x, w, wl, 4242, &rc, err), REG_OK, "%s", err);
    cr_assert_eq(rc, 0);
    /* one flipped bit anywhere in the header breaks the MAC */
    w[3] ^= 0x10;
    cr_assert_eq(check(&x, w, wl, 4242, &rc, err), REG_BADREPLY);
    free(w);
    exch_free(&x);
}

Test(msg, wrong_id_and_forged_signature_rejected)
{
    struct exch x;
    uint8_t *w;
    size_t wl;
    int rc;
    char err[256];
    request(&x, 100);
    reply(&x, LDNS_RCODE_NOERROR, 101, key.secret, &w, &wl);
    cr_assert_eq(check(&x, w, wl, 100, &rc, err), REG_BADREPLY);
    cr_assert(strstr(err, "id") != NULL, "%s", err);
    free(w);
    reply(&x, LDNS_RCODE_NOERROR, 100, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", &w, &wl);
    cr_assert_eq(check(&x, w, wl, 100, &rc, err), REG_BADREPLY);
    free(w);
    reply(&x, LDNS_RCODE_NOERROR, 100, NULL, &w, &wl);
    cr_assert_eq(check(&x, w, wl, 100, &rc, err), REG_BADREPLY, "unsigned success must not count");
    free(w);
    exch_free(&x);
}

Test(msg, rcodes_map_to_specific_results)
{
    struct exch x;
    uint8_t *w;
    size_t wl;
    int rc;
    char err[256];
    struct {
        int rcode;
        enum reg_result res;
    } cases[] = {{LDNS_RCODE_YXDOMAIN, REG_INUSE},    {LDNS_RCODE_NXRRSET, REG_NOTOWNER},
                 {LDNS_RCODE_REFUSED, REG_REFUSED},   {LDNS_RCODE_NOTZONE, REG_NOTZONE},
                 {LDNS_RCODE_SERVFAIL, REG_SERVFAIL}, {LDNS_RCODE_NOTAUTH, REG_NOTAUTH}};
    request(&x, 7);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        reply(&x, cases[i].rcode, 7, key.secret, &w, &wl);
        cr_assert_eq(check(&x, w, wl, 7, &rc, err), cases[i].res, "rcode %d: %s", cases[i].rcode,
                     err);
        cr_assert_eq(rc, cases[i].rcode);
        free(w);
        /* an unsigned error reply is not believed, whatever it claims (an unsigned NXRRSET
         * would make a del "already absent") */
        reply(&x, cases[i].rcode, 7, NULL, &w, &wl);
        cr_assert_eq(check(&x, w, wl, 7, &rc, err), REG_BADREPLY, "unsigned rcode %d believed",
                     cases[i].rcode);
        cr_assert_eq(rc, -1);
        cr_assert(strstr(err, "without a TSIG") != NULL, "%s", err);
        free(w);
        /* nor one signed with another secret */
        reply(&x, cases[i].rcode, 7, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", &w, &wl);
        cr_assert_eq(check(&x, w, wl, 7, &rc, err), REG_BADREPLY);
        cr_assert_eq(rc, -1);
        free(w);
    }
    cr_assert(reg_rcode_is_prereq(LDNS_RCODE_YXDOMAIN) && reg_rcode_is_prereq(LDNS_RCODE_NXRRSET));
    cr_assert(!reg_rcode_is_prereq(LDNS_RCODE_REFUSED));
    cr_assert(reg_result_transient(REG_BADREPLY), "a reply not believed is a lost reply");
    exch_free(&x);
}

Test(msg, reply_must_answer_our_question)
{
    struct exch x;
    uint8_t *w;
    size_t wl;
    int rc;
    char err[256];
    request(&x, 21);
    reply_zone(&x, LDNS_RCODE_NXRRSET, 21, "vm.test.", key.secret, &w, &wl);
    cr_assert_eq(check(&x, w, wl, 21, &rc, err), REG_NOTOWNER, "%s", err);
    free(w);
    reply_zone(&x, LDNS_RCODE_NOERROR, 21, "VM.Test.", key.secret, &w, &wl);
    cr_assert_eq(check(&x, w, wl, 21, &rc, err), REG_OK, "name case is not significant: %s", err);
    free(w);
    reply_zone(&x, LDNS_RCODE_NOERROR, 21, "other.test.", key.secret, &w, &wl);
    cr_assert_eq(check(&x, w, wl, 21, &rc, err), REG_BADREPLY);
    cr_assert(strstr(err, "question") != NULL, "%s", err);
    free(w);
    exch_free(&x);
}

Test(msg, reply_to_a_query_is_a_query_reply)
{
    struct exch x;
    uint8_t *w;
    size_t wl;
    int rc;
    char err[256];
    ldns_pkt *out = (ldns_pkt *)1;
    x.req = reg_msg_query("web1.vm.test", LDNS_RR_TYPE_TXT);
    cr_assert_eq(reg_msg_sign(x.req, &key, 33, &x.wire, &x.len, &x.mac), REG_OK);
    /* reply() answers with opcode UPDATE */
    reply(&x, LDNS_RCODE_NOERROR, 33, key.secret, &w, &wl);
    cr_assert_eq(check(&x, w, wl, 33, &rc, err), REG_BADREPLY);
    cr_assert(strstr(err, "opcode") != NULL, "%s", err);
    free(w);
    /* an unsigned NXDOMAIN to the ownership query: not believed, and not handed out */
    ldns_pkt *r = ldns_pkt_new();
    ldns_pkt_set_id(r, 33);
    ldns_pkt_set_qr(r, true);
    ldns_pkt_set_rcode(r, LDNS_RCODE_NXDOMAIN);
    cr_assert_eq(ldns_pkt2wire(&w, r, &wl), LDNS_STATUS_OK);
    cr_assert_eq(reg_msg_check(w, wl, x.req, &key, x.mac, false, (long long)time(NULL), &out, NULL,
                               &rc, err, sizeof err),
                 REG_BADREPLY);
    cr_assert_null(out);
    free(w);
    /* signed, it is the server's word */
    cr_assert_eq(ldns_pkt_tsig_sign(r, key.name, key.secret, 300, key.algorithm, x.mac),
                 LDNS_STATUS_OK);
    cr_assert_eq(ldns_pkt2wire(&w, r, &wl), LDNS_STATUS_OK);
    cr_assert_eq(reg_msg_check(w, wl, x.req, &key, x.mac, false, (long long)time(NULL), &out, NULL,
                               &rc, err, sizeof err),
                 REG_NOTOWNER, "%s", err);
    cr_assert_eq(rc, LDNS_RCODE_NXDOMAIN);
    cr_assert_not_null(out);
    ldns_pkt_free(out);
    free(w);
    ldns_pkt_free(r);
    exch_free(&x);
}

/* `rcode` (NOTAUTH as BIND and Knot send it) with a TSIG RR of key `kname` whose error field says
 * why (MAC empty). */
static void tsig_error_reply_as(uint16_t rid, int rcode, const char *kname, uint16_t terr,
                                uint8_t **w, size_t *wl)
{
    ldns_pkt *r = ldns_pkt_new();
    ldns_pkt_set_id(r, rid);
    ldns_pkt_set_qr(r, true);
    ldns_pkt_set_opcode(r, LDNS_PACKET_UPDATE);
    ldns_pkt_set_rcode(r, (uint8_t)rcode);
    ldns_rr *t = ldns_rr_new();
    ldns_rr_set_owner(t, ldns_dname_new_frm_str(kname));
    ldns_rr_set_type(t, LDNS_RR_TYPE_TSIG);
    ldns_rr_set_class(t, LDNS_RR_CLASS_ANY);
    ldns_rr_set_ttl(t, 0);
    uint8_t tm[6] = {0};
    ldns_rr_push_rdf(t, ldns_dname_new_frm_str(key.algorithm));
    ldns_rr_push_rdf(t, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_TSIGTIME, 6, tm));
    ldns_rr_push_rdf(t, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, 300));
    ldns_rr_push_rdf(t, ldns_native2rdf_int16_data(0, NULL));
    ldns_rr_push_rdf(t, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, rid));
    ldns_rr_push_rdf(t, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, terr));
    ldns_rr_push_rdf(t, ldns_native2rdf_int16_data(0, NULL));
    ldns_pkt_set_tsig(r, t);
    cr_assert_eq(ldns_pkt2wire(w, r, wl), LDNS_STATUS_OK);
    ldns_pkt_free(r);
}

static void tsig_error_reply(uint16_t rid, uint16_t terr, uint8_t **w, size_t *wl)
{
    tsig_error_reply_as(rid, LDNS_RCODE_NOTAUTH, key.name, terr, w, wl);
}

Test(msg, tsig_errors_badsig_badkey_badtime)
{
    struct exch x;
    uint8_t *w;
    size_t wl;
    int rc;
    char err[256];
    request(&x, 9);
    tsig_error_reply(9, 16, &w, &wl);
    cr_assert_eq(check(&x, w, wl, 9, &rc, err), REG_BADSIG);
    cr_assert(strstr(err, "BADSIG") != NULL, "%s", err);
    free(w);
    tsig_error_reply(9, 17, &w, &wl);
    cr_assert_eq(check(&x, w, wl, 9, &rc, err), REG_BADKEY);
    cr_assert(strstr(err, "reg-key.") != NULL, "%s", err);
    free(w);
    tsig_error_reply(9, 18, &w, &wl);
    cr_assert_eq(check(&x, w, wl, 9, &rc, err), REG_NOTAUTH);
    cr_assert(strstr(err, "BADTIME") != NULL && strstr(err, "clock skew") != NULL, "%s", err);
    free(w);
    /* only in the shape RFC 8945 gives them: NOTAUTH, our key */
    tsig_error_reply_as(9, LDNS_RCODE_NXRRSET, key.name, 16, &w, &wl);
    cr_assert_eq(check(&x, w, wl, 9, &rc, err), REG_BADREPLY);
    cr_assert_eq(rc, -1);
    free(w);
    tsig_error_reply_as(9, LDNS_RCODE_NOTAUTH, "other-key.", 17, &w, &wl);
    cr_assert_eq(check(&x, w, wl, 9, &rc, err), REG_BADREPLY);
    free(w);
    exch_free(&x);
}

Test(msg, reply_outside_time_window_rejected)
{
    struct exch x;
    uint8_t *w;
    size_t wl;
    int rc;
    char err[256];
    request(&x, 11);
    reply(&x, LDNS_RCODE_NOERROR, 11, key.secret, &w, &wl);
    /* the reply was signed now; pretend our clock is an hour ahead */
    cr_assert_eq(reg_msg_check(w, wl, x.req, &key, x.mac, false, (long long)time(NULL) + 3600, NULL,
                               NULL, &rc, err, sizeof err),
                 REG_BADREPLY);
    cr_assert(strstr(err, "outside") != NULL, "%s", err);
    free(w);
    exch_free(&x);
}

Test(msg, malformed_reply)
{
    char err[256];
    int rc;
    uint8_t junk[5] = {1, 2, 3, 4, 5};
    ldns_pkt *q = reg_msg_query("web1.vm.test", LDNS_RR_TYPE_TXT);
    cr_assert_eq(
        reg_msg_check(junk, sizeof junk, q, &key, NULL, false, 0, NULL, NULL, &rc, err, sizeof err),
        REG_BADREPLY);
    cr_assert_eq(rc, -1);
    ldns_pkt_free(q);
}

/* ---- key files --------------------------------------------------------------------------- */

Test(key, parses_tsig_keygen_output)
{
    struct reg_key k;
    char err[256];
    const char *text =
        "# generated\nkey \"host1.example.\" {\n  algorithm HMAC-SHA512; // x\n"
        "  /* the secret */ secret \"3q2+7wAAAAAREjRWeJq83u8AESIzRFVmd4iZqrvM3e4=\";\n"
        "};\n";
    cr_assert(reg_key_parse(text, &k, err, sizeof err), "%s", err);
    cr_assert_str_eq(k.name, "host1.example.");
    cr_assert_str_eq(k.algorithm, "hmac-sha512.");
    cr_assert(reg_key_parse(KEYFILE, &k, err, sizeof err));
    cr_assert_str_eq(k.name, "reg-key.");
    cr_assert_str_eq(k.algorithm, "hmac-sha256.");
}

Test(key, rejects_bad_files)
{
    struct reg_key k;
    char err[256];
    const char *bad[] = {
        "",
        "key \"k\" { algorithm hmac-sha256; };",
        "key \"k\" { secret \"3q2+7wAAAAAREjRWeJq83u8AESIzRFVmd4iZqrvM3e4=\"; };",
        "key \"k\" { algorithm hmac-sha384; secret "
        "\"3q2+7wAAAAAREjRWeJq83u8AESIzRFVmd4iZqrvM3e4=\"; };",
        "key \"k\" { algorithm hmac-md5; secret \"3q2+7wAAAAAREjRWeJq83u8AESIzRFVmd4iZqrvM3e4=\"; "
        "};",
        "key \"k\" { algorithm hmac-sha256; secret \"not base64!\"; };",
        "key \"k\" { algorithm hmac-sha256; secret \"c2hvcnQ=\"; };",
        "key \"k\" { algorithm hmac-sha256; secret "
        "\"3q2+7wAAAAAREjRWeJq83u8AESIzRFVmd4iZqrvM3e4=\"; ",
        "key \"k\" { algorithm hmac-sha256 secret \"x\"; };",
        "key \"k\" { colour blue; };",
        "key \"k\" { /* unterminated",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert(!reg_key_parse(bad[i], &k, err, sizeof err), "accepted: %s", bad[i]);
    cr_assert(
        !reg_key_parse("key \"k\" { algorithm hmac-sha384; secret \"x\"; };", &k, err, sizeof err));
    cr_assert(strstr(err, "line 1") != NULL, "%s", err);
}

/* Fields at their limits are kept whole; what does not fit is refused, never silently cut. */
Test(key, fields_at_their_limits)
{
    struct reg_key k;
    char err[256], name[254], text[1400];
    memset(name, 'a', 253);
    name[253] = '\0';
    char secret[sizeof k.secret + 4];
    memset(secret, 'A', sizeof k.secret - 4); /* 508 base64 characters: the longest that fit */
    secret[sizeof k.secret - 4] = '\0';
    snprintf(text, sizeof text, "key \"%s\" { algorithm hmac-sha256; secret \"%s\"; };", name,
             secret);
    cr_assert(reg_key_parse(text, &k, err, sizeof err), "%s", err);
    cr_assert_eq(strlen(k.name), 254);
    cr_assert_eq(k.name[253], '.');
    cr_assert_str_eq(k.secret, secret);

    memset(secret, 'A', sizeof k.secret); /* 512: one group of four too many */
    secret[sizeof k.secret] = '\0';
    snprintf(text, sizeof text, "key \"k\" { algorithm hmac-sha256; secret \"%s\"; };", secret);
    cr_assert(!reg_key_parse(text, &k, err, sizeof err));
    cr_assert(strstr(err, "secret longer than 511") != NULL, "%s", err);

    const char *longopt = "key \"k\" { algorithm-but-much-longer-than-any-option x; };";
    cr_assert(!reg_key_parse(longopt, &k, err, sizeof err));
    cr_assert(strstr(err, "unknown key option 'algorithm-but-much-longer-than-'") != NULL, "%s",
              err);
}

/* ---- names and config -------------------------------------------------------------------- */

static struct vg_config *load_cfg(const char *text)
{
    char path[] = "/tmp/vmgate-ut-XXXXXX", err[512];
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct vg_config *cfg = vg_config_load(path, err, sizeof err);
    unlink(path);
    cr_assert_not_null(cfg, "%s", err);
    return cfg;
}

#define FULLCFG                                                                                    \
    "[dns]\nzone = vm.test, lab.example\nserver = 127.0.0.1:5353\ntsig-key-file = /k\n"            \
    "[host]\nname = hv1\naddress = 192.0.2.1\n[gateway]\nvm-dir = /v\nlisten = 127.0.0.1:1081\n"   \
    "[registrar]\nstate-dir = /s\ngc-interval = 0\n"

Test(names, short_and_fully_qualified)
{
    struct vg_config *cfg = load_cfg(FULLCFG);
    char out[VG_NAME_MAX + 1], err[512];
    const char *zone;
    cr_assert(reg_name_resolve(cfg, "Web1", out, &zone, err, sizeof err), "%s", err);
    cr_assert_str_eq(out, "web1.vm.test");
    cr_assert_str_eq(zone, "vm.test");
    cr_assert(reg_name_resolve(cfg, "web1.vm.test.", out, &zone, err, sizeof err));
    cr_assert_str_eq(out, "web1.vm.test");
    cr_assert(reg_name_resolve(cfg, "db.lab.example", out, &zone, err, sizeof err));
    cr_assert_str_eq(zone, "lab.example");
    cr_assert(reg_name_resolve(cfg, "a.b.vm.test", out, &zone, err, sizeof err));
    vg_config_free(cfg);
}

Test(names, rejected)
{
    struct vg_config *cfg = load_cfg(FULLCFG);
    char out[VG_NAME_MAX + 1], err[512], longlabel[70], longname[260];
    const char *zone;
    memset(longlabel, 'a', 64);
    longlabel[64] = '\0';
    /* fits 253 octets itself, but _vmgate._tcp.NAME would not */
    memset(longname, 'b', sizeof longname);
    for (int i = 63; i < 240; i += 64)
        longname[i] = '.';
    snprintf(longname + 236, sizeof longname - 236, ".vm.test");
    const char *bad[] = {"",        "_web1", "a..b",         "-a",
                         "a-",      "a_b",   longlabel,      "web1.other.",
                         "vm.test", "123",   "vmgate-hosts", "x.vmgate-hosts.vm.test",
                         longname,  "we b",  "web1.vm"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert(!reg_name_resolve(cfg, bad[i], out, &zone, err, sizeof err), "accepted '%s'",
                  bad[i]);
    cr_assert(!reg_name_resolve(cfg, longname, out, &zone, err, sizeof err));
    cr_assert(strstr(err, "SRV") != NULL, "%s", err);
    vg_config_free(cfg);
}

/* ---- changes: one check for every way a request arrives --------------------------------- */

Test(change, add_and_del_checks)
{
    struct vg_config *cfg = load_cfg(FULLCFG);
    struct reg_change c = {0};
    struct reg_sets sets = {0};
    char err[256];
    cr_assert(reg_sets_add_option(&sets, "ports", "22 80", err, sizeof err), "%s", err);
    cr_assert(reg_sets_add_option(&sets, "set", "allow-out=", err, sizeof err), "%s", err);
    cr_assert(!reg_sets_add_option(&sets, "set", "channel=vsock:3", err, sizeof err));
    cr_assert(reg_change_add(&c, cfg, "Web1", "vsock:3", "/run/w.qmp", true, &sets), "%s",
              c.detail);
    cr_assert_eq(sets.n, 0, "the sets moved into the change");
    cr_assert(c.kind == REG_CHANGE_ADD && c.takeover && c.result == REG_OK);
    cr_assert_str_eq(c.name, "web1.vm.test");
    cr_assert_str_eq(c.zone, "vm.test");
    cr_assert_str_eq(c.channel, "vsock:3");
    cr_assert_str_eq(c.qmp, "/run/w.qmp");
    cr_assert_eq(c.sets.n, 2);
    cr_assert_str_eq(c.sets.v[0].value, "22,80");
    reg_change_clear(&c);

    /* a bad name: the zone stays NULL, the name is what was given */
    cr_assert(!reg_change_add(&c, cfg, "bad_name", "vsock:3", NULL, false, NULL));
    cr_assert(c.result == REG_BADNAME && c.zone == NULL);
    cr_assert_str_eq(c.name, "bad_name");
    cr_assert(strstr(c.detail, "'bad_name'"), "%s", c.detail);
    reg_change_clear(&c);
    /* a bad channel or qmp: the name is resolved, the detail does not repeat it */
    cr_assert(!reg_change_add(&c, cfg, "web1", "tcp:1.2.3.4:22", NULL, false, NULL));
    cr_assert(c.result == REG_BADNAME && c.zone != NULL);
    cr_assert(strncmp(c.detail, "channel 'tcp:1.2.3.4:22'", 24) == 0, "%s", c.detail);
    reg_change_clear(&c);
    cr_assert(!reg_change_add(&c, cfg, "web1", "vsock:3", "rel.qmp", false, NULL));
    cr_assert(strncmp(c.detail, "qmp:", 4) == 0, "%s", c.detail);
    reg_change_clear(&c);

    cr_assert(reg_change_del(&c, cfg, "db.lab.example."), "%s", c.detail);
    cr_assert(c.kind == REG_CHANGE_DEL && c.channel == NULL);
    cr_assert_str_eq(c.zone, "lab.example");
    reg_change_clear(&c);
    cr_assert(!reg_change_del(&c, cfg, "web1.other."));
    cr_assert(c.zone == NULL && strstr(c.detail, "not under the zones"), "%s", c.detail);
    reg_change_clear(&c);
    vg_config_free(cfg);
}

Test(change, batch_lines)
{
    struct vg_config *cfg = load_cfg(FULLCFG);
    struct reg_change c = {0};
    char line[256];
    const char *blank[] = {"", "   \n", "# web1 vsock:3\n"};
    for (size_t i = 0; i < sizeof blank / sizeof blank[0]; i++) {
        snprintf(line, sizeof line, "%s", blank[i]);
        cr_assert_eq(reg_change_batch_add(&c, cfg, line, false), REG_LINE_BLANK);
        snprintf(line, sizeof line, "%s", blank[i]);
        cr_assert_eq(reg_change_batch_del(&c, cfg, line), REG_LINE_BLANK);
    }
    snprintf(line, sizeof line,
             "web1\tvsock:3 ports=22 qmp=/run/a.qmp allow-out=web2.vm.test:80\r\n");
    cr_assert_eq(reg_change_batch_add(&c, cfg, line, true), REG_LINE_OK, "%s", c.detail);
    cr_assert_str_eq(c.name, "web1.vm.test");
    cr_assert_str_eq(c.qmp, "/run/a.qmp");
    cr_assert(c.takeover && c.sets.n == 2);
    reg_change_clear(&c);
    snprintf(line, sizeof line, "web1\n");
    cr_assert_eq(reg_change_batch_add(&c, cfg, line, false), REG_LINE_MALFORMED);
    cr_assert(strstr(c.detail, "expected 'NAME SPEC"), "%s", c.detail);
    reg_change_clear(&c);
    snprintf(line, sizeof line, "web1 vsock:3 prots=22\n");
    cr_assert_eq(reg_change_batch_add(&c, cfg, line, false), REG_LINE_MALFORMED);
    cr_assert(strstr(c.detail, "'prots'"), "%s", c.detail);
    reg_change_clear(&c);
    snprintf(line, sizeof line, "web1 ftp:x\n");
    cr_assert_eq(reg_change_batch_add(&c, cfg, line, false), REG_LINE_REJECTED);
    cr_assert(c.zone != NULL, "the name passed, the channel did not");
    reg_change_clear(&c);
    snprintf(line, sizeof line, "web1 extra words\n");
    cr_assert_eq(reg_change_batch_del(&c, cfg, line), REG_LINE_OK);
    cr_assert(c.kind == REG_CHANGE_DEL);
    reg_change_clear(&c);
    snprintf(line, sizeof line, "_x\n");
    cr_assert_eq(reg_change_batch_del(&c, cfg, line), REG_LINE_REJECTED);
    reg_change_clear(&c);
    vg_config_free(cfg);
}

/* What the command line builds travels through the daemon protocol unchanged. */
Test(change, protocol_round_trip)
{
    struct vg_config *cfg = load_cfg(FULLCFG);
    struct reg_change a = {0}, back = {0};
    struct reg_sets sets = {0};
    char err[256];
    cr_assert(reg_sets_add(&sets, "ports", "22,8000-8100", err, sizeof err), "%s", err);
    cr_assert(reg_sets_add(&sets, "allow-out", "", err, sizeof err), "%s", err);
    cr_assert(reg_change_add(&a, cfg, "web1", "serial:/run/w.sock", "/run/w.qmp", true, &sets));
    char *line = reg_change_request(&a);
    cr_assert_str_eq(line, "add web1.vm.test serial:/run/w.sock /run/w.qmp 1 ports=22,8000-8100 "
                           "allow-out=\n");
    line[strlen(line) - 1] = '\0';
    cr_assert(reg_change_parse_request(&back, cfg, line), "%s", back.detail);
    cr_assert(back.kind == REG_CHANGE_ADD && back.takeover);
    cr_assert_str_eq(back.name, a.name);
    cr_assert_str_eq(back.zone, a.zone);
    cr_assert_str_eq(back.channel, a.channel);
    cr_assert_str_eq(back.qmp, a.qmp);
    cr_assert_eq(back.sets.n, 2);
    cr_assert_str_eq(back.sets.v[1].key, "allow-out");
    cr_assert_str_eq(back.sets.v[1].value, "");
    vg_free(line);
    reg_change_clear(&a);
    reg_change_clear(&back);

    cr_assert(reg_change_add(&a, cfg, "db.lab.example", "vsock:9", NULL, false, NULL));
    line = reg_change_request(&a);
    cr_assert_str_eq(line, "add db.lab.example vsock:9 - 0\n");
    vg_free(line);
    reg_change_clear(&a);
    cr_assert(reg_change_del(&a, cfg, "web1"));
    line = reg_change_request(&a);
    cr_assert_str_eq(line, "del web1.vm.test\n");
    vg_free(line);
    reg_change_clear(&a);

    /* refused lines: the answer's name and detail */
    static const struct {
        const char *line, *name, *detail;
    } bad[] = {
        {"frob x", "", "malformed request"},
        {"add", "", "malformed request"},
        {"del bad_name", "bad_name", "'bad_name': character other than letter, digit or hyphen"},
        {"add bad_name x", "bad_name", "'bad_name': character other than letter, digit or hyphen"},
        {"add p3 vsock:3", "p3.vm.test", "malformed request"},
        {"del p3 extra", "p3.vm.test", "malformed request"},
        {"add p3 ftp:x - 0", "p3.vm.test", "channel 'ftp:x': unknown channel type"},
        {"add p3 vsock:3 rel 0", "p3.vm.test", "qmp: 'rel'"},
        {"add p3 vsock:3 - 0 prots=22", "p3.vm.test", "'prots' is not a VM table key"},
        {"add p4 vsock:3 - 0 a=1 b=2 c=3 d=4 e=5 f=6 g=7 h=8 i=9", "p4.vm.test",
         "malformed request"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char buf[256], reply[1600];
        snprintf(buf, sizeof buf, "%s", bad[i].line);
        cr_assert(!reg_change_parse_request(&back, cfg, buf), "accepted %s", bad[i].line);
        cr_assert_eq(back.result, REG_BADNAME, "%s", bad[i].line);
        cr_assert_str_eq(back.name, bad[i].name, "%s", bad[i].line);
        cr_assert(strncmp(back.detail, bad[i].detail, strlen(bad[i].detail)) == 0, "%s: %s",
                  bad[i].line, back.detail);
        cr_assert(reg_change_reply(&back, reply, sizeof reply));
        cr_assert(strncmp(reply, "bad-name ", 9) == 0, "%s", reply);
        reg_change_clear(&back);
    }
    vg_config_free(cfg);
}

Test(change, reply_round_trip)
{
    struct reg_change c = {.result = REG_INUSE}, back = {0};
    char line[1600];
    snprintf(c.name, sizeof c.name, "web1.vm.test");
    snprintf(c.detail, sizeof c.detail, "YXDOMAIN: web1.vm.test is owned by host hv2");
    cr_assert(reg_change_reply(&c, line, sizeof line));
    cr_assert_str_eq(line, "in-use web1.vm.test YXDOMAIN: web1.vm.test is owned by host hv2\n");
    line[strlen(line) - 1] = '\0';
    cr_assert(reg_change_parse_reply(&back, line));
    cr_assert_eq(back.result, REG_INUSE);
    cr_assert_str_eq(back.detail, c.detail);
    snprintf(line, sizeof line, "ok web1.vm.test");
    cr_assert(reg_change_parse_reply(&back, line));
    cr_assert(back.result == REG_OK && back.detail[0] == '\0');
    snprintf(line, sizeof line, "splendid web1.vm.test fine");
    cr_assert(!reg_change_parse_reply(&back, line));
    snprintf(line, sizeof line, "ok");
    cr_assert(!reg_change_parse_reply(&back, line));
}

Test(change, exit_code_of_changes)
{
    struct reg_changes cs = {0};
    for (int i = 0; i < 40; i++)
        cr_assert_not_null(reg_changes_push(&cs));
    cs.v[7].result = REG_QUEUED;
    cr_assert_eq(reg_changes_exit(cs.v, cs.n), REG_EXIT_QUEUED);
    cs.v[30].result = REG_NOTOWNER;
    cr_assert_eq(reg_changes_exit(cs.v, cs.n), REG_EXIT_NOTOWNER);
    reg_changes_pop(&cs);
    cr_assert_eq(cs.n, 39);
    struct reg_change **p = reg_change_ptrs(cs.v, cs.n);
    cr_assert(p[38] == &cs.v[38]);
    vg_free(p);
    reg_changes_free(&cs);
    cr_assert(cs.v == NULL && cs.n == 0);
}

Test(config, registrar_keys_required)
{
    char err[512];
    struct vg_config *cfg = load_cfg(FULLCFG);
    cr_assert(reg_config_check(cfg, err, sizeof err), "%s", err);
    cr_assert_eq(cfg->gc_interval, 0);
    cr_assert_eq(cfg->batch_max, 500);
    cr_assert_eq(cfg->ttl, 30);
    vg_config_free(cfg);
    const char *missing[] = {"server", "tsig-key-file", "name", "address", "vm-dir", "state-dir"};
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        char text[1024], *p;
        snprintf(text, sizeof text, "%s", FULLCFG);
        char needle[64];
        snprintf(needle, sizeof needle, "\n%s = ", missing[i]);
        p = strstr(text, needle);
        cr_assert_not_null(p);
        p[1] = '#';
        cfg = load_cfg(text);
        cr_assert(!reg_config_check(cfg, err, sizeof err), "missing %s accepted", missing[i]);
        cr_assert(strstr(err, missing[i]) != NULL, "%s", err);
        vg_config_free(cfg);
    }
}

Test(config, identity_addresses)
{
    struct reg_ident i2;
    char err[256];
    cr_assert(
        reg_ident_init(&i2, "HV-2", "[2001:db8::2] 198.18.0.2,fd00::1", 1080, 30, err, sizeof err),
        "%s", err);
    cr_assert_str_eq(i2.host, "hv-2");
    cr_assert_eq(i2.nv4, 1);
    cr_assert_eq(i2.nv6, 2);
    cr_assert(!reg_ident_init(&i2, "hv2", "", 1080, 30, err, sizeof err));
    cr_assert(!reg_ident_init(&i2, "hv2", "example.com", 1080, 30, err, sizeof err));
    cr_assert(!reg_ident_init(&i2, "hv_2", "192.0.2.1", 1080, 30, err, sizeof err));
}

/* ---- zone model, sync and gc plans ------------------------------------------------------- */

static void feed(struct reg_zone *z, const char *const *rrs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ldns_rr *rr = NULL;
        cr_assert_eq(ldns_rr_new_frm_str(&rr, rrs[i], 30, NULL, NULL), LDNS_STATUS_OK, "%s",
                     rrs[i]);
        cr_assert(reg_zone_add_rr(z, rr));
        ldns_rr_free(rr);
    }
}

static const char *const ZONE_RRS[] = {
    "vm.test. 300 IN SOA ns.vm.test. h.vm.test. 1 3600 600 86400 30",
    "vm.test. 300 IN NS ns.vm.test.",
    "ns.vm.test. 300 IN A 127.0.0.1",
    /* web1: ours and complete */
    "web1.vm.test. 30 IN A 192.0.2.1",
    "web1.vm.test. 30 IN AAAA 2001:db8::1",
    "web1.vm.test. 30 IN TXT \"vmgate-owner=hv1\"",
    "_vmgate._tcp.web1.vm.test. 30 IN SRV 0 0 1080 hv1.vmgate-hosts.vm.test.",
    /* web2: ours, SRV missing */
    "WEB2.vm.test. 30 IN A 192.0.2.1",
    "web2.vm.test. 30 IN AAAA 2001:db8::1",
    "web2.vm.test. 30 IN TXT \"vmgate-owner=hv1\"",
    /* ghost: ours, not in the table */
    "ghost.vm.test. 30 IN TXT \"vmgate-owner=hv1\"",
    /* other: hv2's, hv2 alive */
    "other.vm.test. 30 IN TXT \"vmgate-owner=hv2\"",
    "other.vm.test. 30 IN A 192.0.2.2",
    /* dead: hv3's, hv3 silent */
    "dead.vm.test. 30 IN TXT \"vmgate-owner=hv3\"",
    /* orphan: hv4's, no host record */
    "orphan.vm.test. 30 IN TXT \"vmgate-owner=hv4\"",
    "hv1.vmgate-hosts.vm.test. 30 IN A 192.0.2.1",
    "hv1.vmgate-hosts.vm.test. 30 IN TXT \"vmgate-heartbeat=10000\"",
    "hv2.vmgate-hosts.vm.test. 30 IN TXT \"vmgate-heartbeat=9990\"",
    "hv3.vmgate-hosts.vm.test. 30 IN TXT \"vmgate-heartbeat=5000\"",
};

Test(zone, model_from_transfer)
{
    setup();
    struct reg_zone *z = reg_zone_new("vm.test");
    feed(z, ZONE_RRS, sizeof ZONE_RRS / sizeof ZONE_RRS[0]);
    cr_assert(z->soa_seen);
    struct reg_zvm *v = reg_zone_vm(z, "web1.vm.test");
    cr_assert_not_null(v);
    cr_assert_str_eq(v->owner, "hv1");
    cr_assert(reg_zvm_matches(v, &id, "vm.test"));
    struct reg_zvm *w2 = reg_zone_vm(z, "web2.vm.test");
    cr_assert_not_null(w2, "owner names are case-folded");
    cr_assert(!reg_zvm_matches(w2, &id, "vm.test"));
    cr_assert_str_eq(reg_zone_vm(z, "ns.vm.test")->owner, "");
    struct reg_zhost *h = reg_zone_host(z, "hv3");
    cr_assert_not_null(h);
    cr_assert_eq(h->heartbeat, 5000);
    cr_assert_str_eq(h->hbtxt, "vmgate-heartbeat=5000");
    cr_assert_null(reg_zone_vm(z, "hv1.vmgate-hosts.vm.test"), "host records are not VMs");
    reg_zone_free(z);
}

Test(zone, many_names_index)
{
    struct reg_zone *z = reg_zone_new("vm.test");
    char buf[128];
    for (int i = 0; i < 5000; i++) {
        ldns_rr *rr = NULL;
        snprintf(buf, sizeof buf, "vm%d.vm.test. 30 IN TXT \"vmgate-owner=h%d\"", i, i % 7);
        cr_assert_eq(ldns_rr_new_frm_str(&rr, buf, 30, NULL, NULL), LDNS_STATUS_OK);
        reg_zone_add_rr(z, rr);
        ldns_rr_free(rr);
    }
    cr_assert_eq(z->nvms, 5000);
    for (int i = 0; i < 5000; i += 37) {
        snprintf(buf, sizeof buf, "vm%d.vm.test", i);
        struct reg_zvm *v = reg_zone_vm(z, buf);
        cr_assert_not_null(v, "%s", buf);
        snprintf(buf, sizeof buf, "h%d", i % 7);
        cr_assert_str_eq(v->owner, buf);
    }
    cr_assert_null(reg_zone_vm(z, "vm5000.vm.test"));
    reg_zone_free(z);
}

Test(zone, sync_plan_both_directions)
{
    setup();
    struct reg_zone *z = reg_zone_new("vm.test");
    feed(z, ZONE_RRS, sizeof ZONE_RRS / sizeof ZONE_RRS[0]);
    const char *table[] = {"web1.vm.test", "web2.vm.test", "new.vm.test", "other.vm.test",
                           "ns.vm.test"};
    struct reg_sync_step *st;
    size_t n;
    cr_assert(reg_sync_plan(z, &id, table, 5, &st, &n));
    cr_assert_eq(n, 6);
    cr_assert_eq(st[0].action, REG_SYNC_NONE);
    cr_assert_eq(st[1].action, REG_SYNC_ADD_OWN);
    cr_assert_eq(st[2].action, REG_SYNC_ADD_FRESH);
    cr_assert_eq(st[3].action, REG_SYNC_CONFLICT);
    cr_assert(strstr(st[3].why, "hv2") != NULL);
    cr_assert_eq(st[4].action, REG_SYNC_CONFLICT, "a name with foreign records is not taken");
    cr_assert_eq(st[5].action, REG_SYNC_DEL);
    cr_assert_str_eq(st[5].name, "ghost.vm.test");
    vg_free(st);
    reg_zone_free(z);
}

Test(zone, gc_plan)
{
    setup();
    struct reg_zone *z = reg_zone_new("vm.test");
    feed(z, ZONE_RRS, sizeof ZONE_RRS / sizeof ZONE_RRS[0]);
    struct reg_gc_step *st;
    size_t n;
    cr_assert(reg_gc_plan(z, &id, 10000, 120, &st, &n));
    cr_assert_eq(n, 3);
    bool dead = false, orphan = false, host = false;
    for (size_t i = 0; i < n; i++) {
        if (!st[i].host_record && strcmp(st[i].name, "dead.vm.test") == 0) {
            dead = true;
            cr_assert_str_eq(st[i].arg, "hv3");
            cr_assert_eq(st[i].silent, 5000);
        }
        if (!st[i].host_record && strcmp(st[i].name, "orphan.vm.test") == 0)
            orphan = st[i].silent == -1;
        if (st[i].host_record) {
            host = strcmp(st[i].name, "hv3.vmgate-hosts.vm.test") == 0 &&
                   strcmp(st[i].arg, "vmgate-heartbeat=5000") == 0;
        }
    }
    cr_assert(dead && orphan && host);
    vg_free(st);
    /* with a longer grace period only the orphan goes */
    cr_assert(reg_gc_plan(z, &id, 10000, 6000, &st, &n));
    cr_assert_eq(n, 1);
    cr_assert_str_eq(st[0].name, "orphan.vm.test");
    vg_free(st);
    reg_zone_free(z);
}

/* ---- files ------------------------------------------------------------------------------- */

Test(store, journal_round_trip)
{
    struct reg_change r = {.kind = REG_CHANGE_ADD,
                           .channel = "serial:/run/a.sock",
                           .qmp = "/run/a.qmp",
                           .takeover = true,
                           .queued = 1234};
    char err[256];
    snprintf(r.name, sizeof r.name, "web1.vm.test");
    cr_assert(reg_sets_add(&r.sets, "ports", "22, 80 8000-8100", err, sizeof err), "%s", err);
    cr_assert(reg_sets_add(&r.sets, "allow-out", "", err, sizeof err), "%s", err);
    char *text = reg_journal_format(&r);
    struct reg_change back = {0};
    cr_assert(reg_journal_parse(text, strlen(text), &back, err, sizeof err), "%s", err);
    cr_assert_str_eq(back.name, "web1.vm.test");
    cr_assert_str_eq(back.channel, "serial:/run/a.sock");
    cr_assert_str_eq(back.qmp, "/run/a.qmp");
    cr_assert(back.takeover && back.kind == REG_CHANGE_ADD);
    cr_assert(back.from_journal);
    cr_assert_eq(back.queued, 1234);
    cr_assert_eq(back.sets.n, 2);
    cr_assert_str_eq(back.sets.v[0].key, "ports");
    cr_assert_str_eq(back.sets.v[0].value, "22,80,8000-8100");
    cr_assert_str_eq(back.sets.v[1].key, "allow-out");
    cr_assert_str_eq(back.sets.v[1].value, "");
    reg_change_clear(&back);
    reg_sets_clear(&r.sets);
    vg_free(text);
    struct reg_change del = {.kind = REG_CHANGE_DEL, .queued = 99};
    snprintf(del.name, sizeof del.name, "gone.vm.test");
    text = reg_journal_format(&del);
    cr_assert(reg_journal_parse(text, strlen(text), &back, err, sizeof err), "%s", err);
    cr_assert(back.kind == REG_CHANGE_DEL && back.channel == NULL && back.queued == 99);
    cr_assert_null(strstr(text, "channel"), "%s", text);
    reg_change_clear(&back);
    vg_free(text);
    const char *bad[] = {"name = a.vm.test\nop = add\n", /* a pending add needs a channel */
                         "op = frobnicate\n",
                         "name = a.vm.test\n",
                         "op = add\nchannel = tcp:1.2.3.4:22\n",
                         "op = add\nchannel = vsock:3\nset-channel = vsock:4\n",
                         "op = add\nchannel = vsock:3\nset-ports = 99999\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert(!reg_journal_parse(bad[i], strlen(bad[i]), &back, err, sizeof err), "accepted %s",
                  bad[i]);
        reg_change_clear(&back);
    }
}

Test(store, sets)
{
    struct reg_sets s = {0};
    char err[256];
    cr_assert(reg_sets_add_word(&s, "ports=22", err, sizeof err), "%s", err);
    cr_assert(reg_sets_add_word(&s, "ports=80,443", err, sizeof err), "%s", err);
    cr_assert_eq(s.n, 1, "a later set of the same key replaces the earlier one");
    cr_assert_str_eq(s.v[0].value, "80,443");
    cr_assert(!reg_sets_add_word(&s, "channel=vsock:3", err, sizeof err));
    cr_assert(strstr(err, "own option"), "%s", err);
    cr_assert(!reg_sets_add_word(&s, "prots=22", err, sizeof err), "a typo is refused");
    cr_assert(!reg_sets_add_word(&s, "ports", err, sizeof err));
    cr_assert(!reg_sets_add_word(&s, "allow-out=web2", err, sizeof err));
    reg_sets_clear(&s);
}

static char *read_text(const char *dir, const char *name)
{
    char path[512];
    size_t len;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return vg_file_read(AT_FDCWD, path, 65536, &len);
}

Test(store, table_write_load_remove)
{
    char dir[] = "/tmp/vmgate-ut-dir-XXXXXX", err[256];
    cr_assert_not_null(mkdtemp(dir));
    struct reg_change recs[8] = {0};
    struct reg_change *p[8];
    const char *names[8];
    for (int i = 0; i < 8; i++) {
        snprintf(recs[i].name, sizeof recs[i].name, "vm%d.vm.test", i);
        recs[i].channel = "vsock:9";
        recs[i].qmp = i == 3 ? "/run/vm3.qmp" : NULL;
        p[i] = &recs[i];
        names[i] = recs[i].name;
    }
    cr_assert(reg_table_write(dir, p, 8, "hv1", err, sizeof err), "%s", err); /* syncfs path */
    cr_assert(reg_table_write(dir, p, 2, "hv1", err, sizeof err), "%s", err); /* fsync path */
    struct reg_changes loaded = {0};
    cr_assert(reg_table_load(dir, &loaded, err, sizeof err));
    cr_assert_eq(loaded.n, 8);
    for (size_t i = 0; i < loaded.n; i++) {
        const struct reg_change *c = &loaded.v[i];
        cr_assert(c->kind == REG_CHANGE_ADD);
        cr_assert_str_eq(c->channel, "vsock:9");
        if (strcmp(c->name, "vm3.vm.test") == 0)
            cr_assert_str_eq(c->qmp, "/run/vm3.qmp");
        else
            cr_assert_null(c->qmp, "%s", c->name);
        cr_assert(reg_table_has(dir, c->name));
    }
    char *text = read_text(dir, "vm5.vm.test");
    cr_assert(strstr(text, "\nowner = hv1\n"), "%s", text);
    vg_free(text);
    reg_changes_free(&loaded);
    cr_assert(reg_table_remove(dir, names, 8, err, sizeof err));
    cr_assert(!reg_table_has(dir, "vm5.vm.test"));
    cr_assert(reg_table_load(dir, &loaded, err, sizeof err));
    cr_assert_eq(loaded.n, 0);
    reg_changes_free(&loaded);
    rmdir(dir);
}

/* The bug this guards against: a rewrite by vmgate-reg dropped ports and allow-out. */
Test(store, table_rewrite_keeps_what_it_does_not_manage)
{
    char dir[] = "/tmp/vmgate-ut-dir-XXXXXX", err[256], path[256];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/web1.vm.test", dir);
    FILE *f = fopen(path, "w");
    fputs("# the operator's note\nchannel = tcp:198.18.1.2\nports = 22   # ssh only\n"
          "allow-out = db.vm.test:5432\nx-team = blue\nqmp = /run/old.qmp\n",
          f);
    fclose(f);
    struct reg_change r = {.channel = "tcp:[fd00::2]"};
    struct reg_change *p = &r;
    snprintf(r.name, sizeof r.name, "web1.vm.test");
    cr_assert(reg_table_write(dir, &p, 1, "hv2", err, sizeof err), "%s", err);
    char *text = read_text(dir, "web1.vm.test");
    cr_assert_str_eq(text,
                     "# the operator's note\nchannel = tcp:[fd00::2]\nports = 22   # ssh only\n"
                     "allow-out = db.vm.test:5432\nx-team = blue\nname = web1.vm.test\n"
                     "owner = hv2\n");
    vg_free(text);
    /* a set changes its key in place; "" removes it */
    cr_assert(reg_sets_add(&r.sets, "ports", "22,80", err, sizeof err));
    cr_assert(reg_sets_add(&r.sets, "allow-out", "", err, sizeof err));
    cr_assert(reg_table_write(dir, &p, 1, "hv2", err, sizeof err), "%s", err);
    text = read_text(dir, "web1.vm.test");
    cr_assert(strstr(text, "ports = 22,80   # ssh only\n"), "%s", text);
    cr_assert_null(strstr(text, "allow-out"), "%s", text);
    cr_assert(strstr(text, "x-team = blue\n"), "%s", text);
    vg_free(text);
    reg_sets_clear(&r.sets);
    /* a broken entry is replaced, its lines kept as comments */
    f = fopen(path, "w");
    fputs("channel = tcp:1.2.3.4:22\nports = 22\n", f);
    fclose(f);
    cr_assert(reg_table_write(dir, &p, 1, "hv2", err, sizeof err), "%s", err);
    text = read_text(dir, "web1.vm.test");
    cr_assert(strstr(text, "# channel = tcp:1.2.3.4:22\n# ports = 22\n"), "%s", text);
    cr_assert(strstr(text, "\nchannel = tcp:[fd00::2]\n"), "%s", text);
    vg_free(text);
    unlink(path);
    rmdir(dir);
}

/* ---- hooks ------------------------------------------------------------------------------- */

static char *slurp(const char *rel, size_t *len)
{
    char path[1024];
    const char *src = getenv("VMGATE_SRC");
    snprintf(path, sizeof path, "%s/%s", src ? src : "../..", rel);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    static char buf[65536];
    *len = fread(buf, 1, sizeof buf - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

Test(hook, libvirt_channel_preferred_over_vsock)
{
    size_t len;
    char *xml = slurp("tests/system/data/libvirt-web1.xml", &len);
    struct reg_vmspec s;
    char err[256];
    cr_assert(reg_libvirt_parse(xml, len, &s, err, sizeof err), "%s", err);
    cr_assert_str_eq(s.name, "web1");
    cr_assert_str_eq(s.channel,
                     "serial:/var/lib/libvirt/qemu/channel/target/domain-7-web1/org.vmgate.0");
}

Test(hook, libvirt_vsock_and_none)
{
    size_t len;
    struct reg_vmspec s;
    char err[256];
    char *xml = slurp("tests/system/data/libvirt-db2-vsock.xml", &len);
    cr_assert(reg_libvirt_parse(xml, len, &s, err, sizeof err), "%s", err);
    cr_assert_str_eq(s.channel, "vsock:42");
    xml = slurp("tests/system/data/libvirt-plain3.xml", &len);
    cr_assert(reg_libvirt_parse(xml, len, &s, err, sizeof err), "%s", err);
    cr_assert_str_eq(s.name, "plain3");
    cr_assert_str_eq(s.channel, "");
    cr_assert(!reg_libvirt_parse("<domain><name>x", 15, &s, err, sizeof err));
    cr_assert(!reg_libvirt_parse("<network/>", 10, &s, err, sizeof err));
    const char *ent = "<!DOCTYPE d [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>"
                      "<domain><name>&e;</name></domain>";
    if (reg_libvirt_parse(ent, strlen(ent), &s, err, sizeof err))
        cr_assert(strstr(s.name, "root") == NULL, "external entity expanded");
}

Test(hook, qemu_command_lines)
{
    struct reg_vmspec s;
    char err[256];
    char *a1[] = {"qemu-system-x86_64",
                  "-name",
                  "guest=web1,debug-threads=on",
                  "-chardev",
                  "socket,id=mon,path=/run/q.mon,server=on,wait=off",
                  "-mon",
                  "chardev=mon,mode=control",
                  "-chardev",
                  "socket,id=vg,path=/run/odd,,name.sock,server=on,wait=off",
                  "-device",
                  "virtio-serial-pci",
                  "--device",
                  "virtserialport,chardev=vg,name=org.vmgate.0",
                  "-device",
                  "vhost-vsock-pci,guest-cid=5"};
    cr_assert(reg_qemu_parse(15, a1, &s, err, sizeof err), "%s", err);
    cr_assert_str_eq(s.name, "web1");
    cr_assert_str_eq(s.channel, "serial:/run/odd,name.sock");
    cr_assert_str_eq(s.qmp, "/run/q.mon");
    char *a2[] = {"qemu",
                  "-name",
                  "db",
                  "-device",
                  "vhost-vsock-device,guest-cid=9",
                  "-qmp",
                  "unix:/run/db.qmp,server,nowait"};
    cr_assert(reg_qemu_parse(7, a2, &s, err, sizeof err), "%s", err);
    cr_assert_str_eq(s.name, "db");
    cr_assert_str_eq(s.channel, "vsock:9");
    cr_assert_str_eq(s.qmp, "/run/db.qmp");
    char *a3[] = {"qemu", "-m", "128"};
    cr_assert(!reg_qemu_parse(3, a3, &s, err, sizeof err), "no -name");
    char *a4[] = {"qemu", "-name", "x", "-device", "virtserialport,chardev=nope,name=org.vmgate.1"};
    cr_assert(!reg_qemu_parse(5, a4, &s, err, sizeof err), "dangling chardev");
    char *a5[] = {"qemu",
                  "-name",
                  "x",
                  "-device",
                  "virtserialport,chardev=c,name=org.qemu.guest_agent.0",
                  "-chardev",
                  "socket,id=c,path=/run/ga"};
    cr_assert(reg_qemu_parse(7, a5, &s, err, sizeof err));
    cr_assert_str_eq(s.channel, "", "only org.vmgate ports are vmgate channels");
}

Test(hook, libvirt_policy)
{
    cr_assert_eq(reg_libvirt_action("started"), REG_LIBVIRT_REGISTER);
    cr_assert_eq(reg_libvirt_action("reconnect"), REG_LIBVIRT_REGISTER);
    cr_assert_eq(reg_libvirt_action("migrate"), REG_LIBVIRT_MIGRATE_IN);
    cr_assert_eq(reg_libvirt_action("stopped"), REG_LIBVIRT_WITHDRAW);
    cr_assert_eq(reg_libvirt_action("release"), REG_LIBVIRT_WITHDRAW);
    const char *nothing[] = {"prepare", "start", "restore", "attach", "", "Started"};
    for (size_t i = 0; i < sizeof nothing / sizeof nothing[0]; i++)
        cr_assert_eq(reg_libvirt_action(nothing[i]), REG_LIBVIRT_NOTHING, "%s", nothing[i]);
}

/* ---- results ----------------------------------------------------------------------------- */

Test(result, exit_codes)
{
    enum reg_result ok[] = {REG_OK, REG_OK}, q[] = {REG_OK, REG_QUEUED},
                    mix[] = {REG_QUEUED, REG_NOTOWNER, REG_INUSE};
    cr_assert_eq(reg_exit_code_of(ok, 2), 0);
    cr_assert_eq(reg_exit_code_of(q, 2), 75);
    cr_assert_eq(reg_exit_code_of(mix, 3), 11);
    int seen[256] = {0};
    for (unsigned r = 0; r < REG_NRESULTS; r++) {
        enum reg_result back;
        cr_assert(reg_result_parse(reg_result_str((enum reg_result)r), &back));
        cr_assert_eq(back, r);
        int code = reg_result_exit((enum reg_result)r);
        cr_assert_eq(seen[code], 0, "exit code %d used twice", code);
        seen[code] = 1;
    }
    cr_assert(reg_result_transient(REG_TIMEOUT) && reg_result_transient(REG_SERVFAIL));
    cr_assert(!reg_result_transient(REG_BADSIG) && !reg_result_transient(REG_INUSE));
}
