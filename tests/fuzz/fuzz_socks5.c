/* Fuzz target: the SOCKS5 codec (common/vg_socks.c), both sides.
 *
 * Server side: the input is read the way the gateway reads a client: greeting, then (if
 * user/password was offered) the RFC 1929 sub-negotiation, then the request, each parser starting
 * where the last one stopped; the reply for the request is built at the end.  Client side: the
 * input is also read as the answers to a pipelined handshake (method, RFC 1929 status, reply),
 * the way chaining and vmgate-connect read a gateway.  Every parser result is checked against its
 * prefixes: a strict prefix of a message is NEED_MORE, an error stays the same error as bytes are
 * added, and *used is never touched unless the result is OK.  Prefixes are parsed from
 * exactly-sized heap copies so AddressSanitizer sees any read past `len`.
 */
#include "fuzz.h"
#include "vg_socks.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>

#define UNTOUCHED ((size_t)-7)

enum stage { ST_GREETING, ST_USERPASS, ST_HOPID, ST_REQUEST };

union any_out {
    struct vg_s5_greeting g;
    struct vg_s5_userpass up;
    struct vg_s5_hopid hop;
    struct vg_s5_request req;
};

/* Parse `len` bytes from a private copy of exactly that size.  *code is the reply code for
 * request errors, -1 otherwise. */
static enum vg_parse parse(enum stage st, const uint8_t *data, size_t len, union any_out *out,
                           size_t *used, int *code)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (copy == NULL)
        abort();
    if (len)
        memcpy(copy, data, len);
    enum vg_parse rc = VG_P_ERROR;
    enum vg_outcome err = VG_OUT_COUNT;
    *used = UNTOUCHED;
    *code = -1;
    switch (st) {
    case ST_GREETING:
        rc = vg_s5_parse_greeting(copy, len, &out->g, used);
        break;
    case ST_USERPASS:
        rc = vg_s5_parse_userpass(copy, len, &out->up, used);
        break;
    case ST_HOPID:
        rc = vg_s5_parse_hopid(copy, len, &out->hop, used);
        break;
    case ST_REQUEST:
        rc = vg_s5_parse_request(copy, len, &out->req, used, &err);
        if (rc == VG_P_ERROR) {
            FUZZ_CHECK(err == VG_OUT_BAD_REQUEST || err == VG_OUT_BAD_ATYPE);
            *code = vg_outcome_socks(err);
        } else {
            FUZZ_CHECK(err == VG_OUT_COUNT); /* err written only on ERROR */
        }
        break;
    }
    free(copy);
    FUZZ_CHECK(rc == VG_P_OK || rc == VG_P_NEED_MORE || rc == VG_P_ERROR);
    if (rc == VG_P_OK)
        FUZZ_CHECK(*used >= 2 && *used <= len);
    else
        FUZZ_CHECK(*used == UNTOUCHED);
    return rc;
}

/* Parse data[0..len) at stage st, check it against its prefixes, return the result. */
static enum vg_parse parse_checked(enum stage st, const uint8_t *data, size_t len,
                                   union any_out *out, size_t *used)
{
    int code, pcode;
    size_t pused;
    union any_out tmp;
    enum vg_parse rc = parse(st, data, len, out, used, &code);

    /* no SOCKS message is longer than 3 + 255 + 255 octets (a hop identity than
     * VG_S5_HOPID_MAX): prefixes past that add nothing.  Every prefix up to 64 octets, then a
     * sample (the check is quadratic). */
    size_t cap = st == ST_HOPID ? VG_S5_HOPID_MAX + 1 : 600;
    size_t upto = rc == VG_P_OK ? *used : (len < cap ? len : cap);
    bool err_seen = false;
    for (size_t k = 0; k < upto; k = k < 64 ? k + 1 : k + 1 + (upto - 64) / 16) {
        enum vg_parse prc = parse(st, data, k, &tmp, &pused, &pcode);
        if (rc == VG_P_OK || rc == VG_P_NEED_MORE) {
            FUZZ_CHECK(prc == VG_P_NEED_MORE);
        } else if (prc == VG_P_ERROR) {
            FUZZ_CHECK(pcode == code);
            err_seen = true;
        } else {
            FUZZ_CHECK(prc == VG_P_NEED_MORE && !err_seen);
        }
    }
    if (upto > 64) {
        enum vg_parse prc = parse(st, data, upto - 1, &tmp, &pused, &pcode);
        FUZZ_CHECK(rc == VG_P_ERROR ? (prc == VG_P_NEED_MORE && !err_seen) ||
                                          (prc == VG_P_ERROR && pcode == code)
                                    : prc == VG_P_NEED_MORE);
    }
    if (rc == VG_P_OK) {
        /* the message alone parses the same */
        FUZZ_CHECK(parse(st, data, *used, &tmp, &pused, &pcode) == VG_P_OK);
        FUZZ_CHECK(pused == *used);
    }
    return rc;
}

