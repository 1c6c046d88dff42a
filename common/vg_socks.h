/* vg_socks — the SOCKS5 codec (RFC 1928, RFC 1929 username/password), both sides, pure code.
 *
 *   server side  (the gateway, the agent's guest listener): parse greeting, RFC 1929 request and
 *                CONNECT request; build the reply
 *   client side  (chaining to another gateway, vmgate-connect): build greeting, RFC 1929 request
 *                and CONNECT by name; parse the method choice, the RFC 1929 status and the reply
 *                (BND of any address type)
 *
 * No sockets, no allocation.  Parsers follow vg_parse.h: NEED_MORE consumes nothing, OK sets
 * *used to the message's length (what follows is the next message, or the tunnel's data), ERROR
 * means the bytes can never become that message.  Builders write into a caller's buffer of the
 * stated maximum size and return the length, 0 if an argument does not fit the protocol.
 */
#ifndef VG_SOCKS_H
#define VG_SOCKS_H

#include "vg_outcome.h"
#include "vg_parse.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* SOCKS5 reply codes (RFC 1928 §6).  What vmgate answers for what: vg_outcome.c. */
enum vg_s5_rep {
    VG_S5_SUCCEEDED = 0x00,
    VG_S5_GENERAL = 0x01,
    VG_S5_NOT_ALLOWED = 0x02,
    VG_S5_NET_UNREACH = 0x03,
    VG_S5_HOST_UNREACH = 0x04,
    VG_S5_REFUSED = 0x05,
    VG_S5_TTL_EXPIRED = 0x06,
    VG_S5_CMD_UNSUPPORTED = 0x07,
    VG_S5_ATYP_UNSUPPORTED = 0x08,
};

#define VG_S5_METHOD_NOAUTH 0x00
#define VG_S5_METHOD_USERPASS 0x02
/* vmgate's private method (RFC 1928 §3: X'80'..X'FE' are private): a gateway of the fleet,
 * authenticated by its TLS client certificate, states the identity of the person it forwards. */
#define VG_S5_METHOD_HOPID 0x80
#define VG_S5_METHOD_NONE 0xff

#define VG_S5_CMD_CONNECT 0x01
#define VG_S5_CMD_BIND 0x02
#define VG_S5_CMD_UDP 0x03
#define VG_S5_ATYP_IPV4 0x01
#define VG_S5_ATYP_NAME 0x03
#define VG_S5_ATYP_IPV6 0x04

/* ================================================================ server side */

/* Greeting: VER=5 NMETHODS METHODS[NMETHODS].  methods is a bit set: bit m set when method m
 * (0..255) was offered.  Errors: VER != 5, NMETHODS == 0. */
struct vg_s5_greeting {
    uint8_t methods[32];
};
enum vg_parse vg_s5_parse_greeting(const uint8_t *buf, size_t len, struct vg_s5_greeting *out,
                                   size_t *used);
static inline int vg_s5_offers(const struct vg_s5_greeting *g, uint8_t m)
{
    return (g->methods[m >> 3] >> (m & 7)) & 1;
}

/* RFC 1929: VER=1 ULEN UNAME PLEN PASSWD.  Strings are copied NUL-terminated.  Errors: VER != 1,
 * ULEN == 0, a NUL byte inside either string. */
struct vg_s5_userpass {
    char user[256];
    char pass[256];
};
enum vg_parse vg_s5_parse_userpass(const uint8_t *buf, size_t len, struct vg_s5_userpass *out,
                                   size_t *used);

/* Hop identity (method VG_S5_METHOD_HOPID; docs/protocol.md): VER=1, then fields TYPE LEN
 * VALUE (LEN 0..255 octets, no NUL or other control octet), ended by TYPE 0.  Each type at most
 * once; unknown types are skipped (later versions may add fields).  The answer is an RFC 1929
 * status (VER=1 STATUS).  Errors: VER != 1, a repeated field, a control octet, more than
 * VG_S5_HOPID_MAX octets. */
enum vg_s5_hopid_field {
    VG_S5_HOP_END = 0,
    VG_S5_HOP_USER = 1,   /* the authenticated user; absent: anonymous */
    VG_S5_HOP_GROUPS = 2, /* comma list */
    VG_S5_HOP_CLIENT = 3, /* the person's client address, as text */
    VG_S5_HOP_VM = 4,     /* the VM a guest-originated request comes from */
    VG_S5_HOP_HOST = 5,   /* the forwarding host (for the log) */
};
struct vg_s5_hopid {
    char user[256], groups[256], client[256], vm[256], host[256]; /* "" when absent */
};
#define VG_S5_HOPID_MAX 1024
enum vg_parse vg_s5_parse_hopid(const uint8_t *buf, size_t len, struct vg_s5_hopid *out,
                                size_t *used);

/* Request: VER=5 CMD RSV=0 ATYP DST.ADDR DST.PORT.
 * ATYP 1 (IPv4) and 4 (IPv6) are parsed into `addr` (the gateway refuses them by policy, but
 * the parser reports them faithfully); ATYP 3 copies the name (1..255 octets, no NUL) into
 * `name`, NUL-terminated, not yet validated as a host name.
 * OK is returned for every well-formed request whatever CMD is; the caller answers
 * VG_OUT_UNSUPPORTED_CMD for CMD != CONNECT.  Errors (*err, which may be NULL, is written only
 * on ERROR): VER != 5, RSV != 0, name length 0 or a NUL in the name → VG_OUT_BAD_REQUEST
 * (reply 0x01); unknown ATYP → VG_OUT_BAD_ATYPE (0x08). */
