#include "reg_engine.h"

#include "vg_addr.h"
#include "vg_alloc.h"
#include "vg_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static uint16_t random_id(void)
{
    uint16_t id;
    if (getrandom(&id, sizeof id, 0) != (ssize_t)sizeof id)
        id = (uint16_t)(rand() ^ time(NULL));
    return id;
}

static bool first_listen_port(const char *listen, uint16_t *port)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", listen);
    char *end = buf + strcspn(buf, ", \t");
    *end = '\0';
    struct sockaddr_storage ss;
    socklen_t len;
    if (!vg_sockaddr_parse(buf, 0, &ss, &len))
        return false;
    *port = vg_sockaddr_port((struct sockaddr *)&ss);
    return true;
}

bool reg_engine_init(struct reg_engine *e, const struct vg_config *cfg, char *err, size_t errlen)
{
    memset(e, 0, sizeof *e);
    e->conn.fd = -1;
    uint16_t port = VG_REC_DEFAULT_PORT;
    if (cfg->gateway_port)
        port = (uint16_t)cfg->gateway_port;
    else if (cfg->listen && !first_listen_port(cfg->listen, &port)) {
        snprintf(err, errlen, "[gateway] listen: cannot take the port from '%s'", cfg->listen);
        return false;
    }
    if (!reg_key_load(cfg->tsig_key_file, &e->key, err, errlen))
        return false;
    if (!reg_ident_init(&e->id, cfg->host_name, cfg->host_address, port, cfg->ttl, err, errlen))
        return false;
    if (!reg_conn_init(&e->conn, cfg->server, cfg->dns_timeout * 1000u, err, errlen))
        return false;
    e->batch_max = cfg->batch_max ? cfg->batch_max : 500;
    return true;
}

void reg_engine_close(struct reg_engine *e)
{
    reg_conn_close(&e->conn);
}

/* A reply that did not verify is not the server's word: it is treated like a lost reply (the
 * caller journals the change and retries; every change carries its prerequisites, so a retry is
 * safe whether or not the server applied it).  Whatever is on this connection cannot be trusted
 * to line up any more either. */
static void not_believed(struct reg_engine *e, char *err, size_t errlen)
{
    char peer[VG_ADDRSTRLEN], why[256];
    snprintf(why, sizeof why, "%s", err);
    snprintf(err, errlen, "unsigned/forged reply from %s: %s; not believed",
             reg_conn_peer(&e->conn, peer, sizeof peer), why);
    vg_warn("dns: %s", err);
    reg_conn_close(&e->conn);
}

/* Sign, send, receive, check.  too_big is set (and nothing sent) when the message exceeds what
 * TCP can carry. */
static enum reg_result exchange(struct reg_engine *e, ldns_pkt *pkt, ldns_pkt **reply, int *rcode,
                                bool *too_big, char *err, size_t errlen)
{
    uint8_t *wire = NULL, *rwire = NULL;
    size_t len = 0, rlen = 0;
    ldns_rdf *mac = NULL;
    uint16_t id = random_id();
    enum reg_result res;
    *rcode = -1;
    if (reply)
        *reply = NULL;
    if (too_big)
        *too_big = false;
    if ((res = reg_msg_sign(pkt, &e->key, id, &wire, &len, &mac)) != REG_OK) {
        if (len > REG_TCP_MAX) {
            if (too_big)
                *too_big = true;
            snprintf(err, errlen, "message of %zu octets exceeds %d", len, REG_TCP_MAX);
        } else {
            snprintf(err, errlen, "cannot sign the message with key %s", e->key.name);
        }
        goto done;
    }
    if (reg_conn_exchange(&e->conn, wire, len, &rwire, &rlen) < 0) {
        snprintf(err, errlen, "no DNS server answered (%s)", e->conn.err);
        res = REG_TIMEOUT;
        goto done;
    }
    res = reg_msg_check(rwire, rlen, pkt, &e->key, mac, false, (long long)time(NULL), reply, NULL,
                        rcode, err, errlen);
    if (res == REG_BADREPLY)
        not_believed(e, err, errlen);
done:
    free(wire);
    vg_free(rwire);
    ldns_rdf_deep_free(mac);
    return res;
}