static void check_reply(const struct vg_s5_request *req)
{
    uint8_t out[VG_S5_REPLY_MAX];
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    const struct sockaddr *bnd = NULL;
    size_t want = 10;

    if (req->atyp == VG_S5_ATYP_IPV4) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(req->port);
        memcpy(&sin->sin_addr, req->addr, 4);
        bnd = (const struct sockaddr *)&ss;
    } else if (req->atyp == VG_S5_ATYP_IPV6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(req->port);
        memcpy(&sin6->sin6_addr, req->addr, 16);
        bnd = (const struct sockaddr *)&ss;
        want = 22;
    }
    uint8_t rep = req->cmd % (VG_S5_ATYP_UNSUPPORTED + 1);
    size_t n = vg_s5_build_reply(out, rep, bnd);
    FUZZ_CHECK(n == want);
    FUZZ_CHECK(out[0] == 5 && out[1] == rep && out[2] == 0);
    if (bnd != NULL) {
        FUZZ_CHECK(out[3] == req->atyp);
        FUZZ_CHECK(memcmp(out + 4, req->addr, n - 6) == 0);
        FUZZ_CHECK(((out[n - 2] << 8) | out[n - 1]) == req->port);
    } else {
        FUZZ_CHECK(memcmp(out + 3, "\x01\0\0\0\0\0\0", 7) == 0);
    }
}

/* A parsed hop identity builds back into a message that parses to the same identity. */
static void check_hopid(const struct vg_s5_hopid *id)
{
    uint8_t out[VG_S5_HOPID_MAX];
    size_t n = vg_s5c_hopid(out, id), used;
    if (n == 0)
        return; /* all five fields full: more than a hop identity may hold */
    struct vg_s5_hopid back;
    FUZZ_CHECK(vg_s5_parse_hopid(out, n, &back, &used) == VG_P_OK && used == n);
    FUZZ_CHECK(memcmp(&back, id, sizeof back) == 0);
}

/* The client's reading of the answers (auth: user/password was offered): OK / NEED_MORE /
 * ERROR consistent over prefixes, the NEED_MORE hint always beyond what is there and never beyond
 * the answers (nothing after them is read ahead), and the outcome of an OK answer defined. */
static enum vg_parse parse_answers(const uint8_t *data, size_t len, bool auth,
                                   struct vg_s5c_answers *a, size_t *used, size_t *need)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (copy == NULL)
        abort();
    if (len)
        memcpy(copy, data, len);
    *used = *need = UNTOUCHED;
    enum vg_parse rc = vg_s5c_parse_answers(copy, len, auth, a, used, need);
    free(copy);
    if (rc == VG_P_OK)
        FUZZ_CHECK(*used >= 2 && *used <= len && *need == UNTOUCHED);
    else if (rc == VG_P_NEED_MORE)
        FUZZ_CHECK(*used == UNTOUCHED && *need > len);
    else
        FUZZ_CHECK(rc == VG_P_ERROR && *used == UNTOUCHED && *need == UNTOUCHED);
    return rc;
}

