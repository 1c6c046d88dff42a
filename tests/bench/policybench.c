/* policybench — nanoseconds per access decision of the policy engine (common/vg_policy.h) on
 * generated policies of N rules (default 10,000), one line per scenario.  Not a test: it judges
 * nothing (the unit tests and fuzz_policy check that the answers are right).
 *
 *   policybench [--rules N] [--decisions D]
 *
 * Scenarios (the deciding rule is always the LAST line, the worst place for first-match):
 *   users     N-1 rules for other users, then the one for the asking user
 *   mix       40% user=, 20% group= (200 groups), 20% from= (/24 and /16), 10% exact VM names,
 *             10% vm= guest rules; the deciding rule is a group rule at the end
 *   miss      the mix, asked by a user and client no rule names: every list is looked at, the
 *             answer is the default deny
 *   guest     the mix, asked for a guest-opened stream (vm=, no client, no user)
 *   general   N rules with nothing to index ("any" on wildcard globs): the plain scan the index
 *             cannot avoid, shown for scale
 *   linear    the mix decided by vg_policy_decide_linear (no index), for comparison
 * Also prints the parse time of each policy.  Times are this thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID), so other programs on a shared machine do not inflate them.
 */
#include "vg_policy.h"
#include <time.h>

#include <arpa/inet.h>
#include <stdarg.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct buf {
    char *s;
    size_t len, cap;
};

static void add(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap ? b->cap * 2 : 1 << 20;
        if ((b->s = realloc(b->s, b->cap)) == NULL) {
            perror("policybench");
            exit(1);
        }
    }
}

/* CPU time of this thread: other programs sharing the machine do not inflate the figures. */
static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct vg_policy *build(struct buf *b, const char *what)
{
    char err[256];
    uint64_t t0 = cpu_ns();
    struct vg_policy *p = vg_policy_parse(b->s, b->len, what, err, sizeof err);
    uint64_t t1 = cpu_ns();
    if (p == NULL) {
        fprintf(stderr, "policybench: %s\n", err);
        exit(1);
    }
    printf("%-8s parse  %zu rules, %zu bytes: %.2f ms\n", what, vg_policy_rules(p), b->len,
           (double)(t1 - t0) / 1e6);
    return p;
}

static void mix(struct buf *b, unsigned n)
{
    for (unsigned i = 0; i + 1 < n; i++) {
        unsigned k = i % 10;
        if (k < 4)
            add(b, "allow user=u%u web*.vm.test 22,80,443\n", i);
        else if (k < 6)
            add(b, "allow group=g%u *.vm.test 22 idle-timeout=600\n", i % 200);
        else if (k == 6)
            add(b, "allow from=10.%u.%u.0/24 build?.vm.test 8000-8100\n", (i / 256) % 256, i % 256);
        else if (k == 7)
            add(b, "deny from=172.%u.0.0/16 * *\n", 16 + i % 16);
        else if (k == 8)
            add(b, "allow any host%u.vm.test 22\n", i);
        else
            add(b, "allow vm=guest%u.vm.test db.vm.test 5432\n", i);
    }
    add(b, "allow group=ops *.vm.test 22 max-sessions=20\n");
}

static double run(const struct vg_policy *p, const struct vg_subject *s, const char *vm,
                  uint16_t port, unsigned long d, bool linear, struct vg_verdict *v)
{
    uint64_t t0 = cpu_ns();
    for (unsigned long i = 0; i < d; i++) {
        if (linear)
            vg_policy_decide_linear(p, s, vm, port, v);
        else
            vg_policy_decide(p, s, vm, port, v);
        __asm__ volatile("" : : "r"(v) : "memory");
    }
    return (double)(cpu_ns() - t0) / (double)d;
}

static void report(const char *what, const struct vg_policy *p, const struct vg_subject *s,
                   const char *vm, uint16_t port, unsigned long d, bool linear)
{
    struct vg_verdict v;
    run(p, s, vm, port, d / 10 + 1, linear, &v); /* warm up */
    double ns = run(p, s, vm, port, d, linear, &v);
    printf("%-8s decide %8.1f ns   -> %s line %u: %s\n", what, ns, v.allow ? "allow" : "deny",
           v.line, v.rule);
}

int main(int argc, char **argv)
{
    unsigned rules = 10000;
    unsigned long decisions = 2000000;
    static const struct option opts[] = {{"rules", required_argument, NULL, 'n'},
                                         {"decisions", required_argument, NULL, 'd'},
                                         {NULL, 0, NULL, 0}};
    for (int c; (c = getopt_long(argc, argv, "n:d:", opts, NULL)) != -1;) {
        if (c == 'n')
            rules = (unsigned)strtoul(optarg, NULL, 10);
        else if (c == 'd')
            decisions = strtoul(optarg, NULL, 10);
        else
            return 2;
    }
    if (rules < 10 || rules > VG_POLICY_MAX_RULES || decisions == 0) {
        fprintf(stderr, "policybench: --rules 10..%u, --decisions > 0\n", VG_POLICY_MAX_RULES);
        return 2;
    }
    struct sockaddr_in cl = {.sin_family = AF_INET}, other = {.sin_family = AF_INET};
    inet_pton(AF_INET, "10.200.3.4", &cl.sin_addr);
    inet_pton(AF_INET, "203.0.113.9", &other.sin_addr);

    struct buf b = {0};
    for (unsigned i = 0; i + 1 < rules; i++)
        add(&b, "allow user=u%u web*.vm.test 22,80,443\n", i);
    add(&b, "allow user=alice web*.vm.test 22,80,443\n");
    struct vg_policy *users = build(&b, "users");
    struct vg_subject alice = {
        .user = "alice", .groups = "dev,ops", .client = (struct sockaddr *)&cl};
    report("users", users, &alice, "web1.vm.test", 443, decisions, false);

    b.len = 0;
    mix(&b, rules);
    struct vg_policy *m = build(&b, "mix");
    report("mix", m, &alice, "web1.vm.test", 22, decisions, false);
    struct vg_subject stranger = {
        .user = "zed", .groups = "nobody", .client = (struct sockaddr *)&other};
    report("miss", m, &stranger, "web1.vm.test", 22, decisions, false);
    struct vg_subject guest = {.vm = "guest9.vm.test"};
    report("guest", m, &guest, "db.vm.test", 5432, decisions, false);

    b.len = 0;
    for (unsigned i = 0; i < rules; i++)
        add(&b, "allow any web%u*.vm.test 22\n", i);
    struct vg_policy *g = build(&b, "general");
    report("general", g, &alice, "db.vm.test", 22, decisions / 1000 + 1, false);
    report("linear", m, &alice, "web1.vm.test", 22, decisions / 1000 + 1, true);

    vg_policy_free(users);
    vg_policy_free(m);
    vg_policy_free(g);
    free(b.s);
    return 0;
}
