/* vg_policy — policy file parser and decision (see vg_policy.h, docs/policy.md).
 *
 * Layout.  Everything a policy holds sits in a few flat arrays addressed by 32-bit indices, so
 * a parse grows them with vg_grow and a decision touches no pointer that a realloc could have
 * moved: rules[], their terms[], port ranges[] and CIDRs[], and one string arena (names, globs,
 * the normalised rule texts, NUL-terminated).
 *
 * Index.  Each rule gets one key, the first that applies of: its user= name, its first group=
 * name, its vm= glob when it has no wildcard, its first from= CIDR (family, prefix length,
 * network), its target glob when it has no wildcard; rules without any of those go to the
 * general list.  Five hash tables (open addressing) map a key to the ascending list of the rules
 * that have it.  A subject can only match a rule through that rule's key (a user= rule needs that
 * user, a group= rule that group, an exact glob that name, a CIDR a client inside it — found by
 * one look-up per prefix length in use), so decide() scans the subject's buckets and the general
 * list, each in ascending order and only below the best rule found so far, and takes the
 * lowest: exactly the first matching line.
 */
#include "vg_policy.h"

#include "vg_addr.h"
#include "vg_alloc.h"
#include "vg_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum term_kind { T_USER, T_GROUP, T_FROM, T_VM };
enum key_kind { K_USER, K_GROUP, K_ORIGIN, K_TARGET, K_FROM, K_NKINDS, K_GENERAL = K_NKINDS };

/* Names of VMs compare without case; user and group names and CIDR keys byte for byte. */
static inline bool key_folds(int k)
{
    return k == K_ORIGIN || k == K_TARGET;
}

/* A K_FROM key: family (4 or 6), prefix length, the masked address (4 or 16 bytes). */
#define CIDR_KEY_MAX 18

struct term {
    uint8_t kind;  /* enum term_kind */
    uint32_t off;  /* T_FROM: index in cidrs[]; else arena offset of the name / glob */
    uint32_t len;  /* string length; T_FROM: the length of its key (6 or CIDR_KEY_MAX) */
    uint32_t kofs; /* T_FROM: arena offset of its key */
    bool wild;     /* T_VM: the glob has '*' or '?' */
};

struct range {
    uint16_t lo, hi;
};

struct rule {
    uint32_t line;
    bool allow;
    bool any_port;
    bool glob_wild;
    uint8_t key; /* enum key_kind */
    uint32_t glob_off, glob_len;
    uint32_t term0, nterms;
    uint32_t range0, nranges;
    uint32_t text_off, text_len; /* text_len < VG_POLICY_RULE_TEXT */
    uint32_t key_off, key_len;   /* the index key (arena) */
    unsigned idle, maxdur, maxsess;
};

struct slot {
    uint32_t key_off, key_len; /* key_len 0: empty slot (keys are never empty) */
    uint32_t hash;
    uint32_t start, n; /* ids[start .. start+n) */
};

struct table {
    struct slot *slots;
    uint32_t mask; /* slots - 1; no table when slots is NULL */
    uint32_t *ids;
};

struct vg_policy {
    struct rule *rules;
    size_t nrules, rcap;
    struct term *terms;
    size_t nterms, tcap;
    struct range *ranges;
    size_t nranges, gcap;
    struct vg_cidr *cidrs;
    size_t ncidrs, ccap;
    char *arena;
    size_t alen, acap;
    struct table tab[K_NKINDS];
    uint32_t *general;
    size_t ngeneral;
    /* the prefix lengths of the CIDRs in tab[K_FROM], ascending, each once */
    uint8_t plen4[33], plen6[129];
    unsigned nplen4, nplen6;
};

/* ---- small helpers -------------------------------------------------------------------------- */

