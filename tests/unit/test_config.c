/* Unit tests for common/vg_config: files are written into a private temporary directory. */
#include "vg_alloc.h"
#include "vg_config.h"

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[64];
static char path[128];
static char err[512];

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vg_test_config.XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    snprintf(path, sizeof path, "%s/vmgate.conf", tmpdir);
    err[0] = '\0';
}

static void teardown(void)
{
    vg_alloc_fail_at(0);
    unlink(path);
    rmdir(tmpdir);
}

TestSuite(config, .init = setup, .fini = teardown);

static void write_file(const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    cr_assert_eq(fputs(text, f) >= 0, 1);
    cr_assert_eq(fclose(f), 0);
}

static struct vg_config *load(const char *text)
{
    write_file(text);
    err[0] = '\0';
    return vg_config_load(path, err, sizeof err);
}

/* The load fails and the message starts with "path:line:" and contains `what`. */
static void expect_fail_at(const char *text, int line, const char *what)
{
    struct vg_config *cfg = load(text);
    cr_assert_null(cfg, "loaded although it should fail at line %d", line);
    char want[200];
    snprintf(want, sizeof want, "%s:%d: ", path, line);
    cr_assert_eq(strncmp(err, want, strlen(want)), 0, "error '%s', expected it to start with '%s'",
                 err, want);
    if (what)
        cr_assert_not_null(strstr(err, what), "error '%s' lacks '%s'", err, what);
}

static const char good[] = "# vmgate test config\n"
                           "[dns]\n"
                           "zone = vm.example.com\n"
                           "server = 127.0.0.1:5353, [::1]:5353\n"
                           "tsig-key-file = /etc/vmgate/tsig.key\n"
                           "ttl = 20\n"
                           "ttl-min = 10\n"
                           "ttl-max = 600\n"
                           "timeout = 7\n"
                           "\n"
                           "[host]\n"
                           "name = hv1.example.com\n"
                           "address = 198.18.0.1, fd00::1\n"
                           "\n"
                           "[gateway]\n"
                           "listen = 198.18.0.1:1080, [fd00::1]:1080\n"
                           "listen-http = 127.0.0.1:3128\n"
                           "vm-dir = /var/lib/vmgate/vms\n"
                           "users-file = /etc/vmgate/users\n"
                           "allow-anonymous-from = 127.0.0.0/8, ::1\n"
                           "handshake-timeout = 15\n"
                           "idle-timeout = 0\n"
                           "connect-timeout = 9\n"
                           "drain-timeout = 60\n"
                           "max-connections = 100\n"
                           "max-per-client = 10\n"
                           "max-per-vm = 8\n"
                           "guest-share = 0\n"
                           "port = 1080\n"
                           "log-level = debug\n"
                           "\n"
                           "[registrar]\n"
                           "state-dir = /var/lib/vmgate/reg\n"
                           "heartbeat-interval = 5\n"
                           "gc-after = 60\n"
                           "batch-max = 100\n"
                           "retry-max = 45\n";

