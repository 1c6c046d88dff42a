/* Fuzz target: name and address text from clients and config files.
 *
 * vg_name_normalize / vg_name_is_ip_literal on the raw bytes (not NUL-terminated); the text up to
 * the first NUL or newline through vg_name_qualify (zone: the text after the newline when that
 * is a valid name, else "vm.test"), vg_sockaddr_parse (round trip through vg_sockaddr_format),
 * vg_cidr_parse (host bits clear; matching its own address) and vg_parse_uint / vg_parse_port.
 */
#include "fuzz.h"
#include "vg_addr.h"
#include "vg_name.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>

static bool only_ldh_and_dots(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '.'))
            return false;
    return true;
}

static void check_normalize(const uint8_t *data, size_t size)
{
    char out[VG_NAME_MAX + 1], again[VG_NAME_MAX + 1];
    /* exactly-sized copy: reads past `size` are caught */
    char *copy = malloc(size ? size : 1);
    if (copy == NULL)
        abort();
    if (size)
        memcpy(copy, data, size);
    enum vg_name_status st = vg_name_normalize(copy, size, out);
    (void)vg_name_is_ip_literal(copy, size);
    free(copy);
    FUZZ_CHECK((int)st >= VG_NAME_OK && st <= VG_NAME_NUMERIC);
    FUZZ_CHECK(vg_name_strerror(st) != NULL);
    if (st != VG_NAME_OK) {
        FUZZ_CHECK(out[0] == '\0');
        return;
    }
    size_t n = strlen(out);
    FUZZ_CHECK(n > 0 && n <= VG_NAME_MAX);
    FUZZ_CHECK(only_ldh_and_dots(out));
    FUZZ_CHECK(out[0] != '.' && out[n - 1] != '.' && out[0] != '-' && out[n - 1] != '-');
    FUZZ_CHECK(strstr(out, "..") == NULL);
    /* idempotent, and a normalized name is never an IP literal */
    FUZZ_CHECK(vg_name_normalize(out, n, again) == VG_NAME_OK && strcmp(out, again) == 0);
    FUZZ_CHECK(!vg_name_is_ip_literal(out, n));
}

static void check_qualify(const char *text, const char *zone_text)
{
    char zone[VG_NAME_MAX + 1] = "vm.test", out[VG_NAME_MAX + 1];
    if (zone_text != NULL && vg_name_normalize(zone_text, strlen(zone_text), out) == VG_NAME_OK)
        strcpy(zone, out);
    int st = vg_name_qualify(text, zone, out);
    if (st == VG_NAME_OK) {
        FUZZ_CHECK(vg_name_under(out, zone));
        FUZZ_CHECK(strlen(out) <= VG_NAME_MAX && only_ldh_and_dots(out));
    } else {
        FUZZ_CHECK(st == VG_NAME_OUTSIDE || (st > VG_NAME_OK && st <= VG_NAME_NUMERIC));
    }
}

static void check_sockaddr(const char *text)
{
    struct sockaddr_storage ss, ss2;
    socklen_t len, len2;
    char buf[VG_ADDRSTRLEN];
    for (int dflt = 0; dflt < 2; dflt++) {
        if (!vg_sockaddr_parse(text, dflt ? 1080 : 0, &ss, &len))
            continue;
        FUZZ_CHECK(ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
        FUZZ_CHECK(len == (ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                                   : sizeof(struct sockaddr_in6)));
        FUZZ_CHECK(vg_sockaddr_port((struct sockaddr *)&ss) != 0);
        vg_sockaddr_format((struct sockaddr *)&ss, true, buf, sizeof buf);
        FUZZ_CHECK(vg_sockaddr_parse(buf, 0, &ss2, &len2));
        FUZZ_CHECK(len2 == len && memcmp(&ss, &ss2, len) == 0);
        /* a parsed address is an IP literal */
        vg_sockaddr_format((struct sockaddr *)&ss, false, buf, sizeof buf);
        FUZZ_CHECK(vg_name_is_ip_literal(buf, strlen(buf)));
    }
}

static void check_cidr(const char *text)
{
    struct vg_cidr c;
    if (!vg_cidr_parse(text, &c))
        return;
    unsigned maxbits = c.family == AF_INET ? 32 : 128;
    FUZZ_CHECK(c.family == AF_INET || c.family == AF_INET6);
    FUZZ_CHECK(c.prefix <= maxbits);
    for (unsigned i = c.prefix; i < maxbits; i++)
        FUZZ_CHECK((c.addr[i / 8] & (0x80u >> (i % 8))) == 0);

    /* the network address matches its own prefix, the address with the bit after the prefix
     * flipped does only when that bit is outside the prefix */
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    uint8_t *a;
    if (c.family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        a = (uint8_t *)&sin->sin_addr;
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        a = sin6->sin6_addr.s6_addr;
    }
    memcpy(a, c.addr, maxbits / 8);
    FUZZ_CHECK(vg_cidr_match(&c, (struct sockaddr *)&ss));
    if (c.prefix > 0) {
        unsigned bit = c.prefix - 1;
        a[bit / 8] ^= (uint8_t)(0x80u >> (bit % 8));
        FUZZ_CHECK(!vg_cidr_match(&c, (struct sockaddr *)&ss));
    }
    if (c.family == AF_INET) {
        /* the same address, v4-mapped */
        struct sockaddr_in6 m;
        memset(&m, 0, sizeof m);
        m.sin6_family = AF_INET6;
        m.sin6_addr.s6_addr[10] = 0xff;
        m.sin6_addr.s6_addr[11] = 0xff;
        memcpy(&m.sin6_addr.s6_addr[12], c.addr, 4);
        FUZZ_CHECK(vg_cidr_match(&c, (struct sockaddr *)&m));
    }
}

static void check_numbers(const char *text)
{
    unsigned long v;
    uint16_t port;
    if (vg_parse_uint(text, 0, 4294967295ul, &v)) {
        FUZZ_CHECK(text[0] >= '0' && text[0] <= '9');
        FUZZ_CHECK(v <= 4294967295ul);
    }
    if (vg_parse_port(text, &port)) {
        FUZZ_CHECK(port != 0);
        char back[16];
        snprintf(back, sizeof back, "%u", port);
        size_t skip = strspn(text, "0");
        FUZZ_CHECK(strcmp(text + skip, back) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_normalize(data, size);

    /* C-string forms: up to the first NUL; "text\nzone" gives qualify a zone */
    char *text = malloc(size + 1);
    if (text == NULL)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    char *zone = strchr(text, '\n');
    if (zone != NULL)
        *zone++ = '\0';

    check_qualify(text, zone);
    check_sockaddr(text);
    check_cidr(text);
    check_numbers(text);
    free(text);
    return 0;
}