static inline unsigned char lc(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static uint32_t hash_bytes(const char *s, size_t n, bool fold)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= fold ? lc((unsigned char)s[i]) : (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

static bool key_eq(const char *a, const char *b, size_t n, bool fold)
{
    if (!fold)
        return memcmp(a, b, n) == 0;
    for (size_t i = 0; i < n; i++)
        if (lc((unsigned char)a[i]) != lc((unsigned char)b[i]))
            return false;
    return true;
}

/* '*' any run (dots included), '?' one character; g is lower case, s compared folded.
 * The single backtrack point keeps it O(|g| * |s|) at worst, linear for the usual globs. */
static bool glob_match(const char *g, size_t gl, const char *s, size_t sl)
{
    size_t gi = 0, si = 0, star = SIZE_MAX, mark = 0;
    while (si < sl) {
        if (gi < gl && g[gi] == '*') {
            star = gi++;
            mark = si;
        } else if (gi < gl && (g[gi] == '?' || g[gi] == (char)lc((unsigned char)s[si]))) {
            gi++;
            si++;
        } else if (star != SIZE_MAX) {
            gi = star + 1;
            si = ++mark;
        } else {
            return false;
        }
    }
    while (gi < gl && g[gi] == '*')
        gi++;
    return gi == gl;
}

bool vg_policy_glob_match(const char *glob, const char *name)
{
    return glob_match(glob, strlen(glob), name, strlen(name));
}

static size_t cidr_key(int family, unsigned prefix, const uint8_t *addr, char *key)
{
    size_t n = family == AF_INET ? 4 : 16;
    key[0] = family == AF_INET ? 4 : 6;
    key[1] = (char)prefix;
    for (size_t i = 0; i < n; i++) {
        unsigned bits = prefix > i * 8 ? prefix - (unsigned)i * 8 : 0;
        key[2 + i] = (char)(bits >= 8 ? addr[i] : addr[i] & (uint8_t)(0xff00u >> bits));
    }
    return n + 2;
}

/* ---- parsing -------------------------------------------------------------------------------- */

struct parser {
    struct vg_policy *p;
    const char *fname;
    unsigned line;
    char *err;
    size_t errlen;
    bool oom;
};

#define QUOTE_MAX 64 /* bytes of a bad token quoted in a message */
/* "%.*s" arguments for a token, cut to QUOTE_MAX */
#define Q(t) (int)((t).n < QUOTE_MAX ? (t).n : QUOTE_MAX), (t).s

static bool fail(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(struct parser *ps, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ps->errlen)
        snprintf(ps->err, ps->errlen, "%s:%u: %s", ps->fname, ps->line, msg);
    return false;
}

static bool oom(struct parser *ps)
{
    ps->oom = true;
    if (ps->errlen)
        snprintf(ps->err, ps->errlen, "%s: out of memory", ps->fname);
    return false;
}

/* Append n bytes (+ NUL) to the arena, lower-cased when fold; *off = where. */
static bool arena_add(struct parser *ps, const char *s, size_t n, bool fold, uint32_t *off)
{
    struct vg_policy *p = ps->p;
    if (p->alen + n + 1 > UINT32_MAX)
        return oom(ps);
    while (p->acap < p->alen + n + 1)
        if (!vg_grow(&p->arena, &p->acap, p->acap, 1, 4096))
            return oom(ps);
    *off = (uint32_t)p->alen;
    for (size_t i = 0; i < n; i++)
        p->arena[p->alen + i] = fold ? (char)lc((unsigned char)s[i]) : s[i];
    p->arena[p->alen + n] = '\0';
    p->alen += n + 1;
    return true;
}

struct tok {
    const char *s;
    size_t n;
};

/* Copy a token into a NUL-terminated buffer of VG_POLICY_MAX_LINE + 1 bytes. */
static const char *tok_cstr(struct tok t, char *buf)
{
    memcpy(buf, t.s, t.n);
    buf[t.n] = '\0';
    return buf;
}

static bool glob_has_wild(const char *g, size_t n)
{
    return memchr(g, '*', n) != NULL || memchr(g, '?', n) != NULL;
}

/* The VM glob syntax, shared by the VM field and vm=. */
static bool glob_check(struct parser *ps, struct tok t, const char *what)
{
    if (t.n == 0)
        return fail(ps, "bad %s: empty", what);
    if (t.n > 253)
        return fail(ps, "bad %s '%.*s...': longer than 253 characters", what, Q(t));
    for (size_t i = 0; i < t.n; i++) {
        unsigned char c = lc((unsigned char)t.s[i]);
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              c == '.' || c == '*' || c == '?'))
            return fail(ps, "bad %s '%.*s': character '%c' (letters, digits, - _ . * ?)", what,
                        Q(t), c);
        if (c == '.' && (i == 0 || i + 1 == t.n || t.s[i + 1] == '.'))
            return fail(ps, "bad %s '%.*s': empty label", what, Q(t));
    }
    return true;
}