Test(config, good_file)
{
    struct vg_config *cfg = load(good);
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_str_eq(cfg->zone, "vm.example.com");
    cr_assert_eq(cfg->nzones, 1);
    cr_assert_str_eq(cfg->zones[0], "vm.example.com");
    cr_assert_str_eq(cfg->server, "127.0.0.1:5353, [::1]:5353");
    cr_assert_str_eq(cfg->tsig_key_file, "/etc/vmgate/tsig.key");
    cr_assert_eq(cfg->ttl, 20);
    cr_assert_eq(cfg->ttl_min, 10);
    cr_assert_eq(cfg->ttl_max, 600);
    cr_assert_eq(cfg->dns_timeout, 7);
    cr_assert_str_eq(cfg->host_name, "hv1.example.com");
    cr_assert_str_eq(cfg->host_address, "198.18.0.1, fd00::1");
    cr_assert_str_eq(cfg->listen, "198.18.0.1:1080, [fd00::1]:1080");
    cr_assert_str_eq(cfg->listen_http, "127.0.0.1:3128");
    cr_assert_str_eq(cfg->vm_dir, "/var/lib/vmgate/vms");
    cr_assert_str_eq(cfg->users_file, "/etc/vmgate/users");
    cr_assert_str_eq(cfg->allow_anonymous_from, "127.0.0.0/8, ::1");
    cr_assert_eq(cfg->handshake_timeout, 15);
    cr_assert_eq(cfg->idle_timeout, 0);
    cr_assert_eq(cfg->connect_timeout, 9);
    cr_assert_eq(cfg->drain_timeout, 60);
    cr_assert_eq(cfg->max_connections, 100);
    cr_assert_eq(cfg->max_per_client, 10);
    cr_assert_eq(cfg->max_per_vm, 8);
    cr_assert_eq(cfg->guest_share, 0);
    cr_assert_eq(cfg->gateway_port, 1080);
    cr_assert_str_eq(cfg->log_level, "debug");
    cr_assert_str_eq(cfg->state_dir, "/var/lib/vmgate/reg");
    cr_assert_eq(cfg->heartbeat_interval, 5);
    cr_assert_eq(cfg->gc_after, 60);
    cr_assert_eq(cfg->batch_max, 100);
    cr_assert_eq(cfg->retry_max, 45);
    cr_assert(vg_config_check_gateway(cfg, err, sizeof err), "%s", err);
    vg_config_free(cfg);
}

static void check_defaults(const struct vg_config *cfg)
{
    cr_assert_eq(cfg->ttl, 30);
    cr_assert_eq(cfg->ttl_min, 5);
    cr_assert_eq(cfg->ttl_max, 3600);
    cr_assert_eq(cfg->dns_timeout, 3);
    cr_assert_eq(cfg->handshake_timeout, 10);
    cr_assert_eq(cfg->idle_timeout, 3600);
    cr_assert_eq(cfg->connect_timeout, 5);
    cr_assert_eq(cfg->drain_timeout, 30);
    cr_assert_eq(cfg->max_connections, 4096);
    cr_assert_eq(cfg->max_per_client, 256);
    cr_assert_eq(cfg->max_per_vm, 64);
    cr_assert_eq(cfg->guest_share, 50);
    cr_assert_eq(cfg->gateway_port, 0);
    cr_assert_str_eq(cfg->log_level, "notice");
    cr_assert_eq(cfg->heartbeat_interval, 10);
    cr_assert_eq(cfg->gc_after, 120);
    cr_assert_eq(cfg->batch_max, 500);
    cr_assert_eq(cfg->retry_max, 30);
}

Test(config, defaults)
{
    struct vg_config *cfg = load("[dns]\nzone = vm.test\n");
    cr_assert_not_null(cfg, "%s", err);
    check_defaults(cfg);
    cr_assert_null(cfg->server);
    cr_assert_null(cfg->listen);
    cr_assert_null(cfg->listen_http);
    cr_assert_null(cfg->vm_dir);
    cr_assert_null(cfg->users_file);
    cr_assert_null(cfg->allow_anonymous_from);
    cr_assert_null(cfg->host_name);
    cr_assert_null(cfg->state_dir);
    vg_config_free(cfg);

    cfg = vg_config_defaults();
    cr_assert_not_null(cfg);
    check_defaults(cfg);
    cr_assert_null(cfg->zone);
    cr_assert_eq(cfg->nzones, 0);
    vg_config_free(cfg);
    vg_config_free(NULL);
}

Test(config, empty_file)
{
    struct vg_config *cfg = load("");
    cr_assert_not_null(cfg, "%s", err);
    check_defaults(cfg);
    vg_config_free(cfg);
}

