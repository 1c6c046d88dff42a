#include "vg_admin.h"
#include "vg_json.h"

#include "vg_alloc.h"
#include "vg_name.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- request line ------------------------------------------------------------------------ */

#define WORDS_MAX (VG_ADMIN_IDS_MAX + 2)

struct words {
    unsigned n;
    const char *w[WORDS_MAX];
    size_t len[WORDS_MAX];
};

static const char *const cmd_names[] = {
    [VG_ADM_SESSIONS] = "sessions", [VG_ADM_KILL] = "kill",
    [VG_ADM_VMS] = "vms",           [VG_ADM_STATS] = "stats",
    [VG_ADM_RELOAD] = "reload",     [VG_ADM_POLICY_TEST] = "policy test",
};

const char *vg_admin_cmd_name(enum vg_admin_cmd c)
{
    return (unsigned)c < sizeof cmd_names / sizeof cmd_names[0] ? cmd_names[c] : "?";
}

static bool word_is(const struct words *w, unsigned i, const char *s)
{
    return i < w->n && w->len[i] == strlen(s) && memcmp(w->w[i], s, w->len[i]) == 0;
}

static bool copy_word(const struct words *w, unsigned i, char *out, const char *what, char *err,
                      size_t errlen)
{
    if (i >= w->n) {
        snprintf(err, errlen, "%s missing", what);
        return false;
    }
    if (w->len[i] > VG_ADMIN_WORD_MAX) {
        snprintf(err, errlen, "%s longer than %d characters", what, VG_ADMIN_WORD_MAX);
        return false;
    }
    memcpy(out, w->w[i], w->len[i]);
    out[w->len[i]] = '\0';
    return true;
}

static bool copy_vm(const struct words *w, unsigned i, char *out, char *err, size_t errlen)
{
    char raw[VG_ADMIN_WORD_MAX + 1];
    if (!copy_word(w, i, raw, "VM name", err, errlen))
        return false;
    enum vg_name_status st = vg_name_normalize(raw, strlen(raw), out);
    if (st != VG_NAME_OK) {
        snprintf(err, errlen, "VM name '%s': %s", raw, vg_name_strerror(st));
        return false;
    }
    return true;
}