static bool add_term(struct parser *ps, struct term t)
{
    struct vg_policy *p = ps->p;
    if (!vg_grow(&p->terms, &p->tcap, p->nterms, sizeof *p->terms, 64))
        return oom(ps);
    p->terms[p->nterms++] = t;
    return true;
}

static bool parse_who(struct parser *ps, struct rule *r, struct tok f, char *buf)
{
    struct vg_policy *p = ps->p;
    r->term0 = (uint32_t)p->nterms;
    if (f.n == 3 && memcmp(f.s, "any", 3) == 0)
        return true;
    bool have_user = false, have_vm = false;
    const char *s = f.s, *end = f.s + f.n;
    while (s <= end) {
        const char *c = memchr(s, ',', (size_t)(end - s));
        struct tok t = {s, c ? (size_t)(c - s) : (size_t)(end - s)};
        s += t.n + 1;
        if (t.n == 0)
            return fail(ps, "empty term in '%.*s'", Q(f));
        const char *eq = memchr(t.s, '=', t.n);
        size_t kl = eq ? (size_t)(eq - t.s) : t.n;
        struct tok v = {eq ? eq + 1 : t.s + t.n, eq ? t.n - kl - 1 : 0};
        struct term term = {0};
        if (t.n == 3 && memcmp(t.s, "any", 3) == 0)
            return fail(ps, "'any' cannot be combined with other terms");
        if (!eq)
            return fail(ps, "unknown term '%.*s' (user= group= from= vm= any)", Q(t));
        if ((kl == 4 && memcmp(t.s, "user", 4) == 0) || (kl == 5 && memcmp(t.s, "group", 5) == 0)) {
            bool user = kl == 4;
            if (user && have_user)
                return fail(ps, "user= given twice");
            if (v.n == 0)
                return fail(ps, "empty name in '%.*s'", Q(t));
            if (memchr(v.s, ':', v.n))
                return fail(ps, "bad name in '%.*s': ':'", Q(t));
            have_user |= user;
            term.kind = user ? T_USER : T_GROUP;
            term.len = (uint32_t)v.n;
            if (!arena_add(ps, v.s, v.n, false, &term.off))
                return false;
        } else if (kl == 4 && memcmp(t.s, "from", 4) == 0) {
            struct vg_cidr cidr;
            if (!vg_cidr_parse(tok_cstr(v, buf), &cidr))
                return fail(ps, "bad CIDR '%.*s'", Q(v));
            if (!vg_grow(&p->cidrs, &p->ccap, p->ncidrs, sizeof *p->cidrs, 16))
                return oom(ps);
            p->cidrs[p->ncidrs] = cidr;
            term.kind = T_FROM;
            term.off = (uint32_t)p->ncidrs++;
            char key[CIDR_KEY_MAX];
            term.len = (uint32_t)cidr_key(cidr.family, cidr.prefix, cidr.addr, key);
            if (!arena_add(ps, key, term.len, false, &term.kofs))
                return false;
        } else if (kl == 2 && memcmp(t.s, "vm", 2) == 0) {
            if (have_vm)
                return fail(ps, "vm= given twice");
            if (!glob_check(ps, v, "origin VM glob"))
                return false;
            have_vm = true;
            term.kind = T_VM;
            term.len = (uint32_t)v.n;
            term.wild = glob_has_wild(v.s, v.n);
            if (!arena_add(ps, v.s, v.n, true, &term.off))
                return false;
        } else {
            return fail(ps, "unknown term '%.*s' (user= group= from= vm= any)", Q(t));
        }
        if (!add_term(ps, term))
            return false;
    }
    r->nterms = (uint32_t)p->nterms - r->term0;
    return true;
}

