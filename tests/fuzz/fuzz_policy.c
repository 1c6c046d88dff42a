/* Fuzz target: the policy file (common/vg_policy) — what the gateway reads on start, SIGHUP and
 * `vmgatectl reload`.
 *
 * Checked on every input:
 *   - a refusal says "fuzz:LINE: message" with LINE within the input's lines;
 *   - a parsed policy decides the same with its index as with a plain scan of every rule, for
 *     subjects, VM names and ports taken from the input itself (user=, group=, vm= and from=
 *     values, the VM globs with their wildcards filled in, the first port of each rule), so the
 *     exact-name buckets are reached;
 *   - a verdict is sane: line 0 is a deny, a deciding line lies within the input, the rule text
 *     is NUL-terminated and short, deny rules carry no options.
 */
#include "fuzz.h"
#include "vg_addr.h"
#include "vg_policy.h"

#include <stdbool.h>
#include <string.h>

#define MAXC 6 /* candidates of each kind */

struct cands {
    char user[MAXC][64], group[MAXC][64], vm[MAXC][128], name[MAXC][128];
    struct sockaddr_storage client[MAXC];
    uint16_t port[MAXC];
    int nuser, ngroup, nvm, nname, nclient, nport;
};

static void add(char (*arr)[128], int *n, int width, const char *s, size_t len, bool fill)
{
    if (*n >= MAXC || len == 0 || len >= (size_t)width)
        return;
    char *d = (char *)arr + (size_t)*n * 128;
    for (size_t i = 0; i < len; i++)
        d[i] = fill && s[i] == '*' ? 'x' : fill && s[i] == '?' ? 'q' : s[i];
    d[len] = '\0';
    (*n)++;
}

static void add_small(char (*arr)[64], int *n, const char *s, size_t len)
{
    if (*n >= MAXC || len == 0 || len >= 64)
        return;
    memcpy(arr[*n], s, len);
    arr[*n][len] = '\0';
    (*n)++;
}

/* Crude split of the input, good enough to find the names a rule mentions. */
static void collect(const char *t, size_t len, struct cands *c)
{
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(t + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - t) : len;
        int field = 0;
        for (size_t i = pos; i < end;) {
            while (i < end && (t[i] == ' ' || t[i] == '\t'))
                i++;
            size_t b = i;
            while (i < end && t[i] != ' ' && t[i] != '\t')
                i++;
            if (i == b)
                break;
            const char *f = t + b;
            size_t n = i - b;
            if (field == 1) {
                for (size_t s = 0; s < n;) {
                    const char *comma = memchr(f + s, ',', n - s);
                    size_t e = comma ? (size_t)(comma - f) : n;
                    const char *term = f + s;
                    size_t tl = e - s;
                    if (tl > 5 && memcmp(term, "user=", 5) == 0)
                        add_small(c->user, &c->nuser, term + 5, tl - 5);
                    else if (tl > 6 && memcmp(term, "group=", 6) == 0)
                        add_small(c->group, &c->ngroup, term + 6, tl - 6);
                    else if (tl > 3 && memcmp(term, "vm=", 3) == 0)
                        add(c->vm, &c->nvm, 128, term + 3, tl - 3, true);
                    else if (tl > 5 && memcmp(term, "from=", 5) == 0 && c->nclient < MAXC &&
                             tl - 5 < 64) {
                        char a[64];
                        memcpy(a, term + 5, tl - 5);
                        a[tl - 5] = '\0';
                        char *slash = strchr(a, '/');
                        if (slash)
                            *slash = '\0';
                        socklen_t sl;
                        char br[80];
                        snprintf(br, sizeof br, strchr(a, ':') ? "[%s]" : "%s", a);
                        if (vg_sockaddr_parse(br, 1, &c->client[c->nclient], &sl))
                            c->nclient++;
                        /* the same v4 address as a v4-mapped v6 client */
                        snprintf(br, sizeof br, "[::ffff:%s]", a);
                        if (!strchr(a, ':') && c->nclient < MAXC &&
                            vg_sockaddr_parse(br, 1, &c->client[c->nclient], &sl))
                            c->nclient++;
                    }
                    s = e + 1;
                }
            } else if (field == 2) {
                add(c->name, &c->nname, 128, f, n, true);
            } else if (field == 3 && c->nport < MAXC) {
                unsigned long v = 0;
                for (size_t k = 0; k < n && f[k] >= '0' && f[k] <= '9' && v < 70000; k++)
                    v = v * 10 + (unsigned long)(f[k] - '0');
                c->port[c->nport++] = (uint16_t)v;
            }
            field++;
        }
        pos = end + 1;
    }
}

