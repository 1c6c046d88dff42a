/* Unit tests for common/: vg_name, vg_addr, vg_alloc, vg_log level names. */
#include "vg_addr.h"
#include "vg_alloc.h"
#include "vg_log.h"
#include "vg_name.h"
#include "vg_records.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/un.h>
#include <unistd.h>

/* ------------------------------------------------------------------ vg_name_normalize */

static enum vg_name_status norm(const char *in, char out[VG_NAME_MAX + 1])
{
    return vg_name_normalize(in, strlen(in), out);
}

/* "a.a.a..." of exactly `len` octets built from labels of `label` octets */
static void make_name(char *buf, size_t len, size_t label)
{
    size_t i = 0, in_label = 0;
    while (i < len) {
        if (in_label == label && i + 1 < len) {
            buf[i++] = '.';
            in_label = 0;
        } else {
            buf[i++] = 'a';
            in_label++;
        }
    }
    buf[len] = '\0';
}

Test(name_normalize, lower_case_and_trailing_dot)
{
    char out[VG_NAME_MAX + 1];
    cr_assert_eq(norm("Web1.VM.Example.COM.", out), VG_NAME_OK);
    cr_assert_str_eq(out, "web1.vm.example.com");
    cr_assert_eq(norm("web1", out), VG_NAME_OK);
    cr_assert_str_eq(out, "web1");
    cr_assert_eq(norm("a-b.c0", out), VG_NAME_OK);
    cr_assert_str_eq(out, "a-b.c0");
    cr_assert_eq(norm("xn--bcher-kva.test", out), VG_NAME_OK);
    cr_assert_eq(norm("0x7f", out), VG_NAME_OK); /* letters in it: a name */
    cr_assert_eq(norm("123.test", out), VG_NAME_OK);
}

Test(name_normalize, not_nul_terminated)
{
    char out[VG_NAME_MAX + 1];
    const char buf[] = {'W', 'e', 'b', '.', 'T', 'X'};
    cr_assert_eq(vg_name_normalize(buf, 5, out), VG_NAME_OK);
    cr_assert_str_eq(out, "web.t");
}

Test(name_normalize, empty)
{
    char out[VG_NAME_MAX + 1];
    cr_assert_eq(norm("", out), VG_NAME_EMPTY);
    cr_assert_eq(norm(".", out), VG_NAME_EMPTY);
    cr_assert_eq(vg_name_normalize("abc", 0, out), VG_NAME_EMPTY);
}

Test(name_normalize, empty_labels)
{
    char out[VG_NAME_MAX + 1];
    cr_assert_eq(norm("..", out), VG_NAME_LABEL_EMPTY);
    cr_assert_eq(norm("a..b", out), VG_NAME_LABEL_EMPTY);
    cr_assert_eq(norm(".a", out), VG_NAME_LABEL_EMPTY);
    cr_assert_eq(norm("a..", out), VG_NAME_LABEL_EMPTY);
}

Test(name_normalize, label_63_64)
{
    char in[80], out[VG_NAME_MAX + 1];
    memset(in, 'x', 63);
    strcpy(in + 63, ".test");
    cr_assert_eq(norm(in, out), VG_NAME_OK);
    cr_assert_eq(strlen(out), 68);
    memset(in, 'x', 64);
    strcpy(in + 64, ".test");
    cr_assert_eq(norm(in, out), VG_NAME_LABEL_LONG);
    memset(in, 'x', 64);
    in[64] = '\0';
    cr_assert_eq(norm(in, out), VG_NAME_LABEL_LONG);
    strcpy(in, "a.");
    memset(in + 2, 'y', 64);
    in[66] = '\0';
    cr_assert_eq(norm(in, out), VG_NAME_LABEL_LONG);
}

Test(name_normalize, name_253_254)
{
    char in[300], out[VG_NAME_MAX + 1];
    make_name(in, 253, 50);
    cr_assert_eq(norm(in, out), VG_NAME_OK);
    cr_assert_eq(strlen(out), 253);
    cr_assert_str_eq(out, in);

    strcat(in, "."); /* 253 + trailing dot is still fine */
    cr_assert_eq(norm(in, out), VG_NAME_OK);
    cr_assert_eq(strlen(out), 253);

    make_name(in, 254, 50);
    cr_assert_eq(norm(in, out), VG_NAME_TOO_LONG);
    strcat(in, ".");
    cr_assert_eq(norm(in, out), VG_NAME_TOO_LONG);
    make_name(in, 299, 60);
    cr_assert_eq(norm(in, out), VG_NAME_TOO_LONG);
}

Test(name_normalize, reserved_underscore)
{
    char out[VG_NAME_MAX + 1];
    cr_assert_eq(norm("_vmgate.vm.test", out), VG_NAME_RESERVED);
    cr_assert_eq(norm("web1._tcp.vm.test", out), VG_NAME_RESERVED);
    cr_assert_eq(norm("_", out), VG_NAME_RESERVED);
    cr_assert_eq(norm("a_b.test", out), VG_NAME_BAD_CHAR); /* '_' inside a label */
}

