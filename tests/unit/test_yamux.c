/* Unit tests for common/vg_yamux: the yamux frame header codec and frame checks. */
#include "vg_yamux.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Feed `buf` one byte more at a time: NEED_MORE (nothing consumed) until the full header. */
static enum vg_yamux_status decode_bytewise(const uint8_t *buf, size_t len, struct vg_yamux_hdr *h,
                                            size_t *used)
{
    enum vg_yamux_status st = VG_YAMUX_NEED_MORE;
    for (size_t n = 0; n <= len; n++) {
        *used = 999;
        st = vg_yamux_decode(buf, n, h, used);
        if (st != VG_YAMUX_NEED_MORE)
            return st;
        cr_assert_eq(*used, 999, "NEED_MORE consumed bytes at %zu", n);
        cr_assert_lt(n, VG_YAMUX_HDR_LEN, "NEED_MORE with a whole header");
    }
    return st;
}

Test(yamux_codec, encode_layout_big_endian)
{
    uint8_t b[VG_YAMUX_HDR_LEN];
    vg_yamux_encode(b, VG_YAMUX_WINDOW_UPDATE, VG_YAMUX_SYN | VG_YAMUX_FIN, 0x01020304u,
                    0xa0b0c0d0u);
    const uint8_t want[] = {0, 1, 0x00, 0x05, 1, 2, 3, 4, 0xa0, 0xb0, 0xc0, 0xd0};
    cr_assert_arr_eq(b, want, sizeof want);
}

Test(yamux_codec, roundtrip_all_types_and_flags_bytewise)
{
    for (uint8_t type = 0; type <= VG_YAMUX_GO_AWAY; type++) {
        for (uint16_t flags = 0; flags <= VG_YAMUX_FLAGS_ALL; flags++) {
            uint8_t b[VG_YAMUX_HDR_LEN + 3] = {0};
            uint32_t id = type <= VG_YAMUX_WINDOW_UPDATE ? 0x7fffffffu + flags : 0;
            uint32_t len = 0x00040000u ^ ((uint32_t)flags << 24);
            vg_yamux_encode(b, type, flags, id, len);
            b[12] = 0xee; /* bytes after the header are not looked at */
            struct vg_yamux_hdr h;
            size_t used = 0;
            cr_assert_eq(decode_bytewise(b, VG_YAMUX_HDR_LEN, &h, &used), VG_YAMUX_OK);
            cr_assert_eq(used, VG_YAMUX_HDR_LEN);
            cr_assert_eq(h.version, 0);
            cr_assert_eq(h.type, type);
            cr_assert_eq(h.flags, flags);
            cr_assert_eq(h.stream_id, id);
            cr_assert_eq(h.length, len);
            /* also with trailing bytes: still exactly one header consumed */
            cr_assert_eq(vg_yamux_decode(b, sizeof b, &h, &used), VG_YAMUX_OK);
            cr_assert_eq(used, VG_YAMUX_HDR_LEN);
        }
    }
}

Test(yamux_codec, extreme_values)
{
    uint8_t b[VG_YAMUX_HDR_LEN];
    struct vg_yamux_hdr h;
    size_t used;
    vg_yamux_encode(b, VG_YAMUX_DATA, 0xffff, UINT32_MAX, UINT32_MAX);
    cr_assert_eq(vg_yamux_decode(b, sizeof b, &h, &used), VG_YAMUX_OK);
    cr_assert_eq(h.flags, 0xffff);
    cr_assert_eq(h.stream_id, UINT32_MAX);
    cr_assert_eq(h.length, UINT32_MAX);
}

Test(yamux_codec, bad_version_seen_at_first_byte)
{
    uint8_t b[VG_YAMUX_HDR_LEN];
    struct vg_yamux_hdr h;
    size_t used = 7;
    vg_yamux_encode(b, VG_YAMUX_DATA, 0, 1, 0);
    b[0] = 1;
    cr_assert_eq(vg_yamux_decode(b, 1, &h, &used), VG_YAMUX_E_VERSION);
    cr_assert_eq(vg_yamux_decode(b, sizeof b, &h, &used), VG_YAMUX_E_VERSION);
    cr_assert_eq(used, 7);
    b[0] = 0xff;
    cr_assert_eq(decode_bytewise(b, sizeof b, &h, &used), VG_YAMUX_E_VERSION);
}

