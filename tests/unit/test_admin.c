/* Unit tests for common/vg_admin: the admin protocol's request line (whole, byte by byte, every
 * error), the builder's round trip, the JSON replies and the JSON reader. */
#include "vg_admin.h"
#include "vg_alloc.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct vg_admin_req rq;
static char err[256];

static enum vg_parse parse(const char *s, size_t *used)
{
    size_t u = 0;
    err[0] = '\0';
    enum vg_parse r =
        vg_admin_parse_request((const uint8_t *)s, strlen(s), &rq, &u, err, sizeof err);
    if (used)
        *used = u;
    return r;
}

Test(admin, commands)
{
    size_t used;
    cr_assert_eq(parse("sessions\n", &used), VG_P_OK);
    cr_assert_eq(used, 9);
    cr_assert_eq(rq.cmd, VG_ADM_SESSIONS);
    cr_assert_str_empty(rq.user);

    cr_assert_eq(parse("sessions --user alice --vm WEB1.vm.test.\r\n", NULL), VG_P_OK);
    cr_assert_str_eq(rq.user, "alice");
    cr_assert_str_eq(rq.vm, "web1.vm.test"); /* normalized */

    cr_assert_eq(parse("  kill   12 7 18446744073709551615 \n", NULL), VG_P_OK);
    cr_assert_eq(rq.cmd, VG_ADM_KILL);
    cr_assert_eq(rq.nids, 3);
    cr_assert_eq(rq.ids[0], 12);
    cr_assert_eq(rq.ids[2], UINT64_MAX);

    cr_assert_eq(parse("kill --user bob\n", NULL), VG_P_OK);
    cr_assert_str_eq(rq.user, "bob");
    cr_assert_eq(rq.nids, 0);
    cr_assert_eq(parse("kill --vm web1.vm.test\n", NULL), VG_P_OK);
    cr_assert_str_eq(rq.vm, "web1.vm.test");

    cr_assert_eq(parse("vms\n", NULL), VG_P_OK);
    cr_assert_eq(rq.cmd, VG_ADM_VMS);
    cr_assert_eq(parse("stats\n", NULL), VG_P_OK);
    cr_assert_eq(rq.cmd, VG_ADM_STATS);
    cr_assert_eq(parse("reload\n", NULL), VG_P_OK);
    cr_assert(!rq.enforce);
    cr_assert_eq(parse("reload --enforce\n", NULL), VG_P_OK);
    cr_assert(rq.enforce);

    cr_assert_eq(parse("policy test alice web1.vm.test 22\n", NULL), VG_P_OK);
    cr_assert_eq(rq.cmd, VG_ADM_POLICY_TEST);
    cr_assert_str_eq(rq.user, "alice");
    cr_assert_eq(rq.port, 22);
    cr_assert_str_empty(rq.from);
    cr_assert_eq(parse("policy test alice web1.vm.test 65535 --from 198.18.0.2\n", NULL), VG_P_OK);
    cr_assert_str_eq(rq.from, "198.18.0.2");
}

