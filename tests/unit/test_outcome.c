/* Unit tests for common/vg_outcome.c: the one table of outcomes → SOCKS5 reply, HTTP status,
 * agent ERR word, vmgate-connect exit code and text, its reverse mappings and errno → outcome.
 *
 * The expected rows are written out here once more, from the documentation (docs/gateway.md
 * "Reply codes" and "chaining outcome", docs/protocol.md §5, docs/clients.md exit codes): a change
 * to the table must be a change to this test, and to the docs.
 */
#include "vg_outcome.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

struct want {
    enum vg_outcome o;
    const char *name;
    int socks, http;
    const char *err;
    int exit;
};

static const struct want rows[] = {
    {VG_OUT_OK, "OK", 0x00, 200, NULL, 0},
    {VG_OUT_FAILURE, "FAILURE", 0x01, 502, "error", 26},
    {VG_OUT_NOT_ALLOWED, "NOT_ALLOWED", 0x02, 403, "denied", 22},
    {VG_OUT_NET_UNREACH, "NET_UNREACH", 0x03, 502, "error", 26},
    {VG_OUT_UNREACHABLE, "UNREACHABLE", 0x04, 502, "unreachable", 23},
    {VG_OUT_PORT_CLOSED, "PORT_CLOSED", 0x05, 502, "refused", 24},
    {VG_OUT_TIMEOUT, "TIMEOUT", 0x06, 504, "timeout", 25},
    {VG_OUT_UNSUPPORTED_CMD, "UNSUPPORTED_CMD", 0x07, 405, "error", 26},
    {VG_OUT_BAD_ATYPE, "BAD_ATYPE", 0x08, 403, "error", 26},
    {VG_OUT_BAD_REQUEST, "BAD_REQUEST", 0x01, 400, "error", 26},
    {VG_OUT_INTERNAL, "INTERNAL", 0x01, 502, "error", 1},
    {VG_OUT_PROTOCOL, "PROTOCOL", 0x01, 502, "error", 26},
    {VG_OUT_BAD_NAME, "BAD_NAME", 0x02, 403, "denied", 65},
    {VG_OUT_AUTH_FAILED, "AUTH_FAILED", 0x02, 407, "denied", 21},
    {VG_OUT_NO_SUCH_VM, "NO_SUCH_VM", 0x04, 404, "unreachable", 23},
    {VG_OUT_CHANNEL_DOWN, "CHANNEL_DOWN", 0x04, 502, "unreachable", 23},
    {VG_OUT_AGENT_DOWN, "AGENT_DOWN", 0x04, 502, "unreachable", 23},
    {VG_OUT_GW_UNREACHABLE, "GW_UNREACHABLE", 0x04, 502, "unreachable", 20},
    {VG_OUT_DNS_NO_SUCH_VM, "DNS_NO_SUCH_VM", 0x04, 502, "unreachable", 10},
    {VG_OUT_DNS_TIMEOUT, "DNS_TIMEOUT", 0x06, 504, "timeout", 11},
    {VG_OUT_DNS_UNREACHABLE, "DNS_UNREACHABLE", 0x04, 502, "unreachable", 11},
    {VG_OUT_DNS_FAILURE, "DNS_FAILURE", 0x04, 502, "unreachable", 12},
    {VG_OUT_DNS_LOCAL, "DNS_LOCAL", 0x04, 502, "unreachable", 1},
    {VG_OUT_DEADLINE, "DEADLINE", 0x06, 504, "timeout", 27},
    {VG_OUT_HEAD_TOO_LARGE, "HEAD_TOO_LARGE", 0x01, 431, "error", 26},
    {VG_OUT_BAD_VERSION, "BAD_VERSION", 0x01, 505, "error", 26},
    {VG_OUT_HANDSHAKE_TIMEOUT, "HANDSHAKE_TIMEOUT", 0x01, 408, "error", 26},
    {VG_OUT_OVERLOADED, "OVERLOADED", 0x01, 503, "error", 26},
};