Test(yamux_codec, unknown_type_seen_at_second_byte)
{
    uint8_t b[VG_YAMUX_HDR_LEN];
    struct vg_yamux_hdr h;
    size_t used = 7;
    for (unsigned t = 4; t < 256; t++) {
        vg_yamux_encode(b, (uint8_t)t, 0, 0, 0);
        cr_assert_eq(vg_yamux_decode(b, 1, &h, &used), VG_YAMUX_NEED_MORE);
        cr_assert_eq(vg_yamux_decode(b, 2, &h, &used), VG_YAMUX_E_TYPE, "type %u", t);
        cr_assert_eq(vg_yamux_decode(b, sizeof b, &h, &used), VG_YAMUX_E_TYPE);
    }
    cr_assert_eq(used, 7);
}

Test(yamux_codec, empty_input)
{
    struct vg_yamux_hdr h;
    size_t used = 3;
    cr_assert_eq(vg_yamux_decode((const uint8_t *)"", 0, &h, &used), VG_YAMUX_NEED_MORE);
    cr_assert_eq(used, 3);
}

Test(yamux_codec, consecutive_frames)
{
    uint8_t b[3 * VG_YAMUX_HDR_LEN + 5];
    vg_yamux_encode(b, VG_YAMUX_DATA, VG_YAMUX_SYN, 1, 5);
    memcpy(b + 12, "hello", 5);
    vg_yamux_encode(b + 17, VG_YAMUX_PING, VG_YAMUX_SYN, 0, 42);
    vg_yamux_encode(b + 29, VG_YAMUX_GO_AWAY, 0, 0, 0);
    size_t off = 0, used = 0;
    struct vg_yamux_hdr h;
    cr_assert_eq(vg_yamux_decode(b + off, sizeof b - off, &h, &used), VG_YAMUX_OK);
    cr_assert_eq(h.length, 5);
    off += used + h.length;
    cr_assert_eq(vg_yamux_decode(b + off, sizeof b - off, &h, &used), VG_YAMUX_OK);
    cr_assert_eq(h.type, VG_YAMUX_PING);
    cr_assert_eq(h.length, 42);
    off += used;
    cr_assert_eq(vg_yamux_decode(b + off, sizeof b - off, &h, &used), VG_YAMUX_OK);
    cr_assert_eq(h.type, VG_YAMUX_GO_AWAY);
    off += used;
    cr_assert_eq(off, sizeof b);
}

static struct vg_yamux_hdr hdr(uint8_t type, uint16_t flags, uint32_t id, uint32_t len)
{
    struct vg_yamux_hdr h = {
        .version = 0, .type = type, .flags = flags, .stream_id = id, .length = len};
    return h;
}

static enum vg_yamux_status chk(uint8_t type, uint16_t flags, uint32_t id, uint32_t len)
{
    struct vg_yamux_hdr h = hdr(type, flags, id, len);
    return vg_yamux_check(&h, VG_YAMUX_INITIAL_WINDOW);
}

Test(yamux_check, valid_frames)
{
    cr_assert_eq(chk(VG_YAMUX_DATA, 0, 1, 0), VG_YAMUX_OK);
    cr_assert_eq(chk(VG_YAMUX_DATA, VG_YAMUX_SYN, 1, 100), VG_YAMUX_OK);
    cr_assert_eq(chk(VG_YAMUX_DATA, VG_YAMUX_ACK | VG_YAMUX_FIN, 2, 100), VG_YAMUX_OK);
    cr_assert_eq(chk(VG_YAMUX_DATA, VG_YAMUX_RST, 3, 0), VG_YAMUX_OK);
    cr_assert_eq(chk(VG_YAMUX_DATA, 0, 3, VG_YAMUX_INITIAL_WINDOW), VG_YAMUX_OK);
    cr_assert_eq(chk(VG_YAMUX_WINDOW_UPDATE, VG_YAMUX_SYN, 1, 0), VG_YAMUX_OK);
    cr_assert_eq(chk(VG_YAMUX_WINDOW_UPDATE, VG_YAMUX_ACK, 2, 0), VG_YAMUX_OK);
    cr_assert_eq(chk(VG_YAMUX_WINDOW_UPDATE, 0, 2, UINT32_MAX), VG_YAMUX_OK);
    cr_assert_eq(chk(VG_YAMUX_WINDOW_UPDATE, VG_YAMUX_FIN | VG_YAMUX_ACK, 2, 0), VG_YAMUX_OK);
    cr_assert_eq(chk(VG_YAMUX_PING, VG_YAMUX_SYN, 0, 7), VG_YAMUX_OK);
    cr_assert_eq(chk(VG_YAMUX_PING, VG_YAMUX_ACK, 0, 7), VG_YAMUX_OK);
    cr_assert_eq(chk(VG_YAMUX_GO_AWAY, 0, 0, VG_YAMUX_GOAWAY_NORMAL), VG_YAMUX_OK);
    cr_assert_eq(chk(VG_YAMUX_GO_AWAY, 0, 0, 77), VG_YAMUX_OK); /* code: the session decides */
}