Test(config, syntax_variants)
{
    /* comments, inline comments, "key: value", CRLF, blank lines with blanks, indentation */
    struct vg_config *cfg = load("; comment\r\n"
                                 "# another\r\n"
                                 "[dns]\r\n"
                                 "zone: vm.test ; inline comment\r\n"
                                 "   \r\n"
                                 "  ttl   =   40  \r\n"
                                 "[gateway]\r\n"
                                 "\tlisten = 127.0.0.1:1080\r\n"
                                 "\tvm-dir = /srv/vms\r\n");
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_str_eq(cfg->zone, "vm.test");
    cr_assert_eq(cfg->ttl, 40);
    cr_assert_str_eq(cfg->listen, "127.0.0.1:1080");
    cr_assert_str_eq(cfg->vm_dir, "/srv/vms");
    vg_config_free(cfg);
}

Test(config, indented_keys_are_keys)
{
    /* inih alone would read the second indented line as a continuation of `listen` */
    struct vg_config *cfg = load("[gateway]\n"
                                 "  listen = 127.0.0.1:1080\n"
                                 "  vm-dir = /srv/vms\n"
                                 "  users-file = /etc/u\n");
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_str_eq(cfg->listen, "127.0.0.1:1080");
    cr_assert_str_eq(cfg->vm_dir, "/srv/vms");
    cr_assert_str_eq(cfg->users_file, "/etc/u");
    vg_config_free(cfg);
}

Test(config, later_value_wins)
{
    struct vg_config *cfg = load("[dns]\nzone = a.test\nzone = b.test\nttl = 9\nttl = 11\n");
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_str_eq(cfg->zone, "b.test");
    cr_assert_eq(cfg->nzones, 1);
    cr_assert_str_eq(cfg->zones[0], "b.test");
    cr_assert_eq(cfg->ttl, 11);
    vg_config_free(cfg);
}

Test(config, unknown_key)
{
    expect_fail_at("[dns]\nzone = vm.test\n\n# c\nzonee = x\n", 5, "unknown key 'zonee'");
    expect_fail_at("[gateway]\nlisten = 127.0.0.1:1\nzone = vm.test\n", 3, "unknown key 'zone'");
}

Test(config, unknown_section)
{
    expect_fail_at("[dns]\nzone = vm.test\n[gatway]\nlisten = 127.0.0.1:1\n", 4,
                   "unknown section [gatway]");
    expect_fail_at("zone = vm.test\n", 1, "unknown section []");
}

Test(config, bad_number)
{
    expect_fail_at("[dns]\nttl = 12abc\n", 2, "ttl");
    expect_fail_at("[dns]\nzone = x.test\nttl = \n", 3, "ttl");
    expect_fail_at("[gateway]\nmax-connections = +5\n", 2, "max-connections");
    expect_fail_at("[gateway]\nmax-connections = -5\n", 2, "max-connections");
    expect_fail_at("[gateway]\nmax-connections = 0x10\n", 2, "max-connections");
    expect_fail_at("[gateway]\nmax-connections = 1.5\n", 2, "max-connections");
    expect_fail_at("[gateway]\nmax-connections = 99999999999999999999999\n", 2, "max-connections");
}

Test(config, out_of_range)
{
    expect_fail_at("[dns]\ntimeout = 301\n", 2, "timeout");
    expect_fail_at("[dns]\ntimeout = 0\n", 2, "timeout");
    expect_fail_at("[gateway]\n\n\nport = 65536\n", 4, "port");
    expect_fail_at("[gateway]\nhandshake-timeout = 0\n", 2, "handshake-timeout");
    expect_fail_at("[registrar]\nbatch-max = 100001\n", 2, "batch-max");
    /* bounds themselves are fine */
    struct vg_config *cfg =
        load("[dns]\ntimeout = 300\n[gateway]\nport = 65535\nidle-timeout = 0\n");
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(cfg->dns_timeout, 300);
    cr_assert_eq(cfg->gateway_port, 65535);
    vg_config_free(cfg);
}

