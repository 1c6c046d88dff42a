/* Unit tests for the protocol codecs: common/vg_socks.c (SOCKS5 and RFC 1929, server and client
 * side) and common/vg_http.c (HTTP CONNECT, ordinary request heads).
 *
 * Every parser is fed its input one byte at a time from a heap copy of exactly that many bytes,
 * so AddressSanitizer catches any read past `len`.
 */
#include "vg_http.h"
#include "vg_socks.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#define USED_SENTINEL ((size_t)0xdeadbeef)

/* One parser behind a common face so the byte-at-a-time helpers serve all of them: the server
 * side's greeting, RFC 1929 request, CONNECT request, HTTP CONNECT and ordinary heads; the client
 * side's method choice, RFC 1929 status and reply. */
enum which { P_GREETING, P_USERPASS, P_REQUEST, P_HTTP, P_HREQ, P_METHOD, P_AUTH, P_REPLY };

struct result {
    enum vg_parse rc;
    size_t used;
    int code; /* SOCKS reply code or HTTP status on error, -1 if not set */
    union {
        struct vg_s5_greeting g;
        struct vg_s5_userpass up;
        struct vg_s5_request req;
        struct vg_http_connect http;
        struct vg_http_request hreq;
        uint8_t method, status;
        struct vg_s5_reply rep;
    } u;
    size_t need; /* P_REPLY on NEED_MORE */
};

/* Parse exactly `len` bytes from a private heap copy (no slack after the end). */
static struct result run(enum which w, const void *data, size_t len)
{
    struct result r;
    memset(&r, 0, sizeof r);
    r.used = USED_SENTINEL;
    r.code = -1;
    uint8_t *copy = malloc(len ? len : 1);
    cr_assert_not_null(copy);
    if (len)
        memcpy(copy, data, len);
    enum vg_outcome err = VG_OUT_COUNT;
    switch (w) {
    case P_GREETING:
        r.rc = vg_s5_parse_greeting(copy, len, &r.u.g, &r.used);
        break;
    case P_USERPASS:
        r.rc = vg_s5_parse_userpass(copy, len, &r.u.up, &r.used);
        break;
    case P_REQUEST:
        r.rc = vg_s5_parse_request(copy, len, &r.u.req, &r.used, &err);
        if (r.rc == VG_P_ERROR)
            r.code = vg_outcome_socks(err);
        else
            cr_assert_eq(err, VG_OUT_COUNT, "err written on %d", r.rc);
        break;
    case P_HTTP:
        r.rc = vg_http_parse_connect(copy, len, &r.u.http, &r.used, &err);
        if (r.rc == VG_P_ERROR)
            r.code = vg_outcome_http(err);
        else
            cr_assert_eq(err, VG_OUT_COUNT, "err written on %d", r.rc);
        break;
    case P_HREQ: {
        int status = -2;
        r.rc = vg_http_parse_request(copy, len, &r.u.hreq, &r.used, &status);
        if (r.rc == VG_P_ERROR)
            r.code = status;
        else
            cr_assert_eq(status, -2, "status written on %d", r.rc);
        break;
    }
    case P_METHOD:
        r.rc = vg_s5c_parse_method(copy, len, &r.u.method, &r.used);
        break;
    case P_AUTH:
        r.rc = vg_s5c_parse_auth(copy, len, &r.u.status, &r.used);
        break;
    case P_REPLY:
        r.need = USED_SENTINEL;
        r.rc = vg_s5c_parse_reply(copy, len, &r.u.rep, &r.used, &r.need);
        if (r.rc == VG_P_NEED_MORE) {
            cr_assert_gt(r.need, len, "the hint asks for more than there is");
        } else {
            cr_assert_eq(r.need, USED_SENTINEL, "need written on %d", r.rc);
        }
        break;
    }
    free(copy);
    return r;
}

/* Every strict prefix is NEED_MORE with *used untouched; the whole message is OK with
 * used == len; the message followed by more bytes is OK with the same used. */
static struct result feed_bytewise(enum which w, const void *msg, size_t len)
{
    for (size_t k = 0; k < len; k++) {
        struct result p = run(w, msg, k);
        cr_assert_eq(p.rc, VG_P_NEED_MORE, "prefix of %zu/%zu bytes: rc %d (code %d)", k, len, p.rc,
                     p.code);
        cr_assert_eq(p.used, USED_SENTINEL, "used touched on NEED_MORE at %zu", k);
    }
    for (size_t k = 0; w == P_REPLY && k < len; k++)
        cr_assert_leq(run(w, msg, k).need, len, "the hint reads past the reply at %zu", k);
    struct result r = run(w, msg, len);
    cr_assert_eq(r.rc, VG_P_OK, "whole message: rc %d (code %d)", r.rc, r.code);
    cr_assert_eq(r.used, len, "used %zu, expected %zu", r.used, len);

    uint8_t *more = malloc(len + 7);
    cr_assert_not_null(more);
    memcpy(more, msg, len);
    memcpy(more + len, "\x05\x01\x00TAIL", 7);
    struct result r2 = run(w, more, len + 7);
    free(more);
    cr_assert_eq(r2.rc, VG_P_OK);
    cr_assert_eq(r2.used, len);
    return r;
}

/* Error for the whole input, and every longer prefix after the first error stays the same. */
static void expect_error(enum which w, const void *msg, size_t len, int code)
{
    struct result r = run(w, msg, len);
    cr_assert_eq(r.rc, VG_P_ERROR, "rc %d, expected ERROR", r.rc);
    cr_assert_eq(r.used, USED_SENTINEL, "used touched on ERROR");
    if (code >= 0)
        cr_assert_eq(r.code, code, "code %d, expected %d", r.code, code);
    bool seen = false;
    for (size_t k = 0; k <= len; k++) {
        struct result p = run(w, msg, k);
        if (p.rc == VG_P_ERROR) {
            seen = true;
            cr_assert_eq(p.code, r.code, "prefix %zu: code %d, whole: %d", k, p.code, r.code);
        } else {
            cr_assert_eq(p.rc, VG_P_NEED_MORE, "prefix %zu of an invalid message is OK", k);
            cr_assert_not(seen, "prefix %zu: NEED_MORE after an ERROR at a shorter prefix", k);
        }
    }
}

#define S(lit) (lit), (sizeof(lit) - 1)

/* ------------------------------------------------------------------ greeting */

Test(greeting, noauth_bytewise)
{
    struct result r = feed_bytewise(P_GREETING, S("\x05\x01\x00"));
    cr_assert(vg_s5_offers(&r.u.g, VG_S5_METHOD_NOAUTH));
    cr_assert_not(vg_s5_offers(&r.u.g, VG_S5_METHOD_USERPASS));
    cr_assert_not(vg_s5_offers(&r.u.g, 0xff));
}

Test(greeting, several_methods)
{
    struct result r = feed_bytewise(P_GREETING, S("\x05\x03\x00\x02\xff"));
    cr_assert(vg_s5_offers(&r.u.g, VG_S5_METHOD_NOAUTH));
    cr_assert(vg_s5_offers(&r.u.g, VG_S5_METHOD_USERPASS));
    cr_assert(vg_s5_offers(&r.u.g, 0xff));
    cr_assert_not(vg_s5_offers(&r.u.g, 0x01));
    cr_assert_not(vg_s5_offers(&r.u.g, 0x80));
}

Test(greeting, all_255_methods)
{
    uint8_t msg[2 + 255];
    msg[0] = 5;
    msg[1] = 255;
    for (int i = 0; i < 255; i++)
        msg[2 + i] = (uint8_t)i;
    struct result r = feed_bytewise(P_GREETING, msg, sizeof msg);
    for (int m = 0; m < 255; m++)
        cr_assert(vg_s5_offers(&r.u.g, (uint8_t)m), "method %d", m);
    cr_assert_not(vg_s5_offers(&r.u.g, 255));
}

Test(greeting, duplicate_methods)
{
    struct result r = feed_bytewise(P_GREETING, S("\x05\x03\x02\x02\x02"));
    cr_assert(vg_s5_offers(&r.u.g, 2));
    cr_assert_not(vg_s5_offers(&r.u.g, 0));
}

Test(greeting, errors)
{
    expect_error(P_GREETING, S("\x04\x01\x00"), -1);   /* SOCKS4 */
    expect_error(P_GREETING, S("\x05\x00"), -1);       /* no methods */
    expect_error(P_GREETING, S("GET / HTTP/1.1"), -1); /* wrong protocol */
    expect_error(P_GREETING, S("\x00"), -1);
}

/* ------------------------------------------------------------------ userpass */

Test(userpass, bytewise)
{
    struct result r = feed_bytewise(P_USERPASS, S("\x01\x05"
                                                  "alice"
                                                  "\x06s3cr3t"));
    cr_assert_str_eq(r.u.up.user, "alice");
    cr_assert_str_eq(r.u.up.pass, "s3cr3t");
}

