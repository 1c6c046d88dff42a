/* Fuzz target: the text a peer sends on a stream — the preamble and the control lines
 * (common/vg_mux_ctl.[ch]) and the line reader that cuts them out of a stream's input
 * (vg_evbuffer_take_line in common/vg_mux.c).
 *
 * The input is read like a stream the agent or the gateway accepts: it arrives in pieces (the
 * first octet says how big) into an evbuffer, and vg_evbuffer_take_line takes lines from it —
 * the first with the preamble limit (VG_PREAMBLE_MAX, as agent.c and serial.c call it), the
 * following ones with the control-line limit (VG_CTL_LINE_MAX, as agent_control.c and serial.c
 * do), until a line is too long (where the callers give up).  The lines must be exactly those of
 * a reference split of the whole input, whatever the pieces.  Every line then goes through each
 * parser from an exactly-sized heap copy (the callers pass a NUL-terminated copy; reads past `len`
 * are caught here):
 *   - vg_preamble_parse_request: a request that parses is printed back to the same line (the
 *     grammar is strict: single spaces, no leading zeros); with a "\r" added it still parses;
 *   - vg_preamble_parse_reply: "OK", or "ERR <code>[ <text>]" with code [a-z-]{1,15} and the text
 *     its first 255 octets;
 *   - vg_ctl_parse: verb and keys [a-z0-9._-]{1,31}, at most 32 pairs, values without NUL;
 *     vg_ctl_get finds the first pair of a key; the message rebuilt with vg_ctl_begin/add/end (as
 *     the agent relays events) parses back to the same message, unless it did not fit;
 *   - vg_ctl_encode of every value: -1 exactly when the buffer is too small, else the value
 *     decodes back.
 * The whole input also goes to each parser directly, as one line.
 */
#include "fuzz.h"
#include "vg_mux.h"
#include "vg_mux_ctl.h"

#include <event2/buffer.h>
#include <stdbool.h>
#include <string.h>

static char *dup_exact(const char *p, size_t n)
{
    char *c = calloc(1, n ? n : 1); /* calloc: the byte of an empty copy is defined */
    if (c == NULL)
        abort();
    if (n)
        memcpy(c, p, n);
    return c;
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 31)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!name_char(s[i]))
            return false;
    return true;
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

/* ------------------------------------------------------------------------------ preamble */

static void check_request(const char *line, size_t len)
{
    struct vg_preamble p;
    char *copy = dup_exact(line, len);
    memset(&p, 0x5a, sizeof p);
    int rc = vg_preamble_parse_request(copy, len, &p);
    free(copy);
    FUZZ_CHECK(rc == 0 || rc == -1);
    size_t bare = len > 0 && line[len - 1] == '\r' ? len - 1 : len;
    if (rc != 0) {
        /* a "\r" more changes nothing: refused as well */
        if (bare == len && len + 1 < VG_PREAMBLE_MAX) {
            struct vg_preamble q;
            copy = malloc(len + 1);
            if (copy == NULL)
                abort();
            memcpy(copy, line, len);
            copy[len] = '\r';
            FUZZ_CHECK(vg_preamble_parse_request(copy, len + 1, &q) == -1);
            free(copy);
        }
        return;
    }
    char back[VG_PREAMBLE_MAX + 64];
    int n = -1;
    switch (p.kind) {
    case VG_PRE_CONTROL:
        FUZZ_CHECK(p.port == 0 && p.name[0] == '\0');
        n = snprintf(back, sizeof back, "CONTROL");
        break;
    case VG_PRE_CONNECT_PORT:
        FUZZ_CHECK(p.port != 0 && p.name[0] == '\0');
        n = snprintf(back, sizeof back, "CONNECT %u", p.port);
        break;
    case VG_PRE_CONNECT_NAME:
        FUZZ_CHECK(p.port != 0);
        FUZZ_CHECK(vg_preamble_name_ok(p.name, strlen(p.name)));
        n = snprintf(back, sizeof back, "CONNECT %s %u", p.name, p.port);
        break;
    default:
        FUZZ_CHECK(!"unknown preamble kind");
    }
    FUZZ_CHECK(n > 0 && (size_t)n == bare && memcmp(back, line, bare) == 0);
    FUZZ_CHECK(bare < VG_PREAMBLE_MAX);
    /* with a "\r" (the line as "...\r\n") it is the same request, if it still fits */
    if (bare == len && len + 1 < VG_PREAMBLE_MAX) {
        struct vg_preamble q;
        copy = malloc(len + 1);
        if (copy == NULL)
            abort();
        memcpy(copy, line, len);
        copy[len] = '\r';
        FUZZ_CHECK(vg_preamble_parse_request(copy, len + 1, &q) == 0);
        free(copy);
        FUZZ_CHECK(q.kind == p.kind && q.port == p.port && strcmp(q.name, p.name) == 0);
    }
}