Test(config, bad_log_level)
{
    expect_fail_at("[gateway]\nlog-level = verbose\n", 2, "log-level");
    expect_fail_at("[gateway]\nlog-level = DEBUG\n", 2, "log-level");
    expect_fail_at("[gateway]\nlog-level =\n", 2, "log-level");
    const char *levels[] = {"err", "warn", "notice", "info", "debug"};
    for (size_t i = 0; i < 5; i++) {
        char text[64];
        snprintf(text, sizeof text, "[gateway]\nlog-level = %s\n", levels[i]);
        struct vg_config *cfg = load(text);
        cr_assert_not_null(cfg, "%s", err);
        cr_assert_str_eq(cfg->log_level, levels[i]);
        vg_config_free(cfg);
    }
}

Test(config, syntax_error)
{
    expect_fail_at("[dns]\nzone = vm.test\njust words\n", 3, "syntax error");
    expect_fail_at("[dns\nzone = vm.test\n", 1, NULL);
}

Test(config, first_error_is_reported)
{
    /* inih goes on after an error; the message must still describe the first one */
    expect_fail_at("[dns]\nttl = x\nbogus = 1\n[nope]\na = b\n", 2, "ttl");
    expect_fail_at("[dns]\ngarbage line\nbogus = 1\n", 2, "syntax error");
    struct vg_config *cfg = load("[dns]\ngarbage line\nbogus = 1\n");
    cr_assert_null(cfg);
    cr_assert_null(strstr(err, "bogus"), "message of a later line: %s", err);
}

Test(config, long_line)
{
    /* a line longer than inih's buffer is an error, not two lines */
    char text[600];
    int n = snprintf(text, sizeof text, "[gateway]\nvm-dir = /srv\nallow-anonymous-from = ");
    for (int i = 0; i < 30; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, "10.0.%d.0/24, ", i);
    snprintf(text + n, sizeof text - (size_t)n, "fd00::/8\nusers-file = /etc/u\n");
    expect_fail_at(text, 3, "line longer than");

    /* the longest line that fits: 199 characters + "\n", also as the last line */
    char line[300];
    memset(line, 'a', sizeof line);
    memcpy(line, "vm-dir = /", 10);
    line[199] = '\0';
    snprintf(text, sizeof text, "[gateway]\n%s\nlisten = 127.0.0.1:1\n", line);
    struct vg_config *cfg = load(text);
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(strlen(cfg->vm_dir), 199 - 9);
    cr_assert_str_eq(cfg->listen, "127.0.0.1:1");
    vg_config_free(cfg);
    snprintf(text, sizeof text, "[gateway]\n%s", line);
    cfg = load(text);
    cr_assert_not_null(cfg, "%s", err);
    vg_config_free(cfg);

    line[199] = 'a';
    line[200] = '\0';
    snprintf(text, sizeof text, "[gateway]\n%s\nlisten = 127.0.0.1:1\n", line);
    expect_fail_at(text, 2, "line longer than 199 characters");
    snprintf(text, sizeof text, "[gateway]\n%s", line);
    expect_fail_at(text, 2, "line longer than 199 characters");
}

Test(config, missing_file)
{
    snprintf(path, sizeof path, "%s/does-not-exist.conf", tmpdir);
    struct vg_config *cfg = vg_config_load(path, err, sizeof err);
    cr_assert_null(cfg);
    cr_assert_not_null(strstr(err, path), "%s", err);
    cr_assert_not_null(strstr(err, "cannot open"), "%s", err);
}

Test(config, ttl_bounds)
{
    struct vg_config *cfg;
    cfg = load("[dns]\nttl = 4\n"); /* default ttl-min 5 */
    cr_assert_null(cfg);
    cr_assert_not_null(strstr(err, "ttl"), "%s", err);
    cr_assert_not_null(strstr(err, path), "%s", err);
    cfg = load("[dns]\nttl = 3601\n"); /* default ttl-max 3600 */
    cr_assert_null(cfg);
    cfg = load("[dns]\nttl-min = 100\nttl-max = 50\nttl = 60\n");
    cr_assert_null(cfg);
    cfg = load("[dns]\nttl = 60\nttl-min = 61\n");
    cr_assert_null(cfg);

    cfg = load("[dns]\nttl = 5\n");
    cr_assert_not_null(cfg, "%s", err);
    vg_config_free(cfg);
    cfg = load("[dns]\nttl = 3600\n");
    cr_assert_not_null(cfg, "%s", err);
    vg_config_free(cfg);
    cfg = load("[dns]\nttl = 7\nttl-min = 7\nttl-max = 7\n");
    cr_assert_not_null(cfg, "%s", err);
    vg_config_free(cfg);
}