Test(name_normalize, hyphens)
{
    char out[VG_NAME_MAX + 1];
    cr_assert_eq(norm("-web.test", out), VG_NAME_HYPHEN);
    cr_assert_eq(norm("web-.test", out), VG_NAME_HYPHEN);
    cr_assert_eq(norm("web.-test", out), VG_NAME_HYPHEN);
    cr_assert_eq(norm("web.test-", out), VG_NAME_HYPHEN);
    cr_assert_eq(norm("web.test-.", out), VG_NAME_HYPHEN);
    cr_assert_eq(norm("-", out), VG_NAME_HYPHEN);
    cr_assert_eq(norm("w-e--b.test", out), VG_NAME_OK);
}

Test(name_normalize, numeric_last_label)
{
    char out[VG_NAME_MAX + 1];
    cr_assert_eq(norm("123", out), VG_NAME_NUMERIC);
    cr_assert_eq(norm("198.18.0.1", out), VG_NAME_NUMERIC);
    cr_assert_eq(norm("web1.123", out), VG_NAME_NUMERIC);
    cr_assert_eq(norm("web1.123.", out), VG_NAME_NUMERIC);
    cr_assert_eq(norm("2130706433", out), VG_NAME_NUMERIC);
    cr_assert_eq(norm("1.2.3.x4", out), VG_NAME_OK);
}

Test(name_normalize, bad_chars)
{
    char out[VG_NAME_MAX + 1];
    cr_assert_eq(vg_name_normalize("we\0b.test", 9, out), VG_NAME_BAD_CHAR);
    cr_assert_eq(norm("we b.test", out), VG_NAME_BAD_CHAR);
    cr_assert_eq(norm("web/1.test", out), VG_NAME_BAD_CHAR);
    cr_assert_eq(norm("web1.test/", out), VG_NAME_BAD_CHAR);
    cr_assert_eq(norm("*.test", out), VG_NAME_BAD_CHAR);
    cr_assert_eq(norm("a@b.test", out), VG_NAME_BAD_CHAR);
    cr_assert_eq(norm("web\xc3\xa9.test", out), VG_NAME_BAD_CHAR);
    cr_assert_eq(norm("web:22", out), VG_NAME_BAD_CHAR);
    cr_assert_eq(norm("[::1]", out), VG_NAME_BAD_CHAR);
    cr_assert_eq(norm("web\n", out), VG_NAME_BAD_CHAR);
}

Test(name_normalize, out_terminated_on_error)
{
    char out[VG_NAME_MAX + 1];
    memset(out, 'Z', sizeof out);
    cr_assert_neq(norm("good.label.bad_", out), VG_NAME_OK);
    cr_assert_str_eq(out, "");
}

Test(name_normalize, strerror)
{
    for (int st = VG_NAME_OK; st <= VG_NAME_NUMERIC; st++) {
        const char *s = vg_name_strerror((enum vg_name_status)st);
        cr_assert_not_null(s);
        cr_assert_str_neq(s, "unknown name error", "status %d", st);
    }
    cr_assert_str_eq(vg_name_strerror((enum vg_name_status)VG_NAME_OUTSIDE),
                     "name is outside the zone");
    cr_assert_str_eq(vg_name_strerror((enum vg_name_status)77), "unknown name error");
}

/* ------------------------------------------------------------------ vg_name_under */

Test(name_under, basics)
{
    cr_assert(vg_name_under("web1.vm.test", "vm.test"));
    cr_assert(vg_name_under("a.b.vm.test", "vm.test"));
    cr_assert_not(vg_name_under("vm.test", "vm.test"));
    cr_assert_not(vg_name_under("xvm.test", "vm.test"));
    cr_assert_not(vg_name_under("web1.xvm.test", "vm.test"));
    cr_assert_not(vg_name_under("test", "vm.test"));
    cr_assert_not(vg_name_under("web1.vm.test.org", "vm.test"));
    cr_assert_not(vg_name_under("", "vm.test"));
    cr_assert_not(vg_name_under(".vm.test", "vm.test"));
}

Test(name_under, root_zone)
{
    cr_assert(vg_name_under("anything", ""));
    cr_assert_not(vg_name_under("", ""));
}

/* ------------------------------------------------------------------ vg_name_is_ip_literal */

static bool iplit(const char *s)
{
    return vg_name_is_ip_literal(s, strlen(s));
}

Test(name_ip_literal, yes)
{
    cr_assert(iplit("198.18.0.1"));
    cr_assert(iplit("0.0.0.0"));
    cr_assert(iplit("::1"));
    cr_assert(iplit("::"));
    cr_assert(iplit("fd00::1"));
    cr_assert(iplit("[fd00::1]"));
    cr_assert(iplit("[198.18.0.1]"));
    cr_assert(iplit("::ffff:198.18.0.1"));
    cr_assert(iplit("2001:db8:0:0:0:0:0:1"));
}

