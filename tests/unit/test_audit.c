/* Unit tests for common/vg_json.c (the JSON writer) and common/vg_audit.c (the audit line format
 * and its writer thread).
 *
 * The golden lines are the contract of docs/operations.md "Audit log": change the encoder, the
 * docs and these lines together.  The writer is tested against real files in a temp directory,
 * a FIFO nobody reads (a writer that cannot make progress: emit must not block, drops must be
 * counted) and /dev/full (every write fails with ENOSPC).
 */
#include "vg_audit.h"
#include "vg_json.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------------
 * vg_json */

static char *esc(const char *s, size_t n)
{
    static char out[1024];
    size_t used, w = vg_json_escape(out, sizeof out - 1, s, n, &used);
    cr_assert_eq(used, n, "escape consumed %zu of %zu", used, n);
    out[w] = '\0';
    return out;
}
#define ESC(lit) esc(lit, sizeof lit - 1)

Test(json, escapes_specials_and_controls)
{
    cr_assert_str_eq(ESC("plain text"), "plain text");
    cr_assert_str_eq(ESC("a\"b\\c/d"), "a\\\"b\\\\c/d");
    cr_assert_str_eq(ESC("\n\r\t\b\f"), "\\n\\r\\t\\b\\f");
    cr_assert_str_eq(ESC("\x01\x1f\x7f\x1b[31m"), "\\u0001\\u001f\\u007f\\u001b[31m");
    cr_assert_str_eq(ESC("a\0b"), "a\\u0000b");
}