Test(config, zones_normalized)
{
    struct vg_config *cfg = load("[dns]\nzone = VM.Example.COM., lab.test ,  Other.Test.\n");
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(cfg->nzones, 3);
    cr_assert_str_eq(cfg->zones[0], "vm.example.com");
    cr_assert_str_eq(cfg->zones[1], "lab.test");
    cr_assert_str_eq(cfg->zones[2], "other.test");
    vg_config_free(cfg);

    cfg = load("[dns]\nzone = a.test b.test\tc.test\n");
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(cfg->nzones, 3);
    cr_assert_str_eq(cfg->zones[2], "c.test");
    vg_config_free(cfg);
}

Test(config, bad_zone)
{
    struct vg_config *cfg = load("[dns]\nzone = vm.test, bad_zone.test\n");
    cr_assert_null(cfg);
    cr_assert_not_null(strstr(err, "bad_zone.test"), "%s", err);
    cr_assert_not_null(strstr(err, path), "%s", err);
    cfg = load("[dns]\nzone = vm..test\n");
    cr_assert_null(cfg);
    cfg = load("[dns]\nzone = vm.123\n");
    cr_assert_null(cfg);
}

Test(config, resolver_policy_keys)
{
    struct vg_config *cfg = load("[dns]\nzone = vm.test\n");
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_null(cfg->host_networks);
    cr_assert_eq(cfg->cache_ttl_max, 300);
    cr_assert_eq(cfg->cache_neg_ttl_max, 5);
    vg_config_free(cfg);
    cfg = load("[dns]\nhost-networks = 198.18.0.0/15, fd00::/8 127.0.0.1\ncache-ttl-max = 2\n"
               "cache-negative-ttl-max = 0\n");
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_str_eq(cfg->host_networks, "198.18.0.0/15, fd00::/8 127.0.0.1");
    cr_assert_eq(cfg->cache_ttl_max, 2);
    cr_assert_eq(cfg->cache_neg_ttl_max, 0);
    vg_config_free(cfg);
    cfg = load("[dns]\nhost-networks = 198.18.0.0/15, hv1.example\n");
    cr_assert_null(cfg);
    cr_assert_not_null(strstr(err, "host-networks: 'hv1.example' is not an address or CIDR"), "%s",
                       err);
    cr_assert_null(load("[dns]\nhost-networks = 10.0.0.0/33\n"));
    expect_fail_at("[dns]\ncache-ttl-max = 86401\n", 2, "cache-ttl-max");
    expect_fail_at("[dns]\ncache-negative-ttl-max = -1\n", 2, "cache-negative-ttl-max");
}

Test(config, zone_of)
{
    struct vg_config *cfg = load("[dns]\nzone = vm.test, lab.example.com\n");
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_str_eq(vg_config_zone_of(cfg, "web1.vm.test"), "vm.test");
    cr_assert_str_eq(vg_config_zone_of(cfg, "a.b.lab.example.com"), "lab.example.com");
    cr_assert_null(vg_config_zone_of(cfg, "vm.test"));
    cr_assert_null(vg_config_zone_of(cfg, "web1.xvm.test"));
    cr_assert_null(vg_config_zone_of(cfg, "web1.example.com"));
    cr_assert_null(vg_config_zone_of(cfg, ""));
    vg_config_free(cfg);

    cfg = vg_config_defaults();
    cr_assert_null(vg_config_zone_of(cfg, "web1.vm.test"));
    vg_config_free(cfg);
}

/* ------------------------------------------------------------------ check_gateway */

static const char gw_base[] = "[dns]\nzone = vm.test\n[gateway]\nvm-dir = /srv/vms\n";