Test(userpass, empty_password)
{
    struct result r = feed_bytewise(P_USERPASS, S("\x01\x01u\x00"));
    cr_assert_str_eq(r.u.up.user, "u");
    cr_assert_str_eq(r.u.up.pass, "");
}

Test(userpass, max_lengths)
{
    uint8_t msg[3 + 255 + 255];
    msg[0] = 1;
    msg[1] = 255;
    memset(msg + 2, 'u', 255);
    msg[2 + 255] = 255;
    memset(msg + 3 + 255, 'p', 255);
    struct result r = feed_bytewise(P_USERPASS, msg, sizeof msg);
    cr_assert_eq(strlen(r.u.up.user), 255);
    cr_assert_eq(strlen(r.u.up.pass), 255);
    cr_assert_eq(r.u.up.user[254], 'u');
    cr_assert_eq(r.u.up.pass[254], 'p');
}

Test(userpass, binary_but_not_nul)
{
    struct result r = feed_bytewise(P_USERPASS, S("\x01\x02\xff\x01\x02:\xc3"));
    cr_assert_eq((uint8_t)r.u.up.user[0], 0xff);
    cr_assert_eq((uint8_t)r.u.up.user[1], 0x01);
    cr_assert_str_eq(r.u.up.pass, ":\xc3");
}

Test(userpass, errors)
{
    expect_error(P_USERPASS, S("\x05\x01u\x01p"), -1); /* VER 5 */
    expect_error(P_USERPASS, S("\x01\x00\x01p"), -1);  /* ULEN 0 */
    expect_error(P_USERPASS,
                 S("\x01\x03"
                   "a\x00"
                   "b\x01p"),
                 -1);                                       /* NUL in user */
    expect_error(P_USERPASS, S("\x01\x01u\x03p\x00q"), -1); /* NUL in pass */
    /* the NUL is seen before the message is complete */
    struct result r = run(P_USERPASS, S("\x01\x05\x00"));
    cr_assert_eq(r.rc, VG_P_ERROR);
}

/* ------------------------------------------------------------------ request */

Test(request, name_bytewise)
{
    struct result r = feed_bytewise(P_REQUEST, S("\x05\x01\x00\x03\x0cweb1.vm.test\x00\x16"));
    cr_assert_eq(r.u.req.cmd, VG_S5_CMD_CONNECT);
    cr_assert_eq(r.u.req.atyp, VG_S5_ATYP_NAME);
    cr_assert_str_eq(r.u.req.name, "web1.vm.test");
    cr_assert_eq(r.u.req.port, 22);
}

Test(request, ipv4_bytewise)
{
    struct result r = feed_bytewise(P_REQUEST, S("\x05\x01\x00\x01\xc6\x12\x00\x01\x04\x38"));
    cr_assert_eq(r.u.req.atyp, VG_S5_ATYP_IPV4);
    cr_assert_eq(memcmp(r.u.req.addr, "\xc6\x12\x00\x01", 4), 0);
    cr_assert_eq(r.u.req.port, 1080);
    cr_assert_str_eq(r.u.req.name, "");
}

Test(request, ipv6_bytewise)
{
    static const uint8_t msg[] = {5, 1, 0, 4, 0xfd, 0, 0, 0, 0, 0,    0,
                                  0, 0, 0, 0, 0,    0, 0, 0, 1, 0xff, 0xff};
    struct result r = feed_bytewise(P_REQUEST, msg, sizeof msg);
    cr_assert_eq(r.u.req.atyp, VG_S5_ATYP_IPV6);
    cr_assert_eq(memcmp(r.u.req.addr, msg + 4, 16), 0);
    cr_assert_eq(r.u.req.port, 65535);
}

Test(request, name_255)
{
    uint8_t msg[5 + 255 + 2];
    memcpy(msg, "\x05\x01\x00\x03\xff", 5);
    memset(msg + 5, 'a', 255);
    msg[5 + 255] = 0x01;
    msg[5 + 256] = 0xbb;
    struct result r = feed_bytewise(P_REQUEST, msg, sizeof msg);
    cr_assert_eq(strlen(r.u.req.name), 255);
    cr_assert_eq(r.u.req.port, 443);
}

Test(request, name_not_validated_here)
{
    /* the parser reports; host-name checks are the gateway's */
    struct result r = feed_bytewise(P_REQUEST, S("\x05\x01\x00\x03\x07"
                                                 "1.2.3.4"
                                                 "\x00\x50"));
    cr_assert_str_eq(r.u.req.name, "1.2.3.4");
    r = feed_bytewise(P_REQUEST, S("\x05\x01\x00\x03\x03"
                                   "a b"
                                   "\x00\x50"));
    cr_assert_str_eq(r.u.req.name, "a b");
}

Test(request, other_commands_parse)
{
    struct result r = feed_bytewise(P_REQUEST, S("\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x00"));
    cr_assert_eq(r.u.req.cmd, VG_S5_CMD_BIND);
    cr_assert_eq(r.u.req.port, 0);
    r = feed_bytewise(P_REQUEST, S("\x05\x03\x00\x03\x01x\x00\x35"));
    cr_assert_eq(r.u.req.cmd, VG_S5_CMD_UDP);
    r = feed_bytewise(P_REQUEST, S("\x05\x09\x00\x03\x01x\x00\x35"));
    cr_assert_eq(r.u.req.cmd, 9);
}

Test(request, errors)
{
    expect_error(P_REQUEST, S("\x04\x01\x00\x03\x01x\x00\x16"), VG_S5_GENERAL);
    expect_error(P_REQUEST, S("\x05\x01\x01\x03\x01x\x00\x16"), VG_S5_GENERAL); /* RSV */
    expect_error(P_REQUEST, S("\x05\x01\x00\x02\x01x\x00\x16"), VG_S5_ATYP_UNSUPPORTED);
    expect_error(P_REQUEST, S("\x05\x01\x00\x05\x01x\x00\x16"), VG_S5_ATYP_UNSUPPORTED);
    expect_error(P_REQUEST, S("\x05\x01\x00\x00\x01x\x00\x16"), VG_S5_ATYP_UNSUPPORTED);
    expect_error(P_REQUEST, S("\x05\x01\x00\x03\x00\x00\x16"), VG_S5_GENERAL); /* empty name */
    expect_error(P_REQUEST, S("\x05\x01\x00\x03\x03w\x00x\x00\x16"), VG_S5_GENERAL); /* NUL */
}

Test(request, nul_seen_early)
{
    struct result r = run(P_REQUEST, S("\x05\x01\x00\x03\x10"
                                       "ab\x00"));
    cr_assert_eq(r.rc, VG_P_ERROR);
    cr_assert_eq(r.code, VG_S5_GENERAL);
}

Test(request, err_may_be_null)
{
    size_t used = USED_SENTINEL;
    struct vg_s5_request req;
    cr_assert_eq(vg_s5_parse_request((const uint8_t *)"\x04", 1, &req, &used, NULL), VG_P_ERROR);
    cr_assert_eq(used, USED_SENTINEL);
}

/* ------------------------------------------------------------------ pipelined */

Test(pipeline, greeting_userpass_request_payload)
{
    static const char msg[] = "\x05\x02\x00\x02" /* greeting */
                              "\x01\x03"
                              "bob"
                              "\x02"
                              "pw"                                      /* userpass */
                              "\x05\x01\x00\x03\x0bweb1.vm.lan\x00\x16" /* request */
                              "SSH-2.0-OpenSSH_9.2\r\n";                /* payload */
    size_t len = sizeof msg - 1, off = 0, used = 0;
    struct vg_s5_greeting g;
    struct vg_s5_userpass up;
    struct vg_s5_request req;
    enum vg_outcome rep;
    const uint8_t *b = (const uint8_t *)msg;

    cr_assert_eq(vg_s5_parse_greeting(b + off, len - off, &g, &used), VG_P_OK);
    cr_assert_eq(used, 4);
    cr_assert(vg_s5_offers(&g, VG_S5_METHOD_USERPASS));
    off += used;
    cr_assert_eq(vg_s5_parse_userpass(b + off, len - off, &up, &used), VG_P_OK);
    cr_assert_eq(used, 8);
    cr_assert_str_eq(up.user, "bob");
    cr_assert_str_eq(up.pass, "pw");
    off += used;
    cr_assert_eq(vg_s5_parse_request(b + off, len - off, &req, &used, &rep), VG_P_OK);
    cr_assert_eq(used, 18);
    cr_assert_str_eq(req.name, "web1.vm.lan");
    cr_assert_eq(req.port, 22);
    off += used;
    cr_assert_eq(len - off, strlen("SSH-2.0-OpenSSH_9.2\r\n"));
    cr_assert_eq(memcmp(b + off, "SSH-2.0", 7), 0);
}