static void check(const struct vg_policy *p, const struct vg_subject *s, const char *vm,
                  uint16_t port, unsigned lines)
{
    struct vg_verdict a, b;
    vg_policy_decide(p, s, vm, port, &a);
    vg_policy_decide_linear(p, s, vm, port, &b);
    FUZZ_CHECK(a.allow == b.allow && a.line == b.line && strcmp(a.rule, b.rule) == 0);
    FUZZ_CHECK(a.idle_timeout == b.idle_timeout && a.max_duration == b.max_duration &&
               a.max_sessions == b.max_sessions);
    FUZZ_CHECK(a.line <= lines);
    FUZZ_CHECK(a.line != 0 || !a.allow);
    FUZZ_CHECK(memchr(a.rule, '\0', sizeof a.rule) != NULL);
    FUZZ_CHECK(a.allow || (a.idle_timeout == 0 && a.max_duration == 0 && a.max_sessions == 0));
    FUZZ_CHECK(a.idle_timeout <= VG_POLICY_MAX_SECONDS && a.max_duration <= VG_POLICY_MAX_SECONDS &&
               a.max_sessions <= VG_POLICY_MAX_SESSIONS);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    const char *text = (const char *)data;
    unsigned lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += text[i] == '\n';
    char err[512];
    struct vg_policy *p = vg_policy_parse(text, size, "fuzz", err, sizeof err);
    if (p == NULL) {
        unsigned line = 0;
        if (strcmp(err, "fuzz: out of memory") != 0) {
            FUZZ_CHECK(strncmp(err, "fuzz:", 5) == 0);
            for (const char *e = err + 5; *e >= '0' && *e <= '9'; e++)
                line = line * 10 + (unsigned)(*e - '0');
            FUZZ_CHECK(line >= 1 && line <= lines);
        }
        return 0;
    }
    FUZZ_CHECK(vg_policy_rules(p) <= lines);

    static struct cands c;
    memset(&c, 0, sizeof c);
    collect(text, size, &c);
    static const char *const fixed_groups[] = {NULL, "ops", "ops,dev"};
    const char *names[MAXC + 2] = {"", "web1.vm.example.com"};
    int nnames = 2;
    for (int i = 0; i < c.nname; i++)
        names[nnames++] = c.name[i];
    uint16_t ports[MAXC + 2] = {0, 22};
    int nports = 2;
    for (int i = 0; i < c.nport; i++)
        ports[nports++] = c.port[i];

    /* subjects: each candidate user (and anonymous) with a group list, client and origin VM */
    char grouplist[MAXC * 65] = "";
    for (int i = 0; i < c.ngroup; i++) {
        if (i)
            strcat(grouplist, ",");
        strcat(grouplist, c.group[i]);
    }
    for (int u = -1; u < c.nuser; u++) {
        for (int g = 0; g < 4; g++) {
            struct vg_subject s = {
                .user = u < 0 ? (g & 1 ? "alice" : NULL) : c.user[u],
                .groups = g == 3 ? grouplist : fixed_groups[g % 3],
                .client =
                    c.nclient ? (const struct sockaddr *)&c.client[(u + g + 1) % c.nclient] : NULL,
                .vm = c.nvm && (g & 1) ? c.vm[(u + 1) % c.nvm] : NULL,
            };
            for (int n = 0; n < nnames; n++)
                for (int k = 0; k < nports; k++)
                    check(p, &s, names[n], ports[k], lines);
        }
    }
    /* a guest subject per origin-VM candidate */
    for (int v = 0; v < c.nvm; v++) {
        struct vg_subject s = {.vm = c.vm[v]};
        for (int n = 0; n < nnames; n++)
            check(p, &s, names[n], ports[n % nports], lines);
    }
    vg_policy_free(p);
    return 0;
}
