#include "vg_json.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* A valid UTF-8 sequence at s (RFC 3629 table 3.7): its length 1..4 and code point, or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf; /* bounds of the second byte */
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        *cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        *cp = c & 0x0f;
        if (c == 0xe0)
            lo = 0xa0; /* no overlong forms */
        else if (c == 0xed)
            hi = 0x9f; /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        *cp = c & 0x07;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f; /* at most U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    *cp = (*cp << 6) | (s[1] & 0x3f);
    for (size_t i = 2; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        *cp = (*cp << 6) | (s[i] & 0x3f);
    }
    return len;
}

size_t vg_json_escape(char *out, size_t cap, const char *s, size_t n, size_t *used)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, o = 0;
    while (i < n) {
        char esc[8];
        const char *src;
        size_t elen, in;
        uint32_t cp;
        size_t seq = utf8_seq(p + i, n - i, &cp);
        if (seq == 0) {
            src = "\\ufffd";
            elen = 6;
            in = 1;
        } else if (cp == '"' || cp == '\\') {
            esc[0] = '\\';
            esc[1] = (char)cp;
            src = esc;
            elen = 2;
            in = 1;
        } else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029) {
            const char *shortesc = cp == '\b'   ? "\\b"
                                   : cp == '\f' ? "\\f"
                                   : cp == '\n' ? "\\n"
                                   : cp == '\r' ? "\\r"
                                   : cp == '\t' ? "\\t"
                                                : NULL;
            if (shortesc) {
                src = shortesc;
                elen = 2;
            } else {
                memcpy(esc, "\\u", 2);
                esc[2] = hex[(cp >> 12) & 0xf];
                esc[3] = hex[(cp >> 8) & 0xf];
                esc[4] = hex[(cp >> 4) & 0xf];
                esc[5] = hex[cp & 0xf];
                src = esc;
                elen = 6;
            }
            in = seq;
        } else {
            src = (const char *)p + i;
            elen = seq;
            in = seq;
        }
        if (cap - o < elen)
            break;
        memcpy(out + o, src, elen);
        o += elen;
        i += in;
    }
    if (used)
        *used = i;
    return o;
}

void vg_json_init(struct vg_json *j, char *buf, size_t cap)
{
    memset(j, 0, sizeof *j);
    j->buf = buf;
    j->cap = cap;
    if (cap > 0)
        buf[0] = '\0';
    else
        j->failed = true;
}

bool vg_json_ok(const struct vg_json *j)
{
    return !j->failed;
}

bool vg_json_done(const struct vg_json *j)
{
    return !j->failed && j->depth == 0 && !j->key_pending && (j->has_item & 1u);
}

/* Room for n more bytes and the NUL?  Marks the writer failed when not. */
static bool room(struct vg_json *j, size_t n)
{
    if (j->failed || j->cap - 1 - j->len < n) {
        j->failed = true;
        return false;
    }
    return true;
}

static void put(struct vg_json *j, const char *s, size_t n)
{
    memcpy(j->buf + j->len, s, n);
    j->len += n;
    j->buf[j->len] = '\0';
}

static bool level_is_object(const struct vg_json *j)
{
    return j->depth > 0 && (j->in_object >> (j->depth - 1) & 1u);
}

/* Before a value of `n` bytes: the comma (arrays) and the checks; false = do not write. */
static bool value_start(struct vg_json *j, size_t n)
{
    if (j->failed)
        return false;
    if (level_is_object(j)) {
        if (!j->key_pending) {
            j->failed = true;
            return false;
        }
        if (!room(j, n))
            return false;
        j->key_pending = false;
        return true;
    }
    bool comma = j->has_item >> j->depth & 1u;
    if (j->depth == 0 && comma) { /* one value at the top */
        j->failed = true;
        return false;
    }
    if (!room(j, n + comma))
        return false;
    if (comma)
        put(j, ",", 1);
    j->has_item |= 1u << j->depth;
    return true;
}

static void value(struct vg_json *j, const char *s, size_t n)
{
    if (value_start(j, n))
        put(j, s, n);
}

void vg_json_raw(struct vg_json *j, const char *s, size_t n)
{
    value(j, s, n);
}

static void open_level(struct vg_json *j, bool object)
{
    if (j->depth >= VG_JSON_DEPTH) {
        j->failed = true;
        return;
    }
    if (!value_start(j, 1))
        return;
    put(j, object ? "{" : "[", 1);
    j->depth++;
    j->has_item &= ~(1u << j->depth);
    if (object)
        j->in_object |= 1u << (j->depth - 1);
    else
        j->in_object &= ~(1u << (j->depth - 1));
}