Test(yamux_check, bad_frames)
{
    cr_assert_eq(chk(VG_YAMUX_DATA, 0, 0, 0), VG_YAMUX_E_STREAM_ID);
    cr_assert_eq(chk(VG_YAMUX_WINDOW_UPDATE, VG_YAMUX_SYN, 0, 0), VG_YAMUX_E_STREAM_ID);
    cr_assert_eq(chk(VG_YAMUX_PING, VG_YAMUX_SYN, 1, 0), VG_YAMUX_E_STREAM_ID);
    cr_assert_eq(chk(VG_YAMUX_GO_AWAY, 0, 2, 0), VG_YAMUX_E_STREAM_ID);
    cr_assert_eq(chk(VG_YAMUX_DATA, 0x10, 1, 0), VG_YAMUX_E_FLAGS);
    cr_assert_eq(chk(VG_YAMUX_DATA, 0x8000, 1, 0), VG_YAMUX_E_FLAGS);
    cr_assert_eq(chk(VG_YAMUX_DATA, VG_YAMUX_SYN | VG_YAMUX_ACK, 1, 0), VG_YAMUX_E_FLAGS);
    cr_assert_eq(chk(VG_YAMUX_PING, 0, 0, 0), VG_YAMUX_E_FLAGS);
    cr_assert_eq(chk(VG_YAMUX_PING, VG_YAMUX_SYN | VG_YAMUX_ACK, 0, 0), VG_YAMUX_E_FLAGS);
    cr_assert_eq(chk(VG_YAMUX_PING, VG_YAMUX_FIN, 0, 0), VG_YAMUX_E_FLAGS);
    cr_assert_eq(chk(VG_YAMUX_GO_AWAY, VG_YAMUX_FIN, 0, 0), VG_YAMUX_E_FLAGS);
    cr_assert_eq(chk(VG_YAMUX_DATA, 0, 1, VG_YAMUX_INITIAL_WINDOW + 1), VG_YAMUX_E_LENGTH);
    cr_assert_eq(chk(VG_YAMUX_DATA, 0, 1, UINT32_MAX), VG_YAMUX_E_LENGTH);
    struct vg_yamux_hdr h = hdr(VG_YAMUX_DATA, 0, 1, 0);
    h.version = 1;
    cr_assert_eq(vg_yamux_check(&h, UINT32_MAX), VG_YAMUX_E_VERSION);
    h = hdr(9, 0, 1, 0);
    cr_assert_eq(vg_yamux_check(&h, UINT32_MAX), VG_YAMUX_E_TYPE);
    /* the data limit applies to Data only */
    h = hdr(VG_YAMUX_DATA, 0, 1, 100);
    cr_assert_eq(vg_yamux_check(&h, 99), VG_YAMUX_E_LENGTH);
    h = hdr(VG_YAMUX_WINDOW_UPDATE, 0, 1, 100);
    cr_assert_eq(vg_yamux_check(&h, 99), VG_YAMUX_OK);
}

Test(yamux_check, id_parity)
{
    cr_assert(vg_yamux_id_is_client(1));
    cr_assert(vg_yamux_id_is_client(UINT32_MAX));
    cr_assert_not(vg_yamux_id_is_client(2));
    cr_assert_not(vg_yamux_id_is_client(0));
}