static bool parse_ports(struct parser *ps, struct rule *r, struct tok f, char *buf)
{
    struct vg_policy *p = ps->p;
    r->range0 = (uint32_t)p->nranges;
    if (f.n == 1 && f.s[0] == '*') {
        r->any_port = true;
        return true;
    }
    const char *s = f.s, *end = f.s + f.n;
    while (s <= end) {
        const char *c = memchr(s, ',', (size_t)(end - s));
        struct tok t = {s, c ? (size_t)(c - s) : (size_t)(end - s)};
        s += t.n + 1;
        if (t.n == 0)
            return fail(ps, "empty port in '%.*s'", Q(f));
        tok_cstr(t, buf);
        char *dash = strchr(buf, '-');
        uint16_t lo, hi;
        if (dash) {
            *dash = '\0';
            if (!vg_parse_port(buf, &lo) || !vg_parse_port(dash + 1, &hi) || lo > hi)
                return fail(ps, "bad port range '%.*s' (A-B, 1 <= A <= B <= 65535)", Q(t));
        } else {
            if (!vg_parse_port(buf, &lo))
                return fail(ps, "bad port '%.*s' (1..65535 or *)", Q(t));
            hi = lo;
        }
        if (!vg_grow(&p->ranges, &p->gcap, p->nranges, sizeof *p->ranges, 64))
            return oom(ps);
        p->ranges[p->nranges++] = (struct range){lo, hi};
    }
    r->nranges = (uint32_t)p->nranges - r->range0;
    return true;
}

static bool parse_option(struct parser *ps, struct rule *r, struct tok f, char *buf)
{
    static const struct {
        const char *name;
        size_t off;
        unsigned long max;
    } opts[] = {
        {"idle-timeout", offsetof(struct rule, idle), VG_POLICY_MAX_SECONDS},
        {"max-duration", offsetof(struct rule, maxdur), VG_POLICY_MAX_SECONDS},
        {"max-sessions", offsetof(struct rule, maxsess), VG_POLICY_MAX_SESSIONS},
    };
    const char *eq = memchr(f.s, '=', f.n);
    size_t kl = eq ? (size_t)(eq - f.s) : f.n;
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        if (strlen(opts[i].name) != kl || memcmp(opts[i].name, f.s, kl) != 0)
            continue;
        unsigned *slot = (unsigned *)((char *)r + opts[i].off);
        if (*slot)
            return fail(ps, "duplicate option '%s'", opts[i].name);
        if (!r->allow)
            return fail(ps, "option '%s' on a deny rule (options apply to allow rules)",
                        opts[i].name);
        unsigned long v;
        struct tok val = {eq ? eq + 1 : f.s + f.n, eq ? f.n - kl - 1 : 0};
        if (!eq || !vg_parse_uint(tok_cstr(val, buf), 1, opts[i].max, &v))
            return fail(ps, "bad value for %s: '%.*s' (1..%lu)", opts[i].name, Q(val), opts[i].max);
        *slot = (unsigned)v;
        return true;
    }
    return fail(ps, "unknown option '%.*s' (idle-timeout= max-duration= max-sessions=)", Q(f));
}

/* The rule as one line with single blanks, the glob lower-cased; cut to fit vg_verdict.rule. */
static bool rule_text(struct parser *ps, struct rule *r, const struct tok *f, size_t nf)
{
    char t[VG_POLICY_MAX_LINE + 1];
    size_t n = 0;
    for (size_t i = 0; i < nf; i++) {
        if (i)
            t[n++] = ' ';
        for (size_t j = 0; j < f[i].n; j++)
            t[n++] = i == 2 ? (char)lc((unsigned char)f[i].s[j]) : f[i].s[j];
    }
    if (n >= VG_POLICY_RULE_TEXT) {
        n = VG_POLICY_RULE_TEXT - 1;
        memcpy(t + n - 3, "...", 3);
    }
    r->text_len = (uint32_t)n;
    return arena_add(ps, t, n, false, &r->text_off);
}

