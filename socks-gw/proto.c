/* proto — pure parsers and builders for SOCKS5, RFC 1929 and HTTP CONNECT.  See proto.h.
 *
 * Every parser checks the bytes it has from left to right and reports an error as soon as the
 * prefix can no longer become a valid message, so the result for a prefix never contradicts the
 * result for the whole input: ERROR stays ERROR with the same code, NEED_MORE becomes OK or
 * ERROR.  Output structures are written only on OK.
 */
#include "proto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- SOCKS5 */

enum vg_parse vg_s5_parse_greeting(const uint8_t *buf, size_t len, struct vg_s5_greeting *out,
                                   size_t *used)
{
    if (len < 1)
        return VG_P_NEED_MORE;
    if (buf[0] != 0x05)
        return VG_P_ERROR;
    if (len < 2)
        return VG_P_NEED_MORE;
    size_t n = buf[1];
    if (n == 0)
        return VG_P_ERROR;
    if (len < 2 + n)
        return VG_P_NEED_MORE;

    memset(out->methods, 0, sizeof out->methods);
    for (size_t i = 0; i < n; i++) {
        uint8_t m = buf[2 + i];
        out->methods[m >> 3] |= (uint8_t)(1u << (m & 7));
    }
    *used = 2 + n;
    return VG_P_OK;
}

/* True if one of the `n` bytes at p is NUL. */
static bool has_nul(const uint8_t *p, size_t n)
{
    return n > 0 && memchr(p, 0, n) != NULL;
}

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

enum vg_parse vg_s5_parse_userpass(const uint8_t *buf, size_t len, struct vg_s5_userpass *out,
                                   size_t *used)
{
    if (len < 1)
        return VG_P_NEED_MORE;
    if (buf[0] != 0x01)
        return VG_P_ERROR;
    if (len < 2)
        return VG_P_NEED_MORE;
    size_t ulen = buf[1];
    if (ulen == 0)
        return VG_P_ERROR;
    if (has_nul(buf + 2, min_size(len - 2, ulen)))
        return VG_P_ERROR;
    if (len < 3 + ulen)
        return VG_P_NEED_MORE;
    size_t plen = buf[2 + ulen];
    const uint8_t *pass = buf + 3 + ulen;
    if (has_nul(pass, min_size(len - 3 - ulen, plen)))
        return VG_P_ERROR;
    if (len < 3 + ulen + plen)
        return VG_P_NEED_MORE;

    memcpy(out->user, buf + 2, ulen);
    out->user[ulen] = '\0';
    memcpy(out->pass, pass, plen);
    out->pass[plen] = '\0';
    *used = 3 + ulen + plen;
    return VG_P_OK;
}

static enum vg_parse s5_fail(enum vg_s5_rep *err, enum vg_s5_rep rep)
{
    if (err != NULL)
        *err = rep;
    return VG_P_ERROR;
}

enum vg_parse vg_s5_parse_request(const uint8_t *buf, size_t len, struct vg_s5_request *out,
                                  size_t *used, enum vg_s5_rep *err)
{
    /* VER CMD RSV ATYP: 4 octets, then the address, then 2 octets of port */
    if (len < 1)
        return VG_P_NEED_MORE;
    if (buf[0] != 0x05)
        return s5_fail(err, VG_S5_GENERAL);
    if (len < 3)
        return VG_P_NEED_MORE;
    if (buf[2] != 0x00)
        return s5_fail(err, VG_S5_GENERAL);
    if (len < 4)
        return VG_P_NEED_MORE;

    uint8_t atyp = buf[3];
    size_t addr_off = 4, addr_len;
    switch (atyp) {
    case VG_S5_ATYP_IPV4:
        addr_len = 4;
        break;
    case VG_S5_ATYP_IPV6:
        addr_len = 16;
        break;
    case VG_S5_ATYP_NAME:
        if (len < 5)
            return VG_P_NEED_MORE;
        addr_off = 5;
        addr_len = buf[4];
        if (addr_len == 0)
            return s5_fail(err, VG_S5_GENERAL);
        if (has_nul(buf + 5, min_size(len - 5, addr_len)))
            return s5_fail(err, VG_S5_GENERAL);
        break;
    default:
        return s5_fail(err, VG_S5_ATYP_UNSUPPORTED);
    }
    size_t total = addr_off + addr_len + 2;
    if (len < total)
        return VG_P_NEED_MORE;

    memset(out, 0, sizeof *out);
    out->cmd = buf[1];
    out->atyp = atyp;
    if (atyp == VG_S5_ATYP_NAME) {
        memcpy(out->name, buf + addr_off, addr_len);
        out->name[addr_len] = '\0';
    } else {
        memcpy(out->addr, buf + addr_off, addr_len);
    }
    out->port = (uint16_t)((buf[addr_off + addr_len] << 8) | buf[addr_off + addr_len + 1]);
    *used = total;
    return VG_P_OK;
}