static bool parse_u64(const char *s, size_t n, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* --user U / --vm NAME options from word i on (sessions, kill). */
static bool parse_filters(const struct words *w, unsigned i, struct vg_admin_req *rq, char *err,
                          size_t errlen)
{
    for (; i < w->n; i += 2) {
        if (word_is(w, i, "--user") && rq->user[0] == '\0') {
            if (!copy_word(w, i + 1, rq->user, "--user: user name", err, errlen))
                return false;
        } else if (word_is(w, i, "--vm") && rq->vm[0] == '\0') {
            if (!copy_vm(w, i + 1, rq->vm, err, errlen))
                return false;
        } else {
            snprintf(err, errlen, "unexpected argument '%.*s'",
                     (int)(w->len[i] > 64 ? 64 : w->len[i]), w->w[i]);
            return false;
        }
    }
    return true;
}

static bool parse_words(const struct words *w, struct vg_admin_req *rq, char *err, size_t errlen)
{
    memset(rq, 0, sizeof *rq);
    if (w->n == 0) {
        snprintf(err, errlen, "empty request");
        return false;
    }
    if (word_is(w, 0, "sessions")) {
        rq->cmd = VG_ADM_SESSIONS;
        return parse_filters(w, 1, rq, err, errlen);
    }
    if (word_is(w, 0, "kill")) {
        rq->cmd = VG_ADM_KILL;
        if (word_is(w, 1, "--user") || word_is(w, 1, "--vm")) {
            if (!parse_filters(w, 1, rq, err, errlen))
                return false;
            if (w->n != 3) {
                snprintf(err, errlen, "kill: one of --user U or --vm NAME");
                return false;
            }
            return true;
        }
        if (w->n < 2) {
            snprintf(err, errlen, "kill: ID..., --user U or --vm NAME");
            return false;
        }
        if (w->n - 1 > VG_ADMIN_IDS_MAX) {
            snprintf(err, errlen, "kill: at most %d ids at once", VG_ADMIN_IDS_MAX);
            return false;
        }
        for (unsigned i = 1; i < w->n; i++) {
            if (!parse_u64(w->w[i], w->len[i], 1, UINT64_MAX, &rq->ids[rq->nids++])) {
                snprintf(err, errlen, "kill: '%.*s' is not a session id",
                         (int)(w->len[i] > 64 ? 64 : w->len[i]), w->w[i]);
                return false;
            }
        }
        return true;
    }
    if (word_is(w, 0, "vms") || word_is(w, 0, "stats")) {
        rq->cmd = word_is(w, 0, "vms") ? VG_ADM_VMS : VG_ADM_STATS;
        if (w->n != 1) {
            snprintf(err, errlen, "%s takes no arguments", vg_admin_cmd_name(rq->cmd));
            return false;
        }
        return true;
    }
    if (word_is(w, 0, "reload")) {
        rq->cmd = VG_ADM_RELOAD;
        if (w->n == 2 && word_is(w, 1, "--enforce")) {
            rq->enforce = true;
            return true;
        }
        if (w->n != 1) {
            snprintf(err, errlen, "reload: only --enforce");
            return false;
        }
        return true;
    }
    if (word_is(w, 0, "policy") && word_is(w, 1, "test")) {
        uint64_t port;
        rq->cmd = VG_ADM_POLICY_TEST;
        if (w->n != 5 && !(w->n == 7 && word_is(w, 5, "--from"))) {
            snprintf(err, errlen, "policy test USER VM PORT [--from ADDR]");
            return false;
        }
        if (!copy_word(w, 2, rq->user, "user name", err, errlen) ||
            !copy_vm(w, 3, rq->vm, err, errlen))
            return false;
        if (!parse_u64(w->w[4], w->len[4], 1, 65535, &port)) {
            snprintf(err, errlen, "policy test: PORT must be 1..65535");
            return false;
        }
        rq->port = (uint16_t)port;
        return w->n == 5 || copy_word(w, 6, rq->from, "--from: address", err, errlen);
    }
    snprintf(err, errlen, "unknown command '%.*s'", (int)(w->len[0] > 64 ? 64 : w->len[0]),
             w->w[0]);
    return false;
}

enum vg_parse vg_admin_parse_request(const uint8_t *buf, size_t len, struct vg_admin_req *rq,
                                     size_t *used, char *err, size_t errlen)
{
    size_t end = 0;
    for (; end < len && end < VG_ADMIN_LINE_MAX; end++) {
        uint8_t c = buf[end];
        if (c == '\n')
            break;
        if (c == '\r' && end + 1 < len && buf[end + 1] != '\n')
            goto bad_byte;
        if ((c < 0x20 && c != '\r') || c > 0x7e)
            goto bad_byte;
    }
    if (end == VG_ADMIN_LINE_MAX) {
        snprintf(err, errlen, "request line longer than %d bytes", VG_ADMIN_LINE_MAX - 1);
        return VG_P_ERROR;
    }
    if (end == len)
        return VG_P_NEED_MORE;

    struct words w = {0};
    size_t stop = end > 0 && buf[end - 1] == '\r' ? end - 1 : end;
    for (size_t i = 0; i < stop;) {
        if (buf[i] == ' ') {
            i++;
            continue;
        }
        if (w.n == WORDS_MAX) {
            snprintf(err, errlen, "too many words in the request");
            return VG_P_ERROR;
        }
        size_t j = i;
        while (j < stop && buf[j] != ' ')
            j++;
        w.w[w.n] = (const char *)buf + i;
        w.len[w.n++] = j - i;
        i = j;
    }
    struct vg_admin_req tmp;
    if (!parse_words(&w, &tmp, err, errlen))
        return VG_P_ERROR;
    *rq = tmp;
    *used = end + 1;
    return VG_P_OK;
bad_byte:
    snprintf(err, errlen, "request line: control character or non-ASCII byte at offset %zu", end);
    return VG_P_ERROR;
}

static bool word_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > VG_ADMIN_WORD_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

size_t vg_admin_format_request(const struct vg_admin_req *rq, char *out, size_t cap)
{
    size_t n = 0;
    int k;
#define ADD(...)                                                                                   \
    do {                                                                                           \
        k = snprintf(out + n, n < cap ? cap - n : 0, __VA_ARGS__);                                 \
        if (k < 0 || (size_t)k >= (n < cap ? cap - n : 0))                                         \
            return 0;                                                                              \
        n += (size_t)k;                                                                            \
    } while (0)
    if (cap == 0)
        return 0;
    if ((rq->user[0] && !word_ok(rq->user)) || (rq->vm[0] && !word_ok(rq->vm)) ||
        (rq->from[0] && !word_ok(rq->from)))
        return 0;
    switch (rq->cmd) {
    case VG_ADM_SESSIONS:
    case VG_ADM_KILL:
        ADD("%s", vg_admin_cmd_name(rq->cmd));
        if (rq->cmd == VG_ADM_KILL) {
            if ((rq->nids > 0) + (rq->user[0] != 0) + (rq->vm[0] != 0) != 1 ||
                rq->nids > VG_ADMIN_IDS_MAX)
                return 0;
            for (unsigned i = 0; i < rq->nids; i++) {
                if (rq->ids[i] == 0)
                    return 0;
                ADD(" %" PRIu64, rq->ids[i]);
            }
        }
        if (rq->user[0])
            ADD(" --user %s", rq->user);
        if (rq->vm[0])
            ADD(" --vm %s", rq->vm);
        break;
    case VG_ADM_VMS:
    case VG_ADM_STATS:
        ADD("%s", vg_admin_cmd_name(rq->cmd));
        break;
    case VG_ADM_RELOAD:
        ADD("reload%s", rq->enforce ? " --enforce" : "");
        break;
    case VG_ADM_POLICY_TEST:
        if (!rq->user[0] || !rq->vm[0] || rq->port == 0)
            return 0;
        ADD("policy test %s %s %u", rq->user, rq->vm, rq->port);
        if (rq->from[0])
            ADD(" --from %s", rq->from);
        break;
    default:
        return 0;
    }
    ADD("\n");
#undef ADD
    return n > VG_ADMIN_LINE_MAX ? 0 : n;
}

/* ---- replies: writing -------------------------------------------------------------------- */

void vg_admin_out_init(struct vg_admin_out *o, size_t max)
{
    memset(o, 0, sizeof *o);
    o->max = max;
}

void vg_admin_out_free(struct vg_admin_out *o)
{
    vg_free(o->p);
    memset(o, 0, sizeof *o);
}

void vg_admin_out_reset(struct vg_admin_out *o)
{
    o->len = 0;
    o->over = false;
}

static bool out_room(struct vg_admin_out *o, size_t n)
{
    if (o->over)
        return false;
    if (n > o->max || o->len > o->max - n) {
        o->over = true;
        return false;
    }
    if (o->len + n + 1 <= o->cap)
        return true;
    size_t cap = o->cap ? o->cap : 4096;
    while (cap < o->len + n + 1)
        cap *= 2;
    char *p = vg_realloc(o->p, cap);
    if (p == NULL) {
        o->over = true;
        return false;
    }
    o->p = p;
    o->cap = cap;
    return true;
}

void vg_admin_out_raw(struct vg_admin_out *o, const char *s, size_t n)
{
    if (!out_room(o, n))
        return;
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

void vg_admin_out_printf(struct vg_admin_out *o, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        o->over = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        vg_admin_out_raw(o, small, (size_t)n);
        return;
    }
    if (!out_room(o, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(o->p + o->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    o->len += (size_t)n;
}

/* A JSON string through vg_json's escaper (the one owner of JSON escaping), in chunks. */
void vg_admin_out_str(struct vg_admin_out *o, const char *s)
{
    if (s == NULL) {
        vg_admin_out_raw(o, "null", 4);
        return;
    }
    vg_admin_out_raw(o, "\"", 1);
    size_t n = strlen(s);
    while (n > 0) {
        char buf[1024];
        size_t used = 0, w = vg_json_escape(buf, sizeof buf, s, n, &used);
        if (used == 0) {
            o->over = true; /* cannot happen with a 1 KiB buffer: an escape is <= 12 bytes */
            return;
        }
        vg_admin_out_raw(o, buf, w);
        s += used;
        n -= used;
    }
    vg_admin_out_raw(o, "\"", 1);
}

static void key(struct vg_admin_out *o, const char *k, bool first)
{
    if (!first)
        vg_admin_out_raw(o, ",", 1);
    vg_admin_out_str(o, k);
    vg_admin_out_raw(o, ":", 1);
}

static void kv_str(struct vg_admin_out *o, const char *k, const char *v)
{
    key(o, k, false);
    vg_admin_out_str(o, v);
}

static void kv_u64(struct vg_admin_out *o, const char *k, uint64_t v)
{
    key(o, k, false);
    vg_admin_out_printf(o, "%" PRIu64, v);
}

void vg_admin_reply_error(struct vg_admin_out *o, const char *text)
{
    vg_admin_out_raw(o, "{\"ok\":false", 11);
    kv_str(o, "error", text);
    vg_admin_out_raw(o, "}\n", 2);
}

void vg_admin_reply_ok(struct vg_admin_out *o)
{
    vg_admin_out_raw(o, "{\"ok\":true}\n", 12);
}

void vg_admin_reply_count(struct vg_admin_out *o, const char *k, uint64_t n)
{
    vg_admin_out_raw(o, "{\"ok\":true", 10);
    kv_u64(o, k, n);
    vg_admin_out_raw(o, "}\n", 2);
}

void vg_admin_reply_verdict(struct vg_admin_out *o, bool allow, unsigned line, const char *rule)
{
    vg_admin_out_raw(o, "{\"ok\":true", 10);
    kv_str(o, "verdict", allow ? "allow" : "deny");
    kv_u64(o, "line", line);
    kv_str(o, "rule", rule);
    vg_admin_out_raw(o, "}\n", 2);
}

void vg_admin_reply_list_begin(struct vg_admin_out *o, const char *k)
{
    vg_admin_out_raw(o, "{\"ok\":true", 10);
    key(o, k, false);
    vg_admin_out_raw(o, "[", 1);
}

void vg_admin_reply_list_end(struct vg_admin_out *o)
{
    vg_admin_out_raw(o, "]}\n", 3);
}

char *vg_admin_rfc3339(int64_t t, char out[21])
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (t < 0 || t > 253402300799 || gmtime_r(&tt, &tm) == NULL ||
        strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) != 20)
        snprintf(out, 21, "1970-01-01T00:00:00Z");
    return out;
}

void vg_admin_reply_session(struct vg_admin_out *o, const struct vg_admin_session *s, bool first)
{
    char ts[21];
    vg_admin_out_printf(o, "%s{\"id\":%" PRIu64, first ? "" : ",", s->id);
    kv_str(o, "user", s->user);
    kv_str(o, "groups", s->groups);
    kv_str(o, "client", s->client);
    kv_str(o, "vm", s->vm);
    kv_u64(o, "port", s->port);
    kv_str(o, "channel", s->channel);
    kv_str(o, "front", s->front);
    kv_str(o, "state", s->state);
    kv_str(o, "started", vg_admin_rfc3339(s->started, ts));
    kv_u64(o, "bytes_up", s->bytes_up);
    kv_u64(o, "bytes_down", s->bytes_down);
    kv_u64(o, "idle_s", s->idle_s);
    kv_str(o, "agent_session", s->agent_session);
    vg_admin_out_raw(o, "}", 1);
}

void vg_admin_reply_vm(struct vg_admin_out *o, const struct vg_admin_vm *v, bool first)
{
    vg_admin_out_raw(o, first ? "{" : ",{", first ? 1 : 2);
    key(o, "name", true);
    vg_admin_out_str(o, v->name);
    kv_str(o, "channel", v->channel);
    kv_str(o, "status", v->status);
    kv_str(o, "error", v->error);
    kv_u64(o, "sessions", v->sessions);
    kv_str(o, "agent", v->agent);
    kv_str(o, "agent_version", v->agent_version);
    kv_str(o, "agent_session", v->agent_session);
    kv_u64(o, "streams", v->streams);
    vg_admin_out_raw(o, "}", 1);
}

void vg_admin_reply_stats(struct vg_admin_out *o, const struct vg_admin_stats *s)
{
    vg_admin_out_raw(o, "{\"ok\":true", 10);
    kv_str(o, "version", s->version);
    kv_u64(o, "uptime_s", s->uptime_s);
    kv_u64(o, "connections", s->connections);
    kv_u64(o, "max_connections", s->max_connections);
    kv_u64(o, "guest_streams", s->guest_streams);
    kv_u64(o, "serial_sessions", s->serial_sessions);
    key(o, "states", false);
    vg_admin_out_raw(o, "{", 1);
    for (unsigned i = 0; i < s->nstates && i < 8; i++) {
        key(o, s->state_names[i], i == 0);
        vg_admin_out_printf(o, "%u", s->state_counts[i]);
    }
    vg_admin_out_raw(o, "}}\n", 3);
}

/* ---- replies: reading -------------------------------------------------------------------- */

struct jp {
    const char *s, *end;
    int depth;
    char *err;
    size_t errlen;
};

static void jskip(struct jp *p)
{
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
        p->s++;
}

static bool jfail(struct jp *p, const char *what)
{
    if (p->err && p->err[0] == '\0')
        snprintf(p->err, p->errlen, "reply is not JSON: %s", what);
    return false;
}

static void put_utf8(char **w, unsigned cp)
{
    char *q = *w;
    if (cp < 0x80) {
        *q++ = (char)cp;
    } else if (cp < 0x800) {
        *q++ = (char)(0xc0 | (cp >> 6));
        *q++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *q++ = (char)(0xe0 | (cp >> 12));
        *q++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *q++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *q++ = (char)(0xf0 | (cp >> 18));
        *q++ = (char)(0x80 | ((cp >> 12) & 0x3f));
        *q++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *q++ = (char)(0x80 | (cp & 0x3f));
    }
    *w = q;
}

static bool hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return false;
    }
    *out = v;
    return true;
}