/* What the engine keeps per change while it runs: the change itself, and the message layer's
 * view of it (item.mode changes as the fallbacks are tried; item.name and item.arg point into the
 * change or at this host's name). */
struct op {
    struct reg_change *c;
    struct reg_item item;
};

static void set_result(struct op *op, enum reg_result r, const char *detail)
{
    op->c->result = r;
    snprintf(op->c->detail, sizeof op->c->detail, "%s", detail ? detail : "");
}

static enum reg_mode initial_mode(const struct reg_change *c)
{
    switch (c->kind) {
    case REG_CHANGE_ADD:
        return c->takeover ? REG_M_TAKEOVER : c->republish ? REG_M_OWN : REG_M_FRESH;
    case REG_CHANGE_DEL:
    case REG_CHANGE_GC_VM:
        return REG_M_DEL;
    case REG_CHANGE_GC_HOST:
        return REG_M_HOSTDEL;
    }
    return REG_M_FRESH;
}

/* Send one UPDATE with ops[0..n); returns the result, rcode and message of the exchange. */
static enum reg_result send_ops(struct reg_engine *e, const char *zone, struct op *const *ops,
                                size_t n, bool host_record, bool *too_big, int *rcode, char *err,
                                size_t errlen)
{
    const struct reg_item **items = vg_calloc(n ? n : 1, sizeof *items);
    if (items == NULL) {
        snprintf(err, errlen, "out of memory");
        return REG_ERROR;
    }
    for (size_t i = 0; i < n; i++) {
        items[i] = &ops[i]->item;
        host_record |= ops[i]->c->kind == REG_CHANGE_ADD;
    }
    ldns_pkt *pkt = reg_msg_update(&e->id, zone, items, n, host_record, (long long)time(NULL));
    vg_free(items);
    if (pkt == NULL) {
        snprintf(err, errlen, "cannot build the UPDATE message");
        return REG_ERROR;
    }
    enum reg_result r = exchange(e, pkt, NULL, rcode, too_big, err, errlen);
    ldns_pkt_free(pkt);
    if (r != REG_TIMEOUT && !(too_big && *too_big))
        e->updates++;
    vg_debug("dns: UPDATE %s with %zu change(s): %s %s", zone, n, reg_result_str(r), err);
    return r;
}

/* Who owns `name` now: owner host into owner ("" if none); *exists false on NXDOMAIN. */
static enum reg_result query_owner(struct reg_engine *e, const char *name, char *owner,
                                   size_t ownerlen, bool *exists, char *err, size_t errlen)
{
    ldns_pkt *q = reg_msg_query(name, LDNS_RR_TYPE_TXT), *reply = NULL;
    int rcode;
    owner[0] = '\0';
    *exists = false;
    if (q == NULL) {
        snprintf(err, errlen, "out of memory");
        return REG_ERROR;
    }
    enum reg_result r = exchange(e, q, &reply, &rcode, NULL, err, errlen);
    /* exchange hands out only a verified reply: an NXDOMAIN is the server's word */
    if (reply != NULL && rcode == LDNS_RCODE_NXDOMAIN) {
        r = REG_OK;
        goto done;
    }
    if (r != REG_OK || reply == NULL)
        goto done;
    *exists = true;
    ldns_rr_list *an = ldns_pkt_answer(reply);
    ldns_rdf *qname = ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(q), 0));
    for (size_t i = 0; i < ldns_rr_list_rr_count(an); i++) {
        char txt[256], host[VG_REC_HOST_MAX + 1];
        const ldns_rr *rr = ldns_rr_list_rr(an, i);
        if (ldns_dname_compare(ldns_rr_owner(rr), qname) == 0 &&
            reg_txt_text(rr, txt, sizeof txt) && vg_rec_owner_parse(txt, strlen(txt), host))
            snprintf(owner, ownerlen, "%s", host);
    }
done:
    ldns_pkt_free(q);
    ldns_pkt_free(reply);
    return r;
}

