/* The access policy (common/vg_policy): file syntax, matching, first-match order, errors with
 * their line, and the index against a plain scan over random policies. */
#include "vg_addr.h"
#include "vg_alloc.h"
#include "vg_policy.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct vg_policy *parse(const char *text)
{
    char err[256];
    struct vg_policy *p = vg_policy_parse(text, strlen(text), "pol", err, sizeof err);
    cr_assert_not_null(p, "%s", err);
    return p;
}

static struct sockaddr_storage addr_store[4];
static const struct sockaddr *addr(int slot, const char *s)
{
    socklen_t len;
    cr_assert(vg_sockaddr_parse(s, 1, &addr_store[slot], &len), "%s", s);
    return (const struct sockaddr *)&addr_store[slot];
}

/* Decide with the index and by a plain scan; they must agree in every field. */
static struct vg_verdict decide(const struct vg_policy *p, const struct vg_subject *s,
                                const char *vm, uint16_t port)
{
    struct vg_verdict v, w;
    vg_policy_decide(p, s, vm, port, &v);
    vg_policy_decide_linear(p, s, vm, port, &w);
    cr_assert(v.allow == w.allow && v.line == w.line && strcmp(v.rule, w.rule) == 0 &&
                  v.idle_timeout == w.idle_timeout && v.max_duration == w.max_duration &&
                  v.max_sessions == w.max_sessions,
              "index (line %u) and scan (line %u) disagree for %s:%u", v.line, w.line, vm, port);
    return v;
}

static unsigned line_of(const struct vg_policy *p, const struct vg_subject *s, const char *vm,
                        uint16_t port)
{
    struct vg_verdict v = decide(p, s, vm, port);
    return v.allow ? v.line : (v.line ? 1000 + v.line : 0); /* deny rules: 1000 + line */
}

static const char *example =
    "# verdict  who                  VM (glob on the FQDN)      ports        options\n"
    "allow      user=alice           web*.vm.example.com        22,80,443\n"
    "allow      group=ops            *.vm.example.com           *            idle-timeout=600 "
    "max-sessions=20\n"
    "allow      from=10.1.0.0/16     build?.vm.example.com      8000-8100    max-duration=3600\n"
    "deny       any                  *                          *\n";

Test(policy, issue_example)
{
    struct vg_policy *p = parse(example);
    cr_assert_eq(vg_policy_rules(p), 4);
    struct vg_subject alice = {.user = "alice", .client = addr(0, "192.0.2.1")};
    struct vg_verdict v = decide(p, &alice, "web1.vm.example.com", 443);
    cr_assert(v.allow);
    cr_assert_eq(v.line, 2);
    cr_assert_str_eq(v.rule, "allow user=alice web*.vm.example.com 22,80,443");
    cr_assert_eq(v.idle_timeout + v.max_duration + v.max_sessions, 0);
    v = decide(p, &alice, "web1.vm.example.com", 8080);
    cr_assert(!v.allow);
    cr_assert_eq(v.line, 5);
    cr_assert_str_eq(v.rule, "deny any * *");

    struct vg_subject bob = {.user = "bob", .groups = "dev,ops", .client = addr(0, "192.0.2.1")};
    v = decide(p, &bob, "db.vm.example.com", 5432);
    cr_assert(v.allow);
    cr_assert_eq(v.line, 3);
    cr_assert_eq(v.idle_timeout, 600);
    cr_assert_eq(v.max_sessions, 20);
    cr_assert_eq(v.max_duration, 0);
    cr_assert_str_eq(v.rule, "allow group=ops *.vm.example.com * idle-timeout=600 max-sessions=20");
    cr_assert(!decide(p, &bob, "db.other.example.com", 5432).allow);

    struct vg_subject ci = {.client = addr(0, "10.1.2.3")};
    v = decide(p, &ci, "build7.vm.example.com", 8100);
    cr_assert(v.allow);
    cr_assert_eq(v.line, 4);
    cr_assert_eq(v.max_duration, 3600);
    cr_assert_eq(line_of(p, &ci, "build7.vm.example.com", 8101), 1005);
    cr_assert_eq(line_of(p, &ci, "build17.vm.example.com", 8000), 1005, "? is one character");
    cr_assert_eq(line_of(p, &ci, "build7.vm.example.com", 7999), 1005);
    vg_policy_free(p);
}