/* A string at p->s (the opening quote); decoded into a new allocation. */
static char *jstring(struct jp *p)
{
    const char *q = ++p->s;
    while (q < p->end && *q != '"')
        q += (*q == '\\' && q + 1 < p->end) ? 2 : 1;
    if (q >= p->end) {
        jfail(p, "unterminated string");
        return NULL;
    }
    /* decoded is never longer than the escaped text */
    char *out = vg_malloc((size_t)(q - p->s) + 1), *w = out;
    if (out == NULL) {
        jfail(p, "out of memory");
        return NULL;
    }
    const char *s = p->s;
    while (s < q) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20)
            goto bad;
        if (c != '\\') {
            *w++ = (char)c;
            s++;
            continue;
        }
        s++;
        switch (*s++) {
        case '"':
            *w++ = '"';
            break;
        case '\\':
            *w++ = '\\';
            break;
        case '/':
            *w++ = '/';
            break;
        case 'b':
            *w++ = '\b';
            break;
        case 'f':
            *w++ = '\f';
            break;
        case 'n':
            *w++ = '\n';
            break;
        case 'r':
            *w++ = '\r';
            break;
        case 't':
            *w++ = '\t';
            break;
        case 'u': {
            unsigned cp, lo;
            if (q - s < 4 || !hex4(s, &cp))
                goto bad;
            s += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && q - s >= 6 && s[0] == '\\' && s[1] == 'u' &&
                hex4(s + 2, &lo) && lo >= 0xdc00 && lo < 0xe000) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                s += 6;
            } else if (cp >= 0xd800 && cp < 0xe000) {
                cp = 0xfffd;
            }
            if (cp == 0)
                goto bad; /* a NUL would cut the text */
            put_utf8(&w, cp);
            break;
        }
        default:
            goto bad;
        }
    }
    *w = '\0';
    p->s = q + 1;
    return out;