size_t vg_s5_build_reply(uint8_t out[VG_S5_REPLY_MAX], enum vg_s5_rep rep,
                         const struct sockaddr *bnd)
{
    size_t n = 0;
    out[n++] = 0x05;
    out[n++] = (uint8_t)rep;
    out[n++] = 0x00;
    if (bnd != NULL && bnd->sa_family == AF_INET6) {
        struct sockaddr_in6 sin6;
        memcpy(&sin6, bnd, sizeof sin6);
        out[n++] = VG_S5_ATYP_IPV6;
        memcpy(out + n, &sin6.sin6_addr, 16);
        n += 16;
        memcpy(out + n, &sin6.sin6_port, 2); /* already network order */
        n += 2;
    } else if (bnd != NULL && bnd->sa_family == AF_INET) {
        struct sockaddr_in sin;
        memcpy(&sin, bnd, sizeof sin);
        out[n++] = VG_S5_ATYP_IPV4;
        memcpy(out + n, &sin.sin_addr, 4);
        n += 4;
        memcpy(out + n, &sin.sin_port, 2);
        n += 2;
    } else {
        out[n++] = VG_S5_ATYP_IPV4;
        memset(out + n, 0, 6);
        n += 6;
    }
    return n;
}

/* ---------------------------------------------------------------- HTTP CONNECT */

/* tchar (RFC 9110 §5.6.2) */
static bool is_tchar(uint8_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static bool is_hex(uint8_t c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* reg-name (RFC 3986 §3.2.2): unreserved / pct-encoded / sub-delims */
static bool is_regname_char(uint8_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c))
        return true;
    return c != 0 && strchr("-._~%!$&'()*+,;=", c) != NULL;
}

static uint8_t lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c - 'A' + 'a') : c;
}

/* Case-insensitive comparison of n octets with a lower-case literal. */
static bool eq_nocase(const uint8_t *p, size_t n, const char *lit)
{
    if (strlen(lit) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower(p[i]) != (uint8_t)lit[i])
            return false;
    return true;
}

/* Port: 1..5 digits, 1..65535; 0 on error. */
static uint16_t parse_port(const uint8_t *p, size_t n)
{
    if (n == 0 || n > 5)
        return 0;
    unsigned long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(p[i]))
            return 0;
        v = v * 10 + (unsigned long)(p[i] - '0');
    }
    return v <= 65535 ? (uint16_t)v : 0;
}

/* authority-form: host ":" port, host a reg-name or "[" IPv6 "]". */
static int parse_authority(const uint8_t *a, size_t n, struct vg_http_connect *c)
{
    const uint8_t *host, *rest;
    size_t hlen;

    if (n == 0)
        return 400;
    if (a[0] == '[') {
        const uint8_t *close = memchr(a, ']', n);
        if (close == NULL)
            return 400;
        host = a + 1;
        hlen = (size_t)(close - host);
        bool colon = false;
        for (size_t i = 0; i < hlen; i++) {
            if (host[i] == ':')
                colon = true;
            else if (!is_hex(host[i]) && host[i] != '.')
                return 400;
        }
        if (!colon)
            return 400;
        rest = close + 1;
    } else {
        const uint8_t *colon = memchr(a, ':', n);
        if (colon == NULL)
            return 400;
        host = a;
        hlen = (size_t)(colon - a);
        for (size_t i = 0; i < hlen; i++)
            if (!is_regname_char(host[i]))
                return 400;
        rest = colon;
    }
    if (hlen == 0 || hlen >= sizeof c->host)
        return 400;
    size_t rlen = n - (size_t)(rest - a);
    if (rlen < 1 || rest[0] != ':')
        return 400;
    uint16_t port = parse_port(rest + 1, rlen - 1);
    if (port == 0)
        return 400;
    memcpy(c->host, host, hlen);
    c->host[hlen] = '\0';
    c->port = port;
    return 0;
}