Test(policy, first_match_wins_and_no_match_denies)
{
    struct vg_policy *p = parse("deny user=alice db.vm.test 5432\n"
                                "allow user=alice *.vm.test *\n"
                                "allow any db.vm.test *\n"
                                "deny any *.vm.test 22\n"
                                "allow any * 22\n");
    struct vg_subject alice = {.user = "alice"}, bob = {.user = "bob"};
    cr_assert_eq(line_of(p, &alice, "db.vm.test", 5432), 1001);
    cr_assert_eq(line_of(p, &alice, "db.vm.test", 5433), 2);
    cr_assert_eq(line_of(p, &bob, "db.vm.test", 5432), 3);
    cr_assert_eq(line_of(p, &bob, "web.vm.test", 22), 1004);
    cr_assert_eq(line_of(p, &bob, "host.example.org", 22), 5);
    struct vg_verdict v = decide(p, &bob, "host.example.org", 80);
    cr_assert(!v.allow);
    cr_assert_eq(v.line, 0);
    cr_assert_str_eq(v.rule, "default deny (no rule matched)");
    vg_policy_free(p);

    p = parse("# only comments\n\n   \t\n");
    cr_assert_eq(vg_policy_rules(p), 0);
    cr_assert_eq(line_of(p, &alice, "db.vm.test", 22), 0, "an empty policy denies everything");
    vg_policy_free(p);
}

Test(policy, each_term)
{
    struct vg_policy *p = parse("allow user=alice a.vm.test *\n"
                                "allow group=ops b.vm.test *\n"
                                "allow from=10.0.0.0/8 c.vm.test *\n"
                                "allow from=fd00::/8 c.vm.test *\n"
                                "allow vm=web1.vm.test d.vm.test *\n"
                                "allow vm=build*.vm.test e.vm.test *\n"
                                "allow any f.vm.test *\n");
    struct vg_subject alice = {.user = "alice"}, Alice = {.user = "Alice"};
    struct vg_subject ops = {.user = "carol", .groups = "dev,ops"};
    struct vg_subject opsx = {.user = "carol", .groups = "dev,opsx,op"};
    cr_assert_eq(line_of(p, &alice, "a.vm.test", 1), 1);
    cr_assert_eq(line_of(p, &Alice, "a.vm.test", 1), 0, "user names are case-sensitive");
    cr_assert_eq(line_of(p, &ops, "b.vm.test", 1), 2);
    cr_assert_eq(line_of(p, &opsx, "b.vm.test", 1), 0, "whole group names only");
    cr_assert_eq(line_of(p, &alice, "b.vm.test", 1), 0);

    struct vg_subject v4 = {.client = addr(0, "10.9.8.7")};
    struct vg_subject mapped = {.client = addr(1, "[::ffff:10.9.8.7]")};
    struct vg_subject v6 = {.client = addr(2, "[fd12::1]")};
    struct vg_subject out = {.client = addr(3, "[2001:db8::1]")};
    cr_assert_eq(line_of(p, &v4, "c.vm.test", 1), 3);
    cr_assert_eq(line_of(p, &mapped, "c.vm.test", 1), 3, "v4-mapped v6 matches a v4 CIDR");
    cr_assert_eq(line_of(p, &v6, "c.vm.test", 1), 4);
    cr_assert_eq(line_of(p, &out, "c.vm.test", 1), 0);

    struct vg_subject web1 = {.vm = "web1.vm.test"}, build3 = {.vm = "build3.vm.test"};
    cr_assert_eq(line_of(p, &web1, "d.vm.test", 1), 5);
    cr_assert_eq(line_of(p, &build3, "d.vm.test", 1), 0);
    cr_assert_eq(line_of(p, &build3, "e.vm.test", 1), 6);
    cr_assert_eq(line_of(p, &web1, "e.vm.test", 1), 0);
    cr_assert_eq(line_of(p, &alice, "d.vm.test", 1), 0, "vm= needs a guest subject");
    cr_assert_eq(line_of(p, &web1, "f.vm.test", 1), 7);
    vg_policy_free(p);
}