bad:
    vg_free(out);
    jfail(p, "bad string");
    return NULL;
}

static struct vg_jnode *jvalue(struct jp *p);

static struct vg_jnode *jnew(struct jp *p, enum vg_jtype t)
{
    struct vg_jnode *n = vg_calloc(1, sizeof *n);
    if (n == NULL)
        jfail(p, "out of memory");
    else
        n->type = t;
    return n;
}

static bool jlit(struct jp *p, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(p->end - p->s) < n || memcmp(p->s, lit, n) != 0)
        return jfail(p, "unexpected character");
    p->s += n;
    return true;
}

static struct vg_jnode *jcontainer(struct jp *p, bool obj)
{
    struct vg_jnode *n = jnew(p, obj ? VG_J_OBJ : VG_J_ARR), **tail;
    if (n == NULL)
        return NULL;
    if (++p->depth > 16) {
        jfail(p, "nested too deep");
        goto fail;
    }
    tail = &n->child;
    p->s++;
    jskip(p);
    if (p->s < p->end && *p->s == (obj ? '}' : ']')) {
        p->s++;
        p->depth--;
        return n;
    }
    for (;;) {
        char *k = NULL;
        jskip(p);
        if (obj) {
            if (p->s >= p->end || *p->s != '"') {
                jfail(p, "expected a member name");
                goto fail;
            }
            if ((k = jstring(p)) == NULL)
                goto fail;
            jskip(p);
            if (p->s >= p->end || *p->s != ':') {
                vg_free(k);
                jfail(p, "expected ':'");
                goto fail;
            }
            p->s++;
        }
        struct vg_jnode *v = jvalue(p);
        if (v == NULL) {
            vg_free(k);
            goto fail;
        }
        v->key = k;
        *tail = v;
        tail = &v->next;
        jskip(p);
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            continue;
        }
        if (p->s < p->end && *p->s == (obj ? '}' : ']')) {
            p->s++;
            p->depth--;
            return n;
        }
        jfail(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
        goto fail;
    }
fail:
    vg_jnode_free(n);
    return NULL;
}