static void choose_key(const struct vg_policy *p, struct rule *r)
{
    const struct term *user = NULL, *group = NULL, *vm = NULL, *from = NULL;
    for (uint32_t i = 0; i < r->nterms; i++) {
        const struct term *t = &p->terms[r->term0 + i];
        if (t->kind == T_USER && !user)
            user = t;
        else if (t->kind == T_GROUP && !group)
            group = t;
        else if (t->kind == T_VM && !t->wild)
            vm = t;
        else if (t->kind == T_FROM && !from)
            from = t;
    }
    const struct term *k = user ? user : group ? group : vm;
    if (k) {
        r->key = user ? K_USER : group ? K_GROUP : K_ORIGIN;
        r->key_off = k->off;
        r->key_len = k->len;
    } else if (from) {
        /* before the VM name: many rules for one VM from many networks (the usual shape)
         * would otherwise share one bucket, scanned rule by rule */
        r->key = K_FROM;
        r->key_off = from->kofs;
        r->key_len = from->len;
    } else if (!r->glob_wild) {
        r->key = K_TARGET;
        r->key_off = r->glob_off;
        r->key_len = r->glob_len;
    } else {
        r->key = K_GENERAL;
    }
}

static bool parse_line(struct parser *ps, const char *s, size_t n)
{
    struct tok f[7]; /* verdict who VM ports + 3 options */
    size_t nf = 0;
    char buf[VG_POLICY_MAX_LINE + 1];
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\0')
            return fail(ps, "NUL octet");
        if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f)
            return fail(ps, "control character 0x%02x", c);
    }
    const char *hash = memchr(s, '#', n);
    if (hash)
        n = (size_t)(hash - s);
    for (size_t i = 0; i < n;) {
        while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
            i++;
        if (i == n)
            break;
        size_t b = i;
        while (i < n && s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            i++;
        if (nf == sizeof f / sizeof f[0])
            return fail(ps, "too many fields (verdict who VM ports, then at most 3 options)");
        f[nf++] = (struct tok){s + b, i - b};
    }
    if (nf == 0)
        return true;

    struct vg_policy *p = ps->p;
    struct rule r = {.line = ps->line};
    if (f[0].n == 5 && memcmp(f[0].s, "allow", 5) == 0)
        r.allow = true;
    else if (!(f[0].n == 4 && memcmp(f[0].s, "deny", 4) == 0))
        return fail(ps, "unknown verdict '%.*s' (allow or deny)", Q(f[0]));
    if (nf < 4)
        return fail(ps, "expected: verdict who VM ports [options]");
    if (p->nrules >= VG_POLICY_MAX_RULES)
        return fail(ps, "too many rules (at most %u)", (unsigned)VG_POLICY_MAX_RULES);
    if (!parse_who(ps, &r, f[1], buf))
        return false;
    if (!glob_check(ps, f[2], "VM glob"))
        return false;
    r.glob_len = (uint32_t)f[2].n;
    r.glob_wild = glob_has_wild(f[2].s, f[2].n);
    if (!arena_add(ps, f[2].s, f[2].n, true, &r.glob_off))
        return false;
    if (!parse_ports(ps, &r, f[3], buf))
        return false;
    for (size_t i = 4; i < nf; i++)
        if (!parse_option(ps, &r, f[i], buf))
            return false;
    if (!rule_text(ps, &r, f, nf))
        return false;
    choose_key(p, &r);
    if (!vg_grow(&p->rules, &p->rcap, p->nrules, sizeof *p->rules, 64))
        return oom(ps);
    p->rules[p->nrules++] = r;
    return true;
}