Test(name_ip_literal, no)
{
    cr_assert_not(iplit(""));
    cr_assert_not(iplit("[]"));
    cr_assert_not(iplit("["));
    cr_assert_not(iplit("web1.vm.test"));
    cr_assert_not(iplit("1.2.3"));
    cr_assert_not(iplit("1.2.3.4."));
    cr_assert_not(iplit("256.1.1.1"));
    cr_assert_not(iplit("fd00::1]"));
    cr_assert_not(iplit("[fd00::1"));
    cr_assert_not(iplit("fd00::g"));
    /* longer than any address text: no overflow of the internal buffer */
    char big[200];
    memset(big, '1', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cr_assert_not(iplit(big));
}

Test(name_ip_literal, length_bounded)
{
    /* only `len` octets are looked at */
    cr_assert(vg_name_is_ip_literal("10.0.0.1junk", 8));
    cr_assert_not(vg_name_is_ip_literal("10.0.0.1junk", 9));
}

/* ------------------------------------------------------------------ vg_name_qualify */

Test(name_qualify, short_name)
{
    char out[VG_NAME_MAX + 1];
    cr_assert_eq(vg_name_qualify("web1", "vm.test", out), VG_NAME_OK);
    cr_assert_str_eq(out, "web1.vm.test");
    cr_assert_eq(vg_name_qualify("WEB1", "vm.test", out), VG_NAME_OK);
    cr_assert_str_eq(out, "web1.vm.test");
}

Test(name_qualify, fully_qualified)
{
    char out[VG_NAME_MAX + 1];
    cr_assert_eq(vg_name_qualify("web1.vm.test", "vm.test", out), VG_NAME_OK);
    cr_assert_str_eq(out, "web1.vm.test");
    cr_assert_eq(vg_name_qualify("Web1.VM.test.", "vm.test", out), VG_NAME_OK);
    cr_assert_str_eq(out, "web1.vm.test");
    cr_assert_eq(vg_name_qualify("a.web1.vm.test", "vm.test", out), VG_NAME_OK);
    cr_assert_str_eq(out, "a.web1.vm.test");
}

Test(name_qualify, outside)
{
    char out[VG_NAME_MAX + 1];
    /* a trailing dot means absolute: "web1." is the TLD-level name, not a short one */
    cr_assert_eq(vg_name_qualify("web1.", "vm.test", out), VG_NAME_OUTSIDE);
    cr_assert_eq(vg_name_qualify("web1.other.test", "vm.test", out), VG_NAME_OUTSIDE);
    cr_assert_eq(vg_name_qualify("web1.vm", "vm.test", out), VG_NAME_OUTSIDE);
    cr_assert_eq(vg_name_qualify("vm.test", "vm.test", out), VG_NAME_OUTSIDE);
    cr_assert_eq(vg_name_qualify("vm.test.", "vm.test", out), VG_NAME_OUTSIDE);
}

Test(name_qualify, errors)
{
    char out[VG_NAME_MAX + 1];
    cr_assert_eq(vg_name_qualify("", "vm.test", out), VG_NAME_EMPTY);
    cr_assert_eq(vg_name_qualify("_x", "vm.test", out), VG_NAME_RESERVED);
    cr_assert_eq(vg_name_qualify("a b", "vm.test", out), VG_NAME_BAD_CHAR);
    cr_assert_eq(vg_name_qualify("10", "vm.test", out), VG_NAME_NUMERIC);

    /* short name fine alone, too long once the zone is added */
    char zone[240], label[64];
    make_name(zone, 200, 40);
    memset(label, 'w', 63);
    label[63] = '\0';
    cr_assert_eq(vg_name_qualify(label, zone, out), VG_NAME_TOO_LONG);
    label[52] = '\0'; /* 52 + 1 + 200 = 253 */
    cr_assert_eq(vg_name_qualify(label, zone, out), VG_NAME_OK);
    cr_assert_eq(strlen(out), 253);
}

/* ------------------------------------------------------------------ vg_parse_uint / port */

Test(parse_uint, strict)
{
    unsigned long v = 77;
    cr_assert(vg_parse_uint("0", 0, 10, &v));
    cr_assert_eq(v, 0);
    cr_assert(vg_parse_uint("10", 0, 10, &v));
    cr_assert_eq(v, 10);
    cr_assert(vg_parse_uint("007", 0, 10, &v));
    cr_assert_eq(v, 7);
    v = 77;
    cr_assert_not(vg_parse_uint("11", 0, 10, &v));
    cr_assert_not(vg_parse_uint("4", 5, 10, &v));
    cr_assert_not(vg_parse_uint("12abc", 0, 100000, &v));
    cr_assert_not(vg_parse_uint("", 0, 10, &v));
    cr_assert_not(vg_parse_uint("+1", 0, 10, &v));
    cr_assert_not(vg_parse_uint("-1", 0, 10, &v));
    cr_assert_not(vg_parse_uint(" 1", 0, 10, &v));
    cr_assert_not(vg_parse_uint("1 ", 0, 10, &v));
    cr_assert_not(vg_parse_uint("1\n", 0, 10, &v));
    cr_assert_not(vg_parse_uint("0x1", 0, 10, &v));
    cr_assert_not(vg_parse_uint("1.0", 0, 10, &v));
    cr_assert_not(vg_parse_uint(NULL, 0, 10, &v));
    cr_assert_not(vg_parse_uint("99999999999999999999999", 0, (unsigned long)-1, &v));
    cr_assert_eq(v, 77, "out written on failure");
}

Test(parse_port, strict)
{
    uint16_t p = 9;
    cr_assert(vg_parse_port("1", &p));
    cr_assert_eq(p, 1);
    cr_assert(vg_parse_port("65535", &p));
    cr_assert_eq(p, 65535);
    cr_assert(vg_parse_port("1080", &p));
    cr_assert_eq(p, 1080);
    p = 9;
    cr_assert_not(vg_parse_port("0", &p));
    cr_assert_not(vg_parse_port("65536", &p));
    cr_assert_not(vg_parse_port("12abc", &p));
    cr_assert_not(vg_parse_port("", &p));
    cr_assert_not(vg_parse_port("+1", &p));
    cr_assert_not(vg_parse_port(" 1", &p));
    cr_assert_not(vg_parse_port("4294967297", &p)); /* 2^32 + 1 wraps to 1 if truncated */
    cr_assert_eq(p, 9);
}

/* ------------------------------------------------------------------ vg_sockaddr_parse */

Test(sockaddr_parse, ipv4)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    cr_assert(vg_sockaddr_parse("198.18.0.1:1080", 0, &ss, &len));
    cr_assert_eq(ss.ss_family, AF_INET);
    cr_assert_eq(len, sizeof(struct sockaddr_in));
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
    cr_assert_eq(ntohs(sin->sin_port), 1080);
    cr_assert_eq(ntohl(sin->sin_addr.s_addr), 0xc6120001u);

    cr_assert(vg_sockaddr_parse("127.0.0.1", 22, &ss, &len));
    cr_assert_eq(ntohs(sin->sin_port), 22);
    cr_assert(vg_sockaddr_parse("127.0.0.1:23", 22, &ss, &len));
    cr_assert_eq(ntohs(sin->sin_port), 23);
}

