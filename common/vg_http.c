/* vg_http — the HTTP request-head parsers (CONNECT, ordinary requests) and the response builder.
 * See vg_http.h.
 *
 * Both parsers walk the head with parse_head() and differ in their request-line and header-line
 * checks.  A parser checks the bytes it has from left to right and reports an error as soon as the
 * prefix can no longer become a valid head, so the result for a prefix never contradicts the
 * result for the whole input: ERROR stays ERROR with the same outcome, NEED_MORE becomes OK or
 * ERROR.  The output structure is written only on OK.  Helpers return VG_OUT_OK (0) or the
 * outcome that refuses the head.
 */
#include "vg_http.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

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
static enum vg_outcome parse_authority(const uint8_t *a, size_t n, struct vg_http_connect *c)
{
    const uint8_t *host, *rest;
    size_t hlen;

    if (n == 0)
        return VG_OUT_BAD_REQUEST;
    if (a[0] == '[') {
        const uint8_t *close = memchr(a, ']', n);
        if (close == NULL)
            return VG_OUT_BAD_REQUEST;
        host = a + 1;
        hlen = (size_t)(close - host);
        bool colon = false;
        for (size_t i = 0; i < hlen; i++) {
            if (host[i] == ':')
                colon = true;
            else if (!is_hex(host[i]) && host[i] != '.')
                return VG_OUT_BAD_REQUEST;
        }
        if (!colon)
            return VG_OUT_BAD_REQUEST;
        rest = close + 1;
    } else {
        const uint8_t *colon = memchr(a, ':', n);
        if (colon == NULL)
            return VG_OUT_BAD_REQUEST;
        host = a;
        hlen = (size_t)(colon - a);
        for (size_t i = 0; i < hlen; i++)
            if (!is_regname_char(host[i]))
                return VG_OUT_BAD_REQUEST;
        rest = colon;
    }
    if (hlen == 0 || hlen >= sizeof c->host)
        return VG_OUT_BAD_REQUEST;
    size_t rlen = n - (size_t)(rest - a);
    if (rlen < 1 || rest[0] != ':')
        return VG_OUT_BAD_REQUEST;
    uint16_t port = parse_port(rest + 1, rlen - 1);
    if (port == 0)
        return VG_OUT_BAD_REQUEST;
    memcpy(c->host, host, hlen);
    c->host[hlen] = '\0';
    c->port = port;
    return VG_OUT_OK;
}

/* "HTTP/1.x" (HTTP-version of RFC 9112 §2.3): 400 when it is not one, 505 for a major
 * version other than 1 or a minor other than 0 and 1. */
static enum vg_outcome check_version(const uint8_t *v, size_t vlen, int *minor)
{
    if (vlen != 8 || memcmp(v, "HTTP/", 5) != 0 || !is_digit(v[5]) || v[6] != '.' ||
        !is_digit(v[7]))
        return VG_OUT_BAD_REQUEST;
    if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
        return VG_OUT_BAD_VERSION;
    *minor = v[7] - '0';
    return VG_OUT_OK;
}

/* "CONNECT SP authority SP HTTP/1.x" without the line end.  A partial line (complete = false)
 * is checked as far as its method goes. */
static enum vg_outcome check_connect_line(const uint8_t *p, size_t n, bool complete, void *arg)
{
    struct vg_http_connect *c = arg;
    size_t i = 0;
    while (i < n && is_tchar(p[i]))
        i++;
    if (i == n)
        return complete ? VG_OUT_BAD_REQUEST : VG_OUT_OK;
    if (p[i] != ' ' || i == 0)
        return VG_OUT_BAD_REQUEST;
    if (i != 7 || memcmp(p, "CONNECT", 7) != 0)
        return VG_OUT_UNSUPPORTED_CMD;
    if (!complete)
        return VG_OUT_OK;

    const uint8_t *auth = p + 8;
    size_t rest = n - 8;
    const uint8_t *sp = memchr(auth, ' ', rest);
    if (sp == NULL)
        return VG_OUT_BAD_REQUEST;
    size_t alen = (size_t)(sp - auth);
    const uint8_t *v = sp + 1;
    size_t vlen = rest - alen - 1;