/* Explain a final conflict of an ADD: who has the name. */
static void explain_inuse(struct reg_engine *e, struct op *op)
{
    const struct reg_change *c = op->c;
    char owner[VG_NAME_MAX + 1], err[200], msg[1200];
    bool exists;
    if (query_owner(e, c->name, owner, sizeof owner, &exists, err, sizeof err) != REG_OK)
        snprintf(msg, sizeof msg, "YXDOMAIN: %s is in use (owner unknown: %s)", c->name, err);
    else if (owner[0])
        snprintf(msg, sizeof msg, "YXDOMAIN: %s is owned by host %s%s", c->name, owner,
                 c->takeover ? "" : "; use --takeover to move it here");
    else
        snprintf(msg, sizeof msg, "YXDOMAIN: %s is in use by records not managed by vmgate",
                 c->name);
    set_result(op, REG_INUSE, msg);
}

/* A single change whose prerequisite failed: try the other way it can legitimately succeed. */
static void resolve_single(struct reg_engine *e, const char *zone, struct op *op, int rcode)
{
    const struct reg_change *c = op->c;
    char err[256], owner[VG_NAME_MAX + 1], msg[1200];
    bool exists, too_big;
    int rc;
    enum reg_result r;

    switch (c->kind) {
    case REG_CHANGE_ADD:
        if (op->item.mode == REG_M_FRESH || op->item.mode == REG_M_TAKEOVER) {
            /* FRESH: the name is in use — perhaps by us (a re-add).  TAKEOVER: there was no TXT —
             * perhaps the name is free after all. */
            enum reg_mode next = op->item.mode == REG_M_FRESH ? REG_M_OWN : REG_M_FRESH;
            op->item.mode = next;
            struct op *one[1] = {op};
            r = send_ops(e, zone, one, 1, false, &too_big, &rc, err, sizeof err);
            if (r == REG_OK) {
                set_result(op, REG_OK,
                           next == REG_M_OWN ? "already ours: records refreshed"
                                             : "was not registered: published");
                return;
            }
            if (!reg_rcode_is_prereq(rc)) {
                set_result(op, r, err);
                return;
            }
            explain_inuse(e, op);
            return;
        }
        /* OWN failed: not (or no longer) ours; maybe free */
        op->item.mode = REG_M_FRESH;
        {
            struct op *one[1] = {op};
            r = send_ops(e, zone, one, 1, false, &too_big, &rc, err, sizeof err);
        }
        if (r == REG_OK) {
            set_result(op, REG_OK, "published");
            return;
        }
        if (!reg_rcode_is_prereq(rc)) {
            set_result(op, r, err);
            return;
        }
        explain_inuse(e, op);
        return;
    case REG_CHANGE_DEL:
    case REG_CHANGE_GC_VM:
        r = query_owner(e, c->name, owner, sizeof owner, &exists, err, sizeof err);
        if (r != REG_OK) {
            /* whether the name is already gone or another host's is unknown: a transient failure
             * of the query (no answer, an answer not believed) leaves the del to be retried */
            snprintf(msg, sizeof msg, "NXRRSET: %s is not owned by %s (owner unknown: %s)", c->name,
                     op->item.arg, err);
            set_result(op, reg_result_transient(r) ? r : REG_NOTOWNER, msg);
            return;
        }
        if (c->kind == REG_CHANGE_DEL && owner[0] == '\0') {
            set_result(op, REG_OK,
                       exists ? "not registered (name has no vmgate owner)" : "already absent");
            return;
        }
        if (c->kind == REG_CHANGE_GC_VM)
            snprintf(msg, sizeof msg,
                     "NXRRSET: %s changed since the transfer (owner now %s); "
                     "left alone",
                     c->name, owner[0] ? owner : "none");
        else
            snprintf(msg, sizeof msg, "NXRRSET: %s is owned by host %s, not %s; nothing deleted",
                     c->name, owner, e->id.host);
        set_result(op, REG_NOTOWNER, msg);
        return;
    case REG_CHANGE_GC_HOST:
        set_result(op, REG_NOTOWNER,
                   "host record changed since the transfer (heartbeat "
                   "refreshed); left alone");
        return;
    }
    (void)rcode;
}