Test(sockaddr_parse, ipv6)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
    struct in6_addr want;
    inet_pton(AF_INET6, "fd00::1", &want);

    cr_assert(vg_sockaddr_parse("[fd00::1]:1080", 0, &ss, &len));
    cr_assert_eq(ss.ss_family, AF_INET6);
    cr_assert_eq(len, sizeof(struct sockaddr_in6));
    cr_assert_eq(ntohs(sin6->sin6_port), 1080);
    cr_assert_eq(memcmp(&sin6->sin6_addr, &want, 16), 0);

    cr_assert(vg_sockaddr_parse("[fd00::1]", 443, &ss, &len));
    cr_assert_eq(ntohs(sin6->sin6_port), 443);
    /* bare IPv6 without brackets: the whole text is the address */
    cr_assert(vg_sockaddr_parse("fd00::1", 53, &ss, &len));
    cr_assert_eq(memcmp(&sin6->sin6_addr, &want, 16), 0);
    cr_assert_eq(ntohs(sin6->sin6_port), 53);
    cr_assert(vg_sockaddr_parse("[::]:1", 0, &ss, &len));
}

Test(sockaddr_parse, bad)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    static const char *const bad[] = {
        "",
        ":1080",
        "198.18.0.1", /* no port and no default */
        "198.18.0.1:",
        "198.18.0.1:0",
        "198.18.0.1:65536",
        "198.18.0.1:12abc",
        "198.18.0.1:+1",
        "198.18.0.1: 1",
        "198.18.0.256:1",
        "web1.vm.test:22", /* names are not addresses */
        "localhost:22",
        "[fd00::1]", /* no port and no default */
        "[fd00::1]:",
        "[fd00::1]x",
        "[fd00::1]:1x",
        "[fd00::1",
        "[]:1",
        "[198.18.0.1]:1", /* brackets are for IPv6 */
        "fd00::1",        /* no default port */
        "[fd00::zz]:1",
        "[0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000]:1", /* too long */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_not(vg_sockaddr_parse(bad[i], 0, &ss, &len), "'%s' accepted", bad[i]);
    cr_assert_not(vg_sockaddr_parse("[198.18.0.1]", 1, &ss, &len));
    cr_assert_not(vg_sockaddr_parse("web1", 1, &ss, &len));
}

/* ------------------------------------------------------------------ vg_sockaddr_format */

Test(sockaddr_format, all_families)
{
    char buf[VG_ADDRSTRLEN];
    struct sockaddr_storage ss;
    socklen_t len;
    cr_assert(vg_sockaddr_parse("198.18.0.1:5012", 0, &ss, &len));
    cr_assert_str_eq(vg_sockaddr_format((struct sockaddr *)&ss, true, buf, sizeof buf),
                     "198.18.0.1:5012");
    cr_assert_str_eq(vg_sockaddr_format((struct sockaddr *)&ss, false, buf, sizeof buf),
                     "198.18.0.1");
    cr_assert_eq(vg_sockaddr_port((struct sockaddr *)&ss), 5012);

    cr_assert(vg_sockaddr_parse("[FD00:0::1]:1080", 0, &ss, &len));
    cr_assert_str_eq(vg_sockaddr_format((struct sockaddr *)&ss, true, buf, sizeof buf),
                     "[fd00::1]:1080");
    cr_assert_str_eq(vg_sockaddr_format((struct sockaddr *)&ss, false, buf, sizeof buf), "fd00::1");
    cr_assert_eq(vg_sockaddr_port((struct sockaddr *)&ss), 1080);

    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    cr_assert_str_eq(vg_sockaddr_format((struct sockaddr *)&sun, true, buf, sizeof buf), "unix");
    cr_assert_eq(vg_sockaddr_port((struct sockaddr *)&sun), 0);

    struct sockaddr sa = {.sa_family = 99};
    cr_assert_str_eq(vg_sockaddr_format(&sa, true, buf, sizeof buf), "af99");
}