struct vg_s5_request {
    uint8_t cmd;
    uint8_t atyp;
    uint16_t port; /* host order */
    uint8_t addr[16];
    char name[256];
};
enum vg_parse vg_s5_parse_request(const uint8_t *buf, size_t len, struct vg_s5_request *out,
                                  size_t *used, enum vg_outcome *err);

/* Reply: VER=5 REP RSV ATYP BND.ADDR BND.PORT.  bnd may be NULL or of a family other than
 * AF_INET/AF_INET6: then 0.0.0.0:0 is sent.  Returns the length written (at most 22). */
#define VG_S5_REPLY_MAX 22
size_t vg_s5_build_reply(uint8_t out[VG_S5_REPLY_MAX], uint8_t rep, const struct sockaddr *bnd);

/* ================================================================ client side */

/* Greeting offering the one method `method` (VG_S5_METHOD_NOAUTH or _USERPASS): 3 octets. */
#define VG_S5C_GREETING_LEN 3
size_t vg_s5c_greeting(uint8_t out[VG_S5C_GREETING_LEN], uint8_t method);

/* RFC 1929 request: user 1..255 octets, pass 0..255 octets. */
#define VG_S5C_USERPASS_MAX (3 + 255 + 255)
size_t vg_s5c_userpass(uint8_t out[VG_S5C_USERPASS_MAX], const char *user, const char *pass);

/* CONNECT with ATYP 3: name 1..255 octets. */
#define VG_S5C_CONNECT_MAX (7 + 255)
size_t vg_s5c_connect(uint8_t out[VG_S5C_CONNECT_MAX], const char *name, uint16_t port);

/* The three pipelined in one buffer — greeting, RFC 1929 request when user != NULL (then only
 * username/password is offered, else only "no authentication"), CONNECT — so that a tunnel
 * costs one round trip (vmgate's gateway accepts pipelined handshakes). */
#define VG_S5C_MAX (VG_S5C_GREETING_LEN + VG_S5C_USERPASS_MAX + VG_S5C_CONNECT_MAX)
size_t vg_s5c_handshake(uint8_t out[VG_S5C_MAX], const char *user, const char *pass,
                        const char *name, uint16_t port);

/* The hop identity message for id (empty fields are left out); 0 if a field holds a control
 * octet. */
size_t vg_s5c_hopid(uint8_t out[VG_S5_HOPID_MAX], const struct vg_s5_hopid *id);
/* Greeting offering only VG_S5_METHOD_HOPID, the identity and CONNECT, pipelined. */
#define VG_S5C_HOP_MAX (VG_S5C_GREETING_LEN + VG_S5_HOPID_MAX + VG_S5C_CONNECT_MAX)
size_t vg_s5c_hop_handshake(uint8_t out[VG_S5C_HOP_MAX], const struct vg_s5_hopid *id,
                            const char *name, uint16_t port);

/* Method selection: VER=5 METHOD (2 octets).  Error: VER != 5. */
enum vg_parse vg_s5c_parse_method(const uint8_t *buf, size_t len, uint8_t *method, size_t *used);

/* RFC 1929 status: VER=1 STATUS (2 octets; 0 = success).  Error: VER != 1. */
enum vg_parse vg_s5c_parse_auth(const uint8_t *buf, size_t len, uint8_t *status, size_t *used);

/* Reply: VER=5 REP RSV=0 ATYP BND.ADDR BND.PORT, BND of any address type (a name is copied
 * NUL-terminated, as it came).  Errors: VER != 5, RSV != 0, unknown ATYP.  On NEED_MORE, *need
 * (may be NULL) is the length the reply has at least — more than len, never more than the reply:
 * read exactly up to it and nothing behind the reply (the tunnel's first bytes) is read ahead. */
struct vg_s5_reply {
    uint8_t rep;
    uint8_t atyp;
    uint16_t port; /* host order */
    uint8_t addr[16];
    char name[256];
};
enum vg_parse vg_s5c_parse_reply(const uint8_t *buf, size_t len, struct vg_s5_reply *out,
                                 size_t *used, size_t *need);
/* BND as a socket address: AF_INET / AF_INET6, or AF_UNSPEC (all zero) for a name. */
void vg_s5_reply_bnd(const struct vg_s5_reply *r, struct sockaddr_storage *ss);

/* The answers to vg_s5c_handshake's bytes (auth: whether user/password was offered), as far as
 * they have arrived.  OK when the outcome is known — the method choice refused us, the RFC 1929
 * status did, or the whole reply is there — with *used = the octets of the handshake (what
 * follows is the tunnel's data).  NEED_MORE: *need (may be NULL) as for vg_s5c_parse_reply.
 * ERROR: not SOCKS5 (a bad version octet, reserved octet or address type). */
struct vg_s5c_answers {
    uint8_t method;  /* the method the server chose */
    int auth_status; /* RFC 1929 status; -1 when not read (no auth, or method refused) */
    bool replied;    /* reply is valid */
    struct vg_s5_reply reply;
};
enum vg_parse vg_s5c_parse_answers(const uint8_t *buf, size_t len, bool auth,
                                   struct vg_s5c_answers *a, size_t *used, size_t *need);
/* The outcome of parsed answers: VG_OUT_OK (tunnel up), VG_OUT_AUTH_FAILED (method 0xff, or
 * RFC 1929 status != 0), VG_OUT_PROTOCOL (a method we did not offer), else the outcome of the
 * reply code (vg_outcome_of_socks). */
enum vg_outcome vg_s5c_outcome(const struct vg_s5c_answers *a, bool auth);

#endif