Test(outcome, every_row)
{
    cr_assert_eq(sizeof rows / sizeof rows[0], VG_OUT_COUNT, "a row of the table is not tested");
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const struct want *w = &rows[i];
        cr_assert_eq(w->o, (enum vg_outcome)i, "rows out of order at %zu", i);
        cr_assert_str_eq(vg_outcome_name(w->o), w->name);
        cr_assert_eq(vg_outcome_socks(w->o), w->socks, "%s: SOCKS", w->name);
        cr_assert_eq(vg_outcome_http(w->o), w->http, "%s: HTTP", w->name);
        if (w->err == NULL)
            cr_assert_null(vg_outcome_err(w->o), "%s: ERR", w->name);
        else
            cr_assert_str_eq(vg_outcome_err(w->o), w->err, "%s: ERR", w->name);
        cr_assert_eq((int)vg_outcome_exit(w->o), w->exit, "%s: exit", w->name);
        const char *t = vg_outcome_str(w->o);
        cr_assert(t != NULL && t[0] != '\0', "%s: text", w->name);
    }
}

Test(outcome, documented_wire_codes)
{
    /* docs/gateway.md, Reply codes */
    cr_assert_eq(vg_outcome_socks(VG_OUT_NOT_ALLOWED), 0x02);
    cr_assert_eq(vg_outcome_http(VG_OUT_NOT_ALLOWED), 403);
    cr_assert_eq(vg_outcome_http(VG_OUT_NO_SUCH_VM), 404);
    cr_assert_eq(vg_outcome_http(VG_OUT_CHANNEL_DOWN), 502);
    cr_assert_eq(vg_outcome_socks(VG_OUT_PORT_CLOSED), 0x05);
    cr_assert_eq(vg_outcome_http(VG_OUT_TIMEOUT), 504);
    cr_assert_eq(vg_outcome_socks(VG_OUT_UNSUPPORTED_CMD), 0x07);
    cr_assert_eq(vg_outcome_socks(VG_OUT_BAD_ATYPE), 0x08);
    cr_assert_eq(vg_outcome_http(VG_OUT_BAD_REQUEST), 400);
    cr_assert_eq(vg_outcome_http(VG_OUT_AUTH_FAILED), 407);
    cr_assert_eq(vg_outcome_http(VG_OUT_HEAD_TOO_LARGE), 431);
    cr_assert_eq(vg_outcome_http(VG_OUT_HANDSHAKE_TIMEOUT), 408);
    cr_assert_eq(vg_outcome_http(VG_OUT_OVERLOADED), 503);
    /* chaining outcomes */
    cr_assert_eq(vg_outcome_socks(VG_OUT_DNS_NO_SUCH_VM), 0x04);
    cr_assert_eq(vg_outcome_http(VG_OUT_DNS_UNREACHABLE), 502);
    cr_assert_eq(vg_outcome_socks(VG_OUT_DNS_TIMEOUT), 0x06);
    cr_assert_eq(vg_outcome_http(VG_OUT_DNS_TIMEOUT), 504);
    cr_assert_eq(vg_outcome_http(VG_OUT_GW_UNREACHABLE), 502);
}

Test(outcome, socks_round_trip)
{
    /* every RFC 1928 code: code → outcome → the same code */
    for (int rep = 0x00; rep <= 0x08; rep++) {
        enum vg_outcome o = vg_outcome_of_socks((uint8_t)rep);
        cr_assert_eq(vg_outcome_socks(o), rep, "0x%02x → %s", rep, vg_outcome_name(o));
    }
    /* and the generic outcome of each */
    cr_assert_eq(vg_outcome_of_socks(0x00), VG_OUT_OK);
    cr_assert_eq(vg_outcome_of_socks(0x01), VG_OUT_FAILURE);
    cr_assert_eq(vg_outcome_of_socks(0x02), VG_OUT_NOT_ALLOWED);
    cr_assert_eq(vg_outcome_of_socks(0x03), VG_OUT_NET_UNREACH);
    cr_assert_eq(vg_outcome_of_socks(0x04), VG_OUT_UNREACHABLE);
    cr_assert_eq(vg_outcome_of_socks(0x05), VG_OUT_PORT_CLOSED);
    cr_assert_eq(vg_outcome_of_socks(0x06), VG_OUT_TIMEOUT);
    cr_assert_eq(vg_outcome_of_socks(0x07), VG_OUT_UNSUPPORTED_CMD);
    cr_assert_eq(vg_outcome_of_socks(0x08), VG_OUT_BAD_ATYPE);
    for (int rep = 0x09; rep <= 0xff; rep++)
        cr_assert_eq(vg_outcome_of_socks((uint8_t)rep), VG_OUT_FAILURE, "0x%02x", rep);
    /* outcome → code → outcome keeps the wire code of every outcome */
    for (int o = 0; o < VG_OUT_COUNT; o++) {
        uint8_t rep = vg_outcome_socks((enum vg_outcome)o);
        cr_assert_eq(vg_outcome_socks(vg_outcome_of_socks(rep)), rep, "%s",
                     vg_outcome_name((enum vg_outcome)o));
    }
}