static void run_range(struct reg_engine *e, const char *zone, struct op *const *ops, size_t n)
{
    char err[256];
    bool too_big;
    int rcode;
    if (n == 0)
        return;
    if (e->conn.down) {
        snprintf(err, sizeof err, "no DNS server answered (%s)", e->conn.err);
        for (size_t i = 0; i < n; i++)
            set_result(ops[i], REG_TIMEOUT, err);
        return;
    }
    enum reg_result r = send_ops(e, zone, ops, n, false, &too_big, &rcode, err, sizeof err);
    if (too_big && n > 1) {
        vg_debug("dns: %zu changes do not fit one message: splitting", n);
        run_range(e, zone, ops, n / 2);
        run_range(e, zone, ops + n / 2, n - n / 2);
        return;
    }
    if (r == REG_OK) {
        for (size_t i = 0; i < n; i++)
            set_result(ops[i], REG_OK, ops[i]->item.mode == REG_M_TAKEOVER ? "taken over" : "");
        return;
    }
    if (reg_rcode_is_prereq(rcode) && r != REG_BADSIG && r != REG_BADKEY && r != REG_NOTAUTH &&
        r != REG_BADREPLY) {
        if (n > 1) {
            /* one prerequisite failed and the server does not say which: halve until the
             * offending change stands alone; the others land in the halves that pass */
            vg_info("dns: batch of %zu failed a prerequisite (%s): splitting", n, err);
            run_range(e, zone, ops, n / 2);
            run_range(e, zone, ops + n / 2, n - n / 2);
            return;
        }
        resolve_single(e, zone, ops[0], rcode);
        return;
    }
    for (size_t i = 0; i < n; i++)
        set_result(ops[i], r, err);
}

void reg_engine_run(struct reg_engine *e, struct reg_change *const *c, size_t n)
{
    struct op *ops = vg_calloc(n ? n : 1, sizeof *ops);
    struct op **group = vg_calloc(n ? n : 1, sizeof *group);
    bool *done = vg_calloc(n ? n : 1, sizeof *done);
    if (ops == NULL || group == NULL || done == NULL) {
        for (size_t i = 0; i < n; i++) {
            c[i]->result = REG_ERROR;
            snprintf(c[i]->detail, sizeof c[i]->detail, "out of memory");
        }
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        ops[i].c = c[i];
        ops[i].item.mode = initial_mode(c[i]);
        ops[i].item.name = c[i]->name;
        ops[i].item.arg = c[i]->kind == REG_CHANGE_DEL ? e->id.host : c[i]->gc_arg;
        if (c[i]->kind == REG_CHANGE_ADD && c[i]->takeover)
            vg_notice("%s: taking over from whichever host has it", c[i]->name);
    }
    /* one zone at a time, batch_max changes per UPDATE */
    for (size_t i = 0; i < n; i++) {
        if (done[i])
            continue;
        const char *zone = c[i]->zone;
        size_t g = 0;
        for (size_t j = i; j < n; j++) {
            if (!done[j] && strcmp(c[j]->zone, zone) == 0) {
                group[g++] = &ops[j];
                done[j] = true;
            }
        }
        /* as many changes per UPDATE as batch_max allows and (by estimate) 64 KiB holds;
         * send_ops measures exactly and run_range halves what still does not fit */
        for (size_t k = 0; k < g;) {
            size_t size = reg_msg_base_size(&e->id, zone, &e->key), m = 0;
            while (k + m < g && m < e->batch_max) {
                size_t s = reg_msg_item_size(&e->id, zone, &group[k + m]->item, size);
                if (m > 0 && size + s > REG_TCP_MAX)
                    break;
                size += s;
                m++;
            }
            run_range(e, zone, group + k, m);
            k += m;
        }
    }
out:
    vg_free(ops);
    vg_free(group);
    vg_free(done);
}

