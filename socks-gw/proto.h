/* proto — pure parsers and builders for the gateway's client-facing protocols.
 *
 * SOCKS5 (RFC 1928), username/password (RFC 1929) and HTTP CONNECT (RFC 9110 §9.3.6).
 * Every parser is a pure function over (const uint8_t *buf, size_t len):
 *   VG_P_NEED_MORE  the bytes so far are a valid prefix; nothing consumed (*used untouched)
 *   VG_P_OK         one whole message parsed; *used = its length (bytes after it are the
 *                   next message: pipelined input works)
 *   VG_P_ERROR      the input can never become valid; *err says what reply to send
 * No parser allocates, keeps state between calls, or reads past `len`.
 */
#ifndef VG_PROTO_H
#define VG_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum vg_parse { VG_P_NEED_MORE = 0, VG_P_OK = 1, VG_P_ERROR = -1 };

/* SOCKS5 reply codes (RFC 1928 §6) */
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
#define VG_S5_METHOD_NONE 0xff

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

/* Request: VER=5 CMD RSV=0 ATYP DST.ADDR DST.PORT.
 * ATYP 1 (IPv4) and 4 (IPv6) are parsed into `addr` (the gateway refuses them by policy, but
 * the parser reports them faithfully); ATYP 3 copies the name (1..255 octets, no NUL) into
 * `name`, NUL-terminated, not yet validated as a host name.
 * OK is returned for every well-formed request whatever CMD is; the caller answers 0x07 for
 * CMD != CONNECT.  Errors (with *err): VER != 5 → GENERAL; RSV != 0 → GENERAL; unknown ATYP →
 * ATYP_UNSUPPORTED; name length 0 or a NUL in the name → GENERAL. */
#define VG_S5_CMD_CONNECT 0x01
#define VG_S5_CMD_BIND 0x02
#define VG_S5_CMD_UDP 0x03
#define VG_S5_ATYP_IPV4 0x01
#define VG_S5_ATYP_NAME 0x03
#define VG_S5_ATYP_IPV6 0x04
struct vg_s5_request {
    uint8_t cmd;
    uint8_t atyp;
    uint16_t port; /* host order */
    uint8_t addr[16];
    char name[256];
};
enum vg_parse vg_s5_parse_request(const uint8_t *buf, size_t len, struct vg_s5_request *out,
                                  size_t *used, enum vg_s5_rep *err);

/* Reply: VER=5 REP RSV ATYP BND.ADDR BND.PORT.  bnd may be NULL or of a family other than
 * AF_INET/AF_INET6: then 0.0.0.0:0 is sent.  Returns the length written (at most 22). */
#define VG_S5_REPLY_MAX 22
size_t vg_s5_build_reply(uint8_t out[VG_S5_REPLY_MAX], enum vg_s5_rep rep,
                         const struct sockaddr *bnd);

/* HTTP CONNECT request head: "CONNECT authority HTTP/1.x\r\n" header lines "\r\n".
 * Lines may end in "\n" alone.  The head must be complete within VG_HTTP_HEAD_MAX bytes.
 * authority is "host:port" or "[v6]:port"; host is copied (brackets removed for v6) into `host`;
 * port must be 1..65535 (strict digits).  Proxy-Authorization (case-insensitive name) with the
 * "Basic" scheme is base64-decoded into user/pass (split at the first ':').
 * Errors (*status is the HTTP status to answer):
 *   400 malformed line, bad authority or port, bad base64, bad version
 *   405 a method other than CONNECT
 *   431 head longer than VG_HTTP_HEAD_MAX
 *   505 HTTP version other than 1.0 / 1.1 */
#define VG_HTTP_HEAD_MAX 8192
struct vg_http_connect {
    char host[256];
    uint16_t port;
    int has_auth; /* Proxy-Authorization: Basic present and decoded */
    char user[256];
    char pass[256];
    int minor; /* HTTP/1.minor */
};
enum vg_parse vg_http_parse_connect(const uint8_t *buf, size_t len, struct vg_http_connect *out,
                                    size_t *used, int *status);

/* "HTTP/1.1 <status> <reason>\r\n" + extra header lines (may be NULL, each ending "\r\n") +
 * "\r\n" into out.  Returns the length, or 0 if it does not fit. */
size_t vg_http_build_response(char *out, size_t outlen, int status, const char *extra_headers);
const char *vg_http_reason(int status);

#endif