Test(outcome, socks_code_to_exit_code)
{
    /* what vmgate-connect exits with for the gateway's reply (docs/clients.md) */
    cr_assert_eq(vg_outcome_exit(vg_outcome_of_socks(0x00)), 0);
    cr_assert_eq(vg_outcome_exit(vg_outcome_of_socks(0x02)), 22);
    cr_assert_eq(vg_outcome_exit(vg_outcome_of_socks(0x04)), 23);
    cr_assert_eq(vg_outcome_exit(vg_outcome_of_socks(0x05)), 24);
    cr_assert_eq(vg_outcome_exit(vg_outcome_of_socks(0x06)), 25);
    for (int rep = 0x01; rep <= 0xff; rep++)
        if (rep != 0x02 && rep != 0x04 && rep != 0x05 && rep != 0x06)
            cr_assert_eq(vg_outcome_exit(vg_outcome_of_socks((uint8_t)rep)), 26, "0x%02x", rep);
}

Test(outcome, err_words)
{
    /* docs/protocol.md §5: the words and their SOCKS5 replies */
    static const struct {
        const char *word;
        enum vg_outcome o;
        int socks;
    } w[] = {{"refused", VG_OUT_PORT_CLOSED, 0x05},
             {"denied", VG_OUT_NOT_ALLOWED, 0x02},
             {"unreachable", VG_OUT_UNREACHABLE, 0x04},
             {"timeout", VG_OUT_TIMEOUT, 0x06},
             {"error", VG_OUT_FAILURE, 0x01}};
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
        cr_assert_eq(vg_outcome_of_err(w[i].word), w[i].o, "%s", w[i].word);
        cr_assert_str_eq(vg_outcome_err(vg_outcome_of_err(w[i].word)), w[i].word);
        cr_assert_eq(vg_outcome_socks(vg_outcome_of_err(w[i].word)), w[i].socks);
    }
    cr_assert_eq(vg_outcome_of_err("whatever"), VG_OUT_FAILURE);
    cr_assert_eq(vg_outcome_of_err(""), VG_OUT_FAILURE);
    cr_assert_eq(vg_outcome_of_err(NULL), VG_OUT_FAILURE);
    /* every failure has one of the five words */
    for (int o = 1; o < VG_OUT_COUNT; o++) {
        const char *e = vg_outcome_err((enum vg_outcome)o);
        cr_assert_not_null(e);
        cr_assert_str_eq(vg_outcome_err(vg_outcome_of_err(e)), e, "%s",
                         vg_outcome_name((enum vg_outcome)o));
    }
}

Test(outcome, out_of_range_reads_as_failure)
{
    cr_assert_eq(vg_outcome_socks((enum vg_outcome)VG_OUT_COUNT), 0x01);
    cr_assert_eq(vg_outcome_http((enum vg_outcome) - 1), 502);
    cr_assert_str_eq(vg_outcome_name((enum vg_outcome)1000), "FAILURE");
}

struct errno_case {
    int err;
    enum vg_via via;
    enum vg_outcome o;
    const char *why; /* NULL: strerror(err) */
};