Test(sockaddr_format, round_trip)
{
    static const char *const addrs[] = {"127.0.0.1:1", "[::1]:65535", "[fd00::abcd:1]:22",
                                        "[::ffff:198.18.0.1]:80", "0.0.0.0:1080"};
    for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
        struct sockaddr_storage ss;
        socklen_t len;
        char buf[VG_ADDRSTRLEN];
        cr_assert(vg_sockaddr_parse(addrs[i], 0, &ss, &len), "%s", addrs[i]);
        cr_assert_str_eq(vg_sockaddr_format((struct sockaddr *)&ss, true, buf, sizeof buf),
                         addrs[i]);
    }
}

Test(sockaddr_format, truncates_safely)
{
    char buf[8];
    struct sockaddr_storage ss;
    socklen_t len;
    cr_assert(vg_sockaddr_parse("[fd00::1234:5678]:1080", 0, &ss, &len));
    vg_sockaddr_format((struct sockaddr *)&ss, true, buf, sizeof buf);
    cr_assert_eq(strlen(buf), 7);
}

/* ------------------------------------------------------------------ CIDR */

static struct sockaddr_storage sa_of(const char *s)
{
    struct sockaddr_storage ss;
    socklen_t len;
    cr_assert(vg_sockaddr_parse(s, 1, &ss, &len), "%s", s);
    return ss;
}

static bool match(const char *cidr, const char *addr)
{
    struct vg_cidr c;
    cr_assert(vg_cidr_parse(cidr, &c), "%s", cidr);
    struct sockaddr_storage ss = sa_of(addr);
    return vg_cidr_match(&c, (struct sockaddr *)&ss);
}

Test(cidr, parse)
{
    struct vg_cidr c;
    cr_assert(vg_cidr_parse("198.18.0.0/15", &c));
    cr_assert_eq(c.family, AF_INET);
    cr_assert_eq(c.prefix, 15);
    cr_assert_eq(memcmp(c.addr, "\xc6\x12\x00\x00", 4), 0);

    cr_assert(vg_cidr_parse("fd00::/8", &c));
    cr_assert_eq(c.family, AF_INET6);
    cr_assert_eq(c.prefix, 8);
    cr_assert_eq(c.addr[0], 0xfd);

    cr_assert(vg_cidr_parse("127.0.0.1", &c));
    cr_assert_eq(c.prefix, 32);
    cr_assert(vg_cidr_parse("::1", &c));
    cr_assert_eq(c.prefix, 128);
    cr_assert(vg_cidr_parse("0.0.0.0/0", &c));
    cr_assert_eq(c.prefix, 0);
    cr_assert(vg_cidr_parse("::/0", &c));
    cr_assert(vg_cidr_parse("10.0.0.0/32", &c));
    cr_assert(vg_cidr_parse("::/128", &c));
}

Test(cidr, host_bits_cleared)
{
    struct vg_cidr c;
    cr_assert(vg_cidr_parse("198.19.255.255/15", &c));
    cr_assert_eq(memcmp(c.addr, "\xc6\x12\x00\x00", 4), 0);
    cr_assert(vg_cidr_parse("fd12:3456::1/20", &c));
    cr_assert_eq(memcmp(c.addr, "\xfd\x12\x30\x00\x00", 5), 0);
    cr_assert(vg_cidr_parse("255.255.255.255/0", &c));
    cr_assert_eq(memcmp(c.addr, "\x00\x00\x00\x00", 4), 0);
    cr_assert(match("198.19.255.255/15", "198.18.7.7"));
}

