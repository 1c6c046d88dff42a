/* vg_outcome — the one failure vocabulary of every vmgate program.
 *
 * Whatever ends a request — a policy refusal, a VM that is not there, a channel or agent that is
 * down, a closed port, a timeout, a malformed message, a DNS failure — is named by one
 * enum vg_outcome.  One table (vg_outcome.c) gives, for each outcome, what every interface says
 * about it:
 *   - the SOCKS5 reply code (RFC 1928 §6) the gateway, the agent's SOCKS listener and a chained
 *     gateway send;
 *   - the HTTP status of the gateway's HTTP CONNECT front;
 *   - the `ERR <code>` word of the serial channel's stream preamble (docs/protocol.md §5);
 *   - the exit code of vmgate-connect / vmgate-resolve (docs/clients.md);
 *   - a short text for messages and logs.
 * The reverse mappings (SOCKS5 code → outcome, ERR word → outcome) and errno → outcome are
 * read from the same table or written once here.  The documented codes are the contract: change
 * the table and the docs (docs/gateway.md, docs/protocol.md, docs/clients.md) together.
 *
 * Several outcomes share a wire code and differ in the others: "VM not in the table" and "channel
 * down" are both SOCKS 0x04, but HTTP 404 and 502.  Reverse mappings return the first row with
 * that code, the generic outcome (VG_OUT_UNREACHABLE for 0x04).  Pure code, no state.
 */
#ifndef VG_OUTCOME_H
#define VG_OUTCOME_H

#include <stdint.h>

enum vg_outcome {
    VG_OUT_OK = 0,
    /* generic outcomes, one per SOCKS5 reply code: what a reply code means when that is all we
     * know (another gateway's reply, an agent's ERR word) */
    VG_OUT_FAILURE,         /* 0x01 general failure: an upstream answer we cannot use */
    VG_OUT_NOT_ALLOWED,     /* 0x02 policy: outside the zones, IP literal, port, ACL */
    VG_OUT_NET_UNREACH,     /* 0x03 network unreachable (never sent by vmgate; passed on) */
    VG_OUT_UNREACHABLE,     /* 0x04 the VM cannot be reached */
    VG_OUT_PORT_CLOSED,     /* 0x05 nothing listens on the port in the VM */
    VG_OUT_TIMEOUT,         /* 0x06 reaching the VM took too long */
    VG_OUT_UNSUPPORTED_CMD, /* 0x07 BIND, UDP ASSOCIATE; HTTP methods other than CONNECT */
    VG_OUT_BAD_ATYPE,       /* 0x08 an IPv4/IPv6 address instead of a name */
    /* specific causes: the wire code of a generic one, their own HTTP status, exit code, text */
    VG_OUT_BAD_REQUEST,     /* malformed request (SOCKS5 version, reserved byte; HTTP syntax) */
    VG_OUT_INTERNAL,        /* out of memory or descriptors, a local error */
    VG_OUT_PROTOCOL,        /* the peer (gateway, agent, hybrid vsock) broke the protocol */
    VG_OUT_BAD_NAME,        /* not a valid VM name */
    VG_OUT_AUTH_FAILED,     /* authentication required or failed */
    VG_OUT_NO_SUCH_VM,      /* the name is not in this host's VM table */
    VG_OUT_CHANNEL_DOWN,    /* entry unusable, channel socket missing / not listening, no route */
    VG_OUT_AGENT_DOWN,      /* the guest agent does not answer, its session or stream ended */
    VG_OUT_GW_UNREACHABLE,  /* the owning host's gateway: no address accepted the connection */
    VG_OUT_DNS_NO_SUCH_VM,  /* DNS: NXDOMAIN, or no address records */
    VG_OUT_DNS_TIMEOUT,     /* DNS: no server answered in time */
    VG_OUT_DNS_UNREACHABLE, /* DNS: every server refused the connection */
    VG_OUT_DNS_FAILURE,     /* DNS: SERVFAIL, REFUSED, malformed reply, other errors */
    VG_OUT_DNS_LOCAL,       /* DNS lookup abandoned here: out of memory, resolver replaced */
    VG_OUT_DEADLINE,        /* vmgate-connect -t passed */
    /* the HTTP front's own refusals (a SOCKS5 client is closed on instead; the SOCKS5 column
     * says 0x01 only so that no row is without one) */
    VG_OUT_HEAD_TOO_LARGE,    /* 431 */
    VG_OUT_BAD_VERSION,       /* 505 */
    VG_OUT_HANDSHAKE_TIMEOUT, /* 408 */
    VG_OUT_OVERLOADED,        /* 503: over max-connections or max-per-client */
    VG_OUT_COUNT
};