Test(pipeline, split_anywhere)
{
    /* a server that accumulates bytes and re-parses from its offset after every byte */
    static const char msg[] = "\x05\x01\x02"
                              "\x01\x01u\x01p"
                              "\x05\x01\x00\x03\x01x\x01\x00";
    size_t len = sizeof msg - 1, off = 0, used;
    int stage = 0;
    for (size_t have = 1; have <= len; have++) {
        enum vg_parse rc;
        struct vg_s5_greeting g;
        struct vg_s5_userpass up;
        struct vg_s5_request req;
        enum vg_outcome rep;
        const uint8_t *b = (const uint8_t *)msg + off;
        if (stage == 0)
            rc = vg_s5_parse_greeting(b, have - off, &g, &used);
        else if (stage == 1)
            rc = vg_s5_parse_userpass(b, have - off, &up, &used);
        else
            rc = vg_s5_parse_request(b, have - off, &req, &used, &rep);
        cr_assert_neq(rc, VG_P_ERROR);
        if (rc == VG_P_OK) {
            off += used;
            stage++;
        }
    }
    cr_assert_eq(stage, 3);
    cr_assert_eq(off, len);
}

/* ------------------------------------------------------------------ reply */

Test(reply, ipv4)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(1080)};
    inet_pton(AF_INET, "198.18.0.1", &sin.sin_addr);
    uint8_t out[VG_S5_REPLY_MAX];
    size_t n = vg_s5_build_reply(out, VG_S5_SUCCEEDED, (struct sockaddr *)&sin);
    cr_assert_eq(n, 10);
    cr_assert_eq(memcmp(out, "\x05\x00\x00\x01\xc6\x12\x00\x01\x04\x38", 10), 0);
}

Test(reply, ipv6)
{
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
    inet_pton(AF_INET6, "fd00::2", &sin6.sin6_addr);
    uint8_t out[VG_S5_REPLY_MAX];
    size_t n = vg_s5_build_reply(out, VG_S5_HOST_UNREACH, (struct sockaddr *)&sin6);
    cr_assert_eq(n, 22);
    cr_assert_eq(memcmp(out, "\x05\x04\x00\x04\xfd\x00", 6), 0);
    cr_assert_eq(out[19], 0x02);
    cr_assert_eq(out[20], 0x01);
    cr_assert_eq(out[21], 0xbb);
}

Test(reply, null_and_other_family)
{
    uint8_t out[VG_S5_REPLY_MAX];
    size_t n = vg_s5_build_reply(out, VG_S5_NOT_ALLOWED, NULL);
    cr_assert_eq(n, 10);
    cr_assert_eq(memcmp(out, "\x05\x02\x00\x01\x00\x00\x00\x00\x00\x00", 10), 0);

    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    n = vg_s5_build_reply(out, VG_S5_CMD_UNSUPPORTED, (struct sockaddr *)&sun);
    cr_assert_eq(n, 10);
    cr_assert_eq(memcmp(out, "\x05\x07\x00\x01\x00\x00\x00\x00\x00\x00", 10), 0);
}

Test(reply, every_code)
{
    uint8_t out[VG_S5_REPLY_MAX];
    for (int rep = VG_S5_SUCCEEDED; rep <= VG_S5_ATYP_UNSUPPORTED; rep++) {
        cr_assert_eq(vg_s5_build_reply(out, (uint8_t)rep, NULL), 10);
        cr_assert_eq(out[1], rep);
    }
}

/* ------------------------------------------------------------------ client: builders */

Test(client, greeting_userpass_connect)
{
    uint8_t b[VG_S5C_MAX];
    cr_assert_eq(vg_s5c_greeting(b, VG_S5_METHOD_NOAUTH), 3);
    cr_assert_eq(memcmp(b, "\x05\x01\x00", 3), 0);
    cr_assert_eq(vg_s5c_greeting(b, VG_S5_METHOD_USERPASS), 3);
    cr_assert_eq(memcmp(b, "\x05\x01\x02", 3), 0);

    cr_assert_eq(vg_s5c_userpass(b, "al", "pw1"), 8);
    cr_assert_eq(memcmp(b,
                        "\x01\x02"
                        "al\x03"
                        "pw1",
                        8),
                 0);
    cr_assert_eq(vg_s5c_userpass(b, "u", ""), 4, "an empty password is allowed");
    char s255[256], s256[257];
    memset(s255, 'x', 255);
    s255[255] = '\0';
    memset(s256, 'x', 256);
    s256[256] = '\0';
    cr_assert_eq(vg_s5c_userpass(b, s255, s255), VG_S5C_USERPASS_MAX);
    cr_assert_eq(vg_s5c_userpass(b, "", "pw"), 0, "RFC 1929: ULEN >= 1");
    cr_assert_eq(vg_s5c_userpass(b, s256, "pw"), 0);
    cr_assert_eq(vg_s5c_userpass(b, "u", s256), 0);

    cr_assert_eq(vg_s5c_connect(b, "a.vm.test", 443), 16);
    cr_assert_eq(memcmp(b,
                        "\x05\x01\x00\x03\x09"
                        "a.vm.test\x01\xbb",
                        16),
                 0);
    cr_assert_eq(vg_s5c_connect(b, s255, 1), VG_S5C_CONNECT_MAX);
    cr_assert_eq(vg_s5c_connect(b, s256, 1), 0);
    cr_assert_eq(vg_s5c_connect(b, "", 1), 0);
}

Test(client, handshake_pipelined_bytes)
{
    uint8_t b[VG_S5C_MAX];
    size_t n = vg_s5c_handshake(b, NULL, NULL, "web1.vm.test", 22);
    const uint8_t want1[] = {5,   1,   0,   5,   1,   0,   3,   12,  'w', 'e', 'b',
                             '1', '.', 'v', 'm', '.', 't', 'e', 's', 't', 0,   22};
    cr_assert_eq(n, sizeof want1);
    cr_assert_arr_eq(b, want1, n);
    n = vg_s5c_handshake(b, "al", "pw1", "a.vm.test", 443);
    const uint8_t want2[] = {5, 1, 2,   1,   2,   'a', 'l', 3,   'p', 'w', '1', 5, 1,  0,
                             3, 9, 'a', '.', 'v', 'm', '.', 't', 'e', 's', 't', 1, 187};
    cr_assert_eq(n, sizeof want2);
    cr_assert_arr_eq(b, want2, n);
    char longname[300];
    memset(longname, 'a', 256);
    longname[256] = '\0';
    cr_assert_eq(vg_s5c_handshake(b, NULL, NULL, longname, 22), 0);
    cr_assert_eq(vg_s5c_handshake(b, NULL, NULL, "", 22), 0);
    cr_assert_eq(vg_s5c_handshake(b, "", "pw", "a.vm.test", 22), 0);
    longname[255] = '\0';
    cr_assert_eq(vg_s5c_handshake(b, longname, longname, longname, 22), VG_S5C_MAX,
                 "the largest handshake fits VG_S5C_MAX");
}

Test(client, handshake_read_back_by_the_server_parsers)
{
    uint8_t b[VG_S5C_MAX];
    size_t n = vg_s5c_handshake(b, "bob", "s3cr3t", "web1.vm.test", 8080), off = 0, used;
    struct vg_s5_greeting g;
    struct vg_s5_userpass up;
    struct vg_s5_request rq;
    cr_assert_eq(vg_s5_parse_greeting(b, n, &g, &used), VG_P_OK);
    cr_assert(vg_s5_offers(&g, VG_S5_METHOD_USERPASS));
    cr_assert_not(vg_s5_offers(&g, VG_S5_METHOD_NOAUTH));
    off += used;
    cr_assert_eq(vg_s5_parse_userpass(b + off, n - off, &up, &used), VG_P_OK);
    cr_assert_str_eq(up.user, "bob");
    cr_assert_str_eq(up.pass, "s3cr3t");
    off += used;
    cr_assert_eq(vg_s5_parse_request(b + off, n - off, &rq, &used, NULL), VG_P_OK);
    cr_assert_eq(rq.cmd, VG_S5_CMD_CONNECT);
    cr_assert_eq(rq.atyp, VG_S5_ATYP_NAME);
    cr_assert_str_eq(rq.name, "web1.vm.test");
    cr_assert_eq(rq.port, 8080);
    cr_assert_eq(off + used, n);
}

/* ------------------------------------------------------------------ client: parsers */

Test(client, method_bytewise)
{
    struct result r = feed_bytewise(P_METHOD, S("\x05\x02"));
    cr_assert_eq(r.u.method, VG_S5_METHOD_USERPASS);
    r = feed_bytewise(P_METHOD, S("\x05\xff"));
    cr_assert_eq(r.u.method, VG_S5_METHOD_NONE);
    expect_error(P_METHOD, S("\x04\x00"), -1);
    expect_error(P_METHOD, S("HTTP/1.1 400"), -1);
}

