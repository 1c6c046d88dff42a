#include "vg_mux_ctl.h"

#include "vg_outcome.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* strict 1..65535 without sign, spaces or leading zeros */
static bool parse_port(const char *p, size_t n, uint16_t *out)
{
    unsigned long v = 0;
    if (n == 0 || n > 5 || (p[0] == '0'))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(p[i]))
            return false;
        v = v * 10 + (unsigned long)(p[i] - '0');
    }
    if (v == 0 || v > 65535)
        return false;
    *out = (uint16_t)v;
    return true;
}

static size_t strip_cr(const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    return len;
}

bool vg_preamble_name_ok(const char *name, size_t len)
{
    if (len == 0 || len > 255)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= 0x20 || c >= 0x7f)
            return false;
    }
    return true;
}

int vg_preamble_parse_request(const char *line, size_t len, struct vg_preamble *out)
{
    len = strip_cr(line, len);
    if (len >= VG_PREAMBLE_MAX)
        return -1;
    if (len == 7 && memcmp(line, "CONTROL", 7) == 0) {
        out->kind = VG_PRE_CONTROL;
        out->port = 0;
        out->name[0] = '\0';
        return 0;
    }
    if (len < 9 || memcmp(line, "CONNECT ", 8) != 0)
        return -1;
    const char *a = line + 8, *end = line + len;
    const char *sp = memchr(a, ' ', (size_t)(end - a));
    if (!sp) {
        if (!parse_port(a, (size_t)(end - a), &out->port))
            return -1;
        out->kind = VG_PRE_CONNECT_PORT;
        out->name[0] = '\0';
        return 0;
    }
    size_t nlen = (size_t)(sp - a);
    if (!vg_preamble_name_ok(a, nlen) || !parse_port(sp + 1, (size_t)(end - sp - 1), &out->port))
        return -1;
    memcpy(out->name, a, nlen);
    out->name[nlen] = '\0';
    out->kind = VG_PRE_CONNECT_NAME;
    return 0;
}

int vg_preamble_parse_reply(const char *line, size_t len, struct vg_preamble_reply *out)
{
    len = strip_cr(line, len);
    memset(out, 0, sizeof *out);
    if (len >= VG_PREAMBLE_MAX)
        return -1;
    if (len == 2 && memcmp(line, "OK", 2) == 0) {
        out->ok = true;
        return 0;
    }
    if (len < 5 || memcmp(line, "ERR ", 4) != 0)
        return -1;
    const char *c = line + 4, *end = line + len;
    const char *sp = memchr(c, ' ', (size_t)(end - c));
    size_t clen = sp ? (size_t)(sp - c) : (size_t)(end - c);
    if (clen == 0 || clen >= sizeof out->code)
        return -1;
    for (size_t i = 0; i < clen; i++)
        if (!((c[i] >= 'a' && c[i] <= 'z') || c[i] == '-'))
            return -1;
    memcpy(out->code, c, clen);
    if (sp) {
        size_t tlen = (size_t)(end - sp - 1);
        if (tlen >= sizeof out->text)
            tlen = sizeof out->text - 1;
        memcpy(out->text, sp + 1, tlen);
    }
    return 0;
}

uint8_t vg_preamble_err_to_socks(const char *code)
{
    return vg_outcome_socks(vg_outcome_of_err(code));
}

/* ------------------------------------------------------------------ control messages */

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || is_digit(c) || c == '.' || c == '_' || c == '-';
}