/* ---- the index ------------------------------------------------------------------------------ */

static struct slot *table_find(const struct table *t, const char *arena, const char *key,
                               size_t len, uint32_t h, bool fold)
{
    for (uint32_t i = h & t->mask;; i = (i + 1) & t->mask) {
        struct slot *s = &t->slots[i];
        if (s->key_len == 0)
            return s;
        if (s->hash == h && s->key_len == len && key_eq(arena + s->key_off, key, len, fold))
            return s;
    }
}

static bool build_index(struct vg_policy *p)
{
    size_t count[K_NKINDS + 1] = {0};
    for (size_t i = 0; i < p->nrules; i++)
        count[p->rules[i].key]++;
    bool seen4[33] = {0}, seen6[129] = {0};
    for (size_t i = 0; i < p->nrules; i++)
        if (p->rules[i].key == K_FROM) {
            const char *key = p->arena + p->rules[i].key_off;
            (key[0] == 4 ? seen4 : seen6)[(uint8_t)key[1]] = true;
        }
    for (unsigned l = 0; l <= 128; l++) {
        if (l <= 32 && seen4[l])
            p->plen4[p->nplen4++] = (uint8_t)l;
        if (seen6[l])
            p->plen6[p->nplen6++] = (uint8_t)l;
    }
    if (count[K_GENERAL] && (p->general = vg_malloc(count[K_GENERAL] * sizeof *p->general)) == NULL)
        return false;
    for (int k = 0; k < K_NKINDS; k++) {
        struct table *t = &p->tab[k];
        if (count[k] == 0)
            continue;
        size_t slots = 8;
        while (slots < 2 * count[k])
            slots *= 2;
        t->slots = vg_calloc(slots, sizeof *t->slots);
        t->ids = vg_malloc(count[k] * sizeof *t->ids);
        if (t->slots == NULL || t->ids == NULL)
            return false;
        t->mask = (uint32_t)(slots - 1);
    }
    /* pass 1: count per key; prefix sums; pass 2: fill in rule order (ascending per key) */
    for (int pass = 1; pass <= 2; pass++) {
        for (size_t i = 0; i < p->nrules; i++) {
            const struct rule *r = &p->rules[i];
            if (r->key == K_GENERAL) {
                if (pass == 2)
                    p->general[p->ngeneral++] = (uint32_t)i;
                continue;
            }
            struct table *t = &p->tab[r->key];
            bool fold = key_folds(r->key);
            const char *key = p->arena + r->key_off;
            uint32_t h = hash_bytes(key, r->key_len, fold);
            struct slot *s = table_find(t, p->arena, key, r->key_len, h, fold);
            if (s->key_len == 0)
                *s = (struct slot){r->key_off, r->key_len, h, 0, 0};
            if (pass == 2)
                t->ids[s->start + s->n] = (uint32_t)i;
            s->n++;
        }
        if (pass == 1)
            for (int k = 0; k < K_NKINDS; k++) {
                struct table *t = &p->tab[k];
                uint32_t sum = 0;
                for (size_t j = 0; t->slots && j <= t->mask; j++) {
                    t->slots[j].start = sum;
                    sum += t->slots[j].n;
                    t->slots[j].n = 0;
                }
            }
    }
    return true;
}

/* ---- public: parse, load, free -------------------------------------------------------------- */

struct vg_policy *vg_policy_parse(const char *text, size_t len, const char *fname, char *err,
                                  size_t errlen)
{
    struct vg_policy *ret = NULL;
    struct parser ps = {.fname = fname ? fname : "policy", .err = err, .errlen = errlen};
    if (errlen)
        err[0] = '\0';
    if ((ps.p = vg_calloc(1, sizeof *ps.p)) == NULL) {
        oom(&ps);
        goto done;
    }
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        ps.line++;
        if (n > VG_POLICY_MAX_LINE) {
            fail(&ps, "line too long (more than %u bytes)", (unsigned)VG_POLICY_MAX_LINE);
            goto done;
        }
        if (!parse_line(&ps, text + pos, n))
            goto done;
        pos += n + 1;
    }
    if (!build_index(ps.p)) {
        oom(&ps);
        goto done;
    }
    ret = ps.p;
    ps.p = NULL;