Test(json, utf8_valid_passes_c1_and_separators_escaped)
{
    cr_assert_str_eq(ESC("caf\xc3\xa9"), "caf\xc3\xa9");                 /* é */
    cr_assert_str_eq(ESC("\xe2\x82\xac"), "\xe2\x82\xac");               /* € */
    cr_assert_str_eq(ESC("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");       /* U+1F600 */
    cr_assert_str_eq(ESC("\xf4\x8f\xbf\xbf"), "\xf4\x8f\xbf\xbf");       /* U+10FFFF */
    cr_assert_str_eq(ESC("\xc2\x85\xc2\x9b"), "\\u0085\\u009b");         /* NEL, CSI */
    cr_assert_str_eq(ESC("\xe2\x80\xa8\xe2\x80\xa9"), "\\u2028\\u2029"); /* LS, PS */
}

Test(json, utf8_invalid_bytes_become_replacement_one_per_byte)
{
    cr_assert_str_eq(ESC("\xff"), "\\ufffd");
    cr_assert_str_eq(ESC("\x80x"), "\\ufffdx");                     /* stray continuation */
    cr_assert_str_eq(ESC("\xc0\xaf"), "\\ufffd\\ufffd");            /* overlong '/' */
    cr_assert_str_eq(ESC("\xe0\x80\xaf"), "\\ufffd\\ufffd\\ufffd"); /* overlong, 3 bytes */
    cr_assert_str_eq(ESC("\xed\xa0\x80"), "\\ufffd\\ufffd\\ufffd"); /* surrogate D800 */
    cr_assert_str_eq(ESC("\xf4\x90\x80\x80"), "\\ufffd\\ufffd\\ufffd\\ufffd"); /* > U+10FFFF */
    cr_assert_str_eq(ESC("\xe2\x82"), "\\ufffd\\ufffd");                       /* truncated */
    cr_assert_str_eq(ESC("\xe2\x82z"), "\\ufffd\\ufffdz");
    cr_assert_str_eq(ESC("\xc3"), "\\ufffd");
}

Test(json, escape_never_splits_an_escape)
{
    char out[16];
    size_t used;
    /* "ab\n": room for 3 bytes takes "ab" and stops before the 2-byte \n */
    cr_assert_eq(vg_json_escape(out, 3, "ab\n", 3, &used), 2);
    cr_assert_eq(used, 2);
    /* a 4-byte character does not fit in 3 */
    cr_assert_eq(vg_json_escape(out, 3, "\xf0\x9f\x98\x80", 4, &used), 0);
    cr_assert_eq(used, 0);
    cr_assert_eq(vg_json_escape(out, 5, "\x01", 1, &used), 0);
    cr_assert_eq(vg_json_escape(out, 6, "\x01", 1, &used), 6);
}

Test(json, writer_builds_nested_values)
{
    char buf[256];
    struct vg_json j;
    vg_json_init(&j, buf, sizeof buf);
    vg_json_object_begin(&j);
    vg_json_key(&j, "a");
    vg_json_uint(&j, 18446744073709551615u);
    vg_json_key(&j, "b");
    vg_json_array_begin(&j);
    vg_json_int(&j, -5);
    vg_json_bool(&j, true);
    vg_json_null(&j);
    vg_json_str(&j, NULL);
    vg_json_fixed(&j, 1.5, 3);
    vg_json_fixed(&j, -0.0001, 2);
    vg_json_fixed(&j, 1.0 / 0.0, 2);
    vg_json_object_begin(&j);
    vg_json_object_end(&j);
    vg_json_array_end(&j);
    vg_json_key(&j, "k\"ey");
    vg_json_str(&j, "v\n");
    vg_json_object_end(&j);
    cr_assert(vg_json_done(&j));
    cr_assert_str_eq(buf, "{\"a\":18446744073709551615,\"b\":[-5,true,null,null,1.500,0.00,null,{}"
                          "],\"k\\\"ey\":\"v\\n\"}");
    cr_assert_eq(j.len, strlen(buf));
}

Test(json, writer_misuse_fails)
{
    char buf[64];
    struct vg_json j;
    vg_json_init(&j, buf, sizeof buf);
    vg_json_object_begin(&j);
    vg_json_uint(&j, 1); /* a value without a key */
    cr_assert_not(vg_json_ok(&j));

    vg_json_init(&j, buf, sizeof buf);
    vg_json_array_begin(&j);
    vg_json_object_end(&j); /* wrong kind */
    cr_assert_not(vg_json_ok(&j));

    vg_json_init(&j, buf, sizeof buf);
    vg_json_uint(&j, 1);
    vg_json_uint(&j, 2); /* two values at the top */
    cr_assert_not(vg_json_ok(&j));
    cr_assert_str_eq(buf, "1");

    vg_json_init(&j, buf, sizeof buf);
    vg_json_object_begin(&j);
    cr_assert(vg_json_ok(&j));
    cr_assert_not(vg_json_done(&j)); /* not closed */

    vg_json_init(&j, buf, sizeof buf);
    for (int i = 0; i <= VG_JSON_DEPTH; i++)
        vg_json_array_begin(&j);
    cr_assert_not(vg_json_ok(&j));
}

Test(json, overflow_writes_nothing_partial)
{
    char buf[16];
    struct vg_json j;
    vg_json_init(&j, buf, sizeof buf);
    vg_json_array_begin(&j);
    vg_json_str(&j, "0123456789");
    cr_assert(vg_json_ok(&j));
    cr_assert_str_eq(buf, "[\"0123456789\"");
    vg_json_str(&j, "x"); /* ,"x" needs 4, 2 left */
    cr_assert_not(vg_json_ok(&j));
    cr_assert_str_eq(buf, "[\"0123456789\"");
    vg_json_array_end(&j); /* everything after a failure does nothing */
    cr_assert_str_eq(buf, "[\"0123456789\"");

    vg_json_init(&j, buf, sizeof buf);
    vg_json_object_begin(&j);
    vg_json_key(&j, "a-very-long-key");
    cr_assert_not(vg_json_ok(&j));
    cr_assert_str_eq(buf, "{");
}

Test(json, strn_max_cuts_at_a_character_with_an_ellipsis)
{
    char buf[128];
    struct vg_json j;
    vg_json_init(&j, buf, sizeof buf);
    vg_json_strn_max(&j, "abcdefghijkl", 12, 12); /* fits exactly */
    cr_assert_str_eq(buf, "\"abcdefghijkl\"");

    vg_json_init(&j, buf, sizeof buf);
    vg_json_strn_max(&j, "abcdefghijklm", 13, 12); /* 6 bytes of text + \u2026 */
    cr_assert_str_eq(buf, "\"abcdef\\u2026\"");

    vg_json_init(&j, buf, sizeof buf);
    vg_json_strn_max(&j, "a\nbcdefghijk", 12, 10); /* "a\n" + "bc"? 4 bytes: a \n b */
    cr_assert_str_eq(buf, "\"a\\nb\\u2026\"");

    vg_json_init(&j, buf, sizeof buf);
    vg_json_strn_max(&j, "\xff\xff", 2, 11); /* an escape is never split */
    cr_assert_str_eq(buf, "\"\\u2026\"");
    cr_assert(vg_json_done(&j));
}

/* ---------------------------------------------------------------------------------------------
 * vg_audit_format: golden lines */

static const struct timespec T0 = {1714564800, 123456789}; /* 2024-05-01T12:00:00.123Z */

static const char *fmt(const struct vg_audit_event *ev)
{
    static char line[VG_AUDIT_LINE_MAX];
    size_t n = vg_audit_format(ev, line, sizeof line);
    cr_assert_gt(n, 0);
    cr_assert_eq(n, strlen(line));
    cr_assert_eq(line[n - 1], '\n');
    return line;
}

Test(audit_format, session_start)
{
    struct vg_audit_event ev = {.kind = VG_AUDIT_SESSION_START,
                                .ts = T0,
                                .id = 42,
                                .user = "alice",
                                .client = "198.18.0.3:40112",
                                .vm = "web1.vm.test",
                                .port = 22,
                                .front = "socks5",
                                .rule = "acl:web1"};
    cr_assert_str_eq(fmt(&ev), "{\"ts\":\"2024-05-01T12:00:00.123Z\",\"event\":\"session.start\","
                               "\"id\":42,\"user\":\"alice\",\"client\":\"198.18.0.3:40112\","
                               "\"vm\":\"web1.vm.test\",\"port\":22,\"front\":\"socks5\","
                               "\"via\":null,\"rule\":\"acl:web1\"}\n");
}

Test(audit_format, session_refused)
{
    struct vg_audit_event ev = {.kind = VG_AUDIT_SESSION_REFUSED,
                                .ts = T0,
                                .id = 43,
                                .client = "[fd00:76::2]:5012",
                                .vm = "db1.vm.test",
                                .port = 5432,
                                .front = "http",
                                .reason = "port not allowed"};
    cr_assert_str_eq(fmt(&ev), "{\"ts\":\"2024-05-01T12:00:00.123Z\",\"event\":\"session.refused\","
                               "\"id\":43,\"user\":null,\"client\":\"[fd00:76::2]:5012\","
                               "\"vm\":\"db1.vm.test\",\"port\":5432,\"front\":\"http\","
                               "\"via\":null,\"rule\":null,\"reason\":\"port not allowed\"}\n");
}

Test(audit_format, session_end)
{
    struct vg_audit_event ev = {.kind = VG_AUDIT_SESSION_END,
                                .ts = T0,
                                .id = 42,
                                .user = "alice",
                                .client = "198.18.0.3:40112",
                                .vm = "web1.vm.test",
                                .port = 22,
                                .front = "hop",
                                .via = "hv2",
                                .rule = "acl:web1",
                                .reason = "closed",
                                .bytes_up = 1234,
                                .bytes_down = 567890,
                                .duration_s = 12.3456};
    cr_assert_str_eq(fmt(&ev), "{\"ts\":\"2024-05-01T12:00:00.123Z\",\"event\":\"session.end\","
                               "\"id\":42,\"user\":\"alice\",\"client\":\"198.18.0.3:40112\","
                               "\"vm\":\"web1.vm.test\",\"port\":22,\"front\":\"hop\","
                               "\"via\":\"hv2\",\"rule\":\"acl:web1\",\"reason\":\"closed\","
                               "\"bytes_up\":1234,\"bytes_down\":567890,\"duration_s\":12.346}\n");
}

Test(audit_format, session_killed)
{
    struct vg_audit_event ev = {.kind = VG_AUDIT_SESSION_KILLED,
                                .ts = {1714564800, 0},
                                .id = 7,
                                .user = "bob",
                                .client = "198.18.0.3:40000",
                                .vm = "web1.vm.test",
                                .port = 80,
                                .front = "https",
                                .reason = "killed by operator",
                                .by = "root",
                                .duration_s = -1};
    cr_assert_str_eq(fmt(&ev), "{\"ts\":\"2024-05-01T12:00:00.000Z\",\"event\":\"session.killed\","
                               "\"id\":7,\"user\":\"bob\",\"client\":\"198.18.0.3:40000\","
                               "\"vm\":\"web1.vm.test\",\"port\":80,\"front\":\"https\","
                               "\"via\":null,\"rule\":null,\"reason\":\"killed by operator\","
                               "\"by\":\"root\",\"bytes_up\":0,\"bytes_down\":0,"
                               "\"duration_s\":null}\n");
}

Test(audit_format, auth_failed)
{
    struct vg_audit_event ev = {.kind = VG_AUDIT_AUTH_FAILED,
                                .ts = T0,
                                .id = 9,
                                .user = "mallory",
                                .client = "198.18.0.3:1",
                                .vm = "ignored.vm.test", /* not a field of auth.failed */
                                .front = "socks5",
                                .reason = "bad password"};
    cr_assert_str_eq(fmt(&ev), "{\"ts\":\"2024-05-01T12:00:00.123Z\",\"event\":\"auth.failed\","
                               "\"id\":9,\"user\":\"mallory\",\"client\":\"198.18.0.3:1\","
                               "\"front\":\"socks5\",\"via\":null,\"reason\":\"bad password\"}\n");
}

Test(audit_format, policy_reloaded)
{
    struct vg_audit_event ev = {.kind = VG_AUDIT_POLICY_RELOADED,
                                .ts = T0,
                                .by = "SIGHUP",
                                .reason = "3 users, 2 connections kept"};
    cr_assert_str_eq(fmt(&ev), "{\"ts\":\"2024-05-01T12:00:00.123Z\",\"event\":\"policy.reloaded\","
                               "\"reason\":\"3 users, 2 connections kept\",\"by\":\"SIGHUP\"}\n");
}

Test(audit_format, bad_kind_and_small_buffer)
{
    char line[64];
    struct vg_audit_event ev = {.kind = VG_AUDIT_KIND_COUNT, .ts = T0};
    cr_assert_eq(vg_audit_format(&ev, line, sizeof line), 0);
    ev.kind = VG_AUDIT_SESSION_START;
    cr_assert_eq(vg_audit_format(&ev, line, sizeof line), 0); /* does not fit */
    cr_assert_str_eq(line, "");
    cr_assert_str_eq(vg_audit_kind_name(VG_AUDIT_AUTH_FAILED), "auth.failed");
    cr_assert_null(vg_audit_kind_name(VG_AUDIT_KIND_COUNT));
}

/* One line, nothing below 0x20 but its final '\n', no DEL. */
static void assert_one_clean_line(const char *line)
{
    size_t n = strlen(line);
    cr_assert_gt(n, 1);
    cr_assert_eq(line[n - 1], '\n');
    for (size_t i = 0; i + 1 < n; i++)
        cr_assert((unsigned char)line[i] >= 0x20 && (unsigned char)line[i] != 0x7f,
                  "byte %zu is 0x%02x", i, (unsigned char)line[i]);
}

Test(audit_format, hostile_user_names)
{
    struct vg_audit_event ev = {.kind = VG_AUDIT_AUTH_FAILED,
                                .ts = T0,
                                .id = 1,
                                .client = "198.18.0.3:1",
                                .front = "socks5",
                                .reason = "bad password"};
    ev.user = "a\"},\"event\":\"session.start\n{\"x\":\"\x1b]0;pwn\x07\xff\xc0\xaf\xc2\x9b";
    const char *line = fmt(&ev);
    assert_one_clean_line(line);
    cr_assert_str_eq(line,
                     "{\"ts\":\"2024-05-01T12:00:00.123Z\",\"event\":\"auth.failed\","
                     "\"id\":1,\"user\":\"a\\\"},\\\"event\\\":\\\"session.start\\n{\\\"x\\\":"
                     "\\\"\\u001b]0;pwn\\u0007\\ufffd\\ufffd\\ufffd\\u009b\","
                     "\"client\":\"198.18.0.3:1\",\"front\":\"socks5\",\"via\":null,"
                     "\"reason\":\"bad password\"}\n");
}

Test(audit_format, huge_hostile_fields_are_cut_and_the_line_stays_bounded)
{
    static char big[20000];
    memset(big, 0xff, sizeof big - 1); /* each byte escapes to 6 */
    struct vg_audit_event ev = {.kind = VG_AUDIT_SESSION_KILLED,
                                .ts = T0,
                                .id = 1,
                                .user = big,
                                .client = big,
                                .vm = big,
                                .front = big,
                                .via = big,
                                .rule = big,
                                .reason = big,
                                .by = big,
                                .port = 65535,
                                .bytes_up = UINT64_MAX,
                                .bytes_down = UINT64_MAX,
                                .duration_s = 1e15};
    const char *line = fmt(&ev);
    assert_one_clean_line(line);
    cr_assert_leq(strlen(line), VG_AUDIT_LINE_MAX - 1);
    const char *u = strstr(line, "\"user\":\"");
    cr_assert_not_null(u);
    const char *end = strchr(u + 8, '"');
    cr_assert_leq((size_t)(end - (u + 8)), VG_AUDIT_FIELD_MAX);
    cr_assert(end - 6 > u && strncmp(end - 6, "\\u2026", 6) == 0);
    cr_assert_not_null(strstr(line, "\"duration_s\":1000000000000000.000}\n"));
}

/* ---------------------------------------------------------------------------------------------
 * the writer */

static char tmpdir[64];

static void mk_tmp(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vg-audit-test.XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void rm_tmp(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    (void)!system(cmd);
}

static char *path_in(const char *name)
{
    static char p[4][128];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}

static struct vg_audit_event ev_n(uint64_t id)
{
    return (struct vg_audit_event){.kind = VG_AUDIT_SESSION_START,
                                   .ts = T0,
                                   .id = id,
                                   .user = "alice",
                                   .client = "198.18.0.3:40112",
                                   .vm = "web1.vm.test",
                                   .port = 22,
                                   .front = "socks5"};
}

/* The ids of a file's lines in order; checks each line is one whole event. */
static size_t read_ids(const char *path, uint64_t *ids, size_t max)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    char line[VG_AUDIT_LINE_MAX];
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        cr_assert(len > 0 && line[len - 1] == '\n', "a cut line in %s", path);
        cr_assert(strncmp(line, "{\"ts\":", 6) == 0 && strcmp(line + len - 2, "}\n") == 0);
        const char *id = strstr(line, "\"id\":");
        cr_assert_not_null(id);
        cr_assert_lt(n, max);
        ids[n++] = strtoull(id + 5, NULL, 10);
    }
    fclose(f);
    return n;
}