enum reg_result reg_engine_heartbeat(struct reg_engine *e, const char *zone, char *err,
                                     size_t errlen)
{
    bool too_big;
    int rcode;
    if (e->conn.down) {
        snprintf(err, errlen, "no DNS server answered (%s)", e->conn.err);
        return REG_TIMEOUT;
    }
    return send_ops(e, zone, NULL, 0, true, &too_big, &rcode, err, errlen);
}

enum reg_result reg_engine_axfr(struct reg_engine *e, const char *zone, struct reg_zone **out,
                                char *err, size_t errlen)
{
    uint8_t *wire = NULL, *rwire = NULL;
    size_t len, rlen;
    ldns_rdf *mac = NULL, *next = NULL;
    ldns_pkt *q = reg_msg_query(zone, LDNS_RR_TYPE_AXFR), *reply = NULL;
    struct reg_zone *z = reg_zone_new(zone);
    enum reg_result res = REG_ERROR;
    unsigned soas = 0, msgs = 0;
    uint16_t id = random_id();
    *out = NULL;
    if (q == NULL || z == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    if (e->conn.down) {
        snprintf(err, errlen, "no DNS server answered (%s)", e->conn.err);
        res = REG_TIMEOUT;
        goto done;
    }
    if (reg_msg_sign(q, &e->key, id, &wire, &len, &mac) != REG_OK) {
        snprintf(err, errlen, "cannot sign the transfer request");
        goto done;
    }
    if (reg_conn_send(&e->conn, wire, len) < 0) {
        snprintf(err, errlen, "no DNS server answered (%s)", e->conn.err);
        res = REG_TIMEOUT;
        goto done;
    }
    while (soas < 2) {
        int rcode;
        if (reg_conn_recv(&e->conn, &rwire, &rlen) < 0) {
            snprintf(err, errlen, "zone transfer of %s broke off (%s)", zone, e->conn.err);
            res = REG_TIMEOUT;
            goto done;
        }
        /* RFC 8945 5.3.1: the first reply is verified against the request MAC, every later one
         * against the previous MAC with the timers only */
        res = reg_msg_check(rwire, rlen, q, &e->key, mac, msgs > 0, (long long)time(NULL), &reply,
                            &next, &rcode, err, errlen);
        vg_free(rwire);
        rwire = NULL;
        if (res != REG_OK) {
            if (res == REG_BADREPLY) {
                if (msgs > 0)
                    snprintf(err + strlen(err), errlen - strlen(err),
                             " (message %u of the transfer)", msgs + 1);
                not_believed(e, err, errlen);
            } else if (res == REG_NOTAUTH || res == REG_REFUSED) {
                char why[256];
                snprintf(why, sizeof why, "%s", err);
                snprintf(err, errlen,
                         "zone transfer of %s refused (%s): the server must allow "
                         "AXFR to key %s",
                         zone, why, e->key.name);
            }
            reg_conn_close(&e->conn);
            goto done;
        }
        ldns_rdf_deep_free(mac);
        mac = next;
        next = NULL;
        msgs++;
        ldns_rr_list *an = ldns_pkt_answer(reply);
        for (size_t i = 0; i < ldns_rr_list_rr_count(an); i++) {
            ldns_rr *rr = ldns_rr_list_rr(an, i);
            if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA)
                soas++;
            if (!reg_zone_add_rr(z, rr)) {
                snprintf(err, errlen, "out of memory");
                res = REG_ERROR;
                goto done;
            }
        }
        if (ldns_rr_list_rr_count(an) == 0) {
            snprintf(err, errlen, "empty message in the transfer of %s", zone);
            res = REG_BADREPLY;
            reg_conn_close(&e->conn);
            goto done;
        }
        ldns_pkt_free(reply);
        reply = NULL;
    }
    vg_debug("dns: AXFR %s: %u message(s), %zu VM name(s), %zu host(s)", zone, msgs, z->nvms,
             z->nhosts);
    *out = z;
    z = NULL;
    res = REG_OK;
done:
    free(wire);
    vg_free(rwire);
    ldns_rdf_deep_free(mac);
    ldns_rdf_deep_free(next);
    ldns_pkt_free(q);
    ldns_pkt_free(reply);
    reg_zone_free(z);
    return res;
}