/* Exit codes of vmgate-connect and vmgate-resolve (docs/clients.md).  The failure codes are the
 * exit column of the table; usage and configuration errors are not outcomes of a request. */
enum vg_exit {
    VG_EXIT_OK = 0,
    VG_EXIT_LOCAL = 1,        /* memory, descriptors, relay I/O error */
    VG_EXIT_NO_VM = 10,       /* NXDOMAIN or no address records */
    VG_EXIT_DNS_TIMEOUT = 11, /* no DNS server answered (timeout, connection refused) */
    VG_EXIT_DNS_FAIL = 12,    /* SERVFAIL, REFUSED, malformed reply, other DNS errors */
    VG_EXIT_GW_UNREACH = 20,  /* no gateway address accepted the TCP connection */
    VG_EXIT_AUTH = 21,        /* authentication failed, or required and no credentials */
    VG_EXIT_NOT_ALLOWED = 22, /* SOCKS 0x02 */
    VG_EXIT_VM_UNREACH = 23,  /* SOCKS 0x04: the host has no such VM, or its channel is down */
    VG_EXIT_PORT_CLOSED = 24, /* SOCKS 0x05 */
    VG_EXIT_GW_TIMEOUT = 25,  /* SOCKS 0x06: the gateway timed out reaching the VM */
    VG_EXIT_PROTO = 26,       /* other SOCKS replies, malformed replies, closed in the handshake */
    VG_EXIT_DEADLINE = 27,    /* -t passed before the tunnel was up */
    VG_EXIT_USAGE = 64,
    VG_EXIT_BADNAME = 65,
    VG_EXIT_CONFIG = 78,
};

/* The columns of the table.  An outcome outside the enum reads as VG_OUT_FAILURE. */
uint8_t vg_outcome_socks(enum vg_outcome o);   /* SOCKS5 REP */
int vg_outcome_http(enum vg_outcome o);        /* HTTP status */
const char *vg_outcome_err(enum vg_outcome o); /* ERR word ("denied" …); NULL for VG_OUT_OK */
enum vg_exit vg_outcome_exit(enum vg_outcome o);
const char *vg_outcome_str(enum vg_outcome o);  /* "port closed in the VM" */
const char *vg_outcome_name(enum vg_outcome o); /* "PORT_CLOSED" (tests, debugging) */

/* Reverse mappings: the generic outcome of a SOCKS5 reply code (codes RFC 1928 does not assign:
 * VG_OUT_FAILURE), of an ERR word (unknown words: VG_OUT_FAILURE). */
enum vg_outcome vg_outcome_of_socks(uint8_t rep);
enum vg_outcome vg_outcome_of_err(const char *code);

/* What was being connected when errno `err` came (connect(), SO_ERROR, a read right after). */
enum vg_via {
    VG_VIA_TCP,    /* TCP to the guest port (tcp: channels) */
    VG_VIA_VSOCK,  /* AF_VSOCK to the guest port; a vsock-mux connection after its CONNECT */
    VG_VIA_SOCKET, /* a channel's unix socket (vsock-mux before its CONNECT, serial) */
    VG_VIA_GUEST,  /* the agent connecting 127.0.0.1:<port> inside the guest */
};
/* errno → outcome: ECONNREFUSED is a closed port, except on a channel's own socket (the channel
 * is down); ETIMEDOUT a timeout; anything else stops the channel (CHANNEL_DOWN), or inside the
 * guest: no route → UNREACHABLE, the rest FAILURE.  why (may be NULL) gets a text for logs and
 * ERR lines: strerror(err), or what a missing / silent channel socket means. */
enum vg_outcome vg_outcome_of_errno(int err, enum vg_via via, const char **why);

#endif