static void expect_gateway_error(const char *extra, const char *what)
{
    char text[1024];
    snprintf(text, sizeof text, "%s%s", gw_base, extra);
    struct vg_config *cfg = load(text);
    cr_assert_not_null(cfg, "%s", err);
    err[0] = '\0';
    cr_assert_not(vg_config_check_gateway(cfg, err, sizeof err), "accepted: %s", extra);
    cr_assert_not_null(strstr(err, what), "error '%s' lacks '%s'", err, what);
    vg_config_free(cfg);
}

Test(config, check_gateway_ok)
{
    const char *const ok[] = {
        "listen = 127.0.0.1:1080\nusers-file = /etc/u\n",
        "listen-http = [::1]:3128\nallow-anonymous-from = 127.0.0.1\n",
        "listen = 127.0.0.1:1080 [::1]:1080\nallow-anonymous-from = 127.0.0.0/8, ::1/128\n",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char text[1024];
        snprintf(text, sizeof text, "%s%s", gw_base, ok[i]);
        struct vg_config *cfg = load(text);
        cr_assert_not_null(cfg, "%s", err);
        cr_assert(vg_config_check_gateway(cfg, err, sizeof err), "%s: %s", ok[i], err);
        vg_config_free(cfg);
    }
}

Test(config, check_gateway_errors)
{
    struct vg_config *cfg = load("[gateway]\nlisten = 127.0.0.1:1\nvm-dir = /x\nusers-file = /u\n");
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_not(vg_config_check_gateway(cfg, err, sizeof err));
    cr_assert_not_null(strstr(err, "zone"), "%s", err);
    vg_config_free(cfg);

    cfg = load("[dns]\nzone = vm.test\n[gateway]\nlisten = 127.0.0.1:1\nusers-file = /u\n");
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_not(vg_config_check_gateway(cfg, err, sizeof err));
    cr_assert_not_null(strstr(err, "vm-dir"), "%s", err);
    vg_config_free(cfg);

    expect_gateway_error("users-file = /etc/u\n", "listen");
    expect_gateway_error("listen = 127.0.0.1\nusers-file = /etc/u\n", "'127.0.0.1'");
    expect_gateway_error("listen = 127.0.0.1:1080, web1:22\nusers-file = /etc/u\n", "'web1:22'");
    expect_gateway_error("listen = 127.0.0.1:0\nusers-file = /etc/u\n", "listen");
    expect_gateway_error("listen = 127.0.0.1:1\nlisten-http = :3128\nusers-file = /etc/u\n",
                         "listen-http");
    expect_gateway_error("listen = 127.0.0.1:1\nallow-anonymous-from = 10.0.0.0/33\n",
                         "'10.0.0.0/33'");
    expect_gateway_error("listen = 127.0.0.1:1\nallow-anonymous-from = 127.0.0.1, localhost\n",
                         "'localhost'");
    expect_gateway_error("listen = 127.0.0.1:1\n", "neither users-file nor allow-anonymous-from");
}

/* ------------------------------------------------------------------ describe */

Test(config, describe)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_not_null(f);
    vg_config_describe(f);
    fclose(f);
    cr_assert_not_null(strstr(buf, "[gateway]"));
    cr_assert_not_null(strstr(buf, "listen"));
    cr_assert_not_null(strstr(buf, "default 30"));
    free(buf);
}

/* ------------------------------------------------------------------ allocation failure */

/* Under AddressSanitizer, ask LeakSanitizer now: a leak fails the test that made it (its report
 * at exit would not change the test's verdict).  Without ASan this checks nothing; run the unit
 * tests with VMGATE_SANITIZE=ON for the leak checks. */
#if defined(__SANITIZE_ADDRESS__)
#define VG_HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VG_HAVE_LSAN 1
#endif
#endif
#ifdef VG_HAVE_LSAN
#include <sanitizer/lsan_interface.h>
#endif

static void assert_no_leaks(void)
{
#ifdef VG_HAVE_LSAN
    cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked: see the report above");
#endif
}

