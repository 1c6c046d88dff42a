#include "vg_addr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool vg_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
    if (s == NULL || !isdigit((unsigned char)s[0]))
        return false;
    errno = 0;
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool vg_parse_port(const char *s, uint16_t *out)
{
    unsigned long v;
    if (!vg_parse_uint(s, 1, 65535, &v))
        return false;
    *out = (uint16_t)v;
    return true;
}

bool vg_sockaddr_parse(const char *s, uint16_t default_port, struct sockaddr_storage *ss,
                       socklen_t *len)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *port_s = NULL;
    size_t hlen;
    bool bracketed = s[0] == '[';

    if (bracketed) {
        const char *close = strchr(s, ']');
        if (close == NULL)
            return false;
        hlen = (size_t)(close - s - 1);
        if (close[1] == ':')
            port_s = close + 2;
        else if (close[1] != '\0')
            return false;
        s++;
    } else {
        const char *colon = strrchr(s, ':');
        if (colon != NULL && strchr(s, ':') != colon)
            colon = NULL; /* bare IPv6 without brackets: no port */
        hlen = colon ? (size_t)(colon - s) : strlen(s);
        if (colon)
            port_s = colon + 1;
    }
    if (hlen == 0 || hlen >= sizeof host)
        return false;
    memcpy(host, s, hlen);
    host[hlen] = '\0';

    uint16_t port = default_port;
    if (port_s != NULL && !vg_parse_port(port_s, &port))
        return false;
    if (port == 0)
        return false;

    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    if (!bracketed && inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        *len = sizeof *sin;
        return true;
    }
    if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        *len = sizeof *sin6;
        return true;
    }
    return false;
}

const char *vg_sockaddr_format(const struct sockaddr *sa, bool with_port, char *buf, size_t len)
{
    char a[INET6_ADDRSTRLEN];
    switch (sa->sa_family) {
    case AF_INET: {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &sin->sin_addr, a, sizeof a);
        if (with_port)
            snprintf(buf, len, "%s:%u", a, ntohs(sin->sin_port));
        else
            snprintf(buf, len, "%s", a);
        break;
    }
    case AF_INET6: {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof a);
        if (with_port)
            snprintf(buf, len, "[%s]:%u", a, ntohs(sin6->sin6_port));
        else
            snprintf(buf, len, "%s", a);
        break;
    }
    case AF_UNIX:
        snprintf(buf, len, "unix");
        break;
    default:
        snprintf(buf, len, "af%d", sa->sa_family);
    }
    return buf;
}

uint16_t vg_sockaddr_port(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    return 0;
}

socklen_t vg_sockaddr_unmap(const struct sockaddr *sa, socklen_t len, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof *out);
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
            struct sockaddr_in *sin = (struct sockaddr_in *)out;
            sin->sin_family = AF_INET;
            sin->sin_port = sin6->sin6_port;
            memcpy(&sin->sin_addr, sin6->sin6_addr.s6_addr + 12, 4);
            return sizeof *sin;
        }
    }
    if (len > (socklen_t)sizeof *out)
        len = sizeof *out;
    memcpy(out, sa, (size_t)len);
    return len;
}

int vg_listen_tcp(const struct sockaddr *sa, socklen_t len, int backlog)
{
    int one = 1, err;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
        goto fail;
    if (sa->sa_family == AF_INET6 &&
        !IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)sa)->sin6_addr) &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0)
        goto fail;
    if (bind(fd, sa, len) != 0 || listen(fd, backlog) != 0)
        goto fail;
    return fd;
fail:
    err = errno;
    close(fd);
    errno = err;
    return -1;
}

bool vg_cidr_parse(const char *s, struct vg_cidr *out)
{
    char host[INET6_ADDRSTRLEN];
    const char *slash = strchr(s, '/');
    size_t hlen = slash ? (size_t)(slash - s) : strlen(s);
    if (hlen == 0 || hlen >= sizeof host)
        return false;
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    memset(out, 0, sizeof *out);
    unsigned maxbits;
    if (inet_pton(AF_INET, host, out->addr) == 1) {
        out->family = AF_INET;
        maxbits = 32;
    } else if (inet_pton(AF_INET6, host, out->addr) == 1) {
        out->family = AF_INET6;
        maxbits = 128;
    } else {
        return false;
    }
    unsigned long bits = maxbits;
    if (slash && !(isdigit((unsigned char)slash[1]) && vg_parse_uint(slash + 1, 0, maxbits, &bits)))
        return false;
    out->prefix = (unsigned)bits;
    /* clear host bits so "198.18.0.1/15" means the network */
    for (unsigned i = out->prefix; i < maxbits; i++)
        out->addr[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
    return true;
}

static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;
    if (memcmp(a, b, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

bool vg_cidr_match(const struct vg_cidr *c, const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        return c->family == AF_INET &&
               prefix_eq(c->addr, (const uint8_t *)&sin->sin_addr, c->prefix);
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        const uint8_t *a = sin6->sin6_addr.s6_addr;
        if (c->family == AF_INET6)
            return prefix_eq(c->addr, a, c->prefix);
        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
            return prefix_eq(c->addr, a + 12, c->prefix);
    }
    return false;
}

bool vg_list_foreach(char *list, bool (*fn)(const char *item, void *arg), void *arg)
{
    char *save = NULL;
    for (char *tok = strtok_r(list, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save))
        if (!fn(tok, arg))
            return false;
    return true;
}