/* "CONNECT SP authority SP HTTP/1.x" without the line end.  A partial line (complete = false)
 * is checked as far as its method goes. */
static int check_request_line(const uint8_t *p, size_t n, bool complete, struct vg_http_connect *c)
{
    size_t i = 0;
    while (i < n && is_tchar(p[i]))
        i++;
    if (i == n)
        return complete ? 400 : 0;
    if (p[i] != ' ' || i == 0)
        return 400;
    if (i != 7 || memcmp(p, "CONNECT", 7) != 0)
        return 405;
    if (!complete)
        return 0;

    const uint8_t *auth = p + 8;
    size_t rest = n - 8;
    const uint8_t *sp = memchr(auth, ' ', rest);
    if (sp == NULL)
        return 400;
    size_t alen = (size_t)(sp - auth);
    const uint8_t *v = sp + 1;
    size_t vlen = rest - alen - 1;

    for (size_t k = 0; k < alen; k++)
        if (auth[k] <= 0x20 || auth[k] >= 0x7f)
            return 400;
    int st = parse_authority(auth, alen, c);
    if (st != 0)
        return st;

    if (vlen != 8 || memcmp(v, "HTTP/", 5) != 0 || !is_digit(v[5]) || v[6] != '.' ||
        !is_digit(v[7]))
        return 400;
    if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
        return 505;
    c->minor = v[7] - '0';
    return 0;
}

static int b64_value(uint8_t ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return -1;
}

/* Strict RFC 4648 base64: padded to a multiple of 4, '=' only at the end, zero pad bits.
 * Returns the decoded length, or -1. */
static long b64_decode(const uint8_t *in, size_t n, uint8_t *out, size_t outmax)
{
    size_t o = 0;
    if (n == 0 || n % 4 != 0)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        bool last = i + 4 == n;
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            uint8_t ch = in[i + (size_t)k];
            if (ch == '=' && last && k >= 2) {
                v[k] = 0;
                pad++;
                continue;
            }
            if (pad > 0) /* data after '=' */
                return -1;
            v[k] = b64_value(ch);
            if (v[k] < 0)
                return -1;
        }
        unsigned long q = ((unsigned long)v[0] << 18) | ((unsigned long)v[1] << 12) |
                          ((unsigned long)v[2] << 6) | (unsigned long)v[3];
        size_t nbytes = (size_t)(3 - pad);
        if ((pad == 1 && (q & 0xff) != 0) || (pad == 2 && (q & 0xffff) != 0))
            return -1; /* non-canonical: pad bits set */
        if (o + nbytes > outmax)
            return -1;
        for (size_t k = 0; k < nbytes; k++)
            out[o++] = (uint8_t)(q >> (16 - 8 * k));
    }
    return (long)o;
}

/* Proxy-Authorization value (OWS already trimmed).  Basic credentials are decoded into c;
 * other schemes are ignored. */