Test(config, allocation_failure)
{
    write_file(good);
    unsigned long n, no_message = 0, wrong_message = 0;
    int failures = 0;
    bool completed = false;
    for (n = 1; n < 1000 && !completed; n++) {
        vg_alloc_fail_at(n);
        err[0] = '\0';
        struct vg_config *cfg = vg_config_load(path, err, sizeof err);
        vg_alloc_fail_at(0);
        if (cfg != NULL) {
            /* the failing allocation was never reached: all of them are covered */
            completed = true;
            vg_config_free(cfg);
            break;
        }
        failures++;
        if (err[0] == '\0' && no_message == 0)
            no_message = n;
        else if (strstr(err, "out of memory") == NULL && wrong_message == 0)
            wrong_message = n;
    }
    cr_assert(completed, "load never succeeded");
    cr_assert_eq(no_message, 0, "allocation %lu failed without a message", no_message);
    cr_assert_eq(wrong_message, 0, "allocation %lu: message without 'out of memory'",
                 wrong_message);
    cr_assert_gt(failures, 10, "only %d allocations in a full load?", failures);
    assert_no_leaks();
}

Test(config, no_leak_on_errors)
{
    static const char *const bad[] = {
        "[dns]\nzone = a.test\nttl = x\n", "[dns]\nzone = a.test, b_c.test\n",
        "[dns]\nzone = a.test\nttl = 1\n", "[gateway]\nlisten = 1.2.3.4:1\nnope = 1\n",
        "[gateway]\nlog-level = loud\n",
    };
    struct vg_config *cfg;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(bad[i]);
        cfg = vg_config_load(path, err, sizeof err);
        if (cfg != NULL)
            vg_config_free(cfg);
    }
    write_file(good);
    cfg = vg_config_load(path, err, sizeof err);
    vg_config_free(cfg);
    assert_no_leaks();
}

Test(config, allocation_failure_in_check)
{
    struct vg_config *cfg = load(good);
    cr_assert_not_null(cfg, "%s", err);
    for (unsigned long n = 1; n < 20; n++) {
        vg_alloc_fail_at(n);
        err[0] = '\0';
        bool ok = vg_config_check_gateway(cfg, err, sizeof err);
        vg_alloc_fail_at(0);
        if (ok)
            break;
        cr_assert_not_null(strstr(err, "out of memory"), "%s", err);
    }
    vg_config_free(cfg);
    assert_no_leaks();
}

/* [gateway] audit-log, audit-queue, metrics-listen (docs/operations.md) */
Test(config, audit_and_metrics_keys)
{
    struct vg_config *cfg = load("[dns]\nzone = vm.test\n");
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_null(cfg->audit_log);
    cr_assert_null(cfg->metrics_listen);
    cr_assert_eq(cfg->audit_queue, 65536);
    vg_config_free(cfg);
    cfg = load("[dns]\nzone = vm.test\n[gateway]\nvm-dir = /srv/vms\nlisten = 127.0.0.1:1080\n"
               "allow-anonymous-from = 127.0.0.1\naudit-log = /var/log/vmgate/audit.log\n"
               "audit-queue = 10\nmetrics-listen = 127.0.0.1:9464, [::1]:9464\n");
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_str_eq(cfg->audit_log, "/var/log/vmgate/audit.log");
    cr_assert_eq(cfg->audit_queue, 10);
    cr_assert_str_eq(cfg->metrics_listen, "127.0.0.1:9464, [::1]:9464");
    cr_assert(vg_config_check_gateway(cfg, err, sizeof err), "%s", err);
    vg_config_free(cfg);
    expect_fail_at("[gateway]\naudit-queue = 0\n", 2, "audit-queue");
    expect_gateway_error("listen = 127.0.0.1:1\nusers-file = /u\naudit-log = audit.log\n",
                         "audit-log must be an absolute path");
    expect_gateway_error("listen = 127.0.0.1:1\nusers-file = /u\nmetrics-listen = localhost:9\n",
                         "metrics-listen: 'localhost:9' is not ADDR:PORT");
}