static bool is_plain(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit((char)c) || c == '.' ||
           c == '_' || c == '~' || c == ':' || c == '/' || c == '@' || c == ',' || c == '+' ||
           c == '-';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

int vg_ctl_parse(const char *line, size_t len, struct vg_ctl_msg *m)
{
    len = strip_cr(line, len);
    if (len >= VG_CTL_LINE_MAX)
        return -1;
    size_t i = 0, o = 0;
    m->n = 0;
    m->verb = NULL;
    while (i < len && is_space(line[i]))
        i++;
    /* verb */
    size_t start = i;
    while (i < len && is_name_char(line[i]))
        i++;
    if (i == start || i - start > 31 || (i < len && !is_space(line[i])))
        return -1;
    memcpy(m->buf, line + start, i - start);
    m->buf[i - start] = '\0';
    m->verb = m->buf;
    o = i - start + 1;
    for (;;) {
        while (i < len && is_space(line[i]))
            i++;
        if (i == len)
            break;
        if (m->n == VG_CTL_MAX_KV)
            return -1;
        start = i;
        while (i < len && is_name_char(line[i]))
            i++;
        if (i == start || i - start > 31 || i == len || line[i] != '=')
            return -1;
        m->key[m->n] = m->buf + o;
        memcpy(m->buf + o, line + start, i - start);
        o += i - start;
        m->buf[o++] = '\0';
        i++; /* '=' */
        m->val[m->n] = m->buf + o;
        while (i < len && !is_space(line[i])) {
            char c = line[i];
            if (c == '%') {
                if (i + 2 >= len)
                    return -1;
                int h = hexval(line[i + 1]), l = hexval(line[i + 2]);
                if (h < 0 || l < 0 || (h == 0 && l == 0))
                    return -1;
                c = (char)(h * 16 + l);
                i += 3;
            } else if ((unsigned char)c < 0x21 || (unsigned char)c == 0x7f) {
                return -1;
            } else {
                i++;
            }
            m->buf[o++] = c; /* decoded is never longer than encoded: o <= i + 1 < buf size */
        }
        m->buf[o++] = '\0';
        m->n++;
    }
    return 0;
}

const char *vg_ctl_get(const struct vg_ctl_msg *m, const char *key)
{
    for (unsigned i = 0; i < m->n; i++)
        if (strcmp(m->key[i], key) == 0)
            return m->val[i];
    return NULL;
}

int vg_ctl_encode(const char *src, char *dst, size_t dstlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)src; *p; p++) {
        if (is_plain(*p)) {
            if (o + 1 >= dstlen)
                return -1;
            dst[o++] = (char)*p;
        } else {
            if (o + 3 >= dstlen)
                return -1;
            dst[o++] = '%';
            dst[o++] = hex[*p >> 4];
            dst[o++] = hex[*p & 15];
        }
    }
    if (o >= dstlen)
        return -1;
    dst[o] = '\0';
    return (int)o;
}

void vg_ctl_begin(struct vg_ctl_out *o, const char *verb)
{
    o->overflow = false;
    int n = snprintf(o->buf, sizeof o->buf, "%s", verb);
    o->len = (n > 0 && (size_t)n < sizeof o->buf) ? (size_t)n : 0;
}

void vg_ctl_add(struct vg_ctl_out *o, const char *key, const char *val)
{
    if (o->overflow)
        return;
    int n = snprintf(o->buf + o->len, sizeof o->buf - o->len, " %s=", key);
    if (n < 0 || (size_t)n >= sizeof o->buf - o->len) {
        o->overflow = true;
        return;
    }
    int v = vg_ctl_encode(val, o->buf + o->len + (size_t)n, sizeof o->buf - o->len - (size_t)n);
    if (v < 0) {
        o->overflow = true;
        o->buf[o->len] = '\0';
        return;
    }
    o->len += (size_t)n + (size_t)v;
}

void vg_ctl_addf(struct vg_ctl_out *o, const char *key, const char *fmt, ...)
{
    char val[VG_CTL_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(val, sizeof val, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof val) {
        o->overflow = true;
        return;
    }
    vg_ctl_add(o, key, val);
}

const char *vg_ctl_end(struct vg_ctl_out *o)
{
    if (o->overflow || o->len + 2 > sizeof o->buf)
        return NULL;
    o->buf[o->len++] = '\n';
    o->buf[o->len] = '\0';
    return o->buf;
}