static void check_reply(const char *line, size_t len)
{
    struct vg_preamble_reply r;
    char *copy = dup_exact(line, len);
    memset(&r, 0x5a, sizeof r);
    int rc = vg_preamble_parse_reply(copy, len, &r);
    free(copy);
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc != 0)
        return;
    size_t bare = len > 0 && line[len - 1] == '\r' ? len - 1 : len;
    FUZZ_CHECK(bare < VG_PREAMBLE_MAX);
    if (r.ok) {
        FUZZ_CHECK(bare == 2 && memcmp(line, "OK", 2) == 0);
        FUZZ_CHECK(r.code[0] == '\0' && r.text[0] == '\0');
        return;
    }
    size_t clen = strnlen(r.code, sizeof r.code);
    FUZZ_CHECK(clen > 0 && clen < sizeof r.code);
    for (size_t i = 0; i < clen; i++)
        FUZZ_CHECK((r.code[i] >= 'a' && r.code[i] <= 'z') || r.code[i] == '-');
    FUZZ_CHECK(bare >= 4 + clen && memcmp(line, "ERR ", 4) == 0 &&
               memcmp(line + 4, r.code, clen) == 0);
    size_t tlen = strnlen(r.text, sizeof r.text);
    FUZZ_CHECK(tlen < sizeof r.text);
    if (bare == 4 + clen) {
        FUZZ_CHECK(tlen == 0);
    } else {
        FUZZ_CHECK(line[4 + clen] == ' ');
        size_t raw = bare - 5 - clen, keep = raw < sizeof r.text - 1 ? raw : sizeof r.text - 1;
        FUZZ_CHECK(memcmp(r.text, line + 5 + clen, tlen) == 0);
        /* the text is the first 255 octets (shorter only at a NUL inside it) */
        FUZZ_CHECK(tlen == keep || (tlen < keep && line[5 + clen + tlen] == '\0'));
    }
    uint8_t socks = vg_preamble_err_to_socks(r.code);
    FUZZ_CHECK(socks == 1 || socks == 2 || socks == 4 || socks == 5 || socks == 6);
}

/* ------------------------------------------------------------------------------ control */

static void check_encode(const char *val)
{
    size_t vlen = strlen(val), need = 0;
    for (size_t i = 0; i < vlen; i++) {
        unsigned char c = (unsigned char)val[i];
        bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     strchr("._~:/@,+-", c) != NULL;
        need += plain ? 1 : 3;
    }
    /* too small by one (no room for the NUL), then exactly big enough */
    for (size_t dlen = need; dlen <= need + 1; dlen++) {
        char *dst = malloc(dlen ? dlen : 1);
        if (dst == NULL)
            abort();
        int n = vg_ctl_encode(val, dst, dlen);
        if (dlen == need) {
            FUZZ_CHECK(n == -1);
        } else {
            FUZZ_CHECK(n >= 0 && (size_t)n == need && dst[n] == '\0');
            /* decodes back */
            size_t o = 0;
            for (size_t i = 0; i < need; i++, o++) {
                char c = dst[i];
                FUZZ_CHECK(c > 0x20 && c < 0x7f && c != ' ');
                if (c == '%') {
                    FUZZ_CHECK(i + 2 < need);
                    int h = hexval(dst[i + 1]), l = hexval(dst[i + 2]);
                    FUZZ_CHECK(h >= 0 && l >= 0);
                    c = (char)(h * 16 + l);
                    i += 2;
                }
                FUZZ_CHECK(o < vlen && c == val[o]);
            }
            FUZZ_CHECK(o == vlen);
        }
        free(dst);
    }
}

static int ctl_parse_exact(const char *line, size_t len, struct vg_ctl_msg *m)
{
    char *copy = dup_exact(line, len);
    int rc = vg_ctl_parse(copy, len, m);
    free(copy);
    FUZZ_CHECK(rc == 0 || rc == -1);
    return rc;
}