    for (size_t k = 0; k < alen; k++)
        if (auth[k] <= 0x20 || auth[k] >= 0x7f)
            return VG_OUT_BAD_REQUEST;
    enum vg_outcome st = parse_authority(auth, alen, c);
    if (st != VG_OUT_OK)
        return st;
    return check_version(v, vlen, &c->minor);
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
static enum vg_outcome parse_proxy_auth(const uint8_t *v, size_t n, struct vg_http_connect *c)
{
    size_t i = 0;
    while (i < n && is_tchar(v[i]))
        i++;
    if (i == 0)
        return VG_OUT_BAD_REQUEST;
    if (!eq_nocase(v, i, "basic"))
        return VG_OUT_OK;
    if (i == n || v[i] != ' ')
        return VG_OUT_BAD_REQUEST;
    while (i < n && v[i] == ' ')
        i++;

    uint8_t dec[sizeof c->user + sizeof c->pass];
    long dlen = b64_decode(v + i, n - i, dec, sizeof dec);
    if (dlen < 0)
        return VG_OUT_BAD_REQUEST;
    const uint8_t *colon = memchr(dec, ':', (size_t)dlen);
    if (colon == NULL)
        return VG_OUT_BAD_REQUEST;
    for (long k = 0; k < dlen; k++)
        if (dec[k] < 0x20 || dec[k] == 0x7f)
            return VG_OUT_BAD_REQUEST; /* RFC 7617 §2: no control characters */
    size_t ulen = (size_t)(colon - dec), plen = (size_t)dlen - ulen - 1;
    if (ulen >= sizeof c->user || plen >= sizeof c->pass)
        return VG_OUT_BAD_REQUEST;
    memcpy(c->user, dec, ulen);
    c->user[ulen] = '\0';
    memcpy(c->pass, colon + 1, plen);
    c->pass[plen] = '\0';
    c->has_auth = 1;
    return VG_OUT_OK;
}

/* field-name ":" OWS field-value OWS, without the line end: the name is p[0..*name_len), the
 * value p[*vstart..*vend). */
static enum vg_outcome check_field(const uint8_t *p, size_t n, size_t *name_len, size_t *vstart,
                                   size_t *vend)
{
    size_t i = 0;
    while (i < n && is_tchar(p[i]))
        i++;
    /* no name, obs-fold (leading whitespace), whitespace before ':' or no ':' at all */
    if (i == 0 || i == n || p[i] != ':')
        return VG_OUT_BAD_REQUEST;
    *name_len = i++;
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    size_t s = i, e = n;
    while (e > s && (p[e - 1] == ' ' || p[e - 1] == '\t'))
        e--;
    for (size_t k = s; k < e; k++)
        if ((p[k] < 0x20 && p[k] != '\t') || p[k] == 0x7f)
            return VG_OUT_BAD_REQUEST;
    *vstart = s;
    *vend = e;
    return VG_OUT_OK;
}

/* The walk over a request head shared by both parsers: the request line (also while it is still
 * partial, so that a wrong method is refused early), then each header line, up to the empty
 * line.  Lines end in LF, optionally preceded by CR; the head must fit in VG_HTTP_HEAD_MAX.
 * The callbacks return VG_OUT_OK or the outcome that refuses the head. */
struct head_ops {
    enum vg_outcome (*request_line)(const uint8_t *p, size_t n, bool complete, void *arg);
    enum vg_outcome (*header_line)(const uint8_t *p, size_t n, void *arg);
};

static enum vg_parse parse_head(const uint8_t *buf, size_t len, const struct head_ops *ops,
                                void *arg, size_t *used, enum vg_outcome *err)
{
    size_t lim = min_size(len, VG_HTTP_HEAD_MAX);
    size_t pos = 0;
    enum vg_outcome st = VG_OUT_OK;

    for (unsigned line = 0; pos < lim; line++) {
        const uint8_t *nl = memchr(buf + pos, '\n', lim - pos);
        if (nl == NULL)
            break;
        size_t end = (size_t)(nl - buf);
        size_t llen = end - pos;
        if (llen > 0 && buf[end - 1] == '\r')
            llen--;
        if (line == 0) {
            st = ops->request_line(buf + pos, llen, true, arg);
        } else if (llen == 0) {
            *used = end + 1;
            return VG_P_OK;
        } else {
            st = ops->header_line(buf + pos, llen, arg);
        }
        if (st != VG_OUT_OK)
            goto fail;
        pos = end + 1;
    }
    if (pos == 0 && (st = ops->request_line(buf, lim, false, arg)) != VG_OUT_OK)
        goto fail;
    if (len >= VG_HTTP_HEAD_MAX) {
        st = VG_OUT_HEAD_TOO_LARGE;
        goto fail;
    }
    return VG_P_NEED_MORE;

fail:
    *err = st;
    return VG_P_ERROR;
}

struct connect_ctx {
    struct vg_http_connect c;
    bool seen_auth;
};

static enum vg_outcome connect_request_line(const uint8_t *p, size_t n, bool complete, void *arg)
{
    struct connect_ctx *x = arg;
    return check_connect_line(p, n, complete, &x->c);
}

static enum vg_outcome connect_header_line(const uint8_t *p, size_t n, void *arg)
{
    struct connect_ctx *x = arg;
    size_t name_len, vstart, vend;
    enum vg_outcome st = check_field(p, n, &name_len, &vstart, &vend);
    if (st != VG_OUT_OK || !eq_nocase(p, name_len, "proxy-authorization"))
        return st;
    if (x->seen_auth)
        return VG_OUT_BAD_REQUEST; /* two sets of credentials: refuse rather than pick one */
    x->seen_auth = true;
    return parse_proxy_auth(p + vstart, vend - vstart, &x->c);
}

enum vg_parse vg_http_parse_connect(const uint8_t *buf, size_t len, struct vg_http_connect *out,
                                    size_t *used, enum vg_outcome *err)
{
    static const struct head_ops ops = {connect_request_line, connect_header_line};
    struct connect_ctx x;
    memset(&x, 0, sizeof x);
    enum vg_outcome st = VG_OUT_OK;
    enum vg_parse rc = parse_head(buf, len, &ops, &x, used, &st);
    if (rc == VG_P_OK)
        *out = x.c;
    else if (rc == VG_P_ERROR && err != NULL)
        *err = st;
    return rc;
}

/* method SP request-target SP HTTP-version (RFC 9112 §3), without the line end.  The method is
 * any token of at most VG_HTTP_METHOD_MAX octets, the target any visible ASCII of at most
 * VG_HTTP_TARGET_MAX.  A partial line (complete = false) is checked up to where it stops. */
static enum vg_outcome check_origin_line(const uint8_t *p, size_t n, bool complete, void *arg)
{
    struct vg_http_request *r = arg;
    size_t i = 0;
    while (i < n && is_tchar(p[i]))
        i++;
    if (i == n) /* a head of one long token is too large (431), as for CONNECT */
        return complete ? VG_OUT_BAD_REQUEST : VG_OUT_OK;
    if (p[i] != ' ' || i == 0 || i > VG_HTTP_METHOD_MAX)
        return VG_OUT_BAD_REQUEST;
    size_t mlen = i++, t0 = i;
    while (i < n && p[i] > 0x20 && p[i] < 0x7f && i - t0 <= VG_HTTP_TARGET_MAX)
        i++;
    size_t tlen = i - t0;
    if (tlen > VG_HTTP_TARGET_MAX)
        return VG_OUT_BAD_REQUEST;
    if (i == n)
        return complete ? VG_OUT_BAD_REQUEST : VG_OUT_OK;
    if (p[i] != ' ' || tlen == 0)
        return VG_OUT_BAD_REQUEST;
    if (!complete)
        return VG_OUT_OK;
    enum vg_outcome st = check_version(p + i + 1, n - i - 1, &r->minor);
    if (st != VG_OUT_OK)
        return st;
    memcpy(r->method, p, mlen);
    r->method[mlen] = '\0';
    memcpy(r->target, p + t0, tlen);
    r->target[tlen] = '\0';
    return VG_OUT_OK;
}

static enum vg_outcome origin_header_line(const uint8_t *p, size_t n, void *arg)
{
    size_t name_len, vstart, vend;
    (void)arg;
    return check_field(p, n, &name_len, &vstart, &vend);
}

enum vg_parse vg_http_parse_request(const uint8_t *buf, size_t len, struct vg_http_request *out,
                                    size_t *used, int *status)
{
    static const struct head_ops ops = {check_origin_line, origin_header_line};
    struct vg_http_request r;
    memset(&r, 0, sizeof r);
    enum vg_outcome st = VG_OUT_OK;
    enum vg_parse rc = parse_head(buf, len, &ops, &r, used, &st);
    if (rc == VG_P_OK)
        *out = r;
    else if (rc == VG_P_ERROR && status != NULL)
        *status = vg_outcome_http(st);
    return rc;
}

const char *vg_http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
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