Test(client, auth_status_bytewise)
{
    struct result r = feed_bytewise(P_AUTH, S("\x01\x00"));
    cr_assert_eq(r.u.status, 0);
    r = feed_bytewise(P_AUTH, S("\x01\x01"));
    cr_assert_eq(r.u.status, 1);
    expect_error(P_AUTH, S("\x05\x00"), -1);
    expect_error(P_AUTH, S("\x00\x00"), -1);
}

Test(client, reply_ipv4_bytewise)
{
    struct result r = feed_bytewise(P_REPLY, S("\x05\x00\x00\x01\xc6\x12\x00\x01\x12\x34"));
    cr_assert_eq(r.u.rep.rep, 0);
    cr_assert_eq(r.u.rep.atyp, VG_S5_ATYP_IPV4);
    cr_assert_eq(memcmp(r.u.rep.addr, "\xc6\x12\x00\x01", 4), 0);
    cr_assert_eq(r.u.rep.port, 0x1234);
    struct sockaddr_storage ss;
    vg_s5_reply_bnd(&r.u.rep, &ss);
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
    cr_assert_eq(sin->sin_family, AF_INET);
    cr_assert_eq(ntohs(sin->sin_port), 0x1234);
    cr_assert_eq(ntohl(sin->sin_addr.s_addr), 0xc6120001);
}

Test(client, reply_ipv6_bytewise)
{
    static const uint8_t msg[] = {5, 4, 0, 4, 0xfd, 0, 0, 0, 0, 0, 0,
                                  0, 0, 0, 0, 0,    0, 0, 0, 1, 0, 80};
    struct result r = feed_bytewise(P_REPLY, msg, sizeof msg);
    cr_assert_eq(r.u.rep.rep, VG_S5_HOST_UNREACH);
    cr_assert_eq(r.u.rep.atyp, VG_S5_ATYP_IPV6);
    cr_assert_eq(r.u.rep.port, 80);
    struct sockaddr_storage ss;
    vg_s5_reply_bnd(&r.u.rep, &ss);
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
    cr_assert_eq(sin6->sin6_family, AF_INET6);
    cr_assert_eq(memcmp(&sin6->sin6_addr, msg + 4, 16), 0);
    cr_assert_eq(ntohs(sin6->sin6_port), 80);
}

Test(client, reply_name_bytewise)
{
    struct result r = feed_bytewise(P_REPLY, S("\x05\x00\x00\x03\x03"
                                               "abc\x00\x01"));
    cr_assert_eq(r.u.rep.atyp, VG_S5_ATYP_NAME);
    cr_assert_str_eq(r.u.rep.name, "abc");
    cr_assert_eq(r.u.rep.port, 1);
    struct sockaddr_storage ss;
    vg_s5_reply_bnd(&r.u.rep, &ss);
    cr_assert_eq(ss.ss_family, AF_UNSPEC, "a name has no socket address");
    /* the longest BND, and an empty one */
    uint8_t msg[5 + 255 + 2];
    memcpy(msg, "\x05\x00\x00\x03\xff", 5);
    memset(msg + 5, 'n', 255);
    msg[260] = 0;
    msg[261] = 22;
    r = feed_bytewise(P_REPLY, msg, sizeof msg);
    cr_assert_eq(strlen(r.u.rep.name), 255);
    r = feed_bytewise(P_REPLY, S("\x05\x00\x00\x03\x00\x00\x00"));
    cr_assert_str_eq(r.u.rep.name, "");
}

Test(client, reply_errors)
{
    expect_error(P_REPLY, S("\x04\x00\x00\x01\x00\x00\x00\x00\x00\x00"), -1); /* VER */
    expect_error(P_REPLY, S("\x05\x00\x01\x01\x00\x00\x00\x00\x00\x00"), -1); /* RSV */
    expect_error(P_REPLY, S("\x05\x00\x00\x02\x00\x00\x00\x00\x00\x00"), -1); /* ATYP */
    expect_error(P_REPLY, S("\x05\x00\x00\x05\x00\x00\x00\x00\x00\x00"), -1);
    expect_error(P_REPLY, S("\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00"), -1);
    expect_error(P_REPLY, S("HTTP/1.1 200 OK\r\n"), -1);
}

Test(client, server_replies_read_back)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(1080)};
    inet_pton(AF_INET, "198.18.0.1", &sin.sin_addr);
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
    inet_pton(AF_INET6, "fd00::2", &sin6.sin6_addr);
    const struct sockaddr *bnds[] = {NULL, (struct sockaddr *)&sin, (struct sockaddr *)&sin6};
    for (int rep = 0; rep <= 0xff; rep++) {
        for (size_t i = 0; i < 3; i++) {
            uint8_t out[VG_S5_REPLY_MAX];
            size_t n = vg_s5_build_reply(out, (uint8_t)rep, bnds[i]), used, need;
            struct vg_s5_reply r;
            cr_assert_eq(vg_s5c_parse_reply(out, n, &r, &used, &need), VG_P_OK);
            cr_assert_eq(used, n);
            cr_assert_eq(r.rep, rep);
            struct sockaddr_storage ss;
            vg_s5_reply_bnd(&r, &ss);
            if (bnds[i] == NULL) {
                cr_assert_eq(ss.ss_family, AF_INET);
                cr_assert_eq(r.port, 0);
            } else if (bnds[i]->sa_family == AF_INET) {
                cr_assert_eq(memcmp(&ss, &sin, sizeof sin), 0);
            } else {
                cr_assert_eq(memcmp(&ss, &sin6, sizeof sin6), 0);
            }
        }
    }
}

/* Answers fed one octet at a time: NEED_MORE (with a growing hint that never reaches past the
 * answers) until the last octet, then OK with used == len. */
static struct vg_s5c_answers answers_bytewise(const uint8_t *in, size_t len, bool auth)
{
    struct vg_s5c_answers a;
    size_t used, need;
    for (size_t i = 0; i < len; i++) {
        uint8_t *copy = malloc(i ? i : 1);
        cr_assert_not_null(copy);
        memcpy(copy, in, i);
        used = USED_SENTINEL;
        enum vg_parse st = vg_s5c_parse_answers(copy, i, auth, &a, &used, &need);
        free(copy);
        cr_assert_eq(st, VG_P_NEED_MORE, "at %zu of %zu", i, len);
        cr_assert_eq(used, USED_SENTINEL);
        cr_assert_gt(need, i, "the hint asks for more than we have");
        cr_assert_leq(need, len, "the hint never reads ahead into VM data");
    }
    cr_assert_eq(vg_s5c_parse_answers(in, len, auth, &a, &used, NULL), VG_P_OK);
    cr_assert_eq(used, len);
    return a;
}

Test(client, answers_bytewise)
{
    const uint8_t ok_v4[] = {5, 0, 5, 0, 0, 1, 198, 18, 0, 1, 0x12, 0x34};
    struct vg_s5c_answers a = answers_bytewise(ok_v4, sizeof ok_v4, false);
    cr_assert_eq(a.method, 0);
    cr_assert_eq(a.auth_status, -1);
    cr_assert(a.replied);
    cr_assert_eq(a.reply.rep, 0);
    cr_assert_eq(vg_s5c_outcome(&a, false), VG_OUT_OK);
    const uint8_t ok_auth_v6[] = {5, 2, 1, 0, 5, 0, 0, 4, 0xfd, 0, 0, 0, 0,
                                  0, 0, 0, 0, 0, 0, 0, 0, 0,    0, 1, 0, 80};
    a = answers_bytewise(ok_auth_v6, sizeof ok_auth_v6, true);
    cr_assert_eq(a.auth_status, 0);
    cr_assert_eq(a.reply.rep, 0);
    cr_assert_eq(a.reply.port, 80);
    cr_assert_eq(vg_s5c_outcome(&a, true), VG_OUT_OK);
    const uint8_t ok_name[] = {5, 0, 5, 0, 0, 3, 3, 'a', 'b', 'c', 0, 1};
    a = answers_bytewise(ok_name, sizeof ok_name, false);
    cr_assert_str_eq(a.reply.name, "abc");
    const uint8_t refused[] = {5, 0, 5, 4, 0, 1, 0, 0, 0, 0, 0, 0};
    a = answers_bytewise(refused, sizeof refused, false);
    cr_assert_eq(a.reply.rep, 4);
    cr_assert_eq(vg_s5c_outcome(&a, false), VG_OUT_UNREACHABLE);
    const uint8_t badpw[] = {5, 2, 1, 1};
    a = answers_bytewise(badpw, sizeof badpw, true);
    cr_assert_eq(a.auth_status, 1);
    cr_assert_not(a.replied);
    cr_assert_eq(vg_s5c_outcome(&a, true), VG_OUT_AUTH_FAILED);
    const uint8_t nomethod[] = {5, 0xff};
    a = answers_bytewise(nomethod, sizeof nomethod, false);
    cr_assert_eq(a.method, 0xff);
    cr_assert_eq(vg_s5c_outcome(&a, false), VG_OUT_AUTH_FAILED);
    a = answers_bytewise(nomethod, sizeof nomethod, true);
    cr_assert_eq(vg_s5c_outcome(&a, true), VG_OUT_AUTH_FAILED);
    const uint8_t other_method[] = {5, 0};
    a = answers_bytewise(other_method, sizeof other_method, true);
    cr_assert_eq(vg_s5c_outcome(&a, true), VG_OUT_PROTOCOL, "a method we did not offer");
}