Test(policy, several_terms_must_all_hold)
{
    struct vg_policy *p = parse("allow user=alice,from=10.0.0.0/8 *.vm.test 22\n"
                                "allow group=ops,group=dba,from=192.0.2.0/24 db.vm.test 5432\n"
                                "allow vm=web?.vm.test,from=0.0.0.0/0 *.vm.test 80\n");
    struct vg_subject a_in = {.user = "alice", .client = addr(0, "10.0.0.1")};
    struct vg_subject a_out = {.user = "alice", .client = addr(1, "11.0.0.1")};
    cr_assert_eq(line_of(p, &a_in, "x.vm.test", 22), 1);
    cr_assert_eq(line_of(p, &a_out, "x.vm.test", 22), 0);
    struct vg_subject both = {.user = "u", .groups = "dba,ops", .client = addr(2, "192.0.2.9")};
    struct vg_subject one = {.user = "u", .groups = "ops", .client = addr(3, "192.0.2.9")};
    cr_assert_eq(line_of(p, &both, "db.vm.test", 5432), 2);
    cr_assert_eq(line_of(p, &one, "db.vm.test", 5432), 0);
    struct vg_subject guest = {.vm = "web1.vm.test"};
    cr_assert_eq(line_of(p, &guest, "db.vm.test", 80), 0, "guest stream: no client address");
    vg_policy_free(p);
}

Test(policy, anonymous_and_guest_subjects)
{
    struct vg_policy *p = parse("allow user=alice * *\n"
                                "allow group=ops * *\n"
                                "allow vm=web1.vm.test * 80\n"
                                "allow from=198.51.100.0/24 * 443\n"
                                "allow any * 8080\n");
    /* no user: the groups are ignored, user= and group= never hold */
    struct vg_subject anon = {.groups = "ops", .client = addr(0, "198.51.100.7")};
    cr_assert_eq(line_of(p, &anon, "x.vm.test", 22), 0);
    cr_assert_eq(line_of(p, &anon, "x.vm.test", 80), 0);
    cr_assert_eq(line_of(p, &anon, "x.vm.test", 443), 4);
    cr_assert_eq(line_of(p, &anon, "x.vm.test", 8080), 5);
    struct vg_subject guest = {.vm = "web1.vm.test"};
    cr_assert_eq(line_of(p, &guest, "db.vm.test", 80), 3);
    cr_assert_eq(line_of(p, &guest, "db.vm.test", 443), 0, "from= needs a client address");
    cr_assert_eq(line_of(p, &guest, "db.vm.test", 8080), 5);
    struct vg_subject nobody = {0};
    cr_assert_eq(line_of(p, &nobody, NULL, 8080), 5, "NULL VM counts as \"\"");
    vg_policy_free(p);
}

Test(policy, ports)
{
    struct vg_policy *p = parse("allow any a * \n"
                                "allow any b 1,65535\n"
                                "allow any c 1-1,10-20,65534-65535\n"
                                "allow any d 1-65535\n");
    struct vg_subject s = {0};
    cr_assert_eq(line_of(p, &s, "a", 0), 1, "'*' matches even port 0");
    cr_assert_eq(line_of(p, &s, "a", 65535), 1);
    cr_assert_eq(line_of(p, &s, "b", 1), 2);
    cr_assert_eq(line_of(p, &s, "b", 65535), 2);
    cr_assert_eq(line_of(p, &s, "b", 2), 0);
    cr_assert_eq(line_of(p, &s, "b", 0), 0);
    cr_assert_eq(line_of(p, &s, "c", 1), 3);
    cr_assert_eq(line_of(p, &s, "c", 2), 0);
    cr_assert_eq(line_of(p, &s, "c", 9), 0);
    cr_assert_eq(line_of(p, &s, "c", 10), 3);
    cr_assert_eq(line_of(p, &s, "c", 20), 3);
    cr_assert_eq(line_of(p, &s, "c", 21), 0);
    cr_assert_eq(line_of(p, &s, "c", 65534), 3);
    cr_assert_eq(line_of(p, &s, "d", 0), 0);
    cr_assert_eq(line_of(p, &s, "d", 40000), 4);
    vg_policy_free(p);
}