Test(cidr, bad)
{
    struct vg_cidr c;
    static const char *const bad[] = {
        "",
        "/8",
        "198.18.0.0/",
        "198.18.0.0/33",
        "198.18.0.0/-1",
        "198.18.0.0/+1",
        "198.18.0.0/ 8",
        "198.18.0.0/8x",
        "198.18.0.0/8/8",
        "fd00::/129",
        "web1/8",
        "198.18.0/16",
        "198.18.0.0.0/8",
        "[fd00::]/8",
        "fd00::/0x8",
        "198.18.0.0/99999999999999999999999",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_not(vg_cidr_parse(bad[i], &c), "'%s' accepted", bad[i]);
}

Test(cidr, match_v4)
{
    cr_assert(match("198.18.0.0/15", "198.18.0.1"));
    cr_assert(match("198.18.0.0/15", "198.19.255.254"));
    cr_assert_not(match("198.18.0.0/15", "198.20.0.1"));
    cr_assert_not(match("198.18.0.0/15", "198.17.255.255"));
    cr_assert(match("127.0.0.1", "127.0.0.1"));
    cr_assert_not(match("127.0.0.1", "127.0.0.2"));
    cr_assert(match("10.1.2.3/31", "10.1.2.2"));
    cr_assert_not(match("10.1.2.3/31", "10.1.2.4"));
}

Test(cidr, match_v6)
{
    cr_assert(match("fd00::/8", "fd12::1"));
    cr_assert_not(match("fd00::/8", "fe80::1"));
    cr_assert(match("::1", "::1"));
    cr_assert_not(match("::1/128", "::2"));
    cr_assert(match("2001:db8::/33", "2001:db8:7fff::1"));
    cr_assert_not(match("2001:db8::/33", "2001:db8:8000::1"));
}

Test(cidr, v4_mapped)
{
    cr_assert(match("198.18.0.0/15", "::ffff:198.18.3.4"));
    cr_assert_not(match("198.18.0.0/15", "::ffff:10.0.0.1"));
    cr_assert(match("127.0.0.1", "::ffff:127.0.0.1"));
    /* an IPv6 prefix does not match an IPv4 address, nor the other way round */
    cr_assert_not(match("::/0", "198.18.0.1"));
    cr_assert_not(match("fd00::/8", "198.18.0.1"));
    cr_assert_not(match("198.18.0.0/15", "fd00::1"));
    /* a v4-compatible (not mapped) address is plain IPv6 */
    cr_assert_not(match("198.18.0.0/15", "::198.18.0.1"));
}

Test(cidr, prefix_zero)
{
    cr_assert(match("0.0.0.0/0", "198.18.0.1"));
    cr_assert(match("0.0.0.0/0", "255.255.255.255"));
    cr_assert(match("0.0.0.0/0", "::ffff:1.2.3.4"));
    cr_assert_not(match("0.0.0.0/0", "::1"));
    cr_assert(match("::/0", "::1"));
    cr_assert(match("::/0", "fd00::1"));
}

Test(cidr, other_family_never_matches)
{
    struct vg_cidr c;
    cr_assert(vg_cidr_parse("0.0.0.0/0", &c));
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    cr_assert_not(vg_cidr_match(&c, (struct sockaddr *)&sun));
}

/* ------------------------------------------------------------------ vg_list_foreach */

struct collect {
    char items[8][32];
    int n, stop_at;
};

static bool collect_item(const char *item, void *arg)
{
    struct collect *c = arg;
    if (c->n == c->stop_at)
        return false;
    snprintf(c->items[c->n++], sizeof c->items[0], "%s", item);
    return true;
}

Test(list_foreach, split_and_stop)
{
    char list[] = " a, b\tc,,d ,";
    struct collect c = {.stop_at = -1};
    cr_assert(vg_list_foreach(list, collect_item, &c));
    cr_assert_eq(c.n, 4);
    cr_assert_str_eq(c.items[0], "a");
    cr_assert_str_eq(c.items[1], "b");
    cr_assert_str_eq(c.items[2], "c");
    cr_assert_str_eq(c.items[3], "d");

    char list2[] = "x,y,z";
    struct collect c2 = {.stop_at = 1};
    cr_assert_not(vg_list_foreach(list2, collect_item, &c2));
    cr_assert_eq(c2.n, 1);

    char empty[] = " , ,";
    struct collect c3 = {.stop_at = -1};
    cr_assert(vg_list_foreach(empty, collect_item, &c3));
    cr_assert_eq(c3.n, 0);
}

/* ------------------------------------------------------------------ vg_alloc */

Test(alloc, fail_at_nth)
{
    vg_alloc_fail_at(3);
    void *a = vg_malloc(8);
    void *b = vg_malloc(8);
    void *c = vg_malloc(8);
    void *d = vg_malloc(8);
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_assert_null(c);
    cr_assert_not_null(d, "only the Nth allocation fails");
    vg_free(a);
    vg_free(b);
    vg_free(d);
}

Test(alloc, fail_next_each_kind)
{
    vg_alloc_fail_at(1);
    cr_assert_null(vg_malloc(1));
    vg_alloc_fail_at(1);
    cr_assert_null(vg_calloc(2, 4));
    vg_alloc_fail_at(1);
    cr_assert_null(vg_strdup("x"));
    vg_alloc_fail_at(1);
    cr_assert_null(vg_strndup("xyz", 2));

    char *p = vg_strndup("xyz", 2);
    cr_assert_str_eq(p, "xy");
    vg_alloc_fail_at(1);
    cr_assert_null(vg_realloc(p, 100));
    cr_assert_str_eq(p, "xy", "the old block survives a failed realloc");
    char *q = vg_realloc(p, 100);
    cr_assert_not_null(q);
    vg_free(q);
}

Test(alloc, disabled)
{
    vg_alloc_fail_at(5);
    vg_alloc_fail_at(0);
    for (int i = 0; i < 20; i++) {
        char *s = vg_strdup("ok");
        cr_assert_not_null(s);
        vg_free(s);
    }
    int *z = vg_calloc(4, sizeof *z);
    cr_assert_not_null(z);
    cr_assert_eq(z[0] | z[1] | z[2] | z[3], 0);
    vg_free(z);
    vg_free(NULL);
}

/* ------------------------------------------------------------------ vg_log */

Test(log, level_names)
{
    cr_assert_eq(vg_log_level_parse("err"), VG_LOG_ERR);
    cr_assert_eq(vg_log_level_parse("warn"), VG_LOG_WARN);
    cr_assert_eq(vg_log_level_parse("notice"), VG_LOG_NOTICE);
    cr_assert_eq(vg_log_level_parse("info"), VG_LOG_INFO);
    cr_assert_eq(vg_log_level_parse("debug"), VG_LOG_DEBUG);
    cr_assert_eq(vg_log_level_parse("DEBUG"), -1);
    cr_assert_eq(vg_log_level_parse(""), -1);
    cr_assert_eq(vg_log_level_parse("trace"), -1);
}

static int evaluated;
static int side_effect(void)
{
    evaluated++;
    return 1;
}

Test(log, disabled_level_does_not_evaluate_arguments)
{
    int saved = vg_log_max;
    vg_log_max = VG_LOG_NOTICE;
    evaluated = 0;
    vg_debug("x %d", side_effect());
    cr_assert_eq(evaluated, 0);
    vg_log_max = saved;
}

/* ---- vg_records: the record layout both the registrar and the resolver use -------------- */

Test(records, names)
{
    char out[VG_NAME_MAX + 1], err[200];
    cr_assert(vg_rec_srv_name("web1.vm.test", out));
    cr_assert_str_eq(out, "_vmgate._tcp.web1.vm.test");
    cr_assert(vg_rec_host_name("hv1", "vm.test", out));
    cr_assert_str_eq(out, "hv1.vmgate-hosts.vm.test");
    cr_assert(vg_rec_vm_name_ok("web1.vm.test", "vm.test", err, sizeof err));
    cr_assert_not(vg_rec_vm_name_ok("vmgate-hosts.vm.test", "vm.test", err, sizeof err));
    cr_assert_not(vg_rec_vm_name_ok("hv1.vmgate-hosts.vm.test", "vm.test", err, sizeof err));
    cr_assert(strstr(err, "reserved for host records"), "%s", err);
    char longname[VG_NAME_MAX + 1], label[64];
    memset(label, 'a', 63);
    label[63] = '\0';
    snprintf(longname, sizeof longname, "%s.%s.%s.%.41s.vm.test", label, label, label,
             label); /* 241 octets: its SRV name would be 254 */
    cr_assert_not(vg_rec_vm_name_ok(longname, "vm.test", err, sizeof err));
    cr_assert(strstr(err, "SRV name"), "%s", err);
}

Test(records, txt)
{
    char host[VG_REC_HOST_MAX + 1];
    long long t;
    cr_assert(vg_rec_owner_parse("vmgate-owner=HV1", 16, host));
    cr_assert_str_eq(host, "hv1");
    cr_assert_not(vg_rec_owner_parse("vmgate-owner=", 13, host));
    cr_assert_not(vg_rec_owner_parse("vmgate-owner=a b", 16, host));
    cr_assert_not(vg_rec_owner_parse("owner=hv1", 9, host));
    cr_assert(vg_rec_heartbeat_parse("vmgate-heartbeat=1700000000", 27, &t));
    cr_assert_eq(t, 1700000000LL);
    cr_assert_not(vg_rec_heartbeat_parse("vmgate-heartbeat=17x", 20, &t));
    cr_assert_not(vg_rec_heartbeat_parse("vmgate-heartbeat=", 17, &t));
}

Test(alloc, grow)
{
    int *v = NULL;
    size_t cap = 0, n = 0;
    for (; n < 100; n++) {
        cr_assert(vg_grow(&v, &cap, n, sizeof *v, 4));
        v[n] = (int)n;
    }
    cr_assert_eq(cap, 128);
    vg_alloc_fail_at(1);
    size_t before = cap;
    cr_assert(vg_grow(&v, &cap, 99, sizeof *v, 4), "room left: no allocation");
    cr_assert_not(vg_grow(&v, &cap, cap, sizeof *v, 4), "the failed allocation is reported");
    vg_alloc_fail_at(0);
    cr_assert_eq(cap, before);
    cr_assert_eq(v[99], 99, "the array is kept");
    size_t huge = SIZE_MAX / 8;
    cr_assert_not(vg_grow(&v, &huge, huge, 8, 4), "the size would overflow");
    vg_free(v);
}

/* Control bytes in a logged field (a user name with "\n") never start a line of their own. */
Test(log, escape_control_bytes)
{
    char out[64];
    cr_assert_eq(vg_log_escape(out, sizeof out, "plain text: ok"), 14);
    cr_assert_str_eq(out, "plain text: ok");
    vg_log_escape(out, sizeof out, "bob\n10:00:00.000 vmgate-gw[notice] forged");
    cr_assert_str_eq(out, "bob\\x0a10:00:00.000 vmgate-gw[notice] forged");
    vg_log_escape(out, sizeof out, "\r\t\x1b[31m\x7f\x01");
    cr_assert_str_eq(out, "\\x0d\\x09\\x1b[31m\\x7f\\x01");
    /* bytes >= 0x80 (UTF-8) pass */
    vg_log_escape(out, sizeof out, "caf\xc3\xa9");
    cr_assert_str_eq(out, "caf\xc3\xa9");
    /* truncation keeps the terminator and never splits an escape */
    char small[6];
    cr_assert_eq(vg_log_escape(small, sizeof small, "ab\ncd"), 2);
    cr_assert_str_eq(small, "ab");
    cr_assert_eq(vg_log_escape(small, sizeof small, "abcdefgh"), 5);
    cr_assert_str_eq(small, "abcde");
    char one[1];
    cr_assert_eq(vg_log_escape(one, 1, "x"), 0);
    cr_assert_str_eq(one, "");
}

Test(log, written_line_is_one_line)
{
    char path[] = "/tmp/vg-log.XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    vg_log_open("vmgate-test", VG_LOG_INFO, false);
    vg_info("c1 198.18.0.3:5000: authentication failed for user '%s'",
            "x\n00:00:00.000 vmgate-gw[notice] c2 198.18.0.9:1: CONNECT admin");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char buf[512] = {0};
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    unlink(path);
    cr_assert(n > 0);
    cr_assert_eq(strchr(buf, '\n'), buf + n - 1, "more than one line: %s", buf);
    cr_assert_not_null(strstr(buf, "user 'x\\x0a00:00:00.000 vmgate-gw[notice] c2"));
}

/* ------------------------------------------------------------------ vg_sockaddr_unmap */

Test(sockaddr_unmap, v4_mapped_becomes_v4)
{
    struct sockaddr_in6 m = {.sin6_family = AF_INET6, .sin6_port = htons(4242)};
    inet_pton(AF_INET6, "::ffff:198.18.0.3", &m.sin6_addr);
    struct sockaddr_storage ss;
    cr_assert_eq(vg_sockaddr_unmap((struct sockaddr *)&m, sizeof m, &ss),
                 sizeof(struct sockaddr_in));
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
    cr_assert_eq(sin->sin_family, AF_INET);
    cr_assert_eq(ntohs(sin->sin_port), 4242);
    cr_assert_eq(ntohl(sin->sin_addr.s_addr), 0xc6120003u);
    char a[VG_ADDRSTRLEN];
    cr_assert_str_eq(vg_sockaddr_format((struct sockaddr *)&ss, true, a, sizeof a),
                     "198.18.0.3:4242");
}

Test(sockaddr_unmap, others_unchanged)
{
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = htons(1)};
    inet_pton(AF_INET6, "fd00::ffff:c612:3", &v6.sin6_addr); /* not ::ffff:0:0/96 */
    struct sockaddr_storage ss;
    cr_assert_eq(vg_sockaddr_unmap((struct sockaddr *)&v6, sizeof v6, &ss), sizeof v6);
    cr_assert_eq(memcmp(&ss, &v6, sizeof v6), 0);
    struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = htons(2)};
    v4.sin_addr.s_addr = htonl(0x7f000001);
    cr_assert_eq(vg_sockaddr_unmap((struct sockaddr *)&v4, sizeof v4, &ss), sizeof v4);
    cr_assert_eq(memcmp(&ss, &v4, sizeof v4), 0);
}