Test(client, answers_then_tunnel_data)
{
    struct vg_s5c_answers a;
    size_t used;
    /* VM data right behind the reply is not part of the handshake */
    const uint8_t with_banner[] = {5, 0, 5, 0, 0, 1, 1, 2, 3, 4, 0, 1, 'S', 'S', 'H', '-'};
    cr_assert_eq(vg_s5c_parse_answers(with_banner, sizeof with_banner, false, &a, &used, NULL),
                 VG_P_OK);
    cr_assert_eq(used, 12);
    /* nor after a refusal */
    const uint8_t badpw[] = {5, 2, 1, 1, 'x'};
    cr_assert_eq(vg_s5c_parse_answers(badpw, sizeof badpw, true, &a, &used, NULL), VG_P_OK);
    cr_assert_eq(used, 4);
}

Test(client, answers_errors)
{
    struct vg_s5c_answers a;
    size_t used = USED_SENTINEL, need = USED_SENTINEL;
    const uint8_t http[] = {'H', 'T', 'T', 'P'};
    cr_assert_eq(vg_s5c_parse_answers(http, 4, false, &a, &used, &need), VG_P_ERROR);
    cr_assert_eq(used, USED_SENTINEL);
    cr_assert_eq(need, USED_SENTINEL);
    const uint8_t badatyp[] = {5, 0, 5, 0, 0, 9, 0};
    cr_assert_eq(vg_s5c_parse_answers(badatyp, sizeof badatyp, false, &a, &used, NULL), VG_P_ERROR);
    const uint8_t badauthver[] = {5, 2, 5, 0};
    cr_assert_eq(vg_s5c_parse_answers(badauthver, 4, true, &a, &used, NULL), VG_P_ERROR);
    const uint8_t badrsv[] = {5, 0, 5, 0, 1};
    cr_assert_eq(vg_s5c_parse_answers(badrsv, sizeof badrsv, false, &a, &used, NULL), VG_P_ERROR);
}

Test(client, outcome_of_every_reply_code)
{
    struct vg_s5c_answers a = {.method = 0, .auth_status = -1, .replied = true};
    for (int rep = 0; rep <= 0xff; rep++) {
        a.reply.rep = (uint8_t)rep;
        cr_assert_eq(vg_s5c_outcome(&a, false), vg_outcome_of_socks((uint8_t)rep));
    }
    a.replied = false;
    cr_assert_eq(vg_s5c_outcome(&a, false), VG_OUT_PROTOCOL, "no reply is no tunnel");
}

/* ------------------------------------------------------------------ HTTP CONNECT */

static void http_error(const char *msg, int status)
{
    expect_error(P_HTTP, msg, strlen(msg), status);
}

Test(http, minimal_bytewise)
{
    struct result r = feed_bytewise(P_HTTP, S("CONNECT web1.vm.test:22 HTTP/1.1\r\n\r\n"));
    cr_assert_str_eq(r.u.http.host, "web1.vm.test");
    cr_assert_eq(r.u.http.port, 22);
    cr_assert_eq(r.u.http.minor, 1);
    cr_assert_eq(r.u.http.has_auth, 0);
}

Test(http, headers_bytewise)
{
    struct result r = feed_bytewise(P_HTTP, S("CONNECT web1.vm.test:443 HTTP/1.1\r\n"
                                              "Host: web1.vm.test:443\r\n"
                                              "User-Agent: curl/7.88.1\r\n"
                                              "Proxy-Authorization: Basic YWxpY2U6czNjcjN0\r\n"
                                              "Proxy-Connection: Keep-Alive\r\n"
                                              "\r\n"));
    cr_assert_str_eq(r.u.http.host, "web1.vm.test");
    cr_assert_eq(r.u.http.port, 443);
    cr_assert_eq(r.u.http.has_auth, 1);
    cr_assert_str_eq(r.u.http.user, "alice");
    cr_assert_str_eq(r.u.http.pass, "s3cr3t");
}

Test(http, lf_only)
{
    struct result r =
        feed_bytewise(P_HTTP, S("CONNECT db.vm.test:5432 HTTP/1.0\nHost: db.vm.test\n\n"));
    cr_assert_str_eq(r.u.http.host, "db.vm.test");
    cr_assert_eq(r.u.http.port, 5432);
    cr_assert_eq(r.u.http.minor, 0);
}

Test(http, mixed_line_endings)
{
    struct result r = feed_bytewise(P_HTTP, S("CONNECT a.b:1 HTTP/1.1\nX: y\r\n\n"));
    cr_assert_str_eq(r.u.http.host, "a.b");
    cr_assert_eq(r.u.http.port, 1);
}

Test(http, ipv6_literal_brackets_removed)
{
    struct result r = feed_bytewise(P_HTTP, S("CONNECT [fd00::1]:8080 HTTP/1.1\r\n\r\n"));
    cr_assert_str_eq(r.u.http.host, "fd00::1");
    cr_assert_eq(r.u.http.port, 8080);
    r = feed_bytewise(P_HTTP, S("CONNECT [::ffff:198.18.0.1]:80 HTTP/1.1\r\n\r\n"));
    cr_assert_str_eq(r.u.http.host, "::ffff:198.18.0.1");
}

Test(http, ipv4_literal_reported)
{
    /* policy (IP literals refused) is the gateway's; the parser reports the host */
    struct result r = feed_bytewise(P_HTTP, S("CONNECT 198.18.0.1:22 HTTP/1.1\r\n\r\n"));
    cr_assert_str_eq(r.u.http.host, "198.18.0.1");
}

Test(http, host_255)
{
    char msg[400];
    char host[256];
    memset(host, 'h', 255);
    host[255] = '\0';
    int n = snprintf(msg, sizeof msg, "CONNECT %s:22 HTTP/1.1\r\n\r\n", host);
    struct result r = feed_bytewise(P_HTTP, msg, (size_t)n);
    cr_assert_str_eq(r.u.http.host, host);

    n = snprintf(msg, sizeof msg, "CONNECT %sh:22 HTTP/1.1\r\n\r\n", host);
    expect_error(P_HTTP, msg, (size_t)n, 400);
}

Test(http, pipelined_payload)
{
    static const char msg[] = "CONNECT web1.vm.test:22 HTTP/1.1\r\n\r\nSSH-2.0-x\r\n";
    struct result r = run(P_HTTP, S(msg));
    cr_assert_eq(r.rc, VG_P_OK);
    cr_assert_eq(r.used, strlen("CONNECT web1.vm.test:22 HTTP/1.1\r\n\r\n"));
}

Test(http, port_bounds)
{
    struct result r = feed_bytewise(P_HTTP, S("CONNECT a.test:65535 HTTP/1.1\r\n\r\n"));
    cr_assert_eq(r.u.http.port, 65535);
    r = feed_bytewise(P_HTTP, S("CONNECT a.test:1 HTTP/1.1\r\n\r\n"));
    cr_assert_eq(r.u.http.port, 1);
}

Test(http, bad_ports)
{
    http_error("CONNECT a.test:12abc HTTP/1.1\r\n\r\n", 400);
    http_error("CONNECT a.test:0 HTTP/1.1\r\n\r\n", 400);
    http_error("CONNECT a.test:65536 HTTP/1.1\r\n\r\n", 400);
    http_error("CONNECT a.test:100000 HTTP/1.1\r\n\r\n", 400);
    http_error("CONNECT a.test: HTTP/1.1\r\n\r\n", 400);
    http_error("CONNECT a.test HTTP/1.1\r\n\r\n", 400);
    http_error("CONNECT a.test:+22 HTTP/1.1\r\n\r\n", 400);
    http_error("CONNECT a.test:-1 HTTP/1.1\r\n\r\n", 400);
    http_error("CONNECT a.test:22:23 HTTP/1.1\r\n\r\n", 400);
    http_error("CONNECT [fd00::1] HTTP/1.1\r\n\r\n", 400);
    http_error("CONNECT [fd00::1]:0 HTTP/1.1\r\n\r\n", 400);
}

