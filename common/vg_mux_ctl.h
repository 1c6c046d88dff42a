/* vg_mux_ctl — the text parts of the serial channel protocol (docs/protocol.md), pure code.
 *
 * Stream preamble: the opener of a stream sends one request line, the acceptor answers one line,
 * then the stream carries raw bytes:
 *   host → guest   "CONNECT <port>"          → "OK" | "ERR <code> <text>"
 *   host → guest   "CONTROL"                 → "OK" | "ERR <code> <text>"
 *   guest → host   "CONNECT <name> <port>"   → "OK" | "ERR <code> <text>"
 * Lines end in "\n" (a "\r" before it is tolerated) and are at most VG_PREAMBLE_MAX bytes.
 *
 * Control messages (after CONTROL/OK, both ways): "<verb> key=value ..." lines of at most
 * VG_CTL_LINE_MAX bytes, values percent-encoded.
 *
 * Nothing here allocates or does I/O; parsers take (line, len) without the newline.
 */
#ifndef VG_MUX_CTL_H
#define VG_MUX_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VG_PREAMBLE_MAX 512 /* request/reply line including "\n" */

enum vg_pre_kind {
    VG_PRE_CONNECT_PORT = 1, /* host → guest: CONNECT <port> */
    VG_PRE_CONNECT_NAME = 2, /* guest → host: CONNECT <name> <port> */
    VG_PRE_CONTROL = 3,      /* host → guest: CONTROL */
};

struct vg_preamble {
    enum vg_pre_kind kind;
    uint16_t port;
    char name[256]; /* VG_PRE_CONNECT_NAME: printable ASCII, no spaces, 1..255 octets */
};

/* Error codes of "ERR <code> <text>".  What each one means, and which is sent for what:
 * the outcome table, vg_outcome.c (vg_outcome_err, vg_outcome_of_err). */
#define VG_PRE_E_REFUSED "refused"         /* nothing listens on the port */
#define VG_PRE_E_DENIED "denied"           /* not allowed (port allowlist, ACL) */
#define VG_PRE_E_UNREACHABLE "unreachable" /* no route, VM/agent unknown or down */
#define VG_PRE_E_TIMEOUT "timeout"         /* connecting timed out */
#define VG_PRE_E_ERROR "error"             /* anything else, also malformed requests */

/* Parse a request line (without its "\n").  0, or -1 when malformed. */
int vg_preamble_parse_request(const char *line, size_t len, struct vg_preamble *out);

struct vg_preamble_reply {
    bool ok;
    char code[16];  /* "" when ok */
    char text[256]; /* may be empty */
};
/* Parse a reply line (without its "\n").  0, or -1 when malformed (neither OK nor ERR). */
int vg_preamble_parse_reply(const char *line, size_t len, struct vg_preamble_reply *out);

/* True when a name is acceptable in "CONNECT <name> <port>" (printable, no spaces). */
bool vg_preamble_name_ok(const char *name, size_t len);

/* SOCKS5 reply code (RFC 1928) for an ERR code: refused 5, denied 2, unreachable 4,
 * timeout 6, anything else 1 — vg_outcome_socks(vg_outcome_of_err(code)), from the table. */
uint8_t vg_preamble_err_to_socks(const char *code);

/* ------------------------------------------------------------------ control messages */

#define VG_CTL_LINE_MAX 4096 /* including "\n" */
#define VG_CTL_MAX_KV 32

struct vg_ctl_msg {
    char buf[VG_CTL_LINE_MAX]; /* decoded strings live here */
    const char *verb;
    unsigned n;
    const char *key[VG_CTL_MAX_KV];
    const char *val[VG_CTL_MAX_KV];
};

/* Parse "<verb> k=v k=v" (without "\n"; single spaces or runs of spaces/tabs between items).
 * Verb and keys: [a-z0-9._-]{1,31}.  Values are percent-decoded and must not decode to NUL.
 * 0, or -1 when malformed / too long / too many pairs. */
int vg_ctl_parse(const char *line, size_t len, struct vg_ctl_msg *m);
/* Value of `key` (the first occurrence), or NULL. */
const char *vg_ctl_get(const struct vg_ctl_msg *m, const char *key);

struct vg_ctl_out {
    char buf[VG_CTL_LINE_MAX];
    size_t len;
    bool overflow;
};
void vg_ctl_begin(struct vg_ctl_out *o, const char *verb);
/* Append " key=<percent-encoded value>". */
void vg_ctl_add(struct vg_ctl_out *o, const char *key, const char *val);
void vg_ctl_addf(struct vg_ctl_out *o, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Terminate with "\n": the line (o->len bytes), or NULL if it did not fit. */
const char *vg_ctl_end(struct vg_ctl_out *o);

/* Percent-encode src into dst (size dstlen): bytes other than [A-Za-z0-9._~:/@,+-] become %XX.
 * Returns the length, or -1 if it does not fit. */
int vg_ctl_encode(const char *src, char *dst, size_t dstlen);

#endif
