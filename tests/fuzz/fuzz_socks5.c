/* Fuzz target: the SOCKS5 side of the gateway's handshake.
 *
 * The input is read the way the gateway reads a client: greeting, then (if user/password was
 * offered) the RFC 1929 sub-negotiation, then the request, each parser starting where the last
 * one stopped; the reply for the request is built at the end.  Every parser result is checked
 * against its prefixes: a strict prefix of a message is NEED_MORE, an error stays the same error
 * as bytes are added, and *used is never touched unless the result is OK.  Prefixes are parsed
 * from exactly-sized heap copies so AddressSanitizer sees any read past `len`.
 */
#include "fuzz.h"
#include "proto.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>

#define UNTOUCHED ((size_t)-7)

enum stage { ST_GREETING, ST_USERPASS, ST_REQUEST };

union any_out {
    struct vg_s5_greeting g;
    struct vg_s5_userpass up;
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
    enum vg_s5_rep rep = (enum vg_s5_rep)0x55;
    *used = UNTOUCHED;
    *code = -1;
    switch (st) {
    case ST_GREETING:
        rc = vg_s5_parse_greeting(copy, len, &out->g, used);
        break;
    case ST_USERPASS:
        rc = vg_s5_parse_userpass(copy, len, &out->up, used);
        break;
    case ST_REQUEST:
        rc = vg_s5_parse_request(copy, len, &out->req, used, &rep);
        if (rc == VG_P_ERROR) {
            FUZZ_CHECK(rep == VG_S5_GENERAL || rep == VG_S5_ATYP_UNSUPPORTED);
            *code = (int)rep;
        } else {
            FUZZ_CHECK(rep == (enum vg_s5_rep)0x55); /* err written only on ERROR */
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

    /* no SOCKS message is longer than 3 + 255 + 255 octets: prefixes past that add nothing.
     * Every prefix up to 64 octets, then a sample (the check is quadratic). */
    size_t upto = rc == VG_P_OK ? *used : (len < 600 ? len : 600);
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
    size_t n = vg_s5_build_reply(out, (enum vg_s5_rep)rep, bnd);
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
    if (parse_checked(ST_REQUEST, data, size, &out, &used) == VG_P_OK)
        check_reply(&out.req);
    return 0;
}