Test(http, bad_authority)
{
    http_error("CONNECT :22 HTTP/1.1\r\n\r\n", 400);
    http_error("CONNECT []:22 HTTP/1.1\r\n\r\n", 400);
    http_error("CONNECT [fd00::1:22 HTTP/1.1\r\n\r\n", 400);
    http_error("CONNECT [web1.vm.test]:22 HTTP/1.1\r\n\r\n", 400);
    http_error("CONNECT fd00::1:22 HTTP/1.1\r\n\r\n", 400); /* unbracketed v6 */
    http_error("CONNECT user@web1.vm.test:22 HTTP/1.1\r\n\r\n", 400);
    http_error("CONNECT http://web1.vm.test/ HTTP/1.1\r\n\r\n", 400);
    http_error("CONNECT /web1 HTTP/1.1\r\n\r\n", 400);
    http_error("CONNECT web1\x01.vm.test:22 HTTP/1.1\r\n\r\n", 400);
    http_error("CONNECT web1\x7f.vm.test:22 HTTP/1.1\r\n\r\n", 400);
    http_error("CONNECT web1\t.vm.test:22 HTTP/1.1\r\n\r\n", 400);
    http_error("CONNECT web\xc3\xa9.vm.test:22 HTTP/1.1\r\n\r\n", 400);
    http_error("CONNECT  web1.vm.test:22 HTTP/1.1\r\n\r\n", 400); /* two spaces */
    http_error("CONNECT web1.vm.test:22  HTTP/1.1\r\n\r\n", 400);
    http_error("CONNECT web1.vm.test:22\r\n\r\n", 400); /* HTTP/0.9 style */
    /* NUL inside the authority */
    static const char nul[] = "CONNECT we\0b.vm.test:22 HTTP/1.1\r\n\r\n";
    expect_error(P_HTTP, nul, sizeof nul - 1, 400);
}

Test(http, methods)
{
    http_error("GET http://web1.vm.test/ HTTP/1.1\r\n\r\n", 405);
    http_error("POST / HTTP/1.1\r\n\r\n", 405);
    http_error("connect web1.vm.test:22 HTTP/1.1\r\n\r\n", 405); /* methods are case-sensitive */
    http_error("CONNECTX web1.vm.test:22 HTTP/1.1\r\n\r\n", 405);
    http_error("CONNEC web1.vm.test:22 HTTP/1.1\r\n\r\n", 405);
    http_error(" CONNECT web1.vm.test:22 HTTP/1.1\r\n\r\n", 400);
    http_error("\r\nCONNECT web1.vm.test:22 HTTP/1.1\r\n\r\n", 400);
    http_error("CONNECT\r\n\r\n", 400);
    http_error("CON\x01NECT a:1 HTTP/1.1\r\n\r\n", 400);
    http_error("\x05\x01\x00", 400); /* a SOCKS5 greeting on the HTTP port */
}

Test(http, method_refused_before_line_end)
{
    struct result r = run(P_HTTP, S("GET "));
    cr_assert_eq(r.rc, VG_P_ERROR);
    cr_assert_eq(r.code, 405);
    r = run(P_HTTP, S("GET"));
    cr_assert_eq(r.rc, VG_P_NEED_MORE);
}

Test(http, versions)
{
    struct result r = feed_bytewise(P_HTTP, S("CONNECT a.test:1 HTTP/1.0\r\n\r\n"));
    cr_assert_eq(r.u.http.minor, 0);
    http_error("CONNECT a.test:1 HTTP/2.0\r\n\r\n", 505);
    http_error("CONNECT a.test:1 HTTP/1.2\r\n\r\n", 505);
    http_error("CONNECT a.test:1 HTTP/0.9\r\n\r\n", 505);
    http_error("CONNECT a.test:1 HTTP/1.10\r\n\r\n", 400);
    http_error("CONNECT a.test:1 HTTP/1\r\n\r\n", 400);
    http_error("CONNECT a.test:1 http/1.1\r\n\r\n", 400);
    http_error("CONNECT a.test:1 HTTP/1.1 \r\n\r\n", 400);
    http_error("CONNECT a.test:1 HTTP/x.y\r\n\r\n", 400);
    http_error("CONNECT a.test:1 \r\n\r\n", 400);
}

Test(http, bad_header_lines)
{
    http_error("CONNECT a.test:1 HTTP/1.1\r\nNoColon\r\n\r\n", 400);
    http_error("CONNECT a.test:1 HTTP/1.1\r\nName : v\r\n\r\n", 400);
    http_error("CONNECT a.test:1 HTTP/1.1\r\n: v\r\n\r\n", 400);
    http_error("CONNECT a.test:1 HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400);
    http_error("CONNECT a.test:1 HTTP/1.1\r\nA: b\x01\r\n\r\n", 400);
    http_error("CONNECT a.test:1 HTTP/1.1\r\nA: b\rc\r\n\r\n", 400); /* bare CR */
    http_error("CONNECT a.test:1 HTTP/1.1\r\n\r\r\n\r\n", 400);
    http_error("CONNECT a.test:1 HTTP/1.1\r\nA\x80: b\r\n\r\n", 400);
    static const char nul[] = "CONNECT a.test:1 HTTP/1.1\r\nA: b\0c\r\n\r\n";
    expect_error(P_HTTP, nul, sizeof nul - 1, 400);
}

Test(http, header_values_tolerated)
{
    struct result r = feed_bytewise(P_HTTP, S("CONNECT a.test:1 HTTP/1.1\r\n"
                                              "X-Empty:\r\n"
                                              "X-Tab:\tv\t\r\n"
                                              "X-Utf8: caf\xc3\xa9\r\n\r\n"));
    cr_assert_str_eq(r.u.http.host, "a.test");
}

Test(http, head_too_long)
{
    size_t n = VG_HTTP_HEAD_MAX + 100;
    char *msg = malloc(n);
    cr_assert_not_null(msg);
    memset(msg, 'a', n);
    size_t off = (size_t)sprintf(msg, "CONNECT a.test:1 HTTP/1.1\r\nX-Pad: ");
    msg[off] = 'a';
    struct result r = run(P_HTTP, msg, n);
    cr_assert_eq(r.rc, VG_P_ERROR);
    cr_assert_eq(r.code, 431);
    r = run(P_HTTP, msg, VG_HTTP_HEAD_MAX);
    cr_assert_eq(r.rc, VG_P_ERROR);
    cr_assert_eq(r.code, 431);
    r = run(P_HTTP, msg, VG_HTTP_HEAD_MAX - 1);
    cr_assert_eq(r.rc, VG_P_NEED_MORE);

    /* a request line longer than the head max: 431 */
    memset(msg, 'a', n);
    memcpy(msg, "CONNECT ", 8);
    r = run(P_HTTP, msg, n);
    cr_assert_eq(r.rc, VG_P_ERROR);
    cr_assert_eq(r.code, 431);
    free(msg);
}

Test(http, head_exactly_max)
{
    char *msg = malloc(VG_HTTP_HEAD_MAX + 10);
    cr_assert_not_null(msg);
    size_t off = (size_t)sprintf(msg, "CONNECT a.test:1 HTTP/1.1\r\nX-Pad: ");
    memset(msg + off, 'p', VG_HTTP_HEAD_MAX - off - 4);
    memcpy(msg + VG_HTTP_HEAD_MAX - 4, "\r\n\r\nXYZ", 7);
    struct result r = run(P_HTTP, msg, VG_HTTP_HEAD_MAX + 3);
    cr_assert_eq(r.rc, VG_P_OK);
    cr_assert_eq(r.used, VG_HTTP_HEAD_MAX);

    /* one byte more in the head is too much */
    memset(msg + off, 'p', VG_HTTP_HEAD_MAX - off - 3);
    memcpy(msg + VG_HTTP_HEAD_MAX - 3, "\r\n\r\n", 4);
    r = run(P_HTTP, msg, VG_HTTP_HEAD_MAX + 1);
    cr_assert_eq(r.rc, VG_P_ERROR);
    cr_assert_eq(r.code, 431);
    free(msg);
}

Test(http, basic_auth_variants)
{
    /* scheme name case-insensitive, header name case-insensitive, extra spaces */
    struct result r = feed_bytewise(
        P_HTTP,
        S("CONNECT a.test:1 HTTP/1.1\r\nPROXY-AUTHORIZATION:   bAsIc   dTpwOjE=  \r\n\r\n"));
    cr_assert_eq(r.u.http.has_auth, 1);
    cr_assert_str_eq(r.u.http.user, "u");
    cr_assert_str_eq(r.u.http.pass, "p:1"); /* split at the first ':' */

    /* "alice:" → empty password; ":pw" → empty user */
    r = feed_bytewise(
        P_HTTP, S("CONNECT a.test:1 HTTP/1.1\r\nProxy-Authorization: Basic YWxpY2U6\r\n\r\n"));
    cr_assert_str_eq(r.u.http.user, "alice");
    cr_assert_str_eq(r.u.http.pass, "");
    r = feed_bytewise(P_HTTP,
                      S("CONNECT a.test:1 HTTP/1.1\r\nProxy-Authorization: Basic OnB3\r\n\r\n"));
    cr_assert_str_eq(r.u.http.user, "");
    cr_assert_str_eq(r.u.http.pass, "pw");

    /* padding "==": "ab:c" → YWI6Yw== */
    r = feed_bytewise(
        P_HTTP, S("CONNECT a.test:1 HTTP/1.1\r\nProxy-Authorization: Basic YWI6Yw==\r\n\r\n"));
    cr_assert_str_eq(r.u.http.user, "ab");
    cr_assert_str_eq(r.u.http.pass, "c");

    /* UTF-8 passes through */
    r = feed_bytewise(
        P_HTTP, S("CONNECT a.test:1 HTTP/1.1\r\nProxy-Authorization: Basic w6k6w6k=\r\n\r\n"));
    cr_assert_str_eq(r.u.http.user, "\xc3\xa9");
    cr_assert_str_eq(r.u.http.pass, "\xc3\xa9");
}

Test(http, other_auth_scheme_ignored)
{
    struct result r = feed_bytewise(
        P_HTTP, S("CONNECT a.test:1 HTTP/1.1\r\nProxy-Authorization: Bearer abc.def\r\n\r\n"));
    cr_assert_eq(r.u.http.has_auth, 0);
    r = feed_bytewise(P_HTTP,
                      S("CONNECT a.test:1 HTTP/1.1\r\nProxy-Authorization: Basic-dTpw\r\n\r\n"));
    cr_assert_eq(r.u.http.has_auth, 0); /* another scheme's name */
    /* a plain Authorization header is for the origin, not for us */
    r = feed_bytewise(P_HTTP, S("CONNECT a.test:1 HTTP/1.1\r\nAuthorization: Basic dTpw\r\n\r\n"));
    cr_assert_eq(r.u.http.has_auth, 0);
}

Test(http, bad_base64)
{
    static const char *const bad[] = {
        "Basic",           /* no credentials */
        "Basic ",          /* (trailing OWS trimmed: same) */
        "Basic dTpw=",     /* length not a multiple of 4 */
        "Basic dTp",       /* unpadded */
        "Basic dT!w",      /* bad character */
        "Basic dTpw dTpw", /* two tokens */
        "Basic d===",      /* too much padding */
        "Basic dT=w",      /* data after padding */
        "Basic dQ==dTpw",  /* padding in the middle */
        "Basic dR==",      /* non-zero pad bits */
        "Basic dTq=",      /* non-zero pad bits */
        "Basic dXNlcg==",  /* "user": no colon */
        "Basic dQB4OnA=",  /* "u\0x:p": NUL */
        "Basic dQp4OnA=",  /* "u\nx:p": control character */
        "Basic\tdTpw",     /* tab is not the separator */
    };
    char msg[512];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int n = snprintf(msg, sizeof msg,
                         "CONNECT a.test:1 HTTP/1.1\r\nProxy-Authorization: %s\r\n\r\n", bad[i]);
        struct result r = run(P_HTTP, msg, (size_t)n);
        cr_assert_eq(r.rc, VG_P_ERROR, "'%s' accepted", bad[i]);
        cr_assert_eq(r.code, 400, "'%s': %d", bad[i], r.code);
    }
}