Test(admin, errors)
{
    static const struct {
        const char *line, *err;
    } bad[] = {
        {"\n", "empty request"},
        {"   \n", "empty request"},
        {"frobnicate\n", "unknown command 'frobnicate'"},
        {"sessions --user\n", "--user: user name missing"},
        {"sessions --user a --user b\n", "unexpected argument '--user'"},
        {"sessions --vm -bad-\n", "VM name '-bad-'"},
        {"sessions extra\n", "unexpected argument 'extra'"},
        {"kill\n", "kill: ID..., --user U or --vm NAME"},
        {"kill 0\n", "kill: '0' is not a session id"},
        {"kill 012\n", "not a session id"},
        {"kill 18446744073709551616\n", "not a session id"},
        {"kill 1x\n", "not a session id"},
        {"kill --user a --vm b.vm.test\n", "kill: one of --user U or --vm NAME"},
        {"vms x\n", "vms takes no arguments"},
        {"stats --json\n", "stats takes no arguments"},
        {"reload --force\n", "reload: only --enforce"},
        {"policy test a b.vm.test\n", "policy test USER VM PORT"},
        {"policy test a b.vm.test 0\n", "PORT must be 1..65535"},
        {"policy test a b.vm.test 65536\n", "PORT must be 1..65535"},
        {"policy test a b.vm.test 22 --to x\n", "policy test USER VM PORT"},
        {"policy\n", "unknown command 'policy'"},
        {"sess\x01ions\n", "control character"},
        {"sessions \xc3\xa9\n", "non-ASCII"},
        {"sessions\r x\n", "control character"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(parse(bad[i].line, NULL), VG_P_ERROR, "%zu: %s", i, bad[i].line);
        cr_assert(strstr(err, bad[i].err) != NULL, "%zu: got '%s', want '%s'", i, err, bad[i].err);
    }
    /* a user name of 256 characters */
    char line[600];
    snprintf(line, sizeof line, "sessions --user %0256d\n", 0);
    cr_assert_eq(parse(line, NULL), VG_P_ERROR);
    cr_assert(strstr(err, "longer than 255") != NULL);
    /* 257 ids */
    char *many = malloc(257 * 4 + 16);
    strcpy(many, "kill");
    for (int i = 0; i < 257; i++)
        strcat(many, " 1");
    strcat(many, "\n");
    cr_assert_eq(parse(many, NULL), VG_P_ERROR);
    cr_assert(strstr(err, "at most 256 ids") != NULL, "%s", err);
    free(many);
}

Test(admin, line_bound)
{
    /* 4095 characters and a LF fit; one more is refused, with or without a LF coming */
    char *line = malloc(VG_ADMIN_LINE_MAX + 2);
    memset(line, ' ', VG_ADMIN_LINE_MAX + 1);
    memcpy(line, "stats", 5);
    line[VG_ADMIN_LINE_MAX - 1] = '\n';
    line[VG_ADMIN_LINE_MAX] = '\0';
    size_t used = 0;
    cr_assert_eq(parse(line, &used), VG_P_OK);
    cr_assert_eq(used, VG_ADMIN_LINE_MAX);
    line[VG_ADMIN_LINE_MAX - 1] = ' ';
    cr_assert_eq(parse(line, NULL), VG_P_ERROR);
    cr_assert(strstr(err, "longer than 4095") != NULL);
    /* a 1 MB line: refused after the first 4096 bytes, whatever follows */
    char *big = malloc(1 << 20);
    memset(big, 'a', (1 << 20) - 1);
    big[(1 << 20) - 1] = '\0';
    cr_assert_eq(parse(big, NULL), VG_P_ERROR);
    free(big);
    free(line);
}

/* The vg_parse contract: every prefix without the LF is NEED_MORE (nothing consumed), the
 * whole line OK, and bytes after the line are not consumed. */
Test(admin, byte_by_byte)
{
    static const char *lines[] = {"sessions --user alice --vm web1.vm.test\n", "kill 1 2 3\n",
                                  "policy test u v.vm.test 80 --from ::1\r\n", "vms\n"};
    for (size_t l = 0; l < sizeof lines / sizeof lines[0]; l++) {
        size_t n = strlen(lines[l]);
        char buf[128];
        snprintf(buf, sizeof buf, "%sstats\n", lines[l]); /* pipelined: a second line */
        for (size_t i = 0; i < n; i++) {
            size_t used = 99;
            cr_assert_eq(
                vg_admin_parse_request((const uint8_t *)buf, i, &rq, &used, err, sizeof err),
                VG_P_NEED_MORE, "%s prefix %zu", lines[l], i);
            cr_assert_eq(used, 99);
        }
        size_t used = 0;
        cr_assert_eq(
            vg_admin_parse_request((const uint8_t *)buf, strlen(buf), &rq, &used, err, sizeof err),
            VG_P_OK);
        cr_assert_eq(used, n);
    }
    /* an error shows as soon as its byte is there, and stays */
    const char *bad = "sess\x7fions\n";
    for (size_t i = 5; i <= strlen(bad); i++) {
        size_t used = 0;
        cr_assert_eq(vg_admin_parse_request((const uint8_t *)bad, i, &rq, &used, err, sizeof err),
                     VG_P_ERROR);
    }
}

Test(admin, format_round_trip)
{
    static const char *lines[] = {"sessions\n",
                                  "sessions --user alice\n",
                                  "sessions --user alice --vm web1.vm.test\n",
                                  "kill 1 99 18446744073709551615\n",
                                  "kill --user bob\n",
                                  "kill --vm web1.vm.test\n",
                                  "vms\n",
                                  "stats\n",
                                  "reload\n",
                                  "reload --enforce\n",
                                  "policy test alice web1.vm.test 22\n",
                                  "policy test alice web1.vm.test 22 --from 198.18.0.2\n"};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        char out[VG_ADMIN_LINE_MAX + 1];
        cr_assert_eq(parse(lines[i], NULL), VG_P_OK, "%s: %s", lines[i], err);
        struct vg_admin_req first = rq;
        size_t n = vg_admin_format_request(&first, out, sizeof out);
        cr_assert_str_eq(out, lines[i]);
        cr_assert_eq(n, strlen(lines[i]));
        cr_assert_eq(parse(out, NULL), VG_P_OK);
        cr_assert_eq(memcmp(&rq, &first, sizeof rq), 0, "%s", lines[i]);
    }
    /* invalid requests are not built */
    struct vg_admin_req r = {.cmd = VG_ADM_KILL};
    char out[64];
    cr_assert_eq(vg_admin_format_request(&r, out, sizeof out), 0);
    r.nids = 1;
    r.ids[0] = 0;
    cr_assert_eq(vg_admin_format_request(&r, out, sizeof out), 0);
    r.ids[0] = 5;
    cr_assert_eq(vg_admin_format_request(&r, out, 4), 0); /* does not fit */
    cr_assert_neq(vg_admin_format_request(&r, out, sizeof out), 0);
    r = (struct vg_admin_req){.cmd = VG_ADM_SESSIONS};
    strcpy(r.user, "a b");
    cr_assert_eq(vg_admin_format_request(&r, out, sizeof out), 0);
}