done:
    vg_policy_free(ps.p);
    return ret;
}

struct vg_policy *vg_policy_load(const char *path, char *err, size_t errlen)
{
    struct vg_policy *p = NULL;
    char *text = NULL, *real = NULL;
    size_t len = 0;
    /* an administrator's file: a symlink is fine (vg_file_read alone refuses one) */
    if ((real = realpath(path, NULL)) == NULL ||
        (text = vg_file_read(AT_FDCWD, real, VG_POLICY_MAX_FILE, &len)) == NULL) {
        if (errno == EFBIG)
            snprintf(err, errlen, "%s: larger than %u bytes", path, VG_POLICY_MAX_FILE);
        else if (errno == EINVAL)
            snprintf(err, errlen, "%s: not a regular file", path);
        else
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto done;
    }
    p = vg_policy_parse(text, len, path, err, errlen);
done:
    free(real);
    vg_free(text);
    return p;
}

void vg_policy_free(struct vg_policy *p)
{
    if (p == NULL)
        return;
    for (int k = 0; k < K_NKINDS; k++) {
        vg_free(p->tab[k].slots);
        vg_free(p->tab[k].ids);
    }
    vg_free(p->general);
    vg_free(p->rules);
    vg_free(p->terms);
    vg_free(p->ranges);
    vg_free(p->cidrs);
    vg_free(p->arena);
    vg_free(p);
}

size_t vg_policy_rules(const struct vg_policy *p)
{
    return p->nrules;
}

/* ---- decision ------------------------------------------------------------------------------- */

struct ask {
    const struct vg_subject *s;
    const char *fqdn;
    size_t flen, ulen, vlen;
    uint16_t port;
};

/* Is the group g (n bytes) in the comma list? */
static bool in_groups(const char *list, const char *g, size_t n)
{
    for (const char *s = list; *s;) {
        const char *c = strchr(s, ',');
        size_t l = c ? (size_t)(c - s) : strlen(s);
        if (l == n && memcmp(s, g, n) == 0)
            return true;
        if (!c)
            break;
        s = c + 1;
    }
    return false;
}

static bool rule_match(const struct vg_policy *p, const struct rule *r, const struct ask *a)
{
    if (!r->any_port) {
        const struct range *g = &p->ranges[r->range0];
        uint32_t i = 0;
        while (i < r->nranges && !(a->port >= g[i].lo && a->port <= g[i].hi))
            i++;
        if (i == r->nranges)
            return false;
    }
    const struct vg_subject *s = a->s;
    for (uint32_t i = 0; i < r->nterms; i++) {
        const struct term *t = &p->terms[r->term0 + i];
        const char *str = p->arena + t->off;
        switch (t->kind) {
        case T_USER:
            if (!s->user || a->ulen != t->len || memcmp(s->user, str, t->len) != 0)
                return false;
            break;
        case T_GROUP:
            if (!s->user || !s->groups || !in_groups(s->groups, str, t->len))
                return false;
            break;
        case T_FROM:
            if (!s->client || !vg_cidr_match(&p->cidrs[t->off], s->client))
                return false;
            break;
        case T_VM:
            if (!s->vm || !glob_match(str, t->len, s->vm, a->vlen))
                return false;
            break;
        }
    }
    return glob_match(p->arena + r->glob_off, r->glob_len, a->fqdn, a->flen);
}

static void fill(const struct vg_policy *p, uint32_t best, struct vg_verdict *out)
{
    if (best == UINT32_MAX) {
        *out = (struct vg_verdict){.allow = false};
        snprintf(out->rule, sizeof out->rule, "default deny (no rule matched)");
        return;
    }
    const struct rule *r = &p->rules[best];
    out->allow = r->allow;
    out->line = r->line;
    memcpy(out->rule, p->arena + r->text_off, r->text_len + 1);
    out->idle_timeout = r->idle;
    out->max_duration = r->maxdur;
    out->max_sessions = r->maxsess;
}