static int parse_proxy_auth(const uint8_t *v, size_t n, struct vg_http_connect *c)
{
    size_t i = 0;
    while (i < n && is_tchar(v[i]))
        i++;
    if (i == 0)
        return 400;
    if (!eq_nocase(v, i, "basic"))
        return 0;
    if (i == n || v[i] != ' ')
        return 400;
    while (i < n && v[i] == ' ')
        i++;

    uint8_t dec[sizeof c->user + sizeof c->pass];
    long dlen = b64_decode(v + i, n - i, dec, sizeof dec);
    if (dlen < 0)
        return 400;
    const uint8_t *colon = memchr(dec, ':', (size_t)dlen);
    if (colon == NULL)
        return 400;
    for (long k = 0; k < dlen; k++)
        if (dec[k] < 0x20 || dec[k] == 0x7f)
            return 400; /* RFC 7617 §2: no control characters */
    size_t ulen = (size_t)(colon - dec), plen = (size_t)dlen - ulen - 1;
    if (ulen >= sizeof c->user || plen >= sizeof c->pass)
        return 400;
    memcpy(c->user, dec, ulen);
    c->user[ulen] = '\0';
    memcpy(c->pass, colon + 1, plen);
    c->pass[plen] = '\0';
    c->has_auth = 1;
    return 0;
}

/* field-name ":" OWS field-value OWS, without the line end. */
static int check_header_line(const uint8_t *p, size_t n, struct vg_http_connect *c, bool *seen_auth)
{
    size_t i = 0;
    while (i < n && is_tchar(p[i]))
        i++;
    /* no name, obs-fold (leading whitespace), whitespace before ':' or no ':' at all */
    if (i == 0 || i == n || p[i] != ':')
        return 400;
    size_t name_len = i++;
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    size_t vstart = i, vend = n;
    while (vend > vstart && (p[vend - 1] == ' ' || p[vend - 1] == '\t'))
        vend--;
    for (size_t k = vstart; k < vend; k++)
        if ((p[k] < 0x20 && p[k] != '\t') || p[k] == 0x7f)
            return 400;
    if (eq_nocase(p, name_len, "proxy-authorization")) {
        if (*seen_auth)
            return 400; /* two sets of credentials: refuse rather than pick one */
        *seen_auth = true;
        return parse_proxy_auth(p + vstart, vend - vstart, c);
    }
    return 0;
}

enum vg_parse vg_http_parse_connect(const uint8_t *buf, size_t len, struct vg_http_connect *out,
                                    size_t *used, int *status)
{
    struct vg_http_connect c;
    memset(&c, 0, sizeof c);
    bool seen_auth = false;
    size_t lim = min_size(len, VG_HTTP_HEAD_MAX);
    size_t pos = 0;
    int st = 0;

    for (unsigned line = 0; pos < lim; line++) {
        const uint8_t *nl = memchr(buf + pos, '\n', lim - pos);
        if (nl == NULL)
            break;
        size_t end = (size_t)(nl - buf);
        size_t llen = end - pos;
        if (llen > 0 && buf[end - 1] == '\r')
            llen--;
        if (line == 0) {
            st = check_request_line(buf + pos, llen, true, &c);
        } else if (llen == 0) {
            *out = c;
            *used = end + 1;
            return VG_P_OK;
        } else {
            st = check_header_line(buf + pos, llen, &c, &seen_auth);
        }
        if (st != 0)
            goto fail;
        pos = end + 1;
    }
    if (pos == 0 && (st = check_request_line(buf, lim, false, &c)) != 0)
        goto fail;
    if (len >= VG_HTTP_HEAD_MAX) {
        st = 431;
        goto fail;
    }
    return VG_P_NEED_MORE;

fail:
    if (status != NULL)
        *status = st;
    return VG_P_ERROR;
}

const char *vg_http_reason(int status)
{
    switch (status) {
    case 200:
        return "Connection established";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 407:
        return "Proxy Authentication Required";
    case 408:
        return "Request Timeout";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    }
    return "Unknown";
}

size_t vg_http_build_response(char *out, size_t outlen, int status, const char *extra_headers)
{
    if (out == NULL || status < 100 || status > 999)
        return 0;
    int n = snprintf(out, outlen, "HTTP/1.1 %d %s\r\n%s\r\n", status, vg_http_reason(status),
                     extra_headers ? extra_headers : "");
    if (n < 0 || (size_t)n >= outlen)
        return 0;
    return (size_t)n;
}