static struct vg_jnode *jvalue(struct jp *p)
{
    jskip(p);
    if (p->s >= p->end) {
        jfail(p, "unexpected end");
        return NULL;
    }
    struct vg_jnode *n;
    switch (*p->s) {
    case '{':
        return jcontainer(p, true);
    case '[':
        return jcontainer(p, false);
    case '"': {
        char *t = jstring(p);
        if (t == NULL || (n = jnew(p, VG_J_STR)) == NULL) {
            vg_free(t);
            return NULL;
        }
        n->text = t;
        return n;
    }
    case 't':
    case 'f':
    case 'n': {
        bool t = *p->s == 't', nul = *p->s == 'n';
        if (!jlit(p, t ? "true" : nul ? "null" : "false"))
            return NULL;
        if ((n = jnew(p, nul ? VG_J_NULL : VG_J_BOOL)) != NULL)
            n->b = t;
        return n;
    }
    default: {
        const char *q = p->s;
        if (q < p->end && *q == '-')
            q++;
        const char *digits = q;
        while (q < p->end && ((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E' ||
                              *q == '+' || *q == '-'))
            q++;
        if (q == digits || *digits < '0' || *digits > '9') {
            jfail(p, "unexpected character");
            return NULL;
        }
        if ((n = jnew(p, VG_J_NUM)) == NULL)
            return NULL;
        if ((n->text = vg_malloc((size_t)(q - p->s) + 1)) == NULL) {
            vg_free(n);
            jfail(p, "out of memory");
            return NULL;
        }
        memcpy(n->text, p->s, (size_t)(q - p->s));
        n->text[q - p->s] = '\0';
        p->s = q;
        return n;
    }
    }
}

struct vg_jnode *vg_jnode_parse(const char *s, size_t len, char *err, size_t errlen)
{
    struct jp p = {s, s + len, 0, err, errlen};
    if (err && errlen)
        err[0] = '\0';
    struct vg_jnode *n = jvalue(&p);
    if (n == NULL)
        return NULL;
    jskip(&p);
    if (p.s != p.end) {
        jfail(&p, "trailing bytes");
        vg_jnode_free(n);
        return NULL;
    }
    return n;
}

void vg_jnode_free(struct vg_jnode *n)
{
    while (n) {
        struct vg_jnode *next = n->next;
        vg_jnode_free(n->child);
        vg_free(n->key);
        vg_free(n->text);
        vg_free(n);
        n = next;
    }
}

const struct vg_jnode *vg_jnode_get(const struct vg_jnode *obj, const char *k)
{
    if (obj == NULL || obj->type != VG_J_OBJ)
        return NULL;
    for (const struct vg_jnode *m = obj->child; m; m = m->next)
        if (m->key && strcmp(m->key, k) == 0)
            return m;
    return NULL;
}