Test(outcome, errno_mapping)
{
    static const struct errno_case c[] = {
        /* TCP to the guest port */
        {ECONNREFUSED, VG_VIA_TCP, VG_OUT_PORT_CLOSED, NULL},
        {ECONNRESET, VG_VIA_TCP, VG_OUT_CHANNEL_DOWN, NULL},
        {ETIMEDOUT, VG_VIA_TCP, VG_OUT_TIMEOUT, NULL},
        {EHOSTUNREACH, VG_VIA_TCP, VG_OUT_CHANNEL_DOWN, NULL},
        {ENETUNREACH, VG_VIA_TCP, VG_OUT_CHANNEL_DOWN, NULL},
        {EINVAL, VG_VIA_TCP, VG_OUT_CHANNEL_DOWN, NULL},
        {EACCES, VG_VIA_TCP, VG_OUT_CHANNEL_DOWN, NULL},
        {EMFILE, VG_VIA_TCP, VG_OUT_CHANNEL_DOWN, NULL},
        /* vsock: a reset is a closed port, a refusal the transport */
        {ECONNRESET, VG_VIA_VSOCK, VG_OUT_PORT_CLOSED, NULL},
        {ECONNREFUSED, VG_VIA_VSOCK, VG_OUT_CHANNEL_DOWN,
         "channel down (nothing listens on its socket)"},
        {ENODEV, VG_VIA_VSOCK, VG_OUT_CHANNEL_DOWN, NULL},
        {ETIMEDOUT, VG_VIA_VSOCK, VG_OUT_TIMEOUT, NULL},
        /* a channel's unix socket */
        {ENOENT, VG_VIA_SOCKET, VG_OUT_CHANNEL_DOWN, "channel down (its socket does not exist)"},
        {ECONNREFUSED, VG_VIA_SOCKET, VG_OUT_CHANNEL_DOWN,
         "channel down (nothing listens on its socket)"},
        {ECONNRESET, VG_VIA_SOCKET, VG_OUT_CHANNEL_DOWN, NULL},
        {EAGAIN, VG_VIA_SOCKET, VG_OUT_CHANNEL_DOWN, NULL},
        {ENAMETOOLONG, VG_VIA_SOCKET, VG_OUT_CHANNEL_DOWN, NULL},
        /* the agent inside the guest (docs/protocol.md §5) */
        {ECONNREFUSED, VG_VIA_GUEST, VG_OUT_PORT_CLOSED, NULL},
        {ENETUNREACH, VG_VIA_GUEST, VG_OUT_UNREACHABLE, NULL},
        {EHOSTUNREACH, VG_VIA_GUEST, VG_OUT_UNREACHABLE, NULL},
        {EADDRNOTAVAIL, VG_VIA_GUEST, VG_OUT_UNREACHABLE, NULL},
        {ETIMEDOUT, VG_VIA_GUEST, VG_OUT_TIMEOUT, NULL},
        {ECONNRESET, VG_VIA_GUEST, VG_OUT_FAILURE, NULL},
        {ENOENT, VG_VIA_GUEST, VG_OUT_FAILURE, NULL},
        {ENOMEM, VG_VIA_GUEST, VG_OUT_FAILURE, NULL},
        {EMFILE, VG_VIA_GUEST, VG_OUT_FAILURE, NULL},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        const char *why = NULL;
        enum vg_outcome o = vg_outcome_of_errno(c[i].err, c[i].via, &why);
        cr_assert_eq(o, c[i].o, "case %zu (%s via %d): %s", i, strerror(c[i].err), c[i].via,
                     vg_outcome_name(o));
        cr_assert_str_eq(why, c[i].why ? c[i].why : strerror(c[i].err), "case %zu", i);
        cr_assert_eq(vg_outcome_of_errno(c[i].err, c[i].via, NULL), o, "why may be NULL");
    }
    /* the agent's ERR words for its connect errors */
    cr_assert_str_eq(vg_outcome_err(vg_outcome_of_errno(ECONNREFUSED, VG_VIA_GUEST, NULL)),
                     "refused");
    cr_assert_str_eq(vg_outcome_err(vg_outcome_of_errno(EHOSTUNREACH, VG_VIA_GUEST, NULL)),
                     "unreachable");
    cr_assert_str_eq(vg_outcome_err(vg_outcome_of_errno(ETIMEDOUT, VG_VIA_GUEST, NULL)), "timeout");
    cr_assert_str_eq(vg_outcome_err(vg_outcome_of_errno(EPERM, VG_VIA_GUEST, NULL)), "error");
}