Test(yamux_text, names_and_errors)
{
    char buf[32];
    cr_assert_str_eq(vg_yamux_type_name(0), "Data");
    cr_assert_str_eq(vg_yamux_type_name(1), "WindowUpdate");
    cr_assert_str_eq(vg_yamux_type_name(2), "Ping");
    cr_assert_str_eq(vg_yamux_type_name(3), "GoAway");
    cr_assert_str_eq(vg_yamux_type_name(4), "?");
    cr_assert_str_eq(vg_yamux_flags_format(0, buf, sizeof buf), "-");
    cr_assert_str_eq(vg_yamux_flags_format(VG_YAMUX_SYN | VG_YAMUX_FIN, buf, sizeof buf),
                     "SYN|FIN");
    cr_assert_str_eq(vg_yamux_flags_format(0xf | 0x30, buf, sizeof buf), "SYN|ACK|FIN|RST|0x30");
    cr_assert_str_eq(vg_yamux_flags_format(VG_YAMUX_ACK, buf, 3), "");
    enum vg_yamux_status all[] = {VG_YAMUX_OK,      VG_YAMUX_NEED_MORE, VG_YAMUX_E_VERSION,
                                  VG_YAMUX_E_TYPE,  VG_YAMUX_E_FLAGS,   VG_YAMUX_E_STREAM_ID,
                                  VG_YAMUX_E_LENGTH};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        cr_assert_neq(vg_yamux_strerror(all[i]), NULL);
        cr_assert_str_neq(vg_yamux_strerror(all[i]), "unknown status");
    }
    cr_assert_str_eq(vg_yamux_strerror((enum vg_yamux_status)42), "unknown status");
}

/* ------------------------------------------------------------------ vg_mux_ctl: preambles */
#include "vg_mux_ctl.h"

static int req(const char *line, struct vg_preamble *p)
{
    return vg_preamble_parse_request(line, strlen(line), p);
}

Test(preamble, requests)
{
    struct vg_preamble p;
    cr_assert_eq(req("CONNECT 22", &p), 0);
    cr_assert_eq(p.kind, VG_PRE_CONNECT_PORT);
    cr_assert_eq(p.port, 22);
    cr_assert_eq(req("CONNECT 65535\r", &p), 0);
    cr_assert_eq(p.port, 65535);
    cr_assert_eq(req("CONTROL", &p), 0);
    cr_assert_eq(p.kind, VG_PRE_CONTROL);
    cr_assert_eq(req("CONNECT web1.vm.test 443", &p), 0);
    cr_assert_eq(p.kind, VG_PRE_CONNECT_NAME);
    cr_assert_str_eq(p.name, "web1.vm.test");
    cr_assert_eq(p.port, 443);
    cr_assert_eq(req("CONNECT fd00::9 80", &p), 0);
    cr_assert_str_eq(p.name, "fd00::9");
    const char *bad[] = {"",
                         "CONNECT",
                         "CONNECT ",
                         "CONNECT 0",
                         "CONNECT 65536",
                         "CONNECT 022",
                         "CONNECT +22",
                         "CONNECT 22 ",
                         "CONNECT  22",
                         "connect 22",
                         "CONNECT 2a",
                         "CONTROL ",
                         "CONTROLX",
                         "CONNECT a b c",
                         "CONNECT a\tb 22",
                         "CONNECT a 0",
                         "CONNECT 22 22x",
                         "GET / HTTP/1.1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(req(bad[i], &p), -1, "accepted \"%s\"", bad[i]);
    char longname[300];
    memset(longname, 'a', sizeof longname);
    memcpy(longname, "CONNECT ", 8);
    snprintf(longname + 8 + 256, sizeof longname - 8 - 256, " 80");
    cr_assert_eq(req(longname, &p), -1, "name of 256 octets");
    /* embedded NUL: the length decides, the NUL is not printable */
    cr_assert_eq(vg_preamble_parse_request("CONNECT a\0b 80", 14, &p), -1);
}

Test(preamble, replies_and_codes)
{
    struct vg_preamble_reply r;
    cr_assert_eq(vg_preamble_parse_reply("OK", 2, &r), 0);
    cr_assert(r.ok);
    cr_assert_eq(vg_preamble_parse_reply("OK\r", 3, &r), 0);
    const char *l = "ERR refused Connection refused";
    cr_assert_eq(vg_preamble_parse_reply(l, strlen(l), &r), 0);
    cr_assert_not(r.ok);
    cr_assert_str_eq(r.code, "refused");
    cr_assert_str_eq(r.text, "Connection refused");
    cr_assert_eq(vg_preamble_parse_reply("ERR timeout", 11, &r), 0);
    cr_assert_str_eq(r.code, "timeout");
    cr_assert_str_eq(r.text, "");
    const char *bad[] = {"",
                         "ok",
                         "OK ",
                         "ERR",
                         "ERR ",
                         "ERR  x",
                         "ERR Refused x",
                         "ERRx y",
                         "ERR waytoolongacodeword x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(vg_preamble_parse_reply(bad[i], strlen(bad[i]), &r), -1, "accepted \"%s\"",
                     bad[i]);
    cr_assert_eq(vg_preamble_err_to_socks("refused"), 0x05);
    cr_assert_eq(vg_preamble_err_to_socks("denied"), 0x02);
    cr_assert_eq(vg_preamble_err_to_socks("unreachable"), 0x04);
    cr_assert_eq(vg_preamble_err_to_socks("timeout"), 0x06);
    cr_assert_eq(vg_preamble_err_to_socks("error"), 0x01);
    cr_assert_eq(vg_preamble_err_to_socks("whatever"), 0x01);
}