static mode_t test_umask(void)
{
    mode_t m = umask(0);
    umask(m);
    return m;
}

Test(audit_writer, lines_reach_the_file_and_close_flushes, .init = mk_tmp, .fini = rm_tmp)
{
    char err[256];
    const char *p = path_in("audit.log");
    struct vg_audit *a = vg_audit_open(p, 10000, err, sizeof err);
    cr_assert_not_null(a, "%s", err);
    for (uint64_t i = 1; i <= 5000; i++) {
        struct vg_audit_event ev = ev_n(i);
        cr_assert(vg_audit_emit(a, &ev));
    }
    vg_audit_close(a); /* at once: what is queued must still be written */
    static uint64_t ids[6000];
    size_t n = read_ids(p, ids, 6000);
    cr_assert_eq(n, 5000);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(ids[i], i + 1);
    struct stat st;
    cr_assert_eq(stat(p, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0640 & ~test_umask());
}

Test(audit_writer, appends_to_an_existing_file_and_stamps_the_time, .init = mk_tmp, .fini = rm_tmp)
{
    char err[256];
    const char *p = path_in("audit.log");
    FILE *f = fopen(p, "w");
    fputs("{\"ts\":\"old\",\"id\":99}\n", f);
    fclose(f);
    struct vg_audit *a = vg_audit_open(p, 16, err, sizeof err);
    cr_assert_not_null(a, "%s", err);
    struct vg_audit_event ev = ev_n(1);
    ev.ts = (struct timespec){0, 0};
    time_t before = time(NULL);
    cr_assert(vg_audit_emit(a, &ev));
    vg_audit_close(a);
    uint64_t ids[4];
    cr_assert_eq(read_ids(p, ids, 4), 2);
    cr_assert_eq(ids[0], 99);
    cr_assert_eq(ids[1], 1);
    /* the stamped time is now, in RFC 3339 UTC */
    char want[32];
    struct tm tm;
    gmtime_r(&before, &tm);
    strftime(want, sizeof want, "\"ts\":\"%Y-%m-%dT", &tm);
    f = fopen(p, "r");
    char line[VG_AUDIT_LINE_MAX];
    cr_assert_not_null(fgets(line, sizeof line, f));
    cr_assert_not_null(fgets(line, sizeof line, f));
    fclose(f);
    cr_assert(strncmp(line + 1, want, strlen(want)) == 0, "got %s", line);
}

Test(audit_writer, open_errors)
{
    char err[256];
    cr_assert_null(vg_audit_open("/nonexistent-dir/audit.log", 16, err, sizeof err));
    cr_assert(strstr(err, "/nonexistent-dir/audit.log") && strstr(err, "No such file"), "%s", err);
    cr_assert_null(vg_audit_open("/tmp/x", 0, err, sizeof err));
    vg_audit_close(NULL);
}

/* Each round: emit N, rename the file away (logrotate's create mode), reopen, emit M.  The
 * renamed file must hold exactly the lines emitted before the reopen (the previous round's M and
 * this round's N), the new one the M after it, in order, nothing lost or doubled. */
Test(audit_writer, rename_and_reopen_loses_no_line, .init = mk_tmp, .fini = rm_tmp)
{
    char err[256];
    char *p = path_in("audit.log"), *old = path_in("audit.log.1");
    struct vg_audit *a = vg_audit_open(p, 100000, err, sizeof err);
    cr_assert_not_null(a, "%s", err);
    const uint64_t N = 3000, M = 2000;
    static uint64_t ids[10000];
    for (uint64_t round = 0; round < 3; round++) { /* the writer may be anywhere in the batch */
        uint64_t base = round * (N + M);
        for (uint64_t i = 1; i <= N; i++) {
            struct vg_audit_event ev = ev_n(base + i);
            cr_assert(vg_audit_emit(a, &ev));
        }
        if (round == 1)
            usleep(20000); /* once with everything already written */
        cr_assert_eq(rename(p, old), 0);
        vg_audit_reopen(a);
        for (uint64_t i = N + 1; i <= N + M; i++) {
            struct vg_audit_event ev = ev_n(base + i);
            cr_assert(vg_audit_emit(a, &ev));
        }
        struct vg_audit_stats st;
        for (int t = 0; t < 1000; t++) { /* until the writer is done with this round */
            vg_audit_get_stats(a, &st);
            if (st.pending == 0 && st.reopens == round + 1)
                break;
            usleep(2000);
        }
        cr_assert_eq(st.pending, 0);
        cr_assert_eq(st.reopens, round + 1);
        uint64_t first = round == 0 ? 1 : base - M + 1;
        size_t n = read_ids(old, ids, 10000);
        cr_assert_eq(n, base + N - first + 1, "round %llu: the old file has %zu lines",
                     (unsigned long long)round, n);
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(ids[i], first + i);
        cr_assert_eq(unlink(old), 0);
    }
    vg_audit_close(a);
    size_t n = read_ids(p, ids, 10000);
    cr_assert_eq(n, M);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(ids[i], 2 * (N + M) + N + i + 1);
}

struct fifo_reader {
    int fd;
    size_t lines;
};

static void *read_fifo(void *arg)
{
    struct fifo_reader *r = arg;
    char buf[65536];
    ssize_t n;
    while ((n = read(r->fd, buf, sizeof buf)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        cr_assert_gt(n, 0);
        for (ssize_t i = 0; i < n; i++)
            r->lines += buf[i] == '\n';
    }
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

Test(audit_writer, queue_full_drops_are_counted_and_emit_never_blocks, .init = mk_tmp,
     .fini = rm_tmp)
{
    char err[256];
    const char *p = path_in("fifo");
    cr_assert_eq(mkfifo(p, 0600), 0);
    /* a reader that holds the FIFO open and reads nothing (yet): the writer blocks in write(2)
     * once the pipe is full */
    int rfd = open(p, O_RDONLY | O_NONBLOCK);
    cr_assert_geq(rfd, 0);
    const unsigned QMAX = 64;
    struct vg_audit *a = vg_audit_open(p, QMAX, err, sizeof err);
    cr_assert_not_null(a, "%s", err);
    const unsigned TOTAL = 50000;
    unsigned ok = 0;
    double t0 = now_s(), slowest = 0;
    for (unsigned i = 1; i <= TOTAL; i++) {
        struct vg_audit_event ev = ev_n(i);
        double t = now_s();
        ok += vg_audit_emit(a, &ev);
        if (now_s() - t > slowest)
            slowest = now_s() - t;
    }
    double took = now_s() - t0;
    struct vg_audit_stats st;
    vg_audit_get_stats(a, &st);
    cr_assert_lt(took, 2.0, "50000 emits took %.3f s", took);
    cr_assert_lt(slowest, 0.1, "one emit took %.3f s", slowest);
    /* what fits: the pipe (64 KiB, ~200 lines), the line being written, the queue */
    cr_assert_lt(ok, 2000, "%u accepted", ok);
    cr_assert_geq(ok, QMAX);
    cr_assert_eq(vg_audit_drops(a), TOTAL - ok);
    cr_assert_eq(st.drops, TOTAL - ok);
    cr_assert_eq(st.queued, ok);
    cr_assert_eq(st.pending, QMAX, "queue holds %u", st.pending);
    vg_audit_tick(a); /* logs the burst (from this thread), must not disturb anything */

    /* now read: close flushes everything that was accepted */
    int flags = fcntl(rfd, F_GETFL);
    fcntl(rfd, F_SETFL, flags & ~O_NONBLOCK);
    struct fifo_reader r = {rfd, 0};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, read_fifo, &r), 0);
    vg_audit_close(a);
    pthread_join(th, NULL);
    close(rfd);
    cr_assert_eq(r.lines, ok);
}

Test(audit_writer, write_errors_are_counted_and_close_does_not_hang)
{
    char err[256];
    struct vg_audit *a = vg_audit_open("/dev/full", 8, err, sizeof err);
    cr_assert_not_null(a, "%s", err);
    unsigned ok = 0;
    for (unsigned i = 1; i <= 100; i++) {
        struct vg_audit_event ev = ev_n(i);
        ok += vg_audit_emit(a, &ev);
        if (i == 1)
            usleep(50000); /* the writer tries and fails at least once */
    }
    struct vg_audit_stats st;
    vg_audit_get_stats(a, &st);
    cr_assert_geq(st.write_errors, 1);
    cr_assert_eq(st.last_errno, ENOSPC);
    cr_assert(st.failing);
    cr_assert_eq(st.written, 0);
    cr_assert_leq(ok, 9);
    cr_assert_eq(st.drops, 100 - ok);
    vg_audit_tick(a);
    double t0 = now_s();
    vg_audit_close(a); /* one last attempt, the queued lines are counted as lost */
    cr_assert_lt(now_s() - t0, 0.5);
}

Test(audit_writer, reopen_failure_keeps_the_old_file, .init = mk_tmp, .fini = rm_tmp)
{
    char err[256];
    char dir[128];
    snprintf(dir, sizeof dir, "%s/d", tmpdir);
    cr_assert_eq(mkdir(dir, 0700), 0);
    char p[160], moved[160];
    snprintf(p, sizeof p, "%s/audit.log", dir);
    snprintf(moved, sizeof moved, "%s/audit.log", tmpdir);
    struct vg_audit *a = vg_audit_open(p, 100, err, sizeof err);
    cr_assert_not_null(a, "%s", err);
    struct vg_audit_event ev = ev_n(1);
    cr_assert(vg_audit_emit(a, &ev));
    /* the directory goes away: the reopen fails, the lines go on to the open file */
    cr_assert_eq(rename(p, moved), 0);
    cr_assert_eq(rmdir(dir), 0);
    vg_audit_reopen(a);
    ev = ev_n(2);
    cr_assert(vg_audit_emit(a, &ev));
    struct vg_audit_stats st;
    for (int t = 0; t < 500; t++) {
        vg_audit_get_stats(a, &st);
        if (st.written == 2 && st.write_errors > 0)
            break;
        usleep(2000);
    }
    cr_assert_eq(st.written, 2);
    cr_assert_geq(st.write_errors, 1);
    cr_assert_eq(st.last_errno, ENOENT);
    cr_assert(st.failing);
    vg_audit_close(a);
    uint64_t ids[4];
    cr_assert_eq(read_ids(moved, ids, 4), 2);
    cr_assert_eq(ids[1], 2);
}