Test(admin, replies)
{
    struct vg_admin_out o;
    vg_admin_out_init(&o, 1 << 20);
    vg_admin_reply_error(&o, "bad \"x\"\\\n\x01");
    cr_assert_str_eq(o.p, "{\"ok\":false,\"error\":\"bad \\\"x\\\"\\\\\\n\\u0001\"}\n");
    vg_admin_out_reset(&o);
    vg_admin_reply_count(&o, "killed", 3);
    cr_assert_str_eq(o.p, "{\"ok\":true,\"killed\":3}\n");
    vg_admin_out_reset(&o);
    vg_admin_reply_ok(&o);
    cr_assert_str_eq(o.p, "{\"ok\":true}\n");

    vg_admin_out_reset(&o);
    struct vg_admin_session s = {.id = 7,
                                 .user = "alice",
                                 .client = "198.18.0.2:4000",
                                 .vm = "web1.vm.test",
                                 .port = 22,
                                 .channel = "tcp",
                                 .front = "socks5",
                                 .state = "relay",
                                 .started = 1700000000,
                                 .bytes_up = 10,
                                 .bytes_down = 20,
                                 .idle_s = 3};
    vg_admin_reply_list_begin(&o, "sessions");
    vg_admin_reply_session(&o, &s, true);
    s.id = 8;
    s.user = NULL;
    s.agent_session = "web1.vm.test#2";
    vg_admin_reply_session(&o, &s, false);
    vg_admin_reply_list_end(&o);
    cr_assert_str_eq(
        o.p, "{\"ok\":true,\"sessions\":[{\"id\":7,\"user\":\"alice\",\"groups\":null,\"client\":"
             "\"198.18.0.2:4000\",\"vm\":\"web1.vm.test\",\"port\":22,\"channel\":\"tcp\","
             "\"front\":\"socks5\",\"state\":\"relay\",\"started\":\"2023-11-14T22:13:20Z\","
             "\"bytes_up\":10,\"bytes_down\":20,\"idle_s\":3,\"agent_session\":null},{\"id\":8,"
             "\"user\":null,\"groups\":null,\"client\":\"198.18.0.2:4000\",\"vm\":\"web1.vm.test\","
             "\"port\":22,\"channel\":\"tcp\",\"front\":\"socks5\",\"state\":\"relay\","
             "\"started\":\"2023-11-14T22:13:20Z\",\"bytes_up\":10,\"bytes_down\":20,\"idle_s\":3,"
             "\"agent_session\":\"web1.vm.test#2\"}]}\n");

    /* the reader takes back what the writers wrote */
    struct vg_jnode *root = vg_jnode_parse(o.p, o.len, err, sizeof err);
    cr_assert_not_null(root, "%s", err);
    const struct vg_jnode *arr = vg_jnode_get(root, "sessions");
    cr_assert_eq(arr->type, VG_J_ARR);
    cr_assert_str_eq(vg_jnode_get(arr->child, "user")->text, "alice");
    cr_assert_eq(vg_jnode_get(arr->child->next, "user")->type, VG_J_NULL);
    cr_assert_str_eq(vg_jnode_get(arr->child->next, "id")->text, "8");
    vg_jnode_free(root);

    /* the bound: over max, the output says so and keeps what fitted */
    vg_admin_out_free(&o);
    vg_admin_out_init(&o, 32);
    vg_admin_reply_list_begin(&o, "sessions");
    vg_admin_reply_session(&o, &s, true);
    cr_assert(o.over);
    cr_assert_leq(o.len, 32);
    vg_admin_out_free(&o);

    char ts[21];
    cr_assert_str_eq(vg_admin_rfc3339(0, ts), "1970-01-01T00:00:00Z");
    cr_assert_str_eq(vg_admin_rfc3339(-5, ts), "1970-01-01T00:00:00Z");
}

