/* The VM table entry (common/vg_vmentry), its syntax (vg_kvfile) and channel specs (vg_chan):
 * the one module every program reads and writes entries with. */
#include "vg_alloc.h"
#include "vg_chan.h"
#include "vg_kvfile.h"
#include "vg_vmentry.h"

#include <criterion/criterion.h>
#include <string.h>

static struct vg_kvfile *parse(const char *text, char *err, size_t errlen)
{
    return vg_kvfile_parse(text, strlen(text), err, errlen);
}

Test(kvfile, round_trip_keeps_every_line)
{
    const char *text = "# comment\n\n; another\nchannel = vsock:3  # trailing\n"
                       "x-unknown=keep me\nports = 22\n";
    char err[128];
    struct vg_kvfile *f = parse(text, err, sizeof err);
    cr_assert_not_null(f, "%s", err);
    cr_assert_str_eq(vg_kvfile_get(f, "channel"), "vsock:3");
    cr_assert_str_eq(vg_kvfile_get(f, "x-unknown"), "keep me");
    cr_assert_eq(vg_kvfile_line(f, "ports"), 6);
    char *out = vg_kvfile_format(f, NULL);
    cr_assert_str_eq(out, "# comment\n\n; another\nchannel = vsock:3  # trailing\n"
                          "x-unknown = keep me\nports = 22\n");
    vg_free(out);
    cr_assert(vg_kvfile_set(f, "channel", "vsock:4"));
    cr_assert(vg_kvfile_set(f, "ports", NULL));
    cr_assert(vg_kvfile_set(f, "owner", "hv1"));
    cr_assert_not(vg_kvfile_set(f, "owner", "a # b"), "would read back as a comment");
    cr_assert_not(vg_kvfile_set(f, "owner", "two\nlines"));
    cr_assert_not(vg_kvfile_set(f, "Bad_Key", "x"));
    out = vg_kvfile_format(f, NULL);
    cr_assert_str_eq(out, "# comment\n\n; another\nchannel = vsock:4  # trailing\n"
                          "x-unknown = keep me\nowner = hv1\n");
    vg_free(out);
    vg_kvfile_free(f);
}

Test(kvfile, errors_name_the_line)
{
    char err[128];
    struct {
        const char *text, *msg;
    } bad[] = {
        {"channel = vsock:3\nno equals sign\n", "line 2: expected key = value"},
        {"\n\n= value\n", "line 3: expected key = value"},
        {"ports = 1\nports = 2\n", "line 2: 'ports' given twice"},
        {"Channel = vsock:3\n", "line 1: expected key = value"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_null(parse(bad[i].text, err, sizeof err), "accepted %s", bad[i].text);
        cr_assert_str_eq(err, bad[i].msg);
    }
    cr_assert_null(vg_kvfile_parse("a = b\0c\n", 8, err, sizeof err));
    cr_assert(strstr(err, "NUL"));
}

Test(chan, format_round_trip)
{
    const char *specs[][2] = {
        {"tcp:198.18.1.2", "tcp:198.18.1.2"},
        {"tcp:[fd00::2]", "tcp:[fd00::2]"},
        {"tcp:fd00::2", "tcp:[fd00::2]"},
        {"vsock:3", "vsock:3"},
        {"serial:/run/x.sock", "serial:/run/x.sock"},
        {"vsock-mux:/run/fc/v.sock", "vsock-mux:/run/fc/v.sock"},
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        struct vg_chan c;
        char err[128], buf[200];
        cr_assert(vg_chan_parse(specs[i][0], &c, err, sizeof err), "%s: %s", specs[i][0], err);
        cr_assert_str_eq(vg_chan_format(&c, buf, sizeof buf), specs[i][1]);
    }
}

/* One message for a bad spec, whichever program reads it (the gateway and vmgate-reg used to
 * disagree on tcp:ADDR:PORT and tcp:[v6]). */
Test(vmentry, channel_checked_once)
{
    char err[256];
    cr_assert(vg_vmentry_value_check("channel", "tcp:[fd00::2]", err, sizeof err), "%s", err);
    cr_assert_not(vg_vmentry_value_check("channel", "tcp:1.2.3.4:22", err, sizeof err));
    cr_assert_str_eq(err, "channel 'tcp:1.2.3.4:22': tcp channel wants an IPv4 or IPv6 address "
                          "without port");
    const char *bad[] = {"serial:/with space", "serial:rel", "vsock:2",
                         "udp:1.2.3.4",        "nocolon",    "tcp:example.com"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_not(vg_vmentry_value_check("channel", bad[i], err, sizeof err), "%s", bad[i]);
}

Test(vmentry, keys_values_and_canonical_form)
{
    char err[256], canon[256];
    cr_assert(vg_vmentry_key_known("allow-out"));
    cr_assert(vg_vmentry_key_settable("ports"));
    cr_assert_not(vg_vmentry_key_settable("channel"));
    cr_assert_not(vg_vmentry_key_known("prots"));
    cr_assert(
        vg_vmentry_value_canon("ports", "22, 80 8000-8100", canon, sizeof canon, err, sizeof err));
    cr_assert_str_eq(canon, "22,80,8000-8100");
    cr_assert(vg_vmentry_value_canon("allow-out", "*.vm.test:22,  web2.vm.test:*", canon,
                                     sizeof canon, err, sizeof err));
    cr_assert_str_eq(canon, "*.vm.test:22,web2.vm.test:*");
    cr_assert_not(vg_vmentry_value_check("ports", "", err, sizeof err));
    cr_assert_not(vg_vmentry_value_check("ports", "0", err, sizeof err));
    cr_assert_not(vg_vmentry_value_check("ports", "90-80", err, sizeof err));
    cr_assert_not(vg_vmentry_value_check("qmp", "rel/q.sock", err, sizeof err));
    cr_assert(vg_vmentry_value_check("x-anything", "goes", err, sizeof err));
    cr_assert_not(vg_vmentry_value_canon("ports", "22,80", canon, 4, err, sizeof err),
                  "too small an output is an error, not a cut list");
}

Test(vmentry, a_bad_known_key_breaks_the_entry)
{
    struct vg_vm vm;
    char err[256];
    cr_assert(vg_vm_parse("channel = vsock:3\nx-other = ok\n", &vm, err, sizeof err), "%s", err);
    cr_assert_not(vg_vm_parse("channel = vsock:3\nqmp = relative\n", &vm, err, sizeof err));
    cr_assert_not(vg_vm_parse("ports = 22\n", &vm, err, sizeof err));
    cr_assert_str_eq(err, "no channel");
}