/* ------------------------------------------------------------------ vg_mux_ctl: messages */

Test(ctl, parse_and_decode)
{
    static struct vg_ctl_msg m;
    const char *l = "req id=7 op=snapshot-save name=before%20upgrade%2c%25 empty=";
    cr_assert_eq(vg_ctl_parse(l, strlen(l), &m), 0);
    cr_assert_str_eq(m.verb, "req");
    cr_assert_eq(m.n, 4);
    cr_assert_str_eq(vg_ctl_get(&m, "id"), "7");
    cr_assert_str_eq(vg_ctl_get(&m, "op"), "snapshot-save");
    cr_assert_str_eq(vg_ctl_get(&m, "name"), "before upgrade,%");
    cr_assert_str_eq(vg_ctl_get(&m, "empty"), "");
    cr_assert_null(vg_ctl_get(&m, "nope"));
    l = "  hello \t name=a  zone=b\r";
    cr_assert_eq(vg_ctl_parse(l, strlen(l), &m), 0);
    cr_assert_str_eq(m.verb, "hello");
    cr_assert_str_eq(vg_ctl_get(&m, "zone"), "b");
    cr_assert_eq(vg_ctl_parse("ping", 4, &m), 0);
    cr_assert_eq(m.n, 0);
}

Test(ctl, parse_errors)
{
    static struct vg_ctl_msg m;
    const char *bad[] = {"",
                         "   ",
                         "Req id=1",
                         "req id",
                         "req =1",
                         "req id=%",
                         "req id=%4",
                         "req id=%zz",
                         "req id=%00",
                         "req ID=1",
                         "req id=1=2x\x01",
                         "verbthatiswaytoolongforthelimitofthirtyone x=1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(vg_ctl_parse(bad[i], strlen(bad[i]), &m), -1, "accepted \"%s\"", bad[i]);
    char many[2048] = "set";
    for (int i = 0; i <= VG_CTL_MAX_KV; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), " k%d=v", i);
    cr_assert_eq(vg_ctl_parse(many, strlen(many), &m), -1, "more than VG_CTL_MAX_KV pairs");
    static char huge[VG_CTL_LINE_MAX + 10];
    memset(huge, 'a', sizeof huge);
    cr_assert_eq(vg_ctl_parse(huge, sizeof huge, &m), -1);
}

Test(ctl, build_roundtrip)
{
    static struct vg_ctl_out o;
    static struct vg_ctl_msg m;
    vg_ctl_begin(&o, "event");
    vg_ctl_add(&o, "id", "42");
    vg_ctl_add(&o, "status", "ok");
    vg_ctl_add(&o, "text", "a b=c%\n\xff");
    vg_ctl_addf(&o, "n", "%d", -5);
    const char *line = vg_ctl_end(&o);
    cr_assert_not_null(line);
    cr_assert_str_eq(line, "event id=42 status=ok text=a%20b%3Dc%25%0A%FF n=-5\n");
    cr_assert_eq(o.len, strlen(line));
    cr_assert_eq(vg_ctl_parse(line, o.len - 1, &m), 0);
    cr_assert_str_eq(vg_ctl_get(&m, "text"), "a b=c%\n\xff");
    /* too long: NULL, never a truncated line */
    static char big[VG_CTL_LINE_MAX];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    vg_ctl_begin(&o, "set");
    vg_ctl_add(&o, "k", big);
    cr_assert_null(vg_ctl_end(&o));
    char small[4];
    cr_assert_eq(vg_ctl_encode("abc", small, sizeof small), 3);
    cr_assert_eq(vg_ctl_encode("a c", small, sizeof small), -1);
}
