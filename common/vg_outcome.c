/* vg_outcome — the table of outcomes and what each interface says about them.  See vg_outcome.h.
 */
#include "vg_outcome.h"

#include "vg_mux_ctl.h" /* the ERR words of the stream preamble */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct row {
    const char *name;
    uint8_t socks;   /* SOCKS5 REP */
    int http;        /* HTTP status */
    const char *err; /* ERR word of the stream preamble */
    enum vg_exit exit;
    const char *text;
};

#define E_REFUSED VG_PRE_E_REFUSED
#define E_DENIED VG_PRE_E_DENIED
#define E_UNREACH VG_PRE_E_UNREACHABLE
#define E_TIMEOUT VG_PRE_E_TIMEOUT
#define E_ERROR VG_PRE_E_ERROR

/* THE table (docs/gateway.md "Reply codes", docs/protocol.md §5, docs/clients.md "exit").  The
 * reverse mappings take the first row with a code, so the generic rows come first. */
/* clang-format off */
#define ROW(o, socks, http, err, exit, text) [VG_OUT_##o] = {#o, socks, http, err, exit, text}
static const struct row table[VG_OUT_COUNT] = {
    /*  outcome            SOCKS HTTP ERR        exit                 text */
    ROW(OK,                0x00, 200, NULL,      VG_EXIT_OK,          "connected"),
    ROW(FAILURE,           0x01, 502, E_ERROR,   VG_EXIT_PROTO,       "general failure"),
    ROW(NOT_ALLOWED,       0x02, 403, E_DENIED,  VG_EXIT_NOT_ALLOWED, "not allowed"),
    ROW(NET_UNREACH,       0x03, 502, E_ERROR,   VG_EXIT_PROTO,       "network unreachable"),
    ROW(UNREACHABLE,       0x04, 502, E_UNREACH, VG_EXIT_VM_UNREACH,  "VM unreachable"),
    ROW(PORT_CLOSED,       0x05, 502, E_REFUSED, VG_EXIT_PORT_CLOSED, "port closed in the VM"),
    ROW(TIMEOUT,           0x06, 504, E_TIMEOUT, VG_EXIT_GW_TIMEOUT,  "timeout reaching the VM"),
    ROW(UNSUPPORTED_CMD,   0x07, 405, E_ERROR,   VG_EXIT_PROTO,       "command not supported"),
    ROW(BAD_ATYPE,         0x08, 403, E_ERROR,   VG_EXIT_PROTO,       "address type not supported"),
    ROW(BAD_REQUEST,       0x01, 400, E_ERROR,   VG_EXIT_PROTO,       "malformed request"),
    ROW(INTERNAL,          0x01, 502, E_ERROR,   VG_EXIT_LOCAL,       "internal error"),
    ROW(PROTOCOL,          0x01, 502, E_ERROR,   VG_EXIT_PROTO,       "protocol error"),
    ROW(BAD_NAME,          0x02, 403, E_DENIED,  VG_EXIT_BADNAME,     "not a valid VM name"),
    ROW(AUTH_FAILED,       0x02, 407, E_DENIED,  VG_EXIT_AUTH,        "authentication failed"),
    ROW(NO_SUCH_VM,        0x04, 404, E_UNREACH, VG_EXIT_VM_UNREACH,  "no such VM on this host"),
    ROW(CHANNEL_DOWN,      0x04, 502, E_UNREACH, VG_EXIT_VM_UNREACH,  "the VM's channel is down"),
    ROW(AGENT_DOWN,        0x04, 502, E_UNREACH, VG_EXIT_VM_UNREACH,  "the guest agent is down"),
    ROW(GW_UNREACHABLE,    0x04, 502, E_UNREACH, VG_EXIT_GW_UNREACH,  "gateway unreachable"),
    ROW(DNS_NO_SUCH_VM,    0x04, 502, E_UNREACH, VG_EXIT_NO_VM,       "no such VM in DNS"),
    ROW(DNS_TIMEOUT,       0x06, 504, E_TIMEOUT, VG_EXIT_DNS_TIMEOUT, "DNS timeout"),
    ROW(DNS_UNREACHABLE,   0x04, 502, E_UNREACH, VG_EXIT_DNS_TIMEOUT, "DNS server unreachable"),
    ROW(DNS_FAILURE,       0x04, 502, E_UNREACH, VG_EXIT_DNS_FAIL,    "DNS failure"),
    ROW(DNS_LOCAL,         0x04, 502, E_UNREACH, VG_EXIT_LOCAL,       "DNS lookup abandoned"),
    ROW(DEADLINE,          0x06, 504, E_TIMEOUT, VG_EXIT_DEADLINE,    "deadline passed"),
    ROW(HEAD_TOO_LARGE,    0x01, 431, E_ERROR,   VG_EXIT_PROTO,       "request head too large"),
    ROW(BAD_VERSION,       0x01, 505, E_ERROR,   VG_EXIT_PROTO,       "HTTP version not supported"),
    ROW(HANDSHAKE_TIMEOUT, 0x01, 408, E_ERROR,   VG_EXIT_PROTO,       "handshake timeout"),
    ROW(OVERLOADED,        0x01, 503, E_ERROR,   VG_EXIT_PROTO,       "too many connections"),
};
#undef ROW
/* clang-format on */