static void close_level(struct vg_json *j, bool object)
{
    if (j->failed || j->depth == 0 || level_is_object(j) != object || j->key_pending) {
        j->failed = true;
        return;
    }
    if (!room(j, 1))
        return;
    put(j, object ? "}" : "]", 1);
    j->depth--;
}

void vg_json_object_begin(struct vg_json *j)
{
    open_level(j, true);
}

void vg_json_object_end(struct vg_json *j)
{
    close_level(j, true);
}

void vg_json_array_begin(struct vg_json *j)
{
    open_level(j, false);
}

void vg_json_array_end(struct vg_json *j)
{
    close_level(j, false);
}

struct saved {
    size_t len;
    uint32_t has_item;
    bool key_pending;
};

static struct saved save(const struct vg_json *j)
{
    return (struct saved){j->len, j->has_item, j->key_pending};
}

static void rollback(struct vg_json *j, struct saved sv)
{
    j->len = sv.len;
    j->buf[sv.len] = '\0';
    j->has_item = sv.has_item;
    j->key_pending = sv.key_pending;
    j->failed = true;
}

/* The quotes and the escaped s, at most max bytes inside the quotes (cut with \u2026 as the
 * header says); false when the buffer is what it does not fit in. */
static bool quoted(struct vg_json *j, const char *s, size_t n, size_t max)
{
    size_t avail = j->cap - 1 - j->len;
    if (avail < 2)
        return false;
    size_t lim = max < avail - 2 ? max : avail - 2;
    char *start = j->buf + j->len;
    size_t used, w = vg_json_escape(start + 1, lim, s, n, &used);
    if (used < n) {
        if (lim < max)
            return false; /* the buffer is full, not the field */
        w = max < 8 ? 0 : vg_json_escape(start + 1, max - 6, s, n, &used);
        if (max >= 8) {
            memcpy(start + 1 + w, "\\u2026", 6);
            w += 6;
        }
    }
    start[0] = '"';
    start[1 + w] = '"';
    j->len += w + 2;
    j->buf[j->len] = '\0';
    return true;
}

void vg_json_key(struct vg_json *j, const char *key)
{
    if (j->failed || !level_is_object(j) || j->key_pending) {
        j->failed = true;
        return;
    }
    struct saved sv = save(j);
    bool comma = j->has_item >> j->depth & 1u;
    if (!room(j, comma + 3u))
        return;
    if (comma)
        put(j, ",", 1);
    if (!quoted(j, key, strlen(key), SIZE_MAX) || !room(j, 1)) {
        rollback(j, sv);
        return;
    }
    put(j, ":", 1);
    j->has_item |= 1u << j->depth;
    j->key_pending = true;
}

void vg_json_strn_max(struct vg_json *j, const char *s, size_t n, size_t max)
{
    if (s == NULL) {
        vg_json_null(j);
        return;
    }
    struct saved sv = save(j);
    if (!value_start(j, 2))
        return;
    if (!quoted(j, s, n, max))
        rollback(j, sv);
}

void vg_json_strn(struct vg_json *j, const char *s, size_t n)
{
    vg_json_strn_max(j, s, n, SIZE_MAX);
}

void vg_json_str(struct vg_json *j, const char *s)
{
    vg_json_strn_max(j, s, s ? strlen(s) : 0, SIZE_MAX);
}

void vg_json_uint(struct vg_json *j, uint64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%" PRIu64, v);
    value(j, tmp, (size_t)n);
}

void vg_json_int(struct vg_json *j, int64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%" PRId64, v);
    value(j, tmp, (size_t)n);
}

void vg_json_fixed(struct vg_json *j, double v, unsigned decimals)
{
    if (!isfinite(v)) {
        vg_json_null(j);
        return;
    }
    char tmp[DBL_MAX_10_EXP + 16]; /* every finite double in %.9f */
    int n = snprintf(tmp, sizeof tmp, "%.*f", decimals > 9 ? 9 : (int)decimals, v);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        j->failed = true;
        return;
    }
    if (tmp[0] == '-' && strspn(tmp + 1, "0.") == (size_t)n - 1) { /* -0.000 → 0.000 */
        memmove(tmp, tmp + 1, (size_t)n);
        n--;
    }
    value(j, tmp, (size_t)n);
}

void vg_json_bool(struct vg_json *j, bool v)
{
    value(j, v ? "true" : "false", v ? 4 : 5);
}

void vg_json_null(struct vg_json *j)
{
    value(j, "null", 4);
}