Test(http, credentials_too_long)
{
    /* 256-octet user: does not fit user[256] */
    uint8_t raw[300];
    memset(raw, 'u', 256);
    raw[256] = ':';
    raw[257] = 'p';
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char enc[512], msg[700];
    size_t e = 0, rawlen = 258;
    for (size_t i = 0; i < rawlen; i += 3) {
        unsigned v = (unsigned)raw[i] << 16;
        if (i + 1 < rawlen)
            v |= (unsigned)raw[i + 1] << 8;
        if (i + 2 < rawlen)
            v |= raw[i + 2];
        enc[e++] = b64[(v >> 18) & 63];
        enc[e++] = b64[(v >> 12) & 63];
        enc[e++] = i + 1 < rawlen ? b64[(v >> 6) & 63] : '=';
        enc[e++] = i + 2 < rawlen ? b64[v & 63] : '=';
    }
    enc[e] = '\0';
    int n = snprintf(msg, sizeof msg,
                     "CONNECT a.test:1 HTTP/1.1\r\nProxy-Authorization: Basic %s\r\n\r\n", enc);
    struct result r = run(P_HTTP, msg, (size_t)n);
    cr_assert_eq(r.rc, VG_P_ERROR);
    cr_assert_eq(r.code, 400);

    /* 255-octet user fits */
    memset(raw, 'u', 255);
    raw[255] = ':';
    raw[256] = 'p';
    rawlen = 257;
    e = 0;
    for (size_t i = 0; i < rawlen; i += 3) {
        unsigned v = (unsigned)raw[i] << 16;
        if (i + 1 < rawlen)
            v |= (unsigned)raw[i + 1] << 8;
        if (i + 2 < rawlen)
            v |= raw[i + 2];
        enc[e++] = b64[(v >> 18) & 63];
        enc[e++] = b64[(v >> 12) & 63];
        enc[e++] = i + 1 < rawlen ? b64[(v >> 6) & 63] : '=';
        enc[e++] = i + 2 < rawlen ? b64[v & 63] : '=';
    }
    enc[e] = '\0';
    n = snprintf(msg, sizeof msg,
                 "CONNECT a.test:1 HTTP/1.1\r\nProxy-Authorization: Basic %s\r\n\r\n", enc);
    r = run(P_HTTP, msg, (size_t)n);
    cr_assert_eq(r.rc, VG_P_OK);
    cr_assert_eq(strlen(r.u.http.user), 255);
    cr_assert_str_eq(r.u.http.pass, "p");
}

Test(http, duplicate_credentials)
{
    http_error("CONNECT a.test:1 HTTP/1.1\r\n"
               "Proxy-Authorization: Basic dTpw\r\n"
               "proxy-authorization: Basic dTpx\r\n\r\n",
               400);
}

Test(http, status_may_be_null)
{
    size_t used = USED_SENTINEL;
    struct vg_http_connect c;
    cr_assert_eq(vg_http_parse_connect((const uint8_t *)"GET ", 4, &c, &used, NULL), VG_P_ERROR);
    cr_assert_eq(used, USED_SENTINEL);
}

Test(http, empty_input)
{
    struct result r = run(P_HTTP, "", 0);
    cr_assert_eq(r.rc, VG_P_NEED_MORE);
}

/* ------------------------------------------------------------------ HTTP ordinary requests */

static void hreq_error(const char *msg, int status)
{
    expect_error(P_HREQ, msg, strlen(msg), status);
}

Test(http_request, get_bytewise)
{
    struct result r = feed_bytewise(P_HREQ, S("GET /metrics HTTP/1.1\r\n"
                                              "Host: 127.0.0.1:9464\r\n"
                                              "User-Agent: Prometheus/2.45.0\r\n"
                                              "Accept: text/plain;version=0.0.4;q=1,*/*;q=0.1\r\n"
                                              "X-Prometheus-Scrape-Timeout-Seconds: 1\r\n"
                                              "\r\n"));
    cr_assert_str_eq(r.u.hreq.method, "GET");
    cr_assert_str_eq(r.u.hreq.target, "/metrics");
    cr_assert_eq(r.u.hreq.minor, 1);
}

Test(http_request, lf_only_and_mixed)
{
    struct result r = feed_bytewise(P_HREQ, S("HEAD /metrics?x=1 HTTP/1.0\n\n"));
    cr_assert_str_eq(r.u.hreq.method, "HEAD");
    cr_assert_str_eq(r.u.hreq.target, "/metrics?x=1");
    cr_assert_eq(r.u.hreq.minor, 0);
    r = feed_bytewise(P_HREQ, S("GET / HTTP/1.1\nHost: a\r\n\n"));
    cr_assert_str_eq(r.u.hreq.target, "/");
}

Test(http_request, pipelined)
{
    static const char head[] = "GET /a HTTP/1.1\r\n\r\n";
    struct result r = run(P_HREQ, S("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"));
    cr_assert_eq(r.rc, VG_P_OK);
    cr_assert_eq(r.used, sizeof head - 1);
    cr_assert_str_eq(r.u.hreq.target, "/a");
}