Test(policy, globs)
{
    const struct {
        const char *glob, *name;
        bool match;
    } cases[] = {
        {"*", "", true},
        {"*", "a.b.c", true},
        {"*.vm.test", "web.vm.test", true},
        {"*.vm.test", "a.b.vm.test", true}, /* '*' crosses dots */
        {"*.vm.test", "vm.test", false},
        {"web*", "web", true},
        {"web*.vm.test", "web12.vm.test", true},
        {"web?.vm.test", "web.vm.test", false},
        {"?", "", false},
        {"a*b*c", "aXbYbZc", true},
        {"a*b*c", "aXbYbZ", false},
        {"*a", "aaaa", true},
        {"**x**", "x", true},
        {"web1.vm.test", "WEB1.vm.test", true}, /* case-insensitive */
        {"web1.vm.test", "web1.vm.test2", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_assert_eq(vg_policy_glob_match(cases[i].glob, cases[i].name), cases[i].match, "%s ~ %s",
                     cases[i].glob, cases[i].name);
    /* globs are lower-cased when read; the exact-name index folds case too */
    struct vg_policy *p = parse("allow any Web1.VM.Test 22\nallow any WEB*.vm.test 80\n");
    struct vg_subject s = {0};
    cr_assert_eq(line_of(p, &s, "web1.vm.test", 22), 1);
    cr_assert_eq(line_of(p, &s, "Web1.vm.test", 22), 1);
    cr_assert_eq(line_of(p, &s, "web9.vm.test", 80), 2);
    struct vg_verdict v = decide(p, &s, "web1.vm.test", 22);
    cr_assert_str_eq(v.rule, "allow any web1.vm.test 22");
    vg_policy_free(p);
}

Test(policy, rule_text_is_normalised_and_bounded)
{
    char text[600];
    char user[300];
    memset(user, 'u', sizeof user - 1);
    user[sizeof user - 1] = '\0';
    snprintf(text, sizeof text, "\t allow \t user=%s   *   22,23 # comment\r\n", user);
    struct vg_policy *p = parse(text);
    struct vg_subject s = {.user = user};
    struct vg_verdict v = decide(p, &s, "x", 22);
    cr_assert(v.allow);
    cr_assert_eq(strlen(v.rule), VG_POLICY_RULE_TEXT - 1);
    cr_assert(strncmp(v.rule, "allow user=uuu", 14) == 0);
    cr_assert_str_eq(v.rule + VG_POLICY_RULE_TEXT - 4, "...");
    vg_policy_free(p);

    p = parse("allow any * * max-sessions=3 idle-timeout=1 max-duration=2\n");
    v = decide(p, &s, "x", 1);
    cr_assert(v.idle_timeout == 1 && v.max_duration == 2 && v.max_sessions == 3);
    vg_policy_free(p);

    /* no final newline, CRLF lines */
    p = parse("deny any a *\r\nallow any * *");
    cr_assert_eq(vg_policy_rules(p), 2);
    cr_assert_eq(line_of(p, &s, "b", 1), 2);
    vg_policy_free(p);
}

Test(policy, errors_name_the_line)
{
    const struct {
        const char *text, *msg;
    } bad[] = {
        {"allow any * *\npermit any * *\n", "f:2: unknown verdict 'permit' (allow or deny)"},
        {"Allow any * *\n", "f:1: unknown verdict 'Allow' (allow or deny)"},
        {"\n\nallow any *\n", "f:3: expected: verdict who VM ports [options]"},
        {"allow nobody * *\n", "f:1: unknown term 'nobody' (user= group= from= vm= any)"},
        {"allow uid=3 * *\n", "f:1: unknown term 'uid=3' (user= group= from= vm= any)"},
        {"allow any,user=a * *\n", "f:1: 'any' cannot be combined with other terms"},
        {"allow user=a,any * *\n", "f:1: 'any' cannot be combined with other terms"},
        {"allow user=a,,from=1.2.3.4 * *\n", "f:1: empty term in 'user=a,,from=1.2.3.4'"},
        {"allow user=a, * *\n", "f:1: empty term in 'user=a,'"},
        {"allow user= * *\n", "f:1: empty name in 'user='"},
        {"allow group= * *\n", "f:1: empty name in 'group='"},
        {"allow user=a:b * *\n", "f:1: bad name in 'user=a:b': ':'"},
        {"allow user=a,user=b * *\n", "f:1: user= given twice"},
        {"allow vm=a,vm=b * *\n", "f:1: vm= given twice"},
        {"allow from=10.0.0.0/33 * *\n", "f:1: bad CIDR '10.0.0.0/33'"},
        {"allow from=10.0.0 * *\n", "f:1: bad CIDR '10.0.0'"},
        {"allow from= * *\n", "f:1: bad CIDR ''"},
        {"allow from=fd00::/129 * *\n", "f:1: bad CIDR 'fd00::/129'"},
        {"allow vm=web/1 * *\n", "f:1: bad origin VM glob 'web/1': character '/' (letters, "
                                 "digits, - _ . * ?)"},
        {"allow any web..vm * *\n", "f:1: bad VM glob 'web..vm': empty label"},
        {"allow any web.vm. *\n", "f:1: bad VM glob 'web.vm.': empty label"},
        {"allow any .vm *\n", "f:1: bad VM glob '.vm': empty label"},
        {"allow any [a].vm *\n",
         "f:1: bad VM glob '[a].vm': character '[' (letters, digits, - _ . * ?)"},
        {"allow any * 0\n", "f:1: bad port '0' (1..65535 or *)"},
        {"allow any * 65536\n", "f:1: bad port '65536' (1..65535 or *)"},
        {"allow any * 22x\n", "f:1: bad port '22x' (1..65535 or *)"},
        {"allow any * **\n", "f:1: bad port '**' (1..65535 or *)"},
        {"allow any * 22,*\n", "f:1: bad port '*' (1..65535 or *)"},
        {"allow any * 22,,80\n", "f:1: empty port in '22,,80'"},
        {"allow any * 80-22\n", "f:1: bad port range '80-22' (A-B, 1 <= A <= B <= 65535)"},
        {"allow any * 1-2-3\n", "f:1: bad port range '1-2-3' (A-B, 1 <= A <= B <= 65535)"},
        {"allow any * -5\n", "f:1: bad port range '-5' (A-B, 1 <= A <= B <= 65535)"},
        {"allow any * * timeout=5\n",
         "f:1: unknown option 'timeout=5' (idle-timeout= max-duration= max-sessions=)"},
        {"allow any * * idle-timeout=5 idle-timeout=6\n", "f:1: duplicate option 'idle-timeout'"},
        {"allow any * * max-sessions=0\n", "f:1: bad value for max-sessions: '0' (1..1000000)"},
        {"allow any * * max-duration=31536001\n",
         "f:1: bad value for max-duration: '31536001' (1..31536000)"},
        {"allow any * * idle-timeout\n", "f:1: bad value for idle-timeout: '' (1..31536000)"},
        {"deny any * * max-sessions=3\n",
         "f:1: option 'max-sessions' on a deny rule (options apply to allow rules)"},
        {"allow any * * idle-timeout=1 max-duration=2 max-sessions=3 x\n",
         "f:1: too many fields (verdict who VM ports, then at most 3 options)"},
        {"allow any * *\n\x01\n", "f:2: control character 0x01"},
    };
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_null(vg_policy_parse(bad[i].text, strlen(bad[i].text), "f", err, sizeof err),
                       "accepted %s", bad[i].text);
        cr_assert_str_eq(err, bad[i].msg);
    }
    cr_assert_null(vg_policy_parse("allow any * *\nallow\0 any * *\n", 28, "f", err, sizeof err));
    cr_assert_str_eq(err, "f:2: NUL octet");
    cr_assert_null(vg_policy_parse("nope\n", 5, NULL, err, sizeof err));
    cr_assert_str_eq(err, "policy:1: unknown verdict 'nope' (allow or deny)");
}

Test(policy, bounds)
{
    char err[256];
    size_t n = VG_POLICY_MAX_LINE + 1;
    char *line = malloc(n + 2);
    memset(line, ' ', n);
    memcpy(line, "#", 1);
    line[n] = '\n';
    cr_assert_null(vg_policy_parse(line, n + 1, "f", err, sizeof err));
    cr_assert_str_eq(err, "f:1: line too long (more than 4096 bytes)");
    struct vg_policy *p = vg_policy_parse(line + 1, n, "f", err, sizeof err); /* 4096 + '\n' */
    cr_assert_not_null(p, "%s", err);
    vg_policy_free(p);
    free(line);

    const char *rule = "deny any * *\n";
    size_t rl = strlen(rule), max = VG_POLICY_MAX_RULES;
    char *text = malloc((max + 1) * rl);
    for (size_t i = 0; i <= max; i++)
        memcpy(text + i * rl, rule, rl);
    p = vg_policy_parse(text, max * rl, "f", err, sizeof err);
    cr_assert_not_null(p, "%s", err);
    cr_assert_eq(vg_policy_rules(p), max);
    vg_policy_free(p);
    cr_assert_null(vg_policy_parse(text, (max + 1) * rl, "f", err, sizeof err));
    cr_assert_str_eq(err, "f:1000001: too many rules (at most 1000000)");
    free(text);
}

Test(policy, load_from_file)
{
    char dir[] = "/tmp/vgpolicyXXXXXX", path[128], link[128], big[128];
    char err[256];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/policy", dir);
    snprintf(link, sizeof link, "%s/link", dir);
    snprintf(big, sizeof big, "%s/big", dir);
    cr_assert_null(vg_policy_load(path, err, sizeof err));
    cr_assert(strstr(err, "No such file"), "%s", err);
    FILE *f = fopen(path, "w");
    fputs("allow any * 22\nallow bad * *\n", f);
    fclose(f);
    cr_assert_null(vg_policy_load(path, err, sizeof err));
    char want[200];
    snprintf(want, sizeof want, "%s:2: unknown term 'bad' (user= group= from= vm= any)", path);
    cr_assert_str_eq(err, want);
    f = fopen(path, "w");
    fputs("allow any * 22\n", f);
    fclose(f);
    cr_assert_eq(symlink(path, link), 0);
    struct vg_policy *p = vg_policy_load(link, err, sizeof err);
    cr_assert_not_null(p, "%s", err);
    cr_assert_eq(vg_policy_rules(p), 1);
    vg_policy_free(p);
    f = fopen(big, "w");
    cr_assert_eq(ftruncate(fileno(f), VG_POLICY_MAX_FILE + 1), 0);
    fclose(f);
    cr_assert_null(vg_policy_load(big, err, sizeof err));
    snprintf(want, sizeof want, "%s: larger than %u bytes", big, VG_POLICY_MAX_FILE);
    cr_assert_str_eq(err, want);
    cr_assert_null(vg_policy_load(dir, err, sizeof err));
    cr_assert(strstr(err, "not a regular file"), "%s", err);
    unlink(big);
    unlink(link);
    unlink(path);
    rmdir(dir);
}

Test(policy, allocation_failures_are_reported)
{
    char err[256];
    for (unsigned long n = 1;; n++) {
        vg_alloc_fail_at(n);
        struct vg_policy *p = vg_policy_parse(example, strlen(example), "f", err, sizeof err);
        vg_alloc_fail_at(0);
        if (p) {
            cr_assert_gt(n, 3);
            vg_policy_free(p);
            break;
        }
        cr_assert_str_eq(err, "f: out of memory");
    }
}

/* ---- the index against a plain scan, over random policies ------------------------------------ */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static const char *const users[] = {"alice", "bob", "carol", "dave"};
static const char *const groups[] = {"ops", "dev", "dba"};
static const char *const vms[] = {"web1.vm.test", "web2.vm.test", "db.vm.test", "build3.vm.test",
                                  "x.other.test"};
static const char *const globs[] = {"*",
                                    "*.vm.test",
                                    "web?.vm.test",
                                    "web*",
                                    "db.vm.test",
                                    "WEB1.vm.test",
                                    "build3.vm.test",
                                    "*.other.test",
                                    "x.other.test",
                                    "?b.vm.test"};
static const char *const cidrs[] = {"10.0.0.0/8", "10.1.0.0/16", "192.0.2.0/24", "fd00::/8",
                                    "0.0.0.0/0"};
static const char *const clients[] = {"10.1.2.3",  "10.200.0.1",        "192.0.2.5",
                                      "[fd00::5]", "[::ffff:10.1.2.3]", "203.0.113.1"};
static const char *const ports[] = {"*", "22", "22,80", "80-90", "1-65535", "443,8000-8100"};
static const uint16_t test_ports[] = {22, 80, 85, 443, 8050, 9999};

static void random_rule(char *buf, size_t len)
{
    char who[200] = "";
    unsigned nterms = rnd(4);
    bool user = false, vm = false;
    for (unsigned i = 0; i < nterms; i++) {
        char t[64];
        switch (rnd(4)) {
        case 0:
            if (user)
                continue;
            user = true;
            snprintf(t, sizeof t, "user=%s", users[rnd(4)]);
            break;
        case 1:
            snprintf(t, sizeof t, "group=%s", groups[rnd(3)]);
            break;
        case 2:
            snprintf(t, sizeof t, "from=%s", cidrs[rnd(5)]);
            break;
        default:
            if (vm)
                continue;
            vm = true;
            snprintf(t, sizeof t, "vm=%s", rnd(2) ? vms[rnd(5)] : globs[rnd(10)]);
            break;
        }
        if (who[0])
            strcat(who, ",");
        strcat(who, t);
    }
    snprintf(buf, len, "%s %s %s %s\n", rnd(3) ? "allow" : "deny", who[0] ? who : "any",
             globs[rnd(10)], ports[rnd(6)]);
}

Test(policy, index_agrees_with_linear_scan)
{
    char *text = malloc(200 * 100);
    for (int round = 0; round < 300; round++) {
        size_t n = 0, rules = 1 + rnd(round < 200 ? 12 : 150);
        for (size_t i = 0; i < rules; i++) {
            random_rule(text + n, 100);
            n += strlen(text + n);
        }
        struct vg_policy *p = parse(text);
        for (int q = 0; q < 200; q++) {
            char grp[32] = "";
            for (int g = 0; g < 3; g++)
                if (rnd(2)) {
                    if (grp[0])
                        strcat(grp, ",");
                    strcat(grp, groups[g]);
                }
            struct vg_subject s = {
                .user = rnd(4) ? users[rnd(4)] : NULL,
                .groups = grp[0] ? grp : NULL,
                .client = rnd(4) ? addr(0, clients[rnd(6)]) : NULL,
                .vm = rnd(3) ? NULL : vms[rnd(5)],
            };
            decide(p, &s, vms[rnd(5)], test_ports[rnd(6)]); /* asserts agreement */
        }
        vg_policy_free(p);
    }
    free(text);
}