Test(admin, json_reader)
{
    static const char *good[] = {"{}", "[]", " {\"a\" : [1, -2.5e3, true, false, null]} ",
                                 "\"\\u00e9\\ud83d\\ude00\\/\""};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct vg_jnode *n = vg_jnode_parse(good[i], strlen(good[i]), err, sizeof err);
        cr_assert_not_null(n, "%s: %s", good[i], err);
        if (i == 3)
            cr_assert_str_eq(n->text, "\xc3\xa9\xf0\x9f\x98\x80/");
        vg_jnode_free(n);
    }
    static const char *bad[] = {"",         "{",
                                "{\"a\"}",  "{\"a\":}",
                                "[1,]",     "tru",
                                "\"abc",    "\"\\x\"",
                                "{} x",     "\"\\u0000\"",
                                "[-]",      "{1:2}",
                                "\"a\nb\"", "[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct vg_jnode *n = vg_jnode_parse(bad[i], strlen(bad[i]), err, sizeof err);
        cr_assert_null(n, "%s", bad[i]);
        cr_assert(strstr(err, "reply is not JSON") != NULL, "%s: %s", bad[i], err);
    }
}

/* Every allocation of the reader failing in turn: NULL, no leak, no crash. */
Test(admin, json_reader_oom)
{
    const char *s = "{\"ok\":true,\"sessions\":[{\"id\":1,\"user\":\"a\"},{\"id\":2}]}";
    for (unsigned k = 1; k < 40; k++) {
        vg_alloc_fail_at(k);
        struct vg_jnode *n = vg_jnode_parse(s, strlen(s), err, sizeof err);
        vg_alloc_fail_at(0);
        vg_jnode_free(n);
    }
}