static void check_ctl(const char *line, size_t len)
{
    static struct vg_ctl_msg m, again; /* 4 KiB each */
    static struct vg_ctl_out out;
    if (ctl_parse_exact(line, len, &m) != 0)
        return;
    FUZZ_CHECK(len < VG_CTL_LINE_MAX + 1);
    FUZZ_CHECK(m.verb != NULL && valid_name(m.verb));
    FUZZ_CHECK(m.n <= VG_CTL_MAX_KV);
    for (unsigned i = 0; i < m.n; i++) {
        FUZZ_CHECK(valid_name(m.key[i]));
        FUZZ_CHECK(m.key[i] >= m.buf && m.key[i] < m.buf + sizeof m.buf);
        FUZZ_CHECK(m.val[i] >= m.buf && m.val[i] + strlen(m.val[i]) < m.buf + sizeof m.buf);
        /* vg_ctl_get: the first pair with this key */
        unsigned first = i;
        for (unsigned j = 0; j < i; j++)
            if (strcmp(m.key[j], m.key[i]) == 0) {
                first = j;
                break;
            }
        FUZZ_CHECK(vg_ctl_get(&m, m.key[i]) == m.val[first]);
        check_encode(m.val[i]);
    }
    FUZZ_CHECK(vg_ctl_get(&m, "a-key-of-32-octets-is-never-set!") == NULL); /* 32 */

    /* rebuild and reparse */
    vg_ctl_begin(&out, m.verb);
    for (unsigned i = 0; i < m.n; i++)
        vg_ctl_add(&out, m.key[i], m.val[i]);
    const char *built = vg_ctl_end(&out);
    if (built == NULL) {
        FUZZ_CHECK(out.overflow || out.len + 2 > sizeof out.buf);
        return;
    }
    FUZZ_CHECK(built == out.buf && out.len > 0 && out.len < sizeof out.buf);
    FUZZ_CHECK(built[out.len - 1] == '\n' && built[out.len] == '\0');
    FUZZ_CHECK(strlen(built) == out.len);
    FUZZ_CHECK(ctl_parse_exact(built, out.len - 1, &again) == 0);
    FUZZ_CHECK(strcmp(again.verb, m.verb) == 0 && again.n == m.n);
    for (unsigned i = 0; i < m.n; i++)
        FUZZ_CHECK(strcmp(again.key[i], m.key[i]) == 0 && strcmp(again.val[i], m.val[i]) == 0);
}

static void check_line(const char *line, size_t len)
{
    check_request(line, len);
    check_reply(line, len);
    check_ctl(line, len);
    char *copy = dup_exact(line, len);
    bool ok = vg_preamble_name_ok(copy, len);
    free(copy);
    if (ok)
        FUZZ_CHECK(len > 0 && len <= 255 && memchr(line, ' ', len) == NULL);
}

/* ------------------------------------------------------------------------------ lines */

/* What vg_evbuffer_take_line must give for the bytes p[0..n) and limit max: the line length and
 * *taken (octets consumed), or VG_LINE_NEED_MORE / VG_LINE_TOO_LONG. */
static long ref_take(const uint8_t *p, size_t n, size_t max, size_t *taken)
{
    const uint8_t *nl = memchr(p, '\n', n);
    if (nl == NULL)
        return n >= max ? VG_LINE_TOO_LONG : VG_LINE_NEED_MORE;
    size_t pos = (size_t)(nl - p);
    if (pos >= max)
        return VG_LINE_TOO_LONG;
    *taken = pos + 1;
    return pos > 0 && p[pos - 1] == '\r' ? (long)pos - 1 : (long)pos;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    /* the first octet: size of the pieces the stream's input arrives in (0: all at once) */
    size_t piece = data[0] & 0x3f;
    const uint8_t *p = data + 1;
    size_t n = size - 1;

    struct evbuffer *in = evbuffer_new();
    FUZZ_CHECK(in != NULL);
    /* exactly-sized line buffers: a write past `max` is caught */
    char *lbuf[2] = {malloc(VG_PREAMBLE_MAX), malloc(VG_CTL_LINE_MAX)};
    FUZZ_CHECK(lbuf[0] != NULL && lbuf[1] != NULL);
    size_t fed = 0, done = 0; /* octets added to `in`, octets taken as lines */
    unsigned nlines = 0;
    bool gave_up = false;
    while (!gave_up) {
        size_t add = n - fed;
        if (piece && add > piece)
            add = piece;
        if (add) {
            FUZZ_CHECK(evbuffer_add(in, p + fed, add) == 0);
            fed += add;
        }
        for (;;) {
            size_t max = nlines == 0 ? VG_PREAMBLE_MAX : VG_CTL_LINE_MAX, taken = 0;
            long want = ref_take(p + done, fed - done, max, &taken);
            char *line = lbuf[nlines == 0 ? 0 : 1];
            memset(line, 0x5a, max);
            long got = vg_evbuffer_take_line(in, line, max);
            FUZZ_CHECK(got == want);
            if (got == VG_LINE_TOO_LONG) {
                FUZZ_CHECK(evbuffer_get_length(in) == fed - done); /* nothing taken */
                gave_up = true;
                break;
            }
            if (got == VG_LINE_NEED_MORE) {
                FUZZ_CHECK(evbuffer_get_length(in) == fed - done);
                break;
            }
            FUZZ_CHECK(got >= 0 && (size_t)got < max && line[got] == '\0');
            FUZZ_CHECK(memcmp(line, p + done, (size_t)got) == 0);
            done += taken;
            FUZZ_CHECK(evbuffer_get_length(in) == fed - done);
            nlines++;
            check_line(line, (size_t)got);
        }
        if (fed == n)
            break;
    }
    evbuffer_free(in);
    free(lbuf[0]);
    free(lbuf[1]);

    /* the whole input as one line, for each parser */
    check_line((const char *)p, n);
    return 0;
}