Test(http_request, any_method_and_target_form)
{
    /* the method and the target's form are the caller's to judge */
    struct result r = feed_bytewise(P_HREQ, S("BREW * HTTP/1.1\r\n\r\n"));
    cr_assert_str_eq(r.u.hreq.method, "BREW");
    cr_assert_str_eq(r.u.hreq.target, "*");
    r = feed_bytewise(P_HREQ, S("CONNECT a.test:1 HTTP/1.1\r\n\r\n"));
    cr_assert_str_eq(r.u.hreq.method, "CONNECT");
    cr_assert_str_eq(r.u.hreq.target, "a.test:1");
    r = feed_bytewise(P_HREQ, S("get http://h/p?q#f HTTP/1.1\r\n\r\n"));
    cr_assert_str_eq(r.u.hreq.method, "get");
    cr_assert_str_eq(r.u.hreq.target, "http://h/p?q#f");
    r = run(P_HREQ, S("FOO "));
    cr_assert_eq(r.rc, VG_P_NEED_MORE);
}

Test(http_request, bounds)
{
    char msg[VG_HTTP_TARGET_MAX + 100];
    char tok[VG_HTTP_TARGET_MAX + 2];
    memset(tok, 'M', VG_HTTP_METHOD_MAX + 1);
    tok[VG_HTTP_METHOD_MAX] = '\0';
    int n = snprintf(msg, sizeof msg, "%s / HTTP/1.1\r\n\r\n", tok);
    struct result r = feed_bytewise(P_HREQ, msg, (size_t)n);
    cr_assert_eq(strlen(r.u.hreq.method), VG_HTTP_METHOD_MAX);
    tok[VG_HTTP_METHOD_MAX] = 'M';
    tok[VG_HTTP_METHOD_MAX + 1] = '\0';
    n = snprintf(msg, sizeof msg, "%s / HTTP/1.1\r\n\r\n", tok);
    expect_error(P_HREQ, msg, (size_t)n, 400);

    tok[0] = '/';
    memset(tok + 1, 't', VG_HTTP_TARGET_MAX - 1);
    tok[VG_HTTP_TARGET_MAX] = '\0';
    n = snprintf(msg, sizeof msg, "GET %s HTTP/1.1\r\n\r\n", tok);
    r = run(P_HREQ, msg, (size_t)n);
    cr_assert_eq(r.rc, VG_P_OK);
    cr_assert_str_eq(r.u.hreq.target, tok);
    tok[VG_HTTP_TARGET_MAX] = 't';
    tok[VG_HTTP_TARGET_MAX + 1] = '\0';
    n = snprintf(msg, sizeof msg, "GET %s HTTP/1.1\r\n\r\n", tok);
    expect_error(P_HREQ, msg, (size_t)n, 400);
    /* refused as soon as the target is too long, before the line ends */
    r = run(P_HREQ, msg, 4 + VG_HTTP_TARGET_MAX + 1);
    cr_assert_eq(r.rc, VG_P_ERROR);
    cr_assert_eq(r.code, 400);
}

Test(http_request, bad_request_lines)
{
    hreq_error("HELLO\r\n\r\n", 400);
    hreq_error("\r\n\r\n", 400);
    hreq_error(" GET / HTTP/1.1\r\n\r\n", 400);
    hreq_error("GET  / HTTP/1.1\r\n\r\n", 400);
    hreq_error("GET /  HTTP/1.1\r\n\r\n", 400);
    hreq_error("GET /\r\n\r\n", 400); /* HTTP/0.9 */
    hreq_error("GET / \r\n\r\n", 400);
    hreq_error("GET /a b HTTP/1.1\r\n\r\n", 400);
    hreq_error("GET /\x01 HTTP/1.1\r\n\r\n", 400);
    hreq_error("GET /\x7f HTTP/1.1\r\n\r\n", 400);
    hreq_error("GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n", 400);
    hreq_error("GET\t/ HTTP/1.1\r\n\r\n", 400);
    hreq_error("G(T / HTTP/1.1\r\n\r\n", 400);
    hreq_error("GET / HTTP/1.1\rX\r\n\r\n", 400); /* bare CR */
    hreq_error("\x05\x01\x00", 400);
    static const char nul[] = "GET /a\0b HTTP/1.1\r\n\r\n";
    expect_error(P_HREQ, nul, sizeof nul - 1, 400);
}

Test(http_request, versions)
{
    hreq_error("GET / HTTP/2.0\r\n\r\n", 505);
    hreq_error("GET / HTTP/1.2\r\n\r\n", 505);
    hreq_error("GET / HTTP/0.9\r\n\r\n", 505);
    hreq_error("GET / HTTP/1.10\r\n\r\n", 400);
    hreq_error("GET / HTTP/1\r\n\r\n", 400);
    hreq_error("GET / http/1.1\r\n\r\n", 400);
    hreq_error("GET / HTTP/1.1 \r\n\r\n", 400);
}

Test(http_request, header_lines)
{
    struct result r = feed_bytewise(P_HREQ, S("GET / HTTP/1.1\r\nX-Empty:\r\nX-Tab:\tv\t\r\n"
                                              "Proxy-Authorization: Basic !!!\r\n\r\n"));
    cr_assert_str_eq(r.u.hreq.target, "/"); /* credentials are not this parser's business */
    hreq_error("GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400);
    hreq_error("GET / HTTP/1.1\r\nName : v\r\n\r\n", 400);
    hreq_error("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400);
    hreq_error("GET / HTTP/1.1\r\nA: b\x01\r\n\r\n", 400);
    hreq_error("GET / HTTP/1.1\r\n\r\r\n\r\n", 400);
}

Test(http_request, head_too_large)
{
    size_t n = VG_HTTP_HEAD_MAX + 100;
    char *msg = malloc(n);
    cr_assert_not_null(msg);
    /* one long token without a line end (1 MB of "A"): 431, as before the parser */
    memset(msg, 'A', n);
    struct result r = run(P_HREQ, msg, n);
    cr_assert_eq(r.rc, VG_P_ERROR);
    cr_assert_eq(r.code, 431);
    r = run(P_HREQ, msg, VG_HTTP_HEAD_MAX - 1);
    cr_assert_eq(r.rc, VG_P_NEED_MORE);

    size_t off = (size_t)sprintf(msg, "GET /metrics HTTP/1.1\r\nX: ");
    msg[off] = 'y';
    r = run(P_HREQ, msg, n);
    cr_assert_eq(r.rc, VG_P_ERROR);
    cr_assert_eq(r.code, 431);

    memset(msg + off, 'p', VG_HTTP_HEAD_MAX - off - 4);
    memcpy(msg + VG_HTTP_HEAD_MAX - 4, "\r\n\r\n", 4);
    r = run(P_HREQ, msg, VG_HTTP_HEAD_MAX + 50);
    cr_assert_eq(r.rc, VG_P_OK);
    cr_assert_eq(r.used, VG_HTTP_HEAD_MAX);
    free(msg);
}

Test(http_request, status_may_be_null)
{
    size_t used = USED_SENTINEL;
    struct vg_http_request q;
    cr_assert_eq(
        vg_http_parse_request((const uint8_t *)"GET / HTTP/3.0\r\n\r\n", 18, &q, &used, NULL),
        VG_P_ERROR);
    cr_assert_eq(used, USED_SENTINEL);
    cr_assert_eq(run(P_HREQ, "", 0).rc, VG_P_NEED_MORE);
}

/* ------------------------------------------------------------------ HTTP responses */

Test(http_response, basic)
{
    char out[256];
    size_t n = vg_http_build_response(out, sizeof out, 200, NULL);
    cr_assert_str_eq(out, "HTTP/1.1 200 OK\r\n\r\n");
    cr_assert_eq(n, strlen(out));

    n = vg_http_build_response(out, sizeof out, 407,
                               "Proxy-Authenticate: Basic realm=\"vmgate\"\r\n");
    cr_assert_str_eq(out, "HTTP/1.1 407 Proxy Authentication Required\r\n"
                          "Proxy-Authenticate: Basic realm=\"vmgate\"\r\n\r\n");
    cr_assert_eq(n, strlen(out));

    n = vg_http_build_response(out, sizeof out, 405, "Allow: CONNECT\r\n");
    cr_assert_str_eq(out, "HTTP/1.1 405 Method Not Allowed\r\nAllow: CONNECT\r\n\r\n");
}

Test(http_response, does_not_fit)
{
    char out[64];
    const char *full = "HTTP/1.1 404 Not Found\r\n\r\n";
    cr_assert_eq(vg_http_build_response(out, strlen(full), 404, NULL), 0);
    cr_assert_eq(vg_http_build_response(out, strlen(full) + 1, 404, NULL), strlen(full));
    cr_assert_eq(vg_http_build_response(out, 0, 404, NULL), 0);
    cr_assert_eq(vg_http_build_response(out, sizeof out, 42, NULL), 0);
}

Test(http_response, reasons)
{
    static const int codes[] = {200, 400, 403, 404, 405, 407, 408, 431, 500, 502, 503, 504, 505};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        cr_assert_str_neq(vg_http_reason(codes[i]), "Unknown", "%d", codes[i]);
    cr_assert_str_eq(vg_http_reason(431), "Request Header Fields Too Large");
    cr_assert_str_eq(vg_http_reason(299), "Unknown");
}
