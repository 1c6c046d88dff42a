/* Unit tests for the gateway's loop-free core: VM table files, channel specs, users file,
 * login back-off. */
#include "authlimit.h"
#include "vg_chan.h"
#include "users.h"
#include "vmtable.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <crypt.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static char dir[64];

static void mkdir_tmp(void)
{
    strcpy(dir, "/tmp/vg-gwcore.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void rm_tmp(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

static void write_file(const char *name, const char *text)
{
    char path[256], tmp[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    FILE *f = fopen(tmp, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    cr_assert_eq(rename(tmp, path), 0); /* atomic, as the registrar writes them */
}

/* ---- channel specs ---- */

Test(channel, tcp_v4_v6)
{
    struct vg_chan c;
    char err[128];
    struct sockaddr_storage ss;
    socklen_t len;
    cr_assert(vg_chan_parse("tcp:198.18.1.2", &c, err, sizeof err));
    cr_assert_eq(c.kind, VG_CHAN_TCP);
    vg_chan_sockaddr(&c, 22, &ss, &len);
    cr_assert_eq(ss.ss_family, AF_INET);
    cr_assert_eq(ntohs(((struct sockaddr_in *)&ss)->sin_port), 22);
    cr_assert_eq(len, sizeof(struct sockaddr_in));

    cr_assert(vg_chan_parse("tcp:fd00:1::2", &c, err, sizeof err));
    vg_chan_sockaddr(&c, 443, &ss, &len);
    cr_assert_eq(ss.ss_family, AF_INET6);
    cr_assert_eq(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 443);
    cr_assert(vg_chan_parse("tcp:[fd00:1::2]", &c, err, sizeof err));
    cr_assert_eq(c.addr.ss_family, AF_INET6);
}

Test(channel, tcp_rejects)
{
    struct vg_chan c;
    char err[128];
    const char *bad[] = {"tcp:",         "tcp:198.18.1.2:22", "tcp:[fd00::1]:22", "tcp:web1",
                         "tcp:198.18.1", "tcp:[fd00::1",      "tcp: 198.18.1.2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_not(vg_chan_parse(bad[i], &c, err, sizeof err), "%s accepted", bad[i]);
}

Test(channel, vsock_address_handling)
{
    struct vg_chan c;
    char err[128];
    struct sockaddr_storage ss;
    socklen_t len;
    cr_assert(vg_chan_parse("vsock:42", &c, err, sizeof err));
    cr_assert_eq(c.kind, VG_CHAN_VSOCK);
    cr_assert_eq(c.cid, 42);
    vg_chan_sockaddr(&c, 2222, &ss, &len);
    const struct sockaddr_vm *svm = (const struct sockaddr_vm *)&ss;
    cr_assert_eq(svm->svm_family, AF_VSOCK);
    cr_assert_eq(svm->svm_cid, 42);
    cr_assert_eq(svm->svm_port, 2222);
    cr_assert_eq(len, sizeof *svm);
    /* 0 hypervisor, 1 local, 2 host, -1 any: never a guest */
    const char *bad[] = {"vsock:0", "vsock:1",     "vsock:2",  "vsock:4294967295",
                         "vsock:",  "vsock:12abc", "vsock:-3", "vsock:99999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_not(vg_chan_parse(bad[i], &c, err, sizeof err), "%s accepted", bad[i]);
    cr_assert(vg_chan_parse("vsock:4294967294", &c, err, sizeof err));
}

Test(channel, unix_paths)
{
    struct vg_chan c;
    char err[128];
    struct sockaddr_storage ss;
    socklen_t len;
    cr_assert(vg_chan_parse("vsock-mux:/run/fc/web1.vsock", &c, err, sizeof err));
    cr_assert_eq(c.kind, VG_CHAN_VSOCK_MUX);
    vg_chan_sockaddr(&c, 80, &ss, &len);
    cr_assert_eq(ss.ss_family, AF_UNIX);
    cr_assert_str_eq(((struct sockaddr_un *)&ss)->sun_path, "/run/fc/web1.vsock");
    cr_assert(vg_chan_parse("serial:/run/vmgate/web1.sock", &c, err, sizeof err));
    cr_assert_eq(c.kind, VG_CHAN_SERIAL);
    cr_assert_not(vg_chan_parse("vsock-mux:relative/path", &c, err, sizeof err));
    cr_assert_not(vg_chan_parse("serial:", &c, err, sizeof err));
    char longp[200] = "vsock-mux:/";
    memset(longp + 11, 'a', 150);
    longp[161] = '\0';
    cr_assert_not(vg_chan_parse(longp, &c, err, sizeof err));
    cr_assert_not(vg_chan_parse("udp:1.2.3.4", &c, err, sizeof err));
}

/* ---- VM files ---- */

Test(vmfile, parse_ok)
{
    struct vg_vm vm;
    char err[128];
    cr_assert(vg_vm_parse("# web1\nchannel = tcp:198.18.1.2\nports = 22, 80,8000-8100\n"
                          "owner = hv1   # registrar key, ignored\n",
                          &vm, err, sizeof err),
              "%s", err);
    cr_assert_eq(vm.nranges, 3);
    cr_assert(vg_vm_port_allowed(&vm, 22));
    cr_assert(vg_vm_port_allowed(&vm, 8050));
    cr_assert_not(vg_vm_port_allowed(&vm, 23));
    cr_assert_not(vg_vm_port_allowed(&vm, 8101));
    cr_assert(vg_vm_parse("channel=vsock:7\r\n", &vm, err, sizeof err), "%s", err);
    cr_assert_eq(vm.nranges, 0);
    cr_assert(vg_vm_port_allowed(&vm, 1));
}

Test(vmfile, parse_errors)
{
    struct vg_vm vm;
    char err[128];
    const char *bad[] = {"",
                         "ports = 22\n",
                         "channel tcp:1.2.3.4\n",
                         "channel = nope:1\n",
                         "channel = tcp:1.2.3.4\nports = 0\n",
                         "channel = tcp:1.2.3.4\nports = 80-22\n",
                         "channel = tcp:1.2.3.4\nports = 22abc\n",
                         "channel = tcp:1.2.3.4\nports = ,\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        cr_assert_not(vg_vm_parse(bad[i], &vm, err, sizeof err), "accepted: %s", bad[i]);
        cr_assert_neq(err[0], '\0');
    }
}

Test(vmfile, allow_out)
{
    struct vg_vm vm;
    char err[128];
    cr_assert(vg_vm_parse("channel = serial:/run/vm1.sock\n"
                          "allow-out = web2.vm.test:80, *.db.vm.test:5432-5433, API.vm.test.:*\n",
                          &vm, err, sizeof err),
              "%s", err);
    cr_assert_eq(vm.nout, 3);
    cr_assert(vg_vm_out_allowed(&vm, "web2.vm.test", 80));
    cr_assert_not(vg_vm_out_allowed(&vm, "web2.vm.test", 81));
    cr_assert_not(vg_vm_out_allowed(&vm, "web3.vm.test", 80));
    cr_assert(vg_vm_out_allowed(&vm, "a.db.vm.test", 5433));
    cr_assert_not(vg_vm_out_allowed(&vm, "db.vm.test", 5432)); /* "*." means strictly below */
    cr_assert(vg_vm_out_allowed(&vm, "api.vm.test", 1));
    cr_assert(vg_vm_out_allowed(&vm, "api.vm.test", 65535));
    /* no allow-out: nothing may go out */
    cr_assert(vg_vm_parse("channel = serial:/run/vm1.sock\n", &vm, err, sizeof err));
    cr_assert_not(vg_vm_out_allowed(&vm, "web2.vm.test", 80));
    const char *bad[] = {"allow-out = web2.vm.test\n",   "allow-out = :80\n",
                         "allow-out = web2.vm.test:0\n", "allow-out = we_b.vm.test:80\n",
                         "allow-out = *.:80\n",          "allow-out = web2.vm.test:90-80\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[200];
        snprintf(text, sizeof text, "channel = tcp:1.2.3.4\n%s", bad[i]);
        cr_assert_not(vg_vm_parse(text, &vm, err, sizeof err), "accepted %s", bad[i]);
        cr_assert(strstr(err, "allow-out") != NULL, "%s", err);
    }
}

Test(vmtable, lookup_sees_changes, .init = mkdir_tmp, .fini = rm_tmp)
{
    struct vg_vmtable *t = vg_vmtable_new(dir);
    const struct vg_vm *vm;
    char err[256] = "";
    cr_assert_eq(vg_vmtable_lookup(t, "web1.vm.test", &vm, err, sizeof err), VG_VM_UNKNOWN);
    write_file("web1.vm.test", "channel = tcp:198.18.1.2\n");
    cr_assert_eq(vg_vmtable_lookup(t, "web1.vm.test", &vm, err, sizeof err), VG_VM_OK);
    cr_assert_eq(vm->chan.addr.ss_family, AF_INET);
    /* replaced atomically with a different channel of the same length: seen at once */
    write_file("web1.vm.test", "channel = tcp:198.18.1.3\n");
    cr_assert_eq(vg_vmtable_lookup(t, "web1.vm.test", &vm, err, sizeof err), VG_VM_OK);
    cr_assert_eq(((const struct sockaddr_in *)&vm->chan.addr)->sin_addr.s_addr, htonl(0xc6120103));
    write_file("web1.vm.test", "channel = bogus\n");
    cr_assert_eq(vg_vmtable_lookup(t, "web1.vm.test", &vm, err, sizeof err), VG_VM_BROKEN);
    cr_assert(strstr(err, "web1.vm.test") != NULL, "%s", err);
    char path[256];
    snprintf(path, sizeof path, "%s/web1.vm.test", dir);
    unlink(path);
    cr_assert_eq(vg_vmtable_lookup(t, "web1.vm.test", &vm, err, sizeof err), VG_VM_UNKNOWN);
    /* a directory or a symlink under a VM's name is not an entry */
    snprintf(path, sizeof path, "%s/dir.vm.test", dir);
    cr_assert_eq(mkdir(path, 0700), 0);
    cr_assert_eq(vg_vmtable_lookup(t, "dir.vm.test", &vm, err, sizeof err), VG_VM_BROKEN);
    write_file("real.vm.test", "channel = tcp:198.18.1.2\n");
    snprintf(path, sizeof path, "%s/link.vm.test", dir);
    cr_assert_eq(symlink("real.vm.test", path), 0);
    cr_assert_eq(vg_vmtable_lookup(t, "link.vm.test", &vm, err, sizeof err), VG_VM_BROKEN);
    /* oversized file */
    char big[6000];
    memset(big, '#', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    write_file("big.vm.test", big);
    cr_assert_eq(vg_vmtable_lookup(t, "big.vm.test", &vm, err, sizeof err), VG_VM_BROKEN);
    vg_vmtable_free(t);
}

Test(vmtable, missing_dir)
{
    struct vg_vmtable *t = vg_vmtable_new("/nonexistent/vmgate");
    const struct vg_vm *vm;
    char err[256];
    cr_assert_eq(vg_vmtable_lookup(t, "web1.vm.test", &vm, err, sizeof err), VG_VM_UNKNOWN);
    vg_vmtable_free(t);
}

/* ---- users ---- */

/* crypt(3) hashes of "secret" made with `openssl passwd -6 -salt vmgatetest secret` and
 * `mkpasswd -m yescrypt`-style prefixes are checked through libcrypt itself. */
Test(users, load_and_check, .init = mkdir_tmp, .fini = rm_tmp)
{
    char err[256];
    char hash6[256], hashy[256];
    struct crypt_data cd;
    memset(&cd, 0, sizeof cd);
    snprintf(hash6, sizeof hash6, "%s", crypt_r("secret", "$6$vmgatetest$", &cd));
    memset(&cd, 0, sizeof cd);
    const char *ysalt = crypt_gensalt_rn("$y$", 0, NULL, 0, (char[CRYPT_GENSALT_OUTPUT_SIZE]){0},
                                         CRYPT_GENSALT_OUTPUT_SIZE);
    cr_assert_not_null(ysalt);
    snprintf(hashy, sizeof hashy, "%s", crypt_r("pa:ss word", ysalt, &cd));
    char text[1024];
    snprintf(text, sizeof text, "# users\nalice:%s\n\nbob:%s\n", hash6, hashy);
    write_file("users", text);
    char path[256];
    snprintf(path, sizeof path, "%s/users", dir);
    struct vg_users *u = vg_users_load(path, err, sizeof err);
    cr_assert_not_null(u, "%s", err);
    cr_assert_eq(vg_users_count(u), 2);
    cr_assert(vg_users_check(u, "alice", "secret"));
    cr_assert_not(vg_users_check(u, "alice", "Secret"));
    cr_assert_not(vg_users_check(u, "alice", ""));
    cr_assert(vg_users_check(u, "bob", "pa:ss word"));
    cr_assert_not(vg_users_check(u, "carol", "secret"));
    cr_assert_not(vg_users_check(u, "", "secret"));
    vg_users_free(u);
}

Test(users, errors_with_line_numbers, .init = mkdir_tmp, .fini = rm_tmp)
{
    char err[256], path[256];
    snprintf(path, sizeof path, "%s/users", dir);
    struct {
        const char *text, *want;
    } cases[] = {
        {"alice:$6$x$y\nbob\n", ":2: expected user:crypt-hash"},
        {"alice:plain\n", ":1: 'alice': hash is not in crypt(3)"},
        {"a:$6$x$y\na:$6$x$z\n", ":2: user 'a' listed twice"},
        {":$6$x$y\n", ":1: expected"},
        {"a:$6$x$y:ops,,dev\n", ":1: 'a': groups must be a comma list"},
        {"a:$6$x$y:ops dev\n", ":1: 'a': groups must be"},
        {"a:$6$x$y:ops,\n", ":1: 'a': groups must be"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_file("users", cases[i].text);
        cr_assert_null(vg_users_load(path, err, sizeof err));
        cr_assert(strstr(err, cases[i].want) != NULL, "got '%s', want '%s'", err, cases[i].want);
    }
    cr_assert_null(vg_users_load("/nonexistent/users", err, sizeof err));
    cr_assert(strstr(err, "cannot open") != NULL);
}

Test(users, groups_field, .init = mkdir_tmp, .fini = rm_tmp)
{
    char err[256], path[256], text[512];
    struct crypt_data cd;
    memset(&cd, 0, sizeof cd);
    const char *h = crypt_r("secret", "$6$vmgatetest$", &cd);
    snprintf(text, sizeof text, "alice:%s:ops,dev\nbob:%s\ncarol:%s:\n", h, h, h);
    write_file("users", text);
    snprintf(path, sizeof path, "%s/users", dir);
    struct vg_users *u = vg_users_load(path, err, sizeof err);
    cr_assert_not_null(u, "%s", err);
    cr_assert_str_eq(vg_users_groups(u, "alice"), "ops,dev");
    cr_assert_null(vg_users_groups(u, "bob"));
    cr_assert_null(vg_users_groups(u, "carol"));
    cr_assert_null(vg_users_groups(u, "nobody"));
    cr_assert(vg_users_check(u, "alice", "secret"), "the groups field is not part of the hash");
    cr_assert(vg_users_check(u, "carol", "secret"));
    vg_users_free(u);
}

Test(users, method_of)
{
    char m[VG_USERS_METHOD_MAX];
    static const char *const cases[][2] = {
        {"$y$j9T$salt$hash", "$y$j9T"},
        {"$6$salt$hash", "$6"},
        {"$6$rounds=9000$salt$hash", "$6$rounds=9000"},
        {"$2b$12$abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNO", "$2b$12"},
        {"$1$salt$hash", "$1"},
        {"$6$hash", "$6"},
        {"$x", "$x"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vg_users_method_of(cases[i][0], m, sizeof m);
        cr_assert_str_eq(m, cases[i][1], "%s", cases[i][0]);
    }
}

/* An unknown user is hashed with the method and cost most users of the file have. */
Test(users, unknown_user_same_method, .init = mkdir_tmp, .fini = rm_tmp)
{
    char err[256], text[2048], path[256], hy1[256], hy2[256], h6[256];
    char gs[CRYPT_GENSALT_OUTPUT_SIZE];
    struct crypt_data cd;
    memset(&cd, 0, sizeof cd);
    snprintf(h6, sizeof h6, "%s", crypt_r("six", "$6$vmgatetest$", &cd));
    cr_assert_not_null(crypt_gensalt_rn("$y$", 0, NULL, 0, gs, sizeof gs));
    snprintf(hy1, sizeof hy1, "%s", crypt_r("one", gs, &cd));
    cr_assert_not_null(crypt_gensalt_rn("$y$", 0, NULL, 0, gs, sizeof gs));
    snprintf(hy2, sizeof hy2, "%s", crypt_r("two", gs, &cd));
    snprintf(text, sizeof text, "carol:%s\nalice:%s\nbob:%s\n", h6, hy1, hy2);
    write_file("users", text);
    snprintf(path, sizeof path, "%s/users", dir);
    struct vg_users *u = vg_users_load(path, err, sizeof err);
    cr_assert_not_null(u, "%s", err);
    cr_assert_str_eq(vg_users_dummy_method(u), "$y$j9T");

    struct vg_users_target t;
    vg_users_target(u, "mallory", &t);
    cr_assert_not(t.known);
    cr_assert_str_eq(t.method, "$y$j9T");
    /* the dummy is a real hash of the file: even its password is "no" for an unknown name */
    cr_assert_not(vg_users_verify(&t, "one", &cd));
    cr_assert_not(vg_users_check(u, "mallory", "one"));
    vg_users_target(u, "carol", &t);
    cr_assert(t.known);
    cr_assert_str_eq(t.method, "$6");
    cr_assert(vg_users_verify(&t, "six", &cd));
    cr_assert(vg_users_check(u, "bob", "two"));
    vg_users_free(u);

    /* no users file: a fixed $6$ hash */
    vg_users_target(NULL, "x", &t);
    cr_assert_not(t.known);
    cr_assert_str_eq(t.method, "$6");
    cr_assert_not(vg_users_verify(&t, "", &cd));
}

/* ---- authlimit: back-off per address and per user ---- */

#define S 1000000000ull
#define MS 1000000ull

static struct sockaddr_in v4(uint32_t a)
{
    struct sockaddr_in s = {.sin_family = AF_INET, .sin_port = htons(1234)};
    s.sin_addr.s_addr = htonl(a);
    return s;
}

Test(authlimit, free_failures_then_doubling)
{
    struct gw_limit *l = gw_limit_new(1);
    cr_assert_not_null(l);
    struct sockaddr_in a = v4(0xc6120003);
    const struct sockaddr *sa = (const struct sockaddr *)&a;
    uint64_t now = 1000 * S;
    for (int i = 0; i < GW_LIMIT_FREE; i++) {
        cr_assert_eq(gw_limit_admit(l, sa, "bob", now), 0);
        cr_assert_eq(gw_limit_failed(l, sa, "bob", now), 0, "failure %d is free", i + 1);
    }
    /* the next failures: 1 s, 2 s, 4 s ... */
    uint64_t want = GW_LIMIT_BACKOFF_MIN_MS * MS;
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(gw_limit_failed(l, sa, "bob", now), want);
        cr_assert_eq(gw_limit_admit(l, sa, "bob", now), want);
        cr_assert_eq(gw_limit_admit(l, sa, "alice", now), want, "the address waits, any user");
        now += want;
        cr_assert_eq(gw_limit_admit(l, sa, "bob", now), 0, "over once the back-off ran");
        want *= 2;
    }
    /* failures of checks in flight together do not double it */
    cr_assert_eq(gw_limit_failed(l, sa, "bob", now), want);
    cr_assert_eq(gw_limit_failed(l, sa, "bob", now + 1), want - 1);
    cr_assert_eq(gw_limit_admit(l, sa, "bob", now + 1), want - 1);
    now += want;
    /* capped */
    for (int i = 0; i < 20; i++)
        now += gw_limit_failed(l, sa, "bob", now);
    cr_assert_eq(gw_limit_failed(l, sa, "bob", now), (uint64_t)GW_LIMIT_BACKOFF_MAX_S * S);
    /* forgotten after the window (and the back-off) passed */
    now += (uint64_t)GW_LIMIT_WINDOW_S * S + 1;
    cr_assert_eq(gw_limit_admit(l, sa, "bob", now), 0);
    cr_assert_eq(gw_limit_failed(l, sa, "bob", now), 0, "counting starts again");
    gw_limit_free(l);
}

Test(authlimit, user_backoff_spares_clean_addresses)
{
    struct gw_limit *l = gw_limit_new(2);
    uint64_t now = 1000 * S;
    /* guessers from many addresses, one failure each, all for "admin" */
    for (uint32_t i = 0; i < GW_LIMIT_FREE + 3; i++) {
        struct sockaddr_in a = v4(0xc6120100 + i);
        gw_limit_failed(l, (struct sockaddr *)&a, "admin", now);
    }
    struct sockaddr_in guesser = v4(0xc6120100), owner = v4(0xc61200ff);
    cr_assert_gt(gw_limit_admit(l, (struct sockaddr *)&guesser, "admin", now), 0,
                 "an address that failed waits for the user's back-off");
    cr_assert_eq(gw_limit_admit(l, (struct sockaddr *)&guesser, "other", now), 0);
    cr_assert_eq(gw_limit_admit(l, (struct sockaddr *)&owner, "admin", now), 0,
                 "an address without failures is always checked");
    /* the owner logs in: the user's record is cleared */
    gw_limit_succeeded(l, (struct sockaddr *)&owner, "admin", now);
    cr_assert_eq(gw_limit_admit(l, (struct sockaddr *)&guesser, "admin", now), 0);
    gw_limit_free(l);
}

Test(authlimit, v4_mapped_is_the_same_address)
{
    struct gw_limit *l = gw_limit_new(3);
    uint64_t now = 1000 * S;
    struct sockaddr_in a = v4(0xc6120003);
    struct sockaddr_in6 m = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "::ffff:198.18.0.3", &m.sin6_addr);
    for (int i = 0; i <= GW_LIMIT_FREE; i++)
        gw_limit_failed(l, (struct sockaddr *)(i % 2 ? (void *)&m : (void *)&a), "u", now);
    cr_assert_gt(gw_limit_admit(l, (struct sockaddr *)&a, "x", now), 0);
    cr_assert_gt(gw_limit_admit(l, (struct sockaddr *)&m, "x", now), 0);
    gw_limit_free(l);
}

/* Fixed size: many addresses never grow the table; the newest failures are kept. */
Test(authlimit, bounded_with_eviction)
{
    struct gw_limit *l = gw_limit_new(4);
    uint64_t now = 1000 * S;
    for (uint32_t i = 0; i < 20 * GW_LIMIT_SLOTS; i++) {
        struct sockaddr_in a = v4(0x0a000000 + i);
        gw_limit_failed(l, (struct sockaddr *)&a, "u", now + i);
    }
    struct sockaddr_in last = v4(0x0a000000 + 20 * GW_LIMIT_SLOTS - 1);
    now += 20 * GW_LIMIT_SLOTS;
    for (int i = 0; i < GW_LIMIT_FREE; i++)
        gw_limit_failed(l, (struct sockaddr *)&last, "v", now);
    cr_assert_gt(gw_limit_admit(l, (struct sockaddr *)&last, "v", now), 0);
    gw_limit_free(l);
}

/* After a back-off, guessers that were all waiting get one check through, not one each. */
Test(authlimit, one_check_in_flight_after_backoff)
{
    struct gw_limit *l = gw_limit_new(5);
    struct sockaddr_in a = v4(0xc6120003);
    const struct sockaddr *sa = (const struct sockaddr *)&a;
    uint64_t now = 1000 * S;
    for (int i = 0; i <= GW_LIMIT_FREE; i++)
        gw_limit_failed(l, sa, "bob", now);
    now += GW_LIMIT_BACKOFF_MIN_MS * MS;
    cr_assert_eq(gw_limit_admit(l, sa, "bob", now), 0, "the first is checked");
    cr_assert_gt(gw_limit_admit(l, sa, "bob", now), 0, "the others wait for its outcome");
    cr_assert_gt(gw_limit_admit(l, sa, "carol", now), 0);
    cr_assert_eq(gw_limit_failed(l, sa, "bob", now), 2 * GW_LIMIT_BACKOFF_MIN_MS * MS);
    /* a probe whose outcome never came (its client's job was dropped) expires */
    now += 2 * GW_LIMIT_BACKOFF_MIN_MS * MS;
    cr_assert_eq(gw_limit_admit(l, sa, "bob", now), 0);
    cr_assert_gt(gw_limit_admit(l, sa, "bob", now), 0);
    now += (uint64_t)GW_LIMIT_PROBE_S * S;
    cr_assert_eq(gw_limit_admit(l, sa, "bob", now), 0);
    /* a success ends the probe */
    gw_limit_succeeded(l, sa, "bob", now);
    cr_assert_eq(gw_limit_admit(l, sa, "bob", now), 0);
    gw_limit_free(l);
}