/* IPV6_V6ONLY on every IPv6 listener, so "0.0.0.0:P, [::]:P" (the README's example) are two
 * listeners (that pair itself is started in tests/system/test_gw_auth.sh, in a namespace: here
 * only loopback is used); a v4-mapped address is bound without it (it could not be otherwise). */
static int listen_on(const char *addr)
{
    struct sockaddr_storage ss;
    socklen_t len;
    cr_assert(vg_sockaddr_parse(addr, 0, &ss, &len));
    for (unsigned port = 40000 + (unsigned)getpid() % 10000, tries = 0; tries < 50;
         tries++, port++) {
        ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port); /* same offset in sin6 */
        int fd = vg_listen_tcp((struct sockaddr *)&ss, len, 8);
        if (fd >= 0)
            return fd;
    }
    return -1;
}

static int v6only_of(int fd)
{
    int v = -1;
    socklen_t ol = sizeof v;
    cr_assert_eq(getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, &ol), 0);
    return v;
}

Test(listen_tcp, v6only)
{
    int fd = listen_on("[::1]:1");
    cr_assert(fd >= 0, "cannot listen on [::1]: %s", strerror(errno));
    cr_assert_eq(v6only_of(fd), 1);
    int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);
    cr_assert(fl & O_NONBLOCK);
    cr_assert(fdfl & FD_CLOEXEC);
    close(fd);
    fd = listen_on("[::ffff:127.0.0.1]:1");
    cr_assert(fd >= 0, "cannot listen on [::ffff:127.0.0.1]: %s", strerror(errno));
    cr_assert_eq(v6only_of(fd), 0);
    close(fd);
    fd = listen_on("127.0.0.1:1");
    cr_assert(fd >= 0);
    close(fd);
}