static const struct row *row_of(enum vg_outcome o)
{
    return (unsigned)o < VG_OUT_COUNT ? &table[o] : &table[VG_OUT_FAILURE];
}

uint8_t vg_outcome_socks(enum vg_outcome o)
{
    return row_of(o)->socks;
}

int vg_outcome_http(enum vg_outcome o)
{
    return row_of(o)->http;
}

const char *vg_outcome_err(enum vg_outcome o)
{
    return row_of(o)->err;
}

enum vg_exit vg_outcome_exit(enum vg_outcome o)
{
    return row_of(o)->exit;
}

const char *vg_outcome_str(enum vg_outcome o)
{
    return row_of(o)->text;
}

const char *vg_outcome_name(enum vg_outcome o)
{
    return row_of(o)->name;
}

enum vg_outcome vg_outcome_of_socks(uint8_t rep)
{
    for (unsigned o = 0; o < VG_OUT_COUNT; o++)
        if (table[o].socks == rep)
            return (enum vg_outcome)o;
    return VG_OUT_FAILURE;
}

enum vg_outcome vg_outcome_of_err(const char *code)
{
    for (unsigned o = 0; o < VG_OUT_COUNT; o++)
        if (code != NULL && table[o].err != NULL && strcmp(table[o].err, code) == 0)
            return (enum vg_outcome)o;
    return VG_OUT_FAILURE;
}

enum vg_outcome vg_outcome_of_errno(int err, enum vg_via via, const char **why)
{
    enum vg_outcome o;
    const char *text = strerror(err);
    bool guest = via == VG_VIA_GUEST;

    switch (err) {
    case ETIMEDOUT:
        o = VG_OUT_TIMEOUT;
        break;
    case ECONNREFUSED:
        /* TCP, or inside the guest: nothing listens on that port.  Otherwise a socket of the
         * channel itself refused: the channel is down */
        if (via == VG_VIA_TCP || guest) {
            o = VG_OUT_PORT_CLOSED;
        } else {
            o = VG_OUT_CHANNEL_DOWN;
            text = "channel down (nothing listens on its socket)";
        }
        break;
    case ECONNRESET:
        /* a vsock connect to a port nobody listens on is reset */
        o = via == VG_VIA_VSOCK ? VG_OUT_PORT_CLOSED : guest ? VG_OUT_FAILURE : VG_OUT_CHANNEL_DOWN;
        break;
    case ENOENT:
        o = guest ? VG_OUT_FAILURE : VG_OUT_CHANNEL_DOWN;
        if (!guest)
            text = "channel down (its socket does not exist)";
        break;
    case ENETUNREACH:
    case EHOSTUNREACH:
    case EADDRNOTAVAIL:
        o = guest ? VG_OUT_UNREACHABLE : VG_OUT_CHANNEL_DOWN;
        break;
    default:
        /* EINVAL (blackhole route), EACCES/EPERM (a firewall), ENODEV, EAGAIN, EMFILE …:
         * whatever stops the connect, the VM's channel is down */
        o = guest ? VG_OUT_FAILURE : VG_OUT_CHANNEL_DOWN;
        break;
    }
    if (why != NULL)
        *why = text;
    return o;
}