static void ask_init(struct ask *a, const struct vg_subject *s, const char *fqdn, uint16_t port)
{
    a->s = s;
    a->fqdn = fqdn ? fqdn : "";
    a->flen = strlen(a->fqdn);
    a->ulen = s->user ? strlen(s->user) : 0;
    a->vlen = s->vm ? strlen(s->vm) : 0;
    a->port = port;
}

static void scan(const struct vg_policy *p, const uint32_t *ids, size_t n, const struct ask *a,
                 uint32_t *best)
{
    for (size_t i = 0; i < n && ids[i] < *best; i++)
        if (rule_match(p, &p->rules[ids[i]], a)) {
            *best = ids[i];
            return;
        }
}

static void scan_key(const struct vg_policy *p, int k, const char *key, size_t len,
                     const struct ask *a, uint32_t *best)
{
    const struct table *t = &p->tab[k];
    if (t->slots == NULL || len == 0)
        return;
    bool fold = key_folds(k);
    const struct slot *s = table_find(t, p->arena, key, len, hash_bytes(key, len, fold), fold);
    if (s->key_len)
        scan(p, t->ids + s->start, s->n, a, best);
}

/* The CIDR rules that can hold for this client: one look-up per prefix length in use (a v4-mapped
 * v6 client, like vg_cidr_match, meets both the v4 and the v6 prefixes). */
static void scan_from(const struct vg_policy *p, const struct sockaddr *sa, const struct ask *a,
                      uint32_t *best)
{
    const uint8_t *v4 = NULL, *v6 = NULL;
    if (sa->sa_family == AF_INET) {
        v4 = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *in6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        v6 = in6->s6_addr;
        if (IN6_IS_ADDR_V4MAPPED(in6))
            v4 = v6 + 12;
    }
    char key[CIDR_KEY_MAX];
    for (unsigned i = 0; v4 && i < p->nplen4; i++)
        scan_key(p, K_FROM, key, cidr_key(AF_INET, p->plen4[i], v4, key), a, best);
    for (unsigned i = 0; v6 && i < p->nplen6; i++)
        scan_key(p, K_FROM, key, cidr_key(AF_INET6, p->plen6[i], v6, key), a, best);
}

void vg_policy_decide(const struct vg_policy *p, const struct vg_subject *s, const char *vm_fqdn,
                      uint16_t port, struct vg_verdict *out)
{
    struct ask a;
    uint32_t best = UINT32_MAX;
    ask_init(&a, s, vm_fqdn, port);
    if (s->user) {
        scan_key(p, K_USER, s->user, a.ulen, &a, &best);
        for (const char *g = s->groups; g && *g;) {
            const char *c = strchr(g, ',');
            size_t l = c ? (size_t)(c - g) : strlen(g);
            scan_key(p, K_GROUP, g, l, &a, &best);
            g += l + (c != NULL);
        }
    }
    if (s->vm)
        scan_key(p, K_ORIGIN, s->vm, a.vlen, &a, &best);
    scan_key(p, K_TARGET, a.fqdn, a.flen, &a, &best);
    if (s->client && p->tab[K_FROM].slots)
        scan_from(p, s->client, &a, &best);
    scan(p, p->general, p->ngeneral, &a, &best);
    fill(p, best, out);
}

void vg_policy_decide_linear(const struct vg_policy *p, const struct vg_subject *s,
                             const char *vm_fqdn, uint16_t port, struct vg_verdict *out)
{
    struct ask a;
    uint32_t best = UINT32_MAX;
    ask_init(&a, s, vm_fqdn, port);
    for (size_t i = 0; i < p->nrules; i++)
        if (rule_match(p, &p->rules[i], &a)) {
            best = (uint32_t)i;
            break;
        }
    fill(p, best, out);
}