static void check_answers(const uint8_t *data, size_t size, bool auth)
{
    struct vg_s5c_answers a, tmp;
    size_t used, need, pused, pneed;
    enum vg_parse rc = parse_answers(data, size, auth, &a, &used, &need);
    size_t upto = rc == VG_P_OK ? used : (size < 300 ? size : 300);
    bool err_seen = false;
    for (size_t k = 0; k < upto; k++) {
        enum vg_parse prc = parse_answers(data, k, auth, &tmp, &pused, &pneed);
        if (rc != VG_P_ERROR) {
            FUZZ_CHECK(prc == VG_P_NEED_MORE);
            if (rc == VG_P_OK)
                FUZZ_CHECK(pneed <= used);
        } else if (prc == VG_P_ERROR) {
            err_seen = true;
        } else {
            FUZZ_CHECK(prc == VG_P_NEED_MORE && !err_seen);
        }
    }
    if (rc != VG_P_OK)
        return;
    enum vg_outcome o = vg_s5c_outcome(&a, auth);
    FUZZ_CHECK((unsigned)o < VG_OUT_COUNT);
    FUZZ_CHECK(o != VG_OUT_OK || (a.replied && a.reply.rep == 0));
    if (a.replied) {
        /* the reply alone, where it starts, parses the same */
        struct vg_s5_reply r;
        size_t off = auth ? 4 : 2, rused;
        FUZZ_CHECK(vg_s5c_parse_reply(data + off, size - off, &r, &rused, NULL) == VG_P_OK);
        FUZZ_CHECK(off + rused == used && r.rep == a.reply.rep && r.port == a.reply.port);
        FUZZ_CHECK(r.atyp == VG_S5_ATYP_IPV4 || r.atyp == VG_S5_ATYP_IPV6 ||
                   r.atyp == VG_S5_ATYP_NAME);
        struct sockaddr_storage ss;
        vg_s5_reply_bnd(&r, &ss);
        FUZZ_CHECK(ss.ss_family == (r.atyp == VG_S5_ATYP_IPV4   ? AF_INET
                                    : r.atyp == VG_S5_ATYP_IPV6 ? AF_INET6
                                                                : AF_UNSPEC));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    union any_out out;
    size_t off = 0, used;
    bool userpass;

    /* greeting */
    if (parse_checked(ST_GREETING, data, size, &out, &used) != VG_P_OK)
        goto direct;
    FUZZ_CHECK(used == 2u + data[1]);
    for (size_t i = 2; i < used; i++)
        FUZZ_CHECK(vg_s5_offers(&out.g, data[i]));
    userpass = vg_s5_offers(&out.g, VG_S5_METHOD_USERPASS);
    if (!userpass && !vg_s5_offers(&out.g, VG_S5_METHOD_NOAUTH))
        goto direct; /* the gateway answers 0xff and closes */
    off += used;

    /* RFC 1929 */
    if (userpass) {
        if (parse_checked(ST_USERPASS, data + off, size - off, &out, &used) != VG_P_OK)
            goto direct;
        size_t ulen = data[off + 1], plen = data[off + 2 + ulen];
        FUZZ_CHECK(strlen(out.up.user) == ulen && ulen > 0);
        FUZZ_CHECK(strlen(out.up.pass) == plen);
        FUZZ_CHECK(memcmp(out.up.user, data + off + 2, ulen) == 0);
        off += used;
    }

    /* request */
    if (parse_checked(ST_REQUEST, data + off, size - off, &out, &used) != VG_P_OK)
        goto direct;
    if (out.req.atyp == VG_S5_ATYP_NAME) {
        FUZZ_CHECK(strlen(out.req.name) == data[off + 4] && out.req.name[0] != '\0');
    } else {
        FUZZ_CHECK(out.req.atyp == VG_S5_ATYP_IPV4 || out.req.atyp == VG_S5_ATYP_IPV6);
        FUZZ_CHECK(out.req.name[0] == '\0');
    }
    FUZZ_CHECK(out.req.cmd == data[off + 1]);
    check_reply(&out.req);

direct:
    /* each parser also straight on the raw input, so none depends on the others' formats */
    parse_checked(ST_USERPASS, data, size, &out, &used);
    if (parse_checked(ST_HOPID, data, size, &out, &used) == VG_P_OK)
        check_hopid(&out.hop);
    if (parse_checked(ST_REQUEST, data, size, &out, &used) == VG_P_OK)
        check_reply(&out.req);
    /* and the input as a gateway's answers to a client */
    check_answers(data, size, false);
    check_answers(data, size, true);
    return 0;
}
